//! For the tests that call the engine as a door does (once it verified the signature): the
//! context and caller a door hands the engine, and refusals in the words the door answers with.

use tokenbridge_core::audit::RequestContext;
use tokenbridge_core::iam::CallerIdentity;
use tokenbridge_core::{Refusal, Trail};
use tokenbridge_server::aws::{cognito_error_code, cognito_words};
use tokenbridge_server::identity_pools::identity_words;
use tokenbridge_server::query::query_words;

/// Who signed: the admin credentials.
pub fn admin() -> CallerIdentity {
    CallerIdentity::Admin { access_key_id: "AKIATEST".into() }
}

/// A request to the user-pool door.
pub fn user_pool_ctx() -> RequestContext {
    RequestContext::new("test").named_by(cognito_error_code)
}

/// A request to the identity-pool door.
pub fn identity_pool_ctx() -> RequestContext {
    RequestContext::new("test").named_by(tokenbridge_server::identity_pools::error_code)
}

/// A request to the query door (IAM, STS).
pub fn query_ctx() -> RequestContext {
    RequestContext::new("test").named_by(tokenbridge_server::query::error_code)
}

/// A refusal as the query door (IAM, STS) or the identity-pool door answers it.
#[derive(Debug)]
pub struct QueryError {
    pub code: &'static str,
    pub status: u16,
    pub message: String,
    pub trail: Trail,
}

impl QueryError {
    pub fn iam(r: Refusal) -> Self {
        let (code, status) = query_words(r.reason);
        Self { code, status: status.as_u16(), message: r.message, trail: r.trail }
    }

    pub fn identity(r: Refusal) -> Self {
        let (code, status) = identity_words(r.reason);
        Self { code, status: status.as_u16(), message: r.message, trail: r.trail }
    }
}

/// A refusal as the user-pool door answers it.
#[derive(Debug)]
pub struct CognitoError {
    pub exception: &'static str,
    pub status: u16,
    pub message: String,
    pub trail: Trail,
}

impl From<Refusal> for CognitoError {
    fn from(r: Refusal) -> Self {
        let (exception, status) = cognito_words(r.reason);
        Self { exception, status: status.as_u16(), message: r.message, trail: r.trail }
    }
}
