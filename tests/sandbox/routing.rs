//! One listener, three services: routing by the SigV4 scope, identity by access key, faults and
//! the call log.

use std::time::{Duration, Instant};

use muster_sandbox::{FaultConfig, FaultRule};

use crate::common::*;

/// How many graphs ListGraphs shows the caller.
async fn graphs(det: &aws_sdk_detective::Client) -> usize {
    det.list_graphs().send().await.unwrap().graph_list().len()
}

/// CreateMembers of `accounts` (id, email), which must succeed.
async fn create(
    det: &aws_sdk_detective::Client,
    arn: &str,
    accounts: &[(&str, &str)],
) -> aws_sdk_detective::operation::create_members::CreateMembersOutput {
    let accounts = accounts.iter().map(|(id, email)| {
        let account = aws_sdk_detective::types::Account::builder().account_id(*id);
        account.email_address(*email).build().unwrap()
    });
    let create = det.create_members().graph_arn(arn);
    create
        .set_accounts(Some(accounts.collect()))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn one_endpoint_serves_all_three_services_routed_by_the_signing_scope() {
    let sb = start(demo()).await;
    let det = detective(&sb, SECURITY, "eu-west-1").await;
    let hub = securityhub(&sb, SECURITY, "eu-west-1").await;
    let org = organizations(&sb, MANAGEMENT).await;

    let arn = graph(&det).await;
    assert!(
        arn.starts_with("arn:aws:detective:eu-west-1:222222222222:graph:"),
        "{arn}"
    );
    let hub_arn = hub.describe_hub().send().await.unwrap();
    assert_eq!(
        hub_arn.hub_arn(),
        Some("arn:aws:securityhub:eu-west-1:222222222222:hub/default")
    );
    let o = org.describe_organization().send().await.unwrap();
    assert_eq!(o.organization().unwrap().id(), Some("o-m5tr4ex4mp"));

    let calls = sb.calls();
    let seen: Vec<_> = calls
        .calls
        .iter()
        .map(|c| {
            (
                c.service.as_str(),
                c.operation.as_str(),
                c.region.as_str(),
                c.caller.as_deref(),
                c.status,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("detective", "ListGraphs", "eu-west-1", Some(SECURITY), 200),
            (
                "securityhub",
                "DescribeHub",
                "eu-west-1",
                Some(SECURITY),
                200
            ),
            (
                "organizations",
                "DescribeOrganization",
                "us-east-1",
                Some(MANAGEMENT),
                200
            ),
        ]
    );
}

#[tokio::test]
async fn each_region_is_its_own_world() {
    let sb = start(demo()).await;
    let east = graph(&detective(&sb, SECURITY, "us-east-1").await).await;
    let west = graph(&detective(&sb, SECURITY, "eu-west-1").await).await;
    assert_ne!(east, west);
    // The east graph has two members from the fixture; the west one none.
    let det = detective(&sb, SECURITY, "us-east-1").await;
    let det_w = detective(&sb, SECURITY, "eu-west-1").await;
    for (client, arn, n) in [(&det, &east, 2), (&det_w, &west, 0)] {
        let listed = client.list_members().graph_arn(arn).send().await.unwrap();
        assert_eq!(listed.member_details().len(), n, "{arn}");
    }
    // A graph ARN from another region does not exist here.
    let list = det_w.list_members().graph_arn(&east).send();
    let missing = ("ResourceNotFoundException".to_owned(), 404);
    assert_eq!(refused(list).await, missing);
    // A region the fixture never mentioned is empty, not an error.
    let south = detective(&sb, SECURITY, "ap-south-1").await;
    assert_eq!(graphs(&south).await, 0);
}

#[tokio::test]
async fn callers_are_who_their_access_key_says() {
    let sb = start(demo()).await;
    // A mapped key id acts as the security account and sees its graph.
    let mapped = detective(&sb, "AKIASANDBOXSECURITY", "us-east-1").await;
    assert_eq!(graphs(&mapped).await, 1);
    // A 12-digit key id acts as that account, which has no graph.
    let other = detective(&sb, "300000000001", "us-east-1").await;
    assert_eq!(graphs(&other).await, 0);
    // An unknown key is refused as AWS refuses it, by every service.
    let unknown = ("UnrecognizedClientException".to_owned(), 403);
    let det = detective(&sb, "AKIANOBODY", "us-east-1").await;
    let e = fails(det.list_graphs().send()).await;
    assert_eq!(failure(&e), unknown);
    assert_eq!(
        message(&e),
        "The security token included in the request is invalid."
    );
    let hub = securityhub(&sb, "AKIANOBODY", "us-east-1").await;
    assert_eq!(refused(hub.describe_hub().send()).await, unknown);
    let org = organizations(&sb, "AKIANOBODY").await;
    assert_eq!(refused(org.list_roots().send()).await, unknown);

    let calls = sb.calls();
    let refused: Vec<_> = calls
        .calls
        .iter()
        .filter(|c| c.caller.is_none())
        .map(|c| (c.operation.as_str(), c.status))
        .collect();
    assert_eq!(
        refused,
        [
            ("ListGraphs", 403),
            ("DescribeHub", 403),
            ("ListRoots", 403)
        ]
    );
}

#[tokio::test]
async fn fail_next_fails_exactly_that_many_calls_and_the_sdk_retries_through_them() {
    let sb = start(demo()).await;
    let det = detective(&sb, SECURITY, "us-east-1").await;
    let arn = graph(&det).await;
    fail_next(
        &sb,
        "detective",
        "CreateMembers",
        2,
        "InternalServerException",
    );
    sb.reset_calls();
    let partner = ("500000000001", "security@partner-analytics.example.org");
    let out = create(&det, &arn, &[partner]).await;
    assert_eq!(out.members().len(), 1);
    let calls = sb.calls();
    assert_eq!(calls.count_status("detective", "CreateMembers", 500), 2);
    assert_eq!(calls.count_status("detective", "CreateMembers", 200), 1);
    assert_eq!(calls.count("detective", "CreateMembers"), 3);
    let errors: Vec<_> = calls.calls.iter().map(|c| c.error.as_deref()).collect();
    assert_eq!(
        errors,
        [
            Some("InternalServerException"),
            Some("InternalServerException"),
            None
        ]
    );
}

#[tokio::test]
async fn each_service_throttles_with_its_own_error() {
    let sb = start(demo()).await;
    fault_rule(
        &sb,
        3,
        FaultRule {
            throttle_probability: 1.0,
            ..FaultRule::default()
        },
    );
    let det = detective(&sb, SECURITY, "us-east-1").await;
    let throttled = refused(det.list_graphs().send()).await;
    assert_eq!(throttled, ("TooManyRequestsException".to_owned(), 429));
    let hub = securityhub(&sb, SECURITY, "us-east-1").await;
    let throttled = refused(hub.list_members().send()).await;
    assert_eq!(throttled, ("LimitExceededException".to_owned(), 429));
    let org = organizations(&sb, MANAGEMENT).await;
    let throttled = refused(org.list_roots().send()).await;
    assert_eq!(throttled, ("TooManyRequestsException".to_owned(), 400));
    // The SDK's standard retry mode tried each three times.
    let calls = sb.calls();
    assert_eq!(calls.count_status("detective", "ListGraphs", 429), 3);
    assert_eq!(calls.count_status("securityhub", "ListMembers", 429), 3);
    assert_eq!(calls.count_status("organizations", "ListRoots", 400), 3);
}

#[tokio::test]
async fn probabilistic_faults_are_reproducible_from_the_seed() {
    async fn run(seed: u64) -> Vec<u16> {
        let sb = start(demo()).await;
        sb.set_faults(FaultConfig {
            seed,
            rules: vec![FaultRule {
                service: Some("organizations".into()),
                operation: Some("ListRoots".into()),
                error_probability: 0.5,
                ..FaultRule::default()
            }],
            garble_next: vec![],
            fail_next: vec![],
        })
        .unwrap();
        let org = organizations(&sb, MANAGEMENT).await;
        for _ in 0..10 {
            let _ = org.list_roots().send().await;
        }
        sb.calls().calls.iter().map(|c| c.status).collect()
    }
    let a = run(11).await;
    assert_eq!(a, run(11).await);
    assert!(a.contains(&500) && a.contains(&200), "{a:?}");
}

#[tokio::test]
async fn latency_is_added_before_the_answer() {
    let sb = start(demo()).await;
    sb.set_faults(FaultConfig {
        rules: vec![FaultRule {
            service: Some("securityhub".into()),
            latency_ms: 300,
            ..FaultRule::default()
        }],
        ..FaultConfig::default()
    })
    .unwrap();
    let hub = securityhub(&sb, SECURITY, "us-east-1").await;
    let t = Instant::now();
    hub.describe_hub().send().await.unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn the_call_log_names_the_accounts_a_membership_call_sent_and_resets() {
    let sb = start(demo()).await;
    let det = detective(&sb, SECURITY, "eu-west-1").await;
    let arn = graph(&det).await;
    let accounts = ["300000000001", "300000000002", "500000000001"].map(|id| (id, "x@example.com"));
    create(&det, &arn, &accounts).await;
    let calls = sb.calls();
    let create = calls
        .calls
        .iter()
        .find(|c| c.operation == "CreateMembers")
        .unwrap();
    assert_eq!(
        create.account_ids,
        ["300000000001", "300000000002", "500000000001"]
    );
    assert_eq!(calls.count("detective", "ListGraphs"), 1);
    sb.reset_calls();
    assert_eq!(sb.calls().calls.len(), 0);
    assert_eq!(sb.calls().count("detective", "ListGraphs"), 0);
}
