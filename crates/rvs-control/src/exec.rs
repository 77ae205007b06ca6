//! Run an ipvsadm command line against a [`Director`]: the one path by which the control
//! socket changes or lists the service table.
//!
//! Texts and exit codes follow ipvsadm (reference §1.11): argument errors as
//! `rvs_config::ipvsadm` reports them (exit 2 or 255), table errors as the kernel's
//! `ipvs_strerror` texts (exit 255).
//!
//! A request runs in three phases so that name lookups never happen under the table lock:
//! [`plan`] parses (resolving host and service names), [`execute`] applies the commands
//! and copies the rows a listing needs, and [`finish`] renders those rows, resolving
//! addresses to names unless `-n` was given. [`run`] does all three with no name service
//! (the built-in service names, numeric listings).

use rvs_config::ipvsadm::{
    self, ArgError, DaemonConfig, Invocation, ListOptions, ListTarget, Resolver,
};
use rvs_core::conn::state::tcp;
use rvs_core::fwmark::FwmarkRule;
use rvs_core::listing::{self, ConnRow, DaemonRow, Names, Numeric, ServiceRow};
use rvs_core::{Director, Time};

use crate::Reply;

/// What running a command line did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// What to send back.
    pub reply: Reply,
    /// The service table (or the fwmark rules) may have changed.
    pub changed: bool,
}

/// The connection sync daemons, as `--start-daemon`, `--stop-daemon` and `-L --daemon`
/// see them. rvsd implements it with real sockets; [`NoSyncDaemons`] runs none.
pub trait SyncDaemons {
    /// Start the daemon of `cfg.state`. `Err` carries ipvsadm's text for the kernel's
    /// error (e.g. `Daemon has already run` when that role runs already).
    fn start(&mut self, d: &mut Director, cfg: &DaemonConfig) -> Result<(), String>;
    /// Stop the daemon of `cfg.state` (`No daemon is running` when it does not run).
    fn stop(&mut self, d: &mut Director, cfg: &DaemonConfig) -> Result<(), String>;
    /// The running daemons, master first (the kernel's dump order).
    fn rows(&self) -> Vec<DaemonRow>;
}

/// No sync daemon can run here (listings of tools without rvsd, tests).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoSyncDaemons;

impl SyncDaemons for NoSyncDaemons {
    fn start(&mut self, _: &mut Director, _: &DaemonConfig) -> Result<(), String> {
        // What a kernel without sync support answers (ENOPROTOOPT).
        Err("Protocol not available".into())
    }

    fn stop(&mut self, _: &mut Director, _: &DaemonConfig) -> Result<(), String> {
        Err("No daemon is running".into())
    }

    fn rows(&self) -> Vec<DaemonRow> {
        Vec::new()
    }
}

/// Exit status of a command the table refused (ipvsadm returns -1).
pub const EXIT_KERNEL: i32 = 255;

/// Exit status of a listing that failed.
pub const EXIT_LIST: i32 = 1;

/// A parsed request, ready for [`execute`].
#[derive(Clone, Debug)]
pub struct Plan {
    /// The program name for messages.
    argv0: String,
    /// One entry per command line (several for `-R`), in order.
    steps: Vec<Result<Invocation, ArgError>>,
}

/// Parse `args` (argv without argv0) with `resolver`; `stdin` feeds `-R`. Does no table
/// access, so it runs without the lock.
pub fn plan(argv0: &str, args: &[String], stdin: Option<&str>, resolver: &dyn Resolver) -> Plan {
    let steps = match ipvsadm::parse_with(argv0, args, resolver) {
        Ok(Invocation::Restore) => stdin
            .unwrap_or("")
            .lines()
            .filter_map(|line| ipvsadm::parse_restore_line(argv0, line, resolver))
            .collect(),
        other => vec![other],
    };
    Plan {
        argv0: argv0.to_string(),
        steps,
    }
}

