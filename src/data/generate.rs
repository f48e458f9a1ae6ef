//! The deterministic generator of the three source tables (spec §1): shapes, value formats,
//! placeholder rates, category blocks, repeated users and distributions, for any row count.
//!
//! Rows are produced in key order from one seeded stream, so a seed always gives the same tables;
//! a user's attributes come from a stream of their own, so users repeat across keys without the
//! generator remembering them (memory does not grow with the row count).

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::record::{Event, Geo, Pin, User};
use super::vocabulary::{
    CATEGORIES, CATEGORY_WORDS, COMMON_WORDS, COUNTRIES, FIRST_NAMES, LAST_NAMES, POSTER_SUFFIXES,
};

pub const DEFAULT_ROWS: u64 = 11_153;
pub const DEFAULT_SEED: u64 = 100;

pub const NO_TITLE: &str = "No Title Data Available";
pub const NO_DESCRIPTION: &str = "No description available";
pub const NO_DESCRIPTION_STORY: &str = "No description available Story format";
pub const USER_INFO_ERROR: &str = "User Info Error";
pub const NO_TAGS: &str = "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e";
pub const IMAGE_SRC_ERROR: &str = "Image src error.";
pub const STORY: &str = "multi-video(story page format)";

/// Users repeat within a stretch of keys: each block of 2,000 keys draws uniformly from its own
/// pool of 2,620 users, which gives ~1,400 distinct users per 2,000 keys (spec §1) at any size.
const USER_BLOCK_KEYS: u64 = 2_000;
const USER_POOL_PER_BLOCK: u64 = 2_620;

/// Share of story rows that are broken (downloaded = 0): 2.4 % of all rows out of 7 %.
const BROKEN_PER_STORY: f64 = 0.024 / 0.07;
/// Share of broken story rows that are fully broken: 0.7 % of all rows out of 2.4 %.
const FULLY_BROKEN_PER_BROKEN: f64 = 0.7 / 2.4;

fn datetime(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, m, d)
        .and_then(|d| d.and_hms_opt(h, mi, s))
        .expect("a valid constant date")
}

/// Generates the events of keys 0, 1, 2, ... in order.
pub struct Generator {
    seed: u64,
    rows: u64,
    next_key: u64,
    rng: ChaCha8Rng,
    country_cdf: Vec<f64>,
}

impl Generator {
    pub fn new(seed: u64, rows: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(0);
        // Zipf-like weights over Faker's order: the start of the alphabet dominates.
        let weights: Vec<f64> = (0..COUNTRIES.len())
            .map(|i| 1.0 / ((i + 1) as f64).powf(1.1))
            .collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let country_cdf = weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect();
        Generator {
            seed,
            rows,
            next_key: 0,
            rng,
            country_cdf,
        }
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    fn category_of(&self, key: u64) -> usize {
        ((key as u128 * CATEGORIES.len() as u128) / self.rows.max(1) as u128) as usize
    }

    /// The user behind a key: their own seeded stream gives the same person every time.
    fn user_stream(&self, user: u64) -> ChaCha8Rng {
        let mut r = ChaCha8Rng::seed_from_u64(self.seed);
        r.set_stream(user + 1);
        r
    }

    fn pick_country(&self, r: &mut impl Rng) -> &'static str {
        let x: f64 = r.random();
        let i = self.country_cdf.partition_point(|c| *c < x);
        COUNTRIES[i.min(COUNTRIES.len() - 1)]
    }

    /// The next event, or `None` after the last row.
    pub fn next_event(&mut self) -> Option<Event> {
        if self.next_key >= self.rows {
            return None;
        }
        let key = self.next_key;
        self.next_key += 1;
        let pin = self.pin(key);
        let user_id = (key / USER_BLOCK_KEYS) * USER_POOL_PER_BLOCK
            + self.rng.random_range(0..USER_POOL_PER_BLOCK);
        let mut person = self.user_stream(user_id);
        let place = Place::draw(self, &mut person);
        let user = Person::draw(&mut person);
        let geo = Geo {
            ind: key as i64,
            timestamp: random_time(
                &mut self.rng,
                datetime(2017, 10, 20, 0, 0, 0),
                datetime(2022, 10, 18, 23, 59, 59),
            ),
            latitude: place.latitude,
            longitude: place.longitude,
            country: place.country.to_string(),
        };
        let user = User {
            ind: key as i64,
            first_name: user.first_name.to_string(),
            last_name: user.last_name.to_string(),
            age: user.age,
            date_joined: user.date_joined,
        };
        Some(Event { pin, geo, user })
    }

