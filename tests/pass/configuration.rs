//! The organization's own settings as desired state, through the real SDK clients against the
//! sandbox: the delegated administrator, AutoEnable and standards, central configuration, the
//! member limit, Detective's data-source packages; and the relationship muster learns from
//! Security Hub before it decides whether organization accounts need an invitation.

use muster::apply::{Change, Outcome};
use muster::desired::{parse_files, DesiredState};
use muster::domain::Service;
use muster::eventlog::EventKind;
use muster::plan::GRAPH_MEMBER_LIMIT;
use muster::reconcile::{PassReport, PassResult};
use muster_sandbox::fixture::{generate, Generate, GENERATED_MANAGEMENT, GENERATED_SECURITY};
use muster_sandbox::world::{graph_arn, AccountState, DetectiveStatus};

use crate::common::*;

const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
/// The writes the organization configuration makes.
const CONFIGURATION_WRITES: [(&str, &str); 3] = [
    ("detective", "UpdateOrganizationConfiguration"),
    ("detective", "UpdateDatasourcePackages"),
    ("securityhub", "UpdateOrganizationConfiguration"),
];
/// The reads only a declared configuration makes (Security Hub's DescribeOrganizationConfiguration
/// is also read for organization accounts, which these desired states do not take).
const CONFIGURATION_READS: [(&str, &str); 5] = [
    ("detective", "DescribeOrganizationConfiguration"),
    ("detective", "ListDatasourcePackages"),
    ("detective", "BatchGetGraphMemberDatasources"),
    ("securityhub", "DescribeOrganizationConfiguration"),
    ("organizations", "ListDelegatedAdministrators"),
];

impl Harness {
    /// A pass that must observe everything: `Ok`, or `Suspended` when `suspend`.
    async fn checked_pass_with(&self, d: &DesiredState, suspend: bool) -> PassReport {
        let r = self.pass_with(d, &options(4, suspend)).await;
        assert!(
            matches!(r.result(), PassResult::Ok | PassResult::Suspended),
            "{:?}",
            r.observe_failures
        );
        r
    }

    async fn checked_pass(&self, d: &DesiredState) -> PassReport {
        self.checked_pass_with(d, false).await
    }

    /// (target, account, kind) of every `drift_observed` (`+`) and `drift_resolved` (`-`) so far
    /// whose kind is one of the organization configuration's.
    fn drift_events(&self) -> Vec<(char, String, String, String)> {
        let configuration = |k: &str| {
            muster::plan::configuration_kinds(Service::Detective)
                .iter()
                .chain(muster::plan::configuration_kinds(Service::SecurityHub))
                .any(|c| c.as_str() == k)
        };
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                EventKind::DriftObserved {
                    graph,
                    account,
                    kind,
                    ..
                } if configuration(&kind) => Some(('+', graph, account, kind)),
                EventKind::DriftResolved {
                    graph,
                    account,
                    kind,
                } if configuration(&kind) => Some(('-', graph, account, kind)),
                _ => None,
            })
            .collect()
    }

    fn count(&self, (service, op): (&str, &str)) -> u64 {
        self.sb.calls().count(service, op)
    }

    fn metrics(&self, d: &DesiredState, r: &PassReport) -> String {
        metrics_after(d, r)
    }
}

fn desired(text: &str) -> DesiredState {
    parse_files(&[("desired.yaml".into(), text.to_owned())]).unwrap()
}

/// The organization account 300000000001 declared, with `sections` after it.
fn payments_prod(sections: &str) -> DesiredState {
    let account = r#"  - {id: "300000000001", email: aws+payments-prod@example.com}"#;
    desired(&format!("version: 1\naccounts:\n{account}\n{sections}"))
}

/// Two organization accounts in both regions of both services, with `extra` in each service's
/// section (`detective: {...}` / `securityhub: {...}` lines) and at the top level.
fn two_accounts(detective: &str, securityhub: &str, top: &str) -> DesiredState {
    desired(&format!(
        r#"version: 1
accounts:
  - {{id: "300000000001", email: aws+payments-prod@example.com}}
  - {{id: "300000000002", email: aws+payments-staging@example.com}}
detective:
  graphs: [{{region: us-east-1}}, {{region: eu-west-1}}]
{detective}securityhub:
  regions: [us-east-1, eu-west-1]
{securityhub}{top}"#
    ))
}

