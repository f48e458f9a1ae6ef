//! `ec2.route_table`: a route table of a VPC with its routes and its subnet associations
//! (Terraform's `aws_route_table` with inline routes, plus its `aws_route_table_association`s).
//!
//! Routes and associations compare as sets: the order EC2 lists them in is no change. The
//! table's `local` route and the routes a gateway VPC endpoint adds (to its prefix list) are
//! not the table's to manage and are left out of what is read back.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{ResourceType, RouteTable};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{delete_error, sync_tags, tag_spec, user_tags};
use crate::clients::aws::{api_error, Clients};
use crate::engine::provider::{Cx, Found, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::support::{not_visible_yet, Absent, OrAbsent};
use crate::providers::typed::{Observed, TypedProvider};
use crate::providers::Registry;

/// What EC2 answers for a route table that is not there.
const NOT_FOUND: Absent = Absent::Codes(&["InvalidRouteTableID.NotFound"]);

/// What EC2 answers for a route or association that is not there.
const ROUTE_GONE: Absent =
    Absent::Codes(&["InvalidRoute.NotFound", "InvalidAssociationID.NotFound"]);

/// Registers `ec2.route_table` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
        KindInfo::new(
            "ec2.route_table",
            "A route table of a VPC: routes to an internet or NAT gateway, and the subnets that use it",
        )
        .schema::<RouteTableProps>()
        .outputs(&["id", "arn"])
        .replace(&[("vpc_id", "a route table cannot move to another VPC")])
        .sets(&["routes", "subnet_ids"])
        .timeout(Duration::from_secs(600)),
        |env| RouteTableProvider {
            clients: env.clients.clone(),
        },
    );
}

/// One route: a destination range and exactly one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// The destination IPv4 range, e.g. `0.0.0.0/0`.
    pub cidr: String,
    /// An internet gateway (`igw-...`): the subnets using the table are public.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_id: Option<String>,
    /// A NAT gateway (`nat-...`): the subnets using the table are private with a way out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_gateway_id: Option<String>,
}

/// Props of `ec2.route_table`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteTableProps {
    pub vpc_id: String,
    /// The routes besides the VPC's `local` one (a set: order is no change).
    #[serde(default)]
    pub routes: Vec<Route>,
    /// The subnets associated with the table (a set). A subnet with no table of its own uses
    /// the VPC's main route table.
    #[serde(default)]
    pub subnet_ids: Vec<String>,
    /// Tags besides pinctl's own.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

pub struct RouteTableProvider {
    pub clients: Arc<Clients>,
}

/// The table's own routes: not `local`, not a gateway endpoint's (prefix-list destination).
fn routes_of(t: &RouteTable) -> Vec<Route> {
    t.routes()
        .iter()
        .filter(|r| r.gateway_id() != Some("local"))
        .filter(|r| r.destination_prefix_list_id().is_none())
        .filter_map(|r| {
            Some(Route {
                cidr: r.destination_cidr_block()?.to_string(),
                gateway_id: r.gateway_id().map(str::to_string),
                nat_gateway_id: r.nat_gateway_id().map(str::to_string),
            })
        })
        .collect()
}

/// The table's subnet associations: subnet id → association id.
fn associations_of(t: &RouteTable) -> BTreeMap<String, String> {
    t.associations()
        .iter()
        .filter(|a| a.main() != Some(true))
        .filter_map(|a| {
            Some((
                a.subnet_id()?.to_string(),
                a.route_table_association_id()?.to_string(),
            ))
        })
        .collect()
}

/// `live` in the order of `recorded` where they hold the same items (sets compare equal).
fn in_recorded_order<T: Clone + PartialEq>(live: Vec<T>, recorded: Option<&Vec<T>>) -> Vec<T> {
    let Some(rec) = recorded else {
        return live;
    };
    let mut out: Vec<T> = rec.iter().filter(|x| live.contains(x)).cloned().collect();
    out.extend(live.into_iter().filter(|x| !rec.contains(x)));
    out
}

impl RouteTableProvider {
    async fn describe(&self, id: &str) -> Result<Option<RouteTable>, ProviderError> {
        Ok(self
            .clients
            .ec2()
            .await
            .describe_route_tables()
            .route_table_ids(id)
            .send()
            .await
            .or_absent("DescribeRouteTables", NOT_FOUND)?
            .and_then(|o| o.route_tables().first().cloned()))
    }

    async fn outputs(&self, t: &RouteTable) -> Map<String, Value> {
        let region = self.clients.region().await;
        let id = t.route_table_id().unwrap_or_default();
        let mut m = Map::new();
        m.insert("id".into(), Value::String(id.into()));
        m.insert(
            "arn".into(),
            Value::String(format!(
                "arn:aws:ec2:{region}:{}:route-table/{id}",
                t.owner_id().unwrap_or_default()
            )),
        );
        m
    }

