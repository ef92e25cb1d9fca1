//! Table-style cases for the plan: one desired state, one observed graph, exact outcome.

use std::time::{Duration, SystemTime};

use super::*;
use crate::desired::parse_files;

const GRAPH: &str =
    "arn:aws:detective:us-east-1:111111111111:graph:0123456789abcdef0123456789abcdef";

fn id(n: u64) -> AccountId {
    AccountId::parse(&format!("{n:012}")).unwrap()
}

fn desired(accounts: &[(u64, &str)], prune: bool) -> DesiredState {
    let mut text = String::from("version: 1\naccounts:\n");
    for (n, email) in accounts {
        text += &format!("  - {{id: \"{n:012}\", email: {email}}}\n");
    }
    if accounts.is_empty() {
        text = "version: 1\naccounts: []\n".into();
    }
    text += &format!("detective:\n  graphs: [{{region: us-east-1}}]\n  prune: {prune}\n");
    parse_files(&[("d.yaml".into(), text)]).unwrap()
}

fn member(n: u64, email: &str, status: MemberStatus) -> Member {
    Member {
        account_id: id(n),
        email: Email::parse(email),
        status,
        disabled_reason: None,
        organization: false,
        invited_at: Some(SystemTime::UNIX_EPOCH),
        updated_at: Some(SystemTime::UNIX_EPOCH),
        percent_of_graph_utilization: None,
    }
}

fn settings() -> PlanSettings {
    PlanSettings {
        max_removals_per_pass: 2,
        pending_invitation_after: Duration::from_secs(7 * 86_400),
        member_limit: GRAPH_MEMBER_LIMIT,
    }
}

fn run(d: &DesiredState, members: Vec<Member>, s: &PlanSettings) -> GraphPlan {
    let observed = ObservedGraph {
        arn: GraphArn::parse(GRAPH).unwrap(),
        members,
    };
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(30 * 86_400);
    plan(d, &[observed], now, s).graphs.remove(0)
}

fn kinds(p: &GraphPlan) -> Vec<(DriftKind, String)> {
    p.drift
        .iter()
        .map(|d| (d.kind, d.account.to_string()))
        .collect()
}

#[test]
fn missing_accounts_are_invited_and_converged_graphs_have_no_changes() {
    let d = desired(&[(1, "a@example.com"), (2, "b@example.com")], false);
    let p = run(
        &d,
        vec![member(1, "a@example.com", MemberStatus::Enabled)],
        &settings(),
    );
    assert_eq!(p.invite, [(id(2), Email::parse("b@example.com").unwrap())]);
    assert!(p.remove.is_empty());
    assert_eq!(kinds(&p), [(DriftKind::Missing, "000000000002".into())]);
    let p = run(
        &d,
        vec![
            member(1, "a@example.com", MemberStatus::Enabled),
            member(2, "B@example.com", MemberStatus::Enabled),
        ],
        &settings(),
    );
    assert!(!p.has_changes());
    assert!(p.drift.is_empty(), "{:?}", p.drift);
}

#[test]
fn drift_only_a_member_can_fix_is_reported_but_is_not_a_change() {
    let d = desired(
        &[
            (1, "a@example.com"),
            (2, "b@example.com"),
            (3, "c@example.com"),
            (4, "d@example.com"),
        ],
        false,
    );
    let mut disabled = member(2, "b@example.com", MemberStatus::AcceptedButDisabled);
    disabled.disabled_reason = Some("VOLUME_TOO_HIGH".into());
    let p = run(
        &d,
        vec![
            member(1, "a@example.com", MemberStatus::Invited),
            disabled,
            member(3, "c@example.com", MemberStatus::VerificationFailed),
            member(4, "other@example.com", MemberStatus::Enabled),
        ],
        &settings(),
    );
    assert!(!p.has_changes());
    assert_eq!(
        kinds(&p),
        [
            (DriftKind::PendingTooLong, "000000000001".into()),
            (DriftKind::Disabled, "000000000002".into()),
            (DriftKind::VerificationFailed, "000000000003".into()),
            (DriftKind::EmailMismatch, "000000000004".into()),
        ]
    );
    assert_eq!(p.drift[1].detail, "accepted but disabled (VOLUME_TOO_HIGH)");
    assert_eq!(
        p.drift[0].detail,
        "invited 30 days ago and not accepted (only the member account can accept)"
    );
}