    fn pin(&mut self, key: u64) -> Pin {
        let c = self.category_of(key);
        let category = CATEGORIES[c];
        let r = &mut self.rng;
        let mut uuid = [0u8; 16];
        r.fill_bytes(&mut uuid);
        let unique_id = uuid::Builder::from_random_bytes(uuid)
            .into_uuid()
            .to_string();
        let kind: f64 = r.random();
        let is_image_or_video = if kind < 0.90 {
            "image"
        } else if kind < 0.93 {
            "video"
        } else {
            STORY
        };
        let story = is_image_or_video == STORY;
        let broken = story && r.random_bool(BROKEN_PER_STORY);
        let fully_broken = broken && r.random_bool(FULLY_BROKEN_PER_BROKEN);

        let title = if broken || r.random_bool(0.003) {
            NO_TITLE.to_string()
        } else if r.random_bool(0.002) {
            String::new()
        } else {
            capitalized(&words(r, c, 3, 8))
        };
        let description = if story {
            NO_DESCRIPTION_STORY.to_string()
        } else if r.random_bool(0.01) {
            NO_DESCRIPTION.to_string()
        } else {
            let text = capitalized(&words(r, c, 8, 30));
            if r.random_bool(0.45) {
                format!("{text}…\u{a0}")
            } else {
                format!("{text}.")
            }
        };
        let (poster_name, follower_count) = if fully_broken {
            (USER_INFO_ERROR.to_string(), USER_INFO_ERROR.to_string())
        } else {
            (poster(r, c), follower_count(r))
        };
        let tag_list = if fully_broken {
            NO_TAGS.to_string()
        } else {
            let n = r.random_range(7..=11);
            (0..n)
                .map(|_| pick_word(r, c))
                .collect::<Vec<_>>()
                .join(",")
        };
        let image_src = if broken {
            IMAGE_SRC_ERROR.to_string()
        } else {
            let mut md5 = [0u8; 16];
            r.fill_bytes(&mut md5);
            let md5 = hex::encode(md5);
            let dirs = format!("{}/{}/{}", &md5[0..2], &md5[2..4], &md5[4..6]);
            if is_image_or_video == "image" {
                format!("https://i.pinimg.com/originals/{dirs}/{md5}.jpg")
            } else {
                format!("https://i.pinimg.com/videos/thumbnails/originals/{dirs}/{md5}.0000001.jpg")
            }
        };
        Pin {
            index: key as i64,
            unique_id,
            title,
            description,
            poster_name,
            follower_count,
            tag_list,
            is_image_or_video: is_image_or_video.to_string(),
            image_src,
            downloaded: if broken { 0 } else { 1 },
            save_location: format!("Local save in /data/{category}"),
            category: category.to_string(),
        }
    }
}

impl Iterator for Generator {
    type Item = Event;
    fn next(&mut self) -> Option<Event> {
        self.next_event()
    }
}

struct Place {
    latitude: f64,
    longitude: f64,
    country: &'static str,
}

impl Place {
    fn draw(g: &Generator, r: &mut ChaCha8Rng) -> Place {
        let lat_digits = r.random_range(4..=6);
        let lon_digits = r.random_range(4..=6);
        Place {
            latitude: significant(r.random_range(-90.0..=90.0), lat_digits),
            longitude: significant(r.random_range(-180.0..=180.0), lon_digits),
            country: g.pick_country(r),
        }
    }
}

struct Person {
    first_name: &'static str,
    last_name: &'static str,
    age: i64,
    date_joined: NaiveDateTime,
}

