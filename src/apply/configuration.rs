//! The writes for one region's organization configuration of a service: AutoEnable (and
//! Security Hub's AutoEnableStandards) by UpdateOrganizationConfiguration, Detective's
//! declared packages started by UpdateDatasourcePackages. Each is one call, an intent flushed
//! before it and an outcome after, counted a setting at a time (`Change::Configure`).

use super::{ApplyReport, Change, Recorder, Step};
use crate::aws::{Apis, DetectiveApi};
use crate::domain::Service;
use crate::eventlog::EventLogError;
use crate::plan::{ConfigurationPlan, DriftKind};

/// The drift a successful UpdateOrganizationConfiguration resolves.
const SET_RESOLVES: [DriftKind; 3] = [
    DriftKind::AutoEnableOff,
    DriftKind::AutoEnableOn,
    DriftKind::AutoEnableStandardsMismatch,
];

const AUTO_ENABLE: Step = Step::new("UpdateOrganizationConfiguration", Change::Configure);
const START: Step = Step::new("UpdateDatasourcePackages", Change::Configure);

/// Carries out one configuration target's plan.
pub(crate) async fn apply_configuration(
    apis: &Apis,
    mut rec: Recorder<'_>,
    cp: &ConfigurationPlan,
) -> Result<ApplyReport, EventLogError> {
    rec.expected = usize::from(cp.set.is_some()) + usize::from(!cp.start.is_empty());
    match (cp.service, &cp.graph) {
        (Service::Detective, Some(graph)) => {
            let api = &apis.detective;
            if let Some(set) = cp.set {
                let call = api.set_auto_enable(graph, set.auto_enable);
                if rec.configure(AUTO_ENABLE, set.settings(), call).await? {
                    resolved(&mut rec, cp, &SET_RESOLVES);
                }
            }
            if !cp.start.is_empty() {
                let packages = cp.start.iter().map(ToString::to_string).collect();
                let call = api.start_datasource_packages(graph, &cp.start);
                if rec.configure(START, packages, call).await? {
                    resolved(&mut rec, cp, &[DriftKind::DatasourcePackageDisabled]);
                }
            }
        }
        (Service::Detective, None) => {}
        (service, _) => {
            if let (Some(api), Some(set)) = (apis.hub(service), cp.set) {
                let call = api.set_auto_enable(&cp.region, set.auto_enable, set.standards);
                if rec.configure(AUTO_ENABLE, set.settings(), call).await? {
                    resolved(&mut rec, cp, &SET_RESOLVES);
                }
            }
        }
    }
    Ok(rec.report)
}

/// Records that a write resolved `kinds` of the target's drift (for the gauges after the
/// pass).
fn resolved(rec: &mut Recorder<'_>, cp: &ConfigurationPlan, kinds: &[DriftKind]) {
    let target = cp.target();
    (rec.report.configured).extend(kinds.iter().map(|k| (target.clone(), *k)));
}
