//! The one HTTP listener: identifies each request's service, region and caller from its SigV4
//! `Authorization` header, applies faults, dispatches to the service module, records the call,
//! and serves the `/_sandbox/*` control endpoints.
//!
//! Signatures are not verified against secrets: the sandbox trusts the access key id in the
//! credential scope, which is all a local emulator needs to tell callers apart.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Map, Value};

use super::calls::{Call, CallLog};
use super::faults::{FaultConfig, Faults};
use super::wire::{parse_body, ApiError, Service, Tokens};
use super::world::World;
use super::{detective, organizations, securityhub, Req};

pub(crate) struct Inner {
    pub(crate) state: Mutex<SharedState>,
    pub(crate) tokens: Tokens,
    /// When the sandbox started: the call log's times count from here.
    started: std::time::Instant,
}

/// One request counted in flight, by service and operation (counted in under the lock that
/// numbers the call), until it is answered or its client goes away.
struct InFlight<'a> {
    inner: &'a Inner,
    key: (&'static str, String),
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut st = self.inner.lock();
        if let Some(n) = st.in_flight.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                st.in_flight.remove(&self.key);
            }
        }
    }
}

pub(crate) struct SharedState {
    pub(crate) world: World,
    pub(crate) calls: CallLog,
    pub(crate) faults: Faults,
    /// Requests being handled now, by (service, operation): the call log's `in_flight`.
    in_flight: std::collections::HashMap<(&'static str, String), u32>,
}

impl Inner {
    pub(crate) fn new(world: World, faults: Faults) -> Self {
        Inner {
            state: Mutex::new(SharedState {
                world,
                calls: CallLog::default(),
                faults,
                in_flight: std::collections::HashMap::new(),
            }),
            tokens: Tokens::default(),
            started: std::time::Instant::now(),
        }
    }

    /// Microseconds since the sandbox started.
    fn micros(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }

    /// The state; a panic elsewhere never makes the sandbox unusable for the next test.
    pub(crate) fn lock(&self) -> MutexGuard<'_, SharedState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/_sandbox/calls", get(calls))
        .route("/_sandbox/calls/reset", post(reset_calls))
        .route("/_sandbox/faults", get(get_faults).post(set_faults))
        .route("/_sandbox/world", get(world))
        .fallback(aws)
        .with_state(inner)
}

async fn calls(State(inner): State<Arc<Inner>>) -> Response {
    axum::Json(inner.lock().calls.snapshot()).into_response()
}

async fn reset_calls(State(inner): State<Arc<Inner>>) -> Response {
    inner.lock().calls.reset();
    axum::Json(json!({})).into_response()
}

async fn get_faults(State(inner): State<Arc<Inner>>) -> Response {
    axum::Json(inner.lock().faults.config().clone()).into_response()
}

async fn set_faults(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    let config: FaultConfig = match serde_json::from_slice(&body) {
        Ok(c) => c,
        Err(e) => return control_error(format!("faults: invalid JSON body: {e}")),
    };
    match Faults::new(config) {
        Ok(f) => {
            inner.lock().faults = f;
            axum::Json(json!({})).into_response()
        }
        Err(e) => control_error(e.to_string()),
    }
}

fn control_error(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({ "error": message })),
    )
        .into_response()
}

async fn world(State(inner): State<Arc<Inner>>) -> Response {
    axum::Json(super::dump::world_json(&inner.lock().world)).into_response()
}

/// The parts of a SigV4 credential scope the sandbox routes on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Credential {
    pub access_key: String,
    pub region: String,
    pub service: String,
}

