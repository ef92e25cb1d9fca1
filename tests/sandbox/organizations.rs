//! Organizations through aws-sdk-organizations: the tree, paging at 20, who may call.

use crate::common::*;

#[tokio::test]
async fn the_tree_is_listed_from_the_root_down() {
    let sb = start(demo()).await;
    let org = organizations(&sb, MANAGEMENT).await;
    let roots = org.list_roots().send().await.unwrap();
    let root = roots.roots()[0].id().unwrap().to_owned();
    assert_eq!(root, "r-m5tr");
    let ous = |parent: &str| {
        let list = org.list_organizational_units_for_parent().parent_id(parent);
        async move {
            let out = list.send().await.unwrap();
            let ous = out.organizational_units().iter();
            ous.map(|o| (o.id().unwrap().to_owned(), o.name().unwrap().to_owned()))
                .collect::<Vec<_>>()
        }
    };
    let names: Vec<_> = ous(&root).await.into_iter().map(|(_, name)| name).collect();
    assert_eq!(names, ["Security", "Workloads"]);
    let nested = ous("ou-m5tr-workloads").await;
    assert_eq!(nested[0].0, "ou-m5tr-sandboxes");
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
    let outsider = org.describe_account().account_id("500000000001").send();
    let not_found = ("AccountNotFoundException".to_owned(), 400);
    assert_eq!(refused(outsider).await, not_found);
    for (parent, error) in [
        ("ou-m5tr-nowhere1", "ParentNotFoundException"),
        ("not-a-parent", "InvalidInputException"),
    ] {
        let list = org.list_accounts_for_parent().parent_id(parent).send();
        assert_eq!(refused(list).await, (error.to_owned(), 400), "{parent}");
    }
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
    let invalid = ("InvalidInputException".to_owned(), 400);
    let list = org.list_accounts().max_results(21).send();
    assert_eq!(refused(list).await, invalid);
    let list = org.list_accounts().next_token("forged").send();
    assert_eq!(refused(list).await, invalid);
}

#[tokio::test]
async fn only_the_management_account_or_a_delegated_administrator_may_list() {
    let sb = start(demo()).await;
    let member = organizations(&sb, "300000000001").await;
    assert!(member.describe_organization().send().await.is_ok());
    let denied = refused(member.list_accounts().send()).await;
    assert_eq!(denied, ("AccessDeniedException".to_owned(), 400));
    let outsider = organizations(&sb, "500000000001").await;
    let not_in_use = refused(outsider.describe_organization().send()).await;
    assert_eq!(
        not_in_use,
        ("AWSOrganizationsNotInUseException".to_owned(), 400)
    );
}
