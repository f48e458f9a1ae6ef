//! The cleaned tables as Delta Lake tables (delta-rs), on a local path or S3: created with the
//! spec's schema, upserted by `ind` (a record seen twice leaves one row), with the writer's
//! progress (offsets, shard positions) committed in the same transaction as the rows.

use std::collections::HashMap;
use std::sync::Once;

use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::prelude::{col, SessionContext};
use deltalake::kernel::transaction::CommitProperties;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableError};
use serde_json::Value;
use url::Url;

/// The commit-metadata key holding a writer's progress.
pub const PROGRESS_KEY: &str = "pinctl.progress";

#[derive(Debug, thiserror::Error)]
pub enum DeltaError {
    #[error("`{0}` is not a table location: use a local directory or s3://BUCKET/PREFIX")]
    BadLocation(String),
    #[error("Delta table {table}: {source}")]
    Delta {
        table: String,
        #[source]
        source: DeltaTableError,
    },
    #[error("Delta table {table}: {message}")]
    Other { table: String, message: String },
    #[error(
        "Delta table {table}: another writer of this job committed to it while this one was \
         writing (two runs at once?); nothing of this write was committed, and its input is \
         read again by the next run"
    )]
    ConcurrentWriter { table: String },
}

/// The Delta application id ([`Transaction`](deltalake::kernel::Transaction), a `txn` action)
/// every commit of this module's writers carries. Delta's conflict check fails a commit when a
/// commit made since the version it read carries the same id (Delta protocol, "Transaction
/// Identifiers"; delta-rs `ConflictChecker`, `ConcurrentTransaction`): of two runs writing one
/// table at once, the later commit fails rather than append keys the other just appended (blind
/// appends do not conflict by themselves).
pub const WRITER_APP_ID: &str = "pinctl.upserter";

/// The commit properties of a writer's commit on `table`: its [`WRITER_APP_ID`] and, when
/// given, its progress.
fn writer_commit(table: &DeltaTable, progress: Option<Value>) -> CommitProperties {
    let version = table.version().map_or(0, |v| v as i64 + 1);
    let commit = CommitProperties::default()
        .with_application_transaction(deltalake::kernel::Transaction::new(WRITER_APP_ID, version));
    match progress {
        Some(p) => commit.with_metadata([(PROGRESS_KEY.to_string(), p)]),
        None => commit,
    }
}

/// A writer's commit error, a concurrent writer named as such.
fn commit_error(table: String, source: DeltaTableError) -> DeltaError {
    use deltalake::kernel::transaction::{CommitConflictError, TransactionError};
    match source {
        DeltaTableError::Transaction {
            source: TransactionError::CommitConflict(CommitConflictError::ConcurrentTransaction),
        } => DeltaError::ConcurrentWriter { table },
        source => DeltaError::Delta { table, source },
    }
}

/// Where a job's tables live: `<root>/<name>`.
#[derive(Debug, Clone)]
pub struct DeltaRoot {
    root: Url,
    options: HashMap<String, String>,
}

fn register_s3() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| deltalake::aws::register_handlers(None));
}

impl DeltaRoot {
    pub fn new(location: &str) -> Result<DeltaRoot, DeltaError> {
        register_s3();
        let mut options = HashMap::new();
        let root = if location.starts_with("s3://") || location.starts_with("s3a://") {
            let endpoint = std::env::var("AWS_ENDPOINT_URL_S3")
                .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
                .ok();
            if let Some(e) = endpoint {
                // Local S3 (moto, MinIO): its own endpoint, plain HTTP, buckets by path.
                if e.starts_with("http://") {
                    options.insert("allow_http".into(), "true".into());
                }
                options.insert("aws_endpoint".into(), e);
                options.insert("aws_virtual_hosted_style_request".into(), "false".into());
            }
            Url::parse(&format!("{}/", location.trim_end_matches('/')))
                .map_err(|_| DeltaError::BadLocation(location.into()))?
        } else {
            let path = std::path::Path::new(location);
            std::fs::create_dir_all(path).map_err(|e| DeltaError::Other {
                table: location.into(),
                message: e.to_string(),
            })?;
            let abs = path.canonicalize().map_err(|e| DeltaError::Other {
                table: location.into(),
                message: e.to_string(),
            })?;
            Url::from_directory_path(&abs).map_err(|_| DeltaError::BadLocation(location.into()))?
        };
        Ok(DeltaRoot { root, options })
    }

