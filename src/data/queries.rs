//! The eight analysis queries of spec §5, as SQL over [`rollups`] of the cleaned tables
//! (`pin_table`, `geo_table` and `user_table` in a DataFusion session). Inner joins on `ind`; rows with a null grouping or
//! measured column are left out; ties in "most popular" keep every tied row; medians are exact,
//! the lower middle value for an even count; output sorted by the grouping columns.

/// The age group of `age`, or NULL under 18.
const AGE_GROUP: &str = "CASE WHEN u.age BETWEEN 18 AND 24 THEN '18-24' \
     WHEN u.age BETWEEN 25 AND 35 THEN '25-35' \
     WHEN u.age BETWEEN 36 AND 50 THEN '36-50' \
     WHEN u.age > 50 THEN '+50' END";

/// The natural order of the age groups.
const AGE_ORDER: &str = "CASE age_group WHEN '18-24' THEN 1 WHEN '25-35' THEN 2 \
     WHEN '36-50' THEN 3 ELSE 4 END";

pub struct Query {
    /// `q1` ... `q8`, `q3a`, `q3b`: the name of its result table and files.
    pub id: &'static str,
    pub question: &'static str,
    pub sql: String,
}

/// A table the queries share: distinct group keys with their counts (and extremes), not table
/// rows — a few thousand where the tables hold millions. The batch job keeps each as a Delta
/// table and brings it up to date from the rows a run changed (`data::rollup`); a run that
/// cannot (the first, or one after a crash) makes it again with `sql`.
pub struct Rollup {
    pub name: &'static str,
    /// The rollup over the whole tables (`pin_table`, `geo_table`, `user_table`, and the
    /// rollups listed before it).
    pub sql: String,
    /// The rollup's rows before [`Rollup::top`] is applied, over any subset of the tables' rows
    /// (the rows a run changed); `None`: `sql` is already that.
    pub delta_sql: Option<String>,
    /// Its grouping columns (none: one row).
    pub keys: &'static [&'static str],
    /// Counts, which add up over disjoint sets of rows: `n`, always.
    pub sums: &'static [&'static str],
    /// Greatest values in their group: they can grow with new rows but are made again when a
    /// row holding one is taken back.
    pub maxes: &'static [&'static str],
    /// Least values in their group, likewise.
    pub mins: &'static [&'static str],
    /// `(partition, column)`: only the rows whose `column` is the greatest within their
    /// `partition` are kept.
    pub top: Option<(&'static str, &'static str)>,
}

