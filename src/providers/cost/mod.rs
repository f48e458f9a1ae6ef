//! What a stack costs by the hour and by the month, before `up`: each resource's meters
//! ([`meters`]) priced from AWS's Price List API ([`price_list`]) for the stack's region, or
//! from the dated table shipped in the repository ([`table`]) when the API cannot be reached,
//! answers nothing for a meter, or refuses the credentials (`pricing:GetProducts`). Each line
//! says where its rate came from; what is billed by use is listed with its rate, not counted.
//!
//! Figures are AWS's public On-Demand list prices in USD, before taxes, credits, the Free Tier
//! and any discount of the account; a month is 730 hours, as AWS's pricing pages count it.

pub mod meters;
pub mod price_list;
pub mod table;

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_pricing::types::{Filter, FilterType};
use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;

use crate::clients::aws::{api_error, Clients};
use crate::engine::plan::{Action, Plan};
use crate::engine::provider::ProviderError;
use crate::stack::expr::{self, Ref, Segment};
use crate::stack::resolve::{is_unknown, Resolved};
use crate::stack::Stack;
use crate::state::StateFile;

pub use meters::HOURS_PER_MONTH;
use meters::{Charge, Context, Meter, Quantity, Unit};

/// Where the estimate's rates came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Every rate from the Price List API.
    PriceListApi,
    /// Every rate from the shipped table.
    Table,
    /// Some from each (each line says which).
    Mixed,
    /// Nothing to price.
    None,
}

/// Where one rate came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum RateSource {
    /// The Price List API's product `sku`, in effect since `effective_date`.
    PriceListApi { sku: String, effective_date: String },
    /// The shipped table (its date is the estimate's `table_date`).
    Table,
}

/// One always-on charge of a resource.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    /// What is billed, e.g. `2 brokers kafka.t3.small`.
    pub what: String,
    /// The meter's id (see [`meters::Meter::id`]).
    pub meter: String,
    /// Units used per hour (storage: GB held).
    pub quantity: f64,
    /// The rate's unit (`broker-hour`, `GB-month`, ...).
    pub unit: String,
    /// USD per unit.
    pub rate: f64,
    /// USD per hour and per month.
    pub hourly: f64,
    pub monthly: f64,
    pub source: RateSource,
}

/// A resource's always-on charges and their sum.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceCost {
    pub resource: String,
    pub kind: String,
    pub hourly: f64,
    pub monthly: f64,
    pub lines: Vec<Line>,
}

/// A charge billed by use: listed with its rate, not counted.
#[derive(Debug, Clone, Serialize)]
pub struct ByUse {
    pub resource: String,
    pub what: String,
    pub meter: String,
    /// USD per unit, when known.
    pub rate: Option<f64>,
    pub unit: String,
}

/// A charge that could not be priced, and why.
#[derive(Debug, Clone, Serialize)]
pub struct NotPriced {
    pub resource: String,
    pub what: String,
    pub reason: String,
}

/// What a set of resources costs.
#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    pub region: String,
    pub currency: &'static str,
    pub hours_per_month: f64,
    pub source: Source,
    /// The shipped table's date (whether or not it was used).
    pub table_date: String,
    /// Why rates came from the table (the API's error, or the meters it had no answer for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_reason: Option<String>,
    /// USD per hour and per month of the always-on charges.
    pub hourly: f64,
    pub monthly: f64,
    pub resources: Vec<ResourceCost>,
    pub by_use: Vec<ByUse>,
    pub not_priced: Vec<NotPriced>,
}

/// One resource to price: its name, kind, props and surroundings.
#[derive(Debug, Clone)]
pub struct Item {
    pub resource: String,
    pub kind: String,
    pub props: Value,
    pub context: Context,
}

/// What the stack costs after `plan` is applied: every resource the plan keeps, creates or
/// changes, with its resolved props (`resolved`, as `plan` returns them). A resource the plan
/// keeps (not replaced) keeps what it has now: its recorded public address (`state`).
pub fn after(
    stack: &Stack,
    state: &StateFile,
    plan: &Plan,
    resolved: &BTreeMap<String, Resolved>,
) -> Vec<Item> {
    let props = |name: &str| resolved.get(name).map(|r| &r.value);
    plan.resources
        .iter()
        .filter(|r| r.action != Action::Delete)
        .filter_map(|r| {
            let mut cx = context(stack, &r.name, &props);
            if matches!(r.action, Action::NoOp | Action::Update) {
                if let Some(public) = recorded_public_ip(state, &r.name) {
                    cx.public_ipv4 = Some(public);
                }
            }
            Some(Item {
                resource: r.name.clone(),
                kind: r.kind.clone(),
                props: props(&r.name)?.clone(),
                context: cx,
            })
        })
        .collect()
}

