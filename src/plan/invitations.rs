//! The member side's plan for one region's invitations of one service: invitations from
//! administrators on `expected_administrators` are accepted when `accept` is on; any other is
//! a security signal (someone outside the allow-list asks for this account's data), reported as
//! drift and declined when `decline_unexpected` is on.

use super::{Drift, DriftKind};
use crate::desired::MemberSettings;
use crate::domain::{Administrators, Service};
use crate::observed::{Invitation, InvitationStatus};

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
    service: Service,
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
                    account: Some(i.administrator),
                    subject: None,
                    detail: "an invitation from an administrator not in expected_administrators"
                        .into(),
                });
                if settings.decline_unexpected {
                    out.decline.push(i.clone());
                }
            }
            (InvitationStatus::Accepted, false) => out.drift.push(Drift {
                kind: DriftKind::UnexpectedAdministrator,
                account: Some(i.administrator),
                subject: None,
                detail: "a membership with an administrator not in expected_administrators (muster does not leave it; disassociate by hand if it is wrong)".into(),
            }),
            _ => {}
        }
    }
    let take: Vec<&Invitation> = match service.administrators() {
        Administrators::One if has_accepted => Vec::new(),
        Administrators::One => (expected_open.iter())
            .max_by_key(|i| i.invited_at)
            .into_iter()
            .copied()
            .collect(),
        Administrators::Many => expected_open.clone(),
    };
    for i in &expected_open {
        let taken = take.iter().any(|t| std::ptr::eq(*t, *i));
        if settings.accept && taken {
            out.accept.push((*i).clone());
        } else {
            out.drift.push(Drift {
                kind: DriftKind::InvitationOpen,
                account: Some(i.administrator),
                subject: None,
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::domain::{AccountId, Region};

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
        let p = plan_invitations(Service::Detective, &list, &settings(true, true));
        assert_eq!(admins(&p.accept), [id(1), id(2)]);
        assert_eq!(admins(&p.decline), [id(3)], "never an accepted membership");
        let kinds: Vec<(DriftKind, Option<AccountId>)> =
            p.drift.iter().map(|d| (d.kind, d.account)).collect();
        assert_eq!(
            kinds,
            [
                (DriftKind::UnexpectedAdministrator, Some(id(3))),
                (DriftKind::UnexpectedAdministrator, Some(id(4)))
            ]
        );
        let p = plan_invitations(Service::Detective, &list, &settings(false, false));
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
        let p = plan_invitations(Service::SecurityHub, &list, &settings(true, false));
        assert_eq!(admins(&p.accept), [id(2)]);
        assert_eq!(p.drift.len(), 1, "the other stays open, reported");
        // Already a member of an expected administrator: nothing more is accepted.
        let list = [
            inv(1, InvitationStatus::Accepted, 10),
            inv(2, InvitationStatus::Open, 20),
        ];
        let p = plan_invitations(Service::SecurityHub, &list, &settings(true, false));
        assert!(p.accept.is_empty());
    }
}
