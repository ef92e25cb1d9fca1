//! muster's view of AWS: one trait per service returning domain types (`Apis` holds one of
//! each), the SDK adapters behind them, and what they share: `call` (an SDK error mapped to
//! `Error`, named as AWS named it), `account_in` (every account id a response names, checked),
//! `Regional` (one client per region), `OPERATIONS`. aws-sdk types never leave this module.

pub mod detective;
pub mod limiter;
pub mod organizations;
pub mod roles;
pub mod securityhub;
pub mod telemetry;

pub use telemetry::RequestSink;

pub use detective::SdkDetective;
pub use organizations::SdkOrganizations;
pub use securityhub::SdkSecurityHub;

use std::future::Future;
use std::sync::Arc;

use std::collections::BTreeMap;

use crate::desired::Standards;
use crate::domain::{AccountId, Email, GraphArn, Package, Region, Service};
use crate::observed::{
    Administration, HubMember, IngestState, Invitation, Member, OrgAccount, OrgConfiguration,
    OrgUnit,
};

/// Each declared member's latest ingest state per package, as BatchGetGraphMemberDatasources
/// answers.
pub type MemberDatasources = BTreeMap<AccountId, BTreeMap<Package, IngestState>>;

/// Every operation muster calls, by service (the adapters' names for them): metrics starts
/// their request and retry counters at 0, so that rates and alerts see them before the first
/// failure. A test checks it against the operations the adapters name.
pub const OPERATIONS: [(&str, &str); 41] = [
    ("detective", "ListGraphs"),
    ("detective", "DescribeOrganizationConfiguration"),
    ("detective", "UpdateOrganizationConfiguration"),
    ("detective", "ListDatasourcePackages"),
    ("detective", "UpdateDatasourcePackages"),
    ("detective", "BatchGetGraphMemberDatasources"),
    ("detective", "ListMembers"),
    ("detective", "CreateMembers"),
    ("detective", "DeleteMembers"),
    ("detective", "ListInvitations"),
    ("detective", "AcceptInvitation"),
    ("detective", "RejectInvitation"),
    ("securityhub", "ListMembers"),
    ("securityhub", "CreateMembers"),
    ("securityhub", "InviteMembers"),
    ("securityhub", "DisassociateMembers"),
    ("securityhub", "DeleteMembers"),
    ("securityhub", "ListInvitations"),
    ("securityhub", "GetAdministratorAccount"),
    ("securityhub", "AcceptAdministratorInvitation"),
    ("securityhub", "DeclineInvitations"),
    ("securityhub", "DescribeOrganizationConfiguration"),
    ("securityhub", "UpdateOrganizationConfiguration"),
    ("securityhub", "ListFindingAggregators"),
    ("securityhub", "GetFindingAggregator"),
    ("securityhub", "CreateFindingAggregator"),
    ("securityhub", "UpdateFindingAggregator"),
    ("securityhub", "ListConfigurationPolicies"),
    ("securityhub", "GetConfigurationPolicy"),
    ("securityhub", "CreateConfigurationPolicy"),
    ("securityhub", "UpdateConfigurationPolicy"),
    ("securityhub", "DeleteConfigurationPolicy"),
    ("securityhub", "ListConfigurationPolicyAssociations"),
    ("securityhub", "StartConfigurationPolicyAssociation"),
    ("securityhub", "StartConfigurationPolicyDisassociation"),
    ("organizations", "ListRoots"),
    ("organizations", "ListOrganizationalUnitsForParent"),
    ("organizations", "ListAccountsForParent"),
    ("organizations", "ListDelegatedAdministrators"),
    ("sts", "AssumeRole"),
    ("sts", "GetCallerIdentity"),
];

/// How muster's AWS clients behave: the SDK has no timeouts by default. `config` checks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AwsSettings {
    pub max_attempts: u32,
    pub operation_timeout: std::time::Duration,
    pub attempt_timeout: std::time::Duration,
}

