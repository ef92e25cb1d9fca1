//! The member side: a muster running in a member account watches the invitations it receives
//! from Detective behavior graphs and Security Hub administrators. Invitations from
//! administrators on `expected_administrators` are accepted when `accept` is on; any other is a
//! security signal (someone outside the allow-list asks for this account's data), reported as
//! drift and declined when `decline_unexpected` is on. Every accept and decline is an
//! intent/outcome pair in the event log.

use std::collections::BTreeMap;

use futures_util::stream::{self, StreamExt};

use crate::apply::{ApplyReport, Recorder};
use crate::aws::{self, DetectiveApi, OrganizationsApi, SecurityHubApi};
use crate::desired::{DesiredState, MemberSettings};
use crate::domain::{AccountId, Region};
use crate::eventlog::{EventKind, EventLog, EventLogError};
use crate::observed::{Invitation, InvitationStatus};
use crate::plan::{Drift, DriftKind};
use crate::reconcile::{
    record_changes, replay, save_projection, settle_in_doubt, Apis, Listed, PassOptions, PassReport,
};

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

/// The member side's plan as JSON, for `muster plan --output json`.
pub fn plan_json(listings: &[Listing], settings: &MemberSettings) -> serde_json::Value {
    use serde_json::json;
    let mut changes = false;
    let targets: Vec<serde_json::Value> = listings
        .iter()
        .map(|(service, region, r)| match r {
            Err(e) => json!({"target": target(service, region), "error": {"code": e.code, "message": e.message}}),
            Ok(list) => {
                let p = plan_invitations(service, list, settings);
                changes |= !p.accept.is_empty() || !p.decline.is_empty();
                let ids = |l: &[Invitation]| l.iter().map(|i| i.administrator.to_string()).collect::<Vec<_>>();
                json!({
                    "target": target(service, region),
                    "invitations": list.len(),
                    "accept": ids(&p.accept),
                    "decline": ids(&p.decline),
                    "drift": p.drift.iter().map(|d| json!({"kind": d.kind.as_str(), "account": d.account.to_string(), "detail": d.detail})).collect::<Vec<_>>(),
                })
            }
        })
        .collect();
    json!({"mode": "member", "changes": changes, "targets": targets})
}

/// The member side's plan as text, for `muster plan`: per service and region, what would be
/// accepted and declined, and what is reported. Returns the text and whether anything would
/// change.
pub fn plan_text(listings: &[Listing], settings: &MemberSettings) -> (String, bool) {
    let mut out = String::new();
    let (mut accept, mut decline, mut failed) = (0, 0, 0);
    for (service, region, r) in listings {
        let t = target(service, region);
        match r {
            Err(e) => {
                failed += 1;
                out += &format!("{t}: cannot list: {}: {}\n", e.code, e.message);
            }
            Ok(list) => {
                let p = plan_invitations(service, list, settings);
                out += &format!("{t} ({} invitation(s))\n", list.len());
                if p.accept.is_empty() && p.decline.is_empty() && p.drift.is_empty() {
                    out += "  in sync\n";
                }
                for i in &p.accept {
                    out += &format!("  + accept   {}\n", i.administrator);
                }
                for i in &p.decline {
                    out += &format!("  - decline  {}\n", i.administrator);
                }
                for d in &p.drift {
                    out += &format!("  ! {:<24} {}  {}\n", d.kind.as_str(), d.account, d.detail);
                }
                accept += p.accept.len();
                decline += p.decline.len();
            }
        }
    }
    out += &format!("plan: {accept} to accept, {decline} to decline, {failed} listing(s) failed\n");
    (out, accept + decline > 0)
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
    record(
        EventKind::DesiredStateLoaded {
            files: desired
                .files
                .iter()
                .map(|f| f.display().to_string())
                .collect(),
            accounts: 0,
        },
        false,
    )?;
    let mut projection = replay(log)?;
    let listings = list(apis, settings, opts.concurrency).await;

    let mut report = PassReport {
        suspended: opts.suspend,
        ..PassReport::default()
    };
    let mut listed = Listed::new();
    for (service, region, r) in listings {
        let t = target(service, &region);
        match r {
            Ok(invitations) => {
                listed.insert(
                    t,
                    invitations
                        .iter()
                        .map(|i| (i.administrator, i.status.as_str().to_owned()))
                        .collect(),
                );
                report.invitations.push((service, region, invitations));
            }
            Err(e) => {
                tracing::warn!(target_name = %t, code = %e.code, error = %e.message, "cannot list invitations");
                record(
                    EventKind::GraphFailed {
                        graph: t.clone(),
                        code: e.code.clone(),
                        message: e.message.clone(),
                    },
                    false,
                )?;
                report.observe_failures.push((t, e));
            }
        }
    }
    settle_in_doubt(log, &record, &listed)?;

    let plans: BTreeMap<String, (&'static str, Region, InvitationPlan)> = report
        .invitations
        .iter()
        .map(|(service, region, inv)| {
            (
                target(service, region),
                (
                    *service,
                    region.clone(),
                    plan_invitations(service, inv, settings),
                ),
            )
        })
        .collect();
    let drifts: Vec<(String, &[Drift])> = plans
        .iter()
        .map(|(t, (_, _, p))| (t.clone(), p.drift.as_slice()))
        .collect();
    record_changes(&record, &mut projection, &listed, &drifts)?;

    let mut applied = ApplyReport::default();
    if !opts.suspend {
        'targets: for (t, (service, region, p)) in &plans {
            let mut rec = Recorder::new(log, run, digest, service, t.clone());
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
    let drift: usize = plans.values().map(|(_, _, p)| p.drift.len()).sum();
    report.applied = applied;
    report.drift = drift;
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
