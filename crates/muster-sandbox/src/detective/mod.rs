//! Amazon Detective (restJson1): behavior graphs, their members and the invitations member
//! accounts receive. Paths, shapes, limits and errors follow the botocore model
//! `detective-2018-10-26`; what the model leaves open follows the API reference.

mod datasources;

use std::sync::LazyLock;
use std::time::SystemTime;

use axum::http::Method;
use regex::Regex;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::model::{EMAIL_PATTERN, EMAIL_PATTERN_SHOWN, GRAPH_ARN_PATTERN};
use crate::wire::{iso8601, page, ApiError, Service, Validator};
use crate::world::{
    graph_arn, DetectiveMember, DetectiveStatus, Graph, InvitationType, PendingVerification, World,
};
use crate::{Reply, Req};

static GRAPH_ARN: LazyLock<Regex> = LazyLock::new(|| Regex::new(GRAPH_ARN_PATTERN).unwrap());
static EMAIL: LazyLock<Regex> = LazyLock::new(|| Regex::new(EMAIL_PATTERN).unwrap());
static ACCOUNT_ID: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[0-9]+$").unwrap());

const MAX_RESULTS_DEFAULT: usize = 100;
pub(super) const SVC: Service = Service::Detective;

/// The operation a restJson1 request names by its method and path.
pub fn operation(method: &Method, path: &str) -> Option<&'static str> {
    let op = match (method.as_str(), path) {
        ("POST", "/graphs/list") => "ListGraphs",
        ("POST", "/graph") => "CreateGraph",
        ("POST", "/graph/members/list") => "ListMembers",
        ("POST", "/graph/members/get") => "GetMembers",
        ("POST", "/graph/members") => "CreateMembers",
        ("POST", "/graph/members/removal") => "DeleteMembers",
        ("POST", "/invitations/list") => "ListInvitations",
        ("PUT", "/invitation") => "AcceptInvitation",
        ("POST", "/invitation/removal") => "RejectInvitation",
        ("POST", "/membership/removal") => "DisassociateMembership",
        ("POST", "/orgs/describeOrganizationConfiguration") => "DescribeOrganizationConfiguration",
        ("POST", "/orgs/updateOrganizationConfiguration") => "UpdateOrganizationConfiguration",
        ("POST", "/graph/datasources/list") => "ListDatasourcePackages",
        ("POST", "/graph/datasources/update") => "UpdateDatasourcePackages",
        ("POST", "/graph/datasources/get") => "BatchGetGraphMemberDatasources",
        ("POST", "/orgs/adminAccountslist") => "ListOrganizationAdminAccounts",
        _ => return None,
    };
    Some(op)
}

pub fn handle(world: &mut World, req: &Req, op: &str) -> Result<Reply, ApiError> {
    world.settle(&req.region, req.now, req.call);
    match op {
        "ListGraphs" => list_graphs(world, req).map(Reply::from),
        "CreateGraph" => create_graph(world, req).map(Reply::from),
        "ListMembers" => list_members(world, req),
        "GetMembers" => get_members(world, req),
        "CreateMembers" => create_members(world, req).map(Reply::from),
        "DeleteMembers" => delete_members(world, req).map(Reply::from),
        "ListInvitations" => list_invitations(world, req),
        "AcceptInvitation" | "RejectInvitation" | "DisassociateMembership" => {
            respond_to_invitation(world, req, op).map(Reply::from)
        }
        "DescribeOrganizationConfiguration" | "UpdateOrganizationConfiguration" => {
            datasources::organization_configuration(world, req, op).map(Reply::from)
        }
        "ListDatasourcePackages" => datasources::list_packages(world, req),
        "UpdateDatasourcePackages" => datasources::update_packages(world, req).map(Reply::from),
        "BatchGetGraphMemberDatasources" => {
            datasources::member_datasources(world, req).map(Reply::from)
        }
        "ListOrganizationAdminAccounts" => list_admin_accounts(world, req),
        _ => Err(ApiError::new(
            404,
            "UnknownOperationException",
            format!("unknown operation {op}"),
        )),
    }
}

fn invalid(v: &Validator) -> ApiError {
    let code = if v.malformed.is_some() {
        "INVALID_REQUEST_BODY"
    } else if v.violations.iter().any(|m| m.contains("'graphArn'")) {
        "INVALID_GRAPH_ARN"
    } else {
        "INVALID_REQUEST_BODY"
    };
    ApiError::of(SVC, "ValidationException", v.message()).field("ErrorCode", code)
}

