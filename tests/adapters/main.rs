//! muster's Security Hub and Organizations adapters through the real SDK clients against the
//! sandbox: domain types out, exact pages and calls.

#[path = "../common/mod.rs"]
mod common;
mod moto;

use muster::aws::organizations::SdkOrganizations;
use muster::aws::securityhub::SdkSecurityHub;
use muster::aws::{HubApi, HubUpdate, OrganizationsApi};
use muster::domain::{AccountId, Email, Region};
use muster::observed::{HubMemberStatus, OrgAccountStatus};
use muster_sandbox::fixture::{generate, Generate, GENERATED_SECURITY};

use common::*;

fn id(i: usize) -> AccountId {
    AccountId::parse(&format!("{:012}", 100_000_000_000u64 + i as u64)).unwrap()
}

#[tokio::test]
async fn security_hub_members_are_created_in_batches_and_listed_50_a_page() {
    let sb = start(generate(&Generate {
        accounts: 140,
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        seed: 9,
    }))
    .await;
    let api = SdkSecurityHub::new(sdk(&sb, GENERATED_SECURITY, "us-east-1").await, None);
    let region = Region::parse("eu-west-1").unwrap();
    let accounts: Vec<(AccountId, Option<Email>)> = (2..122).map(|i| (id(i), None)).collect();
    for chunk in accounts.chunks(50) {
        let refused = api.create_members(&region, chunk).await.unwrap();
        assert_eq!(
            refused,
            [],
            "organization accounts of the delegated administrator"
        );
    }
    sb.reset_calls();
    let members = api.list_members(&region).await.unwrap();
    assert_eq!(members.len(), 120);
    assert_eq!(
        sb.calls().count("securityhub", "ListMembers"),
        3,
        "ceil(120 / 50) pages"
    );
    // Suspended organization accounts cannot be enabled: they stay Created.
    let suspended: Vec<AccountId> = sb.with_world(|w| {
        w.accounts
            .values()
            .filter(|a| a.state == muster_sandbox::world::AccountState::Suspended)
            .filter_map(|a| AccountId::parse(&a.id))
            .filter(|a| (id(2)..id(122)).contains(a))
            .collect()
    });
    assert!(
        !suspended.is_empty(),
        "the generated world has suspended accounts"
    );
    for m in &members {
        let want = if suspended.contains(&m.account_id) {
            HubMemberStatus::Created
        } else {
            HubMemberStatus::Enabled
        };
        assert_eq!(m.status, want, "{}", m.account_id);
    }
    assert!(members
        .iter()
        .all(|m| m.administrator == AccountId::parse(GENERATED_SECURITY)));
    // The other region has none: hubs are regional.
    let us = Region::parse("us-east-1").unwrap();
    assert_eq!(api.list_members(&us).await.unwrap(), []);
}

#[tokio::test]
async fn accounts_outside_the_organization_are_created_then_invited() {
    let sb = start(demo()).await;
    let api = SdkSecurityHub::new(sdk(&sb, SECURITY, "us-east-1").await, None);
    let region = Region::parse("us-east-1").unwrap();
    let partner = AccountId::parse("500000000001").unwrap();
    let email = Email::parse("security@partner-analytics.example.org");
    assert_eq!(
        api.create_members(&region, &[(partner, email)])
            .await
            .unwrap(),
        []
    );
    let listed = api.list_members(&region).await.unwrap();
    let m = listed.iter().find(|m| m.account_id == partner).unwrap();
    assert_eq!(m.status, HubMemberStatus::Created);
    assert_eq!(
        api.update(&region, HubUpdate::Invite, &[partner])
            .await
            .unwrap(),
        []
    );
    let listed = api.list_members(&region).await.unwrap();
    let m = listed.iter().find(|m| m.account_id == partner).unwrap();
    assert_eq!(m.status, HubMemberStatus::Invited);
    assert_eq!(sb.calls().count("securityhub", "InviteMembers"), 1);
}

#[tokio::test]
async fn organizations_lists_roots_ous_and_accounts_20_a_page() {
    let sb = start(demo()).await;
    let api = SdkOrganizations::new(&sdk(&sb, MANAGEMENT, "us-east-1").await, None);
    let roots = api.list_roots().await.unwrap();
    assert_eq!(roots.len(), 1);
    assert_eq!(roots[0].id, "r-m5tr");
    let mut top: Vec<String> = api
        .list_ous(&roots[0].id)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.id)
        .collect();
    top.sort();
    assert_eq!(top, ["ou-m5tr-security", "ou-m5tr-workloads"]);
    let nested = api.list_ous("ou-m5tr-workloads").await.unwrap();
    assert_eq!(nested.len(), 1);
    assert_eq!(
        (nested[0].id.as_str(), nested[0].name.as_str()),
        ("ou-m5tr-sandboxes", "Sandbox")
    );
    sb.reset_calls();
    let workloads = api.list_accounts("ou-m5tr-workloads").await.unwrap();
    assert_eq!(workloads.len(), 40);
    assert_eq!(
        sb.calls().count("organizations", "ListAccountsForParent"),
        2,
        "40 accounts, 20 a page"
    );
    let suspended: Vec<String> = workloads
        .iter()
        .filter(|a| a.status == OrgAccountStatus::Suspended)
        .map(|a| a.id.to_string())
        .collect();
    assert_eq!(suspended, ["300000000040"]);
    let a = workloads
        .iter()
        .find(|a| a.id.to_string() == "300000000001")
        .unwrap();
    assert_eq!(
        a.email.as_ref().map(|e| e.expose()),
        Some("aws+payments-prod@example.com")
    );
    // A parent that does not exist is an error named as AWS names it.
    let err = api.list_accounts("ou-m5tr-nothere1").await.unwrap_err();
    assert_eq!(
        (err.service, err.operation),
        ("organizations", "ListAccountsForParent")
    );
    assert_eq!(err.code, "ParentNotFoundException");
}

