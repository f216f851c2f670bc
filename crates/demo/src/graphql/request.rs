//! The request: the JSON body, then the GraphQL document parsed and validated against the
//! schema by apollo-compiler, then the operation chosen and its variables coerced. What comes
//! out is what the engine authorizes and what is run; what does not is a rejection in
//! AppSync's words (`MalformedHttpRequestException` for the body, `ValidationError` for the
//! document).

use super::bounds::within_limits;
use super::{DEMO_API_ID, MAX_NESTING, MAX_QUERY_BYTES};
use apollo_compiler::ast::{self, OperationType};
use apollo_compiler::executable::ExecutableDocument;
use apollo_compiler::parser::Parser;
use apollo_compiler::response::{JsonMap, JsonValue};
use apollo_compiler::validation::{DiagnosticList, Valid};
use apollo_compiler::Schema;
use serde_json::Value as Json;
use std::sync::OnceLock;
use tokenbridge_core::appsync::{GraphqlOperation, GraphqlRejection, OperationKind};
use tokenbridge_core::Reason;

/// The schema every document is validated against and run on (the module's header shows it).
const SCHEMA: &str = "\
type Query { listItems: [Item], getItem(id: ID!): Item }
type Mutation { addItem(name: String!): Item, deleteItem(id: ID!): Item }
type Item { id: ID!, name: String!, owner: String!, createdAt: String! }
";

/// Validation errors told in one message (a document with many mistakes is not echoed whole).
const TOLD_ERRORS: usize = 3;

pub(super) fn schema() -> &'static Valid<Schema> {
    static PARSED: OnceLock<Valid<Schema>> = OnceLock::new();
    PARSED.get_or_init(|| Schema::parse_and_validate(SCHEMA, "schema.graphql").expect("the demo schema is valid"))
}

/// A validated request: what the engine authorizes and what is run.
#[derive(Debug)]
pub(super) struct Request {
    pub operation: GraphqlOperation,
    pub document: Valid<ExecutableDocument>,
    /// The `operationName` asked for (the document's only operation when `None`).
    pub operation_name: Option<String>,
    pub variables: Valid<JsonMap>,
}

/// A body that is not a GraphQL request at all.
pub(super) fn malformed(message: impl Into<String>) -> GraphqlRejection {
    GraphqlRejection { reason: Reason::MalformedRequest, message: message.into() }
}

/// A request the schema does not validate.
pub(super) fn invalid(message: impl Into<String>) -> GraphqlRejection {
    GraphqlRejection { reason: Reason::InvalidParameter, message: message.into() }
}

pub(super) fn parse_request(body: &[u8]) -> Result<Request, GraphqlRejection> {
    let v: Json = serde_json::from_slice(body).map_err(|e| malformed(format!("The body is not JSON: {e}")))?;
    let Json::Object(m) = v else { return Err(malformed("The body is not a JSON object.")) };
    let query = match m.get("query") {
        Some(Json::String(q)) => q,
        _ => return Err(malformed("The body has no \"query\" string.")),
    };
    if query.len() > MAX_QUERY_BYTES {
        return Err(malformed(format!("The query is longer than {MAX_QUERY_BYTES} bytes.")));
    }
    let variables: JsonMap = match m.get("variables") {
        None | Some(Json::Null) => JsonMap::new(),
        Some(Json::Object(v)) => v.iter().map(|(k, v)| (k.as_str().into(), JsonValue::from(v.clone()))).collect(),
        Some(_) => return Err(malformed("\"variables\" must be a JSON object.")),
    };
    let operation_name = match m.get("operationName") {
        None | Some(Json::Null) => None,
        Some(Json::String(n)) => Some(n.clone()),
        Some(_) => return Err(malformed("\"operationName\" must be a string.")),
    };

    let mut parser = Parser::new().recursion_limit(MAX_NESTING);
    let parsed = parser.parse_ast(query.as_str(), "query.graphql");
    if parser.recursion_reached() > MAX_NESTING {
        return Err(invalid(format!(
            "Invalid Syntax: the query nests deeper than the parser's limit of {MAX_NESTING} levels."
        )));
    }
    let ast = parsed.map_err(|e| invalid(syntax_error(&e.errors)))?;
    // Bounded before anything else reads the document: validation expands fragments too.
    within_limits(&ast, schema())?;
    // Built first, then validated: a field the schema lacks is told as itself, not as the empty
    // selection set it leaves behind.
    let built = ast.to_executable(schema()).map_err(|e| invalid(validation_error(&e.errors)))?;
    let document = built.validate(schema()).map_err(|e| invalid(validation_error(&e.errors)))?;
    let operation = document.operations.get(operation_name.as_deref()).map_err(|_| match &operation_name {
        Some(name) => invalid(format!("Unknown operation named '{name}'.")),
        None => invalid("Must provide operation name if query contains multiple operations."),
    })?;
    let kind = match operation.operation_type {
        OperationType::Query => OperationKind::Query,
        OperationType::Mutation => OperationKind::Mutation,
        OperationType::Subscription => return Err(invalid("Subscriptions are not supported by this API.")),
    };
    let variables = apollo_compiler::request::coerce_variable_values(schema(), operation, &variables)
        .map_err(|e| invalid(format!("Validation error of type VariableError: {}", e.message())))?;
    // Each top-level field once, in request order, fragments expanded and `@skip` / `@include`
    // not consulted: a field the document names is asked for.
    let root = kind.type_name();
    let mut fields: Vec<(String, String)> = Vec::new();
    for f in operation.root_fields(&document) {
        if f.name != "__typename" && !fields.iter().any(|(_, n)| n == f.name.as_str()) {
            fields.push((root.to_string(), f.name.to_string()));
        }
    }
    let operation = GraphqlOperation {
        api_id: DEMO_API_ID.into(),
        kind,
        name: operation.name.as_ref().map(|n| n.to_string()),
        fields,
    };
    Ok(Request { operation, document, operation_name, variables })
}

