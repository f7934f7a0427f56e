//! Placing the runner's own helper threads on cores. Not a script operation: nothing here is
//! reachable from a script, and it touches no file, process or network resource (it only
//! changes the calling thread's CPU affinity for a moment), so there is no Cedar check.
//!
//! Why it exists: on some hosts (notably small VMs) the kernel queues a new thread on the
//! core of the thread that created it and moves it to an idle core only at the next
//! load-balancing tick, milliseconds later. For start-up work meant to run *beside* the main
//! thread (the CLI warms Cedar's schema while it builds the script engine), that delay would
//! make the work run after, not during.

use std::thread::JoinHandle;

use rustix::thread::{CpuSet, sched_getaffinity, sched_getcpu, sched_setaffinity};

/// Spawns `f` on a new thread named `name` and moves the calling thread to another core it
/// may run on, so that both run at once from the start. The calling thread's allowed cores
/// are restored right after the move (it only stays where it landed). When there is no other
/// core, or the affinity cannot be read or changed, the thread is simply spawned.
///
/// ```
/// let h = rust_sdk::runtime::sched::spawn_beside("example", || 6 * 7).unwrap();
/// assert_eq!(h.join().unwrap(), 42);
/// ```
pub fn spawn_beside<F, T>(name: &str, f: F) -> std::io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let handle = std::thread::Builder::new().name(name.into()).spawn(f)?;
    step_aside();
    Ok(handle)
}

/// Moves the calling thread to another allowed core, then gives it back its full set.
fn step_aside() {
    let Ok(allowed) = sched_getaffinity(None) else {
        return;
    };
    let here = sched_getcpu();
    let Some(other) = (0..CpuSet::MAX_CPU).find(|&c| c != here && allowed.is_set(c)) else {
        return;
    };
    let mut only = CpuSet::new();
    only.set(other);
    if sched_setaffinity(None, &only).is_ok() {
        // Widening again cannot fail where narrowing succeeded (same thread, a superset the
        // thread already had); if it ever did, the thread would only stay on one core.
        let _ = sched_setaffinity(None, &allowed);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn runs_the_function_and_leaves_the_callers_affinity_as_it_was() {
        let before = sched_getaffinity(None).unwrap();
        let h = spawn_beside("test-beside", || "done").unwrap();
        assert_eq!(h.join().unwrap(), "done");
        assert!(sched_getaffinity(None).unwrap() == before);
    }

    #[test]
    fn a_single_allowed_core_is_kept() {
        // Run on a thread pinned to the core it is on: there is nowhere else to go.
        let h = std::thread::spawn(|| {
            let mut one = CpuSet::new();
            one.set(sched_getcpu());
            sched_setaffinity(None, &one).unwrap();
            let w = spawn_beside("test-single", || 1).unwrap();
            assert_eq!(w.join().unwrap(), 1);
            sched_getaffinity(None).unwrap() == one
        });
        assert!(h.join().unwrap());
    }
}