    /// The object-store options the tables are opened with (a local S3's endpoint).
    pub fn options(&self) -> std::collections::HashMap<String, String> {
        self.options.clone()
    }

    pub fn url(&self, name: &str) -> Url {
        self.root
            .join(&format!("{name}/"))
            .expect("a table name joins its root")
    }

    fn fail(name: &str) -> impl Fn(DeltaTableError) -> DeltaError + '_ {
        move |source| DeltaError::Delta {
            table: name.to_string(),
            source,
        }
    }

    /// Opens the table, creating it (empty, with `schema`) when it does not exist yet.
    pub async fn open(&self, name: &str, schema: &SchemaRef) -> Result<DeltaTable, DeltaError> {
        if let Ok(dir) = self.url(name).to_file_path() {
            std::fs::create_dir_all(&dir).map_err(|e| DeltaError::Other {
                table: name.to_string(),
                message: format!("{}: {e}", dir.display()),
            })?;
        }
        let table =
            DeltaTable::try_from_url_with_storage_options(self.url(name), self.options.clone())
                .await
                .map_err(Self::fail(name))?;
        if table.version().is_some() {
            return Ok(table);
        }
        use deltalake::kernel::engine::arrow_conversion::TryFromArrow;
        let columns: Vec<deltalake::kernel::StructField> =
            deltalake::kernel::StructType::try_from_arrow(schema.as_ref())
                .map_err(|e| DeltaError::Other {
                    table: name.to_string(),
                    message: e.to_string(),
                })?
                .fields()
                .cloned()
                .collect();
        table
            .create()
            .with_columns(columns)
            .with_table_name(name)
            .await
            .map_err(Self::fail(name))
    }

    /// Opens the table if it exists (a version committed), without creating it.
    pub async fn open_existing(&self, name: &str) -> Result<Option<DeltaTable>, DeltaError> {
        if let Ok(dir) = self.url(name).to_file_path() {
            if !dir.join("_delta_log").is_dir() {
                return Ok(None);
            }
        }
        let table =
            DeltaTable::try_from_url_with_storage_options(self.url(name), self.options.clone())
                .await
                .map_err(Self::fail(name))?;
        Ok(table.version().is_some().then_some(table))
    }

    /// Replaces the table's rows with `batches` (derived rows: answers, rollups), with
    /// `progress` (the sources they reflect) in the same commit when given.
    pub async fn overwrite(
        &self,
        name: &str,
        schema: &SchemaRef,
        batches: Vec<RecordBatch>,
        progress: Option<Value>,
    ) -> Result<DeltaTable, DeltaError> {
        let table = self.open(name, schema).await?;
        // Derived rows: a new version of the job may give a column another type or
        // nullability, which replaces the old schema.
        let mut write = table
            .write(batches)
            .with_save_mode(SaveMode::Overwrite)
            .with_schema_mode(deltalake::operations::write::SchemaMode::Overwrite);
        if let Some(p) = progress {
            write = write.with_commit_properties(
                CommitProperties::default().with_metadata([(PROGRESS_KEY.to_string(), p)]),
            );
        }
        write.await.map_err(Self::fail(name))
    }
}

/// The progress the last writer committed with its rows, if any.
pub async fn progress(table: &DeltaTable) -> Result<Option<Value>, DeltaError> {
    use futures::StreamExt;
    let name = table.table_url().to_string();
    if table.version().is_none() {
        return Ok(None);
    }
    let mut history = table.history(None);
    while let Some(commit) = history.next().await {
        let commit = commit.map_err(|source| DeltaError::Delta {
            table: name.clone(),
            source,
        })?;
        if let Some(v) = commit.info.get(PROGRESS_KEY) {
            return Ok(Some(v.clone()));
        }
    }
    Ok(None)
}

/// Upserts `batch` by `ind` with one Delta MERGE (rows of the batch win) and commits
/// `progress` in the same transaction. The batch must already hold one row per `ind`. A writer
/// that upserts again and again should hold an [`Upserter`], which appends the rows with a new
/// `ind` and merges only the held rows that differ.
pub async fn upsert(
    table: DeltaTable,
    batch: RecordBatch,
    progress: Value,
) -> Result<DeltaTable, DeltaError> {
    if batch.num_rows() == 0 {
        // Progress alone (records that were all dropped): an empty append carries it.
        return append(table, batch, Some(progress)).await;
    }
    merge(table, batch, progress).await
}

