//! Detective through aws-sdk-detective: validation as the model says, administrator-only
//! operations, verification by email, organization accounts, volume, invitations, quota, paging.

use aws_sdk_detective::config::http::HttpResponse;
use aws_sdk_detective::error::SdkError;
use aws_sdk_detective::operation::create_members::{CreateMembersError, CreateMembersOutput};
use aws_sdk_detective::types::{Account, InvitationType, MemberDisabledReason, MemberStatus};
use aws_sdk_detective::Client;
use muster_sandbox::fixture::{generate, Generate, GENERATED_SECURITY};

use crate::common::*;

fn account(id: &str, email: &str) -> Account {
    Account::builder()
        .account_id(id)
        .email_address(email)
        .build()
        .unwrap()
}

/// CreateMembers of `accounts` (id, email) into `arn`.
async fn add(
    det: &Client,
    arn: &str,
    accounts: &[(&str, &str)],
) -> Result<CreateMembersOutput, SdkError<CreateMembersError, HttpResponse>> {
    let accounts = accounts.iter().map(|(id, e)| account(id, e)).collect();
    det.create_members()
        .graph_arn(arn)
        .set_accounts(Some(accounts))
        .send()
        .await
}

/// The members ListMembers gives on its first page.
async fn members(det: &Client, arn: &str) -> Vec<(String, MemberStatus)> {
    let out = det.list_members().graph_arn(arn).send().await.unwrap();
    statuses(out.member_details())
}

/// The invitations ListInvitations shows the caller.
async fn invitations(det: &Client) -> Vec<(String, MemberStatus)> {
    statuses(det.list_invitations().send().await.unwrap().invitations())
}

fn statuses(members: &[aws_sdk_detective::types::MemberDetail]) -> Vec<(String, MemberStatus)> {
    let status = |m: &aws_sdk_detective::types::MemberDetail| {
        let id = m.account_id().unwrap().to_owned();
        (id, m.status().unwrap().clone())
    };
    members.iter().map(status).collect()
}

#[tokio::test]
async fn requests_are_validated_as_the_model_defines() {
    let sb = start(demo()).await;
    let det = detective(&sb, SECURITY, "us-east-1").await;
    let arn = graph(&det).await;

    let ids: Vec<_> = (0..51).map(|i| format!("3000000001{i:02}")).collect();
    let fifty_one: Vec<_> = ids
        .iter()
        .map(|id| (id.as_str(), "a@example.com"))
        .collect();
    let e = fails(add(&det, &arn, &fifty_one)).await;
    assert_eq!(failure(&e), ("ValidationException".to_owned(), 400));
    assert_eq!(
        message(&e),
        "1 validation error detected: Value '[51 items]' at 'accounts' failed to satisfy constraint: Member must have length less than or equal to 50"
    );

    let bad = [("12345", "a@example.com"), ("300000000001", "not-an-email")];
    let e = fails(add(&det, &arn, &bad)).await;
    assert_eq!(failure(&e).0, "ValidationException");
    let m = message(&e);
    assert!(m.starts_with("2 validation errors detected: "), "{m}");
    assert!(m.contains("Value '12345' at 'accounts.1.member.accountId' failed to satisfy constraint: Member must have length greater than or equal to 12"), "{m}");
    assert!(m.contains("Value 'not-an-email' at 'accounts.2.member.emailAddress' failed to satisfy constraint: Member must satisfy regular expression pattern"), "{m}");

    let long_message = det
        .create_members()
        .graph_arn(&arn)
        .message("x".repeat(1001))
        .accounts(account("300000000001", "a@example.com"));
    let e = fails(long_message.send()).await;
    assert_eq!(failure(&e).0, "ValidationException");
    assert!(message(&e).contains("at 'message' failed to satisfy constraint: Member must have length less than or equal to 1000"));

    // (graph, MaxResults, NextToken): each outside what the model allows.
    let long = "x".repeat(1025);
    let bad_arn = "arn:aws:detective:us-east-1:222222222222:graph:XYZ";
    for (graph, max, token) in [
        (arn.as_str(), Some(201), None),
        (arn.as_str(), Some(0), None),
        (bad_arn, None, None),
        (arn.as_str(), None, Some("forged")),
        (arn.as_str(), None, Some(long.as_str())),
    ] {
        let list = det
            .list_members()
            .graph_arn(graph)
            .set_max_results(max)
            .set_next_token(token.map(str::to_owned));
        let what = format!("{graph} {max:?} {token:?}");
        let expected = ("ValidationException".to_owned(), 400);
        assert_eq!(refused(list.send()).await, expected, "{what}");
    }
    // Nothing invalid changed the graph.
    assert_eq!(members(&det, &arn).await.len(), 2);
}