/// The rollups, in the order they are made.
///
/// Every answer is an aggregate of one of them, so each join of two tables by `ind` (a sort of
/// both sides, spilled beyond the session's memory) runs once rather than once a query, and
/// medians come from counts per value (the lower middle value is the first whose running count
/// reaches `(n + 1) / 2`) rather than from a window sorting every row.
pub fn rollups() -> Vec<Rollup> {
    vec![
        Rollup {
            name: "pin_geo_rollup",
            // top_followers: the follower count q3a/q3b rank, over posts with a poster.
            sql: "SELECT g.country, p.category, \
                  CAST(date_part('year', g.timestamp) AS BIGINT) AS post_year, \
                  COUNT(*) AS n, \
                  MAX(CASE WHEN p.poster_name IS NOT NULL THEN p.follower_count END) AS top_followers \
                  FROM pin_table p JOIN geo_table g ON p.ind = g.ind \
                  GROUP BY 1, 2, 3"
                .into(),
            delta_sql: None,
            keys: &["country", "category", "post_year"],
            sums: &["n"],
            maxes: &["top_followers"],
            mins: &[],
            top: None,
        },
        Rollup {
            name: "pin_user_rollup",
            sql: format!(
                "SELECT {AGE_GROUP} AS age_group, \
                 CAST(date_part('year', u.date_joined) AS BIGINT) AS join_year, \
                 p.category, p.follower_count, COUNT(*) AS n \
                 FROM pin_table p JOIN user_table u ON p.ind = u.ind \
                 GROUP BY 1, 2, 3, 4"
            ),
            delta_sql: None,
            keys: &["age_group", "join_year", "category", "follower_count"],
            sums: &["n"],
            maxes: &[],
            mins: &[],
            top: None,
        },
        Rollup {
            name: "user_year_rollup",
            sql: "SELECT CAST(date_part('year', u.date_joined) AS BIGINT) AS join_year, \
                  COUNT(*) AS n FROM user_table u GROUP BY 1"
                .into(),
            delta_sql: None,
            keys: &["join_year"],
            sums: &["n"],
            maxes: &[],
            mins: &[],
            top: None,
        },
        Rollup {
            name: "geo_span",
            // The report's first and last post.
            sql: "SELECT COUNT(*) AS n, MIN(g.timestamp) AS first_post, \
                  MAX(g.timestamp) AS last_post FROM geo_table g"
                .into(),
            delta_sql: None,
            keys: &[],
            sums: &["n"],
            maxes: &["last_post"],
            mins: &["first_post"],
            top: None,
        },
        Rollup {
            name: "country_top_posts",
            // q3a's rows: the posts at their country's top, found over the whole tables by a
            // join with the (small) per-country tops, the pins below the lowest top left out
            // before the join.
            sql: format!(
                "WITH top AS ({COUNTRY_TOP}) \
                 SELECT g.country, p.poster_name, p.follower_count, COUNT(*) AS n \
                 FROM pin_table p JOIN geo_table g ON p.ind = g.ind \
                 JOIN top t ON g.country = t.country AND p.follower_count = t.follower_count \
                 WHERE p.poster_name IS NOT NULL \
                 AND p.follower_count >= (SELECT MIN(follower_count) FROM top) \
                 GROUP BY 1, 2, 3"
            ),
            delta_sql: Some(
                "SELECT g.country, p.poster_name, p.follower_count, COUNT(*) AS n \
                 FROM pin_table p JOIN geo_table g ON p.ind = g.ind \
                 WHERE g.country IS NOT NULL AND p.poster_name IS NOT NULL \
                 AND p.follower_count IS NOT NULL GROUP BY 1, 2, 3"
                    .into(),
            ),
            keys: &["country", "poster_name", "follower_count"],
            sums: &["n"],
            maxes: &[],
            mins: &[],
            top: Some(("country", "follower_count")),
        },
    ]
}

/// The lower median of `follower_count` per `groups` over the rows of `pin_user_rollup` that
/// pass `filter`, as `median_follower_count`, the groups renamed by `select`.
fn median(groups: &str, select: &str, filter: &str, order: &str) -> String {
    format!(
        "WITH h AS (SELECT {groups}, follower_count, SUM(n) AS k FROM pin_user_rollup \
         WHERE {filter} AND follower_count IS NOT NULL GROUP BY {groups}, follower_count), \
         c AS (SELECT {groups}, follower_count, \
         SUM(k) OVER (PARTITION BY {groups} ORDER BY follower_count \
         ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS below, \
         SUM(k) OVER (PARTITION BY {groups}) AS total FROM h) \
         SELECT {select}, MIN(follower_count) AS median_follower_count FROM c \
         WHERE below >= (total + 1) / 2 GROUP BY {groups} ORDER BY {order}"
    )
}

/// The per-country top follower count (q3a, q3b): countries with at least one post with a
/// poster and a follower count.
const COUNTRY_TOP: &str = "SELECT country, MAX(top_followers) AS follower_count \
     FROM pin_geo_rollup WHERE country IS NOT NULL AND top_followers IS NOT NULL GROUP BY country";

