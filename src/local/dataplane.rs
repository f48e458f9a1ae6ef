//! What the data plane should be, read from what was provisioned: the EC2 clients' units (from
//! their user-data), the RUNNING MSK Connect connectors, the API Gateway stages, and the MWAA
//! environments' DAG folders.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine;

use super::host::{self, Host, Step};
use super::procs::{Kind, Spec};
use crate::clients::aws::Clients;

/// IAM on the twin (see [`super::iam`]), once moto enforces it.
pub struct PlaneIam {
    /// The twin's IAM users' keys (the gateway runs as apigateway.amazonaws.com's).
    pub ids: super::iam::Identities,
    /// Role credentials, for the supervisor's own reads on a role's behalf.
    pub roles: std::sync::Arc<super::iam::Roles>,
    /// Where the data plane's processes get their roles' credentials.
    pub endpoint: super::iam::Endpoint,
    /// An empty file: the shared credentials and config files of the data plane.
    pub none: PathBuf,
}

pub struct DataPlane {
    pub dir: PathBuf,
    /// The environment every data-plane process gets (endpoints, credentials).
    pub env: Vec<(String, String)>,
    /// This binary: it runs the sink and the gateway, and the DAG's local runner.
    pub exe: PathBuf,
    pub airflow: Option<PathBuf>,
    /// ETag of every object fetched, so unchanged objects are not fetched again.
    fetched: HashMap<PathBuf, String>,
    gateway_ports: BTreeMap<String, u16>,
    /// `(instance id, port the unit listens on there)` → the free loopback port it listens on
    /// here.
    listen_ports: BTreeMap<(String, u16), u16>,
    migrations: HashMap<String, tokio::task::JoinHandle<Result<(), String>>>,
    migrated: HashMap<String, Result<(), String>>,
    iam: Option<PlaneIam>,
}

/// A running instance the twin plays.
struct Instance {
    id: String,
    names: Vec<String>,
    user_data: String,
    /// The role of its instance profile, if it has one.
    role: Option<String>,
}

impl DataPlane {
    pub fn new(
        dir: PathBuf,
        env: Vec<(String, String)>,
        exe: PathBuf,
        airflow: Option<PathBuf>,
    ) -> Self {
        DataPlane {
            dir,
            env,
            exe,
            airflow,
            fetched: HashMap::new(),
            gateway_ports: BTreeMap::new(),
            listen_ports: BTreeMap::new(),
            migrations: HashMap::new(),
            migrated: HashMap::new(),
            iam: None,
        }
    }

    /// From now on each process gets the credentials of its role (see [`super::iam`]).
    pub fn set_iam(&mut self, iam: PlaneIam) {
        self.iam = Some(iam);
    }

    pub fn has_iam(&self) -> bool {
        self.iam.is_some()
    }

    fn iam(&self) -> Result<&PlaneIam> {
        self.iam
            .as_ref()
            .context("the twin's IAM users are not created yet")
    }

    /// The environment that gives a process `role`'s credentials as `service` assumes it.
    fn role_env(&self, service: &str, role: &str, session: &str) -> Result<Vec<(String, String)>> {
        let iam = self.iam()?;
        Ok(iam.endpoint.env(&iam.none, service, role, session))
    }

    /// An S3 client calling with `role`'s credentials as `service` assumes it: what the
    /// service (or the instance) itself reads on AWS. Errors: the role cannot be assumed.
    async fn role_s3(
        &self,
        clients: &Clients,
        service: &str,
        role: &str,
        session: &str,
    ) -> Result<aws_sdk_s3::Client> {
        let creds = self
            .iam()?
            .roles
            .credentials(service, role, session)
            .await?;
        let conf = aws_sdk_s3::config::Builder::from(clients.config().await)
            .credentials_provider(creds.sdk())
            .force_path_style(true)
            .build();
        Ok(aws_sdk_s3::Client::from_conf(conf))
    }

