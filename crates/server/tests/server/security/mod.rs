//! The security regression suite: one module per attack class, each test asserting the refusal
//! and the reason it states (never the secret it was handed). Every defect found by attacking
//! the release demo gets a test here that fails before its fix.
//!
//! Some attacks can only be proven elsewhere (racing writers inside the store conformance suite,
//! a browser on another origin, nginx in front of the server); each module's header names where.

mod aws_credentials;
mod concurrent_limits;
mod cors;
mod denial_of_service;
mod enumeration;
mod forward_auth_paths;
mod jose_catalogue;
mod jose_claims;
mod one_time_use;
mod secrets_at_rest;
mod sessions;
mod settings_never_ignored;
mod small_holes;
mod trusted_proxies;
