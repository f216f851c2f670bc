//! The one way an engine operation runs and is recorded.
//!
//! An operation is a name (the record's `eventName`), the parameters to record, and a decision.
//! The decision runs with a [`Call`] it writes into as it goes — its checks on the trail, who
//! the call turned out to be about, the resources it touched — and returns an answer or a
//! [`Refusal`] (`call.refuse(reason, check, detail, message)`). The kernel's runner (`run`, in
//! `kernel/runner.rs`) owns everything after that: the metric, the one audit record built from
//! the call, and withholding an answer whose record could not be written (no token or
//! credential leaves without its record). Adding an operation:
//!
//! ```text
//! let op = Operation::new("DescribeThing", ctx, json!({ "thingId": id })).read_only();
//! self.kernel.run(op, async |call| self.describe_thing(id, call).await, |answer| json!({ "thingId": answer.id })).await
//! ```
//!
//! A refusal decided before any operation ran (a malformed body, a rate limit, a bad
//! signature) is recorded with `Engine::record_refusal`, so every request id finds a record.

use crate::audit::{Principal, RequestContext};
use crate::refusal::{Reason, Refusal};
use crate::trail::Trail;
use serde_json::{Map, Value};

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
    pub(crate) name: &'a str,
    pub(crate) ctx: &'a RequestContext,
    /// The door's CloudTrail `eventSource` where it is not the request's own.
    pub(crate) event_source: Option<&'a str>,
    pub(crate) params: Value,
    pub(crate) read_only: bool,
    pub(crate) filing: Filing,
    /// Whether an answer (not only a refusal) is recorded.
    pub(crate) record_answers: bool,
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

    /// Admits an action of an AWS JSON door: one the door's service implements, signed by admin
    /// credentials unless it is one of the `public` ones (a browser's, unsigned).
    pub fn admit_action(
        &mut self,
        action: &str,
        implemented: &[&str],
        public: &[&str],
        admin: bool,
    ) -> Result<(), Refusal> {
        if !implemented.contains(&action) {
            Err(self.refuse(
                Reason::UnknownOperation,
                "action",
                format!("action {action:?} is not implemented"),
                "Unknown operation",
            ))
        } else if !admin && !public.contains(&action) {
            Err(self.refuse(
                Reason::MissingAuthentication,
                "signature",
                format!("{action} needs a SigV4 signature with admin credentials"),
                "Missing Authentication Token",
            ))
        } else {
            Ok(())
        }
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
