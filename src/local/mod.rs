//! The local twin: the emulator of the AWS APIs moto lacks (MSK, MSK Connect, MWAA).

pub mod emulator;
