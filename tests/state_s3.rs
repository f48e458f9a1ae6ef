//! The S3 state backend against moto server: state object, conditional-write lock, unlock,
//! and no secret in the stored state.

mod common;

use common::{Moto, Project};

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

async fn get(s3: &aws_sdk_s3::Client, key: &str) -> Option<String> {
    let out = s3
        .get_object()
        .bucket("pinctl-state-test")
        .key(key)
        .send()
        .await
        .ok()?;
    let bytes = out.body.collect().await.ok()?.into_bytes();
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn state_lives_in_s3_and_is_locked_with_a_conditional_write() {
    let moto = Moto::start();
    let s3 = moto.s3().await;
    s3.create_bucket()
        .bucket("pinctl-state-test")
        .send()
        .await
        .unwrap();
    let p = project(&moto);

    p.run(&["up", "--yes"]).expect(0);
    let state = get(&s3, "teams/data/remote/default.json")
        .await
        .expect("state object");
    let doc: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert_eq!(doc["resources"]["one"]["status"], "ready");
    assert_eq!(doc["resources"]["two"]["status"], "ready");
    assert!(
        !state.contains("s3cr3t-token-value"),
        "secret in the S3 state:\n{state}"
    );
    assert!(
        get(&s3, "teams/data/remote/default.lock").await.is_none(),
        "lock released"
    );
    assert!(
        !p.path().join(".pinctl").exists(),
        "nothing written locally"
    );
    p.run(&["plan"]).expect(0);

    // A lock held by a run elsewhere: refused with who and since when.
    let foreign = serde_json::json!({
        "id": "other", "operation": "up", "who": "ci", "host": "build-host-7", "pid": 4242,
        "created": "2026-11-21T05:00:00Z"
    });
    s3.put_object()
        .bucket("pinctl-state-test")
        .key("teams/data/remote/default.lock")
        .body(serde_json::to_vec(&foreign).unwrap().into())
        .send()
        .await
        .unwrap();
    let refused = p.run(&["up", "--yes"]);
    refused.expect(1);
    assert!(
        refused.stderr.contains(
            "locked by `pinctl up` by ci on build-host-7 (pid 4242) since 2026-11-21T05:00:00Z"
        ),
        "{}",
        refused.stderr
    );
    p.run(&["state", "unlock", "--yes"]).expect(0);
    assert!(get(&s3, "teams/data/remote/default.lock").await.is_none());

    // Two runs at once: the second fails fast.
    p.stack(&STACK.replace("name: two,", "name: two, size: 2, delay_ms: 1500,"));
    let mut first = p.spawn(&["up", "--yes"]);
    let mut locked = false;
    for _ in 0..300 {
        if get(&s3, "teams/data/remote/default.lock").await.is_some() {
            locked = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(locked, "the first run took the lock");
    let second = p.run(&["up", "--yes"]);
    second.expect(1);
    assert!(
        second.stderr.contains("is locked by `pinctl up`"),
        "{}",
        second.stderr
    );
    assert!(first.wait().unwrap().success());
    p.run(&["plan"]).expect(0);
    p.run(&["down", "--yes"]).expect(0);
    let state = get(&s3, "teams/data/remote/default.json").await.unwrap();
    let doc: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert_eq!(doc["resources"], serde_json::json!({}));
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