#[tokio::test]
async fn only_the_graph_administrator_may_list_or_change_members() {
    let sb = start(demo()).await;
    let arn = graph(&detective(&sb, SECURITY, "us-east-1").await).await;
    let stranger = detective(&sb, MANAGEMENT, "us-east-1").await;
    let denied = ("AccessDeniedException".to_owned(), 403);
    let list = stranger.list_members().graph_arn(&arn).send();
    assert_eq!(refused(list).await, denied);
    let outsider = [("500000000001", "a@example.com")];
    assert_eq!(refused(add(&stranger, &arn, &outsider)).await, denied);
    let delete = stranger
        .delete_members()
        .graph_arn(&arn)
        .account_ids("500000000005");
    assert_eq!(refused(delete.send()).await, denied);
    let missing = "arn:aws:detective:us-east-1:222222222222:graph:00000000000000000000000000000000";
    let admin = detective(&sb, SECURITY, "us-east-1").await;
    let list = admin.list_members().graph_arn(missing).send();
    assert_eq!(
        refused(list).await,
        ("ResourceNotFoundException".to_owned(), 404)
    );
}

#[tokio::test]
async fn invited_accounts_are_verified_by_their_root_email_by_the_next_read() {
    let sb = start(demo()).await;
    let det = detective(&sb, SECURITY, "eu-west-1").await;
    let arn = graph(&det).await;
    let out = det
        .create_members()
        .graph_arn(&arn)
        .message("Welcome to the security graph")
        .accounts(account(
            "500000000001",
            "security@partner-analytics.example.org",
        ))
        .accounts(account("500000000003", "partner-ops@partner.example.net")) // not its root email
        .accounts(account("999999999999", "ghost@example.com")) // no such account
        .send()
        .await
        .unwrap();
    assert_eq!(
        statuses(out.members()),
        [
            ("500000000001".into(), MemberStatus::VerificationInProgress),
            ("500000000003".into(), MemberStatus::VerificationInProgress),
            ("999999999999".into(), MemberStatus::VerificationInProgress),
        ]
    );
    assert!(out
        .members()
        .iter()
        .all(|m| m.invitation_type() == Some(&InvitationType::Invitation)));
    assert_eq!(
        members(&det, &arn).await,
        [
            ("500000000001".into(), MemberStatus::Invited),
            ("500000000003".into(), MemberStatus::VerificationFailed),
            ("999999999999".into(), MemberStatus::VerificationFailed),
        ]
    );
    // An account already in the graph comes back unprocessed, with a reason.
    let partner = [("500000000001", "security@partner-analytics.example.org")];
    let again = add(&det, &arn, &partner).await.unwrap();
    assert!(again.members().is_empty());
    let u = &again.unprocessed_accounts()[0];
    assert_eq!(u.account_id(), Some("500000000001"));
    assert_eq!(
        u.reason(),
        Some("The account is already a member of the behavior graph.")
    );
}

