//! `workers.deployment`: the bundled workers' deployment onto the EC2 client: binary and units
//! in the artifact bucket, rolled out through SSM Run Command when they change.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::clients::aws::{api_error, code_of, Clients};
use crate::engine::provider::{Cx, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::support::{Absent, CompositeId, OrAbsent};
use crate::providers::typed::{Observed, TypedProvider};
use crate::providers::Registry;

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
    /// Computed by pinctl: the digest of the binary (set it and it is overwritten).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary_sha256: Option<String>,
}

/// Registers `workers.deployment` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
        KindInfo::new(
            "workers.deployment",
            "The pinctl workers on the EC2 client: binary and systemd units, rolled out by SSM",
        )
        .schema::<DeploymentProps>()
        .outputs(&["binary_sha256", "files_sha256", "command_id"])
        .replace(&[
            ("instance_id", "a rollout targets one instance"),
            ("bucket", "the artifacts move to another bucket"),
            ("prefix", "the artifacts move to another prefix"),
        ])
        .volatile_outputs(&["command_id", "binary_sha256", "files_sha256"])
        .timeout(Duration::from_secs(900))
        .prepare(prepare_deployment),
        |env| DeploymentProvider {
            clients: env.clients.clone(),
            root: env.root.clone(),
        },
    );
}

/// `bucket|prefix|instance`: where the artifacts are and which instance runs them.
const ID: CompositeId = CompositeId::new("workers deployment", '|');

/// The binary's digest goes into the props, so a new build is a change the plan shows.
pub fn prepare_deployment(props: &mut Value, root: &std::path::Path) -> Result<(), String> {
    let path = props
        .get("binary")
        .and_then(Value::as_str)
        .map(|b| root.join(b))
        .ok_or("`binary` is required")?;
    let bytes = std::fs::read(&path).map_err(|e| {
        format!(
            "the worker binary {}: {e} (build it with `cargo build --release`; with CARGO_TARGET_DIR set it is under that directory instead: point the stack at it with PINCTL_WORKER_BINARY=<path> or `-p worker_binary=<path>`)",
            path.display()
        )
    })?;
    if let Value::Object(m) = props {
        m.insert(
            "binary_sha256".into(),
            Value::String(hex::encode(Sha256::digest(&bytes))),
        );
    }
    Ok(())
}

