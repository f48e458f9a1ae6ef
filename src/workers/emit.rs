//! `pinctl worker emit`: the posting emulator (spec §2). It draws keys the way the course's
//! script did (Python's `random`, seeded with 100: a sleep of `randrange(0, 2)` seconds, then
//! `randint(0, 11000)`), reads row N of each table, and sends pin, geo and user through the
//! invoke URL: to the Kafka REST proxy (batch path) and/or to Kinesis (stream path).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::data::pyrandom::PyRandom;
use crate::data::record::{Event, Table};
use crate::data::store::Reader;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    Batch,
    Stream,
    Both,
}

/// How long to wait before each event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sleep {
    /// The original's random whole 0 or 1 second.
    Random,
    Fixed(Duration),
}

impl std::str::FromStr for Sleep {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "random" => Ok(Sleep::Random),
            "0" => Ok(Sleep::Fixed(Duration::ZERO)),
            _ => humantime::parse_duration(s).map(Sleep::Fixed).map_err(|e| {
                format!("`{s}`: {e} (use `random`, `0` or a duration such as `250ms`)")
            }),
        }
    }
}

#[derive(Debug, Clone)]
pub struct EmitConfig {
    pub invoke_url: String,
    pub uid: String,
    pub mode: Mode,
    /// Events to send; `None` runs until stopped.
    pub count: Option<u64>,
    /// Events per second at most.
    pub rate: Option<f64>,
    pub concurrency: usize,
    pub seed: u64,
    pub sleep: Sleep,
    /// The largest key drawn (the original: 11000).
    pub max_key: u32,
    /// Attempts per record beyond the first, on connection errors, 429 and 5xx.
    pub retries: u32,
    pub timeout: Duration,
}

/// What a run did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    pub events: u64,
    pub sent: u64,
    pub retried: u64,
    pub failed: u64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub records_per_second: f64,
    pub seconds: f64,
    /// The first few failures, each with the record and the last answer.
    pub failures: Vec<String>,
}

/// The keys and sleeps, drawn in the original's order whatever the concurrency.
struct Draws {
    random: PyRandom,
    drawn: u64,
}

struct Shared {
    config: EmitConfig,
    reader: Reader,
    http: reqwest::Client,
    draws: Mutex<Draws>,
    next_slot: tokio::sync::Mutex<Instant>,
    sent: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    events: AtomicU64,
    latencies_us: Mutex<Vec<u32>>,
    failures: Mutex<Vec<String>>,
}

/// One HTTP request of the spec: where, how, and with what body.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: reqwest::Method,
    pub url: String,
    pub content_type: &'static str,
    pub body: Value,
}

/// The batch-path request for one row: `POST {invoke}/topics/<uid>.<table>`.
pub fn batch_request(invoke_url: &str, uid: &str, table: Table, row: Value) -> Request {
    Request {
        method: reqwest::Method::POST,
        url: format!("{invoke_url}/topics/{uid}.{}", table.suffix()),
        content_type: "application/vnd.kafka.json.v2+json",
        body: json!({"records": [{"value": row}]}),
    }
}

/// The stream-path request for one row: `PUT {invoke}/streams/streaming-<uid>-<table>/record`.
pub fn stream_request(invoke_url: &str, uid: &str, table: Table, row: Value, key: i64) -> Request {
    let stream = format!("streaming-{uid}-{}", table.suffix());
    Request {
        method: reqwest::Method::PUT,
        url: format!("{invoke_url}/streams/{stream}/record"),
        content_type: "application/json",
        body: json!({"StreamName": stream, "Data": row, "PartitionKey": key.to_string()}),
    }
}

fn requests(config: &EmitConfig, event: &Event) -> Vec<Request> {
    let mut out = vec![];
    let url = config.invoke_url.trim_end_matches('/');
    if matches!(config.mode, Mode::Batch | Mode::Both) {
        for t in Table::ALL {
            out.push(batch_request(url, &config.uid, t, event.row_json(t)));
        }
    }
    if matches!(config.mode, Mode::Stream | Mode::Both) {
        for t in Table::ALL {
            out.push(stream_request(
                url,
                &config.uid,
                t,
                event.row_json(t),
                event.key(),
            ));
        }
    }
    out
}

/// An answer's start, for messages (never split inside a character).
fn clip(body: &str) -> String {
    body.chars().take(600).collect()
}

