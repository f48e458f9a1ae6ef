//! API Gateway REST API: one resource with its routes, the deployment and stage, and the VPC
//! link of its private integrations.

pub mod deployment;
pub mod rest_api;
pub mod stage;
pub mod validation;
pub mod vpc_link;

pub use deployment::DeploymentProps;
pub use rest_api::{definition_hash, Integration, IntegrationType, RestApiProps, Route};
pub use stage::StageProps;
pub use vpc_link::VpcLinkProps;

use crate::providers::support::{Absent, CompositeId};

/// What API Gateway answers for an API, resource, method, deployment or stage that is not
/// there.
const NOT_FOUND: Absent = Absent::CodesOr404(&["NotFoundException"]);

/// `api-id/deployment-id` and `api-id/stage-name`: what belongs to one API.
const ID: CompositeId = CompositeId::new("API Gateway", '/');

/// Registers this service's kinds, each with its provider.
pub fn register(r: &mut super::Registry) {
    rest_api::register(r);
    deployment::register(r);
    stage::register(r);
    vpc_link::register(r);
}
