//! Loading a stack: parse with positions, check the format, resolve params and env overlays,
//! check every reference and template, and find cycles. All problems are collected.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use marked_yaml::{LoaderOptions, Node};
use regex::Regex;
use serde_json::Value;

use super::check::{self, did_you_mean, node_location, Checker, FILE_KEY, TEMPLATE_KEY};
use super::diag::{Diagnostics, Location};
use super::expr::{self, Ref};
use super::model::{ParamDecl, ParamType, StackDoc};
use crate::json::deep_merge;
use crate::kind::Kinds;

/// Names a resource may not take: they are the other reference scopes.
const RESERVED: &[&str] = &["params", "stack", "vars", "aws"];
/// Attributes of `${stack.*}`.
const STACK_ATTRS: &[&str] = &["name", "env"];
/// Attributes of `${aws.*}`: the target's region, and a digest of its account id and region
/// (see [`Stack::aws`]).
pub const AWS_ATTRS: &[&str] = &["region", "account_hash"];
/// The env of a stack that declares none.
pub const IMPLICIT_ENV: &str = "default";

/// A param's value in one env.
#[derive(Debug, Clone)]
pub struct ParamValue {
    pub value: Value,
    pub secret: bool,
}

/// One resource as it is in one env.
#[derive(Debug, Clone)]
pub struct Resource {
    pub name: String,
    pub kind: String,
    /// Typed props with the env overlay merged; strings may still hold `${...}`.
    pub props: Value,
    /// Resources this one needs first (references and `depends_on`).
    pub deps: BTreeSet<String>,
    pub timeout: Option<Duration>,
    pub location: Location,
}

/// A stack resolved for one env, ready for the engine.
#[derive(Debug, Clone)]
pub struct Stack {
    pub name: String,
    pub env: String,
    pub file: PathBuf,
    pub doc: StackDoc,
    pub params: BTreeMap<String, ParamValue>,
    pub resources: BTreeMap<String, Resource>,
    /// Template and file contents by the path written in the stack.
    pub files: BTreeMap<String, String>,
    /// Directory that template and file paths are relative to.
    pub root: PathBuf,
    /// The values of `${aws.*}` (by attribute, [`AWS_ATTRS`]), set by the command layer from
    /// the credentials before planning (`region`; `account_hash`: the first 10 hex digits of
    /// SHA-256 of `<account id>:<region>`, so a globally unique name can differ per account and
    /// region without the account id ever reaching a name, a plan or the state). Empty when no
    /// service was asked (`validate`, `graph`): such references are then `(known after apply)`.
    pub aws: BTreeMap<String, String>,
}

impl Stack {
    /// Whether any resource's props refer to `${aws.*}` (then the credentials must be asked
    /// before planning).
    pub fn uses_aws_values(&self) -> bool {
        fn walk(v: &Value) -> bool {
            match v {
                Value::String(s) => expr::parse(s)
                    .map(|segs| {
                        segs.iter()
                            .any(|s| matches!(s, expr::Segment::Ref(Ref::Aws(_), _)))
                    })
                    .unwrap_or(false),
                Value::Array(a) => a.iter().any(walk),
                Value::Object(o) => o.values().any(walk),
                _ => false,
            }
        }
        self.resources.values().any(|r| walk(&r.props))
    }
}

/// Options for loading.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `--param name=value` overrides, applied over the env's values.
    pub param_overrides: BTreeMap<String, String>,
    /// Only checking the stack: a param read from the environment (`from_env`) may be unset.
    pub validate_only: bool,
}

struct Parsed {
    file: PathBuf,
    text: String,
    node: Node,
    doc: StackDoc,
}

fn parse_error_location(file: &Path, msg: &str) -> (Location, String) {
    // marked-yaml renders its errors as `line:col: message`.
    let mut parts = msg.splitn(3, ':');
    if let (Some(l), Some(c), Some(rest)) = (parts.next(), parts.next(), parts.next()) {
        if let (Ok(l), Ok(c)) = (l.trim().parse(), c.trim().parse()) {
            return (Location::new(file, l, c), rest.trim().to_string());
        }
    }
    (Location::new(file, 1, 1), msg.to_string())
}

/// The JSON Schema of the stack document, with the props of each kind filled in.
pub fn stack_schema(kinds: &Kinds) -> Value {
    let mut root = serde_json::to_value(schemars::schema_for!(StackDoc)).unwrap_or(Value::Null);
    let variants: Vec<Value> = kinds
        .iter()
        .map(|k| {
            let mut props = k.schema_json();
            if let Some(o) = props.as_object_mut() {
                o.remove("$schema");
                o.insert("description".into(), Value::String(k.summary.into()));
            }
            serde_json::json!({
                "if": {"properties": {"type": {"const": k.name}}, "required": ["type"]},
                "then": {"properties": {"props": props}}
            })
        })
        .collect();
    let kind_names: Vec<&str> = kinds.names();
    if let Some(decl) = root.pointer_mut("/$defs/ResourceDecl") {
        decl["allOf"] = Value::Array(variants);
        decl["properties"]["type"]["enum"] = serde_json::json!(kind_names);
    }
    root
}