    /// `connect-to.json`: `{"<instance DNS name>:<port>": "127.0.0.1:<local port>"}`, what the
    /// gateways read to reach the units (`worker gateway --connect-to-file`).
    fn connect_to_file(&self) -> PathBuf {
        self.dir.join("connect-to.json")
    }

    /// Adds instance `i`'s units' ports to [`Self::connect_to_file`].
    fn write_connect_to(&self, i: &Instance) -> Result<()> {
        let path = self.connect_to_file();
        let mut map: BTreeMap<String, String> = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        let before = map.clone();
        for ((id, port), local) in &self.listen_ports {
            if id == &i.id {
                for n in &i.names {
                    map.insert(format!("{n}:{port}"), format!("127.0.0.1:{local}"));
                }
            }
        }
        if map != before {
            crate::fsx::write_atomically(&path, &serde_json::to_vec_pretty(&map)?)?;
        }
        Ok(())
    }

    /// The desired processes; a part that cannot be read is reported and left out.
    pub async fn desired(
        &mut self,
        clients: &Clients,
        errors: &mut Vec<String>,
    ) -> BTreeMap<String, Spec> {
        let mut out = BTreeMap::new();
        let instances = match instances(clients).await {
            Ok(i) => i,
            Err(e) => {
                errors.push(format!("EC2: {e:#}"));
                Vec::new()
            }
        };
        for i in &instances {
            if let Err(e) = self.units(clients, i, &mut out).await {
                errors.push(format!("EC2 client {}: {e:#}", i.id));
            }
        }
        if let Err(e) = self.connectors(clients, &mut out).await {
            errors.push(format!("MSK Connect: {e:#}"));
        }
        if let Err(e) = self.gateways(clients, &instances, &mut out).await {
            errors.push(format!("API Gateway: {e:#}"));
        }
        if let Err(e) = self.airflow(clients, &instances, &mut out, errors).await {
            errors.push(format!("MWAA: {e:#}"));
        }
        out
    }

    fn spec(&self, kind: Kind, program: PathBuf, args: Vec<String>) -> Spec {
        Spec {
            kind,
            program,
            args,
            env: self.env.clone(),
            cwd: None,
            address: None,
            url: None,
            version: String::new(),
            detail: String::new(),
        }
    }

    /// Fetches what the user-data copies (only what changed) and returns the files, with ETags.
    async fn install(
        &mut self,
        s3: &aws_sdk_s3::Client,
        host: &Host,
        steps: &[Step],
    ) -> Result<Option<BTreeMap<PathBuf, String>>> {
        let mut files = BTreeMap::new();
        for step in steps {
            match step {
                Step::Copy {
                    bucket,
                    key,
                    recursive,
                    dest,
                } => {
                    let mut objects = Vec::new();
                    if *recursive {
                        let mut token = None;
                        loop {
                            let page = s3
                                .list_objects_v2()
                                .bucket(bucket)
                                .prefix(key)
                                .set_continuation_token(token)
                                .send()
                                .await
                                .map_err(|e| {
                                    anyhow::anyhow!(
                                        "listing s3://{bucket}/{key}: {}",
                                        super::iam::describe(&e)
                                    )
                                })?;
                            for o in page.contents() {
                                if let (Some(k), Some(e)) = (o.key(), o.e_tag()) {
                                    objects.push((k.to_string(), e.to_string()));
                                }
                            }
                            match page.next_continuation_token() {
                                Some(t) => token = Some(t.to_string()),
                                None => break,
                            }
                        }
                    } else {
                        match s3.head_object().bucket(bucket).key(key).send().await {
                            Ok(h) => {
                                objects.push((key.clone(), h.e_tag().unwrap_or("").to_string()))
                            }
                            // The user-data waits for `up` to upload the workers; so does the
                            // twin. A refusal is not a wait: the instance's role lacks a grant.
                            Err(e)
                                if e.raw_response().map(|r| r.status().as_u16()) == Some(403) =>
                            {
                                // A HEAD answer has no body: S3's reason is in a GET's.
                                let why = match s3
                                    .get_object()
                                    .bucket(bucket)
                                    .key(key)
                                    .range("bytes=0-0")
                                    .send()
                                    .await
                                {
                                    Err(e) => super::iam::describe(&e),
                                    Ok(_) => "HeadObject: 403 Forbidden".to_string(),
                                };
                                anyhow::bail!(
                                    "the user-data's `aws s3 cp s3://{bucket}/{key}`: {why}"
                                )
                            }
                            Err(_) => return Ok(None),
                        }
                    }
                    for (k, etag) in objects {
                        let relative = k
                            .strip_prefix(key.as_str())
                            .unwrap_or(&k)
                            .trim_start_matches('/');
                        let path = host.destination(dest, relative, *recursive);
                        if self.fetched.get(&path) != Some(&etag) || !path.exists() {
                            download(s3, bucket, &k, &path).await?;
                            self.fetched.insert(path.clone(), etag.clone());
                        }
                        files.insert(path, etag);
                    }
                }
                Step::Link { target, link } => host.link(target, link)?,
                Step::Chmod { mode, path } => host.chmod(path, *mode)?,
            }
        }
        Ok(Some(files))
    }