/// Whether a recorded instance has a public address (its `public_ip` output); `None` for
/// anything else. An instance keeps the address it launched with whatever its subnet now says.
fn recorded_public_ip(state: &StateFile, name: &str) -> Option<bool> {
    let r = state.resources.get(name)?;
    (r.kind == "ec2.instance").then(|| {
        r.outputs
            .get("public_ip")
            .and_then(Value::as_str)
            .is_some_and(|ip| !ip.is_empty())
    })
}

/// What the resources recorded in `state` cost now; `only` restricts them (e.g. to what a
/// `down` deletes).
pub fn recorded(stack: &Stack, state: &StateFile, only: Option<&BTreeSet<String>>) -> Vec<Item> {
    let props = |name: &str| state.resources.get(name).map(|r| &r.props);
    state
        .resources
        .iter()
        .filter(|(name, _)| only.is_none_or(|o| o.contains(*name)))
        .filter(|(_, r)| r.physical_id.is_some())
        .map(|(name, r)| {
            let mut cx = context(stack, name, &props);
            if let Some(public) = recorded_public_ip(state, name) {
                cx.public_ipv4 = Some(public);
            }
            Item {
                resource: name.clone(),
                kind: r.kind.clone(),
                props: r.props.clone(),
                context: cx,
            }
        })
        .collect()
}

/// An instance's public address: whether the stack's subnet its `subnet_id` names
/// (`${public_1.id}`) maps public IPs on launch.
fn context<'a>(stack: &Stack, name: &str, props: &dyn Fn(&str) -> Option<&'a Value>) -> Context {
    let subnet_ref = stack
        .resources
        .get(name)
        .and_then(|r| r.props.get("subnet_id"))
        .and_then(Value::as_str)
        .and_then(|s| expr::parse(s).ok());
    let public_ipv4 = match subnet_ref.as_deref() {
        Some([Segment::Ref(Ref::Resource { name: subnet, .. }, _)]) => props(subnet)
            .and_then(|p| p.get("map_public_ip_on_launch"))
            .filter(|v| !is_unknown(v))
            .and_then(Value::as_bool)
            .or(Some(false)),
        _ => None,
    };
    Context { public_ipv4 }
}

/// The rate of each meter, and where it came from.
#[derive(Default)]
struct Rates {
    rates: BTreeMap<Meter, (f64, RateSource)>,
    missing: BTreeMap<Meter, String>,
    fallback_reason: Option<String>,
}

