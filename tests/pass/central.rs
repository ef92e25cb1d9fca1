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
    assert_eq!(r.plan.central[0].associate[0].reduces.len(), 12);
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
