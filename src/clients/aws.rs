//! The AWS SDK clients, built once per run from the default configuration chain (credentials,
//! region, `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>`, `AWS_MAX_ATTEMPTS`). Every call goes
//! through here, so retries (the SDK's standard mode: throttling and 5xx with backoff and jitter),
//! the API Gateway rate limiter and the optional call log are set in one place.

use std::io::Write;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tokio::sync::OnceCell;

use super::limiter::Limiter;
use crate::engine::provider::ProviderError;

/// Appends `milliseconds service operation` for every call to the file in `PINCTL_CALL_LOG`, so a test (or a
/// curious user) can see exactly which API calls a run made.
#[derive(Debug, Clone)]
struct CallLog {
    file: Arc<Mutex<std::fs::File>>,
}

impl Intercept for CallLog {
    fn name(&self) -> &'static str {
        "pinctl-call-log"
    }

    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            if let Ok(mut f) = self.file.lock() {
                let ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis())
                    .unwrap_or(0);
                let _ = writeln!(f, "{ms} {} {}", m.service().replace(' ', ""), m.name());
            }
        }
        Ok(())
    }
}

/// MWAA's client puts `api.` in front of the endpoint's host name. Against an endpoint override
/// (the local twin's emulator on 127.0.0.1) that name does not resolve, so the prefix is dropped.
#[derive(Debug, Clone)]
pub struct NoHostPrefix;

impl Intercept for NoHostPrefix {
    fn name(&self) -> &'static str {
        "pinctl-no-host-prefix"
    }

    fn modify_before_retry_loop(
        &self,
        _context: &mut aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state()
            .unset::<aws_smithy_runtime_api::client::endpoint::EndpointPrefix>();
        Ok(())
    }
}

fn endpoint_overridden(service_env: &str) -> bool {
    std::env::var_os("AWS_ENDPOINT_URL").is_some() || std::env::var_os(service_env).is_some()
}

fn call_log() -> Option<CallLog> {
    let path = std::env::var_os("PINCTL_CALL_LOG")?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .ok()?;
    Some(CallLog {
        file: Arc::new(Mutex::new(file)),
    })
}

/// One client per service, made on first use.
pub struct Clients {
    config: OnceCell<aws_config::SdkConfig>,
    iam: OnceCell<aws_sdk_iam::Client>,
    s3: OnceCell<aws_sdk_s3::Client>,
    ec2: OnceCell<aws_sdk_ec2::Client>,
    ssm: OnceCell<aws_sdk_ssm::Client>,
    kinesis: OnceCell<aws_sdk_kinesis::Client>,
    apigateway: OnceCell<aws_sdk_apigateway::Client>,
    elbv2: OnceCell<aws_sdk_elasticloadbalancingv2::Client>,
    kafka: OnceCell<aws_sdk_kafka::Client>,
    kafkaconnect: OnceCell<aws_sdk_kafkaconnect::Client>,
    mwaa: OnceCell<aws_sdk_mwaa::Client>,
    emrserverless: OnceCell<aws_sdk_emrserverless::Client>,
    sts: OnceCell<aws_sdk_sts::Client>,
    servicequotas: OnceCell<aws_sdk_servicequotas::Client>,
    pricing: OnceCell<aws_sdk_pricing::Client>,
    account: OnceCell<String>,
    pub limiter: Limiter,
    log: Option<CallLog>,
}

impl Default for Clients {
    fn default() -> Self {
        Self::new()
    }
}

macro_rules! client {
    ($fn:ident, $field:ident, $sdk:ident, $extra:expr) => {
        pub async fn $fn(&self) -> &$sdk::Client {
            self.$field
                .get_or_init(|| async {
                    let shared = self.config().await;
                    let mut b = $sdk::config::Builder::from(shared)
                        .retry_classifier(super::retry::UnknownOutcome)
                        .interceptor(super::retry::MarkNotIdempotent);
                    if let Some(log) = &self.log {
                        b = b.interceptor(log.clone());
                    }
                    #[allow(clippy::redundant_closure_call)]
                    let b = ($extra)(b);
                    $sdk::Client::from_conf(b.build())
                })
                .await
        }
    };
}

