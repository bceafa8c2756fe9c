//! The second look at sockets no process-level descriptor holds, whichever method found the
//! owners (`/proc` walk or BPF iterator): descriptors that appeared during the scan (in any
//! thread's table), memory mappings and io_uring registered files; then, for what is still ownerless, the reason whoport could
//! establish. Runs only when sockets are still ownerless, so a machine where every socket is
//! found pays nothing.

use std::collections::{HashMap, HashSet};
use std::io::Read;

use super::linux;
use crate::model::{Hidden, USER_NAMESPACE_NOT_ROOT};

/// How processes found by the second look hold a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holding {
    /// A descriptor that appeared during the scan (created, or passed over a unix socket).
    LateDescriptor,
    /// A memory mapping of the socket (`/proc/PID/maps`), its descriptor closed.
    Mapping,
    /// An io_uring registered-file table (the ring's fdinfo, or in the kernel for a ring
    /// reachable only through a registered ring table), its descriptor closed.
    IoUring,
    /// An io_uring request in flight (a pending accept, recv, poll...), its descriptor closed.
    IoUringRequest,
    /// A system call in progress (a thread asleep in accept() or recv()), its descriptor
    /// closed.
    BlockedCall,
}

impl Holding {
    /// What JSON and the card say, or `None` for an ordinary descriptor (in any thread's table).
    pub fn words(self) -> Option<&'static str> {
        match self {
            Holding::LateDescriptor => None,
            Holding::Mapping => Some("held through a memory mapping"),
            Holding::IoUring => Some("held by io_uring"),
            Holding::IoUringRequest => Some("held by io_uring (a request in flight)"),
            Holding::BlockedCall => Some("held by a system call in progress"),
        }
    }
}

/// A process with rings whose fdinfo lists requests in flight: PID, how many, their
/// operations.
pub type Requests = (u32, usize, Vec<String>);

/// What is known of io_uring instances that may hold a socket still ownerless, where the
/// kernel was not looked into, or not to the end.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RingClues {
    /// Why the in-kernel look into rings did not run (`None`: it ran, or had nothing to do).
    pub not_looked: Option<String>,
    /// The in-kernel look into rings ran: the kernel may be asked in this run.
    pub kernel_looked: bool,
    /// Processes with rings whose fdinfo lists requests in flight (`PollList:`), which hold
    /// files the fdinfo does not name: PID, how many, their operations.
    pub requests: Vec<Requests>,
    /// Processes mapping an io_uring instance that no descriptor table holds (its
    /// descriptor closed): its registered files have no fdinfo to be read from.
    pub closed: Vec<u32>,
    /// Processes mapping such a ring that the in-kernel look could not read: their memory-map
    /// lock was held when it looked (or more rings were mapped than whoport looks at).
    pub mapped_unread: Vec<u32>,
    /// Processes whose rings the in-kernel look did not walk to the end (its bound of
    /// [`super::io_uring::MAX_STEPS`] steps per task).
    pub truncated: Vec<u32>,
    /// Processes with a ring whose fdinfo was not read to the end (written without its
    /// registered files while the ring was busy, or longer than whoport reads), and that the
    /// in-kernel look, where it ran, did not walk to the end either.
    pub cut: Vec<linux::Ring>,
    /// Processes with a request in flight on another io_uring instance (a poll on its
    /// descriptor), whose own files and requests are not looked into.
    pub nested: Vec<u32>,
    /// Processes with io_uring instances in use of which whoport saw none (no descriptor, no
    /// memory mapping, no registered ring table reaches them: rings holding each other
    /// through requests in flight, their descriptors closed and unmapped, say), whose files
    /// and requests it could not read.
    pub unreachable: Vec<u32>,
    /// Processes with rings whose io-wq worker (an `iou-wrk` thread) sleeps inside a request
    /// (a blocking read or splice arms no poll, so no fdinfo lists it): its files are not
    /// named anywhere in `/proc`.
    pub workers: Vec<u32>,
    /// Processes whose memory mappings were not read in time (not a matter of rings: a
    /// socket or a ring they map is not known).
    pub maps_unread: super::maps::Unread,
}

impl RingClues {
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
            && self.closed.is_empty()
            && self.mapped_unread.is_empty()
            && self.truncated.is_empty()
            && self.cut.is_empty()
            && self.nested.is_empty()
            && self.unreachable.is_empty()
            && self.workers.is_empty()
    }
}

/// What the second look has found so far, and the inodes it still looks for.
struct Search {
    found: HashMap<u32, (Vec<u32>, Holding)>,
    left: HashSet<u32>,
}

impl Search {
    fn of(ownerless: &HashSet<u32>) -> Search {
        Search {
            found: HashMap::new(),
            left: ownerless.clone(),
        }
    }

    /// Keeps the holders one way of looking found, for inodes not found another way yet.
    fn keep(&mut self, pids: HashMap<u32, Vec<u32>>, how: Holding) {
        for (inode, pids) in pids {
            if self.left.remove(&inode) && !pids.is_empty() {
                self.found.insert(inode, (pids, how));
            }
        }
    }
}

