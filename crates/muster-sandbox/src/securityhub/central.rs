//! Security Hub central configuration on the wire: finding aggregators, configuration policies
//! and their associations, as the model `securityhub-2018-10-26` defines them. Only the
//! delegated administrator may call these, and (but for listing and reading the aggregator)
//! only from the home Region; policies and associations also need the organization switched to
//! `CENTRAL`. The state and its rules are in `crate::central`.

use axum::http::Method;
use serde_json::{json, Value};

use super::{check, invalid_input, query, require_organization_administrator, SVC};
use crate::central::{
    uuid, Aggregator, Configuration, Linking, Policy, State, Status, Target, SELF_MANAGED,
};
use crate::wire::{iso8601, page, ApiError, Validator};
use crate::world::{is_region_name, World};
use crate::Req;

/// The model's MaxResults for these listings (1..100).
const MAX_RESULTS: i64 = 100;
/// What a listing gives without MaxResults.
const DEFAULT_RESULTS: usize = 10;
/// Policy names: alphanumerics and `-`, `.`, `!`, `*`, `/` (the API reference), at most 128.
const NAME_CHARS: &str = "-.!*/";

/// The central-configuration operations, by method and path.
pub fn operation(method: &Method, path: &str) -> Option<&'static str> {
    let op = match (method.as_str(), path) {
        ("GET", "/findingAggregator/list") => "ListFindingAggregators",
        ("POST", "/findingAggregator/create") => "CreateFindingAggregator",
        ("PATCH", "/findingAggregator/update") => "UpdateFindingAggregator",
        ("GET", p) if p.starts_with("/findingAggregator/get/") => "GetFindingAggregator",
        ("GET", "/configurationPolicy/list") => "ListConfigurationPolicies",
        ("POST", "/configurationPolicy/create") => "CreateConfigurationPolicy",
        ("GET", p) if p.starts_with("/configurationPolicy/get/") => "GetConfigurationPolicy",
        ("PATCH", p) if p.starts_with("/configurationPolicy/") => "UpdateConfigurationPolicy",
        ("DELETE", p) if p.starts_with("/configurationPolicy/") => "DeleteConfigurationPolicy",
        ("POST", "/configurationPolicyAssociation/list") => "ListConfigurationPolicyAssociations",
        ("POST", "/configurationPolicyAssociation/get") => "GetConfigurationPolicyAssociation",
        ("POST", "/configurationPolicyAssociation/batchget") => {
            "BatchGetConfigurationPolicyAssociations"
        }
        ("POST", "/configurationPolicyAssociation/associate") => {
            "StartConfigurationPolicyAssociation"
        }
        ("POST", "/configurationPolicyAssociation/disassociate") => {
            "StartConfigurationPolicyDisassociation"
        }
        _ => return None,
    };
    Some(op)
}

/// Answers a central-configuration operation; `None` when `op` is not one.
pub fn answer(world: &mut World, req: &Req, op: &str) -> Option<Result<Value, ApiError>> {
    // An account that joined an OU since the last association change inherits from it too.
    // (Settled by the service's `answer` before this.)
    if world.central.switch.is_some() {
        world.reassociate(None, req.now, req.call);
    }
    let result = match op {
        "ListFindingAggregators" => list_aggregators(world, req),
        "CreateFindingAggregator" => create_aggregator(world, req),
        "UpdateFindingAggregator" => update_aggregator(world, req),
        "GetFindingAggregator" => get_aggregator(world, req),
        "ListConfigurationPolicies" => list_policies(world, req),
        "CreateConfigurationPolicy" => create_policy(world, req),
        "GetConfigurationPolicy" => get_policy(world, req),
        "UpdateConfigurationPolicy" => update_policy(world, req),
        "DeleteConfigurationPolicy" => delete_policy(world, req),
        "ListConfigurationPolicyAssociations" => list_associations(world, req),
        "GetConfigurationPolicyAssociation" => get_association(world, req),
        "BatchGetConfigurationPolicyAssociations" => batch_get_associations(world, req),
        "StartConfigurationPolicyAssociation" => associate(world, req),
        "StartConfigurationPolicyDisassociation" => disassociate(world, req),
        _ => return None,
    };
    Some(result)
}

fn access_denied(message: impl Into<String>) -> ApiError {
    ApiError::of(SVC, "AccessDeniedException", message)
}

