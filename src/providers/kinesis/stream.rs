//! `kinesis.stream`: a Kinesis data stream.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_kinesis::types::{ScalingType, StreamMode as SdkMode, StreamModeDetails, StreamStatus};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::clients::aws::{api_error, code_of, Clients};
use crate::engine::backoff::Backoff;
use crate::engine::provider::{Cx, Found, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::support::{not_visible_yet, Absent, OrAbsent};
use crate::providers::typed::{Observed, TypedProvider};
use crate::providers::{not_ours, owned_by, Registry};

/// Capacity mode of a stream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StreamMode {
    #[default]
    OnDemand,
    Provisioned,
}

/// Props of `kinesis.stream`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamProps {
    pub name: String,
    /// Capacity mode; default `on_demand` (pinctl's choice: CreateStream alone would make a
    /// provisioned stream). A mode changed by hand is drift.
    #[serde(default)]
    pub mode: StreamMode,
    /// Shards, for `provisioned` mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_count: Option<u32>,
    /// Retention in hours (24 to 8760). Default 24, what Kinesis gives a new stream (Kinesis
    /// Data Streams Developer Guide, "Change the data retention period":
    /// <https://docs.aws.amazon.com/streams/latest/dev/kinesis-extended-retention.html>); left
    /// out of the stack, a retention changed by hand is drift and `up` sets 24 again.
    #[serde(default = "day")]
    #[schemars(range(min = 24, max = 8760))]
    pub retention_hours: u32,
}

fn day() -> u32 {
    24
}

/// Registers `kinesis.stream` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
        KindInfo::new(
            "kinesis.stream",
            "A Kinesis data stream; mode, shard count and retention change in place",
        )
        .schema::<StreamProps>()
        .outputs(&["arn"])
        .replace(&[("name", "a stream cannot be renamed")])
        .timeout(Duration::from_secs(600)),
        |env| StreamProvider {
            clients: env.clients.clone(),
        },
    );
}

/// What Kinesis answers for a stream that is not there.
const NOT_FOUND: Absent = Absent::Codes(&["ResourceNotFoundException"]);

pub struct StreamProvider {
    pub clients: Arc<Clients>,
}

fn sdk_mode(m: StreamMode) -> SdkMode {
    match m {
        StreamMode::OnDemand => SdkMode::OnDemand,
        StreamMode::Provisioned => SdkMode::Provisioned,
    }
}

impl StreamProvider {
    async fn summary(
        &self,
        name: &str,
    ) -> Result<Option<aws_sdk_kinesis::types::StreamDescriptionSummary>, ProviderError> {
        Ok(self
            .clients
            .kinesis()
            .await
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .or_absent("DescribeStreamSummary", NOT_FOUND)?
            .and_then(|out| out.stream_description_summary))
    }

    /// Waits until the stream accepts the next change (one change at a time is allowed).
    async fn wait_active(&self, name: &str) -> Result<String, ProviderError> {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
        loop {
            match self.summary(name).await? {
                Some(s) if s.stream_status() == &StreamStatus::Active => {
                    return Ok(s.stream_arn().to_string())
                }
                Some(_) => {}
                None => return Err(ProviderError::not_found(format!("stream {name}"))),
            }
            backoff.sleep().await;
        }
    }

    async fn tag(&self, cx: &Cx, name: &str) -> Result<(), ProviderError> {
        self.clients
            .kinesis()
            .await
            .add_tags_to_stream()
            .stream_name(name)
            .set_tags(Some(cx.tags().into_iter().collect()))
            .send()
            .await
            .map_err(|e| api_error("AddTagsToStream", e))?;
        Ok(())
    }

    async fn reconcile(&self, name: &str, p: &StreamProps) -> Result<(), ProviderError> {
        let k = self.clients.kinesis().await;
        let arn = self.wait_active(name).await?;
        let Some(s) = self.summary(name).await? else {
            return Ok(());
        };
        let mode = s
            .stream_mode_details()
            .map(|m| m.stream_mode().clone())
            .unwrap_or(SdkMode::Provisioned);
        if mode != sdk_mode(p.mode) {
            k.update_stream_mode()
                .stream_arn(&arn)
                .stream_mode_details(
                    StreamModeDetails::builder()
                        .stream_mode(sdk_mode(p.mode))
                        .build()
                        .expect("mode set"),
                )
                .send()
                .await
                .map_err(|e| api_error("UpdateStreamMode", e))?;
            self.wait_active(name).await?;
        }
        if let (StreamMode::Provisioned, Some(n)) = (p.mode, p.shard_count) {
            let open = self
                .summary(name)
                .await?
                .map(|s| s.open_shard_count())
                .unwrap_or(0);
            if open != n as i32 {
                k.update_shard_count()
                    .stream_name(name)
                    .target_shard_count(n as i32)
                    .scaling_type(ScalingType::UniformScaling)
                    .send()
                    .await
                    .map_err(|e| api_error("UpdateShardCount", e))?;
                self.wait_active(name).await?;
            }
        }
        let retention = self
            .summary(name)
            .await?
            .map(|s| s.retention_period_hours())
            .unwrap_or(24);
        let want = p.retention_hours as i32;
        if retention < want {
            k.increase_stream_retention_period()
                .stream_name(name)
                .retention_period_hours(want)
                .send()
                .await
                .map_err(|e| api_error("IncreaseStreamRetentionPeriod", e))?;
        } else if retention > want {
            k.decrease_stream_retention_period()
                .stream_name(name)
                .retention_period_hours(want)
                .send()
                .await
                .map_err(|e| api_error("DecreaseStreamRetentionPeriod", e))?;
        }
        Ok(())
    }
}

