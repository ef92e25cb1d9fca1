//! The plan for Security Hub central configuration, where the desired state declares it: the
//! finding aggregator (made, declared Regions linked; never unlinked), the switch to CENTRAL
//! (never back to LOCAL), policies by name, and the direct associations of the root, OUs and
//! accounts. Each change carries the accounts whose effective configuration it moves, worked
//! out through the OU tree; changes that would turn Security Hub off, or remove a standard, in
//! more accounts than `max_removals_per_pass` are refused, and the rest goes ahead.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::{Drift, DriftKind, Observed, PlanSettings};
use crate::desired::{CentralConfiguration, ConfigurationRef, DesiredState, PolicySpec};
use crate::domain::{AccountId, AssociationTarget, Region, Service, Target, SELF_MANAGED};
use crate::observed::{Administration, ObservedCentral, ObservedPolicy, OrgShape};

/// The drift kinds a central-configuration target reports, each exported even at 0.
pub const CENTRAL_KINDS: [DriftKind; 15] = [
    DriftKind::AggregatorMissing,
    DriftKind::RegionNotLinked,
    DriftKind::RegionLinkedUndeclared,
    DriftKind::CentralConfigurationOff,
    DriftKind::CentralConfigurationBlocked,
    DriftKind::CentralConfigurationFailed,
    DriftKind::CentralConfigurationDisabled,
    DriftKind::PolicyMissing,
    DriftKind::PolicyDiffers,
    DriftKind::PolicyUndeclared,
    DriftKind::PolicyNameAmbiguous,
    DriftKind::AssociationMissing,
    DriftKind::AssociationUndeclared,
    DriftKind::AssociationFailed,
    DriftKind::AssociationPendingTooLong,
];

/// What to do about the finding aggregator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AggregatorChange {
    /// CreateFindingAggregator in the home Region, linking these.
    Create(Vec<Region>),
    /// UpdateFindingAggregator: these linked (those linked before and the declared ones).
    Link { arn: String, linked: Vec<Region> },
}

/// One association change and the accounts whose effective configuration it moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssociationChange {
    pub target: AssociationTarget,
    /// What the target applied before (a policy name, self-managed, or nothing).
    pub from: Option<ConfigurationRef>,
    /// `None`: the direct association is undone (prune).
    pub to: Option<ConfigurationRef>,
    /// The configuration id applied before, as observed (what a disassociation names).
    pub from_id: Option<String>,
    /// The accounts whose effective configuration changes.
    pub reach: Reach,
}

/// A policy update and the accounts it governs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyUpdate {
    pub name: String,
    pub id: String,
    /// The fields that differ: `description`, `enabled`, `standards`, `controls`, `parameters`.
    pub fields: Vec<&'static str>,
    /// The accounts the policy governs.
    pub reach: Reach,
}

/// The accounts a change reaches, in account order, and of those the ones it reduces: turns
/// Security Hub off in, or takes a standard from. The guard counts the reduced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reach {
    pub accounts: Vec<AccountId>,
    pub reduces: Vec<AccountId>,
}

impl Reach {
    fn add(&mut self, account: AccountId, reduces: bool) {
        self.accounts.push(account);
        if reduces {
            self.reduces.push(account);
        }
    }
}

/// A service's central configuration, from its home Region: the aggregator, the switch to
/// `CENTRAL`, policies to create, update and delete, and associations to change, with the
/// guard's verdict and the drift found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CentralPlan {
    pub service: Service,
    pub home: Region,
    pub aggregator: Option<AggregatorChange>,
    /// UpdateOrganizationConfiguration to ConfigurationType `CENTRAL`.
    pub switch: bool,
    /// Policies to create, by name.
    pub create: Vec<String>,
    pub update: Vec<PolicyUpdate>,
    pub associate: Vec<AssociationChange>,
    /// Undeclared policies to delete (prune): (name, id).
    pub delete: Vec<(String, String)>,
    /// What the guard refused, if anything.
    pub held: Option<Held>,
    pub drift: Vec<Drift>,
    /// Policy ids by declared name, as observed.
    pub ids: BTreeMap<String, String>,
    /// The organization's root id, for associations with the root.
    pub root: String,
}

/// The association changes and policy updates the guard held back, and why: shown beside the
/// rest, left for a later pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub why: String,
    pub associate: Vec<AssociationChange>,
    pub update: Vec<PolicyUpdate>,
}

