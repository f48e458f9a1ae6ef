//! The Kafka REST proxy against Apache Kafka (one KRaft node): the v2 answers, success and
//! error, byte for byte; nothing produced for a refused request; malformed, oversized and
//! truncated bodies never crash it (a property test over bodies); the v2 consumer endpoints; a
//! graceful shutdown that loses nothing it acknowledged.

use std::io::{Read, Write};
use std::time::Duration;

use crate::util::{Kafka, Served};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use serde_json::{json, Value};

const JSON_V2: &str = "application/vnd.kafka.json.v2+json";

fn proxy(kafka: &Kafka, extra: &[&str]) -> Served {
    let mut args = vec![
        "worker",
        "rest-proxy",
        "--bootstrap",
        &kafka.address,
        "--listen",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    Served::start(&args, &[])
}

/// The number of records in the topic: the sum of its partitions' watermarks (the broker gives
/// every record its own offset).
fn records_in(kafka: &Kafka, topic: &str) -> i64 {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &kafka.address)
        .create()
        .unwrap();
    let md = c
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .unwrap();
    let t = md.topics().iter().find(|t| t.name() == topic).unwrap();
    t.partitions()
        .iter()
        .map(|p| {
            let (low, high) = c
                .fetch_watermarks(topic, p.id(), Duration::from_secs(5))
                .unwrap();
            high - low
        })
        .sum()
}

