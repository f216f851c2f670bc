//! 8. Secrets at rest.
