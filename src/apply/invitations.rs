//! The member side's writes for one region's invitations of one service: invitations from
//! expected administrators accepted, unexpected ones declined (Detective one graph a call,
//! Security Hub 50 administrators a call).

use super::{answers_nothing, fan_out, ApplyReport, Change, Journal, Recorder, Step};
use crate::aws::{Apis, DetectiveApi, HubUpdate, SecurityHubApi};
use crate::domain::{AccountId, Region, Service, Target};
use crate::eventlog::EventLogError;
use crate::plan::InvitationPlan;

const ACCEPT: Step = Step::new("AcceptInvitation", Change::Accept);
const REJECT: Step = Step::new("RejectInvitation", Change::Decline);
const HUB_ACCEPT: Step = Step::new("AcceptAdministratorInvitation", Change::Accept);
const HUB_DECLINE: Step = Step::new("DeclineInvitations", Change::Decline);

/// Carries out every target's invitation plan, one target after another.
pub async fn apply(
    apis: &Apis,
    journal: Journal<'_>,
    plans: &[(Target, &InvitationPlan)],
) -> Result<ApplyReport, EventLogError> {
    fan_out(plans, 1, |(target, plan)| async move {
        let mut rec = Recorder::new(journal, target.clone());
        match target {
            Target::Invitations(Service::Detective, _) => {
                detective_side(&apis.detective, &mut rec, plan).await?
            }
            Target::Invitations(Service::SecurityHub, region) => {
                hub_side(&apis.securityhub, region, &mut rec, plan).await?
            }
            _ => {}
        }
        Ok(rec.report)
    })
    .await
}

async fn detective_side(
    api: &crate::aws::SdkDetective,
    rec: &mut Recorder<'_>,
    plan: &InvitationPlan,
) -> Result<(), EventLogError> {
    // Detective takes one graph's invitation a call.
    let accepts = plan.accept.iter().map(|i| (ACCEPT, i));
    for (step, i) in accepts.chain(plan.decline.iter().map(|i| (REJECT, i))) {
        if rec.stopping() {
            return Ok(());
        }
        let Some(graph) = &i.graph else { continue };
        let admin = [i.administrator];
        if step.change == Change::Accept {
            rec.call(
                step,
                &admin,
                answers_nothing(&admin, api.accept_invitation(graph)),
            )
            .await?;
        } else {
            rec.call(
                step,
                &admin,
                answers_nothing(&admin, api.reject_invitation(graph)),
            )
            .await?;
        }
    }
    Ok(())
}

async fn hub_side(
    api: &crate::aws::SdkSecurityHub,
    region: &Region,
    rec: &mut Recorder<'_>,
    plan: &InvitationPlan,
) -> Result<(), EventLogError> {
    for i in &plan.accept {
        if rec.stopping() {
            return Ok(());
        }
        let Some(id) = &i.id else { continue };
        let admin = [i.administrator];
        let accept = api.accept_invitation(region, admin[0], id);
        rec.call(HUB_ACCEPT, &admin, answers_nothing(&admin, accept))
            .await?;
    }
    let mut admins: Vec<AccountId> = plan.decline.iter().map(|i| i.administrator).collect();
    admins.dedup();
    let decline = |chunk| super::securityhub::update(api, region, HubUpdate::Decline, chunk);
    rec.batches(HUB_DECLINE, &admins, |a| *a, decline).await?;
    Ok(())
}
