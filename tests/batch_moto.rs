//! The batch job end to end against moto S3: generated source rows → objects in the sink's
//! layout → `worker batch` → Delta tables with one row per `ind` and the 8 answers, both equal to
//! an independent computation in this test from the source rows; a second run changes nothing;
//! new objects are picked up incrementally; the tables open in the `deltalake` Python package.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::util::answers::expected_answers;
use crate::util::jobs::{
    generate_source, run_batch, run_batch_chunked, sink_objects, sink_objects_of,
};
use crate::util::{venv_bin, Moto, BUCKET, UID};
use serde_json::{json, Value};

fn delta_versions(dir: &Path) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for entry in walk(dir) {
        if entry.ends_with("_delta_log") {
            out.insert(
                entry.display().to_string(),
                crate::util::jobs::log_commits(&entry),
            );
        }
    }
    out
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.push(p.clone());
            out.extend(walk(&p));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_tables_and_answers_equal_an_independent_computation() {
    let dir = tempfile::tempdir().unwrap();
    let tables = generate_source(dir.path(), 3000);
    let moto = Moto::start();
    let s3 = moto.s3().await;
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();

    // 1,200 events with repeats (the emulator draws keys with replacement).
    let keys: Vec<usize> = (0..1200).map(|i| (i * 7919 + i * i) % 2999).collect();
    sink_objects(&s3, &tables, &keys, 0).await;
    let (out, report) = (dir.path().join("delta"), dir.path().join("report"));
    let first = run_batch(&moto, &out, &report);
    let distinct: BTreeSet<usize> = keys.iter().copied().collect();
    for t in ["pin", "geo", "user"] {
        let name = format!("{UID}_{t}_table");
        assert_eq!(first["objects"][&name], 1200);
        assert_eq!(
            first["rows"][&name],
            distinct.len(),
            "{name}: one row per distinct ind"
        );
    }
    let expected = expected_answers(&tables, &distinct);
    for (q, rows) in &expected {
        let got: Vec<Value> = serde_json::from_str(
            &std::fs::read_to_string(report.join(format!("results/{q}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(&got, rows, "{q}");
    }
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert!(md.contains("## q8"));
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    // A chart per answer, or a sentence for an answer of one row.
    assert_eq!(
        html.matches("<svg class=\"chart\"").count()
            + html.matches("<p class=\"callout\">").count(),
        9
    );

    // Nothing new: nothing written.
    let before = delta_versions(&out);
    let second = run_batch(&moto, &out, &report);
    assert_eq!(second["objects"], json!({}));
    assert_eq!(second["queries_rerun"], false);
    assert_eq!(
        delta_versions(&out),
        before,
        "a run with nothing new changed a table"
    );

    // New objects only are read; replays of known keys leave one row per ind.
    let more: Vec<usize> = vec![2999, 0, 1, 2998, 2999];
    sink_objects(&s3, &tables, &more, 1200).await;
    let third = run_batch(&moto, &out, &report);
    let mut all = distinct.clone();
    all.extend(more.iter().copied());
    assert_eq!(third["objects"][format!("{UID}_pin_table")], 5);
    assert_eq!(third["rows"][format!("{UID}_pin_table")], all.len());
    assert_eq!(third["queries_rerun"], true);
    let expected = expected_answers(&tables, &all);
    let got: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(report.join("results/q1.json")).unwrap())
            .unwrap();
    assert_eq!(got, expected["q1"]);

    // The tables open in the deltalake Python package with the spec's columns and types.
    let script = format!(
        "import deltalake, json\n\
         out = {{}}\n\
         for t in ['pin', 'geo', 'user']:\n\
         \x20   tb = deltalake.DeltaTable('{}/{UID}_' + t + '_table').to_pyarrow_table()\n\
         \x20   out[t] = {{'rows': tb.num_rows, 'schema': [[f.name, str(f.type)] for f in tb.schema]}}\n\
         print(json.dumps(out), flush=True)\n\
         # deltalake's Rust runtime can abort at interpreter exit; the answer is out by then.\n\
         import os\n\
         os._exit(0)\n",
        out.display()
    );
    let o = std::process::Command::new(venv_bin("python"))
        .args(["-c", &script])
        .output()
        .expect("python");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let py: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(py["pin"]["rows"], all.len());
    assert_eq!(
        py["geo"]["schema"],
        json!([
            ["ind", "int64"],
            ["country", "string"],
            ["coordinates", "list<element: double>"],
            ["timestamp", "timestamp[us, tz=UTC]"]
        ])
    );
    assert_eq!(
        py["user"]["schema"],
        json!([
            ["ind", "int64"],
            ["user_name", "string"],
            ["age", "int64"],
            ["date_joined", "timestamp[us, tz=UTC]"]
        ])
    );
    let pin_columns: Vec<&str> = py["pin"]["schema"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c[0].as_str().unwrap())
        .collect();
    assert_eq!(
        pin_columns,
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
    assert_eq!(py["pin"]["schema"][4], json!(["follower_count", "int64"]));
}

/// The report as a reader sees it (issue 17, item 5): drawn in headless Chromium on a laptop-sized
/// window, every answer has a chart (or, for one row, a callout) whose marks are drawn and match
/// the answer's rows, titled and with labelled axes; trends are lines per category, age groups
/// grouped bars, per-country answers the top countries with a searchable table of the rest; the
/// page opens with what the run covered and fetches nothing. The screenshot is kept in
/// `$PINCTL_REPORT_SCREENSHOT` when set.
#[tokio::test(flavor = "multi_thread")]
async fn the_report_is_drawn_and_labelled_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let tables = generate_source(dir.path(), 3000);
    let moto = Moto::start();
    let s3 = moto.s3().await;
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let keys: Vec<usize> = (0..1500).map(|i| (i * 7919 + i * i) % 2999).collect();
    sink_objects(&s3, &tables, &keys, 0).await;
    let (out, report) = (dir.path().join("delta"), dir.path().join("report"));
    let summary = run_batch(&moto, &out, &report);
    let shot = std::env::var("PINCTL_REPORT_SCREENSHOT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| dir.path().join("report.png"));
    let o = std::process::Command::new(venv_bin("python"))
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/report/check_report.py"
        ))
        .arg(report.join("report.html"))
        .arg(&shot)
        .output()
        .expect("python with selenium (scripts/setup.sh installs it)");
    assert!(
        o.status.success(),
        "the browser check failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let seen: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "a screenshot"
    );
    assert_eq!(seen["fetched"], json!([]), "the page fetched nothing");
    let width = seen["inner_width"].as_f64().unwrap();

    let rows = |q: &str| -> Vec<Value> {
        serde_json::from_str(
            &std::fs::read_to_string(report.join(format!("results/{q}.json"))).unwrap(),
        )
        .unwrap()
    };
    let sections = seen["sections"].as_array().unwrap();
    assert_eq!(sections.len(), 9, "{seen:#}");
    for s in sections {
        let id = s["id"].as_str().unwrap();
        let r = rows(id);
        assert!(!r.is_empty(), "{id} has rows on this data");
        assert_eq!(s["table_rows"], r.len(), "{id}: every row in its table");
        if r.len() == 1 {
            let callout = s["callout"].as_str().unwrap();
            let measure = r[0].as_object().unwrap().values().next_back().unwrap();
            assert!(callout.contains(&measure.to_string()), "{id}: {callout}");
            continue;
        }
        let c = &s["chart"];
        assert!(c.is_object(), "{id} has a chart: {s:#}");
        let heading = s["heading"].as_str().unwrap();
        assert!(
            heading.ends_with(c["label"].as_str().unwrap()),
            "{id} titled: {heading}"
        );
        assert_eq!(c["title"], c["label"]);
        assert_eq!(
            c["drawn"], c["marks"],
            "{id}: every mark has a size on screen"
        );
        let b = &c["box"];
        assert!(
            b["width"].as_f64().unwrap() > 300.0 && b["height"].as_f64().unwrap() > 100.0,
            "{id}: {b}"
        );
        assert!(
            b["right"].as_f64().unwrap() <= width,
            "{id} fits the window: {b}"
        );
        let axis: Vec<&str> = c["axis_labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let columns: Vec<String> = r[0].as_object().unwrap().keys().cloned().collect();
        let measure = columns.last().unwrap().as_str();
        assert!(
            axis.contains(&measure),
            "{id}: the measure labels an axis: {axis:?}"
        );
        let distinct = |col: &str| {
            r.iter()
                .map(|x| x[col].to_string())
                .collect::<BTreeSet<_>>()
                .len()
        };
        match id {
            // Trends over years: lines, a point per row, a legend entry per category.
            "q2" => {
                assert_eq!(c["kind"], "line");
                assert_eq!(c["marks"], r.len());
                assert_eq!(c["legend"].as_array().unwrap().len(), distinct("category"));
                assert!(axis.contains(&"post_year"));
            }
            "q6" | "q7" => {
                assert_eq!(c["kind"], "line");
                assert_eq!(c["marks"], r.len());
                assert!(axis.contains(&"post_year"));
            }
            // Age groups: grouped bars, a bar per row; q8's years in a legend.
            "q4" | "q5" | "q8" => {
                assert_eq!(c["kind"], "grouped-bars");
                assert_eq!(c["marks"], r.len());
                assert!(axis.contains(&"age_group"));
                let ticks: Vec<&str> = c["ticks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect();
                let order: Vec<usize> = ["18-24", "25-35", "36-50", "+50"]
                    .iter()
                    .filter_map(|g| ticks.iter().position(|t| t == g))
                    .collect();
                assert!(
                    order.windows(2).all(|w| w[0] < w[1]),
                    "{id}: age groups in order: {ticks:?}"
                );
                if id == "q8" {
                    assert_eq!(c["legend"].as_array().unwrap().len(), distinct("post_year"));
                }
            }
            // Per country: the top countries as bars, the rest in a searchable table.
            "q1" | "q3a" | "q3b" => {
                assert_eq!(c["kind"], "top-bars");
                assert_eq!(c["marks"], r.len().min(12));
                assert_eq!(s["filter"], true, "{id}: searchable");
                // q3b's rows are the countries tied for the largest top poster.
                let top = r
                    .iter()
                    .map(|x| x[measure].as_f64().unwrap())
                    .fold(0.0, f64::max);
                let ticks = c["ticks"].as_array().unwrap();
                // A long label is cut with an ellipsis.
                let first = ticks[0].as_str().unwrap().trim_end_matches('…');
                let first_country = first.split(" — ").next().unwrap();
                let best = r
                    .iter()
                    .find(|x| x["country"].as_str().unwrap().starts_with(first_country))
                    .unwrap();
                assert_eq!(best[measure].as_f64().unwrap(), top, "{id}: largest first");
            }
            other => panic!("an answer the test does not know: {other}"),
        }
    }
    let f = &seen["filter"];
    assert_eq!(f["section"], "q1");
    assert!(f["visible"].as_u64().unwrap() >= 1, "{f}");
    assert!(
        f["visible"].as_u64().unwrap() < f["rows"].as_u64().unwrap(),
        "{f}"
    );
    assert_eq!(f["visible_match"], true, "{f}");

    let covered: Vec<&str> = seen["covered"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let joined = covered.join(" | ");
    let events: u64 = summary["records"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert!(joined.contains(&format!("{events} from")), "{joined}");
    for t in ["pin", "geo", "user"] {
        let name = format!("{UID}_{t}_table");
        assert!(
            joined.contains(&format!("{t} rows\n{}", summary["rows"][&name])),
            "{joined}"
        );
    }
    assert!(joined.contains("posts' time range"), "{joined}");
}

/// Delta log commit files (`_delta_log/*.json`) of a table, by version.
fn commit_files(table: &Path) -> BTreeSet<std::path::PathBuf> {
    std::fs::read_dir(table.join("_delta_log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect()
}

/// Issue 19: a large run, on the path a real backlog takes (objects of 1,000 records, chunks of
/// 5,000, duplicates within a chunk, across chunks and across runs), then days on top — after
/// every run the 8 answers equal the independent computation from the source rows, with one row
/// per distinct `ind`; the days bring the answers' rollups up to date from the rows they changed;
/// a day of unchanged replays adds no data file.
#[tokio::test(flavor = "multi_thread")]
async fn a_large_backlog_and_days_on_top_answer_as_the_source_rows_say() {
    let dir = tempfile::tempdir().unwrap();
    let tables = generate_source(dir.path(), 40_000);
    let moto = Moto::start();
    let s3 = moto.s3().await;
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    let (out, report) = (dir.path().join("delta"), dir.path().join("report"));

    // A fixed LCG (Knuth's MMIX constants): the same events on every run of the test.
    let mut state = 0x5EED_u64;
    let mut draw = |below: usize| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 33) as usize) % below
    };
    let backlog: Vec<usize> = (0..100_000).map(|_| draw(30_000)).collect();
    let day_1: Vec<usize> = (0..10_000)
        .map(|i| {
            if i % 2 == 0 {
                draw(30_000)
            } else {
                30_000 + draw(10_000)
            }
        })
        .collect();
    let day_2: Vec<usize> = (0..10_000).map(|_| draw(40_000)).collect();

    let mut held = BTreeSet::new();
    let mut offset = 0;
    for (run, events) in [("backlog", &backlog), ("day 1", &day_1), ("day 2", &day_2)] {
        sink_objects_of(&s3, &tables, events, offset, 1_000).await;
        offset += events.len();
        let summary = run_batch_chunked(&moto, &out, &report, 5_000);
        held.extend(events.iter().copied());
        for t in ["pin", "geo", "user"] {
            let name = format!("{UID}_{t}_table");
            assert_eq!(
                summary["objects"][&name],
                events.len().div_ceil(1_000),
                "{run}: {name}: the new objects only"
            );
            assert_eq!(summary["rows"][&name], held.len(), "{run}: {name}");
        }
        // The backlog makes the rollups; a day brings them up to date from its changed rows.
        let how = if run == "backlog" {
            "full"
        } else {
            "incremental"
        };
        assert_eq!(
            summary["rollups"]["how"], how,
            "{run}: {}",
            summary["rollups"]
        );
        let expected = expected_answers(&tables, &held);
        for (q, rows) in &expected {
            let got: Vec<Value> = serde_json::from_str(
                &std::fs::read_to_string(report.join(format!("results/{q}.json"))).unwrap(),
            )
            .unwrap();
            assert_eq!(&got, rows, "{run}: {q}");
        }
    }

    // A day of replays only, each event as it was first sent: nothing to rewrite.
    let replays: Vec<usize> = held.iter().copied().step_by(7).take(3_000).collect();
    let pin = out.join(format!("{UID}_pin_table"));
    let before = commit_files(&pin);
    sink_objects_of(&s3, &tables, &replays, offset, 1_000).await;
    let summary = run_batch_chunked(&moto, &out, &report, 5_000);
    assert_eq!(summary["rows"][format!("{UID}_pin_table")], held.len());
    assert_eq!(summary["rollups"], json!({"how": "incremental", "keys": 0}));
    let added: Vec<String> = commit_files(&pin)
        .difference(&before)
        .flat_map(|c| {
            std::fs::read_to_string(c)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|l| l.starts_with("{\"add\""))
        .collect();
    assert!(
        added.is_empty(),
        "unchanged replays wrote data files: {added:?}"
    );
    let expected = expected_answers(&tables, &held);
    let got: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(report.join("results/q1.json")).unwrap())
            .unwrap();
    assert_eq!(got, expected["q1"]);
}