fn not_found(message: impl Into<String>) -> ApiError {
    ApiError::of(SVC, "ResourceNotFoundException", message)
}

fn conflict(message: impl Into<String>) -> ApiError {
    ApiError::of(SVC, "ResourceConflictException", message)
}

/// The delegated administrator, calling from its home Region.
fn require_home(world: &World, req: &Req) -> Result<(), ApiError> {
    require_organization_administrator(world, req)?;
    match world.central.aggregators.get(&req.caller) {
        Some(a) if a.home == req.region => Ok(()),
        Some(a) => Err(invalid_input(format!(
            "This operation is only allowed in the home Region {} (called in {})",
            a.home, req.region
        ))),
        None => Err(invalid_input(
            "This operation needs a home Region: create a finding aggregator first",
        )),
    }
}

/// As `require_home`, with the organization under central configuration; for writes, not
/// managed by Security Hub CSPM policies in Organizations.
fn require_central(world: &World, req: &Req, write: bool) -> Result<(), ApiError> {
    require_home(world, req)?;
    let kind = (world.regions.get(&req.region)).map(|r| r.hub_organization.configuration_type);
    if kind != Some("CENTRAL") {
        return Err(access_denied(
            "The organization does not use central configuration: switch its configuration type to CENTRAL first",
        ));
    }
    if write && world.central.settings.managed_by_policies {
        return Err(access_denied(crate::central::MANAGED_BY_POLICIES));
    }
    Ok(())
}

/// MaxResults and NextToken, from the query string (`in_body` false) or the JSON body.
fn paging(req: &Req, scope: &str, in_body: bool) -> Result<(usize, Option<String>), ApiError> {
    let mut v = Validator::default();
    let (max, token) = if in_body {
        let max = v.integer(req.body, "MaxResults");
        let token = v.string(req.body, "NextToken", false).map(str::to_owned);
        (max, token)
    } else {
        let max =
            match query(req, "MaxResults") {
                None => None,
                Some(s) => Some(s.parse::<i64>().map_err(|_| {
                    invalid_input(format!("MaxResults must be an integer, not '{s}'"))
                })?),
            };
        (max, query(req, "NextToken").map(str::to_owned))
    };
    if let Some(n) = max {
        v.range("maxResults", n, 1, MAX_RESULTS);
    }
    check(v)?;
    let max = max.map_or(DEFAULT_RESULTS, |n| {
        usize::try_from(n).unwrap_or(DEFAULT_RESULTS)
    });
    let after = match token.as_deref() {
        None | Some("") => None,
        Some(t) => Some(
            (req.tokens.open(scope, t))
                .ok_or_else(|| invalid_input("Invalid NextToken provided"))?,
        ),
    };
    Ok((max, after))
}

/// The rest of the path after `prefix`: the identifier restJson1 put there.
fn path_identifier<'a>(req: &'a Req, prefix: &str) -> &'a str {
    req.path.strip_prefix(prefix).unwrap_or_default()
}

fn aggregator_json(a: &Aggregator) -> Value {
    let mut o = json!({
        "FindingAggregatorArn": a.arn,
        "FindingAggregationRegion": a.home,
        "RegionLinkingMode": a.linking.as_str(),
    });
    if !a.regions.is_empty() {
        o["Regions"] = json!(a.regions);
    }
    o
}

/// RegionLinkingMode and Regions, checked as the API reference says: Regions only (and then at
/// least one) with a mode that names Regions, never the home Region.
fn linking(req: &Req) -> Result<(Linking, Vec<String>), ApiError> {
    let mut v = Validator::default();
    let mode = v.string(req.body, "RegionLinkingMode", true);
    if let Some(m) = mode {
        v.one_of("regionLinkingMode", m, &Linking::NAMES);
    }
    let regions: Vec<String> = match v.list(req.body, "Regions", false) {
        None => Vec::new(),
        Some(list) => (list.iter().enumerate())
            .filter_map(|(i, r)| v.string_in(r, &format!("regions.{}.member", i + 1)))
            .collect(),
    };
    check(v)?;
    let linking = mode.and_then(Linking::parse).unwrap_or(Linking::NoRegions);
    if let Some(bad) = regions.iter().find(|r| !is_region_name(r)) {
        return Err(invalid_input(format!("Invalid region {bad}")));
    }
    match linking {
        Linking::NoRegions | Linking::AllRegions if !regions.is_empty() => {
            Err(invalid_input(format!(
                "Regions must be empty when RegionLinkingMode is {}",
                linking.as_str()
            )))
        }
        Linking::AllRegionsExceptSpecified | Linking::SpecifiedRegions if regions.is_empty() => {
            Err(invalid_input(format!(
                "Regions must list at least one Region when RegionLinkingMode is {}",
                linking.as_str()
            )))
        }
        _ if regions.contains(&req.region) => Err(invalid_input(format!(
            "The home Region {} cannot be one of the Regions",
            req.region
        ))),
        _ => Ok((linking, regions)),
    }
}

