//! Security Hub central configuration over aws-sdk-securityhub: the organization's
//! configuration type and status, the finding aggregator, configuration policies and their
//! associations; answers checked into `observed` types, requests built from the desired
//! state's. Listings ask for the model's maximum (100) a page.

use std::collections::BTreeMap;

use aws_sdk_securityhub::types::{
    AssociationType, AutoEnableStandards, OrganizationConfiguration,
    OrganizationConfigurationConfigurationType as ConfigurationType, ParameterConfiguration,
    ParameterValue, ParameterValueType, Policy, SecurityControlCustomParameter,
    SecurityControlsConfiguration, SecurityHubPolicy, Target,
};
use serde_json::json;

use super::{every_page, invalid, time, SdkSecurityHub, SERVICE};
use crate::aws::{account_in, call, Error};
use crate::desired::PolicySpec;
use crate::domain::{AssociationTarget, Controls, Region};
use crate::observed::{
    Administration, CentralStatus, FindingAggregator, ObservedAssociation, ObservedCentral,
    ObservedPolicy,
};

/// The model's most a page for the central-configuration listings.
pub const CENTRAL_PAGE_SIZE: i32 = 100;

impl SdkSecurityHub {
    /// DescribeOrganizationConfiguration's configuration type and status, or that muster's
    /// account is not the organization's administrator in `region`.
    pub async fn central_status(
        &self,
        region: &Region,
    ) -> Result<Administration<CentralStatus>, Error> {
        let read = self.configuration(region).await?;
        Ok(read.map(|o| o.configuration))
    }

    /// Central configuration as muster's account reads it from `home`: the organization's
    /// status, the aggregator (as the organization's administrator), and `central_with`.
    pub async fn read_central(
        &self,
        service: crate::domain::Service,
        home: &Region,
    ) -> Result<ObservedCentral, Error> {
        let organization = self.central_status(home).await?;
        let aggregator = match &organization {
            Administration::Administrator(_) => self.aggregator(home).await?,
            Administration::NotAdministrator(_) => None,
        };
        self.central_with(service, home, organization, aggregator)
            .await
    }

    /// What `organization` and `aggregator`, already read, lead to: the policies and every
    /// association, read only once the organization is CENTRAL with `home` as its home Region.
    pub async fn central_with(
        &self,
        service: crate::domain::Service,
        home: &Region,
        organization: Administration<CentralStatus>,
        aggregator: Option<FindingAggregator>,
    ) -> Result<ObservedCentral, Error> {
        let central = matches!(&organization, Administration::Administrator(s) if s.central);
        let at_home = aggregator.as_ref().is_some_and(|a| a.home == *home);
        let (mut policies, mut associations) = (Vec::new(), Vec::new());
        if central && at_home {
            policies = self.policies(home).await?;
            associations = self.associations(home).await?;
        }
        Ok(ObservedCentral {
            service,
            region: home.clone(),
            organization,
            aggregator,
            policies,
            associations,
        })
    }

    /// The caller's finding aggregator, as listed from `region` (ListFindingAggregators, then
    /// GetFindingAggregator), if it has one.
    pub async fn aggregator(&self, region: &Region) -> Result<Option<FindingAggregator>, Error> {
        let client = self.client(region).await;
        let listed = client.list_finding_aggregators().send();
        let listed = call(SERVICE, "ListFindingAggregators", listed).await?;
        let Some(arn) = listed
            .finding_aggregators()
            .first()
            .and_then(|a| a.finding_aggregator_arn())
        else {
            return Ok(None);
        };
        let op = "GetFindingAggregator";
        let get = client.get_finding_aggregator().finding_aggregator_arn(arn);
        let got = call(SERVICE, op, get.send()).await?;
        let home = got.finding_aggregation_region().and_then(Region::parse);
        let home = home.ok_or_else(|| invalid(op, "no FindingAggregationRegion".into()))?;
        let regions = (got.regions().iter())
            .map(|r| Region::parse(r).ok_or_else(|| invalid(op, format!("Region {r:?}"))));
        Ok(Some(FindingAggregator {
            arn: arn.to_owned(),
            home,
            linking: got.region_linking_mode().unwrap_or_default().to_owned(),
            regions: regions.collect::<Result<_, _>>()?,
        }))
    }

