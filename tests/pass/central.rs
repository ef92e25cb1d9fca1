//! Security Hub central configuration through a pass: from local configuration with no
//! aggregator to CENTRAL, policies and associations in one apply, then nothing; drift made
//! behind muster's back; the guard; the preconditions.

use std::time::Duration;

use muster::desired::{parse_files, DesiredState};
use muster::eventlog::EventKind;
use muster::reconcile::PassResult;
use muster_sandbox::Sandbox;

use crate::common::*;

const FSBP: &str =
    "arn:aws:securityhub:us-east-1::standards/aws-foundational-security-best-practices/v/1.0.0";

const DESIRED: &str = r#"version: 1
accounts: []
securityhub:
  regions: [us-east-1, eu-west-1]
  central_configuration:
    home_region: us-east-1
    policies:
      baseline:
        description: Security Hub on, FSBP, IAM.6 off
        enabled: true
        standards: [aws-foundational-security-best-practices/v/1.0.0]
        controls: {disabled: [IAM.6]}
      "off": {enabled: false}
    associations:
      - {root: true, policy: baseline}
      - {ou: ou-m5tr-sandboxes, policy: "off"}
      - {account: "300000000002", self_managed: true}
"#;

fn desired(text: &str) -> DesiredState {
    parse_files(&[("central.yaml".into(), text.to_owned())]).unwrap()
}

/// The demo world, associations settling by the next call.
async fn world() -> Sandbox {
    let sb = start(demo()).await;
    sb.with_world(|w| w.central.settings.delay = Duration::ZERO);
    sb
}

