//! Security Hub central configuration as the world holds it: finding aggregators (the home
//! Region and its linked Regions), configuration policies, their direct associations with the
//! root, OUs and accounts, and what inheritance through the OU tree makes of every target.
//!
//! Associations are asynchronous, as on AWS: a target whose configuration changes is `PENDING`
//! until `association_delay` has passed (and at least one later call has been made), then
//! `SUCCESS`, or `FAILED` for a suspended account or one the fixture names. An account's
//! `SUCCESS` carries the policy out in the home and linked Regions: Security Hub enabled or
//! disabled there, and the policy's standards. This module knows nothing about HTTP.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::world::{stable_hash, AccountState, Parent, World};

/// The configuration identifier of self-managed Security Hub.
pub const SELF_MANAGED: &str = "SELF_MANAGED_SECURITY_HUB";

/// Why an account's association fails when the fixture names it without a message.
pub const DEFAULT_FAILURE: &str =
    "Policy association failed: the account could not be configured (a fixture-made failure)";
/// Why a suspended account's association fails.
pub const SUSPENDED_FAILURE: &str = "Policy association failed because the account is suspended";
/// Status message while Organizations policies manage Security Hub.
pub const MANAGED_BY_POLICIES: &str = "Central configuration is disabled because the organization is managed by Security Hub CSPM policies in Organizations (SECURITYHUB_CSPM_POLICY)";

/// The Regions a finding aggregator links to its home Region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linking {
    AllRegions,
    AllRegionsExceptSpecified,
    SpecifiedRegions,
    NoRegions,
}

impl Linking {
    pub const NAMES: [&'static str; 4] = [
        "ALL_REGIONS",
        "ALL_REGIONS_EXCEPT_SPECIFIED",
        "SPECIFIED_REGIONS",
        "NO_REGIONS",
    ];

    pub fn parse(s: &str) -> Option<Linking> {
        match s {
            "ALL_REGIONS" => Some(Linking::AllRegions),
            "ALL_REGIONS_EXCEPT_SPECIFIED" => Some(Linking::AllRegionsExceptSpecified),
            "SPECIFIED_REGIONS" => Some(Linking::SpecifiedRegions),
            "NO_REGIONS" => Some(Linking::NoRegions),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Linking::AllRegions => "ALL_REGIONS",
            Linking::AllRegionsExceptSpecified => "ALL_REGIONS_EXCEPT_SPECIFIED",
            Linking::SpecifiedRegions => "SPECIFIED_REGIONS",
            Linking::NoRegions => "NO_REGIONS",
        }
    }
}

/// One account's finding aggregator: its home Region and how Regions are linked to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregator {
    pub arn: String,
    pub home: String,
    pub linking: Linking,
    /// The Regions the linking mode names (linked, or excepted).
    pub regions: Vec<String>,
}

impl Aggregator {
    pub fn new(account: &str, home: &str, linking: Linking, regions: Vec<String>) -> Self {
        let id = uuid(&["finding-aggregator", account, home]);
        Aggregator {
            arn: format!("arn:aws:securityhub:{home}:{account}:finding-aggregator/{id}"),
            home: home.to_owned(),
            linking,
            regions,
        }
    }

    /// The Regions linked to the home Region, of the Regions the world knows.
    pub fn linked<'a>(&self, known: impl Iterator<Item = &'a String>) -> BTreeSet<String> {
        let named: BTreeSet<&str> = self.regions.iter().map(String::as_str).collect();
        let keep = |r: &str| match self.linking {
            Linking::AllRegions => true,
            Linking::AllRegionsExceptSpecified => !named.contains(r),
            Linking::SpecifiedRegions => named.contains(r),
            Linking::NoRegions => false,
        };
        let mut out: BTreeSet<String> = known.filter(|r| keep(r)).cloned().collect();
        if self.linking == Linking::SpecifiedRegions {
            out.extend(self.regions.iter().cloned());
        }
        out.remove(&self.home);
        out
    }
}

