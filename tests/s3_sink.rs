//! The S3 sink's other settings on real parts (Apache Kafka, moto): several records per object
//! (`flush.size`), a record the converter cannot read (the sink stops, names it, commits nothing
//! past it; with `errors.tolerance=all` it is skipped), a topic created while the sink runs, and
//! objects named by their first written record around skipped tombstones.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::{pinctl, Kafka, Moto, Served};

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
    let kafka = Kafka::start();
    kafka.create_topics(&["u.pin"], 1);
    let s3 = moto.s3().await;
    s3.create_bucket().bucket("sink").send().await.unwrap();
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
                &kafka.address,
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
    kafka.create_topics(&["u.geo"], 1);
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

/// The objects of one partition as (start offset, lines), in key order, checked to be named
/// `<topic>+<p>+<start:010>.json`.
fn by_partition(
    objects: &[(String, String)],
    topic: &str,
    partitions: i32,
) -> Vec<Vec<(i64, Vec<String>)>> {
    let mut out = vec![vec![]; partitions as usize];
    for (key, body) in objects {
        let re = regex::Regex::new(&format!(
            r"^topics/{t}/partition=(\d+)/{t}\+(\d+)\+(\d{{10}})\.json$",
            t = regex::escape(topic)
        ))
        .unwrap();
        let c = re
            .captures(key)
            .unwrap_or_else(|| panic!("unexpected key {key}"));
        let p: i32 = c[1].parse().unwrap();
        assert_eq!(c[2].parse::<i32>().unwrap(), p, "{key}");
        let start: i64 = c[3].parse().unwrap();
        out[p as usize].push((start, body.lines().map(str::to_string).collect()));
    }
    for objs in &mut out {
        objs.sort();
    }
    out
}

/// Every record of every partition, offsets `0..per_partition`, is in exactly one object, at
/// its exact broker offset (the value says which record it is).
fn exactly_once(objects: &[(String, String)], topic: &str, partitions: i32, per_partition: i64) {
    for (p, objs) in by_partition(objects, topic, partitions)
        .into_iter()
        .enumerate()
    {
        let mut next = 0;
        for (start, lines) in objs {
            assert_eq!(
                start, next,
                "partition {p}: an object starts at {start}, the records before it end at {next} (lost or duplicated records)"
            );
            for (k, line) in lines.iter().enumerate() {
                let want = format!("{{\"p\":{p},\"i\":{}}}", start + k as i64);
                assert_eq!(line, &want, "partition {p}, object at {start}, line {k}");
            }
            next = start + lines.len() as i64;
        }
        assert_eq!(next, per_partition, "partition {p}: records missing");
    }
}

async fn produce_direct(address: &str, topic: &str, partitions: i32, from: i64, to: i64) {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", address)
        .set("linger.ms", "5")
        .create()
        .unwrap();
    let mut sends = vec![];
    for p in 0..partitions {
        for i in from..to {
            let value = format!("{{\"p\":{p},\"i\":{i}}}");
            let producer = producer.clone();
            let topic = topic.to_string();
            sends.push(async move {
                producer
                    .send(
                        FutureRecord::<(), _>::to(&topic)
                            .partition(p)
                            .payload(&value),
                        Duration::from_secs(10),
                    )
                    .await
                    .map(|d| (p, d.offset))
                    .map_err(|(e, _)| e)
            });
        }
    }
    for (n, r) in futures::future::join_all(sends)
        .await
        .into_iter()
        .enumerate()
    {
        let (p, offset) = r.unwrap();
        // Exact broker offsets: the i-th record of a partition is at offset i.
        assert_eq!(offset, from + (n as i64 % (to - from)), "partition {p}");
    }
}