#[test]
fn a_corrected_email_repairs_a_failed_verification() {
    let d = desired(&[(1, "right@example.com")], false);
    let p = run(
        &d,
        vec![member(
            1,
            "wrong@example.com",
            MemberStatus::VerificationFailed,
        )],
        &settings(),
    );
    assert_eq!(p.remove, [(id(1), RemovalReason::EmailCorrected)]);
    assert_eq!(
        p.invite,
        [(id(1), Email::parse("right@example.com").unwrap())]
    );
}

#[test]
fn undeclared_members_are_removed_only_with_prune_and_within_both_guards() {
    let observed = || {
        vec![
            member(1, "a@example.com", MemberStatus::Enabled),
            member(8, "x@example.com", MemberStatus::Enabled),
            member(9, "y@example.com", MemberStatus::Invited),
        ]
    };
    let without = run(
        &desired(&[(1, "a@example.com")], false),
        observed(),
        &settings(),
    );
    assert!(without.remove.is_empty());
    assert_eq!(
        without
            .drift
            .iter()
            .filter(|d| d.kind == DriftKind::Undeclared)
            .count(),
        2
    );

    let with = run(
        &desired(&[(1, "a@example.com")], true),
        observed(),
        &settings(),
    );
    assert_eq!(
        with.remove,
        [
            (id(8), RemovalReason::Undeclared),
            (id(9), RemovalReason::Undeclared)
        ]
    );
    assert_eq!(with.prune_refused, None);

    let mut tight = settings();
    tight.max_removals_per_pass = 1;
    let refused = run(&desired(&[(1, "a@example.com")], true), observed(), &tight);
    assert!(refused.remove.is_empty());
    assert_eq!(
        refused.prune_refused.as_deref(),
        Some("pruning would remove 2 members, more than max_removals_per_pass (1); remove them by hand or raise the limit")
    );

    let empty = run(&desired(&[], true), observed(), &settings());
    assert!(empty.remove.is_empty());
    assert_eq!(
        empty.prune_refused.as_deref(),
        Some("the desired state declares no accounts; muster never prunes a graph to empty")
    );
}

#[test]
fn invitations_past_the_member_limit_are_blocked_not_sent() {
    let d = desired(
        &[
            (1, "a@example.com"),
            (2, "b@example.com"),
            (3, "c@example.com"),
            (4, "d@example.com"),
        ],
        false,
    );
    let mut s = settings();
    s.member_limit = 3;
    let p = run(
        &d,
        vec![member(1, "a@example.com", MemberStatus::Enabled)],
        &s,
    );
    assert_eq!(
        p.invite.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        [id(2), id(3)]
    );
    assert_eq!(
        kinds(&p)
            .into_iter()
            .filter(|(k, _)| *k == DriftKind::QuotaBlocked)
            .collect::<Vec<_>>(),
        [(DriftKind::QuotaBlocked, "000000000004".into())]
    );
}

#[test]
fn a_plan_spread_over_threads_is_the_plan_made_on_one() {
    let accounts: Vec<(u64, String)> = (1..=4_000)
        .map(|n| (n, format!("a{n}@example.com")))
        .collect();
    let pairs: Vec<(u64, &str)> = accounts.iter().map(|(n, e)| (*n, e.as_str())).collect();
    let d = desired(&pairs, false);
    let graphs: Vec<ObservedGraph> = (0..16)
        .map(|g| ObservedGraph {
            arn: GraphArn::parse(&format!(
                "arn:aws:detective:us-east-1:{:012}:graph:0123456789abcdef0123456789abcdef",
                g + 1
            ))
            .unwrap(),
            members: (1..=300 + g * 10)
                .map(|n| member(n as u64 * 3, "x@example.com", MemberStatus::Enabled))
                .collect(),
        })
        .collect();
    let now = SystemTime::UNIX_EPOCH;
    let together = plan(&d, &graphs, now, &settings());
    let one_by_one: Vec<GraphPlan> = graphs
        .iter()
        .map(|g| {
            plan(&d, std::slice::from_ref(g), now, &settings())
                .graphs
                .remove(0)
        })
        .collect();
    assert_eq!(together.graphs, one_by_one);
}
