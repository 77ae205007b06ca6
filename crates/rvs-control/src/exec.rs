//! Run an ipvsadm command line against a [`Director`]: the one path by which the control
//! socket changes or lists the service table.
//!
//! Texts and exit codes follow ipvsadm (reference §1.11): argument errors as
//! `rvs_config::ipvsadm` reports them (exit 2 or 255), table errors as the kernel's
//! `ipvs_strerror` texts (exit 255). Listings are numeric; name resolution (`-L` without
//! `-n`) belongs to the client.

use rvs_config::ipvsadm::{self, Invocation, ListOptions, ListTarget};
use rvs_core::conn::state::tcp;
use rvs_core::listing::{self, Numeric};
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

/// Exit status of a command the table refused (ipvsadm returns -1).
pub const EXIT_KERNEL: i32 = 255;

/// Exit status of a listing that failed.
pub const EXIT_LIST: i32 = 1;

/// Run `args` (argv without argv0) at `now`; `stdin` feeds `-R`.
pub fn run(
    d: &mut Director,
    argv0: &str,
    args: &[String],
    stdin: Option<&str>,
    now: Time,
) -> Outcome {
    match ipvsadm::parse(argv0, args) {
        Err(e) => Outcome {
            reply: arg_error(e),
            changed: false,
        },
        Ok(Invocation::Restore) => restore(d, argv0, stdin.unwrap_or(""), now),
        Ok(Invocation::Help) => unchanged(Reply::ok(ipvsadm::help_text(argv0))),
        Ok(inv) => invoke(d, inv, now),
    }
}

fn unchanged(reply: Reply) -> Outcome {
    Outcome {
        reply,
        changed: false,
    }
}

fn invoke(d: &mut Director, inv: Invocation, now: Time) -> Outcome {
    match inv {
        Invocation::Command(cmd) => match d.apply(&cmd, now) {
            Ok(()) => Outcome {
                reply: Reply::ok(""),
                changed: true,
            },
            Err(e) => Outcome {
                reply: Reply::err(EXIT_KERNEL, e.to_string()),
                // A failed command changes nothing, but a refresh is harmless.
                changed: false,
            },
        },
        Invocation::List(opts) => unchanged(list(d, &opts)),
        Invocation::Save { .. } => unchanged(Reply::ok(d.render_save())),
        Invocation::Restore => unchanged(Reply::err(2, "-R inside -R is not allowed")),
        Invocation::Help | Invocation::Version => unchanged(Reply::ok(version())),
        // None runs, so stopping one fails as in the kernel (ESRCH).
        Invocation::StopDaemon(_) => unchanged(Reply::err(EXIT_KERNEL, "No daemon is running")),
        Invocation::StartDaemon(_) => unchanged(Reply::err(
            EXIT_KERNEL,
            "Protocol not available (rvsd has no connection sync daemon yet)",
        )),
    }
}

/// A refused command line as ipvsadm prints it: the message and a newline, always (the
/// message of `-6 used before -f` ends with its own newline, so ipvsadm prints two).
fn arg_error(e: ipvsadm::ArgError) -> Reply {
    Reply::err(e.exit_code, format!("{}\n", e.message))
}

/// ipvsadm's version line.
pub fn version() -> String {
    "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\n".to_string()
}

fn list(d: &Director, o: &ListOptions) -> Reply {
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
    match o.target() {
        ListTarget::Connections => {
            Reply::ok(listing::render_conns(&d.conn_rows(), o.persistent_conn))
        }
        ListTarget::Service(key) => match d.service_rows(Some(&key)) {
            Some(rows) => Reply::ok(listing::render_services(
                &rows,
                &listing::ListOptions {
                    header: false,
                    ..core
                },
                &Numeric,
            )),
            None => Reply::err(EXIT_LIST, "No such service"),
        },
        ListTarget::Timeout => Reply::ok(listing::render_timeout(
            d.timeouts.tcp[tcp::ESTABLISHED as usize],
            d.timeouts.tcp[tcp::FIN_WAIT as usize],
            d.timeouts.udp,
        )),
        ListTarget::Daemon => Reply::ok(listing::render_daemon(&[])),
        ListTarget::All => {
            let rows = d.service_rows(None).unwrap_or_default();
            Reply::ok(listing::render_services(&rows, &core, &Numeric))
        }
    }
}

/// `-R`: one command per line; stops at the first error that ends a restore in ipvsadm.
fn restore(d: &mut Director, argv0: &str, input: &str, now: Time) -> Outcome {
    let mut out = Outcome {
        reply: Reply::ok(""),
        changed: false,
    };
    let names = ipvsadm::Services::builtin();
    for line in input.lines() {
        let Some(parsed) = ipvsadm::parse_restore_line(argv0, line, &names) else {
            continue;
        };
        let step = match parsed {
            // ipvsadm prints the text and exits 0 from inside the restore.
            Ok(inv @ (Invocation::Help | Invocation::Version)) => {
                let text = match inv {
                    Invocation::Help => ipvsadm::help_text(argv0),
                    _ => version(),
                };
                merge(&mut out, unchanged(Reply::ok(text)));
                break;
            }
            Ok(inv) => invoke(d, inv, now),
            Err(e) => {
                let ends = e.ends_restore();
                let step = Outcome {
                    reply: arg_error(e),
                    changed: false,
                };
                merge(&mut out, step);
                if ends {
                    break;
                }
                continue;
            }
        };
        merge(&mut out, step);
    }
    out
}

fn merge(acc: &mut Outcome, step: Outcome) {
    acc.changed |= step.changed;
    acc.reply.stdout.push_str(&step.reply.stdout);
    acc.reply.stderr.push_str(&step.reply.stderr);
    acc.reply.exit_code = step.reply.exit_code;
}

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
