//! Verification of AWS Signature Version 4 on incoming requests, so that unmodified AWS SDKs can
//! call tokenbridge's AWS-compatible APIs (Cognito user-pool admin actions, STS).
//!
//! Both forms SDKs produce are accepted: the `Authorization: AWS4-HMAC-SHA256 ...` header and the
//! presigned query string (`X-Amz-Algorithm`, ..., `X-Amz-Signature`). The canonical request is
//! built the way the SDKs build it for every service but S3:
//! - the path, percent-encoded once as received, is dot-segment normalized (empty segments
//!   dropped too) and encoded again: `/a%20b` is signed as `/a%2520b`;
//! - query names and values are decoded, re-encoded with only RFC 3986 unreserved characters left
//!   bare, and sorted by name then value;
//! - only the headers named in SignedHeaders count, which must include `host` and the date;
//!   values are trimmed, inner whitespace runs collapsed, repeats joined with commas;
//! - the payload hash is `x-amz-content-sha256` when sent (checked against the body), else the
//!   body's SHA-256; `UNSIGNED-PAYLOAD` only where there is no body to leave unsigned, unless
//!   [`Verifier::allow_unsigned_payload`].
//!
//! Every refusal is a [`SigV4Error`] naming the failed check ([`SigV4Error::check`]), with its
//! class ([`SigV4Error::kind`], from which an adapter picks its status), the AWS error type and
//! message an adapter renders ([`SigV4Error::aws_error_type`], [`SigV4Error::message`]). Neither ever contains the secret, the session token or the
//! presented signature.
//!
//! Credentials can be looked up synchronously ([`Verifier::verify`]) or, for an async store, in
//! two steps: [`Verifier::check`] does every check that needs no secret and names the access key,
//! [`PendingSignature::finish`] takes the looked-up secret.

mod canonical;
#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;

use std::fmt;

use canonical::{
    canonical_query, canonical_uri, constant_time_eq, decode_query, format_amz_date, header_values, joined_header,
    parse_amz_date, parse_http_date, sha256_hex, signing_key, trim_all,
};

/// The one algorithm SigV4 defines (SigV4a's `AWS4-ECDSA-P256-SHA256` is not supported).
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The payload hash a client uses when it did not hash the body.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// How far the signing time may be from the server's clock, either way (AWS uses 5 minutes).
pub const DEFAULT_MAX_SKEW_SECONDS: i64 = 300;
/// The longest X-Amz-Expires AWS accepts: seven days.
pub const MAX_PRESIGNED_EXPIRES_SECONDS: i64 = 604_800;

const TERMINATOR: &str = "aws4_request";
const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. \
     Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
const INVALID_TOKEN: &str = "The security token included in the request is invalid.";

/// A request as the server received it, before any decoding.
///
/// `path` is the raw request path without the query (still percent-encoded), `query` the raw
/// query string without `?`. `headers` are as received; names are compared case-insensitively and
/// a name may repeat. They must include `host` as the client addressed it: over HTTP/2 that is
/// the `:authority`, and behind a proxy the host the client used, not the proxy's upstream.
#[derive(Clone, Copy)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl fmt::Debug for SignedRequest<'_> {
    // The query and headers carry the signature and maybe a session token: names only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query_len", &self.query.len())
            .field("headers", &self.headers.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>())
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// What an access key id stands for: its secret, and the session token a request must carry
/// (temporary credentials) or `None` (long-term credentials: a request must carry no token).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl Secret {
    pub fn new(secret_access_key: impl Into<String>) -> Self {
        Self { secret_access_key: secret_access_key.into(), session_token: None }
    }

    pub fn with_session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(token.into());
        self
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("secret_access_key", &"..")
            .field("session_token", &self.session_token.as_ref().map(|_| ".."))
            .finish()
    }
}

/// Who signed a verified request, and for what scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub access_key_id: String,
    pub region: String,
    pub service: String,
    /// The signing time (X-Amz-Date or Date), Unix seconds.
    pub signed_at: i64,
    /// Signed in the query string (a presigned URL) rather than the Authorization header.
    pub presigned: bool,
}