/// One digest of the shipped files, from each file's name and the sha256 of its content as
/// stored (so it is known from the bucket alone).
fn files_digest(digests: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    for (name, sha) in digests {
        h.update(name.as_bytes());
        h.update([0]);
        h.update(sha.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

fn prefix_of(p: &DeploymentProps) -> String {
    let mut prefix = p.prefix.clone().unwrap_or_else(|| "workers/".into());
    if !prefix.is_empty() && !prefix.ends_with('/') {
        prefix.push('/');
    }
    prefix
}

/// What the instance runs to install a new binary and units; the same steps as the user-data.
fn rollout_script(bucket: &str, prefix: &str) -> Vec<String> {
    vec![
        "set -euo pipefail".into(),
        "install -d -m 0755 /etc/pinctl /opt/pinctl/bin".into(),
        format!("aws s3 cp s3://{bucket}/{prefix}pinctl /opt/pinctl/bin/pinctl.new"),
        "install -m 0755 /opt/pinctl/bin/pinctl.new /opt/pinctl/bin/pinctl && rm /opt/pinctl/bin/pinctl.new".into(),
        "ln -sf /opt/pinctl/bin/pinctl /usr/local/bin/pinctl".into(),
        format!("aws s3 cp --recursive s3://{bucket}/{prefix}files/ /etc/pinctl/"),
        "for u in /etc/pinctl/*.service; do install -m 0644 \"$u\" /etc/systemd/system/; done".into(),
        "systemctl daemon-reload".into(),
        "for u in /etc/pinctl/*.service; do systemctl enable \"$(basename \"$u\")\"; systemctl restart \"$(basename \"$u\")\"; done".into(),
    ]
}

pub struct DeploymentProvider {
    pub clients: Arc<Clients>,
    pub root: std::path::PathBuf,
}

impl DeploymentProvider {
    async fn put(
        &self,
        key: &str,
        bucket: &str,
        body: Vec<u8>,
        digest: &str,
    ) -> Result<(), ProviderError> {
        self.clients
            .s3()
            .await
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body.into())
            .metadata("pinctl-sha256", digest)
            .send()
            .await
            .map_err(|e| api_error("PutObject", e))?;
        Ok(())
    }

    async fn digest_of(&self, bucket: &str, key: &str) -> Result<Option<String>, ProviderError> {
        Ok(self
            .clients
            .s3()
            .await
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .or_absent("HeadObject", Absent::CodesOrHttp404(&["NotFound"]))?
            .map(|h| {
                h.metadata()
                    .and_then(|m| m.get("pinctl-sha256"))
                    .cloned()
                    .unwrap_or_default()
            }))
    }

    /// Uploads what differs from what the bucket holds; returns whether anything did.
    async fn upload(&self, p: &DeploymentProps) -> Result<bool, ProviderError> {
        let prefix = prefix_of(p);
        let mut changed = false;
        let binary = std::fs::read(self.root.join(&p.binary))
            .map_err(|e| ProviderError::io(&p.binary, e))?;
        let digest = hex::encode(Sha256::digest(&binary));
        if self
            .digest_of(&p.bucket, &format!("{prefix}pinctl"))
            .await?
            .as_deref()
            != Some(digest.as_str())
        {
            self.put(&format!("{prefix}pinctl"), &p.bucket, binary, &digest)
                .await?;
            changed = true;
        }
        for (name, content) in &p.files {
            let d = hex::encode(Sha256::digest(content.as_bytes()));
            let key = format!("{prefix}files/{name}");
            if self.digest_of(&p.bucket, &key).await?.as_deref() != Some(d.as_str()) {
                self.put(&key, &p.bucket, content.clone().into_bytes(), &d)
                    .await?;
                changed = true;
            }
        }
        Ok(changed)
    }

    /// Runs the rollout on the instance through SSM Run Command and waits for its outcome.
    async fn roll_out(&self, p: &DeploymentProps) -> Result<String, ProviderError> {
        let ssm = self.clients.ssm().await;
        let out = ssm
            .send_command()
            .instance_ids(&p.instance_id)
            .document_name("AWS-RunShellScript")
            .comment("pinctl: roll out the pipeline's workers")
            .parameters("commands", rollout_script(&p.bucket, &prefix_of(p)))
            .send()
            .await
            .map_err(|e| api_error("SendCommand", e))?;
        let id = out
            .command()
            .and_then(|c| c.command_id())
            .unwrap_or_default()
            .to_string();
        let mut backoff = crate::engine::backoff::Backoff::new(
            std::time::Duration::from_millis(500),
            std::time::Duration::from_secs(10),
        );
        loop {
            match ssm
                .get_command_invocation()
                .command_id(&id)
                .instance_id(&p.instance_id)
                .send()
                .await
            {
                Ok(inv) => match inv.status().map(|s| s.as_str()) {
                    Some("Success") => return Ok(id),
                    Some(s @ ("Failed" | "Cancelled" | "TimedOut")) => {
                        return Err(ProviderError::Failed {
                            what: format!("the rollout on {}", p.instance_id),
                            status: s.to_string(),
                            reason: inv.standard_error_content().unwrap_or_default().to_string(),
                        })
                    }
                    _ => {}
                },
                Err(e) if code_of(&e) == Some("InvocationDoesNotExist") => {}
                Err(e) => return Err(api_error("GetCommandInvocation", e)),
            }
            backoff.sleep().await;
        }
    }

    /// Whether SSM manages the instance yet (a new one registers a while after booting; until
    /// then its user-data installs the workers). A failure to say (a throttle) is the call's
    /// error, for the engine to retry: taken as "no", it would skip a rollout.
    async fn managed(&self, instance: &str) -> Result<bool, ProviderError> {
        let filter = aws_sdk_ssm::types::InstanceInformationStringFilter::builder()
            .key("InstanceIds")
            .values(instance)
            .build();
        let filter =
            filter.map_err(|e| ProviderError::Invalid(format!("an SSM instance filter: {e}")))?;
        let asked = self
            .clients
            .ssm()
            .await
            .describe_instance_information()
            .filters(filter)
            .send()
            .await
            .map_err(|e| api_error("DescribeInstanceInformation", e))?;
        Ok(!asked.instance_information_list().is_empty())
    }
}

fn id_of(p: &DeploymentProps) -> String {
    ID.join(&[&p.bucket, &prefix_of(p), &p.instance_id])
}

#[async_trait]
impl TypedProvider for DeploymentProvider {
    type Props = DeploymentProps;

    async fn read(
        &self,
        _cx: &Cx,
        _id: &str,
        recorded: Option<&DeploymentProps>,
    ) -> Result<Option<Observed<DeploymentProps>>, ProviderError> {
        let Some(rec) = recorded else {
            return Ok(None);
        };
        let prefix = prefix_of(rec);
        let Some(binary) = self
            .digest_of(&rec.bucket, &format!("{prefix}pinctl"))
            .await?
        else {
            return Ok(None);
        };
        let mut files = BTreeMap::new();
        let mut digests = BTreeMap::new();
        for (name, content) in &rec.files {
            let want = hex::encode(Sha256::digest(content.as_bytes()));
            let stored = self
                .digest_of(&rec.bucket, &format!("{prefix}files/{name}"))
                .await?;
            if let Some(d) = &stored {
                digests.insert(name.clone(), d.clone());
            }
            match stored {
                Some(d) if d == want => {
                    files.insert(name.clone(), content.clone());
                }
                Some(d) => {
                    files.insert(
                        name.clone(),
                        format!("(changed outside pinctl: sha256 {d})"),
                    );
                }
                None => {}
            }
        }
        let live = DeploymentProps {
            binary_sha256: Some(binary.clone()),
            files: files.clone(),
            ..rec.clone()
        };
        let mut outputs = Map::new();
        outputs.insert("binary_sha256".into(), Value::String(binary));
        outputs.insert("files_sha256".into(), Value::String(files_digest(&digests)));
        Ok(Some(Observed::new(live, outputs)))
    }

    async fn create(&self, _cx: &Cx, p: &DeploymentProps) -> Result<String, ProviderError> {
        self.upload(p).await?;
        if self.managed(&p.instance_id).await? {
            self.roll_out(p).await?;
        }
        Ok(id_of(p))
    }

    async fn poll(&self, cx: &Cx, id: &str) -> Result<Poll, ProviderError> {
        let [bucket, prefix, instance] = ID.parts::<3>(id);
        let probe = DeploymentProps {
            bucket: bucket.into(),
            prefix: Some(prefix.into()),
            binary: String::new(),
            files: BTreeMap::new(),
            instance_id: instance.into(),
            binary_sha256: None,
        };
        let Some(mut live) = self.read(cx, id, Some(&probe)).await? else {
            return Ok(Poll::Pending("uploading".into()));
        };
        // The id does not name the files: the bucket does.
        let mut digests = BTreeMap::new();
        let listed = self
            .clients
            .s3()
            .await
            .list_objects_v2()
            .bucket(bucket)
            .prefix(format!("{prefix}files/"))
            .send()
            .await
            .map_err(|e| api_error("ListObjectsV2", e))?;
        for o in listed.contents() {
            let Some(key) = o.key() else { continue };
            if let Some(d) = self.digest_of(bucket, key).await? {
                digests.insert(key[prefix.len() + "files/".len()..].to_string(), d);
            }
        }
        live.outputs
            .insert("files_sha256".into(), Value::String(files_digest(&digests)));
        Ok(Poll::Ready(live.outputs))
    }

    async fn update(
        &self,
        _cx: &Cx,
        _id: &str,
        _old: Option<&DeploymentProps>,
        p: &DeploymentProps,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        self.upload(p).await?;
        self.roll_out(p).await?;
        Ok(None)
    }

    async fn delete(
        &self,
        _cx: &Cx,
        _id: &str,
        recorded: Option<&DeploymentProps>,
    ) -> Result<(), ProviderError> {
        let Some(p) = recorded else {
            return Ok(());
        };
        let prefix = prefix_of(p);
        let s3 = self.clients.s3().await;
        let mut keys = vec![format!("{prefix}pinctl")];
        keys.extend(p.files.keys().map(|n| format!("{prefix}files/{n}")));
        for key in keys {
            s3.delete_object()
                .bucket(&p.bucket)
                .key(&key)
                .send()
                .await
                .gone_ok(
                    "DeleteObject",
                    Absent::Codes(&["NoSuchBucket", "NoSuchKey"]),
                )?;
        }
        Ok(())
    }

    async fn is_deleted(&self, _cx: &Cx, _id: &str) -> Result<bool, ProviderError> {
        Ok(true)
    }
}
