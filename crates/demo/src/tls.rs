//! `tokenbridge demo --tls`: a self-signed certificate for `localhost`, `127.0.0.1` and `::1`,
//! made on the first run and kept in the data directory (`tls/cert.pem`, `tls/key.pem`, the key
//! 0600), then reused while it is valid, so a browser or a `--cacert` that trusts it once keeps
//! trusting it. Its SHA-256 fingerprint is what browsers show for it.

use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The names the certificate is for: every way a local browser or curl reaches the demo.
pub const NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Days a new certificate is valid: under the 398 days browsers and Apple platforms accept for
/// a server certificate, whoever trusts it.
const VALID_DAYS: i64 = 397;

/// The demo's certificate and key files.
#[derive(Debug, Clone)]
pub struct DemoCertificate {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// SHA-256 of the certificate (DER), as browsers show it: upper-case hex pairs joined by `:`.
    pub fingerprint: String,
    pub origin: Origin,
}

/// Where the certificate came from on this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// None was kept; this one is new.
    Made,
    /// The one an earlier run made.
    Reused,
    /// The kept one could not be used (why); this one is new.
    Replaced(String),
}

/// The certificate kept in `data_dir/tls/`, or a new one when there is none or the kept one is
/// no longer valid for [`NAMES`] (expired, say).
pub fn ensure(data_dir: &Path) -> anyhow::Result<DemoCertificate> {
    let dir = data_dir.join("tls");
    let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
    let origin = if cert_file.exists() && key_file.exists() {
        match kept_certificate(&cert_file) {
            Ok(der) => {
                return Ok(DemoCertificate {
                    fingerprint: fingerprint(&der),
                    cert_file,
                    key_file,
                    origin: Origin::Reused,
                })
            }
            Err(why) => Origin::Replaced(why),
        }
    } else {
        Origin::Made
    };
    tokenbridge_store::private_dir(&dir)?;
    let (cert_pem, key_pem, der) = self_signed()?;
    // The key first: a run stopped in between leaves no certificate, so the next run makes both.
    crate::write_private(&key_file, &key_pem)?;
    std::fs::write(&cert_file, cert_pem)?;
    Ok(DemoCertificate { fingerprint: fingerprint(&der), cert_file, key_file, origin })
}

/// A new key pair (ECDSA P-256) and its self-signed certificate for [`NAMES`]: PEM certificate,
/// PEM key (PKCS#8), and the certificate's DER.
fn self_signed() -> anyhow::Result<(String, String, Vec<u8>)> {
    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::new(NAMES.map(String::from).to_vec())?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, "tokenbridge demo (localhost)");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let now = time::OffsetDateTime::now_utc();
    // A day back, for clients whose clocks are a little behind.
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(VALID_DAYS);
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem(), cert.der().to_vec()))
}

/// The kept certificate's DER, if it is valid now for every one of [`NAMES`], as a client that
/// trusts exactly it would check; else why not.
fn kept_certificate(path: &Path) -> Result<Vec<u8>, String> {
    let cert = CertificateDer::from_pem_file(path).map_err(|e| format!("{} cannot be read: {e}", path.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).map_err(|e| format!("{} is not a usable certificate: {e}", path.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| e.to_string())?;
    for name in NAMES {
        let server_name = ServerName::try_from(name).map_err(|e| e.to_string())?;
        verifier
            .verify_server_cert(&cert, &[], &server_name, &[], UnixTime::now())
            .map_err(|e| format!("{} is not valid for {name} now: {e}", path.display()))?;
    }
    Ok(cert.to_vec())
}

/// SHA-256 of a certificate's DER as browsers and `openssl x509 -fingerprint -sha256` show it.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
    digest.as_ref().iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_then_reused_and_valid_for_the_local_names() {
        let dir = tempfile::tempdir().unwrap();
        let first = ensure(dir.path()).unwrap();
        assert_eq!(first.origin, Origin::Made);
        assert_eq!(first.fingerprint.len(), 32 * 3 - 1, "{}", first.fingerprint);
        assert!(first.fingerprint.split(':').all(|h| h.len() == 2 && h.chars().all(|c| c.is_ascii_hexdigit())));
        let der = kept_certificate(&first.cert_file).unwrap();
        assert_eq!(fingerprint(&der), first.fingerprint);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&first.key_file).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the key is private; mode {mode:o}");
        }
        let again = ensure(dir.path()).unwrap();
        assert_eq!(again.origin, Origin::Reused);
        assert_eq!(again.fingerprint, first.fingerprint);
        assert_eq!(std::fs::read(&again.key_file).unwrap(), std::fs::read(&first.key_file).unwrap());
    }

    #[test]
    fn an_unusable_kept_certificate_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let first = ensure(dir.path()).unwrap();
        std::fs::write(&first.cert_file, "not a certificate").unwrap();
        let again = ensure(dir.path()).unwrap();
        assert!(matches!(&again.origin, Origin::Replaced(why) if why.contains("cert.pem")), "{:?}", again.origin);
        assert_ne!(again.fingerprint, first.fingerprint);
        assert!(kept_certificate(&again.cert_file).is_ok());
    }
}
