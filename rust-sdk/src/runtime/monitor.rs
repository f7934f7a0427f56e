//! Resource usage of the runner's **own** process (REX's process monitoring metrics).
//!
//! This is the one part of rust-sdk that is not gated by Cedar, because it is not a host
//! operation a script can reach: no script function calls it, it takes no input, and it reads
//! only the current process's own counters (`getrusage(RUSAGE_SELF)`, `/proc/self/statm`). The runner samples it around each run to
//! report `RexRunnerProcessCpuUsage`, `RexRunnerRssMemoryUsageAverage` and
//! `RexRunnerVirtualMemoryUsageAverage`.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// One reading of the process's counters.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Reading {
    cpu_seconds: f64,
    rss_bytes: u64,
    vsize_bytes: u64,
}

fn read_self() -> Option<Reading> {
    // CPU: one getrusage(2) call. Memory: /proc/self/statm (two numbers, in pages), which is
    // far cheaper to read and parse than /proc/self/stat.
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).ok()?;
    let seconds = |t: nix::sys::time::TimeVal| {
        #[allow(clippy::cast_precision_loss)]
        let s = t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
        s
    };
    let cpu_seconds = seconds(usage.user_time()) + seconds(usage.system_time());
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let mut fields = statm.split_ascii_whitespace();
    let size: u64 = fields.next()?.parse().ok()?;
    let resident: u64 = fields.next()?.parse().ok()?;
    let page = procfs::page_size();
    Some(Reading {
        cpu_seconds,
        rss_bytes: resident.saturating_mul(page),
        vsize_bytes: size.saturating_mul(page),
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

/// How many readings a monitor keeps between start and stop (one hour at one per second).
const MAX_SAMPLES: usize = 3600;

fn lock(m: &Mutex<VecDeque<Reading>>) -> MutexGuard<'_, VecDeque<Reading>> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Measures CPU time from start to stop, and averages memory over the start reading, the
/// readings its caller takes in between ([`ProcessMonitor::sample`]) and the stop reading.
/// No thread of its own: the runner samples every second on the thread that waits for the
/// script, so a run shorter than that costs two readings and nothing else.
#[derive(Debug)]
pub struct ProcessMonitor {
    start: Instant,
    first: Reading,
    samples: Mutex<VecDeque<Reading>>,
}

impl ProcessMonitor {
    /// Starts monitoring (the start reading). `None` when the process's counters cannot be
    /// read (the caller then reports no process metrics).
    pub fn start() -> Option<Self> {
        let first = read_self()?;
        Some(Self {
            start: Instant::now(),
            first,
            samples: Mutex::new(VecDeque::new()),
        })
    }

    /// Takes one reading now (REX sampled once per second). At most [`MAX_SAMPLES`] are kept,
    /// the oldest dropped first.
    pub fn sample(&self) {
        if let Some(r) = read_self() {
            let mut samples = lock(&self.samples);
            if samples.len() >= MAX_SAMPLES {
                samples.pop_front();
            }
            samples.push_back(r);
        }
    }

    /// Takes the stop reading and returns the usage over the monitored interval.
    pub fn stop(&self) -> ProcessUsage {
        let last = read_self();
        let elapsed = self.start.elapsed().as_secs_f64();
        let (mut rss, mut vsize, mut n) = (0.0_f64, 0.0_f64, 0_u32);
        let mut add = |r: &Reading| {
            #[allow(clippy::cast_precision_loss)]
            {
                rss += r.rss_bytes as f64;
                vsize += r.vsize_bytes as f64;
            }
            n = n.saturating_add(1);
        };
        add(&self.first);
        for r in lock(&self.samples).iter() {
            add(r);
        }
        if let Some(r) = &last {
            add(r);
        }
        let cpu = last.map_or(0.0, |r| (r.cpu_seconds - self.first.cpu_seconds).max(0.0));
        let count = f64::from(n.max(1));
        const MIB: f64 = 1024.0 * 1024.0;
        ProcessUsage {
            cpu_percent: if elapsed > 0.0 {
                cpu / elapsed * 100.0
            } else {
                0.0
            },
            rss_megabytes_average: rss / count / MIB,
            virtual_megabytes_average: vsize / count / MIB,
            samples: n,
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
    use std::time::Duration;

    #[test]
    fn measures_busy_cpu_and_real_memory() {
        let monitor = ProcessMonitor::start().unwrap();
        // Burn CPU and hold memory for a moment.
        let block = vec![1u8; 32 * 1024 * 1024];
        let mut x = 0u64;
        let until = Instant::now() + Duration::from_millis(200);
        while Instant::now() < until {
            x = x.wrapping_add(std::hint::black_box(u64::from(
                block[x as usize % block.len()],
            )));
            if x.is_multiple_of(1_000_000) {
                monitor.sample();
            }
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
    fn a_monitor_counts_the_readings_its_caller_takes_and_starts_no_thread() {
        let threads = || std::fs::read_dir("/proc/self/task").unwrap().count();
        let before = threads();
        let monitor = ProcessMonitor::start().unwrap();
        for _ in 0..3 {
            monitor.sample();
        }
        assert_eq!(threads(), before);
        let usage = monitor.stop();
        assert_eq!(usage.samples, 5, "{usage:?}");
        assert!(usage.rss_megabytes_average > 0.0, "{usage:?}");
    }

    #[test]
    fn an_unsampled_run_still_has_start_and_stop_samples() {
        let monitor = ProcessMonitor::start().unwrap();
        let usage = monitor.stop();
        assert!(usage.samples >= 2, "{usage:?}");
        assert!(usage.cpu_percent.is_finite() && usage.cpu_percent >= 0.0);
        assert!(usage.rss_megabytes_average > 0.0, "{usage:?}");
    }
}
