//! `SecurityHubApi` over aws-sdk-securityhub: one client per region (Security Hub is regional),
//! responses checked into domain types, errors mapped to `aws::Error` with AWS's error name.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use aws_sdk_securityhub::types::AccountDetails;
use aws_sdk_securityhub::Client;

mod central;

use super::limiter::{TokenBucket, SECURITYHUB_BURST, SECURITYHUB_PER_SECOND};
use super::telemetry::{RequestMetrics, RequestSink};
use super::{
    account_in, administration, call, ids, Answer, Error, HubApi, HubUpdate, Regional,
    SecurityHubApi,
};
use crate::desired::Standards;
use crate::domain::{AccountId, Email, Interner, Region};
use crate::observed::{
    Administration, CentralStatus, HubMember, HubMemberStatus, Invitation, InvitationStatus,
    OrgConfiguration,
};

/// Members asked for per ListMembers page: the most Security Hub allows.
pub const PAGE_SIZE: i32 = 50;

pub(super) const SERVICE: &str = "securityhub";

/// The accounts a call did not process, with Security Hub's reason, or why the call failed.
type Refused = Result<Vec<(AccountId, String)>, Error>;

pub struct SdkSecurityHub {
    base: aws_config::SdkConfig,
    /// A client and a rate limiter per region: Security Hub's limits are per region.
    clients: Regional<(Client, Arc<TokenBucket>)>,
    metrics: Option<RequestMetrics>,
    /// Members' addresses, each once for every Region's listing.
    emails: Mutex<Interner>,
}

impl SdkSecurityHub {
    /// Member side: the open invitations in `region`, every page (ListInvitations only).
    pub async fn open_invitations(&self, region: &Region) -> Result<Vec<Invitation>, Error> {
        let op = "ListInvitations";
        every_page(op, |token| async move {
            let request = self.client(region).await.list_invitations();
            let request = request.max_results(PAGE_SIZE).set_next_token(token);
            let page = call(SERVICE, op, request.send()).await?;
            let next = page.next_token().map(str::to_owned);
            Ok((each(page.invitations(), invitation)?, next))
        })
        .await
    }

    /// Clients built from `base`, counting every attempt and retry in `metrics` when given.
    pub fn new(base: aws_config::SdkConfig, metrics: Option<Arc<dyn RequestSink>>) -> Self {
        SdkSecurityHub {
            base,
            clients: Regional::new(),
            metrics: metrics.map(|m| RequestMetrics::new(SERVICE, m)),
            emails: Mutex::default(),
        }
    }

    /// The region's client, once the region's rate limiter lets a request go.
    async fn client(&self, region: &Region) -> Client {
        let (client, bucket) = self.clients.get(region, |name| {
            let region = aws_sdk_securityhub::config::Region::new(name);
            let conf = aws_sdk_securityhub::config::Builder::from(&self.base).region(region);
            let conf = match &self.metrics {
                Some(m) => conf.interceptor(m.clone()),
                None => conf,
            };
            let bucket = TokenBucket::new(SECURITYHUB_PER_SECOND, SECURITYHUB_BURST);
            (Client::from_conf(conf.build()), Arc::new(bucket))
        });
        bucket.acquire().await;
        client
    }
}

pub(super) fn invalid(operation: &'static str, what: String) -> Error {
    Error::invalid_response(SERVICE, operation, what)
}

fn account(operation: &'static str, raw: Option<&str>) -> Result<AccountId, Error> {
    account_in((SERVICE, operation), "an account id", raw)
}

pub(super) fn time(t: Option<&aws_sdk_securityhub::primitives::DateTime>) -> Option<SystemTime> {
    t.and_then(|t| SystemTime::try_from(*t).ok())
}

/// Every page of a listing, page by page (each request waits for the region's limiter, so the
/// SDK's paginators, which would not, are not used): `page(token)` sends one request and
/// returns its items and the next token. A token that comes back unchanged fails the listing
/// rather than looping, as the SDK's paginators do.
pub(super) async fn every_page<T, F, Fut>(
    operation: &'static str,
    mut page: F,
) -> Result<Vec<T>, Error>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<String>), Error>>,
{
    let mut out = Vec::new();
    let mut sent: Option<String> = None;
    loop {
        let (items, next) = page(sent.clone()).await?;
        out.extend(items);
        match next {
            Some(t) if !t.is_empty() => {
                if sent.as_deref() == Some(t.as_str()) {
                    return Err(invalid(
                        operation,
                        "the same NextToken came back twice; the listing would never end".into(),
                    ));
                }
                sent = Some(t);
            }
            _ => {
                out.shrink_to_fit();
                return Ok(out);
            }
        }
    }
}

