//! The REST gateway: JSON over HTTP/1.1 on a port of its own, in the style of
//! grpc-gateway. Each route names one unary call of `facebank.v1.FaceService`
//! and says where its path parameters and body go in the request message.
//! Bodies are read and written in the proto's canonical JSON mapping, using the
//! same descriptors that server reflection serves, and every call runs through
//! the gRPC handlers themselves, so the gateway adds no behaviour of its own:
//! only the translation, and the one mapping of gRPC codes to HTTP statuses.
//!
//! The streaming calls are not offered here; they need gRPC.

mod openapi;

use std::{future::Future, sync::Arc};

use axum::{
    body::Bytes,
    extract::{DefaultBodyLimit, FromRequest, Multipart, Query, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::{on, MethodFilter},
    Router,
};
use base64::Engine;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, Kind, MessageDescriptor, SerializeOptions};
use serde_json::{json, Map, Value};
use tokio::net::TcpListener;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use super::grpc::{pb, pb::face_service_server::FaceService, FaceApi};
use crate::{app::FaceBank, error::Error};

/// The calls the gateway offers, by their name in the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rpc {
    CreateCollection,
    GetCollection,
    ListCollections,
    DeleteCollection,
    CreatePerson,
    GetPerson,
    ListPersons,
    UpdatePerson,
    DeletePerson,
    RegisterFaces,
    ListFaces,
    DeleteFace,
    Recognize,
    Verify,
    Detect,
}

impl Rpc {
    fn name(self) -> &'static str {
        match self {
            Rpc::CreateCollection => "CreateCollection",
            Rpc::GetCollection => "GetCollection",
            Rpc::ListCollections => "ListCollections",
            Rpc::DeleteCollection => "DeleteCollection",
            Rpc::CreatePerson => "CreatePerson",
            Rpc::GetPerson => "GetPerson",
            Rpc::ListPersons => "ListPersons",
            Rpc::UpdatePerson => "UpdatePerson",
            Rpc::DeletePerson => "DeletePerson",
            Rpc::RegisterFaces => "RegisterFaces",
            Rpc::ListFaces => "ListFaces",
            Rpc::DeleteFace => "DeleteFace",
            Rpc::Recognize => "Recognize",
            Rpc::Verify => "Verify",
            Rpc::Detect => "Detect",
        }
    }
}

/// Where a route's HTTP body goes in the request message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    /// No body; the fields come from the path and the query string.
    None,
    /// The body is the whole request message (grpc-gateway's `body: "*"`);
    /// routes that carry images also take `multipart/form-data`.
    Whole,
    /// The body is this field of the request message.
    Field(&'static str),
}

/// One resource path. `path` uses `{name}` for a path parameter; each
/// parameter sets the request field of `path_fields` at the same position
/// (dotted for a nested field).
struct Route {
    method: Method,
    path: &'static str,
    path_fields: &'static [&'static str],
    body: Body,
    rpc: Rpc,
    summary: &'static str,
}

