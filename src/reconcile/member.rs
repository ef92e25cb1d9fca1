//! The member side: a muster running in a member account watches the invitations it receives
//! from Detective behavior graphs and Security Hub administrators. Invitations from
//! administrators on `expected_administrators` are accepted when `accept` is on; any other is a
//! security signal (someone outside the allow-list asks for this account's data), reported as
//! drift and declined when `decline_unexpected` is on. Every accept and decline is an
//! intent/outcome pair in the event log.

use futures_util::stream::{self, StreamExt};

use super::{
    record_changes, save_projection, settle_in_doubt, Apis, Listed, PassOptions, PassReport,
};
use crate::apply::{ApplyReport, Recorder};
use crate::aws::{self, DetectiveApi, OrganizationsApi, SecurityHubApi};
use crate::desired::{DesiredState, MemberSettings};
use crate::domain::{AccountId, Region};
use crate::eventlog::{EventKind, EventLog, EventLogError};
use crate::observed::{Invitation, InvitationStatus};
use crate::plan::{Drift, DriftKind};

pub const DETECTIVE: &str = "detective";
pub const SECURITYHUB: &str = "securityhub";

/// How events name a region's invitations for a service: `detective-invitations:us-east-1`.
pub fn target(service: &str, region: &Region) -> String {
    format!("{service}-invitations:{region}")
}

/// What to do about one region's invitations for one service. Pure.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct InvitationPlan {
    pub drift: Vec<Drift>,
    pub accept: Vec<Invitation>,
    pub decline: Vec<Invitation>,
}

/// Plans one service's invitations in one region. Detective: every open invitation from an
/// expected administrator is accepted (an account may be in several graphs). Security Hub: an
/// account has one administrator, so only when none is accepted yet, and only the most
/// recent open invitation from an expected administrator.
pub fn plan_invitations(
    service: &str,
    invitations: &[Invitation],
    settings: &MemberSettings,
) -> InvitationPlan {
    let mut out = InvitationPlan::default();
    let has_accepted = invitations
        .iter()
        .any(|i| i.status == InvitationStatus::Accepted && settings.expects(i.administrator));
    let mut expected_open: Vec<&Invitation> = Vec::new();
    for i in invitations {
        let expected = settings.expects(i.administrator);
        match (&i.status, expected) {
            (InvitationStatus::Open, true) => expected_open.push(i),
            (InvitationStatus::Open, false) => {
                out.drift.push(Drift {
                    kind: DriftKind::UnexpectedAdministrator,
                    account: i.administrator,
                    detail: "an invitation from an administrator not in expected_administrators"
                        .into(),
                });
                if settings.decline_unexpected {
                    out.decline.push(i.clone());
                }
            }
            (InvitationStatus::Accepted, false) => out.drift.push(Drift {
                kind: DriftKind::UnexpectedAdministrator,
                account: i.administrator,
                detail: "a membership with an administrator not in expected_administrators (muster does not leave it; disassociate by hand if it is wrong)".into(),
            }),
            _ => {}
        }
    }
    let take: Vec<&Invitation> = if service == SECURITYHUB {
        if has_accepted {
            Vec::new()
        } else {
            expected_open
                .iter()
                .max_by_key(|i| i.invited_at)
                .into_iter()
                .copied()
                .collect()
        }
    } else {
        expected_open.clone()
    };
    for i in &expected_open {
        let taken = take.iter().any(|t| std::ptr::eq(*t, *i));
        if settings.accept && taken {
            out.accept.push((*i).clone());
        } else {
            out.drift.push(Drift {
                kind: DriftKind::InvitationOpen,
                account: i.administrator,
                detail: if settings.accept {
                    "an open invitation from an expected administrator, not accepted: this account already has a Security Hub administrator".into()
                } else {
                    "an open invitation from an expected administrator (accept is off)".into()
                },
            });
        }
    }
    out
}

