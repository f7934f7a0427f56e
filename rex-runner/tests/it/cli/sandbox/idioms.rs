//! Issue 28: the policy idioms an attacker tried against the backstop, through the real
//! binary under `--sandbox require`. Each case shows the escape is refused by the kernel (the
//! secret is not printed, the file is still there) and, under `--sandbox off`, that the same
//! program does get through (so the test can fail), and that the in-scope use still works.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::landlock_enforced;
use crate::common_cli::{Fixture, rex, run};

/// A script that executes `/usr/bin/<program>` with `args` and returns its result map.
fn exec(fx: &Fixture, program: &str, args: &[&str]) -> PathBuf {
    let list: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    fx.write(
        &format!("{program}-{}.rhai", args.len()),
        &format!(
            r#"let bin = DirConfig().path("/usr/bin").build().open(OpenDirOptions().build());
let f = bin.open_file("{program}", OpenFileOptions().read(true).build());
let r = f.execute(ExecuteOptions().args([{}]).build());
#{{stdout: r.stdout, stderr: r.stderr, exit_code: r.exit_code}}"#,
            list.join(", ")
        ),
    )
}

fn doc(script: &Path, policy: &Path, mode: &str, extra: &[&str]) -> Value {
    let r = run(rex()
        .arg("-s")
        .arg(script)
        .arg("-p")
        .arg(policy)
        .args(["--sandbox", mode])
        .args(extra));
    r.json()
}

fn output(d: &Value) -> String {
    assert_eq!(d["status"], "SUCCESS", "{d}");
    d["output"].as_str().unwrap_or_default().to_string()
}

/// The secret does not come out under `require`, and does under `off` (so the case can fail).
fn kept_out_only_by_the_sandbox(script: &Path, policy: &Path, extra: &[&str]) {
    let d = doc(script, policy, "require", extra);
    assert!(!output(&d).contains("TOP-SECRET"), "{d}");
    assert!(output(&doc(script, policy, "off", extra)).contains("TOP-SECRET"));
}

/// Programs the policy lets a script run.
fn programs(names: &[&str]) -> String {
    let mut p = String::from(
        "permit(principal, action == file_system::Action::\"open\", resource in file_system::Dir::\"/usr/bin\");\n",
    );
    for n in names {
        p.push_str(&format!(
            "permit(principal, action == file_system::Action::\"execute\", resource == file_system::File::\"/usr/bin/{n}\");\n"
        ));
    }
    p
}

fn ready(programs: &[&str]) -> bool {
    if !landlock_enforced() {
        eprintln!("SKIPPED: this kernel does not enforce Landlock");
        return false;
    }
    if let Some(p) = programs
        .iter()
        .find(|p| !Path::new(&format!("/usr/bin/{p}")).exists())
    {
        eprintln!("SKIPPED: needs /usr/bin/{p}");
        return false;
    }
    true
}

/// `permit(principal, action, resource in Dir "R/public")`: every action includes unmount
/// (now the broker's), network actions cannot match a Dir, and the file system stays
/// restricted: `cat R/secret.txt` is refused, `touch` outside creates nothing.
#[test]
fn all_actions_in_one_directory_keep_the_file_system_restricted() {
    if !ready(&["cat", "touch"]) {
        return;
    }
    let fx = Fixture::new();
    let root = fx.root();
    std::fs::create_dir(fx.path("public")).unwrap();
    std::fs::write(fx.path("public/index.html"), "PUBLIC\n").unwrap();
    std::fs::write(fx.path("secret.txt"), "TOP-SECRET\n").unwrap();
    let policy = fx.write(
        "p.cedar",
        &format!(
            "permit(principal, action, resource in file_system::Dir::\"{root}/public\");\n{}",
            programs(&["cat", "touch"])
        ),
    );
    let cat_secret = exec(&fx, "cat", &[&format!("{root}/secret.txt")]);
    let d = doc(&cat_secret, &policy, "require", &[]);
    assert_eq!(d["sandbox"]["file_system_restricted"], true, "{d}");
    assert_eq!(d["sandbox"]["tcp_connect_restricted"], true, "{d}");
    assert_eq!(d["sandbox"]["unmount_broker"], true, "{d}");
    assert!(!output(&d).contains("TOP-SECRET"), "{d}");
    assert!(output(&doc(&cat_secret, &policy, "off", &[])).contains("TOP-SECRET"));
    let cat_public = exec(&fx, "cat", &[&format!("{root}/public/index.html")]);
    assert!(output(&doc(&cat_public, &policy, "require", &[])).contains("PUBLIC"));
    let outside = fx.path("made-outside");
    let touch = exec(&fx, "touch", &[outside.to_str().unwrap()]);
    output(&doc(&touch, &policy, "require", &[]));
    assert!(!outside.exists());
    // The plan says so: no path rule on `/`, no port, the broker for unmount.
    let r = run(rex()
        .args(["sandbox-plan", "-o", "json", "-p"])
        .arg(&policy));
    let plan: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(plan["runner"]["file_system"]["restricted"], true, "{plan}");
    assert_eq!(
        plan["runner"]["network"]["tcp_connect"],
        serde_json::json!([])
    );
    assert_eq!(plan["unmount_broker"]["started"], true);
}

