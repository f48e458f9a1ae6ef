//! The AWS resource kinds. Each module holds one service's kinds: the props (the stack format)
//! and, as they are built, the providers over the official AWS SDK for Rust.

pub mod apigateway;
pub mod ec2;
pub mod iam;
pub mod kinesis;
pub mod msk;
pub mod mskconnect;
pub mod mwaa;
pub mod s3;
pub mod ssm;

use async_trait::async_trait;
use serde_json::Value;

use crate::engine::kind::KindInfo;
use crate::engine::provider::{Cx, Live, Poll, Provider, ProviderError};

pub fn kinds() -> Vec<KindInfo> {
    [
        iam::kinds(),
        s3::kinds(),
        ec2::kinds(),
        msk::kinds(),
        mskconnect::kinds(),
        apigateway::kinds(),
        kinesis::kinds(),
        mwaa::kinds(),
        ssm::kinds(),
    ]
    .concat()
}

/// A kind whose service calls this build does not have yet: it validates and plans creations,
/// and refuses, naming itself, anything that would need the service.
pub struct NotBuilt {
    pub info: KindInfo,
}

impl NotBuilt {
    fn refuse(&self) -> ProviderError {
        ProviderError::Unsupported(format!(
            "this build of pinctl cannot call the service behind `{}` yet",
            self.info.name
        ))
    }
}

#[async_trait]
impl Provider for NotBuilt {
    fn info(&self) -> &KindInfo {
        &self.info
    }
    async fn read(&self, _: &Cx, _: &str, _: &Value) -> Result<Option<Live>, ProviderError> {
        Err(self.refuse())
    }
    async fn create(&self, _: &Cx, _: &Value) -> Result<String, ProviderError> {
        Err(self.refuse())
    }
    async fn poll(&self, _: &Cx, _: &str) -> Result<Poll, ProviderError> {
        Err(self.refuse())
    }
    async fn update(
        &self,
        _: &Cx,
        _: &str,
        _: &Value,
        _: &Value,
        _: &[String],
    ) -> Result<(), ProviderError> {
        Err(self.refuse())
    }
    async fn delete(&self, _: &Cx, _: &str) -> Result<(), ProviderError> {
        Err(self.refuse())
    }
}
