//! MSK IAM access control on the twin's broker (MSK Developer Guide, "IAM access control":
//! https://docs.aws.amazon.com/msk/latest/developerguide/iam-access-control.html).
//!
//! The broker's SASL/OAUTHBEARER callback handler and its authorizer (`java/msk-iam`, loaded into
//! Apache Kafka) ask the emulator, which knows the clusters the broker stands for:
//!
//! - `POST /_pinctl/msk-iam/authenticate {"token"}` → `{"principal", "expires_ms"}`, or 403
//!   `{"message"}`. The token must be one the official signers make, for this region, signed
//!   by credentials the twin knows, not expired, and its principal must be allowed
//!   `kafka-cluster:Connect` on the cluster (MSK's "Connect: grants permission to connect and
//!   authenticate to the cluster").
//! - `POST /_pinctl/msk-iam/authorize {"principal", "checks": [{"action", "resource_type",
//!   "name"}]}` → `{"results": [{"allowed", "message"?}]}`: each `kafka-cluster:*` action on the
//!   ARN of the cluster, topic, group or transactional id named (MSK Developer Guide,
//!   "Authorization policy resources": `topic/{cluster-name}/{cluster-uuid}/{topic}`, ...).
//!
//! - `POST /_pinctl/msk-iam/anonymous {}` → `{"allowed", "message"?}`: whether PLAINTEXT
//!   clients (ANONYMOUS) may act, which they may when an ACTIVE cluster is open to them
//!   ([`super::kafka::open_to_plaintext`]): the broker serves every cluster on one PLAINTEXT
//!   port, and MSK's port 9092 admits unauthenticated clients only on such clusters.
//!
//! Token and policy are checked by moto (`scripts/moto/pinctl_moto_fidelity.py`, `_msk_iam`),
//! which alone holds the twin's credentials and policies, with the strict twin's evaluator.
//! Every MSK cluster of the twin is the one broker: a request is allowed only when it is allowed
//! on every ACTIVE cluster with IAM client authentication (stricter than AWS when a twin has two
//! such clusters with different policies; the pipeline has one).

use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiError, Emulator, Store};

/// What the broker asks to check: a `kafka-cluster:*` action on a resource of the cluster.
#[derive(Debug, Deserialize)]
struct Check {
    action: String,
    /// `cluster`, `topic`, `group` or `transactional-id` (MSK's resource types).
    resource_type: String,
    #[serde(default)]
    name: String,
}

/// The ARNs of the ACTIVE (or UPDATING) clusters with IAM client authentication.
fn iam_clusters(store: &Store) -> Vec<String> {
    store
        .clusters
        .iter()
        .filter(|(_, c)| c.state == "ACTIVE" || c.state == "UPDATING")
        .filter(|(_, c)| super::kafka::iam_enabled(&c.body))
        .map(|(arn, _)| arn.clone())
        .collect()
}

/// The ARN of `check`'s resource in `cluster` (`arn:aws:kafka:{region}:{account}:cluster/{name}/{uuid}`).
fn resource_arn(cluster: &str, check: &Check) -> Result<String, String> {
    if check.resource_type == "cluster" {
        return Ok(cluster.to_string());
    }
    let (head, rest) = cluster
        .split_once(":cluster/")
        .ok_or_else(|| format!("{cluster} is not a cluster ARN"))?;
    match check.resource_type.as_str() {
        "topic" | "group" | "transactional-id" => Ok(format!(
            "{head}:{}/{rest}/{}",
            check.resource_type, check.name
        )),
        other => Err(format!("unknown MSK resource type `{other}`")),
    }
}

