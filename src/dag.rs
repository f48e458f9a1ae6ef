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

/// How one node of a [`walk`] ended.
#[derive(Debug)]
pub enum Walked<T, E> {
    Done(T),
    Failed(E),
    /// Its task panicked (the message says how).
    Panicked(String),
    /// Not started: a dependency did not succeed, a failure stopped new work, or the walk was
    /// cancelled.
    NotStarted,
}

/// Runs `run(i)` for every node `i` once all of `deps[i]` are done, at most `parallelism` at a
/// time (Terraform's `dag.Walker`, bounded). After the first failure or panic, or once
/// `cancel` resolves, it starts nothing new and waits for the running nodes; `on_cancel` is
/// called once when cancellation stops it. Returns one [`Walked`] per node, in node order.
pub async fn walk<T, E, F, Fut>(
    deps: &[Vec<usize>],
    parallelism: usize,
    cancel: impl std::future::Future<Output = ()>,
    on_cancel: impl FnOnce(),
    run: F,
) -> Vec<Walked<T, E>>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    #[derive(Clone, Copy, PartialEq)]
    enum St {
        Pending,
        Running,
        Done,
        Ended,
    }
    let n = deps.len();
    let mut st = vec![St::Pending; n];
    let mut out: Vec<Walked<T, E>> = (0..n).map(|_| Walked::NotStarted).collect();
    let mut running = tokio::task::JoinSet::new();
    let mut ids = std::collections::HashMap::new();
    let mut stopping = false;
    let mut on_cancel = Some(on_cancel);
    tokio::pin!(cancel);
    loop {
        if !stopping {
            for i in 0..n {
                if running.len() >= parallelism.max(1) {
                    break;
                }
                if st[i] == St::Pending && deps[i].iter().all(|d| st[*d] == St::Done) {
                    st[i] = St::Running;
                    let h = running.spawn(run(i));
                    ids.insert(h.id(), i);
                }
            }
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            joined = running.join_next_with_id() => {
                let Some(joined) = joined else { break };
                let (i, ended) = match joined {
                    Ok((id, Ok(t))) => (ids[&id], Walked::Done(t)),
                    Ok((id, Err(e))) => (ids[&id], Walked::Failed(e)),
                    Err(e) => (ids[&e.id()], Walked::Panicked(e.to_string())),
                };
                if matches!(ended, Walked::Done(_)) {
                    st[i] = St::Done;
                } else {
                    st[i] = St::Ended;
                    stopping = true;
                }
                out[i] = ended;
            }
            _ = &mut cancel, if !stopping => {
                stopping = true;
                if let Some(f) = on_cancel.take() {
                    f();
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod walk_tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn dependencies_first_bounded_and_stopping_at_a_failure() {
        // 0 <- 1 <- 2 ; 3 fails ; 4 depends on 3.
        let deps = vec![vec![], vec![0], vec![1], vec![], vec![3]];
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let live = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let out = walk(
            &deps,
            2,
            std::future::pending(),
            || {},
            |i| {
                let (order, live, peak) = (order.clone(), live.clone(), peak.clone());
                async move {
                    let now = live.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    live.fetch_sub(1, Ordering::SeqCst);
                    order.lock().unwrap().push(i);
                    if i == 3 {
                        Err("no")
                    } else {
                        Ok(i)
                    }
                }
            },
        )
        .await;
        assert!(peak.load(Ordering::SeqCst) <= 2);
        assert!(matches!(out[0], Walked::Done(0)));
        assert!(matches!(out[3], Walked::Failed("no")));
        assert!(matches!(out[4], Walked::NotStarted));
        let order = order.lock().unwrap();
        let pos = |x| order.iter().position(|&y| y == x);
        if let (Some(a), Some(b)) = (pos(0), pos(1)) {
            assert!(a < b);
        }
    }

    #[tokio::test]
    async fn cancellation_starts_nothing_new() {
        let deps = vec![vec![], vec![0]];
        let cancelled = std::sync::atomic::AtomicBool::new(false);
        let out = walk(
            &deps,
            1,
            async {},
            || cancelled.store(true, Ordering::SeqCst),
            |i| async move {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                Ok::<_, ()>(i)
            },
        )
        .await;
        assert!(cancelled.load(Ordering::SeqCst));
        assert!(matches!(out[1], Walked::NotStarted));
    }
}
