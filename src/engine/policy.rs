//! What the engine does after a provider call fails, decided in one place (kube-runtime's
//! `error_policy`): retry the call later, record the resource as failed, or stop the operation.

use super::provider::ProviderError;

/// Which provider call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// `create` or `update`: not repeated, since a lost answer may hide a success; a resumed
    /// run finds what was made through the recorded token.
    Change,
    /// `poll` or `is_deleted`: reads, safe to repeat.
    Wait,
    /// `delete`: safe to repeat (a resource already gone is not an error).
    Delete,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Try the same call again after a backoff, within the operation's timeout.
    Retry,
    /// Record the resource as failed (the next plan replaces it) and stop the operation.
    RecordFailed,
    /// Stop the operation; the state keeps what was recorded so far.
    Stop,
}

/// The policy: a retryable API error or a resource still in use is retried where the call
/// can be repeated; a service-reported failure is recorded; anything else stops.
pub fn on_error(call: Call, e: &ProviderError) -> OnError {
    match e {
        ProviderError::Failed { .. } => OnError::RecordFailed,
        ProviderError::Api {
            retryable: true, ..
        }
        | ProviderError::InUse { .. }
            if call != Call::Change =>
        {
            OnError::Retry
        }
        _ => OnError::Stop,
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
    fn reads_and_deletes_retry_what_may_pass_changes_do_not() {
        assert_eq!(on_error(Call::Wait, &api(true)), OnError::Retry);
        assert_eq!(on_error(Call::Delete, &api(true)), OnError::Retry);
        assert_eq!(on_error(Call::Change, &api(true)), OnError::Stop);
        assert_eq!(on_error(Call::Wait, &api(false)), OnError::Stop);
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