/// Why a request's signature was refused. Each variant is one check; see [`SigV4Error::check`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SigV4Error {
    #[error("authentication: no Authorization header and no presigned query parameters")]
    MissingAuthentication,
    #[error("authentication: both an Authorization header and presigned query parameters")]
    AmbiguousAuthentication,
    #[error("authorization: {0}")]
    MalformedAuthorization(String),
    #[error("algorithm: {0:?} is not AWS4-HMAC-SHA256")]
    UnsupportedAlgorithm(String),
    #[error("credential scope: {0}")]
    MalformedCredential(String),
    #[error("request date: neither X-Amz-Date nor Date is present")]
    MissingDate,
    #[error("request date: {0:?} is not a valid date")]
    MalformedDate(String),
    #[error("request date: the {0} header is not signed")]
    DateNotSigned(&'static str),
    #[error("credential date: scope date {scope_date} is not the date of {request_date}")]
    CredentialDateMismatch { scope_date: String, request_date: String },
    #[error("service: credential scoped to {service:?}, expected {expected}")]
    UnexpectedService { service: String, expected: String },
    #[error("signed headers: host is not signed")]
    HostNotSigned,
    #[error("signed headers: {0:?} is signed but not in the request")]
    SignedHeaderAbsent(String),
    #[error("time window: signed at {signed_at}, more than {max_skew}s before now ({now})", signed_at = format_amz_date(*.signed_at), now = format_amz_date(*.now))]
    SignatureExpired { signed_at: i64, now: i64, max_skew: i64 },
    #[error("time window: signed at {signed_at}, more than {max_skew}s after now ({now})", signed_at = format_amz_date(*.signed_at), now = format_amz_date(*.now))]
    SignatureNotYetCurrent { signed_at: i64, now: i64, max_skew: i64 },
    #[error("presigned expiry: {0}")]
    InvalidExpires(String),
    #[error("presigned expiry: signed at {signed_at} for {expires}s, expired before now ({now})", signed_at = format_amz_date(*.signed_at), now = format_amz_date(*.now))]
    PresignedExpired { signed_at: i64, expires: i64, now: i64 },
    #[error("access key: {0:?} is not known")]
    UnknownAccessKey(String),
    #[error("session token: the credentials are temporary and the request carries no X-Amz-Security-Token")]
    SessionTokenMissing,
    #[error("session token: X-Amz-Security-Token does not match the credentials' token")]
    SessionTokenMismatch,
    #[error("session token: X-Amz-Security-Token sent with long-term credentials")]
    UnexpectedSessionToken,
    #[error("session token: the X-Amz-Security-Token header is not signed")]
    SessionTokenNotSigned,
    #[error("session token: X-Amz-Security-Token given as header and query parameter with different values")]
    SessionTokenConflict,
    #[error("payload hash: UNSIGNED-PAYLOAD is not accepted for a request with a body")]
    UnsignedPayloadRefused,
    #[error("payload hash: x-amz-content-sha256 {0:?} is neither a SHA-256 hex digest nor UNSIGNED-PAYLOAD")]
    UnsupportedPayloadHash(String),
    #[error("payload hash: x-amz-content-sha256 is not the SHA-256 of the body")]
    PayloadHashMismatch,
    #[error("signature: not 64 hexadecimal digits")]
    MalformedSignature,
    #[error("signature: does not match")]
    SignatureMismatch,
}

