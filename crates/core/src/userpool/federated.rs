//! Federated sign-in: an identity a pool's identity provider vouched for (a SAML assertion's
//! NameID, an OIDC `sub`) becomes the pool user it signs in as, as Cognito does it:
//!
//! - linked (AdminLinkProviderForUser, `Cognito_Subject` = the subject) to a native user: that
//!   user, with the identity added to its `identities`;
//! - else the federated user `<ProviderName>_<subject>`, made on the first sign-in (one user
//!   however many first sign-ins race: the username is insert-if-absent, and a loser signs in
//!   as the winner's user), its attributes set from the provider's AttributeMapping on every
//!   sign-in.
//!
//! A user's `identities` attribute is the JSON text Cognito keeps (an array of `{userId,
//! providerName, providerType, issuer, primary, dateCreated}`, the last two as strings); the
//! id token carries it as the array.

use super::identity_providers::ProviderType;
use super::*;
use crate::excerpt::excerpt;
use crate::secrets::uuid_v4;

/// The user attribute that lists a user's federated identities.
pub const IDENTITIES_ATTRIBUTE: &str = "identities";
/// The longest subject taken (a SAML NameID, an OIDC `sub`).
const MAX_SUBJECT: usize = 256;

/// Who a provider says signed in.
#[derive(Debug, Clone)]
pub struct FederatedIdentity {
    /// The pool's identity provider (its ProviderName).
    pub provider: String,
    pub provider_type: ProviderType,
    /// The provider's subject: a SAML NameID, an OIDC `sub`.
    pub subject: String,
    /// The provider's issuer (a SAML IdP's entity id, an OIDC `iss`).
    pub issuer: Option<String>,
    /// The provider's attributes, name → values.
    pub attributes: BTreeMap<String, Vec<String>>,
}

/// How the sign-in found its user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FederatedAs {
    /// A native user the identity is linked to.
    Linked,
    /// The federated user, made now.
    Created,
    /// The federated user, as made by an earlier sign-in.
    Returning,
}

/// The identity as an entry of `identities`.
fn identity_entry(identity: &FederatedIdentity, date_created_ms: i64) -> Value {
    json!({
        "userId": identity.subject,
        "providerName": identity.provider,
        "providerType": identity.provider_type.as_str(),
        "issuer": identity.issuer,
        "primary": "true",
        "dateCreated": date_created_ms.to_string(),
    })
}

fn identities_of(user: &User) -> Vec<Value> {
    user.attributes
        .get(IDENTITIES_ATTRIBUTE)
        .and_then(|t| serde_json::from_str::<Vec<Value>>(t).ok())
        .unwrap_or_default()
}

fn holds(entries: &[Value], identity: &FederatedIdentity) -> bool {
    entries.iter().any(|e| {
        e.get("providerName").and_then(Value::as_str) == Some(identity.provider.as_str())
            && e.get("userId").and_then(Value::as_str) == Some(identity.subject.as_str())
    })
}

/// `user` with `identity` in its `identities` (kept once; the first entry stays primary).
fn with_identity(user: &mut User, identity: &FederatedIdentity, now: i64) {
    let mut entries = identities_of(user);
    if holds(&entries, identity) {
        return;
    }
    let mut entry = identity_entry(identity, now * 1000);
    if !entries.is_empty() {
        entry["primary"] = json!("false");
    }
    entries.push(entry);
    user.attributes.insert(IDENTITIES_ATTRIBUTE.into(), Value::Array(entries).to_string());
}

/// The provider's attributes as the mapping names them: pool attribute → value (several
/// values joined by commas).
fn mapped(mapping: &BTreeMap<String, String>, attributes: &BTreeMap<String, Vec<String>>) -> BTreeMap<String, String> {
    mapping.iter().filter_map(|(to, from)| attributes.get(from).map(|values| (to.clone(), values.join(",")))).collect()
}

/// Which pool attributes the mapping set, for the trail (names only).
fn mapped_names(values: &BTreeMap<String, String>) -> String {
    let names: Vec<&str> = values.keys().map(String::as_str).collect();
    format!("{} attribute(s) mapped ({})", names.len(), names.join(", "))
}

/// Sets the mapped attributes on `user`: `email` and `email_verified` on their fields, the
/// rest as attributes.
/// The group Cognito keeps a provider's federated users in.
pub fn provider_group(pool_id: &str, provider: &str) -> String {
    format!("{pool_id}_{provider}")
}

