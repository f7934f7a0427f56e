//! The kernel backstop under Cedar: applies the [`SandboxLayers`] that
//! `rex_auth::sandbox_plan` derives from the loaded policies as Landlock domains.
//!
//! A Landlock domain confines the thread that applies it and every thread and process it
//! creates afterwards; threads that already exist are not confined. The runner therefore
//! applies its layer ([`apply`]) on the thread that then spawns the script's thread, before
//! the run, after it has read the script, the policies and the arguments. Every program a
//! script executes gets a second, stricter layer on its spawning thread ([`confine_child`]):
//! what the policies allow exactly, the runtime a program needs to start, the program itself,
//! and signals and abstract UNIX sockets scoped to its own domain. A bug in rust-sdk meets the
//! runner's layer; a program the policy lets a script run meets both.
//!
//! `unmount` cannot be done inside any domain: when a permit may allow it, a broker process
//! is forked before the domain is applied (see `broker`).
//!
//! Runner-internal: no script function reaches this module, and it acts only on the runner's
//! own process (like `monitor`, `identity` and `sched`).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, LandlockStatus, NetPort,
    PathBeneath, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope,
};
use rex_auth::sandbox_plan::{FsPlan, FsRights, FsRule, NetPlan, RuleOrigin, SandboxLayers};
use rustix::fs::{Mode, OFlags, ResolveFlags};

/// What the runner itself reads besides the plan: `/proc` and `/sys`, because rust-sdk reads
/// a process's attributes (and the system's) to build the Cedar request before it can be
/// decided, so a denial is a typed denial and an empty listing stays empty, not an error.
/// Programs the script executes do not get these: their layer is the exact one
/// ([`confine_child`]).
const RUNNER_READ: &[&str] = &["/proc", "/sys"];

/// The layer of executed programs, its rule anchors opened once when the runner's domain
/// was applied.
struct ExecLayer {
    rules: Vec<(OwnedFd, FsRights)>,
    ports: Option<Vec<u16>>,
}

static EXEC_LAYER: std::sync::OnceLock<ExecLayer> = std::sync::OnceLock::new();

/// The newest Landlock ABI whose rights Rex handles (tested on this ABI).
const TARGET_ABI: ABI = ABI::V7;

/// How the backstop is applied (`--sandbox`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SandboxMode {
    /// Not applied.
    Off,
    /// Applied where the kernel supports it; a kernel without Landlock runs unconfined and
    /// the report says so.
    #[default]
    BestEffort,
    /// The run is refused when the kernel cannot enforce the plan.
    Require,
}

impl SandboxMode {
    /// The CLI spelling (`off`, `best-effort`, `require`).
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxMode::Off => "off",
            SandboxMode::BestEffort => "best-effort",
            SandboxMode::Require => "require",
        }
    }
}

impl std::str::FromStr for SandboxMode {
    type Err = SandboxError;
    fn from_str(s: &str) -> Result<Self, SandboxError> {
        match s {
            "off" => Ok(SandboxMode::Off),
            "best-effort" => Ok(SandboxMode::BestEffort),
            "require" => Ok(SandboxMode::Require),
            other => Err(SandboxError::InvalidMode(other.to_string())),
        }
    }
}

/// Whether and how far the kernel enforces the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxStatus {
    /// `--sandbox off`.
    Off,
    /// The policies allow everything the sandbox could restrict: nothing to enforce.
    NothingToRestrict,
    /// The kernel has no (usable) Landlock: the run is not confined.
    NotEnforced,
    /// Some handled rights are not supported by this kernel's ABI.
    PartiallyEnforced,
    /// Every planned restriction is enforced.
    FullyEnforced,
}

impl SandboxStatus {
    /// A short name for the output document and the log.
    pub fn as_str(&self) -> &'static str {
        match self {
            SandboxStatus::Off => "off",
            SandboxStatus::NothingToRestrict => "nothing to restrict",
            SandboxStatus::NotEnforced => "not enforced",
            SandboxStatus::PartiallyEnforced => "partially enforced",
            SandboxStatus::FullyEnforced => "enforced",
        }
    }
}

/// What [`apply`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxReport {
    /// The mode asked for.
    pub mode: SandboxMode,
    /// The result.
    pub status: SandboxStatus,
    /// The kernel's Landlock ABI, when it has one.
    pub kernel_abi: Option<i32>,
    /// Whether file-system rights are restricted.
    pub fs_restricted: bool,
    /// Whether TCP connect is restricted.
    pub net_restricted: bool,
    /// Number of path rules added.
    pub fs_rules: usize,
    /// Whether `no_new_privs` is set.
    pub no_new_privs: bool,
    /// Path rules prepared for the layer of executed programs.
    pub exec_rules: usize,
    /// Whether the unmount broker runs (some permit may allow `unmount`).
    pub unmount_broker: bool,
}

