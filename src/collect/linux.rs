//! Linux-only collection: the socket inode -> PID walk over `/proc/*/fd`, and the per-process
//! facts sysinfo does not give (systemd unit or container from the cgroup).

use crate::hash::{HashMap, HashSet};
use std::ffi::CStr;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rustix::fs::{openat, readlinkat_raw, statat, AtFlags, Dir, Mode, OFlags};
use rustix::io::Errno;

use super::activity::{self, Activity};
use super::deadline::Deadline;
use crate::model::Container;

/// A TCP listener a process holds, as the in-kernel lookup read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldListener {
    pub inode: u32,
    pub port: u16,
    pub ipv6: bool,
}

/// Which processes hold which socket inodes, and what could not be looked at.
#[derive(Debug, Default)]
pub struct InodeOwners {
    /// inode -> PIDs holding a descriptor for it (sorted, no duplicates).
    pub pids: HashMap<u32, Vec<u32>>,
    /// Processes whose descriptors could not be read (permission).
    pub unreadable: usize,
    /// Some of their PIDs, to name them: the lowest [`NAMED_UNREADABLE`], and every one in
    /// `covered` (see [`InodeOwners::keep_named`]).
    pub unreadable_pids: Vec<u32>,
    /// Every one of their PIDs, not only those named: a process asked for by `--pid` may be
    /// any of them (whether it holds a socket is then not known). At most one per process.
    pub all_unread: Vec<u32>,
    /// Those of them whose `/proc/PID` (or its fd directory) has a directory mounted over it
    /// (a way to hide a process): never cut from the PIDs named, whatever their number.
    pub covered: Vec<u32>,
    /// Processes that exited during the walk.
    pub vanished: usize,
    /// Processes walked.
    pub walked: usize,
    /// Processes not read, or not to the end, because the walk stopped at its deadline
    /// ([`walk_fds_until`]).
    pub late: usize,
    /// The largest of the processes it did not reach, with their number of descriptors (see
    /// [`super::walk_order`]).
    pub late_named: Vec<(u32, u64)>,
    /// Of them, the processes whose descriptors were being read when the time ran out (one
    /// at most per thread of the walk).
    pub late_reading: Vec<u32>,
    /// Processes whose threads' own descriptor tables were not all read (past the bound of
    /// [`super::own_tables`]); counted in `unreadable` too.
    pub cut: super::own_tables::Cut,
    /// Processes in another network namespace than whoport's (their sockets are not listed)
    /// that hold at least one descriptor, and the lowest of their PIDs. Kernel threads hold
    /// none: they are never counted, by the walk or the in-kernel lookup (whose iterator
    /// visits only tasks with descriptors).
    pub other_netns: usize,
    pub other_netns_pid: Option<u32>,
    /// Those processes, each with the inode of the namespace the in-kernel lookup read for it
    /// (empty for the walk).
    pub other_netns_pids: HashMap<u32, u64>,
    /// Processes with descriptors whose `/proc/PID/ns/net` has something mounted over it:
    /// their network namespace was not read, so they are not among `other_netns` (the walk's;
    /// the in-kernel lookup reads every task's namespace in the kernel).
    pub netns_covered: Vec<u32>,
    /// Start time (clock ticks after boot) of each process that holds a socket, read during
    /// the walk: details are attached later only if it still matches (PID reuse).
    pub starts: HashMap<u32, u64>,
    /// What the second look needs from this walk, so that it need not walk everything again.
    pub seen: Seen,
    /// socket inode -> its network namespace's inode, for the sockets whose namespace is not
    /// their holder's: the in-kernel lookup reads it (the walk cannot; empty then).
    pub socket_netns: HashMap<u32, u64>,
    /// The TCP listeners of whoport's network namespace the in-kernel lookup saw held (empty
    /// for the walk), each once: one the socket dump did not return is asked for again by its
    /// port.
    pub listeners: Vec<HeldListener>,
    /// The PIDs of the tasks the in-kernel iterator visited (empty for the walk): a process
    /// it did not visit was not read.
    pub visited: HashSet<u32>,
    /// The PIDs the walk set out to read (as `/proc` listed them): a process not among them
    /// started after the listing.
    pub listed: Vec<u32>,
}

