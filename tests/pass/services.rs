//! Detective and Security Hub together, with accounts taken from AWS Organizations: one pass
//! over the demo world through the real SDK clients, exact calls per service, the kept
//! organization listing when Organizations fails, and Security Hub's own statuses.

use std::collections::BTreeSet;

use muster::apply::{Change, Outcome};
use muster::desired::{parse_files, DesiredState};
use muster::domain::Service;
use muster::eventlog::EventKind;
use muster::observed::HubMemberStatus;
use muster::plan::DriftKind;
use muster::reconcile::{OrgStatus, PassResult};
use muster_sandbox::world::{AccountState, HubMember, Parent};
use muster_sandbox::{FaultConfig, GarbleNext, Sandbox};

use crate::common::*;

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
/// Hand-listed accounts outside the organization.
const EXTERNAL: [&str; 2] = ["500000000001", "500000000002"];
const WRITES: [(&str, &str); 6] = [
    ("detective", "CreateMembers"),
    ("detective", "DeleteMembers"),
    ("securityhub", "CreateMembers"),
    ("securityhub", "InviteMembers"),
    ("securityhub", "DisassociateMembers"),
    ("securityhub", "DeleteMembers"),
];

fn desired_text(prune: bool) -> String {
    format!(
        r#"version: 1
accounts:
  - {{id: "500000000001", email: security@partner-analytics.example.org}}
  - {{id: "500000000002", email: aws-root@acquired.example.com}}
organization:
  include:
    - {{ou: ou-m5tr-workloads, recursive: true}}
    - {{ou: ou-m5tr-security}}
  exclude:
    accounts: ["222222222222"]
detective:
  graphs: [{{region: us-east-1}}, {{region: eu-west-1}}]
  prune: {prune}
securityhub:
  regions: [us-east-1, eu-west-1]
  prune: {prune}
"#
    )
}

fn desired(prune: bool) -> DesiredState {
    parse_files(&[("desired.yaml".into(), desired_text(prune))]).unwrap()
}

/// Calls that change something in AWS, so far.
impl Harness {
    fn writes(&self) -> u64 {
        let calls = self.sb.calls();
        WRITES.iter().map(|(s, o)| calls.count(s, o)).sum()
    }
}

/// What the world says the selection takes: ACTIVE accounts under Workloads (and the OU
/// nested in it) and Security, but the excluded security account; computed from the sandbox's
/// own model, not from muster.
fn expected_org_accounts(sb: &Sandbox) -> BTreeSet<String> {
    sb.with_world(|w| {
        let ous = ["ou-m5tr-workloads", "ou-m5tr-sandboxes", "ou-m5tr-security"];
        w.accounts
            .values()
            .filter(|a| matches!(&a.parent, Some(Parent::Ou(ou)) if ous.contains(&ou.as_str())))
            .filter(|a| a.state == AccountState::Active && a.id != SECURITY)
            .map(|a| a.id.clone())
            .collect()
    })
}

/// ListAccountsForParent pages for the whole tree (20 a page, at least one per parent).
fn expected_account_pages(sb: &Sandbox) -> u64 {
    sb.with_world(|w| {
        let org = w.organization.as_ref().unwrap();
        let mut parents = vec![Parent::Root];
        parents.extend(org.ous.keys().map(|id| Parent::Ou(id.clone())));
        parents
            .iter()
            .map(|p| {
                let n = w
                    .accounts
                    .values()
                    .filter(|a| a.parent.as_ref() == Some(p))
                    .count();
                n.div_ceil(20).max(1) as u64
            })
            .sum()
    })
}

