//! What a newcomer checks at the end of a run on the twin, read from the twin's S3: how many
//! objects the S3 sink wrote, whether the stream tables caught up with the batch tables, and the
//! batch job's report and its answers (spec §5).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use aws_sdk_s3::Client;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::data::delta::DeltaRoot;

/// The three tables of spec §4, by the suffix of `<uid>_<suffix>_table`.
const TABLES: [&str; 3] = ["pin", "geo", "user"];

/// How often the waits look again.
const EVERY: Duration = Duration::from_secs(1);

/// Objects under `prefix` in `bucket` (all pages).
pub async fn count_objects(s3: &Client, bucket: &str, prefix: &str) -> Result<usize> {
    let mut pages = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    let mut n = 0;
    while let Some(page) = pages.next().await {
        n += page
            .with_context(|| format!("listing s3://{bucket}/{prefix}"))?
            .contents()
            .len();
    }
    Ok(n)
}

/// Waits until `bucket` holds at least `want` objects under `prefix`, or `timeout` passes;
/// returns how many it holds (fewer than `want` after a timeout).
pub async fn wait_objects(
    s3: &Client,
    bucket: &str,
    prefix: &str,
    want: usize,
    timeout: Duration,
) -> Result<usize> {
    let t0 = Instant::now();
    loop {
        let n = count_objects(s3, bucket, prefix).await?;
        if n >= want || t0.elapsed() >= timeout {
            return Ok(n);
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// One table's rows in the batch and the stream job's copies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableRows {
    /// `<uid>_<suffix>_table`.
    pub table: String,
    pub batch: usize,
    pub stream: usize,
}

/// Rows of a Delta table; `None` when it does not exist (yet).
async fn rows(root: &DeltaRoot, name: &str) -> Result<Option<usize>> {
    use deltalake::datafusion::prelude::SessionContext;
    let Ok(table) =
        deltalake::open_table_with_storage_options(root.url(name), root.options()).await
    else {
        return Ok(None);
    };
    let ctx = SessionContext::new();
    let provider = table
        .table_provider()
        .await
        .with_context(|| format!("reading the table {name}"))?;
    let n = ctx
        .read_table(provider)
        .with_context(|| format!("reading the table {name}"))?
        .count()
        .await
        .with_context(|| format!("counting the rows of {name}"))?;
    Ok(Some(n))
}

/// The rows of the three tables under `s3://<bucket>/delta/{batch,stream}/`, waiting up to
/// `timeout` for the stream job's copies to hold as many rows as the batch job's.
pub async fn wait_stream(bucket: &str, uid: &str, timeout: Duration) -> Result<Vec<TableRows>> {
    let batch = DeltaRoot::new(&format!("s3://{bucket}/delta/batch"))?;
    let stream = DeltaRoot::new(&format!("s3://{bucket}/delta/stream"))?;
    let t0 = Instant::now();
    loop {
        let mut all = Vec::new();
        for t in TABLES {
            let table = format!("{uid}_{t}_table");
            let Some(batch_rows) = rows(&batch, &table).await? else {
                anyhow::bail!(
                    "no table {} (a wrong --uid, or the batch job has not run: `pinctl local trigger <uid>_dag --wait`)",
                    batch.url(&table)
                );
            };
            all.push(TableRows {
                batch: batch_rows,
                stream: rows(&stream, &table).await?.unwrap_or(0),
                table,
            });
        }
        if all.iter().all(|r| r.batch == r.stream) || t0.elapsed() >= timeout {
            return Ok(all);
        }
        tokio::time::sleep(EVERY * 2).await;
    }
}

/// One answer of the batch job's report: its id (`q1`...), its title, and its rows.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub id: String,
    pub title: String,
    pub rows: Vec<Map<String, Value>>,
}

/// The batch job's report, copied from `s3://<bucket>/delta/batch/report/` into a directory.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `s3://.../report.html`.
    pub location: String,
    /// The local copy of `report.html` (`report.md` beside it).
    pub html: PathBuf,
    pub answers: Vec<Answer>,
}

/// Copies the report and reads its answers. Errors when the batch job has not written one.
pub async fn fetch_report(s3: &Client, bucket: &str, out: &Path) -> Result<Report> {
    let prefix = "delta/batch/report/";
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for name in ["report.md", "report.html"] {
        let body = get(s3, bucket, &format!("{prefix}{name}")).await?;
        crate::fsx::write_atomically(&out.join(name), &body)?;
    }
    let md = std::fs::read_to_string(out.join("report.md"))?;
    let titles: Vec<(String, String)> = md
        .lines()
        .filter_map(|l| l.strip_prefix("## "))
        .filter_map(|l| l.split_once(" — "))
        .map(|(q, t)| (q.trim().to_string(), t.trim().to_string()))
        .collect();
    let listed = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(format!("{prefix}results/"))
        .send()
        .await
        .with_context(|| format!("listing s3://{bucket}/{prefix}results/"))?;
    let mut keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect();
    keys.sort();
    let mut answers = Vec::new();
    for key in keys {
        let id = key
            .rsplit('/')
            .next()
            .unwrap_or(&key)
            .trim_end_matches(".json")
            .to_string();
        let rows: Vec<Map<String, Value>> =
            serde_json::from_slice(&get(s3, bucket, &key).await?)
                .with_context(|| format!("s3://{bucket}/{key} is not a list of rows"))?;
        let title = titles
            .iter()
            .find(|(q, _)| q.eq_ignore_ascii_case(&id))
            .map(|(_, t)| t.clone())
            .unwrap_or_default();
        answers.push(Answer { id, title, rows });
    }
    Ok(Report {
        location: format!("s3://{bucket}/{prefix}report.html"),
        html: out.join("report.html"),
        answers,
    })
}

async fn get(s3: &Client, bucket: &str, key: &str) -> Result<Vec<u8>> {
    let o = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .with_context(|| {
            format!("reading s3://{bucket}/{key} (has the batch job run? `pinctl local trigger <uid>_dag --wait`)")
        })?;
    Ok(o.body.collect().await?.into_bytes().to_vec())
}