/// Why an answer was not an acceptance, and whether trying again may help.
fn judge(status: reqwest::StatusCode, body: &str) -> Result<(), (bool, String)> {
    if status.is_success() {
        // A v2 proxy reports per-record failures inside a 200, and API Gateway's default
        // integration response turns a Kinesis error into a 200 as well.
        if let Ok(v) = serde_json::from_str::<Value>(body) {
            if let Some(kind) = v.get("__type").and_then(Value::as_str) {
                let retriable = ["Throughput", "LimitExceeded", "Throttl", "InternalFailure"]
                    .iter()
                    .any(|k| kind.contains(k));
                let text = clip(body);
                return Err((retriable, format!("{status} carrying an AWS error: {text}")));
            }
            if v["FailedRecordCount"].as_u64().is_some_and(|n| n > 0) {
                let text = clip(body);
                return Err((true, format!("{status}: some records failed: {text}")));
            }
            if let Some(offsets) = v.get("offsets").and_then(Value::as_array) {
                if let Some(e) = offsets.iter().find(|o| !o["error_code"].is_null()) {
                    let retriable = e["error_code"].as_u64() == Some(50003);
                    return Err((retriable, format!("{status}: {e}")));
                }
            }
        }
        return Ok(());
    }
    let retriable = status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
    let text = clip(body);
    Err((retriable, format!("{status}: {text}")))
}

impl Shared {
    /// The next (sleep, key), or `None` when the count is reached.
    fn draw(&self) -> Option<(u32, i64)> {
        let mut d = self.draws.lock().expect("draws");
        if self.config.count.is_some_and(|c| d.drawn >= c) {
            return None;
        }
        d.drawn += 1;
        let sleep = d.random.randrange(0, 2);
        let key = d.random.randint(0, self.config.max_key);
        Some((sleep, key as i64))
    }

    async fn pace(&self) {
        let Some(rate) = self.config.rate.filter(|r| *r > 0.0) else {
            return;
        };
        let mut next = self.next_slot.lock().await;
        let now = Instant::now();
        let at = (*next).max(now);
        *next = at + Duration::from_secs_f64(1.0 / rate);
        drop(next);
        tokio::time::sleep_until(at.into()).await;
    }

