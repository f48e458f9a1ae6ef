//! The twin's Kafka broker: Apache Kafka itself (the broker MSK runs), one node in KRaft mode
//! (broker and controller in one JVM), from the jars `scripts/setup.sh` resolves from Maven
//! Central into `~/.cache/pinctl/kafka/<version>/lib`.
//!
//! `pinctl local broker` ([`run`]) writes the broker's `server.properties` into its data
//! directory, formats the storage with a fresh cluster id when the directory is new (Kafka's
//! `kafka-storage format`), then replaces itself with `java ... kafka.Kafka server.properties`,
//! so the pid the supervisor (or a test) holds is the broker's and stopping it stops the broker.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// A Kafka installation: a directory whose `lib/` holds the broker's jars and their
/// dependencies (`kafka_2.13-<version>.jar` among them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Install {
    /// The installation directory (`lib/` inside).
    pub home: PathBuf,
    /// The Apache Kafka version, read from the broker jar's name.
    pub version: String,
}

/// The broker jar's name, `kafka_<scala>-<version>.jar`, read for the version.
fn broker_jar_version(name: &str) -> Option<String> {
    let rest = name.strip_prefix("kafka_2.")?.strip_suffix(".jar")?;
    let (_, version) = rest.split_once('-')?;
    Some(version.to_string())
}

/// Orders versions like `3.8.1` < `3.10.0` (numerically, part by part).
fn version_key(v: &str) -> Vec<u64> {
    v.split(['.', '-'])
        .map(|p| p.parse().unwrap_or(0))
        .collect()
}

impl Install {
    /// The installation in `home`, if its `lib/` holds a broker jar.
    pub fn at(home: &Path) -> Option<Install> {
        let version = std::fs::read_dir(home.join("lib"))
            .ok()?
            .filter_map(|e| e.ok())
            .find_map(|e| broker_jar_version(&e.file_name().to_string_lossy()))?;
        Some(Install {
            home: home.to_path_buf(),
            version,
        })
    }

    /// `PINCTL_KAFKA_HOME` when set, else the newest version under `~/.cache/pinctl/kafka/`,
    /// where `scripts/setup.sh` installs it.
    pub fn find() -> Result<Install> {
        if let Some(home) = std::env::var_os("PINCTL_KAFKA_HOME") {
            let home = PathBuf::from(home);
            return Install::at(&home).with_context(|| {
                format!(
                    "PINCTL_KAFKA_HOME={}: no kafka_2.13-<version>.jar in its lib/ (scripts/setup.sh installs Apache Kafka)",
                    home.display()
                )
            });
        }
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache")
            })
            .join("pinctl/kafka");
        std::fs::read_dir(&cache)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter_map(|e| Install::at(&e.path()))
            .max_by_key(|i| version_key(&i.version))
            .with_context(|| {
                format!(
                    "Apache Kafka not found in {}: scripts/setup.sh installs it from Maven Central (PINCTL_KAFKA_HOME names another installation)",
                    cache.display()
                )
            })
    }

    /// The JVM's classpath: every jar in `lib/`, then pinctl's own (`pinctl/`: MSK IAM).
    pub fn classpath(&self) -> String {
        format!(
            "{}/*:{}/*",
            self.home.join("lib").display(),
            self.home.join("pinctl").display()
        )
    }

    /// The MSK IAM classes (`java/msk-iam`), built by `scripts/setup.sh` for this installation.
    pub fn msk_iam_jar(&self) -> Result<PathBuf> {
        let jar = self.home.join("pinctl/msk-iam.jar");
        if !jar.exists() {
            bail!(
                "{} is missing: scripts/setup.sh builds the broker's MSK IAM classes (java/msk-iam) with the JDK",
                jar.display()
            );
        }
        Ok(jar)
    }
}

