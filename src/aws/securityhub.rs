//! `SecurityHubApi` over aws-sdk-securityhub: one client per region (Security Hub is regional),
//! responses checked into domain types, errors mapped to `aws::Error` with AWS's error name.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use aws_sdk_securityhub::types::AccountDetails;
use aws_sdk_securityhub::Client;

use super::limiter::{TokenBucket, SECURITYHUB_BURST, SECURITYHUB_PER_SECOND};
use super::telemetry::{RequestMetrics, RequestSink};
use super::{sdk_error, Error, SecurityHubApi};
use crate::domain::{AccountId, Email, Region};
use crate::observed::{HubMember, HubMemberStatus, Invitation, InvitationStatus};

/// Members asked for per ListMembers page: the most Security Hub allows.
pub const PAGE_SIZE: i32 = 50;

const SERVICE: &str = "securityhub";

pub struct SdkSecurityHub {
    base: aws_config::SdkConfig,
    /// A client and a rate limiter per region: Security Hub's limits are per region.
    clients: Mutex<HashMap<String, (Client, Arc<TokenBucket>)>>,
    metrics: Option<RequestMetrics>,
}

impl SdkSecurityHub {
    pub fn new(base: aws_config::SdkConfig) -> Self {
        SdkSecurityHub {
            base,
            clients: Mutex::new(HashMap::new()),
            metrics: None,
        }
    }

    /// Counts every attempt and retry in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<dyn RequestSink>) -> Self {
        self.metrics = Some(RequestMetrics::new(SERVICE, metrics));
        self
    }

    /// The region's client, once the region's rate limiter lets a request go.
    async fn client(&self, region: &Region) -> Client {
        let (client, bucket) = {
            let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
            clients
                .entry(region.as_str().to_owned())
                .or_insert_with(|| {
                    let mut conf = aws_sdk_securityhub::config::Builder::from(&self.base).region(
                        aws_sdk_securityhub::config::Region::new(region.as_str().to_owned()),
                    );
                    if let Some(m) = &self.metrics {
                        conf = conf.interceptor(m.clone());
                    }
                    (
                        Client::from_conf(conf.build()),
                        Arc::new(TokenBucket::new(SECURITYHUB_PER_SECOND, SECURITYHUB_BURST)),
                    )
                })
                .clone()
        };
        bucket.acquire().await;
        client
    }
}

fn invalid(operation: &'static str, what: String) -> Error {
    Error::invalid_response(SERVICE, operation, what)
}

fn account(operation: &'static str, raw: Option<&str>) -> Result<AccountId, Error> {
    let raw = raw.unwrap_or_default();
    AccountId::parse(raw).ok_or_else(|| {
        invalid(
            operation,
            format!("an account id \"{raw}\" is not 12 digits"),
        )
    })
}

/// Every page of a listing, page by page (each request waits for the region's limiter, so the
/// SDK's paginators, which would not, are not used): `page(token)` sends one request and
/// returns its items and the next token. A token that comes back unchanged fails the listing
/// rather than looping, as the SDK's paginators do.
async fn every_page<T, F, Fut>(operation: &'static str, mut page: F) -> Result<Vec<T>, Error>
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
            _ => return Ok(out),
        }
    }
}

/// Accounts a call did not process, with Security Hub's reason.
fn unprocessed(
    operation: &'static str,
    list: &[aws_sdk_securityhub::types::Result],
) -> Result<Vec<(AccountId, String)>, Error> {
    list.iter()
        .map(|u| {
            Ok((
                account(operation, u.account_id())?,
                u.processing_result()
                    .unwrap_or("no reason given")
                    .to_owned(),
            ))
        })
        .collect()
}

