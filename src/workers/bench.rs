//! `pinctl bench`: figures for the data plane, printed, never asserted. `generate` writes the
//! tables and reports rows/s and peak memory; `proxy` compares producing through the REST proxy
//! with producing straight to the same broker, one record per call and 100 per call.

use std::time::{Duration, Instant};

use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

use super::kafka::KafkaConnection;
use super::rest_proxy::{ProxyConfig, RestProxy};

/// Peak resident memory of this process so far, in MiB.
pub fn peak_rss_mib() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage.ru_maxrss as f64 / 1024.0
}

/// The summed `VmRSS` of `root` and its descendants (proc(5)), in KiB; 0 once it is gone.
fn tree_rss_kib(root: u32) -> u64 {
    let mut parents = std::collections::HashMap::<u32, Vec<u32>>::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        // The stat line: `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
        let ppid = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
            });
        if let Some(ppid) = ppid {
            parents.entry(ppid).or_default().push(pid);
        }
    }
    let (mut total, mut todo) = (0, vec![root]);
    while let Some(pid) = todo.pop() {
        total += std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| status_kib(&s, "VmRSS"))
            .unwrap_or(0);
        todo.extend(parents.get(&pid).into_iter().flatten());
    }
    total
}

/// A `kB` field (`VmHWM`, `VmRSS`) of a `/proc/<pid>/status` text, in KiB.
fn status_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Latencies of one series of calls.
pub struct Series {
    pub name: String,
    pub records: usize,
    pub elapsed: Duration,
    pub latencies: Vec<Duration>,
}

