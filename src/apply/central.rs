//! The writes for a service's central configuration, in the order AWS needs them: the finding
//! aggregator, the switch to CENTRAL, policies created and updated, associations made and
//! undone, undeclared policies deleted. Each is one call between an intent flushed before it
//! and an outcome after (`action_*` events on `securityhub-central:<home>`), counted as a
//! configuration change. A failed step stops what depends on it: no switch without an
//! aggregator, no association of a policy that could not be made.

use std::collections::{BTreeMap, BTreeSet};

use super::{ApplyReport, Change, Recorder, Step};
use crate::aws::{Apis, SdkSecurityHub};
use crate::desired::{CentralConfiguration, ConfigurationRef, DesiredState};
use crate::domain::SELF_MANAGED;
use crate::eventlog::EventLogError;
use crate::plan::{AggregatorChange, AssociationChange, CentralPlan, DriftKind};

const CREATE_AGGREGATOR: Step = Step::new("CreateFindingAggregator", Change::Configure);
const LINK: Step = Step::new("UpdateFindingAggregator", Change::Configure);
const SWITCH: Step = Step::new("UpdateOrganizationConfiguration", Change::Configure);
const CREATE_POLICY: Step = Step::new("CreateConfigurationPolicy", Change::Configure);
const UPDATE_POLICY: Step = Step::new("UpdateConfigurationPolicy", Change::Configure);
const DELETE_POLICY: Step = Step::new("DeleteConfigurationPolicy", Change::Configure);
const ASSOCIATE: Step = Step::new("StartConfigurationPolicyAssociation", Change::Configure);
const DISASSOCIATE: Step = Step::new("StartConfigurationPolicyDisassociation", Change::Configure);

/// Carries out one service's central-configuration plan.
pub(crate) async fn apply_central(
    apis: &Apis,
    rec: Recorder<'_>,
    desired: &DesiredState,
    cp: &CentralPlan,
) -> Result<ApplyReport, EventLogError> {
    let (Some(api), Some(want)) = (
        apis.central(cp.service),
        desired.hub(cp.service).and_then(|h| h.central.as_ref()),
    ) else {
        return Ok(rec.report);
    };
    let mut w = Writer {
        api,
        rec,
        cp,
        want,
        failed: BTreeSet::new(),
    };
    w.rec.expected = usize::from(cp.aggregator.is_some())
        + usize::from(cp.switch)
        + cp.create.len()
        + cp.update.len()
        + cp.associate.len()
        + cp.delete.len();
    w.rec.prune_refused(cp.refused())?;
    if w.aggregator().await? && w.switch().await? {
        let ids = w.policies().await?;
        w.associations(&ids).await?;
        w.deletes().await?;
    }
    w.resolved();
    Ok(w.rec.report)
}

struct Writer<'a, 'r> {
    api: &'a SdkSecurityHub,
    rec: Recorder<'r>,
    cp: &'a CentralPlan,
    want: &'a CentralConfiguration,
    /// Drift kinds some write meant to fix failed for: not shown resolved after the pass.
    failed: BTreeSet<DriftKind>,
}

impl Writer<'_, '_> {
    /// Runs one write between its intent and its outcome; whether it succeeded.
    async fn write<F>(
        &mut self,
        step: Step,
        settings: Vec<String>,
        fixes: (DriftKind, &str),
        call: F,
    ) -> Result<bool, EventLogError>
    where
        F: std::future::Future<Output = Result<(), crate::aws::Error>>,
    {
        let ok = self.rec.configure(step, settings, call).await?;
        let (kind, subject) = fixes;
        if ok {
            let target = self.cp.target();
            self.rec
                .report
                .resolved
                .insert((target, kind, subject.to_owned()));
        } else {
            self.failed.insert(kind);
        }
        Ok(ok)
    }

