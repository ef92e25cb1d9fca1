//! `DetectiveApi` over aws-sdk-detective: one client per region, responses checked into domain
//! types (a member whose account id is not 12 digits fails the listing rather than being acted
//! on), errors mapped to `aws::Error` with AWS's error name.

use std::sync::Arc;
use std::time::SystemTime;

use aws_sdk_detective::types::{Account, MemberDetail};
use aws_sdk_detective::Client;

use super::telemetry::{RequestMetrics, RequestSink};
use super::{
    account_in, administration, call, every_item, ids, CreateOutcome, DeleteOutcome, DetectiveApi,
    Error, MemberDatasources, Regional,
};
use crate::domain::{AccountId, Email, GraphArn, Package, Region};
use crate::observed::{
    Administration, IngestState, Invitation, InvitationStatus, Member, MemberStatus,
    OrgConfiguration,
};
use std::collections::BTreeMap;

/// Members asked for per ListMembers page: the most Detective allows.
pub const PAGE_SIZE: i32 = 200;

/// Accounts per BatchGetGraphMemberDatasources call: the most the model's
/// `AccountIdExtendedList` (1..200) allows.
pub const DATASOURCE_ACCOUNTS: usize = 200;

const SERVICE: &str = "detective";

pub struct SdkDetective {
    base: aws_config::SdkConfig,
    clients: Regional<Client>,
    metrics: Option<RequestMetrics>,
}

impl SdkDetective {
    /// Clients built from `base`, counting every attempt and retry in `metrics` when given.
    pub fn new(base: aws_config::SdkConfig, metrics: Option<Arc<dyn RequestSink>>) -> Self {
        SdkDetective {
            base,
            clients: Regional::new(),
            metrics: metrics.map(|m| RequestMetrics::new(SERVICE, m)),
        }
    }

    fn client(&self, region: &Region) -> Client {
        self.clients.get(region, |name| {
            let region = aws_sdk_detective::config::Region::new(name);
            let conf = aws_sdk_detective::config::Builder::from(&self.base).region(region);
            let conf = match &self.metrics {
                Some(m) => conf.interceptor(m.clone()),
                None => conf,
            };
            Client::from_conf(conf.build())
        })
    }
}

fn invalid(operation: &'static str, what: String) -> Error {
    Error::invalid_response(SERVICE, operation, what)
}

fn graph_arn(operation: &'static str, raw: Option<&str>) -> Result<GraphArn, Error> {
    let raw = raw.unwrap_or_default();
    GraphArn::parse(raw)
        .ok_or_else(|| invalid(operation, format!("\"{raw}\" is not a behavior graph ARN")))
}

fn time(t: Option<&aws_sdk_detective::primitives::DateTime>) -> Option<SystemTime> {
    t.and_then(|t| SystemTime::try_from(*t).ok())
}

