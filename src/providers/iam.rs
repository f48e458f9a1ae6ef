//! IAM: roles with their trust and inline policies, and instance profiles.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::kind::KindInfo;

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema)]
pub enum Effect {
    #[default]
    Allow,
    Deny,
}

/// One policy statement. Actions are always named; `*` is not accepted as an action.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default)]
    pub effect: Effect,
    /// e.g. `kinesis:PutRecord`.
    pub actions: Vec<String>,
    /// ARNs the actions apply to, usually `${other_resource.arn}`.
    pub resources: Vec<String>,
    /// An IAM condition block, as in a policy document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<serde_json::Value>,
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
    /// Inline policies by name.
    #[serde(default)]
    pub policies: BTreeMap<String, Vec<Statement>>,
    #[serde(default)]
    pub managed_policy_arns: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_session_seconds: Option<u32>,
}

/// Props of `iam.role_policy`: an inline policy attached to a role managed elsewhere in the
/// stack, for statements that name resources created after the role.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RolePolicyProps {
    /// Name of the role.
    pub role: String,
    pub name: String,
    pub statements: Vec<Statement>,
}

/// Props of `iam.instance_profile`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstanceProfileProps {
    pub name: String,
    /// Name of the role the profile carries.
    pub role: String,
}

/// Registers this service's kinds, each with its provider.
pub fn register(r: &mut super::Registry) {
    r.add(
        KindInfo::new(
            "iam.role",
            "An IAM role: trusted services, inline least-privilege policies, managed policies",
        )
        .schema::<RoleProps>()
        .outputs(&["arn", "id"])
        .replace(&[("name", "an IAM role cannot be renamed")]),
        |info, env| {
            Arc::new(RoleProvider {
                info,
                clients: env.clients.clone(),
            })
        },
    );
    r.add(
        KindInfo::new(
            "iam.role_policy",
            "An inline policy on a role, for statements naming resources created after it",
        )
        .schema::<RolePolicyProps>()
        .replace(&[
            ("role", "a policy belongs to one role"),
            ("name", "an inline policy cannot be renamed"),
        ]),
        |info, env| {
            Arc::new(RolePolicyProvider {
                info,
                clients: env.clients.clone(),
            })
        },
    );
    r.add(
        KindInfo::new(
            "iam.instance_profile",
            "An EC2 instance profile carrying one role",
        )
        .schema::<InstanceProfileProps>()
        .outputs(&["arn", "id"])
        .replace(&[("name", "an instance profile cannot be renamed")]),
        |info, env| {
            Arc::new(InstanceProfileProvider {
                info,
                clients: env.clients.clone(),
            })
        },
    );
}

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_iam::types::Tag;
use serde_json::{json, Map, Value};

use super::{json, not_ours, owned_by, typed};
use crate::clients::aws::{api_error, code_of, Clients};
use crate::engine::provider::{Cx, Live, Poll, Provider, ProviderError};

const NOT_FOUND: &str = "NoSuchEntity";

fn as_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => vec![],
    }
}

/// IAM returns policy documents URL-encoded; moto sometimes does not.
fn parse_document(text: &str) -> Result<Value, ProviderError> {
    let decoded = if text.trim_start().starts_with('{') {
        text.to_string()
    } else {
        percent_encoding::percent_decode_str(text)
            .decode_utf8_lossy()
            .into_owned()
    };
    serde_json::from_str(&decoded)
        .map_err(|e| ProviderError::Invalid(format!("unreadable policy document: {e}")))
}

fn statements_of(doc: &Value) -> Vec<Value> {
    match doc.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(o @ Value::Object(_)) => vec![o.clone()],
        _ => vec![],
    }
}

pub fn policy_document(statements: &[Statement]) -> String {
    let stmts: Vec<Value> = statements
        .iter()
        .map(|s| {
            let mut m = Map::new();
            if let Some(sid) = &s.sid {
                m.insert("Sid".into(), Value::String(sid.clone()));
            }
            m.insert(
                "Effect".into(),
                json!(match s.effect {
                    Effect::Allow => "Allow",
                    Effect::Deny => "Deny",
                }),
            );
            m.insert("Action".into(), json!(s.actions));
            m.insert("Resource".into(), json!(s.resources));
            if let Some(c) = &s.condition {
                m.insert("Condition".into(), c.clone());
            }
            Value::Object(m)
        })
        .collect();
    json!({"Version": "2012-10-17", "Statement": stmts}).to_string()
}

