//! The kernel log (`/dev/kmsg`).

use super::*;

/// One kernel log record (REX's `DmesgEntry`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DmesgEntry {
    /// Time since boot: seconds with microseconds (`"12.345678"`) or, with
    /// `human_readable_time`, `[   12.345678]`.
    pub timestamp_from_system_start: String,
    /// The message.
    pub message: String,
}

/// Options of [`dmesg`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DmesgOptions {
    /// Format the timestamp like `dmesg` does (`[    1.234567]`).
    pub human_readable_time: bool,
}

/// Reads the kernel log from `/dev/kmsg` without blocking. Checks `read` on File `/dev/kmsg`.
/// At most `ctx.limits().max_entries` records and `max_read_bytes` bytes are returned.
pub fn dmesg(ctx: &SdkContext, opts: DmesgOptions) -> Result<Vec<DmesgEntry>, SysinfoError> {
    check_read_file(ctx, "/dev/kmsg")?;
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc_nonblock())
        .open("/dev/kmsg")
        .map_err(|e| SysinfoError::Io {
            op: "open /dev/kmsg",
            source: e,
        })?;
    let mut out = Vec::new();
    let mut total: u64 = 0;
    let mut buf = vec![0u8; 8192];
    loop {
        if out.len() >= ctx.limits().max_entries
            || total >= ctx.limits().max_read_bytes
            || ctx.is_cancelled()
        {
            break;
        }
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            // EPIPE: records were overwritten while reading; continue with the next one.
            Err(e) if e.raw_os_error() == Some(32) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(SysinfoError::Io {
                    op: "read /dev/kmsg",
                    source: e,
                });
            }
        };
        total = total.saturating_add(n as u64);
        let rec = String::from_utf8_lossy(buf.get(..n).unwrap_or_default());
        if let Some(e) = parse_kmsg(&rec, opts.human_readable_time) {
            out.push(e);
        }
    }
    Ok(out)
}

fn libc_nonblock() -> i32 {
    rustix::fs::OFlags::NONBLOCK.bits() as i32
}

/// Parses `pri,seq,usec,flags[,...];message\n[ continuation lines]`.
pub(super) fn parse_kmsg(rec: &str, human: bool) -> Option<DmesgEntry> {
    let (head, rest) = rec.split_once(';')?;
    let usec: u64 = head.split(',').nth(2)?.parse().ok()?;
    let message = rest.lines().next().unwrap_or_default().to_string();
    let secs = usec / 1_000_000;
    let micros = usec % 1_000_000;
    let timestamp_from_system_start = if human {
        format!("[{secs:5}.{micros:06}]")
    } else {
        format!("{secs}.{micros:06}")
    };
    Some(DmesgEntry {
        timestamp_from_system_start,
        message,
    })
}