    async fn send(&self, request: &Request) {
        let mut attempt = 0;
        loop {
            let started = Instant::now();
            let answer = self
                .http
                .request(request.method.clone(), &request.url)
                .header(reqwest::header::CONTENT_TYPE, request.content_type)
                .body(request.body.to_string())
                .timeout(self.config.timeout)
                .send()
                .await;
            let verdict = match answer {
                Ok(r) => {
                    let status = r.status();
                    let body = r.text().await.unwrap_or_default();
                    judge(status, &body).and_then(|()| {
                        // API Gateway answers 200 whatever Kinesis said: only a sequence
                        // number proves the record was stored.
                        if request.content_type == "application/json"
                            && !body.contains("\"SequenceNumber\"")
                        {
                            Err((
                                true,
                                format!(
                                    "{status} without a Kinesis sequence number: {}",
                                    clip(&body)
                                ),
                            ))
                        } else {
                            Ok(())
                        }
                    })
                }
                Err(e) => Err((true, format!("{e}"))),
            };
            match verdict {
                Ok(()) => {
                    let us = started.elapsed().as_micros().min(u32::MAX as u128) as u32;
                    self.latencies_us.lock().expect("latencies").push(us);
                    self.sent.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err((true, _)) if attempt < self.config.retries => {
                    attempt += 1;
                    self.retried.fetch_add(1, Ordering::Relaxed);
                    let backoff = Duration::from_millis(200 * (1 << attempt.min(5)));
                    let jitter = Duration::from_nanos(u64::from(
                        started.elapsed().subsec_nanos() % 100_000_000,
                    ));
                    tokio::time::sleep(backoff.min(Duration::from_secs(5)) + jitter).await;
                }
                Err((_, why)) => {
                    self.failed.fetch_add(1, Ordering::Relaxed);
                    let line = format!("{} {}: {why}", request.method, request.url);
                    tracing::warn!("not accepted: {line}");
                    let mut f = self.failures.lock().expect("failures");
                    if f.len() < 20 {
                        f.push(line);
                    }
                    return;
                }
            }
        }
    }

    async fn run_one(&self, sleep: u32, key: i64) {
        match self.config.sleep {
            Sleep::Random => tokio::time::sleep(Duration::from_secs(sleep as u64)).await,
            Sleep::Fixed(d) if !d.is_zero() => tokio::time::sleep(d).await,
            Sleep::Fixed(_) => {}
        }
        self.pace().await;
        let event = match self.reader.event(key).await {
            Ok(e) => e,
            Err(e) => {
                let per_event = requests_per_event(self.config.mode);
                self.failed.fetch_add(per_event, Ordering::Relaxed);
                let line = format!("key {key}: {e}");
                tracing::warn!("{line}");
                self.failures.lock().expect("failures").push(line);
                return;
            }
        };
        // Pin, then geo, then user: in order, as the original did.
        for r in requests(&self.config, &event) {
            self.send(&r).await;
        }
        self.events.fetch_add(1, Ordering::Relaxed);
    }
}

fn requests_per_event(mode: Mode) -> u64 {
    match mode {
        Mode::Both => 6,
        _ => 3,
    }
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

/// Runs until the count is reached or `stop` resolves; in-flight events finish either way.
pub async fn run(
    config: EmitConfig,
    reader: Reader,
    progress: indicatif::ProgressBar,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<Summary> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(config.concurrency.max(1))
        .build()?;
    let concurrency = config.concurrency.max(1);
    let shared = Arc::new(Shared {
        draws: Mutex::new(Draws {
            random: PyRandom::seed(config.seed),
            drawn: 0,
        }),
        config,
        reader,
        http,
        next_slot: tokio::sync::Mutex::new(Instant::now()),
        sent: AtomicU64::new(0),
        retried: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        events: AtomicU64::new(0),
        latencies_us: Mutex::new(vec![]),
        failures: Mutex::new(vec![]),
    });
    let stopped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let shared = shared.clone();
        let stopped = stopped.clone();
        let progress = progress.clone();
        workers.spawn(async move {
            while !stopped.load(Ordering::Relaxed) {
                let Some((sleep, key)) = shared.draw() else {
                    break;
                };
                shared.run_one(sleep, key).await;
                progress.inc(1);
            }
        });
    }
    let waiter = {
        let stopped = stopped.clone();
        async move {
            stop.await;
            stopped.store(true, Ordering::Relaxed);
        }
    };
    tokio::select! {
        _ = waiter => {
            tracing::info!("stopping: letting in-flight events finish");
            while workers.join_next().await.is_some() {}
        }
        _ = async { while workers.join_next().await.is_some() {} } => {}
    }
    progress.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let mut lat = std::mem::take(&mut *shared.latencies_us.lock().expect("latencies"));
    lat.sort_unstable();
    let sent = shared.sent.load(Ordering::Relaxed);
    let failures = std::mem::take(&mut *shared.failures.lock().expect("failures"));
    Ok(Summary {
        events: shared.events.load(Ordering::Relaxed),
        sent,
        retried: shared.retried.load(Ordering::Relaxed),
        failed: shared.failed.load(Ordering::Relaxed),
        latency_p50_ms: percentile(&lat, 0.50),
        latency_p99_ms: percentile(&lat, 0.99),
        records_per_second: if seconds > 0.0 {
            sent as f64 / seconds
        } else {
            0.0
        },
        seconds,
        failures,
    })
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "events {}  records sent {}  retried {}  failed {}",
            self.events, self.sent, self.retried, self.failed
        )?;
        write!(
            f,
            "latency p50 {:.1} ms  p99 {:.1} ms  {:.0} records/s over {:.1} s",
            self.latency_p50_ms, self.latency_p99_ms, self.records_per_second, self.seconds
        )?;
        for line in &self.failures {
            write!(f, "\n  not accepted: {line}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_follow_the_spec() {
        let b = batch_request(
            "https://x/prod",
            "0e36c8cd403d",
            Table::Geo,
            json!({"ind": 1}),
        );
        assert_eq!(b.url, "https://x/prod/topics/0e36c8cd403d.geo");
        assert_eq!(b.method, reqwest::Method::POST);
        assert_eq!(b.content_type, "application/vnd.kafka.json.v2+json");
        assert_eq!(b.body.to_string(), r#"{"records":[{"value":{"ind":1}}]}"#);
        let s = stream_request(
            "https://x/prod",
            "0e36c8cd403d",
            Table::Pin,
            json!({"index": 7}),
            7,
        );
        assert_eq!(
            s.url,
            "https://x/prod/streams/streaming-0e36c8cd403d-pin/record"
        );
        assert_eq!(s.method, reqwest::Method::PUT);
        assert_eq!(s.content_type, "application/json");
        assert_eq!(
            s.body.to_string(),
            r#"{"StreamName":"streaming-0e36c8cd403d-pin","Data":{"index":7},"PartitionKey":"7"}"#
        );
    }

    #[test]
    fn answers_are_judged_like_a_v2_client_would() {
        use reqwest::StatusCode as S;
        assert!(judge(
            S::OK,
            r#"{"offsets":[{"partition":0,"offset":3,"error_code":null,"error":null}]}"#
        )
        .is_ok());
        assert!(
            judge(
                S::OK,
                r#"{"offsets":[{"partition":null,"offset":null,"error_code":50003,"error":"x"}]}"#
            )
            .unwrap_err()
            .0
        );
        assert!(
            !judge(S::NOT_FOUND, r#"{"error_code":40401}"#)
                .unwrap_err()
                .0
        );
        assert!(judge(S::BAD_GATEWAY, "").unwrap_err().0);
        assert!(judge(S::TOO_MANY_REQUESTS, "").unwrap_err().0);
        // Kinesis answers through API Gateway's default (200) integration response.
        assert!(judge(S::OK, r#"{"SequenceNumber":"1","ShardId":"shardId-0"}"#).is_ok());
        let (retriable, why) = judge(
            S::OK,
            r#"{"__type":"ResourceNotFoundException","message":"Stream streaming-x-pinn not found"}"#,
        )
        .unwrap_err();
        assert!(!retriable);
        assert!(why.contains("streaming-x-pinn"), "{why}");
        assert!(
            judge(
                S::OK,
                r#"{"__type":"ProvisionedThroughputExceededException"}"#
            )
            .unwrap_err()
            .0
        );
    }
}
