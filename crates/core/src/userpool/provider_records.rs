//! How an identity provider is stored with what belongs to it, each change one store
//! transaction ([`crate::store::Store::update_documents_with`]): the provider's record with the
//! claims of its IdpIdentifiers (one per identifier, so an identifier names one provider of the
//! pool), and, when it is deleted, its provider links and its place in app clients'
//! SupportedIdentityProviders. A crash leaves either all of it or none.
//!
//! A claim counts only while its holder's record lists the identifier: one left by a provider
//! that is gone (written before these changes were made together) is free to take.

use super::clients::pool_client_document;
use super::identity_providers::{idp_id, IdentityProvider, KIND_IDP, KIND_IDP_IDENTIFIER};
use super::links::{ProviderLink, KIND_LINK};
use super::*;
use crate::store::DocumentKey;
use std::collections::{BTreeSet, HashMap};

/// Times a change is tried again with a wider set of documents (a claim's holder it had not read).
const WIDEN_ATTEMPTS: usize = 8;
/// Links and clients read per page when a provider's are gathered.
const PAGE: u32 = 500;

/// What a provider change came to.
#[derive(Debug)]
pub(crate) enum ProviderWrite {
    /// Written; the provider as stored (for a deletion, as it was).
    Done(Box<IdentityProvider>),
    /// A provider of that name exists already (create).
    NameTaken,
    /// There is no provider of that name (update, delete).
    Missing,
    /// This IdpIdentifier is held by another provider of the pool.
    IdentifierTaken(String),
}

/// The changes an attempt writes, by document.
type Writes = Vec<(DocumentKey, Change<Document>)>;

/// The documents one attempt read, by key.
struct Read<'a>(HashMap<&'a DocumentKey, Option<&'a Document>>);

impl<'a> Read<'a> {
    fn new(keys: &'a [DocumentKey], docs: &'a [Option<Document>]) -> Self {
        Read(keys.iter().zip(docs.iter().map(Option::as_ref)).collect())
    }

    /// `Err(())` when the document was not among those read.
    fn get(&self, key: &DocumentKey) -> Result<Option<&'a Document>, ()> {
        self.0.get(key).copied().ok_or(())
    }
}

/// What one attempt decided.
enum Step {
    /// Write these changes (the others are kept) and report this.
    Write(Writes, ProviderWrite),
    /// Write nothing and report this.
    Refuse(ProviderWrite),
    /// Read these documents too and decide again.
    Widen(Vec<DocumentKey>),
}

fn record_key(pool_id: &str, name: &str) -> DocumentKey {
    (KIND_IDP.to_string(), idp_id(pool_id, name))
}

fn claim_key(pool_id: &str, identifier: &str) -> DocumentKey {
    (KIND_IDP_IDENTIFIER.to_string(), idp_id(pool_id, identifier))
}

fn claim_doc(pool_id: &str, identifier: &str, provider: &str, now: i64) -> Document {
    Document::new(
        KIND_IDP_IDENTIFIER,
        &idp_id(pool_id, identifier),
        pool_id,
        &json!({ "provider": provider }),
        now,
        now,
    )
}

fn holder(claim: &Document) -> Option<&str> {
    claim.body.get("provider").and_then(Value::as_str)
}

fn provider_of(d: &Document) -> Result<IdentityProvider, StoreError> {
    serde_json::from_value(d.body.clone())
        .map_err(|e| StoreError::Backend(format!("stored {} {:?} is not readable: {e}", d.kind, d.id)))
}

/// Whether `identifier` is held, as read, by a provider of the pool other than `name`:
/// `Ok(Some(holder))` when it is; `Ok(None)` when it is free, `name`'s own or left by a provider
/// that no longer lists it; `Err(key)` when the holder's record was not read.
fn other_holder(
    read: &Read<'_>,
    pool_id: &str,
    name: &str,
    identifier: &str,
) -> Result<Result<Option<String>, DocumentKey>, StoreError> {
    let Ok(claim) = read.get(&claim_key(pool_id, identifier)) else {
        return Ok(Err(claim_key(pool_id, identifier)));
    };
    let Some(h) = claim.and_then(holder) else { return Ok(Ok(None)) };
    if h == name {
        return Ok(Ok(None));
    }
    let key = record_key(pool_id, h);
    let Ok(record) = read.get(&key) else { return Ok(Err(key)) };
    Ok(Ok(match record {
        Some(d) if provider_of(d)?.idp_identifiers.iter().any(|i| i == identifier) => Some(h.to_string()),
        _ => None,
    }))
}

/// The claims of `p`'s identifiers, checked against what was read: the changes that put them,
/// or the step that stops (taken, or a holder to read first).
fn claim_all(read: &Read<'_>, p: &IdentityProvider, now: i64) -> Result<Result<Writes, Step>, StoreError> {
    let mut widen = Vec::new();
    let mut changes = Vec::new();
    for id in &p.idp_identifiers {
        match other_holder(read, &p.pool_id, &p.name, id)? {
            Ok(Some(_)) => return Ok(Err(Step::Refuse(ProviderWrite::IdentifierTaken(id.clone())))),
            Ok(None) => changes.push((claim_key(&p.pool_id, id), Change::Put(claim_doc(&p.pool_id, id, &p.name, now)))),
            Err(key) => widen.push(key),
        }
    }
    if !widen.is_empty() {
        return Ok(Err(Step::Widen(widen)));
    }
    Ok(Ok(changes))
}