impl Person {
    fn draw(r: &mut ChaCha8Rng) -> Person {
        let first_name = FIRST_NAMES[r.random_range(0..FIRST_NAMES.len())];
        let last_name = LAST_NAMES[r.random_range(0..LAST_NAMES.len())];
        // 19 % exactly 20, the rest a long tail from 21 to 60 with the median near 26.
        let age = if r.random_bool(0.19) {
            20
        } else {
            loop {
                let x: f64 = r.random();
                let a = 21 + (-(1.0 - x).ln() * 12.4).floor() as i64;
                if a <= 60 {
                    break a;
                }
            }
        };
        let date_joined = random_time(
            r,
            datetime(2015, 10, 21, 0, 0, 0),
            datetime(2017, 10, 18, 23, 59, 59),
        );
        Person {
            first_name,
            last_name,
            age,
            date_joined,
        }
    }
}

fn random_time(r: &mut impl Rng, from: NaiveDateTime, to: NaiveDateTime) -> NaiveDateTime {
    let span = (to - from).num_seconds();
    from + TimeDelta::seconds(r.random_range(0..=span))
}

/// `x` rounded to `digits` significant digits, as its shortest decimal text would read.
fn significant(x: f64, digits: i32) -> f64 {
    if x == 0.0 {
        return 0.0;
    }
    let magnitude = x.abs().log10().floor() as i32;
    let decimals = (digits - 1 - magnitude).max(0) as usize;
    format!("{x:.decimals$}").parse().unwrap_or(x)
}

fn pick_word(r: &mut impl Rng, category: usize) -> &'static str {
    let own = CATEGORY_WORDS[category];
    if r.random_bool(0.7) {
        own[r.random_range(0..own.len())]
    } else {
        COMMON_WORDS[r.random_range(0..COMMON_WORDS.len())]
    }
}

fn words(r: &mut impl Rng, category: usize, min: usize, max: usize) -> String {
    let n = r.random_range(min..=max);
    (0..n)
        .map(|_| pick_word(r, category))
        .collect::<Vec<_>>()
        .join(" ")
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn poster(r: &mut impl Rng, category: usize) -> String {
    match r.random_range(0..3) {
        0 => format!(
            "{} {}",
            FIRST_NAMES[r.random_range(0..FIRST_NAMES.len())],
            LAST_NAMES[r.random_range(0..LAST_NAMES.len())]
        ),
        1 => format!(
            "{} {}",
            capitalized(pick_word(r, category)),
            POSTER_SUFFIXES[r.random_range(0..POSTER_SUFFIXES.len())]
        ),
        _ => format!(
            "The {} {}",
            capitalized(
                CATEGORY_WORDS[category][r.random_range(0..CATEGORY_WORDS[category].len())]
            ),
            POSTER_SUFFIXES[r.random_range(0..POSTER_SUFFIXES.len())]
        ),
    }
}

/// `124k` (~74 %), `2M` (~7.5 %, at most 15M) or plain digits (~18 %).
fn follower_count(r: &mut impl Rng) -> String {
    let x: f64 = r.random();
    // Log-uniform magnitudes: small counts are common, large ones rare.
    let log_uniform = |r: &mut dyn RngCore, max: f64| -> u64 {
        let u: f64 = rand::Rng::random(r);
        (max.powf(u)).floor() as u64
    };
    if x < 0.745 {
        format!("{}k", log_uniform(r, 1000.0).clamp(1, 999))
    } else if x < 0.82 {
        format!("{}M", log_uniform(r, 16.0).clamp(1, 15))
    } else {
        format!("{}", log_uniform(r, 1000.0).saturating_sub(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn significant_digits() {
        assert_eq!(significant(-5.344351, 6), -5.34435);
        assert_eq!(significant(123.456789, 4), 123.5);
        assert_eq!(significant(0.000123456, 4), 0.0001235);
    }

    #[test]
    fn same_seed_same_rows_other_seed_other_rows() {
        let a: Vec<_> = Generator::new(7, 50).collect();
        let b: Vec<_> = Generator::new(7, 50).collect();
        let c: Vec<_> = Generator::new(8, 50).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 50);
    }
}
