//! CloudTrail-shaped audit records. Every decision writes one; a denial's record carries the
//! full decision trail, found again by the request id the client was given.

use crate::clock::rfc3339;
use crate::excerpt::{bounded_text, excerpt_to, ECHO_CHARS, RECORD_BYTES, RECORD_VALUE_CHARS};
use crate::model::{AuditQuery, AuditRecord};
use crate::refusal::{ErrorCodes, Refusal};
use crate::secrets::uuid_v4;
use crate::trail::{Outcome, Step, Trail};
use serde::Serialize;
use serde_json::{json, Value};
use std::borrow::Cow;

/// The lookup attributes of CloudTrail's `LookupEvents`, in its spelling.
pub const LOOKUP_ATTRIBUTE_KEYS: [&str; 8] =
    ["EventId", "EventName", "ReadOnly", "Username", "ResourceType", "ResourceName", "EventSource", "AccessKeyId"];

/// Narrows `query` by one CloudTrail lookup attribute (`EventName` = `InitiateAuth`, ...), as
/// `LookupEvents` and `audit lookup --lookup-attribute` take them. The error says what is wrong
/// with the key or value; a key already narrowed to another value is an error too.
pub fn apply_lookup_attribute(query: &mut AuditQuery, key: &str, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("the value of lookup attribute {key} is empty"));
    }
    let v = || Some(value.to_string());
    let slot = match key {
        "EventId" => &mut query.event_id,
        "EventName" => &mut query.event_name,
        "Username" => &mut query.username,
        "ResourceType" => &mut query.resource_type,
        "ResourceName" => &mut query.resource_name,
        "EventSource" => &mut query.event_source,
        "AccessKeyId" => &mut query.access_key_id,
        "ReadOnly" => {
            let b = match value {
                "true" => true,
                "false" => false,
                _ => return Err(format!("ReadOnly must be \"true\" or \"false\", not {value:?}")),
            };
            if query.read_only.is_some_and(|old| old != b) {
                return Err("lookup attribute ReadOnly is given twice with different values".into());
            }
            query.read_only = Some(b);
            return Ok(());
        }
        _ => return Err(format!("unknown lookup attribute {key:?} (one of {})", LOOKUP_ATTRIBUTE_KEYS.join(", "))),
    };
    if slot.as_ref().is_some_and(|old| old != value) {
        return Err(format!("lookup attribute {key} is given twice with different values"));
    }
    *slot = v();
    Ok(())
}

/// The oldest `event_time` `[audit] retention_days` keeps at `now`; `None` when records are
/// kept forever (0 days).
pub fn retention_cutoff(retention_days: u32, now: i64) -> Option<i64> {
    (retention_days > 0).then(|| now.saturating_sub(i64::from(retention_days) * 86_400))
}

/// Who asked, from where: filled by the adapter, carried through the engine into the record.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub request_id: String,
    pub source_ip: String,
    pub user_agent: String,
    /// The door the request came in by, as a CloudTrail `eventSource` (e.g. `oauth2.tokenbridge`).
    pub event_source: String,
    /// How the door names refusals in its protocol: the records' `errorCode`.
    pub error_codes: ErrorCodes,
}

impl RequestContext {
    pub fn new(event_source: &str) -> Self {
        Self { request_id: uuid_v4(), event_source: event_source.into(), ..Default::default() }
    }

    /// The same request, its refusals recorded under the names `error_codes` gives them.
    pub fn named_by(mut self, error_codes: fn(&str, crate::refusal::Reason) -> &'static str) -> Self {
        self.error_codes = ErrorCodes(error_codes);
        self
    }
}

/// The principal an event is about, when known.
#[derive(Debug, Clone, Default)]
pub struct Principal {
    pub user_id: String,
    pub username: String,
    /// Upstream issuer the identity came from (`WebIdentityUser`), if any.
    pub identity_provider: Option<String>,
}

