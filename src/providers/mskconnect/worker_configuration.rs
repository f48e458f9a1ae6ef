//! `mskconnect.worker_configuration`: an MSK Connect worker configuration.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{properties, NOT_FOUND};
use crate::clients::aws::{api_error, Clients};
use crate::engine::provider::{Cx, Found, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::support::{not_visible_yet, OrAbsent};
use crate::providers::typed::{Observed, TypedProvider};
use crate::providers::Registry;

/// Registers `mskconnect.worker_configuration` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
        KindInfo::new(
            "mskconnect.worker_configuration",
            "An MSK Connect worker configuration",
        )
        .schema::<WorkerConfigurationProps>()
        .outputs(&["arn", "revision"])
        .output_types(&[("revision", "integer")])
        .replace(&[
            ("name", "a worker configuration cannot be renamed"),
            (
                "properties",
                "MSK Connect has no update for worker configurations",
            ),
        ])
        .timeout(Duration::from_secs(10 * 60))
        .no_update(),
        |env| WorkerConfigurationProvider {
            clients: env.clients.clone(),
        },
    );
}

/// Props of `mskconnect.worker_configuration`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkerConfigurationProps {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Worker properties (`key.converter=...`), usually `{file: templates/...}`.
    pub properties: String,
}

pub struct WorkerConfigurationProvider {
    pub clients: Arc<Clients>,
}

/// MSK Connect has no update for worker configurations: the kind is declared without update,
/// so any change makes a new one.
impl WorkerConfigurationProvider {
    /// The ARN of the worker configuration named `name`, if there is one.
    async fn arn_named(&self, name: &str) -> Result<Option<String>, ProviderError> {
        let kc = self.clients.kafkaconnect().await;
        let mut next = None;
        loop {
            let out = kc
                .list_worker_configurations()
                .name_prefix(name)
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| api_error("ListWorkerConfigurations", e))?;
            let found = out
                .worker_configurations()
                .iter()
                .find(|w| w.name() == Some(name))
                .and_then(|w| w.worker_configuration_arn().map(str::to_string));
            next = out.next_token().map(str::to_string);
            if found.is_some() || next.is_none() {
                return Ok(found);
            }
        }
    }
}

#[async_trait]
impl TypedProvider for WorkerConfigurationProvider {
    type Props = WorkerConfigurationProps;

    async fn find(
        &self,
        _cx: &Cx,
        p: &WorkerConfigurationProps,
    ) -> Result<Vec<Found>, ProviderError> {
        Ok(self
            .arn_named(&p.name)
            .await?
            .map(|arn| Found::named(arn, &p.name))
            .into_iter()
            .collect())
    }

    async fn read(
        &self,
        _cx: &Cx,
        arn: &str,
        rec: Option<&WorkerConfigurationProps>,
    ) -> Result<Option<Observed<WorkerConfigurationProps>>, ProviderError> {
        let described = self
            .clients
            .kafkaconnect()
            .await
            .describe_worker_configuration()
            .worker_configuration_arn(arn)
            .send()
            .await
            .or_absent("DescribeWorkerConfiguration", NOT_FOUND)?;
        let Some(d) = described else {
            return Ok(None);
        };
        let content = d
            .latest_revision()
            .and_then(|r| r.properties_file_content())
            .and_then(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        // Compared as properties, so formatting is not drift.
        let properties = match rec {
            Some(r)
                if properties(&r.properties, "the live worker configuration").ok()
                    == Some(properties(&content, "the worker configuration")?) =>
            {
                r.properties.clone()
            }
            _ => content,
        };
        let live = WorkerConfigurationProps {
            name: d.name().unwrap_or_default().into(),
            description: rec.and_then(|r| r.description.clone()),
            properties,
        };
        let mut outputs = Map::new();
        outputs.insert("arn".into(), Value::String(arn.into()));
        outputs.insert(
            "revision".into(),
            Value::from(d.latest_revision().map(|r| r.revision()).unwrap_or(1)),
        );
        Ok(Some(Observed::new(live, outputs)))
    }

    async fn adopt(
        &self,
        cx: &Cx,
        p: &WorkerConfigurationProps,
    ) -> Result<Option<String>, ProviderError> {
        let arn = self.arn_named(&p.name).await?;
        super::adopt(
            &self.clients,
            cx,
            "MSK Connect worker configuration",
            &p.name,
            arn,
        )
        .await
    }

    async fn create(&self, cx: &Cx, p: &WorkerConfigurationProps) -> Result<String, ProviderError> {
        let out = self
            .clients
            .kafkaconnect()
            .await
            .create_worker_configuration()
            .name(&p.name)
            .set_description(p.description.clone())
            .properties_file_content(
                base64::engine::general_purpose::STANDARD.encode(&p.properties),
            )
            .set_tags(Some(cx.tags().into_iter().collect()))
            .send()
            .await
            .map_err(|e| api_error("CreateWorkerConfiguration", e))?;
        out.worker_configuration_arn()
            .map(str::to_string)
            .ok_or_else(|| ProviderError::bad_response("CreateWorkerConfiguration", "an ARN"))
    }

    async fn poll(&self, cx: &Cx, arn: &str) -> Result<Poll, ProviderError> {
        Ok(match self.read(cx, arn, None).await? {
            Some(l) => Poll::Ready(l.outputs),
            None => not_visible_yet(),
        })
    }

    async fn delete(
        &self,
        _cx: &Cx,
        arn: &str,
        _recorded: Option<&WorkerConfigurationProps>,
    ) -> Result<(), ProviderError> {
        self.clients
            .kafkaconnect()
            .await
            .delete_worker_configuration()
            .worker_configuration_arn(arn)
            .send()
            .await
            .gone_ok("DeleteWorkerConfiguration", NOT_FOUND)
    }
}
