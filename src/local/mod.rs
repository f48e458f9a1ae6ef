//! The local twin: the supervisor of the twin's services and data plane, the emulator of the
//! AWS APIs moto lacks (MSK, MSK Connect, MWAA), and its Kafka broker (Apache Kafka).

pub mod dataplane;
pub mod emulator;
pub mod host;
pub mod iam;
pub mod kafka;
pub mod procs;
pub mod report;
pub mod tls;
pub mod twin;
