//! Positions and diagnostics: every problem is reported as `FILE:LINE:COL: message`.

use std::fmt;
use std::sync::Arc;

/// Where a token starts: file (as named in the include chain), 1-based line and column
/// (columns count characters).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pos {
    /// File name as the parser opened it.
    pub file: Arc<str>,
    /// Line, from 1 (0 = the file as a whole).
    pub line: u32,
    /// Column, from 1 (0 = the file as a whole).
    pub col: u32,
}

impl Pos {
    /// A position naming a whole file (used when it cannot be read).
    pub fn file(file: impl Into<Arc<str>>) -> Pos {
        Pos {
            file: file.into(),
            line: 0,
            col: 0,
        }
    }
}

impl fmt::Display for Pos {
    /// `file:line:col`, or just `file` for a whole-file position.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file)
        } else {
            write!(f, "{}:{}:{}", self.file, self.line, self.col)
        }
    }
}

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Severity {
    /// The configuration is refused (`rvsd -t` fails, a reload keeps the running config).
    Error,
    /// Reported, but the configuration is usable (keepalived's "- ignoring" /
    /// "setting default" messages, unknown keywords).
    Warning,
}

/// One problem found in a configuration.
///
/// `Display` gives `FILE:LINE:COL: message` for errors and
/// `FILE:LINE:COL: warning: message` for warnings.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Diag {
    /// Where.
    pub pos: Pos,
    /// Error or warning.
    pub severity: Severity,
    /// What, without position or severity prefix.
    pub message: String,
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.severity {
            Severity::Error => write!(f, "{}: {}", self.pos, self.message),
            Severity::Warning => write!(f, "{}: warning: {}", self.pos, self.message),
        }
    }
}

/// Collects diagnostics while a configuration is read.
#[derive(Debug, Default)]
pub(crate) struct Diags {
    pub(crate) list: Vec<Diag>,
}

impl Diags {
    /// Records an error.
    pub(crate) fn err(&mut self, pos: &Pos, message: impl Into<String>) {
        self.list.push(Diag {
            pos: pos.clone(),
            severity: Severity::Error,
            message: message.into(),
        });
    }

    /// Records a warning.
    pub(crate) fn warn(&mut self, pos: &Pos, message: impl Into<String>) {
        self.list.push(Diag {
            pos: pos.clone(),
            severity: Severity::Warning,
            message: message.into(),
        });
    }

    /// Whether any error was recorded.
    pub(crate) fn has_errors(&self) -> bool {
        self.list.iter().any(|d| d.severity == Severity::Error)
    }
}
