//! The file graph of one crate: an edge from a file to every other file of the crate whose
//! module (or an item re-exported from it) its code names through `crate::`, `self::`,
//! `super::` or a child module's name. `mod` declarations are not edges: a parent declaring a
//! child depends on nothing in it.

use super::paths::{scan, Scan};
use super::source::code_only;
use std::collections::BTreeMap;

/// file → (file it names → the first path that names it).
pub type Graph = BTreeMap<String, BTreeMap<String, String>>;

/// The graph of a crate given as (path under src/, source) pairs.
pub fn file_graph(files: &[(String, String)]) -> Graph {
    let modules: BTreeMap<Vec<String>, (String, Scan)> = files.iter().map(|(file, src)| (module_of(file), (file.clone(), scan(&code_only(src))))).collect();
    let tree = ModuleTree { modules };
    let mut graph = Graph::new();
    for (module, (file, scan)) in &tree.modules {
        let edges = graph.entry(file.clone()).or_default();
        for r in &scan.references {
            let here: Vec<String> = module.iter().chain(&r.scope).cloned().collect();
            let Some(target) = tree.absolute(&here, &r.path).and_then(|abs| tree.file_of(&abs, 0)) else {
                continue;
            };
            if &target != file {
                edges.entry(target).or_insert_with(|| r.path.join("::"));
            }
        }
    }
    graph
}

/// `lib.rs` → [], `layers/mod.rs` → [layers], `layers/context.rs` → [layers, context].
fn module_of(file: &str) -> Vec<String> {
    let stem = file.strip_suffix(".rs").unwrap_or(file);
    let mut parts: Vec<String> = stem.split('/').map(String::from).collect();
    if matches!(parts.last().map(String::as_str), Some("lib" | "main" | "mod")) {
        parts.pop();
    }
    parts
}

struct ModuleTree {
    modules: BTreeMap<Vec<String>, (String, Scan)>,
}

impl ModuleTree {
    /// `path`, written in module `here`, from the crate root; None when it does not start in
    /// this crate (std, another crate, a type's associated item).
    fn absolute(&self, here: &[String], path: &[String]) -> Option<Vec<String>> {
        let first = path.first()?;
        let (base, rest): (Vec<String>, &[String]) = match first.as_str() {
            "crate" => (Vec::new(), &path[1..]),
            "self" => (here.to_vec(), &path[1..]),
            "super" => {
                let ups = path.iter().take_while(|s| *s == "super").count();
                (here[..here.len().checked_sub(ups)?].to_vec(), &path[ups..])
            }
            child => {
                let mut module = here.to_vec();
                module.push(child.to_string());
                if !self.modules.contains_key(&module) {
                    return None;
                }
                (here.to_vec(), path)
            }
        };
        Some(base.into_iter().chain(rest.iter().cloned()).collect())
    }

    /// The file that defines what the absolute path `abs` names: the deepest module file on
    /// it, or, where the path goes on into an item a module file imports, that item's file.
    fn file_of(&self, abs: &[String], depth: usize) -> Option<String> {
        let mut module: Vec<String> = Vec::new();
        for (k, segment) in abs.iter().enumerate() {
            module.push(segment.clone());
            if self.modules.contains_key(&module) {
                continue;
            }
            module.pop();
            let (file, scan) = &self.modules.get(&module)?;
            let import = scan.imports.iter().find(|(name, _)| name == segment);
            // An item or inline module of this file, or a name it imports (a re-export).
            return match import {
                Some((_, path)) if depth < 32 => {
                    let mut target = self.absolute(&module, path).unwrap_or_default();
                    if target.is_empty() {
                        return Some(file.clone());
                    }
                    target.extend(abs[k + 1..].iter().cloned());
                    self.file_of(&target, depth + 1)
                }
                _ => Some(file.clone()),
            };
        }
        self.modules.get(&module).map(|(file, _)| file.clone())
    }
}
