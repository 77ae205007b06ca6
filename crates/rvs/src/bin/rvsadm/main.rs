//! `rvsadm`: ipvsadm for rvsd, option for option and byte for byte.
//!
//! The command line travels unchanged to rvsd over its control socket (`$RVS_SOCKET`, else
//! `/run/rvs/rvsd.sock`); rvsd parses it with the same ipvsadm parser, runs it against its
//! table and sends back ipvsadm's output, messages and exit status, which rvsadm prints.
//!
//! Invoked as `ipvsadm-save`/`rvsadm-save` or `ipvsadm-restore`/`rvsadm-restore` (e.g.
//! through symlinks) it behaves as ipvsadm's wrapper scripts of those names
//! ([`personality`]). `rvsadm --proc NAME` prints rvs's rendering of the kernel's
//! `/proc/net/NAME` files and `rvsadm -Ln --health` the health checker's view of every
//! real server (rvs extensions).

mod personality;

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use rvs_config::ipvsadm::{self, Invocation};
use rvs_control::{Client, ControlError, Reply, Request, exec};

use personality::Personality;

/// How long rvsd may take to answer one request (a restore of a large table included).
const REPLY_TIMEOUT: Duration = Duration::from_secs(120);

/// Exit status when rvsd cannot be reached (ipvsadm's "Can't initialize ipvs").
const EXIT_NO_DAEMON: u8 = 2;

fn main() -> ExitCode {
    let mut argv = std::env::args_os().map(|a| a.to_string_lossy().into_owned());
    let argv0 = argv.next().unwrap_or_else(|| "rvsadm".to_string());
    let args: Vec<String> = argv.collect();
    match Personality::of(&argv0) {
        Personality::Ipvsadm => ipvsadm_main(&argv0, &args),
        Personality::Save { program } => personality::save(&program, &argv0, &args),
        Personality::Restore { program } => personality::restore(&program),
    }
}

/// `ipvsadm ARGS`.
fn ipvsadm_main(argv0: &str, args: &[String]) -> ExitCode {
    if args.first().map(String::as_str) == Some("--proc") {
        return proc_main(args);
    }
    if args.iter().any(|a| a == "--health") {
        return health_main(argv0, args);
    }
    // -h and -v need no daemon (ipvsadm would need the kernel module for them); -R reads
    // stdin here. Everything else is parsed again, with names, by rvsd.
    let stdin = match ipvsadm::parse(argv0, args) {
        Ok(Invocation::Help) => return print(&exec::help(argv0)),
        Ok(Invocation::Version) => return print(&Reply::ok(exec::version())),
        Ok(Invocation::Restore) => match read_stdin() {
            Ok(s) => Some(s),
            Err(code) => return code,
        },
        _ => None,
    };
    let req = Request::Ipvsadm {
        argv0: argv0.to_string(),
        args: args.to_vec(),
        stdin,
    };
    match call(&[req]) {
        Ok(mut replies) => print(&replies.remove(0)),
        Err(code) => code,
    }
}

/// `rvsadm --proc NAME`.
fn proc_main(args: &[String]) -> ExitCode {
    let [_, file] = args else {
        eprintln!(
            "usage: rvsadm --proc NAME   (NAME: {})",
            exec::PROC_FILES.join(", ")
        );
        return ExitCode::from(2);
    };
    match call(&[Request::Proc { file: file.clone() }]) {
        Ok(mut replies) => print(&replies.remove(0)),
        Err(code) => code,
    }
}

/// `rvsadm -Ln --health`: the health checker's view of every real server.
fn health_main(argv0: &str, args: &[String]) -> ExitCode {
    let listing = args.iter().all(|a| {
        matches!(
            a.as_str(),
            "--health" | "-L" | "-l" | "-n" | "-Ln" | "-nL" | "--list" | "--numeric"
        )
    });
    if !listing {
        eprintln!("{argv0}: --health goes with -L (and -n) only: {argv0} -Ln --health");
        return ExitCode::from(2);
    }
    match call(&[Request::Health]) {
        Ok(mut replies) => print(&replies.remove(0)),
        Err(code) => code,
    }
}

/// All of standard input; on failure, the exit status to leave with.
fn read_stdin() -> Result<String, ExitCode> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s).map_err(|e| {
        eprintln!("rvsadm: cannot read standard input: {e}");
        ExitCode::from(EXIT_NO_DAEMON)
    })?;
    Ok(s)
}

/// Send `reqs` in order over one connection. When rvsd cannot be reached, print why (naming
/// the socket) and return the exit status.
fn call(reqs: &[Request]) -> Result<Vec<Reply>, ExitCode> {
    let path = rvs_control::socket_path(None);
    let result = Client::connect(&path, REPLY_TIMEOUT)
        .and_then(|mut c| reqs.iter().map(|r| c.call(r)).collect());
    result.map_err(|e| {
        match &e {
            ControlError::Connect { path, source } => eprintln!(
                "Can't initialize ipvs: cannot connect to rvsd at {}: {source}\n\
                 Is rvsd running? (RVS_SOCKET names another control socket)",
                path.display()
            ),
            ControlError::Exchange { .. } => eprintln!("rvsadm: {e}"),
        }
        ExitCode::from(EXIT_NO_DAEMON)
    })
}

/// Print a reply and return its exit status.
fn print(r: &Reply) -> ExitCode {
    let _ = std::io::stdout().write_all(r.stdout.as_bytes());
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().write_all(r.stderr.as_bytes());
    ExitCode::from(r.exit_code.clamp(0, 255) as u8)
}