fn routes() -> Vec<Route> {
    let route = |method, path, path_fields, body, rpc, summary| Route {
        method,
        path,
        path_fields,
        body,
        rpc,
        summary,
    };
    vec![
        route(Method::POST, "/v1/collections", &[], Body::Field("collection"),
            Rpc::CreateCollection,
            "Creates a collection: a named set of persons pinned to one recognition model."),
        route(Method::GET, "/v1/collections", &[], Body::None, Rpc::ListCollections,
            "Lists every collection, by name."),
        route(Method::GET, "/v1/collections/{name}", &["name"], Body::None, Rpc::GetCollection,
            "Returns one collection."),
        route(Method::DELETE, "/v1/collections/{name}", &["name"], Body::None,
            Rpc::DeleteCollection,
            "Deletes a collection; one that holds persons only with `deletePersons=true`, and then with them."),
        route(Method::POST, "/v1/persons", &[], Body::Field("person"), Rpc::CreatePerson,
            "Creates a person with no faces yet."),
        route(Method::GET, "/v1/persons", &[], Body::None, Rpc::ListPersons,
            "Lists persons in creation order, a page at a time."),
        route(Method::GET, "/v1/persons/{id}", &["id"], Body::None, Rpc::GetPerson,
            "Returns one person."),
        route(Method::PATCH, "/v1/persons/{id}", &["person.id"], Body::Field("person"),
            Rpc::UpdatePerson,
            "Overwrites the fields of a person that `updateMask` names (all fields set in the body when it names none)."),
        route(Method::DELETE, "/v1/persons/{id}", &["id"], Body::None, Rpc::DeletePerson,
            "Deletes a person with all of their faces."),
        route(Method::POST, "/v1/faces", &[], Body::Whole, Rpc::RegisterFaces,
            "Adds faces from photos to an existing person (`personId`) or to a new one (`newPerson`)."),
        route(Method::POST, "/v1/persons/{personId}/faces", &["personId"], Body::Whole,
            Rpc::RegisterFaces, "Adds faces from one or more photos to a person."),
        route(Method::GET, "/v1/persons/{personId}/faces", &["personId"], Body::None,
            Rpc::ListFaces, "Lists the registered faces of a person."),
        route(Method::DELETE, "/v1/faces/{id}", &["id"], Body::None, Rpc::DeleteFace,
            "Deletes one registered face."),
        route(Method::POST, "/v1/recognize", &[], Body::Whole, Rpc::Recognize,
            "Finds every face in a photo and the registered persons it matches."),
        route(Method::POST, "/v1/verify", &[], Body::Whole, Rpc::Verify,
            "Decides whether two photos, or a photo and a person, show the same person."),
        route(Method::POST, "/v1/detect", &[], Body::Whole, Rpc::Detect,
            "Finds the faces in a photo without touching stored data."),
    ]
}

struct Gateway {
    api: FaceApi,
    pool: DescriptorPool,
    service: String,
    openapi: Bytes,
}

/// Serves the gateway on `listener` until `shutdown` completes.
pub async fn serve(
    bank: Arc<FaceBank>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let body_limit = bank.config().images.max_request_bytes;
    let router = router(bank)?
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(tower_http::trace::TraceLayer::new_for_http());
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

fn router(bank: Arc<FaceBank>) -> anyhow::Result<Router> {
    let pool = DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET)?;
    let service = "facebank.v1.FaceService".to_owned();
    let routes = routes();
    let openapi = openapi::document(&pool, &service, &routes)?;
    let gateway = Arc::new(Gateway {
        api: FaceApi::new(bank),
        pool,
        service,
        openapi: serde_json::to_vec_pretty(&openapi)?.into(),
    });

    let mut router = Router::new();
    let mut by_path: Vec<(&'static str, Vec<Route>)> = Vec::new();
    for route in routes {
        match by_path.iter_mut().find(|(path, _)| *path == route.path) {
            Some((_, list)) => list.push(route),
            None => by_path.push((route.path, vec![route])),
        }
    }
    for (path, list) in by_path {
        let mut method_router = axum::routing::MethodRouter::new();
        for route in list {
            let filter = MethodFilter::try_from(route.method.clone())
                .map_err(|e| anyhow::anyhow!("{}: {e}", route.path))?;
            let route = Arc::new(route);
            method_router = method_router.merge(on(
                filter,
                move |State(gateway): State<Arc<Gateway>>, request: axum::extract::Request| {
                    let route = Arc::clone(&route);
                    async move { gateway.handle(&route, request).await }
                },
            ));
        }
        router = router.route(path, method_router);
    }
    Ok(router
        .route(
            "/openapi.json",
            axum::routing::get(|State(gateway): State<Arc<Gateway>>| async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    )],
                    gateway.openapi.clone(),
                )
            }),
        )
        .fallback(|| async {
            error_response(Status::not_found(
                "no such resource path; see /openapi.json",
            ))
        })
        .method_not_allowed_fallback(|| async {
            error_response(with_http_status(
                Status::unimplemented("this method is not offered on this path"),
                StatusCode::METHOD_NOT_ALLOWED,
            ))
        })
        .with_state(gateway))
}

impl Gateway {
    fn input(&self, rpc: Rpc) -> MessageDescriptor {
        self.method(rpc).input()
    }

