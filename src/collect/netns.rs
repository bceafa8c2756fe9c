//! Sockets of other network namespaces held by processes of this one: a process that created
//! a listener inside another namespace (`ip netns exec`, `unshare`/`setns` and back) holds a
//! socket that no dump of this namespace returns. A socket is called another namespace's only
//! on positive evidence, never because a dump of this namespace missed it (a dump resumed
//! inside an `SO_REUSEPORT` group that churns skips sockets of this namespace too):
//!
//! 1. the socket descriptors the walk saw, less every socket the dumps of this namespace
//!    returned (TCP and UDP in every state, unix, netlink and packet sockets), held by
//!    processes of this namespace, are the candidates;
//! 2. with the in-kernel lookup, the iterator read each socket's own network namespace
//!    (`sk->sk_net`) where it differs from its holder's: exact (the walk asks the kernel the
//!    same of the candidates that no table below places, where it may: `socket_netns.rs`);
//! 3. the candidates are looked for in the socket tables of the other namespaces that a task
//!    lives in (`/proc/PID/task/TID/net/{tcp,tcp6,udp,udp6,udplite,udplite6}`: the holders'
//!    own threads first, then one process per namespace): found there, a socket is that
//!    namespace's, and the table says what it does. A table is read only when it is provably
//!    not this namespace's (its inode differs from `/proc/self/net`'s own: the file read is
//!    the namespace's, whatever the task does meanwhile). Then the namespaces no process
//!    lives in but a bind mount keeps (`mounted_netns.rs`: a thread of whoport's own enters
//!    each and reads its tables).
//!
//! Nothing is done to any process or socket: no descriptor is copied. A machine where every
//! socket is explained pays for the three small dumps only.

use crate::hash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::io::BufRead;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;

use rustix::fs::{openat, Dir, Mode, OFlags};
use rustix::io::Errno;

use super::linux;
use crate::port::Protocol;

/// At most this many other network namespaces have their tables read in one run.
pub const MAX_NAMESPACES: usize = 64;
/// At most this many processes are named (each with at most [`NAMED_SOCKETS`] sockets).
const NAMED_PROCESSES: usize = 8;
const NAMED_SOCKETS: usize = 4;

/// A socket of another network namespace, established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Foreign {
    pub protocol: Protocol,
    pub local: SocketAddr,
    pub kind: Kind,
}

/// What a socket with a local port is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A TCP listener.
    Listening,
    /// Bound, neither listening nor connected (a UDP socket waiting for datagrams).
    Bound,
    /// Connected to this peer.
    Connected(SocketAddr),
}

/// What the look established.
#[derive(Debug, Default)]
pub struct Findings {
    /// The processes of this namespace holding sockets of others (sorted by PID).
    pub holders: Vec<Holder>,
    /// Every process was looked at for the namespaces to read (not cut short by
    /// [`MAX_NAMESPACES`]).
    pub every_process_seen: bool,
    /// How many processes' network namespaces could not be established: neither their
    /// namespace link nor their TCP table could be read (something mounted over both, or
    /// `hidepid`). A namespace only they live in looks like one no process lives in.
    pub namespaces_refused: usize,
    /// Sockets the walk placed in no table, when the kernel could not be asked their
    /// namespace (`socket_netns.rs`).
    pub unplaced: super::socket_netns::Unplaced,
}

/// One process's sockets of other network namespaces.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    /// Found in their namespace's tables, with what they do.
    pub sockets: Vec<Foreign>,
    /// Of another namespace (the in-kernel lookup read it) whose tables were read and do not
    /// list them: bound without listening, or not bound.
    pub unlisted: usize,
    /// Of another namespace (the in-kernel lookup read it) in which no process whoport can
    /// see lives, so no table of it could be read; and those namespaces' inodes.
    pub unreached: usize,
    pub unreached_ns: Vec<u64>,
    /// Of another namespace (the in-kernel lookup read it) where a process lives whose tables
    /// could not be read because something is mounted over them: namespace and path, one per
    /// socket.
    pub covered: Vec<(u64, String)>,
}

/// What the in-kernel lookup read of network namespaces.
#[derive(Debug, Clone, Copy)]
pub struct KernelView<'a> {
    /// Socket inode -> its namespace, for the sockets whose namespace is not their holder's.
    pub socket_netns: &'a HashMap<u32, u64>,
    /// The tasks it visited.
    pub visited: &'a HashSet<u32>,
    /// Those of them in another network namespace than whoport's, with its inode.
    pub elsewhere: &'a HashMap<u32, u64>,
}

