//! Injected faults: throttling, internal errors and latency with seeded probabilities, and
//! "fail the next N calls of operation X with error Y". The same seed and the same sequence of
//! calls give the same faults, so a test that found a bug can find it again.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::wire::{ApiError, Service};

/// Faults as the fixture's `faults:` key and `POST /_sandbox/faults` spell them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultConfig {
    /// Seed of the random draws behind the probabilities and jitter.
    #[serde(default)]
    pub seed: u64,
    /// Per service and operation; the first rule that matches a call applies.
    #[serde(default)]
    pub rules: Vec<FaultRule>,
    /// Calls to fail outright, in order, before any rule is consulted.
    #[serde(default)]
    pub fail_next: Vec<FailNext>,
    /// Calls served as usual whose answer is replaced by a `200 OK` HTML page, as a proxy
    /// between the client and AWS might: what AWS did is done, and the client cannot read it.
    #[serde(default)]
    pub garble_next: Vec<GarbleNext>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GarbleNext {
    pub service: String,
    pub operation: String,
    pub count: u32,
}

/// The page a garbled answer carries instead of the service's JSON.
pub const GARBLED_PAGE: &str =
    "<html><head><title>200 OK</title></head><body>proxy: upstream answer withheld</body></html>";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// `detective`, `securityhub` or `organizations`; absent matches every service.
    #[serde(default)]
    pub service: Option<String>,
    /// An operation name such as `ListMembers`; absent matches every operation.
    #[serde(default)]
    pub operation: Option<String>,
    /// Chance in [0, 1] that a call gets the service's own throttling error.
    #[serde(default)]
    pub throttle_probability: f64,
    /// Chance in [0, 1] that a call gets the service's internal error (HTTP 500).
    #[serde(default)]
    pub error_probability: f64,
    /// Added to every matching call before it is served.
    #[serde(default)]
    pub latency_ms: u64,
    /// Uniform random extra latency in [0, jitter_ms].
    #[serde(default)]
    pub jitter_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailNext {
    pub service: String,
    pub operation: String,
    pub count: u32,
    /// An error the service's model defines, e.g. `InternalServerException`.
    pub error: String,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FaultError {
    #[error("faults: unknown service \"{0}\" (expected detective, securityhub or organizations)")]
    UnknownService(String),
    #[error("faults: {field} must be between 0 and 1, got {value}")]
    Probability { field: &'static str, value: f64 },
    #[error(
        "faults: latency_ms + jitter_ms must be at most {MAX_LATENCY_MS} (10 minutes), got {0}"
    )]
    Latency(u128),
    #[error("faults: {service} does not define the error \"{error}\" (use an error from its service model, e.g. {example})")]
    UnknownError {
        service: &'static str,
        error: String,
        example: &'static str,
    },
}

/// The longest delay a rule may add: longer would look like a hung test, not a slow service.
pub const MAX_LATENCY_MS: u64 = 600_000;

#[derive(Debug)]
struct Rule {
    service: Option<Service>,
    operation: Option<String>,
    throttle: f64,
    error: f64,
    latency: Duration,
    jitter_ms: u64,
}

/// What the next calls of an operation get: `fail_next`'s error or `garble_next`'s page.
#[derive(Debug, Clone, PartialEq)]
enum Next {
    Fail(String),
    Garble,
}

/// A countdown of the next `remaining` calls of one operation.
#[derive(Debug)]
struct Pending {
    service: Service,
    operation: String,
    remaining: u32,
    next: Next,
}

/// Validated faults and the random state they draw from.
#[derive(Debug)]
pub struct Faults {
    config: FaultConfig,
    rules: Vec<Rule>,
    pending: Vec<Pending>,
    rng: ChaCha8Rng,
}

impl Default for Faults {
    fn default() -> Self {
        Faults::new(FaultConfig::default()).expect("the empty fault set is valid")
    }
}

fn service(name: &str) -> Result<Service, FaultError> {
    Service::from_signing_name(name).ok_or_else(|| FaultError::UnknownService(name.to_owned()))
}

impl Faults {
    pub fn new(config: FaultConfig) -> Result<Self, FaultError> {
        let mut rules = Vec::new();
        for r in &config.rules {
            for (field, value) in [
                ("throttle_probability", r.throttle_probability),
                ("error_probability", r.error_probability),
            ] {
                if !(0.0..=1.0).contains(&value) {
                    return Err(FaultError::Probability { field, value });
                }
            }
            let latency = u128::from(r.latency_ms) + u128::from(r.jitter_ms);
            if latency > u128::from(MAX_LATENCY_MS) {
                return Err(FaultError::Latency(latency));
            }
            rules.push(Rule {
                service: r.service.as_deref().map(service).transpose()?,
                operation: r.operation.clone(),
                throttle: r.throttle_probability,
                error: r.error_probability,
                latency: Duration::from_millis(r.latency_ms),
                jitter_ms: r.jitter_ms,
            });
        }
        let mut pending = Vec::new();
        for f in &config.fail_next {
            let svc = service(&f.service)?;
            if svc.error_status(&f.error).is_none() {
                return Err(FaultError::UnknownError {
                    service: svc.signing_name(),
                    error: f.error.clone(),
                    example: svc.internal_error(),
                });
            }
            pending.push(Pending {
                service: svc,
                operation: f.operation.clone(),
                remaining: f.count,
                next: Next::Fail(f.error.clone()),
            });
        }
        for g in &config.garble_next {
            pending.push(Pending {
                service: service(&g.service)?,
                operation: g.operation.clone(),
                remaining: g.count,
                next: Next::Garble,
            });
        }
        Ok(Faults {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            config,
            rules,
            pending,
        })
    }

    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    /// Counts down the first countdown of `svc`'s `operation` that `is` picks, if one is
    /// left: what the call gets.
    fn take(&mut self, svc: Service, operation: &str, is: fn(&Next) -> bool) -> Option<Next> {
        let p = (self.pending.iter_mut()).find(|p| {
            p.remaining > 0 && p.service == svc && p.operation == operation && is(&p.next)
        })?;
        p.remaining -= 1;
        Some(p.next.clone())
    }