/// inode -> (PIDs, how), for the `ownerless` inodes the second look found. `seen` is what the
/// first walk noted: the io_uring instances it passed (with those the walk's own second pass
/// notes, all the rings there are, so no descriptor is read a third time to find them), and
/// for processes with many descriptors, what the scheduler had counted for their threads, so
/// that only the tables of processes that ran since are read again. Both walks read the
/// tables of threads that do not share their process's (as the in-kernel iterator does).
pub fn find(
    ownerless: &HashSet<u32>,
    (seen, tables_unread): (linux::Seen, bool),
    loaded: &mut super::bpf::Shared,
) -> (HashMap<u32, (Vec<u32>, Holding)>, RingClues) {
    let mut search = Search::of(ownerless);
    if search.left.is_empty() {
        return (search.found, RingClues::default());
    }
    let mut rings = seen.rings;
    // Created or passed during the scan: walked again, only these inodes, in the processes
    // that ran since (the io_uring instances created meanwhile are noted on the way).
    let since = linux::Since::Skip(&seen.activity);
    if let Ok(again) = linux::walk_fds_since(Some(&search.left), since) {
        search.keep(again.pids, Holding::LateDescriptor);
        rings.extend(again.seen.rings);
    }
    let mut clues = RingClues::default();
    if !search.left.is_empty() {
        let (maps, mapped_rings, maps_unread) = mappings(&search.left);
        let read = read_rings(&rings, &search.left);
        search.keep(maps, Holding::Mapping);
        search.keep(read.registered, Holding::IoUring);
        let closed = closed_rings(&mapped_rings, &read.inodes);
        let seen = pids_with_rings(&rings, &mapped_rings);
        let read_all = rings_read(&seen, &rings, &read.unread, false);
        let unread = tables_unread || !read.unread.is_empty();
        clues = inside_rings(
            &mut search,
            (!rings.is_empty(), unread, (&seen, &read_all), loaded),
            (read.requests, read.cut),
            closed,
        );
        clues.maps_unread = maps_unread;
    }
    (search.found, clues)
}

/// For what is still ownerless, the in-kernel look into io_uring instances (requests in
/// flight; rings reachable only through a registered ring table; rings kept alive only by a
/// memory mapping, `closed`); where it cannot run, what `/proc` tells of rings that may hold
/// them: those with requests in flight, and those mapped whose descriptor is closed.
/// `in_tables`: rings were seen in descriptor tables; `unread`: some ring's fdinfo, or some
/// descriptor table, could not be read; `rings_seen`: the processes whose rings
/// whoport saw (in a table, or mapped); `read_all`: those of them whose rings whoport read
/// (the others' rings are walked in the kernel, as those of a process whoport saw none of).
fn inside_rings(
    search: &mut Search,
    (in_tables, unread, (rings_seen, read_all), loaded): (
        bool,
        bool,
        (&HashSet<u32>, &HashSet<u32>),
        &mut super::bpf::Shared,
    ),
    (requests, cut): (Vec<Requests>, Vec<linux::Ring>),
    closed: Vec<super::io_uring::MappedRing>,
) -> RingClues {
    if search.left.is_empty() {
        return RingClues::default();
    }
    let mut cut = cut;
    let clues =
        match super::io_uring::look(&search.left, (in_tables, read_all, unread), &closed, loaded) {
            Ok(held) => {
                search.keep(held.registered, Holding::IoUring);
                search.keep(held.requests, Holding::IoUringRequest);
                // A ring whose fdinfo was cut was read in the kernel where its process's rings
                // were all walked to the end.
                cut.retain(|ring| !held.walked.contains(&ring.pid));
                let mut truncated = held.truncated;
                truncated.sort_unstable();
                truncated.dedup();
                // Rings reached from nothing else, and rings a request in flight holds, were read
                // from the io_uring contexts of the processes whose contexts were walked to the end.
                let unreachable = held
                    .uses
                    .into_iter()
                    .filter(|pid| {
                        !rings_seen.contains(pid)
                            && !held.reached.contains(pid)
                            && !held.walked.contains(pid)
                    })
                    .collect();
                let nested = held
                    .nested
                    .into_iter()
                    .filter(|pid| !held.walked.contains(pid))
                    .collect();
                RingClues {
                    nested,
                    mapped_unread: held.busy,
                    unreachable,
                    kernel_looked: true,
                    truncated,
                    ..RingClues::default()
                }
            }
            Err(why) => {
                let mut pids: Vec<u32> = closed.iter().map(|m| m.pid).collect();
                pids.sort_unstable();
                pids.dedup();
                RingClues {
                    not_looked: Some(why),
                    requests,
                    closed: pids,
                    workers: blocked_workers(rings_seen),
                    ..RingClues::default()
                }
            }
        };
    cut.sort_unstable();
    cut.dedup();
    RingClues { cut, ..clues }
}

/// Which of these processes have an io-wq worker (a thread named `iou-wrk-PID`) that sleeps
/// inside a request: its wait channel is not the worker's idle loop (`io_wq_worker`).
fn blocked_workers(pids: &HashSet<u32>) -> Vec<u32> {
    let mut blocked: Vec<u32> = pids
        .iter()
        .copied()
        .filter(|pid| {
            let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
                return false;
            };
            tasks.flatten().any(|task| {
                let read = |name: &str| {
                    let mut text = String::new();
                    std::fs::File::open(task.path().join(name))
                        .and_then(|f| f.take(64).read_to_string(&mut text))
                        .map(|_| text.trim().to_string())
                        .unwrap_or_default()
                };
                read("comm").starts_with("iou-wrk-") && worker_is_busy(&read("wchan"))
            })
        })
        .collect();
    blocked.sort_unstable();
    blocked
}

