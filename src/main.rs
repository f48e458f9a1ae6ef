use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = pinctl::cli::Cli::parse();
    // `local wait --objects` and `local report` read the twin's S3 as `--env local` does.
    let reads_twin = matches!(
        &cli.command,
        pinctl::cli::Command::Local(
            pinctl::cli::LocalCommand::Report { .. }
                | pinctl::cli::LocalCommand::Wait {
                    objects: Some(_),
                    ..
                }
        )
    );
    if cli.global.env.as_deref() == Some("local") || reads_twin {
        let dir = std::env::var_os("PINCTL_TWIN_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| pinctl::local::twin::DEFAULT_DIR.into());
        pinctl::local::twin::load_endpoints(&dir);
    }
    let filter = if cli.global.quiet { "warn" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PINCTL_LOG")
                .unwrap_or_else(|_| {
                    // delta-rs and its kernel log every table probe; their failures reach us as
                    // errors with context anyway.
                    tracing_subscriber::EnvFilter::new(format!(
                        "{filter},buoyant_kernel=off,delta_kernel=off,deltalake_core=error,deltalake_aws=warn,datafusion=warn"
                    ))
                }),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    match runtime.block_on(pinctl::cmd::run(cli)) {
        Ok(code) => std::process::ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
