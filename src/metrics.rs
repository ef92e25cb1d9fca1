//! Every metric muster exports, in one place. Names follow Prometheus conventions
//! (`muster_` prefix, base units, `_total` counters); labels come from small fixed sets
//! (service, region, graph, status, kind, operation, outcome, result), never an account id or
//! an email. README.md lists them all; `deploy/prometheus/` alerts on them.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::apply::ApplyReport;
use crate::desired::{DesiredState, GraphRef};
use crate::domain::Region;
use crate::observed::{
    HubMemberStatus, InvitationStatus, MemberStatus, ObservedGraph, ObservedHub,
};
use crate::plan::{DriftKind, Plan, GRAPH_MEMBER_LIMIT};
pub use crate::reconcile::PassResult;
use crate::reconcile::{OrgOutcome, OrgStatus};

/// Security Hub's drift kinds, exported even at 0.
pub const HUB_DRIFT_KINDS: [DriftKind; 7] = [
    DriftKind::Missing,
    DriftKind::Undeclared,
    DriftKind::NotInvited,
    DriftKind::PendingTooLong,
    DriftKind::Removed,
    DriftKind::Resigned,
    DriftKind::AccountSuspended,
];

/// Security Hub member statuses as label values.
const HUB_STATUSES: [&str; 8] = [
    "created",
    "invited",
    "enabled",
    "removed",
    "resigned",
    "deleted",
    "account_suspended",
    "other",
];

fn hub_status_label(s: &HubMemberStatus) -> &'static str {
    match s {
        HubMemberStatus::Created => "created",
        HubMemberStatus::Invited => "invited",
        HubMemberStatus::Enabled => "enabled",
        HubMemberStatus::Removed => "removed",
        HubMemberStatus::Resigned => "resigned",
        HubMemberStatus::Deleted => "deleted",
        HubMemberStatus::AccountSuspended => "account_suspended",
        HubMemberStatus::Other(_) => "other",
    }
}

/// Every Detective drift kind, exported even at 0 so that "drift fell to 0" is a value, not an
/// absence.
pub const DRIFT_KINDS: [DriftKind; 7] = [
    DriftKind::Missing,
    DriftKind::Undeclared,
    DriftKind::VerificationFailed,
    DriftKind::Disabled,
    DriftKind::PendingTooLong,
    DriftKind::EmailMismatch,
    DriftKind::QuotaBlocked,
];

/// Detective member statuses as label values; anything unknown is `other`.
const MEMBER_STATUSES: [&str; 6] = [
    "invited",
    "verification_in_progress",
    "verification_failed",
    "enabled",
    "accepted_but_disabled",
    "other",
];

fn status_label(s: &MemberStatus) -> &'static str {
    match s {
        MemberStatus::Invited => "invited",
        MemberStatus::VerificationInProgress => "verification_in_progress",
        MemberStatus::VerificationFailed => "verification_failed",
        MemberStatus::Enabled => "enabled",
        MemberStatus::AcceptedButDisabled => "accepted_but_disabled",
        MemberStatus::Other(_) => "other",
    }
}

pub struct Metrics {
    registry: Registry,
    /// Held while a pass's gauges are rewritten and while /metrics is encoded, so a scrape never
    /// sees half a pass.
    update: Mutex<BTreeSet<(String, String, String)>>,
    org_stale: IntGauge,
    org_accounts: IntGauge,
    org_listed: Gauge,
    invitations: IntGaugeVec,
    declared: IntGaugeVec,
    members: IntGaugeVec,
    drift: IntGaugeVec,
    member_utilization: GaugeVec,
    volume_utilization: GaugeVec,
    passes: IntCounterVec,
    pass_duration: Histogram,
    last_success: Gauge,
    aws_requests: IntCounterVec,
    aws_retries: IntCounterVec,
    desired_valid: IntGauge,
    reload_failures: IntCounter,
    desired_info: IntGaugeVec,
    changes: IntCounterVec,
    eventlog_size: IntGauge,
    events_appended: IntCounter,
    eventlog_write_failures: IntCounter,
    suspended: IntGauge,
    schedule_interval: Gauge,
}

