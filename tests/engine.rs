//! The engine through the binary, with the simulated provider (`sim.thing`): plan actions and
//! reasons, the parallel walk, failure handling, crash recovery, locking, secrets, drift, destroy.

use std::time::Duration;

use crate::util::backend::{lock_excludes_a_second_run, LocalSite};
use crate::util::plan::{Action, DriftExt, DriftStatus, PlanExt, ResourcePlanExt};
use crate::util::{first, max_in_flight, Project};
use pinctl::engine::plan::ReasonCode;
use serde_json::Value;

const THREE: &str = r#"
stack: demo
resources:
  base:
    type: sim.thing
    props: {name: base, size: 1, zone: a}
  mid:
    type: sim.thing
    props:
      name: mid
      content: "base is ${base.id}"
  top:
    type: sim.thing
    props: {name: top, items: ["${mid.arn}", "x"]}
"#;

#[test]
fn create_then_nothing_to_do() {
    let p = Project::new();
    p.stack(THREE);
    let plan = p.plan_changes();
    assert!(plan.changes);
    assert_eq!(
        plan.actions(),
        vec![
            ("base".into(), Action::Create),
            ("mid".into(), Action::Create),
            ("top".into(), Action::Create)
        ]
    );
    let content = plan.resource("mid").change("content");
    assert!(
        content.known_after_apply,
        "mid needs base's id: {content:?}"
    );
    assert_eq!(
        content.new, None,
        "unknown is null in the JSON: {content:?}"
    );
    let raw = p.run(&["plan", "--json"]).stdout;
    assert!(
        !raw.contains('\u{e000}') && !raw.contains("\\ue000"),
        "no internal marker in plan --json: {raw}"
    );
    let text = p.run(&["plan"]);
    assert!(
        text.stdout.contains("content: (known after apply)"),
        "{}",
        text.stdout
    );

    p.run(&["up", "--yes"]).expect(0);
    let objects = p.objects();
    assert_eq!(objects.len(), 3);
    let base_id = p.object_named("base").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        p.object_named("mid").unwrap()["props"]["content"],
        format!("base is {base_id}")
    );
    let mid_arn = format!(
        "arn:sim:thing::mid/{}",
        p.object_named("mid").unwrap()["id"].as_str().unwrap()
    );
    assert_eq!(p.object_named("top").unwrap()["props"]["items"][0], mid_arn);
    for o in &objects {
        let tags = &o["tags"];
        assert_eq!(tags["pinctl:stack"], "demo");
        assert_eq!(tags["pinctl:env"], "default");
        assert_eq!(tags["pinctl:id"], o["props"]["name"]);
    }
    let state = p.state("demo", "default");
    for name in ["base", "mid", "top"] {
        assert_eq!(state["resources"][name]["status"], "ready");
    }
    assert_eq!(
        state["resources"]["base"]["outputs"]["id"],
        base_id.as_str()
    );

    let events_before = p.events().len();
    let again = p.run(&["plan", "--json"]);
    again.expect(0);
    assert!(!again.plan().changes);
    p.run(&["up", "--yes"]).expect(0);
    assert_eq!(
        p.events().len(),
        events_before,
        "a second up must not call anything that changes"
    );
}