#[tokio::test]
async fn organization_accounts_are_enabled_directly_by_the_delegated_administrator() {
    let sb = start(demo()).await;
    let det = detective(&sb, SECURITY, "us-east-1").await;
    let arn = graph(&det).await;
    let accounts = [
        ("300000000001", "aws+payments-prod@example.com"),
        ("300000000013", "aws+ledger-prod@example.com"), // 13 TiB a day
        ("300000000040", "aws+ml-qa@example.com"),       // suspended
    ];
    let out = add(&det, &arn, &accounts).await.unwrap();
    let by_id = |id: &str| {
        out.members()
            .iter()
            .find(|m| m.account_id() == Some(id))
            .unwrap()
            .clone()
    };
    let ok = by_id("300000000001");
    assert_eq!(
        (ok.status(), ok.invitation_type()),
        (
            Some(&MemberStatus::Enabled),
            Some(&InvitationType::Organization)
        )
    );
    let big = by_id("300000000013");
    assert_eq!(big.status(), Some(&MemberStatus::AcceptedButDisabled));
    assert_eq!(
        big.disabled_reason(),
        Some(&MemberDisabledReason::VolumeTooHigh)
    );
    #[allow(deprecated)]
    let percent = big.percent_of_graph_utilization().unwrap();
    assert!(percent > 100.0, "{percent}");
    assert_eq!(
        by_id("300000000040").status(),
        Some(&MemberStatus::VerificationInProgress)
    );
    let listed = det
        .get_members()
        .graph_arn(&arn)
        .account_ids("300000000040")
        .account_ids("300000000099")
        .send()
        .await
        .unwrap();
    assert_eq!(
        statuses(listed.member_details()),
        [("300000000040".into(), MemberStatus::VerificationFailed)]
    );
    assert_eq!(
        listed.unprocessed_accounts()[0].account_id(),
        Some("300000000099")
    );
    // The same organization account invited by someone who is not the delegated
    // administrator is an ordinary invitation.
    let other = detective(&sb, MANAGEMENT, "us-east-1").await;
    let own = other
        .create_graph()
        .send()
        .await
        .unwrap()
        .graph_arn()
        .unwrap()
        .to_owned();
    let staging = [("300000000002", "aws+payments-staging@example.com")];
    let out = add(&other, &own, &staging).await.unwrap();
    assert_eq!(
        out.members()[0].invitation_type(),
        Some(&InvitationType::Invitation)
    );
    // A second CreateGraph returns the same graph ARN (the model's documentation).
    let again = other.create_graph().send().await.unwrap();
    assert_eq!(again.graph_arn(), Some(own.as_str()));
}

#[tokio::test]
async fn members_accept_reject_and_leave_and_list_invitations_shows_only_open_and_accepted() {
    let sb = start(demo()).await;
    let admin = detective(&sb, SECURITY, "us-east-1").await;
    let arn = graph(&admin).await;
    for invite in [
        ("500000000001", "security@partner-analytics.example.org"),
        ("500000000002", "aws-root@acquired.example.com"),
    ] {
        add(&admin, &arn, &[invite]).await.unwrap();
    }
    let m1 = detective(&sb, "500000000001", "us-east-1").await;
    let m2 = detective(&sb, "500000000002", "us-east-1").await;
    let m4 = detective(&sb, "500000000004", "us-east-1").await;
    let inv = m1.list_invitations().send().await.unwrap();
    assert_eq!(
        statuses(inv.invitations()),
        [("500000000001".into(), MemberStatus::Invited)]
    );
    assert_eq!(inv.invitations()[0].administrator_id(), Some(SECURITY));

    m1.accept_invitation().graph_arn(&arn).send().await.unwrap();
    assert_eq!(
        invitations(&m1).await,
        [("500000000001".into(), MemberStatus::Enabled)]
    );
    let accept = m1.accept_invitation().graph_arn(&arn).send();
    assert_eq!(refused(accept).await, ("ConflictException".to_owned(), 409));

    m2.reject_invitation().graph_arn(&arn).send().await.unwrap();
    assert!(invitations(&m2).await.is_empty());
    let accept = m2.accept_invitation().graph_arn(&arn).send();
    let missing = ("ResourceNotFoundException".to_owned(), 404);
    assert_eq!(refused(accept).await, missing);

    // 500000000004 was INVITED by the fixture; it accepts, then leaves.
    m4.accept_invitation().graph_arn(&arn).send().await.unwrap();
    let leave = m4.disassociate_membership().graph_arn(&arn);
    leave.send().await.unwrap();
    assert!(invitations(&m4).await.is_empty());

    assert_eq!(
        members(&admin, &arn).await,
        [
            ("500000000001".into(), MemberStatus::Enabled),
            ("500000000005".into(), MemberStatus::Enabled)
        ]
    );
    let listed = admin.list_members().graph_arn(&arn).send().await.unwrap();
    let m = &listed.member_details()[0];
    assert!(m
        .volume_usage_by_datasource_package()
        .unwrap()
        .contains_key(&aws_sdk_detective::types::DatasourcePackage::DetectiveCore));
    let del = admin
        .delete_members()
        .graph_arn(&arn)
        .account_ids("500000000001")
        .account_ids("500000000002")
        .send()
        .await
        .unwrap();
    assert_eq!(del.account_ids(), ["500000000001"]);
    assert_eq!(
        del.unprocessed_accounts()[0].account_id(),
        Some("500000000002")
    );
    assert!(invitations(&m1).await.is_empty());
}

