//! Cognito-compatible user pools: pools, app clients, groups and memberships as first-class
//! objects, the auth flows (password, SRP, refresh, new password, CUSTOM_AUTH with an upstream
//! token) and user management, spoken in Cognito's own request and response shapes.
//!
//! Users are the one user model of the broker: a pool member is a [`crate::model::User`] plus a
//! membership document (status, SRP verifier, pending codes, lockout). Usernames are unique
//! across the server. The AWS JSON 1.1 framing and SigV4 live in the server's adapter; here each
//! action takes its input as JSON and answers JSON or a [`Refusal`].

mod auth;
mod clients;
mod code_budget;
mod domains;
pub mod federated;
mod federation;
pub mod identity_providers;
pub mod links;
mod provider_records;
pub mod resource_servers;
mod sp_key;
pub use federated::{FederatedAs, FederatedIdentity};
pub use identity_providers::{IdentityProvider, ProviderSpec, ProviderType, SamlFacts};
pub use resource_servers::{ResourceServer, ResourceServerScope};
pub use sp_key::SpKey;
mod hosted;
pub(crate) use hosted::{HostedGrant, HostedProof};
pub mod filter;
mod lockout;
mod manage;
mod membership;
pub mod oauth;
mod settings;
mod stand_in;
pub(crate) use stand_in::KEY_SETTING as STAND_IN_KEY_SETTING;
// Where the doors and tests have always found them.
pub use crate::pool_names::{is_pool_id, is_pool_issuer};
mod users;

use crate::audit::RequestContext;
use crate::authorizer::Authorizer;
use crate::iam::CallerIdentity;
use crate::kernel::Kernel;
use crate::model::{Document, User};
use crate::operation::Operation;
use crate::refusal::{Reason, Refusal};
use crate::secrets::{random_bytes, MasterKey};
use crate::store::{Change, StoreError};
use crate::tokens::TokenService;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

pub use auth::AuthFlow;
pub use clients::TokenUnits;
pub use domains::check_domain;
pub use lockout::SignInFailures;
pub use oauth::ClientOAuth;
pub use settings::{client_oauth, provider_spec, resource_server_scopes, validate_config};

const KIND_POOL: &str = "user_pool";
const KIND_CLIENT: &str = "pool_client";
const KIND_GROUP: &str = "pool_group";
const KIND_MEMBER: &str = "pool_member";

/// The scope Cognito puts in access tokens from its own auth flows.
pub const COGNITO_ADMIN_SCOPE: &str = "aws.cognito.signin.user.admin";
/// The `eventSource` of this door's audit records, as CloudTrail names Cognito's.
pub const EVENT_SOURCE: &str = "cognito-idp.amazonaws.com";
/// Tag on `CreateUserPool` choosing the token issuer form: `aws` for
/// `https://cognito-idp.<region>.amazonaws.com/<pool-id>` (what aws-jwt-verify expects).
pub const ISSUER_TAG: &str = "tokenbridge:issuer";

/// Actions that need no signature, as on AWS (the caller proves itself with a password, a code
/// or a token).
pub const PUBLIC_ACTIONS: &[&str] = &[
    "InitiateAuth",
    "RespondToAuthChallenge",
    "SignUp",
    "ConfirmSignUp",
    "ResendConfirmationCode",
    "GetUser",
    "ChangePassword",
    "ForgotPassword",
    "ConfirmForgotPassword",
    "GlobalSignOut",
    "RevokeToken",
];

/// Every action this door implements.
pub const ACTIONS: &[&str] = &[
    "CreateUserPool",
    "DescribeUserPool",
    "ListUserPools",
    "DeleteUserPool",
    "CreateUserPoolDomain",
    "DescribeUserPoolDomain",
    "UpdateUserPoolDomain",
    "DeleteUserPoolDomain",
    "CreateUserPoolClient",
    "DescribeUserPoolClient",
    "UpdateUserPoolClient",
    "ListUserPoolClients",
    "DeleteUserPoolClient",
    "CreateGroup",
    "GetGroup",
    "ListGroups",
    "DeleteGroup",
    "AdminAddUserToGroup",
    "AdminRemoveUserFromGroup",
    "AdminListGroupsForUser",
    "SignUp",
    "ConfirmSignUp",
    "AdminConfirmSignUp",
    "ResendConfirmationCode",
    "AdminCreateUser",
    "AdminSetUserPassword",
    "AdminGetUser",
    "GetUser",
    "AdminDeleteUser",
    "AdminDisableUser",
    "AdminEnableUser",
    "AdminUpdateUserAttributes",
    "ListUsers",
    "ChangePassword",
    "ForgotPassword",
    "ConfirmForgotPassword",
    "GlobalSignOut",
    "AdminUserGlobalSignOut",
    "RevokeToken",
    "InitiateAuth",
    "AdminInitiateAuth",
    "RespondToAuthChallenge",
    "AdminRespondToAuthChallenge",
    "CreateIdentityProvider",
    "DescribeIdentityProvider",
    "UpdateIdentityProvider",
    "DeleteIdentityProvider",
    "ListIdentityProviders",
    "GetIdentityProviderByIdentifier",
    "CreateResourceServer",
    "DescribeResourceServer",
    "ListResourceServers",
    "UpdateResourceServer",
    "DeleteResourceServer",
    "AdminLinkProviderForUser",
    "AdminDisableProviderForUser",
];

