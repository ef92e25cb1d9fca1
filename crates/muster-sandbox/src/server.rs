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

use crate::calls::{Call, CallLog};
use crate::faults::{FaultConfig, Faults};
use crate::wire::{parse_body, ApiError, Protocol, Service, Tokens};
use crate::world::{Unidentified, World};
use crate::{detective, organizations, securityhub, sts, Reply, Req};

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
    axum::Json(crate::dump::world_json(&inner.lock().world)).into_response()
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

/// The query protocol's parameters (STS, IAM, EC2...): a form-encoded body, or a GET's query
/// string naming an `Action`.
fn form_params(
    method: &Method,
    headers: &HeaderMap,
    query: &[(String, String)],
    body: &[u8],
) -> Option<Vec<(String, String)>> {
    let form = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let named = |params: &[(String, String)]| params.iter().any(|(k, _)| k == "Action");
    if form {
        let params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
        return named(&params).then_some(params);
    }
    (method == Method::GET && named(query)).then(|| query.to_vec())
}

/// The protocol a client of a service the sandbox does not serve expects its errors in, from
/// what its request looks like.
fn guess_protocol(
    signing_name: Option<&str>,
    headers: &HeaderMap,
    form: Option<&[(String, String)]>,
) -> Protocol {
    if headers.contains_key("x-amz-target") {
        let ct = headers.get("content-type").and_then(|v| v.to_str().ok());
        return Protocol::AwsJson(match ct {
            Some("application/x-amz-json-1.0") => "application/x-amz-json-1.0",
            _ => "application/x-amz-json-1.1",
        });
    }
    match (signing_name, form) {
        (Some("ec2"), _) => Protocol::Ec2,
        (Some("s3" | "s3-object-lambda" | "s3express"), _) => Protocol::RestXml { bare: true },
        (Some("route53" | "cloudfront"), _) => Protocol::RestXml { bare: false },
        (name, Some(params)) => {
            let version = params
                .iter()
                .find(|(k, _)| k == "Version")
                .map_or("", |(_, v)| v.as_str());
            let name = name.unwrap_or("sts");
            Protocol::Query {
                xmlns: format!("https://{name}.amazonaws.com/doc/{version}/"),
            }
        }
        _ => Protocol::RestJson {
            code_in_body: false,
        },
    }
}

/// The operation a request names, as far as the sandbox can tell for any service: the query
/// protocol's `Action`, awsJson's `X-Amz-Target`, or the method and path.
fn named_operation(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    action: Option<&str>,
) -> String {
    if let Some(a) = action {
        return a.to_owned();
    }
    let target = headers.get("x-amz-target").and_then(|t| t.to_str().ok());
    match target.and_then(|t| t.rsplit_once('.')) {
        Some((_, op)) => op.to_owned(),
        None => format!("{} {}", method, uri.path()),
    }
}

/// A request refused before any service saw it (unsigned, or for a service the sandbox does
/// not serve): numbered and recorded in the call log like every other, answered in `protocol`.
struct Refusal<'a> {
    service: &'a str,
    operation: String,
    caller: Option<String>,
    region: String,
}

fn refuse(inner: &Inner, r: Refusal<'_>, e: ApiError, protocol: &Protocol) -> Response {
    let at_us = inner.micros();
    let seq = {
        let mut st = inner.lock();
        let seq = st.calls.next_seq();
        st.calls.record(Call {
            seq,
            service: r.service.to_owned(),
            operation: r.operation,
            caller: r.caller,
            region: r.region,
            status: e.status,
            error: Some(e.code.clone()),
            account_ids: Vec::new(),
            in_flight: 1,
            at_us,
            took_us: inner.micros().saturating_sub(at_us),
        });
        seq
    };
    e.render(protocol, &request_id(seq))
}

fn request_id(seq: u64) -> String {
    format!("00000000-5a4d-4b0c-8000-{seq:012x}")
}

/// Why a request's credentials identify no one, in the service's words.
fn unidentified(svc: Service, why: Unidentified) -> ApiError {
    match (svc, why) {
        (_, Unidentified::Expired) => {
            let status = if svc == Service::Sts { 400 } else { 403 };
            ApiError::new(
                status,
                "ExpiredTokenException",
                "The security token included in the request is expired",
            )
        }
        (Service::Sts, _) => ApiError::of(
            svc,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        ),
        _ => ApiError::new(
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ),
    }
}

