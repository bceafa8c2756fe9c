//! Descriptors in transit: a BPF `unix` iterator (`whoport_in_flight` in bpf/owners.bpf.c,
//! embedded compiled) walks every unix socket's receive queue of this network namespace and
//! reports the socket files carried in messages not yet received (`SCM_RIGHTS`), with the unix
//! socket each waits in. Run only for sockets still ownerless after every other look, only
//! when some unix socket has something queued, and only where the iterator may load
//! (CAP_SYS_ADMIN or CAP_BPF with CAP_PERFMON, kernel BTF). It comes from the object the owner
//! lookup loaded when that lookup ran in the kernel, and otherwise from the one load the
//! second look's checks share (collect/bpf.rs `Shared`).

use crate::hash::{HashMap, HashMapExt, HashSet, HashSetExt};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_sock_diag::unix::{ShowFlags, StateFlags, UnixRequest};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use netlink_sys::{Socket as NetlinkSocket, SocketAddr};

use super::bpf::{self, Shared};
use crate::model::{Hidden, QueuesUnread, Relay};

const RECORD_LEN: usize = 16;

/// The high 32 bits of a record's `carried` that make it the last record of a queue not read
/// to its end (bpf/owners.bpf.c CUT_MARK); the low bits say why.
const CUT_MARK: u64 = 0xffff_ffff_0000_0000;
/// Why a queue was not read to its end: the program reported as many sockets of it as one
/// record of the iterator holds (bpf/owners.bpf.c MAX_RECORDS)...
const CUT_RECORDS: u64 = 1;
const MAX_RECORDS: usize = 2000;
/// ... or walked as many messages and descriptors of it as it may (MAX_STEPS).
const CUT_STEPS: u64 = 2;
const MAX_STEPS: usize = 65536;

/// What one pass of a unix-queue program read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Carried {
    /// Carried inode -> inodes of the unix sockets whose receive queues hold it (0: a unix
    /// socket with no file yet, such as a connection not accepted).
    pub found: HashMap<u32, Vec<u64>>,
    /// The queues not read to their end: (unix socket inode, why: CUT_RECORDS or CUT_STEPS).
    pub cut: Vec<(u64, u64)>,
}

impl Carried {
    /// Adds what another pass read.
    fn merge(&mut self, other: Carried) {
        for (inode, queues) in other.found {
            let known = self.found.entry(inode).or_default();
            for queue in queues {
                if !known.contains(&queue) {
                    known.push(queue);
                }
            }
        }
        for cut in other.cut {
            if !self.cut.contains(&cut) {
                self.cut.push(cut);
            }
        }
    }

    /// Why a socket found in no queue may still be in one: the queues that were not read to
    /// their end, worded; `None` when every queue read was read whole.
    pub fn unread(&self) -> Option<String> {
        let mut cut = self.cut.clone();
        cut.sort_unstable();
        let (queue, why) = *cut.first()?;
        let which = match queue {
            0 => "the queue of a unix socket connection not yet accepted".to_string(),
            inode => format!("the queue of unix socket {inode}"),
        };
        let because = match why {
            CUT_RECORDS => format!(
                "it carries more than {MAX_RECORDS} sockets, as many as \
                 whoport reads of one queue"
            ),
            CUT_STEPS => format!(
                "it holds more than {MAX_STEPS} messages and descriptors, as \
                 many as whoport reads of one queue"
            ),
            _ => "the kernel stopped it".to_string(),
        };
        let more = match cut.len() {
            1 => String::new(),
            2 => ", nor 1 other queue".to_string(),
            n => format!(", nor {} other queues", n - 1),
        };
        Some(format!("{which} was not read to the end ({because}){more}"))
    }
}

/// Every socket in transit in this network namespace, and the queues not read to their end.
/// `Err` when the iterator could not run here, with what the kernel said. `loaded`: the
/// objects the second look shares, loaded here if nothing needed them before.
pub fn carried(loaded: &mut Shared) -> Result<Carried, String> {
    may_look()?;
    // Nothing queued anywhere: nothing is in transit, and nothing needs loading. A failed
    // dump proves nothing: then the queues are looked into.
    if queued().is_ok_and(|q| q.is_empty()) {
        return Ok(Carried::default());
    }
    let mut found = Carried::default();
    loaded
        .get()?
        .in_flight(&mut |record| add(&mut found, record))
        .map_err(|e| bpf::explain(&e))?;
    Ok(found)
}

