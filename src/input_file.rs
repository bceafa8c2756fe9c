//! Files whoport reads (IANA CSV, registry tables, baselines, the audit config, the services
//! file): opened, checked with `fstat` (a regular file within a size limit) and read with a
//! hard limit, so `/dev/zero`, a huge sparse file or an endless pipe costs nothing. Files
//! whoport finds on its own are opened without blocking (a FIFO cannot stall it); as root,
//! files found through the environment (`HOME`, `XDG_*`, `WHOPORT_*`) are read only if root
//! owns them and only root can write them and every directory above them.

use std::fs::{File, Metadata};
use std::io::Read;
use std::path::Path;

use thiserror::Error;

const MIB: u64 = 1024 * 1024;

/// Limit for IANA's CSV (`registry import`, `registry update --from`, `--registry`); the real
/// one is about 1.2 MB.
pub const CSV_LIMIT: u64 = 8 * MIB;
/// Limit for a compact registry table (the installed registry); the real one is about 1.1 MB.
pub const TABLE_LIMIT: u64 = 8 * MIB;
/// Limit for a baseline (about 200 bytes per listener).
pub const BASELINE_LIMIT: u64 = 8 * MIB;
/// Limit for the audit config.
pub const CONFIG_LIMIT: u64 = MIB;
/// Limit for the services file (Debian's is 13 KB).
pub const SERVICES_LIMIT: u64 = MIB;

/// How whoport came to read a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// Named on the command line: a pipe is fine (`--from /dev/stdin`, `-`), read up to the
    /// limit as its data arrives, for at most `--timeout`.
    Named,
    /// Found on its own at a fixed place: a regular file only, opened without blocking.
    Fixed,
    /// Found through the environment (`HOME`, `XDG_*`, `WHOPORT_*`): as [`Found::Fixed`], and
    /// as root only if root owns it and only root can write it.
    Environment,
}

/// Why a file was not read. Says what is wrong with the file; the caller names it.
#[derive(Debug, Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("it is {kind}, not a regular file")]
    NotRegular { kind: &'static str },
    #[error("it is larger than {limit} bytes, the limit for this file")]
    TooLarge { limit: u64 },
    #[error("not trusted as root: {reason}; whoport reads files found through the environment only if root owns them and only root can write them")]
    Untrusted { reason: String },
    #[error("it is a pipe or FIFO, and its data did not end within {given} (--timeout)")]
    Late { given: String },
    #[error("{STALLED} {given} (--timeout): {STALLED_WHY}")]
    Stalled { given: String },
}

/// How a file that did not answer in time is told: the words of [`ReadError::Stalled`], shared
/// with the files whoport writes.
pub const STALLED: &str = "it did not answer within";
pub const STALLED_WHY: &str =
    "the filesystem it is on may have stopped answering (an NFS server gone, a FUSE daemon stuck)";

/// Runs `work` on the file at `path` on a thread of its own, for at most this run's
/// `--timeout` (and `extra`): a file on a filesystem that stopped answering costs that long,
/// never a hang. `None` when it did not answer in time (the thread ends with whoport).
pub fn bounded<T, F>(path: &Path, extra: std::time::Duration, work: F) -> Option<T>
where
    T: Send + 'static,
    F: FnOnce(&Path) -> T + Send + 'static,
{
    use crate::collect::deadline::{self, Deadline};
    let owned = path.to_path_buf();
    let wait = deadline::limit().duration.saturating_add(extra);
    Deadline::after(wait).run(move || work(&owned))
}

impl ReadError {
    /// Nothing is at the path: no such file, or a part of the path that is not a directory.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io(e) if matches!(
            e.kind(),
            std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
        ))
    }
}

/// Reads the whole file at `path`, at most `limit` bytes. Named on the command line, `-` is
/// standard input, and a pipe or FIFO is waited for at most `--timeout` (a FIFO nobody
/// writes to never stalls whoport). A file on a filesystem that stopped answering is given
/// up after `--timeout` too ([`ReadError::Stalled`]).
pub fn read(path: &Path, limit: u64, found: Found) -> Result<Vec<u8>, ReadError> {
    // A pipe's own wait ends first and says so; this bound is for what blocks in the kernel.
    let grace = std::time::Duration::from_millis(250);
    let stalled = || ReadError::Stalled {
        given: crate::collect::deadline::limit().text.clone(),
    };
    let standard_input = found == Found::Named && path.as_os_str() == "-";
    if !standard_input && crate::far_file::may_never_answer(path) {
        let op = crate::far_file::Op::Read { limit, found };
        return match crate::far_file::run(op, path, &[], crate::far_file::timeout_and(grace)) {
            Ok(answer) => decode(&answer).unwrap_or_else(|| {
                let why = crate::far_file::Failed::Unanswered("its answer was malformed".into());
                Err(ReadError::Io(std::io::Error::other(why.words())))
            }),
            Err(crate::far_file::Failed::Late) => Err(stalled()),
            Err(failed) => Err(ReadError::Io(std::io::Error::other(failed.words()))),
        };
    }
    bounded(path, grace, move |path| read_now(path, limit, found)).unwrap_or_else(|| Err(stalled()))
}

