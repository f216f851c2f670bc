//! Built-in demo upstream provider (Salesforce-like).
