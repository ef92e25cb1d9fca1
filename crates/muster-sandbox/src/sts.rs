//! STS, as botocore's model (2011-06-15, the query protocol) defines it: AssumeRole,
//! AssumeRoleWithWebIdentity and GetCallerIdentity. Requests are form-encoded (`Action=...`),
//! answers are XML in STS's namespace.
//!
//! A role ARN `arn:aws:iam::<account>:role/<name>` that the world declares gives credentials
//! that act as that account. Who may assume a role is the role's trust: account ids (any
//! principal of the account) or role ARNs (sessions of that role); web identities only where
//! the role says so. The sandbox cannot check an OIDC provider's signature: a web identity
//! token must be a well-formed, unexpired JWT.

use std::time::{Duration, SystemTime};

use base64::Engine;
use serde_json::{Map, Value};

use crate::wire::{xml_escape, ApiError, Service, Validator};
use crate::world::{stable_hash, Identity, Role, Session, World};
use crate::Req;

const SVC: Service = Service::Sts;

/// The actions served; every other STS action gets `NotImplemented`.
pub fn operation(action: &str) -> Option<&'static str> {
    let op = match action {
        "AssumeRole" => "AssumeRole",
        "AssumeRoleWithWebIdentity" => "AssumeRoleWithWebIdentity",
        "GetCallerIdentity" => "GetCallerIdentity",
        _ => return None,
    };
    Some(op)
}

/// The actions STS serves without a signature (the model's `noAuth`).
pub fn unsigned(action: &str) -> bool {
    matches!(action, "AssumeRoleWithWebIdentity" | "AssumeRoleWithSAML")
}

/// The answer's `<{op}Result>` contents, as XML; the server wraps it.
pub fn handle(
    world: &mut World,
    req: &Req,
    identity: Option<&Identity>,
    op: &str,
) -> Result<String, ApiError> {
    match (op, identity) {
        ("GetCallerIdentity", Some(who)) => Ok(caller_identity(who)),
        ("AssumeRole", Some(who)) => assume_role(world, req, who),
        ("AssumeRoleWithWebIdentity", _) => assume_role_with_web_identity(world, req),
        _ => Err(ApiError::of(
            SVC,
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        )),
    }
}

/// The whole answer document for `op`.
pub fn document(op: &str, result: &str, request_id: &str) -> String {
    format!(
        "<{op}Response xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><{op}Result>{result}</{op}Result><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{op}Response>",
        xml_escape(request_id)
    )
}

/// Form parameters as the service modules' request body: every value a string.
pub fn body(params: &[(String, String)]) -> Map<String, Value> {
    params
        .iter()
        .filter(|(k, _)| k != "Action" && k != "Version")
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

fn caller_identity(who: &Identity) -> String {
    format!(
        "<Arn>{}</Arn><UserId>{}</UserId><Account>{}</Account>",
        xml_escape(&who.arn),
        xml_escape(&who.user_id),
        xml_escape(&who.account)
    )
}

fn invalid(v: &Validator) -> ApiError {
    ApiError::of(SVC, "ValidationError", v.message())
}

/// The members AssumeRole and AssumeRoleWithWebIdentity share, checked as the model says.
struct Common {
    role_arn: String,
    session_name: String,
    duration: Option<u64>,
}

fn common(v: &mut Validator, body: &Map<String, Value>) -> Common {
    let role_arn = v
        .string(body, "RoleArn", true)
        .unwrap_or_default()
        .to_owned();
    if !role_arn.is_empty() || body.contains_key("RoleArn") {
        v.length("roleArn", &role_arn, 20, 2048);
    }
    let session_name = v
        .string(body, "RoleSessionName", true)
        .unwrap_or_default()
        .to_owned();
    if body.contains_key("RoleSessionName") {
        v.length("roleSessionName", &session_name, 2, 64);
        let ok = session_name
            .chars()
            .all(|c| c.is_alphanumeric() || "_+=,.@-".contains(c));
        if !ok {
            v.violations.push(format!(
                "Value '{session_name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"
            ));
        }
    }
    let duration = match body.get("DurationSeconds").and_then(Value::as_str) {
        None => None,
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) => {
                v.range("durationSeconds", n, 900, 43_200);
                u64::try_from(n).ok()
            }
            Err(_) => {
                v.malformed = Some(format!("DurationSeconds '{raw}' is not an integer"));
                None
            }
        },
    };
    Common {
        role_arn,
        session_name,
        duration,
    }
}

fn denied(caller_arn: &str, action: &str, role_arn: &str) -> ApiError {
    ApiError::of(
        SVC,
        "AccessDenied",
        format!(
            "User: {caller_arn} is not authorized to perform: {action} on resource: {role_arn}"
        ),
    )
}

fn assume_role(world: &mut World, req: &Req, who: &Identity) -> Result<String, ApiError> {
    let mut v = Validator::default();
    let c = common(&mut v, req.body);
    if let Some(id) = v.string(req.body, "ExternalId", false) {
        v.length("externalId", id, 2, 1224);
    }
    v.finish(invalid)?;
    if who.root {
        // AWS refuses an account's root credentials before it looks at the role.
        return Err(ApiError::of(
            SVC,
            "AccessDenied",
            "Roles may not be assumed by root accounts.",
        ));
    }
    let role = world.roles.get(&c.role_arn).cloned();
    let trusted = role.as_ref().is_some_and(|r| {
        r.trusted.contains(&who.account)
            || who.role.as_ref().is_some_and(|own| r.trusted.contains(own))
    });
    let (Some(role), true) = (role, trusted) else {
        return Err(denied(&who.arn, "sts:AssumeRole", &c.role_arn));
    };
    if who.role.is_some() && c.duration.is_some_and(|d| d > 3600) {
        return Err(ApiError::of(
            SVC,
            "ValidationError",
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
        ));
    }
    let (key, session) = issue(world, req, &role, &c)?;
    Ok(format!(
        "{}{}<PackedPolicySize>0</PackedPolicySize>",
        assumed_user(&session),
        credentials(&key, &session)
    ))
}

