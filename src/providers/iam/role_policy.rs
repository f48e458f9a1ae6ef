//! `iam.role_policy`: an inline policy attached to a role managed elsewhere in the stack.

use std::sync::Arc;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Map;

use super::{
    check_actions, parse_document, policy_document, read_statements, Statement, NOT_FOUND,
};
use crate::clients::aws::{api_error, Clients};
use crate::engine::provider::{Cx, Poll, ProviderError};
use crate::kind::{KindInfo, PartOf};
use crate::providers::support::{CompositeId, OrAbsent};
use crate::providers::typed::{Observed, TypedProvider};
use crate::providers::Registry;

/// `role:name`.
const ID: CompositeId = CompositeId::new("role policy", ':');

/// Registers `iam.role_policy` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
        KindInfo::new(
            "iam.role_policy",
            "An inline policy on a role, for statements naming resources created after it",
        )
        .schema::<RolePolicyProps>()
        .replace(&[
            ("role", "a policy belongs to one role"),
            ("name", "an inline policy cannot be renamed"),
        ])
        // The policy is an entry of its role's `policies`: not drift of an `iam.role`.
        .part_of(PartOf {
            kind: "iam.role",
            parent: "name",
            via: "role",
            collection: "policies",
            key: "name",
        }),
        |env| RolePolicyProvider {
            clients: env.clients.clone(),
        },
    );
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

pub struct RolePolicyProvider {
    pub clients: Arc<Clients>,
}

#[async_trait]
impl TypedProvider for RolePolicyProvider {
    type Props = RolePolicyProps;

    async fn read(
        &self,
        _cx: &Cx,
        id: &str,
        _recorded: Option<&RolePolicyProps>,
    ) -> Result<Option<Observed<RolePolicyProps>>, ProviderError> {
        let (role, name) = ID.pair(id)?;
        let got = self
            .clients
            .iam()
            .await
            .get_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
            .or_absent("GetRolePolicy", NOT_FOUND)?;
        let Some(p) = got else {
            return Ok(None);
        };
        let live = RolePolicyProps {
            role: role.into(),
            name: name.into(),
            statements: read_statements(&parse_document(p.policy_document())?),
        };
        Ok(Some(Observed::new(live, Map::new())))
    }

    fn id_of(&self, props: &Self::Props) -> Option<String> {
        Some(ID.join(&[&props.role, &props.name]))
    }

    async fn create(&self, _cx: &Cx, p: &RolePolicyProps) -> Result<String, ProviderError> {
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
        Ok(ID.join(&[&p.role, &p.name]))
    }

    async fn poll(&self, _cx: &Cx, _id: &str) -> Result<Poll, ProviderError> {
        Ok(Poll::Ready(Map::new()))
    }

    async fn update(
        &self,
        cx: &Cx,
        _id: &str,
        _old: Option<&RolePolicyProps>,
        new: &RolePolicyProps,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        self.create(cx, new).await.map(|_| None)
    }

    async fn delete(
        &self,
        _cx: &Cx,
        id: &str,
        _recorded: Option<&RolePolicyProps>,
    ) -> Result<(), ProviderError> {
        let (role, name) = ID.pair(id)?;
        self.clients
            .iam()
            .await
            .delete_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
            .gone_ok("DeleteRolePolicy", NOT_FOUND)
    }
}
