//! Request bodies: the OpenAPI document and the parsers agree on the fields, through real HTTP.
//!
//! For every operation of `/openapi.json` with a JSON request body:
//! - the documented properties (and `required`, and whether other properties are refused) are
//!   exactly those of the body's description in the library (`fluxora::fields::BodySpec`), the
//!   one its parser reads; the same holds for the objects nested in it;
//! - the documented example of every property (its own, or its schema's) matches the property's
//!   schema, and a body made of them gets no `UNKNOWN_FIELD` detail: every documented field is
//!   read;
//! - a body that adds every property name the document uses elsewhere, and one no schema names,
//!   gets exactly those names back as `UNKNOWN_FIELD` details: every field the parser accepts is
//!   documented.

use std::collections::BTreeSet;

use fluxora::fields::{BodySpec, UnknownFields};
use serde_json::{json, Map, Value};

use crate::helpers::{TestApp, TestDb};

const ADMIN: &str = "fields-admin-token-0123456789abcdef";
const WORKER: &str = "fields-worker-token-0123456789abcdef";

/// A property name no schema of the document uses.
const UNDOCUMENTED: &str = "undocumentedField";

/// The body descriptions the parsers read, by the name of the schema they are rendered as.
fn parser_specs() -> Vec<&'static BodySpec> {
    vec![
        &fluxora::streams::create::NEW_STREAM,
        &fluxora::webhooks::service::CREATE_ENDPOINT,
        &fluxora::webhooks::service::UPDATE_ENDPOINT,
        &fluxora::apikeys::NEW_KEY,
        &fluxora::indexer::event::PUSH_BATCH,
        &fluxora::indexer::event::PUSHED_EVENT,
        &fluxora::indexer::event::PUSHED_ENTRY,
        &fluxora::indexer::event::PUSHED_LOOKBACK,
    ]
}

fn spec_named(name: &str) -> &'static BodySpec {
    parser_specs()
        .into_iter()
        .find(|spec| spec.name == name)
        .unwrap_or_else(|| panic!("no parser description is rendered as the schema {name}"))
}

/// A service with every route family that takes a body switched on.
async fn spawn(db: &TestDb) -> TestApp {
    TestApp::spawn_env(
        db,
        &[("ADMIN_TOKEN", ADMIN), ("INDEXER_WORKER_TOKEN", WORKER)],
    )
    .await
}

fn resolve<'a>(doc: &'a Value, reference: &str) -> &'a Value {
    let pointer = reference.strip_prefix('#').expect("local reference");
    doc.pointer(pointer)
        .unwrap_or_else(|| panic!("dangling reference {reference}"))
}

/// The schema `schema` references, or `schema` itself.
fn dereference<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => resolve(doc, reference),
        None => schema,
    }
}

fn schema_name(schema: &Value) -> Option<&str> {
    schema["$ref"]
        .as_str()
        .and_then(|reference| reference.strip_prefix("#/components/schemas/"))
}

/// Every property name used anywhere in the document's schemas.
fn every_property_name(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(object) => {
            if let Some(Value::Object(properties)) = object.get("properties") {
                out.extend(properties.keys().cloned());
            }
            object.values().for_each(|v| every_property_name(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| every_property_name(v, out)),
        _ => {}
    }
}

/// A documented example for `schema`: its own `examples`/`example`, the referenced schema's, the
/// first `enum` value, an array of one example item, or an object of its properties' examples.
fn example(doc: &Value, schema: &Value) -> Value {
    if let Some(value) = schema["examples"].get(0).or_else(|| schema.get("example")) {
        return value.clone();
    }
    if schema.get("$ref").is_some() {
        return example(doc, dereference(doc, schema));
    }
    if let Some(value) = schema["enum"].get(0) {
        return value.clone();
    }
    if let Some(Value::Object(properties)) = schema.get("properties") {
        let object: Map<String, Value> = properties
            .iter()
            .map(|(name, property)| (name.clone(), example(doc, property)))
            .collect();
        return Value::Object(object);
    }
    if schema.get("items").is_some() {
        return json!([example(doc, &schema["items"])]);
    }
    panic!("no documented example for {schema}");
}

/// Asserts that the object schema `name` documents exactly what its parser reads, and the same
/// for the objects nested in it.
fn assert_documents_its_parser(doc: &Value, name: &str) {
    let schema = &doc["components"]["schemas"][name];
    let spec = spec_named(name);
    let properties = schema["properties"].as_object().expect("properties");
    let documented: Vec<&str> = properties.keys().map(String::as_str).collect();
    let parsed: Vec<&str> = spec.names().collect();
    let mut sorted_documented = documented.clone();
    sorted_documented.sort_unstable();
    let mut sorted_parsed = parsed.clone();
    sorted_parsed.sort_unstable();
    assert_eq!(
        sorted_documented, sorted_parsed,
        "{name}: the documented properties are the fields its parser reads"
    );
    let required: BTreeSet<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let parser_required: BTreeSet<&str> = spec
        .fields
        .iter()
        .filter(|field| field.required)
        .map(|field| field.name)
        .collect();
    assert_eq!(required, parser_required, "{name}: required properties");
    let closed = schema["additionalProperties"] == json!(false);
    let refused = matches!(spec.unknown, UnknownFields::Refuse { .. });
    assert_eq!(
        closed, refused,
        "{name}: other properties are refused in the document iff the parser refuses them"
    );
    for (property, field) in properties {
        let nested = schema_name(field).or_else(|| schema_name(&field["items"]));
        if let Some(nested) = nested {
            if doc["components"]["schemas"][nested]["properties"].is_object() {
                assert_documents_its_parser(doc, nested);
            }
        }
        let nullable = field["type"]
            .as_array()
            .is_some_and(|types| types.contains(&json!("null")));
        let parser_nullable = spec.field(property).is_some_and(|f| f.nullable);
        assert_eq!(nullable, parser_nullable, "{name}.{property}: nullable");
    }
}

/// Asserts that `value` matches `schema` (references resolved in `doc`).
fn assert_matches(doc: &Value, schema: &Value, value: &Value, case: &str) {
    let mut schema = schema.clone();
    schema
        .as_object_mut()
        .expect("schema object")
        .insert("components".into(), doc["components"].clone());
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&schema)
        .expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{case}: {value} → {errors:?}");
}