/// `permit(open, resource == Dir "R")`: the directory, not what is beneath it. A program
/// gets nothing beneath R.
#[test]
fn open_of_one_directory_gives_a_program_nothing_beneath_it() {
    if !ready(&["cat"]) {
        return;
    }
    let fx = Fixture::new();
    let root = fx.root();
    std::fs::write(fx.path("secret.txt"), "TOP-SECRET\n").unwrap();
    let policy = fx.write(
        "p.cedar",
        &format!(
            "permit(principal, action in [file_system::Action::\"open\", file_system::Action::\"read\"], resource == file_system::Dir::\"{root}\");\n{}",
            programs(&["cat"])
        ),
    );
    let cat = exec(&fx, "cat", &[&format!("{root}/secret.txt")]);
    kept_out_only_by_the_sandbox(&cat, &policy, &[]);
}

/// A scope path that is a symbolic link: no rule lands on the link's target.
#[test]
fn a_symlinked_scope_gives_no_rights_on_the_link_target() {
    if !ready(&["cat"]) {
        return;
    }
    let fx = Fixture::new();
    let root = fx.root();
    std::fs::create_dir(fx.path("vault")).unwrap();
    std::fs::write(fx.path("vault/secret.txt"), "TOP-SECRET\n").unwrap();
    std::os::unix::fs::symlink(fx.path("vault"), fx.path("public")).unwrap();
    let policy = fx.write(
        "p.cedar",
        &format!(
            "permit(principal, action in [file_system::Action::\"open\", file_system::Action::\"read\"], resource in file_system::Dir::\"{root}/public\");\n{}",
            programs(&["cat"])
        ),
    );
    let cat = exec(&fx, "cat", &[&format!("{root}/vault/secret.txt")]);
    kept_out_only_by_the_sandbox(&cat, &policy, &[]);
}

/// `== File "R/new.txt"` that does not exist yet: a program gets nothing (no rule on the
/// nearest ancestor), and the runner itself can still create and write-replace it (no false
/// denial of the temporary file and rename).
#[test]
fn one_file_not_yet_created_is_writable_by_the_runner_only() {
    if !ready(&["cat"]) {
        return;
    }
    let fx = Fixture::new();
    let root = fx.root();
    std::fs::write(fx.path("other.txt"), "TOP-SECRET\n").unwrap();
    let policy = fx.write(
        "p.cedar",
        &format!(
            "permit(principal, action == file_system::Action::\"open\", resource == file_system::Dir::\"{root}\");\npermit(principal, action in [file_system::Action::\"open\", file_system::Action::\"read\", file_system::Action::\"write\", file_system::Action::\"create\"], resource == file_system::File::\"{root}/out.txt\");\n{}",
            programs(&["cat"])
        ),
    );
    let cat = exec(&fx, "cat", &[&format!("{root}/other.txt")]);
    assert!(!output(&doc(&cat, &policy, "require", &[])).contains("TOP-SECRET"));
    for mode in ["best-effort", "require"] {
        let script = fx.write(
            "w.rhai",
            &format!(
                "write(\"{root}/out.txt\", \"first\"); write([write::replace], \"{root}/out.txt\", \"{mode}\"); cat(\"{root}/out.txt\")"
            ),
        );
        let d = doc(&script, &policy, mode, &[]);
        assert_eq!(output(&d), mode, "{d}");
        std::fs::remove_file(fx.path("out.txt")).unwrap();
    }
}

