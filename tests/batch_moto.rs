//! The batch job end to end against moto S3: generated source rows → objects in the sink's
//! layout → `worker batch` → Delta tables with one row per `ind` and the 8 answers, both equal to
//! an independent computation in this test from the source rows; a second run changes nothing;
//! new objects are picked up incrementally; the tables open in the `deltalake` Python package.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::util::answers::expected_answers;
use crate::util::jobs::{generate_source, run_batch, sink_objects};
use crate::util::{venv_bin, Moto, BUCKET, UID};
use serde_json::{json, Value};

fn delta_versions(dir: &Path) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for entry in walk(dir) {
        if entry.ends_with("_delta_log") {
            let n = std::fs::read_dir(&entry)
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .ends_with(".json")
                })
                .count();
            out.insert(entry.display().to_string(), n);
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
    assert_eq!(html.matches("<svg").count(), 9, "a chart per answer");

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
