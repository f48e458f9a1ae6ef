//! Kafka topics through the admin protocol: the msk.topic fallback for clusters without the MSK
//! topic API, and the emulator's topic API acting on the local broker (Apache Kafka).

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewPartitions, NewTopic, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::config::ClientConfig;
use rdkafka::error::RDKafkaErrorCode;

/// A topic as the broker has it.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerTopic {
    pub partitions: i64,
    pub replication_factor: i64,
    pub configs: BTreeMap<String, String>,
}

/// An admin call the broker refused: the Kafka error and its text.
#[derive(Debug, Clone)]
pub struct AdminError {
    pub exists: bool,
    pub message: String,
}

/// Supplies MSK IAM tokens when the client authenticates with SASL/OAUTHBEARER.
pub struct IamContext {
    iam: Option<IamSource>,
}

/// Where tokens come from: a region and a credentials provider, asked afresh for every token so
/// a long-running worker follows rotating instance-role credentials.
struct IamSource {
    region: String,
    provider: aws_credential_types::provider::SharedCredentialsProvider,
    runtime: tokio::runtime::Handle,
}

impl IamContext {
    /// A context for PLAINTEXT clients: asked for a token, it refuses.
    pub fn none() -> Self {
        IamContext { iam: None }
    }

    /// Must be called inside a tokio runtime (tokens are signed with credentials it resolves).
    pub fn new(
        region: &str,
        provider: aws_credential_types::provider::SharedCredentialsProvider,
    ) -> Self {
        IamContext {
            iam: Some(IamSource {
                region: region.to_string(),
                provider,
                runtime: tokio::runtime::Handle::current(),
            }),
        }
    }
}

impl rdkafka::consumer::ConsumerContext for IamContext {}

impl ClientContext for IamContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        _config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        use aws_credential_types::provider::ProvideCredentials;
        let source = self
            .iam
            .as_ref()
            .ok_or("this client has no AWS credentials for MSK IAM")?;
        // librdkafka may call this from a runtime thread (a consumer's poll): resolve the
        // credentials on a thread of its own so blocking never happens inside the runtime.
        let credentials = std::thread::scope(|s| {
            s.spawn(|| {
                source
                    .runtime
                    .block_on(source.provider.provide_credentials())
            })
            .join()
        })
        .map_err(|_| "resolving AWS credentials panicked")??;
        let (token, expires) = crate::clients::msk_iam::auth_token(
            &source.region,
            &credentials,
            std::time::SystemTime::now(),
            crate::clients::msk_iam::USER_AGENT,
        )?;
        Ok(OAuthToken {
            token,
            principal_name: "pinctl".into(),
            lifetime_ms: expires as i64,
        })
    }
}

pub struct BrokerAdmin {
    admin: AdminClient<IamContext>,
    bootstrap: String,
}

fn options() -> AdminOptions {
    AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(10)))
        .request_timeout(Some(Duration::from_secs(10)))
}

fn refused(code: RDKafkaErrorCode, what: &str) -> AdminError {
    AdminError {
        exists: code == RDKafkaErrorCode::TopicAlreadyExists,
        message: format!("{what}: {code}"),
    }
}

/// An admin request the broker failed as a whole; an unsupported one is named as such.
fn failed(e: rdkafka::error::KafkaError, what: &str, bootstrap: &str) -> AdminError {
    let unsupported = matches!(
        &e,
        rdkafka::error::KafkaError::AdminOp(RDKafkaErrorCode::UnsupportedFeature)
    );
    AdminError {
        exists: false,
        message: if unsupported {
            format!("{what}: the broker at {bootstrap} does not support this admin operation")
        } else {
            format!("{what}: {e}")
        },
    }
}

/// The environment variable naming a CA file (PEM) that MSK IAM clients trust
/// (librdkafka's `ssl.ca.location`); unset, they trust the system's store, which holds the
/// Amazon Trust Services roots MSK's certificates chain to. The local twin sets it to its CA.
pub const CA_ENV: &str = "PINCTL_KAFKA_SSL_CA_LOCATION";

