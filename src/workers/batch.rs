//! `pinctl worker batch`: what the course's Databricks notebooks did, daily from the DAG. Reads
//! the sink's objects under `topics/<uid>.{pin,geo,user}/` that it has not processed yet, cleans
//! them, upserts `<uid>_{pin,geo,user}_table` by `ind`, then answers the 8 questions of spec §5
//! and writes each answer as a Delta table, as JSON, and into one report (Markdown and HTML).
//!
//! Progress — the last object key processed per topic partition — is committed with the rows it
//! produced, so a run killed at any point is resumed by the next one without a row twice, and a
//! run with nothing new writes nothing. Objects are read a chunk at a time: memory does not grow
//! with the number of objects.

use std::collections::BTreeMap;
use std::path::PathBuf;

use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::prelude::SessionContext;
use serde_json::{json, Value};

use crate::data::clean;
use crate::data::delta::{self, DeltaRoot};
use crate::data::queries;
use crate::data::record::Table;
use crate::data::report::{self, Answer, Coverage};

#[derive(Debug, Clone)]
pub struct BatchConfig {
    pub bucket: String,
    pub uid: String,
    /// Where the tables go: a local directory or `s3://bucket/prefix`.
    pub out: String,
    /// Where the report files go (local directory).
    pub report_dir: PathBuf,
    /// Records per transaction (bounds memory).
    pub chunk: usize,
    pub topics_dir: String,
    pub region: Option<String>,
}

/// What a run did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct BatchSummary {
    pub objects: BTreeMap<String, u64>,
    pub records: BTreeMap<String, u64>,
    pub malformed_lines: u64,
    pub rows: BTreeMap<String, u64>,
    pub queries_rerun: bool,
    pub report: Option<PathBuf>,
    /// Seconds spent reading new objects into the tables (grows with the new objects).
    pub ingest_seconds: f64,
    /// Seconds spent bringing the rollups up to date, answering the 8 questions from them and
    /// drawing the report (grows with the rows the run changed, unless the rollups had to be
    /// made again from the tables: see `rollups`).
    pub answers_seconds: f64,
    /// How the rollups the answers come from were brought up to date.
    pub rollups: Option<crate::data::rollup::Refresh>,
}

pub fn table_name(uid: &str, table: Table) -> String {
    format!("{uid}_{}_table", table.suffix())
}

/// Lists keys under `prefix` after `start_after`, in key order.
async fn list_after(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    start_after: Option<&str>,
) -> anyhow::Result<Vec<String>> {
    let mut keys = vec![];
    let mut token = None;
    loop {
        let mut req = s3.list_objects_v2().bucket(bucket).prefix(prefix);
        if let Some(s) = start_after {
            req = req.start_after(s);
        }
        let out = req
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "listing s3://{bucket}/{prefix}: {}",
                    aws_smithy_types::error::display::DisplayErrorContext(&e)
                )
            })?;
        keys.extend(
            out.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
        match out.next_continuation_token() {
            Some(t) => token = Some(t.to_string()),
            None => return Ok(keys),
        }
    }
}

/// The partition directories of a topic (`.../partition=N/`).
async fn partitions(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    topic_prefix: &str,
) -> anyhow::Result<Vec<String>> {
    let out = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(topic_prefix)
        .delimiter("/")
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "listing s3://{bucket}/{topic_prefix}: {}",
                aws_smithy_types::error::display::DisplayErrorContext(&e)
            )
        })?;
    Ok(out
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix().map(str::to_string))
        .collect())
}

/// Objects fetched and decoded at once: enough to keep S3 and every core busy, few enough that
/// memory stays a few MB (an object is the sink's `flush.size` records, ~1,000).
const IN_FLIGHT: usize = 32;

/// One sink object, fetched and decoded: its records as cleaned rows (spec §4), how many
/// records it held, and its lines that were not JSON (line number, parser error).
struct Decoded {
    key: String,
    cleaned: RecordBatch,
    records: usize,
    malformed: Vec<(usize, String)>,
}

/// Decodes and cleans one object's JSON lines (CPU-bound: run on a blocking thread, so objects
/// are decoded on every core while others are fetched).
fn decode(table: Table, key: String, body: &[u8]) -> Decoded {
    let lines = crate::data::lines::raw_batch_from_lines(table, body);
    Decoded {
        key,
        cleaned: clean::clean(table, &lines.raw),
        records: lines.raw.num_rows(),
        malformed: lines.malformed,
    }
}

