//! A process's executable and whether it is deleted, judged without ever following
//! `/proc/PID/exe` into a filesystem that may not answer (a stopped FUSE daemon, a dead NFS
//! server): the link's text, the device in `/proc/PID/maps` and the mount table decide first.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::OnceLock;

use rustix::fd::AsFd;
use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};

use crate::model::ExeState;

/// What the kernel appends to a path whose file was unlinked.
const DELETED: &[u8] = b" (deleted)";

/// The executable of a process, from the text of `/proc/PID/exe` (sysinfo drops the
/// " (deleted)" suffix), and whether it is still the file at that path. The path is returned
/// as raw bytes, without the suffix when the file really is gone.
///
/// The text alone settles nearly every case: no suffix means the file is still linked. Only a
/// path ending in " (deleted)" needs a closer look (it may be a real name), and that look is
/// taken only when the file lives on a local filesystem, which answers from memory.
pub fn exe(pid: u32) -> (Option<Vec<u8>>, ExeState) {
    exe_in(&format!("/proc/{pid}"))
}

/// [`exe`] of the task whose `/proc` directory is `dir` (`/proc/PID`, or
/// `/proc/PID/task/TID` for a live thread of a process whose main thread exited).
pub fn exe_in(dir: &str) -> (Option<Vec<u8>>, ExeState) {
    let base = format!("{dir}/exe");
    // Never read across a mount: a link mounted over `/proc/PID/exe` is not the process's.
    let link = match super::proc_dir::read_link(&base) {
        Ok(link) => link,
        Err(rustix::io::Errno::NAMETOOLONG) => return (None, too_long(dir)),
        // Something mounted over the link itself: said, never read through.
        Err(rustix::io::Errno::XDEV) => {
            let state = ExeState {
                proc_covered: Some("exe"),
                ..ExeState::default()
            };
            return (None, state);
        }
        Err(_) => return (None, ExeState::default()),
    };
    if link.starts_with(b"/memfd:") {
        let state = ExeState {
            deleted: true,
            replaced: false,
            memory_only: true,
            ..ExeState::default()
        };
        return (Some(link), state);
    }
    let Some(stripped) = link.strip_suffix(DELETED).map(<[u8]>::to_vec) else {
        return (Some(link), ExeState::default());
    };
    // The kernel's mark is all that is read when the path is not looked at. A file
    // literally named "... (deleted)" there is counted as deleted (see docs/reliability.md).
    let view = match view_of(dir, mapped_device(dir, &link), &link) {
        Ok(view) => view,
        Err(unlooked) => return (Some(stripped), unchecked(&unlooked)),
    };
    // A local filesystem: the running file itself (through the magic link, never into a
    // mount made over it) answers from memory.
    let running = match running_file(dir) {
        Ok(running) => running,
        Err(Some(unlooked)) => return (Some(stripped), unchecked(&unlooked)),
        Err(None) => return (Some(link), ExeState::default()),
    };
    let view = match placed(&running, view, &stripped) {
        Ok(view) => view,
        Err(unlooked) => return (Some(stripped), unchecked(&unlooked)),
    };
    let Some(now) = gone_from(&running, &link, &stripped, view.as_ref()) else {
        return (Some(link), ExeState::default());
    };
    let mut state = ExeState {
        deleted: true,
        replaced: now == Ok(true),
        path_lookup_failed: now.err(),
        ..ExeState::default()
    };
    put_there(&mut state, view.as_ref(), &stripped);
    (Some(stripped), state)
}

/// With `replaced`: who owns the file at the path of a deleted executable now, and whether
/// only root could have put it there (see [`standing`]), looked at on a thread of its own for
/// at most [`LOOKUP_WAIT`], as [`gone_from`]'s lookups are (not known, when it did not answer).
fn put_there(state: &mut ExeState, root: Option<&Root>, path: &[u8]) {
    if !state.replaced {
        return;
    }
    let Ok(at) = root.map(|r| rustix::io::dup(&r.fd)).transpose() else {
        return;
    };
    let Some(path) = path.get(root.map_or(0, |r| r.skip)..).map(<[u8]>::to_vec) else {
        return;
    };
    let looked = super::deadline::Deadline::after(LOOKUP_WAIT)
        .run(move || standing(at.as_ref(), &path))
        .flatten();
    if let Some((owner, root_only)) = looked {
        (state.replaced_owner, state.replaced_root_only) = (Some(owner), root_only);
    }
}

