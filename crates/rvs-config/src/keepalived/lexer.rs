//! keepalived.conf lines into tokens, as keepalived 2.2.7's `lib/parser.c` reads them.
//!
//! * `#` and `!` start a comment anywhere outside double quotes (not only at the start of a
//!   line or after a space); `\#` and `\!` outside quotes are a literal `#` / `!`.
//! * Words are separated by blanks; `"..."` is one word without the quotes (a quote also
//!   ends an unquoted word). A quote left open is an error.
//! * `{` and `}` outside quotes are tokens of their own wherever they appear (keepalived
//!   splits a line at them).
//! * There is no line continuation: keepalived only continues `$NAME=` definitions, which rvs
//!   does not support; a trailing `\` is part of the last word.

use std::sync::Arc;

use super::diag::{Diags, Pos};

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokKind {
    /// A bare word.
    Word,
    /// A `"quoted string"` (text without the quotes).
    Quoted,
    /// `{`.
    Open,
    /// `}`.
    Close,
}

/// One token with its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tok {
    /// Kind.
    pub kind: TokKind,
    /// Text (without quotes; `{` / `}` for braces).
    pub text: String,
    /// Where it starts.
    pub pos: Pos,
}

/// The part of a line before its comment (quotes respected), with `\#`/`\!` kept as is.
pub(crate) fn strip_comment(line: &str) -> &str {
    let mut quote = false;
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => quote = !quote,
            '\\' if !quote => {
                chars.next();
            }
            '#' | '!' if !quote => return &line[..i],
            _ => {}
        }
    }
    line
}

/// Tokens of one line (`lineno` from 1). Errors (an unterminated quote) go to `diags`.
pub(crate) fn lex_line(file: &Arc<str>, lineno: u32, line: &str, diags: &mut Diags) -> Vec<Tok> {
    let chars: Vec<char> = line.chars().collect();
    let pos = |i: usize| Pos {
        file: file.clone(),
        line: lineno,
        col: u32::try_from(i + 1).unwrap_or(u32::MAX),
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        match c {
            '#' | '!' => break,
            '{' | '}' => {
                out.push(Tok {
                    kind: if c == '{' {
                        TokKind::Open
                    } else {
                        TokKind::Close
                    },
                    text: c.to_string(),
                    pos: pos(i),
                });
                i += 1;
            }
            '"' => {
                let start = i;
                let Some(len) = chars[i + 1..].iter().position(|&c| c == '"') else {
                    diags.err(&pos(start), "unterminated quote");
                    break;
                };
                out.push(Tok {
                    kind: TokKind::Quoted,
                    text: chars[i + 1..i + 1 + len].iter().collect(),
                    pos: pos(start),
                });
                i += len + 2;
            }
            _ => {
                let start = i;
                let mut text = String::new();
                while i < chars.len() {
                    let c = chars[i];
                    if c.is_whitespace() || matches!(c, '"' | '{' | '}' | '#' | '!') {
                        break;
                    }
                    if c == '\\' && matches!(chars.get(i + 1), Some('#') | Some('!')) {
                        text.push(chars[i + 1]);
                        i += 2;
                        continue;
                    }
                    text.push(c);
                    i += 1;
                }
                out.push(Tok {
                    kind: TokKind::Word,
                    text,
                    pos: pos(start),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        let mut d = Diags::default();
        lex_line(&Arc::from("f"), 1, line, &mut d)
            .into_iter()
            .map(|t| t.text)
            .collect()
    }

    #[test]
    fn comments_quotes_braces() {
        assert_eq!(words("  a b # c"), ["a", "b"]);
        assert_eq!(words("a!b"), ["a"]);
        assert_eq!(words(r"a\#b c"), ["a#b", "c"]);
        assert_eq!(
            words(r#"script "/bin/x # y" z"#),
            ["script", "/bin/x # y", "z"]
        );
        assert_eq!(words("vs{real}x"), ["vs", "{", "real", "}", "x"]);
        assert_eq!(words(r#"ab"cd""#), ["ab", "cd"]);
    }

    #[test]
    fn columns_and_unterminated_quote() {
        let mut d = Diags::default();
        let t = lex_line(&Arc::from("f"), 3, "\tkw \"open", &mut d);
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].pos.line, t[0].pos.col), (3, 2));
        assert_eq!(d.list.len(), 1);
        assert_eq!(d.list[0].to_string(), "f:3:5: unterminated quote");
    }

    #[test]
    fn strip_comment_respects_quotes() {
        assert_eq!(strip_comment("include a.conf # x"), "include a.conf ");
        assert_eq!(strip_comment(r#"x "a#b" ! c"#), r#"x "a#b" "#);
    }
}
