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
//! The GraphQL read here is a subset: one operation per request (a document may hold several,
//! chosen by `operationName`), variables, aliases, arguments (string, integer, boolean, null,
//! enum, list and object literals and `$variables`), nested selection sets and `__typename`;
//! no fragments, directives, subscriptions or introspection.
//!
//! Each request is bounded, so that a short query cannot ask for an answer without end: at most
//! [`MAX_ALIASES`] aliases, [`MAX_SELECTION_DEPTH`] levels and [`MAX_FIELDS`] fields (a 400
//! `ValidationError` naming the limit), and an answer of at most [`MAX_RESPONSE_BYTES`] (past
//! it, `{"data":null,"errors":[{"errorType":"LimitExceededException",…}]}`).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Map, Value as Json};
use std::sync::{Arc, Mutex};
use tokenbridge_core::appsync::{GraphqlCaller, GraphqlOperation, GraphqlRejection, OperationKind, EVENT_SOURCE};
use tokenbridge_core::clock::rfc3339;
use tokenbridge_core::excerpt::bounded_message;
use tokenbridge_core::iam::CallerIdentity;
use tokenbridge_core::secrets::uuid_v4;
use tokenbridge_core::sigv4::SigV4Error;
use tokenbridge_server::aws::verify_caller;
use tokenbridge_server::context::Ctx;
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
const MAX_DEPTH: usize = 32;
/// Aliases one operation may use: each can repeat a whole list in the answer.
pub const MAX_ALIASES: usize = 32;
/// How deep an operation's selection sets may nest (the schema needs 2).
pub const MAX_SELECTION_DEPTH: usize = 8;
/// Fields one operation may select, nested ones included.
pub const MAX_FIELDS: usize = 200;
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
    Router::new().route(GRAPHQL_PATH, post(handle)).with_state(GraphqlApi { app, items: Arc::new(Mutex::new(items)) })
}

async fn handle(
    State(api): State<GraphqlApi>,
    ctx: Ctx,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ctx = ctx.door(EVENT_SOURCE);
    let engine = &api.app.engine;
    let caller = caller_of(&api.app, &method, &uri, &headers, &body).await;
    let parsed = parse_request(&body);
    let operation = parsed.as_ref().map(|p| &p.operation);
    let allowed = match engine.authorize_graphql(&caller, operation, &ctx).await {
        Ok(a) => a,
        Err(d) => return error_response(d.status, d.error_type(), &d.message, &ctx.request_id),
    };
    let Ok(plan) = parsed else {
        // The engine refuses every invalid request; this is not reached.
        return error_response(400, "ValidationError", "invalid request", &ctx.request_id);
    };
    let body = match execute(&plan, &api.items, &allowed.owner, engine.now(), MAX_RESPONSE_BYTES) {
        Ok((data, errors)) => {
            let mut body = format!("{{\"data\":{data}");
            if !errors.is_empty() {
                body.push_str(",\"errors\":");
                body.push_str(&Json::Array(errors).to_string());
            }
            body.push('}');
            body
        }
        Err(ResponseTooLarge) => {
            tracing::warn!(request_id = %ctx.request_id, limit = MAX_RESPONSE_BYTES, "GraphQL answer over its size limit");
            json!({ "data": null, "errors": [{
                "errorType": "LimitExceededException",
                "message": format!(
                    "The response is larger than the response size limit of {MAX_RESPONSE_BYTES} bytes; \
                     select fewer fields or lists."
                ),
            }] })
            .to_string()
        }
    };
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=UTF-8"));
    if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

/// AppSync's error answer: `{"errors":[{"errorType", "message"}]}` with `x-amzn-RequestId`.
fn error_response(status: u16, error_type: &str, message: &str, request_id: &str) -> Response {
    let body = json!({ "errors": [{ "errorType": error_type, "message": bounded_message(message) }] });
    let mut resp = (StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED), body.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=UTF-8"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    if let Ok(v) = HeaderValue::from_str(error_type) {
        h.insert("x-amzn-errortype", v);
    }
    resp
}