/// The first character YAML does not allow in a stream, with its byte offset: YAML 1.2's
/// c-printable (5.1) is tab, LF, CR, U+0020..U+007E, U+0085, U+00A0..U+D7FF, U+E000..U+FFFD and
/// U+10000 up. The YAML parser would take a NUL for the end of the stream, or keep a BEL in a
/// value, and its error (if any) would point elsewhere.
fn forbidden_character(text: &str) -> Option<(usize, char)> {
    text.char_indices().find(|&(_, c)| {
        !matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{7E}' | '\u{85}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
    })
}

/// Where a second YAML document starts in `text` (line, column; 1-based), if it has one:
/// marked-yaml reads the first and ignores the rest, so a stream of two stacks would
/// silently apply only the first.
fn second_document(text: &str) -> Option<(usize, usize)> {
    use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
    use yaml_rust2::scanner::Marker;
    #[derive(Default)]
    struct Starts(Vec<Marker>);
    impl MarkedEventReceiver for Starts {
        fn on_event(&mut self, ev: Event, mark: Marker) {
            if ev == Event::DocumentStart {
                self.0.push(mark);
            }
        }
    }
    let mut starts = Starts::default();
    Parser::new_from_str(text).load(&mut starts, true).ok()?;
    starts.0.get(1).map(|m| (m.line(), m.col() + 1))
}

fn parse(path: &Path, diags: &mut Diagnostics) -> Option<Parsed> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            diags.push(
                Location::new(path, 1, 1),
                format!("cannot read the stack file: {e}"),
            );
            return None;
        }
    };
    if let Some((offset, c)) = forbidden_character(&text) {
        diags.push(
            Location::at_offset(path, &text, offset),
            format!(
                "invalid YAML: control character U+{:04X} is not allowed (YAML 1.2, 5.1: a stream holds printable characters only; write it escaped in a double-quoted string, e.g. \"\\x{:02x}\")",
                c as u32, c as u32
            ),
        );
        return None;
    }
    let options = LoaderOptions::default().error_on_duplicate_keys(true);
    let node = match marked_yaml::parse_yaml_with_options(0, &text, options) {
        Ok(n) => n,
        Err(marked_yaml::LoadError::DuplicateKey(inner)) => {
            let first = inner.prev_key.span().start().map(|m| m.line()).unwrap_or(0);
            let loc = check::scalar_location(path, &inner.key);
            diags.push(
                loc,
                format!(
                    "invalid YAML: duplicate key `{}` (first defined on line {first})",
                    inner.key.as_str()
                ),
            );
            return None;
        }
        Err(e) => {
            let (mut loc, msg) = parse_error_location(path, &e.to_string());
            // The scanner marks a tab's error after the tab: point at the tab itself.
            if msg.contains("tabs disallowed") {
                if let Some(line) = text.lines().nth(loc.line.saturating_sub(1)) {
                    let before: Vec<char> =
                        line.chars().take(loc.column.saturating_sub(1)).collect();
                    if let Some(i) = before.iter().rposition(|c| *c == '\t') {
                        loc.column = i + 1;
                    }
                }
            }
            let msg = if msg.contains("Top level must be a mapping") {
                "the stack must be a YAML mapping with `stack:` and `resources:`".to_string()
            } else {
                format!("invalid YAML: {msg}")
            };
            diags.push(loc, msg);
            return None;
        }
    };
    if let Some((line, col)) = second_document(&text) {
        diags.push(
            Location::new(path, line, col),
            "a stack file holds one YAML document: this `---` starts a second one (split the stacks into files of their own)",
        );
        return None;
    }
    // Props are checked per kind later; here they are any mapping.
    let schema = serde_json::to_value(schemars::schema_for!(StackDoc)).ok()?;
    let before = diags.len();
    let typed = Checker {
        root: &schema,
        file: path,
        diags,
        ref_types: None,
    }
    .check(&node, &schema, "");
    if diags.len() > before {
        return None;
    }
    match serde_json::from_value::<StackDoc>(typed) {
        Ok(doc) => Some(Parsed {
            file: path.to_path_buf(),
            text,
            node,
            doc,
        }),
        Err(e) => {
            diags.push(Location::new(path, 1, 1), format!("invalid stack: {e}"));
            None
        }
    }
}

/// The node at a dotted path of mapping keys.
fn node_at<'n>(node: &'n Node, keys: &[&str]) -> Option<&'n Node> {
    let mut n = node;
    for k in keys {
        n = n.as_mapping()?.get_node(k)?;
    }
    Some(n)
}

/// The node under `node` at a JSON path (keys and indices).
fn node_at_path<'n>(node: &'n Node, path: &[PathSeg]) -> Option<&'n Node> {
    let mut n = node;
    for seg in path {
        n = match seg {
            PathSeg::Key(k) => n.as_mapping()?.get_node(k)?,
            PathSeg::Index(i) => n.as_sequence()?.get(*i)?,
        };
    }
    Some(n)
}

