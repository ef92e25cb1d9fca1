//! What a pass reads before it plans: the organization (expanded into accounts, or the last
//! good expansion when it cannot be listed), every desired graph's members and every desired
//! region's Security Hub members. A target that cannot be read is reported (`Unobserved`); the
//! others go on.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use futures_util::stream::{self, StreamExt};

use super::{Apis, OrgOutcome, OrgStatus};
use crate::aws::{self, DetectiveApi, OrganizationsApi};
use crate::desired::{DesiredState, GraphRef};
use crate::domain::{AccountId, Region, Service, Shape, Target};
use crate::eventlog::{EventLog, EventLogError};
use crate::observed::{MemberStatus, ObservedConfiguration, ObservedGraph, ObservedHub};
use crate::org::{self, Expansion};
use crate::plan::{self, Plan, PlanSettings};

/// Why a target could not be observed this pass.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unobserved {
    /// AWS answered with an error (after the SDK's retries).
    #[error(transparent)]
    Aws(#[from] aws::Error),
    /// ListGraphs answered, with no behavior graph in the region.
    #[error(
        "this account has no behavior graph in {0}; enable Detective there or list the graph's arn"
    )]
    NoGraph(Region),
    /// The organization was listed, but the selection names what it does not have.
    #[error("{0} (check `organization` in the desired state)")]
    Expansion(String),
    /// The desired state names a service this muster has no client for.
    #[error("muster has no {} client; the section cannot be observed", .0.title())]
    NoClient(Service),
}

impl Unobserved {
    /// The error's name, as events record it: AWS's, or muster's own for the others.
    pub fn code(&self) -> &str {
        match self {
            Unobserved::Aws(e) => &e.code,
            Unobserved::NoGraph(_) => "NoGraph",
            Unobserved::Expansion(_) => "UnknownOrganizationalUnit",
            Unobserved::NoClient(_) => "NoClient",
        }
    }

    /// What went wrong, as events record it.
    pub fn message(&self) -> String {
        match self {
            Unobserved::Aws(e) => e.message.clone(),
            other => other.to_string(),
        }
    }
}

/// What could be read of one kind of target, and which targets could not be read.
#[derive(Debug)]
pub struct Listing<T> {
    pub found: Vec<T>,
    pub failures: Vec<(Target, Unobserved)>,
}

impl<T> Default for Listing<T> {
    fn default() -> Self {
        Listing {
            found: Vec::new(),
            failures: Vec::new(),
        }
    }
}

/// Runs `list` over `items`, `concurrency` at a time, in order: each answer is a found `T` or
/// a failure on the item's target.
pub(crate) async fn list_each<I, T, F, Fut>(
    items: Vec<I>,
    concurrency: usize,
    list: F,
) -> Listing<T>
where
    F: Fn(I) -> Fut,
    Fut: Future<Output = (Target, Result<T, Unobserved>)>,
{
    let answers: Vec<_> = stream::iter(items)
        .map(list)
        .buffered(concurrency.max(1))
        .collect()
        .await;
    let mut out = Listing::default();
    for (target, answer) in answers {
        match answer {
            Ok(found) => out.found.push(found),
            Err(e) => out.failures.push((target, e)),
        }
    }
    out
}

/// Finds each desired graph (ListGraphs for a region) and lists all its members, `concurrency`
/// regions and graphs at a time.
pub async fn observe_graphs(
    api: &crate::aws::SdkDetective,
    desired: &DesiredState,
    concurrency: usize,
) -> Listing<ObservedGraph> {
    let (mut arns, mut regions) = (Vec::new(), Vec::new());
    for g in &desired.detective.graphs {
        match g {
            GraphRef::Arn(a) => arns.push(a.clone()),
            GraphRef::Region(r) => regions.push(r.clone()),
        }
    }
    let found = list_each(regions, concurrency, |r| async move {
        let listed = match api.list_graphs(&r).await {
            Ok(found) => found
                .into_iter()
                .next()
                .ok_or(Unobserved::NoGraph(r.clone())),
            Err(e) => Err(e.into()),
        };
        (Target::GraphIn(r), listed)
    })
    .await;
    arns.extend(found.found);
    arns.sort();
    arns.dedup();
    let mut listed = list_each(arns, concurrency, |arn| async move {
        let members = api.list_members(&arn).await.map_err(Unobserved::from);
        let target = Target::Graph(arn.clone());
        (
            target,
            members.map(|members| ObservedGraph { arn, members }),
        )
    })
    .await;
    listed.failures.splice(0..0, found.failures);
    listed
}

