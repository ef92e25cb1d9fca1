//! Reading the log: events after a sequence number (all, or of some types), every event for
//! `muster events`, the intents in doubt, and the helpers that decode stored entries.

use super::*;

impl EventLog {
    /// The projection's events after `seq`, in order.
    pub fn projection_after(&self, seq: u64) -> Result<Vec<Event>, EventLogError> {
        self.run(|t| events_after(&t.projection, seq).collect())
    }

    /// Events after `seq`, in order.
    pub fn after(&self, seq: u64) -> Result<Vec<Event>, EventLogError> {
        self.run(|t| events_after(&t.events, seq).collect())
    }

    /// Events after `seq` whose `type` is one of `types`, in order. Events of other types are not
    /// decoded at all, which is what keeps replay fast: the large ones (50-account intents and
    /// results) are never what a projection needs.
    pub fn after_of_types(&self, seq: u64, types: &[&str]) -> Result<Vec<Event>, EventLogError> {
        self.run(|t| of_types(&t.events, seq, types).collect())
    }

    /// The sequence number of the last event, 0 when empty.
    pub fn last_seq(&self) -> u64 {
        self.next.load(Ordering::SeqCst).saturating_sub(1)
    }

    /// Bytes the store takes on disk (0 when that cannot be read).
    pub fn size_on_disk(&self) -> u64 {
        self.run(|t| Ok(t.db.size_on_disk()?)).unwrap_or(0)
    }

    /// Every event, in order, read as it goes (for `muster events`). It does not recover: a
    /// damaged store ends it with an error.
    pub fn iter(&self) -> impl Iterator<Item = Result<Event, EventLogError>> + '_ {
        let trees = self.trees();
        let mut inner = trees.as_ref().ok().map(|t| t.events.iter());
        let mut failed = trees.err();
        std::iter::from_fn(move || {
            if let Some(e) = failed.take() {
                inner = None;
                return Some(Err(e));
            }
            let it = inner.as_mut()?;
            match guard(|| it.next().map(decode_entry).transpose()) {
                Ok(Some(e)) => Some(Ok(e)),
                Ok(None) => {
                    inner = None;
                    None
                }
                Err(f) => {
                    inner = None;
                    Some(Err(self.error(f)))
                }
            }
        })
    }

    /// Intents with no outcome yet: (batch, graph, accounts), in order. Worked out once from
    /// the store (the snapshot's, then the intents and outcomes after it) and then kept as
    /// events are appended: a pass's end does not read the pass's own events again.
    pub fn in_doubt(&self) -> Result<InDoubt, EventLogError> {
        let last = self.last_seq();
        if let Some(d) = lock(&self.doubts).as_ref().filter(|d| d.upto == last) {
            return Ok(d.open.clone());
        }
        // Everything before the snapshot is settled but what it carries; after it, only intents
        // and outcomes are decoded.
        let (from, mut open) = self.snapshot_doubts()?.unwrap_or_default();
        for e in self.after_of_types(from, &INTENT_TYPES)? {
            settle(&mut open, &e.kind);
        }
        *lock(&self.doubts) = Some(Doubts {
            upto: last,
            open: open.clone(),
        });
        Ok(open)
    }

    /// Keeps the intents in doubt known (if they are) as `event` is appended; one that does
    /// not follow the last one they include leaves them to be worked out again.
    pub(super) fn keep_doubts(&self, event: &Event) {
        let mut kept = lock(&self.doubts);
        match kept.as_mut() {
            Some(d) if d.upto + 1 == event.seq => {
                settle(&mut d.open, &event.kind);
                d.upto = event.seq;
            }
            Some(_) => *kept = None,
            None => {}
        }
    }

    pub fn len(&self) -> usize {
        self.run(|t| Ok(t.events.len())).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The intents in doubt up to an event: what `in_doubt` keeps.
pub(super) struct Doubts {
    /// The last event they include.
    pub(super) upto: u64,
    pub(super) open: InDoubt,
}

/// `open` after `kind`: an intent opens its batch, an outcome settles it.
fn settle(open: &mut InDoubt, kind: &EventKind) {
    match kind {
        EventKind::InviteIntent {
            batch,
            graph,
            accounts,
        }
        | EventKind::RemovalIntent {
            batch,
            graph,
            accounts,
            ..
        }
        | EventKind::ActionIntent {
            batch,
            target: graph,
            accounts,
            ..
        } => open.push((batch.clone(), graph.clone(), accounts.clone())),
        EventKind::InviteResult { batch, .. }
        | EventKind::InviteFailed { batch, .. }
        | EventKind::RemovalResult { batch, .. }
        | EventKind::RemovalFailed { batch, .. }
        | EventKind::IntentResolved { batch, .. }
        | EventKind::ActionResult { batch, .. }
        | EventKind::ActionFailed { batch, .. } => open.retain(|(b, _, _)| b != batch),
        _ => {}
    }
}

/// A crash between writing an event and its projection copy leaves the projection tree
/// behind; copy what it lacks from the log.
pub(super) fn catch_up_projection(t: &Trees) -> Result<(), Fault> {
    let have = match t.projection.last()? {
        Some((k, _)) => seq_of(&k),
        None => 0,
    };
    for e in of_types(&t.events, have, &PROJECTION_TYPES) {
        let e = e?;
        let bytes = serde_json::to_vec(&e).expect("events are plain JSON");
        t.projection.insert(e.seq.to_be_bytes(), bytes)?;
    }
    Ok(())
}

/// The events of `tree` after `seq`, decoded, in order.
pub(super) fn events_after(
    tree: &sled::Tree,
    seq: u64,
) -> impl Iterator<Item = Result<Event, Fault>> + '_ {
    tree.range(seq.saturating_add(1).to_be_bytes()..)
        .map(decode_entry)
}

