//! What the three services have in common on the wire: error responses in each protocol's
//! shape, model-driven input validation, opaque pagination tokens and timestamp formats.
//!
//! Nothing here knows an operation's meaning; the service modules decide what to validate and
//! what to answer, and this module makes it look exactly like AWS.

use std::hash::{BuildHasher, RandomState};
use std::time::SystemTime;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

/// The services the sandbox emulates, named as in the SigV4 credential scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    Detective,
    SecurityHub,
    Organizations,
    /// STS, in the query protocol (form-encoded requests, XML answers).
    Sts,
}

impl Service {
    pub const ALL: [Service; 4] = [
        Service::Detective,
        Service::SecurityHub,
        Service::Organizations,
        Service::Sts,
    ];

    /// The signing name, as it appears in the credential scope and in the call log.
    pub fn signing_name(self) -> &'static str {
        match self {
            Service::Detective => "detective",
            Service::SecurityHub => "securityhub",
            Service::Organizations => "organizations",
            Service::Sts => "sts",
        }
    }

    /// The wire protocol the service model declares, which its errors are rendered in.
    pub fn protocol(self) -> Protocol {
        match self {
            Service::Detective => Protocol::RestJson {
                code_in_body: false,
            },
            Service::SecurityHub => Protocol::RestJson { code_in_body: true },
            Service::Organizations => Protocol::AwsJson("application/x-amz-json-1.1"),
            Service::Sts => Protocol::Query {
                xmlns: "https://sts.amazonaws.com/doc/2011-06-15/".into(),
            },
        }
    }

    pub fn from_signing_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.signing_name() == name)
    }

    /// The error this service answers when it throttles a caller.
    pub fn throttle_error(self) -> &'static str {
        match self {
            Service::Detective | Service::Organizations => "TooManyRequestsException",
            Service::SecurityHub => "LimitExceededException",
            Service::Sts => "Throttling",
        }
    }

    /// The error this service answers when it fails internally.
    pub fn internal_error(self) -> &'static str {
        match self {
            Service::Detective => "InternalServerException",
            Service::SecurityHub => "InternalException",
            Service::Organizations => "ServiceException",
            Service::Sts => "InternalFailure",
        }
    }

    /// The HTTP status of each error the service model defines, or `None` for a name the
    /// model does not define. awsJson errors without a declared status are 400, faults 500.
    pub fn error_status(self, code: &str) -> Option<u16> {
        let status = match (self, code) {
            (Service::Detective, "ValidationException") => 400,
            (Service::Detective, "ServiceQuotaExceededException") => 402,
            (Service::Detective, "AccessDeniedException") => 403,
            (Service::Detective, "ResourceNotFoundException") => 404,
            (Service::Detective, "ConflictException") => 409,
            (Service::Detective, "TooManyRequestsException") => 429,
            (Service::Detective, "InternalServerException") => 500,
            (Service::SecurityHub, "InvalidInputException") => 400,
            (Service::SecurityHub, "InvalidAccessException") => 401,
            (Service::SecurityHub, "AccessDeniedException") => 403,
            (Service::SecurityHub, "ResourceNotFoundException") => 404,
            (Service::SecurityHub, "ResourceConflictException") => 409,
            (Service::SecurityHub, "LimitExceededException") => 429,
            (Service::SecurityHub, "InternalException") => 500,
            (
                Service::Organizations,
                "AccessDeniedException"
                | "AWSOrganizationsNotInUseException"
                | "ConcurrentModificationException"
                | "InvalidInputException"
                | "ParentNotFoundException"
                | "AccountNotFoundException"
                | "TooManyRequestsException",
            ) => 400,
            (Service::Organizations, "ServiceException") => 500,
            // STS's model errors, and the common errors of the query protocol.
            (
                Service::Sts,
                "ValidationError"
                | "ExpiredTokenException"
                | "InvalidIdentityToken"
                | "MalformedPolicyDocument"
                | "PackedPolicyTooLarge"
                | "IDPCommunicationError"
                | "InvalidAction"
                | "Throttling",
            ) => 400,
            (
                Service::Sts,
                "AccessDenied"
                | "IDPRejectedClaim"
                | "RegionDisabledException"
                | "InvalidClientTokenId"
                | "MissingAuthenticationToken",
            ) => 403,
            (Service::Sts, "InternalFailure") => 500,
            (Service::Sts, "NotImplemented") => 501,
            _ => return None,
        };
        Some(status)
    }
}

