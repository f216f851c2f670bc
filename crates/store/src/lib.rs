//! Storage backends for tokenbridge: implementations of [`tokenbridge_core::Store`].
//!
//! [`open`] picks the backend from a URL or path; `conformance` (feature `conformance`, enabled
//! only by tests) is the suite every backend must pass.

#[cfg(feature = "conformance")]
pub mod conformance;
mod files;
mod group_commit;
mod postgres;
mod records;
mod sqlite;
mod statements;

pub use files::private_dir;
pub use postgres::{PoolSettings, PostgresStore};
pub use sqlite::SqliteStore;

use anyhow::bail;
use std::path::Path;
use std::sync::Arc;
use tokenbridge_core::Store;

/// Opens the store named by `url_or_path`: a `sqlite://path` / `sqlite:path` URL or a plain
/// file path (SQLite, created if missing). `sqlite:///abs/path` is absolute,
/// `sqlite://rel/path` relative to the working directory. A `postgres://` / `postgresql://` URL
/// opens a [`PostgresStore`] with the default [`PoolSettings`].
#[tokenbridge_core::entry_point]
pub async fn open(url_or_path: &str) -> anyhow::Result<Arc<dyn Store>> {
    open_with(url_or_path, PoolSettings::default()).await
}

/// Like [`open`], with the PostgreSQL pool settings (SQLite ignores them: one writer, a few readers).
#[tokenbridge_core::entry_point]
pub async fn open_with(url_or_path: &str, settings: PoolSettings) -> anyhow::Result<Arc<dyn Store>> {
    let target = url_or_path.trim();
    let lower = target.to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        let store = PostgresStore::open(target, settings).await?;
        // The URL may carry a password: it is not logged.
        tracing::info!("opened PostgreSQL store");
        return Ok(Arc::new(store) as Arc<dyn Store>);
    }
    let path = if lower.starts_with("sqlite://") {
        &target["sqlite://".len()..]
    } else if lower.starts_with("sqlite:") {
        &target["sqlite:".len()..]
    } else if let Some((scheme, _)) = target.split_once("://") {
        bail!("unsupported storage URL scheme {scheme:?} (expected sqlite:// or a file path)");
    } else {
        target
    };
    if path.is_empty() {
        bail!("storage URL {url_or_path:?} names no database file");
    }
    // Every instance must see the same state, which a private in-memory database cannot give.
    if path == ":memory:" || path.starts_with(":memory:") || path.contains("mode=memory") {
        bail!("in-memory SQLite is not supported; give a database file path");
    }
    if path.contains('?') {
        bail!("SQLite URL options are not supported in {url_or_path:?}; give a plain path");
    }
    let store = SqliteStore::open(Path::new(path)).await?;
    tracing::info!(path, "opened SQLite store");
    Ok(Arc::new(store) as Arc<dyn Store>)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn open_err(url: &str) -> String {
        match open(url).await {
            Ok(_) => panic!("{url} opened"),
            Err(e) => e.to_string(),
        }
    }

    #[tokio::test]
    async fn rejects_what_it_cannot_open() {
        // Postgres URLs go to the Postgres store (the test database, if any, is in tests/postgres.rs).
        for url in ["postgres://db:port/tb", "postgresql://db:port/tb"] {
            assert!(open_err(url).await.contains("invalid PostgreSQL URL"), "{url}");
        }
        assert!(open_err("mysql://db").await.contains("unsupported"));
        assert!(open_err("sqlite::memory:").await.contains("in-memory"));
        assert!(open_err("sqlite://").await.contains("no database file"));
        assert!(open_err("sqlite://x.db?mode=rwc").await.contains("options"));
    }

    #[tokio::test]
    async fn opens_urls_and_paths() {
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain.db");
        open(plain.to_str().unwrap()).await.unwrap().ping().await.unwrap();
        assert!(plain.exists());
        let url = format!("sqlite://{}", dir.path().join("url.db").display());
        open(&url).await.unwrap().ping().await.unwrap();
        assert!(dir.path().join("url.db").exists());
    }
}
