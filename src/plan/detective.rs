//! Detective's plan for each behavior graph: the declared accounts that are not members are
//! invited (as far as the member limit allows), members whose verification failed with an
//! email since corrected are removed and invited again, undeclared members are removed when
//! `prune` is on and its guards allow; the rest of what differs is drift.

use std::borrow::Cow;

use super::{by_account, merge_join, pending, prune, Drift, DriftKind, GraphPlan, Observed};
use super::{PlanSettings, Planning, RemovalReason};
use crate::desired::{DesiredAccount, DesiredState};
use crate::domain::{AccountId, Email};
use crate::observed::{Member, MemberStatus, ObservedGraph};

/// Below this many (desired account, graph) pairs a plan is quicker on one thread.
const PARALLEL_WORK: usize = 50_000;

/// Plans every observed graph. Graphs are independent, so a large plan is spread over the
/// machine's cores (no IO; the result is the same either way).
pub fn plan(
    desired: &DesiredState,
    observed: &Observed<'_>,
    settings: &PlanSettings,
) -> Vec<GraphPlan> {
    let graphs = observed.graphs;
    let cx = Planning {
        desired,
        observed,
        settings,
    };
    let one = |g: &ObservedGraph| plan_graph(cx, g);
    let work = desired.accounts.len().saturating_mul(graphs.len());
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(graphs.len());
    if threads <= 1 || work < PARALLEL_WORK {
        return graphs.iter().map(one).collect();
    }
    let per_thread = graphs.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = graphs
            .chunks(per_thread)
            .map(|chunk| scope.spawn(move || chunk.iter().map(one).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// What one graph's declared accounts call for, before the member limit is applied.
#[derive(Default)]
struct Declared {
    missing: Vec<(AccountId, Email)>,
    invite: Vec<(AccountId, Email)>,
    remove: Vec<(AccountId, RemovalReason)>,
    drift: Vec<Drift>,
}

impl Declared {
    fn note(&mut self, kind: DriftKind, account: AccountId, detail: impl Into<Cow<'static, str>>) {
        self.drift.push(Drift {
            kind,
            account: Some(account),
            subject: None,
            detail: detail.into(),
        });
    }

    /// One declared account and its member, if listed.
    fn account(
        &mut self,
        cx: Planning<'_>,
        id: AccountId,
        want: &DesiredAccount,
        m: Option<&Member>,
    ) {
        let Some(m) = m else {
            self.missing.push((id, want.email.clone()));
            return;
        };
        let email_differs = m
            .email
            .as_ref()
            .is_some_and(|e| !e.same_address(&want.email));
        match &m.status {
            MemberStatus::VerificationFailed if email_differs => {
                self.note(
                    DriftKind::VerificationFailed,
                    id,
                    "verification failed with an email the desired state has since corrected: removing and inviting again",
                );
                self.remove.push((id, RemovalReason::EmailCorrected));
                self.invite.push((id, want.email.clone()));
                return;
            }
            MemberStatus::VerificationFailed => self.note(
                DriftKind::VerificationFailed,
                id,
                "verification failed: the declared email is likely not the account's root email, or the account is closed or suspended",
            ),
            MemberStatus::AcceptedButDisabled => {
                let why = m.disabled_reason.as_deref().unwrap_or("no reason given");
                self.note(DriftKind::Disabled, id, format!("accepted but disabled ({why})"))
            }
            MemberStatus::Invited => {
                self.drift.extend(pending(cx, id, m.invited_at));
            }
            _ => {}
        }
        if email_differs && !m.organization {
            self.note(
                DriftKind::EmailMismatch,
                id,
                "the declared email differs from the member's",
            );
        }
    }
}

fn plan_graph(cx: Planning<'_>, graph: &ObservedGraph) -> GraphPlan {
    let (desired, settings) = (cx.desired, cx.settings);
    let members = by_account(&graph.members);
    // The graph's own administrator is never its member (nor undeclared), even when an OU it
    // sits in is taken.
    let administrator = AccountId::parse(graph.arn.administrator());
    let mut d = Declared::default();
    let undeclared = merge_join(desired, &members, administrator, |id, want, m| {
        d.account(cx, id, want, m)
    });
    let prune_on = (desired.detective.prune, "a graph");
    let (pruned, prune_refused) = prune(cx, undeclared, prune_on, &mut d.drift);
    let Declared {
        missing,
        mut invite,
        mut remove,
        mut drift,
    } = d;
    remove.extend(pruned.into_iter().map(|id| (id, RemovalReason::Undeclared)));
    remove.sort_by_key(|r| r.0);

    // What fits under the member limit once removals are done; the rest waits, reported.
    // Accounts removed to be invited again take the room their removal made.
    let room = settings
        .member_limit
        .saturating_sub(members.len() - remove.len())
        .saturating_sub(invite.len());
    let reinvites = !invite.is_empty();
    for (n, (id, email)) in missing.into_iter().enumerate() {
        let (kind, detail) = if n < room {
            invite.push((id, email));
            (DriftKind::Missing, "not a member")
        } else {
            (
                DriftKind::QuotaBlocked,
                "not a member, and the graph is at its member limit: not invited until members are removed",
            )
        };
        drift.push(Drift {
            kind,
            account: Some(id),
            subject: None,
            detail: detail.into(),
        });
    }
    if reinvites {
        invite.sort_by_key(|i| i.0);
    }
    GraphPlan {
        graph: graph.arn.clone(),
        members: members.len(),
        member_limit: settings.member_limit,
        invite,
        remove,
        drift,
        prune_refused,
    }
}
