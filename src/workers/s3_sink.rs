//! `pinctl worker s3-sink`: runs an S3 sink connector configuration (Confluent's
//! `io.confluent.connect.s3.S3SinkConnector` property names) and writes spec §3's layout:
//! `topics/<topic>/partition=<p>/<topic>+<p>+<offset of its first written record, 10 digits>.json`, each record's
//! value as one line of compact JSON.
//!
//! Like a Kafka Connect worker's sink task, it joins the connector's consumer group
//! (`connect-<name>`) and reads the partitions the group's rebalancing gives it: run several
//! and they share the partitions; when one stops or dies, the others take its partitions over
//! once the group notices (at most `session.timeout.ms`, settable per connector with
//! `consumer.override.session.timeout.ms` as in Connect).
//!
//! Offsets are committed to the group only after the object holding the records is written, so
//! after a crash or a rebalance the records come again and land on the same keys with the same
//! content: no loss and no duplicate object. A partition taken away drops its open file and its
//! uncommitted uploads; its next owner starts from the committed offset, at the same file
//! boundary. (Rotation by `rotate.schedule.interval.ms`, wall-clock time, is the one setting
//! that can cut files differently after a restart, as in Confluent's sink.)

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};
use tokio::task::JoinHandle;

use super::kafka::KafkaConnection;
use crate::clients::kafka_admin::IamContext;
use crate::format::properties::Properties;