/// Reads `AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, ...`.
pub(crate) fn credential(header: Option<&HeaderValue>) -> Result<Credential, ApiError> {
    let Some(header) = header else {
        return Err(ApiError::new(
            403,
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    };
    let incomplete = |why: &str| {
        ApiError::new(
            400,
            "IncompleteSignatureException",
            format!("Authorization header is not a valid AWS Signature Version 4 header: {why}"),
        )
    };
    let header = header.to_str().map_err(|_| incomplete("it is not ASCII"))?;
    let rest = header
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| incomplete("it must start with AWS4-HMAC-SHA256"))?;
    let scope = rest
        .split(',')
        .find_map(|part| part.trim().strip_prefix("Credential="))
        .ok_or_else(|| incomplete("it has no Credential="))?;
    let parts: Vec<&str> = scope.split('/').collect();
    let [key, _date, region, service, "aws4_request"] = parts[..] else {
        return Err(incomplete(
            "the credential must be KEY/DATE/REGION/SERVICE/aws4_request",
        ));
    };
    if key.is_empty() {
        return Err(incomplete("the access key id is empty"));
    }
    let valid_region = !region.is_empty()
        && region.len() <= 32
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid_region {
        return Err(ApiError::new(
            403,
            "InvalidSignatureException",
            format!("Credential should be scoped to a valid region, not '{region}'."),
        ));
    }
    Ok(Credential {
        access_key: key.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
    })
}

/// Every request that is not a control request is an AWS API call.
async fn aws(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let cred = match credential(headers.get(AUTHORIZATION)) {
        Ok(c) => c,
        Err(e) => return e.into_response(None, "sandbox-unauthenticated"),
    };
    let Some(svc) = Service::from_signing_name(&cred.service) else {
        let e = ApiError::new(
            403,
            "InvalidSignatureException",
            format!(
                "Credential should be scoped to correct service: the sandbox serves detective, securityhub and organizations, not '{}'.",
                cred.service
            ),
        );
        return e.into_response(None, "sandbox-unknown-service");
    };
    let op = match svc {
        Service::Detective => detective::operation(&method, uri.path()),
        Service::SecurityHub => securityhub::operation(&method, uri.path()),
        Service::Organizations => headers
            .get("x-amz-target")
            .and_then(|t| t.to_str().ok())
            .and_then(organizations::operation),
    };

    let operation = op.map_or_else(|| format!("{} {}", method, uri.path()), str::to_owned);
    let key = (svc.signing_name(), operation.clone());
    // First under the lock: number the call, count it in flight, identify the caller, decide
    // its faults.
    let at_us = inner.micros();
    let (seq, in_flight, caller, delay, fault) = {
        let mut st = inner.lock();
        let seq = st.calls.next_seq();
        let n = st.in_flight.entry(key.clone()).or_default();
        *n += 1;
        let in_flight = *n;
        let caller = st.world.caller_for_key(&cred.access_key);
        let (delay, fault) = match (&caller, op) {
            (Some(_), Some(op)) => st.faults.decide(svc, op),
            _ => (std::time::Duration::ZERO, None),
        };
        (seq, in_flight, caller, delay, fault)
    };
    let _counted = InFlight { inner: &inner, key };
    let request_id = format!("00000000-5a4d-4b0c-8000-{seq:012x}");
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let parsed = parse_body(&body);
    let account_ids = parsed.as_ref().map(membership_ids).unwrap_or_default();

    let result = match (caller.as_deref(), op, fault) {
        (None, _, _) => Err(ApiError::new(
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )),
        (_, None, _) => Err(unknown_operation(svc, &method, &uri, &headers)),
        (_, _, Some(fault)) => Err(fault),
        (Some(caller), Some(op), None) => match parsed {
            Err(why) => Err(malformed(svc, why)),
            Ok(body) => {
                let query = Query::<Vec<(String, String)>>::try_from_uri(&uri)
                    .map(|q| q.0)
                    .unwrap_or_default();
                let mut st = inner.lock();
                let req = Req {
                    caller: caller.to_owned(),
                    region: cred.region.clone(),
                    body: &body,
                    query: &query,
                    now: SystemTime::now(),
                    call: seq,
                    tokens: &inner.tokens,
                };
                let out = match svc {
                    Service::Detective => detective::handle(&mut st.world, &req, op),
                    Service::SecurityHub => securityhub::handle(&mut st.world, &req, op),
                    Service::Organizations => organizations::handle(&mut st.world, &req, op),
                };
                drop(st);
                out
            }
        },
    };
    let (status, error) = match &result {
        Ok(_) => (200, None),
        Err(e) => (e.status, Some(e.code.clone())),
    };
    tracing::debug!(
        service = svc.signing_name(),
        operation = %operation,
        caller = caller.as_deref().unwrap_or("unknown"),
        region = %cred.region,
        status,
        "sandbox call"
    );
    inner.lock().calls.record(Call {
        seq,
        service: svc.signing_name().to_owned(),
        operation,
        caller,
        region: cred.region,
        status,
        error,
        account_ids,
        in_flight,
        at_us,
        took_us: inner.micros().saturating_sub(at_us),
    });
    match result {
        Ok(reply) => ok_response(svc, reply.0, &request_id),
        Err(e) => e.into_response(Some(svc), &request_id),
    }
}

fn ok_response(svc: Service, body: String, request_id: &str) -> Response {
    let content_type = match svc {
        Service::Organizations => "application/x-amz-json-1.1",
        _ => "application/json",
    };
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

fn unknown_operation(svc: Service, method: &Method, uri: &Uri, headers: &HeaderMap) -> ApiError {
    match svc {
        Service::Organizations => {
            let target = headers
                .get("x-amz-target")
                .and_then(|t| t.to_str().ok())
                .unwrap_or("");
            ApiError::new(
                400,
                "UnknownOperationException",
                format!("the sandbox does not implement the operation '{target}'"),
            )
        }
        _ => ApiError::new(
            404,
            "UnknownOperationException",
            format!(
                "the sandbox's {} has no operation at {} {}",
                svc.signing_name(),
                method,
                uri.path()
            ),
        ),
    }
}

fn malformed(svc: Service, why: String) -> ApiError {
    match svc {
        Service::Detective => {
            ApiError::of(svc, "ValidationException", why).field("ErrorCode", "INVALID_REQUEST_BODY")
        }
        Service::SecurityHub | Service::Organizations => {
            ApiError::of(svc, "InvalidInputException", why)
        }
    }
}

/// The account ids a membership call names, for the call log.
fn membership_ids(body: &Map<String, Value>) -> Vec<String> {
    let mut ids = Vec::new();
    for key in ["Accounts", "AccountDetails"] {
        if let Some(Value::Array(items)) = body.get(key) {
            ids.extend(
                items
                    .iter()
                    .filter_map(|a| a.get("AccountId")?.as_str().map(str::to_owned)),
            );
        }
    }
    if let Some(Value::Array(items)) = body.get("AccountIds") {
        ids.extend(items.iter().filter_map(|a| a.as_str().map(str::to_owned)));
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(h: &str) -> Result<Credential, ApiError> {
        credential(Some(&HeaderValue::from_str(h).unwrap()))
    }

    #[test]
    fn the_credential_scope_names_key_region_and_service() {
        let c = cred("AWS4-HMAC-SHA256 Credential=111111111111/20261123/eu-west-1/detective/aws4_request, SignedHeaders=host, Signature=00").unwrap();
        assert_eq!(
            c,
            Credential {
                access_key: "111111111111".into(),
                region: "eu-west-1".into(),
                service: "detective".into()
            }
        );
    }

    #[test]
    fn unsigned_and_malformed_requests_are_refused_as_aws_does() {
        let e = credential(None).unwrap_err();
        assert_eq!(
            (e.status, e.code.as_str()),
            (403, "MissingAuthenticationTokenException")
        );
        let e = cred("Basic abc").unwrap_err();
        assert_eq!(
            (e.status, e.code.as_str()),
            (400, "IncompleteSignatureException")
        );
        let e =
            cred("AWS4-HMAC-SHA256 Credential=k/d/us-east-1/detective, Signature=0").unwrap_err();
        assert_eq!(e.code, "IncompleteSignatureException");
        let e = cred("AWS4-HMAC-SHA256 Credential=k/d/US_EAST/detective/aws4_request").unwrap_err();
        assert_eq!(
            (e.status, e.code.as_str()),
            (403, "InvalidSignatureException")
        );
    }
}