impl SecurityHubApi for SdkSecurityHub {
    async fn list_members(&self, region: &Region) -> Result<Vec<HubMember>, Error> {
        let op = "ListMembers";
        every_page(op, |token| async move {
            let page = self
                .client(region)
                .await
                .list_members()
                .only_associated(false)
                .max_results(PAGE_SIZE)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| sdk_error(SERVICE, op, e))?;
            let members = page
                .members()
                .iter()
                .map(|m| {
                    Ok(HubMember {
                        account_id: account(op, m.account_id())?,
                        email: m.email().and_then(Email::parse),
                        status: HubMemberStatus::parse(m.member_status().unwrap_or_default()),
                        administrator: m.administrator_id().and_then(AccountId::parse),
                        updated_at: m.updated_at().and_then(|t| SystemTime::try_from(*t).ok()),
                    })
                })
                .collect::<Result<Vec<_>, Error>>()?;
            Ok((members, page.next_token().map(str::to_owned)))
        })
        .await
    }

    async fn create_members(
        &self,
        region: &Region,
        accounts: &[(AccountId, Option<Email>)],
    ) -> Result<Vec<(AccountId, String)>, Error> {
        let details = accounts
            .iter()
            .map(|(id, email)| {
                AccountDetails::builder()
                    .account_id(id.to_string())
                    .set_email(email.as_ref().map(|e| e.expose().to_owned()))
                    .build()
            })
            .collect();
        let out = self
            .client(region)
            .await
            .create_members()
            .set_account_details(Some(details))
            .send()
            .await
            .map_err(|e| sdk_error(SERVICE, "CreateMembers", e))?;
        unprocessed("CreateMembers", out.unprocessed_accounts())
    }

    async fn invite_members(
        &self,
        region: &Region,
        accounts: &[AccountId],
    ) -> Result<Vec<(AccountId, String)>, Error> {
        let out = self
            .client(region)
            .await
            .invite_members()
            .set_account_ids(Some(accounts.iter().map(ToString::to_string).collect()))
            .send()
            .await
            .map_err(|e| sdk_error(SERVICE, "InviteMembers", e))?;
        unprocessed("InviteMembers", out.unprocessed_accounts())
    }

    async fn disassociate_members(
        &self,
        region: &Region,
        accounts: &[AccountId],
    ) -> Result<(), Error> {
        self.client(region)
            .await
            .disassociate_members()
            .set_account_ids(Some(accounts.iter().map(ToString::to_string).collect()))
            .send()
            .await
            .map_err(|e| sdk_error(SERVICE, "DisassociateMembers", e))?;
        Ok(())
    }

    async fn delete_members(
        &self,
        region: &Region,
        accounts: &[AccountId],
    ) -> Result<Vec<(AccountId, String)>, Error> {
        let out = self
            .client(region)
            .await
            .delete_members()
            .set_account_ids(Some(accounts.iter().map(ToString::to_string).collect()))
            .send()
            .await
            .map_err(|e| sdk_error(SERVICE, "DeleteMembers", e))?;
        unprocessed("DeleteMembers", out.unprocessed_accounts())
    }

    async fn list_invitations(&self, region: &Region) -> Result<Vec<Invitation>, Error> {
        let op = "ListInvitations";
        let mut out = every_page(op, |token| async move {
            let page = self
                .client(region)
                .await
                .list_invitations()
                .max_results(PAGE_SIZE)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| sdk_error(SERVICE, op, e))?;
            let invitations = page
                .invitations()
                .iter()
                .map(|i| {
                    Ok(Invitation {
                        administrator: account(op, i.account_id())?,
                        graph: None,
                        id: i.invitation_id().map(str::to_owned),
                        status: InvitationStatus::Open,
                        invited_at: i.invited_at().and_then(|t| SystemTime::try_from(*t).ok()),
                    })
                })
                .collect::<Result<Vec<_>, Error>>()?;
            Ok((invitations, page.next_token().map(str::to_owned)))
        })
        .await?;
        let op = "GetAdministratorAccount";
        let admin = self
            .client(region)
            .await
            .get_administrator_account()
            .send()
            .await
            .map_err(|e| sdk_error(SERVICE, op, e))?;
        if let Some(a) = admin.administrator() {
            let status = HubMemberStatus::parse(a.member_status().unwrap_or_default());
            out.push(Invitation {
                administrator: account(op, a.account_id())?,
                graph: None,
                id: a.invitation_id().map(str::to_owned),
                status: match status {
                    HubMemberStatus::Enabled => InvitationStatus::Accepted,
                    HubMemberStatus::Invited => InvitationStatus::Open,
                    other => InvitationStatus::Other(other.as_str().to_owned()),
                },
                invited_at: a.invited_at().and_then(|t| SystemTime::try_from(*t).ok()),
            });
        }
        Ok(out)
    }

    async fn accept_invitation(
        &self,
        region: &Region,
        administrator: AccountId,
        invitation: &str,
    ) -> Result<(), Error> {
        self.client(region)
            .await
            .accept_administrator_invitation()
            .administrator_id(administrator.to_string())
            .invitation_id(invitation)
            .send()
            .await
            .map_err(|e| sdk_error(SERVICE, "AcceptAdministratorInvitation", e))?;
        Ok(())
    }

    async fn decline_invitations(
        &self,
        region: &Region,
        administrators: &[AccountId],
    ) -> Result<Vec<(AccountId, String)>, Error> {
        let out = self
            .client(region)
            .await
            .decline_invitations()
            .set_account_ids(Some(
                administrators.iter().map(ToString::to_string).collect(),
            ))
            .send()
            .await
            .map_err(|e| sdk_error(SERVICE, "DeclineInvitations", e))?;
        unprocessed("DeclineInvitations", out.unprocessed_accounts())
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
