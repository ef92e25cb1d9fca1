//! Table-style cases for the plan: one desired state, one observed graph, exact outcome.

use std::time::{Duration, SystemTime};

use super::*;
use crate::desired::parse_files;
use crate::observed::{
    Administration, CentralStatus, HubMember, HubMemberStatus, IngestState, Member, MemberStatus,
    ObservedConfiguration, OrgConfiguration,
};

/// Plans `graphs` at `now`.
fn plan_graphs(
    d: &DesiredState,
    graphs: &[ObservedGraph],
    now: SystemTime,
    s: &PlanSettings,
) -> Plan {
    let observed = Observed {
        graphs,
        ..Observed::at(now)
    };
    plan(d, &observed, s)
}

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

/// Accounts 1 to 4 declared (a@ to d@example.com), prune off.
fn four_declared() -> DesiredState {
    let emails = [
        "a@example.com",
        "b@example.com",
        "c@example.com",
        "d@example.com",
    ];
    let accounts: Vec<(u64, &str)> = (1..).zip(emails).collect();
    desired(&accounts, false)
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
        association_pending_after: Duration::from_secs(3600),
        member_limit: GRAPH_MEMBER_LIMIT,
    }
}

fn run(d: &DesiredState, members: Vec<Member>, s: &PlanSettings) -> GraphPlan {
    let observed = ObservedGraph {
        arn: GraphArn::parse(GRAPH).unwrap(),
        members,
    };
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(30 * 86_400);
    plan_graphs(d, &[observed], now, s).graphs.remove(0)
}

/// Prune was refused for exactly this reason.
fn assert_refused(got: &Option<String>, why: &str) {
    assert_eq!(got.as_deref(), Some(why));
}

fn kinds(p: &GraphPlan) -> Vec<(DriftKind, String)> {
    p.drift.iter().map(|d| (d.kind, d.account_name())).collect()
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
    let d = four_declared();
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
    assert_refused(&refused.prune_refused, "pruning would remove 2 members, more than max_removals_per_pass (1); remove them by hand or raise the limit");

    let empty = run(&desired(&[], true), observed(), &settings());
    assert!(empty.remove.is_empty());
    assert_refused(
        &empty.prune_refused,
        "the desired state declares no accounts; muster never prunes a graph to empty",
    );
}

#[test]
fn invitations_past_the_member_limit_are_blocked_not_sent() {
    let d = four_declared();
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
    let together = plan_graphs(&d, &graphs, now, &settings());
    let one_by_one: Vec<GraphPlan> = graphs
        .iter()
        .map(|g| {
            plan_graphs(&d, std::slice::from_ref(g), now, &settings())
                .graphs
                .remove(0)
        })
        .collect();
    assert_eq!(together.graphs, one_by_one);
}

fn hub_desired(accounts: &[u64], prune: bool) -> DesiredState {
    let mut text = String::from("version: 1\naccounts:\n");
    for n in accounts {
        text += &format!("  - {{id: \"{n:012}\", email: a{n}@example.com}}\n");
    }
    text += &format!("securityhub:\n  regions: [eu-west-1]\n  prune: {prune}\n");
    parse_files(&[("d.yaml".into(), text)]).unwrap()
}

fn hub_member(n: u64, status: HubMemberStatus, updated_days: u64) -> HubMember {
    HubMember {
        account_id: id(n),
        email: None,
        status,
        administrator: None,
        updated_at: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(updated_days * 86_400)),
    }
}

fn hub_run(d: &DesiredState, members: Vec<HubMember>, org: Option<&[u64]>) -> HubPlan {
    hub_run_blocked(d, members, org, None)
}

/// A hub plan with the organization's accounts `org` known, as the organization's Security
/// Hub administrator in the region.
fn hub_run_blocked(
    d: &DesiredState,
    members: Vec<HubMember>,
    org: Option<&[u64]>,
    prune_blocked: Option<&str>,
) -> HubPlan {
    let admin = Administration::Administrator(OrgConfiguration::default());
    hub_run_as(d, members, org, prune_blocked, Some(admin))
}

fn hub_run_as(
    d: &DesiredState,
    members: Vec<HubMember>,
    org: Option<&[u64]>,
    prune_blocked: Option<&str>,
    relationship: Option<Administration<OrgConfiguration>>,
) -> HubPlan {
    let observed = ObservedHub {
        service: Service::SecurityHub,
        region: Region::parse("eu-west-1").unwrap(),
        members,
        organization: relationship,
    };
    let org: Option<BTreeSet<AccountId>> = org.map(|o| o.iter().map(|n| id(*n)).collect());
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(30 * 86_400);
    let observed = Observed {
        hubs: &[observed],
        organization: org.as_ref(),
        prune_blocked,
        ..Observed::at(now)
    };
    plan(d, &observed, &settings()).hubs.remove(0)
}

