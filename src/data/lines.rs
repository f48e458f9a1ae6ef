//! JSON lines (the S3 sink's objects, spec §3) straight into the raw batch of
//! [`clean::raw_batch`](super::clean::raw_batch): one nullable text column per raw field, without
//! building a `serde_json::Value` per record. Decoding those Values (an IndexMap per record and
//! a String per field) was the batch job's largest cost (perf, 1 M events: 22 % in serde_json
//! and its map, 25 % in the allocator).
//!
//! The text of a field is what `raw_batch` takes from a Value: a string as it is, a number as
//! serde_json prints it, `true`/`false`, and null for null, objects, arrays and missing fields.
//! A key given twice takes its last value (as a Value's map does). A line that is JSON but not an
//! object is a record whose fields are all null; a line that is not JSON (trailing text
//! included, as `serde_json::from_slice` refuses it) is skipped and reported.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use deltalake::arrow::array::{ArrayRef, StringBuilder};
use deltalake::arrow::record_batch::RecordBatch;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::clean::{raw_columns, raw_schema};
use super::record::Table;

/// What one object's lines gave.
pub struct Lines {
    /// The raw batch: a row per record (JSON line), columns as `clean::raw_columns`.
    pub raw: RecordBatch,
    /// Lines that were not JSON: (line number from 1, the parser's message).
    pub malformed: Vec<(usize, String)>,
}

/// Decodes `body` (JSON lines; blank lines ignored) into the raw batch of `table`.
pub fn raw_batch_from_lines(table: Table, body: &[u8]) -> Lines {
    let columns = raw_columns(table);
    let mut builders: Vec<StringBuilder> = columns
        .iter()
        .map(|_| StringBuilder::with_capacity(1024, 1024 * 16))
        .collect();
    let mut malformed = vec![];
    let mut slots: Vec<Option<Cow<'_, str>>> = vec![None; columns.len()];
    for (n, line) in body.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        slots.iter_mut().for_each(|s| *s = None);
        let mut de = serde_json::Deserializer::from_slice(line);
        let read = Record {
            columns,
            slots: &mut slots,
        }
        .deserialize(&mut de)
        .and_then(|()| de.end());
        match read {
            Ok(()) => {
                for (b, s) in builders.iter_mut().zip(&slots) {
                    b.append_option(s.as_deref());
                }
            }
            Err(e) => malformed.push((n + 1, e.to_string())),
        }
    }
    let arrays: Vec<ArrayRef> = builders
        .iter_mut()
        .map(|b| Arc::new(b.finish()) as ArrayRef)
        .collect();
    Lines {
        raw: RecordBatch::try_new(raw_schema(table), arrays).expect("raw columns line up"),
        malformed,
    }
}

/// One line: fills `slots` (by raw column) from an object's fields.
struct Record<'s, 'de> {
    columns: &'static [&'static str],
    slots: &'s mut [Option<Cow<'de, str>>],
}

impl<'de> DeserializeSeed<'de> for Record<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Record<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(Str)? {
            match self.columns.iter().position(|c| *c == key) {
                Some(i) => self.slots[i] = map.next_value_seed(FieldText)?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
    // Any other JSON value: a record without fields.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// A key: borrowed from the line when it has no escapes.
struct Str;

impl<'de> DeserializeSeed<'de> for Str {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Str {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(s))
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s.to_string()))
    }
}

/// A field's value as the text `clean::raw_batch` takes from it.
struct FieldText;

impl<'de> DeserializeSeed<'de> for FieldText {
    type Value = Option<Cow<'de, str>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldText {
    type Value = Option<Cow<'de, str>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(s.to_string())))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        // Printed as a Value's number prints it.
        Ok(serde_json::Number::from_f64(v).map(|n| Cow::Owned(n.to_string())))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(if v { "true" } else { "false" })))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::clean::raw_batch;
    use serde_json::Value;

    /// What the Value path gives for the same body.
    fn by_values(table: Table, body: &[u8]) -> (RecordBatch, usize) {
        let mut records = vec![];
        let mut malformed = 0;
        for line in body.split(|b| *b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Value>(line) {
                Ok(v) => records.push(v),
                Err(_) => malformed += 1,
            }
        }
        (raw_batch(table, &records), malformed)
    }

    fn same(table: Table, body: &str) {
        let lines = raw_batch_from_lines(table, body.as_bytes());
        let (expected, malformed) = by_values(table, body.as_bytes());
        assert_eq!(lines.raw, expected, "{body}");
        assert_eq!(lines.malformed.len(), malformed, "{body}");
    }

    #[test]
    fn lines_give_the_raw_batch_values_give() {
        same(
            Table::User,
            concat!(
                r#"{"ind": 7, "first_name": "Ann", "last_name": "O\u2019Neil", "age": 30.0, "date_joined": "2016-01-01 00:00:00"}"#,
                "\n",
                r#"{"ind": "8", "first_name": null, "age": 1e7, "extra": {"a": [1, {"b": 2}]}, "last_name": ["x"]}"#,
                "\r\n\n   \n",
                r#"{"ind": 9, "ind": 10, "age": true, "first_name": "dup", "first_name": null}"#,
                "\n",
                "[1, 2, 3]\n\"just text\"\n42\nnull\n",
                "{not json\n",
                r#"{"ind": 11} trailing"#,
                "\n",
                r#"{"ind": 18446744073709551616, "age": -0.0, "last_name": "tab\tand \"quotes\""}"#,
                "\n",
                r#"{"ind": -3, "age": 12345678901234567890, "first_name": "ünïcode 😀"}"#,
            ),
        );
        same(
            Table::Pin,
            r#"{"index": 1, "follower_count": "1.5k", "downloaded": 1, "title": "No Title Data Available"}"#,
        );
        same(Table::Geo, "");
    }

    #[test]
    fn generated_records_decode_as_values_do() {
        use proptest::prelude::*;
        let value = prop_oneof![
            Just("null".to_string()),
            any::<bool>().prop_map(|b| b.to_string()),
            any::<i64>().prop_map(|i| i.to_string()),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| serde_json::to_string(&f).unwrap()),
            ".{0,12}".prop_map(|s| serde_json::to_string(&s).unwrap()),
            Just("[1, \"a\"]".to_string()),
            Just("{\"k\": 1}".to_string()),
        ];
        let key = prop_oneof![
            Just("ind"),
            Just("first_name"),
            Just("last_name"),
            Just("age"),
            Just("date_joined"),
            Just("other"),
        ];
        let record = prop::collection::vec((key, value), 0..8).prop_map(|fields| {
            let body: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("\"{k}\": {v}"))
                .collect();
            format!("{{{}}}", body.join(", "))
        });
        let body = prop::collection::vec(record, 1..6).prop_map(|r| r.join("\n"));
        proptest!(|(body in body)| {
            same(Table::User, &body);
        });
    }
}
