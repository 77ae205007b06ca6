//! `rvs ctl`: rvsd's JSON status (`--status`), or an ipvsadm command line sent to rvsd
//! (rvsadm is the full client: names, save/restore personalities, `--proc`).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use rvs_control::{Client, Request};

/// Arguments of `rvs ctl`.
#[derive(clap::Args, Debug)]
pub struct CtlArgs {
    /// Control socket [default: $RVS_SOCKET, else /run/rvs/rvsd.sock].
    #[arg(long, value_name = "PATH")]
    control: Option<PathBuf>,
    /// Print rvsd's data-plane and engine counters (JSON) instead of running a command.
    #[arg(long)]
    status: bool,
    /// ipvsadm arguments (after `--`), e.g. `rvs ctl -- -Ln --stats`.
    #[arg(last = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// Entry point of `rvs ctl`.
pub fn main(a: &CtlArgs) -> ExitCode {
    let path = rvs_control::socket_path(a.control.as_deref());
    let req = if a.status {
        Request::Status
    } else {
        // -R reads rules from our stdin.
        let stdin = if a.args.iter().any(|w| w == "-R" || w == "--restore") {
            let mut s = String::new();
            if let Err(e) = std::io::stdin().read_to_string(&mut s) {
                eprintln!("rvs ctl: cannot read stdin: {e}");
                return ExitCode::from(2);
            }
            Some(s)
        } else {
            None
        };
        Request::Ipvsadm {
            argv0: "ipvsadm".into(),
            args: a.args.clone(),
            stdin,
        }
    };
    let reply = Client::connect(&path, Duration::from_secs(30)).and_then(|mut c| c.call(&req));
    match reply {
        Ok(r) => {
            let _ = std::io::stdout().write_all(r.stdout.as_bytes());
            let _ = std::io::stderr().write_all(r.stderr.as_bytes());
            ExitCode::from(r.exit_code.clamp(0, 255) as u8)
        }
        Err(e) => {
            eprintln!("rvs ctl: {e}");
            ExitCode::from(2)
        }
    }
}