/// The `java` to run: `$JAVA_HOME/bin/java`, else the one on PATH.
pub fn java() -> PathBuf {
    std::env::var_os("JAVA_HOME")
        .map(|h| PathBuf::from(h).join("bin/java"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("java"))
}

/// A fresh KRaft cluster id: 16 random bytes, URL-safe base64 without padding (what
/// `kafka-storage random-uuid` prints). Never one starting with `-`, which the tools' argument
/// parser takes for an option: Kafka's own `Uuid.randomUuid()` draws again in that case
/// (clients/src/main/java/org/apache/kafka/common/Uuid.java).
pub fn cluster_id() -> String {
    use base64::Engine;
    loop {
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(uuid::Uuid::new_v4().as_bytes());
        if !id.starts_with('-') {
            return id;
        }
    }
}

/// The broker's MSK IAM listener: SASL/OAUTHBEARER over TLS, as MSK's port 9098 (MSK Developer
/// Guide, "IAM access control"), checked by `java/msk-iam` against an authority.
#[derive(Debug, Clone)]
pub struct IamListener {
    /// The listener's port on 127.0.0.1.
    pub port: u16,
    /// The port of the broker's control listener on 127.0.0.1 (`INTERNAL`: SASL_PLAINTEXT with
    /// PLAIN, as [`CONTROL_USER`]), which the emulator's topic API acts through as MSK's own
    /// control plane reaches its brokers; also the inter-broker listener.
    pub control_port: u16,
    /// The emulator's URL (`http://127.0.0.1:PORT`), whose `/_pinctl/msk-iam/` checks tokens and
    /// policies (src/local/emulator/msk_iam.rs).
    pub authority: String,
    /// Where the twin's CA, the broker's certificate and the control secret are (made when
    /// missing; [`super::tls`]).
    pub tls: PathBuf,
}

/// The control principal (`User:pinctl-twin`): the broker itself on its internal and
/// controller listeners, and the emulator's topic API. It authenticates with SASL/PLAIN and the
/// secret in the twin's `tls/control.secret`; the authorizer allows it everything, as MSK's
/// control plane is not subject to the cluster's client authentication.
pub const CONTROL_USER: &str = "pinctl-twin";

/// The settings of a twin whose broker speaks MSK IAM, added to [`server_properties`]'s: the
/// listener named `IAM`, SASL_SSL with OAUTHBEARER only, the broker's PEM key store, pinctl's
/// callback handler and authorizer (MSK authorizes IAM principals by their IAM policies, and
/// PLAINTEXT's ANONYMOUS as the clusters allow); the `INTERNAL` and `CONTROLLER` listeners
/// authenticate the control principal with SASL/PLAIN, so nothing reaches the broker
/// unauthenticated but through MSK's PLAINTEXT port, which the authorizer governs.
fn iam_properties(iam: &IamListener, tls: &super::tls::Files, secret: &str) -> String {
    let plain = format!(
        "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"{CONTROL_USER}\" password=\"{secret}\" user_{CONTROL_USER}=\"{secret}\";"
    );
    format!(
        "# MSK IAM (java/msk-iam): SASL/OAUTHBEARER over TLS, checked by {authority}.
listener.name.iam.sasl.enabled.mechanisms=OAUTHBEARER
listener.name.iam.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;
listener.name.iam.oauthbearer.sasl.server.callback.handler.class=pinctl.twin.msk.IamCallbackHandler
listener.name.iam.ssl.keystore.type=PEM
listener.name.iam.ssl.keystore.location={keystore}
listener.name.iam.ssl.client.auth=none
authorizer.class.name=pinctl.twin.msk.IamAuthorizer
pinctl.msk.iam.authority={authority}
pinctl.msk.control.user={CONTROL_USER}
# The control principal, with SASL/PLAIN, on the inter-broker and controller listeners.
sasl.mechanism.inter.broker.protocol=PLAIN
sasl.mechanism.controller.protocol=PLAIN
listener.name.internal.sasl.enabled.mechanisms=PLAIN
listener.name.internal.plain.sasl.jaas.config={plain}
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config={plain}
",
        authority = iam.authority,
        keystore = tls.broker.display(),
    )
}

/// The broker's `server.properties`: one node that is broker and controller, PLAINTEXT on
/// `port` (MSK's 9092, what `advertised.listeners` gives clients), its controller on
/// `controller_port`, data under `data`, and, with `iam` (its listener, the TLS files and the
/// control secret), the MSK IAM and control listeners. Settings differ from Kafka's defaults
/// only where one node needs it (replication factors of 1) or where it only saves time on one
/// machine.
pub fn server_properties(
    port: u16,
    controller_port: u16,
    data: &Path,
    iam: Option<(&IamListener, &super::tls::Files, &str)>,
) -> String {
    let (listeners, advertised, map, inter_broker, extra) = match iam {
        Some((l, tls, secret)) => (
            format!(
                "PLAINTEXT://127.0.0.1:{port},IAM://127.0.0.1:{},INTERNAL://127.0.0.1:{},CONTROLLER://127.0.0.1:{controller_port}",
                l.port, l.control_port
            ),
            format!(
                "PLAINTEXT://127.0.0.1:{port},IAM://127.0.0.1:{},INTERNAL://127.0.0.1:{}",
                l.port, l.control_port
            ),
            "PLAINTEXT:PLAINTEXT,IAM:SASL_SSL,INTERNAL:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
            "INTERNAL",
            iam_properties(l, tls, secret),
        ),
        None => (
            format!("PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}"),
            format!("PLAINTEXT://127.0.0.1:{port}"),
            "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "PLAINTEXT",
            String::new(),
        ),
    };
    format!(
        "# Written by pinctl local broker: Apache Kafka, one KRaft node (broker + controller).
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners={listeners}
advertised.listeners={advertised}
controller.listener.names=CONTROLLER
inter.broker.listener.name={inter_broker}
listener.security.protocol.map={map}
log.dirs={logs}
# One broker: every internal topic has one replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
default.replication.factor=1
min.insync.replicas=1
num.partitions=1
# As on MSK: topics are created by the MSK topic API or the admin protocol, never by a client.
auto.create.topics.enable=false
# Only for speed on one machine: fewer partitions of __consumer_offsets to create at the first
# group call (Kafka's default is 50), and no wait for more members before a group's first
# rebalance (Kafka's default is 3 s).
offsets.topic.num.partitions=5
group.initial.rebalance.delay.ms=0
{extra}",
        logs = data.join("logs").display()
    )
}

const LOG4J: &str = "log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.kafka.storage.internals.log=WARN
log4j.logger.kafka.log=WARN
";

/// The JVM options of both the storage tool and the broker: a small heap, log4j's settings
/// from the data directory.
fn jvm_options(heap: &str, data: &Path) -> Vec<String> {
    vec![
        format!("-Xmx{heap}"),
        "-Xms64m".into(),
        "-XX:+UseSerialGC".into(),
        "-Djava.awt.headless=true".into(),
        format!(
            "-Dlog4j.configuration=file:{}",
            data.join("log4j.properties").display()
        ),
    ]
}

/// What [`run`] starts: where it listens and keeps its data, and its heap.
#[derive(Debug, Clone)]
pub struct BrokerOptions {
    /// The PLAINTEXT listener (loopback).
    pub port: u16,
    /// Its data directory: `server.properties`, the log4j settings and the logs. Formatted with
    /// a fresh cluster id when it has none yet, reused otherwise.
    pub data: PathBuf,
    /// `-Xmx` (e.g. `512m`).
    pub heap: String,
    /// The MSK IAM listener, if any.
    pub iam: Option<IamListener>,
}

/// Writes the broker's settings, formats the storage when new, and replaces this process with
/// the broker (returns only on an error).
pub fn run(install: &Install, options: &BrokerOptions) -> Result<std::convert::Infallible> {
    let data = &options.data;
    std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
    let data = std::fs::canonicalize(data)?;
    let controller_port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let config = data.join("server.properties");
    let tls = match &options.iam {
        Some(l) => {
            install.msk_iam_jar()?;
            Some(super::tls::ensure(&l.tls)?)
        }
        None => None,
    };
    let secret = match &tls {
        Some(t) => Some(super::tls::read_secret(&t.control_secret)?),
        None => None,
    };
    let iam = match (&options.iam, &tls, &secret) {
        (Some(l), Some(t), Some(s)) => Some((l, t, s.as_str())),
        _ => None,
    };
    // The control secret is in it: the owner's alone.
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&config)
            .with_context(|| format!("writing {}", config.display()))?;
        f.write_all(server_properties(options.port, controller_port, &data, iam).as_bytes())?;
    }
    std::fs::write(data.join("log4j.properties"), LOG4J)?;
    if !data.join("logs/meta.properties").exists() {
        let id = cluster_id();
        let out = std::process::Command::new(java())
            .args(jvm_options("256m", &data))
            .arg("-cp")
            .arg(install.classpath())
            .args(["kafka.tools.StorageTool", "format", "--ignore-formatted"])
            .args(["--cluster-id", &id, "--config"])
            .arg(&config)
            .output()
            .with_context(|| format!("running {} (Java 17 or newer)", java().display()))?;
        if !out.status.success() {
            bail!(
                "formatting the Kafka storage in {} failed ({}):\n{}{}",
                data.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        eprintln!(
            "pinctl local broker: Apache Kafka {} storage formatted, cluster id {id}",
            install.version
        );
    }
    eprintln!(
        "pinctl local broker: starting Apache Kafka {} (KRaft) on 127.0.0.1:{}{}",
        install.version,
        options.port,
        match &options.iam {
            Some(l) => format!(
                ", MSK IAM (SASL_SSL) on 127.0.0.1:{}, control (SASL_PLAINTEXT) on 127.0.0.1:{}",
                l.port, l.control_port
            ),
            None => String::new(),
        }
    );
    use std::os::unix::process::CommandExt;
    let err = std::process::Command::new(java())
        .args(jvm_options(&options.heap, &data))
        .arg("-cp")
        .arg(install.classpath())
        .arg("kafka.Kafka")
        .arg(&config)
        .exec();
    Err(err).with_context(|| format!("starting {} (Java 17 or newer)", java().display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_comes_from_the_broker_jar() {
        assert_eq!(
            broker_jar_version("kafka_2.13-3.8.1.jar").as_deref(),
            Some("3.8.1")
        );
        assert_eq!(broker_jar_version("kafka-clients-3.8.1.jar"), None);
        assert!(version_key("3.10.0") > version_key("3.9.1"));
    }

    #[test]
    fn a_cluster_id_is_22_url_safe_characters_never_led_by_a_dash() {
        // One id in 64 would start with `-` if drawn once.
        for _ in 0..2000 {
            let id = cluster_id();
            assert_eq!(id.len(), 22);
            assert!(id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
            assert!(!id.starts_with('-'), "{id}");
        }
    }

    #[test]
    fn one_node_is_broker_and_controller() {
        let p = server_properties(9092, 9093, Path::new("/d"), None);
        assert!(p.contains("process.roles=broker,controller\n"));
        assert!(p.contains("advertised.listeners=PLAINTEXT://127.0.0.1:9092\n"));
        assert!(p.contains("controller.quorum.voters=1@127.0.0.1:9093\n"));
        assert!(p.contains("log.dirs=/d/logs\n"));
    }

    #[test]
    fn with_msk_iam_nothing_but_plaintext_is_unauthenticated() {
        let l = IamListener {
            port: 9098,
            control_port: 9099,
            authority: "http://127.0.0.1:4510".into(),
            tls: "/t".into(),
        };
        let tls = crate::local::tls::Files {
            ca: "/t/ca.pem".into(),
            broker: "/t/broker.pem".into(),
            control_secret: "/t/control.secret".into(),
        };
        let p = server_properties(9092, 9093, Path::new("/d"), Some((&l, &tls, "s3cret")));
        assert!(p.contains("listener.security.protocol.map=PLAINTEXT:PLAINTEXT,IAM:SASL_SSL,INTERNAL:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT\n"));
        assert!(p.contains("inter.broker.listener.name=INTERNAL\n"));
        assert!(p.contains("authorizer.class.name=pinctl.twin.msk.IamAuthorizer\n"));
        assert!(
            p.contains("username=\"pinctl-twin\" password=\"s3cret\" user_pinctl-twin=\"s3cret\";")
        );
    }
}
