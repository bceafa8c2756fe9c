//! Files on a filesystem that may never answer (FUSE, NFS, CIFS...), read and written by a
//! child process. A request such a filesystem's daemon has read and never answers holds the
//! thread that made it in the kernel, through SIGKILL, and a process does not end while one of
//! its threads is held: whoport gave up such a file at `--timeout`, said so, and then never
//! ended. A child (whoport itself, run again with [`CHILD_ARG`]) does the file's work instead
//! and hands the result on through a pipe; one that does not answer in time is left behind
//! (killed, not waited for), and whoport ends. When no child answers at all (none could be
//! started: whoport run through the dynamic loader; one ended without a whole answer), the
//! file is said not read, with why: its work is never done in whoport's own process instead.
//!
//! Files on filesystems that answer from memory or from a local disk are read in the process
//! as before: which one a path is on is told by whoport's mount table, with every symbolic link
//! on the way followed here by its text (read only where the filesystem answers), so that a
//! link on a local disk into a FUSE mount is seen.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

/// whoport's children of this module that were not reaped, and whether the handle that kills
/// and waits for each was let go: their PIDs cannot be another process's while they are not (a
/// child killed and left behind is reaped only once it ends). Only children whose handle was
/// let go are reaped here ([`reap_ended_children`]): a handle kills its child by PID, which a
/// child reaped behind its back might have passed on to another process.
static CHILDREN: std::sync::Mutex<Vec<(u32, bool)>> = std::sync::Mutex::new(Vec::new());

/// The PIDs of whoport's children of this module, which `/proc` lists among the machine's
/// processes (see [`CHILDREN`]), as whoport numbers them: where `/proc` numbers processes
/// otherwise (another PID namespace's, `unshare -p` without a `/proc` of its own), none, as
/// those numbers are other processes' there.
pub fn own_children() -> Vec<u32> {
    if !proc_numbers_as_whoport() {
        return Vec::new();
    }
    children().iter().map(|&(pid, _)| pid).collect()
}

/// Whether `/proc` numbers processes as whoport's PID namespace does (its `self` is whoport's
/// PID), asked once.
fn proc_numbers_as_whoport() -> bool {
    static SAME_NUMBERS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SAME_NUMBERS.get_or_init(|| {
        std::fs::read_link("/proc/self")
            .is_ok_and(|link| link.as_os_str() == std::process::id().to_string().as_str())
    })
}

fn children() -> std::sync::MutexGuard<'static, Vec<(u32, bool)>> {
    CHILDREN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What became of a child of this module.
#[cfg(target_os = "linux")]
#[derive(Clone, Copy, PartialEq, Eq)]
enum Child {
    Started,
    /// Its handle was let go before it was reaped.
    LetGo,
    Reaped,
}

/// Notes what became of child `pid`.
#[cfg(target_os = "linux")]
fn child_is(pid: u32, what: Child) {
    let mut children = children();
    match what {
        Child::Started => children.push((pid, false)),
        Child::LetGo => children
            .iter_mut()
            .filter(|(p, _)| *p == pid)
            .for_each(|(_, let_go)| *let_go = true),
        Child::Reaped => children.retain(|&(p, _)| p != pid),
    }
}

/// Lets the handle of child `pid` go when dropped (at every return of [`run`]).
#[cfg(target_os = "linux")]
struct LetGo(u32);

#[cfg(target_os = "linux")]
impl Drop for LetGo {
    fn drop(&mut self) {
        child_is(self.0, Child::LetGo);
    }
}

/// Reaps every child of this module whose handle was let go and that has ended since (one
/// killed and left behind ends once what held it lets go; one that answered, right after): a
/// long `wait` starts one at each look.
#[cfg(target_os = "linux")]
pub(crate) fn reap_ended_children() {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let let_go: Vec<u32> = children()
        .iter()
        .filter(|&&(_, let_go)| let_go)
        .map(|&(pid, _)| pid)
        .collect();
    for pid in let_go {
        let Ok(raw) = i32::try_from(pid) else {
            continue;
        };
        match waitpid(nix::unistd::Pid::from_raw(raw), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {}
            // Reaped (or not this process's child any more).
            _ => child_is(pid, Child::Reaped),
        }
    }
}

/// Closes every descriptor the child inherited but its standard input, output and error and
/// those in `keep` (the caller's own, not marked close-on-exec: a lock file a cron job holds
/// with `flock`, a pipe its caller reads to its end): a child left behind holds nothing of its
/// caller's but what its file's path names (`/dev/fd/63` from the shell's `<(…)`, which the
/// parent found on the way to the file: [`descriptors_named`]).
#[cfg(target_os = "linux")]
fn close_inherited(keep: &[i32]) {
    let inherited: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .filter(|&fd: &i32| fd > 2 && !keep.contains(&fd))
                .collect()
        })
        .unwrap_or_default();
    // (The listing's own descriptor is among them, closed already: EBADF. The child has no
    // other thread that could have opened a descriptor meanwhile.)
    for fd in inherited {
        let _ = nix::unistd::close(fd);
    }
}

/// The dynamic loader's path, when whoport was started through it (`ld-linux-x86-64.so.2
/// /usr/bin/whoport`): it is then whoport's own executable, `/proc/self/exe`, and a child
/// started from there would be the loader, looking for a program named after the child's
/// first argument. Asked once.
#[cfg(target_os = "linux")]
fn started_through_the_loader() -> Option<&'static str> {
    static LOADER: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    LOADER
        .get_or_init(|| {
            use std::os::unix::ffi::OsStrExt;
            let exe = std::fs::read_link("/proc/self/exe").ok()?;
            // The file whoport's own code is mapped from, by its path as the kernel names it
            // (as it names the executable, but for a newline, written `\012` there): the
            // executable, unless the kernel ran the loader, which mapped whoport. Code mapped
            // from no file (a packed executable) says nothing: not the loader.
            let code = started_through_the_loader as *const () as usize;
            let maps = crate::collect::proc_dir::read_whole("/proc/self/maps")?;
            let mapped = maps.split(|&b| b == b'\n').find_map(|line| {
                // Address range, permissions, offset, device, inode, then the path.
                let fields: Vec<&[u8]> = line.splitn(6, |&b| b == b' ').collect();
                let range = std::str::from_utf8(fields.first()?).ok()?;
                let (start, end) = range.split_once('-')?;
                let (start, end) = (
                    usize::from_str_radix(start, 16).ok()?,
                    usize::from_str_radix(end, 16).ok()?,
                );
                (start..end)
                    .contains(&code)
                    .then(|| fields.get(5).map(|path| path.trim_ascii_start()))
                    .flatten()
            })?;
            let exe_as_mapped: Vec<u8> = exe
                .as_os_str()
                .as_bytes()
                .iter()
                .flat_map(|&b| match b {
                    b'\n' => b"\\012".to_vec(),
                    b => vec![b],
                })
                .collect();
            (!mapped.is_empty() && mapped != exe_as_mapped.as_slice())
                .then(|| exe.display().to_string())
        })
        .as_deref()
}

/// Why no child can be started when whoport was started through the dynamic loader.
#[cfg(target_os = "linux")]
fn no_child_through(loader: &str) -> String {
    format!(
        "whoport was started through the dynamic loader ({loader}), which is then its own \
         executable: it cannot start a process of its own (run whoport itself)"
    )
}