#[tokio::test]
async fn hand_listed_accounts_and_two_ous_converge_in_one_pass_with_the_fewest_calls() {
    let h = Harness::new(demo(), SECURITY).await;
    let org = expected_org_accounts(&h.sb);
    let n = org.len() + EXTERNAL.len();
    assert!(n > 50, "the selection spans more than one batch: {n}");
    let suspended_in_selection = h.sb.with_world(|w| {
        w.accounts
            .values()
            .any(|a| a.state == AccountState::Suspended && matches!(&a.parent, Some(Parent::Ou(_))))
    });
    assert!(
        suspended_in_selection,
        "the demo has a suspended account to skip"
    );

    let d = desired(false);
    let r = h.pass(&d).await;
    assert_eq!(r.result(), PassResult::Ok, "{:?}", r.observe_failures);
    assert!(matches!(r.org.status, OrgStatus::Fresh));
    let effective = r.effective.as_ref().unwrap();
    let want: BTreeSet<String> = org
        .iter()
        .cloned()
        .chain(EXTERNAL.map(String::from))
        .collect();
    let got: BTreeSet<String> = effective.accounts.keys().map(|a| a.to_string()).collect();
    assert_eq!(got, want, "hand-listed plus the OUs' ACTIVE accounts");
    // The suspended account in the Sandbox OU is skipped: never declared, never sent.
    assert!(!got.contains("300000000040"));
    assert!(!h
        .sb
        .calls()
        .calls
        .iter()
        .any(|c| c.account_ids.iter().any(|a| a == "300000000040")));

    let calls = h.sb.calls();
    let batches = n.div_ceil(50) as u64;
    let ou_parents =
        h.sb.with_world(|w| w.organization.as_ref().unwrap().ous.len()) as u64 + 1;
    for (service, op, want) in [
        ("organizations", "ListRoots", 1),
        (
            "organizations",
            "ListOrganizationalUnitsForParent",
            ou_parents,
        ),
        (
            "organizations",
            "ListAccountsForParent",
            expected_account_pages(&h.sb),
        ),
        ("detective", "ListGraphs", 2),
        ("detective", "ListMembers", 2),
        ("detective", "CreateMembers", 2 * batches),
        ("detective", "DeleteMembers", 0),
        ("securityhub", "ListMembers", 2),
        ("securityhub", "CreateMembers", 2 * batches),
        // Only the two accounts outside the organization need an invitation: one call a region.
        ("securityhub", "InviteMembers", 2),
        ("securityhub", "DisassociateMembers", 0),
        ("securityhub", "DeleteMembers", 0),
    ] {
        assert_eq!(calls.count(service, op), want, "{service} {op}");
    }
    assert_eq!(calls.calls.iter().filter(|c| c.status != 200).count(), 0);
    // Only Security Hub has InviteMembers.
    let invited: BTreeSet<String> = call_accounts(&h.sb, "InviteMembers")
        .concat()
        .into_iter()
        .collect();
    assert_eq!(invited, EXTERNAL.map(String::from).into_iter().collect());
    assert!(call_accounts(&h.sb, "CreateMembers")
        .iter()
        .all(|b| b.len() <= 50));

    // Security Hub: organization accounts enabled, the others invited.
    for region in REGIONS {
        let members: Vec<HubMember> = h.sb.with_world(|w| {
            w.regions[region].hub_members[SECURITY]
                .values()
                .cloned()
                .collect()
        });
        assert_eq!(members.len(), n, "{region}");
        for m in members {
            let want = if EXTERNAL.contains(&m.account_id.as_str()) {
                muster_sandbox::world::HubMemberStatus::Invited
            } else {
                muster_sandbox::world::HubMemberStatus::Enabled
            };
            assert_eq!(m.status, want, "{region} {}", m.account_id);
        }
    }
    // Every Security Hub write was an intent then an outcome.
    let ev = h.events();
    let intents = ev
        .iter()
        .filter(
            |e| matches!(e, EventKind::ActionIntent { service, .. } if service == "securityhub"),
        )
        .count();
    let outcomes = ev
        .iter()
        .filter(|e| matches!(e, EventKind::ActionResult { target, .. } if target.starts_with("securityhub:")))
        .count();
    assert_eq!(intents as u64, 2 * batches + 2);
    assert_eq!(outcomes, intents);

    // Converged: a second pass lists again and writes nothing.
    h.sb.reset_calls();
    let r = h.pass(&d).await;
    assert_eq!(r.result(), PassResult::Ok);
    assert!(!r.plan.has_changes(), "{:#?}", r.plan.hubs);
    assert_eq!(h.writes(), 0);
    for hub in &r.plan.hubs {
        assert!(hub.drift.is_empty(), "{:?}", hub.drift);
    }
}