fn list_aggregators(world: &mut World, req: &Req) -> Result<Value, ApiError> {
    super::require_hub(world, req)?;
    let (max, after) = paging(req, "aggregators", false)?;
    let mine = world.central.aggregators.get(&req.caller).into_iter();
    let items = mine.map(|a| (a.arn.clone(), json!({"FindingAggregatorArn": a.arn})));
    let (list, next) = page(items, after.as_deref(), max);
    Ok(req.with_token("aggregators", json!({"FindingAggregators": list}), next))
}

fn create_aggregator(world: &mut World, req: &Req) -> Result<Value, ApiError> {
    let (linking, regions) = linking(req)?;
    super::require_hub(world, req)?;
    let member = world
        .regions
        .values()
        .any(|r| (r.hub_members.values()).any(|ms| ms.contains_key(&req.caller)));
    if member && world.securityhub_administrator.as_deref() != Some(req.caller.as_str()) {
        return Err(invalid_input(
            "A finding aggregator cannot be created by a member account.",
        ));
    }
    if let Some(a) = world.central.aggregators.get(&req.caller) {
        return Err(invalid_input(format!(
            "A finding aggregator already exists in {}: {}",
            a.home, a.arn
        )));
    }
    let a = Aggregator::new(&req.caller, &req.region, linking, regions);
    let out = aggregator_json(&a);
    world.central.aggregators.insert(req.caller.clone(), a);
    Ok(out)
}

fn update_aggregator(world: &mut World, req: &Req) -> Result<Value, ApiError> {
    let mut v = Validator::default();
    let arn = v
        .string(req.body, "FindingAggregatorArn", true)
        .map(str::to_owned);
    check(v)?;
    let (linking, regions) = linking(req)?;
    super::require_hub(world, req)?;
    let Some(a) = world.central.aggregators.get_mut(&req.caller) else {
        return Err(not_found("There is no finding aggregator"));
    };
    if arn.as_deref() != Some(a.arn.as_str()) {
        return Err(not_found(format!(
            "Finding aggregator {} not found",
            arn.unwrap_or_default()
        )));
    }
    if a.home != req.region {
        return Err(invalid_input(format!(
            "The finding aggregator can only be updated from its home Region {}",
            a.home
        )));
    }
    (a.linking, a.regions) = (linking, regions);
    Ok(aggregator_json(a))
}

fn get_aggregator(world: &mut World, req: &Req) -> Result<Value, ApiError> {
    super::require_hub(world, req)?;
    let arn = path_identifier(req, "/findingAggregator/get/");
    match world.central.aggregators.get(&req.caller) {
        Some(a) if a.arn == arn => Ok(aggregator_json(a)),
        _ => Err(not_found(format!("Finding aggregator {arn} not found"))),
    }
}

/// The `ConfigurationPolicy` union, checked: exactly its `SecurityHub` member, with at most one
/// of the enabled and disabled control lists.
fn policy_body(v: &mut Validator, value: &Value) -> Option<Value> {
    let union = v.object(value, "configurationPolicy")?;
    if union.len() != 1 || !union.contains_key("SecurityHub") {
        v.malformed = Some("'configurationPolicy' must set exactly one member: SecurityHub".into());
        return None;
    }
    let sh = v.object(&union["SecurityHub"], "configurationPolicy.securityHub")?;
    v.boolean(sh, "ServiceEnabled");
    let standards = v.list(sh, "EnabledStandardIdentifiers", false);
    for (i, s) in standards.into_iter().flatten().enumerate() {
        let p = format!(
            "configurationPolicy.securityHub.enabledStandardIdentifiers.{}.member",
            i + 1
        );
        if let Some(s) = v.string_in(s, &p) {
            non_empty(v, &p, &s);
        }
    }
    if let Some(c) = sh.get("SecurityControlsConfiguration") {
        controls(v, c);
    }
    Some(Value::Object(sh.clone()))
}

