//! The layer of executed programs: **at most** what Cedar allows the run's principal.
//!
//! A program's file access is not checked by Cedar, only by the kernel, so this layer grants
//! a right beneath a path only where every Cedar request that the right stands for is allowed
//! for every resource beneath it, on the exact reading of the permits (a permit whose
//! conditions cannot all be read exactly gives nothing), minus every forbid that may apply
//! there (a forbid withdraws the right from every rule whose tree overlaps it). Landlock rules
//! apply beneath a path, so `resource == Dir::"X"` (the directory, not its contents) gives a
//! program nothing, and `resource == File::"Y"` gives file rights on that file only.

use super::*;

/// The resources of one (action, kind) that the permits allow, on the exact reading.
#[derive(Debug, Default, Clone)]
struct Region {
    /// Every resource of the kind.
    any: bool,
    /// Whole trees (`in Dir::"X"`): `X` and everything beneath it.
    roots: Vec<String>,
    /// Single resources (`== File::"Y"`, `== Dir::"X"`).
    exact: Vec<String>,
    /// The policies that allow them.
    why: BTreeSet<String>,
}

impl Region {
    fn covers_tree(&self, dir: &str) -> bool {
        self.any || self.roots.iter().any(|r| is_within(dir, r))
    }

    fn covers(&self, path: &str) -> bool {
        self.covers_tree(path) || self.exact.iter().any(|e| e == path)
    }

    /// Withdraws everything a forbid of `scope` may touch: any tree or resource that overlaps
    /// it (Landlock cannot carve a hole in a tree).
    fn subtract(&mut self, scope: &Scope) {
        match scope {
            Scope::Any => *self = Region::default(),
            Scope::Paths(targets) => {
                for t in targets {
                    self.any = false;
                    self.roots
                        .retain(|r| !is_within(&t.path, r) && !is_within(r, &t.path));
                    self.exact
                        .retain(|e| e != &t.path && !(t.subtree && is_within(e, &t.path)));
                }
            }
        }
    }
}

/// Which Cedar requests (action, on a directory?) a Landlock right stands for, when a
/// program uses it beneath a path.
pub(super) const RIGHT_NEEDS: &[(FsRights, &[(Action, bool)])] = &[
    (
        FsRights::READ_FILE,
        &[(Action::FsOpen, false), (Action::FsRead, false)],
    ),
    (
        FsRights::READ_DIR,
        &[(Action::FsOpen, true), (Action::FsRead, true)],
    ),
    (
        FsRights::WRITE_FILE,
        &[(Action::FsOpen, false), (Action::FsWrite, false)],
    ),
    (FsRights::TRUNCATE, &[(Action::FsWrite, false)]),
    // Linux reads a program to run it (an exec opens the file for reading), and Landlock
    // checks both rights: `execute` of a file stands for reading it too.
    (
        FsRights::EXECUTE.union(FsRights::READ_FILE),
        &[(Action::FsExecute, false)],
    ),
    (FsRights::MAKE_REG, &[(Action::FsCreate, false)]),
    (FsRights::MAKE_SYM, &[(Action::FsCreate, false)]),
    (FsRights::MAKE_DIR, &[(Action::FsCreate, true)]),
    (FsRights::REMOVE_FILE, &[(Action::FsDelete, false)]),
    (FsRights::REMOVE_DIR, &[(Action::FsDelete, true)]),
    (
        FsRights::REFER,
        &[
            (Action::FsMove, false),
            (Action::FsMove, true),
            (Action::FsCreate, false),
            (Action::FsCreate, true),
            (Action::FsDelete, false),
            (Action::FsDelete, true),
        ],
    ),
];

/// Collects the exact permits and the forbids of one principal, then builds the layer.
#[derive(Debug, Default)]
pub(super) struct ExecLayer {
    regions: BTreeMap<(usize, bool), Region>,
    forbids: Vec<(Action, bool, Scope)>,
    /// TCP: `None` until a `connect` permit gives ports; `Some(None)` for any port.
    ports: Option<Option<BTreeMap<u16, BTreeSet<String>>>>,
    connect_forbidden: bool,
}

impl ExecLayer {
    /// A permit of the run's principal, with the actions its scope can match.
    pub(super) fn permit(
        &mut self,
        policy: &Policy,
        conditions: Option<&Conditions>,
        kinds: &[ResourceKind],
        actions: &[Action],
        principal: &EntityUid,
    ) {
        let Some(c) = conditions else { return };
        let Some(scope) = exact_scope_of(policy, c, principal) else {
            return;
        };
        let id = policy.id().to_string();
        for &action in actions {
            if action == Action::NetworkConnect {
                self.connect_permit(policy, c, &scope, &id);
                continue;
            }
            if action.namespace() != Namespace::FileSystem {
                continue;
            }
            for is_dir in [false, true] {
                let kind = if is_dir {
                    ResourceKind::Dir
                } else {
                    ResourceKind::File
                };
                if !kinds.contains(&kind) || !action.applies_to_kind(kind) {
                    continue;
                }
                let region = self.regions.entry((action.index(), is_dir)).or_default();
                match &scope {
                    Scope::Any => region.any = true,
                    Scope::Paths(targets) if targets.is_empty() => continue,
                    Scope::Paths(targets) => {
                        for t in targets {
                            if t.subtree {
                                region.roots.push(t.path.clone());
                            } else if t.is_dir == is_dir {
                                region.exact.push(t.path.clone());
                            }
                        }
                    }
                }
                region.why.insert(format!("{id}: {}", action.name()));
            }
        }
    }

