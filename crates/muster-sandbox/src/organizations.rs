//! AWS Organizations (awsJson1_1: `POST /`, `X-Amz-Target: AWSOrganizationsV20161128.<Op>`),
//! the read-only operations muster uses to expand OUs into accounts. Follows the botocore model
//! `organizations-2016-11-28`: errors name themselves in the body's `__type` and are 400 unless
//! they are faults; pages hold at most 20 items.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{json, Value};

use crate::wire::{epoch_seconds, page, ApiError, Service, Validator};
use crate::world::{Account, Organization, Parent, World};
use crate::{Reply, Req};

pub const TARGET_PREFIX: &str = "AWSOrganizationsV20161128.";
const SVC: Service = Service::Organizations;
const MAX_RESULTS_DEFAULT: usize = 20;

const PARENT_ID_PATTERN: &str = r"^(r-[0-9a-z]{4,32})|(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})$";
const ACCOUNT_ID_PATTERN: &str = r"^\d{12}$";
static PARENT_ID: LazyLock<Regex> = LazyLock::new(|| Regex::new(PARENT_ID_PATTERN).unwrap());
static ACCOUNT_ID: LazyLock<Regex> = LazyLock::new(|| Regex::new(ACCOUNT_ID_PATTERN).unwrap());
const SERVICE_PRINCIPAL_PATTERN: &str = r"^[\w+=,.@-]*$";
static SERVICE_PRINCIPAL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(SERVICE_PRINCIPAL_PATTERN).unwrap());

pub const OPERATIONS: [&str; 8] = [
    "DescribeOrganization",
    "ListRoots",
    "ListOrganizationalUnitsForParent",
    "ListChildren",
    "ListAccounts",
    "ListAccountsForParent",
    "DescribeAccount",
    "ListDelegatedAdministrators",
];

/// The operation an `X-Amz-Target` header names.
pub fn operation(target: &str) -> Option<&'static str> {
    let op = target.strip_prefix(TARGET_PREFIX)?;
    OPERATIONS.into_iter().find(|o| *o == op)
}

pub fn handle(world: &mut World, req: &Req, op: &str) -> Result<Reply, ApiError> {
    answer(world, req, op).map(Reply::from)
}

fn answer(world: &mut World, req: &Req, op: &str) -> Result<Value, ApiError> {
    let org = world.organization.as_ref().ok_or_else(|| {
        ApiError::of(
            SVC,
            "AWSOrganizationsNotInUseException",
            "Your account is not a member of an organization.",
        )
    })?;
    if !world.in_organization(&req.caller) {
        return Err(ApiError::of(
            SVC,
            "AWSOrganizationsNotInUseException",
            "Your account is not a member of an organization.",
        ));
    }
    // Any member may describe its organization; listing it takes the management account or a
    // delegated administrator.
    let may_list = req.caller == org.management_account
        || world.detective_administrator.as_deref() == Some(req.caller.as_str())
        || world.securityhub_administrator.as_deref() == Some(req.caller.as_str());
    if op != "DescribeOrganization" && !may_list {
        return Err(ApiError::of(
            SVC,
            "AccessDeniedException",
            "You don't have permissions to access this resource.",
        ));
    }
    match op {
        "DescribeOrganization" => Ok(describe_organization(world, org)),
        "ListRoots" => list_roots(req, org),
        "ListOrganizationalUnitsForParent" => list_ous(req, org),
        "ListChildren" => list_children(world, req, org),
        "ListAccounts" => list_accounts(world, req, org, None),
        "ListAccountsForParent" => {
            let parent = parent_of(req)?;
            let parent = org.parent(&parent).ok_or_else(parent_not_found)?;
            list_accounts(world, req, org, Some(parent))
        }
        "DescribeAccount" => describe_account(world, req, org),
        "ListDelegatedAdministrators" => list_delegated_administrators(world, req, org),
        _ => Err(ApiError::new(
            400,
            "UnknownOperationException",
            format!("unknown operation {op}"),
        )),
    }
}

/// Organizations' InvalidInputException carries a machine-readable reason.
fn invalid(v: &Validator) -> ApiError {
    if v.malformed.is_some() {
        return ApiError::of(SVC, "InvalidInputException", v.message());
    }
    let reason = match v.violations.first().map(String::as_str) {
        None => "INVALID_PATTERN",
        Some(m) if m.contains("not be null") => "INPUT_REQUIRED",
        Some(m) if m.contains("value less than") => "MAX_VALUE_EXCEEDED",
        Some(m) if m.contains("value greater than") => "MIN_VALUE_EXCEEDED",
        Some(m) if m.contains("enum") => "INVALID_ENUM",
        Some(m) if m.contains("length less than") => "MAX_LENGTH_EXCEEDED",
        Some(_) => "INVALID_PATTERN",
    };
    ApiError::of(SVC, "InvalidInputException", v.message()).field("Reason", reason)
}

