//! The plan: what differs between the desired state and what Detective reports, and what apply
//! will do about it. Pure: no IO, no async, cannot fail; everything it needs is passed in.
//!
//! Drift that only a member account can fix (an invitation nobody accepted, a disabled member)
//! is reported, never "fixed" by muster.

use std::borrow::Cow;
use std::fmt;
use std::time::{Duration, SystemTime};

use crate::desired::DesiredState;
use crate::domain::{AccountId, Email, GraphArn};
use crate::observed::{Member, MemberStatus, ObservedGraph};

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

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub graphs: Vec<GraphPlan>,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        self.graphs.iter().any(GraphPlan::has_changes)
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
    Plan { graphs }
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
    let mut next = members.iter().peekable();
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
        if desired.accounts.is_empty() {
            prune_refused = Some(
                "the desired state declares no accounts; muster never prunes a graph to empty"
                    .into(),
            );
        } else if undeclared.len() > settings.max_removals_per_pass {
            prune_refused = Some(format!(
                "pruning would remove {} members, more than max_removals_per_pass ({}); remove them by hand or raise the limit",
                undeclared.len(),
                settings.max_removals_per_pass
            ));
        } else {
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

#[cfg(test)]
mod tests;
