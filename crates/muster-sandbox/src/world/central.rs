//! The rules of Security Hub central configuration on the world: the targets of the
//! organization tree, inheritance, what a change makes pending, and settling (an account's
//! success carries its policy out in the home and linked Regions).

use std::collections::BTreeSet;
use std::time::SystemTime;

use super::{AccountState, Parent, World};
use crate::central::{Configuration, State, Status, Target, SUSPENDED_FAILURE};

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
    use crate::central::{uuid, Aggregator, Linking, Policy};
    use crate::world::{Account, Organization, OrganizationalUnit};
    use std::collections::BTreeMap;
    use std::time::Duration;

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
