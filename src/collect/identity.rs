//! What a process's executable is established to be, from the file and never from a name:
//! whether its path is one of whoport's mount namespace, whether the file at that path in
//! whoport's view is the running file (same device and inode), and whether the running file
//! is one of the system's shells or interpreters (the same file, or a copy byte for byte), or,
//! run through the dynamic loader, maps one.
//!
//! Nothing here waits on a filesystem that may not answer: the running file is looked at only
//! when its device is one of whoport's mount table that answers from memory, and a path only
//! when the way to it, in whoport's mount table, crosses none that may not.

use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::sync::OnceLock;

use rustix::fs::{Mode, OFlags};

use crate::model::ExeState;

/// Directories whose shells and interpreters are the system's (one that is a symbolic link,
/// `/bin` on a merged `/usr`, is the directory it leads to, listed too).
const SYSTEM_BIN: &[&str] = &["/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin"];

/// The largest file compared byte for byte with a system interpreter of the same size.
const MAX_COMPARED: u64 = 64 << 20;

/// A file: device, inode, size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    size: u64,
}

impl FileId {
    fn of(st: &rustix::fs::Stat) -> FileId {
        FileId {
            dev: st.st_dev,
            ino: st.st_ino,
            size: u64::try_from(st.st_size).unwrap_or(0),
        }
    }

    fn followed(st: &super::proc_dir::Followed) -> FileId {
        FileId {
            dev: st.dev(),
            ino: st.ino,
            size: st.size,
        }
    }

    fn same(&self, other: &FileId) -> bool {
        self.dev == other.dev && self.ino == other.ino
    }
}

/// One shell or interpreter of the system: its file, path and name (of the audit's list).
struct Interpreter {
    id: FileId,
    path: std::path::PathBuf,
    name: &'static str,
}

/// Sets what is established of the executable of the task at `dir` (`/proc/PID`), whose link
/// reads `exe`, on `state`; `cmdline` names the program the dynamic loader runs.
/// `comm`: the kernel's name of the task, established as a name of the running file when a
/// system directory has that name for it (`redis-server`, a link to `redis-check-rdb`), as is
/// the base name of `argv[0]`.
pub fn judge(
    dir: &str,
    (exe, comm): (Option<&[u8]>, &[u8]),
    state: &mut ExeState,
    cmdline: &[Vec<u8>],
    known: Option<&super::task_facts::TaskFacts>,
) {
    // (Read whether or not its executable was: a namespace not read is said so, never left
    // to read as whoport's.) `known`: what the kernel said of it (`task_facts`): whether its
    // mount and user namespaces are whoport's, instead of their links, and its running file.
    let (same_mount_ns, same_user_ns) = match known {
        Some(f) => f.own_namespaces(),
        None => (
            super::exe::in_same_mount_ns(dir),
            super::exe::in_same_user_ns(dir),
        ),
    };
    match same_mount_ns {
        Some(same_ns) => state.own_mount_ns = !same_ns,
        None => state.mount_ns_unread = true,
    }
    // In a user namespace of its own, a process may have set its executable link to any file
    // it can open (a system daemon's among them): the link establishes nothing.
    state.own_user_ns = same_user_ns == Some(false);
    state.user_ns_unread = same_user_ns.is_none();
    let Some(exe) = exe else { return };
    if state.deleted || state.memory_only || !exe.starts_with(b"/") {
        return;
    }
    let Some(running) = running(dir, exe, known.map(|f| f.exe_device)) else {
        return;
    };
    if same_user_ns == Some(true) {
        state.same_here = here(exe).map(|h| h.is_ok_and(|id| id.same(&running)));
        state.comm_here = names_running(comm, running);
        state.argv0_here = cmdline
            .first()
            .is_some_and(|a| names_running(a.rsplit(|&b| b == b'/').next().unwrap_or(a), running));
    }
    // (A shell or interpreter found there is one whatever the link: that only adds doubt.)
    interpreter_of(dir, exe, running, state, cmdline);
}

/// What the path lookups of this listing found, until [`read_again`]: many processes run one
/// file (a pool of workers), and the answers are the same for each of them.
#[derive(Default)]
struct Looked {
    /// Path -> [`here`]'s answer.
    here: std::collections::HashMap<Vec<u8>, Option<Result<FileId, ()>>>,
    /// (Name, running file's device and inode) -> [`names_running`]'s answer.
    names: std::collections::HashMap<(Vec<u8>, u64, u64), bool>,
}

