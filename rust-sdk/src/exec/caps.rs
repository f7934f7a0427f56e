//! Capability names for `ExecuteOptions::capabilities`.
//!
//! A name is accepted case-insensitively, with or without the `CAP_` prefix (`CAP_NET_RAW`,
//! `cap_net_raw`, `NET_RAW`), and always reaches the Cedar context in its canonical form
//! (`CAP_NET_RAW`), so a policy that forbids `"CAP_SYS_ADMIN"` cannot be bypassed by spelling
//! it differently. Only the capabilities the kernel headers name are known; anything else is
//! an invalid argument.

use rustix::thread::CapabilitySet;

use super::ExecError;

/// The canonical names of every bit of `set`, lowest bit first.
pub(super) fn names_of(set: CapabilitySet) -> Vec<String> {
    set.iter_names().map(|(n, _)| format!("CAP_{n}")).collect()
}

/// Parses capability names into the set they request and their canonical names (request
/// order, duplicates removed).
pub(super) fn parse(names: &[String]) -> Result<(CapabilitySet, Vec<String>), ExecError> {
    let mut set = CapabilitySet::empty();
    let mut canonical = Vec::with_capacity(names.len());
    for name in names {
        let upper = name.to_ascii_uppercase();
        let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
        let bit = (!bare.is_empty())
            .then(|| CapabilitySet::from_name(bare))
            .flatten()
            .filter(|b| b.bits().count_ones() == 1)
            .ok_or_else(|| ExecError::InvalidArguments(format!("unknown capability {name:?}")))?;
        if !set.contains(bit) {
            set |= bit;
            canonical.push(format!("CAP_{bare}"));
        }
    }
    Ok((set, canonical))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_are_canonicalized() {
        let (set, names) = parse(&[
            "CAP_NET_BIND_SERVICE".into(),
            "cap_net_raw".into(),
            "Sys_Admin".into(),
            "NET_RAW".into(),
        ])
        .unwrap();
        assert_eq!(
            set,
            CapabilitySet::NET_BIND_SERVICE | CapabilitySet::NET_RAW | CapabilitySet::SYS_ADMIN
        );
        assert_eq!(
            names,
            ["CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_ADMIN"]
        );
        assert_eq!(set.bits() & 0x400, 0x400);
    }

    #[test]
    fn unknown_names_are_refused() {
        for bad in ["", "CAP_", "CAP_NOPE", "NET BIND", "CAP_NET_RAW\0", "_"] {
            assert!(
                matches!(parse(&[bad.into()]), Err(ExecError::InvalidArguments(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn every_named_bit_round_trips() {
        for (name, bit) in CapabilitySet::all().iter_names() {
            let canonical = names_of(bit);
            assert_eq!(canonical, [format!("CAP_{name}")]);
            assert_eq!(parse(&canonical).unwrap(), (bit, canonical));
        }
        assert_eq!(names_of(CapabilitySet::empty()), Vec::<String>::new());
    }
}
