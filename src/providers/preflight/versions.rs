//! Versions the services offer for new resources, and no downgrades.
//!
//! - MSK: ListKafkaVersions lists every version with its status, `ACTIVE` or `DEPRECATED`
//!   (botocore `kafka/2018-11-14`, shape `KafkaVersionStatus`). A version with a published end
//!   of support is phased out for new clusters, and a cluster still on it after that date is
//!   upgraded by AWS "at any time ... You will not receive any notification" (MSK Developer
//!   Guide, "Amazon MSK version support":
//!   https://docs.aws.amazon.com/msk/latest/developerguide/version-support.html). MSK upgrades
//!   only forward (UpdateClusterKafkaVersion; "Upgrade the Apache Kafka version"), so a stack
//!   that still names the older version must not ask for a downgrade.
//! - MWAA has no API listing its versions; the versions it accepts are the ones its API model
//!   lists as valid for `CreateEnvironmentInput.AirflowVersion` ([`MWAA_AIRFLOW_VERSIONS`]).

use super::{Check, Finding, Scope};
use crate::clients::aws::{api_error, Clients};
use crate::engine::plan::{Action, ResourcePlan};
use crate::engine::provider::ProviderError;

/// The Apache Airflow versions MWAA creates environments with, as the MWAA API model lists
/// them (botocore `mwaa/2020-07-01` `service-2.json`, `CreateEnvironmentInput.AirflowVersion`:
/// "Valid values: 2.7.2, 2.8.1, 2.9.2, 2.10.1, 2.10.3, 2.11.0, and 3.0.6"; the User Guide's
/// "Apache Airflow versions on Amazon MWAA" page is the same list). MWAA has no call that lists
/// them, so this table is updated with the model; `--no-preflight` skips it meanwhile.
pub const MWAA_AIRFLOW_VERSIONS: &[&str] = &[
    "2.7.2", "2.8.1", "2.9.2", "2.10.1", "2.10.3", "2.11.0", "3.0.6",
];

/// A hint shown with an unoffered Kafka version.
pub const MSK_UNOFFERED_HINT: &str =
    "`aws kafka list-kafka-versions` lists them; MSK recommends the newest ACTIVE one";

/// A version's numeric parts for ordering (`3.8.x` → [3, 8, MAX]: `x` is the newest patch of
/// its line; a `.kraft` suffix is not part of the order).
pub fn version_key(v: &str) -> Vec<u64> {
    v.split('.')
        .filter(|p| *p != "kraft")
        .map(|p| {
            if p == "x" {
                u64::MAX
            } else {
                p.parse().unwrap_or(0)
            }
        })
        .collect()
}

/// Every Kafka version MSK lists in the region, with its status.
async fn kafka_versions(clients: &Clients) -> Result<Vec<(String, String)>, ProviderError> {
    let kafka = clients.kafka().await;
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = kafka
            .list_kafka_versions()
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| api_error("ListKafkaVersions", e))?;
        for v in page.kafka_versions() {
            out.push((
                v.version().unwrap_or_default().to_string(),
                v.status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
            ));
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// The change of one field in a resource's plan: (old, new).
fn change<'a>(r: &'a ResourcePlan, path: &str) -> Option<(Option<&'a str>, Option<&'a str>)> {
    r.changes.iter().find(|c| c.path == path).map(|c| {
        (
            c.old.as_ref().and_then(|v| v.as_str()),
            c.new.as_ref().and_then(|v| v.as_str()),
        )
    })
}

pub(super) async fn check(clients: &Clients, scope: &Scope<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let clusters = scope.changing("msk.cluster");
    if !clusters.is_empty() {
        match kafka_versions(clients).await {
            Err(e) => out.push(Finding::unchecked(
                &clusters[0].0.name,
                Check::KafkaVersion,
                "the Kafka versions MSK offers",
                &e,
            )),
            Ok(listed) => {
                for (r, props) in &clusters {
                    let Some(want) = scope.known_str(props, "kafka_version") else {
                        continue;
                    };
                    out.extend(kafka_finding(r, want, &listed));
                }
            }
        }
    }
    for (r, props) in scope.changing("mwaa.environment") {
        let Some(want) = scope.known_str(props, "airflow_version") else {
            continue;
        };
        let asked = r.action != Action::Update || change(r, "airflow_version").is_some();
        if asked && !MWAA_AIRFLOW_VERSIONS.contains(&want) {
            out.push(Finding::error(
                &r.name,
                Check::AirflowVersion,
                format!("MWAA does not offer Apache Airflow {want} (MWAA API, CreateEnvironment AirflowVersion)"),
                format!("set airflow_version to one MWAA offers: {}", MWAA_AIRFLOW_VERSIONS.join(", ")),
            ));
        }
    }
    out
}

/// What is wrong with asking MSK for Kafka `want` for cluster `r`, given the listed versions.
fn kafka_finding(r: &ResourcePlan, want: &str, listed: &[(String, String)]) -> Option<Finding> {
    let active: Vec<&str> = listed
        .iter()
        .filter(|(_, s)| s == "ACTIVE")
        .map(|(v, _)| v.as_str())
        .collect();
    let newest = active
        .iter()
        .filter(|v| v.ends_with("kraft") == want.ends_with("kraft"))
        .max_by_key(|v| version_key(v))
        .copied()
        .unwrap_or("(none listed)");
    if r.action == Action::Update {
        let (old, _) = change(r, "kafka_version")?;
        let old = old?;
        if version_key(want) < version_key(old) {
            return Some(Finding::error(
                &r.name,
                Check::KafkaVersion,
                format!("the cluster runs Apache Kafka {old} and the stack asks for {want}: MSK upgrades clusters whose version reached its end of support on its own, and never downgrades one"),
                format!("set kafka_version to {old} (or newer) in the stack"),
            ));
        }
    }
    let status = listed
        .iter()
        .find(|(v, _)| v == want)
        .map(|(_, s)| s.as_str());
    let problem = match status {
        Some("ACTIVE") => return None,
        Some(s) => format!("MSK lists Apache Kafka {want} as {s}: it is past (or near) its end of support and MSK no longer creates clusters on it, or moves them to it"),
        None => format!("MSK does not offer Apache Kafka {want} in this region (ListKafkaVersions)"),
    };
    Some(Finding::error(
        &r.name,
        Check::KafkaVersion,
        problem,
        format!("set kafka_version to an ACTIVE version, e.g. {newest} ({MSK_UNOFFERED_HINT})"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_by_their_numbers_and_x_is_the_newest_patch() {
        assert!(version_key("3.9.x") > version_key("3.8.x"));
        assert!(version_key("3.8.x") > version_key("3.8.1"));
        assert!(version_key("3.10.0") > version_key("3.9.x"));
        assert_eq!(version_key("3.8.x.kraft"), version_key("3.8.x"));
    }
}
