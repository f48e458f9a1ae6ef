//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "pinctl",
    version,
    about = "The Pinterest-style data pipeline on AWS, as code: plan, apply, drift and destroy one YAML stack",
    long_about = None,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct Global {
    /// The stack file.
    #[arg(
        short = 'f',
        long = "file",
        global = true,
        default_value = "stacks/pinterest.yaml",
        env = "PINCTL_FILE"
    )]
    pub file: PathBuf,
    /// The env to work on (default: the stack's `default_env`).
    #[arg(long, global = true, env = "PINCTL_ENV")]
    pub env: Option<String>,
    /// Print a machine-readable JSON document on stdout and nothing else.
    #[arg(long, global = true)]
    pub json: bool,
    /// How many resources may be worked on at once.
    #[arg(long, global = true, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
    pub parallelism: u16,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y', global = true)]
    pub yes: bool,
    /// Set a param, overriding the env's value (repeatable): `--param uid=0e36c8cd403d`.
    #[arg(long = "param", short = 'p', global = true, value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// How long to wait for a state lock held by another run (e.g. `30s`); default: fail at once.
    #[arg(long, global = true, default_value = "0s", value_parser = humantime::parse_duration)]
    pub lock_timeout: std::time::Duration,
    /// Less output on stderr.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the stack: format, types, references, envs, templates, cycles. Calls no service.
    Validate,
    /// Show what `up` would do. Exit 0: nothing to change; 2: changes; 1: error.
    Plan {
        #[command(flatten)]
        args: PlanArgs,
        #[command(flatten)]
        output: ReportOutput,
    },
    /// Create and update resources to match the stack.
    Up(PlanArgs),
    /// Compare live resources with what was recorded. Exit 0: no drift; 2: drift (or, with
    /// `--unmanaged`, look-alikes found); 1: error.
    Diff {
        #[command(flatten)]
        output: ReportOutput,
        /// Also list live resources that look like the stack's (named as the stack names one of
        /// its resources, or carrying its `pinctl:stack`/`pinctl:env` tags) but are not in its
        /// state: what a failed teardown or a copy made by hand leaves behind.
        #[arg(long)]
        unmanaged: bool,
    },
    /// Adopt live resources made by hand: find, for each resource of the stack the state does
    /// not record, the live one it names (by the stack's names, `Name` tags and the links
    /// between resources), show what matched, what did not and the plan that would follow,
    /// and, confirmed, record them in state. Changes nothing in AWS. Exit 0: recorded (or
    /// nothing to import); 1: error, refused, or an ambiguous match.
    Import,
    /// Delete every resource the stack created, dependents first.
    Down {
        /// Only this resource (repeatable) and what depends on it.
        #[arg(long = "target", value_name = "RESOURCE")]
        targets: Vec<String>,
        /// Delete what state records without reading it first (as `terraform destroy
        /// -refresh=false`): for a service that cannot be read, or resources already gone.
        #[arg(long)]
        no_refresh: bool,
        /// Where the figure of what stops being billed comes from: `api`, `table` or `off`
        /// (see `plan --prices`).
        #[arg(long, value_enum, default_value_t = Prices::Api, env = "PINCTL_PRICES")]
        prices: Prices,
    },
    /// Print the outputs of the applied resources.
    Outputs {
        /// Only this resource.
        resource: Option<String>,
    },
    /// Print the dependency graph.
    Graph {
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
    },
    /// Print the JSON Schema of the stack format (for editors).
    Schema,
    /// Inspect or repair recorded state.
    #[command(subcommand)]
    State(StateCommand),
    /// The local twin's services.
    #[command(subcommand)]
    Local(LocalCommand),
    /// The source dataset (spec §1).
    #[command(subcommand)]
    Data(DataCommand),
    /// The pipeline's workers (what `up` deploys onto the EC2 client, and the local twin runs).
    #[command(subcommand)]
    Worker(WorkerCommand),
    /// Measure the data plane and print figures (rows/s, records/s, latency, peak memory).
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Generate the tables and report rows/s and peak memory.
    Generate {
        #[arg(long, default_value_t = 10_000_000)]
        rows: u64,
        /// Where to write (replaced if present).
        #[arg(long, default_value = "jsonl://.pinctl/bench")]
        out: String,
    },
    /// The batch job on N events held in sink objects on S3 (AWS_ENDPOINT_URL for moto):
    /// events/s and the job's peak memory, as a Markdown table. For each size, a backlog into
    /// empty tables, then a day's new objects on top of it.
    Batch {
        /// Backlog sizes, comma-separated (each in a bucket of its own).
        #[arg(long, value_delimiter = ',', default_value = "1000000")]
        events: Vec<u64>,
        /// Events in the day run on top of each backlog; 0: none.
        #[arg(long, default_value_t = 10_000)]
        day: u64,
        /// Of the day's events, the percentage that replay a backlog event as it was (spread
        /// evenly over the backlog's keys); the rest are new keys.
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=100))]
        replays: u64,
        /// Records per sink object (the sink's flush.size).
        #[arg(long, default_value_t = 1000)]
        per_object: usize,
        #[arg(long, default_value = "pinctl-bench-batch")]
        bucket: String,
        /// Where the Delta tables go (replaced).
        #[arg(long, default_value = ".pinctl/bench-batch")]
        out: PathBuf,
        /// Also run the batch job on Spark (`jobs/spark/batch_job.py`, issue 18) over the same
        /// backlog, side by side: the objects are written to a directory beside `--out` as well
        /// (Spark reads them from local disk, the Rust job from S3).
        #[arg(long)]
        spark_job: Option<PathBuf>,
        /// The Python with pyspark 3.5 (scripts/setup.sh's venv).
        #[arg(long, default_value = "~/.cache/pinctl/venv/bin/python")]
        spark_python: String,
        /// Delta Lake's jars for Spark (scripts/setup.sh puts them here).
        #[arg(long, default_value = "~/.cache/pinctl/spark/3.3.2/jars")]
        spark_jars: String,
        #[arg(long, default_value = "local[2]")]
        spark_master: String,
        /// Spark settings, KEY=VALUE (e.g. spark.driver.memory=8g), passed as the job's --conf.
        #[arg(long)]
        spark_conf: Vec<String>,
    },
    /// The stream job's put → visible latency at a fixed rate (Kinesis at AWS_ENDPOINT_URL).
    Stream {
        /// Records per second.
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
        #[arg(long, default_value_t = 30.0)]
        seconds: f64,
        /// Where the Delta tables go (replaced).
        #[arg(long, default_value = ".pinctl/bench-stream")]
        out: PathBuf,
    },
    /// Produce through the REST proxy and straight to the broker: records/s, p50 and p99.
    Proxy {
        /// A Kafka broker to measure against (a topic of its own is created).
        #[arg(long)]
        bootstrap: String,
        /// Calls of one record each (the 100-record series makes a hundredth as many).
        #[arg(long, default_value_t = 2000)]
        calls: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Write the three source tables: deterministic for a seed, any size, streamed.
    Generate {
        /// Rows per table.
        #[arg(long, default_value_t = crate::data::generate::DEFAULT_ROWS)]
        rows: u64,
        #[arg(long, default_value_t = crate::data::generate::DEFAULT_SEED)]
        seed: u64,
        /// `sqlite://FILE` (or a `.db` file), `mysql://USER:PASSWORD@HOST:PORT/DB`, or `jsonl://DIR`.
        #[arg(long, default_value = "sqlite://.pinctl/pinterest_data.db")]
        out: String,
        /// Replace tables that already hold rows.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum WorkerCommand {
    /// The posting emulator: draws keys like the course's script and sends each event's pin,
    /// geo and user rows through the invoke URL (spec §2).
    Emit(EmitArgs),
    /// A Kafka REST proxy compatible with the Confluent REST Proxy v2.
    RestProxy(RestProxyArgs),
    /// Runs an S3 sink connector configuration: one object per flush, offsets committed after.
    S3Sink(S3SinkArgs),
    /// The daily batch: new sink objects → cleaning → Delta tables → the 8 answers and a report.
    Batch(BatchArgs),
    /// The stream job: Kinesis streaming-<uid>-* → cleaning → Delta tables, in micro-batches.
    Stream(StreamArgs),
    /// Serves a REST API as API Gateway holds it (the local twin's execute-api): routes, HTTP
    /// proxy and Kinesis integrations with their mapping templates, read back from API Gateway.
    Gateway(GatewayArgs),
}

#[derive(Debug, Args, Clone)]
pub struct TwinDir {
    /// Where the twin keeps its state, logs and endpoint settings.
    #[arg(long = "dir", env = "PINCTL_TWIN_DIR", default_value = crate::local::twin::DEFAULT_DIR)]
    pub path: PathBuf,
}

#[derive(Debug, Args, Clone)]
pub struct GatewayArgs {
    /// The REST API's id.
    #[arg(long)]
    pub rest_api_id: String,
    /// The stage served: requests go to `http://LISTEN/<stage>/...`.
    #[arg(long)]
    pub stage: String,
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
    #[arg(long)]
    pub region: Option<String>,
    /// Serve integration URIs naming HOST from ADDR instead (repeatable): `--resolve ec2-1-2-3-4.compute-1.amazonaws.com=127.0.0.1`.
    #[arg(long, value_name = "HOST=ADDR")]
    pub resolve: Vec<String>,
    /// Serve HOST:PORT from ADDR:PORT instead, as listed in this JSON file
    /// (`{"HOST:PORT": "ADDR:PORT"}`, before --resolve), read again at each request: the twin's
    /// supervisor keeps it as units start on free ports.
    #[arg(long)]
    pub connect_to_file: Option<std::path::PathBuf>,
    /// How often the stage is checked for a new deployment.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub refresh: std::time::Duration,
    /// Make one AWS service call at a time (moto's Kinesis loses records put concurrently).
    #[arg(long)]
    pub serialize_aws_calls: bool,
}

#[derive(Debug, Args, Clone)]
pub struct StreamArgs {
    #[arg(long, value_parser = parse_uid)]
    pub uid: String,
    /// Where the Delta tables go: a directory or `s3://BUCKET/PREFIX`.
    #[arg(long)]
    pub out: String,
    #[arg(long)]
    pub region: Option<String>,
    /// Records per micro-batch at most.
    #[arg(long, default_value_t = 500)]
    pub batch_size: usize,
    /// Commit at least this often while records arrive.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub interval: std::time::Duration,
}

#[derive(Debug, Args, Clone)]
pub struct BatchArgs {
    /// The bucket the S3 sink writes to.
    #[arg(long)]
    pub bucket: String,
    #[arg(long, value_parser = parse_uid)]
    pub uid: String,
    /// Where the Delta tables go: a directory or `s3://BUCKET/PREFIX`.
    #[arg(long)]
    pub out: String,
    /// Where the report (report.md, report.html, results/*.json) goes (default: OUT/report for a
    /// local OUT, else ./pinctl-report).
    #[arg(long)]
    pub report_dir: Option<PathBuf>,
    /// Records per transaction (bounds memory).
    #[arg(long, default_value_t = 50_000)]
    pub chunk: usize,
    /// The sink's `topics.dir`.
    #[arg(long, default_value = "topics")]
    pub topics_dir: String,
    #[arg(long)]
    pub region: Option<String>,
}

#[derive(Debug, Args, Clone)]
pub struct EmitArgs {
    /// Where the tables are (see `data generate --out`).
    #[arg(long, default_value = "sqlite://.pinctl/pinterest_data.db")]
    pub source: String,
    /// The API's invoke URL (e.g. `https://ID.execute-api.REGION.amazonaws.com/prod`).
    #[arg(long)]
    pub invoke_url: String,
    /// The pipeline's user id (12 hex characters).
    #[arg(long, value_parser = parse_uid)]
    pub uid: String,
    #[arg(long, value_enum, default_value_t = crate::workers::emit::Mode::Batch)]
    pub mode: crate::workers::emit::Mode,
    /// Events to send (default: until stopped).
    #[arg(long)]
    pub count: Option<u64>,
    /// Events per second at most.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Events in flight at once.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// Seed of the key draws (the course: 100).
    #[arg(long, default_value_t = 100)]
    pub seed: u64,
    /// Pause before each event: `random` (the original's 0 or 1 s), `0`, or a duration.
    #[arg(long, default_value = "random")]
    pub sleep: crate::workers::emit::Sleep,
    /// The largest key drawn (the original: 11000; capped at the table's last row).
    #[arg(long, default_value_t = 11_000)]
    pub max_key: u32,
    /// Retries per record on connection errors, 429 and 5xx.
    #[arg(long, default_value_t = 5)]
    pub retries: u32,
    /// Per-request timeout.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub timeout: std::time::Duration,
}

fn parse_uid(s: &str) -> Result<String, String> {
    if s.len() == 12
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(s.to_string())
    } else {
        Err(format!("`{s}` is not a uid: 12 lowercase hex characters"))
    }
}

