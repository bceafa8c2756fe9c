//! Files whoport writes (baselines, registry tables, reports): regular files only, written to
//! a temporary file beside the target, synced, then renamed over it, so a reader sees the old
//! file or the new one and never half of either. The one place for that policy:
//!
//! - `-` means standard output ([`Target::Stdout`]);
//! - an existing target that is not a regular file (a device, FIFO, socket, directory, or a
//!   symbolic link to one) is refused, never replaced;
//! - a symbolic link to a regular file is written through (the link stays), but every link on
//!   the way (in directory parts too) only if whoport's own user or root owns it: another
//!   user's link (in `/tmp`, or in their `XDG_DATA_HOME` after `sudo -E`) could aim root's
//!   write at any file; as root, the directory written into must be root's alone (for
//!   whoport's own data directory, every directory on the way). The path is resolved one
//!   component at a time and written relative to the final directory's descriptor
//!   (`src/safe_path.rs`);
//! - `/dev/stdout`, `/dev/fd/1` and `/proc/self/fd/1` mean `-`; other links into a process's
//!   descriptors are refused (a rename would replace the file behind the descriptor);
//! - a replaced file keeps its mode and owner;
//! - the parent directory must exist ([`write`]); only whoport's own data directory is created
//!   ([`write_creating_dir`]);
//! - temporaries are named `.NAME.whoport-tmp-XXXXXX`; those a killed write left behind are
//!   removed by the next write of the same file.

use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::path::Path;

#[cfg(unix)]
use crate::safe_path;

use thiserror::Error;

/// What marks a temporary file of whoport's: `.NAME` + this + random characters.
pub const TEMP_MARK: &str = ".whoport-tmp-";

/// Where an output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// `-`: standard output.
    Stdout,
    File(&'a Path),
}