/// An io-wq worker's wait channel says it sleeps inside a request: a kernel function's name
/// that is not its idle loop (`0` or nothing: not known, not said).
fn worker_is_busy(wchan: &str) -> bool {
    !wchan.is_empty() && wchan != "0" && wchan != "io_wq_worker"
}

/// Of the processes with rings whoport saw (`seen`), those whose rings it read: every ring
/// in their descriptor tables had its fdinfo read (not another user's process, seen by the
/// in-kernel iterator or by its mapping), and their tables were read (`tables_read`: by the
/// in-kernel iterator; otherwise a table with a ring in it, or one `/proc` lets whoport read
/// now). Without the others, the in-kernel look walks their rings as it walks those of a
/// process whoport saw none of.
fn rings_read(
    seen: &HashSet<u32>,
    in_tables: &[linux::Ring],
    unread: &HashSet<u32>,
    tables_read: bool,
) -> HashSet<u32> {
    seen.iter()
        .copied()
        .filter(|pid| !unread.contains(pid))
        .filter(|&pid| {
            tables_read
                || in_tables.iter().any(|r| r.pid == pid)
                || std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok()
        })
        .collect()
}

/// The processes with rings whoport saw: in a descriptor table, or mapped.
fn pids_with_rings(rings: &[linux::Ring], mapped: &MappedRings) -> HashSet<u32> {
    rings
        .iter()
        .map(|r| r.pid)
        .chain(mapped.keys().copied())
        .collect()
}

/// PID -> the io_uring instances it maps: each one's inode, with the start of one of its
/// mappings.
pub type MappedRings = HashMap<u32, Vec<(u64, u64)>>;

/// The rings mapped whose inode is none of the rings with descriptors (kept alive by their
/// mapping), each once per process, by PID.
fn closed_rings(
    mapped: &MappedRings,
    with_descriptor: &HashSet<u64>,
) -> Vec<super::io_uring::MappedRing> {
    let mut rings: Vec<super::io_uring::MappedRing> = mapped
        .iter()
        .flat_map(|(&pid, rings)| {
            rings
                .iter()
                .filter(|(inode, _)| !with_descriptor.contains(inode))
                .map(move |&(_, address)| super::io_uring::MappedRing { pid, address })
        })
        .collect();
    rings.sort_unstable();
    rings
}

/// How much of a `/proc` file is read.
const PROC_LIMIT: usize = 4 << 20;

/// Reads at most 4 MiB of a `/proc` file (they are generated by the kernel, never regular).
fn read_proc(path: &str) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(PROC_LIMIT as u64)
        .read_to_end(&mut bytes)
        .ok()?;
    Some(bytes)
}

/// The socket `N` of a memory mapping's line in `/proc/PID/maps`: its path is exactly
/// `socket:[N]` and its inode field `N`. A file can be named `socket:[N]` too (and paths
/// may hold spaces), but a file's path starts with `/`: only a socket's reads so.
fn mapped_socket(line: &[u8]) -> Option<u32> {
    // address, perms, offset, device, inode, then the path after padding.
    let mut rest = line;
    let mut inode = None;
    for _ in 0..5 {
        let start = rest.iter().position(|b| *b != b' ')?;
        rest = &rest[start..];
        let end = rest.iter().position(|b| *b == b' ').unwrap_or(rest.len());
        inode = Some(&rest[..end]);
        rest = &rest[end..];
    }
    let path = rest.trim_ascii_start();
    let socket = linux::socket_inode(path)?;
    (inode? == socket.to_string().as_bytes()).then_some(socket)
}

/// The inode of an io_uring instance in a memory mapping's line (its path is exactly
/// `anon_inode:[io_uring]`), and where the mapping starts.
fn mapped_ring(line: &[u8]) -> Option<(u64, u64)> {
    let mut fields = line.split(|&b| b == b' ').filter(|f| !f.is_empty());
    let range = fields.next()?;
    let inode = fields.nth(3)?;
    let path = fields.next()?;
    if path != linux::RING_LINK || fields.next().is_some() {
        return None;
    }
    let start = range.split(|&b| b == b'-').next()?;
    let start = u64::from_str_radix(std::str::from_utf8(start).ok()?, 16).ok()?;
    Some((std::str::from_utf8(inode).ok()?.parse().ok()?, start))
}

/// The sockets among an io_uring descriptor's registered files: the lines of its fdinfo's
/// `UserFiles:` section, `%5u: PATH` (spaces in paths escaped; from index 10000 on, no
/// padding), whose path is exactly `socket:[N]`.
fn registered_sockets(fdinfo: &[u8]) -> impl Iterator<Item = u32> + '_ {
    fdinfo
        .split(|&b| b == b'\n')
        .skip_while(|l| !l.starts_with(b"UserFiles:"))
        .skip(1)
        .take_while(|l| l.first().is_some_and(|b| *b == b' ' || b.is_ascii_digit()))
        .filter_map(|line| {
            let line = line.trim_ascii_start();
            let colon = line.iter().position(|&b| b == b':')?;
            if colon == 0 || !line[..colon].iter().all(u8::is_ascii_digit) {
                return None;
            }
            linux::socket_inode(line[colon + 1..].strip_prefix(b" ")?)
        })
}