/// The owner of the file at `path` now (from `root` when given, else from whoport's own
/// root), and whether only root may have put it there: it and every directory on the way to
/// it, the root included, are root's and writable by no one else (sticky directories
/// excepted: [`crate::input_file::who_else_writes`]). Opened one directory at a time, never
/// through a symbolic link, `..` or a magic link; `None` when a part could not be opened. Its
/// only caller looks at a path [`identity_at`] reached just before, on a way [`view_of`]
/// found answering from memory, and within [`LOOKUP_WAIT`].
fn standing(root: Option<&rustix::fd::OwnedFd>, path: &[u8]) -> Option<(u32, bool)> {
    use crate::input_file::who_else_writes;
    let mut dir = match root {
        Some(fd) => rustix::io::fcntl_dupfd_cloexec(fd, 0).ok()?,
        None => rustix::fs::open(
            "/",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .ok()?,
    };
    let mut root_only = true;
    let mut parts = path.split(|&b| b == b'/').filter(|p| !p.is_empty());
    let mut part = parts.next()?;
    loop {
        let st = rustix::fs::fstat(&dir).ok()?;
        root_only &= who_else_writes(st.st_uid, st.st_mode, true).is_none();
        if part == b".." {
            return None;
        }
        let next = openat2(
            &dir,
            OsStr::from_bytes(part),
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS | ResolveFlags::BENEATH,
        )
        .ok()?;
        match parts.next() {
            Some(after) => (dir, part) = (next, after),
            None => {
                let st = rustix::fs::fstat(&next).ok()?;
                let file = who_else_writes(st.st_uid, st.st_mode, false).is_none();
                return Some((st.st_uid, root_only && file));
            }
        }
    }
}

/// The state of an executable deleted by the kernel's mark alone, whose path was not looked
/// at (`unlooked` says why).
fn unchecked(unlooked: &Unlooked) -> ExeState {
    ExeState {
        deleted: true,
        path_unchecked: true,
        other_mount_ns: *unlooked == Unlooked::OtherMountNs,
        mount_elsewhere: *unlooked == Unlooked::Elsewhere,
        proc_covered: covered(unlooked),
        follow_unsure: match unlooked {
            Unlooked::Unsure(name) => Some(name),
            _ => None,
        },
        ..ExeState::default()
    }
}

/// The running file of the task at `dir`, reached through its `exe` link, never into a
/// mount made over the link (see [`super::proc_dir::follow_link`]), and only when it is on a
/// filesystem that answers from memory (its own device, not only the one its mapping of that
/// name gave: a process can map another file of that very path at a lower address): why not,
/// when that is the cause (`None` for another failure: the task exited).
fn running_file(dir: &str) -> Result<super::proc_dir::Followed, Option<Unlooked>> {
    let running =
        super::proc_dir::follow_link(&format!("{dir}/exe"), super::proc_dir::stat_followed)
            .map_err(|e| {
                matches!(e, rustix::io::Errno::XDEV | rustix::io::Errno::AGAIN)
                    .then(|| unlooked("exe")(e))
            })?;
    if !local_device(running.major, running.minor) {
        return Err(Some(Unlooked::MayWait));
    }
    if running.mnt_id.is_none() {
        return Ok(super::proc_dir::Followed {
            mnt_id: mount_by_fdinfo(dir, &running),
            ..running
        });
    }
    Ok(running)
}

/// The mount of the running file where statx does not say it (before Linux 5.8): from the
/// `mnt_id` of a descriptor of it (`/proc/self/fdinfo`, Linux 3.15+), opened through the link
/// as its status was read (never into a mount made over the link), and only when that
/// descriptor is of the same file, asked without its filesystem being asked anything.
fn mount_by_fdinfo(dir: &str, running: &super::proc_dir::Followed) -> Option<u64> {
    use rustix::fs::{statx, AtFlags, StatxFlags};
    let fd = super::proc_dir::follow_link(&format!("{dir}/exe"), |p| {
        super::proc_dir::open_followed(p, OFlags::PATH | OFlags::CLOEXEC)
    })
    .ok()?;
    let st = statx(
        &fd,
        "",
        AtFlags::EMPTY_PATH | AtFlags::STATX_DONT_SYNC,
        StatxFlags::INO,
    )
    .ok()?;
    let same = st.stx_ino == running.ino
        && (st.stx_dev_major, st.stx_dev_minor) == (running.major, running.minor);
    same.then(|| fdinfo_mount_id(&fd)).flatten()
}

/// The `mnt_id` whoport's `/proc/self/fdinfo` gives for its descriptor `fd`.
fn fdinfo_mount_id(fd: &rustix::fd::OwnedFd) -> Option<u64> {
    use std::os::fd::AsRawFd;
    let (text, _) = super::proc_dir::read_path(&format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))?;
    text.split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(b"mnt_id:"))
        .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse().ok())
}

/// Whether the device is one of whoport's mount table's whose filesystem answers from
/// memory.
pub(super) fn local_device(major: u32, minor: u32) -> bool {
    mounts()
        .iter()
        .any(|m| m.major == major && m.minor == minor && answers_from_memory(&m.fstype))
}

/// Why the path of a deleted executable is not looked at.
#[derive(Debug, PartialEq, Eq)]
enum Unlooked {
    /// Its filesystem, or one the way to it crosses, may not answer (or is not known).
    MayWait,
    /// The process runs in another mount namespace, whose root or mount table could not be
    /// read: what stands at that path there cannot be tied to the process.
    OtherMountNs,
    /// Something is mounted over the task's `ns/mnt` or `root` (named) in `/proc`: not the
    /// task's own.
    Covered(&'static str),
    /// Mounts changed in whoport's mount namespace each time the task's `exe` or `root`
    /// (named) was followed: whether the follow crossed one made over it is not known.
    Unsure(&'static str),
    /// The path leads to another mount than the running file's, in whoport's mount table and
    /// in the task's (or which mount it is on is not known): the file is on a mount of another
    /// namespace (reached through a `/proc/PID/root` there), or one detached from every
    /// namespace, or covered since, and its path names another file.
    Elsewhere,
}

/// Where the path of a deleted executable is looked at, by the mount the running file is on:
/// the kernel writes that path from its mount, in whichever namespace the mount is (a process
/// may run a file of another namespace's mount, reached through a `/proc/PID/root` there, or
/// enter a namespace of its own after it started). In whoport's view when, in whoport's mount
/// table, the path leads to that very mount; else in the task's (`root`) when its table does;
/// else nowhere: the path names another file in both ([`Unlooked::Elsewhere`]).
fn placed(
    running: &super::proc_dir::Followed,
    root: Option<Root>,
    path: &[u8],
) -> Result<Option<Root>, Unlooked> {
    let id = running.mnt_id.ok_or(Unlooked::Elsewhere)?;
    if reached_mount(mounts(), path) == Some(id) {
        // (The task's own table was the one looked at on the way: now whoport's is walked.)
        if root.is_some() && way_may_wait(mounts(), path) {
            return Err(Unlooked::MayWait);
        }
        return Ok(None);
    }
    match root {
        Some(r) if reached_mount(&r.table, path.get(r.skip..).unwrap_or_default()) == Some(id) => {
            Ok(Some(r))
        }
        _ => Err(Unlooked::Elsewhere),
    }
}

/// The id of the mount that `path` leads to in `table`: the one mounted deepest on the way
/// (the last mounted there, of several at one place, being the one on top).
fn reached_mount(table: &[Mount], path: &[u8]) -> Option<u64> {
    let on_the_way = |point: &[u8]| {
        point == b"/"
            || path
                .strip_prefix(point)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"/"))
    };
    table
        .iter()
        .filter(|m| on_the_way(&m.point))
        .fold(None::<&Mount>, |deepest, m| match deepest {
            Some(d) if d.point.len() > m.point.len() => Some(d),
            _ => Some(m),
        })
        .map(|m| m.id)
}

