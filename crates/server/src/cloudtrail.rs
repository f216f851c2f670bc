//! CloudTrail's `LookupEvents` on the AWS JSON 1.1 door
//! (`X-Amz-Target: com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents`), over
//! the audit trail, so `aws cloudtrail lookup-events` and boto3's `lookup_events` (and its
//! paginator) read it. Every call needs a SigV4 signature by the admin credentials, scoped to
//! the `cloudtrail` service.
//!
//! Like CloudTrail: at most one lookup attribute (`EventId`, `EventName`, `ReadOnly`,
//! `Username`, `ResourceType`, `ResourceName`, `EventSource`, `AccessKeyId`), `StartTime` and
//! `EndTime` in epoch seconds (fractions allowed; a record's whole-second `eventTime` counts
//! when its second overlaps the range), `MaxResults` 1–50 (default 50), newest first, and a
//! `NextToken` that is only good with the parameters it was issued for. Refusals are AWS JSON
//! errors with CloudTrail's exception names, and are audited; successful lookups are reads and
//! are not (as the admin API's).

use crate::aws::{aws_answer, aws_error, check_signature, json_object, refuse, refuse_signature, Words};
use crate::AppState;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use base64::Engine as _;
use serde_json::{json, Value};
use tokenbridge_core::audit::{apply_lookup_attribute, AuditReader, RequestContext};
use tokenbridge_core::model::{AuditQuery, AuditRecord};
use tokenbridge_core::{Reason, Refusal};

/// The `X-Amz-Target` prefix of the CloudTrail API.
pub const TARGET_PREFIX: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.";
/// The `eventSource` of the records this door writes (its refusals).
pub const EVENT_SOURCE: &str = "cloudtrail.amazonaws.com";
/// The SigV4 signing name requests must be scoped to.
pub const SIGNING_NAME: &str = "cloudtrail";
/// `MaxResults`: its bound and default.
pub const MAX_RESULTS: u64 = 50;
/// The longest `AttributeValue` CloudTrail takes.
const MAX_ATTRIBUTE_VALUE: usize = 2000;
const NEXT_TOKEN_VERSION: u64 = 1;

/// The `__type` and HTTP status of a CloudTrail refusal.
pub fn cloudtrail_words(reason: Reason) -> (&'static str, StatusCode) {
    use Reason::*;
    let bad = StatusCode::BAD_REQUEST;
    match reason {
        InvalidLookupAttribute => ("InvalidLookupAttributesException", bad),
        InvalidTimeRange => ("InvalidTimeRangeException", bad),
        InvalidPageSize => ("InvalidMaxResultsException", bad),
        InvalidEventCategory => ("InvalidEventCategoryException", bad),
        InvalidPageToken => ("InvalidNextTokenException", bad),
        MalformedRequest => ("SerializationException", bad),
        UnknownOperation => ("UnknownOperationException", bad),
        // As AWS answers signatures: malformed (400), or the caller is not known (403).
        MalformedSignature => ("IncompleteSignatureException", bad),
        MissingAuthentication => ("MissingAuthenticationTokenException", StatusCode::FORBIDDEN),
        UnknownCredentials => ("UnrecognizedClientException", StatusCode::FORBIDDEN),
        SignatureMismatch => ("InvalidSignatureException", StatusCode::FORBIDDEN),
        Unavailable => ("ServiceUnavailableException", StatusCode::SERVICE_UNAVAILABLE),
        _ => ("InvalidParameterException", bad),
    }
}

/// The CloudTrail door's `errorCode`: its `__type`.
pub fn error_code(_event_source: &str, reason: Reason) -> &'static str {
    cloudtrail_words(reason).0
}

/// Answers one CloudTrail action: `action` is the target without [`TARGET_PREFIX`].
pub async fn call(
    state: &AppState,
    action: &str,
    ctx: &RequestContext,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let words: Words = cloudtrail_words;
    if let Err(e) = check_signature(state, SIGNING_NAME, method, uri, headers, body) {
        return refuse_signature(state, action, ctx, words, &e).await;
    }
    let request = match action {
        "LookupEvents" => match json_object(body) {
            Some(input) => LookupRequest::parse(&input),
            None => Err(Refusal::new(Reason::MalformedRequest, "Start of structure or map found where not expected.")),
        },
        _ => Err(Refusal::new(Reason::UnknownOperation, format!("CloudTrail action {action:?} is not implemented"))),
    };
    match request {
        // Refused before the engine saw it: recorded here.
        Err(refusal) => refuse(state, action, ctx, words, refusal).await,
        Ok(request) => match lookup_events(state, ctx, &request).await {
            Ok(v) => aws_answer(v, &ctx.request_id),
            // The engine's read recorded its refusal.
            Err(refusal) => aws_error(words, &refusal, &ctx.request_id),
        },
    }
}

