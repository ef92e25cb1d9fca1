//! Every metric muster exports, in one place. Names follow Prometheus conventions
//! (`muster_` prefix, base units, `_total` counters); labels come from small fixed sets
//! (service, region, graph, status, kind, operation, outcome, result), never an account id or
//! an email. README.md lists them all; `deploy/prometheus/` alerts on them. What a pass's gauges
//! show is decided in `reconcile::gauges`; this module only writes it out.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::domain::Service;
use crate::plan::{configuration_kinds, drift_kinds};
pub use crate::reconcile::gauges::Gauges;
use crate::reconcile::gauges::{status_labels, TargetGauges};
pub use crate::reconcile::PassResult;

/// The labels of a target's series: service, region, graph.
type Labels = (Service, String, String);

/// The first observation (Unix milliseconds) of each series' oldest open drift, labels
/// service, region, graph, kind; and the clock they are read against: the wall-clock time of
/// the last pass and the monotonic instant it was taken at (tokio's, so a test's paused clock
/// moves it).
struct DriftSince {
    series: std::collections::BTreeMap<[String; 4], Option<u64>>,
    anchor: (SystemTime, tokio::time::Instant),
}

impl DriftSince {
    /// Now, in Unix milliseconds, as the anchor's clock reads it.
    fn now_ms(&self) -> u64 {
        let (wall, at) = self.anchor;
        let now = wall + at.elapsed();
        let since_epoch = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
    }
}

pub struct Metrics {
    registry: Registry,
    /// Held while a pass's gauges are rewritten and while /metrics is encoded, so a scrape never
    /// sees half a pass.
    update: Mutex<BTreeSet<Labels>>,
    org_stale: IntGauge,
    org_accounts: IntGauge,
    org_listed: Gauge,
    invitations: IntGaugeVec,
    declared: IntGaugeVec,
    members: IntGaugeVec,
    drift: IntGaugeVec,
    drift_oldest: GaugeVec,
    /// When each `muster_drift_oldest_seconds` series' oldest open drift was first observed:
    /// the ages are worked out at each scrape, so they rise between passes.
    drift_since: Mutex<DriftSince>,
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
    refusals: IntCounterVec,
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
            declared: gauge_vec(&r, "muster_declared_accounts", "Accounts the desired state declares for a target.", &target),
            members: gauge_vec(&r, "muster_members", "Members a target has, by status, after the last pass that observed it (its writes included).", &["service", "region", "graph", "status"]),
            drift: gauge_vec(&r, "muster_drift", "Accounts whose membership differs from the desired state, by kind of drift, after the last pass that observed the target (its writes included).", &["service", "region", "graph", "kind"]),
            drift_oldest: float_gauge_vec(&r, "muster_drift_oldest_seconds", "Age of the oldest open drift of a kind, from its first observation in the event log (0 when there is none); rises between passes.", &["service", "region", "graph", "kind"]),
            drift_since: Mutex::new(DriftSince {
                series: std::collections::BTreeMap::new(),
                anchor: (SystemTime::now(), tokio::time::Instant::now()),
            }),
            member_utilization: float_gauge_vec(&r, "muster_graph_member_utilization_ratio", "Members of a behavior graph as a fraction of its member limit (Detective's is 1,200).", &["service", "region", "graph"]),
            volume_utilization: float_gauge_vec(&r, "muster_graph_volume_utilization_ratio", "Highest PercentOfGraphUtilization among a graph's members, as a fraction.", &["service", "region", "graph"]),
            passes: counter_vec(&r, "muster_passes_total", "Reconcile passes, by result (ok, partial, failed, suspended, interrupted).", &["result"]),
            pass_duration: pass_duration(&r),
            last_success: float_gauge(&r, "muster_last_successful_pass_timestamp_seconds", "Unix time the last pass with result ok or suspended finished."),
            aws_requests: counter_vec(&r, "muster_aws_requests_total", "HTTP requests to AWS (each attempt), by outcome: ok, throttled, error.", &["service", "operation", "outcome"]),
            aws_retries: counter_vec(&r, "muster_aws_retries_total", "Attempts after the first that the AWS SDK made (standard retry mode).", &["service", "operation"]),
            desired_valid: int_gauge(&r, "muster_desired_state_valid", "1 when the desired state on disk parses and validates, 0 when it does not."),
            reload_failures: int_counter(&r, "muster_desired_state_reload_failures_total", "Loads of the desired state that failed to read, parse or validate."),
            desired_info: gauge_vec(&r, "muster_desired_state_info", "The desired state in use (the last good one): its sha256 digest and the git commit it was read from (empty outside a work tree), value 1.", &["digest", "revision"]),
            refusals: counter_vec(&r, "muster_refused_changes_total", "Passes in which a guard refused changes, by service and guard: prune (undeclared members past max_removals_per_pass, or to empty) or central_configuration (associations or policy updates that would turn Security Hub off, or remove a standard, in more accounts than max_removals_per_pass).", &["service", "guard"]),
            changes: counter_vec(&r, "muster_changes_total", "Membership changes muster made, by kind (invite, remove, create, accept, decline) and outcome (ok, unprocessed, failed, quota_blocked).", &["service", "kind", "outcome"]),
            eventlog_size: int_gauge(&r, "muster_eventlog_size_bytes", "Size on disk of the event log."),
            eventlog_write_failures: int_counter(&r, "muster_eventlog_write_failures_total", "Passes that could not write the event log (a full disk, an IO error): nothing more was sent to AWS in that pass."),
            events_appended: int_counter(&r, "muster_events_appended_total", "Events appended to the event log."),
            suspended: int_gauge(&r, "muster_suspended", "1 when muster runs suspended: it observes and reports, and writes nothing."),
            schedule_interval: float_gauge(&r, "muster_schedule_interval_seconds", "The shortest interval between two scheduled passes (alerts count in it)."),
            org_stale: int_gauge(&r, "muster_organization_stale", "1 when the last pass could not list the organization and went on with the last good listing (prune waits)."),
            org_accounts: int_gauge(&r, "muster_organization_accounts", "Accounts the desired state's organization section takes, at the listing in use."),
            org_listed: float_gauge(&r, "muster_organization_listed_timestamp_seconds", "Unix time of the organization listing in use."),
            invitations: gauge_vec(&r, "muster_invitations", "Member side: invitations this account has, by administrator (expected, unexpected) and status (open, accepted).", &["service", "region", "administrator", "status"]),
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
        self.age_drift();
        let mut buf = Vec::new();
        // Encoding into a Vec fails only on invalid metric families, which `new` rules out.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }

    /// Sets each `muster_drift_oldest_seconds` series to its age now.
    fn age_drift(&self) {
        let since = self.drift_since.lock().unwrap_or_else(|e| e.into_inner());
        let now = since.now_ms();
        for (labels, first) in &since.series {
            let age = first.map_or(0.0, |t| now.saturating_sub(t) as f64 / 1000.0);
            let l = labels.each_ref().map(String::as_str);
            self.drift_oldest.with_label_values(&l).set(age);
        }
    }

    pub fn set_schedule_interval(&self, interval: Duration) {
        self.schedule_interval.set(interval.as_secs_f64());
    }

    pub fn set_suspended(&self, on: bool) {
        self.suspended.set(i64::from(on));
    }

    /// A desired state loaded and checked: it is the one in use from now on.
    pub fn desired_state_loaded(&self, digest: &str, revision: Option<&str>) {
        self.desired_valid.set(1);
        self.desired_info.reset();
        self.desired_info
            .with_label_values(&[digest, revision.unwrap_or("")])
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
    pub fn pass_finished(&self, result: PassResult, took: Duration, seen: Option<Gauges>) {
        let mut exported = self.update.lock().unwrap_or_else(|e| e.into_inner());
        self.passes.with_label_values(&[result.as_str()]).inc();
        self.pass_duration.observe(took.as_secs_f64());
        if matches!(result, PassResult::Ok | PassResult::Suspended) {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            self.last_success.set(now.as_secs_f64());
        }
        if let Some(gauges) = seen {
            let mut since = self.drift_since.lock().unwrap_or_else(|e| e.into_inner());
            since.anchor = (SystemTime::now(), tokio::time::Instant::now());
            drop(since);
            self.set_targets(&mut exported, &gauges);
            self.set_rest(&gauges);
        }
    }

    fn set_target(&self, t: &TargetGauges) {
        let labels = [t.service.as_str(), t.region.as_str(), t.graph.as_str()];
        self.declared.with_label_values(&labels).set(t.declared);
        for (status, n) in &t.members {
            let [s, r, g] = labels;
            self.members.with_label_values(&[s, r, g, status]).set(*n);
        }
        for (kind, n) in &t.drift {
            let [s, r, g] = labels;
            self.drift.with_label_values(&[s, r, g, kind]).set(*n);
        }
        let mut since = self.drift_since.lock().unwrap_or_else(|e| e.into_inner());
        for (kind, first) in &t.oldest {
            let key = [labels[0], labels[1], labels[2], kind].map(str::to_owned);
            since.series.insert(key, *first);
        }
        drop(since);
        if let Some((members, volume)) = t.utilization {
            self.member_utilization
                .with_label_values(&labels)
                .set(members);
            self.volume_utilization
                .with_label_values(&labels)
                .set(volume);
        }
    }

    /// Every series of a target the desired state no longer names.
    fn remove_target(&self, (service, region, graph): &Labels) {
        let t = [service.as_str(), region.as_str(), graph.as_str()];
        let _ = self.declared.remove_label_values(&t);
        let _ = self.member_utilization.remove_label_values(&t);
        let _ = self.volume_utilization.remove_label_values(&t);
        let [s, r, g] = t;
        for status in status_labels(*service) {
            let _ = self.members.remove_label_values(&[s, r, g, status]);
        }
        let mut since = self.drift_since.lock().unwrap_or_else(|e| e.into_inner());
        for kind in drift_kinds(*service)
            .iter()
            .chain(configuration_kinds(*service))
        {
            let labels = [s, r, g, kind.as_str()];
            let _ = self.drift.remove_label_values(&labels);
            let _ = self.drift_oldest.remove_label_values(&labels);
            since.series.remove(&labels.map(str::to_owned));
        }
    }

    /// The targets' series: those observed set, those not observed kept while the desired
    /// state names them, the rest removed.
    fn set_targets(&self, exported: &mut BTreeSet<Labels>, gauges: &Gauges) {
        let mut now_exported = BTreeSet::new();
        for t in &gauges.targets {
            self.set_target(t);
            now_exported.insert((t.service, t.region.clone(), t.graph.clone()));
        }
        for key in exported.iter() {
            if now_exported.contains(key) {
                continue;
            }
            if gauges.names(key.0, &key.1, &key.2) {
                now_exported.insert(key.clone());
            } else {
                self.remove_target(key);
            }
        }
        *exported = now_exported;
    }

    /// The organization, the invitations and the changes.
    fn set_rest(&self, gauges: &Gauges) {
        if let Some(org) = gauges.org {
            self.org_stale.set(i64::from(org.stale));
            self.org_accounts.set(org.accounts);
            self.org_listed.set(org.listed);
        }
        if let Some(invitations) = &gauges.invitations {
            self.invitations.reset();
            for (labels, n) in invitations {
                let l: Vec<&str> = labels.iter().map(String::as_str).collect();
                self.invitations.with_label_values(&l).set(*n);
            }
        }
        for ((service, guard), n) in &gauges.refusals {
            self.refusals
                .with_label_values(&[service.as_str(), guard])
                .inc_by(*n);
        }
        for ((service, change, outcome), n) in &gauges.changes {
            self.changes
                .with_label_values(&[service.as_str(), change.as_str(), outcome.as_str()])
                .inc_by(*n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str =
        "arn:aws:detective:us-east-1:111111111111:graph:0123456789abcdef0123456789abcdef";

    /// The graph `ARN`, listed with no member.
    fn empty_graph() -> crate::observed::ObservedGraph {
        crate::observed::ObservedGraph {
            arn: crate::domain::GraphArn::parse(ARN).unwrap(),
            members: vec![],
        }
    }

    fn plan_settings() -> crate::plan::PlanSettings {
        crate::plan::PlanSettings {
            max_removals_per_pass: 10,
            pending_invitation_after: Duration::from_secs(60),
            association_pending_after: Duration::from_secs(3600),
            member_limit: crate::plan::GRAPH_MEMBER_LIMIT,
        }
    }

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
        use crate::desired::{parse_files, DesiredState};
        use crate::observed::ObservedGraph;
        use crate::plan::{plan, Observed};
        use crate::reconcile::{Found, PassReport};
        let desired = |graphs: &str| {
            parse_files(&[(
                "d.yaml".into(),
                format!("version: 1\naccounts:\n  - {{id: \"222222222222\", email: a@example.com}}\ndetective:\n  graphs: {graphs}\n"),
            )])
            .unwrap()
        };
        let (arn, graph, settings) = (ARN, empty_graph(), plan_settings());
        let m = Metrics::new();
        let series = format!(
            "muster_drift{{graph=\"{arn}\",kind=\"missing\",region=\"us-east-1\",service=\"detective\"}} 1"
        );
        let pass = |d: &DesiredState, observed: &[ObservedGraph]| {
            let seen = Observed {
                graphs: observed,
                ..Observed::at(SystemTime::now())
            };
            let report = PassReport {
                plan: plan(d, &seen, &settings),
                found: Found {
                    graphs: observed.to_vec(),
                    ..Found::default()
                },
                ..PassReport::default()
            };
            m.pass_finished(
                PassResult::Partial,
                Duration::ZERO,
                Some(Gauges::of(d, &report)),
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

    /// The value of the one sample of `series` (labels as printed, sorted).
    fn value(text: &str, series: &str) -> f64 {
        let line = text.lines().find(|l| l.starts_with(series));
        let line = line.unwrap_or_else(|| panic!("no {series} in\n{text}"));
        line.rsplit_once(' ').unwrap().1.parse().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn the_oldest_drift_ages_between_passes_and_what_a_write_resolved_does_not_count() {
        use crate::apply::{ApplyReport, Settled};
        use crate::desired::parse_files;
        use crate::domain::{AccountId, Target};
        use crate::eventlog::Projection;
        use crate::plan::{plan, Observed};
        use crate::reconcile::gauges::oldest_drift;
        use crate::reconcile::{Found, PassReport};
        let d = parse_files(&[(
            "d.yaml".into(),
            "version: 1\naccounts:\n  - {id: \"222222222222\", email: a@example.com}\n  - {id: \"333333333333\", email: b@example.com}\ndetective:\n  graphs: [{region: us-east-1}]\n".into(),
        )])
        .unwrap();
        let (arn, graph, settings) = (ARN, empty_graph(), plan_settings());
        let now_ms = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        // Both declared accounts missing: one for a day, one for 90 s. This pass's write put
        // the older one in the graph, so the oldest open one is the other.
        let mut projection = Projection::default();
        for (account, age_s) in [("222222222222", 86_400), ("333333333333", 90)] {
            let key = (arn, account, "missing");
            projection.drift.insert(key, now_ms - age_s * 1000);
        }
        let mut applied = ApplyReport::default();
        let written = AccountId::parse("222222222222").unwrap();
        let target = Target::Graph(graph.arn.clone());
        let invited = [(written, Settled::Member("invited"))].into();
        applied.settled.insert(target, invited);
        let seen = Observed {
            graphs: std::slice::from_ref(&graph),
            ..Observed::at(SystemTime::now())
        };
        let report = PassReport {
            plan: plan(&d, &seen, &settings),
            found: Found {
                graphs: vec![graph.clone()],
                ..Found::default()
            },
            oldest_drift: oldest_drift(&projection, &applied),
            applied,
            ..PassReport::default()
        };
        let m = Metrics::new();
        let gauges = Gauges::of(&d, &report);
        m.pass_finished(PassResult::Ok, Duration::ZERO, Some(gauges));
        let labels = format!(
            "{{graph=\"{arn}\",kind=\"missing\",region=\"us-east-1\",service=\"detective\"}}"
        );
        let oldest = format!("muster_drift_oldest_seconds{labels}");
        let first = value(&m.encode(), &oldest);
        assert!((90.0..91.0).contains(&first), "{first}");
        assert_eq!(value(&m.encode(), &format!("muster_drift{labels}")), 1.0);
        // No pass for an hour: the age rises with the clock.
        tokio::time::advance(Duration::from_secs(3600)).await;
        let later = value(&m.encode(), &oldest);
        assert!(
            (later - first - 3600.0).abs() < 0.01,
            "{first} then {later}"
        );
        // A kind with no open drift is 0.
        let none = format!("muster_drift_oldest_seconds{{graph=\"{arn}\",kind=\"undeclared\",region=\"us-east-1\",service=\"detective\"}}");
        assert_eq!(value(&m.encode(), &none), 0.0);
    }
}