/// Why the backstop could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// A `--sandbox` value that is not `off`, `best-effort` or `require`.
    #[error("invalid sandbox mode {0:?}: use off, best-effort or require")]
    InvalidMode(String),
    /// `require`, and the kernel cannot enforce the plan.
    #[error("the sandbox is required but {0}")]
    Required(String),
    /// Landlock refused the ruleset.
    #[error("cannot apply the Landlock sandbox: {0}")]
    Landlock(String),
    /// The unmount broker could not be started.
    #[error("cannot start the unmount broker: {0}")]
    Broker(String),
}

fn to_access(r: FsRights) -> BitFlags<AccessFs> {
    let mut a = BitFlags::<AccessFs>::empty();
    for (bit, flag) in [
        (FsRights::READ_FILE, AccessFs::ReadFile),
        (FsRights::READ_DIR, AccessFs::ReadDir),
        (FsRights::WRITE_FILE, AccessFs::WriteFile),
        (FsRights::TRUNCATE, AccessFs::Truncate),
        (FsRights::EXECUTE, AccessFs::Execute),
        (FsRights::MAKE_REG, AccessFs::MakeReg),
        (FsRights::MAKE_DIR, AccessFs::MakeDir),
        (FsRights::MAKE_SYM, AccessFs::MakeSym),
        (FsRights::REMOVE_FILE, AccessFs::RemoveFile),
        (FsRights::REMOVE_DIR, AccessFs::RemoveDir),
        (FsRights::REFER, AccessFs::Refer),
    ] {
        if r.contains(bit) {
            a |= flag;
        }
    }
    a
}

/// The file-system rights the ruleset handles: every right of [`TARGET_ABI`] except device
/// ioctls (terminal ioctls on inherited descriptors must keep working).
fn handled_fs() -> BitFlags<AccessFs> {
    AccessFs::from_all(TARGET_ABI) & !AccessFs::IoctlDev
}

/// Opens `path` as an `O_PATH` anchor for a rule and tells whether it is a directory.
/// `follow`: built-in paths follow symbolic links (`/lib` is one on merged-`/usr` systems);
/// a policy's path is opened with `RESOLVE_NO_SYMLINKS`, so a link anywhere in it fails.
fn anchor(path: &Path, follow: bool) -> Result<(OwnedFd, bool), rustix::io::Errno> {
    let flags = OFlags::PATH | OFlags::CLOEXEC;
    let fd = if follow {
        rustix::fs::open(path, flags, Mode::empty())?
    } else {
        rustix::fs::openat2(
            rustix::fs::CWD,
            path,
            flags | OFlags::NOFOLLOW,
            Mode::empty(),
            ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
        )?
    };
    let st = rustix::fs::fstat(&fd)?;
    let ty = rustix::fs::FileType::from_raw_mode(st.st_mode);
    if !follow && ty == rustix::fs::FileType::Symlink {
        // `O_PATH | O_NOFOLLOW` opens a link at the last component instead of failing.
        return Err(rustix::io::Errno::LOOP);
    }
    Ok((fd, ty == rustix::fs::FileType::Directory))
}

/// The rules to add, each on an open anchor, as each rule's origin says (see
/// [`RuleOrigin`]). One `open` and one `fstat` per rule.
fn rules_of(plan_rules: &[FsRule]) -> Vec<(OwnedFd, FsRights)> {
    let mut out = Vec::new();
    for r in plan_rules {
        let follow = r.origin == RuleOrigin::Runtime;
        let mut path = Path::new(&r.path);
        let found = loop {
            match anchor(path, follow) {
                Ok(a) => break Some(a),
                // Only the runner's layer widens a missing policy path to its nearest
                // existing ancestor (a file the script will create).
                Err(rustix::io::Errno::NOENT) if r.origin == RuleOrigin::Policy => {
                    match path.parent() {
                        Some(p) => path = p,
                        None => break None,
                    }
                }
                Err(_) => break None,
            }
        };
        let Some((fd, is_dir)) = found else {
            continue;
        };
        if is_dir && r.origin == RuleOrigin::ExactFile {
            // A file's rights on a directory would reach everything beneath it.
            continue;
        }
        // A rule on a file can carry only the rights that apply to files.
        let rights = if is_dir {
            r.rights
        } else {
            r.rights.file_rights()
        };
        if !rights.is_empty() {
            out.push((fd, rights));
        }
    }
    out
}