/// Every request that is not a control request is an AWS API call.
async fn aws(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let form = form_params(&method, &headers, &query, &body);
    let action = form
        .as_ref()
        .and_then(|f| f.iter().find(|(k, _)| k == "Action"))
        .map(|(_, v)| v.clone());
    let cred = match credential(headers.get(AUTHORIZATION)) {
        Ok(c) => Some(c),
        // AssumeRoleWithWebIdentity is unsigned (the model's noAuth).
        Err(_) if action.as_deref().is_some_and(sts::unsigned) => None,
        Err(e) => {
            let refusal = Refusal {
                service: "unsigned",
                operation: named_operation(&method, &uri, &headers, action.as_deref()),
                caller: None,
                region: String::new(),
            };
            return refuse(
                &inner,
                refusal,
                e,
                &guess_protocol(None, &headers, form.as_deref()),
            );
        }
    };
    let service = cred.as_ref().map_or("sts", |c| c.service.as_str());
    let region = cred
        .as_ref()
        .map_or("us-east-1", |c| c.region.as_str())
        .to_owned();
    let Some(svc) = Service::from_signing_name(service) else {
        let caller = cred
            .as_ref()
            .and_then(|c| inner.lock().world.caller_for_key(&c.access_key));
        let e = ApiError::new(
            501,
            "NotImplemented",
            format!(
                "The sandbox does not serve {service}: it serves detective, securityhub, organizations and sts."
            ),
        );
        let protocol = guess_protocol(Some(service), &headers, form.as_deref());
        let refusal = Refusal {
            service,
            operation: named_operation(&method, &uri, &headers, action.as_deref()),
            caller,
            region,
        };
        return refuse(&inner, refusal, e, &protocol);
    };
    let op = match svc {
        Service::Detective => detective::operation(&method, uri.path()),
        Service::SecurityHub => securityhub::operation(&method, uri.path()),
        Service::Organizations => headers
            .get("x-amz-target")
            .and_then(|t| t.to_str().ok())
            .and_then(organizations::operation),
        Service::Sts => action.as_deref().and_then(sts::operation),
    };

    let operation = match (op, svc) {
        (Some(op), _) => op.to_owned(),
        (None, Service::Sts) => action
            .clone()
            .unwrap_or_else(|| format!("{method} {}", uri.path())),
        (None, _) => format!("{} {}", method, uri.path()),
    };
    let key = (svc.signing_name(), operation.clone());
    let token = headers
        .get("x-amz-security-token")
        .and_then(|t| t.to_str().ok());
    // First under the lock: number the call, count it in flight, identify the caller, decide
    // its faults.
    let at_us = inner.micros();
    let now = SystemTime::now();
    let (seq, in_flight, identity, delay, fault, garbled) = {
        let mut st = inner.lock();
        let seq = st.calls.next_seq();
        let n = st.in_flight.entry(key.clone()).or_default();
        *n += 1;
        let in_flight = *n;
        let identity = cred
            .as_ref()
            .map(|c| st.world.identify(&c.access_key, token, now));
        let known = !matches!(identity, Some(Err(_)));
        let (delay, fault) = match (known, op) {
            (true, Some(op)) => st.faults.decide(svc, op),
            _ => (std::time::Duration::ZERO, None),
        };
        let garbled = match (known, op, &fault) {
            (true, Some(op), None) => st.faults.garble(svc, op),
            _ => false,
        };
        (seq, in_flight, identity, delay, fault, garbled)
    };
    let _counted = InFlight { inner: &inner, key };
    let request_id = request_id(seq);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let parsed = match &form {
        Some(params) if svc == Service::Sts => Ok(sts::body(params)),
        _ => parse_body(&body),
    };
    let account_ids = parsed.as_ref().map(membership_ids).unwrap_or_default();
    let who = match identity {
        Some(Ok(who)) => Ok(Some(who)),
        Some(Err(why)) => Err(unidentified(svc, why)),
        None => Ok(None),
    };
    let caller = who
        .as_ref()
        .ok()
        .and_then(|w| w.as_ref().map(|w| w.account.clone()));

    let result = match (who, op, fault) {
        (Err(e), _, _) => Err(e),
        (_, None, _) => Err(unknown_operation(
            svc,
            &method,
            &uri,
            &headers,
            action.as_deref(),
        )),
        (_, _, Some(fault)) => Err(fault),
        (Ok(who), Some(op), None) => match parsed {
            Err(why) => Err(malformed(svc, why)),
            Ok(body) => {
                let mut st = inner.lock();
                let req = Req {
                    caller: caller.clone().unwrap_or_default(),
                    region: region.clone(),
                    body: &body,
                    query: &query,
                    now,
                    call: seq,
                    tokens: &inner.tokens,
                };
                let out = match (svc, &who) {
                    (Service::Sts, _) => sts::handle(&mut st.world, &req, who.as_ref(), op)
                        .map(|result| Reply(sts::document(op, &result, &request_id))),
                    // Only STS serves unsigned requests.
                    (_, None) => Err(unidentified(svc, Unidentified::Unknown)),
                    (Service::Detective, _) => detective::handle(&mut st.world, &req, op),
                    (Service::SecurityHub, _) => securityhub::handle(&mut st.world, &req, op),
                    (Service::Organizations, _) => organizations::handle(&mut st.world, &req, op),
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
        region = %region,
        status,
        "sandbox call"
    );
    inner.lock().calls.record(Call {
        seq,
        service: svc.signing_name().to_owned(),
        operation,
        caller,
        region,
        status,
        error,
        account_ids,
        in_flight,
        at_us,
        took_us: inner.micros().saturating_sub(at_us),
    });
    match result {
        Ok(_) if garbled => {
            let mut resp = (StatusCode::OK, crate::faults::GARBLED_PAGE).into_response();
            (resp.headers_mut()).insert("content-type", HeaderValue::from_static("text/html"));
            resp
        }
        Ok(reply) => ok_response(svc, reply.0, &request_id),
        Err(e) => e.into_response(svc, &request_id),
    }
}

fn ok_response(svc: Service, body: String, request_id: &str) -> Response {
    let content_type = match svc {
        Service::Organizations => "application/x-amz-json-1.1",
        Service::Sts => "text/xml",
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

fn unknown_operation(
    svc: Service,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    action: Option<&str>,
) -> ApiError {
    match svc {
        Service::Sts => match action {
            Some(a) => ApiError::of(
                svc,
                "NotImplemented",
                format!("The sandbox's sts does not serve {a}: it serves AssumeRole, AssumeRoleWithWebIdentity and GetCallerIdentity."),
            ),
            None => ApiError::of(
                svc,
                "InvalidAction",
                "The request names no Action: STS takes form-encoded query requests",
            ),
        },
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
        Service::Sts => ApiError::of(svc, "ValidationError", why),
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
