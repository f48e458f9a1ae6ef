//! The stack document as written in YAML. These types are the single source of the format:
//! the JSON Schema (`pinctl schema`) and the validator are both derived from them.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A pinctl stack: parameters, environments and the resources of one pipeline.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StackDoc {
    /// Name of the stack. Names its state and tags every resource (`pinctl:stack`).
    pub stack: String,
    /// What this stack provisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Directory that template and file paths are relative to, itself relative to this file
    /// (default: the stack file's directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// The env used when `--env` is not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_env: Option<String>,
    /// Inputs of the stack, referenced as `${params.NAME}`.
    #[serde(default)]
    pub params: BTreeMap<String, ParamDecl>,
    /// Environment overlays (`dev`, `prod`, `local`, ...): param values and resource overrides.
    #[serde(default)]
    pub envs: BTreeMap<String, EnvDecl>,
    /// Where recorded state is kept (default: local files under `.pinctl/state/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateDecl>,
    /// The resources, by name. A name is referenced as `${NAME.attribute}`.
    pub resources: BTreeMap<String, ResourceDecl>,
}

/// The type of a parameter's value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    #[default]
    String,
    Integer,
    Boolean,
    List,
}

impl ParamType {
    pub fn name(self) -> &'static str {
        match self {
            ParamType::String => "a string",
            ParamType::Integer => "an integer",
            ParamType::Boolean => "a boolean",
            ParamType::List => "a list of strings",
        }
    }

    pub fn schema(self) -> Value {
        match self {
            ParamType::String => serde_json::json!({"type": "string"}),
            ParamType::Integer => serde_json::json!({"type": "integer"}),
            ParamType::Boolean => serde_json::json!({"type": "boolean"}),
            ParamType::List => serde_json::json!({"type": "array", "items": {"type": "string"}}),
        }
    }
}

/// A stack input.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParamDecl {
    /// Value type (default `string`).
    #[serde(default, rename = "type")]
    pub kind: ParamType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Value used when no env sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// A regular expression a string value must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// Read the value from this environment variable when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_env: Option<String>,
    /// Never written in clear text to state, plans or logs.
    #[serde(default)]
    pub secret: bool,
}

/// An environment overlay.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvDecl {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Param values for this env.
    #[serde(default)]
    pub params: BTreeMap<String, Value>,
    /// Per-resource overrides, deep-merged into the resource's `props`.
    #[serde(default)]
    pub resources: BTreeMap<String, ResourceOverlay>,
}

/// Changes an env makes to one resource.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceOverlay {
    /// Props merged over the resource's own (mappings merge key by key; other values replace).
    #[serde(default)]
    pub props: serde_json::Map<String, Value>,
    /// Per-resource timeout for this env, e.g. `45m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// One resource.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceDecl {
    /// The resource kind, e.g. `s3.bucket` (see `pinctl schema`).
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The kind's properties. Strings may hold `${...}` references; a string may also be given
    /// as `{template: PATH, vars: {...}}` (rendered) or `{file: PATH}` (read as is).
    #[serde(default)]
    pub props: serde_json::Map<String, Value>,
    /// Extra ordering beyond the references found in `props`.
    #[serde(default)]
    pub depends_on: Vec<String>,
    /// Only these envs have the resource (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envs: Option<Vec<String>>,
    /// How long create, update or delete may take before it fails, e.g. `30m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// Where state lives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    #[default]
    Local,
    S3,
}

/// State backend settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateDecl {
    #[serde(default)]
    pub backend: BackendKind,
    /// Local backend: the state directory (default `.pinctl/state`, relative to the stack file's
    /// parent directory's parent when the stack sits in `stacks/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// S3 backend: the bucket holding state objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// S3 backend: key prefix (default `pinctl/state`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// S3 backend: the bucket's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}
