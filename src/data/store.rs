//! Where the three source tables live: an SQLite file (the embedded default), a MySQL/MariaDB
//! database (what the original pipeline read), or JSON-lines files. The generator writes them;
//! the posting emulator reads row N of each.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono::NaiveDateTime;
use serde::Deserialize;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use super::record::{Event, Geo, Pin, Table, User, SQL_DATETIME, WIRE_DATETIME};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot tell what kind of store `{0}` is: use sqlite://FILE (or a .db/.sqlite file), mysql://USER:PASSWORD@HOST:PORT/DB, or jsonl://DIR")]
    UnknownKind(String),
    #[error("{location}: {source}")]
    Sql {
        location: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{location}: table `{table}` already holds rows; pass --force to replace the tables")]
    NotEmpty {
        location: String,
        table: &'static str,
    },
    #[error("{location}: table `{table}` has no row with key {key}")]
    MissingRow {
        location: String,
        table: &'static str,
        key: i64,
    },
    #[error("{path}:{line}: {message}")]
    BadLine {
        path: PathBuf,
        line: u64,
        message: String,
    },
}

/// A store's address, parsed from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    MySql(String),
    Jsonl(PathBuf),
}

impl FromStr for Location {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        if s.starts_with("mysql://") || s.starts_with("mariadb://") {
            return Ok(Location::MySql(s.replacen("mariadb://", "mysql://", 1)));
        }
        if let Some(p) = s
            .strip_prefix("sqlite://")
            .or_else(|| s.strip_prefix("sqlite:"))
        {
            return Ok(Location::Sqlite(PathBuf::from(p)));
        }
        if let Some(p) = s
            .strip_prefix("jsonl://")
            .or_else(|| s.strip_prefix("jsonl:"))
        {
            return Ok(Location::Jsonl(PathBuf::from(p)));
        }
        let path = Path::new(s);
        match path.extension().and_then(|e| e.to_str()) {
            Some("db" | "sqlite" | "sqlite3") => Ok(Location::Sqlite(path.to_path_buf())),
            _ if path.is_dir() => Ok(Location::Jsonl(path.to_path_buf())),
            _ => Err(StoreError::UnknownKind(s.to_string())),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(p) => write!(f, "sqlite://{}", p.display()),
            // The URL may hold a password: show the host and database only.
            Location::MySql(url) => {
                let host = url.rsplit('@').next().unwrap_or(url);
                write!(f, "mysql://{}", host.trim_start_matches("mysql://"))
            }
            Location::Jsonl(p) => write!(f, "jsonl://{}", p.display()),
        }
    }
}

/// The tables' definitions; the same text works in MySQL and SQLite (which reads the types as
/// affinities and stores datetimes as `YYYY-MM-DD HH:MM:SS` text).
const DDL: [(Table, &str); 3] = [
    (
        Table::Pin,
        "CREATE TABLE pinterest_data (`index` INT NOT NULL PRIMARY KEY, unique_id VARCHAR(36), \
         title TEXT, description TEXT, poster_name TEXT, follower_count TEXT, tag_list TEXT, \
         is_image_or_video TEXT, image_src TEXT, downloaded INT, save_location TEXT, category TEXT)",
    ),
    (
        Table::Geo,
        "CREATE TABLE geolocation_data (ind INT NOT NULL PRIMARY KEY, timestamp DATETIME, \
         latitude DOUBLE, longitude DOUBLE, country TEXT)",
    ),
    (
        Table::User,
        "CREATE TABLE user_data (ind INT NOT NULL PRIMARY KEY, first_name TEXT, last_name TEXT, \
         age INT, date_joined DATETIME)",
    ),
];

fn jsonl_path(dir: &Path, table: Table) -> PathBuf {
    dir.join(format!("{}.jsonl", table.sql_name()))
}

/// Writes events in key order, a chunk at a time.
pub enum Writer {
    Sqlite(SqlitePool, String),
    MySql(MySqlPool, String),
    Jsonl([(PathBuf, BufWriter<File>); 3]),
}

macro_rules! sql_create {
    ($pool:expr, $location:expr, $force:expr, $suffix:expr) => {{
        let sql = |e| StoreError::Sql {
            location: $location.clone(),
            source: e,
        };
        for (table, ddl) in DDL {
            let name = table.sql_name();
            let exists = sqlx::query(&format!("SELECT 1 FROM {name} LIMIT 1"))
                .fetch_optional($pool)
                .await;
            match exists {
                Ok(Some(_)) if !$force => {
                    return Err(StoreError::NotEmpty {
                        location: $location.clone(),
                        table: name,
                    })
                }
                Ok(_) => {
                    sqlx::query(&format!("DROP TABLE {name}"))
                        .execute($pool)
                        .await
                        .map_err(sql)?;
                }
                Err(_) => {}
            }
            sqlx::query(&format!("{ddl}{}", $suffix))
                .execute($pool)
                .await
                .map_err(sql)?;
        }
    }};
}