impl CentralPlan {
    /// Why the guard refused changes, if it did.
    pub fn refused(&self) -> Option<&str> {
        self.held.as_ref().map(|h| h.why.as_str())
    }

    /// The association changes the guard held back.
    pub fn held_associations(&self) -> &[AssociationChange] {
        self.held.as_ref().map_or(&[], |h| &h.associate)
    }

    /// The policy updates the guard held back.
    pub fn held_updates(&self) -> &[PolicyUpdate] {
        self.held.as_ref().map_or(&[], |h| &h.update)
    }

    pub fn target(&self) -> Target {
        Target::Central(self.service, self.home.clone())
    }

    pub fn has_changes(&self) -> bool {
        self.aggregator.is_some()
            || self.switch
            || !self.create.is_empty()
            || !self.update.is_empty()
            || !self.associate.is_empty()
            || !self.delete.is_empty()
    }
}

/// Plans central configuration for every service whose section declares it and was observed.
pub fn plan(
    desired: &DesiredState,
    observed: &Observed<'_>,
    settings: &PlanSettings,
) -> Vec<CentralPlan> {
    (observed.central.iter())
        .filter_map(|o| {
            let hub = desired.hub(o.service)?;
            let c = hub.central.as_ref()?;
            Some(plan_one(o.service, c, &hub.regions, o, observed, settings))
        })
        .collect()
}

struct Cx<'a> {
    p: CentralPlan,
    want: &'a CentralConfiguration,
    seen: &'a ObservedCentral,
    shape: Option<&'a OrgShape>,
    /// Declared names more than one policy has: not acted on.
    ambiguous: BTreeSet<String>,
}

fn note(drift: &mut Vec<Drift>, kind: DriftKind, subject: Option<String>, detail: String) {
    let account = subject.as_deref().and_then(AccountId::parse);
    let subject = subject.filter(|_| account.is_none());
    drift.push(Drift {
        kind,
        account,
        subject,
        detail: detail.into(),
    });
}

fn plan_one(
    service: Service,
    want: &CentralConfiguration,
    regions: &[Region],
    seen: &ObservedCentral,
    observed: &Observed<'_>,
    settings: &PlanSettings,
) -> CentralPlan {
    let p = CentralPlan {
        service,
        home: want.home_region.clone(),
        aggregator: None,
        switch: false,
        create: Vec::new(),
        update: Vec::new(),
        associate: Vec::new(),
        delete: Vec::new(),
        held: None,
        drift: Vec::new(),
        ids: BTreeMap::new(),
        root: observed.shape.map(|s| s.root.clone()).unwrap_or_default(),
    };
    let mut cx = Cx {
        p,
        want,
        seen,
        shape: observed.shape,
        ambiguous: BTreeSet::new(),
    };
    if !cx.preconditions(regions) {
        return cx.p;
    }
    cx.policies();
    cx.associations(observed, settings);
    cx.guard(settings);
    cx.p
}

