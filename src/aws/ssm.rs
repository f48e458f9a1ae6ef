//! The bundled workers' deployment onto the EC2 client: binary and units in the artifact
//! bucket, rolled out through SSM Run Command when they change.

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::engine::kind::KindInfo;

/// Props of `workers.deployment`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeploymentProps {
    /// Bucket holding the binary and the units.
    pub bucket: String,
    /// Key prefix in the bucket, e.g. `workers/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Local path of the release binary to ship.
    pub binary: String,
    /// Files by name, usually `{template: templates/...}`: `*.service` files are installed as
    /// systemd units, the others under `/etc/pinctl/`.
    pub files: BTreeMap<String, String>,
    /// The instance the workers run on.
    pub instance_id: String,
}

pub fn kinds() -> Vec<KindInfo> {
    vec![KindInfo {
        name: "workers.deployment",
        summary:
            "The pinctl workers on the EC2 client: binary and systemd units, rolled out by SSM",
        schema: || schemars::schema_for!(DeploymentProps),
        outputs: &["binary_sha256", "files_sha256", "command_id"],
        replace: &[("instance_id", "a rollout targets one instance")],
        secret: &[],
        create_before_destroy: false,
        timeout: Duration::from_secs(900),
        volatile_outputs: &[],
        prepare: None,
    }]
}
