//! Helpers every service's providers share: "not found" answers as `None` (or, for a delete, as
//! success), a service's status as progress, and physical ids made of several parts.

use std::future::Future;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde_json::{Map, Value};

use crate::clients::aws::{api_error, code_of, is_not_found, HasStatus};
use crate::engine::provider::{Poll, ProviderError};

/// How a service says that a thing is not there.
#[derive(Debug, Clone, Copy)]
pub enum Absent {
    /// One of these error codes.
    Codes(&'static [&'static str]),
    /// One of these error codes, or an HTTP 404 error answer (a service or emulator that
    /// answers without a code): [`is_not_found`].
    CodesOr404(&'static [&'static str]),
    /// One of these error codes, or any answer with HTTP status 404 (S3's HEAD requests,
    /// whose 404 has no body to carry a code).
    CodesOrHttp404(&'static [&'static str]),
}

impl Absent {
    /// Whether `e` says the thing is not there.
    pub fn matches<E: ProvideErrorMetadata, R: HasStatus>(self, e: &SdkError<E, R>) -> bool {
        match self {
            Absent::Codes(codes) => code_of(e).is_some_and(|c| codes.contains(&c)),
            Absent::CodesOr404(codes) => codes.iter().any(|c| is_not_found(e, c)),
            Absent::CodesOrHttp404(codes) => {
                code_of(e).is_some_and(|c| codes.contains(&c))
                    || e.raw_response().is_some_and(|r| r.status_code() == 404)
            }
        }
    }
}

/// "Not found" as an answer, over an SDK call's result.
pub trait OrAbsent<T> {
    /// `Ok(None)` when the service says the thing is not there (`absent`); any other error is
    /// the API error of `operation`.
    fn or_absent(self, operation: &str, absent: Absent) -> Result<Option<T>, ProviderError>;

    /// For deletes: a thing already gone is success.
    fn gone_ok(self, operation: &str, absent: Absent) -> Result<(), ProviderError>
    where
        Self: Sized,
    {
        self.or_absent(operation, absent).map(|_| ())
    }
}

impl<T, E, R> OrAbsent<T> for Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: HasStatus + std::fmt::Debug + Send + Sync + 'static,
{
    fn or_absent(self, operation: &str, absent: Absent) -> Result<Option<T>, ProviderError> {
        match self {
            Ok(t) => Ok(Some(t)),
            Err(e) if absent.matches(&e) => Ok(None),
            Err(e) => Err(api_error(operation, e)),
        }
    }
}

/// What a poll reports while the service does not show the thing yet (eventual consistency).
pub fn not_visible_yet() -> Poll {
    Poll::Pending("not visible yet".into())
}

/// Where a service's status puts a create or update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Done.
    Ready,
    /// The service gave up.
    Failed,
    /// Still working: the service's status (`unknown` when it reports none).
    Pending(String),
}

/// The progress a service's `status` means, given its ready and failed statuses; any other is
/// pending under its own name.
pub fn progress<S: AsRef<str> + PartialEq>(
    status: Option<&S>,
    ready: &[S],
    failed: &[S],
) -> Progress {
    match status {
        Some(s) if ready.contains(s) => Progress::Ready,
        Some(s) if failed.contains(s) => Progress::Failed,
        Some(s) => Progress::Pending(s.as_ref().to_string()),
        None => Progress::Pending("unknown".into()),
    }
}

impl Progress {
    /// The [`Poll`]: when ready, the `outputs` (only then awaited); when failed, the service's
    /// `reason` or else `fallback`; else pending under the service's status.
    pub async fn poll(
        self,
        outputs: impl Future<Output = Result<Map<String, Value>, ProviderError>>,
        reason: Option<&str>,
        fallback: &str,
    ) -> Result<Poll, ProviderError> {
        self.poll_then(async { Ok(Poll::Ready(outputs.await?)) }, reason, fallback)
            .await
    }

