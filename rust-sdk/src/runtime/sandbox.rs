//! The kernel backstop under Cedar: applies a [`SandboxPlan`] (derived from the loaded
//! policies by `rex_auth::sandbox_plan`) as a Landlock domain on the calling thread.
//!
//! A Landlock domain confines the thread that applies it and every thread and process it
//! creates afterwards; threads that already exist are not confined. The runner therefore
//! applies it on the thread that then spawns the script's thread, before the run, after it
//! has read the script, the policies and the arguments. Programs a script executes inherit
//! the domain, so a program the policy lets the script run cannot read or write outside what
//! the policy could ever allow, and a bug in rust-sdk meets the kernel beneath it.
//!
//! Runner-internal: no script function reaches this module, and it acts only on the runner's
//! own process (like `monitor`, `identity` and `sched`).

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, LandlockStatus, NetPort,
    PathBeneath, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus,
};
use rex_auth::sandbox_plan::{FsPlan, FsRights, NetPlan, SandboxPlan};
use rustix::fs::{Mode, OFlags};

/// What the runner itself reads besides the plan: `/proc` and `/sys`, because rust-sdk reads
/// a process's attributes (and the system's) to build the Cedar request before it can be
/// decided, so a denial is a typed denial and an empty listing stays empty, not an error.
/// Programs the script executes do not get these: their spawning thread adds a second,
/// stricter layer with the plan alone ([`confine_child`]).
const RUNNER_READ: &[&str] = &["/proc", "/sys"];

/// The plan of the domain in force, for the extra layer of executed programs.
static CHILD_PLAN: std::sync::OnceLock<SandboxPlan> = std::sync::OnceLock::new();

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

/// The interpreter named by a script's `#!` line, if `path` is one.
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
fn shebang_interpreter(path: &Path) -> Option<PathBuf> {
    let mut head = [0u8; 256];
    let n = std::fs::File::open(path).ok()?.read(&mut head).ok()?;
    let head = head.get(..n)?;
    let rest = head.strip_prefix(b"#!")?;
    let line = rest.split(|b| *b == b'\n').next()?;
    let text = std::str::from_utf8(line).ok()?.trim();
    let interp = text.split_whitespace().next()?;
    interp.starts_with('/').then(|| PathBuf::from(interp))
}

/// Opens `path` as an `O_PATH` anchor for a rule (following symlinks, as Landlock resolves
/// rule paths) and tells whether it is a directory.
fn anchor(path: &Path) -> Option<(OwnedFd, bool)> {
    let fd = rustix::fs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty()).ok()?;
    let st = rustix::fs::fstat(&fd).ok()?;
    let is_dir = rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory;
    Some((fd, is_dir))
}

/// The rules to add, each on an open anchor: each planned path that exists (a policy's path
/// that does not exist yet goes to its nearest existing ancestor), plus the interpreters of
/// executable scripts. One `open` and one `fstat` per rule.
fn rules_of(plan_rules: &[rex_auth::sandbox_plan::FsRule]) -> Vec<(OwnedFd, FsRights)> {
    let mut out = Vec::new();
    for r in plan_rules {
        let mut path = PathBuf::from(&r.path);
        let found = loop {
            if let Some(a) = anchor(&path) {
                break Some(a);
            }
            if !r.from_policy {
                break None;
            }
            match path.parent() {
                Some(p) => path = p.to_path_buf(),
                None => break None,
            }
        };
        let Some((fd, is_dir)) = found else {
            continue;
        };
        // A rule on a file can carry only the rights that apply to files.
        let mut rights = r.rights;
        if !is_dir {
            rights = rights.file_rights();
            if rights.contains(FsRights::EXECUTE)
                && let Some(interp) = shebang_interpreter(&path)
                && let Some((ifd, _)) = anchor(&interp)
            {
                out.push((ifd, FsRights::EXECUTE | FsRights::READ_FILE));
            }
        }
        if !rights.is_empty() {
            out.push((fd, rights));
        }
    }
    out
}

