//! Passes through the library API (`reconcile::pass`), asserting call counts and events.

use std::path::PathBuf;

use muster::desired::{parse_files, DesiredState};
use muster::eventlog::{EventKind, EventLog};
use muster::reconcile::pass;
use muster_sandbox::fixture::{generate, Generate, GENERATED_SECURITY};
use muster_sandbox::{FaultRule, Fixture, Sandbox};

use crate::common::*;

fn id(i: usize) -> String {
    format!("{:012}", 100_000_000_000u64 + i as u64)
}

/// A desired state declaring generated accounts `ids` in `regions`.
fn desired(ids: impl IntoIterator<Item = usize>, regions: &[&str], prune: bool) -> DesiredState {
    let mut text = String::from("version: 1\naccounts:\n");
    let mut any = false;
    for i in ids {
        any = true;
        text += &format!(
            "  - {{id: \"{}\", email: \"aws+{}@example.com\"}}\n",
            id(i),
            id(i)
        );
    }
    if !any {
        text = "version: 1\naccounts: []\n".into();
    }
    text += "detective:\n  graphs:\n";
    for r in regions {
        text += &format!("    - region: {r}\n");
    }
    text += &format!("  prune: {prune}\n");
    parse_files(&[("desired.yaml".into(), text)]).unwrap()
}

fn world(accounts: usize, regions: &[&str]) -> Fixture {
    generate(&Generate {
        accounts,
        regions: regions.iter().map(|r| r.to_string()).collect(),
        seed: 7,
    })
}

/// Every account sent in a successful CreateMembers call, in order.
fn created(sb: &Sandbox) -> Vec<String> {
    sb.calls()
        .calls
        .iter()
        .filter(|c| c.operation == "CreateMembers" && c.status == 200)
        .flat_map(|c| c.account_ids.clone())
        .collect()
}

#[tokio::test]
async fn batches_of_49_50_51_and_120_take_the_fewest_calls_in_two_regions() {
    for k in [49usize, 50, 51, 120] {
        let h = Harness::new(world(200, &["us-east-1", "eu-west-1"]), GENERATED_SECURITY).await;
        let d = desired(2..2 + k, &["us-east-1", "eu-west-1"], false);
        let r = h.pass(&d).await;
        assert!(r.ok(), "{r:?}");
        assert_eq!(invited(&r.applied), 2 * k);
        let calls = h.sb.calls();
        let batches = k.div_ceil(50) as u64;
        assert_eq!(calls.count("detective", "ListGraphs"), 2, "k={k}");
        assert_eq!(calls.count("detective", "ListMembers"), 2, "k={k}");
        assert_eq!(
            calls.count("detective", "CreateMembers"),
            2 * batches,
            "k={k}"
        );
        assert_eq!(calls.count("detective", "DeleteMembers"), 0);
        let sizes: Vec<usize> = call_accounts(&h.sb, "CreateMembers")
            .iter()
            .map(Vec::len)
            .collect();
        assert!(sizes.iter().all(|n| *n <= 50), "k={k}: {sizes:?}");
        let mut sent = created(&h.sb);
        sent.sort();
        let mut want: Vec<String> = (2..2 + k).flat_map(|i| [id(i), id(i)]).collect();
        want.sort();
        assert_eq!(sent, want, "each account once per graph, k={k}");

        // Converged: a second pass writes nothing.
        h.sb.reset_calls();
        let r = h.pass(&d).await;
        assert!(r.ok());
        assert!(!r.plan.has_changes());
        let calls = h.sb.calls();
        assert_eq!(calls.count("detective", "CreateMembers"), 0);
        assert_eq!(calls.count("detective", "DeleteMembers"), 0);
    }
}

#[tokio::test]
async fn listing_takes_one_call_per_200_members() {
    let h = Harness::new(world(700, &["us-east-1"]), GENERATED_SECURITY).await;
    h.pass(&desired(2..452, &["us-east-1"], false)).await;
    h.sb.reset_calls();
    // 450 members, 30 more declared: 3 pages, one batch.
    let r = h.pass(&desired(2..482, &["us-east-1"], false)).await;
    assert_eq!(invited(&r.applied), 30);
    let calls = h.sb.calls();
    assert_eq!(calls.count("detective", "ListMembers"), 3);
    assert_eq!(calls.count("detective", "CreateMembers"), 1);
}

