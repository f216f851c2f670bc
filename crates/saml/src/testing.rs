//! Test support for the crates that check their SAML against pysaml2 with xmlsec1, an independent
//! implementation (`interop/saml/peer.py`). Behind the `testing` feature, which only
//! dev-dependencies turn on: nothing here is part of the service provider.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace's root directory (where `interop/` and the test venv are).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// Runs `interop/saml/peer.py ARGS` with the test Python (`TOKENBRIDGE_TEST_PYTHON`, else the
/// venv `scripts/test` makes at `<root>/.venv/bin/python`): its standard output, or its standard
/// error when it refused. Panics when that Python is missing.
pub fn peer(args: &[&str]) -> Result<String, String> {
    let python = std::env::var_os("TOKENBRIDGE_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} is missing: the pysaml2 checks need the venv scripts/test makes (or TOKENBRIDGE_TEST_PYTHON)",
        python.display()
    );
    let out = Command::new(&python)
        .arg(workspace_root().join("interop/saml/peer.py"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", python.display()));
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}
