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

/// A request routed to a service the sandbox serves: what the rest of its handling needs.
struct Routed {
    svc: Service,
    region: String,
    /// The operation, when the service serves it.
    op: Option<&'static str>,
    /// How the call log names it (the operation, or the method and path).
    operation: String,
    access_key: Option<String>,
    token: Option<String>,
    action: Option<String>,
    form: Option<Vec<(String, String)>>,
    query: Vec<(String, String)>,
    /// The path, percent-decoded.
    path: String,
}

/// What the call was given under the lock: its number, how many of its kind were in flight,
/// who sent it, and its faults.
struct Admitted {
    seq: u64,
    in_flight: u32,
    identity: Option<Result<crate::world::Identity, Unidentified>>,
    delay: std::time::Duration,
    fault: Option<ApiError>,
    garbled: bool,
    at_us: u64,
    now: SystemTime,
}

/// Every request that is not a control request is an AWS API call.
async fn aws(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let r = match route(&inner, &method, &uri, &headers, &body) {
        Ok(r) => r,
        Err(refused) => return *refused,
    };
    let a = admit(&inner, &r);
    let _counted = InFlight {
        inner: &inner,
        key: (r.svc.signing_name(), r.operation.clone()),
    };
    let request_id = request_id(a.seq);
    if !a.delay.is_zero() {
        tokio::time::sleep(a.delay).await;
    }
    let parsed = match &r.form {
        Some(params) if r.svc == Service::Sts => Ok(sts::body(params)),
        _ => parse_body(&body),
    };
    let account_ids = parsed.as_ref().map(membership_ids).unwrap_or_default();
    let who = match a.identity {
        Some(Ok(ref who)) => Ok(Some(who.clone())),
        Some(Err(why)) => Err(unidentified(r.svc, why)),
        None => Ok(None),
    };
    let caller = (who.as_ref().ok()).and_then(|w| w.as_ref().map(|w| w.account.clone()));
    let result = match (who, r.op, a.fault.clone()) {
        (Err(e), _, _) => Err(e),
        (_, None, _) => Err(unknown_operation(
            r.svc,
            &method,
            &uri,
            &headers,
            r.action.as_deref(),
        )),
        (_, _, Some(fault)) => Err(fault),
        (Ok(who), Some(op), None) => match parsed {
            Err(why) => Err(malformed(r.svc, why)),
            Ok(body) => dispatch(&inner, &r, &a, who, op, &body, &request_id),
        },
    };
    finish(&inner, &r, &a, caller, account_ids, result, &request_id)
}

/// Routes a request by its SigV4 scope (or, unsigned, as STS): the service, region and
/// operation, or the refusal a client of that service can parse.
fn route(
    inner: &Inner,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Routed, Box<Response>> {
    let query = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let form = form_params(method, headers, &query, body);
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
                operation: named_operation(method, uri, headers, action.as_deref()),
                caller: None,
                region: String::new(),
            };
            let protocol = guess_protocol(None, headers, form.as_deref());
            return Err(Box::new(refuse(inner, refusal, e, &protocol)));
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
        let protocol = guess_protocol(Some(service), headers, form.as_deref());
        let refusal = Refusal {
            service,
            operation: named_operation(method, uri, headers, action.as_deref()),
            caller,
            region,
        };
        return Err(Box::new(refuse(inner, refusal, e, &protocol)));
    };
    let (op, operation) = operation_of(svc, method, uri, headers, action.as_deref());
    let token = headers
        .get("x-amz-security-token")
        .and_then(|t| t.to_str().ok())
        .map(str::to_owned);
    Ok(Routed {
        svc,
        region,
        op,
        operation,
        access_key: cred.map(|c| c.access_key),
        token,
        action,
        form,
        query,
        path: percent_encoding::percent_decode_str(uri.path())
            .decode_utf8_lossy()
            .into_owned(),
    })
}

