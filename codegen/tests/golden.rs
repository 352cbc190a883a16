//! Golden-file tests, in the style of prost-build's fixtures: the code generated for the example
//! and the test interfaces is compared with `tests/golden/<file name>`, so that any change of the
//! generator's output shows up in review.
//!
//! To accept a change on purpose, regenerate the files and check them in:
//!
//! ```text
//! HEROS_BLESS=1 cargo test -p heros-codegen --test golden
//! ```
//!
//! A missing golden file is written, too (and the test says so on stderr).

use std::path::{Path, PathBuf};

const BLESS_HINT: &str = "HEROS_BLESS=1 cargo test -p heros-codegen --test golden";

/// Lines of context shown around the first difference, and differing lines shown at most.
const CONTEXT: usize = 3;
const SHOWN: usize = 12;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("golden")
}

fn bless_requested() -> bool {
    std::env::var("HEROS_BLESS").is_ok_and(|v| v == "1")
}

/// Generates `protos` (searched in `includes`, both relative to the workspace root) and checks
/// that exactly `expected_files` come out, each equal to its golden file.
fn check(protos: &[&str], includes: &[&str], expected_files: &[&str]) {
    let root = workspace_root();
    let protos: Vec<PathBuf> = protos.iter().map(|p| root.join(p)).collect();
    let includes: Vec<PathBuf> = includes.iter().map(|p| root.join(p)).collect();
    let generated = heros_codegen::Builder::new()
        .emit_rerun_if_changed(false)
        .generate(&protos, &includes)
        .unwrap_or_else(|e| panic!("generating {protos:?} failed: {e}"));

    let names: Vec<&str> = generated.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, expected_files, "generated files for {protos:?}");

    let mut failures = Vec::new();
    for (name, content) in &generated {
        if let Err(message) = compare_or_bless(name, content) {
            failures.push(message);
        }
    }
    if !failures.is_empty() {
        panic!("{}\n\nIf the change is intended, bless the new output with:\n    {BLESS_HINT}", failures.join("\n\n"));
    }
}

/// `Ok` if `content` equals the golden file (or the golden file was written); else a readable diff.
fn compare_or_bless(name: &str, content: &str) -> Result<(), String> {
    let path = golden_dir().join(name);
    let golden = match std::fs::read_to_string(&path) {
        Ok(golden) => Some(golden),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("reading {}: {e}", path.display()),
    };
    if bless_requested() || golden.is_none() {
        if golden.as_deref() != Some(content) {
            std::fs::create_dir_all(golden_dir()).expect("create tests/golden");
            std::fs::write(&path, content).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
            let why = if golden.is_none() { "was missing" } else { "HEROS_BLESS=1" };
            eprintln!("golden: wrote {} ({why}); check it in", path.display());
        } else {
            eprintln!("golden: {} is up to date", path.display());
        }
        return Ok(());
    }
    // A checkout with CRLF line endings is not a change of the generator.
    let golden = golden.expect("checked above").replace("\r\n", "\n");
    if golden == content {
        return Ok(());
    }
    Err(describe_difference(&path, &golden, content))
}

/// The first differing block of lines with some context around it, `-` for the golden file and
/// `+` for the generated code, like one hunk of a unified diff.
fn describe_difference(path: &Path, golden: &str, generated: &str) -> String {
    let old: Vec<&str> = golden.lines().collect();
    let new: Vec<&str> = generated.lines().collect();
    let first = old.iter().zip(&new).position(|(a, b)| a != b).unwrap_or(old.len().min(new.len()));
    let mut out = format!(
        "generated code differs from {} (golden: {} lines, generated: {} lines); first difference at line {}:\n",
        path.display(),
        old.len(),
        new.len(),
        first + 1
    );
    if first == old.len() && first == new.len() {
        out.push_str("    (the lines are equal; the files differ in the final newline)\n");
        return out;
    }
    // Lines equal at the end, so that a changed line shows as one `-` and one `+` line.
    let common_tail = old[first..].iter().rev().zip(new[first..].iter().rev()).take_while(|(a, b)| a == b).count();
    let (old_end, new_end) = (old.len() - common_tail, new.len() - common_tail);
    for (i, line) in old.iter().enumerate().take(first).skip(first.saturating_sub(CONTEXT)) {
        out.push_str(&format!("  {:>5}   {line}\n", i + 1));
    }
    let mut block = |sign: char, lines: &[&str], end: usize| {
        for (i, line) in lines.iter().enumerate().take(end.min(first + SHOWN)).skip(first) {
            out.push_str(&format!("{sign} {:>5}   {line}\n", i + 1));
        }
        if end > first + SHOWN {
            out.push_str(&format!("{sign}   ... ({} more)\n", end - first - SHOWN));
        }
    };
    block('-', &old, old_end);
    block('+', &new, new_end);
    for (i, line) in new.iter().enumerate().skip(new_end).take(CONTEXT) {
        out.push_str(&format!("  {:>5}   {line}\n", i + 1));
    }
    out
}

#[test]
fn testobject_example() {
    check(
        &[
            "schema/examples/testobject.proto",
            "schema/examples/nodes.proto",
            "schema/examples/instrument.proto",
            "schema/examples/callbacks.proto",
            "schema/examples/furnace.proto",
        ],
        &["schema"],
        &["examples.v1.rs"],
    );
}

#[test]
fn thermostat() {
    check(&["tests/schema/lab/climate/v1/thermostat.proto"], &["schema", "tests/schema"], &["lab.climate.v1.rs"]);
}

#[test]
fn difference_is_readable() {
    let golden = "a\nb\nc\nd\ne\n";
    let generated = "a\nb\nC\nd\ne\n";
    let message = describe_difference(Path::new("x.rs"), golden, generated);
    assert!(message.contains("first difference at line 3"), "{message}");
    assert!(message.contains("-     3   c\n"), "{message}");
    assert!(message.contains("+     3   C\n"), "{message}");
    assert!(message.contains("      2   b\n") && message.contains("      4   d\n"), "{message}");
    assert!(!message.contains("-     4") && !message.contains("+     4"), "only line 3 differs: {message}");

    let message = describe_difference(Path::new("x.rs"), "a\nb\n", "a\nb\nc\n");
    assert!(message.contains("first difference at line 3") && message.contains("+     3   c"), "{message}");

    let message = describe_difference(Path::new("x.rs"), "a\n", "a");
    assert!(message.contains("final newline"), "{message}");
}
