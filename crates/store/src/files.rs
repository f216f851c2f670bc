//! The embedded store's files hold private keys, sealed secrets and hashes: they are readable by
//! their owner only, whatever the umask (files 0600, the data directory 0700). Files an older
//! version left open to others are tightened, with a warning naming them.

use std::path::Path;

/// Creates the data directory (and missing parents) as 0700, or tightens an existing one.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        tighten(dir, 0o700)
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

/// Creates the database file as 0600 before SQLite opens it (SQLite makes its `-wal`, `-shm`
/// and `-journal` files with the database's mode), and tightens those that exist already.
pub(crate) fn private_database_files(db: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(db) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut name = db.as_os_str().to_owned();
            name.push(suffix);
            let f = Path::new(&name);
            if f.is_file() {
                tighten(f, 0o600)?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = db;
    Ok(())
}

/// Sets `mode` on `path` when its group or others may access it.
#[cfg(unix)]
fn tighten(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let was = std::fs::metadata(path)?.permissions().mode() & 0o777;
    if was & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        tracing::warn!(
            path = %path.display(),
            was = format!("{was:o}"),
            now = format!("{mode:o}"),
            "others could read this file or directory of secrets; made it readable by its owner only"
        );
    }
    Ok(())
}