#[test]
fn security_hub_creates_missing_members_and_invites_only_accounts_outside_the_organization() {
    let d = hub_desired(&[1, 2, 3, 4], false);
    let p = hub_run(
        &d,
        vec![hub_member(4, HubMemberStatus::Enabled, 0)],
        Some(&[1, 2]),
    );
    assert_eq!(
        p.create
            .iter()
            .map(|(a, _)| a.to_string())
            .collect::<Vec<_>>(),
        ["000000000001", "000000000002", "000000000003"]
    );
    assert_eq!(p.invite, vec![id(3)]);
    assert_eq!(p.target().to_string(), "securityhub:eu-west-1");
    // Without the organization known, every account created is invited.
    let p = hub_run(&d, vec![], None);
    assert_eq!(p.invite.len(), 4);
}

#[test]
fn security_hub_invites_organization_accounts_unless_muster_is_the_organizations_administrator() {
    let d = hub_desired(&[1, 2, 3], false);
    let refused = Administration::NotAdministrator("not an administrator".into());
    for relationship in [None, Some(refused)] {
        let p = hub_run_as(&d, vec![], Some(&[1, 2]), None, relationship.clone());
        assert_eq!(p.create.len(), 3);
        assert_eq!(p.invite, [id(1), id(2), id(3)], "{relationship:?}");
    }
    let admin = Administration::Administrator(OrgConfiguration::default());
    let p = hub_run_as(&d, vec![], Some(&[1, 2]), None, Some(admin));
    assert_eq!(p.invite, [id(3)]);
}

#[test]
fn security_hub_statuses_map_to_drift_and_only_some_to_action() {
    let d = hub_desired(&[1, 2, 3, 4, 5, 6, 7, 8], false);
    let p = hub_run(
        &d,
        vec![
            hub_member(1, HubMemberStatus::Created, 29),
            hub_member(2, HubMemberStatus::Invited, 29),
            hub_member(3, HubMemberStatus::Invited, 1),
            hub_member(4, HubMemberStatus::Enabled, 1),
            hub_member(5, HubMemberStatus::Removed, 1),
            hub_member(6, HubMemberStatus::Resigned, 1),
            hub_member(7, HubMemberStatus::Deleted, 1),
            hub_member(8, HubMemberStatus::AccountSuspended, 1),
            hub_member(9, HubMemberStatus::Enabled, 1),
        ],
        Some(&[5, 7]),
    );
    let kinds: Vec<(DriftKind, String)> =
        p.drift.iter().map(|d| (d.kind, d.account_name())).collect();
    assert_eq!(
        kinds,
        vec![
            (DriftKind::NotInvited, "000000000001".into()),
            (DriftKind::PendingTooLong, "000000000003".into()),
            (DriftKind::Removed, "000000000005".into()),
            (DriftKind::Resigned, "000000000006".into()),
            (DriftKind::Missing, "000000000007".into()),
            (DriftKind::AccountSuspended, "000000000008".into()),
            (DriftKind::Undeclared, "000000000009".into()),
        ]
    );
    // Removed and Deleted organization accounts are created again, not invited; Created is
    // invited; resigned, suspended and pending ones are left to the member.
    assert_eq!(
        p.create.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
        [id(5), id(7)]
    );
    assert_eq!(p.invite, vec![id(1)]);
    assert!(p.remove.is_empty(), "prune is off");
}

#[test]
fn security_hub_prune_has_the_same_guards() {
    let members = vec![
        hub_member(8, HubMemberStatus::Enabled, 1),
        hub_member(9, HubMemberStatus::Enabled, 1),
    ];
    let p = hub_run(&hub_desired(&[1], true), members.clone(), Some(&[1]));
    assert_eq!(p.remove, vec![id(8), id(9)]);
    let p = hub_run_blocked(
        &hub_desired(&[1], true),
        members.clone(),
        Some(&[1]),
        Some("the organization could not be listed"),
    );
    assert!(p.remove.is_empty());
    assert_refused(&p.prune_refused, "the organization could not be listed");
    let mut three = members.clone();
    three.push(hub_member(10, HubMemberStatus::Enabled, 1));
    let p = hub_run(&hub_desired(&[1], true), three, Some(&[1]));
    assert!(p.remove.is_empty(), "more than max_removals_per_pass (2)");
    let empty = parse_files(&[(
        "d.yaml".into(),
        "version: 1\naccounts: []\nsecurityhub: {regions: [eu-west-1], prune: true}\n".into(),
    )])
    .unwrap();
    let p = hub_run(&empty, members, None);
    assert_refused(
        &p.prune_refused,
        "the desired state declares no accounts; muster never prunes a Security Hub to empty",
    );
}

