use super::execution::{execute, ResponseTooLarge};
use super::request::{parse_request, Request};
use super::*;
use serde_json::{json, Value as Json};
use tokenbridge_core::appsync::{GraphqlRejection, OperationKind};

const NOW: i64 = 1_700_000_000;

fn request(query: &str, variables: Json) -> Result<Request, GraphqlRejection> {
    parse_request(json!({ "query": query, "variables": variables }).to_string().as_bytes())
}

fn named(query: &str, operation: &str) -> Result<Request, GraphqlRejection> {
    parse_request(json!({ "query": query, "operationName": operation }).to_string().as_bytes())
}

/// AppSync's `errorType` of a rejection.
fn words(r: GraphqlRejection) -> &'static str {
    super::http::graphql_words(r.reason).0
}

fn message(r: Result<Request, GraphqlRejection>) -> String {
    match r {
        Ok(p) => panic!("expected a rejection, got {:?}", p.operation),
        Err(e) => e.message,
    }
}

fn item(id: &str, name: &str) -> Item {
    Item { id: id.into(), name: name.into(), owner: "demo".into(), created_at: NOW }
}

fn items() -> Mutex<Vec<Item>> {
    Mutex::new(vec![item("item-1", "One"), item("item-2", "Two")])
}

/// Runs a valid request as `alice`: the `data` text, and the field errors.
fn run(query: &str, variables: Json, items: &Mutex<Vec<Item>>) -> (String, Vec<Json>) {
    let r = request(query, variables).unwrap_or_else(|e| panic!("{query}: {}", e.message));
    execute(&r, items, "alice", NOW, MAX_RESPONSE_BYTES).expect("within the size limit")
}

fn fields(r: &Request) -> Vec<(&str, &str)> {
    r.operation.fields.iter().map(|(t, f)| (t.as_str(), f.as_str())).collect()
}

#[test]
fn the_console_signs_its_explain_requests_for_this_api() {
    assert_eq!(SIGNING_NAME, tokenbridge_server::console::EXPLAIN_SIGNING_NAME);
}

#[test]
fn operations_with_variables_aliases_and_nested_selections() {
    let doc = r#"
        # a comment
        query Items($id: ID!) {
          all: listItems { id, name owner }
          one: getItem(id: $id) { __typename createdAt }
        }
        mutation Add { addItem(name: "caf\u00e9 \"x\"") { name } }
    "#;
    let q = parse_request(
        json!({ "query": doc, "operationName": "Items", "variables": { "id": "item-2" } }).to_string().as_bytes(),
    )
    .unwrap();
    assert_eq!((q.operation.kind, q.operation.name.as_deref()), (OperationKind::Query, Some("Items")));
    assert_eq!(fields(&q), [("Query", "listItems"), ("Query", "getItem")]);
    let (data, errors) = execute(&q, &items(), "alice", NOW, MAX_RESPONSE_BYTES).unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        data,
        r#"{"all":[{"id":"item-1","name":"One","owner":"demo"},{"id":"item-2","name":"Two","owner":"demo"}],"one":{"__typename":"Item","createdAt":"2023-11-14T22:13:20Z"}}"#
    );
    let m = named(doc, "Add").unwrap();
    assert_eq!(m.operation.kind, OperationKind::Mutation);
    let (data, _) = execute(&m, &items(), "alice", NOW, MAX_RESPONSE_BYTES).unwrap();
    assert_eq!(data, r#"{"addItem":{"name":"café \"x\""}}"#);
    let short = request("{ listItems { id } }", Json::Null).unwrap();
    assert_eq!((short.operation.kind, short.operation.name.as_deref()), (OperationKind::Query, None));
}