/// Actions that try a password, a code or an upstream token: rate-limited per source.
pub const GUESSING_ACTIONS: &[&str] = &[
    "InitiateAuth",
    "RespondToAuthChallenge",
    "AdminInitiateAuth",
    "AdminRespondToAuthChallenge",
    "ConfirmSignUp",
    "ChangePassword",
    "ForgotPassword",
    "ConfirmForgotPassword",
    "SignUp",
];

pub(crate) use crate::operation::Call;

/// Cognito-compatible user pools over their own records (pools, app clients, groups,
/// memberships), with where confirmation codes go and the key the answers for unknown usernames
/// derive from. Tokens are minted by the token service; a sign-out tells the authorizer.
pub struct UserPools {
    kernel: Arc<Kernel>,
    tokens: Arc<TokenService>,
    authorizer: Arc<Authorizer>,
    code_sender: RwLock<Arc<dyn CodeSender>>,
    /// Derives what unknown pool usernames are answered with (see `stand_in`).
    stand_in_key: tokio::sync::OnceCell<Arc<aws_lc_rs::hmac::Key>>,
}

impl UserPools {
    pub(crate) fn new(kernel: Arc<Kernel>, tokens: Arc<TokenService>, authorizer: Arc<Authorizer>) -> Self {
        Self {
            kernel,
            tokens,
            authorizer,
            code_sender: RwLock::new(Arc::new(LogCodeSender { file: None })),
            stand_in_key: tokio::sync::OnceCell::new(),
        }
    }

    /// Where confirmation codes go (logged unless replaced).
    pub fn set_code_sender(&self, sender: Arc<dyn CodeSender>) {
        *self.code_sender.write().expect("code sender lock") = sender;
    }

    pub(crate) fn code_sender(&self) -> Arc<dyn CodeSender> {
        self.code_sender.read().expect("code sender lock").clone()
    }
}

/// A refusal of the token service met in a user-pool action (a rejected token), as Cognito
/// answers it: whatever the token's fault, `NotAuthorized`; the service's own trouble stays.
pub(crate) fn not_authorized(mut e: Refusal) -> Refusal {
    if !matches!(e.reason, Reason::Unavailable | Reason::RateLimited) {
        e.reason = Reason::NotAuthorized;
    }
    e
}

pub(crate) const WRONG_PASSWORD: &str = "Incorrect username or password.";

// --- stored objects ---

/// How a pool's tokens name their issuer (a setting of configured pools too).
pub use crate::config::IssuerForm;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserPool {
    pub id: String,
    pub name: String,
    pub region: String,
    #[serde(default)]
    pub issuer_form: IssuerForm,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub auto_verified_attributes: Vec<String>,
    #[serde(default)]
    pub mfa_configuration: String,
    #[serde(default)]
    pub password_min_length: u32,
    /// The character classes a password must have (PasswordPolicy's Require* flags).
    #[serde(default)]
    pub password_classes: PasswordClasses,
    #[serde(default)]
    pub admin_create_user_only: bool,
    /// The prefix its hosted sign-in is served under (see `domains`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// PasswordPolicy's `RequireUppercase`, `RequireLowercase`, `RequireNumbers`, `RequireSymbols`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PasswordClasses {
    #[serde(default)]
    pub require_uppercase: bool,
    #[serde(default)]
    pub require_lowercase: bool,
    #[serde(default)]
    pub require_numbers: bool,
    #[serde(default)]
    pub require_symbols: bool,
}

/// The special characters Cognito's password policy counts as symbols.
const PASSWORD_SYMBOLS: &str = "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- ";

