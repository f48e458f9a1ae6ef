//! What the engine does after a provider call fails, decided in one place (kube-runtime's
//! `error_policy`): retry the call later, record the resource as failed, or stop the operation.

use super::provider::ProviderError;

/// Which provider call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `create`: not repeated blindly, since a lost answer may hide a success; the engine
    /// first looks for what it may have made (`adopt`, by the recorded token).
    Create,
    /// `update`: repeated, since providers change what differs from what is live, so a second
    /// attempt after a lost answer finds nothing left to do.
    Update,
    /// `poll` or `is_deleted`: reads, safe to repeat.
    Wait,
    /// `delete`: safe to repeat (a resource already gone is not an error). A refusal is
    /// checked against the resource: a delete whose answer was lost after it ran, repeated by
    /// the SDK's retry, may be refused because the first one already did the work (EC2's
    /// DeleteVpcEndpoints repeated on a deleted endpoint).
    Delete,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Try the same call again after a backoff, within the operation's timeout.
    Retry,
    /// Look for what the failed call may have made (its answer may have been lost), adopt it
    /// if found, and only otherwise call again.
    LookThenRetry,
    /// Look whether the resource is gone; if it is, the call did its work (its answer was
    /// lost and a repeat refused); else stop.
    CheckGone,
    /// Record the resource as failed (the next plan replaces it) and stop the operation.
    RecordFailed,
    /// Stop the operation; the state keeps what was recorded so far.
    Stop,
}

/// The policy: a retryable API error or a resource still in use is retried where the call
/// can be repeated, and a creation looked for before it is tried again; a service-reported
/// failure is recorded; anything else stops.
pub fn on_error(call: Call, e: &ProviderError) -> OnError {
    match e {
        ProviderError::Failed { .. } => OnError::RecordFailed,
        ProviderError::Api {
            retryable: true, ..
        } if call == Call::Create => OnError::LookThenRetry,
        ProviderError::Api {
            retryable: true, ..
        }
        | ProviderError::InUse { .. }
            if call != Call::Create =>
        {
            OnError::Retry
        }
        ProviderError::Api { .. } if call == Call::Delete => OnError::CheckGone,
        _ => OnError::Stop,
    }
}

/// Runs a read (`f`), repeating it with backoff while it fails with an error the policy retries
/// for a [`Call::Wait`] (a throttle, a 5xx, a lost answer), for up to `bound`; then its last
/// answer. Refresh, drift and the look-alike lookups read through it.
pub async fn read_with_retries<T, Fut>(
    bound: std::time::Duration,
    mut f: impl FnMut() -> Fut,
) -> Result<T, ProviderError>
where
    Fut: std::future::Future<Output = Result<T, ProviderError>>,
{
    let deadline = std::time::Instant::now() + bound;
    let mut backoff = super::backoff::Backoff::new(
        std::time::Duration::from_millis(200),
        std::time::Duration::from_secs(10),
    );
    loop {
        match f().await {
            Err(e)
                if on_error(Call::Wait, &e) == OnError::Retry
                    && std::time::Instant::now() < deadline =>
            {
                tracing::debug!("retrying a read after: {e}");
                backoff.sleep().await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(retryable: bool) -> ProviderError {
        ProviderError::Api {
            operation: "X".into(),
            code: "ThrottlingException".into(),
            message: String::new(),
            retryable,
        }
    }

    #[test]
    fn what_may_pass_is_retried_and_a_creation_looked_for_first() {
        assert_eq!(on_error(Call::Wait, &api(true)), OnError::Retry);
        assert_eq!(on_error(Call::Delete, &api(true)), OnError::Retry);
        assert_eq!(on_error(Call::Update, &api(true)), OnError::Retry);
        assert_eq!(on_error(Call::Create, &api(true)), OnError::LookThenRetry);
        assert_eq!(on_error(Call::Create, &api(false)), OnError::Stop);
        assert_eq!(on_error(Call::Wait, &api(false)), OnError::Stop);
        assert_eq!(on_error(Call::Delete, &api(false)), OnError::CheckGone);
        let in_use = ProviderError::InUse {
            what: "sg".into(),
            reason: "DependencyViolation".into(),
        };
        assert_eq!(on_error(Call::Delete, &in_use), OnError::Retry);
        let failed = ProviderError::Failed {
            what: "cluster".into(),
            status: "FAILED".into(),
            reason: "no capacity".into(),
        };
        assert_eq!(on_error(Call::Wait, &failed), OnError::RecordFailed);
    }
}
