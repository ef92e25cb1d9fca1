//! `DetectiveApi` over aws-sdk-detective: one client per region, responses checked into domain
//! types (a member whose account id is not 12 digits fails the listing rather than being acted
//! on), errors mapped to `aws::Error` with AWS's error name.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use aws_sdk_detective::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_detective::types::{Account, MemberDetail};
use aws_sdk_detective::Client;

use super::telemetry::{RequestMetrics, RequestSink};
use super::{CreateOutcome, DeleteOutcome, DetectiveApi, Error};
use crate::domain::{AccountId, Email, GraphArn, Region};
use crate::observed::{Invitation, InvitationStatus, Member, MemberStatus};

/// Members asked for per ListMembers page: the most Detective allows.
pub const PAGE_SIZE: i32 = 200;

pub struct SdkDetective {
    base: aws_config::SdkConfig,
    clients: Mutex<HashMap<String, Client>>,
    metrics: Option<RequestMetrics>,
}

impl SdkDetective {
    pub fn new(base: aws_config::SdkConfig) -> Self {
        SdkDetective {
            base,
            clients: Mutex::new(HashMap::new()),
            metrics: None,
        }
    }

    /// Counts every attempt and retry in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<dyn RequestSink>) -> Self {
        self.metrics = Some(RequestMetrics::new("detective", metrics));
        self
    }

    fn client(&self, region: &Region) -> Client {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients
            .entry(region.as_str().to_owned())
            .or_insert_with(|| {
                let mut conf = aws_sdk_detective::config::Builder::from(&self.base).region(
                    aws_sdk_detective::config::Region::new(region.as_str().to_owned()),
                );
                if let Some(m) = &self.metrics {
                    conf = conf.interceptor(m.clone());
                }
                Client::from_conf(conf.build())
            })
            .clone()
    }
}

fn map_err<E, R>(operation: &'static str, e: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    super::sdk_error("detective", operation, e)
}

fn invalid(operation: &'static str, what: String) -> Error {
    Error::invalid_response("detective", operation, what)
}

fn time(t: Option<&aws_sdk_detective::primitives::DateTime>) -> Option<SystemTime> {
    t.and_then(|t| SystemTime::try_from(*t).ok())
}

fn member(operation: &'static str, m: &MemberDetail) -> Result<Member, Error> {
    let raw = m.account_id().unwrap_or_default();
    let account_id = AccountId::parse(raw).ok_or_else(|| {
        invalid(
            operation,
            format!("a member's account id \"{raw}\" is not 12 digits"),
        )
    })?;
    Ok(Member {
        account_id,
        email: m.email_address().and_then(Email::parse),
        status: MemberStatus::parse(m.status().map_or("", |s| s.as_str())),
        disabled_reason: m.disabled_reason().map(|r| r.as_str().to_owned()),
        organization: m.invitation_type().map(|t| t.as_str()) == Some("ORGANIZATION"),
        invited_at: time(m.invited_time()),
        updated_at: time(m.updated_time()),
        #[allow(deprecated)]
        percent_of_graph_utilization: m
            .percent_of_graph_utilization()
            .filter(|p| p.is_finite() && *p >= 0.0),
    })
}

fn unprocessed(
    operation: &'static str,
    list: &[aws_sdk_detective::types::UnprocessedAccount],
) -> Result<Vec<(AccountId, String)>, Error> {
    list.iter()
        .map(|u| {
            let raw = u.account_id().unwrap_or_default();
            let id = AccountId::parse(raw).ok_or_else(|| {
                invalid(
                    operation,
                    format!("an unprocessed account id \"{raw}\" is not 12 digits"),
                )
            })?;
            Ok((id, u.reason().unwrap_or("no reason given").to_owned()))
        })
        .collect()
}

