//! Security Hub central configuration through aws-sdk-securityhub: the finding aggregator, the
//! switch to CENTRAL and its preconditions, configuration policies, associations inherited
//! through the OU tree, their asynchronous statuses and what they do to each account.

use std::time::Duration;

use aws_sdk_securityhub::types::{
    AssociationType, ConfigurationPolicyAssociationStatus, OrganizationConfiguration,
    OrganizationConfigurationConfigurationType as Kind, OrganizationConfigurationStatus, Policy,
    SecurityControlsConfiguration, SecurityHubPolicy, Target,
};
use aws_sdk_securityhub::Client;
use muster_sandbox::Sandbox;

use crate::common::*;

const HOME: &str = "us-east-1";
const FSBP: &str =
    "arn:aws:securityhub:us-east-1::standards/aws-foundational-security-best-practices/v/1.0.0";

/// The demo world with associations settling at the next call.
async fn world() -> Sandbox {
    let sb = start(demo()).await;
    sb.with_world(|w| w.central.settings.delay = Duration::ZERO);
    sb
}

fn switch(hub: &Client) -> aws_sdk_securityhub::operation::update_organization_configuration::builders::UpdateOrganizationConfigurationFluentBuilder{
    let central = OrganizationConfiguration::builder().configuration_type(Kind::Central);
    hub.update_organization_configuration()
        .auto_enable(false)
        .auto_enable_standards(aws_sdk_securityhub::types::AutoEnableStandards::None)
        .organization_configuration(central.build())
}

fn policy(enabled: bool) -> Policy {
    let controls =
        SecurityControlsConfiguration::builder().disabled_security_control_identifiers("IAM.6");
    let sh = SecurityHubPolicy::builder().service_enabled(enabled);
    let sh = match enabled {
        true => sh
            .enabled_standard_identifiers(FSBP)
            .security_controls_configuration(controls.build()),
        false => sh,
    };
    Policy::SecurityHub(sh.build())
}

/// The delegated administrator with an aggregator in us-east-1 linking eu-west-1, switched.
async fn central(sb: &Sandbox) -> Client {
    let hub = securityhub(sb, SECURITY, HOME).await;
    let create = hub
        .create_finding_aggregator()
        .region_linking_mode("SPECIFIED_REGIONS");
    create.regions("eu-west-1").send().await.unwrap();
    switch(&hub).send().await.unwrap();
    hub
}

/// A policy (`name`, Security Hub on or off) created and associated with `target`: its id.
async fn applied(hub: &Client, (name, enabled): (&str, bool), target: Target) -> String {
    let made = hub
        .create_configuration_policy()
        .name(name)
        .configuration_policy(policy(enabled));
    let id = made.send().await.unwrap().id().unwrap().to_owned();
    let assoc = hub
        .start_configuration_policy_association()
        .configuration_policy_identifier(&id)
        .target(target);
    assoc.send().await.unwrap();
    id
}

async fn configuration(hub: &Client) -> (Option<Kind>, Option<OrganizationConfigurationStatus>) {
    let out = hub
        .describe_organization_configuration()
        .send()
        .await
        .unwrap();
    let o = out.organization_configuration().unwrap();
    (o.configuration_type().cloned(), o.status().cloned())
}

