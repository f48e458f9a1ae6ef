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
    Plan(PlanArgs),
    /// Create and update resources to match the stack.
    Up(PlanArgs),
    /// Compare live resources with what was recorded. Exit 0: no drift; 2: drift; 1: error.
    Diff,
    /// Delete every resource the stack created, dependents first.
    Down {
        /// Only this resource (repeatable) and what depends on it.
        #[arg(long = "target", value_name = "RESOURCE")]
        targets: Vec<String>,
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
    /// Print shell completions.
    Completions { shell: clap_complete::Shell },
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
        #[arg(long, default_value = "us-east-1")]
        region: String,
    },
}