    fn method(&self, rpc: Rpc) -> prost_reflect::MethodDescriptor {
        self.pool
            .get_service_by_name(&self.service)
            .and_then(|s| s.methods().find(|m| m.name() == rpc.name()))
            .expect("every gateway route names a method of the service")
    }

    async fn handle(&self, route: &Route, request: axum::extract::Request) -> Response {
        match self.call(route, request).await {
            Ok(json) => (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                json,
            )
                .into_response(),
            Err(status) => error_response(status),
        }
    }

    async fn call(
        &self,
        route: &Route,
        request: axum::extract::Request,
    ) -> Result<Vec<u8>, Status> {
        let input = self.input(route.rpc);
        let uri = request.uri().clone();
        let query = Query::<Vec<(String, String)>>::try_from_uri(&uri)
            .map_err(|e| Status::from(Error::invalid("query", e.body_text())))?
            .0;
        let mut fields = match route.body {
            Body::None => Map::new(),
            Body::Whole => read_body(&input, request).await?,
            Body::Field(field) => {
                let target = input
                    .get_field_by_name(field)
                    .and_then(|f| match f.kind() {
                        Kind::Message(message) => Some(message),
                        _ => None,
                    })
                    .expect("a body field is a message field");
                let mut whole = Map::new();
                whole.insert(
                    json_name(&input, field),
                    Value::Object(read_body(&target, request).await?),
                );
                whole
            }
        };
        for (name, value) in query {
            set_text(&input, &mut fields, &name, value, "query parameter")?;
        }
        for (field, value) in path_parameters(route, uri.path())? {
            set_path(&mut fields, field, Value::String(value))?;
        }

        let message = DynamicMessage::deserialize(input, Value::Object(fields))
            .map_err(|e| Status::from(Error::invalid("body", e.to_string())))?;
        let encoded = Bytes::from(message.encode_to_vec());
        let reply = dispatch(&self.api, route.rpc, encoded).await?;

        let output = DynamicMessage::decode(self.method(route.rpc).output(), reply.as_slice())
            .map_err(|e| Status::internal(format!("cannot re-read the reply: {e}")))?;
        let options = SerializeOptions::new().skip_default_fields(false);
        let mut json = Vec::new();
        output
            .serialize_with_options(&mut serde_json::Serializer::new(&mut json), &options)
            .map_err(|e| Status::internal(format!("cannot write the reply: {e}")))?;
        Ok(json)
    }
}

/// The values of a route's path parameters in `path` (which the router
/// matched against the route), with the request fields they set.
fn path_parameters<'r>(route: &'r Route, path: &str) -> Result<Vec<(&'r str, String)>, Status> {
    let mut fields = route.path_fields.iter();
    let mut values = Vec::new();
    for (pattern, segment) in route.path.split('/').zip(path.split('/')) {
        if pattern.starts_with('{') {
            let field = fields.next().expect("a field for every path parameter");
            let value = percent_encoding::percent_decode_str(segment)
                .decode_utf8()
                .map_err(|_| Status::from(Error::invalid(*field, "is not UTF-8")))?;
            values.push((*field, value.into_owned()));
        }
    }
    Ok(values)
}

/// Runs one call through the gRPC handler and returns its encoded reply.
async fn dispatch(api: &FaceApi, rpc: Rpc, input: Bytes) -> Result<Vec<u8>, Status> {
    macro_rules! call {
        ($method:ident) => {{
            let request = Message::decode(input)
                .map_err(|e| Status::internal(format!("cannot re-read the request: {e}")))?;
            let reply = api.$method(tonic::Request::new(request)).await?;
            Ok(reply.into_inner().encode_to_vec())
        }};
    }
    match rpc {
        Rpc::CreateCollection => call!(create_collection),
        Rpc::GetCollection => call!(get_collection),
        Rpc::ListCollections => call!(list_collections),
        Rpc::DeleteCollection => call!(delete_collection),
        Rpc::CreatePerson => call!(create_person),
        Rpc::GetPerson => call!(get_person),
        Rpc::ListPersons => call!(list_persons),
        Rpc::UpdatePerson => call!(update_person),
        Rpc::DeletePerson => call!(delete_person),
        Rpc::RegisterFaces => call!(register_faces),
        Rpc::ListFaces => call!(list_faces),
        Rpc::DeleteFace => call!(delete_face),
        Rpc::Recognize => call!(recognize),
        Rpc::Verify => call!(verify),
        Rpc::Detect => call!(detect),
    }
}