/// A configuration policy: its identity and the `SecurityHub` policy as it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub id: String,
    pub arn: String,
    pub name: String,
    pub description: Option<String>,
    pub created: SystemTime,
    pub updated: SystemTime,
    /// The `SecurityHub` member of the `Policy` union, as given.
    pub body: Value,
}

impl Policy {
    /// Whether the policy turns Security Hub on.
    pub fn service_enabled(&self) -> bool {
        self.body["ServiceEnabled"].as_bool().unwrap_or(false)
    }

    /// The standards the policy enables.
    pub fn standards(&self) -> BTreeSet<String> {
        let list = self.body["EnabledStandardIdentifiers"].as_array();
        let items = list.into_iter().flatten();
        items
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect()
    }
}

/// What a target is configured with: a policy (by id), or self-managed Security Hub.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Configuration {
    Policy(String),
    SelfManaged,
}

impl Configuration {
    pub fn id(&self) -> &str {
        match self {
            Configuration::Policy(id) => id,
            Configuration::SelfManaged => SELF_MANAGED,
        }
    }
}

/// Something a configuration is associated with.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    Root(String),
    Ou(String),
    Account(String),
}

impl Target {
    pub fn id(&self) -> &str {
        match self {
            Target::Root(id) | Target::Ou(id) | Target::Account(id) => id,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Target::Root(_) => "ROOT",
            Target::Ou(_) => "ORGANIZATIONAL_UNIT",
            Target::Account(_) => "ACCOUNT",
        }
    }

    /// The key listings page by: the root, then OUs, then accounts, each by id.
    pub fn key(&self) -> String {
        let rank = match self {
            Target::Root(_) => 0,
            Target::Ou(_) => 1,
            Target::Account(_) => 2,
        };
        format!("{rank}:{}", self.id())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Success,
    Failed,
    Disabled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "PENDING",
            Status::Success => "SUCCESS",
            Status::Failed => "FAILED",
            Status::Disabled => "DISABLED",
        }
    }
}

/// Where a target stands: its configuration, whether it was applied to it directly or
/// inherited, and how carrying it out went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub configuration: Configuration,
    pub applied: bool,
    pub status: Status,
    pub message: Option<String>,
    pub updated: SystemTime,
    /// While `PENDING`: settled by a call after `call`, at or after `due`.
    pub due: Option<(u64, SystemTime)>,
}

/// The switch of the organization to central configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switch {
    pub status: Status,
    pub due: Option<(u64, SystemTime)>,
}

/// Knobs the fixture sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// How long an association (and the switch to CENTRAL) stays `PENDING`.
    pub delay: Duration,
    /// Accounts whose associations fail, with AWS's message.
    pub failing: BTreeMap<String, String>,
    /// The organization is managed by Security Hub CSPM policies in Organizations: central
    /// configuration is `DISABLED`.
    pub managed_by_policies: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            delay: Duration::from_millis(200),
            failing: BTreeMap::new(),
            managed_by_policies: false,
        }
    }
}

/// Central configuration across the organization.
#[derive(Debug, Clone, Default)]
pub struct Central {
    /// Finding aggregators by the account that made them.
    pub aggregators: BTreeMap<String, Aggregator>,
    /// Configuration policies by id.
    pub policies: BTreeMap<String, Policy>,
    /// Direct (APPLIED) associations.
    pub applied: BTreeMap<Target, Configuration>,
    /// Every target with a configuration, applied or inherited.
    pub states: BTreeMap<Target, State>,
    /// The switch to CENTRAL, once asked for.
    pub switch: Option<Switch>,
    pub settings: Settings,
}

