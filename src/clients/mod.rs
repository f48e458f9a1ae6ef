//! Clients shared by the providers, the workers and the twin: the AWS SDK clients with their
//! rate limits and retries, MSK IAM authentication, and Kafka admin over the broker protocol.

pub mod aws;
pub mod kafka_admin;
pub mod limiter;
pub mod msk_iam;
pub mod propagation;
pub mod retry;