#[tokio::test]
async fn the_switch_to_central_needs_an_aggregator_the_home_region_and_auto_enable_off() {
    let sb = world().await;
    let hub = securityhub(&sb, SECURITY, HOME).await;
    assert_eq!(
        configuration(&hub).await,
        (
            Some(Kind::Local),
            Some(OrganizationConfigurationStatus::Enabled)
        )
    );
    // No aggregator yet: no home Region.
    let e = fails(switch(&hub).send()).await;
    assert_eq!(failure(&e), ("InvalidInputException".to_owned(), 400));
    assert_eq!(
        message(&e),
        "This operation needs a home Region: create a finding aggregator first"
    );
    let e = fails(hub.list_configuration_policies().send()).await;
    assert_eq!(failure(&e).0, "InvalidInputException");

    let create = hub
        .create_finding_aggregator()
        .region_linking_mode("SPECIFIED_REGIONS");
    let made = create.regions("eu-west-1").send().await.unwrap();
    assert_eq!(made.finding_aggregation_region(), Some(HOME));
    assert_eq!(made.regions(), ["eu-west-1"]);
    let again = hub
        .create_finding_aggregator()
        .region_linking_mode("ALL_REGIONS")
        .send();
    assert_eq!(refused(again).await.0, "InvalidInputException");
    // NO_REGIONS with Regions, and the home Region among the Regions, are refused.
    let bad = hub
        .update_finding_aggregator()
        .finding_aggregator_arn(made.finding_aggregator_arn().unwrap());
    let no_regions = bad
        .clone()
        .region_linking_mode("NO_REGIONS")
        .regions("eu-west-1")
        .send();
    assert_eq!(refused(no_regions).await.0, "InvalidInputException");
    let home = bad
        .region_linking_mode("SPECIFIED_REGIONS")
        .regions(HOME)
        .send();
    assert_eq!(refused(home).await.0, "InvalidInputException");

    // From a linked Region: not the home Region.
    let west = securityhub(&sb, SECURITY, "eu-west-1").await;
    let e = fails(switch(&west).send()).await;
    assert_eq!(
        message(&e),
        "This operation is only allowed in the home Region us-east-1 (called in eu-west-1)"
    );
    // AutoEnable on is refused under CENTRAL.
    let on = switch(&hub).auto_enable(true).send();
    assert_eq!(refused(on).await, ("InvalidInputException".to_owned(), 400));
    // The management account is no delegated administrator.
    let management = securityhub(&sb, MANAGEMENT, HOME).await;
    assert_eq!(
        refused(switch(&management).send()).await.0,
        "InvalidAccessException"
    );

    switch(&hub).send().await.unwrap();
    assert_eq!(
        configuration(&hub).await,
        (
            Some(Kind::Central),
            Some(OrganizationConfigurationStatus::Enabled)
        )
    );
    // CENTRAL in the linked Region too, and the aggregator reads the same there.
    assert_eq!(configuration(&west).await.0, Some(Kind::Central));
    let listed = west.list_finding_aggregators().send().await.unwrap();
    let arn = listed.finding_aggregators()[0]
        .finding_aggregator_arn()
        .unwrap();
    let got = west
        .get_finding_aggregator()
        .finding_aggregator_arn(arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        (got.finding_aggregation_region(), got.region_linking_mode()),
        (Some(HOME), Some("SPECIFIED_REGIONS"))
    );
}

#[tokio::test]
async fn the_switch_is_pending_until_it_settles() {
    let sb = start(demo()).await;
    sb.with_world(|w| w.central.settings.delay = Duration::from_millis(300));
    let hub = central(&sb).await;
    assert_eq!(
        configuration(&hub).await.1,
        Some(OrganizationConfigurationStatus::Pending)
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        configuration(&hub).await.1,
        Some(OrganizationConfigurationStatus::Enabled)
    );
}

/// (target, configuration, APPLIED, status) of every association, all pages of 100 at most.
async fn associations(hub: &Client) -> Vec<(String, String, bool, String)> {
    let mut pages = hub
        .list_configuration_policy_associations()
        .max_results(100)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(p) = pages.next().await {
        for a in p.unwrap().configuration_policy_association_summaries() {
            let applied = a.association_type() == Some(&AssociationType::Applied);
            let status = a.association_status().unwrap().as_str().to_owned();
            out.push((
                a.target_id().unwrap().to_owned(),
                a.configuration_policy_id().unwrap().to_owned(),
                applied,
                status,
            ));
        }
    }
    out
}

