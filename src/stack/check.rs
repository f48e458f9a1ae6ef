//! Checks a located YAML tree against a JSON Schema (the one `schemars` derives from the model)
//! and converts it into typed JSON. Every mismatch is reported with its file:line:column, and the
//! walk goes on, so one run reports every problem.

use std::path::Path;

use marked_yaml::types::{MarkedMappingNode, MarkedScalarNode};
use marked_yaml::Node;
use serde_json::{Map, Number, Value};

use super::constraints;
use super::diag::{Diagnostics, Location};
use super::expr;

/// Key of the typed-JSON form of `{template: PATH, vars: {...}}`.
pub const TEMPLATE_KEY: &str = "$template";
/// Key of the typed-JSON form of `{file: PATH}`.
pub const FILE_KEY: &str = "$file";

fn is_single_ref(s: &str) -> bool {
    matches!(expr::parse(s).as_deref(), Ok([expr::Segment::Ref(..)]))
}

pub fn node_location(file: &Path, node: &Node) -> Location {
    match node.span().start() {
        Some(m) => Location::new(file, m.line(), m.column()),
        None => Location::new(file, 1, 1),
    }
}

pub fn scalar_location(file: &Path, node: &MarkedScalarNode) -> Location {
    match node.span().start() {
        Some(m) => Location::new(file, m.line(), m.column()),
        None => Location::new(file, 1, 1),
    }
}

fn kind_of(node: &Node) -> &'static str {
    match node {
        Node::Scalar(s) if is_null(s) => "nothing (null)",
        Node::Scalar(_) => "a scalar",
        Node::Mapping(_) => "a mapping",
        Node::Sequence(_) => "a list",
    }
}

fn is_null(s: &MarkedScalarNode) -> bool {
    s.may_coerce() && matches!(s.as_str(), "" | "~" | "null" | "Null" | "NULL")
}

fn looks_numeric(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '-' || c == '+' || c == '.')
        && s.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
        && s.chars().any(|c| c.is_ascii_digit())
}

/// YAML 1.2 core-schema reading of a scalar, for places whose schema allows anything.
pub fn infer_scalar(s: &MarkedScalarNode) -> Value {
    if !s.may_coerce() {
        return Value::String(s.as_str().into());
    }
    let t = s.as_str();
    if is_null(s) {
        return Value::Null;
    }
    match t {
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if looks_numeric(t) {
        if let Ok(i) = t.parse::<i64>() {
            return Value::Number(i.into());
        }
        if let Some(n) = t.parse::<f64>().ok().and_then(Number::from_f64) {
            return Value::Number(n);
        }
    }
    Value::String(t.into())
}

/// Plain conversion of a node, for places whose schema allows anything.
pub fn infer(node: &Node) -> Value {
    match node {
        Node::Scalar(s) => infer_scalar(s),
        Node::Sequence(seq) => Value::Array(seq.iter().map(infer).collect()),
        Node::Mapping(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.as_str().to_string(), infer(v)))
                .collect(),
        ),
    }
}

pub struct Checker<'a> {
    /// The whole schema document (`$defs` are looked up in it).
    pub root: &'a Value,
    pub file: &'a Path,
    pub diags: &'a mut Diagnostics,
    /// The JSON type a reference stands for (`array`, `string`, ...), when known: a single
    /// `${ref}` whose value is of a type the prop does not take (a list where a string belongs,
    /// an integer where a string does) is an error at its location; the value would not
    /// convert when applied.
    pub ref_types: Option<&'a RefTypes<'a>>,
}

/// What a reference stands for: its target's JSON type (`array`, `string`, ...), when known.
pub type RefTypes<'a> = dyn Fn(&expr::Ref) -> Option<&'static str> + 'a;

/// "a list", "a string", ...: how messages name a JSON type.
fn a_type(t: &str) -> &'static str {
    match t {
        "array" => "a list",
        "object" => "a mapping",
        "integer" => "an integer",
        "number" => "a number",
        "boolean" => "a boolean",
        _ => "a string",
    }
}