    async fn units(
        &mut self,
        clients: &Clients,
        i: &Instance,
        out: &mut BTreeMap<String, Spec>,
    ) -> Result<()> {
        let host = Host {
            root: self.dir.join("hosts").join(&i.id),
        };
        std::fs::create_dir_all(&host.root)?;
        let steps = host::steps(&i.user_data);
        // The user-data runs on the instance: its `aws s3 cp` has the instance profile's role.
        let Some(role) = i.role.clone() else {
            anyhow::bail!(
                "it has no instance profile, so its user-data's `aws s3 cp` has no credentials"
            );
        };
        let s3 = self.role_s3(clients, super::iam::EC2, &role, &i.id).await?;
        let Some(files) = self.install(&s3, &host, &steps).await? else {
            return Ok(());
        };
        let credentials = self.role_env(super::iam::EC2, &role, &i.id)?;
        let version: Vec<&str> = files.values().map(String::as_str).collect();
        for (path, text) in host.units(&files) {
            let name = host::file_name(&path);
            let unit = host::parse_unit(&name, &text)?;
            let mut failed = None;
            let cmd = host.command(&unit, |port| {
                let key = (i.id.clone(), port);
                if let Some(p) = self.listen_ports.get(&key) {
                    return *p;
                }
                match free_port() {
                    Ok(p) => {
                        self.listen_ports.insert(key, p);
                        p
                    }
                    Err(e) => {
                        failed = Some(e);
                        port
                    }
                }
            });
            if let Some(e) = failed {
                return Err(e).context("finding a free port for the unit");
            }
            self.write_connect_to(i)?;
            let mut spec = self.spec(Kind::Unit, PathBuf::from(&cmd[0]), cmd[1..].to_vec());
            spec.env.extend(credentials.iter().cloned());
            spec.env.extend(unit.environment.iter().cloned());
            spec.cwd = Some(host.root.clone());
            spec.address = cmd
                .windows(2)
                .find(|w| w[0] == "--listen")
                .map(|w| w[1].clone());
            spec.version = version.join(",");
            spec.detail = format!(
                "EC2 client {} ({})",
                i.id,
                i.names.first().map(String::as_str).unwrap_or("")
            );
            out.insert(
                format!("{}/{}", i.id, name.trim_end_matches(".service")),
                spec,
            );
        }
        Ok(())
    }

