//! The dependency graph: cycles, a deterministic order, and DOT / Mermaid renderings.

use std::collections::{BTreeMap, BTreeSet};

/// Every elementary cycle reachable in a deterministic DFS, each once, as the list of nodes
/// in dependency order starting from its smallest name (`a -> b -> a` is `[a, b]`).
pub fn find_cycles<'a>(graph: &BTreeMap<&'a str, Vec<&'a str>>) -> Vec<Vec<&'a str>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    fn visit<'a>(
        n: &'a str,
        graph: &BTreeMap<&'a str, Vec<&'a str>>,
        marks: &mut BTreeMap<&'a str, Mark>,
        stack: &mut Vec<&'a str>,
        found: &mut BTreeSet<Vec<&'a str>>,
    ) {
        marks.insert(n, Mark::Active);
        stack.push(n);
        for &d in graph.get(n).map(Vec::as_slice).unwrap_or(&[]) {
            match marks.get(d).copied().unwrap_or(Mark::New) {
                Mark::New => visit(d, graph, marks, stack, found),
                Mark::Active => {
                    let pos = stack.iter().position(|x| *x == d).unwrap_or(0);
                    let mut cycle: Vec<&str> = stack[pos..].to_vec();
                    let min = cycle
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, x)| **x)
                        .map(|(i, _)| i)
                        .unwrap_or(0);
                    cycle.rotate_left(min);
                    found.insert(cycle);
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks.insert(n, Mark::Done);
    }
    let mut marks = BTreeMap::new();
    let mut found = BTreeSet::new();
    for &n in graph.keys() {
        if marks.get(n).copied().unwrap_or(Mark::New) == Mark::New {
            visit(n, graph, &mut marks, &mut Vec::new(), &mut found);
        }
    }
    found.into_iter().collect()
}

/// Nodes ordered so every node comes after its dependencies (ties by name). Assumes no cycle.
pub fn topo_order<'a>(graph: &BTreeMap<&'a str, Vec<&'a str>>) -> Vec<&'a str> {
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::new();
    while out.len() < graph.len() {
        let ready: Vec<&str> = graph
            .iter()
            .filter(|(n, deps)| {
                !done.contains(*n)
                    && deps
                        .iter()
                        .all(|d| done.contains(d) || !graph.contains_key(d))
            })
            .map(|(n, _)| *n)
            .collect();
        if ready.is_empty() {
            // A cycle: emit the rest by name rather than loop forever.
            out.extend(graph.keys().filter(|n| !done.contains(*n)).copied());
            break;
        }
        for n in ready {
            done.insert(n);
            out.push(n);
        }
    }
    out
}

/// One node of a rendered graph.
pub struct GraphNode<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub deps: Vec<&'a str>,
}

pub fn to_dot(stack: &str, env: &str, nodes: &[GraphNode]) -> String {
    let mut s = format!("digraph \"{stack}/{env}\" {{\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n");
    for n in nodes {
        s.push_str(&format!(
            "  \"{}\" [label=\"{}\\n{}\"];\n",
            n.name, n.name, n.kind
        ));
    }
    for n in nodes {
        for d in &n.deps {
            s.push_str(&format!("  \"{}\" -> \"{}\";\n", d, n.name));
        }
    }
    s.push_str("}\n");
    s
}

pub fn to_mermaid(nodes: &[GraphNode]) -> String {
    let mut s = String::from("flowchart LR\n");
    for n in nodes {
        s.push_str(&format!(
            "  {}[\"{}<br/><small>{}</small>\"]\n",
            n.name, n.name, n.kind
        ));
    }
    for n in nodes {
        for d in &n.deps {
            s.push_str(&format!("  {} --> {}\n", d, n.name));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g<'a>(edges: &[(&'a str, &[&'a str])]) -> BTreeMap<&'a str, Vec<&'a str>> {
        edges.iter().map(|(n, d)| (*n, d.to_vec())).collect()
    }

    #[test]
    fn finds_each_cycle_once_from_its_smallest_node() {
        let graph = g(&[
            ("c", &["a"]),
            ("a", &["b"]),
            ("b", &["c"]),
            ("d", &["d"]),
            ("e", &[]),
        ]);
        assert_eq!(find_cycles(&graph), vec![vec!["a", "b", "c"], vec!["d"]]);
    }

    #[test]
    fn topo_order_puts_dependencies_first() {
        let graph = g(&[("app", &["db", "net"]), ("db", &["net"]), ("net", &[])]);
        assert_eq!(topo_order(&graph), vec!["net", "db", "app"]);
    }
}
