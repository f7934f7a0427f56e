//! Fuzz-style harness for path → entity conversion: arbitrary strings and bytes never panic;
//! every accepted path is absolute, normalised (no `..`, `.`, `//`, control characters), a
//! fixed point, names the same location as its input, and its ancestors are component-wise
//! prefixes; `File`/`Dir` resources accept exactly the paths `ResourcePath` accepts.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use rex_auth::{PATH_MAX, Resource, ResourceKind, ResourcePath};

/// Path pieces that exercise normalisation, traversal and encoding tricks.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/".to_string()),
        Just("//".to_string()),
        Just(".".to_string()),
        Just("..".to_string()),
        Just("...".to_string()),
        Just("%2e%2e".to_string()),
        Just("\u{FF0E}\u{FF0E}".to_string()),
        Just("\u{2025}".to_string()),
        Just("\0".to_string()),
        Just("\n".to_string()),
        Just("\u{85}".to_string()),
        Just("\u{202E}".to_string()),
        Just("é".to_string()),
        Just(" ".to_string()),
        Just("\\".to_string()),
        Just("a".repeat(255)),
        Just("a".repeat(256)),
        "[a-z]{1,4}",
        "\\PC{1,4}",
    ]
}

fn pathish() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(piece(), 0..16).prop_map(|v| v.concat()),
        proptest::collection::vec(piece(), 0..16).prop_map(|v| format!("/{}", v.join("/"))),
        "\\PC{0,64}",
        any::<String>(),
    ]
}

/// The meaningful components of an absolute input path, as the kernel would walk them
/// lexically (`""` and `.` are no-ops).
fn lexical_components(s: &str) -> Vec<&str> {
    s.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect()
}

fn check_path(s: &str) -> Result<(), TestCaseError> {
    let r = ResourcePath::new(s);
    let file = Resource::file(s);
    let dir = Resource::dir(s);
    prop_assert_eq!(r.is_ok(), file.is_ok());
    prop_assert_eq!(r.is_ok(), dir.is_ok());
    let Ok(p) = r else {
        // rejected input: the error renders without panicking
        let _ = r.unwrap_err().to_string();
        return Ok(());
    };
    let t = p.as_str();
    prop_assert!(t.starts_with('/'));
    prop_assert!(!t.contains("//"), "{t:?}");
    prop_assert!(t == "/" || !t.ends_with('/'), "{t:?}");
    prop_assert!(!t.split('/').any(|c| c == ".." || c == "."), "{t:?}");
    prop_assert!(!t.chars().any(char::is_control));
    prop_assert!(t.len() <= PATH_MAX);
    // the input was absolute and had no `..`, so it names exactly these components
    prop_assert!(s.starts_with('/'));
    prop_assert!(!s.split('/').any(|c| c == ".."));
    prop_assert_eq!(lexical_components(s), lexical_components(t));
    // a fixed point
    prop_assert_eq!(ResourcePath::new(t).unwrap(), p.clone());
    // ancestors: component-wise prefixes, nearest first, ending at `/`
    let anc: Vec<&str> = p.ancestors().collect();
    let mut prev_len = t.len();
    for a in &anc {
        prop_assert!(
            *a == "/" || t.starts_with(&format!("{a}/")),
            "{a:?} of {t:?}"
        );
        prop_assert!(a.len() < prev_len);
        prev_len = a.len();
        let again = ResourcePath::new(a).unwrap();
        prop_assert_eq!(again.as_str(), *a);
    }
    prop_assert_eq!(anc.len(), lexical_components(t).len());
    if p.is_root() {
        prop_assert!(p.parent().is_none());
    } else {
        let parent = p.parent().unwrap();
        prop_assert_eq!(Some(parent.as_str()), anc.first().copied());
        prop_assert_eq!(parent.join(p.file_name()).unwrap(), p.clone());
    }
    // the entities carry the normalised id
    let file = file.unwrap();
    prop_assert_eq!(file.kind(), ResourceKind::File);
    prop_assert_eq!(file.id(), t);
    prop_assert!(file.entities().is_ok());
    prop_assert!(file.uid().is_ok());
    let dir = dir.unwrap();
    prop_assert_eq!(dir.id(), t);
    prop_assert!(dir.entities().is_ok());
    Ok(())
}

/// Cases per property: the given default, or `REX_FUZZ_CASES` for a longer campaign.
fn cases(default: u32) -> u32 {
    std::env::var("REX_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(1024), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_paths_normalise_safely(s in pathish()) {
        check_path(&s)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..128)) {
        match ResourcePath::from_bytes(&b) {
            Ok(p) => {
                let s = std::str::from_utf8(&b).unwrap();
                prop_assert_eq!(ResourcePath::new(s).unwrap(), p);
                check_path(s)?;
            }
            Err(e) => { let _ = e.to_string(); }
        }
    }

    #[test]
    fn join_adds_exactly_one_component(base in pathish(), name in "\\PC{0,12}|\\.|\\.\\.|a/b|/|") {
        let Ok(b) = ResourcePath::new(&base) else { return Ok(()) };
        match b.join(&name) {
            Ok(j) => {
                prop_assert_eq!(j.parent().unwrap(), b.clone());
                prop_assert_eq!(j.file_name(), name.as_str());
                prop_assert!(!name.contains('/') && name != "." && name != ".." && !name.is_empty());
                check_path(j.as_str())?;
            }
            Err(e) => { let _ = e.to_string(); }
        }
    }
}

#[test]
fn traversal_spellings_are_rejected() {
    for s in [
        "/a/../b",
        "/a/b/..",
        "/..",
        "/a/./../b",
        "//..//etc",
        "/a/..\0/b",
        "a/b",
        "",
        "./a",
    ] {
        assert!(ResourcePath::new(s).is_err(), "{s:?}");
        assert!(Resource::file(s).is_err(), "{s:?}");
    }
    // look-alikes are ordinary names: they cannot traverse
    let p = ResourcePath::new("/a/\u{FF0E}\u{FF0E}/b").unwrap();
    assert_eq!(p.parent().unwrap().as_str(), "/a/\u{FF0E}\u{FF0E}");
}
