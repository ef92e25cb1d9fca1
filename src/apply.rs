//! Carrying out a plan: per graph, removals then invitations, in batches of at most 50 accounts.
//! Every batch is an intent event flushed to disk before its call and an outcome event after.
//! One failed batch never stops the others; a graph at Detective's member quota gets what fits
//! and the rest is reported, not retried in a loop.

use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::stream::{self, StreamExt};

use crate::aws::DetectiveApi;
use crate::desired::DesiredState;
use crate::domain::AccountId;
use crate::eventlog::{EventKind, EventLog, EventLogError, Unprocessed};
use crate::plan::{GraphPlan, Plan, RemovalReason};

/// The most accounts Detective takes in one CreateMembers or DeleteMembers call.
pub const BATCH: usize = 50;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ApplyReport {
    pub invited: usize,
    pub removed: usize,
    /// Accounts that came back unprocessed for a reason other than "already a member".
    pub unprocessed: usize,
    /// Batches whose call failed.
    pub failed: usize,
    pub quota_blocked: usize,
    /// Of `unprocessed`, those that were removals.
    pub remove_unprocessed: usize,
    /// Accounts in batches whose call failed, invitations and removals.
    pub invite_failed_accounts: usize,
    pub remove_failed_accounts: usize,
    /// Set when a shutdown stopped the pass before every batch was sent.
    pub interrupted: bool,
}

impl ApplyReport {
    fn add(&mut self, o: &ApplyReport) {
        self.invited += o.invited;
        self.removed += o.removed;
        self.unprocessed += o.unprocessed;
        self.failed += o.failed;
        self.quota_blocked += o.quota_blocked;
        self.remove_unprocessed += o.remove_unprocessed;
        self.invite_failed_accounts += o.invite_failed_accounts;
        self.remove_failed_accounts += o.remove_failed_accounts;
        self.interrupted |= o.interrupted;
    }
}

/// Applies every graph's plan, `concurrency` graphs at a time. Once `stop` is set no new batch
/// starts; the batches in flight finish and record their outcomes.
pub async fn apply<D: DetectiveApi>(
    api: &D,
    log: &EventLog,
    run: &str,
    desired: &DesiredState,
    plan: &Plan,
    concurrency: usize,
    stop: &AtomicBool,
) -> Result<ApplyReport, EventLogError> {
    let results: Vec<Result<ApplyReport, EventLogError>> = stream::iter(&plan.graphs)
        .map(|g| apply_graph(api, log, run, desired, g, stop))
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut total = ApplyReport::default();
    for r in results {
        total.add(&r?);
    }
    Ok(total)
}

fn ids(accounts: &[AccountId]) -> Vec<String> {
    accounts.iter().map(ToString::to_string).collect()
}

fn unprocessed(list: &[(AccountId, String)]) -> Vec<Unprocessed> {
    list.iter()
        .map(|(a, r)| Unprocessed {
            account: a.to_string(),
            reason: r.clone(),
        })
        .collect()
}

/// Detective says so when an account is already in the graph: for muster that is success.
fn already_member(reason: &str) -> bool {
    reason.to_ascii_lowercase().contains("already a member")
}

