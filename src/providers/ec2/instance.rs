//! `ec2.instance`: the EC2 client instance: AMI, type, profile, user-data from templates/.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ec2::types::{IamInstanceProfileSpecification, InstanceStateName, ResourceType, Tag};
use base64::Engine as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{filter, tag_map, tag_spec};
use crate::clients::aws::{api_error, Clients};
use crate::clients::propagation::settled;
use crate::engine::backoff::Backoff;
use crate::engine::provider::{Cx, Found, Poll, ProviderError};
use crate::kind::KindInfo;
use crate::providers::support::{not_visible_yet, progress, Absent, OrAbsent};
use crate::providers::typed::{required, Observed, TypedProvider};
use crate::providers::Registry;

/// What EC2 answers for an instance that is not there.
const NOT_FOUND: Absent = Absent::Codes(&["InvalidInstanceID.NotFound"]);

/// Registers `ec2.instance` with its provider.
pub fn register(r: &mut Registry) {
    r.add_typed(
        KindInfo::new(
            "ec2.instance",
            "The EC2 client instance: AMI, type, profile, user-data from templates/",
        )
        .schema::<InstanceProps>()
        .outputs(&["id", "arn", "public_dns", "public_ip", "private_ip"])
        .replace(&[
            ("ami", "an instance cannot change its AMI"),
            ("ami_ssm_parameter", "a different AMI needs a new instance"),
            ("subnet_id", "an instance cannot move to another subnet"),
            ("key_name", "the key pair is fixed at launch"),
            ("root_volume_gib", "the root volume is fixed at launch"),
            // EC2 User Guide, "Run commands when you launch an EC2 instance with user data
            // input": user data runs only during the first boot cycle.
            (
                "user_data",
                "user data runs only at an instance's first boot; new user data needs a new instance",
            ),
        ])
        .sets(&["security_group_ids"])
        // A stop and start (to change the type) gives the instance a new public IPv4 address
        // and DNS name (EC2 User Guide, "Public IPv4 addresses"): dependents follow.
        .volatile_outputs(&["public_dns", "public_ip"])
        .timeout(Duration::from_secs(900)),
        |env| InstanceProvider {
            clients: env.clients.clone(),
        },
    );
}

/// Props of `ec2.instance`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstanceProps {
    /// An AMI id; or leave it out and give `ami_ssm_parameter`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ami: Option<String>,
    /// A public SSM parameter naming the AMI, e.g.
    /// `/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ami_ssm_parameter: Option<String>,
    pub instance_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_name: Option<String>,
    /// Security groups of the instance (a set). Left out, EC2 gives the instance the VPC's
    /// default group (RunInstances, `SecurityGroupIds`), so an empty list is not managed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_group_ids: Vec<String>,
    /// Default: a default subnet of the default VPC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_profile: Option<String>,
    /// Rendered from `templates/`; it runs at first boot only, so a change replaces the
    /// instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_volume_gib: Option<u32>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

pub struct InstanceProvider {
    pub clients: Arc<Clients>,
}

impl InstanceProvider {
    async fn describe(
        &self,
        id: &str,
    ) -> Result<Option<(aws_sdk_ec2::types::Instance, String)>, ProviderError> {
        let out = self
            .clients
            .ec2()
            .await
            .describe_instances()
            .instance_ids(id)
            .send()
            .await
            .or_absent("DescribeInstances", NOT_FOUND)?;
        Ok(out.and_then(|out| {
            out.reservations().iter().find_map(|r| {
                r.instances()
                    .first()
                    .map(|i| (i.clone(), r.owner_id().unwrap_or_default().to_string()))
            })
        }))
    }

    async fn outputs(&self, i: &aws_sdk_ec2::types::Instance, owner: &str) -> Map<String, Value> {
        let region = self.clients.region().await;
        let id = i.instance_id().unwrap_or_default();
        let mut m = Map::new();
        m.insert("id".into(), Value::String(id.into()));
        m.insert(
            "arn".into(),
            Value::String(format!("arn:aws:ec2:{region}:{owner}:instance/{id}")),
        );
        m.insert(
            "public_dns".into(),
            Value::String(i.public_dns_name().unwrap_or_default().into()),
        );
        m.insert(
            "public_ip".into(),
            Value::String(i.public_ip_address().unwrap_or_default().into()),
        );
        m.insert(
            "private_ip".into(),
            Value::String(i.private_ip_address().unwrap_or_default().into()),
        );
        m
    }

    async fn ami(&self, p: &InstanceProps) -> Result<String, ProviderError> {
        if let Some(a) = &p.ami {
            return Ok(a.clone());
        }
        let Some(param) = &p.ami_ssm_parameter else {
            return Err(ProviderError::Invalid(
                "give `ami` or `ami_ssm_parameter`".into(),
            ));
        };
        let out = self
            .clients
            .ssm()
            .await
            .get_parameter()
            .name(param)
            .send()
            .await
            .map_err(|e| api_error("GetParameter", e))?;
        out.parameter()
            .and_then(|p| p.value())
            .map(str::to_string)
            .ok_or_else(|| {
                ProviderError::bad_response("GetParameter", &format!("a value for {param}"))
            })
    }

