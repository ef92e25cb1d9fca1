//! The dependency rule, tested (rust-analyzer's habit: every invariant has a `#[test]`). Each
//! top-level module of `src/` has a layer; a module may import (`crate::x`) only modules of lower
//! layers, so imports point downward and no cycle can form. A new module gets its layer in
//! `LAYERS`. The emulator is a crate of its own (`crates/muster-sandbox`) that depends on no
//! muster crate, and only the binary's commands start it.
//!
//! Adding a back-edge fails the test with the edge named, e.g. `use crate::metrics::Metrics;` in
//! `src/aws/detective.rs` gives `aws (layer 4) imports metrics (layer 7) in
//! src/aws/detective.rs: imports must point to a lower layer`.

/// (module, layer): higher layers may import lower ones.
const LAYERS: &[(&str, u32)] = &[
    ("domain", 0),
    ("input", 0),
    ("revision", 1),
    ("desired", 2),
    ("observed", 2),
    ("cli", 2),
    ("plan", 3),
    ("aws", 4),
    ("eventlog", 4),
    ("org", 5),
    ("apply", 5),
    ("reconcile", 6),
    ("import", 6),
    ("config", 7),
    ("report", 7),
    ("metrics", 7),
    ("http", 8),
    ("daemon", 9),
];

fn layer(module: &str) -> Option<u32> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

/// Every `crate::<module>` a file's non-test code names, with the file's top-level module.
fn imports(src: &std::path::Path) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut todo = vec![src.to_owned()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap();
            let first = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            let module = first.trim_end_matches(".rs").to_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for (i, _) in code.match_indices("crate::") {
                let name: String = code[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit())
                    .collect();
                if !name.is_empty() {
                    out.push((module.clone(), name, format!("src/{}", rel.display())));
                }
            }
            // `use crate::{a, b}` groups.
            for group in code.split("use crate::{").skip(1) {
                let inner = group.split('}').next().unwrap_or_default();
                for part in inner.split(',') {
                    let name: String = part
                        .trim()
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        out.push((module.clone(), name, format!("src/{}", rel.display())));
                    }
                }
            }
        }
    }
    out
}

/// What is wrong with an import of `to` by `from` (in `file`), if anything.
fn violation(from: &str, to: &str, file: &str) -> Option<String> {
    if from == to || matches!(from, "lib" | "main" | "layering") {
        return None;
    }
    match (layer(from), layer(to)) {
        (None, _) => Some(format!("{from} ({file}) has no layer: give it one in LAYERS")),
        (_, None) => Some(format!("{from} imports {to} in {file}, which has no layer")),
        (Some(a), Some(b)) if b >= a => Some(format!(
            "{from} (layer {a}) imports {to} (layer {b}) in {file}: imports must point to a lower layer"
        )),
        _ => None,
    }
}

#[test]
fn imports_point_downward_only() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = imports(&src);
    assert!(
        found
            .iter()
            .any(|(m, t, _)| m == "reconcile" && t == "plan"),
        "the scan sees imports"
    );
    let bad: Vec<String> = found
        .iter()
        .filter_map(|(m, t, f)| violation(m, t, f))
        .collect();
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn a_back_edge_is_named() {
    assert_eq!(
        violation("aws", "metrics", "src/aws/detective.rs").as_deref(),
        Some("aws (layer 4) imports metrics (layer 7) in src/aws/detective.rs: imports must point to a lower layer")
    );
    assert!(violation("reconcile", "sandbox", "src/reconcile/mod.rs").is_some());
    assert!(violation("sandbox", "plan", "src/sandbox/world.rs").is_some());
    assert_eq!(violation("reconcile", "plan", "src/reconcile/mod.rs"), None);
}

#[test]
fn the_emulator_depends_on_no_muster_crate_and_only_the_binary_starts_it() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = std::fs::read_to_string(root.join("crates/muster-sandbox/Cargo.toml")).unwrap();
    let mut section = String::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.to_owned();
        } else if section.contains("dependencies") && !line.starts_with('#') {
            assert!(
                !line.starts_with("muster"),
                "crates/muster-sandbox depends on {line} in {section}: the emulator follows AWS's models, not muster's code"
            );
        }
    }
    // The library never names the emulator; the binary's commands reach it through the
    // `sandbox` feature.
    let mut todo = vec![root.join("src")];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if !path.ends_with("commands") {
                    todo.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("main.rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                assert!(
                    !text.contains(&["muster", "_sandbox"].concat()),
                    "{} names the emulator: only the binary's commands start it",
                    path.display()
                );
            }
        }
    }
}
