//! The runner every operation goes through: its metric, its one audit record, and the answer
//! withheld when the record could not be written. What an operation is and what its decision
//! learns are in `operation.rs`, which depends on no engine.

use super::Kernel;
use crate::audit::{AuditEntry, RequestContext};
use crate::operation::{Call, Filing, Operation, Outcome};
use crate::refusal::Refusal;
use serde_json::{json, Value};

impl Kernel {
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
    pub(crate) async fn record_refusal(&self, event_name: &str, ctx: &RequestContext, refusal: &Refusal) {
        let op = Operation::new(event_name, ctx, json!({}));
        self.record(op, Call::default(), Outcome::Refused(refusal)).await;
    }
}
