//! Field-by-field comparison of props. Only what the stack declares is compared, so defaults a
//! service adds on its own are not drift.

use serde_json::Value;

/// One field that differs.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// `a.b[0].c`
    pub path: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// JSON pointer of a diff path, to match secret paths.
pub fn pointer_of(path: &str) -> String {
    let mut out = String::new();
    for part in path.split('.') {
        let (key, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        out.push('/');
        out.push_str(&key.replace('~', "~0").replace('/', "~1"));
        for idx in rest.split(['[', ']']).filter(|s| !s.is_empty()) {
            out.push('/');
            out.push_str(idx);
        }
    }
    out
}

/// Differences between what the stack wants and what exists, over the keys the stack sets.
pub fn diff(desired: &Value, actual: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    walk("", desired, Some(actual), &mut out);
    out
}

fn walk(path: &str, desired: &Value, actual: Option<&Value>, out: &mut Vec<Difference>) {
    match (desired, actual) {
        (Value::Object(d), Some(Value::Object(a))) => {
            for (k, dv) in d {
                let sub = join(path, k);
                match a.get(k) {
                    None if dv.is_null() => {}
                    None => out.push(Difference {
                        path: sub,
                        old: None,
                        new: Some(dv.clone()),
                    }),
                    Some(av) => walk(&sub, dv, Some(av), out),
                }
            }
        }
        (Value::Array(d), Some(Value::Array(a)))
            if d.len() == a.len() && d.iter().all(Value::is_object) =>
        {
            for (i, (dv, av)) in d.iter().zip(a).enumerate() {
                walk(&format!("{path}[{i}]"), dv, Some(av), out);
            }
        }
        (d, Some(a)) if numbers_equal(d, a) || d == a => {}
        (d, a) => out.push(Difference {
            path: path.to_string(),
            old: a.cloned(),
            new: Some(d.clone()),
        }),
    }
}

fn numbers_equal(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => a.is_number() && b.is_number() && x == y,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compares_only_declared_fields() {
        let desired = json!({"name": "a", "tags": {"x": "1"}, "size": 2});
        let actual =
            json!({"name": "a", "tags": {"x": "2", "extra": "y"}, "size": 2.0, "arn": "z"});
        let d = diff(&desired, &actual);
        assert_eq!(
            d,
            vec![Difference {
                path: "tags.x".into(),
                old: Some(json!("2")),
                new: Some(json!("1"))
            }]
        );
    }

    #[test]
    fn lists_of_objects_compare_by_index_and_scalars_whole() {
        let desired = json!({"routes": [{"path": "/a"}, {"path": "/b"}], "ports": [1, 2]});
        let actual = json!({"routes": [{"path": "/a"}, {"path": "/c"}], "ports": [1]});
        let paths: Vec<String> = diff(&desired, &actual)
            .into_iter()
            .map(|d| d.path)
            .collect();
        assert_eq!(paths, vec!["routes[1].path", "ports"]);
        assert_eq!(pointer_of("routes[1].path"), "/routes/1/path");
    }
}