fn non_empty(v: &mut Validator, path: &str, s: &str) {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| regex::Regex::new(r".*\S.*").expect("a valid pattern"));
    v.pattern(path, s, re, r".*\S.*");
}

fn controls(v: &mut Validator, value: &Value) {
    let at = "configurationPolicy.securityHub.securityControlsConfiguration";
    let Some(c) = v.object(value, at) else { return };
    let lists = [
        "EnabledSecurityControlIdentifiers",
        "DisabledSecurityControlIdentifiers",
    ];
    let given = lists
        .iter()
        .filter(|l| !matches!(c.get(**l), None | Some(Value::Null)));
    if given.count() > 1 {
        v.malformed = Some(
            "Only one of EnabledSecurityControlIdentifiers and DisabledSecurityControlIdentifiers may be given"
                .into(),
        );
        return;
    }
    for list in lists {
        for (i, id) in v.list(c, list, false).into_iter().flatten().enumerate() {
            let p = format!("{at}.{}.{}.member", crate::wire::lower_first(list), i + 1);
            if let Some(id) = v.string_in(id, &p) {
                non_empty(v, &p, &id);
            }
        }
    }
    v.list(c, "SecurityControlCustomParameters", false);
}

/// A policy's name: the characters the API reference allows, 1..128 of them.
fn check_name(v: &mut Validator, name: &str) {
    v.length("name", name, 1, 128);
    let ok = |c: char| c.is_ascii_alphanumeric() || NAME_CHARS.contains(c);
    if !name.chars().all(ok) {
        v.malformed = Some(format!(
            "Invalid name '{name}': use alphanumeric characters and {NAME_CHARS}"
        ));
    }
}

fn policy_json(p: &Policy) -> Value {
    let mut o = json!({
        "Arn": p.arn,
        "Id": p.id,
        "Name": p.name,
        "UpdatedAt": iso8601(p.updated),
        "CreatedAt": iso8601(p.created),
        "ConfigurationPolicy": {"SecurityHub": p.body},
    });
    if let Some(d) = &p.description {
        o["Description"] = json!(d);
    }
    o
}

fn create_policy(world: &mut World, req: &Req) -> Result<Value, ApiError> {
    let mut v = Validator::default();
    let name = v.string(req.body, "Name", true);
    if let Some(n) = name {
        check_name(&mut v, n);
    }
    let description = v.string(req.body, "Description", false);
    if let Some(d) = description {
        non_empty(&mut v, "description", d);
    }
    let body = match req.body.get("ConfigurationPolicy") {
        None | Some(Value::Null) => {
            v.required("configurationPolicy");
            None
        }
        Some(p) => policy_body(&mut v, p),
    };
    check(v)?;
    require_central(world, req, true)?;
    let name = name.unwrap_or_default().to_owned();
    if world.central.policies.values().any(|p| p.name == name) {
        return Err(conflict(format!(
            "A configuration policy named {name} already exists"
        )));
    }
    let n = world.central.policies.len().to_string();
    let id = uuid(&[
        "configuration-policy",
        &req.caller,
        &name,
        &n,
        &req.call.to_string(),
    ]);
    let policy = Policy {
        arn: format!(
            "arn:aws:securityhub:{}:{}:configuration-policy/{id}",
            req.region, req.caller
        ),
        id: id.clone(),
        name,
        description: description.map(str::to_owned),
        created: req.now,
        updated: req.now,
        body: body.unwrap_or_default(),
    };
    let out = policy_json(&policy);
    world.central.policies.insert(id, policy);
    Ok(out)
}

/// The policy a path identifier names.
fn named_policy<'a>(world: &'a World, identifier: &str) -> Result<&'a Policy, ApiError> {
    let id = world.central.policy_id(identifier);
    (id.and_then(|id| world.central.policies.get(&id)))
        .ok_or_else(|| not_found(format!("Configuration policy {identifier} not found")))
}

