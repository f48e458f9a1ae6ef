//! What the engine knows of a resource kind without talking to its service: the shape of its
//! props, its outputs, which fields force a replacement, which are secret.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value};

/// Completes a kind's resolved props, given the directory paths are relative to.
pub type Prepare = fn(&mut Value, &std::path::Path) -> Result<(), String>;

/// Static description of a resource kind. Build one with [`KindInfo::new`] and the builder
/// methods below; every field but the name and summary has a default.
#[derive(Clone)]
pub struct KindInfo {
    /// `service.thing`, e.g. `s3.bucket`.
    pub name: &'static str,
    /// One line for `pinctl kinds` and the README's kind list.
    pub summary: &'static str,
    /// JSON Schema of the kind's props ([`KindInfo::schema`]; default: anything goes).
    pub schema: fn() -> schemars::Schema,
    /// Attributes known only after the resource exists, referenceable as `${name.attr}`
    /// (default: none).
    pub outputs: &'static [&'static str],
    /// Outputs whose value is not a string, with its JSON type (`array`, `integer`).
    pub output_types: &'static [(&'static str, &'static str)],
    /// Top-level props whose change replaces the resource, with the reason shown in plans
    /// (default: none).
    pub replace: &'static [(&'static str, &'static str)],
    /// Props never written in clear text (default: none).
    pub secret: &'static [&'static str],
    /// Replacement creates the new one before deleting the old (the old is still in use)
    /// (default: false, delete first).
    pub create_before_destroy: bool,
    /// How long one create, update or delete may take unless the stack says otherwise
    /// (default: [`KindInfo::DEFAULT_TIMEOUT`]).
    pub timeout: Duration,
    /// Outputs that an in-place update changes (a definition hash, a revision): dependents see
    /// them as `(known after apply)` when this resource is updated (default: none).
    pub volatile_outputs: &'static [&'static str],
    /// Completes resolved props before they are compared or applied, e.g. the digest of a local
    /// file, so a change of the file is a change of the resource. Paths are relative to `root`
    /// (default: none).
    pub prepare: Option<Prepare>,
    /// The provider changes the resource in place (the provider's `update`).
    /// Without it, any change of the props replaces the resource, and the plan says why
    /// (default: true; [`KindInfo::no_update`] clears it).
    pub updates: bool,
    /// Props that are lists AWS treats as sets (subnets, security groups, routes), as dotted
    /// paths (`client_subnets`, `network.subnet_ids`): their order is neither a change nor drift,
    /// as Terraform's `TypeSet` attributes. Lists of objects match element by element on the
    /// fields the stack sets (default: none).
    pub sets: &'static [&'static str],
    /// Props, as dotted paths, that are maps the resource owns whole (a role's inline
    /// `policies`): an entry the service has and the stack does not is drift, and `up` removes
    /// it. Other maps compare only on the keys the stack sets (default: none).
    pub exclusive: &'static [&'static str],
    /// Resources of this kind are entries of an [`exclusive`](Self::exclusive) map of another
    /// kind's resource (an `iam.role_policy` is an entry of its role's `policies`): those
    /// entries are this resource's, not drift of the other (default: none).
    pub part_of: Option<PartOf>,
}

/// How the resources of one kind are entries of a map prop of another kind's resources: the
/// entry keyed by this resource's prop `key` in the `collection` map of the `kind` resource
/// whose prop `parent` equals this resource's prop `via`.
///
/// `iam.role_policy` is `PartOf { kind: "iam.role", parent: "name", via: "role",
/// collection: "policies", key: "name" }`: the policy named by its `name` in the `policies` of
/// the role named by its `role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartOf {
    /// The kind of the resource holding the map, e.g. `iam.role`.
    pub kind: &'static str,
    /// The holder's prop that identifies it, e.g. `name`.
    pub parent: &'static str,
    /// This kind's prop holding the holder's identity, e.g. `role`.
    pub via: &'static str,
    /// The holder's map prop, one of its kind's [`KindInfo::exclusive`] paths, e.g. `policies`.
    pub collection: &'static str,
    /// This kind's prop naming its entry in that map, e.g. `name`.
    pub key: &'static str,
}

impl KindInfo {
    /// What [`KindInfo::timeout`] is unless a kind sets it: five minutes.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

    /// The reason a plan gives for replacing a resource of a kind without in-place update.
    pub const CANNOT_UPDATE: &'static str = "this kind cannot be updated in place";

    /// A kind named `name` (`service.thing`) with a one-line `summary`; everything else at its
    /// default (see each field).
    pub fn new(name: &'static str, summary: &'static str) -> Self {
        KindInfo {
            name,
            summary,
            schema: || schemars::json_schema!(true),
            outputs: &[],
            replace: &[],
            secret: &[],
            create_before_destroy: false,
            timeout: Self::DEFAULT_TIMEOUT,
            volatile_outputs: &[],
            output_types: &[],
            prepare: None,
            updates: true,
            sets: &[],
            exclusive: &[],
            part_of: None,
        }
    }

    /// The props' schema, derived from their type.
    pub fn schema<P: schemars::JsonSchema>(mut self) -> Self {
        self.schema = || schemars::schema_for!(P);
        self
    }

