//! System V IPC objects (`ipcs`) from `/proc/sysvipc/{shm,sem,msg}`.

use std::collections::HashMap;

use super::{ProcessError, Users, enum_err};
use crate::{SdkContext, proc_file};

/// One shared memory segment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SharedMemorySegment {
    /// The IPC key, as `ipcs` prints it (`0x0000002a`).
    pub key: String,
    /// The segment id.
    pub shmid: u64,
    /// Owner's user name.
    pub owner: String,
    /// Owner's uid.
    pub uid: u32,
    /// Permission bits, octal text (`600`).
    pub perms: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Number of attached processes.
    pub nattch: u64,
    /// Creator PID.
    pub cpid: u32,
    /// PID of the last attach/detach.
    pub lpid: u32,
}

/// One semaphore set.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SemaphoreSet {
    /// The IPC key (`0x...`).
    pub key: String,
    /// The set id.
    pub semid: u64,
    /// Owner's user name.
    pub owner: String,
    /// Owner's uid.
    pub uid: u32,
    /// Permission bits, octal text.
    pub perms: String,
    /// Semaphores in the set.
    pub nsems: u64,
}

/// One message queue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MessageQueue {
    /// The IPC key (`0x...`).
    pub key: String,
    /// The queue id.
    pub msqid: u64,
    /// Owner's user name.
    pub owner: String,
    /// Owner's uid.
    pub uid: u32,
    /// Permission bits, octal text.
    pub perms: String,
    /// Bytes queued.
    pub used_bytes: u64,
    /// Messages queued.
    pub messages: u64,
}

/// All System V IPC objects (REX's `IpcsInfo`). `Display` prints them like `ipcs`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct IpcsInfo {
    /// Shared memory segments.
    pub shared_memory: Vec<SharedMemorySegment>,
    /// Semaphore sets.
    pub semaphores: Vec<SemaphoreSet>,
    /// Message queues.
    pub queues: Vec<MessageQueue>,
}

impl std::fmt::Display for IpcsInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "------ Message Queues --------")?;
        writeln!(
            f,
            "{:<10} {:<10} {:<10} {:<10} {:<12} {:<10}",
            "key", "msqid", "owner", "perms", "used-bytes", "messages"
        )?;
        for q in &self.queues {
            writeln!(
                f,
                "{:<10} {:<10} {:<10} {:<10} {:<12} {:<10}",
                q.key, q.msqid, q.owner, q.perms, q.used_bytes, q.messages
            )?;
        }
        writeln!(f)?;
        writeln!(f, "------ Shared Memory Segments --------")?;
        writeln!(
            f,
            "{:<10} {:<10} {:<10} {:<10} {:<10} {:<10}",
            "key", "shmid", "owner", "perms", "bytes", "nattch"
        )?;
        for s in &self.shared_memory {
            writeln!(
                f,
                "{:<10} {:<10} {:<10} {:<10} {:<10} {:<10}",
                s.key, s.shmid, s.owner, s.perms, s.bytes, s.nattch
            )?;
        }
        writeln!(f)?;
        writeln!(f, "------ Semaphore Arrays --------")?;
        writeln!(
            f,
            "{:<10} {:<10} {:<10} {:<10} {:<10}",
            "key", "semid", "owner", "perms", "nsems"
        )?;
        for s in &self.semaphores {
            writeln!(
                f,
                "{:<10} {:<10} {:<10} {:<10} {:<10}",
                s.key, s.semid, s.owner, s.perms, s.nsems
            )?;
        }
        Ok(())
    }
}

/// Rows of a `/proc/sysvipc/*` table as column name → value.
fn rows(text: &str) -> Vec<HashMap<&str, &str>> {
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let names: Vec<&str> = header.split_whitespace().collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| names.iter().copied().zip(l.split_whitespace()).collect())
        .collect()
}

fn field<T: std::str::FromStr>(
    row: &HashMap<&str, &str>,
    name: &str,
    file: &str,
) -> Result<T, ProcessError> {
    row.get(name)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| enum_err(format!("{file}: missing or invalid `{name}`")))
}

