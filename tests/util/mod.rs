//! Helpers for tests that drive the `pinctl` binary the way a user does.

pub mod answers;
pub mod backend;
pub mod calls;
pub mod jobs;
pub mod plan;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

use plan::{DriftReport, Plan};

/// The pipeline stack's `uid` (the course's user id): names of topics, streams, tables, roles.
pub const UID: &str = "0e36c8cd403d";
/// `${aws.account_hash}` on moto: the first 10 hex digits of SHA-256 of
/// `123456789012:us-east-1`, moto's default account and the tests' region (checked by
/// `preflight::the_account_hash_is_a_digest_of_the_account_and_region`).
pub const ACCOUNT_HASH: &str = "1fd162ee33";
/// The pipeline's data bucket, `user-<UID>-<ACCOUNT_HASH>-bucket`.
pub const BUCKET: &str = "user-0e36c8cd403d-1fd162ee33-bucket";

/// Polls `check` every 50 ms until it answers `Some`, for at most `within` of wall-clock time,
/// then panics naming `what`. A bound on waiting, not a timing assertion: on a loaded CI machine
/// (Spark, Airflow and a broker beside the test) a state the emulator reaches after 200 ms can
/// take seconds to be read back, so `within` is generous.
pub async fn eventually<T, F, Fut>(what: &str, within: std::time::Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if std::time::Instant::now() > deadline {
            panic!("{what}: still not so after {within:?}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// How long a test waits for the emulator (delays of 10–200 ms) to settle, loaded machine
/// included.
pub const SETTLE: std::time::Duration = std::time::Duration::from_secs(120);

/// Polls `check` every 50 ms until it is true, for at most [`SETTLE`], then panics.
pub async fn wait_for<F, Fut>(mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + SETTLE;
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "the state did not change within {SETTLE:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A scratch project: a stack file, its state, and a simulated cloud (`PINCTL_SIM_DIR`).
pub struct Project {
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
    /// The stack file, relative to the project.
    pub file: String,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    pub fn json(&self) -> Value {
        self.parse("one JSON document")
    }

    /// Stdout as `up --json` / `down --json` stream it: one JSON event per line.
    pub fn events(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| {
                    panic!(
                        "stdout line is not a JSON event ({e}): {l}\nstderr:\n{}",
                        self.stderr
                    )
                })
            })
            .collect()
    }

    /// The `apply_complete` event that ends `up --json` / `down --json`.
    pub fn apply_report(&self) -> Value {
        let events = self.events();
        let last = events.last().cloned().unwrap_or_default();
        assert_eq!(
            last["type"], "apply_complete",
            "the last event ends the apply"
        );
        last
    }

    /// Stdout as the plan `plan --json` prints.
    pub fn plan(&self) -> Plan {
        self.parse("a plan")
    }

    /// Stdout as the drift report `diff --json` prints.
    pub fn drift(&self) -> DriftReport {
        self.parse("a drift report")
    }

    fn parse<T: serde::de::DeserializeOwned>(&self, what: &str) -> T {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not {what} ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    #[track_caller]
    pub fn expect(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

impl Project {
    pub fn new() -> Self {
        Project {
            dir: tempfile::tempdir().expect("temp dir"),
            env: Vec::new(),
            file: "stack.yaml".into(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn sim_dir(&self) -> PathBuf {
        self.path().join("cloud")
    }

    pub fn write(&self, rel: &str, text: &str) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub fn stack(&self, yaml: &str) {
        self.write("stack.yaml", yaml);
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_pinctl"));
        c.current_dir(self.path())
            .arg("-f")
            .arg(&self.file)
            .args(args)
            .env("PINCTL_SIM_DIR", self.sim_dir())
            .env_remove("PINCTL_ENV")
            .env_remove("PINCTL_FILE")
            .stdin(Stdio::null());
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().expect("run pinctl"))
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn pinctl")
    }

    pub fn state_path(&self, stack: &str, env: &str) -> PathBuf {
        self.path()
            .join(".pinctl/state")
            .join(stack)
            .join(format!("{env}.json"))
    }

    pub fn state(&self, stack: &str, env: &str) -> Value {
        let text = std::fs::read_to_string(self.state_path(stack, env)).expect("state file");
        serde_json::from_str(&text).expect("state is JSON")
    }

    /// The physical id recorded for resource `name`.
    #[track_caller]
    pub fn physical_id(&self, stack: &str, env: &str, name: &str) -> String {
        self.state(stack, env)["resources"][name]["physical_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no physical id recorded for `{name}`"))
            .to_string()
    }

    /// Runs `plan --json`, which must find changes (exit code 2), and reads the plan.
    #[track_caller]
    pub fn plan_changes(&self) -> Plan {
        let r = self.run(&["plan", "--json"]);
        r.expect(2);
        r.plan()
    }

    /// Runs `diff --json`, which must find drift (exit code 2), and reads the report.
    #[track_caller]
    pub fn drift_report(&self) -> DriftReport {
        let r = self.run(&["diff", "--json"]);
        r.expect(2);
        r.drift()
    }

    /// The simulated cloud's objects.
    pub fn objects(&self) -> Vec<Value> {
        let dir = self.sim_dir().join("objects");
        let Ok(entries) = std::fs::read_dir(dir) else {
            return vec![];
        };
        let mut v: Vec<Value> = entries
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .map(|e| serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap())
            .collect();
        v.sort_by_key(|o| o["props"]["name"].as_str().unwrap_or_default().to_string());
        v
    }

    pub fn object_named(&self, name: &str) -> Option<Value> {
        self.objects()
            .into_iter()
            .find(|o| o["props"]["name"] == name)
    }

    /// Replaces an object's props behind pinctl's back, as someone using the console would.
    pub fn tamper(&self, name: &str, f: impl FnOnce(&mut Value)) {
        let mut o = self.object_named(name).expect("object exists");
        f(&mut o["props"]);
        let id = o["id"].as_str().unwrap().to_string();
        let p = self.sim_dir().join("objects").join(format!("{id}.json"));
        std::fs::write(p, serde_json::to_vec_pretty(&o).unwrap()).unwrap();
    }

    pub fn remove_object(&self, name: &str) {
        let o = self.object_named(name).expect("object exists");
        let id = o["id"].as_str().unwrap();
        std::fs::remove_file(self.sim_dir().join("objects").join(format!("{id}.json"))).unwrap();
    }

    /// Events the simulated cloud logged: (time ns, begin|end|refused, op, resource, id).
    pub fn events(&self) -> Vec<Event> {
        let Ok(text) = std::fs::read_to_string(self.sim_dir().join("events.log")) else {
            return vec![];
        };
        text.lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                Event {
                    ts: v["ts_ns"].as_str().unwrap().parse().unwrap(),
                    event: v["event"].as_str().unwrap().into(),
                    op: v["op"].as_str().unwrap().into(),
                    resource: v["resource"].as_str().unwrap().into(),
                }
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
pub struct Event {
    pub ts: u128,
    pub event: String,
    pub op: String,
    pub resource: String,
}

/// The most operations of kind `op` that were in flight at once.
pub fn max_in_flight(events: &[Event], op: &str) -> usize {
    let mut marks: Vec<(u128, i32)> = events
        .iter()
        .filter(|e| e.op == op && (e.event == "begin" || e.event == "end"))
        .map(|e| (e.ts, if e.event == "begin" { 1 } else { -1 }))
        .collect();
    // At equal times an end comes before a begin.
    marks.sort();
    let (mut cur, mut max) = (0i32, 0i32);
    for (_, d) in marks {
        cur += d;
        max = max.max(cur);
    }
    max as usize
}

pub fn first(events: &[Event], event: &str, op: &str, resource: &str) -> u128 {
    events
        .iter()
        .find(|e| e.event == event && e.op == op && e.resource == resource)
        .unwrap_or_else(|| panic!("no {event} {op} of {resource}"))
        .ts
}

/// A moto server on a free loopback port, stopped when dropped.
pub struct Moto {
    child: Option<Child>,
    pub endpoint: String,
    /// The access key the test's own calls sign with (`testing` until moto enforces IAM).
    pub keys: (String, String),
}

impl Moto {
    /// The local twin's moto server, with the administrator's key `pinctl local env` prints
    /// (moto enforces IAM there).
    pub fn of_twin(settings: &[(String, String)]) -> Moto {
        let get = |k: &str| {
            settings
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("`pinctl local env` sets no {k}"))
        };
        Moto {
            child: None,
            endpoint: get("AWS_ENDPOINT_URL"),
            keys: (get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")),
        }
    }

    /// A moto server that answers as AWS does while changes propagate, for the tests' delay:
    /// `PINCTL_TEST_PROPAGATION_DELAY` seconds (default 2; `0` turns it off), read by
    /// `scripts/moto/pinctl_moto_fidelity.py`.
    pub fn start() -> Moto {
        Self::start_with_delay(&test_propagation_delay())
    }

    /// A moto server with a propagation delay of `seconds` (`"0"`: none).
    pub fn start_with_delay(seconds: &str) -> Moto {
        let exe = std::env::var("PINCTL_MOTO_SERVER").unwrap_or_else(|_| {
            let home = std::env::var("HOME").unwrap_or_default();
            format!("{home}/.cache/pinctl/venv/bin/moto_server")
        });
        assert!(
            Path::new(&exe).exists(),
            "moto_server not found at {exe}: run the tests with scripts/test.sh, which installs it"
        );
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut child = Command::new(&exe)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                // AWS managed policies (AmazonSSMManagedInstanceCore, ...) exist as on AWS.
                .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
                .env("PINCTL_PROPAGATION_DELAY", seconds)
                // This checkout's corrections to moto (loaded through setup.sh's .pth file).
                .env(
                    "PYTHONPATH",
                    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/moto"),
                )
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start moto_server");
            let endpoint = format!("http://127.0.0.1:{port}");
            for _ in 0..200 {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Moto {
                        child: Some(child),
                        endpoint,
                        keys: ("testing".into(), "testing".into()),
                    };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("moto_server did not start");
    }

    /// Environment that points the AWS SDK (in pinctl and in the test) at this server.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID".into(), self.keys.0.clone()),
            ("AWS_SECRET_ACCESS_KEY".into(), self.keys.1.clone()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ]
    }

    /// What an emulator beside this server needs to reach it with the tests' propagation delay.
    pub fn propagation_env(&self) -> Vec<(String, String)> {
        let mut env = self.env();
        env.push(("PINCTL_PROPAGATION_DELAY".into(), test_propagation_delay()));
        env
    }

    /// SDK configuration pointing at this server, for checks made from the test.
    pub async fn config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                &self.keys.0,
                &self.keys.1,
                None,
                None,
                "test",
            ))
            .load()
            .await
    }

    pub async fn s3(&self) -> aws_sdk_s3::Client {
        let creds =
            aws_sdk_s3::config::Credentials::new(&self.keys.0, &self.keys.1, None, None, "test");
        let conf = aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(&self.endpoint)
            .credentials_provider(creds)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }
}

/// The propagation delay of the tests' moto servers and emulators, in seconds.
pub fn test_propagation_delay() -> String {
    std::env::var("PINCTL_TEST_PROPAGATION_DELAY").unwrap_or_else(|_| "2".into())
}

/// The pinctl emulator of MSK, MSK Connect and MWAA, in its own process on a free port.
pub struct Emulator {
    child: Option<Child>,
    pub endpoint: String,
}

impl Emulator {
    /// An emulator someone else runs (the local twin's).
    pub fn at(endpoint: &str) -> Emulator {
        Emulator {
            child: None,
            endpoint: endpoint.to_string(),
        }
    }

    pub fn start(delay: &str, state: Option<&Path>) -> Emulator {
        Self::start_with(delay, state, 0.0, None)
    }

    /// An emulator beside `moto` that acts on moto's IAM and VPC resources as the services do
    /// while changes propagate (the tests' delay): roles just made are not yet assumable, and
    /// clusters, connectors and environments leave ENIs in moto that linger after them.
    pub fn start_on(delay: &str, moto: &Moto) -> Emulator {
        Self::start_full(
            delay,
            None,
            0.0,
            None,
            Some(&moto.endpoint),
            &moto.propagation_env(),
        )
    }

    /// `broker`: the Kafka broker the topic API acts on (none: topics live in the emulator only).
    pub fn start_with(
        delay: &str,
        state: Option<&Path>,
        fault_rate: f64,
        broker: Option<&str>,
    ) -> Emulator {
        Self::start_full(delay, state, fault_rate, broker, None, &[])
    }

    /// An emulator that checks AWS's network rules against the moto server at `moto`.
    pub fn with_moto(delay: &str, moto: &str) -> Emulator {
        Self::start_full(delay, None, 0.0, None, Some(moto), &[])
    }

    /// Every option: `moto`, moto server's endpoint for the network rules (none: skipped).
    pub fn start_full(
        delay: &str,
        state: Option<&Path>,
        fault_rate: f64,
        broker: Option<&str>,
        moto: Option<&str>,
        env: &[(String, String)],
    ) -> Emulator {
        Self::start_args(delay, state, fault_rate, broker, moto, env, &[])
    }

    /// The emulator in front of a broker with MSK IAM: `broker` its PLAINTEXT listener, `iam`
    /// its SASL_SSL one, `moto` where credentials and policies are checked (and the network
    /// rules read).
    /// It listens on `port` and keeps its state in `state`, so that a restarted emulator is
    /// the same authority to the broker.
    ///
    /// `control` is the broker's control listener and the file of its secret, which the topic
    /// API acts through.
    pub fn for_msk_iam(
        moto: &Moto,
        broker: &str,
        iam: &str,
        control: (&str, &Path),
        port: u16,
        state: Option<&Path>,
    ) -> Emulator {
        let listen = format!("127.0.0.1:{port}");
        let secret = control.1.display().to_string();
        Self::start_args(
            "100ms",
            state,
            0.0,
            Some(broker),
            Some(&moto.endpoint),
            &[],
            &[
                "--broker-iam",
                iam,
                "--broker-control",
                control.0,
                "--broker-secret",
                &secret,
                "--listen",
                &listen,
            ],
        )
    }

    fn start_args(
        delay: &str,
        state: Option<&Path>,
        fault_rate: f64,
        broker: Option<&str>,
        moto: Option<&str>,
        env: &[(String, String)],
        extra: &[&str],
    ) -> Emulator {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pinctl"));
        cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let rate = fault_rate.to_string();
        if !extra.contains(&"--listen") {
            cmd.args(["local", "emulator", "--listen", "127.0.0.1:0"]);
        } else {
            cmd.args(["local", "emulator"]);
        }
        cmd.args(["--delay", delay, "--fault-rate", &rate]);
        if let Some(b) = broker {
            cmd.args(["--broker", b]);
        }
        if let Some(m) = moto {
            cmd.args(["--moto", m]);
        }
        if let Some(s) = state {
            cmd.arg("--state").arg(s);
        }
        cmd.args(extra);
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the emulator");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
            &mut line,
        )
        .unwrap();
        Emulator {
            child: Some(child),
            endpoint: line.trim().to_string(),
        }
    }

    pub async fn config(&self, max_attempts: u32) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .retry_config(
                aws_config::retry::RetryConfig::standard()
                    .with_max_attempts(max_attempts)
                    .with_initial_backoff(std::time::Duration::from_millis(5)),
            )
            .load()
            .await
    }

    pub async fn kafka(&self) -> aws_sdk_kafka::Client {
        aws_sdk_kafka::Client::new(&self.config(1).await)
    }

    pub async fn kafkaconnect(&self) -> aws_sdk_kafkaconnect::Client {
        aws_sdk_kafkaconnect::Client::new(&self.config(1).await)
    }

    pub async fn mwaa(&self) -> aws_sdk_mwaa::Client {
        let conf = aws_sdk_mwaa::config::Builder::from(&self.config(1).await)
            .interceptor(pinctl::clients::aws::NoHostPrefix)
            .build();
        aws_sdk_mwaa::Client::from_conf(conf)
    }

    /// Points the kafka, kafkaconnect, mwaa and pricing clients at the emulator.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            "AWS_ENDPOINT_URL_KAFKA",
            "AWS_ENDPOINT_URL_KAFKACONNECT",
            "AWS_ENDPOINT_URL_MWAA",
            "AWS_ENDPOINT_URL_PRICING",
        ]
        .iter()
        .map(|k| (k.to_string(), self.endpoint.clone()))
        .collect()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Apache Kafka (one KRaft node, `pinctl local broker`, installed by `scripts/setup.sh`) on a
/// free loopback port with a scratch data directory, stopped when dropped.
pub struct Kafka {
    child: Child,
    _data: tempfile::TempDir,
    /// The PLAINTEXT listener (MSK's 9092).
    pub address: String,
    /// With MSK IAM: the control listener (SASL/PLAIN), which [`Kafka::create_topics`] uses.
    control: Option<String>,
}

impl Kafka {
    /// Starts the broker and returns once it answers a metadata request (a few seconds).
    pub fn start() -> Kafka {
        // A free port can be taken by another test's process between the pick and the bind:
        // then another port.
        for _ in 0..3 {
            match Self::try_start(free_port(), None) {
                Ok(k) => return k,
                Err(e) if e.contains("Address already in use") => continue,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("the Kafka broker found no free port in 3 tries")
    }

    /// A broker on `port` that also listens with MSK IAM on `iam_port` and for its control
    /// principal on `control_port`, asking `authority` (the emulator's URL); its CA is
    /// [`Kafka::ca`], its control secret [`Kafka::control_secret`] (made before it starts, so
    /// an emulator may be given it first).
    pub fn start_iam(port: u16, iam_port: u16, control_port: u16, authority: &str) -> Kafka {
        Self::try_start(port, Some((iam_port, control_port, authority)))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The CA (PEM) an IAM broker's certificate is signed by.
    pub fn ca(&self) -> std::path::PathBuf {
        self._data.path().join("tls/ca.pem")
    }

    /// An admin client as the control principal (SASL/PLAIN on the control listener) on an
    /// IAM broker, PLAINTEXT on another. Must be called inside a tokio runtime.
    pub fn control_admin(&self) -> pinctl::clients::kafka_admin::BrokerAdmin {
        use pinctl::clients::kafka_admin::BrokerAdmin;
        match &self.control {
            Some(c) => {
                let secret = pinctl::local::tls::read_secret(&self.control_secret()).unwrap();
                BrokerAdmin::connect_plain(c, pinctl::local::kafka::CONTROL_USER, &secret)
            }
            None => BrokerAdmin::connect(&self.address),
        }
        .unwrap()
    }

    /// The file of an IAM broker's control secret.
    pub fn control_secret(&self) -> std::path::PathBuf {
        self._data.path().join("tls/control.secret")
    }

    /// Starts the broker; `Err` with its log when it exits before it is ready.
    fn try_start(port: u16, iam: Option<(u16, u16, &str)>) -> Result<Kafka, String> {
        if let Err(e) = pinctl::local::kafka::Install::find() {
            panic!("{e:#}: run the tests with scripts/test.sh, which installs it");
        }
        let data = tempfile::tempdir().unwrap();
        let mut extra = Vec::new();
        if let Some((iam_port, control_port, authority)) = iam {
            extra.extend([
                "--iam-port".to_string(),
                iam_port.to_string(),
                "--control-port".into(),
                control_port.to_string(),
                "--authority".into(),
                authority.into(),
                "--tls-dir".into(),
                data.path().join("tls").display().to_string(),
            ]);
        }
        let log = std::fs::File::create(data.path().join("broker.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_pinctl"))
            .args(["local", "broker", "--port", &port.to_string(), "--data"])
            .arg(data.path().join("kafka"))
            .args(&extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start pinctl local broker");
        let address = format!("127.0.0.1:{port}");
        let mut kafka = Kafka {
            child,
            _data: data,
            address,
            control: iam.map(|(_, control_port, _)| format!("127.0.0.1:{control_port}")),
        };
        kafka.wait_ready()?;
        Ok(kafka)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let t0 = std::time::Instant::now();
        let client: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &self.address)
            .set("log_level", "0")
            .create()
            .unwrap();
        loop {
            if let Ok(m) = client.fetch_metadata(None, std::time::Duration::from_secs(1)) {
                if !m.brokers().is_empty() {
                    eprintln!(
                        "Kafka broker at {} ready in {:.1} s",
                        self.address,
                        t0.elapsed().as_secs_f64()
                    );
                    return Ok(());
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "the Kafka broker exited ({status}): {}",
                    self.log()
                ));
            }
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(90),
                "the Kafka broker is not ready after 90 s: {}",
                self.log()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// The broker's output so far (its formatting and log lines).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._data.path().join("broker.log")).unwrap_or_default()
    }

    /// Creates topics with the given partition count (the admin protocol), and waits until the
    /// broker's metadata shows them.
    pub fn create_topics(&self, names: &[&str], partitions: u32) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        // Callers may be inside a runtime: the admin client gets one of its own on a thread.
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let rt = tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(1)
                        .enable_all()
                        .build()
                        .unwrap();
                    rt.block_on(async {
                        let admin = self.control_admin();
                        for name in &names {
                            admin
                                .create(name, partitions as i32, 1, &Default::default())
                                .await
                                .unwrap_or_else(|e| panic!("creating topic {name}: {}", e.message));
                        }
                        for name in &names {
                            let t0 = std::time::Instant::now();
                            while admin
                                .describe(name)
                                .await
                                .ok()
                                .flatten()
                                .map(|t| t.partitions)
                                != Some(partitions as i64)
                            {
                                assert!(t0.elapsed().as_secs() < 30, "topic {name} not visible");
                                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            }
                        }
                    })
                })
                .join()
        })
        .expect("creating topics");
    }

    /// Kills the broker (for tests of a broker that went away).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Kafka {
    fn drop(&mut self) {
        self.kill();
    }
}

