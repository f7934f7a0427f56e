//! Reading an archive and planning its extraction: bounded readers, entry names and the
//! planned tree (every conflict refused before anything is written).

use super::*;

/// Reads a file through its fd at an explicit offset (the fd's own cursor is not used).
struct PositionedReader<'a> {
    pub(super) file: &'a File,
    offset: u64,
}

impl Read for PositionedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.offset)?;
        self.offset += n as u64;
        Ok(n)
    }
}

/// Fails once more than `limit` bytes have been read.
struct CappedReader<R> {
    inner: R,
    pub(super) read: u64,
    limit: u64,
}

impl<R: Read> Read for CappedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(std::io::Error::other(StreamTooLarge(self.limit)));
        }
        Ok(n)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the archive stream is larger than {0} bytes")]
struct StreamTooLarge(u64);

/// The kind of a planned entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    File,
    Dir,
    Skipped,
    /// A pax global header or similar record: nothing to extract, nothing to report.
    Meta,
}

/// One archive entry as planned in the first pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Planned {
    /// Components relative to the destination (empty for a skipped entry whose path is `.`).
    pub(super) comps: Vec<String>,
    pub(super) kind: Kind,
    pub(super) size: u64,
    pub(super) mode: u32,
    pub(super) uid: u64,
    pub(super) gid: u64,
    pub(super) mtime: u64,
}

pub(super) fn archive_reader<'a>(
    f: &'a FileHandle,
    opts: &ExtractArchiveOptions,
) -> Result<Box<dyn Read + 'a>, FsError> {
    let p = f.path().as_str();
    let mut magic = [0u8; 2];
    let n = f
        .file
        .read_at(&mut magic, 0)
        .map_err(|e| FsError::io("read", p, e))?;
    let raw = PositionedReader {
        file: &f.file,
        offset: 0,
    };
    // Room for headers (512 bytes each, plus pax and long-name records) and padding.
    let limit = opts
        .max_total_bytes
        .saturating_add((opts.max_entries as u64).saturating_mul(4096))
        .saturating_add(1 << 20);
    let inner: Box<dyn Read + 'a> = if n == 2 && magic == [0x1f, 0x8b] {
        Box::new(flate2::read::MultiGzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    Ok(Box::new(CappedReader {
        inner,
        read: 0,
        limit,
    }))
}

pub(super) fn stream_error(path: &str, e: std::io::Error) -> FsError {
    if let Some(t) = e.get_ref().and_then(|i| i.downcast_ref::<StreamTooLarge>()) {
        return FsError::LimitExceeded {
            path: path.to_string(),
            reason: t.to_string(),
        };
    }
    FsError::InvalidContent {
        path: path.to_string(),
        reason: format!("not a valid tar or tar.gz archive: {e}"),
    }
}

/// Splits and validates an entry path; `Ok(vec![])` for `.` / `./`.
pub(super) fn entry_components(archive: &str, raw: &[u8]) -> Result<Vec<String>, FsError> {
    let bad = |reason: &str| FsError::InvalidPath {
        path: String::from_utf8_lossy(raw).into_owned(),
        reason: format!("archive `{archive}` entry: {reason}"),
    };
    if raw.contains(&0) {
        return Err(bad("contains NUL"));
    }
    let s = std::str::from_utf8(raw).map_err(|_| bad("not valid UTF-8"))?;
    if s.starts_with('/') {
        return Err(bad("absolute paths are refused"));
    }
    let mut out = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(bad("`..` components are refused")),
            c => out.push(c.to_string()),
        }
    }
    Ok(out)
}

pub(super) fn join(base: &ResourcePath, comps: &[String]) -> Result<ResourcePath, FsError> {
    let mut p = base.clone();
    for c in comps {
        p = p.join(c)?;
    }
    Ok(p)
}

/// First pass: validates every entry and applies the limits. No check, no write.
pub(super) fn plan(
    ctx: &SdkContext,
    f: &FileHandle,
    opts: &ExtractArchiveOptions,
) -> Result<Vec<Planned>, FsError> {
    let ap = f.path().as_str();
    let mut ar = tar::Archive::new(archive_reader(f, opts)?);
    let mut out: Vec<Planned> = Vec::new();
    let mut total = 0u64;
    let mut kinds: BTreeMap<Vec<String>, Kind> = BTreeMap::new();
    for entry in ar.entries().map_err(|e| stream_error(ap, e))? {
        if ctx.is_cancelled() {
            return Err(FsError::Cancelled);
        }
        let entry = entry.map_err(|e| stream_error(ap, e))?;
        if out.len() >= opts.max_entries {
            return Err(FsError::LimitExceeded {
                path: ap.to_string(),
                reason: format!("more than {} entries", opts.max_entries),
            });
        }
        let h = entry.header();
        if matches!(
            h.entry_type(),
            tar::EntryType::XGlobalHeader
                | tar::EntryType::XHeader
                | tar::EntryType::GNULongName
                | tar::EntryType::GNULongLink
        ) {
            // Metadata records (the reader applies the per-entry ones itself).
            out.push(Planned {
                comps: Vec::new(),
                kind: Kind::Meta,
                size: 0,
                mode: 0,
                uid: 0,
                gid: 0,
                mtime: 0,
            });
            continue;
        }
        let comps = entry_components(ap, &entry.path_bytes())?;
        let kind = match h.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File,
            tar::EntryType::Directory => Kind::Dir,
            _ => Kind::Skipped,
        };
        let size = if kind == Kind::File { entry.size() } else { 0 };
        total = total.saturating_add(size);
        if total > opts.max_total_bytes {
            return Err(FsError::LimitExceeded {
                path: ap.to_string(),
                reason: format!(
                    "the entries add up to more than {} bytes",
                    opts.max_total_bytes
                ),
            });
        }
        if kind == Kind::File || kind == Kind::Dir {
            if comps.is_empty() && kind == Kind::File {
                return Err(FsError::InvalidPath {
                    path: ".".into(),
                    reason: format!("archive `{ap}`: a file entry without a name"),
                });
            }
            // A path may not be used as a file and as a directory (or twice as a file).
            for i in 1..comps.len() {
                if let Some(Kind::File) = comps.get(..i).and_then(|p| kinds.get(p)) {
                    return Err(conflict(ap, &comps));
                }
            }
            match (kinds.get(&comps), kind) {
                (None, _) | (Some(Kind::Dir), Kind::Dir) => {}
                _ => return Err(conflict(ap, &comps)),
            }
            kinds.insert(comps.clone(), kind);
        }
        out.push(Planned {
            comps,
            kind,
            size,
            mode: h.mode().unwrap_or(0o644) & 0o777,
            uid: h.uid().unwrap_or(0),
            gid: h.gid().unwrap_or(0),
            mtime: h.mtime().unwrap_or(0),
        });
    }
    // A directory implied by a file path may not be a file entry itself.
    // Paths below `comps` sort right after it, so its successor is enough to look at.
    for (comps, k) in &kinds {
        if *k == Kind::File
            && let Some((next, _)) = kinds
                .range::<Vec<String>, _>((Bound::Excluded(comps), Bound::Unbounded))
                .next()
            && next.starts_with(comps)
        {
            return Err(conflict(ap, comps));
        }
    }
    Ok(out)
}

fn conflict(archive: &str, comps: &[String]) -> FsError {
    FsError::InvalidContent {
        path: archive.to_string(),
        reason: format!(
            "entry `{}` appears twice or both as a file and a directory",
            comps.join("/")
        ),
    }
}
