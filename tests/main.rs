//! pinctl's integration tests, compiled as one binary (`cargo test --test integration`): each
//! module below drives the `pinctl` binary, the library or the services the way a user does.
//! `util` is the shared vocabulary: scratch projects, service fixtures (moto, the emulator, Apache Kafka,
//! MariaDB), typed plan and drift readers, and the state backend conformance suite.

// Shared helpers; not tests.
mod util;

// The AWS providers against moto server, resource kind by resource kind.
mod aws_moto;
// Every resource kind through the same life: create, no-op, change, update, delete, gone.
mod provider_conformance;
// The batch job against moto S3: Delta tables and the 8 answers vs an independent computation.
mod batch_moto;
// The rendered DAG in real Airflow, and the SSM runner that sends the batch command.
mod dag_airflow;
// EMR Serverless: the application's state rules, and the DAG's `emr` runner with a real Spark run.
mod emr_serverless;
// The cost in plan, up and down: the Price List API on the twin, and the shipped table.
mod cost;
// `pinctl import`: a pipeline built by hand, adopted without a write to AWS.
mod import;
// The emulator against stock clients: botocore's models, and the AWS CLI with `pinctl local env`.
mod conformance;
// The dataset generator and the source stores (SQLite, MariaDB, JSON lines).
mod data_generate;
// The emulator of MSK, MSK Connect and MWAA, through the official AWS SDK.
mod emulator;
// The emulator's network rules for MSK, MSK Connect and MWAA, read from moto.
mod network_rules;
// The engine with the simulated provider: plans, the parallel walk, failures, locking, drift.
mod engine;
// Drift of what users care about: sets without order, defaults, additions made by hand.
mod drift_moto;
// The MSK, MSK Connect and MWAA providers against the emulator.
mod msk_connect_mwaa;
// One up and one down through throttles, 500s and lost answers, with the defaults.
mod faults;
// The MSK IAM token against the official Python signer.
mod msk_iam_python;
// MSK IAM on the twin's broker: tokens and IAM policies checked as MSK checks them.
mod msk_iam_broker;
// The left half of the pipeline: emit → REST proxy → Apache Kafka → S3 sink → moto S3.
mod pipeline_data;
// The whole pipeline stack against moto and the emulator, including kill -9 recovery.
mod pipeline_moto;
// The Kafka REST proxy against Apache Kafka: v2 answers, malformed bodies, consumers, shutdown.
mod rest_proxy;
// The S3 sink's flush size, bad records and new topics.
mod s3_sink;
// AWS's propagation delays on moto and the emulator, and pinctl riding them out.
mod propagation;
// The state backends: the S3 backend against moto, and the conformance suite on both backends.
mod state;
// The stream job against moto Kinesis: once per event through a kill, a restart and a reshard.
mod stream_moto;
// The batch and stream jobs' Delta tables read by Spark and DuckDB as delta-rs reads them.
mod spark_delta;
// The batch job on Spark (jobs/spark/batch_job.py) gives the Rust batch job's tables and answers.
mod spark_batch;
// Topics created through the MSK API exist on the local Kafka broker.
mod topics_on_broker;
// The local twin end to end, as a newcomer runs it.
mod twin_e2e;
// Every malformed fixture stack is reported at its position.
mod validate_fixtures;
// Preflight in plan and up: taken names, unoffered versions and types, quotas, no downgrades.
mod preflight;
// Random edits of the pipeline stack never crash validation.
mod validate_mutations;
