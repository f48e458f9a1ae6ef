//! One conformance suite for every state backend (Terraform's `statemgr.TestFull`): the same
//! checks of locking, serial and lineage, run through the `pinctl` binary on each backend. A
//! `Site` is where a backend keeps a stack's state and lock, read and written behind pinctl's
//! back the way another run (or a person) would.

use std::path::PathBuf;
use std::time::Duration;

use pinctl::state::lock::hostname;
use pinctl::state::{LockInfo, StateFile, Status};

use super::{Moto, Project};

/// The stack the suite applies; `{state}` is the backend's `state:` section.
const STACK: &str = r#"
stack: conform
{state}
resources:
  one:
    type: sim.thing
    props: {name: one, size: 1}
  two:
    type: sim.thing
    props: {name: two, content: "${one.id}"}
"#;

/// Where a backend keeps the state and the lock of one stack's `default` env.
pub trait Site {
    /// The stack's `state:` section selecting this backend (empty: the default, local files).
    fn section(&self) -> String;
    fn read(&self, what: Item) -> Option<String>;
    fn write(&self, what: Item, text: &str);
}

#[derive(Debug, Clone, Copy)]
pub enum Item {
    State,
    Lock,
}

/// Local files under the project: `.pinctl/state/<stack>/default.{json,lock}`.
pub struct LocalSite {
    dir: PathBuf,
}

impl LocalSite {
    pub fn new(p: &Project, stack: &str) -> Self {
        LocalSite {
            dir: p.path().join(".pinctl/state").join(stack),
        }
    }

    fn path(&self, what: Item) -> PathBuf {
        self.dir.join(match what {
            Item::State => "default.json",
            Item::Lock => "default.lock",
        })
    }
}

impl Site for LocalSite {
    fn section(&self) -> String {
        String::new()
    }

    fn read(&self, what: Item) -> Option<String> {
        std::fs::read_to_string(self.path(what)).ok()
    }

    fn write(&self, what: Item, text: &str) {
        std::fs::create_dir_all(&self.dir).unwrap();
        std::fs::write(self.path(what), text).unwrap();
    }
}

/// Objects in a moto S3 bucket: `<prefix>/<stack>/default.{json,lock}`.
pub struct S3Site {
    rt: tokio::runtime::Runtime,
    s3: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
    stack: String,
}

impl S3Site {
    /// Creates the bucket. Call it outside an async runtime: the site has its own.
    pub fn new(moto: &Moto, bucket: &str, prefix: &str, stack: &str) -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let s3 = rt.block_on(moto.s3());
        rt.block_on(s3.create_bucket().bucket(bucket).send())
            .unwrap();
        S3Site {
            rt,
            s3,
            bucket: bucket.into(),
            prefix: prefix.into(),
            stack: stack.into(),
        }
    }

    pub fn key(&self, what: Item) -> String {
        let ext = match what {
            Item::State => "json",
            Item::Lock => "lock",
        };
        format!("{}/{}/default.{ext}", self.prefix, self.stack)
    }
}

impl Site for S3Site {
    fn section(&self) -> String {
        format!(
            "state:\n  backend: s3\n  bucket: {}\n  prefix: {}\n  region: us-east-1",
            self.bucket, self.prefix
        )
    }

    fn read(&self, what: Item) -> Option<String> {
        self.rt.block_on(async {
            let out = self
                .s3
                .get_object()
                .bucket(&self.bucket)
                .key(self.key(what))
                .send()
                .await
                .ok()?;
            let bytes = out.body.collect().await.ok()?.into_bytes();
            Some(String::from_utf8_lossy(&bytes).into_owned())
        })
    }

    fn write(&self, what: Item, text: &str) {
        self.rt
            .block_on(
                self.s3
                    .put_object()
                    .bucket(&self.bucket)
                    .key(self.key(what))
                    .body(text.as_bytes().to_vec().into())
                    .send(),
            )
            .unwrap();
    }
}

fn state(site: &dyn Site) -> Option<StateFile> {
    site.read(Item::State)
        .map(|t| serde_json::from_str(&t).expect("the state is a state file"))
}

fn lock(site: &dyn Site) -> Option<String> {
    site.read(Item::Lock)
}

/// The suite's stack, its state kept at `site`, with `one`'s `size: 1` replaced by `one_size`.
fn stack(site: &dyn Site, one_size: &str) -> String {
    STACK
        .replace("{state}", &site.section())
        .replace("size: 1", one_size)
}

/// The whole suite, in order, on a project with nothing in it yet; `site` is where the project's
/// stack `conform` keeps its state (`p.env` points pinctl at the service, if any).
pub fn conformance(p: &Project, site: &dyn Site) {
    p.stack(&stack(site, "size: 1"));
    reads_need_no_state_and_write_none(p, site);
    every_write_raises_the_serial_and_keeps_the_lineage(p, site);
    a_lock_held_elsewhere_refuses_changes_until_unlocked(p, site);
    a_lock_left_by_a_dead_process_of_this_host_is_taken_over(p, site);
    p.stack(&stack(site, "size: 2, delay_ms: 1500"));
    lock_excludes_a_second_run(p, site);
    another_stacks_state_is_refused_and_kept(p, site);
    destroy_empties_the_state_and_keeps_the_lineage(p, site);
}

fn reads_need_no_state_and_write_none(p: &Project, site: &dyn Site) {
    assert!(
        state(site).is_none() && lock(site).is_none(),
        "a fresh site"
    );
    p.run(&["plan"]).expect(2);
    assert!(state(site).is_none(), "plan wrote a state");
    assert!(lock(site).is_none(), "plan left a lock");
}

