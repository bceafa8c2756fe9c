//! The records the owner lookup's programs write (bpf/owners.bpf.c), parsed as they stream:
//! each pass of an iterator is read through one fixed-size buffer, and what is kept grows with
//! the sockets and processes found, never with the descriptors (one socket dup'd a million
//! times in one process is one holder, not a million records in memory).

use crate::hash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::io::Read;

use super::super::linux::{HeldListener, InodeOwners, Ring};
use super::BpfError;
use crate::model::WaitEntry;

/// Record markers in the `fd` field (see bpf/owners.bpf.c).
pub(super) const NETNS_RECORD: u32 = 0xffff_ffff;
pub(super) const START_RECORD: u32 = 0xffff_fffe;
pub(super) const MAPPING_RECORD: u32 = 0xffff_fffd;
/// The value is (network namespace inode << 32) | socket inode: a socket whose namespace is
/// not its holder's.
pub(super) const SOCKET_NETNS_RECORD: u32 = 0xffff_fffc;
/// The value is the start of a mapping of an io_uring instance, whose inode the next record
/// (`RING_INODE_RECORD`) gives.
pub(super) const RING_MAPPING_RECORD: u32 = 0xffff_fffb;
pub(super) const RING_INODE_RECORD: u32 = 0xffff_fffa;
/// (The owner and queue program only.) A record of the other namespaces' queues: `tgid` is
/// the inode of the unix socket whose queue holds it, `value` what it carries.
pub(super) const QUEUE_RECORD: u32 = 0xffff_fff9;
/// A process's facts (`task_facts`), in this order, right before the record of its first TCP
/// listener or UDP socket: uid | euid << 32; suid | fsuid << 32; effective capabilities; mount
/// namespace | user namespace << 32; parent PID | threads << 32 (31 bits) | [`PARENT_KTHREAD`];
/// the parent's name, bytes 0-7 then 8-15; its executable's filesystem (below).
pub(super) const IDS_RECORD: u32 = 0xffff_fff8;
pub(super) const SAVED_IDS_RECORD: u32 = 0xffff_fff7;
pub(super) const CAPS_RECORD: u32 = 0xffff_fff6;
pub(super) const NS_RECORD: u32 = 0xffff_fff5;
pub(super) const PARENT_RECORD: u32 = 0xffff_fff4;
pub(super) const PARENT_NAME_RECORD: u32 = 0xffff_fff3;
/// Then the device of its executable file's filesystem (the kernel's encoding, major << 20 |
/// minor) | [`EXE_KNOWN`], or 0 when it has none.
pub(super) const EXE_DEV_RECORD: u32 = 0xffff_fff2;
pub(super) const EXE_KNOWN: u64 = 1 << 32;
/// Then where its stack starts (`/proc/PID/stat`'s startstack; 0 when not read).
pub(super) const STACK_RECORD: u32 = 0xffff_fff1;
/// In the parent's record: the parent is a kernel thread (its `/proc/PPID/comm` may be longer
/// than the kernel's comm).
pub(super) const PARENT_KTHREAD: u64 = 1 << 63;
/// The lowest marker: a record whose `fd` is this or above is not a descriptor's.
const LOWEST_MARKER: u32 = STACK_RECORD;
/// A process's facts come in this many records.
const FACTS_RECORDS: usize = 9;
/// The kinds of a process's facts records, in their order.
pub(super) const FACTS_ORDER: [u32; FACTS_RECORDS] = [
    IDS_RECORD,
    SAVED_IDS_RECORD,
    CAPS_RECORD,
    NS_RECORD,
    PARENT_RECORD,
    PARENT_NAME_RECORD,
    PARENT_NAME_RECORD,
    EXE_DEV_RECORD,
    STACK_RECORD,
];
/// The high 32 bits of the `value` of a record whose descriptor is an io_uring instance (the
/// low 32 bits are the thread whose table holds it; socket inodes never reach them).
pub(super) const RING_RECORD: u64 = 0xffff_ffff_0000_0000;
/// In the `value` of a descriptor's record: the socket is a TCP listener, and bits 32 to 47
/// hold its local port (the low 32 bits are the socket's inode, as in every descriptor's
/// record); with the next bit, an IPv6 one.
pub(super) const LISTENER_MARK: u64 = 1 << 48;
pub(super) const LISTENER_IPV6: u64 = 1 << 49;
/// `{ u32 tgid; u32 fd; u64 value; }`, native endian.
pub(super) const RECORD_LEN: usize = 16;

/// The socket inode of a descriptor's record, and the listener when the record marks it a
/// TCP listener; `None` for a value no socket record has.
pub(super) fn socket_of(value: u64) -> Option<(u32, Option<HeldListener>)> {
    if value & LISTENER_MARK != 0 && value >> 50 == 0 {
        let listener = HeldListener {
            inode: value as u32,
            port: (value >> 32) as u16,
            ipv6: value & LISTENER_IPV6 != 0,
        };
        return Some((listener.inode, Some(listener)));
    }
    Some((u32::try_from(value).ok()?, None))
}

/// What one read asks for: an iterator's read returns at most its seq_file buffer (eight
/// pages), so a read rarely fills this.
const READ_BUFFER: usize = 1 << 16;

/// A read of an iterator to be made again: interrupted, or `EAGAIN`, which the kernel gives
/// when one read passed a million objects (descriptors, tasks) without output, as a filtered
/// pass over a machine with that many descriptors does; the next read goes on from there.
pub(super) fn again(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock
    )
}

