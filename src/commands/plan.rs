//! `muster plan`: observe and print what `apply` would do; exit 0 none, 2 changes, 1 error.

use muster::cli::{PlanArgs, PlanOutput};

use super::{load_desired, EXIT_CHANGES, EXIT_ERROR, EXIT_OK};

pub async fn plan(args: PlanArgs) -> anyhow::Result<u8> {
    let (config, desired) = match load_desired(&args.settings)? {
        Ok(v) => v,
        Err(invalid) => anyhow::bail!("{invalid}"),
    };
    let sdk = muster::aws::sdk_config(&config.aws).await;
    let apis = muster::reconcile::Apis::from_sdk(&sdk, None);
    if let Some(member) = &desired.member {
        let listings =
            muster::reconcile::member::list(&apis, member, config.max_concurrent_graphs).await;
        let plans = muster::reconcile::member::plan_all(listings, member);
        match args.output {
            PlanOutput::Text => print!("{}", muster::report::member_plan_text(&plans)),
            PlanOutput::Json => println!("{:#}", muster::report::member_plan_json(&plans)),
            PlanOutput::Markdown => print!(
                "## muster plan (member mode)\n\n```\n{}```\n",
                muster::report::member_plan_text(&plans)
            ),
        }
        return Ok(if plans.iter().any(|p| p.listed.is_err()) {
            EXIT_ERROR
        } else if muster::reconcile::member::has_changes(&plans) {
            EXIT_CHANGES
        } else {
            EXIT_OK
        });
    }
    let mut survey = muster::reconcile::survey(
        &apis,
        None,
        &desired,
        &config.plan_settings(),
        config.max_concurrent_graphs,
    )
    .await?;
    // Central acceptance: the invitations waiting, and the members whose role is refused
    // (drift in the plan).
    let roles =
        muster::aws::roles::MemberRoles::of_setting(config.member_role.as_deref(), &sdk, None);
    let accepts = match &roles {
        Some(r) => muster::reconcile::accept::observe(r, &mut survey).await,
        None => Vec::new(),
    };
    let (plan, failures) = (&survey.plan, &survey.failures);
    print(&args, &survey, roles.as_ref(), &accepts);
    Ok(if !failures.is_empty() {
        EXIT_ERROR
    } else if plan.has_changes() || !accepts.is_empty() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    })
}

/// Prints the administrator's plan as `args.output` asks, with central acceptance's accepts
/// when `roles` is set.
fn print(
    args: &PlanArgs,
    survey: &muster::reconcile::Survey,
    roles: Option<&muster::aws::roles::MemberRoles>,
    accepts: &[muster::plan::accept::Acceptance],
) {
    let (plan, failures, desired) = (&survey.plan, &survey.failures, &survey.desired);
    match args.output {
        PlanOutput::Text => {
            let accepting = roles.map_or_else(String::new, |r| {
                muster::report::acceptance_text(accepts, r.template())
            });
            let show = args.show_emails;
            muster::report::write_plan_text(
                &mut |piece| print!("{piece}"),
                plan,
                desired,
                failures,
                show,
            );
            print!("{accepting}");
        }
        PlanOutput::Json => {
            let mut json = muster::report::plan_json(plan, desired, failures, args.show_emails);
            if let Some(r) = roles {
                json["accepts"] = muster::report::acceptance_json(accepts, r.template());
            }
            println!("{json:#}")
        }
        PlanOutput::Markdown => {
            let accepting = roles.map(|r| muster::report::Accepting {
                role: r.template(),
                acceptances: accepts,
            });
            print!(
                "{}",
                muster::report::plan_markdown(plan, desired, failures, args.show_emails, accepting)
            )
        }
    }
}