/// Asks the Price List API for each meter (4 at a time), and the table for what it did not
/// answer.
async fn rates(clients: Option<&Clients>, region: &str, meters: &BTreeSet<Meter>) -> Rates {
    let table = table::shipped();
    let mut out = Rates::default();
    let mut api: BTreeMap<Meter, Result<price_list::Answer, String>> = BTreeMap::new();
    match clients {
        Some(clients) => {
            let client = clients.pricing(price_list::endpoint_region(region)).await;
            // One meter first: an API that cannot be reached (or refuses the credentials)
            // costs one call's 10 s, not 10 s for every few meters.
            let mut rest = meters.iter().cloned();
            if let Some(first) = rest.next() {
                let answer = ask(client, &first, region).await;
                let reached = answer.is_ok();
                api.insert(first, answer);
                if reached {
                    let others: BTreeMap<_, _> = futures::stream::iter(rest)
                        .map(|m| async move {
                            let answer = ask(client, &m, region).await;
                            (m, answer)
                        })
                        .buffer_unordered(4)
                        .collect()
                        .await;
                    api.extend(others);
                }
            }
        }
        None => out.fallback_reason = Some("the Price List API was not asked".into()),
    }
    let mut unanswered = Vec::new();
    let mut api_error = None;
    for m in meters {
        let unit = m.unit();
        match api.get(m) {
            Some(Ok(price_list::Answer::Rate(o))) => {
                out.rates.insert(
                    m.clone(),
                    (
                        o.usd * unit.per_price_list_unit(),
                        RateSource::PriceListApi {
                            sku: o.sku.clone(),
                            effective_date: o.effective_date.clone(),
                        },
                    ),
                );
                continue;
            }
            Some(Ok(a)) => unanswered.push(format!("{} ({})", m.id(), describe(a))),
            Some(Err(e)) => {
                api_error.get_or_insert_with(|| e.clone());
            }
            None => {}
        }
        match table.rate(region, &m.id()) {
            Some(r) => {
                out.rates.insert(m.clone(), (r, RateSource::Table));
            }
            None => {
                let asked = match api.get(m) {
                    Some(Ok(_)) => "the Price List API's answer or ",
                    _ => "",
                };
                out.missing.insert(
                    m.clone(),
                    format!(
                        "no rate for {} in {region} in {asked}pinctl's price table of {} (it covers {})",
                        m.id(),
                        table.date,
                        table.regions.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                );
            }
        }
    }
    if let Some(e) = api_error {
        out.fallback_reason = Some(format!("the Price List API could not be asked: {e}"));
    } else if !unanswered.is_empty() {
        out.fallback_reason = Some(format!(
            "the Price List API had no single rate for {}",
            unanswered.join(", ")
        ));
    }
    out
}

fn describe(a: &price_list::Answer) -> String {
    match a {
        price_list::Answer::Rate(_) => "a rate".into(),
        price_list::Answer::NoProduct => "no product".into(),
        price_list::Answer::Ambiguous(n) => format!("{n} products at different rates"),
        price_list::Answer::OtherUnit(u) => format!("priced per {u}"),
    }
}

/// One meter's GetProducts, every page.
async fn ask(
    client: &aws_sdk_pricing::Client,
    meter: &Meter,
    region: &str,
) -> Result<price_list::Answer, String> {
    let product = meter.product(region);
    let mut documents = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut call = client
            .get_products()
            .service_code(&product.service_code)
            .format_version("aws_v1")
            .max_results(100)
            .set_next_token(token.take());
        for (field, value) in &product.filters {
            let filter = Filter::builder()
                .r#type(FilterType::TermMatch)
                .field(*field)
                .value(value)
                .build()
                .map_err(|e| e.to_string())?;
            call = call.filters(filter);
        }
        let page = call.send().await.map_err(|e| {
            let e: ProviderError = api_error("GetProducts", e);
            e.to_string()
        })?;
        documents.extend(page.price_list().iter().cloned());
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    price_list::answer(&product, &documents).map_err(|e| e.to_string())
}

/// Prices `items` in `region`: from the Price List API through `clients` (none: the table
/// only, as when the user asks for no calls).
pub async fn estimate(clients: Option<&Clients>, region: &str, items: &[Item]) -> Estimate {
    estimate_many(clients, region, &[items])
        .await
        .pop()
        .expect("one estimate per set")
}

/// Prices several sets of items (e.g. the stack now and after a plan) with one lookup of the
/// rates: one [`Estimate`] per set, in order.
pub async fn estimate_many(
    clients: Option<&Clients>,
    region: &str,
    sets: &[&[Item]],
) -> Vec<Estimate> {
    let charged: Vec<_> = sets.iter().map(|items| charges_of(items)).collect();
    let all: BTreeSet<Meter> = charged
        .iter()
        .flat_map(|(c, _)| c.iter())
        .flat_map(|(_, c)| c.iter().map(|c| c.meter.clone()))
        .collect();
    let rates = if all.is_empty() {
        Rates::default()
    } else {
        rates(clients, region, &all).await
    };
    charged
        .into_iter()
        .map(|(charges, not_priced)| priced(region, &rates, charges, not_priced))
        .collect()
}

type Charged<'a> = (Vec<(&'a Item, Vec<Charge>)>, Vec<NotPriced>);

fn charges_of(items: &[Item]) -> Charged<'_> {
    let mut charges = Vec::new();
    let mut not_priced = Vec::new();
    for item in items {
        match meters::charges(&item.kind, &item.props, &item.context) {
            Ok(c) if !c.is_empty() => charges.push((item, c)),
            Ok(_) => {}
            Err(e) => not_priced.push(NotPriced {
                resource: item.resource.clone(),
                what: item.kind.clone(),
                reason: format!("`{}` is known only after `up`", e.prop),
            }),
        }
    }
    (charges, not_priced)
}

