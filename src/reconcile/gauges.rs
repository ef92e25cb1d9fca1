//! What a pass's gauges show, decided once: a plain struct built from the pass report, which
//! `metrics` only writes out. Per target: members by status, drift by kind, accounts declared
//! and, for graphs, how full they are; the organization listing in use; the member side's
//! invitations; and the changes made. Labels come from small fixed sets, never an account id
//! or an email.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use super::{OrgStatus, PassReport};
use crate::apply::{ApplyReport, Change, Outcome, Settled};
use crate::desired::{DesiredState, GraphRef};
use crate::domain::{AccountId, Region, Service, Shape, Target};
use crate::eventlog::Projection;
use crate::observed::{HubMemberStatus, InvitationStatus, MemberStatus};
use crate::plan::{configuration_kinds, drift_kinds, Drift, DriftKind, CENTRAL_KINDS};

/// The series of one target: labels `service`, `region`, `graph` (empty for a Security Hub).
#[derive(Debug, Clone, PartialEq)]
pub struct TargetGauges {
    pub service: Service,
    pub region: String,
    pub graph: String,
    pub declared: i64,
    /// Members by `status`, every status of the service.
    pub members: Vec<(&'static str, i64)>,
    /// Drift by `kind`, every kind of the service.
    pub drift: Vec<(&'static str, i64)>,
    /// By `kind`, every kind of `drift`: when the oldest open drift of that kind was first
    /// observed (Unix milliseconds), `None` when there is none.
    pub oldest: Vec<(&'static str, Option<u64>)>,
    /// Detective: members as a fraction of the graph's member limit, and the highest
    /// PercentOfGraphUtilization among them as a fraction.
    pub utilization: Option<(f64, f64)>,
}

/// The organization listing in use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrgGauges {
    pub stale: bool,
    pub accounts: i64,
    /// Unix time of the listing in use (0 when there is none).
    pub listed: f64,
}

/// Everything a pass sets.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Gauges {
    pub targets: Vec<TargetGauges>,
    /// The graphs and Security Hub regions the desired state names, observed or not: a target
    /// that could not be observed keeps its last values while it is named.
    named_graphs: Vec<GraphRef>,
    named_hubs: Vec<(Service, Region)>,
    pub org: Option<OrgGauges>,
    /// Member side: invitations by (service, region, administrator, status), every watched
    /// combination, 0 included.
    pub invitations: Option<Vec<([String; 4], i64)>>,
    /// Accounts changed, by (service, kind, outcome).
    pub changes: Vec<((Service, Change, Outcome), u64)>,
    /// Changes a guard refused this pass, by (service, guard): `prune` (members) or
    /// `central_configuration` (associations and policy updates).
    pub refusals: Vec<((Service, &'static str), u64)>,
}

/// Every `status` label value of a service's members.
pub fn status_labels(service: Service) -> &'static [&'static str] {
    match service.shape() {
        Shape::Graphs => &MemberStatus::LABELS,
        Shape::Hub => &HubMemberStatus::LABELS,
    }
}

/// Detective's changes, exported from the first pass on even at 0.
const ALWAYS: [(Change, Outcome); 7] = [
    (Change::Invite, Outcome::Ok),
    (Change::Remove, Outcome::Ok),
    (Change::Invite, Outcome::Unprocessed),
    (Change::Remove, Outcome::Unprocessed),
    (Change::Invite, Outcome::Failed),
    (Change::Remove, Outcome::Failed),
    (Change::Invite, Outcome::QuotaBlocked),
];

fn drift_by_kind(service: Service, drift: Option<&[Drift]>) -> Vec<(&'static str, i64)> {
    count_kinds(drift_kinds(service), drift)
}

/// Drift by kind of `kinds`, every kind, 0 included.
fn count_kinds(kinds: &[DriftKind], drift: Option<&[Drift]>) -> Vec<(&'static str, i64)> {
    kinds
        .iter()
        .map(|kind| {
            let n = drift.map_or(0, |d| d.iter().filter(|d| d.kind == *kind).count());
            (kind.as_str(), n as i64)
        })
        .collect()
}

/// How many of `of` are each of `labels` (every label, 0 included), in one walk.
fn count_by(
    labels: &[&'static str],
    of: impl Iterator<Item = &'static str>,
) -> Vec<(&'static str, i64)> {
    let mut counts: Vec<(&'static str, i64)> = labels.iter().map(|l| (*l, 0)).collect();
    for label in of {
        if let Some((_, n)) = counts.iter_mut().find(|(l, _)| *l == label) {
            *n += 1;
        }
    }
    counts
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

impl Gauges {
    /// What `report`, a pass over `desired`, sets.
    pub fn of(desired: &DesiredState, report: &PassReport) -> Gauges {
        let declared = report.effective.as_ref().unwrap_or(desired).accounts.len();
        let declared = i64::try_from(declared).unwrap_or(i64::MAX);
        let mut targets = Vec::new();
        for g in &report.found.graphs {
            let plan = report.plan.graphs.iter().find(|p| p.graph == g.arn);
            let limit = plan.map_or(crate::plan::GRAPH_MEMBER_LIMIT, |p| p.member_limit);
            let volume = g
                .members
                .iter()
                .filter_map(|m| m.percent_of_graph_utilization)
                .fold(0.0_f64, f64::max);
            let target = Target::Graph(g.arn.clone());
            let after = After::of(&report.applied, &target);
            let listed = g.members.iter().map(|m| (m.account_id, m.status.label()));
            let statuses = after.statuses(listed);
            let members = statuses.len();
            let drift = plan.map(|p| after.drift(&p.drift));
            let region = g.arn.region();
            targets.push(TargetGauges {
                service: Service::Detective,
                region: region.to_string(),
                graph: g.arn.to_string(),
                declared,
                members: count_by(&MemberStatus::LABELS, statuses.into_iter()),
                drift: [
                    drift_by_kind(Service::Detective, drift.as_deref()),
                    settings_drift(report, Service::Detective, &region),
                ]
                .concat(),
                oldest: oldest(report, &target, Service::Detective, &region),
                utilization: Some((members as f64 / limit.max(1) as f64, volume / 100.0)),
            });
        }
        for h in &report.found.hubs {
            let same = |p: &&crate::plan::HubPlan| p.service == h.service && p.region == h.region;
            let plan = report.plan.hubs.iter().find(same);
            let target = Target::Hub(h.service, h.region.clone());
            let after = After::of(&report.applied, &target);
            let listed = h.members.iter().map(|m| (m.account_id, m.status.label()));
            let statuses = after.statuses(listed);
            let drift = plan.map(|p| after.drift(&p.drift));
            targets.push(TargetGauges {
                service: h.service,
                region: h.region.to_string(),
                graph: String::new(),
                declared,
                members: count_by(&HubMemberStatus::LABELS, statuses.into_iter()),
                drift: [
                    drift_by_kind(h.service, drift.as_deref()),
                    settings_drift(report, h.service, &h.region),
                ]
                .concat(),
                oldest: oldest(report, &target, h.service, &h.region),
                utilization: None,
            });
        }
        Gauges {
            targets,
            named_graphs: desired.detective.graphs.clone(),
            named_hubs: (desired.hubs.iter())
                .flat_map(|(s, h)| h.regions.iter().map(|r| (*s, r.clone())))
                .collect(),
            org: org(report),
            invitations: desired.member.as_ref().map(|m| {
                let expected = &m.expected_administrators;
                invitations(&m.watched(), report, |a| expected.contains(a))
            }),
            changes: changes(report),
            refusals: refusals(report),
        }
    }

    /// Whether the desired state still names the target of these labels.
    pub fn names(&self, service: Service, region: &str, graph: &str) -> bool {
        match service.shape() {
            Shape::Graphs => self.named_graphs.iter().any(|g| match g {
                GraphRef::Region(r) => r.as_str() == region,
                GraphRef::Arn(a) => a.as_str() == graph,
            }),
            Shape::Hub => {
                (self.named_hubs.iter()).any(|(s, r)| *s == service && r.as_str() == region)
            }
        }
    }
}

/// A target's accounts after the pass's writes: where each write that succeeded left them.
struct After<'a>(&'a BTreeMap<AccountId, Settled>);

/// A target no write of the pass touched.
static UNTOUCHED: BTreeMap<AccountId, Settled> = BTreeMap::new();

impl<'a> After<'a> {
    fn of(applied: &'a ApplyReport, target: &Target) -> After<'a> {
        After(applied.settled.get(target).unwrap_or(&UNTOUCHED))
    }

    /// The status label of every member after the writes: those listed at the start of the
    /// pass and not written since, then those the writes left members.
    fn statuses(
        &self,
        listed: impl Iterator<Item = (AccountId, &'static str)>,
    ) -> Vec<&'static str> {
        let kept = listed.filter(|(a, _)| !self.0.contains_key(a));
        let written = self.0.values().filter_map(|s| match s {
            Settled::Member(status) | Settled::Partway(status) => Some(*status),
            Settled::Gone => None,
        });
        kept.map(|(_, s)| s).chain(written).collect()
    }

    /// The plan's drift without that of accounts a write has just put where the plan wants
    /// them; what failed, or got only partway, stays.
    fn drift(&self, drift: &[Drift]) -> Vec<Drift> {
        let resolved = |a: AccountId| self.0.get(&a).is_some_and(|s| s.resolves());
        (drift.iter())
            .filter(|d| d.account.is_none_or(|a| !resolved(a)))
            .cloned()
            .collect()
    }
}

/// (target, kind) → the first observation of its oldest open drift (Unix milliseconds): the
/// projection's open drift, less that of accounts the pass's writes just put where the plan
/// wants them.
pub(crate) fn oldest_drift(
    projection: &Projection,
    applied: &ApplyReport,
) -> BTreeMap<(String, String), u64> {
    // The projection names targets as the log does; the writes' targets by that name.
    let settled: BTreeMap<String, &BTreeMap<AccountId, Settled>> = (applied.settled.iter())
        .map(|(t, accounts)| (t.to_string(), accounts))
        .collect();
    let configured: BTreeSet<(String, &str)> = (applied.configured.iter())
        .map(|(t, k)| (t.to_string(), k.as_str()))
        .collect();
    let configured =
        |target: &str, kind: &str| configured.iter().any(|(t, k)| t == target && *k == kind);
    // Borrowed while counting: at the largest organization there is one entry a member.
    let mut out: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for ((target, account, kind), since) in projection.drift.iter() {
        let written = (settled.get(target))
            .zip(AccountId::parse(account))
            .and_then(|(accounts, a)| accounts.get(&a))
            .is_some_and(|s| s.resolves());
        if written || configured(target, kind) {
            continue;
        }
        let oldest = out.entry((target, kind)).or_insert(since);
        *oldest = (*oldest).min(since);
    }
    (out.into_iter())
        .map(|((t, k), since)| ((t.to_owned(), k.to_owned()), since))
        .collect()
}

/// A series' oldest open drift by kind: its own kinds from `target`, then those of each
/// organization-setting target observed for it (`setting_targets`).
fn oldest(
    report: &PassReport,
    target: &Target,
    service: Service,
    region: &Region,
) -> Vec<(&'static str, Option<u64>)> {
    let of = |target: String, kinds: &[DriftKind]| {
        (kinds.iter())
            .map(|k| {
                let key = (target.clone(), k.as_str().to_owned());
                (k.as_str(), report.oldest_drift.get(&key).copied())
            })
            .collect::<Vec<_>>()
    };
    let mut out = of(target.to_string(), drift_kinds(service));
    for (target, _, kinds) in setting_targets(report, service, region) {
        out.extend(of(target.to_string(), kinds));
    }
    out
}

/// The organization-setting targets exported on the series of `service`'s graph or hub in
/// `region`, each with its drift and the kinds it exports: the region's configuration, and
/// central configuration where `region` is its home. A target not observed this pass has no plan
/// and is left out (its series keep their last values).
fn setting_targets<'r>(
    report: &'r PassReport,
    service: Service,
    region: &Region,
) -> Vec<(Target, &'r [Drift], &'static [DriftKind])> {
    let configuration = (report.plan.configurations.iter())
        .find(|c| c.service == service && c.region == *region)
        .map(|c| (c.target(), c.drift.as_slice(), configuration_kinds(service)));
    let central = (report.plan.central.iter())
        .find(|c| c.service == service && c.home == *region)
        .map(|c| (c.target(), c.drift.as_slice(), &CENTRAL_KINDS[..]));
    configuration.into_iter().chain(central).collect()
}

/// The open drift of the organization-setting targets exported on a series.
fn settings_drift(
    report: &PassReport,
    service: Service,
    region: &Region,
) -> Vec<(&'static str, i64)> {
    (setting_targets(report, service, region).into_iter())
        .flat_map(|(target, drift, kinds)| open_drift(report, target, drift, kinds))
        .collect()
}

/// A target's drift by kind, less what the pass's writes resolved (a whole kind, or one
/// subject of it).
fn open_drift(
    report: &PassReport,
    target: Target,
    drift: &[Drift],
    kinds: &[DriftKind],
) -> Vec<(&'static str, i64)> {
    let applied = &report.applied;
    let resolved = |d: &Drift| {
        let subject = (target.clone(), d.kind, d.account_name());
        applied.configured.contains(&(target.clone(), d.kind))
            || applied.resolved.contains(&subject)
    };
    let open: Vec<Drift> = drift.iter().filter(|d| !resolved(d)).cloned().collect();
    count_kinds(kinds, Some(&open))
}

fn org(report: &PassReport) -> Option<OrgGauges> {
    let accounts = report.org.accounts as i64;
    match &report.org.status {
        OrgStatus::NotUsed => None,
        OrgStatus::Fresh => Some(OrgGauges {
            stale: false,
            accounts,
            listed: unix(SystemTime::now()),
        }),
        OrgStatus::Stale { last_listed, .. } => Some(OrgGauges {
            stale: true,
            accounts,
            listed: last_listed.map_or(0.0, unix),
        }),
    }
}

fn invitations(
    watched: &[Target],
    report: &PassReport,
    expected: impl Fn(&crate::domain::AccountId) -> bool,
) -> Vec<([String; 4], i64)> {
    let labels = |t: &Target, admin: &str, status: &str| {
        let service = t.service().map_or("", Service::as_str);
        let region = t.region().map(|r| r.to_string()).unwrap_or_default();
        [
            service.to_owned(),
            region,
            admin.to_owned(),
            status.to_owned(),
        ]
    };
    let mut out: Vec<([String; 4], i64)> = Vec::new();
    for t in watched {
        for admin in ["expected", "unexpected"] {
            for status in ["open", "accepted"] {
                out.push((labels(t, admin, status), 0));
            }
        }
    }
    for p in &report.member {
        for i in p.listed.iter().flatten() {
            let admin = if expected(&i.administrator) {
                "expected"
            } else {
                "unexpected"
            };
            let status = match i.status {
                InvitationStatus::Open => "open",
                InvitationStatus::Accepted => "accepted",
                InvitationStatus::Other(_) => continue,
            };
            let key = labels(&p.target, admin, status);
            match out.iter_mut().find(|(k, _)| *k == key) {
                Some((_, n)) => *n += 1,
                None => out.push((key, 1)),
            }
        }
    }
    out
}

/// Guard refusals the pass planned (counted whether or not it was suspended).
fn refusals(report: &PassReport) -> Vec<((Service, &'static str), u64)> {
    let mut out: BTreeMap<(Service, &'static str), u64> = BTreeMap::new();
    // Every guard the plan has, at 0 first: rates and alerts see the series from the start.
    let graphs = report
        .plan
        .graphs
        .iter()
        .map(|_| (Service::Detective, "prune"));
    let hubs = report.plan.hubs.iter().map(|h| (h.service, "prune"));
    let central = (report.plan.central.iter()).map(|c| (c.service, "central_configuration"));
    out.extend(graphs.chain(hubs).chain(central).map(|k| (k, 0)));
    let prune = (report
        .plan
        .graphs
        .iter()
        .filter(|g| g.prune_refused.is_some()))
    .map(|_| Service::Detective)
    .chain(
        report
            .plan
            .hubs
            .iter()
            .filter(|h| h.prune_refused.is_some())
            .map(|h| h.service),
    );
    for service in prune {
        *out.entry((service, "prune")).or_default() += 1;
    }
    for c in report.plan.central.iter().filter(|c| c.held.is_some()) {
        *out.entry((c.service, "central_configuration")).or_default() += 1;
    }
    out.into_iter().collect()
}

fn changes(report: &PassReport) -> Vec<((Service, Change, Outcome), u64)> {
    let a = &report.applied;
    let always = ALWAYS.map(|(c, o)| (Service::Detective, c, o));
    let mut out: Vec<_> = always
        .iter()
        .map(|k| (*k, a.count(k.0, k.1, k.2) as u64))
        .collect();
    out.extend(
        a.counts
            .iter()
            .filter(|(k, _)| !always.contains(k))
            .map(|(k, n)| (*k, *n as u64)),
    );
    out
}
