//! Running a validated request: apollo-compiler's executor (field collection, `@skip` /
//! `@include`, fragments, result coercion, a mutation's fields one after the other) over the
//! resolvers here, which read and change the in-memory item list.
//!
//! The answer is bounded while it is built: each resolved field spends its key and value from
//! a budget of the response size (a lower bound of the JSON written), and once the budget is
//! spent every later field is skipped, a list stops, and no further mutation runs, so a query
//! asking for more than the limit costs about the limit. The JSON text is checked against the
//! limit again when written.

use super::request::{schema, Request};
use super::{Item, MAX_ITEMS, MAX_NAME};
use apollo_compiler::resolvers::{Execution, FieldError, ObjectValue, ResolveInfo, ResolvedValue};
use apollo_compiler::response::JsonValue;
use serde_json::{json, Value as Json};
use std::cell::{Cell, RefCell};
use std::sync::Mutex;
use tokenbridge_core::appsync::OperationKind;
use tokenbridge_core::clock::rfc3339;
use tokenbridge_core::secrets::uuid_v4;

/// The answer passed its size limit.
#[derive(Debug, PartialEq)]
pub(super) struct ResponseTooLarge;

/// Runs the operation: the `data` object as JSON text, and field errors. Stops with
/// [`ResponseTooLarge`] once the answer would be longer than `limit` bytes (fields already run,
/// such as a mutation's, stay done).
pub(super) fn execute(
    request: &Request,
    items: &Mutex<Vec<Item>>,
    owner: &str,
    now: i64,
    limit: usize,
) -> Result<(String, Vec<Json>), ResponseTooLarge> {
    let mut items = items.lock().unwrap_or_else(|e| e.into_inner());
    let run = Run {
        items: RefCell::new(&mut items),
        owner,
        now,
        budget: Budget { left: Cell::new(limit), spent: Cell::new(false) },
        errors: RefCell::new(Vec::new()),
        authorized: &request.operation.fields,
    };
    let root = Root { run: &run, kind: request.operation.kind };
    let execution = Execution::new(schema(), &request.document).coerced_variable_values(&request.variables);
    let response =
        execution.operation_name(request.operation_name.as_deref()).and_then(|e| e.execute_sync(&root)).map_err(|e| {
            // Only a validated request reaches here, so this is a bug, told as a field error.
            tracing::error!(error = %e.message(), "a validated GraphQL request did not run");
            e.message().to_string()
        });
    if run.budget.spent.get() {
        return Err(ResponseTooLarge);
    }
    let mut errors = run.errors.take();
    let data = match response {
        Ok(r) => {
            errors.extend(r.errors.iter().map(|e| {
                let mut e = serde_json::to_value(e).unwrap_or_else(|_| json!({ "message": e.message }));
                e["errorType"] = json!("ExecutionError");
                e
            }));
            serde_json::to_string(&r.data).unwrap_or_else(|_| "null".into())
        }
        Err(message) => {
            errors.push(json!({ "errorType": "InternalFailureException", "message": message }));
            "null".into()
        }
    };
    if data.len() > limit {
        return Err(ResponseTooLarge);
    }
    Ok((data, errors))
}

/// What the resolvers share while one request runs.
struct Run<'a> {
    items: RefCell<&'a mut Vec<Item>>,
    owner: &'a str,
    now: i64,
    budget: Budget,
    /// Field errors in AppSync's shape (`errorType`, `path`).
    errors: RefCell<Vec<Json>>,
    /// The top-level fields the engine allowed.
    authorized: &'a [(String, String)],
}

/// What is left of the response size.
struct Budget {
    left: Cell<usize>,
    /// Set once the answer would pass the limit; nothing more is resolved.
    spent: Cell<bool>,
}

impl Budget {
    /// Spends `bytes`; false once the budget is spent.
    fn spend(&self, bytes: usize) -> bool {
        if self.spent.get() {
            return false;
        }
        match self.left.get().checked_sub(bytes) {
            Some(left) => {
                self.left.set(left);
                true
            }
            None => {
                self.spent.set(true);
                false
            }
        }
    }