/// The queries, in the spec's order, over the [`rollups`] alone (they read no cleaned table).
pub fn all() -> Vec<Query> {
    vec![
        Query {
            id: "q1",
            question: "The most popular category in each country",
            sql: "WITH c AS (SELECT country, category, SUM(n) AS category_count \
                  FROM pin_geo_rollup WHERE country IS NOT NULL AND category IS NOT NULL \
                  GROUP BY country, category), \
                  r AS (SELECT *, RANK() OVER (PARTITION BY country ORDER BY category_count DESC) AS rk FROM c) \
                  SELECT country, category, category_count FROM r WHERE rk = 1 \
                  ORDER BY country, category"
                .into(),
        },
        Query {
            id: "q2",
            question: "Posts per category per year, 2018-2022",
            sql: "SELECT post_year, category, SUM(n) AS category_count FROM pin_geo_rollup \
                  WHERE post_year BETWEEN 2018 AND 2022 AND category IS NOT NULL \
                  GROUP BY post_year, category ORDER BY post_year, category"
                .into(),
        },
        Query {
            id: "q3a",
            question: "The poster with the most followers in each country",
            sql: "SELECT country, poster_name, follower_count FROM country_top_posts \
                  ORDER BY country, poster_name, follower_count"
                .into(),
        },
        Query {
            id: "q3b",
            question: "The country whose top poster has the most followers",
            sql: format!(
                "WITH top AS ({COUNTRY_TOP}) \
                 SELECT country, follower_count FROM top \
                 WHERE follower_count = (SELECT MAX(follower_count) FROM top) \
                 ORDER BY country"
            ),
        },
        Query {
            id: "q4",
            question: "The most popular category in each age group",
            sql: format!(
                "WITH c AS (SELECT age_group, category, SUM(n) AS category_count FROM pin_user_rollup \
                 WHERE age_group IS NOT NULL AND category IS NOT NULL GROUP BY age_group, category), \
                 r AS (SELECT *, RANK() OVER (PARTITION BY age_group ORDER BY category_count DESC) AS rk FROM c) \
                 SELECT age_group, category, category_count FROM r WHERE rk = 1 \
                 ORDER BY {AGE_ORDER}, category"
            ),
        },
        Query {
            id: "q5",
            question: "Median follower count per age group",
            sql: median("age_group", "age_group", "age_group IS NOT NULL", AGE_ORDER),
        },
        Query {
            id: "q6",
            question: "Users joined per year, 2015-2020",
            sql: "SELECT join_year AS post_year, SUM(n) AS number_users_joined \
                  FROM user_year_rollup WHERE join_year BETWEEN 2015 AND 2020 \
                  GROUP BY join_year ORDER BY post_year"
                .into(),
        },
        Query {
            id: "q7",
            question: "Median follower count by join year, 2015-2020",
            sql: median(
                "join_year",
                "join_year AS post_year",
                "join_year BETWEEN 2015 AND 2020",
                "post_year",
            ),
        },
        Query {
            id: "q8",
            question: "Median follower count by age group and join year, 2015-2020",
            sql: median(
                "age_group, join_year",
                "age_group, join_year AS post_year",
                "age_group IS NOT NULL AND join_year BETWEEN 2015 AND 2020",
                &format!("{AGE_ORDER}, post_year"),
            ),
        },
    ]
}

use deltalake::arrow::array::{Array, Float64Array, Int64Array, StringArray};
use deltalake::arrow::datatypes::DataType;
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::prelude::SessionContext;
use serde_json::{Map, Value};

/// Makes the [`rollups`] from the session's `pin_table`, `geo_table`, `user_table` (replacing
/// any made before), then runs every query on them.
pub async fn run_all(
    ctx: &SessionContext,
) -> Result<Vec<(Query, Vec<RecordBatch>)>, deltalake::datafusion::error::DataFusionError> {
    make_rollups(ctx).await?;
    answers(ctx).await
}

/// Makes the [`rollups`] from the session's `pin_table`, `geo_table`, `user_table`, each held
/// in the session (replacing any made before) as later ones read earlier ones.
pub async fn make_rollups(
    ctx: &SessionContext,
) -> Result<(), deltalake::datafusion::error::DataFusionError> {
    for r in rollups() {
        let frame = ctx.sql(&r.sql).await?;
        let schema = frame.schema().inner().clone();
        let batches = frame.collect().await?;
        hold(ctx, r.name, schema, batches)?;
    }
    Ok(())
}

/// Registers `batches` in the session as the table `name` (replacing one of that name).
pub fn hold(
    ctx: &SessionContext,
    name: &str,
    schema: deltalake::arrow::datatypes::SchemaRef,
    batches: Vec<RecordBatch>,
) -> Result<(), deltalake::datafusion::error::DataFusionError> {
    use deltalake::datafusion::datasource::MemTable;
    ctx.deregister_table(name)?;
    ctx.register_table(
        name,
        std::sync::Arc::new(MemTable::try_new(schema, vec![batches])?),
    )?;
    Ok(())
}