/// Who sent the request: a SigV4 signature (verified here), a user-pool token (verified by
/// the engine), or nobody.
async fn caller_of(state: &AppState, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> GraphqlCaller {
    let authorization = headers.get(header::AUTHORIZATION).map(|v| v.to_str().map(str::trim));
    let presigned = uri
        .query()
        .is_some_and(|q| q.split('&').any(|p| p.starts_with("X-Amz-Signature=") || p.starts_with("X-Amz-Credential=")));
    match authorization {
        Some(Ok(a)) if a.starts_with("AWS4-") => {}
        None if presigned => {}
        Some(Ok(a)) if !a.is_empty() => return GraphqlCaller::UserPoolToken(a.to_string()),
        Some(Err(_)) => {
            return GraphqlCaller::Unauthenticated {
                check: "authentication".into(),
                detail: "the Authorization header is not valid text".into(),
                message: "Valid authorization header not provided.".into(),
            }
        }
        _ => {
            return GraphqlCaller::Unauthenticated {
                check: "authentication".into(),
                detail: "no Authorization header: neither a SigV4 signature nor a user-pool token".into(),
                message: "Valid authorization header not provided: sign the request with SigV4 (service appsync) \
                          or send a user-pool token in Authorization."
                    .into(),
            }
        }
    }
    match verify_caller(state, SIGNING_NAME, method, uri, headers, body).await {
        Ok(CallerIdentity::Session(claims)) => GraphqlCaller::Session(claims),
        Ok(CallerIdentity::Admin { access_key_id }) => GraphqlCaller::Admin { access_key_id },
        Err(e) => {
            let mut detail = format!("signature check {:?} failed: {e}", e.check());
            let mut message = format!("{} ({})", e.message(), e.aws_error_type());
            if matches!(e, SigV4Error::UnknownAccessKey(_)) {
                if let Some(why) = session_token_problem(state, uri, headers).await {
                    if why.contains("expired") {
                        message = "The security token included in the request is expired".into();
                    }
                    detail.push_str(&format!("; the session token: {why}"));
                }
            }
            GraphqlCaller::Unauthenticated { check: e.check().to_string(), detail, message }
        }
    }
}

/// Why a presented session token gave no secret (expired, not ours, another key's), if it did not.
async fn session_token_problem(state: &AppState, uri: &Uri, headers: &HeaderMap) -> Option<String> {
    let token = match headers.get("x-amz-security-token").and_then(|v| v.to_str().ok()) {
        Some(t) => t.to_string(),
        None => url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .find(|(k, _)| k == "X-Amz-Security-Token")
            .map(|(_, v)| v.into_owned())?,
    };
    match state.engine.open_session_token(&token).await {
        Err(why) => Some(why),
        Ok(_) => Some("it belongs to other credentials than the signing access key".into()),
    }
}

// --- the request: JSON, then the GraphQL document, then the plan against the schema ---

/// A validated request: what the engine authorizes and what is run.
#[derive(Debug)]
struct Plan {
    operation: GraphqlOperation,
    fields: Vec<Top>,
}

#[derive(Debug)]
struct Top {
    key: String,
    kind: TopKind,
    selection: Vec<Sel>,
}

#[derive(Debug)]
enum TopKind {
    Typename,
    ListItems,
    GetItem(String),
    AddItem(String),
    DeleteItem(String),
}

#[derive(Debug)]
struct Sel {
    key: String,
    field: ItemField,
}

#[derive(Debug, Clone, Copy)]
enum ItemField {
    Id,
    Name,
    Owner,
    CreatedAt,
    Typename,
}

fn malformed(message: impl Into<String>) -> GraphqlRejection {
    GraphqlRejection { error_type: "MalformedHttpRequestException".into(), message: message.into() }
}

fn invalid(message: impl Into<String>) -> GraphqlRejection {
    GraphqlRejection { error_type: "ValidationError".into(), message: message.into() }
}

fn parse_request(body: &[u8]) -> Result<Plan, GraphqlRejection> {
    let v: Json = serde_json::from_slice(body).map_err(|e| malformed(format!("The body is not JSON: {e}")))?;
    let Json::Object(m) = v else { return Err(malformed("The body is not a JSON object.")) };
    let query = match m.get("query") {
        Some(Json::String(q)) => q,
        _ => return Err(malformed("The body has no \"query\" string.")),
    };
    if query.len() > MAX_QUERY_BYTES {
        return Err(malformed(format!("The query is longer than {MAX_QUERY_BYTES} bytes.")));
    }
    let empty = Map::new();
    let variables = match m.get("variables") {
        None | Some(Json::Null) => &empty,
        Some(Json::Object(v)) => v,
        Some(_) => return Err(malformed("\"variables\" must be a JSON object.")),
    };
    let operation_name = match m.get("operationName") {
        None | Some(Json::Null) => None,
        Some(Json::String(n)) => Some(n.as_str()),
        Some(_) => return Err(malformed("\"operationName\" must be a string.")),
    };
    let document = parse_document(query).map_err(|e| invalid(e.to_string()))?;
    let op = match operation_name {
        Some(name) => document
            .iter()
            .find(|o| o.name.as_deref() == Some(name))
            .ok_or_else(|| invalid(format!("Unknown operation named '{name}'.")))?,
        None if document.len() == 1 => &document[0],
        None => return Err(invalid("Must provide operation name if query contains multiple operations.")),
    };
    within_limits(op)?;
    plan(op, variables)
}

/// What one operation may ask for: aliases, depth and fields, counted as written (before
/// identical fields merge), so the work and the answer stay bounded.
fn within_limits(op: &OperationDef) -> Result<(), GraphqlRejection> {
    #[derive(Default)]
    struct Count {
        aliases: usize,
        fields: usize,
        depth: usize,
    }
    fn walk(selection: &[Field], depth: usize, c: &mut Count) {
        c.depth = c.depth.max(depth);
        for f in selection {
            c.fields += 1;
            c.aliases += usize::from(f.alias.is_some());
            if let Some(inner) = &f.selection {
                walk(inner, depth + 1, c);
            }
        }
    }
    let mut c = Count::default();
    walk(&op.selection, 1, &mut c);
    if c.aliases > MAX_ALIASES {
        return Err(invalid(format!(
            "Validation error: the query uses {} aliases, more than the limit of {MAX_ALIASES} aliases per request.",
            c.aliases
        )));
    }
    if c.depth > MAX_SELECTION_DEPTH {
        return Err(invalid(format!(
            "Validation error: the query's depth {} is over the depth limit of {MAX_SELECTION_DEPTH}.",
            c.depth
        )));
    }
    if c.fields > MAX_FIELDS {
        return Err(invalid(format!(
            "Validation error: the query selects {} fields, more than the limit of {MAX_FIELDS} fields per request.",
            c.fields
        )));
    }
    Ok(())
}

fn plan(op: &OperationDef, given: &Map<String, Json>) -> Result<Plan, GraphqlRejection> {
    // Variables: declared once, coerced to their declared types.
    let mut vars: Vec<(&str, &TypeRef, Json)> = Vec::new();
    for d in &op.variables {
        if vars.iter().any(|(n, _, _)| *n == d.name) {
            return Err(invalid(format!("There can be only one variable named '${}'.", d.name)));
        }
        let value = match (given.get(&d.name), &d.default) {
            (Some(v), _) => v.clone(),
            (None, Some(default)) => default.to_json()?,
            (None, None) => Json::Null,
        };
        let value = coerce(&d.ty, value)
            .map_err(|why| invalid(format!("Variable '{}' has an invalid value for type '{}': {why}", d.name, d.ty)))?;
        vars.push((&d.name, &d.ty, value));
    }
    let root = op.kind.type_name();
    let mut fields: Vec<Top> = Vec::new();
    let mut seen: Vec<&Field> = Vec::new();
    let mut authorized: Vec<(String, String)> = Vec::new();
    for f in &op.selection {
        let key = f.alias.clone().unwrap_or_else(|| f.name.clone());
        if let Some(prev) = seen.iter().find(|p| p.alias.as_ref().unwrap_or(&p.name) == &key) {
            if *prev == f {
                continue;
            }
            return Err(invalid(format!(
                "Validation error of type FieldsConflict: {key}: they are different fields or have different arguments @ '{key}'"
            )));
        }
        seen.push(f);
        let args = |spec: &[(&str, &str)]| field_args(f, spec, &vars);
        let (kind, object) = match (op.kind, f.name.as_str()) {
            (_, "__typename") => {
                args(&[])?;
                (TopKind::Typename, false)
            }
            (OperationKind::Query, "listItems") => {
                args(&[])?;
                (TopKind::ListItems, true)
            }
            (OperationKind::Query, "getItem") => (TopKind::GetItem(args(&[("id", "ID")])?.remove(0)), true),
            (OperationKind::Mutation, "addItem") => (TopKind::AddItem(args(&[("name", "String")])?.remove(0)), true),
            (OperationKind::Mutation, "deleteItem") => (TopKind::DeleteItem(args(&[("id", "ID")])?.remove(0)), true),
            (_, name) => {
                return Err(invalid(format!(
                    "Validation error of type FieldUndefined: Field '{name}' in type '{root}' is undefined @ '{name}'"
                )))
            }
        };
        let selection = match (&f.selection, object) {
            (None, true) => {
                return Err(invalid(format!(
                    "Validation error of type SubSelectionRequired: Sub selection required for type Item of field {} @ '{key}'",
                    f.name
                )))
            }
            (Some(_), false) => {
                return Err(invalid(format!(
                    "Validation error of type SubSelectionNotAllowed: Sub selection not allowed on leaf type String! of field {} @ '{key}'",
                    f.name
                )))
            }
            (Some(sel), true) => item_selection(sel, &key)?,
            (None, false) => Vec::new(),
        };
        if !matches!(kind, TopKind::Typename) && !authorized.iter().any(|(_, n)| n == &f.name) {
            authorized.push((root.to_string(), f.name.clone()));
        }
        fields.push(Top { key, kind, selection });
    }
    Ok(Plan {
        operation: GraphqlOperation {
            api_id: DEMO_API_ID.into(),
            kind: op.kind,
            name: op.name.clone(),
            fields: authorized,
        },
        fields,
    })
}

/// The one required argument of each spec entry (`(name, "ID" | "String")`), as a string.
fn field_args(
    f: &Field,
    spec: &[(&str, &str)],
    vars: &[(&str, &TypeRef, Json)],
) -> Result<Vec<String>, GraphqlRejection> {
    for (i, (name, _)) in f.arguments.iter().enumerate() {
        if !spec.iter().any(|(n, _)| n == name) {
            return Err(invalid(format!(
                "Validation error of type UnknownArgument: Unknown field argument {name} @ '{}'",
                f.name
            )));
        }
        if f.arguments[..i].iter().any(|(n, _)| n == name) {
            return Err(invalid(format!("There can be only one argument named '{name}' @ '{}'", f.name)));
        }
    }
    let mut out = Vec::with_capacity(spec.len());
    for (name, ty) in spec {
        let given = f.arguments.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        let value = match given {
            None => {
                return Err(invalid(format!(
                    "Validation error of type MissingFieldArgument: Missing field argument {name} @ '{}'",
                    f.name
                )))
            }
            Some(Value::Variable(v)) => {
                let Some((_, vty, value)) = vars.iter().find(|(n, _, _)| n == v) else {
                    return Err(invalid(format!(
                        "Validation error of type UndefinedVariable: Undefined variable {v} @ '{}'",
                        f.name
                    )));
                };
                let named = match vty {
                    TypeRef::Named(n) => Some(n.as_str()),
                    TypeRef::NonNull(inner) => match &**inner {
                        TypeRef::Named(n) => Some(n.as_str()),
                        _ => None,
                    },
                    TypeRef::List(_) => None,
                };
                if named != Some(*ty) {
                    return Err(invalid(format!(
                        "Validation error of type VariableTypeMismatch: Variable type '{vty}' doesn't match expected type '{ty}!' @ '{}'",
                        f.name
                    )));
                }
                value.clone()
            }
            Some(literal) => {
                let v = literal.to_json()?;
                coerce(&TypeRef::Named((*ty).to_string()), v).map_err(|_| {
                    invalid(format!(
                        "Validation error of type WrongType: argument '{name}' with value '{literal}' is not a valid '{ty}' @ '{}'",
                        f.name
                    ))
                })?
            }
        };
        match value {
            Json::String(s) => out.push(s),
            _ => {
                return Err(invalid(format!(
                    "Validation error of type WrongType: argument '{name}' of type '{ty}!' is null @ '{}'",
                    f.name
                )))
            }
        }
    }
    Ok(out)
}

fn item_selection(selection: &[Field], parent: &str) -> Result<Vec<Sel>, GraphqlRejection> {
    let mut out: Vec<Sel> = Vec::new();
    let mut seen: Vec<&Field> = Vec::new();
    for f in selection {
        let key = f.alias.clone().unwrap_or_else(|| f.name.clone());
        if let Some(prev) = seen.iter().find(|p| p.alias.as_ref().unwrap_or(&p.name) == &key) {
            if *prev == f {
                continue;
            }
            return Err(invalid(format!(
                "Validation error of type FieldsConflict: {key}: they are different fields @ '{parent}/{key}'"
            )));
        }
        seen.push(f);
        let field = match f.name.as_str() {
            "id" => ItemField::Id,
            "name" => ItemField::Name,
            "owner" => ItemField::Owner,
            "createdAt" => ItemField::CreatedAt,
            "__typename" => ItemField::Typename,
            other => {
                return Err(invalid(format!(
                    "Validation error of type FieldUndefined: Field '{other}' in type 'Item' is undefined @ '{parent}/{other}'"
                )))
            }
        };
        if let Some((arg, _)) = f.arguments.first() {
            return Err(invalid(format!(
                "Validation error of type UnknownArgument: Unknown field argument {arg} @ '{parent}/{}'",
                f.name
            )));
        }
        if f.selection.is_some() {
            return Err(invalid(format!(
                "Validation error of type SubSelectionNotAllowed: Sub selection not allowed on leaf type of field {} @ '{parent}/{}'",
                f.name, f.name
            )));
        }
        out.push(Sel { key, field });
    }
    Ok(out)
}

/// Input coercion of a JSON value to a GraphQL input type (variables, and literals converted).
fn coerce(ty: &TypeRef, v: Json) -> Result<Json, String> {
    match ty {
        TypeRef::NonNull(inner) => {
            if v.is_null() {
                return Err(format!("null for the non-null type '{ty}'"));
            }
            coerce(inner, v)
        }
        _ if v.is_null() => Ok(Json::Null),
        TypeRef::List(inner) => match v {
            Json::Array(a) => a.into_iter().map(|x| coerce(inner, x)).collect::<Result<Vec<_>, _>>().map(Json::Array),
            single => Ok(Json::Array(vec![coerce(inner, single)?])),
        },
        TypeRef::Named(name) => match (name.as_str(), v) {
            ("ID", Json::String(s)) | ("String", Json::String(s)) => Ok(Json::String(s)),
            ("ID", Json::Number(n)) if n.is_i64() || n.is_u64() => Ok(Json::String(n.to_string())),
            ("Int", Json::Number(n)) if n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()) => Ok(Json::Number(n)),
            ("Float", Json::Number(n)) => Ok(Json::Number(n)),
            ("Boolean", Json::Bool(b)) => Ok(Json::Bool(b)),
            ("ID" | "String" | "Int" | "Float" | "Boolean", other) => Err(format!("{other} is not a valid '{name}'")),
            (other, _) => Err(format!("unknown type '{other}'")),
        },
    }
}