async fn apply_graph<D: DetectiveApi>(
    api: &D,
    log: &EventLog,
    run: &str,
    desired: &DesiredState,
    gp: &GraphPlan,
    stop: &AtomicBool,
) -> Result<ApplyReport, EventLogError> {
    let digest = desired.digest.as_str();
    let graph = gp.graph.to_string();
    let mut report = ApplyReport::default();
    let mut n = 0usize;
    // Progress in the logs: "batch 3/12" per graph.
    let removals = |why| gp.remove.iter().filter(|(_, r)| *r == why).count();
    let total = removals(RemovalReason::EmailCorrected).div_ceil(BATCH)
        + removals(RemovalReason::Undeclared).div_ceil(BATCH)
        + gp.invite.len().div_ceil(BATCH);
    let mut batch_id = || {
        n += 1;
        format!("{run}/{}/{n}", &graph[graph.len().saturating_sub(8)..])
    };
    let progress = |batch: &str| {
        let n = batch.rsplit('/').next().unwrap_or("?");
        format!("{n}/{total}")
    };
    if let Some(reason) = &gp.prune_refused {
        tracing::warn!(graph = %graph, reason = %reason, "prune refused");
        log.append(
            run,
            digest,
            EventKind::PruneRefused {
                graph: graph.clone(),
                reason: reason.clone(),
            },
            false,
        )?;
    }

    for reason in [RemovalReason::EmailCorrected, RemovalReason::Undeclared] {
        let accounts: Vec<AccountId> = gp
            .remove
            .iter()
            .filter(|(_, r)| *r == reason)
            .map(|(a, _)| *a)
            .collect();
        for chunk in accounts.chunks(BATCH) {
            if stop.load(Ordering::SeqCst) {
                report.interrupted = true;
                return Ok(report);
            }
            let batch = batch_id();
            log.append(
                run,
                digest,
                EventKind::RemovalIntent {
                    batch: batch.clone(),
                    graph: graph.clone(),
                    accounts: ids(chunk),
                    reason: reason.as_str().into(),
                },
                true,
            )?;
            match api.delete_members(&gp.graph, chunk).await {
                Ok(out) => {
                    report.removed += out.deleted.len();
                    report.unprocessed += out.unprocessed.len();
                    report.remove_unprocessed += out.unprocessed.len();
                    tracing::info!(graph = %graph, batch = %batch, progress = %progress(&batch), removed = out.deleted.len(), unprocessed = out.unprocessed.len(), "removed members");
                    log.append(
                        run,
                        digest,
                        EventKind::RemovalResult {
                            batch,
                            graph: graph.clone(),
                            removed: ids(&out.deleted),
                            unprocessed: unprocessed(&out.unprocessed),
                        },
                        true,
                    )?;
                }
                Err(e) => {
                    report.failed += 1;
                    report.remove_failed_accounts += chunk.len();
                    tracing::warn!(graph = %graph, batch = %batch, code = %e.code, error = %e.message, "remove members failed");
                    log.append(
                        run,
                        digest,
                        EventKind::RemovalFailed {
                            batch,
                            graph: graph.clone(),
                            code: e.code,
                            message: e.message,
                        },
                        true,
                    )?;
                }
            }
        }
    }

    let invites = &gp.invite;
    for (i, chunk) in invites.chunks(BATCH).enumerate() {
        if stop.load(Ordering::SeqCst) {
            report.interrupted = true;
            return Ok(report);
        }
        let batch = batch_id();
        let accounts: Vec<AccountId> = chunk.iter().map(|(a, _)| *a).collect();
        log.append(
            run,
            digest,
            EventKind::InviteIntent {
                batch: batch.clone(),
                graph: graph.clone(),
                accounts: ids(&accounts),
            },
            true,
        )?;
        let result = api
            .create_members(
                &gp.graph,
                chunk,
                desired.detective.message.as_deref(),
                desired.detective.disable_email_notification,
            )
            .await;
        match result {
            Ok(out) => {
                let refused = out
                    .unprocessed
                    .iter()
                    .filter(|(_, r)| !already_member(r))
                    .count();
                report.invited += out.members.len();
                report.unprocessed += refused;
                for (a, r) in out.unprocessed.iter().filter(|(_, r)| !already_member(r)) {
                    tracing::warn!(graph = %graph, account = %a, reason = %r, "account not invited");
                }
                tracing::info!(graph = %graph, batch = %batch, progress = %progress(&batch), invited = out.members.len(), unprocessed = out.unprocessed.len(), "invited accounts");
                log.append(
                    run,
                    digest,
                    EventKind::InviteResult {
                        batch,
                        graph: graph.clone(),
                        created: out
                            .members
                            .iter()
                            .map(|m| m.account_id.to_string())
                            .collect(),
                        unprocessed: unprocessed(&out.unprocessed),
                    },
                    true,
                )?;
            }
            Err(e) => {
                report.failed += 1;
                report.invite_failed_accounts += chunk.len();
                tracing::warn!(graph = %graph, batch = %batch, code = %e.code, error = %e.message, "invite failed");
                let quota = e.code == "ServiceQuotaExceededException";
                log.append(
                    run,
                    digest,
                    EventKind::InviteFailed {
                        batch,
                        graph: graph.clone(),
                        code: e.code,
                        message: e.message,
                    },
                    true,
                )?;
                if quota {
                    // The graph is full: the rest would fail the same way.
                    let rest = invites.len().saturating_sub((i + 1) * BATCH);
                    report.quota_blocked += rest + chunk.len();
                    report.invite_failed_accounts -= chunk.len();
                    break;
                }
            }
        }
    }
    Ok(report)
}