    async fn connectors(
        &mut self,
        clients: &Clients,
        out: &mut BTreeMap<String, Spec>,
    ) -> Result<()> {
        let kc = clients.kafkaconnect().await;
        let list = kc
            .list_connectors()
            .send()
            .await
            .context("ListConnectors")?;
        for c in list.connectors() {
            let running = c.connector_state().is_some_and(|s| s.as_str() == "RUNNING");
            let (Some(arn), Some(name), true) = (c.connector_arn(), c.connector_name(), running)
            else {
                continue;
            };
            let d = kc
                .describe_connector()
                .connector_arn(arn)
                .send()
                .await
                .with_context(|| format!("DescribeConnector {name}"))?;
            let config: BTreeMap<String, String> = d
                .connector_configuration()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default();
            let bootstrap = d
                .kafka_cluster()
                .and_then(|k| k.apache_kafka_cluster())
                .and_then(|a| a.bootstrap_servers())
                .unwrap_or("")
                .to_string();
            let dir = self.dir.join("connect");
            std::fs::create_dir_all(&dir)?;
            let file = dir.join(format!("{name}.properties"));
            let text: String = config.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
            if std::fs::read_to_string(&file).ok().as_deref() != Some(&text) {
                std::fs::write(&file, &text)?;
            }
            // MSK Connect's workers call AWS with the connector's service execution role.
            let role = d.service_execution_role_arn().unwrap_or("").to_string();
            // A role MSK Connect cannot assume leaves the workers without credentials.
            self.iam()?
                .roles
                .credentials(super::iam::KAFKACONNECT, &role, name)
                .await
                .with_context(|| format!("connector {name}"))?;
            let credentials = self.role_env(super::iam::KAFKACONNECT, &role, name)?;
            let mut args = vec![
                "worker".into(),
                "s3-sink".into(),
                "--config".into(),
                file.display().to_string(),
                "--bootstrap".into(),
                bootstrap,
                "--name".into(),
                name.to_string(),
            ];
            // MSK Connect's workers authenticate as the connector says, with its role.
            let iam = d
                .kafka_cluster_client_authentication()
                .and_then(|a| a.authentication_type())
                .is_some_and(|t| t.as_str() == "IAM");
            if iam {
                args.push("--msk-iam".into());
            }
            let mut spec = self.spec(Kind::Connector, self.exe.clone(), args);
            spec.env.extend(credentials);
            spec.version = d.current_version().unwrap_or("").to_string() + &text;
            spec.detail = format!(
                "connector {name} (version {})",
                d.current_version().unwrap_or("?")
            );
            out.insert(format!("connector/{name}"), spec);
        }
        Ok(())
    }

    async fn gateways(
        &mut self,
        clients: &Clients,
        instances: &[Instance],
        out: &mut BTreeMap<String, Spec>,
    ) -> Result<()> {
        let gw = clients.apigateway().await;
        let apis = gw
            .get_rest_apis()
            .limit(500)
            .send()
            .await
            .context("GetRestApis")?;
        for api in apis.items() {
            let (Some(id), name) = (api.id(), api.name().unwrap_or("")) else {
                continue;
            };
            let stages = gw
                .get_stages()
                .rest_api_id(id)
                .send()
                .await
                .with_context(|| format!("GetStages of {id}"))?;
            for st in stages.item() {
                let Some(stage) = st.stage_name() else {
                    continue;
                };
                let key = format!("gateway/{name}/{stage}");
                let port = match self.gateway_ports.get(&key) {
                    Some(p) => *p,
                    None => {
                        let p = free_port()?;
                        self.gateway_ports.insert(key.clone(), p);
                        p
                    }
                };
                let mut args = vec![
                    "worker".to_string(),
                    "gateway".into(),
                    "--rest-api-id".into(),
                    id.to_string(),
                    "--stage".into(),
                    stage.to_string(),
                    "--listen".into(),
                    format!("127.0.0.1:{port}"),
                    // moto's Kinesis loses records put into one shard concurrently.
                    "--serialize-aws-calls".into(),
                ];
                for i in instances {
                    for n in &i.names {
                        args.push("--resolve".into());
                        args.push(format!("{n}=127.0.0.1"));
                    }
                }
                // Where the units listen, kept in a file so a unit starting never restarts the
                // gateway (its command line stays the same).
                args.push("--connect-to-file".into());
                args.push(self.connect_to_file().display().to_string());
                let mut spec = self.spec(Kind::Gateway, self.exe.clone(), args);
                // The gateway plays API Gateway: it reads the REST API and assumes each
                // integration's `credentials` role as apigateway.amazonaws.com.
                let iam = self.iam()?;
                let keys = iam.ids.service(super::iam::APIGATEWAY)?;
                spec.env.extend(super::iam::no_credentials(&iam.none));
                spec.env.extend([
                    ("AWS_ACCESS_KEY_ID".to_string(), keys.access_key_id.clone()),
                    (
                        "AWS_SECRET_ACCESS_KEY".to_string(),
                        keys.secret_access_key.clone(),
                    ),
                ]);
                spec.address = Some(format!("127.0.0.1:{port}"));
                spec.url = Some(format!("http://127.0.0.1:{port}/{stage}"));
                spec.detail = format!("REST API {name} ({id}), stage {stage}");
                out.insert(key, spec);
            }
        }
        Ok(())
    }