impl InodeOwners {
    /// Keeps, of the PIDs of processes not read, the lowest [`NAMED_UNREADABLE`] and every
    /// covered one (a process hidden under a mount is named as such wherever its PID falls),
    /// sorted.
    pub fn keep_named(&mut self) {
        self.covered.sort_unstable();
        self.covered.dedup();
        self.unreadable_pids.extend(&self.covered);
        self.unreadable_pids.sort_unstable();
        self.unreadable_pids.dedup();
        let (covered, mut others) = (&self.covered, 0);
        self.unreadable_pids.retain(|pid| {
            covered.binary_search(pid).is_ok() || {
                others += 1;
                others <= NAMED_UNREADABLE
            }
        });
    }
}

/// Facts the full walk gathers on its way for the second look.
#[derive(Debug, Default)]
pub struct Seen {
    /// The io_uring instances passed on the way (in main threads' tables): the second look
    /// reads only their registered files, without walking every descriptor again to find them.
    pub rings: Vec<Ring>,
    /// For processes with many descriptors, what the scheduler had counted for their threads
    /// just before their table was read: unchanged later, the table is the same.
    pub activity: HashMap<u32, Activity>,
}

/// What a walk does with processes' activity.
#[derive(Clone, Copy)]
pub enum Since<'a> {
    /// Nothing.
    Ignore,
    /// Records it before reading the table of each process with many descriptors.
    Record,
    /// Skips the processes that have not run since it was recorded.
    Skip(&'a HashMap<u32, Activity>),
}

/// How many PIDs whose descriptors could not be read are kept to be named.
pub const NAMED_UNREADABLE: usize = 8;

/// Walks every `/proc/PID/fd` and records the PIDs holding socket inodes (only the `wanted`
/// ones when given).
///
/// One `readlinkat` per descriptor relative to the open fd directory, a fixed buffer, no
/// allocation per descriptor; the available cores take PIDs from a shared counter.
pub fn walk_fds(wanted: Option<&HashSet<u32>>) -> std::io::Result<InodeOwners> {
    walk_fds_since(wanted, Since::Ignore)
}

/// [`walk_fds`], recording or using what processes did since (see [`Since`]).
pub fn walk_fds_since(wanted: Option<&HashSet<u32>>, since: Since) -> std::io::Result<InodeOwners> {
    walk(wanted, since, None, None)
}

/// [`walk_fds`] over the processes `pids` only (those still there).
pub fn walk_pids(pids: Vec<u32>, wanted: Option<&HashSet<u32>>) -> std::io::Result<InodeOwners> {
    walk(wanted, Since::Ignore, None, Some(pids))
}

/// Opens the directory `path` below `/proc` (`proc_fd`) without crossing a mount: a directory
/// mounted over `/proc/PID` (another process's, or any other, to hide that process) is
/// `EXDEV`. On a kernel without `openat2` (before 5.6), a plain open.
fn open_unmounted(proc_fd: &OwnedFd, path: &str) -> rustix::io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    super::proc_dir::open_below(proc_fd, path, flags)
}