fn get_policy(world: &mut World, req: &Req) -> Result<Value, ApiError> {
    require_central(world, req, false)?;
    let identifier = path_identifier(req, "/configurationPolicy/get/");
    named_policy(world, identifier).map(policy_json)
}

fn list_policies(world: &mut World, req: &Req) -> Result<Value, ApiError> {
    let (max, after) = paging(req, "policies", false)?;
    require_central(world, req, false)?;
    let items = world.central.policies.values().map(|p| {
        let mut s = json!({
            "Arn": p.arn, "Id": p.id, "Name": p.name,
            "UpdatedAt": iso8601(p.updated), "ServiceEnabled": p.service_enabled(),
        });
        if let Some(d) = &p.description {
            s["Description"] = json!(d);
        }
        (p.id.clone(), s)
    });
    let (list, next) = page(items, after.as_deref(), max);
    Ok(req.with_token(
        "policies",
        json!({"ConfigurationPolicySummaries": list}),
        next,
    ))
}

fn update_policy(world: &mut World, req: &Req) -> Result<Value, ApiError> {
    let mut v = Validator::default();
    let name = v.string(req.body, "Name", false);
    if let Some(n) = name {
        check_name(&mut v, n);
    }
    let description = v.string(req.body, "Description", false);
    if let Some(d) = description {
        non_empty(&mut v, "description", d);
    }
    if let Some(r) = v.string(req.body, "UpdatedReason", false) {
        non_empty(&mut v, "updatedReason", r);
    }
    let body = match req.body.get("ConfigurationPolicy") {
        None | Some(Value::Null) => None,
        Some(p) => policy_body(&mut v, p),
    };
    check(v)?;
    require_central(world, req, true)?;
    let id = named_policy(world, path_identifier(req, "/configurationPolicy/"))?
        .id
        .clone();
    if let Some(n) = name {
        if (world.central.policies.values()).any(|p| p.name == n && p.id != id) {
            return Err(conflict(format!(
                "A configuration policy named {n} already exists"
            )));
        }
    }
    let p = world.central.policies.get_mut(&id).expect("found above");
    if let Some(n) = name {
        p.name = n.to_owned();
    }
    if let Some(d) = description {
        p.description = Some(d.to_owned());
    }
    let changed = body.as_ref().is_some_and(|b| *b != p.body);
    if let Some(b) = body {
        p.body = b;
    }
    p.updated = req.now;
    let out = policy_json(p);
    if changed {
        world.reassociate(Some(&id), req.now, req.call);
    }
    Ok(out)
}

fn delete_policy(world: &mut World, req: &Req) -> Result<Value, ApiError> {
    require_central(world, req, true)?;
    let id = named_policy(world, path_identifier(req, "/configurationPolicy/"))?
        .id
        .clone();
    if world.central.is_associated(&id) {
        return Err(conflict(format!(
            "Configuration policy {id} is associated with one or more targets: disassociate it first"
        )));
    }
    world.central.policies.remove(&id);
    Ok(json!({}))
}

/// A `Target` union: exactly one of AccountId, OrganizationalUnitId, RootId, naming something
/// in the organization.
fn target(world: &World, value: Option<&Value>, path: &str) -> Result<Target, ApiError> {
    let mut v = Validator::default();
    let Some(value) = value.filter(|v| !v.is_null()) else {
        v.required(path);
        return Err(invalid_input(v.message()));
    };
    let Some(t) = v.object(value, path) else {
        return Err(invalid_input(v.message()));
    };
    let set: Vec<(&String, &Value)> = t.iter().filter(|(_, v)| !v.is_null()).collect();
    let [(kind, id)] = set.as_slice() else {
        return Err(invalid_input(format!(
            "'{path}' must set exactly one of AccountId, OrganizationalUnitId and RootId"
        )));
    };
    let id = v.string_in(id, &format!("{path}.{}", crate::wire::lower_first(kind)));
    check(v)?;
    let id = id.unwrap_or_default();
    let org = world.organization.as_ref();
    let found = match kind.as_str() {
        "AccountId" => world
            .in_organization(&id)
            .then(|| Target::Account(id.clone())),
        "OrganizationalUnitId" => {
            (org.is_some_and(|o| o.ous.contains_key(&id))).then(|| Target::Ou(id.clone()))
        }
        "RootId" => (org.is_some_and(|o| o.root_id == id)).then(|| Target::Root(id.clone())),
        other => {
            return Err(invalid_input(format!("'{path}' has no member {other}")));
        }
    };
    found.ok_or_else(|| not_found(format!("Target {id} is not in the organization")))
}