impl SigV4Error {
    /// A short name for the failed check, for audit trails and metrics labels.
    pub fn check(&self) -> &'static str {
        use SigV4Error::*;
        match self {
            MissingAuthentication | AmbiguousAuthentication | MalformedAuthorization(_) => "sigv4.authorization",
            UnsupportedAlgorithm(_) => "sigv4.algorithm",
            MalformedCredential(_) => "sigv4.credential_scope",
            MissingDate | MalformedDate(_) | DateNotSigned(_) => "sigv4.request_date",
            CredentialDateMismatch { .. } => "sigv4.credential_date",
            UnexpectedService { .. } => "sigv4.service",
            HostNotSigned | SignedHeaderAbsent(_) => "sigv4.signed_headers",
            SignatureExpired { .. } | SignatureNotYetCurrent { .. } => "sigv4.time_window",
            InvalidExpires(_) | PresignedExpired { .. } => "sigv4.presigned_expiry",
            UnknownAccessKey(_) => "sigv4.access_key",
            SessionTokenMissing
            | SessionTokenMismatch
            | UnexpectedSessionToken
            | SessionTokenNotSigned
            | SessionTokenConflict => "sigv4.session_token",
            UnsignedPayloadRefused | UnsupportedPayloadHash(_) | PayloadHashMismatch => "sigv4.payload_hash",
            MalformedSignature | SignatureMismatch => "sigv4.signature",
        }
    }

    /// Which of AWS's four classes of signature failure this is.
    pub fn kind(&self) -> ErrorKind {
        use SigV4Error::*;
        match self {
            MissingAuthentication => ErrorKind::MissingAuthentication,
            UnknownAccessKey(_) | SessionTokenMissing | SessionTokenMismatch | UnexpectedSessionToken => {
                ErrorKind::UnrecognizedClient
            }
            AmbiguousAuthentication
            | MalformedAuthorization(_)
            | UnsupportedAlgorithm(_)
            | MalformedCredential(_)
            | MissingDate
            | MalformedDate(_)
            | DateNotSigned(_)
            | HostNotSigned
            | InvalidExpires(_)
            | SessionTokenNotSigned
            | SessionTokenConflict
            | UnsupportedPayloadHash(_)
            | MalformedSignature => ErrorKind::IncompleteSignature,
            CredentialDateMismatch { .. }
            | UnexpectedService { .. }
            | SignedHeaderAbsent(_)
            | SignatureExpired { .. }
            | SignatureNotYetCurrent { .. }
            | PresignedExpired { .. }
            | UnsignedPayloadRefused
            | PayloadHashMismatch
            | SignatureMismatch => ErrorKind::InvalidSignature,
        }
    }

    /// The `__type` of an AWS JSON error (`{"__type": ..., "message": ...}`).
    pub fn aws_error_type(&self) -> &'static str {
        self.kind().aws_error_type()
    }

    /// The `<Code>` of the same error in the AWS query protocol's XML (STS, IAM).
    pub fn aws_query_error_code(&self) -> &'static str {
        self.kind().aws_query_error_code()
    }

    /// The client-facing message, worded as AWS words it where AWS has a wording.
    pub fn message(&self) -> String {
        use SigV4Error::*;
        match self {
            MissingAuthentication => "Missing Authentication Token".into(),
            AmbiguousAuthentication => "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter \
                 or the Authorization header should be specified."
                .into(),
            MalformedAuthorization(detail) | MalformedCredential(detail) | InvalidExpires(detail) => detail.clone(),
            UnsupportedAlgorithm(alg) => format!("Unsupported AWS 'algorithm': '{alg}'. Use AWS4-HMAC-SHA256."),
            MissingDate => {
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.".into()
            }
            MalformedDate(value) => format!("Date must be in ISO-8601 'basic format'. Got '{value}'."),
            DateNotSigned(name) => format!("'{name}' must be a 'SignedHeader' in the AWS Authorization."),
            CredentialDateMismatch { scope_date, request_date } => format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: \
                 '{scope_date}' != '{}', from '{request_date}'.",
                request_date.get(..8).unwrap_or(request_date)
            ),
            UnexpectedService { expected, .. } => {
                format!("Credential should be scoped to correct service: {expected}. ")
            }
            HostNotSigned => "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
            SignedHeaderAbsent(name) => format!("'{name}' is a 'SignedHeader' but is not in the request."),
            SignatureExpired { signed_at, now, max_skew } => format!(
                "Signature expired: {} is now earlier than {} ({} - {}.)",
                format_amz_date(*signed_at),
                format_amz_date(now.saturating_sub(*max_skew)),
                format_amz_date(*now),
                skew_words(*max_skew)
            ),
            SignatureNotYetCurrent { signed_at, now, max_skew } => format!(
                "Signature not yet current: {} is still later than {} ({} + {}.)",
                format_amz_date(*signed_at),
                format_amz_date(now.saturating_add(*max_skew)),
                format_amz_date(*now),
                skew_words(*max_skew)
            ),
            PresignedExpired { signed_at, expires, now } => format!(
                "Request has expired: X-Amz-Date {} plus X-Amz-Expires {expires} seconds ended at {}; it is now {}.",
                format_amz_date(*signed_at),
                format_amz_date(signed_at.saturating_add(*expires)),
                format_amz_date(*now)
            ),
            UnknownAccessKey(_) | SessionTokenMissing | SessionTokenMismatch | UnexpectedSessionToken => {
                INVALID_TOKEN.into()
            }
            SessionTokenNotSigned => "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization.".into(),
            SessionTokenConflict => {
                "X-Amz-Security-Token is given both as a header and as a query parameter, with different values.".into()
            }
            UnsignedPayloadRefused => {
                "UNSIGNED-PAYLOAD is not accepted for a request with a body; sign the payload.".into()
            }
            UnsupportedPayloadHash(value) => {
                format!(
                    "x-amz-content-sha256 must be the hex SHA-256 of the payload or UNSIGNED-PAYLOAD, got '{value}'."
                )
            }
            PayloadHashMismatch => {
                "The provided 'x-amz-content-sha256' header does not match what was computed.".into()
            }
            MalformedSignature => "Signature must be 64 hexadecimal characters.".into(),
            SignatureMismatch => SIGNATURE_MISMATCH.into(),
        }
    }
}

