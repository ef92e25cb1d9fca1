//! `GET /_sandbox/world`: the whole world as JSON, for people debugging a test and for tests
//! that assert on state rather than on API answers. Read-only; the shape is for humans and may
//! grow, but existing keys keep their meaning.

use serde_json::{json, Map, Value};

use crate::wire::iso8601;
use crate::world::{Parent, World};

fn parent(p: &Option<Parent>) -> Value {
    match p {
        None => Value::Null,
        Some(Parent::Root) => json!("root"),
        Some(Parent::Ou(id)) => json!(id),
    }
}

pub fn world_json(w: &World) -> Value {
    let organization = w.organization.as_ref().map(|o| {
        json!({
            "id": o.id,
            "root_id": o.root_id,
            "management_account": o.management_account,
            "organizational_units": o.ous.values().map(|ou| json!({
                "id": ou.id, "name": ou.name, "parent": parent(&Some(ou.parent.clone())),
            })).collect::<Vec<_>>(),
        })
    });
    let accounts: Vec<Value> = w
        .accounts
        .values()
        .map(|a| {
            json!({
                "id": a.id, "name": a.name, "email": a.email, "state": a.state.as_str(),
                "parent": parent(&a.parent), "volume_bytes_per_day": a.volume_bytes_per_day,
            })
        })
        .collect();
    let mut regions = Map::new();
    for (name, r) in &w.regions {
        let graphs: Vec<Value> = r
            .graphs
            .values()
            .map(|g| {
                json!({
                    "arn": g.arn,
                    "administrator": g.administrator,
                    "members": g.members.values().map(|m| json!({
                        "account_id": m.account_id,
                        "email": m.email,
                        "status": m.status.as_str(),
                        "disabled_reason": m.disabled_reason,
                        "invitation_type": m.invitation_type.as_str(),
                        "updated_at": iso8601(m.updated_at),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let members: Map<String, Value> = r
            .hub_members
            .iter()
            .map(|(admin, ms)| {
                let list = ms
                    .values()
                    .map(|m| {
                        json!({
                            "account_id": m.account_id,
                            "email": m.email,
                            "status": m.status.as_str(),
                            "organization_managed": m.organization_managed,
                            "invitation_id": m.invitation_id,
                        })
                    })
                    .collect::<Vec<_>>();
                (admin.clone(), Value::Array(list))
            })
            .collect();
        regions.insert(
            name.clone(),
            json!({
                "detective_graphs": graphs,
                "securityhub_enabled": r.hubs.keys().collect::<Vec<_>>(),
                "securityhub_members": members,
                "securityhub_standards": r.hub_standards,
                "securityhub_configuration_type": r.hub_organization.configuration_type,
            }),
        );
    }
    json!({
        "organization": organization,
        "accounts": accounts,
        "detective_administrator": w.detective_administrator,
        "securityhub_administrator": w.securityhub_administrator,
        "regions": regions,
        "central_configuration": central_json(w),
    })
}

/// Central configuration: aggregators, policies, direct associations and every target's state.
fn central_json(w: &World) -> Value {
    let c = &w.central;
    let aggregators: Map<String, Value> = (c.aggregators.iter())
        .map(|(account, a)| {
            let linked = a.linked(w.regions.keys());
            let a = json!({"arn": a.arn, "home_region": a.home, "linking": a.linking.as_str(), "linked_regions": linked});
            (account.clone(), a)
        })
        .collect();
    let policies: Vec<Value> = (c.policies.values())
        .map(|p| json!({"id": p.id, "name": p.name, "policy": p.body}))
        .collect();
    let states: Vec<Value> = (c.states.iter())
        .map(|(t, s)| {
            json!({
                "target": t.id(), "type": t.kind(), "configuration": s.configuration.id(),
                "applied": s.applied, "status": s.status.as_str(), "message": s.message,
            })
        })
        .collect();
    json!({"aggregators": aggregators, "policies": policies, "associations": states})
}
