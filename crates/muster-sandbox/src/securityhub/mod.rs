//! AWS Security Hub (restJson1): hubs, administrator-member relationships and invitations.
//! Follows the botocore model `securityhub-2018-10-26`; throttling is `LimitExceededException`
//! (429), and a caller whose hub is not enabled gets `InvalidAccessException` (401), as on AWS.

use axum::http::Method;
use serde_json::{json, Map, Value};

use crate::wire::{iso8601, page, ApiError, Service, Validator};
use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::world::{hub_arn, is_account_id, AccountState, HubMember, HubMemberStatus, World};
use crate::{Reply, Req};

mod central;

const SVC: Service = Service::SecurityHub;
const MAX_RESULTS_DEFAULT: usize = 50;

pub fn operation(method: &Method, path: &str) -> Option<&'static str> {
    let op = match (method.as_str(), path) {
        ("POST", "/accounts") => "EnableSecurityHub",
        ("GET", "/accounts") => "DescribeHub",
        ("POST", "/members") => "CreateMembers",
        ("GET", "/members") => "ListMembers",
        ("POST", "/members/invite") => "InviteMembers",
        ("POST", "/members/get") => "GetMembers",
        ("POST", "/members/delete") => "DeleteMembers",
        ("POST", "/members/disassociate") => "DisassociateMembers",
        ("GET", "/invitations") => "ListInvitations",
        ("POST", "/administrator") => "AcceptAdministratorInvitation",
        ("GET", "/administrator") => "GetAdministratorAccount",
        ("POST", "/invitations/decline") => "DeclineInvitations",
        ("POST", "/invitations/delete") => "DeleteInvitations",
        ("GET", "/invitations/count") => "GetInvitationsCount",
        ("POST", "/master") => "AcceptInvitation",
        ("GET", "/master") => "GetMasterAccount",
        ("POST", "/administrator/disassociate") => "DisassociateFromAdministratorAccount",
        ("POST", "/master/disassociate") => "DisassociateFromMasterAccount",
        ("GET", "/organization/configuration") => "DescribeOrganizationConfiguration",
        ("POST", "/organization/configuration") => "UpdateOrganizationConfiguration",
        _ => return central::operation(method, path),
    };
    Some(op)
}

pub fn handle(world: &mut World, req: &Req, op: &str) -> Result<Reply, ApiError> {
    answer(world, req, op).map(Reply::from)
}

fn answer(world: &mut World, req: &Req, op: &str) -> Result<Value, ApiError> {
    world.settle_central(req.now, req.call);
    if let Some(result) = central::answer(world, req, op) {
        return result;
    }
    match op {
        "EnableSecurityHub" => enable(world, req),
        "DescribeHub" => describe(world, req),
        "CreateMembers" => create_members(world, req),
        "InviteMembers" => invite_members(world, req),
        "ListMembers" => list_members(world, req),
        "GetMembers" => get_members(world, req),
        "DeleteMembers" | "DisassociateMembers" => remove_members(world, req, op),
        "ListInvitations" => list_invitations(world, req),
        "AcceptAdministratorInvitation" => accept(world, req, "AdministratorId"),
        "AcceptInvitation" => accept(world, req, "MasterId"),
        "GetAdministratorAccount" => administrator(world, req, "Administrator"),
        "GetMasterAccount" => administrator(world, req, "Master"),
        "DisassociateFromAdministratorAccount" | "DisassociateFromMasterAccount" => {
            leave(world, req)
        }
        "DeclineInvitations" | "DeleteInvitations" => decline(world, req),
        "GetInvitationsCount" => invitations_count(world, req),
        "DescribeOrganizationConfiguration" => organization_configuration(world, req),
        "UpdateOrganizationConfiguration" => update_organization(world, req),
        _ => Err(ApiError::new(
            404,
            "UnknownOperationException",
            format!("unknown operation {op}"),
        )),
    }
}

