//! Every endpoint, in process, against a real Director behind the router: authentication,
//! bad input (400 and nothing changed), table errors with ipvsadm's texts, paging, health
//! and VRRP, the metrics text parsed back, the status page, and the server thread.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use rvs_api::{Api, Auth, DataplaneReport, Health, Static, VrrpInstance, VrrpState};
use rvs_core::conn::state::Segment;
use rvs_core::director::Packet;
use rvs_core::engine::Engine;
use rvs_core::{Director, Settings, SplitMix64, Time};
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "s3cret-token-0123456789";

struct Fx {
    api: Api,
    engine: Arc<Mutex<Engine>>,
    rt: Arc<Static>,
}

fn fx_with(auth: Auth, rt: Static) -> Fx {
    let d = Director::new(Settings::default(), 7, Box::new(SplitMix64(7)));
    let engine = Arc::new(Mutex::new(Engine::new(d)));
    let rt = Arc::new(rt);
    let api = Api::new(engine.clone(), rt.clone(), auth);
    Fx { api, engine, rt }
}

fn fx() -> Fx {
    fx_with(Auth::new(Some(TOKEN.into()), false), Static::default())
}

struct Resp {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    text: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }
}

impl Fx {
    async fn call(&self, method: Method, uri: &str, auth: Option<&str>, body: &str) -> Resp {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(a) = auth {
            b = b.header(header::AUTHORIZATION, a);
        }
        if !body.is_empty() {
            b = b.header(header::CONTENT_TYPE, "application/json");
        }
        let resp = self
            .api
            .router()
            .oneshot(b.body(Body::from(body.to_string())).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 24)
            .await
            .unwrap();
        Resp {
            status,
            headers,
            text: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    async fn get(&self, uri: &str) -> Resp {
        self.call(Method::GET, uri, Some(&bearer()), "").await
    }

    async fn send(&self, method: Method, uri: &str, body: &str) -> Resp {
        self.call(method, uri, Some(&bearer()), body).await
    }

    fn save(&self) -> String {
        self.engine.lock().unwrap().director.render_save()
    }

    fn refreshes(&self) -> u64 {
        self.rt.refreshes.load(Ordering::Relaxed)
    }

    /// `n` UDP flows from distinct client ports (from `sport0` on) to `vip:port`, one
    /// packet each.
    fn traffic(&self, vip: &str, port: u16, sport0: u16, n: u16, now: Time) {
        let mut eng = self.engine.lock().unwrap();
        for i in 0..n {
            let p = Packet {
                saddr: "198.18.0.2".parse().unwrap(),
                sport: sport0 + i,
                daddr: vip.parse().unwrap(),
                dport: port,
                seg: Segment::Udp,
                len: 100,
                fwmark: 0,
            };
            eng.director.process(&p, now);
        }
    }
}

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

fn assert_error(r: &Resp, status: StatusCode, msg: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    let j = r.json();
    assert_eq!(j["code"], status.as_u16(), "{j}");
    assert_eq!(j["error"], msg, "{j}");
}

async fn add_web(f: &Fx) {
    let r = f
        .send(
            Method::POST,
            "/api/v1/services",
            r#"{"protocol":"tcp","address":"198.18.1.100","port":80,"scheduler":"rr","persistent":300}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

#[tokio::test]
async fn auth_401_403_and_public_read() {
    let f = fx();
    let reads = [
        "/metrics",
        "/api/v1/services",
        "/api/v1/status",
        "/api/v1/connections",
        "/api/v1/health",
        "/api/v1/vrrp",
        "/api/v1/history",
    ];
    for uri in reads {
        let r = f.call(Method::GET, uri, None, "").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(r.json()["code"], 401);
        assert!(
            r.headers[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
        for malformed in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "bearer x", TOKEN] {
            let r = f.call(Method::GET, uri, Some(malformed), "").await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{uri} {malformed}");
        }
        let r = f
            .call(Method::GET, uri, Some("Bearer wrong-token-0123456789"), "")
            .await;
        assert_error(&r, StatusCode::FORBIDDEN, "wrong token");
        // A prefix of the right token is wrong too.
        let r = f
            .call(Method::GET, uri, Some(&bearer()[..bearer().len() - 1]), "")
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(f.get(uri).await.status, StatusCode::OK, "{uri}");
    }
    let body = r#"{"protocol":"tcp","address":"198.18.1.100","port":80}"#;
    let r = f.call(Method::POST, "/api/v1/services", None, body).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = f
        .call(
            Method::POST,
            "/api/v1/services",
            Some("Bearer nope-nope-nope-nope"),
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(f.save(), "", "a refused write changes nothing");
    assert_eq!(f.refreshes(), 0);

    // Public reads: reads open, writes still need the token.
    let f = fx_with(Auth::new(Some(TOKEN.into()), true), Static::default());
    for uri in reads {
        assert_eq!(
            f.call(Method::GET, uri, None, "").await.status,
            StatusCode::OK,
            "{uri}"
        );
    }
    let r = f.call(Method::POST, "/api/v1/services", None, body).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = f
        .call(
            Method::DELETE,
            "/api/v1/services/tcp-198.18.1.100-80",
            None,
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // No token configured: read-only.
    let f = fx_with(Auth::new(None, true), Static::default());
    let r = f.send(Method::POST, "/api/v1/services", body).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(f.save(), "");
}

#[tokio::test]
async fn services_add_get_edit_delete() {
    let f = fx();
    let r = f
        .send(
            Method::POST,
            "/api/v1/services",
            r#"{"protocol":"tcp","address":"198.18.1.100","port":80,"scheduler":"rr","persistent":300}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(
        r.headers[header::LOCATION],
        "/api/v1/services/tcp-198.18.1.100-80"
    );
    let j = r.json();
    assert_eq!(j["id"], "tcp-198.18.1.100-80");
    assert_eq!(j["scheduler"], "rr");
    assert_eq!(j["persistent"], 300);
    assert_eq!(f.save(), "-A -t 198.18.1.100:80 -s rr -p 300\n");
    assert_eq!(f.refreshes(), 1);

    let r = f
        .send(
            Method::POST,
            "/api/v1/services",
            r#"{"protocol":"fwmark","fwmark":7,"family":"ipv6","scheduler":"sh","sched_flags":["sh-port"]}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.json()["id"], "fwm6-7");
    let r = f
        .send(
            Method::POST,
            "/api/v1/services",
            r#"{"protocol":"udp","address":"fd00:1::100","port":9000}"#,
        )
        .await;
    assert_eq!(r.json()["id"], "udp-fd00:1::100-9000");

    let list = f.get("/api/v1/services").await.json();
    let ids: Vec<&str> = list["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    // ipvsadm's order: address services before fwmark ones.
    assert_eq!(
        ids,
        ["tcp-198.18.1.100-80", "udp-fd00:1::100-9000", "fwm6-7"]
    );
    let j = f.get("/api/v1/services/fwm6-7").await.json();
    assert_eq!(
        (
            j["protocol"].as_str(),
            j["family"].as_str(),
            j["fwmark"].as_u64()
        ),
        (Some("fwmark"), Some("ipv6"), Some(7))
    );
    assert_eq!(j["sched_flags"], json!(["sh-port"]));

    // Edit merges: the scheduler changes, persistence stays.
    let r = f
        .send(
            Method::PATCH,
            "/api/v1/services/tcp-198.18.1.100-80",
            r#"{"scheduler":"wlc"}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["persistent"], 300);
    assert!(
        f.save().contains("-A -t 198.18.1.100:80 -s wlc -p 300\n"),
        "{}",
        f.save()
    );
    // null clears persistence; PUT is the same as PATCH.
    let r = f
        .send(
            Method::PUT,
            "/api/v1/services/tcp-198.18.1.100-80",
            r#"{"persistent":null}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["persistent"], Value::Null);
    assert!(f.save().contains("-A -t 198.18.1.100:80 -s wlc\n"));

    let r = f
        .send(Method::DELETE, "/api/v1/services/udp-fd00:1::100-9000", "")
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(!f.save().contains("9000"));
    assert_error(
        &f.get("/api/v1/services/udp-fd00:1::100-9000").await,
        StatusCode::NOT_FOUND,
        "No such service",
    );
    assert_error(
        &f.send(Method::DELETE, "/api/v1/services/udp-fd00:1::100-9000", "")
            .await,
        StatusCode::NOT_FOUND,
        "No such service",
    );
    assert_error(
        &f.send(
            Method::PATCH,
            "/api/v1/services/tcp-198.18.1.1-81",
            r#"{"scheduler":"rr"}"#,
        )
        .await,
        StatusCode::NOT_FOUND,
        "No such service",
    );
}

#[tokio::test]
async fn table_errors_carry_ipvsadm_texts() {
    let f = fx();
    add_web(&f).await;
    let before = f.save();
    let refreshes = f.refreshes();
    let body = r#"{"protocol":"tcp","address":"198.18.1.100","port":80}"#;
    assert_error(
        &f.send(Method::POST, "/api/v1/services", body).await,
        StatusCode::CONFLICT,
        "Service already exists",
    );
    assert_error(
        &f.send(
            Method::POST,
            "/api/v1/services",
            r#"{"protocol":"tcp","address":"198.18.1.100","port":81,"scheduler":"nope"}"#,
        )
        .await,
        StatusCode::CONFLICT,
        "Scheduler or persistence engine not found",
    );
    assert_error(
        &f.send(
            Method::POST,
            "/api/v1/services/tcp-198.18.1.100-81/dests",
            r#"{"address":"198.18.1.11"}"#,
        )
        .await,
        StatusCode::NOT_FOUND,
        "Service not defined",
    );
    let r = f
        .send(
            Method::POST,
            "/api/v1/services/tcp-198.18.1.100-80/dests",
            r#"{"address":"198.18.1.11"}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let before = format!("{before}-a -t 198.18.1.100:80 -r 198.18.1.11:80 -g -w 1\n");
    assert_error(
        &f.send(
            Method::POST,
            "/api/v1/services/tcp-198.18.1.100-80/dests",
            r#"{"address":"198.18.1.11"}"#,
        )
        .await,
        StatusCode::CONFLICT,
        "Destination already exists",
    );
    assert_error(
        &f.send(
            Method::PATCH,
            "/api/v1/services/tcp-198.18.1.100-80/dests/198.18.1.12-80",
            r#"{"weight":2}"#,
        )
        .await,
        StatusCode::NOT_FOUND,
        "No such destination",
    );
    assert_error(
        &f.send(
            Method::POST,
            "/api/v1/services/tcp-198.18.1.100-80/dests/198.18.1.12-80/drain",
            "",
        )
        .await,
        StatusCode::NOT_FOUND,
        "No such destination",
    );
    assert_error(
        &f.send(
            Method::DELETE,
            "/api/v1/services/tcp-198.18.1.100-80/dests/198.18.1.12-80",
            "",
        )
        .await,
        StatusCode::NOT_FOUND,
        "No such destination",
    );
    assert_error(
        &f.get("/api/v1/services/tcp-198.18.1.100-80/dests/198.18.1.12-80")
            .await,
        StatusCode::NOT_FOUND,
        "No such destination",
    );
    assert_eq!(f.save(), before);
    assert_eq!(
        f.refreshes(),
        refreshes + 1,
        "only the one successful write refreshed"
    );
}

#[tokio::test]
async fn bad_input_is_400_and_changes_nothing() {
    let f = fx();
    add_web(&f).await;
    f.send(
        Method::POST,
        "/api/v1/services/tcp-198.18.1.100-80/dests",
        r#"{"address":"198.18.1.11","weight":5}"#,
    )
    .await;
    let before = f.save();
    let refreshes = f.refreshes();
    let cases: &[(Method, &str, &str, Option<&str>)] = &[
        (
            Method::POST,
            "/api/v1/services",
            "",
            Some("a JSON body is required"),
        ),
        (Method::POST, "/api/v1/services", "{", None),
        (Method::POST, "/api/v1/services", "[]", None),
        (
            Method::POST,
            "/api/v1/services",
            r#"{"protocol":"icmp","address":"1.2.3.4","port":1}"#,
            Some("invalid protocol `icmp' (tcp, udp, sctp or fwmark)"),
        ),
        (
            Method::POST,
            "/api/v1/services",
            r#"{"protocol":"tcp","address":"1.2.3.400","port":1}"#,
            None,
        ),
        (
            Method::POST,
            "/api/v1/services",
            r#"{"protocol":"tcp","address":"1.2.3.4","port":70000}"#,
            None,
        ),
        (
            Method::POST,
            "/api/v1/services",
            r#"{"protocol":"tcp","address":"1.2.3.4"}"#,
            Some("port is required"),
        ),
        (
            Method::POST,
            "/api/v1/services",
            r#"{"protocol":"tcp","address":"1.2.3.4","port":1,"colour":"red"}"#,
            None,
        ),
        (
            Method::POST,
            "/api/v1/services",
            r#"{"protocol":"tcp","address":"1.2.3.4","port":1,"scheduler":"rr -C"}"#,
            Some("invalid scheduler `rr -C'"),
        ),
        (
            Method::POST,
            "/api/v1/services",
            r#"{"protocol":"tcp","address":"1.2.3.4","port":0}"#,
            None,
        ),
        (
            Method::POST,
            "/api/v1/services",
            r#"{"protocol":"fwmark","fwmark":0}"#,
            Some("illegal fwmark specified"),
        ),
        (
            Method::PATCH,
            "/api/v1/services/tcp-198.18.1.100-80",
            r#"{"port":81}"#,
            None,
        ),
        (
            Method::PATCH,
            "/api/v1/services/tcp-198.18.1.100-80",
            r#"{"persistent":-1}"#,
            None,
        ),
        (
            Method::PATCH,
            "/api/v1/services/tcp-198.18.1.100-080",
            r#"{"scheduler":"rr"}"#,
            None,
        ),
        (
            Method::PATCH,
            "/api/v1/services/tcp-198.18.1.100-80/dests/198.18.1.11-80",
            r#"{"weight":70000}"#,
            Some("illegal weight specified"),
        ),
        (
            Method::PATCH,
            "/api/v1/services/tcp-198.18.1.100-80/dests/198.18.1.11-80",
            r#"{"weight":-1}"#,
            Some("illegal weight specified"),
        ),
        (
            Method::PATCH,
            "/api/v1/services/tcp-198.18.1.100-80/dests/198.18.1.11-80",
            r#"{"forward":"route"}"#,
            Some("invalid forward `route' (dr, nat, tun or fullnat)"),
        ),
        (
            Method::PATCH,
            "/api/v1/services/tcp-198.18.1.100-80/dests/198.18.1.11-80",
            r#"{"tunnel":{"type":"gre"}}"#,
            Some("tunnel options need forward `tun'"),
        ),
        (
            Method::PATCH,
            "/api/v1/services/tcp-198.18.1.100-80/dests/198.18.1.11",
            r#"{"weight":1}"#,
            None,
        ),
        (
            Method::POST,
            "/api/v1/services/tcp-198.18.1.100-80/dests",
            r#"{"address":"198.18.1.12","upper_threshold":"ten"}"#,
            None,
        ),
        (
            Method::POST,
            "/api/v1/services/tcp-198.18.1.100-80/dests",
            r#"{"port":80}"#,
            None,
        ),
        (Method::DELETE, "/api/v1/services/bogus", "", None),
        (Method::GET, "/api/v1/services/tcp-1.2.3.4", "", None),
    ];
    for (m, uri, body, msg) in cases {
        let r = f.send(m.clone(), uri, body).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{m} {uri} {body}: {}",
            r.text
        );
        let j = r.json();
        assert_eq!(j["code"], 400);
        assert!(j["error"].as_str().is_some_and(|e| !e.is_empty()));
        if let Some(msg) = msg {
            assert_eq!(j["error"], *msg, "{m} {uri} {body}");
        }
        assert_eq!(f.save(), before, "{m} {uri} {body} changed the table");
    }
    assert_eq!(f.refreshes(), refreshes);
}

#[tokio::test]
async fn dests_add_edit_drain_delete() {
    let f = fx();
    add_web(&f).await;
    let base = "/api/v1/services/tcp-198.18.1.100-80/dests";
    let r = f.send(Method::POST, base, r#"{"address":"198.18.1.11","port":8080,"forward":"nat","weight":3,"upper_threshold":100,"lower_threshold":10}"#).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(
        r.headers[header::LOCATION],
        format!("{base}/198.18.1.11-8080")
    );
    let j = r.json();
    assert_eq!(
        (
            j["id"].as_str(),
            j["forward"].as_str(),
            j["weight"].as_i64()
        ),
        (Some("198.18.1.11-8080"), Some("nat"), Some(3))
    );
    assert_eq!(j["health"], "unchecked");
    // DR takes the service's port whatever is asked, as in ipvsadm.
    let r = f
        .send(
            Method::POST,
            base,
            r#"{"address":"198.18.1.12","port":8080}"#,
        )
        .await;
    assert_eq!(r.json()["id"], "198.18.1.12-80");
    let r = f.send(Method::POST, base, r#"{"address":"198.18.1.13","forward":"tun","tunnel":{"type":"gue","port":6080,"checksum":"csum"}}"#).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(
        r.json()["tunnel"],
        json!({"type":"gue","port":6080,"checksum":"csum"})
    );

    let list = f.get(base).await.json();
    let ids: Vec<&str> = list["dests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["198.18.1.11-8080", "198.18.1.12-80", "198.18.1.13-80"]
    );

    // Edit merges: only the weight changes.
    let r = f
        .send(
            Method::PATCH,
            &format!("{base}/198.18.1.11-8080"),
            r#"{"weight":7}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let j = r.json();
    assert_eq!(
        (
            j["weight"].as_i64(),
            j["forward"].as_str(),
            j["upper_threshold"].as_u64(),
            j["lower_threshold"].as_u64()
        ),
        (Some(7), Some("nat"), Some(100), Some(10))
    );
    // The tunnel dest keeps its tunnel through an edit.
    let r = f
        .send(
            Method::PATCH,
            &format!("{base}/198.18.1.13-80"),
            r#"{"weight":2}"#,
        )
        .await;
    assert_eq!(r.json()["tunnel"]["type"], "gue");

    let r = f
        .send(Method::POST, &format!("{base}/198.18.1.11-8080/drain"), "")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["weight"], 0);
    assert_eq!(
        f.get(&format!("{base}/198.18.1.11-8080")).await.json()["forward"],
        "nat"
    );
    assert!(
        f.save()
            .contains("-a -t 198.18.1.100:80 -r 198.18.1.11:8080 -m -w 0\n"),
        "{}",
        f.save()
    );

    let r = f
        .send(Method::DELETE, &format!("{base}/198.18.1.12-80"), "")
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(!f.save().contains("198.18.1.12"));
    assert_eq!(
        f.get(&format!("{base}/198.18.1.12-80")).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn connections_are_paged() {
    let f = fx();
    f.send(
        Method::POST,
        "/api/v1/services",
        r#"{"protocol":"udp","address":"198.18.1.100","port":9000,"scheduler":"rr"}"#,
    )
    .await;
    f.send(
        Method::POST,
        "/api/v1/services/udp-198.18.1.100-9000/dests",
        r#"{"address":"198.18.1.11"}"#,
    )
    .await;
    f.traffic("198.18.1.100", 9000, 10_000, 25, Time(1000));
    let j = f.get("/api/v1/connections").await.json();
    assert_eq!(
        (
            j["total"].as_u64(),
            j["offset"].as_u64(),
            j["limit"].as_u64()
        ),
        (Some(25), Some(0), Some(100))
    );
    assert_eq!(j["connections"].as_array().unwrap().len(), 25);
    let c = &j["connections"][0];
    assert_eq!(
        (
            c["protocol"].as_str(),
            c["state"].as_str(),
            c["template"].as_bool()
        ),
        (Some("UDP"), Some("UDP"), Some(false))
    );
    assert_eq!(c["virtual_address"], "198.18.1.100");
    assert_eq!(c["dest_address"], "198.18.1.11");
    let mut seen = std::collections::BTreeSet::new();
    for off in (0..25).step_by(10) {
        let j = f
            .get(&format!("/api/v1/connections?offset={off}&limit=10"))
            .await
            .json();
        let page = j["connections"].as_array().unwrap();
        assert_eq!(page.len(), 10.min(25 - off));
        for c in page {
            seen.insert(c["client_port"].as_u64().unwrap());
        }
    }
    assert_eq!(seen.len(), 25, "pages cover every connection once");
    let j = f.get("/api/v1/connections?offset=100").await.json();
    assert_eq!(j["connections"].as_array().unwrap().len(), 0);
    for bad in ["limit=0", "limit=10001", "offset=-1", "limit=x", "page=2"] {
        let r = f.get(&format!("/api/v1/connections?{bad}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn health_vrrp_status_history() {
    let f = fx();
    add_web(&f).await;
    f.send(
        Method::POST,
        "/api/v1/services/tcp-198.18.1.100-80/dests",
        r#"{"address":"198.18.1.11"}"#,
    )
    .await;
    f.send(
        Method::POST,
        "/api/v1/services/tcp-198.18.1.100-80/dests",
        r#"{"address":"198.18.1.12"}"#,
    )
    .await;
    let j = f.get("/api/v1/health").await.json();
    assert_eq!(j["checker"], Value::Null);
    assert_eq!(j["dests"].as_array().unwrap().len(), 2);
    for d in j["dests"].as_array().unwrap() {
        assert_eq!(d["state"], "unchecked");
        assert_eq!(d["service"], "tcp-198.18.1.100-80");
    }
    assert_eq!(f.get("/api/v1/vrrp").await.json(), json!({"instances": []}));
    let s = f.get("/api/v1/status").await.json();
    assert_eq!(
        (s["services"].as_u64(), s["dests"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(s["dataplane"], Value::Null);

    // What a health checker and VRRP would report shows up where documented.
    let f = fx_with(
        Auth::new(Some(TOKEN.into()), false),
        Static {
            health: Health::Down,
            vrrp: vec![VrrpInstance {
                name: "VI_1".into(),
                state: VrrpState::Master,
                interface: "eth1".into(),
                virtual_router_id: 51,
                priority: 150,
                virtual_addresses: vec!["198.18.1.100/32".into()],
            }],
            ..Static::default()
        },
    );
    add_web(&f).await;
    f.send(
        Method::POST,
        "/api/v1/services/tcp-198.18.1.100-80/dests",
        r#"{"address":"198.18.1.11"}"#,
    )
    .await;
    assert_eq!(
        f.get("/api/v1/health").await.json()["dests"][0]["state"],
        "down"
    );
    assert_eq!(
        f.get("/api/v1/services").await.json()["services"][0]["dests"][0]["health"],
        "down"
    );
    let v = f.get("/api/v1/vrrp").await.json();
    assert_eq!(v["instances"][0]["state"], "MASTER");
    assert_eq!(v["instances"][0]["name"], "VI_1");

    let m = parse_metrics(&f.get("/metrics").await.text);
    let l = r#"service="tcp-198.18.1.100-80",dest="198.18.1.11-80""#;
    assert_eq!(m[&format!(r#"rvs_dest_health{{{l},state="down"}}"#)], 1.0);
    assert_eq!(
        m[&format!(r#"rvs_dest_health{{{l},state="unchecked"}}"#)],
        0.0
    );
    assert_eq!(m[r#"rvs_vrrp_state{instance="VI_1",state="MASTER"}"#], 1.0);
    assert_eq!(m[r#"rvs_vrrp_state{instance="VI_1",state="BACKUP"}"#], 0.0);

    f.api.sample();
    f.api.sample();
    let h = f.get("/api/v1/history").await.json();
    assert_eq!(h["interval_ms"], 1000);
    assert_eq!(h["services"]["tcp-198.18.1.100-80"]["inpps"], json!([0, 0]));
    assert_eq!(
        h["dests"]["tcp-198.18.1.100-80/198.18.1.11-80"]["cps"],
        json!([0, 0])
    );
}

/// `name{labels} value` lines of an OpenMetrics text, keyed by `name{labels}`.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    assert!(
        text.ends_with("# EOF\n"),
        "OpenMetrics text ends with # EOF"
    );
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap_or_else(|| panic!("bad line {l}"));
            (
                k.to_string(),
                v.parse().unwrap_or_else(|_| panic!("bad value in {l}")),
            )
        })
        .collect()
}

#[tokio::test]
async fn metrics_match_the_table() {
    let mut report = DataplaneReport::default();
    report.frames.insert("rx".into(), 1234);
    report.drops.insert("tx_failed".into(), 3);
    report.classifier_hits.insert("service".into(), 99);
    report.fastpath_hits = 4321;
    let f = fx_with(
        Auth::new(Some(TOKEN.into()), false),
        Static {
            report: Some(report),
            ..Static::default()
        },
    );
    f.send(
        Method::POST,
        "/api/v1/services",
        r#"{"protocol":"udp","address":"198.18.1.100","port":9000,"scheduler":"rr"}"#,
    )
    .await;
    f.send(
        Method::POST,
        "/api/v1/services/udp-198.18.1.100-9000/dests",
        r#"{"address":"198.18.1.11","weight":4}"#,
    )
    .await;
    f.send(
        Method::POST,
        "/api/v1/services/udp-198.18.1.100-9000/dests",
        r#"{"address":"198.18.1.12","weight":2}"#,
    )
    .await;
    // Traffic across several estimator periods so that rates are non-zero.
    for s in 1..=5u64 {
        f.traffic(
            "198.18.1.100",
            9000,
            10_000 + 100 * s as u16,
            40,
            Time(s * 1000 - 999),
        );
        f.engine.lock().unwrap().director.advance(Time(s * 1000));
    }
    f.engine
        .lock()
        .unwrap()
        .counters
        .dropped
        .insert("no-route", 5);
    let r = f.get("/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let m = parse_metrics(&r.text);
    let row = f
        .engine
        .lock()
        .unwrap()
        .director
        .service_rows(None)
        .unwrap()
        .remove(0);
    let svc = r#"service="udp-198.18.1.100-9000""#;
    assert_eq!(m["rvs_services"], 1.0);
    assert_eq!(
        m[&format!("rvs_service_connections_total{{{svc}}}")],
        row.counters.conns as f64
    );
    assert_eq!(row.counters.conns, 200);
    assert_eq!(m[&format!("rvs_service_in_packets_total{{{svc}}}")], 200.0);
    assert_eq!(m[&format!("rvs_service_in_bytes_total{{{svc}}}")], 20_000.0);
    assert_eq!(
        m[&format!("rvs_service_in_packets_per_second{{{svc}}}")],
        row.rates.inpps as f64
    );
    assert!(row.rates.inpps > 0, "{:?}", row.rates);
    for d in &row.dests {
        let l = format!(r#"{svc},dest="{}-9000""#, d.addr);
        assert_eq!(m[&format!("rvs_dest_weight{{{l}}}")], f64::from(d.weight));
        assert_eq!(
            m[&format!("rvs_dest_connections_total{{{l}}}")],
            d.counters.conns as f64
        );
        assert_eq!(
            m[&format!("rvs_dest_inactive_connections{{{l}}}")],
            f64::from(d.inactconns)
        );
        assert_eq!(
            m[&format!("rvs_dest_active_connections{{{l}}}")],
            f64::from(d.activeconns)
        );
        assert_eq!(
            m[&format!(r#"rvs_dest_health{{{l},state="unchecked"}}"#)],
            1.0
        );
        assert_eq!(m[&format!(r#"rvs_dest_health{{{l},state="up"}}"#)], 0.0);
    }
    // rr with weights 4 and 2 still alternates; every connection landed on one of them.
    let sum: f64 = row
        .dests
        .iter()
        .map(|d| {
            m[&format!(
                r#"rvs_dest_connections_total{{{svc},dest="{}-9000"}}"#,
                d.addr
            )]
        })
        .sum();
    assert_eq!(sum, 200.0);
    assert_eq!(m[r#"rvs_connections{kind="connection"}"#], 200.0);
    assert_eq!(
        m[r#"rvs_dropped_frames_total{stage="engine",reason="no-route"}"#],
        5.0
    );
    assert_eq!(
        m[r#"rvs_dropped_frames_total{stage="dataplane",reason="tx_failed"}"#],
        3.0
    );
    assert_eq!(
        m[r#"rvs_frames_total{stage="dataplane",kind="rx"}"#],
        1234.0
    );
    assert_eq!(m[r#"rvs_xdp_classifier_hits_total{kind="service"}"#], 99.0);
    assert_eq!(m["rvs_xdp_fastpath_hits_total"], 4321.0);
    assert!(r.text.contains("# TYPE rvs_service_connections counter"));
    assert!(r.text.contains("# TYPE rvs_dest_weight gauge"));
}

#[tokio::test]
async fn unknown_endpoints_and_methods_answer_json() {
    let f = fx();
    assert_error(
        &f.get("/api/v1/nope").await,
        StatusCode::NOT_FOUND,
        "no such endpoint",
    );
    let r = f.send(Method::DELETE, "/api/v1/services", "").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.json()["code"], 405);
}

#[tokio::test]
async fn status_page_is_embedded_and_self_contained() {
    let f = fx();
    // The page itself needs no token (it holds no data); its script sends the token.
    let r = f.call(Method::GET, "/", None, "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(r.text.contains(r#"<script src="/assets/app.js">"#));
    let js = f.call(Method::GET, "/assets/app.js", None, "").await;
    assert!(js.text.contains("setInterval(tick, 1000)"));
    assert!(js.text.contains("/api/v1/services"));
    let css = f.call(Method::GET, "/assets/style.css", None, "").await;
    assert!(
        css.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    for text in [&r.text, &js.text, &css.text] {
        for external in [
            "src=\"http",
            "href=\"http",
            "url(",
            "@import",
            "//cdn",
            "fetch(\"http",
        ] {
            assert!(!text.contains(external), "external resource: {external}");
        }
    }
}

#[test]
fn server_thread_serves_and_stops() {
    use std::io::{Read, Write};
    let f = fx_with(Auth::new(Some(TOKEN.into()), true), Static::default());
    let Ok(rvs_config::ipvsadm::Invocation::Command(add)) =
        rvs_config::ipvsadm::parse("rvsadm", &["-A".into(), "-t".into(), "10.0.0.1:80".into()])
    else {
        panic!()
    };
    f.engine
        .lock()
        .unwrap()
        .director
        .apply(&add, Time::ZERO)
        .unwrap();
    let server = rvs_api::spawn("127.0.0.1:0".parse().unwrap(), f.api.clone()).unwrap();
    let addr = server.local_addr();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /api/v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("\"services\":1"), "{out}");
    // The sampler runs on its own: the history fills without anyone asking.
    std::thread::sleep(std::time::Duration::from_millis(1300));
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /api/v1/history HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.contains(r#""tcp-10.0.0.1-80":{"cps":[0,0"#), "{out}");
    server.shutdown();
    assert!(std::net::TcpStream::connect(addr).is_err(), "stopped");
    // A taken address is an error at start, not later.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let e = rvs_api::spawn(l.local_addr().unwrap(), f.api.clone())
        .err()
        .unwrap();
    assert!(e.to_string().starts_with("cannot listen on"), "{e}");
}

/// A runtime that checks, whenever the API calls it for data-plane work, that the engine
/// lock is free (the API must not do the data plane's I/O while holding it).
struct LockChecker {
    engine: std::sync::OnceLock<Arc<Mutex<Engine>>>,
    calls: std::sync::atomic::AtomicU64,
}

impl LockChecker {
    fn check(&self) {
        let e = self.engine.get().expect("engine set");
        assert!(e.try_lock().is_ok(), "called with the engine lock held");
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
}

impl rvs_api::Runtime for LockChecker {
    fn now(&self) -> Time {
        Time::ZERO
    }

    fn refresh(&self) {
        self.check();
    }

    fn dataplane(&self) -> Option<DataplaneReport> {
        self.check();
        None
    }
}

#[tokio::test]
async fn data_plane_work_happens_outside_the_engine_lock() {
    let d = Director::new(Settings::default(), 7, Box::new(SplitMix64(7)));
    let engine = Arc::new(Mutex::new(Engine::new(d)));
    let rt = Arc::new(LockChecker {
        engine: std::sync::OnceLock::new(),
        calls: Default::default(),
    });
    let _ = rt.engine.set(engine.clone());
    let api = Api::new(
        engine.clone(),
        rt.clone(),
        Auth::new(Some(TOKEN.into()), false),
    );
    let f = Fx {
        api,
        engine,
        rt: Arc::new(Static::default()),
    };
    let r = f
        .send(
            Method::POST,
            "/api/v1/services",
            r#"{"protocol":"tcp","address":"10.0.0.1","port":80}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(f.get("/metrics").await.status, StatusCode::OK);
    assert_eq!(f.get("/api/v1/status").await.status, StatusCode::OK);
    assert_eq!(
        rt.calls.load(Ordering::Relaxed),
        3,
        "refresh, then two reports"
    );
}
