//! The sandboxed engine: built once, then used for many runs (from many threads).

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rhai::module_resolvers::StaticModuleResolver;
use rhai::packages::{Package, StandardPackage};
use rhai::{AST, Dynamic, Engine, EvalAltResult, Module, NativeCallContext, Position, Scope};

/// A module shared between engines (`rhai`'s own `SharedModule`).
pub type SharedModule = std::sync::Arc<Module>;

use crate::args::ScriptArguments;
use crate::denial::{DenialToken, TerminationToken, error_map, script_error};
use crate::error::{RunError, from_eval_error, from_parse_error};
use crate::extensions::RunExtensions;
use crate::limits::{CancelHandle, Limits};
use crate::outcome::{RunOutcome, RunStatus, Timings};
use crate::render::{ValueProblem, check_value};
use crate::state::{self, LogLevel, RunGuard, RunState, push_log};

/// The final value rendered (Rhai text, JSON), or why it cannot be.
type Rendered = Result<(String, serde_json::Value), ValueProblem>;

/// What one evaluation produced: the rendered value, a Rhai error, or a panic payload.
type EvalResult = Result<Result<Rendered, Box<rhai::EvalAltResult>>, Box<dyn Any + Send + 'static>>;

/// The longest single wait of `sleep` between two checks of the cancel flag and deadline.
const SLEEP_SLICE: Duration = Duration::from_millis(20);

/// REX scripts have Rhai's `sleep(seconds)` (standard package), which blocks the thread for
/// the whole time, past the timeout and a cancellation. This one waits in slices of at most
/// [`SLEEP_SLICE`] (parking the thread, no host I/O) and ends the run with the limit
/// (`timeout` or `cancelled`) as soon as the run is cancelled or reaches its deadline.
/// `None` sleeps until then.
fn interruptible_sleep(
    duration: Option<Duration>,
    pos: Position,
) -> Result<(), Box<EvalAltResult>> {
    let start = Instant::now();
    loop {
        if let Some(kind) = state::current_interruption() {
            return Err(Box::new(EvalAltResult::ErrorTerminated(
                Dynamic::from(TerminationToken(kind)),
                pos,
            )));
        }
        let slice = match duration {
            None => SLEEP_SLICE,
            Some(d) => match d.checked_sub(start.elapsed()) {
                Some(left) if !left.is_zero() => left.min(SLEEP_SLICE),
                _ => return Ok(()),
            },
        };
        std::thread::park_timeout(slice);
    }
}

/// `sleep(seconds)` with an integer: nothing for `<= 0` (as Rhai).
fn sleep_secs(seconds: i64) -> Option<Duration> {
    Some(Duration::from_secs(u64::try_from(seconds).unwrap_or(0)))
}

/// `sleep(seconds)` with a float: nothing for NaN, zero or negative (as Rhai); until the run
/// ends for infinity or a duration too long to represent.
fn sleep_float(seconds: f64) -> Option<Duration> {
    if seconds.is_nan() || seconds <= 0.0 {
        return Some(Duration::ZERO);
    }
    Duration::try_from_secs_f64(seconds).ok()
}

/// Symbols scripts may not use.
pub(crate) const DISABLED_SYMBOLS: &[&str] = &["eval", "print"];

/// The standard package with every function registered, built once per process and shared
/// by every engine that asks for [`StandardLibrary::Eager`].
static STANDARD: OnceLock<StandardPackage> = OnceLock::new();

/// The standard package whose functions are looked up when first called, built once per
/// process and shared by every engine that asks for [`StandardLibrary::Lazy`].
static STANDARD_LAZY: OnceLock<StandardPackage> = OnceLock::new();

/// How an engine holds Rhai's standard library. Scripts see the same functions either way;
/// only the cost and its timing differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StandardLibrary {
    /// Every function registered up front, once per process (about a millisecond, in a cold
    /// process), so that every call resolves through a hash table. Best for a process that
    /// runs many scripts: the default.
    #[default]
    Eager,
    /// Functions found in Rhai's plugin manifests when a run first calls them (the result is
    /// cached for the run). Best for a process that runs one script, such as the CLI: its
    /// start-up skips registering hundreds of functions the script does not call.
    Lazy,
}

