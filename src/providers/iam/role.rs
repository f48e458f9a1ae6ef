//! `iam.role`: a role with its trust policy, inline policies and managed policies.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{
    as_list, check_actions, iam_tags, parse_document, policy_document, read_statements,
    statements_of, Statement, NOT_FOUND,
};
use crate::clients::aws::{api_error, code_of, Clients};
use crate::clients::propagation::settle;
use crate::engine::provider::{Cx, Found, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::support::{not_visible_yet, OrAbsent};
use crate::providers::typed::{Observed, TypedProvider};
use crate::providers::{not_ours, owned_by, Registry};

/// Registers `iam.role` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
        KindInfo::new(
            "iam.role",
            "An IAM role: trusted services, inline least-privilege policies, managed policies",
        )
        .schema::<RoleProps>()
        .outputs(&["arn", "id"])
        .replace(&[("name", "an IAM role cannot be renamed")])
        // Both mean sets: ListAttachedRolePolicies answers in IAM's own order, and the order of
        // a trust policy's principals means nothing.
        .sets(&["trusted_services", "managed_policy_arns"])
        // Every inline policy of the role is the stack's: one added by hand is drift, and `up`
        // deletes it; those of `iam.role_policy` resources are theirs (`PartOf`).
        .exclusive(&["policies"]),
        |env| RoleProvider {
            clients: env.clients.clone(),
        },
    );
}

/// Props of `iam.role`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleProps {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Service principals that may assume the role, e.g. `ec2.amazonaws.com`.
    pub trusted_services: Vec<String>,
    /// Inline policies by name. The role owns all of its inline policies but those of
    /// `iam.role_policy` resources: one added by hand is drift, and `up` deletes it.
    #[serde(default)]
    pub policies: BTreeMap<String, Vec<Statement>>,
    /// Managed policies attached to the role (a set); one attached by hand is drift, and `up`
    /// detaches it.
    #[serde(default)]
    pub managed_policy_arns: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_session_seconds: Option<u32>,
}

fn trust_document(services: &[String]) -> String {
    json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": services}, "Action": "sts:AssumeRole"}]})
    .to_string()
}

fn trusted_services(doc: &Value) -> Vec<String> {
    statements_of(doc)
        .iter()
        .flat_map(|s| as_list(s.pointer("/Principal/Service")))
        .collect()
}

pub struct RoleProvider {
    pub clients: Arc<Clients>,
}