fn which(name: &str) -> Option<String> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| format!("{d}/{name}"))
        .find(|p| Path::new(p).exists())
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A MariaDB server of its own (Debian's `mariadb-server`), on a free loopback port, with a
/// scratch data directory; root connects without a password.
pub struct MariaDb {
    child: Child,
    _dir: tempfile::TempDir,
    pub port: u16,
}

impl MariaDb {
    pub fn start() -> MariaDb {
        let install = which("mariadb-install-db")
            .expect("mariadb-install-db not found: run the tests with scripts/test.sh, which installs mariadb-server");
        let server = which("mariadbd")
            .or_else(|| {
                Path::new("/usr/sbin/mariadbd")
                    .exists()
                    .then(|| "/usr/sbin/mariadbd".to_string())
            })
            .expect("mariadbd not found: run the tests with scripts/test.sh");
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let out = Command::new(install)
            .args([
                "--no-defaults",
                &format!("--datadir={}", data.display()),
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ])
            .output()
            .expect("mariadb-install-db");
        assert!(
            out.status.success(),
            "mariadb-install-db: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let child = Command::new(server)
            .args([
                "--no-defaults",
                &format!("--datadir={}", data.display()),
                &format!("--port={port}"),
                "--bind-address=127.0.0.1",
                &format!("--socket={}", dir.path().join("sock").display()),
                &format!("--pid-file={}", dir.path().join("pid").display()),
                &format!("--log-error={}", dir.path().join("err.log").display()),
                "--user=root",
                "--skip-grant-tables",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=32M",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mariadbd");
        for _ in 0..400 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        MariaDb {
            child,
            _dir: dir,
            port,
        }
    }

    /// The URL of a fresh database named `db` (created on the first call).
    pub fn database(&self, db: &str) -> String {
        let out = Command::new("mariadb")
            .args([
                "-h127.0.0.1",
                &format!("-P{}", self.port),
                "-uroot",
                "-e",
                &format!("CREATE DATABASE IF NOT EXISTS {db}"),
            ])
            .output()
            .expect("mariadb client");
        assert!(
            out.status.success(),
            "creating database {db}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        format!("mysql://root@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `pinctl` worker process that prints `listening on ADDR` once it serves.
pub struct Served {
    pub child: Child,
    pub address: String,
}

impl Served {
    pub fn start(args: &[&str], env: &[(String, String)]) -> Served {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_pinctl"))
            .args(args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn pinctl");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the listening line");
        let address = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("expected `listening on ADDR`, got `{line}`"))
            .to_string();
        Served { child, address }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// SIGTERM, then wait for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        self.child.wait().unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `airflow` of scripts/setup.sh's Airflow venv (`PINCTL_AIRFLOW_VENV` names another).
pub fn airflow() -> String {
    let venv = std::env::var("PINCTL_AIRFLOW_VENV").unwrap_or_else(|_| {
        format!(
            "{}/.cache/pinctl/venv-airflow",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    let bin = format!("{venv}/bin/airflow");
    assert!(
        Path::new(&bin).exists(),
        "{bin} not found: run the tests with scripts/test.sh, which installs Airflow"
    );
    bin
}

/// Whether `airflow dags test` output says the run ended in success: Airflow 2.10 logs
/// `DagRun Finished: dag_id=..., state=success, ...` when a DAG run ends.
pub fn dag_run_succeeded(out: &str) -> bool {
    out.lines()
        .any(|l| l.contains("DagRun Finished") && l.contains("state=success"))
}

/// A program of the Python venv `scripts/setup.sh` installs (`PINCTL_VENV`, by default
/// ~/.cache/pinctl/venv): moto, boto3, the AWS CLI, deltalake, pyspark, DuckDB...
pub fn venv_bin(name: &str) -> PathBuf {
    let venv = std::env::var("PINCTL_VENV").unwrap_or_else(|_| {
        format!(
            "{}/.cache/pinctl/venv",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    let bin = PathBuf::from(venv).join("bin").join(name);
    assert!(
        bin.exists(),
        "{} not found: run the tests with scripts/test.sh (or run scripts/setup.sh), which installs it",
        bin.display()
    );
    bin
}

/// A command running the pinctl binary with this environment.
pub fn pinctl(args: &[&str], env: &[(String, String)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_pinctl"));
    c.args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null());
    c
}

/// Peak resident memory of a finished child, in KiB (Linux `ru_maxrss`). Its stderr goes to the
/// test's (a pipe nobody reads would block a child that writes much).
///
/// The child is spawned by a fresh `python3`, which reports `RUSAGE_CHILDREN`: Linux carries a
/// process's peak RSS into what it spawns (exec keeps the old address space's high-water mark,
/// fs/exec.c `exec_mmap` → `setmax_mm_hiwater_rss`), so a child spawned by this test process,
/// which runs many tests at once, reported at least this process's own peak (125 MB for three
/// different runs in one CI run).
pub fn run_measuring_rss(c: Command) -> (std::process::ExitStatus, i64) {
    use std::os::unix::process::ExitStatusExt;
    const SPAWN: &str = "import resource, subprocess, sys\n\
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n\
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n\
sys.exit(r if r >= 0 else 128 - r)\n";
    let mut outer = Command::new("python3");
    outer
        .arg("-c")
        .arg(SPAWN)
        .arg(c.get_program())
        .args(c.get_args());
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => outer.env(k, v),
            None => outer.env_remove(k),
        };
    }
    if let Some(dir) = c.get_current_dir() {
        outer.current_dir(dir);
    }
    let out = outer
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let rss = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse::<i64>()
        .unwrap_or_else(|e| panic!("python3's RUSAGE_CHILDREN: {e}"));
    (
        std::process::ExitStatus::from_raw(out.status.into_raw()),
        rss,
    )
}

// ---- what the stack left in moto and the emulator ----

/// How many clusters, connectors and environments the emulator holds.
pub async fn emulated(emu: &Emulator) -> (usize, usize, usize) {
    let clusters = emu
        .kafka()
        .await
        .list_clusters_v2()
        .send()
        .await
        .unwrap()
        .cluster_info_list()
        .len();
    let connectors = emu
        .kafkaconnect()
        .await
        .list_connectors()
        .send()
        .await
        .unwrap()
        .connectors()
        .len();
    let envs = emu
        .mwaa()
        .await
        .list_environments()
        .send()
        .await
        .unwrap()
        .environments()
        .len();
    (clusters, connectors, envs)
}

pub struct Scan {
    pub buckets: Vec<String>,
    pub instances: Vec<String>,
    pub groups: Vec<String>,
    pub streams: Vec<String>,
    pub apis: Vec<String>,
    pub roles: Vec<String>,
    pub keys: Vec<String>,
    /// The stack's network: VPCs, subnets, internet gateways, route tables, VPC endpoints and
    /// NAT gateways not deleted, Elastic IPs.
    pub network: Vec<String>,
    /// The batch path's private route: load balancers, their listeners, target groups and
    /// API Gateway VPC links (by the stack's uid in their names, or their load balancer).
    pub private_path: Vec<String>,
    /// EMR Serverless applications not TERMINATED, by the stack's uid in their names.
    pub emr_apps: Vec<String>,
}

/// Everything in moto that carries this stack's tags (or, for roles, its names).
pub async fn scan(moto: &Moto) -> Scan {
    let conf = moto.config().await;
    let s3 = moto.s3().await;
    let ec2 = aws_sdk_ec2::Client::new(&conf);
    let kinesis = aws_sdk_kinesis::Client::new(&conf);
    let gw = aws_sdk_apigateway::Client::new(&conf);
    let iam = aws_sdk_iam::Client::new(&conf);
    let ours = |k: &str, v: &str| k == "pinctl:stack" && v == "pinterest";
    let mut buckets = Vec::new();
    for b in s3.list_buckets().send().await.unwrap().buckets() {
        let name = b.name().unwrap().to_string();
        if let Ok(t) = s3.get_bucket_tagging().bucket(&name).send().await {
            if t.tag_set().iter().any(|t| ours(t.key(), t.value())) {
                buckets.push(name);
            }
        }
    }
    let tag = aws_sdk_ec2::types::Filter::builder()
        .name("tag:pinctl:stack")
        .values("pinterest")
        .build();
    let live = aws_sdk_ec2::types::Filter::builder()
        .name("instance-state-name")
        .values("pending")
        .values("running")
        .values("stopping")
        .values("stopped")
        .build();
    let instances = ec2
        .describe_instances()
        .filters(tag.clone())
        .filters(live)
        .send()
        .await
        .unwrap();
    let instances = instances
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .map(|i| i.instance_id().unwrap().to_string())
        .collect();
    let groups = ec2
        .describe_security_groups()
        .filters(tag.clone())
        .send()
        .await
        .unwrap();
    let groups = groups
        .security_groups()
        .iter()
        .map(|g| g.group_name().unwrap().to_string())
        .collect();
    let keys = ec2.describe_key_pairs().send().await.unwrap();
    let keys = keys
        .key_pairs()
        .iter()
        .map(|k| k.key_name().unwrap().to_string())
        .collect();
    let streams = kinesis
        .list_streams()
        .send()
        .await
        .unwrap()
        .stream_names()
        .to_vec();
    let apis = gw.get_rest_apis().send().await.unwrap();
    let apis = apis
        .items()
        .iter()
        .map(|a| a.name().unwrap().to_string())
        .collect();
    let roles = iam.list_roles().send().await.unwrap();
    let roles = roles
        .roles()
        .iter()
        .map(|r| r.role_name().to_string())
        .filter(|n| n.starts_with("0e36c8cd403d-"))
        .collect();
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&conf);
    let mut private_path: Vec<String> = Vec::new();
    let lbs = elb.describe_load_balancers().send().await.unwrap();
    for lb in lbs.load_balancers() {
        let (Some(name), Some(arn)) = (lb.load_balancer_name(), lb.load_balancer_arn()) else {
            continue;
        };
        if !name.starts_with("0e36c8cd403d-") {
            continue;
        }
        private_path.push(format!("load balancer {name}"));
        let listeners = elb
            .describe_listeners()
            .load_balancer_arn(arn)
            .send()
            .await
            .unwrap();
        for l in listeners.listeners() {
            private_path.push(format!("listener {name}:{}", l.port().unwrap_or(0)));
        }
    }
    let tgs = elb.describe_target_groups().send().await.unwrap();
    private_path.extend(
        tgs.target_groups()
            .iter()
            .filter_map(|t| t.target_group_name())
            .filter(|n| n.starts_with("0e36c8cd403d-"))
            .map(|n| format!("target group {n}")),
    );
    let links = gw.get_vpc_links().send().await.unwrap();
    private_path.extend(
        links
            .items()
            .iter()
            .filter_map(|l| l.name())
            .filter(|n| n.starts_with("0e36c8cd403d-"))
            .map(|n| format!("VPC link {n}")),
    );
    let mut network: Vec<String> = Vec::new();
    let out = ec2
        .describe_vpcs()
        .filters(tag.clone())
        .send()
        .await
        .unwrap();
    network.extend(
        out.vpcs()
            .iter()
            .filter_map(|v| v.vpc_id().map(str::to_string)),
    );
    let out = ec2
        .describe_subnets()
        .filters(tag.clone())
        .send()
        .await
        .unwrap();
    network.extend(
        out.subnets()
            .iter()
            .filter_map(|v| v.subnet_id().map(str::to_string)),
    );
    let out = ec2
        .describe_internet_gateways()
        .filters(tag.clone())
        .send()
        .await
        .unwrap();
    network.extend(
        out.internet_gateways()
            .iter()
            .filter_map(|v| v.internet_gateway_id().map(str::to_string)),
    );
    let out = ec2
        .describe_route_tables()
        .filters(tag.clone())
        .send()
        .await
        .unwrap();
    network.extend(
        out.route_tables()
            .iter()
            .filter_map(|v| v.route_table_id().map(str::to_string)),
    );
    let out = ec2
        .describe_vpc_endpoints()
        .filters(tag.clone())
        .send()
        .await
        .unwrap();
    network.extend(
        out.vpc_endpoints()
            .iter()
            .filter(|v| {
                !v.state()
                    .is_some_and(|s| s.as_str().eq_ignore_ascii_case("deleted"))
            })
            .filter_map(|v| v.vpc_endpoint_id().map(str::to_string)),
    );
    let out = ec2
        .describe_nat_gateways()
        .filter(tag.clone())
        .send()
        .await
        .unwrap();
    network.extend(
        out.nat_gateways()
            .iter()
            .filter(|v| v.state().is_none_or(|s| s.as_str() != "deleted"))
            .filter_map(|v| v.nat_gateway_id().map(str::to_string)),
    );
    let out = ec2
        .describe_addresses()
        .filters(tag.clone())
        .send()
        .await
        .unwrap();
    network.extend(
        out.addresses()
            .iter()
            .filter_map(|v| v.allocation_id().map(str::to_string)),
    );
    let emr = aws_sdk_emrserverless::Client::new(&conf);
    let emr_apps = emr
        .list_applications()
        .send()
        .await
        .unwrap()
        .applications()
        .iter()
        .filter(|a| a.state() != &aws_sdk_emrserverless::types::ApplicationState::Terminated)
        .filter_map(|a| a.name().map(str::to_string))
        .filter(|n| n.starts_with("0e36c8cd403d-"))
        .collect();
    Scan {
        buckets,
        instances,
        groups,
        streams,
        apis,
        roles,
        keys,
        network,
        private_path,
        emr_apps,
    }
}

pub fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The keys the course's Python script draws with `random.seed(100)`.
pub fn python_keys(n: usize) -> Vec<i64> {
    let script = format!(
        "import random\nrandom.seed(100)\nfor _ in range({n}):\n    random.randrange(0, 2)\n    print(random.randint(0, 11000))\n"
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3");
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect()
}

/// One source table written by `data generate --out jsonl://DIR`, row by row.
pub fn read_table(dir: &Path, table: &str) -> Vec<Value> {
    std::fs::read_to_string(dir.join(format!("{table}.jsonl")))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The three source tables written by `data generate --out jsonl://DIR`, row by row.
pub fn read_source(dir: &Path) -> [Vec<Value>; 3] {
    [
        read_table(dir, "pinterest_data"),
        read_table(dir, "geolocation_data"),
        read_table(dir, "user_data"),
    ]
}

/// Every key in `bucket` under `prefix`, page after page.
pub async fn s3_keys(s3: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> Vec<String> {
    let mut keys = vec![];
    let mut token = None;
    loop {
        let out = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await
            .unwrap();
        keys.extend(
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
        match out.next_continuation_token() {
            Some(t) => token = Some(t.to_string()),
            None => return keys,
        }
    }
}

/// Copies the repository's `dirs` (`templates`, `plugins`) into `to`: a stack reads only
/// files under its root, and a link leading out of it is refused like `..`.
pub fn copy_repo_dirs(to: &Path, dirs: &[&str]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for d in dirs {
        copy_dir(&root.join(d), &to.join(d));
    }
}

/// Copies the directory `from` into `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// An IAM user with `statements` as its policy, and its access key.
pub async fn iam_user(
    moto: &Moto,
    name: &str,
    statements: serde_json::Value,
) -> aws_credential_types::Credentials {
    let iam = aws_sdk_iam::Client::new(&moto.config().await);
    iam.create_user().user_name(name).send().await.unwrap();
    iam.put_user_policy()
        .user_name(name)
        .policy_name("grants")
        .policy_document(
            serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string(),
        )
        .send()
        .await
        .unwrap();
    let key = iam
        .create_access_key()
        .user_name(name)
        .send()
        .await
        .unwrap();
    let key = key.access_key().unwrap();
    aws_credential_types::Credentials::new(
        key.access_key_id(),
        key.secret_access_key(),
        None,
        None,
        "test",
    )
}
