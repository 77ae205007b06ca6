//! SMTP_CHECK: banner 220, `HELO helo_name` → 250, then `QUIT`.

use rvs_config::keepalived::SmtpCheck;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::monitor::{ProbeResult, ProbeSpec};

/// keepalived's default HELO name.
pub const DEFAULT_HELO: &str = "smtpchecker.keepalived.org";

/// Reads one (possibly multi-line) SMTP reply and returns its code.
async fn reply<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) -> Result<u16, String> {
    let mut line = String::new();
    for _ in 0..100 {
        line.clear();
        let n = r
            .read_line(&mut line)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("connection closed".into());
        }
        let b = line.as_bytes();
        if b.len() < 3 {
            return Err(format!("bad reply {:?}", line.trim_end()));
        }
        let code: u16 = line[..3]
            .parse()
            .map_err(|_| format!("bad reply {:?}", line.trim_end()))?;
        // "250-..." continues, "250 ..." (or a bare code) ends the reply.
        if b.get(3) != Some(&b'-') {
            return Ok(code);
        }
    }
    Err("reply too long".into())
}

async fn talk(spec: &ProbeSpec, s: &SmtpCheck) -> Result<(), String> {
    let tcp = super::tcp_connect(spec)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (rd, mut wr) = tcp.into_split();
    let mut rd = BufReader::new(rd);
    let code = reply(&mut rd).await?;
    if code != 220 {
        return Err(format!("banner {code}, expected 220"));
    }
    let helo = s.helo_name.as_deref().unwrap_or(DEFAULT_HELO);
    wr.write_all(format!("HELO {helo}\r\n").as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let code = reply(&mut rd).await?;
    if code != 250 {
        return Err(format!("HELO answered {code}, expected 250"));
    }
    // keepalived sends QUIT and does not judge its answer.
    let _ = wr.write_all(b"QUIT\r\n").await;
    let _ = reply(&mut rd).await;
    Ok(())
}

/// Runs the exchange.
pub async fn run(spec: &ProbeSpec, s: &SmtpCheck) -> ProbeResult {
    match talk(spec, s).await {
        Ok(()) => ProbeResult::Up,
        Err(e) => ProbeResult::Down(e),
    }
}
