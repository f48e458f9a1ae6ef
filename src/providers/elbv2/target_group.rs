//! `elbv2.target_group`: a TCP target group of instances (Terraform's `aws_lb_target_group`
//! with its `aws_lb_target_group_attachment`s as the `targets` prop).
//!
//! CreateTargetGroup is idempotent for the same name and settings; RegisterTargets and
//! DeregisterTargets change the members; DeleteTargetGroup answers `ResourceInUse` while a
//! listener forwards to it (ELBv2 API Reference, DeleteTargetGroup), retried until the
//! listener is gone.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{
    ProtocolEnum, TargetDescription, TargetGroup, TargetTypeEnum,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{if_ours, ours, sync_tags, tags, tags_of, user_tags};
use crate::clients::aws::{api_error, code_of, Clients};
use crate::engine::provider::{Cx, Found, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::support::{not_visible_yet, Absent, OrAbsent};
use crate::providers::typed::{Observed, TypedProvider};
use crate::providers::{not_ours, Registry};

/// What ELBv2 answers for a target group that is not there.
const NOT_FOUND: Absent = Absent::Codes(&["TargetGroupNotFound"]);

/// Registers `elbv2.target_group` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
        KindInfo::new(
            "elbv2.target_group",
            "A TCP target group of EC2 instances; its targets change in place",
        )
        .schema::<TargetGroupProps>()
        .outputs(&["arn", "name"])
        .replace(&[
            ("name", "a target group cannot be renamed"),
            ("port", "a target group's port cannot be changed"),
            ("vpc_id", "a target group cannot move to another VPC"),
        ])
        .sets(&["targets"])
        .timeout(Duration::from_secs(600)),
        |env| TargetGroupProvider {
            clients: env.clients.clone(),
        },
    );
}

/// Props of `elbv2.target_group`: TCP, instance targets (what a Network Load Balancer in front
/// of a process on an EC2 instance needs).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetGroupProps {
    /// 1 to 32 letters, digits and hyphens, neither starting nor ending with a hyphen.
    #[schemars(length(min = 1, max = 32))]
    pub name: String,
    /// The port the targets listen on.
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    pub vpc_id: String,
    /// Instance ids (a set: order is no change), each reached on `port`.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Tags besides pinctl's own.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

pub struct TargetGroupProvider {
    pub clients: Arc<Clients>,
}

fn outputs(tg: &TargetGroup) -> Map<String, Value> {
    let mut m = Map::new();
    for (k, v) in [
        ("arn", tg.target_group_arn()),
        ("name", tg.target_group_name()),
    ] {
        m.insert(k.into(), v.map_or(Value::Null, |v| Value::String(v.into())));
    }
    m
}

fn target(id: &str, port: u16) -> TargetDescription {
    TargetDescription::builder()
        .id(id)
        .port(port as i32)
        .build()
}

impl TargetGroupProvider {
    async fn describe(&self, arn: &str) -> Result<Option<TargetGroup>, ProviderError> {
        Ok(self
            .clients
            .elbv2()
            .await
            .describe_target_groups()
            .target_group_arns(arn)
            .send()
            .await
            .or_absent("DescribeTargetGroups", NOT_FOUND)?
            .and_then(|o| o.target_groups().first().cloned()))
    }

    async fn by_name(&self, name: &str) -> Result<Option<TargetGroup>, ProviderError> {
        Ok(self
            .clients
            .elbv2()
            .await
            .describe_target_groups()
            .names(name)
            .send()
            .await
            .or_absent("DescribeTargetGroups", NOT_FOUND)?
            .and_then(|o| o.target_groups().first().cloned()))
    }

    /// The registered targets' ids (DescribeTargetHealth lists every registered target, in
    /// whatever health state).
    async fn targets(&self, arn: &str) -> Result<Vec<String>, ProviderError> {
        let out = self
            .clients
            .elbv2()
            .await
            .describe_target_health()
            .target_group_arn(arn)
            .send()
            .await
            .map_err(|e| api_error("DescribeTargetHealth", e))?;
        Ok(out
            .target_health_descriptions()
            .iter()
            .filter_map(|d| d.target()?.id().map(str::to_string))
            .collect())
    }

    /// Registers the wanted targets missing and deregisters the others.
    async fn sync_targets(&self, arn: &str, p: &TargetGroupProps) -> Result<(), ProviderError> {
        let elb = self.clients.elbv2().await;
        let have = self.targets(arn).await?;
        let add: Vec<TargetDescription> = p
            .targets
            .iter()
            .filter(|t| !have.contains(t))
            .map(|t| target(t, p.port))
            .collect();
        let remove: Vec<TargetDescription> = have
            .iter()
            .filter(|t| !p.targets.contains(t))
            .map(|t| target(t, p.port))
            .collect();
        if !add.is_empty() {
            elb.register_targets()
                .target_group_arn(arn)
                .set_targets(Some(add))
                .send()
                .await
                .map_err(|e| api_error("RegisterTargets", e))?;
        }
        if !remove.is_empty() {
            elb.deregister_targets()
                .target_group_arn(arn)
                .set_targets(Some(remove))
                .send()
                .await
                .map_err(|e| api_error("DeregisterTargets", e))?;
        }
        Ok(())
    }
}

