//! `muster events`: the event log, oldest first, filtered; read from a copy of the store.

use std::io::Write;

use muster::cli::{EventsArgs, Output};

use super::EXIT_OK;

pub fn events(args: EventsArgs) -> anyhow::Result<u8> {
    let state_dir = muster::config::state_dir(&args.settings)?;
    // Works while another muster holds the log: it reads a copy.
    let log = muster::eventlog::EventLog::open_for_reading(&state_dir)?;
    let mut out = std::io::stdout().lock();
    for e in log.iter() {
        let e = e?;
        if args.account.as_deref().is_some_and(|a| !e.kind.mentions(a))
            || args
                .graph
                .as_deref()
                .is_some_and(|g| e.kind.graph() != Some(g))
            || args.since.is_some_and(|t| e.at() < t)
            || (args.revision.as_deref()).is_some_and(|r| {
                !e.revision
                    .as_deref()
                    .is_some_and(|have| have.starts_with(r))
            })
        {
            continue;
        }
        let line = match args.output {
            Output::Text => muster::report::event_text(&e),
            Output::Json => serde_json::to_string(&e)?,
        };
        if let Err(err) = writeln!(out, "{line}") {
            // A closed pipe (`muster events | head`) is the reader saying it has enough.
            if err.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(EXIT_OK);
            }
            return Err(err.into());
        }
    }
    Ok(EXIT_OK)
}
