//! The catalog of script functions, read back from what was registered into an engine.
//!
//! A declared function (rhai-sdk's binding, a vendor module) is registered with Rhai metadata:
//! parameter names and script types, and doc comments. One of those comments is the catalog
//! tag written by [`catalog_tag`]: the module the function belongs to and the Cedar actions it
//! checks (or that it touches no host resource). [`function_catalog`] lists every tagged
//! function of an engine, so the catalog always matches the engine at hand: the modules an
//! embedder selected and every vendor module, nothing else.

use std::collections::BTreeSet;
use std::str::FromStr;

use rex_auth::Action;
use rhai::Engine;
use serde_json::Value;

/// The prefix of the catalog tag comment.
const TAG_PREFIX: &str = "/// rex-catalog:";

/// What a declared function may do on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostAccess {
    /// The function asks Cedar for these actions before touching the host.
    Checks(&'static [Action]),
    /// The function touches no host resource (pure value code), so it checks nothing.
    None,
}

impl HostAccess {
    /// The actions checked (empty for [`HostAccess::None`]).
    pub fn actions(self) -> &'static [Action] {
        match self {
            HostAccess::Checks(a) => a,
            HostAccess::None => &[],
        }
    }
}

impl From<&'static [Action]> for HostAccess {
    fn from(actions: &'static [Action]) -> Self {
        HostAccess::Checks(actions)
    }
}

impl<const N: usize> From<&'static [Action; N]> for HostAccess {
    fn from(actions: &'static [Action; N]) -> Self {
        HostAccess::Checks(actions)
    }
}

/// A registration carrying a declaration (argument names and script types, return type,
/// module, host access, one-line doc) in the engine's metadata, where [`function_catalog`]
/// reads it back. `params` are `"name: type"` in script types; `returns` is the script return
/// type (`""` for none). rhai-sdk's `Binding` derives both from the closure's Rust types;
/// this is the form for functions registered below rhai-sdk (the engine's own logging and
/// `sleep`) or on foreign types (the runner's metric builders).
///
/// ```
/// let mut engine = rhai::Engine::new_raw();
/// rex_core::declaration("twice", &["x: int"], "int", "demo", rex_core::HostAccess::None, "Twice x.")
///     .register_into_engine(&mut engine, |x: i64| x * 2);
/// let cat = rex_core::function_catalog(&engine);
/// assert_eq!(cat[0].signature, "twice(x: int) -> int");
/// assert_eq!(cat[0].module, "demo");
/// ```
pub fn declaration(
    name: &str,
    params: &[&str],
    returns: &str,
    module: &str,
    access: HostAccess,
    doc: &str,
) -> rhai::FuncRegistration {
    let mut info: Vec<String> = params.iter().map(|p| (*p).to_string()).collect();
    info.push(returns.to_string());
    rhai::FuncRegistration::new(name)
        .with_params_info(info)
        .with_comments([format!("/// {doc}"), catalog_tag(module, access)])
}

/// The catalog tag comment of a declared function (stored in its Rhai doc comments).
pub fn catalog_tag(module: &str, access: HostAccess) -> String {
    match access {
        HostAccess::None => format!("{TAG_PREFIX} module={module}; no-host-access"),
        HostAccess::Checks(actions) => {
            let list: Vec<String> = actions
                .iter()
                .map(|a| format!("{}::{}", a.namespace().name(), a.name()))
                .collect();
            format!("{TAG_PREFIX} module={module}; actions={}", list.join(","))
        }
    }
}

/// One parameter of a catalogued function.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct ParamInfo {
    /// The parameter name.
    pub name: String,
    /// Its script type (`String`, `int`, `Array`, `File`, ...).
    #[serde(rename = "type")]
    pub ty: String,
}