/// `LookupEvents`: the query its input asks for, one page of it, and the token of the next.
async fn lookup_events(state: &AppState, ctx: &RequestContext, request: &LookupRequest) -> Result<Value, Refusal> {
    if request.insights_only {
        // Insights events are never recorded here.
        return Ok(json!({ "Events": [] }));
    }
    let mut q = request.query.clone();
    q.before_event_id = request.after.clone();
    // One more than the page: whether there is a next page, without an empty last page.
    q.limit = Some(request.max_results as u32 + 1);
    let mut records = state.engine.read_audit("LookupEvents", ctx, &q, &AuditReader::Admin).await?;
    let next = if records.len() as u64 > request.max_results {
        records.truncate(request.max_results as usize);
        records.last().map(|r| next_token(&request.query, &r.event_id))
    } else {
        None
    };
    Ok(json!({
        "Events": records.iter().map(event).collect::<Vec<_>>(),
        "NextToken": next,
    }))
}

/// A parsed, validated `LookupEvents` input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupRequest {
    /// The filters (lookup attribute and time range); no limit or cursor.
    pub query: AuditQuery,
    pub max_results: u64,
    /// From `NextToken`: the page starts after this event (older than it).
    pub after: Option<String>,
    /// `EventCategory: insight`.
    pub insights_only: bool,
}

impl LookupRequest {
    pub fn parse(input: &Value) -> Result<Self, Refusal> {
        let mut query = AuditQuery::default();
        match input.get("LookupAttributes") {
            None | Some(Value::Null) => {}
            Some(Value::Array(attributes)) => {
                if attributes.len() > 1 {
                    return Err(Refusal::new(
                        Reason::InvalidLookupAttribute,
                        "You can specify only one lookup attribute.",
                    ));
                }
                for a in attributes {
                    let field = |name: &str| a.get(name).and_then(Value::as_str);
                    let (Some(key), Some(value)) = (field("AttributeKey"), field("AttributeValue")) else {
                        return Err(Refusal::new(
                            Reason::InvalidLookupAttribute,
                            "A lookup attribute needs an AttributeKey and an AttributeValue.",
                        ));
                    };
                    if value.chars().count() > MAX_ATTRIBUTE_VALUE {
                        return Err(Refusal::new(
                            Reason::InvalidLookupAttribute,
                            format!("AttributeValue is longer than {MAX_ATTRIBUTE_VALUE} characters."),
                        ));
                    }
                    apply_lookup_attribute(&mut query, key, value)
                        .map_err(|e| Refusal::new(Reason::InvalidLookupAttribute, e))?;
                }
            }
            Some(_) => return Err(Refusal::new(Reason::InvalidLookupAttribute, "LookupAttributes must be a list.")),
        }
        let start = timestamp(input, "StartTime")?;
        let end = timestamp(input, "EndTime")?;
        if let (Some(s), Some(e)) = (start, end) {
            if s > e {
                return Err(Refusal::new(Reason::InvalidTimeRange, "StartTime must not be after EndTime."));
            }
        }
        // Records carry whole seconds: an event at second n happened in [n, n + 1).
        query.start_time = start.map(|s| clamp_seconds(s.floor()));
        query.end_time = end.map(|e| clamp_seconds(e.floor()));
        let max_results = match input.get("MaxResults") {
            None | Some(Value::Null) => MAX_RESULTS,
            Some(v) => match v.as_u64() {
                Some(n @ 1..=MAX_RESULTS) => n,
                _ => {
                    return Err(Refusal::new(
                        Reason::InvalidPageSize,
                        format!("MaxResults must be a whole number from 1 to {MAX_RESULTS}, not {v}."),
                    ))
                }
            },
        };
        let insights_only = match input.get("EventCategory") {
            None | Some(Value::Null) => false,
            Some(Value::String(s)) if s == "insight" => true,
            Some(v) => {
                return Err(Refusal::new(
                    Reason::InvalidEventCategory,
                    format!("EventCategory must be \"insight\", not {v}."),
                ))
            }
        };
        let after = match input.get("NextToken") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) if t.is_empty() => None,
            Some(Value::String(t)) => Some(read_next_token(t, &query)?),
            Some(_) => return Err(invalid_token()),
        };
        Ok(Self { query, max_results, after, insights_only })
    }
}

