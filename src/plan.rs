//! The plan: what differs between the desired state and what Detective and Security Hub
//! report, and what apply will do about it. Pure: no IO, no async, cannot fail; everything it needs is passed in.
//!
//! Drift that only a member account can fix (an invitation nobody accepted, a disabled member)
//! is reported, never "fixed" by muster.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, SystemTime};

use std::collections::BTreeSet;

use crate::desired::DesiredState;
use crate::domain::{AccountId, Email, GraphArn, Region};
use crate::observed::{
    hub_target, HubMember, HubMemberStatus, Member, MemberStatus, ObservedGraph, ObservedHub,
};

/// Detective's limit on members in one behavior graph.
pub const GRAPH_MEMBER_LIMIT: usize = 1200;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSettings {
    pub max_removals_per_pass: usize,
    pub pending_invitation_after: Duration,
    pub member_limit: usize,
}

/// The kinds of drift, as metrics and events name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DriftKind {
    Missing,
    Undeclared,
    VerificationFailed,
    Disabled,
    PendingTooLong,
    EmailMismatch,
    QuotaBlocked,
    /// Security Hub: a member created but never invited (accounts outside the organization).
    NotInvited,
    /// Security Hub: the administrator disassociated a declared member.
    Removed,
    /// Security Hub: the member left; only it can join again.
    Resigned,
    /// Security Hub: the member account is suspended.
    AccountSuspended,
    /// Member side: an invitation from an administrator not on the allow-list.
    UnexpectedAdministrator,
    /// Member side: an open invitation from an expected administrator, not accepted.
    InvitationOpen,
}

impl DriftKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DriftKind::Missing => "missing",
            DriftKind::Undeclared => "undeclared",
            DriftKind::VerificationFailed => "verification_failed",
            DriftKind::Disabled => "disabled",
            DriftKind::PendingTooLong => "pending_too_long",
            DriftKind::EmailMismatch => "email_mismatch",
            DriftKind::QuotaBlocked => "quota_blocked",
            DriftKind::NotInvited => "not_invited",
            DriftKind::Removed => "removed",
            DriftKind::Resigned => "resigned",
            DriftKind::AccountSuspended => "account_suspended",
            DriftKind::UnexpectedAdministrator => "unexpected_administrator",
            DriftKind::InvitationOpen => "invitation_open",
        }
    }
}

impl fmt::Display for DriftKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub kind: DriftKind,
    pub account: AccountId,
    /// For humans; never contains an email address.
    pub detail: Cow<'static, str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovalReason {
    /// A member the desired state does not declare, removed because `prune: true`.
    Undeclared,
    /// A VERIFICATION_FAILED member whose declared email has since changed: removed so that it
    /// can be invited again with the new address.
    EmailCorrected,
}

impl RemovalReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RemovalReason::Undeclared => "undeclared",
            RemovalReason::EmailCorrected => "email_corrected",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphPlan {
    pub graph: GraphArn,
    pub members: usize,
    /// Accounts to invite, in account order.
    pub invite: Vec<(AccountId, Email)>,
    /// Members to remove before inviting, in account order.
    pub remove: Vec<(AccountId, RemovalReason)>,
    pub drift: Vec<Drift>,
    /// Why undeclared members are not being removed although `prune` is on.
    pub prune_refused: Option<String>,
}

impl GraphPlan {
    pub fn has_changes(&self) -> bool {
        !self.invite.is_empty() || !self.remove.is_empty()
    }
}

/// One region's Security Hub: members to create (CreateMembers), then to invite
/// (InviteMembers: accounts outside the organization), and undeclared members to remove
/// (DisassociateMembers, then DeleteMembers) when `prune` is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubPlan {
    pub region: Region,
    pub members: usize,
    /// In account order. The email goes along when the desired state has one.
    pub create: Vec<(AccountId, Option<Email>)>,
    /// In account order: accounts created by this plan that need an invitation, and members
    /// left `Created`.
    pub invite: Vec<AccountId>,
    pub remove: Vec<AccountId>,
    pub drift: Vec<Drift>,
    pub prune_refused: Option<String>,
}

impl HubPlan {
    pub fn has_changes(&self) -> bool {
        !self.create.is_empty() || !self.invite.is_empty() || !self.remove.is_empty()
    }

    /// How events and logs name this hub: `securityhub:<region>`.
    pub fn target(&self) -> String {
        hub_target(&self.region)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub graphs: Vec<GraphPlan>,
    pub hubs: Vec<HubPlan>,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        self.graphs.iter().any(GraphPlan::has_changes) || self.hubs.iter().any(HubPlan::has_changes)
    }
}

/// Why undeclared members must not be removed although `prune` is on, if they must not.
fn prune_refusal(
    desired: &DesiredState,
    undeclared: usize,
    settings: &PlanSettings,
    what: &str,
) -> Option<String> {
    if let Some(why) = &desired.prune_blocked {
        Some(why.clone())
    } else if desired.accounts.is_empty() {
        Some(format!(
            "the desired state declares no accounts; muster never prunes {what} to empty"
        ))
    } else if undeclared > settings.max_removals_per_pass {
        Some(format!(
            "pruning would remove {undeclared} members, more than max_removals_per_pass ({}); remove them by hand or raise the limit",
            settings.max_removals_per_pass
        ))
    } else {
        None
    }
}

