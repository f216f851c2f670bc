//! Why the engine said no: one [`Refusal`] with a typed [`Reason`], the message the client is
//! told and the trail of checks that led there (recorded, never sent).
//!
//! The engine speaks no protocol. Which OAuth `error`, AWS `__type` or query `<Code>`, and which
//! HTTP status, a reason becomes is each door's decision (`crates/server`, the demo's GraphQL
//! door), one function per door; one reason may take different words on two doors. The audit
//! record's `errorCode` is the door's word too, so that clients reading the trail (CloudTrail's
//! `LookupEvents`, the console, `tokenbridge audit`) see the name they were answered with: the
//! door puts its naming in the request's context ([`ErrorCodes`]) and the engine writes what it
//! says. Records are stored as clients read them; no reader translates.

use crate::trail::Trail;
use std::fmt;

macro_rules! reasons {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// Why a request was refused, in the engine's terms. Doors map each onto their protocol.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Reason {
            $($(#[$doc])* $name,)*
        }

        impl Reason {
            /// Every reason, for the doors' exhaustive tests.
            pub const ALL: &'static [Reason] = &[$(Reason::$name,)*];

            /// The reason's own stable name (`InvalidGrant`): what a record says when no door named it.
            pub fn name(self) -> &'static str {
                match self {
                    $(Reason::$name => stringify!($name),)*
                }
            }
        }
    };
}