/// Sends `body` to the operation and returns its `UNKNOWN_FIELD` detail fields.
async fn unknown_fields(app: &TestApp, method: &str, path: &str, body: &Value) -> BTreeSet<String> {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let response = app
        .client
        .request(method.clone(), app.url(path))
        .header("authorization", format!("Bearer {ADMIN}"))
        .header("x-indexer-worker-token", WORKER)
        .json(body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    assert!(
        status != 404 && status != 401 && status != 403 && status < 500,
        "{method} {path}: {status} {answer}"
    );
    answer["error"]["details"]
        .as_array()
        .map(|details| {
            details
                .iter()
                .filter(|d| d["code"] == "UNKNOWN_FIELD")
                .filter_map(|d| d["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `path` made concrete on `app`: `{id}` of a webhook endpoint is an endpoint created for it.
async fn concrete(app: &TestApp, path: &str) -> String {
    if !path.contains('{') {
        return path.to_owned();
    }
    assert_eq!(
        path, "/api/webhooks/endpoints/{id}",
        "a body route with a path parameter this test has no fixture for"
    );
    let created: Value = app
        .client
        .post(app.url("/api/webhooks/endpoints"))
        .header("authorization", format!("Bearer {ADMIN}"))
        .json(&json!({"url": "https://example.com/fixture"}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    let id = created["id"].as_str().expect("an endpoint id");
    format!("/api/webhooks/endpoints/{id}")
}

#[tokio::test]
async fn every_documented_request_field_is_read_and_every_read_field_is_documented() {
    let db = TestDb::new().await;
    let app = spawn(&db).await;
    let doc = app.get_json("/openapi.json").await;
    app.stop().await;
    let mut names = BTreeSet::new();
    every_property_name(&doc["components"], &mut names);
    names.insert(UNDOCUMENTED.to_owned());

    let mut bodies = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let schema = &operation["requestBody"]["content"]["application/json"]["schema"];
            if schema.is_null() {
                continue;
            }
            let method = method.to_uppercase();
            let name = schema_name(schema)
                .unwrap_or_else(|| panic!("{method} {path}: the body is a named schema"));
            bodies.insert(name.to_owned());
            assert_documents_its_parser(&doc, name);

            // Each operation gets its own service: a created API key closes the stream routes.
            let db = TestDb::new().await;
            let app = spawn(&db).await;
            let target = concrete(&app, path).await;

            let body = example(&doc, schema);
            assert_matches(
                &doc,
                schema,
                &body,
                &format!("{method} {path}: the example"),
            );
            let documented: BTreeSet<String> = body
                .as_object()
                .expect("an object body")
                .keys()
                .cloned()
                .collect();
            let refused = unknown_fields(&app, &method, &target, &body).await;
            assert!(
                refused.is_empty(),
                "{method} {path}: documented fields refused as unknown: {refused:?}"
            );

            let probes: BTreeSet<String> = names.difference(&documented).cloned().collect();
            let mut probed = body.clone();
            for probe in &probes {
                probed[probe.as_str()] = json!(1);
            }
            let refused = unknown_fields(&app, &method, &target, &probed).await;
            assert_eq!(
                refused, probes,
                "{method} {path}: every undocumented field, and only those, is UNKNOWN_FIELD"
            );
            app.stop().await;
        }
    }
    let expected: BTreeSet<String> = [
        "CreateStreamRequest",
        "CreateEndpointRequest",
        "UpdateEndpointRequest",
        "CreateKeyRequest",
        "IngestBatchRequest",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(bodies, expected, "the operations with a JSON body");
}
