//! The declared binding: the one way a script function is registered.
//!
//! Each script function is declared once, with its script name, argument names, the Cedar
//! actions it checks (or [`NO_HOST`]), a one-line doc and the Rust closure:
//!
//! ```
//! use rex_auth::Action;
//! use rhai_sdk::binding::{Binding, NO_HOST};
//!
//! let mut engine = rhai::Engine::new_raw();
//! let mut b = Binding::new(&mut engine, "demo");
//! b.func("double", ["x"], NO_HOST, "Twice x.", |x: i64| x * 2);
//! b.func("peek", ["path"], &[Action::FsOpen, Action::FsRead], "Reads a file.", |p: &str| {
//!     Ok::<_, rhai_sdk::SdkErrorInfo>(p.len() as i64) // a real function calls rust-sdk
//! });
//! let cat = rex_core::function_catalog(&engine);
//! assert_eq!(cat[0].signature, "double(x: int) -> int");
//! assert_eq!(cat[1].actions, vec![Action::FsOpen, Action::FsRead]);
//! ```
//!
//! The argument and return types of the catalog are script types derived from the closure's
//! Rust types through [`ScriptType`], so a signature cannot drift from its code; the argument
//! names are checked against the arity at compile time. The declaration is stored in the
//! engine's own function metadata (Rhai doc comments plus a catalog tag), and
//! [`rex_core::function_catalog`] reads it back: the catalog is always the engine at hand.
//!
//! A closure may return a plain value, `Result<T, Box<EvalAltResult>>`, or
//! `Result<T, E>` with `E: Into<SdkErrorInfo>`; errors go through [`to_script_error`], so a
//! Cedar denial keeps its typed token. A first argument `&mut T` makes a method; a first
//! argument [`NativeCallContext`] is passed through and is not a script argument.
//!
//! `register_fn`, `register_get` and `Module::set_native_fn` are disallowed elsewhere in this
//! crate (clippy.toml), so no function can bypass the declaration.

// This is the one module that registers native functions; everything else declares them here.
#![allow(clippy::disallowed_methods)]

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;

use rhai::{
    Array, Blob, Dynamic, Engine, EvalAltResult, FnPtr, FuncRegistration, ImmutableString, Map,
    Module, NativeCallContext,
};

pub use rex_core::HostAccess;
use rust_sdk::SdkContext;

use crate::error::{SdkErrorInfo, to_script_error};

thread_local! {
    /// Whether declarations made on this thread are recorded in the engine's metadata (see
    /// [`without_declarations`]).
    static DECLARATIONS_RECORDED: Cell<bool> = const { Cell::new(true) };
}

thread_local! {
    /// The names a script can reach, while declarations are pruned on this thread (see
    /// [`only_reachable_from`]); `None` declares everything.
    static REACHABLE: RefCell<Option<Rc<HashSet<String>>>> = const { RefCell::new(None) };
}

/// Identifiers in a script that make the functions it calls unknowable from its text: a
/// function pointer can be made from a computed string (`Fn("re" + "ad")`) and then called.
const DYNAMIC_CALLS: &[&str] = &["Fn", "call", "curry", "is_def_fn", "eval"];

/// Names that Rhai calls without the script spelling them: conversions behind string
/// interpolation, `print`/`debug` and rendering, and `contains` behind the `in` operator.
/// Operators and indexers (names that are not identifiers) are implicit too.
const IMPLICIT_NAMES: &[&str] = &["to_string", "to_debug", "contains"];

/// Every identifier-like word in `script` (ASCII letters, digits and `_`, not starting with
/// a digit), wherever it is: code, string literals and comments alike.
fn words(script: &str) -> HashSet<String> {
    script
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'))
        .map(str::to_string)
        .collect()
}

/// Whether a declaration of script name `name` is made (always, unless pruning is on).
fn reachable(name: &str) -> bool {
    REACHABLE.with(|r| match &*r.borrow() {
        None => true,
        Some(words) => {
            !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                || name.contains('$')
                || IMPLICIT_NAMES.contains(&name)
                || words.contains(name)
        }
    })
}

