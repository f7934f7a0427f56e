//! CPU monitoring of processes in batches (`monitor_processes_cpu`).

use super::*;

/// Most batches [`ProcessManager::monitor_processes_cpu`] takes.
pub const MAX_MONITOR_BATCHES: u32 = 10_000;

/// Longest delay between two monitoring batches.
pub const MAX_MONITOR_DELAY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Options of [`ProcessManager::monitor_processes_cpu`] (REX's `MonitorProcessesCpuOptions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorProcessesCpuOptions {
    /// The processes to sample (empty: all).
    pub pids_to_monitor: Vec<u32>,
    /// How many samples (1 to [`MAX_MONITOR_BATCHES`]).
    pub batches: u32,
    /// The pause between two samples (at most [`MAX_MONITOR_DELAY`]).
    pub delay: std::time::Duration,
    /// Also report each thread.
    pub include_threads: bool,
}

impl Default for MonitorProcessesCpuOptions {
    fn default() -> Self {
        MonitorProcessesCpuOptions {
            pids_to_monitor: Vec::new(),
            batches: 1,
            delay: std::time::Duration::from_secs(1),
            include_threads: false,
        }
    }
}

impl MonitorProcessesCpuOptions {
    /// Checks the bounds.
    pub fn validate(&self) -> Result<(), ProcessError> {
        if self.batches == 0 || self.batches > MAX_MONITOR_BATCHES {
            return Err(ProcessError::Validation(format!(
                "batches must be between 1 and {MAX_MONITOR_BATCHES}, got {}",
                self.batches
            )));
        }
        if self.delay > MAX_MONITOR_DELAY {
            return Err(ProcessError::Validation(format!(
                "delay must be at most {} s",
                MAX_MONITOR_DELAY.as_secs()
            )));
        }
        if self.pids_to_monitor.contains(&0) {
            return Err(ProcessError::Validation("pid 0 is not a process".into()));
        }
        Ok(())
    }
}

/// Sleeps `d` in short slices; `false` when cancelled meanwhile.
fn sleep_unless_cancelled(ctx: &SdkContext, d: std::time::Duration) -> bool {
    let slice = std::time::Duration::from_millis(50);
    let mut left = d;
    while !left.is_zero() {
        if ctx.is_cancelled() {
            return false;
        }
        let step = left.min(slice);
        std::thread::sleep(step);
        left = left.saturating_sub(step);
    }
    !ctx.is_cancelled()
}

impl ProcessManager {
    /// CPU usage of processes over time (REX's `monitor_processes_cpu`): `batches` samples,
    /// `delay` apart; the first batch's `recent_cpu_usage` is relative to the previous sample
    /// of this manager (or the lifetime average), the others to the batch before. Each
    /// process is checked with `list` in every batch; denied and exited ones are left out.
    /// An empty `pids_to_monitor` monitors every process. Cancellation (the context flag)
    /// ends the monitoring early with the batches taken so far, and no further batch is taken
    /// once the batches hold `max_entries` entries together.
    pub fn monitor_processes_cpu(
        &mut self,
        ctx: &SdkContext,
        opts: &MonitorProcessesCpuOptions,
    ) -> Result<Vec<Vec<ProcessInfo>>, ProcessError> {
        opts.validate()?;
        let pids = (!opts.pids_to_monitor.is_empty()).then_some(opts.pids_to_monitor.as_slice());
        let mut batches = Vec::new();
        let mut total: usize = 0;
        for i in 0..opts.batches {
            if i > 0 && !sleep_unless_cancelled(ctx, opts.delay) {
                break;
            }
            // the entry limit applies to all batches together
            if ctx.is_cancelled() || total >= ctx.limits().max_entries {
                break;
            }
            let batch = self.sample(ctx, pids, opts.include_threads)?.processes;
            total = total.saturating_add(batch.len());
            batches.push(batch);
        }
        Ok(batches)
    }
}
