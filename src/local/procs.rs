//! The supervisor's processes: each runs from a spec, in its own process group (so stopping it
//! stops what it started), logs to a file, is restarted when it dies and replaced when its spec
//! changes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// What a supervised process stands for (`service`, `unit`, `connector`, `gateway`, `airflow`
/// in `local status --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Service,
    Unit,
    Connector,
    Gateway,
    Airflow,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub kind: Kind,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    /// Where it listens, when it does: it counts as running once this accepts connections.
    pub address: Option<String>,
    /// What a user calls (an invoke URL).
    pub url: Option<String>,
    /// Anything whose change means a restart although the command line is the same (a new
    /// binary behind the same path).
    pub version: String,
    pub detail: String,
}

/// What `local status` shows of one process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcStatus {
    pub name: String,
    pub kind: Kind,
    pub state: String,
    pub pid: Option<u32>,
    pub address: Option<String>,
    pub url: Option<String>,
    pub restarts: u32,
    pub log: PathBuf,
    pub detail: String,
    /// It exited [`CRASH_LOOP_EXITS`] times or more within [`CRASH_LOOP_WINDOW`]: restarting
    /// it does not help, and `local status` and `local wait` say so and fail.
    #[serde(default)]
    pub crash_looping: bool,
    /// How it last ended (`exited (exit status: 1)`), if it did.
    #[serde(default)]
    pub last_exit: Option<String>,
}

/// How many exits within [`CRASH_LOOP_WINDOW`] make a process crash-looping (it is restarted
/// every 3 s at most, so three exits in two minutes is a process that cannot stay up).
pub const CRASH_LOOP_EXITS: usize = 3;
/// See [`CRASH_LOOP_EXITS`].
pub const CRASH_LOOP_WINDOW: Duration = Duration::from_secs(120);

struct Running {
    spec: Spec,
    child: Option<tokio::process::Child>,
    pid: Option<u32>,
    started: Instant,
    restarts: u32,
    listening: bool,
    exit: Option<String>,
    /// When it exited lately (within [`CRASH_LOOP_WINDOW`]).
    exits: std::collections::VecDeque<Instant>,
}

impl Running {
    fn crash_looping(&self) -> bool {
        self.exits
            .iter()
            .filter(|t| t.elapsed() < CRASH_LOOP_WINDOW)
            .count()
            >= CRASH_LOOP_EXITS
    }
}

pub struct Procs {
    logs: PathBuf,
    running: BTreeMap<String, Running>,
}

impl Procs {
    pub fn new(logs: PathBuf) -> Procs {
        Procs {
            logs,
            running: BTreeMap::new(),
        }
    }

    pub fn log_path(&self, name: &str) -> PathBuf {
        self.logs.join(format!("{}.log", name.replace('/', "_")))
    }

