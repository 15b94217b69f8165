//! The OpenAPI 3.1 document of the REST routes, `GET /api/v1/openapi.json`.
//!
//! The routes are registered through utoipa-axum's router (`routes!`), which
//! takes each route's path and method from the handler's `#[utoipa::path]`
//! annotation: a route cannot exist without its entry in the document. The
//! bodies' schemas are derived from the wire types of `app::model`. What
//! this module adds: the document's frame (title, version, the tags), the
//! session cookie as a security scheme under `--auth users`, and the error
//! answers most routes share ([`Failures`]).
//!
//! The document describes the server that serves it: under `--read-only`
//! the destructive routes are the handlers that refuse, and their entries
//! say so; under `--auth users` every route but health, login, logout and
//! the document itself needs the session cookie.
//!
//! The WebSocket's messages are in the document too, as the components
//! `ClientMsg` and `ServerMsg` (what `GET /api/v1/ws` exchanges once
//! upgraded), described in prose in docs/websocket.md.

use std::collections::BTreeMap;

use app::model::{ClientMsg, ErrorBody, KvDirBody, PatchOp, ServerMsg, StormBody};
use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, RefOr, Response, ResponseBuilder};
use utoipa::{PartialSchema, ToSchema};

/// The name of the session cookie's security scheme.
const SESSION_SCHEME: &str = "session";

/// The error answers every route may give besides its own, each with the
/// JSON error body of docs/api.md ("Errors"):
/// - 400 `bad_request`: a parameter or body that is not as documented;
/// - 401 `unauthenticated`: `--auth users` and no live session;
/// - 403 `forbidden`, `host_not_allowed`, `out_of_scope`: the caller's role,
///   the Host or Origin rules, a key outside `--prefix`;
/// - 503 `etcd_unavailable`: etcd did not answer a read or a write made for
///   the request.
pub struct Failures;

impl utoipa::IntoResponses for Failures {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        [
            ("400", "bad_request: a parameter or the body is not as documented"),
            ("401", "unauthenticated: --auth users and no live session cookie"),
            (
                "403",
                "forbidden (the role, --read-only, the Origin rule), host_not_allowed (the Host rule) or out_of_scope (outside --prefix)",
            ),
            ("503", "etcd_unavailable: etcd did not answer"),
        ]
        .into_iter()
        .map(|(status, description)| (status.to_owned(), error_response(description)))
        .collect()
    }
}

/// A response with the JSON error body.
pub fn error_response(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(utoipa::openapi::Ref::from_schema_name(ErrorBody::name())))
                .build(),
        )
        .build()
        .into()
}

/// The document's frame around the routes: what it is, the version, the
/// WebSocket message types, and under `--auth users` the session cookie's
/// scheme (which [`require_session`] puts on the routes that need it).
pub fn finish(mut document: OpenApi, users: bool) -> OpenApi {
    document.info.title = "Leasehold".to_owned();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    document.info.description = Some(
        "A live dashboard for etcd used as a service registry and coordination store: the REST routes \
         of API v1 (docs/api.md). The WebSocket at /api/v1/ws exchanges the messages ClientMsg and \
         ServerMsg of the components (docs/websocket.md)."
            .to_owned(),
    );
    document.info.license = None;
    document.info.contact = None;
    let components = document.components.get_or_insert_with(Default::default);
    let mut schemas = vec![
        ("ClientMsg".to_owned(), ClientMsg::schema()),
        ("ServerMsg".to_owned(), ServerMsg::schema()),
        ("PatchOp".to_owned(), PatchOp::schema()),
    ];
    ClientMsg::schemas(&mut schemas);
    ServerMsg::schemas(&mut schemas);
    // Topic bodies no REST route returns.
    schemas.push((KvDirBody::name().into_owned(), KvDirBody::schema()));
    KvDirBody::schemas(&mut schemas);
    schemas.push((StormBody::name().into_owned(), StormBody::schema()));
    StormBody::schemas(&mut schemas);
    components.schemas.extend(schemas);
    if users {
        components.security_schemes.insert(
            SESSION_SCHEME.to_owned(),
            RefOr::T(SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                super::auth::COOKIE,
                "The session cookie POST /api/v1/login sets",
            )))),
        );
    }
    document
}

/// Marks every operation of `document` as needing the session cookie.
pub fn require_session(document: &mut OpenApi) {
    let requirement = SecurityRequirement::new(SESSION_SCHEME, Vec::<String>::new());
    for item in document.paths.paths.values_mut() {
        for operation in [&mut item.get, &mut item.put, &mut item.post, &mut item.delete]
            .into_iter()
            .flatten()
        {
            operation.security = Some(vec![requirement.clone()]);
        }
    }
}

/// The document as served: serialized once, when the router is made (or
/// why it could not be, answered as a 500).
#[derive(Clone)]
pub struct Document(Result<bytes::Bytes, String>);

impl Document {
    pub fn new(document: &OpenApi) -> Self {
        Document(
            document
                .to_json()
                .map(bytes::Bytes::from)
                .map_err(|error| format!("the OpenAPI document does not serialize: {error}")),
        )
    }
}

/// `GET /api/v1/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "meta",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of this server's REST routes", content_type = "application/json", body = Object),
    )
)]
pub async fn serve(axum::Extension(document): axum::Extension<Document>) -> Result<impl IntoResponse, super::ApiError> {
    let body = document.0.map_err(super::ApiError::Internal)?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body))
}

#[cfg(test)]
mod tests {
    use utoipa::Path;

    /// The pattern of the parameter `name` of `operation`.
    fn pattern(operation: utoipa::openapi::path::Operation, name: &str) -> String {
        let operation = serde_json::to_value(&operation).unwrap_or_default();
        let parameters = operation["parameters"].as_array().cloned().unwrap_or_default();
        let parameter = parameters.iter().find(|p| p["name"] == name);
        let found = parameter.and_then(|p| p["schema"]["pattern"].as_str());
        found
            .unwrap_or_else(|| panic!("no pattern for {name}: {operation}"))
            .to_owned()
    }

    #[test]
    fn the_event_kind_pattern_names_every_kind_a_server_sends() {
        let operation = super::super::api::__path_events::operation();
        let kinds = pattern(operation, "kind");
        let alternatives = kinds.split("((").nth(1).and_then(|rest| rest.split(')').next());
        let mut named: Vec<&str> = alternatives.unwrap_or_default().split('|').collect();
        let mut sent: Vec<&str> = app::model::EventKind::ALL.iter().map(|k| k.as_str()).collect();
        named.sort_unstable();
        sent.sort_unstable();
        assert_eq!(named, sent, "{kinds}");
    }

    #[test]
    fn a_base64_parameter_has_the_pattern_of_the_wire_types() {
        let operation = super::super::kv_routes::__path_list::operation();
        assert_eq!(pattern(operation, "after_base64"), app::model::BASE64_PATTERN);
    }
}