fn key_location(file: &Path, node: &Node, keys: &[&str]) -> Location {
    let (last, parent) = match keys.split_last() {
        Some(x) => x,
        None => return node_location(file, node),
    };
    if let Some(map) = node_at(node, parent).and_then(Node::as_mapping) {
        if let Some((k, _)) = map.iter().find(|(k, _)| k.as_str() == *last) {
            return check::scalar_location(file, k);
        }
    }
    node_at(node, keys)
        .map(|n| node_location(file, n))
        .unwrap_or_else(|| Location::new(file, 1, 1))
}

#[derive(Debug, Clone)]
enum PathSeg {
    Key(String),
    Index(usize),
}

/// Location of the `${` at byte `offset` of the string held by scalar `node`.
fn expr_location(file: &Path, text: &str, node: &Node, value: &str, offset: usize) -> Location {
    let start = node.span().start().map(|m| m.character()).unwrap_or(0);
    let start_byte = text.char_indices().nth(start).map(|(b, _)| b).unwrap_or(0);
    let nth = value[..offset.min(value.len())].matches("${").count();
    let mut from = start_byte;
    for i in 0..=nth {
        match text[from..].find("${") {
            Some(p) if i == nth => return Location::at_offset(file, text, from + p),
            Some(p) => from += p + 2,
            None => break,
        }
    }
    node_location(file, node)
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("invalid duration `{s}` ({e}); expected e.g. `90s`, `30m`, `2h`"))
}

fn type_matches(t: ParamType, v: &Value) -> bool {
    match t {
        ParamType::String => v.is_string(),
        ParamType::Integer => v.is_i64() || v.is_u64(),
        ParamType::Boolean => v.is_boolean(),
        ParamType::List => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
    }
}

/// Coerce a `--param` or environment string to the param's type.
fn coerce_param(t: ParamType, raw: &str) -> Result<Value, String> {
    match t {
        ParamType::String => Ok(Value::String(raw.into())),
        ParamType::Integer => raw
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("expected an integer, found `{raw}`")),
        ParamType::Boolean => match raw {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("expected true or false, found `{raw}`")),
        },
        ParamType::List => Ok(Value::Array(
            raw.split(',')
                .map(|s| Value::String(s.trim().into()))
                .filter(|v| v.as_str() != Some(""))
                .collect(),
        )),
    }
}

struct Loader<'a> {
    p: &'a Parsed,
    kinds: &'a Kinds,
    root: PathBuf,
    diags: Diagnostics,
    /// Typed props of each resource, checked against its kind.
    props: BTreeMap<String, Value>,
    /// Typed overlay props per env and resource.
    overlays: BTreeMap<(String, String), Value>,
    files: BTreeMap<String, String>,
}

impl<'a> Loader<'a> {
    fn at(&self, keys: &[&str]) -> Location {
        key_location(&self.p.file, &self.p.node, keys)
    }

    fn value_at(&self, keys: &[&str]) -> Location {
        node_at(&self.p.node, keys)
            .map(|n| node_location(&self.p.file, n))
            .unwrap_or_else(|| self.at(keys))
    }

    fn env_names(&self) -> Vec<&str> {
        self.p.doc.envs.keys().map(String::as_str).collect()
    }