fn member(operation: &'static str, m: &MemberDetail) -> Result<Member, Error> {
    let account_id = account_in(
        (SERVICE, operation),
        "a member's account id",
        m.account_id(),
    )?;
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

fn invitation(operation: &'static str, m: &MemberDetail) -> Result<Invitation, Error> {
    let administrator = m.administrator_id();
    let administrator = account_in((SERVICE, operation), "an administrator id", administrator)?;
    let graph = graph_arn(operation, m.graph_arn())?;
    let status = match m.status().map(|s| s.as_str()) {
        Some("INVITED") => InvitationStatus::Open,
        Some("ENABLED" | "ACCEPTED_BUT_DISABLED") => InvitationStatus::Accepted,
        other => InvitationStatus::Other(other.unwrap_or_default().to_owned()),
    };
    Ok(Invitation {
        administrator,
        graph: Some(graph),
        id: None,
        status,
        invited_at: time(m.invited_time()),
    })
}

fn unprocessed(
    operation: &'static str,
    list: &[aws_sdk_detective::types::UnprocessedAccount],
) -> Result<Vec<(AccountId, String)>, Error> {
    let what = "an unprocessed account id";
    list.iter()
        .map(|u| {
            let id = account_in((SERVICE, operation), what, u.account_id())?;
            Ok((id, u.reason().unwrap_or("no reason given").to_owned()))
        })
        .collect()
}

/// A package the SDK names, as muster knows it (`None`: one this muster does not know, left
/// out).
fn package(p: &aws_sdk_detective::types::DatasourcePackage) -> Option<Package> {
    Package::parse(p.as_str())
}

/// The latest of an ingest history's states: the one whose change came last.
fn latest(
    changes: &std::collections::HashMap<
        aws_sdk_detective::types::DatasourcePackageIngestState,
        aws_sdk_detective::types::TimestampForCollection,
    >,
) -> Option<IngestState> {
    let at = |t: &aws_sdk_detective::types::TimestampForCollection| {
        t.timestamp().map(|t| (t.secs(), t.subsec_nanos()))
    };
    changes
        .iter()
        .max_by_key(|(state, t)| (at(t), state.as_str().to_owned()))
        .map(|(state, _)| IngestState::parse(state.as_str()))
}

impl DetectiveApi for SdkDetective {
    async fn list_graphs(&self, region: &Region) -> Result<Vec<GraphArn>, Error> {
        let op = "ListGraphs";
        let pages = self.client(region).list_graphs().into_paginator().send();
        every_item((SERVICE, op), pages, |p| {
            p.graph_list()
                .iter()
                .map(|g| graph_arn(op, g.arn()))
                .collect()
        })
        .await
    }

    async fn list_members(&self, graph: &GraphArn) -> Result<Vec<Member>, Error> {
        let op = "ListMembers";
        let request = self.client(&graph.region()).list_members();
        let pages = request.graph_arn(graph.as_str()).max_results(PAGE_SIZE);
        every_item((SERVICE, op), pages.into_paginator().send(), |p| {
            p.member_details().iter().map(|m| member(op, m)).collect()
        })
        .await
    }

    async fn create_members(
        &self,
        graph: &GraphArn,
        accounts: &[(AccountId, Email)],
        message: Option<&str>,
        disable_email_notification: bool,
    ) -> Result<CreateOutcome, Error> {
        let op = "CreateMembers";
        let accounts = accounts
            .iter()
            .map(|(id, email)| {
                let account = Account::builder().account_id(id.to_string());
                let account = account.email_address(email.expose()).build();
                account.map_err(|e| invalid(op, e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let request = self.client(&graph.region()).create_members();
        let request = request
            .graph_arn(graph.as_str())
            .set_message(message.map(str::to_owned))
            .disable_email_notification(disable_email_notification)
            .set_accounts(Some(accounts));
        let out = call(SERVICE, op, request.send()).await?;
        let members = out.members().iter().map(|m| member(op, m));
        Ok(CreateOutcome {
            members: members.collect::<Result<_, _>>()?,
            unprocessed: unprocessed(op, out.unprocessed_accounts())?,
        })
    }

    async fn delete_members(
        &self,
        graph: &GraphArn,
        accounts: &[AccountId],
    ) -> Result<DeleteOutcome, Error> {
        let op = "DeleteMembers";
        let request = (self.client(&graph.region()).delete_members())
            .graph_arn(graph.as_str())
            .set_account_ids(ids(accounts));
        let out = call(SERVICE, op, request.send()).await?;
        let what = "a deleted account id";
        let deleted = out.account_ids().iter();
        let deleted = deleted.map(|raw| account_in((SERVICE, op), what, Some(raw)));
        Ok(DeleteOutcome {
            deleted: deleted.collect::<Result<_, _>>()?,
            unprocessed: unprocessed(op, out.unprocessed_accounts())?,
        })
    }

    async fn list_invitations(&self, region: &Region) -> Result<Vec<Invitation>, Error> {
        let op = "ListInvitations";
        let pages = self
            .client(region)
            .list_invitations()
            .max_results(PAGE_SIZE);
        every_item((SERVICE, op), pages.into_paginator().send(), |p| {
            p.invitations().iter().map(|m| invitation(op, m)).collect()
        })
        .await
    }

    async fn accept_invitation(&self, graph: &GraphArn) -> Result<(), Error> {
        let request = self.client(&graph.region()).accept_invitation();
        let request = request.graph_arn(graph.as_str()).send();
        call(SERVICE, "AcceptInvitation", request).await.map(drop)
    }

    async fn reject_invitation(&self, graph: &GraphArn) -> Result<(), Error> {
        let request = self.client(&graph.region()).reject_invitation();
        let request = request.graph_arn(graph.as_str()).send();
        call(SERVICE, "RejectInvitation", request).await.map(drop)
    }

    async fn organization_configuration(
        &self,
        graph: &GraphArn,
    ) -> Result<Administration<OrgConfiguration>, Error> {
        let op = "DescribeOrganizationConfiguration";
        let request = self
            .client(&graph.region())
            .describe_organization_configuration();
        let answer = call(SERVICE, op, request.graph_arn(graph.as_str()).send()).await;
        administration(answer, "AccessDeniedException", |out| OrgConfiguration {
            auto_enable: out.auto_enable(),
            ..OrgConfiguration::default()
        })
    }

    async fn set_auto_enable(&self, graph: &GraphArn, auto_enable: bool) -> Result<(), Error> {
        let request = self
            .client(&graph.region())
            .update_organization_configuration();
        let request = request
            .graph_arn(graph.as_str())
            .auto_enable(auto_enable)
            .send();
        call(SERVICE, "UpdateOrganizationConfiguration", request)
            .await
            .map(drop)
    }

    async fn datasource_packages(
        &self,
        graph: &GraphArn,
    ) -> Result<BTreeMap<Package, IngestState>, Error> {
        let op = "ListDatasourcePackages";
        let request = self.client(&graph.region()).list_datasource_packages();
        let pages = request.graph_arn(graph.as_str()).max_results(PAGE_SIZE);
        let found = every_item((SERVICE, op), pages.into_paginator().send(), |p| {
            let packages = p.datasource_packages().into_iter().flatten();
            Ok(packages
                .filter_map(|(name, detail)| {
                    let state = detail.datasource_package_ingest_state();
                    let state = IngestState::parse(state.map_or("", |s| s.as_str()));
                    package(name).map(|p| (p, state))
                })
                .collect())
        })
        .await?;
        Ok(found.into_iter().collect())
    }

    async fn start_datasource_packages(
        &self,
        graph: &GraphArn,
        packages: &[Package],
    ) -> Result<(), Error> {
        let packages = packages.iter().map(|p| p.as_str().into()).collect();
        let request = self.client(&graph.region()).update_datasource_packages();
        let request = request
            .graph_arn(graph.as_str())
            .set_datasource_packages(Some(packages));
        call(SERVICE, "UpdateDatasourcePackages", request.send())
            .await
            .map(drop)
    }

    async fn member_datasources(
        &self,
        graph: &GraphArn,
        accounts: &[AccountId],
    ) -> Result<MemberDatasources, Error> {
        let request = (self.client(&graph.region()))
            .batch_get_graph_member_datasources()
            .graph_arn(graph.as_str())
            .set_account_ids(ids(accounts));
        let op = "BatchGetGraphMemberDatasources";
        let out = call(SERVICE, op, request.send()).await?;
        let mut found = MemberDatasources::new();
        for m in out.member_datasources() {
            let id = account_in((SERVICE, op), "a member's account id", m.account_id())?;
            let history = m.datasource_package_ingest_history().into_iter().flatten();
            let states = history
                .filter_map(|(name, changes)| Some((package(name)?, latest(changes)?)))
                .collect();
            found.insert(id, states);
        }
        Ok(found)
    }
}