/// Whether the plan path `path` is the field `field` or lies inside it (`policies.read[0]` is
/// inside `policies.read` and `policies`, not inside `policies.re`).
fn touches(path: &str, field: &str) -> bool {
    path.strip_prefix(field)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

impl RoleProvider {
    /// The names of every inline policy of the role (ListRolePolicies, all pages).
    async fn inline_policy_names(&self, role: &str) -> Result<Vec<String>, ProviderError> {
        let iam = self.clients.iam().await;
        let mut names = Vec::new();
        let mut marker = None;
        loop {
            let out = iam
                .list_role_policies()
                .role_name(role)
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| api_error("ListRolePolicies", e))?;
            names.extend(out.policy_names().iter().cloned());
            marker = out.marker().map(str::to_string);
            if !out.is_truncated() || marker.is_none() {
                return Ok(names);
            }
        }
    }
    async fn outputs(&self, name: &str) -> Result<Option<Map<String, Value>>, ProviderError> {
        let out = self
            .clients
            .iam()
            .await
            .get_role()
            .role_name(name)
            .send()
            .await
            .or_absent("GetRole", NOT_FOUND)?;
        Ok(out.and_then(|out| {
            out.role().map(|r| {
                let mut m = Map::new();
                m.insert("arn".into(), Value::String(r.arn().into()));
                m.insert("id".into(), Value::String(r.role_id().into()));
                m
            })
        }))
    }

    /// Brings the role in line with `new`: what differs from `old` (the recorded props) and what
    /// `changed` names (the plan's paths, from the live role: a repair of drift, where the
    /// recorded props equal the new ones). Managed policies are compared with the live list.
    async fn sync(
        &self,
        old: Option<&RoleProps>,
        new: &RoleProps,
        changed: &[String],
    ) -> Result<(), ProviderError> {
        let iam = self.clients.iam().await;
        let name = &new.name;
        let touched = |field: &str| changed.iter().any(|c| touches(c, field));
        if touched("description")
            || touched("max_session_seconds")
            || old.is_some_and(|o| {
                o.description != new.description || o.max_session_seconds != new.max_session_seconds
            })
        {
            iam.update_role()
                .role_name(name)
                .set_description(new.description.clone())
                .set_max_session_duration(new.max_session_seconds.map(|s| s as i32))
                .send()
                .await
                .map_err(|e| api_error("UpdateRole", e))?;
        }
        if touched("trusted_services")
            || old.is_some_and(|o| o.trusted_services != new.trusted_services)
        {
            iam.update_assume_role_policy()
                .role_name(name)
                .policy_document(trust_document(&new.trusted_services))
                .send()
                .await
                .map_err(|e| api_error("UpdateAssumeRolePolicy", e))?;
        }
        for (pname, stmts) in &new.policies {
            let unchanged = old
                .and_then(|o| o.policies.get(pname))
                .is_some_and(|o| serde_json::to_value(o).ok() == serde_json::to_value(stmts).ok());
            let repaired =
                changed.iter().any(|c| c == "policies") || touched(&format!("policies.{pname}"));
            if unchanged && !repaired {
                continue;
            }
            iam.put_role_policy()
                .role_name(name)
                .policy_name(pname)
                .policy_document(policy_document(stmts))
                .send()
                .await
                .map_err(|e| api_error("PutRolePolicy", e))?;
        }
        // Removed: those this resource declared before, and those the plan names as found on the
        // role but not in the stack (added by hand). Others belong to iam.role_policy.
        let mut removed: Vec<String> = old
            .map(|o| o.policies.keys().cloned().collect())
            .unwrap_or_default();
        if changed.iter().any(|c| c.starts_with("policies.")) {
            removed.extend(
                self.inline_policy_names(name)
                    .await?
                    .into_iter()
                    .filter(|p| changed.contains(&format!("policies.{p}"))),
            );
        }
        for pname in removed {
            if !new.policies.contains_key(&pname) {
                iam.delete_role_policy()
                    .role_name(name)
                    .policy_name(&pname)
                    .send()
                    .await
                    .gone_ok("DeleteRolePolicy", NOT_FOUND)?;
            }
        }
        let attached: Vec<String> = iam
            .list_attached_role_policies()
            .role_name(name)
            .send()
            .await
            .map_err(|e| api_error("ListAttachedRolePolicies", e))?
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect();
        for arn in &new.managed_policy_arns {
            if !attached.contains(arn) {
                iam.attach_role_policy()
                    .role_name(name)
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(|e| api_error("AttachRolePolicy", e))?;
            }
        }
        for arn in attached
            .iter()
            .filter(|a| !new.managed_policy_arns.contains(a))
        {
            iam.detach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
                .gone_ok("DetachRolePolicy", NOT_FOUND)?;
        }
        Ok(())
    }
}

#[async_trait]
impl TypedProvider for RoleProvider {
    type Props = RoleProps;

    async fn find(&self, _cx: &Cx, p: &RoleProps) -> Result<Vec<Found>, ProviderError> {
        Ok(self
            .outputs(&p.name)
            .await?
            .map(|_| Found::named(&p.name, &p.name))
            .into_iter()
            .collect())
    }

