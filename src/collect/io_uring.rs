//! Sockets held inside io_uring instances where `/proc` cannot show them: requests in flight
//! (a pending accept, recv or poll holds its socket, and the ring's fdinfo counts such
//! requests in `PollList:` without naming their files), and rings registered with
//! `IORING_REGISTER_RING_FDS` whose own descriptor is closed (no fdinfo to read), and rings
//! kept alive only by a memory mapping (their descriptor closed after `mmap`), rings that
//! only other rings reach (a poll in flight on a ring, rings holding each other, read from
//! each task's io_uring context), and requests an io-wq worker is running (one that blocks
//! there without arming a poll is in no cancel table). A BPF
//! program (bpf/io_uring.bpf.c, embedded compiled) walks them in the kernel. Loaded only for
//! sockets still ownerless after every other look, only where BPF may be used, and by the
//! loader of the one load the second look's checks share (the owner lookup's when that
//! lookup ran in the kernel; collect/bpf.rs `Shared`).

use crate::hash::{HashMap, HashSet};

use super::bpf::{self, Loaded, Program, Shared};

/// The program over descriptor tables (requests of the rings there), the one that finds the
/// tasks with registered rings, and the one that walks those rings.
const REQUESTS: Program = Program {
    name: "whoport_ring_requests",
    iter: "task_file",
};
/// The same, with the registered files of those rings too: for rings whose fdinfo whoport
/// could not read (another user's), or in tables the walk could not read.
const TABLE_RINGS: Program = Program {
    name: "whoport_table_rings",
    iter: "task_file",
};
const REGISTERED_TASKS: Program = Program {
    name: "whoport_registered_tasks",
    iter: "task",
};
const REGISTERED: Program = Program {
    name: "whoport_registered_rings",
    iter: "task",
};
/// The program that walks every ring of each task's io_uring context (the rings it made or
/// submitted to), for rings no descriptor, mapping or registered ring table reaches.
const USED: Program = Program {
    name: "whoport_used_rings",
    iter: "task",
};
/// The program that walks the ring mapped at the address user space writes into its `target`
/// (the object's `.bss`), one ring per read.
const MAPPED: Program = Program {
    name: "whoport_mapped_rings",
    iter: "task",
};
/// At most this many mapped rings are looked at in one run (each a pass over every task; the
/// rest are said not to be read).
pub const MAX_MAPPED: usize = 32;
/// The bound of the in-kernel walk of one task's rings, in steps (bpf/io_uring.bpf.c
/// `MAX_STEPS`): a registered file, a request, a hash bucket, a ring or a slot each.
pub const MAX_STEPS: usize = 8192;
const KERNEL_BTF: &str = super::btf_file::PATH;

const RECORD_LEN: usize = 16;
const REQUEST: u32 = 1;
const REGISTERED_FILE: u32 = 2;
const TRUNCATED: u32 = 3;
const NESTED: u32 = 4;
const HAS_REGISTERED: u32 = 5;
const BUSY: u32 = 6;
const GONE: u32 = 7;
const USES: u32 = 8;
const WALKED: u32 = 9;

/// A ring a process maps into memory that no descriptor table holds: its PID, and an address
/// inside one of its mappings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MappedRing {
    pub pid: u32,
    pub address: u64,
}

/// What the programs found: inode -> PIDs, for sockets held by a request in flight, and for
/// sockets registered in a ring that only a registered ring table reaches; the PIDs whose
/// rings were not walked to the end (the programs' bounds), and those with a request in
/// flight on another io_uring instance (not walked); the PIDs whose mapped rings were not
/// looked at (their memory-map lock was held, or beyond [`MAX_MAPPED`]).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Held {
    pub requests: HashMap<u32, Vec<u32>>,
    pub registered: HashMap<u32, Vec<u32>>,
    pub truncated: Vec<u32>,
    pub nested: Vec<u32>,
    pub busy: Vec<u32>,
    /// The PIDs with io_uring instances in use (whether or not whoport saw them).
    pub uses: Vec<u32>,
    /// The PIDs whose registered ring tables hold a ring (walked in the kernel).
    pub reached: Vec<u32>,
    /// The PIDs every ring of whose io_uring contexts was walked to the end (in the kernel,
    /// rings that only other rings reach included).
    pub walked: Vec<u32>,
}

