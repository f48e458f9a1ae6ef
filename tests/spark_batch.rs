//! The batch job on Spark (`jobs/spark/batch_job.py`, issue 18) against the Rust batch job, on
//! the same objects: generated events with spec §4's edge cases (placeholders, junk follower
//! counts, values as sent, datetimes, coordinates and names at their limits, keys written in
//! odd ways), records seen twice or more (repeats, several lines in one object, one key in
//! several partitions), malformed lines; ties and even-count medians in the answers. The Rust job
//! reads them from moto S3, the Spark job from the same objects downloaded to a directory laid
//! out like the bucket. Their three Delta tables are equal column for column (name, type,
//! nullability, read with delta-rs) and row for row, their answer tables have the same columns
//! and rows, and their 8 answers (`results/<qid>.json`) are the same JSON. Then each job takes
//! over the other's tables: the Spark job over the Rust job's, with the same objects, finds
//! nothing new or changed and commits nothing (MERGE by `ind`: no row twice), and the Rust job
//! over the Spark job's leaves its rows as they were.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use deltalake::arrow::datatypes::DataType;
use deltalake::arrow::json::writer::JsonArray;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::kernel::DataType as DeltaType;
use pinctl::data::delta::DeltaRoot;
use serde_json::{json, Value};

use crate::util::jobs::{generate_source, run_batch, sink_objects};
use crate::util::{s3_keys, venv_bin, Moto, BUCKET, UID};

const JOB: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/jobs/spark/batch_job.py");

const TABLES: [&str; 3] = ["pin", "geo", "user"];
const QUESTIONS: [&str; 9] = ["q1", "q2", "q3a", "q3b", "q4", "q5", "q6", "q7", "q8"];

/// Spec §4's columns of each cleaned table with their types as the Delta log names them (Spark:
/// bigint, string, array<double>, timestamp; tests/spark_delta.rs reads them with Spark).
fn spec(table: &str) -> Vec<(&'static str, &'static str)> {
    match table {
        "pin" => vec![
            ("ind", "long"),
            ("unique_id", "string"),
            ("title", "string"),
            ("description", "string"),
            ("follower_count", "long"),
            ("poster_name", "string"),
            ("tag_list", "string"),
            ("is_image_or_video", "string"),
            ("image_src", "string"),
            ("save_location", "string"),
            ("category", "string"),
        ],
        "geo" => vec![
            ("ind", "long"),
            ("country", "string"),
            ("coordinates", "array<double>"),
            ("timestamp", "timestamp"),
        ],
        _ => vec![
            ("ind", "long"),
            ("user_name", "string"),
            ("age", "long"),
            ("date_joined", "timestamp"),
        ],
    }
}