/// The root of a task in another mount namespace, from which the paths of its files are
/// looked at. The kernel gives those paths (and the root's own) from the top of the task's
/// mount namespace, which whoport cannot reach: a task chrooted below that top has the path of
/// its root, `skip` bytes, at the start of theirs.
struct Root {
    fd: rustix::fd::OwnedFd,
    skip: usize,
    /// The task's mount table.
    table: Vec<Mount>,
}

/// Where the path of the deleted executable of the task at `dir`, on `device`, is looked at:
/// `None` for whoport's own mount namespace, which the task shares, else the task's root
/// (`/proc/PID/root`), whichever namespace whoport runs in. The path is only looked at when
/// its filesystem answers from memory and the walk to it, in the task's own mount table,
/// crosses none that may not: looking at a path walks every directory above it, and a tmpfs
/// below a FUSE directory is reached by asking the FUSE daemon first.
fn view_of(dir: &str, device: Option<(u32, u32)>, path: &[u8]) -> Result<Option<Root>, Unlooked> {
    let theirs = if same_mount_ns(dir)? {
        None
    } else {
        let mut text = Vec::new();
        std::io::Read::read_to_end(
            &mut super::proc_dir::open_file(&format!("{dir}/mountinfo"))
                .map_err(|_| Unlooked::OtherMountNs)?,
            &mut text,
        )
        .map_err(|_| Unlooked::OtherMountNs)?;
        // (Read, never across a mount, before the link is followed below.)
        let root = super::proc_dir::read_link(&format!("{dir}/root")).map_err(unlooked("root"))?;
        // A path outside the task's root cannot be tied to what the task sees.
        let skip = match path.strip_prefix(root.as_slice()) {
            _ if root == b"/" => 0,
            Some(rest) if rest.starts_with(b"/") => root.len(),
            _ => return Err(Unlooked::OtherMountNs),
        };
        Some((parse_mountinfo(&String::from_utf8_lossy(&text)), skip))
    };
    let (table, skip) = theirs
        .as_ref()
        .map_or((mounts(), 0), |(table, skip)| (table.as_slice(), *skip));
    let path = &path[skip..];
    let local = device.is_some_and(|(major, minor)| {
        table
            .iter()
            .any(|m| m.major == major && m.minor == minor && answers_from_memory(&m.fstype))
    });
    if !local || way_may_wait(table, path) {
        return Err(Unlooked::MayWait);
    }
    if theirs.is_none() {
        return Ok(None);
    }
    // (The magic link is followed to the task's root without asking its filesystem, and
    // never into a mount made over the link since its text was read.)
    super::proc_dir::follow_link(&format!("{dir}/root"), |p| {
        super::proc_dir::open_followed(p, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC)
    })
    .map(|fd| {
        Some(Root {
            fd,
            skip,
            table: table.to_vec(),
        })
    })
    .map_err(unlooked("root"))
}

/// Whether the task at `dir` runs in whoport's own mount namespace, from the text of the
/// links (`mnt:[INODE]`), never read across a mount.
fn same_mount_ns(dir: &str) -> Result<bool, Unlooked> {
    let ours = own_mount_ns().as_ref().ok_or(Unlooked::OtherMountNs)?;
    Ok(super::proc_dir::read_link(&format!("{dir}/ns/mnt")).map_err(unlooked("ns/mnt"))? == *ours)
}

/// The text of whoport's own `ns/mnt` link, read once a run (never across a mount).
fn own_mount_ns() -> &'static Option<Vec<u8>> {
    static OURS: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    OURS.get_or_init(|| super::proc_dir::read_link("/proc/self/ns/mnt").ok())
}

/// The text of whoport's own `ns/user` link, read once a run (never across a mount).
fn own_user_ns() -> &'static Option<Vec<u8>> {
    static OURS: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    OURS.get_or_init(|| super::proc_dir::read_link("/proc/self/ns/user").ok())
}

/// Whether the namespace whose link would read `{kind}:[inum]` is whoport's own (`kind`:
/// "mnt" or "user"); `None` when whoport's own could not be read.
pub(super) fn is_own_ns(kind: &str, inum: u32) -> Option<bool> {
    let ours = match kind {
        "mnt" => own_mount_ns(),
        _ => own_user_ns(),
    };
    Some(ours.as_deref()? == format!("{kind}:[{inum}]").as_bytes())
}

/// Reads now what is read once a run for the first executable looked at: whoport's own
/// namespaces and mount table.
pub(super) fn read_own() {
    own_mount_ns();
    own_user_ns();
    mounts();
}

/// [`same_mount_ns`], `None` when not known.
pub(super) fn in_same_mount_ns(dir: &str) -> Option<bool> {
    same_mount_ns(dir).ok()
}

/// Whether the task whose `/proc` directory is `dir` runs in whoport's own user namespace
/// (both links read, never across a mount); `None` when not known. In a user namespace of its
/// own a process holds capabilities over that namespace only, and may set its own executable
/// link (`PR_SET_MM_EXE_FILE`, `PR_SET_MM_MAP`) to any file it can open.
pub(super) fn in_same_user_ns(dir: &str) -> Option<bool> {
    let ours = own_user_ns().as_ref()?;
    Some(super::proc_dir::read_link(&format!("{dir}/ns/user")).ok()? == *ours)
}

/// Why the link `name` of a task could not be read or followed: `EXDEV` when something is
/// mounted over it, `EAGAIN` when mounts changed during every follow.
fn unlooked(name: &'static str) -> impl Fn(rustix::io::Errno) -> Unlooked {
    move |e| match e {
        rustix::io::Errno::XDEV => Unlooked::Covered(name),
        rustix::io::Errno::AGAIN => Unlooked::Unsure(name),
        _ => Unlooked::OtherMountNs,
    }
}

/// The link something is mounted over, when that is why a path was not looked at.
fn covered(unlooked: &Unlooked) -> Option<&'static str> {
    match unlooked {
        Unlooked::Covered(name) => Some(name),
        _ => None,
    }
}

