//! Validation and lexical normalisation of the absolute paths that name `File`/`Dir` entities.
//!
//! A [`ResourcePath`] is always absolute, valid UTF-8, free of NUL and control characters, has no
//! `..` component, and is normalised: `//` and `/./` collapse and a trailing `/` is removed
//! (except for `/` itself). The SDK opens exactly the path it authorized, so normalising here
//! cannot change what a policy grants.

use std::fmt;
use std::sync::Arc;

use crate::error::{AuthError, PathProblem};

/// Longest accepted path in bytes (Linux `PATH_MAX` including the NUL).
pub const PATH_MAX: usize = 4095;
/// Longest accepted component in bytes (Linux `NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// A validated, normalised absolute path. Cloning it is a reference-count increment (every
/// handle and listed entry carries one).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourcePath(Arc<str>);

impl ResourcePath {
    /// Validates and normalises `path`.
    ///
    /// ```
    /// use rex_auth::ResourcePath;
    /// assert_eq!(ResourcePath::new("/var//log/./syslog/").unwrap().as_str(), "/var/log/syslog");
    /// assert!(ResourcePath::new("/var/log/../../etc/shadow").is_err());
    /// assert!(ResourcePath::new("relative/path").is_err());
    /// ```
    pub fn new(path: &str) -> Result<Self, AuthError> {
        let fail = |problem| AuthError::InvalidPath {
            path: path.to_string(),
            problem,
        };
        if path.is_empty() {
            return Err(fail(PathProblem::Empty));
        }
        if !path.starts_with('/') {
            return Err(fail(PathProblem::NotAbsolute));
        }
        if path.chars().any(char::is_control) {
            return Err(fail(PathProblem::ControlCharacter));
        }
        if path.len() > PATH_MAX {
            return Err(fail(PathProblem::TooLong));
        }
        let mut out = String::with_capacity(path.len());
        for component in path.split('/') {
            match component {
                "" | "." => {}
                ".." => return Err(fail(PathProblem::ParentComponent)),
                c if c.len() > NAME_MAX => return Err(fail(PathProblem::TooLong)),
                c => {
                    out.push('/');
                    out.push_str(c);
                }
            }
        }
        if out.is_empty() {
            out.push('/');
        }
        Ok(ResourcePath(out.into()))
    }

    /// Validates a path given as raw bytes (e.g. an `OsStr`); non-UTF-8 paths are refused.
    pub fn from_bytes(path: &[u8]) -> Result<Self, AuthError> {
        match std::str::from_utf8(path) {
            Ok(s) => Self::new(s),
            Err(_) => Err(AuthError::InvalidPath {
                path: String::from_utf8_lossy(path).into_owned(),
                problem: PathProblem::NotUtf8,
            }),
        }
    }

    /// The normalised path text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the root directory `/`.
    pub fn is_root(&self) -> bool {
        &*self.0 == "/"
    }

    /// The parent directory, or `None` for `/`.
    pub fn parent(&self) -> Option<ResourcePath> {
        if self.is_root() {
            return None;
        }
        let cut = self.0.rfind('/').unwrap_or(0);
        Some(ResourcePath(if cut == 0 {
            "/".into()
        } else {
            self.0.get(..cut).unwrap_or("/").into()
        }))
    }

    /// The last component (`""` for `/`).
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or("")
    }

    /// The lexical ancestors, nearest first: `/a/b/c` → `/a/b`, `/a`, `/`.
    pub fn ancestors(&self) -> impl Iterator<Item = &str> {
        lexical_ancestors(&self.0)
    }

    /// Appends one component. The name must be a single component: no `/`, not `.` or `..`,
    /// not empty, no control characters.
    ///
    /// ```
    /// use rex_auth::ResourcePath;
    /// let dir = ResourcePath::new("/var/log").unwrap();
    /// assert_eq!(dir.join("syslog").unwrap().as_str(), "/var/log/syslog");
    /// assert!(dir.join("../etc").is_err());
    /// ```
    pub fn join(&self, name: &str) -> Result<ResourcePath, AuthError> {
        let fail = |problem| AuthError::InvalidPath {
            path: format!("{}/{}", self.0.trim_end_matches('/'), name),
            problem,
        };
        match name {
            "" => return Err(fail(PathProblem::Empty)),
            "." | ".." => return Err(fail(PathProblem::ParentComponent)),
            n if n.contains('/') => {
                return Err(AuthError::InvalidValue {
                    what: "file name",
                    message: format!("`{n}` must be a single path component"),
                });
            }
            _ => {}
        }
        let mut joined = self.0.to_string();
        if !self.is_root() {
            joined.push('/');
        }
        joined.push_str(name);
        ResourcePath::new(&joined)
    }
}

