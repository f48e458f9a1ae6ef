//! The answers' [rollups](super::queries::rollups) kept as Delta tables and brought up to date
//! by the rows a run changed, so that a day's run reads what it wrote, not the tables.
//!
//! A rollup is an aggregate over the joined tables: counts add up over disjoint rows, so the
//! rollup after a run is the stored one, plus the rollup of the changed keys' rows as they are
//! now, minus the rollup of the same keys' rows as they were (read by time travel to the
//! version the stored rollup reflects). Greatest and least values only grow (shrink) that way:
//! when a row taken back held one, the rollups are made again from the tables. So are they when
//! the stored rollups do not reflect the versions the run started from (the first run, a run
//! after one that crashed between its rows and its rollups, another writer), and when the
//! changed keys are a large share of the table (a backlog: one pass over the tables is then
//! cheaper than two look-ups).

use anyhow::Context;
use deltalake::arrow::array::Int64Array;
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use serde_json::{json, Value};

use super::delta::{self, DeltaRoot, Written};
use super::engine::{bounded_session, Joins};
use super::queries::{self, Rollup};
use super::record::Table;

/// One cleaned table as a run left it, and what the run wrote to it.
pub struct Source {
    pub table: Table,
    /// The table at the version the run ended with.
    pub now: DeltaTable,
    pub written: Written,
}

/// How a run's rollups were brought up to date.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "how")]
pub enum Refresh {
    /// The stored rollups already reflect the tables as they are (no table changed since).
    Current,
    /// From the rows of `keys` changed keys (all three tables' `ind`s).
    Incremental { keys: u64 },
    /// Made again from the tables, and why.
    Full { why: String },
}

/// A changed-key count above this share of the largest table's rows makes the rollups again
/// rather than look the keys up twice (one divided by it).
const INCREMENTAL_SHARE: u64 = 4;

/// Brings the rollups stored under `store` up to date with `sources` (pin, geo, user) and
/// returns a session holding them as in-memory tables (for [`queries::answers`]), with how they
/// were made. Each rollup is overwritten in a commit of its own, whose progress names the three
/// tables' versions it reflects and its definition; a run that stops between two of them leaves
/// marks that differ, and the next run makes them all again.
///
/// Errors: a Delta or DataFusion failure, naming the table or rollup.
pub async fn refresh(
    store: &DeltaRoot,
    sources: &[Source],
) -> anyhow::Result<(SessionContext, Refresh)> {
    let ctx = bounded_session(Joins::SortMerge);
    let now = mark(sources, |s| s.now.version());
    let from = mark(sources, |s| s.written.from);
    let mut stored = vec![];
    for r in queries::rollups() {
        // Rollups are derived rows: one that cannot be read (files lost, a damaged commit) is
        // made again, not a reason to stop.
        stored.push(read(store, r.name).await.unwrap_or_else(|e| {
            tracing::warn!(
                "the stored rollup {} cannot be read, so it is made again: {e:#}",
                r.name
            );
            None
        }));
    }
    // What each stored rollup reflects: `None` when it is missing or was made by another
    // definition of it (another version of the job), which the run then makes again.
    let marks: Vec<Option<&Value>> = queries::rollups()
        .iter()
        .zip(&stored)
        .map(|(r, s)| {
            let progress = s.as_ref()?.progress.as_ref()?;
            (progress.get("definition") == Some(&json!(definition(r))))
                .then(|| progress.get("sources"))
                .flatten()
        })
        .collect();
    if marks.iter().all(|m| *m == Some(&now)) {
        for (r, s) in queries::rollups().into_iter().zip(stored) {
            let s = s.expect("every rollup is stored");
            queries::hold(&ctx, r.name, s.schema, s.batches)?;
        }
        return Ok((ctx, Refresh::Current));
    }
    let mut keys = roaring::RoaringTreemap::new();
    for s in sources {
        keys |= &s.written.inds;
    }
    let largest = sources.iter().map(|s| rows(&s.now)).max().unwrap_or(0);
    let why = if marks.iter().any(|m| m.is_none()) {
        Some("no rollups stored yet, or stored by another definition of them".to_string())
    } else if marks.iter().any(|m| *m != Some(&from)) {
        Some("the stored rollups do not reflect the tables this run started from".into())
    } else if let Some(s) = sources.iter().find(|s| !s.written.complete) {
        Some(format!(
            "another writer committed to the {} table during the run",
            s.table.suffix()
        ))
    } else if keys.len() * INCREMENTAL_SHARE > largest {
        Some(format!(
            "{} changed keys, more than 1/{INCREMENTAL_SHARE} of the {largest} rows",
            keys.len()
        ))
    } else {
        None
    };
    let refresh = match why {
        Some(why) => Refresh::Full { why },
        None => match incremental(&ctx, sources, &keys, stored).await? {
            Ok(()) => Refresh::Incremental { keys: keys.len() },
            Err(why) => Refresh::Full { why },
        },
    };
    if let Refresh::Full { why } = &refresh {
        tracing::info!("making the rollups from the tables: {why}");
        full(&ctx, sources).await?;
    }
    for r in queries::rollups() {
        let frame = ctx.table(r.name).await?;
        let schema = frame.schema().inner().clone();
        let mut batches = frame.collect().await?;
        if batches.is_empty() {
            // A write needs a batch, even an empty one.
            batches.push(RecordBatch::new_empty(schema.clone()));
        }
        let progress = json!({"sources": now, "definition": definition(&r)});
        store
            .overwrite(r.name, &schema, batches, Some(progress))
            .await
            .with_context(|| {
                format!(
                    "writing the rollup {}: if its table is damaged, delete {} (the next run \
                     makes it again)",
                    r.name,
                    store.url(r.name)
                )
            })?;
    }
    Ok((ctx, refresh))
}

