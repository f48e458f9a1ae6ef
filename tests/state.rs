//! The state backends: the conformance suite (`util::backend`: locking, serial, lineage, another
//! stack's state refused) on local files and on S3 against moto server, and what is particular
//! to S3 (the object layout, no secret in the stored state, nothing written locally).

use crate::util::backend::{self, Item, LocalSite, S3Site, Site};
use crate::util::{Moto, Project};

const STACK: &str = r#"
stack: remote
params:
  token: {secret: true, from_env: REMOTE_TOKEN}
state:
  backend: s3
  bucket: pinctl-state-test
  prefix: teams/data
  region: us-east-1
resources:
  one:
    type: sim.thing
    props: {name: one, password: "${params.token}", delay_ms: 300}
  two:
    type: sim.thing
    props: {name: two, content: "${one.id}"}
"#;

fn project(moto: &Moto) -> Project {
    let mut p = Project::new();
    p.env = moto.env();
    p.env
        .push(("REMOTE_TOKEN".into(), "s3cr3t-token-value".into()));
    p.stack(STACK);
    p
}

/// What the S3 backend adds to the conformance suite: the object layout, no secret in the
/// stored state, nothing written locally.
#[test]
fn state_lives_in_s3_and_is_locked_with_a_conditional_write() {
    let moto = Moto::start();
    let site = S3Site::new(&moto, "pinctl-state-test", "teams/data", "remote");
    let p = project(&moto);

    p.run(&["up", "--yes"]).expect(0);
    assert_eq!(site.key(Item::State), "teams/data/remote/default.json");
    let state = site.read(Item::State).expect("state object");
    let doc: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert_eq!(doc["resources"]["one"]["status"], "ready");
    assert_eq!(doc["resources"]["two"]["status"], "ready");
    assert!(
        !state.contains("s3cr3t-token-value"),
        "secret in the S3 state:\n{state}"
    );
    assert!(site.read(Item::Lock).is_none(), "lock released");
    assert!(
        !p.path().join(".pinctl").exists(),
        "nothing written locally"
    );
    p.run(&["plan"]).expect(0);
    p.run(&["down", "--yes"]).expect(0);
    let state = site.read(Item::State).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert_eq!(doc["resources"], serde_json::json!({}));
    assert!(
        !p.path().join(".pinctl").exists(),
        "nothing written locally"
    );

    // Locking, serial and lineage: the same suite as the local backend's.
    let site = S3Site::new(&moto, "pinctl-state-conformance", "teams/data", "conform");
    let mut p = Project::new();
    p.env = moto.env();
    backend::conformance(&p, &site);
    assert!(
        !p.path().join(".pinctl").exists(),
        "nothing written locally"
    );
}

/// The local backend (files under `.pinctl/state`, locked by a hard-linked lock file) passes
/// the suite the S3 backend passes.
#[test]
fn local_state_files_pass_the_backend_conformance_suite() {
    let p = Project::new();
    backend::conformance(&p, &LocalSite::new(&p, "conform"));
}

#[test]
fn validate_contacts_no_service() {
    let mut p = Project::new();
    // Any AWS call would fail: nothing listens there and there are no credentials.
    p.env = vec![
        ("AWS_ENDPOINT_URL".into(), "http://127.0.0.1:9".into()),
        ("AWS_ACCESS_KEY_ID".into(), "".into()),
    ];
    p.stack(STACK);
    p.run(&["validate"]).expect(0);
    p.run(&["graph"]).expect(0);
}
