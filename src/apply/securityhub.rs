//! The writes for one region of Security Hub, or of any service of its shape: undeclared
//! members disassociated then deleted, missing members created (CreateMembers), then invited
//! where they need it (InviteMembers), 50 a call. An account CreateMembers did not take is not
//! invited.

use std::collections::BTreeSet;

use super::{Already, ApplyReport, Change, Processed, Recorder, Settled, Step, BATCH};
use crate::aws::{self, HubApi, HubUpdate};
use crate::domain::{AccountId, Region};
use crate::eventlog::EventLogError;
use crate::plan::HubPlan;

/// Security Hub says so when an account is already a member: for muster that is success.
fn already_member(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    r.contains("already a member") || r.contains("already associated with this")
}

/// Disassociated first: Security Hub deletes only members that are not associated.
const DISASSOCIATE: Step = Step {
    prepares: true,
    ..Step::new("DisassociateMembers", Change::Remove)
};
const DELETE: Step = Step {
    leaves: Some(Settled::Gone),
    ..Step::new("DeleteMembers", Change::Remove)
};
const CREATE: Step = Step {
    already: Already::Done(already_member),
    ..Step::new("CreateMembers", Change::Create)
};
const INVITE: Step = Step {
    leaves: Some(Settled::Member("invited")),
    ..Step::new("InviteMembers", Change::Invite)
};

/// One call that takes a list of accounts, as the recorder takes it.
pub(crate) async fn update(
    api: &dyn HubApi,
    region: &Region,
    call: HubUpdate,
    accounts: &[AccountId],
) -> Result<Processed, aws::Error> {
    let refused = api.update(region, call, accounts).await?;
    Ok(Processed::all_but(accounts, refused))
}

/// Carries out one region's plan (nothing, for a service without a client).
pub(crate) async fn apply_hub(
    api: Option<&dyn HubApi>,
    mut rec: Recorder<'_>,
    hp: &HubPlan,
) -> Result<ApplyReport, EventLogError> {
    let Some(api) = api else {
        return Ok(rec.report);
    };
    let region = &hp.region;
    let calls = |n: usize| n.div_ceil(BATCH);
    rec.expected = 2 * calls(hp.remove.len()) + calls(hp.create.len()) + calls(hp.invite.len());
    rec.prune_refused(hp.prune_refused.as_deref())?;
    for chunk in hp.remove.chunks(BATCH) {
        if rec.stopping() {
            return Ok(rec.report);
        }
        let disassociate = update(api, region, HubUpdate::Disassociate, chunk);
        if rec.call(DISASSOCIATE, chunk, disassociate).await?.is_some() {
            let delete = update(api, region, HubUpdate::Delete, chunk);
            rec.call(DELETE, chunk, delete).await?;
        }
    }
    let created = rec.batches(
        CREATE,
        &hp.create,
        |(a, _)| *a,
        |chunk| async move {
            let refused = api.create_members(region, chunk).await?;
            let accounts: Vec<AccountId> = chunk.iter().map(|(a, _)| *a).collect();
            Ok(Processed::all_but(&accounts, refused))
        },
    );
    let Some(not_created) = created.await? else {
        return Ok(rec.report);
    };
    let not_created: BTreeSet<AccountId> = not_created.into_iter().collect();
    let invite: Vec<AccountId> = hp
        .invite
        .iter()
        .filter(|a| !not_created.contains(a))
        .copied()
        .collect();
    // Created: an account the plan invites is partway until InviteMembers takes it; an
    // organization account muster administers is enabled by CreateMembers itself.
    let to_invite: BTreeSet<&AccountId> = invite.iter().collect();
    for (a, _) in hp.create.iter().filter(|(a, _)| !not_created.contains(a)) {
        let settled = if to_invite.contains(a) {
            Settled::Partway("created")
        } else {
            Settled::Member("enabled")
        };
        rec.settle(*a, settled);
    }
    let invite_chunk = |chunk| update(api, region, HubUpdate::Invite, chunk);
    rec.batches(INVITE, &invite, |a| *a, invite_chunk).await?;
    Ok(rec.report)
}