impl Emulator {
    /// Serves `/_pinctl/msk-iam/{op}`.
    pub(super) async fn msk_iam(&self, op: &str, body: Value) -> Result<Value, ApiError> {
        if op == "anonymous" {
            let store = self.store.lock().await;
            let open = store
                .clusters
                .iter()
                .filter(|(_, c)| c.state == "ACTIVE" || c.state == "UPDATING")
                .find(|(_, c)| super::kafka::open_to_plaintext(&c.body));
            return Ok(match open {
                Some((arn, _)) => json!({"allowed": true, "cluster": arn}),
                None => json!({
                    "allowed": false,
                    "message": "no ACTIVE MSK cluster admits unauthenticated PLAINTEXT clients (client-broker encryption TLS_PLAINTEXT or PLAINTEXT, unauthenticated access on, IAM off)"
                }),
            });
        }
        let Some(moto) = self.opts.moto.clone() else {
            return Err(refused(
                "the emulator has no moto endpoint to check MSK IAM against".into(),
            ));
        };
        let clusters = iam_clusters(&*self.store.lock().await);
        if clusters.is_empty() {
            return Err(refused(
                "no MSK cluster with IAM client authentication is ACTIVE".into(),
            ));
        }
        match op {
            "authenticate" => {
                let token = body.get("token").and_then(Value::as_str).unwrap_or("");
                let who = self
                    .moto_iam(
                        &moto,
                        "authenticate",
                        json!({"token": token, "region": self.opts.region}),
                    )
                    .await?;
                let principal = who["principal"].as_str().unwrap_or("").to_string();
                let connect = Check {
                    action: "kafka-cluster:Connect".into(),
                    resource_type: "cluster".into(),
                    name: String::new(),
                };
                let verdict = self
                    .authorize(&moto, &principal, &clusters, &[connect])
                    .await?;
                match verdict.first() {
                    Some(v) if v["allowed"] == json!(true) => Ok(who),
                    Some(v) => Err(refused(v["message"].as_str().unwrap_or("").to_string())),
                    None => Err(refused("no verdict on kafka-cluster:Connect".into())),
                }
            }
            "authorize" => {
                let principal = body.get("principal").and_then(Value::as_str).unwrap_or("");
                let checks: Vec<Check> =
                    serde_json::from_value(body.get("checks").cloned().unwrap_or(json!([])))
                        .map_err(|e| super::bad_request(format!("malformed checks: {e}")))?;
                let results = self.authorize(&moto, principal, &clusters, &checks).await?;
                Ok(json!({ "results": results }))
            }
            other => Err(ApiError(
                StatusCode::NOT_FOUND,
                "NotFoundException",
                format!("no MSK IAM operation `{other}`"),
            )),
        }
    }

    /// Each check's verdict: allowed when allowed on every cluster; else the first refusal.
    async fn authorize(
        &self,
        moto: &str,
        principal: &str,
        clusters: &[String],
        checks: &[Check],
    ) -> Result<Vec<Value>, ApiError> {
        let mut requests = Vec::new();
        for check in checks {
            for cluster in clusters {
                let resource = resource_arn(cluster, check).map_err(super::bad_request)?;
                requests.push(json!({"action": check.action, "resource": resource}));
            }
        }
        let answer = self
            .moto_iam(
                moto,
                "authorize",
                json!({"principal": principal, "requests": requests}),
            )
            .await?;
        let results = answer["results"].as_array().cloned().unwrap_or_default();
        Ok(results
            .chunks(clusters.len())
            .map(|per_cluster| {
                per_cluster
                    .iter()
                    .find(|r| r["allowed"] != json!(true))
                    .cloned()
                    .unwrap_or_else(|| json!({"allowed": true}))
            })
            .collect())
    }

    /// Calls moto's MSK IAM endpoint; a 403 is the refusal it explains.
    async fn moto_iam(&self, moto: &str, op: &str, body: Value) -> Result<Value, ApiError> {
        let url = format!("{moto}/moto-api/pinctl/msk-iam/{op}");
        let failed = |e: String| {
            ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerErrorException",
                format!("checking MSK IAM with moto ({url}): {e}"),
            )
        };
        let response = reqwest::Client::new()
            .post(&url)
            .json(&body)
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        let status = response.status();
        let answer: Value = response.json().await.map_err(|e| failed(e.to_string()))?;
        if status == reqwest::StatusCode::FORBIDDEN {
            return Err(refused(
                answer["message"].as_str().unwrap_or("refused").to_string(),
            ));
        }
        if !status.is_success() {
            return Err(failed(format!("{status}: {answer}")));
        }
        Ok(answer)
    }
}

fn refused(message: String) -> ApiError {
    ApiError(StatusCode::FORBIDDEN, "AccessDeniedException", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_named_as_msk_names_them() {
        let cluster = "arn:aws:kafka:us-east-1:123456789012:cluster/pinterest-msk/5f3c-1";
        let check = |t: &str, n: &str| Check {
            action: "kafka-cluster:WriteData".into(),
            resource_type: t.into(),
            name: n.into(),
        };
        assert_eq!(
            resource_arn(cluster, &check("cluster", "")).unwrap(),
            cluster
        );
        assert_eq!(
            resource_arn(cluster, &check("topic", "u.pin")).unwrap(),
            "arn:aws:kafka:us-east-1:123456789012:topic/pinterest-msk/5f3c-1/u.pin"
        );
        assert_eq!(
            resource_arn(cluster, &check("group", "connect-s")).unwrap(),
            "arn:aws:kafka:us-east-1:123456789012:group/pinterest-msk/5f3c-1/connect-s"
        );
        assert!(resource_arn(cluster, &check("delegation-token", "x")).is_err());
    }
}
