//! Issue 13, item 8 (secrets at rest), through the binary: the data directory `serve` makes is
//! 0700 and its database files 0600; database files an older version left open to others are
//! tightened at start, with a warning (an existing open directory is only warned about); each
//! signing key stored unsealed is named (its kid, never the key) in a WARN at start; started with
//! a master key, the key is resealed and `keys list` says it is sealed. The library-level proofs
//! are in crates/server/tests/server/security/secrets_at_rest.rs.

use crate::common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The server's log once it holds `line` (or after 5 s): another thread copies it from the
/// child's pipe, so on a busy machine a line logged before the server answered may come later.
async fn log_with(server: &Server, line: &str) -> String {
    for _ in 0..100 {
        let log = server.stderr();
        if log.contains(line) {
            return log;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    server.stderr()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o777
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The database and those of its WAL files that exist.
fn database_files(data: &Path) -> Vec<std::path::PathBuf> {
    ["tokenbridge.db", "tokenbridge.db-wal", "tokenbridge.db-shm"]
        .iter()
        .map(|f| data.join(f))
        .filter(|p| p.exists())
        .collect()
}

#[tokio::test]
async fn serve_keeps_its_data_private_and_names_unsealed_keys() {
    let t = tempfile::Builder::new().prefix("tokenbridge-cli-test-").tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let data = t.path().join("data");
    let config = t.path().join("tokenbridge.toml");
    let settings =
        format!("[server]\nlisten = \"127.0.0.1:{port}\"\n\n[storage]\ndata_dir = {:?}\n", data.display().to_string());
    std::fs::write(&config, &settings).unwrap();

    let server = start_serve(&config, &base, &[]).await;
    let log = log_with(&server, "signing key stored unsealed").await;
    drop(server);
    assert_eq!(mode(&data), 0o700, "the data directory");
    let files = database_files(&data);
    assert!(files.len() >= 2, "the database and its WAL: {files:?}");
    for f in &files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    let keys = json_lines(&ok(tb_in(&data, &["keys", "list"]), None));
    let kid = keys[0]["kid"].as_str().unwrap().to_string();
    assert_eq!(keys[0]["sealed"], false);
    let warning = log.lines().find(|l| l.contains("WARN") && l.contains("signing key stored unsealed"));
    let warning = warning.unwrap_or_else(|| panic!("no WARN naming the unsealed key:\n{log}"));
    assert!(warning.contains(&kid), "the WARN names kid {kid}: {warning}");

    // Left open to others (as an older version made them), with a master key configured now.
    // Listed again: `keys list` closing the database cleanly may have removed its WAL files.
    chmod(&data, 0o755);
    for f in database_files(&data) {
        chmod(&f, 0o644);
    }
    let master = t.path().join("master.key");
    std::fs::write(&master, "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n").unwrap();
    chmod(&master, 0o600);
    std::fs::write(&config, format!("{settings}\n[issuer]\nmaster_key_file = {:?}\n", master.display().to_string()))
        .unwrap();
    let server = start_serve(&config, &base, &[]).await;
    let log = log_with(&server, "signing key resealed").await;
    drop(server);
    for f in database_files(&data) {
        assert_eq!(mode(&f), 0o600, "{}, tightened", f.display());
    }
    assert!(log.contains("made it readable by its owner only"), "the tightening is said:\n{log}");
    assert!(log.contains("the data directory is open to others"), "the open directory is named:\n{log}");
    let resealed = log.lines().find(|l| l.contains("signing key resealed"));
    assert!(resealed.is_some_and(|l| l.contains(&kid)), "the reseal names kid {kid}:\n{log}");
    assert!(!log.contains("signing key stored unsealed"), "{log}");
    let keys = json_lines(&ok(tb_in(&data, &["keys", "list"]), None));
    assert_eq!((keys[0]["kid"].as_str(), &keys[0]["sealed"]), (Some(kid.as_str()), &serde_json::json!(true)));
}