    /// Makes the table's routes and associations the props'.
    async fn sync(&self, id: &str, p: &RouteTableProps) -> Result<(), ProviderError> {
        let Some(t) = self.describe(id).await? else {
            return Err(ProviderError::not_found(format!("route table {id}")));
        };
        let ec2 = self.clients.ec2().await;
        let have = routes_of(&t);
        for r in &have {
            if !p.routes.iter().any(|w| w.cidr == r.cidr) {
                ec2.delete_route()
                    .route_table_id(id)
                    .destination_cidr_block(&r.cidr)
                    .send()
                    .await
                    .gone_ok("DeleteRoute", ROUTE_GONE)?;
            }
        }
        for w in &p.routes {
            match have.iter().find(|r| r.cidr == w.cidr) {
                Some(r) if r == w => {}
                Some(_) => {
                    ec2.replace_route()
                        .route_table_id(id)
                        .destination_cidr_block(&w.cidr)
                        .set_gateway_id(w.gateway_id.clone())
                        .set_nat_gateway_id(w.nat_gateway_id.clone())
                        .send()
                        .await
                        .map_err(|e| api_error("ReplaceRoute", e))?;
                }
                None => {
                    ec2.create_route()
                        .route_table_id(id)
                        .destination_cidr_block(&w.cidr)
                        .set_gateway_id(w.gateway_id.clone())
                        .set_nat_gateway_id(w.nat_gateway_id.clone())
                        .send()
                        .await
                        .map_err(|e| api_error("CreateRoute", e))?;
                }
            }
        }
        let assoc = associations_of(&t);
        for (subnet, association) in &assoc {
            if !p.subnet_ids.contains(subnet) {
                ec2.disassociate_route_table()
                    .association_id(association)
                    .send()
                    .await
                    .gone_ok("DisassociateRouteTable", ROUTE_GONE)?;
            }
        }
        for subnet in &p.subnet_ids {
            if !assoc.contains_key(subnet) {
                ec2.associate_route_table()
                    .route_table_id(id)
                    .subnet_id(subnet)
                    .send()
                    .await
                    .map_err(|e| api_error("AssociateRouteTable", e))?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl TypedProvider for RouteTableProvider {
    type Props = RouteTableProps;

    async fn read(
        &self,
        _cx: &Cx,
        id: &str,
        recorded: Option<&RouteTableProps>,
    ) -> Result<Option<Observed<RouteTableProps>>, ProviderError> {
        let Some(t) = self.describe(id).await? else {
            return Ok(None);
        };
        let live = RouteTableProps {
            vpc_id: t.vpc_id().unwrap_or_default().into(),
            routes: in_recorded_order(routes_of(&t), recorded.map(|r| &r.routes)),
            subnet_ids: in_recorded_order(
                associations_of(&t).into_keys().collect(),
                recorded.map(|r| &r.subnet_ids),
            ),
            tags: user_tags(t.tags()),
        };
        Ok(Some(Observed::new(live, self.outputs(&t).await)))
    }

    async fn adopt(&self, cx: &Cx, p: &RouteTableProps) -> Result<Option<String>, ProviderError> {
        Ok(self
            .find(cx, p)
            .await?
            .into_iter()
            .next()
            .map(|f| f.physical_id))
    }

    async fn find(&self, cx: &Cx, p: &RouteTableProps) -> Result<Vec<Found>, ProviderError> {
        super::find_by(cx, &p.tags, |filters| async move {
            let out = self
                .clients
                .ec2()
                .await
                .describe_route_tables()
                .set_filters(Some(filters))
                .send()
                .await
                .map_err(|e| api_error("DescribeRouteTables", e))?;
            Ok(out
                .route_tables()
                .iter()
                .filter_map(|item| item.route_table_id().map(str::to_string))
                .collect())
        })
        .await
    }

    async fn create(&self, cx: &Cx, p: &RouteTableProps) -> Result<String, ProviderError> {
        let out = self
            .clients
            .ec2()
            .await
            .create_route_table()
            .vpc_id(&p.vpc_id)
            .tag_specifications(tag_spec(cx, ResourceType::RouteTable, &p.tags))
            .send()
            .await
            .map_err(|e| api_error("CreateRouteTable", e))?;
        let id = out
            .route_table()
            .and_then(|t| t.route_table_id())
            .ok_or_else(|| ProviderError::BadResponse {
                operation: "CreateRouteTable".into(),
                missing: "RouteTableId".into(),
            })?
            .to_string();
        self.sync(&id, p).await?;
        Ok(id)
    }

    async fn poll(&self, _cx: &Cx, id: &str) -> Result<Poll, ProviderError> {
        Ok(match self.describe(id).await? {
            Some(t) => Poll::Ready(self.outputs(&t).await),
            None => not_visible_yet(),
        })
    }

    async fn update(
        &self,
        cx: &Cx,
        id: &str,
        _old: Option<&RouteTableProps>,
        p: &RouteTableProps,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        self.sync(id, p).await?;
        let have = self
            .describe(id)
            .await?
            .map(|t| user_tags(t.tags()))
            .unwrap_or_default();
        sync_tags(self.clients.ec2().await, id, cx, &have, &p.tags).await?;
        Ok(None)
    }

    /// Removes the table's subnet associations, then the table; `DependencyViolation` is
    /// [`ProviderError::InUse`], retried by the engine.
    async fn delete(
        &self,
        _cx: &Cx,
        id: &str,
        _recorded: Option<&RouteTableProps>,
    ) -> Result<(), ProviderError> {
        let Some(t) = self.describe(id).await? else {
            return Ok(());
        };
        let ec2 = self.clients.ec2().await;
        for association in associations_of(&t).values() {
            ec2.disassociate_route_table()
                .association_id(association)
                .send()
                .await
                .gone_ok("DisassociateRouteTable", ROUTE_GONE)?;
        }
        match ec2.delete_route_table().route_table_id(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if NOT_FOUND.matches(&e) => Ok(()),
            Err(e) => Err(delete_error(
                "DeleteRouteTable",
                &format!("route table {id}"),
                e,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_items_follow_the_recorded_order() {
        let live = vec!["b".to_string(), "a".to_string(), "c".to_string()];
        let rec = vec!["a".to_string(), "b".to_string()];
        assert_eq!(in_recorded_order(live, Some(&rec)), ["a", "b", "c"]);
        assert_eq!(in_recorded_order(vec![1, 2], None), [1, 2]);
    }
}
