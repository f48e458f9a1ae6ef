//! The pipeline's bundled workers: thin loops around the data code, each a `pinctl worker`
//! subcommand that `up` deploys onto the EC2 client (and the local twin runs as processes).

pub mod batch;
pub mod bench;
pub mod emit;
pub mod gateway;
pub mod kafka;
pub mod rest_proxy;
pub mod s3_sink;
pub mod stream;
