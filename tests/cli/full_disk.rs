//! `muster apply` with its state directory on a filesystem that fills up: at several points of
//! the pass the disk is filled. Every run ends (no hang in sled's flush or on exit) with exit 1
//! and an error naming the event log and the cause; every CreateMembers call was preceded by
//! its intent on disk; once space is back the next apply converges and `events` reads the log.

use std::process::Stdio;
use std::time::{Duration, Instant};

use muster_sandbox::fixture::{generate, Generate};

use crate::binary::{muster, run_clean, write_desired};
use crate::common::*;

const ACCOUNTS: usize = 300;
/// How long an apply on a full disk may take before it counts as hung.
const PATIENCE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_on_a_full_disk_always_ends_with_exit_1_and_a_clear_error() {
    let dir = scratch("full-disk");
    let Some(fs) = Tmpfs::mount(&dir.join("fs"), 16 * 1024 * 1024) else {
        return;
    };
    let desired = dir.join("desired.yaml");
    write_desired(&desired, ACCOUNTS, &["us-east-1"]);
    let desired = desired.to_str().unwrap();

    // Fill before the pass (None), or once the pass has made this many CreateMembers calls.
    for fill_after in [None, Some(0), Some(1), Some(3), Some(5)] {
        let what = format!("filled after {fill_after:?} CreateMembers calls");
        let sb = start(generate(&Generate {
            accounts: ACCOUNTS + 2,
            regions: vec!["us-east-1".into()],
            seed: 9,
        }))
        .await;
        slow(&sb, "detective", "CreateMembers", 150);
        let state = fs.dir.join("state");
        let _ = std::fs::remove_dir_all(&state);
        let state_s = state.to_str().unwrap();
        let args = ["apply", "--desired-state", desired, "--state-dir", state_s];
        if fill_after.is_none() {
            fs.fill();
        }
        let mut child = muster(&sb.endpoint(), &args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let started = Instant::now();
        let mut filled = fill_after.is_none();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if !filled && sb.calls().count("detective", "CreateMembers") >= fill_after.unwrap_or(0)
            {
                fs.fill();
                filled = true;
            }
            if started.elapsed() > PATIENCE {
                let _ = child.kill();
                panic!("{what}: apply still running after {PATIENCE:?} on a full disk");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let err = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
        assert_eq!(status.code(), Some(1), "{what}: {err}");
        assert!(!err.contains("panicked"), "{what}: {err}");
        let store = state.join("events.sled");
        assert!(
            err.contains(&format!(
                "error: cannot use the event log {}: ",
                store.display()
            )) && err.contains("No space left on device"),
            "{what}: {err}"
        );

        // Space is back: the next apply converges and the log reads.
        fs.free();
        let out = run_clean(&what, muster(&sb.endpoint(), &args));
        assert_eq!(out.status.code(), Some(0), "{what}: {out:?}");
        let members = graph_members(&sb, "us-east-1");
        assert_eq!(members, ACCOUNTS, "{what}: converged");
        let read = run_clean(
            &what,
            muster(
                &sb.endpoint(),
                &["events", "--output", "json", "--state-dir", state_s],
            ),
        );
        assert_eq!(read.status.code(), Some(0), "{what}: {read:?}");

        // No account went to CreateMembers without an intent naming it on disk first.
        let log = String::from_utf8_lossy(&read.stdout);
        let intended: std::collections::BTreeSet<String> = log
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|e| e["type"] == "invite_intent")
            .flat_map(|e| {
                e["accounts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            })
            .collect();
        let rebuilt = log.contains("\"type\":\"store_rebuilt\"");
        for c in sb
            .calls()
            .calls
            .iter()
            .filter(|c| c.operation == "CreateMembers")
        {
            for a in &c.account_ids {
                assert!(
                    rebuilt || intended.contains(a),
                    "{what}: {a} was sent to CreateMembers (call {}) with no intent in the log",
                    c.seq
                );
            }
        }
        sb.shutdown().await;
    }
    drop(fs);
    let _ = std::fs::remove_dir_all(&dir);
}
