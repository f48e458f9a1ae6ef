//! The twin's stand-in for an EC2 client: a directory that plays the instance's root file system.
//! The instance's user-data is read for what it installs — `aws s3 cp` (files and `--recursive`
//! prefixes), `ln -sf`, `chmod` — and the systemd units it fetched are run as local processes,
//! with their paths mapped into that directory. Other shell lines (package installs, `systemctl`)
//! have no meaning on the twin and are skipped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One step of the user-data the twin carries out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Copy {
        bucket: String,
        key: String,
        recursive: bool,
        dest: String,
    },
    Link {
        target: String,
        link: String,
    },
    Chmod {
        mode: u32,
        path: String,
    },
}

/// The user-data's steps, with `"$VAR"`-free literal arguments (rendered templates have none).
pub fn steps(user_data: &str) -> Vec<Step> {
    let mut out = Vec::new();
    for line in user_data.lines() {
        // `until CMD; do ...; done` runs CMD.
        let line = line.trim().trim_start_matches("until ").trim();
        let line = line.split(';').next().unwrap_or("");
        let words = split_words(line);
        let w: Vec<&str> = words.iter().map(String::as_str).collect();
        match w.as_slice() {
            ["aws", "s3", "cp", rest @ ..] => {
                let recursive = rest.contains(&"--recursive");
                let args: Vec<&&str> = rest.iter().filter(|a| !a.starts_with("--")).collect();
                if let [src, dest] = args.as_slice() {
                    if let Some((bucket, key)) =
                        src.strip_prefix("s3://").and_then(|s| s.split_once('/'))
                    {
                        out.push(Step::Copy {
                            bucket: bucket.to_string(),
                            key: key.to_string(),
                            recursive,
                            dest: dest.to_string(),
                        });
                    }
                }
            }
            ["ln", flags, target, link] if flags.starts_with('-') && flags.contains('s') => out
                .push(Step::Link {
                    target: target.to_string(),
                    link: link.to_string(),
                }),
            ["chmod", mode, path] => {
                if let Ok(mode) = u32::from_str_radix(mode, 8) {
                    out.push(Step::Chmod {
                        mode,
                        path: path.to_string(),
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// Shell-like words: whitespace-separated, single and double quotes removed.
pub fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (None, '#') if cur.is_empty() && !any => break,
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// A systemd service unit, as far as the twin runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub name: String,
    pub exec_start: Vec<String>,
    pub environment: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
#[error("unit {name}: {message}")]
pub struct UnitError {
    pub name: String,
    pub message: String,
}

pub fn parse_unit(name: &str, text: &str) -> Result<Unit, UnitError> {
    let mut section = String::new();
    let mut exec_start = None;
    let mut environment = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            section = line.trim_matches(['[', ']']).to_string();
            continue;
        }
        if section != "Service" {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match key.trim() {
            "ExecStart" => {
                let v = value.trim().trim_start_matches(['-', '@', '+', '!', ':']);
                exec_start = Some(split_words(v));
            }
            "Environment" => {
                for word in split_words(value) {
                    if let Some((k, v)) = word.split_once('=') {
                        environment.push((k.to_string(), v.to_string()));
                    }
                }
            }
            _ => {}
        }
    }
    let exec_start = exec_start
        .filter(|e| !e.is_empty())
        .ok_or_else(|| UnitError {
            name: name.to_string(),
            message: "no ExecStart= in [Service]".into(),
        })?;
    Ok(Unit {
        name: name.to_string(),
        exec_start,
        environment,
    })
}

/// The instance's root file system on this machine.
#[derive(Debug, Clone)]
pub struct Host {
    pub root: PathBuf,
}

impl Host {
    /// An absolute instance path inside the root, following links made inside it.
    pub fn path(&self, p: &str) -> PathBuf {
        let mut mapped = self.root.join(p.trim_start_matches('/'));
        for _ in 0..8 {
            match std::fs::read_link(&mapped) {
                Ok(t) if t.is_absolute() && !t.starts_with(&self.root) => {
                    mapped = self.root.join(t.strip_prefix("/").unwrap_or(&t));
                }
                Ok(t) if t.is_absolute() => mapped = t,
                _ => break,
            }
        }
        mapped
    }

    /// The unit's command line on this machine: absolute paths that exist inside the root are
    /// mapped there; listening on every interface (`0.0.0.0:PORT`) becomes loopback on the port
    /// `local` gives for the instance's PORT (a free one, so two twins never collide), which
    /// the twin's gateway is told (`connect-to.json`, `worker gateway --connect-to-file`).
    pub fn command(&self, unit: &Unit, mut local: impl FnMut(u16) -> u16) -> Vec<String> {
        unit.exec_start
            .iter()
            .map(|a| {
                if let Some(port) = a.strip_prefix("0.0.0.0:") {
                    if let Ok(p) = port.parse::<u16>() {
                        return format!("127.0.0.1:{}", local(p));
                    }
                }
                if a.starts_with('/') {
                    let m = self.path(a);
                    if m.exists() {
                        return m.display().to_string();
                    }
                }
                a.clone()
            })
            .collect()
    }

    pub fn link(&self, target: &str, link: &str) -> std::io::Result<()> {
        let at = self.root.join(link.trim_start_matches('/'));
        if let Some(d) = at.parent() {
            std::fs::create_dir_all(d)?;
        }
        let _ = std::fs::remove_file(&at);
        std::os::unix::fs::symlink(self.root.join(target.trim_start_matches('/')), at)
    }

    pub fn chmod(&self, path: &str, mode: u32) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(self.path(path), std::fs::Permissions::from_mode(mode))
    }

    /// Where an object copied by `aws s3 cp SRC DEST` lands (DEST a directory when it ends in `/`
    /// or the copy is recursive).
    pub fn destination(&self, dest: &str, relative: &str, recursive: bool) -> PathBuf {
        let base = self.root.join(dest.trim_start_matches('/'));
        if recursive || dest.ends_with('/') {
            base.join(relative)
        } else {
            base
        }
    }

    /// The units among the files the user-data fetched.
    pub fn units(&self, fetched: &BTreeMap<PathBuf, String>) -> Vec<(PathBuf, String)> {
        fetched
            .keys()
            .filter(|p| p.extension().is_some_and(|e| e == "service"))
            .filter_map(|p| Some((p.clone(), std::fs::read_to_string(p).ok()?)))
            .collect()
    }
}

pub fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER_DATA: &str = r#"#!/bin/bash
set -euo pipefail
install -d -m 0755 /etc/pinctl /opt/pinctl/bin
until aws s3 cp "s3://arts/workers/pinctl" /opt/pinctl/bin/pinctl; do sleep 10; done
chmod 0755 /opt/pinctl/bin/pinctl
ln -sf /opt/pinctl/bin/pinctl /usr/local/bin/pinctl
aws s3 cp --recursive "s3://arts/workers/files/" /etc/pinctl/
systemctl daemon-reload
"#;

    #[test]
    fn user_data_steps_are_read() {
        assert_eq!(
            steps(USER_DATA),
            vec![
                Step::Copy {
                    bucket: "arts".into(),
                    key: "workers/pinctl".into(),
                    recursive: false,
                    dest: "/opt/pinctl/bin/pinctl".into()
                },
                Step::Chmod {
                    mode: 0o755,
                    path: "/opt/pinctl/bin/pinctl".into()
                },
                Step::Link {
                    target: "/opt/pinctl/bin/pinctl".into(),
                    link: "/usr/local/bin/pinctl".into()
                },
                Step::Copy {
                    bucket: "arts".into(),
                    key: "workers/files/".into(),
                    recursive: true,
                    dest: "/etc/pinctl/".into()
                },
            ]
        );
    }

    #[test]
    fn the_repository_user_data_and_units_are_understood() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let ud = std::fs::read_to_string(root.join("ec2/user-data.sh")).unwrap();
        let s = steps(&ud);
        assert!(
            s.iter().any(|s| matches!(
                s,
                Step::Copy {
                    recursive: true,
                    ..
                }
            )),
            "{s:?}"
        );
        assert!(s.iter().any(|s| matches!(s, Step::Link { .. })), "{s:?}");
        for unit in ["pinctl-rest-proxy.service", "pinctl-stream.service"] {
            let text = std::fs::read_to_string(root.join("systemd").join(unit)).unwrap();
            let u = parse_unit(unit, &text).unwrap();
            assert_eq!(u.exec_start[0], "/usr/local/bin/pinctl", "{u:?}");
            assert!(
                u.environment.iter().any(|(k, _)| k == "AWS_REGION"),
                "{u:?}"
            );
        }
    }

    #[test]
    fn commands_are_mapped_into_the_host() {
        let dir = tempfile::tempdir().unwrap();
        let host = Host {
            root: dir.path().to_path_buf(),
        };
        std::fs::create_dir_all(dir.path().join("opt/pinctl/bin")).unwrap();
        std::fs::write(dir.path().join("opt/pinctl/bin/pinctl"), "x").unwrap();
        std::fs::create_dir_all(dir.path().join("etc/pinctl")).unwrap();
        std::fs::write(dir.path().join("etc/pinctl/kafka-rest.properties"), "x").unwrap();
        host.link("/opt/pinctl/bin/pinctl", "/usr/local/bin/pinctl")
            .unwrap();
        let unit = parse_unit(
            "p.service",
            "[Unit]\nDescription=x\n[Service]\nExecStart=/usr/local/bin/pinctl worker rest-proxy --config /etc/pinctl/kafka-rest.properties --listen 0.0.0.0:8082\nEnvironment=AWS_REGION=eu-west-1 \"A=b c\"\n",
        )
        .unwrap();
        assert_eq!(
            unit.environment,
            vec![
                ("AWS_REGION".into(), "eu-west-1".into()),
                ("A".into(), "b c".into())
            ]
        );
        let cmd = host.command(&unit, |p| p + 40000);
        assert_eq!(
            cmd,
            vec![
                dir.path()
                    .join("opt/pinctl/bin/pinctl")
                    .display()
                    .to_string(),
                "worker".into(),
                "rest-proxy".into(),
                "--config".into(),
                dir.path()
                    .join("etc/pinctl/kafka-rest.properties")
                    .display()
                    .to_string(),
                "--listen".into(),
                "127.0.0.1:48082".into(),
            ]
        );
        assert!(parse_unit("bad.service", "[Service]\nRestart=always\n")
            .unwrap_err()
            .to_string()
            .contains("bad.service: no ExecStart"));
    }
}