impl Cx<'_> {
    fn drift(&mut self, kind: DriftKind, subject: Option<String>, detail: String) {
        note(&mut self.p.drift, kind, subject, detail);
    }

    /// The aggregator, the switch and what blocks them; whether policies and associations can
    /// be planned this pass.
    fn preconditions(&mut self, regions: &[Region]) -> bool {
        let home = self.want.home_region.clone();
        let status = match &self.seen.organization {
            Administration::NotAdministrator(why) => {
                let d = format!("muster's account is not the organization's Security Hub delegated administrator in {home} ({why}): central configuration is managed only by it, from the home Region; run muster as the delegated administrator (the management account designates it)");
                self.drift(DriftKind::CentralConfigurationBlocked, None, d);
                return false;
            }
            Administration::Administrator(s) => s.clone(),
        };
        let linked: Vec<Region> = regions.iter().filter(|r| **r != home).cloned().collect();
        match &self.seen.aggregator {
            None => {
                let d = format!("no finding aggregator: {home} is not a home Region yet; creating one there, linking {}", names(&linked));
                self.drift(DriftKind::AggregatorMissing, None, d);
                self.p.aggregator = Some(AggregatorChange::Create(linked));
            }
            Some(a) if a.home != home => {
                let d = format!("the finding aggregator's home Region is {}, but {home} is declared: central configuration is managed from the aggregator's home Region (change home_region to {}, or move the aggregator by hand; muster never moves it)", a.home, a.home);
                self.drift(DriftKind::CentralConfigurationBlocked, None, d);
                return false;
            }
            Some(a) => {
                let missing: Vec<Region> = linked.iter().filter(|r| !a.links(r)).cloned().collect();
                for r in &missing {
                    let d = format!(
                        "{r} is declared but not linked to the home Region {home}: linking it"
                    );
                    self.drift(DriftKind::RegionNotLinked, Some(r.to_string()), d);
                }
                let extra = a
                    .regions
                    .iter()
                    .filter(|r| a.links(r) && !regions.contains(r));
                for r in extra.cloned().collect::<Vec<_>>() {
                    let d = format!("{r} is linked to the home Region but not declared: policies take effect there too (muster never unlinks a Region)");
                    self.drift(DriftKind::RegionLinkedUndeclared, Some(r.to_string()), d);
                }
                if !missing.is_empty() {
                    let mut all: BTreeSet<Region> =
                        (a.regions.iter()).filter(|r| a.links(r)).cloned().collect();
                    all.extend(missing);
                    let arn = a.arn.clone();
                    self.p.aggregator = Some(AggregatorChange::Link {
                        arn,
                        linked: all.into_iter().collect(),
                    });
                }
            }
        }
        match status.status.as_deref() {
            Some("DISABLED") => {
                let why = status.message.clone().unwrap_or_default();
                let d = format!("central configuration is DISABLED: the organization is managed by Security Hub CSPM policies in Organizations (SECURITYHUB_CSPM_POLICY; {why}); muster writes no central configuration: change those policies in Organizations, or remove them to manage it here");
                self.drift(DriftKind::CentralConfigurationDisabled, None, d);
                self.p.aggregator = None;
                return false;
            }
            Some("FAILED") if status.central => {
                let why = status
                    .message
                    .clone()
                    .unwrap_or_else(|| "no message".into());
                let d = format!("central configuration FAILED: {why}");
                self.drift(DriftKind::CentralConfigurationFailed, None, d);
                return false;
            }
            _ => {}
        }
        if !status.central {
            let d = format!("the organization uses local configuration: switching it to CENTRAL from {home} (AutoEnable off, standards NONE; muster never switches back)");
            self.drift(DriftKind::CentralConfigurationOff, None, d);
            self.p.switch = true;
        }
        true
    }

    fn policies(&mut self) {
        let mut by_name: BTreeMap<&str, Vec<&ObservedPolicy>> = BTreeMap::new();
        for p in &self.seen.policies {
            by_name.entry(p.name.as_str()).or_default().push(p);
        }
        for (name, spec) in &self.want.policies {
            match by_name.get(name.as_str()).map(Vec::as_slice) {
                None | Some([]) => {
                    let d = format!("policy {name} does not exist: creating it");
                    self.drift(DriftKind::PolicyMissing, Some(format!("policy:{name}")), d);
                    self.p.create.push(name.clone());
                }
                Some([one]) => {
                    self.p.ids.insert(name.clone(), one.id.clone());
                    let fields = differences(spec, one);
                    if !fields.is_empty() {
                        let d = format!(
                            "policy {name} differs in {}: updating it",
                            fields.join(", ")
                        );
                        self.drift(DriftKind::PolicyDiffers, Some(format!("policy:{name}")), d);
                        let id = one.id.clone();
                        let update = PolicyUpdate {
                            name: name.clone(),
                            id,
                            fields,
                            reach: Reach::default(),
                        };
                        self.p.update.push(update);
                    }
                }
                Some(many) => {
                    let ids: Vec<&str> = many.iter().map(|p| p.id.as_str()).collect();
                    let d = format!("{} policies are named {name} ({}): muster does not guess which is meant; rename or delete all but one", many.len(), ids.join(", "));
                    self.drift(
                        DriftKind::PolicyNameAmbiguous,
                        Some(format!("policy:{name}")),
                        d,
                    );
                    self.ambiguous.insert(name.clone());
                }
            }
        }
    }

    /// The configuration an observed id names, in the desired state's terms.
    fn config_of(&self, id: &str) -> Option<ConfigurationRef> {
        if id == SELF_MANAGED {
            return Some(ConfigurationRef::SelfManaged);
        }
        let p = self.seen.policies.iter().find(|p| p.id == id)?;
        Some(ConfigurationRef::Policy(p.name.clone()))
    }

    fn associations(&mut self, observed: &Observed<'_>, settings: &PlanSettings) {
        let applied: BTreeMap<AssociationTarget, String> = (self.seen.associations.iter())
            .filter(|a| a.applied)
            .map(|a| (a.target.clone(), a.configuration.clone()))
            .collect();
        for a in &self.want.associations {
            let have = applied.get(&a.target);
            let have_config = have.and_then(|id| self.config_of(id));
            if have_config.as_ref() == Some(&a.configuration) {
                continue;
            }
            let now = have_config.as_ref().map_or_else(
                || "nothing applied directly".to_owned(),
                |c| format!("{} applied", shown(c)),
            );
            let blocked = matches!(&a.configuration, ConfigurationRef::Policy(n) if self.ambiguous.contains(n));
            let action = if blocked {
                "waiting until one policy has that name"
            } else {
                "associating it"
            };
            let d = format!(
                "{}: {now}; {} is declared: {action}",
                a.target,
                shown(&a.configuration)
            );
            self.drift(DriftKind::AssociationMissing, Some(a.target.subject()), d);
            if blocked {
                continue;
            }
            let change = AssociationChange {
                target: a.target.clone(),
                from: have_config,
                from_id: have.cloned(),
                to: Some(a.configuration.clone()),
                reach: Reach::default(),
            };
            self.p.associate.push(change);
        }
        let declared: BTreeSet<&AssociationTarget> =
            self.want.associations.iter().map(|a| &a.target).collect();
        for (target, id) in &applied {
            if declared.contains(target) {
                continue;
            }
            let config = self.config_of(id);
            let what = config.as_ref().map_or_else(|| id.clone(), shown);
            let prune = self.want.prune;
            let d = format!(
                "{target} applies {what}, which the desired state does not declare{}",
                if prune {
                    ": disassociating it (prune)"
                } else {
                    " (prune is off)"
                }
            );
            self.drift(DriftKind::AssociationUndeclared, Some(target.subject()), d);
            if prune {
                let change = AssociationChange {
                    target: target.clone(),
                    from: config,
                    from_id: Some(id.clone()),
                    to: None,
                    reach: Reach::default(),
                };
                self.p.associate.push(change);
            }
        }
        self.undeclared_policies(&applied);
        self.statuses(observed, settings.association_pending_after);
    }

    /// Policies nobody declares: drift, deleted with prune once nothing applies them.
    fn undeclared_policies(&mut self, applied: &BTreeMap<AssociationTarget, String>) {
        let undone: BTreeSet<AssociationTarget> = (self.p.associate.iter())
            .map(|c| c.target.clone())
            .collect();
        for p in &self.seen.policies {
            if self.want.policies.contains_key(&p.name) {
                continue;
            }
            let still = applied
                .iter()
                .any(|(t, id)| *id == p.id && !undone.contains(t));
            let (prune, name) = (self.want.prune, p.name.clone());
            let action = match (prune, still) {
                (true, false) => ": deleting it (prune)",
                (true, true) => " (prune deletes it once nothing is associated with it)",
                (false, _) => " (prune is off)",
            };
            let d = format!("policy {name} is not declared{action}");
            self.drift(
                DriftKind::PolicyUndeclared,
                Some(format!("policy:{name}")),
                d,
            );
            if prune && !still {
                self.p.delete.push((name, p.id.clone()));
            }
        }
    }

    /// FAILED associations, and PENDING ones past `pending_after`.
    fn statuses(&mut self, observed: &Observed<'_>, pending_after: Duration) {
        let mut found = Vec::new();
        for a in &self.seen.associations {
            match a.status.as_str() {
                "FAILED" => {
                    let why = a.message.clone().unwrap_or_else(|| "no message".into());
                    found.push((
                        DriftKind::AssociationFailed,
                        a.target.subject(),
                        format!("the association of {} failed: {why}", a.target),
                    ));
                }
                "PENDING" => {
                    let waited = a
                        .updated
                        .and_then(|u| observed.now.duration_since(u).ok())
                        .unwrap_or_default();
                    if waited > pending_after {
                        let d = format!(
                            "the association of {} has been PENDING for {} minutes",
                            a.target,
                            waited.as_secs() / 60
                        );
                        found.push((DriftKind::AssociationPendingTooLong, a.target.subject(), d));
                    }
                }
                _ => {}
            }
        }
        for (kind, s, d) in found {
            self.drift(kind, Some(s), d);
        }
    }

    /// Works out what each change moves, and refuses those that reduce Security Hub in more
    /// accounts than `max_removals_per_pass`.
    fn guard(&mut self, settings: &PlanSettings) {
        let Some(shape) = self.shape else {
            if !self.p.associate.is_empty() || !self.p.update.is_empty() {
                let why = "the organization's tree could not be listed, so what these changes would move cannot be worked out: association changes and policy updates wait for the next pass".to_owned();
                self.p.held = Some(Held {
                    why,
                    associate: std::mem::take(&mut self.p.associate),
                    update: std::mem::take(&mut self.p.update),
                });
            }
            return;
        };
        let before: BTreeMap<AssociationTarget, ConfigurationRef> = (self.seen.associations.iter())
            .filter(|a| a.applied)
            .filter_map(|a| Some((a.target.clone(), self.config_of(&a.configuration)?)))
            .collect();
        let effect_before = |c: Option<&ConfigurationRef>| {
            effect(c, Some((true, None)), |n| {
                self.seen
                    .policies
                    .iter()
                    .find(|p| p.name == *n)
                    .map(|p| (p.enabled, p.standards.clone()))
            })
        };
        let effect_after = |c: Option<&ConfigurationRef>| {
            effect(c, None, |n| {
                self.want
                    .policies
                    .get(n)
                    .map(|s: &PolicySpec| (s.enabled, s.standards.clone()))
            })
        };
        for change in &mut self.p.associate {
            let mut after = before.clone();
            match &change.to {
                Some(c) => drop(after.insert(change.target.clone(), c.clone())),
                None => drop(after.remove(&change.target)),
            }
            for account in shape
                .accounts
                .iter()
                .filter(|a| shape.is_under(&AssociationTarget::Account(**a), &change.target))
            {
                let (b, a) = (
                    governing(shape, &before, account),
                    governing(shape, &after, account),
                );
                if b != a {
                    let reduced = reduces(&effect_before(b), &effect_after(a));
                    change.reach.add(*account, reduced);
                }
            }
        }
        for update in &mut self.p.update {
            let config = ConfigurationRef::Policy(update.name.clone());
            for account in &shape.accounts {
                if governing(shape, &before, account) == Some(&config) {
                    let reduced =
                        reduces(&effect_before(Some(&config)), &effect_after(Some(&config)));
                    update.reach.add(*account, reduced);
                }
            }
        }
        self.hold_reducing(settings.max_removals_per_pass);
    }

    /// Holds back every change that reduces Security Hub somewhere when, together, they would
    /// reduce it in more than `max` accounts.
    fn hold_reducing(&mut self, max: usize) {
        let reduced: BTreeSet<AccountId> = (self.p.associate.iter().flat_map(|c| &c.reach.reduces))
            .chain(self.p.update.iter().flat_map(|u| &u.reach.reduces))
            .copied()
            .collect();
        if reduced.len() <= max {
            return;
        }
        let why = format!("these changes would turn Security Hub off, or remove a standard, in {} accounts; max_removals_per_pass allows {max}: refused (the other changes go ahead; raise the limit for this pass to allow them)", reduced.len());
        let all = std::mem::take(&mut self.p.associate);
        let (go, associate) = all.into_iter().partition(|c| c.reach.reduces.is_empty());
        self.p.associate = go;
        let all = std::mem::take(&mut self.p.update);
        let (go, update) = all.into_iter().partition(|u| u.reach.reduces.is_empty());
        self.p.update = go;
        self.p.held = Some(Held {
            why,
            associate,
            update,
        });
    }
}