impl PasswordClasses {
    /// Cognito's words for the first class `password` lacks.
    pub fn missing(&self, password: &str) -> Option<&'static str> {
        let has = |f: fn(char) -> bool| password.chars().any(f);
        if self.require_uppercase && !has(|c| c.is_ascii_uppercase()) {
            return Some("Password must have uppercase characters");
        }
        if self.require_lowercase && !has(|c| c.is_ascii_lowercase()) {
            return Some("Password must have lowercase characters");
        }
        if self.require_numbers && !has(|c| c.is_ascii_digit()) {
            return Some("Password must have numeric characters");
        }
        if self.require_symbols && !has(|c| PASSWORD_SYMBOLS.contains(c)) {
            return Some("Password must have symbol characters");
        }
        None
    }
}

impl UserPool {
    pub fn arn(&self, account_id: &str) -> String {
        format!("arn:aws:cognito-idp:{}:{}:userpool/{}", self.region, account_id, self.id)
    }
    /// The `iss` of this pool's tokens, given the server's public URL.
    pub fn issuer(&self, base_url: &str) -> String {
        match self.issuer_form {
            IssuerForm::Local => format!("{base_url}/{}", self.id),
            IssuerForm::Aws => format!("https://cognito-idp.{}.amazonaws.com/{}", self.region, self.id),
        }
    }
}

/// A pool's app client. Its secret is recoverable (SECRET_HASH is an HMAC keyed by it): sealed
/// with the master key when one is configured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PoolClient {
    pub client_id: String,
    pub pool_id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub explicit_auth_flows: Vec<String>,
    /// Upstream providers whose tokens answer CUSTOM_AUTH (`COGNITO` is the pool itself).
    pub supported_identity_providers: Vec<String>,
    /// In `units.access_token`.
    pub access_token_validity: i64,
    /// In `units.id_token`.
    pub id_token_validity: i64,
    /// In `units.refresh_token`.
    pub refresh_token_validity: i64,
    #[serde(default)]
    pub units: TokenUnits,
    /// Minutes a challenge Session lives.
    pub auth_session_validity: i64,
    /// What the pool's hosted sign-in lets it do (callback URLs, OAuth flows and scopes).
    #[serde(flatten, default)]
    pub oauth: ClientOAuth,
    pub created_at: i64,
    pub updated_at: i64,
}

impl PoolClient {
    pub fn allows(&self, flow: &str) -> bool {
        self.explicit_auth_flows.iter().any(|f| f == flow)
    }
    pub fn upstream_providers(&self) -> Vec<String> {
        self.supported_identity_providers.iter().filter(|p| p.as_str() != "COGNITO").cloned().collect()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PoolGroup {
    pub pool_id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub precedence: Option<i64>,
    #[serde(default)]
    pub role_arn: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UserStatus {
    Unconfirmed,
    Confirmed,
    ForceChangePassword,
    ResetRequired,
    /// A federated user: made by a sign-in through an identity provider, with no password here.
    ExternalProvider,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unconfirmed => "UNCONFIRMED",
            Self::Confirmed => "CONFIRMED",
            Self::ForceChangePassword => "FORCE_CHANGE_PASSWORD",
            Self::ResetRequired => "RESET_REQUIRED",
            Self::ExternalProvider => "EXTERNAL_PROVIDER",
        }
    }
}

/// A code sent to the user (sign-up confirmation, password reset); only its hash is kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingCode {
    pub purpose: String,
    pub code_sha256: String,
    pub expires_at: i64,
    #[serde(default)]
    pub attempts: u32,
}

/// A user's membership of a pool. (Wrong passwords are counted per username instead, for
/// unknown usernames too: see `lockout`.)
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    pub user_id: String,
    pub pool_id: String,
    pub status: UserStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub srp: Option<crate::srp::PasswordVerifier>,
    #[serde(default)]
    pub codes: Vec<PendingCode>,
}

/// Where confirmation codes go. The demo prints them; a deployment plugs in mail or SMS.
pub trait CodeSender: Send + Sync {
    fn send(&self, pool_id: &str, user: &User, purpose: &str, code: &str);
}

/// Logs the code (for the demo and for development; never for production pools).
pub struct LogCodeSender {
    /// Also appends JSON lines here, for scripts that need the code.
    pub file: Option<std::path::PathBuf>,
}

impl CodeSender for LogCodeSender {
    fn send(&self, pool_id: &str, user: &User, purpose: &str, code: &str) {
        tracing::info!(pool_id, username = %user.username, purpose, code, "confirmation code (demo sender)");
        if let Some(path) = &self.file {
            use std::io::Write;
            let line = json!({ "pool_id": pool_id, "username": user.username, "purpose": purpose, "code": code, "destination": user.email });
            let mut options = std::fs::OpenOptions::new();
            options.create(true).append(true);
            // The codes are secrets: the file is its owner's only.
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            if let Ok(mut f) = options.open(path) {
                let _ = writeln!(f, "{line}");
            }
        }
    }
}