/// AWS's four classes of signature failure ([`SigV4Error::kind`]): what a door answers with,
/// each protocol in its own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// No signature at all.
    MissingAuthentication,
    /// The access key, or the session token that goes with it, is not known.
    UnrecognizedClient,
    /// The signature is malformed or incomplete.
    IncompleteSignature,
    /// The signature is well-formed but does not verify (key, scope, time window or payload).
    InvalidSignature,
}

impl ErrorKind {
    /// The `__type` of an AWS JSON error (`{"__type": ..., "message": ...}`).
    pub fn aws_error_type(self) -> &'static str {
        match self {
            Self::MissingAuthentication => "MissingAuthenticationTokenException",
            Self::UnrecognizedClient => "UnrecognizedClientException",
            Self::IncompleteSignature => "IncompleteSignatureException",
            Self::InvalidSignature => "InvalidSignatureException",
        }
    }

    /// The `<Code>` of the same error in the AWS query protocol's XML (STS, IAM).
    pub fn aws_query_error_code(self) -> &'static str {
        match self {
            Self::MissingAuthentication => "MissingAuthenticationToken",
            Self::UnrecognizedClient => "InvalidClientTokenId",
            Self::IncompleteSignature => "IncompleteSignature",
            Self::InvalidSignature => "SignatureDoesNotMatch",
        }
    }
}

fn skew_words(seconds: i64) -> String {
    if seconds % 60 == 0 {
        format!("{} min", seconds / 60)
    } else {
        format!("{seconds} sec")
    }
}

/// Caps what an error repeats from the request; a stray credential or token stays out of logs.
fn excerpt(s: &str) -> String {
    const MAX: usize = 64;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(MAX).collect::<String>())
    }
}

/// Which services a verifier accepts, and its tolerances.
#[derive(Debug, Clone)]
pub struct Verifier {
    services: Vec<String>,
    max_skew_seconds: i64,
    allow_unsigned_payload: bool,
}