#[tokio::test]
async fn an_organization_that_cannot_be_listed_keeps_the_last_expansion_and_blocks_prune() {
    let h = Harness::new(demo(), SECURITY).await;
    let d = desired(true);
    let first = h.pass(&d).await;
    assert!(matches!(first.org.status, OrgStatus::Fresh));
    let declared = first.effective.as_ref().unwrap().accounts.len();
    // In us-east-1 the graph has 500000000004 and 500000000005, which this desired state does
    // not declare: pruned while the organization is listed.
    assert_eq!(removed(&first.applied), 2);
    let removed: Vec<String> =
        h.sb.calls()
            .calls
            .iter()
            .filter(|c| c.service == "detective" && c.operation == "DeleteMembers")
            .flat_map(|c| c.account_ids.clone())
            .collect();
    assert_eq!(removed, ["500000000004", "500000000005"]);

    // An undeclared member appears in Security Hub; then Organizations fails: denied, then
    // throttled past every retry.
    let stray = "500000000003";
    h.sb.with_world(|w| {
        let m = hub_members_in(w, "eu-west-1", SECURITY);
        let mut member = m.values().next().unwrap().clone();
        member.account_id = stray.into();
        member.status = muster_sandbox::world::HubMemberStatus::Enabled;
        m.insert(stray.into(), member);
    });
    for error in ["AccessDeniedException", "TooManyRequestsException"] {
        fail_next(&h.sb, "organizations", "ListRoots", 10, error);
        h.sb.reset_calls();
        let r = h.pass(&d).await;
        assert_eq!(r.result(), PassResult::Partial, "{error}");
        let OrgStatus::Stale {
            error: e,
            last_listed,
        } = &r.org.status
        else {
            panic!("{error}: {:?}", r.org.status)
        };
        assert_eq!(e.code(), error);
        assert!(last_listed.is_some());
        // The last listing's accounts are still desired: nothing goes missing.
        assert_eq!(
            r.effective.as_ref().unwrap().accounts.len(),
            declared,
            "{error}"
        );
        assert!(!r.plan.has_changes(), "{error}: {:#?}", r.plan.hubs);
        let hub = r
            .plan
            .hubs
            .iter()
            .find(|h| h.region.as_str() == "eu-west-1")
            .unwrap();
        assert!(hub
            .drift
            .iter()
            .any(|d| d.kind == DriftKind::Undeclared && d.account_name() == stray));
        assert!(
            hub.prune_refused
                .as_deref()
                .unwrap()
                .contains("last good listing"),
            "{:?}",
            hub.prune_refused
        );
        assert_eq!(
            h.writes(),
            0,
            "{error}: prune must not act on a stale expansion"
        );
        let text = metrics_after(&d, &r);
        assert!(text.contains("muster_organization_stale 1\n"), "{text}");
        assert!(text.contains(&format!("muster_organization_accounts {}\n", declared - 2)));
        assert!(h.events().iter().any(|e| matches!(e, EventKind::OrganizationStale { code, accounts, .. } if code == error && *accounts == declared - 2)));
    }

    // Listed again: prune removes the stray from Security Hub, in one Disassociate and one Delete.
    h.sb.set_faults(FaultConfig::default()).unwrap();
    h.sb.reset_calls();
    let r = h.pass(&d).await;
    assert_eq!(r.result(), PassResult::Ok, "{:?}", r.observe_failures);
    let calls = h.sb.calls();
    assert_eq!(calls.count("securityhub", "DisassociateMembers"), 1);
    assert_eq!(calls.count("securityhub", "DeleteMembers"), 1);
    assert_eq!(
        r.applied
            .count(Service::SecurityHub, Change::Remove, Outcome::Ok),
        1
    );
}

#[tokio::test]
async fn without_any_listing_kept_only_hand_listed_accounts_count_and_prune_waits() {
    let h = Harness::new(demo(), SECURITY).await;
    fail_next(
        &h.sb,
        "organizations",
        "ListRoots",
        10,
        "AccessDeniedException",
    );
    let r = h.pass(&desired(true)).await;
    assert_eq!(r.result(), PassResult::Partial);
    let e = r.effective.as_ref().unwrap();
    assert_eq!(e.accounts.len(), 2, "the hand-listed accounts only");
    assert!(r
        .org
        .prune_blocked
        .as_deref()
        .unwrap()
        .contains("no earlier listing is kept"));
    // 500000000004 and 500000000005 (undeclared in the us-east-1 graph) are not removed.
    assert_eq!(h.sb.calls().count("detective", "DeleteMembers"), 0);
    let east = r
        .plan
        .graphs
        .iter()
        .find(|g| g.graph.region().as_str() == "us-east-1")
        .unwrap();
    assert!(east.remove.is_empty());
    assert!(east
        .prune_refused
        .as_deref()
        .unwrap()
        .contains("no earlier listing is kept"));
}