/// Whether the runner's layer would restrict nothing (every right everywhere, any port).
fn restricts_nothing(layers: &SandboxLayers) -> bool {
    let fs_all = match &layers.runner.fs {
        FsPlan::Unrestricted { .. } => true,
        FsPlan::Rules(_) => layers.runner.allows("/", FsRights::ALL),
    };
    fs_all && matches!(layers.runner.net, NetPlan::Unrestricted { .. })
}

/// Applies the runner's layer of `layers` to the calling thread (and what it creates from
/// now on) in `mode`, and prepares the layer of executed programs. When a permit may allow
/// `unmount`, the broker is forked first, deciding with `broker` (an authorizer of the same
/// policies; without one, unmounts are refused while the domain is in force).
///
/// Call it on the thread that will start the script's thread, after every input was read
/// and before the run. `Off` applies nothing. Under `Require`, a kernel that cannot enforce
/// the plan is an error and nothing runs.
pub fn apply(
    layers: &SandboxLayers,
    mode: SandboxMode,
    broker: Option<crate::SdkContext>,
) -> Result<SandboxReport, SandboxError> {
    let mut report = SandboxReport {
        mode,
        status: SandboxStatus::Off,
        kernel_abi: None,
        fs_restricted: false,
        net_restricted: false,
        fs_rules: 0,
        no_new_privs: false,
        exec_rules: 0,
        unmount_broker: false,
    };
    if mode == SandboxMode::Off {
        return Ok(report);
    }
    let exec_rules = match &layers.exec.fs {
        FsPlan::Rules(rules) => rules_of(rules),
        FsPlan::Unrestricted { .. } => Vec::new(),
    };
    report.exec_rules = exec_rules.len();
    let exec = ExecLayer {
        rules: exec_rules,
        ports: match &layers.exec.net {
            NetPlan::ConnectPorts(p) => Some(p.keys().copied().collect()),
            NetPlan::Unrestricted { .. } => None,
        },
    };
    let nothing = restricts_nothing(layers);
    if let (false, false, Some(ctx)) = (nothing, layers.unmount_broker.is_empty(), broker) {
        super::broker::start(ctx)?;
        report.unmount_broker = true;
    }
    let status = if nothing {
        None
    } else {
        let mut rules = match &layers.runner.fs {
            FsPlan::Rules(rules) => rules_of(rules),
            FsPlan::Unrestricted { .. } => Vec::new(),
        };
        rules.extend(
            RUNNER_READ
                .iter()
                .filter_map(|p| anchor(Path::new(p), true).ok())
                .map(|(fd, _)| (fd, FsRights::READ)),
        );
        let ports = match &layers.runner.net {
            NetPlan::ConnectPorts(p) => Some(p.keys().copied().collect::<Vec<u16>>()),
            NetPlan::Unrestricted { .. } => None,
        };
        report.fs_rules = rules.len();
        let status = restrict(&rules, &[], ports.as_deref(), false)?;
        report.net_restricted = ports.is_some();
        Some(status)
    };
    match status {
        None => {
            report.status = SandboxStatus::NothingToRestrict;
            // Programs are still confined to what the policies allow.
            if landlock_supported() {
                let _ = EXEC_LAYER.set(exec);
            }
        }
        Some(status) => {
            report.no_new_privs = status.no_new_privs;
            if let LandlockStatus::Available {
                effective_abi,
                kernel_abi,
            } = status.landlock
            {
                report.kernel_abi = kernel_abi.or(Some(effective_abi as i32));
            }
            report.status = match status.ruleset {
                RulesetStatus::FullyEnforced => SandboxStatus::FullyEnforced,
                RulesetStatus::PartiallyEnforced => SandboxStatus::PartiallyEnforced,
                RulesetStatus::NotEnforced => SandboxStatus::NotEnforced,
            };
            report.fs_restricted = report.status != SandboxStatus::NotEnforced;
            IN_FORCE.store(report.fs_restricted, std::sync::atomic::Ordering::Relaxed);
            report.net_restricted &= report.status != SandboxStatus::NotEnforced;
            if report.fs_restricted {
                let _ = EXEC_LAYER.set(exec);
            }
        }
    }
    if mode == SandboxMode::Require && report.status == SandboxStatus::NotEnforced {
        return Err(SandboxError::Required(
            "this kernel does not enforce Landlock (not compiled in, not enabled, or too old)"
                .into(),
        ));
    }
    Ok(report)
}

