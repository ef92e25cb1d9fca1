//! The muster binary as the process-level suites run it (crash, damage, full disk, contract):
//! its command against a sandbox, a desired state of generated accounts, a run that must not
//! crash, the AWS writes so far, and a store copied for a test.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use muster_sandbox::fixture::GENERATED_SECURITY;

use crate::common::muster_command;

/// `muster ARGS` against the sandbox at `endpoint`, acting as the generated security account,
/// with nothing from this machine's AWS settings, logging errors only, no colour, no stdin.
pub fn muster(endpoint: &str, args: &[&str]) -> Command {
    let mut c = muster_command(endpoint, GENERATED_SECURITY);
    c.args(args)
        .env("MUSTER_LOG", "error")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    c
}

/// A desired state of `accounts` generated accounts in both graphs.
pub fn write_desired(path: &Path, accounts: usize, regions: &[&str]) {
    let mut text = String::from("version: 1\naccounts:\n");
    for i in 2..2 + accounts {
        let id = format!("{:012}", 100_000_000_000u64 + i as u64);
        text += &format!("  - {{id: \"{id}\", email: \"aws+{id}@example.com\"}}\n");
    }
    let graphs: Vec<String> = regions.iter().map(|r| format!("{{region: {r}}}")).collect();
    text += &format!("detective:\n  graphs: [{}]\n", graphs.join(", "));
    std::fs::write(path, text).unwrap();
}

/// Runs `c`, asserting it did not crash: no exit 101, no signal, nothing "panicked".
pub fn run_clean(what: &str, mut c: Command) -> Output {
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code().is_some() && out.status.code() != Some(101),
        "{what} crashed ({:?}):\n{err}",
        out.status
    );
    assert!(!err.contains("panicked"), "{what} panicked:\n{err}");
    out
}

/// Copies a directory tree (a store, to damage or open a copy of it).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Every file under `dir` with its content (what a reader must leave as it was).
pub fn files_of(dir: &Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}