    /// Format-level checks that do not depend on the env.
    fn check_declarations(&mut self) {
        let doc = &self.p.doc;
        let (p, kinds) = (self.p, self.kinds);
        // What a single `${ref}` stands for, so a list never goes where a scalar belongs.
        let ref_types = move |r: &expr::Ref| -> Option<&'static str> {
            match r {
                expr::Ref::Param(name) => match p.doc.params.get(name)?.kind {
                    ParamType::String => Some("string"),
                    ParamType::Integer => Some("integer"),
                    ParamType::Boolean => Some("boolean"),
                    ParamType::List => Some("array"),
                },
                expr::Ref::Stack(_) | expr::Ref::Aws(_) => Some("string"),
                expr::Ref::Var(_) => None,
                expr::Ref::Resource { name, attr } => {
                    kinds.get(&p.doc.resources.get(name)?.kind)?.attr_type(attr)
                }
            }
        };
        let ident = Regex::new(r"^[a-z][a-z0-9_]*$").expect("valid regex");
        if let Some(d) = &doc.default_env {
            if !doc.envs.contains_key(d) {
                let loc = self.value_at(&["default_env"]);
                let hint = did_you_mean(d, &self.env_names());
                self.diags.push(
                    loc,
                    format!(
                        "`default_env`: unknown env `{d}`{hint}; declared envs: {}",
                        self.env_names().join(", ")
                    ),
                );
            }
        }
        for (name, decl) in &doc.params {
            if !ident.is_match(name) {
                let loc = self.at(&["params", name]);
                self.diags.push(loc, format!("param name `{name}` must be lowercase letters, digits and `_`, starting with a letter"));
            }
            if let Some(p) = &decl.pattern {
                if let Err(e) = Regex::new(p) {
                    let loc = self.value_at(&["params", name, "pattern"]);
                    self.diags.push(
                        loc,
                        format!("`params.{name}.pattern`: invalid regular expression: {e}"),
                    );
                }
            }
            if let Some(d) = &decl.default {
                self.check_param_value(name, decl, d, &["params", name, "default"]);
            }
        }
        for (name, r) in &doc.resources {
            let loc = self.at(&["resources", name]);
            if !ident.is_match(name) {
                self.diags.push(loc.clone(), format!("resource name `{name}` must be lowercase letters, digits and `_`, starting with a letter"));
            }
            if RESERVED.contains(&name.as_str()) {
                self.diags.push(loc.clone(), format!("resource name `{name}` is reserved (`params`, `stack` and `vars` are reference scopes)"));
            }
            if let Some(t) = &r.timeout {
                if let Err(e) = parse_duration(t) {
                    let l = self.value_at(&["resources", name, "timeout"]);
                    self.diags
                        .push(l, format!("`resources.{name}.timeout`: {e}"));
                }
            }
            if let Some(envs) = &r.envs {
                for (i, e) in envs.iter().enumerate() {
                    if !doc.envs.contains_key(e) {
                        let l = node_at(&self.p.node, &["resources", name, "envs"])
                            .and_then(Node::as_sequence)
                            .and_then(|s| s.get(i))
                            .map(|n| node_location(&self.p.file, n))
                            .unwrap_or(loc.clone());
                        let hint = did_you_mean(e, &self.env_names());
                        self.diags.push(l, format!("`resources.{name}.envs`: unknown env `{e}`{hint}; declared envs: {}", if doc.envs.is_empty() { "none".to_string() } else { self.env_names().join(", ") }));
                    }
                }
            }
            let Some(kind) = self.kinds.get(&r.kind) else {
                let l = self.value_at(&["resources", name, "type"]);
                let names = self.kinds.names();
                let hint = did_you_mean(&r.kind, &names);
                self.diags.push(l, format!("`resources.{name}.type`: unknown resource type `{}`{hint}; run `pinctl schema` for the list", r.kind));
                continue;
            };
            let schema = kind.schema_json();
            let props_node = node_at(&self.p.node, &["resources", name, "props"]);
            let typed = match props_node {
                Some(n) => Checker {
                    root: &schema,
                    file: &self.p.file,
                    diags: &mut self.diags,
                    ref_types: Some(&ref_types),
                }
                .check(n, &schema, &format!("resources.{name}.props")),
                None => {
                    let empty = Node::Mapping(marked_yaml::types::MarkedMappingNode::new_empty(
                        marked_yaml::Span::new_blank(),
                    ));
                    let before = self.diags.len();
                    let v = Checker {
                        root: &schema,
                        file: &self.p.file,
                        diags: &mut self.diags,
                        ref_types: Some(&ref_types),
                    }
                    .check(&empty, &schema, &format!("resources.{name}.props"));
                    // Point missing-prop errors at the resource itself.
                    for d in &mut self.diags.0[before..] {
                        d.location = loc.clone();
                    }
                    v
                }
            };
            self.props.insert(name.clone(), typed);
        }
        for (env, decl) in &doc.envs {
            for (pname, v) in &decl.params {
                match doc.params.get(pname) {
                    None => {
                        let l = self.at(&["envs", env, "params", pname]);
                        let names: Vec<&str> = doc.params.keys().map(String::as_str).collect();
                        let hint = did_you_mean(pname, &names);
                        self.diags.push(l, format!("`envs.{env}.params`: unknown param `{pname}`{hint}; declare it under `params:`"));
                    }
                    Some(pd) => {
                        self.check_param_value(pname, pd, v, &["envs", env, "params", pname])
                    }
                }
            }
            for (rname, ov) in &decl.resources {
                let Some(r) = doc.resources.get(rname) else {
                    let l = self.at(&["envs", env, "resources", rname]);
                    let names: Vec<&str> = doc.resources.keys().map(String::as_str).collect();
                    let hint = did_you_mean(rname, &names);
                    self.diags.push(
                        l,
                        format!("`envs.{env}.resources`: unknown resource `{rname}`{hint}"),
                    );
                    continue;
                };
                if r.envs.as_ref().is_some_and(|e| !e.contains(env)) {
                    let l = self.at(&["envs", env, "resources", rname]);
                    self.diags.push(l, format!("`envs.{env}.resources.{rname}`: resource `{rname}` is not part of env `{env}` (its `envs` excludes it)"));
                }
                if let Some(t) = &ov.timeout {
                    if let Err(e) = parse_duration(t) {
                        let l = self.value_at(&["envs", env, "resources", rname, "timeout"]);
                        self.diags
                            .push(l, format!("`envs.{env}.resources.{rname}.timeout`: {e}"));
                    }
                }
                let Some(kind) = self.kinds.get(&r.kind) else {
                    continue;
                };
                let schema = kind.schema_json();
                if let Some(n) = node_at(&self.p.node, &["envs", env, "resources", rname, "props"])
                {
                    let typed = Checker {
                        root: &schema,
                        file: &self.p.file,
                        diags: &mut self.diags,
                        ref_types: Some(&ref_types),
                    }
                    .check_partial(
                        n,
                        &schema,
                        &format!("envs.{env}.resources.{rname}.props"),
                    );
                    self.overlays.insert((env.clone(), rname.clone()), typed);
                }
            }
        }
    }

    fn check_param_value(&mut self, name: &str, decl: &ParamDecl, v: &Value, keys: &[&str]) {
        if !type_matches(decl.kind, v) {
            let loc = self.value_at(keys);
            self.diags.push(
                loc,
                format!(
                    "`{}`: param `{name}` is {}, found {}",
                    keys.join("."),
                    decl.kind.name(),
                    short(v)
                ),
            );
            return;
        }
        if let (Some(p), Some(s)) = (&decl.pattern, v.as_str()) {
            if let Ok(re) = Regex::new(p) {
                if !re.is_match(s) && !decl.secret {
                    let loc = self.value_at(keys);
                    self.diags.push(
                        loc,
                        format!(
                            "`{}`: `{s}` does not match the pattern `{p}` of param `{name}`",
                            keys.join(".")
                        ),
                    );
                }
            }
        }
    }

    fn envs_to_check(&self, env: Option<&str>) -> Result<Vec<String>, ()> {
        let doc = &self.p.doc;
        match env {
            Some(e) if doc.envs.is_empty() && e == IMPLICIT_ENV => Ok(vec![e.into()]),
            Some(e) if doc.envs.contains_key(e) => Ok(vec![e.into()]),
            Some(_) => Err(()),
            None if doc.envs.is_empty() => Ok(vec![IMPLICIT_ENV.into()]),
            None => Ok(doc.envs.keys().cloned().collect()),
        }
    }

    /// Param values for `env`: default, then env value, then environment variable, then `--param`.
    fn params_for(&mut self, env: &str, opts: &LoadOptions) -> BTreeMap<String, ParamValue> {
        let doc = &self.p.doc;
        let mut out = BTreeMap::new();
        for (name, decl) in &doc.params {
            let mut value = decl.default.clone();
            if let Some(v) = doc.envs.get(env).and_then(|e| e.params.get(name)) {
                value = Some(v.clone());
            }
            // Stack-written values were checked where they are written; check only outside ones.
            let mut from_outside = false;
            if let Some(var) = &decl.from_env {
                if let Ok(raw) = std::env::var(var) {
                    match coerce_param(decl.kind, &raw) {
                        Ok(v) => {
                            value = Some(v);
                            from_outside = true;
                        }
                        Err(e) => {
                            let loc = self.value_at(&["params", name, "from_env"]);
                            self.diags.push(
                                loc,
                                format!("param `{name}` from environment variable `{var}`: {e}"),
                            );
                        }
                    }
                }
            }
            if let Some(raw) = opts.param_overrides.get(name) {
                match coerce_param(decl.kind, raw) {
                    Ok(v) => {
                        value = Some(v);
                        from_outside = true;
                    }
                    Err(e) => {
                        let loc = self.at(&["params", name]);
                        self.diags.push(loc, format!("--param {name}: {e}"));
                    }
                }
            }
            match value {
                Some(v) => {
                    if let (true, Some(p), Some(s)) = (from_outside, &decl.pattern, v.as_str()) {
                        if Regex::new(p).is_ok_and(|re| !re.is_match(s)) {
                            let loc = self.at(&["params", name]);
                            let shown = if decl.secret {
                                "the value".to_string()
                            } else {
                                format!("`{s}`")
                            };
                            self.diags.push(loc, format!("param `{name}` in env `{env}`: {shown} does not match the pattern `{p}`"));
                        }
                    }
                    out.insert(
                        name.clone(),
                        ParamValue {
                            value: v,
                            secret: decl.secret,
                        },
                    );
                }
                None if opts.validate_only && decl.from_env.is_some() => {
                    out.insert(
                        name.clone(),
                        ParamValue {
                            value: Value::Null,
                            secret: decl.secret,
                        },
                    );
                }
                None => {
                    let loc = self.at(&["params", name]);
                    let hint = match &decl.from_env {
                        Some(var) => format!(", set the environment variable `{var}`"),
                        None => String::new(),
                    };
                    self.diags.push(loc, format!("param `{name}` has no value in env `{env}`: give it a `default`, set `envs.{env}.params.{name}`{hint}, or pass `--param {name}=...`"));
                }
            }
        }
        for name in opts.param_overrides.keys() {
            if !doc.params.contains_key(name) {
                let names: Vec<&str> = doc.params.keys().map(String::as_str).collect();
                let hint = did_you_mean(name, &names);
                self.diags.push(
                    Location::new(&self.p.file, 1, 1),
                    format!("--param {name}: the stack declares no param `{name}`{hint}"),
                );
            }
        }
        out
    }

    fn in_env(&self, name: &str, env: &str) -> bool {
        self.p
            .doc
            .resources
            .get(name)
            .is_some_and(|r| r.envs.as_ref().is_none_or(|e| e.iter().any(|x| x == env)))
    }

    /// The resources of `env`, with overlays merged and references checked.
    fn resources_for(&mut self, env: &str) -> BTreeMap<String, Resource> {
        let mut out = BTreeMap::new();
        let names: Vec<String> = self.p.doc.resources.keys().cloned().collect();
        for name in names {
            if !self.in_env(&name, env) {
                continue;
            }
            let decl = self.p.doc.resources[&name].clone();
            let Some(base) = self.props.get(&name).cloned() else {
                continue;
            };
            let mut props = base;
            let overlay = self.overlays.get(&(env.to_string(), name.clone())).cloned();
            if let Some(o) = &overlay {
                deep_merge(&mut props, o);
            }
            let mut deps = BTreeSet::new();
            let mut path = Vec::new();
            self.collect_refs(&name, env, &props, &mut path, &mut deps);
            for (i, d) in decl.depends_on.iter().enumerate() {
                let loc = node_at(&self.p.node, &["resources", &name, "depends_on"])
                    .and_then(Node::as_sequence)
                    .and_then(|s| s.get(i))
                    .map(|n| node_location(&self.p.file, n))
                    .unwrap_or_else(|| self.at(&["resources", &name]));
                if self.check_resource_ref(d, None, env, loc) {
                    deps.insert(d.clone());
                }
            }
            let timeout = self
                .p
                .doc
                .envs
                .get(env)
                .and_then(|e| e.resources.get(&name))
                .and_then(|o| o.timeout.clone())
                .or(decl.timeout.clone())
                .and_then(|t| parse_duration(&t).ok());
            out.insert(
                name.clone(),
                Resource {
                    location: self.at(&["resources", &name]),
                    name,
                    kind: decl.kind,
                    props,
                    deps,
                    timeout,
                },
            );
        }
        out
    }

    /// Where the string at `path` of resource `name`'s props came from in env `env`.
    fn string_node(&self, name: &str, env: &str, path: &[PathSeg]) -> Option<&'a Node> {
        let p: &'a Parsed = self.p;
        node_at(&p.node, &["envs", env, "resources", name, "props"])
            .and_then(|n| node_at_path(n, path))
            .or_else(|| {
                node_at(&p.node, &["resources", name, "props"]).and_then(|n| node_at_path(n, path))
            })
    }

    fn collect_refs(
        &mut self,
        name: &str,
        env: &str,
        v: &Value,
        path: &mut Vec<PathSeg>,
        deps: &mut BTreeSet<String>,
    ) {
        match v {
            Value::String(s) if expr::has_expr(s) => {
                let node = self.string_node(name, env, path);
                let loc_of = |this: &Self, offset: usize| match node {
                    Some(n) => expr_location(&this.p.file, &this.p.text, n, s, offset),
                    None => this.at(&["resources", name]),
                };
                match expr::parse(s) {
                    Err(e) => {
                        let loc = loc_of(self, e.offset);
                        self.diags.push(loc, e.message);
                    }
                    Ok(segs) => {
                        for seg in segs {
                            if let expr::Segment::Ref(r, off) = seg {
                                let loc = loc_of(self, off);
                                self.check_ref(&r, env, loc, None, deps);
                            }
                        }
                    }
                }
            }
            Value::Object(map) if map.contains_key(TEMPLATE_KEY) || map.contains_key(FILE_KEY) => {
                let is_template = map.contains_key(TEMPLATE_KEY);
                let key = if is_template { TEMPLATE_KEY } else { FILE_KEY };
                let yaml_key = if is_template { "template" } else { "file" };
                if let Some(vars) = map.get("vars") {
                    path.push(PathSeg::Key("vars".into()));
                    self.collect_refs(name, env, vars, path, deps);
                    path.pop();
                }
                let rel = map
                    .get(key)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                path.push(PathSeg::Key(yaml_key.into()));
                let loc = self
                    .string_node(name, env, path)
                    .map(|n| node_location(&self.p.file, n))
                    .unwrap_or_else(|| self.at(&["resources", name]));
                path.pop();
                let full = self.root.join(&rel);
                let content = match self.files.get(&rel) {
                    Some(c) => Some(c.clone()),
                    None if !within(&self.root, &rel) => {
                        self.diags.push(
                            loc,
                            format!(
                                "{yaml_key} `{rel}` is outside the stack's root ({}): a stack reads only files under its root (no absolute paths, no `..` out of it, no links leading out)",
                                self.root.display()
                            ),
                        );
                        None
                    }
                    None => match std::fs::read_to_string(&full) {
                        Ok(c) => {
                            self.files.insert(rel.clone(), c.clone());
                            Some(c)
                        }
                        Err(e) => {
                            self.diags.push(
                                loc,
                                format!("{yaml_key} `{rel}` not found at {} ({e})", full.display()),
                            );
                            None
                        }
                    },
                };
                if let (true, Some(text)) = (is_template, content) {
                    let vars: Vec<String> = map
                        .get("vars")
                        .and_then(Value::as_object)
                        .map(|m| m.keys().cloned().collect())
                        .unwrap_or_default();
                    match expr::parse(&text) {
                        Err(e) => self
                            .diags
                            .push(Location::at_offset(&full, &text, e.offset), e.message),
                        Ok(segs) => {
                            for seg in segs {
                                if let expr::Segment::Ref(r, off) = seg {
                                    let l = Location::at_offset(&full, &text, off);
                                    self.check_ref(&r, env, l, Some(&vars), deps);
                                }
                            }
                        }
                    }
                }
            }
            Value::Object(map) => {
                for (k, x) in map {
                    path.push(PathSeg::Key(k.clone()));
                    self.collect_refs(name, env, x, path, deps);
                    path.pop();
                }
            }
            Value::Array(items) => {
                for (i, x) in items.iter().enumerate() {
                    path.push(PathSeg::Index(i));
                    self.collect_refs(name, env, x, path, deps);
                    path.pop();
                }
            }
            _ => {}
        }
    }

    fn check_ref(
        &mut self,
        r: &Ref,
        env: &str,
        loc: Location,
        vars: Option<&[String]>,
        deps: &mut BTreeSet<String>,
    ) {
        match r {
            Ref::Param(p) => {
                if !self.p.doc.params.contains_key(p) {
                    let names: Vec<&str> = self.p.doc.params.keys().map(String::as_str).collect();
                    let hint = did_you_mean(p, &names);
                    self.diags.push(loc, format!("unknown param `{p}` in `${{params.{p}}}`{hint}; declare it under `params:`"));
                }
            }
            Ref::Stack(a) => {
                if !STACK_ATTRS.contains(&a.as_str()) {
                    self.diags.push(
                        loc,
                        format!(
                            "unknown attribute `stack.{a}`: expected `stack.name` or `stack.env`"
                        ),
                    );
                }
            }
            Ref::Aws(a) => {
                if !AWS_ATTRS.contains(&a.as_str()) {
                    self.diags.push(
                        loc,
                        format!(
                            "unknown attribute `aws.{a}`: expected `aws.region` or `aws.account_hash`"
                        ),
                    );
                }
            }
            Ref::Var(v) => match vars {
                None => self.diags.push(
                    loc,
                    format!("`${{vars.{v}}}` is only available inside a template"),
                ),
                Some(vs) if !vs.iter().any(|x| x == v) => {
                    let names: Vec<&str> = vs.iter().map(String::as_str).collect();
                    let hint = did_you_mean(v, &names);
                    self.diags.push(
                        loc,
                        format!("template variable `{v}` is not given in `vars`{hint}"),
                    );
                }
                Some(_) => {}
            },
            Ref::Resource { name, attr } => {
                if self.check_resource_ref(name, Some(attr), env, loc) {
                    deps.insert(name.clone());
                }
            }
        }
    }

    /// Checks that `name` (and `attr`) can be referenced from env `env`.
    fn check_resource_ref(
        &mut self,
        name: &str,
        attr: Option<&str>,
        env: &str,
        loc: Location,
    ) -> bool {
        let doc = &self.p.doc;
        let Some(target) = doc.resources.get(name) else {
            let names: Vec<&str> = doc.resources.keys().map(String::as_str).collect();
            let hint = did_you_mean(name, &names);
            let what = match attr {
                Some(a) => format!("`${{{name}.{a}}}`"),
                None => "`depends_on`".to_string(),
            };
            self.diags
                .push(loc, format!("unknown resource `{name}` in {what}{hint}"));
            return false;
        };
        if !self.in_env(name, env) {
            let only = target.envs.clone().unwrap_or_default().join(", ");
            self.diags.push(
                loc,
                format!("resource `{name}` is not part of env `{env}` (it is only in: {only})"),
            );
            return false;
        }
        if let (Some(a), Some(kind)) = (attr, self.kinds.get(&target.kind)) {
            let attrs = kind.attributes();
            if !attrs.iter().any(|x| x == a) {
                let names: Vec<&str> = attrs.iter().map(String::as_str).collect();
                let hint = did_you_mean(a, &names);
                self.diags.push(
                    loc,
                    format!(
                        "resource `{name}` ({}) has no attribute `{a}`{hint}; it has: {}",
                        target.kind,
                        attrs.join(", ")
                    ),
                );
                return false;
            }
        }
        true
    }

    fn check_cycles(&mut self, env: &str, resources: &BTreeMap<String, Resource>) {
        let graph: BTreeMap<&str, Vec<&str>> = resources
            .iter()
            .map(|(n, r)| {
                (
                    n.as_str(),
                    r.deps
                        .iter()
                        .map(String::as_str)
                        .filter(|d| resources.contains_key(*d))
                        .collect(),
                )
            })
            .collect();
        for cycle in crate::dag::find_cycles(&graph) {
            let first = cycle[0];
            let loc = resources[first].location.clone();
            let mut shown: Vec<&str> = cycle.clone();
            shown.push(first);
            let env_note = if self.p.doc.envs.is_empty() {
                String::new()
            } else {
                format!(" in env `{env}`")
            };
            self.diags.push(
                loc,
                format!("dependency cycle{env_note}: {}", shown.join(" -> ")),
            );
        }
    }
}