fn every_write_raises_the_serial_and_keeps_the_lineage(p: &Project, site: &dyn Site) {
    p.run(&["up", "--yes"]).expect(0);
    let first = state(site).expect("up writes the state");
    assert_eq!(
        (first.stack.as_str(), first.env.as_str()),
        ("conform", "default")
    );
    assert!(first.serial > 0, "{first:?}");
    assert!(!first.lineage.is_empty());
    for name in ["one", "two"] {
        assert_eq!(first.resources[name].status, Status::Ready, "{name}");
    }
    assert!(lock(site).is_none(), "lock released");

    p.stack(&stack(site, "size: 3"));
    p.run(&["up", "--yes"]).expect(0);
    let second = state(site).unwrap();
    assert!(
        second.serial > first.serial,
        "{} then {}",
        first.serial,
        second.serial
    );
    assert_eq!(second.lineage, first.lineage, "the lineage is kept");
    p.run(&["plan"]).expect(0);
}

fn a_lock_held_elsewhere_refuses_changes_until_unlocked(p: &Project, site: &dyn Site) {
    let before = state(site).unwrap();
    let foreign = serde_json::json!({
        "id": "other", "operation": "up", "who": "ci", "host": "build-host-7", "pid": 4242,
        "created": "2026-11-21T05:00:00Z"
    });
    site.write(Item::Lock, &foreign.to_string());
    p.stack(&stack(site, "size: 4"));
    let refused = p.run(&["up", "--yes"]);
    refused.expect(1);
    assert!(
        refused.stderr.contains(
            "locked by `pinctl up` by ci on build-host-7 (pid 4242) since 2026-11-21T05:00:00Z"
        ),
        "{}",
        refused.stderr
    );
    assert_eq!(state(site).unwrap(), before, "a refused run writes nothing");
    assert!(
        lock(site).is_some(),
        "a refused run leaves the holder's lock"
    );
    // Reads take no lock.
    p.run(&["plan"]).expect(2);
    p.run(&["state", "unlock", "--yes"]).expect(0);
    assert!(lock(site).is_none(), "unlocked");
    p.run(&["up", "--yes"]).expect(0);
}

fn a_lock_left_by_a_dead_process_of_this_host_is_taken_over(p: &Project, site: &dyn Site) {
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    let stale = LockInfo {
        id: "killed".into(),
        operation: "up".into(),
        who: "me".into(),
        host: hostname(),
        pid,
        created: "2026-11-21T05:00:00Z".into(),
    };
    site.write(Item::Lock, &serde_json::to_string(&stale).unwrap());
    let before = state(site).unwrap();
    p.stack(&stack(site, "size: 5"));
    p.run(&["up", "--yes"]).expect(0);
    let after = state(site).unwrap();
    assert!(after.serial > before.serial);
    assert_eq!(after.lineage, before.lineage);
    assert!(lock(site).is_none(), "the taken-over lock is released");
}

/// While one run holds the lock, a second fails at once naming the holder, and one given
/// `--lock-timeout` waits for it; nothing is created twice. `p`'s stack must make a run take
/// a second or more.
pub fn lock_excludes_a_second_run(p: &Project, site: &dyn Site) {
    let mut first_run = p.spawn(&["up", "--yes"]);
    let mut locked = false;
    for _ in 0..300 {
        if lock(site).is_some() {
            locked = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(locked, "the first run holds the lock");
    let second = p.run(&["up", "--yes"]);
    second.expect(1);
    assert!(
        second.stderr.contains("is locked by `pinctl up`"),
        "{}",
        second.stderr
    );
    assert!(
        second.stderr.contains(&format!("pid {}", first_run.id())),
        "{}",
        second.stderr
    );
    let waiting = p.run(&["up", "--yes", "--lock-timeout", "60s"]);
    waiting.expect(0);
    assert!(first_run.wait().unwrap().success());
    assert_eq!(
        p.objects().len(),
        state(site).unwrap().resources.len(),
        "no duplicate from the waiting run"
    );
    assert!(lock(site).is_none(), "lock released");
    p.run(&["plan"]).expect(0);
}

fn another_stacks_state_is_refused_and_kept(p: &Project, site: &dyn Site) {
    let ours = site.read(Item::State).unwrap();
    let mut other = state(site).unwrap();
    other.stack = "other".into();
    let other_text = serde_json::to_string_pretty(&other).unwrap();
    site.write(Item::State, &other_text);
    for args in [&["plan"][..], &["up", "--yes"]] {
        let r = p.run(args);
        r.expect(1);
        assert!(
            r.stderr
                .contains("belongs to stack `other` env `default`, not `conform`"),
            "{args:?}: {}",
            r.stderr
        );
    }
    assert_eq!(
        site.read(Item::State).unwrap(),
        other_text,
        "not overwritten"
    );
    assert!(lock(site).is_none(), "a refused run releases the lock");
    site.write(Item::State, &ours);
    p.run(&["plan"]).expect(0);
}

fn destroy_empties_the_state_and_keeps_the_lineage(p: &Project, site: &dyn Site) {
    let before = state(site).unwrap();
    p.run(&["down", "--yes"]).expect(0);
    let after = state(site).unwrap();
    assert!(after.resources.is_empty(), "{after:?}");
    assert!(after.serial > before.serial);
    assert_eq!(after.lineage, before.lineage);
    assert!(lock(site).is_none());
    assert!(p.objects().is_empty());
}