/// A digest of what makes a rollup (hex SHA-256 of its SQL and columns): a rollup stored by
/// another version of the job is made again, not combined with rows of another shape.
fn definition(r: &Rollup) -> String {
    use sha2::Digest;
    let text = format!(
        "{}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        r.sql, r.delta_sql, r.keys, r.sums, r.maxes, r.mins, r.top
    );
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// The tables a rollup (or an answer) reflects: each as its name, creation time (ms; a table
/// deleted and made again starts its versions over) and the `version` of it.
pub fn mark(sources: &[Source], version: impl Fn(&Source) -> Option<u64>) -> Value {
    let tables: Vec<Value> = sources
        .iter()
        .map(|s| {
            let created = s
                .now
                .snapshot()
                .ok()
                .and_then(|t| t.metadata().created_time());
            json!([s.table.suffix(), created, version(s)])
        })
        .collect();
    json!({ "sources": tables })
}

/// A table's row count, from the Delta log's statistics (delta-rs and Spark write `numRecords`
/// for every file they add; delta-rs writes no deletion vectors). A file without the statistic
/// counts 0.
pub fn rows(table: &DeltaTable) -> u64 {
    table.snapshot().map_or(0, |s| {
        s.log_data()
            .iter()
            .map(|f| f.num_records().unwrap_or(0) as u64)
            .sum()
    })
}

/// A rollup as stored: its rows and the progress (table versions) they were committed with.
struct Stored {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    progress: Option<Value>,
}

/// A stored rollup, or `None` when it has never been written.
async fn read(store: &DeltaRoot, name: &str) -> anyhow::Result<Option<Stored>> {
    let Some(table) = store.open_existing(name).await? else {
        return Ok(None);
    };
    let progress = delta::progress(&table).await?;
    let ctx = SessionContext::new();
    let frame = ctx.read_table(table.table_provider().await?)?;
    let schema = frame.schema().inner().clone();
    Ok(Some(Stored {
        schema,
        batches: frame.collect().await?,
        progress,
    }))
}

/// Makes every rollup from the whole tables into `ctx` (a bounded, sort-merge session; the
/// tables are registered in it too).
async fn full(ctx: &SessionContext, sources: &[Source]) -> anyhow::Result<()> {
    for s in sources {
        let name = format!("{}_table", s.table.suffix());
        ctx.deregister_table(&name)?;
        ctx.register_table(name, s.now.table_provider().await?)?;
    }
    queries::make_rollups(ctx).await?;
    Ok(())
}

/// Brings every rollup up to date from the rows of `keys` into `ctx`, or says why it cannot (a
/// taken-back row held a greatest or least value).
async fn incremental(
    ctx: &SessionContext,
    sources: &[Source],
    keys: &roaring::RoaringTreemap,
    stored: Vec<Option<Stored>>,
) -> anyhow::Result<Result<(), String>> {
    let keys = Int64Array::from(keys.iter().map(|k| k as i64).collect::<Vec<_>>());
    let (now, was) = (SessionContext::new(), SessionContext::new());
    for s in sources {
        let name = format!("{}_table", s.table.suffix());
        let rows = delta::rows_with_inds(&s.now, &keys).await?;
        let schema = rows.schema();
        queries::hold(&now, &name, schema.clone(), vec![rows])?;
        let rows = match s.written.from {
            Some(v) => {
                let mut then = s.now.clone();
                if let Err(e) = then.load_version(v).await {
                    // Its log may have been cleaned up since (past the log retention).
                    return Ok(Err(format!(
                        "version {v} of the {} table cannot be read: {e}",
                        s.table.suffix()
                    )));
                }
                delta::rows_with_inds(&then, &keys).await?
            }
            None => RecordBatch::new_empty(schema),
        };
        queries::hold(&was, &name, rows.schema(), vec![rows])?;
    }
    let work = SessionContext::new();
    for (r, s) in queries::rollups().into_iter().zip(stored) {
        let Stored {
            schema, batches, ..
        } = s.expect("checked: every rollup is stored");
        let sql = r.delta_sql.as_deref().unwrap_or(&r.sql);
        queries::hold(&work, "stored", schema.clone(), batches)?;
        hold_result(&work, "plus", now.sql(sql).await?).await?;
        hold_result(&work, "minus", was.sql(sql).await?).await?;
        hold_result(&work, "combined", work.sql(&combine(&r)).await?).await?;
        if let Some(check) = retraction_check(&r) {
            let hits = work.sql(&check).await?.count().await?;
            if hits > 0 {
                return Ok(Err(format!(
                    "a changed row held a greatest or least value of {} that no row holds now",
                    r.name
                )));
            }
        }
        let frame = match r.top {
            None => work.table("combined").await?,
            Some((partition, column)) => {
                let columns = columns(&r).join(", ");
                work.sql(&format!(
                    "SELECT {columns} FROM (SELECT *, MAX({column}) OVER (PARTITION BY \
                     {partition}) AS top_value FROM combined) WHERE {column} = top_value"
                ))
                .await?
            }
        };
        let out_schema = frame.schema().inner().clone();
        let batches = frame.collect().await?;
        queries::hold(ctx, r.name, out_schema, batches)?;
    }
    Ok(Ok(()))
}

/// Runs `frame` and registers its rows in `ctx` under `name`.
async fn hold_result(
    ctx: &SessionContext,
    name: &str,
    frame: deltalake::datafusion::dataframe::DataFrame,
) -> anyhow::Result<()> {
    let schema = frame.schema().inner().clone();
    queries::hold(ctx, name, schema, frame.collect().await?)?;
    Ok(())
}

/// A rollup's columns in order: keys, counts, greatest, least.
fn columns(r: &Rollup) -> Vec<&'static str> {
    r.keys
        .iter()
        .chain(r.sums)
        .chain(r.maxes)
        .chain(r.mins)
        .copied()
        .collect()
}