// --- ids and secrets ---

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

fn random_from(alphabet: &[u8], len: usize) -> String {
    // Rejection sampling keeps every symbol equally likely.
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random_bytes::<32>() {
            if (b as usize) < limit && out.len() < len {
                out.push(alphabet[b as usize % alphabet.len()] as char);
            }
        }
    }
    out
}

pub fn new_pool_id(region: &str) -> String {
    format!("{region}_{}", random_from(ALNUM, 9))
}

pub fn new_client_id() -> String {
    random_from(LOWER_ALNUM, 26)
}

fn new_client_secret() -> String {
    random_from(LOWER_ALNUM, 51)
}

/// What an app client's sealed secret is bound to: its client id.
fn secret_name(client_id: &str) -> String {
    format!("client secret {client_id}")
}

/// An app client's secret as stored: sealed with the master key (bound to the client id) when
/// one is configured, else plain (`SECRET_HASH` needs it back, so it cannot be a hash).
pub(crate) fn seal_secret(master: Option<&MasterKey>, client_id: &str, secret: &str) -> String {
    match master {
        Some(m) => format!("sealed:{}", STANDARD.encode(m.seal_for(&secret_name(client_id), secret.as_bytes()))),
        None => format!("plain:{secret}"),
    }
}

/// The stored secret sealed bound to its client id, when it is plain or sealed in the older
/// unbound form (`None`: it is bound already). `Err` when it does not open.
fn resealed_secret(m: &MasterKey, client_id: &str, stored: &str) -> Result<Option<String>, String> {
    if let Some(sealed) = stored.strip_prefix("sealed:") {
        let bytes = STANDARD.decode(sealed).map_err(|e| e.to_string())?;
        if crate::secrets::is_bound(&bytes) {
            return Ok(None);
        }
    }
    let secret = open_secret(Some(m), client_id, stored)?;
    Ok(Some(seal_secret(Some(m), client_id, &secret)))
}

impl UserPools {
    /// At start, with a master key: every app-client secret stored plain or sealed in the older
    /// unbound form is resealed bound to its client id, each by one atomic update of its client
    /// that reseals the secret as it stands then (a secret changed meanwhile is never replaced
    /// by an older one). A secret that does not open stops the start, naming the client.
    pub(crate) async fn reseal_client_secrets(&self, m: &MasterKey) -> anyhow::Result<()> {
        let mut after: Option<String> = None;
        loop {
            let batch = self.kernel.store.list_documents(KIND_CLIENT, None, after.as_deref(), 200).await?;
            for d in &batch {
                let Some(stored) = d.body.get("secret").and_then(Value::as_str) else { continue };
                if resealed_secret(m, &d.id, stored).map_err(|e| anyhow::anyhow!("app client {}: {e}", d.id))?.is_none()
                {
                    continue;
                }
                let mut resealed = false;
                let mut updater = |current: Option<&Document>| -> Result<Change<Document>, StoreError> {
                    resealed = false;
                    let Some(current) = current else { return Ok(Change::Keep) };
                    let Some(stored) = current.body.get("secret").and_then(Value::as_str) else {
                        return Ok(Change::Keep);
                    };
                    match resealed_secret(m, &current.id, stored).map_err(StoreError::Backend)? {
                        None => Ok(Change::Keep),
                        Some(sealed) => {
                            let mut next = current.clone();
                            next.body["secret"] = Value::String(sealed);
                            resealed = true;
                            Ok(Change::Put(next))
                        }
                    }
                };
                self.kernel
                    .store
                    .update_document_with(KIND_CLIENT, &d.id, &mut updater)
                    .await
                    .map_err(|e| anyhow::anyhow!("app client {}: {e}", d.id))?;
                if resealed {
                    tracing::info!(client_id = %d.id, "app client secret resealed with the master key, bound to its client id");
                }
            }
            match batch.last() {
                Some(last) if batch.len() == 200 => after = Some(last.id.clone()),
                _ => return Ok(()),
            }
        }
    }
}

pub(crate) fn open_secret(master: Option<&MasterKey>, client_id: &str, stored: &str) -> Result<String, String> {
    if let Some(p) = stored.strip_prefix("plain:") {
        return Ok(p.to_string());
    }
    let sealed = stored.strip_prefix("sealed:").ok_or("unknown secret encoding")?;
    let m = master.ok_or("the client secret is sealed but no master key is configured")?;
    let bytes = STANDARD.decode(sealed).map_err(|e| e.to_string())?;
    String::from_utf8(m.open_for(&secret_name(client_id), &bytes)?).map_err(|e| e.to_string())
}

