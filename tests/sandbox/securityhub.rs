//! Security Hub through aws-sdk-securityhub: hubs, members, invitations, and the ListMembers
//! default that hides every member that is not Enabled.

use aws_sdk_securityhub::types::AccountDetails;

use crate::common::*;

fn details(id: &str, email: Option<&str>) -> AccountDetails {
    let b = AccountDetails::builder().account_id(id);
    let b = match email {
        Some(e) => b.email(e),
        None => b,
    };
    b.build()
}

async fn statuses(
    hub: &aws_sdk_securityhub::Client,
    only_associated: Option<bool>,
) -> Vec<(String, String)> {
    let list = hub.list_members().set_only_associated(only_associated);
    let out = list.send().await.unwrap();
    let status = |m: &aws_sdk_securityhub::types::Member| {
        let id = m.account_id().unwrap().to_owned();
        (id, m.member_status().unwrap().to_owned())
    };
    out.members().iter().map(status).collect()
}

/// How many invitations ListInvitations shows the caller.
async fn invitations(hub: &aws_sdk_securityhub::Client) -> usize {
    hub.list_invitations()
        .send()
        .await
        .unwrap()
        .invitations()
        .len()
}

#[tokio::test]
async fn an_account_administers_members_only_once_its_hub_is_enabled() {
    let mut f = demo();
    f.world
        .regions
        .get_mut("us-east-1")
        .unwrap()
        .hubs
        .remove("111111111111");
    let sb = start(f).await;
    let hub = securityhub(&sb, MANAGEMENT, "us-east-1").await;
    let e = hub.describe_hub().send().await.unwrap_err();
    assert_eq!(failure(&e), ("InvalidAccessException".to_owned(), 401));
    assert_eq!(
        message(&e),
        "Account 111111111111 is not subscribed to AWS Security Hub"
    );
    let create = hub
        .create_members()
        .account_details(details("500000000001", None));
    assert_eq!(
        refused(create.clone().send()).await.0,
        "InvalidAccessException"
    );
    hub.enable_security_hub().send().await.unwrap();
    let conflict = ("ResourceConflictException".to_owned(), 409);
    assert_eq!(refused(hub.enable_security_hub().send()).await, conflict);
    create.send().await.unwrap();
}

#[tokio::test]
async fn members_go_created_invited_enabled_and_list_members_defaults_to_enabled_only() {
    let sb = start(demo()).await;
    let hub = securityhub(&sb, SECURITY, "us-east-1").await;
    let out = hub
        .create_members()
        .account_details(details(
            "500000000001",
            Some("security@partner-analytics.example.org"),
        ))
        .account_details(details(
            "500000000002",
            Some("aws-root@acquired.example.com"),
        ))
        .account_details(details("300000000001", None)) // organization account
        .send()
        .await
        .unwrap();
    assert!(out.unprocessed_accounts().is_empty());
    assert_eq!(
        statuses(&hub, None).await,
        [("300000000001".into(), "Enabled".into())]
    );
    assert_eq!(
        statuses(&hub, Some(false)).await,
        [
            ("300000000001".into(), "Enabled".into()),
            ("500000000001".into(), "Created".into()),
            ("500000000002".into(), "Created".into()),
        ]
    );
    let inv = hub
        .invite_members()
        .account_ids("500000000001")
        .account_ids("500000000002")
        .account_ids("500000000003")
        .send()
        .await
        .unwrap();
    let u = inv.unprocessed_accounts();
    assert_eq!(u.len(), 1);
    assert_eq!(u[0].account_id(), Some("500000000003"));

    let m1 = securityhub(&sb, "500000000001", "us-east-1").await;
    let open = m1.list_invitations().send().await.unwrap();
    let i = &open.invitations()[0];
    assert_eq!(
        (i.account_id(), i.member_status()),
        (Some(SECURITY), Some("Invited"))
    );
    m1.accept_administrator_invitation()
        .administrator_id(SECURITY)
        .invitation_id(i.invitation_id().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(invitations(&m1).await, 0);
    let accept = m1
        .accept_administrator_invitation()
        .administrator_id(SECURITY);
    let unknown = refused(accept.invitation_id("nope").send()).await;
    assert_eq!(unknown, ("ResourceNotFoundException".to_owned(), 404));

    let m2 = securityhub(&sb, "500000000002", "us-east-1").await;
    let decline = m2.decline_invitations().account_ids(SECURITY);
    assert!(decline
        .send()
        .await
        .unwrap()
        .unprocessed_accounts()
        .is_empty());
    assert_eq!(invitations(&m2).await, 0);

    assert_eq!(
        statuses(&hub, Some(false)).await,
        [
            ("300000000001".into(), "Enabled".into()),
            ("500000000001".into(), "Enabled".into()),
            ("500000000002".into(), "Resigned".into()),
        ]
    );
    hub.disassociate_members()
        .account_ids("500000000001")
        .send()
        .await
        .unwrap();
    let del = hub
        .delete_members()
        .account_ids("500000000002")
        .account_ids("300000000001")
        .send()
        .await
        .unwrap();
    assert_eq!(
        del.unprocessed_accounts().len(),
        1,
        "an organization member must be disassociated first"
    );
    let got = hub
        .get_members()
        .account_ids("500000000001")
        .account_ids("500000000002")
        .send()
        .await
        .unwrap();
    assert_eq!(got.members()[0].member_status(), Some("Removed"));
    assert_eq!(
        got.unprocessed_accounts()[0].account_id(),
        Some("500000000002")
    );
}

#[tokio::test]
async fn security_hub_validates_its_inputs() {
    let sb = start(demo()).await;
    let hub = securityhub(&sb, SECURITY, "us-east-1").await;
    let fifty_one: Vec<_> = (0..51)
        .map(|i| details(&format!("3000000001{i:02}"), None))
        .collect();
    let invalid = ("InvalidInputException".to_owned(), 400);
    let create = hub.create_members().set_account_details(Some(fifty_one));
    assert_eq!(refused(create.send()).await, invalid);
    let list = hub.list_members().max_results(51).send();
    assert_eq!(refused(list).await, invalid);
    let list = hub.list_members().next_token("forged").send();
    assert_eq!(refused(list).await, invalid);
    let out = hub
        .create_members()
        .account_details(details("12345", None))
        .send()
        .await
        .unwrap();
    assert_eq!(out.unprocessed_accounts()[0].account_id(), Some("12345"));
}

#[tokio::test]
async fn list_members_pages_50_at_most() {
    let sb = start(demo()).await;
    let hub = securityhub(&sb, SECURITY, "us-east-1").await;
    let ids: Vec<String> = (1..=40)
        .map(|i| format!("3000000000{i:02}"))
        .chain((1..=12).map(|i| format!("4000000000{i:02}")))
        .collect();
    for chunk in ids.chunks(50) {
        let d = chunk.iter().map(|id| details(id, None)).collect();
        hub.create_members()
            .set_account_details(Some(d))
            .send()
            .await
            .unwrap();
    }
    sb.reset_calls();
    let mut pages = hub
        .list_members()
        .only_associated(false)
        .max_results(20)
        .into_paginator()
        .send();
    let mut n = Vec::new();
    while let Some(p) = pages.next().await {
        n.push(p.unwrap().members().len());
    }
    assert_eq!(n, [20, 20, 12]);
    assert_eq!(sb.calls().count("securityhub", "ListMembers"), 3);
}
