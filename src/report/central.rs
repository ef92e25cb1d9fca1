//! Central configuration in `plan`'s text and JSON: the aggregator, the switch, policies, and
//! each association change with the accounts it moves and whether the guard refused it.

use serde_json::{json, Value};

use super::{drift_json, drift_text};
use crate::desired::ConfigurationRef;
use crate::plan::{AggregatorChange, AssociationChange, CentralPlan};

fn shown(c: &Option<ConfigurationRef>) -> String {
    match c {
        Some(ConfigurationRef::Policy(name)) => format!("policy {name}"),
        Some(ConfigurationRef::SelfManaged) => "self-managed".to_owned(),
        None => "nothing".to_owned(),
    }
}

fn regions(r: &[crate::domain::Region]) -> String {
    r.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// How many accounts a change moves, and how many it turns Security Hub off in (or takes a
/// standard from).
fn moves(c: &AssociationChange) -> String {
    match c.reduces.len() {
        0 => format!("moves {} account(s)", c.moves.len()),
        n => format!(
            "moves {} account(s), {n} of them to Security Hub off or fewer standards",
            c.moves.len()
        ),
    }
}

pub(super) fn central_text(c: &CentralPlan) -> String {
    let mut out = format!(
        "{} (central configuration, home Region {})\n",
        c.target(),
        c.home
    );
    if !c.has_changes() && c.drift.is_empty() && c.refused.is_none() {
        out += "  in sync\n";
    }
    match &c.aggregator {
        Some(AggregatorChange::Create(linked)) => {
            out += &format!(
                "  + aggregator in {} linking [{}]  (CreateFindingAggregator)\n",
                c.home,
                regions(linked)
            );
        }
        Some(AggregatorChange::Link { linked, .. }) => {
            out += &format!(
                "  ~ link      [{}]  (UpdateFindingAggregator; muster never unlinks a Region)\n",
                regions(linked)
            );
        }
        None => {}
    }
    if c.switch {
        out += "  ~ switch    to CENTRAL, AutoEnable off, standards NONE  (UpdateOrganizationConfiguration; never back to LOCAL)\n";
    }
    for name in &c.create {
        out += &format!("  + policy    {name}  (CreateConfigurationPolicy)\n");
    }
    for u in &c.update {
        out += &format!(
            "  ~ policy    {}: {}  governs {} account(s)  (UpdateConfigurationPolicy)\n",
            u.name,
            u.fields.join(", "),
            u.governs.len()
        );
    }
    for a in &c.associate {
        let (sign, op) = match a.to {
            Some(_) => ("~", "StartConfigurationPolicyAssociation"),
            None => ("-", "StartConfigurationPolicyDisassociation"),
        };
        out += &format!(
            "  {sign} {}: {} -> {}, {}  ({op})\n",
            a.target,
            shown(&a.from),
            shown(&a.to),
            moves(a)
        );
    }
    for (name, _) in &c.delete {
        out += &format!("  - policy    {name}  (DeleteConfigurationPolicy: prune)\n");
    }
    for a in &c.held {
        out += &format!(
            "  ! held back {}: {} -> {}, {}\n",
            a.target,
            shown(&a.from),
            shown(&a.to),
            moves(a)
        );
    }
    for u in &c.held_updates {
        out += &format!(
            "  ! held back policy {}: {}, {} account(s) to Security Hub off or fewer standards\n",
            u.name,
            u.fields.join(", "),
            u.reduces.len()
        );
    }
    if let Some(why) = &c.refused {
        out += &format!("  ! refused   {why}\n");
    }
    out += &drift_text(&c.drift);
    out
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
    let ids =
        |v: &[crate::domain::AccountId]| v.iter().map(ToString::to_string).collect::<Vec<_>>();
    json!({
        "target": c.target().to_string(),
        "service": c.service.as_str(),
        "home_region": c.home.as_str(),
        "aggregator": aggregator,
        "switch_to_central": c.switch,
        "create_policies": c.create,
        "update_policies": c.update.iter().map(|u| json!({"name": u.name, "id": u.id, "fields": u.fields, "governs": ids(&u.governs), "reduces": ids(&u.reduces)})).collect::<Vec<_>>(),
        "associations": c.associate.iter().map(|a| json!({
            "target": a.target.to_string(),
            "from": shown(&a.from),
            "to": shown(&a.to),
            "moves": ids(&a.moves),
            "reduces": ids(&a.reduces),
        })).collect::<Vec<_>>(),
        "delete_policies": c.delete.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        "held_back": c.held.iter().map(|a| json!({
            "target": a.target.to_string(),
            "from": shown(&a.from),
            "to": shown(&a.to),
            "moves": ids(&a.moves),
            "reduces": ids(&a.reduces),
        })).collect::<Vec<_>>(),
        "held_back_updates": c.held_updates.iter().map(|u| json!({"name": u.name, "fields": u.fields, "reduces": ids(&u.reduces)})).collect::<Vec<_>>(),
        "refused": c.refused,
        "drift": c.drift.iter().map(drift_json).collect::<Vec<_>>(),
    })
}