/// A UUID-shaped id that is the same on every run for the same parts.
pub fn uuid(parts: &[&str]) -> String {
    let a = stable_hash(parts);
    let b = stable_hash(&[&format!("{a:x}"), "uuid"]);
    let h = format!("{a:016x}{b:016x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

impl Central {
    /// The policy a wire identifier (UUID or ARN) names.
    pub fn policy_id(&self, identifier: &str) -> Option<String> {
        (self.policies.values())
            .find(|p| p.id == identifier || p.arn == identifier)
            .map(|p| p.id.clone())
    }

    /// Whether a policy is associated with any target directly.
    pub fn is_associated(&self, policy: &str) -> bool {
        (self.applied.values()).any(|c| matches!(c, Configuration::Policy(id) if id == policy))
    }
}

impl World {
    /// The root, every OU and every organization account: the targets an association can
    /// reach, parents before children.
    pub fn targets(&self) -> Vec<Target> {
        let Some(org) = &self.organization else {
            return Vec::new();
        };
        let mut out = vec![Target::Root(org.root_id.clone())];
        out.extend(org.ous.keys().cloned().map(Target::Ou));
        let members = self.accounts.values().filter(|a| a.parent.is_some());
        out.extend(members.map(|a| Target::Account(a.id.clone())));
        out
    }

    /// The target above `target` in the organization tree.
    pub fn parent_target(&self, target: &Target) -> Option<Target> {
        let org = self.organization.as_ref()?;
        let parent = match target {
            Target::Root(_) => return None,
            Target::Ou(id) => org.ous.get(id)?.parent.clone(),
            Target::Account(id) => self.accounts.get(id)?.parent.clone()?,
        };
        Some(match parent {
            Parent::Root => Target::Root(org.root_id.clone()),
            Parent::Ou(id) => Target::Ou(id),
        })
    }

    /// The nearest direct association at or above `target`: the configuration and whether it
    /// is the target's own.
    pub fn effective(&self, target: &Target) -> Option<(Configuration, bool)> {
        let mut at = Some(target.clone());
        let mut own = true;
        while let Some(t) = at {
            if let Some(c) = self.central.applied.get(&t) {
                return Some((c.clone(), own));
            }
            own = false;
            at = self.parent_target(&t);
        }
        None
    }

    /// Works out every target's configuration again after an association changed: a target
    /// whose configuration (or the policy behind it, when `changed_policy` names it) changed
    /// goes `PENDING`; one left with none drops out.
    pub fn reassociate(&mut self, changed_policy: Option<&str>, now: SystemTime, call: u64) {
        let delay = self.central.settings.delay;
        let disabled = self.central.settings.managed_by_policies;
        for target in self.targets() {
            let effective = self.effective(&target);
            let states = &mut self.central.states;
            let Some((configuration, applied)) = effective else {
                states.remove(&target);
                continue;
            };
            let same = states.get(&target).is_some_and(|s| {
                s.configuration == configuration
                    && s.applied == applied
                    && changed_policy.is_none_or(|p| configuration.id() != p)
            });
            if same {
                continue;
            }
            let (status, due) = if disabled {
                (Status::Disabled, None)
            } else {
                (Status::Pending, Some((call, now + delay)))
            };
            states.insert(
                target,
                State {
                    configuration,
                    applied,
                    status,
                    message: None,
                    updated: now,
                    due,
                },
            );
        }
    }

    /// Settles every association and the switch to CENTRAL that are due at `now` in call
    /// number `call`, carrying out each account's policy where it succeeded.
    pub fn settle_central(&mut self, now: SystemTime, call: u64) {
        let due = |d: Option<(u64, SystemTime)>| d.is_some_and(|(c, t)| call > c && now >= t);
        if let Some(s) = &mut self.central.switch {
            if s.status == Status::Pending && due(s.due) {
                (s.status, s.due) = (Status::Success, None);
            }
        }
        let settled: Vec<Target> = (self.central.states.iter())
            .filter(|(_, s)| s.status == Status::Pending && due(s.due))
            .map(|(t, _)| t.clone())
            .collect();
        for target in settled {
            let failure = match &target {
                Target::Account(id) => self.failure_of(id),
                Target::Root(_) | Target::Ou(_) => None,
            };
            let Some(state) = self.central.states.get_mut(&target) else {
                continue;
            };
            state.due = None;
            state.updated = now;
            match failure {
                Some(message) => {
                    (state.status, state.message) = (Status::Failed, Some(message));
                }
                None => {
                    (state.status, state.message) = (Status::Success, None);
                    let configuration = state.configuration.clone();
                    if let Target::Account(id) = &target {
                        self.carry_out(id, &configuration, now);
                    }
                }
            }
        }
    }

    /// Why `account`'s association fails, if it does.
    fn failure_of(&self, account: &str) -> Option<String> {
        if let Some(m) = self.central.settings.failing.get(account) {
            return Some(m.clone());
        }
        let suspended =
            (self.accounts.get(account)).is_some_and(|a| a.state == AccountState::Suspended);
        suspended.then(|| SUSPENDED_FAILURE.to_owned())
    }

    /// The home and linked Regions of the delegated administrator's aggregator.
    pub fn central_regions(&self) -> BTreeSet<String> {
        let admin = self
            .securityhub_administrator
            .as_deref()
            .unwrap_or_default();
        let Some(a) = self.central.aggregators.get(admin) else {
            return BTreeSet::new();
        };
        let mut out = a.linked(self.regions.keys());
        out.insert(a.home.clone());
        out
    }

    /// Applies `configuration` to `account` in the home and linked Regions.
    fn carry_out(&mut self, account: &str, configuration: &Configuration, now: SystemTime) {
        let Configuration::Policy(id) = configuration else {
            return;
        };
        let Some(policy) = self.central.policies.get(id) else {
            return;
        };
        let (enabled, standards) = (policy.service_enabled(), policy.standards());
        for region in self.central_regions() {
            let r = self.region_mut(&region);
            if enabled {
                r.hubs.entry(account.to_owned()).or_insert(now);
                r.hub_standards
                    .insert(account.to_owned(), standards.clone());
            } else {
                r.hubs.remove(account);
                r.hub_standards.remove(account);
            }
        }
    }

    /// Whether a central configuration policy (not self-managed) governs `account` in `region`.
    pub fn centrally_managed(&self, account: &str, region: &str) -> bool {
        let target = Target::Account(account.to_owned());
        let governed = (self.central.states.get(&target))
            .is_some_and(|s| matches!(s.configuration, Configuration::Policy(_)));
        governed && self.central_regions().contains(region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::{Account, Organization, OrganizationalUnit};

    /// root > ou-a > ou-b; accounts 1 (root), 2 (ou-a), 3 (ou-b), 4 (ou-b, suspended).
    fn world() -> World {
        let mut w = World::default();
        let ou = |id: &str, parent: Parent| OrganizationalUnit {
            id: id.into(),
            name: id.into(),
            parent,
        };
        w.organization = Some(Organization {
            id: "o-1".into(),
            root_id: "r-1".into(),
            management_account: "000000000001".into(),
            ous: BTreeMap::from([
                ("ou-a".into(), ou("ou-a", Parent::Root)),
                ("ou-b".into(), ou("ou-b", Parent::Ou("ou-a".into()))),
            ]),
        });
        let now = SystemTime::now();
        for (id, parent, state) in [
            ("000000000001", Parent::Root, AccountState::Active),
            (
                "000000000002",
                Parent::Ou("ou-a".into()),
                AccountState::Active,
            ),
            (
                "000000000003",
                Parent::Ou("ou-b".into()),
                AccountState::Active,
            ),
            (
                "000000000004",
                Parent::Ou("ou-b".into()),
                AccountState::Suspended,
            ),
        ] {
            w.accounts.insert(
                id.into(),
                Account {
                    id: id.into(),
                    name: id.into(),
                    email: format!("{id}@example.com"),
                    state,
                    parent: Some(parent),
                    volume_bytes_per_day: 0,
                    joined: now,
                },
            );
        }
        w.securityhub_administrator = Some("000000000002".into());
        let agg = Aggregator::new(
            "000000000002",
            "us-east-1",
            Linking::SpecifiedRegions,
            vec!["eu-west-1".into()],
        );
        w.central.aggregators.insert("000000000002".into(), agg);
        w.central.settings.delay = Duration::ZERO;
        w.central.policies.insert(
            "p-on".into(),
            Policy {
                id: "p-on".into(),
                arn: "arn:p-on".into(),
                name: "on".into(),
                description: None,
                created: now,
                updated: now,
                body: serde_json::json!({"ServiceEnabled": true, "EnabledStandardIdentifiers": ["s1"]}),
            },
        );
        w
    }

    fn acct(id: &str) -> Target {
        Target::Account(id.into())
    }

    #[test]
    fn the_nearest_association_above_a_target_is_its_configuration() {
        let mut w = world();
        w.central.applied.insert(
            Target::Root("r-1".into()),
            Configuration::Policy("p-on".into()),
        );
        w.central
            .applied
            .insert(Target::Ou("ou-b".into()), Configuration::SelfManaged);
        assert_eq!(
            w.effective(&acct("000000000002")),
            Some((Configuration::Policy("p-on".into()), false))
        );
        assert_eq!(
            w.effective(&acct("000000000003")),
            Some((Configuration::SelfManaged, false))
        );
        assert_eq!(
            w.effective(&Target::Ou("ou-b".into())),
            Some((Configuration::SelfManaged, true))
        );
        w.central.applied.clear();
        assert_eq!(w.effective(&acct("000000000003")), None);
    }

    #[test]
    fn associations_settle_after_a_later_call_and_carry_the_policy_out() {
        let mut w = world();
        let now = SystemTime::now();
        w.central.applied.insert(
            Target::Root("r-1".into()),
            Configuration::Policy("p-on".into()),
        );
        w.reassociate(None, now, 7);
        assert_eq!(w.central.states.len(), 7, "root, two OUs, four accounts");
        assert!(w
            .central
            .states
            .values()
            .all(|s| s.status == Status::Pending));
        w.settle_central(now, 7);
        assert!(
            w.central
                .states
                .values()
                .all(|s| s.status == Status::Pending),
            "not in the same call"
        );
        w.settle_central(now, 8);
        let s = &w.central.states[&acct("000000000004")];
        assert_eq!(
            (s.status, s.message.as_deref()),
            (Status::Failed, Some(SUSPENDED_FAILURE))
        );
        assert_eq!(
            w.central.states[&acct("000000000003")].status,
            Status::Success
        );
        for region in ["us-east-1", "eu-west-1"] {
            let r = &w.regions[region];
            assert!(r.hubs.contains_key("000000000003"), "{region}");
            assert!(!r.hubs.contains_key("000000000004"), "{region}");
            assert_eq!(
                r.hub_standards["000000000003"],
                BTreeSet::from(["s1".to_owned()])
            );
        }
        // Nothing changed: nothing goes pending again.
        w.reassociate(None, now, 9);
        assert!(w
            .central
            .states
            .values()
            .all(|s| s.status != Status::Pending));
        // The policy changed: everyone governed by it goes pending.
        w.reassociate(Some("p-on"), now, 10);
        assert!(w
            .central
            .states
            .values()
            .all(|s| s.status == Status::Pending));
    }

    #[test]
    fn linking_modes_name_the_linked_regions() {
        let known: Vec<String> = ["us-east-1", "eu-west-1", "ap-south-1"]
            .map(String::from)
            .to_vec();
        let linked = |mode, regions: &[&str]| {
            let a = Aggregator::new(
                "1",
                "us-east-1",
                mode,
                regions.iter().map(|r| r.to_string()).collect(),
            );
            a.linked(known.iter()).into_iter().collect::<Vec<_>>()
        };
        assert_eq!(
            linked(Linking::AllRegions, &[]),
            ["ap-south-1", "eu-west-1"]
        );
        assert_eq!(
            linked(Linking::AllRegionsExceptSpecified, &["eu-west-1"]),
            ["ap-south-1"]
        );
        assert_eq!(
            linked(Linking::SpecifiedRegions, &["eu-central-1"]),
            ["eu-central-1"]
        );
        assert!(linked(Linking::NoRegions, &[]).is_empty());
    }

    #[test]
    fn uuids_are_stable_and_shaped_like_uuids() {
        let id = uuid(&["a", "b"]);
        assert_eq!(id, uuid(&["a", "b"]));
        assert_ne!(id, uuid(&["a", "c"]));
        let re =
            regex::Regex::new("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$")
                .unwrap();
        assert!(re.is_match(&id), "{id}");
    }
}