#[test]
fn the_administrator_is_never_planned_as_its_own_member() {
    // GRAPH's administrator is 111111111111.
    let d = desired(
        &[(111_111_111_111, "admin@example.com"), (2, "b@example.com")],
        false,
    );
    let p = run(&d, vec![], &settings());
    assert_eq!(p.invite.len(), 1);
    assert_eq!(p.invite[0].0, id(2));
    assert!(p
        .drift
        .iter()
        .all(|d| d.account != Some(id(111_111_111_111))));
    let d = hub_desired(&[7, 8], false);
    let mut m = hub_member(8, HubMemberStatus::Enabled, 1);
    m.administrator = Some(id(7));
    let p = hub_run(&d, vec![m], None);
    assert!(p.create.is_empty() && p.drift.is_empty(), "{p:?}");
}

#[test]
fn a_graph_listing_its_administrator_never_makes_it_undeclared() {
    let d = desired(&[(2, "b@example.com")], true);
    let admin = member(111_111_111_111, "admin@example.com", MemberStatus::Enabled);
    let p = run(
        &d,
        vec![admin, member(2, "b@example.com", MemberStatus::Enabled)],
        &settings(),
    );
    assert!(p.remove.is_empty() && p.drift.is_empty(), "{p:?}");
}

fn configuration_desired(extra: &str) -> DesiredState {
    let text = format!(
        "version: 1\naccounts:\n  - {{id: \"000000000001\", email: a1@example.com}}\n  - {{id: \"000000000002\", email: a2@example.com}}\n{extra}"
    );
    parse_files(&[("d.yaml".into(), text)]).unwrap()
}

fn configuration_run(
    d: &DesiredState,
    c: ObservedConfiguration,
    delegations: &BTreeMap<Service, Vec<AccountId>>,
) -> ConfigurationPlan {
    let observed = Observed {
        delegations,
        configurations: std::slice::from_ref(&c),
        ..Observed::at(SystemTime::UNIX_EPOCH)
    };
    plan(d, &observed, &settings()).configurations.remove(0)
}

/// The plan of a Security Hub configuration read as `org`, no delegated administrator listed.
fn hub_configuration_run(
    d: &DesiredState,
    org: Option<Administration<OrgConfiguration>>,
) -> ConfigurationPlan {
    configuration_run(
        d,
        configuration(Service::SecurityHub, org),
        &BTreeMap::new(),
    )
}

fn configuration(
    service: Service,
    org: Option<Administration<OrgConfiguration>>,
) -> ObservedConfiguration {
    ObservedConfiguration {
        service,
        region: Region::parse("eu-west-1").unwrap(),
        graph: GraphArn::parse(GRAPH).filter(|_| service == Service::Detective),
        organization: org,
        packages: None,
        members: Default::default(),
    }
}

fn configuration_kinds_of(p: &ConfigurationPlan) -> Vec<(DriftKind, String)> {
    p.drift.iter().map(|d| (d.kind, d.account_name())).collect()
}

#[test]
fn a_delegated_administrator_other_than_the_declared_one_is_reported_never_changed() {
    let d = configuration_desired("organization:\n  delegated_administrator: \"000000000009\"\nsecurityhub:\n  regions: [eu-west-1]\n");
    let c = || configuration(Service::SecurityHub, None);
    for (holders, detail) in [
        (vec![id(8)], "the organization's Security Hub delegated administrator is 000000000008, not 000000000009 as declared: another account holds the organization's security data (designating one takes the management account; muster changes nothing)"),
        (vec![], "the organization has no Security Hub delegated administrator; 000000000009 is declared (designating one takes the management account; muster changes nothing)"),
    ] {
        let delegations = BTreeMap::from([(Service::SecurityHub, holders)]);
        let p = configuration_run(&d, c(), &delegations);
        assert_eq!(configuration_kinds_of(&p), [(DriftKind::DelegatedAdministratorMismatch, "000000000009".into())]);
        assert_eq!(p.drift[0].detail, detail);
        assert!(!p.has_changes());
    }
    let delegations = BTreeMap::from([(Service::SecurityHub, vec![id(9)])]);
    assert!(configuration_run(&d, c(), &delegations).drift.is_empty());
}

/// Security Hub's configuration as its administrator reads it.
fn have(
    auto_enable: bool,
    standards: &str,
    central: bool,
    limit: bool,
) -> Option<Administration<OrgConfiguration>> {
    Some(Administration::Administrator(OrgConfiguration {
        auto_enable,
        standards: Some(standards.into()),
        member_limit_reached: limit,
        configuration: CentralStatus {
            central,
            ..CentralStatus::default()
        },
    }))
}