/// One Delta MERGE of `batch` into `table` by `ind`, with `progress` in its commit.
async fn merge(
    table: DeltaTable,
    batch: RecordBatch,
    progress: Value,
) -> Result<DeltaTable, DeltaError> {
    let name = table.table_url().to_string();
    let fail = |source| DeltaError::Delta {
        table: name.clone(),
        source,
    };
    let before = table.version();
    let schema = batch.schema();
    let commit = writer_commit(&table, Some(progress.clone()));
    let columns: Vec<String> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let ctx = SessionContext::new();
    let source = ctx.read_batch(batch).map_err(|e| DeltaError::Other {
        table: name.clone(),
        message: e.to_string(),
    })?;
    let (table, _metrics) = table
        .merge(source, col("target.ind").eq(col("source.ind")))
        .with_source_alias("source")
        .with_target_alias("target")
        .with_commit_properties(commit)
        .when_matched_update(|mut u| {
            // Only a row that differs is updated: a file whose matched rows are all the same
            // is left as it is, not rewritten (a replay of an event already taken in changes
            // nothing).
            let changed = columns
                .iter()
                .filter(|c| c.as_str() != "ind")
                .map(|c| {
                    deltalake::datafusion::logical_expr::binary_expr(
                        col(format!("source.{c}")),
                        deltalake::datafusion::logical_expr::Operator::IsDistinctFrom,
                        col(format!("target.{c}")),
                    )
                })
                .reduce(|a, b| a.or(b));
            if let Some(changed) = changed {
                u = u.predicate(changed);
            }
            for c in &columns {
                u = u.update(c.as_str(), col(format!("source.{c}")));
            }
            u
        })
        .map_err(fail)?
        .when_not_matched_insert(|mut i| {
            for c in &columns {
                i = i.set(c.as_str(), col(format!("source.{c}")));
            }
            i
        })
        .map_err(fail)?
        .await
        .map_err(|source| commit_error(name.clone(), source))?;
    if table.version() == before {
        // Nothing changed, so MERGE committed nothing: the progress goes in an empty append.
        return append(table, RecordBatch::new_empty(schema), Some(progress)).await;
    }
    Ok(table)
}

/// A writer's handle on one table that upserts by `ind` in time that grows with the rows
/// written and the files their keys fall in, not with the table.
///
/// A Delta MERGE joins its source with every target file that may hold a matching `ind`
/// (delta-rs narrows the scan to the source's `ind` range only, which for keys drawn at random
/// is the whole table) and holds those files in memory, so a job that merged each chunk would
/// rescan the table per chunk. The upserter instead looks the chunk's keys up ([`rows_with_inds`]:
/// a scan pruned by the Delta log's per-file `ind` statistics, joined with the keys): rows with a
/// new `ind` are appended, rows already held as they are change nothing, and only rows that
/// differ go through MERGE. From a run's second upsert on, it keeps the set of `ind`s the table
/// holds (read once, from the `ind` column alone), so a chunk whose keys are all new reads
/// nothing. Appends and merges of one upsert are separate commits with the progress on the last,
/// so a writer killed between them re-reads those rows and finds them held: merged, not
/// doubled. The jobs run one writer per table; should another writer commit to the table
/// anyway, the set is read again before the next upsert (and after one that raced it), and
/// [`Written::complete`] turns false.
pub struct Upserter {
    table: DeltaTable,
    /// The `ind`s the table holds at `table`'s version (as u64, bit for bit), read at the
    /// second upsert with rows (a run's first looks its keys up instead).
    inds: Option<roaring::RoaringTreemap>,
    /// Whether an upsert with rows has run: the first looks its keys up by a pruned scan (often
    /// the only one of a run, and then the table's keys are never all read).
    looked_up: bool,
    written: Written,
}

/// What an [`Upserter`] changed in the table since it was opened.
#[derive(Debug, Clone)]
pub struct Written {
    /// The table's version when the upserter opened it (a table it created: the version of
    /// its creation, 0).
    pub from: Option<u64>,
    /// The `ind`s of the rows it appended or changed (as u64, bit for bit).
    pub inds: roaring::RoaringTreemap,
    /// False when another writer committed to the table meanwhile: the rows that changed since
    /// `from` are then more than `inds` says.
    pub complete: bool,
}

