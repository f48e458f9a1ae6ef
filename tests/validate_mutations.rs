//! Stacks broken in ways nobody wrote a fixture for: random edits of the pipeline stack must
//! never crash `pinctl validate`; each is either valid (exit 0) or reported as
//! `file:line:column: error: ...` lines with exit 1.

use std::path::Path;
use std::process::Command;

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const JUNK: &[&str] = &[
    "${", "}", ":", "- ", "  ", "\t", "[", "]", "{", "'", "\"", "#", "&a", "*a", "${x.y}", "~",
    "0x1", "!!str", "é", "\u{0}",
];

fn mutate(text: &str, rng: &mut Lcg) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for _ in 0..1 + rng.below(3) {
        let i = rng.below(lines.len());
        match rng.below(6) {
            0 => {
                lines.remove(i);
            }
            1 => {
                let l = lines[i].clone();
                lines.insert(i, l);
            }
            2 => {
                let cut = rng.below(lines[i].len() + 1);
                let cut = (0..=cut)
                    .rev()
                    .find(|c| lines[i].is_char_boundary(*c))
                    .unwrap_or(0);
                lines[i].truncate(cut);
            }
            3 => {
                let at = rng.below(lines[i].len() + 1);
                let at = (0..=at)
                    .rev()
                    .find(|c| lines[i].is_char_boundary(*c))
                    .unwrap_or(0);
                lines[i].insert_str(at, JUNK[rng.below(JUNK.len())]);
            }
            4 => {
                let j = rng.below(lines.len());
                lines.swap(i, j);
            }
            _ => {
                lines[i] = lines[i].replacen("  ", "", 1);
            }
        }
    }
    lines.join("\n") + "\n"
}

#[test]
fn random_edits_never_crash_validation() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let original = std::fs::read_to_string(root.join("stacks/pinterest.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Templates are found relative to `root: ..`, so mirror the layout.
    std::fs::create_dir_all(dir.path().join("stacks")).unwrap();
    crate::util::copy_repo_dirs(dir.path(), &["templates", "plugins", "jobs"]);
    let file = dir.path().join("stacks/pinterest.yaml");
    let mut rng = Lcg(0x5eed);
    let (mut valid, mut invalid) = (0, 0);
    for case in 0..150 {
        let text = mutate(&original, &mut rng);
        std::fs::write(&file, &text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_pinctl"))
            .args(["validate", "-f"])
            .arg(&file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("panicked"),
            "case {case} crashed:\n{stderr}\n--- stack ---\n{text}"
        );
        match out.status.code() {
            Some(0) => valid += 1,
            Some(1) => {
                invalid += 1;
                let errors: Vec<&str> =
                    stderr.lines().filter(|l| l.contains(": error: ")).collect();
                assert!(
                    !errors.is_empty(),
                    "case {case}: exit 1 without an error line:\n{stderr}"
                );
                for e in errors {
                    // `path:line:column: error: ...`, the path being the stack or one of its templates.
                    let head = e.split(": error: ").next().unwrap();
                    let mut parts = head.rsplitn(3, ':');
                    let col: usize = parts
                        .next()
                        .unwrap()
                        .parse()
                        .unwrap_or_else(|_| panic!("case {case}: no column in {e}"));
                    let line: usize = parts
                        .next()
                        .unwrap()
                        .parse()
                        .unwrap_or_else(|_| panic!("case {case}: no line in {e}"));
                    let path = Path::new(parts.next().unwrap());
                    assert!(
                        path.starts_with(dir.path()),
                        "case {case}: error located outside the project: {e}"
                    );
                    let lines = std::fs::read_to_string(path)
                        .map(|t| t.lines().count())
                        .unwrap_or(0);
                    assert!(
                        line >= 1 && line <= lines + 1 && col >= 1,
                        "case {case}: position out of the file: {e}"
                    );
                }
            }
            other => panic!("case {case}: exit {other:?}\n{stderr}"),
        }
    }
    assert!(
        invalid > 50,
        "most random edits break the stack ({valid} valid, {invalid} invalid)"
    );
}
