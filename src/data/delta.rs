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

    /// Replaces the table's rows with `batches` (query results).
    pub async fn overwrite(
        &self,
        name: &str,
        schema: &SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<DeltaTable, DeltaError> {
        let table = self.open(name, schema).await?;
        // Overwritten tables hold derived rows (the answers): a new version of the job may give a
        // column another type or nullability, which replaces the old schema.
        table
            .write(batches)
            .with_save_mode(SaveMode::Overwrite)
            .with_schema_mode(deltalake::operations::write::SchemaMode::Overwrite)
            .await
            .map_err(Self::fail(name))
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
/// that upserts again and again should hold an [`Upserter`], which merges only the rows whose
/// `ind` the table already holds.
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
    let commit =
        CommitProperties::default().with_metadata([(PROGRESS_KEY.to_string(), progress.clone())]);
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
        .map_err(fail)?;
    if table.version() == before {
        // Nothing changed, so MERGE committed nothing: the progress goes in an empty append.
        return append(table, RecordBatch::new_empty(schema), Some(progress)).await;
    }
    Ok(table)
}

/// A writer's handle on one table that upserts by `ind` in time that grows with the rows
/// written, not with the table.
///
/// A Delta MERGE joins its source with every target file that may hold a matching `ind`
/// (delta-rs narrows the scan to the source's `ind` range only, which for keys drawn at random
/// is the whole table), so a job that merged each chunk would rescan the table per chunk. The
/// upserter keeps the set of `ind`s the table holds (read once, from the `ind` column alone):
/// rows with a new `ind` are appended, and only rows whose `ind` is already there go through
/// MERGE. Appends and merges of one upsert are separate commits with the progress on the last,
/// so a writer killed between them re-reads those rows and finds them held: merged, not
/// doubled. The jobs run one writer per table; should another writer commit to the table
/// anyway, the set is read again before the next upsert (and after one that raced it).
pub struct Upserter {
    table: DeltaTable,
    /// The `ind`s the table holds at `table`'s version (as u64, bit for bit), read at the
    /// first upsert with rows (a run with nothing new never reads them).
    inds: Option<roaring::RoaringTreemap>,
}

impl Upserter {
    /// Opens (or creates, with `schema`) the table and reads the `ind`s it holds.
    pub async fn open(
        root: &DeltaRoot,
        name: &str,
        schema: &SchemaRef,
    ) -> Result<Upserter, DeltaError> {
        let table = root.open(name, schema).await?;
        Ok(Upserter { table, inds: None })
    }

    pub fn table(&self) -> &DeltaTable {
        &self.table
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
        let inds = match self.inds.take() {
            Some(inds) => inds,
            None if batch.num_rows() == 0 => roaring::RoaringTreemap::new(),
            None => held_inds(&self.table).await?,
        };
        // A null `ind` never matches in MERGE either: such rows are appended.
        let held: BooleanArray = (0..ind.len())
            .map(|i| Some(ind.is_valid(i) && inds.contains(ind.value(i) as u64)))
            .collect();
        self.inds = (batch.num_rows() > 0).then_some(inds);
        let fresh_mask = deltalake::arrow::compute::not(&held).map_err(|e| other(e.to_string()))?;
        let filter = |mask: &BooleanArray| {
            deltalake::arrow::compute::filter_record_batch(&batch, mask)
                .map_err(|e| other(e.to_string()))
        };
        let (fresh, seen) = (filter(&fresh_mask)?, filter(&held)?);
        let before = self.table.version();
        self.table
            .update_state()
            .await
            .map_err(|source| DeltaError::Delta {
                table: name.clone(),
                source,
            })?;
        if self.table.version() != before {
            // Another writer committed since: the split above may be wrong. Split again.
            self.inds = None;
            return Box::pin(self.upsert(batch, progress)).await;
        }
        // Most held rows are replays of events taken in as they were: only the ones that differ
        // go through MERGE, whose join reads every target file into memory (6.4 GiB for 1,000
        // rows against a 10 M-row table, where this anti-join streams the table past them).
        let seen = if seen.num_rows() > 0 {
            changed_rows(&self.table, seen, IN_LIST_MAX).await?
        } else {
            seen
        };
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
            merge(table, seen, progress).await?
        };
        let expected = before.map_or(commits - 1, |v| v + commits);
        if self.table.version() == Some(expected) {
            let fresh_ind = fresh
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .expect("the same columns as the batch");
            if let Some(inds) = self.inds.as_mut() {
                inds.extend(fresh_ind.iter().flatten().map(|i| i as u64));
            }
        } else {
            // Another writer committed in between: what it wrote is not in the set.
            self.inds = None;
        }
        Ok(())
    }
}

