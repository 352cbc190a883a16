//! The module cycles of `runtime/src`, between its top-level modules (`server`, `client`,
//! `events`, ...): a module that imports one that imports it back cannot be read or changed on
//! its own (issue 13). This test lists the cycles left and fails when one appears or grows; when
//! one is broken, it fails too, asking for the list below to shrink.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The cycles that remain, each as its sorted members. The transport trait behind `Target` and
/// a generated-code contract split into its server and client sides are meant to break them.
const KNOWN_CYCLES: &[&[&str]] = &[&["client", "events", "interface", "refs", "server"]];

#[test]
fn no_new_module_cycles() {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(&source) {
        let relative = file.strip_prefix(&source).unwrap();
        let Some(module) = top_module(relative) else { continue };
        let text = std::fs::read_to_string(&file).unwrap();
        // Unit tests may reach anywhere; only the library's own code counts.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let used = imports.entry(module.clone()).or_default();
        for (at, _) in code.match_indices("crate::") {
            let name: String = code[at + 7..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                .collect();
            if !name.is_empty() && name != module {
                used.insert(name);
            }
        }
    }
    let cycles = strongly_connected(&imports);
    let known: BTreeSet<Vec<String>> =
        KNOWN_CYCLES.iter().map(|cycle| cycle.iter().map(|m| m.to_string()).collect()).collect();
    for cycle in &cycles {
        assert!(known.contains(cycle), "a module cycle that is not in KNOWN_CYCLES: {cycle:?}\nimports: {imports:#?}");
    }
    for cycle in &known {
        assert!(
            cycles.contains(cycle),
            "the cycle {cycle:?} is broken or smaller now: take it out of KNOWN_CYCLES (now: {cycles:?})"
        );
    }
}

/// `server/routing.rs` -> `server`, `limits.rs` -> `limits`; `lib.rs` is the root.
fn top_module(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    (first != "lib.rs").then(|| first.trim_end_matches(".rs").to_owned())
}

fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The strongly connected components of more than one module (Tarjan), each sorted.
fn strongly_connected(graph: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<Vec<String>> {
    struct Search<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        found: BTreeSet<Vec<String>>,
    }
    impl<'g> Search<'g> {
        fn visit(&mut self, node: &'g str) {
            let number = self.index.len();
            self.index.insert(node, number);
            self.low.insert(node, number);
            self.stack.push(node);
            for next in self.graph.get(node).into_iter().flatten() {
                let next = next.as_str();
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[node].min(self.low[next]);
                    self.low.insert(node, low);
                } else if self.stack.contains(&next) {
                    let low = self.low[node].min(self.index[next]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut component = Vec::new();
                while let Some(member) = self.stack.pop() {
                    component.push(member.to_owned());
                    if member == node {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.insert(component);
                }
            }
        }
    }
    let mut search =
        Search { graph, index: BTreeMap::new(), low: BTreeMap::new(), stack: Vec::new(), found: BTreeSet::new() };
    for node in graph.keys() {
        if !search.index.contains_key(node.as_str()) {
            search.visit(node);
        }
    }
    search.found
}