/// Drift events in a fixed order (passes record targets as they answer).
type DriftEvent = (char, String, String, String);
fn sorted(mut v: Vec<DriftEvent>) -> Vec<DriftEvent> {
    v.sort();
    v
}

fn graph_of(region: &str) -> String {
    graph_arn(region, SECURITY)
}

fn gauge(text: &str, service: &str, region: &str, graph: &str, kind: &str) -> String {
    let line = format!(
        "muster_drift{{graph=\"{graph}\",kind=\"{kind}\",region=\"{region}\",service=\"{service}\"}} "
    );
    text.lines()
        .find_map(|l| l.strip_prefix(&line))
        .unwrap_or_else(|| panic!("no {line} in\n{text}"))
        .to_owned()
}

/// Asserts each (service, region, graph, kind, value) drift gauge.
fn gauges_are(text: &str, want: &[(&str, &str, &str, &str, &str)]) {
    for (service, region, graph, kind, value) in want {
        let got = gauge(text, service, region, graph, kind);
        assert_eq!(got, *value, "{service} {region} {graph} {kind}");
    }
}

#[tokio::test]
async fn auto_enable_standards_and_packages_are_seen_recorded_once_set_and_resolved() {
    let h = Harness::new(demo(), SECURITY).await;
    h.sb.with_world(|w| {
        w.settings
            .not_ingesting
            .insert(("300000000001".into(), "ASFF_SECURITYHUB_FINDING"));
        for region in REGIONS {
            let r = w.regions.get_mut(region).unwrap();
            let g = r.graphs.get_mut(&graph_arn(region, SECURITY)).unwrap();
            g.packages
                .insert("EKS_AUDIT", ("STOPPED", std::time::SystemTime::now()));
            assert!(!g.auto_enable && !r.hub_organization.auto_enable);
        }
    });
    let d = two_accounts(
        "  organization: {auto_enable: true}\n  datasource_packages: [EKS_AUDIT, ASFF_SECURITYHUB_FINDING]\n",
        "  organization: {auto_enable: true, auto_enable_standards: NONE}\n",
        "",
    );
    let r = h.checked_pass(&d).await;
    let text = h.metrics(&d, &r);
    let seen: Vec<_> = h.drift_events();
    let mut want = Vec::new();
    for region in REGIONS {
        let (det, hub) = (
            format!("detective-configuration:{region}"),
            format!("securityhub-configuration:{region}"),
        );
        want.push((
            '+',
            det.clone(),
            String::new(),
            "auto_enable_off".to_owned(),
        ));
        want.push((
            '+',
            det,
            String::new(),
            "datasource_package_disabled".to_owned(),
        ));
        want.push((
            '+',
            hub.clone(),
            String::new(),
            "auto_enable_off".to_owned(),
        ));
        want.push((
            '+',
            hub,
            String::new(),
            "auto_enable_standards_mismatch".to_owned(),
        ));
    }
    assert_eq!(sorted(seen), sorted(want.clone()));
    // Each write once per target, made after its intent, counted a setting at a time.
    for (op, n) in CONFIGURATION_WRITES.iter().zip([2, 2, 2]) {
        assert_eq!(h.count(*op), n, "{op:?}");
    }
    assert_eq!(
        r.applied
            .count(Service::Detective, Change::Configure, Outcome::Ok),
        4
    );
    assert_eq!(
        r.applied
            .count(Service::SecurityHub, Change::Configure, Outcome::Ok),
        4
    );
    let intents: Vec<(String, String, Vec<String>)> = h
        .events()
        .into_iter()
        .filter_map(|e| match e {
            EventKind::ActionIntent {
                target,
                action,
                settings,
                accounts,
                ..
            } if target.contains("-configuration:") => {
                assert!(accounts.is_empty());
                Some((target, action, settings))
            }
            _ => None,
        })
        .collect();
    assert_eq!(intents.len(), 6);
    assert!(intents.contains(&(
        "detective-configuration:eu-west-1".into(),
        "UpdateDatasourcePackages".into(),
        vec!["EKS_AUDIT".into()]
    )));
    assert!(intents.contains(&(
        "securityhub-configuration:us-east-1".into(),
        "UpdateOrganizationConfiguration".into(),
        vec!["AutoEnable=true".into(), "AutoEnableStandards=NONE".into()]
    )));
    h.sb.with_world(|w| {
        for region in REGIONS {
            let r = &w.regions[region];
            let g = &r.graphs[&graph_arn(region, SECURITY)];
            assert!(g.auto_enable);
            assert_eq!(g.packages["EKS_AUDIT"].0, "STARTED");
            assert!(r.hub_organization.auto_enable);
            assert_eq!(r.hub_organization.auto_enable_standards, "NONE");
        }
    });
    let (g1, g2) = (graph_of("us-east-1"), graph_of("eu-west-1"));
    // The drift was seen and recorded (above), and this pass's writes resolved it: the gauges
    // show what the writes left, right after the pass.
    gauges_are(
        &text,
        &[
            ("detective", "us-east-1", &g1, "auto_enable_off", "0"),
            (
                "detective",
                "eu-west-1",
                &g2,
                "datasource_package_disabled",
                "0",
            ),
            (
                "securityhub",
                "us-east-1",
                "",
                "auto_enable_standards_mismatch",
                "0",
            ),
            (
                "detective",
                "us-east-1",
                &g1,
                "datasource_not_ingesting",
                "0",
            ),
        ],
    );
    assert!(
        text.contains(
            "muster_changes_total{kind=\"configure\",outcome=\"ok\",service=\"detective\"} 4\n"
        ),
        "{text}"
    );

    // The next pass: what was set is resolved, once; the members (enabled by the first pass)
    // are checked, and the one whose data does not flow is drift no write can fix.
    h.sb.reset_calls();
    let r = h.checked_pass(&d).await;
    let text = h.metrics(&d, &r);
    for op in CONFIGURATION_WRITES {
        assert_eq!(h.count(op), 0, "{op:?}: nothing left to set");
    }
    let after: Vec<_> = h.drift_events().into_iter().skip(want.len()).collect();
    let mut resolved: Vec<_> = want
        .iter()
        .map(|(_, t, a, k)| ('-', t.clone(), a.clone(), k.clone()))
        .collect();
    for region in REGIONS {
        resolved.push((
            '+',
            format!("detective-configuration:{region}"),
            "300000000001".into(),
            "datasource_not_ingesting".into(),
        ));
    }
    assert_eq!(sorted(after), sorted(resolved));
    gauges_are(
        &text,
        &[
            ("detective", "us-east-1", &g1, "auto_enable_off", "0"),
            (
                "detective",
                "us-east-1",
                &g1,
                "datasource_not_ingesting",
                "1",
            ),
        ],
    );
    let detail = r
        .plan
        .configurations
        .iter()
        .flat_map(|c| &c.drift)
        .find(|d| d.kind.as_str() == "datasource_not_ingesting")
        .unwrap();
    assert_eq!(detail.detail, "the member's data does not flow: ASFF_SECURITYHUB_FINDING is STOPPED (only the member account can fix it)");
    // Two declared ENABLED members in each graph: one BatchGetGraphMemberDatasources each.
    assert_eq!(h.count(("detective", "BatchGetGraphMemberDatasources")), 2);

    // Recorded once: a third pass records no configuration drift again.
    let before = h.drift_events().len();
    h.checked_pass(&d).await;
    assert_eq!(h.drift_events().len(), before);
}