impl<'a> Target<'a> {
    /// `-` (and `/dev/stdout`, `/dev/fd/1`, `/proc/self/fd/1`) is standard output; anything
    /// else a file (`./-` for a file named `-`).
    pub fn of(path: &'a Path) -> Target<'a> {
        #[cfg(unix)]
        let stdout_name = safe_path::is_stdout_name(path);
        #[cfg(not(unix))]
        let stdout_name = false;
        if path.as_os_str() == "-" || stdout_name {
            Target::Stdout
        } else {
            Target::File(path)
        }
    }
}

/// A write that was refused or failed; the target is left as it was.
#[derive(Debug, Error)]
pub enum WriteError {
    /// What a child of [`crate::far_file`] said of its write, in its words.
    #[error("{0}")]
    Said(String),
    #[error("'{path}' is {kind}, not a regular file: whoport writes only regular files (use '-' for standard output)")]
    NotRegular { path: String, kind: &'static str },
    #[error("'{path}' is a symbolic link to nothing: whoport writes only regular files")]
    DanglingLink { path: String },
    #[error("'{path}' is a symbolic link owned by another user (uid {owner}): not followed")]
    ForeignLink { path: String, owner: u32 },
    #[error("'{path}' is a symbolic link (uid {owner}) in a directory another user may change (owned by uid {dir_owner}): not followed, someone else may have linked it there")]
    LinkInSharedDirectory {
        path: String,
        owner: u32,
        dir_owner: u32,
    },
    #[error("'{dir}' is a directory another user could change ({reason}): as root, whoport writes only where no one else can replace what it writes")]
    UntrustedDirectory { dir: String, reason: String },
    #[error("'{path}' leads into a process's descriptors (/proc/PID/fd, /dev/fd): writing there would replace the file behind the descriptor (use '-' for standard output)")]
    ProcessDescriptor { path: String },
    #[error("'{path}' belongs to another user (uid {owner}) in a directory others can write: as root, whoport does not write into a file someone else controls (remove it, or write elsewhere)")]
    ForeignFile { path: String, owner: u32 },
    #[error("the directory '{dir}' does not exist: create it first")]
    NoDirectory { dir: String },
    #[error("'{dir}' is not a directory")]
    NotDirectory { dir: String },
    #[error("cannot keep the owner of '{path}' (uid {uid}, gid {gid}): {source}")]
    Owner {
        path: String,
        uid: u32,
        gid: u32,
        source: std::io::Error,
    },
    #[error("cannot {action} '{path}': {source}")]
    Io {
        action: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error(
        "cannot write '{path}': {} {given} (--timeout): {}",
        crate::input_file::STALLED,
        crate::input_file::STALLED_WHY
    )]
    Stalled { path: String, given: String },
}

#[cfg(unix)]
fn errno<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(rustix::io::Errno) -> WriteError + 'a {
    move |e| io(action, path)(e.into())
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> WriteError + 'a {
    move |source| WriteError::Io {
        action,
        path: path.display().to_string(),
        source,
    }
}

/// Writes `contents` to `target`: standard output, or a file replaced atomically (see the
/// module's rules; its directory must exist).
pub fn write_to(target: Target<'_>, contents: &[u8], stdout: &mut dyn Write) -> anyhow::Result<()> {
    match target {
        Target::Stdout => stdout.write_all(contents)?,
        Target::File(path) => write(path, contents)?,
    }
    Ok(())
}

/// Replaces `path` with `contents` atomically; its directory must exist.
pub fn write(path: &Path, contents: &[u8]) -> Result<(), WriteError> {
    write_bounded(path, contents, false)
}

/// Like [`write`], creating missing parent directories: only for whoport's own data
/// directory.
pub fn write_creating_dir(path: &Path, contents: &[u8]) -> Result<(), WriteError> {
    write_bounded(path, contents, true)
}

/// [`write_file`] for at most this run's `--timeout`: a directory on a filesystem that
/// stopped answering is an error then, never a hang (the target is only ever replaced
/// whole, by a rename).
fn write_bounded(path: &Path, contents: &[u8], create: bool) -> Result<(), WriteError> {
    let zero = std::time::Duration::ZERO;
    let stalled = || WriteError::Stalled {
        path: shown(path),
        given: crate::collect::deadline::limit().text.clone(),
    };
    if crate::far_file::may_never_answer(path) {
        let op = crate::far_file::Op::Write { create };
        let unanswered = |failed: crate::far_file::Failed| WriteError::Io {
            action: "write",
            path: shown(path),
            source: std::io::Error::other(failed.words()),
        };
        return match crate::far_file::run(op, path, contents, crate::far_file::timeout_and(zero)) {
            Ok(answer) => decode(&answer).unwrap_or_else(|| {
                Err(unanswered(crate::far_file::Failed::Unanswered(
                    "its answer was malformed".into(),
                )))
            }),
            Err(crate::far_file::Failed::Late) => Err(stalled()),
            Err(failed) => Err(unanswered(failed)),
        };
    }
    let contents = contents.to_vec();
    crate::input_file::bounded(path, zero, move |path| write_file(path, &contents, create))
        .unwrap_or_else(|| Err(stalled()))
}

/// What [`write_file`] gave, as a child of [`crate::far_file`] hands it on: `O` for done, or
/// `E` and the error's words.
pub(crate) fn encode(written: Result<(), WriteError>) -> Vec<u8> {
    match written {
        Ok(()) => b"O".to_vec(),
        Err(e) => [&b"E"[..], e.to_string().as_bytes()].concat(),
    }
}

/// [`encode`]'s answer back; `None` when it is not one.
fn decode(answer: &[u8]) -> Option<Result<(), WriteError>> {
    match answer.split_first()? {
        (b'O', []) => Some(Ok(())),
        (b'E', words) => Some(Err(WriteError::Said(
            String::from_utf8_lossy(words).into_owned(),
        ))),
        _ => None,
    }
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(unix)]
pub(crate) fn write_file(path: &Path, contents: &[u8], create: bool) -> Result<(), WriteError> {
    use rustix::fs::{AtFlags, FileType, Mode, OFlags};
    use rustix::io::Errno;
    let found = safe_path::resolve(path, create)?;
    let (dir, name, real) = (&found.dir, &found.name, &found.shown);
    // As root in a shared directory (/tmp), a file another user made there stays theirs when
    // replaced (owner and mode are kept): they could rewrite what root wrote. Refused.
    if let Some(old) = &found.existing {
        let shared = rustix::fs::fstat(dir).is_ok_and(|d| d.st_mode & 0o022 != 0);
        if rustix::process::geteuid().is_root() && old.st_uid != 0 && shared {
            return Err(WriteError::ForeignFile {
                path: shown(path),
                owner: old.st_uid,
            });
        }
    }
    let mut prefix = OsString::from(".");
    prefix.push(name);
    prefix.push(TEMP_MARK);
    remove_stale_temporaries(dir, &prefix);
    // A fresh temporary beside the target, made relative to the checked directory.
    let mut attempt = 0;
    let (tmp_name, fd) = loop {
        let mut candidate = prefix.clone();
        candidate.push(
            std::iter::repeat_with(fastrand::alphanumeric)
                .take(6)
                .collect::<String>(),
        );
        // whoport's files are not secret: 0644, the umask applies.
        match rustix::fs::openat(
            dir,
            &candidate,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        ) {
            Ok(fd) => {
                // Locked while it is written: a write of the same file running at the same
                // time sees it is in use and leaves it (only an abandoned one is removed).
                let _ = rustix::fs::flock(&fd, rustix::fs::FlockOperation::LockExclusive);
                break (candidate, fd);
            }
            Err(Errno::EXIST) if attempt < 100 => attempt += 1,
            Err(e) => return Err(errno("create a temporary file for", real)(e)),
        }
    };
    let tmp_shown = real.with_file_name(&tmp_name);
    let mut file = File::from(fd);
    let written = (|| {
        if let Some(old) = &found.existing {
            keep_owner_and_mode(&file, old, real)?;
        }
        file.write_all(contents)
            .and_then(|()| file.sync_all())
            .map_err(io("write", &tmp_shown))?;
        // Checked again just before the rename: what stands there now must still be a
        // regular file (or nothing).
        match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile => {
                return Err(WriteError::NotRegular {
                    path: shown(path),
                    kind: safe_path::kind_of(&st),
                })
            }
            Ok(_) | Err(Errno::NOENT) => {}
            Err(e) => return Err(errno("read", real)(e)),
        }
        rustix::fs::renameat(dir, &tmp_name, dir, name).map_err(errno("replace", real))
    })();
    if written.is_err() {
        let _ = rustix::fs::unlinkat(dir, &tmp_name, AtFlags::empty());
        return written;
    }
    if let Ok(d) = rustix::fs::openat(
        dir,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        let _ = rustix::fs::fsync(&d);
    }
    Ok(())
}