impl Clients {
    pub fn new() -> Self {
        Clients {
            config: OnceCell::new(),
            iam: OnceCell::new(),
            s3: OnceCell::new(),
            ec2: OnceCell::new(),
            ssm: OnceCell::new(),
            kinesis: OnceCell::new(),
            apigateway: OnceCell::new(),
            elbv2: OnceCell::new(),
            kafka: OnceCell::new(),
            kafkaconnect: OnceCell::new(),
            mwaa: OnceCell::new(),
            emrserverless: OnceCell::new(),
            sts: OnceCell::new(),
            servicequotas: OnceCell::new(),
            pricing: OnceCell::new(),
            account: OnceCell::new(),
            limiter: Limiter::from_env(),
            log: call_log(),
        }
    }

    pub async fn config(&self) -> &aws_config::SdkConfig {
        self.config
            .get_or_init(|| async {
                aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
            })
            .await
    }

    pub async fn region(&self) -> String {
        self.config()
            .await
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".into())
    }

    client!(iam, iam, aws_sdk_iam, |b| b);
    client!(ec2, ec2, aws_sdk_ec2, |b| b);
    client!(ssm, ssm, aws_sdk_ssm, |b| b);
    client!(kinesis, kinesis, aws_sdk_kinesis, |b| b);
    client!(apigateway, apigateway, aws_sdk_apigateway, |b| b);
    client!(elbv2, elbv2, aws_sdk_elasticloadbalancingv2, |b| b);
    client!(sts, sts, aws_sdk_sts, |b| b);
    client!(servicequotas, servicequotas, aws_sdk_servicequotas, |b| b);
    client!(kafka, kafka, aws_sdk_kafka, |b| b);
    client!(kafkaconnect, kafkaconnect, aws_sdk_kafkaconnect, |b| b);
    client!(emrserverless, emrserverless, aws_sdk_emrserverless, |b| b);
    client!(
        mwaa,
        mwaa,
        aws_sdk_mwaa,
        |b: aws_sdk_mwaa::config::Builder| {
            if endpoint_overridden("AWS_ENDPOINT_URL_MWAA") {
                b.interceptor(NoHostPrefix)
            } else {
                b
            }
        }
    );

    /// The Price List Query API's client, in `endpoint_region` (the API answers in a few
    /// regions only, with every region's prices). A price is advice: two attempts within 10
    /// seconds, then the caller falls back to its table, rather than a plan that hangs offline.
    pub async fn pricing(&self, endpoint_region: &'static str) -> &aws_sdk_pricing::Client {
        self.pricing
            .get_or_init(|| async {
                let shared = self.config().await;
                let mut b = aws_sdk_pricing::config::Builder::from(shared)
                    .region(aws_sdk_pricing::config::Region::from_static(
                        endpoint_region,
                    ))
                    .retry_config(
                        aws_sdk_pricing::config::retry::RetryConfig::standard()
                            .with_max_attempts(2),
                    )
                    .timeout_config(
                        aws_sdk_pricing::config::timeout::TimeoutConfig::builder()
                            .operation_timeout(std::time::Duration::from_secs(10))
                            .connect_timeout(std::time::Duration::from_secs(3))
                            .build(),
                    );
                if let Some(log) = &self.log {
                    b = b.interceptor(log.clone());
                }
                aws_sdk_pricing::Client::from_conf(b.build())
            })
            .await
    }

    /// Whether there are credentials and a region to call AWS with: their absence said in a
    /// sentence a person can act on, not the SDK's dispatch failure.
    pub async fn usable(&self) -> Result<(), ProviderError> {
        use aws_credential_types::provider::ProvideCredentials;
        let config = self.config().await;
        let hint = "set AWS_PROFILE (a profile in ~/.aws), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws sso login`";
        let Some(provider) = config.credentials_provider() else {
            return Err(ProviderError::Credentials(format!(
                "none configured: {hint}"
            )));
        };
        if let Err(e) = provider.provide_credentials().await {
            return Err(ProviderError::Credentials(format!("{e}: {hint}")));
        }
        if config.region().is_none() {
            return Err(ProviderError::Credentials(
                "no AWS region: set AWS_REGION, or `region` in the profile".into(),
            ));
        }
        Ok(())
    }

    /// The account the credentials belong to (for ARNs the services do not return).
    pub async fn account(&self) -> Result<&str, ProviderError> {
        self.account
            .get_or_try_init(|| async {
                self.usable().await?;
                let out = self
                    .sts()
                    .await
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| api_error("GetCallerIdentity", e))?;
                Ok::<String, ProviderError>(out.account().unwrap_or_default().to_string())
            })
            .await
            .map(String::as_str)
    }
    client!(s3, s3, aws_sdk_s3, |b: aws_sdk_s3::config::Builder| {
        // Local S3 endpoints (moto, MinIO) serve buckets by path, not by host name.
        let custom = std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
            || std::env::var_os("AWS_ENDPOINT_URL").is_some();
        b.force_path_style(custom)
    });
}

