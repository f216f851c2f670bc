//! CloudTrail-shaped audit records. Every decision writes one; a denial's record carries the
//! full decision trail, found again by the request id the client was given.

use crate::clock::rfc3339;
use crate::model::AuditRecord;
use crate::secrets::uuid_v4;
use crate::trail::{Denial, Trail};
use serde_json::{json, Value};

/// Who asked, from where: filled by the adapter, carried through the engine into the record.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub request_id: String,
    pub source_ip: String,
    pub user_agent: String,
    /// The door the request came in by, as a CloudTrail `eventSource` (e.g. `oauth2.tokenbridge`).
    pub event_source: String,
}

impl RequestContext {
    pub fn new(event_source: &str) -> Self {
        Self { request_id: uuid_v4(), event_source: event_source.into(), ..Default::default() }
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
    pub denial: Option<&'a Denial>,
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
        let (error_code, error_message) = match self.denial {
            Some(d) => (Some(d.code.oauth_error().to_string()), Some(d.message.clone())),
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
            "responseElements": if self.denial.is_some() { Value::Null } else { self.response_elements },
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
