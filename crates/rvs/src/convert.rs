//! `rvs convert FILE`: print the keepalived.conf equivalent of an ldirectord.cf.
//!
//! The converted text goes to stdout, warnings (`FILE:LINE:COL: warning: ...`) to stderr.
//! A file with errors prints every error (`FILE:LINE:COL: message`) and exits 1.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use rvs_config::ldirectord;

/// Arguments of `rvs convert`.
#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// The ldirectord.cf to convert.
    pub file: PathBuf,
}

/// Run `rvs convert`.
pub fn main(args: &ConvertArgs) -> ExitCode {
    let name = args.file.display().to_string();
    let text = match std::fs::read_to_string(&args.file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("rvs convert: {name}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cfg = match ldirectord::parse(&name, &text) {
        Ok(c) => c,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    let conv = ldirectord::to_keepalived(&name, &cfg);
    for w in &conv.warnings {
        eprintln!("{}", w.render(&name));
    }
    let mut out = std::io::stdout().lock();
    if out
        .write_all(conv.text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
