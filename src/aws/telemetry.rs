//! An SDK interceptor that counts every HTTP attempt to AWS by service, operation and outcome
//! (ok, throttled, error), and every retry, into a `RequestSink` (`metrics::Metrics` is one: the
//! adapters never import metrics). Attached to each service client's config, so it sees what the
//! SDK's retry loop does, not only what muster asked.

use std::sync::Arc;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

/// Where the interceptor reports each attempt and retry.
pub trait RequestSink: Send + Sync + std::fmt::Debug {
    fn aws_request(&self, service: &str, operation: &str, outcome: &str);
    fn aws_retry(&self, service: &str, operation: &str);
}

/// Error names AWS uses for throttling (Security Hub's LimitExceededException also means a real
/// limit; it is counted as throttled either way).
const THROTTLE_NAMES: [&str; 5] = [
    "TooManyRequestsException",
    "ThrottlingException",
    "Throttling",
    "LimitExceededException",
    "RequestLimitExceeded",
];

#[derive(Debug, Clone)]
pub struct RequestMetrics {
    service: &'static str,
    metrics: Arc<dyn RequestSink>,
}

impl RequestMetrics {
    pub fn new(service: &'static str, metrics: Arc<dyn RequestSink>) -> Self {
        RequestMetrics { service, metrics }
    }
}

fn operation(cfg: &ConfigBag) -> String {
    cfg.load::<Metadata>()
        .map_or_else(|| "unknown".to_owned(), |m| m.name().to_owned())
}

/// ok, throttled or error, from the status, the `x-amzn-ErrorType` header (restJson1) or the
/// body's `__type` (awsJson1_1).
pub fn classify(
    status: Option<u16>,
    error_type: Option<&str>,
    body: Option<&[u8]>,
) -> &'static str {
    let Some(status) = status else {
        return "error";
    };
    if status < 400 {
        return "ok";
    }
    if status == 429 {
        return "throttled";
    }
    let named = |text: &str| THROTTLE_NAMES.iter().any(|n| text.contains(n));
    if error_type.is_some_and(named) {
        return "throttled";
    }
    if let Some(body) = body {
        let head = &body[..body.len().min(512)];
        if named(&String::from_utf8_lossy(head)) {
            return "throttled";
        }
    }
    "error"
}

impl Intercept for RequestMetrics {
    fn name(&self) -> &'static str {
        "muster request metrics"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // Every attempt ends here, whatever became of it; one after the first is a retry.
        let operation = operation(cfg);
        if cfg
            .load::<RequestAttempts>()
            .is_some_and(|a| a.attempts() > 1)
        {
            self.metrics.aws_retry(self.service, &operation);
        }
        let response = context.response();
        let outcome = classify(
            response.map(|r| r.status().as_u16()),
            response.and_then(|r| r.headers().get("x-amzn-errortype")),
            response.and_then(|r| r.body().bytes()),
        );
        self.metrics.aws_request(self.service, &operation, outcome);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::classify;

    #[test]
    fn throttling_is_told_apart_from_errors_in_both_protocols() {
        assert_eq!(classify(Some(200), None, None), "ok");
        assert_eq!(classify(Some(429), None, None), "throttled");
        assert_eq!(
            classify(Some(429), Some("LimitExceededException:http://x"), None),
            "throttled"
        );
        assert_eq!(
            classify(
                Some(400),
                None,
                Some(br#"{"__type":"TooManyRequestsException","Message":"slow down"}"#)
            ),
            "throttled"
        );
        assert_eq!(
            classify(Some(400), Some("ValidationException"), Some(b"{}")),
            "error"
        );
        assert_eq!(classify(Some(500), None, None), "error");
        assert_eq!(classify(None, None, None), "error");
    }
}