fn check(v: Validator) -> Result<(), ApiError> {
    v.finish(invalid)
}

fn parent_not_found() -> ApiError {
    ApiError::of(
        SVC,
        "ParentNotFoundException",
        "We can't find a root or OU with the ParentId that you specified.",
    )
}

/// MaxResults (1..20) and NextToken; the token is bound to `scope`.
fn paging(req: &Req, scope: &str) -> Result<(usize, Option<String>), ApiError> {
    let mut v = Validator::default();
    let max = match v.integer(req.body, "MaxResults") {
        Some(n) => {
            v.range("maxResults", n, 1, 20);
            usize::try_from(n).unwrap_or(MAX_RESULTS_DEFAULT)
        }
        None => MAX_RESULTS_DEFAULT,
    };
    let token = v.string(req.body, "NextToken", false).map(str::to_owned);
    check(v)?;
    let after = match token {
        None => None,
        Some(t) => Some(req.tokens.open(scope, &t).ok_or_else(|| {
            ApiError::of(
                SVC,
                "InvalidInputException",
                "You specified an invalid value for nextToken. You must get the value from the response to a previous call to the API.",
            )
            .field("Reason", "INVALID_NEXT_TOKEN")
        })?),
    };
    Ok((max, after))
}

fn parent_of(req: &Req) -> Result<String, ApiError> {
    let mut v = Validator::default();
    let parent = v.string(req.body, "ParentId", true).map(str::to_owned);
    if let Some(p) = &parent {
        v.length("parentId", p, 0, 100);
        v.pattern("parentId", p, &PARENT_ID, PARENT_ID_PATTERN);
    }
    check(v)?;
    Ok(parent.unwrap_or_default())
}

fn describe_organization(world: &World, org: &Organization) -> Value {
    let email = world
        .accounts
        .get(&org.management_account)
        .map(|a| a.email.clone());
    json!({"Organization": {
        "Id": org.id,
        "Arn": org.arn(),
        "FeatureSet": "ALL",
        "MasterAccountArn": org.account_arn(&org.management_account),
        "MasterAccountId": org.management_account,
        "MasterAccountEmail": email,
        "AvailablePolicyTypes": [],
    }})
}

fn list_roots(req: &Req, org: &Organization) -> Result<Value, ApiError> {
    let scope = format!("ListRoots|{}", req.caller);
    let (max, after) = paging(req, &scope)?;
    let root = json!({"Id": org.root_id, "Arn": org.root_arn(), "Name": "Root", "PolicyTypes": []});
    let (list, next) = page(
        std::iter::once((org.root_id.as_str(), root)),
        after.as_deref(),
        max,
    );
    Ok(req.with_token(&scope, json!({ "Roots": list }), next))
}

fn ou_json(org: &Organization, id: &str, name: &str) -> Value {
    json!({"Id": id, "Arn": org.ou_arn(id), "Name": name})
}

fn list_ous(req: &Req, org: &Organization) -> Result<Value, ApiError> {
    let parent_id = parent_of(req)?;
    let parent = org.parent(&parent_id).ok_or_else(parent_not_found)?;
    let scope = format!("ListOUsForParent|{}|{parent_id}", req.caller);
    let (max, after) = paging(req, &scope)?;
    let items = org
        .ous
        .values()
        .filter(|ou| ou.parent == parent)
        .map(|ou| (ou.id.as_str(), ou));
    let (found, next) = page(items, after.as_deref(), max);
    let list: Vec<Value> = found
        .into_iter()
        .map(|ou| ou_json(org, &ou.id, &ou.name))
        .collect();
    Ok(req.with_token(&scope, json!({ "OrganizationalUnits": list }), next))
}