impl Verifier {
    /// Accepts credentials scoped to any of `services` (the signing names: `cognito-idp`, `sts`).
    pub fn new<I, S>(services: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            services: services.into_iter().map(Into::into).collect(),
            max_skew_seconds: DEFAULT_MAX_SKEW_SECONDS,
            allow_unsigned_payload: false,
        }
    }

    /// How far the signing time may be from `now` either way (default five minutes). A presigned
    /// request is bounded by its X-Amz-Expires instead, and by this only against future dates.
    pub fn max_skew_seconds(mut self, seconds: i64) -> Self {
        self.max_skew_seconds = seconds.max(0);
        self
    }

    /// Whether `UNSIGNED-PAYLOAD` is accepted for a request that has a body. Off by default: for
    /// the JSON and query protocols the parameters are the body, so leaving it unsigned would let
    /// whoever holds a signed request change what it asks for.
    pub fn allow_unsigned_payload(mut self, allow: bool) -> Self {
        self.allow_unsigned_payload = allow;
        self
    }

    /// Verifies `request` with the secret `lookup` gives for its access key id.
    pub fn verify(
        &self,
        request: &SignedRequest<'_>,
        lookup: impl Fn(&str) -> Option<Secret>,
        now: i64,
    ) -> Result<Caller, SigV4Error> {
        let pending = self.check(request, now)?;
        let secret = lookup(pending.access_key_id());
        pending.finish(secret.as_ref())
    }

    /// Every check that needs no secret: form, scope, date, service, time window, signed headers,
    /// payload hash. The result names the access key to look up.
    pub fn check(&self, request: &SignedRequest<'_>, now: i64) -> Result<PendingSignature, SigV4Error> {
        let params = decode_query(request.query);
        let authorizations: Vec<&str> = header_values(request.headers, "authorization").collect();
        let presigned = params
            .iter()
            .any(|(name, _)| matches!(name.as_slice(), b"X-Amz-Algorithm" | b"X-Amz-Credential" | b"X-Amz-Signature"));
        let parts = match (authorizations.as_slice(), presigned) {
            ([], false) => return Err(SigV4Error::MissingAuthentication),
            ([_, ..], true) => return Err(SigV4Error::AmbiguousAuthentication),
            ([value], false) => parse_authorization(value)?,
            (_, false) => {
                return Err(SigV4Error::MalformedAuthorization("More than one Authorization header.".into()));
            }
            ([], true) => parse_presigned(&params)?,
        };

        let signature = decode_signature(&parts.signature)?;
        let scope = parse_credential(&parts.credential)?;
        let signed_headers = parse_signed_headers(&parts.signed_headers);

        let (amz_date, signed_at) = match &parts.presigned {
            Some(p) => (p.amz_date.clone(), parse_amz_date(&p.amz_date).ok_or_else(|| malformed_date(&p.amz_date))?),
            None => request_date(request.headers, &signed_headers)?,
        };
        if amz_date.get(..8) != Some(scope.date.as_str()) {
            return Err(SigV4Error::CredentialDateMismatch { scope_date: scope.date, request_date: amz_date });
        }
        if !self.services.contains(&scope.service) {
            let expected = self.services.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(" or ");
            return Err(SigV4Error::UnexpectedService { service: excerpt(&scope.service), expected });
        }

        let skew = self.max_skew_seconds;
        if signed_at > now.saturating_add(skew) {
            return Err(SigV4Error::SignatureNotYetCurrent { signed_at, now, max_skew: skew });
        }
        match &parts.presigned {
            Some(p) if now > signed_at.saturating_add(p.expires) => {
                return Err(SigV4Error::PresignedExpired { signed_at, expires: p.expires, now });
            }
            Some(_) => {}
            None if signed_at < now.saturating_sub(skew) => {
                return Err(SigV4Error::SignatureExpired { signed_at, now, max_skew: skew });
            }
            None => {}
        }

        if !signed_headers.iter().any(|h| h == "host") {
            return Err(SigV4Error::HostNotSigned);
        }
        let mut canonical_headers = String::new();
        for name in &signed_headers {
            let Some(value) = joined_header(request.headers, name) else {
                return Err(SigV4Error::SignedHeaderAbsent(excerpt(name)));
            };
            canonical_headers.push_str(name);
            canonical_headers.push(':');
            canonical_headers.push_str(&value);
            canonical_headers.push('\n');
        }

        let session_token = presented_session_token(request.headers, &params, &signed_headers)?;
        let payload_hashes = self.payload_hashes(request, parts.presigned.is_some())?;

        let skip = parts.presigned.as_ref().map(|_| "X-Amz-Signature");
        let canonical_prefix = format!(
            "{}\n{}\n{}\n{}\n{}\n",
            request.method,
            canonical_uri(request.path),
            canonical_query(&params, skip),
            canonical_headers,
            signed_headers.join(";")
        );
        Ok(PendingSignature {
            access_key_id: scope.access_key_id,
            scope_date: scope.date,
            region: scope.region,
            service: scope.service,
            amz_date,
            signed_at,
            presigned: parts.presigned.is_some(),
            signature,
            session_token,
            canonical_prefix,
            payload_hashes,
        })
    }

    /// The payload hashes the client may have signed, most likely first.
    fn payload_hashes(&self, request: &SignedRequest<'_>, presigned: bool) -> Result<Vec<String>, SigV4Error> {
        let body_hash = sha256_hex(request.body);
        let unsigned_ok = request.body.is_empty() || self.allow_unsigned_payload;
        match joined_header(request.headers, "x-amz-content-sha256") {
            Some(v) if v == UNSIGNED_PAYLOAD => {
                if unsigned_ok {
                    Ok(vec![v])
                } else {
                    Err(SigV4Error::UnsignedPayloadRefused)
                }
            }
            Some(v) if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) => {
                if v.eq_ignore_ascii_case(&body_hash) {
                    Ok(vec![v])
                } else {
                    Err(SigV4Error::PayloadHashMismatch)
                }
            }
            Some(v) => Err(SigV4Error::UnsupportedPayloadHash(excerpt(&v))),
            // botocore and the JS and Go SDKs hash the (empty) body of a non-S3 presigned request;
            // S3-style presigners sign UNSIGNED-PAYLOAD.
            None if presigned && unsigned_ok => Ok(vec![body_hash, UNSIGNED_PAYLOAD.to_string()]),
            None => Ok(vec![body_hash]),
        }
    }
}

