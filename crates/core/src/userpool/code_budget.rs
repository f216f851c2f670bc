//! Codes sent per (pool, username): at most five an hour through `ForgotPassword` and
//! `ResendConfirmationCode`, so nobody can flood a user's mailbox (or a deployment's mail bill)
//! by asking again and again. The budget is spent for every username, existing or not, and
//! refused with the same answer, so it does not tell which usernames exist. Each spend is one
//! atomic store update: requests sent at once, to any number of instances, spend it as the same
//! requests one after another.

use super::*;
use crate::store::{Change, StoreError, StoreResult};

pub(super) const KIND_CODES_SENT: &str = "pool_codes_sent";
const CODES_PER_WINDOW: usize = 5;
const WINDOW_SECONDS: i64 = 3600;

/// When the codes of the last hour were asked for.
#[derive(Debug, Default, Serialize, Deserialize)]
struct CodesSent {
    at: Vec<i64>,
}

impl UserPools {
    /// Spends one code of `username`'s hourly budget in `pool_id`, or refuses as Cognito does
    /// when it is spent (`Reason::LimitExceeded`).
    pub(crate) async fn spend_code_budget(
        &self,
        pool_id: &str,
        username: &str,
        call: &mut Call,
    ) -> Result<(), Refusal> {
        let now = self.kernel.now();
        let id = super::lockout::record_id(pool_id, username);
        let mut spent = None;
        let mut updater = |stored: Option<&Document>| -> StoreResult<Change<Document>> {
            let mut sent: CodesSent = match stored {
                Some(d) => serde_json::from_value(d.body.clone())
                    .map_err(|e| StoreError::Backend(format!("stored code budget is not readable: {e}")))?,
                None => CodesSent::default(),
            };
            sent.at.retain(|t| *t > now - WINDOW_SECONDS);
            if sent.at.len() >= CODES_PER_WINDOW {
                spent = Some(Err(sent.at[0] + WINDOW_SECONDS - now));
                return Ok(Change::Keep);
            }
            sent.at.push(now);
            spent = Some(Ok(()));
            let created = stored.map_or(now, |d| d.created_at);
            let doc = Document::new(KIND_CODES_SENT, &id, pool_id, &sent, created, now);
            Ok(Change::Put(doc.expiring(now + WINDOW_SECONDS)))
        };
        self.kernel.store.update_document_with(KIND_CODES_SENT, &id, &mut updater).await?;
        match spent {
            Some(Ok(())) => Ok(()),
            Some(Err(wait)) => Err(call.refuse(
                Reason::LimitExceeded,
                "code budget",
                format!("{CODES_PER_WINDOW} codes asked for in the last hour; the next in {wait} s"),
                "Attempt limit exceeded, please try after some time.",
            )),
            None => Err(StoreError::Backend("the code budget was never read".into()).into()),
        }
    }
}