/// Whether the `running` file is gone from its path, told from the path the kernel gives it
/// (`marked`, " (deleted)" at its end) and what stands at that path without the mark
/// (`path`), both looked at: `None` when it is not gone, else whether a different file stands
/// at its path (replaced), both resolved from `root` when given (the process's own). The
/// kernel marks the path once that name is unlinked, even when another hard link keeps the
/// file alive: gone, unless a file literally named so stands at that very path and is the
/// running file. What stands at its path is `Err(errno)` when the lookup failed for another
/// reason than that nothing is there (`ENOENT`, or `ENOTDIR`: a file where a directory of the
/// way was): not known then.
fn gone_from(
    running: &super::proc_dir::Followed,
    marked: &[u8],
    path: &[u8],
    root: Option<&Root>,
) -> Option<Result<bool, i32>> {
    let same = |(dev, ino): (u64, u64)| ino == running.ino && dev == running.dev();
    let (at, skip) = root.map_or((None, 0), |r| (Some(&r.fd), r.skip));
    let [literal, now] = match identities_within(at, [marked.get(skip..)?, path.get(skip..)?]) {
        Ok(both) => both,
        Err(e) => return Some(Err(e.raw_os_error())),
    };
    if running.nlink != 0 && literal.is_ok_and(same) {
        return None;
    }
    Some(match now {
        Ok(id) => Ok(!same(id)),
        Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR) => Ok(false),
        Err(e) => Err(e.raw_os_error()),
    })
}

/// The state of an executable whose path is longer than the link gives (PATH_MAX): the link
/// stays unread, but whether the file is gone is still established. The mapping that holds the
/// start of the process's code (`start_code` in `/proc/PID/stat`) gives the path, with the
/// kernel's " (deleted)" mark; on a filesystem that answers from memory, and a way to it that
/// crosses none that may not, what stands at that path is looked at as for a shorter path. A
/// path with a backslash is not looked at: the mapping shows a newline as `\012`, as it shows
/// a name that holds those characters.
fn too_long(dir: &str) -> ExeState {
    let mut state = ExeState {
        path_too_long: true,
        ..ExeState::default()
    };
    let Some(code) =
        super::proc_dir::read_path(&format!("{dir}/stat")).and_then(|(stat, _)| start_code(&stat))
    else {
        return state;
    };
    let Some((name, (major, minor), inode)) = mapping_at(dir, code) else {
        return state;
    };
    let Some(path) = name.strip_suffix(DELETED) else {
        return state;
    };
    let view = if name.contains(&b'\\') {
        Err(Unlooked::MayWait)
    } else {
        view_of(dir, Some((major, minor)), path)
    };
    // (The running file itself is asked only on a filesystem that answers from memory.)
    let view = view.and_then(|view| match running_file(dir) {
        Ok(st) => placed(&st, view, path).map(|view| (view, st)),
        Err(unlooked) => Err(unlooked.unwrap_or(Unlooked::MayWait)),
    });
    let Some((view, running)) = view
        .as_ref()
        .ok()
        .filter(|(_, st)| st.ino == inode)
        .map(|(view, st)| (view.as_ref(), st))
    else {
        let unlooked = view.err().unwrap_or(Unlooked::MayWait);
        return ExeState {
            path_too_long: true,
            ..unchecked(&unlooked)
        };
    };
    let gone = gone_from(running, &name, path, view);
    (state.deleted, state.replaced) = (gone.is_some(), gone == Some(Ok(true)));
    state.path_lookup_failed = gone.and_then(Result::err);
    put_there(&mut state, view, path);
    state
}

/// `start_code`, the 26th field of `/proc/PID/stat` (0 when the reader may not see it).
pub fn start_code(stat: &[u8]) -> Option<u64> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let field = stat[close + 1..]
        .split(u8::is_ascii_whitespace)
        .filter(|f| !f.is_empty())
        .nth(23)?;
    let code: u64 = std::str::from_utf8(field).ok()?.parse().ok()?;
    (code != 0).then_some(code)
}

/// The name, device and inode of the file mapped at `addr` in `/proc/PID/maps`.
fn mapping_at(dir: &str, addr: u64) -> Option<(Vec<u8>, (u32, u32), u64)> {
    first_mapping(dir, |line| {
        maps_entry(line)
            .filter(|e| e.range.contains(&addr))
            .map(|e| (e.name.to_vec(), e.device, e.inode))
    })
}

/// The first answer `find` gives for a line of `/proc/PID/maps`, read one line at a time: the
/// kernel writes out only the mappings each read asks for, and the answer is most often in the
/// first line (the executable is mapped first). The first read asks for [`FIRST_MAPS_READ`]
/// bytes (a line or two: half the kernel's work of a read of 1 KiB, measured), the next ones
/// for [`MAPS_READ`] each.
pub(super) fn first_mapping<T>(dir: &str, find: impl Fn(&[u8]) -> Option<T>) -> Option<T> {
    use std::io::{BufRead, Read};
    // (Never a file mounted over it.)
    let file = super::proc_dir::open_file(&format!("{dir}/maps")).ok()?;
    let mut line = Vec::new();
    let mut first = std::io::BufReader::with_capacity(FIRST_MAPS_READ, file);
    if first.read_until(b'\n', &mut line).ok()? == 0 {
        return None;
    }
    if let Some(found) = find(&line) {
        return Some(found);
    }
    // What the first read gave past its first line, then the rest of the file.
    let read_ahead = std::io::Cursor::new(first.buffer().to_vec());
    let rest = read_ahead.chain(first.into_inner());
    let mut reader = std::io::BufReader::with_capacity(MAPS_READ, rest);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).ok()? == 0 {
            return None;
        }
        if let Some(found) = find(&line) {
            return Some(found);
        }
    }
}

/// What the first read of `/proc/PID/maps` asks for, and each one after it.
const FIRST_MAPS_READ: usize = 256;
const MAPS_READ: usize = 1024;

/// One line of `/proc/PID/maps`.
pub struct MapsEntry<'a> {
    pub range: std::ops::Range<u64>,
    pub device: (u32, u32),
    pub inode: u64,
    pub name: &'a [u8],
}