#[tokio::test]
async fn security_hub_statuses_removed_resigned_and_suspended_are_drift() {
    let h = Harness::new(demo(), SECURITY).await;
    let d = desired(false);
    h.pass(&d).await;
    // Three organization accounts change under the administrator in us-east-1.
    let ids: Vec<String> = expected_org_accounts(&h.sb).into_iter().take(3).collect();
    let statuses = [
        muster_sandbox::world::HubMemberStatus::Removed,
        muster_sandbox::world::HubMemberStatus::Resigned,
        muster_sandbox::world::HubMemberStatus::AccountSuspended,
    ];
    h.sb.with_world(|w| {
        let ms = hub_members_in(w, "us-east-1", SECURITY);
        for (id, st) in ids.iter().zip(statuses) {
            ms.get_mut(id).unwrap().status = st;
        }
    });
    h.sb.reset_calls();
    let r = h.pass(&d).await;
    let hub = (r.plan.hubs.iter()).find(|h| h.region.as_str() == "us-east-1");
    let hub = hub.unwrap();
    let kinds: Vec<(String, DriftKind)> = hub
        .drift
        .iter()
        .map(|d| (d.account_name(), d.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (ids[0].clone(), DriftKind::Removed),
            (ids[1].clone(), DriftKind::Resigned),
            (ids[2].clone(), DriftKind::AccountSuspended),
        ]
    );
    // Removed is created again (one call, an organization account: no invitation); resigned and
    // suspended members are only reported.
    let calls = h.sb.calls();
    assert_eq!(calls.count("securityhub", "CreateMembers"), 1);
    assert_eq!(calls.count("securityhub", "InviteMembers"), 0);
    assert_eq!(
        call_accounts(&h.sb, "CreateMembers").concat(),
        vec![ids[0].clone()]
    );
    for (id, kind) in [
        (&ids[0], "removed"),
        (&ids[1], "resigned"),
        (&ids[2], "account_suspended"),
    ] {
        assert!(
            h.events().iter().any(|e| matches!(e, EventKind::DriftObserved { graph, account, kind: k, .. } if graph == "securityhub:us-east-1" && account == id && k == kind)),
            "{kind}"
        );
    }
    let status =
        h.sb.with_world(|w| w.regions["us-east-1"].hub_members[SECURITY][&ids[0]].status);
    assert_eq!(status, muster_sandbox::world::HubMemberStatus::Enabled);
    // The Removed drift resolves at the next pass; the other two stay.
    let r = h.pass(&d).await;
    let hub = (r.plan.hubs.iter()).find(|h| h.region.as_str() == "us-east-1");
    let hub = hub.unwrap();
    assert_eq!(hub.drift.len(), 2);
    assert!(h.events().iter().any(|e| matches!(e, EventKind::DriftResolved { account, kind, .. } if account == &ids[0] && kind == "removed")));
    // The gauges, with service="securityhub" and no graph.
    let text = metrics_after(&d, &r);
    for (series, value) in [
        ("muster_drift{graph=\"\",kind=\"resigned\",region=\"us-east-1\",service=\"securityhub\"}", 1),
        ("muster_drift{graph=\"\",kind=\"account_suspended\",region=\"us-east-1\",service=\"securityhub\"}", 1),
        ("muster_drift{graph=\"\",kind=\"removed\",region=\"us-east-1\",service=\"securityhub\"}", 0),
        ("muster_members{graph=\"\",region=\"us-east-1\",service=\"securityhub\",status=\"resigned\"}", 1),
        ("muster_members{graph=\"\",region=\"us-east-1\",service=\"securityhub\",status=\"account_suspended\"}", 1),
        ("muster_members{graph=\"\",region=\"eu-west-1\",service=\"securityhub\",status=\"removed\"}", 0),
    ] {
        assert!(text.contains(&format!("{series} {value}\n")), "{series} {value} missing:\n{text}");
    }
    let enabled = r
        .found
        .hubs
        .iter()
        .find(|h| h.region.as_str() == "us-east-1")
        .unwrap()
        .members
        .iter()
        .filter(|m| m.status == HubMemberStatus::Enabled)
        .count();
    assert!(text.contains(&format!("muster_members{{graph=\"\",region=\"us-east-1\",service=\"securityhub\",status=\"enabled\"}} {enabled}\n")));
    let declared = r.effective.as_ref().unwrap().accounts.len();
    assert!(text.contains(&format!("muster_declared_accounts{{graph=\"\",region=\"us-east-1\",service=\"securityhub\"}} {declared}\n")));
    let members = |st: HubMemberStatus| {
        r.found.hubs[0]
            .members
            .iter()
            .filter(|m| m.status == st)
            .count()
    };
    assert_eq!(
        members(HubMemberStatus::Resigned) + members(HubMemberStatus::AccountSuspended),
        2
    );
}

