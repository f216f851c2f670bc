//! The embedded store's files hold private keys, sealed secrets and hashes: they are readable by
//! their owner only, whatever the umask (files 0600, a data directory made here 0700). Database
//! files an older version left open to others are tightened, with a warning naming them; an
//! existing directory is only warned about (it may be `/tmp` or a home directory, which a chmod
//! would break for others; the files in it are private anyway).

use std::path::Path;

/// Creates the data directory (and missing parents) as 0700; an existing one open to others is
/// named in a warning.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        if dir.is_dir() {
            let mode = std::fs::metadata(dir)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    path = %dir.display(),
                    mode = format!("{mode:o}"),
                    "the data directory is open to others (its database files are not); chmod 700 it"
                );
            }
            return Ok(());
        }
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
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

/// Sets `mode` on the file `path` when its group or others may access it.
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
            "others could read this file of secrets; made it readable by its owner only"
        );
    }
    Ok(())
}