/// Only the organization's Security Hub administrator may read or change its configuration.
fn require_organization_administrator(world: &World, req: &Req) -> Result<(), ApiError> {
    require_hub(world, req)?;
    if world.securityhub_administrator.as_deref() == Some(req.caller.as_str()) {
        return Ok(());
    }
    Err(ApiError::of(
        SVC,
        "InvalidAccessException",
        format!(
            "Account {} is not an administrator for this organization",
            req.caller
        ),
    ))
}

/// The organization's Security Hub configuration in the region, as its delegated administrator
/// sees it.
fn organization_configuration(world: &World, req: &Req) -> Result<Value, ApiError> {
    require_organization_administrator(world, req)?;
    let region = world.regions.get(&req.region);
    let o = region
        .map(|r| r.hub_organization.clone())
        .unwrap_or_default();
    let members = region
        .and_then(|r| r.hub_members.get(&req.caller))
        .map_or(0, |m| m.len());
    Ok(json!({
        "AutoEnable": o.auto_enable,
        "MemberAccountLimitReached": members >= o.member_account_limit,
        "AutoEnableStandards": o.auto_enable_standards,
        "OrganizationConfiguration": central::organization_configuration(world, &req.region),
    }))
}

/// UpdateOrganizationConfiguration: AutoEnable (required), AutoEnableStandards and the
/// configuration type. Under `CENTRAL` configuration Security Hub keeps AutoEnable off and
/// standards `NONE`: asking for anything else is refused.
fn update_organization(world: &mut World, req: &Req) -> Result<Value, ApiError> {
    let mut v = Validator::default();
    let auto_enable = v.boolean(req.body, "AutoEnable");
    if matches!(req.body.get("AutoEnable"), None | Some(Value::Null)) {
        v.required("autoEnable");
    }
    let standards = v.string(req.body, "AutoEnableStandards", false);
    if let Some(s) = standards {
        v.one_of("autoEnableStandards", s, &["NONE", "DEFAULT"]);
    }
    let mut configuration_type = None;
    if let Some(c) = req.body.get("OrganizationConfiguration") {
        if let Some(c) = v.object(c, "organizationConfiguration") {
            if let Some(t) = v.string(c, "ConfigurationType", false) {
                if v.one_of(
                    "organizationConfiguration.configurationType",
                    t,
                    &["CENTRAL", "LOCAL"],
                ) {
                    configuration_type = Some(if t == "CENTRAL" { "CENTRAL" } else { "LOCAL" });
                }
            }
            if let Some(st) = v.string(c, "Status", false) {
                v.one_of(
                    "organizationConfiguration.status",
                    st,
                    &["PENDING", "ENABLED", "FAILED", "DISABLED"],
                );
            }
        }
    }
    check(v)?;
    require_organization_administrator(world, req)?;
    let current = world
        .region_mut(&req.region)
        .hub_organization
        .configuration_type;
    let kind = configuration_type.unwrap_or(current);
    let o = &world.region_mut(&req.region).hub_organization;
    // Required and checked above: present and a boolean here.
    let auto_enable = auto_enable.unwrap_or_default();
    let standards = match standards {
        Some("NONE") => "NONE",
        Some(_) => "DEFAULT",
        None if kind == "CENTRAL" => "NONE",
        None => o.auto_enable_standards,
    };
    if kind == "CENTRAL" && (auto_enable || standards != "NONE") {
        return Err(invalid_input(
            "AutoEnable must be false and AutoEnableStandards NONE when the organization uses central configuration",
        ));
    }
    match (current, kind) {
        ("CENTRAL", "CENTRAL") | ("LOCAL", "LOCAL") => {}
        (_, "CENTRAL") => return central::switch_to_central(world, req).map(|()| json!({})),
        _ => {
            world.central.switch = None;
            for region in world.central_regions() {
                world
                    .region_mut(&region)
                    .hub_organization
                    .configuration_type = "LOCAL";
            }
        }
    }
    let o = &mut world.region_mut(&req.region).hub_organization;
    o.configuration_type = kind;
    o.auto_enable = auto_enable;
    o.auto_enable_standards = standards;
    Ok(json!({}))
}