pub struct AuditEntry<'a> {
    pub event_name: &'a str,
    pub ctx: &'a RequestContext,
    pub principal: Option<Principal>,
    pub request_parameters: Value,
    pub response_elements: Value,
    pub trail: &'a Trail,
    pub refusal: Option<&'a Refusal>,
    pub read_only: bool,
}

impl AuditEntry<'_> {
    pub fn into_record(self, now: i64) -> AuditRecord {
        let event_id = uuid_v4();
        let user_identity = match &self.principal {
            Some(p) => json!({
                "type": if p.identity_provider.is_some() { "WebIdentityUser" } else { "LocalUser" },
                "principalId": p.user_id,
                "userName": p.username,
                "identityProvider": p.identity_provider,
            }),
            None => json!({ "type": "Unknown" }),
        };
        let (error_code, error_message) = match self.refusal {
            Some(r) => (
                Some(self.ctx.error_codes.name(&self.ctx.event_source, r.reason).to_string()),
                Some(r.recorded().to_string()),
            ),
            None => (None, None),
        };
        let record = json!({
            "eventVersion": "1.08",
            "userIdentity": user_identity,
            "eventTime": rfc3339(now),
            "eventSource": self.ctx.event_source,
            "eventName": self.event_name,
            "awsRegion": "local",
            "sourceIPAddress": self.ctx.source_ip,
            "userAgent": self.ctx.user_agent,
            "requestParameters": self.request_parameters,
            "responseElements": if self.refusal.is_some() { Value::Null } else { self.response_elements },
            "errorCode": error_code,
            "errorMessage": error_message,
            "requestID": self.ctx.request_id,
            "eventID": event_id,
            "readOnly": self.read_only,
            "eventType": "AwsApiCall",
            "managementEvent": false,
            "eventCategory": "Management",
            "additionalEventData": { "decisionTrail": self.trail.steps },
        });
        AuditRecord {
            event_id,
            event_time: now,
            event_name: self.event_name.to_string(),
            username: self.principal.map(|p| p.username),
            request_id: self.ctx.request_id.clone(),
            error_code,
            record,
        }
    }
}

/// Bounds a record before it is stored, whoever sent the request: in its error message and trail
/// every word longer than [`ECHO_CHARS`] to an excerpt, every string and member name to
/// [`RECORD_VALUE_CHARS`], the event name and user name columns to [`ECHO_CHARS`];
/// then, while the record is over [`RECORD_BYTES`], its `requestParameters`, `responseElements`,
/// `resources` and the members of `additionalEventData` other than the decision trail are each
/// replaced by `{"omittedBytes": n}`, and last the trail keeps its first failing step and as
/// many others as fit.
pub fn bound_record(r: &mut AuditRecord) {
    // Prose quotes request values as words: each long one becomes an excerpt.
    let prose = |v: Option<&mut Value>| {
        if let Some(Value::String(text)) = v {
            if let Cow::Owned(cut) = bounded_text(text, RECORD_VALUE_CHARS) {
                *text = cut;
            }
        }
    };
    prose(r.record.get_mut("errorMessage"));
    if let Some(Value::Array(steps)) = r.record.pointer_mut("/additionalEventData/decisionTrail") {
        steps.iter_mut().for_each(|step| prose(step.get_mut("detail")));
    }
    cap_strings(&mut r.record);
    if let Cow::Owned(name) = excerpt_to(&r.event_name, ECHO_CHARS) {
        r.record["eventName"] = json!(name);
        r.event_name = name;
    }
    if let Some(Cow::Owned(u)) = r.username.as_deref().map(|u| excerpt_to(u, ECHO_CHARS)) {
        r.username = Some(u);
    }
    let size = |v: &Value| serde_json::to_string(v).map_or(0, |t| t.len());
    let mut over = size(&r.record).saturating_sub(RECORD_BYTES);
    let omit = |v: &mut Value, over: &mut usize| {
        if *over > 0 && !v.is_null() {
            let n = size(v);
            *v = json!({ "omittedBytes": n });
            *over = over.saturating_sub(n.saturating_sub(24));
        }
    };
    for key in ["requestParameters", "responseElements", "resources"] {
        if let Some(v) = r.record.get_mut(key) {
            omit(v, &mut over);
        }
    }
    if let Some(Value::Object(extra)) = r.record.get_mut("additionalEventData") {
        for (_, v) in extra.iter_mut().filter(|(k, _)| k.as_str() != "decisionTrail") {
            omit(v, &mut over);
        }
    }
    if size(&r.record) <= RECORD_BYTES {
        return;
    }
    let Some(Value::Array(steps)) = r.record.pointer_mut("/additionalEventData/decisionTrail") else { return };
    let first_failure = steps.iter().position(|s| s["outcome"] == "fail");
    let mut budget = RECORD_BYTES / 2;
    let mut kept = Vec::new();
    let total = steps.len();
    for (i, step) in std::mem::take(steps).into_iter().enumerate() {
        let n = size(&step);
        if n <= budget || Some(i) == first_failure {
            budget = budget.saturating_sub(n);
            kept.push(step);
        }
    }
    let left_out = total - kept.len();
    kept.push(json!({
        "check": "record size",
        "outcome": "skip",
        "detail": format!("{left_out} of {total} steps left out: the record is bounded to {RECORD_BYTES} bytes"),
    }));
    *steps = kept;
}

