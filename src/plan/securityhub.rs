//! The plan for each region of Security Hub, and of every service of its shape
//! (`Service::HUBS`): declared accounts that are not members (or were deleted or
//! disassociated) are created, and invited unless they are organization accounts created by
//! the organization's administrator in that region; members left
//! `Created` are invited; undeclared members are removed when `prune` is on and its guards
//! allow; the rest of what differs is drift.

use super::{by_account, merge_join, pending, prune, Drift, DriftKind, HubPlan, Observed};
use super::{PlanSettings, Planning};
use crate::desired::{DesiredAccount, DesiredState};
use crate::domain::AccountId;
use crate::observed::{HubMember, HubMemberStatus, ObservedHub};

/// Plans every observed Security Hub.
pub fn plan(
    desired: &DesiredState,
    observed: &Observed<'_>,
    settings: &PlanSettings,
) -> Vec<HubPlan> {
    let cx = Planning {
        desired,
        observed,
        settings,
    };
    (observed.hubs.iter())
        .map(|h| {
            // At the largest organization a hub's lists hold a Drift or an account a member;
            // kept, they should not keep their growth's slack.
            let mut p = plan_hub(cx, h);
            p.create.shrink_to_fit();
            p.drift.shrink_to_fit();
            p
        })
        .collect()
}

fn plan_hub(cx: Planning<'_>, hub: &ObservedHub) -> HubPlan {
    let (desired, observed) = (cx.desired, cx.observed);
    let members = by_account(&hub.members);
    // Organization accounts join by CreateMembers alone only when the caller is the
    // organization's administrator here (DescribeOrganizationConfiguration answered it);
    // created by any other administrator (the management account, say) they stay `Created`
    // until invited.
    let administrator_here = hub
        .organization
        .as_ref()
        .is_some_and(|o| o.is_administrator());
    let needs_invitation = |id: &AccountId| {
        !administrator_here || observed.organization.is_none_or(|org| !org.contains(id))
    };
    // The administrator is never its own member (nor undeclared): known from its members'
    // AdministratorId once it has any (before that, CreateMembers answers it as unprocessed).
    let administrator = members.iter().find_map(|m| m.administrator);
    let (mut create, mut invite, mut drift) = (Vec::new(), Vec::new(), Vec::new());
    let declared = |id: AccountId, want: &DesiredAccount, m: Option<&HubMember>| {
        let (kind, detail, create_it) = match m.map(|m| &m.status) {
            None => (DriftKind::Missing, "not a member", true),
            Some(HubMemberStatus::Deleted) => {
                (DriftKind::Missing, "a deleted member: creating it again", true)
            }
            Some(HubMemberStatus::Removed) => (
                DriftKind::Removed,
                "disassociated by the administrator although declared: creating it again",
                true,
            ),
            Some(HubMemberStatus::Resigned) => (
                DriftKind::Resigned,
                "the member left the administrator's Security Hub (only the member account can join again)",
                false,
            ),
            Some(HubMemberStatus::AccountSuspended) => (
                DriftKind::AccountSuspended,
                "the account is suspended: nothing is done until it is active",
                false,
            ),
            Some(HubMemberStatus::Created) => {
                invite.push(id);
                (DriftKind::NotInvited, "a member that was never invited: inviting", false)
            }
            Some(HubMemberStatus::Invited) => {
                let updated = m.and_then(|m| m.updated_at);
                drift.extend(pending(cx, id, updated));
                return;
            }
            Some(HubMemberStatus::Enabled | HubMemberStatus::Other(_)) => return,
        };
        drift.push(Drift {
            kind,
            account: Some(id),
            subject: None,
            detail: detail.into(),
        });
        if create_it {
            create.push((id, Some(want.email.clone())));
            if needs_invitation(&id) {
                invite.push(id);
            }
        }
    };
    let undeclared = merge_join(desired, &members, administrator, declared);
    let on = desired.hub(hub.service).is_some_and(|s| s.prune);
    let what = format!("a {}", hub.service.title());
    let (remove, prune_refused) = prune(cx, undeclared, (on, &what), &mut drift);
    HubPlan {
        service: hub.service,
        region: hub.region.clone(),
        members: members.len(),
        create,
        invite,
        remove,
        drift,
        prune_refused,
    }
}