/// SDK settings from the default chain (environment, profile, web identity, IMDS) with
/// muster's timeouts and retries: the SDK has no timeouts by default.
pub async fn sdk_config(settings: &AwsSettings) -> aws_config::SdkConfig {
    if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
        tracing::warn!(endpoint = %endpoint, "AWS_ENDPOINT_URL overrides the AWS endpoint: muster is not talking to AWS itself");
    }
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_timeout(settings.operation_timeout)
                .operation_attempt_timeout(settings.attempt_timeout)
                .connect_timeout(std::time::Duration::from_secs(5))
                .build(),
        )
        .retry_config(
            aws_config::retry::RetryConfig::standard().with_max_attempts(settings.max_attempts),
        )
        .load()
        .await
}

/// What the SDK's calls answer with.
type HttpResponse = aws_smithy_runtime_api::client::orchestrator::HttpResponse;

/// Maps an SDK error to `Error`, named as AWS named it. Throttling, internal errors and calls
/// that got no answer are retryable. An answer that names no error code or message (a body
/// that is not the service's JSON, from a proxy say) keeps what the SDK knows instead: the
/// HTTP status and its error's full text; a `2xx` that cannot be read is `InvalidResponse`.
pub(crate) fn sdk_error<E>(
    service: &'static str,
    operation: &'static str,
    e: aws_smithy_runtime_api::client::result::SdkError<E, HttpResponse>,
) -> Error
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_smithy_runtime_api::client::result::SdkError;
    let no_answer = matches!(e, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_));
    let (code, message) = match &e {
        SdkError::ServiceError(s) => match (s.err().code(), s.err().message()) {
            (Some(code), Some(message)) => (code.to_owned(), message.to_owned()),
            (code, _) => {
                let status = s.raw().status().as_u16();
                let fallback = match status {
                    200..=299 => "InvalidResponse",
                    _ => "Unknown",
                };
                let text = chain(s.err());
                (
                    code.unwrap_or(fallback).to_owned(),
                    format!("HTTP {status} with no error code or message AWS gives: {text}"),
                )
            }
        },
        other => (
            "NoResponse".to_owned(),
            aws_smithy_types::error::display::DisplayErrorContext(other).to_string(),
        ),
    };
    let retryable = no_answer
        || matches!(
            code.as_str(),
            "TooManyRequestsException"
                | "ThrottlingException"
                | "LimitExceededException"
                | "InternalServerException"
                | "InternalException"
                | "ServiceException"
        );
    Error {
        service,
        operation,
        code,
        message,
        retryable,
    }
}

/// An error and its sources, each as it displays itself, joined by `: ` (no Debug dumps).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let part = s.to_string();
        if !text.ends_with(&part) {
            text = format!("{text}: {part}");
        }
        next = s.source();
    }
    text
}

/// Awaits one request (or a paginator's every item) and maps its error to `Error`.
pub(crate) async fn call<T, E>(
    service: &'static str,
    operation: &'static str,
    request: impl Future<
        Output = Result<T, aws_smithy_runtime_api::client::result::SdkError<E, HttpResponse>>,
    >,
) -> Result<T, Error>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    request.await.map_err(|e| sdk_error(service, operation, e))
}

/// Every item of every page of an SDK paginator, checked a page at a time as the pages come:
/// an item that does not check stops the listing before the next request, and a page is
/// dropped once it is read.
pub(crate) async fn every_item<P, T, E>(
    (service, operation): (&'static str, &'static str),
    mut pages: aws_smithy_async::future::pagination_stream::PaginationStream<
        Result<P, aws_smithy_runtime_api::client::result::SdkError<E, HttpResponse>>,
    >,
    mut items: impl FnMut(&P) -> Result<Vec<T>, Error>,
) -> Result<Vec<T>, Error>
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    let mut out = Vec::new();
    while let Some(page) = call(service, operation, pages.try_next()).await? {
        out.extend(items(&page)?);
    }
    Ok(out)
}

/// An account id a response names, checked: one that is not 12 digits fails the call rather
/// than being acted on. `what` says where it was, for the error ("a member's account id").
pub(crate) fn account_in(
    (service, operation): (&'static str, &'static str),
    what: &str,
    raw: Option<&str>,
) -> Result<AccountId, Error> {
    let raw = raw.unwrap_or_default();
    AccountId::parse(raw).ok_or_else(|| {
        let message = format!("{what} \"{raw}\" is not 12 digits");
        Error::invalid_response(service, operation, message)
    })
}