/// The rows of `batch` (one per `ind`) that `table` does not hold as they are: a new `ind`, or
/// a column that differs (null-safe). An anti-join with `batch` as its build side, so memory
/// grows with the batch while the table streams past it.
async fn changed_rows(
    table: &DeltaTable,
    batch: RecordBatch,
    in_list_max: usize,
) -> Result<RecordBatch, DeltaError> {
    use deltalake::datafusion::logical_expr::{binary_expr, JoinType, Operator};
    let name = table.table_url().to_string();
    let other = |e: &dyn std::fmt::Display| DeltaError::Other {
        table: name.clone(),
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
    let ctx = super::engine::bounded_session(super::engine::Joins::Hash);
    let provider = table.table_provider().await.map_err(|e| other(&e))?;
    let mut target = ctx.read_table(provider).map_err(|e| other(&e))?;
    if let Some(inds) = ind_list(&batch, in_list_max) {
        // delta-rs hands a filter on the scan to the Parquet reader as a row filter (late
        // materialization): the `ind` column is read for the whole table, the other columns
        // only for the rows that pass, so this grows with the batch and with 8 bytes a table
        // row, not with the table's width.
        target = target
            .filter(col("ind").in_list(inds, false))
            .map_err(|e| other(&e))?;
    }
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

/// The batch's `ind`s as literals for an `IN` filter, when there are at most `max` (a larger
/// batch joins against the whole table, which it then costs about as much to read as to
/// filter).
fn ind_list(batch: &RecordBatch, max: usize) -> Option<Vec<deltalake::datafusion::prelude::Expr>> {
    use deltalake::arrow::array::Int64Array;
    let ind = batch.column(0).as_any().downcast_ref::<Int64Array>()?;
    (ind.len() <= max).then(|| {
        ind.iter()
            .flatten()
            .map(deltalake::datafusion::prelude::lit)
            .collect()
    })
}

/// The most `ind`s the upserter filters the table by when it looks for changed rows; more
/// replays than this join against the whole table. The filter's `IN` list is planned by
/// recursion over its values: 2,000 overflowed a tokio worker's 2 MiB stack in a debug build
/// (1,000 did not); a unit test runs this many on a worker.
const IN_LIST_MAX: usize = 500;

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
    let mut write = table.write(vec![batch]).with_save_mode(SaveMode::Append);
    if let Some(p) = progress {
        write = write.with_commit_properties(
            CommitProperties::default().with_metadata([(PROGRESS_KEY.to_string(), p)]),
        );
    }
    write.await.map_err(|source| DeltaError::Delta {
        table: name,
        source,
    })
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
        let dir = tempfile::tempdir().unwrap();
        let root = DeltaRoot::new(dir.path().to_str().unwrap()).unwrap();
        let schema = clean::schema(Table::User);
        let mut a = Upserter::open(&root, "user", &schema).await.unwrap();
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
    async fn the_most_keys_a_filter_takes_fit_a_worker_threads_stack() {
        let dir = tempfile::tempdir().unwrap();
        let root = DeltaRoot::new(dir.path().to_str().unwrap()).unwrap();
        let schema = clean::schema(Table::User);
        let mut a = Upserter::open(&root, "user", &schema).await.unwrap();
        let rows = |from: usize| -> RecordBatch {
            let v: Vec<(i64, String)> = (from..from + IN_LIST_MAX)
                .map(|i| (i as i64, format!("U{i}")))
                .collect();
            users(&v.iter().map(|(i, n)| (*i, n.as_str())).collect::<Vec<_>>())
        };
        a.upsert(rows(0), json!(1)).await.unwrap();
        // Spawned: on a tokio worker thread, whose stack the jobs' queries run on.
        let changed = tokio::spawn(async move {
            changed_rows(a.table(), rows(1), IN_LIST_MAX)
                .await
                .unwrap()
                .num_rows()
        });
        assert_eq!(changed.await.unwrap(), 1, "only the key above the table's");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn changed_rows_are_the_same_with_and_without_the_ind_filter() {
        let dir = tempfile::tempdir().unwrap();
        let root = DeltaRoot::new(dir.path().to_str().unwrap()).unwrap();
        let schema = clean::schema(Table::User);
        let mut a = Upserter::open(&root, "user", &schema).await.unwrap();
        let held: Vec<(i64, String)> = (0..500).map(|i| (i, format!("U{i}"))).collect();
        let held_refs: Vec<(i64, &str)> = held.iter().map(|(i, n)| (*i, n.as_str())).collect();
        a.upsert(users(&held_refs), json!(1)).await.unwrap();
        // Held as they are (7, 300), changed (8, 499), new (1000).
        let probe = users(&[
            (7, "U7"),
            (8, "Other"),
            (300, "U300"),
            (499, "Z"),
            (1000, "New"),
        ]);
        let inds = |b: &RecordBatch| {
            let mut v: Vec<i64> = b
                .column(0)
                .as_any()
                .downcast_ref::<deltalake::arrow::array::Int64Array>()
                .unwrap()
                .values()
                .to_vec();
            v.sort();
            v
        };
        let filtered = changed_rows(a.table(), probe.clone(), IN_LIST_MAX)
            .await
            .unwrap();
        let whole = changed_rows(a.table(), probe, 0).await.unwrap();
        assert_eq!(inds(&filtered), vec![8, 499, 1000]);
        assert_eq!(inds(&whole), vec![8, 499, 1000]);
    }
}
