//! User management: sign-up and confirmation, admin-created users, attributes, passwords,
//! listing with Cognito's filter syntax, and signing out.

use super::*;
use crate::directory::{validate_username, NewUser};
use crate::jose::sha256_hex;
use crate::secrets::constant_time_eq;

#[derive(Deserialize, Clone)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Attribute {
    name: String,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SignUp {
    client_id: String,
    #[serde(default)]
    secret_hash: Option<String>,
    username: String,
    password: String,
    #[serde(default)]
    user_attributes: Vec<Attribute>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ConfirmSignUp {
    client_id: String,
    #[serde(default)]
    secret_hash: Option<String>,
    username: String,
    confirmation_code: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ClientUser {
    client_id: String,
    #[serde(default)]
    secret_hash: Option<String>,
    username: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PoolUser {
    user_pool_id: String,
    username: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AdminCreateUser {
    user_pool_id: String,
    username: String,
    #[serde(default)]
    user_attributes: Vec<Attribute>,
    #[serde(default)]
    temporary_password: Option<String>,
    #[serde(default)]
    message_action: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AdminSetUserPassword {
    user_pool_id: String,
    username: String,
    password: String,
    #[serde(default)]
    permanent: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AdminUpdateUserAttributes {
    user_pool_id: String,
    username: String,
    user_attributes: Vec<Attribute>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListUsers {
    user_pool_id: String,
    #[serde(default)]
    attributes_to_get: Option<Vec<String>>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    pagination_token: Option<String>,
    #[serde(default)]
    filter: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AccessTokenOnly {
    access_token: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ChangePassword {
    previous_password: Option<String>,
    proposed_password: String,
    access_token: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ConfirmForgotPassword {
    client_id: String,
    #[serde(default)]
    secret_hash: Option<String>,
    username: String,
    confirmation_code: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RevokeToken {
    token: String,
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
}

const SIGN_UP: &str = "SignUp";
const FORGOT_PASSWORD: &str = "ForgotPassword";
/// Sign-up codes live a day, reset codes an hour (Cognito's figures); five wrong tries end a code.
const SIGN_UP_CODE_SECONDS: i64 = 24 * 3600;
const RESET_CODE_SECONDS: i64 = 3600;
const CODE_ATTEMPTS: u32 = 5;
/// Attributes with a meaning of their own; others are kept as given.
const IMMUTABLE: &[&str] = &["sub"];

/// `a***@e***` as Cognito masks a destination.
fn masked(email: Option<&str>) -> String {
    match email.and_then(|e| e.split_once('@')) {
        Some((local, domain)) => {
            format!("{}***@{}***", local.chars().next().unwrap_or('*'), domain.chars().next().unwrap_or('*'))
        }
        None => "***".into(),
    }
}

fn delivery(email: Option<&str>) -> Value {
    json!({ "Destination": masked(email), "DeliveryMedium": "EMAIL", "AttributeName": "email" })
}

/// Where nothing is sent (an unknown, disabled or unreachable user), a delivery shaped like a
/// real one, as Cognito answers with PreventUserExistenceErrors.
fn simulated_delivery(username: &str) -> Value {
    let first: String =
        username.chars().next().filter(char::is_ascii_alphanumeric).map_or("u".into(), |c| c.to_string());
    delivery(Some(&format!("{first}@example.com")))
}

/// What checking a code against a member's pending one came to (the member is changed to
/// match: a wrong code counts, a spent, expired or used one is removed).
enum CodeCheck {
    Matched,
    Missing,
    Expired,
    Wrong { spent: bool },
}

impl CodeCheck {
    /// Whether the member was changed (and must be stored).
    fn changed(&self) -> bool {
        !matches!(self, CodeCheck::Missing)
    }
}

/// Checks `code` against the member's pending code of `purpose`. A wrong code counts whether or
/// not the code has expired (so an expired code tells nothing to whoever does not know it), and
/// ends the code at the fifth; the right one is consumed.
fn check_code(member: &mut Member, purpose: &str, code: &str, now: i64) -> CodeCheck {
    let Some(i) = member.codes.iter().position(|c| c.purpose == purpose) else { return CodeCheck::Missing };
    if !constant_time_eq(sha256_hex(code.as_bytes()).as_bytes(), member.codes[i].code_sha256.as_bytes()) {
        member.codes[i].attempts += 1;
        let spent = member.codes[i].attempts >= CODE_ATTEMPTS;
        if spent {
            member.codes.remove(i);
        }
        return CodeCheck::Wrong { spent };
    }
    let expired = member.codes[i].expires_at <= now;
    member.codes.remove(i);
    if expired {
        CodeCheck::Expired
    } else {
        CodeCheck::Matched
    }
}

const CODE_MISMATCH: &str = "Invalid verification code provided, please try again.";

/// A name without an account (or a disabled one) answered as a wrong code; the audit says why.
fn unknown_as_wrong_code(call: &mut Call, why: &str) -> Refusal {
    call.refuse(Reason::CodeMismatch, "user", format!("{why}; answered as a wrong code"), CODE_MISMATCH)
}

/// The refusal (or not) a code check comes to.
fn code_answer(check: CodeCheck, purpose: &str, call: &mut Call) -> Result<(), Refusal> {
    match check {
        CodeCheck::Matched => {
            call.trail.pass("code", format!("{purpose} code matches"));
            Ok(())
        }
        CodeCheck::Missing => {
            Err(call.refuse(Reason::CodeMismatch, "code", format!("no {purpose} code is pending"), CODE_MISMATCH))
        }
        CodeCheck::Expired => Err(call.refuse(
            Reason::ExpiredCode,
            "code",
            format!("{purpose} code expired"),
            "Invalid code provided, please request a code again.",
        )),
        CodeCheck::Wrong { spent } => {
            let detail = if spent {
                format!("wrong {purpose} code; the code is spent after {CODE_ATTEMPTS} tries")
            } else {
                format!("wrong {purpose} code")
            };
            Err(call.refuse(Reason::CodeMismatch, "code", detail, CODE_MISMATCH))
        }
    }
}

/// A user's attributes as Cognito lists them (`sub` first).
pub(crate) fn attributes(user: &User) -> Vec<Value> {
    let mut out = vec![json!({ "Name": "sub", "Value": user.id })];
    if let Some(e) = &user.email {
        out.push(json!({ "Name": "email", "Value": e }));
        out.push(json!({ "Name": "email_verified", "Value": user.email_verified.to_string() }));
    }
    for (k, v) in &user.attributes {
        out.push(json!({ "Name": k, "Value": v }));
    }
    out
}

fn attribute_value(user: &User, member: &Member, name: &str) -> Option<String> {
    match name {
        "username" => Some(user.username.clone()),
        "sub" => Some(user.id.clone()),
        "email" => user.email.clone(),
        "cognito:user_status" => Some(member.status.as_str().into()),
        "status" => Some(if user.enabled { "Enabled" } else { "Disabled" }.into()),
        other => user.attributes.get(other).cloned(),
    }
}

fn user_type(user: &User, member: &Member, only: Option<&[String]>) -> Value {
    let mut attrs = attributes(user);
    if let Some(only) = only {
        attrs.retain(|a| a["Name"].as_str().is_some_and(|n| only.iter().any(|o| o == n)));
    }
    json!({
        "Username": user.username,
        "Attributes": attrs,
        "UserCreateDate": ts(user.created_at),
        "UserLastModifiedDate": ts(user.updated_at),
        "Enabled": user.enabled,
        "UserStatus": member.status.as_str(),
    })
}

/// Applies `{Name, Value}` attributes to a user; names what is wrong.
fn apply_attributes(user: &mut User, attrs: &[Attribute], call: &mut Call) -> Result<(), Refusal> {
    let mut verified_given = false;
    for a in attrs {
        let v = a.value.clone().unwrap_or_default();
        match a.name.as_str() {
            n if IMMUTABLE.contains(&n) => {
                return Err(call.refuse_plainly(
                    Reason::InvalidParameter,
                    "attributes",
                    format!("Cannot modify an immutable attribute: {n}"),
                ))
            }
            "email" => {
                if !v.is_empty() && !v.contains('@') {
                    return Err(call.refuse_plainly(
                        Reason::InvalidParameter,
                        "attributes",
                        "Invalid email address format.",
                    ));
                }
                user.email = (!v.is_empty()).then_some(v);
            }
            "email_verified" => {
                verified_given = true;
                user.email_verified = v == "true";
            }
            n if n.is_empty() || n.len() > 32 => {
                return Err(call.refuse_plainly(
                    Reason::InvalidParameter,
                    "attributes",
                    format!("Invalid attribute name {n:?}."),
                ))
            }
            n => {
                user.attributes.insert(n.to_string(), v);
            }
        }
    }
    if !verified_given && attrs.iter().any(|a| a.name == "email") {
        user.email_verified = false;
    }
    Ok(())
}

fn new_code() -> String {
    let n = u32::from_be_bytes(crate::secrets::random_bytes::<4>()) % 1_000_000;
    format!("{n:06}")
}

fn temporary_password() -> String {
    // Letters, digits and a symbol, so that strict pool policies accept it too.
    format!("Tb1!{}", crate::secrets::random_secret().chars().take(12).collect::<String>())
}

impl UserPools {
    /// Checks SECRET_HASH for clients that have a secret (constant-time).
    pub(crate) fn check_secret_hash(
        &self,
        client: &PoolClient,
        username: &str,
        presented: Option<&str>,
        call: &mut Call,
    ) -> Result<(), Refusal> {
        let Some(stored) = &client.secret else {
            call.trail.pass("client", format!("{} (no secret)", client.client_id));
            return Ok(());
        };
        let secret = open_secret(self.kernel.master.as_deref(), &client.client_id, stored)
            .map_err(|e| call.refuse(Reason::Unavailable, "client", e, "The client secret cannot be read."))?;
        let Some(presented) = presented else {
            return Err(call.refuse_plainly(
                Reason::NotAuthorized,
                "secret hash",
                format!("Client {} is configured with secret but SECRET_HASH was not received", client.client_id),
            ));
        };
        let want = secret_hash(&secret, username, &client.client_id);
        if !constant_time_eq(want.as_bytes(), presented.as_bytes()) {
            return Err(call.refuse_plainly(
                Reason::NotAuthorized,
                "secret hash",
                format!("Unable to verify secret hash for client {}", client.client_id),
            ));
        }
        call.trail.pass("client", format!("{} authenticated by SECRET_HASH", client.client_id));
        Ok(())
    }

    pub(crate) fn check_password_policy(
        &self,
        pool: &UserPool,
        password: &str,
        call: &mut Call,
    ) -> Result<(), Refusal> {
        let min = pool.password_min_length.max(6) as usize;
        if password.chars().count() < min {
            return Err(call.refuse_plainly(
                Reason::InvalidPassword,
                "password policy",
                "Password did not conform with policy: Password not long enough",
            ));
        }
        if let Some(missing) = pool.password_classes.missing(password) {
            return Err(call.refuse_plainly(
                Reason::InvalidPassword,
                "password policy",
                format!("Password did not conform with policy: {missing}"),
            ));
        }
        Ok(())
    }

    /// Creates the user and its membership; `Conflict` on a taken username.
    async fn create_member(
        &self,
        pool: &UserPool,
        username: &str,
        attrs: &[Attribute],
        password: Option<&str>,
        status: UserStatus,
        call: &mut Call,
    ) -> Result<(User, Member), Refusal> {
        validate_username(username).map_err(|e| call.refuse_plainly(Reason::InvalidParameter, "username", e))?;
        let mut probe = User {
            id: String::new(),
            username: username.into(),
            email: None,
            email_verified: false,
            enabled: true,
            password_hash: None,
            groups: Vec::new(),
            attributes: BTreeMap::new(),
            created_at: 0,
            updated_at: 0,
        };
        apply_attributes(&mut probe, attrs, call)?;
        let new = NewUser {
            username: username.into(),
            email: probe.email.clone(),
            email_verified: probe.email_verified,
            password: password.map(str::to_string),
            groups: Vec::new(),
            attributes: probe.attributes,
            enabled: true,
        };
        let user = match self.kernel.directory.create_user(new).await {
            Ok(u) => u,
            Err(crate::directory::DirectoryError::Store(StoreError::Conflict(_))) => {
                return Err(call.refuse_plainly(Reason::UsernameExists, "username", "User already exists"))
            }
            Err(crate::directory::DirectoryError::Invalid(e)) => {
                return Err(call.refuse_plainly(Reason::InvalidParameter, "user", e))
            }
            Err(e) => return Err(Refusal::storage(e)),
        };
        let srp = match password {
            Some(p) => Some(srp_verifier(&pool.id, username, p).await),
            None => None,
        };
        let member = Member { user_id: user.id.clone(), pool_id: pool.id.clone(), status, srp, codes: Vec::new() };
        let d = Document::new(KIND_MEMBER, &user.id, &pool.id, &member, user.created_at, user.created_at);
        if let Err(e) = self.kernel.store.insert_document(&d).await {
            let _ = self.kernel.store.delete_user(&user.id).await;
            return Err(e.into());
        }
        call.about(&user);
        Ok((user, member))
    }

    /// Issues a fresh code of `purpose` (replacing an older one) in one atomic update of the
    /// membership, and sends it. A sign-up code only while the member is unconfirmed: returns
    /// the status that refused it, or `None` when the member is gone (nothing sent either way).
    async fn send_code(
        &self,
        pool_id: &str,
        user: &User,
        purpose: &str,
        ttl: i64,
    ) -> Result<Result<(), Option<UserStatus>>, Refusal> {
        let code = new_code();
        let pending = PendingCode {
            purpose: purpose.into(),
            code_sha256: sha256_hex(code.as_bytes()),
            expires_at: self.kernel.now() + ttl,
            attempts: 0,
        };
        let stored = self
            .update_member(&user.id, pool_id, |m| match m {
                None => (Change::Keep, Err(None)),
                Some(m) if purpose == SIGN_UP && m.status != UserStatus::Unconfirmed => {
                    (Change::Keep, Err(Some(m.status)))
                }
                Some(mut m) => {
                    m.codes.retain(|c| c.purpose != purpose);
                    m.codes.push(pending.clone());
                    (Change::Put(m), Ok(()))
                }
            })
            .await?;
        if stored.is_ok() {
            self.code_sender().send(pool_id, user, purpose, &code);
        }
        Ok(stored)
    }

    pub(crate) async fn sign_up(&self, req: SignUp, call: &mut Call) -> Result<Value, Refusal> {
        let client = self.pool_client(&req.client_id, call).await?;
        self.check_secret_hash(&client, &req.username, req.secret_hash.as_deref(), call)?;
        let pool = self.pool(&client.pool_id, call).await?;
        if pool.admin_create_user_only {
            return Err(call.refuse_plainly(
                Reason::NotAuthorized,
                "sign-up",
                "SignUp is not permitted for this user pool",
            ));
        }
        self.check_password_policy(&pool, &req.password, call)?;
        let (user, _) = self
            .create_member(
                &pool,
                &req.username,
                &req.user_attributes,
                Some(&req.password),
                UserStatus::Unconfirmed,
                call,
            )
            .await?;
        let delivered = if user.email.is_some() {
            // Just created, unconfirmed: only a concurrent deletion leaves it unsent.
            let _ = self.send_code(&pool.id, &user, SIGN_UP, SIGN_UP_CODE_SECONDS).await?;
            Some(delivery(user.email.as_deref()))
        } else {
            None
        };
        call.trail.pass("sign-up", format!("user {:?} created, unconfirmed", user.username));
        Ok(json!({ "UserConfirmed": false, "CodeDeliveryDetails": delivered, "UserSub": user.id }))
    }

    /// The member behind a public, client-scoped request (SECRET_HASH checked first).
    async fn client_member(
        &self,
        client_id: &str,
        username: &str,
        secret_hash: Option<&str>,
        call: &mut Call,
    ) -> Result<(PoolClient, Option<(User, Member)>), Refusal> {
        let client = self.pool_client(client_id, call).await?;
        self.check_secret_hash(&client, username, secret_hash, call)?;
        let found = self.member(&client.pool_id, username, call).await?;
        Ok((client, found))
    }

    /// What the confirmation actions answer a name without an account: as a confirmed user, or
    /// as an unconfirmed one (a delivery, a wrong code), the same way every time for one name.
    async fn looks_confirmed(&self, pool_id: &str, username: &str) -> Result<bool, Refusal> {
        Ok(stand_in::looks_confirmed(&*self.stand_in_key().await?, pool_id, username))
    }

    pub(crate) async fn confirm_sign_up(&self, req: ConfirmSignUp, call: &mut Call) -> Result<Value, Refusal> {
        let (client, found) =
            self.client_member(&req.client_id, &req.username, req.secret_hash.as_deref(), call).await?;
        let not_confirmable = |call: &mut Call, check: &str, detail: Option<&str>, status: UserStatus| {
            let message = format!("User cannot be confirmed. Current status is {}", status.as_str());
            call.refuse(Reason::NotAuthorized, check, detail.unwrap_or(&message).to_string(), &message)
        };
        let Some((user, _)) = found else {
            return Err(if self.looks_confirmed(&client.pool_id, &req.username).await? {
                let why = "no such user; answered as a confirmed user";
                not_confirmable(call, "user", Some(why), UserStatus::Confirmed)
            } else {
                unknown_as_wrong_code(call, "no such user")
            });
        };
        // The status check, the code check and the confirmation are one atomic update: of
        // concurrent answers exactly one consumes the code, and wrong ones count exactly.
        let now = self.kernel.now();
        let checked = self
            .update_member(&user.id, &client.pool_id, |m| {
                let Some(mut m) = m else { return (Change::Keep, Err(None)) };
                if m.status != UserStatus::Unconfirmed {
                    return (Change::Keep, Err(Some(m.status)));
                }
                let check = check_code(&mut m, SIGN_UP, &req.confirmation_code, now);
                if matches!(check, CodeCheck::Matched) {
                    m.status = UserStatus::Confirmed;
                }
                (if check.changed() { Change::Put(m) } else { Change::Keep }, Ok(check))
            })
            .await?;
        match checked {
            Ok(check) => code_answer(check, SIGN_UP, call)?,
            Err(Some(status)) => return Err(not_confirmable(call, "status", None, status)),
            Err(None) => return Err(unknown_as_wrong_code(call, "the user left the pool")),
        }
        if user.email.is_some() && !user.email_verified {
            self.kernel.store.update_user_record(&user.id, now, |u| u.email_verified = u.email.is_some()).await?;
        }
        Ok(json!({}))
    }

    pub(crate) async fn admin_confirm_sign_up(&self, req: PoolUser, call: &mut Call) -> Result<Value, Refusal> {
        self.pool(&req.user_pool_id, call).await?;
        let (user, _) = self.existing_member(&req.user_pool_id, &req.username, call).await?;
        let refused = self
            .update_member(&user.id, &req.user_pool_id, |m| match m {
                None => (Change::Keep, None),
                Some(m) if m.status != UserStatus::Unconfirmed => (Change::Keep, Some(m.status)),
                Some(mut m) => {
                    m.status = UserStatus::Confirmed;
                    m.codes.retain(|c| c.purpose != SIGN_UP);
                    (Change::Put(m), None)
                }
            })
            .await?;
        if let Some(status) = refused {
            return Err(call.refuse_plainly(
                Reason::NotAuthorized,
                "status",
                format!("User cannot be confirmed. Current status is {}", status.as_str()),
            ));
        }
        Ok(json!({}))
    }

    pub(crate) async fn resend_confirmation_code(&self, req: ClientUser, call: &mut Call) -> Result<Value, Refusal> {
        let (client, found) =
            self.client_member(&req.client_id, &req.username, req.secret_hash.as_deref(), call).await?;
        const CONFIRMED: &str = "User is already confirmed.";
        self.spend_code_budget(&client.pool_id, &req.username, call).await?;
        let Some((user, _)) = found else {
            if self.looks_confirmed(&client.pool_id, &req.username).await? {
                let detail = "no such user; answered as a confirmed user";
                return Err(call.refuse(Reason::InvalidParameter, "user", detail, CONFIRMED));
            }
            call.trail.skip("user", "no such user; a simulated delivery, nothing sent");
            return Ok(json!({ "CodeDeliveryDetails": simulated_delivery(&req.username) }));
        };
        match self.send_code(&client.pool_id, &user, SIGN_UP, SIGN_UP_CODE_SECONDS).await? {
            Err(Some(_)) => Err(call.refuse_plainly(Reason::InvalidParameter, "status", CONFIRMED)),
            Ok(()) if user.email.is_some() => Ok(json!({ "CodeDeliveryDetails": delivery(user.email.as_deref()) })),
            _ => Ok(json!({ "CodeDeliveryDetails": simulated_delivery(&req.username) })),
        }
    }

    pub(crate) async fn admin_create_user(&self, req: AdminCreateUser, call: &mut Call) -> Result<Value, Refusal> {
        let pool = self.pool(&req.user_pool_id, call).await?;
        if let Some(a) = req.message_action.as_deref() {
            if a != "SUPPRESS" && a != "RESEND" {
                return Err(call.refuse_plainly(
                    Reason::InvalidParameter,
                    "request",
                    format!("Invalid MessageAction {a:?}."),
                ));
            }
        }
        if req.message_action.as_deref() == Some("RESEND") {
            let (user, member) = self.existing_member(&pool.id, &req.username, call).await?;
            return Ok(json!({ "User": user_type(&user, &member, None) }));
        }
        let given = req.temporary_password.is_some();
        let password = req.temporary_password.unwrap_or_else(temporary_password);
        self.check_password_policy(&pool, &password, call)?;
        let (user, member) = self
            .create_member(
                &pool,
                &req.username,
                &req.user_attributes,
                Some(&password),
                UserStatus::ForceChangePassword,
                call,
            )
            .await?;
        if req.message_action.as_deref() != Some("SUPPRESS") && (!given || user.email.is_some()) {
            // The invitation carries the temporary password, as Cognito's does.
            self.code_sender().send(&pool.id, &user, "AdminCreateUser", &password);
        }
        call.trail.pass("create", format!("user {:?} created, must change its password", user.username));
        Ok(json!({ "User": user_type(&user, &member, None) }))
    }

    pub(crate) async fn admin_set_user_password(
        &self,
        req: AdminSetUserPassword,
        call: &mut Call,
    ) -> Result<Value, Refusal> {
        let pool = self.pool(&req.user_pool_id, call).await?;
        self.check_password_policy(&pool, &req.password, call)?;
        let (user, _) = self.existing_member(&pool.id, &req.username, call).await?;
        let status = if req.permanent { UserStatus::Confirmed } else { UserStatus::ForceChangePassword };
        self.set_member_password(&user, &pool.id, &req.password, Some(status)).await?;
        call.trail.pass("password", format!("set, status {}", status.as_str()));
        Ok(json!({}))
    }

    pub(crate) async fn admin_get_user(&self, req: PoolUser, call: &mut Call) -> Result<Value, Refusal> {
        self.pool(&req.user_pool_id, call).await?;
        let (user, member) = self.existing_member(&req.user_pool_id, &req.username, call).await?;
        Ok(json!({
            "Username": user.username,
            "UserAttributes": attributes(&user),
            "UserCreateDate": ts(user.created_at),
            "UserLastModifiedDate": ts(user.updated_at),
            "Enabled": user.enabled,
            "UserStatus": member.status.as_str(),
        }))
    }

    /// The pool member an access token speaks for (signature, expiry, revocation checked).
    pub(crate) async fn token_member(&self, token: &str, call: &mut Call) -> Result<(User, Member), Refusal> {
        let t = match self.tokens.verify_access_token(token, &mut call.trail).await {
            Ok(t) => t,
            Err(d) => {
                let message = match d.trail.first_failure().map(|s| s.check.as_str()) {
                    Some("revocation") => "Access Token has been revoked",
                    Some("expiry") => "Access Token has expired",
                    _ => "Invalid Access Token",
                };
                let mut e = not_authorized(d);
                e.message = message.into();
                return Err(e);
            }
        };
        let sub = t.str("sub").unwrap_or_default().to_string();
        let user = self.kernel.store.get_user(&sub).await?.filter(|u| u.enabled);
        let member = match &user {
            Some(u) => self.kernel.store.get_document(KIND_MEMBER, &u.id).await?,
            None => None,
        };
        match (user, member) {
            (Some(u), Some(m)) => {
                call.about(&u);
                Ok((u, from_doc(m)?))
            }
            _ => Err(call.refuse(
                Reason::NotAuthorized,
                "user",
                "the token's user is disabled, deleted or in no pool",
                "Invalid Access Token",
            )),
        }
    }

    pub(crate) async fn get_user(&self, req: AccessTokenOnly, call: &mut Call) -> Result<Value, Refusal> {
        let (user, _) = self.token_member(&req.access_token, call).await?;
        Ok(json!({ "Username": user.username, "UserAttributes": attributes(&user) }))
    }

    pub(crate) async fn admin_delete_user(&self, req: PoolUser, call: &mut Call) -> Result<Value, Refusal> {
        self.pool(&req.user_pool_id, call).await?;
        let (user, _) = self.existing_member(&req.user_pool_id, &req.username, call).await?;
        self.kernel.store.revoke_user_sessions(&user.id).await?;
        self.kernel.store.delete_document(KIND_MEMBER, &user.id).await?;
        self.kernel.store.delete_user(&user.id).await?;
        call.trail.pass("delete", format!("user {:?}", user.username));
        Ok(json!({}))
    }

    pub(crate) async fn admin_set_enabled(
        &self,
        req: PoolUser,
        call: &mut Call,
        enabled: bool,
    ) -> Result<Value, Refusal> {
        self.pool(&req.user_pool_id, call).await?;
        let (user, _) = self.existing_member(&req.user_pool_id, &req.username, call).await?;
        // The directory revokes a disabled user's sessions, whatever door disabled it.
        self.kernel.directory.set_enabled(&user.username, enabled).await.map_err(Refusal::storage)?;
        call.trail.pass(
            "enabled",
            format!("{:?} {}", user.username, if enabled { "enabled" } else { "disabled, sessions revoked" }),
        );
        Ok(json!({}))
    }

    pub(crate) async fn admin_update_user_attributes(
        &self,
        req: AdminUpdateUserAttributes,
        call: &mut Call,
    ) -> Result<Value, Refusal> {
        self.pool(&req.user_pool_id, call).await?;
        let (mut user, _) = self.existing_member(&req.user_pool_id, &req.username, call).await?;
        // Refused as a whole when any attribute is: checked first, then applied to the user as
        // stored in one atomic update (concurrent edits of other attributes are kept).
        apply_attributes(&mut user, &req.user_attributes, call)?;
        self.kernel
            .store
            .update_user_record(&user.id, self.kernel.now(), |u| {
                let _ = apply_attributes(u, &req.user_attributes, &mut Call::default());
            })
            .await?;
        Ok(json!({}))
    }

    pub(crate) async fn list_users(&self, req: ListUsers, call: &mut Call) -> Result<Value, Refusal> {
        let pool = self.pool(&req.user_pool_id, call).await?;
        let limit = match req.limit {
            None => 60,
            Some(n) if (0..=60).contains(&n) => n.max(1) as usize,
            Some(n) => {
                return Err(call.refuse_plainly(Reason::InvalidParameter, "request",
                    format!("1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 60"),
                ))
            }
        };
        let filter = filter::parse(req.filter.as_deref().unwrap_or(""))
            .map_err(|e| call.refuse_plainly(Reason::InvalidParameter, "filter", e))?;
        let mut after = parse_page_token(call, req.pagination_token.as_deref())?;
        let mut users = Vec::new();
        let mut last_seen = None;
        // Members are read in id order, a batch at a time, until a page of matches is full.
        'scan: loop {
            let batch = self.kernel.store.list_documents(KIND_MEMBER, Some(&pool.id), after.as_deref(), 200).await?;
            if batch.is_empty() {
                last_seen = None;
                break;
            }
            for d in &batch {
                after = Some(d.id.clone());
                let Some(user) = self.kernel.store.get_user(&d.id).await? else { continue };
                let member: Member = from_doc(d.clone())?;
                if filter.as_ref().is_none_or(|f| f.matches(|a| attribute_value(&user, &member, a))) {
                    if users.len() == limit {
                        break 'scan;
                    }
                    users.push(user_type(&user, &member, req.attributes_to_get.as_deref()));
                    last_seen = Some(d.id.clone());
                }
            }
            if batch.len() < 200 {
                last_seen = None;
                break;
            }
        }
        // `last_seen` survives only when the scan stopped on a full page with more to come.
        let next = last_seen.filter(|_| users.len() == limit).map(|id| page_token(&id));
        Ok(json!({ "Users": users, "PaginationToken": next }))
    }

    pub(crate) async fn change_password(&self, req: ChangePassword, call: &mut Call) -> Result<Value, Refusal> {
        let (user, member) = self.token_member(&req.access_token, call).await?;
        let pool = self.pool(&member.pool_id, call).await?;
        // The previous password is a password guess like a sign-in's (a stolen access token
        // would otherwise try any number of them): it is judged and counted by the sign-in's
        // lockout, and a locked name hears Cognito's answer to ChangePassword.
        let (pool_id, username) = (pool.id.as_str(), user.username.as_str());
        self.check_lock(pool_id, username, call).await.map_err(attempt_limit)?;
        let phc = user.password_hash.clone().unwrap_or_else(|| super::stand_in::STAND_IN_HASH.clone());
        let previous = req.previous_password.clone().unwrap_or_default();
        let matches = crate::password::verify_after(previous, phc, self.check_lock(pool_id, username, call))
            .await
            .map_err(attempt_limit)?;
        if !(matches && user.password_hash.is_some() && req.previous_password.is_some()) {
            let why = "previous password does not match".to_string();
            return Err(attempt_limit(self.wrong_password(pool_id, username, "password", why, call).await));
        }
        self.right_password(pool_id, username, call).await.map_err(attempt_limit)?;
        self.check_password_policy(&pool, &req.proposed_password, call)?;
        self.set_member_password(&user, &pool.id, &req.proposed_password, None).await?;
        call.trail.pass("password", "changed");
        Ok(json!({}))
    }

    pub(crate) async fn forgot_password(&self, req: ClientUser, call: &mut Call) -> Result<Value, Refusal> {
        let (client, found) =
            self.client_member(&req.client_id, &req.username, req.secret_hash.as_deref(), call).await?;
        self.spend_code_budget(&client.pool_id, &req.username, call).await?;
        // Unknown, disabled and unreachable users get a delivery like a real one, and no code.
        let reachable = found.filter(|(u, _)| u.enabled && u.email.is_some());
        if let Some((user, _)) = reachable {
            if self.send_code(&client.pool_id, &user, FORGOT_PASSWORD, RESET_CODE_SECONDS).await?.is_ok() {
                call.trail.pass("code", "reset code sent");
                return Ok(json!({ "CodeDeliveryDetails": delivery(user.email.as_deref()) }));
            }
        }
        call.trail.skip("code", "no such user, or disabled, or without an email address; a simulated delivery");
        Ok(json!({ "CodeDeliveryDetails": simulated_delivery(&req.username) }))
    }

    pub(crate) async fn confirm_forgot_password(
        &self,
        req: ConfirmForgotPassword,
        call: &mut Call,
    ) -> Result<Value, Refusal> {
        let (client, found) =
            self.client_member(&req.client_id, &req.username, req.secret_hash.as_deref(), call).await?;
        let pool = self.pool(&client.pool_id, call).await?;
        // The policy first, for every name, so its answer does not depend on the user.
        self.check_password_policy(&pool, &req.password, call)?;
        let user = match found {
            Some((user, _)) if user.enabled => user,
            Some(_) => return Err(unknown_as_wrong_code(call, "the user is disabled")),
            None => return Err(unknown_as_wrong_code(call, "no such user")),
        };
        // One atomic check: of concurrent answers exactly one consumes the code.
        let now = self.kernel.now();
        let checked = self
            .update_member(&user.id, &pool.id, |m| {
                let Some(mut m) = m else { return (Change::Keep, CodeCheck::Missing) };
                let check = check_code(&mut m, FORGOT_PASSWORD, &req.confirmation_code, now);
                (if check.changed() { Change::Put(m) } else { Change::Keep }, check)
            })
            .await?;
        code_answer(checked, FORGOT_PASSWORD, call)?;
        self.set_member_password(&user, &pool.id, &req.password, Some(UserStatus::Confirmed)).await?;
        Ok(json!({}))
    }

    pub(crate) async fn global_sign_out(&self, req: AccessTokenOnly, call: &mut Call) -> Result<Value, Refusal> {
        let (user, _) = self.token_member(&req.access_token, call).await?;
        let n = self.kernel.store.revoke_user_sessions(&user.id).await?;
        call.trail.pass("sign-out", format!("{n} session token(s) of {:?} revoked", user.username));
        Ok(json!({}))
    }

    pub(crate) async fn admin_user_global_sign_out(&self, req: PoolUser, call: &mut Call) -> Result<Value, Refusal> {
        self.pool(&req.user_pool_id, call).await?;
        let (user, _) = self.existing_member(&req.user_pool_id, &req.username, call).await?;
        let n = self.kernel.store.revoke_user_sessions(&user.id).await?;
        call.trail.pass("sign-out", format!("{n} session token(s) of {:?} revoked", user.username));
        Ok(json!({}))
    }

    /// RevokeToken: the refresh token's family ends, and with it the access tokens it issued.
    pub(crate) async fn revoke_pool_token(&self, req: RevokeToken, call: &mut Call) -> Result<Value, Refusal> {
        // RevokeToken's modelled errors have no ResourceNotFoundException: AWS answers this.
        let client = match self.kernel.store.get_document(KIND_CLIENT, &req.client_id).await? {
            Some(d) => from_doc::<PoolClient>(d)?,
            None => {
                return Err(call.refuse_plainly(
                    Reason::InvalidParameter,
                    "client",
                    format!("Invalid ClientId {}.", req.client_id),
                ))
            }
        };
        if let Some(stored) = &client.secret {
            let secret = open_secret(self.kernel.master.as_deref(), &client.client_id, stored)
                .map_err(|e| call.refuse(Reason::Unavailable, "client", e, "The client secret cannot be read."))?;
            let ok = req.client_secret.as_deref().is_some_and(|p| constant_time_eq(p.as_bytes(), secret.as_bytes()));
            if !ok {
                return Err(call.refuse_plainly(
                    Reason::InvalidClient,
                    "client",
                    "Client secret is invalid or missing.",
                ));
            }
        }
        let record = self.kernel.store.get_refresh_token(&sha256_hex(req.token.as_bytes())).await?;
        match record.filter(|r| r.client_id == client.client_id) {
            Some(r) => {
                let n = self.kernel.store.revoke_refresh_family(&r.family_id).await?;
                self.authorizer.family_revoked(&r.family_id);
                call.trail.pass("revoke", format!("refresh family revoked ({n} token(s))"));
                Ok(json!({}))
            }
            None => Err(call.refuse_plainly(
                Reason::UnsupportedTokenType,
                "token",
                "The token is not a refresh token of this client.",
            )),
        }
    }
}

/// ChangePassword's answer to a locked name (Cognito's), in place of the sign-in's
/// "Password attempts exceeded"; the trail keeps the lockout check.
fn attempt_limit(mut e: Refusal) -> Refusal {
    if e.reason == Reason::LockedOut {
        e.reason = Reason::LimitExceeded;
        e.message = "Attempt limit exceeded, please try after some time.".into();
    }
    e
}