/// A configuration identifier: a policy's UUID or ARN, or SELF_MANAGED_SECURITY_HUB.
fn configuration(world: &World, req: &Req) -> Result<Configuration, ApiError> {
    let mut v = Validator::default();
    let identifier = v.string(req.body, "ConfigurationPolicyIdentifier", true);
    if let Some(i) = identifier {
        non_empty(&mut v, "configurationPolicyIdentifier", i);
    }
    check(v)?;
    let identifier = identifier.unwrap_or_default();
    if identifier == SELF_MANAGED {
        return Ok(Configuration::SelfManaged);
    }
    let id = world.central.policy_id(identifier);
    id.map(Configuration::Policy)
        .ok_or_else(|| not_found(format!("Configuration policy {identifier} not found")))
}

fn association_json(target: &Target, s: &State) -> Value {
    let mut o = json!({
        "ConfigurationPolicyId": s.configuration.id(),
        "TargetId": target.id(),
        "TargetType": target.kind(),
        "AssociationType": if s.applied { "APPLIED" } else { "INHERITED" },
        "UpdatedAt": iso8601(s.updated),
        "AssociationStatus": s.status.as_str(),
    });
    if let Some(m) = &s.message {
        o["AssociationStatusMessage"] = json!(m);
    }
    o
}

fn associate(world: &mut World, req: &Req) -> Result<Value, ApiError> {
    let configuration = configuration(world, req)?;
    let target = target(world, req.body.get("Target"), "target")?;
    require_central(world, req, true)?;
    world.central.applied.insert(target.clone(), configuration);
    world.reassociate(None, req.now, req.call);
    let state = &world.central.states[&target];
    Ok(association_json(&target, state))
}

fn disassociate(world: &mut World, req: &Req) -> Result<Value, ApiError> {
    let configuration = configuration(world, req)?;
    let target = target(world, req.body.get("Target"), "target")?;
    require_central(world, req, true)?;
    if world.central.applied.get(&target) != Some(&configuration) {
        return Err(not_found(format!(
            "{} is not associated with {} directly",
            target.id(),
            configuration.id()
        )));
    }
    world.central.applied.remove(&target);
    world.reassociate(None, req.now, req.call);
    Ok(json!({}))
}

fn get_association(world: &mut World, req: &Req) -> Result<Value, ApiError> {
    let target = target(world, req.body.get("Target"), "target")?;
    require_central(world, req, false)?;
    match world.central.states.get(&target) {
        Some(s) => Ok(association_json(&target, s)),
        None => Err(not_found(format!("{} has no configuration", target.id()))),
    }
}

fn batch_get_associations(world: &mut World, req: &Req) -> Result<Value, ApiError> {
    let mut v = Validator::default();
    let list = v
        .list(req.body, "ConfigurationPolicyAssociationIdentifiers", true)
        .cloned();
    check(v)?;
    require_central(world, req, false)?;
    let (mut found, mut unprocessed) = (Vec::new(), Vec::new());
    for (i, item) in list.unwrap_or_default().iter().enumerate() {
        let path = format!(
            "configurationPolicyAssociationIdentifiers.{}.member.target",
            i + 1
        );
        let target = target(world, item.get("Target"), &path);
        match target.map(|t| {
            (
                world
                    .central
                    .states
                    .get(&t)
                    .map(|s| association_json(&t, s)),
                t,
            )
        }) {
            Ok((Some(a), _)) => found.push(a),
            Ok((None, _)) | Err(_) => unprocessed.push(json!({
                "ConfigurationPolicyAssociationIdentifiers": item,
                "ErrorCode": "ResourceNotFoundException",
                "ErrorReason": "The target has no configuration",
            })),
        }
    }
    Ok(json!({
        "ConfigurationPolicyAssociations": found,
        "UnprocessedConfigurationPolicyAssociations": unprocessed,
    }))
}

/// AssociationFilters: a policy id (or SELF_MANAGED), an association type, a status.
struct Filters {
    policy: Option<String>,
    applied: Option<bool>,
    status: Option<String>,
}