/// A returning federated user: its attributes mapped again, in its provider's group (users made
/// before the group was kept join it now; one that was removed from it by an admin joins again,
/// as Cognito's sign-in puts it back).
fn returning_user(user: &mut User, values: &BTreeMap<String, String>, group: &str) {
    apply(user, values);
    if !user.groups.iter().any(|g| g == group) {
        user.groups.push(group.to_string());
    }
}

fn apply(user: &mut User, values: &BTreeMap<String, String>) {
    for (name, value) in values {
        match name.as_str() {
            "email" => user.email = Some(value.to_lowercase()),
            "email_verified" => user.email_verified = value.eq_ignore_ascii_case("true"),
            IDENTITIES_ATTRIBUTE => {}
            _ => {
                user.attributes.insert(name.clone(), value.clone());
            }
        }
    }
}

impl UserPools {
    /// Signs a federated identity in to `pool_id`: the linked native user, or the federated user
    /// `<provider>_<subject>` (made now if it is the first time), attributes mapped. One entry
    /// point for every kind of provider. The caller has verified the identity.
    pub(crate) async fn sign_in_federated(
        &self,
        pool_id: &str,
        identity: &FederatedIdentity,
        call: &mut Call,
    ) -> Result<(User, FederatedAs), Refusal> {
        let Some(provider) = self.provider(pool_id, &identity.provider).await? else {
            return Err(call.refuse_plainly(
                Reason::NotFound,
                "identity provider",
                format!("Identity provider {} does not exist in pool {pool_id}.", excerpt(&identity.provider)),
            ));
        };
        let subject = identity.subject.as_str();
        if subject.is_empty() || subject.chars().count() > MAX_SUBJECT || subject.chars().any(char::is_control) {
            return Err(call.refuse(
                Reason::NotAuthorized,
                "subject",
                format!(
                    "the subject {} of provider {} is empty, too long or has control characters",
                    excerpt(subject),
                    provider.name
                ),
                "The identity provider named no usable user.",
            ));
        }
        let now = self.kernel.now();
        if let Some(user) = self.linked_user(pool_id, &provider.name, subject).await? {
            let disabled =
                |call: &mut Call| call.refuse_plainly(Reason::NotAuthorized, "user enabled", "User is disabled.");
            if !user.enabled {
                return Err(disabled(call));
            }
            let (user, ()) = self
                .kernel
                .store
                .update_user_record(&user.id, now, |u| with_identity(u, identity, now))
                .await?
                .ok_or_else(|| {
                    call.refuse_plainly(Reason::NotAuthorized, "link", "The linked user no longer exists.")
                })?;
            call.about(&user);
            call.trail.pass(
                "link",
                format!("{} user {} is linked to native user {:?}", provider.name, excerpt(subject), user.username),
            );
            return Ok((user, FederatedAs::Linked));
        }

        let username = format!("{}_{}", provider.name, subject);
        if let Err(e) = crate::directory::validate_username(&username) {
            return Err(call.refuse(
                Reason::NotAuthorized,
                "subject",
                format!("the federated username of {} cannot be made: {e}", excerpt(subject)),
                "The identity provider named no usable user.",
            ));
        }
        let values = mapped(&provider.attribute_mapping, &identity.attributes);
        // Cognito keeps each provider's users in the group `<pool-id>_<ProviderName>`, made at
        // the first sign-in through that provider (insert-if-absent: racing first sign-ins make one).
        let group = provider_group(pool_id, &provider.name);
        let description = format!("Autogenerated group for users who sign in using {}", provider.name);
        self.insert_group_if_absent(pool_id, &group, Some(description), now).await?;
        // At most twice: a lost race to create the user is followed by signing in as the winner's.
        for _ in 0..2 {
            if let Some(existing) = self.kernel.store.find_user_by_username(&username).await? {
                let user = self.returning(pool_id, existing, identity, &values, &group, call).await?;
                call.trail
                    .pass("federated user", format!("{:?} (returning); {}", user.username, mapped_names(&values)));
                return Ok((user, FederatedAs::Returning));
            }
            let mut user = User {
                id: uuid_v4(),
                username: username.clone(),
                email: None,
                email_verified: false,
                enabled: true,
                password_hash: None,
                groups: vec![group.clone()],
                attributes: BTreeMap::new(),
                created_at: now,
                updated_at: now,
            };
            with_identity(&mut user, identity, now);
            apply(&mut user, &values);
            match self.kernel.store.create_user(&user).await {
                Ok(()) => {
                    self.join_pool(pool_id, &user, now).await?;
                    call.about(&user);
                    call.trail.pass(
                        "federated user",
                        format!("{:?} created at first sign-in; {}", user.username, mapped_names(&values)),
                    );
                    return Ok((user, FederatedAs::Created));
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(call.refuse(
            Reason::Unavailable,
            "federated user",
            format!("the username {username:?} was taken and then not found"),
            "Sign-in is unavailable for a moment.",
        ))
    }

    /// The federated user as stored: it must be this identity's (a native user of the same name
    /// is never signed in this way) and of this pool; its attributes are mapped again.
    async fn returning(
        &self,
        pool_id: &str,
        existing: User,
        identity: &FederatedIdentity,
        values: &BTreeMap<String, String>,
        group: &str,
        call: &mut Call,
    ) -> Result<User, Refusal> {
        if !holds(&identities_of(&existing), identity) {
            return Err(call.refuse(
                Reason::NotAuthorized,
                "federated user",
                format!(
                    "username {:?} belongs to a user that is not {}'s federated user",
                    existing.username, identity.provider
                ),
                "The identity provider's user cannot sign in here.",
            ));
        }
        // Its creator may have stopped between the user and the membership: the membership is
        // insert-if-absent, so joining again is harmless.
        self.join_pool(pool_id, &existing, existing.created_at).await?;
        match self.kernel.store.get_document(KIND_MEMBER, &existing.id).await? {
            Some(d) if d.pool_id == pool_id => {}
            _ => {
                return Err(call.refuse(
                    Reason::NotAuthorized,
                    "federated user",
                    format!("user {:?} is a member of another pool", existing.username),
                    "The identity provider's user cannot sign in here.",
                ))
            }
        }
        if !existing.enabled {
            return Err(call.refuse_plainly(Reason::NotAuthorized, "user enabled", "User is disabled."));
        }
        let now = self.kernel.now();
        let (user, ()) = self
            .kernel
            .store
            .update_user_record(&existing.id, now, |u| returning_user(u, values, group))
            .await?
            .ok_or_else(|| {
                call.refuse_plainly(Reason::NotAuthorized, "federated user", "The user no longer exists.")
            })?;
        call.about(&user);
        Ok(user)
    }

    /// Makes `user` a member of `pool_id` (status EXTERNAL_PROVIDER: it has no password here)
    /// unless it is a member already (insert-if-absent).
    async fn join_pool(&self, pool_id: &str, user: &User, now: i64) -> Result<(), Refusal> {
        let m = Member {
            user_id: user.id.clone(),
            pool_id: pool_id.into(),
            status: UserStatus::ExternalProvider,
            srp: None,
            codes: Vec::new(),
        };
        match self.kernel.store.insert_document(&Document::new(KIND_MEMBER, &user.id, pool_id, &m, now, now)).await {
            Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(provider: &str, subject: &str) -> FederatedIdentity {
        FederatedIdentity {
            provider: provider.into(),
            provider_type: ProviderType::Saml,
            subject: subject.into(),
            issuer: Some("https://idp.example.com".into()),
            attributes: BTreeMap::new(),
        }
    }

    #[test]
    fn identities_are_kept_in_cognitos_shape_once_each() {
        let mut u = User {
            id: "u".into(),
            username: "Corp_a@example.com".into(),
            email: None,
            email_verified: false,
            enabled: true,
            password_hash: None,
            groups: vec![],
            attributes: BTreeMap::new(),
            created_at: 0,
            updated_at: 0,
        };
        with_identity(&mut u, &identity("Corp", "a@example.com"), 1_700_000_000);
        with_identity(&mut u, &identity("Corp", "a@example.com"), 1_700_000_100);
        with_identity(&mut u, &identity("Other", "x"), 1_700_000_200);
        let entries: Vec<Value> = serde_json::from_str(&u.attributes[IDENTITIES_ATTRIBUTE]).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[0],
            json!({ "userId": "a@example.com", "providerName": "Corp", "providerType": "SAML",
                    "issuer": "https://idp.example.com", "primary": "true", "dateCreated": "1700000000000" })
        );
        assert_eq!(entries[1]["primary"], "false");
        let values = mapped(
            &BTreeMap::from([
                ("email".into(), "mail".into()),
                ("name".into(), "cn".into()),
                ("locale".into(), "none".into()),
            ]),
            &BTreeMap::from([
                ("mail".into(), vec!["A@Example.com".into()]),
                ("cn".into(), vec!["A".into(), "B".into()]),
            ]),
        );
        apply(&mut u, &values);
        assert_eq!(u.email.as_deref(), Some("a@example.com"));
        assert_eq!(u.attributes["name"], "A,B");
        assert!(!u.attributes.contains_key("locale"));
    }
}