fn read_statements(doc: &Value) -> Vec<Statement> {
    statements_of(doc)
        .iter()
        .map(|s| Statement {
            sid: s.get("Sid").and_then(Value::as_str).map(str::to_string),
            effect: if s.get("Effect").and_then(Value::as_str) == Some("Deny") {
                Effect::Deny
            } else {
                Effect::Allow
            },
            actions: as_list(s.get("Action")),
            resources: as_list(s.get("Resource")),
            condition: s.get("Condition").cloned(),
        })
        .collect()
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

/// Least privilege: every action is named; `*` and `service:*` are refused.
pub fn check_actions(statements: &[Statement]) -> Result<(), ProviderError> {
    for s in statements {
        for a in &s.actions {
            if a == "*" || a.ends_with(":*") {
                return Err(ProviderError::Invalid(format!(
                    "action `{a}` grants everything; name the actions the pipeline needs"
                )));
            }
        }
    }
    Ok(())
}

fn iam_tags(cx: &Cx) -> Vec<Tag> {
    cx.tags()
        .into_iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .expect("key and value set")
        })
        .collect()
}

pub struct RoleProvider {
    pub info: KindInfo,
    pub clients: Arc<Clients>,
}

impl RoleProvider {
    async fn outputs(&self, name: &str) -> Result<Option<Map<String, Value>>, ProviderError> {
        match self
            .clients
            .iam()
            .await
            .get_role()
            .role_name(name)
            .send()
            .await
        {
            Ok(out) => Ok(out.role().map(|r| {
                let mut m = Map::new();
                m.insert("arn".into(), Value::String(r.arn().into()));
                m.insert("id".into(), Value::String(r.role_id().into()));
                m
            })),
            Err(e) if code_of(&e) == Some(NOT_FOUND) => Ok(None),
            Err(e) => Err(api_error("GetRole", e)),
        }
    }

