//! The hosted sign-in's own records, kept as store documents under the hash of their secret
//! (never the code or the cookie itself):
//!
//! - authorization codes: single use, bound to the client, the `redirect_uri`, the PKCE
//!   challenge and the nonce, five minutes long. Redeeming one is an atomic update of its record
//!   as it stands, so of two redemptions at once (on any instances) one wins and the other is
//!   known as the second; the second marks the record and ends the refresh family the first
//!   issued, and the first, on recording its family, finds the mark and ends it too (whichever
//!   comes last sees the other).
//! - sign-in sessions: who signed in at a pool's pages, and when, for an hour; a second
//!   authorization request (another client of the same pool) signs in with the session alone.

use super::HostedSignIn;
use crate::jose::sha256_hex;
use crate::model::Document;
use crate::refusal::Refusal;
use crate::secrets::random_secret;
use crate::store::Change;
use serde::{Deserialize, Serialize};

const KIND_CODE: &str = "authorization_code";
const KIND_SESSION: &str = "signin_session";
/// A code lives five minutes (Cognito's figure; RFC 6749 §4.1.2 asks for at most ten).
pub const CODE_SECONDS: i64 = 300;
/// A redeemed code is remembered this long after it expired, so that a late second redemption
/// is still known as one and ends what the first issued.
const CODE_REMEMBERED_SECONDS: i64 = 24 * 3600;
/// A sign-in session lasts an hour (Cognito's managed login session).
pub const SESSION_SECONDS: i64 = 3600;

/// What a code grants, and to whom.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct CodeGrant {
    pub pool_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub user_id: String,
    /// The granted scopes, space-separated.
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The PKCE S256 challenge, when the request had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub expires_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redeemed: Option<Redemption>,
    /// The step that issued the code (a sign-in, or an authorization request riding a session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued_by: Option<SignInStep>,
    /// The step the user signed in by: its trail tells how (the SAML round trip, the OIDC
    /// provider's answer, the password). Unknown for a session older than this record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_in_by: Option<SignInStep>,
}

/// An audited step of the hosted sign-in: its request id (which finds its record) and its event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct SignInStep {
    pub request_id: String,
    pub event: String,
}

impl SignInStep {
    pub fn new(ctx: &crate::audit::RequestContext, event: &str) -> Self {
        Self { request_id: ctx.request_id.clone(), event: event.to_string() }
    }
}

/// A code's redemption: when, the refresh family it issued, whether it was presented again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Redemption {
    pub at: i64,
    #[serde(default)]
    pub family_id: Option<String>,
    #[serde(default)]
    pub replayed: bool,
}

/// What claiming a code came to.
pub(super) enum Claim {
    /// This redemption is the first: the code is now spent.
    First,
    /// It was redeemed before (at `at`): now marked, with the family the first issued (none yet
    /// when the first is still issuing: it will end its own).
    Again {
        at: i64,
        family_id: Option<String>,
    },
    Unknown,
}

/// A browser's sign-in at a pool's pages.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SignInSession {
    pub pool_id: String,
    pub user_id: String,
    pub auth_time: i64,
    pub expires_at: i64,
    /// The step the user signed in by, so a code issued from the session can name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_in_by: Option<SignInStep>,
}

/// Record ids: the secret hashed under its purpose, so neither kind's id finds the other.
fn code_id(code: &str) -> String {
    sha256_hex(format!("authorization code|{code}").as_bytes())
}

fn session_id(secret: &str) -> String {
    sha256_hex(format!("sign-in session|{secret}").as_bytes())
}

impl HostedSignIn {
    /// Keeps a new code's grant; returns the code (given to the browser once, kept nowhere).
    pub(super) async fn issue_code(&self, grant: &CodeGrant) -> Result<String, Refusal> {
        let code = random_secret();
        let now = self.kernel.now();
        let doc = Document::new(KIND_CODE, &code_id(&code), &grant.pool_id, grant, now, now)
            .expiring(grant.expires_at + CODE_REMEMBERED_SECONDS);
        self.kernel.store.insert_document(&doc).await?;
        Ok(code)
    }