/// Accounts a call did not process, with Security Hub's reason.
fn unprocessed(operation: &'static str, list: &[aws_sdk_securityhub::types::Result]) -> Refused {
    list.iter()
        .map(|u| {
            let reason = u.processing_result().unwrap_or("no reason given");
            Ok((account(operation, u.account_id())?, reason.to_owned()))
        })
        .collect()
}

/// A member as ListMembers lists it.
fn member(
    m: &aws_sdk_securityhub::types::Member,
    emails: &mut Interner,
) -> Result<HubMember, Error> {
    Ok(HubMember {
        account_id: account("ListMembers", m.account_id())?,
        email: m.email().and_then(|e| Email::parse_shared(e, emails)),
        status: HubMemberStatus::parse(m.member_status().unwrap_or_default()),
        administrator: m.administrator_id().and_then(AccountId::parse),
        updated_at: time(m.updated_at()),
    })
}

/// An open invitation as ListInvitations lists it.
fn invitation(i: &aws_sdk_securityhub::types::Invitation) -> Result<Invitation, Error> {
    Ok(Invitation {
        administrator: account("ListInvitations", i.account_id())?,
        graph: None,
        id: i.invitation_id().map(str::to_owned),
        status: InvitationStatus::Open,
        invited_at: time(i.invited_at()),
    })
}

/// Every item of a page, checked.
fn each<U, T>(items: &[U], check: fn(&U) -> Result<T, Error>) -> Result<Vec<T>, Error> {
    items.iter().map(check).collect()
}

impl SdkSecurityHub {
    /// The membership the caller accepted in `region` (GetAdministratorAccount), if any.
    async fn administrator(&self, region: &Region) -> Result<Option<Invitation>, Error> {
        let op = "GetAdministratorAccount";
        let request = self.client(region).await.get_administrator_account().send();
        let Some(a) = call(SERVICE, op, request).await?.administrator else {
            return Ok(None);
        };
        let status = match HubMemberStatus::parse(a.member_status().unwrap_or_default()) {
            HubMemberStatus::Enabled => InvitationStatus::Accepted,
            HubMemberStatus::Invited => InvitationStatus::Open,
            other => InvitationStatus::Other(other.as_str().to_owned()),
        };
        Ok(Some(Invitation {
            administrator: account(op, a.account_id())?,
            graph: None,
            id: a.invitation_id().map(str::to_owned),
            status,
            invited_at: time(a.invited_at()),
        }))
    }
}

/// The membership calls, as `HubApi` hands them out.
impl SdkSecurityHub {
    async fn members(&self, region: &Region) -> Result<Vec<HubMember>, Error> {
        let op = "ListMembers";
        (self.emails.lock().unwrap_or_else(|e| e.into_inner())).forget_unused();
        every_page(op, |token| async move {
            let request = self
                .client(region)
                .await
                .list_members()
                .only_associated(false);
            let request = request.max_results(PAGE_SIZE).set_next_token(token);
            let page = call(SERVICE, op, request.send()).await?;
            let next = page.next_token().map(str::to_owned);
            let mut emails = self.emails.lock().unwrap_or_else(|e| e.into_inner());
            let members = page.members().iter().map(|m| member(m, &mut emails));
            Ok((members.collect::<Result<_, _>>()?, next))
        })
        .await
    }

    async fn create(&self, region: &Region, accounts: &[(AccountId, Option<Email>)]) -> Refused {
        let details = accounts.iter().map(|(id, email)| {
            let email = email.as_ref().map(|e| e.expose().to_owned());
            AccountDetails::builder()
                .account_id(id.to_string())
                .set_email(email)
                .build()
        });
        let request = self.client(region).await.create_members();
        let request = request.set_account_details(Some(details.collect()));
        let out = call(SERVICE, "CreateMembers", request.send()).await?;
        unprocessed("CreateMembers", out.unprocessed_accounts())
    }

    async fn send(&self, region: &Region, update: HubUpdate, accounts: &[AccountId]) -> Refused {
        let op = match update {
            HubUpdate::Invite => "InviteMembers",
            HubUpdate::Disassociate => "DisassociateMembers",
            HubUpdate::Delete => "DeleteMembers",
            HubUpdate::Decline => "DeclineInvitations",
        };
        let (client, ids) = (self.client(region).await, ids(accounts));
        // Each request takes the account ids and answers with those it did not process
        // (DisassociateMembers answers nothing).
        macro_rules! send {
            ($request:expr) => {
                call(SERVICE, op, $request.set_account_ids(ids).send()).await?
            };
        }
        let refused = match update {
            HubUpdate::Invite => send!(client.invite_members()).unprocessed_accounts,
            HubUpdate::Disassociate => {
                send!(client.disassociate_members());
                None
            }
            HubUpdate::Delete => send!(client.delete_members()).unprocessed_accounts,
            HubUpdate::Decline => send!(client.decline_invitations()).unprocessed_accounts,
        };
        unprocessed(op, refused.as_deref().unwrap_or_default())
    }
}

