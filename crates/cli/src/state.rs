//! Finding the state: `--config`, `--data-dir` or `TOKENBRIDGE_DATA_DIR`, and opening the engine on it.

use crate::cli::Global;
use anyhow::Context;
use std::path::PathBuf;
use std::sync::Arc;
use tokenbridge_core::config::Config;
use tokenbridge_core::secrets::MasterKey;
use tokenbridge_core::{Engine, Store, SystemClock};

pub fn load_config(g: &Global) -> anyhow::Result<Config> {
    let mut cfg = match &g.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    cfg.apply_env();
    if let Some(d) = &g.data_dir {
        cfg.storage.data_dir = Some(d.clone());
    }
    if let Some(f) = &g.log_format {
        cfg.server.log_format = f.clone();
    }
    Engine::validate_config(&cfg)?;
    Ok(cfg)
}

/// Where the embedded database lives, or the explicit storage URL.
pub fn storage_location(cfg: &Config) -> anyhow::Result<String> {
    if let Some(u) = &cfg.storage.url {
        return Ok(u.clone());
    }
    let dir: PathBuf = cfg
        .storage
        .data_dir
        .clone()
        .context("no state given: pass --config with storage.data_dir, --data-dir, or set TOKENBRIDGE_DATA_DIR")?;
    tokenbridge_store::private_dir(&dir).with_context(|| format!("cannot create data dir {}", dir.display()))?;
    Ok(dir.join("tokenbridge.db").display().to_string())
}

/// Refuses a data directory without a database: commands that only read or change existing
/// state would otherwise create an empty one, which is nearly always a mistyped `--data-dir`.
pub fn require_existing_store(cfg: &Config) -> anyhow::Result<()> {
    if cfg.storage.url.is_some() {
        return Ok(());
    }
    let Some(dir) = &cfg.storage.data_dir else {
        anyhow::bail!("no state given: pass --config with storage.data_dir, --data-dir, or set TOKENBRIDGE_DATA_DIR")
    };
    let db = dir.join("tokenbridge.db");
    if !db.exists() {
        anyhow::bail!(
            "no database at {} (check --data-dir / TOKENBRIDGE_DATA_DIR / storage.data_dir; \
             `serve`, `demo` or `users add` create one)",
            db.display()
        );
    }
    Ok(())
}

pub fn master_key(cfg: &Config) -> anyhow::Result<Option<MasterKey>> {
    let text =
        match (std::env::var("TOKENBRIDGE_MASTER_KEY").ok().filter(|v| !v.is_empty()), &cfg.issuer.master_key_file) {
            (Some(v), _) => v,
            (None, Some(f)) => std::fs::read_to_string(f)
                .with_context(|| format!("issuer.master_key_file: cannot read {}", f.display()))?,
            (None, None) => return Ok(None),
        };
    MasterKey::from_base64(&text).map(Some).map_err(|e| anyhow::anyhow!("master key: {e}"))
}

async fn open_store(cfg: &Config) -> anyhow::Result<Arc<dyn Store>> {
    tokenbridge_store::open_with(&storage_location(cfg)?, pool_settings(cfg)).await
}

pub fn pool_settings(cfg: &Config) -> tokenbridge_store::PoolSettings {
    let s = &cfg.storage;
    tokenbridge_store::PoolSettings {
        max_connections: s.max_connections,
        acquire_timeout: std::time::Duration::from_millis(s.acquire_timeout_ms),
        connect_timeout: std::time::Duration::from_millis(s.connect_timeout_ms),
    }
}

/// Opens the engine on the configured store, writing nothing: every command opens it so; `serve`
/// then provisions it (`Engine::provision`).
#[tokenbridge_core::entry_point(?Send)]
pub async fn open_engine(cfg: Config) -> anyhow::Result<Arc<Engine>> {
    let store = open_store(&cfg).await?;
    let master = master_key(&cfg)?;
    Engine::open(cfg, store, Arc::new(SystemClock), master).await
}

pub fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into());
    // Colour only for a terminal: escape codes in log files and journald are noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    if format == "json" {
        let _ = builder.json().try_init();
    } else {
        let _ = builder.try_init();
    }
}