#[tokio::test]
async fn associations_are_inherited_through_the_ou_tree_settle_and_turn_security_hub_on_or_off() {
    let sb = world().await;
    let hub = central(&sb).await;
    let on = hub
        .create_configuration_policy()
        .name("baseline")
        .configuration_policy(policy(true));
    let on = on.send().await.unwrap();
    let off = hub
        .create_configuration_policy()
        .name("off")
        .configuration_policy(policy(false));
    let off = off.send().await.unwrap();
    let dup = hub
        .create_configuration_policy()
        .name("off")
        .configuration_policy(policy(false))
        .send();
    assert_eq!(
        refused(dup).await,
        ("ResourceConflictException".to_owned(), 409)
    );
    let (on_id, off_id) = (on.id().unwrap(), off.id().unwrap());

    let start = |policy: &str, target: Target| {
        hub.start_configuration_policy_association()
            .configuration_policy_identifier(policy)
            .target(target)
            .send()
    };
    let root = start(on_id, Target::RootId("r-m5tr".into())).await.unwrap();
    assert_eq!(
        (root.association_type(), root.association_status()),
        (
            Some(&AssociationType::Applied),
            Some(&ConfigurationPolicyAssociationStatus::Pending)
        )
    );
    start(
        off.arn().unwrap(),
        Target::OrganizationalUnitId("ou-m5tr-sandboxes".into()),
    )
    .await
    .unwrap();
    start(
        "SELF_MANAGED_SECURITY_HUB",
        Target::AccountId("300000000002".into()),
    )
    .await
    .unwrap();
    let missing = start(
        on_id,
        Target::OrganizationalUnitId("ou-m5tr-nowhere1".into()),
    );
    assert_eq!(
        refused(missing).await,
        ("ResourceNotFoundException".to_owned(), 404)
    );

    let all = associations(&hub).await;
    // The root, three OUs and the 55 organization accounts.
    assert_eq!(all.len(), 1 + 3 + 55);
    let of = |id: &str| all.iter().find(|a| a.0 == id).cloned().unwrap();
    assert_eq!(
        of("r-m5tr"),
        ("r-m5tr".into(), on_id.into(), true, "SUCCESS".into())
    );
    assert_eq!(
        of("ou-m5tr-workloads"),
        (
            "ou-m5tr-workloads".into(),
            on_id.into(),
            false,
            "SUCCESS".into()
        )
    );
    assert_eq!(
        of("400000000001"),
        (
            "400000000001".into(),
            off_id.into(),
            false,
            "SUCCESS".into()
        )
    );
    assert_eq!(of("300000000002").1, "SELF_MANAGED_SECURITY_HUB");
    assert_eq!(of("300000000040").3, "FAILED", "a suspended account");
    let failed = hub
        .get_configuration_policy_association()
        .target(Target::AccountId("300000000040".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        failed.association_status_message(),
        Some("Policy association failed because the account is suspended")
    );

    // Carried out in the home and linked Regions: on under the root, off in the sandboxes.
    sb.with_world(|w| {
        for region in [HOME, "eu-west-1"] {
            let r = &w.regions[region];
            assert!(r.hubs.contains_key("300000000001"), "{region}");
            assert!(!r.hubs.contains_key("400000000001"), "{region}");
            assert_eq!(
                r.hub_standards["300000000001"].iter().collect::<Vec<_>>(),
                [FSBP]
            );
        }
    });
    // A centrally managed account cannot change its own Security Hub.
    let member = securityhub(&sb, "400000000001", HOME).await;
    let e = fails(member.enable_security_hub().send()).await;
    assert_eq!(failure(&e), ("AccessDeniedException".to_owned(), 403));
    assert_eq!(
        message(&e),
        "This account is currently associated with a central configuration policy"
    );

    // Filters: the applied associations only.
    let applied = hub.list_configuration_policy_associations().filters(
        aws_sdk_securityhub::types::AssociationFilters::builder()
            .association_type(AssociationType::Applied)
            .build(),
    );
    let applied = applied.send().await.unwrap();
    assert_eq!(
        applied.configuration_policy_association_summaries().len(),
        3
    );
    let too_many = hub
        .list_configuration_policy_associations()
        .max_results(101)
        .send();
    assert_eq!(refused(too_many).await.0, "InvalidInputException");
}

#[tokio::test]
async fn a_policy_in_use_cannot_be_deleted_and_an_update_goes_pending_again() {
    let sb = start(demo()).await;
    sb.with_world(|w| w.central.settings.delay = Duration::from_millis(200));
    let hub = central(&sb).await;
    let ou = Target::OrganizationalUnitId("ou-m5tr-security".into());
    let id = applied(&hub, ("baseline", true), ou.clone()).await;
    let e = fails(hub.delete_configuration_policy().identifier(&id).send()).await;
    assert_eq!(failure(&e), ("ResourceConflictException".to_owned(), 409));
    tokio::time::sleep(Duration::from_millis(250)).await;
    let status = |hub: &Client| {
        let get = hub
            .get_configuration_policy_association()
            .target(Target::AccountId("222222222223".into()));
        async move { get.send().await.unwrap().association_status().cloned() }
    };
    assert_eq!(
        status(&hub).await,
        Some(ConfigurationPolicyAssociationStatus::Success)
    );
    // The policy changes: the accounts it governs go PENDING again.
    let update = hub
        .update_configuration_policy()
        .identifier(&id)
        .configuration_policy(policy(false));
    update.send().await.unwrap();
    assert_eq!(
        status(&hub).await,
        Some(ConfigurationPolicyAssociationStatus::Pending)
    );
    let got = hub
        .get_configuration_policy()
        .identifier(&id)
        .send()
        .await
        .unwrap();
    assert!(
        matches!(got.configuration_policy(), Some(Policy::SecurityHub(p)) if p.service_enabled() == Some(false))
    );

    let undo = hub
        .start_configuration_policy_disassociation()
        .configuration_policy_identifier(&id)
        .target(ou.clone());
    undo.send().await.unwrap();
    let e = fails(hub.get_configuration_policy_association().target(ou).send()).await;
    assert_eq!(failure(&e).0, "ResourceNotFoundException");
    hub.delete_configuration_policy()
        .identifier(&id)
        .send()
        .await
        .unwrap();
    let listed = hub.list_configuration_policies().send().await.unwrap();
    assert!(listed.configuration_policy_summaries().is_empty());
}

#[tokio::test]
async fn an_organization_managed_by_organizations_policies_is_disabled_and_refuses_writes() {
    let sb = world().await;
    let hub = central(&sb).await;
    sb.with_world(|w| w.central.settings.managed_by_policies = true);
    let (_, status) = configuration(&hub).await;
    // This SDK's model predates DISABLED: it reads as an unknown value.
    assert_eq!(status.as_ref().map(|s| s.as_str()), Some("DISABLED"));
    let create = hub
        .create_configuration_policy()
        .name("baseline")
        .configuration_policy(policy(true))
        .send();
    assert_eq!(
        refused(create).await,
        ("AccessDeniedException".to_owned(), 403)
    );
}

#[tokio::test]
async fn an_account_that_joins_an_ou_inherits_its_policy() {
    let sb = world().await;
    let hub = central(&sb).await;
    let ou = Target::OrganizationalUnitId("ou-m5tr-sandboxes".into());
    let id = applied(&hub, ("off", false), ou).await;
    sb.with_world(|w| {
        let mut a = w.accounts["400000000001"].clone();
        a.id = "400000000099".into();
        w.accounts.insert(a.id.clone(), a);
    });
    let new = Target::AccountId("400000000099".into());
    let got = hub
        .get_configuration_policy_association()
        .target(new.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        (got.configuration_policy_id(), got.association_type()),
        (Some(id.as_str()), Some(&AssociationType::Inherited))
    );
    let got = hub
        .get_configuration_policy_association()
        .target(new)
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.association_status(),
        Some(&ConfigurationPolicyAssociationStatus::Success)
    );
}
