//! Where a file whoport writes really goes: the path resolved one component at a time, each
//! directory opened relative to the one before with `O_NOFOLLOW`, each symbolic link read with
//! `readlinkat` and judged by its owner (`fstatat` with `AT_SYMLINK_NOFOLLOW`) before it is
//! followed. The result is a descriptor of the final directory and a name in it: the write
//! then happens relative to that descriptor (`openat`, `renameat`), so nothing on the way can
//! be swapped between the checks and the write.
//!
//! The rules (see `docs/reliability.md`):
//! - every symbolic link on the way (in directory parts too, and inside other links' targets)
//!   is followed only if whoport's own user or root owns it; in a directory another user may
//!   change (theirs, or writable by its group or others) only if the directory's owner also
//!   owns the link — the kernel's `protected_symlinks` rule, for every such directory: there
//!   a link of root's may have been hard-linked in by someone else;
//! - as root, the directory written into must be root's and writable by no one else unless it
//!   is sticky (ssh's StrictModes): otherwise another user could replace what root wrote.
//!   Directories further up may be another user's (Debian's `/var/lib/prometheus` is
//!   `prometheus`'s): they are passed through with `O_NOFOLLOW`, and what they hold can
//!   only redirect the write through a link, which the rule above refuses. whoport's own data
//!   directory (the installed registry) is stricter: every directory on the way must be
//!   root's, as reading it back requires;
//! - a link into a process's descriptors (`/proc/PID/fd/N`, `/dev/fd/N`) is refused: its
//!   text names the file behind the descriptor, which a rename would replace (`-` means
//!   standard output);
//! - at most 40 links are followed, as the kernel does.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat, CWD};
use rustix::io::Errno;

use crate::atomic_file::WriteError;

/// How many symbolic links one resolution may follow (the kernel's limit).
const MAX_LINKS: usize = 40;
/// procfs's magic number (`statfs(2)`).
const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// The directory a file is written in, and its name there.
pub struct Resolved {
    /// The final directory, opened with `O_PATH`.
    pub dir: OwnedFd,
    /// The name in `dir`.
    pub name: OsString,
    /// The file as resolved, for messages.
    pub shown: PathBuf,
    /// What stands at `name` now (a regular file), if anything.
    pub existing: Option<Stat>,
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

fn errno_io(action: &'static str, path: &Path, e: Errno) -> WriteError {
    WriteError::Io {
        action,
        path: shown(path),
        source: e.into(),
    }
}

/// What a file that is not a regular file is called in messages.
pub fn kind_of(st: &Stat) -> &'static str {
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => "a directory",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Fifo => "a FIFO (named pipe)",
        FileType::Socket => "a socket",
        FileType::Symlink => "a symbolic link",
        _ => "a special file",
    }
}

