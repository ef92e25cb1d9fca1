//! Central acceptance: for each invited member, muster assumes `member_role` in it and accepts
//! the invitation there (Detective AcceptInvitation per graph, Security Hub ListInvitations and
//! AcceptAdministratorInvitation per region, only the invitation from muster's own account).
//! Each accept is an intent before and an outcome after; a refused role or a failed call is
//! that account's failure, never the others'.

use super::{answers_nothing, fan_out, ApplyReport, Change, Journal, Recorder, Settled, Step};
use crate::aws::roles::MemberRoles;
use crate::aws::{DetectiveApi, Error, SecurityHubApi};
use crate::domain::{AccountId, Region, Service, Target};
use crate::eventlog::EventLogError;
use crate::plan::accept::Acceptance;

const GRAPH_ACCEPT: Step = Step {
    leaves: Some(Settled::Member("enabled")),
    ..Step::new("AcceptInvitation", Change::Accept)
};
const HUB_ACCEPT: Step = Step {
    leaves: Some(Settled::Member("enabled")),
    ..Step::new("AcceptAdministratorInvitation", Change::Accept)
};

/// Accepts every acceptance's invitations, `concurrency` targets at a time, one account after
/// another within a target.
pub async fn accept(
    roles: &MemberRoles,
    journal: Journal<'_>,
    acceptances: &[Acceptance],
    concurrency: usize,
) -> Result<ApplyReport, EventLogError> {
    fan_out(acceptances, concurrency, |a| async move {
        let mut rec = Recorder::new(journal, a.target.clone()).tagged("accept");
        rec.expected = a.accounts.len();
        tracing::info!(target_name = %a.target, accounts = a.accounts.len(), role = roles.template(), "accepting invitations through the member role");
        for account in &a.accounts {
            if rec.stopping() {
                break;
            }
            let one = [*account];
            match &a.target {
                Target::Graph(graph) => {
                    let call = async {
                        let member = roles.member(*account).await?;
                        member.detective.accept_invitation(graph).await
                    };
                    rec.call(GRAPH_ACCEPT, &one, answers_nothing(&one, call))
                        .await?;
                }
                Target::Hub(Service::SecurityHub, region) => {
                    let call = hub_accept(roles, *account, region);
                    rec.call(HUB_ACCEPT, &one, answers_nothing(&one, call))
                        .await?;
                }
                _ => {}
            }
        }
        Ok(rec.report)
    })
    .await
}

/// In `account`, as its role: the open invitation from muster's own account (asked once a
/// process) in `region`, accepted.
async fn hub_accept(roles: &MemberRoles, account: AccountId, region: &Region) -> Result<(), Error> {
    let admin = roles.own_account().await?;
    let member = roles.member(account).await?;
    let open = member.securityhub.open_invitations(region).await?;
    let id = open
        .iter()
        .find(|i| i.administrator == admin)
        .and_then(|i| i.id.clone());
    let Some(id) = id else {
        return Err(Error {
            service: "securityhub",
            operation: "ListInvitations",
            code: "InvitationNotFound".into(),
            message: format!("{account} has no open invitation from {admin} in {region}"),
            retryable: false,
        });
    };
    member
        .securityhub
        .accept_invitation(region, admin, &id)
        .await
}