/// SQL adding `plus` to `stored` and taking `minus` away, group by group; groups whose count
/// falls to zero are gone (a rollup without keys keeps its one row).
fn combine(r: &Rollup) -> String {
    let keys = r.keys.join(", ");
    let aggs: Vec<String> = r
        .sums
        .iter()
        .map(|c| format!("SUM({c}) AS {c}"))
        .chain(r.maxes.iter().map(|c| format!("MAX({c}) AS {c}")))
        .chain(r.mins.iter().map(|c| format!("MIN({c}) AS {c}")))
        .collect();
    let all = columns(r).join(", ");
    // A taken-back row adds nothing to a greatest or least value ([`retraction_check`] makes
    // sure no group's value depended on it): a null of the column's type.
    let minus: Vec<String> = r
        .keys
        .iter()
        .map(|c| c.to_string())
        .chain(r.sums.iter().map(|c| format!("-{c} AS {c}")))
        .chain(
            r.maxes
                .iter()
                .chain(r.mins)
                .map(|c| format!("CASE WHEN false THEN {c} END AS {c}")),
        )
        .collect();
    let select = if keys.is_empty() {
        aggs.join(", ")
    } else {
        format!("{keys}, {}", aggs.join(", "))
    };
    // One row without keys, as the rollup made from the tables has (a count of 0 included).
    let group = if keys.is_empty() {
        String::new()
    } else {
        format!(" GROUP BY {keys} HAVING SUM(n) > 0")
    };
    format!(
        "SELECT {select} FROM (SELECT {all} FROM stored UNION ALL SELECT {all} FROM plus \
         UNION ALL SELECT {} FROM minus) u{group}",
        minus.join(", ")
    )
}