/// Cognito's SECRET_HASH: Base64(HMAC-SHA256(client secret, username + client id)).
pub fn secret_hash(secret: &str, username: &str, client_id: &str) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = aws_lc_rs::hmac::sign(&key, format!("{username}{client_id}").as_bytes());
    STANDARD.encode(tag.as_ref())
}

/// Pagination tokens: the last id of the page, opaque to clients.
pub(crate) fn page_token(last: &str) -> String {
    STANDARD.encode(last.as_bytes())
}

pub(crate) fn parse_page_token(call: &mut Call, token: Option<&str>) -> Result<Option<String>, Refusal> {
    match token {
        None | Some("") => Ok(None),
        Some(t) => STANDARD
            .decode(t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .map(Some)
            .ok_or_else(|| call.refuse_plainly(Reason::InvalidParameter, "pagination", "Invalid pagination token.")),
    }
}

/// Epoch seconds as JSON 1.1 timestamps are written.
pub(crate) fn ts(secs: i64) -> Value {
    json!(secs as f64)
}

pub(crate) fn from_doc<T: DeserializeOwned>(d: Document) -> Result<T, Refusal> {
    serde_json::from_value(d.body)
        .map_err(|e| Refusal::storage(format!("stored {} {:?} is malformed: {e}", d.kind, d.id)))
}

/// Parses an action's input, naming the member that is wrong as AWS does.
pub(crate) fn input<T: DeserializeOwned>(body: &Value) -> Result<T, Refusal> {
    serde_json::from_value(body.clone())
        .map_err(|e| Refusal::new(Reason::InvalidParameter, format!("Invalid request: {e}")))
}

/// Input members whose values never reach the audit trail.
const HIDDEN: &[&str] = &[
    "PASSWORD",
    "NEW_PASSWORD",
    "ANSWER",
    "SECRET_HASH",
    "SRP_A",
    "PASSWORD_CLAIM_SIGNATURE",
    "PASSWORD_CLAIM_SECRET_BLOCK",
    "REFRESH_TOKEN",
    "REFRESH_TOKEN_AUTH",
    "Session",
    "Password",
    "PreviousPassword",
    "ProposedPassword",
    "TemporaryPassword",
    "ConfirmationCode",
    "AccessToken",
    "Token",
    "ClientSecret",
    // An OIDC identity provider's secret, inside ProviderDetails.
    "client_secret",
    "SecretHash",
];

fn redact(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v =
                        if HIDDEN.contains(&k.as_str()) { json!("HIDDEN_DUE_TO_SECURITY_REASONS") } else { redact(v) };
                    (k.clone(), v)
                })
                .collect::<Map<_, _>>(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(redact).collect()),
        other => other.clone(),
    }
}

/// What the audit record keeps of an answer: never a token.
fn audit_response(v: &Value) -> Value {
    let mut out = Map::new();
    for k in ["ChallengeName", "UserSub", "UserConfirmed"] {
        if let Some(x) = v.get(k) {
            out.insert(k.into(), x.clone());
        }
    }
    if let Some(r) = v.get("AuthenticationResult") {
        out.insert(
            "AuthenticationResult".into(),
            json!({ "ExpiresIn": r.get("ExpiresIn"), "NewRefreshToken": r.get("RefreshToken").is_some() }),
        );
    }
    Value::Object(out)
}

impl UserPools {
    /// Runs one Cognito action. `caller` is who signed the request ([`crate::iam::Iam::verify_admin_signature`]);
    /// actions other than [`PUBLIC_ACTIONS`] need the admin credentials. Every call is audited.
    #[crate::entry_point]
    pub async fn user_pool_action(
        &self,
        action: &str,
        body: &Value,
        caller: Option<&CallerIdentity>,
        ctx: &RequestContext,
    ) -> Result<Value, Refusal> {
        let admin = matches!(caller, Some(CallerIdentity::Admin { .. }));
        let read_only = ["Describe", "List", "Get", "AdminGet", "AdminList"].iter().any(|p| action.starts_with(p));
        let op = Operation::new(action, ctx, redact(body)).read_only(read_only);
        let decide = async |call: &mut Call| {
            call.admit_action(action, ACTIONS, PUBLIC_ACTIONS, admin)?;
            self.dispatch(action, body, call).await
        };
        self.kernel.run(op, decide, audit_response).await
    }

