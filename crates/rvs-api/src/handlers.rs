//! The routes and their handlers.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rvs_core::Director;
use rvs_core::listing::{ServiceRow, cmp_services, merge_sort};
use rvs_core::service::ServiceKey;
use serde_json::json;

use crate::error::ApiError;
use crate::ids::{DestKey, parse_dest_id, parse_service_id, service_id};
use crate::model::{self, ServiceJson};
use crate::write::{self, DestOptions, NewDest, NewService, ServiceOptions};
use crate::{Api, metrics, page};

type Result<T> = std::result::Result<T, ApiError>;

/// Largest page of `/api/v1/connections`.
pub const MAX_LIMIT: usize = 10_000;
/// Default page size of `/api/v1/connections`.
pub const DEFAULT_LIMIT: usize = 100;

/// `{"services": [...]}` in field order.
#[derive(serde::Serialize)]
struct ServiceList {
    services: Vec<ServiceJson>,
}

/// `{"dests": [...]}` in field order.
#[derive(serde::Serialize)]
struct DestList {
    dests: Vec<model::DestJson>,
}

pub(crate) fn router(api: Api) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/assets/app.js", get(app_js))
        .route("/assets/style.css", get(style_css))
        .route("/metrics", get(metrics_text))
        .route("/api/v1/status", get(status))
        .route("/api/v1/services", get(list_services).post(add_service))
        .route(
            "/api/v1/services/{id}",
            get(get_service)
                .patch(edit_service)
                .put(edit_service)
                .delete(delete_service),
        )
        .route(
            "/api/v1/services/{id}/dests",
            get(list_dests).post(add_dest),
        )
        .route(
            "/api/v1/services/{id}/dests/{dest}",
            get(get_dest)
                .patch(edit_dest)
                .put(edit_dest)
                .delete(delete_dest),
        )
        .route("/api/v1/services/{id}/dests/{dest}/drain", post(drain_dest))
        .route("/api/v1/connections", get(connections))
        .route("/api/v1/health", get(health))
        .route("/api/v1/vrrp", get(vrrp))
        .route("/api/v1/history", get(history))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(api)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this endpoint",
    )
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", page::INDEX_HTML)
}

async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", page::APP_JS)
}

async fn style_css() -> Response {
    asset("text/css; charset=utf-8", page::STYLE_CSS)
}