/// As `events_after`, only the events whose `type` is in `types`; others are not decoded.
pub(super) fn of_types<'a>(
    tree: &'a sled::Tree,
    seq: u64,
    types: &'a [&'a str],
) -> impl Iterator<Item = Result<Event, Fault>> + 'a {
    tree.range(seq.saturating_add(1).to_be_bytes()..)
        .filter_map(move |r| {
            let (k, v) = match r {
                Ok(kv) => kv,
                Err(e) => return Some(Err(Fault::from(e))),
            };
            // Parse it when its type is wanted, or cannot be told without parsing.
            if let Some(t) = type_of(&v) {
                if !types.contains(&t) {
                    return None;
                }
            }
            Some(decode(&k, &v))
        })
}

pub(super) fn decode_entry(r: sled::Result<(sled::IVec, sled::IVec)>) -> Result<Event, Fault> {
    let (k, v) = r?;
    decode(&k, &v)
}

pub(super) fn decode(key: &[u8], value: &[u8]) -> Result<Event, Fault> {
    serde_json::from_slice(value)
        .map_err(|e| Fault::Damaged(format!("event {} cannot be read: {e}", seq_of(key))))
}

/// The `type` tag of a stored event, read without decoding it. The tag is the first `"type":"`
/// in the JSON: the fields before it (`v`, `seq`, `at_ms`, `run`, `digest`, `revision`) are
/// muster's own and never contain that text.
pub(super) fn type_of(raw: &[u8]) -> Option<&str> {
    const TAG: &[u8] = b"\"type\":\"";
    let start = raw.windows(TAG.len()).position(|w| w == TAG)? + TAG.len();
    let len = raw[start..].iter().position(|b| *b == b'"')?;
    std::str::from_utf8(&raw[start..start + len]).ok()
}

pub(super) fn seq_of(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = key.len().min(8);
    b[8 - n..].copy_from_slice(&key[..n]);
    u64::from_be_bytes(b)
}