/// Appends events whose values run through spec §4's rules and their edges, one variant of each
/// field per event (cycling), keyed by their position as generated rows are; returns the keys.
fn edge_events(source: &mut [Vec<Value>; 3]) -> Vec<usize> {
    let followers = [
        json!("12K"),
        json!(" 124k"),
        json!("124k "),
        json!("1.5"),
        json!("1.5k"),
        json!("1.005k"),
        json!("0.0005k"),
        json!("0.0015k"),
        json!("2.5M"),
        json!("99999999999999999999"),
        json!("9999999999999999999k"),
        json!("9223372036854775807"),
        json!("0"),
        json!("007"),
        json!("-5"),
        json!("+5"),
        json!("1e3"),
        json!(5),
        json!(1.5),
        json!(true),
        json!({"k": 1}),
        json!(["1k"]),
        json!("User Info Error"),
        json!(""),
        json!("k"),
        json!(".5k"),
        json!("5.k"),
        json!("1,000"),
        json!("15M"),
        json!(null),
    ];
    let titles = [
        json!(" spaced "),
        json!(""),
        json!("No Title Data Available"),
        json!("No Title Data Available "),
        json!("no title data available"),
        json!(12),
        json!(true),
        json!({"a": 1}),
        json!(["x"]),
        json!("[not an array]"),
        json!("{not an object}"),
        json!("Ünïcödé ✓"),
        json!(null),
    ];
    let datetimes = [
        json!("2020-8-28 3:52:47"),
        json!("2019-05-05T00:00:00"),
        json!("2019-05-05 00:00:00"),
        json!(" 2019-05-05T00:00:00"),
        json!("2019-02-29 00:00:00"),
        json!("2020-02-29T12:00:00"),
        // A leap second: the next second (chrono, ISO 8601), which here is in the next year.
        json!("2019-12-31 23:59:60"),
        json!("2019-05-05T24:00:00"),
        json!("1582-10-10 00:00:00"),
        json!("0001-01-01T00:00:00"),
        json!("2019-05-05t00:00:00"),
        json!("2019-05-05T00:00:00Z"),
        json!("20190505"),
        json!(20190505),
        json!("2019-05-05T00:00"),
        json!("2019-13-05T00:00:00"),
        json!(null),
    ];
    let coordinates = [
        (json!(1.5), json!(-2)),
        (json!("1"), json!("x")),
        (json!(" 1"), json!("2")),
        (json!("NaN"), json!("2")),
        (json!("1e400"), json!("2")),
        (json!("-0.0"), json!("1.")),
        (json!(".5"), json!("+3")),
        (json!(1e-300), json!(1e300)),
        (json!("1_000"), json!(2)),
        (json!(null), json!(3)),
        (json!(true), json!(1)),
        (json!("1e5"), json!("-1E-2")),
        (json!(12.25), json!({"a": 1})),
    ];
    let names = [
        (json!("Ada"), json!("")),
        (json!(null), json!("Lovelace")),
        (json!(" Ada"), json!("Lovelace")),
        (json!("Ada"), json!("Lovelace")),
        (json!(1), json!(2)),
        (json!(""), json!("")),
        (json!("Ada"), json!(["x"])),
    ];
    let ages = [
        json!(30),
        json!(" 30"),
        json!("30"),
        json!(30.0),
        json!(30.5),
        json!("17"),
        json!(17),
        json!(18),
        json!(24),
        json!(25),
        json!(35),
        json!(36),
        json!(50),
        json!(51),
        json!(-1),
        json!("1e1"),
        json!(9e15),
        json!("+40"),
        json!(null),
        json!("abc"),
    ];
    let first = source[0].len();
    let n = followers.len();
    let keys: Vec<usize> = (first..first + n).collect();
    for (i, k) in keys.iter().enumerate() {
        let pick = |v: &[Value]| v[i % v.len()].clone();
        let mut pin = source[0][i].clone();
        pin["index"] = json!(k);
        pin["unique_id"] = json!(format!("edge-{k}"));
        pin["follower_count"] = pick(&followers);
        pin["title"] = pick(&titles);
        pin["image_src"] = pick(&[
            json!("Image src error"),
            json!("Image src error."),
            json!("x"),
        ]);
        pin["save_location"] = pick(&[
            json!("Local save in /data/art"),
            json!(""),
            json!("Local save in "),
            json!("/data/x"),
            json!("local save in /data/x"),
        ]);
        pin["category"] = pick(&[
            json!("Art"),
            json!("art"),
            json!(""),
            json!(null),
            json!("travel"),
        ]);
        pin["poster_name"] = pick(&[
            json!("User Info Error"),
            json!(""),
            json!("Poster Edge"),
            json!("Poster Edge"),
        ]);
        if i % 7 == 3 {
            pin.as_object_mut().unwrap().remove("description");
        }
        let mut geo = source[1][i].clone();
        geo["ind"] = json!(k);
        geo["timestamp"] = pick(&datetimes);
        let (lat, lon) = coordinates[i % coordinates.len()].clone();
        geo["latitude"] = lat;
        geo["longitude"] = lon;
        geo["country"] = pick(&[
            json!(""),
            json!("Chad"),
            json!(5),
            json!({"x": 1}),
            json!("Chad"),
        ]);
        let mut user = source[2][i].clone();
        user["ind"] = json!(k);
        let (first_name, last_name) = names[i % names.len()].clone();
        user["first_name"] = first_name;
        user["last_name"] = last_name;
        user["age"] = pick(&ages);
        user["date_joined"] = datetimes[(i + 3) % datetimes.len()].clone();
        source[0].push(pin);
        source[1].push(geo);
        source[2].push(user);
    }
    keys
}