macro_rules! sql_insert {
    ($pool:expr, $location:expr, $events:expr) => {{
        let sql = |e| StoreError::Sql {
            location: $location.clone(),
            source: e,
        };
        let mut tx = $pool.begin().await.map_err(sql)?;
        for chunk in $events.chunks(1000) {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO pinterest_data (`index`, unique_id, title, description, poster_name, \
                 follower_count, tag_list, is_image_or_video, image_src, downloaded, save_location, category) ",
            );
            q.push_values(chunk, |mut b, e| {
                let p = &e.pin;
                b.push_bind(p.index)
                    .push_bind(&p.unique_id)
                    .push_bind(&p.title)
                    .push_bind(&p.description)
                    .push_bind(&p.poster_name)
                    .push_bind(&p.follower_count)
                    .push_bind(&p.tag_list)
                    .push_bind(&p.is_image_or_video)
                    .push_bind(&p.image_src)
                    .push_bind(p.downloaded)
                    .push_bind(&p.save_location)
                    .push_bind(&p.category);
            });
            q.build().execute(&mut *tx).await.map_err(sql)?;
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO geolocation_data (ind, timestamp, latitude, longitude, country) ",
            );
            q.push_values(chunk, |mut b, e| {
                let g = &e.geo;
                b.push_bind(g.ind)
                    .push_bind(g.timestamp.format(SQL_DATETIME).to_string())
                    .push_bind(g.latitude)
                    .push_bind(g.longitude)
                    .push_bind(&g.country);
            });
            q.build().execute(&mut *tx).await.map_err(sql)?;
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO user_data (ind, first_name, last_name, age, date_joined) ",
            );
            q.push_values(chunk, |mut b, e| {
                let u = &e.user;
                b.push_bind(u.ind)
                    .push_bind(&u.first_name)
                    .push_bind(&u.last_name)
                    .push_bind(u.age)
                    .push_bind(u.date_joined.format(SQL_DATETIME).to_string());
            });
            q.build().execute(&mut *tx).await.map_err(sql)?;
        }
        tx.commit().await.map_err(sql)?;
    }};
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Writer {
    /// Opens the store and creates empty tables; existing rows are replaced only with `force`.
    pub async fn create(location: &Location, force: bool) -> Result<Writer, StoreError> {
        let name = location.to_string();
        match location {
            Location::Sqlite(path) => {
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
                let pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await
                    .map_err(|e| StoreError::Sql {
                        location: name.clone(),
                        source: e,
                    })?;
                sql_create!(&pool, name, force, "");
                Ok(Writer::Sqlite(pool, name))
            }
            Location::MySql(url) => {
                let pool = mysql_pool(url, &name).await?;
                sql_create!(&pool, name, force, " DEFAULT CHARSET=utf8mb4");
                Ok(Writer::MySql(pool, name))
            }
            Location::Jsonl(dir) => {
                std::fs::create_dir_all(dir).map_err(io(dir))?;
                let open = |table: Table| -> Result<(PathBuf, BufWriter<File>), StoreError> {
                    let path = jsonl_path(dir, table);
                    let exists = std::fs::metadata(&path)
                        .map(|m| m.len() > 0)
                        .unwrap_or(false);
                    if exists && !force {
                        return Err(StoreError::NotEmpty {
                            location: name.clone(),
                            table: table.sql_name(),
                        });
                    }
                    let f = File::create(&path).map_err(io(&path))?;
                    Ok((path, BufWriter::with_capacity(1 << 20, f)))
                };
                Ok(Writer::Jsonl([
                    open(Table::Pin)?,
                    open(Table::Geo)?,
                    open(Table::User)?,
                ]))
            }
        }
    }

    /// Appends events (in key order) in one transaction.
    pub async fn write(&mut self, events: &[Event]) -> Result<(), StoreError> {
        match self {
            Writer::Sqlite(pool, location) => sql_insert!(pool, location, events),
            Writer::MySql(pool, location) => sql_insert!(pool, location, events),
            Writer::Jsonl(files) => {
                fn line<T: serde::Serialize>(
                    (path, w): &mut (PathBuf, BufWriter<File>),
                    row: &T,
                ) -> Result<(), StoreError> {
                    serde_json::to_writer(&mut *w, row).map_err(|e| io(path)(e.into()))?;
                    w.write_all(b"\n").map_err(io(path))
                }
                let [pins, geos, users] = files;
                for e in events {
                    line(pins, &e.pin)?;
                    line(geos, &e.geo)?;
                    line(users, &e.user)?;
                }
            }
        }
        Ok(())
    }

    pub async fn finish(self) -> Result<(), StoreError> {
        match self {
            Writer::Sqlite(pool, _) => pool.close().await,
            Writer::MySql(pool, _) => pool.close().await,
            Writer::Jsonl(files) => {
                for (path, w) in files {
                    let f = w.into_inner().map_err(|e| io(&path)(e.into_error()))?;
                    f.sync_all().map_err(io(&path))?;
                }
            }
        }
        Ok(())
    }
}