/// Sockets in transit in the queues of unix sockets of other network namespaces that
/// descriptor tables hold (a unix socket pair made in another namespace, then kept across
/// `setns` or passed): as [`carried`]. The unix iterator and the unix_diag dump see only
/// whoport's own namespace.
pub fn carried_elsewhere(loaded: &mut Shared) -> Result<Carried, String> {
    may_look()?;
    let mut found = Carried::default();
    loaded
        .get()?
        .foreign_queues(&mut |record| add(&mut found, record))
        .map_err(|e| bpf::explain(&e))?;
    Ok(found)
}

/// A look into the other network namespaces' unix socket queues: [`carried_elsewhere`], or
/// one that reads them with something else in the same pass. It is given the unix sockets
/// whose holders are wanted too: a pass that reads the descriptor tables as well gives their
/// holders (inode -> PIDs, those no table holds absent), read in that same pass.
pub type Elsewhere<'a> =
    &'a mut dyn FnMut(
        &mut Shared,
        &HashSet<u32>,
    ) -> Result<(Carried, Option<HashMap<u32, Vec<u32>>>), String>;

/// Whether the queues may be looked into here; why not otherwise.
pub fn may_look() -> Result<(), String> {
    super::owners::kernel_may_be_asked("that")?;
    if super::btf_file::present().is_err() {
        return Err("the kernel has no BTF (/sys/kernel/btf/vmlinux)".to_string());
    }
    Ok(())
}

/// Every unix socket state (the kernel's TCP_* numbers: 1 connected, 7 unconnected,
/// 10 listening...).
const ALL_STATES: u32 = u32::MAX;

/// The unix sockets of this network namespace that have something queued, from one unix_diag
/// dump (UNIX_DIAG_RQLEN): a listener with connections not yet accepted, a socket with bytes
/// to read, or one whose sent messages are not yet read (a sender is charged for what waits
/// in its peer's queue). A message carrying descriptors waits in a receive queue, so when
/// none of these is found nothing is in transit, but for one case the dump cannot show: a
/// datagram of no bytes at the head of a queue, whose sending socket was closed.
pub fn queued() -> std::io::Result<Vec<u32>> {
    let mut socket = NetlinkSocket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut packet = NetlinkMessage::new(
        header,
        SockDiagMessage::UnixRequest(UnixRequest {
            // Set below: the crate's StateFlags names only two states.
            state_flags: StateFlags::empty(),
            inode: 0,
            show_flags: ShowFlags::RQLEN,
            cookie: [0xff; 8],
        })
        .into(),
    );
    packet.finalize();
    let mut request = vec![0; packet.buffer_len()];
    packet.serialize(&mut request);
    // struct unix_diag_req follows the 16-byte netlink header: family, protocol, pad (u16),
    // then the 32-bit udiag_states mask in host byte order.
    const STATES_AT: usize = 16 + 4;
    request[STATES_AT..STATES_AT + 4].copy_from_slice(&ALL_STATES.to_ne_bytes());
    socket.send(&request, 0)?;
    let mut found = Vec::new();
    let mut buf = vec![0u8; 1 << 15];
    loop {
        let size = socket.recv(&mut &mut buf[..], 0)?;
        if size == 0 {
            return Ok(found);
        }
        let mut offset = 0;
        while offset < size {
            let message: NetlinkMessage<SockDiagMessage> =
                NetlinkMessage::deserialize(&buf[offset..size])
                    .map_err(|e| std::io::Error::other(format!("unix_diag message: {e}")))?;
            let length = message.header.length as usize;
            match message.payload {
                NetlinkPayload::InnerMessage(SockDiagMessage::UnixResponse(r)) => {
                    let queues = r.nlas.iter().find_map(|nla| match nla {
                        netlink_packet_sock_diag::unix::nlas::Nla::ReceiveQueueLength(rq, wq) => {
                            Some((*rq, *wq))
                        }
                        _ => None,
                    });
                    if holds_something(r.header.state, queues) {
                        found.push(r.header.inode);
                    }
                }
                NetlinkPayload::Error(e) => {
                    return Err(match e.code {
                        Some(code) => std::io::Error::from_raw_os_error(-code.get()),
                        None => std::io::Error::other("unix_diag error"),
                    })
                }
                NetlinkPayload::Done(_) => return Ok(found),
                _ => {}
            }
            if length == 0 {
                return Ok(found);
            }
            offset += length;
        }
    }
}