#[cfg(unix)]
fn keep_owner_and_mode(tmp: &File, old: &rustix::fs::Stat, path: &Path) -> Result<(), WriteError> {
    use rustix::fs::{Gid, Mode, Uid};
    let mine = rustix::fs::fstat(tmp).map_err(|e| io("read", path)(e.into()))?;
    if (mine.st_uid, mine.st_gid) != (old.st_uid, old.st_gid) {
        rustix::fs::fchown(
            tmp,
            Some(Uid::from_raw(old.st_uid)),
            Some(Gid::from_raw(old.st_gid)),
        )
        .map_err(|e| WriteError::Owner {
            path: shown(path),
            uid: old.st_uid,
            gid: old.st_gid,
            source: e.into(),
        })?;
    }
    rustix::fs::fchmod(tmp, Mode::from_raw_mode(old.st_mode & 0o7777))
        .map_err(|e| io("set the mode of", path)(e.into()))
}

/// Removes `PREFIX*` regular files that whoport's own user owns in `dir`: what a write
/// killed before its rename left behind. Anything else with that name is left alone.
#[cfg(unix)]
fn remove_stale_temporaries(dir: &std::os::fd::OwnedFd, prefix: &OsString) {
    use rustix::fs::{AtFlags, FileType};
    use std::os::unix::ffi::OsStrExt;
    let Ok(listing) = rustix::fs::openat(
        dir,
        ".",
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    ) else {
        return;
    };
    let Ok(entries) = rustix::fs::Dir::new(listing) else {
        return;
    };
    let me = rustix::process::geteuid().as_raw();
    let prefix = prefix.as_bytes();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_bytes().starts_with(prefix) {
            continue;
        }
        let Ok(st) = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) else {
            continue;
        };
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile || st.st_uid != me {
            continue;
        }
        // Another write still holds its lock: in use, not abandoned.
        let Ok(fd) = rustix::fs::openat(
            dir,
            name,
            rustix::fs::OFlags::RDONLY
                | rustix::fs::OFlags::NOFOLLOW
                | rustix::fs::OFlags::NONBLOCK
                | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        ) else {
            continue;
        };
        if rustix::fs::flock(&fd, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok() {
            let _ = rustix::fs::unlinkat(dir, name, AtFlags::empty());
        }
    }
}