#[tokio::test]
async fn central_configuration_the_member_limit_and_another_delegated_administrator_are_reported_not_fought(
) {
    let h = Harness::new(demo(), SECURITY).await;
    h.sb.with_world(|w| {
        let o = &mut w.regions.get_mut("us-east-1").unwrap().hub_organization;
        (o.configuration_type, o.auto_enable, o.auto_enable_standards) = ("CENTRAL", false, "NONE");
        o.member_account_limit = 0;
    });
    let text = |admin: &str| {
        payments_prod(&format!(
            r#"organization:
  delegated_administrator: "{admin}"
securityhub:
  regions: [us-east-1]
  organization: {{auto_enable: true}}
"#
        ))
    };
    // 222222222223 (log-archive) is declared; the organization's administrator is 222222222222.
    let d = text("222222222223");
    let r = h.checked_pass(&d).await;
    let hub = "securityhub-configuration:us-east-1".to_owned();
    let want = vec![
        (
            '+',
            hub.clone(),
            String::new(),
            "central_configuration".to_owned(),
        ),
        (
            '+',
            hub.clone(),
            String::new(),
            "member_limit_reached".to_owned(),
        ),
        (
            '+',
            hub.clone(),
            "222222222223".to_owned(),
            "delegated_administrator_mismatch".to_owned(),
        ),
    ];
    assert_eq!(sorted(h.drift_events()), sorted(want.clone()));
    assert_eq!(
        h.count(("securityhub", "UpdateOrganizationConfiguration")),
        0,
        "central configuration is never fought"
    );
    assert_eq!(h.count(("organizations", "ListDelegatedAdministrators")), 1);
    assert_eq!(r.plan.configurations[0].set, None);
    let mismatch = r.plan.configurations[0]
        .drift
        .iter()
        .find(|d| d.kind.as_str() == "delegated_administrator_mismatch")
        .unwrap();
    assert_eq!(mismatch.detail, "the organization's Security Hub delegated administrator is 222222222222, not 222222222223 as declared: another account holds the organization's security data (designating one takes the management account; muster changes nothing)");
    let metrics = h.metrics(&d, &r);
    for kind in [
        "central_configuration",
        "member_limit_reached",
        "delegated_administrator_mismatch",
    ] {
        assert_eq!(
            gauge(&metrics, "securityhub", "us-east-1", "", kind),
            "1",
            "{kind}"
        );
    }

    // The organization leaves central configuration and raises the limit; the declaration is
    // corrected: all three resolve, and AutoEnable (now muster's to set) is set.
    h.sb.with_world(|w| {
        let o = &mut w.regions.get_mut("us-east-1").unwrap().hub_organization;
        o.configuration_type = "LOCAL";
        o.member_account_limit = 10_000;
    });
    let d = text("222222222222");
    let r = h.checked_pass(&d).await;
    let after: Vec<_> = h.drift_events().into_iter().skip(3).collect();
    let mut expected: Vec<_> = want
        .iter()
        .map(|(_, t, a, k)| ('-', t.clone(), a.clone(), k.clone()))
        .collect();
    expected.push((
        '+',
        hub.clone(),
        String::new(),
        "auto_enable_off".to_owned(),
    ));
    assert_eq!(sorted(after), sorted(expected));
    assert_eq!(
        h.count(("securityhub", "UpdateOrganizationConfiguration")),
        1
    );
    assert_eq!(
        r.applied
            .count(Service::SecurityHub, Change::Configure, Outcome::Ok),
        1
    );
}

