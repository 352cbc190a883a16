//! The layering of `runtime/src`, between its top-level modules (`server`, `client`, `events`,
//! ...): a module that imports one that imports it back cannot be read or changed on its own
//! (issue 13). This test fails on any import cycle, and on an import against the layers that
//! docs/ARCHITECTURE.md draws (the server never reaches for the client, the shared parts for
//! either side).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The cycles that remain, each as its sorted members: none since the transport trait and the
/// split of the generated-code contract and of events by side. Keep it so.
const KNOWN_CYCLES: &[&[&str]] = &[];

/// Imports that would go up the layers: (module, modules it must not import).
const FORBIDDEN: &[(&str, &[&str])] = &[
    // The server knows nothing of stubs; stubs of this process call into the server instead.
    ("server", &["client", "refs", "codegen"]),
    // What both sides share imports neither.
    ("interface", &["server", "client", "refs", "events"]),
    ("events", &["server", "client", "refs"]),
    ("net", &["server", "client", "refs", "events", "handles"]),
    ("handles", &["server", "client", "refs", "events"]),
    ("wire", &["server", "client", "refs", "events", "handles", "net", "discovery"]),
    ("discovery", &["server", "client", "refs", "events", "handles"]),
];

#[test]
fn modules_import_down_the_layers_and_never_in_a_cycle() {
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
    for (module, forbidden) in FORBIDDEN {
        let used = imports.get(*module).unwrap_or_else(|| panic!("no module '{module}' in runtime/src"));
        for name in *forbidden {
            assert!(!used.contains(*name), "'{module}' imports '{name}', against the layers of docs/ARCHITECTURE.md");
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
