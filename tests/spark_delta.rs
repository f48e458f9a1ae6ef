//! The jobs' Delta tables as a Spark user and a DuckDB user read them: the batch job's and the
//! stream job's three tables, opened with `spark.read.format("delta").load(path)` (pyspark with
//! Delta Lake's jars) and DuckDB's `delta_scan` (tests/spark/read_delta.py), have spec §4's
//! column names and types, and the very rows delta-rs reads: one per `ind`, replays and upserts
//! included. The batch and the stream job give the same rows, for events carrying every edge
//! rule of spec §4 too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use deltalake::arrow::datatypes::{DataType, TimeUnit};
use deltalake::arrow::json::writer::JsonArray;
use deltalake::datafusion::prelude::SessionContext;
use pinctl::data::delta::DeltaRoot;
use pinctl::data::record::Table;
use serde_json::Value;

use crate::util::jobs::{generate_source, put_records, run_batch, sink_objects, start_stream};
use crate::util::{venv_bin, Moto, BUCKET, UID};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/spark/read_delta.py");

/// A column type of spec §4.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Type {
    /// A 64-bit integer: `ind`, follower_count, age.
    Long,
    Text,
    /// `coordinates`: `[latitude, longitude]` as doubles.
    Doubles,
    /// A point in time, UTC (not a wall-clock time without a zone).
    Timestamp,
}

impl Type {
    const ALL: [Type; 4] = [Type::Long, Type::Text, Type::Doubles, Type::Timestamp];

    /// Its name in Spark's `DataType.simpleString()`.
    fn spark(self) -> &'static str {
        match self {
            Type::Long => "bigint",
            Type::Text => "string",
            Type::Doubles => "array<double>",
            Type::Timestamp => "timestamp",
        }
    }

    /// Its name in DuckDB.
    fn duckdb(self) -> &'static str {
        match self {
            Type::Long => "BIGINT",
            Type::Text => "VARCHAR",
            Type::Doubles => "DOUBLE[]",
            Type::Timestamp => "TIMESTAMP WITH TIME ZONE",
        }
    }

    /// The type delta-rs gives (Arrow's).
    fn of_arrow(t: &DataType) -> Option<Type> {
        match t {
            DataType::Int64 => Some(Type::Long),
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => Some(Type::Text),
            DataType::List(f) if f.data_type() == &DataType::Float64 => Some(Type::Doubles),
            DataType::Timestamp(TimeUnit::Microsecond, Some(tz)) if tz.as_ref() == "UTC" => {
                Some(Type::Timestamp)
            }
            _ => None,
        }
    }
}

/// Spec §4: each cleaned table's columns, in order, with their types.
fn spec(table: Table) -> Vec<(&'static str, Type)> {
    use Type::*;
    match table {
        Table::Pin => vec![
            ("ind", Long),
            ("unique_id", Text),
            ("title", Text),
            ("description", Text),
            ("follower_count", Long),
            ("poster_name", Text),
            ("tag_list", Text),
            ("is_image_or_video", Text),
            ("image_src", Text),
            ("save_location", Text),
            ("category", Text),
        ],
        Table::Geo => vec![
            ("ind", Long),
            ("country", Text),
            ("coordinates", Doubles),
            ("timestamp", Timestamp),
        ],
        Table::User => vec![
            ("ind", Long),
            ("user_name", Text),
            ("age", Long),
            ("date_joined", Timestamp),
        ],
    }
}

/// A table as one reader read it: its columns (name, the reader's name of its type), what those
/// types are in spec §4's terms, and its rows by `ind`, each a list of values in column order
/// with timestamps as microseconds since the epoch and doubles as doubles.
#[derive(Debug)]
struct Read {
    columns: Vec<(String, String)>,
    types: Vec<Option<Type>>,
    rows: BTreeMap<i64, Vec<Value>>,
}