impl DetectiveApi for SdkDetective {
    async fn list_graphs(&self, region: &Region) -> Result<Vec<GraphArn>, Error> {
        let mut out = Vec::new();
        let mut pages = self.client(region).list_graphs().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| map_err("ListGraphs", e))?;
            for g in page.graph_list() {
                let raw = g.arn().unwrap_or_default();
                out.push(GraphArn::parse(raw).ok_or_else(|| {
                    invalid(
                        "ListGraphs",
                        format!("\"{raw}\" is not a behavior graph ARN"),
                    )
                })?);
            }
        }
        Ok(out)
    }

    async fn list_members(&self, graph: &GraphArn) -> Result<Vec<Member>, Error> {
        let mut out = Vec::new();
        let mut pages = self
            .client(&graph.region())
            .list_members()
            .graph_arn(graph.as_str())
            .max_results(PAGE_SIZE)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| map_err("ListMembers", e))?;
            for m in page.member_details() {
                out.push(member("ListMembers", m)?);
            }
        }
        Ok(out)
    }

    async fn create_members(
        &self,
        graph: &GraphArn,
        accounts: &[(AccountId, Email)],
        message: Option<&str>,
        disable_email_notification: bool,
    ) -> Result<CreateOutcome, Error> {
        let accounts = accounts
            .iter()
            .map(|(id, email)| {
                Account::builder()
                    .account_id(id.to_string())
                    .email_address(email.expose())
                    .build()
                    .map_err(|e| invalid("CreateMembers", e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .client(&graph.region())
            .create_members()
            .graph_arn(graph.as_str())
            .set_message(message.map(str::to_owned))
            .disable_email_notification(disable_email_notification)
            .set_accounts(Some(accounts))
            .send()
            .await
            .map_err(|e| map_err("CreateMembers", e))?;
        Ok(CreateOutcome {
            members: out
                .members()
                .iter()
                .map(|m| member("CreateMembers", m))
                .collect::<Result<_, _>>()?,
            unprocessed: unprocessed("CreateMembers", out.unprocessed_accounts())?,
        })
    }

    async fn delete_members(
        &self,
        graph: &GraphArn,
        accounts: &[AccountId],
    ) -> Result<DeleteOutcome, Error> {
        let out = self
            .client(&graph.region())
            .delete_members()
            .graph_arn(graph.as_str())
            .set_account_ids(Some(accounts.iter().map(ToString::to_string).collect()))
            .send()
            .await
            .map_err(|e| map_err("DeleteMembers", e))?;
        let deleted = out
            .account_ids()
            .iter()
            .map(|raw| {
                AccountId::parse(raw).ok_or_else(|| {
                    invalid(
                        "DeleteMembers",
                        format!("a deleted account id \"{raw}\" is not 12 digits"),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(DeleteOutcome {
            deleted,
            unprocessed: unprocessed("DeleteMembers", out.unprocessed_accounts())?,
        })
    }

    async fn list_invitations(&self, region: &Region) -> Result<Vec<Invitation>, Error> {
        let op = "ListInvitations";
        let mut out = Vec::new();
        let mut pages = self
            .client(region)
            .list_invitations()
            .max_results(PAGE_SIZE)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| map_err(op, e))?;
            for m in page.invitations() {
                let raw = m.administrator_id().unwrap_or_default();
                let administrator = AccountId::parse(raw).ok_or_else(|| {
                    invalid(
                        op,
                        format!("an administrator id \"{raw}\" is not 12 digits"),
                    )
                })?;
                let arn = m.graph_arn().unwrap_or_default();
                let graph = GraphArn::parse(arn)
                    .ok_or_else(|| invalid(op, format!("\"{arn}\" is not a behavior graph ARN")))?;
                let status = match m.status().map(|s| s.as_str()) {
                    Some("INVITED") => InvitationStatus::Open,
                    Some("ENABLED" | "ACCEPTED_BUT_DISABLED") => InvitationStatus::Accepted,
                    other => InvitationStatus::Other(other.unwrap_or_default().to_owned()),
                };
                out.push(Invitation {
                    administrator,
                    graph: Some(graph),
                    id: None,
                    status,
                    invited_at: time(m.invited_time()),
                });
            }
        }
        Ok(out)
    }

    async fn accept_invitation(&self, graph: &GraphArn) -> Result<(), Error> {
        self.client(&graph.region())
            .accept_invitation()
            .graph_arn(graph.as_str())
            .send()
            .await
            .map_err(|e| map_err("AcceptInvitation", e))?;
        Ok(())
    }

    async fn reject_invitation(&self, graph: &GraphArn) -> Result<(), Error> {
        self.client(&graph.region())
            .reject_invitation()
            .graph_arn(graph.as_str())
            .send()
            .await
            .map_err(|e| map_err("RejectInvitation", e))?;
        Ok(())
    }
}
