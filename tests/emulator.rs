//! The emulator of MSK, MSK Connect and MWAA, driven by the official AWS SDK for Rust: shapes,
//! error types and codes, ARNs, state machines, persistence across a restart, fault injection.

use crate::util::{wait_for, Emulator};
use aws_sdk_kafka::types::{
    BrokerNodeGroupInfo, ClientAuthentication, ClusterState, Iam, ProvisionedRequest, Sasl,
    TopicState,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use base64::Engine as _;

fn provisioned() -> ProvisionedRequest {
    ProvisionedRequest::builder()
        .broker_node_group_info(
            BrokerNodeGroupInfo::builder()
                .instance_type("kafka.t3.small")
                .client_subnets("subnet-1")
                .client_subnets("subnet-2")
                .build(),
        )
        .kafka_version("3.8.x")
        .number_of_broker_nodes(2)
        .client_authentication(
            ClientAuthentication::builder()
                .sasl(
                    Sasl::builder()
                        .iam(Iam::builder().enabled(true).build())
                        .build(),
                )
                .build(),
        )
        .build()
}

#[tokio::test(flavor = "multi_thread")]
async fn msk_clusters_and_topics() {
    let emu = Emulator::start("300ms", None);
    let k = emu.kafka().await;
    let created = k
        .create_cluster_v2()
        .cluster_name("pin-msk")
        .provisioned(provisioned())
        .tags("team", "data")
        .send()
        .await
        .unwrap();
    let arn = created.cluster_arn().unwrap().to_string();
    assert_eq!(created.state(), Some(&ClusterState::Creating));
    let re = regex::Regex::new(
        r"^arn:aws:kafka:us-east-1:123456789012:cluster/pin-msk/[0-9a-f-]{36}-1$",
    )
    .unwrap();
    assert!(re.is_match(&arn), "{arn}");

    let early = k
        .get_bootstrap_brokers()
        .cluster_arn(&arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(early.code(), Some("BadRequestException"));
    let dup = k
        .create_cluster_v2()
        .cluster_name("pin-msk")
        .provisioned(provisioned())
        .send()
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Some("ConflictException"));
    assert_eq!(dup.raw_response().unwrap().status().as_u16(), 409);

    wait_for(|| async {
        k.describe_cluster_v2()
            .cluster_arn(&arn)
            .send()
            .await
            .unwrap()
            .cluster_info()
            .unwrap()
            .state()
            == Some(&ClusterState::Active)
    })
    .await;
    let info = k
        .describe_cluster_v2()
        .cluster_arn(&arn)
        .send()
        .await
        .unwrap();
    let info = info.cluster_info().unwrap();
    assert_eq!(
        info.tags().unwrap().get("team").map(String::as_str),
        Some("data")
    );
    let p = info.provisioned().unwrap();
    assert_eq!(p.number_of_broker_nodes(), Some(2));
    assert_eq!(
        p.current_broker_software_info().unwrap().kafka_version(),
        Some("3.8.x")
    );
    assert!(info.creation_time().is_some());
    let brokers = k
        .get_bootstrap_brokers()
        .cluster_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        brokers.bootstrap_broker_string_sasl_iam(),
        Some("127.0.0.1:9092")
    );
    assert_eq!(
        k.list_clusters_v2()
            .send()
            .await
            .unwrap()
            .cluster_info_list()
            .len(),
        1
    );

    let configs =
        base64::engine::general_purpose::STANDARD.encode(r#"{"retention.ms":"604800000"}"#);
    let t = k
        .create_topic()
        .cluster_arn(&arn)
        .topic_name("abc.pin")
        .partition_count(1)
        .replication_factor(2)
        .configs(&configs)
        .send()
        .await
        .unwrap();
    assert_eq!(t.status(), Some(&TopicState::Creating));
    assert!(t
        .topic_arn()
        .unwrap()
        .starts_with("arn:aws:kafka:us-east-1:123456789012:topic/pin-msk/"));
    let exists = k
        .create_topic()
        .cluster_arn(&arn)
        .topic_name("abc.pin")
        .partition_count(1)
        .replication_factor(2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(exists.code(), Some("TopicExistsException"));
    let too_many = k
        .create_topic()
        .cluster_arn(&arn)
        .topic_name("abc.geo")
        .partition_count(1)
        .replication_factor(3)
        .send()
        .await
        .unwrap_err();
    assert_eq!(too_many.code(), Some("KafkaRequestException"));
    wait_for(|| async {
        k.describe_topic()
            .cluster_arn(&arn)
            .topic_name("abc.pin")
            .send()
            .await
            .unwrap()
            .status()
            == Some(&TopicState::Active)
    })
    .await;
    k.update_topic()
        .cluster_arn(&arn)
        .topic_name("abc.pin")
        .partition_count(3)
        .send()
        .await
        .unwrap();
    let shrink = {
        wait_for(|| async {
            k.describe_topic()
                .cluster_arn(&arn)
                .topic_name("abc.pin")
                .send()
                .await
                .unwrap()
                .status()
                == Some(&TopicState::Active)
        })
        .await;
        k.update_topic()
            .cluster_arn(&arn)
            .topic_name("abc.pin")
            .partition_count(2)
            .send()
            .await
            .unwrap_err()
    };
    assert_eq!(shrink.code(), Some("KafkaRequestException"));
    let d = k
        .describe_topic()
        .cluster_arn(&arn)
        .topic_name("abc.pin")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (d.partition_count(), d.replication_factor()),
        (Some(3), Some(2))
    );
    let cfg = base64::engine::general_purpose::STANDARD
        .decode(d.configs().unwrap())
        .unwrap();
    assert!(String::from_utf8(cfg).unwrap().contains("604800000"));
    assert_eq!(
        k.list_topics()
            .cluster_arn(&arn)
            .send()
            .await
            .unwrap()
            .topics()
            .len(),
        1
    );

    let stale = k
        .update_broker_count()
        .cluster_arn(&arn)
        .current_version("K9")
        .target_number_of_broker_nodes(4)
        .send()
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Some("BadRequestException"));
    let version = info.current_version().unwrap().to_string();
    k.update_broker_count()
        .cluster_arn(&arn)
        .current_version(&version)
        .target_number_of_broker_nodes(4)
        .send()
        .await
        .unwrap();
    let updating = k
        .describe_cluster_v2()
        .cluster_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        updating.cluster_info().unwrap().state(),
        Some(&ClusterState::Updating)
    );

    let missing = k
        .describe_cluster_v2()
        .cluster_arn("arn:aws:kafka:us-east-1:123456789012:cluster/nope/x-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Some("NotFoundException"));
    assert_eq!(missing.raw_response().unwrap().status().as_u16(), 404);
    wait_for(|| async {
        k.describe_cluster_v2()
            .cluster_arn(&arn)
            .send()
            .await
            .unwrap()
            .cluster_info()
            .unwrap()
            .state()
            == Some(&ClusterState::Active)
    })
    .await;
    let del = k.delete_cluster().cluster_arn(&arn).send().await.unwrap();
    assert_eq!(del.state(), Some(&ClusterState::Deleting));
    wait_for(|| async {
        k.describe_cluster_v2()
            .cluster_arn(&arn)
            .send()
            .await
            .is_err()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn msk_connect_plugins_workers_connectors_and_operations() {
    use aws_sdk_kafkaconnect::types::*;
    let emu = Emulator::start("200ms", None);
    let kc = emu.kafkaconnect().await;
    let plugin = kc
        .create_custom_plugin()
        .name("abc-plugin")
        .content_type(CustomPluginContentType::Zip)
        .location(
            CustomPluginLocation::builder()
                .s3_location(
                    S3Location::builder()
                        .bucket_arn("arn:aws:s3:::b")
                        .file_key("p.zip")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let plugin_arn = plugin.custom_plugin_arn().unwrap().to_string();
    assert_eq!(
        plugin.custom_plugin_state(),
        Some(&CustomPluginState::Creating)
    );
    assert!(plugin_arn
        .starts_with("arn:aws:kafkaconnect:us-east-1:123456789012:custom-plugin/abc-plugin/"));
    let props = base64::engine::general_purpose::STANDARD
        .encode("key.converter=org.apache.kafka.connect.storage.StringConverter\n");
    let worker = kc
        .create_worker_configuration()
        .name("abc-worker")
        .properties_file_content(&props)
        .send()
        .await
        .unwrap();
    let worker_arn = worker.worker_configuration_arn().unwrap().to_string();
    let bad = kc
        .create_worker_configuration()
        .name("x")
        .properties_file_content("not base64!")
        .send()
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Some("BadRequestException"));

    let connector = |name: &str| {
        kc.create_connector()
            .connector_name(name)
            .kafka_connect_version("2.7.1")
            .capacity(
                Capacity::builder()
                    .provisioned_capacity(
                        ProvisionedCapacity::builder()
                            .mcu_count(1)
                            .worker_count(1)
                            .build(),
                    )
                    .build(),
            )
            .connector_configuration("topics.regex", "abc.*")
            .kafka_cluster(
                KafkaCluster::builder()
                    .apache_kafka_cluster(
                        ApacheKafkaCluster::builder()
                            .bootstrap_servers("b:9098")
                            .vpc(Vpc::builder().subnets("s").build().unwrap())
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .kafka_cluster_client_authentication(
                KafkaClusterClientAuthentication::builder()
                    .authentication_type(KafkaClusterClientAuthenticationType::Iam)
                    .build()
                    .unwrap(),
            )
            .kafka_cluster_encryption_in_transit(
                KafkaClusterEncryptionInTransit::builder()
                    .encryption_type(KafkaClusterEncryptionInTransitType::Tls)
                    .build()
                    .unwrap(),
            )
            .plugins(
                Plugin::builder()
                    .custom_plugin(
                        CustomPlugin::builder()
                            .custom_plugin_arn(&plugin_arn)
                            .revision(1)
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .service_execution_role_arn("arn:aws:iam::123456789012:role/r")
            .worker_configuration(
                WorkerConfiguration::builder()
                    .worker_configuration_arn(&worker_arn)
                    .revision(1)
                    .build()
                    .unwrap(),
            )
            .send()
    };
    let early = connector("abc-sink").await.unwrap_err();
    assert_eq!(
        early.code(),
        Some("BadRequestException"),
        "the plugin is still CREATING"
    );
    wait_for(|| async {
        kc.describe_custom_plugin()
            .custom_plugin_arn(&plugin_arn)
            .send()
            .await
            .unwrap()
            .custom_plugin_state()
            == Some(&CustomPluginState::Active)
    })
    .await;
    let c = connector("abc-sink").await.unwrap();
    let arn = c.connector_arn().unwrap().to_string();
    assert_eq!(c.connector_state(), Some(&ConnectorState::Creating));
    wait_for(|| async {
        kc.describe_connector()
            .connector_arn(&arn)
            .send()
            .await
            .unwrap()
            .connector_state()
            == Some(&ConnectorState::Running)
    })
    .await;
    let d = kc
        .describe_connector()
        .connector_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        d.connector_configuration()
            .unwrap()
            .get("topics.regex")
            .map(String::as_str),
        Some("abc.*")
    );
    let version = d.current_version().unwrap().to_string();

    let stale = kc
        .update_connector()
        .connector_arn(&arn)
        .current_version("999")
        .connector_configuration("topics.regex", "x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Some("BadRequestException"));
    // One thing per call (MSK Connect API Reference, UpdateConnector).
    let both = kc
        .update_connector()
        .connector_arn(&arn)
        .current_version(&version)
        .connector_configuration("topics.regex", "x")
        .capacity(
            aws_sdk_kafkaconnect::types::CapacityUpdate::builder()
                .provisioned_capacity(
                    aws_sdk_kafkaconnect::types::ProvisionedCapacityUpdate::builder()
                        .mcu_count(1)
                        .worker_count(2)
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(both.code(), Some("BadRequestException"));
    assert!(
        both.message()
            .unwrap()
            .contains("either capacity or connectorConfiguration"),
        "{both:?}"
    );
    let up = kc
        .update_connector()
        .connector_arn(&arn)
        .current_version(&version)
        .connector_configuration("topics.regex", "abc\\..*")
        .send()
        .await
        .unwrap();
    assert_eq!(up.connector_state(), Some(&ConnectorState::Updating));
    let op = up.connector_operation_arn().unwrap().to_string();
    let ops = kc
        .list_connector_operations()
        .connector_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ops.connector_operations()[0].connector_operation_arn(),
        Some(op.as_str())
    );
    wait_for(|| async {
        kc.describe_connector_operation()
            .connector_operation_arn(&op)
            .send()
            .await
            .unwrap()
            .connector_operation_state()
            == Some(&ConnectorOperationState::UpdateComplete)
    })
    .await;
    let in_use = kc
        .delete_custom_plugin()
        .custom_plugin_arn(&plugin_arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(in_use.code(), Some("ConflictException"));
    kc.tag_resource()
        .resource_arn(&arn)
        .tags("pinctl:stack", "s")
        .send()
        .await
        .unwrap();
    let tags = kc
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        tags.tags().unwrap().get("pinctl:stack").map(String::as_str),
        Some("s")
    );
    kc.delete_connector()
        .connector_arn(&arn)
        .send()
        .await
        .unwrap();
    wait_for(|| async {
        kc.describe_connector()
            .connector_arn(&arn)
            .send()
            .await
            .is_err()
    })
    .await;
    let gone = kc
        .describe_connector()
        .connector_arn(&arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Some("NotFoundException"));
}

#[tokio::test(flavor = "multi_thread")]
async fn mwaa_environments_through_the_prefixed_client() {
    use aws_sdk_mwaa::types::*;
    let emu = Emulator::start("200ms", None);
    let m = emu.mwaa().await;
    let net = NetworkConfiguration::builder()
        .subnet_ids("s-1")
        .subnet_ids("s-2")
        .security_group_ids("sg-1")
        .build();
    // A requirements file is named with its object version (MWAA API Reference,
    // CreateEnvironment: "If specified, then a version is required").
    let unversioned = m
        .create_environment()
        .name("abc-env")
        .execution_role_arn("arn:aws:iam::123456789012:role/mwaa")
        .source_bucket_arn("arn:aws:s3:::mwaa-dags")
        .dag_s3_path("dags")
        .requirements_s3_path("requirements.txt")
        .network_configuration(net.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(unversioned.code(), Some("ValidationException"));
    assert!(
        unversioned
            .message()
            .unwrap()
            .contains("RequirementsS3ObjectVersion is required"),
        "{unversioned:?}"
    );
    let created = m
        .create_environment()
        .name("abc-env")
        .execution_role_arn("arn:aws:iam::123456789012:role/mwaa")
        .source_bucket_arn("arn:aws:s3:::mwaa-dags")
        .dag_s3_path("dags")
        .network_configuration(net.clone())
        .airflow_version("2.10.3")
        .tags("pinctl:id", "mwaa")
        .send()
        .await
        .unwrap();
    assert_eq!(
        created.arn(),
        Some("arn:aws:airflow:us-east-1:123456789012:environment/abc-env")
    );
    let e = m.get_environment().name("abc-env").send().await.unwrap();
    assert_eq!(
        e.environment().unwrap().status(),
        Some(&EnvironmentStatus::Creating)
    );
    wait_for(|| async {
        m.get_environment()
            .name("abc-env")
            .send()
            .await
            .unwrap()
            .environment()
            .unwrap()
            .status()
            == Some(&EnvironmentStatus::Available)
    })
    .await;
    let e = m.get_environment().name("abc-env").send().await.unwrap();
    let e = e.environment().unwrap();
    assert_eq!(e.dag_s3_path(), Some("dags"));
    assert_eq!(
        e.tags().unwrap().get("pinctl:id").map(String::as_str),
        Some("mwaa")
    );
    assert!(e.created_at().is_some());
    m.update_environment()
        .name("abc-env")
        .max_workers(3)
        .send()
        .await
        .unwrap();
    let busy = m
        .update_environment()
        .name("abc-env")
        .max_workers(4)
        .send()
        .await
        .unwrap_err();
    assert_eq!(busy.code(), Some("ValidationException"));
    assert_eq!(
        m.list_environments().send().await.unwrap().environments(),
        ["abc-env"]
    );
    let missing = m.get_environment().name("nope").send().await.unwrap_err();
    assert_eq!(missing.code(), Some("ResourceNotFoundException"));
    wait_for(|| async {
        m.get_environment()
            .name("abc-env")
            .send()
            .await
            .unwrap()
            .environment()
            .unwrap()
            .status()
            == Some(&EnvironmentStatus::Available)
    })
    .await;
    m.delete_environment().name("abc-env").send().await.unwrap();
    wait_for(|| async { m.get_environment().name("abc-env").send().await.is_err() }).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("emulator.json");
    let arn = {
        let emu = Emulator::start("50ms", Some(&state));
        let k = emu.kafka().await;
        let c = k
            .create_cluster_v2()
            .cluster_name("keep-me")
            .provisioned(provisioned())
            .send()
            .await
            .unwrap();
        c.cluster_arn().unwrap().to_string()
    };
    let emu = Emulator::start("50ms", Some(&state));
    let k = emu.kafka().await;
    wait_for(|| async {
        k.describe_cluster_v2()
            .cluster_arn(&arn)
            .send()
            .await
            .unwrap()
            .cluster_info()
            .unwrap()
            .state()
            == Some(&ClusterState::Active)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn injected_faults_are_throttles_and_5xx_that_retries_absorb() {
    let emu = Emulator::start_with("10ms", None, 0.4, None);
    let bare = aws_sdk_kafka::Client::new(&emu.config(1).await);
    let mut codes = std::collections::BTreeMap::new();
    for _ in 0..40 {
        if let Err(e) = bare.list_clusters_v2().send().await {
            *codes
                .entry(e.code().unwrap_or("?").to_string())
                .or_insert(0) += 1;
        }
    }
    assert!(
        codes.contains_key("TooManyRequestsException")
            && codes.contains_key("InternalServerErrorException"),
        "{codes:?}"
    );
    let failed: i32 = codes.values().sum();
    assert!(
        (8..=28).contains(&failed),
        "about 40% of 40 calls fail: {failed}"
    );
    let patient = aws_sdk_kafka::Client::new(&emu.config(10).await);
    for _ in 0..20 {
        patient
            .list_clusters_v2()
            .send()
            .await
            .expect("retries get through");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn msk_v1_clusters_and_the_operations_updates_start() {
    use aws_sdk_kafka::types::EnhancedMonitoring;
    let emu = Emulator::start("200ms", None);
    let k = emu.kafka().await;
    let created = k
        .create_cluster()
        .cluster_name("v1-msk")
        .kafka_version("3.8.x")
        .number_of_broker_nodes(2)
        .broker_node_group_info(
            BrokerNodeGroupInfo::builder()
                .instance_type("kafka.m5.large")
                .client_subnets("subnet-1")
                .client_subnets("subnet-2")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let arn = created.cluster_arn().unwrap().to_string();
    let info = k.describe_cluster().cluster_arn(&arn).send().await.unwrap();
    let info = info.cluster_info().unwrap();
    // MSK's defaults for what CreateCluster did not ask.
    assert_eq!(
        info.enhanced_monitoring(),
        Some(&EnhancedMonitoring::Default)
    );
    let at_rest = info
        .encryption_info()
        .and_then(|e| e.encryption_at_rest())
        .and_then(|e| e.data_volume_kms_key_id());
    assert!(at_rest.is_some_and(|k| k.starts_with("arn:aws:kms:us-east-1:123456789012:key/")));
    assert_eq!(
        info.broker_node_group_info()
            .and_then(|b| b.storage_info())
            .and_then(|s| s.ebs_storage_info())
            .and_then(|e| e.volume_size()),
        Some(1000)
    );
    wait_for(|| async {
        k.describe_cluster()
            .cluster_arn(&arn)
            .send()
            .await
            .unwrap()
            .cluster_info()
            .and_then(|c| c.state().cloned())
            == Some(ClusterState::Active)
    })
    .await;
    let up = k
        .update_monitoring()
        .cluster_arn(&arn)
        .current_version("K1")
        .enhanced_monitoring(EnhancedMonitoring::PerBroker)
        .send()
        .await
        .unwrap();
    let op = up.cluster_operation_arn().unwrap().to_string();
    assert!(op.starts_with("arn:aws:kafka:us-east-1:123456789012:cluster-operation/v1-msk/"));
    let running = k
        .describe_cluster_v2()
        .cluster_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        running.cluster_info().unwrap().active_operation_arn(),
        Some(op.as_str())
    );
    wait_for(|| async {
        k.describe_cluster_operation_v2()
            .cluster_operation_arn(&op)
            .send()
            .await
            .unwrap()
            .cluster_operation_info()
            .and_then(|o| o.operation_state().map(str::to_string))
            == Some("UPDATE_COMPLETE".into())
    })
    .await;
    let done = k
        .describe_cluster_operation()
        .cluster_operation_arn(&op)
        .send()
        .await
        .unwrap();
    let done = done.cluster_operation_info().unwrap();
    assert_eq!(done.operation_type(), Some("UPDATE_MONITORING"));
    assert_eq!(
        done.target_cluster_info()
            .and_then(|t| t.enhanced_monitoring()),
        Some(&EnhancedMonitoring::PerBroker)
    );
    assert!(done.end_time().is_some());
    let listed = k
        .list_cluster_operations_v2()
        .cluster_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.cluster_operation_info_list().len(), 1);

    // An unknown configuration is MSK's 400 BadRequestException, not a 404.
    let missing = k
        .describe_configuration()
        .arn("arn:aws:kafka:us-east-1:123456789012:configuration/nope/x-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Some("BadRequestException"));
    assert_eq!(missing.message(), Some("Configuration ARN does not exist."));
}