/// Why no child is started where whoport is the first process of its PID namespace (a
/// container without an init of its own): the kernel ends such a namespace's processes when
/// its first ends, and waits for them all, one held in the kernel for good too: whoport would
/// never end.
#[cfg(target_os = "linux")]
fn first_of_its_pid_namespace() -> Option<&'static str> {
    if std::process::id() == 1 {
        return Some(
            "whoport runs as PID 1 of its PID namespace (a container without an init), which \
             does not end while a process it left behind waits in the kernel: it starts none",
        );
    }
    // After `unshare --pid` without `--fork`, whoport's children start in a PID namespace
    // made for them, the first of them as its PID 1: once that one ends, no other can start
    // there. Before that first child, the link to the children's namespace is there but names
    // none (the kernel has it since Linux 4.12). (One entered with `setns` has its own first
    // process: children start there as anywhere.)
    static ELSEWHERE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let elsewhere = *ELSEWHERE.get_or_init(|| {
        use crate::collect::proc_dir;
        matches!(
            proc_dir::read_link("/proc/self/ns/pid_for_children"),
            Err(rustix::io::Errno::NOENT)
        ) && proc_dir::stat_proc("/proc/self/ns/pid_for_children").is_ok()
    });
    elsewhere.then_some(
        "whoport's children would start in a PID namespace made for them (by `unshare --pid` \
         without `--fork`), which ends with the first of them: it starts none",
    )
}

/// The path a child of [`run`] is given for `path`, and the descriptors it keeps open (`keep`):
/// those the path goes through. A path through whoport's standard input, output or error
/// (`/dev/stdin`, `/dev/fd/0/x.csv`) goes through the same file given to the child at another
/// number (its own are others: its socket pair, its pipe), as `/proc/self/fd/N/...` from the
/// last of them on (`given` holds that copy until the child has started).
#[cfg(target_os = "linux")]
fn for_child(
    path: &Path,
    keep: &mut Vec<u32>,
    given: &mut Vec<std::os::fd::OwnedFd>,
) -> Result<std::path::PathBuf, Failed> {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let named = descriptors_named(path);
    keep.extend(named.iter().map(|n| n.fd).filter(|&fd| fd > 2));
    let Some(last) = named.iter().rev().find(|n| n.fd <= 2) else {
        return Ok(path.to_path_buf());
    };
    let Some(dup) = standard_descriptor_for_child(last.fd) else {
        return Err(Failed::Unanswered(
            "its descriptor could not be given to a process of its own".to_string(),
        ));
    };
    let number = std::os::fd::AsRawFd::as_raw_fd(&dup);
    keep.extend(u32::try_from(number).ok());
    let mut through = format!("/proc/self/fd/{number}").into_bytes();
    for part in &last.rest {
        through.push(b'/');
        through.extend_from_slice(part);
    }
    // (A last `/` or `.` says the file must be a directory: kept.)
    let bytes = path.as_os_str().as_bytes();
    if bytes.ends_with(b"/") {
        through.push(b'/');
    } else if bytes.ends_with(b"/.") {
        through.extend_from_slice(b"/.");
    }
    given.push(dup);
    Ok(std::path::PathBuf::from(std::ffi::OsString::from_vec(
        through,
    )))
}

/// A copy of whoport's standard input, output or error (`fd`) at a number above 2, left open
/// across `exec` for a child of [`run`] (closed by whoport once the child has started).
#[cfg(target_os = "linux")]
fn standard_descriptor_for_child(fd: u32) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::AsFd;
    let dup = match fd {
        0 => rustix::io::fcntl_dupfd_cloexec(std::io::stdin().as_fd(), 3),
        1 => rustix::io::fcntl_dupfd_cloexec(std::io::stdout().as_fd(), 3),
        _ => rustix::io::fcntl_dupfd_cloexec(std::io::stderr().as_fd(), 3),
    }
    .ok()?;
    rustix::io::fcntl_setfd(&dup, rustix::io::FdFlags::empty()).ok()?;
    Some(dup)
}

/// The variable that gives a child of [`run`] the descriptors its file's path names.
#[cfg(target_os = "linux")]
const KEEP_VAR: &str = "WHOPORT_FAR_FILE_KEEP";

/// Reaps `child` if it has ended (then its PID may be another process's). One that cannot
/// be waited for is not whoport's to wait for any more (reaped by the kernel, when whoport's
/// caller left SIGCHLD ignored): its PID may be another process's too.
#[cfg(target_os = "linux")]
fn reap_if_ended(child: &mut std::process::Child) {
    if !matches!(child.try_wait(), Ok(None)) {
        child_is(child.id(), Child::Reaped);
    }
}

/// What kills a child of this module: a pidfd opened as it starts, which signals that process
/// and never another, even once its PID is another's (reaped by the kernel as it ended, when
/// whoport's caller left SIGCHLD ignored); without one (before Linux 5.3), its PID, which the
/// standard library never signals once it has reaped it.
#[cfg(target_os = "linux")]
struct Killer(Option<std::os::fd::OwnedFd>);

#[cfg(target_os = "linux")]
impl Killer {
    fn of(child: &std::process::Child) -> Killer {
        let pid = rustix::process::Pid::from_child(child);
        Killer(rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok())
    }

    /// Whether the signal was sent (not: the process has ended and was reaped).
    fn kill(&self, child: &mut std::process::Child) -> bool {
        match &self.0 {
            Some(pidfd) => {
                rustix::process::pidfd_send_signal(pidfd, rustix::process::Signal::KILL).is_ok()
            }
            None => child.kill().is_ok(),
        }
    }
}

/// The first argument that makes whoport a child of this module ([`serve`]).
pub const CHILD_ARG: &str = "__whoport-far-file";

