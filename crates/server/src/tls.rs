//! The TLS listener's certificate and key (`[server.tls]`), read and checked when the server
//! starts: rustls on aws-lc-rs (the crypto provider the rest of the workspace uses), TLS 1.3 and
//! 1.2, ALPN `http/1.1` (the server speaks HTTP/1 only). Each error names the setting, the file
//! and what is wrong with it; nothing of a key is ever repeated.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use std::path::Path;
use std::sync::Arc;
use tokenbridge_core::config::{ConfigError, TlsConfig};

const CERT_KEY: &str = "server.tls.cert_file";
const KEY_KEY: &str = "server.tls.key_file";

/// A loaded `[server.tls]`: what the accept loop hands each connection's handshake.
#[derive(Clone)]
pub struct Tls {
    acceptor: tokio_rustls::TlsAcceptor,
}

// By hand: the acceptor holds the private key.
impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls { .. }")
    }
}

impl Tls {
    /// Reads and checks the certificate chain and the key: both files readable, PEM holding at
    /// least one certificate and one private key, the key one rustls can sign with, and the key
    /// the certificate's own.
    pub fn load(c: &TlsConfig) -> Result<Self, ConfigError> {
        Ok(Self { acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server_config(c)?)) })
    }

    pub(crate) fn acceptor(&self) -> &tokio_rustls::TlsAcceptor {
        &self.acceptor
    }
}

fn server_config(c: &TlsConfig) -> Result<rustls::ServerConfig, ConfigError> {
    let chain = read_chain(&c.cert_file)?;
    let key = read_key(&c.key_file)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let signing_key = provider.key_provider.load_private_key(key.clone_key()).map_err(|e| {
        ConfigError::new(
            KEY_KEY,
            format!(
                "{}: the key cannot be used for TLS ({}); RSA (2048 bits or more), ECDSA P-256/P-384 \
                 and Ed25519 keys can",
                c.key_file.display(),
                e
            ),
        )
    })?;
    match CertifiedKey::new(chain.clone(), signing_key).keys_match() {
        Ok(()) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err(ConfigError::new(
                KEY_KEY,
                format!(
                    "the key in {} does not match the certificate in {} (their public keys differ)",
                    c.key_file.display(),
                    c.cert_file.display()
                ),
            ))
        }
        // The key's public half is not known: nothing to compare, as rustls itself accepts.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(e) => {
            return Err(ConfigError::new(
                CERT_KEY,
                format!("{}: the first certificate cannot be read ({})", c.cert_file.display(), e),
            ))
        }
    }
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| ConfigError::new("server.tls", format!("no TLS version to offer: {e}")))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| {
            ConfigError::new(
                "server.tls",
                format!("{} and {} cannot be used together ({})", c.cert_file.display(), c.key_file.display(), e),
            )
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The certificates of a PEM file, in order.
fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let pem = read(CERT_KEY, path)?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::new(CERT_KEY, format!("{} is not valid PEM ({e})", path.display())))?;
    if chain.is_empty() {
        return Err(ConfigError::new(
            CERT_KEY,
            format!("{} holds no certificate (no PEM block -----BEGIN CERTIFICATE-----)", path.display()),
        ));
    }
    Ok(chain)
}

/// The first private key of a PEM file. Its errors never quote the file.
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, ConfigError> {
    let pem = read(KEY_KEY, path)?;
    match PrivateKeyDer::from_pem_slice(&pem) {
        Ok(key) => Ok(key),
        Err(rustls::pki_types::pem::Error::NoItemsFound) => {
            let encrypted = pem.windows(21).any(|w| w == b"ENCRYPTED PRIVATE KEY");
            let why = if encrypted {
                "holds an encrypted private key; give it decrypted (openssl pkey -in FILE -out FILE.dec)"
            } else {
                "holds no private key (no PEM block PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY)"
            };
            Err(ConfigError::new(KEY_KEY, format!("{} {why}", path.display())))
        }
        Err(_) => Err(ConfigError::new(KEY_KEY, format!("{} is not valid PEM", path.display()))),
    }
}

fn read(setting: &str, path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|e| ConfigError::new(setting, format!("cannot read {}: {e}", path.display())))
}
