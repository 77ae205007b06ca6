//! ipvsadm's wrapper scripts, selected by the name rvsadm is invoked under.
//!
//! * `ipvsadm-save [-n]` / `rvsadm-save [-n]`: `ipvsadm -S [-n]`; any other option prints
//!   the script's help on stderr and exits 1 (words not starting with `-` are ignored).
//! * `ipvsadm-restore` / `rvsadm-restore`: drop the input lines starting with `#`, run
//!   `ipvsadm -C`, then feed the rest to `ipvsadm -R`; the exit status is `-R`'s.
//!
//! The inner program name (used in ipvsadm's messages) is `ipvsadm` or `rvsadm`, as the
//! scripts run `ipvsadm` from `$PATH`.

use std::path::Path;
use std::process::ExitCode;

use rvs_control::Request;

use crate::{call, print, read_stdin};

/// Which program rvsadm is being.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Personality {
    /// ipvsadm itself.
    Ipvsadm,
    /// `<program>-save`.
    Save {
        /// `ipvsadm` or `rvsadm`.
        program: String,
    },
    /// `<program>-restore`.
    Restore {
        /// `ipvsadm` or `rvsadm`.
        program: String,
    },
}

impl Personality {
    /// The personality for `argv0` (its file name decides).
    pub fn of(argv0: &str) -> Self {
        let base = Path::new(argv0)
            .file_name()
            .map(|b| b.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(program) = base.strip_suffix("-save") {
            Personality::Save {
                program: program.to_string(),
            }
        } else if let Some(program) = base.strip_suffix("-restore") {
            Personality::Restore {
                program: program.to_string(),
            }
        } else {
            Personality::Ipvsadm
        }
    }
}

/// `ipvsadm-save`.
pub fn save(program: &str, argv0: &str, args: &[String]) -> ExitCode {
    let mut numeric = false;
    for a in args {
        match a.as_str() {
            "-n" => numeric = true,
            s if s.starts_with('-') => {
                let base = Path::new(argv0)
                    .file_name()
                    .map(|b| b.to_string_lossy().into_owned())
                    .unwrap_or_default();
                eprintln!(
                    "{base}: Script to save the IPVS table to stdout.\n   \
                     With the -n option, prints out the table in numeric format."
                );
                return ExitCode::from(1);
            }
            _ => {}
        }
    }
    let mut inner = vec!["-S".to_string()];
    if numeric {
        inner.push("-n".to_string());
    }
    let req = Request::Ipvsadm {
        argv0: program.to_string(),
        args: inner,
        stdin: None,
    };
    match call(&[req]) {
        Ok(mut replies) => print(&replies.remove(0)),
        Err(code) => code,
    }
}

/// `ipvsadm-restore`.
pub fn restore(program: &str) -> ExitCode {
    let input = match read_stdin() {
        Ok(s) => s,
        Err(code) => return code,
    };
    let kept: String = input
        .lines()
        .filter(|l| !l.starts_with('#'))
        .flat_map(|l| [l, "\n"])
        .collect();
    let clear = Request::Ipvsadm {
        argv0: program.to_string(),
        args: vec!["-C".to_string()],
        stdin: None,
    };
    let restore = Request::Ipvsadm {
        argv0: program.to_string(),
        args: vec!["-R".to_string()],
        stdin: Some(kept),
    };
    match call(&[clear, restore]) {
        Ok(replies) => {
            // The script's status is the last command's; -C's messages are printed too.
            let mut code = ExitCode::SUCCESS;
            for r in &replies {
                code = print(r);
            }
            code
        }
        Err(code) => code,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_select_personalities() {
        assert_eq!(Personality::of("/usr/sbin/ipvsadm"), Personality::Ipvsadm);
        assert_eq!(Personality::of("rvsadm"), Personality::Ipvsadm);
        assert_eq!(
            Personality::of("/sbin/ipvsadm-save"),
            Personality::Save {
                program: "ipvsadm".into()
            }
        );
        assert_eq!(
            Personality::of("rvsadm-restore"),
            Personality::Restore {
                program: "rvsadm".into()
            }
        );
    }
}