/// What a child is asked to do with its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op<'a> {
    /// Read it ([`crate::input_file::read`]'s work), at most `limit` bytes.
    Read {
        limit: u64,
        found: crate::input_file::Found,
    },
    /// Replace it with the bytes given on the child's standard input
    /// ([`crate::atomic_file::write`]'s work), creating missing directories with `create`.
    Write { create: bool },
    /// Its device and inode (not following a last symbolic link), if it exists.
    Identity,
    /// Whether it is the same file as the other path ([`crate::same_file::same`]'s work).
    Same(&'a Path),
    /// The user database's names for these uids (the file is the database's, `/etc/passwd`):
    /// lines `UID NAME`, none for a uid it does not know.
    UserNames(&'a [u32]),
    /// The uid the user database has for this name: its digits, or nothing.
    UidOf(&'a str),
}

/// The files the C library reads to look a user up from its files (`/etc/nsswitch.conf`
/// says where else to ask; LDAP and sssd answer through sockets, with their own timeouts).
const USER_DATABASE: [&str; 3] = ["/etc/nsswitch.conf", "/etc/passwd", "/etc/group"];

/// This run's `--timeout` and `extra`: how long a child is waited for where a file read in
/// the process would be.
pub fn timeout_and(extra: Duration) -> Duration {
    crate::collect::deadline::limit()
        .duration
        .saturating_add(extra)
}

/// Whether looking a user up may read a file on a filesystem that may never answer (asked
/// once a run: names are looked up for every row).
pub fn user_database_may_never_answer() -> bool {
    static FAR: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FAR.get_or_init(|| {
        USER_DATABASE
            .iter()
            .any(|file| may_never_answer(Path::new(file)))
    })
}

/// The path a user database lookup is run with (see [`Op::UserNames`]).
pub fn user_database() -> &'static Path {
    Path::new(USER_DATABASE[1])
}

/// Whether reaching `path` crosses a mount that may never answer (see
/// [`crate::collect::exe::walk_may_wait`]): the path is made absolute against whoport's
/// working directory, and each symbolic link on the way is followed here by its text.
pub fn may_never_answer(path: &Path) -> bool {
    walk(path, &mut Vec::new())
}

/// One of whoport's own descriptors that reaching a path goes through (`/dev/fd/7`,
/// `/proc/self/fd/7/x`), and the components of the path after it.
pub struct Named {
    pub fd: u32,
    pub rest: Vec<Vec<u8>>,
}

/// whoport's own descriptors that reaching `path` goes through, in order, as far as
/// [`may_never_answer`] follows it: a child doing the file's work keeps them open.
pub fn descriptors_named(path: &Path) -> Vec<Named> {
    let mut named = Vec::new();
    walk(path, &mut named);
    named
}

/// [`may_never_answer`]'s walk, noting in `named` each of whoport's own descriptors met.
fn walk(path: &Path, named: &mut Vec<Named>) -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::ffi::OsStrExt;
        let mounts = crate::collect::exe::mounts();
        let bytes = path.as_os_str().as_bytes();
        let start = if bytes.starts_with(b"/") {
            Vec::new()
        } else {
            // The system call itself: the C library's getcwd walks up through ".." when the
            // kernel says the directory cannot be reached (a lazily unmounted one), and would
            // ask the filesystem that may not answer. Unreachable, it may not answer.
            match rustix::process::getcwd(Vec::new()) {
                Ok(dir) if dir.as_bytes().starts_with(b"/") => dir.as_bytes().to_vec(),
                _ => return true,
            }
        };
        let mut pending: std::collections::VecDeque<Vec<u8>> =
            parts(&start).chain(parts(bytes)).collect();
        // The directories resolved so far, from the root ("" is the root).
        let mut resolved: Vec<u8> = Vec::new();
        let mut links = 0;
        while let Some(part) = pending.pop_front() {
            if part == b".." {
                let cut = resolved.iter().rposition(|&b| b == b'/').unwrap_or(0);
                resolved.truncate(cut);
                continue;
            }
            let next = [resolved.as_slice(), b"/", &part].concat();
            if crossed_may_not_answer(mounts, &next) {
                return true;
            }
            let here = std::ffi::OsStr::from_bytes(&next);
            match std::fs::symlink_metadata(here) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    links += 1;
                    // As many as the kernel follows: past that, opening it fails at once.
                    let Some(target) = std::fs::read_link(here).ok().filter(|_| links <= 40) else {
                        return false;
                    };
                    let target = target.as_os_str().as_bytes().to_vec();
                    // A link of procfs other than `self` and `thread-self` is a process's
                    // magic link (its root, working directory, executable or descriptors):
                    // what it leads to is not found by its text, and may be in another mount
                    // namespace: it may not answer. One of whoport's own descriptors is judged
                    // by the mount its file is on (its text may be stale: a mount lazily
                    // unmounted reads as "/"). Standard input, output and error are read here,
                    // where they are open (a child's are others); any other is read by the
                    // child, which inherits it, when its mount may not answer. A directory on
                    // a mount that answers is gone on from by the link's text.
                    if let Some(proc_point) = on_procfs(mounts, &next) {
                        let rest = &next[proc_point.len()..];
                        if rest != b"/self" && rest != b"/thread-self" {
                            let Some(fd) = own_descriptor(proc_point, rest) else {
                                return true;
                            };
                            named.push(Named {
                                fd,
                                rest: pending.iter().cloned().collect(),
                            });
                            // (Standard input, output and error too, a file's: a child is
                            // given them at another number, [`run`]. A pipe's or a socket's,
                            // which whoport reads within `--timeout`, are read here, as before.
                            // A file of theirs on a mount not in whoport's table (opened in
                            // another mount namespace, or lazily unmounted since) goes to a
                            // child where one can start, and is read here otherwise, as before.)
                            let far = if fd <= 2 {
                                !kernel_object(fd)
                                    && match descriptor_mount_answers(mounts, fd) {
                                        Some(answers) => !answers,
                                        None => children_may_start(),
                                    }
                            } else {
                                descriptor_may_not_answer(mounts, fd)
                            };
                            if pending.is_empty() {
                                return far;
                            }
                            if far || !target.starts_with(b"/") || target.ends_with(b" (deleted)") {
                                return true;
                            }
                        }
                    }
                    if target.starts_with(b"/") {
                        resolved.clear();
                    }
                    let rest: Vec<Vec<u8>> = pending.drain(..).collect();
                    pending.extend(parts(&target).chain(rest));
                }
                _ => resolved = next,
            }
        }
        false
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (path, named);
        false
    }
}

/// Whether walking `path` (absolute, without links) crosses a mount that may not answer: one
/// at `path` or above it whose filesystem answers neither from memory nor from a local disk
/// (nor is one of the kernel's own, such as `/proc`, `/sys` or `/dev/pts`, which whoport's
/// own descriptors are reached through: `/dev/stdin` is `/proc/self/fd/0`, and a child's
/// would be another). An empty table (no mount table could be read) is judged by no mount:
/// the file is read in the process, as it was before whoport looked.
#[cfg(target_os = "linux")]
fn crossed_may_not_answer(mounts: &[crate::collect::exe::Mount], path: &[u8]) -> bool {
    const KERNELS_OWN: &[&str] = &[
        "proc",
        "sysfs",
        "devpts",
        "cgroup",
        "cgroup2",
        "mqueue",
        "debugfs",
        "tracefs",
        "securityfs",
        "pstore",
        "bpf",
        "configfs",
        "efivarfs",
        "binfmt_misc",
        "nsfs",
    ];
    let crossed = |point: &[u8]| {
        point == b"/"
            || path
                .strip_prefix(point)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"/"))
    };
    !mounts.is_empty()
        && mounts.iter().any(|m| {
            crossed(&m.point)
                && !crate::collect::exe::answers_from_memory(&m.fstype)
                && !KERNELS_OWN.contains(&m.fstype.as_str())
        })
}

/// The mount point of the procfs that `path` (absolute, without links) is on, if it is on one
/// (the mount whose point is the longest that contains it).
#[cfg(target_os = "linux")]
fn on_procfs<'m>(mounts: &'m [crate::collect::exe::Mount], path: &[u8]) -> Option<&'m [u8]> {
    let contains = |point: &[u8]| {
        point == b"/"
            || path
                .strip_prefix(point)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"/"))
    };
    let mount = mounts
        .iter()
        .filter(|m| contains(&m.point))
        .max_by_key(|m| m.point.len())?;
    (mount.fstype == "proc").then_some(mount.point.as_slice())
}

