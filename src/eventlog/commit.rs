//! Appending events and getting them to disk: `append`, and group commit (`append_durable`:
//! appends waiting at the same moment share one flush, on a blocking thread).

use super::*;

impl EventLog {
    /// Appends one event; with `flush`, returns only once it is on disk. After a rebuild, the
    /// first event appended is followed by `store_rebuilt`, flushed.
    pub fn append<'o>(
        &self,
        run: &str,
        origin: impl Into<Origin<'o>>,
        kind: EventKind,
        flush: bool,
    ) -> Result<Event, EventLogError> {
        let at_ms = now_ms();
        let origin = origin.into();
        let write = |kind: &EventKind| {
            self.run(|t| {
                let seq = self.next.load(Ordering::SeqCst);
                let event = Event {
                    v: SCHEMA_VERSION,
                    seq,
                    at_ms,
                    run: run.to_owned(),
                    digest: origin.digest.to_owned(),
                    revision: origin.revision.map(str::to_owned),
                    kind: kind.clone(),
                };
                let bytes = serde_json::to_vec(&event).expect("events are plain JSON");
                // The log first: a crash before the copy is mended at the next open.
                t.events.insert(seq.to_be_bytes(), bytes.as_slice())?;
                if event.kind.feeds_projection() {
                    t.projection.insert(seq.to_be_bytes(), bytes)?;
                }
                self.next.store(seq + 1, Ordering::SeqCst);
                self.keep_doubts(&event);
                Ok(event)
            })
        };
        let event = write(&kind)?;
        let pending = lock(&self.rebuilt).take();
        if let Some(r) = &pending {
            write(&EventKind::StoreRebuilt {
                moved_to: r
                    .moved_to
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                error: r.reason.clone(),
                lost: r.lost,
            })?;
        }
        if flush || pending.is_some() {
            self.flush()?;
        }
        Ok(event)
    }

    /// Appends one event and returns once it is on disk, as `append` with `flush` does, but
    /// without blocking the task: the flush runs on a blocking thread, so the task's other
    /// work (other graphs' calls) goes on meanwhile, and appends that wait at the same time
    /// share one flush (group commit).
    pub async fn append_durable<'o>(
        &self,
        run: &str,
        origin: impl Into<Origin<'o>>,
        kind: EventKind,
    ) -> Result<Event, EventLogError> {
        let event = self.append(run, origin, kind, false)?;
        self.durable_upto(event.seq).await?;
        Ok(event)
    }

    /// Returns once every event up to `seq` is on disk: one flush leads, the waiters it
    /// covers return with it.
    pub(super) async fn durable_upto(&self, seq: u64) -> Result<(), EventLogError> {
        loop {
            let woken = self.flushed.notified();
            tokio::pin!(woken);
            // Registered before the state is read: a flush that ends in between still wakes it.
            woken.as_mut().enable();
            // The guard ends with this block: none is held across an await.
            let lead = {
                let mut d = lock(&self.durable);
                if d.upto >= seq {
                    return Ok(());
                }
                (!d.flushing).then(|| {
                    d.flushing = true;
                    d.opened
                })
            };
            match lead {
                Some(opened) => {
                    let leading = Leading(self);
                    let upto = self.last_seq();
                    self.flush_off_thread().await?;
                    lock(&self.durable).flushed(opened, upto);
                    drop(leading);
                }
                None => woken.await,
            }
        }
    }

    /// A flush on a blocking thread. One that fails is tried again through `run`, the one
    /// recovery path, whose error is the caller's.
    pub(super) async fn flush_off_thread(&self) -> Result<(), EventLogError> {
        let start = std::time::Instant::now();
        let trees = self.trees()?;
        let flushed = tokio::task::spawn_blocking(move || {
            guard(|| {
                trees.db.flush()?;
                Ok(())
            })
        })
        .await;
        match flushed {
            Ok(Ok(())) => {
                self.flushes.fetch_add(1, Ordering::Relaxed);
                let us = start.elapsed().as_micros() as u64;
                self.flush_us.fetch_add(us, Ordering::Relaxed);
                Ok(())
            }
            _ => self.flush(),
        }
    }

    /// Returns once everything appended is on disk.
    pub fn flush(&self) -> Result<(), EventLogError> {
        let start = std::time::Instant::now();
        let (opened, upto) = (lock(&self.durable).opened, self.last_seq());
        self.run(|t| {
            t.db.flush()?;
            Ok(())
        })?;
        self.flushes.fetch_add(1, Ordering::Relaxed);
        let us = start.elapsed().as_micros() as u64;
        self.flush_us.fetch_add(us, Ordering::Relaxed);
        lock(&self.durable).flushed(opened, upto);
        Ok(())
    }

    /// The flushes made since the log opened, and their time.
    pub fn flush_stats(&self) -> FlushStats {
        FlushStats {
            flushes: self.flushes.load(Ordering::Relaxed),
            took: std::time::Duration::from_micros(self.flush_us.load(Ordering::Relaxed)),
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Durable {
    /// Counts the store's openings: a store opened again (or rebuilt, numbering from 1) knows
    /// nothing on disk yet, and a flush of an earlier one does not count for it.
    pub(super) opened: u64,
    pub(super) upto: u64,
    pub(super) flushing: bool,
}

impl Durable {
    /// Everything up to `upto` was flushed to the store of opening `opened`.
    pub(super) fn flushed(&mut self, opened: u64, upto: u64) {
        if self.opened == opened {
            self.upto = self.upto.max(upto);
        }
    }
}

/// Ends a group-commit flush, even when the future running it is dropped: the next waiter
/// leads the next flush.
pub(super) struct Leading<'a>(&'a EventLog);

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        lock(&self.0.durable).flushing = false;
        self.0.flushed.notify_waiters();
    }
}

/// How many flushes the log made and how long they took, since it opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlushStats {
    pub flushes: u64,
    pub took: std::time::Duration,
}

impl std::ops::Sub for FlushStats {
    type Output = FlushStats;
    fn sub(self, before: FlushStats) -> FlushStats {
        FlushStats {
            flushes: self.flushes.saturating_sub(before.flushes),
            took: self.took.saturating_sub(before.took),
        }
    }
}