#[tokio::test]
async fn every_batch_is_an_intent_flushed_before_its_call_and_an_outcome_after() {
    let h = Harness::new(world(200, &["us-east-1"]), GENERATED_SECURITY).await;
    h.pass(&desired(2..122, &["us-east-1"], false)).await;
    let events = h.events();
    let mut open = Vec::new();
    let mut pairs = 0;
    for e in &events {
        match e {
            EventKind::InviteIntent {
                batch, accounts, ..
            } => {
                assert!(accounts.len() <= 50);
                open.push(batch.clone());
            }
            EventKind::InviteResult { batch, created, .. } => {
                assert_eq!(
                    open.pop().as_ref(),
                    Some(batch),
                    "an outcome follows its own intent"
                );
                assert!(!created.is_empty());
                pairs += 1;
            }
            _ => {}
        }
    }
    assert_eq!(pairs, 3);
    assert!(open.is_empty());
    assert!(h.log.in_doubt().unwrap().is_empty());
    assert!(matches!(
        events.first(),
        Some(EventKind::DesiredStateLoaded { accounts: 120, .. })
    ));
    assert!(matches!(
        events.last(),
        Some(EventKind::PassFinished {
            invited: 120,
            failed: 0,
            ..
        })
    ));
}

#[tokio::test]
async fn throttling_and_500s_are_absorbed_and_every_account_is_created_once() {
    let h = Harness::new(world(300, &["us-east-1", "eu-west-1"]), GENERATED_SECURITY).await;
    fault_rule(
        &h.sb,
        5,
        FaultRule {
            service: Some("detective".into()),
            throttle_probability: 0.25,
            error_probability: 0.1,
            ..FaultRule::default()
        },
    );
    let d = desired(2..202, &["us-east-1", "eu-west-1"], false);
    let mut passes = 0;
    loop {
        passes += 1;
        let r = h.pass(&d).await;
        if r.ok() && !r.plan.has_changes() {
            break;
        }
        assert!(passes < 8, "did not converge: {r:?}");
    }
    let calls = h.sb.calls();
    let faulted: u64 = calls
        .counts
        .iter()
        .filter(|c| c.status != 200)
        .map(|c| c.count)
        .sum();
    assert!(faulted > 0, "faults were injected: {:?}", calls.counts);
    let mut sent = created(&h.sb);
    sent.sort();
    let mut want: Vec<String> = (2..202).flat_map(|i| [id(i), id(i)]).collect();
    want.sort();
    assert_eq!(sent, want, "every account created exactly once per graph");
}

#[tokio::test]
async fn one_graph_failing_does_not_stop_another() {
    let h = Harness::new(world(100, &["us-east-1", "eu-west-1"]), GENERATED_SECURITY).await;
    let d = desired(2..12, &["us-east-1", "eu-west-1"], false);
    // Three failures: the SDK tries each call three times.
    fail_next(
        &h.sb,
        "detective",
        "CreateMembers",
        3,
        "InternalServerException",
    );
    // One graph at a time, so that the three failures land on the first graph's batch.
    let r = pass(&h.apis, &h.log, "r1", &d, &options(1, false))
        .await
        .unwrap();
    assert!(!r.ok());
    assert_eq!(r.applied.failed, 1);
    assert_eq!(invited(&r.applied), 10);
    let failed: Vec<_> = h
        .events()
        .into_iter()
        .filter_map(|e| match e {
            EventKind::InviteFailed { code, .. } => Some(code),
            _ => None,
        })
        .collect();
    assert_eq!(failed, ["InternalServerException"]);
    let r = h.pass(&d).await;
    assert!(r.ok());
    assert_eq!(invited(&r.applied), 10);
    let members = h.sb.with_world(|w| {
        w.regions
            .values()
            .map(|r| r.graphs.values().map(|g| g.members.len()).sum::<usize>())
            .collect::<Vec<_>>()
    });
    assert_eq!(members, [10, 10]);

    // A graph that cannot be listed is reported; the other is still reconciled.
    let missing = "arn:aws:detective:us-east-1:100000000001:graph:00000000000000000000000000000000";
    let text = format!(
        "version: 1\naccounts:\n  - {{id: \"{}\", email: x@example.com}}\ndetective:\n  graphs: [{{arn: {missing}}}, {{region: eu-west-1}}]\n",
        id(50)
    );
    let d2 = parse_files(&[("d.yaml".into(), text)]).unwrap();
    let r = h.pass(&d2).await;
    assert!(!r.ok());
    assert_eq!(r.observe_failures.len(), 1);
    assert_eq!(r.observe_failures[0].1.code(), "ResourceNotFoundException");
    assert_eq!(invited(&r.applied), 1);
}