    async fn dispatch(&self, action: &str, body: &Value, call: &mut Call) -> Result<Value, Refusal> {
        match action {
            "CreateUserPool" => self.create_user_pool(input(body)?, call).await,
            "DescribeUserPool" => self.describe_user_pool(input(body)?, call).await,
            "ListUserPools" => self.list_user_pools(input(body)?, call).await,
            "DeleteUserPool" => self.delete_user_pool(input(body)?, call).await,
            "CreateUserPoolDomain" => self.create_pool_domain(input(body)?, call).await,
            "DescribeUserPoolDomain" => self.describe_pool_domain(input(body)?, call).await,
            "UpdateUserPoolDomain" => self.update_pool_domain(input(body)?, call).await,
            "DeleteUserPoolDomain" => self.delete_pool_domain(input(body)?, call).await,
            "CreateUserPoolClient" => self.create_pool_client(input(body)?, call).await,
            "DescribeUserPoolClient" => self.describe_pool_client(input(body)?, call).await,
            "UpdateUserPoolClient" => self.update_pool_client(input(body)?, call).await,
            "ListUserPoolClients" => self.list_pool_clients(input(body)?, call).await,
            "DeleteUserPoolClient" => self.delete_pool_client(input(body)?, call).await,
            "CreateGroup" => self.create_group(input(body)?, call).await,
            "GetGroup" => self.get_group(input(body)?, call).await,
            "ListGroups" => self.list_groups(input(body)?, call).await,
            "DeleteGroup" => self.delete_group(input(body)?, call).await,
            "AdminAddUserToGroup" => self.admin_add_user_to_group(input(body)?, call, true).await,
            "AdminRemoveUserFromGroup" => self.admin_add_user_to_group(input(body)?, call, false).await,
            "AdminListGroupsForUser" => self.admin_list_groups_for_user(input(body)?, call).await,
            "SignUp" => self.sign_up(input(body)?, call).await,
            "ConfirmSignUp" => self.confirm_sign_up(input(body)?, call).await,
            "AdminConfirmSignUp" => self.admin_confirm_sign_up(input(body)?, call).await,
            "ResendConfirmationCode" => self.resend_confirmation_code(input(body)?, call).await,
            "AdminCreateUser" => self.admin_create_user(input(body)?, call).await,
            "AdminSetUserPassword" => self.admin_set_user_password(input(body)?, call).await,
            "AdminGetUser" => self.admin_get_user(input(body)?, call).await,
            "GetUser" => self.get_user(input(body)?, call).await,
            "AdminDeleteUser" => self.admin_delete_user(input(body)?, call).await,
            "AdminDisableUser" => self.admin_set_enabled(input(body)?, call, false).await,
            "AdminEnableUser" => self.admin_set_enabled(input(body)?, call, true).await,
            "AdminUpdateUserAttributes" => self.admin_update_user_attributes(input(body)?, call).await,
            "ListUsers" => self.list_users(input(body)?, call).await,
            "ChangePassword" => self.change_password(input(body)?, call).await,
            "ForgotPassword" => self.forgot_password(input(body)?, call).await,
            "ConfirmForgotPassword" => self.confirm_forgot_password(input(body)?, call).await,
            "GlobalSignOut" => self.global_sign_out(input(body)?, call).await,
            "AdminUserGlobalSignOut" => self.admin_user_global_sign_out(input(body)?, call).await,
            "RevokeToken" => self.revoke_pool_token(input(body)?, call).await,
            "InitiateAuth" => self.initiate_auth(input(body)?, None, call).await,
            "AdminInitiateAuth" => {
                let req: auth::AdminInitiateAuth = input(body)?;
                self.initiate_auth(req.inner, Some(req.user_pool_id), call).await
            }
            "RespondToAuthChallenge" => self.respond_to_auth_challenge(input(body)?, None, call).await,
            "AdminRespondToAuthChallenge" => {
                let req: auth::AdminRespond = input(body)?;
                self.respond_to_auth_challenge(req.inner, Some(req.user_pool_id), call).await
            }
            other => self.dispatch_federation(other, body, call).await,
        }
    }

    /// A user pool by id (for the per-pool discovery documents).
    #[crate::entry_point]
    pub async fn user_pool(&self, id: &str) -> Result<Option<UserPool>, StoreError> {
        match self.kernel.store.get_document(KIND_POOL, id).await? {
            Some(d) => serde_json::from_value(d.body).map(Some).map_err(|e| StoreError::Backend(e.to_string())),
            None => Ok(None),
        }
    }

