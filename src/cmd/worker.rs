//! The `data` and `worker` commands: parse their inputs, run the worker, print its summary.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::cli::{
    BatchArgs, BenchCommand, DataCommand, EmitArgs, GatewayArgs, Global, RestProxyArgs, S3SinkArgs,
    StreamArgs, WorkerCommand,
};
use crate::cmd::Exit;
use crate::data::store::{Location, Reader};
use crate::workers::kafka::KafkaConnection;

fn progress_bar(len: Option<u64>, quiet: bool, what: &str) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar = match len {
        Some(n) => indicatif::ProgressBar::new(n),
        None => indicatif::ProgressBar::no_length(),
    };
    let style = indicatif::ProgressStyle::with_template(&format!(
        "{what} {{wide_bar}} {{pos}}/{{len}} {{per_sec}} eta {{eta}}"
    ))
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

pub async fn data(global: &Global, cmd: &DataCommand) -> Result<Exit> {
    match cmd {
        DataCommand::Generate {
            rows,
            seed,
            out,
            force,
        } => {
            let location: Location = out.parse()?;
            if let Location::Sqlite(path) = &location {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                }
            }
            let bar = progress_bar(Some(*rows), global.quiet, "rows");
            let took = crate::data::generate_into(&location, *rows, *seed, *force, &bar).await?;
            bar.finish_and_clear();
            let per_second = *rows as f64 / took.as_secs_f64().max(1e-9);
            if global.json {
                println!(
                    "{}",
                    serde_json::json!({"out": location.to_string(), "rows": rows, "seed": seed,
                        "seconds": took.as_secs_f64(), "rows_per_second": per_second})
                );
            } else {
                eprintln!(
                    "wrote {rows} rows per table (seed {seed}) to {location} in {:.1} s ({per_second:.0} rows/s)",
                    took.as_secs_f64()
                );
            }
            Ok(Exit::Ok)
        }
    }
}

pub async fn worker(global: &Global, cmd: &WorkerCommand) -> Result<Exit> {
    match cmd {
        WorkerCommand::Emit(args) => emit(global, args).await,
        WorkerCommand::RestProxy(args) => rest_proxy(args).await,
        WorkerCommand::S3Sink(args) => s3_sink(args).await,
        WorkerCommand::Batch(args) => batch(global, args).await,
        WorkerCommand::Stream(args) => stream(args).await,
        WorkerCommand::Gateway(args) => gateway(args).await,
    }
}

async fn emit(global: &Global, args: &EmitArgs) -> Result<Exit> {
    use crate::workers::emit;
    let location: Location = args.source.parse()?;
    let reader = Reader::open(&location).await?;
    let rows = reader.rows().await?;
    anyhow::ensure!(rows > 0, "{location} holds no rows");
    let last = u32::try_from(rows - 1).unwrap_or(u32::MAX);
    let max_key = if args.max_key > last {
        tracing::warn!(
            "{location} has {rows} rows: keys are drawn from 0..={last} instead of 0..={}",
            args.max_key
        );
        last
    } else {
        args.max_key
    };
    let config = emit::EmitConfig {
        invoke_url: args.invoke_url.trim_end_matches('/').to_string(),
        uid: args.uid.clone(),
        mode: args.mode,
        count: args.count,
        rate: args.rate,
        concurrency: args.concurrency as usize,
        seed: args.seed,
        sleep: args.sleep,
        max_key,
        retries: args.retries,
        timeout: args.timeout,
    };
    let bar = progress_bar(args.count, global.quiet, "events");
    let summary = emit::run(config, reader, bar, crate::signal::shutdown_signal()).await?;
    if global.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        eprintln!("{summary}");
    }
    Ok(if summary.failed > 0 {
        Exit::Error
    } else {
        Exit::Ok
    })
}