    async fn aggregator(&mut self) -> Result<bool, EventLogError> {
        let home = &self.cp.home;
        let (api, regions) = (self.api, |r: &[crate::domain::Region]| {
            r.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        });
        match &self.cp.aggregator {
            None => Ok(true),
            Some(AggregatorChange::Create(linked)) => {
                let settings = vec![
                    format!("HomeRegion={home}"),
                    format!("Regions={}", regions(linked)),
                ];
                self.write(
                    CREATE_AGGREGATOR,
                    settings,
                    (DriftKind::AggregatorMissing, ""),
                    api.create_aggregator(home, linked),
                )
                .await
            }
            Some(AggregatorChange::Link { arn, linked }) => {
                let settings = vec![format!("Regions={}", regions(linked))];
                // Linking is not needed by what follows: a failure stops nothing.
                self.write(
                    LINK,
                    settings,
                    (DriftKind::RegionNotLinked, ""),
                    api.update_aggregator(home, arn, linked),
                )
                .await?;
                Ok(true)
            }
        }
    }

    async fn switch(&mut self) -> Result<bool, EventLogError> {
        if !self.cp.switch {
            return Ok(true);
        }
        let settings = [
            "ConfigurationType=CENTRAL",
            "AutoEnable=false",
            "AutoEnableStandards=NONE",
        ]
        .map(String::from)
        .to_vec();
        let call = self.api.switch_to_central(&self.cp.home);
        self.write(
            SWITCH,
            settings,
            (DriftKind::CentralConfigurationOff, ""),
            call,
        )
        .await
    }

    /// Creates and updates policies; every declared policy's id, where it has one now.
    async fn policies(&mut self) -> Result<BTreeMap<String, String>, EventLogError> {
        let mut ids = self.cp.ids.clone();
        let home = self.cp.home.clone();
        for name in &self.cp.create {
            let Some(spec) = self.want.policies.get(name) else {
                continue;
            };
            let mut made = None;
            let call = async {
                made = Some(self.api.create_policy(&home, name, spec).await?);
                Ok(())
            };
            let settings = policy_settings(name, spec);
            let ok = self.rec.configure(CREATE_POLICY, settings, call).await?;
            match (ok, made) {
                (true, Some(id)) => {
                    ids.insert(name.clone(), id);
                    let subject = format!("policy:{name}");
                    let fixed = (self.cp.target(), DriftKind::PolicyMissing, subject);
                    self.rec.report.resolved.insert(fixed);
                }
                _ => drop(self.failed.insert(DriftKind::PolicyMissing)),
            }
        }
        for u in &self.cp.update {
            let Some(spec) = self.want.policies.get(&u.name) else {
                continue;
            };
            let mut settings = policy_settings(&u.name, spec);
            settings.push(format!("Changed={}", u.fields.join(",")));
            settings.push(format!("Governs={}", u.reach.accounts.len()));
            let call = self.api.update_policy(&home, &u.id, spec);
            self.write(
                UPDATE_POLICY,
                settings,
                (DriftKind::PolicyDiffers, &format!("policy:{}", u.name)),
                call,
            )
            .await?;
        }
        Ok(ids)
    }

    async fn associations(&mut self, ids: &BTreeMap<String, String>) -> Result<(), EventLogError> {
        let (home, root) = (self.cp.home.clone(), self.cp.root.clone());
        for c in &self.cp.associate {
            // (the configuration named, whether it is undone, the step, the drift it fixes)
            let (id, undo, step, fixes) = match &c.to {
                Some(to) => (
                    configuration_id(to, ids),
                    false,
                    ASSOCIATE,
                    DriftKind::AssociationMissing,
                ),
                None => (
                    c.from_id.clone(),
                    true,
                    DISASSOCIATE,
                    DriftKind::AssociationUndeclared,
                ),
            };
            let Some(id) = id else {
                // Its policy could not be made this pass: nothing to associate.
                self.failed.insert(fixes);
                continue;
            };
            let call = self.api.associate(&home, (&c.target, &root), &id, undo);
            let settings = association_settings(c);
            self.write(step, settings, (fixes, &c.target.subject()), call)
                .await?;
        }
        Ok(())
    }