fn priced(
    region: &str,
    rates: &Rates,
    charges: Vec<(&Item, Vec<Charge>)>,
    mut not_priced: Vec<NotPriced>,
) -> Estimate {
    let mut resources = Vec::new();
    let mut by_use = Vec::new();
    let mut used: BTreeSet<&Meter> = BTreeSet::new();
    for (item, cs) in &charges {
        let mut lines = Vec::new();
        for c in cs {
            let unit = c.meter.unit();
            let rate = rates.rates.get(&c.meter);
            if rate.is_some() {
                used.insert(&c.meter);
            }
            match (&c.quantity, rate) {
                (Quantity::ByUse, _) => by_use.push(ByUse {
                    resource: item.resource.clone(),
                    what: c.what.clone(),
                    meter: c.meter.id(),
                    rate: rate.map(|(r, _)| *r),
                    unit: unit.label().into(),
                }),
                (Quantity::Fixed(q), Some((r, source))) => {
                    let hourly = match unit {
                        Unit::GbMonth => q * r / HOURS_PER_MONTH,
                        _ => q * r,
                    };
                    lines.push(Line {
                        what: c.what.clone(),
                        meter: c.meter.id(),
                        quantity: *q,
                        unit: unit.label().into(),
                        rate: *r,
                        hourly,
                        monthly: hourly * HOURS_PER_MONTH,
                        source: source.clone(),
                    });
                }
                (Quantity::Fixed(_), None) => not_priced.push(NotPriced {
                    resource: item.resource.clone(),
                    what: c.what.clone(),
                    reason: rates.missing.get(&c.meter).cloned().unwrap_or_default(),
                }),
            }
        }
        if !lines.is_empty() {
            let hourly: f64 = lines.iter().map(|l| l.hourly).sum();
            resources.push(ResourceCost {
                resource: item.resource.clone(),
                kind: item.kind.clone(),
                hourly,
                monthly: hourly * HOURS_PER_MONTH,
                lines,
            });
        }
    }
    let from_api = used
        .iter()
        .filter(|m| {
            matches!(
                rates.rates.get(**m),
                Some((_, RateSource::PriceListApi { .. }))
            )
        })
        .count();
    let source = match (from_api, used.len() - from_api) {
        (0, 0) => Source::None,
        (_, 0) => Source::PriceListApi,
        (0, _) => Source::Table,
        _ => Source::Mixed,
    };
    // `+ 0.0`: an empty f64 sum is -0.0, which JSON would carry.
    let hourly: f64 = resources.iter().map(|r| r.hourly).sum::<f64>() + 0.0;
    Estimate {
        region: region.to_string(),
        currency: "USD",
        hours_per_month: HOURS_PER_MONTH,
        source,
        table_date: table::shipped().date.clone(),
        fallback_reason: match source {
            Source::Table | Source::Mixed => rates.fallback_reason.clone(),
            _ => None,
        },
        hourly,
        monthly: hourly * HOURS_PER_MONTH,
        resources,
        by_use,
        not_priced,
    }
}

/// USD per hour and per month.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Totals {
    pub hourly: f64,
    pub monthly: f64,
}

/// A plan's cost: the stack after it (in full), and what the recorded resources cost now.
#[derive(Debug, Clone, Serialize)]
pub struct PlanCost {
    pub after: Estimate,
    pub now: Totals,
}

/// Prices a plan: the resources it leaves (resolved props) and the same resources as recorded
/// now (recorded props), with one lookup of the rates. `clients` none: the table only.
pub async fn of_plan(
    clients: Option<&Clients>,
    region: &str,
    stack: &Stack,
    state: &StateFile,
    plan: &Plan,
    resolved: &BTreeMap<String, Resolved>,
) -> PlanCost {
    let after_items = after(stack, state, plan, resolved);
    // The plan's own resources (all of them, unless it was scoped by `--target`).
    let planned: BTreeSet<String> = plan.resources.iter().map(|r| r.name.clone()).collect();
    let now_items = recorded(stack, state, Some(&planned));
    let mut e = estimate_many(clients, region, &[&after_items, &now_items]).await;
    let now = e.pop().expect("two sets");
    let after = e.pop().expect("two sets");
    PlanCost {
        after,
        now: Totals {
            hourly: now.hourly,
            monthly: now.monthly,
        },
    }
}

impl Estimate {
    /// Where the rates came from, in words: `the AWS Price List API`, `the price table of
    /// 2026-12-02 (the Price List API could not be asked: ...)`.
    pub fn source_text(&self) -> String {
        let why = self
            .fallback_reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        match self.source {
            Source::PriceListApi => "the AWS Price List API".into(),
            Source::Table => format!("pinctl's price table of {}{why}", self.table_date),
            Source::Mixed => format!(
                "the AWS Price List API, and pinctl's price table of {} where marked{why}",
                self.table_date
            ),
            Source::None => format!(
                "no rate found (pinctl's price table of {} covers {}{why})",
                self.table_date,
                table::shipped()
                    .regions
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}
