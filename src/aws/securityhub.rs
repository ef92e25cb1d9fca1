//! `SecurityHubApi` over aws-sdk-securityhub: one client per region (Security Hub is regional),
//! responses checked into domain types, errors mapped to `aws::Error` with AWS's error name.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use aws_sdk_securityhub::types::AccountDetails;
use aws_sdk_securityhub::Client;

use super::telemetry::RequestMetrics;
use super::{sdk_error, Error, SecurityHubApi};
use crate::domain::{AccountId, Email, Region};
use crate::metrics::Metrics;
use crate::observed::{HubMember, HubMemberStatus};

/// Members asked for per ListMembers page: the most Security Hub allows.
pub const PAGE_SIZE: i32 = 50;

const SERVICE: &str = "securityhub";

pub struct SdkSecurityHub {
    base: aws_config::SdkConfig,
    clients: Mutex<HashMap<String, Client>>,
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
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(RequestMetrics::new(SERVICE, metrics));
        self
    }

    fn client(&self, region: &Region) -> Client {
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
                Client::from_conf(conf.build())
            })
            .clone()
    }
}

fn invalid(operation: &'static str, what: String) -> Error {
    Error {
        service: SERVICE,
        operation,
        code: "InvalidResponse".into(),
        message: what,
        retryable: false,
    }
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
        let mut out = Vec::new();
        let mut pages = self
            .client(region)
            .list_members()
            .only_associated(false)
            .max_results(PAGE_SIZE)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error(SERVICE, "ListMembers", e))?;
            for m in page.members() {
                out.push(HubMember {
                    account_id: account("ListMembers", m.account_id())?,
                    email: m.email().and_then(Email::parse),
                    status: HubMemberStatus::parse(m.member_status().unwrap_or_default()),
                    administrator: m.administrator_id().and_then(AccountId::parse),
                    updated_at: m.updated_at().and_then(|t| SystemTime::try_from(*t).ok()),
                });
            }
        }
        Ok(out)
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
            .invite_members()
            .set_account_ids(Some(accounts.iter().map(ToString::to_string).collect()))
            .send()
            .await
            .map_err(|e| sdk_error(SERVICE, "InviteMembers", e))?;
        unprocessed("InviteMembers", out.unprocessed_accounts())
    }
}
