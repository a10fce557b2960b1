//! A [`BodySpec`] rendered as an OpenAPI 3.1 schema, with utoipa's builders.
//!
//! The request body types of the HTTP layer implement [`utoipa::ToSchema`] with [`object`] and
//! [`components`], so the document states exactly what the body's parser reads: the declared
//! properties in order, `required` from [`FieldSpec::required`], `["…","null"]` types from
//! [`FieldSpec::nullable`], the constraints of each [`Shape`], and `additionalProperties: false`
//! when undeclared fields are refused.

use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, Ref, RefBuilder,
    Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::RefOr;

use super::{BodySpec, FieldSpec, Format, SchemaList, Shape, UnknownFields};

/// The object schema of `spec`.
pub fn object(spec: &BodySpec) -> RefOr<Schema> {
    let mut builder = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(spec.description));
    for field in spec.fields {
        builder = builder.property(field.name, property(field));
        if field.required {
            builder = builder.required(field.name);
        }
    }
    if matches!(spec.unknown, UnknownFields::Refuse { .. }) {
        builder = builder.additional_properties(Some(AdditionalProperties::FreeForm(false)));
    }
    builder.into()
}

/// Every named schema the fields of `spec` reference (nested specs and components, with what
/// they reference in turn), as [`utoipa::ToSchema::schemas`] collects them.
pub fn components(spec: &BodySpec, out: &mut SchemaList) {
    for field in spec.fields {
        shape_components(&field.shape, out);
    }
}

fn shape_components(shape: &Shape, out: &mut SchemaList) {
    match shape {
        Shape::Component(component) => {
            out.push(((component.name)().into_owned(), (component.schema)()));
            (component.schemas)(out);
        }
        Shape::Object(spec) => {
            out.push((spec.name.to_owned(), object(spec)));
            components(spec, out);
        }
        Shape::Array(array) => shape_components(array.items, out),
        Shape::String(_) | Shape::Integer(_) | Shape::Boolean => {}
    }
}

/// The schema of one property: its shape with the field's description, nullability and
/// example (a reference shows the examples of the schema it names).
fn property(field: &FieldSpec) -> RefOr<Schema> {
    let example = field
        .example
        .and_then(|json| serde_json::from_str::<serde_json::Value>(json).ok());
    let description = Some(field.description);
    if let Some(name) = reference(&field.shape) {
        return if field.nullable {
            OneOfBuilder::new()
                .item(Ref::from_schema_name(name))
                .item(ObjectBuilder::new().schema_type(Type::Null))
                .description(description)
                .into()
        } else {
            RefBuilder::new()
                .ref_location_from_schema_name(name)
                .description(description)
                .into()
        };
    }
    match &field.shape {
        Shape::Array(array) => ArrayBuilder::new()
            .schema_type(schema_type(Type::Array, field.nullable))
            .items(item(array.items))
            .description(description)
            .examples(example)
            .min_items(array.min_items)
            .max_items(array.max_items)
            .into(),
        shape => scalar(shape, field.nullable)
            .description(description)
            .examples(example)
            .into(),
    }
}

/// The schema of an array's items (no description of their own).
fn item(shape: &Shape) -> RefOr<Schema> {
    if let Some(name) = reference(shape) {
        return Ref::from_schema_name(name).into();
    }
    match shape {
        Shape::Array(array) => ArrayBuilder::new()
            .items(item(array.items))
            .min_items(array.min_items)
            .max_items(array.max_items)
            .into(),
        shape => scalar(shape, false).into(),
    }
}

/// A string, integer or boolean schema with its constraints.
fn scalar(shape: &Shape, nullable: bool) -> ObjectBuilder {
    match shape {
        Shape::String(text) => {
            let mut builder = ObjectBuilder::new()
                .schema_type(schema_type(Type::String, nullable))
                .format(text.format.map(format))
                .pattern(text.pattern)
                .min_length(text.min_length)
                .max_length(text.max_length);
            if !text.one_of.is_empty() {
                builder = builder.enum_values(Some(text.one_of.iter().copied()));
            }
            builder
        }
        Shape::Integer(integer) => ObjectBuilder::new()
            .schema_type(schema_type(Type::Integer, nullable))
            .format(integer.format.map(format))
            .minimum(integer.minimum.map(number))
            .maximum(integer.maximum.map(number)),
        Shape::Boolean => ObjectBuilder::new().schema_type(schema_type(Type::Boolean, nullable)),
        // Arrays and references are rendered by `property` and `item`.
        Shape::Array(_) | Shape::Component(_) | Shape::Object(_) => ObjectBuilder::new(),
    }
}

/// The name of the schema a named shape references; `None` for the other shapes.
fn reference(shape: &Shape) -> Option<String> {
    match shape {
        Shape::Component(component) => Some((component.name)().into_owned()),
        Shape::Object(spec) => Some(spec.name.to_owned()),
        Shape::String(_) | Shape::Integer(_) | Shape::Boolean | Shape::Array(_) => None,
    }
}

/// `type`, or `[type, "null"]` when nullable.
fn schema_type(base: Type, nullable: bool) -> SchemaType {
    if nullable {
        SchemaType::from_iter([base, Type::Null])
    } else {
        SchemaType::new(base)
    }
}

fn format(format: Format) -> SchemaFormat {
    match format {
        // `KnownFormat::Uri` needs utoipa's `url` feature; the name is the same.
        Format::Uri => SchemaFormat::Custom("uri".to_owned()),
        Format::DateTime => SchemaFormat::KnownFormat(KnownFormat::DateTime),
        Format::Int32 => SchemaFormat::KnownFormat(KnownFormat::Int32),
        Format::Int64 => SchemaFormat::KnownFormat(KnownFormat::Int64),
    }
}

/// A bound as a schema number (exact for every i64 on 64-bit targets).
fn number(value: i64) -> utoipa::Number {
    match isize::try_from(value) {
        Ok(value) => utoipa::Number::Int(value),
        Err(_) => utoipa::Number::Float(value as f64),
    }
}
