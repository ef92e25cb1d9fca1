//! Central configuration in `plan`'s text, JSON and markdown: the aggregator, the switch,
//! policies (one list of actions both formats share), and each association change with the
//! accounts it moves and whether the guard held it back.

use serde_json::{json, Value};

use super::{drift_json, drift_text};
use crate::desired::ConfigurationRef;
use crate::domain::{AccountId, Region};
use crate::plan::{AggregatorChange, AssociationChange, CentralPlan, PolicyUpdate};

pub(super) fn shown(c: &Option<ConfigurationRef>) -> String {
    match c {
        Some(ConfigurationRef::Policy(name)) => format!("policy {name}"),
        Some(ConfigurationRef::SelfManaged) => "self-managed".to_owned(),
        None => "nothing".to_owned(),
    }
}

/// A policy update's reach: what it changes and the accounts it governs.
fn reach(u: &PolicyUpdate, code: &dyn Fn(&str) -> String) -> String {
    let (governs, reduces) = (u.reach.accounts.len(), u.reach.reduces.len());
    let fields = u.fields.join(", ");
    let name = code(&u.name);
    format!("policy {name} ({fields}): it governs {governs} account(s), {reduces} to Security Hub off or fewer standards")
}

/// Every write but the associations, and the policy updates held back, in words; `code`
/// marks names up (backticks in markdown).
pub(super) fn actions(c: &CentralPlan, code: &dyn Fn(&str) -> String) -> Vec<String> {
    let regions = |r: &[Region]| {
        r.iter()
            .map(|r| code(r.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = Vec::new();
    match &c.aggregator {
        Some(AggregatorChange::Create(linked)) => out.push(format!(
            "create the finding aggregator in {}, linking {} (CreateFindingAggregator)",
            code(c.home.as_str()),
            regions(linked)
        )),
        Some(AggregatorChange::Link { linked, .. }) => out.push(format!(
            "link {} (UpdateFindingAggregator; muster never unlinks)",
            regions(linked)
        )),
        None => {}
    }
    if c.switch {
        out.push(format!("switch the organization to {} with AutoEnable off and standards NONE (UpdateOrganizationConfiguration; never back)", code("CENTRAL")));
    }
    for name in &c.create {
        out.push(format!(
            "create policy {} (CreateConfigurationPolicy)",
            code(name)
        ));
    }
    for u in &c.update {
        out.push(format!(
            "update {} (UpdateConfigurationPolicy)",
            reach(u, code)
        ));
    }
    for (name, _) in &c.delete {
        out.push(format!(
            "delete policy {} (DeleteConfigurationPolicy: prune)",
            code(name)
        ));
    }
    for u in c.held_updates() {
        out.push(format!("held back: update {}", reach(u, code)));
    }
    out
}

/// Each association change, then those held back: (change, held back).
pub(super) fn changes(c: &CentralPlan) -> impl Iterator<Item = (&AssociationChange, bool)> {
    (c.associate.iter().map(|a| (a, false))).chain(c.held_associations().iter().map(|a| (a, true)))
}

pub(super) fn central_text(c: &CentralPlan) -> String {
    let mut out = format!(
        "{} (central configuration, home Region {})\n",
        c.target(),
        c.home
    );
    if !c.has_changes() && c.drift.is_empty() && c.held.is_none() {
        out += "  in sync\n";
    }
    for action in actions(c, &|s| s.to_owned()) {
        out += &format!("  * {action}\n");
    }
    for (a, held) in changes(c) {
        let op = match (held, &a.to) {
            (true, _) => "held back",
            (false, Some(_)) => "StartConfigurationPolicyAssociation",
            (false, None) => "StartConfigurationPolicyDisassociation",
        };
        let (moved, reduced) = (a.reach.accounts.len(), a.reach.reduces.len());
        out += &format!("  ~ {}: {} -> {}, moves {moved} account(s), {reduced} to Security Hub off or fewer standards  ({op})\n", a.target, shown(&a.from), shown(&a.to));
    }
    if let Some(why) = c.refused() {
        out += &format!("  ! refused   {why}\n");
    }
    out += &drift_text(&c.drift);
    out
}

fn ids(v: &[AccountId]) -> Vec<String> {
    v.iter().map(ToString::to_string).collect()
}

fn change_json(a: &AssociationChange) -> Value {
    json!({
        "target": a.target.to_string(),
        "from": shown(&a.from),
        "to": shown(&a.to),
        "moves": ids(&a.reach.accounts),
        "reduces": ids(&a.reach.reduces),
    })
}

fn update_json(u: &PolicyUpdate) -> Value {
    json!({"name": u.name, "id": u.id, "fields": u.fields, "governs": ids(&u.reach.accounts), "reduces": ids(&u.reach.reduces)})
}

pub(super) fn central_json(c: &CentralPlan) -> Value {
    let aggregator = match &c.aggregator {
        Some(AggregatorChange::Create(linked)) => {
            json!({"create": true, "linked": linked.iter().map(ToString::to_string).collect::<Vec<_>>()})
        }
        Some(AggregatorChange::Link { linked, .. }) => {
            json!({"create": false, "linked": linked.iter().map(ToString::to_string).collect::<Vec<_>>()})
        }
        None => Value::Null,
    };
    json!({
        "target": c.target().to_string(),
        "service": c.service.as_str(),
        "home_region": c.home.as_str(),
        "aggregator": aggregator,
        "switch_to_central": c.switch,
        "create_policies": c.create,
        "update_policies": c.update.iter().map(update_json).collect::<Vec<_>>(),
        "associations": c.associate.iter().map(change_json).collect::<Vec<_>>(),
        "delete_policies": c.delete.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        "held_back": c.held_associations().iter().map(change_json).collect::<Vec<_>>(),
        "held_back_updates": c.held_updates().iter().map(update_json).collect::<Vec<_>>(),
        "refused": c.refused(),
        "drift": c.drift.iter().map(drift_json).collect::<Vec<_>>(),
    })
}