// --- running the plan ---

/// A JSON value written with its members in the order asked for (GraphQL's response order).
#[derive(Debug, PartialEq)]
enum Out {
    Null,
    Str(String),
    List(Vec<Out>),
    Obj(Vec<(String, Out)>),
}

impl Out {
    fn write(&self, out: &mut String) {
        match self {
            Out::Null => out.push_str("null"),
            Out::Str(s) => out.push_str(&Json::String(s.clone()).to_string()),
            Out::List(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Out::Obj(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Json::String(k.clone()).to_string());
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn project(item: &Item, selection: &[Sel]) -> Out {
    Out::Obj(
        selection
            .iter()
            .map(|s| {
                let v = match s.field {
                    ItemField::Id => item.id.clone(),
                    ItemField::Name => item.name.clone(),
                    ItemField::Owner => item.owner.clone(),
                    ItemField::CreatedAt => rfc3339(item.created_at),
                    ItemField::Typename => "Item".into(),
                };
                (s.key.clone(), Out::Str(v))
            })
            .collect(),
    )
}

/// The answer passed its size limit.
#[derive(Debug, PartialEq)]
struct ResponseTooLarge;

/// Runs the fields in order (a mutation's one after the other): the `data` object as JSON text,
/// and field errors. Stops with [`ResponseTooLarge`] once the text is longer than `limit` bytes
/// (fields already run, such as a mutation's, stay done).
fn execute(
    plan: &Plan,
    items: &Mutex<Vec<Item>>,
    owner: &str,
    now: i64,
    limit: usize,
) -> Result<(String, Vec<Json>), ResponseTooLarge> {
    let mut items = items.lock().unwrap_or_else(|e| e.into_inner());
    let mut errors = Vec::new();
    let mut data = String::from("{");
    for f in &plan.fields {
        let value = match &f.kind {
            TopKind::Typename => Out::Str(plan.operation.kind.type_name().into()),
            TopKind::ListItems => Out::List(items.iter().map(|i| project(i, &f.selection)).collect()),
            TopKind::GetItem(id) => items.iter().find(|i| &i.id == id).map_or(Out::Null, |i| project(i, &f.selection)),
            TopKind::AddItem(name) => {
                if name.trim().is_empty() || name.chars().count() > MAX_NAME {
                    errors.push(json!({
                        "path": [f.key],
                        "errorType": "BadRequestException",
                        "message": format!("name must be 1 to {MAX_NAME} characters, not blank"),
                    }));
                    Out::Null
                } else {
                    let item = Item { id: uuid_v4(), name: name.clone(), owner: owner.into(), created_at: now };
                    let out = project(&item, &f.selection);
                    items.push(item);
                    if items.len() > MAX_ITEMS {
                        items.remove(0);
                    }
                    out
                }
            }
            TopKind::DeleteItem(id) => match items.iter().position(|i| &i.id == id) {
                Some(at) => project(&items.remove(at), &f.selection),
                None => Out::Null,
            },
        };
        if data.len() > 1 {
            data.push(',');
        }
        data.push_str(&Json::String(f.key.clone()).to_string());
        data.push(':');
        value.write(&mut data);
        if data.len() > limit {
            return Err(ResponseTooLarge);
        }
    }
    data.push('}');
    Ok((data, errors))
}

// --- the GraphQL subset: lexer and parser ---

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pos {
    line: u32,
    column: u32,
}

#[derive(Debug, PartialEq)]
struct SyntaxError {
    message: String,
    pos: Pos,
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Invalid Syntax: {} at line {} column {}", self.message, self.pos.line, self.pos.column)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Punct(u8),
    Spread,
    Name(String),
    Int(String),
    Float(String),
    Str(String),
    End,
}

impl std::fmt::Display for Tok {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tok::Punct(c) => write!(f, "'{}'", *c as char),
            Tok::Spread => f.write_str("'...'"),
            Tok::Name(n) => write!(f, "name '{n}'"),
            Tok::Int(n) | Tok::Float(n) => write!(f, "number {n}"),
            Tok::Str(_) => f.write_str("a string"),
            Tok::End => f.write_str("the end of the document"),
        }
    }
}

/// An input value as written.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Variable(String),
    Int(String),
    Float(String),
    Str(String),
    Bool(bool),
    Null,
    Enum(String),
    List(Vec<Value>),
    Object(Vec<(String, Value)>),
}

impl Value {
    /// As JSON, for a constant (a default or an argument literal; `$variables` are resolved
    /// by the caller).
    fn to_json(&self) -> Result<Json, GraphqlRejection> {
        Ok(match self {
            Value::Variable(v) => return Err(invalid(format!("Variable '${v}' is not allowed in a constant value."))),
            Value::Int(n) => {
                n.parse::<i64>().map(Json::from).map_err(|_| invalid(format!("Integer {n} is too large.")))?
            }
            Value::Float(n) => n
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Json::Number)
                .ok_or_else(|| invalid(format!("Number {n} is not finite.")))?,
            Value::Str(s) | Value::Enum(s) => Json::String(s.clone()),
            Value::Bool(b) => Json::Bool(*b),
            Value::Null => Json::Null,
            Value::List(items) => Json::Array(items.iter().map(|v| v.to_json()).collect::<Result<_, _>>()?),
            Value::Object(members) => Json::Object(
                members.iter().map(|(k, v)| Ok((k.clone(), v.to_json()?))).collect::<Result<_, GraphqlRejection>>()?,
            ),
        })
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Variable(v) => write!(f, "${v}"),
            Value::Int(n) | Value::Float(n) | Value::Enum(n) => f.write_str(n),
            Value::Str(s) => write!(f, "{}", Json::String(s.clone())),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Null => f.write_str("null"),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Object(members) => {
                f.write_str("{")?;
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum TypeRef {
    Named(String),
    List(Box<TypeRef>),
    NonNull(Box<TypeRef>),
}

impl std::fmt::Display for TypeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TypeRef::Named(n) => f.write_str(n),
            TypeRef::List(t) => write!(f, "[{t}]"),
            TypeRef::NonNull(t) => write!(f, "{t}!"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct VariableDef {
    name: String,
    ty: TypeRef,
    default: Option<Value>,
}

#[derive(Debug, Clone, PartialEq)]
struct Field {
    alias: Option<String>,
    name: String,
    arguments: Vec<(String, Value)>,
    selection: Option<Vec<Field>>,
}

#[derive(Debug, Clone, PartialEq)]
struct OperationDef {
    kind: OperationKind,
    name: Option<String>,
    variables: Vec<VariableDef>,
    selection: Vec<Field>,
}

struct Lexer<'a> {
    src: &'a str,
    i: usize,
    line: u32,
    column: u32,
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str) -> Self {
        Lexer { src, i: 0, line: 1, column: 1 }
    }

    fn peek(&self, ahead: usize) -> Option<u8> {
        self.src.as_bytes().get(self.i + ahead).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let b = self.peek(0)?;
        self.i += 1;
        if b == b'\n' {
            self.line += 1;
            self.column = 1;
        } else if b & 0xC0 != 0x80 {
            self.column += 1;
        }
        Some(b)
    }

    fn pos(&self) -> Pos {
        Pos { line: self.line, column: self.column }
    }

    fn error(&self, pos: Pos, message: impl Into<String>) -> SyntaxError {
        SyntaxError { message: message.into(), pos }
    }

    fn skip_ignored(&mut self) {
        loop {
            match self.peek(0) {
                Some(b' ' | b'\t' | b',' | b'\r' | b'\n') => {
                    self.bump();
                }
                Some(b'#') => {
                    while !matches!(self.peek(0), None | Some(b'\n' | b'\r')) {
                        self.bump();
                    }
                }
                Some(0xEF) if self.src.as_bytes()[self.i..].starts_with("\u{feff}".as_bytes()) => {
                    self.i += 3;
                }
                _ => return,
            }
        }
    }

    fn next(&mut self) -> Result<(Tok, Pos), SyntaxError> {
        self.skip_ignored();
        let pos = self.pos();
        let Some(b) = self.peek(0) else { return Ok((Tok::End, pos)) };
        let tok = match b {
            b'!' | b'$' | b'&' | b'(' | b')' | b':' | b'=' | b'@' | b'[' | b']' | b'{' | b'|' | b'}' => {
                self.bump();
                Tok::Punct(b)
            }
            b'.' => {
                if self.peek(1) == Some(b'.') && self.peek(2) == Some(b'.') {
                    self.i += 3;
                    self.column += 3;
                    Tok::Spread
                } else {
                    return Err(self.error(pos, "unexpected '.'"));
                }
            }
            b'_' | b'a'..=b'z' | b'A'..=b'Z' => {
                let start = self.i;
                while matches!(self.peek(0), Some(b'_' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')) {
                    self.bump();
                }
                Tok::Name(self.src[start..self.i].to_string())
            }
            b'-' | b'0'..=b'9' => self.number(pos)?,
            b'"' => self.string(pos)?,
            _ => {
                let c = self.src[self.i..].chars().next().unwrap_or('?');
                return Err(self.error(pos, format!("unexpected character {c:?}")));
            }
        };
        Ok((tok, pos))
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while matches!(self.peek(0), Some(b'0'..=b'9')) {
            self.bump();
        }
        self.i - start
    }

    fn number(&mut self, pos: Pos) -> Result<Tok, SyntaxError> {
        let start = self.i;
        if self.peek(0) == Some(b'-') {
            self.bump();
        }
        let int_start = self.i;
        if self.digits() == 0 {
            return Err(self.error(pos, "a number needs digits"));
        }
        if self.src.as_bytes()[int_start] == b'0' && self.i - int_start > 1 {
            return Err(self.error(pos, "a number may not start with 0"));
        }
        let mut float = false;
        if self.peek(0) == Some(b'.') {
            self.bump();
            float = true;
            if self.digits() == 0 {
                return Err(self.error(pos, "a number's fraction needs digits"));
            }
        }
        if matches!(self.peek(0), Some(b'e' | b'E')) {
            self.bump();
            float = true;
            if matches!(self.peek(0), Some(b'+' | b'-')) {
                self.bump();
            }
            if self.digits() == 0 {
                return Err(self.error(pos, "a number's exponent needs digits"));
            }
        }
        if matches!(self.peek(0), Some(b'.' | b'_' | b'a'..=b'z' | b'A'..=b'Z')) {
            return Err(self.error(pos, "a number may not be followed by a name or '.'"));
        }
        let text = self.src[start..self.i].to_string();
        Ok(if float { Tok::Float(text) } else { Tok::Int(text) })
    }

    fn string(&mut self, pos: Pos) -> Result<Tok, SyntaxError> {
        if self.src.as_bytes()[self.i..].starts_with(b"\"\"\"") {
            return self.block_string(pos);
        }
        self.bump();
        let mut out = String::new();
        loop {
            let start = self.i;
            while !matches!(self.peek(0), None | Some(b'"' | b'\\' | b'\n' | b'\r')) {
                self.bump();
            }
            out.push_str(&self.src[start..self.i]);
            match self.bump() {
                Some(b'"') => return Ok(Tok::Str(out)),
                Some(b'\\') => {
                    let c = match self.bump() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => self.unicode_escape(pos)?,
                        _ => return Err(self.error(pos, "invalid escape in a string")),
                    };
                    out.push(c);
                }
                _ => return Err(self.error(pos, "unterminated string")),
            }
        }
    }

    fn hex4(&mut self, pos: Pos) -> Result<u32, SyntaxError> {
        let hex = self.src.get(self.i..self.i + 4).filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
        let Some(hex) = hex else { return Err(self.error(pos, "invalid \\u escape in a string")) };
        let v = u32::from_str_radix(hex, 16).map_err(|_| self.error(pos, "invalid \\u escape in a string"))?;
        for _ in 0..4 {
            self.bump();
        }
        Ok(v)
    }

    fn unicode_escape(&mut self, pos: Pos) -> Result<char, SyntaxError> {
        let mut code = self.hex4(pos)?;
        if (0xD800..0xDC00).contains(&code) && self.src[self.i..].starts_with("\\u") {
            self.bump();
            self.bump();
            let low = self.hex4(pos)?;
            if !(0xDC00..0xE000).contains(&low) {
                return Err(self.error(pos, "invalid surrogate pair in a string"));
            }
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
        }
        char::from_u32(code).ok_or_else(|| self.error(pos, "invalid \\u escape in a string"))
    }

    /// `"""…"""`: raw text (`\"""` stands for `"""`), with the common indentation removed.
    fn block_string(&mut self, pos: Pos) -> Result<Tok, SyntaxError> {
        for _ in 0..3 {
            self.bump();
        }
        let mut raw = String::new();
        loop {
            let rest = &self.src.as_bytes()[self.i..];
            if rest.starts_with(b"\"\"\"") {
                for _ in 0..3 {
                    self.bump();
                }
                return Ok(Tok::Str(block_string_value(&raw)));
            }
            if rest.starts_with(b"\\\"\"\"") {
                for _ in 0..4 {
                    self.bump();
                }
                raw.push_str("\"\"\"");
                continue;
            }
            let start = self.i;
            if self.bump().is_none() {
                return Err(self.error(pos, "unterminated block string"));
            }
            while self.peek(0).is_some_and(|b| b & 0xC0 == 0x80) {
                self.bump();
            }
            raw.push_str(&self.src[start..self.i]);
        }
    }
}

/// GraphQL's BlockStringValue: common indentation and blank first and last lines removed.
fn block_string_value(raw: &str) -> String {
    let lines: Vec<&str> = raw.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    let indent = lines
        .iter()
        .skip(1)
        .filter(|l| !l.trim_start_matches([' ', '\t']).is_empty())
        .map(|l| l.len() - l.trim_start_matches([' ', '\t']).len())
        .min()
        .unwrap_or(0);
    let mut out: Vec<&str> =
        lines.iter().enumerate().map(|(i, l)| if i == 0 { l } else { l.get(indent..).unwrap_or("") }).collect();
    while out.first().is_some_and(|l| l.trim_matches([' ', '\t']).is_empty()) {
        out.remove(0);
    }
    while out.last().is_some_and(|l| l.trim_matches([' ', '\t']).is_empty()) {
        out.pop();
    }
    out.join("\n")
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    tok: Tok,
    pos: Pos,
    depth: usize,
}

fn parse_document(src: &str) -> Result<Vec<OperationDef>, SyntaxError> {
    let mut lexer = Lexer::new(src);
    let (tok, pos) = lexer.next()?;
    let mut p = Parser { lexer, tok, pos, depth: 0 };
    let mut ops = Vec::new();
    while p.tok != Tok::End {
        ops.push(p.operation()?);
    }
    if ops.is_empty() {
        return Err(p.error("the document has no operation"));
    }
    let mut names: Vec<&str> = Vec::new();
    for op in &ops {
        match op.name.as_deref() {
            Some(n) if names.contains(&n) => {
                return Err(SyntaxError {
                    message: format!("there can be only one operation named '{n}'"),
                    pos: Pos { line: 1, column: 1 },
                })
            }
            Some(n) => names.push(n),
            None if ops.len() > 1 => {
                return Err(SyntaxError {
                    message: "an anonymous operation must be the only operation of its document".into(),
                    pos: Pos { line: 1, column: 1 },
                })
            }
            None => {}
        }
    }
    Ok(ops)
}

impl Parser<'_> {
    fn advance(&mut self) -> Result<Tok, SyntaxError> {
        let (tok, pos) = self.lexer.next()?;
        self.pos = pos;
        Ok(std::mem::replace(&mut self.tok, tok))
    }