    async fn airflow(
        &mut self,
        clients: &Clients,
        instances: &[Instance],
        out: &mut BTreeMap<String, Spec>,
        errors: &mut Vec<String>,
    ) -> Result<()> {
        let mwaa = clients.mwaa().await;
        let list = mwaa
            .list_environments()
            .send()
            .await
            .context("ListEnvironments")?;
        for name in list.environments() {
            let env = mwaa
                .get_environment()
                .name(name)
                .send()
                .await
                .with_context(|| format!("GetEnvironment {name}"))?;
            let Some(e) = env.environment() else { continue };
            if e.status().map(|s| s.as_str()) != Some("AVAILABLE") {
                continue;
            }
            let Some(airflow) = self.airflow.clone() else {
                errors.push(format!(
                    "MWAA environment {name}: Apache Airflow is not installed (scripts/test.sh installs it), so its DAGs do not run"
                ));
                continue;
            };
            let bucket = e
                .source_bucket_arn()
                .and_then(|a| a.strip_prefix("arn:aws:s3:::"))
                .unwrap_or("")
                .to_string();
            let prefix = e
                .dag_s3_path()
                .unwrap_or("dags")
                .trim_end_matches('/')
                .to_string()
                + "/";
            let home = airflow_home(&self.dir, name);
            let dags = home.join("dags");
            std::fs::create_dir_all(&dags)?;
            // MWAA reads the DAG folder, and its tasks call AWS, with the execution role.
            let role = e.execution_role_arn().unwrap_or("").to_string();
            let s3 = self
                .role_s3(clients, super::iam::AIRFLOW_ENV, &role, name)
                .await?;
            self.sync_dags(&s3, &bucket, &prefix, &dags).await?;
            let mut env_vars = airflow_env(&home, &self.exe, &airflow);
            env_vars.extend(self.role_env(super::iam::AIRFLOW_ENV, &role, name)?);
            // The DAG's `local` runner stands in for its `ssm` runner, SSM Run Command on the
            // EC2 client: the batch job runs there, with the instance profile's role.
            let runner = home.join("pinctl-on-client");
            match self.dag_client(&dags, instances) {
                Some((id, role)) => {
                    let mut script = String::from(
                        "#!/bin/sh\n# The DAG's local runner: the batch job runs as on the EC2 client, with its role.\n",
                    );
                    for (k, v) in self.role_env(super::iam::EC2, &role, &id)? {
                        script += &format!("export {k}='{v}'\n");
                    }
                    script += &format!("exec '{}' \"$@\"\n", self.exe.display());
                    if std::fs::read_to_string(&runner).ok().as_deref() != Some(&script) {
                        let tmp = runner.with_extension("tmp");
                        std::fs::write(&tmp, &script)?;
                        use std::os::unix::fs::PermissionsExt;
                        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o700))?;
                        std::fs::rename(&tmp, &runner)?;
                    }
                    env_vars.retain(|(k, _)| k != "PINCTL_BIN");
                    env_vars.push(("PINCTL_BIN".into(), runner.display().to_string()));
                }
                None => errors.push(format!(
                    "MWAA environment {name}: no running EC2 client with an instance profile for its DAG's batch job"
                )),
            }
            // The metadata database is made once, before the scheduler starts.
            if !matches!(self.migrated.get(name.as_str()), Some(Ok(()))) {
                if let Some(h) = self.migrations.get(name.as_str()) {
                    if h.is_finished() {
                        let h = self.migrations.remove(name.as_str()).expect("present");
                        let r = h.await.unwrap_or_else(|e| Err(e.to_string()));
                        self.migrated.insert(name.clone(), r);
                    }
                } else if !self.migrated.contains_key(name.as_str()) {
                    let mut cmd = tokio::process::Command::new(&airflow);
                    cmd.args(["db", "migrate"])
                        .envs(self.env.iter().cloned())
                        .envs(env_vars.iter().cloned());
                    self.migrations.insert(
                        name.clone(),
                        tokio::spawn(async move {
                            let o = cmd.output().await.map_err(|e| e.to_string())?;
                            if o.status.success() {
                                Ok(())
                            } else {
                                Err(String::from_utf8_lossy(&o.stderr)
                                    .chars()
                                    .rev()
                                    .take(2000)
                                    .collect::<Vec<_>>()
                                    .into_iter()
                                    .rev()
                                    .collect())
                            }
                        }),
                    );
                }
                if let Some(Err(e)) = self.migrated.get(name.as_str()) {
                    errors.push(format!(
                        "MWAA environment {name}: `airflow db migrate` failed: {e}"
                    ));
                }
                continue;
            }
            let mut spec = self.spec(Kind::Airflow, airflow.clone(), vec!["scheduler".into()]);
            spec.env.extend(env_vars);
            spec.cwd = Some(home.clone());
            spec.detail = format!(
                "MWAA environment {name}: DAGs from s3://{bucket}/{prefix}, AIRFLOW_HOME {}",
                home.display()
            );
            out.insert(format!("airflow/{name}"), spec);
        }
        Ok(())
    }

    /// The EC2 client a DAG runs its batch job on (the instance its rendered `ssm` runner
    /// names, else the only one), with its role: `(instance id, role ARN)`.
    fn dag_client(&self, dags: &Path, instances: &[Instance]) -> Option<(String, String)> {
        let named: Vec<String> = std::fs::read_dir(dags)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .flat_map(|text| {
                instances
                    .iter()
                    .filter(|i| text.contains(&format!("\"{}\"", i.id)))
                    .map(|i| i.id.clone())
                    .collect::<Vec<_>>()
            })
            .collect();
        instances
            .iter()
            .filter(|i| i.role.is_some())
            .find(|i| named.contains(&i.id) || (named.is_empty() && instances.len() == 1))
            .map(|i| (i.id.clone(), i.role.clone().unwrap_or_default()))
    }

    /// The DAG folder mirrors the bucket's: new and changed files fetched, removed ones removed.
    async fn sync_dags(
        &mut self,
        s3: &aws_sdk_s3::Client,
        bucket: &str,
        prefix: &str,
        dags: &Path,
    ) -> Result<()> {
        let page = s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "listing s3://{bucket}/{prefix}: {}",
                    super::iam::describe(&e)
                )
            })?;
        let mut keep = Vec::new();
        for o in page.contents() {
            let (Some(k), Some(etag)) = (o.key(), o.e_tag()) else {
                continue;
            };
            let rel = &k[prefix.len()..];
            if rel.is_empty() || rel.contains('/') {
                continue;
            }
            let path = dags.join(rel);
            if self.fetched.get(&path).map(String::as_str) != Some(etag) || !path.exists() {
                download(s3, bucket, k, &path).await?;
                self.fetched.insert(path.clone(), etag.to_string());
            }
            keep.push(path);
        }
        for entry in std::fs::read_dir(dags)? {
            let p = entry?.path();
            if p.is_file() && !keep.contains(&p) {
                let _ = std::fs::remove_file(&p);
                self.fetched.remove(&p);
            }
        }
        Ok(())
    }
}