/// Where a directory is mounted over `/proc/PID`, its fd or task directory or a thread's fd
/// directory (see [`open_unmounted`]): `/proc/PID`, `/proc/PID/fd`, `/proc/PID/task` or
/// `/proc/PID/task/TID/fd`.
pub fn covered_proc_entry(pid: u32) -> Option<String> {
    let proc_fd = openat(
        rustix::fs::CWD,
        "/proc",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    let covered = |name: &String| matches!(open_unmounted(&proc_fd, name), Err(Errno::XDEV));
    let tasks = || {
        other_threads(pid)
            .into_iter()
            .map(|tid| format!("{pid}/task/{tid}/fd"))
    };
    [pid.to_string(), format!("{pid}/fd"), format!("{pid}/task")]
        .into_iter()
        .find(covered)
        .or_else(|| tasks().find(covered))
        .map(|name| format!("/proc/{name}"))
}

/// The PIDs `/proc` lists.
pub fn proc_pids() -> std::io::Result<Vec<u32>> {
    let proc_fd = openat(
        rustix::fs::CWD,
        "/proc",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    list_pids(&proc_fd)
}

/// A bound on how many descriptors a walk lists before it gives up, shared by its threads.
/// Open files (`/proc/sys/fs/file-nr`) do not bound a walk's cost: one file can stand behind
/// any number of descriptors (`dup`), and every descriptor costs the walk one `readlinkat`.
/// A walk may also be given a time to stop at, checked at the same steps.
#[derive(Debug)]
pub struct Budget {
    limit: u64,
    listed: AtomicU64,
    spent: AtomicBool,
    stop: Deadline,
}

impl Budget {
    pub fn new(descriptors: u64) -> Budget {
        Budget {
            limit: descriptors,
            listed: AtomicU64::new(0),
            spent: AtomicBool::new(false),
            stop: Deadline::never(),
        }
    }

    /// As many descriptors as there are, until `stop`.
    pub fn until(stop: Deadline) -> Budget {
        Budget {
            stop,
            ..Budget::new(u64::MAX)
        }
    }

    /// Whether the walk listed more descriptors than it was allowed.
    pub fn spent(&self) -> bool {
        self.spent.load(Ordering::Relaxed)
    }

    /// Descriptors listed so far (counted in steps of [`Meter::STEP`] while a walk runs).
    pub fn listed(&self) -> u64 {
        self.listed.load(Ordering::Relaxed)
    }
}

/// One thread's count of the descriptors it lists, added to the shared [`Budget`] in steps.
pub(super) struct Meter<'a> {
    budget: Option<&'a Budget>,
    pending: u64,
    /// The budget was found spent while a process was being read (it was not read to the end).
    stopped: bool,
}

impl Meter<'_> {
    const STEP: u64 = 256;

    /// Counts one descriptor; `false` once the budget is spent (by this thread or another).
    pub(super) fn tick(&mut self) -> bool {
        let Some(budget) = self.budget else {
            return true;
        };
        if self.stopped {
            return false;
        }
        self.pending += 1;
        if self.pending < Self::STEP {
            return true;
        }
        self.flush(budget)
    }

    /// Adds what is pending; `false` once the budget is spent.
    fn within(&mut self) -> bool {
        self.budget.is_none_or(|budget| self.flush(budget))
    }

    fn flush(&mut self, budget: &Budget) -> bool {
        let listed = budget.listed.fetch_add(self.pending, Ordering::Relaxed) + self.pending;
        self.pending = 0;
        if listed > budget.limit || budget.stop.passed() {
            budget.spent.store(true, Ordering::Relaxed);
        }
        self.stopped |= budget.spent();
        !self.stopped
    }
}

/// A full walk ([`Since::Record`]) that stops at `stop`: the owners found by then, and how many
/// processes it did not read, or not to the end (`late`).
pub fn walk_fds_until(stop: Deadline) -> std::io::Result<InodeOwners> {
    walk(None, Since::Record, Some(&Budget::until(stop)), None)
}

/// What a walk that stopped at its deadline with `late` processes not read (or not to the
/// end) did not do; `None` when it finished.
pub fn stopped_words(walk: &InodeOwners, limit: &super::deadline::Limit) -> Option<String> {
    let processes = match walk.late {
        0 => return None,
        1 => "1 process".to_string(),
        n => format!("{n} processes"),
    };
    let largest = super::walk_order::words(&walk.late_named)
        .map(|w| format!("; {w}"))
        .unwrap_or_default();
    Some(format!(
        "the owner lookup did not finish within {}: the /proc walk stopped with the \
         descriptors of {processes} not read, or not to the end (the owners shown were found; \
         those processes may hold sockets too){}{largest}",
        limit.text,
        super::walk_order::being_read(&walk.late_reading)
    ))
}

/// A full walk ([`Since::Record`]) that stops once it has listed more descriptors than
/// `budget` allows: `None` then.
pub fn walk_fds_within(budget: &Budget) -> std::io::Result<Option<InodeOwners>> {
    let owners = walk(None, Since::Record, Some(budget), None)?;
    Ok((!budget.spent()).then_some(owners))
}