/// An AWS SDK error as the service gave it: `Code: message`, else the error chain (for
/// messages a person reads; the engine's errors go through [`api_error`]).
pub fn describe<E, R>(e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match (e.code(), e.message()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_string(),
        _ => aws_smithy_types::error::display::DisplayErrorContext(e).to_string(),
    }
}

/// The service's error code of a failed call, if it got that far.
pub fn code_of<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> Option<&str> {
    match e {
        SdkError::ServiceError(s) => s.err().code(),
        _ => None,
    }
}

/// Whether a call failed because the thing is not there: by error code, or by HTTP 404 when a
/// service (or an emulator) answers without a code.
pub fn is_not_found<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>, code: &str) -> bool
where
    R: HasStatus,
{
    match e {
        SdkError::ServiceError(s) => s.err().code() == Some(code) || s.raw().status_code() == 404,
        _ => false,
    }
}

/// The HTTP status of a raw response.
pub trait HasStatus {
    fn status_code(&self) -> u16;
}

impl HasStatus for aws_smithy_runtime_api::http::Response {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// A failed call as the engine reports it: operation, AWS error code, message, and whether a
/// later attempt may succeed.
///
/// Retryable, as the AWS SDKs' standard retry classifier decides: the throttling and transient
/// error codes it lists (`aws_runtime::retries::classifiers::{THROTTLING_ERRORS,
/// TRANSIENT_ERRORS}`), any 5xx answer, and calls that timed out, could not be sent or got an
/// unreadable answer. The SDK has already retried these up to its attempt limit; the engine may
/// try again later within the operation's timeout.
pub fn api_error<E, R>(operation: &str, e: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: HasStatus + std::fmt::Debug + Send + Sync + 'static,
{
    use aws_runtime::retries::classifiers::{THROTTLING_ERRORS, TRANSIENT_ERRORS};
    match &e {
        SdkError::ServiceError(s) => {
            let code = s.err().code().unwrap_or("Unknown");
            ProviderError::Api {
                operation: operation.into(),
                code: code.into(),
                message: s.err().message().unwrap_or_default().into(),
                retryable: THROTTLING_ERRORS.contains(&code)
                    || TRANSIENT_ERRORS.contains(&code)
                    || s.raw().status_code() >= 500,
            }
        }
        // Nothing listens there: the SDK already tried again (its standard retry mode), and
        // waiting longer does not start the service. Fail at once, saying so.
        SdkError::DispatchFailure(_) if connection_refused(&e) => ProviderError::Api {
            operation: operation.into(),
            code: "ConnectionRefused".into(),
            message: format!(
                "nothing answers at the service's endpoint (connection refused){}",
                endpoint_hint()
            ),
            retryable: false,
        },
        other => ProviderError::Api {
            operation: operation.into(),
            code: match other {
                SdkError::TimeoutError(_) => "Timeout",
                SdkError::DispatchFailure(_) => "DispatchFailure",
                SdkError::ResponseError(_) => "ResponseError",
                _ => "ClientError",
            }
            .into(),
            message: aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
            retryable: !matches!(other, SdkError::ConstructionFailure(_)),
        },
    }
}

/// Whether a failed call's cause is a refused TCP connection.
fn connection_refused(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
        {
            return true;
        }
        cause = c.source();
    }
    false
}

/// Where the calls went, when an endpoint override sends them somewhere local.
fn endpoint_hint() -> String {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) => format!(
            " at {url} (AWS_ENDPOINT_URL); for `--env local`, is the twin running? `pinctl local status`"
        ),
        Err(_) => String::new(),
    }
}

/// A worker's AWS settings: the default chain, with the region given (or the chain's).
pub async fn worker_config(region: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(r) = region.filter(|r| !r.is_empty()) {
        loader = loader.region(aws_config::Region::new(r.to_string()));
    }
    loader.load().await
}

/// An S3 client for a worker, addressing buckets by path when the endpoint is overridden
/// (moto, MinIO).
pub async fn worker_s3(region: Option<&str>) -> aws_sdk_s3::Client {
    let shared = worker_config(region).await;
    let custom = std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
        || std::env::var_os("AWS_ENDPOINT_URL").is_some();
    let conf = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(custom)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// A Kinesis client for a worker.
pub async fn worker_kinesis(region: Option<&str>) -> aws_sdk_kinesis::Client {
    aws_sdk_kinesis::Client::new(&worker_config(region).await)
}
