//! One post event's three rows, as the source tables hold them and as they travel (spec §1-2).

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize, Serializer};

/// The table names of the original `pinterest_data` database.
pub const PIN_TABLE: &str = "pinterest_data";
pub const GEO_TABLE: &str = "geolocation_data";
pub const USER_TABLE: &str = "user_data";

/// How datetimes travel: ISO 8601 without a zone, `2020-08-28T03:52:47`.
pub const WIRE_DATETIME: &str = "%Y-%m-%dT%H:%M:%S";
/// How datetimes are stored in SQL text columns (SQLite) and read back.
pub const SQL_DATETIME: &str = "%Y-%m-%d %H:%M:%S";

fn wire_datetime<S: Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&t.format(WIRE_DATETIME))
}

/// A row of `pinterest_data`, fields in the table's column order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Pin {
    #[sqlx(rename = "index")]
    pub index: i64,
    pub unique_id: String,
    pub title: String,
    pub description: String,
    pub poster_name: String,
    pub follower_count: String,
    pub tag_list: String,
    pub is_image_or_video: String,
    pub image_src: String,
    pub downloaded: i64,
    pub save_location: String,
    pub category: String,
}

/// A row of `geolocation_data`.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Geo {
    pub ind: i64,
    #[serde(serialize_with = "wire_datetime")]
    pub timestamp: NaiveDateTime,
    pub latitude: f64,
    pub longitude: f64,
    pub country: String,
}

/// A row of `user_data`.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct User {
    pub ind: i64,
    pub first_name: String,
    pub last_name: String,
    pub age: i64,
    #[serde(serialize_with = "wire_datetime")]
    pub date_joined: NaiveDateTime,
}

/// The triple sent for key N: pin, then geo, then user.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub pin: Pin,
    pub geo: Geo,
    pub user: User,
}

impl Event {
    pub fn key(&self) -> i64 {
        self.pin.index
    }
}

/// The three kinds of record, in the order the emulator sends them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    Pin,
    Geo,
    User,
}

impl Table {
    pub const ALL: [Table; 3] = [Table::Pin, Table::Geo, Table::User];

    /// The suffix of the topic (`<uid>.pin`) and stream (`streaming-<uid>-pin`).
    pub fn suffix(self) -> &'static str {
        match self {
            Table::Pin => "pin",
            Table::Geo => "geo",
            Table::User => "user",
        }
    }

    pub fn sql_name(self) -> &'static str {
        match self {
            Table::Pin => PIN_TABLE,
            Table::Geo => GEO_TABLE,
            Table::User => USER_TABLE,
        }
    }

    /// The key column: `index` in `pinterest_data`, `ind` elsewhere.
    pub fn key_column(self) -> &'static str {
        match self {
            Table::Pin => "index",
            _ => "ind",
        }
    }
}

impl Event {
    /// The row of `table` as the JSON object that travels (columns in table order).
    pub fn row_json(&self, table: Table) -> serde_json::Value {
        let v = match table {
            Table::Pin => serde_json::to_value(&self.pin),
            Table::Geo => serde_json::to_value(&self.geo),
            Table::User => serde_json::to_value(&self.user),
        };
        v.expect("records serialize to JSON")
    }
}