fn key_text(row: &HashMap<&str, &str>, file: &str) -> Result<String, ProcessError> {
    let key: i32 = field(row, "key", file)?;
    Ok(format!("{:#010x}", key.cast_unsigned()))
}

/// The kernel prints `perms` in octal already; re-render the permission bits only.
fn perms_text(row: &HashMap<&str, &str>, file: &str) -> Result<String, ProcessError> {
    let p = row
        .get("perms")
        .and_then(|v| u32::from_str_radix(v, 8).ok())
        .ok_or_else(|| enum_err(format!("{file}: missing or invalid `perms`")))?;
    Ok(format!("{:o}", p & 0o777))
}

/// Parses the three tables (given as text) into an [`IpcsInfo`].
pub(super) fn parse(
    shm: &str,
    sem: &str,
    msg: &str,
    users: &mut Users,
) -> Result<IpcsInfo, ProcessError> {
    let mut out = IpcsInfo::default();
    let f = "/proc/sysvipc/shm";
    for r in rows(shm) {
        let uid = field(&r, "uid", f)?;
        out.shared_memory.push(SharedMemorySegment {
            key: key_text(&r, f)?,
            shmid: field(&r, "shmid", f)?,
            owner: users.name(uid),
            uid,
            perms: perms_text(&r, f)?,
            bytes: field(&r, "size", f)?,
            nattch: field(&r, "nattch", f)?,
            cpid: field(&r, "cpid", f)?,
            lpid: field(&r, "lpid", f)?,
        });
    }
    let f = "/proc/sysvipc/sem";
    for r in rows(sem) {
        let uid = field(&r, "uid", f)?;
        out.semaphores.push(SemaphoreSet {
            key: key_text(&r, f)?,
            semid: field(&r, "semid", f)?,
            owner: users.name(uid),
            uid,
            perms: perms_text(&r, f)?,
            nsems: field(&r, "nsems", f)?,
        });
    }
    let f = "/proc/sysvipc/msg";
    for r in rows(msg) {
        let uid = field(&r, "uid", f)?;
        out.queues.push(MessageQueue {
            key: key_text(&r, f)?,
            msqid: field(&r, "msqid", f)?,
            owner: users.name(uid),
            uid,
            perms: perms_text(&r, f)?,
            used_bytes: field(&r, "cbytes", f)?,
            messages: field(&r, "qnum", f)?,
        });
    }
    Ok(out)
}

/// Checks `open` on Dir `/proc/sysvipc` and `open`+`read` on the three files (all before any
/// read), then reads them, each bounded by `max_read_bytes`.
pub(super) fn read_tables(ctx: &SdkContext) -> Result<[String; 3], ProcessError> {
    let [shm, sem, msg] = proc_file::authorize(ctx, "/proc/sysvipc", ["shm", "sem", "msg"])?;
    Ok([shm.read(ctx)?, sem.read(ctx)?, msg.read(ctx)?])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn parses_tables() {
        let shm = "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n\
                   42         7   644                  4096   100   0      0     0     0     0     0          0          0 1700000000                     0                     0\n";
        let sem = "       key      semid perms      nsems   uid   gid  cuid  cgid      otime      ctime\n\
                   -1         3   600          2     0     0     0     0          0 1700000000\n";
        let msg = "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime\n";
        let mut users = Users::default();
        let info = parse(shm, sem, msg, &mut users).unwrap();
        let s = &info.shared_memory[0];
        assert_eq!(s.key, "0x0000002a");
        assert_eq!((s.shmid, s.bytes, s.cpid), (7, 4096, 100));
        assert_eq!(s.perms, "644");
        assert_eq!(s.owner, "root");
        assert_eq!(info.semaphores[0].key, "0xffffffff");
        assert_eq!(info.semaphores[0].nsems, 2);
        assert!(info.queues.is_empty());
        let text = info.to_string();
        assert!(text.contains("Shared Memory Segments"));
        assert!(text.contains("0x0000002a"));
        assert!(parse("key shmid\nnot-a-number 1\n", "", "", &mut users).is_err());
    }
}