fn invalid_input(message: impl Into<String>) -> ApiError {
    ApiError::of(SVC, "InvalidInputException", message).field("Code", "InvalidInputException")
}

fn check(v: Validator) -> Result<(), ApiError> {
    if v.is_ok() {
        Ok(())
    } else {
        Err(invalid_input(v.message()))
    }
}

fn not_subscribed(account: &str) -> ApiError {
    ApiError::of(
        SVC,
        "InvalidAccessException",
        format!("Account {account} is not subscribed to AWS Security Hub"),
    )
}

/// Every operation but EnableSecurityHub needs the caller's hub enabled in the region.
fn require_hub(world: &World, req: &Req) -> Result<(), ApiError> {
    let enabled = world
        .regions
        .get(&req.region)
        .is_some_and(|r| r.hubs.contains_key(&req.caller));
    if enabled {
        Ok(())
    } else {
        Err(not_subscribed(&req.caller))
    }
}

fn query<'a>(req: &'a Req, name: &str) -> Option<&'a str> {
    req.query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// MaxResults (1..50) and NextToken from the query string, as ListMembers and ListInvitations
/// take them.
fn paging(req: &Req, scope: &str) -> Result<(usize, Option<String>), ApiError> {
    let max = match query(req, "MaxResults") {
        None => MAX_RESULTS_DEFAULT,
        Some(s) => {
            let n: i64 = s
                .parse()
                .map_err(|_| invalid_input(format!("MaxResults must be an integer, not '{s}'")))?;
            let mut v = Validator::default();
            v.range("maxResults", n, 1, 50);
            check(v)?;
            usize::try_from(n).unwrap_or(MAX_RESULTS_DEFAULT)
        }
    };
    let after = match query(req, "NextToken") {
        None | Some("") => None,
        Some(t) => Some(
            req.tokens
                .open(scope, t)
                .ok_or_else(|| invalid_input("Invalid NextToken provided"))?,
        ),
    };
    Ok((max, after))
}

fn account_id_list(v: &mut Validator, body: &Map<String, Value>) -> Vec<String> {
    let Some(list) = v.list(body, "AccountIds", true) else {
        return Vec::new();
    };
    list.iter()
        .enumerate()
        .filter_map(|(i, item)| v.string_in(item, &format!("accountIds.{}.member", i + 1)))
        .collect()
}

fn unprocessed(id: &str, result: &str) -> Value {
    json!({"AccountId": id, "ProcessingResult": result})
}

fn member_json(admin: &str, m: &HubMember) -> Value {
    let mut o = Map::new();
    o.insert("AccountId".into(), json!(m.account_id));
    if let Some(e) = &m.email {
        o.insert("Email".into(), json!(e));
    }
    o.insert("MasterId".into(), json!(admin));
    o.insert("AdministratorId".into(), json!(admin));
    o.insert("MemberStatus".into(), json!(m.status.as_str()));
    if let Some(t) = m.invited_at {
        o.insert("InvitedAt".into(), json!(iso8601(t)));
    }
    o.insert("UpdatedAt".into(), json!(iso8601(m.updated_at)));
    Value::Object(o)
}

fn enable(world: &mut World, req: &Req) -> Result<Value, ApiError> {
    let mut v = Validator::default();
    v.boolean(req.body, "EnableDefaultStandards");
    if let Some(g) = v.string(req.body, "ControlFindingGenerator", false) {
        v.one_of(
            "controlFindingGenerator",
            g,
            &["STANDARD_CONTROL", "SECURITY_CONTROL"],
        );
    }
    match req.body.get("Tags") {
        None | Some(Value::Null) => {}
        Some(Value::Object(tags)) => v.count("tags", tags.len(), 1, 50),
        Some(_) => v.malformed = Some("'Tags' must be a map".into()),
    }
    check(v)?;
    if world.centrally_managed(&req.caller, &req.region) {
        return Err(ApiError::of(
            SVC,
            "AccessDeniedException",
            "This account is currently associated with a central configuration policy",
        ));
    }
    let region = world.region_mut(&req.region);
    if region.hubs.contains_key(&req.caller) {
        return Err(ApiError::of(
            SVC,
            "ResourceConflictException",
            format!(
                "Account {} is already subscribed to Security Hub",
                req.caller
            ),
        ));
    }
    region.hubs.insert(req.caller.clone(), req.now);
    Ok(json!({}))
}