/// What [`read_now`] gave, as a child of [`crate::far_file`] hands it on: a tag byte, then the
/// file's bytes or the error's words.
pub(crate) fn encode(read: Result<Vec<u8>, ReadError>) -> Vec<u8> {
    let (tag, body): (u8, Vec<u8>) = match read {
        Ok(bytes) => (b'D', bytes),
        Err(e @ ReadError::Io(_)) if e.is_not_found() => (b'N', e.to_string().into_bytes()),
        Err(ReadError::Io(e)) => (b'I', e.to_string().into_bytes()),
        Err(ReadError::NotRegular { kind }) => (b'R', kind.as_bytes().to_vec()),
        Err(ReadError::TooLarge { limit }) => (b'T', limit.to_string().into_bytes()),
        Err(ReadError::Untrusted { reason }) => (b'U', reason.into_bytes()),
        Err(ReadError::Late { given }) => (b'L', given.into_bytes()),
        Err(ReadError::Stalled { given }) => (b'S', given.into_bytes()),
    };
    [&[tag][..], &body].concat()
}

/// [`encode`]'s answer back; `None` when it is not one.
fn decode(answer: &[u8]) -> Option<Result<Vec<u8>, ReadError>> {
    let (&tag, body) = answer.split_first()?;
    let text = || String::from_utf8_lossy(body).into_owned();
    Some(match tag {
        b'D' => Ok(body.to_vec()),
        b'N' => Err(ReadError::Io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            text(),
        ))),
        b'I' => Err(ReadError::Io(std::io::Error::other(text()))),
        b'R' => Err(ReadError::NotRegular {
            kind: KINDS
                .iter()
                .find(|k| k.as_bytes() == body)
                .copied()
                .unwrap_or("a special file"),
        }),
        b'T' => Err(ReadError::TooLarge {
            limit: text().parse().ok()?,
        }),
        b'U' => Err(ReadError::Untrusted { reason: text() }),
        b'L' => Err(ReadError::Late { given: text() }),
        b'S' => Err(ReadError::Stalled { given: text() }),
        _ => return None,
    })
}

pub(crate) fn read_now(path: &Path, limit: u64, found: Found) -> Result<Vec<u8>, ReadError> {
    // As root, whether a file found through the environment may be trusted is decided first:
    // another user's oversize file, or their symbolic link loop, is untrusted (a warning),
    // not an error that stops the command.
    let judge = found == Found::Environment && is_root();
    if judge {
        trusted_place(path)?;
    }
    let file = if found == Found::Named && path.as_os_str() == "-" {
        standard_input()?
    } else {
        open(path, found)?
    };
    let meta = file.metadata()?;
    if judge {
        trusted(path, &meta).map_err(|reason| ReadError::Untrusted { reason })?;
    }
    let regular = meta.file_type().is_file();
    let stream_allowed = found == Found::Named && is_stream(&meta);
    if !regular && !stream_allowed {
        return Err(ReadError::NotRegular {
            kind: kind_of(&meta),
        });
    }
    if regular && meta.len() > limit {
        return Err(ReadError::TooLarge { limit });
    }
    if !regular {
        let limit_text = &crate::collect::deadline::limit();
        return read_stream(&file, limit, limit_text.duration, &limit_text.text);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len().min(limit)).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(bytes)
}

/// Standard input (`-`), as a file of its own descriptor (a duplicate: its flags are left
/// as they are).
fn standard_input() -> std::io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        Ok(File::from(std::io::stdin().as_fd().try_clone_to_owned()?))
    }
    #[cfg(not(unix))]
    {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "'-' (standard input) is not supported here",
        ))
    }
}

/// A pipe, FIFO or socket, read up to `limit` bytes as its data arrives, waiting at most
/// `wait` in all (`given` is how the user wrote it): a FIFO without a writer, or a pipe whose
/// writer never finishes, is an error once that has passed, never a hang.
#[cfg(unix)]
fn read_stream(
    mut file: &File,
    limit: u64,
    wait: std::time::Duration,
    given: &str,
) -> Result<Vec<u8>, ReadError> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let deadline = std::time::Instant::now().checked_add(wait);
    let mut bytes = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let left = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
        if left.is_some_and(|l| l.is_zero()) {
            return Err(ReadError::Late {
                given: given.to_string(),
            });
        }
        let timeout = left.map(|l| Timespec {
            tv_sec: i64::try_from(l.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(l.subsec_nanos()),
        });
        let mut fds = [PollFd::new(&file, PollFlags::IN)];
        match poll(&mut fds, timeout.as_ref()) {
            Ok(0) | Err(rustix::io::Errno::INTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(ReadError::Io(e.into())),
        }
        match file.read(&mut chunk) {
            Ok(0) => return Ok(bytes),
            Ok(n) => {
                if (bytes.len() + n) as u64 > limit {
                    return Err(ReadError::TooLarge { limit });
                }
                bytes.extend_from_slice(&chunk[..n]);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(not(unix))]
fn read_stream(
    file: &File,
    limit: u64,
    _wait: std::time::Duration,
    _given: &str,
) -> Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    Ok(bytes)
}

/// [`read`], as text (invalid UTF-8 is an error).
pub fn read_text(path: &Path, limit: u64, found: Found) -> Result<String, ReadError> {
    String::from_utf8(read(path, limit, found)?).map_err(|e| {
        ReadError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
        ))
    })
}

