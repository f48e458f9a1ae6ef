//! Which failed calls the AWS SDK may send again on its own.
//!
//! The SDKs' standard retry mode repeats any call that got a 5xx, a timeout or a broken
//! connection. For a call that creates something without a client token, that is how
//! duplicates are made: the first attempt may have run and only its answer been lost ("If you
//! repeat a request without a client token, ... you might create more resources than you
//! intended", EC2 API Reference, "Ensuring idempotency in Amazon EC2 API requests"). Such a
//! call is therefore not repeated by the SDK when the outcome is unknown; the error reaches
//! the engine, which looks for what the call may have made before trying again
//! (`engine::apply`). Throttling answers (the request was refused, nothing ran) are still
//! retried by the SDK.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextRef,
    InterceptorContext,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority, RetryReason,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::Request;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use aws_smithy_types::retry::ErrorKind;

/// Verbs of operations that make something new each time they run (EC2's `CreateVpc`,
/// `RunInstances`, `AuthorizeSecurityGroupIngress`, IAM's `AddRoleToInstanceProfile`, ...).
/// `Put*` operations overwrite (`PutRolePolicy`, `PutMethod`) and are safe to repeat.
const CREATING_VERBS: [&str; 9] = [
    "Create",
    "Run",
    "Allocate",
    "Authorize",
    "Attach",
    "Associate",
    "Import",
    "Register",
    "Add",
];

/// The retry classifier that forbids the SDK's own retry of a non-idempotent call whose
/// outcome is unknown. It runs after the SDK's classifiers and only narrows their verdict.
#[derive(Debug, Default, Clone, Copy)]
pub struct UnknownOutcome;

impl ClassifyRetry for UnknownOutcome {
    fn classify_retry(&self, _ctx: &InterceptorContext) -> RetryAction {
        RetryAction::NoActionIndicated
    }

    fn classify_retry_v2(&self, ctx: &InterceptorContext, previous: &RetryAction) -> RetryAction {
        let RetryAction::RetryIndicated(RetryReason::RetryableError { kind, .. }) = previous else {
            return previous.clone();
        };
        if *kind == ErrorKind::ThrottlingError {
            return previous.clone();
        }
        // The request has gone to the connector by now; the mark says what it was.
        let marked = ctx
            .response()
            .is_some_and(|r| r.extension::<NotIdempotent>().is_some());
        if marked || ctx.request().is_some_and(|r| !idempotent(r)) {
            RetryAction::RetryForbidden
        } else {
            previous.clone()
        }
    }

    fn name(&self) -> &'static str {
        "pinctl-unknown-outcome"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

/// Whether the attempt's request was idempotent, kept while the request is in flight.
#[derive(Debug, Clone, Copy)]
struct Idempotent(bool);

impl Storable for Idempotent {
    type Storer = StoreReplace<Self>;
}

/// Marks the answer to a non-idempotent request, for [`UnknownOutcome`].
#[derive(Debug, Clone, Copy)]
struct NotIdempotent;

/// Notes, before each attempt is sent, whether its request is idempotent, and marks the
/// answer to one that is not, so [`UnknownOutcome`] can tell once the request is gone.
#[derive(Debug, Default, Clone, Copy)]
pub struct MarkNotIdempotent;

impl Intercept for MarkNotIdempotent {
    fn name(&self) -> &'static str {
        "pinctl-mark-not-idempotent"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state()
            .store_put(Idempotent(idempotent(context.request())));
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if matches!(cfg.load::<Idempotent>(), Some(Idempotent(false))) {
            context.response_mut().add_extension(NotIdempotent);
        }
        Ok(())
    }
}

/// Whether sending `req` twice does what sending it once does: it names no creating
/// operation, or it carries a client token.
pub fn idempotent(req: &Request) -> bool {
    let body = req.body().bytes().unwrap_or_default();
    let text = String::from_utf8_lossy(body);
    if text.contains("ClientToken") || text.contains("clientToken") {
        return true;
    }
    // Query protocol (EC2, IAM, ELB, STS): `Action=CreateVpc&...`.
    if let Some(action) = url::form_urlencoded::parse(body)
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.to_string())
    {
        return !creates(&action);
    }
    // JSON protocol (Kinesis, SSM): `X-Amz-Target: Kinesis_20131202.CreateStream`.
    if let Some(target) = req.headers().get("x-amz-target") {
        return !creates(target.rsplit('.').next().unwrap_or(target));
    }
    // REST protocols (API Gateway, MSK, MSK Connect, MWAA, S3): POST makes a new resource;
    // PUT, PATCH and DELETE name the resource they act on.
    !req.method().eq_ignore_ascii_case("POST")
}

fn creates(operation: &str) -> bool {
    CREATING_VERBS.iter().any(|v| {
        operation
            .strip_prefix(v)
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_types::body::SdkBody;

    fn request(method: &str, body: &str, target: Option<&str>) -> Request {
        let mut r = Request::new(SdkBody::from(body.to_string()));
        r.set_method(method).unwrap();
        if let Some(t) = target {
            r.headers_mut().insert("x-amz-target", t.to_string());
        }
        r
    }

    #[test]
    fn creating_calls_without_a_client_token_are_not_idempotent() {
        for (method, body, target, idem) in [
            (
                "POST",
                "Action=CreateVpc&CidrBlock=10.0.0.0%2F16",
                None,
                false,
            ),
            (
                "POST",
                "Action=RunInstances&ClientToken=t&MinCount=1",
                None,
                true,
            ),
            ("POST", "Action=DescribeVpcs", None, true),
            (
                "POST",
                "Action=AuthorizeSecurityGroupIngress&GroupId=sg-1",
                None,
                false,
            ),
            ("POST", "Action=PutRolePolicy&RoleName=r", None, true),
            ("POST", "Action=AddRoleToInstanceProfile", None, false),
            ("POST", "Action=Address", None, true),
            ("POST", "{}", Some("Kinesis_20131202.CreateStream"), false),
            ("POST", "{}", Some("Kinesis_20131202.DescribeStream"), true),
            (
                "POST",
                "{\"ClientToken\":\"t\"}",
                Some("X.CreateThing"),
                true,
            ),
            ("POST", "{\"name\":\"api\"}", None, false),
            ("PUT", "{}", None, true),
            ("PATCH", "{}", None, true),
            ("DELETE", "", None, true),
            ("GET", "", None, true),
        ] {
            assert_eq!(
                idempotent(&request(method, body, target)),
                idem,
                "{method} {body} {target:?}"
            );
        }
    }
}