/// Sets an MSK IAM client's security: SASL_SSL with OAUTHBEARER (the token comes from
/// [`IamContext`]), trusting [`CA_ENV`]'s CA when it is set.
pub fn msk_iam_settings(config: &mut ClientConfig) {
    config
        .set("security.protocol", "SASL_SSL")
        .set("sasl.mechanism", "OAUTHBEARER");
    if let Some(ca) = std::env::var_os(CA_ENV).filter(|v| !v.is_empty()) {
        config.set("ssl.ca.location", ca.to_string_lossy());
    }
}

/// Gives an admin client its first MSK IAM token. librdkafka asks for tokens with an event on
/// the client's main queue, which rust-rdkafka's `AdminClient` never polls (its thread polls the
/// admin results' queue only): without this, the client never authenticates and every call
/// times out. The token lasts [`crate::clients::msk_iam::TOKEN_LIFETIME`]; established
/// connections stay authenticated after it (the broker asks no re-authentication), and pinctl's
/// admin clients live for one operation.
fn set_token(admin: &AdminClient<IamContext>) -> Result<(), String> {
    use std::ffi::CString;
    let token = admin
        .inner()
        .context()
        .generate_oauth_token(None)
        .map_err(|e| e.to_string())?;
    let value = CString::new(token.token).map_err(|e| e.to_string())?;
    let principal = CString::new(token.principal_name).map_err(|e| e.to_string())?;
    let mut error = [0 as std::ffi::c_char; 512];
    // SAFETY: the client is alive for the call; the strings and the error buffer outlive it, and
    // the buffer's length is the one passed.
    let code = unsafe {
        rdkafka::bindings::rd_kafka_oauthbearer_set_token(
            admin.inner().native_ptr(),
            value.as_ptr(),
            token.lifetime_ms,
            principal.as_ptr(),
            std::ptr::null_mut(),
            0,
            error.as_mut_ptr(),
            error.len(),
        )
    };
    if code != rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        // SAFETY: librdkafka writes a NUL-terminated message into the buffer.
        let message = unsafe { std::ffi::CStr::from_ptr(error.as_ptr()) };
        return Err(message.to_string_lossy().into_owned());
    }
    Ok(())
}

impl BrokerAdmin {
    /// A PLAINTEXT client.
    pub fn connect(bootstrap: &str) -> Result<Self, String> {
        let admin = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .create_with_context(IamContext::none())
            .map_err(|e| format!("Kafka admin client for {bootstrap}: {e}"))?;
        Ok(BrokerAdmin {
            admin,
            bootstrap: bootstrap.to_string(),
        })
    }

    /// A client authenticating with SASL/PLAIN over PLAINTEXT (the twin's control listener).
    pub fn connect_plain(bootstrap: &str, username: &str, password: &str) -> Result<Self, String> {
        let admin = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("security.protocol", "SASL_PLAINTEXT")
            .set("sasl.mechanism", "PLAIN")
            .set("sasl.username", username)
            .set("sasl.password", password)
            .create_with_context(IamContext::none())
            .map_err(|e| format!("Kafka admin client for {bootstrap}: {e}"))?;
        Ok(BrokerAdmin {
            admin,
            bootstrap: bootstrap.to_string(),
        })
    }

    /// A client authenticating with MSK IAM (SASL_SSL, OAUTHBEARER with a SigV4 token).
    pub fn connect_iam(
        bootstrap: &str,
        region: &str,
        credentials: aws_credential_types::Credentials,
    ) -> Result<Self, String> {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", bootstrap);
        msk_iam_settings(&mut config);
        let admin: AdminClient<IamContext> = config
            .create_with_context(IamContext::new(
                region,
                aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
            ))
            .map_err(|e| format!("Kafka admin client for {bootstrap}: {e}"))?;
        set_token(&admin).map_err(|e| format!("MSK IAM token for {bootstrap}: {e}"))?;
        Ok(BrokerAdmin {
            admin,
            bootstrap: bootstrap.to_string(),
        })
    }

