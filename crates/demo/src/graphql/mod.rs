//! The demo's protected GraphQL API, shaped like an AWS AppSync API: `POST /demo/graphql` with
//! `{"query", "variables", "operationName"}` over an in-memory item list.
//!
//! ```graphql
//! type Query    { listItems: [Item], getItem(id: ID!): Item }
//! type Mutation { addItem(name: String!): Item, deleteItem(id: ID!): Item }
//! type Item     { id: ID!, name: String!, owner: String!, createdAt: String! }
//! ```
//!
//! Callers come in as on AppSync: SigV4-signed (service `appsync`) with a role session's
//! temporary credentials (`AWS_IAM`: each top-level field is authorized by the role's policies
//! as `appsync:GraphQL` on `arn:aws:appsync:<region>:<account>:apis/tbdemoapi/types/<Type>/fields/<field>`),
//! or with a user-pool token in `Authorization` (`AMAZON_COGNITO_USER_POOLS`: any valid token).
//! The decision is the engine's ([`tokenbridge_core::appsync`]), recorded under the request id
//! every answer carries in `x-amzn-RequestId`. A refusal is AppSync's: HTTP 401,
//! `{"errors":[{"errorType":"UnauthorizedException","message":"Not Authorized to access listItems on type Query"}]}`.
//! If any requested field is refused, nothing is run.
//!
//! The whole GraphQL grammar is read, parsed and validated against the schema above by
//! apollo-compiler ([`request`]): one operation per request (a document may hold several, chosen
//! by `operationName`), fragments and inline fragments, variables with defaults, aliases, and
//! the `@skip` / `@include` directives. The top-level fields authorized are those the operation
//! names, fragments expanded, whatever `@skip` / `@include` would decide: the decision is made
//! on the document, before any variable chooses what runs. Subscriptions are not offered.
//! Introspection (`__schema`, `__type`) is disabled, as on an AppSync API with introspection
//! off: such a query is refused with a `ValidationError`; `__typename` is answered.
//!
//! Each request is bounded ([`bounds`]), so that a short query cannot ask for an answer without
//! end: at most [`MAX_ALIASES`] aliases, [`MAX_SELECTION_DEPTH`] levels, [`MAX_FIELDS`] fields
//! and [`MAX_FRAGMENT_SPREADS`] fragment spreads, counted with every fragment spread expanded
//! where it is used (a 400 `ValidationError` naming the limit), and an answer of at most
//! [`MAX_RESPONSE_BYTES`] (past it, `{"data":null,"errors":[{"errorType":"LimitExceededException",…}]}`).
//! The run itself ([`execution`]) is apollo-compiler's executor over this module's resolvers.

mod bounds;
mod execution;
mod http;
mod request;
#[cfg(test)]
mod tests;

use axum::routing::post;
use axum::Router;
use std::sync::{Arc, Mutex};
use tokenbridge_server::AppState;

/// The demo API's id in its ARN (`arn:aws:appsync:<region>:<account>:apis/tbdemoapi`).
pub const DEMO_API_ID: &str = "tbdemoapi";
/// Where the demo serves it.
pub const GRAPHQL_PATH: &str = "/demo/graphql";
/// The SigV4 service name requests are signed for.
pub const SIGNING_NAME: &str = "appsync";

/// Items kept; the oldest go first.
const MAX_ITEMS: usize = 1000;
/// The longest `name` an item may have (characters).
const MAX_NAME: usize = 256;
/// The longest query text read.
const MAX_QUERY_BYTES: usize = 64 * 1024;
/// How deep selection sets and values may nest while parsing.
const MAX_NESTING: usize = 32;
/// Aliases one operation may use: each can repeat a whole list in the answer.
pub const MAX_ALIASES: usize = 32;
/// How deep an operation's selection sets may nest (the schema needs 2).
pub const MAX_SELECTION_DEPTH: usize = 8;
/// Fields one operation may select, nested ones included.
pub const MAX_FIELDS: usize = 200;
/// Fragment spreads one operation may expand, nested ones included.
pub const MAX_FRAGMENT_SPREADS: usize = 100;
/// The largest `data` built; past it the request is answered with an error instead.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone)]
struct Item {
    id: String,
    name: String,
    owner: String,
    created_at: i64,
}

#[derive(Clone)]
struct GraphqlApi {
    app: AppState,
    items: Arc<Mutex<Vec<Item>>>,
}

/// `POST /demo/graphql`, with the item list seeded with two items.
pub fn routes(app: AppState) -> Router {
    let now = app.engine.now();
    let seed = |id: &str, name: &str| Item { id: id.into(), name: name.into(), owner: "demo".into(), created_at: now };
    let items = vec![seed("item-1", "First demo item"), seed("item-2", "Second demo item")];
    Router::new()
        .route(GRAPHQL_PATH, post(http::handle))
        .with_state(GraphqlApi { app, items: Arc::new(Mutex::new(items)) })
}