/// Whether the kernel has a usable Landlock.
fn landlock_supported() -> bool {
    Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(handled_fs())
        .and_then(|r| r.create())
        .is_ok_and(|created| Option::<OwnedFd>::from(created).is_some())
}

/// Whether the runner's domain is in force on this process (`unmount` then needs the broker).
pub(crate) fn in_force() -> bool {
    IN_FORCE.load(std::sync::atomic::Ordering::Relaxed)
}

static IN_FORCE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether executed programs get their own layer (the runner's sandbox is in force).
pub(crate) fn child_layer_active() -> bool {
    EXEC_LAYER.get().is_some()
}

/// The descriptors [`confine_child`] needs on a spawning thread that closes all others.
pub(crate) fn child_layer_fds() -> Vec<RawFd> {
    EXEC_LAYER
        .get()
        .map(|l| l.rules.iter().map(|(fd, _)| fd.as_raw_fd()).collect())
        .unwrap_or_default()
}

/// What an `execute` adds to the layer of executed programs for its own program.
pub(crate) struct ChildProgram<'a> {
    /// The program's open file: `execute` on it (Cedar allowed exactly this call).
    pub(crate) program: BorrowedFd<'a>,
    /// A script's interpreter that Cedar allows to be executed with the same context: it
    /// gets `execute`, and the script `read_file` (its interpreter reads it by name).
    pub(crate) interpreter: Option<BorrowedFd<'a>>,
}

/// Adds the layer of executed programs to the calling thread, which then only spawns the
/// program (`exec` calls it on its spawning thread): the exact rights of the policies, the
/// runtime a program needs to start, the program itself, TCP ports the policies allow to any
/// host, and signals and abstract UNIX sockets scoped to the program's domain. A no-op when
/// the runner's sandbox is not in force.
pub(crate) fn confine_child(child: &ChildProgram<'_>) -> Result<(), SandboxError> {
    let Some(layer) = EXEC_LAYER.get() else {
        return Ok(());
    };
    let mut extra: Vec<(BorrowedFd<'_>, FsRights)> = Vec::new();
    match child.interpreter {
        Some(interp) => {
            extra.push((child.program, FsRights::EXECUTE | FsRights::READ_FILE));
            extra.push((interp, FsRights::EXECUTE | FsRights::READ_FILE));
        }
        // An exec opens the program for reading, and Landlock checks both rights.
        None => extra.push((child.program, FsRights::EXECUTE | FsRights::READ_FILE)),
    }
    let fixed: Vec<(BorrowedFd<'_>, FsRights)> =
        layer.rules.iter().map(|(fd, r)| (fd.as_fd(), *r)).collect();
    restrict_fds(&fixed, &extra, layer.ports.as_deref(), true).map(|_| ())
}

/// Creates and applies one Landlock layer on the calling thread: file-system rules on open
/// anchors, TCP connect ports (`None`: not restricted), and with `scoped` signals and abstract
/// UNIX sockets confined to the domain.
fn restrict(
    fs_rules: &[(OwnedFd, FsRights)],
    extra: &[(BorrowedFd<'_>, FsRights)],
    ports: Option<&[u16]>,
    scoped: bool,
) -> Result<landlock::RestrictionStatus, SandboxError> {
    let fixed: Vec<(BorrowedFd<'_>, FsRights)> =
        fs_rules.iter().map(|(fd, r)| (fd.as_fd(), *r)).collect();
    restrict_fds(&fixed, extra, ports, scoped)
}

fn restrict_fds(
    fs_rules: &[(BorrowedFd<'_>, FsRights)],
    extra: &[(BorrowedFd<'_>, FsRights)],
    ports: Option<&[u16]>,
    scoped: bool,
) -> Result<landlock::RestrictionStatus, SandboxError> {
    let err = |e: landlock::RulesetError| SandboxError::Landlock(e.to_string());
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(handled_fs())
        .map_err(err)?;
    if ports.is_some() {
        ruleset = ruleset.handle_access(AccessNet::ConnectTcp).map_err(err)?;
    }
    if scoped {
        ruleset = ruleset
            .scope(Scope::Signal | Scope::AbstractUnixSocket)
            .map_err(err)?;
    }
    let mut created = ruleset.create().map_err(err)?;
    for (fd, rights) in fs_rules.iter().chain(extra) {
        created = created
            .add_rule(PathBeneath::new(fd, to_access(*rights) & handled_fs()))
            .map_err(err)?;
    }
    if let Some(ports) = ports {
        for p in ports {
            created = created
                .add_rule(NetPort::new(*p, AccessNet::ConnectTcp))
                .map_err(err)?;
        }
    }
    created.restrict_self().map_err(err)
}