static LOOKED: std::sync::Mutex<Option<Looked>> = std::sync::Mutex::new(None);

/// `answer` of what this listing looked up before, else `look`'s, kept.
fn looked_up<T: Clone>(
    answer: impl FnOnce(&mut Looked) -> Option<T>,
    keep: impl FnOnce(&mut Looked, T),
    look: impl FnOnce() -> T,
) -> T {
    let lock = || {
        LOOKED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    if let Some(found) = answer(lock().get_or_insert_with(Looked::default)) {
        return found;
    }
    // Looked up without the lock held: another thread's lookups go on meanwhile.
    let found = look();
    keep(lock().get_or_insert_with(Looked::default), found.clone());
    found
}

/// Forgets what the path lookups found: a new listing looks again.
pub fn read_again() {
    *LOOKED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
}

/// Whether a system directory ([`SYSTEM_BIN`]) has `name` for the running file: the file
/// itself, or a symbolic link that leads to it (a few links at most, each looked at as
/// [`here`] looks). Looked up once a listing for each name and file.
fn names_running(name: &[u8], running: FileId) -> bool {
    if name.is_empty() || name.contains(&b'/') || name == b"." || name == b".." {
        return false;
    }
    let key = (name.to_vec(), running.dev, running.ino);
    let kept = key.clone();
    looked_up(
        |l| l.names.get(&key).copied(),
        |l, found| {
            l.names.insert(kept, found);
        },
        || system_name_of(name, running),
    )
}

/// [`names_running`], looked up now.
fn system_name_of(name: &[u8], running: FileId) -> bool {
    SYSTEM_BIN.iter().any(|dir| {
        here_following(&[dir.as_bytes(), b"/", name].concat()).is_some_and(|id| id.same(&running))
    })
}

/// [`here`], but a symbolic link at `path` (its last part) gives its text.
fn here_or_link(path: &[u8]) -> Option<Result<FileId, Option<Vec<u8>>>> {
    if super::exe::walk_may_wait(super::exe::mounts(), path) {
        return None;
    }
    let fd = rustix::fs::openat2(
        rustix::fs::CWD,
        std::ffi::OsStr::from_bytes(path),
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
        rustix::fs::ResolveFlags::NO_SYMLINKS | rustix::fs::ResolveFlags::NO_MAGICLINKS,
    );
    let Ok(fd) = fd else {
        return Some(Err(None));
    };
    let Ok(st) = rustix::fs::fstat(&fd) else {
        return Some(Err(None));
    };
    Some(match rustix::fs::FileType::from_raw_mode(st.st_mode) {
        rustix::fs::FileType::RegularFile => Ok(FileId::of(&st)),
        rustix::fs::FileType::Symlink => Err(rustix::fs::readlinkat(&fd, "", Vec::new())
            .ok()
            .map(|t| t.into_bytes())),
        _ => Err(None),
    })
}

/// The shell or interpreter the running file is, or, when it is the dynamic loader, the one
/// it maps.
fn interpreter_of(
    dir: &str,
    exe: &[u8],
    running: FileId,
    state: &mut ExeState,
    cmdline: &[Vec<u8>],
) {
    state.interpreter = interpreters()
        .iter()
        .find(|i| i.id.same(&running) || same_bytes(dir, running, i))
        .map(|i| i.name);
    let base = exe.rsplit(|&b| b == b'/').next().unwrap_or(exe);
    if state.interpreter.is_none()
        && crate::registry::known::is_loader(&String::from_utf8_lossy(base))
    {
        state.interpreter = mapped_interpreter(dir, cmdline);
    }
}

/// The running file of the task at `dir`, when its device (in `/proc/PID/maps`, or `known`:
/// that of its executable file's filesystem as the kernel said, `None` when it has none) is
/// one of whoport's mount table whose filesystem answers from memory.
fn running(dir: &str, exe: &[u8], known: Option<Option<(u32, u32)>>) -> Option<FileId> {
    let (major, minor) = match known {
        Some(device) => device?,
        None => super::exe::mapped_device(dir, exe)?,
    };
    if !super::exe::local_device(major, minor) {
        return None;
    }
    // The mapping's device is the first mapping of that name's: a process may map another
    // file of that path (in a mount namespace of its own, a bind mount over its executable's
    // directory) at a lower address. The running file itself is asked without a word to its
    // filesystem, and nothing more is asked of it unless that filesystem answers from memory
    // (its device as stat gives it: a btrfs subvolume's, an overlay layer's, may be none of
    // the mount table's).
    let running =
        super::proc_dir::follow_link(&format!("{dir}/exe"), super::proc_dir::stat_followed).ok()?;
    super::exe::local_device(running.major, running.minor).then(|| FileId::followed(&running))
}

/// The file at `path` in whoport's own view, never through a symbolic link: `None` when the
/// way to it crosses a filesystem that may not answer, `Err` when nothing (or a link) is there.
/// Looked up once a listing for each path.
fn here(path: &[u8]) -> Option<Result<FileId, ()>> {
    looked_up(
        |l| l.here.get(path).copied(),
        |l, found| {
            l.here.insert(path.to_vec(), found);
        },
        || here_or_link(path).map(|found| found.map_err(|_| ())),
    )
}

/// Whether the running file (of the task at `dir`), not the interpreter's own, is a copy of
/// it byte for byte (the same size first).
fn same_bytes(dir: &str, running: FileId, interpreter: &Interpreter) -> bool {
    if running.size != interpreter.id.size || running.size > MAX_COMPARED {
        return false;
    }
    let Ok(theirs) = super::proc_dir::follow_link(&format!("{dir}/exe"), |p| {
        super::proc_dir::open_followed(p, OFlags::RDONLY | OFlags::CLOEXEC)
    }) else {
        return false;
    };
    let Ok(ours) = std::fs::File::open(&interpreter.path) else {
        return false;
    };
    same_content(std::fs::File::from(theirs), ours)
}

/// Whether two readers give the same bytes.
fn same_content(mut a: impl Read, mut b: impl Read) -> bool {
    let (mut x, mut y) = (vec![0u8; 1 << 16], vec![0u8; 1 << 16]);
    loop {
        let Ok(n) = a.read(&mut x) else { return false };
        if n == 0 {
            return matches!(b.read(&mut y[..1]), Ok(0));
        }
        if b.read_exact(&mut y[..n]).is_err() || x[..n] != y[..n] {
            return false;
        }
    }
}

/// The system interpreter the task at `dir` maps (the program the dynamic loader runs, or a
/// library's file would not be an interpreter's executable): by device and inode in
/// `/proc/PID/maps`; else, by name, the program its command line gives the loader when that
/// file in whoport's view is one (same device and inode). That name is text the process
/// wrote: it is looked at only as an absolute path, never across a mount that may not answer
/// nor through a link in a directory of the way, each link it is followed to looked at alike
/// (see [`here_following`]).
fn mapped_interpreter(dir: &str, cmdline: &[Vec<u8>]) -> Option<&'static str> {
    let mapped = super::exe::first_mapping(dir, |line| {
        let e = super::exe::maps_entry(line)?;
        let dev = rustix::fs::makedev(e.device.0, e.device.1);
        interpreters()
            .iter()
            .find(|i| i.id.dev == dev && i.id.ino == e.inode)
            .map(|i| i.name)
    });
    mapped.or_else(|| {
        let args: Vec<String> = cmdline
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let program = crate::registry::known::loader_program(&args)?;
        let id = here_following(program.as_bytes())?;
        interpreters()
            .iter()
            .find(|i| i.id.same(&id))
            .map(|i| i.name)
    })
}

