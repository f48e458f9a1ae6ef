//! Entries of a resource's exclusive map that belong to other resources of the stack
//! ([`crate::kind::PartOf`]): an `iam.role_policy` is an inline policy of its role, so the
//! role's live `policies` hold it, and it is neither drift of the role nor something the
//! role's `up` removes.

use serde_json::Value;

use super::diff::pointer_of;
use super::provider::Providers;
use crate::state::StateFile;

/// Removes from `live`, the live props of the recorded resource `name`, every entry that
/// another recorded resource is a [`PartOf`](crate::kind::PartOf). Recorded props identify
/// both sides (a holder or a part that is renamed is replaced, so its recorded identity is its
/// live one). A resource of a kind no provider serves is skipped: the plan reports it.
pub fn strip_parts(state: &StateFile, providers: &dyn Providers, name: &str, live: &mut Value) {
    let Some(holder) = state.resources.get(name) else {
        return;
    };
    for (other, rec) in &state.resources {
        if other == name {
            continue;
        }
        let Some(part) = providers.get(&rec.kind).and_then(|p| p.info().part_of) else {
            continue;
        };
        let identity = holder.props.get(part.parent).filter(|v| !v.is_null());
        if part.kind != holder.kind || identity.is_none() || rec.props.get(part.via) != identity {
            continue;
        }
        let Some(key) = rec.props.get(part.key).and_then(Value::as_str) else {
            continue;
        };
        if let Some(Value::Object(entries)) = live.pointer_mut(&pointer_of(part.collection)) {
            entries.shift_remove(key);
        }
    }
}