#[derive(Debug, Args, Clone)]
pub struct RestProxyArgs {
    /// Kafka bootstrap servers (overrides `bootstrap.servers` in --config).
    #[arg(long)]
    pub bootstrap: Option<String>,
    /// REST proxy properties (`bootstrap.servers`, `client.security.protocol`, `client.sasl.mechanism`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long, default_value = "127.0.0.1:8082")]
    pub listen: std::net::SocketAddr,
    /// Largest request body accepted (bytes).
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    pub max_request_bytes: usize,
    /// Producer compression: none, gzip, snappy, lz4, zstd.
    #[arg(long, default_value = "lz4")]
    pub compression: String,
    /// How long the producer waits to batch records.
    #[arg(long, default_value = "5ms", value_parser = humantime::parse_duration)]
    pub linger: std::time::Duration,
    /// How long the broker may take to acknowledge a record before the request fails (50003).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub delivery_timeout: std::time::Duration,
    /// How long a client may take to send its request's headers (then the connection is
    /// closed), and then its body (then a 408): Jetty's idle timeout in Confluent's proxy.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub read_timeout: std::time::Duration,
}

#[derive(Debug, Args, Clone)]
pub struct S3SinkArgs {
    /// Kafka bootstrap servers (overrides `bootstrap.servers` in the properties).
    #[arg(long)]
    pub bootstrap: Option<String>,
    /// The connector's properties (Confluent S3 sink names: topics.regex, flush.size, s3.bucket.name, ...).
    #[arg(long)]
    pub config: PathBuf,
    /// The connector's name (consumer group `connect-NAME`; default: `name` in the properties).
    #[arg(long)]
    pub name: Option<String>,
    /// Authenticate with MSK IAM (SASL_SSL, OAUTHBEARER), as MSK Connect's workers do for a
    /// connector whose `kafkaClusterClientAuthentication` is `IAM`, with the AWS credentials of
    /// the environment (the service execution role's).
    #[arg(long)]
    pub msk_iam: bool,
}

