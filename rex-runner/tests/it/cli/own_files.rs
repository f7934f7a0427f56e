//! The runner's own files (issue 29, items 9 and 10): `--audit-log`, `--log-file`,
//! `--metrics-file` and learn's `-o` are refused (exit 5, nothing created) when the policies
//! let the script modify them, their directory or an ancestor, also through a symbolic link
//! at the path or in its directory; out of reach, the run works and writes them.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use crate::common_cli::{Fixture, Run, rex, run};

/// The runner's files, as the flag that names each.
#[derive(Debug, Clone, Copy)]
enum Own {
    AuditLog,
    LogFile,
    MetricsFile,
    LearnOutput,
}

const ALL: [Own; 4] = [
    Own::AuditLog,
    Own::LogFile,
    Own::MetricsFile,
    Own::LearnOutput,
];

/// Runs the script `s.rhai` of `fx` under `policy` with `file` as the runner's `own` file.
fn run_with(fx: &Fixture, own: Own, policy: &Path, file: &Path, extra: &[&str]) -> Run {
    let script = fx.path("s.rhai");
    let mut c = rex();
    c.env("SYSLOG_ENABLE", "0");
    match own {
        Own::LearnOutput => {
            c.arg("learn").arg("-o").arg(file);
        }
        Own::AuditLog => {
            c.arg("--audit-log").arg(file);
        }
        Own::LogFile => {
            c.arg("--log-file").arg(file);
        }
        Own::MetricsFile => {
            c.arg("--metrics-file").arg(file);
        }
    }
    c.arg("-s").arg(&script).arg("-p").arg(policy).args(extra);
    run(&mut c)
}