/// Which of whoport's own descriptors `rest` (below the procfs mounted at `proc_point`) is
/// the link of, if it is one: `/PID/fd/N` or `/PID/task/TID/fd/N`, PID whoport's as that
/// procfs numbers it (its `self` link).
#[cfg(target_os = "linux")]
fn own_descriptor(proc_point: &[u8], rest: &[u8]) -> Option<u32> {
    use std::os::unix::ffi::OsStrExt;
    let self_link = [proc_point, b"/self"].concat();
    let own = std::fs::read_link(std::ffi::OsStr::from_bytes(&self_link)).ok()?;
    let own = own.as_os_str().as_bytes();
    let number = |p: &[u8]| -> Option<u32> { std::str::from_utf8(p).ok()?.parse().ok() };
    let parts: Vec<&[u8]> = rest.split(|&b| b == b'/').skip(1).collect();
    match parts.as_slice() {
        [pid, b"fd", n] if *pid == own => number(n),
        [pid, b"task", tid, b"fd", n] if *pid == own && number(tid).is_some() => number(n),
        _ => None,
    }
}

/// Whether whoport's descriptor `fd` is a pipe, a socket or another object of the kernel's own
/// (its link reads `pipe:[…]`, `socket:[…]`, `anon_inode:…`): on no filesystem at all.
#[cfg(target_os = "linux")]
fn kernel_object(fd: u32) -> bool {
    crate::collect::proc_dir::read_link(&format!("/proc/self/fd/{fd}")).is_ok_and(|text| {
        text.starts_with(b"pipe:[")
            || text.starts_with(b"socket:[")
            || text.starts_with(b"anon_inode:")
    })
}

/// Whether the file whoport's descriptor `fd` is open on is on a mount that may not answer:
/// the mount its `fdinfo` names (`mnt_id`), judged by its filesystem; one not in whoport's
/// mount table (lazily unmounted, or another namespace's) may not answer.
#[cfg(target_os = "linux")]
fn descriptor_may_not_answer(mounts: &[crate::collect::exe::Mount], fd: u32) -> bool {
    descriptor_mount_answers(mounts, fd) != Some(true)
}

/// Whether the mount the file whoport's descriptor `fd` is open on answers: `None` when it is
/// not in whoport's mount table (lazily unmounted, or another namespace's), or not known.
#[cfg(target_os = "linux")]
fn descriptor_mount_answers(mounts: &[crate::collect::exe::Mount], fd: u32) -> Option<bool> {
    let info = crate::collect::proc_dir::read_whole(&format!("/proc/self/fdinfo/{fd}"))?;
    let id = String::from_utf8_lossy(&info)
        .lines()
        .find_map(|l| l.strip_prefix("mnt_id:")?.trim().parse::<u64>().ok())?;
    let m = mounts.iter().find(|m| m.id == id)?;
    Some(!crossed_may_not_answer(std::slice::from_ref(m), &m.point))
}

/// Whether a child of this module could be started at all (see [`run`]).
#[cfg(target_os = "linux")]
fn children_may_start() -> bool {
    started_through_the_loader().is_none() && first_of_its_pid_namespace().is_none()
}

/// The components of a path, without empty ones and `.`.
fn parts(path: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    path.split(|&b| b == b'/')
        .filter(|p| !p.is_empty() && *p != b".")
        .map(<[u8]>::to_vec)
}

/// Why a child of this module gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failed {
    /// None came within the time given: the child was killed and left behind.
    Late,
    /// None could come: no child could be started, it refused, or it ended without a whole
    /// answer (why). The work is never done in whoport's own process instead: a request the
    /// filesystem reads and never answers would hold it for good.
    Unanswered(String),
}

impl Failed {
    /// What is said of the file when no child answered: "it is on a filesystem that may never
    /// answer (...), ...: why".
    pub fn words(&self) -> String {
        match self {
            Failed::Late => "no answer".to_string(),
            Failed::Unanswered(why) => format!(
                "it is on a filesystem that may never answer (FUSE, NFS, CIFS...), which \
                 whoport reads only in a process of its own, and none answered: {why}"
            ),
        }
    }
}

/// Runs `op` on the file at `path` in a child process, `input` on its standard input, and
/// waits for its answer at most `wait`: the answer, or why there is none.
pub fn run(op: Op<'_>, path: &Path, input: &[u8], wait: Duration) -> Result<Vec<u8>, Failed> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::net::UnixStream;
        use std::process::{Command, Stdio};
        reap_ended_children();
        if let Some(loader) = started_through_the_loader() {
            return Err(Failed::Unanswered(no_child_through(loader)));
        }
        if let Some(why) = first_of_its_pid_namespace() {
            return Err(Failed::Unanswered(why.to_string()));
        }
        let mut keep = Vec::new();
        let mut given = Vec::new();
        let child_path = for_child(path, &mut keep, &mut given)?;
        let other_path = match op {
            Op::Same(other) => Some(for_child(other, &mut keep, &mut given)?),
            _ => None,
        };
        let limit = crate::collect::deadline::limit();
        let mut cmd = Command::new("/proc/self/exe");
        cmd.arg(CHILD_ARG)
            .arg(duration_arg(limit.duration))
            .arg(&limit.text);
        match op {
            Op::Read { limit, found } => {
                cmd.args(["read", &limit.to_string(), found_word(found)]);
            }
            Op::Write { create } => {
                cmd.args(["write", if create { "create" } else { "existing" }]);
            }
            Op::Identity => {
                cmd.arg("identity");
            }
            Op::Same(other) => {
                cmd.arg("same").arg(other_path.as_deref().unwrap_or(other));
            }
            Op::UserNames(uids) => {
                let list: Vec<String> = uids.iter().map(u32::to_string).collect();
                cmd.args(["user-names", &list.join(",")]);
            }
            Op::UidOf(name) => {
                cmd.args(["uid-of", name]);
            }
        }
        // The descriptors the paths name stay open in the child ([`for_child`]); it closes
        // every other it inherits.
        let keep: Vec<String> = keep.iter().map(u32::to_string).collect();
        let unanswered = |why: &dyn std::fmt::Display| Failed::Unanswered(why.to_string());
        // Its standard input is one end of a socket pair whoport makes: the child serves only
        // a peer with its own credentials (see [`serve`]).
        let (mut ours, theirs) = UnixStream::pair().map_err(|e| unanswered(&e))?;
        let mut child = cmd
            .arg(&child_path)
            .env_clear()
            .env(KEEP_VAR, keep.join(","))
            .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| unanswered(&format!("it could not be started ({e})")))?;
        child_is(child.id(), Child::Started);
        drop(given);
        let killer = Killer::of(&child);
        let _let_go = LetGo(child.id());
        let started = std::time::Instant::now();
        // The child reads all of its input before it touches its file.
        let _ = std::io::Write::write_all(&mut ours, input);
        let _ = ours.shutdown(std::net::Shutdown::Write);
        let Some(stdout) = child.stdout.take() else {
            let _ = killer.kill(&mut child);
            return Err(unanswered(&"its output could not be read"));
        };
        let Some(answer) = read_within(stdout, started, wait) else {
            let _ = killer.kill(&mut child);
            return Err(Failed::Late);
        };
        let waited = child.try_wait();
        if !matches!(waited, Ok(None)) {
            child_is(child.id(), Child::Reaped);
        }
        let status = waited.ok().flatten();
        match unframe(&answer) {
            Some(body) => Ok(body.to_vec()),
            None => {
                let _ = killer.kill(&mut child);
                Err(unanswered(&match status {
                    Some(status) if !status.success() => {
                        format!("it ended without a whole answer ({status})")
                    }
                    _ => "it ended without a whole answer".to_string(),
                }))
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (op, path, input, wait);
        Err(Failed::Unanswered("not on this system".to_string()))
    }
}

