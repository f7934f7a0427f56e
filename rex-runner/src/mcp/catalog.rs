//! The script API as `list_functions` and the `rex://functions` resource show it: the catalog
//! generated from what the runner's modules register (the one `--print-functions` prints),
//! with the Cedar actions written as action UIDs, plus the runner's built-ins.

use serde_json::{Value, json};

/// `file_system::read` → `file_system::Action::"read"`.
fn action_uid(short: &str) -> String {
    match short.rsplit_once("::") {
        Some((ns, name)) => format!("{ns}::Action::\"{name}\""),
        None => short.to_string(),
    }
}

/// The declaration's one-line doc, plus what it asks Cedar.
fn doc(text: &str, actions: &[String]) -> String {
    if actions.is_empty() {
        format!("{text} No Cedar check (touches no host resource).")
    } else {
        format!(
            "{text} Asks Cedar for {} before touching the host.",
            actions.join(", ")
        )
    }
}

/// Rhai's `debug`, which the runner routes to the run's logs: the one script function of the
/// runner that is not declared in the engine (it belongs to Rhai's standard library).
const DEBUG: (&str, &str, &str) = (
    "debug",
    "debug(x)",
    "Appends a DEBUG entry with x's rendering to the run's logs.",
);

/// The catalog of the engine a run gets (every rhai-sdk module and the runner's built-ins),
/// built once.
fn catalog() -> &'static [rex_core::FunctionInfo] {
    static CATALOG: std::sync::LazyLock<Vec<rex_core::FunctionInfo>> =
        std::sync::LazyLock::new(|| {
            rex_auth::Principal::user("catalog")
                .ok()
                .and_then(|p| crate::Runner::builder().principal(p).build().ok())
                .map(|r| r.engine().catalog())
                .unwrap_or_default()
        });
    &CATALOG
}

/// Every function (of `module` only, when given), as JSON objects.
pub(crate) fn functions(module: Option<&str>) -> Vec<Value> {
    let mut out = Vec::new();
    for f in catalog() {
        if module.is_some_and(|m| m != f.module) {
            continue;
        }
        let actions: Vec<String> = f.action_names().iter().map(|a| action_uid(a)).collect();
        out.push(json!({
            "name": f.name,
            "module": f.module,
            "signature": f.signature,
            "params": f.params,
            "returns": f.returns,
            "kind": f.kind,
            "doc": doc(&f.doc, &actions),
            "actions": actions,
        }));
    }
    if module.is_none_or(|m| m == "runner") {
        let (name, signature, text) = DEBUG;
        out.push(json!({
            "name": name,
            "module": "runner",
            "signature": signature,
            "actions": [],
            "doc": doc(text, &[]),
        }));
    }
    out
}

/// The module names.
pub(crate) fn modules() -> Vec<String> {
    let mut m: Vec<String> = catalog().iter().map(|f| f.module.clone()).collect();
    m.push("runner".into());
    m.sort();
    m.dedup();
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_cedar_uids() {
        assert_eq!(
            action_uid("file_system::read"),
            "file_system::Action::\"read\""
        );
        let cat = functions(Some("io"));
        assert!(!cat.is_empty());
        assert!(cat.iter().any(|f| {
            f["actions"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == "file_system::Action::\"read\""))
        }));
    }
}