/// Plans every observed graph against the desired state. Graphs are independent, so a large
/// plan is spread over the machine's cores (no IO; the result is the same either way).
pub fn plan(
    desired: &DesiredState,
    observed: &[ObservedGraph],
    now: SystemTime,
    settings: &PlanSettings,
) -> Plan {
    let one = |g: &ObservedGraph| plan_graph(desired, g, now, settings);
    let work = desired.accounts.len().saturating_mul(observed.len());
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(observed.len());
    if threads <= 1 || work < PARALLEL_WORK {
        return Plan {
            graphs: observed.iter().map(one).collect(),
            hubs: Vec::new(),
        };
    }
    let per_thread = observed.len().div_ceil(threads);
    let graphs = std::thread::scope(|scope| {
        let handles: Vec<_> = observed
            .chunks(per_thread)
            .map(|chunk| scope.spawn(move || chunk.iter().map(one).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    Plan {
        graphs,
        hubs: Vec::new(),
    }
}

/// Below this many (desired account, graph) pairs a plan is quicker on one thread.
const PARALLEL_WORK: usize = 50_000;

fn plan_graph(
    desired: &DesiredState,
    observed: &ObservedGraph,
    now: SystemTime,
    settings: &PlanSettings,
) -> GraphPlan {
    // Both sides in account order, walked together once (a merge join): no lookups.
    let mut members: Vec<&Member> = observed.members.iter().collect();
    members.sort_by_key(|m| m.account_id);
    members.dedup_by_key(|m| m.account_id);
    let mut undeclared: Vec<AccountId> = Vec::new();
    // The graph's own administrator is never its member (nor undeclared), even when an OU it
    // sits in is taken.
    let administrator = AccountId::parse(observed.arn.administrator());
    let mut next = members
        .iter()
        .filter(|m| Some(m.account_id) != administrator)
        .peekable();
    let mut missing = Vec::new();
    let mut invite = Vec::new();
    let mut remove = Vec::new();
    let mut drift = Vec::new();
    let mut note = |kind, account: &AccountId, detail: Cow<'static, str>| {
        drift.push(Drift {
            kind,
            account: *account,
            detail,
        })
    };

    for (id, want) in &desired.accounts {
        while let Some(m) = next.next_if(|m| m.account_id < *id) {
            undeclared.push(m.account_id);
        }
        if Some(*id) == administrator {
            continue;
        }
        let Some(m) = next.next_if(|m| m.account_id == *id) else {
            missing.push((*id, want.email.clone()));
            continue;
        };
        let email_differs = m
            .email
            .as_ref()
            .is_some_and(|e| !e.same_address(&want.email));
        match &m.status {
            MemberStatus::VerificationFailed if email_differs => {
                note(
                    DriftKind::VerificationFailed,
                    id,
                    "verification failed with an email the desired state has since corrected: removing and inviting again".into(),
                );
                remove.push((*id, RemovalReason::EmailCorrected));
                invite.push((*id, want.email.clone()));
                continue;
            }
            MemberStatus::VerificationFailed => note(
                DriftKind::VerificationFailed,
                id,
                "verification failed: the declared email is likely not the account's root email, or the account is closed or suspended".into(),
            ),
            MemberStatus::AcceptedButDisabled => note(
                DriftKind::Disabled,
                id,
                format!(
                    "accepted but disabled ({})",
                    m.disabled_reason.as_deref().unwrap_or("no reason given")
                )
                .into(),
            ),
            MemberStatus::Invited => {
                let waited = m
                    .invited_at
                    .and_then(|t| now.duration_since(t).ok())
                    .unwrap_or_default();
                if waited > settings.pending_invitation_after {
                    note(
                        DriftKind::PendingTooLong,
                        id,
                        format!(
                            "invited {} days ago and not accepted (only the member account can accept)",
                            waited.as_secs() / 86_400
                        )
                        .into(),
                    );
                }
            }
            _ => {}
        }
        if email_differs && !m.organization {
            note(
                DriftKind::EmailMismatch,
                id,
                "the declared email differs from the member's".into(),
            );
        }
    }

    undeclared.extend(next.map(|m| m.account_id));
    for id in &undeclared {
        note(
            DriftKind::Undeclared,
            id,
            "a member the desired state does not declare".into(),
        );
    }
    let mut prune_refused = None;
    if desired.detective.prune && !undeclared.is_empty() {
        prune_refused = prune_refusal(desired, undeclared.len(), settings, "a graph");
        if prune_refused.is_none() {
            remove.extend(undeclared.iter().map(|id| (*id, RemovalReason::Undeclared)));
        }
    }
    remove.sort_by_key(|r| r.0);

    // What fits under the member limit once removals are done; the rest waits, reported.
    // Accounts removed to be invited again take the room their removal made.
    let room = settings
        .member_limit
        .saturating_sub(members.len() - remove.len())
        .saturating_sub(invite.len());
    let reinvites = !invite.is_empty();
    for (n, (id, email)) in missing.into_iter().enumerate() {
        if n < room {
            note(DriftKind::Missing, &id, "not a member".into());
            invite.push((id, email));
        } else {
            note(
                DriftKind::QuotaBlocked,
                &id,
                "not a member, and the graph is at its member limit: not invited until members are removed".into(),
            );
        }
    }
    if reinvites {
        invite.sort_by_key(|i| i.0);
    }

    GraphPlan {
        graph: observed.arn.clone(),
        members: members.len(),
        invite,
        remove,
        drift,
        prune_refused,
    }
}

/// Plans every observed Security Hub against the desired state. `organization` is every
/// account of the organization when it is known: those are enabled by CreateMembers alone
/// (the caller is the delegated administrator); others need InviteMembers. When it is not
/// known, every account created is invited.
pub fn plan_hubs(
    desired: &DesiredState,
    observed: &[ObservedHub],
    organization: Option<&BTreeSet<AccountId>>,
    now: SystemTime,
    settings: &PlanSettings,
) -> Vec<HubPlan> {
    observed
        .iter()
        .map(|h| plan_hub(desired, h, organization, now, settings))
        .collect()
}

fn plan_hub(
    desired: &DesiredState,
    observed: &ObservedHub,
    organization: Option<&BTreeSet<AccountId>>,
    now: SystemTime,
    settings: &PlanSettings,
) -> HubPlan {
    let mut members: Vec<&HubMember> = observed.members.iter().collect();
    members.sort_by_key(|m| m.account_id);
    members.dedup_by_key(|m| m.account_id);
    let needs_invitation = |id: &AccountId| organization.is_none_or(|org| !org.contains(id));
    // The administrator is never its own member (nor undeclared): known from its members'
    // AdministratorId once it has any (before that, CreateMembers answers it as unprocessed).
    let administrator = members.iter().find_map(|m| m.administrator);
    let mut next = members
        .iter()
        .filter(|m| Some(m.account_id) != administrator)
        .peekable();
    let mut undeclared = Vec::new();
    let (mut create, mut invite, mut drift) = (Vec::new(), Vec::new(), Vec::new());
    let mut note = |kind, account: AccountId, detail: Cow<'static, str>| {
        drift.push(Drift {
            kind,
            account,
            detail,
        })
    };
    for (id, want) in &desired.accounts {
        while let Some(m) = next.next_if(|m| m.account_id < *id) {
            undeclared.push(m.account_id);
        }
        if Some(*id) == administrator {
            continue;
        }
        let status = next
            .next_if(|m| m.account_id == *id)
            .map(|m| (&m.status, m.updated_at));
        let mut add = |kind, detail: &'static str| {
            note(kind, *id, detail.into());
            create.push((*id, Some(want.email.clone())));
            if needs_invitation(id) {
                invite.push(*id);
            }
        };
        match status {
            None => add(DriftKind::Missing, "not a member"),
            Some((HubMemberStatus::Deleted, _)) => {
                add(DriftKind::Missing, "a deleted member: creating it again")
            }
            Some((HubMemberStatus::Removed, _)) => add(
                DriftKind::Removed,
                "disassociated by the administrator although declared: creating it again",
            ),
            Some((HubMemberStatus::Resigned, _)) => note(
                DriftKind::Resigned,
                *id,
                "the member left the administrator's Security Hub (only the member account can join again)".into(),
            ),
            Some((HubMemberStatus::AccountSuspended, _)) => note(
                DriftKind::AccountSuspended,
                *id,
                "the account is suspended: nothing is done until it is active".into(),
            ),
            Some((HubMemberStatus::Created, _)) => {
                note(
                    DriftKind::NotInvited,
                    *id,
                    "a member that was never invited: inviting".into(),
                );
                invite.push(*id);
            }
            Some((HubMemberStatus::Invited, updated)) => {
                let waited = updated
                    .and_then(|t| now.duration_since(t).ok())
                    .unwrap_or_default();
                if waited > settings.pending_invitation_after {
                    note(
                        DriftKind::PendingTooLong,
                        *id,
                        format!(
                            "invited {} days ago and not accepted (only the member account can accept)",
                            waited.as_secs() / 86_400
                        )
                        .into(),
                    );
                }
            }
            Some((HubMemberStatus::Enabled | HubMemberStatus::Other(_), _)) => {}
        }
    }
    undeclared.extend(next.map(|m| m.account_id));
    for id in &undeclared {
        note(
            DriftKind::Undeclared,
            *id,
            "a member the desired state does not declare".into(),
        );
    }
    let prune = desired.securityhub.as_ref().is_some_and(|s| s.prune);
    let mut remove = Vec::new();
    let mut prune_refused = None;
    if prune && !undeclared.is_empty() {
        prune_refused = prune_refusal(desired, undeclared.len(), settings, "a Security Hub");
        if prune_refused.is_none() {
            remove = undeclared;
        }
    }
    HubPlan {
        region: observed.region.clone(),
        members: members.len(),
        create,
        invite,
        remove,
        drift,
        prune_refused,
    }
}

#[cfg(test)]
mod tests;
