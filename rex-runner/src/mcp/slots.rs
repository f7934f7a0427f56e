//! The run slots: at most `--max-concurrent` children at once, at most an agent's own share
//! of them (`max_concurrent` in AGENTS.toml), and a bounded wait queue per agent. Freed slots
//! go round-robin to the agents that have calls waiting, so one agent's backlog cannot starve
//! another. A call that finds its agent's queue full, or the queued request bytes of all
//! agents at their bound, is refused at once ("busy, retry") instead of waiting.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

/// The bounds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SlotLimits {
    /// Runs at once, over all agents.
    pub total: usize,
    /// Calls one agent may have waiting.
    pub queue_per_agent: usize,
    /// Request bytes all waiting calls may hold together.
    pub queued_bytes: usize,
}

/// Why a call gets no slot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SlotError {
    /// The caller's queue or the queued bytes are full.
    #[error(
        "busy: every run slot this caller may use is taken and {waiting} of its calls are already waiting ({bytes} request bytes queued on the server); retry later"
    )]
    Busy {
        /// The caller's waiting calls.
        waiting: usize,
        /// The queued bytes, all callers.
        bytes: usize,
    },
    /// The server is shutting down.
    #[error("the server is shutting down")]
    Closed,
}

struct Waiter {
    id: u64,
    bytes: usize,
    grant: oneshot::Sender<Slot>,
}

#[derive(Default)]
struct Caller {
    running: usize,
    cap: usize,
    queue: VecDeque<Waiter>,
}

#[derive(Default)]
struct Inner {
    running: usize,
    queued_bytes: usize,
    next_id: u64,
    callers: BTreeMap<String, Caller>,
    /// Callers with waiting calls, in the order they are served.
    turns: VecDeque<String>,
    closed: bool,
}

/// The shared slot table.
pub(crate) struct Slots {
    limits: SlotLimits,
    inner: Mutex<Inner>,
}

/// One run slot, held for the run; dropping it frees the slot for the next waiting call.
pub(crate) struct Slot {
    slots: Arc<Slots>,
    caller: String,
    armed: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.armed {
            self.slots.release(&self.caller);
        }
    }
}

/// Removes a waiting call from its queue if its future is dropped before it got a slot (a
/// cancelled call must not keep its place or its bytes).
struct Waiting<'a> {
    slots: &'a Arc<Slots>,
    caller: &'a str,
    id: u64,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut inner = self.slots.lock();
        let Some(c) = inner.callers.get_mut(self.caller) else {
            return;
        };
        if let Some(at) = c.queue.iter().position(|w| w.id == self.id) {
            let bytes = c.queue.remove(at).map_or(0, |w| w.bytes);
            let emptied = c.queue.is_empty();
            let idle = emptied && c.running == 0;
            inner.queued_bytes = inner.queued_bytes.saturating_sub(bytes);
            // A caller with nothing left waiting leaves the turns (it would otherwise get
            // a second place in them with its next waiting call), and is forgotten if it
            // has nothing running either.
            if emptied {
                inner.turns.retain(|t| t != self.caller);
            }
            if idle {
                inner.callers.remove(self.caller);
            }
        }
    }
}

impl Slots {
    /// A table with these bounds.
    pub(crate) fn new(limits: SlotLimits) -> Arc<Self> {
        Arc::new(Slots {
            limits,
            inner: Mutex::new(Inner::default()),
        })
    }

    /// Runs at once, over all callers.
    pub(crate) fn total(&self) -> usize {
        self.limits.total
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for `caller` (who may hold `cap` at once) for a call of `bytes` request bytes:
    /// at once if one is free and the caller has none waiting, else after its turn comes,
    /// or an error if its queue or the queued bytes are full.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        caller: &str,
        cap: usize,
        bytes: usize,
    ) -> Result<Slot, SlotError> {
        let (id, rx) = {
            let mut inner = self.lock();
            if inner.closed {
                return Err(SlotError::Closed);
            }
            let total = self.limits.total;
            let free = inner.running < total;
            let c = inner.callers.entry(caller.to_string()).or_default();
            c.cap = cap.clamp(1, total.max(1));
            if free && c.running < c.cap && c.queue.is_empty() {
                c.running += 1;
                inner.running += 1;
                return Ok(Slot {
                    slots: self.clone(),
                    caller: caller.to_string(),
                    armed: true,
                });
            }
            let waiting = c.queue.len();
            if waiting >= self.limits.queue_per_agent
                || inner.queued_bytes.saturating_add(bytes) > self.limits.queued_bytes
            {
                return Err(SlotError::Busy {
                    waiting,
                    bytes: inner.queued_bytes,
                });
            }
            let id = inner.next_id;
            inner.next_id += 1;
            let (tx, rx) = oneshot::channel();
            inner.queued_bytes += bytes;
            let first = {
                let c = inner.callers.entry(caller.to_string()).or_default();
                c.queue.push_back(Waiter {
                    id,
                    bytes,
                    grant: tx,
                });
                c.queue.len() == 1
            };
            if first {
                inner.turns.push_back(caller.to_string());
            }
            (id, rx)
        };
        let _waiting = Waiting {
            slots: self,
            caller,
            id,
        };
        // A closed table drops the senders: the call ends with `Closed`.
        rx.await.map_err(|_| SlotError::Closed)
    }

