//! IAM on the twin. moto server checks every call against its caller's IAM policies once its
//! enforcement is on (moto's `INITIAL_NO_AUTH_ACTION_COUNT`, reset through its documented
//! `POST /moto-api/reset-auth` endpoint; the evaluator is moto's, `moto/iam/access_control.py`,
//! with the corrections of `scripts/moto/pinctl_moto_fidelity.py`). Before turning it on, the
//! supervisor creates:
//!
//! - an administrator, IAM user `pinctl-twin-admin` with `AdministratorAccess`: pinctl's own
//!   calls, the emulator, `pinctl local env` and the supervisor's reads of what was provisioned;
//! - one IAM user per AWS service the twin stands in for, named as its service principal
//!   (`ec2.amazonaws.com`, ...), allowed only `sts:AssumeRole`: a role's trust policy decides
//!   whether that service may assume it, as on AWS.
//!
//! Each data-plane process then calls AWS with temporary credentials of the role it has on AWS
//! (`sts:AssumeRole` as that service), served to it by the supervisor on a loopback endpoint in
//! the format of the container credentials provider (`AWS_CONTAINER_CREDENTIALS_FULL_URI`, AWS
//! SDKs and Tools Reference Guide, "Container credential provider":
//! https://docs.aws.amazon.com/sdkref/latest/guide/feature-container-credentials.html), which
//! every AWS SDK reads and refreshes before the credentials expire.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

/// The administrator's IAM user name.
pub const ADMIN_USER: &str = "pinctl-twin-admin";
/// The AWS managed policy the administrator has.
pub const ADMIN_POLICY: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

/// EC2's service principal: the EC2 client's units, its user-data's `aws s3 cp`, and the DAG's
/// batch job (run as SSM Run Command runs it on the client) call AWS as the instance profile's
/// role, assumed as this principal.
pub const EC2: &str = "ec2.amazonaws.com";
/// MSK Connect's service principal: a connector's workers call AWS as its service execution
/// role (MSK Developer Guide, "Service execution role").
pub const KAFKACONNECT: &str = "kafkaconnect.amazonaws.com";
/// MWAA's environments assume their execution role as this principal (MWAA User Guide,
/// "Amazon MWAA execution role": the trust policy names `airflow.amazonaws.com` and
/// `airflow-env.amazonaws.com`; https://docs.aws.amazon.com/mwaa/latest/userguide/mwaa-create-role.html).
pub const AIRFLOW_ENV: &str = "airflow-env.amazonaws.com";
/// API Gateway's service principal: an `AWS` integration calls its service as the
/// integration's `credentials` role.
pub const APIGATEWAY: &str = "apigateway.amazonaws.com";
const SERVICES: [&str; 4] = [EC2, KAFKACONNECT, AIRFLOW_ENV, APIGATEWAY];

/// How long a role's temporary credentials last (`DurationSeconds`, STS's default: 3600 s).
pub const SESSION: Duration = Duration::from_secs(3600);
/// Credentials closer than this to their expiration are replaced by new ones.
pub const REFRESH_BEFORE: Duration = Duration::from_secs(15 * 60);

/// An IAM user's access key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Keys {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// The twin's IAM users (see the module's documentation).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Identities {
    pub admin: Keys,
    /// Service principal → the key of the user that stands in for it.
    pub services: BTreeMap<String, Keys>,
}

impl Identities {
    /// The stand-in's key for a service principal of [`SERVICES`].
    pub fn service(&self, principal: &str) -> Result<&Keys> {
        self.services
            .get(principal)
            .with_context(|| format!("the twin does not stand in for {principal}"))
    }
}

async fn sdk_config(endpoint: &str, region: &str, keys: &Keys) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(region.to_string()))
        .credentials_provider(aws_credential_types::Credentials::new(
            &keys.access_key_id,
            &keys.secret_access_key,
            None,
            None,
            "pinctl-twin",
        ))
        .load()
        .await
}

pub use crate::clients::aws::describe;

