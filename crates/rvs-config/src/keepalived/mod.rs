//! keepalived.conf (keepalived 2.2.7 syntax): parser, typed model, validation, and the
//! mapping to rvs's service table.
//!
//! Layers, each usable alone:
//! 1. [`lexer`] + [`tree`]: words, quotes, comments, braces, `include` globs → a generic
//!    [`tree::Node`] tree where every token keeps its `file:line:col`.
//! 2. typed [`Config`] ([`model`]) with keepalived's defaults and fixes applied.
//! 3. [`check`] / [`check_str`]: every problem, not only the first, as [`Diag`]s
//!    (`FILE:LINE:COL: message`, warnings as `FILE:LINE:COL: warning: message`).
//! 4. [`Desired`] ([`table`]): the services and real servers keepalived would install at
//!    start, as rvs-core [`Command`](rvs_core::Command)s ([`Config::to_commands`]), and
//!    [`diff`] for a hitless reload.
//!
//! Severity policy: what keepalived rejects with a "- ignoring"/"- skipping" message
//! (invalid values, bad addresses, unknown schedulers, missing required fields, broken
//! references) is an **error** in rvs — the whole file is refused, so a reload never runs a
//! half-understood configuration. What keepalived silently fixes and logs (no protocol → UDP,
//! no `lb_kind` → NAT, no scheduler → wlc, port mismatches reset, duplicate real servers
//! dropped, quorum reduced, virtual servers without real servers dropped) and unknown
//! keywords are **warnings**.

pub mod diag;
pub mod fs;
pub mod lexer;
pub mod model;
pub mod table;
pub mod tree;

mod checker;
mod global;
mod values;
mod vrrp;
mod vs;

use std::path::Path;

use rvs_core::fwmark::FwmarkRule;

pub use diag::{Diag, Pos, Severity};
pub use fs::{FileSystem, MemFs, StdFs};
pub use model::*;
pub use table::{Desired, DesiredService, diff};
pub use vs::{PERSISTENT_TIMEOUT, SCHEDULERS};

use diag::Diags;
use tree::Node;

/// The outcome of reading a configuration: the typed configuration when there was no
/// error, and every diagnostic.
#[derive(Clone, Debug)]
pub struct Report {
    /// The configuration; `None` when `errors` is not empty.
    pub config: Option<Config>,
    /// Errors, in the order found.
    pub errors: Vec<Diag>,
    /// Warnings, in the order found.
    pub warnings: Vec<Diag>,
}

impl Report {
    /// Whether the configuration is usable.
    pub fn is_ok(&self) -> bool {
        self.config.is_some()
    }

    /// Every diagnostic, errors and warnings, sorted by position, one per line.
    pub fn render(&self) -> String {
        let mut all: Vec<&Diag> = self.errors.iter().chain(&self.warnings).collect();
        all.sort_by(|a, b| {
            (a.pos.file.as_ref(), a.pos.line, a.pos.col).cmp(&(
                b.pos.file.as_ref(),
                b.pos.line,
                b.pos.col,
            ))
        });
        let mut s = String::new();
        for d in all {
            s.push_str(&d.to_string());
            s.push('\n');
        }
        s
    }
}

/// Reads the file at `path` (and its includes) from the real file system and checks it.
/// This is what `rvsd -f FILE` and `rvsd -t -f FILE` call.
pub fn load(path: impl AsRef<Path>) -> Report {
    check(&StdFs, path.as_ref())
}

/// Reads `path` through `fs` and checks it.
pub fn check(fs: &dyn FileSystem, path: &Path) -> Report {
    let mut d = Diags::default();
    let lines = tree::read_lines(fs, path, &mut d);
    let nodes = tree::build(lines, &mut d);
    finish(&nodes, d)
}

/// Checks configuration text (includes are resolved against an empty file system, so they
/// match nothing); `name` is used in positions.
pub fn check_str(name: &str, text: &str) -> Report {
    let mut fs = MemFs::new();
    fs.insert(name, text);
    check(&fs, Path::new(name))
}

/// Top-level keywords keepalived knows that rvs accepts and ignores (with a warning).
const TOP_UNSUPPORTED: &[&str] = &[
    "SSL",
    "static_ipaddress",
    "static_routes",
    "static_rules",
    "track_group",
    "garp_group",
    "linkbeat_interfaces",
    "vrrp_track_process",
    "vrrp_track_file",
    "track_file",
    "bfd_instance",
    "interface_up_down_delays",
    "net_namespace",
    "net_namespace_ipvs",
    "namespace_with_ipsets",
    "use_pid_dir",
    "instance",
    "child_wait_time",
    "local_address_group",
    "virtual_server_group_fwmark",
];

fn finish(nodes: &[Node], mut d: Diags) -> Report {
    let mut cfg = Config::default();
    let mut rules: Vec<FwmarkRule> = Vec::new();
    // global_defs first: VRRP defaults come from it wherever it is in the file.
    for n in nodes.iter().filter(|n| n.kw() == "global_defs") {
        global::build(n, &mut cfg.global, &mut rules, &mut d);
    }
    cfg.global.rvs.fwmark_rules = rules;
    for n in nodes.iter().filter(|n| n.kw() == "virtual_server_group") {
        if let Some(g) = vs::group(n, &mut d) {
            if cfg.groups.iter().any(|x| x.name == g.name) {
                d.err(
                    n.pos(),
                    format!("virtual_server_group {} is defined twice", g.name),
                );
            } else {
                cfg.groups.push(g);
            }
        }
    }
    for n in nodes {
        match n.kw() {
            "global_defs" | "virtual_server_group" => {}
            "virtual_server" => {
                if let Some(v) = vs::virtual_server(n, &cfg.groups, &mut d) {
                    cfg.virtual_servers.push(v);
                }
            }
            "vrrp_instance" => {
                if let Some(v) = vrrp::instance(n, &cfg.global, &mut d) {
                    cfg.vrrp_instances.push(v);
                }
            }
            "vrrp_script" => {
                if let Some(v) = vrrp::script(n, &mut d) {
                    cfg.vrrp_scripts.push(v);
                }
            }
            "vrrp_sync_group" => {
                if let Some(v) = vrrp::sync_group(n, &mut d) {
                    cfg.vrrp_sync_groups.push(v);
                }
            }
            kw if TOP_UNSUPPORTED.contains(&kw) => {
                d.warn(n.pos(), format!("'{kw}' is not supported by rvs - ignored"));
            }
            kw => d.warn(n.pos(), format!("unknown keyword '{kw}'")),
        }
    }
    vrrp::cross_check(
        &cfg.vrrp_instances,
        &cfg.vrrp_scripts,
        &cfg.vrrp_sync_groups,
        &mut d,
    );
    if let Some(s) = &cfg.global.lvs_sync_daemon
        && let Some(i) = &s.vrrp_instance
        && !cfg.vrrp_instances.iter().any(|x| &x.name == i)
    {
        d.err(
            &cfg_pos(nodes, "global_defs"),
            format!("lvs_sync_daemon: vrrp_instance '{i}' is not defined"),
        );
    }
    table::validate(&cfg, &mut d);
    let failed = d.has_errors();
    let (errors, warnings) = d
        .list
        .into_iter()
        .partition(|x| x.severity == Severity::Error);
    Report {
        config: (!failed).then_some(cfg),
        errors,
        warnings,
    }
}

fn cfg_pos(nodes: &[Node], kw: &str) -> Pos {
    nodes
        .iter()
        .find(|n| n.kw() == kw)
        .map_or_else(|| Pos::file(""), |n| n.pos().clone())
}