    /// Spends a field: its key (quoted, with the colon) and, for a string, the value quoted.
    fn field(&self, info: &ResolveInfo<'_>, value: Option<&str>) -> bool {
        let key = info.field_selections().first().map_or(info.field_name(), |f| f.response_key().as_str());
        self.spend(key.len() + 3 + value.map_or(0, |v| v.len() + 2))
    }
}

/// `Query` or `Mutation`.
struct Root<'a> {
    run: &'a Run<'a>,
    kind: OperationKind,
}

impl ObjectValue for Root<'_> {
    fn type_name(&self) -> &str {
        self.kind.type_name()
    }

    fn resolve_field<'b>(&'b self, info: &'b ResolveInfo<'b>) -> Result<ResolvedValue<'b>, FieldError> {
        let run = self.run;
        let (type_name, field) = (self.kind.type_name(), info.field_name());
        // The engine allowed every top-level field the document names; a field outside them is a bug.
        if !run.authorized.iter().any(|(t, f)| t == type_name && f == field) {
            return Err(FieldError { message: tokenbridge_core::appsync::not_authorized(type_name, field) });
        }
        if !run.budget.field(info, None) {
            return Ok(ResolvedValue::SkipForPartialExecution);
        }
        let id = || match info.arguments().get("id") {
            Some(JsonValue::String(s)) => s.as_str().to_string(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let item = move |i: Item| ResolvedValue::object(ItemValue { item: i, budget: &run.budget });
        Ok(match (self.kind, field) {
            (OperationKind::Query, "listItems") => {
                let snapshot: Vec<Item> = run.items.borrow().clone();
                let budget = &run.budget;
                ResolvedValue::list(snapshot.into_iter().take_while(move |_| !budget.spent.get()).map(item))
            }
            (OperationKind::Query, "getItem") => {
                let id = id();
                let found = run.items.borrow().iter().find(|i| i.id == id).cloned();
                found.map_or_else(ResolvedValue::null, item)
            }
            (OperationKind::Mutation, "addItem") => {
                let name = match info.arguments().get("name") {
                    Some(JsonValue::String(s)) => s.as_str().to_string(),
                    _ => String::new(),
                };
                if name.trim().is_empty() || name.chars().count() > MAX_NAME {
                    let key = info.field_selections().first().map_or(field, |f| f.response_key().as_str());
                    run.errors.borrow_mut().push(json!({
                        "path": [key],
                        "errorType": "BadRequestException",
                        "message": format!("name must be 1 to {MAX_NAME} characters, not blank"),
                    }));
                    return Ok(ResolvedValue::null());
                }
                let new = Item { id: uuid_v4(), name, owner: run.owner.into(), created_at: run.now };
                let mut items = run.items.borrow_mut();
                items.push(new.clone());
                if items.len() > MAX_ITEMS {
                    items.remove(0);
                }
                item(new)
            }
            (OperationKind::Mutation, "deleteItem") => {
                let id = id();
                let mut items = run.items.borrow_mut();
                match items.iter().position(|i| i.id == id) {
                    Some(at) => item(items.remove(at)),
                    None => ResolvedValue::null(),
                }
            }
            _ => return Err(self.unknown_field_error(info)),
        })
    }
}

/// One item, as the `Item` type shows it.
struct ItemValue<'a> {
    item: Item,
    budget: &'a Budget,
}

impl ObjectValue for ItemValue<'_> {
    fn type_name(&self) -> &str {
        "Item"
    }

    fn resolve_field<'b>(&'b self, info: &'b ResolveInfo<'b>) -> Result<ResolvedValue<'b>, FieldError> {
        let value = match info.field_name() {
            "id" => self.item.id.clone(),
            "name" => self.item.name.clone(),
            "owner" => self.item.owner.clone(),
            "createdAt" => rfc3339(self.item.created_at),
            _ => return Err(self.unknown_field_error(info)),
        };
        if !self.budget.field(info, Some(&value)) {
            return Ok(ResolvedValue::SkipForPartialExecution);
        }
        Ok(ResolvedValue::leaf(value))
    }
}