/// The first syntax error, where it is: `Invalid Syntax: <what> at line L column C`.
fn syntax_error(errors: &DiagnosticList) -> String {
    let Some(d) = errors.iter().next() else { return "Invalid Syntax".into() };
    let what = d.error.to_string();
    let what = what.strip_prefix("syntax error: ").unwrap_or(&what);
    format!("Invalid Syntax: {what}{}", at(&d))
}

/// The validation errors as AppSync words them, `Validation error of type <Kind>: <what>`, each
/// with where it is: the first [`TOLD_ERRORS`], and how many more there are.
fn validation_error(errors: &DiagnosticList) -> String {
    let mut told: Vec<String> = errors
        .iter()
        .take(TOLD_ERRORS)
        .map(|d| {
            let kind = d.error.unstable_error_name().map(appsync_kind).unwrap_or("ValidationError");
            format!("Validation error of type {kind}: {}{}", d.error, at(&d))
        })
        .collect();
    if errors.len() > TOLD_ERRORS {
        told.push(format!("and {} more", errors.len() - TOLD_ERRORS));
    }
    if told.is_empty() {
        return "Validation error".into();
    }
    told.join("; ")
}

fn at(d: &apollo_compiler::diagnostic::Diagnostic<'_, apollo_compiler::validation::DiagnosticData>) -> String {
    match d.line_column_range() {
        Some(r) => format!(" at line {} column {}", r.start.line, r.start.column),
        None => String::new(),
    }
}

/// The name AppSync (graphql-java) gives a validation rule, from apollo-compiler's.
fn appsync_kind(apollo: &str) -> &str {
    match apollo {
        "UndefinedField" => "FieldUndefined",
        "UndefinedArgument" => "UnknownArgument",
        "RequiredArgument" => "MissingFieldArgument",
        "UndefinedVariable" => "UndefinedVariable",
        "UnusedVariable" => "UnusedVariable",
        "UndefinedFragment" => "UndefinedFragment",
        "UnusedFragment" => "UnusedFragment",
        "RecursiveFragmentDefinition" => "FragmentCycle",
        "InvalidFragmentSpread" => "InvalidFragmentType",
        "InvalidFragmentTarget" => "InlineFragmentTypeConditionInvalid",
        "DisallowedVariableUsage" => "VariableTypeMismatch",
        "UnsupportedValueType" | "IntCoercionError" | "FloatCoercionError" => "WrongType",
        "MissingSubselection" => "SubSelectionRequired",
        "SubselectionOnScalarType" | "SubselectionOnEnumType" => "SubSelectionNotAllowed",
        "ConflictingFieldType" | "ConflictingFieldName" | "ConflictingFieldArgument" => "FieldsConflict",
        "UndefinedDirective" => "UnknownDirective",
        "UnsupportedLocation" => "MisplacedDirective",
        "UniqueDirective" => "DuplicateDirectiveName",
        "UniqueArgument" => "DuplicateArgumentNames",
        "UniqueVariable" => "DuplicateVariableName",
        "OperationNameCollision" => "DuplicateOperationName",
        "FragmentNameCollision" => "DuplicateFragmentName",
        "AmbiguousAnonymousOperation" => "LoneAnonymousOperationViolation",
        "UndefinedDefinition"
        | "UndefinedTypeInNamedFragmentTypeCondition"
        | "UndefinedTypeInInlineFragmentTypeCondition" => "UnknownType",
        "VariableInputType" => "NonInputTypeOnVariable",
        "UndefinedRootOperation" => "UnknownOperation",
        "TypeSystemDefinition" => "NonExecutableDefinition",
        _ => "ValidationError",
    }
}

/// The root type's name of an operation type, in the schema.
pub(super) fn root_type(operation_type: ast::OperationType) -> Option<&'static str> {
    schema().root_operation(operation_type).map(|n| n.as_str())
}