/// What a configuration does to an account: Security Hub on or off, and its standards when
/// known; `None` when it leaves the account as it is (self-managed, or nothing to inherit).
type Effect = Option<(bool, Option<BTreeSet<String>>)>;

/// A configuration's effect on an account: a policy's, or `otherwise` for self-managed or no
/// configuration. Before a change `otherwise` is Security Hub on with standards unknown (the
/// safe assumption: it may well be on); after one it is `None` (the account is left as it is).
fn effect(
    c: Option<&ConfigurationRef>,
    otherwise: Effect,
    policy: impl Fn(&String) -> Option<(bool, BTreeSet<String>)>,
) -> Effect {
    match c {
        Some(ConfigurationRef::Policy(name)) => policy(name).map(|(on, s)| (on, Some(s))),
        Some(ConfigurationRef::SelfManaged) | None => otherwise,
    }
}

/// Whether going from `before` to `after` turns Security Hub off or drops a known standard.
fn reduces(before: &Effect, after: &Effect) -> bool {
    match (before, after) {
        (Some((true, _)), Some((false, _))) => true,
        (Some((true, Some(had))), Some((true, Some(has)))) => !had.is_subset(has),
        _ => false,
    }
}

/// The configuration that governs `account`: the nearest direct association above it.
fn governing<'m>(
    shape: &OrgShape,
    applied: &'m BTreeMap<AssociationTarget, ConfigurationRef>,
    account: &AccountId,
) -> Option<&'m ConfigurationRef> {
    let chain = shape.chain(&AssociationTarget::Account(*account));
    chain.iter().find_map(|t| applied.get(t))
}

