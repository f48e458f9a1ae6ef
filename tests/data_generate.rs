//! The dataset generator and the source stores (spec §1): shapes, formats, rates and
//! distributions of the generated tables; determinism; SQLite, MariaDB and JSON lines holding the
//! same rows; memory that does not grow with the row count.

use std::collections::{BTreeMap, HashSet};

use crate::util::{pinctl, read_table, run_measuring_rss, MariaDb};
use pinctl::data::record::Event;
use pinctl::data::store::{Location, Reader};
use serde_json::Value;

fn generate(out: &str, rows: u64, seed: u64) {
    let o = pinctl(
        &[
            "-q",
            "data",
            "generate",
            "--rows",
            &rows.to_string(),
            "--seed",
            &seed.to_string(),
            "--out",
            out,
        ],
        &[],
    )
    .output()
    .unwrap();
    assert!(
        o.status.success(),
        "generate {out}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn share(rows: &[Value], f: impl Fn(&Value) -> bool) -> f64 {
    rows.iter().filter(|r| f(r)).count() as f64 / rows.len() as f64
}

#[track_caller]
fn near(what: &str, got: f64, want: f64, tolerance: f64) {
    assert!(
        (got - want).abs() <= tolerance,
        "{what}: {got:.4}, expected {want} ± {tolerance}"
    );
}

#[test]
fn the_default_tables_have_the_shapes_formats_and_rates_of_the_spec() {
    let dir = tempfile::tempdir().unwrap();
    generate(&format!("jsonl://{}", dir.path().display()), 11_153, 100);
    let pins = read_table(dir.path(), "pinterest_data");
    let geos = read_table(dir.path(), "geolocation_data");
    let users = read_table(dir.path(), "user_data");
    assert_eq!(
        (pins.len(), geos.len(), users.len()),
        (11_153, 11_153, 11_153)
    );

    // Column order and keys 0..N, row-aligned.
    let columns: Vec<&str> = pins[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        columns,
        [
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
            "category"
        ]
    );
    let geo_columns: Vec<&str> = geos[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        geo_columns,
        ["ind", "timestamp", "latitude", "longitude", "country"]
    );
    let user_columns: Vec<&str> = users[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        user_columns,
        ["ind", "first_name", "last_name", "age", "date_joined"]
    );
    for (i, ((p, g), u)) in pins.iter().zip(&geos).zip(&users).enumerate() {
        assert_eq!(p["index"], i as u64);
        assert_eq!(g["ind"], i as u64);
        assert_eq!(u["ind"], i as u64);
    }

    // Formats.
    let uuid =
        regex::Regex::new(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
            .unwrap();
    let image = regex::Regex::new(r"^https://i\.pinimg\.com/originals/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{32})\.jpg$").unwrap();
    let video = regex::Regex::new(r"^https://i\.pinimg\.com/videos/thumbnails/originals/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{32}\.0000001\.jpg$").unwrap();
    let followers = regex::Regex::new(r"^(\d+k|\d+M|\d+|User Info Error)$").unwrap();
    let datetime = regex::Regex::new(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$").unwrap();
    for p in &pins {
        assert!(uuid.is_match(p["unique_id"].as_str().unwrap()), "{p}");
        assert!(
            followers.is_match(p["follower_count"].as_str().unwrap()),
            "{p}"
        );
        let cat = p["category"].as_str().unwrap();
        assert_eq!(p["save_location"], format!("Local save in /data/{cat}"));
        let src = p["image_src"].as_str().unwrap();
        if let Some(c) = image.captures(src) {
            assert_eq!(format!("{}{}{}", &c[1], &c[2], &c[3]), c[4][..6], "{src}");
        } else {
            assert!(video.is_match(src) || src == "Image src error.", "{src}");
        }
        if p["is_image_or_video"] == "multi-video(story page format)" {
            assert_eq!(p["description"], "No description available Story format");
        }
        if p["downloaded"] == 0 {
            assert_eq!(
                p["is_image_or_video"], "multi-video(story page format)",
                "{p}"
            );
        }
        if let Some(m) = p["follower_count"].as_str().unwrap().strip_suffix('M') {
            assert!(m.parse::<u32>().unwrap() <= 15);
        }
    }
    for g in &geos {
        let ts = g["timestamp"].as_str().unwrap();
        assert!(
            datetime.is_match(ts) && ("2017-10-20".."2022-10-19").contains(&ts),
            "{ts}"
        );
        let (lat, lon) = (
            g["latitude"].as_f64().unwrap(),
            g["longitude"].as_f64().unwrap(),
        );
        assert!((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon));
        let digits = lat
            .abs()
            .to_string()
            .replace('.', "")
            .trim_start_matches('0')
            .len();
        assert!(
            digits <= 6,
            "latitude {lat} has more than 6 significant digits"
        );
    }
    for u in &users {
        let joined = u["date_joined"].as_str().unwrap();
        assert!(
            datetime.is_match(joined) && ("2015-10-21".."2017-10-19").contains(&joined),
            "{joined}"
        );
        assert!((20..=60).contains(&u["age"].as_i64().unwrap()));
    }

    // Rates (spec §1), within tolerance.
    let fc = |p: &Value| p["follower_count"].as_str().unwrap().to_string();
    near(
        "k followers",
        share(&pins, |p| fc(p).ends_with('k')),
        0.74,
        0.02,
    );
    near(
        "M followers",
        share(&pins, |p| fc(p).ends_with('M')),
        0.075,
        0.01,
    );
    near(
        "plain followers",
        share(&pins, |p| fc(p).bytes().all(|b| b.is_ascii_digit())),
        0.18,
        0.015,
    );
    near(
        "images",
        share(&pins, |p| p["is_image_or_video"] == "image"),
        0.90,
        0.01,
    );
    near(
        "videos",
        share(&pins, |p| p["is_image_or_video"] == "video"),
        0.03,
        0.006,
    );
    near(
        "stories",
        share(&pins, |p| {
            p["is_image_or_video"] == "multi-video(story page format)"
        }),
        0.07,
        0.008,
    );
    near(
        "not downloaded",
        share(&pins, |p| p["downloaded"] == 0),
        0.024,
        0.005,
    );
    let fully_broken = |p: &Value| {
        p["title"] == "No Title Data Available"
            && p["poster_name"] == "User Info Error"
            && p["follower_count"] == "User Info Error"
            && p["tag_list"] == "N,o, ,T,a,g,s, ,A,v,a,i,l,a,b,l,e"
            && p["image_src"] == "Image src error."
            && p["description"] == "No description available Story format"
            && p["downloaded"] == 0
    };
    near("fully broken", share(&pins, fully_broken), 0.007, 0.003);
    assert!(
        share(&pins, |p| p["description"]
            .as_str()
            .unwrap()
            .contains("…\u{a0}"))
            > 0.2
    );
    assert!(share(&pins, |p| p["title"] == "") > 0.0);
    let tags = pins
        .iter()
        .filter(|p| !fully_broken(p))
        .map(|p| p["tag_list"].as_str().unwrap().split(',').count() as f64)
        .sum::<f64>()
        / pins.iter().filter(|p| !fully_broken(p)).count() as f64;
    near("tags per pin", tags, 9.0, 0.5);

    // Category blocks: alphabetical in key order, roughly equal.
    let cats: Vec<&str> = pins
        .iter()
        .map(|p| p["category"].as_str().unwrap())
        .collect();
    let mut blocks: Vec<(&str, usize)> = vec![];
    for c in &cats {
        match blocks.last_mut() {
            Some((last, n)) if last == c => *n += 1,
            _ => blocks.push((c, 1)),
        }
    }
    let names: Vec<&str> = blocks.iter().map(|b| b.0).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    assert_eq!(names.len(), 13);
    for (c, n) in &blocks {
        assert!((800..=920).contains(n), "block {c} has {n} rows");
    }

    // Timestamps roughly even over 2018-2022.
    let mut years: BTreeMap<&str, usize> = BTreeMap::new();
    for g in &geos {
        *years
            .entry(&g["timestamp"].as_str().unwrap()[..4])
            .or_default() += 1;
    }
    for y in ["2018", "2019", "2020", "2021", "2022"] {
        let s = years[y] as f64 / geos.len() as f64;
        assert!((0.15..=0.23).contains(&s), "year {y}: {s}");
    }

    // Ages: 20..60, median ~26, ~19 % exactly 20.
    let mut ages: Vec<i64> = users.iter().map(|u| u["age"].as_i64().unwrap()).collect();
    ages.sort();
    let median = ages[ages.len() / 2];
    assert!((25..=28).contains(&median), "median age {median}");
    near("age 20", share(&users, |u| u["age"] == 20), 0.19, 0.02);

    // Users repeat: ~1,400 distinct users per 2,000 keys, with the same place each time.
    let person = |i: usize| {
        let u = &users[i];
        (
            u["first_name"].to_string(),
            u["last_name"].to_string(),
            u["age"].to_string(),
            u["date_joined"].to_string(),
        )
    };
    let distinct: HashSet<_> = (0..2000).map(person).collect();
    assert!(
        (1300..=1500).contains(&distinct.len()),
        "{} distinct users in 2,000 keys",
        distinct.len()
    );
    let mut place_of = BTreeMap::new();
    for (i, g) in geos.iter().enumerate() {
        let place = (
            g["latitude"].to_string(),
            g["longitude"].to_string(),
            g["country"].to_string(),
        );
        if let Some(p) = place_of.insert(person(i), place.clone()) {
            assert_eq!(p, place, "one user, two places");
        }
    }

    // Countries: Faker names, ~240 of them, skewed to the start of the alphabet.
    let countries: HashSet<&str> = geos
        .iter()
        .map(|g| g["country"].as_str().unwrap())
        .collect();
    assert!(countries.len() > 150, "{} countries", countries.len());
    let early = share(&geos, |g| g["country"].as_str().unwrap() < "B");
    assert!(early > 0.3, "only {early} of countries start with A");
}

#[test]
fn a_seed_always_gives_the_same_tables_and_another_seed_other_ones() {
    let dir = tempfile::tempdir().unwrap();
    let read =
        |name: &str| std::fs::read(dir.path().join(name).join("pinterest_data.jsonl")).unwrap();
    generate(&format!("jsonl://{}/a", dir.path().display()), 500, 7);
    generate(&format!("jsonl://{}/b", dir.path().display()), 500, 7);
    generate(&format!("jsonl://{}/c", dir.path().display()), 500, 8);
    assert_eq!(read("a"), read("b"));
    assert_ne!(read("a"), read("c"));

    // Refuses to overwrite without --force, and says so.
    let o = pinctl(
        &[
            "data",
            "generate",
            "--rows",
            "5",
            "--out",
            &format!("jsonl://{}/a", dir.path().display()),
        ],
        &[],
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--force"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = pinctl(&["data", "generate", "--out", "nowhere.txt"], &[])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("sqlite://"));
}

async fn events(location: &str, keys: &[i64]) -> Vec<Event> {
    let reader = Reader::open(&location.parse::<Location>().unwrap())
        .await
        .unwrap();
    let mut out = vec![];
    for k in keys {
        out.push(reader.event(*k).await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_mariadb_and_json_lines_hold_the_same_rows_and_read_row_n() {
    let db = MariaDb::start();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}/p.db", dir.path().display());
    let jsonl = format!("jsonl://{}/j", dir.path().display());
    let mysql = db.database("pinterest_data");
    for out in [&sqlite, &jsonl, &mysql] {
        generate(out, 3000, 100);
    }
    let keys = [0, 1, 2, 999, 1500, 2998, 2999];
    let from_jsonl = events(&jsonl, &keys).await;
    assert_eq!(events(&sqlite, &keys).await, from_jsonl);
    assert_eq!(events(&mysql, &keys).await, from_jsonl);
    for (k, e) in keys.iter().zip(&from_jsonl) {
        assert_eq!((e.pin.index, e.geo.ind, e.user.ind), (*k, *k, *k));
    }
    // The row as it travels: the JSON line, datetimes as ISO 8601 text.
    let line = std::fs::read_to_string(dir.path().join("j/geolocation_data.jsonl")).unwrap();
    let first: Value = serde_json::from_str(line.lines().nth(999).unwrap()).unwrap();
    assert_eq!(
        from_jsonl[3].row_json(pinctl::data::record::Table::Geo),
        first
    );

    // A key past the end is an error naming the table and the key.
    let reader = Reader::open(&mysql.parse().unwrap()).await.unwrap();
    assert_eq!(reader.rows().await.unwrap(), 3000);
    let e = reader.event(3000).await.unwrap_err().to_string();
    assert!(e.contains("pinterest_data") && e.contains("3000"), "{e}");
    assert!(
        !e.contains("root@"),
        "the URL's credentials stay out of messages: {e}"
    );
}

#[test]
fn memory_stays_flat_as_the_row_count_grows() {
    let dir = tempfile::tempdir().unwrap();
    let run = |rows: u64, out: &str| {
        let mut c = pinctl(
            &[
                "-q",
                "data",
                "generate",
                "--rows",
                &rows.to_string(),
                "--out",
                out,
            ],
            &[],
        );
        // glibc gives each thread that allocates its own arena; how many of tokio's workers a
        // run's writes hop across depends on the machine's load (a CI run under load saw 50 MB
        // more at 100k rows with the same data), so two arenas keep the figure about the data.
        c.current_dir(dir.path()).env("MALLOC_ARENA_MAX", "2");
        let (status, rss) = run_measuring_rss(c);
        assert!(
            status.success(),
            "data generate --rows {rows} --out {out}: {status}"
        );
        rss
    };
    let small = run(10_000, "jsonl://small");
    let large = run(100_000, "jsonl://large");
    let small_db = run(10_000, "sqlite://small.db");
    let large_db = run(100_000, "sqlite://large.db");
    // Ten times the rows, about the same peak memory (the writes stream in chunks).
    eprintln!("peak RSS: jsonl {small}/{large} KiB, sqlite {small_db}/{large_db} KiB");
    assert!(
        large < small + 16 * 1024,
        "JSON lines: {small} KiB for 10k rows, {large} KiB for 100k"
    );
    assert!(
        large_db < small_db + 16 * 1024,
        "SQLite: {small_db} KiB for 10k rows, {large_db} KiB for 100k"
    );
}
