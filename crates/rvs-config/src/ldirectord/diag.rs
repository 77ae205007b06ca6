//! Diagnostics for ldirectord.cf: `FILE:LINE:COL: message`, errors and warnings.

use std::fmt;

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// The file cannot be converted.
    Error,
    /// Converted, but something was ignored or only approximated.
    Warning,
}

/// One message about a place in the input file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// 1-based line number (0 when the message is about the whole file).
    pub line: usize,
    /// 1-based column, counted in characters of the original line.
    pub col: usize,
    /// What is wrong, without the location.
    pub message: String,
}

impl Diagnostic {
    /// An error at `line:col`.
    pub fn error(line: usize, col: usize, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            line,
            col,
            message: message.into(),
        }
    }

    /// A warning at `line:col`.
    pub fn warning(line: usize, col: usize, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            line,
            col,
            message: message.into(),
        }
    }

    /// The diagnostic as `FILE:LINE:COL: message` (warnings say `warning: ` before the
    /// message).
    pub fn render(&self, file: &str) -> String {
        let kind = match self.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
        };
        format!("{file}:{}:{}: {kind}{}", self.line, self.col, self.message)
    }
}

/// A file that did not parse: every error found, in file order.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ParseErrors {
    /// The file name used in the messages.
    pub file: String,
    /// The errors, sorted by line and column (never empty).
    pub errors: Vec<Diagnostic>,
}

impl fmt::Display for ParseErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            f.write_str(&e.render(&self.file))?;
        }
        Ok(())
    }
}
