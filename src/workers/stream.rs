//! `pinctl worker stream`: the streaming notebook's job. Consumes `streaming-<uid>-{pin,geo,user}`
//! (every shard; children of a split or merge once their parents are read to the end), decodes
//! each record's JSON, cleans it, and upserts `<uid>_{pin,geo,user}_table` in micro-batches.
//!
//! The shard positions are committed in the same Delta transaction as the rows they produced, so
//! a kill at any moment and a restart neither lose nor duplicate a row.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use aws_sdk_kinesis::types::ShardIteratorType;
use serde_json::{json, Value};

use crate::data::clean;
use crate::data::delta::{self, DeltaRoot};
use crate::data::record::Table;

#[derive(Debug, Clone)]
pub struct StreamConfig {
    pub uid: String,
    pub out: String,
    pub region: Option<String>,
    /// Records per micro-batch at most.
    pub batch_size: usize,
    /// A micro-batch is committed at least this often when records arrived.
    pub interval: Duration,
}

/// Where a table's consumer stands: the last sequence number read per shard, and the shards read
/// to their end.
#[derive(Debug, Clone, Default, PartialEq)]
struct Positions {
    shards: BTreeMap<String, String>,
    closed: BTreeSet<String>,
}

impl Positions {
    fn from_json(v: Option<Value>) -> Positions {
        let Some(v) = v else {
            return Positions::default();
        };
        Positions {
            shards: v["shards"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                        .collect()
                })
                .unwrap_or_default(),
            closed: v["closed"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    fn to_json(&self) -> Value {
        json!({"shards": self.shards, "closed": self.closed})
    }
}

pub fn stream_name(uid: &str, table: Table) -> String {
    format!("streaming-{uid}-{}", table.suffix())
}

fn sdk_error<E: std::error::Error + 'static>(what: &str, e: E) -> anyhow::Error {
    anyhow::anyhow!(
        "{what}: {}",
        aws_smithy_types::error::display::DisplayErrorContext(&e)
    )
}

struct Consumer {
    kinesis: aws_sdk_kinesis::Client,
    stream: String,
    table: Table,
    /// Open iterators of the shards being read.
    iterators: BTreeMap<String, String>,
    /// Every shard and its parents, from the last listing.
    parents: BTreeMap<String, Vec<String>>,
    listed: Option<Instant>,
}

impl Consumer {
    async fn list_shards(&mut self) -> anyhow::Result<()> {
        let mut parents = BTreeMap::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = self.kinesis.list_shards();
            req = match &token {
                Some(t) => req.next_token(t),
                None => req.stream_name(&self.stream),
            };
            let out = req
                .send()
                .await
                .map_err(|e| sdk_error(&format!("ListShards {}", self.stream), e))?;
            for s in out.shards() {
                let mut p = vec![];
                if let Some(x) = s.parent_shard_id() {
                    p.push(x.to_string());
                }
                if let Some(x) = s.adjacent_parent_shard_id() {
                    p.push(x.to_string());
                }
                parents.insert(s.shard_id().to_string(), p);
            }
            match out.next_token() {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
        self.parents = parents;
        self.listed = Some(Instant::now());
        Ok(())
    }

    /// Opens iterators for shards that are ready: not read to the end, and whose parents are
    /// (or are gone from the stream).
    async fn open_ready(&mut self, positions: &Positions) -> anyhow::Result<()> {
        let ready: Vec<String> = self
            .parents
            .iter()
            .filter(|(id, _)| !positions.closed.contains(*id) && !self.iterators.contains_key(*id))
            .filter(|(_, ps)| {
                ps.iter()
                    .all(|p| positions.closed.contains(p) || !self.parents.contains_key(p))
            })
            .map(|(id, _)| id.clone())
            .collect();
        for shard in ready {
            let mut req = self
                .kinesis
                .get_shard_iterator()
                .stream_name(&self.stream)
                .shard_id(&shard);
            req = match positions.shards.get(&shard) {
                Some(seq) => req
                    .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                    .starting_sequence_number(seq),
                None => req.shard_iterator_type(ShardIteratorType::TrimHorizon),
            };
            let out = req
                .send()
                .await
                .map_err(|e| sdk_error(&format!("GetShardIterator {}/{shard}", self.stream), e))?;
            if let Some(it) = out.shard_iterator() {
                self.iterators.insert(shard, it.to_string());
            }
        }
        Ok(())
    }

    /// One GetRecords round over the open shards: records decoded, positions moved on, shards
    /// that ended marked closed. Returns the largest lag seen.
    async fn poll(
        &mut self,
        positions: &mut Positions,
        records: &mut Vec<Value>,
        skipped: &mut u64,
        limit: usize,
    ) -> anyhow::Result<i64> {
        let mut lag = 0;
        let shards: Vec<(String, String)> = self
            .iterators
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (shard, iterator) in shards {
            let room = limit.saturating_sub(records.len()).clamp(1, 10_000) as i32;
            let out = self
                .kinesis
                .get_records()
                .shard_iterator(&iterator)
                .limit(room)
                .send()
                .await
                .map_err(|e| sdk_error(&format!("GetRecords {}/{shard}", self.stream), e))?;
            for r in out.records() {
                match serde_json::from_slice::<Value>(r.data().as_ref()) {
                    Ok(v) => records.push(v),
                    Err(e) => {
                        *skipped += 1;
                        tracing::warn!(
                            stream = self.stream,
                            shard,
                            sequence = r.sequence_number(),
                            "not JSON, skipped: {e}"
                        );
                    }
                }
                positions
                    .shards
                    .insert(shard.clone(), r.sequence_number().to_string());
            }
            lag = lag.max(out.millis_behind_latest().unwrap_or(0));
            match out.next_shard_iterator() {
                Some(next) => {
                    self.iterators.insert(shard, next.to_string());
                }
                None => {
                    // Read to its end (a split or merge closed it): its children may start.
                    self.iterators.remove(&shard);
                    positions.closed.insert(shard);
                }
            }
        }
        Ok(lag)
    }
}

/// Consumes one stream into its table until `stop` is set.
async fn run_table(
    config: StreamConfig,
    table: Table,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let kinesis = crate::clients::aws::worker_kinesis(config.region.as_deref()).await;
    let root = DeltaRoot::new(&config.out)?;
    let name = crate::workers::batch::table_name(&config.uid, table);
    let writer = delta::Upserter::open(&root, &name, &clean::schema(table)).await?;
    let mut positions = Positions::from_json(writer.progress().await?);
    let mut consumer = Consumer {
        kinesis,
        stream: stream_name(&config.uid, table),
        table,
        iterators: BTreeMap::new(),
        parents: BTreeMap::new(),
        listed: None,
    };
    let mut records = vec![];
    let mut skipped = 0;
    let mut committed = positions.clone();
    let mut since = Instant::now();
    let mut idle_rounds = 0u32;
    // The writer is either here or inside the commit in flight, which polling does not wait
    // for: records keep coming in while the last micro-batch is written.
    let mut writer = Some(writer);
    let mut in_flight: Option<Commit> = None;
    loop {
        let stopping = *stop.borrow();
        if in_flight.as_ref().is_some_and(|c| c.task.is_finished())
            || (in_flight.is_some() && (stopping || records.len() >= config.batch_size))
        {
            writer = Some(in_flight.take().expect("a commit").finish(&name).await?);
        }
        if consumer
            .listed
            .is_none_or(|t| t.elapsed() > Duration::from_secs(10))
        {
            consumer.list_shards().await?;
        }
        consumer.open_ready(&positions).await?;
        let (before, round) = (records.len(), Instant::now());
        let lag = consumer
            .poll(
                &mut positions,
                &mut records,
                &mut skipped,
                config.batch_size,
            )
            .await?;
        let got = records.len() - before;
        if got > 0 {
            idle_rounds = 0;
        }
        let due =
            records.len() >= config.batch_size || since.elapsed() >= config.interval || stopping;
        if due && positions != committed {
            if let Some(mut w) = writer.take() {
                let batch = clean::dedupe_by_ind(&clean::clean(
                    consumer.table,
                    &clean::raw_batch(consumer.table, &records),
                ));
                let progress = positions.to_json();
                let n = records.len();
                in_flight = Some(Commit {
                    task: tokio::spawn(async move {
                        w.upsert(batch, progress).await?;
                        anyhow::Ok(w)
                    }),
                    records: n,
                    skipped,
                    lag,
                });
                committed = positions.clone();
                records.clear();
                since = Instant::now();
            }
        } else if due {
            since = Instant::now();
        }
        if stopping {
            if let Some(c) = in_flight.take() {
                c.finish(&name).await?;
            }
            return Ok(());
        }
        // Kinesis allows 5 GetRecords per shard per second (Kinesis API Reference,
        // GetRecords), so rounds start 200 ms apart at most. A stream idle for 5 s is polled
        // once a second until records come back (a pause between bursts keeps the fast pace).
        let pause = if got == 0 {
            idle_rounds = idle_rounds.saturating_add(1);
            if idle_rounds > 20 {
                1000
            } else {
                250
            }
        } else {
            200
        };
        tokio::time::sleep_until((round + Duration::from_millis(pause)).into()).await;
    }
}

/// A micro-batch being written (upsert with its shard positions) while polling goes on.
struct Commit {
    task: tokio::task::JoinHandle<anyhow::Result<delta::Upserter>>,
    records: usize,
    skipped: u64,
    lag: i64,
}

impl Commit {
    /// Waits for the commit and hands the writer back.
    async fn finish(self, table: &str) -> anyhow::Result<delta::Upserter> {
        let writer = self.task.await??;
        tracing::info!(
            table,
            records = self.records,
            skipped = self.skipped,
            lag_ms = self.lag,
            version = writer.table().version(),
            "committed"
        );
        Ok(writer)
    }
}

/// Runs the three consumers until SIGTERM or Ctrl-C; each commits what it read before exiting.
pub async fn run(
    config: StreamConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for t in Table::ALL {
        tasks.spawn(run_table(config.clone(), t, rx.clone()));
    }
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => {
                let _ = tx.send(true);
                while let Some(r) = tasks.join_next().await {
                    r??;
                }
                return Ok(());
            }
            r = tasks.join_next() => match r {
                Some(r) => r??,
                None => return Ok(()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_through_commit_metadata() {
        let mut p = Positions::default();
        p.shards
            .insert("shardId-000000000000".into(), "4959".into());
        p.closed.insert("shardId-000000000001".into());
        assert_eq!(Positions::from_json(Some(p.to_json())), p);
        assert_eq!(Positions::from_json(None), Positions::default());
    }
}
