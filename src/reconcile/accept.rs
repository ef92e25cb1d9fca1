//! Central acceptance's reads: each candidate account's member role assumed (a refusal is
//! drift, `plan::accept::deny`), and the accounts a pass's own writes left invited.

use std::collections::BTreeMap;

use futures_util::stream::{self, StreamExt};

use super::Survey;
use crate::apply::{ApplyReport, Settled};
use crate::aws::roles::MemberRoles;
use crate::domain::{AccountId, Service, Target};
use crate::plan::accept::{self, Acceptance};

/// Roles assumed at once.
const CONCURRENT_ROLES: usize = 16;

/// The invitations a survey shows waiting, with every account whose role is refused
/// (AccessDenied) moved into the plan as `member_role_denied` drift.
pub async fn observe(roles: &MemberRoles, survey: &mut Survey) -> Vec<Acceptance> {
    let mut acceptances = accept::candidates(&survey.desired, &survey.graphs, &survey.hubs);
    let accounts = accept::accounts(&acceptances);
    let tried: Vec<(AccountId, Option<crate::aws::Error>)> = stream::iter(accounts)
        .map(|a| async move { (a, roles.member(a).await.err()) })
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

/// The accounts the pass's writes left invited, by graph and Security Hub region.
pub fn invited_by(report: &ApplyReport) -> BTreeMap<Target, Vec<AccountId>> {
    report
        .settled
        .iter()
        .filter(|(t, _)| matches!(t, Target::Graph(_) | Target::Hub(Service::SecurityHub, _)))
        .map(|(t, accounts)| {
            let invited = accounts
                .iter()
                .filter(|(_, s)| **s == Settled::Member("invited"))
                .map(|(a, _)| *a);
            (t.clone(), invited.collect())
        })
        .collect()
}