    fn release(self: &Arc<Self>, caller: &str) {
        let mut inner = self.lock();
        inner.running = inner.running.saturating_sub(1);
        if let Some(c) = inner.callers.get_mut(caller) {
            c.running = c.running.saturating_sub(1);
        }
        self.dispatch(&mut inner);
    }

    /// Hands free slots to waiting calls, one caller after another (round-robin), skipping
    /// callers at their own cap.
    fn dispatch(self: &Arc<Self>, inner: &mut Inner) {
        let mut passes = inner.turns.len();
        while inner.running < self.limits.total && passes > 0 {
            let Some(name) = inner.turns.pop_front() else {
                break;
            };
            let Some(c) = inner.callers.get_mut(&name) else {
                passes = inner.turns.len();
                continue;
            };
            if c.running >= c.cap {
                // Its turn waits for one of its own runs to end.
                inner.turns.push_back(name);
                passes -= 1;
                continue;
            }
            let Some(w) = c.queue.pop_front() else {
                passes = inner.turns.len();
                continue;
            };
            let more = !c.queue.is_empty();
            c.running += 1;
            inner.running += 1;
            inner.queued_bytes = inner.queued_bytes.saturating_sub(w.bytes);
            let slot = Slot {
                slots: self.clone(),
                caller: name.clone(),
                armed: true,
            };
            if let Err(mut unclaimed) = w.grant.send(slot) {
                // The call went away meanwhile: undo here (the lock is held).
                unclaimed.armed = false;
                inner.running = inner.running.saturating_sub(1);
                if let Some(c) = inner.callers.get_mut(&name) {
                    c.running = c.running.saturating_sub(1);
                }
            }
            if more {
                inner.turns.push_back(name);
            }
            passes = inner.turns.len();
        }
        // Forget callers with nothing running or waiting (their entries would pile up).
        inner
            .callers
            .retain(|_, c| c.running > 0 || !c.queue.is_empty());
    }

    /// Refuses new calls and ends the waiting ones.
    pub(crate) fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        for c in inner.callers.values_mut() {
            c.queue.clear();
        }
        inner.turns.clear();
        inner.queued_bytes = 0;
    }

    /// How many runs are in flight.
    pub(crate) fn running(&self) -> usize {
        self.lock().running
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn limits(total: usize) -> SlotLimits {
        SlotLimits {
            total,
            queue_per_agent: 2,
            queued_bytes: 100,
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn one_agent_cannot_take_every_slot_and_turns_alternate() {
        let slots = Slots::new(limits(2));
        let a1 = slots.acquire("a", 1, 1).await.unwrap();
        // a is at its cap: its second call waits although a slot is free.
        let a2 = tokio::spawn({
            let s = slots.clone();
            async move { s.acquire("a", 1, 1).await }
        });
        tokio::task::yield_now().await;
        assert_eq!(slots.running(), 1);
        let b1 = slots.acquire("b", 1, 1).await.unwrap();
        assert_eq!(slots.running(), 2);
        drop(a1);
        let a2 = a2.await.unwrap().unwrap();
        assert_eq!(slots.running(), 2);
        drop((a2, b1));
        assert_eq!(slots.running(), 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_full_queue_and_full_bytes_are_busy_and_a_dropped_waiter_frees_its_place() {
        let slots = Slots::new(limits(1));
        let _held = slots.acquire("a", 1, 1).await.unwrap();
        let w1 = tokio::spawn({
            let s = slots.clone();
            async move { s.acquire("a", 1, 10).await.map(|_| ()) }
        });
        let w2 = tokio::spawn({
            let s = slots.clone();
            async move { s.acquire("a", 1, 10).await.map(|_| ()) }
        });
        tokio::task::yield_now().await;
        assert!(matches!(
            slots.acquire("a", 1, 1).await.err(),
            Some(SlotError::Busy { waiting: 2, .. })
        ));
        // Another agent is bounded by the queued bytes.
        assert!(matches!(
            slots.acquire("b", 1, 81).await.err(),
            Some(SlotError::Busy { bytes: 20, .. })
        ));
        w1.abort();
        w2.abort();
        let _ = (w1.await, w2.await);
        assert_eq!(slots.lock().queued_bytes, 0);
        // The caller whose waiters went away has no turn left.
        assert!(slots.lock().turns.is_empty());
        slots.close();
        assert_eq!(
            slots.acquire("b", 1, 1).await.err(),
            Some(SlotError::Closed)
        );
    }
}