/// Two sinks of one connector share its partitions through the group `connect-<name>`; one is
/// killed (SIGKILL), and the other takes its partitions over once the group's session times
/// out, from the committed offsets: every record lands in S3 exactly once, in an object named
/// by its exact offset.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_sinks_partitions_are_taken_over_by_the_other() {
    const TOPIC: &str = "g.pin";
    const PARTITIONS: i32 = 4;
    const SESSION_MS: u64 = 6000;
    let dir = tempfile::tempdir().unwrap();
    let moto = Moto::start();
    let kafka = Kafka::start();
    kafka.create_topics(&[TOPIC], PARTITIONS as u32);
    let s3 = moto.s3().await;
    s3.create_bucket().bucket("group").send().await.unwrap();
    let config = dir.path().join("sink.properties");
    std::fs::write(
        &config,
        format!(
            "name=g\ntopics={TOPIC}\nflush.size=5\ns3.bucket.name=group\ns3.region=us-east-1\n\
             consumer.override.session.timeout.ms={SESSION_MS}\n\
             consumer.override.heartbeat.interval.ms=1000\n"
        ),
    )
    .unwrap();
    let sink = |name: &str| {
        let log = std::fs::File::create(dir.path().join(format!("{name}.log"))).unwrap();
        pinctl(
            &[
                "worker",
                "s3-sink",
                "--bootstrap",
                &kafka.address,
                "--config",
                config.to_str().unwrap(),
            ],
            &moto.env(),
        )
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
    };
    let log = |name: &str| std::fs::read_to_string(dir.path().join(format!("{name}.log"))).unwrap();
    // The group's members and their partitions, from the sinks' logs (the last assignment each
    // logged).
    let assigned = |name: &str| -> Option<String> {
        log(name)
            .lines()
            .rfind(|l| l.contains("partitions assigned") || l.contains("partitions revoked"))
            .filter(|l| l.contains("partitions assigned"))
            .map(str::to_string)
    };
    let mut a = KillOnDrop(sink("a"));
    let _b = KillOnDrop(sink("b"));
    let t0 = Instant::now();
    // Both joined: each logged an assignment after the group settled on two members.
    loop {
        let both = [assigned("a"), assigned("b")];
        if both
            .iter()
            .all(|l| l.as_ref().is_some_and(|l| l.contains(TOPIC)))
        {
            let (la, lb) = (both[0].clone().unwrap(), both[1].clone().unwrap());
            let shared = (0..PARTITIONS).all(|p| {
                let mark = format!("(\"{TOPIC}\", {p})");
                la.contains(&mark) ^ lb.contains(&mark)
            });
            if shared {
                eprintln!("a: {la}\nb: {lb}");
                break;
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the two sinks did not share the partitions:\n--- a\n{}\n--- b\n{}",
            log("a"),
            log("b")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    produce_direct(&kafka.address, TOPIC, PARTITIONS, 0, 25).await;
    let o = wait_for(&s3, "group", 4 * 5).await;
    exactly_once(&o, TOPIC, PARTITIONS, 25);

    // Records that sink a reads but has not written yet (an open file of 3 < flush.size) die
    // with it; they are not committed, so b reads them again.
    produce_direct(&kafka.address, TOPIC, PARTITIONS, 25, 28).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.0.kill().unwrap();
    let _ = a.0.wait();
    let killed = Instant::now();
    produce_direct(&kafka.address, TOPIC, PARTITIONS, 28, 50).await;
    let o = loop {
        let o = objects(&s3, "group").await;
        if o.len() == 4 * 10 {
            break o;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "{} of 40 objects after 60 s:\n--- b\n{}",
            o.len(),
            log("b")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let took = killed.elapsed();
    eprintln!(
        "all records in S3 {:.1} s after the kill (session.timeout.ms={SESSION_MS})",
        took.as_secs_f64()
    );
    exactly_once(&o, TOPIC, PARTITIONS, 50);
    let lb = assigned("b").expect("b holds partitions");
    assert!(
        (0..PARTITIONS).all(|p| lb.contains(&format!("(\"{TOPIC}\", {p})"))),
        "b took every partition: {lb}"
    );
    // The group noticed within its session timeout; the rest is one heartbeat, the rejoin and
    // the writes.
    assert!(
        took < Duration::from_millis(SESSION_MS) + Duration::from_secs(6),
        "took {took:?}:\n{}",
        log("b")
    );
}

/// A child process killed when the test ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// With `behavior.on.null.values=ignore`, tombstones are skipped and each object is named by the
/// offset of its first written record, as Confluent's sink names it: a skipped record never
/// shifts a name.
#[tokio::test(flavor = "multi_thread")]
async fn objects_are_named_by_their_first_written_record_around_tombstones() {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let dir = tempfile::tempdir().unwrap();
    let moto = Moto::start();
    let kafka = Kafka::start();
    kafka.create_topics(&["u.user"], 1);
    let s3 = moto.s3().await;
    s3.create_bucket().bucket("sink").send().await.unwrap();
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &kafka.address)
        .create()
        .unwrap();
    // Offsets 0..6: a tombstone, two records, a tombstone, two records.
    for (i, value) in [None, Some(1), Some(2), None, Some(4), Some(5)]
        .into_iter()
        .enumerate()
    {
        let payload = value.map(|v| format!("{{\"i\":{v}}}"));
        let mut record = FutureRecord::<(), String>::to("u.user").partition(0);
        if let Some(p) = &payload {
            record = record.payload(p);
        }
        let (_, offset) = producer
            .send(record, Duration::from_secs(10))
            .await
            .map(|d| (d.partition, d.offset))
            .unwrap();
        assert_eq!(offset, i as i64);
    }
    let config = dir.path().join("sink.properties");
    std::fs::write(
        &config,
        "name=t\ntopics.regex=u\\..*\nflush.size=2\ns3.bucket.name=sink\ns3.region=us-east-1\nbehavior.on.null.values=ignore\n",
    )
    .unwrap();
    let mut running = pinctl(
        &[
            "worker",
            "s3-sink",
            "--bootstrap",
            &kafka.address,
            "--config",
            config.to_str().unwrap(),
        ],
        &moto.env(),
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let o = wait_for(&s3, "sink", 2).await;
    running.kill().unwrap();
    let _ = running.wait();
    assert_eq!(
        o,
        vec![
            (
                "topics/u.user/partition=0/u.user+0+0000000001.json".to_string(),
                "{\"i\":1}\n{\"i\":2}\n".to_string()
            ),
            (
                "topics/u.user/partition=0/u.user+0+0000000004.json".to_string(),
                "{\"i\":4}\n{\"i\":5}\n".to_string()
            ),
        ]
    );
}
