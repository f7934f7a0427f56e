//! Metadata about every script function, for `--print-functions`.

/// One registered script function (one entry per name; overloads share the signature text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FunctionInfo {
    /// The script name.
    pub name: &'static str,
    /// A human-readable signature (`[flags]` marks the optional leading flag array).
    pub signature: &'static str,
    /// The Cedar actions (`namespace::action`) the function can check.
    pub actions: &'static [&'static str],
    /// The rhai-sdk module it belongs to (`io`, `process`, ...).
    pub module: &'static str,
}

impl FunctionInfo {
    /// Builds an entry (used in `const` tables).
    pub const fn new(
        name: &'static str,
        signature: &'static str,
        actions: &'static [&'static str],
        module: &'static str,
    ) -> Self {
        Self {
            name,
            signature,
            actions,
            module,
        }
    }
}

/// Every script function rhai-sdk can register, sorted by module then name.
pub fn function_catalog() -> Vec<FunctionInfo> {
    let mut all: Vec<FunctionInfo> = [
        crate::io::FUNCTIONS,
        crate::exec::FUNCTIONS,
        crate::archive::FUNCTIONS,
        crate::io_ext::FUNCTIONS,
        crate::process::FUNCTIONS,
        crate::system::FUNCTIONS,
        crate::network::FUNCTIONS,
        crate::disk::FUNCTIONS,
        crate::sysctl::FUNCTIONS,
        crate::utils::FUNCTIONS,
        crate::systemd::FUNCTIONS,
    ]
    .concat();
    all.sort_by(|a, b| (a.module, a.name).cmp(&(b.module, b.name)));
    all
}