pub(super) fn check(v: Validator) -> Result<(), ApiError> {
    v.finish(invalid)
}

/// A graph taken out of its region to be worked on, put back.
fn put_back(world: &mut World, req: &Req, arn: &str, graph: Graph) {
    let region = world.regions.get_mut(&req.region).expect("region exists");
    region.graphs.insert(arn.to_owned(), graph);
}

/// A request naming a graph and a list of accounts (GetMembers, DeleteMembers), checked.
fn graph_and_ids<'a>(req: &Req<'a>) -> Result<(&'a str, Vec<String>), ApiError> {
    let mut v = Validator::default();
    let arn = graph_arn_member(&mut v, req.body);
    let ids = account_ids(&mut v, req.body, "AccountIds");
    check(v)?;
    Ok((arn.unwrap_or_default(), ids))
}

pub(super) fn graph_arn_member<'a>(
    v: &mut Validator,
    body: &'a Map<String, Value>,
) -> Option<&'a str> {
    let arn = v.string(body, "GraphArn", true)?;
    v.pattern("graphArn", arn, &GRAPH_ARN, GRAPH_ARN_PATTERN)
        .then_some(arn)
}

/// MaxResults and NextToken as every Detective list operation takes them.
pub(super) fn paging(v: &mut Validator, body: &Map<String, Value>) -> (usize, Option<String>) {
    let max = match v.integer(body, "MaxResults") {
        Some(n) => {
            v.range("maxResults", n, 1, 200);
            usize::try_from(n).unwrap_or(0)
        }
        None => MAX_RESULTS_DEFAULT,
    };
    let token = v.string(body, "NextToken", false).map(|t| {
        v.length("nextToken", t, 1, 1024);
        t.to_owned()
    });
    (max, token)
}

pub(super) fn open_token(
    req: &Req,
    scope: &str,
    token: Option<String>,
) -> Result<Option<String>, ApiError> {
    match token {
        None => Ok(None),
        Some(t) => req.tokens.open(scope, &t).map(Some).ok_or_else(|| {
            ApiError::of(
                SVC,
                "ValidationException",
                "Invalid NextToken: the token was not issued for this request",
            )
            .field("ErrorCode", "INVALID_REQUEST_BODY")
        }),
    }
}

fn account_ids(v: &mut Validator, body: &Map<String, Value>, name: &str) -> Vec<String> {
    account_ids_up_to(v, body, name, 50)
}

/// A required list of account ids, 1 to `max` of them, each 12 digits.
pub(super) fn account_ids_up_to(
    v: &mut Validator,
    body: &Map<String, Value>,
    name: &str,
    max: usize,
) -> Vec<String> {
    let Some(list) = v.list(body, name, true) else {
        return Vec::new();
    };
    let path = crate::wire::lower_first(name);
    v.count(&path, list.len(), 1, max);
    let mut ids = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let p = format!("{path}.{}.member", i + 1);
        if let Some(id) = v.string_in(item, &p) {
            v.length(&p, &id, 12, 12);
            v.pattern(&p, &id, &ACCOUNT_ID, "^[0-9]+$");
            ids.push(id);
        }
    }
    ids
}

fn not_found() -> ApiError {
    ApiError::of(
        SVC,
        "ResourceNotFoundException",
        "The request refers to a nonexistent resource.",
    )
}

pub(super) fn denied() -> ApiError {
    ApiError::of(
        SVC,
        "AccessDeniedException",
        "The request issuer does not have permission to access this resource or perform this operation.",
    )
}

fn conflict(message: &str) -> ApiError {
    ApiError::of(SVC, "ConflictException", message)
}

/// The caller's own graph, for the operations only its administrator may call.
pub(super) fn administered<'w>(
    world: &'w mut World,
    req: &Req,
    arn: &str,
) -> Result<&'w mut Graph, ApiError> {
    let graph = world
        .regions
        .get_mut(&req.region)
        .and_then(|r| r.graphs.get_mut(arn))
        .ok_or_else(not_found)?;
    if graph.administrator != req.caller {
        return Err(denied());
    }
    Ok(graph)
}

/// A timestamp as restJson1 sends it (`2026-11-23T19:42:31.123Z`), rendered once into a small
/// inline buffer so that a member's three copies of its update time cost one formatting.
#[derive(Clone, Copy)]
struct Iso {
    buf: [u8; 32],
    len: usize,
}

