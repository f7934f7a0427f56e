//! Redaction (§3.9): golden outputs for dictionaries full of regex metacharacters, the
//! `redacted_read` fallback through `read`, `search`, `cat` and `grep`, and invariants.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use crate::common;

use std::fs;
use std::path::Path;

use proptest::prelude::*;
use rust_sdk::SdkContext;
use rust_sdk::fs::commands::{self, GrepOptions};
use rust_sdk::fs::*;

const DICTIONARY: &str = r"# REX redaction dictionary: printf templates, one per line
user %s logged in from %s (uid=%d)
[ERROR] disk %s is %u%% full
a.b*c+d?e|f^g$h{2}\w \d %s
cost: $%lu (%zu items) [%-8s]
backslash \ and (parens) %s
kernel: %m
%5.2d widths
unsupported %x specifier
";

const INPUT: &str = r"user alice logged in from 10.0.0.1 (uid=1000)
user alice logged in from 10.0.0.1 (uid=1000) and more
xuser alice logged in from 10.0.0.1 (uid=1000)
user alice logged in from 10.0.0.1 (uid=abc)
[ERROR] disk sda1 is 93% full
E disk sda1 is 93% full
a.b*c+d?e|f^g$h{2}\w \d secret
aXbbbc+d?e|f^g$h{2}\w \d secret
cost: $42 (3 items) [box]
cost: $-42 (3 items) [box]
backslash \ and (parens) x
backslash \ and parens x
kernel: anything at all, even spaces
kernel:missing space
   12 widths
unsupported ff specifier
password=hunter2

";

const GOLDEN: &str = r"user alice logged in from 10.0.0.1 (uid=1000)
[REDACTED]
[REDACTED]
[REDACTED]
[ERROR] disk sda1 is 93% full
[REDACTED]
a.b*c+d?e|f^g$h{2}\w \d secret
[REDACTED]
cost: $42 (3 items) [box]
[REDACTED]
backslash \ and (parens) x
[REDACTED]
kernel: anything at all, even spaces
[REDACTED]
[REDACTED]
[REDACTED]
[REDACTED]

";

#[test]
fn golden_dictionary_with_metacharacters() {
    let r = Redactor::from_templates(DICTIONARY).unwrap();
    assert_eq!(r.redact(INPUT), GOLDEN);
}

#[test]
fn empty_dictionary_redacts_every_non_empty_line() {
    let r = Redactor::from_templates("# nothing\n\n").unwrap();
    assert_eq!(r.redact("a\n\nb"), "[REDACTED]\n\n[REDACTED]");
}

fn ctx(policy: &str, conf: &Path) -> SdkContext {
    common::ctx(policy).with_redaction_config(conf.to_str().unwrap())
}

struct Setup {
    _t: tempfile::TempDir,
    data: std::path::PathBuf,
    conf: std::path::PathBuf,
}

fn setup() -> Setup {
    let t = tempfile::tempdir().unwrap();
    let data = t.path().join("data");
    let etc = t.path().join("etc");
    fs::create_dir(&data).unwrap();
    fs::create_dir(&etc).unwrap();
    fs::write(data.join("log"), INPUT).unwrap();
    let conf = etc.join("rex_redaction.config");
    fs::write(&conf, DICTIONARY).unwrap();
    Setup { _t: t, data, conf }
}

/// `open` + `redacted_read` on the data, `open` + `read` on the dictionary.
fn redacted_policy(s: &Setup) -> String {
    format!(
        "permit(principal, action in [file_system::Action::\"open\", file_system::Action::\"redacted_read\"], resource in file_system::Dir::\"{}\");\n\
         permit(principal, action in [file_system::Action::\"open\", file_system::Action::\"read\"], resource in file_system::Dir::\"{}\");",
        s.data.display(),
        s.conf.parent().unwrap().display()
    )
}