/// Whether a unix socket in `state` with the UNIX_DIAG_RQLEN pair `queues` may have a message
/// waiting: a listener's first number is its connections not yet accepted (each may have
/// messages queued already), anyone else's the bytes to read and the bytes sent but not yet
/// read. Without the attribute, it may.
fn holds_something(state: u8, queues: Option<(u32, u32)>) -> bool {
    const LISTEN: u8 = 10;
    match queues {
        None => true,
        Some((pending, _backlog)) if state == LISTEN => pending > 0,
        Some((to_read, sent)) => to_read > 0 || sent > 0,
    }
}

/// The iterator's records `{ u64 receiver; u64 carried; }`: carried inode -> receivers.
#[cfg(test)]
pub fn parse(bytes: &[u8]) -> Option<Carried> {
    if bytes.len() % RECORD_LEN != 0 {
        return None;
    }
    let mut found = Carried::default();
    for record in bytes.chunks_exact(RECORD_LEN) {
        add(&mut found, record);
    }
    Some(found)
}

/// One record `{ u64 receiver; u64 carried; }` of the unix-queue programs, into `found`
/// (carried inode -> receivers, or a queue not read to its end), as the pass streams.
fn add(found: &mut Carried, record: &[u8]) {
    let mut receiver = [0u8; 8];
    let mut carried = [0u8; 8];
    receiver.copy_from_slice(&record[..8]);
    carried.copy_from_slice(&record[8..RECORD_LEN]);
    add_pair(
        found,
        u64::from_ne_bytes(receiver),
        u64::from_ne_bytes(carried),
    );
}

/// One record's (receiver, carried) into `found`, as [`add`].
pub fn add_pair(found: &mut Carried, receiver: u64, carried: u64) {
    if carried & CUT_MARK == CUT_MARK {
        let cut = (receiver, carried & !CUT_MARK);
        if !found.cut.contains(&cut) {
            found.cut.push(cut);
        }
        return;
    }
    let Ok(carried) = u32::try_from(carried) else {
        return;
    };
    let receivers = found.found.entry(carried).or_default();
    if !receivers.contains(&receiver) {
        receivers.push(receiver);
    }
}

/// How many unix sockets in a row are followed from a socket in transit to a process.
pub const MAX_RELAYS: usize = 8;

/// The unix sockets (their inodes, without 0) a chain from `start` may pass through, at most
/// [`MAX_RELAYS`] deep: the queues it waits in, the queues those wait in, and so on.
fn relays(start: u32, graph: &HashMap<u32, Vec<u64>>) -> HashSet<u32> {
    let mut seen = HashSet::new();
    let mut frontier = vec![start];
    for _ in 0..MAX_RELAYS {
        let next: Vec<u32> = frontier
            .iter()
            .filter_map(|inode| graph.get(inode))
            .flatten()
            .filter_map(|&q| u32::try_from(q).ok())
            .filter(|&q| q != 0 && seen.insert(q))
            .collect();
        if next.is_empty() {
            break;
        }
        frontier = next;
    }
    seen
}

/// Who will receive `start`, a socket in transit: the holders of the first unix sockets on
/// its way that a process holds (the queues it waits in; when none of those is held and they
/// are in transit themselves, the queues they wait in, and so on), and how they are reached.
/// Bounded by [`MAX_RELAYS`]; a cycle ends when every way leads back.
pub fn follow(
    start: u32,
    graph: &HashMap<u32, Vec<u64>>,
    holders: &HashMap<u32, Vec<u32>>,
) -> (Vec<u32>, Relay) {
    let (pids, relay, _) = follow_to(start, graph, holders);
    (pids, relay)
}

