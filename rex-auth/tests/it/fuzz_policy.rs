//! Fuzz-style harness for policy loading: arbitrary and mutated policy text never panics, a
//! source that fails to load takes the whole policy set down with it (never a partial set
//! that still allows), and whatever does load evaluates every request without panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use rex_auth::{
    Action, Authorizer, Policies, PolicyError, Principal, ProcessAttrs, RequestContext, Resource,
    UrlAttrs,
};

/// Valid seeds, each narrow: they permit or forbid specific things only.
const SEEDS: &[&str] = &[
    r#"permit(principal, action == file_system::Action::"read", resource in file_system::Dir::"/var/log");"#,
    r#"@id("logs")
permit(principal == User::"ops", action in [file_system::Action::"open", file_system::Action::"read"], resource == file_system::File::"/etc/hostname");"#,
    r#"forbid(principal, action in file_system::Action::"SafeIO", resource in file_system::Dir::"/etc/shadow");
permit(principal, action == file_system::Action::"stat", resource in file_system::Dir::"/tmp");"#,
    r#"permit(principal, action == process_system::Action::"kill", resource) when { resource.name == "sleep" };"#,
    r#"permit(principal, action == network::Action::"GET", resource) when { resource.host == "example.com" && resource.port == 443 };"#,
    r#"permit(principal, action == sysinfo::Action::"list", resource);
// a comment
permit(principal, action == file_system::Action::"write", resource == file_system::File::"/tmp/x") unless { false };"#,
];

/// Tokens that steer mutations toward near-valid Cedar.
const TOKENS: &[&str] = &[
    "permit",
    "forbid",
    "(",
    ")",
    ";",
    ",",
    "principal",
    "action",
    "resource",
    "==",
    "in",
    "is",
    "when",
    "unless",
    "{",
    "}",
    "[",
    "]",
    "\"",
    "::",
    "file_system::Action::\"read\"",
    "file_system::Dir::\"/\"",
    "file_system::File::\"/etc/shadow\"",
    "Action::\"SafeIO\"",
    "?principal",
    "?resource",
    "@id(\"x\")",
    "true",
    "false",
    "&&",
    "||",
    "!",
    "like",
    "\"*\"",
    "has",
    "if",
    "then",
    "else",
    "context",
    "/*",
    "*/",
    "//",
    "\n",
    "\u{0}",
    "\u{FEFF}",
    "é",
    "\u{10FFFF}",
    "9223372036854775807",
    "-9223372036854775808",
    "decimal(\"1.0\")",
    "ip(\"127.0.0.1\")",
];

#[derive(Debug, Clone)]
enum Mutation {
    Delete(usize, usize),
    Insert(usize, usize),
    InsertText(usize, String),
    Duplicate(usize, usize),
    Flip(usize, char),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0usize..12).prop_map(|(p, n)| Mutation::Delete(p, n)),
        (any::<usize>(), any::<usize>()).prop_map(|(p, t)| Mutation::Insert(p, t)),
        (any::<usize>(), "\\PC{0,6}").prop_map(|(p, s)| Mutation::InsertText(p, s)),
        (any::<usize>(), 0usize..40).prop_map(|(p, n)| Mutation::Duplicate(p, n)),
        (any::<usize>(), any::<char>()).prop_map(|(p, c)| Mutation::Flip(p, c)),
    ]
}

fn apply(seed: &str, muts: &[Mutation]) -> String {
    let mut chars: Vec<char> = seed.chars().collect();
    for m in muts {
        let len = chars.len();
        let at = |p: usize| if len == 0 { 0 } else { p % (len + 1) };
        match m {
            Mutation::Delete(p, n) => {
                let s = at(*p).min(len);
                let e = (s + n).min(len);
                chars.drain(s..e);
            }
            Mutation::Insert(p, t) => {
                let s = at(*p);
                let tok: Vec<char> = TOKENS[t % TOKENS.len()].chars().collect();
                chars.splice(s..s, tok);
            }
            Mutation::InsertText(p, text) => {
                let s = at(*p);
                chars.splice(s..s, text.chars());
            }
            Mutation::Duplicate(p, n) => {
                let s = at(*p).min(len);
                let e = (s + n).min(len);
                let copy: Vec<char> = chars[s..e].to_vec();
                chars.splice(e..e, copy);
            }
            Mutation::Flip(p, c) => {
                if len > 0 {
                    let i = p % len;
                    chars[i] = *c;
                }
            }
        }
    }
    chars.into_iter().collect()
}

/// A permit-everything-in-/tmp source that is valid on its own.
const GOOD: &str = r#"permit(principal, action in file_system::Action::"SafeIO", resource in file_system::Dir::"/tmp");"#;