impl Series {
    fn percentile(&self, p: f64) -> f64 {
        let mut l = self.latencies.clone();
        l.sort();
        if l.is_empty() {
            return 0.0;
        }
        l[((l.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1000.0
    }
    pub fn records_per_second(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64()
    }
    pub fn line(&self) -> String {
        format!(
            "{:<28} {:>9.0} rec/s   p50 {:>7.2} ms   p99 {:>7.2} ms   ({} records)",
            self.name,
            self.records_per_second(),
            self.percentile(0.5),
            self.percentile(0.99),
            self.records
        )
    }
}

fn record(i: usize) -> serde_json::Value {
    serde_json::json!({"index": i, "unique_id": "72f143ed-2501-4c8e-a1ba-a692dd73f3af",
        "title": "Gallery portrait sketch artist", "follower_count": "22k",
        "category": "art", "save_location": "Local save in /data/art"})
}

async fn direct(
    producer: &FutureProducer,
    topic: &str,
    calls: usize,
    batch: usize,
    name: &str,
) -> Series {
    let mut latencies = Vec::with_capacity(calls);
    let started = Instant::now();
    for c in 0..calls {
        let t = Instant::now();
        let payloads: Vec<String> = (0..batch)
            .map(|i| record(c * batch + i).to_string())
            .collect();
        let sends: Vec<_> = payloads
            .iter()
            .map(|p| {
                producer
                    .send::<(), _, _>(FutureRecord::to(topic).payload(p), Duration::from_secs(10))
            })
            .collect();
        for delivery in futures::future::join_all(sends).await {
            delivery.expect("direct produce");
        }
        latencies.push(t.elapsed());
    }
    Series {
        name: name.into(),
        records: calls * batch,
        elapsed: started.elapsed(),
        latencies,
    }
}

async fn through_proxy(
    url: &str,
    calls: usize,
    batch: usize,
    name: &str,
) -> anyhow::Result<Series> {
    let http = reqwest::Client::new();
    let mut latencies = Vec::with_capacity(calls);
    let started = Instant::now();
    for c in 0..calls {
        let records: Vec<_> = (0..batch)
            .map(|i| serde_json::json!({"value": record(c * batch + i)}))
            .collect();
        let body = serde_json::json!({ "records": records }).to_string();
        let t = Instant::now();
        let r = http
            .post(url)
            .header("Content-Type", "application/vnd.kafka.json.v2+json")
            .body(body)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "proxy answered {}", r.status());
        r.bytes().await?;
        latencies.push(t.elapsed());
    }
    Ok(Series {
        name: name.into(),
        records: calls * batch,
        elapsed: started.elapsed(),
        latencies,
    })
}

/// Runs the four series against `bootstrap` (a topic of its own, created here) and prints them.
pub async fn proxy(bootstrap: &str, calls: usize) -> anyhow::Result<Vec<Series>> {
    let topic = format!("bench-{}", uuid::Uuid::new_v4().simple());
    crate::clients::kafka_admin::BrokerAdmin::connect(bootstrap)
        .map_err(anyhow::Error::msg)?
        .create(&topic, 1, 1, &Default::default())
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .set("compression.type", "lz4")
        .set("acks", "all")
        .create()?;
    let proxy = RestProxy::new(ProxyConfig {
        connection: KafkaConnection::plaintext(bootstrap),
        max_request_bytes: 8 << 20,
        compression: "lz4".into(),
        linger: Duration::from_millis(5),
        delivery_timeout: Duration::from_secs(30),
        read_timeout: Duration::from_secs(30),
        consumer_idle: Duration::from_secs(300),
    })
    .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/topics/{topic}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(proxy.serve(listener, async {
        let _ = stopped.await;
    }));
    // Warm both paths (connections, metadata) before measuring.
    direct(&producer, &topic, 5, 1, "warm").await;
    through_proxy(&url, 5, 1, "warm").await?;
    let batches = (calls / 100).max(10);
    let out = vec![
        direct(&producer, &topic, calls, 1, "direct, 1 record/call").await,
        through_proxy(&url, calls, 1, "proxy, 1 record/request").await?,
        direct(&producer, &topic, batches, 100, "direct, 100 records/call").await,
        through_proxy(&url, batches, 100, "proxy, 100 records/request").await?,
    ];
    let _ = stop.send(());
    server.await??;
    Ok(out)
}

/// The batch job on Spark (`jobs/spark/batch_job.py`), run beside the Rust job by `bench batch`.
pub struct SparkJob {
    /// A Python with pyspark 3.5.
    pub python: std::path::PathBuf,
    /// The job's script.
    pub job: std::path::PathBuf,
    /// Delta Lake's jars (the script's `--jars`).
    pub jars: std::path::PathBuf,
    /// Spark's master, e.g. `local[2]`.
    pub master: String,
    /// `KEY=VALUE` Spark settings (the script's `--conf`).
    pub conf: Vec<String>,
}

/// One measured run of the batch job.
pub struct BatchRun {
    /// Which job: `rust` (`pinctl worker batch`) or `spark`.
    pub job: &'static str,
    /// What the run read: `full` (a backlog into empty tables) or `day` (new objects on top).
    pub label: String,
    /// Events (pin, geo and user records each) in the objects the run read.
    pub events: u64,
    /// Rows in each table after the run.
    pub table_rows: u64,
    pub seconds: f64,
    /// Of `seconds`, the Rust job's own split: reading new objects into the tables, and the
    /// answers and report over the whole tables.
    pub phases: Option<(f64, f64)>,
    /// Peak resident memory of the batch job's process, MiB.
    pub peak_rss_mib: f64,
}

/// Where `bench batch` puts its sink objects and tables.
pub struct BatchBench<'a> {
    pub exe: &'a std::path::Path,
    pub bucket: &'a str,
    pub per_object: usize,
    pub out: &'a std::path::Path,
    /// When set, the Spark job runs over the same backlog too, from a copy of the objects on
    /// local disk (`<out>-objects`, laid out like the bucket).
    pub spark: Option<&'a SparkJob>,
}

impl BatchBench<'_> {
    const UID: &'static str = "0e36c8cd403d";