/// What a listing shows, with its rows copied out of the table.
#[derive(Clone, Debug)]
enum Listing {
    Services {
        rows: Vec<ServiceRow>,
        opts: listing::ListOptions,
    },
    Conns {
        rows: Vec<ConnRow>,
        persistent_conn: bool,
    },
    Save {
        rows: Vec<ServiceRow>,
        rules: Vec<FwmarkRule>,
    },
}

/// One part of the output of an executed plan.
#[derive(Clone, Debug)]
enum Piece {
    /// Finished text.
    Text(Reply),
    /// A listing still to render; `numeric` = `-n`.
    Listing { listing: Listing, numeric: bool },
}

/// An executed plan: the table has changed; listings still need rendering ([`finish`]).
#[derive(Clone, Debug)]
pub struct Executed {
    pieces: Vec<Piece>,
    changed: bool,
}

/// Apply `plan` to the table at `now`, with no sync daemons (see [`execute_with`]).
pub fn execute(d: &mut Director, plan: Plan, now: Time) -> Executed {
    execute_with(d, plan, now, &mut NoSyncDaemons)
}

/// Apply `plan` to the table at `now`; the daemon commands go to `sync`. `-R` stops at the
/// first error that ends a restore in ipvsadm; the exit status is the last command's.
pub fn execute_with(
    d: &mut Director,
    plan: Plan,
    now: Time,
    sync: &mut dyn SyncDaemons,
) -> Executed {
    let mut out = Executed {
        pieces: Vec::new(),
        changed: false,
    };
    for step in plan.steps {
        match step {
            Ok(inv) => {
                // ipvsadm prints help or its version and exits 0, also from inside -R.
                let ends = matches!(inv, Invocation::Help | Invocation::Version);
                let (piece, changed) = invoke(d, &plan.argv0, inv, now, sync);
                out.changed |= changed;
                out.pieces.push(piece);
                if ends {
                    break;
                }
            }
            Err(e) => {
                let ends = e.ends_restore();
                // ipvsadm prints the message, then a newline, whatever the message ends
                // with (`-6 used before -f\n` gives an empty line).
                out.pieces.push(Piece::Text(Reply {
                    exit_code: e.exit_code,
                    stdout: String::new(),
                    stderr: format!("{}\n", e.message),
                }));
                if ends {
                    break;
                }
            }
        }
    }
    out
}

/// Render the listings of `ex` (looking names up with `names` unless `-n`) and join the
/// output.
pub fn finish(ex: Executed, names: &dyn Names) -> Outcome {
    let mut reply = Reply::ok("");
    for piece in ex.pieces {
        let part = match piece {
            Piece::Text(r) => r,
            Piece::Listing { listing, numeric } => {
                let names: &dyn Names = if numeric { &Numeric } else { names };
                Reply::ok(render(&listing, names))
            }
        };
        reply.stdout.push_str(&part.stdout);
        reply.stderr.push_str(&part.stderr);
        reply.exit_code = part.exit_code;
    }
    Outcome {
        reply,
        changed: ex.changed,
    }
}

/// The built-in service-name table, parsed once.
static BUILTIN_SERVICES: std::sync::LazyLock<ipvsadm::Services> =
    std::sync::LazyLock::new(ipvsadm::Services::builtin);

/// Run `args` (argv without argv0) at `now` with the built-in service names, no host-name
/// lookups and numeric listings; `stdin` feeds `-R`.
pub fn run(
    d: &mut Director,
    argv0: &str,
    args: &[String],
    stdin: Option<&str>,
    now: Time,
) -> Outcome {
    let p = plan(argv0, args, stdin, &*BUILTIN_SERVICES);
    finish(execute(d, p, now), &Numeric)
}

fn render(l: &Listing, names: &dyn Names) -> String {
    match l {
        Listing::Services { rows, opts } => listing::render_services(rows, opts, names),
        Listing::Conns {
            rows,
            persistent_conn,
        } => listing::render_conns_with(rows, *persistent_conn, names),
        Listing::Save { rows, rules } => listing::render_save(rows, rules, names),
    }
}