/// SQL whose rows are the taken-back rows (`minus`) that held their group's greatest or least
/// value in `stored` (or their partition's top) when nothing added (`plus`, or what is
/// `combined`) still reaches it: the value after the run is then unknown without the tables.
/// `None` when the rollup holds only counts.
///
/// A greatest value M survives a taken-back row at M if an added row of the group reaches M:
/// every row not added is at most M. Likewise a top: if a combined row of the partition reaches
/// the old top, the new top is the combined rows' greatest, since every row below the old top
/// that is not combined was below it before too.
fn retraction_check(r: &Rollup) -> Option<String> {
    let on = |a: &str, b: &str, cols: &[&str]| -> String {
        let mut parts: Vec<String> = cols
            .iter()
            .map(|c| format!("({a}.{c} IS NOT DISTINCT FROM {b}.{c})"))
            .collect();
        if parts.is_empty() {
            parts.push("true".into());
        }
        parts.join(" AND ")
    };
    let hits: Vec<String> = r
        .maxes
        .iter()
        .map(|c| {
            format!(
                "(m.{c} IS NOT NULL AND (s.{c} IS NULL OR m.{c} >= s.{c}) \
                 AND (p.{c} IS NULL OR p.{c} < m.{c}))"
            )
        })
        .chain(r.mins.iter().map(|c| {
            format!(
                "(m.{c} IS NOT NULL AND (s.{c} IS NULL OR m.{c} <= s.{c}) \
                 AND (p.{c} IS NULL OR p.{c} > m.{c}))"
            )
        }))
        .collect();
    let mut sql = vec![];
    if !hits.is_empty() {
        // A taken-back group missing from the stored rollup is itself a sign it is stale; a
        // group gone after the run (count 0) has no value to keep.
        sql.push(format!(
            "SELECT 1 FROM minus m LEFT JOIN stored s ON {} LEFT JOIN plus p ON {} \
             LEFT JOIN combined c ON {} WHERE s.{n} IS NULL OR (c.{n} IS NOT NULL AND ({}))",
            on("m", "s", r.keys),
            on("m", "p", r.keys),
            on("m", "c", r.keys),
            hits.join(" OR "),
            n = r.sums[0]
        ));
    }
    if let Some((partition, column)) = r.top {
        let top = |t: &str| {
            format!(
                "(SELECT {partition}, MAX({column}) AS top_value FROM {t} GROUP BY {partition})"
            )
        };
        sql.push(format!(
            "SELECT 1 FROM minus m LEFT JOIN {} s ON {} LEFT JOIN {} c ON {} \
             WHERE s.top_value IS NULL OR (m.{column} >= s.top_value \
             AND (c.top_value IS NULL OR c.top_value < s.top_value))",
            top("stored"),
            on("m", "s", &[partition]),
            top("combined"),
            on("m", "c", &[partition]),
        ));
    }
    (!sql.is_empty()).then(|| sql.join(" UNION ALL "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::clean;
    use crate::data::delta::Upserter;
    use crate::data::generate::Generator;
    use crate::data::record::Event;
    use serde_json::Map;

    /// One run: each table's rows upserted (none: the table untouched), the rollups brought up
    /// to date, and their answers compared with the answers from rollups made from the tables.
    async fn run(
        tables: &DeltaRoot,
        store: &DeltaRoot,
        rows: [Option<Vec<Value>>; 3],
        n: u64,
    ) -> Refresh {
        let mut sources = vec![];
        for (t, rows) in Table::ALL.into_iter().zip(rows) {
            let schema = clean::schema(t);
            let mut w = Upserter::open(tables, t.suffix(), &schema).await.unwrap();
            if let Some(rows) = rows {
                let batch = clean::dedupe_by_ind(&clean::clean(t, &clean::raw_batch(t, &rows)));
                w.upsert(batch, json!(n)).await.unwrap();
            }
            sources.push(Source {
                table: t,
                now: w.table().clone(),
                written: w.written().clone(),
            });
        }
        let (ctx, how) = refresh(store, &sources).await.unwrap();
        let got = queries::answers(&ctx).await.unwrap();
        let whole = SessionContext::new();
        for s in &sources {
            whole
                .register_table(
                    format!("{}_table", s.table.suffix()),
                    s.now.table_provider().await.unwrap(),
                )
                .unwrap();
        }
        let want = queries::run_all(&whole).await.unwrap();
        for ((q, got), (_, want)) in got.iter().zip(&want) {
            assert_eq!(
                queries::rows(got).1,
                queries::rows(want).1,
                "run {n} ({how:?}): {}",
                q.id
            );
        }
        assert_eq!(
            span(&ctx).await,
            span(&whole).await,
            "run {n} ({how:?}): geo_span"
        );
        how
    }

    async fn span(c: &SessionContext) -> Vec<Map<String, Value>> {
        let b = c
            .sql("SELECT n, first_post, last_post FROM geo_span")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        queries::rows(&b).1
    }

    /// `n` generated events (seed `seed`) with keys from `from` on: new to the tables.
    fn new_keys(seed: u64, n: u64, from: i64) -> Vec<Event> {
        Generator::new(seed, n)
            .map(|mut e| {
                let key = e.key() + from;
                (e.pin.index, e.geo.ind, e.user.ind) = (key, key, key);
                e
            })
            .collect()
    }

    fn json_rows(events: &[Event], t: Table, edit: impl Fn(&mut Map<String, Value>)) -> Vec<Value> {
        events
            .iter()
            .map(|e| {
                let mut v = e.row_json(t);
                edit(v.as_object_mut().expect("a record is an object"));
                v
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn rollups_brought_up_to_date_answer_as_rollups_made_from_the_tables() {
        let dir = tempfile::tempdir().unwrap();
        let tables = DeltaRoot::new(dir.path().join("tables").to_str().unwrap()).unwrap();
        let store = DeltaRoot::new(dir.path().join("rollups").to_str().unwrap()).unwrap();
        let events: Vec<Event> = Generator::new(7, 12_000).collect();
        let (backlog, day) = events.split_at(10_000);
        let all = |evs: &[Event]| Table::ALL.map(|t| Some(json_rows(evs, t, |_| {})));
        let how = run(&tables, &store, all(backlog), 1).await;
        assert!(matches!(how, Refresh::Full { ref why } if why.contains("no rollups")));

        // A day: new keys, replays of old events as they were, and old rows changed where only
        // counts move (users' ages and join dates, pins' titles).
        let replays: Vec<Event> = backlog.iter().step_by(20).cloned().collect();
        let changed: Vec<Event> = backlog.iter().skip(7).step_by(50).cloned().collect();
        let mut rows = all(day);
        for (t, r) in Table::ALL.iter().zip(rows.iter_mut()) {
            let r = r.as_mut().unwrap();
            r.extend(json_rows(&replays, *t, |_| {}));
            r.extend(json_rows(&changed, *t, |m| match t {
                Table::User => {
                    m.insert("age".into(), json!(61));
                    m.insert("date_joined".into(), json!("2016-03-03T00:00:00"));
                }
                Table::Pin => {
                    m.insert("title".into(), json!("Changed"));
                }
                Table::Geo => {}
            }));
        }
        let how = run(&tables, &store, rows, 2).await;
        assert_eq!(how, Refresh::Incremental { keys: 2_000 + 200 });

        // Nothing new: the stored rollups are current.
        assert_eq!(
            run(&tables, &store, [None, None, None], 3).await,
            Refresh::Current
        );

        // The post with the most followers loses them: the greatest value is taken back, so
        // the rollups are made again.
        let ctx = SessionContext::new();
        for t in [Table::Pin, Table::Geo] {
            let table = tables.open(t.suffix(), &clean::schema(t)).await.unwrap();
            ctx.register_table(t.suffix(), table.table_provider().await.unwrap())
                .unwrap();
        }
        let top = ctx
            .sql(
                "SELECT p.ind FROM pin p JOIN geo g ON p.ind = g.ind \
                 WHERE g.country IS NOT NULL AND p.poster_name IS NOT NULL \
                 ORDER BY p.follower_count DESC LIMIT 1",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let top = top[0]
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0);
        let fallen: Vec<Event> = events.iter().filter(|e| e.key() == top).cloned().collect();
        let pins = json_rows(&fallen, Table::Pin, |m| {
            m.insert("follower_count".into(), json!("0"));
        });
        let how = run(&tables, &store, [Some(pins), None, None], 4).await;
        assert!(
            matches!(how, Refresh::Full { ref why } if why.contains("greatest")),
            "{how:?}"
        );
        // And from there on, up to date again by changes.
        let more: Vec<Event> = new_keys(8, 500, 20_000);
        let how = run(&tables, &store, all(&more), 5).await;
        assert_eq!(how, Refresh::Incremental { keys: 500 });

        // A rollup stored by another definition of it (another version of the job) is not
        // combined with rows of this one: all are made again.
        let span = store.open_existing("geo_span").await.unwrap().unwrap();
        let mut progress = delta::progress(&span).await.unwrap().unwrap();
        progress["definition"] = json!("an older one");
        let schema = clean::schema(Table::Geo);
        let rows = RecordBatch::new_empty(schema.clone());
        store
            .overwrite("geo_span", &schema, vec![rows], Some(progress))
            .await
            .unwrap();
        let later: Vec<Event> = new_keys(9, 100, 30_000);
        let how = run(&tables, &store, all(&later), 6).await;
        assert!(
            matches!(how, Refresh::Full { ref why } if why.contains("another definition")),
            "{how:?}"
        );

        // A rollup whose files are lost is made again, not a reason to stop.
        let lost = dir.path().join("rollups").join("pin_geo_rollup");
        for f in std::fs::read_dir(&lost).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|x| x == "parquet") {
                std::fs::remove_file(f).unwrap();
            }
        }
        let last: Vec<Event> = new_keys(10, 50, 40_000);
        let how = run(&tables, &store, all(&last), 7).await;
        assert!(
            matches!(how, Refresh::Full { ref why } if why.contains("no rollups")),
            "{how:?}"
        );
    }
}