#[tokio::test]
async fn not_being_the_organizations_administrator_is_reported_where_its_configuration_is_declared()
{
    let h = Harness::new(demo(), MANAGEMENT).await;
    let d = payments_prod(
        "securityhub:\n  regions: [us-east-1]\n  organization: {auto_enable: true}\n",
    );
    let r = h.checked_pass(&d).await;
    assert_eq!(
        h.drift_events(),
        [(
            '+',
            "securityhub-configuration:us-east-1".into(),
            String::new(),
            "delegated_administrator_mismatch".into()
        )]
    );
    assert_eq!(
        h.count(("securityhub", "UpdateOrganizationConfiguration")),
        0
    );
    let drift = &r.plan.configurations[0].drift[0];
    assert_eq!(drift.detail, "muster's account is not the organization's Security Hub administrator in us-east-1 (Account 111111111111 is not an administrator for this organization): its organization configuration cannot be checked or set; run muster as the delegated administrator");
}

#[tokio::test]
async fn suspend_makes_none_of_the_new_writes_and_a_second_apply_makes_none_either() {
    let h = Harness::new(demo(), SECURITY).await;
    h.sb.with_world(|w| {
        let g = graph_in(w, "us-east-1", SECURITY);
        g.packages
            .insert("EKS_AUDIT", ("DISABLED", std::time::SystemTime::now()));
    });
    let d = two_accounts(
        "  organization: {auto_enable: true}\n  datasource_packages: [EKS_AUDIT]\n",
        "  organization: {auto_enable: true}\n",
        "",
    );
    let r = h.checked_pass_with(&d, true).await;
    assert!(r.plan.has_changes());
    for op in CONFIGURATION_WRITES {
        assert_eq!(h.count(op), 0, "{op:?} while suspended");
    }
    let shown = muster::report::plan_text(&r.plan, &d, &r.observe_failures, false);
    assert!(shown.contains("detective-configuration:us-east-1\n  ~ set     AutoEnable=true  (UpdateOrganizationConfiguration)\n  ~ start   EKS_AUDIT  (UpdateDatasourcePackages: a started package is billed; muster starts declared packages and never stops one)\n"), "{shown}");
    assert!(shown.contains("securityhub-configuration:eu-west-1\n  ~ set     AutoEnable=true  (UpdateOrganizationConfiguration)\n"), "{shown}");
    // Both graphs (the demo has EKS_AUDIT stopped in every graph): AutoEnable and EKS_AUDIT;
    // both hubs: AutoEnable.
    assert!(
        shown.contains("organization configuration: 6 setting(s) to change\n"),
        "{shown}"
    );

    h.checked_pass(&d).await;
    assert_eq!(h.count(("detective", "UpdateOrganizationConfiguration")), 2);
    assert_eq!(h.count(("detective", "UpdateDatasourcePackages")), 2);
    assert_eq!(
        h.count(("securityhub", "UpdateOrganizationConfiguration")),
        2
    );
    h.sb.reset_calls();
    let r = h.checked_pass(&d).await;
    assert!(!r.plan.has_changes(), "{:?}", r.plan.configurations);
    for op in CONFIGURATION_WRITES {
        assert_eq!(h.count(op), 0, "{op:?} on the second apply");
    }
}