/// Pin objects the sink's layout allows that one record per object does not show: keys written
/// as a float, as text, with a space; several records in one object (the last one counts),
/// CRLF and blank lines, malformed lines (skipped), records without a usable key (dropped), one
/// key in two objects, and in several partitions (the last in key order counts: `partition=2/`
/// sorts after `partition=10/`).
async fn odd_objects(s3: &aws_sdk_s3::Client, pin: &Value, first_offset: usize) {
    let row = |index: Value, title: &str| {
        let mut r = pin.clone();
        r["index"] = index;
        r["title"] = json!(title);
        serde_json::to_string(&r).unwrap()
    };
    let partition_0 = [
        row(json!(2000.0), "a float key") + "\n",
        row(json!("2001"), "a text key") + "\n",
        row(json!(" 2002"), "a spaced key: dropped") + "\n",
        row(json!("3.003e3"), "a key in exponent notation") + "\n",
        format!(
            "{}\n{}\n",
            row(json!(2004), "first"),
            row(json!(2004), "second")
        ),
        format!("{}\r\n\r\n   \n", row(json!(2005), "CRLF")),
        format!(
            "not json\n{{'index': 2006}}\n[{}]\n3\nnull\n{{\"index\": 2008, \"x\": NaN}}\n",
            row(json!(2007), "in an array")
        ),
        format!(
            "{}\n{{\"title\": \"no key\"}}\n{}\n",
            row(json!(null), "null key"),
            row(json!("abc"), "text key")
        ),
        row(json!(2009), "first of two objects") + "\n",
        row(json!(2009), "second of two objects") + "\n",
    ];
    let topic = format!("{UID}.pin");
    let mut objects: Vec<(String, String)> = partition_0
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let offset = first_offset + i;
            (
                format!("topics/{topic}/partition=0/{topic}+0+{offset:010}.json"),
                body,
            )
        })
        .collect();
    for (partition, index, title) in [
        (10, 2010, "partition 10"),
        (2, 2010, "partition 2"),
        (1, 5, "partition 1 after key 5 in partition 0"),
    ] {
        objects.push((
            format!("topics/{topic}/partition={partition}/{topic}+{partition}+0000000000.json"),
            row(json!(index), title) + "\n",
        ));
    }
    for (key, body) in objects {
        s3.put_object()
            .bucket(BUCKET)
            .key(key)
            .body(body.into_bytes().into())
            .send()
            .await
            .unwrap();
    }
}

