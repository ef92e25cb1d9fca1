//! The member side: a muster running in a member account watches the invitations it receives
//! from Detective behavior graphs and Security Hub administrators, per watched region. This
//! file lists them (every page) and plans each target (`plan::invitations`); the pass records
//! and applies them in the same shape as the administrator side (`apply::invitations`).

use futures_util::stream::{self, StreamExt};

use super::{Apis, PassReport, Unobserved};
use crate::apply::{self, ApplyReport, Journal};
use crate::aws::{self, DetectiveApi, SecurityHubApi};
use crate::desired::{DesiredState, MemberSettings};
use crate::domain::{Service, Target};
use crate::eventlog::EventLogError;
use crate::observed::Invitation;
use crate::plan::{plan_invitations, InvitationPlan};

pub type Listing = (Target, Result<Vec<Invitation>, aws::Error>);

/// Lists every watched target's invitations, every page, `concurrency` at a time.
pub async fn list(apis: &Apis, settings: &MemberSettings, concurrency: usize) -> Vec<Listing> {
    stream::iter(settings.watched())
        .map(|target| async move {
            let r = match &target {
                Target::Invitations(Service::Detective, region) => {
                    apis.detective.list_invitations(region).await
                }
                Target::Invitations(Service::SecurityHub, region) => {
                    apis.securityhub.list_invitations(region).await
                }
                _ => Ok(Vec::new()),
            };
            (target, r)
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

/// One watched target (`<service>-invitations:<region>`): its invitations as listed (or why
/// they could not be) and what to do about them (nothing, when they could not be listed).
#[derive(Debug)]
pub struct TargetPlan {
    pub target: Target,
    pub listed: Result<Vec<Invitation>, aws::Error>,
    pub plan: InvitationPlan,
}

/// Plans every listing.
pub fn plan_all(listings: Vec<Listing>, settings: &MemberSettings) -> Vec<TargetPlan> {
    listings
        .into_iter()
        .map(|(target, listed)| TargetPlan {
            plan: listed
                .as_ref()
                .map(|l| {
                    let service = target.service().unwrap_or(Service::Detective);
                    plan_invitations(service, l, settings)
                })
                .unwrap_or_default(),
            target,
            listed,
        })
        .collect()
}

/// Whether any plan accepts or declines.
pub fn has_changes(plans: &[TargetPlan]) -> bool {
    plans
        .iter()
        .any(|p| !p.plan.accept.is_empty() || !p.plan.decline.is_empty())
}

/// The member side observed and planned: the pass report it starts.
pub(super) async fn observe(
    apis: &Apis,
    desired: &DesiredState,
    settings: &MemberSettings,
    concurrency: usize,
) -> PassReport {
    let plans = plan_all(list(apis, settings, concurrency).await, settings);
    let observe_failures = plans
        .iter()
        .filter_map(|p| Some((p.target.clone(), Unobserved::Aws(p.listed.clone().err()?))))
        .collect();
    PassReport {
        member: plans,
        observe_failures,
        effective: Some(desired.clone()),
        ..PassReport::default()
    }
}

/// The member side's plans carried out.
pub(super) async fn apply(
    apis: &Apis,
    journal: Journal<'_>,
    report: &PassReport,
) -> Result<ApplyReport, EventLogError> {
    let plans: Vec<(Target, &InvitationPlan)> = report
        .member
        .iter()
        .map(|p| (p.target.clone(), &p.plan))
        .collect();
    apply::invitations::apply(apis, journal, &plans).await
}
