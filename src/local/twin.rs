//! `pinctl local start | status | stop | env | dag`: the local twin's supervisor. `start` picks
//! loopback ports, writes the endpoint settings the `local` env reads (`endpoints.env`), and
//! starts a detached supervisor that runs moto server, the emulator and Apache Kafka (one KRaft
//! node, see [`super::kafka`]), then keeps the data
//! plane equal to what was provisioned (see `dataplane`). Its state is `twin.json`; `stop` ends the
//! supervisor, which ends every process it started and nothing else.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::dataplane::{self, DataPlane};
use super::procs::{self, Kind, ProcStatus, Procs, Spec};

pub const DEFAULT_DIR: &str = ".pinctl/local";

/// `scripts/moto/pinctl_moto_fidelity.py`, which the supervisor gives its moto server.
const MOTO_CORRECTIONS: &str = include_str!("../../scripts/moto/pinctl_moto_fidelity.py");

/// The environment variable that gives moto (through `scripts/moto/pinctl_moto_fidelity.py`) and
/// the emulator the twin's propagation delay, in seconds.
pub const PROPAGATION_DELAY_ENV: &str = "PINCTL_PROPAGATION_DELAY";

/// `twin.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub supervisor_pid: u32,
    pub dir: PathBuf,
    pub ready: bool,
    pub endpoints: BTreeMap<String, String>,
    pub processes: Vec<ProcStatus>,
    /// The Apache Kafka version of the twin's broker (every MSK cluster's brokers), whatever
    /// `kafka_version` a cluster asked for.
    #[serde(default)]
    pub kafka_version: Option<String>,
    /// How long moto and the emulator make a change take to propagate (seconds; 0: off).
    #[serde(default)]
    pub propagation_delay_s: Option<f64>,
    /// Share of moto's and the emulator's calls answered with a fault (0: off).
    #[serde(default)]
    pub fault_rate: Option<f64>,
    /// What the last look at the provisioned resources could not read or run.
    pub problems: Vec<String>,
    pub updated: String,
}

