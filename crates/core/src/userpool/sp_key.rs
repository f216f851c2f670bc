//! Each pool's SAML service-provider key pair: an RSA key (signing AuthnRequests, decrypting
//! EncryptedResponses) with its self-signed certificate, made once per pool by insert-if-absent;
//! the private key is sealed with the master key, bound to its pool, as other server keys are.

use super::*;
use tokenbridge_saml::RsaKey;

const KIND_SP_KEY: &str = "pool_sp_key";
/// How long the SP certificate is valid (Cognito's are ten years).
const CERTIFICATE_DAYS: i64 = 3650;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredSpKey {
    /// PKCS#8 DER, base64: `sealed:` (with the master key, bound to the pool) or `plain:`.
    private_key: String,
    /// The certificate, base64 DER (what Describe calls ActiveEncryptionCertificate).
    certificate: String,
}

/// A pool's SP key pair as the sign-in uses it.
pub struct SpKey {
    pub key: RsaKey,
    /// Base64 DER.
    pub certificate: String,
}

fn binding(pool_id: &str) -> String {
    format!("saml sp key {pool_id}")
}

impl UserPools {
    /// The pool's SP key pair, made now when it has none (two makers racing keep one: the first
    /// stored).
    #[crate::entry_point]
    pub async fn sp_key(&self, pool_id: &str, now: i64) -> Result<SpKey, String> {
        if let Some(d) = self.kernel.store.get_document(KIND_SP_KEY, pool_id).await.map_err(|e| e.to_string())? {
            return self.open_sp_key(pool_id, d);
        }
        let (key, cert) = tokio::task::spawn_blocking(move || -> Result<(RsaKey, String), String> {
            let key = RsaKey::generate().map_err(|e| e.to_string())?;
            let cert =
                key.self_signed_certificate("tokenbridge SAML SP", now, CERTIFICATE_DAYS).map_err(|e| e.to_string())?;
            Ok((key, cert.base64()))
        })
        .await
        .map_err(|e| e.to_string())??;
        let private_key = match self.kernel.master.as_deref() {
            Some(m) => format!("sealed:{}", STANDARD.encode(m.seal_for(&binding(pool_id), key.pkcs8_der()))),
            None => format!("plain:{}", STANDARD.encode(key.pkcs8_der())),
        };
        let stored = StoredSpKey { private_key, certificate: cert };
        match self.kernel.store.insert_document(&Document::new(KIND_SP_KEY, pool_id, pool_id, &stored, now, now)).await
        {
            Ok(()) => Ok(SpKey { key, certificate: stored.certificate }),
            Err(StoreError::Conflict(_)) => {
                match self.kernel.store.get_document(KIND_SP_KEY, pool_id).await.map_err(|e| e.to_string())? {
                    Some(d) => self.open_sp_key(pool_id, d),
                    None => Err(format!("the SAML SP key of pool {pool_id} vanished while it was made")),
                }
            }
            Err(e) => Err(e.to_string()),
        }
    }

    fn open_sp_key(&self, pool_id: &str, d: Document) -> Result<SpKey, String> {
        let stored: StoredSpKey =
            serde_json::from_value(d.body).map_err(|e| format!("stored SAML SP key of {pool_id}: {e}"))?;
        let der = if let Some(sealed) = stored.private_key.strip_prefix("sealed:") {
            let m = self.kernel.master.as_deref().ok_or("the SAML SP key is sealed but no master key is configured")?;
            m.open_for(&binding(pool_id), &STANDARD.decode(sealed).map_err(|e| e.to_string())?)?
        } else if let Some(plain) = stored.private_key.strip_prefix("plain:") {
            STANDARD.decode(plain).map_err(|e| e.to_string())?
        } else {
            return Err(format!("stored SAML SP key of {pool_id} has an unknown encoding"));
        };
        let key = RsaKey::from_pkcs8_der(&der).map_err(|e| e.to_string())?;
        Ok(SpKey { key, certificate: stored.certificate })
    }
}