/// The `wanted` sockets in the memory mappings (`/proc/PID/maps`) of every visible process,
/// and the io_uring instances each maps, each process within its own time (see
/// [`super::maps`]).
fn mappings(wanted: &HashSet<u32>) -> (HashMap<u32, Vec<u32>>, MappedRings, super::maps::Unread) {
    let read = super::maps::read_all(wanted);
    (read.sockets, read.rings, read.unread)
}

/// The `wanted` sockets in one process's memory mappings, and the rings it maps. A process
/// whose main thread exited (or is exiting) shows empty maps there: when it has other
/// threads, a live thread's are read instead (they share them), the first that answers. A
/// kernel thread (empty maps, one thread) costs one more small read.
pub fn mapped_by(pid: u32, wanted: &HashSet<u32>) -> (Vec<u32>, Vec<(u64, u64)>) {
    let mut sockets = Vec::new();
    let mut rings: Vec<(u64, u64)> = Vec::new();
    let mut text = read_proc(&format!("/proc/{pid}/maps"));
    if text.as_ref().is_some_and(Vec::is_empty) && linux::thread_count(pid).is_some_and(|n| n > 1) {
        text = linux::other_threads(pid).into_iter().find_map(|tid| {
            read_proc(&format!("/proc/{pid}/task/{tid}/maps")).filter(|t| !t.is_empty())
        });
    }
    if let Some(text) = text {
        for line in text.split(|&b| b == b'\n') {
            if let Some(inode) = mapped_socket(line).filter(|i| wanted.contains(i)) {
                if !sockets.contains(&inode) {
                    sockets.push(inode);
                }
            } else if let Some((ring, start)) = mapped_ring(line) {
                if !rings.iter().any(|(inode, _)| *inode == ring) {
                    rings.push((ring, start));
                }
            }
        }
    }
    (sockets, rings)
}

/// The `wanted` sockets among the registered files of these io_uring descriptors, each read
/// in the table it was seen in (`/proc/PID/task/TID/fdinfo/FD`; a descriptor closed since is
/// skipped).
pub fn registered_in(rings_at: &[linux::Ring], wanted: &HashSet<u32>) -> HashMap<u32, Vec<u32>> {
    read_rings(rings_at, wanted).registered
}

/// What the fdinfo of io_uring descriptors tells.
#[derive(Debug, Default)]
struct RingsRead {
    /// The `wanted` sockets among their registered files: inode -> PIDs.
    registered: HashMap<u32, Vec<u32>>,
    /// Processes whose rings have requests in flight: PID, how many, their operations.
    requests: Vec<Requests>,
    /// The rings' own inodes.
    inodes: HashSet<u64>,
    /// Processes with a ring whose fdinfo was not read to the end.
    cut: Vec<linux::Ring>,
    /// Processes with a ring whose fdinfo could not be read (another user's, or gone).
    unread: HashSet<u32>,
}

/// Reads the fdinfo of these io_uring descriptors once each (see [`registered_in`]).
fn read_rings(rings_at: &[linux::Ring], wanted: &HashSet<u32>) -> RingsRead {
    let mut read = RingsRead::default();
    let rings = &mut read.registered;
    let mut rings_at = rings_at.to_vec();
    rings_at.sort_unstable();
    rings_at.dedup();
    for ring in rings_at {
        // The thread it was seen in may have exited since (the main thread, say, after the
        // in-kernel iterator saw it): the same descriptor in another thread's table, if it is
        // still a ring there.
        let text = read_ring(&ring).or_else(|| {
            linux::other_threads(ring.pid)
                .into_iter()
                .filter(|&tid| tid != ring.tid)
                .map(|tid| linux::Ring { tid, ..ring })
                .find(is_ring_link)
                .and_then(|moved| read_ring(&moved))
        });
        let Some((text, complete)) = text else {
            read.unread.insert(ring.pid);
            continue;
        };
        // Cut at what whoport reads, or written without its files: not read to the end.
        if text.len() >= PROC_LIMIT || !complete {
            read.cut.push(ring);
        }
        for inode in registered_sockets(&text) {
            if wanted.contains(&inode) {
                push(rings, inode, ring.pid);
            }
        }
        if let Some(ino) = ring_inode(&text) {
            read.inodes.insert(ino);
        }
        let ops = requests_in_flight(&text);
        if !ops.is_empty() {
            match read.requests.iter_mut().find(|r| r.0 == ring.pid) {
                Some(r) => {
                    r.1 += ops.len();
                    r.2.extend(ops);
                }
                None => read.requests.push((ring.pid, ops.len(), ops)),
            }
        }
    }
    for (_, _, ops) in &mut read.requests {
        ops.sort_unstable();
        ops.dedup();
    }
    read
}

/// The ring's own inode, from its fdinfo's `ino:` line.
fn ring_inode(fdinfo: &[u8]) -> Option<u64> {
    let line = fdinfo
        .split(|&b| b == b'\n')
        .find_map(|l| l.strip_prefix(b"ino:"))?;
    std::str::from_utf8(line).ok()?.trim().parse().ok()
}