fn register<C: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: C) -> C {
    // Names are fixed and distinct: registering cannot fail but for a programming error.
    r.register(Box::new(c.clone()))
        .expect("metric names are distinct");
    c
}

fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    register(
        r,
        IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    register(
        r,
        IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}

/// How long passes take: buckets from 50 ms to 10 minutes.
fn pass_duration(r: &Registry) -> Histogram {
    register(
        r,
        Histogram::with_opts(
            HistogramOpts::new(
                "muster_pass_duration_seconds",
                "Time a reconcile pass took, observe to last outcome.",
            )
            .buckets(vec![
                0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
            ]),
        )
        .expect("valid metric"),
    )
}

/// CPU, resident memory, open files and start time of the process (Linux).
fn register_process_collector(r: &Registry) {
    #[cfg(target_os = "linux")]
    {
        let _ = r.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ));
    }
    #[cfg(not(target_os = "linux"))]
    let _ = r;
}

fn int_gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    register(r, IntGauge::new(name, help).expect("valid metric"))
}

fn int_counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    register(r, IntCounter::new(name, help).expect("valid metric"))
}

fn float_gauge(r: &Registry, name: &str, help: &str) -> Gauge {
    register(r, Gauge::new(name, help).expect("valid metric"))
}

fn float_gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    register(
        r,
        GaugeVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}

/// What the AWS adapters report through, without importing metrics.
impl crate::aws::RequestSink for Metrics {
    fn aws_request(&self, service: &str, operation: &str, outcome: &str) {
        Metrics::aws_request(self, service, operation, outcome);
    }

    fn aws_retry(&self, service: &str, operation: &str) {
        Metrics::aws_retry(self, service, operation);
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let r = Registry::new();
        register_process_collector(&r);
        let target = ["service", "region", "graph"];
        let m = Metrics {
            declared: gauge_vec(
                &r,
                "muster_declared_accounts",
                "Accounts the desired state declares for a target.",
                &target,
            ),
            members: gauge_vec(
                &r,
                "muster_members",
                "Members a target has, by status, at the last pass that observed it.",
                &["service", "region", "graph", "status"],
            ),
            drift: gauge_vec(
                &r,
                "muster_drift",
                "Accounts whose membership differs from the desired state, by kind of drift.",
                &["service", "region", "graph", "kind"],
            ),
            member_utilization: float_gauge_vec(&r, "muster_graph_member_utilization_ratio", "Members of a behavior graph as a fraction of Detective's 1,200 member limit.", &["service", "region", "graph"]),
            volume_utilization: float_gauge_vec(&r, "muster_graph_volume_utilization_ratio", "Highest PercentOfGraphUtilization among a graph's members, as a fraction.", &["service", "region", "graph"]),
            passes: counter_vec(
                &r,
                "muster_passes_total",
                "Reconcile passes, by result (ok, partial, failed, suspended, interrupted).",
                &["result"],
            ),
            pass_duration: pass_duration(&r),
            last_success: float_gauge(&r, "muster_last_successful_pass_timestamp_seconds", "Unix time the last pass with result ok or suspended finished."),
            aws_requests: counter_vec(
                &r,
                "muster_aws_requests_total",
                "HTTP requests to AWS (each attempt), by outcome: ok, throttled, error.",
                &["service", "operation", "outcome"],
            ),
            aws_retries: counter_vec(
                &r,
                "muster_aws_retries_total",
                "Attempts after the first that the AWS SDK made (standard retry mode).",
                &["service", "operation"],
            ),
            desired_valid: int_gauge(&r, "muster_desired_state_valid", "1 when the desired state on disk parses and validates, 0 when it does not."),
            reload_failures: int_counter(&r, "muster_desired_state_reload_failures_total", "Loads of the desired state that failed to read, parse or validate."),
            desired_info: gauge_vec(
                &r,
                "muster_desired_state_info",
                "The desired state in use (the last good one): its sha256 digest, value 1.",
                &["digest"],
            ),
            changes: counter_vec(
                &r,
                "muster_changes_total",
                "Membership changes muster made, by kind (invite, remove) and outcome (ok, unprocessed, failed, quota_blocked).",
                &["service", "kind", "outcome"],
            ),
            eventlog_size: int_gauge(&r, "muster_eventlog_size_bytes", "Size on disk of the event log."),
            eventlog_write_failures: int_counter(&r, "muster_eventlog_write_failures_total", "Passes that could not write the event log (a full disk, an IO error): nothing more was sent to AWS in that pass."),
            events_appended: int_counter(&r, "muster_events_appended_total", "Events appended to the event log."),
            suspended: int_gauge(&r, "muster_suspended", "1 when muster runs suspended: it observes and reports, and writes nothing."),
            schedule_interval: float_gauge(&r, "muster_schedule_interval_seconds", "The shortest interval between two scheduled passes (alerts count in it)."),
            org_stale: int_gauge(&r, "muster_organization_stale", "1 when the last pass could not list the organization and went on with the last good listing (prune waits)."),
            org_accounts: int_gauge(&r, "muster_organization_accounts", "Accounts the desired state's organization section takes, at the listing in use."),
            org_listed: float_gauge(&r, "muster_organization_listed_timestamp_seconds", "Unix time of the organization listing in use."),
            invitations: gauge_vec(
                &r,
                "muster_invitations",
                "Member side: invitations this account has, by administrator (expected, unexpected) and status (open, accepted).",
                &["service", "region", "administrator", "status"],
            ),
            update: Mutex::new(BTreeSet::new()),
            registry: r,
        };
        m.start_at_zero();
        m
    }