async fn mysql_pool(url: &str, name: &str) -> Result<MySqlPool, StoreError> {
    let options = MySqlConnectOptions::from_str(url).map_err(|e| StoreError::Sql {
        location: name.to_string(),
        source: e,
    })?;
    MySqlPoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .map_err(|e| StoreError::Sql {
            location: name.to_string(),
            source: e,
        })
}

/// Reads events by key.
pub enum Reader {
    Sqlite(SqlitePool, String),
    MySql(MySqlPool, String),
    Jsonl(Box<[JsonlTable; 3]>),
}

/// One JSON-lines table with the byte offset of every line, so row N is one positioned read.
pub struct JsonlTable {
    path: PathBuf,
    file: File,
    starts: Vec<u64>,
}

impl JsonlTable {
    fn open(path: PathBuf) -> Result<JsonlTable, StoreError> {
        use std::io::BufRead;
        let file = File::open(&path).map_err(io(&path))?;
        let mut starts = vec![];
        let mut reader = std::io::BufReader::with_capacity(1 << 20, &file);
        let mut offset = 0u64;
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line).map_err(io(&path))?;
            if n == 0 {
                break;
            }
            starts.push(offset);
            offset += n as u64;
        }
        starts.push(offset);
        Ok(JsonlTable { path, file, starts })
    }

    fn rows(&self) -> u64 {
        self.starts.len() as u64 - 1
    }

    fn line<T: for<'de> Deserialize<'de>>(&self, key: i64) -> Result<Option<T>, StoreError> {
        let Some(i) = usize::try_from(key)
            .ok()
            .filter(|i| i + 1 < self.starts.len())
        else {
            return Ok(None);
        };
        let (start, end) = (self.starts[i], self.starts[i + 1]);
        let mut buf = vec![0u8; (end - start) as usize];
        self.file
            .read_exact_at(&mut buf, start)
            .map_err(io(&self.path))?;
        serde_json::from_slice(&buf)
            .map(Some)
            .map_err(|e| StoreError::BadLine {
                path: self.path.clone(),
                line: i as u64 + 1,
                message: e.to_string(),
            })
    }
}

/// Accepts `YYYY-MM-DDTHH:MM:SS` and `YYYY-MM-DD HH:MM:SS`.
pub fn parse_datetime(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s, WIRE_DATETIME)
        .or_else(|_| NaiveDateTime::parse_from_str(s, SQL_DATETIME))
        .ok()
}

#[derive(Deserialize)]
struct GeoLine {
    ind: i64,
    timestamp: String,
    latitude: f64,
    longitude: f64,
    country: String,
}

#[derive(Deserialize)]
struct UserLine {
    ind: i64,
    first_name: String,
    last_name: String,
    age: i64,
    date_joined: String,
}

macro_rules! sql_row {
    ($pool:expr, $location:expr, $ty:ty, $table:expr, $key:expr) => {{
        let table: Table = $table;
        let q = format!(
            "SELECT * FROM {} WHERE `{}` = ?",
            table.sql_name(),
            table.key_column()
        );
        sqlx::query_as::<_, $ty>(&q)
            .bind($key)
            .fetch_optional($pool)
            .await
            .map_err(|e| StoreError::Sql {
                location: $location.clone(),
                source: e,
            })?
            .ok_or_else(|| StoreError::MissingRow {
                location: $location.clone(),
                table: table.sql_name(),
                key: $key,
            })?
    }};
}

/// SQLite hands datetimes back as the text it stored.
#[derive(sqlx::FromRow)]
struct SqliteGeo {
    ind: i64,
    timestamp: String,
    latitude: f64,
    longitude: f64,
    country: String,
}

#[derive(sqlx::FromRow)]
struct SqliteUser {
    ind: i64,
    first_name: String,
    last_name: String,
    age: i64,
    date_joined: String,
}

fn bad_datetime(location: &str, table: &'static str, key: i64, text: &str) -> StoreError {
    StoreError::Sql {
        location: location.to_string(),
        source: sqlx::Error::Decode(format!("{table} key {key}: bad datetime `{text}`").into()),
    }
}

