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
        table
            .write(batches)
            .with_save_mode(SaveMode::Overwrite)
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

/// Upserts `batch` by `ind` (rows of the batch win) and commits `progress` in the same
/// transaction. The batch must already hold one row per `ind`.
pub async fn upsert(
    table: DeltaTable,
    batch: RecordBatch,
    progress: Value,
) -> Result<DeltaTable, DeltaError> {
    let name = table.table_url().to_string();
    let fail = |source| DeltaError::Delta {
        table: name.clone(),
        source,
    };
    let commit = CommitProperties::default().with_metadata([(PROGRESS_KEY.to_string(), progress)]);
    if batch.num_rows() == 0 {
        // Progress alone (records that were all dropped): an empty append carries it.
        return table
            .write(vec![batch])
            .with_save_mode(SaveMode::Append)
            .with_commit_properties(commit)
            .await
            .map_err(fail);
    }
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
    Ok(table)
}
