//! `rex-runner mcp`: the Model Context Protocol server (stdio, or Streamable HTTP at `/mcp`).
//!
//! Every `run_script` (and `check_script`) call runs in its own child process (this binary
//! re-executed as `rex-runner mcp-child`, see [`child`]), so a hostile script can crash,
//! exhaust or hang only its own run. This is the only code path that starts a Tokio runtime:
//! the plain CLI run path stays synchronous.

mod audit;
mod catalog;
pub(crate) mod child;
mod config;
mod http;
mod slots;
mod tools;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rex_runner::ExitStatus;
use tokio_util::sync::CancellationToken;

use self::audit::AuditWriter;
use self::child::ChildRegistry;
use self::config::PolicySet;

/// Options of `rex-runner mcp`.
#[derive(Debug, clap::Args)]
pub(crate) struct McpArgs {
    /// A named policy set, NAME=FILE (repeat for several sets; repeating a NAME combines its
    /// files). Tool calls name the set to run under with `policy`.
    #[arg(long = "policy", value_name = "NAME=FILE", required = true)]
    policy: Vec<String>,

    /// Serve Streamable HTTP at http(s)://ADDR:PORT/mcp instead of stdio (needs --agents).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,

    /// Shadow policies of a set, NAME=FILE (repeatable): every request of that set's runs is
    /// also decided under them, never enforced; divergences go to the log file's decisions
    /// (`shadow`) and the run document (`shadow_divergences`).
    #[arg(long = "shadow-policy", value_name = "NAME=FILE")]
    shadow_policy: Vec<String>,
    /// The agents file (HTTP): bearer-token digests and the policy sets each agent may use.
    #[arg(long, value_name = "AGENTS.toml")]
    agents: Option<PathBuf>,

    /// TLS certificate chain (PEM) for HTTPS.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,

    /// TLS private key (PEM) for HTTPS.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,

    /// Allow plain HTTP on a non-loopback address (tokens then travel in clear).
    #[arg(long)]
    insecure_listen: bool,

    /// A browser origin allowed to call the server (`https://host:port`); repeat. Requests
    /// carrying any other `Origin` are refused (requests without one are accepted).
    #[arg(long, value_name = "ORIGIN")]
    allowed_origin: Vec<String>,

    /// A `Host` (name or name:port) clients may use besides the loopback names and the
    /// listen address; repeat (DNS-rebinding protection).
    #[arg(long, value_name = "HOST")]
    allowed_host: Vec<String>,

    /// Largest per-call timeout, in seconds (a call's `timeout_seconds` is capped by it).
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    max_timeout: u64,

    /// Kernel sandbox of each run's process, derived from the call's policy set (see
    /// docs/SANDBOX.md).
    #[arg(long, value_enum, default_value = "best-effort")]
    sandbox: crate::SandboxArg,

    /// Timeout of a call that gives none, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    default_timeout: u64,

    /// Address-space cap of each run's process (RLIMIT_AS), in bytes or with a K/M/G suffix.
    #[arg(long, value_name = "BYTES", default_value = "1G", value_parser = parse_size)]
    max_memory: u64,

    /// Most runs at once (default: the number of cores); further calls wait.
    #[arg(long, value_name = "N")]
    max_concurrent: Option<usize>,

    /// Most runs one agent may have at once, unless its AGENTS.toml entry sets
    /// `max_concurrent` (default: half of --max-concurrent, at least 1).
    #[arg(long, value_name = "N")]
    agent_max_concurrent: Option<usize>,

    /// Most calls one caller may have waiting for a run slot; a further call is refused at
    /// once as busy (retry later).
    #[arg(long, value_name = "N", default_value_t = 16)]
    max_queue: usize,

    /// Most request bytes all waiting calls may hold together (K/M/G suffix); a call that
    /// would exceed it is refused at once as busy.
    #[arg(long, value_name = "BYTES", default_value = "64M", value_parser = parse_size)]
    max_queued_bytes: u64,

    /// HTTP: most sessions one agent may hold open, unless its AGENTS.toml entry sets
    /// `max_sessions` (a further initialize gets 429).
    #[arg(long, value_name = "N", default_value_t = 16)]
    max_sessions_per_agent: usize,

    /// HTTP: a session unused for this long is closed, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    session_idle_timeout: u64,

    /// HTTP: most connections at once (default: from the open-file limit, keeping a reserve
    /// for the runs' pipes and the log). When full, the oldest connection that has not yet
    /// sent an authenticated request is closed for a new one.
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,

    /// HTTP: how long a connection may take to send an authenticated request (and how long
    /// it may stay idle between requests), in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    request_timeout: u64,

    /// Largest HTTP request body, in bytes.
    #[arg(long, value_name = "BYTES", default_value = "20M", value_parser = parse_size)]
    max_body: u64,

