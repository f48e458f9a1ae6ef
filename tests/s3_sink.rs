//! The S3 sink's other settings on real parts (tansu, moto): several records per object
//! (`flush.size`), a record the converter cannot read (the sink stops, names it, commits nothing
//! past it; with `errors.tolerance=all` it is skipped), and a topic created while the sink runs.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::{pinctl, Moto, Served, Tansu};

async fn produce(proxy: &Served, topic: &str, content_type: &str, records: &str) {
    let r = reqwest::Client::new()
        .post(format!("{}/topics/{topic}", proxy.url()))
        .header("Content-Type", content_type)
        .body(format!(r#"{{"records":[{records}]}}"#))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
}

async fn objects(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<(String, String)> {
    let out = s3.list_objects_v2().bucket(bucket).send().await.unwrap();
    let mut all = vec![];
    for o in out.contents() {
        let key = o.key().unwrap().to_string();
        let body = s3
            .get_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .unwrap();
        let text =
            String::from_utf8(body.body.collect().await.unwrap().into_bytes().to_vec()).unwrap();
        all.push((key, text));
    }
    all
}

async fn wait_for(s3: &aws_sdk_s3::Client, bucket: &str, n: usize) -> Vec<(String, String)> {
    let started = Instant::now();
    loop {
        let o = objects(s3, bucket).await;
        if o.len() >= n || started.elapsed() > Duration::from_secs(30) {
            return o;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn flush_size_bad_records_and_new_topics() {
    let dir = tempfile::tempdir().unwrap();
    let moto = Moto::start();
    let tansu = Tansu::start();
    tansu.create_topics(&["u.pin"], 1);
    let s3 = moto.s3().await;
    s3.create_bucket().bucket("sink").send().await.unwrap();
    let proxy = Served::start(
        &[
            "worker",
            "rest-proxy",
            "--bootstrap",
            &tansu.address,
            "--listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    let json = "application/vnd.kafka.json.v2+json";
    for i in 0..5 {
        produce(
            &proxy,
            "u.pin",
            json,
            &format!(r#"{{"value":{{"i":{i}}}}}"#),
        )
        .await;
    }
    let config = dir.path().join("sink.properties");
    std::fs::write(
        &config,
        "name=t\ntopics.regex=u\\..*\nflush.size=2\ns3.bucket.name=sink\ns3.region=us-east-1\n",
    )
    .unwrap();
    let sink = |extra: &str| {
        if !extra.is_empty() {
            let mut text = std::fs::read_to_string(&config).unwrap();
            text.push_str(extra);
            std::fs::write(&config, text).unwrap();
        }
        pinctl(
            &[
                "worker",
                "s3-sink",
                "--bootstrap",
                &tansu.address,
                "--config",
                config.to_str().unwrap(),
            ],
            &moto.env(),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
    };
    let running = sink("");
    // Two records per object; the fifth waits for its partner.
    let o = wait_for(&s3, "sink", 2).await;
    assert_eq!(
        o,
        vec![
            (
                "topics/u.pin/partition=0/u.pin+0+0000000000.json".to_string(),
                "{\"i\":0}\n{\"i\":1}\n".to_string()
            ),
            (
                "topics/u.pin/partition=0/u.pin+0+0000000002.json".to_string(),
                "{\"i\":2}\n{\"i\":3}\n".to_string()
            ),
        ]
    );
    // A topic created while the sink runs is found and read.
    tansu.create_topics(&["u.geo"], 1);
    produce(&proxy, "u.geo", json, r#"{"value":"a"},{"value":"b"}"#).await;
    let o = wait_for(&s3, "sink", 3).await;
    assert!(
        o.iter().any(
            |(k, t)| k == "topics/u.geo/partition=0/u.geo+0+0000000000.json"
                && t == "\"a\"\n\"b\"\n"
        ),
        "{o:?}"
    );

    // A value that is not JSON: the sink stops and names it; nothing after it is written.
    produce(
        &proxy,
        "u.pin",
        "application/vnd.kafka.binary.v2+json",
        r#"{"value":"bm90IGpzb24="}"#,
    )
    .await;
    produce(
        &proxy,
        "u.pin",
        json,
        r#"{"value":{"i":6}},{"value":{"i":7}}"#,
    )
    .await;
    let out = tokio::task::spawn_blocking(move || running.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("u.pin/0@5") && stderr.contains("not JSON"),
        "{stderr}"
    );
    assert_eq!(objects(&s3, "sink").await.len(), 3);

    // With errors.tolerance=all the record is skipped and the rest flows, from the committed offset.
    let mut running = sink("errors.tolerance=all\n");
    let o = wait_for(&s3, "sink", 4).await;
    running.kill().unwrap();
    let _ = running.wait();
    let fourth = o
        .iter()
        .find(|(k, _)| k.ends_with("u.pin+0+0000000004.json"))
        .expect("the file that holds the skipped record");
    assert_eq!(fourth.1, "{\"i\":4}\n{\"i\":6}\n");
}
