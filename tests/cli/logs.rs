//! The binary's logs where they end up: a pipe (journald, `kubectl logs`) gets no escape
//! codes, and under systemd (`JOURNAL_STREAM` set) no timestamp, journald adds its own.

use crate::common::*;

/// `muster apply` of the example against `ep`, logging at info to a pipe, with `env` added.
fn apply_logs(ep: &str, state: &std::path::Path, env: &[(&str, &str)]) -> String {
    let example = format!(
        "{}/config/accounts.example.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut cmd = muster_command(ep, SECURITY);
    cmd.args(["apply", "--desired-state", &example, "--state-dir"])
        .arg(state)
        .env("MUSTER_LOG", "info");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let logs = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{logs}");
    logs
}

// The binary talks to a sandbox served by this test's runtime: it needs its own threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_to_a_pipe_have_no_escape_codes_and_under_journald_no_timestamp() {
    let dir = scratch("logs");
    // Each run against a world of its own, so that each has the same work to log.
    let plain = apply_logs(&start(demo()).await.endpoint(), &dir.join("a"), &[]);
    let lines: Vec<&str> = plain.lines().filter(|l| l.contains(" INFO ")).collect();
    assert!(lines.len() > 5, "{plain}");
    assert!(!plain.contains('\x1b'), "escape codes in a pipe: {plain:?}");
    // Each line starts with its RFC 3339 timestamp.
    for l in &lines {
        let stamp = l.split_whitespace().next().unwrap();
        assert!(humantime::parse_rfc3339(stamp).is_ok(), "{l}");
    }
    // A terminal's NO_COLOR is honoured too; a pipe stays plain either way.
    let no_color = apply_logs(
        &start(demo()).await.endpoint(),
        &dir.join("b"),
        &[("NO_COLOR", "1")],
    );
    assert!(!no_color.contains('\x1b'));
    // Under systemd: the level first, no timestamp.
    let journal = apply_logs(
        &start(demo()).await.endpoint(),
        &dir.join("c"),
        &[("JOURNAL_STREAM", "8:123456")],
    );
    assert!(!journal.contains('\x1b'));
    let lines: Vec<&str> = journal.lines().filter(|l| l.contains("INFO ")).collect();
    assert!(lines.len() > 5, "{journal}");
    for l in &lines {
        assert!(
            l.trim_start().starts_with("INFO "),
            "no timestamp under journald: {l}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