/// `StartTime` / `EndTime`: epoch seconds (the JSON protocol's form; fractions allowed), or an
/// RFC 3339 string.
fn timestamp(input: &Value, name: &str) -> Result<Option<f64>, Refusal> {
    let bad = || Refusal::new(Reason::InvalidTimeRange, format!("{name} is not a timestamp."));
    match input.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_f64().filter(|f| f.is_finite()).map(Some).ok_or_else(bad),
        Some(Value::String(s)) => match s.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Some(f)),
            Ok(_) => Err(bad()),
            Err(_) => tokenbridge_core::clock::parse_time(s).map(|t| Some(t as f64)).ok_or_else(bad),
        },
        Some(_) => Err(bad()),
    }
}

fn clamp_seconds(f: f64) -> i64 {
    // `as` saturates at the bounds.
    f as i64
}

fn invalid_token() -> Refusal {
    Refusal::new(
        Reason::InvalidPageToken,
        "The NextToken is not valid, or was issued for a request with different parameters.",
    )
}

/// What a `NextToken` is good for: the filters it was issued with (not the page size, which a
/// paginator may change between pages).
fn fingerprint(query: &AuditQuery) -> String {
    let filters = AuditQuery { limit: None, before_event_id: None, after_event_id: None, ..query.clone() };
    let text = serde_json::to_vec(&filters).unwrap_or_default();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &text);
    digest.as_ref()[..12].iter().map(|b| format!("{b:02x}")).collect()
}

fn next_token(query: &AuditQuery, last_event_id: &str) -> String {
    let body = json!({ "v": NEXT_TOKEN_VERSION, "after": last_event_id, "q": fingerprint(query) });
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(body.to_string())
}

fn read_next_token(token: &str, query: &AuditQuery) -> Result<String, Refusal> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid_token())?;
    let body: Value = serde_json::from_slice(&bytes).map_err(|_| invalid_token())?;
    let (Some(NEXT_TOKEN_VERSION), Some(after), Some(fp)) =
        (body["v"].as_u64(), body["after"].as_str(), body["q"].as_str())
    else {
        return Err(invalid_token());
    };
    if after.is_empty() || fp != fingerprint(query) {
        return Err(invalid_token());
    }
    Ok(after.to_string())
}

