//! The value constraints of a kind's JSON Schema that pinctl enforces: a string's `pattern`,
//! `minLength` and `maxLength`, a list's `minItems` and `maxItems`. Providers put there the
//! rules AWS documents for a field (botocore's service models, the API References), so a value
//! AWS would refuse is refused first, where it is written: at `validate` for literal strings
//! (with the file's line and column, [`super::check`]), and at `plan`/`up` for strings made of
//! references, once they resolve ([`resolved_violations`]).
//!
//! A `pattern` is matched against the whole value: AWS's models write patterns unanchored
//! (`[A-Za-z0-9._/#-]+`) where the API References and CloudFormation show the same rule
//! anchored (`^[A-Za-z0-9 /_.:=+@-]+$`, AWS::EMRServerless::Application Tag), and the services
//! refuse a value with any character outside it.

use serde_json::Value;

use super::resolve::UNKNOWN;

/// `schema` with its `$ref`s followed into `root`'s `$defs` (or `definitions`); `true` (anything)
/// when a reference leads nowhere.
pub fn follow<'s>(root: &'s Value, schema: &'s Value) -> &'s Value {
    let mut s = schema;
    for _ in 0..32 {
        let Some(r) = s.get("$ref").and_then(Value::as_str) else {
            return s;
        };
        let target = r
            .strip_prefix("#/$defs/")
            .and_then(|name| root.get("$defs").and_then(|d| d.get(name)))
            .or_else(|| {
                r.strip_prefix("#/definitions/")
                    .and_then(|name| root.get("definitions").and_then(|d| d.get(name)))
            });
        match target {
            Some(t) => s = t,
            None => return &Value::Bool(true),
        }
    }
    s
}

/// Why string `s` breaks `schema`'s `minLength`, `maxLength` or `pattern` (lengths in
/// characters, as JSON Schema counts them), or `None`. A pattern that does not compile is no
/// rule (the schema is pinctl's own; its tests compile every pattern).
pub fn string_violation(schema: &Value, s: &str) -> Option<String> {
    let chars = s.chars().count() as u64;
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64) {
        if chars < min {
            return Some(format!(
                "`{s}` is {chars} characters long; the least is {min}"
            ));
        }
    }
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
        if chars > max {
            return Some(format!(
                "`{s}` is {chars} characters long; the most is {max}"
            ));
        }
    }
    let pattern = schema.get("pattern").and_then(Value::as_str)?;
    let whole = format!(
        "^(?:{})$",
        pattern.trim_start_matches('^').trim_end_matches('$')
    );
    match regex::Regex::new(&whole) {
        Ok(re) if !re.is_match(s) => Some(format!("`{s}` does not match `{pattern}`")),
        _ => None,
    }
}

/// Why a list of `len` items breaks `schema`'s `minItems` or `maxItems`, or `None`.
pub fn items_violation(schema: &Value, len: usize) -> Option<String> {
    let len = len as u64;
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
        if len < min {
            return Some(format!("{len} items; the least is {min}"));
        }
    }
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
        if len > max {
            return Some(format!("{len} items; the most is {max}"));
        }
    }
    None
}

/// Every constraint `value` (resolved props) breaks under `schema` (the string and list rules
/// above, and a number's `minimum` and `maximum`), as `path: why`, with `path`
/// in the stack's dotted form (`resources.emr_app.props.network.security_group_ids`). Strings
/// still holding a value known only after apply are not judged; neither are values the schema
/// does not describe (shape errors are [`super::check`]'s).
pub fn resolved_violations(root: &Value, schema: &Value, value: &Value, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    walk(root, schema, value, path, &mut out);
    out
}

