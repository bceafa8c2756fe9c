//! The second look at sockets no process-level descriptor holds, whichever method found the
//! owners (`/proc` walk or BPF iterator): descriptors that appeared during the scan (in any
//! thread's table), memory mappings ([`super::maps`]) and io_uring registered files
//! ([`super::ring_fdinfo`], [`super::io_uring`]); for what is still ownerless, what is known
//! of the rings that may hold it ([`super::ring_clues`]) and the reason whoport could
//! establish ([`super::view`]). Runs only when sockets are still ownerless, so a machine
//! where every socket is found pays nothing.

use crate::hash::{HashMap, HashMapExt, HashSet, HashSetExt};

use super::linux;
use super::maps::MappedRings;
use super::ring_clues::{blocked_workers, RingClues};
use super::ring_fdinfo::{read_rings, Requests};

pub use super::ring_fdinfo::registered_in;
pub use super::view::{unmapped_uid, View};

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
/// `unread_tables`: how many processes' descriptor tables the walk could not read, and some
/// of their PIDs.
pub fn find(
    ownerless: &HashSet<u32>,
    (seen, unread_tables): (linux::Seen, (usize, &[u32])),
    loaded: &mut super::bpf::Shared,
) -> (HashMap<u32, (Vec<u32>, Holding)>, RingClues) {
    let tables_unread = unread_tables.0 > 0;
    let mut search = Search::of(ownerless);
    if search.left.is_empty() {
        return (search.found, RingClues::default());
    }
    let mut rings = seen.rings;
    // Created or passed during the scan: walked again, only these inodes, in the processes
    // that ran since (the io_uring instances created meanwhile are noted on the way).
    let since = linux::Since::Skip(&seen.activity);
    let mut churned = 0;
    if let Ok(again) = linux::walk_fds_since(Some(&search.left), since) {
        search.keep(again.pids, Holding::LateDescriptor);
        rings.extend(again.seen.rings);
        // Held, all along, by processes that started after that listing: read in turn.
        if !search.left.is_empty() {
            let caught = super::churn::catch_up(&search.left, &again.listed);
            search.keep(caught.found, Holding::LateDescriptor);
            churned = caught.churned;
        }
    }
    let mut clues = RingClues::default();
    if !search.left.is_empty() {
        let (mut maps, mut mapped_rings, mut maps_unread) = mappings(&search.left);
        // Some processes' /proc/PID/maps refused this user, or a file is mounted over them
        // (not read through): read in the kernel instead where it may be asked (as after the
        // iterator), so that both lookups read the same.
        let not_read = maps_unread.refused > 0 || !maps_unread.covered.is_empty();
        if not_read && kernel_may_be_asked() {
            if let Some(found) = loaded
                .get()
                .ok()
                .and_then(|l| l.mappings_within(&search.left, MAPPINGS_BUDGET))
            {
                (maps, mapped_rings) = (found.sockets, found.rings);
                maps_unread = super::maps::Unread::default();
            }
        }
        let read = read_rings(&rings, &search.left);
        if tables_unread {
            let described = in_unread_tables([&maps, &read.registered], loaded);
            search.keep(described, Holding::LateDescriptor);
        }
        search.keep(maps, Holding::Mapping);
        search.keep(read.registered, Holding::IoUring);
        let closed = closed_rings(&mapped_rings, &read.inodes);
        let seen = pids_with_rings(&rings, &mapped_rings);
        let read_all = rings_read(&seen, &rings, (&read.unread, &read.cut), false);
        let unread = !read.unread.is_empty()
            || (tables_unread && kernel_visits_unread(&mut search, unread_tables, loaded));
        clues = inside_rings(
            &mut search,
            (!rings.is_empty(), unread, (&seen, &read_all), loaded),
            (read.requests, read.cut),
            closed,
        );
        clues.maps_unread = maps_unread;
    }
    clues.churned = churned;
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
                // were all walked to the end (its process counts as one whose rings were not
                // read, so they are: see rings_read).
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
                let (closed, tables_unread) = super::ring_clues::split_unread_tables(pids);
                RingClues {
                    not_looked: Some(why),
                    requests,
                    closed,
                    tables_unread,
                    workers: blocked_workers(rings_seen),
                    ..RingClues::default()
                }
            }
        };
    cut.sort_unstable();
    cut.dedup();
    RingClues { cut, ..clues }
}

