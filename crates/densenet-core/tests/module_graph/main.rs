//! No import circles: in every crate of the workspace, the files of `src/` and the paths
//! between them (`use crate::…`, `super::…`, re-exports followed to the file that defines the
//! item) form a graph without cycles. Each module can then be read, tested and moved after the
//! ones it uses, never together with them.

mod cycles;
mod graph;
mod paths;
mod source;

use cycles::find_cycle;
use graph::{file_graph, Graph};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, under: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, under, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let name = path.strip_prefix(under).unwrap().to_string_lossy().replace('\\', "/");
            out.push((name, std::fs::read_to_string(&path).unwrap()));
        }
    }
}

fn crate_graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, src, &mut files);
    file_graph(&files)
}

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// "a.rs → b.rs (crate::b::B) → a.rs (super::a::A)".
fn describe(graph: &Graph, cycle: &[String]) -> String {
    let mut out = cycle[0].clone();
    for pair in cycle.windows(2) {
        out += &format!(" → {} ({})", pair[1], graph[&pair[0]][&pair[1]]);
    }
    out
}

fn sources(files: &[(&str, &str)]) -> Vec<(String, String)> {
    files.iter().map(|(name, src)| (name.to_string(), src.to_string())).collect()
}

#[test]
fn no_file_of_any_crate_imports_in_a_circle() {
    let mut circles = Vec::new();
    let mut crates = 0;
    for entry in std::fs::read_dir(crates_dir()).unwrap() {
        let src = entry.unwrap().path().join("src");
        if !src.is_dir() {
            continue;
        }
        crates += 1;
        let graph = crate_graph(&src);
        if let Some(cycle) = find_cycle(&graph) {
            circles.push(format!("{}: {}", src.display(), describe(&graph, &cycle)));
        }
    }
    assert!(crates >= 1, "no crates found under {}", crates_dir().display());
    assert!(circles.is_empty(), "import circles:\n{}", circles.join("\n"));
}

#[test]
fn the_core_depends_downwards() {
    let graph = crate_graph(&crates_dir().join("densenet-core/src"));
    let uses = |from: &str, to: &str| graph[from].contains_key(to);
    // Not vacuous: the scan sees these edges...
    assert!(uses("collective.rs", "float.rs"));
    assert!(uses("collective.rs", "backend.rs"));
    assert!(uses("backend.rs", "float.rs"));
    assert!(uses("layers/sync_bn.rs", "layers/context.rs"));
    assert!(uses("layers/bn_stats.rs", "layers/sync_bn.rs"));
    // ... and not the ones that closed the two circles of issue #25.
    assert!(!uses("float.rs", "collective.rs"));
    assert!(!uses("layers/context.rs", "layers/sync_bn.rs"));
}

#[test]
fn a_circle_is_found_through_a_reexport() {
    let graph = file_graph(&sources(&[
        ("lib.rs", "mod a;\nmod b;\npub use b::B;\n"),
        ("a.rs", "pub struct A;\npub fn make() -> crate::B { crate::B(A) }\n"),
        ("b.rs", "use crate::a::A;\npub struct B(pub A);\n"),
    ]));
    assert_eq!(graph["a.rs"]["b.rs"], "crate::B");
    assert_eq!(find_cycle(&graph), Some(vec!["a.rs".to_string(), "b.rs".to_string(), "a.rs".to_string()]));
}

#[test]
fn a_circle_is_found_through_super_paths_and_use_groups() {
    let graph = file_graph(&sources(&[
        ("lib.rs", "pub mod layers;\n"),
        ("layers/mod.rs", "pub mod context;\npub mod sync_bn;\n"),
        ("layers/context.rs", "pub fn two_mut() {}\npub fn stats() { super::sync_bn::global_stats() }\n"),
        ("layers/sync_bn.rs", "use super::{context::{self, two_mut as pair}, *};\npub fn global_stats() { pair() }\n"),
    ]));
    assert_eq!(graph["layers/sync_bn.rs"]["layers/context.rs"], "super::context");
    let cycle = find_cycle(&graph).expect("context ↔ sync_bn");
    assert_eq!(cycle.len(), 3);
    assert!(describe(&graph, &cycle).contains("super::sync_bn::global_stats"));
}

#[test]
fn comments_strings_and_test_modules_make_no_edges() {
    let graph = file_graph(&sources(&[
        ("lib.rs", "mod a;\nmod b;\n"),
        (
            "a.rs",
            r##"//! See [`crate::b::B`].
/* crate::b::B /* nested */ crate::b */
pub const QUOTE: char = '"';
pub const S: &str = "crate::b::B \" crate::b";
pub const R: &str = r#"crate::b::B "# ;
pub fn id<'a>(s: &'a str) -> &'a str { s }
#[cfg(test)]
mod tests {
    use super::*;
    fn f() -> super::S { self::super::S }
}
"##,
        ),
        ("b.rs", "pub struct B;\nfn s() -> &'static str { crate::a::S }\n"),
    ]));
    assert!(graph["a.rs"].is_empty(), "{:?}", graph["a.rs"]);
    assert_eq!(graph["b.rs"]["a.rs"], "crate::a::S");
    assert_eq!(find_cycle(&graph), None);
}

#[test]
fn a_child_module_and_its_parent_are_files_like_any_other() {
    let graph = file_graph(&sources(&[
        ("lib.rs", "mod model;\npub use model::DenseNet;\n"),
        ("model.rs", "mod finetune;\npub struct DenseNet;\nfn f() { finetune::freeze() }\n"),
        ("model/finetune.rs", "use super::DenseNet;\npub fn freeze() {}\n"),
    ]));
    assert_eq!(graph["model.rs"]["model/finetune.rs"], "finetune::freeze");
    assert_eq!(graph["model/finetune.rs"]["model.rs"], "super::DenseNet");
    assert!(graph["lib.rs"].contains_key("model.rs"));
    assert!(find_cycle(&graph).is_some());
}