fn open_dir(at: &OwnedFd, name: &OsStr) -> Result<OwnedFd, Errno> {
    rustix::fs::openat(
        at,
        name,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

fn open_root(absolute: bool) -> Result<OwnedFd, Errno> {
    rustix::fs::openat(
        CWD,
        if absolute { "/" } else { "." },
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// A directory as found on the way, and whether another user may change it.
struct Dir {
    stat: Stat,
    /// Why another user may change it (`None`: only root, or whoport's user, may).
    shared: Option<String>,
}

fn look_at(dir: &OwnedFd, at: &Path, me: u32) -> Result<Dir, WriteError> {
    let st = rustix::fs::fstat(dir).map_err(|e| errno_io("read", at, e))?;
    let shared = if st.st_uid != 0 && st.st_uid != me {
        Some(format!("it is owned by uid {}, not root", st.st_uid))
    } else if st.st_mode & 0o022 != 0 && st.st_mode & 0o1000 == 0 {
        Some(format!(
            "its group or others may write it (mode {:o})",
            st.st_mode & 0o777
        ))
    } else {
        None
    };
    Ok(Dir { stat: st, shared })
}

/// As root, a directory another user may change is refused (`strict`: every directory on the
/// way; otherwise only the one written into).
fn check_dir(dir: &Dir, at: &Path, me: u32) -> Result<(), WriteError> {
    if me != 0 {
        return Ok(());
    }
    // As root, `shared` says it: owned by someone other than root, or writable by others.
    match dir.shared.clone() {
        Some(reason) => Err(WriteError::UntrustedDirectory {
            dir: shown(if at.as_os_str().is_empty() {
                Path::new(".")
            } else {
                at
            }),
            reason,
        }),
        None => Ok(()),
    }
}

fn components(path: &Path, queue: &mut VecDeque<(OsString, bool)>, from_final_link: bool) {
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => parts.push(n.to_os_string()),
            Component::ParentDir => parts.push(OsString::from("..")),
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    // A trailing `/` (or `/.`) names a directory.
    let bytes = path.as_os_str().as_bytes();
    if bytes.ends_with(b"/") || bytes.ends_with(b"/.") || bytes == b"." {
        parts.push(OsString::from("."));
    }
    for p in parts.into_iter().rev() {
        queue.push_front((p, from_final_link));
    }
}

/// Resolves `path` for a write (see the module's rules); `own_data_dir` makes missing
/// directories on the way and, as root, wants every directory on the way root's alone
/// (whoport's own data directory only).
pub fn resolve(path: &Path, own_data_dir: bool) -> Result<Resolved, WriteError> {
    let create = own_data_dir;
    let strict = own_data_dir;
    let me = rustix::process::geteuid().as_raw();
    let mut dir = open_root(path.is_absolute()).map_err(|e| errno_io("open", path, e))?;
    let mut at = if path.is_absolute() {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    };
    let mut dir_stat = look_at(&dir, &at, me)?;
    if strict {
        check_dir(&dir_stat, &at, me)?;
    }
    let mut queue = VecDeque::new();
    components(path, &mut queue, false);
    let mut links = 0;
    while let Some((name, via_link)) = queue.pop_front() {
        let last = queue.is_empty();
        if name == "." || name == ".." {
            if last {
                return Err(WriteError::NotRegular {
                    path: shown(path),
                    kind: "a directory",
                });
            }
            if name == ".." {
                dir = open_dir(&dir, &name).map_err(|e| errno_io("open", &at, e))?;
                at.push("..");
                dir_stat = look_at(&dir, &at, me)?;
                if strict {
                    check_dir(&dir_stat, &at, me)?;
                }
            }
            continue;
        }
        let here = at.join(&name);
        let st = match rustix::fs::statat(&dir, &name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(Errno::NOENT) if last && via_link => {
                return Err(WriteError::DanglingLink { path: shown(path) })
            }
            Err(Errno::NOENT) if last => {
                check_dir(&dir_stat, &at, me)?;
                return Ok(Resolved {
                    dir,
                    name,
                    shown: here,
                    existing: None,
                });
            }
            Err(Errno::NOENT) if create => {
                match rustix::fs::mkdirat(&dir, &name, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(errno_io("create", &here, e)),
                }
                rustix::fs::statat(&dir, &name, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| errno_io("read", &here, e))?
            }
            Err(Errno::NOENT) => return Err(WriteError::NoDirectory { dir: shown(&here) }),
            Err(e) => return Err(errno_io("read", &here, e)),
        };
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Symlink => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(errno_io("resolve", path, Errno::LOOP));
                }
                follow_allowed(&dir, &dir_stat, &st, &here, me)?;
                let target = rustix::fs::readlinkat(&dir, &name, Vec::new())
                    .map_err(|e| errno_io("read the link", &here, e))?;
                let target = PathBuf::from(OsStr::from_bytes(target.as_bytes()));
                if target.is_absolute() {
                    dir = open_root(true).map_err(|e| errno_io("open", &target, e))?;
                    at = PathBuf::from("/");
                    dir_stat = look_at(&dir, &at, me)?;
                    if strict {
                        check_dir(&dir_stat, &at, me)?;
                    }
                }
                components(&target, &mut queue, last);
                if queue.is_empty() {
                    // A link to `/`.
                    return Err(WriteError::NotRegular {
                        path: shown(path),
                        kind: "a directory",
                    });
                }
            }
            FileType::Directory if !last => {
                dir = open_dir(&dir, &name).map_err(|e| errno_io("open", &here, e))?;
                at = here;
                dir_stat = look_at(&dir, &at, me)?;
                if strict {
                    check_dir(&dir_stat, &at, me)?;
                }
                if (dir_stat.stat.st_dev, dir_stat.stat.st_ino) != (st.st_dev, st.st_ino) {
                    return Err(errno_io("open", &at, Errno::AGAIN));
                }
            }
            FileType::RegularFile if last => {
                check_dir(&dir_stat, &at, me)?;
                return Ok(Resolved {
                    dir,
                    name,
                    shown: here,
                    existing: Some(st),
                });
            }
            _ if last => {
                return Err(WriteError::NotRegular {
                    path: shown(path),
                    kind: kind_of(&st),
                })
            }
            _ => return Err(WriteError::NotDirectory { dir: shown(&here) }),
        }
    }
    Err(WriteError::NotRegular {
        path: shown(path),
        kind: "a directory",
    })
}

/// Whether the link `link` (in `dir`) may be followed.
fn follow_allowed(
    dir: &OwnedFd,
    dir_stat: &Dir,
    link: &Stat,
    here: &Path,
    me: u32,
) -> Result<(), WriteError> {
    if link.st_uid != me && link.st_uid != 0 {
        return Err(WriteError::ForeignLink {
            path: shown(here),
            owner: link.st_uid,
        });
    }
    // protected_symlinks, for every directory another user may change (a sticky one others
    // may write included): only the directory owner's links, or the follower's in a sticky
    // one; another link there may be a hard link someone else made.
    let sticky = dir_stat.stat.st_mode & 0o1000 != 0;
    let shared = dir_stat.shared.is_some() || dir_stat.stat.st_mode & 0o1002 == 0o1002;
    let owners_link = link.st_uid == dir_stat.stat.st_uid || (sticky && link.st_uid == me);
    if shared && !owners_link {
        return Err(WriteError::LinkInSharedDirectory {
            path: shown(here),
            owner: link.st_uid,
            dir_owner: dir_stat.stat.st_uid,
        });
    }
    if let Ok(fs) = rustix::fs::fstatfs(dir) {
        #[allow(clippy::unnecessary_cast)]
        if fs.f_type as i64 == PROC_SUPER_MAGIC {
            return Err(WriteError::ProcessDescriptor { path: shown(here) });
        }
    }
    Ok(())
}

/// Is `path` one of the names of this process's standard output (`/dev/stdout`,
/// `/dev/fd/1`, `/proc/self/fd/1`)? Those mean `-`.
pub fn is_stdout_name(path: &Path) -> bool {
    let b = path.as_os_str().as_bytes();
    matches!(b, b"/dev/stdout" | b"/dev/fd/1" | b"/proc/self/fd/1")
}