    fn error(&self, message: impl Into<String>) -> SyntaxError {
        SyntaxError { message: message.into(), pos: self.pos }
    }

    fn unexpected(&self, wanted: &str) -> SyntaxError {
        self.error(format!("expected {wanted}, found {}", self.tok))
    }

    fn is_punct(&self, c: u8) -> bool {
        self.tok == Tok::Punct(c)
    }

    fn expect(&mut self, c: u8) -> Result<(), SyntaxError> {
        if !self.is_punct(c) {
            return Err(self.unexpected(&format!("'{}'", c as char)));
        }
        self.advance()?;
        Ok(())
    }

    fn name(&mut self) -> Result<String, SyntaxError> {
        match &self.tok {
            Tok::Name(_) => match self.advance()? {
                Tok::Name(n) => Ok(n),
                _ => unreachable!("the token was a name"),
            },
            _ => Err(self.unexpected("a name")),
        }
    }

    fn enter(&mut self) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(format!("nesting deeper than the depth limit of {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn no_directives(&self) -> Result<(), SyntaxError> {
        if self.is_punct(b'@') {
            return Err(self.error("directives are not supported"));
        }
        Ok(())
    }

    fn operation(&mut self) -> Result<OperationDef, SyntaxError> {
        if self.is_punct(b'{') {
            let selection = self.selection_set()?;
            return Ok(OperationDef { kind: OperationKind::Query, name: None, variables: Vec::new(), selection });
        }
        let kind = match &self.tok {
            Tok::Name(n) if n == "query" => OperationKind::Query,
            Tok::Name(n) if n == "mutation" => OperationKind::Mutation,
            Tok::Name(n) if n == "subscription" => return Err(self.error("subscriptions are not supported")),
            Tok::Name(n) if n == "fragment" => return Err(self.error("fragments are not supported")),
            _ => return Err(self.unexpected("'query', 'mutation' or '{'")),
        };
        self.advance()?;
        let name = match self.tok {
            Tok::Name(_) => Some(self.name()?),
            _ => None,
        };
        let mut variables = Vec::new();
        if self.is_punct(b'(') {
            self.advance()?;
            loop {
                self.expect(b'$')?;
                let name = self.name()?;
                self.expect(b':')?;
                let ty = self.type_ref()?;
                let default = if self.is_punct(b'=') {
                    self.advance()?;
                    Some(self.value(true)?)
                } else {
                    None
                };
                self.no_directives()?;
                variables.push(VariableDef { name, ty, default });
                if self.is_punct(b')') {
                    self.advance()?;
                    break;
                }
            }
        }
        self.no_directives()?;
        let selection = self.selection_set()?;
        Ok(OperationDef { kind, name, variables, selection })
    }

    fn type_ref(&mut self) -> Result<TypeRef, SyntaxError> {
        self.enter()?;
        let ty = if self.is_punct(b'[') {
            self.advance()?;
            let inner = self.type_ref()?;
            self.expect(b']')?;
            TypeRef::List(Box::new(inner))
        } else {
            TypeRef::Named(self.name()?)
        };
        self.depth -= 1;
        if self.is_punct(b'!') {
            self.advance()?;
            return Ok(TypeRef::NonNull(Box::new(ty)));
        }
        Ok(ty)
    }

    fn selection_set(&mut self) -> Result<Vec<Field>, SyntaxError> {
        self.enter()?;
        self.expect(b'{')?;
        let mut fields = Vec::new();
        while !self.is_punct(b'}') {
            if self.tok == Tok::Spread {
                return Err(self.error("fragments are not supported"));
            }
            fields.push(self.field()?);
        }
        if fields.is_empty() {
            return Err(self.unexpected("a field"));
        }
        self.advance()?;
        self.depth -= 1;
        Ok(fields)
    }

    fn field(&mut self) -> Result<Field, SyntaxError> {
        let first = self.name()?;
        let (alias, name) = if self.is_punct(b':') {
            self.advance()?;
            (Some(first), self.name()?)
        } else {
            (None, first)
        };
        let mut arguments = Vec::new();
        if self.is_punct(b'(') {
            self.advance()?;
            loop {
                let arg = self.name()?;
                self.expect(b':')?;
                arguments.push((arg, self.value(false)?));
                if self.is_punct(b')') {
                    self.advance()?;
                    break;
                }
            }
        }
        self.no_directives()?;
        let selection = if self.is_punct(b'{') { Some(self.selection_set()?) } else { None };
        Ok(Field { alias, name, arguments, selection })
    }

    fn value(&mut self, constant: bool) -> Result<Value, SyntaxError> {
        self.enter()?;
        let v = match &self.tok {
            Tok::Punct(b'$') if !constant => {
                self.advance()?;
                Value::Variable(self.name()?)
            }
            Tok::Punct(b'[') => {
                self.advance()?;
                let mut items = Vec::new();
                while !self.is_punct(b']') {
                    items.push(self.value(constant)?);
                }
                self.advance()?;
                Value::List(items)
            }
            Tok::Punct(b'{') => {
                self.advance()?;
                let mut members: Vec<(String, Value)> = Vec::new();
                while !self.is_punct(b'}') {
                    let k = self.name()?;
                    self.expect(b':')?;
                    members.push((k, self.value(constant)?));
                }
                self.advance()?;
                Value::Object(members)
            }
            Tok::Int(_) | Tok::Float(_) | Tok::Str(_) | Tok::Name(_) => match self.advance()? {
                Tok::Int(n) => Value::Int(n),
                Tok::Float(n) => Value::Float(n),
                Tok::Str(s) => Value::Str(s),
                Tok::Name(n) => match n.as_str() {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    "null" => Value::Null,
                    _ => Value::Enum(n),
                },
                _ => unreachable!("matched above"),
            },
            _ => return Err(self.unexpected(if constant { "a constant value" } else { "a value" })),
        };
        self.depth -= 1;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(query: &str, variables: Json) -> Result<Plan, GraphqlRejection> {
        parse_request(json!({ "query": query, "variables": variables }).to_string().as_bytes())
    }

    fn message(r: Result<Plan, GraphqlRejection>) -> String {
        match r {
            Ok(p) => panic!("expected a rejection, got {p:?}"),
            Err(e) => e.message,
        }
    }

    #[test]
    fn parses_operations_with_variables_aliases_and_nested_selections() {
        let doc = parse_document(
            r#"
            # a comment
            query Items($id: ID!, $n: [String!] = ["a", "b"]) {
              all: listItems { id, name owner }
              one: getItem(id: $id) { __typename createdAt }
            }
            mutation Add { addItem(name: "caf\u00e9 \"x\"") { id } }
            "#,
        )
        .unwrap();
        assert_eq!(doc.len(), 2);
        let q = &doc[0];
        assert_eq!((q.kind, q.name.as_deref()), (OperationKind::Query, Some("Items")));
        assert_eq!(q.variables[0].ty.to_string(), "ID!");
        assert_eq!(q.variables[1].ty.to_string(), "[String!]");
        assert_eq!(q.variables[1].default, Some(Value::List(vec![Value::Str("a".into()), Value::Str("b".into())])));
        assert_eq!(q.selection[0].alias.as_deref(), Some("all"));
        assert_eq!(q.selection[0].selection.as_ref().unwrap().len(), 3);
        assert_eq!(q.selection[1].arguments, vec![("id".to_string(), Value::Variable("id".into()))]);
        assert_eq!(doc[1].selection[0].arguments[0].1, Value::Str("café \"x\"".into()));
        let short = parse_document("{ listItems { id } }").unwrap();
        assert_eq!((short[0].kind, short[0].name.as_deref()), (OperationKind::Query, None));
    }

    #[test]
    fn literals_of_every_kind() {
        let doc = parse_document(
            r#"{ f(a: -12, b: 1.5e3, c: true, d: null, e: ENUM, g: [1 [2]], h: {x: "y"}, i: """
                 block
                   text
               """) { id } }"#,
        )
        .unwrap();
        let args = &doc[0].selection[0].arguments;
        assert_eq!(args[0].1, Value::Int("-12".into()));
        assert_eq!(args[1].1, Value::Float("1.5e3".into()));
        assert_eq!(args[2].1, Value::Bool(true));
        assert_eq!(args[3].1, Value::Null);
        assert_eq!(args[4].1, Value::Enum("ENUM".into()));
        assert_eq!(args[5].1, Value::List(vec![Value::Int("1".into()), Value::List(vec![Value::Int("2".into())])]));
        assert_eq!(args[6].1, Value::Object(vec![("x".into(), Value::Str("y".into()))]));
        assert_eq!(args[7].1, Value::Str("block\n  text".into()));
    }

    #[test]
    fn syntax_errors_name_the_position() {
        let e = parse_document("query {\n  listItems { id \n").unwrap_err();
        assert_eq!(e.pos, Pos { line: 3, column: 1 });
        assert!(e.to_string().starts_with("Invalid Syntax: expected a name, found the end of the document"), "{e}");
        let e = parse_document("{ listItems { ...F } }").unwrap_err();
        assert!(e.message.contains("fragments are not supported"));
        assert!(parse_document("{ a @include(if: true) }").unwrap_err().message.contains("directives"));
        assert!(parse_document("subscription { a }").unwrap_err().message.contains("subscriptions"));
        assert!(parse_document("{ a(x: \"open) }").unwrap_err().message.contains("unterminated"));
        assert!(parse_document("{ a(x: 012) }").unwrap_err().message.contains("start with 0"));
        assert!(parse_document("").unwrap_err().message.contains("no operation"));
        assert!(parse_document("{ a } { b }").unwrap_err().message.contains("anonymous"));
        assert!(parse_document("query A { a } query A { b }").unwrap_err().message.contains("only one operation"));
        let deep = format!("{}{}", "{ a ".repeat(40), "}".repeat(40));
        assert!(parse_document(&deep).unwrap_err().message.contains("nesting deeper"));
        let deep_value = format!("{{ a(x: {}1{}) }}", "[".repeat(40), "]".repeat(40));
        assert!(parse_document(&deep_value).unwrap_err().message.contains("nesting deeper"));
    }

    #[test]
    fn plans_fields_for_authorization_once_each() {
        let p = plan_of(
            "query Q($id: ID!) { a: getItem(id: $id) { id } b: getItem(id: \"x\") { name } listItems { id } __typename }",
            json!({ "id": 7 }),
        )
        .unwrap();
        assert_eq!(p.operation.kind, OperationKind::Query);
        assert_eq!(p.operation.name.as_deref(), Some("Q"));
        assert_eq!(
            p.operation.fields,
            vec![("Query".to_string(), "getItem".to_string()), ("Query".to_string(), "listItems".to_string())]
        );
        assert!(matches!(&p.fields[0].kind, TopKind::GetItem(id) if id == "7"));
        assert!(matches!(&p.fields[1].kind, TopKind::GetItem(id) if id == "x"));
        let m = plan_of("mutation { addItem(name: \"n\") { id } deleteItem(id: 3) { id } }", Json::Null).unwrap();
        assert_eq!(m.operation.fields[0], ("Mutation".to_string(), "addItem".to_string()));
        assert!(matches!(&m.fields[1].kind, TopKind::DeleteItem(id) if id == "3"));
    }

    #[test]
    fn validation_errors_follow_the_schema() {
        assert!(
            message(plan_of("{ nope { id } }", Json::Null)).contains("FieldUndefined: Field 'nope' in type 'Query'")
        );
        assert!(message(plan_of("{ addItem(name: \"x\") { id } }", Json::Null)).contains("in type 'Query'"));
        assert!(message(plan_of("{ listItems }", Json::Null)).contains("SubSelectionRequired"));
        assert!(message(plan_of("{ listItems { id { x } } }", Json::Null)).contains("SubSelectionNotAllowed"));
        assert!(message(plan_of("{ listItems { secret } }", Json::Null)).contains("Field 'secret' in type 'Item'"));
        assert!(message(plan_of("{ getItem { id } }", Json::Null)).contains("MissingFieldArgument"));
        assert!(message(plan_of("{ getItem(id: 1, x: 2) { id } }", Json::Null)).contains("UnknownArgument"));
        assert!(message(plan_of("{ getItem(id: $v) { id } }", Json::Null)).contains("UndefinedVariable"));
        assert!(message(plan_of("{ getItem(id: true) { id } }", Json::Null)).contains("WrongType"));
        assert!(message(plan_of("{ getItem(id: null) { id } }", Json::Null)).contains("is null"));
        assert!(message(plan_of("query($v: ID!) { getItem(id: $v) { id } }", json!({}))).contains("non-null"));
        assert!(message(plan_of("query($v: String!) { getItem(id: $v) { id } }", json!({"v": "x"})))
            .contains("VariableTypeMismatch"));
        assert!(
            message(plan_of("query($v: Foo) { getItem(id: \"1\") { id } }", json!({"v": 1}))).contains("unknown type")
        );
        assert!(
            message(plan_of("{ a: listItems { id } a: getItem(id: 1) { id } }", Json::Null)).contains("FieldsConflict")
        );
        // The same field twice under one key is one field.
        assert_eq!(plan_of("{ listItems { id } listItems { id } }", Json::Null).unwrap().fields.len(), 1);
    }

    #[test]
    fn malformed_bodies_and_operation_choice() {
        let r = |body: &str| parse_request(body.as_bytes()).map(|_| ()).unwrap_err();
        assert_eq!(r("not json").error_type, "MalformedHttpRequestException");
        assert_eq!(r("[]").error_type, "MalformedHttpRequestException");
        assert_eq!(r("{\"variables\": {}}").error_type, "MalformedHttpRequestException");
        assert_eq!(
            r("{\"query\": \"{ listItems { id } }\", \"variables\": 3}").error_type,
            "MalformedHttpRequestException"
        );
        let two = "query A { listItems { id } } mutation B { addItem(name: \"x\") { id } }";
        assert!(r(&json!({ "query": two }).to_string()).message.contains("Must provide operation name"));
        assert!(r(&json!({ "query": two, "operationName": "C" }).to_string()).message.contains("Unknown operation"));
        let b = parse_request(json!({ "query": two, "operationName": "B" }).to_string().as_bytes()).unwrap();
        assert_eq!(b.operation.kind, OperationKind::Mutation);
    }

    #[test]
    fn runs_in_order_and_projects_the_selection() {
        let now = 1_700_000_000;
        let items =
            Mutex::new(vec![Item { id: "item-1".into(), name: "One".into(), owner: "demo".into(), created_at: now }]);
        let p = plan_of(
            "mutation { added: addItem(name: \"Two\") { owner name __typename } gone: deleteItem(id: \"item-1\") { id } again: deleteItem(id: \"item-1\") { id } }",
            Json::Null,
        )
        .unwrap();
        let (s, errors) = execute(&p, &items, "alice", now, MAX_RESPONSE_BYTES).unwrap();
        assert!(errors.is_empty());
        assert_eq!(
            s,
            r#"{"added":{"owner":"alice","name":"Two","__typename":"Item"},"gone":{"id":"item-1"},"again":null}"#
        );
        let q = plan_of("{ listItems { name createdAt } __typename }", Json::Null).unwrap();
        let (s, _) = execute(&q, &items, "bob", now, MAX_RESPONSE_BYTES).unwrap();
        assert_eq!(s, r#"{"listItems":[{"name":"Two","createdAt":"2023-11-14T22:13:20Z"}],"__typename":"Query"}"#);
        let blank = plan_of("mutation { addItem(name: \"  \") { id } }", Json::Null).unwrap();
        let (s, errors) = execute(&blank, &items, "bob", now, MAX_RESPONSE_BYTES).unwrap();
        assert_eq!(s, r#"{"addItem":null}"#);
        assert_eq!(errors[0]["errorType"], "BadRequestException");
        // Past the size limit the run stops.
        assert_eq!(execute(&q, &items, "bob", now, 20), Err(ResponseTooLarge));
    }
}