fn list_children(world: &World, req: &Req, org: &Organization) -> Result<Value, ApiError> {
    let parent_id = parent_of(req)?;
    let mut v = Validator::default();
    let child_type = v.string(req.body, "ChildType", true).map(str::to_owned);
    if let Some(t) = &child_type {
        v.one_of("childType", t, &["ACCOUNT", "ORGANIZATIONAL_UNIT"]);
    }
    check(v)?;
    let child_type = child_type.unwrap_or_default();
    let parent = org.parent(&parent_id).ok_or_else(parent_not_found)?;
    let scope = format!("ListChildren|{}|{parent_id}|{child_type}", req.caller);
    let (max, after) = paging(req, &scope)?;
    let (ids, next) = if child_type == "ACCOUNT" {
        let items = world
            .accounts_under(&parent)
            .map(|a| (a.id.as_str(), &a.id));
        page(items, after.as_deref(), max)
    } else {
        let items = org
            .ous
            .values()
            .filter(|ou| ou.parent == parent)
            .map(|ou| (ou.id.as_str(), &ou.id));
        page(items, after.as_deref(), max)
    };
    let list: Vec<Value> = ids
        .into_iter()
        .map(|id| json!({"Id": id, "Type": child_type}))
        .collect();
    Ok(req.with_token(&scope, json!({ "Children": list }), next))
}

fn account_json(org: &Organization, a: &Account) -> Value {
    json!({
        "Id": a.id,
        "Arn": org.account_arn(&a.id),
        "Email": a.email,
        "Name": a.name,
        "Status": a.state.as_str(),
        "State": a.state.as_str(),
        "JoinedMethod": if a.id == org.management_account { "CREATED" } else { "INVITED" },
        "JoinedTimestamp": epoch_seconds(a.joined),
    })
}

fn list_accounts(
    world: &World,
    req: &Req,
    org: &Organization,
    parent: Option<Parent>,
) -> Result<Value, ApiError> {
    let scope = match &parent {
        None => format!("ListAccounts|{}", req.caller),
        Some(p) => format!("ListAccountsForParent|{}|{p:?}", req.caller),
    };
    let (max, after) = paging(req, &scope)?;
    let items = world
        .accounts
        .values()
        .filter(|a| match &parent {
            None => a.parent.is_some(),
            Some(p) => a.parent.as_ref() == Some(p),
        })
        .map(|a| (a.id.as_str(), a));
    let (found, next) = page(items, after.as_deref(), max);
    let list: Vec<Value> = found.into_iter().map(|a| account_json(org, a)).collect();
    Ok(req.with_token(&scope, json!({ "Accounts": list }), next))
}

/// The delegated administrators of the services the world has them for (Detective's and
/// Security Hub's), each account once, in account order; `ServicePrincipal` keeps one service's.
fn list_delegated_administrators(
    world: &World,
    req: &Req,
    org: &Organization,
) -> Result<Value, ApiError> {
    let mut v = Validator::default();
    let principal = v.string(req.body, "ServicePrincipal", false);
    if let Some(p) = principal {
        v.length("servicePrincipal", p, 1, 128);
        v.pattern(
            "servicePrincipal",
            p,
            &SERVICE_PRINCIPAL,
            SERVICE_PRINCIPAL_PATTERN,
        );
    }
    check(v)?;
    let scope = format!(
        "ListDelegatedAdministrators|{}|{}",
        req.caller,
        principal.unwrap_or_default()
    );
    let (max, after) = paging(req, &scope)?;
    let delegated = [
        ("detective.amazonaws.com", &world.detective_administrator),
        (
            "securityhub.amazonaws.com",
            &world.securityhub_administrator,
        ),
    ];
    let mut ids: Vec<&str> = delegated
        .iter()
        .filter(|(service, _)| principal.is_none_or(|p| p == *service))
        .filter_map(|(_, admin)| admin.as_deref())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let accounts = ids.into_iter().filter_map(|id| world.accounts.get(id));
    let (found, next) = page(accounts.map(|a| (a.id.as_str(), a)), after.as_deref(), max);
    let list: Vec<Value> = found
        .into_iter()
        .map(|a| {
            let mut admin = account_json(org, a);
            admin["DelegationEnabledDate"] = epoch_seconds(a.joined).into();
            admin
        })
        .collect();
    Ok(req.with_token(&scope, json!({ "DelegatedAdministrators": list }), next))
}

fn describe_account(world: &World, req: &Req, org: &Organization) -> Result<Value, ApiError> {
    let mut v = Validator::default();
    let id = v.string(req.body, "AccountId", true).map(str::to_owned);
    if let Some(id) = &id {
        v.pattern("accountId", id, &ACCOUNT_ID, ACCOUNT_ID_PATTERN);
    }
    check(v)?;
    let id = id.unwrap_or_default();
    let account = world
        .accounts
        .get(&id)
        .filter(|a| a.parent.is_some())
        .ok_or_else(|| {
            ApiError::of(
                SVC,
                "AccountNotFoundException",
                "You specified an account that doesn't exist.",
            )
        })?;
    Ok(json!({ "Account": account_json(org, account) }))
}
