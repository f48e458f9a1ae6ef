//! JSON helpers shared by the stack loader and the emulator.

use serde_json::Value;

/// Merges `over` into `base`, object by object: a key in `over` replaces the one in `base`, an
/// object merges into an object, and a `null` removes the key (how an env overlay drops a prop).
pub fn deep_merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                if v.is_null() {
                    // An env removes a prop by setting it to null.
                    b.remove(k);
                    continue;
                }
                match b.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        deep_merge(existing, v)
                    }
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}