/// An organization-configuration read's answer: what `read` makes of the response, or, when
/// the service refused with `refusal` (the caller is not the organization's administrator),
/// that refusal as an answer rather than an error.
pub(crate) fn administration<T, R>(
    answer: Result<R, Error>,
    refusal: &str,
    read: impl FnOnce(R) -> T,
) -> Result<Administration<T>, Error> {
    match answer {
        Ok(out) => Ok(Administration::Administrator(read(out))),
        Err(e) if e.code == refusal => Ok(Administration::NotAdministrator(e.message)),
        Err(e) => Err(e),
    }
}

/// Account ids as requests take them.
pub(crate) fn ids(accounts: &[AccountId]) -> Option<Vec<String>> {
    Some(accounts.iter().map(ToString::to_string).collect())
}

/// One SDK client per region, built at its first use.
pub(crate) struct Regional<C> {
    clients: std::sync::Mutex<std::collections::HashMap<String, C>>,
}

impl<C: Clone> Regional<C> {
    pub fn new() -> Self {
        Regional {
            clients: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// The region's client, built by `build` (given the region's name) the first time.
    pub fn get(&self, region: &Region, build: impl FnOnce(String) -> C) -> C {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let name = region.as_str();
        if let Some(c) = clients.get(name) {
            return c.clone();
        }
        let c = build(name.to_owned());
        clients.insert(name.to_owned(), c.clone());
        c
    }
}

/// A failed AWS call, named as AWS named it. (`SdkError`'s own Display says only "service
/// error".)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{service} {operation} failed: {code}: {message}")]
pub struct Error {
    pub service: &'static str,
    pub operation: &'static str,
    pub code: String,
    pub message: String,
    pub retryable: bool,
}

impl Error {
    /// A response muster will not act on (an account id that is not 12 digits, say): the call
    /// is treated as failed, never half-read.
    pub fn invalid_response(service: &'static str, operation: &'static str, what: String) -> Error {
        Error {
            service,
            operation,
            code: "InvalidResponse".into(),
            message: what,
            retryable: false,
        }
    }
}

/// What CreateMembers did with a batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateOutcome {
    pub members: Vec<Member>,
    pub unprocessed: Vec<(AccountId, String)>,
}

/// What DeleteMembers did with a batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeleteOutcome {
    pub deleted: Vec<AccountId>,
    pub unprocessed: Vec<(AccountId, String)>,
}

/// Security Hub's calls that take a list of accounts and answer with those not processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HubUpdate {
    /// InviteMembers.
    Invite,
    /// DisassociateMembers (Security Hub deletes only members that are not associated).
    Disassociate,
    /// DeleteMembers.
    Delete,
    /// Member side: DeclineInvitations, of administrators' invitations.
    Decline,
}

