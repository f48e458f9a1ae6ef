//! The stack format: parse with positions, validate, params, env overlays, references,
//! templates, and the JSON Schema editors use.

pub mod check;
pub mod constraints;
pub mod diag;
pub mod expr;
pub mod load;
pub mod model;
pub mod resolve;

pub use diag::{Diagnostic, Diagnostics, Location};
pub use load::{load, stack_schema, validate, LoadOptions, Resource, Stack};