/// The links [`here_following`] follows at most.
const MAX_LINKS: usize = 3;

/// The file at the absolute `path` in whoport's view, as [`here_or_link`] finds it, through
/// at most [`MAX_LINKS`] symbolic links at its end, each looked at the same way; `None`
/// otherwise (a relative path, a way that may not answer or goes through a link).
fn here_following(path: &[u8]) -> Option<FileId> {
    let mut path = path.to_vec();
    for _ in 0..=MAX_LINKS {
        if !path.starts_with(b"/") {
            return None;
        }
        match here_or_link(&path)? {
            Ok(id) => return Some(id),
            Err(None) => return None,
            Err(Some(target)) if target.starts_with(b"/") => path = target,
            Err(Some(target)) => {
                let dir = path.iter().rposition(|&b| b == b'/')?;
                path = [&path[..=dir], &target[..]].concat();
            }
        }
    }
    None
}

/// Finds now what is found once a run for the first executable judged: the system's shells
/// and interpreters.
pub fn read_interpreters() {
    interpreters();
}

/// Whether `dir` is a directory reached without following any symbolic link, itself or one
/// above it (the lookup stops at the first link, before asking the filesystem it leads to).
fn plain_dir(dir: &str) -> bool {
    rustix::fs::openat2(
        rustix::fs::CWD,
        dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        rustix::fs::ResolveFlags::NO_SYMLINKS | rustix::fs::ResolveFlags::NO_MAGICLINKS,
    )
    .is_ok()
}