/// Verifies `request` against the secret `lookup` gives, for credentials scoped to one of
/// `services`, at `now` (Unix seconds), with the default tolerances.
pub fn verify(
    request: &SignedRequest<'_>,
    lookup: impl Fn(&str) -> Option<Secret>,
    services: &[&str],
    now: i64,
) -> Result<Caller, SigV4Error> {
    Verifier::new(services.iter().copied()).verify(request, lookup, now)
}

/// A request that passed every check not needing the secret; [`PendingSignature::finish`] with
/// the secret of [`PendingSignature::access_key_id`] completes it.
pub struct PendingSignature {
    access_key_id: String,
    scope_date: String,
    region: String,
    service: String,
    amz_date: String,
    signed_at: i64,
    presigned: bool,
    signature: [u8; 32],
    session_token: Option<String>,
    /// The canonical request up to the payload hash.
    canonical_prefix: String,
    payload_hashes: Vec<String>,
}

impl fmt::Debug for PendingSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingSignature")
            .field("access_key_id", &self.access_key_id)
            .field("region", &self.region)
            .field("service", &self.service)
            .field("amz_date", &self.amz_date)
            .field("presigned", &self.presigned)
            .finish_non_exhaustive()
    }
}

impl PendingSignature {
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub fn service(&self) -> &str {
        &self.service
    }

    /// The `X-Amz-Security-Token` presented with temporary credentials (it names their secret).
    pub fn session_token(&self) -> Option<&str> {
        self.session_token.as_deref()
    }

    /// Checks the session token and the signature with the secret looked up for the access key
    /// (`None`: no such key).
    pub fn finish(self, secret: Option<&Secret>) -> Result<Caller, SigV4Error> {
        let Some(secret) = secret else {
            return Err(SigV4Error::UnknownAccessKey(excerpt(&self.access_key_id)));
        };
        match (&secret.session_token, &self.session_token) {
            (None, None) => {}
            (Some(_), None) => return Err(SigV4Error::SessionTokenMissing),
            (None, Some(_)) => return Err(SigV4Error::UnexpectedSessionToken),
            (Some(want), Some(got)) => {
                if !constant_time_eq(want.as_bytes(), got.as_bytes()) {
                    return Err(SigV4Error::SessionTokenMismatch);
                }
            }
        }
        let key = signing_key(&secret.secret_access_key, &self.scope_date, &self.region, &self.service);
        let mut matched = false;
        for payload_hash in &self.payload_hashes {
            let expected = canonical::hmac_sha256(&key, self.string_to_sign(payload_hash).as_bytes());
            // Every candidate is compared, so the time taken does not tell which one matched.
            matched |= constant_time_eq(&expected, &self.signature);
        }
        if !matched {
            return Err(SigV4Error::SignatureMismatch);
        }
        Ok(Caller {
            access_key_id: self.access_key_id,
            region: self.region,
            service: self.service,
            signed_at: self.signed_at,
            presigned: self.presigned,
        })
    }