fn walk(
    wanted: Option<&HashSet<u32>>,
    since: Since,
    budget: Option<&Budget>,
    only: Option<Vec<u32>>,
) -> std::io::Result<InodeOwners> {
    let proc_fd = openat(
        rustix::fs::CWD,
        "/proc",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    // An empty /proc (not mounted, or a tmpfs over it) would look like "no process holds
    // anything": say it is unreadable instead.
    statat(&proc_fd, "self/fd", AtFlags::empty()).map_err(|e| unreadable_proc(&proc_fd, e))?;
    if !super::proc_dir::is_procfs(&proc_fd) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "/proc is not procfs (a directory of another filesystem stands there, with a \
             self/fd in it: a way to forge processes), which whoport does not read",
        ));
    }
    let pids = match only {
        Some(pids) => pids,
        None => list_pids(&proc_fd)?,
    };
    if wanted.is_some_and(HashSet::is_empty) || pids.is_empty() {
        return Ok(InodeOwners::default());
    }
    // A walk that may stop reads the smallest tables first: those left are the largest.
    let sized = if budget.is_some() {
        super::walk_order::smallest_first(&proc_fd, pids)
    } else {
        pids.into_iter().map(|pid| (pid, 0)).collect()
    };
    let pids: Vec<u32> = sized.iter().map(|&(pid, _)| pid).collect();
    let threads = super::cores()
        .clamp(1, 8)
        .min(pids.len().div_ceil(16).max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut own = [0u8; 64];
    // (Where something is mounted over whoport's own link, asked of the kernel.)
    let own_netns = super::proc_dir::read_link_below(&proc_fd, "self/ns/net", &mut own[..])
        .ok()
        .map(|n| own[..n].to_vec())
        .or_else(super::bpf::sk_lookup::own_netns_link);
    let own_netns = own_netns.as_deref();
    let parts: Vec<Part> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (proc_fd, pids, next) = (&proc_fd, &pids, &next);
                let part = move || {
                    let meter = Meter {
                        budget,
                        pending: 0,
                        stopped: false,
                    };
                    walk_part(proc_fd, pids, next, (wanted, since, meter), own_netns)
                };
                // No thread to be had (a cgroup's pids.max reached, RLIMIT_NPROC): this
                // part is walked here, where `s.spawn` panicked and the walk said nothing.
                std::thread::Builder::new()
                    .spawn_scoped(s, part)
                    .map_err(|_| Box::new(part()))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h.join().unwrap_or_default(),
                Err(walked) => *walked,
            })
            .collect()
    });
    let reached = next.into_inner().min(pids.len());
    let mut owners = InodeOwners {
        late: pids.len() - reached,
        late_named: super::walk_order::largest(&sized[reached..]),
        ..InodeOwners::default()
    };
    for part in parts {
        owners.unreadable += part.unreadable;
        owners.unreadable_pids.extend(part.unreadable_pids);
        owners.all_unread.extend(part.all_unread);
        owners.covered.extend(part.covered);
        owners.vanished += part.vanished;
        owners.walked += part.walked;
        owners.late += part.late;
        owners.late_reading.extend(part.cut_short);
        owners.cut.extend(part.cut);
        owners.other_netns += part.other_netns;
        owners.netns_covered.extend(part.netns_covered);
        owners.other_netns_pid = match (owners.other_netns_pid, part.other_netns_pid) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        for (inode, pid) in part.found {
            owners.pids.entry(inode).or_default().push(pid);
        }
        owners.starts.extend(part.starts);
        owners.seen.rings.extend(part.rings);
        owners.seen.activity.extend(part.activity);
    }
    for pids in owners.pids.values_mut() {
        pids.sort_unstable();
        pids.dedup();
    }
    owners.keep_named();
    owners.listed = pids;
    Ok(owners)
}

/// An io_uring instance's descriptor: in the table of thread `tid` of process `pid` (the
/// main thread's when `tid == pid`). Its registered files are listed in
/// `/proc/PID/task/TID/fdinfo/FD`, which names the table the descriptor is in, even when
/// the main thread has exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ring {
    pub pid: u32,
    pub tid: u32,
    pub fd: u32,
}

impl Ring {
    pub fn fdinfo(&self) -> String {
        format!("/proc/{}/task/{}/fdinfo/{}", self.pid, self.tid, self.fd)
    }

    /// The descriptor's link, to check it is still a ring.
    pub fn link(&self) -> String {
        format!("/proc/{}/task/{}/fd/{}", self.pid, self.tid, self.fd)
    }
}

/// A descriptor link's text for an io_uring instance.
pub const RING_LINK: &[u8] = b"anon_inode:[io_uring]";

/// How many threads a process has (field 20 of `/proc/PID/stat`).
pub fn thread_count(pid: u32) -> Option<u32> {
    parse_thread_count(&super::proc_dir::read_path(&format!("/proc/{pid}/stat"))?.0)
}

fn parse_thread_count(stat: &[u8]) -> Option<u32> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    stat[close + 1..]
        .split(u8::is_ascii_whitespace)
        .filter(|f| !f.is_empty())
        .nth(17)
        .and_then(parse_u32)
}

/// The threads of a process other than the main one (`/proc/PID/task`).
pub fn other_threads(pid: u32) -> Vec<u32> {
    let Some(tasks) = super::proc_dir::open_dir(&format!("/proc/{pid}/task"))
        .ok()
        .and_then(|fd| Dir::read_from(fd).ok())
    else {
        return Vec::new();
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|e| parse_u32(e.file_name().to_bytes()))
        .filter(|&tid| tid != pid)
        .collect()
}