/// Composes a [`RexEngine`]: limits, native functions and modules.
///
/// Sandbox settings (disabled symbols, module resolver, callbacks, limits) are applied in
/// [`RexEngineBuilder::build`], after every registration, so a registration closure cannot
/// weaken them by accident.
pub struct RexEngineBuilder {
    engine: Engine,
    limits: Limits,
    importable: StaticModuleResolver,
    log_functions: bool,
}

/// The declaration of one of the engine's own functions (logging, `sleep`): module `runner`,
/// no host access.
fn declared(name: &str, params: &[&str], returns: &str, doc: &str) -> rhai::FuncRegistration {
    crate::catalog::declaration(
        name,
        params,
        returns,
        "runner",
        crate::HostAccess::None,
        doc,
    )
}

impl RexEngineBuilder {
    fn new(standard: StandardLibrary) -> Self {
        let mut engine = Engine::new_raw();
        match standard {
            StandardLibrary::Eager => STANDARD.get_or_init(StandardPackage::new),
            StandardLibrary::Lazy => STANDARD_LAZY.get_or_init(StandardPackage::new_lazy),
        }
        .register_into_engine(&mut engine);
        engine.register_type_with_name::<DenialToken>("DenialToken");
        engine.register_fn("to_string", |t: &mut DenialToken| t.to_string());
        engine.register_fn("to_debug", |t: &mut DenialToken| format!("{t:?}"));
        // Rhai's `Map.to_json()` serialises with serde, which follows shared cells without
        // bound (a cyclic map overflows the stack). Registered first, so an embedder's own
        // `to_json` (rhai-sdk's) replaces it.
        engine.register_fn(
            "to_json",
            |ctx: NativeCallContext, map: &mut rhai::Map| -> Result<String, Box<EvalAltResult>> {
                let value = Dynamic::from_map(map.clone());
                let format_error = |message: &str| {
                    script_error(
                        error_map("FormatError", message, "CommonUtilsErrorKind", None),
                        ctx.call_position(),
                    )
                };
                check_value(&value).map_err(|p| format_error(&format!("to_json: {p}")))?;
                serde_json::to_string(&value).map_err(|e| format_error(&e.to_string()))
            },
        );
        Self {
            engine,
            limits: Limits::default(),
            importable: StaticModuleResolver::new(),
            log_functions: true,
        }
    }

    /// Sets the limits (default: [`Limits::default`]).
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Runs `f` on the Rhai engine, to register native functions and types.
    #[must_use]
    pub fn register(mut self, f: impl FnOnce(&mut Engine)) -> Self {
        f(&mut self.engine);
        self
    }

    /// Registers a module whose functions are global (callable without a namespace).
    #[must_use]
    pub fn global_module(mut self, module: SharedModule) -> Self {
        self.engine.register_global_module(module);
        self
    }

    /// Registers a module under a static namespace (`name::f()`), without `import`.
    #[must_use]
    pub fn static_module(mut self, name: &str, module: SharedModule) -> Self {
        self.engine.register_static_module(name, module);
        self
    }

    /// Makes a module available to `import "name" as x;`. Only modules registered here can be
    /// imported; nothing is ever loaded from the file system.
    #[must_use]
    pub fn importable_module(mut self, name: &str, module: SharedModule) -> Self {
        self.importable
            .insert(name, std::sync::Arc::unwrap_or_clone(module));
        self
    }

    /// Whether to register `trace`, `info`, `warn` and `error` (`fn(&str)`) that add script
    /// logs (default: on).
    #[must_use]
    pub fn log_functions(mut self, enabled: bool) -> Self {
        self.log_functions = enabled;
        self
    }

