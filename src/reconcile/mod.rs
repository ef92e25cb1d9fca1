//! One pass: expand the organization, observe what Detective and Security Hub have for every
//! desired graph and hub, settle intents left in doubt by a crash, record what changed since the
//! last pass, plan, and (for `apply`) carry the plan out. Level-triggered: a pass never asks
//! why it runs; it re-reads everything. A desired state with `member:` runs the member side
//! instead (`member`).

pub mod member;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::SystemTime;

use futures_util::stream::{self, StreamExt};

use crate::apply::{apply, apply_hubs, ApplyReport};
use crate::aws::detective::SdkDetective;
use crate::aws::organizations::SdkOrganizations;
use crate::aws::securityhub::SdkSecurityHub;
use crate::aws::{self, DetectiveApi, OrganizationsApi, SecurityHubApi};
use crate::desired::{DesiredState, GraphRef};
use crate::domain::AccountId;
use crate::eventlog::{Event, EventKind, EventLog, EventLogError, Snapshot};
use crate::observed::{hub_target, HubMemberStatus, ObservedGraph, ObservedHub};
use crate::org::{self, Expansion};
use crate::plan::{plan, plan_hubs, Drift, Plan, PlanSettings};

/// The three services muster talks to.
pub struct Apis<D, H, O> {
    pub detective: D,
    pub securityhub: H,
    pub organizations: O,
}

/// The SDK clients, counting their requests in `metrics` when given.
pub type SdkApis = Apis<SdkDetective, SdkSecurityHub, SdkOrganizations>;

impl SdkApis {
    pub fn from_sdk(
        config: &aws_config::SdkConfig,
        metrics: Option<Arc<dyn crate::aws::RequestSink>>,
    ) -> SdkApis {
        let mut detective = SdkDetective::new(config.clone());
        let mut securityhub = SdkSecurityHub::new(config.clone());
        if let Some(m) = &metrics {
            detective = detective.with_metrics(m.clone());
            securityhub = securityhub.with_metrics(m.clone());
        }
        Apis {
            detective,
            securityhub,
            organizations: SdkOrganizations::new(config, metrics),
        }
    }
}

/// What could be observed, and what could not.
#[derive(Debug, Default)]
pub struct Observation {
    pub graphs: Vec<ObservedGraph>,
    pub failures: Vec<(String, aws::Error)>,
}