#[derive(Debug, Default)]
struct Part {
    found: Vec<(u32, u32)>,
    starts: Vec<(u32, u64)>,
    rings: Vec<Ring>,
    activity: Vec<(u32, Activity)>,
    unreadable: usize,
    unreadable_pids: Vec<u32>,
    all_unread: Vec<u32>,
    covered: Vec<u32>,
    vanished: usize,
    walked: usize,
    /// Processes not read to the end: the budget was spent meanwhile.
    late: usize,
    /// The process whose descriptors were being read when the budget was spent.
    cut_short: Option<u32>,
    other_netns: usize,
    other_netns_pid: Option<u32>,
    netns_covered: Vec<u32>,
    cut: super::own_tables::Cut,
}

impl Part {
    /// A process whose own table was refused. One whose main thread exited keeps it closed
    /// even to its user (no memory left to check the access against): its live threads'
    /// tables are read instead. Not read when a table that counts descriptors was refused,
    /// or none could be read and it may hold files.
    fn main_table_refused(
        &mut self,
        proc_fd: &OwnedFd,
        pid: u32,
        wanted: Option<&HashSet<u32>>,
        link: &mut [u8; 64],
        meter: &mut Meter,
    ) {
        let found_before = self.found.len();
        let into = (&mut self.found, &mut self.rings);
        let tables = super::own_tables::thread_tables(proc_fd, pid, wanted, into, link, meter);
        if self.found.len() > found_before {
            if let Some(start) = start_ticks(pid) {
                self.starts.push((pid, start));
            }
        }
        if tables.covered {
            self.covered(pid);
        } else if tables.refused || tables.unread > 0 {
            if !tables.refused {
                self.cut.push(pid, tables.unread);
            }
            self.not_read(pid);
        } else if tables.read > 0 {
            self.walked += 1;
        } else if !super::unvisited::holds_no_files(pid) {
            // (A kernel thread, or a reaped zombie, holds nothing to read.)
            self.not_read(pid);
        }
    }

    /// Counts `pid` among the processes whose descriptors could not be read (and names it
    /// while there is room).
    fn not_read(&mut self, pid: u32) {
        self.unreadable += 1;
        self.all_unread.push(pid);
        if self.unreadable_pids.len() < NAMED_UNREADABLE {
            self.unreadable_pids.push(pid);
        }
    }

    /// A process not read because something is mounted over its `/proc` entries: counted, and
    /// always named (see [`InodeOwners::keep_named`]), without taking the place of one of the
    /// other processes named (a walk that met it first named one process fewer).
    fn covered(&mut self, pid: u32) {
        self.unreadable += 1;
        self.all_unread.push(pid);
        self.covered.push(pid);
    }
}

/// Why `/proc` cannot be walked when its `self/fd` is not there (`e`): a `/proc` that lists
/// processes but has no `self` is another PID namespace's (whoport entered a container's
/// mount namespace only): its PIDs are not this process's.
fn unreadable_proc(proc_fd: &OwnedFd, e: Errno) -> std::io::Error {
    let why = if e == Errno::NOENT
        && rustix::fs::readlinkat(proc_fd, "self", Vec::new()).is_err()
        && list_pids(proc_fd).is_ok_and(|pids| !pids.is_empty())
    {
        format!(
            "{} (it lists processes, but not whoport: no /proc/self), so its PIDs are not \
             this process's; run whoport with this namespace's /proc, or enter that PID \
             namespace too (nsenter -p -m)",
            crate::model::OTHER_PID_NAMESPACES_PROC
        )
    } else {
        format!("/proc is not mounted or not readable ({e})")
    };
    std::io::Error::new(std::io::ErrorKind::NotFound, why)
}

/// The processes `/proc` lists, but whoport's own children (crate::far_file): they hold
/// nothing of the machine's, and as a user with capabilities they are not shown to it.
fn list_pids(proc_fd: &OwnedFd) -> std::io::Result<Vec<u32>> {
    let mut pids = Vec::new();
    let own = crate::far_file::own_children();
    for entry in Dir::read_from(proc_fd)? {
        let entry = entry?;
        if let Some(pid) = parse_u32(entry.file_name().to_bytes()) {
            if !own.contains(&pid) {
                pids.push(pid);
            }
        }
    }
    Ok(pids)
}