#[derive(Debug, Args, Clone)]
pub struct PlanArgs {
    /// Only this resource (repeatable), with what it depends on (or, for `down`, what depends on it).
    #[arg(long = "target", value_name = "RESOURCE")]
    pub targets: Vec<String>,
    /// Trust recorded state instead of reading live resources.
    #[arg(long)]
    pub no_refresh: bool,
    /// Plan the deletion of everything (plan only).
    #[arg(long)]
    pub destroy: bool,
    /// Skip preflight, the read-only checks that catch what AWS would refuse (taken bucket
    /// names, unoffered versions and instance types, quotas). For when a check is out of date:
    /// MWAA has no API listing its Airflow versions, so pinctl's table may lag a new one.
    #[arg(long, env = "PINCTL_NO_PREFLIGHT")]
    pub no_preflight: bool,
    /// Where the cost shown with the plan comes from: `api`, AWS's Price List API (the shipped
    /// price table for what it cannot answer), `table`, the shipped table only (no call), or
    /// `off`, no cost.
    #[arg(long, value_enum, default_value_t = Prices::Api, env = "PINCTL_PRICES")]
    pub prices: Prices,
}

/// Where `plan`, `up` and `down` take the stack's prices from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Prices {
    Api,
    Table,
    Off,
}

/// How `plan` and `diff` print their report.
#[derive(Debug, Args, Clone, Copy)]
pub struct ReportOutput {
    /// `text` for a terminal, `json` (as `--json`), or `markdown` for a pull-request comment
    /// (GitHub-flavoured: a summary line, a table per resource, secrets masked).
    #[arg(long, value_enum)]
    pub format: Option<ReportFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
    Markdown,
}