/// The organization configuration calls, as `HubApi` hands them out.
impl SdkSecurityHub {
    pub(super) async fn configuration(
        &self,
        region: &Region,
    ) -> Result<Administration<OrgConfiguration>, Error> {
        let op = "DescribeOrganizationConfiguration";
        let request = self
            .client(region)
            .await
            .describe_organization_configuration();
        let answer = call(SERVICE, op, request.send()).await;
        administration(answer, "InvalidAccessException", |out| {
            let c = out.organization_configuration();
            let central = c.and_then(|c| c.configuration_type());
            OrgConfiguration {
                auto_enable: out.auto_enable().unwrap_or(false),
                standards: out.auto_enable_standards().map(|s| s.as_str().to_owned()),
                member_limit_reached: out.member_account_limit_reached().unwrap_or(false),
                configuration: CentralStatus {
                    central: central.map(|t| t.as_str()) == Some("CENTRAL"),
                    status: c.and_then(|c| c.status()).map(|s| s.as_str().to_owned()),
                    message: c.and_then(|c| c.status_message()).map(str::to_owned),
                },
            }
        })
    }

    async fn configure(
        &self,
        region: &Region,
        auto_enable: bool,
        standards: Option<Standards>,
    ) -> Result<(), Error> {
        let request = self
            .client(region)
            .await
            .update_organization_configuration();
        let standards = standards.map(|s| s.as_str().into());
        let request = request
            .auto_enable(auto_enable)
            .set_auto_enable_standards(standards);
        call(SERVICE, "UpdateOrganizationConfiguration", request.send())
            .await
            .map(drop)
    }
}

impl HubApi for SdkSecurityHub {
    fn organization_configuration<'a>(
        &'a self,
        region: &'a Region,
    ) -> Answer<'a, Administration<OrgConfiguration>> {
        Box::pin(self.configuration(region))
    }

    fn set_auto_enable<'a>(
        &'a self,
        region: &'a Region,
        auto_enable: bool,
        standards: Option<Standards>,
    ) -> Answer<'a, ()> {
        Box::pin(self.configure(region, auto_enable, standards))
    }

    fn list_members<'a>(&'a self, region: &'a Region) -> Answer<'a, Vec<HubMember>> {
        Box::pin(self.members(region))
    }

    fn create_members<'a>(
        &'a self,
        region: &'a Region,
        accounts: &'a [(AccountId, Option<Email>)],
    ) -> Answer<'a, Vec<(AccountId, String)>> {
        Box::pin(self.create(region, accounts))
    }

    fn update<'a>(
        &'a self,
        region: &'a Region,
        call: HubUpdate,
        accounts: &'a [AccountId],
    ) -> Answer<'a, Vec<(AccountId, String)>> {
        Box::pin(self.send(region, call, accounts))
    }
}

impl SecurityHubApi for SdkSecurityHub {
    async fn list_invitations(&self, region: &Region) -> Result<Vec<Invitation>, Error> {
        let mut out = self.open_invitations(region).await?;
        out.extend(self.administrator(region).await?);
        Ok(out)
    }

    async fn accept_invitation(
        &self,
        region: &Region,
        administrator: AccountId,
        invitation: &str,
    ) -> Result<(), Error> {
        let request = self.client(region).await.accept_administrator_invitation();
        let request = request.administrator_id(administrator.to_string());
        let request = request.invitation_id(invitation).send();
        call(SERVICE, "AcceptAdministratorInvitation", request)
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pages_are_followed_to_the_end_and_a_repeated_token_fails() {
        let pages = every_page("ListMembers", |token| async move {
            Ok(match token.as_deref() {
                None => (vec![1, 2], Some("a".to_owned())),
                Some("a") => (vec![3], Some("b".to_owned())),
                _ => (vec![4], Some(String::new())),
            })
        })
        .await
        .unwrap();
        assert_eq!(pages, [1, 2, 3, 4]);
        let stuck = every_page("ListMembers", |_| async {
            Ok((vec![0u8], Some("same".to_owned())))
        })
        .await
        .unwrap_err();
        assert_eq!(stuck.code, "InvalidResponse");
        assert_eq!(
            stuck.to_string(),
            "securityhub ListMembers failed: InvalidResponse: the same NextToken came back twice; the listing would never end"
        );
    }
}
