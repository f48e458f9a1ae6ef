//! The batch and stream jobs driven as a user drives them, for the tests that check their Delta
//! tables: generated source rows, events written where each job reads them (S3 objects in the
//! sink's layout, Kinesis records), and the `pinctl worker batch` / `worker stream` commands.

use std::path::Path;
use std::process::{Child, Stdio};

use pinctl::data::record::Table;
use serde_json::Value;

use super::{pinctl, read_source, Moto, BUCKET, UID};

/// `pinctl data generate` of `rows` rows into `dir/source` (JSON lines), read back.
pub fn generate_source(dir: &Path, rows: u64) -> [Vec<Value>; 3] {
    let out = format!("jsonl://{}/source", dir.display());
    let o = pinctl(
        &[
            "-q",
            "data",
            "generate",
            "--rows",
            &rows.to_string(),
            "--out",
            &out,
        ],
        &[],
    )
    .output()
    .unwrap();
    assert!(
        o.status.success(),
        "data generate failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    read_source(&dir.join("source"))
}

/// Writes events (keys, in order) as the S3 sink would, from `first_offset` on, one record per
/// object.
pub async fn sink_objects(
    s3: &aws_sdk_s3::Client,
    tables: &[Vec<Value>; 3],
    keys: &[usize],
    first_offset: usize,
) {
    sink_objects_of(s3, tables, keys, first_offset, 1).await
}

/// As [`sink_objects`], with up to `per_object` records per object (the sink's flush size),
/// each object named by its first record's offset.
pub async fn sink_objects_of(
    s3: &aws_sdk_s3::Client,
    tables: &[Vec<Value>; 3],
    keys: &[usize],
    first_offset: usize,
    per_object: usize,
) {
    for (t, name) in ["pin", "geo", "user"].iter().enumerate() {
        let topic = format!("{UID}.{name}");
        for (i, chunk) in keys.chunks(per_object).enumerate() {
            let offset = first_offset + i * per_object;
            let key = format!("topics/{topic}/partition=0/{topic}+0+{offset:010}.json");
            let mut body = String::new();
            for k in chunk {
                body.push_str(&serde_json::to_string(&tables[t][*k]).unwrap());
                body.push('\n');
            }
            s3.put_object()
                .bucket(BUCKET)
                .key(key)
                .body(body.into_bytes().into())
                .send()
                .await
                .unwrap();
        }
    }
}

/// One run of `pinctl worker batch` writing its tables under `out`, 400 records per upsert; its
/// JSON summary.
pub fn run_batch(moto: &Moto, out: &Path, report: &Path) -> Value {
    run_batch_chunked(moto, out, report, 400)
}

/// As [`run_batch`], with `chunk` records per upsert.
pub fn run_batch_chunked(moto: &Moto, out: &Path, report: &Path, chunk: usize) -> Value {
    let o = pinctl(
        &[
            "--json",
            "-q",
            "worker",
            "batch",
            "--bucket",
            BUCKET,
            "--uid",
            UID,
            "--out",
            out.to_str().unwrap(),
            "--report-dir",
            report.to_str().unwrap(),
            "--chunk",
            &chunk.to_string(),
        ],
        &moto.env(),
    )
    .output()
    .unwrap();
    assert!(
        o.status.success(),
        "batch failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

/// `pinctl worker stream` writing its tables under `out`, running until killed or signalled.
pub fn start_stream(moto: &Moto, out: &Path) -> Child {
    pinctl(
        &[
            "worker",
            "stream",
            "--uid",
            UID,
            "--out",
            out.to_str().unwrap(),
            "--interval",
            "300ms",
            "--batch-size",
            "100",
        ],
        &moto.env(),
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap()
}

/// Puts events (keys, in order) into the job's three Kinesis streams, 100 records a call.
pub async fn put_records(
    kinesis: &aws_sdk_kinesis::Client,
    tables: &[Vec<Value>; 3],
    keys: &[usize],
) {
    for (t, table) in Table::ALL.iter().enumerate() {
        let stream = format!("streaming-{UID}-{}", table.suffix());
        for chunk in keys.chunks(100) {
            let entries = chunk
                .iter()
                .map(|k| {
                    aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                        .data(aws_smithy_types::Blob::new(
                            serde_json::to_vec(&tables[t][*k]).unwrap(),
                        ))
                        .partition_key(k.to_string())
                        .build()
                        .unwrap()
                })
                .collect::<Vec<_>>();
            let out = kinesis
                .put_records()
                .stream_name(&stream)
                .set_records(Some(entries))
                .send()
                .await
                .unwrap();
            assert_eq!(out.failed_record_count(), Some(0));
        }
    }
}

/// Commits in a Delta table's log directory (its `_delta_log/*.json` files).
pub fn log_commits(log: &Path) -> usize {
    std::fs::read_dir(log)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".json")
        })
        .count()
}
