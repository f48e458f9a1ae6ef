//! `ec2.key_pair`: an EC2 key pair; the private key goes to a 0600 file, never to state.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::ResourceType;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{tag_map, tag_spec};
use crate::clients::aws::{api_error, code_of, Clients};
use crate::engine::provider::{Cx, Found, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::support::{not_visible_yet, Absent, OrAbsent};
use crate::providers::typed::{Observed, TypedProvider};
use crate::providers::{not_ours, owned_by, Registry};

/// What EC2 answers for a key pair that is not there.
const NOT_FOUND: Absent = Absent::Codes(&["InvalidKeyPair.NotFound"]);

/// Registers `ec2.key_pair` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
        KindInfo::new(
            "ec2.key_pair",
            "An EC2 key pair; the private key goes to a 0600 file, never to state",
        )
        .schema::<KeyPairProps>()
        .outputs(&["id", "fingerprint"])
        .replace(&[
            ("name", "a key pair cannot be renamed"),
            (
                "private_key_file",
                "the private key exists only once, when the key pair is created",
            ),
        ])
        .timeout(Duration::from_secs(120))
        .no_update(),
        |env| KeyPairProvider {
            clients: env.clients.clone(),
            root: env.root.clone(),
        },
    );
}

/// Props of `ec2.key_pair`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyPairProps {
    pub name: String,
    /// Where the private key is written once, mode 0600. It is never stored in state.
    pub private_key_file: String,
}

pub struct KeyPairProvider {
    pub clients: Arc<Clients>,
    pub root: std::path::PathBuf,
}

impl KeyPairProvider {
    async fn describe(
        &self,
        id: &str,
    ) -> Result<Option<aws_sdk_ec2::types::KeyPairInfo>, ProviderError> {
        let out = self
            .clients
            .ec2()
            .await
            .describe_key_pairs()
            .key_pair_ids(id)
            .send()
            .await
            .or_absent("DescribeKeyPairs", NOT_FOUND)?;
        // Matched by id here too: moto does not filter by key pair id.
        Ok(out.and_then(|out| {
            out.key_pairs()
                .iter()
                .find(|k| k.key_pair_id() == Some(id))
                .cloned()
        }))
    }

    fn outputs(k: &aws_sdk_ec2::types::KeyPairInfo) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(
            "id".into(),
            Value::String(k.key_pair_id().unwrap_or_default().into()),
        );
        m.insert(
            "fingerprint".into(),
            Value::String(k.key_fingerprint().unwrap_or_default().into()),
        );
        m
    }
}

fn write_private_key(path: &std::path::Path, material: &str) -> Result<(), ProviderError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| ProviderError::io(dir.display(), e))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            ProviderError::io(format!("writing the private key to {}", path.display()), e)
        })?;
    f.write_all(material.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| ProviderError::io(format!("writing the private key to {}", path.display()), e))
}

/// Both props are fixed at creation (the kind declares no update).
#[async_trait]
impl TypedProvider for KeyPairProvider {
    type Props = KeyPairProps;

    async fn find(&self, _cx: &Cx, p: &KeyPairProps) -> Result<Vec<Found>, ProviderError> {
        let found = self
            .clients
            .ec2()
            .await
            .describe_key_pairs()
            .key_names(&p.name)
            .send()
            .await
            .or_absent("DescribeKeyPairs", NOT_FOUND)?;
        Ok(found
            .iter()
            .flat_map(|out| out.key_pairs())
            .filter_map(|k| k.key_pair_id().map(|id| Found::named(id, &p.name)))
            .collect())
    }

    async fn read(
        &self,
        _cx: &Cx,
        id: &str,
        recorded: Option<&KeyPairProps>,
    ) -> Result<Option<Observed<KeyPairProps>>, ProviderError> {
        Ok(self.describe(id).await?.map(|k| Observed {
            // The private key file is what was recorded: the service does not know it.
            props: recorded.cloned().map(|p| KeyPairProps {
                name: k.key_name().unwrap_or_default().into(),
                ..p
            }),
            outputs: Self::outputs(&k),
        }))
    }