/// Everything the child writes until it closes its output, if that comes before `wait` has
/// passed since `started`.
#[cfg(target_os = "linux")]
fn read_within(
    mut out: std::process::ChildStdout,
    started: std::time::Instant,
    wait: Duration,
) -> Option<Vec<u8>> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let mut answer = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let left = wait.checked_sub(started.elapsed())?;
        let timeout = Timespec {
            tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let mut fds = [PollFd::new(&out, PollFlags::IN)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) | Err(rustix::io::Errno::INTR) => continue,
            Ok(_) => {}
            Err(_) => return None,
        }
        match out.read(&mut chunk) {
            Ok(0) => return Some(answer),
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

fn found_word(found: crate::input_file::Found) -> &'static str {
    use crate::input_file::Found;
    match found {
        Found::Named => "named",
        Found::Fixed => "fixed",
        Found::Environment => "environment",
    }
}

/// `--timeout` as the child is given it: seconds and nanoseconds, any length the clock takes.
fn duration_arg(d: Duration) -> String {
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// [`duration_arg`] back.
fn parse_duration_arg(text: &str) -> Option<Duration> {
    let (secs, nanos) = text.split_once('.')?;
    let nanos: u32 = nanos.parse().ok().filter(|&n| n < 1_000_000_000)?;
    Some(Duration::new(secs.parse().ok()?, nanos))
}

/// An answer as a child writes it: its length (8 bytes, little-endian), then the answer.
fn frame(body: &[u8]) -> Vec<u8> {
    [&(body.len() as u64).to_le_bytes()[..], body].concat()
}

/// [`frame`]'s answer back, if it is whole.
fn unframe(framed: &[u8]) -> Option<&[u8]> {
    let (len, body) = framed.split_at_checked(8)?;
    let len = u64::from_le_bytes(len.try_into().ok()?);
    (u64::try_from(body.len()).ok()? == len).then_some(body)
}

/// Whether this process's standard input is a socket its parent made, with this process's
/// user and group (the socket pair [`run`] makes: SO_PEERCRED names the process that made
/// it): only then does a child of this module serve. Run by hand, through sudo or through a
/// setuid launcher that allows whoport as root, it would otherwise read and write any file it
/// is named, with its own privileges and none of the checks a command makes, for a caller
/// that may not; a caller with the same credentials could do all it does itself. The parent
/// must be the socket's maker: a socket connected to a daemon of the same user (any process
/// may connect to some of root's) names that daemon, not the caller.
#[cfg(target_os = "linux")]
fn asked_by_a_peer_with_these_credentials() -> bool {
    let stdin = std::io::stdin();
    let Ok(peer) = rustix::net::sockopt::socket_peercred(&stdin) else {
        return false;
    };
    Some(peer.pid) == rustix::process::getppid()
        && peer.uid == rustix::process::geteuid()
        && peer.gid == rustix::process::getegid()
}

/// The child's side: `args` are what follows [`CHILD_ARG`]. Does the work and writes its
/// answer on standard output ([`frame`]d); the exit status is 0, or 2 when the arguments are
/// not this module's or it was not asked by whoport's socket pair (nothing is done then).
pub fn serve(args: &[std::ffi::OsString]) -> u8 {
    use crate::input_file::Found;
    // A reader of the kernel's iterators ends with the whoport that started it (killed with
    // it, it is seen as left behind by the next run: `reader_left_waiting`); set before the
    // check below, which sees a parent that ended first as another.
    #[cfg(target_os = "linux")]
    if args.get(2).and_then(|a| a.to_str()) == Some("drain") {
        let _ =
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    }
    #[cfg(target_os = "linux")]
    if !asked_by_a_peer_with_these_credentials() {
        crate::stderr::line(format_args!(
            "whoport: {CHILD_ARG} is whoport's own, for the processes it starts"
        ));
        return 2;
    }
    let text = |i: usize| args.get(i).and_then(|a| a.to_str());
    // Its own name in `ps` and `top` (the kernel's would be `exe`, the name it was run by):
    // one left behind, waiting in the kernel, is seen as whoport's.
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::set_name(if text(2) == Some("drain") {
        READER_NAME
    } else {
        c"whoport-file"
    });
    let duration = text(0).and_then(parse_duration_arg);
    let (Some(duration), Some(given), Some(op)) = (duration, text(1), text(2)) else {
        return 2;
    };
    // (The reader of the kernel's iterators closes them all: `drain_given`.)
    #[cfg(target_os = "linux")]
    if op != "drain" {
        let keep: Vec<i32> = std::env::var(KEEP_VAR)
            .unwrap_or_default()
            .split(',')
            .filter_map(|fd| fd.parse().ok())
            .collect();
        close_inherited(&keep);
    }
    crate::collect::deadline::set(crate::collect::deadline::Limit {
        duration,
        text: given.to_string(),
    });
    let answer = match op {
        "read" => {
            let limit = text(3).and_then(|l| l.parse::<u64>().ok());
            let found = match text(4) {
                Some("named") => Some(Found::Named),
                Some("fixed") => Some(Found::Fixed),
                Some("environment") => Some(Found::Environment),
                _ => None,
            };
            let (Some(limit), Some(found), Some(path)) = (limit, found, args.get(5)) else {
                return 2;
            };
            crate::input_file::encode(crate::input_file::read_now(Path::new(path), limit, found))
        }
        "write" => {
            let (Some(create), Some(path)) = (text(3), args.get(4)) else {
                return 2;
            };
            let mut contents = Vec::new();
            if std::io::stdin().read_to_end(&mut contents).is_err() {
                return 2;
            }
            let create = create == "create";
            crate::atomic_file::encode(crate::atomic_file::write_file(
                Path::new(path),
                &contents,
                create,
            ))
        }
        "identity" => {
            let Some(path) = args.get(3) else {
                return 2;
            };
            identity_now(Path::new(path)).map_or_else(Vec::new, encode_identity)
        }
        "user-names" => {
            let Some(list) = text(3) else {
                return 2;
            };
            let uids = list.split(',').filter_map(|u| u.parse::<u32>().ok());
            let mut lines = String::new();
            for uid in uids {
                if let Some(name) = crate::collect::user_name(uid) {
                    lines.push_str(&format!("{uid} {name}\n"));
                }
            }
            lines.into_bytes()
        }
        "uid-of" => {
            let Some(name) = text(3) else {
                return 2;
            };
            let uid = crate::collect::uid_of_name_now(name);
            uid.map(|u| u.to_string()).unwrap_or_default().into_bytes()
        }
        "same" => {
            let (Some(other), Some(path)) = (args.get(3), args.get(4)) else {
                return 2;
            };
            let same = crate::same_file::on_disk(Path::new(path), Path::new(other));
            vec![u8::from(same)]
        }
        #[cfg(target_os = "linux")]
        "drain" => return drain_given(),
        _ => return 2,
    };
    let mut out = std::io::stdout().lock();
    let _ = std::io::Write::write_all(&mut out, &frame(&answer));
    let _ = std::io::Write::flush(&mut out);
    0
}

/// An [`Op::UserNames`] answer: each uid with the name the database has for it.
pub fn decode_user_names(answer: &[u8]) -> Vec<(u32, String)> {
    String::from_utf8_lossy(answer)
        .lines()
        .filter_map(|line| {
            let (uid, name) = line.split_once(' ')?;
            Some((uid.parse().ok()?, name.to_string()))
        })
        .collect()
}

/// The device and inode of the file at `path` (a last symbolic link itself): `Some(None)` when
/// it does not exist, `None` when its filesystem did not answer within `--timeout`.
pub fn identity(path: &Path) -> Option<Option<(u64, u64)>> {
    if may_never_answer(path) {
        let wait = timeout_and(Duration::ZERO);
        return run(Op::Identity, path, &[], wait)
            .ok()
            .and_then(|answer| decode_identity(&answer));
    }
    crate::input_file::bounded(path, Duration::ZERO, identity_now)
}

/// The device and inode of the file at `path` (a last symbolic link itself), if it exists.
pub fn identity_now(path: &Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::symlink_metadata(path)
            .ok()
            .map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

fn encode_identity((dev, ino): (u64, u64)) -> Vec<u8> {
    [dev.to_le_bytes(), ino.to_le_bytes()].concat()
}

/// An [`Op::Identity`] answer: `Some(None)` when the file does not exist.
pub fn decode_identity(answer: &[u8]) -> Option<Option<(u64, u64)>> {
    match answer.len() {
        0 => Some(None),
        16 => {
            let dev = u64::from_le_bytes(answer[..8].try_into().ok()?);
            let ino = u64::from_le_bytes(answer[8..].try_into().ok()?);
            Some(Some((dev, ino)))
        }
        _ => None,
    }
}

/// Descriptors read to their end by a child: what reading them may hold in the kernel for
/// good, through SIGKILL. The kernel's tcp, udp and unix iterators take each socket's lock as
/// they pass it, and a thread that holds a socket's lock while it waits for a page of a file
/// on a filesystem that never answers (a `setsockopt` whose option is read from such a
/// mapping) holds it for as long: a thread reading such an iterator waits with it, and a
/// process does not end while one of its threads waits so, nor close what its threads share
/// (its standard output). A child given only the descriptors reads them; one that does not
/// answer in time is killed and left behind (it ends once the lock is let go), holding only
/// them.
///
/// What the child writes: for each descriptor, chunks of what it read (4 bytes of length,
/// little-endian, then the bytes), then a chunk of length 0 and the read's errno (4 bytes: 0
/// at its end).
#[cfg(target_os = "linux")]
pub struct Drained {
    child: std::process::Child,
    killer: Killer,
    out: std::process::ChildStdout,
    /// `None`: no limit.
    until: Option<std::time::Instant>,
    /// Bytes of the current chunk not read yet.
    left: usize,
    /// The descriptors whose ends were not read yet (the current one among them).
    streams: usize,
    /// At the end of the current descriptor: reads give 0 until [`Drained::next_descriptor`].
    at_end: bool,
    /// The child did not answer in time (killed).
    late: bool,
    /// Killed, it did not end at once: it waits in the kernel.
    stuck: bool,
}

/// Hands `files` to a child that reads each to its end, in order, for at most `wait` in all:
/// their bytes are read from what is given back ([`Drained`], one descriptor after another).
/// `Err` says why no child could read them (then nothing was read).
#[cfg(target_os = "linux")]
pub fn drain(files: Vec<std::fs::File>, wait: Duration) -> std::io::Result<Drained> {
    use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    use std::mem::MaybeUninit;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;
    use std::process::{Command, Stdio};
    reap_ended_children();
    if let Some(loader) = started_through_the_loader() {
        return Err(std::io::Error::other(no_child_through(loader)));
    }
    if let Some(why) = first_of_its_pid_namespace() {
        return Err(std::io::Error::other(why));
    }
    let limit = crate::collect::deadline::limit();
    let (ours, theirs) = UnixStream::pair()?;
    let mut child = Command::new("/proc/self/exe")
        .arg(CHILD_ARG)
        .arg(duration_arg(limit.duration))
        .arg(&limit.text)
        .arg("drain")
        .env_clear()
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    child_is(child.id(), Child::Started);
    let killer = Killer::of(&child);
    let started = std::time::Instant::now();
    // The descriptors, one message each (so that each arrives whole, in order), then the end
    // of what is sent.
    for file in &files {
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        let fds = [file.as_fd()];
        let sent = control.push(SendAncillaryMessage::ScmRights(&fds))
            && sendmsg(
                &ours,
                &[std::io::IoSlice::new(b"f")],
                &mut control,
                SendFlags::empty(),
            )
            .is_ok();
        if !sent {
            let _ = killer.kill(&mut child);
            child_is(child.id(), Child::LetGo);
            return Err(std::io::Error::other(
                "the descriptor could not be handed over",
            ));
        }
    }
    let streams = files.len();
    drop(files);
    let _ = ours.shutdown(std::net::Shutdown::Write);
    let Some(out) = child.stdout.take() else {
        let _ = killer.kill(&mut child);
        child_is(child.id(), Child::LetGo);
        return Err(std::io::Error::other("its output could not be read"));
    };
    Ok(Drained {
        child,
        killer,
        out,
        // (A wait too long for the clock is none.)
        until: started.checked_add(wait),
        left: 0,
        streams,
        at_end: false,
        late: false,
        stuck: false,
    })
}

#[cfg(target_os = "linux")]
impl Drained {
    /// Goes on to the next descriptor's bytes; `false` when none is left.
    pub fn next_descriptor(&mut self) -> bool {
        if !self.at_end || self.streams == 0 {
            return false;
        }
        self.at_end = false;
        true
    }

    /// Whether the child did not answer in time (it was killed).
    pub fn late(&self) -> bool {
        self.late
    }

    /// Whether the child, killed, did not end at once: it waits in the kernel (and was left
    /// behind), where one that was only slow ends.
    pub fn stuck(&self) -> bool {
        self.stuck
    }

    /// Fills `buf` from the child's output, waiting at most until `until`.
    fn read_within(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        loop {
            let left = match self.until {
                Some(until) => until.checked_duration_since(std::time::Instant::now()),
                None => Some(Duration::MAX),
            };
            let Some(left) = left else {
                self.late = true;
                let _ = self.killer.kill(&mut self.child);
                // A reader that was only slow ends at once; one waiting for a lock does not.
                self.stuck = true;
                for _ in 0..50 {
                    if !matches!(self.child.try_wait(), Ok(None)) {
                        child_is(self.child.id(), Child::Reaped);
                        self.stuck = false;
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                // Still there: waiting in the kernel (D), or running toward its end on a loaded
                // machine.
                if self.stuck && proc_numbers_as_whoport() {
                    let stat = crate::collect::proc_dir::read_whole(&format!(
                        "/proc/{}/stat",
                        self.child.id()
                    ));
                    self.stuck = stat
                        .as_deref()
                        .and_then(crate::collect::proc_dir::parse_stat)
                        .is_none_or(|stat| stat.state == Some(b'D'));
                }
                let limit = &crate::collect::deadline::limit().text;
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    if self.stuck {
                        format!(
                            "its read did not end by the look's deadline (--timeout {limit}: \
                             the kernel takes each socket's lock as it passes it, and a thread \
                             of some process may hold one while it waits in the kernel); the \
                             process reading it for whoport was killed and left behind"
                        )
                    } else {
                        format!("its read did not end by the look's deadline (--timeout {limit})")
                    },
                ));
            };
            let timeout = Timespec {
                tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(left.subsec_nanos()),
            };
            let mut fds = [PollFd::new(&self.out, PollFlags::IN)];
            match poll(&mut fds, Some(&timeout)) {
                Ok(0) | Err(rustix::io::Errno::INTR) => continue,
                Ok(_) => {}
                Err(e) => return Err(e.into()),
            }
            match self.out.read(buf) {
                Ok(0) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the process reading it for whoport ended before its end",
                    ))
                }
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn read_exact_within(&mut self, mut buf: &mut [u8]) -> std::io::Result<()> {
        while !buf.is_empty() {
            let n = self.read_within(buf)?;
            buf = &mut buf[n..];
        }
        Ok(())
    }
}

#[cfg(target_os = "linux")]
impl Read for Drained {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            if self.at_end || buf.is_empty() {
                return Ok(0);
            }
            if self.left > 0 {
                let want = self.left.min(buf.len());
                let n = self.read_within(&mut buf[..want])?;
                self.left -= n;
                return Ok(n);
            }
            let mut head = [0u8; 4];
            self.read_exact_within(&mut head)?;
            let len = u32::from_le_bytes(head) as usize;
            if len > 0 {
                self.left = len;
                continue;
            }
            let mut errno = [0u8; 4];
            self.read_exact_within(&mut errno)?;
            self.at_end = true;
            self.streams -= 1;
            return match i32::from_le_bytes(errno) {
                0 => Ok(0),
                e => Err(read_ended_with(e)),
            };
        }
    }
}