fn open(path: &Path, found: Found) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use rustix::fs::OFlags;
        use std::os::unix::fs::OpenOptionsExt;
        // A FIFO opens at once instead of waiting for a writer: fstat then refuses it, or
        // (named on the command line) its data is waited for with a deadline.
        let flags = OFlags::NOCTTY | OFlags::NONBLOCK;
        let _ = found;
        options.custom_flags(flags.bits() as i32);
    }
    #[cfg(not(unix))]
    let _ = found;
    options.open(path)
}

/// A pipe or socket: read up to the limit (`--from /dev/stdin`, `--config <(...)`).
fn is_stream(meta: &Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        meta.file_type().is_fifo() || meta.file_type().is_socket()
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        false
    }
}

/// What a file that is not a regular file is called in messages.
/// Every kind [`kind_of`] says.
const KINDS: [&str; 7] = [
    "a directory",
    "a character device",
    "a block device",
    "a FIFO (named pipe)",
    "a socket",
    "a regular file",
    "a special file",
];

pub fn kind_of(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_file() {
        return "a regular file";
    }
    "a special file"
}

fn is_root() -> bool {
    #[cfg(unix)]
    {
        rustix::process::geteuid().is_root()
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// Before opening: the directories above `path` (as [`trusted`] checks them) and, when `path`
/// is a symbolic link, the link's owner (root only). A missing file or directory is "not
/// found", as the open would say.
#[cfg(unix)]
fn trusted_place(path: &Path) -> Result<(), ReadError> {
    use std::os::unix::fs::MetadataExt;
    let untrusted = |reason| ReadError::Untrusted { reason };
    let link = std::fs::symlink_metadata(path)?;
    trusted_dirs(path).map_err(untrusted)?;
    if link.file_type().is_symlink() && link.uid() != 0 {
        return Err(untrusted(format!(
            "a symbolic link owned by uid {}, not root",
            link.uid()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn trusted_place(_path: &Path) -> Result<(), ReadError> {
    Ok(())
}

/// ssh's StrictModes for root: the file (as opened) and every directory above it owned by
/// root and writable by no one else. A sticky directory such as `/tmp` may be world-writable:
/// no one else can rename or remove what root owns in it.
#[cfg(unix)]
fn trusted(path: &Path, meta: &Metadata) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    if let Some(why) = who_else_writes(meta.uid(), meta.mode(), false) {
        return Err(why);
    }
    trusted_dirs(path)
}

/// Why a user other than root may write a file (`dir` false) or a directory with this owner
/// and mode: `None` when only root may. A sticky directory may be writable by others: no one
/// else can rename or remove what root owns in it.
pub fn who_else_writes(uid: u32, mode: u32, dir: bool) -> Option<String> {
    let sticky = dir && mode & 0o1000 != 0;
    if uid != 0 {
        Some(format!("owned by uid {uid}, not root"))
    } else if mode & 0o022 != 0 && !sticky {
        Some(format!(
            "writable by its group or by others (mode {:o})",
            mode & 0o777
        ))
    } else {
        None
    }
}

/// Every directory above `path` owned by root and writable by no one else (sticky ones
/// excepted).
#[cfg(unix)]
fn trusted_dirs(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let shown = |p: &Path| p.display().to_string();
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| format!("cannot resolve the current directory: {e}"))?
            .join(path)
    };
    for dir in absolute.ancestors().skip(1) {
        let d =
            std::fs::metadata(dir).map_err(|e| format!("cannot check '{}': {e}", shown(dir)))?;
        if let Some(why) = who_else_writes(d.uid(), d.mode(), true) {
            return Err(format!("its directory '{}' is {why}", shown(dir)));
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn trusted(_path: &Path, _meta: &Metadata) -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_within_the_limit_refuses_beyond() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345").expect("write");
        for found in [Found::Named, Found::Fixed] {
            assert_eq!(read(&path, 5, found).expect("fits"), b"12345");
            let err = read(&path, 4, found).expect_err("too large");
            assert!(matches!(err, ReadError::TooLarge { limit: 4 }), "{err}");
        }
        let err = read(dir.path(), 100, Found::Named).expect_err("a directory");
        assert_eq!(err.to_string(), "it is a directory, not a regular file");
        let err = read(&dir.path().join("missing"), 100, Found::Fixed).expect_err("missing");
        assert!(err.is_not_found(), "{err}");
    }

    #[test]
    fn a_fifo_found_on_its_own_is_refused_without_waiting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &path,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .expect("mkfifo");
        let err = read(&path, 100, Found::Fixed).expect_err("a FIFO");
        assert!(err.to_string().contains("FIFO"), "{err}");
    }
}