    async fn adopt(&self, cx: &Cx, p: &KeyPairProps) -> Result<Option<String>, ProviderError> {
        // A CreateKeyPair still in flight is the engine's to wait for (`IN_FLIGHT_WINDOW`).
        let found = self
            .clients
            .ec2()
            .await
            .describe_key_pairs()
            .key_names(&p.name)
            .send()
            .await;
        match found.or_absent("DescribeKeyPairs", NOT_FOUND)? {
            None => Ok(None),
            Some(out) => {
                let Some(k) = out.key_pairs().first() else {
                    return Ok(None);
                };
                if !owned_by(&tag_map(k.tags()), cx) {
                    return Err(not_ours("key pair", &p.name));
                }
                if !self.root.join(&p.private_key_file).exists() {
                    // Created by a run that died before saving the private key: nobody can use
                    // it, so it is replaced rather than adopted.
                    tracing::warn!(
                        "key pair `{}` was created by an interrupted run whose private key was never saved; making a new one",
                        p.name
                    );
                    self.clients
                        .ec2()
                        .await
                        .delete_key_pair()
                        .key_name(&p.name)
                        .send()
                        .await
                        .map_err(|e| api_error("DeleteKeyPair", e))?;
                    return Ok(None);
                }
                Ok(k.key_pair_id().map(str::to_string))
            }
        }
    }

    async fn create(&self, cx: &Cx, p: &KeyPairProps) -> Result<String, ProviderError> {
        let path = self.root.join(&p.private_key_file);
        if path.exists() {
            return Err(ProviderError::Invalid(format!(
                "{} already exists; pinctl writes a new private key only to a new file",
                path.display()
            )));
        }
        let create = || async {
            self.clients
                .ec2()
                .await
                .create_key_pair()
                .key_name(&p.name)
                .tag_specifications(tag_spec(cx, ResourceType::KeyPair, &BTreeMap::new()))
                .send()
                .await
        };
        let out = match create().await {
            Ok(out) => out,
            // The interrupted run's own CreateKeyPair may land only now: look again.
            Err(e) if cx.resuming && code_of(&e) == Some("InvalidKeyPair.Duplicate") => {
                if path.exists() {
                    if let Some(id) = self.adopt(cx, p).await? {
                        return Ok(id);
                    }
                }
                // Without its private key it is useless: adopt() removed it; make it anew.
                let _ = self.adopt(cx, p).await?;
                create().await.map_err(|e| api_error("CreateKeyPair", e))?
            }
            Err(e) => return Err(api_error("CreateKeyPair", e)),
        };
        write_private_key(&path, out.key_material().unwrap_or_default())?;
        out.key_pair_id()
            .map(str::to_string)
            .ok_or_else(|| ProviderError::bad_response("CreateKeyPair", "a key pair id"))
    }

    async fn poll(&self, _cx: &Cx, id: &str) -> Result<Poll, ProviderError> {
        Ok(match self.describe(id).await? {
            Some(k) => Poll::Ready(Self::outputs(&k)),
            None => not_visible_yet(),
        })
    }

    async fn delete(
        &self,
        _cx: &Cx,
        id: &str,
        recorded: Option<&KeyPairProps>,
    ) -> Result<(), ProviderError> {
        // By name when known: moto deletes key pairs only by name.
        let name = recorded.map(|r| r.name.as_str());
        let mut req = self.clients.ec2().await.delete_key_pair();
        req = match name {
            Some(n) => req.key_name(n),
            None => req.key_pair_id(id),
        };
        req.send().await.gone_ok("DeleteKeyPair", NOT_FOUND)?;
        // The private key of a deleted key pair opens nothing; it is removed with it.
        if let Some(file) = recorded.map(|r| &r.private_key_file) {
            let _ = std::fs::remove_file(self.root.join(file));
        }
        Ok(())
    }
}