#[test]
fn auto_enable_is_set_where_muster_is_the_administrator_and_never_under_central_configuration() {
    let d = configuration_desired("securityhub:\n  regions: [eu-west-1]\n  organization: {auto_enable: true, auto_enable_standards: NONE}\n");
    let p = hub_configuration_run(&d, have(false, "DEFAULT", false, true));
    assert_eq!(
        configuration_kinds_of(&p),
        [
            (DriftKind::AutoEnableOff, String::new()),
            (DriftKind::AutoEnableStandardsMismatch, String::new()),
            (DriftKind::MemberLimitReached, String::new()),
        ]
    );
    assert_eq!(
        p.set,
        Some(SetAutoEnable {
            auto_enable: true,
            standards: Some(crate::desired::Standards::None)
        })
    );
    assert_eq!(
        p.target().to_string(),
        "securityhub-configuration:eu-west-1"
    );
    let p = hub_configuration_run(&d, have(false, "NONE", true, false));
    assert_eq!(
        configuration_kinds_of(&p),
        [(DriftKind::CentralConfiguration, String::new())]
    );
    assert_eq!(
        p.set, None,
        "central configuration is reported, never fought"
    );
    let p = hub_configuration_run(&d, have(true, "NONE", false, false));
    assert!(p.drift.is_empty() && !p.has_changes());
}

#[test]
fn auto_enable_declared_off_is_set_off_and_standards_not_declared_are_not_sent() {
    let off = configuration_desired(
        "securityhub:\n  regions: [eu-west-1]\n  organization: {auto_enable: false}\n",
    );
    let p = hub_configuration_run(&off, have(true, "DEFAULT", false, false));
    assert_eq!(
        configuration_kinds_of(&p),
        [(DriftKind::AutoEnableOn, String::new())]
    );
    assert_eq!(
        p.set,
        Some(SetAutoEnable {
            auto_enable: false,
            standards: None
        }),
        "standards not declared: not sent"
    );
    let refused = Some(Administration::NotAdministrator(
        "Account 1 is not an administrator".into(),
    ));
    let p = hub_configuration_run(&off, refused);
    assert_eq!(
        configuration_kinds_of(&p),
        [(DriftKind::DelegatedAdministratorMismatch, String::new())]
    );
    assert_eq!(p.set, None);
}

#[test]
fn declared_packages_are_started_and_members_whose_data_does_not_flow_are_reported() {
    use crate::domain::Package;
    let d = configuration_desired(&format!("detective:\n  graphs: [{{arn: \"{GRAPH}\"}}]\n  datasource_packages: [EKS_AUDIT]\n  organization: {{auto_enable: true}}\n"));
    let mut c = configuration(
        Service::Detective,
        Some(Administration::Administrator(OrgConfiguration {
            auto_enable: true,
            ..OrgConfiguration::default()
        })),
    );
    c.packages = Some(BTreeMap::from([
        (Package::DetectiveCore, IngestState::Started),
        (Package::EksAudit, IngestState::Stopped),
        (Package::AsffSecurityhubFinding, IngestState::Stopped),
    ]));
    let started = BTreeMap::from([
        (Package::DetectiveCore, IngestState::Started),
        (Package::EksAudit, IngestState::Started),
    ]);
    c.members = BTreeMap::from([
        (id(1), started.clone()),
        (
            id(2),
            BTreeMap::from([(Package::DetectiveCore, IngestState::Started)]),
        ),
    ]);
    let p = configuration_run(&d, c.clone(), &BTreeMap::new());
    assert_eq!(
        p.start,
        [Package::EksAudit],
        "only declared packages; ASFF is not declared"
    );
    assert_eq!(
        configuration_kinds_of(&p),
        [(DriftKind::DatasourcePackageDisabled, String::new())],
        "a member is not blamed for a package the graph has stopped"
    );
    assert_eq!(p.drift[0].detail, "EKS_AUDIT is STOPPED: starting (UpdateDatasourcePackages; a started package is billed, and muster never stops one)");
    c.packages
        .as_mut()
        .unwrap()
        .insert(Package::EksAudit, IngestState::Started);
    let p = configuration_run(&d, c, &BTreeMap::new());
    assert!(p.start.is_empty());
    assert_eq!(
        configuration_kinds_of(&p),
        [(DriftKind::DatasourceNotIngesting, "000000000002".into())]
    );
    assert_eq!(p.drift[0].detail, "the member's data does not flow: EKS_AUDIT is not listed (only the member account can fix it)");
}