#[tokio::test]
async fn a_declared_organization_section_reads_the_fewest_calls_and_none_without_it() {
    // 1,200 declared members, all ENABLED, in the us-east-1 graph.
    let h = Harness::new(demo(), SECURITY).await;
    let ids: Vec<String> = (0..GRAPH_MEMBER_LIMIT)
        .map(|i| format!("{:012}", 600_000_000_000u64 + i as u64))
        .collect();
    h.sb.with_world(|w| {
        let g = graph_in(w, "us-east-1", SECURITY);
        for id in &ids {
            let email = format!("aws+{id}@example.com");
            let enabled = graph_member(id, &email, DetectiveStatus::Enabled);
            g.members.insert(id.clone(), enabled);
        }
        // The fixture's stray member of that graph goes, so that the graph has exactly these.
        g.members.retain(|id, _| id.starts_with('6'));
    });
    let text = |sections: &str| {
        let mut t = String::from("version: 1\naccounts:\n");
        for id in &ids {
            t += &format!("  - {{id: \"{id}\", email: aws+{id}@example.com}}\n");
        }
        t += "detective:\n  graphs: [{region: us-east-1}]\n";
        t += sections;
        desired(&t)
    };
    let plain = text("");
    h.checked_pass(&plain).await;
    for op in CONFIGURATION_READS {
        assert_eq!(h.count(op), 0, "{op:?} without an organization section");
    }
    h.sb.reset_calls();
    let declared =
        text("  organization: {auto_enable: false}\n  datasource_packages: [DETECTIVE_CORE]\n");
    let r = h.checked_pass(&declared).await;
    assert!(
        r.plan.configurations[0].drift.is_empty(),
        "{:?}",
        r.plan.configurations
    );
    for (op, n) in CONFIGURATION_READS.iter().zip([1, 1, 6, 0, 0]) {
        assert_eq!(h.count(*op), n, "{op:?}");
    }
    let sizes: Vec<usize> = (call_accounts(&h.sb, "BatchGetGraphMemberDatasources").iter())
        .map(Vec::len)
        .collect();
    assert_eq!(sizes, vec![200; 6]);
}