/// Reads `input` to its end through one buffer of [`READ_BUFFER`] bytes, handing each whole
/// record of `len` bytes to `each` as it arrives. A record split between two reads is kept
/// for the next; bytes left over at the end (not a whole record) make the output malformed.
pub(crate) fn each_record(
    input: &mut impl Read,
    len: usize,
    mut each: impl FnMut(&[u8]),
) -> Result<(), BpfError> {
    let mut buffer = vec![0u8; READ_BUFFER];
    // Bytes of an incomplete record at the buffer's start, carried from the last read.
    let mut kept = 0;
    let mut total = 0;
    loop {
        let n = match input.read(&mut buffer[kept..]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if again(&e) => continue,
            Err(e) => return Err(e.into()),
        };
        total += n;
        let end = kept + n;
        let whole = end - end % len;
        buffer[..whole].chunks_exact(len).for_each(&mut each);
        buffer.copy_within(whole..end, 0);
        kept = end - whole;
    }
    if kept != 0 {
        return Err(BpfError::Malformed(total));
    }
    Ok(())
}

/// One pass of the owner iterator: the walk's answer, and the io_uring instances.
#[derive(Debug, Default)]
pub struct Found {
    pub owners: InodeOwners,
    pub rings: Vec<Ring>,
}

/// How `/proc/PID/stat` gives whoport a process's start time: clock ticks (USER_HZ) after
/// boot, on the boot-time clock of whoport's time namespace, which may be shifted from the
/// kernel's own (`unshare -T --boottime`, a restored or containerised system): the iterator
/// reads the kernel's.
#[derive(Debug, Clone, Copy)]
pub(super) struct StatClock {
    pub ticks: u64,
    /// The boot-time offset of whoport's time namespace, in nanoseconds.
    pub boottime_offset_ns: i64,
}

impl StatClock {
    /// A start on the kernel's boot-time clock, in nanoseconds, as `/proc/PID/stat` gives it
    /// to whoport: shifted by the offset, then in clock ticks (a difference between two
    /// starts stays one: a reused PID is still told apart).
    fn stat_ticks(self, start_ns: u64) -> u64 {
        let ns_per_tick = (1_000_000_000 / self.ticks.max(1)).max(1);
        // As the kernel shifts it: unsigned, so a process started before the namespace's
        // shifted boot wraps around (`/proc/PID/stat` then gives a start near 2^64 ns).
        start_ns.wrapping_add_signed(self.boottime_offset_ns) / ns_per_tick
    }
}

/// Clock ticks on the kernel's own boot-time clock (no time namespace shifts it).
impl From<u64> for StatClock {
    fn from(ticks: u64) -> StatClock {
        StatClock {
            ticks,
            boottime_offset_ns: 0,
        }
    }
}

/// The boot-time offset in `/proc/self/timens_offsets` (`boottime <seconds> <nanoseconds>`),
/// in nanoseconds; 0 without the line (no time namespaces).
pub(super) fn parse_boottime_offset(text: &[u8]) -> i64 {
    let text = String::from_utf8_lossy(text);
    text.lines()
        .map(|l| l.split_ascii_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() == 3 && (f[0] == "boottime" || f[0] == "7"))
        .and_then(|f| {
            let seconds: i64 = f[1].parse().ok()?;
            let nanoseconds: i64 = f[2].parse().ok()?;
            seconds.checked_mul(1_000_000_000)?.checked_add(nanoseconds)
        })
        .unwrap_or(0)
}

/// Reads one pass of the owner iterator into the walk's answer. Start times are converted to
/// `/proc/PID/stat`'s (see [`StatClock`]) and kept only for processes holding sockets.
pub(super) fn read_owners(
    input: &mut impl Read,
    own_netns: Option<u64>,
    clock: impl Into<StatClock>,
) -> Result<Found, BpfError> {
    read_owners_telling(input, own_netns, clock, &mut |_, _, _| {})
}

/// [`read_owners`], telling `told` of each holder as its record arrives: (PID, socket inode,
/// the PID's start time as `/proc/PID/stat` gives it), so that what is read of the holders
/// can begin before the pass ends. A holder may be told more than once.
pub(super) fn read_owners_telling(
    input: &mut impl Read,
    own_netns: Option<u64>,
    clock: impl Into<StatClock>,
    told: super::Told<'_>,
) -> Result<Found, BpfError> {
    super::super::task_facts::begin_pass();
    let mut parser = Owners::new(own_netns, clock.into());
    each_record(input, RECORD_LEN, |r| {
        if let Some((pid, inode)) = parser.record(r) {
            told(pid, inode, parser.starts.get(&pid).copied());
        }
    })?;
    Ok(parser.finish())
}

/// The owner iterator's records, one at a time, into the walk's answer.
struct Owners {
    own_netns: Option<u64>,
    clock: StatClock,
    owners: InodeOwners,
    rings: Vec<Ring>,
    tasks: HashSet<u32>,
    other_netns: HashMap<u32, u64>,
    starts: HashMap<u32, u64>,
    holders: HashSet<u32>,
    /// The listener of the last descriptor's record, until the record of its network
    /// namespace, if any, says whether it is of whoport's.
    last_listener: Option<HeldListener>,
    /// The facts of a process being read, record by record.
    facts: Facts,
}

/// A process's facts as their records arrive: each record in its place, or they are dropped.
#[derive(Default)]
struct Facts {
    /// The PID, and how many of its records have arrived.
    pid: u32,
    arrived: usize,
    values: [u64; FACTS_RECORDS],
}

