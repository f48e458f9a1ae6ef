//! Cleaning (spec §4), the same for the batch and the stream job: raw records in, the cleaned
//! tables' Arrow batches out. Every input is taken as text first, so a wrong type, a missing
//! field or a bad value becomes a null, never a panic.

use std::sync::Arc;

use deltalake::arrow::array::{
    Array, ArrayRef, Float64Builder, Int64Builder, ListBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use deltalake::arrow::record_batch::RecordBatch;
use serde_json::Value;

use super::record::Table;
use super::store::parse_datetime;

/// The placeholders that mean "no value" (spec §4.1), per column.
const PLACEHOLDERS: [(&str, &str); 7] = [
    ("title", "No Title Data Available"),
    ("description", "No description available Story format"),
    ("description", "No description available"),
    ("poster_name", "User Info Error"),
    ("follower_count", "User Info Error"),
    ("tag_list", "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e"),
    // Only exactly: `Image src error` without the full stop is a real value (spec §4, edge
    // rules).
    ("image_src", "Image src error."),
];

/// The raw columns each table's records carry, as text.
pub fn raw_columns(table: Table) -> &'static [&'static str] {
    match table {
        Table::Pin => &[
            "index",
            "unique_id",
            "title",
            "description",
            "poster_name",
            "follower_count",
            "tag_list",
            "is_image_or_video",
            "image_src",
            "downloaded",
            "save_location",
            "category",
        ],
        Table::Geo => &["ind", "timestamp", "latitude", "longitude", "country"],
        Table::User => &["ind", "first_name", "last_name", "age", "date_joined"],
    }
}

fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The cleaned table's schema (spec §4): names, order and types.
pub fn schema(table: Table) -> SchemaRef {
    let utf8 = |n: &str| Field::new(n, DataType::Utf8, true);
    let fields = match table {
        Table::Pin => vec![
            Field::new("ind", DataType::Int64, false),
            utf8("unique_id"),
            utf8("title"),
            utf8("description"),
            Field::new("follower_count", DataType::Int64, true),
            utf8("poster_name"),
            utf8("tag_list"),
            utf8("is_image_or_video"),
            utf8("image_src"),
            utf8("save_location"),
            utf8("category"),
        ],
        Table::Geo => vec![
            Field::new("ind", DataType::Int64, false),
            utf8("country"),
            Field::new(
                "coordinates",
                DataType::List(Arc::new(Field::new("element", DataType::Float64, true))),
                true,
            ),
            Field::new("timestamp", timestamp_type(), true),
        ],
        Table::User => vec![
            Field::new("ind", DataType::Int64, false),
            utf8("user_name"),
            Field::new("age", DataType::Int64, true),
            Field::new("date_joined", timestamp_type(), true),
        ],
    };
    Arc::new(Schema::new(fields))
}