    async fn deletes(&mut self) -> Result<(), EventLogError> {
        // A policy is deleted only once nothing is associated with it: not after a failed
        // disassociation.
        if self.failed.contains(&DriftKind::AssociationUndeclared) {
            self.failed.insert(DriftKind::PolicyUndeclared);
            return Ok(());
        }
        let home = self.cp.home.clone();
        for (name, id) in &self.cp.delete {
            let settings = vec![format!("Policy={name}"), format!("Id={id}")];
            let call = self.api.delete_policy(&home, id);
            self.write(
                DELETE_POLICY,
                settings,
                (DriftKind::PolicyUndeclared, &format!("policy:{name}")),
                call,
            )
            .await?;
        }
        Ok(())
    }

    /// The drift kinds this pass's writes fixed wholly, for the gauges right after it.
    fn resolved(&mut self) {
        let cp = self.cp;
        let mut meant = Vec::new();
        match &cp.aggregator {
            Some(AggregatorChange::Create(_)) => meant.push(DriftKind::AggregatorMissing),
            Some(AggregatorChange::Link { .. }) => meant.push(DriftKind::RegionNotLinked),
            None => {}
        }
        meant.extend(cp.switch.then_some(DriftKind::CentralConfigurationOff));
        meant.extend((!cp.create.is_empty()).then_some(DriftKind::PolicyMissing));
        meant.extend((!cp.update.is_empty()).then_some(DriftKind::PolicyDiffers));
        let (made, undone) = cp
            .associate
            .iter()
            .partition::<Vec<_>, _>(|c| c.to.is_some());
        meant.extend((!made.is_empty()).then_some(DriftKind::AssociationMissing));
        meant.extend((!undone.is_empty()).then_some(DriftKind::AssociationUndeclared));
        meant.extend((!cp.delete.is_empty()).then_some(DriftKind::PolicyUndeclared));
        // Held back by the guard: still drift after the pass.
        if !cp.held_associations().is_empty() {
            self.failed.extend([
                DriftKind::AssociationMissing,
                DriftKind::AssociationUndeclared,
            ]);
        }
        if !cp.held_updates().is_empty() {
            self.failed.insert(DriftKind::PolicyDiffers);
        }
        // Undone by a stop, or not attempted after a failed step: not resolved either.
        let interrupted = self.rec.report.interrupted;
        let target = cp.target();
        for kind in meant
            .into_iter()
            .filter(|k| !self.failed.contains(k) && !interrupted)
        {
            self.rec.report.configured.insert((target.clone(), kind));
        }
    }
}

/// A configuration's identifier: the policy's id (by name) or SELF_MANAGED_SECURITY_HUB.
fn configuration_id(c: &ConfigurationRef, ids: &BTreeMap<String, String>) -> Option<String> {
    match c {
        ConfigurationRef::Policy(name) => ids.get(name).cloned(),
        ConfigurationRef::SelfManaged => Some(SELF_MANAGED.to_owned()),
    }
}

fn policy_settings(name: &str, spec: &crate::desired::PolicySpec) -> Vec<String> {
    let mut out = vec![
        format!("Policy={name}"),
        format!("ServiceEnabled={}", spec.enabled),
    ];
    if spec.enabled {
        out.push(format!("Standards={}", spec.standards.len()));
    }
    out
}

fn association_settings(c: &AssociationChange) -> Vec<String> {
    let shown = |c: &Option<ConfigurationRef>| match c {
        Some(ConfigurationRef::Policy(n)) => n.clone(),
        Some(ConfigurationRef::SelfManaged) => SELF_MANAGED.to_owned(),
        None => "none".to_owned(),
    };
    vec![
        format!("Target={}", c.target),
        format!("From={}", shown(&c.from)),
        format!("To={}", shown(&c.to)),
        format!("Moves={}", c.reach.accounts.len()),
    ]
}
