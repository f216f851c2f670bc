//! 4. Denial of service bounds.