    fn canonical_request(&self, payload_hash: &str) -> String {
        format!("{}{payload_hash}", self.canonical_prefix)
    }

    fn string_to_sign(&self, payload_hash: &str) -> String {
        let hashed = sha256_hex(self.canonical_request(payload_hash).as_bytes());
        format!(
            "{ALGORITHM}\n{}\n{}/{}/{}/{TERMINATOR}\n{hashed}",
            self.amz_date, self.scope_date, self.region, self.service
        )
    }
}

struct AuthParts {
    credential: String,
    signed_headers: String,
    signature: String,
    presigned: Option<PresignedParts>,
}

struct PresignedParts {
    amz_date: String,
    expires: i64,
}

/// `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`
fn parse_authorization(value: &str) -> Result<AuthParts, SigV4Error> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(|c: char| c.is_ascii_whitespace()).unwrap_or((value, ""));
    if scheme != ALGORITHM {
        // Name the scheme only if it looks like one; a bare token in the header must not be echoed.
        let looks_like_scheme = scheme.len() <= 32 && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        let shown = if looks_like_scheme { scheme } else { "(not an algorithm name)" };
        return Err(SigV4Error::UnsupportedAlgorithm(shown.to_string()));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for component in rest.split(',').map(str::trim).filter(|c| !c.is_empty()) {
        let Some((key, val)) = component.split_once('=') else {
            return Err(SigV4Error::MalformedAuthorization(
                "A component of the Authorization header is not a valid key=value pair (missing equal-sign).".into(),
            ));
        };
        let slot = match key.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => continue,
        };
        if slot.replace(val.trim().to_string()).is_some() {
            return Err(SigV4Error::MalformedAuthorization(format!(
                "Authorization header has more than one '{}' parameter.",
                key.trim()
            )));
        }
    }
    let mut missing = String::new();
    for (name, slot) in [("Credential", &credential), ("Signature", &signature), ("SignedHeaders", &signed_headers)] {
        if slot.is_none() {
            missing.push_str(&format!("Authorization header requires '{name}' parameter. "));
        }
    }
    match (credential, signed_headers, signature) {
        (Some(credential), Some(signed_headers), Some(signature)) => {
            Ok(AuthParts { credential, signed_headers, signature, presigned: None })
        }
        _ => Err(SigV4Error::MalformedAuthorization(missing.trim_end().to_string())),
    }
}

/// The presigned form's parameters (decoded); each must appear exactly once.
fn parse_presigned(params: &[(Vec<u8>, Vec<u8>)]) -> Result<AuthParts, SigV4Error> {
    const REQUIRED: &str = "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, \
         X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.";
    let one = |name: &str| -> Result<String, SigV4Error> {
        let mut values = params.iter().filter(|(n, _)| n.as_slice() == name.as_bytes());
        let Some((_, value)) = values.next() else {
            return Err(SigV4Error::MalformedAuthorization(REQUIRED.into()));
        };
        if values.next().is_some() {
            return Err(SigV4Error::MalformedAuthorization(format!("{name} is given more than once.")));
        }
        Ok(String::from_utf8_lossy(value).into_owned())
    };
    let algorithm = one("X-Amz-Algorithm")?;
    let credential = one("X-Amz-Credential")?;
    let amz_date = one("X-Amz-Date")?;
    let expires = one("X-Amz-Expires")?;
    let signed_headers = one("X-Amz-SignedHeaders")?;
    let signature = one("X-Amz-Signature")?;
    if algorithm != ALGORITHM {
        return Err(SigV4Error::UnsupportedAlgorithm(excerpt(&algorithm)));
    }
    if expires.is_empty() || !expires.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SigV4Error::InvalidExpires(format!(
            "X-Amz-Expires should be a number of seconds, got '{}'.",
            excerpt(&expires)
        )));
    }
    let expires = expires.parse::<i64>().unwrap_or(i64::MAX);
    if expires > MAX_PRESIGNED_EXPIRES_SECONDS {
        return Err(SigV4Error::InvalidExpires(format!(
            "X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGNED_EXPIRES_SECONDS}."
        )));
    }
    Ok(AuthParts { credential, signed_headers, signature, presigned: Some(PresignedParts { amz_date, expires }) })
}