impl Facts {
    /// Takes the facts record `fd` of `pid`; the facts when it is the last of them.
    fn take(&mut self, pid: u32, fd: u32, value: u64) -> Option<[u64; FACTS_RECORDS]> {
        if fd == IDS_RECORD {
            (self.pid, self.arrived) = (pid, 0);
        }
        if self.pid != pid || FACTS_ORDER.get(self.arrived) != Some(&fd) {
            self.arrived = FACTS_RECORDS + 1;
            return None;
        }
        self.values[self.arrived] = value;
        self.arrived += 1;
        (self.arrived == FACTS_RECORDS).then_some(self.values)
    }
}

/// The facts of `values` (as [`Facts::take`] gives them), for a process started at `start`.
fn task_facts(
    values: [u64; FACTS_RECORDS],
    start: Option<u64>,
) -> super::super::task_facts::TaskFacts {
    let low = |v: u64| v as u32;
    let high = |v: u64| (v >> 32) as u32;
    let [ids, saved, caps, ns, parent, name_low, name_high, exe_dev, stack] = values;
    let exe_device =
        (exe_dev & EXE_KNOWN != 0).then(|| (low(exe_dev) >> 20, low(exe_dev) & 0xf_ffff));
    let mut parent_name = [0u8; 16];
    parent_name[..8].copy_from_slice(&name_low.to_ne_bytes());
    parent_name[8..].copy_from_slice(&name_high.to_ne_bytes());
    super::super::task_facts::TaskFacts {
        start_ticks: start,
        uids: [low(ids), high(ids), low(saved), high(saved)],
        capabilities: caps,
        mount_ns: low(ns),
        user_ns: high(ns),
        parent_pid: low(parent),
        parent_name: (parent & PARENT_KTHREAD == 0).then_some(parent_name),
        threads: high(parent) & 0x7fff_ffff,
        exe_device,
        start_stack: (stack != 0).then_some(stack),
    }
}

impl Owners {
    fn new(own_netns: Option<u64>, clock: StatClock) -> Owners {
        Owners {
            own_netns,
            clock,
            owners: InodeOwners::default(),
            rings: Vec::new(),
            tasks: HashSet::new(),
            other_netns: HashMap::new(),
            starts: HashMap::new(),
            holders: HashSet::new(),
            last_listener: None,
            facts: Facts::default(),
        }
    }

    /// Takes one record in; (PID, socket inode) when it is a holder's.
    fn record(&mut self, record: &[u8]) -> Option<(u32, u32)> {
        let (tgid, fd, value) = fields(record);
        match fd {
            NETNS_RECORD => {
                self.tasks.insert(tgid);
                if self.own_netns.is_some_and(|own| value != 0 && value != own) {
                    self.other_netns.insert(tgid, value);
                }
            }
            START_RECORD => {
                self.starts.insert(tgid, self.clock.stat_ticks(value));
            }
            LOWEST_MARKER..=IDS_RECORD => {
                if let Some(values) = self.facts.take(tgid, fd, value) {
                    let start = self.starts.get(&tgid).copied();
                    super::super::task_facts::publish(tgid, task_facts(values, start));
                }
            }
            SOCKET_NETNS_RECORD => {
                let (inode, netns) = (value as u32, value >> 32);
                self.owners.socket_netns.insert(inode, netns);
                // The record right after its socket's: the listener is of whoport's namespace
                // when this one is, whatever its holder's.
                if let Some(listener) = self.last_listener.filter(|l| l.inode == inode) {
                    let listeners = &mut self.owners.listeners;
                    let kept = listeners.last() == Some(&listener);
                    match (kept, self.own_netns == Some(netns)) {
                        (true, false) => drop(listeners.pop()),
                        (false, true) => listeners.push(listener),
                        _ => {}
                    }
                }
            }
            _ if value & RING_RECORD == RING_RECORD => {
                let ring = Ring {
                    pid: tgid,
                    // The low 32 bits.
                    tid: value as u32,
                    fd,
                };
                // A record shown again (bpf/owners.bpf.c) comes right after itself.
                if self.rings.last() != Some(&ring) {
                    self.rings.push(ring);
                }
            }
            _ => {
                if let Some((inode, listener)) = socket_of(value) {
                    let first = push_holder(&mut self.owners.pids, inode, tgid);
                    self.holders.insert(tgid);
                    // Each listener once, at its first holder (what is kept never grows with
                    // the descriptors). A holder of another namespace than whoport's holds its
                    // sockets there, unless the next record says otherwise.
                    self.last_listener = listener.filter(|_| first);
                    if let Some(listener) = self.last_listener {
                        if self.own_netns.is_some() && !self.other_netns.contains_key(&tgid) {
                            self.owners.listeners.push(listener);
                        }
                    }
                    return Some((tgid, inode));
                }
            }
        }
        None
    }

    fn finish(self) -> Found {
        let Owners {
            mut owners,
            mut rings,
            tasks,
            other_netns,
            mut starts,
            holders,
            ..
        } = self;
        for pids in owners.pids.values_mut() {
            pids.sort_unstable();
            pids.dedup();
        }
        owners.walked = tasks.len();
        owners.visited = tasks;
        owners.other_netns = other_netns.len();
        owners.other_netns_pid = other_netns.keys().min().copied();
        owners.other_netns_pids = other_netns;
        starts.retain(|pid, _| holders.contains(pid));
        owners.starts = starts;
        rings.sort_unstable();
        rings.dedup();
        Found { owners, rings }
    }
}

/// Adds `pid` to the holders of `inode`. The iterator visits one task's table at a time, so
/// every copy of a socket in that table comes while the task is the socket's last holder:
/// one entry per task, however many descriptors it has for the socket (descriptor numbers
/// are not kept: nothing shows them). A task sharing its process's socket in a table of its
/// own adds one more entry, removed at the end.
///
/// Whether `pid` is the socket's first holder.
fn push_holder(pids: &mut HashMap<u32, Vec<u32>>, inode: u32, pid: u32) -> bool {
    let holders = pids.entry(inode).or_default();
    if holders.last() != Some(&pid) {
        holders.push(pid);
        return holders.len() == 1;
    }
    false
}

