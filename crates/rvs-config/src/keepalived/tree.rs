//! The generic block tree: files read (includes expanded where they appear, as keepalived
//! splices them into its line stream), lines split into statements at braces, and `{ }`
//! blocks attached to the statement before them.
//!
//! `include PATTERN` (and keepalived's `includer`, `includem`, `includew`, `includeb`,
//! `includea`) may appear on any line, inside blocks too. The pattern is a glob, relative to
//! the directory of the file that includes it; matches are read in sorted order; includes
//! nest; a file that includes itself (directly or not) is an error. A plain `include` that
//! matches nothing is a warning (keepalived only logs it); the lettered variants make it an
//! error. keepalived's `@system_id` conditional lines, `$NAME=value` definitions and
//! `~SEQ`/`~LST` are not supported: such lines are reported and skipped.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::diag::{Diags, Pos};
use super::fs::{FileSystem, has_wildcard};
use super::lexer::{Tok, TokKind, lex_line, strip_comment};

/// How deep includes may nest.
pub const MAX_INCLUDE_DEPTH: usize = 32;

/// One statement: a keyword, its arguments, and the block that follows it, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// The first word.
    pub name: Tok,
    /// The other words of the statement (same line, up to a brace).
    pub args: Vec<Tok>,
    /// The `{ ... }` block attached to the statement.
    pub block: Option<Vec<Node>>,
}

impl Node {
    /// The keyword.
    pub fn kw(&self) -> &str {
        &self.name.text
    }

    /// Position of the keyword.
    pub fn pos(&self) -> &Pos {
        &self.name.pos
    }

    /// The `i`-th argument's text (0 = first after the keyword).
    pub fn arg(&self, i: usize) -> Option<&str> {
        self.args.get(i).map(|t| t.text.as_str())
    }

    /// Position of the `i`-th argument, or of the keyword when it is missing.
    pub fn arg_pos(&self, i: usize) -> &Pos {
        self.args.get(i).map_or(&self.name.pos, |t| &t.pos)
    }

    /// The children, empty when there is no block.
    pub fn children(&self) -> &[Node] {
        self.block.as_deref().unwrap_or(&[])
    }
}

/// Reads `path` and every file it includes into one token-line stream.
pub(crate) fn read_lines(fs: &dyn FileSystem, path: &Path, diags: &mut Diags) -> Vec<Vec<Tok>> {
    let mut out = Vec::new();
    let mut stack = Vec::new();
    if let Err(e) = read_file(fs, path, &mut stack, &mut out, diags) {
        diags.err(
            &Pos::file(path.display().to_string()),
            format!("cannot read configuration file: {e}"),
        );
    }
    out
}

fn read_file(
    fs: &dyn FileSystem,
    path: &Path,
    stack: &mut Vec<PathBuf>,
    out: &mut Vec<Vec<Tok>>,
    diags: &mut Diags,
) -> std::io::Result<()> {
    let text = fs.read(path)?;
    let file: Arc<str> = Arc::from(path.display().to_string());
    stack.push(fs.identity(path));
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    for (i, raw) in text.lines().enumerate() {
        let lineno = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let code = strip_comment(raw);
        let trimmed = code.trim_start();
        let col =
            u32::try_from(code.chars().count() - trimmed.chars().count() + 1).unwrap_or(u32::MAX);
        let pos = Pos {
            file: file.clone(),
            line: lineno,
            col,
        };
        if let Some((strict, pattern)) = include_pattern(trimmed) {
            include(fs, &dir, pattern, strict, &pos, stack, out, diags);
            continue;
        }
        match trimmed.chars().next() {
            Some('@') => {
                diags.warn(
                    &pos,
                    "conditional configuration (@system_id) is not supported - line ignored",
                );
                continue;
            }
            Some('$') => {
                diags.warn(
                    &pos,
                    "parameter definitions and substitution ($NAME) are not supported - line ignored",
                );
                continue;
            }
            Some('~') => {
                diags.warn(&pos, "~SEQ and ~LST are not supported - line ignored");
                continue;
            }
            _ => {}
        }
        let toks = lex_line(&file, lineno, raw, diags);
        if !toks.is_empty() {
            out.push(toks);
        }
    }
    stack.pop();
    Ok(())
}

