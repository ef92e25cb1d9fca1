//! The member side's writes for one region's invitations of one service: invitations from
//! expected administrators accepted, unexpected ones declined (Detective one graph a call,
//! Security Hub 50 administrators a call).

use std::sync::atomic::AtomicBool;

use super::{ApplyReport, Change, Processed, Recorder, Step, BATCH};
use crate::aws::{DetectiveApi, SecurityHubApi};
use crate::domain::{AccountId, Region, Service, Target};
use crate::eventlog::{EventLog, EventLogError};
use crate::plan::InvitationPlan;

/// Carries out every target's invitation plan, one target after another.
#[allow(clippy::too_many_arguments)]
pub async fn apply<D: DetectiveApi, H: SecurityHubApi>(
    detective: &D,
    securityhub: &H,
    log: &EventLog,
    run: &str,
    digest: &str,
    plans: &[(Target, &InvitationPlan)],
    stop: &AtomicBool,
) -> Result<ApplyReport, EventLogError> {
    super::fan_out(plans, 1, |(target, plan)| async move {
        let mut rec = Recorder::new(log, run, digest, target.clone());
        let mut report = ApplyReport::default();
        match target {
            Target::Invitations(Service::Detective, _) => {
                detective_side(detective, &mut rec, &mut report, plan, stop).await?
            }
            Target::Invitations(Service::SecurityHub, region) => {
                hub_side(securityhub, region, &mut rec, &mut report, plan, stop).await?
            }
            _ => {}
        }
        Ok(report)
    })
    .await
}

/// A call that answers nothing but success, which processed `one`.
async fn single<F>(one: AccountId, call: F) -> Result<Processed, crate::aws::Error>
where
    F: std::future::Future<Output = Result<(), crate::aws::Error>>,
{
    call.await?;
    Ok(Processed::all_but(&[one], Vec::new()))
}

async fn detective_side<D: DetectiveApi>(
    api: &D,
    rec: &mut Recorder<'_>,
    report: &mut ApplyReport,
    plan: &InvitationPlan,
    stop: &AtomicBool,
) -> Result<(), EventLogError> {
    const ACCEPT: Step = Step::new("AcceptInvitation", Change::Accept);
    const REJECT: Step = Step::new("RejectInvitation", Change::Decline);
    // Detective takes one graph's invitation a call.
    for (step, i) in plan
        .accept
        .iter()
        .map(|i| (ACCEPT, i))
        .chain(plan.decline.iter().map(|i| (REJECT, i)))
    {
        if report.stopping(stop) {
            return Ok(());
        }
        let Some(graph) = &i.graph else { continue };
        let admin = [i.administrator];
        let done = if step.change == Change::Accept {
            rec.call(step, &admin, single(admin[0], api.accept_invitation(graph)))
                .await?
        } else {
            rec.call(step, &admin, single(admin[0], api.reject_invitation(graph)))
                .await?
        };
        let refused = done.map(|p| p.unprocessed.len());
        report.outcome(Service::Detective, step.change, 1, refused);
    }
    Ok(())
}

async fn hub_side<H: SecurityHubApi>(
    api: &H,
    region: &Region,
    rec: &mut Recorder<'_>,
    report: &mut ApplyReport,
    plan: &InvitationPlan,
    stop: &AtomicBool,
) -> Result<(), EventLogError> {
    const ACCEPT: Step = Step::new("AcceptAdministratorInvitation", Change::Accept);
    const DECLINE: Step = Step::new("DeclineInvitations", Change::Decline);
    for i in &plan.accept {
        if report.stopping(stop) {
            return Ok(());
        }
        let Some(id) = &i.id else { continue };
        let admin = i.administrator;
        let accept = single(admin, api.accept_invitation(region, admin, id));
        let refused = rec.call(ACCEPT, &[admin], accept).await?;
        let refused = refused.map(|p| p.unprocessed.len());
        report.outcome(Service::SecurityHub, Change::Accept, 1, refused);
    }
    let mut admins: Vec<AccountId> = plan.decline.iter().map(|i| i.administrator).collect();
    admins.dedup();
    for chunk in admins.chunks(BATCH) {
        if report.stopping(stop) {
            return Ok(());
        }
        let decline = async {
            let refused = api.decline_invitations(region, chunk).await?;
            Ok(Processed::all_but(chunk, refused))
        };
        let refused = rec.call(DECLINE, chunk, decline).await?;
        let refused = refused.map(|p| p.unprocessed.len());
        report.outcome(Service::SecurityHub, Change::Decline, chunk.len(), refused);
    }
    Ok(())
}
