//! `muster validate`: every problem in every file, located; a summary of a valid desired state.

use muster::cli::SettingsArgs;

use super::{load_desired, EXIT_ERROR, EXIT_OK};

pub fn validate(args: &SettingsArgs) -> anyhow::Result<u8> {
    match load_desired(args)? {
        Ok((config, d)) => {
            let digest = &d.digest[..12];
            let file = config.desired_state.display();
            if let Some(m) = &d.member {
                let services = match (m.detective, m.securityhub) {
                    (true, true) => "Detective and Security Hub",
                    (true, false) => "Detective",
                    _ => "Security Hub",
                };
                println!(
                    "{file}: valid: member mode, {services} invitations in {} region(s), {} expected administrator(s), accept {}, decline_unexpected {} (digest {digest})",
                    m.regions.len(),
                    m.expected_administrators.len(),
                    m.accept,
                    m.decline_unexpected
                );
                return Ok(EXIT_OK);
            }
            let hub: String = (d.hubs.iter())
                .map(|(service, s)| {
                    format!(", {} in {} region(s)", service.title(), s.regions.len())
                })
                .collect();
            let org = d
                .organization
                .as_ref()
                .map(|o| {
                    format!(
                        " by hand, plus the organization's from {} selection(s)",
                        o.selection.include.len()
                    )
                })
                .unwrap_or_default();
            println!(
                "{file}: valid: {} accounts{org}, {} graphs{hub} (digest {digest})",
                d.accounts.len(),
                d.detective.graphs.len(),
            );
            Ok(EXIT_OK)
        }
        Err(invalid) => {
            for p in &invalid.0 {
                println!("{p}");
            }
            eprintln!("error: {} problem(s) in the desired state", invalid.0.len());
            Ok(EXIT_ERROR)
        }
    }
}