/// `include PATTERN` (or a lettered variant): whether missing files are errors, and the
/// pattern.
fn include_pattern(line: &str) -> Option<(bool, &str)> {
    let rest = line.strip_prefix("include")?;
    let (strict, rest) = match rest.chars().next() {
        Some(c) if c == ' ' || c == '\t' => (false, rest),
        Some(c) if "rmwba".contains(c) => {
            let r = &rest[1..];
            if !r.starts_with([' ', '\t']) {
                return None;
            }
            (true, r)
        }
        _ => return None,
    };
    let p = rest.trim();
    let p = p
        .strip_prefix('"')
        .and_then(|p| p.strip_suffix('"'))
        .unwrap_or(p);
    Some((strict, p))
}

#[allow(clippy::too_many_arguments)]
fn include(
    fs: &dyn FileSystem,
    dir: &Path,
    pattern: &str,
    strict: bool,
    pos: &Pos,
    stack: &mut Vec<PathBuf>,
    out: &mut Vec<Vec<Tok>>,
    diags: &mut Diags,
) {
    if pattern.is_empty() {
        diags.err(pos, "include: missing file name");
        return;
    }
    let full = dir.join(pattern);
    let matches = match fs.glob(&full) {
        Ok(m) => m,
        Err(e) => {
            diags.err(pos, format!("include '{pattern}': {e}"));
            return;
        }
    };
    if matches.is_empty() {
        let msg = if has_wildcard(pattern) {
            format!("include: no files match '{pattern}'")
        } else {
            format!("include: file '{pattern}' not found")
        };
        if strict {
            diags.err(pos, msg);
        } else {
            diags.warn(pos, msg);
        }
        return;
    }
    for m in matches {
        if stack.contains(&fs.identity(&m)) {
            diags.err(
                pos,
                format!("include cycle: '{}' is already being read", m.display()),
            );
            continue;
        }
        if stack.len() >= MAX_INCLUDE_DEPTH {
            diags.err(
                pos,
                format!("includes nested deeper than {MAX_INCLUDE_DEPTH} levels"),
            );
            return;
        }
        if let Err(e) = read_file(fs, &m, stack, out, diags) {
            diags.err(pos, format!("include '{}': {e}", m.display()));
        }
    }
}

struct Frame {
    nodes: Vec<Node>,
    open: Pos,
    /// Whether the block belongs to a statement (else an unexpected `{`, whose content is
    /// dropped).
    owned: bool,
}

/// Builds the statement tree from token lines.
pub(crate) fn build(lines: Vec<Vec<Tok>>, diags: &mut Diags) -> Vec<Node> {
    let mut stack: Vec<Frame> = vec![Frame {
        nodes: Vec::new(),
        open: Pos::file(""),
        owned: true,
    }];
    let mut can_open = false;
    for line in lines {
        let mut seg: Vec<Tok> = Vec::new();
        for tok in line.into_iter().chain(std::iter::once(eol())) {
            match tok.kind {
                TokKind::Word | TokKind::Quoted if !is_eol(&tok) => {
                    seg.push(tok);
                    continue;
                }
                _ => {}
            }
            if !seg.is_empty() {
                let mut it = std::mem::take(&mut seg).into_iter();
                if let (Some(name), Some(top)) = (it.next(), stack.last_mut()) {
                    top.nodes.push(Node {
                        name,
                        args: it.collect(),
                        block: None,
                    });
                    can_open = true;
                }
            }
            match tok.kind {
                TokKind::Open => {
                    if !can_open {
                        diags.err(&tok.pos, "unexpected '{' - block ignored");
                    }
                    stack.push(Frame {
                        nodes: Vec::new(),
                        open: tok.pos,
                        owned: can_open,
                    });
                    can_open = false;
                }
                TokKind::Close => {
                    can_open = false;
                    if stack.len() < 2 {
                        diags.err(&tok.pos, "extra '}' found");
                        continue;
                    }
                    close(&mut stack);
                }
                _ => {}
            }
        }
    }
    while stack.len() > 1 {
        if let Some(f) = stack.last() {
            diags.err(&f.open, "missing '}' for the block opened here");
        }
        close(&mut stack);
    }
    stack.pop().map(|f| f.nodes).unwrap_or_default()
}