    pub async fn create(
        &self,
        name: &str,
        partitions: i32,
        rf: i32,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), AdminError> {
        let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(rf));
        for (k, v) in configs {
            topic = topic.set(k, v);
        }
        let out = self
            .admin
            .create_topics(&[topic], &options())
            .await
            .map_err(|e| AdminError {
                exists: false,
                message: e.to_string(),
            })?;
        match out.into_iter().next() {
            Some(Err((_, code))) => Err(refused(code, &format!("creating topic {name}"))),
            _ => Ok(()),
        }
    }

    pub async fn grow(&self, name: &str, partitions: usize) -> Result<(), AdminError> {
        let out = self
            .admin
            .create_partitions(&[NewPartitions::new(name, partitions)], &options())
            .await
            .map_err(|e| {
                failed(
                    e,
                    &format!("growing topic {name} (CreatePartitions)"),
                    &self.bootstrap,
                )
            })?;
        match out.into_iter().next() {
            Some(Err((_, code))) => Err(refused(code, &format!("growing topic {name}"))),
            _ => Ok(()),
        }
    }

    pub async fn alter(
        &self,
        name: &str,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), AdminError> {
        let mut alter = AlterConfig::new(ResourceSpecifier::Topic(name));
        for (k, v) in configs {
            alter = alter.set(k, v);
        }
        let out = self
            .admin
            .alter_configs(&[alter], &options())
            .await
            .map_err(|e| {
                failed(
                    e,
                    &format!("altering topic {name} (AlterConfigs)"),
                    &self.bootstrap,
                )
            })?;
        match out.into_iter().next() {
            Some(Err((_, code))) => Err(refused(code, &format!("altering topic {name}"))),
            _ => Ok(()),
        }
    }

    pub async fn delete(&self, name: &str) -> Result<(), AdminError> {
        let out = self
            .admin
            .delete_topics(&[name], &options())
            .await
            .map_err(|e| AdminError {
                exists: false,
                message: e.to_string(),
            })?;
        match out.into_iter().next() {
            Some(Err((_, RDKafkaErrorCode::UnknownTopicOrPartition))) | None | Some(Ok(_)) => {
                Ok(())
            }
            Some(Err((_, code))) => Err(refused(code, &format!("deleting topic {name}"))),
        }
    }

    /// The topic's partitions, replication and configs, or `None` when the broker has no such topic.
    pub async fn describe(&self, name: &str) -> Result<Option<BrokerTopic>, String> {
        let client = self.admin.inner();
        let metadata = tokio::task::block_in_place(|| {
            client.fetch_metadata(Some(name), Duration::from_secs(10))
        })
        .map_err(|e| e.to_string())?;
        let Some(t) = metadata.topics().iter().find(|t| t.name() == name) else {
            return Ok(None);
        };
        if t.error().is_some() || t.partitions().is_empty() {
            return Ok(None);
        }
        let partitions = t.partitions().len() as i64;
        let replication_factor = t
            .partitions()
            .first()
            .map(|p| p.replicas().len() as i64)
            .unwrap_or(0);
        let described = self
            .admin
            .describe_configs(&[ResourceSpecifier::Topic(name)], &options())
            .await
            .map_err(|e| e.to_string())?;
        let mut configs = BTreeMap::new();
        if let Some(Ok(resource)) = described.into_iter().next() {
            for entry in resource.entries {
                if let Some(v) = entry.value {
                    configs.insert(entry.name, v);
                }
            }
        }
        Ok(Some(BrokerTopic {
            partitions,
            replication_factor,
            configs,
        }))
    }
}