#[derive(Debug, thiserror::Error)]
pub enum SinkConfigError {
    #[error("{file}: `{key}` is required")]
    Missing { file: String, key: &'static str },
    #[error("{file}: `{key}={value}`: {why}")]
    Invalid {
        file: String,
        key: String,
        value: String,
        why: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum TopicSelection {
    List(Vec<String>),
    Regex(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueConverter {
    /// `org.apache.kafka.connect.json.JsonConverter` (schemas disabled): the value is JSON.
    Json,
    /// `org.apache.kafka.connect.storage.StringConverter`: the value is text, written as a
    /// JSON string.
    String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SinkConfig {
    pub name: String,
    pub topics: TopicSelection,
    pub flush_size: u64,
    /// Rotation by record timestamps (the first record's time + this).
    pub rotate_interval: Option<Duration>,
    /// Rotation by wall-clock time since the file was opened.
    pub rotate_schedule: Option<Duration>,
    pub bucket: String,
    pub region: Option<String>,
    pub topics_dir: String,
    pub converter: ValueConverter,
    /// `errors.tolerance=all`: skip records the converter cannot read instead of stopping.
    pub tolerate_errors: bool,
    /// `behavior.on.null.values=ignore`: skip tombstones instead of stopping.
    pub ignore_nulls: bool,
    /// Uploads in flight at once (`tasks.max` × 8).
    pub uploads: usize,
    /// `consumer.override.<setting>` (Connect's per-connector client overrides) for the
    /// settings of [`CONSUMER_OVERRIDES`], passed to the consumer.
    pub consumer_overrides: Vec<(String, String)>,
}

/// The consumer settings a connector may override (`consumer.override.<name>`): those of the
/// group membership, which mean the same to librdkafka as to Kafka's Java consumer.
pub const CONSUMER_OVERRIDES: [&str; 3] = [
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
];

const SUPPORTED: [(&str, &[&str]); 5] = [
    (
        "connector.class",
        &["io.confluent.connect.s3.S3SinkConnector"],
    ),
    (
        "format.class",
        &["io.confluent.connect.s3.format.json.JsonFormat"],
    ),
    (
        "storage.class",
        &["io.confluent.connect.s3.storage.S3Storage"],
    ),
    (
        "partitioner.class",
        &["io.confluent.connect.storage.partitioner.DefaultPartitioner"],
    ),
    ("schema.compatibility", &["NONE"]),
];

impl SinkConfig {
    /// Reads a connector configuration; `file` names it in errors.
    pub fn from_properties(p: &Properties, file: &str) -> Result<SinkConfig, SinkConfigError> {
        let invalid = |key: &str, why: String| SinkConfigError::Invalid {
            file: file.to_string(),
            key: key.to_string(),
            value: p.get(key).cloned().unwrap_or_default(),
            why,
        };
        for (key, allowed) in SUPPORTED {
            if let Some(v) = p.get(key) {
                if !allowed.contains(&v.as_str()) {
                    return Err(invalid(
                        key,
                        format!(
                            "not supported; pinctl's sink implements {}",
                            allowed.join(", ")
                        ),
                    ));
                }
            }
        }
        let topics = match (p.get("topics"), p.get("topics.regex")) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "topics.regex",
                    "set either `topics` or `topics.regex`, not both".into(),
                ))
            }
            (Some(t), None) => TopicSelection::List(
                t.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
            ),
            (None, Some(r)) => {
                regex::Regex::new(r).map_err(|e| invalid("topics.regex", e.to_string()))?;
                TopicSelection::Regex(r.clone())
            }
            (None, None) => {
                return Err(SinkConfigError::Missing {
                    file: file.into(),
                    key: "topics",
                })
            }
        };
        let number = |key: &str| -> Result<Option<u64>, SinkConfigError> {
            p.get(key)
                .map(|v| {
                    v.parse::<i64>()
                        .map_err(|_| invalid(key, "expected an integer".into()))
                })
                .transpose()
                .map(|v| v.filter(|n| *n > 0).map(|n| n as u64))
        };
        let flush_size = number("flush.size")?.ok_or(SinkConfigError::Missing {
            file: file.into(),
            key: "flush.size",
        })?;
        let converter = match p.get("value.converter").map(String::as_str) {
            None | Some("org.apache.kafka.connect.json.JsonConverter") => {
                if p.get("value.converter.schemas.enable").map(String::as_str) == Some("true") {
                    return Err(invalid(
                        "value.converter.schemas.enable",
                        "schema envelopes are not supported: set it to false".into(),
                    ));
                }
                ValueConverter::Json
            }
            Some("org.apache.kafka.connect.storage.StringConverter") => ValueConverter::String,
            Some(_) => {
                return Err(invalid(
                    "value.converter",
                    "use JsonConverter or StringConverter with JsonFormat".into(),
                ))
            }
        };
        let tolerate_errors = match p.get("errors.tolerance").map(String::as_str) {
            None | Some("none") => false,
            Some("all") => true,
            Some(_) => return Err(invalid("errors.tolerance", "expected none or all".into())),
        };
        let ignore_nulls = match p.get("behavior.on.null.values").map(String::as_str) {
            None | Some("fail") => false,
            Some("ignore") => true,
            Some(_) => {
                return Err(invalid(
                    "behavior.on.null.values",
                    "expected fail or ignore".into(),
                ))
            }
        };
        let mut consumer_overrides = Vec::new();
        for (key, value) in p.iter() {
            let Some(setting) = key.strip_prefix("consumer.override.") else {
                continue;
            };
            if !CONSUMER_OVERRIDES.contains(&setting) {
                return Err(invalid(
                    key,
                    format!(
                        "not supported; pinctl's sink takes consumer.override.{{{}}}",
                        CONSUMER_OVERRIDES.join(",")
                    ),
                ));
            }
            if value.parse::<u64>().is_err() {
                return Err(invalid(key, "expected milliseconds".into()));
            }
            consumer_overrides.push((setting.to_string(), value.clone()));
        }
        let bucket = p
            .get("s3.bucket.name")
            .filter(|b| !b.is_empty())
            .cloned()
            .ok_or(SinkConfigError::Missing {
                file: file.into(),
                key: "s3.bucket.name",
            })?;
        Ok(SinkConfig {
            name: p
                .get("name")
                .cloned()
                .unwrap_or_else(|| format!("{bucket}-sink")),
            topics,
            flush_size,
            rotate_interval: number("rotate.interval.ms")?.map(Duration::from_millis),
            rotate_schedule: number("rotate.schedule.interval.ms")?.map(Duration::from_millis),
            bucket,
            region: p.get("s3.region").cloned(),
            topics_dir: p
                .get("topics.dir")
                .cloned()
                .unwrap_or_else(|| "topics".into()),
            converter,
            tolerate_errors,
            ignore_nulls,
            uploads: (number("tasks.max")?.unwrap_or(1) as usize * 8).clamp(1, 64),
            consumer_overrides,
        })
    }

    /// The object key of a file whose first record has `start` offset (DefaultPartitioner).
    pub fn object_key(&self, topic: &str, partition: i32, start: i64) -> String {
        format!(
            "{}/{topic}/partition={partition}/{topic}+{partition}+{start:010}.json",
            self.topics_dir
        )
    }
}

/// The records of one partition waiting to become one object.
struct OpenFile {
    start: i64,
    last: i64,
    records: u64,
    body: Vec<u8>,
    first_timestamp: Option<i64>,
    opened: Instant,
}

/// An upload on its way, and the offset to commit once it (and those before it) landed.
struct Upload {
    commit: i64,
    task: JoinHandle<Result<(), String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{topic}/{partition}@{offset}: {why} (the offset is not committed; fix the record or set errors.tolerance=all)")]
    BadRecord {
        topic: String,
        partition: i32,
        offset: i64,
        why: String,
    },
    #[error("writing {0}")]
    Upload(String),
    #[error("Kafka: {0}")]
    Kafka(String),
}

/// What the sink did, for the log line at the end.
#[derive(Debug, Default, Clone, Copy)]
pub struct SinkStats {
    pub records: u64,
    pub objects: u64,
    pub skipped: u64,
}

/// A change of this sink's share of the group's partitions, as the rebalance callbacks saw it.
#[derive(Debug)]
enum Rebalanced {
    Assigned(Vec<(String, i32)>),
    Revoked(Vec<(String, i32)>),
}

fn partitions_of(list: &TopicPartitionList) -> Vec<(String, i32)> {
    list.elements()
        .iter()
        .map(|e| (e.topic().to_string(), e.partition()))
        .collect()
}

/// The sink's consumer context: MSK IAM tokens as every client of the workers, and the group's
/// rebalances passed to the sink's loop (the callbacks run inside the consumer's poll, so the
/// loop sees them before the next record).
pub struct SinkContext {
    iam: IamContext,
    rebalances: std::sync::Mutex<Vec<Rebalanced>>,
}

impl ClientContext for SinkContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        self.iam.generate_oauth_token(config)
    }
}