impl Read {
    fn new(
        what: &str,
        columns: Vec<(String, String)>,
        types: Vec<Option<Type>>,
        rows: Vec<Vec<Value>>,
    ) -> Read {
        let n = rows.len();
        let rows: BTreeMap<i64, Vec<Value>> = rows
            .into_iter()
            .map(|row| {
                let row: Vec<Value> = row
                    .into_iter()
                    .zip(&types)
                    .map(|(v, t)| match t {
                        Some(Type::Doubles) => as_doubles(v),
                        _ => v,
                    })
                    .collect();
                let ind = row[0]
                    .as_i64()
                    .unwrap_or_else(|| panic!("{what}: ind {} is not an integer", row[0]));
                (ind, row)
            })
            .collect();
        assert_eq!(rows.len(), n, "{what}: an ind on more than one row");
        Read {
            columns,
            types,
            rows,
        }
    }

    /// The columns as spec §4 would list them (a type that is none of its: None).
    fn spec_columns(&self) -> Vec<(&str, Option<Type>)> {
        self.columns
            .iter()
            .zip(&self.types)
            .map(|((n, _), t)| (n.as_str(), *t))
            .collect()
    }

    fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|(n, _)| n.as_str()).collect()
    }
}

/// Numbers in a list of doubles as doubles (a JSON writer may print 2.0 as 2).
fn as_doubles(v: Value) -> Value {
    match v {
        Value::Array(a) => Value::Array(
            a.into_iter()
                .map(|x| match x.as_f64() {
                    Some(f) => Value::from(f),
                    None => x,
                })
                .collect(),
        ),
        v => v,
    }
}

/// Appends three events whose rows carry spec §4's edge cases (values as sent, placeholders
/// only exactly, zero-padded datetimes, coordinates of two numbers, user names of two names),
/// keyed by their position as generated rows are; returns their keys.
fn edge_rows(source: &mut [Vec<Value>; 3]) -> Vec<usize> {
    use serde_json::json;
    let first = source[0].len();
    let keys: Vec<usize> = (first..first + 3).collect();
    let pins = [
        json!({"follower_count": " 124k", "title": " spaced ", "category": "Art"}),
        json!({"follower_count": "12K", "image_src": "Image src error", "category": "art"}),
        json!({"follower_count": "1.5", "description": "No description available", "category": "art"}),
    ];
    let geos = [
        json!({"timestamp": "2020-8-28 3:52:47", "latitude": 1.5, "country": "Chad"}),
        json!({"timestamp": "2019-05-05T00:00:00", "latitude": "x", "longitude": 3.0, "country": "Chad"}),
        json!({"timestamp": "2019-05-05 00:00:00", "latitude": -5.25, "longitude": 3.5, "country": "Chad"}),
    ];
    let users = [
        json!({"first_name": "Ada", "last_name": "", "age": 30, "date_joined": " 2019-05-05T00:00:00"}),
        json!({"first_name": "Ada", "last_name": "Lovelace", "age": " 30", "date_joined": "2016-01-02 03:04:05"}),
        json!({"first_name": " Ada", "last_name": "Lovelace", "age": 36, "date_joined": "2016-01-02T03:04:05"}),
    ];
    for (i, k) in keys.iter().enumerate() {
        let mut pin = pins[i].clone();
        pin["index"] = json!(k);
        pin["unique_id"] = json!(format!("edge-{k}"));
        let mut geo = geos[i].clone();
        geo["ind"] = json!(k);
        let mut user = users[i].clone();
        user["ind"] = json!(k);
        source[0].push(pin);
        source[1].push(geo);
        source[2].push(user);
    }
    keys
}

fn table_name(table: Table) -> String {
    format!("{UID}_{}_table", table.suffix())
}