/// A script file whose `#!` names a file the policy does not let anyone execute: the
/// "interpreter" gets no rights, neither in that program's layer nor in any later program's
/// (the old plan read the `#!` line and granted read of it to every program).
#[test]
fn a_shebang_naming_a_secret_gives_no_read_of_it() {
    if !ready(&["cat"]) {
        return;
    }
    let fx = Fixture::new();
    let root = fx.root();
    std::fs::write(fx.path("secret.txt"), "TOP-SECRET\n").unwrap();
    let tool = fx.path("tool.sh");
    std::fs::write(&tool, format!("#!{root}/secret.txt\n")).unwrap();
    std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let policy = fx.write(
        "p.cedar",
        &format!(
            "permit(principal, action == file_system::Action::\"open\", resource in file_system::Dir::\"{root}\");\npermit(principal, action == file_system::Action::\"execute\", resource == file_system::File::\"{root}/tool.sh\");\n{}",
            programs(&["cat"])
        ),
    );
    let script = fx.write(
        "s.rhai",
        &format!(
            r#"let d = DirConfig().path("{root}").build().open(OpenDirOptions().build());
let f = d.open_file("tool.sh", OpenFileOptions().read(true).build());
let first = "";
try {{ let r = f.execute(ExecuteOptions().build()); first = `${{r.exit_code}} ${{r.stdout}}`; }} catch (e) {{ first = `${{e}}`; }}
let bin = DirConfig().path("/usr/bin").build().open(OpenDirOptions().build());
let cat = bin.open_file("cat", OpenFileOptions().read(true).build());
let r = cat.execute(ExecuteOptions().args(["{root}/secret.txt"]).build());
`${{first}} | ${{r.exit_code}} ${{r.stdout}}`"#
        ),
    );
    let d = doc(&script, &policy, "require", &[]);
    assert!(!d.to_string().contains("TOP-SECRET"), "{d}");
    assert!(output(&doc(&script, &policy, "off", &[])).contains("TOP-SECRET"));
}

/// `unmount`, which no Landlock domain can do, goes to the broker: allowed → unmounted (also
/// after an `execute`, whose sweep of stray children leaves the broker alone); not allowed
/// → still mounted.
#[test]
fn unmount_goes_through_the_broker_under_require() {
    if !ready(&["true"]) {
        return;
    }
    let fx = Fixture::new();
    let root = fx.root();
    for m in ["mnt", "kept"] {
        std::fs::create_dir(fx.path(m)).unwrap();
    }
    let mount = |p: &str| {
        std::process::Command::new("mount")
            .args(["-t", "tmpfs", "rex-test", p])
            .status()
            .is_ok_and(|s| s.success())
    };
    let mounted = |p: &str| {
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .any(|l| l.split(' ').nth(4) == Some(p))
    };
    let (mnt, kept) = (format!("{root}/mnt"), format!("{root}/kept"));
    if !mount(&mnt) {
        eprintln!("SKIPPED: no privilege to mount");
        return;
    }
    assert!(mount(&kept));
    let policy = fx.write(
        "p.cedar",
        &format!(
            "permit(principal, action, resource in file_system::Dir::\"{root}\");\nforbid(principal, action == file_system::Action::\"unmount\", resource == file_system::Dir::\"{kept}\");\n{}",
            programs(&["true"])
        ),
    );
    let script = fx.write(
        "u.rhai",
        &format!(
            r#"let bin = DirConfig().path("/usr/bin").build().open(OpenDirOptions().build());
bin.open_file("true", OpenFileOptions().read(true).build()).execute(ExecuteOptions().build());
unmount(UnmountOptions().path("{mnt}").build());
let out = "unmounted";
try {{ unmount(UnmountOptions().path("{kept}").build()); }} catch (e) {{ out = e.kind; }}
out"#
        ),
    );
    let d = doc(&script, &policy, "require", &[]);
    let still = (mounted(&mnt), mounted(&kept));
    for p in [&mnt, &kept] {
        let _ = std::process::Command::new("umount")
            .args(["-l", p])
            .status();
    }
    assert_eq!(d["sandbox"]["unmount_broker"], true, "{d}");
    assert_eq!(output(&d), "PermissionDenied", "{d}");
    assert_eq!(still, (false, true));
}