/// Lists every member of each desired region's hub (Security Hub's, and those of every
/// service of its shape), `concurrency` regions at a time. Where the caller's relationship to
/// the organization matters (organization accounts to create, or the organization
/// configuration declared), each region's DescribeOrganizationConfiguration is read too: a
/// failed read leaves the relationship unknown (accounts created are then invited) and is
/// returned as a failure of the region's configuration target.
pub async fn observe_hubs(
    apis: &Apis,
    desired: &DesiredState,
    concurrency: usize,
) -> Listing<ObservedHub> {
    let regions = desired.hubs.iter().flat_map(|(service, settings)| {
        settings
            .regions
            .iter()
            .map(|region| (*service, region.clone()))
    });
    let mut listed = list_each(
        regions.collect(),
        concurrency,
        |(service, region)| async move {
            let target = Target::Hub(service, region.clone());
            // A failed listing is never an empty one.
            let Some(api) = apis.hub(service) else {
                return (target, Err(Unobserved::NoClient(service)));
            };
            // The relationship is read beside the listing, not after it.
            let relationship = async {
                if asks_relationship(desired, service) {
                    Some(api.organization_configuration(&region).await)
                } else {
                    None
                }
            };
            let (members, relationship) = tokio::join!(api.list_members(&region), relationship);
            let members = match members {
                Ok(members) => members,
                Err(e) => return (target, Err(e.into())),
            };
            let (mut organization, mut failed) = (None, None);
            match relationship {
                Some(Ok(o)) => organization = Some(o),
                Some(Err(e)) => failed = Some(e.into()),
                None => {}
            }
            let hub = ObservedHub {
                service,
                region,
                members,
                organization,
            };
            (target, Ok((hub, failed)))
        },
    )
    .await;
    let mut out = Listing {
        found: Vec::new(),
        failures: std::mem::take(&mut listed.failures),
    };
    for (hub, failed) in listed.found {
        if let Some(e) = failed {
            out.failures
                .push((Target::Configuration(hub.service, hub.region.clone()), e));
        }
        out.found.push(hub);
    }
    out
}

/// True when a region's hub needs DescribeOrganizationConfiguration: its organization
/// configuration is declared, or organization accounts are, which join by CreateMembers alone
/// only when muster is the organization's administrator there. (The delegated administrator
/// alone is checked by ListDelegatedAdministrators, not by this read.)
fn asks_relationship(desired: &DesiredState, service: Service) -> bool {
    let declared = desired
        .hub(service)
        .is_some_and(|h| h.organization.is_some());
    declared || desired.organization.is_some()
}

/// True when a service's configuration targets are observed: its `organization` (or for
/// Detective its data-source packages) is declared, or the delegated administrator expected.
pub(crate) fn declares_configuration(desired: &DesiredState, service: Service) -> bool {
    let own = match service.shape() {
        Shape::Graphs => {
            let d = &desired.detective;
            d.organization.is_some() || d.datasource_packages.is_some()
        }
        Shape::Hub => desired
            .hub(service)
            .is_some_and(|h| h.organization.is_some()),
    };
    own || desired.delegated_administrator.is_some()
}