/// The operation a request names, when its service serves it, and how the call log names it
/// (the operation, or the method and path).
fn operation_of(
    svc: Service,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    action: Option<&str>,
) -> (Option<&'static str>, String) {
    let op = match svc {
        Service::Detective => detective::operation(method, uri.path()),
        Service::SecurityHub => securityhub::operation(method, uri.path()),
        Service::Organizations => headers
            .get("x-amz-target")
            .and_then(|t| t.to_str().ok())
            .and_then(organizations::operation),
        Service::Sts => action.and_then(sts::operation),
    };
    let operation = match (op, svc, action) {
        (Some(op), _, _) => op.to_owned(),
        (None, Service::Sts, Some(action)) => action.to_owned(),
        (None, _, _) => format!("{} {}", method, uri.path()),
    };
    (op, operation)
}

/// First under the lock: number the call, count it in flight, identify the caller, decide its
/// faults.
fn admit(inner: &Inner, r: &Routed) -> Admitted {
    let at_us = inner.micros();
    let now = SystemTime::now();
    let mut st = inner.lock();
    let seq = st.calls.next_seq();
    let n = (st.in_flight)
        .entry((r.svc.signing_name(), r.operation.clone()))
        .or_default();
    *n += 1;
    let in_flight = *n;
    let identity =
        (r.access_key.as_ref()).map(|key| st.world.identify(key, r.token.as_deref(), now));
    let known = !matches!(identity, Some(Err(_)));
    let (delay, fault) = match (known, r.op) {
        (true, Some(op)) => st.faults.decide(r.svc, op),
        _ => (std::time::Duration::ZERO, None),
    };
    let garbled = match (known, r.op, &fault) {
        (true, Some(op), None) => st.faults.garble(r.svc, op),
        _ => false,
    };
    Admitted {
        seq,
        in_flight,
        identity,
        delay,
        fault,
        garbled,
        at_us,
        now,
    }
}

/// The service's answer to a call that passed every check.
fn dispatch(
    inner: &Inner,
    r: &Routed,
    a: &Admitted,
    who: Option<crate::world::Identity>,
    op: &'static str,
    body: &Map<String, Value>,
    request_id: &str,
) -> Result<Reply, ApiError> {
    let mut st = inner.lock();
    let req = Req {
        caller: who.as_ref().map(|w| w.account.clone()).unwrap_or_default(),
        region: r.region.clone(),
        body,
        query: &r.query,
        path: &r.path,
        now: a.now,
        call: a.seq,
        tokens: &inner.tokens,
    };
    match (r.svc, &who) {
        (Service::Sts, _) => sts::handle(&mut st.world, &req, who.as_ref(), op)
            .map(|result| Reply(sts::document(op, &result, request_id))),
        // Only STS serves unsigned requests.
        (_, None) => Err(unidentified(r.svc, Unidentified::Unknown)),
        (Service::Detective, _) => detective::handle(&mut st.world, &req, op),
        (Service::SecurityHub, _) => securityhub::handle(&mut st.world, &req, op),
        (Service::Organizations, _) => organizations::handle(&mut st.world, &req, op),
    }
}

/// Records the call in the log and answers it (garbled, when the faults say so).
fn finish(
    inner: &Inner,
    r: &Routed,
    a: &Admitted,
    caller: Option<String>,
    account_ids: Vec<String>,
    result: Result<Reply, ApiError>,
    request_id: &str,
) -> Response {
    let (status, error) = match &result {
        Ok(_) => (200, None),
        Err(e) => (e.status, Some(e.code.clone())),
    };
    tracing::debug!(
        service = r.svc.signing_name(),
        operation = %r.operation,
        caller = caller.as_deref().unwrap_or("unknown"),
        region = %r.region,
        status,
        "sandbox call"
    );
    inner.lock().calls.record(Call {
        seq: a.seq,
        service: r.svc.signing_name().to_owned(),
        operation: r.operation.clone(),
        caller,
        region: r.region.clone(),
        status,
        error,
        account_ids,
        in_flight: a.in_flight,
        at_us: a.at_us,
        took_us: inner.micros().saturating_sub(a.at_us),
    });
    match result {
        Ok(_) if a.garbled => {
            let mut resp = (StatusCode::OK, crate::faults::GARBLED_PAGE).into_response();
            (resp.headers_mut()).insert("content-type", HeaderValue::from_static("text/html"));
            resp
        }
        Ok(reply) => ok_response(r.svc, reply.0, request_id),
        Err(e) => e.into_response(r.svc, request_id),
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
