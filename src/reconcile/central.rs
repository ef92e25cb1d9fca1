//! Reading central configuration for a pass: from each declaring service's home Region, the
//! organization's configuration type and status, the finding aggregator and, once the
//! organization is CENTRAL, its policies and associations; and the organization's tree, which
//! the plan needs to work out what each association change moves.

use super::observe::{Listing, Unobserved};
use super::Apis;
use crate::desired::DesiredState;
use crate::domain::{Region, Service, Target};
use crate::observed::{ObservedCentral, OrgShape};

/// The services whose section declares central configuration, with the home Region.
pub fn declared(desired: &DesiredState) -> Vec<(Service, Region)> {
    (desired.hubs.iter())
        .filter_map(|(s, h)| Some((*s, h.central.as_ref()?.home_region.clone())))
        .collect()
}

/// Central configuration of every declaring service, read from its home Region.
pub async fn observe(apis: &Apis, desired: &DesiredState) -> Listing<ObservedCentral> {
    let mut out = Listing::default();
    for (service, home) in declared(desired) {
        let target = Target::Central(service, home.clone());
        let Some(api) = apis.central(service) else {
            out.failures.push((target, Unobserved::NoClient(service)));
            continue;
        };
        match api.read_central(service, &home).await {
            Ok(found) => out.found.push(found),
            Err(e) => out.failures.push((target, e.into())),
        }
    }
    out
}

/// The organization's shape for central configuration. With an `organization` section, the
/// tree that section listed (none when that listing failed: recorded already, never tried
/// twice); without one, listed here, a failure being the organization's. Without the shape the
/// plan holds back every change whose reach it cannot work out.
pub async fn shape(
    apis: &Apis,
    desired: &DesiredState,
    listed: Option<&OrgShape>,
    concurrency: usize,
) -> (Option<OrgShape>, Option<(Target, Unobserved)>) {
    if declared(desired).is_empty() {
        return (None, None);
    }
    if desired.organization.is_some() {
        return (listed.cloned(), None);
    }
    match crate::org::fetch(&apis.organizations, concurrency).await {
        Ok(tree) => (Some(crate::org::shape_of(&tree)), None),
        Err(e) => (None, Some((Target::Organization, e.into()))),
    }
}
