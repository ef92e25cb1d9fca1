//! The member side through the real SDK clients: a muster in a member account lists every
//! page of its Detective and Security Hub invitations, accepts those from expected
//! administrators, declines the others, records each action as an intent and an outcome, and
//! exports what it saw.

use std::time::{Duration, SystemTime};

use muster::desired::{parse_files, DesiredState};
use muster::eventlog::EventKind;
use muster::metrics::{Gauges, Metrics};
use muster::reconcile::{PassReport, PassResult};
use muster_sandbox::world::{graph_arn, DetectiveStatus, Graph, HubMember, HubMemberStatus};

use crate::common::*;

/// The member account muster runs in (outside the demo organization).
const MEMBER: &str = "500000000001";
const REGION: &str = "us-east-1";
/// Behavior graphs inviting the member: 430 is three pages of 200.
const GRAPHS: u64 = 430;
/// Security Hub administrators inviting it: 120 is three pages of 50.
const HUBS: u64 = 120;
const DETECTIVE_EXPECTED: &str = "700000000001";
const HUB_EXPECTED: [&str; 2] = ["710000000001", "710000000002"];

fn detective_admin(i: u64) -> String {
    format!("{}", 700_000_000_000 + i)
}

fn hub_admin(i: u64) -> String {
    format!("{}", 710_000_000_000 + i)
}

fn desired(accept: bool, decline: bool) -> DesiredState {
    parse_files(&[(
        "member.yaml".into(),
        format!(
            "version: 1\nmember:\n  expected_administrators: [\"{DETECTIVE_EXPECTED}\", \"{}\", \"{}\"]\n  regions: [{REGION}]\n  accept: {accept}\n  decline_unexpected: {decline}\n",
            HUB_EXPECTED[0], HUB_EXPECTED[1]
        ),
    )])
    .unwrap()
}

/// The member account's world: invitations from expected and unexpected administrators.
async fn harness() -> Harness {
    let sb = start(demo()).await;
    let now = SystemTime::now();
    sb.with_world(|w| {
        let region = w.regions.get_mut(REGION).unwrap();
        for i in 1..=GRAPHS {
            let admin = detective_admin(i);
            let arn = graph_arn(REGION, &admin);
            let mut g = Graph::new(arn.clone(), &admin, now, &Default::default());
            let email = "security@partner-analytics.example.org";
            let invited = graph_member(MEMBER, email, DetectiveStatus::Invited);
            g.members.insert(MEMBER.into(), invited);
            region.graphs.insert(arn, g);
        }
        for i in 1..=HUBS {
            let admin = hub_admin(i);
            region.hub_members.entry(admin.clone()).or_default().insert(
                MEMBER.into(),
                HubMember {
                    invitation_id: Some(format!("inv-{admin}")),
                    // The second expected administrator invited later: it is the one taken.
                    invited_at: Some(now - Duration::from_secs(1000 - i)),
                    ..hub_member(MEMBER, None, HubMemberStatus::Invited)
                },
            );
        }
    });
    Harness::on_in(sb, MEMBER, REGION).await
}

impl Harness {
    async fn member_pass(&self, d: &DesiredState, suspend: bool) -> PassReport {
        self.pass_with(d, &options(4, suspend)).await
    }
}

fn series(text: &str, service: &str, admin: &str, status: &str) -> i64 {
    let want = format!(
        "muster_invitations{{administrator=\"{admin}\",region=\"{REGION}\",service=\"{service}\",status=\"{status}\"}} "
    );
    let line = text
        .lines()
        .find(|l| l.starts_with(&want))
        .unwrap_or_else(|| panic!("{want} missing from\n{text}"));
    line[want.len()..].parse().unwrap()
}

fn changes(text: &str, service: &str, kind: &str, outcome: &str) -> i64 {
    let want = format!(
        "muster_changes_total{{kind=\"{kind}\",outcome=\"{outcome}\",service=\"{service}\"}} "
    );
    text.lines()
        .find(|l| l.starts_with(&want))
        .map_or(0, |l| l[want.len()..].parse().unwrap())
}