reasons! {
    // --- the request ---
    /// The request is malformed or misses a parameter (the token endpoints' catch-all).
    InvalidRequest,
    /// A parameter's value is not acceptable (the AWS APIs' input validation).
    InvalidParameter,
    /// The body is not in the protocol's shape at all (not a JSON object, not a GraphQL request).
    MalformedRequest,
    /// The operation is not one the door implements.
    UnknownOperation,

    // --- who is asking ---
    /// Client authentication failed or the client is unknown.
    InvalidClient,
    /// The client may not use this grant or provider.
    UnauthorizedClient,
    /// An action that needs a signature came without one.
    MissingAuthentication,
    /// The signing access key, or the session token that goes with it, is not known.
    UnknownCredentials,
    /// The signature is malformed or incomplete.
    MalformedSignature,
    /// The signature does not verify (key, scope, time window or payload).
    SignatureMismatch,

    // --- grants and tokens ---
    /// The presented grant (upstream token, refresh token) is not acceptable.
    InvalidGrant,
    UnsupportedGrantType,
    UnsupportedTokenType,
    /// The requested audience or resource is not allowed.
    InvalidTarget,
    InvalidScope,
    /// A bearer token presented to a protected endpoint is not valid.
    InvalidToken,
    /// A protected resource was asked for without any bearer token (RFC 6750 §3.1: no error code
    /// in the challenge).
    MissingToken,
    /// The caller is known but the route asks for more (scope, group, client, network) or no
    /// route covers the request.
    InsufficientScope,
    /// A web identity token (STS) did not verify.
    InvalidIdentityToken,
    /// A token or session was good once and has expired.
    ExpiredToken,

    // --- the decision ---
    /// The caller's proof (password, session, token, login) is not accepted, or the user may not
    /// sign in.
    NotAuthorized,
    /// Too many wrong passwords in a row: the name is locked for a while.
    LockedOut,
    /// The caller is known and may not do this (a policy or a trust policy says no).
    AccessDenied,

    // --- what the request names ---
    /// The named resource (pool, client, role, provider, identity) does not exist.
    NotFound,
    UserNotFound,
    /// A resource of that name exists already.
    AlreadyExists,
    UsernameExists,
    GroupExists,
    /// An identity provider of that name (or one of its identifiers) exists in the pool already.
    DuplicateProvider,
    /// The resource is still in use (a role with policies, a policy attached to roles).
    InUse,
    /// A policy document does not parse or breaks a rule of the policy language.
    MalformedPolicy,
    /// An identity pool's roles cannot be used (missing, unknown, or not trusting the pool).
    InvalidPoolConfiguration,

    // --- users and their codes ---
    UserNotConfirmed,
    PasswordResetRequired,
    /// The password breaks the pool's password policy.
    InvalidPassword,
    /// The confirmation code is not the one sent.
    CodeMismatch,
    /// The confirmation code (or authorization code) was right but is no longer valid.
    ExpiredCode,
    /// Too many codes asked for, or too many attempts, in a while.
    LimitExceeded,

    // --- the hosted sign-in (authorization code flow) ---
    /// The `redirect_uri` is not one of the app client's callback URLs: the browser is never sent
    /// there, not even with an error.
    UnregisteredRedirectUri,
    /// The `response_type` is not one the client may use (`code` only).
    UnsupportedResponseType,
    /// A public client's authorization request has no PKCE `code_challenge`.
    PkceRequired,
    /// The `code_challenge_method` is not `S256` (`plain` is refused).
    PkceMethodUnsupported,
    /// The `code_verifier` does not hash to the code's challenge (or is missing or malformed).
    PkceMismatch,
    /// The `redirect_uri` at the token endpoint is not the one the code was issued for.
    RedirectUriMismatch,
    /// The authorization code was redeemed before: what that redemption issued is revoked.
    CodeReplayed,
    /// A sign-in form came without the anti-forgery token bound to the browser's sign-in cookie.
    CsrfMismatch,
    /// An app client's OAuth flows are not acceptable together or with its secret.
    InvalidOAuthFlow,
    /// An OAuth scope named is not one the pool knows.
    ScopeDoesNotExist,

    // --- federation through the hosted sign-in (SAML) ---
    /// The identity provider's SAML response broke a rule of the profile (signature, issuer,
    /// audience, recipient, times, encryption, …): the failing rule is on the trail.
    SamlRejected,
    /// The response answers no AuthnRequest pending for this browser: unknown, expired, made in
    /// another browser, or answered already.
    SamlRequestUnknown,
    /// The assertion was accepted before (its ID is in the one-time-use record).
    AssertionReplayed,
    /// An IdP-initiated (unsolicited) response while the provider's IDPInit is off.
    UnsolicitedResponse,
    // --- federation through the hosted sign-in (OIDC) ---
    /// The callback's `state` names no authorization request pending for this browser: unknown,
    /// expired, made in another browser, or answered already.
    OidcStateUnknown,
    /// The OIDC provider's id token (or its code redemption) broke a rule: signature, issuer,
    /// audience, times, nonce; the failing check is on the trail.
    IdTokenRejected,
    /// The OIDC provider answered the authorization request with an error instead of a code.
    ProviderDeclined,
    /// `prompt=none` asked for a code without showing a page, and the browser has no live
    /// sign-in session of the pool's.
    LoginRequired,

    // --- audit lookups ---
    InvalidLookupAttribute,
    InvalidTimeRange,
    InvalidPageSize,
    InvalidEventCategory,
    /// The pagination token is not one this lookup issued.
    InvalidPageToken,

    // --- the service ---
    /// Too many requests from this source or client.
    RateLimited,
    /// The decision could not be made (storage or a dependency did not answer, stored state is
    /// unreadable) or its record could not be written: the client may retry.
    Unavailable,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<crate::sigv4::ErrorKind> for Reason {
    fn from(kind: crate::sigv4::ErrorKind) -> Self {
        use crate::sigv4::ErrorKind;
        match kind {
            ErrorKind::MissingAuthentication => Reason::MissingAuthentication,
            ErrorKind::UnrecognizedClient => Reason::UnknownCredentials,
            ErrorKind::IncompleteSignature => Reason::MalformedSignature,
            ErrorKind::InvalidSignature => Reason::SignatureMismatch,
        }
    }
}

/// A refusal: why, what the client is told, and the checks that led there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: Reason,
    /// What the client is told; never contains a token or secret.
    pub message: String,
    /// The checks run, the failing one last (for the audit record, never sent).
    pub trail: Trail,
    /// The record's `errorMessage` where it says more than the client is told (a GraphQL field
    /// denial names the statement; a signature refusal the failed check); else it is `message`.
    pub recorded_message: Option<String>,
}