impl Iso {
    fn new(t: SystemTime) -> Self {
        use std::io::Write;
        let mut buf = [0u8; 32];
        let mut cursor = &mut buf[..];
        let written = write!(cursor, "{}", humantime::format_rfc3339_millis(t));
        let len = if written.is_ok() {
            32 - cursor.len()
        } else {
            0
        };
        Iso { buf, len }
    }
}

impl Serialize for Iso {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default())
    }
}

/// The model's `MemberDetail`, serialized straight from the world: ListMembers is the call
/// muster makes most, so it must not build a `serde_json::Value` per member.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MemberDetail<'a> {
    account_id: &'a str,
    email_address: &'a str,
    graph_arn: &'a str,
    master_id: &'a str,
    administrator_id: &'a str,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    disabled_reason: Option<&'static str>,
    invited_time: Iso,
    updated_time: Iso,
    invitation_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    volume_usage_in_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    volume_usage_updated_time: Option<Iso>,
    #[serde(skip_serializing_if = "Option::is_none")]
    percent_of_graph_utilization: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    percent_of_graph_utilization_updated_time: Option<Iso>,
    #[serde(skip_serializing_if = "Option::is_none")]
    volume_usage_by_datasource_package: Option<Packages<Usage>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    datasource_package_ingest_states: Option<Packages<&'static str>>,
}

