use serde_json::{json, Value};

use super::*;

const ITEM: Shape = Shape::String(Text::ANY);

/// A body exercising every getter: `title` required, `note` nullable, `count` optional,
/// `flag` optional, `tags` nullable, `items` required.
const SAMPLE: BodySpec = BodySpec {
    name: "Sample",
    description: "A sample body.",
    fields: &[
        FieldSpec::required(
            "title",
            Shape::String(Text::ANY.pattern("^[a-z]+$").length(Some(1), Some(10))),
            "A title.",
        )
        .example("\"abc\""),
        FieldSpec::optional("note", Shape::String(Text::ANY), "A note.").nullable(),
        FieldSpec::optional(
            "count",
            Shape::Integer(Integer::range(1, 4_294_967_295, Format::Int32)),
            "A count.",
        ),
        FieldSpec::optional("flag", Shape::Boolean, "A flag."),
        FieldSpec::optional("tags", Shape::Array(Array::of(&ITEM)), "Tags.").nullable(),
        FieldSpec::required(
            "items",
            Shape::Array(Array::of(&ITEM).count(Some(1), Some(3))),
            "Items.",
        ),
    ],
    unknown: UnknownFields::Refuse {
        message: "unknown field; allowed: ",
        list_names: true,
        mark_cut: true,
    },
    not_object: "the sample must be an object",
};

const OPEN: BodySpec = BodySpec {
    name: "Open",
    description: "An object that ignores undeclared fields.",
    fields: &[FieldSpec::optional("a", Shape::Boolean, "A.")],
    unknown: UnknownFields::Ignore,
    not_object: "not an object",
};

/// The error of a getter: the mismatch's kind, on the field `name`.
fn kind(name: &'static str) -> impl FnOnce(Mismatch<'_>) -> FieldError {
    move |mismatch| {
        let code = match mismatch {
            Mismatch::Absent => "ABSENT",
            Mismatch::Null => "NULL",
            Mismatch::Invalid(_) => "INVALID",
            Mismatch::InvalidItem { .. } => "ITEM",
        };
        let message = match mismatch {
            Mismatch::InvalidItem { index, value } => format!("{index}: {}", json_type(value)),
            Mismatch::Invalid(value) => json_type(value).to_owned(),
            Mismatch::Absent | Mismatch::Null => String::new(),
        };
        FieldError::new(name, code, message)
    }
}

fn codes(errors: ValidationErrors) -> Vec<(String, &'static str)> {
    errors.0.into_iter().map(|e| (e.field, e.code)).collect()
}

#[test]
fn a_body_that_is_not_an_object_is_invalid_body() {
    for body in [json!([]), json!("x"), json!(1), Value::Null] {
        let errors = FieldReader::body(&SAMPLE, &body).unwrap_err();
        assert_eq!(
            errors.0,
            vec![FieldError::new(
                "body",
                INVALID_BODY,
                "the sample must be an object"
            )]
        );
    }
}

#[test]
fn every_unknown_field_is_reported_cut_and_redacted() {
    let seed = "SBGWKM3CD4IL47QN6X54N6Y33T3JDNVI6AIJ6CD5IM47HG3IG4O36XCU";
    let long = "y".repeat(100);
    let body = json!({"title": "a", "items": ["x"], "extra": 1, seed: 2, long.clone(): 3});
    let reader = FieldReader::body(&SAMPLE, &body).unwrap();
    let errors = reader.into_errors().0;
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    let cut = format!("{}…", "y".repeat(MAX_SHOWN_NAME_CHARS));
    assert_eq!(fields, ["S…[redacted]", "extra", cut.as_str()]);
    assert!(errors.iter().all(|e| e.code == UNKNOWN_FIELD));
    assert_eq!(
        errors[0].message,
        "unknown field; allowed: title, note, count, flag, tags, items"
    );

    assert_eq!(shown_name(&long, false), "y".repeat(MAX_SHOWN_NAME_CHARS));
    assert_eq!(shown_name("short", true), "short");
    assert_eq!(shown_name(&"é".repeat(64), true), "é".repeat(64));

    // An open object reports nothing.
    let body = json!({"a": true, "b": 1});
    assert!(FieldReader::body(&OPEN, &body).unwrap().finish().is_ok());
}

#[test]
fn presence_and_null_follow_the_spec() {
    let body = json!({"note": null, "flag": null, "tags": null});
    let mut reader = FieldReader::body(&SAMPLE, &body).unwrap();
    assert_eq!(reader.string("title", kind("title")), None);
    assert_eq!(reader.string("note", kind("note")), Some(None));
    assert_eq!(reader.unsigned::<u32>("count", kind("count")), Some(None));
    assert_eq!(reader.boolean("flag", kind("flag")), None);
    assert_eq!(reader.strings("tags", kind("tags")), Some(None));
    assert_eq!(reader.array("items", kind("items")), None);
    assert!(reader.present("note") && !reader.present("count"));
    assert_eq!(
        codes(reader.finish().unwrap_err()),
        [
            ("title".to_owned(), "ABSENT"),
            ("flag".to_owned(), "NULL"),
            ("items".to_owned(), "ABSENT"),
        ]
    );
}