    fn spawn(&self, name: &str, spec: &Spec) -> (Option<tokio::process::Child>, Option<String>) {
        let log = match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(name))
        {
            Ok(f) => f,
            Err(e) => return (None, Some(format!("cannot open its log: {e}"))),
        };
        let err = match log.try_clone() {
            Ok(f) => f,
            Err(e) => return (None, Some(format!("cannot open its log: {e}"))),
        };
        let mut cmd = tokio::process::Command::new(&spec.program);
        cmd.args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(err)
            .process_group(0)
            .kill_on_drop(false);
        if let Some(d) = &spec.cwd {
            cmd.current_dir(d);
        }
        match cmd.spawn() {
            Ok(c) => {
                tracing::info!(name, program = %spec.program.display(), "started");
                (Some(c), None)
            }
            Err(e) => (
                None,
                Some(format!("cannot start {}: {e}", spec.program.display())),
            ),
        }
    }

    /// Makes the running set equal `desired`, restarting what died (at most every 3 s).
    pub async fn reconcile(&mut self, desired: &BTreeMap<String, Spec>) {
        let gone: Vec<String> = self
            .running
            .keys()
            .filter(|k| !desired.contains_key(*k))
            .cloned()
            .collect();
        for name in gone {
            if let Some(r) = self.running.remove(&name) {
                tracing::info!(name, "no longer provisioned: stopping");
                stop(r).await;
            }
        }
        for (name, spec) in desired {
            if let Some(r) = self.running.get_mut(name) {
                if r.spec != *spec {
                    tracing::info!(name, "its definition changed: restarting");
                    let old = self.running.remove(name).expect("present");
                    stop(old).await;
                } else {
                    if let Some(c) = r.child.as_mut() {
                        if let Ok(Some(status)) = c.try_wait() {
                            r.exit = Some(format!("exited ({status})"));
                            r.child = None;
                            r.exits.push_back(Instant::now());
                            while r.exits.len() > CRASH_LOOP_EXITS
                                || r.exits
                                    .front()
                                    .is_some_and(|t| t.elapsed() > CRASH_LOOP_WINDOW)
                            {
                                r.exits.pop_front();
                            }
                            tracing::warn!(name, %status, "exited; restarting");
                        }
                    }
                    if r.child.is_none() && r.started.elapsed() > Duration::from_secs(3) {
                        let (child, err) = self.spawn(name, spec);
                        let r = self.running.get_mut(name).expect("present");
                        r.pid = child.as_ref().and_then(|c| c.id());
                        r.child = child;
                        r.started = Instant::now();
                        r.restarts += 1;
                        r.listening = false;
                        if err.is_some() {
                            r.exit = err;
                            r.exits.push_back(Instant::now());
                        }
                    }
                    continue;
                }
            }
            let (child, err) = self.spawn(name, spec);
            self.running.insert(
                name.clone(),
                Running {
                    spec: spec.clone(),
                    pid: child.as_ref().and_then(|c| c.id()),
                    child,
                    started: Instant::now(),
                    restarts: 0,
                    listening: false,
                    exit: err,
                    exits: Default::default(),
                },
            );
        }
        for r in self.running.values_mut() {
            if r.child.is_some() && !r.listening {
                if let Some(a) = &r.spec.address {
                    r.listening = tokio::net::TcpStream::connect(a.as_str()).await.is_ok();
                }
            }
        }
    }

    pub fn status(&self) -> Vec<ProcStatus> {
        self.running
            .iter()
            .map(|(name, r)| ProcStatus {
                name: name.clone(),
                kind: r.spec.kind.clone(),
                state: match (&r.child, &r.exit) {
                    (Some(_), _) if r.spec.address.is_some() && !r.listening => "starting".into(),
                    (Some(_), _) => "running".into(),
                    (None, Some(e)) => e.clone(),
                    (None, None) => "stopped".into(),
                },
                pid: r.child.as_ref().and(r.pid),
                address: r.spec.address.clone(),
                url: r.spec.url.clone(),
                restarts: r.restarts,
                log: self.log_path(name),
                detail: r.spec.detail.clone(),
                crash_looping: r.crash_looping(),
                last_exit: r.exit.clone(),
            })
            .collect()
    }

    pub fn running(&self, name: &str) -> bool {
        self.running
            .get(name)
            .is_some_and(|r| r.child.is_some() && (r.spec.address.is_none() || r.listening))
    }

    /// Stops everything, data plane first, services last.
    pub async fn stop_all(&mut self) {
        let names: Vec<String> = self.running.keys().cloned().collect();
        let (services, rest): (Vec<_>, Vec<_>) = names
            .into_iter()
            .partition(|n| self.running[n].spec.kind == Kind::Service);
        for group in [rest, services] {
            let stops = group
                .into_iter()
                .filter_map(|n| self.running.remove(&n))
                .map(stop);
            futures::future::join_all(stops).await;
        }
    }
}

/// SIGTERM to the process group, SIGKILL after 10 s.
async fn stop(mut r: Running) {
    let Some(mut child) = r.child.take() else {
        return;
    };
    if let Some(pid) = r.pid {
        terminate_group(pid);
    }
    if tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .is_err()
    {
        if let Some(pid) = r.pid {
            unsafe { libc::kill(-(pid as i32), libc::SIGKILL) };
        }
        let _ = child.wait().await;
    }
}

pub fn terminate_group(pid: u32) {
    // SAFETY: kill(2) on a process group the supervisor created.
    unsafe { libc::kill(-(pid as i32), libc::SIGTERM) };
}

pub fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unit that exits at once is restarted every 3 s; after its third exit within two
    /// minutes it is crash-looping, with how it ended and its log.
    #[tokio::test]
    async fn a_process_that_keeps_exiting_is_crash_looping() {
        let dir = tempfile::tempdir().unwrap();
        let mut procs = Procs::new(dir.path().to_path_buf());
        let spec = Spec {
            kind: Kind::Unit,
            program: "/bin/sh".into(),
            args: vec!["-c".into(), "echo cannot bind; exit 7".into()],
            env: vec![],
            cwd: None,
            address: None,
            url: None,
            version: String::new(),
            detail: "test".into(),
        };
        let desired = BTreeMap::from([("i-1/pinctl-rest-proxy".to_string(), spec)]);
        let t0 = Instant::now();
        let status = loop {
            procs.reconcile(&desired).await;
            let s = procs.status().remove(0);
            if s.crash_looping || t0.elapsed() > Duration::from_secs(30) {
                break s;
            }
            assert!(!s.crash_looping);
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert!(status.crash_looping, "{status:?}");
        assert!(status.restarts >= 2, "{status:?}");
        assert!(
            status.last_exit.as_deref().unwrap_or("").contains('7'),
            "{status:?}"
        );
        let log = std::fs::read_to_string(&status.log).unwrap();
        assert!(log.contains("cannot bind"), "{log}");
        procs.reconcile(&BTreeMap::new()).await;
    }
}