    async fn wait_state(&self, id: &str, want: InstanceStateName) -> Result<(), ProviderError> {
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(10));
        loop {
            let state = self
                .describe(id)
                .await?
                .and_then(|(i, _)| i.state().and_then(|s| s.name().cloned()));
            if state.as_ref() == Some(&want) {
                return Ok(());
            }
            backoff.sleep().await;
        }
    }
}

fn alive(i: &aws_sdk_ec2::types::Instance) -> bool {
    !matches!(
        i.state().and_then(|s| s.name()),
        Some(InstanceStateName::Terminated | InstanceStateName::ShuttingDown)
    )
}

fn profile_name(arn: &str) -> String {
    arn.rsplit('/').next().unwrap_or(arn).to_string()
}

#[async_trait]
impl TypedProvider for InstanceProvider {
    type Props = InstanceProps;

    async fn read(
        &self,
        _cx: &Cx,
        id: &str,
        rec: Option<&InstanceProps>,
    ) -> Result<Option<Observed<InstanceProps>>, ProviderError> {
        let Some((i, owner)) = self.describe(id).await? else {
            return Ok(None);
        };
        if !alive(&i) {
            return Ok(None);
        }
        let ec2 = self.clients.ec2().await;
        let user_data = ec2
            .describe_instance_attribute()
            .instance_id(id)
            .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
            .send()
            .await
            .map_err(|e| api_error("DescribeInstanceAttribute", e))?
            .user_data()
            .and_then(|u| u.value())
            .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned());
        let mut groups: Vec<String> = i
            .security_groups()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_string))
            .collect();
        if let Some(r) = rec {
            let mut a = groups.clone();
            let mut b = r.security_group_ids.clone();
            a.sort();
            b.sort();
            if a == b {
                groups = r.security_group_ids.clone();
            }
        }
        let tags = tag_map(i.tags());
        let live = InstanceProps {
            ami: rec
                .and_then(|r| r.ami.as_ref())
                .map(|_| i.image_id().unwrap_or_default().to_string()),
            ami_ssm_parameter: rec.and_then(|r| r.ami_ssm_parameter.clone()),
            instance_type: i
                .instance_type()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            key_name: i.key_name().map(str::to_string),
            security_group_ids: groups,
            subnet_id: i.subnet_id().map(str::to_string),
            instance_profile: i
                .iam_instance_profile()
                .and_then(|p| p.arn())
                .map(profile_name),
            user_data,
            root_volume_gib: rec.and_then(|r| r.root_volume_gib),
            tags: rec
                .map(|r| {
                    r.tags
                        .keys()
                        .filter_map(|k| Some((k.clone(), tags.get(k)?.clone())))
                        .collect()
                })
                .unwrap_or_default(),
        };
        Ok(Some(Observed::new(live, self.outputs(&i, &owner).await)))
    }

    async fn adopt(&self, cx: &Cx, p: &InstanceProps) -> Result<Option<String>, ProviderError> {
        Ok(self
            .find(cx, p)
            .await?
            .into_iter()
            .next()
            .map(|f| f.physical_id))
    }

    async fn find(&self, cx: &Cx, p: &InstanceProps) -> Result<Vec<Found>, ProviderError> {
        super::find_by(cx, &p.tags, |filters| async move {
            let out = self
                .clients
                .ec2()
                .await
                .describe_instances()
                .set_filters(Some(filters))
                .filters(filter(
                    "instance-state-name",
                    &["pending", "running", "stopping", "stopped"],
                ))
                .send()
                .await
                .map_err(|e| api_error("DescribeInstances", e))?;
            Ok(out
                .reservations()
                .iter()
                .flat_map(|r| r.instances())
                .filter_map(|i| i.instance_id().map(str::to_string))
                .collect())
        })
        .await
    }

    async fn create(&self, cx: &Cx, p: &InstanceProps) -> Result<String, ProviderError> {
        let ami = self.ami(p).await?;
        let ec2 = self.clients.ec2().await;
        let mut req = ec2
            .run_instances()
            .image_id(&ami)
            .instance_type(aws_sdk_ec2::types::InstanceType::from(
                p.instance_type.as_str(),
            ))
            .min_count(1)
            .max_count(1)
            .client_token(&cx.token)
            .set_key_name(p.key_name.clone())
            .set_security_group_ids(
                (!p.security_group_ids.is_empty()).then(|| p.security_group_ids.clone()),
            )
            .set_subnet_id(p.subnet_id.clone())
            .tag_specifications(tag_spec(cx, ResourceType::Instance, &p.tags));
        if let Some(profile) = &p.instance_profile {
            req = req.iam_instance_profile(
                IamInstanceProfileSpecification::builder()
                    .name(profile)
                    .build(),
            );
        }
        if let Some(ud) = &p.user_data {
            req = req.user_data(base64::engine::general_purpose::STANDARD.encode(ud));
        }
        if let Some(gib) = p.root_volume_gib {
            let images = ec2
                .describe_images()
                .image_ids(&ami)
                .send()
                .await
                .map_err(|e| api_error("DescribeImages", e))?;
            let device = images
                .images()
                .first()
                .and_then(|i| i.root_device_name())
                .unwrap_or("/dev/xvda")
                .to_string();
            req = req.block_device_mappings(
                aws_sdk_ec2::types::BlockDeviceMapping::builder()
                    .device_name(device)
                    .ebs(
                        aws_sdk_ec2::types::EbsBlockDevice::builder()
                            .volume_size(gib as i32)
                            .build(),
                    )
                    .build(),
            );
        }
        let out = settled("RunInstances", || req.clone().send()).await?;
        out.instances()
            .first()
            .and_then(|i| i.instance_id().map(str::to_string))
            .ok_or_else(|| ProviderError::bad_response("RunInstances", "an instance"))
    }

    async fn poll(&self, _cx: &Cx, id: &str) -> Result<Poll, ProviderError> {
        let Some((i, owner)) = self.describe(id).await? else {
            return Ok(not_visible_yet());
        };
        progress(
            i.state().and_then(|s| s.name()),
            &[InstanceStateName::Running],
            &[
                InstanceStateName::Terminated,
                InstanceStateName::ShuttingDown,
            ],
        )
        .poll(
            async { Ok(self.outputs(&i, &owner).await) },
            i.state_reason().and_then(|r| r.message()),
            "terminated",
        )
        .await
    }

    async fn update(
        &self,
        cx: &Cx,
        id: &str,
        old: Option<&InstanceProps>,
        p: &InstanceProps,
        _changed: &[String],
    ) -> Result<Option<String>, ProviderError> {
        let o = required(old, "ec2.instance")?;
        let ec2 = self.clients.ec2().await;
        // A new type needs the instance stopped, and started again after the other changes.
        let needs_stop = p.instance_type != o.instance_type;
        if needs_stop {
            ec2.stop_instances()
                .instance_ids(id)
                .send()
                .await
                .map_err(|e| api_error("StopInstances", e))?;
            self.wait_state(id, InstanceStateName::Stopped).await?;
            ec2.modify_instance_attribute()
                .instance_id(id)
                .instance_type(
                    aws_sdk_ec2::types::AttributeValue::builder()
                        .value(&p.instance_type)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| api_error("ModifyInstanceAttribute", e))?;
        }
        if p.security_group_ids != o.security_group_ids {
            ec2.modify_instance_attribute()
                .instance_id(id)
                .set_groups(Some(p.security_group_ids.clone()))
                .send()
                .await
                .map_err(|e| api_error("ModifyInstanceAttribute", e))?;
        }
        if p.instance_profile != o.instance_profile {
            let assoc = ec2
                .describe_iam_instance_profile_associations()
                .filters(filter("instance-id", &[id]))
                .send()
                .await
                .map_err(|e| api_error("DescribeIamInstanceProfileAssociations", e))?;
            for a in assoc.iam_instance_profile_associations() {
                if let Some(aid) = a.association_id() {
                    ec2.disassociate_iam_instance_profile()
                        .association_id(aid)
                        .send()
                        .await
                        .map_err(|e| api_error("DisassociateIamInstanceProfile", e))?;
                }
            }
            if let Some(name) = &p.instance_profile {
                ec2.associate_iam_instance_profile()
                    .instance_id(id)
                    .iam_instance_profile(
                        IamInstanceProfileSpecification::builder()
                            .name(name)
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| api_error("AssociateIamInstanceProfile", e))?;
            }
        }
        if p.tags != o.tags {
            let mut tags = cx.tags();
            tags.extend(p.tags.clone());
            ec2.create_tags()
                .resources(id)
                .set_tags(Some(
                    tags.into_iter()
                        .map(|(k, v)| Tag::builder().key(k).value(v).build())
                        .collect(),
                ))
                .send()
                .await
                .map_err(|e| api_error("CreateTags", e))?;
        }
        if needs_stop {
            ec2.start_instances()
                .instance_ids(id)
                .send()
                .await
                .map_err(|e| api_error("StartInstances", e))?;
        }
        Ok(None)
    }

    async fn delete(
        &self,
        _cx: &Cx,
        id: &str,
        _recorded: Option<&InstanceProps>,
    ) -> Result<(), ProviderError> {
        self.clients
            .ec2()
            .await
            .terminate_instances()
            .instance_ids(id)
            .send()
            .await
            .gone_ok("TerminateInstances", NOT_FOUND)
    }

    async fn is_deleted(&self, _cx: &Cx, id: &str) -> Result<bool, ProviderError> {
        Ok(self.describe(id).await?.is_none_or(|(i, _)| {
            matches!(
                i.state().and_then(|s| s.name()),
                Some(InstanceStateName::Terminated)
            )
        }))
    }
}