/// Finds each desired graph (ListGraphs for a region) and lists all its members, `concurrency`
/// regions and graphs at a time. A graph that fails is reported; the others go on.
pub async fn observe<D: DetectiveApi>(
    api: &D,
    desired: &DesiredState,
    concurrency: usize,
) -> Observation {
    let mut out = Observation::default();
    let mut arns = Vec::new();
    let found: Vec<_> = stream::iter(&desired.detective.graphs)
        .map(|g| async move {
            match g {
                GraphRef::Arn(_) => (g, None),
                GraphRef::Region(r) => (g, Some(api.list_graphs(r).await)),
            }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    for (g, listed) in found {
        match (g, listed) {
            (GraphRef::Arn(a), _) => arns.push(a.clone()),
            (GraphRef::Region(_), None) => {}
            (GraphRef::Region(r), Some(listed)) => match listed {
                Ok(found) if found.is_empty() => out.failures.push((
                    g.to_string(),
                    aws::Error {
                        service: "detective",
                        operation: "ListGraphs",
                        code: "NoGraph".into(),
                        message: format!(
                            "this account has no behavior graph in {r}; enable Detective there or list the graph's arn"
                        ),
                        retryable: false,
                    },
                )),
                Ok(found) => arns.extend(found.into_iter().take(1)),
                Err(e) => out.failures.push((g.to_string(), e)),
            },
        }
    }
    arns.sort();
    arns.dedup();
    let listed: Vec<_> = stream::iter(arns)
        .map(|arn| async move {
            let r = api.list_members(&arn).await;
            (arn, r)
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    for (arn, r) in listed {
        match r {
            Ok(members) => out.graphs.push(ObservedGraph { arn, members }),
            Err(e) => out.failures.push((arn.to_string(), e)),
        }
    }
    out
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
        &desired.digest,
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
    replay(log)
}

/// What the log last recorded about each member and each piece of drift.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Projection {
    pub status: BTreeMap<(String, String), String>,
    pub drift: BTreeSet<(String, String, String)>,
}

/// Rebuilds the projection: the last snapshot, then the events after it.
pub fn replay(log: &EventLog) -> Result<Projection, EventLogError> {
    let mut p = Projection::default();
    let mut from = 0;
    if let Some(s) = log.snapshot()? {
        from = s.seq;
        p.status = s
            .status
            .iter()
            .map(|(g, a, st)| ((g.clone(), a.clone()), st.clone()))
            .collect();
        p.drift = s.drift.iter().cloned().collect();
    }
    for e in log.projection_after(from)? {
        match e.kind {
            EventKind::MemberStatusChanged {
                graph, account, to, ..
            } => {
                if to == "REMOVED" {
                    p.status.remove(&(graph, account));
                } else {
                    p.status.insert((graph, account), to);
                }
            }
            EventKind::DriftObserved {
                graph,
                account,
                kind,
                ..
            } => {
                p.drift.insert((graph, account, kind));
            }
            EventKind::DriftResolved {
                graph,
                account,
                kind,
            } => {
                p.drift.remove(&(graph, account, kind));
            }
            _ => {}
        }
    }
    Ok(p)
}

/// The result of a pass.
#[derive(Debug, Default)]
pub struct PassReport {
    pub plan: Plan,
    /// The graphs as listed at the start of the pass.
    pub observed: Vec<ObservedGraph>,
    /// The Security Hubs as listed at the start of the pass.
    pub hubs: Vec<ObservedHub>,
    pub observe_failures: Vec<(String, aws::Error)>,
    pub applied: ApplyReport,
    /// Nothing was written: settings say `suspend`.
    pub suspended: bool,
    pub org: OrgOutcome,
    /// Member side: each watched (service, region)'s invitations and plan.
    pub member: Vec<member::TargetPlan>,
    /// The desired state the pass worked to (organization accounts merged in).
    pub effective: Option<DesiredState>,
    /// Pieces of drift seen (the plan's, or in member mode the invitations').
    pub drift: usize,
}

/// How failures and logs name the organization when it cannot be listed.
pub const ORGANIZATION: &str = "organization";

impl PassReport {
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
        error: aws::Error,
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
}

/// The desired state with the organization's accounts merged in. Lists the organization once;
/// when that fails, uses the last good expansion saved in `log` (if any) and blocks prune.
pub async fn resolve_desired<O: OrganizationsApi>(
    api: &O,
    log: Option<&EventLog>,
    desired: &DesiredState,
    concurrency: usize,
) -> Result<(DesiredState, OrgOutcome), EventLogError> {
    let Some(settings) = &desired.organization else {
        return Ok((desired.clone(), OrgOutcome::default()));
    };
    let key = org::selection_key(settings);
    let listed = match org::fetch(api, concurrency).await {
        Ok(tree) => org::expansion(&tree, settings, SystemTime::now()).map_err(|e| aws::Error {
            service: "organizations",
            operation: "expand",
            code: "UnknownOrganizationalUnit".into(),
            message: format!("{e} (check `organization` in the desired state)"),
            retryable: false,
        }),
        Err(e) => Err(e),
    };
    match listed {
        Ok(exp) => {
            for id in &exp.without_email {
                tracing::warn!(account = %id, "Organizations lists no usable email for an account the organization section takes: left out");
            }
            if let Some(log) = log {
                log.save_expansion(&exp.to_saved(key))?;
            }
            tracing::info!(
                accounts = exp.accounts.len(),
                organization = exp.organization.len(),
                "listed the organization"
            );
            let out = OrgOutcome {
                status: OrgStatus::Fresh,
                organization: Some(exp.organization.clone()),
                accounts: exp.accounts.len(),
            };
            Ok((org::merge(desired, &exp), out))
        }
        Err(error) => {
            let last = match log {
                Some(log) => log.expansion()?.filter(|s| s.selection == key),
                None => None,
            }
            .map(|s| Expansion::from_saved(&s));
            let mut effective = match &last {
                Some(exp) => org::merge(desired, exp),
                None => desired.clone(),
            };
            let why = match &last {
                Some(_) => format!("the organization could not be listed ({}); the accounts are those of the last good listing, and prune waits until it can be listed again", error.code),
                None => format!("the organization could not be listed ({}) and no earlier listing is kept: only hand-listed accounts are known, and prune waits", error.code),
            };
            tracing::warn!(code = %error.code, error = %error.message, kept = last.as_ref().map_or(0, |e| e.accounts.len()), "{why}");
            effective.prune_blocked = Some(why);
            let out = OrgOutcome {
                organization: last.as_ref().map(|e| e.organization.clone()),
                accounts: last.as_ref().map_or(0, |e| e.accounts.len()),
                status: OrgStatus::Stale {
                    error,
                    last_listed: last.map(|e| e.listed_at),
                },
            };
            Ok((effective, out))
        }
    }
}

/// Lists every member of each desired region's Security Hub, `concurrency` regions at a time.
pub async fn observe_hubs<H: SecurityHubApi>(
    api: &H,
    desired: &DesiredState,
    concurrency: usize,
) -> (Vec<ObservedHub>, Vec<(String, aws::Error)>) {
    let regions = desired
        .securityhub
        .as_ref()
        .map(|s| s.regions.clone())
        .unwrap_or_default();
    let listed: Vec<_> = stream::iter(regions)
        .map(|region| async move {
            let r = api.list_members(&region).await;
            (region, r)
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    let (mut hubs, mut failures) = (Vec::new(), Vec::new());
    for (region, r) in listed {
        match r {
            Ok(members) => hubs.push(ObservedHub { region, members }),
            Err(e) => failures.push((hub_target(&region), e)),
        }
    }
    (hubs, failures)
}

/// Everything a plan needs, read from AWS: the organization, the graphs, the hubs.
#[derive(Debug)]
pub struct Survey {
    /// The desired state with the organization's accounts merged in.
    pub desired: DesiredState,
    pub org: OrgOutcome,
    pub graphs: Vec<ObservedGraph>,
    pub hubs: Vec<ObservedHub>,
    pub failures: Vec<(String, aws::Error)>,
    pub plan: Plan,
}

/// Reads what AWS has and plans against it (no writes; `log` only supplies the last good
/// organization listing and keeps the new one).
pub async fn survey<D: DetectiveApi, H: SecurityHubApi, O: OrganizationsApi>(
    apis: &Apis<D, H, O>,
    log: Option<&EventLog>,
    desired: &DesiredState,
    settings: &PlanSettings,
    concurrency: usize,
) -> Result<Survey, EventLogError> {
    // What a desired state does not use is not run: the optional services' futures are boxed,
    // so they cost nothing (not even room in this future) when their sections are absent.
    let (effective, org) = if desired.organization.is_some() {
        Box::pin(resolve_desired(
            &apis.organizations,
            log,
            desired,
            concurrency,
        ))
        .await?
    } else {
        (desired.clone(), OrgOutcome::default())
    };
    let hubs = async {
        if effective.securityhub.is_some() {
            Box::pin(observe_hubs(&apis.securityhub, &effective, concurrency)).await
        } else {
            (Vec::new(), Vec::new())
        }
    };
    let (observation, (hubs, hub_failures)) =
        tokio::join!(observe(&apis.detective, &effective, concurrency), hubs);
    let mut failures = observation.failures;
    if let OrgStatus::Stale { error, .. } = &org.status {
        failures.insert(0, (ORGANIZATION.into(), error.clone()));
    }
    failures.extend(hub_failures);
    let now = SystemTime::now();
    let mut p = plan(&effective, &observation.graphs, now, settings);
    p.hubs = plan_hubs(&effective, &hubs, org.organization.as_ref(), now, settings);
    Ok(Survey {
        desired: effective,
        org,
        graphs: observation.graphs,
        hubs,
        failures,
        plan: p,
    })
}

/// One pass, recorded in `log`.
pub async fn pass<D: DetectiveApi, H: SecurityHubApi, O: OrganizationsApi>(
    apis: &Apis<D, H, O>,
    log: &EventLog,
    run: &str,
    desired: &DesiredState,
    opts: &PassOptions<'_>,
) -> Result<PassReport, EventLogError> {
    if let Some(member) = &desired.member {
        return Box::pin(member::pass(apis, log, run, desired, member, opts)).await;
    }
    let (settings, concurrency) = (&opts.plan, opts.concurrency);
    let digest = desired.digest.as_str();
    let record = |kind: EventKind, flush: bool| log.append(run, digest, kind, flush);
    let mut projection = begin(log, run, desired, desired.accounts.len())?;
    let Survey {
        desired: effective,
        org,
        graphs,
        hubs,
        failures,
        plan,
    } = survey(apis, Some(log), desired, settings, concurrency).await?;
    if let OrgStatus::Stale { error, last_listed } = &org.status {
        record(
            EventKind::OrganizationStale {
                code: error.code.clone(),
                message: error.message.clone(),
                last_listed_ms: last_listed.and_then(|t| {
                    t.duration_since(SystemTime::UNIX_EPOCH)
                        .ok()
                        .map(|d| d.as_millis() as u64)
                }),
                accounts: org.accounts,
            },
            false,
        )?;
    }
    for (graph, e) in &failures {
        if graph == ORGANIZATION {
            continue; // recorded above as `organization_stale`
        }
        tracing::warn!(target_name = %graph, code = %e.code, error = %e.message, "cannot observe");
        record(
            EventKind::GraphFailed {
                graph: graph.clone(),
                code: e.code.clone(),
                message: e.message.clone(),
            },
            false,
        )?;
    }

    // Who is listed where now, by target (graph ARN or `securityhub:<region>`).
    let mut listed: BTreeMap<String, Vec<(AccountId, String)>> = BTreeMap::new();
    for g in &graphs {
        listed.insert(
            g.arn.to_string(),
            g.members
                .iter()
                .map(|m| (m.account_id, m.status.as_str().to_owned()))
                .collect(),
        );
    }
    for h in &hubs {
        listed.insert(
            hub_target(&h.region),
            h.members
                .iter()
                .filter(|m| !matches!(m.status, HubMemberStatus::Deleted))
                .map(|m| (m.account_id, m.status.as_str().to_owned()))
                .collect(),
        );
    }

    settle_in_doubt(log, &record, &listed)?;
    let drifts: Vec<(String, &[Drift])> = plan
        .graphs
        .iter()
        .map(|g| (g.graph.to_string(), g.drift.as_slice()))
        .chain(plan.hubs.iter().map(|h| (h.target(), h.drift.as_slice())))
        .collect();
    record_changes(&record, &mut projection, &listed, &drifts)?;

    let applied = if opts.suspend {
        if plan.has_changes() {
            tracing::info!("suspended: the plan's changes are not made");
        }
        ApplyReport::default()
    } else {
        // The two services are independent: their changes go out side by side.
        let hubs = async {
            if plan.hubs.is_empty() {
                Ok(ApplyReport::default())
            } else {
                Box::pin(apply_hubs(
                    &apis.securityhub,
                    log,
                    run,
                    digest,
                    &plan.hubs,
                    concurrency,
                    opts.stop,
                ))
                .await
            }
        };
        let (detective, securityhub) = tokio::join!(
            apply(
                &apis.detective,
                log,
                run,
                &effective,
                &plan,
                concurrency,
                opts.stop,
            ),
            hubs
        );
        let mut a = detective?;
        a.add(&securityhub?);
        a
    };
    let drift = plan.graphs.iter().map(|g| g.drift.len()).sum::<usize>()
        + plan.hubs.iter().map(|h| h.drift.len()).sum::<usize>();
    let failed = applied.failed + failures.len();
    let report = PassReport {
        plan,
        observed: graphs,
        hubs,
        observe_failures: failures,
        applied,
        suspended: opts.suspend,
        org,
        member: Vec::new(),
        effective: Some(effective),
        drift,
    };
    let applied = &report.applied;
    record(
        EventKind::PassFinished {
            outcome: report.result().as_str().into(),
            invited: applied.invited + applied.count("securityhub", "create", "ok"),
            removed: applied.removed + applied.count("securityhub", "remove", "ok"),
            failed,
            drift,
        },
        true,
    )?;
    save_projection(log, projection)?;
    Ok(report)
}

/// Who is listed where, by target: (account, status).
pub(crate) type Listed = BTreeMap<String, Vec<(AccountId, String)>>;

/// Intents a crash left without an outcome, settled by what the listing shows now: `present`
/// are listed at the intent's target, `absent` are not. Targets not listed this pass wait.
pub(crate) fn settle_in_doubt(
    log: &EventLog,
    record: &dyn Fn(EventKind, bool) -> Result<Event, EventLogError>,
    listed: &Listed,
) -> Result<(), EventLogError> {
    for (batch, graph, accounts) in log.in_doubt()? {
        let Some(members) = listed.get(&graph) else {
            continue;
        };
        let members: BTreeSet<AccountId> = members.iter().map(|(a, _)| *a).collect();
        let (present, absent): (Vec<String>, Vec<String>) = accounts
            .into_iter()
            .partition(|a| AccountId::parse(a).is_some_and(|id| members.contains(&id)));
        tracing::warn!(batch = %batch, target_name = %graph, present = present.len(), absent = absent.len(), "settled an intent left in doubt by listing again");
        record(
            EventKind::IntentResolved {
                batch,
                graph,
                present,
                absent,
            },
            false,
        )?;
    }
    Ok(())
}

/// The recorder `record_changes` appends through.
type Record<'a> = &'a dyn Fn(EventKind, bool) -> Result<Event, EventLogError>;

/// Records status changes and drift since the last pass (the projection), and updates the
/// projection to what stands now. Drift on targets not listed this pass stays as it was.
pub(crate) fn record_changes(
    record: Record<'_>,
    projection: &mut Projection,
    listed: &Listed,
    drifts: &[(String, &[Drift])],
) -> Result<(), EventLogError> {
    record_statuses(record, projection, listed)?;
    record_drift(record, projection, listed, drifts)
}

/// A `member_status_changed` for each member whose status differs from the one recorded, and
/// one to `REMOVED` for each recorded member a listing no longer has.
fn record_statuses(
    record: Record<'_>,
    projection: &mut Projection,
    listed: &Listed,
) -> Result<(), EventLogError> {
    for (target, members) in listed {
        let mut seen = BTreeSet::new();
        for (account, now) in members {
            let key = (target.clone(), account.to_string());
            seen.insert(key.1.clone());
            if projection.status.get(&key) != Some(now) {
                let from = projection.status.insert(key.clone(), now.clone());
                record(
                    EventKind::MemberStatusChanged {
                        graph: key.0,
                        account: key.1,
                        from,
                        to: now.clone(),
                    },
                    false,
                )?;
            }
        }
        let gone: Vec<(String, String)> = projection
            .status
            .keys()
            .filter(|(gr, a)| gr == target && !seen.contains(a))
            .cloned()
            .collect();
        for key in gone {
            let from = projection.status.remove(&key);
            record(
                EventKind::MemberStatusChanged {
                    graph: key.0,
                    account: key.1,
                    from,
                    to: "REMOVED".into(),
                },
                false,
            )?;
        }
    }
    Ok(())
}

/// `drift_observed` for drift not recorded yet, `drift_resolved` for recorded drift a listed
/// target no longer has.
fn record_drift(
    record: Record<'_>,
    projection: &mut Projection,
    listed: &Listed,
    drifts: &[(String, &[Drift])],
) -> Result<(), EventLogError> {
    let mut current = BTreeSet::new();
    for (target, drift) in drifts {
        for d in drift.iter() {
            let key = (
                target.clone(),
                d.account.to_string(),
                d.kind.as_str().to_owned(),
            );
            if !projection.drift.contains(&key) {
                record(
                    EventKind::DriftObserved {
                        graph: key.0.clone(),
                        account: key.1.clone(),
                        kind: key.2.clone(),
                        detail: d.detail.to_string(),
                    },
                    false,
                )?;
            }
            current.insert(key);
        }
    }
    for (graph, account, kind) in projection.drift.difference(&current) {
        if listed.contains_key(graph) {
            record(
                EventKind::DriftResolved {
                    graph: graph.clone(),
                    account: account.clone(),
                    kind: kind.clone(),
                },
                false,
            )?;
        }
    }
    current.extend(
        projection
            .drift
            .iter()
            .filter(|(g, _, _)| !listed.contains_key(g))
            .cloned(),
    );
    projection.drift = current;
    Ok(())
}

/// Saves the projection as it stands, so the next start replays only newer events.
pub(crate) fn save_projection(log: &EventLog, projection: Projection) -> Result<(), EventLogError> {
    log.save_snapshot(Snapshot {
        in_doubt: log.in_doubt()?,
        seq: log.last_seq(),
        status: projection
            .status
            .into_iter()
            .map(|((g, a), s)| (g, a, s))
            .collect(),
        drift: projection.drift.into_iter().collect(),
    })
}

/// A run id: time-ordered and unique enough for one state_dir.
pub fn run_id() -> String {
    let ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{ms:x}-{:04x}", std::process::id() & 0xffff)
}