fn ids(expanded: &[muster::org::Expanded]) -> Vec<String> {
    expanded.iter().map(|e| e.account.id.to_string()).collect()
}

#[tokio::test]
async fn the_organization_is_listed_once_and_expanded_by_ou() {
    use muster::org::{expand, fetch, ExpandError, Include, Selection};
    let sb = start(demo()).await;
    let api = SdkOrganizations::new(&sdk(&sb, MANAGEMENT, "us-east-1").await, None);
    let tree = fetch(&api, 4).await.unwrap();
    // Root, Security, Workloads, Workloads/Sandbox: one OU listing each; accounts 20 a page
    // (the root 1, Security 2, Workloads 40 in two pages, Sandbox 12).
    let calls = sb.calls();
    assert_eq!(calls.count("organizations", "ListRoots"), 1);
    assert_eq!(
        calls.count("organizations", "ListOrganizationalUnitsForParent"),
        4
    );
    assert_eq!(calls.count("organizations", "ListAccountsForParent"), 5);
    assert_eq!(tree.paths["ou-m5tr-sandboxes"], "Root/Workloads/Sandbox");

    let ou = |id: &str, recursive| Include::Ou {
        id: id.into(),
        recursive,
    };
    let select = |include| Selection {
        include,
        management: AccountId::parse(MANAGEMENT),
        ..Selection::default()
    };
    // Workloads alone: 40 accounts, one suspended.
    let only = expand(&tree, &select(vec![ou("ou-m5tr-workloads", false)])).unwrap();
    assert_eq!(only.len(), 39);
    assert!(
        !ids(&only).contains(&"300000000040".to_owned()),
        "suspended accounts are skipped"
    );
    assert!(only.iter().all(|e| e.from == "Root/Workloads"));
    // Recursive: the nested Sandbox OU too.
    let all = expand(&tree, &select(vec![ou("ou-m5tr-workloads", true)])).unwrap();
    assert_eq!(all.len(), 51);
    let sandbox = all
        .iter()
        .find(|e| e.account.id.to_string() == "400000000001")
        .unwrap();
    assert_eq!(sandbox.from, "Root/Workloads/Sandbox");
    // The whole organization minus the Sandbox OU and one account; the management account
    // only when asked for.
    let mut s = select(vec![Include::Root]);
    s.exclude_ous.insert("ou-m5tr-sandboxes".into());
    s.exclude_accounts
        .insert(AccountId::parse("300000000001").unwrap());
    let root = expand(&tree, &s).unwrap();
    assert_eq!(root.len(), 2 + 39 - 1);
    assert!(!ids(&root).contains(&MANAGEMENT.to_owned()));
    s.include_management = true;
    assert!(ids(&expand(&tree, &s).unwrap()).contains(&MANAGEMENT.to_owned()));
    // Overlapping selections take each account once.
    let both = expand(
        &tree,
        &select(vec![
            ou("ou-m5tr-workloads", true),
            ou("ou-m5tr-sandboxes", false),
        ]),
    )
    .unwrap();
    assert_eq!(both.len(), 51);
    assert_eq!(
        expand(&tree, &select(vec![ou("ou-m5tr-nothere1", true)])).unwrap_err(),
        ExpandError::UnknownOu("ou-m5tr-nothere1".into())
    );
}

#[tokio::test]
async fn a_failed_organization_listing_is_an_error_not_a_smaller_organization() {
    let sb = start(demo()).await;
    fail_next(
        &sb,
        "organizations",
        "ListAccountsForParent",
        10,
        "AccessDeniedException",
    );
    let api = SdkOrganizations::new(&sdk(&sb, MANAGEMENT, "us-east-1").await, None);
    let err = muster::org::fetch(&api, 4).await.unwrap_err();
    assert_eq!(
        (err.operation, err.code.as_str()),
        ("ListAccountsForParent", "AccessDeniedException")
    );
}

#[tokio::test]
async fn security_hub_requests_wait_for_the_documented_rate() {
    let sb = start(demo()).await;
    let api = SdkSecurityHub::new(sdk(&sb, SECURITY, "us-east-1").await, None);
    let region = Region::parse("eu-west-1").unwrap();
    let start = std::time::Instant::now();
    // 40 requests: the burst of 30 at once, then 10 at 10 a second.
    for _ in 0..40 {
        api.list_members(&region).await.unwrap();
    }
    let took = start.elapsed();
    assert!(took >= std::time::Duration::from_millis(950), "{took:?}");
    assert_eq!(sb.calls().count("securityhub", "ListMembers"), 40);
    assert_eq!(
        sb.calls().count_status("securityhub", "ListMembers", 429),
        0
    );
}
