//! Carrying out a plan: per graph, removals then invitations, in batches of at most 50 accounts;
//! per Security Hub, removals, then CreateMembers, then InviteMembers, in batches of 50.
//! Every batch is an intent event flushed to disk before its call and an outcome event after.
//! One failed batch never stops the others; a graph at Detective's member quota gets what fits
//! and the rest is reported, not retried in a loop.

use std::collections::{BTreeMap, BTreeSet};
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

    /// Counts one recorded call of `sent` accounts under (service, change): those it did not
    /// process (`refused`) as unprocessed, the rest as ok; a failed call (`None`) as a failed
    /// batch of `sent` accounts.
    pub fn outcome(
        &mut self,
        service: &'static str,
        change: &'static str,
        sent: usize,
        refused: Option<usize>,
    ) {
        match refused {
            Some(n) => {
                self.tally((service, change, "ok"), sent - n);
                self.tally((service, change, "unprocessed"), n);
                self.unprocessed += n;
            }
            None => {
                self.failed += 1;
                self.tally((service, change, "failed"), sent);
            }
        }
    }

    /// True once a shutdown asked that no new batch start (and then marks the report
    /// interrupted).
    pub fn stopping(&mut self, stop: &AtomicBool) -> bool {
        let stopping = stop.load(Ordering::SeqCst);
        self.interrupted |= stopping;
        stopping
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
            if report.stopping(stop) {
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
        if report.stopping(stop) {
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

/// Records the actions on one target (a region's Security Hub, a region's invitations): each
/// call is an `action_intent` flushed before it runs and an `action_result` or `action_failed`
/// after, with batch ids `<run>/<target>/<n>`.
pub(crate) struct Recorder<'a> {
    log: &'a EventLog,
    run: &'a str,
    digest: &'a str,
    service: &'static str,
    target: String,
    batches: usize,
}

impl<'a> Recorder<'a> {
    pub fn new(
        log: &'a EventLog,
        run: &'a str,
        digest: &'a str,
        service: &'static str,
        target: String,
    ) -> Self {
        Recorder {
            log,
            run,
            digest,
            service,
            target,
            batches: 0,
        }
    }

    pub fn target(&self) -> &str {
        &self.target
    }

    /// Runs `call` for `accounts` between its intent and its outcome. Returns the accounts the
    /// call did not process, or `None` when the call failed (recorded and logged).
    pub async fn call<F>(
        &mut self,
        action: &'static str,
        accounts: &[AccountId],
        call: F,
    ) -> Result<Option<Vec<(AccountId, String)>>, EventLogError>
    where
        F: Future<Output = Result<Vec<(AccountId, String)>, aws::Error>>,
    {
        self.batches += 1;
        let batch = format!("{}/{}/{}", self.run, self.target, self.batches);
        let (service, target) = (self.service, self.target.as_str());
        let append = |kind, flush| self.log.append(self.run, self.digest, kind, flush);
        append(
            EventKind::ActionIntent {
                batch: batch.clone(),
                service: service.into(),
                target: target.into(),
                action: action.into(),
                accounts: ids(accounts),
            },
            true,
        )?;
        match call.await {
            Ok(refused) => {
                let done: Vec<String> = accounts
                    .iter()
                    .filter(|a| !refused.iter().any(|(u, _)| u == *a))
                    .map(ToString::to_string)
                    .collect();
                tracing::info!(target_name = %target, batch = %batch, action, done = done.len(), unprocessed = refused.len(), "{service} {action}");
                for (a, r) in &refused {
                    tracing::warn!(target_name = %target, account = %a, reason = %r, "{service} {action}: account not processed");
                }
                append(
                    EventKind::ActionResult {
                        batch,
                        target: target.into(),
                        action: action.into(),
                        done,
                        unprocessed: unprocessed(&refused),
                    },
                    true,
                )?;
                Ok(Some(refused))
            }
            Err(e) => {
                tracing::warn!(target_name = %target, batch = %batch, code = %e.code, error = %e.message, "{service} {action} failed");
                append(
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
    let region = &hp.region;
    let mut rec = Recorder::new(log, run, digest, HUB, hp.target());
    let mut report = ApplyReport::default();
    if let Some(reason) = &hp.prune_refused {
        tracing::warn!(target_name = %rec.target(), reason = %reason, "prune refused");
        log.append(
            run,
            digest,
            EventKind::PruneRefused {
                graph: hp.target(),
                reason: reason.clone(),
            },
            false,
        )?;
    }

    if remove_hub_members(api, &mut rec, &mut report, hp, stop).await? {
        return Ok(report);
    }
    let Some(not_created) = create_hub_members(api, &mut rec, &mut report, hp, stop).await? else {
        return Ok(report);
    };
    let invite: Vec<AccountId> = hp
        .invite
        .iter()
        .filter(|a| !not_created.contains(a))
        .copied()
        .collect();
    for chunk in invite.chunks(BATCH) {
        if report.stopping(stop) {
            return Ok(report);
        }
        let refused = rec
            .call("InviteMembers", chunk, api.invite_members(region, chunk))
            .await?;
        report.outcome(HUB, "invite", chunk.len(), refused.map(|r| r.len()));
    }
    Ok(report)
}

/// Undeclared members disassociated, then deleted, 50 at a time; `true` when muster is
/// stopping (the rest is left).
async fn remove_hub_members<H: SecurityHubApi>(
    api: &H,
    rec: &mut Recorder<'_>,
    report: &mut ApplyReport,
    hp: &HubPlan,
    stop: &AtomicBool,
) -> Result<bool, EventLogError> {
    let region = &hp.region;
    for chunk in hp.remove.chunks(BATCH) {
        if report.stopping(stop) {
            return Ok(true);
        }
        // Disassociated first: Security Hub deletes only members that are not associated.
        let disassociated = rec
            .call("DisassociateMembers", chunk, async {
                api.disassociate_members(region, chunk)
                    .await
                    .map(|()| Vec::new())
            })
            .await?;
        let deleted = match disassociated {
            Some(_) => {
                rec.call("DeleteMembers", chunk, api.delete_members(region, chunk))
                    .await?
            }
            None => None,
        };
        report.outcome(HUB, "remove", chunk.len(), deleted.map(|r| r.len()));
    }
    Ok(false)
}

/// Missing members created, 50 at a time; the accounts that were not (they are not invited),
/// or `None` when muster is stopping.
async fn create_hub_members<H: SecurityHubApi>(
    api: &H,
    rec: &mut Recorder<'_>,
    report: &mut ApplyReport,
    hp: &HubPlan,
    stop: &AtomicBool,
) -> Result<Option<BTreeSet<AccountId>>, EventLogError> {
    let mut not_created: BTreeSet<AccountId> = BTreeSet::new();
    for chunk in hp.create.chunks(BATCH) {
        if report.stopping(stop) {
            return Ok(None);
        }
        let accounts: Vec<AccountId> = chunk.iter().map(|(a, _)| *a).collect();
        let refused: Option<Vec<AccountId>> = rec
            .call(
                "CreateMembers",
                &accounts,
                api.create_members(&hp.region, chunk),
            )
            .await?
            .map(|u| {
                u.into_iter()
                    .filter(|(_, r)| !already_hub_member(r))
                    .map(|(a, _)| a)
                    .collect()
            });
        report.outcome(HUB, "create", chunk.len(), refused.as_ref().map(Vec::len));
        not_created.extend(refused.unwrap_or(accounts));
    }
    Ok(Some(not_created))
}
