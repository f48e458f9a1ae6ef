//! What the engine knows of a resource kind without talking to its service: the shape of its
//! props, its outputs, which fields force a replacement, which are secret.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

/// Completes a kind's resolved props, given the directory paths are relative to.
pub type Prepare = fn(&mut Value, &std::path::Path) -> Result<(), String>;

/// Static description of a resource kind.
#[derive(Clone)]
pub struct KindInfo {
    /// `service.thing`, e.g. `s3.bucket`.
    pub name: &'static str,
    pub summary: &'static str,
    /// JSON Schema of the kind's props.
    pub schema: fn() -> schemars::Schema,
    /// Attributes known only after the resource exists, referenceable as `${name.attr}`.
    pub outputs: &'static [&'static str],
    /// Top-level props whose change replaces the resource, with the reason shown in plans.
    pub replace: &'static [(&'static str, &'static str)],
    /// Props never written in clear text.
    pub secret: &'static [&'static str],
    /// Replacement creates the new one before deleting the old (the old is still in use).
    pub create_before_destroy: bool,
    /// How long one create, update or delete may take unless the stack says otherwise.
    pub timeout: Duration,
    /// Outputs that an in-place update changes (a definition hash, a revision): dependents see
    /// them as `(known after apply)` when this resource is updated.
    pub volatile_outputs: &'static [&'static str],
    /// Completes resolved props before they are compared or applied, e.g. the digest of a local
    /// file, so a change of the file is a change of the resource. Paths are relative to `root`.
    pub prepare: Option<Prepare>,
}

impl KindInfo {
    pub fn schema_json(&self) -> Value {
        serde_json::to_value((self.schema)()).unwrap_or(Value::Bool(true))
    }

    /// Top-level props names declared by the schema.
    pub fn prop_names(&self) -> Vec<String> {
        self.schema_json()
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Why changing `field` forces a replacement, if it does.
    pub fn replace_reason(&self, field: &str) -> Option<&'static str> {
        let top = field.split(['.', '[']).next().unwrap_or(field);
        self.replace
            .iter()
            .find(|(f, _)| *f == top)
            .map(|(_, why)| *why)
    }

    /// Attributes that `${name.attr}` may name: outputs and props.
    pub fn attributes(&self) -> Vec<String> {
        let mut a: Vec<String> = self.outputs.iter().map(|s| s.to_string()).collect();
        a.extend(self.prop_names());
        a.sort();
        a.dedup();
        a
    }
}

/// Every kind this build knows, by name.
#[derive(Clone, Default)]
pub struct Kinds(BTreeMap<&'static str, KindInfo>);

impl Kinds {
    pub fn new(infos: impl IntoIterator<Item = KindInfo>) -> Self {
        Kinds(infos.into_iter().map(|k| (k.name, k)).collect())
    }

    pub fn get(&self, name: &str) -> Option<&KindInfo> {
        self.0.get(name)
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.0.keys().copied().collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &KindInfo> {
        self.0.values()
    }
}
