//! Bearer-token authentication.
//!
//! Writes always need `Authorization: Bearer TOKEN` with the token of `--api-token-file`;
//! reads need it too unless the API was started with public reads. A missing or malformed
//! header is 401 (with `WWW-Authenticate: Bearer`), a wrong token 403. Tokens are compared
//! in time that depends only on the configured token's length.

use std::path::Path;

use axum::http::{HeaderMap, header};

use crate::error::ApiError;

/// Who may do what.
#[derive(Clone, Debug, Default)]
pub struct Auth {
    token: Option<Vec<u8>>,
    public_read: bool,
}

/// Why the token file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// It cannot be read.
    #[error("cannot read the API token file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// It holds no token, or one with characters a header cannot carry.
    #[error(
        "the API token file {path} must hold one token of printable ASCII without spaces (at least 16 characters)"
    )]
    Invalid {
        /// The file.
        path: String,
    },
}

/// The shortest token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

impl Auth {
    /// `token` for writes (and reads unless `public_read`). Without a token, writes are
    /// refused (403) and reads need `public_read`.
    pub fn new(token: Option<String>, public_read: bool) -> Self {
        Auth {
            token: token.map(String::into_bytes),
            public_read,
        }
    }

    /// Read the token from `path`: its content with surrounding whitespace removed.
    pub fn token_from_file(path: &Path) -> Result<String, TokenError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let token = text.trim();
        if token.len() < MIN_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TokenError::Invalid {
                path: path.display().to_string(),
            });
        }
        Ok(token.to_string())
    }

    /// Whether reads are open to anyone.
    pub fn public_read(&self) -> bool {
        self.public_read
    }

    /// Check a read request.
    pub fn check_read(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        if self.public_read {
            return Ok(());
        }
        self.check(headers)
    }

    /// Check a write request.
    pub fn check_write(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        if self.token.is_none() {
            return Err(ApiError::forbidden(
                "writes are disabled: rvsd was started without --api-token-file",
            ));
        }
        self.check(headers)
    }

    fn check(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::unauthorized(
                "missing Authorization: Bearer token",
            ));
        };
        let Some(given) = value
            .as_bytes()
            .strip_prefix(b"Bearer ")
            .filter(|t| !t.is_empty() && t.iter().all(u8::is_ascii_graphic))
        else {
            return Err(ApiError::unauthorized(
                "malformed Authorization header (expected `Bearer TOKEN')",
            ));
        };
        match &self.token {
            Some(token) if ct_eq(given, token) => Ok(()),
            _ => Err(ApiError::forbidden("wrong token")),
        }
    }
}

/// `given == expected`, in time that depends on `expected.len()` only.
fn ct_eq(given: &[u8], expected: &[u8]) -> bool {
    let mut diff = u64::from(given.len() != expected.len());
    for (i, e) in expected.iter().enumerate() {
        let g = given.get(i).copied().unwrap_or(0);
        diff |= u64::from(std::hint::black_box(g ^ e));
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abd", b"abc"));
        assert!(!ct_eq(b"ab", b"abc"));
        assert!(!ct_eq(b"abcd", b"abc"));
        assert!(!ct_eq(b"", b"abc"));
    }

    #[test]
    fn token_file() {
        let dir = std::env::temp_dir().join(format!("rvs-api-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t");
        std::fs::write(&p, "  0123456789abcdef-XYZ\n").unwrap();
        assert_eq!(Auth::token_from_file(&p).unwrap(), "0123456789abcdef-XYZ");
        std::fs::write(&p, "short\n").unwrap();
        assert!(matches!(
            Auth::token_from_file(&p),
            Err(TokenError::Invalid { .. })
        ));
        std::fs::write(&p, "0123456789abcdef 0123456789\n").unwrap();
        assert!(Auth::token_from_file(&p).is_err());
        assert!(matches!(
            Auth::token_from_file(&dir.join("missing")),
            Err(TokenError::Read { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