/// An error as the service would send it. `fields` are extra members of the error structure
/// the model defines (Detective's `ErrorCode`, Organizations' `Reason`).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub fields: Map<String, Value>,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.to_owned(),
            message: message.into(),
            fields: Map::new(),
        }
    }

    /// An error the service model defines for `service`; its status comes from the model.
    pub fn of(service: Service, code: &str, message: impl Into<String>) -> Self {
        let status = service.error_status(code).unwrap_or(400);
        Self::new(status, code, message)
    }

    pub fn field(mut self, name: &str, value: &str) -> Self {
        self.fields
            .insert(name.to_owned(), Value::String(value.to_owned()));
        self
    }

    /// Renders the error in the service's protocol.
    pub fn into_response(self, service: Service, request_id: &str) -> Response {
        self.render(&service.protocol(), request_id)
    }

    /// Renders the error in `protocol`: restJson1 names the error in the `x-amzn-ErrorType`
    /// header, awsJson in the body's `__type`, the XML protocols in an `<Error>` element.
    pub fn render(self, protocol: &Protocol, request_id: &str) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let (content_type, text) = match protocol {
            Protocol::RestJson { .. } | Protocol::AwsJson(_) => {
                let mut body = self.fields;
                let content_type = match protocol {
                    Protocol::AwsJson(ct) => {
                        body.insert("__type".into(), Value::String(self.code.clone()));
                        ct
                    }
                    Protocol::RestJson { code_in_body: true } => {
                        body.insert("Code".into(), Value::String(self.code.clone()));
                        "application/json"
                    }
                    _ => "application/json",
                };
                body.insert("Message".into(), Value::String(self.message));
                (content_type, Value::Object(body).to_string())
            }
            xml => (
                "text/xml",
                xml_error(xml, &self.code, &self.message, self.status, request_id),
            ),
        };
        let mut resp = (status, text).into_response();
        let headers = resp.headers_mut();
        headers.insert("content-type", HeaderValue::from_static(content_type));
        if let Ok(v) = HeaderValue::from_str(&self.code) {
            headers.insert("x-amzn-errortype", v);
        }
        if let Ok(v) = HeaderValue::from_str(request_id) {
            headers.insert("x-amzn-requestid", v);
        }
        resp
    }
}

/// How a service's requests and answers look on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    /// restJson1; Security Hub also names the error in the body's `Code`.
    RestJson { code_in_body: bool },
    /// awsJson1_0 or awsJson1_1, with this content type.
    AwsJson(&'static str),
    /// query: form-encoded requests, `<ErrorResponse>` answers in the service's namespace.
    Query { xmlns: String },
    /// EC2's query dialect: `<Response><Errors>`.
    Ec2,
    /// restXml: S3's bare `<Error>`, the others' `<ErrorResponse>`.
    RestXml { bare: bool },
}

/// An error in one of the XML protocols.
fn xml_error(
    protocol: &Protocol,
    code: &str,
    message: &str,
    status: u16,
    request_id: &str,
) -> String {
    let (code, message, id) = (
        xml_escape(code),
        xml_escape(message),
        xml_escape(request_id),
    );
    let kind = if status >= 500 { "Receiver" } else { "Sender" };
    let decl = r#"<?xml version="1.0" encoding="UTF-8"?>"#;
    match protocol {
        Protocol::Ec2 => format!(
            "{decl}<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>{id}</RequestID></Response>"
        ),
        Protocol::RestXml { bare: true } => format!(
            "{decl}<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{id}</RequestId></Error>"
        ),
        Protocol::Query { xmlns } => format!(
            "<ErrorResponse xmlns=\"{}\"><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{id}</RequestId></ErrorResponse>",
            xml_escape(xmlns)
        ),
        _ => format!(
            "{decl}<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{id}</RequestId></ErrorResponse>"
        ),
    }
}

/// Text as XML character data or an attribute value.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// Reads a JSON request body; AWS treats an empty body as an empty structure.
pub fn parse_body(body: &[u8]) -> Result<Map<String, Value>, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("request body must be a JSON object".into()),
        Err(e) => Err(format!("request body is not valid JSON: {e}")),
    }
}

/// Checks request members against the constraints the service model declares (required,
/// length, range, pattern, enum) and collects every violation, worded as AWS words them.
#[derive(Debug, Default)]
pub struct Validator {
    pub violations: Vec<String>,
    /// A member had the wrong JSON type: the body could not be deserialized at all.
    pub malformed: Option<String>,
}

impl Validator {
    fn violate(&mut self, value: &str, path: &str, constraint: &str) {
        self.violations.push(format!(
            "Value '{value}' at '{path}' failed to satisfy constraint: Member must {constraint}"
        ));
    }

    pub fn required(&mut self, path: &str) {
        self.violations.push(format!(
            "Value null at '{path}' failed to satisfy constraint: Member must not be null"
        ));
    }

