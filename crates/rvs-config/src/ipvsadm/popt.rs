//! The subset of libpopt's `poptGetNextOpt` that ipvsadm relies on, with popt's exact
//! rules: bundled short options (`-Ln`), attached arguments (`-tVIP`, `-t=VIP`,
//! `--tcp-service=VIP`), exact long names (no abbreviations), optional arguments that are
//! taken only when the next word does not start with `-`, required arguments taken even when
//! they start with `-`, non-option words collected as leftovers (popt permutes), `--` ending
//! option processing, and `-` alone being a leftover.
//!
//! Not reproduced: popt aliases and exec entries (ipvsadm defines none), the `!#:+` argument
//! expansion, and the `POSIXLY_CORRECT` environment switch.

/// Whether an option takes an argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    /// `POPT_ARG_NONE`.
    None,
    /// `POPT_ARG_STRING`.
    Required,
    /// `POPT_ARG_STRING | POPT_ARGFLAG_OPTIONAL`.
    Optional,
}

/// One entry of the option table.
#[derive(Clone, Copy, Debug)]
pub struct OptSpec<T> {
    /// Long name without the dashes.
    pub long: &'static str,
    /// Short letter, if any.
    pub short: Option<u8>,
    /// Argument kind.
    pub kind: ArgKind,
    /// What the caller gets back.
    pub tag: T,
}

/// popt error codes ipvsadm can meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoptError {
    /// `POPT_ERROR_NOARG`.
    NoArg,
    /// `POPT_ERROR_BADOPT`.
    BadOpt,
    /// `POPT_ERROR_UNWANTEDARG`.
    UnwantedArg,
}

impl PoptError {
    /// `poptStrerror` text.
    pub fn text(self) -> &'static str {
        match self {
            PoptError::NoArg => "missing argument",
            PoptError::BadOpt => "unknown option",
            PoptError::UnwantedArg => "option does not take an argument",
        }
    }
}

/// A popt context over `args` (argv without `argv[0]`).
pub struct Popt<'a, T> {
    table: &'a [OptSpec<T>],
    argv0: &'a str,
    args: &'a [String],
    /// Index of the next word to read.
    next: usize,
    /// Rest of a short-option bundle: (word index, byte offset).
    next_char: Option<(usize, usize)>,
    rest_leftover: bool,
    leftovers: Vec<String>,
    next_leftover: usize,
}

impl<'a, T: Copy> Popt<'a, T> {
    /// A fresh context.
    pub fn new(table: &'a [OptSpec<T>], argv0: &'a str, args: &'a [String]) -> Self {
        Popt {
            table,
            argv0,
            args,
            next: 0,
            next_char: None,
            rest_leftover: false,
            leftovers: Vec::new(),
            next_leftover: 0,
        }
    }