/// Looks into every io_uring instance for the `wanted` sockets: the requests in flight of the
/// rings in descriptor tables when `rings_seen` (the walk or the iterator passed some), with
/// their registered files when `unread` (some ring's fdinfo, or some descriptor table, could
/// not be read), the
/// rings of registered ring tables, the `mapped` rings no descriptor holds, and the rings of
/// each task's io_uring context where some are reached from nothing else: a process with
/// rings in use that is not in `seen` (the PIDs whose rings whoport saw, in a table or
/// mapped), or a request in flight on a ring. `loaded`: the objects the second look shares
/// (loaded here if nothing needed them before). `Err` when the programs could not run here,
/// with why.
pub fn look(
    wanted: &HashSet<u32>,
    (rings_seen, seen, unread): (bool, &HashSet<u32>, bool),
    mapped: &[MappedRing],
    loaded: &mut Shared,
) -> Result<Held, String> {
    // Root without the capabilities (a container, a dropped bounding set) is told what it
    // lacks, not to run as root.
    super::owners::kernel_may_be_asked("looking into io_uring requests")?;
    if super::btf_file::present().is_err() {
        return Err(format!(
            "the kernel has no BTF ({KERNEL_BTF}) to look into io_uring requests"
        ));
    }
    super::owners::pids_as_proc_numbers_them()
        .map_err(|why| format!("io_uring requests were not looked into: {why}"))?;
    let mut mapped = mapped.to_vec();
    mapped.sort_unstable();
    mapped.dedup();
    let beyond: Vec<u32> = mapped.iter().skip(MAX_MAPPED).map(|m| m.pid).collect();
    mapped.truncate(MAX_MAPPED);
    let mut held = run(loaded.get()?, (rings_seen, seen, unread), &mapped, wanted)
        .map_err(|e| bpf::explain(&e))?;
    held.busy.extend(beyond);
    held.busy.sort_unstable();
    held.busy.dedup();
    Ok(held)
}

/// Verifies, attaches and reads the programs that have work, once each (the mapped rings'
/// once per ring): each pass parsed as it streams ([`bpf::each_record`]), so that what is kept
/// grows with the `wanted` sockets and the PIDs found, never with the records (a ring with
/// thousands of registered files, or thousands of rings).
fn run(
    loaded: &mut Loaded,
    (rings_seen, seen, unread): (bool, &HashSet<u32>, bool),
    mapped: &[MappedRing],
    wanted: &HashSet<u32>,
) -> Result<Held, bpf::BpfError> {
    let mut held = Held::default();
    let tgid = |r: &[u8]| u32::from_ne_bytes([r[0], r[1], r[2], r[3]]);
    let kind = |r: &[u8]| u32::from_ne_bytes([r[4], r[5], r[6], r[7]]);
    // A request in flight on a ring.
    let mut nested = false;
    if rings_seen || unread {
        let program = if unread { TABLE_RINGS } else { REQUESTS };
        loaded.io_uring(program, &mut |r| {
            nested |= kind(r) == NESTED;
            held.add(r, wanted);
        })?;
    }
    let (mut has_registered, mut unseen) = (false, false);
    loaded.io_uring(REGISTERED_TASKS, &mut |r| {
        has_registered |= kind(r) == HAS_REGISTERED;
        // A process using rings whoport saw none of.
        unseen |= kind(r) == USES && !seen.contains(&tgid(r));
        held.add(r, wanted);
    })?;
    if has_registered {
        loaded.io_uring(REGISTERED, &mut |r| held.add(r, wanted))?;
    }
    // Rings that only other rings may reach.
    if unseen || nested {
        loaded.io_uring(USED, &mut |r| held.add(r, wanted))?;
    }
    for ring in mapped {
        // `struct target` (bpf/io_uring.bpf.c): { u32 tgid; u32 looked; u64 address; }.
        let mut target = [0u8; 16];
        target[..4].copy_from_slice(&ring.pid.to_ne_bytes());
        target[8..].copy_from_slice(&ring.address.to_ne_bytes());
        loaded.io_uring_bss(target)?;
        loaded.io_uring(MAPPED, &mut |r| held.add(r, wanted))?;
    }
    Ok(held.sorted())
}