/// One audit record as a CloudTrail `Event`: the looked-up fields, and the record itself as
/// `CloudTrailEvent`.
pub fn event(r: &AuditRecord) -> Value {
    let rec = &r.record;
    let resources: Vec<Value> = rec
        .get("resources")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter(|e| e.is_object())
                .map(|e| json!({ "ResourceType": e.get("type"), "ResourceName": e.get("ARN") }))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "EventId": r.event_id,
        "EventName": r.event_name,
        "ReadOnly": if rec.get("readOnly").and_then(Value::as_bool).unwrap_or(false) { "true" } else { "false" },
        "AccessKeyId": rec.pointer("/userIdentity/accessKeyId").and_then(Value::as_str),
        "EventTime": r.event_time,
        "EventSource": rec.get("eventSource").and_then(Value::as_str),
        "Username": r.username.as_deref().filter(|u| !u.is_empty()),
        "Resources": resources,
        "CloudTrailEvent": rec.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::without_nulls;

    fn parse(input: Value) -> Result<LookupRequest, Refusal> {
        LookupRequest::parse(&input)
    }

    fn exception(input: Value) -> &'static str {
        cloudtrail_words(parse(input).expect_err("refused").reason).0
    }

    #[test]
    fn inputs_become_queries() {
        let r = parse(json!({})).unwrap();
        assert_eq!((r.query, r.max_results, r.after, r.insights_only), (AuditQuery::default(), 50, None, false));
        let r = parse(json!({
            "LookupAttributes": [{ "AttributeKey": "EventName", "AttributeValue": "InitiateAuth" }],
            "StartTime": 100.5, "EndTime": "200.9", "MaxResults": 7,
        }))
        .unwrap();
        assert_eq!(r.query.event_name.as_deref(), Some("InitiateAuth"));
        // An event stamped second 100 may have happened at 100.5: both bounds round down.
        assert_eq!((r.query.start_time, r.query.end_time, r.max_results), (Some(100), Some(200), 7));
        let r = parse(json!({ "StartTime": "2026-01-01T00:00:00Z" })).unwrap();
        assert_eq!(r.query.start_time, Some(1_767_225_600));
        let r =
            parse(json!({ "LookupAttributes": [{ "AttributeKey": "ReadOnly", "AttributeValue": "true" }] })).unwrap();
        assert_eq!(r.query.read_only, Some(true));
        assert!(parse(json!({ "EventCategory": "insight" })).unwrap().insights_only);
    }

    #[test]
    fn bad_inputs_get_cloudtrails_exceptions() {
        let attr = |k: &str, v: &str| json!({ "AttributeKey": k, "AttributeValue": v });
        for bad in [
            json!({ "LookupAttributes": [attr("Region", "x")] }),
            json!({ "LookupAttributes": [attr("EventName", "")] }),
            json!({ "LookupAttributes": [attr("ReadOnly", "yes")] }),
            json!({ "LookupAttributes": [attr("EventName", "A"), attr("Username", "b")] }),
            json!({ "LookupAttributes": [{ "AttributeKey": "EventName" }] }),
            json!({ "LookupAttributes": [attr("EventName", &"x".repeat(2001))] }),
            json!({ "LookupAttributes": { "AttributeKey": "EventName" } }),
        ] {
            assert_eq!(exception(bad.clone()), "InvalidLookupAttributesException", "{bad}");
        }
        for bad in [
            json!({ "StartTime": 200, "EndTime": 100 }),
            json!({ "StartTime": "yesterday" }),
            json!({ "EndTime": true }),
        ] {
            assert_eq!(exception(bad.clone()), "InvalidTimeRangeException", "{bad}");
        }
        for bad in [json!({ "MaxResults": 0 }), json!({ "MaxResults": 51 }), json!({ "MaxResults": 2.5 })] {
            assert_eq!(exception(bad.clone()), "InvalidMaxResultsException", "{bad}");
        }
        assert_eq!(exception(json!({ "EventCategory": "data" })), "InvalidEventCategoryException");
        for bad in ["nonsense", "eyJ2IjoxfQ", "!!"] {
            assert_eq!(exception(json!({ "NextToken": bad })), "InvalidNextTokenException", "{bad}");
        }
    }

    #[test]
    fn next_tokens_hold_only_for_their_parameters() {
        let q = parse(json!({ "LookupAttributes": [{ "AttributeKey": "Username", "AttributeValue": "alice" }] }))
            .unwrap()
            .query;
        let token = next_token(&q, "ev-1");
        let same = json!({
            "LookupAttributes": [{ "AttributeKey": "Username", "AttributeValue": "alice" }],
            "NextToken": token, "MaxResults": 3,
        });
        assert_eq!(parse(same).unwrap().after.as_deref(), Some("ev-1"));
        let other = json!({
            "LookupAttributes": [{ "AttributeKey": "Username", "AttributeValue": "bob" }],
            "NextToken": token,
        });
        assert_eq!(exception(other), "InvalidNextTokenException");
        assert_eq!(exception(json!({ "NextToken": token, "StartTime": 1 })), "InvalidNextTokenException");
    }

    #[test]
    fn records_become_events() {
        let r = AuditRecord {
            event_id: "e1".into(),
            event_time: 1_700_000_000,
            event_name: "AssumeRoleWithWebIdentity".into(),
            username: Some("alice".into()),
            request_id: "r1".into(),
            error_code: None,
            record: json!({
                "eventSource": "sts.amazonaws.com",
                "readOnly": true,
                "userIdentity": { "accessKeyId": "ASIAX" },
                "resources": [{ "ARN": "arn:aws:iam::1:role/r", "type": "AWS::IAM::Role" }, "junk"],
            }),
        };
        let e = event(&r);
        assert_eq!(e["EventId"], "e1");
        assert_eq!(e["ReadOnly"], "true");
        assert_eq!(e["AccessKeyId"], "ASIAX");
        assert_eq!(e["EventTime"], 1_700_000_000);
        assert_eq!(e["EventSource"], "sts.amazonaws.com");
        assert_eq!(e["Username"], "alice");
        assert_eq!(
            e["Resources"],
            json!([{ "ResourceType": "AWS::IAM::Role", "ResourceName": "arn:aws:iam::1:role/r" }])
        );
        let back: Value = serde_json::from_str(e["CloudTrailEvent"].as_str().unwrap()).unwrap();
        assert_eq!(back, r.record);
        let bare = event(&AuditRecord { username: None, record: json!({}), ..r });
        assert_eq!(without_nulls(bare.clone())["ReadOnly"], "false");
        assert!(without_nulls(bare).get("Username").is_none());
    }
}
