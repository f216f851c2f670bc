//! 10. Trusted proxies.