/// The system's shells and interpreters (see [`SYSTEM_BIN`]), found once a run: regular files
/// whose normalised name is one of the audit's list.
fn interpreters() -> &'static [Interpreter] {
    static FOUND: OnceLock<Vec<Interpreter>> = OnceLock::new();
    FOUND.get_or_init(|| {
        let mut found: Vec<Interpreter> = Vec::new();
        for dir in SYSTEM_BIN {
            // The mount table first: even a stat of the directory waits on a filesystem
            // mounted there or above it (a stalled FUSE daemon at /usr/local/bin), and this
            // now runs on every run (the once-a-run thread), owners or none.
            // The table is read by path: a symbolic link on the way (`/usr/local` a link
            // into a FUSE filesystem) leads where it did not look, and is not followed.
            if super::exe::walk_may_wait(super::exe::mounts(), dir.as_bytes()) || !plain_dir(dir) {
                continue;
            }
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let normal = crate::registry::known::normalise(&name.to_string_lossy());
                let Some(&listed) = crate::audit::rules::SHELLS.iter().find(|s| **s == normal)
                else {
                    continue;
                };
                if !entry.file_type().is_ok_and(|t| t.is_file()) {
                    continue;
                }
                let Some(Ok(id)) = here(entry.path().as_os_str().as_bytes()) else {
                    continue;
                };
                if !found.iter().any(|i| i.id.same(&id)) {
                    found.push(Interpreter {
                        id,
                        path: entry.path(),
                        name: listed,
                    });
                }
            }
        }
        found
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_compared_whole() {
        assert!(same_content(&b"abc"[..], &b"abc"[..]));
        assert!(!same_content(&b"abc"[..], &b"abd"[..]));
        assert!(!same_content(&b"abc"[..], &b"abcd"[..]), "longer");
        assert!(!same_content(&b"abcd"[..], &b"abc"[..]), "shorter");
        assert!(same_content(&b""[..], &b""[..]));
    }

    #[test]
    fn our_own_executable_is_the_file_at_its_path() {
        let dir = format!("/proc/{}", std::process::id());
        let (exe, mut state) = super::super::exe::exe_in(&dir);
        judge(&dir, (exe.as_deref(), b""), &mut state, &[], None);
        assert!(!state.own_mount_ns);
        assert!(!state.mount_ns_unread && !state.user_ns_unread, "{state:?}");
        assert_eq!(state.same_here, Some(true), "{state:?}");
        assert_eq!(state.interpreter, None);
    }

    /// A task whose namespace links read nothing (a thread that exited while it was judged):
    /// both namespaces unknown, never taken for whoport's, and its executable not compared.
    #[test]
    fn a_task_whose_namespaces_read_nothing_has_them_unknown() {
        let dir = format!("/proc/{}", std::process::id());
        let (exe, mut state) = super::super::exe::exe_in(&dir);
        let gone = format!("/proc/{}/task/4294967295", std::process::id());
        judge(&gone, (exe.as_deref(), b""), &mut state, &[], None);
        assert!(state.mount_ns_unread && state.user_ns_unread, "{state:?}");
        assert!(!state.own_mount_ns, "{state:?}");
        assert_eq!(state.same_here, None, "{state:?}");
    }

    /// Without an executable read, the namespaces are still read, or said unread: never left
    /// to read as whoport's.
    #[test]
    fn namespaces_are_judged_without_an_executable() {
        let ours = format!("/proc/{}", std::process::id());
        let mut state = ExeState::default();
        judge(&ours, (None, b""), &mut state, &[], None);
        assert!(!state.mount_ns_unread && !state.user_ns_unread, "{state:?}");
        let gone = format!("{ours}/task/4294967295");
        let mut state = ExeState::default();
        judge(&gone, (None, b""), &mut state, &[], None);
        assert!(state.mount_ns_unread && state.user_ns_unread, "{state:?}");
    }
}