/// One script function of the catalog: one entry per script-callable signature (namespace,
/// name and argument types; overloads of one name are separate entries).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FunctionInfo {
    /// The script name (a property name for getters and setters).
    pub name: String,
    /// The static namespace (`tool` for `tool::f()`), empty for global functions.
    pub namespace: String,
    /// What kind of callable it is: `function`, `getter` or `setter`.
    pub kind: &'static str,
    /// The module it belongs to (`io`, `process`, a vendor module's name, ...).
    pub module: String,
    /// Its parameters (a method's receiver first).
    pub params: Vec<ParamInfo>,
    /// The script type it returns (empty when it returns nothing).
    pub returns: String,
    /// The signature in script types, e.g. `cat(flags: Array, path: String) -> String`.
    pub signature: String,
    /// The Cedar actions it checks (empty when it touches no host resource).
    pub actions: Vec<Action>,
    /// True when it was declared as touching no host resource.
    pub no_host_access: bool,
    /// A one-line description.
    pub doc: String,
}

impl FunctionInfo {
    /// The number of script arguments (a method's receiver included).
    pub fn arity(&self) -> usize {
        self.params.len()
    }

    /// The checked actions as `namespace::name` text (`file_system::read`).
    pub fn action_names(&self) -> Vec<String> {
        self.actions
            .iter()
            .map(|a| format!("{}::{}", a.namespace().name(), a.name()))
            .collect()
    }
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Parses one function of Rhai's metadata JSON; `None` when it carries no catalog tag.
fn parse_function(f: &Value, namespace: &str) -> Option<FunctionInfo> {
    let comments: Vec<&str> = f
        .get("docComments")
        .and_then(Value::as_array)
        .map(|c| c.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let tag = comments
        .iter()
        .flat_map(|c| c.lines())
        .find_map(|l| l.trim().strip_prefix(TAG_PREFIX))?;
    let mut module = String::new();
    let mut actions = Vec::new();
    let mut no_host_access = false;
    for part in tag.split(';').map(str::trim) {
        if let Some(m) = part.strip_prefix("module=") {
            module = m.to_string();
        } else if let Some(list) = part.strip_prefix("actions=") {
            actions = list
                .split(',')
                .filter_map(|a| Action::from_str(a).ok())
                .collect();
        } else if part == "no-host-access" {
            no_host_access = true;
        }
    }
    let doc = comments
        .iter()
        .flat_map(|c| c.lines())
        .map(str::trim)
        .filter(|l| !l.starts_with(TAG_PREFIX))
        .filter_map(|l| l.strip_prefix("///"))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    let params: Vec<ParamInfo> = f
        .get("params")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .map(|p| ParamInfo {
                    name: str_field(p, "name").to_string(),
                    ty: str_field(p, "type").to_string(),
                })
                .collect()
        })
        .unwrap_or_default();
    let raw_name = str_field(f, "name");
    let (kind, name) = if let Some(p) = raw_name.strip_prefix("get$") {
        ("getter", p)
    } else if let Some(p) = raw_name.strip_prefix("set$") {
        ("setter", p)
    } else {
        ("function", raw_name)
    };
    let returns = str_field(f, "returnType").to_string();
    let args: Vec<String> = params
        .iter()
        .map(|p| format!("{}: {}", p.name, p.ty))
        .collect();
    let qualified = if namespace.is_empty() {
        name.to_string()
    } else {
        format!("{namespace}::{name}")
    };
    let mut signature = match kind {
        "getter" => format!("get {qualified}({})", args.join(", ")),
        "setter" => format!("set {qualified}({})", args.join(", ")),
        _ => format!("{qualified}({})", args.join(", ")),
    };
    if !returns.is_empty() {
        signature.push_str(" -> ");
        signature.push_str(&returns);
    }
    Some(FunctionInfo {
        name: name.to_string(),
        namespace: namespace.to_string(),
        kind,
        module,
        params,
        returns,
        signature,
        actions,
        no_host_access,
        doc,
    })
}