/// Each observed graph's organization configuration and data sources, as far as the desired
/// state declares them: DescribeOrganizationConfiguration, ListDatasourcePackages and
/// BatchGetGraphMemberDatasources for the declared `ENABLED` members, 200 a call (the model's
/// most).
pub async fn observe_graph_configurations(
    api: &crate::aws::SdkDetective,
    desired: &DesiredState,
    graphs: &[ObservedGraph],
    concurrency: usize,
) -> Listing<ObservedConfiguration> {
    if !declares_configuration(desired, Service::Detective) {
        return Listing::default();
    }
    list_each(graphs.iter().collect(), concurrency, |g| async move {
        let region = g.arn.region();
        let target = Target::Configuration(Service::Detective, region.clone());
        let read = async {
            let d = &desired.detective;
            let mut c = ObservedConfiguration {
                service: Service::Detective,
                region,
                graph: Some(g.arn.clone()),
                organization: None,
                packages: None,
                members: Default::default(),
            };
            if d.organization.is_some() {
                c.organization = Some(api.organization_configuration(&g.arn).await?);
            }
            if d.datasource_packages.is_some() {
                c.packages = Some(api.datasource_packages(&g.arn).await?);
                let mut enabled: Vec<AccountId> = (g.members.iter())
                    .filter(|m| m.status == MemberStatus::Enabled)
                    .map(|m| m.account_id)
                    .filter(|a| desired.accounts.contains_key(a))
                    .collect();
                enabled.sort();
                enabled.dedup();
                for chunk in enabled.chunks(aws::detective::DATASOURCE_ACCOUNTS) {
                    c.members
                        .extend(api.member_datasources(&g.arn, chunk).await?);
                }
            }
            Ok::<_, aws::Error>(c)
        };
        (target, read.await.map_err(Unobserved::from))
    })
    .await
}

/// The desired state with the organization's accounts merged in. Lists the organization once;
/// when that fails, uses the last good expansion saved in `log` (if any) and blocks prune.
pub async fn resolve_desired(
    api: &crate::aws::SdkOrganizations,
    log: Option<&EventLog>,
    desired: &DesiredState,
    concurrency: usize,
) -> Result<(DesiredState, OrgOutcome), EventLogError> {
    let Some(settings) = &desired.organization else {
        return Ok((desired.clone(), OrgOutcome::default()));
    };
    let key = org::selection_key(settings);
    let mut shape = None;
    let listed = match org::fetch(api, concurrency).await {
        Ok(tree) => {
            shape = Some(org::shape_of(&tree));
            org::expansion(&tree, settings, SystemTime::now())
                .map_err(|e| Unobserved::Expansion(e.to_string()))
        }
        Err(e) => Err(e.into()),
    };
    let error = match listed {
        Ok(exp) => {
            for id in &exp.without_email {
                tracing::warn!(account = %id, "Organizations lists no usable email for an account the organization section takes: left out");
            }
            if let Some(log) = log {
                log.save_expansion(&exp.to_saved(key))?;
            }
            tracing::info!(
                accounts = exp.accounts.len(),
                organization = exp.organization.len(),
                "listed the organization"
            );
            let out = OrgOutcome {
                status: OrgStatus::Fresh,
                organization: Some(exp.organization.clone()),
                accounts: exp.accounts.len(),
                prune_blocked: None,
                shape,
            };
            return Ok((org::merge(desired, &exp), out));
        }
        Err(error) => error,
    };
    let last = match log {
        Some(log) => log.expansion()?.filter(|s| s.selection == key),
        None => None,
    }
    .map(|s| Expansion::from_saved(&s));
    let effective = match &last {
        Some(exp) => org::merge(desired, exp),
        None => desired.clone(),
    };
    let why = match &last {
        Some(_) => format!("the organization could not be listed ({}); the accounts are those of the last good listing, and prune waits until it can be listed again", error.code()),
        None => format!("the organization could not be listed ({}) and no earlier listing is kept: only hand-listed accounts are known, and prune waits", error.code()),
    };
    tracing::warn!(code = %error.code(), error = %error.message(), kept = last.as_ref().map_or(0, |e| e.accounts.len()), "{why}");
    let out = OrgOutcome {
        organization: last.as_ref().map(|e| e.organization.clone()),
        accounts: last.as_ref().map_or(0, |e| e.accounts.len()),
        status: OrgStatus::Stale {
            error,
            last_listed: last.map(|e| e.listed_at),
        },
        prune_blocked: Some(why),
        shape: None,
    };
    Ok((effective, out))
}