#[test]
fn redacted_fallback_through_read_search_cat_and_grep() {
    let s = setup();
    let c = ctx(&redacted_policy(&s), &s.conf);
    let log = s.data.join("log");
    let f = DirHandle::open(&c, s.data.to_str().unwrap(), OpenDirOptions::default())
        .unwrap()
        .open_file(&c, "log", OpenFileOptions::read())
        .unwrap();
    assert_eq!(f.read(&c).unwrap(), GOLDEN);
    let hits = f.search(&c, "secret|hunter2").unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].line_number, 7);
    assert_eq!(
        commands::cat(&c, log.to_str().unwrap(), false).unwrap(),
        GOLDEN
    );
    let g = commands::grep(
        &c,
        "hunter2|REDACTED",
        log.to_str().unwrap(),
        GrepOptions::default(),
    )
    .unwrap();
    assert_eq!(g.len(), 11);
    assert!(g.iter().all(|l| l == "[REDACTED]"));
    // Full reads stay denied.
    let e = f.read_lines(&c, None, None).unwrap_err();
    assert_eq!(e.kind(), FsErrorKind::PermissionDenied);
    let e = f.counts(&c).unwrap_err();
    assert_eq!(e.kind(), FsErrorKind::PermissionDenied);
}

#[test]
fn the_dictionary_itself_is_never_read_redacted() {
    let s = setup();
    // redacted_read (but not read) on the dictionary's own directory.
    let pol = format!(
        "permit(principal, action in [file_system::Action::\"open\", file_system::Action::\"redacted_read\"], resource in file_system::Dir::\"{}\");",
        s.conf.parent().unwrap().display()
    );
    let c = ctx(&pol, &s.conf);
    let e = commands::cat(&c, s.conf.to_str().unwrap(), false).unwrap_err();
    assert_eq!(e.kind(), FsErrorKind::PermissionDenied, "{e:?}");
}

#[test]
fn without_a_readable_dictionary_the_denial_stands() {
    let s = setup();
    let pol = format!(
        "permit(principal, action in [file_system::Action::\"open\", file_system::Action::\"redacted_read\"], resource in file_system::Dir::\"{}\");",
        s.data.display()
    );
    let c = ctx(&pol, &s.conf);
    let e = commands::cat(&c, s.data.join("log").to_str().unwrap(), false).unwrap_err();
    assert_eq!(e.kind(), FsErrorKind::PermissionDenied, "{e:?}");
    // Missing dictionary file: also the original denial.
    let c = ctx(&redacted_policy(&s), &s.conf.with_file_name("missing"));
    let e = commands::cat(&c, s.data.join("log").to_str().unwrap(), false).unwrap_err();
    assert_eq!(e.kind(), FsErrorKind::PermissionDenied, "{e:?}");
}

#[test]
fn dictionary_changes_are_picked_up() {
    let s = setup();
    let c = ctx(&redacted_policy(&s), &s.conf);
    let log = s.data.join("log");
    let first = commands::cat(&c, log.to_str().unwrap(), false).unwrap();
    assert_eq!(first, GOLDEN);
    fs::write(&s.conf, "password=%s\n").unwrap();
    let second = commands::cat(&c, log.to_str().unwrap(), false).unwrap();
    assert!(second.contains("password=hunter2"), "{second}");
    assert!(!second.contains("user alice"), "{second}");
}

proptest! {
    /// A template without specifiers keeps exactly its own text, nothing longer or shorter.
    #[test]
    fn literal_templates_match_only_themselves(
        t in "[ -$&-~]{1,30}",
        extra in "[ -~]{1,3}",
    ) {
        prop_assume!(!t.trim_start().starts_with('#') && !t.trim_end().is_empty());
        let t = t.trim_end().to_string();
        let r = Redactor::from_templates(&t).unwrap();
        prop_assert_eq!(r.redact(&t), t.clone());
        prop_assert_eq!(r.redact(&format!("{t}{extra}")), "[REDACTED]");
        prop_assert_eq!(r.redact(&format!("{extra}{t}")), "[REDACTED]");
    }

    /// Redaction never adds or drops lines, and a line is either kept or `[REDACTED]`.
    #[test]
    fn redaction_is_line_wise(lines in proptest::collection::vec("[ -~]{0,20}", 0..20)) {
        let r = Redactor::from_templates("%s %d\n").unwrap();
        let input = lines.join("\n");
        let out = r.redact(&input);
        let out_lines: Vec<&str> = out.split('\n').collect();
        let in_lines: Vec<&str> = input.split('\n').collect();
        prop_assert_eq!(out_lines.len(), in_lines.len());
        for (o, i) in out_lines.iter().zip(in_lines) {
            prop_assert!(*o == i || *o == "[REDACTED]");
        }
    }
}
