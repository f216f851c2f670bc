//! The server's tests, as one test binary (each binary links the whole server and demo, so one
//! link instead of one per file): the wire formats of every door against the real server on an
//! ephemeral port, over a real store. The engine's decisions themselves are proven without HTTP
//! in `crates/core/tests/engine`.
//!
//! Tests that need PostgreSQL (`multi_instance`) read `TOKENBRIDGE_TEST_POSTGRES_URL` and fail
//! without it; run a part with a filter, e.g. `cargo test --workspace --test server -- multi_instance::`.

mod common;

mod authorizer;
mod cloudtrail;
mod console;
mod exchange;
mod graphql;
mod hosted_oidc;
mod hosted_saml;
mod hosted_signin;
mod identity_pools;
mod master_key;
mod metrics_startup;
mod multi_instance;
mod opaque;
mod operations;
mod refresh;
mod security;
mod sts;
mod tls;
mod userpool;
mod userpool_federation;