/// The operations of the requests an io_uring descriptor's fdinfo lists as in flight (the
/// `PollList:` section, `  op=N, task_works=N`): the kernel does not name their files.
fn requests_in_flight(fdinfo: &[u8]) -> Vec<String> {
    fdinfo
        .split(|&b| b == b'\n')
        .skip_while(|l| !l.starts_with(b"PollList:"))
        .skip(1)
        .take_while(|l| l.first() == Some(&b' '))
        .filter_map(|line| {
            let op = line.trim_ascii_start().strip_prefix(b"op=")?;
            let end = op
                .iter()
                .position(|b| !b.is_ascii_digit())
                .unwrap_or(op.len());
            let op: u32 = std::str::from_utf8(&op[..end]).ok()?.parse().ok()?;
            Some(opcode_name(op))
        })
        .collect()
}

/// Can a request of this operation (as [`opcode_name`] names it) wait in flight on this
/// socket (a TCP listener, or a bound UDP socket)? Only what the kernel settles at once is
/// ruled out: on a listener, connect (already in use), read and readv (not connected: no
/// poll is armed), write and writev (the same); on a UDP socket, connect (set at once).
/// Anything else (accept and send with a poll first, recv, poll, splice...) may wait on
/// either, and an operation whoport does not name is never ruled out.
pub fn may_wait_on(op: &str, socket: &crate::model::Socket) -> bool {
    use crate::port::Protocol;
    match socket.protocol {
        Protocol::Tcp if socket.state == Some("listen") => {
            !matches!(op, "connect" | "read" | "readv" | "write" | "writev")
        }
        Protocol::Udp | Protocol::Udplite => op != "connect",
        _ => true,
    }
}

/// The name of an io_uring operation (include/uapi/linux/io_uring.h), for those that may
/// wait on a socket; others by number.
fn opcode_name(op: u32) -> String {
    let name = match op {
        1 => "readv",
        2 => "writev",
        6 => "poll",
        9 => "sendmsg",
        10 => "recvmsg",
        13 => "accept",
        16 => "connect",
        22 => "read",
        23 => "write",
        26 => "send",
        27 => "recv",
        30 => "splice",
        33 => "tee",
        47 => "send_zc",
        48 => "sendmsg_zc",
        49 => "read_multishot",
        _ => return format!("op {op}"),
    };
    name.to_string()
}

/// How long the second look waits for the kernel's task_vma iterator before it reads
/// `/proc/PID/maps` instead: that iterator waits for every process's memory-map lock, which a
/// process stuck on a filesystem that does not answer holds indefinitely, while current
/// kernels show `/proc/PID/maps` without that lock. A normal read takes milliseconds (a few
/// hundred on a loaded machine of a thousand processes).
const MAPPINGS_BUDGET: std::time::Duration = std::time::Duration::from_secs(1);

/// The second look after the in-kernel iterator: memory mappings come from the kernel's
/// task_vma iterator where it loaded and answers within [`MAPPINGS_BUDGET`] (from
/// `/proc/PID/maps` otherwise), and only the io_uring instances the iterator reported have
/// their registered files read (a ring made during the scan is mapped by its process, and
/// walked from its mapping). Descriptors that appeared during the scan are not looked for
/// here: the iterator is read again once, last ([`look_again`]), for the sockets nothing else
/// explains, which finds those as well as the ones received from a unix socket meanwhile (it
/// visits every thread with a descriptor table of its own, so threads need no walk of their
/// own). The same answer as [`find`], without reading every descriptor link and every
/// `/proc/PID/maps` of the machine again.
pub fn find_after_iterator(
    ownerless: &HashSet<u32>,
    shared: &mut super::bpf::Shared,
) -> (HashMap<u32, (Vec<u32>, Holding)>, RingClues) {
    let mut search = Search::of(ownerless);
    if search.left.is_empty() {
        return (search.found, RingClues::default());
    }
    let Ok(iterator) = shared.get() else {
        return find(ownerless, (linux::Seen::default(), false), shared);
    };
    let (maps, mapped_rings, maps_unread) =
        match iterator.mappings_within(&search.left, MAPPINGS_BUDGET) {
            Some(found) => (found.sockets, found.rings, super::maps::Unread::default()),
            None => mappings(&search.left),
        };
    let read = read_rings(&iterator.rings, &search.left);
    search.keep(maps, Holding::Mapping);
    search.keep(read.registered, Holding::IoUring);
    let in_tables = !iterator.rings.is_empty();
    let seen = pids_with_rings(&iterator.rings, &mapped_rings);
    let read_all = rings_read(&seen, &iterator.rings, &read.unread, true);
    let closed = closed_rings(&mapped_rings, &read.inodes);
    let mut clues = inside_rings(
        &mut search,
        (
            in_tables,
            !read.unread.is_empty(),
            (&seen, &read_all),
            shared,
        ),
        (read.requests, read.cut),
        closed,
    );
    clues.maps_unread = maps_unread;
    (search.found, clues)
}