/// A record's field as text: strings as they are, numbers and booleans as written, anything
/// else (missing, null, objects, arrays) as null.
fn text(record: &Value, field: &str) -> Option<String> {
    match record.get(field)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The raw batch's schema: one nullable text column per raw field, in `raw_columns` order.
pub fn raw_schema(table: Table) -> SchemaRef {
    let fields: Vec<Field> = raw_columns(table)
        .iter()
        .map(|c| Field::new(*c, DataType::Utf8, true))
        .collect();
    Arc::new(Schema::new(fields))
}

/// The raw batch (schema [`raw_schema`]). Records that are not JSON objects give all-null rows.
pub fn raw_batch(table: Table, records: &[Value]) -> RecordBatch {
    let columns = raw_columns(table);
    let arrays: Vec<ArrayRef> = columns
        .iter()
        .map(|c| {
            let mut b = StringBuilder::with_capacity(records.len(), records.len() * 16);
            for r in records {
                b.append_option(text(r, c));
            }
            Arc::new(b.finish()) as ArrayRef
        })
        .collect();
    RecordBatch::try_new(raw_schema(table), arrays).expect("raw columns line up")
}

/// `124k` → 124,000; `1.5k` → 1,500; `2M` → 2,000,000; digits as they are; anything else null
/// (spec §4.2 and its edge rules: values as sent, so ` 124k`, `12K`, `2m` and `1.5` are null).
pub fn follower_count(s: &str) -> Option<i64> {
    let (number, factor) = match s.as_bytes().last()? {
        b'k' => (&s[..s.len() - 1], 1_000.0),
        b'M' => (&s[..s.len() - 1], 1_000_000.0),
        _ => (s, 1.0),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if factor == 1.0 {
        return digits(number).then(|| number.parse::<i64>().ok()).flatten();
    }
    // A decimal n: digits, or digits, one point, digits.
    let decimal = match number.split_once('.') {
        Some((whole, fraction)) => digits(whole) && digits(fraction),
        None => digits(number),
    };
    if !decimal {
        return None;
    }
    let n: f64 = number.parse().ok()?;
    let v = (n * factor).round();
    (v.is_finite() && v <= i64::MAX as f64).then_some(v as i64)
}

/// An integer key or count: `12`, or a JSON number with no fraction (`12.0`); anything else
/// null, surrounding spaces included (spec §4, edge rules: values as sent).
fn integer(s: &str) -> Option<i64> {
    if s.starts_with(|c: char| c.is_whitespace()) || s.ends_with(|c: char| c.is_whitespace()) {
        return None;
    }
    s.parse::<i64>().ok().or_else(|| {
        let f: f64 = s.parse().ok()?;
        (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
    })
}

/// A datetime exactly `YYYY-MM-DDTHH:MM:SS` or `YYYY-MM-DD HH:MM:SS`, every field zero-padded
/// (spec §4, edge rules: `2020-8-28 3:52:47` and ` 2019-05-05T00:00:00` are null), as
/// microseconds since the epoch (UTC, no zone shift).
fn micros(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let shape = b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T' || *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        });
    if !shape {
        return None;
    }
    Some(parse_datetime(s)?.and_utc().timestamp_micros())
}

/// A latitude or longitude: a finite number as sent (no spaces, no `NaN`).
fn coordinate(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

fn column<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> Option<&'a deltalake::arrow::array::StringArray> {
    batch
        .column_by_name(name)?
        .as_any()
        .downcast_ref::<deltalake::arrow::array::StringArray>()
}

/// A raw batch's text column, looked up by name once (not once a cell): every row null when
/// the batch has no such column.
#[derive(Clone, Copy)]
struct Text<'a>(Option<&'a deltalake::arrow::array::StringArray>);

impl<'a> Text<'a> {
    fn of(batch: &'a RecordBatch, name: &str) -> Text<'a> {
        Text(column(batch, name))
    }

    /// Row `i`'s text, if not null.
    fn get(self, i: usize) -> Option<&'a str> {
        self.0.filter(|c| !c.is_null(i)).map(|c| c.value(i))
    }
}

fn is_placeholder(column: &str, value: &str) -> bool {
    value.is_empty()
        || PLACEHOLDERS
            .iter()
            .any(|(c, p)| *c == column && *p == value)
}

/// Cleans a raw batch of `table` (spec §4). Rows without a usable key are dropped: a row is
/// identified by `ind`, and one without it could never be updated again.
pub fn clean(table: Table, raw: &RecordBatch) -> RecordBatch {
    let n = raw.num_rows();
    let key_column = table.key_column();
    let key = Text::of(raw, key_column);
    let keep: Vec<usize> = (0..n)
        .filter(|i| key.get(*i).and_then(integer).is_some())
        .collect();
    let mut ind = Int64Builder::with_capacity(keep.len());
    for i in &keep {
        ind.append_value(key.get(*i).and_then(integer).expect("kept rows have keys"));
    }
    let text_col = |name: &str| -> ArrayRef {
        let column = Text::of(raw, name);
        let mut b = StringBuilder::new();
        for i in &keep {
            b.append_option(column.get(*i).filter(|v| !is_placeholder(name, v)));
        }
        Arc::new(b.finish())
    };
    let columns: Vec<ArrayRef> = match table {
        Table::Pin => {
            let mut followers = Int64Builder::with_capacity(keep.len());
            let mut save = StringBuilder::new();
            let (raw_followers, raw_save) = (
                Text::of(raw, "follower_count"),
                Text::of(raw, "save_location"),
            );
            for i in &keep {
                followers.append_option(
                    raw_followers
                        .get(*i)
                        .filter(|v| !is_placeholder("follower_count", v))
                        .and_then(follower_count),
                );
                save.append_option(
                    raw_save
                        .get(*i)
                        .filter(|v| !v.is_empty())
                        .map(|v| v.strip_prefix("Local save in ").unwrap_or(v)),
                );
            }
            vec![
                Arc::new(ind.finish()),
                text_col("unique_id"),
                text_col("title"),
                text_col("description"),
                Arc::new(followers.finish()),
                text_col("poster_name"),
                text_col("tag_list"),
                text_col("is_image_or_video"),
                text_col("image_src"),
                Arc::new(save.finish()),
                text_col("category"),
            ]
        }
        Table::Geo => {
            let mut coordinates = ListBuilder::new(Float64Builder::new())
                .with_field(Arc::new(Field::new("element", DataType::Float64, true)));
            let mut ts = TimestampMicrosecondBuilder::new().with_timezone("UTC");
            let (lat, lon, raw_ts) = (
                Text::of(raw, "latitude"),
                Text::of(raw, "longitude"),
                Text::of(raw, "timestamp"),
            );
            for i in &keep {
                let number = |c: Text| c.get(*i).and_then(coordinate);
                // Null unless both are numbers (spec §4, edge rules).
                match (number(lat), number(lon)) {
                    (Some(lat), Some(lon)) => {
                        coordinates.values().append_value(lat);
                        coordinates.values().append_value(lon);
                        coordinates.append(true);
                    }
                    _ => coordinates.append_null(),
                }
                ts.append_option(raw_ts.get(*i).and_then(micros));
            }
            vec![
                Arc::new(ind.finish()),
                text_col("country"),
                Arc::new(coordinates.finish()),
                Arc::new(ts.finish()),
            ]
        }
        Table::User => {
            let mut name = StringBuilder::new();
            let mut age = Int64Builder::new();
            let mut joined = TimestampMicrosecondBuilder::new().with_timezone("UTC");
            let (raw_first, raw_last, raw_age, raw_joined) = (
                Text::of(raw, "first_name"),
                Text::of(raw, "last_name"),
                Text::of(raw, "age"),
                Text::of(raw, "date_joined"),
            );
            for i in &keep {
                let first = raw_first.get(*i).filter(|v| !v.is_empty());
                let last = raw_last.get(*i).filter(|v| !v.is_empty());
                name.append_option(match (first, last) {
                    (Some(f), Some(l)) => Some(format!("{f} {l}")),
                    _ => None,
                });
                age.append_option(raw_age.get(*i).and_then(integer));
                joined.append_option(raw_joined.get(*i).and_then(micros));
            }
            vec![
                Arc::new(ind.finish()),
                Arc::new(name.finish()),
                Arc::new(age.finish()),
                Arc::new(joined.finish()),
            ]
        }
    };
    RecordBatch::try_new(schema(table), columns).expect("cleaned columns match the schema")
}

/// Keeps the last row of each `ind` (a record seen twice leaves one row), in first-seen order.
pub fn dedupe_by_ind(batch: &RecordBatch) -> RecordBatch {
    use deltalake::arrow::array::{Array, Int64Array, UInt32Array};
    let ind = batch
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .expect("ind is the first column");
    let mut last = std::collections::HashMap::with_capacity(ind.len());
    for i in 0..ind.len() {
        last.insert(ind.value(i), i as u32);
    }
    if last.len() == ind.len() {
        return batch.clone();
    }
    let mut rows: Vec<u32> = last.into_values().collect();
    rows.sort_unstable();
    let take = UInt32Array::from(rows);
    let columns = batch
        .columns()
        .iter()
        .map(|c| deltalake::arrow::compute::take(c.as_ref(), &take, None).expect("take"))
        .collect();
    RecordBatch::try_new(batch.schema(), columns).expect("same schema")
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{Int64Array, ListArray, StringArray, TimestampMicrosecondArray};
    use serde_json::json;

    fn strings(b: &RecordBatch, c: &str) -> Vec<Option<String>> {
        let a = b
            .column_by_name(c)
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        (0..a.len())
            .map(|i| (!a.is_null(i)).then(|| a.value(i).to_string()))
            .collect()
    }

    fn ints(b: &RecordBatch, c: &str) -> Vec<Option<i64>> {
        let a = b
            .column_by_name(c)
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        (0..a.len())
            .map(|i| (!a.is_null(i)).then(|| a.value(i)))
            .collect()
    }

    fn times(b: &RecordBatch, c: &str) -> Vec<Option<i64>> {
        let a = b
            .column_by_name(c)
            .unwrap()
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        (0..a.len())
            .map(|i| (!a.is_null(i)).then(|| a.value(i)))
            .collect()
    }

    fn pins(records: Vec<Value>) -> RecordBatch {
        clean(Table::Pin, &raw_batch(Table::Pin, &records))
    }

    #[test]
    fn follower_counts() {
        assert_eq!(follower_count("124k"), Some(124_000));
        assert_eq!(follower_count("1.5k"), Some(1_500));
        assert_eq!(follower_count("2M"), Some(2_000_000));
        assert_eq!(follower_count("15M"), Some(15_000_000));
        assert_eq!(follower_count("987"), Some(987));
        assert_eq!(follower_count("0"), Some(0));
        for junk in [
            "User Info Error",
            "",
            "k",
            "M",
            "12x",
            "-5",
            "1,000",
            "1e3",
            "..k",
            "NaN",
        ] {
            assert_eq!(follower_count(junk), None, "{junk}");
        }
    }

    #[test]
    fn pin_rules_and_column_order() {
        let b = pins(vec![
            json!({"index": 7, "unique_id": "u", "title": "No Title Data Available",
                "description": "No description available Story format", "poster_name": "User Info Error",
                "follower_count": "User Info Error", "tag_list": "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e",
                "is_image_or_video": "multi-video(story page format)", "image_src": "Image src error.",
                "downloaded": 0, "save_location": "Local save in /data/art", "category": "art"}),
            json!({"index": 8, "unique_id": "v", "title": "", "description": "No description available",
                "poster_name": "Jo", "follower_count": "3k", "tag_list": "a,b", "is_image_or_video": "image",
                "image_src": "https://x/y.jpg", "downloaded": 1, "save_location": "", "category": "travel",
                "extra": "ignored"}),
        ]);
        let names: Vec<String> = b
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(
            names,
            [
                "ind",
                "unique_id",
                "title",
                "description",
                "follower_count",
                "poster_name",
                "tag_list",
                "is_image_or_video",
                "image_src",
                "save_location",
                "category"
            ]
        );
        assert_eq!(ints(&b, "ind"), [Some(7), Some(8)]);
        assert_eq!(strings(&b, "title"), [None, None]);
        assert_eq!(strings(&b, "description"), [None, None]);
        assert_eq!(strings(&b, "poster_name"), [None, Some("Jo".into())]);
        assert_eq!(ints(&b, "follower_count"), [None, Some(3000)]);
        assert_eq!(strings(&b, "tag_list"), [None, Some("a,b".into())]);
        assert_eq!(
            strings(&b, "image_src"),
            [None, Some("https://x/y.jpg".into())]
        );
        assert_eq!(
            strings(&b, "save_location"),
            [Some("/data/art".into()), None]
        );
        assert!(b.column_by_name("downloaded").is_none());
    }

    #[test]
    fn geo_and_user_rules() {
        let g = clean(
            Table::Geo,
            &raw_batch(
                Table::Geo,
                &[
                    json!({"ind": 1, "timestamp": "2020-08-28T03:52:47", "latitude": -5.34, "longitude": 12.5, "country": "Aruba"}),
                    json!({"ind": 2, "timestamp": "2020-08-28 03:52:47", "latitude": "1", "longitude": "x", "country": ""}),
                    json!({"ind": 3, "timestamp": "28/08/2020", "country": "Chad"}),
                ],
            ),
        );
        let names: Vec<String> = g
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["ind", "country", "coordinates", "timestamp"]);
        let at = chrono::NaiveDate::from_ymd_opt(2020, 8, 28)
            .unwrap()
            .and_hms_opt(3, 52, 47)
            .unwrap()
            .and_utc()
            .timestamp_micros();
        assert_eq!(times(&g, "timestamp"), [Some(at), Some(at), None]);
        assert_eq!(
            strings(&g, "country"),
            [Some("Aruba".into()), None, Some("Chad".into())]
        );
        let coords = g
            .column_by_name("coordinates")
            .unwrap()
            .as_any()
            .downcast_ref::<ListArray>()
            .unwrap();
        let first = coords.value(0);
        let first = first
            .as_any()
            .downcast_ref::<deltalake::arrow::array::Float64Array>()
            .unwrap();
        assert_eq!((first.value(0), first.value(1)), (-5.34, 12.5));
        assert!(coords.is_null(2));

        let u = clean(
            Table::User,
            &raw_batch(
                Table::User,
                &[
                    json!({"ind": 1, "first_name": "Ada", "last_name": "Lovelace", "age": 36, "date_joined": "2016-01-02T03:04:05"}),
                    json!({"ind": 2, "first_name": "Ada", "age": "old", "date_joined": "never"}),
                ],
            ),
        );
        let names: Vec<String> = u
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["ind", "user_name", "age", "date_joined"]);
        assert_eq!(
            strings(&u, "user_name"),
            [Some("Ada Lovelace".into()), None]
        );
        assert_eq!(ints(&u, "age"), [Some(36), None]);
        assert_eq!(times(&u, "date_joined")[1], None);
    }

    #[test]
    fn malformed_records_become_nulls_or_are_dropped_never_a_panic() {
        let junk = vec![
            json!(null),
            json!(3),
            json!("text"),
            json!([1, 2]),
            json!({}),
            json!({"index": "not a number"}),
            json!({"index": {"nested": 1}}),
            json!({"index": 1.0, "follower_count": 5, "title": ["a"], "category": true}),
            json!({"index": "12", "follower_count": {"k": 1}}),
        ];
        for t in Table::ALL {
            let b = clean(t, &raw_batch(t, &junk));
            assert_eq!(b.schema(), schema(t));
        }
        let b = pins(junk);
        assert_eq!(
            ints(&b, "ind"),
            [Some(1), Some(12)],
            "rows without a usable key are dropped"
        );
        assert_eq!(ints(&b, "follower_count"), [Some(5), None]);
        assert_eq!(strings(&b, "title"), [None, None]);
        assert_eq!(strings(&b, "category"), [Some("true".into()), None]);
    }

    /// Spec §4's edge rules, one by one.
    #[test]
    fn values_are_used_as_sent() {
        for junk in [" 124k", "124k ", "12K", "2m", "1.5", "1.5.2k", ".5k", "5.k"] {
            assert_eq!(follower_count(junk), None, "{junk:?}");
        }
        assert_eq!(integer(" 12"), None);
        assert_eq!(integer("12 "), None);
        assert_eq!(integer("12"), Some(12));
        let b = pins(vec![
            json!({"index": 1, "title": " spaced ", "category": "Art", "follower_count": " 124k"}),
            json!({"index": " 2", "title": "x"}),
        ]);
        assert_eq!(ints(&b, "ind"), [Some(1)], "a key with spaces is no key");
        assert_eq!(
            strings(&b, "title"),
            [Some(" spaced ".into())],
            "not trimmed"
        );
        assert_eq!(strings(&b, "category"), [Some("Art".into())], "not folded");
        assert_eq!(ints(&b, "follower_count"), [None]);
    }

    #[test]
    fn a_placeholder_matches_only_exactly() {
        let b = pins(vec![
            json!({"index": 1, "image_src": "Image src error"}),
            json!({"index": 2, "image_src": "Image src error."}),
            json!({"index": 3, "title": "no title data available"}),
            json!({"index": 4, "title": "No Title Data Available "}),
        ]);
        assert_eq!(
            strings(&b, "image_src"),
            [Some("Image src error".into()), None, None, None]
        );
        assert_eq!(
            strings(&b, "title"),
            [
                None,
                None,
                Some("no title data available".into()),
                Some("No Title Data Available ".into())
            ]
        );
    }

    #[test]
    fn datetimes_are_exact_and_zero_padded() {
        let at = |s: &str| micros(s);
        assert!(at("2020-08-28T03:52:47").is_some());
        assert!(at("2020-08-28 03:52:47").is_some());
        for junk in [
            "2020-8-28 3:52:47",
            "2020-08-28 3:52:47",
            " 2019-05-05T00:00:00",
            "2019-05-05T00:00:00 ",
            "2019-05-05t00:00:00",
            "2019-05-05T00:00:00Z",
            "2019-05-05T00:00",
            "2019-13-05T00:00:00",
            "2019-02-30T00:00:00",
            "+019-05-05T00:00:00",
        ] {
            assert_eq!(at(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn coordinates_need_both_numbers() {
        let g = clean(
            Table::Geo,
            &raw_batch(
                Table::Geo,
                &[
                    json!({"ind": 1, "latitude": 1.5, "longitude": -2}),
                    json!({"ind": 2, "latitude": 1.5}),
                    json!({"ind": 3, "latitude": "x", "longitude": 3}),
                    json!({"ind": 4, "latitude": " 1", "longitude": "2"}),
                    json!({"ind": 5, "latitude": "NaN", "longitude": "2"}),
                ],
            ),
        );
        let coords = g
            .column_by_name("coordinates")
            .unwrap()
            .as_any()
            .downcast_ref::<ListArray>()
            .unwrap();
        let nulls: Vec<bool> = (0..coords.len()).map(|i| coords.is_null(i)).collect();
        assert_eq!(nulls, [false, true, true, true, true]);
    }

    #[test]
    fn user_name_needs_both_names() {
        let u = clean(
            Table::User,
            &raw_batch(
                Table::User,
                &[
                    json!({"ind": 1, "first_name": "Ada", "last_name": ""}),
                    json!({"ind": 2, "last_name": "Lovelace"}),
                    json!({"ind": 3, "first_name": " Ada", "last_name": "Lovelace"}),
                ],
            ),
        );
        assert_eq!(
            strings(&u, "user_name"),
            [None, None, Some(" Ada Lovelace".into())]
        );
    }

    #[test]
    fn one_row_per_ind_the_last_one_wins() {
        let b = pins(vec![
            json!({"index": 1, "title": "first"}),
            json!({"index": 2, "title": "other"}),
            json!({"index": 1, "title": "again"}),
        ]);
        let d = dedupe_by_ind(&b);
        assert_eq!(ints(&d, "ind"), [Some(2), Some(1)]);
        assert_eq!(
            strings(&d, "title"),
            [Some("other".into()), Some("again".into())]
        );
    }
}
