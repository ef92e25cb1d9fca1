//! The event log's on-disk format is a contract: a store written by an earlier muster must still
//! open, verify and replay. `tests/fixtures/eventlog-v1/events.sled` is such a store, written
//! once (by `write_the_v1_fixture`, ignored; run it only to make a new fixture for a new schema
//! version) with one event of every kind of schema v1 and a saved snapshot. This test opens a copy
//! with today's code and checks every event, the projection and the intents in doubt.

use std::path::{Path, PathBuf};

use muster::eventlog::{EventKind, EventLog, Snapshot, Unprocessed};

use crate::binary::{copy_dir, files_of};
use crate::common::scratch;

const G: &str = "arn:aws:detective:us-east-1:222222222222:graph:0123456789abcdef0123456789abcdef";

fn s(v: &str) -> String {
    v.to_owned()
}

/// One event of every kind schema v1 has, in the order the fixture holds them.
fn pinned() -> Vec<EventKind> {
    let ids = |v: &[&str]| v.iter().map(|a| s(a)).collect::<Vec<_>>();
    vec![
        EventKind::DesiredStateLoaded {
            files: vec![s("accounts.yaml")],
            accounts: 3,
        },
        EventKind::MemberStatusChanged {
            graph: s(G),
            account: s("300000000001"),
            from: None,
            to: s("INVITED"),
        },
        EventKind::DriftObserved {
            graph: s(G),
            account: s("300000000002"),
            kind: s("missing"),
            detail: s("not a member"),
        },
        EventKind::InviteIntent {
            batch: s("r/g/1"),
            graph: s(G),
            accounts: ids(&["300000000002", "300000000003"]),
        },
        EventKind::InviteResult {
            batch: s("r/g/1"),
            graph: s(G),
            created: ids(&["300000000002"]),
            unprocessed: vec![Unprocessed {
                account: s("300000000003"),
                reason: s("The request is rejected"),
            }],
        },
        EventKind::InviteFailed {
            batch: s("r/g/2"),
            graph: s(G),
            code: s("ThrottlingException"),
            message: s("slow down"),
        },
        EventKind::RemovalIntent {
            batch: s("r/g/3"),
            graph: s(G),
            accounts: ids(&["300000000009"]),
            reason: s("undeclared"),
        },
        EventKind::RemovalResult {
            batch: s("r/g/3"),
            graph: s(G),
            removed: ids(&["300000000009"]),
            unprocessed: vec![],
        },
        EventKind::RemovalFailed {
            batch: s("r/g/4"),
            graph: s(G),
            code: s("InternalServerException"),
            message: s("try again"),
        },
        EventKind::IntentResolved {
            batch: s("r/g/5"),
            graph: s(G),
            present: ids(&["300000000001"]),
            absent: vec![],
        },
        EventKind::PruneRefused {
            graph: s(G),
            reason: s("would remove 11 members, more than max_removals_per_pass (10)"),
        },
        EventKind::DriftResolved {
            graph: s(G),
            account: s("300000000002"),
            kind: s("missing"),
        },
        EventKind::GraphFailed {
            graph: s(G),
            code: s("AccessDeniedException"),
            message: s("denied"),
        },
        EventKind::StoreRebuilt {
            moved_to: s("/var/lib/muster/events.sled.corrupt-1"),
            error: s("Read corrupted data"),
            lost: None,
        },
        EventKind::ActionIntent {
            batch: s("r/h/1"),
            service: s("securityhub"),
            target: s("securityhub:us-east-1"),
            action: s("CreateMembers"),
            accounts: ids(&["300000000004"]),
            settings: vec![],
        },
        EventKind::ActionResult {
            batch: s("r/h/1"),
            target: s("securityhub:us-east-1"),
            action: s("CreateMembers"),
            done: ids(&["300000000004"]),
            unprocessed: vec![],
        },
        EventKind::ActionFailed {
            batch: s("r/h/2"),
            target: s("securityhub:us-east-1"),
            action: s("InviteMembers"),
            code: s("LimitExceededException"),
            message: s("limit"),
        },
        EventKind::OrganizationStale {
            code: s("AccessDeniedException"),
            message: s("denied"),
            last_listed_ms: Some(1_700_000_000_000),
            accounts: 120,
        },
        EventKind::MemberStatusChanged {
            graph: s(G),
            account: s("300000000001"),
            from: Some(s("INVITED")),
            to: s("ENABLED"),
        },
        EventKind::InviteIntent {
            batch: s("r/g/6"),
            graph: s(G),
            accounts: ids(&["300000000005"]),
        },
        EventKind::PassFinished {
            outcome: s("partial"),
            invited: 1,
            removed: 1,
            failed: 2,
            drift: 1,
        },
    ]
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/eventlog-v1")
}