fn decode_signature(signature: &str) -> Result<[u8; 32], SigV4Error> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(signature, &mut out).map_err(|_| SigV4Error::MalformedSignature)?;
    Ok(out)
}

struct Scope {
    access_key_id: String,
    date: String,
    region: String,
    service: String,
}

/// `AKID/YYYYMMDD/region/service/aws4_request`
fn parse_credential(credential: &str) -> Result<Scope, SigV4Error> {
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = parts.as_slice() else {
        return Err(SigV4Error::MalformedCredential(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got {}.",
            parts.len()
        )));
    };
    if access_key_id.is_empty() {
        return Err(SigV4Error::MalformedCredential("Credential has an empty access key id.".into()));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SigV4Error::MalformedCredential(format!(
            "Credential date must be YYYYMMDD, got '{}'.",
            excerpt(date)
        )));
    }
    let valid_name = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !valid_name(region) {
        return Err(SigV4Error::MalformedCredential("Credential should be scoped to a valid region. ".into()));
    }
    if !valid_name(service) {
        return Err(SigV4Error::MalformedCredential("Credential should be scoped to a valid service. ".into()));
    }
    if *terminator != TERMINATOR {
        return Err(SigV4Error::MalformedCredential(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'. ",
            excerpt(terminator)
        )));
    }
    Ok(Scope {
        access_key_id: access_key_id.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
    })
}

/// Lower-cased, sorted, without repeats: the order the canonical headers take.
fn parse_signed_headers(value: &str) -> Vec<String> {
    let mut names: Vec<String> =
        value.split(';').map(|n| n.trim().to_ascii_lowercase()).filter(|n| !n.is_empty()).collect();
    names.sort();
    names.dedup();
    names
}

/// X-Amz-Date, else Date (as AWS looks them up); whichever is used must be signed.
fn request_date(headers: &[(String, String)], signed_headers: &[String]) -> Result<(String, i64), SigV4Error> {
    let signed = |name: &str| signed_headers.iter().any(|h| h == name);
    if let Some(value) = joined_header(headers, "x-amz-date") {
        let at = parse_amz_date(&value).ok_or_else(|| malformed_date(&value))?;
        if !signed("x-amz-date") {
            return Err(SigV4Error::DateNotSigned("X-Amz-Date"));
        }
        return Ok((value, at));
    }
    if let Some(value) = joined_header(headers, "date") {
        let at = parse_http_date(&value).ok_or_else(|| malformed_date(&value))?;
        if !signed("date") {
            return Err(SigV4Error::DateNotSigned("Date"));
        }
        return Ok((format_amz_date(at), at));
    }
    Err(SigV4Error::MissingDate)
}

fn malformed_date(value: &str) -> SigV4Error {
    SigV4Error::MalformedDate(excerpt(value))
}

/// The token the request presents, if any. A header must be signed; a query parameter always is.
fn presented_session_token(
    headers: &[(String, String)],
    params: &[(Vec<u8>, Vec<u8>)],
    signed_headers: &[String],
) -> Result<Option<String>, SigV4Error> {
    let header = header_values(headers, "x-amz-security-token").next().map(|v| {
        let mut s = String::new();
        trim_all(v, &mut s);
        s
    });
    if header.is_some() && !signed_headers.iter().any(|h| h == "x-amz-security-token") {
        return Err(SigV4Error::SessionTokenNotSigned);
    }
    let mut query = params.iter().filter(|(n, _)| n.as_slice() == b"X-Amz-Security-Token");
    let first = query.next().map(|(_, v)| String::from_utf8_lossy(v).into_owned());
    if query.next().is_some() || header_values(headers, "x-amz-security-token").nth(1).is_some() {
        return Err(SigV4Error::SessionTokenConflict);
    }
    match (header, first) {
        (Some(h), Some(q)) if h != q => Err(SigV4Error::SessionTokenConflict),
        (h, q) => Ok(h.or(q)),
    }
}