/// [`follow`], with the held unix sockets the receivers were found through.
fn follow_to(
    start: u32,
    graph: &HashMap<u32, Vec<u64>>,
    holders: &HashMap<u32, Vec<u32>>,
) -> (Vec<u32>, Relay, Vec<u32>) {
    let relay = |depth: usize| {
        if depth == 1 {
            Relay::Direct
        } else {
            Relay::Chain(depth)
        }
    };
    let mut seen: HashSet<u64> = HashSet::new();
    let mut frontier: Vec<u64> = graph.get(&start).cloned().unwrap_or_default();
    frontier.retain(|q| seen.insert(*q));
    for depth in 1..=MAX_RELAYS {
        let held: Vec<u32> = frontier
            .iter()
            .filter_map(|&q| u32::try_from(q).ok())
            .filter(|q| holders.contains_key(q))
            .collect();
        let mut pids: Vec<u32> = held
            .iter()
            .filter_map(|q| holders.get(q))
            .flatten()
            .copied()
            .collect();
        if !pids.is_empty() {
            pids.sort_unstable();
            pids.dedup();
            return (pids, relay(depth), held);
        }
        // None held: those in transit lead on (a socket with no file yet leads nowhere).
        let onward: Vec<Option<&Vec<u64>>> = frontier
            .iter()
            .map(|&q| {
                u32::try_from(q)
                    .ok()
                    .filter(|&q| q != 0)
                    .and_then(|q| graph.get(&q))
            })
            .collect();
        let dead_end = onward.is_empty() || onward.iter().any(Option::is_none);
        let next: Vec<u64> = onward
            .into_iter()
            .flatten()
            .flatten()
            .copied()
            .filter(|q| seen.insert(*q))
            .collect();
        if next.is_empty() {
            return if dead_end {
                (Vec::new(), relay(depth), Vec::new())
            } else {
                // Every way leads back to a unix socket already passed.
                (Vec::new(), Relay::Cycle, Vec::new())
            };
        }
        frontier = next;
    }
    (Vec::new(), Relay::Beyond(MAX_RELAYS), Vec::new())
}

/// What one look into the unix socket queues established.
#[derive(Debug, Default)]
pub struct Queued {
    /// The `waiting` sockets found in a queue, each with its reason naming who it waits for.
    pub reasons: HashMap<u32, Hidden>,
    /// Why not every queue a socket may wait in was read to its end, when one was not: the
    /// queues of the unix sockets of other network namespaces could not be looked into, or a
    /// queue was not read to its end. Then a socket not found may still wait in one of them,
    /// and its absence proves nothing.
    pub unread: Option<QueuesUnread>,
}

/// The `waiting` sockets (ownerless, still there) found in unix socket receive queues, each
/// with its reason naming who it waits for. `Err` when the queues cannot be looked into, with
/// why: then the reasons say what remains possible. `via_iterator`: the owner lookup ran in
/// the kernel (`loaded` holds its object), so the holders of the queues are read by the
/// iterator again, which sees every task's table; otherwise by the walk, whose `unreadable`
/// processes are named in the reasons. `elsewhere` reads the other network namespaces' queues
/// ([`carried_elsewhere`], or a pass that reads the tables too), asked only for sockets
/// missing from this namespace's queues.
pub fn reasons(
    waiting: &HashSet<u32>,
    (unreadable, unreadable_pids): (usize, &[u32]),
    via_iterator: bool,
    (loaded, elsewhere): (&mut Shared, Elsewhere),
) -> Result<Queued, String> {
    let mut reasons = HashMap::new();
    if waiting.is_empty() {
        return Ok(Queued {
            reasons,
            unread: None,
        });
    }
    let mut carried = carried(loaded)?;
    let mut elsewhere_unread = None;
    // The holders of the unix sockets asked for, read with the other namespaces' queues.
    let mut read_with_queues = None;
    // Not in this namespace's queues: perhaps in another namespace's unix socket, held here.
    if waiting.iter().any(|i| !carried.found.contains_key(i)) {
        // The unix sockets this namespace's queues put on the way of the waiting sockets:
        // their holders are read in the same pass when it reads the tables too.
        let asked: HashSet<u32> = waiting
            .iter()
            .flat_map(|&i| relays(i, &carried.found))
            .collect();
        match elsewhere(loaded, &asked) {
            Ok((elsewhere, holders)) => {
                carried.merge(elsewhere);
                read_with_queues = holders.map(|holders| (asked, holders));
            }
            Err(why) => {
                elsewhere_unread = Some(QueuesUnread::NotLookedInto(format!(
                    "those of unix sockets of other network namespaces: {why}"
                )));
            }
        }
    }
    let cut = carried.unread();
    let unread = cut
        .clone()
        .map(QueuesUnread::NotToTheEnd)
        .or(elsewhere_unread);
    let graph = carried.found;
    let waiting: Vec<u32> = waiting
        .iter()
        .copied()
        .filter(|i| graph.contains_key(i))
        .collect();
    let queues: HashSet<u32> = waiting.iter().flat_map(|&i| relays(i, &graph)).collect();
    // Who holds the queues is not known: nothing is said of who it waits for (no look).
    // Where the pass that read the other namespaces' queues read the holders of every unix
    // socket on the way, those are the holders (no pass more).
    let read_with_queues = read_with_queues.filter(|(asked, _)| queues.is_subset(asked));
    let (holders, by_ring) = if let (true, Some((_, holders))) = (via_iterator, read_with_queues) {
        let rings = loaded.get().map(|l| l.rings.clone()).unwrap_or_default();
        or_registered(&queues, holders, &rings)
    } else if via_iterator {
        queue_holders(&queues, Some(loaded))?
    } else {
        walked_queue_holders(&queues, unreadable > 0, loaded)
    };
    for inode in waiting {
        let (pids, relay, held) = follow_to(inode, &graph, &holders);
        // No receiver found: a unix socket on its way may wait where a queue was cut.
        let unread = if pids.is_empty() { cut.clone() } else { None };
        // Those that hold the receiving end only as an io_uring registered file.
        let through_io_uring = pids
            .iter()
            .copied()
            .filter(|pid| {
                held.iter()
                    .filter(|q| holders.get(q).is_some_and(|p| p.contains(pid)))
                    .all(|q| by_ring.contains(q))
            })
            .collect();
        let receivers = pids
            .into_iter()
            .map(|pid| {
                let name =
                    super::linux::comm(pid).map(|c| String::from_utf8_lossy(&c).into_owned());
                (pid, name.unwrap_or_else(|| "exited".to_string()))
            })
            .collect();
        reasons.insert(
            inode,
            Hidden::InTransit {
                receivers,
                through_io_uring,
                relay,
                unreadable,
                unreadable_pids: unreadable_pids.to_vec(),
                unread,
            },
        );
    }
    Ok(Queued { reasons, unread })
}