/// Cuts every string and member name of `v` to [`RECORD_VALUE_CHARS`].
fn cap_strings(v: &mut Value) {
    match v {
        Value::String(s) => {
            if let Cow::Owned(cut) = excerpt_to(s, RECORD_VALUE_CHARS) {
                *s = cut;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(cap_strings),
        Value::Object(members) => {
            if members.keys().any(|k| k.len() > RECORD_VALUE_CHARS) {
                *members = std::mem::take(members)
                    .into_iter()
                    .map(|(k, v)| (excerpt_to(&k, RECORD_VALUE_CHARS).into_owned(), v))
                    .collect();
            }
            members.values_mut().for_each(cap_strings);
        }
        _ => {}
    }
}

/// Who reads audit events, and so which: an admin reads every event; the caller of a request
/// reads only the events recorded about them (`userIdentity.principalId` = their user id, or
/// `userIdentity.accessKeyId` = the temporary credentials they signed with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditReader {
    Admin,
    /// A user, by id (`sub`).
    User(String),
    /// Temporary credentials, by access key id.
    Session(String),
}

impl AuditReader {
    pub fn may_see(&self, r: &AuditRecord) -> bool {
        let identity = |k: &str| r.record.get("userIdentity").and_then(|u| u.get(k)).and_then(Value::as_str);
        match self {
            Self::Admin => true,
            Self::User(id) => identity("principalId") == Some(id.as_str()),
            Self::Session(key) => identity("accessKeyId") == Some(key.as_str()),
        }
    }
}

/// A decision told for a person (`audit explain`) or a machine (`--json`, the admin API): each
/// check in order, with the first failing one marked.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    pub request_id: String,
    pub event_id: String,
    pub event_time: String,
    pub event_name: String,
    pub event_source: String,
    pub source_ip_address: String,
    pub user_name: Option<String>,
    /// `allowed` or `denied`.
    pub decision: &'static str,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// 1-based position of the first failing step.
    pub first_failure: Option<usize>,
    pub steps: Vec<Step>,
}

impl Explanation {
    pub fn from_record(r: &AuditRecord) -> Self {
        let rec = &r.record;
        let text = |k: &str| rec.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let steps: Vec<Step> = rec
            .pointer("/additionalEventData/decisionTrail")
            .and_then(|t| serde_json::from_value(t.clone()).ok())
            .unwrap_or_default();
        Self {
            request_id: r.request_id.clone(),
            event_id: r.event_id.clone(),
            event_time: rfc3339(r.event_time),
            event_name: r.event_name.clone(),
            event_source: text("eventSource"),
            source_ip_address: text("sourceIPAddress"),
            user_name: r.username.clone().filter(|u| !u.is_empty()),
            decision: if r.error_code.is_some() { "denied" } else { "allowed" },
            error_code: r.error_code.clone(),
            error_message: rec.get("errorMessage").and_then(Value::as_str).map(str::to_string),
            first_failure: steps.iter().position(|s| s.outcome == Outcome::Fail).map(|i| i + 1),
            steps,
        }
    }