impl Upserter {
    /// Opens (or creates, with `schema`) the table.
    pub async fn open(
        root: &DeltaRoot,
        name: &str,
        schema: &SchemaRef,
    ) -> Result<Upserter, DeltaError> {
        let table = root.open(name, schema).await?;
        let written = Written {
            from: table.version(),
            inds: roaring::RoaringTreemap::new(),
            complete: true,
        };
        Ok(Upserter {
            table,
            inds: None,
            looked_up: false,
            written,
        })
    }

    pub fn table(&self) -> &DeltaTable {
        &self.table
    }

    /// What this upserter changed since it opened the table.
    pub fn written(&self) -> &Written {
        &self.written
    }

    /// The progress the last writer committed with its rows, if any.
    pub async fn progress(&self) -> Result<Option<Value>, DeltaError> {
        progress(&self.table).await
    }

    /// Upserts `batch` (one row per `ind`, `ind` its first column) and commits `progress` with
    /// the last of its commits.
    pub async fn upsert(&mut self, batch: RecordBatch, progress: Value) -> Result<(), DeltaError> {
        use deltalake::arrow::array::{Array, BooleanArray, Int64Array};
        let name = self.table.table_url().to_string();
        let other = |message: String| DeltaError::Other {
            table: name.clone(),
            message,
        };
        let ind = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .ok_or_else(|| other("the first column is not an Int64 `ind`".into()))?;
        let before = self.table.version();
        self.table
            .update_state()
            .await
            .map_err(|source| DeltaError::Delta {
                table: name.clone(),
                source,
            })?;
        if self.table.version() != before {
            // Another writer committed since: what this one knows of the table is stale.
            self.inds = None;
            self.written.complete = false;
        }
        // The table's rows for the batch's held keys (all of them on a run's first upsert).
        let (held, rows): (BooleanArray, RecordBatch) = if batch.num_rows() == 0 {
            (BooleanArray::from(Vec::<bool>::new()), batch.clone())
        } else if self.inds.is_none() && !self.looked_up {
            self.looked_up = true;
            let rows = rows_with_inds(&self.table, ind).await?;
            let found: std::collections::HashSet<i64> = rows
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .map(|a| a.iter().flatten().collect())
                .unwrap_or_default();
            let held = (0..ind.len())
                .map(|i| Some(ind.is_valid(i) && found.contains(&ind.value(i))))
                .collect();
            (held, rows)
        } else {
            let inds = match self.inds.take() {
                Some(inds) => inds,
                None => held_inds(&self.table).await?,
            };
            // A null `ind` never matches in MERGE either: such rows are appended.
            let held: BooleanArray = (0..ind.len())
                .map(|i| Some(ind.is_valid(i) && inds.contains(ind.value(i) as u64)))
                .collect();
            self.inds = Some(inds);
            let seen =
                deltalake::arrow::compute::filter(ind, &held).map_err(|e| other(e.to_string()))?;
            let seen = seen
                .as_any()
                .downcast_ref::<Int64Array>()
                .expect("a filtered Int64Array");
            let rows = if seen.is_empty() {
                RecordBatch::new_empty(batch.schema())
            } else {
                rows_with_inds(&self.table, seen).await?
            };
            (held, rows)
        };
        let fresh_mask = deltalake::arrow::compute::not(&held).map_err(|e| other(e.to_string()))?;
        let filter = |mask: &BooleanArray| {
            deltalake::arrow::compute::filter_record_batch(&batch, mask)
                .map_err(|e| other(e.to_string()))
        };
        let (fresh, seen) = (filter(&fresh_mask)?, filter(&held)?);
        // Most held rows are replays of events taken in as they were: only the ones that differ
        // go through MERGE, whose join reads every target file into memory (6.4 GiB for 1,000
        // rows against a 10 M-row table).
        let seen = if seen.num_rows() > 0 {
            let ctx = super::engine::bounded_session(super::engine::Joins::Hash);
            let target = ctx.read_batch(rows).map_err(|e| other(e.to_string()))?;
            anti_join(&ctx, seen, target, &name).await?
        } else {
            seen
        };
        let before = self.table.version();
        let mut commits = 0u64;
        let table = self.table.clone();
        self.table = if seen.num_rows() == 0 {
            commits += 1;
            append(table, fresh.clone(), Some(progress)).await?
        } else {
            let table = if fresh.num_rows() > 0 {
                commits += 1;
                append(table, fresh.clone(), None).await?
            } else {
                table
            };
            commits += 1;
            merge(table, seen.clone(), progress).await?
        };
        let keys = |b: &RecordBatch| -> Vec<u64> {
            b.column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .map(|a| a.iter().flatten().map(|i| i as u64).collect())
                .unwrap_or_default()
        };
        let fresh_keys = keys(&fresh);
        self.written.inds.extend(fresh_keys.iter().copied());
        self.written.inds.extend(keys(&seen));
        let expected = before.map_or(commits - 1, |v| v + commits);
        if self.table.version() == Some(expected) {
            if let Some(inds) = self.inds.as_mut() {
                inds.extend(fresh_keys);
            }
        } else {
            // Another writer committed in between: what it wrote is not in the set.
            self.inds = None;
            self.written.complete = false;
        }
        Ok(())
    }
}