/// A map keyed by datasource package; the sandbox reports only the core package.
#[derive(Serialize)]
struct Packages<T> {
    #[serde(rename = "DETECTIVE_CORE")]
    detective_core: T,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Usage {
    volume_usage_in_bytes: u64,
    volume_usage_update_time: Iso,
}

fn member_detail<'a>(world: &World, graph: &'a Graph, m: &'a DetectiveMember) -> MemberDetail<'a> {
    let verified = !matches!(
        m.status,
        DetectiveStatus::VerificationInProgress | DetectiveStatus::VerificationFailed
    );
    let volume = verified.then(|| world.volume_of(&m.account_id));
    let percent =
        volume.map(|v| v as f64 * 100.0 / world.settings.graph_volume_limit_bytes.max(1) as f64);
    let updated = Iso::new(m.updated_at);
    let at = || verified.then_some(updated);
    MemberDetail {
        account_id: &m.account_id,
        email_address: &m.email,
        graph_arn: &graph.arn,
        master_id: &graph.administrator,
        administrator_id: &graph.administrator,
        status: m.status.as_str(),
        disabled_reason: m.disabled_reason,
        invited_time: Iso::new(m.invited_at),
        updated_time: updated,
        invitation_type: m.invitation_type.as_str(),
        volume_usage_in_bytes: volume,
        volume_usage_updated_time: at(),
        percent_of_graph_utilization: percent,
        percent_of_graph_utilization_updated_time: at(),
        volume_usage_by_datasource_package: volume.map(|v| Packages {
            detective_core: Usage {
                volume_usage_in_bytes: v,
                volume_usage_update_time: updated,
            },
        }),
        datasource_package_ingest_states: verified.then(|| Packages {
            detective_core: if m.status == DetectiveStatus::Enabled {
                "STARTED"
            } else {
                "STOPPED"
            },
        }),
    }
}

/// A list answer: the items under `key` and, when more remain, a NextToken.
fn list_reply<T: Serialize>(
    req: &Req,
    scope: &str,
    key: &'static str,
    items: Vec<T>,
    next: Option<String>,
) -> Reply {
    #[derive(Serialize)]
    struct Out<T> {
        #[serde(flatten)]
        items: std::collections::BTreeMap<&'static str, Vec<T>>,
        #[serde(rename = "NextToken", skip_serializing_if = "Option::is_none")]
        next_token: Option<String>,
    }
    Reply::typed(&Out {
        items: [(key, items)].into(),
        next_token: next.map(|after| req.tokens.issue(scope, &after)),
    })
}

/// The page size and continuation of ListGraphs and ListInvitations, which take nothing else.
fn list_request(req: &Req, scope: &str) -> Result<(usize, Option<String>), ApiError> {
    let mut v = Validator::default();
    let (max, token) = paging(&mut v, req.body);
    check(v)?;
    Ok((max, open_token(req, scope, token)?))
}

fn list_graphs(world: &mut World, req: &Req) -> Result<Value, ApiError> {
    let scope = format!("ListGraphs|{}|{}", req.caller, req.region);
    let (max, after) = list_request(req, &scope)?;
    let graphs = world.regions.get(&req.region).map(|r| &r.graphs);
    let items = graphs
        .into_iter()
        .flatten()
        .filter(|(_, g)| g.administrator == req.caller)
        .map(|(arn, g)| {
            (
                arn.as_str(),
                json!({"Arn": g.arn, "CreatedTime": iso8601(g.created_at)}),
            )
        });
    let (list, next) = page(items, after.as_deref(), max);
    Ok(req.with_token(&scope, json!({"GraphList": list}), next))
}

/// The organization's Detective administrator, in every region where it has a graph: only the
/// management account may ask.
fn list_admin_accounts(world: &mut World, req: &Req) -> Result<Reply, ApiError> {
    let mut v = Validator::default();
    let (max, token) = paging(&mut v, req.body);
    check(v)?;
    let management = world
        .organization
        .as_ref()
        .map(|o| o.management_account.as_str());
    if management != Some(req.caller.as_str()) {
        return Err(ApiError::of(
            SVC,
            "AccessDeniedException",
            "Only the organization's management account can list its Detective administrator accounts.",
        ));
    }
    let scope = format!(
        "ListOrganizationAdminAccounts|{}|{}",
        req.caller, req.region
    );
    let after = open_token(req, &scope, token)?;
    let admin = world.detective_administrator.as_deref();
    let graph = admin.and_then(|a| world.regions.get(&req.region)?.graph_of(a));
    let items = graph.into_iter().map(|g| {
        let admin = g.administrator.as_str();
        let item = json!({
            "AccountId": admin,
            "GraphArn": g.arn,
            "DelegationTime": iso8601(g.created_at),
        });
        (admin, item)
    });
    let (list, next) = page(items, after.as_deref(), max);
    Ok(list_reply(req, &scope, "Administrators", list, next))
}

fn create_graph(world: &mut World, req: &Req) -> Result<Value, ApiError> {
    let mut v = Validator::default();
    match req.body.get("Tags") {
        None | Some(Value::Null) => {}
        Some(Value::Object(tags)) => v.count("tags", tags.len(), 1, 50),
        Some(_) => v.malformed = Some("'Tags' must be a map".into()),
    }
    check(v)?;
    let arn = graph_arn(&req.region, &req.caller);
    let region = world.region_mut(&req.region);
    // "If the same account calls CreateGraph with the same administrator account, it always
    // returns the same behavior graph ARN" (the model's documentation).
    if let Some(existing) = region.graph_of(&req.caller) {
        return Ok(json!({ "GraphArn": existing.arn }));
    }
    let graph = Graph::new(arn.clone(), &req.caller, req.now, &world.settings);
    let region = world.region_mut(&req.region);
    region.graphs.insert(arn.clone(), graph);
    Ok(json!({ "GraphArn": arn }))
}

fn list_members(world: &mut World, req: &Req) -> Result<Reply, ApiError> {
    let mut v = Validator::default();
    let arn = graph_arn_member(&mut v, req.body);
    let (max, token) = paging(&mut v, req.body);
    check(v)?;
    let arn = arn.unwrap_or_default();
    administered(world, req, arn)?;
    let scope = format!("ListMembers|{}|{arn}", req.caller);
    let after = open_token(req, &scope, token)?;
    let graph = &world.regions[&req.region].graphs[arn];
    let items = graph.members.iter().map(|(id, m)| (id.as_str(), m));
    let (members, next) = page(items, after.as_deref(), max);
    let list = members
        .into_iter()
        .map(|m| member_detail(world, graph, m))
        .collect();
    Ok(list_reply(req, &scope, "MemberDetails", list, next))
}

fn get_members(world: &mut World, req: &Req) -> Result<Reply, ApiError> {
    let (arn, ids) = graph_and_ids(req)?;
    administered(world, req, arn)?;
    let graph = &world.regions[&req.region].graphs[arn];
    let mut found = Vec::new();
    let mut unprocessed = Vec::new();
    for id in ids {
        match graph.members.get(&id) {
            Some(m) => found.push(member_detail(world, graph, m)),
            None => unprocessed.push(json!({
                "AccountId": id,
                "Reason": "The account is not a member of the behavior graph."
            })),
        }
    }
    Ok(Reply::typed(
        &json!({"MemberDetails": found, "UnprocessedAccounts": unprocessed}),
    ))
}

fn create_members(world: &mut World, req: &Req) -> Result<Value, ApiError> {
    let mut v = Validator::default();
    let arn = graph_arn_member(&mut v, req.body);
    if let Some(m) = v.string(req.body, "Message", false) {
        v.length("message", m, 1, 1000);
    }
    v.boolean(req.body, "DisableEmailNotification");
    let accounts = accounts_to_create(&mut v, req.body);
    check(v)?;
    let arn = arn.unwrap_or_default();
    administered(world, req, arn)?;

    let region = world
        .regions
        .get_mut(&req.region)
        .expect("graph found above");
    let mut graph = region.graphs.remove(arn).expect("graph found above");
    let mut unprocessed = Vec::new();
    let mut new = Vec::new();
    for (id, email) in accounts {
        if id == graph.administrator {
            unprocessed.push(json!({"AccountId": id, "Reason": "The account is the administrator account of the behavior graph."}));
        } else if graph.members.contains_key(&id) || new.iter().any(|(n, _)| n == &id) {
            unprocessed.push(json!({"AccountId": id, "Reason": "The account is already a member of the behavior graph."}));
        } else {
            new.push((id, email));
        }
    }
    let limit = world.settings.graph_member_limit;
    if graph.members.len() + new.len() > limit {
        let have = graph.members.len();
        put_back(world, req, arn, graph);
        return Err(ApiError::of(
            SVC,
            "ServiceQuotaExceededException",
            format!(
                "This request would cause the number of member accounts in the behavior graph to exceed the maximum allowed. \
                 A behavior graph cannot have more than {limit} member accounts (it has {have}, the request adds {}).",
                new.len()
            ),
        ));
    }
    let (created, pending) = add_members(world, req, arn, &mut graph, new);
    let region = world.regions.get_mut(&req.region).expect("region exists");
    region.pending.extend(pending);
    region.graphs.insert(arn.to_owned(), graph);
    Ok(json!({"Members": created, "UnprocessedAccounts": unprocessed}))
}

/// CreateMembers' `Accounts` (1..50 of AccountId and EmailAddress, each checked as the model
/// says): the (id, email) pairs that passed.
fn accounts_to_create(v: &mut Validator, body: &Map<String, Value>) -> Vec<(String, String)> {
    let mut accounts = Vec::new();
    let Some(list) = v.list(body, "Accounts", true) else {
        return accounts;
    };
    v.count("accounts", list.len(), 1, 50);
    for (i, item) in list.iter().enumerate() {
        let p = format!("accounts.{}.member", i + 1);
        let Some(obj) = v.object(item, &p) else {
            continue;
        };
        let id = v.string(obj, "AccountId", false);
        let email = v.string(obj, "EmailAddress", false);
        match id {
            Some(id) => {
                v.length(&format!("{p}.accountId"), id, 12, 12);
                v.pattern(&format!("{p}.accountId"), id, &ACCOUNT_ID, "^[0-9]+$");
            }
            None => v.required(&format!("{p}.accountId")),
        }
        match email {
            Some(e) => {
                v.length(&format!("{p}.emailAddress"), e, 1, 64);
                v.pattern(&format!("{p}.emailAddress"), e, &EMAIL, EMAIL_PATTERN_SHOWN);
            }
            None => v.required(&format!("{p}.emailAddress")),
        }
        if let (Some(id), Some(e)) = (id, email) {
            accounts.push((id.to_owned(), e.to_owned()));
        }
    }
    accounts
}

/// Adds `new` to `graph`: organization accounts invited by the organization's administrator
/// are enabled at once (as far as the graph's volume allows), the others wait for verification.
/// The member details to answer with, and the members now pending.
fn add_members(
    world: &World,
    req: &Req,
    arn: &str,
    graph: &mut Graph,
    new: Vec<(String, String)>,
) -> (Vec<Value>, Vec<(String, String)>) {
    let by_org_admin = world.detective_administrator.as_deref() == Some(req.caller.as_str());
    let mut created = Vec::new();
    let mut pending = Vec::new();
    // The graph's ingest, worked out once for the batch (new members are not in it yet).
    let mut used = by_org_admin.then(|| world.volume_used(graph, ""));
    for (id, email) in new {
        let mut member = DetectiveMember {
            account_id: id.clone(),
            email,
            status: DetectiveStatus::VerificationInProgress,
            disabled_reason: None,
            invitation_type: InvitationType::Invitation,
            invited_at: req.now,
            updated_at: req.now,
            pending: None,
        };
        if let Some(used) = used.as_mut().filter(|_| world.is_org_active(&id)) {
            let (status, reason) = world.enable_status_within(*used, &id);
            if status == DetectiveStatus::Enabled {
                *used = used.saturating_add(world.volume_of(&id));
            }
            member.status = status;
            member.disabled_reason = reason;
            member.invitation_type = InvitationType::Organization;
        } else {
            member.pending = Some(PendingVerification {
                created_by_call: req.call,
                due: req.now + world.settings.verification_delay,
            });
            pending.push((arn.to_owned(), id.clone()));
        }
        created.push(
            serde_json::to_value(member_detail(world, graph, &member))
                .expect("a member detail is plain JSON"),
        );
        graph.members.insert(id, member);
    }
    (created, pending)
}

fn delete_members(world: &mut World, req: &Req) -> Result<Value, ApiError> {
    let (arn, ids) = graph_and_ids(req)?;
    let graph = administered(world, req, arn)?;
    let mut deleted = Vec::new();
    let mut unprocessed = Vec::new();
    for id in ids {
        if graph.members.remove(&id).is_some() {
            deleted.push(id);
        } else {
            unprocessed.push(json!({"AccountId": id, "Reason": "The account is not a member of the behavior graph."}));
        }
    }
    Ok(json!({"AccountIds": deleted, "UnprocessedAccounts": unprocessed}))
}

fn list_invitations(world: &mut World, req: &Req) -> Result<Reply, ApiError> {
    let scope = format!("ListInvitations|{}|{}", req.caller, req.region);
    let (max, after) = list_request(req, &scope)?;
    let graphs = world.regions.get(&req.region).map(|r| &r.graphs);
    let items = graphs.into_iter().flatten().filter_map(|(arn, g)| {
        let m = g.members.get(&req.caller)?;
        let open_or_accepted = matches!(
            m.status,
            DetectiveStatus::Invited
                | DetectiveStatus::Enabled
                | DetectiveStatus::AcceptedButDisabled
        );
        (open_or_accepted && m.invitation_type == InvitationType::Invitation)
            .then_some((arn.as_str(), (g, m)))
    });
    let (found, next) = page(items, after.as_deref(), max);
    let list = found
        .into_iter()
        .map(|(g, m)| member_detail(world, g, m))
        .collect();
    Ok(list_reply(req, &scope, "Invitations", list, next))
}

/// AcceptInvitation, RejectInvitation and DisassociateMembership: the member side.
fn respond_to_invitation(world: &mut World, req: &Req, op: &str) -> Result<Value, ApiError> {
    let mut v = Validator::default();
    let arn = graph_arn_member(&mut v, req.body);
    check(v)?;
    let arn = arn.unwrap_or_default();
    let region = world.regions.get_mut(&req.region).ok_or_else(not_found)?;
    let mut graph = region.graphs.remove(arn).ok_or_else(not_found)?;
    let result = respond(world, &mut graph, req, op);
    put_back(world, req, arn, graph);
    result.map(|()| json!({}))
}

fn respond(world: &World, graph: &mut Graph, req: &Req, op: &str) -> Result<(), ApiError> {
    let member = graph.members.get(&req.caller).ok_or_else(not_found)?;
    let status = member.status;
    let organization = member.invitation_type == InvitationType::Organization;
    match (op, status) {
        (
            _,
            DetectiveStatus::VerificationInProgress | DetectiveStatus::VerificationFailed,
        ) => Err(not_found()),
        (_, _) if organization => Err(conflict(
            "The request attempted an invalid action: organization accounts are managed by the Detective administrator account.",
        )),
        ("AcceptInvitation", DetectiveStatus::Invited) => {
            let (status, reason) = world.enable_status(graph, &req.caller);
            let m = graph.members.get_mut(&req.caller).expect("member found above");
            m.status = status;
            m.disabled_reason = reason;
            m.updated_at = req.now;
            Ok(())
        }
        ("AcceptInvitation", _) => Err(conflict(
            "The request attempted an invalid action: the invitation was already accepted.",
        )),
        ("RejectInvitation", DetectiveStatus::Invited)
        | (
            "DisassociateMembership",
            DetectiveStatus::Enabled | DetectiveStatus::AcceptedButDisabled,
        ) => {
            graph.members.remove(&req.caller);
            Ok(())
        }
        ("RejectInvitation", _) => Err(conflict(
            "The request attempted an invalid action: the invitation was already accepted; use DisassociateMembership.",
        )),
        _ => Err(conflict(
            "The request attempted an invalid action: the invitation has not been accepted; use RejectInvitation.",
        )),
    }
}
