//! The crate's layering, checked: a module may name only modules of a lower layer (see the crate
//! docs for the list). The check reads the source, so a new `crate::` path that points up fails
//! the build's tests, not a review.

use std::collections::BTreeSet;
use std::path::Path;

/// Layers bottom-up; modules in one layer may not name each other either.
const LAYERS: &[&[&str]] = &[
    &["dag", "format", "fsx", "json", "signal"],
    &["kind"],
    &["stack", "state"],
    &["engine"],
    &["clients", "data"],
    &["providers", "workers"],
    &["local"],
    &["cli"],
    &["cmd"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The top-level modules a file names through `crate::`, including `use crate::{a, b::c}`.
fn named_modules(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level items of a group: split at commas outside nested braces.
            let mut depth = 0;
            let mut start = 0;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.insert(ident(group[start..j].trim()));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.insert(ident(group[start..j].trim()));
                        start = j + 1;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest));
        }
    }
    out.retain(|m| !m.is_empty());
    out
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src") {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_module_names_a_module_of_its_own_or_a_higher_layer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if matches!(top.as_str(), "lib" | "main" | "layering") {
            continue;
        }
        let Some(own) = layer_of(&top) else {
            violations.push(format!("{}: module `{top}` is in no layer", rel.display()));
            continue;
        };
        let text = std::fs::read_to_string(f).unwrap();
        for m in named_modules(&text) {
            if m == top {
                continue;
            }
            match layer_of(&m) {
                Some(l) if l < own => {}
                Some(_) => violations.push(format!(
                    "{}: `{top}` names `crate::{m}`, which is not below it",
                    rel.display()
                )),
                None => violations.push(format!(
                    "{}: names `crate::{m}`, a module in no layer",
                    rel.display()
                )),
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_reader_sees_groups_and_paths() {
    let found = named_modules(
        "use crate::engine::plan;\nuse crate::{kind::Kinds, state::{a, b}, dag};\nlet x = crate::json::deep_merge;",
    );
    let want: BTreeSet<String> = ["engine", "kind", "state", "dag", "json"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(found, want);
}