    async fn sync(&self, old: Option<&RoleProps>, new: &RoleProps) -> Result<(), ProviderError> {
        let iam = self.clients.iam().await;
        let name = &new.name;
        if old.is_some_and(|o| {
            o.description != new.description || o.max_session_seconds != new.max_session_seconds
        }) {
            iam.update_role()
                .role_name(name)
                .set_description(new.description.clone())
                .set_max_session_duration(new.max_session_seconds.map(|s| s as i32))
                .send()
                .await
                .map_err(|e| api_error("UpdateRole", e))?;
        }
        if old.is_some_and(|o| o.trusted_services != new.trusted_services) {
            iam.update_assume_role_policy()
                .role_name(name)
                .policy_document(trust_document(&new.trusted_services))
                .send()
                .await
                .map_err(|e| api_error("UpdateAssumeRolePolicy", e))?;
        }
        for (pname, stmts) in &new.policies {
            if old
                .and_then(|o| o.policies.get(pname))
                .is_some_and(|o| serde_json::to_value(o).ok() == serde_json::to_value(stmts).ok())
            {
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
        // Only inline policies this resource declared are removed; others belong to iam.role_policy.
        for pname in old
            .map(|o| o.policies.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            if !new.policies.contains_key(&pname) {
                match iam
                    .delete_role_policy()
                    .role_name(name)
                    .policy_name(&pname)
                    .send()
                    .await
                {
                    Ok(_) => {}
                    Err(e) if code_of(&e) == Some(NOT_FOUND) => {}
                    Err(e) => return Err(api_error("DeleteRolePolicy", e)),
                }
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
                .map_err(|e| api_error("DetachRolePolicy", e))?;
        }
        Ok(())
    }
}

#[async_trait]
impl Provider for RoleProvider {
    fn info(&self) -> &KindInfo {
        &self.info
    }

    async fn read(
        &self,
        _cx: &Cx,
        name: &str,
        recorded: &Value,
    ) -> Result<Option<Live>, ProviderError> {
        let iam = self.clients.iam().await;
        let role = match iam.get_role().role_name(name).send().await {
            Ok(out) => match out.role {
                Some(r) => r,
                None => return Ok(None),
            },
            Err(e) if code_of(&e) == Some(NOT_FOUND) => return Ok(None),
            Err(e) => return Err(api_error("GetRole", e)),
        };
        let trust = role
            .assume_role_policy_document()
            .map(parse_document)
            .transpose()?
            .unwrap_or(Value::Null);
        let declared: Vec<String> = recorded
            .get("policies")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let mut policies = std::collections::BTreeMap::new();
        for pname in declared {
            match iam
                .get_role_policy()
                .role_name(name)
                .policy_name(&pname)
                .send()
                .await
            {
                Ok(p) => {
                    policies.insert(
                        pname,
                        read_statements(&parse_document(p.policy_document())?),
                    );
                }
                Err(e) if code_of(&e) == Some(NOT_FOUND) => {}
                Err(e) => return Err(api_error("GetRolePolicy", e)),
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
        Ok(Some(Live {
            props: json(&live),
            outputs,
        }))
    }

    async fn create(&self, cx: &Cx, props: &Value) -> Result<String, ProviderError> {
        let p: RoleProps = typed(props)?;
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
        self.sync(adopted.map(|_| &blank), &p).await?;
        Ok(p.name)
    }

    async fn poll(&self, _cx: &Cx, name: &str) -> Result<Poll, ProviderError> {
        Ok(match self.outputs(name).await? {
            Some(o) => Poll::Ready(o),
            None => Poll::Pending("not visible yet".into()),
        })
    }

    async fn update(
        &self,
        _cx: &Cx,
        _name: &str,
        old: &Value,
        new: &Value,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        let new: RoleProps = typed(new)?;
        for stmts in new.policies.values() {
            check_actions(stmts)?;
        }
        let old: Option<RoleProps> = typed(old).ok();
        self.sync(old.as_ref(), &new).await?;
        Ok(None)
    }

    async fn delete(&self, _cx: &Cx, name: &str, _recorded: &Value) -> Result<(), ProviderError> {
        let iam = self.clients.iam().await;
        let attached = match iam
            .list_attached_role_policies()
            .role_name(name)
            .send()
            .await
        {
            Ok(a) => a,
            Err(e) if code_of(&e) == Some(NOT_FOUND) => return Ok(()),
            Err(e) => return Err(api_error("ListAttachedRolePolicies", e)),
        };
        for p in attached.attached_policies() {
            if let Some(arn) = p.policy_arn() {
                iam.detach_role_policy()
                    .role_name(name)
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(|e| api_error("DetachRolePolicy", e))?;
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
                .map_err(|e| api_error("DeleteRolePolicy", e))?;
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
                .map_err(|e| api_error("RemoveRoleFromInstanceProfile", e))?;
        }
        match iam.delete_role().role_name(name).send().await {
            Ok(_) => Ok(()),
            Err(e) if code_of(&e) == Some(NOT_FOUND) => Ok(()),
            Err(e) => Err(api_error("DeleteRole", e)),
        }
    }
}

pub struct RolePolicyProvider {
    pub info: KindInfo,
    pub clients: Arc<Clients>,
}

fn split_policy_id(id: &str) -> Result<(&str, &str), ProviderError> {
    id.split_once(':')
        .ok_or_else(|| ProviderError::bad_id("role policy", id))
}

#[async_trait]
impl Provider for RolePolicyProvider {
    fn info(&self) -> &KindInfo {
        &self.info
    }

    async fn read(
        &self,
        _cx: &Cx,
        id: &str,
        _recorded: &Value,
    ) -> Result<Option<Live>, ProviderError> {
        let (role, name) = split_policy_id(id)?;
        match self
            .clients
            .iam()
            .await
            .get_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
        {
            Ok(p) => {
                let live = RolePolicyProps {
                    role: role.into(),
                    name: name.into(),
                    statements: read_statements(&parse_document(p.policy_document())?),
                };
                Ok(Some(Live {
                    props: json(&live),
                    outputs: Map::new(),
                }))
            }
            Err(e) if code_of(&e) == Some(NOT_FOUND) => Ok(None),
            Err(e) => Err(api_error("GetRolePolicy", e)),
        }
    }

    async fn create(&self, _cx: &Cx, props: &Value) -> Result<String, ProviderError> {
        let p: RolePolicyProps = typed(props)?;
        check_actions(&p.statements)?;
        self.clients
            .iam()
            .await
            .put_role_policy()
            .role_name(&p.role)
            .policy_name(&p.name)
            .policy_document(policy_document(&p.statements))
            .send()
            .await
            .map_err(|e| api_error("PutRolePolicy", e))?;
        Ok(format!("{}:{}", p.role, p.name))
    }

    async fn poll(&self, _cx: &Cx, _id: &str) -> Result<Poll, ProviderError> {
        Ok(Poll::Ready(Map::new()))
    }

    async fn update(
        &self,
        cx: &Cx,
        _id: &str,
        _old: &Value,
        new: &Value,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        let done: Result<(), ProviderError> =
            async { self.create(cx, new).await.map(|_| ()) }.await;
        done.map(|()| None)
    }

    async fn delete(&self, _cx: &Cx, id: &str, _recorded: &Value) -> Result<(), ProviderError> {
        let (role, name) = split_policy_id(id)?;
        match self
            .clients
            .iam()
            .await
            .delete_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if code_of(&e) == Some(NOT_FOUND) => Ok(()),
            Err(e) => Err(api_error("DeleteRolePolicy", e)),
        }
    }
}

pub struct InstanceProfileProvider {
    pub info: KindInfo,
    pub clients: Arc<Clients>,
}

impl InstanceProfileProvider {
    async fn get(
        &self,
        name: &str,
    ) -> Result<Option<aws_sdk_iam::types::InstanceProfile>, ProviderError> {
        match self
            .clients
            .iam()
            .await
            .get_instance_profile()
            .instance_profile_name(name)
            .send()
            .await
        {
            Ok(out) => Ok(out.instance_profile),
            Err(e) if code_of(&e) == Some(NOT_FOUND) => Ok(None),
            Err(e) => Err(api_error("GetInstanceProfile", e)),
        }
    }

    fn outputs(ip: &aws_sdk_iam::types::InstanceProfile) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("arn".into(), Value::String(ip.arn().into()));
        m.insert("id".into(), Value::String(ip.instance_profile_id().into()));
        m
    }
}

#[async_trait]
impl Provider for InstanceProfileProvider {
    fn info(&self) -> &KindInfo {
        &self.info
    }

    async fn read(
        &self,
        _cx: &Cx,
        name: &str,
        _recorded: &Value,
    ) -> Result<Option<Live>, ProviderError> {
        Ok(self.get(name).await?.map(|ip| {
            let live = InstanceProfileProps {
                name: ip.instance_profile_name().into(),
                role: ip
                    .roles()
                    .first()
                    .map(|r| r.role_name().to_string())
                    .unwrap_or_default(),
            };
            Live {
                props: json(&live),
                outputs: Self::outputs(&ip),
            }
        }))
    }

    async fn create(&self, cx: &Cx, props: &Value) -> Result<String, ProviderError> {
        let p: InstanceProfileProps = typed(props)?;
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
            iam.add_role_to_instance_profile()
                .instance_profile_name(&p.name)
                .role_name(&p.role)
                .send()
                .await
                .map_err(|e| api_error("AddRoleToInstanceProfile", e))?;
        }
        Ok(p.name)
    }

    async fn poll(&self, _cx: &Cx, name: &str) -> Result<Poll, ProviderError> {
        Ok(match self.get(name).await? {
            Some(ip) => Poll::Ready(Self::outputs(&ip)),
            None => Poll::Pending("not visible yet".into()),
        })
    }

    async fn update(
        &self,
        _cx: &Cx,
        name: &str,
        _old: &Value,
        new: &Value,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        let p: InstanceProfileProps = typed(new)?;
        let iam = self.clients.iam().await;
        if let Some(ip) = self.get(name).await? {
            for r in ip.roles() {
                if r.role_name() != p.role {
                    iam.remove_role_from_instance_profile()
                        .instance_profile_name(name)
                        .role_name(r.role_name())
                        .send()
                        .await
                        .map_err(|e| api_error("RemoveRoleFromInstanceProfile", e))?;
                }
            }
            if !ip.roles().iter().any(|r| r.role_name() == p.role) {
                iam.add_role_to_instance_profile()
                    .instance_profile_name(name)
                    .role_name(&p.role)
                    .send()
                    .await
                    .map_err(|e| api_error("AddRoleToInstanceProfile", e))?;
            }
        }
        Ok(None)
    }

    async fn delete(&self, _cx: &Cx, name: &str, _recorded: &Value) -> Result<(), ProviderError> {
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
                .map_err(|e| api_error("RemoveRoleFromInstanceProfile", e))?;
        }
        match iam
            .delete_instance_profile()
            .instance_profile_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if code_of(&e) == Some(NOT_FOUND) => Ok(()),
            Err(e) => Err(api_error("DeleteInstanceProfile", e)),
        }
    }
}