/// Creates the twin's IAM users on a moto server that does not check calls yet, then turns
/// its enforcement on. Errors: a call failed (moto not answering, or already enforcing).
pub async fn bootstrap(moto: &str, region: &str) -> Result<Identities> {
    // Any key is accepted while moto does not check calls.
    let anyone = Keys {
        access_key_id: "bootstrap".into(),
        secret_access_key: "bootstrap".into(),
    };
    let iam = aws_sdk_iam::Client::new(&sdk_config(moto, region, &anyone).await);
    let key = |user: &'static str| {
        let iam = iam.clone();
        async move {
            let k = iam
                .create_access_key()
                .user_name(user)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("CreateAccessKey {user}: {}", describe(&e)))?;
            let k = k.access_key().context("CreateAccessKey answered no key")?;
            Ok::<Keys, anyhow::Error>(Keys {
                access_key_id: k.access_key_id().to_string(),
                secret_access_key: k.secret_access_key().to_string(),
            })
        }
    };
    iam.create_user()
        .user_name(ADMIN_USER)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("CreateUser {ADMIN_USER}: {}", describe(&e)))?;
    iam.attach_user_policy()
        .user_name(ADMIN_USER)
        .policy_arn(ADMIN_POLICY)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("AttachUserPolicy {ADMIN_POLICY}: {}", describe(&e)))?;
    let admin = key(ADMIN_USER).await?;
    let mut services = BTreeMap::new();
    for s in SERVICES {
        iam.create_user()
            .user_name(s)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("CreateUser {s}: {}", describe(&e)))?;
        let mut actions = vec!["sts:AssumeRole"];
        if s == APIGATEWAY {
            // The gateway worker reads the REST API as API Gateway holds it, and the network
            // (VPC links' load balancers, listeners, targets, security groups) to let through
            // only what AWS's network would.
            actions.extend([
                "apigateway:*",
                "ec2:DescribeInstances",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeSubnets",
                "elasticloadbalancing:Describe*",
            ]);
        }
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
        });
        iam.put_user_policy()
            .user_name(s)
            .policy_name("pinctl-twin-service")
            .policy_document(policy.to_string())
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("PutUserPolicy {s}: {}", describe(&e)))?;
        services.insert(s.to_string(), key(s).await?);
    }
    enforce(moto).await?;
    Ok(Identities { admin, services })
}

/// Turns moto's IAM enforcement on: from now on every call is authenticated and authorized
/// (`POST /moto-api/reset-auth` with the number of calls still let through, 0).
pub async fn enforce(moto: &str) -> Result<()> {
    let r = reqwest::Client::new()
        .post(format!("{moto}/moto-api/reset-auth"))
        .body("0")
        .send()
        .await
        .context("turning moto's IAM enforcement on")?;
    if !r.status().is_success() {
        bail!(
            "moto refused to enforce IAM: {} {}",
            r.status(),
            r.text().await.unwrap_or_default()
        );
    }
    Ok(())
}

/// Temporary credentials of a role, in the container credentials format
/// (`AccessKeyId`, `SecretAccessKey`, `Token`, `Expiration` in RFC 3339, `RoleArn`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RoleCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub token: String,
    pub expiration: String,
    pub role_arn: String,
    #[serde(skip)]
    expires: chrono::DateTime<chrono::Utc>,
}

impl RoleCredentials {
    /// As SDK credentials (for the supervisor's own calls on a role's behalf).
    pub fn sdk(&self) -> aws_credential_types::Credentials {
        aws_credential_types::Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            Some(self.token.clone()),
            Some(self.expires.into()),
            "pinctl-twin-role",
        )
    }
}

/// Assumes roles as the services the twin stands in for, keeping each role's credentials until
/// [`REFRESH_BEFORE`] their expiration.
pub struct Roles {
    sts: BTreeMap<String, aws_sdk_sts::Client>,
    cache: Mutex<HashMap<(String, String, String), RoleCredentials>>,
}

impl Roles {
    /// STS clients for moto at `moto` (`http://127.0.0.1:PORT`), one per stand-in service user.
    pub async fn new(moto: &str, region: &str, ids: &Identities) -> Roles {
        let mut sts = BTreeMap::new();
        for (service, keys) in &ids.services {
            let conf = sdk_config(moto, region, keys).await;
            sts.insert(service.clone(), aws_sdk_sts::Client::new(&conf));
        }
        Roles {
            sts,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Credentials of `role_arn` assumed by `service` (a service principal) for a session named
    /// `session` (cut to STS's 2–64 characters of `[\w+=,.@-]`). Errors: STS refused (the
    /// role's trust policy does not name the service, the role does not exist), with STS's code
    /// and message.
    pub async fn credentials(
        &self,
        service: &str,
        role_arn: &str,
        session: &str,
    ) -> Result<RoleCredentials> {
        let session = session_name(session);
        let key = (service.to_string(), role_arn.to_string(), session.clone());
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.get(&key) {
            let left = c.expires - chrono::Utc::now();
            if left.to_std().unwrap_or_default() > REFRESH_BEFORE {
                return Ok(c.clone());
            }
        }
        let sts = self
            .sts
            .get(service)
            .with_context(|| format!("the twin does not stand in for {service}"))?;
        let out = sts
            .assume_role()
            .role_arn(role_arn)
            .role_session_name(&session)
            .duration_seconds(SESSION.as_secs() as i32)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("{service} cannot assume {role_arn}: {}", describe(&e)))?;
        let c = out
            .credentials()
            .context("AssumeRole answered no credentials")?;
        let expires = chrono::DateTime::<chrono::Utc>::from_timestamp(
            c.expiration().secs(),
            c.expiration().subsec_nanos(),
        )
        .unwrap_or_else(chrono::Utc::now);
        let creds = RoleCredentials {
            access_key_id: c.access_key_id().to_string(),
            secret_access_key: c.secret_access_key().to_string(),
            token: c.session_token().to_string(),
            expiration: expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            role_arn: role_arn.to_string(),
            expires,
        };
        cache.insert(key, creds.clone());
        Ok(creds)
    }
}

/// A role session name STS accepts (`RoleSessionName`: 2–64 characters of `[\w+=,.@-]`, STS
/// API Reference, AssumeRole): other characters become `-`, longer names are cut, shorter ones
/// get `-twin` appended.
pub fn session_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@-_".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if s.len() < 2 {
        format!("{s}-twin")
    } else {
        s
    }
}

