//! The pipeline's bundled workers: thin loops around the data code, each a `pinctl worker`
//! subcommand that `up` deploys onto the EC2 client (and the local twin runs as processes).

pub mod batch;
pub mod bench;
pub mod command;
pub mod emit;
pub mod gateway;
pub mod kafka;
pub mod properties;
pub mod rest_proxy;
pub mod s3_sink;
pub mod stream;

/// Resolves at SIGTERM (systemd's stop) or Ctrl-C.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