/// The Detective operations muster uses, as the administrator of its graphs.
pub trait DetectiveApi: Send + Sync {
    /// The caller's behavior graphs in `region`.
    fn list_graphs(
        &self,
        region: &Region,
    ) -> impl Future<Output = Result<Vec<GraphArn>, Error>> + Send;
    /// Every member of `graph`, following every page (200 a page).
    fn list_members(
        &self,
        graph: &GraphArn,
    ) -> impl Future<Output = Result<Vec<Member>, Error>> + Send;
    /// One CreateMembers call (at most 50 accounts).
    fn create_members(
        &self,
        graph: &GraphArn,
        accounts: &[(AccountId, Email)],
        message: Option<&str>,
        disable_email_notification: bool,
    ) -> impl Future<Output = Result<CreateOutcome, Error>> + Send;
    /// One DeleteMembers call (at most 50 accounts).
    fn delete_members(
        &self,
        graph: &GraphArn,
        accounts: &[AccountId],
    ) -> impl Future<Output = Result<DeleteOutcome, Error>> + Send;
    /// Member side: the caller's open and accepted invitations in `region`, every page (200 a
    /// page).
    fn list_invitations(
        &self,
        region: &Region,
    ) -> impl Future<Output = Result<Vec<Invitation>, Error>> + Send;
    /// Member side: AcceptInvitation for `graph`.
    fn accept_invitation(&self, graph: &GraphArn)
        -> impl Future<Output = Result<(), Error>> + Send;
    /// Member side: RejectInvitation for `graph`.
    fn reject_invitation(&self, graph: &GraphArn)
        -> impl Future<Output = Result<(), Error>> + Send;
    /// DescribeOrganizationConfiguration: the organization graph's AutoEnable, or that the
    /// caller is not the organization's Detective administrator (AccessDeniedException).
    fn organization_configuration(
        &self,
        graph: &GraphArn,
    ) -> impl Future<Output = Result<Administration<OrgConfiguration>, Error>> + Send;
    /// UpdateOrganizationConfiguration: sets AutoEnable.
    fn set_auto_enable(
        &self,
        graph: &GraphArn,
        auto_enable: bool,
    ) -> impl Future<Output = Result<(), Error>> + Send;
    /// ListDatasourcePackages, every page: each package's state in the graph.
    fn datasource_packages(
        &self,
        graph: &GraphArn,
    ) -> impl Future<Output = Result<BTreeMap<Package, IngestState>, Error>> + Send;
    /// UpdateDatasourcePackages: starts `packages` (nothing in the API stops one).
    fn start_datasource_packages(
        &self,
        graph: &GraphArn,
        packages: &[Package],
    ) -> impl Future<Output = Result<(), Error>> + Send;
    /// One BatchGetGraphMemberDatasources call (at most `detective::DATASOURCE_ACCOUNTS`): each
    /// member's latest ingest state per package; accounts that are not members are left out.
    fn member_datasources(
        &self,
        graph: &GraphArn,
        accounts: &[AccountId],
    ) -> impl Future<Output = Result<MemberDatasources, Error>> + Send;
}

/// An answer from a `HubApi` call: boxed, so that `Apis::hub` can hand out any service's.
pub type Answer<'a, T> = futures_util::future::BoxFuture<'a, Result<T, Error>>;

/// The membership calls of a service of Security Hub's shape (`Service::HUBS`), per region, as
/// its administrator makes them.
pub trait HubApi: Send + Sync {
    /// Every member in `region`, associated or not (Security Hub: `OnlyAssociated=false`, 50 a
    /// page).
    fn list_members<'a>(&'a self, region: &'a Region) -> Answer<'a, Vec<HubMember>>;
    /// One CreateMembers call (at most 50 accounts); the accounts it did not process.
    fn create_members<'a>(
        &'a self,
        region: &'a Region,
        accounts: &'a [(AccountId, Option<Email>)],
    ) -> Answer<'a, Vec<(AccountId, String)>>;
    /// One call that takes a list of accounts (at most 50): InviteMembers,
    /// DisassociateMembers, DeleteMembers or (member side) DeclineInvitations; the accounts it
    /// did not process.
    fn update<'a>(
        &'a self,
        region: &'a Region,
        call: HubUpdate,
        accounts: &'a [AccountId],
    ) -> Answer<'a, Vec<(AccountId, String)>>;
    /// DescribeOrganizationConfiguration: the organization's configuration in `region`, or
    /// that the caller is not the organization's administrator there (InvalidAccessException).
    fn organization_configuration<'a>(
        &'a self,
        region: &'a Region,
    ) -> Answer<'a, Administration<OrgConfiguration>>;
    /// UpdateOrganizationConfiguration: AutoEnable and, when given, AutoEnableStandards.
    fn set_auto_enable<'a>(
        &'a self,
        region: &'a Region,
        auto_enable: bool,
        standards: Option<Standards>,
    ) -> Answer<'a, ()>;
}

