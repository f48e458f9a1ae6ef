//! Turns a resource's props into concrete values: references replaced, templates rendered,
//! files read. Values that depend on a resource not yet created are `(known after apply)`;
//! values derived from a secret are tracked so they are never shown or stored in clear text.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::check::{FILE_KEY, TEMPLATE_KEY};
use super::expr::{self, Ref, Segment};
use super::load::Stack;

/// Stands for a value only known once a dependency has been created.
pub const UNKNOWN: &str = "\u{e000}(known after apply)";

pub fn is_unknown(v: &Value) -> bool {
    v.as_str() == Some(UNKNOWN)
}

pub fn contains_unknown(v: &Value) -> bool {
    match v {
        Value::String(_) => is_unknown(v),
        Value::Array(a) => a.iter().any(contains_unknown),
        Value::Object(o) => o.values().any(contains_unknown),
        _ => false,
    }
}

/// `v` as documents shown to people and programs carry it (`--json`): a value wholly unknown
/// becomes `null` (the field's `known_after_apply` says why, as Terraform's JSON plan pairs
/// `after` with `after_unknown`), and an unknown part of a string reads `(known after apply)`.
/// The private-use marker of [`UNKNOWN`] never leaves the process.
pub fn public(v: Value) -> Value {
    match v {
        Value::String(s) if s == UNKNOWN => Value::Null,
        Value::String(s) if s.contains('\u{e000}') => Value::String(
            s.replace(UNKNOWN, "(known after apply)")
                .replace('\u{e000}', ""),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(public).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, public(v))).collect()),
        other => other,
    }
}

/// What a reference resolves to.
#[derive(Debug, Clone)]
pub enum Lookup {
    Known { value: Value, secret: bool },
    Unknown,
}

/// Props with every reference replaced.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    pub value: Value,
    /// JSON pointers (`/a/b/0`) of values derived from secrets.
    pub secret_paths: Vec<String>,
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

struct Resolver<'a> {
    stack: &'a Stack,
    lookup: &'a dyn Fn(&str, &str) -> Lookup,
    secret_paths: Vec<String>,
}

impl Resolver<'_> {
    fn lookup(&self, r: &Ref, vars: &Map<String, Value>) -> Lookup {
        match r {
            Ref::Param(p) => match self.stack.params.get(p) {
                Some(pv) => Lookup::Known {
                    value: pv.value.clone(),
                    secret: pv.secret,
                },
                None => Lookup::Known {
                    value: Value::Null,
                    secret: false,
                },
            },
            Ref::Stack(a) => Lookup::Known {
                value: Value::String(match a.as_str() {
                    "name" => self.stack.name.clone(),
                    _ => self.stack.env.clone(),
                }),
                secret: false,
            },
            Ref::Aws(a) => match self.stack.aws.get(a) {
                Some(v) => Lookup::Known {
                    value: Value::String(v.clone()),
                    secret: false,
                },
                None => Lookup::Unknown,
            },
            Ref::Var(v) => Lookup::Known {
                value: vars.get(v).cloned().unwrap_or(Value::Null),
                secret: false,
            },
            Ref::Resource { name, attr } => (self.lookup)(name, attr),
        }
    }

    /// Interpolates a string. A string that is exactly one reference keeps the referenced type.
    fn string(&self, s: &str, vars: &Map<String, Value>) -> (Value, bool) {
        let Ok(segs) = expr::parse(s) else {
            return (Value::String(s.into()), false);
        };
        if let [Segment::Ref(r, _)] = segs.as_slice() {
            return match self.lookup(r, vars) {
                Lookup::Known { value, secret } => (value, secret),
                Lookup::Unknown => (Value::String(UNKNOWN.into()), false),
            };
        }
        let mut out = String::new();
        let mut secret = false;
        for seg in segs {
            match seg {
                Segment::Lit(l) => out.push_str(&l),
                Segment::Ref(r, _) => match self.lookup(&r, vars) {
                    Lookup::Known { value, secret: s } => {
                        secret |= s;
                        if is_unknown(&value) {
                            return (Value::String(UNKNOWN.into()), secret);
                        }
                        out.push_str(&text_of(&value));
                    }
                    Lookup::Unknown => return (Value::String(UNKNOWN.into()), secret),
                },
            }
        }
        (Value::String(out), secret)
    }

    fn value(&mut self, v: &Value, pointer: &str, vars: &Map<String, Value>) -> Value {
        match v {
            Value::String(s) if expr::has_expr(s) => {
                let (value, secret) = self.string(s, vars);
                if secret {
                    self.secret_paths.push(pointer.to_string());
                }
                value
            }
            Value::Object(map) if map.contains_key(FILE_KEY) => {
                let rel = map
                    .get(FILE_KEY)
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                Value::String(self.stack.files.get(rel).cloned().unwrap_or_default())
            }
            Value::Object(map) if map.contains_key(TEMPLATE_KEY) => {
                let rel = map
                    .get(TEMPLATE_KEY)
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let text = self.stack.files.get(rel).cloned().unwrap_or_default();
                let mut tvars = Map::new();
                let before = self.secret_paths.len();
                if let Some(Value::Object(vs)) = map.get("vars") {
                    for (k, x) in vs {
                        let resolved = self.value(x, &format!("{pointer}/vars/{k}"), vars);
                        tvars.insert(k.clone(), resolved);
                    }
                }
                let vars_secret = self.secret_paths.len() > before;
                self.secret_paths.truncate(before);
                let (rendered, secret) = self.string(&text, &tvars);
                // A template that is one reference still renders as text.
                let rendered = match rendered {
                    Value::String(s) => Value::String(s),
                    other => Value::String(text_of(&other)),
                };
                if secret || vars_secret {
                    self.secret_paths.push(pointer.to_string());
                }
                rendered
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, x)| {
                        let p = format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1"));
                        (k.clone(), self.value(x, &p, vars))
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, x)| self.value(x, &format!("{pointer}/{i}"), vars))
                    .collect(),
            ),
            Value::String(s) => Value::String(s.clone()),
            other => other.clone(),
        }
    }
}

/// Resolves `props` of a resource in `stack`; `lookup(resource, attribute)` answers references
/// to other resources.
pub fn resolve(stack: &Stack, props: &Value, lookup: &dyn Fn(&str, &str) -> Lookup) -> Resolved {
    let mut r = Resolver {
        stack,
        lookup,
        secret_paths: Vec::new(),
    };
    let value = r.value(props, "", &Map::new());
    let mut secret_paths = r.secret_paths;
    secret_paths.sort();
    secret_paths.dedup();
    Resolved {
        value,
        secret_paths,
    }
}

/// Values of every param, for display (secrets redacted).
pub fn shown_params(stack: &Stack) -> BTreeMap<String, Value> {
    stack
        .params
        .iter()
        .map(|(k, v)| {
            let shown = if v.secret {
                Value::String("(sensitive)".into())
            } else {
                v.value.clone()
            };
            (k.clone(), shown)
        })
        .collect()
}