/// The table as delta-rs reads it (the crate the jobs write with), through DataFusion.
async fn delta_rs(out: &Path, table: Table) -> Read {
    let url = DeltaRoot::new(out.to_str().unwrap())
        .unwrap()
        .url(&table_name(table));
    let what = format!("delta-rs {url}");
    let t = deltalake::open_table(url.clone())
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let ctx = SessionContext::new();
    ctx.register_table("t", t.table_provider().await.unwrap())
        .unwrap();
    let df = ctx.table("t").await.unwrap();
    let fields = df.schema().fields().clone();
    let columns: Vec<(String, String)> = fields
        .iter()
        .map(|f| (f.name().clone(), format!("{}", f.data_type())))
        .collect();
    let types: Vec<Option<Type>> = fields
        .iter()
        .map(|f| Type::of_arrow(f.data_type()))
        .collect();
    let mut writer = deltalake::arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, JsonArray>(Vec::new());
    for batch in df.collect().await.unwrap() {
        // Timestamps as microseconds since the epoch (Arrow's own value), as the readers give.
        let arrays = batch
            .columns()
            .iter()
            .zip(&types)
            .map(|(a, t)| match t {
                Some(Type::Timestamp) => {
                    deltalake::arrow::compute::cast(a, &DataType::Int64).unwrap()
                }
                _ => a.clone(),
            })
            .collect::<Vec<_>>();
        let schema = batch.schema();
        let names = schema.fields().iter().map(|f| f.name().clone());
        let batch = deltalake::arrow::record_batch::RecordBatch::try_from_iter(
            names.zip(arrays).collect::<Vec<_>>(),
        )
        .unwrap();
        writer.write(&batch).unwrap();
    }
    writer.finish().unwrap();
    let objects: Vec<serde_json::Map<String, Value>> =
        serde_json::from_slice(&writer.into_inner()).unwrap();
    let rows = objects
        .into_iter()
        .map(|o| columns.iter().map(|(n, _)| o[n].clone()).collect())
        .collect();
    Read::new(&what, columns, types, rows)
}

/// Tables read by `tests/spark/read_delta.py` with `engine` (whose names of spec §4's types
/// `type_name` gives), by path.
fn read_with(
    engine: &str,
    extra: &[&str],
    tables: &[String],
    type_name: fn(Type) -> &'static str,
) -> BTreeMap<String, Read> {
    let started = Instant::now();
    let work = tempfile::tempdir().unwrap();
    let o = Command::new(venv_bin("python"))
        .arg(SCRIPT)
        .arg(engine)
        .args(extra)
        .args(tables)
        // Spark's scratch files (and anything else) go to a scratch directory.
        .current_dir(work.path())
        .env("TMPDIR", work.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{engine} could not read the tables:\n{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    eprintln!(
        "{engine} read {} tables in {:.1?}",
        tables.len(),
        started.elapsed()
    );
    let last = stdout.lines().last().unwrap_or_default();
    let out: BTreeMap<String, Value> = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("{engine}: {e} in its answer {last:?}"));
    out.into_iter()
        .map(|(path, t)| {
            let columns: Vec<(String, String)> = t["columns"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c[0].as_str().unwrap().to_string(),
                        c[1].as_str().unwrap().to_string(),
                    )
                })
                .collect();
            let types = columns
                .iter()
                .map(|(_, name)| Type::ALL.into_iter().find(|t| type_name(*t) == name))
                .collect();
            let rows = t["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_array().unwrap().clone())
                .collect();
            let read = Read::new(&format!("{engine} {path}"), columns, types, rows);
            (path, read)
        })
        .collect()
}

/// Rows of `got` and `want` (delta-rs's) are the same, or a readable account of how they differ.
fn assert_same_rows(what: &str, got: &Read, want: &Read) {
    let only = |a: &Read, b: &Read| -> Vec<i64> {
        a.rows
            .keys()
            .filter(|k| !b.rows.contains_key(k))
            .copied()
            .take(5)
            .collect()
    };
    let differing: Vec<String> = want
        .rows
        .iter()
        .filter_map(|(k, w)| {
            let g = got.rows.get(k)?;
            (g != w).then(|| format!("ind {k}: {g:?}, delta-rs {w:?}"))
        })
        .take(3)
        .collect();
    assert!(
        got.rows.len() == want.rows.len() && differing.is_empty() && only(got, want).is_empty(),
        "{what}: {} rows, delta-rs {}; inds only here {:?}, only in delta-rs {:?}; differing: {differing:#?}",
        got.rows.len(),
        want.rows.len(),
        only(got, want),
        only(want, got),
    );
}