/// Whether a static namespace `name` (constants, flags, error kinds) is worth building: it
/// is reached only as `name::...`, so a script that never spells `name` cannot use it.
/// Always `true` unless [`only_reachable_from`] prunes. Only for namespaces of constants and
/// of functions that take no `&mut` receiver: a method declared into a namespace is in the
/// global namespace, called without the namespace's name.
pub fn namespace_reachable(name: &str) -> bool {
    reachable(name)
}

/// Runs `build` (which registers modules into an engine) declaring only the functions that
/// `script` can reach: a function, method, getter or setter whose script name is not a word
/// of the script text (code, strings or comments) is left out, as are the static namespaces
/// it never names. Operators, indexers and the names Rhai calls implicitly (`to_string`,
/// `to_debug`, `contains`) are always declared.
///
/// This is exact for Rhai: a native function is only ever called by a name the script
/// spells (`f(..)`, `x.f(..)`, `x.prop`, `ns::f`, `Fn("f")`), except through a function
/// pointer made from a computed string. A script that uses `Fn`, `call`, `curry`,
/// `is_def_fn` or `eval` therefore gets every declaration. The results and errors of a run
/// are the same; only the engine's start-up is cheaper. Registrations that do not go through
/// [`Binding`] (types, an embedder's own `register_fn`) are never left out. Declarations on
/// other threads are not affected, and the previous setting is restored when `build` returns
/// or unwinds.
///
/// ```
/// use rhai_sdk::binding::{Binding, NO_HOST, only_reachable_from};
///
/// let script = "double(21)";
/// let mut engine = rhai::Engine::new_raw();
/// only_reachable_from(script, || {
///     let mut b = Binding::new(&mut engine, "demo");
///     b.func("double", ["x"], NO_HOST, "Twice x.", |x: i64| x * 2);
///     b.func("triple", ["x"], NO_HOST, "Thrice x.", |x: i64| x * 3);
/// });
/// assert_eq!(engine.eval::<i64>(script).unwrap(), 42);
/// assert!(engine.eval::<i64>("triple(1)").is_err()); // not in the script it was built for
/// ```
pub fn only_reachable_from<T>(script: &str, build: impl FnOnce() -> T) -> T {
    struct Restore(Option<Rc<HashSet<String>>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            REACHABLE.with(|r| *r.borrow_mut() = previous);
        }
    }
    let words = words(script);
    if DYNAMIC_CALLS.iter().any(|w| words.contains(*w)) {
        return build();
    }
    let _restore = Restore(REACHABLE.with(|r| r.borrow_mut().replace(Rc::new(words))));
    build()
}

/// Runs `build` (which registers modules into an engine) with the declarations' catalog
/// records left out: the functions are registered exactly as usual, but their argument
/// names, docs and catalog tags are not stored, so [`rex_core::function_catalog`] of that
/// engine is empty and its signatures show no argument names.
///
/// That metadata is one formatted string per argument and two comments per function, about a
/// fifth of the cost of building an engine with every module; an embedder that never lists the
/// engine's functions (the CLI outside `--print-functions`, MCP's run processes) builds it
/// this way. Declarations on other threads are not affected, and the previous setting is
/// restored when `build` returns or unwinds.
///
/// ```
/// use rhai_sdk::binding::{Binding, NO_HOST, without_declarations};
///
/// let mut engine = rhai::Engine::new_raw();
/// without_declarations(|| {
///     Binding::new(&mut engine, "demo").func("double", ["x"], NO_HOST, "Twice x.", |x: i64| x * 2);
/// });
/// assert_eq!(engine.eval::<i64>("double(21)").unwrap(), 42);
/// assert!(rex_core::function_catalog(&engine).is_empty());
/// ```
pub fn without_declarations<T>(build: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            DECLARATIONS_RECORDED.with(|d| d.set(self.0));
        }
    }
    let _restore = Restore(DECLARATIONS_RECORDED.with(|d| d.replace(false)));
    build()
}

