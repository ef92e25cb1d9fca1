//! Detective's writes for one behavior graph: members removed (an email corrected, then the
//! undeclared), then accounts invited (CreateMembers), 50 a call. A graph at its member quota
//! gets what fits; the rest is counted `quota_blocked`, not retried in a loop.

use super::{Already, ApplyReport, Change, Processed, Recorder, Settled, Step, BATCH};
use crate::aws::DetectiveApi;
use crate::desired::DesiredState;
use crate::domain::AccountId;
use crate::eventlog::EventLogError;
use crate::plan::{GraphPlan, RemovalReason};

/// Detective says so when an account is already in the graph: for muster that is success.
fn already_member(reason: &str) -> bool {
    reason.to_ascii_lowercase().contains("already a member")
}

const INVITE: Step = Step {
    already: Already::Uncounted(already_member),
    blocks: Some("ServiceQuotaExceededException"),
    // CreateMembers answers with each member's status; `invited` is for one it leaves out.
    leaves: Some(Settled::Member("invited")),
    ..Step::new("CreateMembers", Change::Invite)
};

fn removal(reason: RemovalReason) -> Step {
    Step {
        reason: Some(reason.as_str()),
        leaves: Some(Settled::Gone),
        ..Step::new("DeleteMembers", Change::Remove)
    }
}

/// Carries out one graph's plan.
pub(crate) async fn apply_graph(
    api: &crate::aws::SdkDetective,
    mut rec: Recorder<'_>,
    desired: &DesiredState,
    gp: &GraphPlan,
) -> Result<ApplyReport, EventLogError> {
    rec.prune_refused(gp.prune_refused.as_deref())?;
    let removals = [RemovalReason::EmailCorrected, RemovalReason::Undeclared].map(|why| {
        let accounts = gp.remove.iter().filter(|(_, r)| *r == why);
        (why, accounts.map(|(a, _)| *a).collect::<Vec<AccountId>>())
    });
    let calls = |n: usize| n.div_ceil(BATCH);
    rec.expected =
        removals.iter().map(|(_, a)| calls(a.len())).sum::<usize>() + calls(gp.invite.len());
    for (why, accounts) in &removals {
        let removed = rec.batches(
            removal(*why),
            accounts,
            |a| *a,
            |chunk| async move {
                let out = api.delete_members(&gp.graph, chunk).await?;
                Ok(Processed {
                    done: out.deleted,
                    unprocessed: out.unprocessed,
                    status: Vec::new(),
                })
            },
        );
        if removed.await?.is_none() {
            return Ok(rec.report);
        }
    }
    let (message, quiet) = (
        desired.detective.message.as_deref(),
        desired.detective.disable_email_notification,
    );
    rec.batches(
        INVITE,
        &gp.invite,
        |(a, _)| *a,
        |chunk| async move {
            let out = api.create_members(&gp.graph, chunk, message, quiet).await?;
            Ok(Processed {
                done: out.members.iter().map(|m| m.account_id).collect(),
                unprocessed: out.unprocessed,
                status: (out.members.iter())
                    .map(|m| (m.account_id, m.status.label()))
                    .collect(),
            })
        },
    )
    .await?;
    Ok(rec.report)
}