fn assume_role_with_web_identity(world: &mut World, req: &Req) -> Result<String, ApiError> {
    let mut v = Validator::default();
    let c = common(&mut v, req.body);
    let token = v
        .string(req.body, "WebIdentityToken", true)
        .unwrap_or_default()
        .to_owned();
    if req.body.contains_key("WebIdentityToken") {
        v.length("webIdentityToken", &token, 4, 20_000);
    }
    if let Some(p) = v.string(req.body, "ProviderId", false) {
        v.length("providerId", p, 4, 2048);
    }
    v.finish(invalid)?;
    let claims = jwt_claims(&token).ok_or_else(|| {
        ApiError::of(
            SVC,
            "InvalidIdentityToken",
            "The web identity token is not a valid JWT: it must be three base64url parts, the second a JSON object of claims",
        )
    })?;
    let now_secs = req
        .now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if claims
        .get("exp")
        .and_then(Value::as_u64)
        .is_some_and(|exp| exp <= now_secs)
    {
        return Err(ApiError::of(
            SVC,
            "ExpiredTokenException",
            "Token expired: the web identity token's exp is in the past",
        ));
    }
    let role = world
        .roles
        .get(&c.role_arn)
        .filter(|r| r.web_identity)
        .cloned();
    let Some(role) = role else {
        return Err(ApiError::of(
            SVC,
            "AccessDenied",
            "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        ));
    };
    let claim = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_owned);
    let subject = claim("sub")
        .filter(|s| s.len() >= 6)
        .unwrap_or_else(|| "sandbox-subject".into());
    let provider = claim("iss").unwrap_or_else(|| "sandbox.oidc.local".into());
    let audience = claim("aud").unwrap_or_else(|| "sts.amazonaws.com".into());
    let (key, session) = issue(world, req, &role, &c)?;
    Ok(format!(
        "<SubjectFromWebIdentityToken>{}</SubjectFromWebIdentityToken><Audience>{}</Audience>{}{}<Provider>{}</Provider>",
        xml_escape(&subject),
        xml_escape(&audience),
        assumed_user(&session),
        credentials(&key, &session),
        xml_escape(&provider)
    ))
}

/// A JWT's claims (the middle part), without checking its signature.
fn jwt_claims(token: &str) -> Option<Map<String, Value>> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, claims, _signature] = parts[..] else {
        return None;
    };
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let decode = |p: &str| engine.decode(p.trim_end_matches('=')).ok();
    serde_json::from_slice::<Map<String, Value>>(&decode(header)?).ok()?;
    serde_json::from_slice(&decode(claims)?).ok()
}

/// New credentials for a session of `role`, kept in the world until they expire.
fn issue(
    world: &mut World,
    req: &Req,
    role: &Role,
    c: &Common,
) -> Result<(String, Session), ApiError> {
    let asked = c.duration.unwrap_or(3600);
    if asked > role.max_session_seconds {
        return Err(ApiError::of(
            SVC,
            "ValidationError",
            format!(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role ({} seconds).",
                role.max_session_seconds
            ),
        ));
    }
    let lifetime = world.session_seconds.unwrap_or(asked);
    let h = stable_hash(&[&role.arn(), &c.session_name, &req.call.to_string()]);
    let key = format!("ASIA{:016X}", h);
    let session = Session {
        identity: Identity {
            account: role.account.clone(),
            arn: format!(
                "arn:aws:sts::{}:assumed-role/{}/{}",
                role.account, role.name, c.session_name
            ),
            user_id: format!("{}:{}", role.id(), c.session_name),
            role: Some(role.arn()),
            root: false,
        },
        token: format!(
            "sandbox-session-{:016x}{:016x}",
            h.rotate_left(17),
            req.call
        ),
        expires: whole_seconds(req.now + Duration::from_secs(lifetime)),
    };
    // Expired sessions are forgotten as new ones come, so a long run does not grow the world.
    world.sessions.retain(|_, s| s.expires > req.now);
    world.sessions.insert(key.clone(), session.clone());
    Ok((key, session))
}

/// `t` to the whole second above, as STS's Expiration shows it: a client's view of the expiry
/// is the sandbox's, and credentials never come back shorter than asked.
fn whole_seconds(t: SystemTime) -> SystemTime {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn assumed_user(s: &Session) -> String {
    format!(
        "<AssumedRoleUser><AssumedRoleId>{}</AssumedRoleId><Arn>{}</Arn></AssumedRoleUser>",
        xml_escape(&s.identity.user_id),
        xml_escape(&s.identity.arn)
    )
}

fn credentials(key: &str, s: &Session) -> String {
    format!(
        "<Credentials><AccessKeyId>{}</AccessKeyId><SecretAccessKey>sandbox</SecretAccessKey><SessionToken>{}</SessionToken><Expiration>{}</Expiration></Credentials>",
        xml_escape(key),
        xml_escape(&s.token),
        humantime::format_rfc3339_seconds(s.expires)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jwt_is_three_base64url_parts_with_json_claims() {
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let token = format!(
            "{}.{}.sig",
            e.encode(br#"{"alg":"RS256"}"#),
            e.encode(br#"{"sub":"system:serviceaccount:muster:muster","exp":1}"#)
        );
        let claims = jwt_claims(&token).unwrap();
        assert_eq!(claims["sub"], "system:serviceaccount:muster:muster");
        assert_eq!(jwt_claims("not-a-jwt"), None);
        assert_eq!(jwt_claims("a.b.c"), None);
    }
}
