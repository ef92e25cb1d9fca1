//! One pass, in one shape for both modes: record the desired state, observe (administrator
//! side: the organization, every desired graph and hub, planned; member side: every watched
//! region's invitations, planned), record what was seen (`record`: intents left in doubt by a
//! crash settled, status and drift changes against the projection), carry the plan out unless
//! suspended, record how the pass finished and save the projection. Level-triggered: a pass
//! never asks why it runs; it re-reads everything.
//!
//! `observe` reads and plans the administrator side; `member` the member side; `record`
//! writes what a pass saw.

pub mod accept;
pub mod central;
pub mod gauges;
pub mod member;
pub mod observe;
mod record;

use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant, SystemTime};

use crate::apply::{self, ApplyReport, Journal};
use crate::desired::DesiredState;
use crate::domain::{AccountId, Target};
use crate::eventlog::{self, EventKind, EventLog, EventLogError, Projection};
use crate::observed::HubMemberStatus;
use crate::plan::{Drift, Plan, PlanSettings};

pub use crate::aws::Apis;
pub use crate::eventlog::replay;
pub use observe::{
    observe_graphs, observe_hubs, resolve_desired, survey, Found, Listing, Survey, Unobserved,
};
use record::{Listed, Seen};

/// The result of a pass.
#[derive(Debug, Default)]
pub struct PassReport {
    pub plan: Plan,
    /// The targets as read at the start of the pass.
    pub found: Found,
    pub observe_failures: Vec<(Target, Unobserved)>,
    pub applied: ApplyReport,
    /// Nothing was written: settings say `suspend`.
    pub suspended: bool,
    pub org: OrgOutcome,
    /// Member side: each watched (service, region)'s invitations and plan.
    pub member: Vec<member::TargetPlan>,
    /// The desired state the pass worked to (organization accounts merged in).
    pub effective: Option<DesiredState>,
    /// (target, kind) → when its oldest open drift was first observed (Unix milliseconds),
    /// from the event log's projection, without what the pass's writes resolved.
    pub oldest_drift: std::collections::BTreeMap<(String, String), u64>,
    /// Where the pass's time went.
    pub timings: Timings,
    /// Central acceptance (`member_role`): the invitations found waiting, to accept.
    pub accepts: Vec<crate::plan::accept::Acceptance>,
}

/// Time between laps: a phase's duration.
pub struct Lap(Instant);

impl Lap {
    pub fn start() -> Self {
        Lap(Instant::now())
    }

    /// The time since the last lap (or the start).
    pub fn lap(&mut self) -> Duration {
        let now = Instant::now();
        now - std::mem::replace(&mut self.0, now)
    }
}

/// Where a pass's time went, phase by phase: logged at the end of every pass (target
/// `muster::timings`), so that a slow pass says which part was slow.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Timings {
    /// Recording the desired state and replaying the event log's projection.
    pub replay: Duration,
    /// Listing the organization (inside `survey`, beside the other listings).
    pub organization: Duration,
    /// Everything read from AWS, and the plan.
    pub survey: Duration,
    /// Recording what was seen: settled intents, status and drift changes.
    pub record: Duration,
    /// Carrying the plan out (intents, calls, outcomes).
    pub apply: Duration,
    /// Recording how the pass finished and saving the projection.
    pub finish: Duration,
    /// The event log's flushes to disk during the pass.
    pub flushes: eventlog::FlushStats,
}

impl Timings {
    /// One log line, every phase in milliseconds.
    pub fn log(&self) {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        tracing::info!(
            target: "muster::timings",
            replay_ms = ms(self.replay),
            organization_ms = ms(self.organization),
            survey_ms = ms(self.survey),
            record_ms = ms(self.record),
            apply_ms = ms(self.apply),
            finish_ms = ms(self.finish),
            flushes = self.flushes.flushes,
            flush_ms = ms(self.flushes.took),
            "pass timings"
        );
    }
}

impl PassReport {
    /// Whether the plan (either side's) makes any change.
    pub fn has_changes(&self) -> bool {
        self.plan.has_changes()
            || member::has_changes(&self.member)
            || self.accepts.iter().any(|a| !a.accounts.is_empty())
    }

    /// Pieces of drift seen: the plan's, or in member mode the invitations'.
    pub fn drift(&self) -> usize {
        let graphs = self.plan.graphs.iter().map(|g| g.drift.len());
        let hubs = self.plan.hubs.iter().map(|h| h.drift.len());
        let configurations = self.plan.configurations.iter().map(|c| c.drift.len());
        let central = self.plan.central.iter().map(|c| c.drift.len());
        let member = self.member.iter().map(|p| p.plan.drift.len());
        (graphs
            .chain(hubs)
            .chain(configurations)
            .chain(central)
            .chain(member))
        .sum()
    }