    /// Whether this call's answer is garbled (`garble_next`): counted down when it is.
    pub fn garble(&mut self, svc: Service, operation: &str) -> bool {
        self.take(svc, operation, |n| *n == Next::Garble).is_some()
    }

    /// Decides the fate of one call: how long to delay it and whether to fail it.
    pub fn decide(&mut self, svc: Service, operation: &str) -> (Duration, Option<ApiError>) {
        let failing = |n: &Next| matches!(n, Next::Fail(_));
        if let Some(Next::Fail(error)) = self.take(svc, operation, failing) {
            let err = ApiError::of(
                svc,
                &error,
                format!("sandbox fault: {} failed on purpose", operation),
            );
            return (Duration::ZERO, Some(err));
        }
        let Some(rule) = self.rules.iter().find(|r| {
            r.service.is_none_or(|s| s == svc)
                && r.operation.as_deref().is_none_or(|o| o == operation)
        }) else {
            return (Duration::ZERO, None);
        };
        let jitter = if rule.jitter_ms > 0 {
            Duration::from_millis(self.rng.random_range(0..=rule.jitter_ms))
        } else {
            Duration::ZERO
        };
        let delay = rule.latency + jitter;
        if rule.throttle > 0.0 && self.rng.random_bool(rule.throttle) {
            let code = svc.throttle_error();
            return (delay, Some(ApiError::of(svc, code, "Rate exceeded")));
        }
        if rule.error > 0.0 && self.rng.random_bool(rule.error) {
            let code = svc.internal_error();
            return (
                delay,
                Some(ApiError::of(
                    svc,
                    code,
                    "The request was valid but failed because of a problem with the service.",
                )),
            );
        }
        (delay, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(p: f64) -> FaultConfig {
        FaultConfig {
            seed: 7,
            rules: vec![FaultRule {
                service: Some("detective".into()),
                operation: Some("ListMembers".into()),
                throttle_probability: p,
                ..FaultRule::default()
            }],
            fail_next: vec![],
            garble_next: vec![],
        }
    }

    fn outcomes(config: FaultConfig) -> Vec<Option<String>> {
        let mut f = Faults::new(config).unwrap();
        (0..200)
            .map(|_| {
                f.decide(Service::Detective, "ListMembers")
                    .1
                    .map(|e| e.code)
            })
            .collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_faults() {
        let a = outcomes(rule(0.3));
        assert_eq!(a, outcomes(rule(0.3)));
        let throttled = a.iter().flatten().count();
        assert!((30..=90).contains(&throttled), "{throttled} of 200");
        assert!(a.iter().flatten().all(|c| c == "TooManyRequestsException"));
    }

    #[test]
    fn rules_match_only_their_operation() {
        let mut f = Faults::new(rule(1.0)).unwrap();
        assert!(f.decide(Service::Detective, "ListMembers").1.is_some());
        assert!(f.decide(Service::Detective, "ListGraphs").1.is_none());
        assert!(f.decide(Service::SecurityHub, "ListMembers").1.is_none());
    }

    #[test]
    fn fail_next_fails_exactly_n_calls_with_the_models_status() {
        let mut f = Faults::new(FaultConfig {
            fail_next: vec![FailNext {
                service: "securityhub".into(),
                operation: "CreateMembers".into(),
                count: 2,
                error: "LimitExceededException".into(),
            }],
            ..FaultConfig::default()
        })
        .unwrap();
        for _ in 0..2 {
            let e = f.decide(Service::SecurityHub, "CreateMembers").1.unwrap();
            assert_eq!((e.status, e.code.as_str()), (429, "LimitExceededException"));
        }
        assert!(f.decide(Service::SecurityHub, "CreateMembers").1.is_none());
    }

    #[test]
    fn bad_fault_settings_are_refused_with_a_reason() {
        let err = Faults::new(FaultConfig {
            fail_next: vec![FailNext {
                service: "detective".into(),
                operation: "CreateMembers".into(),
                count: 1,
                error: "NoSuchThing".into(),
            }],
            ..FaultConfig::default()
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "faults: detective does not define the error \"NoSuchThing\" (use an error from its service model, e.g. InternalServerException)"
        );
        assert_eq!(
            Faults::new(rule(1.5)).unwrap_err().to_string(),
            "faults: throttle_probability must be between 0 and 1, got 1.5"
        );
        let mut slow = rule(0.0);
        slow.rules[0].jitter_ms = u64::MAX;
        assert_eq!(
            Faults::new(slow).unwrap_err().to_string(),
            format!(
                "faults: latency_ms + jitter_ms must be at most 600000 (10 minutes), got {}",
                u64::MAX
            )
        );
    }
}