/// [`queue_holders`] after the walk: where it could not read some processes' tables
/// (`unread_tables`) and the kernel may be asked, the tables are read there, as the iterator
/// reads them (a process the kernel's iterator does not visit through /proc), so that the
/// holders named are those the iterator names; otherwise, or if that read fails, the walk's.
#[allow(clippy::type_complexity)]
fn walked_queue_holders(
    queues: &HashSet<u32>,
    unread_tables: bool,
    loaded: &mut Shared,
) -> (HashMap<u32, Vec<u32>>, HashSet<u32>) {
    if unread_tables
        && !queues.is_empty()
        && super::owners::kernel_may_be_asked("reading descriptor tables").is_ok()
    {
        let began = super::unvisited::boot_ticks();
        if let Ok((mut holders, by_ring)) = queue_holders(queues, Some(&mut *loaded)) {
            if let Ok(l) = loaded.get() {
                let skipped = super::unvisited::read(&l.visited, began, Some(queues));
                for (queue, pids) in skipped.pids {
                    let held = holders.entry(queue).or_default();
                    held.extend(pids);
                    held.sort_unstable();
                    held.dedup();
                }
            }
            return (holders, by_ring);
        }
    }
    queue_holders(queues, None).unwrap_or_default()
}

/// Who holds each of these unix sockets: inode -> PIDs, found in descriptor tables (the
/// iterator's read of every task's table when `iterator` is given, else the walk of the
/// processes' and their threads' own), and for those no descriptor holds, among the
/// registered files of the io_uring instances seen; with the unix sockets held only that way.
/// `Err` when the iterator could not be read again, with why: then nothing is known of the
/// holders.
#[allow(clippy::type_complexity)]
fn queue_holders(
    queues: &HashSet<u32>,
    iterator: Option<&mut Shared>,
) -> Result<(HashMap<u32, Vec<u32>>, HashSet<u32>), String> {
    if queues.is_empty() {
        return Ok((HashMap::new(), HashSet::new()));
    }
    let not_read = |why: String| {
        format!("the holders of the unix sockets that queues hold it in could not be read ({why})")
    };
    let (holders, rings) = match iterator {
        Some(shared) => {
            let loaded = shared.get().map_err(not_read)?;
            let again = loaded
                .again(queues)
                .map_err(|e| not_read(bpf::explain(&e)))?;
            (again, loaded.rings.clone())
        }
        None => match super::linux::walk_fds(Some(queues)) {
            Ok(walk) => (walk.pids, walk.seen.rings),
            Err(_) => (HashMap::new(), Vec::new()),
        },
    };
    Ok(or_registered(queues, holders, &rings))
}