#[tokio::test]
async fn limit_exceeded_bursts_are_absorbed_by_retries() {
    let h = Harness::new(demo(), SECURITY).await;
    fail_next(
        &h.sb,
        "securityhub",
        "CreateMembers",
        2,
        "LimitExceededException",
    );
    let r = h.pass(&desired(false)).await;
    assert_eq!(r.result(), PassResult::Ok, "{:?}", r.applied);
    let calls = h.sb.calls();
    assert_eq!(calls.count_status("securityhub", "CreateMembers", 429), 2);
    let n = (expected_org_accounts(&h.sb).len() + EXTERNAL.len()).div_ceil(50) as u64;
    assert_eq!(
        calls.count_status("securityhub", "CreateMembers", 200),
        2 * n
    );
    assert_eq!(
        r.applied
            .count(Service::SecurityHub, Change::Create, Outcome::Failed),
        0
    );
    // Nothing recorded as failed: the SDK retried within the call.
    assert!(!h
        .events()
        .iter()
        .any(|e| matches!(e, EventKind::ActionFailed { .. })));
}

#[tokio::test]
async fn a_security_hub_intent_left_by_a_crash_is_settled_from_the_listing() {
    let h = Harness::new(demo(), SECURITY).await;
    let d = desired(false);
    h.pass(&d).await;
    // As if muster died between an intent and its call's outcome: one account is a member by
    // now, the other is not.
    let member = expected_org_accounts(&h.sb).into_iter().next().unwrap();
    h.log
        .append(
            "crashed",
            &d.digest,
            EventKind::ActionIntent {
                batch: "crashed/us-east-1/1".into(),
                service: "securityhub".into(),
                target: "securityhub:us-east-1".into(),
                action: "CreateMembers".into(),
                accounts: vec![member.clone(), "500000000003".into()],
                settings: vec![],
            },
            true,
        )
        .unwrap();
    assert_eq!(h.log.in_doubt().unwrap().len(), 1);
    h.sb.reset_calls();
    h.pass(&d).await;
    assert!(
        h.events().iter().any(|e| matches!(e,
        EventKind::IntentResolved { batch, graph, present, absent }
            if batch == "crashed/us-east-1/1" && graph == "securityhub:us-east-1"
                && *present == vec![member.clone()] && *absent == vec!["500000000003".to_owned()]))
    );
    assert!(h.log.in_doubt().unwrap().is_empty());
    assert_eq!(h.writes(), 0, "settled from the listing, never re-sent");
}

/// A `200 OK` whose body is not the service's JSON (a proxy's page): the event names the cause,
/// HTTP status and the SDK's reading of it, where AWS's code and message would be.
#[tokio::test]
async fn an_answer_that_is_not_json_is_recorded_with_its_cause() {
    let h = Harness::new(demo(), SECURITY).await;
    h.sb.set_faults(FaultConfig {
        garble_next: vec![
            GarbleNext {
                service: "securityhub".into(),
                operation: "CreateMembers".into(),
                count: 1,
            },
            GarbleNext {
                service: "detective".into(),
                operation: "ListMembers".into(),
                count: 1,
            },
        ],
        ..FaultConfig::default()
    })
    .unwrap();
    let r = h.pass(&desired(false)).await;
    assert_eq!(r.result(), PassResult::Partial);
    let calls = h.sb.calls();
    // Not retried: an answer that cannot be read is not a throttle.
    assert_eq!(
        calls.count_status("securityhub", "CreateMembers", 200),
        calls.count("securityhub", "CreateMembers")
    );
    let events = h.events();
    let failed: Vec<(&str, &str, &str)> = events
        .iter()
        .filter_map(|e| match e {
            EventKind::ActionFailed { code, message, .. } => {
                Some(("action_failed", code.as_str(), message.as_str()))
            }
            EventKind::GraphFailed { code, message, .. } => {
                Some(("graph_failed", code.as_str(), message.as_str()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        failed.iter().map(|f| f.0).collect::<Vec<_>>(),
        ["graph_failed", "action_failed"]
    );
    for (what, code, message) in failed {
        assert_eq!(code, "InvalidResponse", "{what}");
        assert_eq!(
            message,
            "HTTP 200 with no error code or message AWS gives: unhandled error: Error at offset 0: \
             unexpected token '<'. Expected one of '{', '[', '\"', 'null', 'true', 'false', <number>",
            "{what}"
        );
    }
}
