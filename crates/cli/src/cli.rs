//! Command-line surface.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "tokenbridge",
    version,
    about = "Identity broker: exchange an outside provider's token for this system's tokens"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Configuration file (TOML). Environment variables TOKENBRIDGE_* override it.
    #[arg(long, global = true, env = "TOKENBRIDGE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory holding the embedded database (tokenbridge.db).
    #[arg(long, global = true, env = "TOKENBRIDGE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long, global = true, env = "TOKENBRIDGE_LOG_FORMAT")]
    pub log_format: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the broker with a configuration file.
    Serve(ServeArgs),
    /// Run the broker with a built-in demo upstream provider, a demo client and seeded users.
    Demo(DemoArgs),
    /// Manage local users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage app clients.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Manage Cognito-compatible user pools, their app clients and users (audited like the API).
    #[command(subcommand)]
    UserPools(UserPoolsCommand),
    /// Manage IAM roles and their inline policies (audited like the IAM API).
    #[command(subcommand)]
    Roles(RolesCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Read the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Evaluate IAM-style policies offline.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Run the API Gateway authorizer as an AWS Lambda function (custom runtime): answers each
    /// authorizer event from the Runtime API at AWS_LAMBDA_RUNTIME_API. Logs JSON unless --log-format.
    Lambda(LambdaArgs),
}

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Would a session of ROLE be allowed ACTION on RESOURCE? Prints the decision and, for every
    /// statement of the role's policies, why it did or did not apply (exit code 1 when denied).
    Simulate {
        /// The role's ARN or name.
        #[arg(long)]
        role: String,
        /// e.g. appsync:GraphQL
        #[arg(long)]
        action: String,
        /// e.g. arn:aws:appsync:ap-northeast-1:123456789012:apis/abc/types/Query/fields/listItems
        #[arg(long)]
        resource: String,
        /// Condition key values, KEY=VALUE (repeat a key for several values).
        #[arg(long = "context", value_name = "KEY=VALUE")]
        context: Vec<String>,
        /// A session policy (JSON file) that further limits the role's.
        #[arg(long)]
        session_policy: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (overrides server.listen).
    #[arg(long)]
    pub listen: Option<String>,
}