/// Runs every query on the [`rollups`] registered in the session (the cleaned tables are not
/// read).
pub async fn answers(
    ctx: &SessionContext,
) -> Result<Vec<(Query, Vec<RecordBatch>)>, deltalake::datafusion::error::DataFusionError> {
    let mut out = vec![];
    for q in all() {
        let batches = ctx.sql(&q.sql).await?.collect().await?;
        out.push((q, batches));
    }
    Ok(out)
}

/// The result rows as JSON objects (integers stay integers, text stays text).
pub fn rows(batches: &[RecordBatch]) -> (Vec<String>, Vec<Map<String, Value>>) {
    let mut columns = vec![];
    let mut rows = vec![];
    for b in batches {
        let schema = b.schema();
        columns = schema.fields().iter().map(|f| f.name().clone()).collect();
        for i in 0..b.num_rows() {
            let mut row = Map::new();
            for (c, field) in schema.fields().iter().enumerate() {
                let a = b.column(c);
                let v = if a.is_null(i) {
                    Value::Null
                } else {
                    match field.data_type() {
                        DataType::Int64 => a
                            .as_any()
                            .downcast_ref::<Int64Array>()
                            .map_or(Value::Null, |x| Value::from(x.value(i))),
                        DataType::Float64 => a
                            .as_any()
                            .downcast_ref::<Float64Array>()
                            .map_or(Value::Null, |x| Value::from(x.value(i))),
                        DataType::Utf8 => a
                            .as_any()
                            .downcast_ref::<StringArray>()
                            .map_or(Value::Null, |x| Value::from(x.value(i))),
                        _ => Value::String(
                            deltalake::arrow::util::display::array_value_to_string(a, i)
                                .unwrap_or_default(),
                        ),
                    }
                };
                row.insert(field.name().clone(), v);
            }
            rows.push(row);
        }
    }
    (columns, rows)
}