    /// The grant `code` names, as stored (for the checks before it is claimed).
    pub(super) async fn code_grant(&self, code: &str) -> Result<Option<CodeGrant>, Refusal> {
        match self.kernel.store.get_document(KIND_CODE, &code_id(code)).await? {
            Some(d) => serde_json::from_value(d.body)
                .map(Some)
                .map_err(|e| Refusal::storage(format!("stored authorization code is malformed: {e}"))),
            None => Ok(None),
        }
    }

    /// Spends the code, in one atomic update of its record: the first claim wins; any later one
    /// marks the record as presented again and learns the family to end.
    pub(super) async fn claim_code(&self, code: &str, pool_id: &str) -> Result<Claim, Refusal> {
        let now = self.kernel.now();
        let claim = self
            .kernel
            .store
            .update_record::<CodeGrant, _>(KIND_CODE, &code_id(code), pool_id, now, |g| match g {
                None => (Change::Keep, Claim::Unknown),
                Some(mut g) => match g.redeemed.as_mut() {
                    Some(r) => {
                        r.replayed = true;
                        let again = Claim::Again { at: r.at, family_id: r.family_id.clone() };
                        (Change::Put(g), again)
                    }
                    None => {
                        g.redeemed = Some(Redemption { at: now, family_id: None, replayed: false });
                        (Change::Put(g), Claim::First)
                    }
                },
            })
            .await?;
        Ok(claim)
    }

    /// Records the family the first redemption issued; `true` when the code was presented again
    /// meanwhile (the family must end).
    pub(super) async fn record_family(&self, code: &str, pool_id: &str, family_id: &str) -> Result<bool, Refusal> {
        let now = self.kernel.now();
        let replayed = self
            .kernel
            .store
            .update_record::<CodeGrant, _>(KIND_CODE, &code_id(code), pool_id, now, |g| match g {
                Some(mut g) => {
                    let replayed = g.redeemed.as_ref().is_some_and(|r| r.replayed);
                    if let Some(r) = g.redeemed.as_mut() {
                        r.family_id = Some(family_id.to_string());
                    }
                    (Change::Put(g), replayed)
                }
                // Purged meanwhile: nothing can be presented again.
                None => (Change::Keep, false),
            })
            .await?;
        Ok(replayed)
    }

    /// Starts a browser's sign-in session; returns its secret (for the sealed cookie).
    pub(super) async fn start_session(
        &self,
        pool_id: &str,
        user_id: &str,
        auth_time: i64,
        signed_in_by: &SignInStep,
    ) -> Result<String, Refusal> {
        let secret = random_secret();
        let session = SignInSession {
            pool_id: pool_id.into(),
            user_id: user_id.into(),
            auth_time,
            expires_at: auth_time + SESSION_SECONDS,
            signed_in_by: Some(signed_in_by.clone()),
        };
        let now = self.kernel.now();
        let doc =
            Document::new(KIND_SESSION, &session_id(&secret), pool_id, &session, now, now).expiring(session.expires_at);
        self.kernel.store.insert_document(&doc).await?;
        Ok(secret)
    }

    /// The live session `secret` names (`None`: unknown, ended or expired).
    pub(super) async fn session(&self, secret: &str) -> Result<Option<SignInSession>, Refusal> {
        let Some(d) = self.kernel.store.get_document(KIND_SESSION, &session_id(secret)).await? else { return Ok(None) };
        let s: SignInSession = serde_json::from_value(d.body)
            .map_err(|e| Refusal::storage(format!("stored sign-in session is malformed: {e}")))?;
        Ok((s.expires_at > self.kernel.now()).then_some(s))
    }

    /// Ends the session `secret` names; whether there was one.
    pub(super) async fn end_session(&self, secret: &str) -> Result<bool, Refusal> {
        Ok(self.kernel.store.delete_document(KIND_SESSION, &session_id(secret)).await?)
    }
}
