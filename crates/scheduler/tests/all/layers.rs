//! The layer rules of `shoal_scheduler`'s lib.rs essay, checked on the sources.
//!
//! The executor's independence from wasmtime is enforced by the compiler (it is its own
//! crate, and the first test here checks its manifest). Inside this crate the layers are
//! modules, so their import rules are checked here, line by line, on every source file:
//! a `use` or path that crosses a layer the wrong way fails the build's tests with the
//! file and line that does it.

use std::fs;
use std::path::{Path, PathBuf};

/// The crate's root, found from the test's own manifest directory.
fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, recursively, in a stable order.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap_or_else(|e| panic!("read {}: {e}", d.display())) {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The lines of `file` that are code: comments and doc comments are skipped, so an
/// essay may name the layers it does not import.
fn code_lines(file: &Path) -> Vec<(usize, String)> {
    let text = fs::read_to_string(file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| (i + 1, l.to_string()))
        .collect()
}

/// Every `(file:line, text)` under `src/<layer>` (a directory or a single file) whose code
/// mentions one of `forbidden`.
fn violations(layer: &str, forbidden: &[&str]) -> Vec<String> {
    let root = crate_dir().join("src");
    let dir = root.join(layer);
    let files = if dir.is_dir() {
        sources(&dir)
    } else {
        vec![root.join(format!("{layer}.rs"))]
    };
    assert!(!files.is_empty(), "layer {layer} has no sources");
    let mut found = Vec::new();
    for file in files {
        for (line, text) in code_lines(&file) {
            for bad in forbidden {
                if text.contains(bad) {
                    found.push(format!("{}:{line}: {}", file.display(), text.trim()));
                }
            }
        }
    }
    found
}

#[test]
fn the_executor_crate_does_not_depend_on_wasmtime() {
    let manifest = crate_dir().join("../executor/Cargo.toml");
    let text = fs::read_to_string(&manifest).expect("executor manifest");
    let deps: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter(|l| l.contains("wasmtime") || l.contains("shoal-scheduler"))
        .collect();
    assert_eq!(deps, Vec::<&str>::new(), "{}", manifest.display());
    let code = sources(&crate_dir().join("../executor/src"))
        .iter()
        .flat_map(|f| code_lines(f))
        .filter(|(_, l)| l.contains("wasmtime"))
        .count();
    assert_eq!(
        code, 0,
        "executor sources mention wasmtime outside comments"
    );
}

#[test]
fn the_actor_layer_imports_neither_wasm_nor_native_nor_runtime_nor_wasmtime() {
    let found = violations(
        "actor",
        &["crate::wasm", "crate::native", "crate::runtime", "wasmtime"],
    );
    assert_eq!(found, Vec::<String>::new());
}

#[test]
fn the_wasm_layer_imports_neither_native_nor_runtime() {
    let found = violations("wasm", &["crate::native", "crate::runtime"]);
    assert_eq!(found, Vec::<String>::new());
}

#[test]
fn the_native_layer_imports_neither_runtime_nor_wasmtime_directly() {
    // Native processes spawn guests through the wasm layer's API, never through wasmtime.
    let found = violations("native", &["crate::runtime", "wasmtime"]);
    assert_eq!(found, Vec::<String>::new());
}

#[test]
fn the_error_module_imports_no_layer_of_this_crate() {
    let found = violations(
        "error",
        &[
            "crate::actor",
            "crate::wasm",
            "crate::native",
            "crate::runtime",
        ],
    );
    assert_eq!(found, Vec::<String>::new());
}