// A trail ends in a refusal here, so that the trail itself depends on nothing.
impl Trail {
    /// Records a failed check and turns the trail into a refusal with that detail as its message.
    pub fn deny(mut self, reason: Reason, check: &str, detail: impl Into<String>) -> Refusal {
        let detail = detail.into();
        self.fail(check, detail.clone());
        Refusal { reason, message: detail, trail: self, recorded_message: None }
    }
}

impl Refusal {
    /// A refusal whose message is also its one failed check's detail.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut trail = Trail::new();
        trail.fail("request", message.clone());
        Self { reason, message, trail, recorded_message: None }
    }

    /// The store did not answer: the client may retry.
    pub fn storage(err: impl fmt::Display) -> Self {
        Self::new(Reason::Unavailable, format!("storage is unavailable: {err}"))
    }

    /// The answer was decided but its audit record could not be written, so it is withheld.
    pub fn withheld() -> Self {
        Self::new(Reason::Unavailable, "the audit record could not be written, so the answer is withheld; retry")
    }

    /// A refusal the client is told as `message` and the record keeps as `detail` (its one failed
    /// check's, and its `errorMessage`): what a door decides before the engine runs.
    pub fn told(reason: Reason, message: impl Into<String>, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        let mut trail = Trail::new();
        trail.fail("request", detail.clone());
        Self { reason, message: message.into(), trail, recorded_message: Some(detail) }
    }

    /// The record's `errorMessage`.
    pub fn recorded(&self) -> &str {
        self.recorded_message.as_deref().unwrap_or(&self.message)
    }
}

impl From<crate::store::StoreError> for Refusal {
    fn from(e: crate::store::StoreError) -> Self {
        Self::storage(e)
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.message)
    }
}

impl std::error::Error for Refusal {}

/// A door's name for a refusal in its protocol, the audit record's `errorCode`: given the
/// `eventSource` the record is filed under (an identity pool's credentials also write an STS
/// record) and the refusal's reason. The door sets it in the [`RequestContext`]; without one a
/// record names the reason itself ([`Reason::name`]).
///
/// [`RequestContext`]: crate::audit::RequestContext
#[derive(Clone, Copy)]
pub struct ErrorCodes(pub fn(event_source: &str, reason: Reason) -> &'static str);

impl ErrorCodes {
    pub fn name(&self, event_source: &str, reason: Reason) -> &'static str {
        (self.0)(event_source, reason)
    }
}

impl Default for ErrorCodes {
    fn default() -> Self {
        Self(|_, reason| reason.name())
    }
}

impl fmt::Debug for ErrorCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ErrorCodes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_marks_the_failing_check_last_and_first() {
        let mut t = Trail::new();
        t.pass("signature", "RS256 with kid k1");
        let d = t.deny(Reason::InvalidGrant, "audience", "audience \"x\" is not accepted");
        assert_eq!(d.trail.steps.len(), 2);
        assert_eq!(d.trail.first_failure().unwrap().check, "audience");
        assert_eq!(d.message, "audience \"x\" is not accepted");
        assert_eq!(d.reason, Reason::InvalidGrant);
    }

    #[test]
    fn reasons_name_themselves() {
        assert_eq!(Reason::InvalidGrant.name(), "InvalidGrant");
        assert_eq!(Reason::Unavailable.to_string(), "Unavailable");
        assert!(Reason::ALL.contains(&Reason::RateLimited));
        let names: std::collections::BTreeSet<&str> = Reason::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(names.len(), Reason::ALL.len(), "each reason once");
    }

    #[test]
    fn a_refusal_records_its_fuller_account() {
        let r = Refusal::new(Reason::InvalidRequest, "grant_type is missing");
        assert_eq!(r.recorded(), "grant_type is missing");
        assert_eq!(r.trail.first_failure().unwrap().detail, "grant_type is missing");
        let r = Refusal::told(Reason::SignatureMismatch, "does not match", "signature check failed");
        assert_eq!((r.message.as_str(), r.recorded()), ("does not match", "signature check failed"));
        assert_eq!(r.trail.first_failure().unwrap().detail, "signature check failed");
        assert_eq!(ErrorCodes::default().name("x", Reason::NotFound), "NotFound");
    }
}