/// The owners of `inodes` now, looked for once more under the deadline: the iterator read
/// again, or the walk of the processes that ran since the first one (`activity`). For
/// sockets that were in no table at the second look and in no unix socket queue after it:
/// received in between, they are in their receiver's table. After the iterator this is also
/// the look for descriptors created or passed during the scan (one read again serves both).
/// `None` when no look could be made (not in time, or the walk failed): then nothing is
/// known of the tables.
#[allow(clippy::type_complexity)]
pub fn look_again(
    inodes: HashSet<u32>,
    iterator: Option<super::bpf::Loaded>,
    activity: HashMap<u32, super::activity::Activity>,
    deadline: super::deadline::Deadline,
) -> (
    Option<HashMap<u32, (Vec<u32>, Holding)>>,
    Option<super::bpf::Loaded>,
) {
    static AGAIN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if inodes.is_empty() {
        return (Some(HashMap::new()), iterator);
    }
    let looked = deadline.run_alone(&AGAIN, move || {
        let mut iterator = iterator;
        // The walk answers when the iterator cannot be read (its programs held by a read that
        // did not end in time).
        let found = match iterator.as_mut().map(|iterator| iterator.again(&inodes)) {
            Some(Ok(found)) => Some(found),
            _ => linux::walk_fds_since(Some(&inodes), linux::Since::Skip(&activity))
                .ok()
                .map(|w| w.pids),
        };
        (found, iterator)
    });
    // Not in time: the iterator stays with the look that did not end.
    let Some((found, iterator)) = looked else {
        return (None, None);
    };
    let found = found.map(|found| {
        found
            .into_iter()
            .filter(|(_, pids)| !pids.is_empty())
            .map(|(inode, pids)| (inode, (pids, Holding::LateDescriptor)))
            .collect()
    });
    (found, iterator)
}

/// An io_uring descriptor's fdinfo, and whether the kernel wrote all of it. The kernel
/// writes what is past the generic lines (`SqMask:`, the registered files, the requests in
/// flight) only when it takes the ring's lock at once; another reader of the same fdinfo (a
/// second whoport, a monitoring agent) or the ring's own work may hold it. Read again,
/// briefly (about 0.3 s at most), while the descriptor is still a ring, before settling for
/// the text without it.
fn read_ring(ring: &linux::Ring) -> Option<(Vec<u8>, bool)> {
    let path = ring.fdinfo();
    let complete = |text: &[u8]| {
        memchr::memmem::find(text, b"SqMask:").is_some()
            && memchr::memmem::find(text, b"UserFiles:").is_some()
    };
    let mut text = read_proc(&path)?;
    for attempt in 1..=14u64 {
        if complete(&text) {
            return Some((text, true));
        }
        // Not a ring any more (the descriptor was closed and its number reused since).
        if !is_ring_link(ring) {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(attempt * 3));
        text = read_proc(&path)?;
    }
    let done = complete(&text);
    Some((text, done))
}

/// Is this descriptor (still) an io_uring instance?
fn is_ring_link(ring: &linux::Ring) -> bool {
    std::fs::read_link(ring.link()).is_ok_and(|l| {
        use std::os::unix::ffi::OsStrExt;
        l.as_os_str().as_bytes() == linux::RING_LINK
    })
}

fn push(map: &mut HashMap<u32, Vec<u32>>, inode: u32, pid: u32) {
    let pids = map.entry(inode).or_default();
    if !pids.contains(&pid) {
        pids.push(pid);
    }
}

/// Which of these sockets (protocol, local port, inode) the kernel still has: asked again
/// with one kernel-filtered dump per protocol (its ports in one filter, in chunks of
/// [`super::diag::MAX_FILTERED_PORTS`]), however many ports are asked about. A dump that
/// fails establishes nothing: then every socket counts as still there.
pub fn still_there(sockets: &[(crate::port::Protocol, u16, u32)]) -> HashSet<u32> {
    let mut ports: Vec<(crate::port::Protocol, u16)> =
        sockets.iter().map(|&(p, port, _)| (p, port)).collect();
    ports.sort_unstable();
    ports.dedup();
    let all = || sockets.iter().map(|s| s.2).collect();
    let mut there = HashSet::new();
    for same in ports.chunk_by(|a, b| a.0 == b.0) {
        let protocol = same[0].0;
        let numbers: Vec<u16> = same.iter().map(|&(_, port)| port).collect();
        for chunk in numbers.chunks(super::diag::MAX_FILTERED_PORTS) {
            match super::diag::dump_ports(protocol, !1, chunk) {
                Ok(found) => there.extend(found.into_iter().map(|s| s.inode)),
                Err(_) => return all(),
            }
        }
    }
    there
}

/// What whoport knows about its own view, read once, to say why a socket has no owner.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub root: bool,
    pub uid: Option<u32>,
    /// whoport's PID namespace is the machine's first one: no process is out of its sight.
    pub initial_pid_namespace: bool,
    /// whoport's user namespace is the machine's first one.
    pub initial_user_namespace: bool,
    /// CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH in whoport's effective set.
    pub can_ptrace: bool,
    pub can_read_search: bool,
    /// Processes whose descriptors could not be read (some of their PIDs, and how many).
    pub unreadable_pids: Vec<u32>,
    pub unreadable: usize,
    /// Every task's descriptor table was read in the kernel (the iterator, or a read again
    /// for this socket), whatever `/proc` lets this user read.
    pub every_table: bool,
}

/// The inode numbers the kernel gives its first namespaces (include/linux/proc_ns.h).
const PROC_USER_INIT_INO: &[u8] = b"user:[4026531837]";
const PROC_PID_INIT_INO: &[u8] = b"pid:[4026531836]";

