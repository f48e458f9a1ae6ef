//! pinctl: the Pinterest-style data pipeline on AWS, as code.

pub mod aws;
pub mod cli;
pub mod commands;
pub mod data;
pub mod engine;
pub mod local;
pub mod sim;
pub mod stack;
pub mod state;
pub mod workers;
