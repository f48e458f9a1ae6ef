//! The stream job end to end against moto Kinesis: events put through the Kinesis API become
//! one row per distinct `ind` in the Delta tables, through a kill -9 mid-stream, a restart and a
//! reshard (a stream whose shards are split while it is read).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::util::jobs::{generate_source, put_records, start_stream};
use crate::util::{Moto, UID};
use deltalake::arrow::array::{Array, Int64Array};
use deltalake::datafusion::prelude::SessionContext;
use pinctl::data::clean;
use pinctl::data::delta::DeltaRoot;
use pinctl::data::record::Table;
use serde_json::Value;

/// The table's rows as (ind → one text column), read back through delta-rs.
async fn read(out: &std::path::Path, table: Table, column: &str) -> BTreeMap<i64, Option<String>> {
    let root = DeltaRoot::new(out.to_str().unwrap()).unwrap();
    let t = root
        .open(
            &format!("{UID}_{}_table", table.suffix()),
            &clean::schema(table),
        )
        .await
        .unwrap();
    let ctx = SessionContext::new();
    ctx.register_table("t", t.table_provider().await.unwrap())
        .unwrap();
    let batches = ctx
        .sql(&format!(
            "SELECT ind, CAST({column} AS VARCHAR) AS v FROM t"
        ))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let mut rows = BTreeMap::new();
    for b in batches {
        let ind = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        let v = b.column(1);
        for i in 0..b.num_rows() {
            assert!(
                rows.insert(
                    ind.value(i),
                    (!v.is_null(i)).then(|| {
                        deltalake::arrow::util::display::array_value_to_string(v, i).unwrap()
                    })
                )
                .is_none(),
                "ind {} twice",
                ind.value(i)
            );
        }
    }
    rows
}

#[tokio::test(flavor = "multi_thread")]
async fn every_event_once_through_a_kill_a_restart_and_a_reshard() {
    let dir = tempfile::tempdir().unwrap();
    let tables = generate_source(dir.path(), 2000);

    let moto = Moto::start();
    let kinesis = aws_sdk_kinesis::Client::new(&moto.config().await);
    for (t, shards) in [("pin", 2), ("geo", 1), ("user", 1)] {
        kinesis
            .create_stream()
            .stream_name(format!("streaming-{UID}-{t}"))
            .shard_count(shards)
            .send()
            .await
            .unwrap();
    }
    let out = dir.path().join("delta");

    let first: Vec<usize> = (0..800).map(|i| (i * 37) % 1500).collect();
    put_records(&kinesis, &tables, &first).await;
    let mut job = start_stream(&moto, &out);
    // Kill it once some micro-batches are committed but not all.
    let started = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let log = out.join(format!("{UID}_pin_table/_delta_log"));
        let commits = std::fs::read_dir(&log).map(|d| d.count()).unwrap_or(0);
        if commits >= 3 || started.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
    job.kill().unwrap();
    job.wait().unwrap();

    // While it is down: more events (replays of known keys among them) and a reshard.
    kinesis
        .update_shard_count()
        .stream_name(format!("streaming-{UID}-geo"))
        .target_shard_count(2)
        .scaling_type(aws_sdk_kinesis::types::ScalingType::UniformScaling)
        .send()
        .await
        .unwrap();
    let shards = kinesis
        .list_shards()
        .stream_name(format!("streaming-{UID}-geo"))
        .send()
        .await
        .unwrap();
    assert!(
        shards
            .shards()
            .iter()
            .any(|s| s.parent_shard_id().is_some()),
        "the reshard made child shards: {:?}",
        shards.shards()
    );
    let second: Vec<usize> = (0..400).map(|i| (i * 11) % 1900).collect();
    put_records(&kinesis, &tables, &second).await;
    let mut job = start_stream(&moto, &out);

    let distinct: BTreeSet<i64> = first.iter().chain(&second).map(|k| *k as i64).collect();
    let started = Instant::now();
    loop {
        let n = [Table::Pin, Table::Geo, Table::User];
        let mut done = true;
        for t in n {
            if read(&out, t, "ind").await.len() < distinct.len() {
                done = false;
            }
        }
        if done || started.elapsed() > Duration::from_secs(90) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    unsafe {
        libc::kill(job.id() as i32, libc::SIGTERM);
    }
    assert!(
        job.wait().unwrap().success(),
        "the stream job stops cleanly on SIGTERM"
    );

    // One row per distinct event, contents as the cleaning makes them from the source rows.
    let checks = [
        (Table::Pin, 0, "follower_count", "follower_count"),
        (Table::Geo, 1, "country", "country"),
        (Table::User, 2, "user_name", "user_name"),
    ];
    for (table, i, column, _) in checks {
        let rows = read(&out, table, column).await;
        let keys: BTreeSet<i64> = rows.keys().copied().collect();
        assert_eq!(keys, distinct, "{table:?}: rows = distinct events sent");
        let source: Vec<Value> = distinct
            .iter()
            .map(|k| tables[i][*k as usize].clone())
            .collect();
        let expected = clean::clean(table, &clean::raw_batch(table, &source));
        let ind = expected
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        let col = expected.column_by_name(column).unwrap();
        for r in 0..expected.num_rows() {
            let want = (!col.is_null(r))
                .then(|| deltalake::arrow::util::display::array_value_to_string(col, r).unwrap());
            assert_eq!(rows[&ind.value(r)], want, "{table:?} ind {}", ind.value(r));
        }
    }
}