/// Applies `plan` to the calling thread (and what it creates from now on) in `mode`.
///
/// Call it on the thread that will start the script's thread, after every input was read
/// and before the run. `Off` applies nothing. Under `Require`, a kernel that cannot enforce
/// the plan is an error and nothing runs.
pub fn apply(plan: &SandboxPlan, mode: SandboxMode) -> Result<SandboxReport, SandboxError> {
    let mut report = SandboxReport {
        mode,
        status: SandboxStatus::Off,
        kernel_abi: None,
        fs_restricted: false,
        net_restricted: false,
        fs_rules: 0,
        no_new_privs: false,
    };
    if mode == SandboxMode::Off {
        return Ok(report);
    }
    let fs_rules = match &plan.fs {
        FsPlan::Rules(rules) => Some(rules_of(rules)),
        FsPlan::Unrestricted { .. } => None,
    };
    let ports = match &plan.net {
        NetPlan::ConnectPorts(p) => Some(p.keys().copied().collect::<Vec<u16>>()),
        NetPlan::Unrestricted { .. } => None,
    };
    if fs_rules.is_none() && ports.is_none() {
        report.status = SandboxStatus::NothingToRestrict;
        return Ok(report);
    }
    let runner_rules = fs_rules.map(|mut rules| {
        rules.extend(
            RUNNER_READ
                .iter()
                .filter_map(|p| anchor(Path::new(p)))
                .map(|(fd, _)| (fd, FsRights::READ)),
        );
        rules
    });
    let status = restrict(
        runner_rules.as_deref(),
        ports.as_deref(),
        &mut report.fs_rules,
    )?;
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
    report.fs_restricted = runner_rules.is_some() && report.status != SandboxStatus::NotEnforced;
    report.net_restricted = ports.is_some() && report.status != SandboxStatus::NotEnforced;
    if report.fs_restricted {
        let _ = CHILD_PLAN.set(plan.clone());
    }
    if mode == SandboxMode::Require && report.status == SandboxStatus::NotEnforced {
        return Err(SandboxError::Required(
            "this kernel does not enforce Landlock (not compiled in, not enabled, or too old)"
                .into(),
        ));
    }
    Ok(report)
}

/// Adds the plan's layer without the runner's own needs ([`RUNNER_READ`]) to the calling
/// thread, which then only spawns a program (`exec` calls it on its spawning thread): the
/// program gets exactly what the policies could allow. A no-op when no file-system sandbox
/// is in force.
pub(crate) fn confine_child() -> Result<(), SandboxError> {
    let Some(plan) = CHILD_PLAN.get() else {
        return Ok(());
    };
    let FsPlan::Rules(rules) = &plan.fs else {
        return Ok(());
    };
    let mut n = 0;
    restrict(Some(&rules_of(rules)), None, &mut n).map(|_| ())
}

/// Creates and applies one Landlock layer on the calling thread.
fn restrict(
    fs_rules: Option<&[(OwnedFd, FsRights)]>,
    ports: Option<&[u16]>,
    added: &mut usize,
) -> Result<landlock::RestrictionStatus, SandboxError> {
    let err = |e: landlock::RulesetError| SandboxError::Landlock(e.to_string());
    let mut ruleset = Ruleset::default().set_compatibility(CompatLevel::BestEffort);
    if fs_rules.is_some() {
        ruleset = ruleset.handle_access(handled_fs()).map_err(err)?;
    }
    if ports.is_some() {
        ruleset = ruleset.handle_access(AccessNet::ConnectTcp).map_err(err)?;
    }
    let mut created = ruleset.create().map_err(err)?;
    if let Some(rules) = fs_rules {
        for (fd, rights) in rules {
            created = created
                .add_rule(PathBeneath::new(fd, to_access(*rights) & handled_fs()))
                .map_err(err)?;
            *added += 1;
        }
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
