//! State in S3: one object per stack and env, locked by a lock object created with a
//! conditional write (`If-None-Match: *`), so two runs can never both hold it.

use async_trait::async_trait;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;

use super::lock::LockInfo;
use super::model::StateFile;
use super::{Backend, StateError};

pub struct S3Backend {
    client: Client,
    bucket: String,
    state_key: String,
    lock_key: String,
}

impl S3Backend {
    pub async fn new(
        bucket: &str,
        prefix: &str,
        region: Option<&str>,
        stack: &str,
        env: &str,
    ) -> Self {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(r) = region {
            loader = loader.region(aws_config::Region::new(r.to_string()));
        }
        let shared = loader.load().await;
        // Local S3 endpoints (moto, MinIO) serve buckets by path, not by host name.
        let custom_endpoint = std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
            || std::env::var_os("AWS_ENDPOINT_URL").is_some();
        let config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(custom_endpoint)
            .build();
        let prefix = prefix.trim_matches('/');
        S3Backend {
            client: Client::from_conf(config),
            bucket: bucket.into(),
            state_key: format!("{prefix}/{stack}/{env}.json"),
            lock_key: format!("{prefix}/{stack}/{env}.lock"),
        }
    }

    fn err(&self, op: &str, e: impl ProvideErrorMetadata + std::fmt::Debug) -> StateError {
        StateError::Remote {
            operation: format!("{op} s3://{}", self.bucket),
            code: e.code().unwrap_or("unknown").to_string(),
            message: e
                .message()
                .map(str::to_string)
                .unwrap_or_else(|| format!("{e:?}")),
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => {
                let bytes = out.body.collect().await.map_err(|e| StateError::Remote {
                    operation: format!("GetObject s3://{}/{key}", self.bucket),
                    code: "ReadBody".into(),
                    message: e.to_string(),
                })?;
                Ok(Some(bytes.into_bytes().to_vec()))
            }
            Err(e) => {
                let svc = e.into_service_error();
                if svc.is_no_such_key() {
                    Ok(None)
                } else {
                    Err(self.err("GetObject", svc))
                }
            }
        }
    }
}

#[async_trait]
impl Backend for S3Backend {
    fn describe(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.state_key)
    }

    async fn read(&self) -> Result<Option<StateFile>, StateError> {
        match self.get(&self.state_key).await? {
            None => Ok(None),
            Some(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| StateError::Corrupt {
                        location: self.describe(),
                        message: e.to_string(),
                    })
            }
        }
    }

    async fn write(&self, state: &StateFile) -> Result<(), StateError> {
        let bytes = serde_json::to_vec_pretty(state).expect("state serializes");
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&self.state_key)
            .content_type("application/json")
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| self.err("PutObject", e.into_service_error()))?;
        Ok(())
    }

    async fn try_lock(&self, info: &LockInfo) -> Result<Option<LockInfo>, StateError> {
        let bytes = serde_json::to_vec_pretty(info).expect("lock serializes");
        let put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&self.lock_key)
            .if_none_match("*")
            .body(ByteStream::from(bytes))
            .send()
            .await;
        match put {
            Ok(_) => Ok(None),
            Err(e) => {
                let svc = e.into_service_error();
                if matches!(
                    svc.code(),
                    Some("PreconditionFailed" | "ConditionalRequestConflict")
                ) {
                    let holder = self
                        .get(&self.lock_key)
                        .await?
                        .and_then(|b| serde_json::from_slice::<LockInfo>(&b).ok());
                    Ok(Some(holder.unwrap_or_else(|| LockInfo {
                        id: String::new(),
                        operation: "?".into(),
                        who: "unknown".into(),
                        host: "unknown".into(),
                        pid: 0,
                        created: "unknown".into(),
                    })))
                } else {
                    Err(self.err("PutObject (lock)", svc))
                }
            }
        }
    }

    async fn unlock(&self, id: &str) -> Result<(), StateError> {
        let holder = self
            .get(&self.lock_key)
            .await?
            .and_then(|b| serde_json::from_slice::<LockInfo>(&b).ok());
        if holder.is_some_and(|h| h.id == id) {
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(&self.lock_key)
                .send()
                .await
                .map_err(|e| self.err("DeleteObject (lock)", e.into_service_error()))?;
        }
        Ok(())
    }

    async fn force_unlock(&self) -> Result<Option<LockInfo>, StateError> {
        let holder = self
            .get(&self.lock_key)
            .await?
            .and_then(|b| serde_json::from_slice::<LockInfo>(&b).ok());
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(&self.lock_key)
            .send()
            .await
            .map_err(|e| self.err("DeleteObject (lock)", e.into_service_error()))?;
        Ok(holder)
    }
}
