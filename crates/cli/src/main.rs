//! The `tokenbridge` binary.

mod cli;
mod clients;
mod commands;
mod demo;
mod lambda;
mod roles;
mod state;
mod user_pools;

use clap::Parser;

// glibc's malloc showed as a tenth of a busy server's time; mimalloc halves that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc.h (the same in versions 2 and 3).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Memory freed after a burst goes back to the system at once. With mimalloc's default delay a
/// freed page is purged only when its own thread next allocates, so idle worker threads kept
/// tens of megabytes after a burst (bench/memory.sh). `MIMALLOC_PURGE_DELAY`, when set, decides.
fn return_freed_memory_at_once() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: mimalloc's option calls take and return plain integers and are thread-safe; the
    // option index is checked against the library's major version first.
    unsafe {
        if matches!(libmimalloc_sys::mi_version() / 10_000, 2 | 3) {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0);
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    return_freed_memory_at_once();
    let args = cli::Cli::parse();
    match commands::run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