    /// `connect` to any host on the ports its conditions name exactly.
    fn connect_permit(&mut self, policy: &Policy, c: &Conditions, scope: &Scope, id: &str) {
        if *scope != Scope::Any
            || !matches!(
                policy.resource_constraint(),
                ResourceConstraint::Any | ResourceConstraint::Is(_)
            )
        {
            return;
        }
        let mut ports: Option<BTreeSet<u16>> = None;
        for body in &c.when {
            let Some(p) = exact_ports(body) else { return };
            ports = Some(match ports {
                Some(have) => have.intersection(&p).copied().collect(),
                None => p,
            });
        }
        let why = format!("{id}: connect");
        match (ports, &mut self.ports) {
            (None, slot) => *slot = Some(None),
            (Some(_), Some(None)) => {}
            (Some(p), Some(Some(map))) => {
                for port in p {
                    map.entry(port).or_default().insert(why.clone());
                }
            }
            (Some(p), slot @ None) => {
                let map = p
                    .into_iter()
                    .map(|port| (port, BTreeSet::from([why.clone()])))
                    .collect();
                *slot = Some(Some(map));
            }
        }
    }

    /// A forbid that may apply to the run's principal, with its wide scope.
    pub(super) fn forbid(&mut self, scope: &Scope, kinds: &[ResourceKind], actions: &[Action]) {
        for &action in actions {
            if action.namespace() == Namespace::Network {
                self.connect_forbidden = true;
            }
            for is_dir in [false, true] {
                let kind = if is_dir {
                    ResourceKind::Dir
                } else {
                    ResourceKind::File
                };
                if kinds.contains(&kind) && action.applies_to_kind(kind) {
                    self.forbids.push((action, is_dir, scope.clone()));
                }
            }
        }
    }

    /// The layer: the runtime a program needs to start, and the rights the regions allow.
    pub(super) fn build(mut self) -> SandboxPlan {
        for (action, is_dir, scope) in std::mem::take(&mut self.forbids) {
            if let Some(r) = self.regions.get_mut(&(action.index(), is_dir)) {
                r.subtract(&scope);
            }
        }
        let mut b = Builder::with_runtime(EXEC_RUNTIME_READ);
        b.grant_all(
            EXEC_READ_EXECUTE,
            FsRights::READ | FsRights::EXECUTE,
            "program start-up: loader and libraries",
        );
        b.grant_all(EXEC_READ, FsRights::READ, "program start-up");
        let empty = Region::default();
        let region = |a: Action, d: bool| self.regions.get(&(a.index(), d)).unwrap_or(&empty);
        let mut trees: BTreeSet<String> = BTreeSet::new();
        let mut files: BTreeSet<String> = BTreeSet::new();
        for ((_, is_dir), r) in &self.regions {
            trees.extend(r.roots.iter().cloned());
            if r.any {
                trees.insert("/".to_string());
            }
            if !is_dir {
                files.extend(r.exact.iter().cloned());
            }
        }
        for tree in &trees {
            for (right, needs) in RIGHT_NEEDS {
                if needs.iter().all(|(a, d)| region(*a, *d).covers_tree(tree)) {
                    for (a, d) in needs.iter() {
                        for why in &region(*a, *d).why {
                            b.add(tree, *right, why, RuleOrigin::ExactTree);
                        }
                    }
                }
            }
        }
        for file in &files {
            for (right, needs) in RIGHT_NEEDS {
                if right.file_rights().is_empty() {
                    continue;
                }
                if needs
                    .iter()
                    .all(|(a, d)| !d && region(*a, false).covers(file))
                    && !trees.iter().any(|t| {
                        is_within(file, t)
                            && needs.iter().all(|(a, d)| region(*a, *d).covers_tree(t))
                    })
                {
                    for (a, _) in needs.iter() {
                        for why in &region(*a, false).why {
                            b.add(file, *right, why, RuleOrigin::ExactFile);
                        }
                    }
                }
            }
        }
        let net = if self.connect_forbidden {
            NetPlan::ConnectPorts(BTreeMap::new())
        } else {
            match self.ports {
                None => NetPlan::ConnectPorts(BTreeMap::new()),
                Some(None) => NetPlan::Unrestricted {
                    reason: "a permit allows connect to any host and port".into(),
                },
                Some(Some(p)) => NetPlan::ConnectPorts(p),
            }
        };
        SandboxPlan {
            fs: FsPlan::Rules(b.rules()),
            net,
        }
    }
}

/// The ports a condition names, when it names nothing else (`resource.port == N`,
/// `[N, M].contains(resource.port)`, and conjunctions and disjunctions of those).
fn exact_ports(expr: &Value) -> Option<BTreeSet<u16>> {
    let obj = expr.as_object()?;
    let (op, args) = obj.iter().next()?;
    match op.as_str() {
        "&&" => {
            let l = exact_ports(args.get("left")?)?;
            let r = exact_ports(args.get("right")?)?;
            Some(l.intersection(&r).copied().collect())
        }
        "||" => {
            let mut l = exact_ports(args.get("left")?)?;
            l.extend(exact_ports(args.get("right")?)?);
            Some(l)
        }
        "==" | "contains" => condition_ports(expr),
        _ => None,
    }
}