pub type Listing = (&'static str, Region, Result<Vec<Invitation>, aws::Error>);

/// Lists every watched (service, region)'s invitations, every page, `concurrency` at a time.
pub async fn list<D: DetectiveApi, H: SecurityHubApi, O: OrganizationsApi>(
    apis: &Apis<D, H, O>,
    settings: &MemberSettings,
    concurrency: usize,
) -> Vec<Listing> {
    stream::iter(settings.watched())
        .map(|(service, region)| async move {
            let r = if service == DETECTIVE {
                apis.detective.list_invitations(&region).await
            } else {
                apis.securityhub.list_invitations(&region).await
            };
            (service, region, r)
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

/// One watched (service, region): its invitations as listed (or why they could not be) and
/// what to do about them (nothing, when they could not be listed).
#[derive(Debug)]
pub struct TargetPlan {
    pub service: &'static str,
    pub region: Region,
    /// `<service>-invitations:<region>`.
    pub target: String,
    pub listed: Result<Vec<Invitation>, aws::Error>,
    pub plan: InvitationPlan,
}

/// Plans every listing.
pub fn plan_all(listings: Vec<Listing>, settings: &MemberSettings) -> Vec<TargetPlan> {
    listings
        .into_iter()
        .map(|(service, region, listed)| TargetPlan {
            target: target(service, &region),
            plan: listed
                .as_ref()
                .map(|l| plan_invitations(service, l, settings))
                .unwrap_or_default(),
            service,
            region,
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

/// One member-side pass, recorded in `log`.
pub async fn pass<D: DetectiveApi, H: SecurityHubApi, O: OrganizationsApi>(
    apis: &Apis<D, H, O>,
    log: &EventLog,
    run: &str,
    desired: &DesiredState,
    settings: &MemberSettings,
    opts: &PassOptions<'_>,
) -> Result<PassReport, EventLogError> {
    let digest = desired.digest.as_str();
    let record = |kind: EventKind, flush: bool| log.append(run, digest, kind, flush);
    let mut projection = super::begin(log, run, desired, 0)?;
    let plans = plan_all(list(apis, settings, opts.concurrency).await, settings);

    let mut report = PassReport {
        suspended: opts.suspend,
        ..PassReport::default()
    };
    let mut listed = Listed::new();
    for p in &plans {
        match &p.listed {
            Ok(invitations) => {
                listed.insert(
                    p.target.clone(),
                    invitations
                        .iter()
                        .map(|i| (i.administrator, i.status.as_str().to_owned()))
                        .collect(),
                );
            }
            Err(e) => {
                tracing::warn!(target_name = %p.target, code = %e.code, error = %e.message, "cannot list invitations");
                record(
                    EventKind::GraphFailed {
                        graph: p.target.clone(),
                        code: e.code.clone(),
                        message: e.message.clone(),
                    },
                    false,
                )?;
                report.observe_failures.push((p.target.clone(), e.clone()));
            }
        }
    }
    settle_in_doubt(log, &record, &listed)?;
    let drifts: Vec<(String, &[Drift])> = plans
        .iter()
        .map(|p| (p.target.clone(), p.plan.drift.as_slice()))
        .collect();
    record_changes(&record, &mut projection, &listed, &drifts)?;

    let mut applied = ApplyReport::default();
    if !opts.suspend {
        'targets: for tp in &plans {
            let (service, region, p) = (&tp.service, &tp.region, &tp.plan);
            let mut rec = Recorder::new(log, run, digest, service, tp.target.clone());
            for i in &p.accept {
                if applied.stopping(opts.stop) {
                    break 'targets;
                }
                let admin = [i.administrator];
                let refused = match (&i.graph, &i.id) {
                    (Some(graph), _) if *service == DETECTIVE => {
                        rec.call("AcceptInvitation", &admin, async {
                            apis.detective
                                .accept_invitation(graph)
                                .await
                                .map(|()| Vec::new())
                        })
                        .await?
                    }
                    (_, Some(id)) if *service == SECURITYHUB => {
                        rec.call("AcceptAdministratorInvitation", &admin, async {
                            apis.securityhub
                                .accept_invitation(region, i.administrator, id)
                                .await
                                .map(|()| Vec::new())
                        })
                        .await?
                    }
                    _ => continue,
                };
                applied.outcome(service, "accept", 1, refused.map(|r| r.len()));
            }
            if *service == DETECTIVE {
                // Detective rejects one graph's invitation at a time.
                for i in &p.decline {
                    if applied.stopping(opts.stop) {
                        break 'targets;
                    }
                    let Some(graph) = &i.graph else { continue };
                    let refused = rec
                        .call("RejectInvitation", &[i.administrator], async {
                            apis.detective
                                .reject_invitation(graph)
                                .await
                                .map(|()| Vec::new())
                        })
                        .await?;
                    applied.outcome(service, "decline", 1, refused.map(|r| r.len()));
                }
            } else {
                let mut admins: Vec<AccountId> =
                    p.decline.iter().map(|i| i.administrator).collect();
                admins.dedup();
                for chunk in admins.chunks(crate::apply::BATCH) {
                    if applied.stopping(opts.stop) {
                        break 'targets;
                    }
                    let refused = rec
                        .call(
                            "DeclineInvitations",
                            chunk,
                            apis.securityhub.decline_invitations(region, chunk),
                        )
                        .await?;
                    applied.outcome(service, "decline", chunk.len(), refused.map(|r| r.len()));
                }
            }
        }
    }
    let drift: usize = plans.iter().map(|p| p.plan.drift.len()).sum();
    report.applied = applied;
    report.drift = drift;
    report.member = plans;
    let a = &report.applied;
    record(
        EventKind::PassFinished {
            outcome: report.result().as_str().into(),
            invited: a.count(DETECTIVE, "accept", "ok") + a.count(SECURITYHUB, "accept", "ok"),
            removed: a.count(DETECTIVE, "decline", "ok") + a.count(SECURITYHUB, "decline", "ok"),
            failed: a.failed + report.observe_failures.len(),
            drift,
        },
        true,
    )?;
    save_projection(log, projection)?;
    report.effective = Some(desired.clone());
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    fn id(n: u64) -> AccountId {
        AccountId::parse(&format!("{n:012}")).unwrap()
    }

    fn inv(admin: u64, status: InvitationStatus, at: u64) -> Invitation {
        Invitation {
            administrator: id(admin),
            graph: None,
            id: Some(format!("inv-{admin}")),
            status,
            invited_at: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(at)),
        }
    }

    fn settings(accept: bool, decline: bool) -> MemberSettings {
        MemberSettings {
            expected_administrators: vec![id(1), id(2)],
            regions: vec![Region::parse("us-east-1").unwrap()],
            detective: true,
            securityhub: true,
            accept,
            decline_unexpected: decline,
        }
    }

    fn admins(list: &[Invitation]) -> Vec<AccountId> {
        list.iter().map(|i| i.administrator).collect()
    }

    #[test]
    fn detective_accepts_every_expected_graph_and_declines_only_when_asked() {
        let list = [
            inv(1, InvitationStatus::Open, 1),
            inv(2, InvitationStatus::Open, 2),
            inv(3, InvitationStatus::Open, 3),
            inv(4, InvitationStatus::Accepted, 4),
        ];
        let p = plan_invitations(DETECTIVE, &list, &settings(true, true));
        assert_eq!(admins(&p.accept), [id(1), id(2)]);
        assert_eq!(admins(&p.decline), [id(3)], "never an accepted membership");
        let kinds: Vec<(DriftKind, AccountId)> =
            p.drift.iter().map(|d| (d.kind, d.account)).collect();
        assert_eq!(
            kinds,
            [
                (DriftKind::UnexpectedAdministrator, id(3)),
                (DriftKind::UnexpectedAdministrator, id(4))
            ]
        );
        let p = plan_invitations(DETECTIVE, &list, &settings(false, false));
        assert!(p.accept.is_empty() && p.decline.is_empty());
        assert_eq!(
            p.drift
                .iter()
                .filter(|d| d.kind == DriftKind::InvitationOpen)
                .count(),
            2
        );
    }

    #[test]
    fn security_hub_takes_one_administrator_the_newest_expected_one() {
        let list = [
            inv(1, InvitationStatus::Open, 10),
            inv(2, InvitationStatus::Open, 20),
        ];
        let p = plan_invitations(SECURITYHUB, &list, &settings(true, false));
        assert_eq!(admins(&p.accept), [id(2)]);
        assert_eq!(p.drift.len(), 1, "the other stays open, reported");
        // Already a member of an expected administrator: nothing more is accepted.
        let list = [
            inv(1, InvitationStatus::Accepted, 10),
            inv(2, InvitationStatus::Open, 20),
        ];
        let p = plan_invitations(SECURITYHUB, &list, &settings(true, false));
        assert!(p.accept.is_empty());
    }
}
