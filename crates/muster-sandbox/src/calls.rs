//! The call log: every request the sandbox answered, in order, and exact counts per service,
//! operation and status. muster's tests assert API call counts against it.

use std::collections::BTreeMap;

use serde::Serialize;

/// The most calls kept in order; counts stay exact past it.
pub const DEFAULT_CALL_LOG_LIMIT: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Call {
    pub seq: u64,
    pub service: String,
    pub operation: String,
    /// The account the request acted as; `None` when the caller was not recognised.
    pub caller: Option<String>,
    pub region: String,
    pub status: u16,
    /// The error name the sandbox answered, if it answered one.
    pub error: Option<String>,
    /// The account ids a membership operation named (CreateMembers, DeleteMembers, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub account_ids: Vec<String>,
    /// Requests of the same service and operation the sandbox was handling when this one
    /// arrived, itself included: with latency injected, how many of them a client had in
    /// flight at once.
    pub in_flight: u32,
    /// When the request arrived, in microseconds since the sandbox started.
    pub at_us: u64,
    /// How long the sandbox took to answer it, injected latency included (microseconds).
    pub took_us: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallCount {
    pub service: String,
    pub operation: String,
    pub status: u16,
    pub count: u64,
}

/// A copy of the log, as `GET /_sandbox/calls` returns it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CallLogSnapshot {
    pub counts: Vec<CallCount>,
    pub calls: Vec<Call>,
    /// Calls counted but no longer kept in `calls` because the log reached its limit.
    pub dropped: u64,
}

impl CallLogSnapshot {
    /// Calls of `operation` on `service`, whatever their status.
    pub fn count(&self, service: &str, operation: &str) -> u64 {
        self.counts
            .iter()
            .filter(|c| c.service == service && c.operation == operation)
            .map(|c| c.count)
            .sum()
    }

    /// Calls of `operation` on `service` answered with `status`.
    pub fn count_status(&self, service: &str, operation: &str, status: u16) -> u64 {
        self.counts
            .iter()
            .filter(|c| c.service == service && c.operation == operation && c.status == status)
            .map(|c| c.count)
            .sum()
    }

    /// Every call of a service, in order.
    pub fn of<'a>(&'a self, service: &'a str) -> impl Iterator<Item = &'a Call> + 'a {
        self.calls.iter().filter(move |c| c.service == service)
    }
}

#[derive(Debug)]
pub struct CallLog {
    next_seq: u64,
    calls: Vec<Call>,
    counts: BTreeMap<(String, String, u16), u64>,
    limit: usize,
    dropped: u64,
}

impl Default for CallLog {
    fn default() -> Self {
        CallLog::with_limit(DEFAULT_CALL_LOG_LIMIT)
    }
}

impl CallLog {
    pub fn with_limit(limit: usize) -> Self {
        CallLog {
            next_seq: 1,
            calls: Vec::new(),
            counts: BTreeMap::new(),
            limit,
            dropped: 0,
        }
    }

    /// Numbers a call as it arrives, so that "the next read" is well defined.
    pub fn next_seq(&mut self) -> u64 {
        let s = self.next_seq;
        self.next_seq += 1;
        s
    }

    pub fn record(&mut self, call: Call) {
        *self
            .counts
            .entry((call.service.clone(), call.operation.clone(), call.status))
            .or_default() += 1;
        if self.calls.len() < self.limit {
            self.calls.push(call);
        } else {
            self.dropped += 1;
        }
    }

    /// Forgets every call; sequence numbers keep counting so pending verifications still settle.
    pub fn reset(&mut self) {
        self.calls.clear();
        self.counts.clear();
        self.dropped = 0;
    }

    pub fn snapshot(&self) -> CallLogSnapshot {
        CallLogSnapshot {
            counts: self
                .counts
                .iter()
                .map(|((service, operation, status), count)| CallCount {
                    service: service.clone(),
                    operation: operation.clone(),
                    status: *status,
                    count: *count,
                })
                .collect(),
            calls: self.calls.clone(),
            dropped: self.dropped,
        }
    }
}
