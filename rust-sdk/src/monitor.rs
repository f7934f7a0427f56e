//! Resource usage of the runner's **own** process (REX's process monitoring metrics).
//!
//! This is the one part of rust-sdk that is not gated by Cedar, because it is not a host
//! operation a script can reach: no script function calls it, it takes no input, and it reads
//! only `/proc/self/stat` of the current process. The runner samples it around each run to
//! report `RexRunnerProcessCpuUsage`, `RexRunnerRssMemoryUsageAverage` and
//! `RexRunnerVirtualMemoryUsageAverage`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One reading of the process's counters.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Reading {
    cpu_seconds: f64,
    rss_bytes: u64,
    vsize_bytes: u64,
}

fn read_self() -> Option<Reading> {
    let stat = procfs::process::Process::myself().ok()?.stat().ok()?;
    let ticks = procfs::ticks_per_second();
    if ticks == 0 {
        return None;
    }
    #[allow(clippy::cast_precision_loss)]
    let cpu_seconds = stat.utime.saturating_add(stat.stime) as f64 / ticks as f64;
    Some(Reading {
        cpu_seconds,
        rss_bytes: stat.rss.saturating_mul(procfs::page_size()),
        vsize_bytes: stat.vsize,
    })
}

/// CPU and memory usage of the process over a monitored interval.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ProcessUsage {
    /// CPU time (user + system, all threads) over wall-clock time, in percent (can exceed
    /// 100 on several cores).
    pub cpu_percent: f64,
    /// Average resident set size over the samples, in megabytes (MiB).
    pub rss_megabytes_average: f64,
    /// Average virtual memory size over the samples, in megabytes (MiB).
    pub virtual_megabytes_average: f64,
    /// How many samples the averages are made of (at least two: start and stop).
    pub samples: u32,
}

#[derive(Debug, Default)]
struct Totals {
    rss: f64,
    vsize: f64,
    samples: u32,
}

impl Totals {
    fn add(&mut self, r: &Reading) {
        #[allow(clippy::cast_precision_loss)]
        {
            self.rss += r.rss_bytes as f64;
            self.vsize += r.vsize_bytes as f64;
        }
        self.samples = self.samples.saturating_add(1);
    }
}

fn lock(m: &Mutex<Totals>) -> std::sync::MutexGuard<'_, Totals> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Samples the process's memory at a fixed interval on a background thread until
/// [`ProcessMonitor::stop`], and measures CPU time from start to stop.
#[derive(Debug)]
pub struct ProcessMonitor {
    start: Instant,
    first: Reading,
    totals: Arc<Mutex<Totals>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ProcessMonitor {
    /// Starts monitoring, sampling every `interval` (REX sampled once per second). `None`
    /// when `/proc/self/stat` cannot be read (the caller then reports no process metrics).
    pub fn start(interval: Duration) -> Option<Self> {
        let first = read_self()?;
        let mut totals = Totals::default();
        totals.add(&first);
        let totals = Arc::new(Mutex::new(totals));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let totals = Arc::clone(&totals);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("rex-monitor".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::park_timeout(interval);
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        if let Some(r) = read_self() {
                            lock(&totals).add(&r);
                        }
                    }
                })
                .ok()
        };
        Some(Self {
            start: Instant::now(),
            first,
            totals,
            stop,
            thread,
        })
    }

    /// Stops the sampler (one last sample is taken) and returns the usage.
    pub fn stop(mut self) -> ProcessUsage {
        self.finish()
    }

    fn finish(&mut self) -> ProcessUsage {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
        let elapsed = self.start.elapsed().as_secs_f64();
        let last = read_self();
        let mut totals = lock(&self.totals);
        if let Some(r) = &last {
            totals.add(r);
        }
        let cpu = last.map_or(0.0, |r| (r.cpu_seconds - self.first.cpu_seconds).max(0.0));
        let n = f64::from(totals.samples.max(1));
        const MIB: f64 = 1024.0 * 1024.0;
        ProcessUsage {
            cpu_percent: if elapsed > 0.0 {
                cpu / elapsed * 100.0
            } else {
                0.0
            },
            rss_megabytes_average: totals.rss / n / MIB,
            virtual_megabytes_average: totals.vsize / n / MIB,
            samples: totals.samples,
        }
    }
}

impl Drop for ProcessMonitor {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::cast_possible_truncation
    )]
    use super::*;

    #[test]
    fn measures_busy_cpu_and_real_memory() {
        let monitor = ProcessMonitor::start(Duration::from_millis(5)).unwrap();
        // Burn CPU and hold memory for a moment.
        let block = vec![1u8; 32 * 1024 * 1024];
        let mut x = 0u64;
        let until = Instant::now() + Duration::from_millis(200);
        while Instant::now() < until {
            x = x.wrapping_add(std::hint::black_box(u64::from(
                block[x as usize % block.len()],
            )));
        }
        std::hint::black_box(x);
        let usage = monitor.stop();
        assert!(usage.samples >= 2, "{usage:?}");
        assert!(usage.cpu_percent > 10.0, "{usage:?}");
        assert!(usage.rss_megabytes_average > 1.0, "{usage:?}");
        assert!(
            usage.virtual_megabytes_average >= usage.rss_megabytes_average,
            "{usage:?}"
        );
        drop(block);
    }

    #[test]
    fn a_short_interval_still_has_start_and_stop_samples() {
        let monitor = ProcessMonitor::start(Duration::from_secs(3600)).unwrap();
        let usage = monitor.stop();
        assert!(usage.samples >= 2, "{usage:?}");
        assert!(usage.cpu_percent.is_finite() && usage.cpu_percent >= 0.0);
        assert!(usage.rss_megabytes_average > 0.0, "{usage:?}");
    }
}