/// Registers cleaned batches as the three tables (for tests and the stream job's checks).
pub fn register(
    ctx: &SessionContext,
    pin: RecordBatch,
    geo: RecordBatch,
    user: RecordBatch,
) -> Result<(), deltalake::datafusion::error::DataFusionError> {
    use deltalake::datafusion::datasource::MemTable;
    use std::sync::Arc;
    for (name, batch) in [("pin_table", pin), ("geo_table", geo), ("user_table", user)] {
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
        ctx.register_table(name, Arc::new(table))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::clean::{clean, raw_batch};
    use crate::data::record::Table;
    use serde_json::json;

    /// A fixture worked out by hand: ties, an even count, nulls, year edges, age edges.
    fn fixture() -> SessionContext {
        // ind: (country, category, timestamp, poster, followers, age, joined)
        let rows = [
            (
                1,
                "A",
                "art",
                "2018-01-01T00:00:00",
                "P1",
                "10k",
                24,
                "2015-06-01T00:00:00",
            ),
            (
                2,
                "A",
                "art",
                "2018-05-05T00:00:00",
                "P1",
                "10k",
                25,
                "2015-07-01T00:00:00",
            ),
            (
                3,
                "A",
                "travel",
                "2022-12-31T23:59:59",
                "P2",
                "5k",
                35,
                "2016-01-01T00:00:00",
            ),
            (
                4,
                "B",
                "art",
                "2017-12-31T23:59:59",
                "P3",
                "2M",
                36,
                "2016-02-01T00:00:00",
            ),
            (
                5,
                "B",
                "travel",
                "2023-01-01T00:00:00",
                "P4",
                "2M",
                50,
                "2017-03-01T00:00:00",
            ),
            (
                6,
                "",
                "art",
                "2019-03-03T00:00:00",
                "P6",
                "User Info Error",
                51,
                "2014-12-31T23:59:59",
            ),
            (
                7,
                "C",
                "quotes",
                "2020-02-02T00:00:00",
                "P5",
                "2000000",
                17,
                "2020-01-01T00:00:00",
            ),
            (
                9,
                "A",
                "",
                "2018-02-02T00:00:00",
                "P9",
                "User Info Error",
                40,
                "2016-05-05T00:00:00",
            ),
        ];
        let mut pins = vec![];
        let mut geos = vec![];
        let mut users = vec![];
        for (ind, country, category, ts, poster, followers, age, joined) in rows {
            pins.push(json!({"index": ind, "category": category, "poster_name": poster, "follower_count": followers}));
            geos.push(json!({"ind": ind, "country": country, "timestamp": ts, "latitude": 1.0, "longitude": 2.0}));
            users.push(json!({"ind": ind, "first_name": "F", "last_name": "L", "age": age, "date_joined": joined}));
        }
        // A user without a post, joined outside 2015-2020.
        users.push(json!({"ind": 8, "first_name": "F", "last_name": "L", "age": 30, "date_joined": "2021-01-01T00:00:00"}));
        let ctx = SessionContext::new();
        register(
            &ctx,
            clean(Table::Pin, &raw_batch(Table::Pin, &pins)),
            clean(Table::Geo, &raw_batch(Table::Geo, &geos)),
            clean(Table::User, &raw_batch(Table::User, &users)),
        )
        .unwrap();
        ctx
    }

    async fn answers() -> std::collections::BTreeMap<&'static str, Vec<Value>> {
        let ctx = fixture();
        run_all(&ctx)
            .await
            .unwrap()
            .into_iter()
            .map(|(q, b)| (q.id, rows(&b).1.into_iter().map(Value::Object).collect()))
            .collect()
    }

    #[tokio::test]
    async fn the_answers_worked_out_by_hand() {
        let a = answers().await;
        assert_eq!(
            a["q1"],
            vec![
                json!({"country": "A", "category": "art", "category_count": 2}),
                json!({"country": "B", "category": "art", "category_count": 1}),
                json!({"country": "B", "category": "travel", "category_count": 1}),
                json!({"country": "C", "category": "quotes", "category_count": 1}),
            ]
        );
        assert_eq!(
            a["q2"],
            vec![
                json!({"post_year": 2018, "category": "art", "category_count": 2}),
                json!({"post_year": 2019, "category": "art", "category_count": 1}),
                json!({"post_year": 2020, "category": "quotes", "category_count": 1}),
                json!({"post_year": 2022, "category": "travel", "category_count": 1}),
            ]
        );
        assert_eq!(
            a["q3a"],
            vec![
                json!({"country": "A", "poster_name": "P1", "follower_count": 10000}),
                json!({"country": "B", "poster_name": "P3", "follower_count": 2000000}),
                json!({"country": "B", "poster_name": "P4", "follower_count": 2000000}),
                json!({"country": "C", "poster_name": "P5", "follower_count": 2000000}),
            ]
        );
        assert_eq!(
            a["q3b"],
            vec![
                json!({"country": "B", "follower_count": 2000000}),
                json!({"country": "C", "follower_count": 2000000}),
            ]
        );
        assert_eq!(
            a["q4"],
            vec![
                json!({"age_group": "18-24", "category": "art", "category_count": 1}),
                json!({"age_group": "25-35", "category": "art", "category_count": 1}),
                json!({"age_group": "25-35", "category": "travel", "category_count": 1}),
                json!({"age_group": "36-50", "category": "art", "category_count": 1}),
                json!({"age_group": "36-50", "category": "travel", "category_count": 1}),
                json!({"age_group": "+50", "category": "art", "category_count": 1}),
            ]
        );
        assert_eq!(
            a["q5"],
            vec![
                json!({"age_group": "18-24", "median_follower_count": 10000}),
                json!({"age_group": "25-35", "median_follower_count": 5000}),
                json!({"age_group": "36-50", "median_follower_count": 2000000}),
            ]
        );
        assert_eq!(
            a["q6"],
            vec![
                json!({"post_year": 2015, "number_users_joined": 2}),
                json!({"post_year": 2016, "number_users_joined": 3}),
                json!({"post_year": 2017, "number_users_joined": 1}),
                json!({"post_year": 2020, "number_users_joined": 1}),
            ]
        );
        assert_eq!(
            a["q7"],
            vec![
                json!({"post_year": 2015, "median_follower_count": 10000}),
                json!({"post_year": 2016, "median_follower_count": 5000}),
                json!({"post_year": 2017, "median_follower_count": 2000000}),
                json!({"post_year": 2020, "median_follower_count": 2000000}),
            ]
        );
        assert_eq!(
            a["q8"],
            vec![
                json!({"age_group": "18-24", "post_year": 2015, "median_follower_count": 10000}),
                json!({"age_group": "25-35", "post_year": 2015, "median_follower_count": 10000}),
                json!({"age_group": "25-35", "post_year": 2016, "median_follower_count": 5000}),
                json!({"age_group": "36-50", "post_year": 2016, "median_follower_count": 2000000}),
                json!({"age_group": "36-50", "post_year": 2017, "median_follower_count": 2000000}),
            ]
        );
    }

    /// The queries the rollups changed, as they were before them (issue 19): windows and joins
    /// over every row, written straight from the spec. The rollups must give the same answers.
    fn reference() -> Vec<Query> {
        let pin_user = format!(
            "SELECT {AGE_GROUP} AS age_group, p.category, p.follower_count, \
             CAST(date_part('year', u.date_joined) AS BIGINT) AS join_year \
             FROM pin_table p JOIN user_table u ON p.ind = u.ind"
        );
        vec![
            Query {
                id: "q1",
                question: "The most popular category in each country",
                sql: "WITH c AS (SELECT g.country, p.category, COUNT(*) AS category_count \
                      FROM pin_table p JOIN geo_table g ON p.ind = g.ind \
                      WHERE g.country IS NOT NULL AND p.category IS NOT NULL \
                      GROUP BY g.country, p.category), \
                      r AS (SELECT *, RANK() OVER (PARTITION BY country ORDER BY category_count DESC) AS rk FROM c) \
                      SELECT country, category, category_count FROM r WHERE rk = 1 \
                      ORDER BY country, category"
                    .into(),
            },
            Query {
                id: "q2",
                question: "Posts per category per year, 2018-2022",
                sql: "SELECT CAST(date_part('year', g.timestamp) AS BIGINT) AS post_year, p.category, \
                      COUNT(*) AS category_count \
                      FROM pin_table p JOIN geo_table g ON p.ind = g.ind \
                      WHERE g.timestamp IS NOT NULL AND p.category IS NOT NULL \
                      AND date_part('year', g.timestamp) BETWEEN 2018 AND 2022 \
                      GROUP BY 1, 2 ORDER BY post_year, category"
                    .into(),
            },
            Query {
                id: "q3a",
                question: "The poster with the most followers in each country",
                sql: "WITH x AS (SELECT g.country, p.poster_name, p.follower_count, \
                      RANK() OVER (PARTITION BY g.country ORDER BY p.follower_count DESC) AS rk \
                      FROM pin_table p JOIN geo_table g ON p.ind = g.ind \
                      WHERE g.country IS NOT NULL AND p.poster_name IS NOT NULL AND p.follower_count IS NOT NULL) \
                      SELECT DISTINCT country, poster_name, follower_count FROM x WHERE rk = 1 \
                      ORDER BY country, poster_name, follower_count"
                    .into(),
            },
            Query {
                id: "q3b",
                question: "The country whose top poster has the most followers",
                sql: "WITH top AS (SELECT g.country, MAX(p.follower_count) AS follower_count \
                      FROM pin_table p JOIN geo_table g ON p.ind = g.ind \
                      WHERE g.country IS NOT NULL AND p.poster_name IS NOT NULL AND p.follower_count IS NOT NULL \
                      GROUP BY g.country) \
                      SELECT country, follower_count FROM top \
                      WHERE follower_count = (SELECT MAX(follower_count) FROM top) \
                      ORDER BY country"
                    .into(),
            },
            Query {
                id: "q6",
                question: "Users joined per year, 2015-2020",
                sql: "SELECT CAST(date_part('year', u.date_joined) AS BIGINT) AS post_year, \
                      COUNT(*) AS number_users_joined FROM user_table u \
                      WHERE u.date_joined IS NOT NULL AND date_part('year', u.date_joined) BETWEEN 2015 AND 2020 \
                      GROUP BY 1 ORDER BY post_year"
                    .into(),
            },
            Query {
                id: "q4",
                question: "The most popular category in each age group",
                sql: format!(
                    "WITH x AS ({pin_user}), \
                     c AS (SELECT age_group, category, COUNT(*) AS category_count FROM x \
                     WHERE age_group IS NOT NULL AND category IS NOT NULL GROUP BY age_group, category), \
                     r AS (SELECT *, RANK() OVER (PARTITION BY age_group ORDER BY category_count DESC) AS rk FROM c) \
                     SELECT age_group, category, category_count FROM r WHERE rk = 1 \
                     ORDER BY {AGE_ORDER}, category"
                ),
            },
            Query {
                id: "q5",
                question: "Median follower count per age group",
                sql: format!(
                    "WITH x AS ({pin_user}), \
                     m AS (SELECT age_group, follower_count, \
                     ROW_NUMBER() OVER (PARTITION BY age_group ORDER BY follower_count) AS rn, \
                     COUNT(*) OVER (PARTITION BY age_group) AS n \
                     FROM x WHERE age_group IS NOT NULL AND follower_count IS NOT NULL) \
                     SELECT age_group, follower_count AS median_follower_count FROM m \
                     WHERE rn = (n + 1) / 2 ORDER BY {AGE_ORDER}"
                ),
            },
            Query {
                id: "q7",
                question: "Median follower count by join year, 2015-2020",
                sql: format!(
                    "WITH x AS ({pin_user}), \
                     m AS (SELECT join_year, follower_count, \
                     ROW_NUMBER() OVER (PARTITION BY join_year ORDER BY follower_count) AS rn, \
                     COUNT(*) OVER (PARTITION BY join_year) AS n \
                     FROM x WHERE join_year BETWEEN 2015 AND 2020 AND follower_count IS NOT NULL) \
                     SELECT join_year AS post_year, follower_count AS median_follower_count FROM m \
                     WHERE rn = (n + 1) / 2 ORDER BY post_year"
                ),
            },
            Query {
                id: "q8",
                question: "Median follower count by age group and join year, 2015-2020",
                sql: format!(
                    "WITH x AS ({pin_user}), \
                     m AS (SELECT age_group, join_year, follower_count, \
                     ROW_NUMBER() OVER (PARTITION BY age_group, join_year ORDER BY follower_count) AS rn, \
                     COUNT(*) OVER (PARTITION BY age_group, join_year) AS n \
                     FROM x WHERE age_group IS NOT NULL AND join_year BETWEEN 2015 AND 2020 \
                     AND follower_count IS NOT NULL) \
                     SELECT age_group, join_year AS post_year, follower_count AS median_follower_count FROM m \
                     WHERE rn = (n + 1) / 2 ORDER BY {AGE_ORDER}, post_year"
                ),
            },
        ]
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_rollups_answer_as_the_row_level_queries_do() {
        use crate::data::generate::Generator;
        let events: Vec<_> = Generator::new(7, 20_000).collect();
        let ctx = SessionContext::new();
        let batch = |t: Table| {
            let rows: Vec<Value> = events.iter().map(|e| e.row_json(t)).collect();
            clean(t, &raw_batch(t, &rows))
        };
        register(
            &ctx,
            batch(Table::Pin),
            batch(Table::Geo),
            batch(Table::User),
        )
        .unwrap();
        let new = run_all(&ctx).await.unwrap();
        let mut compared = 0;
        for (q, batches) in new {
            let Some(old) = reference().into_iter().find(|r| r.id == q.id) else {
                continue;
            };
            let want = ctx.sql(&old.sql).await.unwrap().collect().await.unwrap();
            let (got_columns, got) = rows(&batches);
            let (want_columns, want) = rows(&want);
            assert_eq!(got_columns, want_columns, "{}", q.id);
            assert!(
                !want.is_empty(),
                "{}: the generated data gives no answer",
                q.id
            );
            assert_eq!(got, want, "{}", q.id);
            compared += 1;
        }
        assert_eq!(compared, reference().len());
    }
}