    /// A string member; `None` if absent or of the wrong type (recorded as malformed).
    pub fn string<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        name: &str,
        required: bool,
    ) -> Option<&'a str> {
        match obj.get(name) {
            None | Some(Value::Null) => {
                if required {
                    self.required(&lower_first(name));
                }
                None
            }
            Some(Value::String(s)) => Some(s),
            Some(other) => {
                self.type_error(name, "a string", other);
                None
            }
        }
    }

    pub fn string_in(&mut self, value: &Value, path: &str) -> Option<String> {
        match value {
            Value::String(s) => Some(s.clone()),
            other => {
                self.type_error(path, "a string", other);
                None
            }
        }
    }

    pub fn integer(&mut self, obj: &Map<String, Value>, name: &str) -> Option<i64> {
        match obj.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.is_i64() => n.as_i64(),
            Some(other) => {
                self.type_error(name, "an integer", other);
                None
            }
        }
    }

    pub fn boolean(&mut self, obj: &Map<String, Value>, name: &str) -> Option<bool> {
        match obj.get(name) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => {
                self.type_error(name, "a boolean", other);
                None
            }
        }
    }

    pub fn list<'a>(
        &mut self,
        obj: &'a Map<String, Value>,
        name: &str,
        required: bool,
    ) -> Option<&'a Vec<Value>> {
        match obj.get(name) {
            None | Some(Value::Null) => {
                if required {
                    self.required(&lower_first(name));
                }
                None
            }
            Some(Value::Array(a)) => Some(a),
            Some(other) => {
                self.type_error(name, "a list", other);
                None
            }
        }
    }

    pub fn object<'a>(&mut self, value: &'a Value, path: &str) -> Option<&'a Map<String, Value>> {
        match value {
            Value::Object(m) => Some(m),
            other => {
                self.type_error(path, "a structure", other);
                None
            }
        }
    }

    fn type_error(&mut self, path: &str, expected: &str, got: &Value) {
        if self.malformed.is_none() {
            self.malformed = Some(format!("'{path}' must be {expected}, not {got}"));
        }
    }

    pub fn length(&mut self, path: &str, value: &str, min: usize, max: usize) {
        let n = value.chars().count();
        if n < min {
            self.violate(
                &redact(value),
                path,
                &format!("have length greater than or equal to {min}"),
            );
        } else if n > max {
            self.violate(
                &redact(value),
                path,
                &format!("have length less than or equal to {max}"),
            );
        }
    }

    pub fn count(&mut self, path: &str, n: usize, min: usize, max: usize) {
        if n < min {
            self.violate(
                &format!("[{n} items]"),
                path,
                &format!("have length greater than or equal to {min}"),
            );
        } else if n > max {
            self.violate(
                &format!("[{n} items]"),
                path,
                &format!("have length less than or equal to {max}"),
            );
        }
    }

    pub fn range(&mut self, path: &str, n: i64, min: i64, max: i64) {
        if n < min {
            self.violate(
                &n.to_string(),
                path,
                &format!("have value greater than or equal to {min}"),
            );
        } else if n > max {
            self.violate(
                &n.to_string(),
                path,
                &format!("have value less than or equal to {max}"),
            );
        }
    }

    pub fn pattern(&mut self, path: &str, value: &str, re: &regex::Regex, shown: &str) -> bool {
        if re.is_match(value) {
            return true;
        }
        self.violate(
            &redact(value),
            path,
            &format!("satisfy regular expression pattern: {shown}"),
        );
        false
    }

    pub fn one_of(&mut self, path: &str, value: &str, allowed: &[&str]) -> bool {
        if allowed.contains(&value) {
            return true;
        }
        self.violate(
            value,
            path,
            &format!("satisfy enum value set: [{}]", allowed.join(", ")),
        );
        false
    }

    pub fn is_ok(&self) -> bool {
        self.violations.is_empty() && self.malformed.is_none()
    }

    /// Done: `Ok` when nothing was wrong, else the service's error (`invalid`) for it.
    pub fn finish(self, invalid: fn(&Validator) -> ApiError) -> Result<(), ApiError> {
        if self.is_ok() {
            Ok(())
        } else {
            Err(invalid(&self))
        }
    }

    /// The message AWS sends for a failed validation: every violation, counted.
    pub fn message(&self) -> String {
        if let Some(m) = &self.malformed {
            return m.clone();
        }
        let n = self.violations.len();
        format!(
            "{n} validation error{} detected: {}",
            if n == 1 { "" } else { "s" },
            self.violations.join("; ")
        )
    }
}

/// Long values are cut in messages so that a 2 MB body does not come back as a 2 MB error.
fn redact(value: &str) -> String {
    if value.chars().count() > 80 {
        let head: String = value.chars().take(80).collect();
        format!("{head}...")
    } else {
        value.to_owned()
    }
}

