//! The one way an engine operation runs and is recorded.
//!
//! An operation is a name (the record's `eventName`), the parameters to record, and a decision.
//! The decision runs with a [`Call`] it writes into as it goes — its checks on the trail, who
//! the call turned out to be about, the resources it touched — and returns an answer or a
//! [`Refusal`] (`call.refuse(reason, check, detail, message)`). [`Engine::run`] owns everything after that: the metric, the one audit record built
//! from the call, and withholding an answer whose record could not be written (no token or
//! credential leaves without its record). Adding an operation:
//!
//! ```text
//! let op = Operation::new("DescribeThing", ctx, json!({ "thingId": id })).read_only();
//! self.run(op, async |call| self.describe_thing(id, call).await, |answer| json!({ "thingId": answer.id })).await
//! ```
//!
//! A refusal decided before any operation ran (a malformed body, a rate limit, a bad
//! signature) is recorded with [`Engine::record_refusal`], so every request id finds a record.

use crate::audit::{AuditEntry, Principal, RequestContext};
use crate::engine::Engine;
use crate::refusal::{Reason, Refusal};
use crate::trail::Trail;
use serde_json::{json, Map, Value};

/// How the record is filed, as CloudTrail files the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Filing {
    /// The broker's own events (token endpoints, the authorizer, user pools).
    Plain,
    /// A management event of an AWS service (IAM, STS, identity pools).
    Management,
    /// A data event (AppSync field access).
    Data,
}

/// What an operation is, for its record; known before its decision runs.
pub(crate) struct Operation<'a> {
    name: &'a str,
    ctx: &'a RequestContext,
    /// The door's CloudTrail `eventSource` where it is not the request's own.
    event_source: Option<&'a str>,
    params: Value,
    read_only: bool,
    filing: Filing,
    /// Whether an answer (not only a refusal) is recorded.
    record_answers: bool,
}

impl<'a> Operation<'a> {
    /// An operation recorded whether it answers or refuses, read-write, filed plainly.
    pub fn new(name: &'a str, ctx: &'a RequestContext, params: Value) -> Self {
        Self { name, ctx, event_source: None, params, read_only: false, filing: Filing::Plain, record_answers: true }
    }
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }
    /// Recorded under this door's `eventSource` rather than the request's.
    pub fn source(mut self, event_source: &'a str) -> Self {
        self.event_source = Some(event_source);
        self
    }
    pub fn filed(mut self, filing: Filing) -> Self {
        self.filing = filing;
        self
    }
    /// Answers are recorded only when `yes` (frequent reads that decide nothing new); refusals
    /// always are.
    pub fn record_answers(mut self, yes: bool) -> Self {
        self.record_answers = yes;
        self
    }
    /// The `eventSource` its record carries.
    pub fn event_source(&self) -> &str {
        self.event_source.unwrap_or(&self.ctx.event_source)
    }
}

/// What a decision learns as it runs, written into the operation's record.
#[derive(Default)]
pub(crate) struct Call {
    pub trail: Trail,
    pub principal: Option<Principal>,
    /// CloudTrail `resources`.
    pub resources: Vec<Value>,
    /// A `userIdentity` in place of the one made from the principal (web identities).
    pub user_identity: Option<Value>,
    /// Members of `additionalEventData` beside the decision trail.
    pub event_data: Map<String, Value>,
    /// Parameters learnt on the way, added to `requestParameters`.
    pub params: Map<String, Value>,
}

impl Call {
    /// Fails the call: `check` and `detail` go to the audit trail, `message` to the client.
    pub fn refuse(
        &mut self,
        reason: Reason,
        check: &str,
        detail: impl Into<String>,
        message: impl Into<String>,
    ) -> Refusal {
        let mut trail = std::mem::take(&mut self.trail);
        trail.fail(check, detail);
        Refusal { reason, message: message.into(), trail, recorded_message: None }
    }

    /// Fails the call with a message that is also the detail (input errors: nothing to hide).
    pub fn refuse_plainly(&mut self, reason: Reason, check: &str, message: impl Into<String>) -> Refusal {
        let message = message.into();
        self.refuse(reason, check, message.clone(), message)
    }