    async fn read(
        &self,
        _cx: &Cx,
        name: &str,
        _recorded: Option<&RoleProps>,
    ) -> Result<Option<Observed<RoleProps>>, ProviderError> {
        let iam = self.clients.iam().await;
        let got = iam.get_role().role_name(name).send().await;
        let Some(role) = got
            .or_absent("GetRole", NOT_FOUND)?
            .and_then(|out| out.role)
        else {
            return Ok(None);
        };
        let trust = role
            .assume_role_policy_document()
            .map(parse_document)
            .transpose()?
            .unwrap_or(Value::Null);
        // Every inline policy: those of iam.role_policy resources are told apart by the engine
        // (`KindInfo::part_of`), so one added by hand shows as drift.
        let mut policies = BTreeMap::new();
        for pname in self.inline_policy_names(name).await? {
            let got = iam
                .get_role_policy()
                .role_name(name)
                .policy_name(&pname)
                .send()
                .await
                .or_absent("GetRolePolicy", NOT_FOUND)?;
            if let Some(p) = got {
                policies.insert(
                    pname,
                    read_statements(&parse_document(p.policy_document())?),
                );
            }
        }
        let managed_policy_arns: Vec<String> = iam
            .list_attached_role_policies()
            .role_name(name)
            .send()
            .await
            .map_err(|e| api_error("ListAttachedRolePolicies", e))?
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn().map(str::to_string))
            .collect();
        let live = RoleProps {
            name: role.role_name().to_string(),
            description: role.description().map(str::to_string),
            trusted_services: trusted_services(&trust),
            policies,
            managed_policy_arns,
            max_session_seconds: role.max_session_duration().map(|d| d as u32),
        };
        let mut outputs = Map::new();
        outputs.insert("arn".into(), Value::String(role.arn().into()));
        outputs.insert("id".into(), Value::String(role.role_id().into()));
        Ok(Some(Observed::new(live, outputs)))
    }

    async fn create(&self, cx: &Cx, p: &RoleProps) -> Result<String, ProviderError> {
        for stmts in p.policies.values() {
            check_actions(stmts)?;
        }
        let iam = self.clients.iam().await;
        let created = iam
            .create_role()
            .role_name(&p.name)
            .assume_role_policy_document(trust_document(&p.trusted_services))
            .set_description(p.description.clone())
            .set_max_session_duration(p.max_session_seconds.map(|s| s as i32))
            .set_tags(Some(iam_tags(cx)))
            .send()
            .await;
        let adopted = match created {
            Ok(_) => None,
            Err(e) if code_of(&e) == Some("EntityAlreadyExists") => {
                let tags = iam
                    .list_role_tags()
                    .role_name(&p.name)
                    .send()
                    .await
                    .map_err(|e| api_error("ListRoleTags", e))?;
                let tags = tags
                    .tags()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect();
                if !owned_by(&tags, cx) {
                    return Err(not_ours("IAM role", &p.name));
                }
                Some(())
            }
            Err(e) => return Err(api_error("CreateRole", e)),
        };
        // An adopted role is brought fully in line, as if everything had changed.
        let blank = RoleProps {
            description: None,
            max_session_seconds: None,
            trusted_services: vec![],
            policies: Default::default(),
            managed_policy_arns: vec![],
            name: p.name.clone(),
        };
        self.sync(adopted.map(|_| &blank), p, &[]).await?;
        Ok(p.name.clone())
    }

    async fn poll(&self, _cx: &Cx, name: &str) -> Result<Poll, ProviderError> {
        Ok(match self.outputs(name).await? {
            Some(o) => Poll::Ready(o),
            None => not_visible_yet(),
        })
    }

    async fn update(
        &self,
        _cx: &Cx,
        _name: &str,
        old: Option<&RoleProps>,
        new: &RoleProps,
        changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        for stmts in new.policies.values() {
            check_actions(stmts)?;
        }
        self.sync(old, new, changed).await?;
        Ok(None)
    }

    async fn delete(
        &self,
        _cx: &Cx,
        name: &str,
        _recorded: Option<&RoleProps>,
    ) -> Result<(), ProviderError> {
        let iam = self.clients.iam().await;
        let listed = iam
            .list_attached_role_policies()
            .role_name(name)
            .send()
            .await;
        let Some(attached) = listed.or_absent("ListAttachedRolePolicies", NOT_FOUND)? else {
            return Ok(());
        };
        for p in attached.attached_policies() {
            if let Some(arn) = p.policy_arn() {
                iam.detach_role_policy()
                    .role_name(name)
                    .policy_arn(arn)
                    .send()
                    .await
                    .gone_ok("DetachRolePolicy", NOT_FOUND)?;
            }
        }
        let inline = iam
            .list_role_policies()
            .role_name(name)
            .send()
            .await
            .map_err(|e| api_error("ListRolePolicies", e))?;
        for pname in inline.policy_names() {
            iam.delete_role_policy()
                .role_name(name)
                .policy_name(pname)
                .send()
                .await
                .gone_ok("DeleteRolePolicy", NOT_FOUND)?;
        }
        let profiles = iam
            .list_instance_profiles_for_role()
            .role_name(name)
            .send()
            .await
            .map_err(|e| api_error("ListInstanceProfilesForRole", e))?;
        for ip in profiles.instance_profiles() {
            iam.remove_role_from_instance_profile()
                .instance_profile_name(ip.instance_profile_name())
                .role_name(name)
                .send()
                .await
                .gone_ok("RemoveRoleFromInstanceProfile", NOT_FOUND)?;
        }
        let req = iam.delete_role().role_name(name);
        settle("DeleteRole", || req.clone().send())
            .await
            .gone_ok("DeleteRole", NOT_FOUND)
    }
}
