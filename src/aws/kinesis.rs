//! Kinesis data streams.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::kind::KindInfo;

/// Capacity mode of a stream.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema)]
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
    #[serde(default)]
    pub mode: StreamMode,
    /// Shards, for `provisioned` mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_count: Option<u32>,
    /// Retention in hours (24 to 8760).
    #[serde(default = "day")]
    #[schemars(range(min = 24, max = 8760))]
    pub retention_hours: u32,
}

fn day() -> u32 {
    24
}

pub fn kinds() -> Vec<KindInfo> {
    vec![KindInfo {
        name: "kinesis.stream",
        summary: "A Kinesis data stream; mode, shard count and retention change in place",
        schema: || schemars::schema_for!(StreamProps),
        outputs: &["arn"],
        replace: &[("name", "a stream cannot be renamed")],
        secret: &[],
        create_before_destroy: false,
        timeout: Duration::from_secs(600),
        volatile_outputs: &[],
        prepare: None,
    }]
}
