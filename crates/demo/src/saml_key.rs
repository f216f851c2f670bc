//! The demo SAML IdP's signing key (RSA-2048) and self-signed certificate, made on the first run
//! and kept in the data directory (`saml-idp/key.pem`, 0600, and `saml-idp/cert.pem`), then
//! reused, so an SP that trusted the demo's metadata once keeps trusting it, as with the TLS
//! certificate ([`crate::tls`]). Demo instances sharing one store share one pair: the first one
//! offered to the store setting `demo_idp.saml_signing` is everyone's ([`ensure_shared`]), and
//! each instance keeps a copy of it in its data directory.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use tokenbridge_core::Store;
use tokenbridge_saml::{verify_response, AssertionSpec, Certificate, Expectations, IdpMetadata, IdpSigner, RsaKey};

use crate::tls::Origin;

/// Years a new certificate is valid: SAML signing certificates are trusted through the
/// metadata, not a CA, so a long life spares the SP a rotation.
const VALID_DAYS: i64 = 3650;

/// The IdP's key pair and where it is kept.
#[derive(Debug, Clone)]
pub struct SamlIdpKey {
    pub key: RsaKey,
    pub certificate: Certificate,
    pub key_file: PathBuf,
    pub cert_file: PathBuf,
    pub origin: Origin,
}

/// Store setting holding the pair every instance on the store uses: JSON with the base64 PKCS#8
/// `key` and the base64 DER `certificate`.
const SHARED_SETTING: &str = "demo_idp.saml_signing";

/// [`ensure`], then the pair shared on `store`: this data directory's when it is the first one
/// offered, else the one already there, which then replaces this directory's copy.
#[tokenbridge_core::entry_point]
pub async fn ensure_shared(data_dir: &Path, store: &dyn Store, now: i64) -> anyhow::Result<SamlIdpKey> {
    let local = ensure(data_dir, now)?;
    let offered = json!({ "key": STANDARD.encode(local.key.pkcs8_der()), "certificate": local.certificate.base64() });
    let shared = store.put_setting_if_absent(SHARED_SETTING, &offered.to_string()).await?;
    let shared: Value = serde_json::from_str(&shared)?;
    if shared == offered {
        return Ok(local);
    }
    let pair = (|| {
        let key = STANDARD.decode(shared["key"].as_str()?).ok()?;
        Some((RsaKey::from_pkcs8_der(&key).ok()?, Certificate::from_base64(shared["certificate"].as_str()?).ok()?))
    })();
    let Some((key, certificate)) = pair else {
        anyhow::bail!("setting {SHARED_SETTING} does not hold a PKCS#8 key and a certificate");
    };
    check_pair(&key, &certificate, now).map_err(|why| anyhow::anyhow!("setting {SHARED_SETTING}: {why}"))?;
    crate::write_private(&local.key_file, &key.pkcs8_pem())?;
    std::fs::write(&local.cert_file, certificate.to_pem())?;
    let origin = Origin::Replaced("another demo instance on this store made the pair in use".into());
    Ok(SamlIdpKey { key, certificate, origin, ..local })
}

/// The key and certificate kept in `data_dir/saml-idp/`, or new ones when there are none or the
/// kept pair is unusable (unreadable, or the key does not sign what the certificate verifies).
pub fn ensure(data_dir: &Path, now: i64) -> anyhow::Result<SamlIdpKey> {
    let dir = data_dir.join("saml-idp");
    let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
    let origin = if cert_file.exists() && key_file.exists() {
        match kept_pair(&key_file, &cert_file, now) {
            Ok((key, certificate)) => {
                return Ok(SamlIdpKey { key, certificate, key_file, cert_file, origin: Origin::Reused })
            }
            Err(why) => Origin::Replaced(why),
        }
    } else {
        Origin::Made
    };
    tokenbridge_store::private_dir(&dir)?;
    let key = RsaKey::generate()?;
    // A day back, for SPs whose clocks are a little behind.
    let certificate = key.self_signed_certificate("tokenbridge demo SAML IdP", now - 86_400, VALID_DAYS)?;
    // The key first: a run stopped in between leaves no certificate, so the next run makes both.
    crate::write_private(&key_file, &key.pkcs8_pem())?;
    std::fs::write(&cert_file, certificate.to_pem())?;
    Ok(SamlIdpKey { key, certificate, key_file, cert_file, origin })
}

