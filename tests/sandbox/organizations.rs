//! Organizations through aws-sdk-organizations: the tree, paging at 20, who may call.

use crate::common::*;

#[tokio::test]
async fn the_tree_is_listed_from_the_root_down() {
    let sb = start(demo()).await;
    let org = organizations(&sb, MANAGEMENT).await;
    let roots = org.list_roots().send().await.unwrap();
    let root = roots.roots()[0].id().unwrap().to_owned();
    assert_eq!(root, "r-m5tr");
    let ous = org
        .list_organizational_units_for_parent()
        .parent_id(&root)
        .send()
        .await
        .unwrap();
    let names: Vec<_> = ous
        .organizational_units()
        .iter()
        .map(|o| o.name().unwrap())
        .collect();
    assert_eq!(names, ["Security", "Workloads"]);
    let nested = org
        .list_organizational_units_for_parent()
        .parent_id("ou-m5tr-workloads")
        .send()
        .await
        .unwrap();
    assert_eq!(
        nested.organizational_units()[0].id(),
        Some("ou-m5tr-sandboxes")
    );
    let children = org
        .list_children()
        .parent_id(&root)
        .child_type(aws_sdk_organizations::types::ChildType::Account)
        .send()
        .await
        .unwrap();
    assert_eq!(children.children().len(), 1);
    let a = org
        .describe_account()
        .account_id("300000000040")
        .send()
        .await
        .unwrap();
    let a = a.account().unwrap();
    assert_eq!(a.status().map(|s| s.as_str()), Some("SUSPENDED"));
    assert_eq!(a.email(), Some("aws+ml-qa@example.com"));
    assert!(a.joined_timestamp().is_some());
    let e = org
        .describe_account()
        .account_id("500000000001")
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(&e), ("AccountNotFoundException".to_owned(), 400));
    let e = org
        .list_accounts_for_parent()
        .parent_id("ou-m5tr-nowhere1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(&e), ("ParentNotFoundException".to_owned(), 400));
    let e = org
        .list_accounts_for_parent()
        .parent_id("not-a-parent")
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(&e), ("InvalidInputException".to_owned(), 400));
}

#[tokio::test]
async fn accounts_page_at_most_20_at_a_time() {
    let sb = start(demo()).await;
    let org = organizations(&sb, SECURITY).await; // a delegated administrator may list
    let mut pages = org
        .list_accounts_for_parent()
        .parent_id("ou-m5tr-workloads")
        .into_paginator()
        .send();
    let mut sizes = Vec::new();
    let mut ids = Vec::new();
    while let Some(p) = pages.next().await {
        let p = p.unwrap();
        sizes.push(p.accounts().len());
        ids.extend(p.accounts().iter().map(|a| a.id().unwrap().to_owned()));
    }
    assert_eq!(sizes, [20, 20]);
    assert_eq!(ids.len(), 40);
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let e = org
        .list_accounts()
        .max_results(21)
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(&e), ("InvalidInputException".to_owned(), 400));
    let e = org
        .list_accounts()
        .next_token("forged")
        .send()
        .await
        .unwrap_err();
    assert_eq!(failure(&e), ("InvalidInputException".to_owned(), 400));
}

#[tokio::test]
async fn only_the_management_account_or_a_delegated_administrator_may_list() {
    let sb = start(demo()).await;
    let member = organizations(&sb, "300000000001").await;
    assert!(member.describe_organization().send().await.is_ok());
    let e = member.list_accounts().send().await.unwrap_err();
    assert_eq!(failure(&e), ("AccessDeniedException".to_owned(), 400));
    let outsider = organizations(&sb, "500000000001").await;
    let e = outsider.describe_organization().send().await.unwrap_err();
    assert_eq!(
        failure(&e),
        ("AWSOrganizationsNotInUseException".to_owned(), 400)
    );
}