    /// As [`poll`](Self::poll), when being ready is not yet the end: `ready` (only then
    /// awaited) says what the poll is.
    pub async fn poll_then(
        self,
        ready: impl Future<Output = Result<Poll, ProviderError>>,
        reason: Option<&str>,
        fallback: &str,
    ) -> Result<Poll, ProviderError> {
        match self {
            Progress::Ready => ready.await,
            Progress::Failed => Ok(Poll::Failed(reason.unwrap_or(fallback).to_string())),
            Progress::Pending(s) => Ok(Poll::Pending(s)),
        }
    }
}

/// A physical id made of parts joined by one separator (`bucket/key`, `cluster_arn|topic`,
/// `vpc-123#2`), as Terraform's AWS provider keeps one helper pair for its composite ids.
/// The first separator splits, so the last part may itself contain it (an object key's `/`).
#[derive(Debug, Clone, Copy)]
pub struct CompositeId {
    /// What the id names, for [`ProviderError::BadId`].
    pub what: &'static str,
    pub separator: char,
}

impl CompositeId {
    pub const fn new(what: &'static str, separator: char) -> Self {
        CompositeId { what, separator }
    }

    /// The parts joined.
    pub fn join(&self, parts: &[&str]) -> String {
        parts.join(self.separator.encode_utf8(&mut [0; 4]))
    }

    /// The first part and, when there is a separator, the rest.
    pub fn split<'a>(&self, id: &'a str) -> (&'a str, Option<&'a str>) {
        match id.split_once(self.separator) {
            Some((a, b)) => (a, Some(b)),
            None => (id, None),
        }
    }

    /// The two parts; an id without the separator is malformed.
    pub fn pair<'a>(&self, id: &'a str) -> Result<(&'a str, &'a str), ProviderError> {
        match self.split(id) {
            (a, Some(b)) => Ok((a, b)),
            (_, None) => Err(ProviderError::bad_id(self.what, id)),
        }
    }

    /// `N` parts, the last holding the rest; missing ones are empty.
    pub fn parts<'a, const N: usize>(&self, id: &'a str) -> [&'a str; N] {
        let mut out = [""; N];
        for (slot, part) in out.iter_mut().zip(id.splitn(N, self.separator)) {
            *slot = part;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composite_ids_join_and_split_at_the_first_separator() {
        let object = CompositeId::new("object", '/');
        assert_eq!(object.join(&["bucket", "a/b.txt"]), "bucket/a/b.txt");
        assert_eq!(
            object.pair("bucket/a/b.txt").unwrap(),
            ("bucket", "a/b.txt")
        );
        assert!(matches!(
            object.pair("bucket"),
            Err(ProviderError::BadId { what, id }) if what == "object" && id == "bucket"
        ));
        let network = CompositeId::new("network", '#');
        assert_eq!(network.split("vpc-123#2"), ("vpc-123", Some("2")));
        assert_eq!(network.split("vpc-123"), ("vpc-123", None));
        let topic = CompositeId::new("topic", '|');
        let arn = "arn:aws:kafka:us-east-1:1:cluster/c/uuid";
        let id = topic.join(&[arn, "events"]);
        assert_eq!(topic.pair(&id).unwrap(), (arn, "events"));
        let rollout = CompositeId::new("deployment", '|');
        assert_eq!(rollout.parts::<3>("b|p/|i-1"), ["b", "p/", "i-1"]);
        assert_eq!(rollout.parts::<3>("b|p|i|x"), ["b", "p", "i|x"]);
        assert_eq!(rollout.parts::<3>("b"), ["b", "", ""]);
    }

    #[test]
    fn a_status_maps_to_progress() {
        let ready = ["ACTIVE"];
        let failed = ["FAILED"];
        assert_eq!(progress(Some(&"ACTIVE"), &ready, &failed), Progress::Ready);
        assert_eq!(progress(Some(&"FAILED"), &ready, &failed), Progress::Failed);
        assert_eq!(
            progress(Some(&"CREATING"), &ready, &failed),
            Progress::Pending("CREATING".into())
        );
        assert_eq!(
            progress::<&str>(None, &ready, &failed),
            Progress::Pending("unknown".into())
        );
    }
}