fn close(stack: &mut Vec<Frame>) {
    let Some(frame) = stack.pop() else { return };
    if !frame.owned {
        return;
    }
    if let Some(owner) = stack.last_mut().and_then(|p| p.nodes.last_mut()) {
        owner.block = Some(frame.nodes);
    }
}

/// A sentinel marking the end of a line (never produced by the lexer: empty quoted text
/// with line 0).
fn eol() -> Tok {
    Tok {
        kind: TokKind::Quoted,
        text: String::new(),
        pos: Pos::file(""),
    }
}

fn is_eol(t: &Tok) -> bool {
    t.kind == TokKind::Quoted && t.pos.line == 0
}

#[cfg(test)]
mod tests {
    use super::super::fs::MemFs;
    use super::*;

    fn parse(fs: &MemFs, path: &str) -> (Vec<Node>, Vec<String>) {
        let mut d = Diags::default();
        let lines = read_lines(fs, Path::new(path), &mut d);
        let nodes = build(lines, &mut d);
        (nodes, d.list.iter().map(|d| d.to_string()).collect())
    }

    fn shape(nodes: &[Node]) -> String {
        nodes
            .iter()
            .map(|n| {
                let mut s = n.kw().to_string();
                for a in &n.args {
                    s.push(' ');
                    s.push_str(&a.text);
                }
                if let Some(b) = &n.block {
                    s.push_str(&format!(" {{{}}}", shape(b)));
                }
                s
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    #[test]
    fn blocks_on_same_and_next_line() {
        let mut fs = MemFs::new();
        fs.insert(
            "/k.conf",
            "a 1 {\n b 2\n}\nc\n{\n d { e } f\n}\nvip { 1.1.1.1 2.2.2.2 }\n",
        );
        let (n, d) = parse(&fs, "/k.conf");
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(shape(&n), "a 1 {b 2}; c {d {e}; f}; vip {1.1.1.1 2.2.2.2}");
    }

    #[test]
    fn brace_errors_are_positioned() {
        let mut fs = MemFs::new();
        fs.insert("/k.conf", "a {\n}\n}\nb {\n  c {\n");
        let (_, d) = parse(&fs, "/k.conf");
        assert_eq!(
            d,
            [
                "/k.conf:3:1: extra '}' found",
                "/k.conf:5:5: missing '}' for the block opened here",
                "/k.conf:4:3: missing '}' for the block opened here",
            ]
        );
    }

    #[test]
    fn includes_relative_globbed_nested_and_cycles() {
        let mut fs = MemFs::new();
        fs.insert("/etc/k/main.conf", "top\ninclude conf.d/*.conf\nend\n")
            .insert("/etc/k/conf.d/b.conf", "b\n")
            .insert("/etc/k/conf.d/a.conf", "a\ninclude ../inner/x.conf\n")
            .insert("/etc/k/inner/x.conf", "x\ninclude ../main.conf\n");
        let (n, d) = parse(&fs, "/etc/k/main.conf");
        assert_eq!(shape(&n), "top; a; x; b; end");
        assert_eq!(
            d,
            ["/etc/k/inner/x.conf:2:1: include cycle: '/etc/k/main.conf' is already being read"]
        );
    }

    #[test]
    fn missing_includes() {
        let mut fs = MemFs::new();
        fs.insert(
            "/m.conf",
            "include none/*.conf\ninclude nofile.conf # x\nincluder must.conf\n",
        );
        let (_, d) = parse(&fs, "/m.conf");
        assert_eq!(
            d,
            [
                "/m.conf:1:1: warning: include: no files match 'none/*.conf'",
                "/m.conf:2:1: warning: include: file 'nofile.conf' not found",
                "/m.conf:3:1: include: file 'must.conf' not found",
            ]
        );
    }
}
