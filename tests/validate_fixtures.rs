//! Every malformed stack under tests/fixtures/invalid is rejected with exit code 1, and each
//! error its header announces (`# expect: LINE:COL: text`, or `# expect-file: PATH:LINE:COL: text`
//! for errors inside a template) is reported at that position. No service is contacted.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    v.sort();
    v
}

fn expectations(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let dir = path.parent().unwrap();
    let mut out = Vec::new();
    for line in text.lines().take_while(|l| l.starts_with('#')) {
        if let Some(rest) = line.strip_prefix("# expect: ") {
            let (pos, msg) = split_pos(rest);
            out.push((format!("{}:{pos}: error: ", path.display()), msg));
        } else if let Some(rest) = line.strip_prefix("# expect-file: ") {
            let (file, rest) = rest.split_once(':').unwrap();
            let (pos, msg) = split_pos(rest);
            out.push((format!("{}:{pos}: error: ", dir.join(file).display()), msg));
        }
    }
    out
}

fn split_pos(s: &str) -> (String, String) {
    let mut parts = s.splitn(3, ':');
    let line = parts.next().unwrap().trim();
    let col = parts.next().unwrap().trim();
    (
        format!("{line}:{col}"),
        parts.next().unwrap().trim().to_string(),
    )
}

#[test]
fn corpus_has_at_least_thirty_stacks() {
    assert!(fixtures().len() >= 30, "only {} fixtures", fixtures().len());
}

#[test]
fn every_malformed_stack_is_reported_where_it_is() {
    let mut failures = Vec::new();
    for path in fixtures() {
        let expected = expectations(&path);
        assert!(
            !expected.is_empty(),
            "{} has no `# expect:` header",
            path.display()
        );
        let out = Command::new(env!("CARGO_BIN_EXE_pinctl"))
            .args(["validate", "-f"])
            .arg(&path)
            .env_remove("PINCTL_ENV")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() != Some(1) {
            failures.push(format!(
                "{}: exit {:?}, expected 1\n{stderr}",
                path.display(),
                out.status.code()
            ));
            continue;
        }
        for (prefix, msg) in &expected {
            let found = stderr
                .lines()
                .any(|l| l.starts_with(prefix.as_str()) && l.contains(msg.as_str()));
            if !found {
                failures.push(format!(
                    "{}: expected `{prefix}…{msg}…`, got:\n{stderr}",
                    path.display()
                ));
            }
        }
        assert!(
            out.stdout.is_empty(),
            "validate printed on stdout for {}",
            path.display()
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn json_output_lists_every_error_with_its_position() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid/37-several-errors.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_pinctl"))
        .args(["validate", "--json", "-f"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(doc["valid"], false);
    let errors = doc["errors"].as_array().unwrap();
    let positions: Vec<(u64, u64)> = errors
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["column"].as_u64().unwrap()))
        .collect();
    assert_eq!(positions, vec![(10, 7), (15, 13), (19, 13)]);
}

#[test]
fn the_pipeline_stack_is_valid_in_every_env() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_pinctl"))
        .current_dir(root)
        .args(["validate", "--json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["envs"], serde_json::json!(["dev", "local", "prod"]));
}
