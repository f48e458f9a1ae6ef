//! `local ...`: the local twin's commands, and how their results are shown.

use anyhow::Result;

use super::Exit;
use crate::cli::{Cli, LocalCommand};
use crate::local::report;
use crate::local::twin::{self, Status, TwinState};

/// Runs one `local` subcommand.
pub(super) async fn run(cli: &Cli, lc: &LocalCommand) -> Result<Exit> {
    let json = cli.global.json;
    match lc {
        LocalCommand::Start {
            dir,
            no_airflow,
            propagation_delay,
            fault_rate,
            operation_delay,
        } => {
            let options = twin::StartOptions {
                airflow: !no_airflow,
                propagation: *propagation_delay,
                fault_rate: *fault_rate,
                operation_delay: *operation_delay,
            };
            let started = twin::start(&dir.path, &options).await?;
            if started.already_running {
                eprintln!(
                    "the twin is already running (supervisor pid {})",
                    started.status.supervisor_pid
                );
            } else if !json {
                eprintln!(
                    "the twin is up in {:.1} s; `pinctl --env local up` now provisions onto it",
                    started.took.as_secs_f64()
                );
            }
            print_status(&started.status, json);
            Ok(Exit::Ok)
        }
        LocalCommand::Status { dir } => Ok(match twin::status(&dir.path) {
            TwinState::Running(s) => {
                print_status(&s, json);
                let looping = twin::crash_loops(&s);
                for l in &looping {
                    eprintln!("error: {l}");
                }
                if looping.is_empty() {
                    Exit::Ok
                } else {
                    Exit::Unhealthy
                }
            }
            TwinState::Stale(s) => {
                if json {
                    println!("{}", serde_json::json!({"running": false, "stale": s}));
                } else {
                    println!("the twin is not running (its supervisor, pid {}, is gone); `pinctl local stop` cleans up", s.supervisor_pid);
                }
                Exit::Error
            }
            TwinState::Absent => {
                if json {
                    println!("{}", serde_json::json!({"running": false}));
                } else {
                    println!("the twin is not running; `pinctl local start` starts it");
                }
                Exit::Error
            }
        }),
        LocalCommand::Stop { dir } => {
            if twin::stop(&dir.path).await? {
                eprintln!(
                    "the twin is stopped (its files stay in {})",
                    dir.path.display()
                );
            } else {
                eprintln!("the twin is not running");
            }
            Ok(Exit::Ok)
        }
        LocalCommand::Env { dir } => {
            print!("{}", twin::env(&dir.path)?);
            Ok(Exit::Ok)
        }
        LocalCommand::Trigger {
            dag,
            wait,
            timeout,
            dir,
        } => {
            let run = twin::trigger_dag(&dir.path, dag, *wait, *timeout, |run_id| {
                if !json {
                    eprintln!("triggered {dag} (run {run_id})");
                }
            })
            .await?;
            let Some(state) = &run.state else {
                return Ok(Exit::Ok);
            };
            if json {
                println!("{}", serde_json::json!(run));
            } else {
                println!("DAG run {} of {dag}: {state}", run.run_id);
                if state == "failed" {
                    println!("task logs: {}", run.task_logs.display());
                }
            }
            Ok(if state == "success" {
                Exit::Ok
            } else {
                Exit::Error
            })
        }
        LocalCommand::Wait {
            objects: Some(want),
            bucket: Some(bucket),
            prefix,
            timeout,
            ..
        } => {
            let s3 = crate::clients::aws::worker_s3(None).await;
            let n = report::wait_objects(&s3, bucket, prefix, *want, *timeout).await?;
            if json {
                println!("{}", serde_json::json!({ "objects": n, "wanted": want }));
            } else {
                println!("{n} objects under s3://{bucket}/{prefix} (waited for {want})");
                if n < *want {
                    eprintln!(
                        "error: timed out after {} with {n} of {want} objects",
                        humantime::format_duration(*timeout)
                    );
                }
            }
            Ok(if n >= *want { Exit::Ok } else { Exit::Error })
        }
        LocalCommand::Wait {
            kinds,
            timeout,
            dir,
            ..
        } => {
            let s = twin::wait_for(&dir.path, kinds, *timeout).await?;
            let urls: Vec<&str> = s
                .processes
                .iter()
                .filter(|p| p.kind == crate::local::procs::Kind::Gateway)
                .filter_map(|p| p.url.as_deref())
                .collect();
            if json {
                println!("{}", serde_json::json!({ "invoke_urls": urls }));
            } else {
                for u in urls {
                    println!("{u}");
                }
            }
            Ok(Exit::Ok)
        }
        LocalCommand::Report {
            bucket,
            uid,
            out,
            timeout,
            ..
        } => {
            let tables = report::wait_stream(bucket, uid, *timeout).await?;
            let s3 = crate::clients::aws::worker_s3(None).await;
            let rep = report::fetch_report(&s3, bucket, out).await?;
            if json {
                println!("{}", serde_json::json!({ "tables": tables, "report": rep }));
            } else {
                for t in &tables {
                    println!(
                        "{}: batch {} rows, stream {} rows",
                        t.table, t.batch, t.stream
                    );
                }
                println!(
                    "\n{}, copied to {} (and report.md)\n",
                    rep.location,
                    rep.html.display()
                );
                for a in &rep.answers {
                    let shown: Vec<String> = a
                        .rows
                        .iter()
                        .take(2)
                        .map(|r| {
                            r.iter()
                                .map(|(k, v)| {
                                    format!(
                                        "{k}={}",
                                        v.as_str()
                                            .map(str::to_string)
                                            .unwrap_or_else(|| v.to_string())
                                    )
                                })
                                .collect::<Vec<_>>()
                                .join(", ")
                        })
                        .collect();
                    let more = match a.rows.len() {
                        n if n > 2 => format!(" (+{} more)", n - 2),
                        _ => String::new(),
                    };
                    println!("{} {}\n    {}{more}", a.id, a.title, shown.join("; "));
                }
            }
            Ok(if tables.iter().all(|t| t.batch == t.stream) {
                Exit::Ok
            } else {
                Exit::Error
            })
        }
        LocalCommand::Supervise {
            dir,
            moto_port,
            kafka_port,
            emulator_port,
            no_airflow,
        } => {
            let ports = twin::Ports {
                moto: *moto_port,
                kafka: *kafka_port,
                emulator: *emulator_port,
            };
            twin::supervise(&dir.path, ports, !no_airflow).await?;
            Ok(Exit::Ok)
        }
        LocalCommand::Broker {
            port,
            data,
            heap,
            iam_port,
            control_port,
            authority,
            tls_dir,
        } => {
            let install = crate::local::kafka::Install::find()?;
            let iam = match (iam_port, control_port, authority, tls_dir) {
                (Some(port), Some(control_port), Some(authority), Some(tls)) => {
                    Some(crate::local::kafka::IamListener {
                        port: *port,
                        control_port: *control_port,
                        authority: authority.clone(),
                        tls: tls.clone(),
                    })
                }
                _ => None,
            };
            let options = crate::local::kafka::BrokerOptions {
                port: *port,
                data: data.clone(),
                heap: heap.clone(),
                iam,
            };
            match crate::local::kafka::run(&install, &options)? {}
        }
        LocalCommand::Emulator {
            listen,
            state,
            delay,
            fault_rate,
            broker,
            broker_iam,
            broker_control,
            broker_secret,
            region,
            moto,
            msk_unsupported_az_ids,
        } => {
            let opts = crate::local::emulator::Options {
                delay: *delay,
                fault_rate: *fault_rate,
                state_file: state.clone(),
                broker: broker.clone(),
                broker_iam: broker_iam.clone(),
                broker_control: match (broker_control, broker_secret) {
                    (Some(address), Some(secret)) => Some(crate::local::emulator::BrokerControl {
                        address: address.clone(),
                        password: crate::local::tls::read_secret(secret)?,
                    }),
                    _ => None,
                },
                region: region.clone(),
                // Reads PINCTL_PROPAGATION_DELAY and AWS_ENDPOINT_URL (the twin sets both).
                propagation: true,
                moto: moto.clone(),
                msk_unsupported_az_ids: msk_unsupported_az_ids.clone(),
                ..Default::default()
            };
            let (addr, handle) = crate::local::emulator::serve(*listen, opts).await?;
            println!("http://{addr}");
            use std::io::Write as _;
            std::io::stdout().flush()?;
            tokio::select! {
                _ = handle => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            Ok(Exit::Ok)
        }
    }
}

/// Prints the twin's status: its processes as a table, or the status document with `json`.
fn print_status(s: &Status, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(s).unwrap_or_default());
        return;
    }
    println!(
        "twin {} (supervisor pid {}){}",
        s.dir.display(),
        s.supervisor_pid,
        if s.ready { "" } else { " — starting" }
    );
    match s.propagation_delay_s {
        Some(d) if d > 0.0 => println!(
            "propagation delay: {d} s (moto and the emulator answer as AWS does while a change propagates)"
        ),
        _ => println!("propagation delay: off (`pinctl local start --propagation-delay 10s`)"),
    }
    match s.fault_rate {
        Some(r) if r > 0.0 => println!(
            "faults: {:.0} % of moto's and the emulator's calls throttled, failed or (moto) answered after the answer was lost",
            r * 100.0
        ),
        _ => println!("faults: off (`pinctl local start --fault-rate 0.3`)"),
    }
    if let Some(v) = &s.kafka_version {
        println!("Kafka broker: Apache Kafka {v} (every MSK cluster's brokers, whatever its kafka_version)");
    }
    println!(
        "{:<44} {:<10} {:<28} {:>8}  DETAIL",
        "PROCESS", "STATE", "ADDRESS / URL", "PID"
    );
    for p in &s.processes {
        let at = p
            .url
            .clone()
            .or_else(|| p.address.clone())
            .unwrap_or_default();
        let kind = serde_json::to_value(&p.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        println!(
            "{:<44} {:<10} {:<28} {:>8}  {kind}: {}{}",
            p.name,
            p.state,
            at,
            p.pid.map(|p| p.to_string()).unwrap_or_default(),
            p.detail,
            if p.restarts > 0 {
                format!(" ({} restarts)", p.restarts)
            } else {
                String::new()
            }
        );
    }
    for p in &s.problems {
        println!("problem: {p}");
    }
    println!(
        "endpoints: eval \"$(pinctl local env)\"  (or pass --env local; logs in {})",
        s.dir.join("logs").display()
    );
}
