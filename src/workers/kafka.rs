//! How a worker reaches the Kafka cluster: bootstrap servers and security, from flags or from
//! the properties the course's clients used (`client.security.protocol=SASL_SSL`,
//! `client.sasl.mechanism=AWS_MSK_IAM`), turned into librdkafka settings.

use rdkafka::config::ClientConfig;

use crate::clients::kafka_admin::IamContext;
use crate::format::properties::Properties;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Security {
    Plaintext,
    /// MSK IAM: SASL_SSL with OAUTHBEARER tokens signed with the AWS credentials.
    MskIam {
        region: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConnection {
    pub bootstrap: String,
    pub security: Security,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error(
        "no Kafka bootstrap servers: pass --bootstrap or set `bootstrap.servers` in the properties"
    )]
    NoBootstrap,
    #[error("`{key}={value}` is not supported: use PLAINTEXT, or SASL_SSL with AWS_MSK_IAM (or OAUTHBEARER)")]
    Unsupported { key: String, value: String },
    #[error("MSK IAM needs an AWS region: set AWS_REGION")]
    NoRegion,
    #[error("MSK IAM needs AWS credentials: {0}")]
    NoCredentials(String),
}

impl KafkaConnection {
    /// From `bootstrap.servers` and `security.protocol`/`sasl.mechanism`, each also read with the
    /// given prefix (`client.` in REST proxy properties); `bootstrap` overrides the file.
    pub fn from_properties(
        props: &Properties,
        prefix: &str,
        bootstrap: Option<&str>,
        region: Option<&str>,
    ) -> Result<KafkaConnection, ConnectionError> {
        let get = |k: &str| {
            props
                .get(&format!("{prefix}{k}"))
                .or_else(|| props.get(k))
                .map(String::as_str)
        };
        let bootstrap = bootstrap
            .or_else(|| get("bootstrap.servers"))
            .map(|b| b.trim().trim_start_matches("PLAINTEXT://").to_string())
            .filter(|b| !b.is_empty())
            .ok_or(ConnectionError::NoBootstrap)?;
        let protocol = get("security.protocol").unwrap_or("PLAINTEXT");
        let security = match protocol.to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Security::Plaintext,
            "SASL_SSL" => match get("sasl.mechanism").unwrap_or("AWS_MSK_IAM") {
                "AWS_MSK_IAM" | "OAUTHBEARER" => Security::MskIam {
                    region: region
                        .map(str::to_string)
                        .or_else(|| std::env::var("AWS_REGION").ok())
                        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
                        .ok_or(ConnectionError::NoRegion)?,
                },
                other => {
                    return Err(ConnectionError::Unsupported {
                        key: format!("{prefix}sasl.mechanism"),
                        value: other.to_string(),
                    })
                }
            },
            _ => {
                return Err(ConnectionError::Unsupported {
                    key: format!("{prefix}security.protocol"),
                    value: protocol.to_string(),
                })
            }
        };
        Ok(KafkaConnection {
            bootstrap,
            security,
        })
    }

    pub fn plaintext(bootstrap: &str) -> KafkaConnection {
        KafkaConnection {
            bootstrap: bootstrap.to_string(),
            security: Security::Plaintext,
        }
    }

    /// The librdkafka settings and the context that signs IAM tokens (call inside the runtime).
    pub async fn client(&self) -> Result<(ClientConfig, IamContext), ConnectionError> {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap);
        // librdkafka's own tracing (`cgrp,topic,fetch`, ...), for diagnosing a broker.
        if let Ok(debug) = std::env::var("PINCTL_KAFKA_DEBUG") {
            config.set("debug", debug);
        }
        let context = match &self.security {
            Security::Plaintext => IamContext::none(),
            Security::MskIam { region } => {
                crate::clients::kafka_admin::msk_iam_settings(&mut config);
                let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .region(aws_config::Region::new(region.clone()))
                    .load()
                    .await;
                let provider = aws.credentials_provider().ok_or_else(|| {
                    ConnectionError::NoCredentials("no credentials provider found".into())
                })?;
                IamContext::new(region, provider)
            }
        };
        Ok((config, context))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(text: &str) -> Properties {
        crate::format::properties::parse(text, "t").unwrap()
    }

    #[test]
    fn rest_proxy_properties_with_msk_iam() {
        let p = props(
            "bootstrap.servers=b-1:9098,b-2:9098\nclient.security.protocol=SASL_SSL\nclient.sasl.mechanism=AWS_MSK_IAM\n",
        );
        let c = KafkaConnection::from_properties(&p, "client.", None, Some("us-east-1")).unwrap();
        assert_eq!(c.bootstrap, "b-1:9098,b-2:9098");
        assert_eq!(
            c.security,
            Security::MskIam {
                region: "us-east-1".into()
            }
        );
    }

    #[test]
    fn flag_overrides_file_and_plaintext_is_default() {
        let p = props("bootstrap.servers=far:9092\n");
        let c = KafkaConnection::from_properties(&p, "client.", Some("near:9092"), None).unwrap();
        assert_eq!(c, KafkaConnection::plaintext("near:9092"));
    }

    #[test]
    fn unsupported_mechanism_is_named() {
        let p = props(
            "bootstrap.servers=x:1\nsecurity.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n",
        );
        let e = KafkaConnection::from_properties(&p, "", None, Some("r")).unwrap_err();
        assert!(
            e.to_string().contains("sasl.mechanism=SCRAM-SHA-512"),
            "{e}"
        );
    }
}