impl View {
    pub fn read(
        root: bool,
        uid: Option<u32>,
        unreadable_pids: Vec<u32>,
        unreadable: usize,
    ) -> View {
        let ns = |name: &str| std::fs::read_link(format!("/proc/self/ns/{name}")).ok();
        let is = |link: Option<std::path::PathBuf>, init: &[u8]| {
            use std::os::unix::ffi::OsStrExt;
            link.is_some_and(|l| l.as_os_str().as_bytes() == init)
        };
        let caps = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                let line = s.lines().find(|l| l.starts_with("CapEff:"))?.to_string();
                u64::from_str_radix(line.trim_start_matches("CapEff:").trim(), 16).ok()
            })
            .unwrap_or(0);
        const CAP_DAC_READ_SEARCH: u32 = 2;
        const CAP_SYS_PTRACE: u32 = 19;
        View {
            root,
            uid,
            initial_pid_namespace: is(ns("pid"), PROC_PID_INIT_INO),
            initial_user_namespace: is(ns("user"), PROC_USER_INIT_INO),
            can_ptrace: caps & (1 << CAP_SYS_PTRACE) != 0,
            can_read_search: caps & (1 << CAP_DAC_READ_SEARCH) != 0,
            unreadable_pids,
            unreadable,
            every_table: false,
        }
    }

    /// Why a socket with an inode, that no process holds after the second look, has no owner:
    /// the first fact that explains it, in the order of certainty.
    pub fn reason(&self, socket_uid: Option<u32>, still_there: bool) -> Hidden {
        if !still_there {
            return Hidden::ClosedDuringScan;
        }
        if !self.root {
            if socket_uid.is_some() && socket_uid != self.uid {
                // Read in the kernel, no table holds it: that much was established for
                // another user's socket too.
                return if self.every_table && self.initial_pid_namespace {
                    Hidden::NotFoundForOtherUser(Default::default())
                } else {
                    Hidden::NotRoot
                };
            }
            // Our own processes are readable to us, but not from a user namespace: there the
            // kernel keeps the descriptors of every process outside it, even this user's, so
            // "no process of this user holds it" was not established.
            if !self.initial_user_namespace && self.unreadable > 0 {
                return Hidden::Unreadable {
                    pids: self.unreadable_pids.clone(),
                    count: self.unreadable,
                    why: USER_NAMESPACE_NOT_ROOT.to_string(),
                };
            }
        } else if self.unreadable > 0 {
            let why = if !self.initial_user_namespace {
                "whoport runs in a user namespace whose root is not the machine's root"
            } else if !self.can_ptrace || !self.can_read_search {
                "whoport lacks CAP_SYS_PTRACE or CAP_DAC_READ_SEARCH"
            } else {
                "refused to root with every capability: a security module (LSM) or a \
                 process in another user namespace"
            };
            return Hidden::Unreadable {
                pids: self.unreadable_pids.clone(),
                count: self.unreadable,
                why: why.to_string(),
            };
        }
        if !self.initial_pid_namespace {
            return Hidden::OtherPidNamespace;
        }
        if self.root {
            Hidden::NotVisibleToRoot(Default::default())
        } else {
            Hidden::NotFoundForUser(Default::default())
        }
    }
}