#[tokio::test]
async fn every_page_is_read_and_only_expected_administrators_are_accepted() {
    let h = harness().await;
    let d = desired(true, true);
    let metrics = Metrics::new();
    let r = h.member_pass(&d, false).await;
    assert_eq!(r.result(), PassResult::Ok, "{:?}", r.observe_failures);
    metrics.pass_finished(r.result(), Duration::ZERO, Some(Gauges::of(&d, &r)));

    let calls = h.sb.calls();
    for (service, op, want) in [
        ("detective", "ListInvitations", GRAPHS.div_ceil(200)),
        ("securityhub", "ListInvitations", HUBS.div_ceil(50)),
        ("securityhub", "GetAdministratorAccount", 1),
        ("detective", "AcceptInvitation", 1),
        ("detective", "RejectInvitation", GRAPHS - 1),
        ("securityhub", "AcceptAdministratorInvitation", 1),
        // 118 unexpected administrators, 50 at a time; the older expected one waits.
        ("securityhub", "DeclineInvitations", 3),
    ] {
        assert_eq!(calls.count(service, op), want, "{service} {op}");
    }
    assert_eq!(calls.count("detective", "ListInvitations"), 3, "3+ pages");
    assert_eq!(calls.count("securityhub", "ListInvitations"), 3, "3+ pages");
    assert_eq!(calls.calls.iter().filter(|c| c.status != 200).count(), 0);

    // The world: the expected graph accepted, every other invitation gone; Security Hub's newest
    // expected administrator accepted.
    h.sb.with_world(|w| {
        let region = &w.regions[REGION];
        let expected = &region.graphs[&graph_arn(REGION, DETECTIVE_EXPECTED)].members[MEMBER];
        assert_eq!(expected.status, DetectiveStatus::Enabled);
        let left = region
            .graphs
            .values()
            .filter(|g| g.members.contains_key(MEMBER))
            .count();
        assert_eq!(left, 1);
        let hub = |a: &str| region.hub_members[a][MEMBER].status;
        assert_eq!(hub(HUB_EXPECTED[1]), HubMemberStatus::Enabled);
        assert_eq!(hub(HUB_EXPECTED[0]), HubMemberStatus::Invited);
        assert_eq!(hub(&hub_admin(3)), HubMemberStatus::Resigned);
    });

    // Each action an intent and an outcome, naming the administrator.
    let ev = h.events();
    let actions = |action: &str| {
        let intents: Vec<Vec<String>> = ev
            .iter()
            .filter_map(|e| match e {
                EventKind::ActionIntent {
                    action: a,
                    accounts,
                    ..
                } if a == action => Some(accounts.clone()),
                _ => None,
            })
            .collect();
        let done: Vec<String> = ev
            .iter()
            .filter_map(|e| match e {
                EventKind::ActionResult {
                    action: a, done, ..
                } if a == action => Some(done.clone()),
                _ => None,
            })
            .flatten()
            .collect();
        (intents, done)
    };
    let (intents, done) = actions("AcceptInvitation");
    assert_eq!(intents, vec![vec![DETECTIVE_EXPECTED.to_owned()]]);
    assert_eq!(done, vec![DETECTIVE_EXPECTED.to_owned()]);
    let (intents, done) = actions("AcceptAdministratorInvitation");
    assert_eq!(intents, vec![vec![HUB_EXPECTED[1].to_owned()]]);
    assert_eq!(done, vec![HUB_EXPECTED[1].to_owned()]);
    let (intents, done) = actions("RejectInvitation");
    assert_eq!(intents.len() as u64, GRAPHS - 1);
    assert_eq!(done.len() as u64, GRAPHS - 1);
    assert!(!done.contains(&DETECTIVE_EXPECTED.to_owned()));
    let (intents, done) = actions("DeclineInvitations");
    assert_eq!(
        intents.iter().map(Vec::len).collect::<Vec<_>>(),
        [50, 50, 18]
    );
    assert_eq!(done.len() as u64, HUBS - 2);
    assert!(!done.iter().any(|a| HUB_EXPECTED.contains(&a.as_str())));
    let unexpected = ev
        .iter()
        .filter(|e| matches!(e, EventKind::DriftObserved { kind, .. } if kind == "unexpected_administrator"))
        .count() as u64;
    assert_eq!(unexpected, GRAPHS - 1 + HUBS - 2);

    // Metrics: what the pass saw at its start, and what it did.
    let text = metrics.encode();
    let (graphs, hubs) = (GRAPHS as i64, HUBS as i64);
    for (service, admin, status, n) in [
        ("detective", "unexpected", "open", graphs - 1),
        ("detective", "expected", "open", 1),
        ("securityhub", "unexpected", "open", hubs - 2),
        ("securityhub", "expected", "open", 2),
        ("securityhub", "expected", "accepted", 0),
    ] {
        let got = series(&text, service, admin, status);
        assert_eq!(got, n, "{service} {admin} {status}");
    }
    for (service, kind, n) in [
        ("detective", "accept", 1),
        ("detective", "decline", graphs - 1),
        ("securityhub", "accept", 1),
        ("securityhub", "decline", hubs - 2),
    ] {
        assert_eq!(changes(&text, service, kind, "ok"), n, "{service} {kind}");
    }

    // Second pass: the memberships are accepted, nothing unexpected is left, nothing is written.
    h.sb.reset_calls();
    let r = h.member_pass(&d, false).await;
    assert_eq!(r.result(), PassResult::Ok);
    metrics.pass_finished(r.result(), Duration::ZERO, Some(Gauges::of(&d, &r)));
    let calls = h.sb.calls();
    assert_eq!(calls.count("detective", "ListInvitations"), 1);
    assert_eq!(calls.count("securityhub", "ListInvitations"), 1);
    assert_eq!(writes(&h.sb), 0);
    let text = metrics.encode();
    assert_eq!(series(&text, "detective", "expected", "accepted"), 1);
    assert_eq!(series(&text, "detective", "unexpected", "open"), 0);
    assert_eq!(series(&text, "securityhub", "expected", "accepted"), 1);
    // The older expected invitation stays open: this account has its administrator.
    assert_eq!(series(&text, "securityhub", "expected", "open"), 1);
    assert_eq!(series(&text, "securityhub", "unexpected", "open"), 0);
    assert!(h.events().iter().any(|e| matches!(e, EventKind::DriftResolved { account, kind, .. } if account == &detective_admin(2) && kind == "unexpected_administrator")));
}

#[tokio::test]
async fn without_accept_or_decline_invitations_are_only_reported() {
    let h = harness().await;
    let d = desired(false, false);
    let r = h.member_pass(&d, false).await;
    assert_eq!(r.result(), PassResult::Ok);
    assert_eq!(writes(&h.sb), 0);
    let ev = h.events();
    let drift = |kind: &str| {
        ev.iter()
            .filter(|e| matches!(e, EventKind::DriftObserved { kind: k, .. } if k == kind))
            .count() as u64
    };
    assert_eq!(drift("unexpected_administrator"), GRAPHS - 1 + HUBS - 2);
    assert_eq!(drift("invitation_open"), 1 + 2);
    // Suspended: accept and decline on, still nothing written.
    let r = h.member_pass(&desired(true, true), true).await;
    assert_eq!(r.result(), PassResult::Suspended);
    assert_eq!(writes(&h.sb), 0);
}