#[async_trait]
impl TypedProvider for TargetGroupProvider {
    type Props = TargetGroupProps;

    async fn find(&self, _cx: &Cx, p: &TargetGroupProps) -> Result<Vec<Found>, ProviderError> {
        Ok(self
            .by_name(&p.name)
            .await?
            .and_then(|tg| tg.target_group_arn().map(|arn| Found::named(arn, &p.name)))
            .into_iter()
            .collect())
    }

    async fn read(
        &self,
        _cx: &Cx,
        arn: &str,
        _recorded: Option<&TargetGroupProps>,
    ) -> Result<Option<Observed<TargetGroupProps>>, ProviderError> {
        let Some(tg) = self.describe(arn).await? else {
            return Ok(None);
        };
        let live = TargetGroupProps {
            name: tg.target_group_name().unwrap_or_default().into(),
            port: tg.port().unwrap_or_default() as u16,
            vpc_id: tg.vpc_id().unwrap_or_default().into(),
            targets: self.targets(arn).await?,
            tags: user_tags(&tags_of(self.clients.elbv2().await, arn).await?),
        };
        Ok(Some(Observed::new(live, outputs(&tg))))
    }

    async fn adopt(&self, cx: &Cx, p: &TargetGroupProps) -> Result<Option<String>, ProviderError> {
        let tg = self.by_name(&p.name).await?;
        let Some(arn) = if_ours(
            self.clients.elbv2().await,
            tg.as_ref().and_then(|tg| tg.target_group_arn()),
            cx,
        )
        .await?
        else {
            return Ok(None);
        };
        // A killed creation may have stopped before the targets were registered.
        self.sync_targets(&arn, p).await?;
        Ok(Some(arn))
    }

    async fn create(&self, cx: &Cx, p: &TargetGroupProps) -> Result<String, ProviderError> {
        let elb = self.clients.elbv2().await;
        if let Some(tg) = self.by_name(&p.name).await? {
            let arn = tg.target_group_arn().unwrap_or_default();
            if !ours(&tags_of(elb, arn).await?, cx) {
                return Err(not_ours("target group", &p.name));
            }
        }
        let out = elb
            .create_target_group()
            .name(&p.name)
            .protocol(ProtocolEnum::Tcp)
            .port(p.port as i32)
            .vpc_id(&p.vpc_id)
            .target_type(TargetTypeEnum::Instance)
            .set_tags(Some(tags(cx, &p.tags)))
            .send()
            .await;
        let out = match out {
            Ok(o) => o,
            Err(e) if code_of(&e) == Some("DuplicateTargetGroupName") => {
                return Err(not_ours("target group", &p.name))
            }
            Err(e) => return Err(api_error("CreateTargetGroup", e)),
        };
        let arn = out
            .target_groups()
            .first()
            .and_then(|tg| tg.target_group_arn())
            .map(str::to_string)
            .ok_or_else(|| ProviderError::BadResponse {
                operation: "CreateTargetGroup".into(),
                missing: "TargetGroupArn".into(),
            })?;
        self.sync_targets(&arn, p).await?;
        Ok(arn)
    }

    async fn poll(&self, _cx: &Cx, arn: &str) -> Result<Poll, ProviderError> {
        Ok(match self.describe(arn).await? {
            Some(tg) => Poll::Ready(outputs(&tg)),
            None => not_visible_yet(),
        })
    }

    /// Registers and deregisters targets; syncs the tags.
    async fn update(
        &self,
        cx: &Cx,
        arn: &str,
        _old: Option<&TargetGroupProps>,
        p: &TargetGroupProps,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        self.sync_targets(arn, p).await?;
        sync_tags(self.clients.elbv2().await, arn, cx, &p.tags).await?;
        Ok(None)
    }

    /// `ResourceInUse` while a listener still forwards to it: in use, retried by the engine.
    async fn delete(
        &self,
        _cx: &Cx,
        arn: &str,
        _recorded: Option<&TargetGroupProps>,
    ) -> Result<(), ProviderError> {
        match self
            .clients
            .elbv2()
            .await
            .delete_target_group()
            .target_group_arn(arn)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if NOT_FOUND.matches(&e) => Ok(()),
            Err(e) if code_of(&e) == Some("ResourceInUse") => Err(ProviderError::InUse {
                what: format!("target group {arn}"),
                reason: "DeleteTargetGroup: ResourceInUse: a listener still forwards to it".into(),
            }),
            Err(e) => Err(api_error("DeleteTargetGroup", e)),
        }
    }
}