async fn metrics_text(State(api): State<Api>, headers: HeaderMap) -> Result<Response> {
    api.inner.auth.check_read(&headers)?;
    let text = metrics::render(&api.snapshot());
    Ok(([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response())
}

fn json_ok(v: impl serde::Serialize) -> Response {
    axum::Json(v).into_response()
}

impl Api {
    fn read(&self, headers: &HeaderMap) -> Result<()> {
        self.inner.auth.check_read(headers)
    }

    fn service_json(&self, row: &ServiceRow) -> ServiceJson {
        let rt = &self.inner.runtime;
        model::service_json(row, &|k: &ServiceKey, d| rt.health(k, d.addr, d.port))
    }

    /// Run `f` on the director under the lock at the data plane's time; refresh the data
    /// plane afterwards (lock released) when it succeeded.
    fn change<T>(
        &self,
        headers: &HeaderMap,
        f: impl FnOnce(&mut Director, rvs_core::Time) -> Result<T>,
    ) -> Result<T> {
        self.inner.auth.check_write(headers)?;
        let now = self.inner.runtime.now();
        let out = {
            let mut eng = self.lock();
            let now = now.max(eng.director.now());
            f(&mut eng.director, now)
        }?;
        self.inner.runtime.refresh();
        Ok(out)
    }
}

/// Parse and apply one ipvsadm command line.
fn apply(d: &mut Director, argv: &[String], now: rvs_core::Time) -> Result<()> {
    let cmd = write::command(argv)?;
    d.apply(&cmd, now)?;
    tracing::info!(command = %argv.join(" "), "table changed through the API");
    Ok(())
}

fn service_row(d: &Director, key: &ServiceKey) -> Result<ServiceRow> {
    d.service_rows(Some(key))
        .and_then(|mut v| v.pop())
        .ok_or_else(|| ApiError::not_found("No such service"))
}

fn dest_of(row: &ServiceRow, dk: &DestKey) -> Result<rvs_core::listing::DestRow> {
    row.dests
        .iter()
        .find(|d| d.addr == dk.addr && d.port == dk.port)
        .cloned()
        .ok_or_else(|| ApiError::not_found("No such destination"))
}

fn key_of(id: &str) -> Result<ServiceKey> {
    parse_service_id(id).map_err(|e| ApiError::bad_request(e.to_string()))
}

fn dest_key_of(id: &str) -> Result<DestKey> {
    parse_dest_id(id).map_err(|e| ApiError::bad_request(e.to_string()))
}

fn created(location: String, body: impl serde::Serialize) -> Response {
    let mut r = (StatusCode::CREATED, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

async fn list_services(State(api): State<Api>, headers: HeaderMap) -> Result<Response> {
    api.read(&headers)?;
    let rows = api.lock().director.service_rows(None).unwrap_or_default();
    let mut order: Vec<&ServiceRow> = rows.iter().collect();
    merge_sort(&mut order, &mut |a, b| cmp_services(&a.key, &b.key));
    let services: Vec<ServiceJson> = order.into_iter().map(|r| api.service_json(r)).collect();
    Ok(json_ok(ServiceList { services }))
}

async fn add_service(State(api): State<Api>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    api.inner.auth.check_write(&headers)?;
    let n: NewService = write::body(&body)?;
    let key = write::new_service_key(&n)?;
    let argv = write::service_argv("-A", &key, &write::new_service_options(&n))?;
    let row = api.change(&headers, |d, now| {
        apply(d, &argv, now)?;
        service_row(d, &key)
    })?;
    let id = service_id(&key);
    Ok(created(
        format!("/api/v1/services/{id}"),
        api.service_json(&row),
    ))
}

async fn get_service(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    api.read(&headers)?;
    let key = key_of(&id)?;
    let row = service_row(&api.lock().director, &key)?;
    Ok(json_ok(api.service_json(&row)))
}

async fn edit_service(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    api.inner.auth.check_write(&headers)?;
    let key = key_of(&id)?;
    let over: ServiceOptions = write::body(&body)?;
    let row = api.change(&headers, |d, now| {
        let cur = service_row(d, &key)?;
        let o = write::merge_service(write::current_service_options(&cur), over);
        let argv = write::service_argv("-E", &key, &o)?;
        apply(d, &argv, now)?;
        service_row(d, &key)
    })?;
    Ok(json_ok(api.service_json(&row)))
}

async fn delete_service(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    api.inner.auth.check_write(&headers)?;
    let key = key_of(&id)?;
    let mut argv = vec!["-D".to_string()];
    argv.extend(write::service_selector(&key));
    api.change(&headers, |d, now| apply(d, &argv, now))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_dests(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response> {
    api.read(&headers)?;
    let key = key_of(&id)?;
    let row = service_row(&api.lock().director, &key)?;
    Ok(json_ok(DestList {
        dests: api.service_json(&row).dests,
    }))
}

fn dest_response(api: &Api, row: &ServiceRow, dk: &DestKey) -> Result<model::DestJson> {
    let d = dest_of(row, dk)?;
    let h = api.inner.runtime.health(&row.key, d.addr, d.port);
    Ok(model::dest_json(&d, h))
}

async fn add_dest(
    State(api): State<Api>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response> {
    api.inner.auth.check_write(&headers)?;
    let key = key_of(&id)?;
    let n: NewDest = write::body(&body)?;
    let argv = write::dest_argv("-a", &key, n.address, n.port, &write::new_dest_options(&n))?;
    let cmd = write::command(&argv)?;
    let rvs_core::Command::AddDest(_, cfg) = &cmd else {
        return Err(ApiError::bad_request("not a real-server command"));
    };
    let dk = DestKey {
        addr: cfg.addr,
        port: cfg.port,
    };
    let row = api.change(&headers, |d, now| {
        apply(d, &argv, now)?;
        service_row(d, &key)
    })?;
    let dest = dest_response(&api, &row, &dk)?;
    Ok(created(format!("/api/v1/services/{id}/dests/{dk}"), dest))
}

async fn get_dest(
    State(api): State<Api>,
    headers: HeaderMap,
    Path((id, dest)): Path<(String, String)>,
) -> Result<Response> {
    api.read(&headers)?;
    let key = key_of(&id)?;
    let dk = dest_key_of(&dest)?;
    let row = service_row(&api.lock().director, &key)?;
    Ok(json_ok(dest_response(&api, &row, &dk)?))
}

/// Edit dest `dk` of `key` with `over` merged onto its current options.
fn edit(
    api: &Api,
    headers: &HeaderMap,
    key: ServiceKey,
    dk: DestKey,
    over: DestOptions,
) -> Result<Response> {
    let row = api.change(headers, |d, now| {
        let cur = dest_of(&service_row(d, &key)?, &dk)?;
        let o = write::merge_dest(write::current_dest_options(&cur), over);
        let argv = write::dest_argv("-e", &key, dk.addr, Some(dk.port), &o)?;
        apply(d, &argv, now)?;
        service_row(d, &key)
    })?;
    Ok(json_ok(dest_response(api, &row, &dk)?))
}

async fn edit_dest(
    State(api): State<Api>,
    headers: HeaderMap,
    Path((id, dest)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response> {
    api.inner.auth.check_write(&headers)?;
    let key = key_of(&id)?;
    let dk = dest_key_of(&dest)?;
    let over: DestOptions = write::body(&body)?;
    edit(&api, &headers, key, dk, over)
}

async fn drain_dest(
    State(api): State<Api>,
    headers: HeaderMap,
    Path((id, dest)): Path<(String, String)>,
) -> Result<Response> {
    api.inner.auth.check_write(&headers)?;
    let key = key_of(&id)?;
    let dk = dest_key_of(&dest)?;
    let over = DestOptions {
        weight: Some(0),
        ..DestOptions::default()
    };
    edit(&api, &headers, key, dk, over)
}

async fn delete_dest(
    State(api): State<Api>,
    headers: HeaderMap,
    Path((id, dest)): Path<(String, String)>,
) -> Result<Response> {
    api.inner.auth.check_write(&headers)?;
    let key = key_of(&id)?;
    let dk = dest_key_of(&dest)?;
    let mut argv = vec!["-d".to_string()];
    argv.extend(write::service_selector(&key));
    argv.extend([
        "-r".to_string(),
        std::net::SocketAddr::new(dk.addr, dk.port).to_string(),
    ]);
    api.change(&headers, |d, now| apply(d, &argv, now))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `offset` and `limit` of a query string; anything else is a 400.
fn paging(query: Option<&str>) -> Result<(usize, usize)> {
    let (mut offset, mut limit) = (0usize, DEFAULT_LIMIT);
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let n = || {
            v.parse::<usize>()
                .ok()
                .filter(|_| v.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| ApiError::bad_request(format!("invalid {k} `{v}'")))
        };
        match k {
            "offset" => offset = n()?,
            "limit" => limit = n()?,
            _ => return Err(ApiError::bad_request(format!("unknown parameter `{k}'"))),
        }
    }
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(format!(
            "limit must be 1..={MAX_LIMIT}"
        )));
    }
    Ok((offset, limit))
}

async fn connections(
    State(api): State<Api>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response> {
    api.read(&headers)?;
    let (offset, limit) = paging(q.as_deref())?;
    let (total, page) = {
        let eng = api.lock();
        let d = &eng.director;
        let now = d.now();
        let page: Vec<model::ConnJson> = d
            .conns
            .iter()
            .skip(offset)
            .take(limit)
            .map(|(_, c)| model::conn_json(c, now))
            .collect();
        (d.conns.len(), page)
    };
    Ok(json_ok(json!({
        "total": total,
        "offset": offset,
        "limit": limit,
        "connections": page,
    })))
}

async fn health(State(api): State<Api>, headers: HeaderMap) -> Result<Response> {
    api.read(&headers)?;
    let rows = api.lock().director.service_rows(None).unwrap_or_default();
    let rt = &api.inner.runtime;
    let dests: Vec<_> = rows
        .iter()
        .flat_map(|s| {
            s.dests.iter().map(move |d| {
                json!({
                    "service": service_id(&s.key),
                    "dest": DestKey { addr: d.addr, port: d.port }.to_string(),
                    "state": rt.health(&s.key, d.addr, d.port),
                })
            })
        })
        .collect();
    Ok(json_ok(json!({
        "checker": rt.health_checker(),
        "dests": dests,
    })))
}

async fn vrrp(State(api): State<Api>, headers: HeaderMap) -> Result<Response> {
    api.read(&headers)?;
    Ok(json_ok(json!({ "instances": api.inner.runtime.vrrp() })))
}

async fn history(State(api): State<Api>, headers: HeaderMap) -> Result<Response> {
    api.read(&headers)?;
    let h = api.history().clone();
    Ok(json_ok(h))
}

async fn status(State(api): State<Api>, headers: HeaderMap) -> Result<Response> {
    api.read(&headers)?;
    let snap = api.snapshot();
    let e = &snap.engine;
    let dests: usize = snap.services.iter().map(|s| s.dests.len()).sum();
    Ok(json_ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": api.inner.started.elapsed().as_secs(),
        "services": snap.services.len(),
        "dests": dests,
        "connections": snap.connections,
        "templates": snap.templates,
        "engine": {
            "rx": e.rx, "tx": e.tx, "unresolved": e.unresolved, "passed": e.passed,
            "dropped": e.dropped,
        },
        "dataplane": snap.dataplane,
        "health_checker": api.inner.runtime.health_checker(),
        "vrrp_instances": snap.vrrp.len(),
        "public_read": api.inner.auth.public_read(),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_parses() {
        assert_eq!(paging(None).unwrap(), (0, DEFAULT_LIMIT));
        assert_eq!(paging(Some("offset=5&limit=2")).unwrap(), (5, 2));
        for bad in [
            "limit=0",
            "limit=10001",
            "offset=-1",
            "offset=x",
            "limit=+3",
            "foo=1",
        ] {
            assert_eq!(
                paging(Some(bad)).unwrap_err().status,
                StatusCode::BAD_REQUEST,
                "{bad}"
            );
        }
    }
}