/// Every object of the bucket into `dir`, at its key: the bucket as a directory.
async fn download(s3: &aws_sdk_s3::Client, dir: &Path) -> usize {
    let keys = s3_keys(s3, BUCKET, "").await;
    for key in &keys {
        let body = s3
            .get_object()
            .bucket(BUCKET)
            .key(key)
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        let path = dir.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
    keys.len()
}

/// One run of the Spark job (local Spark, two cores) over the bucket copied to `input`; its
/// summary (the last line of its output).
fn run_spark(input: &Path, out: &Path, report: &Path) -> Value {
    let jars = std::env::var("PINCTL_SPARK_JARS").unwrap_or_else(|_| {
        panic!("PINCTL_SPARK_JARS is not set: run scripts/setup.sh (scripts/test.sh sources it), which installs Delta Lake's jars for Spark")
    });
    let work = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let o = Command::new(venv_bin("python"))
        .arg(JOB)
        .args(["--uid", UID, "--jars", &jars, "--master", "local[2]"])
        .arg("--input")
        .arg(input)
        .arg("--out")
        .arg(out)
        .arg("--report-dir")
        .arg(report)
        // A few hundred rows: few partitions, no code generation, a JVM tuned for a short run,
        // on the loopback interface only, no UI.
        .args([
            "--conf=spark.sql.shuffle.partitions=2",
            "--conf=spark.databricks.delta.snapshotPartitions=1",
            "--conf=spark.sql.codegen.wholeStage=false",
            "--conf=spark.driver.memory=1g",
            "--conf=spark.driver.extraJavaOptions=-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
            "--conf=spark.driver.host=127.0.0.1",
            "--conf=spark.driver.bindAddress=127.0.0.1",
            "--conf=spark.ui.enabled=false",
            "--conf=spark.ui.showConsoleProgress=false",
        ])
        .env("SPARK_LOCAL_IP", "127.0.0.1")
        // Spark's scratch files go to a scratch directory.
        .current_dir(work.path())
        .env("TMPDIR", work.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "the Spark job failed:\n{stdout}\n{stderr}"
    );
    eprintln!(
        "the Spark job ran in {:.1?}:\n{}",
        started.elapsed(),
        stderr
            .lines()
            .filter(|l| l.starts_with("batch_job:"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("the Spark job's summary {last:?}: {e}"))
}

/// A Delta table as delta-rs reads it: its columns as its log holds them (name, Delta type,
/// nullable) and its rows as JSON arrays in column order (timestamps as microseconds since the
/// epoch), sorted.
async fn read_table(path: &Path) -> (Vec<(String, DeltaType, bool)>, Vec<Vec<Value>>) {
    let parent = path.parent().unwrap().to_str().unwrap();
    let name = path.file_name().unwrap().to_str().unwrap();
    let url = DeltaRoot::new(parent).unwrap().url(name);
    let t = deltalake::open_table(url.clone())
        .await
        .unwrap_or_else(|e| panic!("delta-rs {url}: {e}"));
    let columns: Vec<(String, DeltaType, bool)> = t
        .snapshot()
        .unwrap()
        .schema()
        .fields()
        .map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()))
        .collect();
    let ctx = SessionContext::new();
    ctx.register_table("t", t.table_provider().await.unwrap())
        .unwrap();
    let df = ctx.table("t").await.unwrap();
    let mut writer = deltalake::arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, JsonArray>(Vec::new());
    for batch in df.collect().await.unwrap() {
        let arrays: Vec<_> = batch
            .columns()
            .iter()
            .map(|a| match a.data_type() {
                DataType::Timestamp(..) => {
                    deltalake::arrow::compute::cast(a, &DataType::Int64).unwrap()
                }
                _ => a.clone(),
            })
            .collect();
        let names = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect::<Vec<_>>();
        let batch = deltalake::arrow::record_batch::RecordBatch::try_from_iter(
            names.into_iter().zip(arrays),
        )
        .unwrap();
        writer.write(&batch).unwrap();
    }
    writer.finish().unwrap();
    let objects: Vec<serde_json::Map<String, Value>> =
        serde_json::from_slice(&writer.into_inner()).unwrap();
    let mut rows: Vec<Vec<Value>> = objects
        .into_iter()
        .map(|o| columns.iter().map(|(n, _, _)| o[n].clone()).collect())
        .collect();
    rows.sort_by_key(|r| r.iter().map(Value::to_string).collect::<Vec<_>>());
    (columns, rows)
}

fn table_path(out: &Path, table: &str) -> PathBuf {
    out.join(format!("{UID}_{table}_table"))
}

/// The cleaned table's rows by `ind` (one each, asserted).
fn by_ind(what: &str, rows: &[Vec<Value>]) -> BTreeMap<i64, Vec<Value>> {
    let map: BTreeMap<i64, Vec<Value>> = rows
        .iter()
        .map(|r| (r[0].as_i64().unwrap(), r.clone()))
        .collect();
    assert_eq!(map.len(), rows.len(), "{what}: an ind on more than one row");
    map
}

/// The three cleaned tables of two jobs are equal: the same columns (name, type, nullability)
/// and the same row for every ind.
async fn assert_same_tables(what: &str, got: &Path, want: &Path) {
    for table in TABLES {
        let (got_columns, got_rows) = read_table(&table_path(got, table)).await;
        let (want_columns, want_rows) = read_table(&table_path(want, table)).await;
        assert_eq!(
            got_columns, want_columns,
            "{what}, the {table} table: columns (name, type, nullable)"
        );
        let (got_rows, want_rows) = (
            by_ind(&format!("{what}, {table}"), &got_rows),
            by_ind(&format!("{what}, {table} (reference)"), &want_rows),
        );
        let only = |a: &BTreeMap<i64, Vec<Value>>, b: &BTreeMap<i64, Vec<Value>>| {
            a.keys()
                .filter(|k| !b.contains_key(k))
                .take(5)
                .copied()
                .collect::<Vec<_>>()
        };
        let differing: Vec<String> = want_rows
            .iter()
            .filter_map(|(k, w)| {
                let g = got_rows.get(k)?;
                (g != w).then(|| format!("ind {k}:\n  {g:?}\n  reference {w:?}"))
            })
            .take(3)
            .collect();
        assert!(
            got_rows.len() == want_rows.len()
                && differing.is_empty()
                && only(&got_rows, &want_rows).is_empty(),
            "{what}, the {table} table: {} rows, reference {}; inds only here {:?}, only in the reference {:?}; differing:\n{}",
            got_rows.len(),
            want_rows.len(),
            only(&got_rows, &want_rows),
            only(&want_rows, &got_rows),
            differing.join("\n")
        );
    }
}

/// The answers a job wrote, `results/<qid>.json`, by file name.
fn answers(report: &Path) -> BTreeMap<String, Value> {
    std::fs::read_dir(report.join("results"))
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let text = std::fs::read_to_string(&path).unwrap();
            let value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
            (name, value)
        })
        .collect()
}

