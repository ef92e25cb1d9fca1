//! Detective's writes for one behavior graph: members removed (an email corrected, then the
//! undeclared), then accounts invited (CreateMembers), 50 a call. A graph at its member quota
//! gets what fits; the rest is counted `quota_blocked`, not retried in a loop.

use std::sync::atomic::AtomicBool;

use super::{ApplyReport, Change, Outcome, Processed, Recorder, Step, BATCH};
use crate::aws::DetectiveApi;
use crate::desired::DesiredState;
use crate::domain::{AccountId, Service, Target};
use crate::eventlog::{EventLog, EventLogError};
use crate::plan::{GraphPlan, RemovalReason};

const INVITE: Step = Step::new("CreateMembers", Change::Invite);
const DETECTIVE: Service = Service::Detective;

/// Detective says so when an account is already in the graph: for muster that is success.
fn already_member(reason: &str) -> bool {
    reason.to_ascii_lowercase().contains("already a member")
}

fn removal(reason: RemovalReason) -> Step {
    Step {
        reason: Some(reason.as_str()),
        ..Step::new("DeleteMembers", Change::Remove)
    }
}

/// Carries out one graph's plan.
pub(crate) async fn apply_graph<D: DetectiveApi>(
    api: &D,
    log: &EventLog,
    run: &str,
    desired: &DesiredState,
    gp: &GraphPlan,
    stop: &AtomicBool,
) -> Result<ApplyReport, EventLogError> {
    let mut rec = Recorder::new(log, run, &desired.digest, Target::Graph(gp.graph.clone()));
    let mut report = ApplyReport::default();
    rec.prune_refused(gp.prune_refused.as_ref())?;
    let removals = |why| -> Vec<AccountId> {
        gp.remove
            .iter()
            .filter(|(_, r)| *r == why)
            .map(|(a, _)| *a)
            .collect()
    };
    let removals =
        [RemovalReason::EmailCorrected, RemovalReason::Undeclared].map(|why| (why, removals(why)));
    rec.expected = removals
        .iter()
        .map(|(_, a)| a.len().div_ceil(BATCH))
        .sum::<usize>()
        + gp.invite.len().div_ceil(BATCH);
    for (why, accounts) in &removals {
        for chunk in accounts.chunks(BATCH) {
            if report.stopping(stop) {
                return Ok(report);
            }
            let call = async {
                let out = api.delete_members(&gp.graph, chunk).await?;
                Ok(Processed {
                    done: out.deleted,
                    unprocessed: out.unprocessed,
                })
            };
            match rec.call(removal(*why), chunk, call).await? {
                Some(p) => {
                    report.tally((DETECTIVE, Change::Remove, Outcome::Ok), p.done.len());
                    let n = p.unprocessed.len();
                    report.tally((DETECTIVE, Change::Remove, Outcome::Unprocessed), n);
                }
                None => report.outcome(DETECTIVE, Change::Remove, chunk.len(), None),
            }
        }
    }
    invite(api, &mut rec, &mut report, desired, gp, stop).await?;
    Ok(report)
}

/// The plan's invitations, 50 a call, until the graph is full.
async fn invite<D: DetectiveApi>(
    api: &D,
    rec: &mut Recorder<'_>,
    report: &mut ApplyReport,
    desired: &DesiredState,
    gp: &GraphPlan,
    stop: &AtomicBool,
) -> Result<(), EventLogError> {
    let (message, quiet) = (
        desired.detective.message.as_deref(),
        desired.detective.disable_email_notification,
    );
    for (i, chunk) in gp.invite.chunks(BATCH).enumerate() {
        if report.stopping(stop) {
            return Ok(());
        }
        let accounts: Vec<AccountId> = chunk.iter().map(|(a, _)| *a).collect();
        let mut quota = false;
        let call = async {
            let out = api
                .create_members(&gp.graph, chunk, message, quiet)
                .await
                .inspect_err(|e| quota = e.code == "ServiceQuotaExceededException")?;
            Ok(Processed {
                done: out.members.iter().map(|m| m.account_id).collect(),
                unprocessed: out.unprocessed,
            })
        };
        match rec.call(INVITE, &accounts, call).await? {
            Some(p) => {
                let refused = p.unprocessed.iter().filter(|(_, r)| !already_member(r));
                report.tally(
                    (DETECTIVE, Change::Invite, Outcome::Unprocessed),
                    refused.count(),
                );
                report.tally((DETECTIVE, Change::Invite, Outcome::Ok), p.done.len());
            }
            None if quota => {
                // The graph is full: the rest would fail the same way.
                report.failed += 1;
                let blocked = gp.invite.len() - i * BATCH;
                report.tally((DETECTIVE, Change::Invite, Outcome::QuotaBlocked), blocked);
                break;
            }
            None => report.outcome(DETECTIVE, Change::Invite, chunk.len(), None),
        }
    }
    Ok(())
}