    /// Applies the sandbox settings and limits, and returns the engine.
    pub fn build(self) -> RexEngine {
        let Self {
            mut engine,
            limits,
            importable,
            log_functions,
        } = self;

        if log_functions {
            for (name, level, doc) in [
                (
                    "trace",
                    LogLevel::Trace,
                    "Appends a TRACE entry to the run's logs.",
                ),
                (
                    "info",
                    LogLevel::Info,
                    "Appends an INFO entry to the run's logs.",
                ),
                (
                    "warn",
                    LogLevel::Warn,
                    "Appends a WARN entry to the run's logs.",
                ),
                (
                    "error",
                    LogLevel::Error,
                    "Appends an ERROR entry to the run's logs.",
                ),
            ] {
                declared(name, &["message: String"], "", doc).register_into_engine(
                    &mut engine,
                    move |ctx: NativeCallContext, message: &str| {
                        push_log(level, message, ctx.call_position().line());
                    },
                );
            }
        }

        // Registered last, into the engine's own namespace, which Rhai searches before the
        // standard package: the blocking `sleep` of the package is never reached.
        const SLEEP: &str =
            "Waits this many seconds; a cancellation or the run's timeout ends the wait.";
        declared("sleep", &["seconds: int"], "", SLEEP).register_into_engine(
            &mut engine,
            |ctx: NativeCallContext, seconds: i64| {
                interruptible_sleep(sleep_secs(seconds), ctx.call_position())
            },
        );
        declared("sleep", &["seconds: float"], "", SLEEP).register_into_engine(
            &mut engine,
            |ctx: NativeCallContext, seconds: f64| {
                interruptible_sleep(sleep_float(seconds), ctx.call_position())
            },
        );

        for symbol in DISABLED_SYMBOLS {
            engine.disable_symbol(*symbol);
        }
        engine.set_module_resolver(importable);
        engine.set_strict_variables(true);
        engine.on_print(|_| {});
        engine.on_debug(|text, _source, pos| {
            let text = text
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .unwrap_or(text);
            push_log(LogLevel::Debug, text, pos.line());
        });
        // After every operation: the memory budget (cheap); cancel and clock less often.
        engine
            .on_progress(|ops| state::poll(ops).map(|kind| Dynamic::from(TerminationToken(kind))));

        // Per-value size limits checked in O(1) before a value grows (issue 14).
        crate::growth::register(&mut engine, &limits);
        // Results that can outgrow their inputs, built within the memory budget (issue 29).
        crate::budget::register(&mut engine);
        engine
            .set_max_operations(limits.max_operations)
            .set_max_call_levels(limits.max_call_depth)
            .set_max_expr_depths(limits.max_expr_depth, limits.max_function_expr_depth);
        if !crate::memory::counting_allocator_installed() {
            // No exact memory count: keep Rhai's own data-size checks as the estimate (they
            // walk arrays and maps after each call, so growing an array is quadratic).
            engine
                .set_max_string_size(limits.max_string_size)
                .set_max_array_size(limits.max_array_size)
                .set_max_map_size(limits.max_map_size);
        }
        engine
            .set_max_variables(limits.max_variables)
            .set_max_functions(limits.max_functions)
            .set_max_modules(limits.max_modules);

        RexEngine { engine, limits }
    }
}

/// Per-run options.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Cancels the run from another thread. Default: a fresh, never cancelled handle.
    pub cancel: Option<CancelHandle>,
    /// Overrides [`Limits::timeout`] for this run.
    pub timeout: Option<Duration>,
    /// Values the embedder's native functions can reach during this run (see
    /// [`crate::run_extension`]).
    pub extensions: RunExtensions,
    /// Work for the calling thread while the script runs on its own thread (e.g. sampling
    /// the process's memory), instead of a thread of its own.
    pub while_running: Option<WhileRunning>,
}

/// What the calling thread does while it waits for the script's thread: `tick` every `every`,
/// until the run ends (never after it). Not called when the script runs on the calling
/// thread ([`Limits::stack_size`] `0`).
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
/// use rex_core::{RexEngine, RunOptions, ScriptArguments, WhileRunning};
///
/// let ticks = Arc::new(AtomicU32::new(0));
/// let counter = ticks.clone();
/// let options = RunOptions {
///     while_running: Some(WhileRunning {
///         every: Duration::from_millis(5),
///         tick: Arc::new(move || {
///             counter.fetch_add(1, Ordering::Relaxed);
///         }),
///     }),
///     ..RunOptions::default()
/// };
/// let engine = RexEngine::builder().build();
/// let out = engine.run_with("sleep(0.05); 1", &ScriptArguments::new(), &options);
/// assert!(out.error.is_none());
/// assert!(ticks.load(Ordering::Relaxed) >= 2);
/// ```
#[derive(Clone)]
pub struct WhileRunning {
    /// How often `tick` is called.
    pub every: Duration,
    /// The work.
    pub tick: std::sync::Arc<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for WhileRunning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhileRunning")
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

/// A compiled script, reusable for many runs with arguments of the same names.
#[derive(Debug, Clone)]
pub struct CompiledScript {
    ast: AST,
    compile_time: Duration,
}

impl CompiledScript {
    /// The Rhai AST.
    pub fn ast(&self) -> &AST {
        &self.ast
    }