impl ConsumerContext for SinkContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            let mut events = self.rebalances.lock().expect("not poisoned");
            events.push(Rebalanced::Revoked(partitions_of(list)));
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => {
                let mut events = self.rebalances.lock().expect("not poisoned");
                events.push(Rebalanced::Assigned(partitions_of(list)));
            }
            Rebalance::Error(e) => tracing::warn!("rebalance failed: {e}"),
            Rebalance::Revoke(_) => {}
        }
    }

    fn commit_callback(
        &self,
        result: rdkafka::error::KafkaResult<()>,
        offsets: &TopicPartitionList,
    ) {
        if let Err(e) = result {
            // A commit lost to a rebalance: the records come again to the partition's owner,
            // who writes them to the same keys.
            tracing::warn!(
                partitions = ?partitions_of(offsets),
                "offsets not committed ({e}); their records will be read again"
            );
        }
    }
}

pub struct S3Sink {
    config: SinkConfig,
    s3: aws_sdk_s3::Client,
    consumer: Arc<StreamConsumer<SinkContext>>,
    matcher: Option<regex::Regex>,
    /// The selected topics the consumer is subscribed to (those that exist; looked for again
    /// every few seconds).
    subscribed: std::collections::BTreeSet<String>,
    /// The partitions the group gave this sink.
    owned: std::collections::BTreeSet<(String, i32)>,
    open: HashMap<(String, i32), OpenFile>,
    uploads: HashMap<(String, i32), VecDeque<Upload>>,
    permits: Arc<tokio::sync::Semaphore>,
    stats: SinkStats,
}

