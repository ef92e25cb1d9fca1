//! The plan for each region's organization configuration of a service, where the desired state
//! declares it: who holds the organization's delegated administration, AutoEnable (and
//! Security Hub's AutoEnableStandards), Security Hub's central configuration and member limit,
//! and Detective's data-source packages, graph and member.
//!
//! What muster can set it sets: AutoEnable (UpdateOrganizationConfiguration), only as the
//! organization's administrator and never under central configuration; a declared package that
//! is not started (UpdateDatasourcePackages; never stopped: the API has no such call, and a
//! started package is billed). The rest is drift: a delegated administrator takes the
//! management account to change, and a member's data flow only the member can fix.

use std::collections::{BTreeMap, BTreeSet};

use super::{Drift, DriftKind, Observed};
use crate::desired::{AutoEnable, DesiredState, Standards};
use crate::domain::{GraphArn, Package, Region, Service, Shape, Target};
use crate::observed::{Administration, IngestState, ObservedConfiguration, OrgConfiguration};

/// An UpdateOrganizationConfiguration to send: the declared AutoEnable and, when declared,
/// AutoEnableStandards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetAutoEnable {
    pub auto_enable: bool,
    pub standards: Option<Standards>,
}

impl SetAutoEnable {
    /// As the intent records it: `AutoEnable=true`, `AutoEnableStandards=DEFAULT`.
    pub fn settings(&self) -> Vec<String> {
        let mut out = vec![format!("AutoEnable={}", self.auto_enable)];
        out.extend(
            self.standards
                .map(|s| format!("AutoEnableStandards={}", s.as_str())),
        );
        out
    }
}

/// One region's organization configuration of a service: AutoEnable (and Security Hub's
/// standards) to set, Detective's packages to start, and the drift found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigurationPlan {
    pub service: Service,
    pub region: Region,
    /// Detective: the graph the configuration belongs to.
    pub graph: Option<GraphArn>,
    /// UpdateOrganizationConfiguration, when AutoEnable or its standards differ (never under
    /// central configuration).
    pub set: Option<SetAutoEnable>,
    /// Detective: packages to start, in package order.
    pub start: Vec<Package>,
    pub drift: Vec<Drift>,
}

impl ConfigurationPlan {
    pub fn target(&self) -> Target {
        Target::Configuration(self.service, self.region.clone())
    }

    pub fn has_changes(&self) -> bool {
        self.set.is_some() || !self.start.is_empty()
    }
}

/// The drift kinds a service's configuration targets report, each exported even at 0.
pub fn configuration_kinds(service: Service) -> &'static [DriftKind] {
    match service.shape() {
        Shape::Graphs => &[
            DriftKind::DelegatedAdministratorMismatch,
            DriftKind::AutoEnableOff,
            DriftKind::AutoEnableOn,
            DriftKind::DatasourcePackageDisabled,
            DriftKind::DatasourceNotIngesting,
        ],
        Shape::Hub => &[
            DriftKind::DelegatedAdministratorMismatch,
            DriftKind::AutoEnableOff,
            DriftKind::AutoEnableOn,
            DriftKind::AutoEnableStandardsMismatch,
            DriftKind::CentralConfiguration,
            DriftKind::MemberLimitReached,
        ],
    }
}

/// Plans every observed configuration target.
pub fn plan(desired: &DesiredState, observed: &Observed<'_>) -> Vec<ConfigurationPlan> {
    (observed.configurations.iter())
        .map(|c| plan_one(desired, observed, c))
        .collect()
}

fn note(
    drift: &mut Vec<Drift>,
    kind: DriftKind,
    account: Option<crate::domain::AccountId>,
    detail: String,
) {
    drift.push(Drift {
        kind,
        account,
        subject: None,
        detail: detail.into(),
    });
}

fn plan_one(
    desired: &DesiredState,
    observed: &Observed<'_>,
    c: &ObservedConfiguration,
) -> ConfigurationPlan {
    let mut p = ConfigurationPlan {
        service: c.service,
        region: c.region.clone(),
        graph: c.graph.clone(),
        set: None,
        start: Vec::new(),
        drift: Vec::new(),
    };
    delegation(&mut p, desired, observed);
    let want = match c.service.shape() {
        Shape::Graphs => desired.detective.organization,
        Shape::Hub => desired.hub(c.service).and_then(|h| h.organization),
    };
    match (&c.organization, want) {
        (Some(Administration::NotAdministrator(why)), Some(_)) => {
            let detail = format!("muster's account is not the organization's {} administrator in {} ({why}): its organization configuration cannot be checked or set; run muster as the delegated administrator", c.service.title(), c.region);
            let kind = DriftKind::DelegatedAdministratorMismatch;
            note(&mut p.drift, kind, None, detail);
        }
        (Some(Administration::Administrator(have)), Some(want)) => auto_enable(&mut p, have, want),
        _ => {}
    }
    if let (Some(want), Some(have)) = (&desired.detective.datasource_packages, &c.packages) {
        packages(&mut p, c, want, have);
    }
    p
}