/// Notes naming the processes of this network namespace that hold sockets of another one.
/// `held`: inode -> PIDs from the walk; `kernel`: what the in-kernel lookup read of
/// namespaces (`None` from the walk, which cannot see a socket's namespace: the kernel is
/// asked, where it may be, about the candidates no table places). `listed`: the inodes the listing's dumps returned,
/// and whether they were of some ports only. With the in-kernel lookup's namespaces no dump
/// is needed; the walk's are checked against every socket of this namespace, dumped again
/// here when the listing's were not all of them.
pub fn notes_for(
    held: &HashMap<u32, Vec<u32>>,
    (kernel, shared): (Option<KernelView<'_>>, &mut super::bpf::Shared),
    (listed, narrowed): (&HashSet<u32>, bool),
    filter: &super::Filter,
) -> Vec<String> {
    let every_table =
        filter.tcp && filter.udp && filter.udplite && filter.ipv4 && filter.ipv6 && !narrowed;
    if every_table || kernel.is_some() {
        return notes(&look(held, (kernel, shared), listed));
    }
    let every = super::sockets::Want {
        tcp: true,
        udp: true,
        udplite: true,
        ipv4: true,
        ipv6: true,
    };
    match super::diag::dump_all(every, super::sockets::Keep::Listeners, &[]) {
        Ok(all) => {
            let dumped: HashSet<u32> = listed.union(&all.seen.inodes).copied().collect();
            notes(&look(held, (kernel, shared), &dumped))
        }
        Err(_) => Vec::new(),
    }
}

/// The text of whoport's own `ns/net` link (`net:[INODE]`), never read across a mount: where
/// something is mounted over it, asked of the kernel through a socket of its own.
pub fn own_netns_link() -> Option<Vec<u8>> {
    super::proc_dir::read_link("/proc/self/ns/net")
        .ok()
        .or_else(super::bpf::sk_lookup::own_netns_link)
}

/// `held`: inode -> PIDs from the walk; `dumped`: every inode the TCP/UDP dumps of this
/// namespace returned (all states, both families), or with `socket_netns` any of them (the
/// in-kernel lookup's namespaces of the sockets say which are of another namespace).
pub fn look(
    held: &HashMap<u32, Vec<u32>>,
    (kernel, shared): (Option<KernelView<'_>>, &mut super::bpf::Shared),
    dumped: &HashSet<u32>,
) -> Findings {
    let socket_netns = kernel.map(|k| k.socket_netns);
    let mut findings = Findings::default();
    let me = super::linux::own_pid();
    // Never read across a mount: a link mounted over `/proc/PID/ns/net` is not its own.
    let Some(own_netns) = own_netns_link() else {
        return findings;
    };
    let own_inum = netns_inum(&own_netns);
    // Processes of other namespaces hold their own namespace's sockets (said elsewhere), and
    // whoport's own dump sockets are closed by now: only the other processes of this
    // namespace count, each asked once for its namespace.
    // With the in-kernel lookup, a socket the iterator did not report in another namespace
    // than its holder's is in its holder's: exact, whatever the dumps missed or were not
    // asked for.
    let elsewhere_by_kernel = |inode: &u32| {
        socket_netns.is_none_or(|map| {
            map.get(inode)
                .is_some_and(|&ns| ns != 0 && Some(ns) != own_inum)
        })
    };
    let mut holders: HashSet<u32> = held
        .iter()
        .filter(|(inode, _)| !dumped.contains(inode) && elsewhere_by_kernel(inode))
        .flat_map(|(_, pids)| pids.iter().copied())
        .filter(|&pid| pid != me)
        .collect();
    holders.retain(
        |pid| match super::proc_dir::read_link(&format!("/proc/{pid}/ns/net")) {
            Ok(ns) => ns == own_netns,
            // Not readable here (another user's process, as nobody; or something mounted over
            // it): the in-kernel lookup read every task's namespace it visited.
            Err(_) => {
                kernel.is_some_and(|k| k.visited.contains(pid) && !k.elsewhere.contains_key(pid))
            }
        },
    );
    let mut left: HashSet<u32> = held
        .iter()
        .filter(|(inode, pids)| {
            !dumped.contains(inode)
                && elsewhere_by_kernel(inode)
                && pids.iter().any(|p| holders.contains(p))
        })
        .map(|(&inode, _)| inode)
        .collect();
    let mut elsewhere: HashMap<u32, u64> = match socket_netns {
        Some(map) => left.iter().map(|i| (*i, map[i])).collect(),
        None => HashMap::new(),
    };
    for (family, protocol, inode_at) in [
        (AF_UNIX, 0, 4),
        (AF_NETLINK, NDIAG_PROTO_ALL, 16),
        (AF_PACKET, 0, 4),
    ] {
        if left.is_empty() {
            return findings;
        }
        // A kernel without one of these handlers leaves its sockets to the tables below.
        let _ = explain(family, protocol, inode_at, &mut left);
    }
    if left.is_empty() {
        return findings;
    }
    // PID -> the unexplained inodes it holds.
    let mut by_pid: HashMap<u32, HashSet<u32>> = HashMap::new();
    for &inode in &left {
        for &pid in held.get(&inode).into_iter().flatten() {
            if holders.contains(&pid) {
                by_pid.entry(pid).or_default().insert(inode);
            }
        }
    }
    let mut pids: Vec<u32> = by_pid.keys().copied().collect();
    pids.sort_unstable();
    // (The namespaces the in-kernel lookup read for them are looked for first; where it read
    // every one's, only those are read.)
    let theirs: HashSet<u64> = elsewhere.values().copied().collect();
    let only_theirs = left.iter().all(|inode| elsewhere.contains_key(inode));
    let (foreign, mut read, seen) =
        in_other_tables((&left, &theirs, only_theirs), (&pids, kernel), &own_netns);
    findings.every_process_seen = seen.complete;
    findings.namespaces_refused = seen.refused;
    if socket_netns.is_none() {
        // The walk's: what no table lists, the kernel is asked about (where it may be).
        match super::socket_netns::ask(&left, &foreign, &by_pid, shared) {
            Ok(map) => elsewhere.extend(
                map.into_iter()
                    .filter(|&(_, ns)| ns != 0 && Some(ns) != own_inum),
            ),
            Err(unplaced) => findings.unplaced = unplaced,
        }
    }
    // A socket listed in a table is of that table's namespace: where its namespace is known,
    // that namespace's tables were read (also through a task placed by its table, whose
    // namespace link could not be read).
    read.extend(foreign.keys().filter_map(|inode| elsewhere.get(inode)));
    // Every process of this namespace that holds one is named, not only the one whose
    // thread's tables showed it.
    for &pid in &pids {
        let mut holder = Holder {
            pid,
            ..Holder::default()
        };
        for inode in &by_pid[&pid] {
            if let Some(socket) = foreign.get(inode) {
                holder.sockets.push(socket.clone());
            } else if let Some(&ns) = elsewhere.get(inode) {
                if read.contains(&ns) {
                    holder.unlisted += 1;
                } else if let Some(path) = seen.covered.get(&ns) {
                    holder.covered.push((ns, path.clone()));
                } else {
                    holder.unreached += 1;
                    holder.unreached_ns.push(ns);
                }
            }
        }
        if holder.sockets.is_empty()
            && holder.unlisted == 0
            && holder.unreached == 0
            && holder.covered.is_empty()
        {
            continue;
        }
        holder.sockets.sort_by_key(|f| (f.protocol, f.local));
        holder.unreached_ns.sort_unstable();
        holder.unreached_ns.dedup();
        findings.holders.push(holder);
    }
    findings
}

/// `net:[4026531840]` -> 4026531840.
pub(super) fn netns_inum(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"net:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// The tasks whose tables are read: per network namespace other than ours, one task living in
/// it: first the holders' own threads (a thread may stay in the namespace it made sockets
/// in), then any process. `/proc` paths (`PID/task/TID` or `PID`), at most
/// [`MAX_NAMESPACES`], each with its namespace's inode (none when placed by its table, below);
/// and how far the look went ([`Seen`]).
///
/// A task whose namespace link may not be read (another user's, as non-root; PID 1 of some
/// microVMs, even to root) is placed by its TCP table instead, which anyone may read: the
/// file `/proc/PID/net/tcp` is one per namespace, so the same inode as whoport's own
/// (`own_table`) is this namespace, and another is read as any other namespace's tables
/// (without its inode). Only a task neither tells of is counted as not read.
fn tasks_elsewhere(
    holders: &[u32],
    (own, own_table, kernel): (&[u8], Option<u64>, Option<KernelView<'_>>),
    (theirs, only_theirs): (&HashSet<u64>, bool),
) -> (Vec<(String, Option<u64>)>, Seen) {
    let mut found = Placing {
        own,
        own_table,
        kernel,
        only_theirs,
        missing: theirs.clone(),
        seen: HashSet::new(),
        out: Vec::new(),
        left_out: false,
    };
    let cut = |refused| Seen {
        complete: false,
        refused,
        ..Seen::default()
    };
    for &pid in holders {
        for tid in std::iter::once(pid).chain(super::linux::other_threads(pid)) {
            if found.full() {
                return (found.out, cut(0));
            }
            let _ = found.consider(format!("{pid}/task/{tid}"));
        }
    }
    // Processes are counted, not the holders' threads above (a holder is among them).
    let mut refused = 0;
    let Ok(proc_dir) = openat(
        rustix::fs::CWD,
        "/proc",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return (found.out, cut(0));
    };
    let Ok(dir) = Dir::read_from(&proc_dir) else {
        return (found.out, cut(0));
    };
    for entry in dir.filter_map(Result::ok) {
        if found.full() {
            return (found.out, cut(refused));
        }
        let name = entry.file_name().to_bytes();
        let Some(pid) = std::str::from_utf8(name)
            .ok()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let told = match found.consider(pid.to_string()) {
            // A main thread that exited: its other threads live on, each in a namespace.
            Told::Nothing => super::linux::other_threads(pid)
                .into_iter()
                .map(|tid| found.consider(format!("{pid}/task/{tid}")))
                .min()
                .unwrap_or(Told::Nothing),
            told => told,
        };
        refused += usize::from(told == Told::Refused);
    }
    let complete = !found.left_out;
    (
        found.out,
        Seen {
            complete,
            refused,
            ..Seen::default()
        },
    )
}

/// The tasks [`tasks_elsewhere`] has taken so far: one per namespace, at most
/// [`MAX_NAMESPACES`] but for the namespaces the sockets are known to be of (`missing` until
/// one of theirs is taken), which are taken past the limit.
struct Placing<'a> {
    /// whoport's own namespace link and TCP table inode.
    own: &'a [u8],
    own_table: Option<u64>,
    /// What the in-kernel lookup read of the tasks' namespaces, where it ran.
    kernel: Option<KernelView<'a>>,
    /// Only the namespaces in `missing` matter (the in-kernel lookup read every socket's):
    /// leaving another out, whose inode is known, leaves nothing unread.
    only_theirs: bool,
    missing: HashSet<u64>,
    /// The namespace links (or `table:INODE`) taken.
    seen: HashSet<Vec<u8>>,
    out: Vec<(String, Option<u64>)>,
    /// A namespace was left out by the limit.
    left_out: bool,
}

impl Placing<'_> {
    /// Nothing more to take: the limit is reached and no namespace of the sockets is missing.
    fn full(&self) -> bool {
        self.out.len() >= MAX_NAMESPACES && self.missing.is_empty()
    }

    /// What the task's namespace link, or its table, told; a task of a namespace not taken yet
    /// is taken.
    fn consider(&mut self, base: String) -> Told {
        let mut link = [0u8; 64];
        match super::proc_dir::read_link_into(&format!("/proc/{base}/ns/net"), &mut link) {
            Ok(n) => {
                if &link[..n] != self.own {
                    self.take(link[..n].to_vec(), base, netns_inum(&link[..n]));
                }
                Told::Placed
            }
            Err(Errno::ACCESS | Errno::PERM) => {
                // The namespace the in-kernel lookup read for that process, where it visited it.
                let pid = base.split('/').next().and_then(|p| p.parse::<u32>().ok());
                let read = self
                    .kernel
                    .zip(pid)
                    .filter(|(k, pid)| k.visited.contains(pid));
                if let Some((k, pid)) = read {
                    if let Some(&ns) = k.elsewhere.get(&pid) {
                        self.take(format!("net:[{ns}]").into_bytes(), base, Some(ns));
                    }
                    return Told::Placed;
                }
                let table = super::proc_dir::stat_proc(&format!("/proc/{base}/net/tcp"));
                match (table, self.own_table) {
                    (Ok(st), Some(ours)) if st.st_ino == ours => Told::Placed,
                    (Ok(st), Some(_)) => {
                        self.take(format!("table:{}", st.st_ino).into_bytes(), base, None);
                        Told::Placed
                    }
                    (Err(Errno::NOENT | Errno::SRCH), _) => Told::Nothing,
                    _ => Told::Refused,
                }
            }
            // A task with no namespace (a zombie: a main thread that exited while others run
            // on), or gone.
            Err(_) => Told::Nothing,
        }
    }

    fn take(&mut self, key: Vec<u8>, base: String, ns: Option<u64>) {
        if self.seen.contains(&key) {
            return;
        }
        let theirs = ns.is_some_and(|n| self.missing.remove(&n));
        if theirs || self.out.len() < MAX_NAMESPACES {
            self.seen.insert(key);
            self.out.push((base, ns));
        } else if !(self.only_theirs && ns.is_some()) {
            self.left_out = true;
        }
    }
}

/// What a task's namespace link, or its table, told of where it lives (the best first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Told {
    Placed,
    Refused,
    /// No namespace: a zombie, or gone.
    Nothing,
}

/// How far the look for namespaces to read went.
#[derive(Debug, Clone, Default)]
struct Seen {
    /// Every process was looked at (not cut short by [`MAX_NAMESPACES`]).
    complete: bool,
    /// Processes whose namespace could not be established (see [`tasks_elsewhere`]).
    refused: usize,
    /// Namespaces whose tables could not be read through the one task tried for each, because
    /// something is mounted over them, and what is mounted over.
    covered: HashMap<u64, String>,
}

/// inode -> socket, for the `wanted` sockets found in the TCP and UDP tables of other
/// network namespaces; the namespaces whose tables were read; and how far the look went
/// ([`Seen`]). The namespaces in `theirs` (those the in-kernel lookup read for the sockets) are
/// looked for first, and with `only_theirs` (it read every socket's) no other is read.
fn in_other_tables(
    (wanted, theirs, only_theirs): (&HashSet<u32>, &HashSet<u64>, bool),
    (holders, kernel): (&[u32], Option<KernelView<'_>>),
    own: &[u8],
) -> (HashMap<u32, Foreign>, HashSet<u64>, Seen) {
    let mut found = HashMap::new();
    let mut read = HashSet::new();
    let tables = TABLES;
    // This namespace's own tables, by inode: a table of the same inode is this namespace's.
    let ours: Vec<Option<u64>> = tables
        .iter()
        .map(|(name, _)| {
            super::proc_dir::stat_proc(&format!("/proc/self/net/{name}"))
                .ok()
                .map(|st| st.st_ino)
        })
        .collect();
    let (tasks, mut looked) =
        tasks_elsewhere(holders, (own, ours[0], kernel), (theirs, only_theirs));
    let mut namespaces: HashSet<u64> = tasks.iter().filter_map(|(_, ns)| *ns).collect();
    namespaces.extend(netns_inum(own));
    let room = MAX_NAMESPACES.saturating_sub(tasks.len());
    for (base, ns) in tasks {
        // A namespace none of the sockets is of has nothing to show (one placed by its table
        // only, whose inode is not known, is read).
        if only_theirs && ns.is_some_and(|n| !theirs.contains(&n)) {
            continue;
        }
        let mut any_read = false;
        let mut opened = false;
        // The inode of the first table read (TCP's).
        let mut first = None;
        for ((name, protocol), ours) in tables.iter().zip(&ours) {
            if found.len() == wanted.len() {
                return (found, read, looked);
            }
            let Some(file) = open_table(&base, name) else {
                continue;
            };
            opened = true;
            // The file opened is bound to one namespace's table: never this one's.
            match rustix::fs::fstat(&file) {
                Ok(st) if Some(st.st_ino) != *ours => first = first.or(Some((*name, st.st_ino))),
                _ => continue,
            }
            any_read |= read_table(file, *protocol, wanted, &mut found);
        }
        // Which namespace was read is known only if the task is still in it (the PID may
        // have been reused meanwhile: what was found is still another namespace's). Where its
        // link is closed to whoport (placed by the in-kernel lookup), the table it shows now
        // is still the one read.
        let still_there = || match ns_of(&base) {
            Some(now) => Some(now) == ns,
            None => first.is_some_and(|(name, inode)| {
                super::proc_dir::stat_proc(&format!("/proc/{base}/net/{name}"))
                    .is_ok_and(|st| st.st_ino == inode)
            }),
        };
        if any_read && ns.is_some() && still_there() {
            read.extend(ns);
        }
        if let (false, Some(ns)) = (opened, ns) {
            if let Some(path) = covered_tables(&base) {
                looked.covered.entry(ns).or_insert(path);
            }
        }
    }
    // Namespaces no process lives in, kept by a bind mount: entered by a thread of their own.
    if found.len() < wanted.len() {
        let until = std::time::Instant::now() + super::mounted_netns::IN_ALL;
        // (Theirs come first, and are all entered where only they matter.)
        let limit = if only_theirs {
            room.max(theirs.len())
        } else {
            room
        };
        let (mounted, more) = super::mounted_netns::mounted((&namespaces, theirs), limit);
        // Mounts past the limit are not entered: not every namespace was looked at (where
        // only theirs matter, those left out are not theirs).
        looked.complete &= !more || only_theirs;
        for (inum, point) in mounted {
            if found.len() == wanted.len() {
                break;
            }
            if only_theirs && !theirs.contains(&inum) {
                continue;
            }
            if let Some(there) = super::mounted_netns::read(inum, point, wanted.clone(), until) {
                found.extend(there);
                read.insert(inum);
            }
        }
    }
    (found, read, looked)
}

/// The socket tables of a namespace, under `/proc/PID/net`.
pub(super) const TABLES: [(&str, Protocol); 6] = [
    ("tcp", Protocol::Tcp),
    ("tcp6", Protocol::Tcp),
    ("udp", Protocol::Udp),
    ("udp6", Protocol::Udp),
    ("udplite", Protocol::Udplite),
    ("udplite6", Protocol::Udplite),
];

/// The network namespace a task (`PID` or `PID/task/TID`) lives in.
fn ns_of(base: &str) -> Option<u64> {
    let mut link = [0u8; 64];
    let n = super::proc_dir::read_link_into(&format!("/proc/{base}/ns/net"), &mut link).ok()?;
    netns_inum(&link[..n])
}

/// What is mounted over the task's tables, where something is: its `/proc/.../net` directory,
/// or the TCP table in it.
fn covered_tables(base: &str) -> Option<String> {
    [format!("/proc/{base}/net"), format!("/proc/{base}/net/tcp")]
        .into_iter()
        .find(|path| matches!(super::proc_dir::stat_proc(path), Err(Errno::XDEV)))
}

pub(super) fn open_table(base: &str, name: &str) -> Option<OwnedFd> {
    // Never across a mount: a directory mounted over `/proc/PID/net` holds forged tables.
    super::proc_dir::open_file(&format!("/proc/{base}/net/{name}"))
        .ok()
        .map(OwnedFd::from)
}

/// The wanted sockets of one table, line by line (a table can be large; nothing else is
/// kept). True when the whole table was read.
pub(super) fn read_table(
    file: OwnedFd,
    protocol: Protocol,
    wanted: &HashSet<u32>,
    found: &mut HashMap<u32, Foreign>,
) -> bool {
    let reader = std::io::BufReader::new(std::fs::File::from(file));
    for line in reader.split(b'\n').skip(1) {
        let Ok(line) = line else { return false };
        let Ok(line) = std::str::from_utf8(&line) else {
            continue;
        };
        let Some(s) = super::procnet::parse_line(line, protocol) else {
            continue;
        };
        if s.inode == 0 || !wanted.contains(&s.inode) {
            continue;
        }
        let local = SocketAddr::new(s.address, s.port);
        let kind = match (s.state, s.remote) {
            (Some("listen"), _) => Kind::Listening,
            (_, Some((addr, port))) => Kind::Connected(SocketAddr::new(addr, port)),
            _ => Kind::Bound,
        };
        found.insert(
            s.inode,
            Foreign {
                protocol,
                local,
                kind,
            },
        );
    }
    true
}

const AF_UNIX: u8 = 1;
const AF_NETLINK: u8 = 16;
const AF_PACKET: u8 = 17;
const NDIAG_PROTO_ALL: u8 = 255;

/// Removes from `left` every socket of one family in this namespace (a sock_diag dump of
/// unix, netlink or packet sockets). The requests share one shape: family, protocol, 16-bit
/// pad, then 32-bit fields (unix: states, inode, show, cookie; netlink and packet: inode, show,
/// cookie); each answer holds the inode `inode_at` bytes into its body.
fn explain(
    family: u8,
    protocol: u8,
    inode_at: usize,
    left: &mut HashSet<u32>,
) -> std::io::Result<()> {
    use netlink_sys::protocols::NETLINK_SOCK_DIAG;
    use netlink_sys::{Socket, SocketAddr};
    const SOCK_DIAG_BY_FAMILY: u16 = 20;
    const NLM_F_REQUEST: u16 = 1;
    const NLM_F_DUMP: u16 = 0x300;
    const NLMSG_ERROR: u16 = 2;
    const NLMSG_DONE: u16 = 3;
    let mut body = vec![family, protocol, 0, 0];
    if family == AF_UNIX {
        body.extend_from_slice(&u32::MAX.to_ne_bytes());
    }
    body.extend_from_slice(&[0; 16]);
    let mut request = Vec::with_capacity(16 + body.len());
    request.extend_from_slice(&(16 + body.len() as u32).to_ne_bytes());
    request.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    request.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    request.extend_from_slice(&[0; 8]);
    request.extend_from_slice(&body);
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    socket.send(&request, 0)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let size = socket.recv(&mut &mut buf[..], 0)?;
        if size == 0 {
            return Ok(());
        }
        let mut at = 0;
        while at + 16 <= size {
            let word = |o: usize| {
                buf.get(at + o..at + o + 4)
                    .map(|b| [b[0], b[1], b[2], b[3]])
            };
            let len = word(0).map_or(0, u32::from_ne_bytes) as usize;
            let kind = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
            match kind {
                NLMSG_DONE => return Ok(()),
                NLMSG_ERROR => {
                    let code = word(16).map_or(0, i32::from_ne_bytes);
                    if code == 0 {
                        return Ok(());
                    }
                    return Err(std::io::Error::from_raw_os_error(-code));
                }
                _ => {
                    if let Some(inode) = word(16 + inode_at).map(u32::from_ne_bytes) {
                        left.remove(&inode);
                    }
                }
            }
            if len < 16 {
                return Ok(());
            }
            at += (len + 3) & !3;
        }
    }
}

/// The notes: one per process holding sockets of other namespaces.
pub fn notes(findings: &Findings) -> Vec<String> {
    let mut notes = Vec::new();
    let count = |n: usize| match n {
        1 => "a socket".to_string(),
        n => format!("{n} sockets"),
    };
    for holder in findings.holders.iter().take(NAMED_PROCESSES) {
        // Sockets alike (an SO_REUSEPORT group) are named once, with their count.
        let mut alike: Vec<(String, usize)> = Vec::new();
        for s in &holder.sockets {
            let protocol = s.protocol.as_str().to_uppercase();
            let text = match s.kind {
                Kind::Listening => format!("{protocol} listener {}", s.local),
                Kind::Bound => format!("{protocol} socket {}", s.local),
                Kind::Connected(peer) => {
                    format!("{protocol} socket {} connected to {peer}", s.local)
                }
            };
            match alike.iter_mut().find(|(t, _)| *t == text) {
                Some((_, n)) => *n += 1,
                None => alike.push((text, 1)),
            }
        }
        let mut listed: Vec<String> = alike
            .iter()
            .take(NAMED_SOCKETS)
            .map(|(text, n)| match n {
                1 => text.clone(),
                n => format!("{text} ({n} sockets)"),
            })
            .collect();
        let more: usize = alike.iter().skip(NAMED_SOCKETS).map(|(_, n)| n).sum();
        if more > 0 {
            listed.push(format!("{more} more"));
        }
        if holder.unlisted > 0 {
            listed.push(format!(
                "{} that its namespace's tables do not list (bound without listening, or not \
                 bound)",
                count(holder.unlisted)
            ));
        }
        if holder.unreached > 0 {
            let names: Vec<String> = holder
                .unreached_ns
                .iter()
                .map(|n| format!("net:[{n}]"))
                .collect();
            let what = if holder.unreached == 1 {
                "it does"
            } else {
                "they do"
            };
            listed.push(if findings.every_process_seen {
                format!(
                    "{} of {}, where {}, kept by no mount whoport could enter (what {what} \
                     was not read)",
                    count(holder.unreached),
                    names.join(", "),
                    lives_there(findings.namespaces_refused, super::is_root())
                )
            } else {
                format!(
                    "{} of {}, whose tables were not read (those of {MAX_NAMESPACES} \
                     namespaces at most are; what {what} was not read)",
                    count(holder.unreached),
                    names.join(", ")
                )
            });
        }
        listed.extend(covered_words(&holder.covered));
        let total =
            holder.sockets.len() + holder.unlisted + holder.unreached + holder.covered.len();
        notes.push(format!(
            "{} holds {} of another network namespace, not listed here: {}",
            named(holder.pid),
            if total == 1 { "a socket" } else { "sockets" },
            listed.join(", ")
        ));
    }
    notes.extend(super::socket_netns::note(
        &findings.unplaced,
        findings.every_process_seen,
        named,
    ));
    if findings.holders.len() > NAMED_PROCESSES {
        notes.push(format!(
            "{} more processes hold sockets of other network namespaces",
            findings.holders.len() - NAMED_PROCESSES
        ));
    }
    notes
}

/// "2 sockets of net:[N], whose tables could not be read (something is mounted over
/// /proc/PID/net)", once per namespace, from one (namespace, path) per socket.
fn covered_words(covered: &[(u64, String)]) -> Vec<String> {
    let mut alike: Vec<(&(u64, String), usize)> = Vec::new();
    for c in covered {
        match alike.iter_mut().find(|(k, _)| *k == c) {
            Some((_, n)) => *n += 1,
            None => alike.push((c, 1)),
        }
    }
    alike
        .into_iter()
        .map(|((ns, path), n)| {
            format!(
                "{} of net:[{ns}], whose tables could not be read (something is mounted over \
                 {path})",
                if n == 1 {
                    "a socket".to_string()
                } else {
                    format!("{n} sockets")
                }
            )
        })
        .collect()
}

/// Who lives in a namespace whose tables no task of whoport's could be found to read them
/// by: no process whoport looked at, and, where some processes' namespaces could not be read,
/// it may be theirs.
fn lives_there(refused: usize, root: bool) -> String {
    match refused {
        0 => "no process whoport can see lives".to_string(),
        n => format!(
            "none of the processes whose network namespace whoport could read lives (that of \
             {} could not be read{})",
            if n == 1 {
                "1 process".to_string()
            } else {
                format!("{n} processes")
            },
            if root { "" } else { ": run as root" }
        ),
    }
}

/// The note on the processes whose network namespace the walk did not read, because
/// something is mounted over their `/proc/PID/ns/net` (`pids`: in any order, repeated).
pub fn covered_note(pids: &[u32]) -> Option<String> {
    let mut pids = pids.to_vec();
    pids.sort_unstable();
    pids.dedup();
    let who = super::socket_netns::processes(&pids, named);
    match pids.as_slice() {
        [] => None,
        [pid] => Some(format!(
            "the network namespace of {who} was not read: something is mounted over \
             /proc/{pid}/ns/net, which whoport does not read through (it is not counted among \
             the processes living in other network namespaces)"
        )),
        _ => Some(format!(
            "the network namespaces of {who} were not read: something is mounted over their \
             /proc/PID/ns/net, which whoport does not read through (they are not counted \
             among the processes living in other network namespaces)"
        )),
    }
}

/// `pid 42 (nginx)`.
pub(super) fn named(pid: u32) -> String {
    match linux::comm(pid) {
        Some(comm) => format!("pid {pid} ({})", String::from_utf8_lossy(&comm)),
        None => format!("pid {pid}"),
    }
}

#[cfg(test)]
mod tests {
    use super::notes as notes_of;
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn our_own_unix_and_netlink_sockets_are_in_the_dumps() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().expect("socketpair");
        let link = std::fs::read_link(format!("/proc/self/fd/{}", a.as_raw_fd())).expect("link");
        let inode = linux::socket_inode(link.to_string_lossy().as_bytes()).expect("socket");
        let mut left = HashSet::from_iter([inode, 0]);
        explain(AF_UNIX, 0, 4, &mut left).expect("unix dump");
        assert_eq!(
            left,
            HashSet::from_iter([0]),
            "{inode} is a unix socket here"
        );
        // Bound: the netlink tables hold only bound sockets (an unbound one goes to the check,
        // which sees its family and leaves it).
        let mut nl = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_ROUTE).expect("nl");
        nl.bind_auto().expect("bind");
        let link = std::fs::read_link(format!("/proc/self/fd/{}", nl.as_raw_fd())).expect("link");
        let inode = linux::socket_inode(link.to_string_lossy().as_bytes()).expect("socket");
        let mut left = HashSet::from_iter([inode, 0]);
        match explain(AF_NETLINK, NDIAG_PROTO_ALL, 16, &mut left) {
            Ok(()) => assert_eq!(left, HashSet::from_iter([0]), "netlink {inode}"),
            // Kernels built without netlink_diag: those sockets go to the check instead.
            Err(e) => assert_eq!(e.raw_os_error(), Some(2), "{e}"),
        }
    }

    fn inode_of(fd: i32) -> u32 {
        let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).expect("link");
        linux::socket_inode(link.to_string_lossy().as_bytes()).expect("socket")
    }

    #[test]
    fn a_listener_of_this_namespace_is_never_found_elsewhere() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let inode = inode_of(listener.as_raw_fd());
        let me = std::process::id();
        let own = std::fs::read_link("/proc/self/ns/net").expect("own namespace");
        let wanted = HashSet::from_iter([inode]);
        // Even as a dump that missed it would leave it: in no other namespace's table.
        let none = HashSet::new();
        let (found, _, _) = in_other_tables(
            (&wanted, &none, false),
            (&[me], None),
            own.as_os_str().as_encoded_bytes(),
        );
        assert!(found.is_empty());
        // Told that every task lives elsewhere (ourselves included), the tables of this
        // namespace are still never read: their inode is this namespace's.
        let none = HashSet::new();
        let (tasks, _) = tasks_elsewhere(&[me], (b"net:[0]", None, None), (&none, false));
        assert!(
            tasks
                .iter()
                .any(|t| t.0.starts_with(&format!("{me}/task/"))),
            "{tasks:?}"
        );
        let (found, read, _) = in_other_tables((&wanted, &none, false), (&[me], None), b"net:[0]");
        assert!(found.is_empty(), "{read:?}");
        // And a lookup whose dumps all missed it never names it either: held by another
        // process of this namespace (a child that inherited it), so that it is looked at.
        rustix::io::fcntl_setfd(&listener, rustix::io::FdFlags::empty()).expect("inheritable");
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep runs");
        let holds = std::fs::read_dir(format!("/proc/{}/fd", child.id()))
            .expect("the child's descriptors")
            .filter_map(Result::ok)
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .any(|l| linux::socket_inode(l.to_string_lossy().as_bytes()) == Some(inode));
        let held = HashMap::from_iter([(inode, vec![child.id()])]);
        let findings = look(
            &held,
            // The kernel is not asked here (the sockets' namespace is not this test's point).
            (
                None,
                &mut crate::collect::bpf::Shared::Failed(String::new()),
            ),
            &HashSet::new(),
        );
        let _ = child.kill();
        let _ = child.wait();
        assert!(holds, "the child holds the listener");
        assert!(findings.holders.is_empty(), "{findings:?}");
    }

    #[test]
    fn tables_say_what_each_socket_does() {
        let text = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:A2B4 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 99 1 0000000000000000 20 4 30 10 -1
   2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 17 1 0000000000000000 100 0 0 10 0
   3: garbage
";
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tcp");
        std::fs::write(&path, text).expect("write");
        let open = || OwnedFd::from(std::fs::File::open(&path).expect("open"));
        let mut found = HashMap::new();
        read_table(
            open(),
            Protocol::Tcp,
            &HashSet::from_iter([4242, 99]),
            &mut found,
        );
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[&4242].kind, Kind::Listening);
        assert_eq!(found[&4242].local, "127.0.0.1:8080".parse().expect("addr"));
        assert_eq!(
            found[&99].kind,
            Kind::Connected("127.0.0.1:8080".parse().expect("addr"))
        );
        let mut udp = HashMap::new();
        read_table(open(), Protocol::Udp, &HashSet::from_iter([17]), &mut udp);
        assert_eq!(udp[&17].kind, Kind::Bound, "a UDP socket without a peer");
        assert_eq!(netns_inum(b"net:[4026531840]"), Some(4_026_531_840));
        assert_eq!(netns_inum(b"mnt:[1]"), None);
    }

    #[test]
    fn notes_name_the_process_and_its_sockets() {
        let me = std::process::id();
        let findings = Findings {
            holders: vec![
                Holder {
                    pid: me,
                    sockets: vec![
                        Foreign {
                            protocol: Protocol::Tcp,
                            local: "127.0.0.1:8080".parse().expect("addr"),
                            kind: Kind::Listening,
                        },
                        Foreign {
                            protocol: Protocol::Udp,
                            local: "[::]:5353".parse().expect("addr"),
                            kind: Kind::Bound,
                        },
                        Foreign {
                            protocol: Protocol::Udp,
                            local: "127.0.0.1:5000".parse().expect("addr"),
                            kind: Kind::Connected("127.0.0.1:9".parse().expect("addr")),
                        },
                        Foreign {
                            protocol: Protocol::Tcp,
                            local: "127.0.0.1:8080".parse().expect("addr"),
                            kind: Kind::Listening,
                        },
                        Foreign {
                            protocol: Protocol::Udp,
                            local: "127.0.0.1:5001".parse().expect("addr"),
                            kind: Kind::Bound,
                        },
                        Foreign {
                            protocol: Protocol::Udp,
                            local: "127.0.0.1:5002".parse().expect("addr"),
                            kind: Kind::Bound,
                        },
                    ],
                    unlisted: 0,
                    unreached: 0,
                    unreached_ns: Vec::new(),
                    covered: Vec::new(),
                },
                Holder {
                    pid: me,
                    sockets: vec![Foreign {
                        protocol: Protocol::Tcp,
                        local: "127.0.0.1:8080".parse().expect("addr"),
                        kind: Kind::Listening,
                    }],
                    unlisted: 1,
                    unreached: 3,
                    unreached_ns: vec![4026532000, 4026532001],
                    covered: Vec::new(),
                },
                Holder {
                    pid: me,
                    sockets: Vec::new(),
                    unlisted: 0,
                    unreached: 1,
                    unreached_ns: vec![4026532000],
                    covered: Vec::new(),
                },
            ],
            every_process_seen: true,
            namespaces_refused: 0,
            unplaced: Default::default(),
        };
        let notes = notes_of(&findings);
        assert_eq!(notes.len(), 3, "{notes:?}");
        assert!(notes[0].starts_with(&format!("pid {me} (")), "{}", notes[0]);
        assert!(
            notes[0].ends_with("sockets of another network namespace, not listed here: TCP listener 127.0.0.1:8080 (2 sockets), UDP socket [::]:5353, UDP socket 127.0.0.1:5000 connected to 127.0.0.1:9, UDP socket 127.0.0.1:5001, 1 more"),
            "{}",
            notes[0]
        );
        assert!(
            notes[1].ends_with(
                "holds sockets of another network namespace, not listed here: TCP listener \
                 127.0.0.1:8080, a socket that its namespace's tables do not list (bound \
                 without listening, or not bound), 3 sockets of net:[4026532000], \
                 net:[4026532001], where no process whoport can see lives, kept by no mount \
                 whoport could enter (what they do was not read)"
            ),
            "{}",
            notes[1]
        );
        assert!(
            notes[2].ends_with(
                "holds a socket of another network namespace, not listed here: a socket of \
                 net:[4026532000], where no process whoport can see lives, kept by no mount \
                 whoport could enter (what it does was not read)"
            ),
            "{}",
            notes[2]
        );
        let covered = covered_note(&[me, 1, me]).expect("a note");
        assert!(
            covered.starts_with("the network namespaces of pid 1")
                && covered.contains(&format!(" and pid {me} ("))
                && covered.ends_with(
                    "were not read: something is mounted over their /proc/PID/ns/net, which \
                     whoport does not read through (they are not counted among the processes \
                     living in other network namespaces)"
                ),
            "{covered}"
        );
        assert_eq!(covered_note(&[]), None);
        let cut_short = Findings {
            every_process_seen: false,
            ..findings
        };
        assert!(
            notes_of(&cut_short)[2].ends_with(
                "a socket of net:[4026532000], whose tables were not read (those of 64 \
                 namespaces at most are; what it does was not read)"
            ),
            "{:?}",
            notes_of(&cut_short)
        );
    }

    #[test]
    fn covered_tables_are_said_once_per_namespace_with_what_covers_them() {
        let net = |n: u64| (n, format!("/proc/{}/net", n - 4026532000));
        assert_eq!(
            covered_words(&[net(4026532009), net(4026532010), net(4026532009)]),
            [
                "2 sockets of net:[4026532009], whose tables could not be read (something is \
                 mounted over /proc/9/net)",
                "a socket of net:[4026532010], whose tables could not be read (something is \
                 mounted over /proc/10/net)"
            ]
        );
    }

    #[test]
    fn a_namespace_whose_processes_could_not_be_read_is_not_said_to_have_none() {
        assert_eq!(lives_there(0, true), "no process whoport can see lives");
        assert_eq!(
            lives_there(1, true),
            "none of the processes whose network namespace whoport could read lives (that of \
             1 process could not be read)"
        );
        assert_eq!(
            lives_there(57, false),
            "none of the processes whose network namespace whoport could read lives (that of \
             57 processes could not be read: run as root)"
        );
    }
}