/// The declaration marker of a function that touches no host resource.
pub const NO_HOST: HostAccess = HostAccess::None;

/// The script name of a Rust type, as the catalog shows it.
pub trait ScriptType {
    /// The script type name (`String`, `int`, `File`, ...); empty for "nothing".
    const NAME: &'static str;
}

/// Implements [`ScriptType`] for custom types: `script_types!(FileHandle => "File", ...)`.
#[macro_export]
macro_rules! script_types {
    ($($ty:ty => $name:literal),+ $(,)?) => {
        $( impl $crate::binding::ScriptType for $ty { const NAME: &'static str = $name; } )+
    };
}

script_types!(
    i64 => "int",
    f64 => "float",
    bool => "bool",
    char => "char",
    String => "String",
    ImmutableString => "String",
    Array => "Array",
    Map => "Map",
    Blob => "Blob",
    Dynamic => "Dynamic",
    FnPtr => "FnPtr",
    () => "",
);

impl ScriptType for &str {
    const NAME: &'static str = "String";
}

/// Marker: a closure returning a plain value.
#[derive(Debug)]
pub struct Plain;
/// Marker: a closure returning a `Result` whose error converts into [`SdkErrorInfo`] (every
/// rust-sdk error, a vendor's own error).
#[derive(Debug)]
pub struct Fallible;
/// Marker: a closure returning a `Result` with a Rhai error, passed to the script as is.
#[derive(Debug)]
pub struct RhaiFallible;

/// A closure's return value as a script result.
pub trait ScriptReturn<M> {
    /// The value a script sees.
    type Value: Clone + Send + Sync + 'static + ScriptType;
    /// Converts (errors through [`to_script_error`]).
    fn into_script(self) -> Result<Self::Value, Box<EvalAltResult>>;
}

impl<T: Clone + Send + Sync + 'static + ScriptType> ScriptReturn<Plain> for T {
    type Value = T;
    fn into_script(self) -> Result<T, Box<EvalAltResult>> {
        Ok(self)
    }
}

impl<T: Clone + Send + Sync + 'static + ScriptType, E: Into<SdkErrorInfo>> ScriptReturn<Fallible>
    for Result<T, E>
{
    type Value = T;
    fn into_script(self) -> Result<T, Box<EvalAltResult>> {
        self.map_err(to_script_error)
    }
}

impl<T: Clone + Send + Sync + 'static + ScriptType> ScriptReturn<RhaiFallible>
    for Result<T, Box<EvalAltResult>>
{
    type Value = T;
    fn into_script(self) -> Result<T, Box<EvalAltResult>> {
        self
    }
}

/// Marker of a by-value argument list.
#[derive(Debug)]
pub struct ByValue<A>(std::marker::PhantomData<A>);
/// Marker of a method (first argument `&mut T`).
#[derive(Debug)]
pub struct Method<T, A>(std::marker::PhantomData<(T, A)>);
/// Marker of a function taking the [`NativeCallContext`] first.
#[derive(Debug)]
pub struct WithContext<A>(std::marker::PhantomData<A>);

/// A Rust closure that can be declared as a script function of `N` script arguments.
pub trait ScriptFn<M, const N: usize>: Send + Sync + 'static {
    /// The script types of the arguments.
    fn param_types() -> [&'static str; N];
    /// The script type of the result.
    fn return_type() -> &'static str;
    /// Registers the function into `module` with `reg`'s metadata.
    fn set_into(self, reg: FuncRegistration, target: &mut Target<'_>);
}

/// A Rust function taking the [`SdkContext`] first, declared with
/// [`Binding::func_with_sdk`] (the vendor form): `Fn(&SdkContext, args...) -> R`.
pub trait SdkFn<M, const N: usize>: Send + Sync + 'static {
    /// The script types of the arguments.
    fn param_types() -> [&'static str; N];
    /// The script type of the result.
    fn return_type() -> &'static str;
    /// Registers the function with `sdk` bound as its first argument.
    fn set_into_with(self, sdk: SdkContext, reg: FuncRegistration, target: &mut Target<'_>);
}

/// Where declarations are registered.
#[derive(Debug)]
pub enum Target<'a> {
    /// The engine's global namespace.
    Engine(&'a mut Engine),
    /// A module (a static namespace, a vendor module).
    Module(&'a mut Module),
}

macro_rules! impl_script_fn {
    ($n:literal, $n1:literal; $($a:ident $v:ident),*) => {
        impl<FN, $($a,)* R, RM> SdkFn<ByValue<(($($a,)*), RM)>, $n> for FN
        where
            FN: Fn(&SdkContext, $($a),*) -> R + Send + Sync + 'static,
            $($a: Clone + Send + Sync + 'static + ScriptType,)*
            R: ScriptReturn<RM> + 'static,
            RM: 'static,
        {
            fn param_types() -> [&'static str; $n] { [$($a::NAME),*] }
            fn return_type() -> &'static str { <R::Value as ScriptType>::NAME }
            fn set_into_with(self, sdk: SdkContext, reg: FuncRegistration, target: &mut Target<'_>) {
                let f = move |$($v: $a),*| self(&sdk, $($v),*).into_script();
                match target {
                    Target::Engine(e) => { reg.register_into_engine(e, f); }
                    Target::Module(m) => { reg.set_into_module(m, f); }
                }
            }
        }

        impl<FN, T, $($a,)* R, RM> SdkFn<Method<T, (($($a,)*), RM)>, $n1> for FN
        where
            FN: Fn(&SdkContext, &mut T, $($a),*) -> R + Send + Sync + 'static,
            T: Clone + Send + Sync + 'static + ScriptType,
            $($a: Clone + Send + Sync + 'static + ScriptType,)*
            R: ScriptReturn<RM> + 'static,
            RM: 'static,
        {
            fn param_types() -> [&'static str; $n1] { [T::NAME, $($a::NAME),*] }
            fn return_type() -> &'static str { <R::Value as ScriptType>::NAME }
            fn set_into_with(self, sdk: SdkContext, reg: FuncRegistration, target: &mut Target<'_>) {
                let f = move |this: &mut T, $($v: $a),*| self(&sdk, this, $($v),*).into_script();
                match target {
                    Target::Engine(e) => { reg.register_into_engine(e, f); }
                    Target::Module(m) => { reg.in_global_namespace().set_into_module(m, f); }
                }
            }
        }

        impl<FN, $($a,)* R, RM> ScriptFn<ByValue<(($($a,)*), RM)>, $n> for FN
        where
            FN: Fn($($a),*) -> R + Send + Sync + 'static,
            $($a: Clone + Send + Sync + 'static + ScriptType,)*
            R: ScriptReturn<RM> + 'static,
            RM: 'static,
        {
            fn param_types() -> [&'static str; $n] { [$($a::NAME),*] }
            fn return_type() -> &'static str { <R::Value as ScriptType>::NAME }
            #[allow(unused_parens)]
            fn set_into(self, reg: FuncRegistration, target: &mut Target<'_>) {
                let f = move |$($v: $a),*| self($($v),*).into_script();
                match target {
                    Target::Engine(e) => { reg.register_into_engine(e, f); }
                    Target::Module(m) => { reg.set_into_module(m, f); }
                }
            }
        }

        impl<FN, T, $($a,)* R, RM> ScriptFn<Method<T, (($($a,)*), RM)>, $n1> for FN
        where
            FN: Fn(&mut T, $($a),*) -> R + Send + Sync + 'static,
            T: Clone + Send + Sync + 'static + ScriptType,
            $($a: Clone + Send + Sync + 'static + ScriptType,)*
            R: ScriptReturn<RM> + 'static,
            RM: 'static,
        {
            fn param_types() -> [&'static str; $n1] { [T::NAME, $($a::NAME),*] }
            fn return_type() -> &'static str { <R::Value as ScriptType>::NAME }
            fn set_into(self, reg: FuncRegistration, target: &mut Target<'_>) {
                let f = move |this: &mut T, $($v: $a),*| self(this, $($v),*).into_script();
                match target {
                    Target::Engine(e) => { reg.register_into_engine(e, f); }
                    Target::Module(m) => { reg.in_global_namespace().set_into_module(m, f); }
                }
            }
        }

        impl<FN, $($a,)* R, RM> ScriptFn<WithContext<(($($a,)*), RM)>, $n> for FN
        where
            FN: for<'c> Fn(NativeCallContext<'c>, $($a),*) -> R + Send + Sync + 'static,
            $($a: Clone + Send + Sync + 'static + ScriptType,)*
            R: ScriptReturn<RM> + 'static,
            RM: 'static,
        {
            fn param_types() -> [&'static str; $n] { [$($a::NAME),*] }
            fn return_type() -> &'static str { <R::Value as ScriptType>::NAME }
            fn set_into(self, reg: FuncRegistration, target: &mut Target<'_>) {
                let f = move |ctx: NativeCallContext, $($v: $a),*| self(ctx, $($v),*).into_script();
                match target {
                    Target::Engine(e) => { reg.register_into_engine(e, f); }
                    Target::Module(m) => { reg.set_into_module(m, f); }
                }
            }
        }

        impl<FN, T, $($a,)* R, RM> ScriptFn<WithContext<Method<T, (($($a,)*), RM)>>, $n1> for FN
        where
            FN: for<'c> Fn(NativeCallContext<'c>, &mut T, $($a),*) -> R + Send + Sync + 'static,
            T: Clone + Send + Sync + 'static + ScriptType,
            $($a: Clone + Send + Sync + 'static + ScriptType,)*
            R: ScriptReturn<RM> + 'static,
            RM: 'static,
        {
            fn param_types() -> [&'static str; $n1] { [T::NAME, $($a::NAME),*] }
            fn return_type() -> &'static str { <R::Value as ScriptType>::NAME }
            fn set_into(self, reg: FuncRegistration, target: &mut Target<'_>) {
                let f = move |ctx: NativeCallContext, this: &mut T, $($v: $a),*| self(ctx, this, $($v),*).into_script();
                match target {
                    Target::Engine(e) => { reg.register_into_engine(e, f); }
                    Target::Module(m) => { reg.in_global_namespace().set_into_module(m, f); }
                }
            }
        }
    };
}

impl_script_fn!(0, 1;);
impl_script_fn!(1, 2; A a);
impl_script_fn!(2, 3; A a, B b);
impl_script_fn!(3, 4; A a, B b, C c);
impl_script_fn!(4, 5; A a, B b, C c, D d);
impl_script_fn!(5, 6; A a, B b, C c, D d, E e);
impl_script_fn!(6, 7; A a, B b, C c, D d, E e, F f);
impl_script_fn!(7, 8; A a, B b, C c, D d, E e, F f, G g);
impl_script_fn!(8, 9; A a, B b, C c, D d, E e, F f, G g, H h);

/// Declares script functions into an engine or a module; see the [module docs](self).
#[derive(Debug)]
pub struct Binding<'a> {
    target: Target<'a>,
    module: &'a str,
}

impl<'a> Binding<'a> {
    /// Declares into the engine's global namespace, as functions of catalog module `module`.
    pub fn new(engine: &'a mut Engine, module: &'a str) -> Self {
        Self {
            target: Target::Engine(engine),
            module,
        }
    }

    /// Declares into `target` (e.g. a flag module registered as a static namespace).
    pub fn into_module(target: &'a mut Module, module: &'a str) -> Self {
        Self {
            target: Target::Module(target),
            module,
        }
    }

    /// The engine, when declaring into one (to register types and static modules).
    pub fn engine(&mut self) -> Option<&mut Engine> {
        match &mut self.target {
            Target::Engine(e) => Some(e),
            Target::Module(_) => None,
        }
    }

    /// The same target, declaring functions of catalog module `module` (for helpers shared
    /// by several modules, such as the value maps of `utils`).
    pub fn scoped<'s>(&'s mut self, module: &'s str) -> Binding<'s> {
        let target = match &mut self.target {
            Target::Engine(e) => Target::Engine(e),
            Target::Module(m) => Target::Module(m),
        };
        Binding { target, module }
    }

    /// Registers `module` (constants, or functions declared with [`Binding::into_module`])
    /// under the static namespace `name` (a sub-module when declaring into a module).
    pub fn static_module(&mut self, name: &str, module: rhai::Shared<Module>) -> &mut Self {
        // Constants only: reached as `name::X` and nowhere else. (A function of a namespace
        // can be a method in the global namespace, called without the namespace's name.)
        let (_, functions, iterators) = module.count();
        if functions == 0 && iterators == 0 && !reachable(name) {
            return self;
        }
        match &mut self.target {
            Target::Engine(e) => {
                e.register_static_module(name, module);
            }
            Target::Module(m) => {
                m.set_sub_module(name, module);
            }
        }
        self
    }

    /// Registers custom type `T` under its [`ScriptType::NAME`].
    pub fn custom_type<T: Clone + Send + Sync + 'static + ScriptType>(&mut self) -> &mut Self {
        match &mut self.target {
            Target::Engine(e) => {
                e.register_type_with_name::<T>(T::NAME);
            }
            Target::Module(m) => {
                m.set_custom_type::<T>(T::NAME);
            }
        }
        self
    }

    #[allow(clippy::too_many_arguments)]
    fn declare(
        &mut self,
        name: &str,
        reg: FuncRegistration,
        params: &[&str],
        types: &[&str],
        returns: &str,
        access: HostAccess,
        doc: &str,
        set: impl FnOnce(FuncRegistration, &mut Target<'_>),
    ) -> &mut Self {
        if !reachable(name) {
            return self;
        }
        if !DECLARATIONS_RECORDED.with(Cell::get) {
            set(reg, &mut self.target);
            return self;
        }
        let mut info: Vec<String> = params
            .iter()
            .zip(types)
            .map(|(name, ty)| format!("{}: {ty}", name.trim_start_matches('_')))
            .collect();
        info.push(returns.to_string());
        let reg = reg.with_params_info(info).with_comments([
            format!("/// {doc}"),
            rex_core::catalog_tag(self.module, access),
        ]);
        set(reg, &mut self.target);
        self
    }

    /// Declares a Rust function taking the [`SdkContext`] first (cloned into the function;
    /// scripts never see it) under script name `name`: the vendor form of [`Binding::func`].
    pub fn func_with_sdk<M, const N: usize, F: SdkFn<M, N>>(
        &mut self,
        name: &str,
        params: [&str; N],
        access: impl Into<HostAccess>,
        doc: &str,
        sdk: &SdkContext,
        f: F,
    ) -> &mut Self {
        let sdk = sdk.clone();
        self.declare(
            name,
            FuncRegistration::new(name),
            &params,
            &F::param_types(),
            F::return_type(),
            access.into(),
            doc,
            move |reg, target| f.set_into_with(sdk, reg, target),
        )
    }

    /// Declares function `name`: argument names, what it checks, a one-line doc, the closure.
    pub fn func<M, const N: usize, F: ScriptFn<M, N>>(
        &mut self,
        name: &str,
        params: [&str; N],
        access: impl Into<HostAccess>,
        doc: &str,
        f: F,
    ) -> &mut Self {
        self.declare(
            name,
            FuncRegistration::new(name),
            &params,
            &F::param_types(),
            F::return_type(),
            access.into(),
            doc,
            move |reg, target| f.set_into(reg, target),
        )
    }

    /// Declares a property getter `obj.prop` (`f` takes `&mut T`).
    pub fn getter<M, F: ScriptFn<M, 1>>(
        &mut self,
        prop: &str,
        access: impl Into<HostAccess>,
        doc: &str,
        f: F,
    ) -> &mut Self {
        self.declare(
            prop,
            FuncRegistration::new_getter(prop),
            &["self"],
            &F::param_types(),
            F::return_type(),
            access.into(),
            doc,
            move |reg, target| f.set_into(reg, target),
        )
    }

    /// Declares a property setter `obj.prop = v` (`f` takes `&mut T` and the value).
    pub fn setter<M, F: ScriptFn<M, 2>>(
        &mut self,
        prop: &str,
        access: impl Into<HostAccess>,
        doc: &str,
        f: F,
    ) -> &mut Self {
        self.declare(
            prop,
            FuncRegistration::new_setter(prop),
            &["self", "value"],
            &F::param_types(),
            F::return_type(),
            access.into(),
            doc,
            move |reg, target| f.set_into(reg, target),
        )
    }
}

/// Declares a function with the argument names taken from the closure:
/// `declare!(b, "cat", ACTIONS, "doc", |path: &str| ...)`. A leading
/// `ctx: NativeCallContext` is passed through and is not a script argument;
/// `declare!(b, .., sdk => |c, path: &str| ...)` clones `sdk` into `c` for the closure.
#[macro_export]
macro_rules! declare {
    ($b:expr, $name:expr, $access:expr, $doc:expr, || $body:expr) => {
        $b.func($name, [], $access, $doc, move || $body)
    };
    ($b:expr, $name:expr, $access:expr, $doc:expr, $sdk:ident => |$c:ident $(, $arg:ident : $ty:ty)* $(,)?| -> $ret:ty { $($body:tt)* }) => {{
        let $c = $sdk.clone();
        $b.func($name, [$(stringify!($arg)),*], $access, $doc, move |$($arg: $ty),*| -> $ret { $($body)* })
    }};
    ($b:expr, $name:expr, $access:expr, $doc:expr, $sdk:ident => |$c:ident $(, $arg:ident : $ty:ty)* $(,)?| $body:expr) => {{
        let $c = $sdk.clone();
        $b.func($name, [$(stringify!($arg)),*], $access, $doc, move |$($arg: $ty),*| $body)
    }};
    ($b:expr, $name:expr, $access:expr, $doc:expr, |$ctx:ident : NativeCallContext $(, $arg:ident : $ty:ty)* $(,)?| -> $ret:ty { $($body:tt)* }) => {
        $b.func($name, [$(stringify!($arg)),*], $access, $doc, move |$ctx: NativeCallContext, $($arg: $ty),*| -> $ret { $($body)* })
    };
    ($b:expr, $name:expr, $access:expr, $doc:expr, |$ctx:ident : NativeCallContext $(, $arg:ident : $ty:ty)* $(,)?| $body:expr) => {
        $b.func($name, [$(stringify!($arg)),*], $access, $doc, move |$ctx: NativeCallContext, $($arg: $ty),*| $body)
    };
    ($b:expr, $name:expr, $access:expr, $doc:expr, |$($arg:ident : $ty:ty),* $(,)?| -> $ret:ty { $($body:tt)* }) => {
        $b.func($name, [$(stringify!($arg)),*], $access, $doc, move |$($arg: $ty),*| -> $ret { $($body)* })
    };
    ($b:expr, $name:expr, $access:expr, $doc:expr, |$($arg:ident : $ty:ty),* $(,)?| $body:expr) => {
        $b.func($name, [$(stringify!($arg)),*], $access, $doc, move |$($arg: $ty),*| $body)
    };
}