/// The `holders` found in descriptor tables of each of the `queues` unix sockets, with, for
/// those no descriptor holds, the processes whose io_uring instances (`rings`) hold them as a
/// registered file; and the unix sockets held only that way.
#[allow(clippy::type_complexity)]
fn or_registered(
    queues: &HashSet<u32>,
    mut holders: HashMap<u32, Vec<u32>>,
    rings: &[super::linux::Ring],
) -> (HashMap<u32, Vec<u32>>, HashSet<u32>) {
    // Or as an io_uring registered file, its descriptor closed.
    let left: HashSet<u32> = queues
        .iter()
        .copied()
        .filter(|q| !holders.contains_key(q))
        .collect();
    let mut by_ring = HashSet::new();
    if !left.is_empty() && !rings.is_empty() {
        for (queue, pids) in super::ownerless::registered_in(rings, &left) {
            by_ring.insert(queue);
            holders.insert(queue, pids);
        }
    }
    (holders, by_ring)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(receiver: u64, carried: u64) -> Vec<u8> {
        [receiver.to_ne_bytes(), carried.to_ne_bytes()].concat()
    }

    #[test]
    fn what_a_unix_socket_may_hold_queued() {
        const LISTEN: u8 = 10;
        assert!(!holds_something(LISTEN, Some((0, 128))), "backlog only");
        assert!(
            holds_something(LISTEN, Some((1, 128))),
            "a connection not accepted"
        );
        assert!(!holds_something(1, Some((0, 0))));
        assert!(holds_something(1, Some((1, 0))), "bytes to read");
        assert!(holds_something(7, Some((0, 768))), "sent, not yet read");
        assert!(holds_something(1, None), "unknown: it may");
    }

    /// A socket pair of our own: not listed while empty; once one end has written a byte,
    /// both ends are (one has it to read, the other is charged for it).
    #[test]
    fn the_dump_lists_the_unix_sockets_with_something_queued() {
        use std::io::Write;
        use std::os::fd::AsFd;
        let (mut a, b) = std::os::unix::net::UnixStream::pair().expect("socket pair");
        let inode = |s: &std::os::unix::net::UnixStream| {
            u32::try_from(rustix::fs::fstat(s.as_fd()).expect("fstat").st_ino).expect("u32")
        };
        let (ia, ib) = (inode(&a), inode(&b));
        let before = queued().expect("unix_diag dump");
        assert!(!before.contains(&ia) && !before.contains(&ib), "{before:?}");
        a.write_all(b"x").expect("write");
        let after = queued().expect("unix_diag dump");
        assert!(after.contains(&ib), "to read: {after:?}");
        assert!(after.contains(&ia), "sent, not yet read: {after:?}");
        drop(b);
    }

    #[test]
    fn records_name_the_queues_each_socket_waits_in() {
        let bytes = [
            record(500, 100),
            record(500, 100),
            record(501, 100),
            record(0, 200),
            record(502, 300),
            record(503, u64::from(u32::MAX) + 100),
        ]
        .concat();
        let parsed = parse(&bytes).expect("parse");
        let found = &parsed.found;
        assert_eq!(found.get(&100), Some(&vec![500, 501]));
        assert_eq!(found.get(&200), Some(&vec![0]));
        assert_eq!(found.get(&300), Some(&vec![502]));
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(parsed.cut.is_empty(), "{parsed:?}");
        assert_eq!(parsed.unread(), None);
        assert_eq!(parse(&bytes[..20]), None);
        // As the pass streams: records split between reads (and reads ended by EAGAIN) give
        // the same answer.
        let mut streamed = Carried::default();
        let mut trickle = bpf::Trickle {
            bytes: &bytes,
            turn: 0,
        };
        bpf::each_record(&mut trickle, RECORD_LEN, |r| add(&mut streamed, r)).expect("streamed");
        assert_eq!(streamed, parsed);
    }

    #[test]
    fn a_queue_not_read_to_its_end_is_said() {
        let cut = |why| CUT_MARK | why;
        let mut parsed = parse(
            &[
                record(500, 100),
                record(500, cut(CUT_RECORDS)),
                record(501, 101),
            ]
            .concat(),
        )
        .expect("parse");
        // The cut record carries no socket: what was read stands.
        assert_eq!(parsed.found.len(), 2, "{parsed:?}");
        assert_eq!(parsed.cut, vec![(500, CUT_RECORDS)]);
        assert_eq!(
            parsed.unread().as_deref(),
            Some(
                "the queue of unix socket 500 was not read to the end (it carries more than \
                 2000 sockets, as many as whoport reads of one queue)"
            )
        );
        // Another pass's cuts add up; the first queue is named, the others counted.
        let elsewhere = parse(&[record(0, cut(CUT_STEPS)), record(9, cut(CUT_STEPS))].concat());
        parsed.merge(elsewhere.expect("parse"));
        assert_eq!(
            parsed.unread().as_deref(),
            Some(
                "the queue of a unix socket connection not yet accepted was not read to the \
                 end (it holds more than 65536 messages and descriptors, as many as whoport \
                 reads of one queue), nor 2 other queues"
            )
        );
    }

    fn graph(edges: &[(u32, u64)]) -> HashMap<u32, Vec<u64>> {
        let bytes: Vec<u8> = edges
            .iter()
            .flat_map(|&(c, q)| record(q, u64::from(c)))
            .collect();
        parse(&bytes).expect("parse").found
    }

    #[test]
    fn a_chain_of_unix_sockets_in_transit_is_followed_to_its_holder() {
        let held = HashMap::from_iter([(20, vec![7]), (30, vec![8, 9])]);
        // A in B's queue, B held.
        assert_eq!(
            follow(1, &graph(&[(1, 20)]), &held),
            (vec![7], Relay::Direct)
        );
        // A in B's queue, B in C's queue, C held.
        let g = graph(&[(1, 10), (10, 30)]);
        assert_eq!(follow(1, &g, &held), (vec![8, 9], Relay::Chain(2)));
        assert_eq!(relays(1, &g), HashSet::from_iter([10, 30]));
        // Three deep, with a branch that leads nowhere.
        let g = graph(&[(1, 10), (1, 11), (10, 12), (12, 20)]);
        assert_eq!(follow(1, &g, &held), (vec![7], Relay::Chain(3)));
        // Held at the first step: not followed past it.
        let g = graph(&[(1, 20), (20, 30)]);
        assert_eq!(follow(1, &g, &held), (vec![7], Relay::Direct));
        // A queue nobody holds, not in transit itself; a connection not accepted.
        assert_eq!(
            follow(1, &graph(&[(1, 40)]), &held),
            (vec![], Relay::Direct)
        );
        assert_eq!(
            follow(1, &graph(&[(1, 10), (10, 0)]), &held),
            (vec![], Relay::Chain(2))
        );
        // Not in transit at all.
        assert_eq!(follow(1, &graph(&[]), &held), (vec![], Relay::Direct));
        // Two queues, one of them in transit in the other's: the other is no one's, no cycle.
        let g = graph(&[(1, 10), (1, 11), (10, 11)]);
        assert_eq!(follow(1, &g, &held), (vec![], Relay::Direct));
    }

    #[test]
    fn cycles_and_long_chains_end() {
        let held = HashMap::from_iter([(99, vec![7])]);
        // B carries itself (its own queue holds it), and A waits in B.
        let g = graph(&[(1, 10), (10, 10)]);
        assert_eq!(follow(1, &g, &held), (vec![], Relay::Cycle));
        // B and C carry each other.
        let g = graph(&[(1, 10), (10, 11), (11, 10)]);
        assert_eq!(follow(1, &g, &held), (vec![], Relay::Cycle));
        assert_eq!(relays(1, &g), HashSet::from_iter([10, 11]));
        // A chain longer than the bound, held at its end.
        let edges: Vec<(u32, u64)> = (0..20).map(|i| (i, u64::from(i) + 1)).collect();
        let mut g = graph(&edges);
        g.insert(20, vec![99]);
        assert_eq!(follow(0, &g, &held), (vec![], Relay::Beyond(MAX_RELAYS)));
        assert_eq!(relays(0, &g).len(), MAX_RELAYS);
        // Within the bound it is found.
        assert_eq!(follow(13, &g, &held), (vec![7], Relay::Chain(8)));
    }
}