fn invoke(
    d: &mut Director,
    argv0: &str,
    inv: Invocation,
    now: Time,
    sync: &mut dyn SyncDaemons,
) -> (Piece, bool) {
    let text = |reply| (Piece::Text(reply), false);
    match inv {
        Invocation::Command(cmd) => match d.apply(&cmd, now) {
            Ok(()) => (Piece::Text(Reply::ok("")), true),
            Err(e) => text(Reply::err(EXIT_KERNEL, e.to_string())),
        },
        Invocation::List(opts) => (list(d, &opts, &*sync), false),
        Invocation::Save { numeric } => {
            let listing = Listing::Save {
                rows: d.service_rows(None).unwrap_or_default(),
                rules: d.classifier.rules().to_vec(),
            };
            (Piece::Listing { listing, numeric }, false)
        }
        Invocation::Restore => text(Reply::err(2, "-R inside -R is not allowed")),
        Invocation::Help => text(help(argv0)),
        Invocation::Version => text(Reply::ok(version())),
        Invocation::StartDaemon(cfg) => match sync.start(d, &cfg) {
            Ok(()) => text(Reply::ok("")),
            Err(e) => text(Reply::err(EXIT_KERNEL, e)),
        },
        Invocation::StopDaemon(cfg) => match sync.stop(d, &cfg) {
            Ok(()) => text(Reply::ok("")),
            Err(e) => text(Reply::err(EXIT_KERNEL, e)),
        },
    }
}

/// What `-h` prints for `argv0`.
pub fn help(argv0: &str) -> Reply {
    Reply::ok(ipvsadm::help_text(argv0))
}

/// ipvsadm's version line.
pub fn version() -> String {
    "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\n".to_string()
}

fn list(d: &Director, o: &ListOptions, sync: &dyn SyncDaemons) -> Piece {
    let core = listing::ListOptions {
        stats: o.stats,
        rate: o.rate,
        thresholds: o.thresholds,
        persistent_conn: o.persistent_conn,
        tun_info: o.tun_info,
        exact: o.exact,
        nosort: o.nosort,
        ..listing::ListOptions::default()
    };
    let numeric = o.numeric;
    let listing = match o.target() {
        ListTarget::Connections => Listing::Conns {
            rows: d.conn_rows(),
            persistent_conn: o.persistent_conn,
        },
        ListTarget::Service(key) => match d.service_rows(Some(&key)) {
            Some(rows) => Listing::Services {
                rows,
                opts: listing::ListOptions {
                    header: false,
                    ..core
                },
            },
            None => return Piece::Text(Reply::err(EXIT_LIST, "No such service")),
        },
        ListTarget::Timeout => {
            return Piece::Text(Reply::ok(listing::render_timeout(
                d.timeouts.tcp[tcp::ESTABLISHED as usize],
                d.timeouts.tcp[tcp::FIN_WAIT as usize],
                d.timeouts.udp,
            )));
        }
        ListTarget::Daemon => {
            return Piece::Text(Reply::ok(listing::render_daemon(&sync.rows())));
        }
        ListTarget::All => Listing::Services {
            rows: d.service_rows(None).unwrap_or_default(),
            opts: core,
        },
    };
    Piece::Listing { listing, numeric }
}

/// `rvsadm --proc NAME`: one of the kernel's `/proc/net` files (reference §1.12), or
/// `None` for a name rvs does not provide.
pub fn proc_file(d: &Director, name: &str) -> Option<String> {
    let name = name.strip_prefix("/proc/net/").unwrap_or(name);
    Some(match name {
        "ip_vs" => listing::render_proc_ip_vs(&d.service_rows(None).unwrap_or_default()),
        "ip_vs_conn" => listing::render_proc_ip_vs_conn(&d.conn_rows()),
        "ip_vs_conn_sync" => listing::render_proc_ip_vs_conn_sync(&d.conn_rows()),
        "ip_vs_stats" => {
            let (c, r) = listing::totals(&d.service_rows(None).unwrap_or_default());
            listing::render_proc_ip_vs_stats(&c, &r)
        }
        _ => return None,
    })
}