/// AWS names members in validation messages in lowerCamelCase (`graphArn`).
pub fn lower_first(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Issues and checks opaque pagination tokens. A token names the last key of the page it
/// ends and is bound (by a keyed hash only this server knows) to the request it continues, so
/// a forged token, or one from another operation, caller or server, is refused.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    key: RandomState,
}

impl Tokens {
    pub fn issue(&self, scope: &str, after: &str) -> String {
        format!("{}.{:016x}", hex(after.as_bytes()), self.mac(scope, after))
    }

    /// The key a token continues after, or `None` when this server did not issue it for `scope`.
    pub fn open(&self, scope: &str, token: &str) -> Option<String> {
        let (data, mac) = token.split_once('.')?;
        let after = String::from_utf8(unhex(data)?).ok()?;
        (format!("{:016x}", self.mac(scope, &after)) == mac).then_some(after)
    }

    fn mac(&self, scope: &str, after: &str) -> u64 {
        self.key.hash_one((scope, after))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// One page of `items`, which must come in ascending key order: the items after `after`, at
/// most `max`, and the key to continue after when more remain. Pass references and turn the page
/// into wire shapes afterwards, so that the items skipped to reach the page cost nothing.
pub fn page<K: AsRef<str>, T>(
    items: impl Iterator<Item = (K, T)>,
    after: Option<&str>,
    max: usize,
) -> (Vec<T>, Option<String>) {
    let mut out = Vec::new();
    let mut last = None;
    let mut items = items
        .skip_while(|(k, _)| after.is_some_and(|a| k.as_ref() <= a))
        .peekable();
    while out.len() < max {
        let Some((k, t)) = items.next() else { break };
        last = Some(k.as_ref().to_owned());
        out.push(t);
    }
    let next = if items.peek().is_some() { last } else { None };
    (out, next)
}

/// ISO 8601 with milliseconds, as restJson1 services send timestamps.
pub fn iso8601(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Epoch seconds, as awsJson1_1 services send timestamps.
pub fn epoch_seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_millis() as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_forgery() {
        let t = Tokens::default();
        let tok = t.issue("ListMembers|111111111111", "222222222222");
        assert_eq!(
            t.open("ListMembers|111111111111", &tok).as_deref(),
            Some("222222222222")
        );
        assert_eq!(t.open("ListMembers|333333333333", &tok), None);
        assert_eq!(
            Tokens::default().open("ListMembers|111111111111", &tok),
            None
        );
        assert_eq!(t.open("x", "zz.00"), None);
        assert_eq!(t.open("x", "garbage"), None);
    }

    #[test]
    fn pages_are_stable_and_the_last_has_no_token() {
        let keys = ["a", "b", "c", "d", "e"];
        let items = || keys.iter().map(|k| (*k, *k));
        let (p1, n1) = page(items(), None, 2);
        assert_eq!((p1, n1.as_deref()), (vec!["a", "b"], Some("b")));
        let (p2, n2) = page(items(), Some("b"), 2);
        assert_eq!((p2, n2.as_deref()), (vec!["c", "d"], Some("d")));
        let (p3, n3) = page(items(), Some("d"), 2);
        assert_eq!((p3, n3), (vec!["e"], None));
        let (p, n) = page(items(), None, 5);
        assert_eq!((p.len(), n), (5, None));
    }

    #[test]
    fn following_tokens_yields_every_item_once_in_order_for_any_sizes() {
        for n in 0..40usize {
            let keys: Vec<String> = (0..n).map(|i| format!("{i:03}")).collect();
            for max in 1..12 {
                let mut seen = Vec::new();
                let mut after: Option<String> = None;
                let mut pages = 0;
                loop {
                    let items = keys.iter().map(|k| (k.as_str(), k.clone()));
                    let (items, next) = page(items, after.as_deref(), max);
                    pages += 1;
                    assert!(items.len() <= max);
                    assert!(
                        next.is_none() || items.len() == max,
                        "a short page ends the list"
                    );
                    seen.extend(items);
                    match next {
                        Some(k) => after = Some(k),
                        None => break,
                    }
                }
                assert_eq!(seen, keys, "n={n} max={max}");
                assert_eq!(pages, n.div_ceil(max).max(1), "n={n} max={max}");
            }
        }
    }

    #[test]
    fn validation_messages_count_every_violation() {
        let mut v = Validator::default();
        v.length("message", "", 1, 1000);
        v.range("maxResults", 500, 1, 200);
        assert_eq!(
            v.message(),
            "2 validation errors detected: Value '' at 'message' failed to satisfy constraint: \
             Member must have length greater than or equal to 1; Value '500' at 'maxResults' \
             failed to satisfy constraint: Member must have value less than or equal to 200"
        );
    }
}
