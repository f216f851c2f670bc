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

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    match commands::run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
