//! The `tokenbridge` binary's tests, as one test binary: each test runs the real binary (the
//! CLI, `demo`, `serve`, `lambda`) as a child process in a data directory of its own.
//!
//! `crash::postgres_restart_under_load_fails_fast_recovers_and_keeps_tokens` restarts the
//! machine's PostgreSQL, so it is ignored here and run alone:
//! `cargo test -p tokenbridge --test cli -- --ignored crash::`.

mod common;

mod audit;
mod config;
mod crash;
mod lambda;
mod roles;
mod secrets_at_rest;
mod serving;
mod tls;
mod user_pools;
mod users;
