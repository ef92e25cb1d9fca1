//! Carrying out a plan: per graph, removals then invitations, in batches of at most 50 accounts;
//! per Security Hub, removals, then CreateMembers, then InviteMembers, in batches of 50.
//! Every batch is an intent event flushed to disk before its call and an outcome event after.
//! One failed batch never stops the others; a graph at Detective's member quota gets what fits
//! and the rest is reported, not retried in a loop.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::stream::{self, StreamExt};

use crate::aws::{self, DetectiveApi, SecurityHubApi};
use crate::desired::DesiredState;
use crate::domain::AccountId;
use crate::eventlog::{EventKind, EventLog, EventLogError, Unprocessed};
use crate::plan::{GraphPlan, HubPlan, Plan, RemovalReason};

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
    /// Accounts by (service, change, outcome) for Security Hub and the member side, e.g.
    /// ("securityhub", "create", "ok"); Detective's are the fields above.
    pub counts: BTreeMap<(&'static str, &'static str, &'static str), usize>,
}

impl ApplyReport {
    /// Accounts counted under (service, change, outcome).
    pub fn count(&self, service: &str, change: &str, outcome: &str) -> usize {
        self.counts
            .iter()
            .filter(|((s, c, o), _)| *s == service && *c == change && *o == outcome)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn tally(&mut self, key: (&'static str, &'static str, &'static str), n: usize) {
        if n > 0 {
            *self.counts.entry(key).or_default() += n;
        }
    }

    pub fn add(&mut self, o: &ApplyReport) {
        for (k, n) in &o.counts {
            self.tally(*k, *n);
        }
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

/// Security Hub says so when an account is already a member: for muster that is success.
fn already_hub_member(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    r.contains("already a member") || r.contains("already associated with this")
}

/// One recorded action: the intent flushed before `call` runs, the outcome after. Returns the
/// accounts the call did not process, or `None` when the call failed (recorded, logged, and
/// counted in `report.failed`).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn recorded<F>(
    log: &EventLog,
    run: &str,
    digest: &str,
    batch: String,
    service: &'static str,
    target: &str,
    action: &'static str,
    accounts: Vec<String>,
    call: F,
) -> Result<Option<Vec<(AccountId, String)>>, EventLogError>
where
    F: Future<Output = Result<Vec<(AccountId, String)>, aws::Error>>,
{
    log.append(
        run,
        digest,
        EventKind::ActionIntent {
            batch: batch.clone(),
            service: service.into(),
            target: target.into(),
            action: action.into(),
            accounts: accounts.clone(),
        },
        true,
    )?;
    match call.await {
        Ok(unprocessed_list) => {
            let refused: Vec<&String> = unprocessed_list.iter().map(|(_, r)| r).collect();
            let done: Vec<String> = accounts
                .into_iter()
                .filter(|a| !unprocessed_list.iter().any(|(u, _)| u.to_string() == *a))
                .collect();
            tracing::info!(target_name = %target, batch = %batch, action, done = done.len(), unprocessed = refused.len(), "{service} {action}");
            for (a, r) in &unprocessed_list {
                tracing::warn!(target_name = %target, account = %a, reason = %r, "{service} {action}: account not processed");
            }
            log.append(
                run,
                digest,
                EventKind::ActionResult {
                    batch,
                    target: target.into(),
                    action: action.into(),
                    done,
                    unprocessed: unprocessed(&unprocessed_list),
                },
                true,
            )?;
            Ok(Some(unprocessed_list))
        }
        Err(e) => {
            tracing::warn!(target_name = %target, batch = %batch, code = %e.code, error = %e.message, "{service} {action} failed");
            log.append(
                run,
                digest,
                EventKind::ActionFailed {
                    batch,
                    target: target.into(),
                    action: action.into(),
                    code: e.code,
                    message: e.message,
                },
                true,
            )?;
            Ok(None)
        }
    }
}

/// Applies every Security Hub's plan, `concurrency` regions at a time.
pub async fn apply_hubs<H: SecurityHubApi>(
    api: &H,
    log: &EventLog,
    run: &str,
    digest: &str,
    hubs: &[HubPlan],
    concurrency: usize,
    stop: &AtomicBool,
) -> Result<ApplyReport, EventLogError> {
    let results: Vec<Result<ApplyReport, EventLogError>> = stream::iter(hubs)
        .map(|h| apply_hub(api, log, run, digest, h, stop))
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut total = ApplyReport::default();
    for r in results {
        total.add(&r?);
    }
    Ok(total)
}

const HUB: &str = "securityhub";

async fn apply_hub<H: SecurityHubApi>(
    api: &H,
    log: &EventLog,
    run: &str,
    digest: &str,
    hp: &HubPlan,
    stop: &AtomicBool,
) -> Result<ApplyReport, EventLogError> {
    let target = hp.target();
    let region = &hp.region;
    let mut report = ApplyReport::default();
    let mut n = 0usize;
    let mut batch_id = || {
        n += 1;
        format!("{run}/{region}/{n}")
    };
    if let Some(reason) = &hp.prune_refused {
        tracing::warn!(target_name = %target, reason = %reason, "prune refused");
        log.append(
            run,
            digest,
            EventKind::PruneRefused {
                graph: target.clone(),
                reason: reason.clone(),
            },
            false,
        )?;
    }
    let fail = |report: &mut ApplyReport, change, accounts: usize| {
        report.failed += 1;
        report.tally((HUB, change, "failed"), accounts);
    };

    for chunk in hp.remove.chunks(BATCH) {
        if stop.load(Ordering::SeqCst) {
            report.interrupted = true;
            return Ok(report);
        }
        // Disassociated first: Security Hub deletes only members that are not associated.
        let r = recorded(
            log,
            run,
            digest,
            batch_id(),
            HUB,
            &target,
            "DisassociateMembers",
            ids(chunk),
            async {
                api.disassociate_members(region, chunk)
                    .await
                    .map(|()| Vec::new())
            },
        )
        .await?;
        if r.is_none() {
            fail(&mut report, "remove", chunk.len());
            continue;
        }
        match recorded(
            log,
            run,
            digest,
            batch_id(),
            HUB,
            &target,
            "DeleteMembers",
            ids(chunk),
            api.delete_members(region, chunk),
        )
        .await?
        {
            Some(u) => {
                report.tally((HUB, "remove", "ok"), chunk.len() - u.len());
                report.tally((HUB, "remove", "unprocessed"), u.len());
            }
            None => fail(&mut report, "remove", chunk.len()),
        }
    }

    // Accounts whose CreateMembers failed are not invited.
    let mut not_created: Vec<AccountId> = Vec::new();
    for chunk in hp.create.chunks(BATCH) {
        if stop.load(Ordering::SeqCst) {
            report.interrupted = true;
            return Ok(report);
        }
        let accounts: Vec<AccountId> = chunk.iter().map(|(a, _)| *a).collect();
        match recorded(
            log,
            run,
            digest,
            batch_id(),
            HUB,
            &target,
            "CreateMembers",
            ids(&accounts),
            api.create_members(region, chunk),
        )
        .await?
        {
            Some(u) => {
                let refused: Vec<AccountId> = u
                    .iter()
                    .filter(|(_, r)| !already_hub_member(r))
                    .map(|(a, _)| *a)
                    .collect();
                report.tally((HUB, "create", "ok"), chunk.len() - refused.len());
                report.tally((HUB, "create", "unprocessed"), refused.len());
                report.unprocessed += refused.len();
                not_created.extend(refused);
            }
            None => {
                fail(&mut report, "create", chunk.len());
                not_created.extend(accounts);
            }
        }
    }

    let invite: Vec<AccountId> = hp
        .invite
        .iter()
        .filter(|a| !not_created.contains(a))
        .copied()
        .collect();
    for chunk in invite.chunks(BATCH) {
        if stop.load(Ordering::SeqCst) {
            report.interrupted = true;
            return Ok(report);
        }
        match recorded(
            log,
            run,
            digest,
            batch_id(),
            HUB,
            &target,
            "InviteMembers",
            ids(chunk),
            api.invite_members(region, chunk),
        )
        .await?
        {
            Some(u) => {
                report.tally((HUB, "invite", "ok"), chunk.len() - u.len());
                report.tally((HUB, "invite", "unprocessed"), u.len());
                report.unprocessed += u.len();
            }
            None => fail(&mut report, "invite", chunk.len()),
        }
    }
    Ok(report)
}