fn describe(world: &mut World, req: &Req) -> Result<Value, ApiError> {
    let subscribed = world
        .regions
        .get(&req.region)
        .and_then(|r| r.hubs.get(&req.caller))
        .copied()
        .ok_or_else(|| not_subscribed(&req.caller))?;
    let arn = hub_arn(&req.region, &req.caller);
    if let Some(asked) = query(req, "HubArn") {
        if asked != arn {
            return Err(ApiError::of(
                SVC,
                "ResourceNotFoundException",
                format!("Hub {asked} not found"),
            ));
        }
    }
    Ok(json!({
        "HubArn": arn,
        "SubscribedAt": iso8601(subscribed),
        "AutoEnableControls": true,
        "ControlFindingGenerator": "SECURITY_CONTROL",
    }))
}

/// CreateMembers' `AccountDetails` (1..50, each with an AccountId): (id, email) pairs.
fn account_details(v: &mut Validator, body: &Map<String, Value>) -> Vec<(String, Option<String>)> {
    let mut accounts = Vec::new();
    let Some(list) = v.list(body, "AccountDetails", true) else {
        return accounts;
    };
    v.count("accountDetails", list.len(), 1, 50);
    for (i, item) in list.iter().enumerate() {
        let p = format!("accountDetails.{}.member", i + 1);
        let Some(obj) = v.object(item, &p) else {
            continue;
        };
        let id = v.string(obj, "AccountId", false);
        if id.is_none() {
            v.required(&format!("{p}.accountId"));
        }
        let email = v.string(obj, "Email", false);
        if let Some(id) = id {
            accounts.push((id.to_owned(), email.map(str::to_owned)));
        }
    }
    accounts
}

fn create_members(world: &mut World, req: &Req) -> Result<Value, ApiError> {
    let mut v = Validator::default();
    let accounts = account_details(&mut v, req.body);
    check(v)?;
    require_hub(world, req)?;
    let by_org_admin = world.securityhub_administrator.as_deref() == Some(req.caller.as_str());
    let org_active: Vec<bool> = accounts
        .iter()
        .map(|(id, _)| by_org_admin && world.is_org_active(id))
        .collect();
    let other_admins: Vec<bool> = accounts
        .iter()
        .map(|(id, _)| {
            held_by_other_administrator(
                world,
                &req.region,
                &req.caller,
                id,
                &[HubMemberStatus::Enabled, HubMemberStatus::Invited],
            )
        })
        .collect();
    let limit = (world.regions.get(&req.region))
        .map_or(10_000, |r| r.hub_organization.member_account_limit);
    let members = members_of(world, req);
    let mut out = Vec::new();
    for (i, (id, email)) in accounts.into_iter().enumerate() {
        if !is_account_id(&id) {
            out.push(unprocessed(
                &id,
                "Invalid input: AccountId must be 12 digits",
            ));
        } else if id == req.caller {
            out.push(unprocessed(
                &id,
                "Invalid input: an administrator account cannot be its own member",
            ));
        } else if other_admins[i] {
            out.push(unprocessed(
                &id,
                "Operation failed: the account is already associated with another administrator account",
            ));
        } else if let Some(existing) = members.get_mut(&id) {
            // Re-creating a member is how an administrator brings back one that left.
            if matches!(
                existing.status,
                HubMemberStatus::Removed | HubMemberStatus::Resigned | HubMemberStatus::Deleted
            ) {
                // Organization accounts come back enabled, as when first created.
                existing.status = if org_active[i] {
                    HubMemberStatus::Enabled
                } else {
                    HubMemberStatus::Created
                };
                existing.organization_managed = org_active[i];
                existing.email = email.or(existing.email.take());
                existing.updated_at = req.now;
            } else {
                out.push(unprocessed(
                    &id,
                    "Operation failed: the account is already a member",
                ));
            }
        } else if members.len() >= limit {
            out.push(unprocessed(
                &id,
                "Operation failed: the administrator account has reached its member account limit",
            ));
        } else {
            members.insert(id.clone(), new_member(id, email, org_active[i], req.now));
        }
    }
    Ok(json!({ "UnprocessedAccounts": out }))
}