    /// Puts `events` as sink objects of `per_object` records each (keys in event order,
    /// offsets from `offset`) into the bucket (created if needed).
    async fn put_objects(
        &self,
        events: impl Iterator<Item = crate::data::record::Event>,
        mut offset: usize,
    ) -> anyhow::Result<()> {
        use crate::data::record::Table;
        let s3 = crate::clients::aws::worker_s3(None).await;
        let _ = s3.create_bucket().bucket(self.bucket).send().await;
        let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(16));
        let mut uploads = tokio::task::JoinSet::new();
        let mut events = events.peekable();
        while events.peek().is_some() {
            let chunk: Vec<_> = events.by_ref().take(self.per_object).collect();
            for t in Table::ALL {
                let topic = format!("{}.{}", Self::UID, t.suffix());
                let mut body = Vec::new();
                for e in &chunk {
                    serde_json::to_writer(&mut body, &e.row_json(t))?;
                    body.push(b'\n');
                }
                let key = format!("topics/{topic}/partition=0/{topic}+0+{offset:010}.json");
                if self.spark.is_some() {
                    let file = self.objects_dir().join(&key);
                    std::fs::create_dir_all(file.parent().expect("a key has a directory"))?;
                    std::fs::write(file, &body)?;
                }
                let (s3, bucket, permit) = (
                    s3.clone(),
                    self.bucket.to_string(),
                    permits.clone().acquire_owned().await?,
                );
                uploads.spawn(async move {
                    let _permit = permit;
                    s3.put_object()
                        .bucket(bucket)
                        .key(key)
                        .body(body.into())
                        .send()
                        .await
                });
            }
            offset += chunk.len();
            while uploads.len() > 64 {
                uploads.join_next().await.expect("a task")??;
            }
        }
        while let Some(r) = uploads.join_next().await {
            r??;
        }
        Ok(())
    }

    /// Runs `pinctl worker batch` as a child process: (seconds, peak RSS in MiB).
    ///
    /// The peak is the child's own `VmHWM` (proc(5): the high-water mark of its address space,
    /// which exec makes new), read every 10 ms until it exits. Not `wait4`'s `ru_maxrss`: Linux
    /// carries the spawning process's resident size into a child's across exec (exec_mmap keeps
    /// the old address space's high-water mark; with posix_spawn's vfork that is this bench
    /// process's own peak), which made small runs look as big as the bench.
    async fn run_job(&self) -> anyhow::Result<(f64, f64, Option<(f64, f64)>)> {
        let started = Instant::now();
        let mut child = tokio::process::Command::new(self.exe)
            .args([
                "--json",
                "-q",
                "worker",
                "batch",
                "--bucket",
                self.bucket,
                "--uid",
                Self::UID,
                "--out",
            ])
            .arg(self.out)
            .arg("--report-dir")
            .arg(self.out.join("report"))
            .stdout(std::process::Stdio::piped())
            .spawn()?;
        let mut stdout = child.stdout.take().expect("piped");
        let summary = tokio::spawn(async move {
            let mut text = String::new();
            tokio::io::AsyncReadExt::read_to_string(&mut stdout, &mut text)
                .await
                .map(|_| text)
        });
        let status_file = format!("/proc/{}/status", child.id().unwrap_or(0));
        let mut peak_kib = 0u64;
        let status = loop {
            if let Some(kib) = std::fs::read_to_string(&status_file)
                .ok()
                .as_deref()
                .and_then(|s| status_kib(s, "VmHWM"))
            {
                peak_kib = peak_kib.max(kib);
            }
            tokio::select! {
                s = child.wait() => break s?,
                _ = tokio::time::sleep(Duration::from_millis(10)) => {}
            }
        };
        anyhow::ensure!(status.success(), "the batch job failed ({status})");
        let seconds = started.elapsed().as_secs_f64();
        let summary: serde_json::Value = serde_json::from_str(&summary.await??)?;
        let phases = summary["ingest_seconds"]
            .as_f64()
            .zip(summary["answers_seconds"].as_f64());
        Ok((seconds, peak_kib as f64 / 1024.0, phases))
    }

    /// Where the Spark job reads the objects from.
    fn objects_dir(&self) -> std::path::PathBuf {
        let mut dir = self.out.as_os_str().to_owned();
        dir.push("-objects");
        dir.into()
    }

    /// Runs the Spark job over the objects on local disk into `<out>-spark`: (seconds, peak RSS
    /// in MiB of its process tree — the Python driver and the JVM it starts — sampled every
    /// 100 ms as the sum of their `VmRSS`).
    async fn run_spark(&self, spark: &SparkJob) -> anyhow::Result<(f64, f64)> {
        let mut out = self.out.as_os_str().to_owned();
        out.push("-spark");
        let out = std::path::PathBuf::from(out);
        let _ = std::fs::remove_dir_all(&out);
        let started = Instant::now();
        let mut cmd = tokio::process::Command::new(&spark.python);
        cmd.arg(&spark.job)
            .arg("--input")
            .arg(self.objects_dir())
            .args(["--uid", Self::UID, "--master", &spark.master])
            .arg("--out")
            .arg(&out)
            .arg("--report-dir")
            .arg(out.join("report"))
            .arg("--jars")
            .arg(&spark.jars)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        for c in &spark.conf {
            cmd.args(["--conf", c]);
        }
        let mut child = cmd.spawn()?;
        let root = child.id().unwrap_or(0);
        let mut peak_kib = 0u64;
        let status = loop {
            peak_kib = peak_kib.max(tree_rss_kib(root));
            tokio::select! {
                s = child.wait() => break s?,
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        };
        anyhow::ensure!(status.success(), "the Spark job failed ({status})");
        Ok((started.elapsed().as_secs_f64(), peak_kib as f64 / 1024.0))
    }

    /// Rows of the pin table now.
    async fn table_rows(&self) -> anyhow::Result<u64> {
        use crate::data::record::Table;
        let root = crate::data::delta::DeltaRoot::new(self.out.to_str().unwrap_or("."))?;
        let table = root
            .open(
                &super::batch::table_name(Self::UID, Table::Pin),
                &crate::data::clean::schema(Table::Pin),
            )
            .await?;
        let ctx = deltalake::datafusion::prelude::SessionContext::new();
        ctx.register_table("t", table.table_provider().await?)?;
        let count = ctx.sql("SELECT COUNT(*) FROM t").await?.collect().await?;
        Ok(count
            .first()
            .and_then(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<deltalake::arrow::array::Int64Array>()
                    .map(|a| a.value(0) as u64)
            })
            .unwrap_or(0))
    }

    /// A backlog of `events` events (keys 0..events) into empty tables, then, when `day` > 0,
    /// a day's objects on top: `day` events of which `replay_percent` % replay a backlog event
    /// unchanged (spread evenly over the day and over the backlog's keys) and the rest are new
    /// keys. `on_run` sees each run as it ends (a 10 M run takes
    /// a while).
    pub async fn run(
        &self,
        events: u64,
        day: u64,
        replay_percent: u64,
        mut on_run: impl FnMut(&BatchRun),
    ) -> anyhow::Result<()> {
        self.put_objects(crate::data::generate::Generator::new(100, events), 0)
            .await?;
        let (seconds, peak_rss_mib, phases) = self.run_job().await?;
        let table_rows = self.table_rows().await?;
        on_run(&BatchRun {
            job: "rust",
            label: "full".into(),
            events,
            table_rows,
            seconds,
            phases,
            peak_rss_mib,
        });
        if let Some(spark) = self.spark {
            let (seconds, peak_rss_mib) = self.run_spark(spark).await?;
            on_run(&BatchRun {
                job: "spark",
                label: "full".into(),
                events,
                // The Spark job's tables are checked equal to the Rust job's by
                // tests/spark_batch.rs; here only its time is measured.
                table_rows,
                seconds,
                phases: None,
                peak_rss_mib,
            });
            let _ = std::fs::remove_dir_all(self.objects_dir());
        }
        if day > 0 {
            // Replays of backlog events as they were (the emulator draws rows of a fixed source
            // again): spread evenly over the backlog's keys.
            let replays = (day * replay_percent / 100).min(events);
            let stride = events.checked_div(replays).unwrap_or(1).max(1);
            let mut replayed = crate::data::generate::Generator::new(100, events)
                .filter(|e| (e.key() as u64).is_multiple_of(stride))
                .take(replays as usize);
            let mut fresh = crate::data::generate::Generator::new(200, day - replays);
            let mut n = 0u64;
            let day_events = std::iter::from_fn(move || {
                n += 1;
                let replay = if n * replays / day != (n - 1) * replays / day {
                    replayed.next()
                } else {
                    None
                };
                replay
                    .or_else(|| {
                        let mut e = fresh.next()?;
                        let key = e.key() + events as i64;
                        (e.pin.index, e.geo.ind, e.user.ind) = (key, key, key);
                        Some(e)
                    })
                    .or_else(|| replayed.next())
            });
            self.put_objects(day_events, events as usize).await?;
            let (seconds, peak_rss_mib, phases) = self.run_job().await?;
            on_run(&BatchRun {
                job: "rust",
                label: format!("day, {replay_percent} % replays"),
                events: day,
                table_rows: self.table_rows().await?,
                seconds,
                phases,
                peak_rss_mib,
            });
        }
        Ok(())
    }
}

