//! The projection: what the log last recorded about each member's status and each piece of
//! drift, by target name, rebuilt from the last snapshot and the projection events after it.
//! A pass compares what it lists with it to record only what changed.

use super::interned::{Drifts, Statuses};

use super::{EventKind, EventLog, EventLogError, Snapshot};

/// The status a member is recorded with once a listing no longer has it.
pub const REMOVED: &str = "REMOVED";

/// What the log last recorded about each member and each piece of drift: (target, account) →
/// status, and (target, account, kind) → when it was first observed (Unix milliseconds). Its
/// strings are shared (`interned`): at the largest organization it holds hundreds of
/// thousands of entries made of a few thousand distinct strings.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Projection {
    pub status: Statuses,
    pub drift: Drifts,
}

impl Projection {
    /// Packs its maps' nodes full: a pass that recorded many members or much drift inserted
    /// them one at a time, which leaves each node about half full.
    pub fn pack(&mut self) {
        self.status.pack();
        self.drift.pack();
    }

    /// One projection event applied (`at_ms`: when it was recorded).
    fn apply(&mut self, kind: EventKind, at_ms: u64) {
        match kind {
            EventKind::MemberStatusChanged {
                graph, account, to, ..
            } => {
                if to == REMOVED {
                    self.status.remove(&graph, &account);
                } else {
                    self.status.insert(&graph, &account, &to);
                }
            }
            EventKind::DriftObserved {
                graph,
                account,
                kind,
                ..
            } => {
                self.drift.observe((&graph, &account, &kind), at_ms);
            }
            EventKind::DriftResolved {
                graph,
                account,
                kind,
            } => {
                self.drift.remove((&graph, &account, &kind));
            }
            _ => {}
        }
    }
}

/// Rebuilds the projection: the last snapshot, then the events after it.
pub fn replay(log: &EventLog) -> Result<Projection, EventLogError> {
    let mut p = Projection::default();
    let mut from = 0;
    // Taken whole: its strings move into the projection, not copied beside it.
    if let Some(s) = log.take_snapshot()? {
        from = s.seq;
        p.status = s.status;
        p.drift = s.drift;
    }
    for e in log.projection_after(from)? {
        p.apply(e.kind, e.at_ms);
    }
    Ok(p)
}

/// Saves the projection as it stands, so the next start replays only newer events.
pub fn save(log: &EventLog, projection: Projection) -> Result<(), EventLogError> {
    log.save_snapshot(Snapshot {
        in_doubt: log.in_doubt()?,
        seq: log.last_seq(),
        status: projection.status,
        drift: projection.drift,
    })
}