/// `root/work` (the script's), `root/out` (the operator's), the script writing
/// `work/x.txt`, and the policy `extra` plus a permit of everything in `work`.
fn setup(fx: &Fixture, extra: &str) -> PathBuf {
    let root = fx.root();
    fs::create_dir_all(fx.path("work/sub/deeper")).unwrap();
    fs::create_dir_all(fx.path("out")).unwrap();
    fx.write(
        "s.rhai",
        &format!(r#"write("{root}/work/x.txt", "hi"); "done""#),
    );
    fx.write(
        "p.cedar",
        &format!(
            r#"permit(principal, action, resource in file_system::Dir::"{root}/work");
{extra}"#
        ),
    )
}

fn assert_refused(r: &Run, own: Own, file: &Path) {
    let all = format!("{}{}", r.stdout, r.stderr);
    assert_eq!(r.code, 5, "{own:?} {}: {all}", file.display());
    assert!(all.contains("refusing to start"), "{own:?}: {all}");
    assert!(
        all.contains("could let the script modify"),
        "{own:?}: {all}"
    );
    assert!(
        fs::symlink_metadata(file).is_err(),
        "{own:?}: {} was created",
        file.display()
    );
}

fn assert_written(fx: &Fixture, r: &Run, own: Own, file: &Path) {
    let all = format!("{}{}", r.stdout, r.stderr);
    assert_eq!(r.code, 0, "{own:?} {}: {all}", file.display());
    assert_eq!(fs::read_to_string(fx.path("work/x.txt")).unwrap(), "hi");
    let text = fs::read_to_string(file).unwrap();
    let expect = match own {
        Own::AuditLog => "\"decision\"",
        Own::LogFile => "run finished",
        Own::MetricsFile => "RexRunner",
        Own::LearnOutput => "@id(\"learned-1\")",
    };
    assert!(text.contains(expect), "{own:?}: {text}");
}

#[test]
fn each_own_file_in_the_scripts_directory_or_below_an_in_dir_ancestor_is_refused_and_not_created() {
    let fx = Fixture::new();
    let policy = setup(&fx, "");
    for own in ALL {
        for place in ["work/f", "work/sub/deeper/f"] {
            let file = fx.path(place);
            let r = run_with(&fx, own, &policy, &file, &[]);
            assert_refused(&r, own, &file);
            // Nothing ran.
            assert!(fs::metadata(fx.path("work/x.txt")).is_err(), "{own:?}");
        }
    }
}

#[test]
fn each_own_file_whose_directory_or_ancestor_the_policy_lets_the_script_move_or_delete_is_refused()
{
    let fx = Fixture::new();
    let root = fx.root();
    for extra in [
        format!(
            r#"permit(principal, action == file_system::Action::"move", resource == file_system::Dir::"{root}/out");"#
        ),
        format!(
            r#"permit(principal, action == file_system::Action::"delete", resource == file_system::Dir::"{root}");"#
        ),
        format!(
            r#"permit(principal, action == file_system::Action::"delete", resource == file_system::File::"{root}/out/f") when {{ context has destination }};"#
        ),
        format!(
            r#"permit(principal, action == file_system::Action::"write", resource is file_system::File in file_system::Dir::"{root}/out");"#
        ),
    ] {
        let policy = setup(&fx, &extra);
        for own in ALL {
            let file = fx.path("out/f");
            let r = run_with(&fx, own, &policy, &file, &[]);
            assert_refused(&r, own, &file);
        }
    }
}

#[test]
fn each_own_file_out_of_reach_is_written_and_the_run_works() {
    for own in ALL {
        let fx = Fixture::new();
        let policy = setup(&fx, "");
        let file = fx.path("out/f");
        let r = run_with(&fx, own, &policy, &file, &[]);
        assert_written(&fx, &r, own, &file);
    }
}

#[test]
fn a_symlink_at_the_path_or_as_its_directory_into_the_scripts_reach_is_refused() {
    let fx = Fixture::new();
    let policy = setup(&fx, "");
    // out/link -> work/target (the script's); out/dirlink -> work (the script's).
    symlink(fx.path("work/target"), fx.path("out/link")).unwrap();
    symlink(fx.path("work"), fx.path("out/dirlink")).unwrap();
    for own in ALL {
        let r = run_with(&fx, own, &policy, &fx.path("out/link"), &[]);
        assert_eq!(r.code, 5, "{own:?}: {}{}", r.stdout, r.stderr);
        assert!(
            fs::symlink_metadata(fx.path("work/target")).is_err(),
            "{own:?}"
        );
        let file = fx.path("out/dirlink/f");
        let r = run_with(&fx, own, &policy, &file, &[]);
        assert_refused(&r, own, &file);
        assert!(fs::symlink_metadata(fx.path("work/f")).is_err(), "{own:?}");
    }
}

#[test]
fn a_symlink_at_the_path_out_of_reach_is_never_followed_by_the_files_that_refuse_links() {
    let fx = Fixture::new();
    let policy = setup(&fx, "");
    // out/link -> out/victim: out of reach, but the audit log, the log file and learn's
    // output are never opened through a link (the victim keeps its content).
    let victim = fx.write("out/victim", "keep");
    symlink(&victim, fx.path("out/link")).unwrap();
    for own in [Own::AuditLog, Own::LogFile, Own::LearnOutput] {
        let r = run_with(&fx, own, &policy, &fx.path("out/link"), &[]);
        assert_eq!(r.code, 5, "{own:?}: {}{}", r.stdout, r.stderr);
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep", "{own:?}");
    }
}

#[test]
fn permissive_runs_keep_an_audit_log_the_policy_does_not_reach_and_refuse_one_it_does() {
    let fx = Fixture::new();
    let root = fx.root();
    let policy = setup(&fx, "");
    // The script does something the policy denies: permissive lets it through (the sandbox
    // off, which would stop it), and the audit log (out of the policy's reach) records it
    // as not enforced.
    fx.write(
        "s.rhai",
        &format!(r#"write("{root}/work/x.txt", "hi"); write("{root}/elsewhere.txt", "x"); "done""#),
    );
    let log = fx.path("out/audit.jsonl");
    let r = run_with(
        &fx,
        Own::AuditLog,
        &policy,
        &log,
        &["--permissive", "--sandbox", "off"],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let text = fs::read_to_string(&log).unwrap();
    assert!(
        text.lines()
            .any(|l| l.contains("elsewhere.txt") && l.contains("\"enforced\":false")),
        "{text}"
    );
    fs::remove_file(fx.path("elsewhere.txt")).unwrap();
    let inside = fx.path("work/audit.jsonl");
    let r = run_with(
        &fx,
        Own::AuditLog,
        &policy,
        &inside,
        &["--permissive", "--sandbox", "off"],
    );
    assert_refused(&r, Own::AuditLog, &inside);
    assert!(
        fs::metadata(fx.path("elsewhere.txt")).is_err(),
        "the script ran"
    );
}

#[test]
fn a_script_that_renames_a_permit_all_onto_learns_output_does_not_become_the_learned_policy() {
    let fx = Fixture::new();
    let root = fx.root();
    fs::create_dir_all(fx.path("r")).unwrap();
    let ceiling = fx.write(
        "ceiling.cedar",
        &format!(r#"permit(principal, action, resource in file_system::Dir::"{root}/r");"#),
    );
    let attack = |out: &Path| {
        fx.write(
            "s.rhai",
            &format!(
                r#"write("{root}/r/evil.cedar", "permit(principal, action, resource);");
                   mv("{root}/r/evil.cedar", "{out}"); "done""#,
                out = out.display()
            ),
        );
        run(rex()
            .env("SYSLOG_ENABLE", "0")
            .arg("learn")
            .arg("-s")
            .arg(fx.path("s.rhai"))
            .arg("-p")
            .arg(&ceiling)
            .arg("-o")
            .arg(out))
    };
    // Inside the ceiling: refused before the script runs.
    let out = fx.path("r/learned.cedar");
    let r = attack(&out);
    assert_refused(&r, Own::LearnOutput, &out);
    assert!(fs::metadata(fx.path("r/evil.cedar")).is_err());
    // Outside: the script's move onto the output is denied, and what is written is the
    // runner's learned policy (the write it did), not the script's text.
    let out = fx.path("learned.cedar");
    let r = attack(&out);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    let text = fs::read_to_string(&out).unwrap();
    assert!(
        text.starts_with("// Learned by `rex-runner learn`"),
        "{text}"
    );
    assert!(
        !text.contains("permit(principal, action, resource);"),
        "{text}"
    );
    assert!(text.contains("evil.cedar"), "{text}");
}
