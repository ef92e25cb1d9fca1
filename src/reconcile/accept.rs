//! Central acceptance's reads: each candidate account's member role assumed (a refusal is
//! drift, `plan::accept::deny`), and the accounts a pass's own writes left invited.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::stream::{self, StreamExt};

use super::Survey;
use crate::apply::{ApplyReport, Settled};
use crate::aws::roles::MemberRoles;
use crate::aws::DetectiveApi;
use crate::domain::{AccountId, Service, Target};
use crate::observed::MemberStatus;
use crate::plan::accept::{self, Acceptance};

/// Roles assumed at once.
const CONCURRENT_ROLES: usize = 16;

/// The invitations a survey shows waiting, with every account whose role is refused
/// (AccessDenied) moved into the plan as `member_role_denied` drift.
pub async fn observe(roles: &MemberRoles, survey: &mut Survey) -> Vec<Acceptance> {
    let mut acceptances =
        accept::candidates(&survey.desired, &survey.found.graphs, &survey.found.hubs);
    let accounts = accept::accounts(&acceptances);
    let tried: Vec<(AccountId, Option<crate::aws::Error>)> = stream::iter(accounts)
        .map(|a| async move { (a, roles.assume(a).await.err()) })
        .buffer_unordered(CONCURRENT_ROLES)
        .collect()
        .await;
    let denied: BTreeMap<AccountId, String> = tried
        .into_iter()
        .filter_map(|(a, e)| {
            let e = e.filter(|e| e.code == "AccessDenied")?;
            let why = format!(
                "cannot assume {}: {}: {}",
                roles.role_arn(a),
                e.code,
                e.message
            );
            Some((a, why))
        })
        .collect();
    accept::deny(&mut survey.plan, &mut acceptances, &denied);
    acceptances
}

/// The accounts the pass's writes left invited, by graph and Security Hub region. Detective
/// answers CreateMembers before it has verified each email, so a graph with new invitations is
/// listed once more and only its `INVITED` members are taken (the others are accepted by a
/// later pass once verified, or stay `VERIFICATION_FAILED` as drift); a graph that cannot be
/// listed waits for the next pass.
pub async fn invited_by(
    detective: &crate::aws::SdkDetective,
    report: &ApplyReport,
) -> BTreeMap<Target, Vec<AccountId>> {
    let each = report.settled.iter().map(|(t, accounts)| async move {
        let invited: BTreeSet<AccountId> = (accounts.iter())
            .filter(|(_, s)| **s == Settled::Member("invited"))
            .map(|(a, _)| *a)
            .collect();
        let ready = match t {
            _ if invited.is_empty() => return None,
            Target::Hub(Service::SecurityHub, _) => invited.into_iter().collect(),
            Target::Graph(graph) => match detective.list_members(graph).await {
                Ok(members) => (members.iter())
                    .filter(|m| m.status == MemberStatus::Invited && invited.contains(&m.account_id))
                    .map(|m| m.account_id)
                    .collect(),
                Err(e) => {
                    tracing::warn!(graph = %graph, code = %e.code, error = %e.message, "cannot list the graph again: its new invitations are accepted by the next pass");
                    Vec::new()
                }
            },
            _ => return None,
        };
        Some((t.clone(), ready))
    });
    futures_util::future::join_all(each)
        .await
        .into_iter()
        .flatten()
        .collect()
}