impl ReportOutput {
    /// The format asked for: `--format`, else `json` with `--json`, else `text`. `--json` with
    /// another `--format` is an error.
    pub fn resolve(&self, json: bool) -> Result<ReportFormat, String> {
        match (self.format, json) {
            (Some(f), true) if f != ReportFormat::Json => Err(format!(
                "--json and --format {} ask for two formats; pass one",
                f.to_possible_value()
                    .map(|v| v.get_name().to_string())
                    .unwrap_or_default()
            )),
            (Some(f), _) => Ok(f),
            (None, true) => Ok(ReportFormat::Json),
            (None, false) => Ok(ReportFormat::Text),
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// List recorded resources.
    List,
    /// Show one recorded resource (secrets appear only as hashes).
    Show { resource: String },
    /// Remove a lock left by a run that is gone.
    Unlock,
}

#[derive(Debug, Subcommand)]
pub enum LocalCommand {
    /// Start the twin: moto server, the emulator and Apache Kafka on loopback ports, and a supervisor
    /// that runs the data plane from what is provisioned (`pinctl --env local up`).
    Start {
        #[command(flatten)]
        dir: TwinDir,
        /// Do not run the MWAA environments' DAGs in Apache Airflow.
        #[arg(long)]
        no_airflow: bool,
        /// How long a new or deleted resource takes to propagate: in that window moto and the
        /// emulator answer as AWS does (a new instance profile refused by RunInstances, a new role
        /// by MWAA and MSK Connect, a new bucket's configuration calls, ...); `0s` turns it off.
        /// AWS documents about 10 s for IAM.
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        propagation_delay: std::time::Duration,
        /// Share of calls (0 to 1) answered with a fault, as AWS sometimes answers: the
        /// emulator's (MSK, MSK Connect, MWAA) with a throttling error or a 500 before they run,
        /// moto's with its service's throttling error or, after the call ran, a lost answer
        /// (502). Try `up` and `down` against faults (`0.3`).
        #[arg(long, default_value_t = 0.0, value_parser = fault_rate)]
        fault_rate: f64,
        /// How long the emulator's clusters, connectors and environments stay CREATING,
        /// UPDATING and DELETING (AWS takes minutes to tens of minutes).
        #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
        operation_delay: std::time::Duration,
    },
    /// Show the twin's services and data-plane processes (exit 1 when it is not running, 3
    /// when one of its processes keeps exiting: 3 exits within 2 minutes).
    Status {
        #[command(flatten)]
        dir: TwinDir,
    },
    /// Stop every process the twin started.
    Stop {
        #[command(flatten)]
        dir: TwinDir,
    },
    /// Print the endpoint settings of the `local` env as shell exports.
    Env {
        #[command(flatten)]
        dir: TwinDir,
    },
    /// Trigger a DAG in the twin's Airflow (what MWAA's UI does), optionally waiting for the run.
    Trigger {
        /// The DAG id (`<uid>_dag`).
        dag: String,
        #[arg(long)]
        wait: bool,
        #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
        #[command(flatten)]
        dir: TwinDir,
    },
    /// Wait until the twin runs a process of each kind given (e.g. `--for
    /// gateway,unit,connector,airflow`, what `up` provisioned), then print the gateways' invoke
    /// URLs, one per line. Exit 1 with the twin's problems when the timeout passes first.
    ///
    /// With `--objects N --bucket B`, waits instead until the bucket holds N objects under
    /// `--prefix` (the S3 sink's output) and prints how many it holds.
    Wait {
        #[arg(
            long = "for",
            value_enum,
            value_delimiter = ',',
            required_unless_present = "objects"
        )]
        kinds: Vec<crate::local::procs::Kind>,
        /// How many objects to wait for (with `--bucket`).
        #[arg(long, requires = "bucket", conflicts_with = "kinds")]
        objects: Option<usize>,
        /// The bucket to count objects in.
        #[arg(long)]
        bucket: Option<String>,
        /// The key prefix counted.
        #[arg(long, default_value = "topics/")]
        prefix: String,
        #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
        #[command(flatten)]
        dir: TwinDir,
    },
    /// Wait for the stream job to catch up with the batch tables (up to `--timeout`), print
    /// both tables' row counts, copy the batch job's report to `--out` and print its answers.
    Report {
        /// The data bucket (the sink's objects, the Delta tables, the report).
        #[arg(long)]
        bucket: String,
        /// The user id in the tables' names (`<uid>_pin_table`).
        #[arg(long)]
        uid: String,
        #[arg(long, default_value = ".pinctl/report")]
        out: std::path::PathBuf,
        /// How long to wait for the stream tables to hold as many rows as the batch tables.
        #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
        #[command(flatten)]
        dir: TwinDir,
    },
    /// The twin's supervisor (started by `local start`).
    #[command(hide = true)]
    Supervise {
        #[command(flatten)]
        dir: TwinDir,
        #[arg(long)]
        moto_port: u16,
        #[arg(long)]
        kafka_port: u16,
        #[arg(long)]
        emulator_port: u16,
        #[arg(long)]
        no_airflow: bool,
    },
    /// The twin's Kafka broker (started by the supervisor, the tests and `scripts/bench.sh`):
    /// Apache Kafka as one KRaft node on 127.0.0.1:PORT, its storage formatted with a fresh
    /// cluster id when DATA is new. The process becomes the broker's JVM.
    Broker {
        /// The PLAINTEXT listener's port on 127.0.0.1.
        #[arg(long)]
        port: u16,
        /// The broker's data directory (settings, logs), created when missing.
        #[arg(long)]
        data: std::path::PathBuf,
        /// The JVM's maximum heap.
        #[arg(long, default_value = "512m")]
        heap: String,
        /// Also listen with MSK IAM (SASL/OAUTHBEARER over TLS) on this port of 127.0.0.1;
        /// needs --control-port, --authority and --tls-dir. PLAINTEXT clients (ANONYMOUS) are
        /// then allowed only what the emulator's clusters allow them.
        #[arg(long, requires_all = ["control_port", "authority", "tls_dir"])]
        iam_port: Option<u16>,
        /// The control listener's port on 127.0.0.1 (with --iam-port): SASL/PLAIN with the
        /// secret in `<tls-dir>/control.secret`, for the emulator's topic API.
        #[arg(long)]
        control_port: Option<u16>,
        /// The emulator's URL, which checks MSK IAM tokens and policies (with --iam-port).
        #[arg(long)]
        authority: Option<String>,
        /// Where the twin's CA and the broker's certificate are, made when missing (with
        /// --iam-port).
        #[arg(long)]
        tls_dir: Option<std::path::PathBuf>,
    },
    /// Serve the emulator of the AWS APIs moto lacks: MSK (`kafka`), MSK Connect
    /// (`kafkaconnect`) and MWAA (`airflow`), on one port.
    Emulator {
        /// Address to listen on (`127.0.0.1:0` picks a free port, printed on stdout).
        #[arg(long, default_value = "127.0.0.1:4510")]
        listen: std::net::SocketAddr,
        /// State file, so the emulator's resources survive a restart.
        #[arg(long)]
        state: Option<PathBuf>,
        /// How long CREATING, UPDATING and DELETING last.
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        delay: std::time::Duration,
        /// Share of calls (0 to 1) answered with a throttling error or a 500.
        #[arg(long, default_value_t = 0.0)]
        fault_rate: f64,
        /// The Kafka broker every MSK cluster's bootstrap brokers point at.
        #[arg(long)]
        broker: Option<String>,
        /// The broker's MSK IAM listener (SASL_SSL), every IAM cluster's
        /// `bootstrapBrokerStringSaslIam`.
        #[arg(long)]
        broker_iam: Option<String>,
        /// The broker's control listener (SASL_PLAINTEXT), which the topic API acts through
        /// instead of --broker; needs --broker-secret.
        #[arg(long, requires = "broker_secret")]
        broker_control: Option<String>,
        /// The file holding the control principal's password (the twin's `tls/control.secret`).
        #[arg(long)]
        broker_secret: Option<PathBuf>,
        #[arg(long, default_value = "us-east-1")]
        region: String,
        /// moto server's endpoint (`http://127.0.0.1:PORT`): with it, creates follow AWS's
        /// network rules, read from moto's subnets, route tables, gateways and endpoints (MSK:
        /// distinct and supported AZs, brokers a multiple of the subnets; MSK Connect: S3
        /// reachable; MWAA: two private subnets in two AZs with a way out). Without it they are
        /// skipped.
        #[arg(long)]
        moto: Option<String>,
        /// AZ ids MSK refuses client subnets in (default: use1-az3).
        #[arg(long, value_delimiter = ',')]
        msk_unsupported_az_ids: Vec<String>,
    },
}

/// A share from 0 to 1.
fn fault_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("`{s}` is not a share from 0 to 1 (e.g. 0.3)")),
    }
}
