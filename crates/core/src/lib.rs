//! tokenbridge engine: every decision the broker makes, free of any web or SQL stack.
//!
//! Protocol adapters (in `tokenbridge-server`) parse a request into a typed command, call the
//! [`engine::Engine`], and render its answer or its [`refusal::Refusal`] in their own protocol.

pub mod appsync;
pub mod audit;
pub mod authorizer;
pub mod claim_expressions;
pub mod clock;
pub mod config;
pub mod directory;
pub mod engine;
pub mod excerpt;
pub mod hosted_signin;
pub mod iam;
pub mod identity_pool;
pub mod issuer;
mod kernel;
pub mod model;
mod operation;
pub mod password;
pub mod pool_names;
pub mod refusal;
pub mod secrets;
pub mod store;
pub mod tokens;
pub mod trail;
pub mod upstream;
pub mod userpool;

// The pure protocols live in leaf crates; re-exported under their old paths so the engine and
// its callers name them as before.
pub use tokenbridge_jose as jose;
pub use tokenbridge_policy as policy;
pub use tokenbridge_sigv4 as sigv4;
pub use tokenbridge_srp as srp;

/// Marks a public async function of the engine (and of the store, server and demo crates): it
/// returns a boxed future, so its body (and every private async function it awaits) is compiled
/// once, in its own crate. An unboxed `async fn`'s state
/// machine is compiled again in each crate that awaits it (the server, the demo, the CLI), which
/// made the engine's code most of a release build; the price is one allocation per call.
pub use async_recursion::async_recursion as entry_point;

pub use clock::{Clock, ManualClock, SystemClock};
pub use engine::Engine;
pub use refusal::{ErrorCodes, Reason, Refusal};
pub use store::Store;
pub use trail::Trail;