    /// CreateFindingAggregator in `region` (its home), linking `linked` (SPECIFIED_REGIONS, or
    /// NO_REGIONS when there are none).
    pub async fn create_aggregator(&self, region: &Region, linked: &[Region]) -> Result<(), Error> {
        let request = self.client(region).await.create_finding_aggregator();
        let request = match linked.is_empty() {
            true => request.region_linking_mode("NO_REGIONS"),
            false => request
                .region_linking_mode("SPECIFIED_REGIONS")
                .set_regions(names(linked)),
        };
        call(SERVICE, "CreateFindingAggregator", request.send())
            .await
            .map(drop)
    }

    /// UpdateFindingAggregator: `linked` (SPECIFIED_REGIONS).
    pub async fn update_aggregator(
        &self,
        region: &Region,
        arn: &str,
        linked: &[Region],
    ) -> Result<(), Error> {
        let request = (self.client(region).await.update_finding_aggregator())
            .finding_aggregator_arn(arn)
            .region_linking_mode("SPECIFIED_REGIONS")
            .set_regions(names(linked));
        call(SERVICE, "UpdateFindingAggregator", request.send())
            .await
            .map(drop)
    }

    /// UpdateOrganizationConfiguration to CENTRAL, with AutoEnable off and standards NONE as
    /// central configuration requires.
    pub async fn switch_to_central(&self, region: &Region) -> Result<(), Error> {
        let central =
            OrganizationConfiguration::builder().configuration_type(ConfigurationType::Central);
        let request = self
            .client(region)
            .await
            .update_organization_configuration();
        let request = (request
            .auto_enable(false)
            .auto_enable_standards(AutoEnableStandards::None))
        .organization_configuration(central.build());
        call(SERVICE, "UpdateOrganizationConfiguration", request.send())
            .await
            .map(drop)
    }