    /// `poptBadOption(con, POPT_BADOPTION_NOALIAS)`: the last word read.
    pub fn bad_option(&self) -> &'a str {
        match self.next.checked_sub(1) {
            Some(i) => self.args[i].as_str(),
            None => self.argv0,
        }
    }

    /// Index just past the last word read.
    pub fn position(&self) -> usize {
        self.next
    }

    /// Leftover words collected so far, in order, without consuming them.
    pub fn leftovers(&self) -> &[String] {
        &self.leftovers[self.next_leftover..]
    }

    /// `poptGetArg`: the next leftover word.
    pub fn get_arg(&mut self) -> Option<&str> {
        let s = self.leftovers.get(self.next_leftover)?;
        self.next_leftover += 1;
        Some(s.as_str())
    }

    /// `poptGetNextOpt`: `Ok(None)` at the end of the words.
    pub fn next_opt(&mut self) -> Result<Option<(T, Option<String>)>, PoptError> {
        loop {
            let mut long_arg: Option<&'a str> = None;
            let spec: &OptSpec<T>;
            if self.next_char.is_none() {
                let Some(word) = self.args.get(self.next) else {
                    return Ok(None);
                };
                self.next += 1;
                if self.rest_leftover || !word.starts_with('-') || word == "-" {
                    self.leftovers.push(word.clone());
                    continue;
                }
                if word == "--" {
                    self.rest_leftover = true;
                    continue;
                }
                if let Some(body) = word.strip_prefix("--") {
                    let (name, arg) = match body.split_once('=') {
                        Some((n, a)) => (n, Some(a)),
                        None => (body, None),
                    };
                    spec = self
                        .table
                        .iter()
                        .find(|o| o.long == name)
                        .ok_or(PoptError::BadOpt)?;
                    long_arg = arg;
                } else {
                    // Single dash: no option is ONEDASH, so it is a short-option bundle.
                    self.next_char = Some((self.next - 1, 1));
                    continue;
                }
            } else {
                let Some((w, off)) = self.next_char.take() else {
                    continue;
                };
                let bytes = self.args[w].as_bytes();
                let c = bytes[off];
                spec = self
                    .table
                    .iter()
                    .find(|o| o.short == Some(c))
                    .ok_or(PoptError::BadOpt)?;
                // Every short letter is ASCII, so off + 1 is a char boundary.
                if off + 1 < bytes.len() {
                    self.next_char = Some((w, off + 1));
                }
            }
            let arg = match spec.kind {
                ArgKind::None => {
                    let eq_follows = self
                        .next_char
                        .is_some_and(|(w, off)| self.args[w].as_bytes()[off] == b'=');
                    if long_arg.is_some() || eq_follows {
                        return Err(PoptError::UnwantedArg);
                    }
                    None
                }
                ArgKind::Required | ArgKind::Optional => {
                    if let Some(a) = long_arg {
                        Some(a.to_string())
                    } else if let Some((w, off)) = self.next_char.take() {
                        let rest = &self.args[w][off..];
                        Some(rest.strip_prefix('=').unwrap_or(rest).to_string())
                    } else if let Some(word) = self.args.get(self.next) {
                        if spec.kind == ArgKind::Optional && word.starts_with('-') {
                            None
                        } else {
                            self.next += 1;
                            Some(word.clone())
                        }
                    } else if spec.kind == ArgKind::Optional {
                        None
                    } else {
                        return Err(PoptError::NoArg);
                    }
                }
            };
            return Ok(Some((spec.tag, arg)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &[OptSpec<char>] = &[
        OptSpec {
            long: "list",
            short: Some(b'L'),
            kind: ArgKind::None,
            tag: 'L',
        },
        OptSpec {
            long: "numeric",
            short: Some(b'n'),
            kind: ArgKind::None,
            tag: 'n',
        },
        OptSpec {
            long: "tcp-service",
            short: Some(b't'),
            kind: ArgKind::Required,
            tag: 't',
        },
        OptSpec {
            long: "persistent",
            short: Some(b'p'),
            kind: ArgKind::Optional,
            tag: 'p',
        },
    ];

    type Run = (
        Vec<(char, Option<String>)>,
        Option<(PoptError, String)>,
        Vec<String>,
    );

    fn run(words: &[&str]) -> Run {
        let args: Vec<String> = words.iter().map(|s| s.to_string()).collect();
        let mut p = Popt::new(T, "prog", &args);
        let mut out = Vec::new();
        let err = loop {
            match p.next_opt() {
                Ok(Some(o)) => out.push(o),
                Ok(None) => break None,
                Err(e) => break Some((e, p.bad_option().to_string())),
            }
        };
        (out, err, p.leftovers().to_vec())
    }

    #[test]
    fn bundles_and_attached_args() {
        let (o, e, _) = run(&["-Ln", "-t1.2.3.4:80", "-t=x", "--tcp-service=y"]);
        assert_eq!(e, None);
        let tags: Vec<_> = o.iter().map(|(c, a)| (*c, a.as_deref())).collect();
        assert_eq!(
            tags,
            vec![
                ('L', None),
                ('n', None),
                ('t', Some("1.2.3.4:80")),
                ('t', Some("x")),
                ('t', Some("y"))
            ]
        );
    }

    #[test]
    fn optional_and_required_args() {
        let (o, _, _) = run(&["-p", "-t", "-n", "-p", "600"]);
        let tags: Vec<_> = o.iter().map(|(c, a)| (*c, a.as_deref())).collect();
        assert_eq!(
            tags,
            vec![('p', None), ('t', Some("-n")), ('p', Some("600"))]
        );
        let (_, e, _) = run(&["-L", "-t"]);
        assert_eq!(e, Some((PoptError::NoArg, "-t".to_string())));
    }

    #[test]
    fn errors_and_leftovers() {
        let (_, e, _) = run(&["-Lq"]);
        assert_eq!(e, Some((PoptError::BadOpt, "-Lq".to_string())));
        let (_, e, _) = run(&["--lis"]);
        assert_eq!(e, Some((PoptError::BadOpt, "--lis".to_string())));
        let (_, e, _) = run(&["--list=3"]);
        assert_eq!(e, Some((PoptError::UnwantedArg, "--list=3".to_string())));
        let (o, e, l) = run(&["a", "-L", "-", "--", "-n"]);
        assert_eq!(e, None);
        assert_eq!(o.len(), 1);
        assert_eq!(l, vec!["a", "-", "-n"]);
    }
}
