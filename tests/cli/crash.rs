//! The crash test: `muster apply` is killed with SIGKILL at seeded random moments while its
//! CreateMembers calls are slowed down, and started again, over and over. At the end the graph has
//! converged, the log replays, every intent has an outcome or was settled by listing the graph,
//! and no account was sent to CreateMembers after a listing had already shown it as a member.

use std::process::{Command, Stdio};
use std::time::Duration;

use muster::eventlog::EventLog;
use muster_sandbox::fixture::{generate, Generate};
use muster_sandbox::FaultRule;
use rand::{Rng, SeedableRng};

use crate::common::*;

const ACCOUNTS: usize = 1_000;
const KILLS: usize = 20;

fn apply(endpoint: &str, desired: &str, state: &str) -> Command {
    let mut c = crate::binary::muster(
        endpoint,
        &["apply", "--desired-state", desired, "--state-dir", state],
    );
    c.stdout(Stdio::null()).stderr(Stdio::null());
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_points_apply_still_converges_without_doubled_changes() {
    let sb = start(generate(&Generate {
        accounts: ACCOUNTS + 2,
        regions: vec!["us-east-1".into()],
        seed: 3,
    }))
    .await;
    fault_rule(
        &sb,
        1,
        FaultRule {
            service: Some("detective".into()),
            operation: Some("CreateMembers".into()),
            latency_ms: 100,
            jitter_ms: 100,
            ..FaultRule::default()
        },
    );
    let dir = scratch("crash");
    let desired = dir.join("desired.yaml");
    let mut text = String::from("version: 1\naccounts:\n");
    for i in 2..2 + ACCOUNTS {
        let id = format!("{:012}", 100_000_000_000u64 + i as u64);
        text += &format!("  - {{id: \"{id}\", email: \"aws+{id}@example.com\"}}\n");
    }
    text += "detective:\n  graphs: [{region: us-east-1}]\n";
    std::fs::write(&desired, text).unwrap();
    let state = dir.join("state");
    let (desired, state_s) = (desired.to_str().unwrap(), state.to_str().unwrap());

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    // 20 batches of 50, each CreateMembers slowed by 100-200 ms: a run needs seconds to write,
    // and each kill lands within 400 ms of its first listing.
    let mut kills = 0;
    let mut runs = 0;
    while kills < KILLS && runs < 3 * KILLS {
        runs += 1;
        let listed = sb.calls().count("detective", "ListMembers");
        let mut child = apply(&sb.endpoint(), desired, state_s).spawn().unwrap();
        // Wait until this run has listed the graph (it is about to write), then kill it a random
        // moment later: mostly while a slowed CreateMembers is in flight.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while sb.calls().count("detective", "ListMembers") == listed
            && child.try_wait().unwrap().is_none()
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let wait = Duration::from_millis(rng.random_range(0..400));
        tokio::time::sleep(wait).await;
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            kills += 1;
        }
    }
    assert_eq!(kills, KILLS, "every kill landed in a running apply");
    // Let one run finish, then one more to check there is nothing left to do.
    for _ in 0..2 {
        let status = apply(&sb.endpoint(), desired, state_s).status().unwrap();
        assert_eq!(status.code(), Some(0));
    }

    let members = sb.with_world(|w| {
        w.regions["us-east-1"]
            .graphs
            .values()
            .next()
            .unwrap()
            .members
            .len()
    });
    assert_eq!(members, ACCOUNTS, "converged");

    let log = EventLog::open(&state).unwrap();
    let replayed: Vec<_> = log
        .iter()
        .collect::<Result<_, _>>()
        .expect("the log replays without error");
    assert!(!replayed.is_empty());
    assert!(
        log.in_doubt().unwrap().is_empty(),
        "every intent has an outcome or was settled"
    );
    let settled = replayed
        .iter()
        .filter(|e| matches!(e.kind, muster::eventlog::EventKind::IntentResolved { .. }))
        .count();
    assert!(
        settled > 0,
        "some kills landed between an intent and its outcome"
    );

    // No account was sent to CreateMembers after a listing had already shown it as a member.
    let calls = sb.calls();
    let mut member_since: std::collections::HashMap<String, u64> = Default::default();
    let mut listings: Vec<u64> = Vec::new();
    for c in calls.calls.iter().filter(|c| c.service == "detective") {
        match (c.operation.as_str(), c.status) {
            ("ListMembers", 200) => listings.push(c.seq),
            ("CreateMembers", 200) => {
                for a in &c.account_ids {
                    if let Some(first) = member_since.get(a) {
                        let listed_between = listings.iter().any(|s| s > first && *s < c.seq);
                        assert!(!listed_between, "account {a} was sent again (call {}) after a listing showed it as a member", c.seq);
                    } else {
                        member_since.insert(a.clone(), c.seq);
                    }
                }
            }
            _ => {}
        }
    }
    assert_eq!(member_since.len(), ACCOUNTS);
    drop(log);
    std::fs::remove_dir_all(&dir).unwrap();
}
