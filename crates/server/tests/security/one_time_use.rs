//! 1. One-time use per token, not per spelling.
