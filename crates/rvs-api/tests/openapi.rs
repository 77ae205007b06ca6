//! docs/api.json matches the router: every documented operation exists, answers with a
//! documented status, and its JSON has the documented required fields; every route is
//! documented.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Method, Request, header};
use rvs_api::{Api, Auth, Static};
use rvs_core::engine::Engine;
use rvs_core::{Director, Settings, SplitMix64};
use serde_json::Value;
use tower::ServiceExt;

const TOKEN: &str = "openapi-test-token-0123456789";

fn doc() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A table with `tcp-198.18.1.100-80` and its dest `198.18.1.11-80`.
async fn api() -> Api {
    let d = Director::new(Settings::default(), 1, Box::new(SplitMix64(1)));
    let api = Api::new(
        Arc::new(Mutex::new(Engine::new(d))),
        Arc::new(Static::default()),
        Auth::new(Some(TOKEN.into()), false),
    );
    for (uri, body) in [
        (
            "/api/v1/services",
            r#"{"protocol":"tcp","address":"198.18.1.100","port":80}"#,
        ),
        (
            "/api/v1/services/tcp-198.18.1.100-80/dests",
            r#"{"address":"198.18.1.11"}"#,
        ),
    ] {
        let (st, _) = call(&api, Method::POST, uri, body).await;
        assert_eq!(st, 201);
    }
    api
}

async fn call(api: &Api, method: Method, uri: &str, body: &str) -> (u16, String) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = api.router().oneshot(req).await.unwrap();
    let st = resp.status().as_u16();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
        .await
        .unwrap();
    (st, String::from_utf8(bytes.to_vec()).unwrap())
}

fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap();
            let kind = if r.contains("/responses/") {
                "responses"
            } else {
                "schemas"
            };
            resolve(doc, &doc["components"][kind][name])
        }
        None => v,
    }
}

/// Every `required` field of `schema` (recursively through objects and arrays) is in `v`.
fn check(doc: &Value, schema: &Value, v: &Value, at: &str) {
    let schema = resolve(doc, schema);
    if let Some(req) = schema.get("required").and_then(Value::as_array) {
        for f in req {
            let f = f.as_str().unwrap();
            assert!(v.get(f).is_some(), "{at}: missing `{f}` in {v}");
        }
    }
    if let (Some(props), Some(obj)) = (schema.get("properties"), v.as_object()) {
        for (k, sub) in props.as_object().unwrap() {
            if let Some(x) = obj.get(k) {
                check(doc, sub, x, &format!("{at}.{k}"));
            }
        }
        for k in obj.keys() {
            assert!(
                props.get(k).is_some(),
                "{at}: field `{k}` is not documented"
            );
        }
    }
    if let (Some(items), Some(arr)) = (schema.get("items"), v.as_array()) {
        for x in arr {
            check(doc, items, x, &format!("{at}[]"));
        }
    }
}

#[tokio::test]
async fn documented_operations_match_the_router() {
    let doc = doc();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            documented.insert(format!("{} {path}", method.to_uppercase()));
            let uri = path
                .replace("{id}", "tcp-198.18.1.100-80")
                .replace("{dest}", "198.18.1.11-80");
            let body = match (method.as_str(), path.as_str()) {
                ("post", "/api/v1/services") => {
                    r#"{"protocol":"udp","address":"198.18.1.100","port":53}"#
                }
                ("post", "/api/v1/services/{id}/dests") => r#"{"address":"198.18.1.12"}"#,
                ("patch" | "put", p) if p.contains("dests") => r#"{"weight":2}"#,
                ("patch" | "put", _) => r#"{"scheduler":"rr"}"#,
                _ => "",
            };
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let (st, text) = call(&api().await, m, &uri, body).await;
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.contains_key(&st.to_string()),
                "{method} {path} answered {st}, not documented: {text}"
            );
            assert!((200..300).contains(&st), "{method} {path}: {st} {text}");
            let r = resolve(&doc, &responses[&st.to_string()]);
            if let Some(schema) = r["content"].get("application/json").map(|c| &c["schema"]) {
                let v: Value = serde_json::from_str(&text).unwrap();
                check(&doc, schema, &v, &format!("{method} {path}"));
            }
        }
    }
    let routes: BTreeSet<String> = [
        "GET /",
        "GET /metrics",
        "GET /api/v1/status",
        "GET /api/v1/services",
        "POST /api/v1/services",
        "GET /api/v1/services/{id}",
        "PATCH /api/v1/services/{id}",
        "PUT /api/v1/services/{id}",
        "DELETE /api/v1/services/{id}",
        "GET /api/v1/services/{id}/dests",
        "POST /api/v1/services/{id}/dests",
        "GET /api/v1/services/{id}/dests/{dest}",
        "PATCH /api/v1/services/{id}/dests/{dest}",
        "PUT /api/v1/services/{id}/dests/{dest}",
        "DELETE /api/v1/services/{id}/dests/{dest}",
        "POST /api/v1/services/{id}/dests/{dest}/drain",
        "GET /api/v1/connections",
        "GET /api/v1/health",
        "GET /api/v1/vrrp",
        "GET /api/v1/history",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(documented, routes);
}

#[tokio::test]
async fn documented_error_shape() {
    let doc = doc();
    let (st, text) = call(
        &api().await,
        Method::GET,
        "/api/v1/services/tcp-1.2.3.4-1",
        "",
    )
    .await;
    assert_eq!(st, 404);
    check(
        &doc,
        &doc["components"]["schemas"]["Error"],
        &serde_json::from_str(&text).unwrap(),
        "error",
    );
}
