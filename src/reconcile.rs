//! One pass: observe what Detective has for every desired graph, settle intents left in doubt
//! by a crash, record what changed since the last pass, plan, and (for `apply`) carry the plan
//! out. Level-triggered: a pass never asks why it runs; it re-reads everything.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicBool;
use std::time::SystemTime;

use futures_util::stream::{self, StreamExt};

use crate::apply::{apply, ApplyReport};
use crate::aws::{self, DetectiveApi};
use crate::desired::{DesiredState, GraphRef};
use crate::domain::AccountId;
use crate::eventlog::{EventKind, EventLog, EventLogError, Snapshot};
use crate::observed::ObservedGraph;
use crate::plan::{plan, Plan, PlanSettings};

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
    for e in log.projection_after(from) {
        match e?.kind {
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
    pub observe_failures: Vec<(String, aws::Error)>,
    pub applied: ApplyReport,
    /// Nothing was written: settings say `suspend`.
    pub suspended: bool,
}

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

/// One pass, recorded in `log`.
pub async fn pass<D: DetectiveApi>(
    api: &D,
    log: &EventLog,
    run: &str,
    desired: &DesiredState,
    opts: &PassOptions<'_>,
) -> Result<PassReport, EventLogError> {
    let (settings, concurrency) = (&opts.plan, opts.concurrency);
    let digest = desired.digest.as_str();
    let record = |kind: EventKind, flush: bool| log.append(run, digest, kind, flush);
    record(
        EventKind::DesiredStateLoaded {
            files: desired
                .files
                .iter()
                .map(|f| f.display().to_string())
                .collect(),
            accounts: desired.accounts.len(),
        },
        false,
    )?;
    if let Some((aside, why)) = &log.rebuilt {
        record(
            EventKind::StoreRebuilt {
                moved_to: aside.display().to_string(),
                error: why.clone(),
            },
            true,
        )?;
    }
    let mut projection = replay(log)?;
    let observation = observe(api, desired, concurrency).await;
    for (graph, e) in &observation.failures {
        tracing::warn!(graph = %graph, code = %e.code, error = %e.message, "cannot observe graph");
        record(
            EventKind::GraphFailed {
                graph: graph.clone(),
                code: e.code.clone(),
                message: e.message.clone(),
            },
            false,
        )?;
    }

    // Intents a crash left without an outcome are settled by what the listing shows now.
    for (batch, graph, accounts) in log.in_doubt()? {
        let Some(g) = observation.graphs.iter().find(|g| g.arn.as_str() == graph) else {
            continue;
        };
        let members: BTreeSet<AccountId> = g.members.iter().map(|m| m.account_id).collect();
        let (present, absent): (Vec<String>, Vec<String>) = accounts
            .into_iter()
            .partition(|a| AccountId::parse(a).is_some_and(|id| members.contains(&id)));
        tracing::warn!(batch = %batch, graph = %graph, present = present.len(), absent = absent.len(), "settled an intent left in doubt by listing the graph");
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

    // Status changes since the last recorded ones.
    for g in &observation.graphs {
        let graph = g.arn.to_string();
        let mut seen = BTreeSet::new();
        for m in &g.members {
            let key = (graph.clone(), m.account_id.to_string());
            seen.insert(key.1.clone());
            let now = m.status.as_str().to_owned();
            if projection.status.get(&key) != Some(&now) {
                let from = projection.status.insert(key.clone(), now.clone());
                record(
                    EventKind::MemberStatusChanged {
                        graph: key.0,
                        account: key.1,
                        from,
                        to: now,
                    },
                    false,
                )?;
            }
        }
        let gone: Vec<(String, String)> = projection
            .status
            .keys()
            .filter(|(gr, a)| *gr == graph && !seen.contains(a))
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

    let plan = plan(desired, &observation.graphs, SystemTime::now(), settings);

    // Drift: record what is new, and what went away, since the last pass.
    let mut current = BTreeSet::new();
    for gp in &plan.graphs {
        for d in &gp.drift {
            let key = (
                gp.graph.to_string(),
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
    let observed_graphs: BTreeSet<String> =
        plan.graphs.iter().map(|g| g.graph.to_string()).collect();
    for (graph, account, kind) in projection.drift.difference(&current) {
        if observed_graphs.contains(graph) {
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
    projection.drift = current;

    let applied = if opts.suspend {
        if plan.has_changes() {
            tracing::info!("suspended: the plan's changes are not made");
        }
        ApplyReport::default()
    } else {
        apply(api, log, run, desired, &plan, concurrency, opts.stop).await?
    };
    let drift: usize = plan.graphs.iter().map(|g| g.drift.len()).sum();
    let failed = applied.failed + observation.failures.len();
    let mut report = PassReport {
        plan,
        observed: Vec::new(),
        observe_failures: observation.failures,
        applied,
        suspended: opts.suspend,
    };
    let applied = &report.applied;
    record(
        EventKind::PassFinished {
            outcome: report.result().as_str().into(),
            invited: applied.invited,
            removed: applied.removed,
            failed,
            drift,
        },
        true,
    )?;
    // Statuses and drift as they stand now, so the next start replays only newer events.
    log.save_snapshot(Snapshot {
        in_doubt: log.in_doubt()?,
        seq: log.last_seq(),
        status: projection
            .status
            .into_iter()
            .map(|((g, a), s)| (g, a, s))
            .collect(),
        drift: projection.drift.into_iter().collect(),
    })?;
    report.observed = observation.graphs;
    Ok(report)
}

/// A run id: time-ordered and unique enough for one state_dir.
pub fn run_id() -> String {
    let ms = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{ms:x}-{:04x}", std::process::id() & 0xffff)
}
