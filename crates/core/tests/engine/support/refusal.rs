//! What a test reads of a refusal, whatever door's type carries it: the first failing check of
//! its trail, its message, and the door's word for it. Every assertion on a refusal goes through
//! here, so a change to the refusal types is adapted in this one file.

use tokenbridge_core::appsync::GraphqlDenied;
use tokenbridge_core::iam::QueryError;
use tokenbridge_core::userpool::CognitoError;
use tokenbridge_core::{Denial, Trail};

pub trait Refused: std::fmt::Debug {
    fn trail(&self) -> &Trail;
    /// What the refusal says (to the client, or on the record where the two differ).
    fn message(&self) -> String;
    /// The door's name for it: an OAuth error code, an AWS exception name.
    fn code(&self) -> String;
}

impl Refused for Denial {
    fn trail(&self) -> &Trail {
        &self.trail
    }
    fn message(&self) -> String {
        self.message.clone()
    }
    fn code(&self) -> String {
        self.code.oauth_error().to_string()
    }
}

impl Refused for CognitoError {
    fn trail(&self) -> &Trail {
        &self.trail
    }
    fn message(&self) -> String {
        self.message.clone()
    }
    fn code(&self) -> String {
        self.exception.to_string()
    }
}

impl Refused for QueryError {
    fn trail(&self) -> &Trail {
        &self.trail
    }
    fn message(&self) -> String {
        self.message.clone()
    }
    fn code(&self) -> String {
        self.code.to_string()
    }
}

impl Refused for GraphqlDenied {
    fn trail(&self) -> &Trail {
        &self.denial.trail
    }
    /// The record's message (the client's is shorter: it names only the field).
    fn message(&self) -> String {
        self.denial.message.clone()
    }
    fn code(&self) -> String {
        self.error_type().to_string()
    }
}

/// The first failing check on the refusal's trail ("" when none failed).
pub fn failed_check(e: &impl Refused) -> String {
    e.trail().first_failure().map(|s| s.check.clone()).unwrap_or_default()
}

/// The detail of the first failing check.
pub fn failed_detail(e: &impl Refused) -> String {
    e.trail().first_failure().map(|s| s.detail.clone()).unwrap_or_default()
}

/// The refusal's message.
pub fn message(e: &impl Refused) -> String {
    e.message()
}

/// The door's name for the refusal.
pub fn code(e: &impl Refused) -> String {
    e.code()
}