impl Reader {
    pub async fn open(location: &Location) -> Result<Reader, StoreError> {
        let name = location.to_string();
        match location {
            Location::Sqlite(path) => {
                if !path.exists() {
                    return Err(StoreError::Io {
                        path: path.clone(),
                        source: std::io::Error::new(
                            std::io::ErrorKind::NotFound,
                            "no such database (create one with `pinctl data generate`)",
                        ),
                    });
                }
                let options = SqliteConnectOptions::new().filename(path).read_only(true);
                let pool = SqlitePoolOptions::new()
                    .max_connections(4)
                    .connect_with(options)
                    .await
                    .map_err(|e| StoreError::Sql {
                        location: name.clone(),
                        source: e,
                    })?;
                Ok(Reader::Sqlite(pool, name))
            }
            Location::MySql(url) => Ok(Reader::MySql(mysql_pool(url, &name).await?, name)),
            Location::Jsonl(dir) => Ok(Reader::Jsonl(Box::new([
                JsonlTable::open(jsonl_path(dir, Table::Pin))?,
                JsonlTable::open(jsonl_path(dir, Table::Geo))?,
                JsonlTable::open(jsonl_path(dir, Table::User))?,
            ]))),
        }
    }

    /// How many rows the pin table holds.
    pub async fn rows(&self) -> Result<u64, StoreError> {
        let count = |location: &String| {
            let location = location.clone();
            move |e| StoreError::Sql {
                location,
                source: e,
            }
        };
        Ok(match self {
            Reader::Sqlite(pool, location) => {
                sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM pinterest_data")
                    .fetch_one(pool)
                    .await
                    .map_err(count(location))? as u64
            }
            Reader::MySql(pool, location) => {
                sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM pinterest_data")
                    .fetch_one(pool)
                    .await
                    .map_err(count(location))? as u64
            }
            Reader::Jsonl(tables) => tables[0].rows(),
        })
    }

    /// The event with key `key`: row `key` of each of the three tables.
    pub async fn event(&self, key: i64) -> Result<Event, StoreError> {
        match self {
            Reader::Sqlite(pool, location) => {
                let pin = sql_row!(pool, location, Pin, Table::Pin, key);
                let g = sql_row!(pool, location, SqliteGeo, Table::Geo, key);
                let u = sql_row!(pool, location, SqliteUser, Table::User, key);
                let geo = Geo {
                    ind: g.ind,
                    timestamp: parse_datetime(&g.timestamp).ok_or_else(|| {
                        bad_datetime(location, "geolocation_data", key, &g.timestamp)
                    })?,
                    latitude: g.latitude,
                    longitude: g.longitude,
                    country: g.country,
                };
                let user = User {
                    ind: u.ind,
                    first_name: u.first_name,
                    last_name: u.last_name,
                    age: u.age,
                    date_joined: parse_datetime(&u.date_joined)
                        .ok_or_else(|| bad_datetime(location, "user_data", key, &u.date_joined))?,
                };
                Ok(Event { pin, geo, user })
            }
            Reader::MySql(pool, location) => Ok(Event {
                pin: sql_row!(pool, location, Pin, Table::Pin, key),
                geo: sql_row!(pool, location, Geo, Table::Geo, key),
                user: sql_row!(pool, location, User, Table::User, key),
            }),
            Reader::Jsonl(tables) => {
                let missing = |t: Table| StoreError::MissingRow {
                    location: tables[0]
                        .path
                        .parent()
                        .unwrap_or(Path::new(""))
                        .display()
                        .to_string(),
                    table: t.sql_name(),
                    key,
                };
                let pin: Pin = tables[0].line(key)?.ok_or_else(|| missing(Table::Pin))?;
                let g: GeoLine = tables[1].line(key)?.ok_or_else(|| missing(Table::Geo))?;
                let u: UserLine = tables[2].line(key)?.ok_or_else(|| missing(Table::User))?;
                let bad = |t: &JsonlTable, text: &str| StoreError::BadLine {
                    path: t.path.clone(),
                    line: key as u64 + 1,
                    message: format!("bad datetime `{text}`"),
                };
                Ok(Event {
                    pin,
                    geo: Geo {
                        ind: g.ind,
                        timestamp: parse_datetime(&g.timestamp)
                            .ok_or_else(|| bad(&tables[1], &g.timestamp))?,
                        latitude: g.latitude,
                        longitude: g.longitude,
                        country: g.country,
                    },
                    user: User {
                        ind: u.ind,
                        first_name: u.first_name,
                        last_name: u.last_name,
                        age: u.age,
                        date_joined: parse_datetime(&u.date_joined)
                            .ok_or_else(|| bad(&tables[2], &u.date_joined))?,
                    },
                })
            }
        }
    }
}