fn walk_part(
    proc_fd: &OwnedFd,
    pids: &[u32],
    next: &std::sync::atomic::AtomicUsize,
    (wanted, since, mut meter): (Option<&HashSet<u32>>, Since, Meter),
    own_netns: Option<&[u8]>,
) -> Part {
    let mut part = Part::default();
    let mut path = itoa_path::PidPath::new();
    let mut link = [0u8; 64];
    let mut reading = None;
    loop {
        if meter.stopped {
            // The process read last was cut short.
            part.late += 1;
            part.cut_short = reading;
            break;
        }
        if !meter.within() {
            break;
        }
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(&pid) = pids.get(i) else {
            break;
        };
        reading = Some(pid);
        if let Since::Skip(before) = since {
            if before.get(&pid).is_some_and(|a| a.still(proc_fd, pid)) {
                part.walked += 1;
                continue;
            }
        }
        let fd_dir = match open_unmounted(proc_fd, path.fd_dir(pid)) {
            Ok(fd) => fd,
            // A directory mounted over /proc/PID (or its fd directory) is another's: not read.
            Err(Errno::XDEV) => {
                part.covered(pid);
                continue;
            }
            Err(Errno::ACCESS | Errno::PERM) => {
                part.main_table_refused(proc_fd, pid, wanted, &mut link, &mut meter);
                continue;
            }
            Err(_) => {
                part.vanished += 1;
                continue;
            }
        };
        part.walked += 1;
        // Never read across a mount: a link mounted over `ns/net` is not the process's.
        let netns = own_netns.map(|own| {
            super::proc_dir::read_link_below(proc_fd, path.ns_net(pid), &mut link[..])
                .map(|n| &link[..n] != own)
        });
        let foreign = matches!(netns, Some(Ok(true)));
        // Counted only with at least one descriptor, as the in-kernel lookup sees tasks:
        // a kernel thread (or a process without descriptors) holds no socket worth naming.
        let mut descriptors = false;
        let found_before = part.found.len();
        // Before the table is read (the size of an fd directory is its number of descriptors,
        // Linux 6.2+; 0 before, and then nothing is recorded).
        let activity = match since {
            Since::Record
                if rustix::fs::fstat(&fd_dir)
                    .is_ok_and(|st| st.st_size as u64 >= activity::MIN_FDS) =>
            {
                Activity::read(proc_fd, pid)
            }
            _ => None,
        };
        let Ok(dir) = Dir::read_from(&fd_dir) else {
            part.vanished += 1;
            continue;
        };
        // The directory can be listed while its links stay closed (root of a user namespace
        // looking at the host's processes): such a process was not read.
        let mut denied = false;
        for entry in dir {
            let Ok(entry) = entry else { break };
            let name: &CStr = entry.file_name();
            if name.to_bytes().first() == Some(&b'.') {
                continue;
            }
            descriptors = true;
            if !meter.tick() {
                break;
            }
            let n = match readlinkat_raw(&fd_dir, name, &mut link[..]) {
                Ok(n) => n,
                Err(Errno::ACCESS | Errno::PERM) => {
                    denied = true;
                    break;
                }
                Err(_) => continue,
            };
            if let Some(inode) = socket_inode(&link[..n]) {
                if wanted.is_none_or(|w| w.contains(&inode)) && open_for_use(&fd_dir, name) {
                    part.found.push((inode, pid));
                }
            } else if &link[..n] == RING_LINK {
                if let Some(fd) = parse_u32(name.to_bytes()) {
                    part.rings.push(Ring { pid, tid: pid, fd });
                }
            }
        }
        if foreign && descriptors {
            part.other_netns += 1;
            part.other_netns_pid = Some(part.other_netns_pid.map_or(pid, |p| p.min(pid)));
        }
        if matches!(netns, Some(Err(Errno::XDEV))) && descriptors {
            part.netns_covered.push(pid);
        }
        if denied {
            part.walked -= 1;
            part.not_read(pid);
            continue;
        }
        // Threads with a table of their own hold descriptors of the process too (and, once
        // the main thread has exited, its only table).
        let tables = super::own_tables::thread_tables(
            proc_fd,
            pid,
            wanted,
            (&mut part.found, &mut part.rings),
            &mut link,
            &mut meter,
        );
        if tables.covered {
            part.walked -= 1;
            part.covered(pid);
        } else if tables.refused {
            part.walked -= 1;
            part.not_read(pid);
        } else if tables.unread > 0 {
            part.cut.push(pid, tables.unread);
            part.not_read(pid);
        }
        if let Some(activity) = activity {
            part.activity.push((pid, activity));
        }
        if part.found.len() > found_before {
            if let Some(start) = start_ticks(pid) {
                part.starts.push((pid, start));
            }
        }
    }
    part
}