/// The regression of issue 12: organization root expansion, 2 regions, 60 accounts. Run as the
/// management account, the accounts created stay `Created` unless invited in the same pass;
/// run as the delegated administrator they are enabled by CreateMembers alone. Either way the
/// plan right after the apply is empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_accounts_are_invited_unless_muster_is_the_delegated_administrator() {
    let world = || {
        generate(&Generate {
            accounts: 60,
            regions: REGIONS.map(String::from).to_vec(),
            seed: 12,
        })
    };
    let f = world();
    // The root expansion: every ACTIVE organization account but the management account.
    let n = f
        .world
        .accounts
        .values()
        .filter(|a| {
            a.parent.is_some() && a.state == AccountState::Active && a.id != GENERATED_MANAGEMENT
        })
        .count();
    assert!(
        (51..=60).contains(&n),
        "more than one batch per region: {n}"
    );
    let dir = scratch("invite-regression");
    std::fs::create_dir_all(&dir).unwrap();
    let desired = dir.join("desired.yaml");
    std::fs::write(&desired, "version: 1\norganization:\n  include: [{root: true}]\nsecurityhub:\n  regions: [us-east-1, eu-west-1]\n").unwrap();
    let desired = desired.to_str().unwrap();
    for (caller, invites) in [(GENERATED_MANAGEMENT, true), (GENERATED_SECURITY, false)] {
        let sb = start(world()).await;
        let ep = sb.endpoint();
        let state = dir.join(format!("state-{caller}"));
        let out = muster_output(
            &ep,
            caller,
            &[
                "apply",
                "--desired-state",
                desired,
                "--state-dir",
                state.to_str().unwrap(),
            ],
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{caller}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let calls = sb.calls();
        // The delegated administrator is among the organization's accounts: its own
        // CreateMembers entry comes back unprocessed, in the same calls.
        let batches = 2 * n.div_ceil(50) as u64;
        assert_eq!(
            calls.count("securityhub", "CreateMembers"),
            batches,
            "{caller}"
        );
        assert_eq!(
            calls.count("securityhub", "InviteMembers"),
            if invites { batches } else { 0 },
            "{caller}"
        );
        assert_eq!(
            calls.count("securityhub", "DescribeOrganizationConfiguration"),
            2,
            "{caller}"
        );
        let statuses: std::collections::BTreeSet<&str> = sb.with_world(|w| {
            REGIONS
                .iter()
                .flat_map(|r| {
                    w.regions[*r]
                        .hub_members
                        .get(caller)
                        .into_iter()
                        .flat_map(|m| m.values())
                })
                .map(|m| m.status.as_str())
                .collect()
        });
        assert_eq!(
            statuses,
            [if invites { "Invited" } else { "Enabled" }].into(),
            "{caller}"
        );
        let out = muster_output(&ep, caller, &["plan", "--desired-state", desired]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{caller}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn the_delegated_administrator_alone_is_one_listing_and_no_configuration_read() {
    let h = Harness::new(demo(), SECURITY).await;
    let d = payments_prod(
        r#"organization:
  delegated_administrator: "222222222222"
securityhub:
  regions: [us-east-1, eu-west-1]
"#,
    );
    let r = h.checked_pass(&d).await;
    assert_eq!(h.count(("organizations", "ListDelegatedAdministrators")), 1);
    assert_eq!(
        h.count(("securityhub", "DescribeOrganizationConfiguration")),
        0
    );
    assert_eq!(
        r.plan.configurations.len(),
        2,
        "a configuration target per region"
    );
    assert!(h.drift_events().is_empty(), "{:?}", h.drift_events());
}
