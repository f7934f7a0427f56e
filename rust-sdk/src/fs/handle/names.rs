//! Names and identities: the name-still-refers check, move contexts, lexical resolution,
//! temporary names, modes and owner names.

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use rex_auth::{RequestContext, ResourcePath};
use rustix::fs::AtFlags;

use super::at::*;
use super::types::*;
use crate::fs::error::FsError;
use crate::fs::rpath;

/// Checks that `name` in `parent` is still the inode `fd` refers to.
pub(crate) fn verify_name(
    parent: &OwnedFd,
    name: &str,
    fd: impl AsFd,
    path: &str,
) -> Result<(), FsError> {
    let now = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| FsError::os("stat", path, e))?;
    let ours = rustix::fs::fstat(fd).map_err(|e| FsError::os("fstat", path, e))?;
    if same_inode(&now, &ours) {
        Ok(())
    } else {
        Err(FsError::Changed(path.to_string()))
    }
}

pub(crate) fn move_context(
    dest: &ResourcePath,
    name: &str,
    parent: &ResourcePath,
) -> RequestContext {
    RequestContext::Move {
        path: dest.as_str().to_string(),
        name: name.to_string(),
        parent_path: parent.as_str().to_string(),
    }
}

/// Resolves `target` lexically against `base` (for symlink targets), then validates it.
pub(crate) fn lexical_resolve(base: &ResourcePath, target: &str) -> Result<ResourcePath, FsError> {
    let mut parts: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        base.as_str().split('/').filter(|c| !c.is_empty()).collect()
    };
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    rpath(&format!("/{}", parts.join("/")))
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

pub(crate) fn temp_name() -> String {
    let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(".rex-tmp.{}.{}.{}", std::process::id(), n, t)
}

pub(crate) fn valid_mode(mode: i64) -> Result<u32, FsError> {
    if (0..=0o777).contains(&mode) {
        u32::try_from(mode).map_err(|_| FsError::InvalidFileMode(mode))
    } else {
        Err(FsError::InvalidFileMode(mode))
    }
}

pub(crate) fn ownership_names(uid: u32, gid: u32) -> Ownership {
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| uid.to_string());
    let group = nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
        .ok()
        .flatten()
        .map(|g| g.name)
        .unwrap_or_else(|| gid.to_string());
    Ownership { user, group }
}

/// Caches user/group name lookups for the duration of one call.
#[derive(Default)]
pub(crate) struct IdCache {
    users: HashMap<String, u32>,
    groups: HashMap<String, u32>,
}

impl IdCache {
    pub(crate) fn resolve(
        &mut self,
        user: Option<&str>,
        group: Option<&str>,
    ) -> Result<(Option<rustix::fs::Uid>, Option<rustix::fs::Gid>), FsError> {
        let u = match user {
            None => None,
            Some(name) => Some(rustix::fs::Uid::from_raw(match self.users.get(name) {
                Some(u) => *u,
                None => {
                    let uid = match nix::unistd::User::from_name(name) {
                        Ok(Some(u)) => u.uid.as_raw(),
                        _ => name
                            .parse::<u32>()
                            .map_err(|_| FsError::IdentityResolution(format!("user `{name}`")))?,
                    };
                    self.users.insert(name.to_string(), uid);
                    uid
                }
            })),
        };
        let g = match group {
            None => None,
            Some(name) => Some(rustix::fs::Gid::from_raw(match self.groups.get(name) {
                Some(g) => *g,
                None => {
                    let gid = match nix::unistd::Group::from_name(name) {
                        Ok(Some(g)) => g.gid.as_raw(),
                        _ => name
                            .parse::<u32>()
                            .map_err(|_| FsError::IdentityResolution(format!("group `{name}`")))?,
                    };
                    self.groups.insert(name.to_string(), gid);
                    gid
                }
            })),
        };
        Ok((u, g))
    }
}

/// The first eight bytes of a name, zero-padded, as a big-endian number: comparing two keys
/// orders names as their bytes do, except that equal keys need the whole names compared.
/// (File names hold no NUL byte, so the padding sorts before every real byte.)
pub(crate) fn name_prefix_key(name: &[u8]) -> u64 {
    if let Some(head) = name.first_chunk::<8>() {
        return u64::from_be_bytes(*head);
    }
    let mut key = [0u8; 8];
    for (k, b) in key.iter_mut().zip(name) {
        *k = *b;
    }
    u64::from_be_bytes(key)
}

/// Byte order of two file names as a listing sorts them: their [`name_prefix_key`]s, and the
/// whole names only when the keys are equal (the tests check it is byte order).
#[cfg(test)]
fn cmp_names(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    name_prefix_key(a)
        .cmp(&name_prefix_key(b))
        .then_with(|| a.cmp(b))
}

#[cfg(test)]
mod order_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The key order is byte order, for names without NUL (every file name).
        #[test]
        fn key_order_is_byte_order(
            a in proptest::collection::vec(1u8..=255, 0..12),
            b in proptest::collection::vec(1u8..=255, 0..12),
        ) {
            prop_assert_eq!(cmp_names(&a, &b), a.cmp(&b));
        }
    }

    #[test]
    fn prefixes_and_long_names_order_as_bytes() {
        let names: [&[u8]; 6] = [b"", b"a", b"ab", b"file0001", b"file00010", b"file0002"];
        for (i, a) in names.iter().enumerate() {
            for (j, b) in names.iter().enumerate() {
                let got = cmp_names(a, b);
                assert_eq!(got, i.cmp(&j), "{a:?} {b:?}");
            }
        }
    }
}