    /// Every configuration policy (ListConfigurationPolicies, then GetConfigurationPolicy each).
    pub async fn policies(&self, region: &Region) -> Result<Vec<ObservedPolicy>, Error> {
        let op = "ListConfigurationPolicies";
        let ids = every_page(op, |token| async move {
            let request = self.client(region).await.list_configuration_policies();
            let request = request.max_results(CENTRAL_PAGE_SIZE).set_next_token(token);
            let page = call(SERVICE, op, request.send()).await?;
            let ids = page
                .configuration_policy_summaries()
                .iter()
                .filter_map(|p| p.id().map(str::to_owned));
            Ok((ids.collect(), page.next_token().map(str::to_owned)))
        })
        .await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let op = "GetConfigurationPolicy";
            let get = self
                .client(region)
                .await
                .get_configuration_policy()
                .identifier(&id);
            let got = call(SERVICE, op, get.send()).await?;
            let body = match got.configuration_policy() {
                Some(Policy::SecurityHub(p)) => p,
                _ => {
                    return Err(invalid(
                        op,
                        format!("policy {id} has no SecurityHub policy"),
                    ))
                }
            };
            out.push(ObservedPolicy {
                arn: got.arn().unwrap_or_default().to_owned(),
                name: got.name().unwrap_or_default().to_owned(),
                description: got.description().map(str::to_owned),
                enabled: body.service_enabled().unwrap_or(false),
                standards: body
                    .enabled_standard_identifiers()
                    .iter()
                    .cloned()
                    .collect(),
                controls: controls_of(body.security_controls_configuration()),
                parameters: parameters_of(body.security_controls_configuration()),
                id,
            });
        }
        Ok(out)
    }

    /// CreateConfigurationPolicy: the new policy's id.
    pub async fn create_policy(
        &self,
        region: &Region,
        name: &str,
        spec: &PolicySpec,
    ) -> Result<String, Error> {
        let op = "CreateConfigurationPolicy";
        let request = (self.client(region).await.create_configuration_policy())
            .name(name)
            .set_description(spec.description.clone())
            .configuration_policy(policy(spec));
        let made = call(SERVICE, op, request.send()).await?;
        made.id()
            .map(str::to_owned)
            .ok_or_else(|| invalid(op, "no Id".into()))
    }

    /// UpdateConfigurationPolicy: the whole policy as declared (AWS replaces it).
    pub async fn update_policy(
        &self,
        region: &Region,
        id: &str,
        spec: &PolicySpec,
    ) -> Result<(), Error> {
        let request = (self.client(region).await.update_configuration_policy())
            .identifier(id)
            .set_description(spec.description.clone())
            .updated_reason("muster: the desired state changed")
            .configuration_policy(policy(spec));
        call(SERVICE, "UpdateConfigurationPolicy", request.send())
            .await
            .map(drop)
    }

    pub async fn delete_policy(&self, region: &Region, id: &str) -> Result<(), Error> {
        let request = self
            .client(region)
            .await
            .delete_configuration_policy()
            .identifier(id);
        call(SERVICE, "DeleteConfigurationPolicy", request.send())
            .await
            .map(drop)
    }

    /// Every target's association, APPLIED and INHERITED, every page.
    pub async fn associations(&self, region: &Region) -> Result<Vec<ObservedAssociation>, Error> {
        let op = "ListConfigurationPolicyAssociations";
        every_page(op, |token| async move {
            let request = self
                .client(region)
                .await
                .list_configuration_policy_associations();
            let request = request.max_results(CENTRAL_PAGE_SIZE).set_next_token(token);
            let page = call(SERVICE, op, request.send()).await?;
            let next = page.next_token().map(str::to_owned);
            let each = page
                .configuration_policy_association_summaries()
                .iter()
                .map(association);
            Ok((each.collect::<Result<Vec<_>, _>>()?, next))
        })
        .await
    }

    /// StartConfigurationPolicyAssociation of `target` with `configuration` (a policy id, or
    /// self-managed), or, `undo`, StartConfigurationPolicyDisassociation from it.
    pub async fn associate(
        &self,
        region: &Region,
        (target, root): (&AssociationTarget, &str),
        configuration: &str,
        undo: bool,
    ) -> Result<(), Error> {
        let client = self.client(region).await;
        let (id, target) = (configuration, wire_target(target, root));
        if undo {
            let r = client.start_configuration_policy_disassociation();
            let r = r.configuration_policy_identifier(id).target(target).send();
            call(SERVICE, "StartConfigurationPolicyDisassociation", r)
                .await
                .map(drop)
        } else {
            let r = client.start_configuration_policy_association();
            let r = r.configuration_policy_identifier(id).target(target).send();
            call(SERVICE, "StartConfigurationPolicyAssociation", r)
                .await
                .map(drop)
        }
    }
}

fn names(regions: &[Region]) -> Option<Vec<String>> {
    Some(regions.iter().map(ToString::to_string).collect())
}

fn wire_target(target: &AssociationTarget, root: &str) -> Target {
    match target {
        AssociationTarget::Root => Target::RootId(root.to_owned()),
        AssociationTarget::Ou(id) => Target::OrganizationalUnitId(id.clone()),
        AssociationTarget::Account(id) => Target::AccountId(id.to_string()),
    }
}

/// A policy as the API takes it.
fn policy(spec: &PolicySpec) -> Policy {
    let mut sh = SecurityHubPolicy::builder().service_enabled(spec.enabled);
    if spec.enabled {
        let controls = match &spec.controls {
            Controls::Disabled(ids) => SecurityControlsConfiguration::builder()
                .set_disabled_security_control_identifiers(Some(ids.iter().cloned().collect())),
            Controls::Enabled(ids) => SecurityControlsConfiguration::builder()
                .set_enabled_security_control_identifiers(Some(ids.iter().cloned().collect())),
        };
        let parameters = spec.parameters.iter().map(|(control, params)| {
            let each = params
                .iter()
                .filter_map(|(name, value)| Some((name.clone(), parameter(value)?)));
            SecurityControlCustomParameter::builder()
                .security_control_id(control)
                .set_parameters(Some(each.collect()))
                .build()
        });
        let controls = controls.set_security_control_custom_parameters(Some(parameters.collect()));
        sh = sh
            .set_enabled_standard_identifiers(Some(spec.standards.iter().cloned().collect()))
            .security_controls_configuration(controls.build());
    }
    Policy::SecurityHub(sh.build())
}