fn outputs(name: &str, arn: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("arn".into(), Value::String(arn.into()));
    m.insert("name".into(), Value::String(name.into()));
    m
}

#[async_trait]
impl TypedProvider for StreamProvider {
    type Props = StreamProps;

    async fn find(&self, _cx: &Cx, p: &StreamProps) -> Result<Vec<Found>, ProviderError> {
        Ok(self
            .summary(&p.name)
            .await?
            .filter(|s| s.stream_status() != &StreamStatus::Deleting)
            .map(|_| Found::named(&p.name, &p.name))
            .into_iter()
            .collect())
    }

    async fn read(
        &self,
        _cx: &Cx,
        name: &str,
        _recorded: Option<&StreamProps>,
    ) -> Result<Option<Observed<StreamProps>>, ProviderError> {
        let Some(s) = self.summary(name).await? else {
            return Ok(None);
        };
        if s.stream_status() == &StreamStatus::Deleting {
            return Ok(None);
        }
        let mode = match s.stream_mode_details().map(|m| m.stream_mode().clone()) {
            Some(SdkMode::OnDemand) => StreamMode::OnDemand,
            _ => StreamMode::Provisioned,
        };
        let live = StreamProps {
            name: s.stream_name().to_string(),
            mode,
            shard_count: match mode {
                StreamMode::Provisioned => Some(s.open_shard_count() as u32),
                StreamMode::OnDemand => None,
            },
            retention_hours: s.retention_period_hours() as u32,
        };
        Ok(Some(Observed::new(live, outputs(name, s.stream_arn()))))
    }

    async fn create(&self, cx: &Cx, p: &StreamProps) -> Result<String, ProviderError> {
        let k = self.clients.kinesis().await;
        // The ownership tags go with CreateStream itself (its `Tags`, Kinesis API Reference,
        // CreateStream), so a run killed before AddTagsToStream leaves a stream the next run
        // recognises as its own.
        let mut req = k
            .create_stream()
            .stream_name(&p.name)
            .stream_mode_details(
                StreamModeDetails::builder()
                    .stream_mode(sdk_mode(p.mode))
                    .build()
                    .expect("mode set"),
            )
            .set_tags(Some(cx.tags().into_iter().collect()));
        if p.mode == StreamMode::Provisioned {
            req = req.shard_count(p.shard_count.unwrap_or(1) as i32);
        }
        match req.send().await {
            Ok(_) => {}
            Err(e) if code_of(&e) == Some("ResourceInUseException") => {
                let tags = k
                    .list_tags_for_stream()
                    .stream_name(&p.name)
                    .send()
                    .await
                    .map_err(|e| api_error("ListTagsForStream", e))?;
                let tags = tags
                    .tags()
                    .iter()
                    .map(|t| {
                        (
                            t.key().to_string(),
                            t.value().unwrap_or_default().to_string(),
                        )
                    })
                    .collect();
                if !owned_by(&tags, cx) {
                    return Err(not_ours("Kinesis stream", &p.name));
                }
            }
            Err(e) => return Err(api_error("CreateStream", e)),
        }
        self.wait_active(&p.name).await?;
        self.tag(cx, &p.name).await?;
        self.reconcile(&p.name, p).await?;
        Ok(p.name.clone())
    }

    async fn poll(&self, _cx: &Cx, name: &str) -> Result<Poll, ProviderError> {
        Ok(match self.summary(name).await? {
            Some(s) if s.stream_status() == &StreamStatus::Active => {
                Poll::Ready(outputs(name, s.stream_arn()))
            }
            Some(s) => Poll::Pending(s.stream_status().as_str().to_string()),
            None => not_visible_yet(),
        })
    }

    async fn update(
        &self,
        _cx: &Cx,
        name: &str,
        _old: Option<&StreamProps>,
        new: &StreamProps,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        self.reconcile(name, new).await.map(|()| None)
    }

    async fn delete(
        &self,
        _cx: &Cx,
        name: &str,
        _recorded: Option<&StreamProps>,
    ) -> Result<(), ProviderError> {
        self.clients
            .kinesis()
            .await
            .delete_stream()
            .stream_name(name)
            .enforce_consumer_deletion(true)
            .send()
            .await
            .gone_ok("DeleteStream", NOT_FOUND)
    }

    async fn is_deleted(&self, _cx: &Cx, name: &str) -> Result<bool, ProviderError> {
        Ok(self.summary(name).await?.is_none())
    }
}