/// The targets read at the start of a pass, each as AWS answered: what the plan compares the
/// desired state with, and what the pass records as listed.
#[derive(Debug, Default)]
pub struct Found {
    pub graphs: Vec<ObservedGraph>,
    /// Security Hub members, every status (`Deleted` ones too).
    pub hubs: Vec<ObservedHub>,
    /// The organization configuration targets whose every read answered.
    pub configurations: Vec<ObservedConfiguration>,
    /// Central configuration, read from each declaring service's home Region.
    pub central: Vec<crate::observed::ObservedCentral>,
}

/// Everything a plan needs, read from AWS: the organization and every target.
#[derive(Debug)]
pub struct Survey {
    /// The desired state with the organization's accounts merged in.
    pub desired: DesiredState,
    pub org: OrgOutcome,
    pub found: Found,
    /// Targets that could not be read: the organization first, then graphs, hubs and
    /// configurations.
    pub failures: Vec<(Target, Unobserved)>,
    pub plan: Plan,
    /// How long listing the organization took (beside the other listings).
    pub organization_took: Duration,
}

/// What the organization and Detective read for a survey: the effective desired state and
/// how the organization was found (with how long its listing took), the graphs, and their
/// configurations.
type OrganizationAndGraphs = (
    DesiredState,
    OrgOutcome,
    Duration,
    Listing<ObservedGraph>,
    Listing<ObservedConfiguration>,
);

/// The organization listed beside the graphs; then the graphs' configurations, which read the
/// declared (organization included) members.
async fn organization_and_graphs(
    apis: &Apis,
    log: Option<&EventLog>,
    desired: &DesiredState,
    concurrency: usize,
) -> Result<OrganizationAndGraphs, EventLogError> {
    let organization = async {
        let start = Instant::now();
        let resolved = if desired.organization.is_some() {
            Box::pin(resolve_desired(
                &apis.organizations,
                log,
                desired,
                concurrency,
            ))
            .await
        } else {
            Ok((desired.clone(), OrgOutcome::default()))
        };
        (resolved, start.elapsed())
    };
    let ((resolved, took), graphs) = tokio::join!(
        organization,
        observe_graphs(&apis.detective, desired, concurrency)
    );
    let (effective, org) = resolved?;
    let found = &graphs.found;
    let configurations =
        observe_graph_configurations(&apis.detective, &effective, found, concurrency).await;
    Ok((effective, org, took, graphs, configurations))
}