/// Socket inode -> the PIDs holding it.
pub type Holders = HashMap<u32, Vec<u32>>;

/// What [`read_wanted`] gives: the wanted inodes' holders, the io_uring instances, the PIDs
/// visited, and those of them that may hold sockets of another network namespace.
pub(super) type ReadAgain = (Holders, Vec<Ring>, HashSet<u32>, HashSet<u32>);

/// What [`read_owners`] would give for the `wanted` inodes (their holders), the io_uring
/// instances and the PIDs of the tasks visited, without the maps of every socket, task and start time a read again does not use
/// (at 10,000 sockets those cost more than the few wanted). Each record of the other
/// namespaces' queues the pass holds (the owner and queue program's) goes to `queued` as
/// (receiver, carried). Also the PIDs of the processes visited that may hold sockets of
/// another network namespace than `own` (whoport's; all of them when it is not known): one
/// of their tasks lives in another, or holds a socket of another.
pub(super) fn read_wanted(
    input: &mut impl Read,
    (wanted, own): (&HashSet<u32>, Option<u64>),
    queued: &mut dyn FnMut(u64, u64),
) -> Result<ReadAgain, BpfError> {
    let mut pids = Holders::new();
    let mut rings: Vec<Ring> = Vec::new();
    let mut visited = HashSet::new();
    let mut elsewhere = HashSet::new();
    each_record(input, RECORD_LEN, |record| {
        let (tgid, fd, value) = fields(record);
        match fd {
            NETNS_RECORD => {
                visited.insert(tgid);
                if own != Some(value) {
                    elsewhere.insert(tgid);
                }
            }
            SOCKET_NETNS_RECORD => {
                if own != Some(value >> 32) {
                    elsewhere.insert(tgid);
                }
            }
            QUEUE_RECORD => queued(u64::from(tgid), value),
            // (A process's facts are read by the first pass only.)
            START_RECORD | LOWEST_MARKER..=IDS_RECORD => {}
            _ if value & RING_RECORD == RING_RECORD => {
                let ring = Ring {
                    pid: tgid,
                    tid: value as u32,
                    fd,
                };
                if rings.last() != Some(&ring) {
                    rings.push(ring);
                }
            }
            _ => {
                if let Some((inode, _)) = socket_of(value) {
                    if wanted.contains(&inode) {
                        push_holder(&mut pids, inode, tgid);
                    }
                }
            }
        }
    })?;
    for holders in pids.values_mut() {
        holders.sort_unstable();
        holders.dedup();
    }
    rings.sort_unstable();
    rings.dedup();
    Ok((pids, rings, visited, elsewhere))
}

/// What a task_vma read found: the processes mapping each wanted socket (inode -> PIDs), and
/// the io_uring instances each process maps (PID -> their inodes, each with the start of one
/// of its mappings).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Mapped {
    pub sockets: HashMap<u32, Vec<u32>>,
    pub rings: HashMap<u32, Vec<(u64, u64)>>,
}

/// The mapping records of a task_vma read, for the `wanted` inodes.
pub(super) fn read_mapped(
    input: &mut impl Read,
    wanted: &HashSet<u32>,
) -> Result<Mapped, BpfError> {
    let mut found = Mapped::default();
    let mut ring_at = None;
    each_record(input, RECORD_LEN, |record| {
        let (tgid, fd, value) = fields(record);
        match fd {
            RING_MAPPING_RECORD => ring_at = Some((tgid, value)),
            RING_INODE_RECORD => {
                if let Some((pid, address)) = ring_at.take().filter(|(pid, _)| *pid == tgid) {
                    let rings = found.rings.entry(pid).or_default();
                    if !rings.iter().any(|(inode, _)| *inode == value) {
                        rings.push((value, address));
                    }
                }
            }
            MAPPING_RECORD => {
                let Ok(inode) = u32::try_from(value) else {
                    return;
                };
                if wanted.contains(&inode) {
                    let pids = found.sockets.entry(inode).or_default();
                    if !pids.contains(&tgid) {
                        pids.push(tgid);
                    }
                }
            }
            _ => {}
        }
    })?;
    for pids in found.sockets.values_mut() {
        pids.sort_unstable();
    }
    Ok(found)
}

/// The inodes in the kernel-socket programs' output (one native-endian u64 each).
pub(super) fn read_fileless(input: &mut impl Read) -> Result<Vec<u32>, BpfError> {
    let mut found = Vec::new();
    each_record(input, 8, |record| {
        let mut inode = [0u8; 8];
        inode.copy_from_slice(record);
        if let Ok(inode) = u32::try_from(u64::from_ne_bytes(inode)) {
            found.push(inode);
        }
    })?;
    Ok(found)
}

/// The records of the sleepers programs: (socket inode, tgid, thread id, how it sleeps on the
/// queue), and the sockets whose wait queue was not read to its end. A record of a kind
/// whoport does not know is skipped.
pub(super) fn read_sleepers(input: &mut impl Read) -> Result<(Vec<Sleeper>, Vec<u32>), BpfError> {
    let mut found = Vec::new();
    let mut cut = Vec::new();
    each_record(input, 24, |record| {
        let u32_at = |at: usize| {
            let mut word = [0u8; 4];
            word.copy_from_slice(&record[at..at + 4]);
            u32::from_ne_bytes(word)
        };
        let mut inode = [0u8; 8];
        inode.copy_from_slice(&record[0..8]);
        let Ok(inode) = u32::try_from(u64::from_ne_bytes(inode)) else {
            return;
        };
        let entry = match u32_at(16) {
            SLEEPER_TASK => WaitEntry::Thread,
            SLEEPER_POLL => WaitEntry::Poll,
            SLEEPER_CUT => {
                cut.push(inode);
                return;
            }
            _ => return,
        };
        found.push((inode, u32_at(8), u32_at(12), entry));
    })?;
    Ok((found, cut))
}

