//! 2. Forward-auth judges the path as sent.