/// A member just created: an active organization account created by the organization's
/// administrator is enabled at once; any other account waits for an invitation.
fn new_member(id: String, email: Option<String>, org_active: bool, now: SystemTime) -> HubMember {
    let (status, organization_managed) = if org_active {
        (HubMemberStatus::Enabled, true)
    } else {
        (HubMemberStatus::Created, false)
    };
    HubMember {
        account_id: id,
        email,
        status,
        organization_managed,
        invitation_id: None,
        invited_at: None,
        updated_at: now,
    }
}

/// True when `account` is a member of an administrator other than `admin` with one of `statuses`.
fn held_by_other_administrator(
    world: &World,
    region: &str,
    admin: &str,
    account: &str,
    statuses: &[HubMemberStatus],
) -> bool {
    world.regions.get(region).is_some_and(|r| {
        r.hub_members.iter().any(|(a, ms)| {
            a != admin
                && ms
                    .get(account)
                    .is_some_and(|m| statuses.contains(&m.status))
        })
    })
}

/// The caller's members in the request's region.
fn members_of<'w>(world: &'w mut World, req: &Req) -> &'w mut BTreeMap<String, HubMember> {
    world
        .region_mut(&req.region)
        .hub_members
        .entry(req.caller.clone())
        .or_default()
}

fn invite_members(world: &mut World, req: &Req) -> Result<Value, ApiError> {
    let mut v = Validator::default();
    let ids = account_id_list(&mut v, req.body);
    check(v)?;
    require_hub(world, req)?;
    let suspended: Vec<bool> = ids
        .iter()
        .map(|id| {
            world
                .accounts
                .get(id)
                .is_some_and(|a| a.state == AccountState::Suspended)
        })
        .collect();
    let members = members_of(world, req);
    let mut out = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let Some(m) = members.get_mut(id) else {
            out.push(unprocessed(
                id,
                "Operation failed: the account is not a member; call CreateMembers first",
            ));
            continue;
        };
        match m.status {
            HubMemberStatus::Enabled => out.push(unprocessed(
                id,
                "Operation failed: the account is already an enabled member",
            )),
            _ if suspended[i] => {
                m.status = HubMemberStatus::AccountSuspended;
                m.updated_at = req.now;
                out.push(unprocessed(
                    id,
                    "Operation failed: the account is suspended",
                ));
            }
            _ => {
                m.status = HubMemberStatus::Invited;
                m.invited_at = Some(req.now);
                m.updated_at = req.now;
                m.invitation_id = Some(invitation_id(&req.region, &req.caller, id, req.call));
            }
        }
    }
    Ok(json!({ "UnprocessedAccounts": out }))
}

fn invitation_id(region: &str, admin: &str, member: &str, call: u64) -> String {
    let h = crate::world::stable_hash(&[region, admin, member, &call.to_string()]);
    format!("{h:016x}{:016x}", h.rotate_left(29) ^ call)
}

fn list_members(world: &mut World, req: &Req) -> Result<Value, ApiError> {
    let only_associated = match query(req, "OnlyAssociated") {
        None => true,
        Some("true") => true,
        Some("false") => false,
        Some(other) => {
            return Err(invalid_input(format!(
                "OnlyAssociated must be true or false, not '{other}'"
            )))
        }
    };
    let scope = format!(
        "ListMembers|{}|{}|{only_associated}",
        req.caller, req.region
    );
    let (max, after) = paging(req, &scope)?;
    require_hub(world, req)?;
    let members = world
        .regions
        .get(&req.region)
        .and_then(|r| r.hub_members.get(&req.caller));
    let items = members
        .into_iter()
        .flatten()
        .filter(|(_, m)| !only_associated || m.status == HubMemberStatus::Enabled)
        .map(|(id, m)| (id.as_str(), m));
    let (found, next) = page(items, after.as_deref(), max);
    let list: Vec<Value> = found
        .into_iter()
        .map(|m| member_json(&req.caller, m))
        .collect();
    Ok(req.with_token(&scope, json!({ "Members": list }), next))
}