async fn gateway(args: &GatewayArgs) -> Result<Exit> {
    use crate::workers::gateway;
    let mut resolve = std::collections::BTreeMap::new();
    for r in &args.resolve {
        let (host, addr) = r
            .split_once('=')
            .filter(|(h, a)| !h.is_empty() && !a.is_empty())
            .ok_or_else(|| anyhow::anyhow!("--resolve {r}: expected HOST=ADDR"))?;
        resolve.insert(host.to_string(), addr.to_string());
    }
    let config = gateway::GatewayConfig {
        rest_api_id: args.rest_api_id.clone(),
        stage: args.stage.clone(),
        region: args.region.clone(),
        resolve,
        connect_to_file: args.connect_to_file.clone(),
        refresh: args.refresh,
        serialize_aws_calls: args.serialize_aws_calls,
    };
    gateway::run(config, args.listen).await?;
    Ok(Exit::Ok)
}

async fn rest_proxy(args: &RestProxyArgs) -> Result<Exit> {
    use crate::format::properties;
    use crate::workers::rest_proxy;
    let props = match &args.config {
        Some(path) => properties::read(path)?,
        None => Default::default(),
    };
    let connection =
        KafkaConnection::from_properties(&props, "client.", args.bootstrap.as_deref(), None)?;
    let config = rest_proxy::ProxyConfig {
        connection,
        max_request_bytes: args.max_request_bytes,
        compression: args.compression.clone(),
        linger: args.linger,
        delivery_timeout: args.delivery_timeout,
        read_timeout: args.read_timeout,
        consumer_idle: std::time::Duration::from_secs(300),
    };
    rest_proxy::run(config, args.listen).await?;
    Ok(Exit::Ok)
}

async fn s3_sink(args: &S3SinkArgs) -> Result<Exit> {
    use crate::format::properties;
    use crate::workers::s3_sink;
    let props = properties::read(&args.config)?;
    let mut config =
        s3_sink::SinkConfig::from_properties(&props, &args.config.display().to_string())?;
    if let Some(name) = &args.name {
        config.name = name.clone();
    }
    let mut connection = KafkaConnection::from_properties(
        &props,
        "",
        args.bootstrap.as_deref(),
        config.region.as_deref(),
    )?;
    if args.msk_iam {
        connection.security = crate::workers::kafka::Security::MskIam {
            region: config
                .region
                .clone()
                .or_else(|| std::env::var("AWS_REGION").ok())
                .context("--msk-iam needs a region: set s3.region or AWS_REGION")?,
        };
    }
    s3_sink::run(connection, config).await?;
    Ok(Exit::Ok)
}