/// Elsewhere: the same steps with paths (no descriptor-relative calls).
#[cfg(not(unix))]
pub(crate) fn write_file(path: &Path, contents: &[u8], create: bool) -> Result<(), WriteError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    if create {
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
    }
    match std::fs::metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(WriteError::NotDirectory { dir: shown(&dir) }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(WriteError::NoDirectory { dir: shown(&dir) })
        }
        Err(e) => return Err(io("read", &dir)(e)),
    }
    if let Ok(m) = std::fs::metadata(path) {
        if !m.is_file() {
            return Err(WriteError::NotRegular {
                path: shown(path),
                kind: "a special file",
            });
        }
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_MARK)
        .tempfile_in(&dir)
        .map_err(io("create a temporary file in", &dir))?;
    tmp.write_all(contents).map_err(io("write", tmp.path()))?;
    tmp.persist(path)
        .map_err(|e| io("replace", path)(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_whole_file_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f.txt");
        write(&path, b"first version, longer").expect("write");
        write(&path, b"second").expect("rewrite");
        assert_eq!(std::fs::read(&path).expect("read"), b"second");
        assert_eq!(names(dir.path()), ["f.txt"]);
    }

    #[test]
    fn the_directory_must_exist_except_for_our_own() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("f.txt");
        let err = write(&path, b"x").expect_err("no directory");
        assert!(matches!(err, WriteError::NoDirectory { .. }), "{err}");
        assert!(!dir.path().join("sub").exists());
        write_creating_dir(&path, b"x").expect("own directory");
        assert_eq!(std::fs::read(&path).expect("read"), b"x");
    }

    #[test]
    fn stale_temporaries_of_the_same_file_go_others_stay() {
        let dir = tempfile::tempdir().expect("tempdir");
        let stale = dir.path().join(".f.txt.whoport-tmp-AbC123");
        let other = dir.path().join(".g.txt.whoport-tmp-AbC123");
        std::fs::write(&stale, b"half").expect("stale");
        std::fs::write(&other, b"half").expect("other");
        write(&dir.path().join("f.txt"), b"x").expect("write");
        assert_eq!(
            names(dir.path()),
            [".g.txt.whoport-tmp-AbC123", "f.txt"],
            "only the same file's temporaries are removed"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_temporary_in_use_by_another_write_stays() {
        let dir = tempfile::tempdir().expect("tempdir");
        let busy = dir.path().join(".f.txt.whoport-tmp-Busy00");
        let file = std::fs::File::create(&busy).expect("busy");
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).expect("lock");
        write(&dir.path().join("f.txt"), b"x").expect("write");
        assert!(
            busy.exists(),
            "a locked temporary is another write's, in use"
        );
        drop(file);
        write(&dir.path().join("f.txt"), b"y").expect("write");
        assert!(!busy.exists(), "once abandoned, it goes");
    }

    #[test]
    fn dash_is_standard_output() {
        assert_eq!(Target::of(Path::new("-")), Target::Stdout);
        assert_eq!(Target::of(Path::new("./-")), Target::File(Path::new("./-")));
        let mut out = Vec::new();
        write_to(Target::Stdout, b"hello", &mut out).expect("stdout");
        assert_eq!(out, b"hello");
    }
}