#[tokio::test]
async fn a_corrected_email_repairs_a_failed_verification() {
    let h = Harness::new(demo(), SECURITY).await;
    let text = |email: &str| {
        format!("version: 1\naccounts:\n  - {{id: \"500000000003\", email: {email}}}\ndetective:\n  graphs: [{{region: eu-west-1}}]\n")
    };
    let wrong = parse_files(&[("d.yaml".into(), text("ops@partner.example.net"))]).unwrap();
    h.pass(&wrong).await;
    let r = h.pass(&wrong).await;
    assert_eq!(
        r.plan.graphs[0].drift[0].kind,
        muster::plan::DriftKind::VerificationFailed
    );
    assert!(!r.plan.has_changes());
    h.sb.reset_calls();
    let fixed = parse_files(&[("d.yaml".into(), text("it-ops@partner.example.net"))]).unwrap();
    let r = h.pass(&fixed).await;
    assert_eq!((removed(&r.applied), invited(&r.applied)), (1, 1));
    let calls = h.sb.calls();
    let writes: Vec<_> = calls
        .calls
        .iter()
        .filter(|c| c.operation.ends_with("Members") && c.operation != "ListMembers")
        .map(|c| (c.operation.as_str(), c.account_ids.clone()))
        .collect();
    assert_eq!(
        writes,
        [
            ("DeleteMembers", vec!["500000000003".to_owned()]),
            ("CreateMembers", vec!["500000000003".to_owned()])
        ]
    );
    let r = h.pass(&fixed).await;
    assert!(
        r.plan.graphs[0].drift.is_empty(),
        "{:?}",
        r.plan.graphs[0].drift
    );
}

#[tokio::test]
async fn a_graph_at_the_member_quota_gets_what_fits_and_the_rest_is_reported() {
    let h = Harness::new(world(1300, &["us-east-1"]), GENERATED_SECURITY).await;
    let r = h.pass(&desired(2..1252, &["us-east-1"], false)).await;
    assert_eq!(invited(&r.applied), 1200);
    let blocked = r.plan.graphs[0]
        .drift
        .iter()
        .filter(|d| d.kind == muster::plan::DriftKind::QuotaBlocked)
        .count();
    assert_eq!(blocked, 50);
    assert_eq!(h.sb.calls().count("detective", "CreateMembers"), 24);
}

#[tokio::test]
async fn prune_removes_undeclared_members_only_within_its_guards() {
    // The demo graph in us-east-1 has 500000000005, which nobody declares.
    let h = Harness::new(demo(), SECURITY).await;
    let declared = "version: 1\naccounts:\n  - {id: \"500000000004\", email: lab-root@contractor.example.com}\ndetective:\n  graphs: [{region: us-east-1}]\n  prune: true\n";
    let empty =
        "version: 1\naccounts: []\ndetective:\n  graphs: [{region: us-east-1}]\n  prune: true\n";
    let d = |t: &str| parse_files(&[("d.yaml".into(), t.to_owned())]).unwrap();

    let r = h.pass(&d(empty)).await;
    assert!(r.plan.graphs[0].remove.is_empty());
    assert_eq!(h.sb.calls().count("detective", "DeleteMembers"), 0);
    assert!(h.events().iter().any(|e| matches!(e, EventKind::PruneRefused { reason, .. } if reason.contains("never prunes a graph to empty"))));

    let mut tight = options(4, false);
    tight.plan.max_removals_per_pass = 0;
    let r = pass(&h.apis, &h.log, "tight", &d(declared), &tight)
        .await
        .unwrap();
    assert!(r.plan.graphs[0].remove.is_empty());
    assert_eq!(h.sb.calls().count("detective", "DeleteMembers"), 0);

    let r = h.pass(&d(declared)).await;
    assert_eq!(removed(&r.applied), 1);
    let deletes = call_accounts(&h.sb, "DeleteMembers");
    assert_eq!(deletes, [vec!["500000000005".to_owned()]]);
}

