//! Reading the audit trail, as an operation like any other: CloudTrail's `LookupEvents`, the
//! admin API's lookups and explanations, the console's explanation. The runner counts each one
//! and records it when it is refused (the store did not answer); a successful read decides
//! nothing new and is not recorded. What a reader gets is only what it may see.

use super::Kernel;
use crate::audit::{AuditReader, RequestContext};
use crate::model::{AuditQuery, AuditRecord};
use crate::operation::{Call, Operation};
use crate::refusal::{Reason, Refusal};
use serde_json::{json, Value};

impl Kernel {
    /// The records `query` selects that `reader` may see, read as the operation `event_name`.
    /// Records of others are left out without a word: a reader is never told they exist.
    pub(crate) async fn read_audit(
        &self,
        event_name: &str,
        ctx: &RequestContext,
        query: &AuditQuery,
        reader: &AuditReader,
    ) -> Result<Vec<AuditRecord>, Refusal> {
        let params = serde_json::to_value(query).unwrap_or(Value::Null);
        let op = Operation::new(event_name, ctx, params).read_only(true).record_answers(false);
        let decide = async |call: &mut Call| {
            let records = self.store.lookup_audit(query).await.map_err(|e| {
                call.refuse(
                    Reason::Unavailable,
                    "audit trail",
                    format!("the audit trail is unavailable: {e}"),
                    format!("The audit trail is unavailable: {e}"),
                )
            })?;
            let total = records.len();
            let visible: Vec<AuditRecord> = records.into_iter().filter(|r| reader.may_see(r)).collect();
            call.trail.pass("reader", format!("{} of {total} records visible to the reader", visible.len()));
            Ok(visible)
        };
        self.run(op, decide, |records| json!({ "records": records.len() })).await
    }
}