/// Of the processes with rings whoport saw (`seen`), those whose rings it read: every ring
/// in their descriptor tables had its fdinfo read (not another user's process, seen by the
/// in-kernel iterator or by its mapping: `unread`), to the end (not `cut`), and their tables
/// were read (`tables_read`: by the
/// in-kernel iterator; otherwise a table with a ring in it, or one `/proc` lets whoport read
/// now). Without the others, the in-kernel look walks their rings as it walks those of a
/// process whoport saw none of.
fn rings_read(
    seen: &HashSet<u32>,
    in_tables: &[linux::Ring],
    (unread, cut): (&HashSet<u32>, &[linux::Ring]),
    tables_read: bool,
) -> HashSet<u32> {
    seen.iter()
        .copied()
        .filter(|pid| !unread.contains(pid) && !cut.iter().any(|r| r.pid == *pid))
        .filter(|&pid| {
            tables_read
                || in_tables.iter().any(|r| r.pid == pid)
                || super::proc_dir::open_dir(&format!("/proc/{pid}/fd")).is_ok()
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

/// The `wanted` sockets in the memory mappings (`/proc/PID/maps`) of every visible process,
/// and the io_uring instances each maps, each process within its own time (see
/// [`super::maps`]).
fn mappings(wanted: &HashSet<u32>) -> (HashMap<u32, Vec<u32>>, MappedRings, super::maps::Unread) {
    let read = super::maps::read_all(wanted);
    (read.sockets, read.rings, read.unread)
}

/// The in-kernel looks may run here: not turned off, the capabilities held, PIDs as `/proc`
/// numbers them, and the kernel's BTF.
/// Where the walk could not read some descriptor tables, the holders by descriptor of the
/// sockets `found` held otherwise (a mapping, a ring's registered files), read in the kernel
/// where it may be asked: a table the walk could not read may hold one too, and the in-kernel
/// lookup would name its holders, by descriptor. Empty where the kernel may not be asked.
fn in_unread_tables<const N: usize>(
    found: [&HashMap<u32, Vec<u32>>; N],
    loaded: &mut super::bpf::Shared,
) -> HashMap<u32, Vec<u32>> {
    let wanted: HashSet<u32> = found.iter().flat_map(|f| f.keys()).copied().collect();
    if wanted.is_empty() || !kernel_may_be_asked() {
        return HashMap::new();
    }
    loaded
        .get()
        .ok()
        .and_then(|l| l.again(&wanted).ok())
        .unwrap_or_default()
}

/// Whether the kernel's task iterators visit some process whose descriptor table the walk
/// could not read (`unread`: how many, and some of their PIDs), so that the registered files
/// of the rings in those tables are worth reading in the kernel: a process they never visit
/// (a sandbox's PID 1, on some machines) has its table read nowhere, and verifying that
/// program costs tens of milliseconds. Told by one pass of the owner program for the sockets
/// still looked for, whose holders by descriptor it finds are kept. True wherever that cannot
/// be told: not every such PID is known, or the kernel may not be asked.
fn kernel_visits_unread(
    search: &mut Search,
    (count, pids): (usize, &[u32]),
    loaded: &mut super::bpf::Shared,
) -> bool {
    if pids.len() < count || search.left.is_empty() || !kernel_may_be_asked() {
        return true;
    }
    let Ok(iterator) = loaded.get() else {
        return true;
    };
    let Ok(found) = iterator.again(&search.left) else {
        return true;
    };
    let visited = std::mem::take(&mut iterator.visited);
    search.keep(found, Holding::LateDescriptor);
    pids.iter().any(|pid| visited.contains(pid))
}

pub(super) fn kernel_may_be_asked() -> bool {
    let no_bpf = std::env::var("WHOPORT_NO_BPF").unwrap_or_default();
    (no_bpf.is_empty() || no_bpf == "0")
        && super::owners::may_use_bpf()
        && super::owners::pids_as_proc_numbers_them().is_ok()
        && super::btf_file::present().is_ok()
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
        return find(ownerless, (linux::Seen::default(), (0, &[])), shared);
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
    let read_all = rings_read(&seen, &iterator.rings, (&read.unread, &read.cut), true);
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

/// What [`look_again`] found: the owners of the sockets looked for (`None` when no look could
/// be made: not in time, or the walk failed), the loaded objects back from the look (none
/// when it did not end in time), and what the other network namespaces' unix socket queues
/// held when they were read in the same pass (`None`: not asked for, or not in time).
pub struct Again {
    pub found: Option<HashMap<u32, (Vec<u32>, Holding)>>,
    pub iterator: Option<super::bpf::Loaded>,
    pub queues: Option<Result<super::in_flight::Carried, String>>,
}

/// The owners of `inodes` now, looked for once more under the deadline: the iterator read
/// again, or the walk of the processes that ran since the first one (`activity`). For
/// sockets that were in no table at the second look and in no unix socket queue after it:
/// received in between, they are in their receiver's table. After the iterator this is also
/// the look for descriptors created or passed during the scan (one read again serves both).
/// With `queues`, the iterator's pass reads the other network namespaces' unix socket queues
/// too (one pass over every descriptor of the machine for both looks).
pub fn look_again(
    inodes: HashSet<u32>,
    (iterator, queues): (Option<super::bpf::Loaded>, bool),
    activity: HashMap<u32, super::activity::Activity>,
    deadline: super::deadline::Deadline,
) -> Again {
    static AGAIN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if inodes.is_empty() && !queues {
        return Again {
            found: Some(HashMap::new()),
            iterator,
            queues: None,
        };
    }
    let looked = deadline.run_alone(&AGAIN, move || {
        let mut iterator = iterator;
        let (read, carried) = match iterator.as_mut() {
            Some(iterator) => read_again(iterator, &inodes, queues),
            None => (None, None),
        };
        // The walk answers when the iterator cannot be read (its programs held by a read that
        // did not end in time).
        let found = read.or_else(|| {
            linux::walk_fds_since(Some(&inodes), linux::Since::Skip(&activity))
                .ok()
                .map(|w| w.pids)
        });
        (found, iterator, carried)
    });
    // Not in time: the iterator stays with the look that did not end.
    let Some((found, iterator, queues)) = looked else {
        return Again {
            found: None,
            iterator: None,
            queues: None,
        };
    };
    let found = found.map(|found| {
        found
            .into_iter()
            .filter(|(_, pids)| !pids.is_empty())
            .map(|(inode, pids)| (inode, (pids, Holding::LateDescriptor)))
            .collect()
    });
    Again {
        found,
        iterator,
        queues,
    }
}

/// The iterator read again for `inodes` (`None`: it could not be read); with `queues`, by the
/// program that reads the other network namespaces' unix socket queues in the same pass, with
/// what they hold, or why they could not be read (then the owner program is read alone).
#[allow(clippy::type_complexity)]
fn read_again(
    iterator: &mut super::bpf::Loaded,
    inodes: &HashSet<u32>,
    queues: bool,
) -> (
    Option<HashMap<u32, Vec<u32>>>,
    Option<Result<super::in_flight::Carried, String>>,
) {
    let mut carried = None;
    if queues {
        let mut found = super::in_flight::Carried::default();
        let read = iterator.again_with_queues(inodes, &mut |receiver, what| {
            super::in_flight::add_pair(&mut found, receiver, what);
        });
        match read {
            Ok(tables) => return (Some(tables), Some(Ok(found))),
            Err(e) => carried = Some(Err(super::bpf::explain(&e))),
        }
    }
    (iterator.again(inodes).ok(), carried)
}

/// Which of these sockets (protocol, local port, inode) the kernel still has: asked again
/// with one kernel-filtered dump per protocol (its ports in one filter, in chunks of
/// [`super::diag::MAX_FILTERED_PORTS`]), however many ports are asked about. TCP is asked
/// first for listeners alone, which the kernel answers from its listening table without
/// walking every connection of the machine; only ports with a socket not found there are
/// asked again in every state (a listener shut down is still open). A dump that fails
/// establishes nothing: then every socket counts as still there.
pub fn still_there(sockets: &[(crate::port::Protocol, u16, u32)]) -> HashSet<u32> {
    use crate::port::Protocol;
    /// The kernel's TCP_LISTEN state, as a mask.
    const LISTENING: u32 = 1 << 10;
    let all = || sockets.iter().map(|s| s.2).collect();
    let mut there = HashSet::new();
    let ask = |protocol: Protocol, states: u32, ports: &[u16], there: &mut HashSet<u32>| {
        for chunk in ports.chunks(super::diag::MAX_FILTERED_PORTS) {
            let found = super::diag::dump_ports(protocol, states, chunk).map_err(|_| ())?;
            there.extend(found.into_iter().map(|s| s.inode));
        }
        Ok::<(), ()>(())
    };
    let ports_of = |wanted: &dyn Fn(&(Protocol, u16, u32)) -> bool| {
        let mut ports: Vec<(Protocol, u16)> = sockets
            .iter()
            .filter(|s| wanted(s))
            .map(|&(p, port, _)| (p, port))
            .collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    };
    let listening: Vec<u16> = ports_of(&|s| s.0 == Protocol::Tcp)
        .into_iter()
        .map(|(_, port)| port)
        .collect();
    if !listening.is_empty() && ask(Protocol::Tcp, LISTENING, &listening, &mut there).is_err() {
        return all();
    }
    // Sockets not found among listeners, and every other protocol: every state.
    let rest = ports_of(&|s| !there.contains(&s.2));
    for same in rest.chunk_by(|a, b| a.0 == b.0) {
        let numbers: Vec<u16> = same.iter().map(|&(_, port)| port).collect();
        if ask(same[0].0, !1, &numbers, &mut there).is_err() {
            return all();
        }
    }
    there
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real listener: still there while it listens, still there once shut down (open, no
    /// longer listening: found by the second ask in every state), gone once closed.
    #[test]
    fn a_listener_is_still_there_until_it_is_closed() {
        use std::os::fd::AsRawFd;
        // A port asked for by number: one the kernel chose is given back when the listener
        // is shut down (the socket is then in no table at all).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind");
        let inode =
            u32::try_from(rustix::fs::fstat(&listener).expect("fstat").st_ino).expect("an inode");
        let asked = [(crate::port::Protocol::Tcp, port, inode)];
        assert!(still_there(&asked).contains(&inode));
        let socket = socket2::SockRef::from(&listener);
        socket
            .shutdown(std::net::Shutdown::Read)
            .expect("shut down");
        assert!(
            still_there(&asked).contains(&inode),
            "{}",
            listener.as_raw_fd()
        );
        drop(listener);
        assert!(!still_there(&asked).contains(&inode));
    }

    #[test]
    fn rings_mapped_without_a_descriptor_are_the_closed_ones() {
        let mapped = HashMap::from_iter([
            (7, vec![(10, 0x1000), (11, 0x2000)]),
            (8, vec![(10, 0x1000)]),
            (9, vec![(12, 0x3000)]),
        ]);
        let ring = |pid, address| super::super::io_uring::MappedRing { pid, address };
        assert_eq!(
            closed_rings(&mapped, &HashSet::from_iter([10, 12])),
            vec![ring(7, 0x2000)]
        );
    }
}