/// The body as the JSON object of `message`: JSON as it is, or the parts of a
/// multipart form (files for the image fields, text for the others).
async fn read_body(
    message: &MessageDescriptor,
    request: axum::extract::Request,
) -> Result<Map<String, Value>, Status> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        if !has_image_field(message) {
            return Err(unsupported_media("application/json"));
        }
        let form = Multipart::from_request(request, &())
            .await
            .map_err(|e| Status::from(Error::invalid("body", e.body_text())))?;
        return read_form(message, form).await;
    }
    if !(content_type.is_empty() || is_json(&content_type)) {
        return Err(unsupported_media(if has_image_field(message) {
            "application/json or multipart/form-data"
        } else {
            "application/json"
        }));
    }
    let bytes = Bytes::from_request(request, &())
        .await
        .map_err(|e| body_refused(e.status(), e.body_text()))?;
    if bytes.is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::invalid("body", "must be a JSON object").into()),
        Err(e) => Err(Error::invalid("body", format!("is not valid JSON: {e}")).into()),
    }
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence == "application/json" || essence.ends_with("+json")
}

fn unsupported_media(wanted: &str) -> Status {
    with_http_status(
        Status::invalid_argument(format!("the body must be {wanted}")),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    )
}

/// Answers `status` with an HTTP status of its own instead of its code's.
fn with_http_status(mut status: Status, http: StatusCode) -> Status {
    status.metadata_mut().insert(
        HTTP_STATUS_OVERRIDE,
        http.as_str().parse().expect("digits are ASCII"),
    );
    status
}

/// A body the HTTP layer refused (over the size limit, cut off).
fn body_refused(code: StatusCode, text: String) -> Status {
    let status = if code == StatusCode::PAYLOAD_TOO_LARGE {
        Status::from(Error::LimitExceeded(format!(
            "the body is over images.max_request_bytes: {text}"
        )))
    } else {
        Status::from(Error::invalid("body", text))
    };
    with_http_status(status, code)
}

/// Carries an HTTP status, for errors of the HTTP layer that have no gRPC code
/// of their own (415, 413); never sent to a caller.
const HTTP_STATUS_OVERRIDE: &str = "x-facebank-http-status";

fn image_descriptor(message: &MessageDescriptor) -> impl Fn(&Kind) -> bool + '_ {
    let image = message
        .parent_pool()
        .get_message_by_name("facebank.v1.Image");
    move |kind| matches!((kind, &image), (Kind::Message(m), Some(i)) if m == i)
}

fn has_image_field(message: &MessageDescriptor) -> bool {
    let is_image = image_descriptor(message);
    message.fields().any(|f| is_image(&f.kind()))
}

async fn read_form(
    message: &MessageDescriptor,
    mut form: Multipart,
) -> Result<Map<String, Value>, Status> {
    let invalid = |field: &str, text: String| Status::from(Error::invalid(field.to_owned(), text));
    let is_image = image_descriptor(message);
    let mut fields = Map::new();
    while let Some(part) = form
        .next_field()
        .await
        .map_err(|e| body_refused(e.status(), e.body_text()))?
    {
        let name = part.name().unwrap_or_default().to_owned();
        let is_file = part.file_name().is_some();
        let bytes = part
            .bytes()
            .await
            .map_err(|e| body_refused(e.status(), e.body_text()))?;
        let field = find_field(message, &name);
        match field {
            Some(field) if is_image(&field.kind()) => {
                let image =
                    json!({ "content": base64::engine::general_purpose::STANDARD.encode(&bytes) });
                let key = field.json_name().to_owned();
                if field.is_list() {
                    match fields
                        .entry(key)
                        .or_insert_with(|| Value::Array(Vec::new()))
                    {
                        Value::Array(list) => list.push(image),
                        _ => unreachable!("only images are put under an image field"),
                    }
                } else if fields.insert(key, image).is_some() {
                    return Err(invalid(&name, "is given twice".into()));
                }
            }
            _ if is_file => {
                return Err(invalid(
                    &name,
                    "is not an image field; files go in image fields".into(),
                ))
            }
            _ => {
                let text = String::from_utf8(bytes.to_vec())
                    .map_err(|_| invalid(&name, "is not UTF-8 text".into()))?;
                set_text(message, &mut fields, &name, text, "form field")?;
            }
        }
    }
    Ok(fields)
}