/// `delete` of one file and `move` of one directory: a program (`rm`, `mv`) cannot remove
/// or rename a sibling; the runner deletes the one file it may.
#[test]
fn delete_or_move_of_one_entry_is_not_the_whole_parent() {
    if !ready(&["rm", "mv"]) {
        return;
    }
    let fx = Fixture::new();
    let root = fx.root();
    std::fs::write(fx.path("one.txt"), "1").unwrap();
    std::fs::write(fx.path("keep.txt"), "keep").unwrap();
    std::fs::create_dir(fx.path("vault")).unwrap();
    let policy = fx.write(
        "p.cedar",
        &format!(
            "permit(principal, action == file_system::Action::\"open\", resource == file_system::Dir::\"{root}\");\npermit(principal, action in [file_system::Action::\"open\", file_system::Action::\"delete\"], resource == file_system::File::\"{root}/one.txt\");\npermit(principal, action == file_system::Action::\"move\", resource == file_system::Dir::\"{root}/other\");\n{}",
            programs(&["rm", "mv"])
        ),
    );
    let rm = exec(&fx, "rm", &[&format!("{root}/keep.txt")]);
    output(&doc(&rm, &policy, "require", &[]));
    assert!(fx.path("keep.txt").exists());
    let mv = exec(
        &fx,
        "mv",
        &[&format!("{root}/vault"), &format!("{root}/vault2")],
    );
    output(&doc(&mv, &policy, "require", &[]));
    assert!(fx.path("vault").exists() && !fx.path("vault2").exists());
    let del = fx.write("del.rhai", &format!("rm(\"{root}/one.txt\"); \"gone\""));
    assert_eq!(output(&doc(&del, &policy, "require", &[])), "gone");
    assert!(!fx.path("one.txt").exists());
    // Under `off` the same `rm` does remove the sibling: the test can fail.
    output(&doc(&rm, &policy, "off", &[]));
    assert!(!fx.path("keep.txt").exists());
}

/// The runner's `/proc` is not a program's: `cat /proc/$PPID/environ` from a shell the
/// policy allows does not print the runner's environment.
#[test]
fn a_program_cannot_read_the_runners_environment() {
    if !ready(&["dash", "cat"]) {
        return;
    }
    let fx = Fixture::new();
    let policy = fx.write("p.cedar", &programs(&["dash", "cat"]));
    let script = exec(&fx, "dash", &["-c", "cat /proc/$PPID/environ"]);
    let with_secret = |mode: &str| {
        let r = run(rex()
            .env("REX_TEST_RUNNER_SECRET", "ENV-SECRET-4711")
            .arg("-s")
            .arg(&script)
            .arg("-p")
            .arg(&policy)
            .args(["--sandbox", mode]));
        r.json()
    };
    assert!(
        !with_secret("require")
            .to_string()
            .contains("ENV-SECRET-4711")
    );
    assert!(output(&with_secret("off")).contains("ENV-SECRET-4711"));
}

/// Permits of another principal count for that principal only.
#[test]
fn another_principals_permits_are_not_the_agents() {
    if !ready(&["cat"]) {
        return;
    }
    let fx = Fixture::new();
    let root = fx.root();
    std::fs::write(fx.path("secret.txt"), "TOP-SECRET\n").unwrap();
    let policy = fx.write(
        "p.cedar",
        &format!(
            "permit(principal == User::\"alice\", action, resource in file_system::Dir::\"{root}\");\n{}",
            programs(&["cat"])
        ),
    );
    let cat = exec(&fx, "cat", &[&format!("{root}/secret.txt")]);
    let agent = ["--principal", "agent"];
    kept_out_only_by_the_sandbox(&cat, &policy, &agent);
    // alice's layer does include it.
    let alice = ["--principal", "alice"];
    assert!(output(&doc(&cat, &policy, "require", &alice)).contains("TOP-SECRET"));
}

/// A directory moved across file systems under the runner's layer (the copy fallback needs
/// making and removing beneath both scopes).
#[test]
fn a_directory_moves_across_file_systems_under_require() {
    if !ready(&[]) {
        return;
    }
    let shm = Path::new("/dev/shm");
    use std::os::unix::fs::MetadataExt;
    if !shm.is_dir()
        || std::fs::metadata(shm).unwrap().dev()
            == std::fs::metadata(std::env::temp_dir()).unwrap().dev()
    {
        eprintln!("SKIPPED: needs /dev/shm on another file system");
        return;
    }
    let fx = Fixture::new();
    let root = fx.root();
    let other = tempfile::tempdir_in(shm).unwrap();
    let other_root = std::fs::canonicalize(other.path()).unwrap();
    std::fs::create_dir_all(fx.path("src/sub")).unwrap();
    std::fs::write(fx.path("src/sub/f.txt"), "moved").unwrap();
    let policy = fx.write(
        "p.cedar",
        &format!(
            "permit(principal, action, resource in file_system::Dir::\"{root}\");\npermit(principal, action, resource in file_system::Dir::\"{}\");\n",
            other_root.display()
        ),
    );
    let script = fx.write(
        "mv.rhai",
        &format!(
            "mv(\"{root}/src\", \"{}/dst\"); cat(\"{}/dst/sub/f.txt\")",
            other_root.display(),
            other_root.display()
        ),
    );
    let d = doc(&script, &policy, "require", &[]);
    assert_eq!(output(&d), "moved", "{d}");
    assert!(!fx.path("src").exists());
}
