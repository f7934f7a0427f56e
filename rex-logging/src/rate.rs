//! Rate limiting of repeated operational log records (issue 19: every denial of a hostile
//! script, caught or not, went to the log and syslog at WARN, 20 000 denials ≈ 80 MB).

use std::collections::HashSet;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Records a [`RateLimiter`] lets through per window by default.
pub const DEFAULT_LOG_BURST: usize = 100;

/// The default window of a [`RateLimiter`].
pub const DEFAULT_LOG_WINDOW: Duration = Duration::from_secs(60);

/// What [`RateLimiter::admit`] decided for one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Log the record. `suppressed` records were held back since the last summary: log a
    /// "suppressed N" summary first when it is not zero.
    Log {
        /// Records suppressed since the last summary.
        suppressed: u64,
    },
    /// Do not log the record (it is counted for the next summary).
    Suppress,
}

#[derive(Debug)]
struct State {
    window_start: Instant,
    emitted: usize,
    keys: HashSet<u64>,
    suppressed: u64,
}

/// Lets through at most `burst` records per window, and of those at most one per key
/// (a repeated record adds nothing); the rest are counted, never stored, and reported as a
/// single "suppressed N" summary ([`Admission::Log`] or [`RateLimiter::take_suppressed`]).
/// Thread-safe; memory is bounded by `burst` keys.
///
/// ```
/// use std::time::Duration;
/// use rex_logging::{Admission, RateLimiter};
///
/// let limiter = RateLimiter::new(2, Duration::from_secs(60));
/// assert_eq!(limiter.admit("deny /a"), Admission::Log { suppressed: 0 });
/// assert_eq!(limiter.admit("deny /a"), Admission::Suppress); // a repeat
/// // logged, after a summary of the one repeat held back
/// assert_eq!(limiter.admit("deny /b"), Admission::Log { suppressed: 1 });
/// assert_eq!(limiter.admit("deny /c"), Admission::Suppress); // over the burst
/// assert_eq!(limiter.take_suppressed(), 1);
/// assert_eq!(limiter.take_suppressed(), 0);
/// ```
#[derive(Debug)]
pub struct RateLimiter {
    burst: usize,
    window: Duration,
    state: Mutex<State>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new(DEFAULT_LOG_BURST, DEFAULT_LOG_WINDOW)
    }
}

impl RateLimiter {
    /// A limiter letting `burst` distinct records through per `window`.
    #[must_use]
    pub fn new(burst: usize, window: Duration) -> Self {
        RateLimiter {
            burst,
            window,
            state: Mutex::new(State {
                window_start: Instant::now(),
                emitted: 0,
                keys: HashSet::new(),
                suppressed: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a record identified by `key` (what makes two records repeats of each other)
    /// may be logged now.
    pub fn admit(&self, key: &str) -> Admission {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        let hash = hasher.finish();
        let mut state = self.lock();
        let now = Instant::now();
        if now.saturating_duration_since(state.window_start) >= self.window {
            state.window_start = now;
            state.emitted = 0;
            state.keys.clear();
        }
        if state.emitted >= self.burst || state.keys.contains(&hash) {
            state.suppressed = state.suppressed.saturating_add(1);
            return Admission::Suppress;
        }
        state.emitted += 1;
        state.keys.insert(hash);
        Admission::Log {
            suppressed: std::mem::take(&mut state.suppressed),
        }
    }

    /// The number of records suppressed since the last summary, reset to zero (log it as
    /// the summary, e.g. when a run ends).
    pub fn take_suppressed(&self) -> u64 {
        std::mem::take(&mut self.lock().suppressed)
    }
}