fn get_members(world: &mut World, req: &Req) -> Result<Value, ApiError> {
    let mut v = Validator::default();
    let ids = account_id_list(&mut v, req.body);
    check(v)?;
    require_hub(world, req)?;
    let members = world
        .regions
        .get(&req.region)
        .and_then(|r| r.hub_members.get(&req.caller));
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for id in &ids {
        match members.and_then(|ms| ms.get(id)) {
            Some(m) => found.push(member_json(&req.caller, m)),
            None => missing.push(unprocessed(
                id,
                "Operation failed: member account not found",
            )),
        }
    }
    Ok(json!({"Members": found, "UnprocessedAccounts": missing}))
}

/// DeleteMembers drops the relationship; DisassociateMembers leaves it `Removed`.
fn remove_members(world: &mut World, req: &Req, op: &str) -> Result<Value, ApiError> {
    let mut v = Validator::default();
    let ids = account_id_list(&mut v, req.body);
    check(v)?;
    require_hub(world, req)?;
    let members = members_of(world, req);
    let mut out = Vec::new();
    for id in &ids {
        match (op, members.get_mut(id)) {
            (_, None) => out.push(unprocessed(
                id,
                "Operation failed: member account not found",
            )),
            ("DeleteMembers", Some(m)) if m.organization_managed && m.status == HubMemberStatus::Enabled => {
                out.push(unprocessed(
                    id,
                    "Operation failed: organization accounts must be disassociated before they are deleted",
                ))
            }
            ("DeleteMembers", Some(_)) => {
                members.remove(id);
            }
            (_, Some(m)) => {
                m.status = HubMemberStatus::Removed;
                m.updated_at = req.now;
            }
        }
    }
    if op == "DisassociateMembers" {
        return Ok(json!({}));
    }
    Ok(json!({ "UnprocessedAccounts": out }))
}

fn list_invitations(world: &mut World, req: &Req) -> Result<Value, ApiError> {
    let scope = format!("ListInvitations|{}|{}", req.caller, req.region);
    let (max, after) = paging(req, &scope)?;
    require_hub(world, req)?;
    let admins = world.regions.get(&req.region).map(|r| &r.hub_members);
    let items = admins.into_iter().flatten().filter_map(|(admin, ms)| {
        let m = ms.get(&req.caller)?;
        (m.status == HubMemberStatus::Invited).then_some((admin.as_str(), (admin, m)))
    });
    let (found, next) = page(items, after.as_deref(), max);
    let list: Vec<Value> = found
        .into_iter()
        .map(|(admin, m)| {
            json!({
                "AccountId": admin,
                "InvitationId": m.invitation_id,
                "InvitedAt": m.invited_at.map(iso8601),
                "MemberStatus": m.status.as_str(),
            })
        })
        .collect();
    Ok(req.with_token(&scope, json!({ "Invitations": list }), next))
}

/// The administrator whose member the caller is (associated), if any, under `key`
/// (`Administrator`, or the deprecated GetMasterAccount's `Master`).
fn administrator(world: &mut World, req: &Req, key: &str) -> Result<Value, ApiError> {
    require_hub(world, req)?;
    let admins = world.regions.get(&req.region).map(|r| &r.hub_members);
    let found = admins.into_iter().flatten().find_map(|(admin, ms)| {
        let m = ms.get(&req.caller)?;
        (m.status == HubMemberStatus::Enabled).then_some((admin, m))
    });
    Ok(match found {
        None => json!({}),
        Some((admin, m)) => {
            let mut out = Map::new();
            let invitation = json!({
                "AccountId": admin,
                "InvitationId": m.invitation_id,
                "InvitedAt": m.invited_at.map(iso8601),
                "MemberStatus": m.status.as_str(),
            });
            out.insert(key.to_owned(), invitation);
            Value::Object(out)
        }
    })
}