/// The kept pair, if it reads and a response its key signs verifies with its certificate.
fn kept_pair(key_file: &Path, cert_file: &Path, now: i64) -> Result<(RsaKey, Certificate), String> {
    let read = |path: &Path| std::fs::read(path).map_err(|e| format!("{} cannot be read: {e}", path.display()));
    let key = RsaKey::from_pkcs8(&read(key_file)?).map_err(|e| format!("{}: {e}", key_file.display()))?;
    let pem = String::from_utf8(read(cert_file)?).map_err(|_| format!("{} is not text", cert_file.display()))?;
    let certificate = Certificate::from_pem(&pem).map_err(|e| format!("{}: {e}", cert_file.display()))?;
    check_pair(&key, &certificate, now)
        .map_err(|why| format!("{} and {}: {why}", key_file.display(), cert_file.display()))?;
    Ok((key, certificate))
}

/// Whether a response `key` signs verifies with `certificate`.
fn check_pair(key: &RsaKey, certificate: &Certificate, now: i64) -> Result<(), String> {
    let entity = "urn:tokenbridge:demo:key-check";
    let signer = IdpSigner::new(entity, key.clone(), certificate.clone());
    let (sp, acs) = ("urn:tokenbridge:demo:sp", "http://localhost/acs");
    let signed = signer.response_base64(&AssertionSpec::new("check", sp, acs, now)).map_err(|e| e.to_string())?;
    let metadata = IdpMetadata {
        entity_id: entity.into(),
        signing_certificates: vec![certificate.clone()],
        single_sign_on: Vec::new(),
        single_logout: Vec::new(),
        want_authn_requests_signed: false,
    };
    let mut expect = Expectations::new(&metadata, sp, acs, now);
    expect.allow_unsolicited = true;
    verify_response(&signed, &expect)
        .map(|_| ())
        .map_err(|r| format!("the certificate does not verify what the key signs: {r}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_750_000_000;

    #[test]
    fn made_once_then_reused_with_a_private_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let first = ensure(dir.path(), NOW).unwrap();
        assert_eq!(first.origin, Origin::Made);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&first.key_file).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the key is private; mode {mode:o}");
        }
        let again = ensure(dir.path(), NOW + 60).unwrap();
        assert_eq!(again.origin, Origin::Reused);
        assert_eq!(again.certificate.fingerprint(), first.certificate.fingerprint());
        assert_eq!(again.key.pkcs8_der(), first.key.pkcs8_der());
    }

    #[tokio::test]
    async fn instances_on_one_store_share_the_first_pair_and_keep_a_copy() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let store = tokenbridge_store::SqliteStore::open(&a.path().join("t.db")).await.unwrap();
        let first = ensure_shared(a.path(), &store, NOW).await.unwrap();
        assert_eq!(first.origin, Origin::Made);
        let second = ensure_shared(b.path(), &store, NOW).await.unwrap();
        assert!(matches!(second.origin, Origin::Replaced(_)), "{:?}", second.origin);
        assert_eq!(second.certificate.fingerprint(), first.certificate.fingerprint());
        assert_eq!(std::fs::read(&second.key_file).unwrap(), std::fs::read(&first.key_file).unwrap());
        assert_eq!(std::fs::read(&second.cert_file).unwrap(), std::fs::read(&first.cert_file).unwrap());
        // The copy is then this directory's own kept pair.
        let again = ensure_shared(b.path(), &store, NOW).await.unwrap();
        assert_eq!(again.origin, Origin::Reused);
        assert_eq!(again.certificate.fingerprint(), first.certificate.fingerprint());
    }

    #[test]
    fn a_certificate_of_another_key_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let first = ensure(dir.path(), NOW).unwrap();
        let other = RsaKey::generate().unwrap().self_signed_certificate("other", NOW, 1).unwrap();
        std::fs::write(&first.cert_file, other.to_pem()).unwrap();
        let again = ensure(dir.path(), NOW).unwrap();
        assert!(
            matches!(&again.origin, Origin::Replaced(why) if why.contains("does not verify")),
            "{:?}",
            again.origin
        );
        assert_ne!(again.certificate.fingerprint(), first.certificate.fingerprint());
    }
}
