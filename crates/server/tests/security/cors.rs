//! 9. CORS on the Cognito door.