/// The central-configuration writes of the call log, by operation.
fn central_writes(sb: &Sandbox) -> Vec<(String, u64)> {
    let writes = [
        "CreateFindingAggregator",
        "UpdateFindingAggregator",
        "UpdateOrganizationConfiguration",
        "CreateConfigurationPolicy",
        "UpdateConfigurationPolicy",
        "DeleteConfigurationPolicy",
        "StartConfigurationPolicyAssociation",
        "StartConfigurationPolicyDisassociation",
    ];
    let calls = sb.calls();
    (writes.iter())
        .map(|op| (op.to_string(), calls.count("securityhub", op)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

fn central_kinds(h: &Harness) -> Vec<(String, String)> {
    let events = h.events().into_iter();
    let drift = events.filter_map(|e| match e {
        EventKind::DriftObserved {
            graph,
            account,
            kind,
            ..
        } if graph.ends_with("-central:us-east-1") => Some((kind, account)),
        _ => None,
    });
    drift.collect()
}

#[tokio::test]
async fn a_local_organization_reaches_its_declared_central_configuration_within_the_guard() {
    let h = Harness::on(world().await, SECURITY).await;
    let d = desired(DESIRED);
    // Turning Security Hub off in the 12 sandbox accounts is past max_removals_per_pass (10):
    // that association is refused, everything else goes ahead.
    let r = h.pass(&d).await;
    assert_eq!(r.result(), PassResult::Ok, "{:?}", r.observe_failures);
    assert_eq!(
        central_writes(&h.sb),
        [
            ("CreateFindingAggregator".to_owned(), 1),
            ("UpdateOrganizationConfiguration".to_owned(), 1),
            ("CreateConfigurationPolicy".to_owned(), 2),
            ("StartConfigurationPolicyAssociation".to_owned(), 2),
        ]
    );
    let refused: Vec<String> = (h.events().into_iter())
        .filter_map(|e| match e {
            EventKind::PruneRefused { graph, reason }
                if graph == "securityhub-central:us-east-1" =>
            {
                Some(reason)
            }
            _ => None,
        })
        .collect();
    assert_eq!(refused, ["these changes would turn Security Hub off, or remove a standard, in 12 accounts; max_removals_per_pass allows 10: refused (the other changes go ahead; raise the limit for this pass to allow them)"]);
    let text = metrics_after(&d, &r);
    let series =
        "muster_refused_changes_total{guard=\"central_configuration\",service=\"securityhub\"} 1\n";
    assert!(text.contains(series), "{text}");
    let drift = "muster_drift{graph=\"\",kind=\"association_missing\",region=\"us-east-1\",service=\"securityhub\"} 1\n";
    assert!(
        text.contains(drift),
        "the held-back association stays drift after the pass:\n{text}"
    );
    // Reads: the configuration once, the aggregator listed once; no policy or association read
    // before the switch (there are none).
    let calls = h.sb.calls();
    assert_eq!(
        calls.count("securityhub", "DescribeOrganizationConfiguration"),
        1
    );
    assert_eq!(calls.count("securityhub", "ListFindingAggregators"), 1);
    assert_eq!(calls.count("securityhub", "ListConfigurationPolicies"), 0);
    assert_eq!(
        central_kinds(&h),
        [
            ("aggregator_missing".to_owned(), String::new()),
            ("central_configuration_off".to_owned(), String::new()),
            ("policy_missing".to_owned(), "policy:baseline".to_owned()),
            ("policy_missing".to_owned(), "policy:off".to_owned()),
            ("association_missing".to_owned(), "root".to_owned()),
            (
                "association_missing".to_owned(),
                "ou-m5tr-sandboxes".to_owned()
            ),
            ("association_missing".to_owned(), "300000000002".to_owned()),
        ]
    );
    // Every write had its intent first and its outcome after.
    let actions: Vec<(String, String)> = (h.events().into_iter())
        .filter_map(|e| match e {
            EventKind::ActionIntent { target, action, .. }
                if target == "securityhub-central:us-east-1" =>
            {
                Some(("intent".to_owned(), action))
            }
            EventKind::ActionResult { target, action, .. }
                if target == "securityhub-central:us-east-1" =>
            {
                Some(("result".to_owned(), action))
            }
            _ => None,
        })
        .collect();
    assert_eq!(actions.len(), 12);
    assert!(
        actions
            .chunks(2)
            .all(|p| p[0].0 == "intent" && p[1].0 == "result" && p[0].1 == p[1].1),
        "{actions:?}"
    );

    // With the limit raised for one pass, the sandboxes go off.
    h.sb.reset_calls();
    let mut wide = options(4, false);
    wide.plan.max_removals_per_pass = 20;
    let r = h.pass_with(&d, &wide).await;
    assert_eq!(r.plan.central[0].associate[0].reach.reduces.len(), 12);
    let associated = [("StartConfigurationPolicyAssociation".to_owned(), 1)];
    assert_eq!(central_writes(&h.sb), associated);
    // The next pass: nothing to write; the suspended account's association FAILED is drift.
    h.sb.reset_calls();
    let r = h.pass(&d).await;
    assert!(!r.plan.has_changes(), "{:?}", r.plan.central);
    assert!(central_writes(&h.sb).is_empty());
    let failed: Vec<_> = (r.plan.central[0].drift.iter())
        .map(|d| (d.kind.as_str(), d.account_name()))
        .collect();
    assert_eq!(failed, [("association_failed", "300000000040".to_owned())]);
    assert_eq!(
        r.plan.central[0].drift[0].detail,
        "the association of account 300000000040 failed: Policy association failed because the account is suspended"
    );
    // Carried out (settled by the calls since): the sandboxes off, the baseline's standard
    // elsewhere, in both Regions.
    h.sb.with_world(|w| {
        for region in ["us-east-1", "eu-west-1"] {
            let r = &w.regions[region];
            assert_eq!(r.hub_organization.configuration_type, "CENTRAL", "{region}");
            assert!(!r.hubs.contains_key("400000000001"), "{region}");
            assert_eq!(
                r.hub_standards["300000000001"].iter().collect::<Vec<_>>(),
                [FSBP]
            );
        }
    });

    // Recorded once: the first pass's drift is resolved, the failure observed.
    let kinds = central_kinds(&h);
    assert_eq!(
        kinds.last().unwrap(),
        &("association_failed".to_owned(), "300000000040".to_owned())
    );
    let resolved = (h.events().into_iter())
        .filter(|e| matches!(e, EventKind::DriftResolved { graph, .. } if graph == "securityhub-central:us-east-1"))
        .count();
    assert_eq!(resolved, 7);
}

#[tokio::test]
async fn a_failing_precondition_is_named_with_its_fix_and_nothing_is_written() {
    // Not the delegated administrator: the management account.
    let h = Harness::on(world().await, MANAGEMENT).await;
    let d = desired(DESIRED);
    let r = h.pass(&d).await;
    let c = &r.plan.central[0];
    assert!(!c.has_changes());
    let drift: Vec<_> = c
        .drift
        .iter()
        .map(|d| (d.kind.as_str(), d.detail.to_string()))
        .collect();
    assert_eq!(drift, [("central_configuration_blocked", "muster's account is not the organization's Security Hub delegated administrator in us-east-1 (Account 111111111111 is not an administrator for this organization): central configuration is managed only by it, from the home Region; run muster as the delegated administrator (the management account designates it)".to_owned())]);
    assert!(central_writes(&h.sb).is_empty());

    // The aggregator's home Region is not the declared one.
    let sb = world().await;
    let west = securityhub(&sb, SECURITY, "eu-west-1").await;
    west.create_finding_aggregator()
        .region_linking_mode("NO_REGIONS")
        .send()
        .await
        .unwrap();
    let h = Harness::on(sb, SECURITY).await;
    h.sb.reset_calls();
    let r = h.pass(&d).await;
    let c = &r.plan.central[0];
    assert!(!c.has_changes());
    assert_eq!(c.drift[0].kind.as_str(), "central_configuration_blocked");
    assert_eq!(c.drift[0].detail, "the finding aggregator's home Region is eu-west-1, but us-east-1 is declared: central configuration is managed from the aggregator's home Region (change home_region to eu-west-1, or move the aggregator by hand; muster never moves it)");
    assert!(central_writes(&h.sb).is_empty());
}

#[tokio::test]
async fn suspend_reports_central_configuration_drift_and_writes_none_of_it() {
    let h = Harness::on(world().await, SECURITY).await;
    let r = h.pass_with(&desired(DESIRED), &options(4, true)).await;
    assert_eq!(r.result(), PassResult::Suspended);
    assert!(r.plan.central[0].has_changes());
    assert!(central_writes(&h.sb).is_empty());
    assert_eq!(
        central_kinds(&h).len(),
        7,
        "the drift is recorded all the same"
    );
}

/// A generated organization of 240 accounts in three Regions, its OUs nested three deep:
/// the sandbox, its OU ids in order, and the accounts directly under each.
async fn nested_world() -> (Sandbox, Vec<String>) {
    let regions = ["us-east-1", "eu-west-1", "eu-central-1"]
        .map(String::from)
        .to_vec();
    let f = muster_sandbox::fixture::generate(&muster_sandbox::fixture::Generate {
        accounts: 240,
        regions,
        seed: 26,
    });
    let sb = start(f).await;
    let ous = sb.with_world(|w| {
        w.central.settings.delay = Duration::ZERO;
        let org = w.organization.as_mut().unwrap();
        let ids: Vec<String> = org.ous.keys().cloned().collect();
        // ou[1] under ou[0], ou[2] under ou[1]; the rest under the root.
        for (child, parent) in [(1, 0), (2, 1)] {
            org.ous.get_mut(&ids[child]).unwrap().parent =
                muster_sandbox::world::Parent::Ou(ids[parent].clone());
        }
        ids
    });
    (sb, ous)
}

#[tokio::test]
async fn a_nested_organization_of_240_accounts_in_three_regions_converges_in_one_apply() {
    let (sb, ous) = nested_world().await;
    let self_managed = sb.with_world(|w| {
        let under = |ou: &str| {
            w.accounts
                .values()
                .find(|a| a.parent == Some(muster_sandbox::world::Parent::Ou(ou.to_owned())))
                .unwrap()
                .id
                .clone()
        };
        under(&ous[1])
    });
    let text = format!(
        r#"version: 1
accounts: []
securityhub:
  regions: [us-east-1, eu-west-1, eu-central-1]
  central_configuration:
    home_region: us-east-1
    policies:
      baseline: {{enabled: true, standards: [aws-foundational-security-best-practices/v/1.0.0]}}
      strict: {{enabled: true, standards: [aws-foundational-security-best-practices/v/1.0.0, cis-aws-foundations-benchmark/v/1.4.0], controls: {{enabled: [IAM.1, IAM.6]}}}}
      "off": {{enabled: false}}
    associations:
      - {{root: true, policy: baseline}}
      - {{ou: {}, policy: strict}}
      - {{ou: {}, policy: "off"}}
      - {{account: "{self_managed}", self_managed: true}}
"#,
        ous[0], ous[2]
    );
    let d = desired(&text);
    let h = Harness::on(sb, muster_sandbox::fixture::GENERATED_SECURITY).await;
    let mut wide = options(4, false);
    wide.plan.max_removals_per_pass = 1000;
    let r = h.pass_with(&d, &wide).await;
    assert_eq!(r.result(), PassResult::Ok, "{:?}", r.observe_failures);
    let calls = h.sb.calls();
    let count = |s: &str, op: &str| calls.count(s, op);
    let n_ous = ous.len() as u64;
    // ListAccountsForParent: each parent's accounts, 20 a page, at least one page.
    let account_pages = h.sb.with_world(|w| {
        let org = w.organization.as_ref().unwrap();
        let parents = std::iter::once(muster_sandbox::world::Parent::Root).chain(
            org.ous
                .keys()
                .map(|id| muster_sandbox::world::Parent::Ou(id.clone())),
        );
        parents
            .map(|p| (w.accounts_under(&p).count() as u64).div_ceil(20).max(1))
            .sum::<u64>()
    });
    assert_eq!(
        [
            count("securityhub", "DescribeOrganizationConfiguration"),
            count("securityhub", "ListFindingAggregators"),
            count("securityhub", "GetFindingAggregator"),
            count("securityhub", "CreateFindingAggregator"),
            count("securityhub", "UpdateOrganizationConfiguration"),
            count("securityhub", "CreateConfigurationPolicy"),
            count("securityhub", "StartConfigurationPolicyAssociation"),
            count("securityhub", "ListConfigurationPolicies"),
            count("securityhub", "ListConfigurationPolicyAssociations"),
            count("organizations", "ListRoots"),
            count("organizations", "ListOrganizationalUnitsForParent"),
            count("organizations", "ListAccountsForParent"),
        ],
        [1, 1, 0, 1, 1, 3, 4, 0, 0, 1, 1 + n_ous, account_pages]
    );

    // The next pass reads it all back (settled) and plans nothing: every page of 100.
    h.sb.reset_calls();
    let r = h.pass_with(&d, &wide).await;
    assert!(!r.plan.has_changes(), "{:?}", r.plan.central);
    let calls = h.sb.calls();
    let targets = 1 + n_ous + 240;
    assert_eq!(
        calls.count("securityhub", "ListConfigurationPolicyAssociations"),
        targets.div_ceil(100)
    );
    assert_eq!(calls.count("securityhub", "ListConfigurationPolicies"), 1);
    assert_eq!(calls.count("securityhub", "GetConfigurationPolicy"), 3);
    assert_eq!(calls.count("securityhub", "GetFindingAggregator"), 1);

    // Every account's effective policy is the declared one, worked out through the tree.
    h.sb.with_world(|w| {
        use muster_sandbox::central::{Configuration, Target};
        use muster_sandbox::world::Parent;
        let name = |c: &Configuration| match c {
            Configuration::Policy(id) => w.central.policies[id].name.clone(),
            Configuration::SelfManaged => "self-managed".to_owned(),
        };
        let org = w.organization.as_ref().unwrap();
        let chain = |mut p: Parent| {
            let mut out = Vec::new();
            while let Parent::Ou(id) = p {
                out.push(id.clone());
                p = org.ous[&id].parent.clone();
            }
            out
        };
        for a in w.accounts.values() {
            let state = &w.central.states[&Target::Account(a.id.clone())];
            let ous_above = chain(a.parent.clone().unwrap());
            let want = if a.id == self_managed {
                "self-managed"
            } else if ous_above.contains(&ous[2]) {
                "off"
            } else if ous_above.contains(&ous[0]) {
                "strict"
            } else {
                "baseline"
            };
            assert_eq!(name(&state.configuration), want, "{}", a.id);
        }
    });
}

#[tokio::test]
async fn without_the_organization_tree_association_changes_wait_and_the_pass_says_why() {
    let sb = world().await;
    fail_next(
        &sb,
        "organizations",
        "ListRoots",
        10,
        "AccessDeniedException",
    );
    let h = Harness::on(sb, SECURITY).await;
    let r = h.pass(&desired(DESIRED)).await;
    assert_eq!(r.result(), PassResult::Partial);
    let failed: Vec<String> = r
        .observe_failures
        .iter()
        .map(|(t, e)| format!("{t}: {}", e.code()))
        .collect();
    assert_eq!(failed, ["organization: AccessDeniedException"]);
    let c = &r.plan.central[0];
    assert!(c.associate.is_empty());
    assert_eq!(c.held_associations().len(), 3);
    assert_eq!(c.refused(), Some("the organization's tree could not be listed, so what these changes would move cannot be worked out: association changes and policy updates wait for the next pass"));
    // What needs no tree went ahead.
    let writes = central_writes(&h.sb);
    assert_eq!(
        writes[..3],
        [
            ("CreateFindingAggregator".to_owned(), 1),
            ("UpdateOrganizationConfiguration".to_owned(), 1),
            ("CreateConfigurationPolicy".to_owned(), 2)
        ]
    );
    assert_eq!(writes.len(), 3);
}