    pub fn ok(&self) -> bool {
        self.observe_failures.is_empty() && self.applied.failed == 0 && !self.applied.interrupted
    }

    /// How the pass ended: the `pass_finished` outcome and the `result` label of
    /// `muster_passes_total`.
    pub fn result(&self) -> PassResult {
        if self.applied.interrupted {
            PassResult::Interrupted
        } else if !self.observe_failures.is_empty() || self.applied.failed > 0 {
            PassResult::Partial
        } else if self.suspended {
            PassResult::Suspended
        } else {
            PassResult::Ok
        }
    }
}

/// How a pass ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassResult {
    /// Everything observed, every change made.
    Ok,
    /// Some graph could not be observed or some change failed; the rest went on.
    Partial,
    /// The pass could not run (event log, settings).
    Failed,
    /// `suspend`: observed and reported, nothing written.
    Suspended,
    /// Stopped by SIGTERM/SIGINT after the batch in flight.
    Interrupted,
}

impl PassResult {
    pub fn as_str(self) -> &'static str {
        match self {
            PassResult::Ok => "ok",
            PassResult::Partial => "partial",
            PassResult::Failed => "failed",
            PassResult::Suspended => "suspended",
            PassResult::Interrupted => "interrupted",
        }
    }
}

/// How a pass runs.
pub struct PassOptions<'a> {
    pub plan: PlanSettings,
    /// Graphs observed and applied at once.
    pub concurrency: usize,
    /// Observe, record and report drift; write nothing to AWS.
    pub suspend: bool,
    /// Set by a shutdown: no new batch starts, the ones in flight finish.
    pub stop: &'a AtomicBool,
    /// Central acceptance: the member role assumed to accept invitations, when set.
    pub members: Option<&'a crate::aws::roles::MemberRoles>,
}

/// How the organization's accounts were found for this pass.
#[derive(Debug, Clone, Default)]
pub enum OrgStatus {
    /// The desired state takes no accounts from the organization.
    #[default]
    NotUsed,
    /// Listed this pass.
    Fresh,
    /// Could not be listed: the last good expansion (if any) is in use, and prune waits.
    Stale {
        error: Unobserved,
        last_listed: Option<SystemTime>,
    },
}

/// The organization, as far as this pass knows it.
#[derive(Debug, Clone, Default)]
pub struct OrgOutcome {
    pub status: OrgStatus,
    /// Every account in the organization, when known.
    pub organization: Option<BTreeSet<AccountId>>,
    /// Accounts the selection took.
    pub accounts: usize,
    /// Why prune must not act this pass (the organization could not be listed), if so.
    pub prune_blocked: Option<String>,
    /// The tree's shape, when it was listed this pass (central configuration needs it).
    pub shape: Option<crate::observed::OrgShape>,
}

/// How every pass begins, in both modes: `desired_state_loaded` (`accounts` declared), then the
/// projection replayed from the log.
pub(crate) fn begin(
    log: &EventLog,
    run: &str,
    desired: &DesiredState,
    accounts: usize,
) -> Result<Projection, EventLogError> {
    log.append(
        run,
        desired,
        EventKind::DesiredStateLoaded {
            files: desired
                .files
                .iter()
                .map(|f| f.display().to_string())
                .collect(),
            accounts,
        },
        false,
    )?;
    let projection = replay(log)?;
    // What memory a pass needs grows with these (README, "Sizing").
    tracing::info!(
        members = projection.status.len(),
        targets = projection.status.targets(),
        open_drift = projection.drift.len(),
        events = log.last_seq(),
        "managing {} members in {} targets",
        projection.status.len(),
        projection.status.targets()
    );
    Ok(projection)
}