/// Where the twin's Airflow for an MWAA environment lives.
pub fn airflow_home(dir: &Path, environment: &str) -> PathBuf {
    dir.join("airflow").join(environment)
}

/// Airflow's settings on the twin; `PINCTL_BIN` is what the DAG's local runner calls.
pub fn airflow_env(home: &Path, exe: &Path, airflow: &Path) -> Vec<(String, String)> {
    // The scheduler runs each task as `airflow tasks run ...`, found on PATH.
    let bin = airflow.parent().unwrap_or(Path::new("/"));
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    vec![
        ("PATH".into(), path),
        ("AIRFLOW_HOME".into(), home.display().to_string()),
        (
            "AIRFLOW__CORE__DAGS_FOLDER".into(),
            home.join("dags").display().to_string(),
        ),
        ("AIRFLOW__CORE__LOAD_EXAMPLES".into(), "False".into()),
        (
            "AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL".into(),
            "5".into(),
        ),
        (
            "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL".into(),
            "5".into(),
        ),
        (
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC".into(),
            "2".into(),
        ),
        ("AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT".into(), "60".into()),
        ("PINCTL_BIN".into(), exe.display().to_string()),
    ]
}

async fn instances(clients: &Clients) -> Result<Vec<Instance>> {
    let ec2 = clients.ec2().await;
    let r = ec2
        .describe_instances()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("instance-state-name")
                .values("running")
                .build(),
        )
        .send()
        .await
        .context("DescribeInstances")?;
    let mut out = Vec::new();
    for i in r.reservations().iter().flat_map(|r| r.instances()) {
        let Some(id) = i.instance_id() else { continue };
        let ud = ec2
            .describe_instance_attribute()
            .instance_id(id)
            .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
            .send()
            .await
            .with_context(|| format!("DescribeInstanceAttribute userData of {id}"))?;
        let encoded = ud.user_data().and_then(|u| u.value()).unwrap_or("");
        let user_data = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map(|b| String::from_utf8_lossy(&b).to_string())
            .unwrap_or_default();
        let role = match i.iam_instance_profile().and_then(|p| p.arn()) {
            Some(arn) => instance_role(clients, arn).await?,
            None => None,
        };
        let names = [
            i.public_dns_name(),
            i.private_dns_name(),
            i.public_ip_address(),
            i.private_ip_address(),
        ]
        .into_iter()
        .flatten()
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect();
        out.push(Instance {
            id: id.to_string(),
            names,
            user_data,
            role,
        });
    }
    Ok(out)
}