    /// The outputs, referenceable as `${name.attr}`.
    pub fn outputs(mut self, outputs: &'static [&'static str]) -> Self {
        self.outputs = outputs;
        self
    }

    /// Outputs among [`KindInfo::outputs`] that are not strings, each with its JSON type
    /// (`array` for a list of strings, `integer`).
    pub fn output_types(mut self, types: &'static [(&'static str, &'static str)]) -> Self {
        self.output_types = types;
        self
    }

    /// The JSON type of `${name.attr}` for a resource of this kind: the output's (a string
    /// unless [`KindInfo::output_types`] says otherwise), or the prop's schema type for a prop
    /// (`None` when the schema does not say one).
    pub fn attr_type(&self, attr: &str) -> Option<&'static str> {
        if let Some((_, t)) = self.output_types.iter().find(|(o, _)| *o == attr) {
            return Some(t);
        }
        if self.outputs.contains(&attr) {
            return Some("string");
        }
        let schema = self.schema_json();
        let mut prop = schema.get("properties")?.get(attr)?;
        if let Some(r) = prop.get("$ref").and_then(serde_json::Value::as_str) {
            prop = schema.get("$defs")?.get(r.strip_prefix("#/$defs/")?)?;
        }
        match prop.get("type")?.as_str()? {
            "string" => Some("string"),
            "integer" => Some("integer"),
            "number" => Some("number"),
            "boolean" => Some("boolean"),
            "array" => Some("array"),
            "object" => Some("object"),
            _ => None,
        }
    }

    /// Props whose change replaces the resource, each with the reason plans show.
    pub fn replace(mut self, fields: &'static [(&'static str, &'static str)]) -> Self {
        self.replace = fields;
        self
    }

    /// Props never written in clear text.
    pub fn secret(mut self, props: &'static [&'static str]) -> Self {
        self.secret = props;
        self
    }

    /// A replacement creates the new resource before deleting the old.
    pub fn create_before_destroy(mut self) -> Self {
        self.create_before_destroy = true;
        self
    }

    /// How long one create, update or delete may take.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Outputs an in-place update changes.
    pub fn volatile_outputs(mut self, outputs: &'static [&'static str]) -> Self {
        self.volatile_outputs = outputs;
        self
    }

    /// Completes resolved props before they are compared or applied.
    pub fn prepare(mut self, prepare: Prepare) -> Self {
        self.prepare = Some(prepare);
        self
    }

    /// The kind has no in-place update: any change of its props replaces it.
    pub fn no_update(mut self) -> Self {
        self.updates = false;
        self
    }

    /// Lists compared as sets, as dotted paths ([`KindInfo::sets`]).
    pub fn sets(mut self, paths: &'static [&'static str]) -> Self {
        self.sets = paths;
        self
    }

    /// Maps owned whole, as dotted paths ([`KindInfo::exclusive`]).
    pub fn exclusive(mut self, paths: &'static [&'static str]) -> Self {
        self.exclusive = paths;
        self
    }

    /// Resources of this kind are entries of another kind's map ([`KindInfo::part_of`]).
    pub fn part_of(mut self, part: PartOf) -> Self {
        self.part_of = Some(part);
        self
    }

    /// The default of every top-level prop whose schema declares one that is not `null`: the
    /// props type's serde defaults (`#[serde(default)]`, `#[serde(default = ...)]`), which are
    /// what the provider applies when the stack leaves the prop out. A prop left out is
    /// desired at its default, so a value changed by hand is drift; a prop without a default
    /// (or defaulting to "no value") is not managed when left out.
    pub fn defaults(&self) -> Map<String, Value> {
        self.schema_json()
            .get("properties")
            .and_then(Value::as_object)
            .map(|props| {
                props
                    .iter()
                    .filter_map(|(k, p)| match p.get("default") {
                        Some(d) if !d.is_null() => Some((k.clone(), d.clone())),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Fills the props the stack leaves out with their [`defaults`](Self::defaults); a prop
    /// the stack sets, even to `null`, is kept. Props that are not an object are left alone.
    pub fn complete(&self, props: &mut Value) {
        if let Value::Object(m) = props {
            for (k, d) in self.defaults() {
                m.entry(k).or_insert(d);
            }
        }
    }

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

    /// Why changing `field` forces a replacement, if it does: the field's own reason from
    /// [`replace`](Self::replace), else [`CANNOT_UPDATE`](Self::CANNOT_UPDATE) for a kind without
    /// in-place update.
    pub fn replace_reason(&self, field: &str) -> Option<&'static str> {
        self.declared_replace_reason(field)
            .or((!self.updates).then_some(Self::CANNOT_UPDATE))
    }

    /// The reason [`replace`](Self::replace) gives for `field` (its top-level prop), if any.
    pub fn declared_replace_reason(&self, field: &str) -> Option<&'static str> {
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

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};
    use serde_json::json;

    use super::*;

    fn day() -> u32 {
        24
    }

    #[derive(Serialize, Deserialize, schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Props {
        name: String,
        #[serde(default = "day")]
        retention_hours: u32,
        #[serde(default)]
        versioning: bool,
        #[serde(default)]
        policies: std::collections::BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        security_groups: Vec<String>,
    }

    #[test]
    fn props_left_out_are_completed_with_the_types_defaults_but_unset_ones_stay_unmanaged() {
        let info = KindInfo::new("test.thing", "a thing").schema::<Props>();
        let mut props = json!({"name": "a", "versioning": true});
        info.complete(&mut props);
        assert_eq!(
            props,
            json!({"name": "a", "versioning": true, "retention_hours": 24, "policies": {}})
        );
    }
}