    /// On SIGTERM or end of input: how long in-flight runs may finish before they are killed.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    grace: u64,

    /// Append one JSON line per tool call (caller, policy and hash, script hash, outcome,
    /// decisions) to this file.
    #[arg(long, value_name = "PATH")]
    log_file: Option<PathBuf>,

    /// Accept policy and agents files that group or others can write (refused by default).
    #[arg(long)]
    allow_writable_policy: bool,
}

use rex_runner::numbers::parse_size;

/// What every connection and call shares.
pub(crate) struct State {
    pub(crate) policies: BTreeMap<String, PolicySet>,
    pub(crate) exe: PathBuf,
    pub(crate) os_user: String,
    pub(crate) max_timeout_secs: u64,
    pub(crate) default_timeout_secs: u64,
    pub(crate) max_memory: u64,
    pub(crate) sandbox: crate::SandboxArg,
    pub(crate) slots: Arc<slots::Slots>,
    pub(crate) default_agent_concurrency: usize,
    pub(crate) children: ChildRegistry,
    pub(crate) audit: AuditWriter,
    pub(crate) shutdown: CancellationToken,
    /// Tool calls in progress (until their audit line is written).
    pub(crate) in_flight: std::sync::atomic::AtomicUsize,
}

/// One tool call in progress, counted in [`State::in_flight`] while it lives.
pub(crate) struct InFlight<'a>(&'a State);

impl<'a> InFlight<'a> {
    /// Counts a call until the returned value is dropped.
    pub(crate) fn enter(state: &'a State) -> Self {
        state
            .in_flight
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        InFlight(state)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0
            .in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// How long shutdown waits, once the runs are ended, for their calls to write their audit
/// lines (a run's end waits up to 2 s for the rest of its decision stream).
const AUDIT_DRAIN: Duration = Duration::from_secs(3);

fn fail(message: &str) -> ExitStatus {
    eprintln!("rex-runner mcp: {message}");
    ExitStatus::InvalidInput
}

/// Runs the server until SIGTERM/SIGINT (or, over stdio, the end of input).
pub(crate) fn main(args: McpArgs) -> ExitStatus {
    let policies = match config::load_policies(&args.policy, args.allow_writable_policy).and_then(
        |mut sets| {
            config::load_shadow_policies(&mut sets, &args.shadow_policy, args.allow_writable_policy)
                .map(|()| sets)
        },
    ) {
        Ok(p) => p,
        Err(config::ConfigError::Invalid { name, rendered }) => {
            eprintln!("rex-runner mcp: policy set {name:?} is invalid");
            eprintln!("{rendered}");
            return ExitStatus::InvalidInput;
        }
        Err(e) => return fail(&e.to_string()),
    };
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => return fail(&format!("cannot find this program's path: {e}")),
    };
    let os_user = match rust_sdk::runtime::identity::effective_user_principal() {
        Ok(p) => p.name().to_string(),
        Err(e) => return fail(&e.to_string()),
    };
    let audit = match &args.log_file {
        None => AuditWriter::default(),
        Some(p) => match AuditWriter::open(p) {
            Ok(w) => w,
            Err(e) => return fail(&format!("cannot open log file {}: {e}", p.display())),
        },
    };
    let http_setup = match &args.listen {
        None => {
            if args.agents.is_some() || args.tls_cert.is_some() {
                return fail("--agents and --tls-cert/--tls-key apply only with --listen");
            }
            None
        }
        Some(addr) => {
            let Some(agents_path) = &args.agents else {
                return fail(
                    "--listen needs --agents AGENTS.toml (who may call, with which token)",
                );
            };
            let agents = match config::load_agents(agents_path, &policies) {
                Ok(a) => a,
                Err(e) => return fail(&e.to_string()),
            };
            let tls = match (&args.tls_cert, &args.tls_key) {
                (Some(c), Some(k)) => match http::tls_acceptor(c, k) {
                    Ok(t) => Some(t),
                    Err(e) => return fail(&e),
                },
                _ => None,
            };
            if !addr.ip().is_loopback() && tls.is_none() && !args.insecure_listen {
                return fail(&format!(
                    "refusing to serve plain HTTP on non-loopback address {addr}: give \
                     --tls-cert and --tls-key, or --insecure-listen to accept tokens in clear"
                ));
            }
            Some((*addr, agents, tls))
        }
    };
    let max_concurrent = args
        .max_concurrent
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let default_agent_concurrency = args
        .agent_max_concurrent
        .unwrap_or(max_concurrent / 2)
        .clamp(1, max_concurrent);
    // Programs a run executes may leave its process tree (their own group or session); as
    // the subreaper, the server inherits them when their parents die and kills them.
    if let Err(e) = rust_sdk::runtime::child::become_subreaper() {
        return fail(&format!("cannot become the subreaper of the runs: {e}"));
    }
    let state = Arc::new(State {
        policies,
        exe,
        os_user,
        max_timeout_secs: args.max_timeout.max(1),
        default_timeout_secs: args.default_timeout.max(1),
        max_memory: args.max_memory,
        sandbox: args.sandbox,
        slots: slots::Slots::new(slots::SlotLimits {
            total: max_concurrent,
            queue_per_agent: args.max_queue,
            queued_bytes: usize::try_from(args.max_queued_bytes).unwrap_or(usize::MAX),
        }),
        default_agent_concurrency,
        children: ChildRegistry::default(),
        audit,
        shutdown: CancellationToken::new(),
        in_flight: std::sync::atomic::AtomicUsize::new(0),
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    let grace = Duration::from_secs(args.grace);
    let status = runtime.block_on(async {
        let served = match http_setup {
            None => serve_stdio(state.clone(), grace).await,
            Some((addr, agents, tls)) => {
                http::serve(
                    state.clone(),
                    http::HttpOptions {
                        addr,
                        agents: agents.into_iter().map(Arc::new).collect(),
                        tls,
                        allowed_origins: args.allowed_origin.clone(),
                        allowed_hosts: args.allowed_host.clone(),
                        max_body: usize::try_from(args.max_body).unwrap_or(usize::MAX),
                        max_sessions_per_agent: args.max_sessions_per_agent.max(1),
                        session_idle: Duration::from_secs(args.session_idle_timeout.max(1)),
                        max_connections: args.max_connections,
                        request_timeout: Duration::from_secs(args.request_timeout.max(1)),
                        reserve_fds: 64 + 8 * max_concurrent,
                    },
                )
                .await
            }
        };
        drain(&state, grace).await;
        served
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    // Nothing the runs started outlives the server.
    state.children.kill_all();
    status
}

/// Waits up to `grace` for in-flight runs, then ends the rest; the calls of the runs ended
/// so get [`AUDIT_DRAIN`] to write their audit lines (with the decisions their runs made)
/// before the runtime drops them.
async fn drain(state: &State, grace: Duration) {
    wait_for_runs(state, grace).await;
    state.slots.close();
    state.shutdown.cancel();
    let deadline = tokio::time::Instant::now() + AUDIT_DRAIN;
    while state.in_flight.load(std::sync::atomic::Ordering::SeqCst) > 0
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    state.children.kill_all();
}

/// Resolves on SIGTERM or SIGINT.
pub(crate) async fn terminated() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut t), Ok(mut i)) => {
            tokio::select! {
                _ = t.recv() => {}
                _ = i.recv() => {}
            }
        }
        _ => std::future::pending::<()>().await,
    }
}

/// The server's standard input, which cancels `eof` when it reaches its end.
struct EndOfInput<R> {
    inner: R,
    eof: CancellationToken,
}

impl<R: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for EndOfInput<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, std::task::Poll::Ready(Ok(())))
            && buf.filled().len() == before
            && buf.remaining() > 0
        {
            self.eof.cancel();
        }
        polled
    }
}

