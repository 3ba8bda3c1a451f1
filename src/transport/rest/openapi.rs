//! The gateway's OpenAPI 3.1 document, derived from the same route table and
//! descriptors the gateway serves, so the two cannot drift apart.

use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{json, Map, Value};

use super::{has_image_field, image_descriptor, Body, Route};

pub(super) fn document(
    pool: &DescriptorPool,
    service: &str,
    routes: &[Route],
) -> anyhow::Result<Value> {
    let service = pool
        .get_service_by_name(service)
        .ok_or_else(|| anyhow::anyhow!("no service {service} in the descriptors"))?;
    let mut schemas = Map::new();
    let mut paths = Map::new();
    let mut operation_ids = std::collections::HashSet::new();

    for route in routes {
        let method = service
            .methods()
            .find(|m| m.name() == route.rpc.name())
            .ok_or_else(|| anyhow::anyhow!("no method {}", route.rpc.name()))?;
        let input = method.input();
        let mut operation = Map::new();
        // A call offered on two paths: the second is named by its parameters.
        let mut operation_id = method.name().to_owned();
        if !operation_ids.insert(operation_id.clone()) {
            for name in route
                .path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            {
                operation_id.push_str("By");
                operation_id.extend(name.chars().next().map(|c| c.to_ascii_uppercase()));
                operation_id.push_str(&name[1..]);
            }
            anyhow::ensure!(
                operation_ids.insert(operation_id.clone()),
                "{}: the operation id {operation_id} is taken",
                route.path
            );
        }
        operation.insert("operationId".into(), json!(operation_id));
        operation.insert("summary".into(), json!(route.summary));
        operation.insert("tags".into(), json!([tag(route.path)]));

        let mut parameters = Vec::new();
        let mut names = route
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'));
        for field in route.path_fields {
            let name = names.next().expect("a name for every path field");
            parameters.push(json!({
                "name": name, "in": "path", "required": true,
                "description": format!("Sets `{field}` of the request."),
                "schema": { "type": "string", "minLength": 1 },
            }));
        }
        if route.body == Body::None {
            let bound: Vec<&str> = route.path_fields.to_vec();
            for field in input.fields() {
                if bound.contains(&field.json_name()) || !is_scalar(&field) {
                    continue;
                }
                parameters.push(json!({
                    "name": field.json_name(), "in": "query", "required": false,
                    "schema": field_schema(&field, &mut schemas),
                }));
            }
        }
        if let Body::Field(name) = route.body {
            // The other top-level scalar fields come from the query string,
            // as in grpc-gateway (UpdatePerson's updateMask).
            for field in input.fields() {
                if field.name() != name && (is_scalar(&field) || is_string_message(&field)) {
                    parameters.push(json!({
                        "name": field.json_name(), "in": "query", "required": false,
                        "schema": field_schema(&field, &mut schemas),
                    }));
                }
            }
        }
        if !parameters.is_empty() {
            operation.insert("parameters".into(), Value::Array(parameters));
        }

        let body_message = match route.body {
            Body::None => None,
            Body::Whole => Some(input.clone()),
            Body::Field(name) => match input.get_field_by_name(name).map(|f| f.kind()) {
                Some(Kind::Message(message)) => Some(message),
                _ => anyhow::bail!("{}: the body field {name} is not a message", route.path),
            },
        };
        if let Some(message) = body_message {
            let mut content = Map::new();
            content.insert(
                "application/json".into(),
                json!({ "schema": reference(&message, &mut schemas) }),
            );
            if route.body == Body::Whole && has_image_field(&message) {
                content.insert(
                    "multipart/form-data".into(),
                    json!({ "schema": form_schema(&message) }),
                );
            }
            operation.insert(
                "requestBody".into(),
                json!({ "required": true, "content": content }),
            );
        }

        operation.insert(
            "responses".into(),
            json!({
                "200": {
                    "description": "OK",
                    "content": { "application/json": { "schema": reference(&method.output(), &mut schemas) } },
                },
                "default": {
                    "description": "An error: the gRPC status code, a message, and ErrorInfo (its reason) and BadRequest details.",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Status" } } },
                },
            }),
        );

        let entry = paths
            .entry(route.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        entry.as_object_mut().expect("paths hold objects").insert(
            route.method.as_str().to_ascii_lowercase(),
            Value::Object(operation),
        );
    }

    schemas.insert("Status".into(), status_schema());
    Ok(json!({
        "openapi": "3.1.0",
        "info": {
            "title": "facebank REST gateway",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "JSON over HTTP for the unary calls of facebank.v1.FaceService. Field names and encodings follow the proto's canonical JSON mapping (bytes as base64). Errors carry the gRPC code with the same ErrorInfo reason as over gRPC.",
        },
        "paths": paths,
        "components": { "schemas": schemas },
    }))
}

/// The first path segment after the version: `persons`, `faces`, ...
fn tag(path: &str) -> String {
    let segment = path.split('/').nth(2).unwrap_or("");
    segment.split(':').next().unwrap_or(segment).to_owned()
}

fn schema_name(message: &MessageDescriptor) -> String {
    message.full_name().replace('.', "_")
}

/// A `$ref` to the message's schema, which is added (with everything it
/// refers to) the first time.
fn reference(message: &MessageDescriptor, schemas: &mut Map<String, Value>) -> Value {
    if let Some(schema) = well_known(message.full_name()) {
        return schema;
    }
    let name = schema_name(message);
    if !schemas.contains_key(&name) {
        schemas.insert(name.clone(), Value::Null); // a placeholder ends recursion
        let mut properties = Map::new();
        for field in message.fields() {
            properties.insert(field.json_name().to_owned(), field_schema(&field, schemas));
        }
        let mut schema = json!({ "type": "object", "properties": properties });
        let oneofs: Vec<String> = message
            .oneofs()
            .filter(|o| !o.is_synthetic())
            .map(|o| {
                let members: Vec<String> = o.fields().map(|f| f.json_name().to_owned()).collect();
                format!("at most one of {}", members.join(", "))
            })
            .collect();
        if !oneofs.is_empty() {
            schema["description"] = json!(format!("Set {}.", oneofs.join("; ")));
        }
        schemas.insert(name.clone(), schema);
    }
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn well_known(name: &str) -> Option<Value> {
    match name {
        "google.protobuf.Timestamp" => Some(json!({ "type": "string", "format": "date-time" })),
        "google.protobuf.FieldMask" => Some(json!({
            "type": "string",
            "description": "Comma-separated field names in their JSON form, e.g. `name,attributes`.",
        })),
        _ => None,
    }
}

fn is_scalar(field: &FieldDescriptor) -> bool {
    !field.is_list() && !field.is_map() && !matches!(field.kind(), Kind::Message(_))
}

fn is_string_message(field: &FieldDescriptor) -> bool {
    matches!(field.kind(), Kind::Message(m) if well_known(m.full_name()).is_some())
}

fn field_schema(field: &FieldDescriptor, schemas: &mut Map<String, Value>) -> Value {
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            unreachable!("a map field is a message of entries")
        };
        let value = entry.map_entry_value_field();
        return json!({ "type": "object", "additionalProperties": kind_schema(&value.kind(), schemas) });
    }
    let single = kind_schema(&field.kind(), schemas);
    if field.is_list() {
        json!({ "type": "array", "items": single })
    } else {
        single
    }
}