/// The 8 answers of two jobs are the same JSON, file for file: arrays of objects with the same
/// keys in the same order and the same values (every row's order is defined by spec §5).
fn assert_same_answers(what: &str, got: &Path, want: &Path) {
    let (got, want) = (answers(got), answers(want));
    let names = |a: &BTreeMap<String, Value>| a.keys().cloned().collect::<Vec<_>>();
    let expected: Vec<String> = QUESTIONS.iter().map(|q| format!("{q}.json")).collect();
    assert_eq!(names(&want), expected, "the reference's answer files");
    assert_eq!(names(&got), expected, "{what}: the answer files");
    for (name, w) in &want {
        let g = &got[name];
        let keys = |v: &Value| -> Vec<Vec<String>> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_object().unwrap().keys().cloned().collect())
                .collect()
        };
        assert_eq!(keys(g), keys(w), "{what}, {name}: columns in order");
        assert_eq!(g, w, "{what}, {name}");
    }
}

/// Commits per table under `out` (the number of `_delta_log/*.json` files).
fn commits(out: &Path) -> BTreeMap<String, usize> {
    TABLES
        .iter()
        .map(|t| {
            let log = table_path(out, t).join("_delta_log");
            (t.to_string(), crate::util::jobs::log_commits(&log))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_spark_job_writes_the_rust_jobs_tables_and_answers() {
    let dir = tempfile::tempdir().unwrap();
    let mut source = generate_source(dir.path(), 300);
    let edges = edge_events(&mut source);
    let moto = Moto::start();
    let s3 = moto.s3().await;
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();

    // 241 distinct generated events, 59 of them sent twice, then the edge events, then the
    // odd objects.
    let mut keys: Vec<usize> = (0..300).map(|i| (i * 7919) % 241).collect();
    keys.extend(&edges);
    sink_objects(&s3, &source, &keys, 0).await;
    odd_objects(&s3, &source[0][5], keys.len()).await;

    let rust_out = dir.path().join("rust");
    let rust_report = dir.path().join("rust-report");
    let started = Instant::now();
    let summary = run_batch(&moto, &rust_out, &rust_report);
    eprintln!("the Rust job ran in {:.1?}", started.elapsed());

    let bucket = dir.path().join("bucket");
    let objects = download(&s3, &bucket).await;
    let spark_out = dir.path().join("spark");
    let spark_report = dir.path().join("spark-report");
    let spark = run_spark(&bucket, &spark_out, &spark_report);
    eprintln!("{objects} objects; the Rust job: {summary}; the Spark job: {spark}");
    assert_eq!(spark["rows"], summary["rows"], "rows per table");

    // The Rust job's tables are spec §4's (tests/spark_delta.rs reads them with Spark as well).
    for table in TABLES {
        let (columns, _) = read_table(&table_path(&rust_out, table)).await;
        let names_types: Vec<(&str, String)> = columns
            .iter()
            .map(|(n, t, _)| (n.as_str(), t.to_string()))
            .collect();
        let spec: Vec<(&str, String)> = spec(table)
            .into_iter()
            .map(|(n, t)| (n, t.to_string()))
            .collect();
        assert_eq!(names_types, spec, "the Rust job's {table} table");
        assert!(!columns[0].2, "ind is NOT NULL");
    }
    assert_same_tables("the Spark job's tables", &spark_out, &rust_out).await;
    for q in QUESTIONS {
        let path = |out: &Path| out.join("results").join(q);
        let (got_columns, got_rows) = read_table(&path(&spark_out)).await;
        let (want_columns, want_rows) = read_table(&path(&rust_out)).await;
        let names_types = |c: &[(String, DeltaType, bool)]| {
            c.iter()
                .map(|(n, t, _)| (n.clone(), t.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names_types(&got_columns),
            names_types(&want_columns),
            "the Spark job's results/{q} table: columns"
        );
        assert_eq!(
            got_rows, want_rows,
            "the Spark job's results/{q} table: rows"
        );
    }
    assert_same_answers("the Spark job", &spark_report, &rust_report);

    // What the data holds, so that the comparison covers it: a tie for the most popular
    // category, medians of even and of odd counts, and the edge rules (a few, as both read them).
    let answer = |q: &str| -> Vec<Value> {
        answers(&rust_report)[&format!("{q}.json")]
            .as_array()
            .unwrap()
            .clone()
    };
    let q1 = answer("q1");
    let countries: BTreeSet<&str> = q1.iter().map(|r| r["country"].as_str().unwrap()).collect();
    assert!(countries.len() < q1.len(), "q1 has a tie: {q1:?}");
    let (_, pins) = read_table(&table_path(&rust_out, "pin")).await;
    let (_, users) = read_table(&table_path(&rust_out, "user")).await;
    let (pins, users) = (by_ind("pin", &pins), by_ind("user", &users));
    let mut per_group: BTreeMap<&str, usize> = BTreeMap::new();
    for (ind, pin) in &pins {
        let Some(age) = users.get(ind).and_then(|u| u[2].as_i64()) else {
            continue;
        };
        if pin[4].is_null() {
            continue;
        }
        let group = match age {
            18..=24 => "18-24",
            25..=35 => "25-35",
            36..=50 => "36-50",
            a if a > 50 => "+50",
            _ => continue,
        };
        *per_group.entry(group).or_default() += 1;
    }
    assert_eq!(per_group.len(), answer("q5").len(), "q5: {per_group:?}");
    assert!(
        per_group.values().any(|n| n % 2 == 0) && per_group.values().any(|n| n % 2 == 1),
        "q5 has medians of an even and of an odd count: {per_group:?}"
    );
    let cell = |rows: &BTreeMap<i64, Vec<Value>>, ind: usize, column: usize| {
        rows.get(&(ind as i64)).map(|r| r[column].clone())
    };
    let (e, title, followers) = (edges[0], 2, 4);
    assert_eq!(cell(&pins, e, followers), Some(Value::Null), "`12K`");
    assert_eq!(cell(&pins, e + 4, followers), Some(json!(1500)), "`1.5k`");
    assert_eq!(
        cell(&pins, e + 8, followers),
        Some(json!(2_500_000)),
        "`2.5M`"
    );
    assert_eq!(
        cell(&pins, e, title),
        Some(json!(" spaced ")),
        "not trimmed"
    );
    assert_eq!(cell(&pins, 2002, title), None, "a spaced key is no key");
    assert_eq!(
        cell(&pins, 2004, title),
        Some(json!("second")),
        "the last line"
    );
    assert_eq!(
        cell(&pins, 2009, title),
        Some(json!("second of two objects"))
    );
    assert_eq!(cell(&pins, 2010, title), Some(json!("partition 2")));
    assert_eq!(
        cell(&pins, 3003, title),
        Some(json!("a key in exponent notation"))
    );
    assert_eq!(cell(&pins, 2007, title), None, "a record in an array");

    // The Spark job over the Rust job's tables, with the same objects: nothing new or changed,
    // nothing committed, no row twice, the same answers.
    let before = commits(&rust_out);
    let again = run_spark(&bucket, &rust_out, &dir.path().join("spark-report-2"));
    let nothing: serde_json::Map<String, Value> = TABLES
        .iter()
        .map(|t| (format!("{UID}_{t}_table"), json!(0)))
        .collect();
    assert_eq!(again["merged"], Value::Object(nothing), "{again}");
    assert_eq!(
        commits(&rust_out),
        before,
        "the Spark job committed to a table"
    );
    assert_same_tables(
        "the Rust job's tables after the Spark job",
        &rust_out,
        &spark_out,
    )
    .await;
    assert_same_answers(
        "the Spark job over the Rust job's tables",
        &dir.path().join("spark-report-2"),
        &rust_report,
    );

    // The Rust job over the Spark job's tables (no progress of its own there: it reads every
    // object again) leaves the same rows.
    let taken_over = run_batch(&moto, &spark_out, &dir.path().join("rust-report-2"));
    assert_eq!(taken_over["rows"], summary["rows"], "{taken_over}");
    assert_same_tables(
        "the Spark job's tables after the Rust job",
        &spark_out,
        &rust_out,
    )
    .await;
    assert_same_answers(
        "the Rust job over the Spark job's tables",
        &dir.path().join("rust-report-2"),
        &rust_report,
    );
}