async fn fetch_decoded(
    s3: aws_sdk_s3::Client,
    bucket: String,
    key: String,
    table: Table,
) -> anyhow::Result<Decoded> {
    let out = s3
        .get_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "reading s3://{bucket}/{key}: {}",
                aws_smithy_types::error::display::DisplayErrorContext(&e)
            )
        })?;
    let body = out.body.collect().await?.into_bytes();
    Ok(tokio::task::spawn_blocking(move || decode(table, key, &body)).await?)
}

/// The objects of `keys`, fetched and decoded `IN_FLIGHT` at a time on a task of its own and
/// handed over in key order, so the next objects are on their way while the caller upserts a
/// chunk. Dropped, it stops fetching.
struct Prefetch {
    decoded: tokio::sync::mpsc::Receiver<anyhow::Result<Decoded>>,
    task: tokio::task::JoinHandle<()>,
}

impl Prefetch {
    fn start(s3: &aws_sdk_s3::Client, bucket: &str, keys: Vec<String>, table: Table) -> Prefetch {
        use futures::StreamExt;
        let (tx, decoded) = tokio::sync::mpsc::channel(IN_FLIGHT);
        let (s3, bucket) = (s3.clone(), bucket.to_string());
        let task = tokio::spawn(async move {
            let mut objects = futures::stream::iter(keys)
                .map(|key| fetch_decoded(s3.clone(), bucket.clone(), key, table))
                .buffered(IN_FLIGHT);
            while let Some(object) = objects.next().await {
                if tx.send(object).await.is_err() {
                    break;
                }
            }
        });
        Prefetch { decoded, task }
    }