    /// Series whose absence would hide something: every pass result and every AWS operation's
    /// request and retry counters exist from the start, at 0.
    fn start_at_zero(&self) {
        for result in [
            PassResult::Ok,
            PassResult::Partial,
            PassResult::Failed,
            PassResult::Suspended,
            PassResult::Interrupted,
        ] {
            self.passes.with_label_values(&[result.as_str()]);
        }
        for (service, operation) in crate::aws::OPERATIONS {
            for outcome in ["ok", "throttled", "error"] {
                self.aws_requests
                    .with_label_values(&[service, operation, outcome]);
            }
            self.aws_retries.with_label_values(&[service, operation]);
        }
    }

    /// The text exposition format, for `/metrics`.
    pub fn encode(&self) -> String {
        let _held = self.update.lock().unwrap_or_else(|e| e.into_inner());
        let mut buf = Vec::new();
        // Encoding into a Vec fails only on invalid metric families, which `new` rules out.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }

    pub fn set_schedule_interval(&self, interval: Duration) {
        self.schedule_interval.set(interval.as_secs_f64());
    }

    pub fn set_suspended(&self, on: bool) {
        self.suspended.set(i64::from(on));
    }

    /// A desired state loaded and checked: it is the one in use from now on.
    pub fn desired_state_loaded(&self, desired: &DesiredState) {
        self.desired_valid.set(1);
        self.desired_info.reset();
        self.desired_info
            .with_label_values(&[desired.digest.as_str()])
            .set(1);
    }

    /// The desired state on disk is broken; the last good one (if any) stays in use.
    pub fn desired_state_invalid(&self) {
        self.desired_valid.set(0);
        self.reload_failures.inc();
    }

    /// One AWS HTTP attempt, classified by the SDK interceptor.
    pub fn aws_request(&self, service: &str, operation: &str, outcome: &str) {
        self.aws_requests
            .with_label_values(&[service, operation, outcome])
            .inc();
    }

    pub fn aws_retry(&self, service: &str, operation: &str) {
        self.aws_retries
            .with_label_values(&[service, operation])
            .inc();
    }

    pub fn events_appended(&self, n: u64) {
        self.events_appended.inc_by(n);
    }

    /// A pass could not write the event log.
    pub fn eventlog_write_failed(&self) {
        self.eventlog_write_failures.inc();
    }

    pub fn eventlog_size(&self, bytes: u64) {
        self.eventlog_size
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// The end of a pass: its result and duration, and (when it got that far) what it saw.
    pub fn pass_finished(&self, result: PassResult, took: Duration, seen: Option<PassView<'_>>) {
        let mut exported = self.update.lock().unwrap_or_else(|e| e.into_inner());
        self.passes.with_label_values(&[result.as_str()]).inc();
        self.pass_duration.observe(took.as_secs_f64());
        if matches!(result, PassResult::Ok | PassResult::Suspended) {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            self.last_success.set(now.as_secs_f64());
        }
        if let Some(view) = seen {
            self.record_view(&mut exported, &view);
        }
    }

    fn record_view(&self, exported: &mut BTreeSet<(String, String, String)>, v: &PassView<'_>) {
        const SERVICE: &str = "detective";
        const HUB: &str = "securityhub";
        let declared =
            i64::try_from(v.effective.unwrap_or(v.desired).accounts.len()).unwrap_or(i64::MAX);
        let mut now_exported = BTreeSet::new();
        for g in v.observed {
            let region = g.arn.region().as_str().to_owned();
            let graph = g.arn.to_string();
            let t = [SERVICE, region.as_str(), graph.as_str()];
            self.declared.with_label_values(&t).set(declared);
            for status in MEMBER_STATUSES {
                let n = g
                    .members
                    .iter()
                    .filter(|m| status_label(&m.status) == status)
                    .count();
                self.members
                    .with_label_values(&[SERVICE, &region, &graph, status])
                    .set(n as i64);
            }
            self.member_utilization
                .with_label_values(&t)
                .set(g.members.len() as f64 / GRAPH_MEMBER_LIMIT as f64);
            let volume = g
                .members
                .iter()
                .filter_map(|m| m.percent_of_graph_utilization)
                .fold(0.0_f64, f64::max);
            self.volume_utilization
                .with_label_values(&t)
                .set(volume / 100.0);
            let drift = v.plan.graphs.iter().find(|p| p.graph == g.arn);
            for kind in DRIFT_KINDS {
                let n = drift.map_or(0, |p| p.drift.iter().filter(|d| d.kind == kind).count());
                self.drift
                    .with_label_values(&[SERVICE, &region, &graph, kind.as_str()])
                    .set(n as i64);
            }
            now_exported.insert((SERVICE.to_owned(), region, graph));
        }
        let declared_hub =
            i64::try_from(v.effective.unwrap_or(v.desired).accounts.len()).unwrap_or(i64::MAX);
        for h in v.hubs {
            let region = h.region.as_str();
            self.declared
                .with_label_values(&[HUB, region, ""])
                .set(declared_hub);
            for status in HUB_STATUSES {
                let n = h
                    .members
                    .iter()
                    .filter(|m| hub_status_label(&m.status) == status)
                    .count();
                self.members
                    .with_label_values(&[HUB, region, "", status])
                    .set(n as i64);
            }
            let drift = v.plan.hubs.iter().find(|p| p.region == h.region);
            for kind in HUB_DRIFT_KINDS {
                let n = drift.map_or(0, |p| p.drift.iter().filter(|d| d.kind == kind).count());
                self.drift
                    .with_label_values(&[HUB, region, "", kind.as_str()])
                    .set(n as i64);
            }
            now_exported.insert((HUB.to_owned(), region.to_owned(), String::new()));
        }
        // Graphs that could not be observed keep their last values; graphs no longer desired go.
        let still_desired = |service: &str, region: &str, graph: &str| {
            if service == HUB {
                return v.hub_regions.iter().any(|r| r.as_str() == region);
            }
            v.desired_graphs.iter().any(|g| match g {
                GraphRef::Region(r) => r.as_str() == region,
                GraphRef::Arn(a) => a.as_str() == graph,
            })
        };
        for key in exported.iter() {
            let (service, region, graph) = key;
            if now_exported.contains(key) {
                continue;
            }
            if still_desired(service, region, graph) {
                now_exported.insert(key.clone());
                continue;
            }
            let t = [service.as_str(), region.as_str(), graph.as_str()];
            let _ = self.declared.remove_label_values(&t);
            let _ = self.member_utilization.remove_label_values(&t);
            let _ = self.volume_utilization.remove_label_values(&t);
            for status in MEMBER_STATUSES.iter().chain(&HUB_STATUSES) {
                let _ =
                    self.members
                        .remove_label_values(&[service.as_str(), region, graph, status]);
            }
            for kind in DRIFT_KINDS.iter().chain(&HUB_DRIFT_KINDS) {
                let _ = self.drift.remove_label_values(&[
                    service.as_str(),
                    region,
                    graph,
                    kind.as_str(),
                ]);
            }
        }
        *exported = now_exported;
        if let Some(org) = v.org {
            match &org.status {
                OrgStatus::NotUsed => {}
                OrgStatus::Fresh => {
                    self.org_stale.set(0);
                    self.org_accounts.set(org.accounts as i64);
                    self.org_listed.set(unix_now());
                }
                OrgStatus::Stale { last_listed, .. } => {
                    self.org_stale.set(1);
                    self.org_accounts.set(org.accounts as i64);
                    self.org_listed.set(last_listed.map_or(0.0, |t| {
                        t.duration_since(SystemTime::UNIX_EPOCH)
                            .unwrap_or_default()
                            .as_secs_f64()
                    }));
                }
            }
        }
        if let Some(regions) = &v.member_regions {
            self.invitations.reset();
            for (service, region) in regions {
                for admin in ["expected", "unexpected"] {
                    for status in ["open", "accepted"] {
                        self.invitations
                            .with_label_values(&[service, region.as_str(), admin, status])
                            .set(0);
                    }
                }
            }
            for t in v.member {
                let (service, region) = (t.service, &t.region);
                for i in t.listed.iter().flatten() {
                    let admin = if v.expected.contains(&i.administrator) {
                        "expected"
                    } else {
                        "unexpected"
                    };
                    let status = match i.status {
                        InvitationStatus::Open => "open",
                        InvitationStatus::Accepted => "accepted",
                        InvitationStatus::Other(_) => continue,
                    };
                    self.invitations
                        .with_label_values(&[service, region.as_str(), admin, status])
                        .inc();
                }
            }
        }
        if let Some(a) = v.applied {
            let c = |kind: &str, outcome: &str, n: usize| {
                self.changes
                    .with_label_values(&[SERVICE, kind, outcome])
                    .inc_by(n as u64);
            };
            c("invite", "ok", a.invited);
            c("remove", "ok", a.removed);
            c(
                "invite",
                "unprocessed",
                a.unprocessed.saturating_sub(a.remove_unprocessed),
            );
            c("remove", "unprocessed", a.remove_unprocessed);
            c("invite", "failed", a.invite_failed_accounts);
            c("remove", "failed", a.remove_failed_accounts);
            c("invite", "quota_blocked", a.quota_blocked);
            for ((service, kind, outcome), n) in &a.counts {
                self.changes
                    .with_label_values(&[service, kind, outcome])
                    .inc_by(*n as u64);
            }
        }
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

impl<'a> PassView<'a> {
    /// What `report`, a pass over `desired`, saw and did.
    pub fn of(desired: &'a DesiredState, report: &'a crate::reconcile::PassReport) -> Self {
        PassView {
            desired,
            desired_graphs: &desired.detective.graphs,
            observed: &report.observed,
            plan: &report.plan,
            applied: Some(&report.applied),
            effective: report.effective.as_ref(),
            hubs: &report.hubs,
            hub_regions: desired
                .securityhub
                .as_ref()
                .map_or(&[][..], |s| s.regions.as_slice()),
            org: Some(&report.org),
            member_regions: desired.member.as_ref().map(|m| m.watched()),
            member: &report.member,
            expected: desired
                .member
                .as_ref()
                .map_or(&[][..], |m| m.expected_administrators.as_slice()),
        }
    }
}

/// What a pass saw and did, for the gauges.
pub struct PassView<'a> {
    pub desired: &'a DesiredState,
    /// The graphs the desired state names (ARNs or regions), observed or not.
    pub desired_graphs: &'a [GraphRef],
    pub observed: &'a [ObservedGraph],
    pub plan: &'a Plan,
    pub applied: Option<&'a ApplyReport>,
    /// The desired state with the organization's accounts merged in, when it differs.
    pub effective: Option<&'a DesiredState>,
    /// The Security Hubs as listed, and the regions the desired state names for them.
    pub hubs: &'a [ObservedHub],
    pub hub_regions: &'a [Region],
    pub org: Option<&'a OrgOutcome>,
    /// Member side: the (service, region) pairs watched, the invitations seen, and the
    /// expected administrators.
    pub member_regions: Option<Vec<(&'static str, Region)>>,
    pub member: &'a [crate::reconcile::member::TargetPlan],
    pub expected: &'a [crate::domain::AccountId],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_exported_with_help_and_no_account_or_email() {
        let m = Metrics::new();
        m.set_suspended(false);
        m.desired_state_invalid();
        m.aws_request("detective", "ListMembers", "ok");
        m.aws_retry("detective", "ListMembers");
        m.events_appended(3);
        m.eventlog_size(4096);
        m.pass_finished(PassResult::Ok, Duration::from_millis(20), None);
        let text = m.encode();
        for name in [
            "muster_passes_total{result=\"ok\"} 1",
            "muster_passes_total{result=\"partial\"} 0",
            "muster_pass_duration_seconds_count 1",
            "muster_aws_requests_total{operation=\"ListMembers\",outcome=\"ok\",service=\"detective\"} 1",
            "muster_aws_retries_total{operation=\"ListMembers\",service=\"detective\"} 1",
            "muster_desired_state_valid 0",
            "muster_desired_state_reload_failures_total 1",
            "muster_events_appended_total 3",
            "muster_eventlog_size_bytes 4096",
            "muster_suspended 0",
        ] {
            assert!(text.contains(name), "{name} missing from\n{text}");
        }
    }

    #[test]
    fn a_graph_that_could_not_be_listed_keeps_its_values_until_it_is_no_longer_desired() {
        use crate::desired::parse_files;
        use crate::domain::GraphArn;
        use crate::plan::{plan, PlanSettings};
        let desired = |graphs: &str| {
            parse_files(&[(
                "d.yaml".into(),
                format!("version: 1\naccounts:\n  - {{id: \"222222222222\", email: a@example.com}}\ndetective:\n  graphs: {graphs}\n"),
            )])
            .unwrap()
        };
        let arn = "arn:aws:detective:us-east-1:111111111111:graph:0123456789abcdef0123456789abcdef";
        let graph = ObservedGraph {
            arn: GraphArn::parse(arn).unwrap(),
            members: vec![],
        };
        let settings = PlanSettings {
            max_removals_per_pass: 10,
            pending_invitation_after: Duration::from_secs(60),
            member_limit: GRAPH_MEMBER_LIMIT,
        };
        let m = Metrics::new();
        let series = format!(
            "muster_drift{{graph=\"{arn}\",kind=\"missing\",region=\"us-east-1\",service=\"detective\"}} 1"
        );
        let pass = |d: &DesiredState, observed: &[ObservedGraph]| {
            let p = plan(d, observed, SystemTime::now(), &settings);
            m.pass_finished(
                PassResult::Partial,
                Duration::ZERO,
                Some(PassView {
                    desired: d,
                    desired_graphs: &d.detective.graphs,
                    observed,
                    plan: &p,
                    applied: None,
                    effective: None,
                    hubs: &[],
                    hub_regions: &[],
                    org: None,
                    member_regions: None,
                    member: &[],
                    expected: &[],
                }),
            );
        };
        let by_region = desired("[{region: us-east-1}]");
        pass(&by_region, std::slice::from_ref(&graph));
        assert!(m.encode().contains(&series), "{}", m.encode());
        // Listed nothing (the graph failed): the last values stay.
        pass(&by_region, &[]);
        assert!(m.encode().contains(&series), "{}", m.encode());
        // The desired state names another region now: the series go.
        pass(&desired("[{region: eu-west-1}]"), &[]);
        assert!(!m.encode().contains("muster_drift{"), "{}", m.encode());
    }
}
