//! `muster validate`: every problem in every file, located; a summary of a valid desired state.

use muster::cli::{Output, ValidateArgs};
use serde_json::json;

use super::{load_desired, EXIT_ERROR, EXIT_OK};

pub fn validate(args: &ValidateArgs) -> anyhow::Result<u8> {
    if args.output == Output::Json {
        return validate_json(args);
    }
    match load_desired(&args.settings)? {
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

/// One JSON document: whether the desired state is valid, and every problem with its file,
/// line, column and message (`line` and `column` null for a problem of a whole file).
fn validate_json(args: &ValidateArgs) -> anyhow::Result<u8> {
    let (shown, loaded) = match load_desired(&args.settings)? {
        Ok((config, d)) => (config.desired_state.display().to_string(), Ok(d)),
        Err(invalid) => (String::new(), Err(invalid)),
    };
    let (out, code) = match loaded {
        Ok(d) => (
            json!({
                "valid": true,
                "desired_state": shown,
                "digest": d.digest,
                "revision": d.revision,
                "accounts": d.accounts.len(),
                "files": d.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
                "problems": [],
            }),
            EXIT_OK,
        ),
        Err(invalid) => {
            let problems: Vec<_> = (invalid.0.iter())
                .map(|p| {
                    json!({
                        "file": p.file,
                        "line": p.pos.map(|p| p.line),
                        "column": p.pos.map(|p| p.col),
                        "message": p.message,
                    })
                })
                .collect();
            (json!({"valid": false, "problems": problems}), EXIT_ERROR)
        }
    };
    println!("{out:#}");
    Ok(code)
}
