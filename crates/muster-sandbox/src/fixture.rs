//! Building a `World`: from a YAML fixture (the format README.md documents, e.g.
//! `config/sandbox.yaml`) or generated from a seed. Raw serde structs are checked into the world
//! model here, and every problem in a fixture is reported at once, each naming its field.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use crate::faults::{FaultConfig, Faults};
use crate::world::{
    graph_arn, is_account_id, is_region_name, stable_hash, Account, AccountState, DetectiveMember,
    DetectiveStatus, Graph, HubMember, HubMemberStatus, HubOrganization, InvitationType,
    Organization, OrganizationalUnit, Parent, Settings, World, DATASOURCE_PACKAGES, INGEST_STATES,
};

/// Fixtures larger than this are refused rather than read into memory.
pub const MAX_FIXTURE_BYTES: u64 = 64 * 1024 * 1024;

/// A world and the faults it starts with.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub world: World,
    pub faults: FaultConfig,
    /// The regions the fixture sets up; the first is the one `muster sandbox` exports.
    pub regions: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("cannot read fixture {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("fixture {path} is {size} bytes; the limit is {MAX_FIXTURE_BYTES}")]
    TooLarge { path: PathBuf, size: u64 },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: invalid fixture:\n  {}", .problems.join("\n  "))]
    Invalid { path: String, problems: Vec<String> },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFixture {
    regions: Vec<String>,
    organization: Option<RawOrganization>,
    #[serde(default)]
    external_accounts: Vec<RawAccount>,
    #[serde(default)]
    access_keys: BTreeMap<String, String>,
    /// IAM users and their access keys: a caller that is not the account's root.
    #[serde(default)]
    users: Vec<RawUser>,
    #[serde(default)]
    detective: RawDetective,
    #[serde(default)]
    securityhub: RawSecurityHub,
    #[serde(default)]
    faults: FaultConfig,
    /// IAM roles STS lets callers assume.
    #[serde(default)]
    roles: Vec<RawRole>,
    #[serde(default)]
    sts: RawSts,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    account: String,
    name: String,
    /// The user's access key id (16 to 128 letters and digits, as IAM's model allows).
    access_key: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRole {
    name: String,
    /// The accounts that have the role; absent means every account the fixture declares.
    accounts: Option<Vec<String>>,
    /// Who may assume it: account ids (any principal of the account) or role ARNs.
    #[serde(default)]
    trusted: Vec<String>,
    /// Whether a web identity (OIDC) token may assume it (AssumeRoleWithWebIdentity).
    #[serde(default)]
    web_identity: bool,
    #[serde(default = "default_max_session")]
    max_session_seconds: u64,
}

fn default_max_session() -> u64 {
    3600
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSts {
    /// The lifetime of every credential STS issues, whatever DurationSeconds asks.
    session_seconds: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOrganization {
    id: Option<String>,
    root_id: Option<String>,
    management_account: String,
    #[serde(default)]
    organizational_units: Vec<RawOu>,
    accounts: Vec<RawAccount>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOu {
    id: String,
    name: String,
    /// An OU id; absent means the root.
    parent: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    id: String,
    name: Option<String>,
    email: String,
    /// An OU id; absent means the root. Only for organization accounts.
    ou: Option<String>,
    #[serde(default = "active")]
    state: String,
    #[serde(default = "default_volume")]
    volume_bytes_per_day: u64,
}

fn active() -> String {
    "ACTIVE".into()
}

fn default_volume() -> u64 {
    5 * 1024 * 1024 * 1024
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDetective {
    administrator: Option<String>,
    /// Administrators with a behavior graph in every region; defaults to `[administrator]`.
    graphs_for: Option<Vec<String>>,
    #[serde(default)]
    members: Vec<RawDetectiveMember>,
    #[serde(default)]
    verification_delay_ms: u64,
    member_limit: Option<usize>,
    graph_volume_limit_bytes_per_day: Option<u64>,
    /// Every graph's AutoEnable (the organization behavior graph's setting).
    #[serde(default)]
    auto_enable: bool,
    /// Package states other than `STARTED` for every graph, e.g. `{EKS_AUDIT: STOPPED}`.
    #[serde(default)]
    datasource_packages: BTreeMap<String, String>,
    /// Members whose data does not flow for a started package.
    #[serde(default)]
    not_ingesting: Vec<RawNotIngesting>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotIngesting {
    account_id: String,
    package: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHubOrganization {
    #[serde(default)]
    auto_enable: bool,
    auto_enable_standards: Option<String>,
    configuration_type: Option<String>,
    member_account_limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDetectiveMember {
    administrator: String,
    region: String,
    account_id: String,
    email: String,
    status: String,
    #[serde(default)]
    organization: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecurityHub {
    administrator: Option<String>,
    /// `all` (every ACTIVE account), `none`, or a list of account ids; in every region.
    #[serde(default)]
    enabled: Enabled,
    #[serde(default)]
    members: Vec<RawHubMember>,
    /// The organization's configuration, the same in every region.
    organization: Option<RawHubOrganization>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum Enabled {
    #[default]
    Unset,
    Keyword(String),
    Accounts(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHubMember {
    administrator: String,
    region: String,
    account_id: String,
    email: Option<String>,
    status: String,
}

/// Reads and checks a fixture file.
pub fn load(path: &Path) -> Result<Fixture, FixtureError> {
    let read = |source| FixtureError::Read {
        path: path.to_owned(),
        source,
    };
    let size = std::fs::metadata(path).map_err(read)?.len();
    if size > MAX_FIXTURE_BYTES {
        return Err(FixtureError::TooLarge {
            path: path.to_owned(),
            size,
        });
    }
    let text = std::fs::read_to_string(path).map_err(read)?;
    parse(&path.display().to_string(), &text)
}

/// Parses fixture text; `name` is what errors call it.
pub fn parse(name: &str, text: &str) -> Result<Fixture, FixtureError> {
    let raw: RawFixture = serde_yaml::from_str(text).map_err(|e| FixtureError::Parse {
        path: name.to_owned(),
        message: e.to_string(),
    })?;
    build(raw).map_err(|problems| FixtureError::Invalid {
        path: name.to_owned(),
        problems,
    })
}

/// The fixture's `roles` and `sts`, checked into the world (after its accounts).
/// The fixture's IAM users, checked: a known account, IAM's user-name pattern, an access key
/// id of IAM's shape that no other user or `access_keys` entry has and that is not an account
/// id (a 12-digit key acts as that account's root).
fn users(world: &mut World, raw: &RawFixture, problems: &mut Vec<String>) {
    let name_ok = regex::Regex::new(r"^[\w+=,.@-]{1,64}$").expect("a valid pattern");
    let key_ok = regex::Regex::new(r"^\w{16,128}$").expect("a valid pattern");
    for (i, u) in raw.users.iter().enumerate() {
        let at = format!("users[{i}]");
        if !world.accounts.contains_key(&u.account) {
            problems.push(format!(
                "{at}.account: \"{}\" is not an account of the fixture",
                u.account
            ));
        }
        if !name_ok.is_match(&u.name) {
            problems.push(format!(
                "{at}.name: \"{}\" must be 1 to 64 letters, digits or +=,.@_-",
                u.name
            ));
        }
        let key = &u.access_key;
        if !key_ok.is_match(key) || is_account_id(key) {
            problems.push(format!(
                "{at}.access_key: \"{key}\" must be 16 to 128 letters, digits or _ (not an account id)"
            ));
        } else if world.users.contains_key(key) || raw.access_keys.contains_key(key) {
            problems.push(format!("{at}.access_key: \"{key}\" is used twice"));
        }
        let user = crate::world::User {
            account: u.account.clone(),
            name: u.name.clone(),
        };
        world.users.insert(key.clone(), user);
    }
}

fn roles(world: &mut World, raw: &RawFixture, problems: &mut Vec<String>) {
    let name_ok = regex::Regex::new(r"^[\w+=,.@-]{1,64}$").expect("a valid pattern");
    for (i, r) in raw.roles.iter().enumerate() {
        let at = format!("roles[{i}]");
        if !name_ok.is_match(&r.name) {
            problems.push(format!(
                "{at}.name: \"{}\" must be 1 to 64 letters, digits or +=,.@_-",
                r.name
            ));
        }
        if !(3600..=43_200).contains(&r.max_session_seconds) {
            problems.push(format!(
                "{at}.max_session_seconds: must be between 3600 and 43200, got {}",
                r.max_session_seconds
            ));
        }
        for (j, t) in r.trusted.iter().enumerate() {
            let role = t.strip_prefix("arn:aws:iam::").and_then(|rest| {
                let (account, name) = rest.split_once(":role/")?;
                (is_account_id(account) && name_ok.is_match(name)).then_some(())
            });
            if !is_account_id(t) && role.is_none() {
                problems.push(format!(
                    "{at}.trusted[{j}]: \"{t}\" must be an account id or a role ARN (arn:aws:iam::<account>:role/<name>)"
                ));
            }
        }
        let accounts: Vec<String> = match &r.accounts {
            Some(list) => list.clone(),
            None => world.accounts.keys().cloned().collect(),
        };
        for (j, a) in accounts.iter().enumerate() {
            if !world.accounts.contains_key(a) {
                problems.push(format!(
                    "{at}.accounts[{j}]: \"{a}\" is not an account of the fixture"
                ));
                continue;
            }
            let role = crate::world::Role {
                account: a.clone(),
                name: r.name.clone(),
                trusted: r.trusted.iter().cloned().collect(),
                web_identity: r.web_identity,
                max_session_seconds: r.max_session_seconds,
            };
            world.roles.insert(role.arn(), role);
        }
    }
    if let Some(n) = raw.sts.session_seconds {
        if !(1..=43_200).contains(&n) {
            problems.push(format!(
                "sts.session_seconds: must be between 1 and 43200, got {n}"
            ));
        }
        world.session_seconds = Some(n);
    }
}

/// One account of the fixture, checked, into `world`.
fn add_account(
    world: &mut World,
    problems: &mut Vec<String>,
    at: String,
    a: &RawAccount,
    parent: Option<Parent>,
    now: SystemTime,
) {
    if !is_account_id(&a.id) {
        problems.push(format!(
            "{at}.id: \"{}\" must be 12 digits (quote ids that start with 0)",
            a.id
        ));
    }
    if !a.email.contains('@') || a.email.len() > 64 {
        problems.push(format!(
            "{at}.email: must be an email address of at most 64 characters"
        ));
    }
    let state = match a.state.as_str() {
        "ACTIVE" => AccountState::Active,
        "SUSPENDED" => AccountState::Suspended,
        other => {
            problems.push(format!(
                "{at}.state: \"{other}\" must be ACTIVE or SUSPENDED"
            ));
            AccountState::Active
        }
    };
    let prev = world.accounts.insert(
        a.id.clone(),
        Account {
            id: a.id.clone(),
            name: a
                .name
                .clone()
                .unwrap_or_else(|| format!("account-{}", a.id)),
            email: a.email.clone(),
            state,
            parent,
            volume_bytes_per_day: a.volume_bytes_per_day,
            joined: now,
        },
    );
    if prev.is_some() {
        problems.push(format!("{at}.id: account {} is listed twice", a.id));
    }
}

/// The fixture's organization: its id and root, OUs (each parent known), accounts.
fn organization(
    world: &mut World,
    org: &RawOrganization,
    problems: &mut Vec<String>,
    now: SystemTime,
) {
    let id = org.id.clone().unwrap_or_else(|| {
        format!(
            "o-{:010x}",
            stable_hash(&["org", &org.management_account]) & 0xff_ffff_ffff
        )
    });
    let root_id = org.root_id.clone().unwrap_or_else(|| {
        format!(
            "r-{:04x}",
            stable_hash(&["root", &org.management_account]) & 0xffff
        )
    });
    let ous = organizational_units(org, problems);
    for (i, a) in org.accounts.iter().enumerate() {
        let parent = match &a.ou {
            None => Parent::Root,
            Some(ou) => {
                if !ous.contains_key(ou) {
                    problems.push(format!(
                        "organization.accounts[{i}].ou: no OU has the id \"{ou}\""
                    ));
                }
                Parent::Ou(ou.clone())
            }
        };
        add_account(
            world,
            problems,
            format!("organization.accounts[{i}]"),
            a,
            Some(parent),
            now,
        );
    }
    if !world.accounts.contains_key(&org.management_account) {
        problems.push(format!(
            "organization.management_account: \"{}\" must be one of organization.accounts",
            org.management_account
        ));
    }
    world.organization = Some(Organization {
        id,
        root_id,
        management_account: org.management_account.clone(),
        ous,
    });
}

/// The organization's OUs, each id of the model's shape and each parent known.
fn organizational_units(
    org: &RawOrganization,
    problems: &mut Vec<String>,
) -> BTreeMap<String, OrganizationalUnit> {
    let mut ous = BTreeMap::new();
    for (i, ou) in org.organizational_units.iter().enumerate() {
        let valid = ou.id.starts_with("ou-")
            && ou.id.len() <= 68
            && ou.id[3..].split_once('-').is_some_and(|(a, b)| {
                (4..=32).contains(&a.len())
                    && (8..=32).contains(&b.len())
                    && a.bytes()
                        .chain(b.bytes())
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            });
        if !valid {
            problems.push(format!(
                "organization.organizational_units[{i}].id: \"{}\" must look like ou-abcd-12345678",
                ou.id
            ));
        }
        let parent = match &ou.parent {
            None => Parent::Root,
            Some(p) => Parent::Ou(p.clone()),
        };
        ous.insert(
            ou.id.clone(),
            OrganizationalUnit {
                id: ou.id.clone(),
                name: ou.name.clone(),
                parent,
            },
        );
    }
    for (i, ou) in org.organizational_units.iter().enumerate() {
        if let Some(p) = &ou.parent {
            if !ous.contains_key(p) {
                problems.push(format!(
                    "organization.organizational_units[{i}].parent: no OU has the id \"{p}\""
                ));
            }
        }
    }
    ous
}

/// A problem unless `id` is an account of the organization.
fn org_account(world: &World, field: &str, id: &str, problems: &mut Vec<String>) {
    if !world.in_organization(id) {
        problems.push(format!(
            "{field}: \"{id}\" must be an account of the organization"
        ));
    }
}

/// The fixture's Detective: its administrator, settings, graphs and members.
fn detective(world: &mut World, raw: &RawFixture, problems: &mut Vec<String>, now: SystemTime) {
    let det = &raw.detective;
    if let Some(a) = &det.administrator {
        org_account(world, "detective.administrator", a, problems);
    }
    world.detective_administrator = det.administrator.clone();
    world.settings = Settings {
        verification_delay: Duration::from_millis(det.verification_delay_ms),
        graph_member_limit: det
            .member_limit
            .unwrap_or(crate::world::DEFAULT_GRAPH_MEMBER_LIMIT),
        graph_volume_limit_bytes: det
            .graph_volume_limit_bytes_per_day
            .unwrap_or(crate::world::DEFAULT_GRAPH_VOLUME_LIMIT_BYTES),
        package_states: package_states(&det.datasource_packages, problems),
        detective_auto_enable: det.auto_enable,
        not_ingesting: Default::default(),
    };
    for (i, n) in det.not_ingesting.iter().enumerate() {
        match known(&DATASOURCE_PACKAGES, &n.package) {
            Some(p) => {
                world
                    .settings
                    .not_ingesting
                    .insert((n.account_id.clone(), p));
            }
            None => problems.push(format!(
                "detective.not_ingesting[{i}].package: \"{}\" must be one of {}",
                n.package,
                DATASOURCE_PACKAGES.join(", ")
            )),
        }
    }
    let graph_admins = det
        .graphs_for
        .clone()
        .unwrap_or_else(|| det.administrator.iter().cloned().collect());
    for (i, admin) in graph_admins.iter().enumerate() {
        if !is_account_id(admin) {
            problems.push(format!(
                "detective.graphs_for[{i}]: \"{admin}\" must be a 12-digit account id"
            ));
        }
        for region in &raw.regions {
            add_graph(world, region, admin, now);
        }
    }
    detective_members(world, det, problems, now);
}

/// The fixture's Detective members, each in its administrator's graph in its region.
fn detective_members(
    world: &mut World,
    det: &RawDetective,
    problems: &mut Vec<String>,
    now: SystemTime,
) {
    for (i, m) in det.members.iter().enumerate() {
        let at = format!("detective.members[{i}]");
        let Some(status) = DetectiveStatus::parse(&m.status) else {
            problems.push(format!(
                "{at}.status: \"{}\" must be one of INVITED, VERIFICATION_IN_PROGRESS, VERIFICATION_FAILED, ENABLED, ACCEPTED_BUT_DISABLED",
                m.status
            ));
            continue;
        };
        if !is_account_id(&m.account_id) {
            problems.push(format!(
                "{at}.account_id: \"{}\" must be 12 digits",
                m.account_id
            ));
        }
        let arn = graph_arn(&m.region, &m.administrator);
        let region = world.region_mut(&m.region);
        let Some(graph) = region.graphs.get_mut(&arn) else {
            problems.push(format!(
                "{at}: {} has no behavior graph in {} (add it to detective.graphs_for)",
                m.administrator, m.region
            ));
            continue;
        };
        let member = DetectiveMember {
            account_id: m.account_id.clone(),
            email: m.email.clone(),
            status,
            disabled_reason: (status == DetectiveStatus::AcceptedButDisabled)
                .then_some("VOLUME_TOO_HIGH"),
            invitation_type: if m.organization {
                InvitationType::Organization
            } else {
                InvitationType::Invitation
            },
            invited_at: now,
            updated_at: now,
            pending: None,
        };
        graph.members.insert(m.account_id.clone(), member);
        if status == DetectiveStatus::VerificationInProgress {
            // A fixture member still being verified settles at the first read.
            graph
                .members
                .get_mut(&m.account_id)
                .expect("just inserted")
                .pending = Some(crate::world::PendingVerification {
                created_by_call: 0,
                due: now,
            });
            region.pending.push((arn, m.account_id.clone()));
        }
    }
}

/// The fixture's Security Hub: its administrator, organization settings, hubs and members.
fn securityhub(world: &mut World, raw: &RawFixture, problems: &mut Vec<String>, now: SystemTime) {
    let sh = &raw.securityhub;
    if let Some(a) = &sh.administrator {
        org_account(world, "securityhub.administrator", a, problems);
    }
    world.securityhub_administrator = sh.administrator.clone();
    let hub_organization = sh
        .organization
        .as_ref()
        .map(|o| hub_organization(o, problems))
        .unwrap_or_default();
    let enabled: Vec<String> = match &sh.enabled {
        Enabled::Unset => sh.administrator.iter().cloned().collect(),
        Enabled::Keyword(k) if k == "all" => world
            .accounts
            .values()
            .filter(|a| a.state == AccountState::Active)
            .map(|a| a.id.clone())
            .collect(),
        Enabled::Keyword(k) if k == "none" => Vec::new(),
        Enabled::Keyword(k) => {
            problems.push(format!(
                "securityhub.enabled: \"{k}\" must be all, none or a list of account ids"
            ));
            Vec::new()
        }
        Enabled::Accounts(ids) => ids.clone(),
    };
    for region in &raw.regions {
        let r = world.region_mut(region);
        r.hub_organization = hub_organization.clone();
        for id in &enabled {
            r.hubs.insert(id.clone(), now);
        }
    }
    for (i, m) in sh.members.iter().enumerate() {
        let at = format!("securityhub.members[{i}]");
        let Some(status) = HubMemberStatus::parse(&m.status) else {
            problems.push(format!(
                "{at}.status: \"{}\" must be one of Created, Invited, Enabled, Removed, Resigned, Deleted, AccountSuspended",
                m.status
            ));
            continue;
        };
        let invited = matches!(status, HubMemberStatus::Invited | HubMemberStatus::Enabled);
        let organization_managed = world.securityhub_administrator.as_deref()
            == Some(m.administrator.as_str())
            && world.in_organization(&m.account_id);
        world
            .region_mut(&m.region)
            .hub_members
            .entry(m.administrator.clone())
            .or_default()
            .insert(
                m.account_id.clone(),
                HubMember {
                    account_id: m.account_id.clone(),
                    email: m.email.clone(),
                    status,
                    organization_managed,
                    invitation_id: invited.then(|| {
                        format!(
                            "{:032x}",
                            u128::from(stable_hash(&[&m.region, &m.administrator, &m.account_id]))
                        )
                    }),
                    invited_at: invited.then_some(now),
                    updated_at: now,
                },
            );
    }
}

fn build(raw: RawFixture) -> Result<Fixture, Vec<String>> {
    let mut problems = Vec::new();
    let now = SystemTime::now();
    if raw.regions.is_empty() {
        problems.push("regions: list at least one region, e.g. [us-east-1]".to_owned());
    }
    for (i, r) in raw.regions.iter().enumerate() {
        if !is_region_name(r) {
            problems.push(format!(
                "regions[{i}]: \"{r}\" is not a region name like us-east-1"
            ));
        }
    }
    let mut world = World::default();

    if let Some(org) = &raw.organization {
        organization(&mut world, org, &mut problems, now);
    }
    for (i, a) in raw.external_accounts.iter().enumerate() {
        if a.ou.is_some() {
            problems.push(format!(
                "external_accounts[{i}].ou: accounts outside the organization have no OU"
            ));
        }
        add_account(
            &mut world,
            &mut problems,
            format!("external_accounts[{i}]"),
            a,
            None,
            now,
        );
    }
    for (key, acct) in &raw.access_keys {
        if !is_account_id(acct) {
            problems.push(format!(
                "access_keys.{key}: \"{acct}\" must be a 12-digit account id"
            ));
        }
    }
    world.access_keys = raw
        .access_keys
        .clone()
        .into_iter()
        .collect::<HashMap<_, _>>();
    users(&mut world, &raw, &mut problems);
    roles(&mut world, &raw, &mut problems);

    detective(&mut world, &raw, &mut problems, now);
    securityhub(&mut world, &raw, &mut problems, now);
    if let Err(e) = Faults::new(raw.faults.clone()) {
        problems.push(e.to_string());
    }
    if problems.is_empty() {
        Ok(Fixture {
            world,
            faults: raw.faults,
            regions: raw.regions,
        })
    } else {
        Err(problems)
    }
}

/// The value among `allowed` that `s` names.
fn known(allowed: &[&'static str], s: &str) -> Option<&'static str> {
    allowed.iter().copied().find(|a| *a == s)
}

/// `detective.datasource_packages`: a state for any package but `DETECTIVE_CORE`.
fn package_states(
    raw: &BTreeMap<String, String>,
    problems: &mut Vec<String>,
) -> BTreeMap<&'static str, &'static str> {
    let mut out = BTreeMap::new();
    for (package, state) in raw {
        let at = format!("detective.datasource_packages.{package}");
        match (known(&DATASOURCE_PACKAGES[1..], package), known(&INGEST_STATES, state)) {
            (Some(p), Some(s)) => {
                out.insert(p, s);
            }
            (None, _) => problems.push(format!(
                "{at}: must be EKS_AUDIT or ASFF_SECURITYHUB_FINDING (DETECTIVE_CORE is always STARTED)"
            )),
            (_, None) => problems.push(format!(
                "{at}: \"{state}\" must be one of {}",
                INGEST_STATES.join(", ")
            )),
        }
    }
    out
}

/// `securityhub.organization`, checked; under `CENTRAL`, AutoEnable must be off.
fn hub_organization(raw: &RawHubOrganization, problems: &mut Vec<String>) -> HubOrganization {
    let mut o = HubOrganization {
        auto_enable: raw.auto_enable,
        ..HubOrganization::default()
    };
    if let Some(s) = &raw.auto_enable_standards {
        match known(&["NONE", "DEFAULT"], s) {
            Some(s) => o.auto_enable_standards = s,
            None => problems.push(format!(
                "securityhub.organization.auto_enable_standards: \"{s}\" must be NONE or DEFAULT"
            )),
        }
    }
    if let Some(t) = &raw.configuration_type {
        match known(&["LOCAL", "CENTRAL"], t) {
            Some(t) => o.configuration_type = t,
            None => problems.push(format!(
                "securityhub.organization.configuration_type: \"{t}\" must be LOCAL or CENTRAL"
            )),
        }
    }
    if o.configuration_type == "CENTRAL" && o.auto_enable {
        problems.push(
            "securityhub.organization: auto_enable must be false under CENTRAL configuration (Security Hub forces it off)".into(),
        );
    }
    if let Some(n) = raw.member_account_limit {
        o.member_account_limit = n;
    }
    o
}

fn add_graph(world: &mut World, region: &str, admin: &str, now: SystemTime) {
    let arn = graph_arn(region, admin);
    let graph = Graph::new(arn.clone(), admin, now, &world.settings);
    world.region_mut(region).graphs.insert(arn, graph);
}

/// What `muster sandbox --accounts N --regions ... --seed S` generates.
#[derive(Debug, Clone)]
pub struct Generate {
    pub accounts: usize,
    pub regions: Vec<String>,
    pub seed: u64,
}

/// The management account of every generated world.
pub const GENERATED_MANAGEMENT: &str = "100000000000";
/// The account that is both delegated administrator (Detective, Security Hub) of generated worlds.
pub const GENERATED_SECURITY: &str = "100000000001";
/// The access key of the IAM user `muster` in `GENERATED_SECURITY` (a caller that may assume
/// roles, which the account's root may not).
pub const GENERATED_SECURITY_USER_KEY: &str = "AKIAGENERATEDSECURITY";

/// A generated world's OUs: `count` under the root, named from the seed.
fn generated_ous(seed: u64, tag: &str, count: usize) -> BTreeMap<String, OrganizationalUnit> {
    let mut ous = BTreeMap::new();
    for k in 0..count {
        let id = format!(
            "ou-{tag}-{:08x}",
            stable_hash(&["ou", &seed.to_string(), &k.to_string()]) as u32
        );
        ous.insert(
            id.clone(),
            OrganizationalUnit {
                id,
                name: format!("workloads-{k}"),
                parent: Parent::Root,
            },
        );
    }
    ous
}

/// Account `i` of a generated world: the management account, the security account, then
/// workloads in random OUs, about 2% suspended and 1% past the graph's volume limit.
fn generated_account(
    i: usize,
    rng: &mut ChaCha8Rng,
    ou_ids: &[String],
) -> (String, Parent, AccountState, u64) {
    match i {
        0 => (
            "management".to_owned(),
            Parent::Root,
            AccountState::Active,
            1 << 30,
        ),
        1 => (
            "security".to_owned(),
            Parent::Root,
            AccountState::Active,
            20 << 30,
        ),
        _ => {
            let roll: f64 = rng.random();
            let state = if roll < 0.02 {
                AccountState::Suspended
            } else {
                AccountState::Active
            };
            let volume = if (0.02..0.03).contains(&roll) {
                12u64 << 40
            } else {
                rng.random_range(1u64..100) << 30
            };
            let ou = ou_ids[rng.random_range(0..ou_ids.len())].clone();
            (format!("workload-{i}"), Parent::Ou(ou), state, volume)
        }
    }
}

/// A generated organization: a management and a security account (the delegated administrator
/// of both services, with a behavior graph and a hub in every region), `accounts - 2` more
/// accounts spread over a few OUs, about 2% of them suspended and 1% with a daily volume
/// past the graph's limit; Security Hub is enabled for every active account.
pub fn generate(g: &Generate) -> Fixture {
    let mut rng = ChaCha8Rng::seed_from_u64(g.seed);
    let now = SystemTime::now();
    let ou_count = ((g.accounts as f64).sqrt() / 2.0).clamp(1.0, 50.0) as usize;
    let tag = format!("{:04x}", g.seed & 0xffff);
    let root_id = format!("r-{tag}");
    let ous = generated_ous(g.seed, &tag, ou_count);
    let ou_ids: Vec<String> = ous.keys().cloned().collect();
    let mut world = World {
        organization: Some(Organization {
            id: format!(
                "o-{:010x}",
                stable_hash(&["org", &g.seed.to_string()]) & 0xff_ffff_ffff
            ),
            root_id,
            management_account: GENERATED_MANAGEMENT.into(),
            ous,
        }),
        detective_administrator: Some(GENERATED_SECURITY.into()),
        securityhub_administrator: Some(GENERATED_SECURITY.into()),
        users: HashMap::from([(
            GENERATED_SECURITY_USER_KEY.to_owned(),
            crate::world::User {
                account: GENERATED_SECURITY.into(),
                name: "muster".into(),
            },
        )]),
        ..World::default()
    };
    for i in 0..g.accounts.max(2) {
        let id = format!("{:012}", 100_000_000_000u64 + i as u64);
        let (name, parent, state, volume) = generated_account(i, &mut rng, &ou_ids);
        world.accounts.insert(
            id.clone(),
            Account {
                email: format!("aws+{id}@example.com"),
                id,
                name,
                state,
                parent: Some(parent),
                volume_bytes_per_day: volume,
                joined: now,
            },
        );
    }
    let active: BTreeSet<String> = world
        .accounts
        .values()
        .filter(|a| a.state == AccountState::Active)
        .map(|a| a.id.clone())
        .collect();
    for region in &g.regions {
        add_graph(&mut world, region, GENERATED_SECURITY, now);
        let r = world.region_mut(region);
        for id in &active {
            r.hubs.insert(id.clone(), now);
        }
    }
    Fixture {
        world,
        faults: FaultConfig::default(),
        regions: g.regions.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_in_a_fixture_is_reported_with_its_field() {
        let err = parse(
            "bad.yaml",
            r#"
regions: [us-east-1, "Mars"]
organization:
  management_account: "111111111111"
  organizational_units:
    - {id: ou-ab12-11111111, name: A, parent: ou-nope-00000000}
  accounts:
    - {id: "12345", email: a@example.com}
    - {id: "222222222222", email: b@example.com, ou: ou-zz99-99999999, state: GONE}
detective:
  administrator: "999999999999"
"#,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad.yaml: invalid fixture:
  regions[1]: \"Mars\" is not a region name like us-east-1
  organization.organizational_units[0].parent: no OU has the id \"ou-nope-00000000\"
  organization.accounts[0].id: \"12345\" must be 12 digits (quote ids that start with 0)
  organization.accounts[1].ou: no OU has the id \"ou-zz99-99999999\"
  organization.accounts[1].state: \"GONE\" must be ACTIVE or SUSPENDED
  organization.management_account: \"111111111111\" must be one of organization.accounts
  detective.administrator: \"999999999999\" must be an account of the organization"
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_their_location() {
        let err = parse("f.yaml", "regions: [us-east-1]\nregion: x\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("f.yaml: unknown field `region`"), "{msg}");
        assert!(msg.contains("line 2 column 1"), "{msg}");
    }

    #[test]
    fn the_shipped_demo_fixture_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/sandbox.yaml");
        let f = load(&path).unwrap();
        assert_eq!(f.regions, ["us-east-1", "eu-west-1"]);
        let org = f.world.organization.as_ref().unwrap();
        assert_eq!(org.ous.len(), 3);
        let accounts = &f.world.accounts;
        assert!((55..=70).contains(&accounts.len()), "{}", accounts.len());
        assert!(accounts
            .values()
            .any(|a| a.state == AccountState::Suspended));
        assert!(accounts
            .values()
            .any(|a| a.volume_bytes_per_day > f.world.settings.graph_volume_limit_bytes));
        assert!(accounts.values().any(|a| a.parent.is_none()));
    }

    #[test]
    fn generation_is_deterministic_in_the_seed() {
        let g = |seed| {
            generate(&Generate {
                accounts: 200,
                regions: vec!["us-east-1".into()],
                seed,
            })
        };
        let states = |f: &Fixture| {
            f.world
                .accounts
                .values()
                .map(|a| {
                    (
                        a.id.clone(),
                        a.state,
                        a.volume_bytes_per_day,
                        a.parent.clone(),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(states(&g(1)), states(&g(1)));
        assert_ne!(states(&g(1)), states(&g(2)));
        let f = g(1);
        assert_eq!(f.world.accounts.len(), 200);
        assert_eq!(f.world.regions["us-east-1"].graphs.len(), 1);
    }
}