fn sample_resources() -> Vec<Resource> {
    vec![
        Resource::file("/etc/shadow").unwrap(),
        Resource::file("/var/log/syslog").unwrap(),
        Resource::dir("/").unwrap(),
        Resource::dir("/tmp").unwrap(),
        Resource::file("/tmp/x").unwrap(),
        Resource::process(ProcessAttrs {
            pid: 1,
            uid: 1000,
            name: "sleep".into(),
            username: "ops".into(),
            command: "sleep 30".into(),
        }),
        Resource::sysinfo(),
        Resource::url(
            "https://example.com/",
            UrlAttrs {
                scheme: "https".into(),
                host: "example.com".into(),
                port: 443,
                path: "/".into(),
            },
        )
        .unwrap(),
        Resource::hostname("example.com").unwrap(),
    ]
}

/// Loads `text`; on failure checks the failure is total, on success evaluates every action
/// on sample resources (typed results only, no panic).
fn check(text: &str) -> Result<(), TestCaseError> {
    match Policies::parse("fuzz.cedar", text) {
        Err(e) => {
            // Rendering the diagnostic (miette with the source snippet) must not panic either.
            let _ = e.to_string();
            // A bad source next to a good one fails the whole load: no partial set.
            let mixed = Policies::from_sources([("good.cedar", GOOD), ("fuzz.cedar", text)]);
            prop_assert!(mixed.is_err(), "a failing source was dropped silently");
            let mixed = Policies::from_sources([("fuzz.cedar", text), ("good.cedar", GOOD)]);
            prop_assert!(mixed.is_err(), "a failing source was dropped silently");
        }
        Ok(policies) => {
            let empty = policies.is_empty();
            let auth = Authorizer::builder()
                .principal(Principal::user("fuzz").unwrap())
                .policies(policies)
                .build();
            let Ok(auth) = auth else { return Ok(()) };
            for r in sample_resources() {
                for a in Action::ALL {
                    let d = auth.is_allowed(*a, &r, &RequestContext::None);
                    if empty {
                        prop_assert!(!matches!(d, Ok(true)), "an empty set allowed {a:?}");
                    }
                    // the enforcing path agrees with the side-effect-free one
                    let e = auth.authorize(*a, &r, &RequestContext::None);
                    prop_assert_eq!(matches!(d, Ok(true)), e.is_ok());
                }
            }
        }
    }
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
    #![proptest_config(ProptestConfig { cases: cases(256), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        check(&text)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        check(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn mutated_policies_never_panic_and_fail_whole(
        seed in 0..SEEDS.len(),
        muts in proptest::collection::vec(mutation(), 1..6),
    ) {
        check(&apply(SEEDS[seed], &muts))?;
    }

    #[test]
    fn token_soup_never_panics(toks in proptest::collection::vec(0..TOKENS.len(), 0..40)) {
        let text: String = toks.iter().map(|t| TOKENS[*t]).collect::<Vec<_>>().join(" ");
        check(&text)?;
    }
}

#[test]
fn seeds_are_valid_and_narrow() {
    // The harness only means something if the seeds load; and none allows the canary.
    for s in SEEDS {
        let p = Policies::parse("seed.cedar", s).unwrap();
        let auth = Authorizer::builder()
            .principal(Principal::user("fuzz").unwrap())
            .policies(p)
            .build()
            .unwrap();
        let shadow = Resource::file("/etc/shadow").unwrap();
        assert!(
            !auth
                .is_allowed(Action::FsRead, &shadow, &RequestContext::None)
                .unwrap()
        );
    }
}

#[test]
fn known_bad_inputs_are_typed_errors() {
    // Empty or comment-only text is a valid, empty set: it denies everything.
    for text in ["", "// nothing\n", "  \n\t"] {
        assert!(Policies::parse("empty.cedar", text).unwrap().is_empty());
    }
    for text in [
        "permit(",
        "permit(principal, action, resource)",
        "permit(principal, action == file_system::Action::\"raed\", resource);",
        "permit(principal == ?principal, action, resource);",
        "permit(principal, action, resource) when { resource.nope == 1 };",
        "\u{0}",
        "@id(\"a\") permit(principal, action, resource); @id(\"a\") permit(principal, action, resource);",
    ] {
        let err = Policies::parse("bad.cedar", text).unwrap_err();
        assert!(
            matches!(
                err,
                PolicyError::Parse(_)
                    | PolicyError::Validation(_)
                    | PolicyError::Template(_)
                    | PolicyError::DuplicateId(_)
                    | PolicyError::Empty
            ),
            "{text:?}: {err:?}"
        );
    }
}
