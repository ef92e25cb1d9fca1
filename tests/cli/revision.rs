//! The git commit a desired state was read from, through the binary and a real `git`: a plain
//! clone, a ref that only `packed-refs` holds, a detached head, and no repository at all. Every
//! event of a pass carries the commit, `events --revision` filters by it, `plan` prints it.

use std::path::Path;

use crate::common::*;

fn example_text() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/accounts.example.yaml"),
    )
    .unwrap()
}

/// `muster <command> --desired-state <file>` against `ep`: (exit code, stdout, stderr).
fn run(ep: &str, command: &[&str], file: &Path) -> (i32, String, String) {
    outcome(
        muster_command(ep, SECURITY)
            .args(command)
            .arg("--desired-state")
            .arg(file),
    )
}

/// Asserts that `plan` starts with the line naming `file`'s desired state (its digest's first
/// 12 characters) and then `revision`.
fn assert_headed(plan: &str, file: &Path, revision: &str) {
    let digest = muster::desired::load(file).unwrap().digest;
    let head = format!("desired state {} {revision}\n", &digest[..12]);
    assert!(plan.starts_with(&head), "{plan}");
}

fn apply(ep: &str, file: &Path, state: &Path) {
    let (code, _, err) = run(ep, &["apply", "--state-dir", state.to_str().unwrap()], file);
    assert_eq!(code, 0, "{err}");
}

/// The `revision` of each event, in order (`None` where the event has none).
fn revisions(events: &[serde_json::Value]) -> Vec<Option<String>> {
    (events.iter())
        .map(|e| e.get("revision").map(|r| r.as_str().unwrap().to_owned()))
        .collect()
}

// The binary talks to a sandbox served by this test's runtime: it needs its own threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_and_plans_carry_the_commit_of_a_clone_packed_detached_or_none() {
    let dir = scratch("revision");
    let origin = dir.join("origin");
    std::fs::create_dir_all(&origin).unwrap();
    git(&origin, &["init", "-q"]);
    std::fs::write(origin.join("accounts.yaml"), example_text()).unwrap();
    git(&origin, &["add", "accounts.yaml"]);
    git(&origin, &["commit", "-q", "-m", "first"]);
    let first = git(&origin, &["rev-parse", "HEAD"]);
    git(&dir, &["clone", "-q", "origin", "clone"]);
    let clone = dir.join("clone");
    let file = clone.join("accounts.yaml");
    let sb = start(demo()).await;
    let ep = sb.endpoint();

    // A plain clone: HEAD names refs/heads/main, a loose ref.
    assert!(clone.join(".git/refs/heads/main").is_file());
    let (code, plan, err) = run(&ep, &["plan"], &file);
    assert_eq!(code, 2, "{err}");
    assert_headed(&plan, &file, &format!("at revision {first}"));
    let state = dir.join("state");
    apply(&ep, &file, &state);
    let after_first = events_json(&state, &[]);
    assert!(after_first.len() > 5);
    assert!(
        revisions(&after_first)
            .iter()
            .all(|r| r.as_deref() == Some(first.as_str())),
        "{after_first:?}"
    );

    // A second commit, and its branch only in packed-refs.
    std::fs::write(&file, format!("{}# reviewed\n", example_text())).unwrap();
    git(&clone, &["commit", "-q", "-am", "second"]);
    let second = git(&clone, &["rev-parse", "HEAD"]);
    git(&clone, &["pack-refs", "--all"]);
    assert!(!clone.join(".git/refs/heads/main").exists());
    apply(&ep, &file, &state);
    let all = events_json(&state, &[]);
    let (old, new) = all.split_at(after_first.len());
    assert!(!new.is_empty());
    assert!(revisions(new)
        .iter()
        .all(|r| r.as_deref() == Some(second.as_str())));
    assert_eq!(new[0]["type"], "desired_state_loaded");
    assert_eq!(
        new[0]["digest"],
        muster::desired::load(&file).unwrap().digest
    );

    // The filter: a prefix or the whole commit, only its passes' events.
    assert_eq!(events_json(&state, &["--revision", &first[..7]]), old);
    assert_eq!(events_json(&state, &["--revision", &second]), new);
    assert_eq!(
        events_json(&state, &["--revision", &second.to_uppercase()]),
        new
    );
    assert!(events_json(&state, &["--revision", "0000000"]).is_empty());
    let out = muster_command(&ep, SECURITY)
        .args(["events", "--revision", "main", "--state-dir"])
        .arg(&state)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("invalid value 'main' for '--revision <REVISION>': \"main\" is not a git commit: 7 to 64 hex digits"),
        "{err}"
    );

    // A detached head: the commit itself in HEAD.
    git(&clone, &["checkout", "-q", "--detach", &first]);
    let (_, plan, _) = run(&ep, &["plan"], &file);
    assert!(plan.contains(&format!("at revision {first}\n")), "{plan}");
    let (_, json, _) = run(&ep, &["plan", "--output", "json"], &file);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["desired_state_revision"], first.as_str());

    // No repository: no revision, nothing fails, and events have no `revision` at all.
    let bare = dir.join("plain");
    std::fs::create_dir_all(&bare).unwrap();
    let file = bare.join("accounts.yaml");
    std::fs::write(&file, example_text()).unwrap();
    let (code, plan, err) = run(&ep, &["plan"], &file);
    assert_eq!(code, 0, "{err}");
    // The digest covers the file's name too.
    assert_headed(&plan, &file, "(not in a git work tree)");
    let (_, json, _) = run(&ep, &["plan", "--output", "json"], &file);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(json["desired_state_revision"].is_null());
    let state = dir.join("state-plain");
    apply(&ep, &file, &state);
    let events = events_json(&state, &[]);
    assert!(!events.is_empty());
    assert!(revisions(&events).iter().all(Option::is_none));
    assert!(events_json(&state, &["--revision", &first]).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}