/// Writes the fixture: run with `--ignored` only to make a new one (and say why in the commit).
#[test]
#[ignore]
fn write_the_v1_fixture() {
    let dir = fixture();
    let _ = std::fs::remove_dir_all(&dir);
    let log = EventLog::open(&dir).unwrap();
    let kinds = pinned();
    let (before, after) = kinds.split_at(12);
    for k in before {
        log.append("1a2b3c4d5e6-0001", "ab12", k.clone(), false)
            .unwrap();
    }
    // A snapshot after the first twelve: a start replays only what follows it.
    log.save_snapshot(Snapshot {
        seq: 12,
        status: vec![(s(G), s("300000000001"), s("INVITED"))].into(),
        drift: Default::default(),
        in_doubt: vec![(s("r/g/0"), s(G), vec![s("300000000007")])],
    })
    .unwrap();
    for k in after {
        log.append("1a2b3c4d5e6-0002", "cd34", k.clone(), false)
            .unwrap();
    }
    log.flush().unwrap();
}

#[test]
fn a_store_written_with_schema_v1_opens_verifies_and_replays() {
    let copy = scratch("contract");
    copy_dir(&fixture(), &copy);
    let log = EventLog::open(&copy).unwrap();
    let events: Vec<_> = log.iter().map(|e| e.unwrap()).collect();
    assert_eq!(
        events.iter().map(|e| e.kind.clone()).collect::<Vec<_>>(),
        pinned()
    );
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=21).collect::<Vec<u64>>()
    );
    assert!(events.iter().all(|e| e.v == 1));
    assert_eq!(events[0].run, "1a2b3c4d5e6-0001");
    assert_eq!(events[20].digest, "cd34");
    // The snapshot, then the events after it.
    let p = muster::reconcile::replay(&log).unwrap();
    assert_eq!(
        (p.status.iter())
            .map(|(g, a, st)| ((s(g), s(a)), s(st)))
            .collect::<Vec<_>>(),
        [((s(G), s("300000000001")), s("ENABLED"))]
    );
    assert!(p.drift.is_empty());
    assert_eq!(
        log.in_doubt().unwrap(),
        [
            (s("r/g/0"), s(G), vec![s("300000000007")]),
            (s("r/g/6"), s(G), vec![s("300000000005")]),
        ]
    );
    // A new event goes after the old ones.
    let next = log
        .append(
            "r",
            "d",
            EventKind::PruneRefused {
                graph: s(G),
                reason: s("x"),
            },
            true,
        )
        .unwrap();
    assert_eq!(next.seq, 22);
    drop(log);
    std::fs::remove_dir_all(&copy).unwrap();
}

#[test]
fn a_store_from_before_the_identity_record_opens_replays_everything_and_gains_one() {
    let copy = scratch("contract-id");
    copy_dir(&fixture(), &copy);
    let record = copy.join("events.sled.identity.json");
    assert!(!record.exists(), "the v1 fixture predates the record");
    let log = EventLog::open(&copy).unwrap();
    assert_eq!(log.iter().count(), 21);
    drop(log);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    assert_eq!(r["format"], 1);
    assert_eq!(r["last_seq"], 21);
    let id = r["store_id"].as_str().unwrap().to_owned();
    // Opened again: the same store, every event still there, nothing rebuilt.
    let log = EventLog::open(&copy).unwrap();
    let kinds: Vec<_> = log.iter().map(|e| e.unwrap().kind).collect();
    assert_eq!(kinds, pinned());
    drop(log);
    let again: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    assert_eq!(again["store_id"], id.as_str());
    std::fs::remove_dir_all(&copy).unwrap();
}

#[test]
fn a_store_of_a_newer_format_is_refused_and_left_untouched() {
    let dir = scratch("contract-newer");
    copy_dir(&fixture(), &dir);
    std::fs::write(
        dir.join("events.sled.identity.json"),
        br#"{"format":3,"store_id":"future","last_seq":21}"#,
    )
    .unwrap();
    let before = files_of(&dir);
    let want = format!(
        "error: the event log in {} was written by a newer muster (format 3; this one reads up to 2)\n",
        dir.display()
    );
    let desired = dir.join("desired.yaml");
    crate::binary::write_desired(&desired, 1, &["us-east-1"]);
    let before = {
        let mut b = before;
        b.insert(desired.clone(), std::fs::read(&desired).unwrap());
        b
    };
    for args in [
        vec!["events"],
        vec!["apply", "--desired-state", desired.to_str().unwrap()],
    ] {
        let mut args = args.clone();
        args.extend(["--state-dir", dir.to_str().unwrap()]);
        let out = crate::binary::muster("http://127.0.0.1:9", &args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), want, "{args:?}");
        assert_eq!(files_of(&dir), before, "{args:?}: the store changed");
    }
    let open = EventLog::open(&dir).err().map(|e| e.to_string());
    assert_eq!(
        open.as_deref(),
        Some(want.trim_start_matches("error: ").trim_end())
    );
    assert_eq!(files_of(&dir), before, "the store changed");
    std::fs::remove_dir_all(&dir).unwrap();
}
