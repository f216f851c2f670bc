//! The engine's flows proven without HTTP: each test opens an [`support::Broker`] (the engine on
//! a real SQLite store in a temporary directory) and calls the engine's entry points as the doors
//! call them. Every refusal is asserted by its failing check, on the refusal and on its audit
//! record. The wire formats (status codes, error bodies, headers) are the server's tests.

mod support;

mod audit;
mod custom_auth;
mod exchange;
mod exchange_refusals;
mod federation;
mod hosted_signin;
mod lockout;
mod policy;
mod refresh;
mod roles;
mod saml_signin;
