//! 5. User enumeration.
