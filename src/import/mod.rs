//! `muster import`: a desired state that matches what AWS has now, for a team that adopts muster
//! on a live organization. `inventory` reads (Detective's graphs and members per region,
//! Security Hub's members per region, optionally the organization), read-only; `render` (pure)
//! decides, account by account, what the desired state can say about it and writes the YAML,
//! every account with a comment saying where it was seen.
//!
//! The contract is the round trip: `import`, then `plan` against its file, changes nothing.
//! A desired state declares each account for every graph and hub it names, so an account that
//! is not a clean member of every one of them (absent somewhere; a Security Hub member left
//! `Created`, `Removed` or `Deleted`, which muster would invite or create again; no email AWS
//! returns) is written commented out, saying why, never dropped silently.

mod central;
mod render;

use futures_util::stream::{self, StreamExt};

pub use render::{render, Rendered};

use crate::aws::{self, Apis, DetectiveApi, HubApi};
use crate::domain::{Region, Service};
use crate::observed::{HubMember, ObservedGraph};
use crate::org::OrgTree;

/// What to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub regions: Vec<Region>,
    pub detective: bool,
    pub securityhub: bool,
    /// Take the organization's accounts with `organization: include: [{root: true}]` and list
    /// by hand only what that does not cover.
    pub organization: bool,
}

/// What AWS has, as read.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// Each region's behavior graph with its members; `None` where the caller has none.
    pub graphs: Vec<(Region, Option<ObservedGraph>)>,
    /// Each region's Security Hub members.
    pub hubs: Vec<(Region, Vec<HubMember>)>,
    pub organization: Option<OrgTree>,
    /// Security Hub central configuration, when the organization is under it.
    pub central: Option<crate::observed::ObservedCentral>,
}

/// A listing that failed: what, and AWS's error.
#[derive(Debug)]
pub struct Failed(pub Vec<(String, aws::Error)>);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot import: {} listing(s) failed, and a desired state from part of AWS would be wrong:",
            self.0.len()
        )?;
        for (what, e) in &self.0 {
            write!(f, "\n  {what}: {}: {}", e.code, e.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Failed {}

/// `read` for every region, `concurrency` at a time, in region order.
async fn each_region<'r, T, F, Fut>(
    regions: &'r [Region],
    concurrency: usize,
    read: F,
) -> Vec<(Region, Result<T, aws::Error>)>
where
    F: Fn(&'r Region) -> Fut,
    Fut: std::future::Future<Output = Result<T, aws::Error>>,
{
    stream::iter(regions)
        .map(|r| {
            let answer = read(r);
            async move { (r.clone(), answer.await) }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

/// What each region's listing gave, the failures named by service and region into `failed`.
fn listed<T>(
    answers: Vec<(Region, Result<T, aws::Error>)>,
    service: Service,
    failed: &mut Vec<(String, aws::Error)>,
) -> Vec<(Region, T)> {
    let mut out = Vec::new();
    for (region, answer) in answers {
        match answer {
            Ok(v) => out.push((region, v)),
            Err(e) => failed.push((format!("{} {region}", service.title()), e)),
        }
    }
    out
}

/// Reads what `request` names, `concurrency` regions at a time. Any failed listing fails the
/// import (each named): a desired state written from a partial view would plan removals or
/// invitations that are not drift.
pub async fn inventory(
    apis: &Apis,
    request: &Request,
    concurrency: usize,
) -> Result<Inventory, Failed> {
    let mut failed = Vec::new();
    let mut inventory = Inventory::default();
    let regions = &request.regions;
    if request.detective {
        let graphs = each_region(regions, concurrency, |r| graph_in(&apis.detective, r)).await;
        inventory.graphs = listed(graphs, Service::Detective, &mut failed);
    }
    if request.securityhub {
        let hub = &apis.securityhub;
        let hubs = each_region(regions, concurrency, |r| hub.list_members(r)).await;
        inventory.hubs = listed(hubs, Service::SecurityHub, &mut failed);
        match central::read(apis, regions).await {
            Ok(c) => inventory.central = c,
            Err(e) => failed.push(("Security Hub central configuration".to_owned(), e)),
        }
    }
    if request.organization {
        match crate::org::fetch(&apis.organizations, concurrency).await {
            Ok(tree) => inventory.organization = Some(tree),
            Err(e) => failed.push(("the organization".to_owned(), e)),
        }
    }
    for (region, graph) in &inventory.graphs {
        let members = graph.as_ref().map_or(0, |g| g.members.len());
        tracing::info!(%region, members, "Detective listed");
    }
    for (region, members) in &inventory.hubs {
        tracing::info!(%region, members = members.len(), "Security Hub listed");
    }
    if failed.is_empty() {
        Ok(inventory)
    } else {
        Err(Failed(failed))
    }
}

/// The caller's graph in `region` with every member; `None` when it has none there.
async fn graph_in(
    api: &crate::aws::SdkDetective,
    region: &Region,
) -> Result<Option<ObservedGraph>, aws::Error> {
    let Some(arn) = api.list_graphs(region).await?.into_iter().next() else {
        return Ok(None);
    };
    let members = api.list_members(&arn).await?;
    Ok(Some(ObservedGraph { arn, members }))
}