impl PassReport {
    /// What the pass saw, as `record` writes it: who is listed where and the drift by target.
    fn seen(&self) -> Seen<'_> {
        let mut listed = Listed::new();
        for g in &self.found.graphs {
            let members = g.members.iter();
            let members = members.map(|m| (m.account_id, m.status.as_str()));
            listed.insert(Target::Graph(g.arn.clone()).to_string(), members.collect());
        }
        for h in &self.found.hubs {
            let members = h
                .members
                .iter()
                .filter(|m| m.status != HubMemberStatus::Deleted);
            // Sized for all of them: collected through the filter, the list grew by doubling
            // (up to twice its size, at 10,000 members a Region).
            let mut kept = Vec::with_capacity(h.members.len());
            kept.extend(members.map(|m| (m.account_id, m.status.as_str())));
            listed.insert(Target::Hub(h.service, h.region.clone()).to_string(), kept);
        }
        // A configuration target has no members; it is listed so that its drift and intents
        // settle once it is observed.
        for c in &self.found.configurations {
            listed.insert(c.target().to_string(), Vec::new());
        }
        for c in &self.found.central {
            let target = Target::Central(c.service, c.region.clone());
            listed.insert(target.to_string(), Vec::new());
        }
        for p in &self.member {
            if let Ok(invitations) = &p.listed {
                let members = invitations.iter();
                let members = members.map(|i| (i.administrator, i.status.as_str()));
                listed.insert(p.target.to_string(), members.collect());
            }
        }
        let drift: Vec<(Target, &[Drift])> = (self.plan.graphs.iter())
            .map(|g| (g.target(), g.drift.as_slice()))
            .chain(
                self.plan
                    .hubs
                    .iter()
                    .map(|h| (h.target(), h.drift.as_slice())),
            )
            .chain((self.plan.configurations.iter()).map(|c| (c.target(), c.drift.as_slice())))
            .chain((self.plan.central.iter()).map(|c| (c.target(), c.drift.as_slice())))
            .chain(
                self.member
                    .iter()
                    .map(|p| (p.target.clone(), p.plan.drift.as_slice())),
            )
            .collect();
        Seen {
            org: &self.org,
            failures: &self.observe_failures,
            listed,
            drift,
        }
    }
}

/// The administrator side observed and planned.
async fn survey_pass(
    apis: &Apis,
    log: &EventLog,
    desired: &DesiredState,
    opts: &PassOptions<'_>,
) -> Result<PassReport, EventLogError> {
    let mut s = survey(apis, Some(log), desired, &opts.plan, opts.concurrency).await?;
    let accepts = match opts.members {
        Some(roles) => accept::observe(roles, &mut s).await,
        None => Vec::new(),
    };
    Ok(PassReport {
        accepts,
        timings: Timings {
            organization: s.organization_took,
            ..Timings::default()
        },
        plan: s.plan,
        found: s.found,
        observe_failures: s.failures,
        org: s.org,
        effective: Some(s.desired),
        ..PassReport::default()
    })
}

/// One pass, recorded in `log`.
pub async fn pass(
    apis: &Apis,
    log: &EventLog,
    run: &str,
    desired: &DesiredState,
    opts: &PassOptions<'_>,
) -> Result<PassReport, EventLogError> {
    let record = |kind: EventKind, flush: bool| log.append(run, desired, kind, flush);
    let declared = if desired.member.is_some() {
        0
    } else {
        desired.accounts.len()
    };
    let flushed = log.flush_stats();
    let mut clock = Lap::start();
    let mut lap = || clock.lap();
    let mut projection = begin(log, run, desired, declared)?;
    let replayed = lap();
    let mut report = match &desired.member {
        Some(m) => member::observe(apis, desired, m, opts.concurrency).await,
        None => Box::pin(survey_pass(apis, log, desired, opts)).await?,
    };
    report.timings.replay = replayed;
    report.timings.survey = lap();
    record::seen(log, &record, &mut projection, &report.seen())?;
    report.timings.record = lap();
    report.suspended = opts.suspend;
    if opts.suspend {
        if report.has_changes() {
            tracing::info!("suspended: the plan's changes are not made");
        }
    } else {
        let journal = Journal {
            log,
            run,
            origin: desired.into(),
            stop: opts.stop,
        };
        report.applied = match &desired.member {
            Some(_) => Box::pin(member::apply(apis, journal, &report)).await?,
            None => {
                let effective = report.effective.as_ref().unwrap_or(desired);
                let apply = apply::apply(apis, journal, effective, &report.plan, opts.concurrency);
                let mut applied = Box::pin(apply).await?;
                if let Some(roles) = opts.members {
                    let invited = accept::invited_by(&apis.detective, &applied).await;
                    let all = crate::plan::accept::with_invited(&report.accepts, invited);
                    let accept = apply::accept::accept(roles, journal, &all, opts.concurrency);
                    applied.add(Box::pin(accept).await?);
                }
                applied
            }
        };
    }
    report.timings.apply = lap();
    report.oldest_drift = gauges::oldest_drift(&projection, &report.applied);
    let applied = &report.applied;
    record(
        EventKind::PassFinished {
            outcome: report.result().as_str().into(),
            invited: applied.joined(),
            removed: applied.left(),
            failed: applied.failed + report.observe_failures.len(),
            drift: report.drift(),
        },
        true,
    )?;
    eventlog::projection::save(log, projection)?;
    report.timings.finish = lap();
    report.timings.flushes = log.flush_stats() - flushed;
    report.timings.log();
    Ok(report)
}

/// A run id: time-ordered and unique enough for one state_dir.
pub fn run_id() -> String {
    let ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{ms:x}-{:04x}", std::process::id() & 0xffff)
}
