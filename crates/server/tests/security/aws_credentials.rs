//! 6. Token types and ended sessions into AWS credentials.