/// Whether the table holds any data file.
fn has_files(table: &DeltaTable) -> bool {
    table
        .get_file_uris()
        .is_ok_and(|mut files| files.next().is_some())
}

/// The rows of `table` whose `ind` is one of `inds` (nulls ignored), as one batch of the table's
/// columns.
///
/// The scan is filtered by at most [`LOOKUP_RANGES`] `ind` ranges covering the keys, by which
/// delta-rs skips the files whose `ind` statistics (in the Delta log) lie outside them, and the
/// rows left are semi-joined with the keys in a hash join whose build side is the keys. A list
/// of keys is never pushed down as an `IN` filter: delta-rs (deltalake-core 1.1.3,
/// `rewrite_in_list_expr_for_kernel`) lowers one into an `OR` chain as deep as the list, which
/// overflowed a tokio worker's stack at 2,000 keys. Memory grows with the rows found; time with
/// the files the ranges reach (all of them for keys spread over the table).
pub async fn rows_with_inds(
    table: &DeltaTable,
    inds: &deltalake::arrow::array::Int64Array,
) -> Result<RecordBatch, DeltaError> {
    use deltalake::arrow::array::Int64Array;
    use deltalake::arrow::datatypes::{DataType, Field, Schema};
    use deltalake::datafusion::logical_expr::JoinType;
    use deltalake::datafusion::prelude::lit;
    let name = table.table_url().to_string();
    let other = |e: &dyn std::fmt::Display| DeltaError::Other {
        table: name.clone(),
        message: e.to_string(),
    };
    let provider = table.table_provider().await.map_err(|e| other(&e))?;
    let schema = deltalake::datafusion::datasource::TableProvider::schema(provider.as_ref());
    let mut keys: Vec<i64> = inds.iter().flatten().collect();
    keys.sort_unstable();
    keys.dedup();
    if keys.is_empty() || table.version().is_none() || !has_files(table) {
        return Ok(RecordBatch::new_empty(schema));
    }
    let ranges = key_ranges(&keys, LOOKUP_RANGES)
        .into_iter()
        .map(|(low, high)| col("ind").between(lit(low), lit(high)))
        .collect();
    let filter = balanced_or(ranges).expect("at least one key");
    let lookup = RecordBatch::try_new(
        std::sync::Arc::new(Schema::new(vec![Field::new(
            "lookup_ind",
            DataType::Int64,
            false,
        )])),
        vec![std::sync::Arc::new(Int64Array::from(keys))],
    )
    .map_err(|e| other(&e))?;
    let ctx = super::engine::bounded_session(super::engine::Joins::Hash);
    let keys = ctx.read_batch(lookup).map_err(|e| other(&e))?;
    let batches = ctx
        .read_table(provider)
        .and_then(|t| t.filter(filter))
        .and_then(|t| t.join(keys, JoinType::LeftSemi, &["ind"], &["lookup_ind"], None))
        .map_err(|e| other(&e))?
        .collect()
        .await
        .map_err(|e| other(&e))?;
    let rows =
        deltalake::arrow::compute::concat_batches(&schema, &batches).map_err(|e| other(&e))?;
    Ok(rows)
}

/// The most `ind` ranges a look-up filters its scan by.
const LOOKUP_RANGES: usize = 16;