    async fn next(&mut self) -> Option<anyhow::Result<Decoded>> {
        self.decoded.recv().await
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Brings one table up to date with the sink's objects, and says what it read. Objects are
/// fetched and decoded ahead ([`Prefetch`]) and consumed in key order; every `config.chunk`
/// records the rows are upserted with the progress they reach, so memory is bounded by a chunk
/// and the objects in flight, not by the backlog.
async fn ingest(
    config: &BatchConfig,
    s3: &aws_sdk_s3::Client,
    root: &DeltaRoot,
    table: Table,
) -> anyhow::Result<(BatchSummary, crate::data::rollup::Source)> {
    let mut summary = BatchSummary::default();
    let name = table_name(&config.uid, table);
    let schema = clean::schema(table);
    let mut writer = delta::Upserter::open(root, &name, &schema).await?;
    let mut progress: BTreeMap<String, String> = match writer.progress().await? {
        Some(Value::Object(m)) => m
            .into_iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
            .collect(),
        _ => BTreeMap::new(),
    };
    let topic_prefix = format!("{}/{}.{}/", config.topics_dir, config.uid, table.suffix());
    let mut pending: Vec<RecordBatch> = vec![];
    let (mut records, mut objects) = (0usize, 0u64);
    for partition in partitions(s3, &config.bucket, &topic_prefix).await? {
        let after = progress.get(&partition).cloned();
        let keys = list_after(s3, &config.bucket, &partition, after.as_deref()).await?;
        let last = keys.len();
        let mut decoded = Prefetch::start(s3, &config.bucket, keys, table);
        let mut i = 0;
        while let Some(object) = decoded.next().await {
            let object = object?;
            i += 1;
            for (line, e) in &object.malformed {
                summary.malformed_lines += 1;
                tracing::warn!(
                    "s3://{}/{}:{line}: not JSON, skipped: {e}",
                    config.bucket,
                    object.key
                );
            }
            records += object.records;
            objects += 1;
            pending.push(object.cleaned);
            progress.insert(partition.clone(), object.key);
            if records >= config.chunk.max(1) || i == last {
                let rows = deltalake::arrow::compute::concat_batches(&schema, &pending)?;
                writer
                    .upsert(clean::dedupe_by_ind(&rows), json!(progress))
                    .await?;
                *summary.objects.entry(name.clone()).or_default() += objects;
                *summary.records.entry(name.clone()).or_default() += records as u64;
                pending.clear();
                (records, objects) = (0, 0);
            }
        }
        // The fetching task hands over every object or an error; should it end otherwise (a
        // panic), the objects after the last upsert must not pass for read.
        anyhow::ensure!(
            i == last,
            "s3://{}/{partition}: {i} of {last} objects were fetched before the fetching stopped",
            config.bucket
        );
    }
    let source = crate::data::rollup::Source {
        table,
        now: writer.table().clone(),
        written: writer.written().clone(),
    };
    Ok((summary, source))
}

/// The first and last post timestamps of the geo table, as text (none when it is empty), from
/// the `geo_span` rollup.
async fn post_range(ctx: &SessionContext) -> anyhow::Result<(Option<String>, Option<String>)> {
    let batches = ctx
        .sql("SELECT CAST(first_post AS VARCHAR), CAST(last_post AS VARCHAR) FROM geo_span")
        .await?
        .collect()
        .await?;
    let text = |col: usize| {
        let b = batches.iter().find(|b| b.num_rows() > 0)?;
        let a = b.column(col);
        if deltalake::arrow::array::Array::is_null(a, 0) {
            return None;
        }
        deltalake::arrow::util::display::array_value_to_string(a, 0)
            .ok()
            .map(|s| s.replace('T', " "))
    };
    Ok((text(0), text(1)))
}

pub async fn run(config: BatchConfig) -> anyhow::Result<BatchSummary> {
    let s3 = crate::clients::aws::worker_s3(config.region.as_deref()).await;
    let root = DeltaRoot::new(&config.out)?;
    let mut summary = BatchSummary::default();
    let started = std::time::Instant::now();
    // The three tables are independent: taken in together, one's upsert overlaps another's
    // fetching and decoding.
    let ingested =
        futures::future::try_join_all(Table::ALL.map(|t| ingest(&config, &s3, &root, t))).await?;
    let mut sources = vec![];
    for (part, source) in ingested {
        summary.objects.extend(part.objects);
        summary.records.extend(part.records);
        summary.malformed_lines += part.malformed_lines;
        sources.push(source);
    }
    summary.ingest_seconds = started.elapsed().as_secs_f64();
    let started = std::time::Instant::now();
    let out = config.out.trim_end_matches('/');
    let rollups = DeltaRoot::new(&format!("{out}/rollups"))?;
    let (ctx, refresh) = crate::data::rollup::refresh(&rollups, &sources).await?;
    tracing::info!("rollups: {refresh:?}");
    summary.rollups = Some(refresh);
    // The answers are rewritten only when a cleaned table changed since they were written.
    let results = DeltaRoot::new(&format!("{out}/results"))?;
    let marker = crate::data::rollup::mark(&sources, |s| s.now.version());
    let mut answers = vec![];
    let mut rerun = false;
    for (q, batches) in queries::answers(&ctx).await? {
        let schema = match batches.first() {
            Some(b) => b.schema(),
            None => ctx.sql(&q.sql).await?.schema().inner().clone(),
        };
        let existing = results.open(q.id, &schema).await?;
        if delta::progress(&existing).await?.as_ref() != Some(&marker) {
            rerun = true;
            // Marked with the table versions these answers come from, in the same commit.
            results
                .overwrite(q.id, &schema, batches.clone(), Some(marker.clone()))
                .await?;
        }
        let (columns, rows) = queries::rows(&batches);
        answers.push(Answer {
            id: q.id.to_string(),
            question: q.question.to_string(),
            columns,
            rows,
        });
    }
    for s in &sources {
        summary.rows.insert(
            table_name(&config.uid, s.table),
            crate::data::rollup::rows(&s.now),
        );
    }
    summary.queries_rerun = rerun;
    std::fs::create_dir_all(&config.report_dir)?;
    let json_dir = config.report_dir.join("results");
    std::fs::create_dir_all(&json_dir)?;
    for a in &answers {
        std::fs::write(
            json_dir.join(format!("{}.json", a.id)),
            serde_json::to_string_pretty(&a.rows)? + "\n",
        )?;
    }
    std::fs::write(
        config.report_dir.join("report.md"),
        report::markdown(&answers),
    )?;
    let html = config.report_dir.join("report.html");
    let (first_post, last_post) = post_range(&ctx).await?;
    let coverage = Coverage {
        ran_at: chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string(),
        records: summary.records.clone(),
        objects: summary.objects.values().sum(),
        malformed_lines: summary.malformed_lines,
        rows: summary.rows.clone(),
        first_post,
        last_post,
    };
    std::fs::write(&html, report::html(&coverage, &answers))?;
    summary.report = Some(html);
    // Tables on S3: the report goes beside them too, where the next reader looks.
    if let Some(rest) = config.out.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let prefix = prefix.trim_end_matches('/');
        let mut files = vec![
            ("report.md".to_string(), config.report_dir.join("report.md")),
            (
                "report.html".to_string(),
                config.report_dir.join("report.html"),
            ),
        ];
        for a in &answers {
            files.push((
                format!("results/{}.json", a.id),
                json_dir.join(format!("{}.json", a.id)),
            ));
        }
        for (name, path) in files {
            let key = if prefix.is_empty() {
                format!("report/{name}")
            } else {
                format!("{prefix}/report/{name}")
            };
            s3.put_object()
                .bucket(bucket)
                .key(&key)
                .body(std::fs::read(&path)?.into())
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "writing s3://{bucket}/{key}: {}",
                        aws_smithy_types::error::display::DisplayErrorContext(&e)
                    )
                })?;
        }
    }
    summary.answers_seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}
