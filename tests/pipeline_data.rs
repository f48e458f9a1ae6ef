//! The left half of the pipeline end to end, on real parts: the generated source → `worker emit`
//! (batch path) → `worker rest-proxy` → Apache Kafka → `worker s3-sink` → S3 (moto). The sink is
//! killed with SIGKILL mid-run and restarted: the objects are exactly one per message, keys and
//! contents as spec §3, values equal to the source rows, nothing missing, nothing extra.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::util::{pinctl, python_keys, s3_keys, Kafka, Moto, Served, UID};
use pinctl::data::record::Table;
use pinctl::data::store::Reader;
use serde_json::Value;

fn sink_properties(bucket: &str) -> String {
    format!(
        "name={UID}-s3-sink\n\
         connector.class=io.confluent.connect.s3.S3SinkConnector\n\
         topics.regex={UID}.*\n\
         format.class=io.confluent.connect.s3.format.json.JsonFormat\n\
         storage.class=io.confluent.connect.s3.storage.S3Storage\n\
         partitioner.class=io.confluent.connect.storage.partitioner.DefaultPartitioner\n\
         value.converter=org.apache.kafka.connect.json.JsonConverter\n\
         value.converter.schemas.enable=false\n\
         key.converter=org.apache.kafka.connect.storage.StringConverter\n\
         schema.compatibility=NONE\n\
         flush.size=1\n\
         tasks.max=3\n\
         s3.bucket.name={bucket}\n\
         s3.region=us-east-1\n\
         consumer.override.session.timeout.ms=6000\n"
    )
}