impl UserPools {
    /// Runs `decide` over the documents of `keys` as one store transaction, reading more when it
    /// asks (a claim's holder, an identifier added meanwhile) and deciding again.
    async fn provider_transaction(
        &self,
        keys: Vec<DocumentKey>,
        mut decide: impl FnMut(&Read<'_>) -> Result<Step, StoreError> + Send,
    ) -> Result<ProviderWrite, Refusal> {
        let mut keys: BTreeSet<DocumentKey> = keys.into_iter().collect();
        for _ in 0..WIDEN_ATTEMPTS {
            let list: Vec<DocumentKey> = keys.iter().cloned().collect();
            let mut outcome = None;
            let mut updater = |docs: &[Option<Document>]| -> Result<Vec<Change<Document>>, StoreError> {
                let read = Read::new(&list, docs);
                let step = decide(&read)?;
                let mut changes: HashMap<DocumentKey, Change<Document>> = HashMap::new();
                let report = match step {
                    Step::Write(writes, report) => {
                        changes.extend(writes);
                        Some(report)
                    }
                    Step::Refuse(report) => Some(report),
                    Step::Widen(more) => {
                        outcome = Some(Err(more));
                        None
                    }
                };
                if let Some(report) = report {
                    outcome = Some(Ok(report));
                }
                Ok(list.iter().map(|k| changes.remove(k).unwrap_or(Change::Keep)).collect())
            };
            self.kernel.store.update_documents_with(&list, &mut updater).await?;
            match outcome {
                Some(Ok(report)) => return Ok(report),
                Some(Err(more)) => keys.extend(more),
                None => return Err(Refusal::storage("a provider change never ran")),
            }
        }
        Err(Refusal::storage("a provider change kept finding claims it had not read"))
    }

    /// Stores a new provider with the claims of its identifiers, together.
    pub(crate) async fn create_provider_records(&self, p: &IdentityProvider) -> Result<ProviderWrite, Refusal> {
        let mut keys = vec![record_key(&p.pool_id, &p.name)];
        keys.extend(p.idp_identifiers.iter().map(|i| claim_key(&p.pool_id, i)));
        let now = p.updated_at;
        self.provider_transaction(keys, |read| {
            let own = record_key(&p.pool_id, &p.name);
            if read.get(&own).ok().flatten().is_some() {
                return Ok(Step::Refuse(ProviderWrite::NameTaken));
            }
            let mut writes = match claim_all(read, p, now)? {
                Ok(w) => w,
                Err(step) => return Ok(step),
            };
            let record = Document::new(KIND_IDP, &own.1, &p.pool_id, p, p.created_at, p.updated_at);
            writes.push((own, Change::Put(record)));
            Ok(Step::Write(writes, ProviderWrite::Done(Box::new(p.clone()))))
        })
        .await
    }

    /// Replaces a provider by `next` (its `created_at` and, with `keep_secret`, its stored OIDC
    /// client secret kept), claiming identifiers it adds and releasing those it drops, together.
    /// `known` are the identifiers it was read with (the stored ones are read again inside).
    pub(crate) async fn update_provider_records(
        &self,
        next: &IdentityProvider,
        known: &[String],
        keep_secret: bool,
    ) -> Result<ProviderWrite, Refusal> {
        let (pool_id, name) = (next.pool_id.as_str(), next.name.as_str());
        let mut keys = vec![record_key(pool_id, name)];
        let ids: BTreeSet<&String> = known.iter().chain(&next.idp_identifiers).collect();
        keys.extend(ids.into_iter().map(|i| claim_key(pool_id, i)));
        let now = next.updated_at;
        self.provider_transaction(keys, |read| {
            let own = record_key(pool_id, name);
            let Some(stored) = read.get(&own).ok().flatten() else {
                return Ok(Step::Refuse(ProviderWrite::Missing));
            };
            let stored = provider_of(stored)?;
            let unread: Vec<DocumentKey> =
                stored.idp_identifiers.iter().map(|i| claim_key(pool_id, i)).filter(|k| read.get(k).is_err()).collect();
            if !unread.is_empty() {
                return Ok(Step::Widen(unread));
            }
            let mut p = next.clone();
            p.created_at = stored.created_at;
            if keep_secret {
                match stored.details.get("client_secret") {
                    Some(s) => p.details.insert("client_secret".into(), s.clone()),
                    None => p.details.remove("client_secret"),
                };
            }
            let mut writes = match claim_all(read, &p, now)? {
                Ok(w) => w,
                Err(step) => return Ok(step),
            };
            for dropped in stored.idp_identifiers.iter().filter(|i| !p.idp_identifiers.contains(i)) {
                let key = claim_key(pool_id, dropped);
                if read.get(&key).ok().flatten().and_then(holder) == Some(name) {
                    writes.push((key, Change::Delete));
                }
            }
            let record = Document::new(KIND_IDP, &own.1, pool_id, &p, p.created_at, p.updated_at);
            writes.push((own, Change::Put(record)));
            Ok(Step::Write(writes, ProviderWrite::Done(Box::new(p))))
        })
        .await
    }

    /// Deletes a provider with all that belongs to it: its identifier claims, its provider links,
    /// and its name in the pool's app clients' SupportedIdentityProviders. `known` is the
    /// provider as read before.
    pub(crate) async fn delete_provider_records(&self, known: &IdentityProvider) -> Result<ProviderWrite, Refusal> {
        let (pool_id, name) = (known.pool_id.as_str(), known.name.as_str());
        let links = self.provider_link_ids(pool_id, name).await?;
        let clients = self.clients_supporting(pool_id, name).await?;
        let mut keys = vec![record_key(pool_id, name)];
        keys.extend(known.idp_identifiers.iter().map(|i| claim_key(pool_id, i)));
        keys.extend(links.iter().map(|id| (KIND_LINK.to_string(), id.clone())));
        keys.extend(clients.iter().map(|id| (KIND_CLIENT.to_string(), id.clone())));
        let now = self.kernel.now();
        let written = self
            .provider_transaction(keys, |read| {
                let own = record_key(pool_id, name);
                let Some(stored) = read.get(&own).ok().flatten() else {
                    return Ok(Step::Refuse(ProviderWrite::Missing));
                };
                let stored = provider_of(stored)?;
                let mut writes = vec![(own, Change::Delete)];
                for id in &stored.idp_identifiers {
                    let key = claim_key(pool_id, id);
                    match read.get(&key) {
                        Err(()) => return Ok(Step::Widen(vec![key])),
                        Ok(Some(c)) if holder(c) == Some(name) => writes.push((key, Change::Delete)),
                        Ok(_) => {}
                    }
                }
                for id in &links {
                    let key = (KIND_LINK.to_string(), id.clone());
                    if let Ok(Some(_)) = read.get(&key) {
                        writes.push((key, Change::Delete));
                    }
                }
                for id in &clients {
                    let key = (KIND_CLIENT.to_string(), id.clone());
                    let Ok(Some(d)) = read.get(&key) else { continue };
                    let mut client: PoolClient = serde_json::from_value(d.body.clone())
                        .map_err(|e| StoreError::Backend(format!("stored app client {id:?} is not readable: {e}")))?;
                    if client.supported_identity_providers.iter().any(|p| p == name) {
                        client.supported_identity_providers.retain(|p| p != name);
                        client.updated_at = now;
                        writes.push((key, Change::Put(pool_client_document(&client))));
                    }
                }
                Ok(Step::Write(writes, ProviderWrite::Done(Box::new(stored))))
            })
            .await?;
        if matches!(written, ProviderWrite::Done(_)) {
            // A link made while the deletion was under way (after its links were gathered) names
            // a provider that is gone: it goes too, each one only while no provider has the name.
            for id in self.provider_link_ids(pool_id, name).await? {
                self.drop_orphan_link(pool_id, name, &id).await?;
            }
        }
        Ok(written)
    }

    /// Removes link `id` of provider `name` if the pool has no provider of that name, in one step.
    async fn drop_orphan_link(&self, pool_id: &str, name: &str, id: &str) -> Result<(), Refusal> {
        let keys = vec![record_key(pool_id, name), (KIND_LINK.to_string(), id.to_string())];
        let mut updater = |docs: &[Option<Document>]| -> Result<Vec<Change<Document>>, StoreError> {
            Ok(match docs {
                [None, Some(_)] => vec![Change::Keep, Change::Delete],
                _ => vec![Change::Keep, Change::Keep],
            })
        };
        self.kernel.store.update_documents_with(&keys, &mut updater).await?;
        Ok(())
    }

    /// The ids of the pool's provider links from provider `name`.
    async fn provider_link_ids(&self, pool_id: &str, name: &str) -> Result<Vec<String>, Refusal> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let docs = self.kernel.store.list_documents(KIND_LINK, Some(pool_id), after.as_deref(), PAGE).await?;
            let full = docs.len() == PAGE as usize;
            after = docs.last().map(|d| d.id.clone());
            for d in docs {
                let id = d.id.clone();
                let link: ProviderLink = from_doc(d)?;
                if link.provider == name {
                    out.push(id);
                }
            }
            if !full {
                return Ok(out);
            }
        }
    }

    /// The ids of the pool's app clients that name provider `name` among their SupportedIdentityProviders.
    async fn clients_supporting(&self, pool_id: &str, name: &str) -> Result<Vec<String>, Refusal> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let docs = self.kernel.store.list_documents(KIND_CLIENT, Some(pool_id), after.as_deref(), PAGE).await?;
            let full = docs.len() == PAGE as usize;
            after = docs.last().map(|d| d.id.clone());
            for d in docs {
                let c: PoolClient = from_doc(d)?;
                if c.supported_identity_providers.iter().any(|p| p == name) {
                    out.push(c.client_id);
                }
            }
            if !full {
                return Ok(out);
            }
        }
    }
}