/// `delegated_administrator_mismatch` when the organization's delegated administrator of the
/// service is not the declared account (or there is none).
fn delegation(p: &mut ConfigurationPlan, desired: &DesiredState, observed: &Observed<'_>) {
    let title = p.service.title();
    let holders = observed.delegations.get(&p.service);
    let (Some(expected), Some(holders)) = (desired.delegated_administrator, holders) else {
        return;
    };
    if holders.as_slice() == [expected] {
        return;
    }
    let detail = match holders.iter().find(|h| **h != expected) {
        Some(h) => format!("the organization's {title} delegated administrator is {h}, not {expected} as declared: another account holds the organization's security data (designating one takes the management account; muster changes nothing)"),
        None => format!("the organization has no {title} delegated administrator; {expected} is declared (designating one takes the management account; muster changes nothing)"),
    };
    let kind = DriftKind::DelegatedAdministratorMismatch;
    note(&mut p.drift, kind, Some(expected), detail);
}

/// Declared packages the graph has not started (started by the plan), and declared `ENABLED`
/// members whose data for a started package does not flow.
fn packages(
    p: &mut ConfigurationPlan,
    c: &ObservedConfiguration,
    want: &BTreeSet<Package>,
    have: &BTreeMap<Package, IngestState>,
) {
    let started = |p: &&Package| have.get(*p) == Some(&IngestState::Started);
    let off: Vec<Package> = want.iter().filter(|p| !started(p)).copied().collect();
    if !off.is_empty() {
        let states: Vec<String> = (off.iter())
            .map(|p| format!("{p} is {}", state(have.get(p))))
            .collect();
        let detail = format!("{}: starting (UpdateDatasourcePackages; a started package is billed, and muster never stops one)", states.join(", "));
        note(
            &mut p.drift,
            DriftKind::DatasourcePackageDisabled,
            None,
            detail,
        );
        p.start = off;
    }
    for (account, states) in &c.members {
        let silent: Vec<String> = (want.iter().filter(started))
            .filter(|p| states.get(*p) != Some(&IngestState::Started))
            .map(|p| format!("{p} is {}", state(states.get(p))))
            .collect();
        if !silent.is_empty() {
            let detail = format!(
                "the member's data does not flow: {} (only the member account can fix it)",
                silent.join(", ")
            );
            let kind = DriftKind::DatasourceNotIngesting;
            note(&mut p.drift, kind, Some(*account), detail);
        }
    }
}

fn state(s: Option<&IngestState>) -> &str {
    s.map_or("not listed", IngestState::as_str)
}

/// AutoEnable and standards as declared against what the administrator reads.
fn auto_enable(p: &mut ConfigurationPlan, have: &OrgConfiguration, want: AutoEnable) {
    let (title, region) = (p.service.title(), p.region.clone());
    if have.configuration.central {
        let detail = format!("{title} runs under central configuration in {region}: AutoEnable is forced off; muster reports it and changes nothing (configuration policies manage it)");
        note(&mut p.drift, DriftKind::CentralConfiguration, None, detail);
    } else {
        let mut set = false;
        if have.auto_enable != want.auto_enable {
            let (kind, is) = if want.auto_enable {
                (DriftKind::AutoEnableOff, "off")
            } else {
                (DriftKind::AutoEnableOn, "on")
            };
            let detail = format!("AutoEnable is {is} in {region}, declared {}: setting it (UpdateOrganizationConfiguration)", want.auto_enable);
            note(&mut p.drift, kind, None, detail);
            set = true;
        }
        if let Some(s) = want.standards {
            if have.standards.as_deref() != Some(s.as_str()) {
                let is = have.standards.as_deref().unwrap_or("not sent");
                let detail = format!("AutoEnableStandards is {is} in {region}, declared {}: setting it (UpdateOrganizationConfiguration)", s.as_str());
                note(
                    &mut p.drift,
                    DriftKind::AutoEnableStandardsMismatch,
                    None,
                    detail,
                );
                set = true;
            }
        }
        if set {
            p.set = Some(SetAutoEnable {
                auto_enable: want.auto_enable,
                standards: want.standards,
            });
        }
    }
    if have.member_limit_reached {
        let detail = format!("the administrator has as many {title} members in {region} as the service allows: no account can be added");
        note(&mut p.drift, DriftKind::MemberLimitReached, None, detail);
    }
}
