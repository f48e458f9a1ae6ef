//! `elbv2.listener`: a TCP listener of a Network Load Balancer forwarding to a target group
//! (Terraform's `aws_lb_listener` with a `forward` default action).
//!
//! A listener has no name: its id is its ARN, and a creation killed before the ARN was
//! recorded is found again by the port, unique per load balancer (`DuplicateListener`
//! otherwise; ELBv2 API Reference, CreateListener), and pinctl's tags.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, Listener, ProtocolEnum};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{if_ours, ours, sync_tags, tags, tags_of, user_tags};
use crate::clients::aws::{api_error, Clients};
use crate::engine::provider::{Cx, Found, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::support::{not_visible_yet, Absent, OrAbsent};
use crate::providers::typed::{Observed, TypedProvider};
use crate::providers::{not_ours, Registry};

/// What ELBv2 answers for a listener (or its load balancer) that is not there.
const NOT_FOUND: Absent = Absent::Codes(&["ListenerNotFound", "LoadBalancerNotFound"]);

/// Registers `elbv2.listener` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
        KindInfo::new(
            "elbv2.listener",
            "A TCP listener of a Network Load Balancer, forwarding to a target group; port and target group change in place",
        )
        .schema::<ListenerProps>()
        .outputs(&["arn"])
        .replace(&[(
            "load_balancer_arn",
            "a listener cannot move to another load balancer",
        )])
        .timeout(Duration::from_secs(300)),
        |env| ListenerProvider {
            clients: env.clients.clone(),
        },
    );
}

/// Props of `elbv2.listener`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListenerProps {
    pub load_balancer_arn: String,
    /// The port it listens on (TCP).
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    /// Where it forwards every connection.
    pub target_group_arn: String,
    /// Tags besides pinctl's own.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

pub struct ListenerProvider {
    pub clients: Arc<Clients>,
}

fn forward(target_group_arn: &str) -> Action {
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .target_group_arn(target_group_arn)
        .build()
}

fn outputs(l: &Listener) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "arn".into(),
        l.listener_arn()
            .map_or(Value::Null, |a| Value::String(a.into())),
    );
    m
}

impl ListenerProvider {
    async fn describe(&self, arn: &str) -> Result<Option<Listener>, ProviderError> {
        Ok(self
            .clients
            .elbv2()
            .await
            .describe_listeners()
            .listener_arns(arn)
            .send()
            .await
            .or_absent("DescribeListeners", NOT_FOUND)?
            .and_then(|o| o.listeners().first().cloned()))
    }

    /// The load balancer's listener on `port`, if any.
    async fn on_port(&self, lb: &str, port: u16) -> Result<Option<Listener>, ProviderError> {
        Ok(self
            .clients
            .elbv2()
            .await
            .describe_listeners()
            .load_balancer_arn(lb)
            .send()
            .await
            .or_absent("DescribeListeners", NOT_FOUND)?
            .and_then(|o| {
                o.listeners()
                    .iter()
                    .find(|l| l.port() == Some(port as i32))
                    .cloned()
            }))
    }
}

#[async_trait]
impl TypedProvider for ListenerProvider {
    type Props = ListenerProps;

    async fn read(
        &self,
        _cx: &Cx,
        arn: &str,
        _recorded: Option<&ListenerProps>,
    ) -> Result<Option<Observed<ListenerProps>>, ProviderError> {
        let Some(l) = self.describe(arn).await? else {
            return Ok(None);
        };
        let live = ListenerProps {
            load_balancer_arn: l.load_balancer_arn().unwrap_or_default().into(),
            port: l.port().unwrap_or_default() as u16,
            target_group_arn: l
                .default_actions()
                .iter()
                .find(|a| a.r#type() == Some(&ActionTypeEnum::Forward))
                .and_then(|a| a.target_group_arn())
                .unwrap_or_default()
                .into(),
            tags: user_tags(&tags_of(self.clients.elbv2().await, arn).await?),
        };
        Ok(Some(Observed::new(live, outputs(&l))))
    }

    async fn adopt(&self, cx: &Cx, p: &ListenerProps) -> Result<Option<String>, ProviderError> {
        let l = self.on_port(&p.load_balancer_arn, p.port).await?;
        if_ours(
            self.clients.elbv2().await,
            l.as_ref().and_then(|l| l.listener_arn()),
            cx,
        )
        .await
    }

    /// The load balancer's listener on the stack's port.
    async fn find(&self, _cx: &Cx, p: &ListenerProps) -> Result<Vec<Found>, ProviderError> {
        Ok(self
            .on_port(&p.load_balancer_arn, p.port)
            .await?
            .and_then(|l| l.listener_arn().map(str::to_string))
            .map(|arn| Found::named(arn, format!("port {} of {}", p.port, p.load_balancer_arn)))
            .into_iter()
            .collect())
    }

    async fn create(&self, cx: &Cx, p: &ListenerProps) -> Result<String, ProviderError> {
        let elb = self.clients.elbv2().await;
        if let Some(l) = self.on_port(&p.load_balancer_arn, p.port).await? {
            let arn = l.listener_arn().unwrap_or_default();
            if !ours(&tags_of(elb, arn).await?, cx) {
                return Err(not_ours("listener on port", &p.port.to_string()));
            }
            return Ok(arn.to_string());
        }
        let out = elb
            .create_listener()
            .load_balancer_arn(&p.load_balancer_arn)
            .protocol(ProtocolEnum::Tcp)
            .port(p.port as i32)
            .default_actions(forward(&p.target_group_arn))
            .set_tags(Some(tags(cx, &p.tags)))
            .send()
            .await
            .map_err(|e| api_error("CreateListener", e))?;
        out.listeners()
            .first()
            .and_then(|l| l.listener_arn())
            .map(str::to_string)
            .ok_or_else(|| ProviderError::BadResponse {
                operation: "CreateListener".into(),
                missing: "ListenerArn".into(),
            })
    }

    async fn poll(&self, _cx: &Cx, arn: &str) -> Result<Poll, ProviderError> {
        Ok(match self.describe(arn).await? {
            Some(l) => Poll::Ready(outputs(&l)),
            None => not_visible_yet(),
        })
    }

    /// ModifyListener for the port and the target group; the tags synced.
    async fn update(
        &self,
        cx: &Cx,
        arn: &str,
        _old: Option<&ListenerProps>,
        p: &ListenerProps,
        changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        let elb = self.clients.elbv2().await;
        if changed
            .iter()
            .any(|c| c == "port" || c == "target_group_arn")
        {
            elb.modify_listener()
                .listener_arn(arn)
                .port(p.port as i32)
                .protocol(ProtocolEnum::Tcp)
                .default_actions(forward(&p.target_group_arn))
                .send()
                .await
                .map_err(|e| api_error("ModifyListener", e))?;
        }
        sync_tags(elb, arn, cx, &p.tags).await?;
        Ok(None)
    }

    async fn delete(
        &self,
        _cx: &Cx,
        arn: &str,
        _recorded: Option<&ListenerProps>,
    ) -> Result<(), ProviderError> {
        self.clients
            .elbv2()
            .await
            .delete_listener()
            .listener_arn(arn)
            .send()
            .await
            .gone_ok("DeleteListener", NOT_FOUND)
    }
}