/// A sleeper on a socket's wait queue: (socket inode, tgid, thread id, its entry).
pub type Sleeper = (u32, u32, u32, WaitEntry);

/// The kinds of sleeper records (bpf/owners.bpf.c): the entry's private is the task; a
/// poll()/select() table entry.
const SLEEPER_TASK: u32 = 1;
const SLEEPER_POLL: u32 = 2;
/// The last record of a socket whose wait queue was not read to its end (`MAX_WAITERS`).
const SLEEPER_CUT: u32 = 3;

/// [`fields`], for the tests of the loaded programs.
#[cfg(test)]
pub(super) fn tests_fields(record: &[u8]) -> (u32, u32, u64) {
    fields(record)
}

fn fields(record: &[u8]) -> (u32, u32, u64) {
    let mut tgid = [0u8; 4];
    let mut fd = [0u8; 4];
    let mut value = [0u8; 8];
    tgid.copy_from_slice(&record[0..4]);
    fd.copy_from_slice(&record[4..8]);
    value.copy_from_slice(&record[8..16]);
    (
        u32::from_ne_bytes(tgid),
        u32::from_ne_bytes(fd),
        u64::from_ne_bytes(value),
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn parse(bytes: &[u8], own_netns: Option<u64>, ticks: u64) -> Result<Found, BpfError> {
        read_owners(&mut &bytes[..], own_netns, ticks)
    }

    #[test]
    fn start_times_on_the_clock_of_whoports_time_namespace() {
        let offsets = b"monotonic           0         0\nboottime       100000         5\n";
        let offset = parse_boottime_offset(offsets);
        assert_eq!(offset, 100_000_000_000_005);
        assert_eq!(parse_boottime_offset(b"boottime -7 0\n"), -7_000_000_000);
        assert_eq!(parse_boottime_offset(b""), 0);
        assert_eq!(parse_boottime_offset(b"boottime x 0\n"), 0);
        let clock = StatClock {
            ticks: 100,
            boottime_offset_ns: offset,
        };
        // Started 5 s after the kernel's boot: /proc/PID/stat says 100005 s in the namespace.
        assert_eq!(clock.stat_ticks(5_000_000_000), 10_000_500);
        // Another process on the same PID, started a tick later, is still another.
        assert_ne!(
            clock.stat_ticks(5_010_000_000),
            clock.stat_ticks(5_000_000_000)
        );
        let back = StatClock {
            ticks: 100,
            boottime_offset_ns: -10_000_000_000,
        };
        // Started before the namespace's shifted boot: the kernel's unsigned sum wraps, as
        // /proc/PID/stat shows it (near 2^64 ns, not 0).
        assert_eq!(
            back.stat_ticks(5_000_000_000),
            (u64::MAX - 5_000_000_000 + 1) / 10_000_000
        );
        assert_eq!(back.stat_ticks(15_000_000_000), 500);
    }

    fn record(tgid: u32, fd: u32, value: u64) -> Vec<u8> {
        let mut r = tgid.to_ne_bytes().to_vec();
        r.extend(fd.to_ne_bytes());
        r.extend(value.to_ne_bytes());
        r
    }

    /// A process's facts records, as `task_facts` writes them.
    fn facts_records(tgid: u32, values: [u64; FACTS_RECORDS]) -> Vec<u8> {
        FACTS_ORDER
            .iter()
            .zip(values)
            .flat_map(|(&kind, value)| record(tgid, kind, value))
            .collect()
    }

    /// The facts of a process come whole and in order, each from its own record: uids, then
    /// capabilities, namespaces, parent (marked when it is a kernel thread, whose name is not
    /// taken), the parent's name in two halves, the executable's filesystem (its device in the
    /// kernel's encoding, major << 20 | minor). A sequence broken, of another PID or cut short
    /// gives none.
    #[test]
    fn a_processs_facts_are_taken_whole_and_in_order() {
        let mut name = [0u8; 16];
        name[..12].copy_from_slice(b"systemd-logi");
        let values = [
            65534,       // uid 65534, euid 0
            65534 << 32, // suid 0, fsuid 65534
            0x2814ef,
            4026531841 | 4026531837 << 32,
            1 | 3 << 32,
            u64::from_ne_bytes(name[..8].try_into().unwrap()),
            u64::from_ne_bytes(name[8..].try_into().unwrap()),
            (8 << 20 | 3) | EXE_KNOWN,
            0x7ffd_1234_5000,
        ];
        let take = |records: &[u8]| {
            let mut facts = Facts::default();
            let mut found = None;
            for r in records.chunks_exact(RECORD_LEN) {
                let (tgid, fd, value) = fields(r);
                found = facts.take(tgid, fd, value).or(found);
            }
            found
        };
        let whole = take(&facts_records(10, values)).expect("whole");
        let f = task_facts(whole, Some(77));
        assert_eq!(f.start_ticks, Some(77));
        assert_eq!(f.uids, [65534, 0, 0, 65534]);
        assert_eq!(f.euid(), 0);
        assert_eq!(f.capabilities, 0x2814ef);
        assert_eq!((f.mount_ns, f.user_ns), (4026531841, 4026531837));
        assert_eq!((f.parent_pid, f.threads), (1, 3));
        assert_eq!(f.parent_name(), Some(&b"systemd-logi"[..]));
        assert_eq!(f.exe_device, Some((8, 3)));
        assert_eq!(f.start_stack, Some(0x7ffd_1234_5000));
        // No executable (a kernel thread's mm): none said. A parent that is a kernel thread:
        // its name is not taken, its PID and the thread count are.
        let mut other = values;
        (other[7], other[8]) = (0, 0);
        other[4] |= PARENT_KTHREAD;
        let other = task_facts(take(&facts_records(10, other)).unwrap(), None);
        assert_eq!((other.exe_device, other.start_stack), (None, None));
        assert_eq!(other.parent_name(), None);
        assert_eq!((other.parent_pid, other.threads), (1, 3));
        // Cut short, out of order, or one of another PID in the middle: nothing.
        let bytes = facts_records(10, values);
        assert_eq!(take(&bytes[..bytes.len() - RECORD_LEN]), None);
        let mut swapped = bytes.clone();
        swapped[RECORD_LEN..3 * RECORD_LEN].rotate_left(RECORD_LEN);
        assert_eq!(take(&swapped), None);
        let mut other = bytes.clone();
        other[4 * RECORD_LEN..5 * RECORD_LEN].copy_from_slice(&record(11, NS_RECORD, values[3]));
        assert_eq!(take(&other), None);
        // A sequence begun again (the kernel wrote it again after its buffer filled) counts
        // from its first record.
        let again = [&bytes[..3 * RECORD_LEN], &bytes[..]].concat();
        assert_eq!(take(&again), Some(values));
    }

    /// Facts records are no socket's: no inode of theirs is held by anyone, in the first
    /// pass or in a read again, and the socket after them is its holder's as before.
    #[test]
    fn facts_records_name_no_socket() {
        let values = [500, 501, 502, 503, 504, 505, 506, 507 | EXE_KNOWN, 508];
        let bytes = [
            record(10, NETNS_RECORD, 7),
            record(10, START_RECORD, 1),
            facts_records(10, values),
            record(10, 3, 600),
        ]
        .concat();
        let owners = parse(&bytes, Some(7), 100).expect("parsed").owners;
        assert_eq!(owners.pids.len(), 1, "{:?}", owners.pids);
        assert_eq!(owners.pids[&600], [10]);
        let wanted: HashSet<u32> = (500..=600).collect();
        let (pids, ..) =
            read_wanted(&mut &bytes[..], (&wanted, Some(7)), &mut |_, _| {}).expect("read");
        assert_eq!(pids.len(), 1, "{pids:?}");
        assert_eq!(pids[&600], [10]);
    }

    #[test]
    fn ring_mappings_are_told_with_their_inode() {
        let bytes: Vec<u8> = [
            record(10, MAPPING_RECORD, 100),
            record(10, MAPPING_RECORD, 101),
            record(11, RING_MAPPING_RECORD, 0x7f00_0000_0000),
            record(11, RING_INODE_RECORD, 5000),
            record(11, RING_MAPPING_RECORD, 0x7f00_0001_0000),
            record(11, RING_INODE_RECORD, 5000),
            record(11, RING_MAPPING_RECORD, 0x7f00_0002_0000),
            record(11, RING_INODE_RECORD, 5001),
            // An inode record with no mapping record before it says nothing.
            record(12, RING_INODE_RECORD, 6000),
        ]
        .concat();
        let found = read_mapped(&mut &bytes[..], &HashSet::from_iter([100])).expect("read_mapped");
        assert_eq!(found.sockets, HashMap::from_iter([(100, vec![10])]));
        assert_eq!(
            found.rings,
            HashMap::from_iter([(11, vec![(5000, 0x7f00_0000_0000), (5001, 0x7f00_0002_0000)])])
        );
    }

    /// The TCP listeners of whoport's namespace (7 here) among a pass's sockets: each once,
    /// at its first holder, with its port; not one of another namespace, whoever holds it,
    /// nor a socket that is no listener. Their inodes are holders' as any socket's.
    #[test]
    fn the_listeners_of_whoports_namespace_are_kept_with_their_ports() {
        let listener = |inode: u64, port: u64| inode | LISTENER_MARK | port << 32;
        let v6 = |inode: u64, port: u64| listener(inode, port) | LISTENER_IPV6;
        let bytes: Vec<u8> = [
            // A holder here: a listener, another socket, a listener of another namespace.
            record(10, NETNS_RECORD, 7),
            record(10, START_RECORD, 1),
            record(10, 3, listener(500, 8080)),
            record(10, 4, 501),
            record(10, 5, listener(502, 9090)),
            record(10, SOCKET_NETNS_RECORD, 9 << 32 | 502),
            // The first listener again, in another descriptor and another holder.
            record(10, 6, listener(500, 8080)),
            record(11, NETNS_RECORD, 7),
            record(11, START_RECORD, 1),
            record(11, 3, listener(500, 8080)),
            // A holder of another namespace: its own listener, and one of whoport's.
            record(12, NETNS_RECORD, 9),
            record(12, START_RECORD, 1),
            record(12, 3, listener(600, 22)),
            record(12, 4, listener(601, 443)),
            record(12, SOCKET_NETNS_RECORD, 7 << 32 | 601),
            // The port's own bits: 65535.
            record(13, NETNS_RECORD, 7),
            record(13, START_RECORD, 1),
            record(13, 3, v6(700, 65535)),
        ]
        .concat();
        let owners = parse(&bytes, Some(7), 100).expect("parsed").owners;
        let held = |inode, port, ipv6| HeldListener { inode, port, ipv6 };
        assert_eq!(
            owners.listeners,
            [
                held(500, 8080, false),
                held(601, 443, false),
                held(700, 65535, true)
            ]
        );
        for inode in [500, 501, 502, 600, 601, 700] {
            assert!(owners.pids.contains_key(&inode), "{inode}");
        }
        assert_eq!(owners.pids[&500], [10, 11]);
        // With whoport's namespace unknown, no listener is said to be of it.
        let owners = parse(&bytes, None, 100).expect("parsed").owners;
        assert!(owners.listeners.is_empty(), "{:?}", owners.listeners);
        // A value no socket record has (bits above the mark) names no socket.
        assert_eq!(socket_of(1 << 50 | LISTENER_MARK | 5), None);
        assert_eq!(
            socket_of(LISTENER_IPV6 | 5),
            None,
            "no mark: no socket record"
        );
        assert_eq!(socket_of(1 << 40 | 5), None);
        assert_eq!(socket_of(5), Some((5, None)));
    }

    /// A pass of the owner and queue program: the queue records go to the caller as they
    /// come (a cut mark, whose high bits are those of a ring record, too), never among the
    /// holders or the rings.
    #[test]
    fn queue_records_read_with_the_owners_are_told_apart() {
        let cut = 0xffff_ffff_0000_0001;
        let bytes: Vec<u8> = [
            record(10, NETNS_RECORD, 7),
            record(10, START_RECORD, 1),
            record(10, 3, 500),
            record(500, QUEUE_RECORD, 100),
            record(500, QUEUE_RECORD, cut),
            record(10, 4, 100),
        ]
        .concat();
        let mut queued = Vec::new();
        let (pids, rings, visited, elsewhere) = read_wanted(
            &mut &bytes[..],
            (&HashSet::from_iter([100, 500]), Some(7)),
            &mut |receiver, carried| queued.push((receiver, carried)),
        )
        .expect("read_wanted");
        assert_eq!(queued, vec![(500, 100), (500, cut)]);
        assert_eq!(pids, HashMap::from_iter([(100, vec![10]), (500, vec![10])]));
        assert!(rings.is_empty());
        assert_eq!(visited, HashSet::from_iter([10]));
        // Its task lives in whoport's namespace (7) and holds no socket of another.
        assert!(elsewhere.is_empty());
        // In another one, or whoport's own not known: it may hold another's sockets.
        for own in [Some(8), None] {
            let (.., elsewhere) =
                read_wanted(&mut &bytes[..], (&HashSet::new(), own), &mut |_, _| {})
                    .expect("read_wanted");
            assert_eq!(elsewhere, HashSet::from_iter([10]), "{own:?}");
        }
        // A socket of another namespace held in whoport's.
        let held = [
            bytes.clone(),
            record(10, SOCKET_NETNS_RECORD, (9 << 32) | 100),
        ]
        .concat();
        let (.., elsewhere) =
            read_wanted(&mut &held[..], (&HashSet::new(), Some(7)), &mut |_, _| {})
                .expect("read_wanted");
        assert_eq!(elsewhere, HashSet::from_iter([10]));
    }

    #[test]
    fn records_become_the_walks_answer() {
        let bytes: Vec<u8> = [
            record(10, NETNS_RECORD, 7),
            record(10, START_RECORD, 2_500_000_000),
            record(10, 3, 100),
            record(10, 4, 100),
            record(11, NETNS_RECORD, 9),
            record(11, START_RECORD, 1),
            record(12, NETNS_RECORD, 7),
            record(12, START_RECORD, 5),
            record(12, 5, 100),
            record(12, 6, 200),
            record(12, SOCKET_NETNS_RECORD, 4_026_532_999 << 32 | 200),
            record(12, 7, u64::from(u32::MAX) + 1),
            record(12, 8, RING_RECORD | 12),
            record(10, 9, RING_RECORD | 13),
        ]
        .concat();
        let Found { owners, rings } = parse(&bytes, Some(7), 100).expect("parse");
        let ring = |pid, tid, fd| Ring { pid, tid, fd };
        assert_eq!(
            rings,
            vec![ring(10, 13, 9), ring(12, 12, 8)],
            "io_uring instances, in the thread's table"
        );
        assert_eq!(owners.pids.get(&100), Some(&vec![10, 12]));
        assert_eq!(owners.pids.get(&200), Some(&vec![12]));
        assert_eq!(
            owners.pids.len(),
            2,
            "an inode past u32 is not a socket we list"
        );
        assert_eq!(owners.walked, 3);
        assert_eq!(
            owners.socket_netns,
            HashMap::from_iter([(200, 4_026_532_999)]),
            "socket 200 is of another namespace than its holder's"
        );
        assert_eq!((owners.other_netns, owners.other_netns_pid), (1, Some(11)));
        assert_eq!(owners.starts.get(&10), Some(&250));
        assert_eq!(owners.starts.get(&11), None, "no socket, no start time");
        assert!(matches!(
            parse(&bytes[..20], None, 100),
            Err(BpfError::Malformed(20))
        ));
        // A read again keeps, of the same records, the wanted inodes' holders and every ring.
        let wanted = HashSet::from_iter([100, 300]);
        let (pids, again_rings, visited, _) =
            read_wanted(&mut &bytes[..], (&wanted, None), &mut |_, _| {}).expect("read_wanted");
        let mut expected = owners.pids.clone();
        expected.retain(|inode, _| wanted.contains(inode));
        assert_eq!(pids, expected);
        assert_eq!(again_rings, rings);
        // Every task visited, with or without sockets: one that is not was not read.
        assert_eq!(visited, owners.visited);
        assert_eq!(visited, HashSet::from_iter([10, 11, 12]));
        assert!(matches!(
            read_wanted(&mut &bytes[..20], (&wanted, None), &mut |_, _| {}),
            Err(BpfError::Malformed(20))
        ));
    }

    /// A sleeper record of the given kind (bpf/owners.bpf.c, `struct sleeper_record`).
    fn sleeper(inode: u64, tgid: u32, tid: u32, kind: u32) -> Vec<u8> {
        let mut r = inode.to_ne_bytes().to_vec();
        for word in [tgid, tid, kind, 0] {
            r.extend(word.to_ne_bytes());
        }
        r
    }

    #[test]
    fn sleeper_records_say_how_the_thread_sleeps_and_unknown_kinds_are_skipped() {
        let bytes: Vec<u8> = [
            sleeper(100, 10, 11, SLEEPER_TASK),
            sleeper(100, 10, 12, SLEEPER_POLL),
            // A kind this whoport does not know says nothing.
            sleeper(101, 10, 13, 7),
            // An inode past u32 is no socket whoport asked about.
            sleeper(1 << 40, 10, 14, SLEEPER_TASK),
        ]
        .concat();
        let found = read_sleepers(&mut &bytes[..]).expect("read_sleepers");
        assert_eq!(
            found,
            (
                vec![
                    (100, 10, 11, WaitEntry::Thread),
                    (100, 10, 12, WaitEntry::Poll)
                ],
                Vec::new()
            )
        );
        // A record cut short is malformed, not misread.
        assert!(matches!(
            read_sleepers(&mut &bytes[..40]),
            Err(BpfError::Malformed(40))
        ));
    }

    /// Gives its bytes a few at a time, in uneven pieces: records arrive split between reads,
    /// as an iterator's do when its seq_file buffer ends inside one; every sixth read is
    /// `EAGAIN`, as the kernel's is after a million objects without output.
    pub(crate) struct Trickle<'a> {
        pub(crate) bytes: &'a [u8],
        pub(crate) turn: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            const PIECES: [usize; 5] = [1, 7, 13, 16, 4099];
            self.turn += 1;
            if self.turn % 6 == 0 {
                return Err(std::io::ErrorKind::WouldBlock.into());
            }
            let n = PIECES[self.turn % PIECES.len()]
                .min(buf.len())
                .min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    #[test]
    fn records_split_between_reads_are_parsed_whole() {
        let mut bytes = Vec::new();
        for pid in 1..500u32 {
            bytes.extend(record(pid, NETNS_RECORD, 7));
            bytes.extend(record(pid, START_RECORD, u64::from(pid) * 10_000_000));
            for fd in 3..10 {
                bytes.extend(record(pid, fd, u64::from(pid % 37) + 1000));
            }
            bytes.extend(record(pid, 10, RING_RECORD | u64::from(pid)));
        }
        let whole = parse(&bytes, Some(7), 100).expect("whole");
        let mut trickle = Trickle {
            bytes: &bytes,
            turn: 0,
        };
        let split = read_owners(&mut trickle, Some(7), 100).expect("split");
        assert_eq!(split.owners.pids, whole.owners.pids);
        assert_eq!(split.owners.starts, whole.owners.starts);
        assert_eq!(split.owners.walked, 499);
        assert_eq!(split.rings, whole.rings);
        assert_eq!(whole.owners.pids.len(), 37);
        assert_eq!(whole.owners.pids[&1000].len(), 13, "pids 37, 74, ... 481");
        // A last record cut short is malformed, however the bytes arrived.
        let mut cut = Trickle {
            bytes: &bytes[..bytes.len() - 3],
            turn: 0,
        };
        assert!(matches!(
            read_owners(&mut cut, None, 100),
            Err(BpfError::Malformed(n)) if n == bytes.len() - 3
        ));
    }

    /// The records of `copies` descriptors of one socket in each of `pids`' tables, made as
    /// they are read (never all in memory at once).
    struct Dups {
        pids: std::ops::Range<u32>,
        copies: u32,
        next: (u32, u32),
    }

    impl Read for Dups {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let mut n = 0;
            while n + RECORD_LEN <= buf.len() {
                let (pid, fd) = self.next;
                if pid >= self.pids.end {
                    break;
                }
                let r = match fd {
                    0 => record(pid, NETNS_RECORD, 7),
                    1 => record(pid, START_RECORD, 5),
                    fd => record(pid, fd, 4242),
                };
                buf[n..n + RECORD_LEN].copy_from_slice(&r);
                n += RECORD_LEN;
                self.next = if fd == self.copies + 1 {
                    (pid + 1, 0)
                } else {
                    (pid, fd + 1)
                };
            }
            Ok(n)
        }
    }

    /// A million descriptors of one socket, in two processes: each holder is kept once, and
    /// what is kept does not grow with the copies.
    #[test]
    fn a_million_copies_of_one_socket_are_two_holders() {
        let mut dups = Dups {
            pids: 100..102,
            copies: 500_000,
            next: (100, 0),
        };
        let found = read_owners(&mut dups, Some(7), 100).expect("parse");
        let holders = &found.owners.pids[&4242];
        assert_eq!(holders, &vec![100, 101]);
        assert!(holders.capacity() < 16, "{}", holders.capacity());
        assert_eq!(found.owners.pids.len(), 1);
        assert_eq!(found.owners.walked, 2);
        let mut dups = Dups {
            pids: 100..102,
            copies: 500_000,
            next: (100, 0),
        };
        let (pids, ..) = read_wanted(
            &mut dups,
            (&HashSet::from_iter([4242]), None),
            &mut |_, _| {},
        )
        .expect("again");
        assert_eq!(pids[&4242], vec![100, 101]);
        assert!(pids[&4242].capacity() < 16);
    }
}