/// `start-end perms offset MAJ:MIN inode      path`, split into its fields.
pub fn maps_entry(line: &[u8]) -> Option<MapsEntry<'_>> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let mut rest = line;
    let mut fields = [&b""[..]; 5];
    for field in &mut fields {
        let start = rest.iter().position(|&b| b != b' ')?;
        rest = &rest[start..];
        let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        *field = &rest[..end];
        rest = &rest[end..];
    }
    let name = &rest[rest.iter().position(|&b| b != b' ')?..];
    let (start, end) = hex_pair(fields[0], '-')?;
    let (major, minor) = hex_pair(fields[3], ':')?;
    Some(MapsEntry {
        range: start..end,
        device: (u32::try_from(major).ok()?, u32::try_from(minor).ok()?),
        inode: std::str::from_utf8(fields[4]).ok()?.parse().ok()?,
        name,
    })
}

/// `a<sep>b`, both hexadecimal.
fn hex_pair(field: &[u8], sep: char) -> Option<(u64, u64)> {
    let (a, b) = std::str::from_utf8(field).ok()?.split_once(sep)?;
    Some((
        u64::from_str_radix(a, 16).ok()?,
        u64::from_str_radix(b, 16).ok()?,
    ))
}

/// How long the two lookups of [`gone_from`] may take together.
pub const LOOKUP_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// [`identity_at`] of both `paths`, on a thread of its own for at most [`LOOKUP_WAIT`]:
/// `ETIMEDOUT` when it did not answer by then (a filesystem mounted on the way after the mount
/// table was read, that does not answer: the thread is left behind, never waited for), or
/// `EMFILE` when `root` could not be duplicated for it.
fn identities_within(
    root: Option<&rustix::fd::OwnedFd>,
    paths: [&[u8]; 2],
) -> Result<[Lookup; 2], rustix::io::Errno> {
    let root = root
        .map(rustix::io::dup)
        .transpose()
        .map_err(|_| rustix::io::Errno::MFILE)?;
    let paths = paths.map(<[u8]>::to_vec);
    super::deadline::Deadline::after(LOOKUP_WAIT)
        .run(move || paths.map(|p| identity_at(root.as_ref(), &p)))
        .ok_or(rustix::io::Errno::TIMEDOUT)
}

/// What [`identity_at`] answers.
type Lookup = Result<(u64, u64), rustix::io::Errno>;

/// Device and inode of whatever stands at `path` now (from `root` when given, else from
/// whoport's own root), looked up without following any
/// symbolic link (a link planted there could lead into a filesystem that does not answer).
/// A path longer than PATH_MAX is opened in parts, each from the directory the one before
/// reached (one that cannot be cut so: `ENAMETOOLONG`). Why it could not be looked up, else.
///
/// It has no time bound of its own: it is called only by [`gone_from`], for both of the paths
/// of a deleted executable (with and without the kernel's mark), and [`gone_from`] only after
/// [`view_of`] found the executable on a filesystem that answers from memory and neither path's
/// way, in the mount table of the namespace it is looked at in, crossing one that may not
/// ([`way_may_wait`]): from [`exe_in`] and from [`too_long`], its only callers. A mount made
/// after that table was read (whoport's own is read once a run) is not known to it: the two
/// lookups are given up after [`LOOKUP_WAIT`] ([`identities_within`]).
fn identity_at(
    root: Option<&rustix::fd::OwnedFd>,
    path: &[u8],
) -> Result<(u64, u64), rustix::io::Errno> {
    /// The longest part opened at once, well below PATH_MAX (4096).
    const PART: usize = 2048;
    let mut at: Option<rustix::fd::OwnedFd> = None;
    let mut rest = path;
    loop {
        let (part, after) = if rest.len() <= PART {
            (rest, None)
        } else {
            let cut = rest[..PART]
                .iter()
                .rposition(|&b| b == b'/')
                .filter(|&i| i > 0)
                .ok_or(rustix::io::Errno::NAMETOOLONG)?;
            // (Never an absolute part after the first, which would be opened from `/`.)
            let after = rest[cut..]
                .strip_prefix(b"/")
                .filter(|a| !a.starts_with(b"/"))
                .ok_or(rustix::io::Errno::NAMETOOLONG)?;
            (&rest[..cut], Some(after))
        };
        // The first part from the process's root when given, as if it were `/`.
        let (from, in_root) = match (&at, root) {
            (Some(dir), _) => (dir.as_fd(), ResolveFlags::empty()),
            (None, Some(root)) => (root.as_fd(), ResolveFlags::IN_ROOT),
            (None, None) => (rustix::fs::CWD, ResolveFlags::empty()),
        };
        let fd = openat2(
            from,
            OsStr::from_bytes(part),
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS | in_root,
        )?;
        match after {
            Some(after) => (at, rest) = (Some(fd), after),
            None => {
                let st = rustix::fs::fstat(&fd)?;
                return Ok((st.st_dev, st.st_ino));
            }
        }
    }
}

/// The device (major, minor) of the mapping of `path` in `/proc/PID/maps`: the executable's
/// own mapping carries the same text as the link, " (deleted)" included.
pub(super) fn mapped_device(dir: &str, path: &[u8]) -> Option<(u32, u32)> {
    first_mapping(dir, |line| maps_device(line, path))
}

/// `start-end perms offset MAJ:MIN inode      path` -> (MAJ, MIN) when the path is `path`.
pub fn maps_device(line: &[u8], path: &[u8]) -> Option<(u32, u32)> {
    maps_entry(line)
        .filter(|e| e.name == path)
        .map(|e| e.device)
}

/// One line of `/proc/self/mountinfo`: the device, where it is mounted (unescaped) and the
/// filesystem type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The mount's id (mountinfo's first field; `mnt_id` in `/proc/PID/fdinfo/N`).
    pub id: u64,
    pub major: u32,
    pub minor: u32,
    pub point: Vec<u8>,
    pub fstype: String,
}

/// Whether either path [`gone_from`] looks at for the deleted executable at `path` (with or
/// without the kernel's " (deleted)" mark: the same directory, but a mount at one is not on
/// the way to the other) crosses a mount that may not answer (see [`walk_may_wait`]).
fn way_may_wait(mounts: &[Mount], path: &[u8]) -> bool {
    let unmarked = path.strip_suffix(DELETED).unwrap_or(path);
    walk_may_wait(mounts, unmarked) || walk_may_wait(mounts, &[unmarked, DELETED].concat())
}

