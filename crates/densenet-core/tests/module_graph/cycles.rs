//! Cycles in a directed graph.

use super::graph::Graph;
use std::collections::BTreeMap;

#[derive(Clone, Copy, PartialEq)]
enum Visit {
    Open,
    Done,
}

/// One cycle of `graph`, as its nodes with the first repeated at the end, if it has one.
pub fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    let mut visits = BTreeMap::new();
    let mut stack = Vec::new();
    graph.keys().find_map(|node| dfs(graph, node, &mut visits, &mut stack))
}

fn dfs<'g>(graph: &'g Graph, node: &'g str, visits: &mut BTreeMap<&'g str, Visit>, stack: &mut Vec<&'g str>) -> Option<Vec<String>> {
    match visits.get(node) {
        Some(Visit::Done) => return None,
        Some(Visit::Open) => {
            // A back edge: the cycle is the stack from `node` on.
            let from = stack.iter().position(|n| *n == node).expect("an open node is on the stack");
            return Some(stack[from..].iter().chain([&node]).map(|n| n.to_string()).collect());
        }
        None => {}
    }
    visits.insert(node, Visit::Open);
    stack.push(node);
    for next in graph.get(node).into_iter().flat_map(|edges| edges.keys()) {
        if let Some(cycle) = dfs(graph, next, visits, stack) {
            return Some(cycle);
        }
    }
    stack.pop();
    visits.insert(node, Visit::Done);
    None
}