pub async fn bench(global: &Global, cmd: &BenchCommand) -> Result<Exit> {
    use crate::workers::bench;
    match cmd {
        BenchCommand::Generate { rows, out } => {
            let location: Location = out.parse()?;
            if let Location::Sqlite(path) | Location::Jsonl(path) = &location {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
            }
            let bar = progress_bar(Some(*rows), global.quiet, "rows");
            let took = crate::data::generate_into(&location, *rows, 100, true, &bar).await?;
            bar.finish_and_clear();
            let per_second = *rows as f64 / took.as_secs_f64();
            let rss = bench::peak_rss_mib();
            if global.json {
                println!(
                    "{}",
                    serde_json::json!({"rows": rows, "out": location.to_string(), "seconds": took.as_secs_f64(),
                        "rows_per_second": per_second, "peak_rss_mib": rss})
                );
            } else {
                println!(
                    "generate {rows} rows x 3 tables -> {location}: {:.1} s, {per_second:.0} rows/s, peak RSS {rss:.1} MiB",
                    took.as_secs_f64()
                );
            }
        }
        BenchCommand::Batch {
            events,
            day,
            replays,
            per_object,
            bucket,
            out,
            spark_job,
            spark_python,
            spark_jars,
            spark_master,
            spark_conf,
        } => {
            let exe = std::env::current_exe()?;
            let home = |p: &str| match p.strip_prefix("~/") {
                Some(rest) => std::env::var_os("HOME")
                    .map(|h| PathBuf::from(h).join(rest))
                    .unwrap_or_else(|| PathBuf::from(p)),
                None => PathBuf::from(p),
            };
            let spark = spark_job.as_ref().map(|job| bench::SparkJob {
                python: home(spark_python),
                job: job.clone(),
                jars: home(spark_jars),
                master: spark_master.clone(),
                conf: spark_conf.clone(),
            });
            println!(
                "| job | run | events read | table rows after | seconds | of which ingest / answers | events/s | peak RSS |"
            );
            println!("|---|---|---:|---:|---:|---:|---:|---:|");
            for (i, n) in events.iter().enumerate() {
                let _ = std::fs::remove_dir_all(out);
                let bench = bench::BatchBench {
                    exe: &exe,
                    bucket: &format!("{bucket}-{i}"),
                    per_object: *per_object,
                    out,
                    spark: spark.as_ref(),
                };
                bench
                    .run(*n, *day, *replays, |run| {
                        println!(
                            "| {} | {} | {} | {} | {:.1} | {} | {:.0} | {:.0} MiB |",
                            run.job,
                            run.label,
                            run.events,
                            run.table_rows,
                            run.seconds,
                            run.phases
                                .map_or("—".to_string(), |(i, a)| format!("{i:.1} s / {a:.1} s")),
                            run.events as f64 / run.seconds,
                            run.peak_rss_mib
                        );
                    })
                    .await?;
            }
        }
        BenchCommand::Stream { rate, seconds, out } => {
            let _ = std::fs::remove_dir_all(out);
            let exe = std::env::current_exe()?;
            let run = bench::stream(&exe, *rate, *seconds, out).await?;
            let mut l = run.latencies;
            l.sort();
            let ms = |p: f64| {
                l.get(((l.len().max(1) - 1) as f64 * p).round() as usize)
                    .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
            };
            println!(
                "asked {rate} records/s for {seconds} s: put {} records in {:.1} s = {:.0} records/s ({} refused by Kinesis); {} of them visible in the table, put -> visible over those {}: p50 {:.0} ms, p99 {:.0} ms",
                run.put,
                run.put_seconds,
                run.put as f64 / run.put_seconds.max(f64::EPSILON),
                run.failed,
                l.len(),
                l.len(),
                ms(0.5),
                ms(0.99)
            );
        }
        BenchCommand::Proxy { bootstrap, calls } => {
            let series = bench::proxy(bootstrap, *calls).await?;
            for s in &series {
                println!("{}", s.line());
            }
            let ratio = |a: usize, b: usize| {
                series[a].records_per_second() / series[b].records_per_second()
            };
            println!(
                "proxy/direct throughput: {:.2} (1 record), {:.2} (100 records)",
                ratio(1, 0),
                ratio(3, 2)
            );
        }
    }
    Ok(Exit::Ok)
}

async fn batch(global: &Global, args: &BatchArgs) -> Result<Exit> {
    use crate::workers::batch;
    let report_dir = args.report_dir.clone().unwrap_or_else(|| {
        if args.out.contains("://") {
            std::path::PathBuf::from("pinctl-report")
        } else {
            std::path::Path::new(&args.out).join("report")
        }
    });
    let summary = batch::run(batch::BatchConfig {
        bucket: args.bucket.clone(),
        uid: args.uid.clone(),
        out: args.out.clone(),
        report_dir,
        chunk: args.chunk,
        topics_dir: args.topics_dir.clone(),
        region: args.region.clone(),
    })
    .await?;
    if global.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        for (table, rows) in &summary.rows {
            eprintln!(
                "{table}: {rows} rows ({} new objects, {} records)",
                summary.objects.get(table).copied().unwrap_or(0),
                summary.records.get(table).copied().unwrap_or(0)
            );
        }
        if let Some(r) = &summary.report {
            eprintln!("report: {}", r.display());
        }
    }
    Ok(Exit::Ok)
}

async fn stream(args: &StreamArgs) -> Result<Exit> {
    use crate::workers::stream;
    stream::run(
        stream::StreamConfig {
            uid: args.uid.clone(),
            out: args.out.clone(),
            region: args.region.clone(),
            batch_size: args.batch_size.max(1),
            interval: args.interval,
        },
        crate::signal::shutdown_signal(),
    )
    .await?;
    Ok(Exit::Ok)
}