/// Whether walking `path` (as whoport would, in its own mount namespace) crosses a mount that
/// may not answer: one mounted at `path` or at any directory above it whose filesystem does
/// not answer from memory. An empty table (mountinfo unreadable) proves nothing: it may wait.
pub fn walk_may_wait(mounts: &[Mount], path: &[u8]) -> bool {
    let crossed = |point: &[u8]| {
        point == b"/"
            || path
                .strip_prefix(point)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"/"))
    };
    mounts.is_empty()
        || mounts
            .iter()
            .any(|m| crossed(&m.point) && !answers_from_memory(&m.fstype))
}

/// A mountinfo path field: `\040` (space), `\011`, `\012` and `\134` stand for their byte.
fn unescape(field: &str) -> Vec<u8> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal.and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok()) {
            Some(b) => {
                out.push(b);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

/// whoport's own mount table, read once a run.
pub(crate) fn mounts() -> &'static [Mount] {
    static MOUNTS: OnceLock<Vec<Mount>> = OnceLock::new();
    MOUNTS.get_or_init(|| {
        super::proc_dir::read_whole("/proc/self/mountinfo")
            .map(|text| parse_mountinfo(&String::from_utf8_lossy(&text)))
            .unwrap_or_default()
    })
}

/// A mount of whoport's mount table on `/proc/PID` or anything below it (where it is mounted).
/// Asked for every owner: only the mounts below `/proc/`, found once a run, are looked at (a
/// host of containers has thousands of mounts, and usually none there).
pub(crate) fn mounted_below_proc(pid: u32) -> Option<&'static [u8]> {
    static BELOW_PROC: OnceLock<Vec<&'static [u8]>> = OnceLock::new();
    let points = BELOW_PROC.get_or_init(|| {
        mounts()
            .iter()
            .map(|m| m.point.as_slice())
            .filter(|point| point.starts_with(b"/proc/"))
            .collect()
    });
    if points.is_empty() {
        return None;
    }
    let dir = format!("/proc/{pid}");
    points.iter().copied().find(|point| {
        point
            .strip_prefix(dir.as_bytes())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(b"/"))
    })
}

/// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw` -> (98, 0, "ext3").
pub fn parse_mountinfo(text: &str) -> Vec<Mount> {
    let mut layers = Vec::new();
    let mut table: Vec<Mount> = text
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let id = left.split_whitespace().next()?.parse().ok()?;
            let mut fields = left.split_whitespace().skip(2);
            let (major, minor) = fields.next()?.split_once(':')?;
            let point = unescape(fields.nth(1)?);
            let mut right = right.split_whitespace();
            let fstype = right.next()?.to_string();
            let mount = Mount {
                id,
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                point,
                fstype,
            };
            layers.push(if mount.fstype == "overlay" {
                overlay_layers(right.nth(1).unwrap_or(""))
            } else {
                Vec::new()
            });
            Some(mount)
        })
        .collect();
    // An overlay answers from memory only as its layers do: one whose lower layer is on a
    // FUSE filesystem (a lazily pulled container image) asks that daemon for what it looks
    // up. Its layers are judged in the same table (an overlay over an overlay, until nothing
    // changes); a layer that is not an absolute path cannot be placed, and may wait.
    // Each layer is placed among the mounts that may not answer only, a few on most
    // machines: a node with hundreds of containers has hundreds of overlays of many layers
    // each, and as many other mounts.
    for _ in 0..table.len() {
        let waiting: Vec<Mount> = table
            .iter()
            .filter(|m| !answers_from_memory(&m.fstype))
            .cloned()
            .collect();
        let may_wait = |layer: &[u8]| {
            !layer.starts_with(b"/") || (!waiting.is_empty() && walk_may_wait(&waiting, layer))
        };
        let waits: Vec<usize> = (0..table.len())
            .filter(|&i| answers_from_memory(&table[i].fstype))
            .filter(|&i| layers[i].iter().any(|l| may_wait(l)))
            .collect();
        if waits.is_empty() {
            break;
        }
        for i in waits {
            table[i].fstype = OVERLAY_MAY_WAIT.to_string();
        }
    }
    table
}

/// The type given to an overlay with a layer on a filesystem that may not answer.
const OVERLAY_MAY_WAIT: &str = "overlay (a layer may not answer)";

/// The layers of an overlay, from its super options: `lowerdir=A:B` (a colon in a name is
/// written `\:`), `upperdir=`, `workdir=`, and the `lowerdir+=`/`datadir+=` of newer kernels.
fn overlay_layers(options: &str) -> Vec<Vec<u8>> {
    let mut layers = Vec::new();
    for option in options.split(',') {
        let Some((key, value)) = option.split_once('=') else {
            continue;
        };
        match key {
            "lowerdir" => {
                let mut part = Vec::new();
                let bytes = unescape(value);
                let mut i = 0;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' if i + 1 < bytes.len() => {
                            part.push(bytes[i + 1]);
                            i += 1;
                        }
                        b':' => {
                            if !part.is_empty() {
                                layers.push(std::mem::take(&mut part));
                            }
                        }
                        b => part.push(b),
                    }
                    i += 1;
                }
                if !part.is_empty() {
                    layers.push(part);
                }
            }
            "upperdir" | "workdir" | "lowerdir+" | "datadir+" => layers.push(unescape(value)),
            _ => {}
        }
    }
    layers
}