/// The fields in which `have` differs from `want`.
fn differences(want: &PolicySpec, have: &ObservedPolicy) -> Vec<&'static str> {
    let mut out = Vec::new();
    if want.description.is_some() && want.description != have.description {
        out.push("description");
    }
    if want.enabled != have.enabled {
        out.push("enabled");
    }
    if want.enabled {
        if want.standards != have.standards {
            out.push("standards");
        }
        if want.controls != have.controls {
            out.push("controls");
        }
        if want.parameters != have.parameters {
            out.push("parameters");
        }
    }
    out
}

fn shown(c: &ConfigurationRef) -> String {
    match c {
        ConfigurationRef::Policy(name) => format!("policy {name}"),
        ConfigurationRef::SelfManaged => "self-managed Security Hub".to_owned(),
    }
}

fn names(regions: &[Region]) -> String {
    match regions {
        [] => "no other Region".to_owned(),
        _ => regions
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::desired::parse_files;
    use crate::observed::{CentralStatus, FindingAggregator, ObservedAssociation};

    const DESIRED: &str = r#"version: 1
securityhub:
  regions: [us-east-1, eu-west-1]
  central_configuration:
    home_region: us-east-1
    policies:
      baseline: {enabled: true, standards: [aws-foundational-security-best-practices/v/1.0.0]}
      off: {enabled: false}
    associations:
      - {root: true, policy: baseline}
      - {ou: ou-ab12-sandbox01, policy: "off"}
    prune: true
"#;
    const FSBP: &str =
        "arn:aws:securityhub:us-east-1::standards/aws-foundational-security-best-practices/v/1.0.0";

    fn desired(text: &str) -> DesiredState {
        parse_files(&[("d.yaml".into(), text.into())]).unwrap()
    }

    fn region(r: &str) -> Region {
        Region::parse(r).unwrap()
    }

    fn acct(n: u64) -> AccountId {
        AccountId::parse(&format!("{n:012}")).unwrap()
    }

    /// root r-ab12 > ou-ab12-sandbox01; accounts 1..=3 under the root, 11..=13 in the sandbox.
    fn shape() -> OrgShape {
        let mut s = OrgShape {
            root: "r-ab12".into(),
            ..OrgShape::default()
        };
        s.parents
            .insert("ou-ab12-sandbox01".into(), "r-ab12".into());
        for n in [1, 2, 3] {
            s.parents.insert(acct(n).to_string(), "r-ab12".into());
            s.accounts.insert(acct(n));
        }
        for n in [11, 12, 13] {
            s.parents
                .insert(acct(n).to_string(), "ou-ab12-sandbox01".into());
            s.accounts.insert(acct(n));
        }
        s
    }

    /// Central configuration enabled, with `DESIRED`'s two policies as declared (ids p1, p2).
    fn declared_policies() -> ObservedCentral {
        let mut seen = central(Some("ENABLED"), true);
        seen.policies = vec![
            policy("p1", "baseline", true, &[FSBP]),
            policy("p2", "off", false, &[]),
        ];
        seen
    }

    fn central(status: Option<&str>, central: bool) -> ObservedCentral {
        ObservedCentral {
            service: Service::SecurityHub,
            region: region("us-east-1"),
            organization: Administration::Administrator(CentralStatus {
                central,
                status: status.map(str::to_owned),
                message: None,
            }),
            aggregator: Some(FindingAggregator {
                arn: "arn:agg".into(),
                home: region("us-east-1"),
                linking: "SPECIFIED_REGIONS".into(),
                regions: vec![region("eu-west-1")],
            }),
            policies: Vec::new(),
            associations: Vec::new(),
        }
    }

    fn policy(id: &str, name: &str, enabled: bool, standards: &[&str]) -> ObservedPolicy {
        ObservedPolicy {
            id: id.into(),
            arn: format!("arn:{id}"),
            name: name.into(),
            description: None,
            enabled,
            standards: standards.iter().map(|s| s.to_string()).collect(),
            controls: crate::domain::Controls::Disabled(Default::default()),
            parameters: Default::default(),
        }
    }

    fn applied(target: AssociationTarget, id: &str, status: &str) -> ObservedAssociation {
        ObservedAssociation {
            target,
            configuration: id.into(),
            applied: true,
            status: status.into(),
            message: None,
            updated: Some(SystemTime::now()),
        }
    }

    fn settings(max: usize) -> PlanSettings {
        PlanSettings {
            max_removals_per_pass: max,
            pending_invitation_after: Duration::from_secs(86_400),
            member_limit: 1200,
            association_pending_after: Duration::from_secs(3600),
        }
    }

    fn run(
        d: &DesiredState,
        seen: &ObservedCentral,
        shape: Option<&OrgShape>,
        max: usize,
    ) -> CentralPlan {
        let mut observed = Observed::at(SystemTime::now());
        let seen = std::slice::from_ref(seen);
        observed.central = seen;
        observed.shape = shape;
        plan(d, &observed, &settings(max)).remove(0)
    }

    fn kinds(p: &CentralPlan) -> Vec<(&'static str, String)> {
        p.drift
            .iter()
            .map(|d| (d.kind.as_str(), d.account_name()))
            .collect()
    }

    #[test]
    fn from_local_without_an_aggregator_everything_is_made_in_one_plan() {
        let mut seen = central(Some("ENABLED"), false);
        seen.aggregator = None;
        let s = shape();
        let p = run(&desired(DESIRED), &seen, Some(&s), 10);
        assert_eq!(
            p.aggregator,
            Some(AggregatorChange::Create(vec![region("eu-west-1")]))
        );
        assert!(p.switch);
        assert_eq!(p.create, ["baseline", "off"]);
        let targets: Vec<String> = p.associate.iter().map(|c| c.target.to_string()).collect();
        assert_eq!(targets, ["the root", "OU ou-ab12-sandbox01"]);
        assert_eq!(
            p.associate[0].reach.accounts.len(),
            6,
            "every account: nothing governed them before"
        );
        assert!(
            p.associate[0].reach.reduces.is_empty(),
            "the baseline turns nothing off"
        );
        // Accounts no policy governed may well have Security Hub on: "off" turns it off there.
        assert_eq!(p.associate[1].reach.reduces, [acct(11), acct(12), acct(13)]);
        assert_eq!(
            kinds(&p),
            [
                ("aggregator_missing", String::new()),
                ("central_configuration_off", String::new()),
                ("policy_missing", "policy:baseline".into()),
                ("policy_missing", "policy:off".into()),
                ("association_missing", "root".into()),
                ("association_missing", "ou-ab12-sandbox01".into()),
            ]
        );
        assert!(p.has_changes());
    }

    #[test]
    fn a_converged_organization_plans_nothing() {
        let mut seen = declared_policies();
        seen.associations = vec![
            applied(AssociationTarget::Root, "p1", "SUCCESS"),
            applied(
                AssociationTarget::Ou("ou-ab12-sandbox01".into()),
                "p2",
                "SUCCESS",
            ),
        ];
        let s = shape();
        let p = run(&desired(DESIRED), &seen, Some(&s), 10);
        assert!(!p.has_changes(), "{p:?}");
        assert!(p.drift.is_empty(), "{:?}", p.drift);
        assert_eq!(p.ids["baseline"], "p1");
    }

    #[test]
    fn drift_behind_musters_back_is_named_and_fixed_where_muster_may() {
        let mut seen = central(Some("ENABLED"), true);
        let mut changed = policy("p1", "baseline", true, &[]);
        changed.description = Some("x".into());
        seen.policies = vec![
            changed,
            policy("p2", "off", false, &[]),
            policy("p3", "rogue", true, &[]),
            policy("p4", "off", false, &[]),
        ];
        seen.associations = vec![
            applied(AssociationTarget::Root, "p1", "SUCCESS"),
            applied(AssociationTarget::Account(acct(2)), "p3", "FAILED"),
        ];
        let s = shape();
        let p = run(&desired(DESIRED), &seen, Some(&s), 10);
        assert_eq!(p.update.len(), 1);
        assert_eq!(
            p.update[0].fields,
            ["standards"],
            "an undeclared description is not drift"
        );
        let kinds = kinds(&p);
        assert!(kinds.contains(&("policy_differs", "policy:baseline".into())));
        assert!(kinds.contains(&("association_missing", "ou-ab12-sandbox01".into())));
        assert!(kinds.contains(&("policy_name_ambiguous", "policy:off".into())));
        // Which "off" is meant is not guessed: the sandbox's association waits.
        assert!(!p
            .associate
            .iter()
            .any(|c| c.target == AssociationTarget::Ou("ou-ab12-sandbox01".into())));
        assert!(kinds.contains(&("association_undeclared", acct(2).to_string())));
        assert!(kinds.contains(&("association_failed", acct(2).to_string())));
        // Prune: the rogue association goes, and the rogue policy with it (nothing else applies it).
        assert!(p
            .associate
            .iter()
            .any(|c| c.target == AssociationTarget::Account(acct(2)) && c.to.is_none()));
        assert_eq!(p.delete, [("rogue".to_owned(), "p3".to_owned())]);
    }

    #[test]
    fn turning_security_hub_off_in_more_accounts_than_allowed_is_refused() {
        let mut seen = declared_policies();
        seen.associations = vec![applied(AssociationTarget::Root, "p1", "SUCCESS")];
        let s = shape();
        // The sandbox OU's three accounts go from baseline to off.
        let p = run(&desired(DESIRED), &seen, Some(&s), 2);
        assert!(p.associate.is_empty());
        assert_eq!(p.refused(), Some("these changes would turn Security Hub off, or remove a standard, in 3 accounts; max_removals_per_pass allows 2: refused (the other changes go ahead; raise the limit for this pass to allow them)"));
        let p = run(&desired(DESIRED), &seen, Some(&s), 3);
        assert_eq!(p.associate.len(), 1);
        assert_eq!(p.associate[0].reach.reduces, [acct(11), acct(12), acct(13)]);
        // Without the tree, nothing whose reach is unknown goes ahead.
        let p = run(&desired(DESIRED), &seen, None, 10);
        assert!(p.associate.is_empty() && p.refused().is_some());
    }

    #[test]
    fn preconditions_block_with_their_fix() {
        let mut seen = central(None, false);
        seen.organization = Administration::NotAdministrator(
            "Account 111111111111 is not an administrator for this organization".into(),
        );
        let p = run(&desired(DESIRED), &seen, None, 10);
        assert!(!p.has_changes());
        assert_eq!(
            kinds(&p),
            [("central_configuration_blocked", String::new())]
        );
        assert!(p.drift[0]
            .detail
            .contains("run muster as the delegated administrator"));

        let mut seen = central(Some("ENABLED"), false);
        seen.aggregator.as_mut().unwrap().home = region("eu-west-1");
        let p = run(&desired(DESIRED), &seen, None, 10);
        assert!(!p.has_changes());
        assert!(p.drift[0].detail.starts_with(
            "the finding aggregator's home Region is eu-west-1, but us-east-1 is declared"
        ));

        let seen = central(Some("DISABLED"), true);
        let p = run(&desired(DESIRED), &seen, None, 10);
        assert!(!p.has_changes());
        assert_eq!(
            kinds(&p),
            [("central_configuration_disabled", String::new())]
        );

        let mut seen = central(Some("ENABLED"), true);
        seen.aggregator.as_mut().unwrap().regions.clear();
        let p = run(&desired(DESIRED), &seen, None, 10);
        let link = AggregatorChange::Link {
            arn: "arn:agg".into(),
            linked: vec![region("eu-west-1")],
        };
        assert_eq!(p.aggregator, Some(link));
        assert_eq!(kinds(&p)[0], ("region_not_linked", "eu-west-1".into()));
    }
}
