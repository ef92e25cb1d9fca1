//! `muster import`: read what AWS has (read-only) and write it as a desired state; exit 0
//! written, 1 error. An existing `--output` is never overwritten without `--force`, and the
//! file is checked by the desired-state loader before it is written.

use std::io::Write;

use muster::cli::{ImportArgs, ImportService};
use muster::import::{self, Request};

use super::EXIT_OK;

pub async fn import(args: ImportArgs) -> anyhow::Result<u8> {
    if let Some(out) = &args.output {
        if !args.force && out.symlink_metadata().is_ok() {
            anyhow::bail!(
                "{} exists: muster import never overwrites a file; pass --force to replace it",
                out.display()
            );
        }
    }
    let request = Request {
        regions: args.regions.clone(),
        detective: args.services.contains(&ImportService::Detective),
        securityhub: args.services.contains(&ImportService::Securityhub),
        organization: args.organization,
    };
    let sdk = muster::aws::sdk_config(&muster::config::DEFAULT_AWS).await;
    let apis = muster::aws::Apis::from_sdk(&sdk, None);
    let inventory = import::inventory(&apis, &request, usize::from(args.concurrency)).await?;
    let rendered = import::render(&inventory, &request, std::time::SystemTime::now());
    // What import writes must load: anything else is muster's bug, never the user's file.
    let name = args
        .output
        .as_ref()
        .map_or("<import>".into(), |p| p.display().to_string());
    if let Err(invalid) = muster::desired::parse_files(&[(name, rendered.text.clone())]) {
        anyhow::bail!(
            "import wrote a desired state that does not load (a bug in muster): {invalid}"
        );
    }
    match &args.output {
        None => std::io::stdout()
            .lock()
            .write_all(rendered.text.as_bytes())?,
        Some(path) => write(path, &rendered.text, args.force)?,
    }
    tracing::info!(
        declared = rendered.declared,
        commented_out = rendered.commented,
        excluded = rendered.excluded,
        "imported"
    );
    Ok(EXIT_OK)
}

/// Writes `text` to `path`: created new (never replacing a file that appeared meanwhile), or
/// with `force` through a temporary file renamed over it.
fn write(path: &std::path::Path, text: &str, force: bool) -> anyhow::Result<()> {
    use anyhow::Context;
    let shown = path.display();
    if !force {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .with_context(|| format!("cannot create {shown}"))?;
        if let Err(e) = f.write_all(text.as_bytes()).and_then(|()| f.sync_all()) {
            // Nothing half-written is left for a `muster run` to read.
            let _ = std::fs::remove_file(path);
            return Err(e).with_context(|| format!("cannot write {shown}"));
        }
        return Ok(());
    }
    let tmp = path.with_extension("yaml.muster-import.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {shown}"))?;
    Ok(())
}
