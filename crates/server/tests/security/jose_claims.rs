//! 7. JOSE header and claim checks.