/// The names [`proc_file`] knows.
pub const PROC_FILES: &[&str] = &["ip_vs", "ip_vs_conn", "ip_vs_conn_sync", "ip_vs_stats"];

#[cfg(test)]
mod tests {
    use super::*;
    use rvs_core::{Settings, SplitMix64};

    fn director() -> Director {
        Director::new(Settings::default(), 1, Box::new(SplitMix64(1)))
    }

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn add_list_and_errors() {
        let mut d = director();
        let o = run(
            &mut d,
            "ipvsadm",
            &argv("-A -t 198.18.1.100:80 -s rr"),
            None,
            Time::ZERO,
        );
        assert_eq!(o.reply, Reply::ok(""));
        assert!(o.changed);
        let o = run(
            &mut d,
            "ipvsadm",
            &argv("-a -t 198.18.1.100:80 -r 198.18.1.11 -g"),
            None,
            Time::ZERO,
        );
        assert_eq!(o.reply.exit_code, 0);
        let o = run(
            &mut d,
            "ipvsadm",
            &argv("-A -t 198.18.1.100:80 -s rr"),
            None,
            Time::ZERO,
        );
        assert_eq!(o.reply, Reply::err(255, "Service already exists"));
        assert!(!o.changed);
        let o = run(
            &mut d,
            "ipvsadm",
            &argv("-a -t 198.18.1.100:80 -r 198.18.1.11 -w x"),
            None,
            Time::ZERO,
        );
        assert_eq!(o.reply, Reply::err(2, "illegal weight specified"));
        let o = run(&mut d, "ipvsadm", &argv("-Ln"), None, Time::ZERO);
        assert!(
            o.reply
                .stdout
                .starts_with("IP Virtual Server version 1.2.1 (size=4096)\n")
        );
        assert!(
            o.reply.stdout.contains("TCP  198.18.1.100:80 rr\n"),
            "{}",
            o.reply.stdout
        );
        assert!(
            o.reply.stdout.contains("  -> 198.18.1.11:80"),
            "{}",
            o.reply.stdout
        );
        let o = run(
            &mut d,
            "ipvsadm",
            &argv("-Ln -t 198.18.1.100:81"),
            None,
            Time::ZERO,
        );
        assert_eq!(o.reply, Reply::err(1, "No such service"));
        let o = run(&mut d, "ipvsadm", &argv("-L --timeout"), None, Time::ZERO);
        assert_eq!(o.reply.stdout, "Timeout (tcp tcpfin udp): 900 120 300\n");
    }

    #[test]
    fn restore_then_save() {
        let mut d = director();
        let rules =
            "-A -u 198.18.1.100:9000 -s wrr\n-a -u 198.18.1.100:9000 -r 198.18.2.11:9000 -m -w 3\n";
        let o = run(&mut d, "ipvsadm", &argv("-R"), Some(rules), Time::ZERO);
        assert_eq!(o.reply.exit_code, 0, "{:?}", o.reply);
        assert!(o.changed);
        let o = run(&mut d, "ipvsadm", &argv("-Sn"), None, Time::ZERO);
        assert_eq!(o.reply.stdout, rules);
        // A table error is printed and the restore goes on; the status is the last line's.
        let o = run(
            &mut d,
            "ipvsadm",
            &argv("-R"),
            Some("-A -u 198.18.1.100:9000\n-C\n"),
            Time::ZERO,
        );
        assert_eq!(
            (o.reply.exit_code, o.reply.stderr.as_str()),
            (0, "Service already exists\n")
        );
        assert_eq!(d.table.len(), 0);
        // A validation error ends it with exit 2; later lines do not run.
        let o = run(
            &mut d,
            "ipvsadm",
            &argv("-R"),
            Some("-A -u 198.18.1.100:9000 -p x\n-A -t 198.18.1.100:80\n"),
            Time::ZERO,
        );
        assert_eq!(o.reply.exit_code, 2, "{:?}", o.reply);
        assert_eq!(d.table.len(), 0);
    }
}