/// The uid the kernel shows for a uid that has no mapping in this user namespace
/// (`/proc/sys/kernel/overflowuid`), when whoport's namespace does not map it: then a socket
/// or process uid equal to it is unknown, not that user's.
pub fn unmapped_uid() -> Option<u32> {
    let overflow: u32 = std::fs::read_to_string("/proc/sys/kernel/overflowuid")
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let map = std::fs::read_to_string("/proc/self/uid_map").ok()?;
    let mapped = map.lines().any(|l| {
        let f: Vec<u64> = l
            .split_ascii_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        f.len() == 3 && (f[0]..f[0] + f[2]).contains(&u64::from(overflow))
    });
    (!mapped).then_some(overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_are_found_in_maps_lines_and_files_named_like_them_are_not() {
        let line = |l: &str| mapped_socket(l.as_bytes());
        assert_eq!(
            line("7f9c282f7000-7f9c282f8000 r--s 00000000 00:09 22559662                   socket:[22559662]"),
            Some(22559662)
        );
        assert_eq!(line("7f00-7f01 r-xp 00000000 08:01 1 /usr/lib/x.so"), None);
        // A file another user named after root's socket is not that socket.
        assert_eq!(
            line("7f00-7f01 r--s 00000000 08:01 77 /tmp/socket:[22559662]"),
            None
        );
        assert_eq!(
            line("7f00-7f01 r--s 00000000 08:01 77 /tmp/a socket:[22559662]"),
            None
        );
        assert_eq!(
            line("7f00-7f01 r--s 00000000 08:01 77   socket:[22559662]"),
            None
        );
        assert_eq!(
            line("7f00-7f01 r--s 00000000 00:09 22559662 socket:[22559662] (deleted)"),
            None
        );
        assert_eq!(line("socket:[1]"), None);
        assert_eq!(line(""), None);
    }

    #[test]
    fn sockets_are_found_among_registered_files_only() {
        let fdinfo = [
            "pos:\t0\nSqMask:\t0x3\nSQEs:\t1\n    0: opcode:READ, fd:3 socket:[9]\n",
            "UserFiles:\t4\n    0: socket:[22559734]\n    1: /tmp/socket:[11]\n",
            "    2: /tmp/x\\040socket:[12]\n   13: socket:[13]\n",
            "65535: socket:[15]\n",
            "UserBufs:\t1\n    0: socket:[14]\nPollList:\n",
        ]
        .concat();
        let found: Vec<u32> = registered_sockets(fdinfo.as_bytes()).collect();
        assert_eq!(found, vec![22559734, 13, 15]);
        assert_eq!(
            registered_sockets(b"UserFiles:\t0\nUserBufs:\t0\n").count(),
            0
        );
        assert_eq!(
            registered_sockets(b"    0: socket:[1]\n").count(),
            0,
            "no section"
        );
    }

    #[test]
    fn requests_in_flight_are_read_from_the_poll_list() {
        let fdinfo = [
            "pos:\t0\nino:\t134728967\nSqMask:\t0x3\nSQEs:\t1\n  op=13, task_works=0\n",
            "UserFiles:\t0\nUserBufs:\t0\nPollList:\n  op=13, task_works=0\n",
            "  op=27, task_works=1\n  op=13, task_works=0\n  op=99, task_works=0\n  op=x\n",
            "CqOverflowList:\n  op=6, task_works=0\n",
        ]
        .concat();
        assert_eq!(
            requests_in_flight(fdinfo.as_bytes()),
            vec!["accept", "recv", "accept", "op 99"]
        );
        assert_eq!(ring_inode(fdinfo.as_bytes()), Some(134728967));
        assert!(requests_in_flight(b"PollList:\nCqOverflowList:\n").is_empty());
        assert!(
            requests_in_flight(b"  op=13, task_works=0\n").is_empty(),
            "no section"
        );
    }

    #[test]
    fn a_worker_is_busy_only_away_from_its_idle_loop() {
        assert!(worker_is_busy("pipe_wait_readable"));
        assert!(!worker_is_busy("io_wq_worker"));
        assert!(!worker_is_busy("0"));
        assert!(!worker_is_busy(""));
    }

    #[test]
    fn rings_are_found_in_maps_lines_only_by_their_exact_name() {
        let line = |l: &str| mapped_ring(l.as_bytes());
        assert_eq!(
            line("7f08-7f09 rw-s 00000000 00:10 134728967                  anon_inode:[io_uring]"),
            Some((134728967, 0x7f08))
        );
        assert_eq!(
            line("7f08-7f09 rw-s 00000000 08:01 77 /tmp/anon_inode:[io_uring]"),
            None
        );
        assert_eq!(
            line("7f08-7f09 rw-s 00000000 08:01 77 /tmp/x anon_inode:[io_uring]"),
            None
        );
        assert_eq!(
            line("7f08-7f09 rw-s 00000000 00:10 5 anon_inode:[eventfd]"),
            None
        );
        assert_eq!(line("anon_inode:[io_uring]"), None);
        let mapped = HashMap::from([
            (7, vec![(10, 0x1000), (11, 0x2000)]),
            (8, vec![(10, 0x1000)]),
            (9, vec![(12, 0x3000)]),
        ]);
        let ring = |pid, address| super::super::io_uring::MappedRing { pid, address };
        assert_eq!(
            closed_rings(&mapped, &HashSet::from([10, 12])),
            vec![ring(7, 0x2000)]
        );
    }

    #[test]
    fn reasons_follow_what_was_established() {
        let root = View {
            root: true,
            uid: Some(0),
            initial_pid_namespace: true,
            initial_user_namespace: true,
            can_ptrace: true,
            can_read_search: true,
            ..View::default()
        };
        assert_eq!(root.reason(Some(0), false), Hidden::ClosedDuringScan);
        assert_eq!(
            root.reason(Some(0), true),
            Hidden::NotVisibleToRoot(Default::default())
        );
        let contained = View {
            initial_pid_namespace: false,
            ..root.clone()
        };
        assert_eq!(contained.reason(Some(0), true), Hidden::OtherPidNamespace);
        let lsm = View {
            unreadable_pids: vec![42],
            unreadable: 1,
            ..root.clone()
        };
        match lsm.reason(Some(0), true) {
            Hidden::Unreadable { pids, why, .. } => {
                assert_eq!(pids, vec![42]);
                assert!(why.contains("LSM"), "{why}");
            }
            other => panic!("{other:?}"),
        }
        let userns = View {
            initial_user_namespace: false,
            ..lsm.clone()
        };
        assert!(matches!(
            userns.reason(Some(0), true),
            Hidden::Unreadable { why, .. } if why.contains("user namespace")
        ));
        let user = View {
            root: false,
            uid: Some(1000),
            ..root.clone()
        };
        assert_eq!(user.reason(Some(0), true), Hidden::NotRoot);
        assert_eq!(
            user.reason(Some(1000), true),
            Hidden::NotFoundForUser(Default::default())
        );
        // In a user namespace this user's processes outside it are not readable either: its
        // own socket is not said to be held by none of them.
        let user_in_userns = View {
            initial_user_namespace: false,
            unreadable_pids: vec![42],
            unreadable: 1,
            ..user.clone()
        };
        assert!(matches!(
            user_in_userns.reason(Some(1000), true),
            Hidden::Unreadable { why, .. } if why == USER_NAMESPACE_NOT_ROOT
        ));
        assert_eq!(user_in_userns.reason(Some(0), true), Hidden::NotRoot);
        let nothing_unread = View {
            unreadable: 0,
            unreadable_pids: Vec::new(),
            ..user_in_userns
        };
        assert_eq!(
            nothing_unread.reason(Some(1000), true),
            Hidden::NotFoundForUser(Default::default())
        );
    }
}