impl fmt::Display for ResourcePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ResourcePath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The lexical ancestors of a normalised absolute path, nearest first.
pub(crate) fn lexical_ancestors(s: &str) -> impl Iterator<Item = &str> {
    let mut end = if s == "/" { None } else { Some(s.len()) };
    std::iter::from_fn(move || {
        let e = end?;
        let cut = s.get(..e)?.rfind('/')?;
        if cut == 0 {
            end = None;
            Some("/")
        } else {
            end = Some(cut);
            s.get(..cut)
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn normalises() {
        for (i, o) in [
            ("/", "/"),
            ("//", "/"),
            ("/./", "/"),
            ("/a/", "/a"),
            ("/a//b/./c/", "/a/b/c"),
            ("/a/b/.", "/a/b"),
        ] {
            assert_eq!(ResourcePath::new(i).unwrap().as_str(), o, "{i}");
        }
    }

    #[test]
    fn rejects() {
        for (i, p) in [
            ("", PathProblem::Empty),
            ("a/b", PathProblem::NotAbsolute),
            ("./a", PathProblem::NotAbsolute),
            ("/a/../b", PathProblem::ParentComponent),
            ("/..", PathProblem::ParentComponent),
            ("/a\0b", PathProblem::ControlCharacter),
            ("/a\nb", PathProblem::ControlCharacter),
            ("/a\u{7f}", PathProblem::ControlCharacter),
            ("/a\u{85}", PathProblem::ControlCharacter),
        ] {
            match ResourcePath::new(i) {
                Err(AuthError::InvalidPath { problem, .. }) => assert_eq!(problem, p, "{i:?}"),
                other => panic!("{i:?}: {other:?}"),
            }
        }
        let long = format!("/{}", "a".repeat(256));
        assert!(ResourcePath::new(&long).is_err());
        assert!(ResourcePath::from_bytes(b"/a/\xff").is_err());
    }

    #[test]
    fn ancestors_and_parent() {
        let p = ResourcePath::new("/a/b/c").unwrap();
        assert_eq!(p.ancestors().collect::<Vec<_>>(), vec!["/a/b", "/a", "/"]);
        assert_eq!(p.parent().unwrap().as_str(), "/a/b");
        assert_eq!(p.file_name(), "c");
        let a = ResourcePath::new("/a").unwrap();
        assert_eq!(a.ancestors().collect::<Vec<_>>(), vec!["/"]);
        assert_eq!(a.parent().unwrap().as_str(), "/");
        let root = ResourcePath::new("/").unwrap();
        assert_eq!(root.ancestors().count(), 0);
        assert!(root.parent().is_none());
        assert_eq!(root.join("etc").unwrap().as_str(), "/etc");
    }

    proptest! {
        #[test]
        fn normalised_paths_are_fixed_points_and_never_traverse(s in "(/|[a-z.]{1,3}|\\.\\.|\u{0}|\n|é){0,12}") {
            if let Ok(p) = ResourcePath::new(&s) {
                prop_assert!(p.as_str().starts_with('/'));
                prop_assert!(!p.as_str().split('/').any(|c| c == ".." || c == "."));
                prop_assert!(!p.as_str().contains("//"));
                prop_assert!(!p.as_str().chars().any(char::is_control));
                prop_assert_eq!(ResourcePath::new(p.as_str()).unwrap(), p.clone());
                let anc: Vec<_> = p.ancestors().collect();
                for a in &anc {
                    prop_assert!(p.as_str().starts_with(a));
                }
                if !p.is_root() { prop_assert_eq!(anc.last().copied(), Some("/")); }
            }
        }
    }
}
