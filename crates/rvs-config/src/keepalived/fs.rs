//! The file access the loader needs (read a file, expand an include glob), behind a trait so
//! the parser stays testable without a disk: [`StdFs`] reads the real file system,
//! [`MemFs`] serves files from memory (tests, fuzzing).

use std::collections::BTreeMap;
use std::io;
use std::path::{Component, Path, PathBuf};

/// What the keepalived.conf loader reads through.
pub trait FileSystem {
    /// The whole content of a file (UTF-8; invalid sequences may be replaced).
    fn read(&self, path: &Path) -> io::Result<String>;

    /// Regular files matching a glob pattern (`*`, `?`, `[...]` within one path component),
    /// sorted, as `glob(3)` returns them. A pattern without wildcards returns the path itself
    /// when it exists, else nothing.
    fn glob(&self, pattern: &Path) -> io::Result<Vec<PathBuf>>;

    /// A name identifying the file for include-cycle detection (canonical path).
    fn identity(&self, path: &Path) -> PathBuf {
        normalize(path)
    }
}

/// Whether a path component has glob wildcards.
pub(crate) fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Lexical normalisation: drops `.` and resolves `..` against earlier components.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// `fnmatch(3)` without flags for one path component: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`.
/// A leading `.` must be matched literally.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    if n.first() == Some(&'.') && p.first() != Some(&'.') {
        return false;
    }
    match_from(&p, &n)
}

fn match_from(p: &[char], n: &[char]) -> bool {
    // Iterative matcher with single-star backtracking.
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' => {
                    if let Some((matched, len)) = class(&p[pi..], n[ni]) {
                        if matched {
                            pi += len;
                            ni += 1;
                            continue;
                        }
                    } else if n[ni] == '[' {
                        pi += 1;
                        ni += 1;
                        continue;
                    }
                }
                c => {
                    if c == n[ni] {
                        pi += 1;
                        ni += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, sn)) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// A bracket expression at the start of `p`: whether `c` matches and its length, or `None`
/// when the bracket is not closed (then `[` is literal).
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some('!') | Some('^'));
    if negate {
        i += 1;
    }
    let start = i;
    let mut matched = false;
    while i < p.len() {
        if p[i] == ']' && i > start {
            return Some((matched != negate, i + 1));
        }
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            if p[i] <= c && c <= p[i + 2] {
                matched = true;
            }
            i += 3;
        } else {
            if p[i] == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

/// The real file system (`std::fs`).
#[derive(Clone, Copy, Debug, Default)]
pub struct StdFs;

impl FileSystem for StdFs {
    fn read(&self, path: &Path) -> io::Result<String> {
        let bytes = std::fs::read(path)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn glob(&self, pattern: &Path) -> io::Result<Vec<PathBuf>> {
        let mut bases = vec![PathBuf::new()];
        let comps: Vec<Component<'_>> = pattern.components().collect();
        for (i, c) in comps.iter().enumerate() {
            let last = i + 1 == comps.len();
            let s = c.as_os_str().to_string_lossy();
            let mut next = Vec::new();
            for base in &bases {
                if !matches!(c, Component::Normal(_)) || !has_wildcard(&s) {
                    next.push(base.join(c.as_os_str()));
                    continue;
                }
                let dir = if base.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    base.as_path()
                };
                let Ok(rd) = std::fs::read_dir(dir) else {
                    continue;
                };
                let mut names: Vec<String> = rd
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| wildcard_match(&s, n))
                    .collect();
                names.sort();
                next.extend(names.into_iter().map(|n| base.join(n)));
            }
            bases = next;
            if !last {
                bases.retain(|b| b.is_dir());
            }
        }
        bases.retain(|b| b.is_file());
        Ok(bases)
    }

    fn identity(&self, path: &Path) -> PathBuf {
        std::fs::canonicalize(path).unwrap_or_else(|_| normalize(path))
    }
}

/// Files held in memory, keyed by normalised path. Relative paths are relative to `/`.
#[derive(Clone, Debug, Default)]
pub struct MemFs {
    files: BTreeMap<PathBuf, String>,
}

impl MemFs {
    /// An empty file system.
    pub fn new() -> Self {
        MemFs::default()
    }

    /// Adds (or replaces) a file.
    pub fn insert(&mut self, path: impl AsRef<Path>, content: impl Into<String>) -> &mut Self {
        self.files.insert(Self::key(path.as_ref()), content.into());
        self
    }

    fn key(path: &Path) -> PathBuf {
        Path::new("/").join(normalize(path))
    }
}

impl FileSystem for MemFs {
    fn read(&self, path: &Path) -> io::Result<String> {
        self.files
            .get(&Self::key(path))
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "No such file or directory"))
    }

    fn glob(&self, pattern: &Path) -> io::Result<Vec<PathBuf>> {
        let pat = Self::key(pattern);
        let pcs: Vec<String> = pat
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let mut out: Vec<PathBuf> = self
            .files
            .keys()
            .filter(|k| {
                let kcs: Vec<String> = k
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                kcs.len() == pcs.len()
                    && pcs.iter().zip(&kcs).all(|(p, n)| {
                        if has_wildcard(p) {
                            wildcard_match(p, n)
                        } else {
                            p == n
                        }
                    })
            })
            .cloned()
            .collect();
        out.sort();
        Ok(out)
    }

    fn identity(&self, path: &Path) -> PathBuf {
        Self::key(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.conf", "a.conf"));
        assert!(!wildcard_match("*.conf", "a.conf.bak"));
        assert!(!wildcard_match("*.conf", ".hidden.conf"));
        assert!(wildcard_match("vs-?.conf", "vs-1.conf"));
        assert!(wildcard_match("vs-[0-9].conf", "vs-7.conf"));
        assert!(!wildcard_match("vs-[!0-9].conf", "vs-7.conf"));
        assert!(wildcard_match("a*b*c", "aXbYbc"));
        assert!(wildcard_match("[", "["));
    }

    #[test]
    fn memfs_glob_sorted() {
        let mut fs = MemFs::new();
        fs.insert("/etc/k/b.conf", "")
            .insert("/etc/k/a.conf", "")
            .insert("/etc/k/c.txt", "");
        let got = fs.glob(Path::new("/etc/k/*.conf")).unwrap();
        assert_eq!(
            got,
            vec![
                PathBuf::from("/etc/k/a.conf"),
                PathBuf::from("/etc/k/b.conf")
            ]
        );
        assert_eq!(
            fs.glob(Path::new("/etc/k/x.conf")).unwrap(),
            Vec::<PathBuf>::new()
        );
    }
}
