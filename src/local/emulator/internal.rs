//! The emulator's own calls to moto, made as the AWS services it stands for (MSK, MSK Connect
//! and MWAA managing their network interfaces, reading security groups and roles): marked so
//! the faults in front of moto leave them alone. AWS's throttles and lost answers are what a
//! client of an API meets; a service's own work inside AWS is not that client.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextMut;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// The header `scripts/moto/pinctl_moto_fidelity.py`'s fault middleware lets through.
pub(super) const HEADER: &str = "x-pinctl-service-internal";

/// Adds [`HEADER`] to every request of the client it is given to.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct ServiceInternal;

impl Intercept for ServiceInternal {
    fn name(&self) -> &'static str {
        "pinctl-service-internal"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        context.request_mut().headers_mut().insert(HEADER, "1");
        Ok(())
    }
}