    /// How long compiling took.
    pub fn compile_time(&self) -> Duration {
        self.compile_time
    }
}

/// The sandboxed Rhai engine. `Send + Sync`: one instance can serve runs on many threads.
///
/// Guarantees: no file module resolver (only [`RexEngineBuilder::importable_module`]s can be
/// imported), `eval` and `print` disabled, `debug` captured as a log, every [`Limits`] entry
/// enforced, panics of native functions turned into [`RunError::Internal`].
///
/// Stack: each run is evaluated on its own thread with a [`Limits::stack_size`] stack (the
/// engine and AST are shared, not copied), so deep recursion inside Rhai cannot overflow the
/// caller's stack.
pub struct RexEngine {
    engine: Engine,
    limits: Limits,
}

impl std::fmt::Debug for RexEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RexEngine")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("native function panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("native function panicked: {s}")
    } else {
        "native function panicked".to_string()
    }
}

impl RexEngine {
    /// Starts building an engine, with the standard library registered up front
    /// ([`StandardLibrary::Eager`]).
    pub fn builder() -> RexEngineBuilder {
        RexEngineBuilder::new(StandardLibrary::Eager)
    }

    /// Starts building an engine that holds the standard library as `standard` says.
    ///
    /// ```
    /// use rex_core::{RexEngine, ScriptArguments, StandardLibrary};
    /// let engine = RexEngine::builder_with(StandardLibrary::Lazy).build();
    /// let out = engine.run("let a = [3, 1, 2]; a.sort(); a", &ScriptArguments::default());
    /// assert_eq!(out.output, "[1, 2, 3]");
    /// ```
    pub fn builder_with(standard: StandardLibrary) -> RexEngineBuilder {
        RexEngineBuilder::new(standard)
    }