#[test]
fn typed_getters_read_their_type_and_refuse_others() {
    let body = json!({
        "title": "abc", "note": "n", "count": 7, "flag": false,
        "tags": ["a", "b"], "items": ["x", 1]
    });
    let mut reader = FieldReader::body(&SAMPLE, &body).unwrap();
    assert_eq!(reader.string("title", kind("title")), Some(Some("abc")));
    assert_eq!(reader.string("note", kind("note")), Some(Some("n")));
    assert_eq!(
        reader.unsigned::<u32>("count", kind("count")),
        Some(Some(7))
    );
    assert_eq!(reader.boolean("flag", kind("flag")), Some(Some(false)));
    assert_eq!(
        reader.strings("tags", kind("tags")),
        Some(Some(vec!["a", "b"]))
    );
    assert_eq!(reader.strings("items", kind("items")), None);
    let errors = reader.finish().unwrap_err().0;
    assert_eq!(errors, [FieldError::new("items", "ITEM", "1: a number")]);

    for bad in [json!(-1), json!(1.5), json!(4_294_967_296_u64), json!("7")] {
        let body = json!({"count": bad});
        let mut reader = FieldReader::body(&SAMPLE, &body).unwrap();
        assert_eq!(
            reader.unsigned::<u32>("count", kind("count")),
            None,
            "{bad}"
        );
        assert_eq!(
            codes(reader.finish().unwrap_err()),
            [("count".to_owned(), "INVALID")]
        );
    }
    let body = json!({"count": 4_294_967_296_u64});
    let mut reader = FieldReader::body(&SAMPLE, &body).unwrap();
    assert_eq!(
        reader.unsigned::<u64>("count", kind("count")),
        Some(Some(4_294_967_296))
    );
    assert_eq!(
        reader.array("count", kind("count")),
        None,
        "a number is not an array"
    );
}

#[test]
fn parse_and_rules_collect_errors_in_order() {
    let body = json!({"title": "abc", "items": []});
    let mut reader = FieldReader::body(&SAMPLE, &body).unwrap();
    let title: Option<usize> = reader.parse("title", |value| {
        Err(FieldError::new(
            "title",
            "RULE",
            json_type(value.unwrap_or(&Value::Null)),
        ))
    });
    assert_eq!(title, None);
    assert_eq!(reader.take::<u8>(Ok(3)), Some(3));
    reader.push(FieldError::new("items", "EMPTY", "no items"));
    assert!(!reader.is_empty());
    assert_eq!(
        reader.into_errors().0,
        [
            FieldError::new("title", "RULE", "a string"),
            FieldError::new("items", "EMPTY", "no items"),
        ]
    );
}

#[test]
fn the_schema_states_what_the_reader_reads() {
    let schema = serde_json::to_value(schema::object(&SAMPLE)).unwrap();
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["description"], "A sample body.");
    assert_eq!(schema["required"], json!(["title", "items"]));
    assert_eq!(schema["additionalProperties"], json!(false));
    // Properties in declaration order (read from the schema itself: `serde_json::Value` sorts).
    let RefOr::T(Schema::Object(object)) = schema::object(&SAMPLE) else {
        panic!("an object schema");
    };
    let names: Vec<&str> = object.properties.keys().map(String::as_str).collect();
    assert_eq!(names, SAMPLE.names().collect::<Vec<_>>());
    let properties = &schema["properties"];
    assert_eq!(
        properties["title"],
        json!({"type": "string", "description": "A title.", "examples": ["abc"],
               "maxLength": 10, "minLength": 1, "pattern": "^[a-z]+$"})
    );
    assert_eq!(properties["note"]["type"], json!(["string", "null"]));
    assert_eq!(
        properties["count"],
        json!({"type": "integer", "format": "int32", "description": "A count.",
               "maximum": 4_294_967_295_u64, "minimum": 1})
    );
    assert_eq!(properties["flag"]["type"], "boolean");
    assert_eq!(
        properties["tags"],
        json!({"type": ["array", "null"], "items": {"type": "string"}, "description": "Tags."})
    );
    assert_eq!(properties["items"]["minItems"], 1);
    assert_eq!(properties["items"]["maxItems"], 3);

    let open = serde_json::to_value(schema::object(&OPEN)).unwrap();
    assert!(open.get("additionalProperties").is_none());
    assert!(open.get("required").is_none());
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
enum Colour {
    Red,
}

const NESTED: BodySpec = BodySpec {
    name: "Nested",
    description: "References.",
    fields: &[
        FieldSpec::required(
            "colour",
            Shape::Component(Component::of::<Colour>()),
            "A colour.",
        ),
        FieldSpec::optional(
            "samples",
            Shape::Array(Array::of(&Shape::Object(&OPEN))),
            "Samples.",
        ),
        FieldSpec::optional(
            "shade",
            Shape::Component(Component::of::<Colour>()),
            "A shade.",
        )
        .nullable(),
    ],
    unknown: UnknownFields::Ignore,
    not_object: "not an object",
};

#[test]
fn references_name_their_components() {
    let schema = serde_json::to_value(schema::object(&NESTED)).unwrap();
    assert_eq!(
        schema["properties"]["colour"],
        json!({"$ref": "#/components/schemas/Colour", "description": "A colour."})
    );
    assert_eq!(
        schema["properties"]["samples"]["items"],
        json!({"$ref": "#/components/schemas/Open"})
    );
    assert_eq!(
        schema["properties"]["shade"],
        json!({"oneOf": [{"$ref": "#/components/schemas/Colour"}, {"type": "null"}],
               "description": "A shade."})
    );
    let mut components = Vec::new();
    schema::components(&NESTED, &mut components);
    let names: Vec<&str> = components.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["Colour", "Open", "Colour"]);
}