/// The role of an instance profile (by its ARN), if it has one.
async fn instance_role(clients: &Clients, profile_arn: &str) -> Result<Option<String>> {
    let name = profile_arn.rsplit('/').next().unwrap_or(profile_arn);
    let p = clients
        .iam()
        .await
        .get_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("GetInstanceProfile {name}: {}", super::iam::describe(&e)))?;
    Ok(p.instance_profile()
        .and_then(|p| p.roles().first())
        .map(|r| r.arn().to_string()))
}

async fn download(s3: &aws_sdk_s3::Client, bucket: &str, key: &str, path: &Path) -> Result<()> {
    let o = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!("fetching s3://{bucket}/{key}: {}", super::iam::describe(&e))
        })?;
    let bytes = o
        .body
        .collect()
        .await
        .with_context(|| format!("reading s3://{bucket}/{key}"))?
        .into_bytes();
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    // Written beside and renamed, so a running program's file is never rewritten in place.
    let tmp = path.with_extension("pinctl-partial");
    std::fs::write(&tmp, &bytes)?;
    if let Ok(m) = std::fs::metadata(path) {
        std::fs::set_permissions(&tmp, m.permissions())?;
    }
    std::fs::rename(&tmp, path)?;
    tracing::info!("fetched s3://{bucket}/{key} → {}", path.display());
    Ok(())
}

pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