impl Held {
    /// One record `{ u32 tgid; u32 kind; u64 value; }` of the programs, for the `wanted`
    /// sockets.
    fn add(&mut self, record: &[u8], wanted: &HashSet<u32>) {
        let u32_at = |at: usize| {
            u32::from_ne_bytes([record[at], record[at + 1], record[at + 2], record[at + 3]])
        };
        let (tgid, kind) = (u32_at(0), u32_at(4));
        let mut value = [0u8; 8];
        value.copy_from_slice(&record[8..RECORD_LEN]);
        let inode = u32::try_from(u64::from_ne_bytes(value)).ok();
        let map = match kind {
            REQUEST => &mut self.requests,
            REGISTERED_FILE => &mut self.registered,
            GONE => return,
            TRUNCATED | NESTED | BUSY | USES | HAS_REGISTERED | WALKED => {
                let pids = match kind {
                    TRUNCATED => &mut self.truncated,
                    NESTED => &mut self.nested,
                    USES => &mut self.uses,
                    HAS_REGISTERED => &mut self.reached,
                    WALKED => &mut self.walked,
                    _ => &mut self.busy,
                };
                if !pids.contains(&tgid) {
                    pids.push(tgid);
                }
                return;
            }
            _ => return,
        };
        if let Some(inode) = inode.filter(|i| wanted.contains(i)) {
            let pids = map.entry(inode).or_default();
            if !pids.contains(&tgid) {
                pids.push(tgid);
            }
        }
    }

    /// Every list in order.
    fn sorted(mut self) -> Held {
        for pids in self
            .requests
            .values_mut()
            .chain(self.registered.values_mut())
        {
            pids.sort_unstable();
        }
        self.truncated.sort_unstable();
        self.nested.sort_unstable();
        self.busy.sort_unstable();
        self.uses.sort_unstable();
        self.reached.sort_unstable();
        self.walked.sort_unstable();
        self
    }
}

/// The programs' records `{ u32 tgid; u32 kind; u64 value; }` of whole passes, for the
/// `wanted` sockets.
#[cfg(test)]
pub fn parse(bytes: &[u8], wanted: &HashSet<u32>) -> Option<Held> {
    if bytes.len() % RECORD_LEN != 0 {
        return None;
    }
    let mut held = Held::default();
    for record in bytes.chunks_exact(RECORD_LEN) {
        held.add(record, wanted);
    }
    Some(held.sorted())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(tgid: u32, kind: u32, value: u64) -> Vec<u8> {
        [
            tgid.to_ne_bytes().as_slice(),
            kind.to_ne_bytes().as_slice(),
            value.to_ne_bytes().as_slice(),
        ]
        .concat()
    }

    #[test]
    fn records_name_the_holders_of_wanted_sockets_only() {
        let bytes = [
            record(7, REQUEST, 100),
            record(7, REQUEST, 100),
            record(9, REQUEST, 100),
            record(7, REGISTERED_FILE, 200),
            record(8, REGISTERED_FILE, 300),
            record(8, TRUNCATED, 0),
            record(8, TRUNCATED, 0),
            record(9, NESTED, 0),
            record(4, BUSY, 0x7f00_0000_0000),
            record(4, BUSY, 0x7f00_0000_0000),
            record(3, GONE, 0x7f00_0000_0000),
            record(12, USES, 0),
            record(11, USES, 0),
            record(12, USES, 0),
            record(12, HAS_REGISTERED, 0),
            record(13, WALKED, 0),
            record(13, WALKED, 0),
            record(5, 99, 100),
            record(6, REQUEST, u64::from(u32::MAX) + 100),
        ]
        .concat();
        let held = parse(&bytes, &HashSet::from_iter([100, 200])).expect("parse");
        assert_eq!(held.requests, HashMap::from_iter([(100, vec![7, 9])]));
        assert_eq!(held.registered, HashMap::from_iter([(200, vec![7])]));
        assert_eq!(held.truncated, vec![8]);
        assert_eq!(held.nested, vec![9]);
        assert_eq!(held.busy, vec![4]);
        assert_eq!(held.uses, vec![11, 12]);
        assert_eq!(held.reached, vec![12]);
        assert_eq!(held.walked, vec![13]);
        assert_eq!(parse(&bytes[..20], &HashSet::default()), None);
        // As the passes stream: records split between reads (and reads ended by EAGAIN)
        // give the same answer.
        let mut streamed = Held::default();
        let mut trickle = bpf::Trickle {
            bytes: &bytes,
            turn: 0,
        };
        bpf::each_record(&mut trickle, RECORD_LEN, |r| {
            streamed.add(r, &HashSet::from_iter([100, 200]));
        })
        .expect("streamed");
        assert_eq!(streamed.sorted(), held);
    }
}