async fn post(url: &str, content_type: Option<&str>, body: &[u8]) -> (u16, String, String) {
    static HTTP: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    let mut req = HTTP
        .get_or_init(reqwest::Client::new)
        .post(url)
        .body(body.to_vec());
    if let Some(ct) = content_type {
        req = req.header("Content-Type", ct);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn produce_answers_in_the_v2_shape_and_refusals_produce_nothing() {
    let kafka = Kafka::start();
    kafka.create_topics(&["t.pin"], 2);
    let p = proxy(&kafka, &["--max-request-bytes", "4096"]);
    let url = format!("{}/topics/t.pin", p.url());

    // Success: one record, then keys and explicit partitions, then binary.
    let (status, ct, body) = post(
        &url,
        Some(JSON_V2),
        br#"{"records":[{"value":{"index":1,"title":"x"}}]}"#,
    )
    .await;
    assert_eq!(
        (status, ct.as_str()),
        (200, "application/vnd.kafka.v2+json")
    );
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["key_schema_id"], Value::Null);
    assert_eq!(v["value_schema_id"], Value::Null);
    let o = &v["offsets"][0];
    assert_eq!(
        o.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["partition", "offset", "error_code", "error"]
    );
    assert_eq!(
        (o["error_code"].clone(), o["error"].clone()),
        (Value::Null, Value::Null)
    );
    let (status, _, body) = post(
        &url,
        Some(JSON_V2),
        br#"{"records":[{"key":"a","value":1,"partition":1},{"key":"a","value":2,"partition":1}]}"#,
    )
    .await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["offsets"][0]["partition"], 1);
    assert_eq!(v["offsets"][1]["partition"], 1);
    assert_eq!(
        v["offsets"][1]["offset"].as_i64().unwrap(),
        v["offsets"][0]["offset"].as_i64().unwrap() + 1
    );
    let (status, _, _) = post(
        &url,
        Some("application/vnd.kafka.binary.v2+json"),
        br#"{"records":[{"value":"aGVsbG8="}]}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(records_in(&kafka, "t.pin"), 4);

    // Every refusal: documented status and body, nothing produced.
    let big = format!(r#"{{"records":[{{"value":"{}"}}]}}"#, "x".repeat(5000));
    // (url, content type, body, status, body answered)
    type Case<'a> = (String, Option<&'a str>, Vec<u8>, u16, Value);
    let cases: Vec<Case> = vec![
        (
            format!("{}/topics/nope", p.url()),
            Some(JSON_V2),
            br#"{"records":[{"value":1}]}"#.to_vec(),
            404,
            json!({"error_code": 40401, "message": "Topic not found."}),
        ),
        // A name that is not UTF-8 once decoded names no topic; still the v2 shape.
        (
            format!("{}/topics/%FF%FE", p.url()),
            Some(JSON_V2),
            br#"{"records":[{"value":1}]}"#.to_vec(),
            404,
            json!({"error_code": 40401, "message": "Topic not found."}),
        ),
        (
            url.clone(),
            Some(JSON_V2),
            br#"{"records":[{"value":1,"partition":7}]}"#.to_vec(),
            404,
            json!({"error_code": 40402, "message": "Partition not found."}),
        ),
        (
            url.clone(),
            Some("text/plain"),
            br#"{"records":[{"value":1}]}"#.to_vec(),
            415,
            json!({"error_code": 415, "message": "HTTP 415 Unsupported Media Type"}),
        ),
        (
            url.clone(),
            None,
            br#"{"records":[{"value":1}]}"#.to_vec(),
            415,
            json!({"error_code": 415, "message": "HTTP 415 Unsupported Media Type"}),
        ),
        (
            url.clone(),
            Some("application/vnd.kafka.avro.v2+json"),
            br#"{"records":[{"value":1}]}"#.to_vec(),
            415,
            json!({"error_code": 415, "message": "HTTP 415 Unsupported Media Type"}),
        ),
        // Confluent REST Proxy 7 produces only with an embedded format named: the generic v2
        // type and plain JSON are not taken as binary.
        (
            url.clone(),
            Some("application/vnd.kafka.v2+json"),
            br#"{"records":[{"value":"AQI="}]}"#.to_vec(),
            415,
            json!({"error_code": 415, "message": "HTTP 415 Unsupported Media Type"}),
        ),
        (
            url.clone(),
            Some("application/json"),
            br#"{"records":[{"value":"AQI="}]}"#.to_vec(),
            415,
            json!({"error_code": 415, "message": "HTTP 415 Unsupported Media Type"}),
        ),
        (
            url.clone(),
            Some(JSON_V2),
            br#"{"records":[]}"#.to_vec(),
            422,
            json!({"error_code": 422, "message": "records may not be empty"}),
        ),
        (
            url.clone(),
            Some(JSON_V2),
            br#"{"value":1}"#.to_vec(),
            422,
            json!({"error_code": 422, "message": "records may not be null"}),
        ),
        (
            url.clone(),
            Some("application/vnd.kafka.binary.v2+json"),
            br#"{"records":[{"value":{"a":1}}]}"#.to_vec(),
            422,
            json!({"error_code": 422, "message": "records[0].value must be a base64 string (binary embedded format)"}),
        ),
        (
            url.clone(),
            Some(JSON_V2),
            big.into_bytes(),
            413,
            json!({"error_code": 413, "message": "Request Entity Too Large: the limit is 4096 bytes"}),
        ),
    ];
    for (u, ct, body, want_status, want_body) in cases {
        let (status, got_ct, got) = post(&u, ct, &body).await;
        assert_eq!(status, want_status, "{u} {ct:?}: {got}");
        assert_eq!(got_ct, "application/vnd.kafka.v2+json");
        assert_eq!(
            serde_json::from_str::<Value>(&got).unwrap(),
            want_body,
            "{u} {ct:?}"
        );
    }
    // Malformed and truncated JSON: 422 with the parser's reason.
    for bad in [
        &b"{\"records\":[{\"value\":"[..],
        b"not json",
        b"",
        b"{\"records\":[{\"value\":1}]}}",
    ] {
        let (status, _, got) = post(&url, Some(JSON_V2), bad).await;
        let v: Value = serde_json::from_str(&got).unwrap();
        assert_eq!(
            (status, v["error_code"].as_u64()),
            (422, Some(422)),
            "{got}"
        );
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .starts_with("Unprocessable request body"),
            "{got}"
        );
    }
    // Unknown routes and methods, in the same error shape.
    let r = reqwest::get(format!("{}/nothing/here", p.url()))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error_code": 404, "message": "HTTP 404 Not Found"})
    );
    let r = reqwest::Client::new().delete(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.json::<Value>().await.unwrap()["error_code"], 405);
    assert_eq!(
        records_in(&kafka, "t.pin"),
        4,
        "a refused request produced something"
    );

    // Metadata.
    let topics: Value = reqwest::get(format!("{}/topics", p.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(topics, json!(["t.pin"]));
    let t: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    assert_eq!(t["name"], "t.pin");
    assert_eq!(t["partitions"].as_array().unwrap().len(), 2);
    assert_eq!(t["partitions"][0]["replicas"][0]["leader"], true);
    let r = reqwest::get(format!("{}/topics/nope", p.url()))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["error_code"], 40401);
    let h = reqwest::get(format!("{}/health", p.url())).await.unwrap();
    assert_eq!(h.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn truncated_requests_and_random_bodies_never_crash_it() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let kafka = Kafka::start();
    kafka.create_topics(&["fuzz"], 1);
    let p = proxy(&kafka, &["--max-request-bytes", "2048"]);
    let url = format!("{}/topics/fuzz", p.url());

    // A body cut short: the client promises more than it sends and hangs up.
    for promised in [10, 100, 100_000] {
        let mut s = std::net::TcpStream::connect(&p.address).unwrap();
        write!(
            s,
            "POST /topics/fuzz HTTP/1.1\r\nHost: x\r\nContent-Type: {JSON_V2}\r\nContent-Length: {promised}\r\n\r\n{{\"records\":"
        )
        .unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    // Random bodies: valid ones, mutations of valid ones, JSON of the wrong shape, raw bytes.
    let valid = r#"{"records":[{"value":{"index":7,"title":"a"}},{"key":"k","value":[1,2.5,null],"partition":0}]}"#;
    let fragments = prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"records\"",
        "\"value\"",
        "\"key\"",
        "\"partition\"",
        "1",
        "-1",
        "null",
        "true",
        "\"x\"",
        "0",
        "1e400",
        "\"\\u0000\"",
        " ",
        "\"\\ud800\"",
    ]);
    let bodies = prop_oneof![
        Just(valid.as_bytes().to_vec()),
        (0..valid.len()).prop_map(move |cut| valid.as_bytes()[..cut].to_vec()),
        (0..valid.len(), any::<u8>()).prop_map(move |(i, b)| {
            let mut v = valid.as_bytes().to_vec();
            v[i] = b;
            v
        }),
        prop::collection::vec(fragments, 0..40).prop_map(|f| f.concat().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..3000),
    ];
    let content_types = prop::sample::select(vec![
        JSON_V2,
        "application/vnd.kafka.binary.v2+json",
        "application/json",
        "text/plain",
    ]);
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    let before = records_in(&kafka, "fuzz");
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    let handle = tokio::runtime::Handle::current();
    let counted = accepted.clone();
    let url2 = url.clone();
    tokio::task::spawn_blocking(move || {
        runner
            .run(&(bodies, content_types), |(body, ct)| {
                let (status, _, text) = handle.block_on(post(&url2, Some(ct), &body));
                prop_assert!(
                    [200, 404, 413, 415, 422].contains(&status),
                    "status {status}: {text}"
                );
                let v: Value = serde_json::from_str(&text).expect("every answer is JSON");
                if status == 200 {
                    let n = v["offsets"].as_array().unwrap().len() as i64;
                    counted.fetch_add(n, std::sync::atomic::Ordering::SeqCst);
                } else {
                    prop_assert_eq!(
                        v["error_code"]
                            .as_u64()
                            .map(|c| c / 100 == status as u64 || c == status as u64),
                        Some(true)
                    );
                }
                Ok(())
            })
            .unwrap();
    })
    .await
    .unwrap();
    assert!(accepted.load(std::sync::atomic::Ordering::SeqCst) > 0);
    assert_eq!(
        records_in(&kafka, "fuzz") - before,
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        "records in the topic = records acknowledged with 200"
    );
    let h = reqwest::get(format!("{}/health", p.url())).await.unwrap();
    assert_eq!(h.status().as_u16(), 200, "the proxy survived");
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_consumers_read_back_what_was_produced() {
    let kafka = Kafka::start();
    kafka.create_topics(&["c.geo"], 1);
    let p = proxy(&kafka, &[]);
    for i in 0..3 {
        let body = json!({"records": [{"value": {"ind": i, "country": "Albania"}}]}).to_string();
        let (status, _, _) = post(
            &format!("{}/topics/c.geo", p.url()),
            Some(JSON_V2),
            body.as_bytes(),
        )
        .await;
        assert_eq!(status, 200);
    }
    let http = reqwest::Client::new();
    let v2 = "application/vnd.kafka.v2+json";
    let r = http
        .post(format!("{}/consumers/check", p.url()))
        .header("Content-Type", v2)
        .body(r#"{"name":"me","format":"json","auto.offset.reset":"earliest"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["instance_id"], "me");
    let base = created["base_uri"].as_str().unwrap().to_string();
    assert!(base.ends_with("/consumers/check/instances/me"), "{base}");
    let again = http
        .post(format!("{}/consumers/check", p.url()))
        .header("Content-Type", v2)
        .body(r#"{"name":"me","format":"json"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 409);
    assert_eq!(again.json::<Value>().await.unwrap()["error_code"], 40902);

    let r = http
        .post(format!("{base}/subscription"))
        .header("Content-Type", v2)
        .body(r#"{"topics":["c.geo"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let sub: Value = http
        .get(format!("{base}/subscription"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sub, json!({"topics": ["c.geo"]}));

    let wrong = http
        .get(format!("{base}/records"))
        .header("Accept", "application/vnd.kafka.binary.v2+json")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 406);

    let mut got = vec![];
    for _ in 0..30 {
        let r = http
            .get(format!("{base}/records?timeout=1000"))
            .header("Accept", JSON_V2)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.headers()["content-type"], JSON_V2);
        got.extend(r.json::<Vec<Value>>().await.unwrap());
        if got.len() >= 3 {
            break;
        }
    }
    assert_eq!(got.len(), 3, "{got:?}");
    for (i, rec) in got.iter().enumerate() {
        assert_eq!(rec["topic"], "c.geo");
        assert_eq!(rec["key"], Value::Null);
        assert_eq!(rec["value"], json!({"ind": i, "country": "Albania"}));
        assert_eq!(rec["partition"], 0);
        assert_eq!(rec["offset"], i);
    }
    let r = http.post(format!("{base}/offsets")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = http.delete(&base).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let r = http
        .get(format!("{base}/records"))
        .header("Accept", JSON_V2)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error_code": 40403, "message": "Consumer instance not found."})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_flushes_every_acknowledged_record_and_a_dead_broker_is_a_50003() {
    let mut kafka = Kafka::start();
    kafka.create_topics(&["s.user"], 1);
    // A long linger keeps every request waiting on its delivery when the signal comes.
    let p = proxy(&kafka, &["--linger", "1500ms", "--delivery-timeout", "5s"]);
    let url = format!("{}/topics/s.user", p.url());
    // Requests in flight when SIGTERM arrives: each gets its answer, and every 200 is in Kafka.
    let mut tasks = vec![];
    let http = reqwest::Client::new();
    for i in 0..100 {
        let url = url.clone();
        let http = http.clone();
        tasks.push(tokio::spawn(async move {
            let body = json!({"records": [{"value": {"ind": i}}]}).to_string();
            http.post(&url)
                .header("Content-Type", JSON_V2)
                .body(body)
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let pid = p.child.id() as i32;
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(200) => ok += 1,
            other => eprintln!("in-flight request: {other:?}"),
        }
    }
    let status = p.terminate();
    eprintln!("proxy exit: {status:?}");
    assert!(status.success(), "{status:?}");
    assert!(
        ok > 50,
        "only {ok} of 100 in-flight requests were answered 200"
    );
    assert_eq!(
        records_in(&kafka, "s.user"),
        ok,
        "acknowledged records = records in Kafka"
    );

    // With the broker gone, a produce fails as a Kafka error, after the delivery timeout.
    let p = proxy(&kafka, &["--delivery-timeout", "2s"]);
    let url = format!("{}/topics/s.user", p.url());
    let (status, _, _) = post(&url, Some(JSON_V2), br#"{"records":[{"value":1}]}"#).await;
    assert_eq!(status, 200);
    kafka.kill();
    let (status, _, body) = post(&url, Some(JSON_V2), br#"{"records":[{"value":2}]}"#).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status, 500, "{body}");
    assert!(
        [50002, 50003].contains(&v["error_code"].as_u64().unwrap()),
        "{body}"
    );
    let h = reqwest::get(format!("{}/health", p.url())).await.unwrap();
    assert_eq!(h.status().as_u16(), 503);
}

/// A client that sends its headers or its body too slowly is cut off after `--read-timeout`:
/// the connection closes at the headers, a 408 in the v2 shape answers a body that stalls, and
/// the proxy serves everyone else meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn slow_clients_are_cut_off() {
    let kafka = Kafka::start();
    kafka.create_topics(&["t.slow"], 1);
    let p = proxy(&kafka, &["--read-timeout", "1s"]);
    let addr = p.url().trim_start_matches("http://").to_string();
    let exchange = move |sent: &'static [u8]| {
        let addr = addr.clone();
        std::thread::spawn(move || {
            let mut c = std::net::TcpStream::connect(&addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            c.write_all(sent).unwrap();
            let mut out = Vec::new();
            // Ends when the proxy closes the connection; an error here is the 20 s guard.
            c.read_to_end(&mut out)
                .map(|_| String::from_utf8_lossy(&out).into_owned())
        })
    };
    // Headers that never end.
    let headers = exchange(b"POST /topics/t.slow HTTP/1.1\r\nHost: x\r\nContent-Type: app");
    // A body that stops short of its declared length.
    let body = exchange(
        b"POST /topics/t.slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.kafka.json.v2+json\r\nContent-Length: 100\r\n\r\n{\"records\":",
    );
    // Meanwhile others are served.
    let (status, _, _) = post(
        &format!("{}/topics/t.slow", p.url()),
        Some(JSON_V2),
        br#"{"records":[{"value":1}]}"#,
    )
    .await;
    assert_eq!(status, 200);
    let headers = headers.join().unwrap().expect("closed, not left hanging");
    assert!(
        !headers.starts_with("HTTP/1.1 2"),
        "nothing served: {headers}"
    );
    let body = body.join().unwrap().expect("answered and closed");
    assert!(body.starts_with("HTTP/1.1 408"), "{body}");
    assert!(
        body.ends_with(r#"{"error_code":408,"message":"HTTP 408 Request Timeout"}"#),
        "{body}"
    );
    assert_eq!(
        records_in(&kafka, "t.slow"),
        1,
        "only the whole request produced"
    );
}
