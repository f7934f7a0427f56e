//! Process listing, signalling, lsof and fuser against real processes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::common;

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::user_ctx as ctx;
use rust_sdk::SdkContext;
use rust_sdk::process::{
    KillOptions, LsofOptions, ProcessErrorKind, ProcessManager, ProcessOptions, Signal,
};

fn spawn_sleep(arg: &str) -> Child {
    Command::new("sleep").arg(arg).spawn().unwrap()
}

/// Waits for the child to exit (bounded); returns whether it exited.
fn exited_within(child: &mut Child, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn cleanup(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

const ALLOW_LIST_ALL: &str =
    r#"permit(principal, action == process_system::Action::"list", resource);"#;

#[test]
fn list_allowed_sees_own_child() {
    let child = spawn_sleep("30");
    let c = ctx(ALLOW_LIST_ALL);
    let mut pm = ProcessManager::new();
    let list = pm.processes(&c).unwrap();
    assert_eq!(list.denied_count, 0);
    let me = list
        .processes
        .iter()
        .find(|p| p.pid == child.id())
        .expect("child listed");
    assert_eq!(me.name, "sleep");
    assert_eq!(me.command, "sleep 30");
    assert_eq!(me.ppid, std::process::id());
    // namespace information only with ProcessOptions::load_namespace_info
    assert_eq!(me.pid_namespace, None);
    assert!(me.memory_usage > 0);
    // a second call computes recent CPU from the previous sample
    let again = pm.processes(&c).unwrap();
    assert!(again.processes.iter().any(|p| p.pid == child.id()));
    cleanup(child);
}

#[test]
fn namespace_info_allowed_and_denied() {
    let child = spawn_sleep("32");
    let expected: u64 = std::fs::read_link(format!("/proc/{}/ns/pid", child.id()))
        .unwrap()
        .to_str()
        .unwrap()
        .trim_start_matches("pid:[")
        .trim_end_matches(']')
        .parse()
        .unwrap();
    let opts = ProcessOptions {
        load_namespace_info: true,
    };
    let find = |c: &SdkContext| {
        ProcessManager::new()
            .processes_with(c, &opts)
            .unwrap()
            .processes
            .into_iter()
            .find(|p| p.pid == child.id())
            .expect("child listed")
    };
    let allowed = ctx(&format!(
        r#"{ALLOW_LIST_ALL}
        permit(principal, action in [file_system::Action::"open", file_system::Action::"read"], resource in file_system::Dir::"/proc");"#
    ));
    assert_eq!(find(&allowed).pid_namespace, Some(expected));
    // `status` not readable: the process is still listed, without its namespace
    let denied = ctx(&format!(
        r#"{ALLOW_LIST_ALL}
        permit(principal, action in [file_system::Action::"open", file_system::Action::"read"], resource in file_system::Dir::"/proc")
        unless {{ resource == file_system::File::"/proc/{}/status" }};"#,
        child.id()
    ));
    assert_eq!(find(&denied).pid_namespace, None);
    let default = ProcessManager::new()
        .processes_with(&allowed, &ProcessOptions::default())
        .unwrap();
    assert!(default.processes.iter().all(|p| p.pid_namespace.is_none()));
    cleanup(child);
}

#[test]
fn list_filters_denied_processes_and_counts_them() {
    let child = spawn_sleep("31");
    // only processes named sleep are listable
    let c = ctx(
        r#"permit(principal, action == process_system::Action::"list", resource)
           when { resource.name == "sleep" };"#,
    );
    let list = ProcessManager::new().processes(&c).unwrap();
    assert!(list.processes.iter().all(|p| p.name == "sleep"));
    assert!(list.processes.iter().any(|p| p.pid == child.id()));
    // at least this test process itself was denied and counted
    assert!(list.denied_count >= 1);
    assert!(!list.processes.iter().any(|p| p.pid == std::process::id()));
    cleanup(child);
}

#[test]
fn list_denied_all_returns_nothing() {
    let c = ctx("");
    let list = ProcessManager::new().processes(&c).unwrap();
    assert!(list.processes.is_empty());
    assert!(list.denied_count >= 1);
}

#[test]
fn kill_by_pid_allowed_terminates() {
    let mut child = spawn_sleep("32");
    let c = ctx(
        r#"permit(principal, action == process_system::Action::"kill", resource)
           when { resource.name == "sleep" };"#,
    );
    let k = ProcessManager::new()
        .kill_pid(&c, child.id(), Signal::Term)
        .unwrap();
    assert_eq!(k.name, "sleep");
    assert!(exited_within(&mut child, Duration::from_secs(10)));
}

#[test]
fn kill_by_pid_denied_leaves_process_alive() {
    let mut child = spawn_sleep("33");
    // kill is allowed only for another name; interrupt is not granted at all
    let c = ctx(
        r#"permit(principal, action == process_system::Action::"kill", resource)
           when { resource.name == "not-sleep" };"#,
    );
    let mut pm = ProcessManager::new();
    let err = pm.kill_pid(&c, child.id(), Signal::Kill).unwrap_err();
    assert_eq!(err.kind(), ProcessErrorKind::PermissionDenied);
    // SIGHUP needs `interrupt`, which is denied even though `kill` would be allowed
    let c2 = ctx(r#"permit(principal, action == process_system::Action::"kill", resource);"#);
    let err = pm.kill_pid(&c2, child.id(), Signal::Hup).unwrap_err();
    assert_eq!(err.kind(), ProcessErrorKind::PermissionDenied);
    assert!(!exited_within(&mut child, Duration::from_millis(300)));
    assert!(child.try_wait().unwrap().is_none(), "still alive");
    cleanup(child);
}

#[test]
fn hup_uses_interrupt_action() {
    let mut child = spawn_sleep("34");
    let c = ctx(r#"permit(principal, action == process_system::Action::"interrupt", resource);"#);
    ProcessManager::new()
        .kill_pid(&c, child.id(), Signal::Hup)
        .unwrap();
    assert!(exited_within(&mut child, Duration::from_secs(10)));
}

#[test]
fn kill_by_command_match_allowed_and_denied() {
    let mut a = spawn_sleep("35.125");
    let mut b = spawn_sleep("35.25");
    let c = ctx(
        r#"permit(principal, action == process_system::Action::"kill", resource)
           when { resource.command == "sleep 35.125" };"#,
    );
    let opts = KillOptions {
        process_name: Some("sleep".into()),
        command: Some("sleep 35.".into()),
        signal: Signal::Term,
        ..Default::default()
    };
    let report = ProcessManager::new().kill(&c, &opts).unwrap();
    assert_eq!(report.killed.len(), 1);
    assert_eq!(report.killed[0].pid, a.id());
    assert!(report.denied_count >= 1);
    assert!(exited_within(&mut a, Duration::from_secs(10)));
    assert!(b.try_wait().unwrap().is_none(), "denied match still alive");
    cleanup(b);
}

#[test]
fn kill_validation() {
    let c = ctx(ALLOW_LIST_ALL);
    let mut pm = ProcessManager::new();
    let err = pm.kill(&c, &KillOptions::default()).unwrap_err();
    assert_eq!(err.kind(), ProcessErrorKind::ValidationError);
    assert!(Signal::from_number(2).is_err());
    assert_eq!(Signal::from_number(1).unwrap(), Signal::Hup);
    let err = pm.kill_pid(&c, u32::MAX - 1, Signal::Term).unwrap_err();
    assert_eq!(err.kind(), ProcessErrorKind::ProcessNotFound);
}

const PROC_DIR: &str = r#"permit(principal, action in [file_system::Action::"open", file_system::Action::"read"], resource == file_system::Dir::"/proc");"#;

/// `stat` and `open` on the temp dir, its parent and everything below: what authorizing a
/// `fuser`/`lsof` path needs (`open` on the parent, `stat` on the path).
fn path_grant(dir: &tempfile::TempDir) -> String {
    format!(
        r#"permit(principal, action in [file_system::Action::"open", file_system::Action::"stat"], resource in file_system::Dir::"{}");"#,
        dir.path().parent().unwrap().display()
    )
}

#[test]
fn lsof_and_fuser_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("held");
    std::fs::write(&path, b"x").unwrap();
    // a child that holds the file open on stdin
    let file = std::fs::File::open(&path).unwrap();
    let child = Command::new("sleep").arg("36").stdin(file).spawn().unwrap();
    let c = ctx(&format!(
        r#"{PROC_DIR}
        {}
        permit(principal, action == process_system::Action::"list_fds", resource)
           when {{ resource.name == "sleep" }};"#,
        path_grant(&dir)
    ));
    let mut pm = ProcessManager::new();
    let files = pm
        .list_open_files(
            &c,
            &LsofOptions {
                path: Some(path.clone()),
                ..Default::default()
            },
        )
        .unwrap();
    let hit = files
        .items
        .iter()
        .find(|f| f.pid == child.id())
        .expect("lsof finds the child");
    assert_eq!(hit.file_type, "REG");
    assert_eq!(hit.access, "r");
    // whole directory with include_subdir
    let files = pm
        .list_open_files(
            &c,
            &LsofOptions {
                path: Some(dir.path().to_path_buf()),
                include_subdir: true,
                pid: Some(child.id()),
            },
        )
        .unwrap();
    assert_eq!(files.items.len(), 1);
    let users = pm.processes_using_path(&c, &path).unwrap();
    let u = users.items.iter().find(|u| u.pid == child.id()).unwrap();
    assert_eq!(u.access, "f");
    assert_eq!(u.command, "sleep");
    assert!(users.denied_count >= 1, "this test process is denied");
    cleanup(child);
}

#[test]
fn lsof_and_fuser_denied() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("held");
    std::fs::write(&path, b"x").unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let child = Command::new("sleep").arg("37").stdin(file).spawn().unwrap();
    // /proc allowed but list_fds denied everywhere: nothing found, everything counted
    let c = ctx(&format!("{PROC_DIR}\n{}", path_grant(&dir)));
    let mut pm = ProcessManager::new();
    let files = pm.list_open_files(&c, &LsofOptions::default()).unwrap();
    assert!(files.items.is_empty());
    assert!(files.denied_count >= 2);
    let users = pm.processes_using_path(&c, &path).unwrap();
    assert!(users.items.is_empty());
    // /proc itself denied: an error
    let c = ctx(r#"permit(principal, action == process_system::Action::"list_fds", resource);"#);
    let err = pm.processes_using_path(&c, &path).unwrap_err();
    assert_eq!(err.kind(), ProcessErrorKind::PermissionDenied);
    let err = pm.list_open_files(&c, &LsofOptions::default()).unwrap_err();
    assert_eq!(err.kind(), ProcessErrorKind::PermissionDenied);
    cleanup(child);
}

/// Issue 19 (6): `fuser` and `lsof` canonicalized the script's path by name with no
/// file-system check, so success or failure told which names exist in a directory the policy
/// never opened. Now a denied path gets the same denial whether it exists or not, and a
/// symlink never leads the lookup elsewhere.
#[test]
fn fuser_and_lsof_do_not_probe_names() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().canonicalize().unwrap();
    std::fs::write(base.join("exists"), b"x").unwrap();
    std::fs::create_dir(base.join("subdir")).unwrap();
    let lsof = |pm: &mut ProcessManager, c: &SdkContext, p: &std::path::Path| {
        pm.list_open_files(
            c,
            &LsofOptions {
                path: Some(p.to_path_buf()),
                ..Default::default()
            },
        )
    };
    let mut pm = ProcessManager::new();
    // No file-system grant at all: every name is denied alike.
    let c = ctx(&format!(
        r#"{PROC_DIR}
        permit(principal, action == process_system::Action::"list_fds", resource);"#
    ));
    for name in ["exists", "missing", "subdir"] {
        let p = base.join(name);
        let e = pm.processes_using_path(&c, &p).unwrap_err();
        assert_eq!(
            e.kind(),
            ProcessErrorKind::PermissionDenied,
            "fuser {name}: {e:?}"
        );
        let e = lsof(&mut pm, &c, &p).unwrap_err();
        assert_eq!(
            e.kind(),
            ProcessErrorKind::PermissionDenied,
            "lsof {name}: {e:?}"
        );
    }
    // `stat` on files only: a directory and a missing name answer the same denial.
    let c = ctx(&format!(
        r#"{PROC_DIR}
        permit(principal, action == process_system::Action::"list_fds", resource);
        permit(principal, action == file_system::Action::"open", resource == file_system::Dir::"{d}");
        permit(principal, action == file_system::Action::"stat", resource is file_system::File in file_system::Dir::"{d}");"#,
        d = base.display()
    ));
    let mut denial = |p: &std::path::Path| pm.processes_using_path(&c, p).unwrap_err().to_string();
    let missing = denial(&base.join("missing"));
    let subdir = denial(&base.join("subdir"));
    assert!(missing.starts_with("permission denied"), "{missing}");
    assert_eq!(
        missing.replace("missing", "NAME"),
        subdir.replace("subdir", "NAME"),
        "the same denial for a missing name and an existing directory"
    );
    assert!(pm.processes_using_path(&c, &base.join("exists")).is_ok());
    // A symlink in the path is refused without looking at its target.
    std::os::unix::fs::symlink("/etc", base.join("link")).unwrap();
    let c = ctx(&format!(
        r#"{PROC_DIR}
        permit(principal, action == process_system::Action::"list_fds", resource);
        permit(principal, action in [file_system::Action::"open", file_system::Action::"stat"], resource);"#
    ));
    for name in ["passwd", "no-such-file"] {
        let p = base.join("link").join(name);
        let e = pm.processes_using_path(&c, &p).unwrap_err();
        assert_ne!(e.kind(), ProcessErrorKind::PermissionDenied, "{e:?}");
        let e2 = lsof(&mut pm, &c, &p).unwrap_err();
        assert_eq!(
            e.to_string().replace(name, "N"),
            e2.to_string().replace(name, "N")
        );
    }
    let a = pm
        .processes_using_path(&c, &base.join("link").join("passwd"))
        .unwrap_err()
        .to_string();
    let b = pm
        .processes_using_path(&c, &base.join("link").join("no-such-file"))
        .unwrap_err()
        .to_string();
    assert_eq!(a.replace("passwd", "N"), b.replace("no-such-file", "N"));
    let e = pm.processes_using_path(&c, &base.join("link")).unwrap_err();
    assert_eq!(e.kind(), ProcessErrorKind::ValidationError, "{e:?}");
}