fn short(v: &Value) -> String {
    match v {
        Value::String(s) => format!("the string `{s}`"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
        Value::Null => "nothing".into(),
        other => format!("`{other}`"),
    }
}

fn root_dir(file: &Path) -> PathBuf {
    let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    }
}

/// Whether `rel` (a stack's file or template path) stays under `root` once resolved (links
/// followed, `..` applied): what a stack reads must be its own, not `/etc/passwd` or
/// `../../secrets` uploaded to S3. A path that does not exist is judged by its text (the
/// not-found error says the rest).
fn within(root: &Path, rel: &str) -> bool {
    let rel = Path::new(rel);
    if rel.is_absolute() {
        return false;
    }
    if normalize(rel).components().next() == Some(std::path::Component::ParentDir) {
        return false;
    }
    match (
        std::fs::canonicalize(root),
        std::fs::canonicalize(root.join(rel)),
    ) {
        (Ok(root), Ok(full)) => full.starts_with(root),
        _ => true,
    }
}

/// `a/./b/../c` → `a/c`, without touching the file system.
fn normalize(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

/// Validates the stack in every env it declares (or only `env`). No service is contacted.
pub fn validate(
    path: &Path,
    env: Option<&str>,
    kinds: &Kinds,
    opts: &LoadOptions,
) -> Result<Vec<Stack>, Diagnostics> {
    let mut diags = Diagnostics::default();
    let Some(parsed) = parse(path, &mut diags) else {
        return Err(diags.finish());
    };
    let root =
        normalize(&root_dir(path).join(parsed.doc.root.clone().unwrap_or_else(|| ".".into())));
    let mut loader = Loader {
        p: &parsed,
        kinds,
        root,
        diags,
        props: BTreeMap::new(),
        overlays: BTreeMap::new(),
        files: BTreeMap::new(),
    };
    loader.check_declarations();
    let envs = match loader.envs_to_check(env) {
        Ok(e) => e,
        Err(()) => {
            let e = env.unwrap_or_default();
            let loc = if parsed.doc.envs.is_empty() {
                Location::new(path, 1, 1)
            } else {
                loader.at(&["envs"])
            };
            let names = loader.env_names();
            let hint = did_you_mean(e, &names);
            let declared = if names.is_empty() {
                format!("none (the only env is `{IMPLICIT_ENV}`)")
            } else {
                names.join(", ")
            };
            loader.diags.push(
                loc,
                format!("unknown env `{e}`{hint}; declared envs: {declared}"),
            );
            return Err(loader.diags.finish());
        }
    };
    let mut stacks = Vec::new();
    for e in envs {
        let params = loader.params_for(&e, opts);
        let resources = loader.resources_for(&e);
        loader.check_cycles(&e, &resources);
        stacks.push(Stack {
            name: parsed.doc.stack.clone(),
            env: e,
            file: path.to_path_buf(),
            doc: parsed.doc.clone(),
            params,
            resources,
            files: BTreeMap::new(),
            root: loader.root.clone(),
            aws: BTreeMap::new(),
        });
    }
    if !loader.diags.is_empty() {
        return Err(loader.diags.finish());
    }
    for s in &mut stacks {
        s.files = loader.files.clone();
    }
    Ok(stacks)
}

/// The env a command works on: `--env`, else the stack's `default_env`, else its only env.
pub fn pick_env(path: &Path, requested: Option<&str>) -> Result<Option<String>, Diagnostics> {
    if let Some(e) = requested {
        return Ok(Some(e.to_string()));
    }
    let mut diags = Diagnostics::default();
    let Some(parsed) = parse(path, &mut diags) else {
        return Err(diags.finish());
    };
    Ok(match (&parsed.doc.default_env, parsed.doc.envs.len()) {
        (Some(d), _) => Some(d.clone()),
        (None, 0) => Some(IMPLICIT_ENV.into()),
        (None, 1) => parsed.doc.envs.keys().next().cloned(),
        (None, _) => {
            let names: Vec<&str> = parsed.doc.envs.keys().map(String::as_str).collect();
            diags.push(Location::new(path, 1, 1), format!("this stack declares several envs ({}); choose one with --env or set `default_env`", names.join(", ")));
            return Err(diags);
        }
    })
}

/// Loads the stack for one env.
pub fn load(
    path: &Path,
    env: Option<&str>,
    kinds: &Kinds,
    opts: &LoadOptions,
) -> Result<Stack, Diagnostics> {
    let env = pick_env(path, env)?;
    let mut stacks = validate(path, env.as_deref(), kinds, opts)?;
    Ok(stacks.remove(0))
}
