//! Detective's organization configuration (AutoEnable) and data-source packages: what the
//! organization's Detective administrator sets on its behavior graph, and which of each
//! member's data flows. Shapes, limits and errors follow the model `detective-2018-10-26`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde_json::{json, Map, Value};

use super::{account_ids_up_to, administered, check, denied, graph_arn_member, open_token, paging};
use crate::wire::{iso8601, page, ApiError as ApiErr, Validator};
use crate::world::{DetectiveStatus, Graph, World, DATASOURCE_PACKAGES};
use crate::{Reply, Req};

/// DescribeOrganizationConfiguration and UpdateOrganizationConfiguration: only the
/// organization's Detective administrator, on its own graph.
pub fn organization_configuration(world: &mut World, req: &Req, op: &str) -> Result<Value, ApiErr> {
    let mut v = Validator::default();
    let arn = graph_arn_member(&mut v, req.body);
    let auto_enable = v.boolean(req.body, "AutoEnable");
    check(v)?;
    if world.detective_administrator.as_deref() != Some(req.caller.as_str()) {
        return Err(denied());
    }
    let graph = administered(world, req, arn.unwrap_or_default()).map_err(|_| denied())?;
    if op == "UpdateOrganizationConfiguration" {
        if let Some(on) = auto_enable {
            graph.auto_enable = on;
        }
        return Ok(json!({}));
    }
    Ok(json!({ "AutoEnable": graph.auto_enable }))
}

/// `{state: {Timestamp}}`, as LastIngestStateChange and the ingest history send it.
fn changes(of: &[(&str, SystemTime)]) -> Value {
    let m: Map<String, Value> = of
        .iter()
        .map(|(state, t)| ((*state).to_owned(), json!({ "Timestamp": iso8601(*t) })))
        .collect();
    Value::Object(m)
}

/// ListDatasourcePackages: the graph's packages, a page at a time (by package name).
pub fn list_packages(world: &mut World, req: &Req) -> Result<Reply, ApiErr> {
    let mut v = Validator::default();
    let arn = graph_arn_member(&mut v, req.body);
    let (max, token) = paging(&mut v, req.body);
    check(v)?;
    let arn = arn.unwrap_or_default();
    let graph = administered(world, req, arn)?;
    let scope = format!("ListDatasourcePackages|{}|{arn}", req.caller);
    let after = open_token(req, &scope, token)?;
    let items = graph.packages.iter().map(|(p, (state, since))| {
        let detail = json!({
            "DatasourcePackageIngestState": state,
            "LastIngestStateChange": changes(&[(state, *since)]),
        });
        (*p, (*p, detail))
    });
    let (packages, next) = page(items, after.as_deref(), max);
    #[derive(serde::Serialize)]
    struct Out {
        #[serde(rename = "DatasourcePackages")]
        packages: BTreeMap<&'static str, Value>,
        #[serde(rename = "NextToken", skip_serializing_if = "Option::is_none")]
        next_token: Option<String>,
    }
    Ok(Reply::typed(&Out {
        packages: packages.into_iter().collect(),
        next_token: next.map(|after| req.tokens.issue(&scope, &after)),
    }))
}

/// The model's package names, as a request names them (1 to 25, each of the enum).
fn package_list(v: &mut Validator, body: &Map<String, Value>) -> Vec<&'static str> {
    let Some(list) = v.list(body, "DatasourcePackages", true) else {
        return Vec::new();
    };
    v.count("datasourcePackages", list.len(), 1, 25);
    let mut out = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let path = format!("datasourcePackages.{}.member", i + 1);
        let Some(name) = v.string_in(item, &path) else {
            continue;
        };
        if v.one_of(&path, &name, &DATASOURCE_PACKAGES) {
            out.extend(DATASOURCE_PACKAGES.iter().find(|p| **p == name));
        }
    }
    out
}

/// UpdateDatasourcePackages: starts each named package (a started one stays as it is).
/// Nothing in the API stops a package.
pub fn update_packages(world: &mut World, req: &Req) -> Result<Value, ApiErr> {
    let mut v = Validator::default();
    let arn = graph_arn_member(&mut v, req.body);
    let packages = package_list(&mut v, req.body);
    check(v)?;
    let graph = administered(world, req, arn.unwrap_or_default())?;
    for p in packages {
        let entry = graph.packages.entry(p).or_insert(("STOPPED", req.now));
        if entry.0 != "STARTED" {
            *entry = ("STARTED", req.now);
        }
    }
    Ok(json!({}))
}

/// A member's ingest history: for each of the graph's packages, the states it went through.
/// A member's data flows once it is `ENABLED` and the package is started, unless the world
/// says it does not (`Settings::not_ingesting`: then it stopped a second later).
fn history(world: &World, graph: &Graph, account: &str) -> Value {
    let Some(m) = graph.members.get(account) else {
        return json!({});
    };
    if m.status != DetectiveStatus::Enabled {
        return json!({});
    }
    let mut out = Map::new();
    for (p, (state, since)) in &graph.packages {
        let started = (*since).max(m.updated_at);
        let states: Vec<(&str, SystemTime)> = if *state != "STARTED" {
            vec![(state, *since)]
        } else if world
            .settings
            .not_ingesting
            .contains(&(account.to_owned(), *p))
        {
            vec![
                ("STARTED", started),
                ("STOPPED", started + Duration::from_secs(1)),
            ]
        } else {
            vec![("STARTED", started)]
        };
        out.insert((*p).to_owned(), changes(&states));
    }
    Value::Object(out)
}

/// BatchGetGraphMemberDatasources: 1 to 200 accounts; those not members of the graph come back
/// unprocessed.
pub fn member_datasources(world: &mut World, req: &Req) -> Result<Value, ApiErr> {
    let mut v = Validator::default();
    let arn = graph_arn_member(&mut v, req.body);
    let ids = account_ids_up_to(&mut v, req.body, "AccountIds", 200);
    check(v)?;
    let arn = arn.unwrap_or_default();
    administered(world, req, arn)?;
    let graph = &world.regions[&req.region].graphs[arn];
    let (mut found, mut unprocessed) = (Vec::new(), Vec::new());
    for id in ids {
        if graph.members.contains_key(&id) {
            found.push(json!({
                "AccountId": id,
                "GraphArn": arn,
                "DatasourcePackageIngestHistory": history(world, graph, &id),
            }));
        } else {
            unprocessed.push(json!({
                "AccountId": id,
                "Reason": "The account is not a member of the behavior graph."
            }));
        }
    }
    Ok(json!({"MemberDatasources": found, "UnprocessedAccounts": unprocessed}))
}