/// Up to `max` closed ranges covering the sorted, distinct `keys`, split at their widest gaps
/// (so a day's new keys above the table's and a few old keys make a few narrow ranges).
fn key_ranges(keys: &[i64], max: usize) -> Vec<(i64, i64)> {
    let mut gaps: Vec<(u64, usize)> = keys
        .windows(2)
        .enumerate()
        .map(|(i, w)| (w[1].abs_diff(w[0]), i))
        .filter(|(gap, _)| *gap > 1)
        .collect();
    gaps.sort_unstable_by_key(|g| std::cmp::Reverse(g.0));
    let mut cuts: Vec<usize> = gaps
        .into_iter()
        .take(max.saturating_sub(1))
        .map(|(_, i)| i)
        .collect();
    cuts.sort_unstable();
    let mut ranges = vec![];
    let mut start = 0;
    for cut in cuts {
        ranges.push((keys[start], keys[cut]));
        start = cut + 1;
    }
    if let Some(last) = keys.last() {
        ranges.push((keys[start], *last));
    }
    ranges
}

/// `a OR b OR ...` as a balanced tree (depth log2 of the count).
fn balanced_or(
    mut exprs: Vec<deltalake::datafusion::prelude::Expr>,
) -> Option<deltalake::datafusion::prelude::Expr> {
    while exprs.len() > 1 {
        let mut next = Vec::with_capacity(exprs.len().div_ceil(2));
        let mut it = exprs.into_iter();
        while let Some(a) = it.next() {
            next.push(match it.next() {
                Some(b) => a.or(b),
                None => a,
            });
        }
        exprs = next;
    }
    exprs.pop()
}

/// The rows of `batch` not in `target` as they are (same `ind`, every other column equal or
/// both null): a hash anti-join with the batch as its build side.
async fn anti_join(
    ctx: &SessionContext,
    batch: RecordBatch,
    target: deltalake::datafusion::dataframe::DataFrame,
    name: &str,
) -> Result<RecordBatch, DeltaError> {
    use deltalake::datafusion::logical_expr::{binary_expr, JoinType, Operator};
    let other = |e: &dyn std::fmt::Display| DeltaError::Other {
        table: name.to_string(),
        message: e.to_string(),
    };
    let schema = batch.schema();
    let on: Vec<_> = schema
        .fields()
        .iter()
        .map(|f| {
            let (s, t) = (
                col(format!("source.{}", f.name())),
                col(format!("target.{}", f.name())),
            );
            if f.name() == "ind" {
                s.eq(t)
            } else {
                binary_expr(s, Operator::IsNotDistinctFrom, t)
            }
        })
        .collect();
    let target = target.alias("target").map_err(|e| other(&e))?;
    let batches = ctx
        .read_batch(batch)
        .and_then(|s| s.alias("source"))
        .and_then(|s| s.join_on(target, JoinType::LeftAnti, on))
        .map_err(|e| other(&e))?
        .collect()
        .await
        .map_err(|e| other(&e))?;
    deltalake::arrow::compute::concat_batches(&schema, &batches).map_err(|e| other(&e))
}

/// The `ind`s a table holds, read from its `ind` column alone.
async fn held_inds(table: &DeltaTable) -> Result<roaring::RoaringTreemap, DeltaError> {
    use deltalake::arrow::array::Int64Array;
    use futures::StreamExt;
    let mut inds = roaring::RoaringTreemap::new();
    if table.version().is_none() {
        return Ok(inds);
    }
    let name = table.table_url().to_string();
    let other = |e: &dyn std::fmt::Display| DeltaError::Other {
        table: name.clone(),
        message: e.to_string(),
    };
    let ctx = SessionContext::new();
    let provider = table.table_provider().await.map_err(|e| other(&e))?;
    let mut stream = ctx
        .read_table(provider)
        .and_then(|df| df.select_columns(&["ind"]))
        .map_err(|e| other(&e))?
        .execute_stream()
        .await
        .map_err(|e| other(&e))?;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(|e| other(&e))?;
        if let Some(ind) = batch.column(0).as_any().downcast_ref::<Int64Array>() {
            inds.extend(ind.iter().flatten().map(|i| i as u64));
        }
    }
    Ok(inds)
}