    /// The limits this engine enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The underlying Rhai engine (read-only).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Validates the arguments and compiles the script against their names, without running
    /// it (`--check`). The result can be run many times with [`RexEngine::run_compiled`].
    pub fn compile(
        &self,
        script: &str,
        args: &ScriptArguments,
    ) -> Result<CompiledScript, RunError> {
        args.validate(&self.limits)?;
        let mut scope = Scope::with_capacity(args.len());
        for name in args.values.keys() {
            scope.push_dynamic(name.as_str(), Dynamic::UNIT);
        }
        let start = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| {
            self.engine.compile_with_scope(&scope, script)
        }));
        let compile_time = start.elapsed();
        match result {
            Ok(Ok(ast)) => Ok(CompiledScript { ast, compile_time }),
            Ok(Err(err)) => Err(from_parse_error(&err)),
            Err(payload) => Err(RunError::Internal {
                message: panic_message(&*payload),
            }),
        }
    }

    /// Compiles and runs a script with default [`RunOptions`].
    pub fn run(&self, script: &str, args: &ScriptArguments) -> RunOutcome {
        self.run_with(script, args, &RunOptions::default())
    }

    /// Compiles and runs a script.
    pub fn run_with(
        &self,
        script: &str,
        args: &ScriptArguments,
        options: &RunOptions,
    ) -> RunOutcome {
        match self.compile(script, args) {
            Ok(compiled) => self.run_compiled(&compiled, args, options),
            Err(error) => RunOutcome::failed(error, Timings::default()),
        }
    }

    /// Runs an already compiled script. `timings.compile` is the script's compile time.
    pub fn run_compiled(
        &self,
        compiled: &CompiledScript,
        args: &ScriptArguments,
        options: &RunOptions,
    ) -> RunOutcome {
        let mut timings = Timings {
            compile: compiled.compile_time,
            run: Duration::ZERO,
        };
        if let Err(err) = args.validate(&self.limits) {
            return RunOutcome::failed(err.into(), timings);
        }
        let cancel = options.cancel.clone().unwrap_or_default();
        let timeout = options.timeout.or(self.limits.timeout);
        let start = Instant::now();
        let state = RunState::new(
            &self.limits,
            cancel.flag(),
            timeout.and_then(|t| start.checked_add(t)),
            options.extensions.clone(),
        );
        let evaluate = move || self.evaluate(compiled, args, state);
        let (result, state) = if self.limits.stack_size == 0 {
            evaluate()
        } else {
            let spawned = std::thread::scope(|s| {
                // Dropped when the script's thread ends (returning or unwinding).
                let (ended, wait) = std::sync::mpsc::channel::<()>();
                std::thread::Builder::new()
                    .name("rex-script".into())
                    .stack_size(self.limits.stack_size)
                    .spawn_scoped(s, move || {
                        let _ended = ended;
                        evaluate()
                    })
                    .map(|handle| {
                        if let Some(w) = &options.while_running {
                            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                                wait.recv_timeout(w.every)
                            {
                                (w.tick)();
                            }
                        }
                        handle.join()
                    })
            });
            match spawned {
                Ok(Ok(pair)) => pair,
                Ok(Err(payload)) => (Err(payload), None),
                Err(err) => {
                    let error = RunError::Internal {
                        message: format!("cannot start the script thread: {err}"),
                    };
                    return RunOutcome::failed(error, timings);
                }
            }
        };
        timings.run = start.elapsed();

        let state = state.unwrap_or_else(|| {
            RunState::new(&self.limits, cancel.flag(), None, RunExtensions::default())
        });
        let terminated = state.terminated;
        let mut outcome = match result {
            Ok(Ok(Ok((output, value)))) => RunOutcome {
                status: RunStatus::Success,
                output,
                value,
                error: None,
                logs: Vec::new(),
                dropped_logs: 0,
                truncated_logs: 0,
                denials: Vec::new(),
                dropped_denials: 0,
                timings,
            },
            Ok(Ok(Err(problem))) => RunOutcome::failed(RunError::Unrenderable(problem), timings),
            Ok(Err(err)) => {
                // A native call that stopped because the run was cancelled or timed out
                // reports its own error; the run still ended because of that limit.
                let error = match (from_eval_error(&err, terminated), terminated) {
                    (RunError::Runtime { position, .. }, Some(limit)) => {
                        RunError::Limit { limit, position }
                    }
                    (error, _) => error,
                };
                RunOutcome::failed(error, timings)
            }
            Err(payload) => RunOutcome::failed(
                RunError::Internal {
                    message: panic_message(&*payload),
                },
                timings,
            ),
        };
        outcome.logs = state.logs;
        outcome.dropped_logs = state.dropped_logs;
        outcome.truncated_logs = state.truncated_logs;
        outcome.denials = state.denials;
        outcome.dropped_denials = state.dropped_denials;
        outcome
    }

    /// Evaluates on the current thread, with the run state installed.
    fn evaluate(
        &self,
        compiled: &CompiledScript,
        args: &ScriptArguments,
        state: RunState,
    ) -> (EvalResult, Option<RunState>) {
        let guard = RunGuard::push(state);
        let mut scope = args.to_scope();
        let result = catch_unwind(AssertUnwindSafe(|| {
            self.engine
                .eval_ast_with_scope::<Dynamic>(&mut scope, &compiled.ast)
        }));
        // Values are dropped here too, inside the large stack.
        drop(scope);
        // A native call that refused to build a result over the budget may have returned a
        // placeholder as the script's last value: the run still ends with the memory limit.
        let result = match result {
            Ok(Ok(_)) if crate::memory::tripped() => Ok(Err(crate::budget::memory_limit_error())),
            Ok(Ok(value)) => {
                // Rhai's text and serde walk nested values recursively and follow shared
                // cells without bound: a cyclic or huge value is refused first (typed).
                let rendered = catch_unwind(AssertUnwindSafe(|| {
                    check_value(&value).map(|()| {
                        let json = serde_json::to_value(&value).unwrap_or(serde_json::Value::Null);
                        (value.to_string(), json)
                    })
                }));
                drop(value);
                match rendered {
                    Ok(pair) => Ok(Ok(pair)),
                    Err(payload) => Err(payload),
                }
            }
            Ok(Err(err)) => Ok(Err(err)),
            Err(payload) => Err(payload),
        };
        if matches!(result, Ok(Err(_))) {
            crate::state::note_interruption();
        }
        let state = guard.take();
        drop(guard);
        (result, state)
    }

    /// The catalog of the declared functions registered into this engine (the selected
    /// modules and every vendor module), read back from the engine's own metadata.
    pub fn catalog(&self) -> Vec<crate::catalog::FunctionInfo> {
        crate::catalog::function_catalog(&self.engine)
    }

    /// The signatures of every registered function (for `--print-functions`), sorted.
    /// Rhai's standard library is included only when `include_standard` is true.
    pub fn function_signatures(&self, include_standard: bool) -> Vec<String> {
        let mut signatures = self.engine.gen_fn_signatures(include_standard);
        signatures.sort();
        signatures.dedup();
        signatures
    }
}