/// Field 22 of `/proc/PID/stat`: when the process started, in clock ticks after boot.
pub fn start_ticks(pid: u32) -> Option<u64> {
    parse_start_ticks(&super::proc_dir::read_path(&format!("/proc/{pid}/stat"))?.0)
}

/// whoport's own PID as `/proc` numbers processes (`/proc/self`): in a PID namespace of its own
/// that kept the machine's `/proc`, its PID there, not the namespace's number.
pub fn own_pid() -> u32 {
    // Never across a mount: a link mounted over `/proc/self` would name another process.
    super::proc_dir::read_link("/proc/self")
        .ok()
        .and_then(|p| std::str::from_utf8(&p).ok()?.parse().ok())
        .unwrap_or_else(std::process::id)
}

/// The effective uid of a process (the one it acts with, as `ps -o user` shows), from the
/// `Uid:` line of `/proc/PID/status` (real, effective, saved, filesystem; the file does not
/// wait for the process's memory).
pub fn status_uid(pid: u32) -> Option<u32> {
    let (status, _) = super::proc_dir::read_path(&format!("/proc/{pid}/status"))?;
    parse_status_uid(&status)
}

pub fn parse_status_uid(status: &[u8]) -> Option<u32> {
    let line = status
        .split(|&b| b == b'\n')
        .find(|l| l.starts_with(b"Uid:"))?;
    std::str::from_utf8(&line[4..])
        .ok()?
        .split_ascii_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The name in `/proc/PID/stat` may hold spaces and parentheses: fields are counted after
/// the last ')'.
pub fn parse_start_ticks(stat: &[u8]) -> Option<u64> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

/// Whether the descriptor `name` of the table `fd_dir`, whose link names a socket, has the
/// socket open, not an `O_PATH` handle on it (`open("/proc/PID/fd/N", O_PATH)` on another
/// process's socket: its link reads `socket:[N]` too, yet it can neither use the socket nor keep
/// it open). The kernel gives a descriptor's link the access its file was opened with: none for
/// `O_PATH`, and a socket is always open for reading and writing. A descriptor closed since its
/// link was read is taken as it was read.
pub(super) fn open_for_use(fd_dir: &OwnedFd, name: &CStr) -> bool {
    statat(fd_dir, name, AtFlags::SYMLINK_NOFOLLOW).map_or(true, |st| st.st_mode & 0o777 != 0)
}

/// `socket:[12345]` -> 12345.
pub fn socket_inode(link: &[u8]) -> Option<u32> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    parse_u32(digits)
}

