//! The status page: HTML, CSS and JavaScript compiled into the binary; no external
//! resources. The script polls `/api/v1/services`, `/api/v1/history`, `/api/v1/vrrp` and
//! `/api/v1/status` every second. A token for non-public reads is taken from the page
//! address's fragment (`/#token=...`), which browsers never send to the server.

/// `GET /`.
pub const INDEX_HTML: &str = include_str!("../assets/index.html");
/// `GET /assets/app.js`.
pub const APP_JS: &str = include_str!("../assets/app.js");
/// `GET /assets/style.css`.
pub const STYLE_CSS: &str = include_str!("../assets/style.css");