/// Reads what AWS has and plans against it (no writes; `log` only supplies the last good
/// organization listing and keeps the new one).
pub async fn survey(
    apis: &Apis,
    log: Option<&EventLog>,
    desired: &DesiredState,
    settings: &PlanSettings,
    concurrency: usize,
) -> Result<Survey, EventLogError> {
    // Nothing listed depends on the organization's accounts but the Detective data-source
    // reads of declared members: the organization is listed beside every graph, hub and
    // delegation, and only those reads wait for it. What a desired state does not use is not
    // run: the optional services' futures are boxed, so they cost nothing (not even room in
    // this future) when their sections are absent.
    let detective = Box::pin(organization_and_graphs(apis, log, desired, concurrency));
    let hubs = async {
        if !desired.hubs.is_empty() {
            Box::pin(observe_hubs(apis, desired, concurrency)).await
        } else {
            Listing::default()
        }
    };
    let delegations = Box::pin(delegations(&apis.organizations, desired));
    // Central configuration is declared by hand, not taken from the organization: read beside
    // the rest.
    let central = async {
        match super::central::declared(desired).is_empty() {
            true => Listing::default(),
            false => Box::pin(super::central::observe(apis, desired)).await,
        }
    };
    let (detective, hubs, delegations, central) =
        tokio::join!(detective, hubs, delegations, central);
    let (effective, org, organization_took, graphs, detective_configurations) = detective?;
    let mut failures = Vec::new();
    if let OrgStatus::Stale { error, .. } = &org.status {
        failures.push((Target::Organization, error.clone()));
    }
    failures.extend(graphs.failures);
    failures.extend(hubs.failures);
    failures.extend(detective_configurations.failures);
    let mut configurations = detective_configurations.found;
    configurations.extend(hub_configurations(&effective, &hubs.found, &failures));
    let configurations = delegated(configurations, &delegations, &mut failures);
    failures.extend(central.failures);
    let listed = org.shape.as_ref();
    let shape = super::central::shape(apis, &effective, listed, concurrency);
    let (shape, unlisted) = Box::pin(shape).await;
    failures.extend(unlisted);
    let organization: Option<&BTreeSet<_>> = org.organization.as_ref();
    let observed = plan::Observed {
        graphs: &graphs.found,
        hubs: &hubs.found,
        organization,
        prune_blocked: org.prune_blocked.as_deref(),
        delegations: &delegations.found,
        configurations: &configurations,
        central: &central.found,
        shape: shape.as_ref(),
        now: SystemTime::now(),
    };
    let plan = plan::plan(&effective, &observed, settings);
    Ok(Survey {
        desired: effective,
        org,
        found: Found {
            graphs: graphs.found,
            hubs: hubs.found,
            configurations,
            central: central.found,
        },
        failures,
        plan,
        organization_took,
    })
}

/// The configuration targets of services whose delegated administrators were listed. For a
/// service whose could not be, no configuration target is observed: each is a failure, and
/// its drift stays as recorded.
fn delegated(
    configurations: Vec<ObservedConfiguration>,
    delegations: &Delegations,
    failures: &mut Vec<(Target, Unobserved)>,
) -> Vec<ObservedConfiguration> {
    let mut kept = configurations;
    for (service, e) in &delegations.failures {
        let (of, rest): (Vec<_>, Vec<_>) = kept.into_iter().partition(|c| c.service == *service);
        kept = rest;
        failures.extend(of.into_iter().map(|c| (c.target(), e.clone())));
    }
    kept
}

/// The delegated administrators of every service the desired state uses, where it declares
/// the one expected (ListDelegatedAdministrators, one listing per service).
struct Delegations {
    found: BTreeMap<Service, Vec<AccountId>>,
    failures: Vec<(Service, Unobserved)>,
}

async fn delegations(api: &crate::aws::SdkOrganizations, desired: &DesiredState) -> Delegations {
    let mut out = Delegations {
        found: BTreeMap::new(),
        failures: Vec::new(),
    };
    if desired.delegated_administrator.is_none() {
        return out;
    }
    let detective = (!desired.detective.graphs.is_empty()).then_some(Service::Detective);
    let services = detective.into_iter().chain(desired.hubs.keys().copied());
    for service in services {
        match api.delegated_administrators(service).await {
            Ok(found) => {
                out.found.insert(service, found);
            }
            Err(e) => out.failures.push((service, e.into())),
        }
    }
    out
}

/// Each observed hub's configuration target, where it is declared and its read answered.
fn hub_configurations(
    desired: &DesiredState,
    hubs: &[ObservedHub],
    failures: &[(Target, Unobserved)],
) -> Vec<ObservedConfiguration> {
    (hubs.iter())
        .filter(|h| declares_configuration(desired, h.service))
        .map(|h| ObservedConfiguration {
            service: h.service,
            region: h.region.clone(),
            graph: None,
            organization: h.organization.clone(),
            packages: None,
            members: Default::default(),
        })
        .filter(|c| !failures.iter().any(|(t, _)| *t == c.target()))
        .collect()
}