fn collect_module(value: &Value, namespace: &str, out: &mut Vec<FunctionInfo>) {
    if let Some(functions) = value.get("functions").and_then(Value::as_array) {
        out.extend(
            functions
                .iter()
                .filter_map(|f| parse_function(f, namespace)),
        );
    }
    if let Some(modules) = value.get("modules").and_then(Value::as_object) {
        for (name, m) in modules {
            let ns = if namespace.is_empty() {
                name.clone()
            } else {
                format!("{namespace}::{name}")
            };
            collect_module(m, &ns, out);
        }
    }
}

/// Every declared (catalog-tagged) function registered into `engine`: global functions and
/// those of static modules, one entry per signature (so per name and arity), sorted by module,
/// namespace, name and arity. Functions registered without a declaration are not listed.
pub fn function_catalog(engine: &Engine) -> Vec<FunctionInfo> {
    let Ok(json) = engine.gen_fn_metadata_to_json(false) else {
        return Vec::new();
    };
    let Ok(value) = serde_json::from_str::<Value>(&json) else {
        return Vec::new();
    };
    let mut all = Vec::new();
    collect_module(&value, "", &mut all);
    all.sort_by(|a, b| {
        (&a.module, &a.namespace, &a.name, a.arity(), &a.signature).cmp(&(
            &b.module,
            &b.namespace,
            &b.name,
            b.arity(),
            &b.signature,
        ))
    });
    let mut seen = BTreeSet::new();
    all.retain(|f| seen.insert((f.namespace.clone(), f.signature.clone())));
    all
}

/// Renders a catalog as a Markdown reference (the docs' function table, `docs/FUNCTIONS.md`):
/// one section per module, one row per signature with the Cedar actions it checks and its
/// doc. Pipes and backticks in the text are escaped so a doc line cannot break the table.
pub fn catalog_markdown(catalog: &[FunctionInfo]) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace('`', "'");
    let mut out = String::from(
        "# Script functions\n\n\
         Generated from the catalog of the runner's default engine (every rhai-sdk module and\n\
         the runner's built-ins) by `rex_core::catalog_markdown`; a test\n\
         (`rex-runner/tests/it/cli.rs`) fails when this file and the registered functions\n\
         differ. Regenerate with\n\
         `REX_BLESS=1 cargo nextest run -p rex-runner -E 'test(the_docs_function_table_is_generated)'`.\n\
         `rex-runner --print-functions` prints the same catalog for the engine at hand\n\
         (vendor modules included).\n",
    );
    let mut module: Option<&str> = None;
    for f in catalog {
        if module != Some(f.module.as_str()) {
            module = Some(f.module.as_str());
            out.push_str(&format!(
                "\n## `{}`\n\n| Signature | Cedar checks | Description |\n|---|---|---|\n",
                f.module
            ));
        }
        let checks = if f.actions.is_empty() {
            "none (no host access)".to_string()
        } else {
            f.action_names()
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push_str(&format!(
            "| `{}` | {checks} | {} |\n",
            f.signature.replace('|', "\\|"),
            cell(&f.doc)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn tagged_functions_are_listed_with_their_actions() {
        let mut engine = Engine::new_raw();
        rhai::FuncRegistration::new("peek")
            .with_params_info(["path: String", "int"])
            .with_comments([
                "/// Reads a byte.".to_string(),
                catalog_tag("demo", HostAccess::Checks(&[Action::FsRead])),
            ])
            .register_into_engine(&mut engine, |_: &str| 1_i64);
        rhai::FuncRegistration::new("pure")
            .with_params_info(["x: int", "int"])
            .with_comments([catalog_tag("demo", HostAccess::None)])
            .register_into_engine(&mut engine, |x: i64| x);
        engine.register_fn("untagged", || 1_i64);
        let cat = function_catalog(&engine);
        assert_eq!(cat.len(), 2, "{cat:?}");
        assert_eq!(cat[0].name, "peek");
        assert_eq!(cat[0].signature, "peek(path: String) -> int");
        assert_eq!(cat[0].actions, vec![Action::FsRead]);
        assert_eq!(cat[0].doc, "Reads a byte.");
        assert!(cat[1].no_host_access && cat[1].actions.is_empty());
    }
}