#[tokio::test]
async fn drift_is_recorded_once_and_its_end_is_recorded_too() {
    let h = Harness::new(demo(), SECURITY).await;
    let text = |email: &str| {
        format!("version: 1\naccounts:\n  - {{id: \"500000000003\", email: {email}}}\ndetective:\n  graphs: [{{region: eu-west-1}}]\n")
    };
    let d = parse_files(&[("d.yaml".into(), text("ops@partner.example.net"))]).unwrap();
    let drift_events = |h: &Harness| {
        h.events()
            .into_iter()
            .filter(|e| {
                matches!(
                    e,
                    EventKind::DriftObserved { .. } | EventKind::DriftResolved { .. }
                )
            })
            .count()
    };
    h.pass(&d).await; // missing
    h.pass(&d).await; // verification_failed (missing resolved)
    let after_two = drift_events(&h);
    h.pass(&d).await; // nothing new: the snapshot remembers it
    assert_eq!(drift_events(&h), after_two);
    assert!(h.log.snapshot().unwrap().is_some());
    let kinds: Vec<String> = h
        .events()
        .into_iter()
        .filter_map(|e| match e {
            EventKind::DriftObserved { kind, .. } => Some(format!("+{kind}")),
            EventKind::DriftResolved { kind, .. } => Some(format!("-{kind}")),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, ["+missing", "+verification_failed", "-missing"]);
}

/// A store with one event whose `conf` is then damaged, in `dir`.
fn damaged_store(dir: &std::path::Path) -> PathBuf {
    {
        let first = EventLog::open(dir).unwrap();
        first
            .append(
                "r",
                "d",
                EventKind::PruneRefused {
                    graph: "g".into(),
                    reason: "x".into(),
                },
                true,
            )
            .unwrap();
    }
    std::fs::write(dir.join("events.sled").join("conf"), b"not a sled config").unwrap();
    dir.to_owned()
}

/// A daemon keeps one `EventLog` across passes: the rebuild at open is recorded once, by the
/// first pass, not again by each later one (the old code read a flag nothing cleared).
#[tokio::test]
async fn a_rebuilt_store_is_recorded_once_over_three_passes() {
    let h = Harness::new(demo(), SECURITY).await;
    let d = desired(2..4, &["us-east-1"], false);
    let dir = damaged_store(&h.dir.join("three"));
    let log = EventLog::open(&dir).unwrap();
    for run in ["one", "two", "three"] {
        let r = pass(&h.apis, &log, run, &d, &options(4, false))
            .await
            .unwrap();
        assert!(r.ok());
    }
    let events: Vec<muster::eventlog::Event> = log.iter().map(|e| e.unwrap()).collect();
    let rebuilt: Vec<&str> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::StoreRebuilt { .. }))
        .map(|e| e.run.as_str())
        .collect();
    assert_eq!(rebuilt, ["one"]);
    let passes = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::PassFinished { .. }))
        .count();
    assert_eq!(passes, 3);
}

#[tokio::test]
async fn a_corrupt_event_store_is_rebuilt_and_says_so() {
    let h = Harness::new(demo(), SECURITY).await;
    let d = desired(2..4, &["us-east-1"], false);
    h.pass(&d).await;
    let dir = damaged_store(&h.dir.join("second"));
    let log = EventLog::open(&dir).unwrap();
    let r = pass(&h.apis, &log, "after", &d, &options(4, false))
        .await
        .unwrap();
    assert!(r.ok());
    let first: Vec<EventKind> = log.iter().take(2).map(|e| e.unwrap().kind).collect();
    assert!(
        matches!(&first[0], EventKind::DesiredStateLoaded { .. }),
        "{first:?}"
    );
    assert!(
        matches!(&first[1], EventKind::StoreRebuilt { moved_to, .. } if moved_to.contains("events.sled.corrupt-")),
        "{first:?}"
    );
}
