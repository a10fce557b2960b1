//! Routing answers given before authentication ([`crate::http::admission`], step 4): a method
//! the path does not allow is a 405 with `Allow`, and a path carrying a NUL character is a 404,
//! whoever asks and whatever credential the request carries (`docs/api.md`, "The error
//! envelope").
//!
//! The methods of each path come from the OpenAPI document the router is built with: every
//! route is registered from its documented operation ([`crate::http`]), so the document's paths
//! and methods are the routes, and `HEAD` comes with `GET` as axum serves it. Paths are matched
//! with `matchit`, the matcher axum itself routes with, on the same raw (percent-encoded) path.

use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::PathItem;
use utoipa::openapi::OpenApi;

use crate::http::error::ApiError;

/// The methods each documented path allows.
pub struct MethodTable {
    paths: matchit::Router<Allowed>,
}

/// The methods of one path, and its `Allow` header value.
struct Allowed {
    methods: Vec<Method>,
    allow: HeaderValue,
}

impl std::fmt::Debug for MethodTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MethodTable { .. }")
    }
}

/// The documented methods of `item`, in the order `Allow` lists them; `HEAD` follows `GET`
/// (axum answers `HEAD` wherever `GET` is routed).
fn methods_of(item: &PathItem) -> Vec<Method> {
    let documented = [
        (item.get.is_some(), Method::GET),
        (item.get.is_some() || item.head.is_some(), Method::HEAD),
        (item.post.is_some(), Method::POST),
        (item.put.is_some(), Method::PUT),
        (item.patch.is_some(), Method::PATCH),
        (item.delete.is_some(), Method::DELETE),
        (item.options.is_some(), Method::OPTIONS),
        (item.trace.is_some(), Method::TRACE),
    ];
    documented
        .into_iter()
        .filter_map(|(present, method)| present.then_some(method))
        .collect()
}

impl MethodTable {
    /// The table of every path of `document`.
    pub fn from_document(document: &OpenApi) -> Self {
        let mut paths = matchit::Router::new();
        for (path, item) in &document.paths.paths {
            let methods = methods_of(item);
            let names: Vec<&str> = methods.iter().map(Method::as_str).collect();
            // Method names are visible ASCII, so the value is always valid.
            let Ok(allow) = HeaderValue::from_str(&names.join(",")) else {
                continue;
            };
            // The paths are the ones axum accepted for the same routes, so they insert here too;
            // a path that did not would be left to axum, which answers its 405 after
            // authentication.
            if let Err(error) = paths.insert(path.as_str(), Allowed { methods, allow }) {
                tracing::error!(path, %error, "route left out of the method table");
            }
        }
        Self { paths }
    }

    /// The answer for `method` on `path` when routing alone decides it: 404 for a path with a
    /// percent-encoded NUL (no id contains one, and PostgreSQL text cannot hold one), 405 with
    /// `Allow` for a documented path that does not allow `method`; `None` otherwise (an unknown
    /// path is left to the router's fallback, after authentication).
    pub fn refuse(&self, method: &Method, path: &str) -> Option<Response> {
        if path.contains("%00") {
            let shown = crate::http::redacted_path(path);
            return Some(
                ApiError::NotFound(format!(
                    "Route '{method} {shown}' not found: no path contains a NUL character (%00)"
                ))
                .into_response(),
            );
        }
        let allowed = self.paths.at(path).ok()?.value;
        if allowed.methods.contains(method) {
            return None;
        }
        // The outer layer writes the envelope of this bare 405 ([`crate::http::error`]).
        let mut response = StatusCode::METHOD_NOT_ALLOWED.into_response();
        response
            .headers_mut()
            .insert(header::ALLOW, allowed.allow.clone());
        Some(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
    use utoipa::openapi::{OpenApiBuilder, PathsBuilder};

    fn table() -> MethodTable {
        let operation = || OperationBuilder::new().build();
        let mut by_id = PathItem::new(HttpMethod::Get, operation());
        by_id.delete = Some(operation());
        let document = OpenApiBuilder::new()
            .paths(
                PathsBuilder::new()
                    .path("/api/streams", PathItem::new(HttpMethod::Post, operation()))
                    .path("/api/streams/{id}", by_id)
                    .path(
                        "/api/streams/{id}/pause",
                        PathItem::new(HttpMethod::Post, operation()),
                    ),
            )
            .build();
        MethodTable::from_document(&document)
    }

    fn allow(response: &Response) -> &str {
        response.headers()[header::ALLOW].to_str().unwrap()
    }

    #[test]
    fn documented_methods_pass_and_head_comes_with_get() {
        let table = table();
        for (method, path) in [
            (Method::POST, "/api/streams"),
            (Method::GET, "/api/streams/s1"),
            (Method::HEAD, "/api/streams/s1"),
            (Method::DELETE, "/api/streams/s1"),
            (Method::POST, "/api/streams/s1/pause"),
        ] {
            assert!(table.refuse(&method, path).is_none(), "{method} {path}");
        }
    }

    #[test]
    fn other_methods_are_405_with_allow() {
        let table = table();
        let response = table.refuse(&Method::PUT, "/api/streams/s1").unwrap();
        assert_eq!(response.status(), 405);
        assert_eq!(allow(&response), "GET,HEAD,DELETE");
        let response = table.refuse(&Method::TRACE, "/api/streams").unwrap();
        assert_eq!(allow(&response), "POST");
        let response = table.refuse(&Method::GET, "/api/streams/s1/pause").unwrap();
        assert_eq!(allow(&response), "POST");
        // HEAD is not implied without GET.
        let response = table.refuse(&Method::HEAD, "/api/streams").unwrap();
        assert_eq!(response.status(), 405);
    }

    #[test]
    fn unknown_paths_are_left_to_the_router() {
        let table = table();
        for path in ["/api/streams/", "/api/streams/s1/x", "/nope"] {
            assert!(table.refuse(&Method::PUT, path).is_none(), "{path}");
        }
    }

    #[test]
    fn a_nul_in_the_path_is_404() {
        let table = table();
        for (method, path) in [
            (Method::GET, "/api/streams/%00"),
            (Method::DELETE, "/api/streams/a%00b"),
            (Method::PUT, "/nope/%00"),
        ] {
            let response = table.refuse(&method, path).unwrap();
            assert_eq!(response.status(), 404, "{method} {path}");
        }
    }
}