impl Status {
    pub fn read(dir: &Path) -> Option<Status> {
        let text = std::fs::read_to_string(dir.join("twin.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn write(&self) -> Result<()> {
        let tmp = self.dir.join("twin.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self)?)?;
        std::fs::rename(&tmp, self.dir.join("twin.json"))?;
        Ok(())
    }

    pub fn alive(&self) -> bool {
        procs::alive(self.supervisor_pid)
    }
}

/// The tools the twin runs, found where `scripts/test.sh` installs them or on PATH.
pub struct Tools {
    pub moto: PathBuf,
    /// Apache Kafka, the broker every MSK cluster of the twin is.
    pub kafka: super::kafka::Install,
    pub airflow: Option<PathBuf>,
}

impl Tools {
    pub fn find() -> Result<Tools> {
        let home = std::env::var("HOME").unwrap_or_default();
        let moto = std::env::var("PINCTL_MOTO_SERVER")
            .map(PathBuf::from)
            .ok()
            .or_else(|| Some(PathBuf::from(format!("{home}/.cache/pinctl/venv/bin/moto_server"))).filter(|p| p.exists()))
            .or_else(|| which("moto_server"))
            .context("moto_server not found: `scripts/test.sh` installs it (or pip install 'moto[server]'; PINCTL_MOTO_SERVER names it)")?;
        let kafka = super::kafka::Install::find()?;
        let airflow = std::env::var("PINCTL_AIRFLOW_VENV")
            .map(|v| PathBuf::from(v).join("bin/airflow"))
            .ok()
            .or_else(|| {
                Some(PathBuf::from(format!(
                    "{home}/.cache/pinctl/venv-airflow/bin/airflow"
                )))
            })
            .filter(|p| p.exists())
            .or_else(|| which("airflow"));
        Ok(Tools {
            moto,
            kafka,
            airflow,
        })
    }
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .and_then(|p| p.into_string().ok())?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

fn absolute(dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(std::fs::canonicalize(dir)?)
}

/// The endpoint settings of the `local` env: read by `pinctl --env local ...` for every setting
/// the environment does not already have.
pub fn load_endpoints(dir: &Path) {
    let Ok(text) = std::fs::read_to_string(dir.join("endpoints.env")) else {
        return;
    };
    for line in text.lines() {
        if let Some((k, v)) = line
            .trim()
            .strip_prefix("export ")
            .unwrap_or(line)
            .split_once('=')
        {
            if std::env::var_os(k).is_none() {
                // Called before any thread starts (main, before the runtime).
                std::env::set_var(k, v);
            }
        }
    }
}

/// The settings of a twin whose moto server and emulator listen on these loopback ports: the
/// endpoints of the AWS SDKs' "service-specific endpoints" settings (`AWS_ENDPOINT_URL`,
/// `AWS_ENDPOINT_URL_<SERVICE>`), the region, and what stock clients need to reach the
/// emulator (no host prefix for MWAA). `pinctl local env` exports these with the twin's
/// administrator key ([`with_admin`]), which the supervisor writes once moto enforces IAM.
pub fn endpoints_of(moto: u16, emulator: u16, dir: &Path) -> BTreeMap<String, String> {
    let moto = format!("http://127.0.0.1:{moto}");
    let emu = format!("http://127.0.0.1:{emulator}");
    [
        ("AWS_ENDPOINT_URL", moto.as_str()),
        ("AWS_ENDPOINT_URL_KAFKA", &emu),
        ("AWS_ENDPOINT_URL_KAFKACONNECT", &emu),
        ("AWS_ENDPOINT_URL_MWAA", &emu),
        ("AWS_ENDPOINT_URL_PRICING", &emu),
        ("AWS_REGION", "us-east-1"),
        // The AWS CLI v1 (and other botocore-based tools) read the region from here.
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        // MWAA's model puts `api.`/`env.` in front of the endpoint's host; `api.127.0.0.1`
        // does not resolve. Stock SDKs and the AWS CLI skip the prefix with this setting
        // (AWS SDKs and Tools reference guide, "Host prefix injection":
        // https://docs.aws.amazon.com/sdkref/latest/guide/feature-host-prefix.html); pinctl's
        // own MWAA client drops it for any overridden endpoint.
        ("AWS_DISABLE_HOST_PREFIX_INJECTION", "true"),
        // moto has no API Gateway quotas; the limiter need not wait for them.
        (
            "PINCTL_APIGW_RATES",
            "CreateDeployment=20,CreateRestApi=20,DeleteRestApi=20,CreateResource=50",
        ),
        ("PINCTL_TWIN", &dir.display().to_string()),
        // Kafka clients trust the CA of the broker's MSK IAM listener (TLS, as on MSK).
        (
            super::tls::CA_ENV,
            &dir.join("tls/ca.pem").display().to_string(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The settings with the twin's administrator key (IAM user `pinctl-twin-admin`, see
/// [`super::iam`]): what `endpoints.env` holds and `pinctl local env` prints.
pub fn with_admin(
    endpoints: &BTreeMap<String, String>,
    admin: &super::iam::Keys,
) -> BTreeMap<String, String> {
    let mut all = endpoints.clone();
    all.insert("AWS_ACCESS_KEY_ID".into(), admin.access_key_id.clone());
    all.insert(
        "AWS_SECRET_ACCESS_KEY".into(),
        admin.secret_access_key.clone(),
    );
    all
}

fn write_endpoints(dir: &Path, settings: &BTreeMap<String, String>) -> Result<()> {
    let text: String = settings
        .iter()
        .map(|(k, v)| format!("export {k}={v}\n"))
        .collect();
    let tmp = dir.join("endpoints.env.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, dir.join("endpoints.env"))?;
    Ok(())
}

/// The credentials variables a process inherits that would come before the twin's in the AWS
/// SDKs' default chain; removed from the supervisor's environment.
const INHERITED_CREDENTIALS: [&str; 6] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
];

/// What [`start`] found or did.
pub struct Started {
    pub status: Status,
    /// A twin was already running in the directory; nothing was started.
    pub already_running: bool,
    /// How long its services took to be ready.
    pub took: Duration,
}

/// Starts the twin's supervisor in its own session and waits (up to 120 s) until its services
/// are ready. Errors name the supervisor's log when it stops while starting.
///
/// `propagation`: the delay moto and the emulator give every change (`PINCTL_PROPAGATION_DELAY`,
/// read by `scripts/moto/pinctl_moto_fidelity.py` and the emulator); zero turns it off.
/// How `local start` starts the twin.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// Run the MWAA environments' DAGs in Apache Airflow.
    pub airflow: bool,
    /// How long AWS's changes take to propagate ([`PROPAGATION_DELAY_ENV`]).
    pub propagation: Duration,
    /// Share of the emulator's and moto's calls answered with a fault (throttled, failed, or
    /// for moto an answer lost after the call ran).
    pub fault_rate: f64,
    /// How long the emulator's resources stay CREATING, UPDATING and DELETING.
    pub operation_delay: Duration,
}

/// The environment variables through which the supervisor gets the emulator's fault rate and
/// operation delay from `local start`.
const FAULT_RATE_ENV: &str = "PINCTL_TWIN_FAULT_RATE";
const OPERATION_DELAY_ENV: &str = "PINCTL_TWIN_OPERATION_DELAY";

pub async fn start(dir: &Path, options: &StartOptions) -> Result<Started> {
    let (airflow, propagation) = (options.airflow, options.propagation);
    let dir = absolute(dir)?;
    if let Some(s) = Status::read(&dir).filter(Status::alive) {
        return Ok(Started {
            status: s,
            already_running: true,
            took: Duration::ZERO,
        });
    }
    Tools::find()?;
    std::fs::create_dir_all(dir.join("logs"))?;
    let _ = std::fs::remove_file(dir.join("twin.json"));
    // moto keeps its resources in memory: a new twin starts empty, the emulator too.
    let _ = std::fs::remove_file(dir.join("emulator.json"));
    // Where the last twin's units listened.
    let _ = std::fs::remove_file(dir.join("connect-to.json"));
    let (moto, kafka, emulator) = (
        dataplane::free_port()?,
        dataplane::free_port()?,
        dataplane::free_port()?,
    );
    let endpoints = endpoints_of(moto, emulator, &dir);
    // Written by the supervisor with the administrator's key once moto enforces IAM.
    let _ = std::fs::remove_file(dir.join("endpoints.env"));
    let log = std::fs::File::create(dir.join("logs/supervisor.log"))?;
    let mut cmd = std::process::Command::new(std::env::current_exe()?);
    cmd.args(["local", "supervise", "--dir"])
        .arg(&dir)
        .args([
            "--moto-port",
            &moto.to_string(),
            "--kafka-port",
            &kafka.to_string(),
            "--emulator-port",
            &emulator.to_string(),
        ])
        .envs(&endpoints)
        .env(
            PROPAGATION_DELAY_ENV,
            format!("{}", propagation.as_secs_f64()),
        )
        .env(FAULT_RATE_ENV, options.fault_rate.to_string())
        .env(
            OPERATION_DELAY_ENV,
            format!("{}ms", options.operation_delay.as_millis()),
        )
        // The supervisor's own calls use the administrator's key from this file (written once
        // the key exists); nothing the caller's environment holds comes first.
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("aws/credentials"))
        .env("AWS_CONFIG_FILE", dir.join("aws/config"))
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    for k in INHERITED_CREDENTIALS {
        cmd.env_remove(k);
    }
    if !airflow {
        cmd.arg("--no-airflow");
    }
    // Its own session: the twin outlives the shell that started it.
    use std::os::unix::process::CommandExt;
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut child = cmd.spawn().context("starting the supervisor")?;
    let t0 = Instant::now();
    loop {
        if let Some(s) = Status::read(&dir).filter(|s| s.ready) {
            return Ok(Started {
                status: s,
                already_running: false,
                took: t0.elapsed(),
            });
        }
        if let Some(code) = child.try_wait()? {
            bail!(
                "the supervisor stopped ({code}) while starting; its log, {}:\n{}",
                dir.join("logs/supervisor.log").display(),
                tail(&dir.join("logs/supervisor.log"), 30)
            );
        }
        if t0.elapsed() > Duration::from_secs(120) {
            bail!(
                "the twin's services were not ready after 120 s; see {}",
                dir.join("logs").display()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Whether a twin runs in a directory.
pub enum TwinState {
    Running(Status),
    /// Its status file is there but its supervisor is gone (killed, or the machine restarted).
    Stale(Status),
    Absent,
}

/// The twin's state in `dir`.
pub fn status(dir: &Path) -> TwinState {
    match Status::read(dir) {
        Some(s) if s.alive() => TwinState::Running(s),
        Some(s) => TwinState::Stale(s),
        None => TwinState::Absent,
    }
}

/// Stops the twin: its supervisor, then any process it recorded that outlived it. Returns
/// whether there was a twin to stop; its files stay in `dir`.
pub async fn stop(dir: &Path) -> Result<bool> {
    let Some(s) = Status::read(dir) else {
        return Ok(false);
    };
    if s.alive() {
        // The supervisor leads its own session and process group.
        procs::terminate_group(s.supervisor_pid);
        let t0 = Instant::now();
        while procs::alive(s.supervisor_pid) && t0.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // A supervisor killed outright leaves its processes: end those it recorded.
    for p in &s.processes {
        if let Some(pid) = p.pid.filter(|p| procs::alive(*p)) {
            procs::terminate_group(pid);
        }
    }
    let _ = std::fs::remove_file(dir.join("twin.json"));
    Ok(true)
}

/// The twin's endpoint settings as shell `export` lines (`eval "$(pinctl local env)"`).
pub fn env(dir: &Path) -> Result<String> {
    std::fs::read_to_string(dir.join("endpoints.env")).with_context(|| {
        format!(
            "no endpoint settings in {}: run `pinctl local start`",
            dir.display()
        )
    })
}

pub struct Ports {
    pub moto: u16,
    /// The Kafka broker's PLAINTEXT listener.
    pub kafka: u16,
    pub emulator: u16,
}

pub async fn supervise(dir: &Path, ports: Ports, airflow: bool) -> Result<()> {
    let dir = absolute(dir)?;
    let tools = Tools::find()?;
    let exe = std::env::current_exe()?;
    let endpoints = endpoints_of(ports.moto, ports.emulator, &dir);
    let env: Vec<(String, String)> = endpoints.clone().into_iter().collect();
    let service = |program: PathBuf, args: Vec<String>, port: u16, detail: &str| Spec {
        kind: Kind::Service,
        program,
        args,
        env: env.clone(),
        cwd: Some(dir.clone()),
        address: Some(format!("127.0.0.1:{port}")),
        url: None,
        version: String::new(),
        detail: detail.to_string(),
    };
    let mut services = BTreeMap::new();
    let mut moto = service(
        tools.moto.clone(),
        vec![
            "-H".into(),
            "127.0.0.1".into(),
            "-p".into(),
            ports.moto.to_string(),
        ],
        ports.moto,
        "moto server: S3, IAM, EC2, Kinesis, API Gateway, SSM, STS",
    );
    moto.env
        .push(("MOTO_IAM_LOAD_MANAGED_POLICIES".into(), "true".into()));
    // moto's corrections (where it answers differently from AWS, and AWS's propagation delays),
    // as this build carries them; `scripts/setup.sh` makes moto load them from its path.
    let corrections = dir.join("moto");
    std::fs::create_dir_all(&corrections)?;
    std::fs::write(
        corrections.join("pinctl_moto_fidelity.py"),
        MOTO_CORRECTIONS,
    )?;
    moto.env
        .push(("PYTHONPATH".into(), corrections.display().to_string()));
    // moto checks no call until the supervisor turns its enforcement on (see `super::iam`).
    moto.env
        .push(("INITIAL_NO_AUTH_ACTION_COUNT".into(), "inf".into()));
    services.insert("moto".to_string(), moto);
    // A new twin's broker starts empty, as moto does.
    let kafka_data = dir.join("kafka");
    let _ = std::fs::remove_dir_all(&kafka_data);
    // MSK IAM's listener (SASL_SSL, MSK's 9098), with the twin's CA, made before anything runs.
    let kafka_iam = dataplane::free_port()?;
    let kafka_control = dataplane::free_port()?;
    let tls = super::tls::ensure(&dir.join("tls"))?;
    let mut kafka = service(
        exe.clone(),
        vec![
            "local".into(),
            "broker".into(),
            "--port".into(),
            ports.kafka.to_string(),
            "--data".into(),
            kafka_data.display().to_string(),
            "--iam-port".into(),
            kafka_iam.to_string(),
            "--control-port".into(),
            kafka_control.to_string(),
            "--authority".into(),
            format!("http://127.0.0.1:{}", ports.emulator),
            "--tls-dir".into(),
            dir.join("tls").display().to_string(),
        ],
        ports.kafka,
        &format!(
            "Apache Kafka {} (KRaft, one node): every MSK cluster's brokers; this address is MSK's PLAINTEXT port (open only while a cluster admits unauthenticated plaintext clients), MSK IAM (SASL_SSL) is on 127.0.0.1:{kafka_iam}, the emulator's topic API on 127.0.0.1:{kafka_control} (SASL/PLAIN)",
            tools.kafka.version
        ),
    );
    kafka.env.push((
        "PINCTL_KAFKA_HOME".into(),
        tools.kafka.home.display().to_string(),
    ));
    services.insert("kafka".to_string(), kafka);
    // The emulator starts once the administrator's key exists: it is the emulator's.
    let mut emulator = service(
        exe.clone(),
        vec![
            "local".into(),
            "emulator".into(),
            "--listen".into(),
            format!("127.0.0.1:{}", ports.emulator),
            "--state".into(),
            dir.join("emulator.json").display().to_string(),
            "--delay".into(),
            std::env::var(OPERATION_DELAY_ENV).unwrap_or_else(|_| "1s".into()),
            "--fault-rate".into(),
            std::env::var(FAULT_RATE_ENV).unwrap_or_else(|_| "0".into()),
            "--broker".into(),
            format!("127.0.0.1:{}", ports.kafka),
            "--broker-iam".into(),
            format!("127.0.0.1:{kafka_iam}"),
            "--broker-control".into(),
            format!("127.0.0.1:{kafka_control}"),
            "--broker-secret".into(),
            tls.control_secret.display().to_string(),
            // AWS's network rules for MSK, MSK Connect and MWAA, read from moto.
            "--moto".into(),
            format!("http://127.0.0.1:{}", ports.moto),
        ],
        ports.emulator,
        "MSK, MSK Connect, MWAA and Price List APIs",
    );
    let mut procs = Procs::new(dir.join("logs"));
    let mut plane = DataPlane::new(
        dir.clone(),
        env.clone(),
        exe,
        tools.airflow.clone().filter(|_| airflow),
    );
    let clients = crate::clients::aws::Clients::new();
    let mut status = Status {
        supervisor_pid: std::process::id(),
        dir: dir.clone(),
        ready: false,
        endpoints,
        processes: Vec::new(),
        kafka_version: Some(tools.kafka.version.clone()),
        propagation_delay_s: std::env::var(PROPAGATION_DELAY_ENV)
            .ok()
            .and_then(|v| v.parse().ok()),
        fault_rate: std::env::var(FAULT_RATE_ENV)
            .ok()
            .and_then(|v| v.parse().ok()),
        problems: Vec::new(),
        updated: String::new(),
    };
    let mut stop = std::pin::pin!(crate::signal::shutdown_signal());
    tracing::info!("supervising the twin in {}", dir.display());
    loop {
        if !plane.has_iam() && procs.running("moto") {
            let moto_url = format!("http://127.0.0.1:{}", ports.moto);
            let region = status.endpoints["AWS_REGION"].clone();
            let ids = super::iam::bootstrap(&moto_url, &region)
                .await
                .context("creating the twin's IAM users in moto")?;
            std::fs::create_dir_all(dir.join("aws"))?;
            // Empty: the supervisor's config, and the data plane's credentials and config files.
            std::fs::write(dir.join("aws/config"), "")?;
            std::fs::write(dir.join("aws/empty"), "")?;
            let creds = dir.join("aws/credentials.tmp");
            std::fs::write(
                &creds,
                format!(
                    "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
                    ids.admin.access_key_id, ids.admin.secret_access_key
                ),
            )?;
            std::fs::rename(&creds, dir.join("aws/credentials"))?;
            let settings = with_admin(&status.endpoints, &ids.admin);
            write_endpoints(&dir, &settings)?;
            emulator.env = settings.clone().into_iter().collect();
            services.insert("emulator".to_string(), emulator.clone());
            status.endpoints = settings;
            let roles = std::sync::Arc::new(super::iam::Roles::new(&moto_url, &region, &ids).await);
            let endpoint = super::iam::serve(roles.clone(), &dir.join("aws/token")).await?;
            tracing::info!(
                "moto enforces IAM; role credentials are served at {}",
                endpoint.base
            );
            plane.set_iam(dataplane::PlaneIam {
                ids,
                roles,
                endpoint,
                none: dir.join("aws/empty"),
            });
            // Faults in front of moto (throttles, and answers lost after the call ran) start
            // once the twin's own setup is done, so they hit only what runs on the twin.
            let rate: f64 = std::env::var(FAULT_RATE_ENV)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0);
            if rate > 0.0 {
                reqwest::Client::new()
                    .post(format!("{moto_url}/moto-api/pinctl/faults"))
                    .json(&serde_json::json!({ "rate": rate }))
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .context("setting moto's fault rate")?;
                tracing::info!("moto answers {rate} of its calls with a fault");
            }
        }
        let mut desired = services.clone();
        let mut problems = Vec::new();
        if status.ready {
            desired.extend(plane.desired(&clients, &mut problems).await);
        }
        procs.reconcile(&desired).await;
        status.ready = plane.has_iam()
            && ["moto", "kafka", "emulator"]
                .iter()
                .all(|s| procs.running(s));
        status.processes = procs.status();
        status.problems = problems;
        status.updated = chrono::Utc::now().to_rfc3339();
        status.write()?;
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(Duration::from_secs(if status.ready { 2 } else { 0 }) + Duration::from_millis(200)) => {}
        }
    }
    tracing::info!("stopping the twin");
    procs.stop_all().await;
    let _ = std::fs::remove_file(dir.join("twin.json"));
    Ok(())
}

/// Waits (at most `timeout`) until the twin runs a process of every kind in `kinds`; returns
/// the status that shows them. Errors: the twin is not running, stopped meanwhile, or the
/// timeout passed (with what ran and the problems the supervisor saw).
/// One line per process that keeps exiting ([`ProcStatus::crash_looping`]): its name, how it
/// last ended, and the last lines of its log.
pub fn crash_loops(s: &Status) -> Vec<String> {
    s.processes
        .iter()
        .filter(|p| p.crash_looping)
        .map(|p| {
            let log = std::fs::read_to_string(&p.log).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(5)..]
                .iter()
                .map(|l| format!("\n    | {l}"))
                .collect::<String>();
            format!(
                "{} keeps exiting ({} restarts; last {}); the end of {}:{tail}",
                p.name,
                p.restarts,
                p.last_exit.as_deref().unwrap_or("unknown"),
                p.log.display()
            )
        })
        .collect()
}

/// Waits until a process of each of `kinds` runs; fails at once when one of those kinds keeps
/// exiting (see [`crash_loops`]), and after `timeout` otherwise.
pub async fn wait_for(dir: &Path, kinds: &[Kind], timeout: Duration) -> Result<Status> {
    let t0 = Instant::now();
    loop {
        let s = Status::read(dir)
            .filter(Status::alive)
            .context("the twin is not running: `pinctl local start`")?;
        let looping: Vec<String> = crash_loops(&s)
            .into_iter()
            .zip(s.processes.iter().filter(|p| p.crash_looping))
            .filter(|(_, p)| kinds.contains(&p.kind))
            .map(|(line, _)| line)
            .collect();
        if !looping.is_empty() {
            bail!("{}", looping.join("\n"));
        }
        let running = |k: &Kind| {
            s.processes
                .iter()
                .any(|p| &p.kind == k && p.state == "running")
        };
        if kinds.iter().all(running) {
            return Ok(s);
        }
        if t0.elapsed() > timeout {
            let missing: Vec<String> = kinds
                .iter()
                .filter(|k| !running(k))
                .map(|k| format!("{k:?}").to_lowercase())
                .collect();
            bail!(
                "after {} no {} runs in the twin{}",
                humantime::format_duration(timeout),
                missing.join(", "),
                s.problems
                    .iter()
                    .map(|p| format!("\n  problem: {p}"))
                    .collect::<String>()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A DAG run [`trigger_dag`] started.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DagRun {
    pub dag_id: String,
    pub run_id: String,
    /// `success` or `failed` once it ended; `None` when not waited for.
    pub state: Option<String>,
    /// Where Airflow writes the DAG's task logs.
    #[serde(skip)]
    pub task_logs: std::path::PathBuf,
}

/// Triggers a DAG in the twin's Airflow and, with `wait`, follows the run to its end (at most
/// `timeout`). `on_triggered` is told the run id as soon as the run exists.
pub async fn trigger_dag(
    dir: &Path,
    dag: &str,
    wait: bool,
    timeout: Duration,
    on_triggered: impl FnOnce(&str),
) -> Result<DagRun> {
    let s = Status::read(dir)
        .filter(Status::alive)
        .context("the twin is not running: `pinctl local start`")?;
    let tools = Tools::find()?;
    let airflow = tools
        .airflow
        .context("Apache Airflow is not installed (scripts/test.sh installs it)")?;
    let Some(proc) = s.processes.iter().find(|p| p.kind == Kind::Airflow) else {
        bail!(
            "no Airflow runs in the twin yet: an MWAA environment must be AVAILABLE (`pinctl --env local up`){}",
            s.problems.iter().map(|p| format!("\n  {p}")).collect::<String>()
        );
    };
    let environment = proc.name.trim_start_matches("airflow/");
    let home = dataplane::airflow_home(&s.dir, environment);
    let env = dataplane::airflow_env(&home, &std::env::current_exe()?, &airflow);
    let run = |args: Vec<String>| {
        let mut c = std::process::Command::new(&airflow);
        c.args(args)
            .envs(s.endpoints.iter())
            .envs(env.iter().cloned());
        c.output()
    };
    let t0 = Instant::now();
    // The scheduler must have parsed the DAG file first.
    loop {
        let o = run(vec!["dags".into(), "unpause".into(), dag.into()])?;
        if o.status.success() {
            break;
        }
        if t0.elapsed() > Duration::from_secs(180) {
            bail!(
                "DAG {dag} is not known to Airflow after 180 s (is it in the DAG bucket? import errors: `airflow dags list-import-errors`): {}",
                String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or("")
            );
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let run_id = format!(
        "pinctl__{}",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6f")
    );
    let o = run(vec![
        "dags".into(),
        "trigger".into(),
        dag.into(),
        "--run-id".into(),
        run_id.clone(),
    ])?;
    if !o.status.success() {
        bail!(
            "airflow dags trigger {dag}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    on_triggered(&run_id);
    let mut result = DagRun {
        dag_id: dag.to_string(),
        run_id: run_id.clone(),
        state: None,
        task_logs: home.join("logs").join(format!("dag_id={dag}")),
    };
    if !wait {
        return Ok(result);
    }
    loop {
        let o = run(vec![
            "dags".into(),
            "list-runs".into(),
            "-d".into(),
            dag.into(),
            "-o".into(),
            "json".into(),
        ])?;
        // Airflow logs to stdout too: the document is the line that starts the JSON array.
        let stdout = String::from_utf8_lossy(&o.stdout);
        let runs: serde_json::Value = stdout
            .lines()
            .filter(|l| l.starts_with("[{") || l.trim() == "[]")
            .find_map(|l| serde_json::from_str(l).ok())
            .unwrap_or_default();
        let state = runs
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["run_id"] == run_id.as_str())
            .and_then(|r| r["state"].as_str())
            .unwrap_or("unknown")
            .to_string();
        if state == "success" || state == "failed" {
            result.state = Some(state);
            return Ok(result);
        }
        if !Status::read(dir).is_some_and(|s| s.alive()) {
            bail!("the twin stopped while DAG run {run_id} of {dag} was {state}");
        }
        if t0.elapsed() > timeout {
            bail!(
                "DAG run {run_id} of {dag} is still {state} after {}",
                humantime::format_duration(timeout)
            );
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
