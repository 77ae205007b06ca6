//! HTTP_GET and SSL_GET: for every `url`, one connection, keepalived's request
//! (`GET path HTTP/1.x`, `User-Agent: KeepAliveClient`, `Connection: close` for 1.0C and
//! 1.1, `Host`), the whole answer read until the server closes; the status must be in one
//! of the url's ranges, the MD5 of the body (everything after the blank line, as
//! keepalived's genhash computes it) must equal `digest`, and `regex` must match (or not,
//! with `regex_no_match`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use md5::{Digest, Md5};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rvs_config::keepalived::{HttpCheck, HttpProtocol, Url};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::monitor::{ProbeResult, ProbeSpec};

/// The most of an answer read (keepalived reads without a limit; a health page is small).
const MAX_ANSWER: usize = 16 << 20;

/// keepalived's request for `path` (check_http.c's request_template).
pub fn request(path: &str, proto: HttpProtocol, host: Option<&str>, target: SocketAddr) -> String {
    let minor = u8::from(proto == HttpProtocol::V1_1);
    let close = if proto == HttpProtocol::V1_0 {
        ""
    } else {
        "Connection: close\r\n"
    };
    let host = match (host, target.ip()) {
        (Some(h), _) => h.to_string(),
        (None, IpAddr::V6(a)) => format!("[{a}]:{}", target.port()),
        (None, IpAddr::V4(a)) => format!("{a}:{}", target.port()),
    };
    format!(
        "GET {path} HTTP/1.{minor}\r\nUser-Agent: KeepAliveClient\r\n{close}Host: {host}\r\n\r\n"
    )
}

/// The status code of an answer and its body (after the first blank line).
pub fn split_answer(answer: &[u8]) -> Option<(u16, &[u8])> {
    let line_end = answer.iter().position(|b| *b == b'\n')?;
    let line = std::str::from_utf8(&answer[..line_end]).ok()?;
    let mut parts = line.split_ascii_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    let code: u16 = parts.next()?.parse().ok()?;
    let body = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| &answer[i + 4..])
        .or_else(|| {
            answer
                .windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| &answer[i + 2..])
        })
        .unwrap_or(&[]);
    Some((code, body))
}

/// MD5 of `body` as 32 lowercase hex digits (genhash's output).
pub fn md5_hex(body: &[u8]) -> String {
    let d = Md5::digest(body);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks one answer against `url`; `Err` carries the reason.
pub fn check_answer(url: &Url, answer: &[u8]) -> Result<(), String> {
    let Some((code, body)) = split_answer(answer) else {
        return Err("not an HTTP answer".into());
    };
    if !url
        .status_codes
        .iter()
        .any(|(a, b)| (*a..=*b).contains(&code))
    {
        return Err(format!("HTTP status code {code}"));
    }
    if let Some(want) = &url.digest {
        let got = md5_hex(body);
        if !got.eq_ignore_ascii_case(want) {
            return Err(format!("MD5 digest {got} (expected {want})"));
        }
    }
    if let Some(re) = &url.regex {
        let re = re.trim_matches('"');
        let re = regex::bytes::Regex::new(re).map_err(|e| format!("bad regex: {e}"))?;
        if re.is_match(body) == url.regex_no_match {
            return Err(if url.regex_no_match {
                "regex matched".into()
            } else {
                "regex did not match".into()
            });
        }
    }
    Ok(())
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    req: &str,
) -> std::io::Result<Vec<u8>> {
    s.write_all(req.as_bytes()).await?;
    s.flush().await?;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = match s.read(&mut buf).await {
            Ok(n) => n,
            // A TLS server that closes without close_notify: what was read counts.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => 0,
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        if out.len() > MAX_ANSWER || complete(&out) {
            break;
        }
    }
    Ok(out)
}

/// Whether `answer` holds its whole body by its `Content-Length` (keepalived reads until the
/// server closes; stopping here too spares a server that keeps the connection open).
fn complete(answer: &[u8]) -> bool {
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&answer[..end]);
    let len = head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())
            .flatten()
    });
    len.is_some_and(|n| answer.len() - (end + 4) >= n)
}

/// Accepts any certificate: keepalived's SSL_GET does not verify the real server's.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn tls_connector() -> Result<tokio_rustls::TlsConnector, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(cfg)))
}

async fn fetch(spec: &ProbeSpec, h: &HttpCheck, url: &Url, tls: bool) -> Result<Vec<u8>, String> {
    let host = url.virtualhost.as_deref().or(spec.virtualhost.as_deref());
    let req = request(&url.path, h.http_protocol, host, spec.target);
    let mut tcp = super::tcp_connect(spec)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    if !tls {
        return exchange(&mut tcp, &req)
            .await
            .map_err(|e| format!("HTTP exchange: {e}"));
    }
    let connector = tls_connector().map_err(|e| format!("TLS setup: {e}"))?;
    // SNI only with enable_sni and a host name; otherwise the address (no SNI is sent).
    let name = match host.filter(|_| h.enable_sni) {
        Some(n) => ServerName::try_from(n.to_string()).map_err(|e| format!("SNI name: {e}"))?,
        None => ServerName::IpAddress(spec.target.ip().into()),
    };
    let mut s = connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake: {e}"))?;
    exchange(&mut s, &req)
        .await
        .map_err(|e| format!("HTTPS exchange: {e}"))
}

/// Fetches every url in turn; the first failing one fails the check.
pub async fn run(spec: &ProbeSpec, h: &HttpCheck, tls: bool) -> ProbeResult {
    for url in &h.urls {
        let answer = match fetch(spec, h, url, tls).await {
            Ok(a) => a,
            Err(e) => return ProbeResult::Down(format!("{}: {e}", url.path)),
        };
        if let Err(e) = check_answer(url, &answer) {
            return ProbeResult::Down(format!("{}: {e}", url.path));
        }
    }
    ProbeResult::Up
}