fn filters(req: &Req) -> Result<Filters, ApiError> {
    let mut v = Validator::default();
    let mut f = Filters {
        policy: None,
        applied: None,
        status: None,
    };
    if let Some(raw) = req.body.get("Filters").filter(|v| !v.is_null()) {
        if let Some(o) = v.object(raw, "filters") {
            f.policy = v
                .string(o, "ConfigurationPolicyId", false)
                .map(str::to_owned);
            if let Some(t) = v.string(o, "AssociationType", false) {
                if v.one_of("filters.associationType", t, &["INHERITED", "APPLIED"]) {
                    f.applied = Some(t == "APPLIED");
                }
            }
            if let Some(s) = v.string(o, "AssociationStatus", false) {
                let all = ["PENDING", "SUCCESS", "FAILED", "DISABLED"];
                if v.one_of("filters.associationStatus", s, &all) {
                    f.status = Some(s.to_owned());
                }
            }
        }
    }
    check(v)?;
    Ok(f)
}

fn list_associations(world: &mut World, req: &Req) -> Result<Value, ApiError> {
    let (max, after) = paging(req, "associations", true)?;
    let f = filters(req)?;
    require_central(world, req, false)?;
    let keep = |s: &State| {
        f.policy
            .as_deref()
            .is_none_or(|p| s.configuration.id() == p)
            && f.applied.is_none_or(|a| s.applied == a)
            && f.status.as_deref().is_none_or(|st| s.status.as_str() == st)
    };
    let mut items: Vec<(String, Value)> = (world.central.states.iter())
        .filter(|(_, s)| keep(s))
        .map(|(t, s)| (t.key(), association_json(t, s)))
        .collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let (list, next) = page(items.into_iter(), after.as_deref(), max);
    Ok(req.with_token(
        "associations",
        json!({"ConfigurationPolicyAssociationSummaries": list}),
        next,
    ))
}

/// DescribeOrganizationConfiguration's `OrganizationConfiguration` in `region`.
pub fn organization_configuration(world: &World, region: &str) -> Value {
    let kind =
        (world.regions.get(region)).map_or("LOCAL", |r| r.hub_organization.configuration_type);
    if world.central.settings.managed_by_policies {
        return json!({
            "ConfigurationType": kind,
            "Status": Status::Disabled.as_str(),
            "StatusMessage": crate::central::MANAGED_BY_POLICIES,
        });
    }
    let status = match (&world.central.switch, kind) {
        (Some(s), "CENTRAL") if s.status == Status::Pending => "PENDING",
        _ => "ENABLED",
    };
    json!({"ConfigurationType": kind, "Status": status})
}

/// The preconditions of switching the organization to CENTRAL from `req.region`, then the
/// switch: CENTRAL in the home and linked Regions, `PENDING` until it settles.
pub fn switch_to_central(world: &mut World, req: &Req) -> Result<(), ApiError> {
    if world.central.settings.managed_by_policies {
        return Err(access_denied(crate::central::MANAGED_BY_POLICIES));
    }
    let management = world
        .organization
        .as_ref()
        .map(|o| o.management_account.as_str());
    if management == Some(req.caller.as_str()) {
        return Err(access_denied(
            "The organization management account cannot use central configuration: designate another account as the delegated administrator",
        ));
    }
    require_home(world, req)?;
    world.central.switch = Some(crate::central::Switch {
        status: Status::Pending,
        due: Some((req.call, req.now + world.central.settings.delay)),
    });
    for region in world.central_regions() {
        let o = &mut world.region_mut(&region).hub_organization;
        (o.configuration_type, o.auto_enable, o.auto_enable_standards) = ("CENTRAL", false, "NONE");
    }
    Ok(())
}

#[cfg(test)]
mod fuzz {
    //! Hostile requests to every central-configuration operation, seeded and counted: bodies of
    //! random JSON built from the model's member names, paths with random identifiers. Each must
    //! end in an answer or an API error, never a panic, and the world stays usable.

    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use serde_json::{json, Map, Value};

    use super::*;