    /// Makes an existing user a member of a pool (the demo's seeded users), with the SRP
    /// verifier of `password` when it has one. Already a member: nothing changes.
    #[crate::entry_point]
    pub async fn add_pool_member(&self, pool_id: &str, user: &User, password: Option<&str>) -> anyhow::Result<()> {
        if self.kernel.store.get_document(KIND_MEMBER, &user.id).await?.is_some() {
            return Ok(());
        }
        let srp = match password {
            Some(p) => Some(srp_verifier(pool_id, &user.username, p).await),
            None => None,
        };
        let m = Member {
            user_id: user.id.clone(),
            pool_id: pool_id.into(),
            status: UserStatus::Confirmed,
            srp,
            codes: Vec::new(),
        };
        let d = Document::new(KIND_MEMBER, &user.id, pool_id, &m, user.created_at, self.kernel.now());
        match self.kernel.store.insert_document(&d).await {
            Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    // --- lookups shared by the actions ---

    pub(crate) async fn pool(&self, id: &str, call: &mut Call) -> Result<UserPool, Refusal> {
        match self.kernel.store.get_document(KIND_POOL, id).await? {
            Some(d) => from_doc(d),
            None => Err(call.refuse_plainly(Reason::NotFound, "user pool", format!("User pool {id} does not exist."))),
        }
    }

    pub(crate) async fn pool_client(&self, client_id: &str, call: &mut Call) -> Result<PoolClient, Refusal> {
        match self.kernel.store.get_document(KIND_CLIENT, client_id).await? {
            Some(d) => from_doc(d),
            None => Err(call.refuse_plainly(
                Reason::NotFound,
                "client",
                format!("User pool client {client_id} does not exist."),
            )),
        }
    }

    /// The user and membership of `username` in `pool_id`; not a member is "not found".
    pub(crate) async fn member(
        &self,
        pool_id: &str,
        username: &str,
        call: &mut Call,
    ) -> Result<Option<(User, Member)>, Refusal> {
        let Some(user) = self.kernel.store.find_user_by_username(username).await? else { return Ok(None) };
        let Some(d) = self.kernel.store.get_document(KIND_MEMBER, &user.id).await? else { return Ok(None) };
        if d.pool_id != pool_id {
            return Ok(None);
        }
        let m: Member = from_doc(d)?;
        call.about(&user);
        Ok(Some((user, m)))
    }

    pub(crate) async fn existing_member(
        &self,
        pool_id: &str,
        username: &str,
        call: &mut Call,
    ) -> Result<(User, Member), Refusal> {
        self.member(pool_id, username, call)
            .await?
            .ok_or_else(|| call.refuse_plainly(Reason::UserNotFound, "user", "User does not exist."))
    }

    /// Read-modify-write of a membership as one atomic store update: `decide` sees it as stored
    /// (`None` when the user left the pool) and returns the [`Change`] and what to report.
    pub(crate) async fn update_member<R: Send>(
        &self,
        user_id: &str,
        pool_id: &str,
        decide: impl FnMut(Option<Member>) -> (Change<Member>, R) + Send,
    ) -> Result<R, Refusal> {
        Ok(self.kernel.store.update_record(KIND_MEMBER, user_id, pool_id, self.kernel.now(), decide).await?)
    }

    /// Sets a member's password: the argon2id hash on the user (password flows, the OAuth
    /// password grant) and the SRP verifier on the membership (USER_SRP_AUTH), each in one
    /// atomic update; `status` too when given. The name's sign-in failures are forgotten. Both
    /// expensive derivations run first, outside any update.
    pub(crate) async fn set_member_password(
        &self,
        user: &User,
        pool_id: &str,
        password: &str,
        status: Option<UserStatus>,
    ) -> Result<(User, Member), Refusal> {
        let hash = crate::password::hash(password.to_string())
            .await
            .map_err(|e| Refusal::new(Reason::Unavailable, e.to_string()))?;
        let verifier = srp_verifier(pool_id, &user.username, password).await;
        let gone = || Refusal::new(Reason::UserNotFound, "User does not exist.");
        let (user, ()) = self
            .kernel
            .store
            .update_user_record(&user.id, self.kernel.now(), |u| u.password_hash = Some(hash.clone()))
            .await?
            .ok_or_else(gone)?;
        let member = self
            .update_member(&user.id, pool_id, |m| match m {
                Some(mut m) => {
                    m.srp = Some(verifier.clone());
                    if let Some(s) = status {
                        m.status = s;
                    }
                    (Change::Put(m.clone()), Some(m))
                }
                None => (Change::Keep, None),
            })
            .await?
            .ok_or_else(gone)?;
        self.forget_failures(pool_id, &user.username).await?;
        Ok((user, member))
    }
}

/// Makes an SRP verifier off the async threads (a 3072-bit modular exponentiation).
pub(crate) async fn srp_verifier(pool_id: &str, username: &str, password: &str) -> crate::srp::PasswordVerifier {
    let (pool, user, pw) = (crate::srp::pool_name(pool_id).to_string(), username.to_string(), password.to_string());
    tokio::task::spawn_blocking(move || crate::srp::make_verifier(&pool, &user, &pw)).await.expect("verifier task")
}

/// Keeps a pool member's SRP verifier in step when the password is set elsewhere (the CLI), and
/// forgets the name's sign-in failures, as a password set through the pool does.
#[crate::entry_point]
pub async fn password_changed(store: &dyn crate::Store, user: &User, password: &str, now: i64) -> anyhow::Result<()> {
    let Some(d) = store.get_document(KIND_MEMBER, &user.id).await? else { return Ok(()) };
    let pool_id = d.pool_id;
    let verifier = srp_verifier(&pool_id, &user.username, password).await;
    store
        .update_record::<Member, _>(KIND_MEMBER, &user.id, &pool_id, now, |m| match m {
            Some(mut m) => {
                m.srp = Some(verifier.clone());
                (Change::Put(m), ())
            }
            None => (Change::Keep, ()),
        })
        .await?;
    lockout::forget(store, &pool_id, &user.username).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_ids_have_the_shape_aws_clients_check() {
        for _ in 0..50 {
            let id = new_pool_id("ap-northeast-1");
            assert!(is_pool_id(&id), "{id}");
            assert_eq!(id.len(), "ap-northeast-1_".len() + 9);
        }
        assert!(!is_pool_id("nounderscore"));
        assert!(!is_pool_id("us-east-1_bad-name"));
        assert!(!is_pool_id("US-EAST-1_abc"));
        assert!(!is_pool_id("us-east_abc"));
        let c = new_client_id();
        assert_eq!(c.len(), 26);
        assert!(c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    }

    #[test]
    fn pool_issuers_in_both_forms() {
        let base = "http://127.0.0.1:8080";
        assert!(is_pool_issuer(base, "http://127.0.0.1:8080/us-east-1_abc123"));
        assert!(is_pool_issuer(base, "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc123"));
        assert!(!is_pool_issuer(base, "https://cognito-idp.eu-west-1.amazonaws.com/us-east-1_abc123"));
        assert!(!is_pool_issuer(base, "http://127.0.0.1:8080/demo-idp"));
        assert!(!is_pool_issuer(base, "http://evil/us-east-1_abc123"));
    }

    #[test]
    fn secret_hash_matches_the_documented_construction() {
        // Base64(HMAC_SHA256(key = secret, message = username + client id)), computed independently
        // with `printf 'alice1example' | openssl dgst -sha256 -hmac s3cret -binary | base64`.
        assert_eq!(secret_hash("s3cret", "alice", "1example"), "S2yq/0PlTUEL97UZWx7zkovao4onqZZjH6DFArBihDI=");
    }

    #[test]
    fn secrets_seal_and_open() {
        let m = MasterKey::from_base64(&STANDARD.encode([7u8; 32])).unwrap();
        let sealed = seal_secret(Some(&m), "client1", "abc");
        assert!(sealed.starts_with("sealed:") && !sealed.contains("abc"));
        assert_eq!(open_secret(Some(&m), "client1", &sealed).unwrap(), "abc");
        assert!(open_secret(None, "client1", &sealed).is_err());
        // Bound to its client: copied to another client's record it does not open.
        assert!(open_secret(Some(&m), "client2", &sealed).unwrap_err().contains("client secret client2"));
        assert_eq!(open_secret(None, "client1", &seal_secret(None, "client1", "abc")).unwrap(), "abc");
        // A secret sealed by an older version (unbound) still opens.
        let older = format!("sealed:{}", STANDARD.encode(m.seal(b"abc")));
        assert_eq!(open_secret(Some(&m), "client1", &older).unwrap(), "abc");
    }

    #[test]
    fn audit_never_keeps_secrets() {
        let v = json!({"AuthParameters": {"USERNAME": "a", "PASSWORD": "p", "SECRET_HASH": "h"}, "Session": "s"});
        let r = redact(&v);
        assert_eq!(r["AuthParameters"]["USERNAME"], "a");
        assert_eq!(r["AuthParameters"]["PASSWORD"], "HIDDEN_DUE_TO_SECURITY_REASONS");
        assert_eq!(r["Session"], "HIDDEN_DUE_TO_SECURITY_REASONS");
    }
}