fn describe_types(schema: &Value) -> String {
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let names: Vec<&str> = types
        .iter()
        .filter(|t| **t != "null")
        .map(|t| match *t {
            "object" => "a mapping",
            "array" => "a list",
            "string" => "a string",
            "integer" => "an integer",
            "number" => "a number",
            "boolean" => "a boolean (true or false)",
            other => other,
        })
        .collect();
    if names.is_empty() {
        "a value".into()
    } else {
        names.join(" or ")
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn closest<'k>(key: &str, candidates: &[&'k str]) -> Option<&'k str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut prev: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut cur = vec![i + 1];
            for (j, cb) in b.iter().enumerate() {
                let cost = usize::from(ca != *cb);
                cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
            }
            prev = cur;
        }
        prev[b.len()]
    }
    candidates
        .iter()
        .map(|c| (distance(key, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min()
        .map(|(_, c)| c)
}

/// Suggestion text for an unknown name.
pub fn did_you_mean(key: &str, candidates: &[&str]) -> String {
    match closest(key, candidates) {
        Some(c) => format!(" (did you mean `{c}`?)"),
        None => String::new(),
    }
}

impl<'a> Checker<'a> {
    fn resolve<'s>(&self, schema: &'s Value) -> &'s Value
    where
        'a: 's,
    {
        constraints::follow(self.root, schema)
    }

    /// The JSON types `schema` admits (those of its alternatives too); empty when it does not
    /// say.
    fn admitted(&self, schema: &Value) -> Vec<String> {
        let schema = self.resolve(schema);
        if let Some(alts) = schema
            .get("anyOf")
            .or_else(|| schema.get("oneOf"))
            .and_then(Value::as_array)
        {
            let mut out = Vec::new();
            for a in alts {
                let t = self.admitted(a);
                if t.is_empty() {
                    return Vec::new();
                }
                out.extend(t);
            }
            return out;
        }
        match schema.get("type") {
            Some(Value::String(t)) => vec![t.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    }

    fn err(&mut self, loc: Location, msg: String) {
        self.diags.push(loc, msg);
    }

    /// Checks `node` against `schema` at `path`; returns the typed value (best effort on errors).
    pub fn check(&mut self, node: &Node, schema: &Value, path: &str) -> Value {
        self.check_inner(node, schema, path, false)
    }

    /// Like [`check`](Self::check) but required keys of the top mapping may be missing
    /// (an env overlay gives only what it changes).
    pub fn check_partial(&mut self, node: &Node, schema: &Value, path: &str) -> Value {
        self.check_inner(node, schema, path, true)
    }

    fn check_inner(&mut self, node: &Node, schema: &Value, path: &str, partial: bool) -> Value {
        let schema = self.resolve(schema);
        const STRUCTURAL: &[&str] = &[
            "type",
            "anyOf",
            "oneOf",
            "enum",
            "const",
            "properties",
            "items",
        ];
        if schema == &Value::Bool(true)
            || schema
                .as_object()
                .is_some_and(|o| !STRUCTURAL.iter().any(|k| o.contains_key(*k)))
        {
            return infer(node);
        }
        // One whole reference stands for a value of its target's type (a list output, a number
        // param), which must be one the prop takes.
        if let Node::Scalar(s) = node {
            if is_single_ref(s.as_str()) {
                let target = match (self.ref_types, expr::parse(s.as_str()).as_deref()) {
                    (Some(types), Ok([expr::Segment::Ref(r, _)])) => types(r),
                    _ => None,
                };
                if let Some(t) = target {
                    let admitted = self.admitted(schema);
                    let fits = admitted.is_empty()
                        || admitted
                            .iter()
                            .any(|a| a == t || (a == "number" && t == "integer"));
                    if !fits {
                        let loc = scalar_location(self.file, s);
                        self.err(
                            loc,
                            format!(
                                "`{path}`: expected {}, but `{}` is {}",
                                describe_types(schema),
                                s.as_str(),
                                a_type(t)
                            ),
                        );
                    }
                }
                return Value::String(s.as_str().into());
            }
        }
        if let Some(alts) = schema
            .get("anyOf")
            .or_else(|| schema.get("oneOf"))
            .and_then(Value::as_array)
        {
            return self.check_alternatives(node, alts, path);
        }
        if let Some(c) = schema.get("const") {
            return self.check_enum(node, std::slice::from_ref(c), path);
        }
        if let Some(Value::Array(options)) = schema.get("enum") {
            return self.check_enum(node, options, path);
        }
        let allows = |t: &str| match schema.get("type") {
            Some(Value::String(s)) => s == t,
            Some(Value::Array(a)) => a.iter().any(|x| x == t),
            None => true,
            _ => false,
        };
        let file = self.file;
        match node {
            Node::Scalar(s) if is_null(s) && allows("null") => Value::Null,
            Node::Mapping(map) if allows("object") && schema.get("type").is_some() => {
                self.check_object(map, schema, path, partial)
            }
            Node::Mapping(map) if allows("string") => self.check_string_source(map, path),
            Node::Sequence(seq) if allows("array") && schema.get("type").is_some() => {
                if let Some(why) = constraints::items_violation(schema, seq.len()) {
                    self.err(node_location(file, node), format!("`{path}`: {why}"));
                }
                let items = schema.get("items").cloned().unwrap_or(Value::Bool(true));
                Value::Array(
                    seq.iter()
                        .enumerate()
                        .map(|(i, n)| self.check(n, &items, &format!("{path}[{i}]")))
                        .collect(),
                )
            }
            Node::Scalar(s) => self.check_scalar(s, schema, path, &allows),
            _ => {
                self.err(
                    node_location(file, node),
                    format!(
                        "`{path}`: expected {}, found {}",
                        describe_types(schema),
                        kind_of(node)
                    ),
                );
                Value::Null
            }
        }
    }

    fn check_scalar(
        &mut self,
        s: &MarkedScalarNode,
        schema: &Value,
        path: &str,
        allows: &dyn Fn(&str) -> bool,
    ) -> Value {
        let text = s.as_str();
        let loc = scalar_location(self.file, s);
        if expr::has_expr(text)
            && (allows("string") || allows("integer") || allows("number") || allows("boolean"))
        {
            return Value::String(text.into());
        }
        let plain = s.may_coerce();
        if allows("integer") && plain {
            if let Ok(i) = text.parse::<i64>() {
                if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
                    if (i as f64) < min {
                        self.err(
                            loc.clone(),
                            format!("`{path}`: must be at least {min}, found {i}"),
                        );
                    }
                }
                if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
                    if (i as f64) > max {
                        self.err(
                            loc.clone(),
                            format!("`{path}`: must be at most {max}, found {i}"),
                        );
                    }
                }
                return Value::Number(i.into());
            }
        }
        if allows("number") && plain && looks_numeric(text) {
            if let Some(n) = text.parse::<f64>().ok().and_then(Number::from_f64) {
                return Value::Number(n);
            }
        }
        if allows("boolean") && plain {
            match text {
                "true" => return Value::Bool(true),
                "false" => return Value::Bool(false),
                _ => {}
            }
        }
        if allows("string") {
            if let Some(why) = constraints::string_violation(schema, text) {
                self.err(loc, format!("`{path}`: {why}"));
            }
            return Value::String(text.into());
        }
        let shown = if text.is_empty() {
            "an empty value".to_string()
        } else {
            format!("`{text}`")
        };
        self.err(
            loc,
            format!(
                "`{path}`: expected {}, found {shown}",
                describe_types(schema)
            ),
        );
        Value::Null
    }

    /// `{template: PATH, vars: {...}}` or `{file: PATH}` where a string is expected.
    fn check_string_source(&mut self, map: &MarkedMappingNode, path: &str) -> Value {
        let loc = Location::new(
            self.file,
            map.span().start().map(|m| m.line()).unwrap_or(1),
            map.span().start().map(|m| m.column()).unwrap_or(1),
        );
        let template = map.get_node("template");
        let file = map.get_node("file");
        let mut out = Map::new();
        match (template, file) {
            (Some(t), None) => {
                let p = self.check(
                    t,
                    &serde_json::json!({"type": "string"}),
                    &join(path, "template"),
                );
                out.insert(TEMPLATE_KEY.into(), p);
                let vars = match map.get_node("vars") {
                    Some(v) => self.check(
                        v,
                        &serde_json::json!({"type": "object", "additionalProperties": true}),
                        &join(path, "vars"),
                    ),
                    None => Value::Object(Map::new()),
                };
                out.insert("vars".into(), vars);
                for (k, _) in map.iter() {
                    if !matches!(k.as_str(), "template" | "vars") {
                        self.err(
                            scalar_location(self.file, k),
                            format!(
                                "`{}`: unknown key `{}` in a template source; expected `template` and optionally `vars`",
                                path,
                                k.as_str()
                            ),
                        );
                    }
                }
            }
            (None, Some(f)) => {
                let p = self.check(
                    f,
                    &serde_json::json!({"type": "string"}),
                    &join(path, "file"),
                );
                out.insert(FILE_KEY.into(), p);
                for (k, _) in map.iter() {
                    if k.as_str() != "file" {
                        self.err(
                            scalar_location(self.file, k),
                            format!(
                                "`{path}`: unknown key `{}` in a file source; expected only `file`",
                                k.as_str()
                            ),
                        );
                    }
                }
            }
            _ => {
                self.err(
                    loc,
                    format!("`{path}`: expected a string, or a mapping `{{template: PATH}}` or `{{file: PATH}}`, found a mapping"),
                );
                return Value::Null;
            }
        }
        Value::Object(out)
    }

    fn check_object(
        &mut self,
        map: &MarkedMappingNode,
        schema: &Value,
        path: &str,
        partial: bool,
    ) -> Value {
        let props = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties");
        let mut out = Map::new();
        for (k, v) in map.iter() {
            let key = k.as_str();
            let sub = join(path, key);
            if let Some(s) = props.and_then(|p| p.get(key)) {
                let val = self.check(v, s, &sub);
                out.insert(key.into(), val);
            } else {
                match additional {
                    Some(Value::Bool(false)) => {
                        let names: Vec<&str> = props
                            .map(|p| p.keys().map(String::as_str).collect())
                            .unwrap_or_default();
                        let hint = did_you_mean(key, &names);
                        let where_ = if path.is_empty() {
                            "the stack".to_string()
                        } else {
                            format!("`{path}`")
                        };
                        self.err(
                            scalar_location(self.file, k),
                            format!(
                                "{where_}: unknown key `{key}`{hint}; expected one of: {}",
                                names.join(", ")
                            ),
                        );
                    }
                    Some(s) => {
                        let val = self.check(v, s, &sub);
                        out.insert(key.into(), val);
                    }
                    None => {
                        out.insert(key.into(), infer(v));
                    }
                }
            }
        }
        if !partial {
            if let Some(Value::Array(req)) = schema.get("required") {
                for r in req.iter().filter_map(Value::as_str) {
                    if map.get_node(r).is_none() {
                        let start = map
                            .keys()
                            .next()
                            .and_then(|k| k.span().start())
                            .or(map.span().start());
                        let loc = Location::new(
                            self.file,
                            start.map(|m| m.line()).unwrap_or(1),
                            start.map(|m| m.column()).unwrap_or(1),
                        );
                        let where_ = if path.is_empty() {
                            "the stack".to_string()
                        } else {
                            format!("`{path}`")
                        };
                        self.err(loc, format!("{where_}: missing required key `{r}`"));
                    }
                }
            }
        }
        Value::Object(out)
    }

    fn check_enum(&mut self, node: &Node, options: &[Value], path: &str) -> Value {
        let v = infer(node);
        let as_text = match (&v, node) {
            (_, Node::Scalar(s)) => Value::String(s.as_str().into()),
            (v, _) => v.clone(),
        };
        if options.contains(&v) || options.contains(&as_text) {
            return if options.contains(&v) { v } else { as_text };
        }
        let names: Vec<String> = options
            .iter()
            .map(|o| match o {
                Value::String(s) => format!("`{s}`"),
                other => other.to_string(),
            })
            .collect();
        let found = match node {
            Node::Scalar(s) => format!("`{}`", s.as_str()),
            other => kind_of(other).to_string(),
        };
        self.err(
            node_location(self.file, node),
            format!(
                "`{path}`: expected one of {}, found {found}",
                names.join(", ")
            ),
        );
        Value::Null
    }

    fn check_alternatives(&mut self, node: &Node, alts: &[Value], path: &str) -> Value {
        // A list of constants is an enum; say so in one message.
        let consts: Vec<Value> = alts
            .iter()
            .filter_map(|a| self.resolve(a).get("const").cloned())
            .collect();
        if consts.len() == alts.len() {
            return self.check_enum(node, &consts, path);
        }
        let node_is_null = matches!(node, Node::Scalar(s) if is_null(s));
        let mut best: Option<(usize, Diagnostics, Value)> = None;
        for alt in alts {
            let only_null = self.resolve(alt).get("type") == Some(&Value::String("null".into()));
            if only_null && !node_is_null {
                continue;
            }
            let mut scratch = Diagnostics::default();
            let value = {
                let mut sub = Checker {
                    root: self.root,
                    file: self.file,
                    diags: &mut scratch,
                    ref_types: self.ref_types,
                };
                sub.check(node, alt, path)
            };
            if scratch.is_empty() {
                return value;
            }
            let score = scratch.len();
            if best.as_ref().is_none_or(|(s, _, _)| score < *s) {
                best = Some((score, scratch, value));
            }
        }
        match best {
            Some((_, d, v)) => {
                self.diags.extend(d);
                v
            }
            None => infer(node),
        }
    }
}
