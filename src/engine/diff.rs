//! Field-by-field comparison of props. Only what the stack declares is compared, so values a
//! service adds on its own are not drift, except where the kind says otherwise ([`Rules`]):
//! lists AWS treats as sets compare without order, and maps the resource owns whole report the
//! entries the stack does not have.

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

/// How a kind's props compare beyond "the keys the stack sets", from its
/// [`KindInfo`](crate::kind::KindInfo): paths are dotted (`network.subnet_ids`), without list
/// indices.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rules<'a> {
    /// Lists whose order is no change ([`crate::kind::KindInfo::sets`]).
    pub sets: &'a [&'a str],
    /// Maps whose entries beyond the desired ones are differences
    /// ([`crate::kind::KindInfo::exclusive`]).
    pub exclusive: &'a [&'a str],
}

impl<'a> Rules<'a> {
    /// The rules `info` declares.
    pub fn of(info: &'a crate::kind::KindInfo) -> Self {
        Rules {
            sets: info.sets,
            exclusive: info.exclusive,
        }
    }
}

/// Differences between what the stack wants and what exists, over the keys the stack sets.
pub fn diff(desired: &Value, actual: &Value) -> Vec<Difference> {
    diff_with(&Rules::default(), desired, actual)
}

/// [`diff`] under a kind's [`Rules`]: a set whose elements match in another order is no
/// difference (one whose elements differ is one, at the list's path); an entry of an exclusive
/// map that only `actual` has is a difference at its path with `new: None`.
pub fn diff_with(rules: &Rules, desired: &Value, actual: &Value) -> Vec<Difference> {
    let mut out = Vec::new();
    walk(rules, "", desired, Some(actual), &mut out);
    out
}

fn walk(
    rules: &Rules,
    path: &str,
    desired: &Value,
    actual: Option<&Value>,
    out: &mut Vec<Difference>,
) {
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
                    Some(av) => walk(rules, &sub, dv, Some(av), out),
                }
            }
            if rules.exclusive.contains(&path) {
                for (k, av) in a {
                    if !d.contains_key(k) && !av.is_null() {
                        out.push(Difference {
                            path: join(path, k),
                            old: Some(av.clone()),
                            new: None,
                        });
                    }
                }
            }
        }
        (Value::Array(d), Some(Value::Array(a))) if rules.sets.contains(&path) => {
            if !same_set(d, a) {
                out.push(Difference {
                    path: path.to_string(),
                    old: Some(Value::Array(a.clone())),
                    new: Some(Value::Array(d.clone())),
                });
            }
        }
        (Value::Array(d), Some(Value::Array(a)))
            if d.len() == a.len() && d.iter().all(Value::is_object) =>
        {
            for (i, (dv, av)) in d.iter().zip(a).enumerate() {
                walk(rules, &format!("{path}[{i}]"), dv, Some(av), out);
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

/// Whether every desired element matches its own actual element, in any order: as many
/// elements on each side, each desired one equal (over the fields it sets) to a different
/// actual one.
fn same_set(desired: &[Value], actual: &[Value]) -> bool {
    if desired.len() != actual.len() {
        return false;
    }
    let mut used = vec![false; actual.len()];
    desired.iter().all(|dv| {
        let found = actual
            .iter()
            .enumerate()
            .find(|(i, av)| !used[*i] && diff(dv, av).is_empty());
        match found {
            Some((i, _)) => {
                used[i] = true;
                true
            }
            None => false,
        }
    })
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

    #[test]
    fn sets_ignore_order_but_not_membership() {
        let rules = Rules {
            sets: &["subnets", "net.groups", "routes"],
            exclusive: &[],
        };
        let desired = json!({"subnets": ["a", "b"], "net": {"groups": ["x", "y"]},
            "routes": [{"cidr": "0.0.0.0/0"}, {"cidr": "10.0.0.0/8", "gw": "g"}]});
        let reordered = json!({"subnets": ["b", "a"], "net": {"groups": ["y", "x"]},
            "routes": [{"cidr": "10.0.0.0/8", "gw": "g", "state": "active"},
                       {"cidr": "0.0.0.0/0", "state": "active"}]});
        assert_eq!(diff_with(&rules, &desired, &reordered), vec![]);
        // Without the rule, the same lists differ (lists of objects element by element).
        let unordered: Vec<String> = diff(&desired, &reordered)
            .into_iter()
            .map(|d| d.path)
            .collect();
        assert_eq!(
            unordered,
            vec![
                "subnets",
                "net.groups",
                "routes[0].cidr",
                "routes[1].cidr",
                "routes[1].gw"
            ]
        );
        let other = json!({"subnets": ["a", "c"], "net": {"groups": ["x", "y", "z"]},
            "routes": [{"cidr": "0.0.0.0/0"}, {"cidr": "0.0.0.0/0"}]});
        let paths: Vec<String> = diff_with(&rules, &desired, &other)
            .into_iter()
            .map(|d| d.path)
            .collect();
        assert_eq!(paths, vec!["subnets", "net.groups", "routes"]);
    }

    #[test]
    fn exclusive_maps_report_entries_only_the_service_has() {
        let rules = Rules {
            sets: &[],
            exclusive: &["policies"],
        };
        let desired = json!({"policies": {"read": [1]}, "tags": {"a": "1"}});
        let actual = json!({"policies": {"read": [1], "extra": [2]}, "tags": {"a": "1", "b": "2"}});
        assert_eq!(
            diff_with(&rules, &desired, &actual),
            vec![Difference {
                path: "policies.extra".into(),
                old: Some(json!([2])),
                new: None
            }]
        );
    }
}
