//! `iam.instance_profile`: an EC2 instance profile carrying one role.

use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{iam_tags, NOT_FOUND};
use crate::clients::aws::{api_error, code_of, Clients};
use crate::clients::propagation::settled;
use crate::engine::provider::{Cx, Found, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::support::{not_visible_yet, OrAbsent};
use crate::providers::typed::{Observed, TypedProvider};
use crate::providers::{not_ours, owned_by, Registry};

/// Registers `iam.instance_profile` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
        KindInfo::new(
            "iam.instance_profile",
            "An EC2 instance profile carrying one role",
        )
        .schema::<InstanceProfileProps>()
        .outputs(&["arn", "id"])
        .replace(&[("name", "an instance profile cannot be renamed")]),
        |env| InstanceProfileProvider {
            clients: env.clients.clone(),
        },
    );
}

/// Props of `iam.instance_profile`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstanceProfileProps {
    pub name: String,
    /// Name of the role the profile carries.
    pub role: String,
}

pub struct InstanceProfileProvider {
    pub clients: Arc<Clients>,
}

impl InstanceProfileProvider {
    async fn get(
        &self,
        name: &str,
    ) -> Result<Option<aws_sdk_iam::types::InstanceProfile>, ProviderError> {
        Ok(self
            .clients
            .iam()
            .await
            .get_instance_profile()
            .instance_profile_name(name)
            .send()
            .await
            .or_absent("GetInstanceProfile", NOT_FOUND)?
            .and_then(|out| out.instance_profile))
    }

    fn outputs(ip: &aws_sdk_iam::types::InstanceProfile) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("arn".into(), Value::String(ip.arn().into()));
        m.insert("id".into(), Value::String(ip.instance_profile_id().into()));
        m
    }
}

#[async_trait]
impl TypedProvider for InstanceProfileProvider {
    type Props = InstanceProfileProps;

    async fn find(&self, _cx: &Cx, p: &InstanceProfileProps) -> Result<Vec<Found>, ProviderError> {
        Ok(self
            .get(&p.name)
            .await?
            .map(|_| Found::named(&p.name, &p.name))
            .into_iter()
            .collect())
    }

    async fn read(
        &self,
        _cx: &Cx,
        name: &str,
        _recorded: Option<&InstanceProfileProps>,
    ) -> Result<Option<Observed<InstanceProfileProps>>, ProviderError> {
        Ok(self.get(name).await?.map(|ip| {
            let live = InstanceProfileProps {
                name: ip.instance_profile_name().into(),
                role: ip
                    .roles()
                    .first()
                    .map(|r| r.role_name().to_string())
                    .unwrap_or_default(),
            };
            Observed::new(live, Self::outputs(&ip))
        }))
    }

    async fn create(&self, cx: &Cx, p: &InstanceProfileProps) -> Result<String, ProviderError> {
        let iam = self.clients.iam().await;
        match iam
            .create_instance_profile()
            .instance_profile_name(&p.name)
            .set_tags(Some(iam_tags(cx)))
            .send()
            .await
        {
            Ok(_) => {}
            Err(e) if code_of(&e) == Some("EntityAlreadyExists") => {
                // GetInstanceProfile carries the tags (moto has no ListInstanceProfileTags).
                let tags = self
                    .get(&p.name)
                    .await?
                    .map(|ip| {
                        ip.tags()
                            .iter()
                            .map(|t| (t.key().to_string(), t.value().to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                if !owned_by(&tags, cx) {
                    return Err(not_ours("instance profile", &p.name));
                }
            }
            Err(e) => return Err(api_error("CreateInstanceProfile", e)),
        }
        let has_role = self
            .get(&p.name)
            .await?
            .is_some_and(|ip| ip.roles().iter().any(|r| r.role_name() == p.role));
        if !has_role {
            let req = iam
                .add_role_to_instance_profile()
                .instance_profile_name(&p.name)
                .role_name(&p.role);
            settled("AddRoleToInstanceProfile", || req.clone().send()).await?;
        }
        Ok(p.name.clone())
    }

    async fn poll(&self, _cx: &Cx, name: &str) -> Result<Poll, ProviderError> {
        Ok(match self.get(name).await? {
            Some(ip) => Poll::Ready(Self::outputs(&ip)),
            None => not_visible_yet(),
        })
    }

    async fn update(
        &self,
        _cx: &Cx,
        name: &str,
        _old: Option<&InstanceProfileProps>,
        p: &InstanceProfileProps,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        let iam = self.clients.iam().await;
        if let Some(ip) = self.get(name).await? {
            for r in ip.roles() {
                if r.role_name() != p.role {
                    iam.remove_role_from_instance_profile()
                        .instance_profile_name(name)
                        .role_name(r.role_name())
                        .send()
                        .await
                        .gone_ok("RemoveRoleFromInstanceProfile", NOT_FOUND)?;
                }
            }
            if !ip.roles().iter().any(|r| r.role_name() == p.role) {
                let req = iam
                    .add_role_to_instance_profile()
                    .instance_profile_name(name)
                    .role_name(&p.role);
                settled("AddRoleToInstanceProfile", || req.clone().send()).await?;
            }
        }
        Ok(None)
    }

    async fn delete(
        &self,
        _cx: &Cx,
        name: &str,
        _recorded: Option<&InstanceProfileProps>,
    ) -> Result<(), ProviderError> {
        let iam = self.clients.iam().await;
        let Some(ip) = self.get(name).await? else {
            return Ok(());
        };
        for r in ip.roles() {
            iam.remove_role_from_instance_profile()
                .instance_profile_name(name)
                .role_name(r.role_name())
                .send()
                .await
                .gone_ok("RemoveRoleFromInstanceProfile", NOT_FOUND)?;
        }
        iam.delete_instance_profile()
            .instance_profile_name(name)
            .send()
            .await
            .gone_ok("DeleteInstanceProfile", NOT_FOUND)
    }
}