    /// The call turned out to be about `user`.
    pub fn about(&mut self, user: &crate::model::User) {
        self.principal =
            Some(Principal { user_id: user.id.clone(), username: user.username.clone(), identity_provider: None });
    }
}

/// One record of an outcome: the answer's `responseElements`, or the refusal.
pub(crate) enum Outcome<'d> {
    Answered(Value),
    Refused(&'d Refusal),
}

impl Engine {
    /// Runs `decide` as the operation `op` and records it: the answer (`answer` says what of it
    /// the record keeps) or the refusal; an answer whose record could not be written is withheld
    /// ([`Refusal::withheld`]).
    pub(crate) async fn run<T>(
        &self,
        op: Operation<'_>,
        decide: impl AsyncFnOnce(&mut Call) -> Result<T, Refusal>,
        answer: impl FnOnce(&T) -> Value,
    ) -> Result<T, Refusal> {
        let mut call = Call::default();
        let result = decide(&mut call).await;
        let outcome = if result.is_ok() { "answered" } else { "refused" };
        metrics::counter!("tokenbridge_operations_total", "source" => op.event_source().to_string(), "outcome" => outcome)
            .increment(1);
        match result {
            Ok(v) if !op.record_answers => Ok(v),
            Ok(v) => {
                if self.record(op, call, Outcome::Answered(answer(&v))).await {
                    Ok(v)
                } else {
                    Err(Refusal::withheld())
                }
            }
            Err(e) => {
                self.record(op, call, Outcome::Refused(&e)).await;
                Err(e)
            }
        }
    }

    /// Writes the record of one outcome of `op`; `false` when it could not be written (logged).
    /// For a record that goes with another operation's (the STS event of an identity pool's
    /// credentials) and for [`Self::run`].
    pub(crate) async fn record(&self, op: Operation<'_>, mut call: Call, outcome: Outcome<'_>) -> bool {
        let ctx = match op.event_source {
            Some(source) => RequestContext { event_source: source.to_string(), ..op.ctx.clone() },
            None => op.ctx.clone(),
        };
        let mut params = op.params;
        if let (Value::Object(p), false) = (&mut params, call.params.is_empty()) {
            p.append(&mut call.params);
        }
        let (response, refusal, trail) = match outcome {
            Outcome::Answered(v) => (v, None, std::mem::take(&mut call.trail)),
            Outcome::Refused(d) => (Value::Null, Some(d), d.trail.clone()),
        };
        let entry = AuditEntry {
            event_name: op.name,
            ctx: &ctx,
            principal: call.principal.take(),
            request_parameters: params,
            response_elements: response,
            trail: &trail,
            refusal,
            read_only: op.read_only,
        };
        let mut record = entry.into_record(self.now());
        let r = &mut record.record;
        r["awsRegion"] = json!(self.config.aws.region);
        r["recipientAccountId"] = json!(self.config.aws.account_id);
        match op.filing {
            Filing::Plain => {}
            Filing::Management => r["managementEvent"] = json!(true),
            Filing::Data => {
                r["managementEvent"] = json!(false);
                r["eventCategory"] = json!("Data");
            }
        }
        if !call.resources.is_empty() {
            r["resources"] = Value::Array(std::mem::take(&mut call.resources));
        }
        if let Some(u) = call.user_identity.take() {
            r["userIdentity"] = u;
        }
        for (k, v) in std::mem::take(&mut call.event_data) {
            r["additionalEventData"][k] = v;
        }
        crate::audit::bound_record(&mut record);
        match self.store.append_audit(&record).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, request_id = %record.request_id, "audit record could not be written");
                false
            }
        }
    }

    /// Records a refusal decided before any operation ran (malformed requests, rate limits,
    /// signatures), so that every error response's request id finds a record.
    pub async fn record_refusal(&self, event_name: &str, ctx: &RequestContext, refusal: &Refusal) {
        let op = Operation::new(event_name, ctx, json!({}));
        self.record(op, Call::default(), Outcome::Refused(refusal)).await;
    }
}