fn kind_schema(kind: &Kind, schemas: &mut Map<String, Value>) -> Value {
    match kind {
        Kind::Double | Kind::Float => json!({ "type": "number" }),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            json!({ "type": "integer", "format": "int32" })
        }
        Kind::Uint32 | Kind::Fixed32 => {
            json!({ "type": "integer", "format": "int64", "minimum": 0, "maximum": u32::MAX })
        }
        // The JSON mapping writes 64-bit integers as strings.
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 | Kind::Uint64 | Kind::Fixed64 => {
            json!({ "type": "string", "pattern": "^-?[0-9]+$" })
        }
        Kind::Bool => json!({ "type": "boolean" }),
        Kind::String => json!({ "type": "string" }),
        Kind::Bytes => json!({ "type": "string", "contentEncoding": "base64" }),
        Kind::Enum(e) => {
            let names: Vec<String> = e.values().map(|v| v.name().to_owned()).collect();
            json!({ "type": "string", "enum": names })
        }
        Kind::Message(message) => reference(message, schemas),
    }
}

/// A multipart form: image fields as file parts, top-level scalars as text.
fn form_schema(message: &MessageDescriptor) -> Value {
    let is_image = image_descriptor(message);
    let mut properties = Map::new();
    for field in message.fields() {
        let schema = if is_image(&field.kind()) {
            let file = json!({ "type": "string", "contentMediaType": "application/octet-stream" });
            if field.is_list() {
                json!({ "type": "array", "items": file })
            } else {
                file
            }
        } else if is_scalar(&field) {
            kind_schema(&field.kind(), &mut Map::new())
        } else {
            continue;
        };
        properties.insert(field.json_name().to_owned(), schema);
    }
    json!({ "type": "object", "properties": properties })
}

fn status_schema() -> Value {
    json!({
        "type": "object",
        "required": ["code", "message"],
        "properties": {
            "code": { "type": "integer", "description": "The gRPC status code." },
            "message": { "type": "string" },
            "details": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["@type"],
                    "properties": { "@type": { "type": "string" } },
                    "additionalProperties": true,
                },
            },
        },
    })
}