/// Over stdio, end of input ends the session: its in-flight calls are cancelled at once (no
/// one is left to read their results; their runs are killed with everything they started,
/// and their audit lines are written). SIGTERM/SIGINT first lets in-flight runs finish (up to
/// the grace period), so their results still reach the client, then ends the session.
async fn serve_stdio(state: Arc<State>, grace: Duration) -> ExitStatus {
    use rmcp::ServiceExt;
    let handler = tools::RexMcp {
        state: state.clone(),
        http: false,
    };
    let (input, output) = rmcp::transport::io::stdio_pipes();
    let eof = CancellationToken::new();
    let input = EndOfInput {
        inner: input,
        eof: eof.clone(),
    };
    let running = match handler.serve((input, output)).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rex-runner mcp: the stdio session failed to start: {e}");
            return ExitStatus::Internal;
        }
    };
    let token = running.cancellation_token();
    let waiting = running.waiting();
    tokio::pin!(waiting);
    tokio::select! {
        _ = &mut waiting => {}
        () = eof.cancelled() => {
            state.slots.close();
            state.shutdown.cancel();
            let _ = waiting.await;
        }
        () = terminated() => {
            wait_for_runs(&state, grace).await;
            token.cancel();
            let _ = waiting.await;
        }
    }
    ExitStatus::Success
}

/// Waits up to `grace` for the runs in flight to finish.
async fn wait_for_runs(state: &State, grace: Duration) {
    let deadline = tokio::time::Instant::now() + grace;
    while state.slots.running() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