/// A field by its proto name or its JSON name.
fn find_field(message: &MessageDescriptor, name: &str) -> Option<prost_reflect::FieldDescriptor> {
    message
        .get_field_by_name(name)
        .or_else(|| message.get_field_by_json_name(name))
}

fn json_name(message: &MessageDescriptor, field: &str) -> String {
    find_field(message, field)
        .map(|f| f.json_name().to_owned())
        .unwrap_or_else(|| field.to_owned())
}

/// Sets a field named in a query string or form (dotted for a nested field)
/// from its text: messages (other than the well-known types that are strings
/// in JSON) are parsed as JSON, scalars are passed as the string form the JSON
/// mapping accepts, repeated fields collect their values.
fn set_text(
    message: &MessageDescriptor,
    fields: &mut Map<String, Value>,
    name: &str,
    text: String,
    what: &str,
) -> Result<(), Status> {
    let invalid = |text: String| Status::from(Error::invalid(name.to_owned(), text));
    let mut descriptor = message.clone();
    let mut target = fields;
    let parts: Vec<&str> = name.split('.').collect();
    for (depth, part) in parts.iter().enumerate() {
        let field = find_field(&descriptor, part)
            .ok_or_else(|| invalid(format!("is not a field of {}", descriptor.name())))?;
        let key = field.json_name().to_owned();
        if depth + 1 < parts.len() {
            let Kind::Message(inner) = field.kind() else {
                return Err(invalid(format!("{part} has no fields")));
            };
            if field.is_list() || field.is_map() {
                return Err(invalid(format!("{part} cannot be set from a {what}")));
            }
            descriptor = inner;
            let entry = target
                .entry(key)
                .or_insert_with(|| Value::Object(Map::new()));
            target = match entry {
                Value::Object(map) => map,
                _ => return Err(invalid("is given twice".into())),
            };
            continue;
        }
        let value = match field.kind() {
            Kind::Message(inner) if !is_string_wkt(inner.full_name()) => {
                serde_json::from_str(&text).map_err(|e| invalid(format!("is not JSON: {e}")))?
            }
            Kind::Bool if matches!(text.as_str(), "true" | "false") => Value::Bool(text == "true"),
            _ => Value::String(text),
        };
        if field.is_list() {
            match target
                .entry(key)
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                Value::Array(list) => list.push(value),
                _ => return Err(invalid("is given twice".into())),
            }
        } else if target.insert(key, value).is_some() {
            return Err(invalid("is given twice".into()));
        }
        break;
    }
    Ok(())
}

fn is_string_wkt(name: &str) -> bool {
    matches!(
        name,
        "google.protobuf.Timestamp" | "google.protobuf.Duration" | "google.protobuf.FieldMask"
    )
}

/// Sets a path parameter's field. The body or query may name the same field
/// only with the same value: a request that says two different things about
/// which resource it is about is refused rather than half obeyed.
fn set_path(fields: &mut Map<String, Value>, field: &str, value: Value) -> Result<(), Status> {
    let mut target = fields;
    let parts: Vec<&str> = field.split('.').collect();
    for part in &parts[..parts.len() - 1] {
        let entry = target
            .entry(part.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        target = entry.as_object_mut().expect("made an object above");
    }
    let name = parts[parts.len() - 1];
    // The field by its proto name or its JSON name.
    let camel = lower_camel(name);
    let spellings: Vec<String> = target
        .keys()
        .filter(|key| lower_camel(key) == camel)
        .cloned()
        .collect();
    for key in spellings {
        if let Some(given) = target.remove(&key) {
            if given != value {
                return Err(Status::from(Error::invalid(
                    field.to_owned(),
                    format!("is {value} in the path but {given} in the request"),
                )));
            }
        }
    }
    target.insert(name.to_owned(), value);
    Ok(())
}

/// A field name in the proto's JSON mapping: `person_id` becomes `personId`.
fn lower_camel(name: &str) -> String {
    let mut camel = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            camel.extend(c.to_uppercase());
            upper = false;
        } else {
            camel.push(c);
        }
    }
    camel
}