/// The open invitations the caller has in the region (the accepted one is not counted).
fn invitations_count(world: &mut World, req: &Req) -> Result<Value, ApiError> {
    require_hub(world, req)?;
    let admins = world.regions.get(&req.region).map(|r| &r.hub_members);
    let n = admins
        .into_iter()
        .flatten()
        .filter(|(_, ms)| {
            ms.get(&req.caller)
                .is_some_and(|m| m.status == HubMemberStatus::Invited)
        })
        .count();
    Ok(json!({ "InvitationsCount": n }))
}

/// The member leaves its administrator: the administrator sees it `Removed`. An organization's
/// member cannot leave on its own.
fn leave(world: &mut World, req: &Req) -> Result<Value, ApiError> {
    require_hub(world, req)?;
    let region = world.region_mut(&req.region);
    let member = region.hub_members.values_mut().find_map(|ms| {
        ms.get_mut(&req.caller)
            .filter(|m| m.status == HubMemberStatus::Enabled)
    });
    let Some(member) = member else {
        return Err(ApiError::of(
            SVC,
            "ResourceNotFoundException",
            "The request was rejected because the account is not associated with an administrator account.",
        ));
    };
    if member.organization_managed {
        return Err(invalid_input(
            "The account is a member of the organization's administrator account and cannot disassociate itself.",
        ));
    }
    member.status = HubMemberStatus::Removed;
    member.updated_at = req.now;
    Ok(json!({}))
}

/// AcceptAdministratorInvitation, or the deprecated AcceptInvitation (whose administrator is
/// `MasterId`).
fn accept(world: &mut World, req: &Req, admin_key: &str) -> Result<Value, ApiError> {
    let mut v = Validator::default();
    let admin = v.string(req.body, admin_key, true);
    let invitation = v.string(req.body, "InvitationId", true);
    check(v)?;
    let (admin, invitation) = (admin.unwrap_or_default(), invitation.unwrap_or_default());
    require_hub(world, req)?;
    if held_by_other_administrator(
        world,
        &req.region,
        admin,
        &req.caller,
        &[HubMemberStatus::Enabled],
    ) {
        return Err(invalid_input(
            "The account is already a member of another administrator account",
        ));
    }
    let member = world
        .regions
        .get_mut(&req.region)
        .and_then(|r| r.hub_members.get_mut(admin))
        .and_then(|ms| ms.get_mut(&req.caller))
        .filter(|m| {
            m.status == HubMemberStatus::Invited && m.invitation_id.as_deref() == Some(invitation)
        })
        .ok_or_else(|| {
            ApiError::of(
                SVC,
                "ResourceNotFoundException",
                format!("Invitation {invitation} from administrator {admin} not found"),
            )
        })?;
    member.status = HubMemberStatus::Enabled;
    member.updated_at = req.now;
    Ok(json!({}))
}

/// The member declines: its invitation is gone and the administrator sees it `Resigned`.
fn decline(world: &mut World, req: &Req) -> Result<Value, ApiError> {
    let mut v = Validator::default();
    let admins = account_id_list(&mut v, req.body);
    check(v)?;
    let now = req.now;
    let region = world.region_mut(&req.region);
    let mut out = Vec::new();
    for admin in &admins {
        let m = region
            .hub_members
            .get_mut(admin)
            .and_then(|ms| ms.get_mut(&req.caller))
            .filter(|m| m.status == HubMemberStatus::Invited);
        match m {
            Some(m) => {
                m.status = HubMemberStatus::Resigned;
                m.invitation_id = None;
                m.updated_at = now;
            }
            None => out.push(unprocessed(
                admin,
                "Operation failed: no open invitation from this account",
            )),
        }
    }
    Ok(json!({ "UnprocessedAccounts": out }))
}