/// The columns read are spec §4's: names, order and types.
fn assert_spec_columns(what: &str, table: Table, got: &Read) {
    let want: Vec<(&str, Option<Type>)> =
        spec(table).into_iter().map(|(n, t)| (n, Some(t))).collect();
    assert_eq!(
        got.spec_columns(),
        want,
        "{what}: spec §4's columns and types (read as {:?})",
        got.columns
    );
}

/// Waits until delta-rs reads `n` rows in each of the stream job's tables.
async fn wait_for_rows(out: &Path, n: usize) {
    let started = Instant::now();
    loop {
        let mut counts = vec![];
        for t in Table::ALL {
            if out.join(table_name(t)).join("_delta_log").exists() {
                counts.push(delta_rs(out, t).await.rows.len());
            } else {
                counts.push(0);
            }
        }
        if counts.iter().all(|c| *c == n) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the stream job wrote {counts:?} rows of {n} in 90 s"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
}

/// A job's process, killed if the test ends (fails) before stopping it.
struct Job(std::process::Child);

impl Drop for Job {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn spark_and_duckdb_read_the_jobs_tables_as_delta_rs_does() {
    // What the readers need, from scripts/setup.sh: fail (never skip) without them.
    let jars = std::env::var("PINCTL_SPARK_JARS").unwrap_or_else(|_| {
        panic!("PINCTL_SPARK_JARS is not set: run scripts/setup.sh (scripts/test.sh sources it), which installs Delta Lake's jars for Spark")
    });
    assert!(
        std::fs::read_dir(&jars).is_ok_and(|d| d
            .flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with("delta-spark_"))),
        "no Delta Lake jars in PINCTL_SPARK_JARS={jars}: run scripts/setup.sh, which installs them"
    );

    let dir = tempfile::tempdir().unwrap();
    let mut source = generate_source(dir.path(), 300);
    let edges = edge_rows(&mut source);
    let moto = Moto::start();
    let s3 = moto.s3().await;
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let kinesis = aws_sdk_kinesis::Client::new(&moto.config().await);
    for t in Table::ALL {
        kinesis
            .create_stream()
            .stream_name(format!("streaming-{UID}-{}", t.suffix()))
            .shard_count(1)
            .send()
            .await
            .unwrap();
    }

    // Events with repeats (the emulator draws rows with replacement), then a second round of new
    // keys and replays of known ones: the tables are upserted (files rewritten and removed), so
    // a reader that ignored the log's removes would see an ind twice.
    let first: Vec<usize> = (0..120).map(|i| (i * 7 + i * i) % 200).collect();
    let mut second: Vec<usize> = (0..50).map(|i| (i * 13) % 300).collect();
    second.extend(&edges);
    let distinct: BTreeSet<usize> = first.iter().chain(&second).copied().collect();

    // The stream job, started first, works while the batch job runs.
    let stream_out = dir.path().join("stream");
    put_records(&kinesis, &source, &first).await;
    let mut stream = Job(start_stream(&moto, &stream_out));

    let batch_out = dir.path().join("batch");
    let report = dir.path().join("report");
    sink_objects(&s3, &source, &first, 0).await;
    run_batch(&moto, &batch_out, &report);
    sink_objects(&s3, &source, &second, first.len()).await;
    let summary = run_batch(&moto, &batch_out, &report);
    assert_eq!(
        summary["rows"][table_name(Table::Pin)],
        distinct.len(),
        "{summary}"
    );

    let first_distinct: BTreeSet<usize> = first.iter().copied().collect();
    wait_for_rows(&stream_out, first_distinct.len()).await;
    put_records(&kinesis, &source, &second).await;
    wait_for_rows(&stream_out, distinct.len()).await;
    unsafe {
        libc::kill(stream.0.id() as i32, libc::SIGTERM);
    }
    assert!(
        stream.0.wait().unwrap().success(),
        "the stream job stops cleanly on SIGTERM"
    );

    // delta-rs, the reference: spec §4's columns, one row per distinct event.
    let mut paths = vec![];
    let mut reference = BTreeMap::new();
    for (job, out) in [("batch", &batch_out), ("stream", &stream_out)] {
        for table in Table::ALL {
            let read = delta_rs(out, table).await;
            assert_spec_columns(
                &format!("delta-rs, the {job} job's {table:?} table"),
                table,
                &read,
            );
            let inds: BTreeSet<i64> = read.rows.keys().copied().collect();
            let want: BTreeSet<i64> = distinct.iter().map(|k| *k as i64).collect();
            assert_eq!(inds, want, "{job} {table:?}: one row per distinct event");
            let path = out.join(table_name(table)).display().to_string();
            paths.push(path.clone());
            reference.insert(path, (job, table, read));
        }
    }

    // The batch and the stream job clean alike, spec §4's edge rules included.
    for table in Table::ALL {
        let path = |out: &Path| out.join(table_name(table)).display().to_string();
        let (_, _, batch) = &reference[&path(&batch_out)];
        let (_, _, stream) = &reference[&path(&stream_out)];
        assert_same_rows(
            &format!("the stream job's {table:?} table (the batch job's as delta-rs)"),
            stream,
            batch,
        );
    }
    let cell = |job_out: &Path, table: Table, ind: usize, column: &str| -> Value {
        let (_, _, read) = &reference[&job_out.join(table_name(table)).display().to_string()];
        let i = read.names().iter().position(|n| *n == column).unwrap();
        read.rows[&(ind as i64)][i].clone()
    };
    for out in [&batch_out, &stream_out] {
        let (a, b, c) = (edges[0], edges[1], edges[2]);
        assert_eq!(
            cell(out, Table::Pin, a, "follower_count"),
            Value::Null,
            "` 124k`"
        );
        assert_eq!(
            cell(out, Table::Pin, b, "follower_count"),
            Value::Null,
            "`12K`"
        );
        assert_eq!(
            cell(out, Table::Pin, c, "follower_count"),
            Value::Null,
            "`1.5`"
        );
        assert_eq!(cell(out, Table::Pin, a, "title"), " spaced ", "not trimmed");
        assert_eq!(cell(out, Table::Pin, a, "category"), "Art", "not folded");
        assert_eq!(cell(out, Table::Pin, b, "image_src"), "Image src error");
        assert_eq!(
            cell(out, Table::Geo, a, "timestamp"),
            Value::Null,
            "unpadded"
        );
        assert_eq!(
            cell(out, Table::Geo, a, "coordinates"),
            Value::Null,
            "one number"
        );
        assert_eq!(cell(out, Table::Geo, b, "coordinates"), Value::Null, "`x`");
        assert!(cell(out, Table::Geo, b, "timestamp").is_i64());
        assert_eq!(
            cell(out, Table::User, a, "user_name"),
            Value::Null,
            "empty last name"
        );
        assert_eq!(
            cell(out, Table::User, a, "date_joined"),
            Value::Null,
            "leading space"
        );
        assert_eq!(cell(out, Table::User, b, "age"), Value::Null, "` 30`");
        assert_eq!(cell(out, Table::User, c, "user_name"), " Ada Lovelace");
    }

    // Spark with Delta Lake, and DuckDB with its delta extension, read the same.
    let spark = read_with("spark", &[&jars], &paths, Type::spark);
    let duckdb = read_with("duckdb", &[], &paths, Type::duckdb);
    for (engine, reads) in [("Spark", &spark), ("DuckDB", &duckdb)] {
        assert_eq!(
            reads.keys().collect::<Vec<_>>(),
            reference.keys().collect::<Vec<_>>(),
            "{engine} read every table"
        );
        for (path, (job, table, want)) in &reference {
            let got = &reads[path];
            let what = format!("{engine}, the {job} job's {table:?} table");
            assert_eq!(
                got.names(),
                want.names(),
                "{what}: column names as delta-rs's"
            );
            assert_spec_columns(&what, *table, got);
            assert_same_rows(&what, got, want);
        }
    }
}