/// Filesystems whose attributes live in memory: a stat there cannot wait for a daemon or a
/// server. Everything else (fuse.*, nfs, cifs, 9p, ceph, ...) is never looked into.
pub fn answers_from_memory(fstype: &str) -> bool {
    matches!(
        fstype,
        "ext2"
            | "ext3"
            | "ext4"
            | "xfs"
            | "btrfs"
            | "f2fs"
            | "jfs"
            | "reiserfs"
            | "bcachefs"
            | "zfs"
            | "tmpfs"
            | "ramfs"
            | "devtmpfs"
            | "hugetlbfs"
            | "squashfs"
            | "erofs"
            | "iso9660"
            | "vfat"
            | "msdos"
            | "exfat"
            | "ntfs3"
            | "overlay"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mount a path leads to: the deepest mounted on the way, the one on top of several
    /// at one place; a name that only begins like a mount point is not below it.
    #[test]
    fn a_path_leads_to_the_deepest_mount_on_its_way() {
        let table = parse_mountinfo(
            "21 1 8:1 / / rw - ext4 /dev/sda1 rw\n\
             22 21 8:2 / /usr rw - ext4 /dev/sda2 rw\n\
             23 22 0:40 / /usr/local/sbin rw - tmpfs tmpfs rw\n\
             24 23 0:41 / /usr/local/sbin rw - tmpfs tmpfs rw\n\
             25 21 0:42 /f /srv/one\\040file rw - tmpfs tmpfs rw\n",
        );
        assert_eq!(reached_mount(&table, b"/usr/sbin/nginx"), Some(22));
        assert_eq!(reached_mount(&table, b"/usr/local/sbin/nginx"), Some(24));
        assert_eq!(reached_mount(&table, b"/usrx/nginx"), Some(21));
        assert_eq!(reached_mount(&table, b"/srv/one file"), Some(25));
        assert_eq!(reached_mount(&[], b"/usr"), None);
    }

    /// Every line of a process's memory map is found by its text, the first (read with the
    /// small first read) and those past it (read after what that read gave beyond its first
    /// line): a real process that does not change its map while it is read (`sleep`).
    #[test]
    fn every_line_of_a_memory_map_is_found() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep runs");
        let dir = format!("/proc/{}", child.id());
        // Its map once exec has made it: the same text twice running.
        let mut map = String::new();
        for _ in 0..200 {
            let now = std::fs::read_to_string(format!("{dir}/maps")).unwrap_or_default();
            if !now.is_empty() && now == map && now.contains("sleep") {
                break;
            }
            map = now;
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let lines: Vec<&str> = map.split_inclusive('\n').collect();
        assert!(lines.len() > 3 && lines[0].len() < FIRST_MAPS_READ, "{map}");
        assert!(map.len() > FIRST_MAPS_READ + MAPS_READ, "{map}");
        for (at, line) in lines.iter().enumerate() {
            let found = first_mapping(&dir, |l| (l == line.as_bytes()).then_some(at));
            assert_eq!(found, Some(at), "{line}");
        }
        assert_eq!(first_mapping(&dir, |_| None::<()>), None);
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Where statx does not say the mount of the running file, `/proc/self/fdinfo` does: the
    /// same mount as statx's, for whoport's own executable.
    #[test]
    fn the_running_files_mount_from_fdinfo_is_statxs() {
        let dir = format!("/proc/{}", std::process::id());
        let running = super::super::proc_dir::follow_link(
            &format!("{dir}/exe"),
            super::super::proc_dir::stat_followed,
        )
        .expect("our own executable");
        let by_statx = running.mnt_id.expect("statx says the mount (Linux 5.8+)");
        assert_eq!(mount_by_fdinfo(&dir, &running), Some(by_statx));
        // Not for another file.
        let other = super::super::proc_dir::Followed {
            ino: running.ino ^ 1,
            ..running
        };
        assert_eq!(mount_by_fdinfo(&dir, &other), None);
    }

    /// A FUSE filesystem whose daemon is stopped, mounted at a deleted executable's path
    /// after the mount table was read (`stalled_fuse.py --exe-covered`, in a private mount
    /// namespace reached through its root): the lookups are given up after [`LOOKUP_WAIT`].
    /// Before, they waited on the daemon for as long as it was stopped.
    #[test]
    fn a_lookup_that_does_not_answer_is_given_up() {
        use std::io::BufRead;
        use std::process::{Command, Stdio};
        let fusepy = Command::new("/usr/bin/python3")
            .args(["-c", "import fusepy"])
            .status()
            .is_ok_and(|s| s.success());
        if !rustix::process::geteuid().is_root() || !fusepy {
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let (backing, mnt) = (dir.path().join("backing"), dir.path().join("mnt"));
        std::fs::create_dir(&backing).expect("mkdir");
        std::fs::create_dir(&mnt).expect("mkdir");
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut fixture = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "/usr/bin/python3"])
            .arg(fixtures.join("stalled_fuse.py"))
            .arg("--exe-covered")
            .args([&backing, &mnt, &fixtures.join("listen.py")])
            .arg("tcp4")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare starts");
        let mut line = String::new();
        let out = fixture.stdout.take().expect("stdout");
        std::io::BufReader::new(out)
            .read_line(&mut line)
            .expect("ready");
        let daemon: i32 = line
            .split_once("\"daemon\": ")
            .and_then(|(_, rest)| rest.split(',').next()?.trim().parse().ok())
            .unwrap_or_else(|| panic!("fixture said {line:?}"));
        let daemon = rustix::process::Pid::from_raw(daemon).expect("pid");
        rustix::process::kill_process(daemon, rustix::process::Signal::STOP).expect("stop");
        // Every thread of the daemon stopped (one still running may answer).
        let stopped = || {
            std::fs::read_dir(format!("/proc/{}/task", daemon.as_raw_nonzero()))
                .expect("its threads")
                .filter_map(Result::ok)
                .all(|t| {
                    let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
                    stat.rsplit_once(") ")
                        .is_some_and(|(_, r)| r.starts_with('T'))
                })
        };
        for _ in 0..3000 {
            if stopped() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let root = rustix::fs::open(
            format!("/proc/{}/root", fixture.id()),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .expect("its root");
        let path = mnt.join("wph-covered-py");
        let marked = mnt.join("wph-covered-py (deleted)");
        let paths = [marked.as_os_str().as_bytes(), path.as_os_str().as_bytes()];
        let looked = identities_within(Some(&root), paths);
        rustix::process::kill_process(daemon, rustix::process::Signal::CONT).expect("continue");
        drop(fixture.stdin.take());
        let _ = fixture.wait();
        assert_eq!(
            looked.as_ref().err(),
            Some(&rustix::io::Errno::TIMEDOUT),
            "{looked:?}"
        );
    }

    #[test]
    fn maps_lines() {
        let line = b"55840ec7f000-55840ec81000 r--p 00000000 fe:00 10010846                   /tmp/x (deleted)\n";
        assert_eq!(maps_device(line, b"/tmp/x (deleted)"), Some((254, 0)));
        assert_eq!(maps_device(line, b"/tmp/x"), None, "the whole name");
        let spaced = b"7f00-7f01 r-xp 00000000 00:3a 7 /mnt/a  b (deleted)";
        assert_eq!(maps_device(spaced, b"/mnt/a  b (deleted)"), Some((0, 0x3a)));
        assert_eq!(maps_device(b"7f00-7f01 rw-p 00000000 00:00 0 ", b""), None);
        assert_eq!(maps_device(b"garbage", b"garbage"), None);
    }

    #[test]
    fn the_mapping_of_the_code_and_its_start() {
        let stat = b"42 (a) b) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 99 1 2 3 \
                     94000 94100 5 6 7";
        assert_eq!(start_code(stat), Some(94000), "after the last parenthesis");
        assert_eq!(
            start_code(b"1 (k) S 0 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 9 0 0 0 0 0"),
            None
        );
        let line = b"5570eb08e000-5570eb08f000 r--p 00000000 fe:00 10019633   /d/x (deleted)\n";
        let e = maps_entry(line).expect("parsed");
        assert!(e.range.contains(&0x5570_eb08_e000) && !e.range.contains(&0x5570_eb08_f000));
        assert_eq!(
            (e.device, e.inode, e.name),
            ((254, 0), 10_019_633, &b"/d/x (deleted)"[..])
        );
    }

    #[test]
    fn mount_table() {
        let text = "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n\
                    90 27 0:52 / /mnt/f rw,nosuid,nodev shared:5 - fuse.sshfs host: rw\n\
                    broken line\n";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 2);
        assert_eq!(
            (m[0].major, m[0].minor, m[0].fstype.as_str()),
            (254, 0, "ext4")
        );
        assert_eq!(
            (m[1].major, m[1].minor, m[1].fstype.as_str()),
            (0, 52, "fuse.sshfs")
        );
        assert_eq!(m[1].point, b"/mnt/f");
        assert!(answers_from_memory("ext4") && answers_from_memory("tmpfs"));
        for remote in ["fuse", "fuse.sshfs", "nfs", "nfs4", "cifs", "9p", "ceph"] {
            assert!(!answers_from_memory(remote), "{remote}");
        }
    }

    #[test]
    fn an_overlay_with_a_layer_on_a_filesystem_that_may_not_answer_may_wait() {
        let text = "27 1 254:0 / / rw - ext4 /dev/vda rw\n\
                    90 27 0:52 / /mnt/lazy rw - fuse.stargz stargz rw\n\
                    91 27 0:53 / /usr/local/bin ro - overlay ov ro,lowerdir=/mnt/lazy/l:/var/e\n\
                    92 27 0:54 / /srv/c rw - overlay ov rw,lowerdir=/var/l1:/var/l2,upperdir=/var/u,workdir=/var/w\n\
                    93 27 0:55 / /srv/d rw - overlay ov rw,lowerdir=/var/l,upperdir=/mnt/lazy/u,workdir=/mnt/lazy/w\n\
                    94 27 0:56 / /srv/e ro - overlay ov ro,lowerdir=/usr/local/bin:/var/x\n\
                    95 27 0:57 / /srv/f ro - overlay ov ro,lowerdir=/var/a\\:b:/var/c\n";
        let m = parse_mountinfo(text);
        assert!(
            walk_may_wait(&m, b"/usr/local/bin/sh"),
            "a FUSE lower layer"
        );
        assert!(!walk_may_wait(&m, b"/srv/c/x"), "layers on ext4");
        assert!(walk_may_wait(&m, b"/srv/d/x"), "a FUSE upper layer");
        assert!(walk_may_wait(&m, b"/srv/e/x"), "over an overlay over FUSE");
        assert!(!walk_may_wait(&m, b"/srv/f/x"), "an escaped colon");
        assert_eq!(
            overlay_layers("ro,lowerdir=/var/a\\:b:/var/c"),
            [&b"/var/a:b"[..], b"/var/c"]
        );
    }

    #[test]
    fn a_path_below_a_mount_that_may_not_answer_is_never_walked() {
        let text = "27 1 254:0 / / rw - ext4 /dev/vda rw\n\
                    90 27 0:52 / /mnt/f rw shared:5 - fuse.sshfs host: rw\n\
                    91 90 0:53 / /mnt/f/sub rw shared:6 - tmpfs tmpfs rw\n\
                    92 27 0:54 / /mnt/a\\040b rw shared:7 - tmpfs tmpfs rw\n\
                    93 27 0:55 / /srv/file rw shared:8 - nfs4 host:/f rw\n";
        let m = parse_mountinfo(text);
        assert_eq!(m[3].point, b"/mnt/a b", "unescaped");
        assert!(
            walk_may_wait(&m, b"/mnt/f/sub/h (deleted)"),
            "tmpfs below FUSE"
        );
        assert!(walk_may_wait(&m, b"/mnt/f/x"));
        assert!(walk_may_wait(&m, b"/srv/file"), "a file mounted over");
        assert!(
            !walk_may_wait(&m, b"/mnt/fx/h"),
            "a sibling whose name starts alike"
        );
        assert!(!walk_may_wait(&m, b"/mnt/a b/h (deleted)"));
        assert!(!walk_may_wait(&m, b"/usr/bin/h"));
        assert!(walk_may_wait(&[], b"/usr/bin/h"), "no table: it may wait");
        // A mount at the path without the kernel's mark, or with it: both are looked at.
        assert!(!walk_may_wait(&m, b"/srv/file (deleted)"));
        assert!(way_may_wait(&m, b"/srv/file (deleted)"), "marked");
        assert!(way_may_wait(&m, b"/srv/file"), "unmarked");
        let marked = parse_mountinfo("93 27 0:55 / /srv/f\\040(deleted) rw - fuse f rw\n");
        assert!(!walk_may_wait(&marked, b"/srv/f"));
        assert!(way_may_wait(&marked, b"/srv/f"));
        assert!(!way_may_wait(&m, b"/mnt/a b/h (deleted)"));
    }

    #[test]
    fn our_own_executable_is_not_deleted() {
        let (path, state) = exe(std::process::id());
        assert!(path.is_some_and(|p| !p.ends_with(DELETED)));
        assert_eq!(state, ExeState::default());
    }
}
