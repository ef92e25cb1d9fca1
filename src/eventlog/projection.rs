//! The projection: what the log last recorded about each member's status and each piece of
//! drift, by target name, rebuilt from the last snapshot and the projection events after it.
//! A pass compares what it lists with it to record only what changed.

use std::collections::BTreeMap;

use super::{EventKind, EventLog, EventLogError, Snapshot};

/// The status a member is recorded with once a listing no longer has it.
pub const REMOVED: &str = "REMOVED";

/// One piece of drift: (target, account, kind).
pub type DriftKey = (String, String, String);

/// What the log last recorded about each member and each piece of drift: (target, account) →
/// status, and (target, account, kind) → when it was first observed (Unix milliseconds).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Projection {
    pub status: BTreeMap<(String, String), String>,
    pub drift: BTreeMap<DriftKey, u64>,
}

impl Projection {
    /// One projection event applied (`at_ms`: when it was recorded).
    fn apply(&mut self, kind: EventKind, at_ms: u64) {
        match kind {
            EventKind::MemberStatusChanged {
                graph, account, to, ..
            } => {
                if to == REMOVED {
                    self.status.remove(&(graph, account));
                } else {
                    self.status.insert((graph, account), to);
                }
            }
            EventKind::DriftObserved {
                graph,
                account,
                kind,
                ..
            } => {
                self.drift.entry((graph, account, kind)).or_insert(at_ms);
            }
            EventKind::DriftResolved {
                graph,
                account,
                kind,
            } => {
                self.drift.remove(&(graph, account, kind));
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
        p.status = (s.status.into_iter())
            .map(|(g, a, st)| ((g, a), st))
            .collect();
        // A snapshot written before drift was timed: its drift counts from now.
        let now = super::now_ms();
        let since = |i: usize| s.drift_since_ms.get(i).copied().unwrap_or(now);
        p.drift = (s.drift.into_iter().enumerate())
            .map(|(i, key)| (key, since(i)))
            .collect();
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
        status: projection
            .status
            .into_iter()
            .map(|((g, a), s)| (g, a, s))
            .collect(),
        drift_since_ms: projection.drift.values().copied().collect(),
        drift: projection.drift.into_keys().collect(),
    })
}