#[test]
fn literals_of_every_kind_are_read() {
    let list = items();
    let block = "mutation { addItem(name: \"\"\"\n      block\n        text\n    \"\"\") { name } }";
    assert_eq!(run(block, Json::Null, &list).0, r#"{"addItem":{"name":"block\n  text"}}"#);
    let escaped = r#"mutation { addItem(name: "tab\there \ud83d\ude00 \/") { name } }"#;
    assert_eq!(run(escaped, Json::Null, &list).0, "{\"addItem\":{\"name\":\"tab\\there 😀 /\"}}");
    // An ID may be written as an integer.
    assert_eq!(run("{ getItem(id: 12) { id } }", Json::Null, &list).0, r#"{"getItem":null}"#);
    // Every declared variable must be used (the specification's rule).
    let q = "query($names: [String!] = [\"a\", \"b\"]) { listItems { id } }";
    assert!(message(request(q, Json::Null)).contains("UnusedVariable"));
}

#[test]
fn syntax_errors_name_the_position() {
    let m = message(request("query {\n  listItems { id \n", Json::Null));
    assert!(m.starts_with("Invalid Syntax: "), "{m}");
    assert!(m.ends_with("at line 2 column 19"), "{m}");
    assert!(message(request("{ a(x: \"open) }", Json::Null)).starts_with("Invalid Syntax"));
    assert!(message(request("{ a(x: 012) }", Json::Null)).starts_with("Invalid Syntax"));
    assert!(message(request("", Json::Null)).starts_with("Invalid Syntax"));
    assert!(message(request("{ listItems { id } } { listItems { name } }", Json::Null))
        .contains("LoneAnonymousOperationViolation"));
    assert!(message(request("query A { listItems { id } } query A { listItems { name } }", Json::Null))
        .contains("DuplicateOperationName"));
    assert!(message(request("subscription { listItems { id } }", Json::Null)).contains("UnknownOperation"));
    let deep = format!("{}{}", "{ a ".repeat(40), "}".repeat(40));
    assert!(message(request(&deep, Json::Null)).contains("the parser's limit of 32 levels"));
    let deep_value = format!("{{ getItem(id: {}1{}) {{ id }} }}", "[".repeat(40), "]".repeat(40));
    assert!(message(request(&deep_value, Json::Null)).contains("the parser's limit of 32 levels"));
}

#[test]
fn fields_are_authorized_once_each_through_fragments_and_directives() {
    let p = request(
        "query Q($id: ID!) { a: getItem(id: $id) { id } b: getItem(id: \"x\") { name } listItems { id } __typename }",
        json!({ "id": 7 }),
    )
    .unwrap();
    assert_eq!(p.operation.kind, OperationKind::Query);
    assert_eq!(p.operation.name.as_deref(), Some("Q"));
    assert_eq!(fields(&p), [("Query", "getItem"), ("Query", "listItems")]);
    let m = request("mutation { addItem(name: \"n\") { id } deleteItem(id: 3) { id } }", Json::Null).unwrap();
    assert_eq!(fields(&m), [("Mutation", "addItem"), ("Mutation", "deleteItem")]);

    // A field reached through a fragment, an inline fragment, or under `@skip` / `@include`
    // is asked for whatever the condition says.
    let q = "mutation($keep: Boolean = false) {
        ...Deletes
        ... on Mutation { addItem(name: \"x\") { id } }
        other: deleteItem(id: \"1\") @include(if: $keep) { id }
      }
      fragment Deletes on Mutation { deleteItem(id: \"2\") { id } }";
    assert_eq!(fields(&request(q, Json::Null).unwrap()), [("Mutation", "deleteItem"), ("Mutation", "addItem")]);
    let only_typename = request("{ __typename }", Json::Null).unwrap();
    assert!(only_typename.operation.fields.is_empty());
}

#[test]
fn fragments_and_directives_run_as_the_specification_says() {
    let list = items();
    let q = "query($withOwner: Boolean!, $id: ID = \"item-2\") {
        listItems { ...Names ... on Item { owner @include(if: $withOwner) } }
        getItem(id: $id) { ...Names id @skip(if: true) }
      }
      fragment Names on Item { name __typename }";
    let (data, _) = run(q, json!({ "withOwner": false }), &list);
    assert_eq!(
        data,
        r#"{"listItems":[{"name":"One","__typename":"Item"},{"name":"Two","__typename":"Item"}],"getItem":{"name":"Two","__typename":"Item"}}"#
    );
    let (data, _) = run(q, json!({ "withOwner": true, "id": "item-1" }), &list);
    assert!(data.contains(r#"{"name":"One","__typename":"Item","owner":"demo"}"#), "{data}");
    assert!(data.ends_with(r#""getItem":{"name":"One","__typename":"Item"}}"#), "{data}");
    // A whole top-level field skipped: not run, not in `data` (still authorized, above).
    let (data, _) = run("mutation { deleteItem(id: \"item-1\") @skip(if: true) { id } }", Json::Null, &list);
    assert_eq!(data, "{}");
    assert_eq!(list.lock().unwrap().len(), 2);
}

#[test]
fn introspection_is_refused_and_typename_answered() {
    let m = message(request("{ __schema { types { name } } }", Json::Null));
    assert!(m.contains("IntrospectionDisabled") && m.contains("__schema"), "{m}");
    let m = message(request("{ ...I } fragment I on Query { __type(name: \"Item\") { name } }", Json::Null));
    assert!(m.contains("IntrospectionDisabled") && m.contains("__type"), "{m}");
    let (data, _) = run("{ __typename listItems { __typename } }", Json::Null, &items());
    assert_eq!(data, r#"{"__typename":"Query","listItems":[{"__typename":"Item"},{"__typename":"Item"}]}"#);
    let (data, _) = run("mutation { __typename }", Json::Null, &items());
    assert_eq!(data, r#"{"__typename":"Mutation"}"#);
}

#[test]
fn validation_errors_follow_the_schema() {
    let m = |q: &str, v: Json| message(request(q, v));
    assert!(m("{ nope { id } }", Json::Null)
        .contains("Validation error of type FieldUndefined: Field 'nope' in type 'Query' is undefined @ 'nope'"));
    assert!(m("{ addItem(name: \"x\") { id } }", Json::Null).contains("in type 'Query'"));
    assert!(m("{ items: listItems { secret } }", Json::Null)
        .contains("Field 'secret' in type 'Item' is undefined @ 'items/secret'"));
    assert!(m("{ listItems }", Json::Null).contains("SubSelectionRequired"));
    assert!(m("{ listItems { id { x } } }", Json::Null).contains("SubSelectionNotAllowed"));
    assert!(m("{ getItem { id } }", Json::Null).contains("MissingFieldArgument"));
    assert!(m("{ getItem(id: 1, x: 2) { id } }", Json::Null).contains("UnknownArgument"));
    assert!(m("{ getItem(id: $v) { id } }", Json::Null).contains("UndefinedVariable"));
    assert!(m("{ getItem(id: true) { id } }", Json::Null).contains("WrongType"));
    assert!(m("{ getItem(id: null) { id } }", Json::Null).contains("WrongType"));
    assert!(m("query($v: ID!) { getItem(id: $v) { id } }", json!({})).contains("non-null variable"));
    assert!(m("query($v: ID!) { getItem(id: $v) { id } }", json!({ "v": true })).contains("VariableError"));
    assert!(m("query($v: String!) { getItem(id: $v) { id } }", json!({"v": "x"})).contains("VariableTypeMismatch"));
    assert!(m("query($v: Foo) { getItem(id: \"1\") { id } }", json!({"v": 1})).contains("UnknownType"));
    assert!(m("{ a: listItems { id } a: getItem(id: 1) { id } }", Json::Null).contains("FieldsConflict"));
    assert!(m("{ listItems { ...Missing } }", Json::Null).contains("UndefinedFragment"));
    assert!(m("{ listItems { id } } fragment Unused on Item { id }", Json::Null).contains("UnusedFragment"));
    assert!(m("{ listItems { ... on Query { __typename } } }", Json::Null).contains("InvalidFragmentType"));
    assert!(m("{ listItems @nope { id } }", Json::Null).contains("UnknownDirective"));
    assert!(m("{ listItems @skip { id } }", Json::Null).contains("MissingFieldArgument"));
    // Each problem is told, up to three, with how many more there are.
    let unused = |n: usize| (0..n).map(|i| format!(" fragment F{i} on Item {{ id }}")).collect::<String>();
    let two = m(&format!("{{ listItems {{ id }} }}{}", unused(2)), Json::Null);
    assert_eq!(two.matches("UnusedFragment").count(), 2, "{two}");
    assert!(two.contains("at line 1 column 22; Validation error of type UnusedFragment"), "{two}");
    let many = m(&format!("{{ listItems {{ id }} }}{}", unused(5)), Json::Null);
    assert_eq!(many.matches("UnusedFragment").count(), 3, "{many}");
    assert!(many.ends_with("; and 2 more"), "{many}");
    // The same field twice under one key is one field.
    let (data, _) = run("{ listItems { id } listItems { id } }", Json::Null, &items());
    assert_eq!(data, r#"{"listItems":[{"id":"item-1"},{"id":"item-2"}]}"#);
}

#[test]
fn malformed_bodies_and_operation_choice() {
    let r = |body: &str| parse_request(body.as_bytes()).map(|_| ()).unwrap_err();
    assert_eq!(words(r("not json")), "MalformedHttpRequestException");
    assert_eq!(words(r("[]")), "MalformedHttpRequestException");
    assert_eq!(words(r("{\"variables\": {}}")), "MalformedHttpRequestException");
    assert_eq!(words(r("{\"query\": \"{ listItems { id } }\", \"variables\": 3}")), "MalformedHttpRequestException");
    assert_eq!(
        words(r("{\"query\": \"{ listItems { id } }\", \"operationName\": 3}")),
        "MalformedHttpRequestException"
    );
    let long = json!({ "query": format!("{{ listItems {{ id }} }} #{}", "x".repeat(MAX_QUERY_BYTES)) });
    assert_eq!(words(r(&long.to_string())), "MalformedHttpRequestException");
    let two = "query A { listItems { id } } mutation B { addItem(name: \"x\") { id } }";
    assert!(r(&json!({ "query": two }).to_string()).message.contains("Must provide operation name"));
    assert!(r(&json!({ "query": two, "operationName": "C" }).to_string()).message.contains("Unknown operation"));
    assert_eq!(named(two, "B").unwrap().operation.kind, OperationKind::Mutation);
}

#[test]
fn runs_in_order_and_projects_the_selection() {
    let list = Mutex::new(vec![item("item-1", "One")]);
    let (s, errors) = run(
        "mutation { added: addItem(name: \"Two\") { owner name __typename } gone: deleteItem(id: \"item-1\") { id } again: deleteItem(id: \"item-1\") { id } }",
        Json::Null,
        &list,
    );
    assert!(errors.is_empty());
    assert_eq!(
        s,
        r#"{"added":{"owner":"alice","name":"Two","__typename":"Item"},"gone":{"id":"item-1"},"again":null}"#
    );
    let q = request("{ listItems { name createdAt } __typename }", Json::Null).unwrap();
    let (s, _) = execute(&q, &list, "bob", NOW, MAX_RESPONSE_BYTES).unwrap();
    assert_eq!(s, r#"{"listItems":[{"name":"Two","createdAt":"2023-11-14T22:13:20Z"}],"__typename":"Query"}"#);
    let (s, errors) = run("mutation { addItem(name: \"  \") { id } }", Json::Null, &list);
    assert_eq!(s, r#"{"addItem":null}"#);
    assert_eq!(errors[0]["errorType"], "BadRequestException");
    assert_eq!(errors[0]["path"], json!(["addItem"]));
    // Past the size limit the run stops.
    assert_eq!(execute(&q, &list, "bob", NOW, 20), Err(ResponseTooLarge));
}

#[test]
fn past_the_size_limit_nothing_more_runs() {
    let list = Mutex::new((0..100).map(|i| item(&format!("item-{i}"), &"n".repeat(200))).collect());
    // The answer passes the limit within the second field: the third does not run.
    let q = "mutation { a: deleteItem(id: \"item-0\") { name } b: deleteItem(id: \"item-1\") { name } \
             c: deleteItem(id: \"item-2\") { name } }";
    assert_eq!(execute(&request(q, Json::Null).unwrap(), &list, "bob", NOW, 250), Err(ResponseTooLarge));
    let left: Vec<String> = list.lock().unwrap().iter().take(2).map(|i| i.id.clone()).collect();
    assert_eq!(left, ["item-2", "item-3"], "the first two deletes ran, the third did not");
    // Just within the limit, the same answer is given.
    let q = request("{ listItems { id } }", Json::Null).unwrap();
    let (full, _) = execute(&q, &list, "bob", NOW, MAX_RESPONSE_BYTES).unwrap();
    assert_eq!(execute(&q, &list, "bob", NOW, full.len()).unwrap().0, full);
    assert_eq!(execute(&q, &list, "bob", NOW, full.len() - 1), Err(ResponseTooLarge));
}

#[test]
fn aliases_depth_fields_and_spreads_are_bounded_with_fragments_expanded() {
    let limit = |q: &str, named: &str| {
        let m = message(request(q, Json::Null));
        assert!(m.contains(named) && m.contains("limit"), "{q}: {m}");
    };
    let aliases: String = (0..=MAX_ALIASES).map(|i| format!("a{i}: __typename ")).collect();
    limit(&format!("{{ {aliases} }}"), "aliases");
    // Aliases inside a fragment count at each spread.
    let few: String = (0..MAX_ALIASES / 2 + 1).map(|i| format!("a{i}: id ")).collect();
    limit(&format!("{{ listItems {{ ...F ...F }} }} fragment F on Item {{ {few} }}"), "aliases");
    let deep = format!("{{ listItems {} id {} }}", "{ id ".repeat(20), "}".repeat(20));
    limit(&deep, "depth");
    limit(&format!("{{ listItems {{ {} }} }}", "id ".repeat(MAX_FIELDS + 1)), "fields");
    // Depth through fragments is the depth of the answer.
    let q = "{ listItems { ...A } } fragment A on Item { id }";
    request(q, Json::Null).unwrap();

    // A fan-out: each fragment spreads the one before it twice (2^20 copies of `id`).
    let mut fan = String::from("{ listItems { ...F20 } } fragment F0 on Item { id }");
    for i in 1..=20 {
        fan.push_str(&format!(" fragment F{i} on Item {{ ...F{} ...F{} }}", i - 1, i - 1));
    }
    let started = std::time::Instant::now();
    limit(&fan, "fragment spreads");
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "bounded in {:?}", started.elapsed());
    // Fan-out that ends in a cycle instead of fields.
    let mut cycle = String::from("{ listItems { ...F20 } } fragment F0 on Item { ...F20 }");
    for i in 1..=20 {
        cycle.push_str(&format!(" fragment F{i} on Item {{ ...F{} ...F{} }}", i - 1, i - 1));
    }
    limit(&cycle, "fragment spreads");
    // A plain cycle is refused by validation.
    let m = message(request(
        "{ listItems { ...A } } fragment A on Item { id ...B } fragment B on Item { ...A }",
        Json::Null,
    ));
    assert!(m.contains("FragmentCycle"), "{m}");
    // Every operation and fragment of the document is bounded, run or not.
    let q = format!("query A {{ listItems {{ id }} }} query B {{ {aliases} }}");
    let m = message(named(&q, "A"));
    assert!(m.contains("aliases"), "{m}");
}