/// Adds `ids` to the graph 50 at a time, as muster does.
async fn invite_in_batches(det: &Client, arn: &str, ids: &[String]) {
    for chunk in ids.chunks(50) {
        let accounts: Vec<_> = chunk
            .iter()
            .map(|id| (id.as_str(), "x@example.com"))
            .collect();
        add(det, arn, &accounts).await.unwrap();
    }
}

/// The ids of the generated world's accounts numbered `n`.
fn generated(n: std::ops::Range<u64>) -> Vec<String> {
    n.map(|i| format!("{:012}", 100_000_000_000u64 + i))
        .collect()
}

/// A generated world of `accounts` whose graph in us-east-1 has the accounts numbered
/// `members` added: the sandbox, the administrator's client, the graph and the members' ids.
async fn graph_of(
    accounts: usize,
    members: std::ops::Range<u64>,
) -> (muster_sandbox::Sandbox, Client, String, Vec<String>) {
    let regions = vec!["us-east-1".into()];
    let sb = start(generate(&Generate {
        accounts,
        regions,
        seed: 5,
    }))
    .await;
    let det = detective(&sb, GENERATED_SECURITY, "us-east-1").await;
    let arn = graph(&det).await;
    let ids = generated(members);
    invite_in_batches(&det, &arn, &ids).await;
    (sb, det, arn, ids)
}

#[tokio::test]
async fn list_members_pages_through_every_member_in_a_stable_order() {
    let (sb, det, arn, ids) = graph_of(200, 2..122).await;
    sb.reset_calls();
    let mut pages = det
        .list_members()
        .graph_arn(&arn)
        .max_results(50)
        .into_paginator()
        .send();
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.unwrap();
        sizes.push(page.member_details().len());
        seen.extend(
            page.member_details()
                .iter()
                .map(|m| m.account_id().unwrap().to_owned()),
        );
    }
    assert_eq!(sizes, [50, 50, 20]);
    assert_eq!(seen, ids);
    assert_eq!(sb.calls().count("detective", "ListMembers"), 3);
}

#[tokio::test]
async fn a_graph_never_goes_past_1200_members() {
    let (_sb, det, arn, _) = graph_of(1300, 2..1202).await;
    let e = fails(add(&det, &arn, &[("100000001250", "x@example.com")])).await;
    assert_eq!(
        failure(&e),
        ("ServiceQuotaExceededException".to_owned(), 402)
    );
    assert!(
        message(&e).contains("cannot have more than 1200 member accounts"),
        "{}",
        message(&e)
    );
    // Re-sending members already in the graph adds nothing and is not refused.
    let again = add(&det, &arn, &[("100000000002", "x@example.com")]).await;
    let again = again.unwrap();
    assert_eq!(again.unprocessed_accounts().len(), 1);
}