impl S3Sink {
    /// A sink that joins the group `connect-<name>` (it subscribes on its first run step).
    pub async fn new(config: SinkConfig, connection: &KafkaConnection) -> anyhow::Result<S3Sink> {
        let (mut client, iam) = connection.client().await?;
        client
            .set("group.id", format!("connect-{}", config.name))
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "false")
            .set("topic.metadata.refresh.interval.ms", "5000");
        for (k, v) in &config.consumer_overrides {
            client.set(k, v);
        }
        let context = SinkContext {
            iam,
            rebalances: std::sync::Mutex::new(Vec::new()),
        };
        let consumer: StreamConsumer<SinkContext> = client
            .create_with_context(context)
            .map_err(|e| anyhow::anyhow!("Kafka consumer for {}: {e}", connection.bootstrap))?;
        let matcher = match &config.topics {
            TopicSelection::List(_) => None,
            // Connect's regex matches the whole topic name.
            TopicSelection::Regex(r) => Some(
                regex::Regex::new(&format!("^(?:{r})$"))
                    .map_err(|e| anyhow::anyhow!("topics.regex `{r}`: {e}"))?,
            ),
        };
        let s3 = crate::clients::aws::worker_s3(config.region.as_deref()).await;
        Ok(S3Sink {
            permits: Arc::new(tokio::sync::Semaphore::new(config.uploads)),
            config,
            s3,
            consumer: Arc::new(consumer),
            matcher,
            subscribed: Default::default(),
            owned: Default::default(),
            open: HashMap::new(),
            uploads: HashMap::new(),
            stats: SinkStats::default(),
        })
    }

    /// The record's value as the line JsonFormat writes, `None` for a record to skip.
    fn line(&self, m: &OwnedMessage) -> Result<Option<Vec<u8>>, SinkError> {
        let bad = |why: String| SinkError::BadRecord {
            topic: m.topic().to_string(),
            partition: m.partition(),
            offset: m.offset(),
            why,
        };
        let Some(payload) = m.payload() else {
            return if self.config.ignore_nulls {
                Ok(None)
            } else {
                Err(bad("a null value (behavior.on.null.values=fail)".into()))
            };
        };
        let value: Result<serde_json::Value, String> = match self.config.converter {
            ValueConverter::Json => serde_json::from_slice(payload)
                .map_err(|e| format!("the value is not JSON (JsonConverter): {e}")),
            ValueConverter::String => std::str::from_utf8(payload)
                .map(|s| serde_json::Value::String(s.to_string()))
                .map_err(|e| format!("the value is not UTF-8 text (StringConverter): {e}")),
        };
        match value {
            Ok(v) => {
                let mut line = serde_json::to_vec(&v).expect("a JSON value serializes");
                line.push(b'\n');
                Ok(Some(line))
            }
            Err(why) if self.config.tolerate_errors => {
                tracing::warn!(
                    topic = m.topic(),
                    partition = m.partition(),
                    offset = m.offset(),
                    "skipped: {why}"
                );
                Ok(None)
            }
            Err(why) => Err(bad(why)),
        }
    }

    fn accept(&mut self, m: &OwnedMessage) -> Result<(), SinkError> {
        let key = (m.topic().to_string(), m.partition());
        let offset = m.offset();
        let timestamp = m.timestamp().to_millis();
        // A record at or before what the open file holds means the partition was rewound (a
        // rebalance, a restart): start that file again from here.
        if self.open.get(&key).is_some_and(|f| offset <= f.last) {
            self.open.remove(&key);
        }
        if let (Some(interval), Some(f), Some(ts)) =
            (self.config.rotate_interval, self.open.get(&key), timestamp)
        {
            if f.first_timestamp
                .is_some_and(|first| ts - first >= interval.as_millis() as i64)
            {
                self.flush(&key);
            }
        }
        let Some(line) = self.line(m)? else {
            // A skipped record (a tombstone, a tolerated bad value) opens no file: a file is
            // named by its first written record, as Confluent's sink names it, so skips never
            // shift the names. An open file still covers it, for the offset it commits.
            self.stats.skipped += 1;
            if let Some(file) = self.open.get_mut(&key) {
                file.last = offset;
            }
            return Ok(());
        };
        let file = self.open.entry(key.clone()).or_insert_with(|| OpenFile {
            start: offset,
            last: offset,
            records: 0,
            body: vec![],
            first_timestamp: timestamp,
            opened: Instant::now(),
        });
        file.last = offset;
        file.body.extend_from_slice(&line);
        file.records += 1;
        self.stats.records += 1;
        if file.records >= self.config.flush_size {
            self.flush(&key);
        }
        Ok(())
    }

    /// Starts the upload of the partition's open file; its offset is committed when it lands.
    fn flush(&mut self, key: &(String, i32)) {
        let Some(file) = self.open.remove(key) else {
            return;
        };
        let commit = file.last + 1;
        let queue = self.uploads.entry(key.clone()).or_default();
        if file.records == 0 {
            // Only skipped records: nothing to write, but their offsets may be committed.
            queue.push_back(Upload {
                commit,
                task: tokio::spawn(async { Ok(()) }),
            });
            return;
        }
        let object = self.config.object_key(&key.0, key.1, file.start);
        let s3 = self.s3.clone();
        let bucket = self.config.bucket.clone();
        let permits = self.permits.clone();
        let body = file.body;
        self.stats.objects += 1;
        let task = tokio::spawn(async move {
            let _permit = permits.acquire_owned().await.map_err(|e| e.to_string())?;
            s3.put_object()
                .bucket(&bucket)
                .key(&object)
                .content_type("application/json")
                .body(body.into())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| {
                    format!(
                        "s3://{bucket}/{object}: {}",
                        aws_smithy_types::error::display::DisplayErrorContext(&e)
                    )
                })
        });
        queue.push_back(Upload { commit, task });
    }

    /// Commits, per partition, the offset after the last upload that landed with every upload
    /// before it; `wait` waits for all of them.
    async fn settle(&mut self, wait: bool) -> Result<(), SinkError> {
        let mut commits = TopicPartitionList::new();
        for ((topic, partition), queue) in self.uploads.iter_mut() {
            let mut done = None;
            while let Some(front) = queue.front() {
                if !wait && !front.task.is_finished() {
                    break;
                }
                let upload = queue.pop_front().expect("front exists");
                match upload.task.await {
                    Ok(Ok(())) => done = Some(upload.commit),
                    Ok(Err(why)) => return Err(SinkError::Upload(why)),
                    Err(e) => return Err(SinkError::Kafka(e.to_string())),
                }
            }
            if let Some(offset) = done {
                commits
                    .add_partition_offset(topic, *partition, Offset::Offset(offset))
                    .map_err(|e| SinkError::Kafka(e.to_string()))?;
            }
        }
        if commits.count() > 0 {
            let mode = if wait {
                CommitMode::Sync
            } else {
                CommitMode::Async
            };
            if let Err(e) = self.consumer.commit(&commits, mode) {
                // Refused by the group (a rebalance under way): the records come again to the
                // partition's owner, who writes them to the same keys.
                tracing::warn!(
                    partitions = ?partitions_of(&commits),
                    "offsets not committed ({e}); their records will be read again"
                );
            }
        }
        Ok(())
    }

    /// Subscribes to the selected topics that exist, when they changed (a topic created or
    /// deleted): the group then rebalances and shares their partitions among its members.
    async fn subscribe(&mut self) -> Result<(), SinkError> {
        let consumer = self.consumer.clone();
        let topics = tokio::task::spawn_blocking(move || {
            consumer
                .client()
                .fetch_metadata(None, Duration::from_secs(10))
                .map(|m| {
                    m.topics()
                        .iter()
                        .filter(|t| t.error().is_none() && !t.partitions().is_empty())
                        .map(|t| t.name().to_string())
                        .collect::<Vec<_>>()
                })
        })
        .await
        .map_err(|e| SinkError::Kafka(e.to_string()))?
        .map_err(|e| SinkError::Kafka(format!("reading topics: {e}")))?;
        let selected: std::collections::BTreeSet<String> = topics
            .into_iter()
            .filter(|topic| match (&self.config.topics, &self.matcher) {
                (TopicSelection::List(list), _) => list.contains(topic),
                (_, Some(re)) => re.is_match(topic),
                _ => false,
            })
            .collect();
        if selected == self.subscribed {
            return Ok(());
        }
        tracing::info!(topics = ?selected, "subscribing (group connect-{})", self.config.name);
        if selected.is_empty() {
            self.consumer.unsubscribe();
        } else {
            let names: Vec<&str> = selected.iter().map(String::as_str).collect();
            self.consumer
                .subscribe(&names)
                .map_err(|e| SinkError::Kafka(format!("subscribing to {names:?}: {e}")))?;
        }
        self.subscribed = selected;
        Ok(())
    }

    /// Applies the rebalances seen since the last call: a revoked partition's open file and
    /// uncommitted uploads are dropped (its records come again to its next owner, from the
    /// committed offset), an assigned one is read from its committed offset.
    fn rebalanced(&mut self) {
        let events = std::mem::take(
            &mut *self
                .consumer
                .context()
                .rebalances
                .lock()
                .expect("not poisoned"),
        );
        for event in events {
            match event {
                Rebalanced::Revoked(parts) => {
                    for key in &parts {
                        self.owned.remove(key);
                        self.open.remove(key);
                        self.uploads.remove(key);
                    }
                    tracing::info!(partitions = ?parts, "partitions revoked");
                }
                Rebalanced::Assigned(parts) => {
                    self.owned.extend(parts.iter().cloned());
                    tracing::info!(partitions = ?self.owned, "partitions assigned; reading");
                }
            }
        }
    }

    fn rotate_by_schedule(&mut self) {
        let Some(schedule) = self.config.rotate_schedule else {
            return;
        };
        let due: Vec<_> = self
            .open
            .iter()
            .filter(|(_, f)| f.opened.elapsed() >= schedule)
            .map(|(k, _)| k.clone())
            .collect();
        for k in due {
            self.flush(&k);
        }
    }

    /// Consumes until `stop` resolves, then writes what is complete and commits it. Records of a
    /// file still open (fewer than `flush.size`) are left uncommitted and come again.
    pub async fn run(
        mut self,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<SinkStats, SinkError> {
        tokio::pin!(stop);
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        let mut discover = tokio::time::interval(Duration::from_secs(5));
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = discover.tick() => self.subscribe().await?,
                _ = tick.tick() => {
                    self.rebalanced();
                    self.rotate_by_schedule();
                    self.settle(false).await?;
                }
                m = self.consumer.recv() => {
                    let m = m.map(|m| m.detach());
                    self.rebalanced();
                    let m = match m {
                        Ok(m) => m,
                        Err(KafkaError::MessageConsumptionFatal(code)) => {
                            return Err(SinkError::Kafka(format!("consuming: {code}")))
                        }
                        Err(e) => {
                            // Transient (a topic deleted, a broker restarting): librdkafka
                            // goes on by itself.
                            tracing::warn!("consuming: {e}");
                            continue;
                        }
                    };
                    // A record fetched before its partition was taken away is the next
                    // owner's.
                    if !self.owned.contains(&(m.topic().to_string(), m.partition())) {
                        continue;
                    }
                    self.accept(&m)?;
                    self.settle(false).await?;
                }
            }
        }
        self.rebalanced();
        self.settle(true).await?;
        Ok(self.stats)
    }
}