/// Security Hub: its membership calls (`HubApi`) and, for a muster in a member account, its
/// invitations.
pub trait SecurityHubApi: HubApi {
    /// Member side: the open invitations in `region` (every page, 50 a page) and the
    /// membership the caller accepted there (GetAdministratorAccount), if any.
    fn list_invitations(
        &self,
        region: &Region,
    ) -> impl Future<Output = Result<Vec<Invitation>, Error>> + Send;
    /// Member side: AcceptAdministratorInvitation.
    fn accept_invitation(
        &self,
        region: &Region,
        administrator: AccountId,
        invitation: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send;
}

/// The Organizations reads muster uses to expand OUs into accounts.
pub trait OrganizationsApi: Send + Sync {
    /// The organization's roots (one today), every page.
    fn list_roots(&self) -> impl Future<Output = Result<Vec<OrgUnit>, Error>> + Send;
    /// The OUs directly under `parent` (a root or OU id), every page, 20 a page.
    fn list_ous(&self, parent: &str) -> impl Future<Output = Result<Vec<OrgUnit>, Error>> + Send;
    /// The accounts directly under `parent`, every page, 20 a page.
    fn list_accounts(
        &self,
        parent: &str,
    ) -> impl Future<Output = Result<Vec<OrgAccount>, Error>> + Send;
    /// The delegated administrators of `service` (ListDelegatedAdministrators filtered by its
    /// principal, every page).
    fn delegated_administrators(
        &self,
        service: Service,
    ) -> impl Future<Output = Result<Vec<AccountId>, Error>> + Send;
}

/// The three services muster talks to.
pub struct Apis {
    pub detective: SdkDetective,
    pub securityhub: SdkSecurityHub,
    pub organizations: SdkOrganizations,
}

impl Apis {
    /// The membership calls of a service of Security Hub's shape (`Service::HUBS`).
    pub fn hub(&self, service: Service) -> Option<&dyn HubApi> {
        match service {
            Service::SecurityHub => Some(&self.securityhub),
            Service::Detective => None,
        }
    }

    /// The central-configuration calls of a service that has central configuration
    /// (`Service::takes_central_configuration`).
    pub fn central(&self, service: Service) -> Option<&SdkSecurityHub> {
        match service {
            Service::SecurityHub => Some(&self.securityhub),
            Service::Detective => None,
        }
    }

    /// The SDK clients, counting their requests in `metrics` when given.
    pub fn from_sdk(config: &aws_config::SdkConfig, metrics: Option<Arc<dyn RequestSink>>) -> Apis {
        Apis {
            detective: SdkDetective::new(config.clone(), metrics.clone()),
            securityhub: SdkSecurityHub::new(config.clone(), metrics.clone()),
            organizations: SdkOrganizations::new(config, metrics),
        }
    }
}

#[cfg(test)]
mod tests {
    /// The operation names each adapter's source uses (string literals that are AWS operation
    /// names), with its service.
    fn named(service: &str, source: &str) -> std::collections::BTreeSet<(String, String)> {
        const VERBS: [&str; 14] = [
            "Assume",
            "Start",
            "BatchGet",
            "Describe",
            "Update",
            "List",
            "Get",
            "Create",
            "Delete",
            "Invite",
            "Accept",
            "Reject",
            "Decline",
            "Disassociate",
        ];
        source
            .split('"')
            .skip(1)
            .step_by(2)
            .filter(|lit| {
                lit.chars().all(|c| c.is_ascii_alphabetic())
                    && VERBS
                        .iter()
                        .any(|v| lit.starts_with(v) && lit.len() > v.len())
            })
            .map(|lit| (service.to_owned(), lit.to_owned()))
            .collect()
    }

    #[test]
    fn operations_lists_every_operation_the_adapters_call() {
        let code = |s: &'static str| s.split("#[cfg(test)]").next().unwrap();
        let mut found = named("detective", code(include_str!("detective.rs")));
        found.extend(named(
            "securityhub",
            code(include_str!("securityhub/mod.rs")),
        ));
        found.extend(named(
            "securityhub",
            code(include_str!("securityhub/central.rs")),
        ));
        found.extend(named(
            "organizations",
            code(include_str!("organizations.rs")),
        ));
        found.extend(named("sts", code(include_str!("roles.rs"))));
        let listed: std::collections::BTreeSet<(String, String)> = super::OPERATIONS
            .iter()
            .map(|(s, o)| (s.to_string(), o.to_string()))
            .collect();
        assert_eq!(listed.len(), super::OPERATIONS.len(), "no operation twice");
        assert_eq!(found, listed);
    }
}