/// How the child's read of a descriptor ended, when not at its end (`errno`): an error no
/// caller reads again after (not "would block" or "interrupted": the child has given the
/// descriptor up, and what follows is the next descriptor's, or nothing).
#[cfg(target_os = "linux")]
fn read_ended_with(errno: i32) -> std::io::Error {
    let cause = std::io::Error::from_raw_os_error(errno);
    std::io::Error::other(format!("its read ended before its end ({cause})"))
}

#[cfg(target_os = "linux")]
impl Drop for Drained {
    fn drop(&mut self) {
        // One that did not answer is killed and never waited for (it may wait in the kernel for
        // good); one that answered has ended or is about to.
        if !self.at_end || self.streams > 0 {
            let _ = self.killer.kill(&mut self.child);
            child_is(self.child.id(), Child::LetGo);
            return;
        }
        // (It ends right after its last chunk: waited for a moment, so that no look at the
        // machine's processes made after this finds it.)
        for _ in 0..100 {
            reap_if_ended(&mut self.child);
            if !children().iter().any(|&(p, _)| p == self.child.id()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        child_is(self.child.id(), Child::LetGo);
    }
}

/// The name a reader of the kernel's iterators ([`drain`]) gives itself (the kernel's name of
/// a process: at most 15 bytes).
#[cfg(target_os = "linux")]
const READER_NAME: &std::ffi::CStr = c"whoport-reader";

/// A reader of the kernel's iterators ([`drain`]) that waits in the kernel, for a socket's
/// lock that may never be let go.
#[cfg(target_os = "linux")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeftWaiting {
    /// Its PID, where `/proc` numbers processes as whoport does (see [`own_children`]).
    pub pid: Option<u32>,
    /// How long ago it started, when its start could be read.
    pub started_ago: Option<Duration>,
}

/// A reader of the kernel's iterators ([`drain`]), whoport's own or another run's, that waits
/// in the kernel (state D) for good as far as can be told: killed (SIGKILL pending: it did
/// not end in time, or the whoport that started it ended; one of a run under way is that
/// run's to wait for, and may end in time); started from the same executable
/// (its path, an upgrade's " (deleted)" aside), with whoport's effective uid, in whoport's
/// network namespace, and holding a pass of an iterator (which only a process with CAP_BPF
/// makes). Another reader would wait for the same lock (each run from cron would leave one
/// more behind, with the programs it holds): the reads are not made while one waits. Read
/// from `/proc` by what needs no process's memory (its `stat`, `status` and links: never
/// `cmdline`, which waits for the memory of a process whose mappings are busy); the name and
/// state first, from `stat`.
#[cfg(target_os = "linux")]
pub fn reader_left_waiting() -> Option<LeftWaiting> {
    use crate::collect::proc_dir;
    let program = |link: Vec<u8>| -> Vec<u8> {
        link.strip_suffix(b" (deleted)")
            .map_or(link.clone(), <[u8]>::to_vec)
    };
    let own_exe = program(proc_dir::read_link("/proc/self/exe").ok()?);
    let own_net = crate::collect::netns::own_netns_link()?;
    let euid = rustix::process::geteuid().as_raw();
    let me = std::process::id();
    let pids = proc_dir::numbered_entries("/proc").ok()?;
    pids.into_iter().filter(|&pid| pid != me).find_map(|pid| {
        let stat = proc_dir::parse_stat(&proc_dir::read_whole(&format!("/proc/{pid}/stat"))?)?;
        if stat.name != READER_NAME.to_bytes() || stat.state != Some(b'D') {
            return None;
        }
        let status = proc_dir::read_whole(&format!("/proc/{pid}/status"))?;
        let (killed, uid) = status_facts(&status);
        let started_ago = stat.start_ticks.and_then(started_ago);
        let same = uid == Some(euid)
            && proc_dir::read_link(&format!("/proc/{pid}/exe"))
                .is_ok_and(|exe| program(exe) == own_exe)
            && proc_dir::read_link(&format!("/proc/{pid}/ns/net")).ok() == Some(own_net.clone());
        (killed && same && holds_an_iterator(pid)).then_some(LeftWaiting {
            pid: proc_numbers_as_whoport().then_some(pid),
            started_ago,
        })
    })
}

/// How long ago a process started `ticks` clock ticks after boot (its `stat`'s start time, in
/// whoport's time namespace as the boot-time clock is).
#[cfg(target_os = "linux")]
fn started_ago(ticks: u64) -> Option<Duration> {
    use rustix::time::{clock_gettime, ClockId};
    let now = clock_gettime(ClockId::Boottime);
    let now = Duration::new(
        u64::try_from(now.tv_sec).ok()?,
        u32::try_from(now.tv_nsec).ok()?,
    );
    let hz = rustix::param::clock_ticks_per_second().max(1);
    let start =
        Duration::from_secs(ticks / hz) + Duration::from_nanos((ticks % hz) * 1_000_000_000 / hz);
    now.checked_sub(start)
}

/// What a `/proc/PID/status` says: whether SIGKILL is pending for the process (shared or its
/// thread's), and its effective uid.
#[cfg(target_os = "linux")]
fn status_facts(status: &[u8]) -> (bool, Option<u32>) {
    const SIGKILL_BIT: u64 = 1 << (9 - 1);
    let text = String::from_utf8_lossy(status);
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
    };
    let pending = |name: &str| {
        field(name)
            .and_then(|mask| u64::from_str_radix(mask, 16).ok())
            .is_some_and(|mask| mask & SIGKILL_BIT != 0)
    };
    let effective =
        field("Uid:").and_then(|uids| uids.split_whitespace().nth(1)?.parse::<u32>().ok());
    (pending("ShdPnd:") || pending("SigPnd:"), effective)
}