pub(super) fn parse_u32(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || bytes.len() > 10 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// Builds `PID/fd` paths without allocating per process.
mod itoa_path {
    use std::fmt::Write as _;

    pub struct PidPath(String);

    impl PidPath {
        pub fn new() -> Self {
            PidPath(String::with_capacity(24))
        }

        pub fn fd_dir(&mut self, pid: u32) -> &str {
            self.0.clear();
            let _ = write!(self.0, "{pid}/fd");
            &self.0
        }

        pub fn ns_net(&mut self, pid: u32) -> &str {
            self.0.clear();
            let _ = write!(self.0, "{pid}/ns/net");
            &self.0
        }
    }
}

/// The systemd unit and container of a process, from `/proc/PID/cgroup`.
pub fn cgroup(pid: u32) -> (Option<String>, Option<Container>) {
    // A path cut at the bound is not believed: its last part would name a unit or container
    // that is not the process's.
    match super::proc_dir::read_path(&format!("/proc/{pid}/cgroup")) {
        Some((bytes, false)) => std::str::from_utf8(&bytes).map_or((None, None), parse_cgroup),
        _ => (None, None),
    }
}

/// Parses `/proc/PID/cgroup` (v2 `0::/path`, or v1 lines, the systemd/name=systemd one first).
pub fn parse_cgroup(text: &str) -> (Option<String>, Option<Container>) {
    let paths: Vec<&str> = text
        .lines()
        .filter_map(|l| l.splitn(3, ':').nth(2))
        .collect();
    let mut container = None;
    for path in &paths {
        if let Some(c) = container_of(path) {
            container = Some(c);
            break;
        }
    }
    let unit = paths.iter().find_map(|p| unit_of(p));
    (unit, container)
}

fn unit_of(path: &str) -> Option<String> {
    // The innermost service, socket or scope that is not a container's own scope;
    // user sessions: "session-3.scope"; user services: "app.slice/foo.service".
    let components: Vec<&str> = path.split('/').collect();
    let at = components.iter().rposition(|c| {
        (c.ends_with(".service") || c.ends_with(".scope") || c.ends_with(".socket"))
            && container_scope(c).is_none()
    })?;
    let unit = components.get(at)?;
    // A unit of a user's own manager (`user@1000.service/app.slice/foo.service`), which that
    // user names as they like: said with its manager, `user@1000.service/foo.service`
    // (`process::split_unit`).
    let manager = components.get(..at)?.iter().rev().find(|c| {
        c.strip_prefix("user@")
            .and_then(|c| c.strip_suffix(".service"))
            .is_some_and(|uid| !uid.is_empty() && uid.bytes().all(|b| b.is_ascii_digit()))
    });
    Some(match manager {
        Some(m) => format!("{m}/{unit}"),
        None => (*unit).to_string(),
    })
}

/// `docker-<id>.scope`, `libpod-<id>.scope`, `cri-containerd-<id>.scope`, `crio-<id>.scope`.
fn container_scope(component: &str) -> Option<(&'static str, &str)> {
    let stem = component.strip_suffix(".scope").unwrap_or(component);
    for (prefix, runtime) in [
        ("docker-", "docker"),
        ("libpod-conmon-", "podman"),
        ("libpod-", "podman"),
        ("cri-containerd-", "containerd"),
        ("crio-conmon-", "cri-o"),
        ("crio-", "cri-o"),
    ] {
        if let Some(id) = stem.strip_prefix(prefix) {
            if is_container_id(id) {
                return Some((runtime, id));
            }
        }
    }
    None
}

fn is_container_id(id: &str) -> bool {
    id.len() >= 12 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn container_of(path: &str) -> Option<Container> {
    let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let pod = components.iter().find_map(|c| {
        let stem = c.strip_suffix(".slice").unwrap_or(c);
        stem.rsplit_once("-pod")
            .map(|(_, uid)| uid)
            .or_else(|| stem.strip_prefix("pod"))
            .filter(|_| components.iter().any(|c| c.starts_with("kubepods")))
            .map(|uid| uid.replace('_', "-"))
    });
    for (i, c) in components.iter().enumerate().rev() {
        let found = container_scope(c).or_else(|| {
            // cgroup v1 and cgroupfs drivers: /docker/<id>, /kubepods/.../<id>, /lxc/<name>
            let parent = i.checked_sub(1).map(|j| components[j]);
            match parent {
                Some("docker") if is_container_id(c) => Some(("docker", *c)),
                Some("libpod_parent") | Some("machine.slice") if is_container_id(c) => {
                    Some(("podman", *c))
                }
                Some(p) if p.starts_with("pod") && is_container_id(c) => Some(("kubernetes", *c)),
                Some("lxc") | Some("lxc.payload") => Some(("lxc", *c)),
                _ => c.strip_prefix("lxc.payload.").map(|n| ("lxc", n)),
            }
        });
        if let Some((runtime, id)) = found {
            let runtime = if pod.is_some() { "kubernetes" } else { runtime };
            return Some(Container {
                runtime: runtime.to_string(),
                id: id.to_string(),
                pod: pod.clone(),
            });
        }
    }
    None
}

/// [`comm`], telling apart a process that is gone (`None`) from one whose name could not be
/// read (`Some(None)`: something mounted over its `/proc` entries, or hidden from this user).
pub fn comm_unless_gone(pid: u32) -> Option<Option<Vec<u8>>> {
    match super::proc_dir::open_file(&format!("/proc/{pid}/comm")) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(_) => Some(None),
        Ok(file) => {
            let mut bytes = Vec::new();
            if super::proc_dir::read_record_at_most(&file, &mut bytes, super::proc_dir::MAX_FILE)
                .is_none()
            {
                return Some(None);
            }
            if bytes.last() == Some(&b'\n') {
                bytes.pop();
            }
            Some(Some(bytes))
        }
    }
}

/// The kernel's own name for a process (`/proc/PID/comm`, at most 15 bytes).
pub fn comm(pid: u32) -> Option<Vec<u8>> {
    comm_unless_gone(pid).flatten()
}

#[cfg(test)]
mod tests;