/// Puts pin records at `rate` per second for `seconds` into Kinesis (AWS_ENDPOINT_URL for moto),
/// runs `pinctl worker stream` as a child, and measures each record's time from PutRecord to
/// visible in the Delta table. Returns the latencies.
pub async fn stream(
    exe: &std::path::Path,
    rate: f64,
    seconds: f64,
    out: &std::path::Path,
) -> anyhow::Result<StreamRun> {
    use crate::data::record::Table;
    let uid = format!("{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff);
    let kinesis = crate::clients::aws::worker_kinesis(None).await;
    for t in Table::ALL {
        kinesis
            .create_stream()
            .stream_name(super::stream::stream_name(&uid, t))
            .shard_count(1)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "CreateStream: {}",
                    aws_smithy_types::error::display::DisplayErrorContext(&e)
                )
            })?;
    }
    let mut child = std::process::Command::new(exe)
        .args([
            "-q",
            "worker",
            "stream",
            "--uid",
            &uid,
            "--interval",
            "100ms",
            "--out",
        ])
        .arg(out)
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let total = (rate * seconds).ceil() as usize;
    let rows: Vec<_> = crate::data::generate::Generator::new(100, total as u64).collect();
    let stream = super::stream::stream_name(&uid, Table::Pin);
    let root = crate::data::delta::DeltaRoot::new(out.to_str().unwrap_or("."))?;
    let table_name = super::batch::table_name(&uid, Table::Pin);
    let put_times = std::sync::Arc::new(std::sync::Mutex::new(Vec::with_capacity(total)));
    // Paced batches, as Kinesis producers send (the KPL aggregates; PutRecords takes up to 500
    // records): every 100 ms the records now due go in one PutRecords, so the asked rate is
    // reached whatever one call's latency, without concurrent calls into one shard (which moto's
    // Kinesis loses records under). Each record's time is its call's start.
    let putter = {
        let (kinesis, put_times) = (kinesis.clone(), put_times.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut rows = rows.into_iter().peekable();
            let mut failed = 0usize;
            while rows.peek().is_some() {
                tick.tick().await;
                let due = ((started.elapsed().as_secs_f64() * rate).ceil() as usize)
                    .saturating_sub(put_times.lock().expect("times").len())
                    .clamp(1, 500);
                let mut entries = Vec::with_capacity(due);
                for e in rows.by_ref().take(due) {
                    let data = serde_json::to_vec(&e.row_json(Table::Pin))?;
                    entries.push(
                        aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                            .partition_key(e.key().to_string())
                            .data(aws_smithy_types::Blob::new(data))
                            .build()?,
                    );
                }
                let now = Instant::now();
                let n = entries.len();
                let out = kinesis
                    .put_records()
                    .stream_name(&stream)
                    .set_records(Some(entries))
                    .send()
                    .await
                    .map_err(|e| anyhow::anyhow!("PutRecords: {e}"))?;
                failed += out.failed_record_count().unwrap_or(0) as usize;
                put_times
                    .lock()
                    .expect("times")
                    .extend(std::iter::repeat_n(now, n));
            }
            anyhow::Ok((started.elapsed().as_secs_f64(), failed))
        })
    };
    let mut latencies = Vec::with_capacity(total);
    let deadline = Instant::now() + Duration::from_secs_f64(seconds + 60.0);
    let mut last_version = None;
    while latencies.len() < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let table = root
            .open(&table_name, &crate::data::clean::schema(Table::Pin))
            .await?;
        if table.version() == last_version {
            continue;
        }
        last_version = table.version();
        let seen = Instant::now();
        let ctx = deltalake::datafusion::prelude::SessionContext::new();
        ctx.register_table("t", table.table_provider().await?)?;
        let count = ctx.sql("SELECT COUNT(*) FROM t").await?.collect().await?;
        let n = count
            .first()
            .and_then(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<deltalake::arrow::array::Int64Array>()
                    .map(|a| a.value(0))
            })
            .unwrap_or(0) as usize;
        let times = put_times.lock().expect("times");
        while latencies.len() < n.min(times.len()) {
            latencies.push(seen - times[latencies.len()]);
        }
    }
    let (put_seconds, failed) = putter.await??;
    let _ = child.kill();
    let _ = child.wait();
    let put = put_times.lock().expect("times").len();
    Ok(StreamRun {
        latencies,
        put,
        failed,
        put_seconds,
    })
}

/// What `bench stream` achieved: the records put (of which `failed` Kinesis refused), over how
/// long, and the put → visible latency of each record seen in the table (in put order; fewer
/// than `put` when the run's deadline came first).
pub struct StreamRun {
    pub latencies: Vec<Duration>,
    pub put: usize,
    pub failed: usize,
    pub put_seconds: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_figures_are_read_from_proc() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let kib = status_kib(&status, "VmHWM").expect("VmHWM in /proc/self/status");
        // A running test binary holds at least a MiB and (here) less than 64 GiB.
        assert!((1024..64 * 1024 * 1024).contains(&kib), "{kib} KiB");
        let text = "Name:\tx\nVmHWM:\t  532 kB\nVmRSS:\t1 kB\n";
        assert_eq!(status_kib(text, "VmHWM"), Some(532));
        assert_eq!(status_kib(text, "VmRSS"), Some(1));
        assert_eq!(status_kib("Name:\tx\n", "VmHWM"), None);
        // This process's tree holds at least this process.
        assert!(tree_rss_kib(std::process::id()) >= 1024);
    }
}