    const NAMES: [&str; 16] = [
        "Name",
        "Description",
        "ConfigurationPolicy",
        "SecurityHub",
        "ServiceEnabled",
        "EnabledStandardIdentifiers",
        "SecurityControlsConfiguration",
        "Target",
        "AccountId",
        "OrganizationalUnitId",
        "RootId",
        "ConfigurationPolicyIdentifier",
        "RegionLinkingMode",
        "Regions",
        "MaxResults",
        "Filters",
    ];
    const OPS: [&str; 14] = [
        "ListFindingAggregators",
        "CreateFindingAggregator",
        "UpdateFindingAggregator",
        "GetFindingAggregator",
        "ListConfigurationPolicies",
        "CreateConfigurationPolicy",
        "GetConfigurationPolicy",
        "UpdateConfigurationPolicy",
        "DeleteConfigurationPolicy",
        "ListConfigurationPolicyAssociations",
        "GetConfigurationPolicyAssociation",
        "BatchGetConfigurationPolicyAssociations",
        "StartConfigurationPolicyAssociation",
        "StartConfigurationPolicyDisassociation",
    ];

    fn value(rng: &mut ChaCha8Rng, depth: u32) -> Value {
        match rng.random_range(0..if depth > 3 { 6 } else { 8 }) {
            0 => Value::Null,
            1 => json!(rng.random::<bool>()),
            2 => json!(rng.random_range(-5i64..200)),
            3 => json!(
                [
                    "",
                    " ",
                    "ALL_REGIONS",
                    "SELF_MANAGED_SECURITY_HUB",
                    "r-m5tr",
                    "ou-m5tr-workloads",
                    "300000000001",
                    "eu-west-1",
                    "x/y"
                ][rng.random_range(0..9)]
            ),
            4 => json!(1e300),
            5 => json!("\u{0}\u{feff}"),
            6 => Value::Array(
                (0..rng.random_range(0..4))
                    .map(|_| value(rng, depth + 1))
                    .collect(),
            ),
            _ => {
                let mut m = Map::new();
                for _ in 0..rng.random_range(0..4) {
                    m.insert(
                        NAMES[rng.random_range(0..NAMES.len())].to_owned(),
                        value(rng, depth + 1),
                    );
                }
                Value::Object(m)
            }
        }
    }

    #[test]
    fn hostile_requests_end_in_an_answer_or_an_error() {
        let mut w = crate::fixture::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/sandbox.yaml"),
        )
        .unwrap()
        .world;
        // Already CENTRAL from us-east-1 linking eu-west-1: every operation is reachable.
        let admin = "222222222222".to_owned();
        let regions = vec!["eu-west-1".to_owned()];
        let aggregator = Aggregator::new(&admin, "us-east-1", Linking::SpecifiedRegions, regions);
        w.central.aggregators.insert(admin, aggregator);
        w.central.switch = Some(crate::central::Switch {
            status: Status::Success,
            due: None,
        });
        for region in ["us-east-1", "eu-west-1"] {
            w.region_mut(region).hub_organization.configuration_type = "CENTRAL";
        }
        let tokens = crate::wire::Tokens::default();
        let mut rng = ChaCha8Rng::seed_from_u64(26);
        let cases: u64 = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(2000);
        for call in 0..cases {
            let op = OPS[rng.random_range(0..OPS.len())];
            let body = match value(&mut rng, 0) {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            let id = [
                "",
                "nope",
                "arn:aws:securityhub:us-east-1:222222222222:finding-aggregator/x",
                "%00",
            ][rng.random_range(0..4)];
            let path = format!("/configurationPolicy/get/{id}");
            let (caller, region) = (
                ["222222222222", "111111111111", "500000000001"][rng.random_range(0..3)],
                ["us-east-1", "eu-west-1"][rng.random_range(0..2)],
            );
            let query = vec![(
                "MaxResults".to_owned(),
                ["0", "101", "x", "5"][rng.random_range(0..4)].to_owned(),
            )];
            let req = Req {
                caller: caller.to_owned(),
                region: region.to_owned(),
                body: &body,
                query: &query,
                path: &path,
                now: std::time::SystemTime::now(),
                call,
                tokens: &tokens,
            };
            let answered = super::super::handle(&mut w, &req, op);
            if let Err(e) = answered {
                assert!(
                    (400..500).contains(&e.status),
                    "{op}: {} {}",
                    e.status,
                    e.code
                );
            }
        }
    }
}
