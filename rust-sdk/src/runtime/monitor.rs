//! Resource usage of the runner's **own** process (REX's process monitoring metrics).
//!
//! This is the one part of rust-sdk that is not gated by Cedar, because it is not a host
//! operation a script can reach: no script function calls it, it takes no input, and it reads
//! only the current process's own counters (`getrusage(RUSAGE_SELF)`, `/proc/self/statm`). The runner samples it around each run to
//! report `RexRunnerProcessCpuUsage`, `RexRunnerRssMemoryUsageAverage` and
//! `RexRunnerVirtualMemoryUsageAverage`.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

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

/// How many periodic samples the shared sampler keeps (one hour at one per second).
const MAX_SAMPLES: usize = 3600;

/// The process-wide sampler: one background thread, started on first use, that records a
/// reading every interval. Monitors read the samples that fall inside their own window, so
/// starting and stopping a monitor costs two readings and no thread creation.
struct Sampler {
    samples: Mutex<VecDeque<(Instant, Reading)>>,
}

fn lock(m: &Mutex<VecDeque<(Instant, Reading)>>) -> MutexGuard<'_, VecDeque<(Instant, Reading)>> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn sampler(interval: Duration) -> &'static Sampler {
    static SAMPLER: OnceLock<&'static Sampler> = OnceLock::new();
    SAMPLER.get_or_init(|| {
        let sampler: &'static Sampler = Box::leak(Box::new(Sampler {
            samples: Mutex::new(VecDeque::new()),
        }));
        // If the thread cannot be started, monitors still have their start and stop readings.
        let _ = std::thread::Builder::new()
            .name("rex-monitor".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                loop {
                    std::thread::sleep(interval);
                    if let Some(r) = read_self() {
                        let mut samples = lock(&sampler.samples);
                        if samples.len() >= MAX_SAMPLES {
                            samples.pop_front();
                        }
                        samples.push_back((Instant::now(), r));
                    }
                }
            });
        sampler
    })
}

/// Where a monitor's readings between start and stop come from.
#[derive(Debug)]
enum Samples {
    /// The process-wide sampler thread's.
    Shared(&'static Mutex<VecDeque<(Instant, Reading)>>),
    /// The monitor's own, taken by its caller ([`ProcessMonitor::sample`]).
    Own(Mutex<VecDeque<(Instant, Reading)>>),
}

/// Measures CPU time from start to stop, and averages memory over the start reading, the
/// readings in between (one per interval) and the stop reading.
#[derive(Debug)]
pub struct ProcessMonitor {
    start: Instant,
    first: Reading,
    samples: Samples,
}

impl ProcessMonitor {
    /// Starts monitoring. The shared sampler takes a reading every `interval` (REX sampled
    /// once per second; the first monitor of the process fixes the interval). `None` when the
    /// process's counters cannot be read (the caller then reports no process metrics).
    pub fn start(interval: Duration) -> Option<Self> {
        let samples = &sampler(interval).samples;
        let first = read_self()?;
        Some(Self {
            start: Instant::now(),
            first,
            samples: Samples::Shared(samples),
        })
    }

    /// Starts monitoring without any thread: the caller takes the readings in between with
    /// [`ProcessMonitor::sample`] (the runner does, every second, on the thread that waits for
    /// the script). A run shorter than one interval costs two readings and nothing else.
    pub fn sampled_by_caller() -> Option<Self> {
        let first = read_self()?;
        Some(Self {
            start: Instant::now(),
            first,
            samples: Samples::Own(Mutex::new(VecDeque::new())),
        })
    }

    /// Takes one reading now (of a monitor made by [`ProcessMonitor::sampled_by_caller`]; a
    /// monitor fed by the shared sampler ignores it). At most [`MAX_SAMPLES`] are kept.
    pub fn sample(&self) {
        if let Samples::Own(samples) = &self.samples
            && let Some(r) = read_self()
        {
            let mut samples = lock(samples);
            if samples.len() >= MAX_SAMPLES {
                samples.pop_front();
            }
            samples.push_back((Instant::now(), r));
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
        let samples = match &self.samples {
            Samples::Shared(s) => s,
            Samples::Own(s) => s,
        };
        for (_, r) in lock(samples).iter().filter(|(t, _)| *t > self.start) {
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
    fn a_caller_sampled_monitor_counts_its_own_readings_and_starts_no_thread() {
        let threads = || std::fs::read_dir("/proc/self/task").unwrap().count();
        let before = threads();
        let monitor = ProcessMonitor::sampled_by_caller().unwrap();
        for _ in 0..3 {
            monitor.sample();
        }
        assert_eq!(threads(), before);
        let usage = monitor.stop();
        assert_eq!(usage.samples, 5, "{usage:?}");
        assert!(usage.rss_megabytes_average > 0.0, "{usage:?}");
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
