//! How this server calls its providers: one HTTP client for all, no redirects followed, a bounded
//! connect; a provider with `ca_file` gets its own, trusting those certificates too.

use std::time::Duration;

/// The outbound client, trusting the certificates of `ca_file` besides the system's roots.
pub(super) fn client_trusting(ca_file: &std::path::Path, provider: &str) -> anyhow::Result<reqwest::Client> {
    let key = format!("providers.{provider}.ca_file");
    let pem = std::fs::read(ca_file).map_err(|e| anyhow::anyhow!("{key}: cannot read {}: {e}", ca_file.display()))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| anyhow::anyhow!("{key}: {} is not a PEM certificate bundle: {e}", ca_file.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{key}: {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", ca_file.display());
    }
    Ok(client().tls_certs_merge(certs).build()?)
}

/// How every call to a provider is made: no redirects followed, a bounded connect.
pub(super) fn client() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(3))
        .user_agent(concat!("tokenbridge/", env!("CARGO_PKG_VERSION")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_is_read_and_named_in_its_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let missing = dir.join("missing.pem");
        let e = client_trusting(&missing, "corp").unwrap_err().to_string();
        assert!(e.starts_with("providers.corp.ca_file: cannot read ") && e.contains("missing.pem"), "{e}");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        let e = client_trusting(&empty, "corp").unwrap_err().to_string();
        assert!(e.contains("holds no PEM certificate"), "{e}");
    }
}