/// Reads the configuration, connects, and runs until SIGTERM or Ctrl-C.
pub async fn run(connection: KafkaConnection, config: SinkConfig) -> anyhow::Result<()> {
    let name = config.name.clone();
    let sink = S3Sink::new(config, &connection).await?;
    tracing::info!(
        connector = name,
        bootstrap = connection.bootstrap,
        "S3 sink running"
    );
    let stats = sink.run(crate::signal::shutdown_signal()).await?;
    tracing::info!(
        records = stats.records,
        objects = stats.objects,
        skipped = stats.skipped,
        "S3 sink stopped; written records are committed"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Result<SinkConfig, SinkConfigError> {
        let p = crate::format::properties::parse(text, "c.properties").unwrap();
        SinkConfig::from_properties(&p, "c.properties")
    }

    const BASE: &str = "topics.regex=abc.*\nflush.size=1\ns3.bucket.name=b\n";

    #[test]
    fn the_courses_configuration_is_read() {
        let c = config(&format!(
            "{BASE}connector.class=io.confluent.connect.s3.S3SinkConnector\ntasks.max=3\n\
             format.class=io.confluent.connect.s3.format.json.JsonFormat\ns3.region=us-east-1\n\
             value.converter=org.apache.kafka.connect.json.JsonConverter\nvalue.converter.schemas.enable=false\n"
        ))
        .unwrap();
        assert_eq!(c.topics, TopicSelection::Regex("abc.*".into()));
        assert_eq!((c.flush_size, c.uploads), (1, 24));
        assert_eq!(c.region.as_deref(), Some("us-east-1"));
        assert_eq!(
            c.object_key("abc.pin", 0, 42),
            "topics/abc.pin/partition=0/abc.pin+0+0000000042.json"
        );
    }

    #[test]
    fn group_settings_are_overridden_as_in_connect() {
        let c = config(&format!(
            "{BASE}consumer.override.session.timeout.ms=6000\nconsumer.override.heartbeat.interval.ms=1000\n"
        ))
        .unwrap();
        assert_eq!(
            c.consumer_overrides,
            vec![
                ("heartbeat.interval.ms".to_string(), "1000".to_string()),
                ("session.timeout.ms".to_string(), "6000".to_string())
            ]
        );
        let e = config(&format!("{BASE}consumer.override.fetch.min.bytes=1\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("c.properties: `consumer.override.fetch.min.bytes=1`: not supported"),
            "{e}"
        );
        let e = config(&format!("{BASE}consumer.override.session.timeout.ms=6s\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected milliseconds"), "{e}");
    }

    #[test]
    fn unsupported_or_missing_settings_are_named() {
        let e = config(&format!(
            "{BASE}format.class=io.confluent.connect.s3.format.avro.AvroFormat\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with(
                "c.properties: `format.class=io.confluent.connect.s3.format.avro.AvroFormat`"
            ),
            "{e}"
        );
        let e = config("topics=a\ns3.bucket.name=b\n")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "c.properties: `flush.size` is required");
        let e = config("topics=a\ntopics.regex=a\nflush.size=1\ns3.bucket.name=b\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not both"), "{e}");
        let e = config("topics.regex=(\nflush.size=1\ns3.bucket.name=b\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.properties: `topics.regex=(`"), "{e}");
        let e = config(&format!("{BASE}value.converter.schemas.enable=true\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("schema envelopes"), "{e}");
        let e = config("topics=a\nflush.size=x\ns3.bucket.name=b\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`flush.size=x`: expected an integer"), "{e}");
    }
}