/// Whether process `pid` holds a pass of a BPF iterator (a descriptor whose link reads
/// `anon_inode:bpf_iter`).
#[cfg(target_os = "linux")]
fn holds_an_iterator(pid: u32) -> bool {
    let dir = format!("/proc/{pid}/fd");
    crate::collect::proc_dir::numbered_entries(&dir).is_ok_and(|fds| {
        fds.iter().any(|fd| {
            crate::collect::proc_dir::read_link(&format!("{dir}/{fd}"))
                .is_ok_and(|text| text == b"anon_inode:bpf_iter")
        })
    })
}

/// The child's side of [`drain`]: receives the descriptors on its standard input (whoport's
/// socket pair) and writes what it reads of each on its standard output. Exit status 0, or 2
/// when no descriptor came.
#[cfg(target_os = "linux")]
fn drain_given() -> u8 {
    use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    use std::io::Write;
    use std::mem::MaybeUninit;
    close_inherited(&[]);
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    let mut any = false;
    loop {
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let mut byte = [0u8; 1];
        let got = recvmsg(
            &stdin,
            &mut [std::io::IoSliceMut::new(&mut byte)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        );
        let mut given = None;
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = message {
                for fd in fds {
                    given.get_or_insert(fd);
                }
            }
        }
        // The end of what whoport sends (or a message without a descriptor, or a failed
        // receive): done.
        let (Ok(_), Some(fd)) = (got, given) else {
            return if any { 0 } else { 2 };
        };
        any = true;
        let mut file = std::fs::File::from(fd);
        let mut chunk = vec![0u8; 64 * 1024];
        // (The kernel's iterators say EAGAIN between batches and go on when read again; a
        // descriptor that says only that is given up.)
        let mut again = 0;
        let errno = loop {
            match file.read(&mut chunk) {
                Ok(0) => break 0,
                Ok(n) => {
                    again = 0;
                    // (n is at most the chunk's 64 KiB.)
                    let len = (n as u32).to_le_bytes();
                    if out
                        .write_all(&len)
                        .and_then(|()| out.write_all(&chunk[..n]))
                        .is_err()
                    {
                        return 0;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) && again < 1_000 => again += 1,
                Err(e) => break e.raw_os_error().unwrap_or(libc::EIO),
            }
        };
        let end = [0u32.to_le_bytes(), errno.to_le_bytes()].concat();
        if out.write_all(&end).and_then(|()| out.flush()).is_err() {
            return 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_goes_and_comes_back_whole() {
        let id = (0x0102_0304_0506_0708, u64::MAX);
        assert_eq!(decode_identity(&encode_identity(id)), Some(Some(id)));
        assert_eq!(decode_identity(&[]), Some(None));
        assert_eq!(decode_identity(&[1, 2, 3]), None);
    }

    #[test]
    fn any_timeout_the_clock_takes_reaches_the_child_whole() {
        // 600,000,000 years: past what milliseconds in 64 bits hold.
        let long = Duration::from_secs(600_000_000 * 365 * 86_400);
        for d in [
            Duration::ZERO,
            Duration::from_millis(2_500),
            long,
            Duration::MAX,
        ] {
            assert_eq!(parse_duration_arg(&duration_arg(d)), Some(d));
        }
        assert_eq!(parse_duration_arg("1.1000000000"), None);
        assert_eq!(parse_duration_arg("10"), None);
    }

    #[test]
    fn only_a_whole_answer_is_taken() {
        let framed = frame(b"Dthe file");
        assert_eq!(unframe(&framed), Some(&b"Dthe file"[..]));
        assert_eq!(unframe(&frame(b"")), Some(&b""[..]));
        // Cut anywhere, or with bytes after it: no answer.
        for cut in 0..framed.len() {
            assert_eq!(unframe(&framed[..cut]), None, "cut at {cut}");
        }
        assert_eq!(unframe(&[framed.as_slice(), b"x"].concat()), None);
    }

    #[test]
    fn user_names_come_back_with_their_uids() {
        let answer = b"0 root\n65534 nobody\nbad line\n7 name with space\n";
        assert_eq!(
            decode_user_names(answer),
            [
                (0, "root".to_string()),
                (65534, "nobody".to_string()),
                (7, "name with space".to_string())
            ]
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_reader_left_waiting_is_told_by_its_stat_and_status() {
        let state =
            |line: &[u8]| crate::collect::proc_dir::parse_stat(line).map(|s| (s.name, s.state));
        assert_eq!(
            state(b"42 (whoport-reader) D 1 42 42 0 -1"),
            Some((b"whoport-reader".to_vec(), Some(b'D')))
        );
        // A name holding ") D (" is the name's.
        assert_eq!(
            state(b"42 (x) D (y) S 1 42"),
            Some((b"x) D (y".to_vec(), Some(b'S')))
        );
        assert_eq!(state(b"42 (exe)"), Some((b"exe".to_vec(), None)));
        let status = |shd: &str, sig: &str, uid: &str| {
            format!(
                "Name:\texe\nState:\tD (disk sleep)\nUid:\t{uid}\nSigPnd:\t{sig}\nShdPnd:\t{shd}\n"
            )
        };
        let killed = "0000000000000100";
        let none = "0000000000000000";
        let root = "0\t0\t0\t0";
        assert_eq!(
            status_facts(status(killed, none, root).as_bytes()),
            (true, Some(0))
        );
        assert_eq!(
            status_facts(status(none, killed, root).as_bytes()),
            (true, Some(0))
        );
        // SIGTERM only: not killed. The effective uid is the second.
        assert_eq!(
            status_facts(status("0000000000004000", none, "0\t1000\t0\t0").as_bytes()),
            (false, Some(1000))
        );
        assert_eq!(status_facts(b"Name:\texe\n"), (false, None));
    }

    /// A child reaped behind the standard library's back (by the kernel, as it is when
    /// whoport's caller leaves SIGCHLD ignored; here by `waitpid`) is never signalled again:
    /// its PID may be another process's by then.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_child_is_killed_by_its_pidfd_never_by_a_pid_it_left() {
        let spawn = || {
            std::process::Command::new("sleep")
                .arg("100")
                .spawn()
                .expect("sleep")
        };
        let mut child = spawn();
        let killer = Killer::of(&child);
        assert!(killer.0.is_some(), "pidfd_open (Linux 5.3)");
        assert!(killer.kill(&mut child));
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        assert_eq!(
            nix::sys::wait::waitpid(pid, None).expect("waitpid"),
            nix::sys::wait::WaitStatus::Signaled(pid, nix::sys::signal::Signal::SIGKILL, false)
        );
        assert!(!killer.kill(&mut child));
        let mut other = spawn();
        let other_killer = Killer::of(&other);
        assert!(!killer.kill(&mut child));
        assert!(
            matches!(other.try_wait(), Ok(None)),
            "the other child lives"
        );
        assert!(other_killer.kill(&mut other));
        let _ = other.wait();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_read_the_child_gave_up_is_never_read_again() {
        for errno in [libc::EAGAIN, libc::EINTR, libc::EIO] {
            let e = read_ended_with(errno);
            assert!(
                !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ),
                "{errno}: {e:?}"
            );
            let cause = std::io::Error::from_raw_os_error(errno).to_string();
            assert!(e.to_string().contains(&cause), "{e}");
        }
    }

    #[test]
    fn paths_on_filesystems_that_answer_are_read_here() {
        assert!(!may_never_answer(Path::new("/etc/services")));
        assert!(!may_never_answer(Path::new("relative/../file")));
        assert!(!may_never_answer(Path::new("/dev/stdin")));
    }
}