/// The loopback endpoint that serves role credentials to the data plane.
#[derive(Clone)]
pub struct Endpoint {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The file holding the value each request's `Authorization` header must carry
    /// (`AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`, read by the AWS SDKs and by object_store, the
    /// Delta tables' S3 client), random per twin.
    pub token_file: std::path::PathBuf,
}

impl Endpoint {
    /// The environment that gives a process `role_arn`'s credentials as `service` assumes it:
    /// the container credentials URI and token, and no shared credentials or config file (a
    /// host on AWS has none; the supervisor's own would otherwise come first in the chain).
    pub fn env(
        &self,
        none: &std::path::Path,
        service: &str,
        role_arn: &str,
        session: &str,
    ) -> Vec<(String, String)> {
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("service", service)
            .append_pair("role", role_arn)
            .append_pair("session", session)
            .finish();
        let mut env = no_credentials(none);
        env.push((
            "AWS_CONTAINER_CREDENTIALS_FULL_URI".into(),
            format!("{}/credentials?{query}", self.base),
        ));
        env.push((
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE".into(),
            self.token_file.display().to_string(),
        ));
        env
    }
}

/// The environment of a process with no AWS credentials at all: no keys, empty shared
/// credentials and config files (`none`, an empty file), no container credentials.
pub fn no_credentials(none: &std::path::Path) -> Vec<(String, String)> {
    let none = none.display().to_string();
    vec![
        ("AWS_SHARED_CREDENTIALS_FILE".into(), none.clone()),
        ("AWS_CONFIG_FILE".into(), none),
    ]
}

#[derive(Deserialize)]
struct Query {
    service: String,
    role: String,
    session: String,
}

/// Serves `GET /credentials?service=S&role=ARN&session=NAME` on a free loopback port until the
/// supervisor ends: 200 with [`RoleCredentials`], 401 without the token, 403 with STS's refusal
/// (`{"code": ..., "message": ...}`). The token is written to `token_file` (mode 0600).
pub async fn serve(roles: Arc<Roles>, token_file: &std::path::Path) -> Result<Endpoint> {
    use axum::extract::{Query as Q, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::IntoResponse;

    let token = uuid::Uuid::new_v4().simple().to_string();
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let _ = std::fs::remove_file(token_file);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(token_file)
            .and_then(|mut f| f.write_all(token.as_bytes()))
            .with_context(|| format!("writing {}", token_file.display()))?;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let expected = token.clone();
    let handler = move |State(roles): State<Arc<Roles>>, headers: HeaderMap, Q(q): Q<Query>| {
        let expected = expected.clone();
        async move {
            let given = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if given != expected {
                return (
                    StatusCode::UNAUTHORIZED,
                    axum::Json(serde_json::json!({"code": "Unauthorized", "message": "wrong or missing authorization token"})),
                )
                    .into_response();
            }
            match roles.credentials(&q.service, &q.role, &q.session).await {
                Ok(c) => axum::Json(c).into_response(),
                Err(e) => {
                    tracing::warn!("role credentials: {e:#}");
                    (
                        StatusCode::FORBIDDEN,
                        axum::Json(serde_json::json!({"code": "AccessDenied", "message": format!("{e:#}")})),
                    )
                        .into_response()
                }
            }
        }
    };
    let app = axum::Router::new()
        .route("/credentials", axum::routing::get(handler))
        .with_state(roles);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("the role credentials endpoint stopped: {e}");
        }
    });
    Ok(Endpoint {
        base,
        token_file: token_file.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_are_what_sts_accepts() {
        assert_eq!(session_name("i-0123456789abcdef0"), "i-0123456789abcdef0");
        assert_eq!(session_name("my env/1"), "my-env-1");
        assert_eq!(session_name("x"), "x-twin");
        assert_eq!(session_name(&"a".repeat(100)).len(), 64);
    }

    #[test]
    fn a_process_gets_only_the_roles_endpoint() {
        let e = Endpoint {
            base: "http://127.0.0.1:1".into(),
            token_file: "/t/token".into(),
        };
        let env: BTreeMap<String, String> = e
            .env(
                std::path::Path::new("/t/empty"),
                EC2,
                "arn:aws:iam::123456789012:role/r",
                "i-1",
            )
            .into_iter()
            .collect();
        assert_eq!(
            env["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
            "http://127.0.0.1:1/credentials?service=ec2.amazonaws.com&role=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr&session=i-1"
        );
        assert_eq!(env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"], "/t/token");
        assert_eq!(env["AWS_SHARED_CREDENTIALS_FILE"], "/t/empty");
        assert_eq!(env["AWS_CONFIG_FILE"], "/t/empty");
        assert!(!env.contains_key("AWS_ACCESS_KEY_ID"));
    }
}