#[test]
fn in_place_update_and_replacement_with_reasons() {
    let p = Project::new();
    p.stack(THREE);
    p.run(&["up", "--yes"]).expect(0);
    let base_id = p.object_named("base").unwrap()["id"].clone();

    p.stack(&THREE.replace("size: 1", "size: 5"));
    let plan = p.plan_changes();
    let base = plan.resource("base");
    assert_eq!(base.action, Action::Update);
    let change = &base.changes[0];
    assert_eq!(
        (change.path.as_str(), &change.old, &change.new),
        ("size", &Some(Value::from(1)), &Some(Value::from(5)))
    );
    assert!(!change.forces_replacement);
    assert_eq!(plan.action("mid"), Action::NoOp);
    p.run(&["up", "--yes"]).expect(0);
    let base = p.object_named("base").unwrap();
    assert_eq!(base["id"], base_id, "updated in place");
    assert_eq!(base["props"]["size"], 5);

    p.stack(
        &THREE
            .replace("size: 1", "size: 5")
            .replace("zone: a", "zone: b"),
    );
    let plan = p.plan_changes();
    let base = plan.resource("base");
    assert_eq!(base.action, Action::Replace);
    let zone = base.change("zone");
    assert!(zone.forces_replacement);
    assert_eq!(
        zone.reason.as_deref(),
        Some("a thing cannot move to another zone")
    );
    // mid's content embeds base's id, which the replacement changes.
    assert_eq!(plan.action("mid"), Action::Update);
    let text = p.run(&["plan"]);
    assert!(
        text.stdout
            .contains("-/+ base (sim.thing) will be replaced"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout
            .contains("# forces replacement: a thing cannot move to another zone"),
        "{}",
        text.stdout
    );

    p.run(&["up", "--yes"]).expect(0);
    let new_base = p.object_named("base").unwrap();
    assert_ne!(new_base["id"], base_id, "replaced");
    assert_eq!(p.objects().len(), 3, "the old one is gone");
    let new_id = new_base["id"].as_str().unwrap();
    assert_eq!(
        p.object_named("mid").unwrap()["props"]["content"],
        format!("base is {new_id}")
    );
    p.run(&["plan"]).expect(0);
}

#[test]
fn removed_resources_are_deleted_and_down_removes_everything_dependents_first() {
    let p = Project::new();
    p.stack(THREE);
    p.run(&["up", "--yes"]).expect(0);
    // top is removed from the stack.
    let two = THREE.split("  top:").next().unwrap().to_string();
    p.stack(&two);
    assert_eq!(p.plan_changes().action("top"), Action::Delete);
    p.run(&["up", "--yes"]).expect(0);
    assert!(p.object_named("top").is_none());

    p.stack(THREE);
    p.run(&["up", "--yes"]).expect(0);
    let down = p.run(&["down", "--yes"]);
    down.expect(0);
    assert!(p.objects().is_empty());
    let ev = p.events();
    assert!(first(&ev, "end", "delete", "top") <= first(&ev, "begin", "delete", "mid"));
    assert!(first(&ev, "end", "delete", "mid") <= first(&ev, "begin", "delete", "base"));
    assert_eq!(
        p.state("demo", "default")["resources"],
        serde_json::json!({})
    );
    p.run(&["down", "--yes"]).expect(0);
}

#[test]
fn down_tolerates_resources_already_gone() {
    let p = Project::new();
    p.stack(THREE);
    p.run(&["up", "--yes"]).expect(0);
    p.remove_object("mid");
    p.run(&["down", "--yes"]).expect(0);
    assert!(p.objects().is_empty());
}

/// A creation that failed on props that do not convert (as a stack `validate` once let
/// through left it: recorded `creating`, no id) never reached the service: once the stack is
/// fixed, `down` ends it and the state is empty.
#[test]
fn a_stack_applied_with_bad_props_comes_down_once_fixed() {
    let p = Project::new();
    p.stack("stack: demo\nresources:\n  a:\n    type: sim.thing\n    props: {name: a}\n");
    p.run(&["up", "--yes"]).expect(0);
    let mut state = p.state("demo", "default");
    let mut entry = state["resources"]["a"].clone();
    p.run(&["down", "--yes"]).expect(0);
    entry["status"] = "creating".into();
    entry["physical_id"] = Value::Null;
    entry["props"] = serde_json::json!({"name": 5, "size": "big"});
    state["resources"] = serde_json::json!({ "b": entry });
    std::fs::write(
        p.state_path("demo", "default"),
        serde_json::to_vec_pretty(&state).unwrap(),
    )
    .unwrap();
    p.stack("stack: demo\nresources:\n  b:\n    type: sim.thing\n    props: {name: b}\n");
    p.run(&["down", "--yes"]).expect(0);
    let state = p.state("demo", "default");
    assert_eq!(state["resources"], serde_json::json!({}), "{state:#}");
    assert!(p.objects().is_empty());
}

fn fan(n: usize, delay: u64, extra: &str) -> String {
    let mut s = String::from("stack: fan\nresources:\n");
    for i in 0..n {
        s.push_str(&format!(
            "  t{i}:\n    type: sim.thing\n    props: {{name: t{i}, delay_ms: {delay}}}\n"
        ));
    }
    s.push_str(extra);
    s
}

#[test]
fn parallel_walk_honours_dependencies_and_the_bound() {
    let p = Project::new();
    let extra = "  after:\n    type: sim.thing\n    props: {name: after, delay_ms: 100, content: \"${t0.id} ${t5.id}\"}\n";
    p.stack(&fan(6, 400, extra));
    p.run(&["up", "--yes", "--parallelism", "2"]).expect(0);
    let ev = p.events();
    let peak = max_in_flight(&ev, "create");
    assert_eq!(peak, 2, "two at a time with --parallelism 2");
    let start_after = first(&ev, "begin", "create", "after");
    assert!(start_after >= first(&ev, "end", "create", "t0"));
    assert!(start_after >= first(&ev, "end", "create", "t5"));

    let q = Project::new();
    q.stack(&fan(6, 400, ""));
    q.run(&["up", "--yes", "--parallelism", "10"]).expect(0);
    assert_eq!(
        max_in_flight(&q.events(), "create"),
        6,
        "independent resources are created together"
    );
}

#[test]
fn a_failure_stops_new_work_and_in_flight_work_finishes_and_is_recorded() {
    let p = Project::new();
    p.stack(
        r#"
stack: fail
resources:
  a_bad:
    type: sim.thing
    props: {name: a_bad, fail: true}
  b_slow:
    type: sim.thing
    props: {name: b_slow, delay_ms: 800}
  c1: {type: sim.thing, props: {name: c1}}
  c2: {type: sim.thing, props: {name: c2}}
  c3: {type: sim.thing, props: {name: c3}}
"#,
    );
    let run = p.run(&["up", "--yes", "--parallelism", "2", "--json"]);
    run.expect(1);
    let events = run.events();
    assert_eq!(events[0]["type"], "plan", "the plan comes first");
    let at = |kind: &str, r: &str| {
        events
            .iter()
            .position(|e| e["type"] == kind && e["resource"] == r)
            .unwrap_or_else(|| panic!("no {kind} event for {r}: {events:?}"))
    };
    assert!(at("op_started", "b_slow") < at("op_finished", "b_slow"));
    assert!(
        at("state_recorded", "b_slow") < at("op_finished", "b_slow"),
        "state is recorded before the operation is reported finished"
    );
    let report = run.apply_report();
    let outcome = |r: &str| {
        report["operations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["resource"] == r)
            .unwrap()["outcome"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(outcome("a_bad"), "failed");
    assert_eq!(outcome("b_slow"), "done");
    for c in ["c1", "c2", "c3"] {
        assert_eq!(outcome(c), "skipped");
    }
    let err = report["operations"][0]["error"]
        .as_str()
        .unwrap_or_default()
        .to_string()
        + report["operations"][1]["error"]
            .as_str()
            .unwrap_or_default();
    assert!(
        err.contains("SimulatedFailure"),
        "the service's error code is reported: {report}"
    );
    let names: Vec<String> = p
        .objects()
        .iter()
        .map(|o| o["props"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, vec!["b_slow"]);
    let state = p.state("fail", "default");
    assert_eq!(state["resources"]["b_slow"]["status"], "ready");
    assert_eq!(
        state["resources"]["a_bad"]["status"], "creating",
        "the failed attempt is recorded"
    );
    assert!(state["resources"].get("c1").is_none());

    // Fixed, the next run converges.
    p.stack(
        &std::fs::read_to_string(p.path().join("stack.yaml"))
            .unwrap()
            .replace("fail: true", "fail: false"),
    );
    p.run(&["up", "--yes"]).expect(0);
    assert_eq!(p.objects().len(), 5);
    p.run(&["plan"]).expect(0);
}

#[test]
fn killed_during_apply_the_next_run_resumes_without_duplicates() {
    let extra = "  joined:\n    type: sim.thing\n    props: {name: joined, delay_ms: 500, content: \"${t0.id}-${t1.id}\"}\n";
    let mut interrupted_creations = 0;
    // Killed at three points of the run, each found from the state file rather than a clock (a
    // loaded machine starts the run late): creations in flight with 0, 2 and 4 resources ready.
    for ready_at_kill in [0usize, 2, 4] {
        let p = Project::new();
        p.stack(&fan(4, 900, extra));
        let mut child = p.spawn(&["up", "--yes", "--parallelism", "3"]);
        let path = p.state_path("fan", "default");
        let t0 = std::time::Instant::now();
        loop {
            let s = std::fs::read_to_string(&path).unwrap_or_default();
            if s.contains("\"creating\"") && s.matches("\"ready\"").count() >= ready_at_kill {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "no creation in flight with {ready_at_kill} ready: {s}"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        let kill_after_ms = t0.elapsed().as_millis();
        let state_after_kill =
            std::fs::read_to_string(p.state_path("fan", "default")).unwrap_or_default();
        if state_after_kill.contains("\"creating\"") {
            interrupted_creations += 1;
        }
        p.run(&["up", "--yes"]).expect(0);
        let objects = p.objects();
        let mut names: Vec<&str> = objects
            .iter()
            .map(|o| o["props"]["name"].as_str().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            vec!["joined", "t0", "t1", "t2", "t3"],
            "killed at {kill_after_ms} ms; state then:\n{state_after_kill}"
        );
        let state = p.state("fan", "default");
        for (name, r) in state["resources"].as_object().unwrap() {
            assert_eq!(r["status"], "ready", "{name}");
            let obj = p.object_named(name).unwrap();
            assert_eq!(
                r["physical_id"], obj["id"],
                "{name}: state points at the live object"
            );
        }
        p.run(&["plan"]).expect(0);
        assert!(
            !p.path().join(".pinctl/state/fan/default.lock").exists(),
            "no lock left behind"
        );
    }
    assert!(
        interrupted_creations >= 2,
        "the kills must land while creations are in flight"
    );
}

/// A run killed while its create request is still on its way through the service (accepted,
/// not yet visible to a describe: moto's CreateVpc under load, AWS's CreateKeyPair) must not
/// make a second copy when the next run starts at once, whether that run is `up` or `down`.
#[test]
fn a_creation_that_lands_after_the_kill_is_adopted_not_duplicated() {
    const LATE: &str = "stack: late\nresources:\n  slow:\n    type: sim.thing\n    props: {name: slow, lands_after_ms: 3000}\n";
    for next in ["up", "down"] {
        let p = Project::new();
        p.stack(LATE);
        let mut child = p.spawn(&["up", "--yes"]);
        let log = p.sim_dir().join("events.log");
        let t0 = std::time::Instant::now();
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("\"begin\"")
        {
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "the create never began"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        let state = p.state("late", "default");
        assert_eq!(state["resources"]["slow"]["status"], "creating");
        assert!(state["resources"]["slow"]["physical_id"].is_null());
        let r = p.run(&[next, "--yes"]);
        r.expect(0);
        let objects = p.objects();
        if next == "up" {
            assert_eq!(
                objects.len(),
                1,
                "one thing, adopted: {objects:?}\n{}",
                r.stderr
            );
            assert_eq!(
                p.physical_id("late", "default", "slow"),
                objects[0]["id"].as_str().unwrap()
            );
            p.run(&["plan"]).expect(0);
        } else {
            assert!(
                objects.is_empty(),
                "down removed the late arrival: {objects:?}"
            );
        }
    }
}

#[test]
fn a_resumed_creation_with_its_id_recorded_is_brought_to_the_stack() {
    // A run adopted what a killed run made (its id is recorded) and died before bringing it to
    // the stack's props: the next run converges it rather than taking it as created.
    const ONE: &str =
        "stack: adopted\nresources:\n  it:\n    type: sim.thing\n    props: {name: it, size: 1}\n";
    let p = Project::new();
    p.stack(ONE);
    p.run(&["up", "--yes"]).expect(0);
    p.tamper("it", |props| props["size"] = Value::from(42));
    let path = p.state_path("adopted", "default");
    let mut state = p.state("adopted", "default");
    state["resources"]["it"]["status"] = Value::from("creating");
    std::fs::write(&path, serde_json::to_vec_pretty(&state).unwrap()).unwrap();
    let r = p.run(&["up", "--yes"]);
    r.expect(0);
    assert_eq!(p.objects().len(), 1, "resumed, not created again");
    assert_eq!(
        p.object_named("it").unwrap()["props"]["size"],
        1,
        "converged to the stack's props\n{}",
        r.stderr
    );
    p.run(&["diff"]).expect(0);
}

#[test]
fn a_delete_refused_after_it_ran_is_done_not_failed() {
    const ONE: &str = "stack: gone\nresources:\n  it:\n    type: sim.thing\n    props: {name: it, delete_refused_after_running: true}\n";
    let p = Project::new();
    p.stack(ONE);
    p.run(&["up", "--yes"]).expect(0);
    let r = p.run(&["down", "--yes"]);
    r.expect(0);
    assert!(p.objects().is_empty());
    assert!(
        p.state("gone", "default")["resources"]
            .as_object()
            .is_none_or(|m| m.is_empty()),
        "nothing left in state"
    );
    assert!(
        p.events()
            .iter()
            .any(|e| e.event == "refused" && e.op == "delete"),
        "the refusal happened"
    );
}

/// Issue 17 item 4: `diff --format markdown` and `plan --format markdown` for a pull-request
/// comment, checked against stored renderings of a known drift: a field changed by hand, a
/// resource deleted by hand, a secret changed by hand (shown as sensitive, its values never),
/// and a value with a pipe that must not break the table.
#[test]
fn drift_and_plan_render_as_markdown_for_a_pull_request() {
    let mut p = Project::new();
    p.env
        .push(("DEMO_PASSWORD".into(), "hunter2-very-secret".into()));
    p.stack(
        r#"
stack: md
params:
  db_password: {secret: true, from_env: DEMO_PASSWORD}
resources:
  base:
    type: sim.thing
    props: {name: base, size: 1, content: "a | b"}
  db:
    type: sim.thing
    props: {name: db, password: "${params.db_password}"}
  top:
    type: sim.thing
    props: {name: top, items: [x, "y|z"]}
"#,
    );
    p.run(&["up", "--yes"]).expect(0);
    p.tamper("base", |props| {
        props["size"] = Value::from(42);
        props["content"] = Value::from("a | c");
    });
    p.tamper("db", |props| {
        props["password"] = Value::from("changed-in-the-console")
    });
    p.remove_object("top");
    let diff = p.run(&["diff", "--format", "markdown"]);
    diff.expect(2);
    let plan = p.run(&["plan", "--format", "markdown"]);
    plan.expect(2);
    for (out, golden) in [(&diff.stdout, "drift.md"), (&plan.stdout, "plan.md")] {
        assert!(!out.contains("hunter2") && !out.contains("changed-in-the-console"));
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/markdown")
            .join(golden);
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}\nthe rendering:\n{out}", path.display()));
        assert_eq!(out, &want, "{} differs", path.display());
    }
    // `--json` and another `--format` is a usage error, not a guess.
    let both = p.run(&["diff", "--json", "--format", "markdown"]);
    both.expect(1);
    assert!(both.stderr.contains("two formats"), "{}", both.stderr);
}

#[test]
fn a_second_concurrent_run_fails_fast_or_waits_with_lock_timeout() {
    let p = Project::new();
    p.stack(&fan(2, 1500, ""));
    // The state backend conformance suite's check, on a run that creates.
    lock_excludes_a_second_run(&p, &LocalSite::new(&p, "fan"));
    assert_eq!(p.objects().len(), 2, "no duplicate from the waiting run");
}

#[test]
fn secrets_never_reach_state_plans_or_outputs() {
    let mut p = Project::new();
    let secret = "hunter2-very-secret";
    p.env.push(("DEMO_PASSWORD".into(), secret.into()));
    p.stack(
        r#"
stack: sec
params:
  db_password: {secret: true, from_env: DEMO_PASSWORD}
resources:
  db:
    type: sim.thing
    props:
      name: db
      password: ${params.db_password}
  app:
    type: sim.thing
    props:
      name: app
      content: "postgres://app:${params.db_password}@${db.id}/x"
"#,
    );
    let plan = p.run(&["plan"]);
    plan.expect(2);
    assert!(!plan.stdout.contains(secret) && !plan.stderr.contains(secret));
    assert!(
        plan.stdout.contains("password: (sensitive)"),
        "{}",
        plan.stdout
    );
    let plan_json = p.run(&["plan", "--json"]);
    assert!(!plan_json.stdout.contains(secret));
    let up = p.run(&["up", "--yes"]);
    up.expect(0);
    assert!(!up.stdout.contains(secret) && !up.stderr.contains(secret));
    let state_text = std::fs::read_to_string(p.state_path("sec", "default")).unwrap();
    assert!(
        !state_text.contains(secret),
        "secret in state:\n{state_text}"
    );
    assert!(!state_text.contains("hunter2"));
    let show = p.run(&["state", "show", "app"]);
    assert!(!show.stdout.contains(secret));
    // The service did get it.
    assert_eq!(p.object_named("db").unwrap()["props"]["password"], secret);
    p.run(&["plan"]).expect(0);
    // A new secret value is a change, shown only as sensitive.
    p.env = vec![("DEMO_PASSWORD".into(), "another-one".into())];
    let changed = p.run(&["plan", "--json"]);
    changed.expect(2);
    let db = changed.plan().resource("db").clone();
    assert_eq!(db.action, Action::Update);
    assert!(db.changes[0].sensitive);
    assert!(!changed.stdout.contains("another-one"));
}

#[test]
fn drift_is_reported_field_by_field_and_up_repairs_it() {
    let p = Project::new();
    p.stack(THREE);
    p.run(&["up", "--yes"]).expect(0);
    p.run(&["diff"]).expect(0);
    p.tamper("base", |props| props["size"] = Value::from(42));
    let drift = p.drift_report();
    let base = drift.resource("base");
    assert_eq!(base.status, DriftStatus::Drifted);
    assert_eq!(base.changes[0].path, "size");
    assert_eq!(base.changes[0].recorded, Some(Value::from(1)));
    assert_eq!(base.changes[0].live, Some(Value::from(42)));
    let text = p.run(&["diff"]);
    assert!(
        text.stdout
            .contains("~ base (sim.thing): changed outside pinctl"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("size: recorded 1 , live 42"),
        "{}",
        text.stdout
    );
    assert_eq!(p.plan_changes().action("base"), Action::Update);
    p.run(&["up", "--yes"]).expect(0);
    assert_eq!(p.object_named("base").unwrap()["props"]["size"], 1);
    p.run(&["diff"]).expect(0);

    p.remove_object("top");
    assert_eq!(
        p.drift_report().resource("top").status,
        DriftStatus::Missing
    );
    let plan = p.run(&["plan", "--json"]).plan();
    let top = plan.resource("top");
    assert_eq!(top.action, Action::Create);
    assert_eq!(
        top.reason.as_ref().map(|r| (r.code, r.text.as_str())),
        Some((
            ReasonCode::DeletedOutside,
            "it no longer exists (deleted outside pinctl)"
        ))
    );
    p.run(&["up", "--yes"]).expect(0);
    p.run(&["diff"]).expect(0);
}

#[test]
fn plan_exit_codes_and_json_documents() {
    let p = Project::new();
    p.stack(THREE);
    let r = p.run(&["plan", "--json"]);
    r.expect(2);
    let plan = r.plan();
    assert_eq!(plan.format_version, 1);
    assert_eq!(plan.summary.create, 3);
    assert_eq!(
        r.stdout.trim_start().chars().next(),
        Some('{'),
        "nothing but JSON on stdout"
    );
    p.run(&["up", "--yes"]).expect(0);
    let r = p.run(&["plan", "--json"]);
    r.expect(0);
    assert_eq!(r.plan().summary.no_op, 3);
    // Errors: a broken stack, an unknown env.
    p.stack("stack: demo\nresources:\n  a: {type: sim.thing, props: {}}\n");
    let r = p.run(&["plan", "--json"]);
    r.expect(1);
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("stack.yaml:3:"), "{}", r.stderr);
    p.stack(THREE);
    let r = p.run(&["plan", "--env", "nope"]);
    r.expect(1);
    assert!(r.stderr.contains("unknown env `nope`"), "{}", r.stderr);
    // --destroy plans deletions.
    let r = p.run(&["plan", "--destroy", "--json"]);
    r.expect(2);
    assert_eq!(r.plan().summary.delete, 3);
}

#[test]
fn up_without_yes_in_a_non_interactive_session_changes_nothing() {
    let p = Project::new();
    p.stack(THREE);
    let r = p.run(&["up"]);
    r.expect(1);
    assert!(r.stderr.contains("pass --yes"), "{}", r.stderr);
    assert!(p.objects().is_empty());
    assert!(!p.path().join(".pinctl/state/demo/default.lock").exists());
}

#[test]
fn env_overlays_params_and_templates() {
    let p = Project::new();
    p.write(
        "templates/motd.txt",
        "hello ${vars.who} from ${stack.env}: ${base.id} uid=${params.uid} on ${vars.base}\n$${HOME} stays\n",
    );
    p.stack(
        r#"
stack: envs
default_env: dev
params:
  uid: {default: aaaaaaaaaaaa, pattern: "^[0-9a-f]{12}$"}
  size: {type: integer, default: 1}
envs:
  dev: {}
  prod:
    params: {size: 3, uid: bbbbbbbbbbbb}
    resources:
      base:
        props: {zone: z-prod}
resources:
  base:
    type: sim.thing
    props: {name: "base-${params.uid}", size: "${params.size}", zone: z}
  motd:
    type: sim.thing
    props:
      name: motd
      content:
        template: templates/motd.txt
        vars: {who: "${params.uid}", base: "${base.name}"}
"#,
    );
    p.run(&["up", "--yes"]).expect(0);
    let base = p.object_named("base-aaaaaaaaaaaa").unwrap();
    assert_eq!(base["props"]["size"], 1);
    let id = base["id"].as_str().unwrap();
    assert_eq!(
        p.object_named("motd").unwrap()["props"]["content"],
        format!("hello aaaaaaaaaaaa from dev: {id} uid=aaaaaaaaaaaa on base-aaaaaaaaaaaa\n${{HOME}} stays\n")
    );
    p.run(&["up", "--yes", "--env", "prod"]).expect(0);
    let prod = p.object_named("base-bbbbbbbbbbbb").unwrap();
    assert_eq!(prod["props"]["size"], 3);
    assert_eq!(prod["props"]["zone"], "z-prod");
    assert!(p.state_path("envs", "dev").exists() && p.state_path("envs", "prod").exists());
    let r = p.run(&["plan", "--env", "prod", "--param", "uid=NOTHEX"]);
    r.expect(1);
    assert!(
        r.stderr.contains("does not match the pattern"),
        "{}",
        r.stderr
    );
}

#[test]
fn graph_outputs_and_state_commands() {
    let p = Project::new();
    p.stack(THREE);
    let dot = p.run(&["graph"]);
    dot.expect(0);
    assert!(dot.stdout.starts_with("digraph"));
    assert!(
        dot.stdout.contains("\"base\" -> \"mid\";") && dot.stdout.contains("\"mid\" -> \"top\";"),
        "{}",
        dot.stdout
    );
    let mermaid = p.run(&["graph", "--format", "mermaid"]);
    assert!(mermaid.stdout.starts_with("flowchart LR") && mermaid.stdout.contains("base --> mid"));
    p.run(&["up", "--yes"]).expect(0);
    let outputs = p.run(&["outputs", "--json"]);
    outputs.expect(0);
    let id = p.object_named("base").unwrap()["id"].clone();
    assert_eq!(outputs.json()["base"]["id"], id);
    let list = p.run(&["state", "list"]);
    assert!(
        list.stdout
            .lines()
            .any(|l| l.starts_with("base\tsim.thing\tready\t")),
        "{}",
        list.stdout
    );
    let show = p.run(&["state", "show", "base"]);
    assert_eq!(show.json()["physical_id"], id);
    p.run(&["state", "show", "nope"]).expect(1);
}

#[test]
fn create_before_destroy_replaces_new_one_first() {
    let p = Project::new();
    let stack = r#"
stack: cbd
resources:
  deployment:
    type: sim.versioned
    props: {name: deployment, zone: v1}
  stage:
    type: sim.thing
    props: {name: stage, content: "${deployment.id}"}
"#;
    p.stack(stack);
    p.run(&["up", "--yes"]).expect(0);
    let old_id = p.object_named("deployment").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    p.stack(&stack.replace("zone: v1", "zone: v2"));
    let plan = p.run(&["plan"]);
    plan.expect(2);
    assert!(
        plan.stdout
            .contains("-/+ deployment (sim.versioned) will be replaced (new one first)"),
        "{}",
        plan.stdout
    );
    p.run(&["up", "--yes"]).expect(0);
    let new_id = p.object_named("deployment").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new_id, old_id);
    assert_eq!(p.object_named("stage").unwrap()["props"]["content"], new_id);
    let ev = p.events();
    let old_deleted = ev
        .iter()
        .find(|e| e.op == "delete" && e.event == "begin")
        .unwrap()
        .ts;
    assert!(
        first(&ev, "end", "create", "deployment") < old_deleted,
        "the old one stays until the new one exists"
    );
    let stage_updated = ev
        .iter()
        .find(|e| e.op == "update" && e.resource == "stage")
        .unwrap()
        .ts;
    assert!(
        stage_updated < old_deleted,
        "the stage moves to the new one before the old one goes"
    );
    assert_eq!(p.objects().len(), 2);
    let state = p.state("cbd", "default");
    assert!(
        state["resources"]["deployment"].get("deposed").is_none(),
        "no deposed instance left"
    );
    p.run(&["plan"]).expect(0);
}

#[test]
fn a_timeout_is_recorded_and_the_next_run_keeps_waiting() {
    let p = Project::new();
    let stack = r#"
stack: slow
resources:
  slow:
    type: sim.thing
    timeout: 1s
    props: {name: slow, delay_ms: 2500}
"#;
    p.stack(stack);
    let r = p.run(&["up", "--yes"]);
    r.expect(1);
    assert!(r.stderr.contains("timed out after 1s"), "{}", r.stderr);
    let state = p.state("slow", "default");
    assert_eq!(state["resources"]["slow"]["status"], "creating");
    let id = state["resources"]["slow"]["physical_id"]
        .as_str()
        .expect("physical id recorded before the wait")
        .to_string();
    let plan = p.plan_changes();
    let reason = plan.resource("slow").reason.clone().unwrap();
    assert_eq!(reason.code, ReasonCode::ResumedCreate);
    assert!(reason.text.starts_with("resumes the creation"));
    p.stack(&stack.replace("timeout: 1s", "timeout: 30s"));
    p.run(&["up", "--yes"]).expect(0);
    assert_eq!(p.objects().len(), 1, "waited for the same one");
    assert_eq!(
        p.state("slow", "default")["resources"]["slow"]["physical_id"],
        id.as_str()
    );
}

#[test]
fn schema_describes_every_kind() {
    let p = Project::new();
    p.stack(THREE);
    let r = p.run(&["schema"]);
    r.expect(0);
    let schema = r.json();
    let decl = &schema["$defs"]["ResourceDecl"];
    let kinds: Vec<&str> = decl["properties"]["type"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for k in [
        "s3.bucket",
        "ec2.instance",
        "msk.topic",
        "mskconnect.connector",
        "apigateway.rest_api",
        "kinesis.stream",
        "mwaa.environment",
        "workers.deployment",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    let branches = decl["allOf"].as_array().unwrap();
    let stream = branches
        .iter()
        .find(|b| b["if"]["properties"]["type"]["const"] == "kinesis.stream")
        .unwrap();
    assert!(stream["then"]["properties"]["props"]["properties"]["retention_hours"].is_object());
}
