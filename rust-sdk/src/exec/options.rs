//! [`ExecuteOptions`]: the arguments, environment, identity, capabilities and limits of one
//! execution, and their validation.

use super::*;

/// What to run and how (REX's `ExecuteOptions`, plus a timeout and an output cap).
///
/// ```
/// use rust_sdk::exec::ExecuteOptions;
/// let opts = ExecuteOptions::new()
///     .arg("-n")
///     .arg_pair("--level", "3")
///     .env("LANG", "C");
/// assert_eq!(opts.argv(), vec!["-n", "--level", "3"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecuteOptions {
    /// The arguments, after `argv[0]`: `(x, None)` is a flag or positional, `(k, Some(v))` a
    /// key/value pair passed as two entries. This is also what the policy sees.
    pub args: Vec<(String, Option<String>)>,
    /// The complete environment of the child.
    pub env: BTreeMap<String, String>,
    /// Run as this user (name, or a numeric uid); `None` keeps the current user.
    pub user: Option<String>,
    /// Run as this group (name, or a numeric gid); `None` keeps the current group, or takes
    /// the user's primary group when `user` is set.
    pub group: Option<String>,
    /// Capabilities for the child (`CAP_NET_BIND_SERVICE`, …): it gets exactly these (see the
    /// module documentation). Empty: no capability is added (a uid-0 child is then plain root).
    pub capabilities: Vec<String>,
    /// Run the child in the PID namespace of this process.
    pub namespace_target_pid: Option<u32>,
    /// Kill the process group after this long.
    pub timeout: Duration,
    /// Cap on each captured stream, in bytes; never more than
    /// [`crate::SdkLimits::max_output_bytes`].
    pub max_output_bytes: Option<u64>,
}

impl Default for ExecuteOptions {
    fn default() -> Self {
        ExecuteOptions {
            args: Vec::new(),
            env: BTreeMap::new(),
            user: None,
            group: None,
            capabilities: Vec::new(),
            namespace_target_pid: None,
            timeout: DEFAULT_TIMEOUT,
            max_output_bytes: None,
        }
    }
}

impl ExecuteOptions {
    /// No arguments, an empty environment, the current identity, [`DEFAULT_TIMEOUT`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a flag or positional argument.
    #[must_use]
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.args.push((a.into(), None));
        self
    }

    /// Appends a key/value argument (two argv entries).
    #[must_use]
    pub fn arg_pair(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.args.push((k.into(), Some(v.into())));
        self
    }

    /// Sets one environment variable.
    #[must_use]
    pub fn env(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.env.insert(k.into(), v.into());
        self
    }

    /// Sets the user to run as.
    #[must_use]
    pub fn user(mut self, u: impl Into<String>) -> Self {
        self.user = Some(u.into());
        self
    }

    /// Sets the group to run as.
    #[must_use]
    pub fn group(mut self, g: impl Into<String>) -> Self {
        self.group = Some(g.into());
        self
    }

    /// Requests one capability for the child (see [`ExecuteOptions::capabilities`]).
    #[must_use]
    pub fn capability(mut self, c: impl Into<String>) -> Self {
        self.capabilities.push(c.into());
        self
    }

    /// Runs the child in the PID namespace of process `pid`.
    #[must_use]
    pub fn in_pid_namespace_of(mut self, pid: u32) -> Self {
        self.namespace_target_pid = Some(pid);
        self
    }

    /// Sets the timeout.
    #[must_use]
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Sets the per-stream output cap.
    #[must_use]
    pub fn max_output_bytes(mut self, n: u64) -> Self {
        self.max_output_bytes = Some(n);
        self
    }

    /// The argv the child gets after `argv[0]`.
    pub fn argv(&self) -> Vec<&str> {
        let mut out = Vec::with_capacity(self.args.len());
        for (k, v) in &self.args {
            out.push(k.as_str());
            if let Some(v) = v {
                out.push(v.as_str());
            }
        }
        out
    }

    /// Checks the options without touching the host.
    pub fn validate(&self) -> Result<(), ExecError> {
        let bad = |m: String| Err(ExecError::InvalidArguments(m));
        if self.args.len() > MAX_ARGS {
            return bad(format!("more than {MAX_ARGS} arguments"));
        }
        if self.env.len() > MAX_ENV {
            return bad(format!("more than {MAX_ENV} environment variables"));
        }
        let mut total = 0usize;
        for (k, v) in &self.args {
            if k.is_empty() {
                return bad("empty argument".into());
            }
            if k.contains('\0') {
                return bad("argument contains a NUL byte".into());
            }
            total = total.saturating_add(k.len() + 1);
            if let Some(v) = v {
                if v.is_empty() {
                    return bad(format!("empty value for argument `{k}`"));
                }
                if v.contains('\0') {
                    return bad(format!("value of argument `{k}` contains a NUL byte"));
                }
                total = total.saturating_add(v.len() + 1);
            }
        }
        for (k, v) in &self.env {
            if k.is_empty() || k.contains('=') || k.contains('\0') {
                return bad(format!("invalid environment variable name `{k}`"));
            }
            if v.is_empty() {
                return bad(format!("empty value for environment variable `{k}`"));
            }
            if v.contains('\0') {
                return bad(format!("value of `{k}` contains a NUL byte"));
            }
            total = total.saturating_add(k.len() + v.len() + 2);
        }
        // A policy must see exactly one description of argv: no two tags of the `Arguments`
        // entity may share a name (issue 19).
        rex_auth::check_arguments(&self.args)
            .map_err(|p| ExecError::InvalidArguments(p.to_string()))?;
        if total > MAX_ARG_BYTES {
            return bad(format!(
                "arguments and environment exceed {MAX_ARG_BYTES} bytes"
            ));
        }
        for (what, v) in [("user", &self.user), ("group", &self.group)] {
            if let Some(v) = v
                && (v.is_empty() || v.contains('\0'))
            {
                return bad(format!("invalid {what} name"));
            }
        }
        if self.timeout.is_zero() {
            return bad("the timeout must be positive".into());
        }
        if self.namespace_target_pid == Some(0) {
            return bad("the PID namespace target must be a process id, not 0".into());
        }
        caps::parse(&self.capabilities).map(|_| ())
    }
}