fn start_sink(kafka: &Kafka, config: &std::path::Path, env: &[(String, String)]) -> Child {
    pinctl(
        &[
            "worker",
            "s3-sink",
            "--bootstrap",
            &kafka.address,
            "--config",
            config.to_str().unwrap(),
        ],
        env,
    )
    .stdout(Stdio::null())
    .stderr(Stdio::inherit())
    .spawn()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn emitted_events_become_one_object_per_message_even_when_the_sink_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let moto = Moto::start();
    let kafka = Kafka::start();
    let topics: Vec<String> = Table::ALL
        .iter()
        .map(|t| format!("{UID}.{}", t.suffix()))
        .collect();
    kafka.create_topics(&topics.iter().map(String::as_str).collect::<Vec<_>>(), 1);
    let bucket = format!("user-{UID}-bucket");
    let s3 = moto.s3().await;
    s3.create_bucket().bucket(&bucket).send().await.unwrap();

    let source = format!("sqlite://{}/source.db", dir.path().display());
    let o = pinctl(&["-q", "data", "generate", "--out", &source], &[])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let proxy = Served::start(
        &[
            "worker",
            "rest-proxy",
            "--bootstrap",
            &kafka.address,
            "--listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    let config = dir.path().join("s3-sink.properties");
    std::fs::write(&config, sink_properties(&bucket)).unwrap();
    let env = moto.env();
    let mut sink = start_sink(&kafka, &config, &env);

    let events = 1000;
    let emit = pinctl(
        &[
            "--json",
            "-q",
            "worker",
            "emit",
            "--source",
            &source,
            "--invoke-url",
            &proxy.url(),
            "--uid",
            UID,
            "--mode",
            "batch",
            "--count",
            &events.to_string(),
            "--sleep",
            "0",
            "--concurrency",
            "8",
        ],
        &[],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit())
    .spawn()
    .unwrap();

    // Kill the sink (SIGKILL) once it has written some objects, then start it again.
    let started = Instant::now();
    loop {
        let n = s3_keys(&s3, &bucket, "").await.len();
        if n >= 300 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the sink wrote only {n} objects"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The killed member stays in the group `connect-<name>` until its session times out (6 s
    // here): then the restarted sink is given the partitions, from the committed offsets.
    sink.kill().unwrap();
    sink.wait().unwrap();
    let written_before_kill = s3_keys(&s3, &bucket, "").await.len();
    eprintln!(
        "killed the sink after {:?} with {written_before_kill} objects",
        started.elapsed()
    );
    let mut sink = start_sink(&kafka, &config, &env);

    let out = emit.wait_with_output().unwrap();
    assert!(out.status.success(), "emit failed");
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!("emit: {summary}");
    assert_eq!(summary["events"], events);
    assert_eq!(summary["sent"], events * 3);
    assert_eq!(summary["failed"], 0);

    let expected: BTreeSet<String> = topics
        .iter()
        .flat_map(|t| {
            (0..events).map(move |o| format!("topics/{t}/partition=0/{t}+0+{o:010}.json"))
        })
        .collect();
    let started = Instant::now();
    let keys = loop {
        let keys: BTreeSet<String> = s3_keys(&s3, &bucket, "").await.into_iter().collect();
        if keys.len() >= expected.len() || started.elapsed() > Duration::from_secs(90) {
            break keys;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    eprintln!("all objects after {:?}", started.elapsed());
    sink.kill().unwrap();
    sink.wait().unwrap();
    assert!(
        written_before_kill < expected.len(),
        "the kill came too late to test anything"
    );
    let missing: Vec<_> = expected.difference(&keys).take(5).collect();
    let extra: Vec<_> = keys.difference(&expected).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );

    // Contents: the record value as one line of compact JSON, equal to the source row.
    let reader = Reader::open(&source.parse().unwrap()).await.unwrap();
    let mut fetches = tokio::task::JoinSet::new();
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(16));
    for key in keys.iter().cloned() {
        let (s3, bucket, permits) = (s3.clone(), bucket.clone(), permits.clone());
        fetches.spawn(async move {
            let _permit = permits.acquire_owned().await.unwrap();
            let body = s3
                .get_object()
                .bucket(&bucket)
                .key(&key)
                .send()
                .await
                .unwrap();
            (key, body.body.collect().await.unwrap().into_bytes())
        });
    }
    let mut drawn: BTreeMap<i64, usize> = BTreeMap::new();
    while let Some(fetched) = fetches.join_next().await {
        let (key, bytes) = fetched.unwrap();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert!(
            text.ends_with('\n') && text.matches('\n').count() == 1,
            "{key}: {text:?}"
        );
        let row: Value = serde_json::from_str(text).unwrap();
        let (table, k) = if key.contains(".pin/") {
            (Table::Pin, row["index"].as_i64().unwrap())
        } else if key.contains(".geo/") {
            (Table::Geo, row["ind"].as_i64().unwrap())
        } else {
            (Table::User, row["ind"].as_i64().unwrap())
        };
        let source_row = reader.event(k).await.unwrap().row_json(table);
        assert_eq!(row, source_row, "{key}");
        assert_eq!(
            text,
            format!("{}\n", serde_json::to_string(&source_row).unwrap()),
            "{key}: not compact"
        );
        if table == Table::Pin {
            *drawn.entry(k).or_default() += 1;
        }
    }
    // The keys are the course's: Python's random.seed(100) draws, whatever the concurrency.
    let mut want: BTreeMap<i64, usize> = BTreeMap::new();
    for k in python_keys(events as usize) {
        *want.entry(k).or_default() += 1;
    }
    assert_eq!(drawn, want);
}

#[test]
fn records_that_are_not_accepted_make_emit_fail_with_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let source = format!("jsonl://{}", dir.path().display());
    let o = pinctl(
        &["-q", "data", "generate", "--rows", "20", "--out", &source],
        &[],
    )
    .output()
    .unwrap();
    assert!(o.status.success());
    // Nothing listens on this port: connection refused, retried, then counted as failed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = pinctl(
        &[
            "--json",
            "-q",
            "worker",
            "emit",
            "--source",
            &source,
            "--invoke-url",
            &format!("http://127.0.0.1:{port}"),
            "--uid",
            UID,
            "--mode",
            "both",
            "--count",
            "2",
            "--sleep",
            "0",
            "--retries",
            "1",
        ],
        &[],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["sent"], 0);
    assert_eq!(summary["failed"], 12);
    assert_eq!(summary["retried"], 12);
    assert!(summary["failures"][0]
        .as_str()
        .unwrap()
        .contains("/topics/0e36c8cd403d.pin"));
    // The source has 20 rows: keys are drawn from 0..=19, and the run says so.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("keys are drawn from 0..=19"), "{stderr}");
}