/// grpc-gateway's mapping of gRPC codes to HTTP statuses.
fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::from_u16(499).expect("a valid status"),
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The error as grpc-gateway writes it: a `google.rpc.Status` in JSON, with the
/// same `ErrorInfo` and `BadRequest` details the gRPC reply carries.
fn error_response(status: Status) -> Response {
    let http = status
        .metadata()
        .get(HTTP_STATUS_OVERRIDE)
        .and_then(|v| v.to_str().ok()?.parse::<u16>().ok())
        .and_then(|v| StatusCode::from_u16(v).ok())
        .unwrap_or_else(|| http_status(status.code()));
    let details = status.get_error_details();
    let mut list = Vec::new();
    if let Some(info) = details.error_info() {
        list.push(json!({
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": info.reason,
            "domain": info.domain,
            "metadata": info.metadata,
        }));
    }
    if let Some(bad) = details.bad_request() {
        let violations: Vec<Value> = bad
            .field_violations
            .iter()
            .map(|v| json!({ "field": v.field, "description": v.description }))
            .collect();
        list.push(json!({
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": violations,
        }));
    }
    let body = json!({
        "code": status.code() as i32,
        "message": status.message(),
        "details": list,
    });
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    (http, headers, body.to_string()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> DescriptorPool {
        DescriptorPool::decode(pb::FILE_DESCRIPTOR_SET).unwrap()
    }

    #[test]
    fn every_route_names_a_method_and_fields_of_its_request() {
        let pool = pool();
        let service = pool.get_service_by_name("facebank.v1.FaceService").unwrap();
        for route in routes() {
            let method = service
                .methods()
                .find(|m| m.name() == route.rpc.name())
                .unwrap_or_else(|| panic!("{} names no method", route.path));
            assert!(!method.is_client_streaming() && !method.is_server_streaming());
            let names = route.path.matches('{').count();
            assert_eq!(names, route.path_fields.len(), "{}", route.path);
            for field in route.path_fields {
                let mut message = method.input();
                for part in field.split('.') {
                    let found = find_field(&message, part)
                        .unwrap_or_else(|| panic!("{}: no field {part}", route.path));
                    if let Kind::Message(inner) = found.kind() {
                        message = inner;
                    }
                }
            }
        }
    }

    #[test]
    fn query_text_becomes_json_of_the_field_type() {
        let pool = pool();
        let input = pool
            .get_message_by_name("facebank.v1.UpdatePersonRequest")
            .unwrap();
        let mut fields = Map::new();
        set_text(
            &input,
            &mut fields,
            "updateMask",
            "name,city".into(),
            "query",
        )
        .unwrap();
        set_text(&input, &mut fields, "person.name", "Ada".into(), "query").unwrap();
        assert_eq!(
            Value::Object(fields.clone()),
            json!({ "updateMask": "name,city", "person": { "name": "Ada" } })
        );
        assert!(set_text(&input, &mut fields, "person.name", "Bo".into(), "query").is_err());
        assert!(set_text(&input, &mut fields, "nope", "1".into(), "query").is_err());
        let message = DynamicMessage::deserialize(input, Value::Object(fields)).unwrap();
        let request = pb::UpdatePersonRequest::decode(message.encode_to_vec().as_slice()).unwrap();
        assert_eq!(request.update_mask.unwrap().paths, ["name", "city"]);
    }

    #[test]
    fn codes_map_to_the_gateway_statuses() {
        assert_eq!(http_status(Code::InvalidArgument), StatusCode::BAD_REQUEST);
        assert_eq!(http_status(Code::NotFound), StatusCode::NOT_FOUND);
        assert_eq!(http_status(Code::AlreadyExists), StatusCode::CONFLICT);
        assert_eq!(
            http_status(Code::Unavailable),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            http_status(Code::ResourceExhausted),
            StatusCode::TOO_MANY_REQUESTS
        );
    }
}