/// A declared parameter value (`{"Integer":30}`) as the API takes it.
fn parameter(text: &str) -> Option<ParameterConfiguration> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let (kind, value) = v.as_object()?.iter().next()?;
    let strings = |v: &serde_json::Value| -> Option<Vec<String>> {
        v.as_array()?
            .iter()
            .map(|s| s.as_str().map(str::to_owned))
            .collect()
    };
    let value = match kind.as_str() {
        "Integer" => ParameterValue::Integer(i32::try_from(value.as_i64()?).ok()?),
        "IntegerList" => ParameterValue::IntegerList(
            (value.as_array()?.iter())
                .map(|i| i32::try_from(i.as_i64()?).ok())
                .collect::<Option<_>>()?,
        ),
        "Double" => ParameterValue::Double(value.as_f64()?),
        "Boolean" => ParameterValue::Boolean(value.as_bool()?),
        "String" => ParameterValue::String(value.as_str()?.to_owned()),
        "Enum" => ParameterValue::Enum(value.as_str()?.to_owned()),
        "StringList" => ParameterValue::StringList(strings(value)?),
        "EnumList" => ParameterValue::EnumList(strings(value)?),
        _ => return None,
    };
    let p = ParameterConfiguration::builder()
        .value_type(ParameterValueType::Custom)
        .value(value);
    Some(p.build())
}

fn controls_of(c: Option<&SecurityControlsConfiguration>) -> Controls {
    let Some(c) = c else {
        return Controls::Disabled(Default::default());
    };
    match c.enabled_security_control_identifiers() {
        enabled if !enabled.is_empty() => Controls::Enabled(enabled.iter().cloned().collect()),
        _ => Controls::Disabled(
            c.disabled_security_control_identifiers()
                .iter()
                .cloned()
                .collect(),
        ),
    }
}

/// The CUSTOM parameters, as the desired state writes them (`{"Integer":30}`).
fn parameters_of(
    c: Option<&SecurityControlsConfiguration>,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for p in c
        .map(|c| c.security_control_custom_parameters())
        .unwrap_or_default()
    {
        let Some(control) = p.security_control_id() else {
            continue;
        };
        let custom = p
            .parameters()
            .into_iter()
            .flatten()
            .filter(|(_, c)| c.value_type() == Some(&ParameterValueType::Custom));
        let values: BTreeMap<String, String> = custom
            .filter_map(|(name, c)| Some((name.clone(), value_text(c.value()?)?)))
            .collect();
        if !values.is_empty() {
            out.insert(control.to_owned(), values);
        }
    }
    out
}

fn value_text(v: &ParameterValue) -> Option<String> {
    let json = match v {
        ParameterValue::Integer(i) => json!({"Integer": i}),
        ParameterValue::IntegerList(l) => json!({"IntegerList": l}),
        ParameterValue::Double(d) => json!({"Double": d}),
        ParameterValue::Boolean(b) => json!({"Boolean": b}),
        ParameterValue::String(s) => json!({"String": s}),
        ParameterValue::StringList(l) => json!({"StringList": l}),
        ParameterValue::Enum(s) => json!({"Enum": s}),
        ParameterValue::EnumList(l) => json!({"EnumList": l}),
        _ => return None,
    };
    Some(json.to_string())
}

fn association(
    a: &aws_sdk_securityhub::types::ConfigurationPolicyAssociationSummary,
) -> Result<ObservedAssociation, Error> {
    let op = "ListConfigurationPolicyAssociations";
    let id = a.target_id().unwrap_or_default();
    let target = match a.target_type().map(|t| t.as_str()) {
        Some("ACCOUNT") => {
            AssociationTarget::Account(account_in((SERVICE, op), "a target account", Some(id))?)
        }
        Some("ORGANIZATIONAL_UNIT") => AssociationTarget::Ou(id.to_owned()),
        Some("ROOT") => AssociationTarget::Root,
        other => return Err(invalid(op, format!("TargetType {other:?}"))),
    };
    let configuration = a
        .configuration_policy_id()
        .ok_or_else(|| invalid(op, "no ConfigurationPolicyId".into()))?;
    Ok(ObservedAssociation {
        target,
        configuration: configuration.to_owned(),
        applied: a.association_type() == Some(&AssociationType::Applied),
        status: a
            .association_status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        message: a.association_status_message().map(str::to_owned),
        updated: time(a.updated_at()),
    })
}