    /// The trail as lines of text, in order, the first failing check marked.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let who = self.user_name.as_deref().map(|u| format!(", user {u}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "request {}: {} ({}) at {} from {}{who}",
            self.request_id,
            self.event_name,
            self.event_source,
            self.event_time,
            if self.source_ip_address.is_empty() { "?" } else { &self.source_ip_address }
        );
        match (&self.error_code, &self.error_message) {
            (Some(code), msg) => {
                let _ = writeln!(out, "decision: DENIED ({code}): {}", msg.as_deref().unwrap_or(""));
            }
            (None, _) => {
                let _ = writeln!(out, "decision: allowed");
            }
        }
        let width = self.steps.iter().map(|s| s.check.len()).max().unwrap_or(0);
        for (i, s) in self.steps.iter().enumerate() {
            let mark = match s.outcome {
                Outcome::Pass => "pass",
                Outcome::Fail => "FAIL",
                Outcome::Skip => "skip",
            };
            let first = if Some(i + 1) == self.first_failure { "   <-- first failing check" } else { "" };
            let _ = writeln!(out, "  {:>2}. {mark}  {:<width$}  {}{first}", i + 1, s.check, s.detail);
        }
        if self.steps.is_empty() {
            let _ = writeln!(out, "  (no checks recorded)");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_other_than_an_admin_sees_only_their_own_events() {
        let record = |identity: Value| AuditRecord {
            event_id: "e".into(),
            event_time: 0,
            event_name: "Authorize".into(),
            username: None,
            request_id: "r".into(),
            error_code: Some("access_denied".into()),
            record: json!({ "userIdentity": identity }),
        };
        let alice = record(json!({ "type": "LocalUser", "principalId": "u-alice" }));
        let session = record(json!({ "type": "AssumedRole", "principalId": "AROA1:s", "accessKeyId": "ASIA1" }));
        let nobody = record(json!({ "type": "Unknown" }));
        for r in [&alice, &session, &nobody] {
            assert!(AuditReader::Admin.may_see(r));
        }
        assert!(AuditReader::User("u-alice".into()).may_see(&alice));
        assert!(!AuditReader::User("u-bob".into()).may_see(&alice));
        assert!(!AuditReader::User("u-alice".into()).may_see(&nobody));
        assert!(AuditReader::Session("ASIA1".into()).may_see(&session));
        assert!(!AuditReader::Session("ASIA2".into()).may_see(&session));
        assert!(!AuditReader::Session("ASIA1".into()).may_see(&alice));
    }

    #[test]
    fn lookup_attributes_narrow_the_query() {
        let mut q = AuditQuery::default();
        for (k, v) in [
            ("EventId", "e1"),
            ("EventName", "InitiateAuth"),
            ("Username", "alice"),
            ("ResourceType", "AWS::IAM::Role"),
            ("ResourceName", "arn:aws:iam::1:role/r"),
            ("EventSource", "sts.amazonaws.com"),
            ("AccessKeyId", "AKIA1"),
            ("ReadOnly", "false"),
        ] {
            apply_lookup_attribute(&mut q, k, v).unwrap();
        }
        assert_eq!(q.event_id.as_deref(), Some("e1"));
        assert_eq!(q.event_name.as_deref(), Some("InitiateAuth"));
        assert_eq!(q.username.as_deref(), Some("alice"));
        assert_eq!(q.resource_type.as_deref(), Some("AWS::IAM::Role"));
        assert_eq!(q.resource_name.as_deref(), Some("arn:aws:iam::1:role/r"));
        assert_eq!(q.event_source.as_deref(), Some("sts.amazonaws.com"));
        assert_eq!(q.access_key_id.as_deref(), Some("AKIA1"));
        assert_eq!(q.read_only, Some(false));
        // The same value again is fine; another one, an unknown key or a bad value are not.
        apply_lookup_attribute(&mut q, "EventName", "InitiateAuth").unwrap();
        assert!(apply_lookup_attribute(&mut q, "EventName", "SignUp").unwrap_err().contains("twice"));
        assert!(apply_lookup_attribute(&mut q, "ReadOnly", "true").unwrap_err().contains("twice"));
        assert!(apply_lookup_attribute(&mut q, "ReadOnly", "yes").unwrap_err().contains("\"true\" or \"false\""));
        assert!(apply_lookup_attribute(&mut q, "Region", "x").unwrap_err().contains("unknown lookup attribute"));
        assert!(apply_lookup_attribute(&mut q, "Username", "").unwrap_err().contains("empty"));
    }

    #[test]
    fn records_are_bounded_whatever_the_request_held() {
        let huge = "Z".repeat(1 << 20);
        let trail = Trail {
            steps: vec![
                Step { check: "client".into(), outcome: Outcome::Fail, detail: huge.clone() },
                Step { check: "later".into(), outcome: Outcome::Pass, detail: "x".into() },
            ],
        };
        let refusal = Refusal {
            reason: crate::refusal::Reason::InvalidClient,
            message: huge.clone(),
            trail: trail.clone(),
            recorded_message: None,
        };
        let ctx = RequestContext { user_agent: huge.clone(), ..RequestContext::new("test") };
        let mut r = AuditEntry {
            event_name: &huge,
            ctx: &ctx,
            principal: Some(Principal { user_id: huge.clone(), username: huge.clone(), identity_provider: None }),
            request_parameters: json!({ "ClientId": huge, huge.clone(): 1, "list": vec![huge.as_str(); 100] }),
            response_elements: Value::Null,
            trail: &trail,
            refusal: Some(&refusal),
            read_only: false,
        }
        .into_record(0);
        bound_record(&mut r);
        let text = r.record.to_string();
        assert!(text.len() <= crate::excerpt::RECORD_BYTES, "{} bytes", text.len());
        assert!(r.event_name.len() < 256 && r.username.as_ref().unwrap().len() < 256);
        assert_eq!(r.record["eventName"], r.event_name.as_str());
        // The list of 100 long strings is what was left out; the rest is kept, cut.
        assert!(r.record["requestParameters"]["omittedBytes"].as_u64().unwrap() > 100 * 4096);
        assert!(r.record["errorMessage"].as_str().unwrap().contains("[1048576 chars, sha256:"));
        let steps = r.record["additionalEventData"]["decisionTrail"].as_array().unwrap();
        assert_eq!(steps[0]["check"], "client");
        assert_eq!(Explanation::from_record(&r).first_failure, Some(1));
        // A record within the bound is left as it was.
        let small = AuditEntry {
            event_name: "E",
            ctx: &RequestContext::new("test"),
            principal: None,
            request_parameters: json!({ "a": "b" }),
            response_elements: json!({ "c": 1 }),
            trail: &Trail::new(),
            refusal: None,
            read_only: true,
        }
        .into_record(0);
        let mut bounded = small.clone();
        bound_record(&mut bounded);
        assert_eq!(bounded.record, small.record);
    }

    #[test]
    fn retention_cutoff_in_days() {
        assert_eq!(retention_cutoff(0, 1_000_000_000), None);
        assert_eq!(retention_cutoff(1, 1_000_000_000), Some(1_000_000_000 - 86_400));
        assert_eq!(retention_cutoff(90, 1_000_000_000), Some(1_000_000_000 - 90 * 86_400));
        assert_eq!(retention_cutoff(u32::MAX, 0), Some(-(i64::from(u32::MAX) * 86_400)));
    }
}