#[derive(Args, Debug)]
pub struct LambdaArgs {
    /// Stop after this many invocations (for tests and local runs against a Runtime API emulator).
    #[arg(long)]
    pub max_events: Option<u64>,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Signing algorithm of this issuer: RS256, ES256 or EdDSA.
    #[arg(long, default_value = "RS256")]
    pub algorithm: String,
    /// Database URL (`postgres://…` to share one database between several demo processes);
    /// default: SQLite in the data directory.
    #[arg(long, env = "TOKENBRIDGE_STORAGE_URL")]
    pub storage_url: Option<String>,
    /// The URL clients use (a load balancer, or another demo instance): the issuer of every
    /// token and of the demo upstream. Default: this instance's own address.
    #[arg(long)]
    pub public_url: Option<String>,
    /// Serve HTTPS with a self-signed certificate for localhost, 127.0.0.1 and ::1, made on the
    /// first run and kept in the data directory (`tls/cert.pem`); its path and SHA-256
    /// fingerprint are printed.
    #[arg(long)]
    pub tls: bool,
}

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Add a user.
    Add {
        username: String,
        #[arg(long)]
        email: Option<String>,
        /// Mark the email as verified.
        #[arg(long)]
        email_verified: bool,
        /// Read the password from standard input (first line).
        #[arg(long)]
        password_stdin: bool,
        /// Group membership (repeatable).
        #[arg(long = "group")]
        groups: Vec<String>,
        /// Create the user disabled.
        #[arg(long)]
        disabled: bool,
    },
    /// List users as JSON lines.
    List {
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Start after this username.
        #[arg(long)]
        after: Option<String>,
    },
    /// Show one user with its upstream links.
    Show { user: String },
    /// Disable a user: exchanges and refreshes for them are refused.
    Disable { user: String },
    /// Enable a user again.
    Enable { user: String },
    /// Set a user's password, read from standard input.
    SetPassword { user: String },
    /// Link an upstream identity (provider + subject) to a user.
    Link {
        user: String,
        #[arg(long)]
        provider: String,
        #[arg(long)]
        subject: String,
    },
    /// Remove an upstream link.
    Unlink {
        #[arg(long)]
        provider: String,
        #[arg(long)]
        subject: String,
    },
    /// Import users from a CSV (header: username,email,email_verified,password,groups) or JSON array file.
    Import {
        file: PathBuf,
        /// Skip users that exist instead of failing.
        #[arg(long)]
        skip_existing: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ClientsCommand {
    /// Register (or replace) an app client; prints its secret once when --confidential.
    Add {
        client_id: String,
        #[arg(long, default_value = "")]
        name: String,
        /// Generate a client secret (stored hashed, printed once).
        #[arg(long)]
        confidential: bool,
        /// Allowed grants: token_exchange, refresh_token, password (repeatable).
        #[arg(long = "grant", default_values_t = ["token_exchange".to_string(), "refresh_token".to_string()])]
        grants: Vec<String>,
        /// Upstream providers whose tokens it may exchange (repeatable; `*` for all).
        #[arg(long = "provider")]
        providers: Vec<String>,
        /// Scopes (repeatable).
        #[arg(long = "scope", default_values_t = ["openid".to_string(), "email".to_string(), "profile".to_string()])]
        scopes: Vec<String>,
        /// Browser origins allowed by CORS (repeatable).
        #[arg(long = "origin")]
        origins: Vec<String>,
        #[arg(long, default_value_t = 3600)]
        access_token_ttl: i64,
        #[arg(long, default_value_t = 3600)]
        id_token_ttl: i64,
        #[arg(long, default_value_t = 2_592_000)]
        refresh_token_ttl: i64,
    },
    /// List clients (JSON lines, secrets never shown).
    List,
    /// Remove a client.
    Remove { client_id: String },
}

#[derive(Subcommand, Debug)]
pub enum UserPoolsCommand {
    /// Create a user pool in the configured region; prints its id.
    Create {
        /// Pool name (1 to 128 characters).
        #[arg(long)]
        name: String,
        /// Token issuer form: `local` (<public_url>/<pool id>, the default) or `aws`
        /// (https://cognito-idp.<region>.amazonaws.com/<pool id>).
        #[arg(long, value_parser = ["local", "aws"])]
        issuer: Option<String>,
        /// Print the whole pool as JSON instead of its id.
        #[arg(long)]
        json: bool,
    },
    /// List user pools (JSON lines).
    List,
    /// Show one user pool (JSON).
    Show {
        /// The pool id, e.g. us-east-1_AbC123xyz.
        pool_id: String,
    },
    /// Delete a user pool with its app clients, groups and users.
    Delete {
        /// The pool id.
        pool_id: String,
    },
    /// Manage a pool's app clients.
    #[command(subcommand)]
    Clients(PoolClientsCommand),
    /// Manage a pool's users.
    #[command(subcommand)]
    Users(PoolUsersCommand),
    /// Manage a pool's SAML and OIDC identity providers.
    #[command(subcommand)]
    IdentityProviders(PoolIdpCommand),
    /// Manage a pool's resource servers (the scopes `<identifier>/<scope>` app clients may ask for).
    #[command(subcommand)]
    ResourceServers(PoolResourceServerCommand),
    /// Link a federated identity to a native user, who it then signs in as (AdminLinkProviderForUser).
    LinkProvider {
        /// The pool id.
        pool_id: String,
        /// The native user's username.
        #[arg(long)]
        user: String,
        #[command(flatten)]
        source: ProviderIdentity,
    },
    /// Remove a federated identity's link (AdminDisableProviderForUser).
    DisableProvider {
        /// The pool id.
        pool_id: String,
        #[command(flatten)]
        source: ProviderIdentity,
    },
}

/// A federated identity: a provider of the pool and the value of one of its attributes.
#[derive(clap::Args, Debug)]
pub struct ProviderIdentity {
    /// The identity provider's ProviderName.
    #[arg(long)]
    pub provider: String,
    /// The provider attribute that names the identity (Cognito_Subject: its subject, a SAML
    /// NameID or an OIDC `sub`).
    #[arg(long, default_value = "Cognito_Subject")]
    pub attribute: String,
    /// The attribute's value.
    #[arg(long)]
    pub value: String,
}

#[derive(Subcommand, Debug)]
pub enum PoolResourceServerCommand {
    /// List a pool's resource servers (JSON lines).
    List {
        /// The pool id.
        pool_id: String,
    },
    /// Show one resource server (JSON).
    Show {
        /// The pool id.
        pool_id: String,
        /// Its identifier, e.g. https://api.example.com or orders.
        identifier: String,
    },
    /// Create a resource server with its scopes.
    Create {
        /// The pool id.
        pool_id: String,
        /// Its identifier (the scopes' prefix).
        identifier: String,
        /// Its name.
        #[arg(long)]
        name: String,
        /// A scope, NAME=DESCRIPTION (repeatable).
        #[arg(long = "scope", value_name = "NAME=DESCRIPTION")]
        scopes: Vec<String>,
    },
    /// Delete a resource server.
    Delete {
        /// The pool id.
        pool_id: String,
        /// Its identifier.
        identifier: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum PoolIdpCommand {
    /// List a pool's identity providers (JSON lines).
    List {
        /// The pool id.
        pool_id: String,
    },
    /// Show one identity provider (JSON), with the details Cognito derives.
    Show {
        /// The pool id.
        pool_id: String,
        /// The ProviderName.
        name: String,
    },
    /// Create a SAML provider (--metadata-file or --metadata-url) or an OIDC provider
    /// (--detail client_id=... --detail authorize_scopes=... --detail oidc_issuer=...).
    Create {
        /// The pool id.
        pool_id: String,
        /// The ProviderName (1 to 32 characters, not Cognito).
        name: String,
        /// SAML or OIDC.
        #[arg(long = "type", value_parser = ["SAML", "OIDC"])]
        provider_type: String,
        /// SAML: a file holding the IdP's metadata.
        #[arg(long)]
        metadata_file: Option<std::path::PathBuf>,
        /// SAML: where the IdP's metadata is fetched (https unless loopback).
        #[arg(long)]
        metadata_url: Option<String>,
        /// Another ProviderDetails entry, KEY=VALUE (repeatable): IDPSignout=true, client_id=...
        #[arg(long = "detail", value_name = "KEY=VALUE")]
        details: Vec<String>,
        /// An AttributeMapping entry, POOL_ATTRIBUTE=PROVIDER_ATTRIBUTE (repeatable).
        #[arg(long = "map", value_name = "ATTRIBUTE=PROVIDER_ATTRIBUTE")]
        mapping: Vec<String>,
        /// An IdpIdentifier (repeatable).
        #[arg(long = "identifier")]
        identifiers: Vec<String>,
    },
    /// Change an identity provider: the details given are laid over its current ones (a new
    /// --metadata-file or --metadata-url replaces the other), --map and --identifier replace its
    /// AttributeMapping and IdpIdentifiers.
    Update {
        /// The pool id.
        pool_id: String,
        /// The ProviderName.
        name: String,
        /// SAML: a file holding the IdP's new metadata.
        #[arg(long, conflicts_with = "metadata_url")]
        metadata_file: Option<std::path::PathBuf>,
        /// SAML: where the IdP's metadata is now fetched.
        #[arg(long)]
        metadata_url: Option<String>,
        /// A ProviderDetails entry to set, KEY=VALUE (repeatable).
        #[arg(long = "detail", value_name = "KEY=VALUE")]
        details: Vec<String>,
        /// The new AttributeMapping, POOL_ATTRIBUTE=PROVIDER_ATTRIBUTE (repeatable).
        #[arg(long = "map", value_name = "ATTRIBUTE=PROVIDER_ATTRIBUTE")]
        mapping: Vec<String>,
        /// The new IdpIdentifiers (repeatable).
        #[arg(long = "identifier", conflicts_with = "no_identifiers")]
        identifiers: Vec<String>,
        /// Remove every IdpIdentifier.
        #[arg(long)]
        no_identifiers: bool,
    },
    /// Delete an identity provider, with its links and its place in app clients.
    Delete {
        /// The pool id.
        pool_id: String,
        /// The ProviderName.
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum PoolClientsCommand {
    /// Add an app client; prints its id, and its secret (once) when --secret.
    Add {
        /// The pool id.
        pool_id: String,
        /// Client name (1 to 128 characters).
        #[arg(long)]
        name: String,
        /// Generate a client secret (SECRET_HASH is then required in auth flows).
        #[arg(long)]
        secret: bool,
        /// Upstream provider whose tokens CUSTOM_AUTH accepts (repeatable; COGNITO is always included).
        #[arg(long = "provider")]
        providers: Vec<String>,
        /// Allowed auth flows, comma-separated: ALLOW_USER_SRP_AUTH, ALLOW_USER_PASSWORD_AUTH,
        /// ALLOW_ADMIN_USER_PASSWORD_AUTH, ALLOW_CUSTOM_AUTH, ALLOW_REFRESH_TOKEN_AUTH
        /// (default: SRP, refresh and custom, as AWS).
        #[arg(long, value_delimiter = ',')]
        flows: Vec<String>,
        /// Print the whole client as JSON (secret included) instead of its id and secret.
        #[arg(long)]
        json: bool,
    },
    /// List a pool's app clients (JSON lines, secrets never shown).
    List {
        /// The pool id.
        pool_id: String,
    },
    /// Remove an app client.
    Remove {
        /// The pool id.
        pool_id: String,
        /// The app client id.
        client_id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum PoolUsersCommand {
    /// Add a user to a pool (prints it as JSON); usernames are unique across the server.
    Add {
        /// The pool id.
        pool_id: String,
        /// Username (unique across the server).
        username: String,
        /// Email address (the `email` attribute).
        #[arg(long)]
        email: Option<String>,
        /// Mark the email as verified.
        #[arg(long, requires = "email")]
        email_verified: bool,
        /// Read a permanent password from standard input (first line); the user is CONFIRMED.
        #[arg(long, conflicts_with = "temporary_password")]
        password_stdin: bool,
        /// Generate a temporary password, printed once as TemporaryPassword; the user must
        /// change it at first sign-in (FORCE_CHANGE_PASSWORD). The default without --password-stdin.
        #[arg(long)]
        temporary_password: bool,
    },
    /// List a pool's users (JSON lines).
    List {
        /// The pool id.
        pool_id: String,
        /// Cognito filter, e.g. `email ^= "a"` or `username = "alice"`.
        #[arg(long)]
        filter: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum RolesCommand {
    /// Create a role, or replace the trust policy of an existing one, and put the given inline
    /// policies on it (policies not named stay as they are); prints the role's ARN. Nothing is
    /// changed when a document is refused.
    Put {
        /// Role name (1 to 64 of letters, digits and +=,.@_-).
        name: String,
        /// Trust policy document (JSON file): who may assume the role.
        #[arg(long, value_name = "FILE")]
        trust_policy: PathBuf,
        /// An inline identity policy, POLICY_NAME=FILE (repeatable).
        #[arg(long = "policy", value_name = "NAME=FILE")]
        policies: Vec<String>,
    },
    /// List roles (JSON lines, trust policies decoded).
    List,
    /// Show a role with its trust policy and inline policies, decoded (JSON).
    Show {
        /// Role name.
        name: String,
    },
    /// Delete a role: its inline policies first, then the role.
    Delete {
        /// Role name.
        name: String,
    },
    /// Delete one inline policy of a role.
    DeletePolicy {
        /// Role name.
        name: String,
        /// Policy name.
        policy: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// List signing keys (JSON lines).
    List,
    /// Create a new active signing key (the first one if there is none); old keys stay published
    /// until their tokens expire.
    Rotate {
        /// Algorithm for the new key (default: the configured one).
        #[arg(long)]
        algorithm: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// List audit events (CloudTrail records) as JSON lines, newest first.
    Lookup {
        #[arg(long)]
        event_name: Option<String>,
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        request_id: Option<String>,
        /// The event's eventID.
        #[arg(long)]
        event_id: Option<String>,
        /// The door it came in by, e.g. cognito-idp.amazonaws.com or oauth2.tokenbridge.
        #[arg(long)]
        event_source: Option<String>,
        /// Only read-only events (true) or only the others (false).
        #[arg(long, value_name = "true|false")]
        read_only: Option<bool>,
        /// A CloudTrail lookup attribute, `Name=Value` or the AWS CLI's
        /// `AttributeKey=Name,AttributeValue=Value` (repeatable; all must hold). Names: EventId,
        /// EventName, ReadOnly, Username, ResourceType, ResourceName, EventSource, AccessKeyId.
        #[arg(long = "lookup-attribute", value_name = "NAME=VALUE")]
        lookup_attributes: Vec<String>,
        /// RFC 3339 time or Unix seconds.
        #[arg(long, alias = "start-time")]
        since: Option<String>,
        /// RFC 3339 time or Unix seconds.
        #[arg(long, alias = "end-time")]
        until: Option<String>,
        /// Only denials.
        #[arg(long)]
        denied: bool,
        /// At most this many (1000 at most).
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Export audit events as JSON lines, one CloudTrail record per line, oldest first.
    Export {
        /// Only events at or after this time (RFC 3339 or Unix seconds).
        #[arg(long, alias = "start-time")]
        since: Option<String>,
        /// Only events at or before this time (RFC 3339 or Unix seconds).
        #[arg(long, alias = "end-time")]
        until: Option<String>,
        /// Write to this file (replaced) instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Explain one request's decision: every check in order, the first failing one marked.
    Explain {
        /// The request id from the response (`x-request-id` header or `request_id` field).
        request_id: String,
        /// Print JSON (as the admin API's `GET /admin/audit/{request_id}`).
        #[arg(long)]
        json: bool,
    },
}
