//! The local twin: the supervisor of the twin's services and data plane, and the emulator of the
//! AWS APIs moto lacks (MSK, MSK Connect, MWAA).

pub mod dataplane;
pub mod emulator;
pub mod host;
pub mod procs;
pub mod twin;
