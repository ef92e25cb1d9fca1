//! Security Hub's writes for one region: undeclared members disassociated then deleted, missing
//! members created (CreateMembers), then invited where they need it (InviteMembers), 50 a call.
//! An account CreateMembers did not take is not invited.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;

use super::{ApplyReport, Change, Processed, Recorder, Step, BATCH};
use crate::aws::SecurityHubApi;
use crate::domain::{AccountId, Service, Target};
use crate::eventlog::{EventLog, EventLogError};
use crate::plan::HubPlan;

const HUB: Service = Service::SecurityHub;
const DISASSOCIATE: Step = Step::new("DisassociateMembers", Change::Remove);
const DELETE: Step = Step::new("DeleteMembers", Change::Remove);
const CREATE: Step = Step::new("CreateMembers", Change::Create);
const INVITE: Step = Step::new("InviteMembers", Change::Invite);

/// Security Hub says so when an account is already a member: for muster that is success.
fn already_member(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    r.contains("already a member") || r.contains("already associated with this")
}

/// Carries out one region's plan.
pub(crate) async fn apply_hub<H: SecurityHubApi>(
    api: &H,
    log: &EventLog,
    run: &str,
    digest: &str,
    hp: &HubPlan,
    stop: &AtomicBool,
) -> Result<ApplyReport, EventLogError> {
    let region = &hp.region;
    let mut rec = Recorder::new(log, run, digest, Target::Hub(region.clone()));
    rec.expected = 2 * hp.remove.len().div_ceil(BATCH)
        + hp.create.len().div_ceil(BATCH)
        + hp.invite.len().div_ceil(BATCH);
    let mut report = ApplyReport::default();
    rec.prune_refused(hp.prune_refused.as_ref())?;
    if remove(api, &mut rec, &mut report, hp, stop).await? {
        return Ok(report);
    }
    let Some(not_created) = create(api, &mut rec, &mut report, hp, stop).await? else {
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
        let call = async {
            Ok(Processed::all_but(
                chunk,
                api.invite_members(region, chunk).await?,
            ))
        };
        let refused = rec.call(INVITE, chunk, call).await?;
        report.outcome(
            HUB,
            Change::Invite,
            chunk.len(),
            refused.map(|p| p.unprocessed.len()),
        );
    }
    Ok(report)
}

/// Undeclared members disassociated, then deleted, 50 at a time; `true` when muster is
/// stopping (the rest is left).
async fn remove<H: SecurityHubApi>(
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
        let disassociate = async {
            api.disassociate_members(region, chunk).await?;
            Ok(Processed::all_but(chunk, Vec::new()))
        };
        let deleted = match rec.call(DISASSOCIATE, chunk, disassociate).await? {
            Some(_) => {
                let delete = async {
                    Ok(Processed::all_but(
                        chunk,
                        api.delete_members(region, chunk).await?,
                    ))
                };
                rec.call(DELETE, chunk, delete).await?
            }
            None => None,
        };
        report.outcome(
            HUB,
            Change::Remove,
            chunk.len(),
            deleted.map(|p| p.unprocessed.len()),
        );
    }
    Ok(false)
}

/// Missing members created, 50 at a time; the accounts that were not (they are not invited),
/// or `None` when muster is stopping.
async fn create<H: SecurityHubApi>(
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
        let call = async {
            let refused = api.create_members(&hp.region, chunk).await?;
            Ok(Processed::all_but(&accounts, refused))
        };
        let refused: Option<Vec<AccountId>> = rec.call(CREATE, &accounts, call).await?.map(|p| {
            p.unprocessed
                .into_iter()
                .filter(|(_, r)| !already_member(r))
                .map(|(a, _)| a)
                .collect()
        });
        report.outcome(
            HUB,
            Change::Create,
            chunk.len(),
            refused.as_ref().map(Vec::len),
        );
        not_created.extend(refused.unwrap_or(accounts));
    }
    Ok(Some(not_created))
}