/// Appends `batch`, with `progress` in the commit's metadata when given.
async fn append(
    table: DeltaTable,
    batch: RecordBatch,
    progress: Option<Value>,
) -> Result<DeltaTable, DeltaError> {
    let name = table.table_url().to_string();
    let commit = writer_commit(&table, progress);
    table
        .write(vec![batch])
        .with_save_mode(SaveMode::Append)
        .with_commit_properties(commit)
        .await
        .map_err(|source| commit_error(name, source))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::clean;
    use crate::data::record::Table;
    use serde_json::json;

    fn users(rows: &[(i64, &str)]) -> RecordBatch {
        let records: Vec<Value> = rows
            .iter()
            .map(|(ind, first)| {
                json!({"ind": ind, "first_name": first, "last_name": "Doe", "age": 30,
                       "date_joined": "2016-01-01 00:00:00"})
            })
            .collect();
        clean::dedupe_by_ind(&clean::clean(
            Table::User,
            &clean::raw_batch(Table::User, &records),
        ))
    }

    /// A new `user` table in a temporary directory (kept while the first value lives), its
    /// root and schema, and an upserter on it.
    async fn user_table() -> (tempfile::TempDir, DeltaRoot, SchemaRef, Upserter) {
        let dir = tempfile::tempdir().unwrap();
        let root = DeltaRoot::new(dir.path().to_str().unwrap()).unwrap();
        let schema = clean::schema(Table::User);
        let upserter = Upserter::open(&root, "user", &schema).await.unwrap();
        (dir, root, schema, upserter)
    }

    async fn names(table: &DeltaTable) -> Vec<(i64, String)> {
        use deltalake::arrow::array::Int64Array;
        let ctx = SessionContext::new();
        ctx.register_table("t", table.table_provider().await.unwrap())
            .unwrap();
        let batches = ctx
            .sql("SELECT ind, user_name FROM t ORDER BY ind")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let mut out = vec![];
        for b in batches {
            let ind = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            for i in 0..b.num_rows() {
                let name =
                    deltalake::arrow::util::display::array_value_to_string(b.column(1), i).unwrap();
                out.push((ind.value(i), name));
            }
        }
        out
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn new_inds_are_appended_held_ones_merged_and_another_writers_rows_never_doubled() {
        let (_dir, root, schema, mut a) = user_table().await;
        let created = a.table().version().unwrap();
        a.upsert(users(&[(1, "Ann"), (2, "Bob")]), json!(1))
            .await
            .unwrap();
        assert_eq!(
            a.table().version(),
            Some(created + 1),
            "new inds: one append"
        );
        a.upsert(users(&[(2, "Bea"), (3, "Cy")]), json!(2))
            .await
            .unwrap();
        assert_eq!(
            a.table().version(),
            Some(created + 3),
            "an append for 3, a merge for 2"
        );
        // Another writer adds ind 4; the first one's set does not know it.
        let mut b = Upserter::open(&root, "user", &schema).await.unwrap();
        b.upsert(users(&[(4, "Di")]), json!(3)).await.unwrap();
        a.upsert(users(&[(4, "Dot"), (5, "Ed")]), json!(4))
            .await
            .unwrap();
        assert_eq!(
            names(a.table()).await,
            vec![
                (1, "Ann Doe".to_string()),
                (2, "Bea Doe".to_string()),
                (3, "Cy Doe".to_string()),
                (4, "Dot Doe".to_string()),
                (5, "Ed Doe".to_string()),
            ]
        );
        assert_eq!(progress(a.table()).await.unwrap(), Some(json!(4)));
        // A replay of a row as it is rewrites no file.
        let files = |t: &DeltaTable| t.get_file_uris().unwrap().collect::<Vec<_>>();
        let (before, version) = (files(a.table()), a.table().version().unwrap());
        a.upsert(users(&[(5, "Ed")]), json!(5)).await.unwrap();
        assert_eq!(files(a.table()), before);
        assert_eq!(
            a.table().version(),
            Some(version + 1),
            "no MERGE, one commit for the progress"
        );
        assert_eq!(progress(a.table()).await.unwrap(), Some(json!(5)));
        // Reopened, the set is read from the table: a held ind is merged, not doubled.
        let mut c = Upserter::open(&root, "user", &schema).await.unwrap();
        c.upsert(users(&[(1, "Al")]), json!(6)).await.unwrap();
        assert_eq!(names(c.table()).await.len(), 5);
        assert_eq!(names(c.table()).await[0], (1, "Al Doe".to_string()));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_run_looks_its_first_keys_up_and_says_what_it_wrote() {
        let (_dir, root, schema, mut a) = user_table().await;
        a.upsert(
            users(&[(1, "Al"), (2, "Bo"), (3, "Cy"), (4, "Di")]),
            json!(1),
        )
        .await
        .unwrap();
        let opened = a.table().version();
        // A new run: unchanged (1), changed (2) and new (9) rows in its first upsert give one
        // append and one merge, found by a look-up rather than by reading every key.
        let mut b = Upserter::open(&root, "user", &schema).await.unwrap();
        b.upsert(users(&[(1, "Al"), (2, "Bea"), (9, "Ida")]), json!(2))
            .await
            .unwrap();
        assert!(b.looked_up && b.inds.is_none());
        assert_eq!(b.table().version(), opened.map(|v| v + 2));
        assert_eq!(b.written().from, opened);
        assert_eq!(b.written().inds.iter().collect::<Vec<_>>(), vec![2, 9]);
        assert!(b.written().complete);
        // Its second reads the table's keys once and keeps them.
        b.upsert(users(&[(9, "Ida"), (10, "Jo")]), json!(3))
            .await
            .unwrap();
        assert!(b.inds.as_ref().is_some_and(|i| i.len() == 6));
        assert_eq!(b.written().inds.iter().collect::<Vec<_>>(), vec![2, 9, 10]);
        assert_eq!(
            names(b.table()).await,
            vec![
                (1, "Al Doe".to_string()),
                (2, "Bea Doe".to_string()),
                (3, "Cy Doe".to_string()),
                (4, "Di Doe".to_string()),
                (9, "Ida Doe".to_string()),
                (10, "Jo Doe".to_string()),
            ]
        );
        // Another writer commits: this one no longer knows all that changed.
        a.upsert(users(&[(11, "Kim")]), json!(4)).await.unwrap();
        b.upsert(users(&[(12, "Lu")]), json!(5)).await.unwrap();
        assert!(!b.written().complete);
        assert_eq!(names(b.table()).await.len(), 8);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_write_from_a_version_another_writer_has_committed_past_is_refused() {
        let (_dir, root, schema, mut a) = user_table().await;
        a.upsert(users(&[(1, "Al")]), json!(1)).await.unwrap();
        // Two runs read the table at the same version; the first commits new keys.
        let stale = root.open("user", &schema).await.unwrap();
        a.upsert(users(&[(2, "Bo")]), json!(2)).await.unwrap();
        // The second's append of the same key, from the version it read, is refused rather
        // than doubling the key.
        let err = append(stale.clone(), users(&[(2, "Bo")]), Some(json!(3)))
            .await
            .unwrap_err();
        assert!(matches!(err, DeltaError::ConcurrentWriter { .. }), "{err}");
        assert!(err.to_string().contains("two runs at once"));
        let err = merge(stale, users(&[(1, "Ann")]), json!(3))
            .await
            .unwrap_err();
        assert!(matches!(err, DeltaError::ConcurrentWriter { .. }), "{err}");
        assert_eq!(
            names(a.table()).await,
            vec![(1, "Al Doe".to_string()), (2, "Bo Doe".to_string())]
        );
        assert_eq!(progress(a.table()).await.unwrap(), Some(json!(2)));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_look_up_of_many_keys_fits_a_worker_threads_stack() {
        use deltalake::arrow::array::Int64Array;
        let (_dir, _, _, mut a) = user_table().await;
        let v: Vec<(i64, String)> = (0..50_000).map(|i| (i * 2, format!("U{i}"))).collect();
        a.upsert(
            users(&v.iter().map(|(i, n)| (*i, n.as_str())).collect::<Vec<_>>()),
            json!(1),
        )
        .await
        .unwrap();
        // 50,000 keys, every other one held, spread over the table; spawned: on a tokio worker
        // thread (2 MiB of stack), where the jobs run. An IN list of 2,000 overflowed it.
        let found = tokio::spawn(async move {
            let keys = Int64Array::from((50_000..100_000).collect::<Vec<i64>>());
            rows_with_inds(a.table(), &keys).await.unwrap().num_rows()
        });
        assert_eq!(found.await.unwrap(), 25_000);
    }

    #[test]
    fn keys_are_covered_by_ranges_split_at_their_widest_gaps() {
        let keys = [1, 2, 3, 50, 1000, 1001, 1002, 5000];
        assert_eq!(key_ranges(&keys, 1), vec![(1, 5000)]);
        assert_eq!(key_ranges(&keys, 2), vec![(1, 1002), (5000, 5000)]);
        assert_eq!(
            key_ranges(&keys, 4),
            vec![(1, 3), (50, 50), (1000, 1002), (5000, 5000)]
        );
        assert_eq!(key_ranges(&keys, 16), key_ranges(&keys, 4));
        assert_eq!(key_ranges(&[7], 16), vec![(7, 7)]);
    }
}