fn walk(root: &Value, schema: &Value, value: &Value, path: &str, out: &mut Vec<String>) {
    let schema = follow(root, schema);
    if let Some(alts) = schema
        .get("anyOf")
        .or_else(|| schema.get("oneOf"))
        .and_then(Value::as_array)
    {
        // The alternative the value is of: the first whose constraints it meets, else the
        // first of its type, whose complaints are the ones said.
        let mut first: Option<Vec<String>> = None;
        for alt in alts {
            if !admits(follow(root, alt), value) {
                continue;
            }
            let mut found = Vec::new();
            walk(root, alt, value, path, &mut found);
            if found.is_empty() {
                return;
            }
            first.get_or_insert(found);
        }
        out.extend(first.unwrap_or_default());
        return;
    }
    match value {
        Value::String(s) if !s.contains(UNKNOWN) => {
            if let Some(why) = string_violation(schema, s) {
                out.push(format!("`{path}`: {why}"));
            }
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
                if x < min {
                    out.push(format!("`{path}`: must be at least {min}, found {n}"));
                }
            }
            if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
                if x > max {
                    out.push(format!("`{path}`: must be at most {max}, found {n}"));
                }
            }
        }
        Value::Array(items) => {
            if let Some(why) = items_violation(schema, items.len()) {
                out.push(format!("`{path}`: {why}"));
            }
            if let Some(item) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    walk(root, item, v, &format!("{path}[{i}]"), out);
                }
            }
        }
        Value::Object(m) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, v) in m {
                    if let Some(s) = props.get(k) {
                        walk(root, s, v, &format!("{path}.{k}"), out);
                    }
                }
            }
        }
        _ => {}
    }
}

/// Whether `schema` (followed) takes a value of `value`'s JSON type (or does not say).
fn admits(schema: &Value, value: &Value) -> bool {
    let t = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    match schema.get("type") {
        Some(Value::String(s)) => s == t || (s == "number" && t == "integer"),
        Some(Value::Array(a)) => a
            .iter()
            .any(|x| x == t || (x == "number" && t == "integer")),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_pattern_is_matched_against_the_whole_string() {
        let s = json!({"type": "string", "pattern": "[A-Za-z0-9._/#-]+", "maxLength": 64});
        assert_eq!(string_violation(&s, "abc-batch"), None);
        assert!(string_violation(&s, "abc batch")
            .unwrap()
            .contains("does not match"));
        assert!(string_violation(&s, &"a".repeat(65))
            .unwrap()
            .contains("65 characters long; the most is 64"));
        let anchored = json!({"pattern": "^[0-9]+$"});
        assert_eq!(string_violation(&anchored, "42"), None);
        assert!(string_violation(&anchored, "4x2").is_some());
    }

    #[test]
    fn resolved_props_are_judged_through_refs_options_and_lists() {
        let root = json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z]+$"},
                "network": {"anyOf": [{"$ref": "#/$defs/Net"}, {"type": "null"}]},
            },
            "$defs": {"Net": {"type": "object", "properties": {
                "groups": {"type": "array", "maxItems": 2, "items": {"type": "string", "maxLength": 3}}
            }}}
        });
        let good = json!({"name": "abc", "network": {"groups": ["a", "b"]}});
        assert!(resolved_violations(&root, &root, &good, "p").is_empty());
        let unknown = json!({"name": format!("x{UNKNOWN}"), "network": null});
        assert!(resolved_violations(&root, &root, &unknown, "p").is_empty());
        let ranged =
            json!({"type": "object", "properties": {"n": {"type": "integer", "maximum": 10}}});
        assert_eq!(
            resolved_violations(&ranged, &ranged, &json!({"n": 11}), "p"),
            vec!["`p.n`: must be at most 10, found 11".to_string()]
        );
        let bad = json!({"name": "a-b", "network": {"groups": ["a", "b", "long"]}});
        let v = resolved_violations(&root, &root, &bad, "p");
        assert_eq!(v.len(), 3, "{v:?}");
        assert!(v[0].starts_with("`p.name`: `a-b` does not match"), "{v:?}");
        assert_eq!(v[1], "`p.network.groups`: 3 items; the most is 2");
        assert!(
            v[2].starts_with("`p.network.groups[2]`: `long` is 4"),
            "{v:?}"
        );
    }
}
