//! pinctl: the Pinterest-style data pipeline on AWS, as code.
//!
//! The modules, bottom-up; each imports only those above it in this list (checked by the
//! `layering` test below):
//! - generic pieces that know nothing of pinctl: [`dag`] (dependency graphs), [`json`],
//!   [`fsx`] (atomic writes), [`signal`], [`format`] (Java `.properties`);
//! - [`kind`]: the catalog of resource kinds (props schema, outputs, replacement rules);
//! - [`stack`]: the stack file, loaded and checked; [`state`]: state files and their backends;
//! - [`engine`]: plan, apply, drift and destroy over the provider contract;
//! - [`clients`]: AWS SDK clients, rate limits, MSK IAM auth and Kafka admin, shared by the
//!   providers, the workers and the twin; [`data`]: the pipeline's records, cleaning and queries;
//! - [`providers`]: one module per AWS service, one file per resource kind, implementing the
//!   engine's contract through a typed layer, and the registry of kinds with their providers;
//!   [`workers`]: the pipeline's own processes;
//! - [`local`]: the local twin (supervisor, data plane, emulator of MSK / MSK Connect / MWAA);
//! - [`cli`]: the command line's types; [`cmd`]: what each command does, the only module that
//!   prints for a person or picks exit codes.

pub mod dag;
pub mod format;
pub mod fsx;
pub mod json;
pub mod signal;

pub mod kind;

pub mod stack;
pub mod state;

pub mod engine;

pub mod clients;
pub mod data;

pub mod providers;
pub mod workers;

pub mod local;

pub mod cli;
pub mod cmd;

#[cfg(test)]
mod layering;
