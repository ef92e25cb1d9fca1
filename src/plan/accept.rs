//! Central acceptance (`member_role`): which invitations muster accepts for its members, by
//! assuming a role in each. Pure: the candidates are the declared accounts a listing shows
//! invited (Detective `INVITED`, Security Hub `Invited`); an account whose role cannot be
//! assumed is drift `member_role_denied` on each target it waits in, not a candidate.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use super::{Drift, DriftKind, Plan};
use crate::desired::DesiredState;
use crate::domain::{AccountId, Target};
use crate::observed::{HubMemberStatus, MemberStatus, ObservedGraph, ObservedHub};

/// The invitations of one target (a graph, or a region of Security Hub) to accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acceptance {
    pub target: Target,
    pub accounts: Vec<AccountId>,
}

/// The declared accounts each listing shows invited, target by target.
pub fn candidates(
    desired: &DesiredState,
    graphs: &[ObservedGraph],
    hubs: &[ObservedHub],
) -> Vec<Acceptance> {
    let declared = |a: &AccountId| desired.accounts.contains_key(a);
    let graphs = graphs.iter().map(|g| Acceptance {
        target: Target::Graph(g.arn.clone()),
        accounts: (g.members.iter())
            .filter(|m| m.status == MemberStatus::Invited && !m.organization)
            .map(|m| m.account_id)
            .filter(declared)
            .collect(),
    });
    let hubs = (hubs.iter())
        .filter(|h| h.service.takes_central_accepts())
        .map(|h| Acceptance {
            target: Target::Hub(h.service, h.region.clone()),
            accounts: (h.members.iter())
                .filter(|m| m.status == HubMemberStatus::Invited)
                .map(|m| m.account_id)
                .filter(declared)
                .collect(),
        });
    graphs
        .chain(hubs)
        .filter(|a| !a.accounts.is_empty())
        .collect()
}

/// Every account the acceptances name, once.
pub fn accounts(acceptances: &[Acceptance]) -> BTreeSet<AccountId> {
    acceptances
        .iter()
        .flat_map(|a| a.accounts.iter().copied())
        .collect()
}

/// Takes the accounts whose role was refused (`denied`: account → why) out of the
/// acceptances, and records each as `member_role_denied` drift on the targets it waits in.
pub fn deny(
    plan: &mut Plan,
    acceptances: &mut Vec<Acceptance>,
    denied: &BTreeMap<AccountId, String>,
) {
    for a in acceptances.iter_mut() {
        let refused: Vec<Drift> = (a.accounts.iter())
            .filter_map(|id| {
                denied.get(id).map(|why| Drift {
                    kind: DriftKind::MemberRoleDenied,
                    account: Some(*id),
                    subject: None,
                    detail: Cow::Owned(why.clone()),
                })
            })
            .collect();
        a.accounts.retain(|id| !denied.contains_key(id));
        if refused.is_empty() {
            continue;
        }
        let drift = match &a.target {
            Target::Graph(arn) => plan
                .graphs
                .iter_mut()
                .find(|g| &g.graph == arn)
                .map(|g| &mut g.drift),
            t => plan
                .hubs
                .iter_mut()
                .find(|h| &h.target() == t)
                .map(|h| &mut h.drift),
        };
        if let Some(d) = drift {
            d.extend(refused);
        }
    }
    acceptances.retain(|a| !a.accounts.is_empty());
}

/// `planned`, plus the accounts `invited` lists by target (those a pass's own writes left
/// invited), each account once per target.
pub fn with_invited(
    planned: &[Acceptance],
    invited: BTreeMap<Target, Vec<AccountId>>,
) -> Vec<Acceptance> {
    let mut all: BTreeMap<Target, BTreeSet<AccountId>> = BTreeMap::new();
    for a in planned {
        all.entry(a.target.clone())
            .or_default()
            .extend(a.accounts.iter().copied());
    }
    for (t, accounts) in invited {
        all.entry(t).or_default().extend(accounts);
    }
    all.into_iter()
        .filter(|(_, a)| !a.is_empty())
        .map(|(target, accounts)| Acceptance {
            target,
            accounts: accounts.into_iter().collect(),
        })
        .collect()
}
