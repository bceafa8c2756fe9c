//! What is known of io_uring instances that may hold a socket still ownerless, where the
//! kernel was not looked into (or not to the end), and which of them are offered as a
//! possibility for a given socket.

use crate::hash::HashSet;
use std::io::Read;

use super::linux;
use super::ring_fdinfo::{may_wait_on, Requests};
use crate::model::{Hidden, Socket};

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
    /// Processes mapping an io_uring instance whose descriptor table could not be read:
    /// whether a descriptor of it is open is not known, nor what the ring holds.
    pub tables_unread: Vec<u32>,
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
    /// The io-wq workers (`iou-wrk` threads) of processes with rings that sleep inside a
    /// request (a blocking read or splice arms no poll, so no fdinfo lists it): its files are
    /// not named anywhere in `/proc`, only where the worker sleeps.
    pub workers: Vec<Worker>,
    /// Processes whose memory mappings were not read in time (not a matter of rings: a
    /// socket or a ring they map is not known).
    pub maps_unread: super::maps::Unread,
    /// Processes that started during the scan and exited before the walk could read them,
    /// up to its last look (not a matter of rings either: see [`super::churn`]).
    pub churned: usize,
}

impl RingClues {
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
            && self.closed.is_empty()
            && self.tables_unread.is_empty()
            && self.mapped_unread.is_empty()
            && self.truncated.is_empty()
            && self.cut.is_empty()
            && self.nested.is_empty()
            && self.unreachable.is_empty()
            && self.workers.is_empty()
    }
}
/// Of the processes mapping a ring no read descriptor reaches, those with a descriptor table
/// that cannot be read (a descriptor of the ring may be open there): the table of one of
/// their threads (`/proc/PID/task/TID/fd`, the leader's being empty once it exited) lists
/// descriptors whose links this user may not read. The others' rings are closed.
pub(super) fn split_unread_tables(pids: Vec<u32>) -> (Vec<u32>, Vec<u32>) {
    use super::proc_dir::{any_entry, numbered_entries, read_link};
    // Never across a mount: a directory mounted over a `task` or `fd` directory lists what
    // whoever mounted it wrote, and a table hidden that way is not said read.
    let readable = |pid: u32, tid: u32| {
        let dir = format!("/proc/{pid}/task/{tid}/fd");
        match any_entry(&dir) {
            Ok(Some(fd)) => read_link(&format!("{dir}/{fd}")).is_ok(),
            // An empty table holds no ring; a thread gone is not said here.
            Ok(None) => true,
            Err(e) => e == rustix::io::Errno::NOENT,
        }
    };
    pids.into_iter().partition(|&pid| {
        numbered_entries(&format!("/proc/{pid}/task"))
            .map(|tasks| tasks.into_iter().all(|tid| readable(pid, tid)))
            .unwrap_or_else(|e| e == rustix::io::Errno::NOENT)
    })
}

/// An io-wq worker asleep inside a request: its process, and where it sleeps (its wait
/// channel, the kernel function it waits in).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Worker {
    pub pid: u32,
    pub waits_in: String,
}

impl Worker {
    /// Can the request this worker sleeps in hold this socket? A worker waiting for a
    /// datagram (`__skb_wait_for_more_packets`: a read, a receive or a splice from a datagram
    /// socket, whose other end is a pipe) holds a datagram socket: among the sockets whoport
    /// lists, a UDP one, never a TCP listener. Anywhere else (a splice waiting on its pipe,
    /// whatever the socket at its other end) it may hold any socket.
    pub fn may_hold(&self, socket: &Socket) -> bool {
        self.waits_in != super::blocked::DATAGRAM_WAIT || socket.protocol.is_datagram()
    }
}

/// The io-wq workers (threads named `iou-wrk-PID`) of these processes that sleep inside a
/// request: their wait channel is not the worker's idle loop (`io_wq_worker`).
pub(super) fn blocked_workers(pids: &HashSet<u32>) -> Vec<Worker> {
    let mut blocked: Vec<Worker> = pids
        .iter()
        .flat_map(|&pid| {
            let tasks = super::proc_dir::numbered_entries(&format!("/proc/{pid}/task"));
            tasks.into_iter().flatten().filter_map(move |tid| {
                // Never across a mount (see `proc_dir::open_file`).
                let read = |name: &str| {
                    let mut text = String::new();
                    super::proc_dir::open_file(&format!("/proc/{pid}/task/{tid}/{name}"))
                        .and_then(|f| f.take(64).read_to_string(&mut text))
                        .map(|_| text.trim().to_string())
                        .unwrap_or_default()
                };
                let waits_in = read("wchan");
                (read("comm").starts_with("iou-wrk-") && worker_is_busy(&waits_in))
                    .then_some(Worker { pid, waits_in })
            })
        })
        .collect();
    blocked.sort_unstable();
    blocked.dedup();
    blocked
}

/// An io-wq worker's wait channel says it sleeps inside a request: a kernel function's name
/// that is not its idle loop (`0` or nothing: not known, not said).
fn worker_is_busy(wchan: &str) -> bool {
    !wchan.is_empty() && wchan != "0" && wchan != "io_wq_worker"
}

/// The reason for a socket still ownerless, with the io_uring instances that may hold it
/// where whoport could not look into them (or not to the end). Not for a socket that is gone,
/// nor for another user's (whose rings are not readable), nor where the looks ruled every ring
/// out for this socket (only rings whose requests in flight cannot wait on a socket of its
/// kind were seen, or io-wq workers whose wait rules it out: [`Worker::may_hold`]).
pub fn maybe_io_uring(reason: Hidden, socket: &Socket, clues: &RingClues) -> Hidden {
    if clues.is_empty() || matches!(reason, Hidden::ClosedDuringScan | Hidden::NotRoot { .. }) {
        return reason;
    }
    let name = |pid: u32| super::kernel_name(pid).unwrap_or_else(|| "exited".to_string());
    let mut rings = Vec::new();
    let requests = clues
        .requests
        .iter()
        .filter(|(_, _, ops)| ops.iter().any(|op| may_wait_on(op, socket)));
    for (pid, count, ops) in requests {
        let what = if *count == 1 { "request" } else { "requests" };
        rings.push((
            *pid,
            name(*pid),
            format!(
                "has an io_uring with {count} {what} in flight ({}), whose files the kernel \
                 does not name",
                ops.join(", ")
            ),
        ));
    }
    for pid in &clues.closed {
        rings.push((
            *pid,
            name(*pid),
            "maps an io_uring whose descriptor is closed (its registered files have no fdinfo \
             to be read from)"
                .to_string(),
        ));
    }
    for pid in &clues.tables_unread {
        rings.push((
            *pid,
            name(*pid),
            "maps an io_uring; its descriptors could not be read (whether one of them is the \
             ring's, and what the ring holds, is not known)"
                .to_string(),
        ));
    }
    for pid in &clues.mapped_unread {
        rings.push((
            *pid,
            name(*pid),
            "maps an io_uring whose descriptor is closed (the ring is kept alive by that \
             mapping), which whoport could not read (the process's memory-map lock was held \
             when it looked, or more rings were mapped than whoport reads)"
                .to_string(),
        ));
    }
    for pid in &clues.truncated {
        rings.push((
            *pid,
            name(*pid),
            format!(
                "has an io_uring whose files and requests whoport could not read to the end \
                 (the in-kernel walk of a process's rings stops after {} steps, a registered \
                 file, a request or a ring each, and its rings have more)",
                super::io_uring::MAX_STEPS
            ),
        ));
    }
    for ring in &clues.cut {
        rings.push((
            ring.pid,
            name(ring.pid),
            format!(
                "has an io_uring whose files and requests whoport could not read to the end \
                 (its fdinfo, {}, was written without its registered files while the ring was \
                 busy, or is longer than the 4 MiB whoport reads)",
                ring.fdinfo()
            ),
        ));
    }
    for pid in &clues.unreachable {
        rings.push((
            *pid,
            name(*pid),
            "has io_uring instances in use that no descriptor, memory mapping or registered \
             ring table reaches (rings holding each other through requests in flight, say), \
             which whoport could not read to the end"
                .to_string(),
        ));
    }
    let mut workers: Vec<u32> = clues
        .workers
        .iter()
        .filter(|w| w.may_hold(socket))
        .map(|w| w.pid)
        .collect();
    workers.dedup();
    for pid in &workers {
        rings.push((
            *pid,
            name(*pid),
            "has an io_uring worker (iou-wrk) blocked in a request, whose files the kernel \
             does not name"
                .to_string(),
        ));
    }
    for pid in &clues.nested {
        rings.push((
            *pid,
            name(*pid),
            "has an io_uring request in flight on another io_uring instance, whose files and \
             requests whoport does not look into"
                .to_string(),
        ));
    }
    if rings.is_empty() {
        return reason;
    }
    Hidden::MaybeIoUring {
        rings,
        why: clues.not_looked.clone(),
        otherwise: Box::new(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::port::Protocol;

    use crate::collect::tests::socket;

    #[test]
    fn a_ring_is_offered_only_where_no_look_ruled_it_out() {
        let me = std::process::id();
        let otherwise = || Hidden::NotVisibleToRoot(Default::default());
        // Only a read in flight: it cannot wait on a listener, so nothing is offered.
        let reading = RingClues {
            not_looked: Some("WHOPORT_NO_BPF is set".into()),
            requests: vec![(me, 1, vec!["read".into()])],
            ..Default::default()
        };
        assert_eq!(
            maybe_io_uring(otherwise(), &socket(Some(0)), &reading),
            otherwise()
        );
        // An accept may: offered, with why whoport could not look.
        let accepting = RingClues {
            requests: vec![(me, 1, vec!["accept".into()])],
            ..reading.clone()
        };
        let Hidden::MaybeIoUring { rings, why, .. } =
            maybe_io_uring(otherwise(), &socket(Some(0)), &accepting)
        else {
            panic!("offered");
        };
        assert_eq!(rings.len(), 1);
        assert_eq!(why.as_deref(), Some("WHOPORT_NO_BPF is set"));
        // A cut fdinfo is said with which ring it is.
        let cut = RingClues {
            cut: vec![linux::Ring {
                pid: me,
                tid: me,
                fd: 7,
            }],
            ..Default::default()
        };
        let Hidden::MaybeIoUring { rings, .. } =
            maybe_io_uring(otherwise(), &socket(Some(0)), &cut)
        else {
            panic!("offered");
        };
        assert!(
            rings[0]
                .2
                .contains(&format!("its fdinfo, /proc/{me}/task/{me}/fdinfo/7, was")),
            "{rings:?}"
        );
        // Gone, or another user's: never.
        for reason in [Hidden::ClosedDuringScan, Hidden::NotRoot { hidepid: None }] {
            assert_eq!(
                maybe_io_uring(reason.clone(), &socket(Some(0)), &accepting),
                reason
            );
        }
    }

    #[test]
    fn a_worker_waiting_for_a_datagram_may_hold_only_a_datagram_socket() {
        let worker = |waits_in: &str| Worker {
            pid: 7,
            waits_in: waits_in.to_string(),
        };
        let udp = Socket {
            protocol: Protocol::Udp,
            state: None,
            ..socket(Some(0))
        };
        let datagram = worker("__skb_wait_for_more_packets");
        assert!(datagram.may_hold(&udp));
        assert!(!datagram.may_hold(&socket(Some(0))));
        // A splice waiting on its pipe may have any socket at its other end.
        for waits_in in ["pipe_wait_readable", "pipe_wait_writable", "something_new"] {
            assert!(worker(waits_in).may_hold(&socket(Some(0))), "{waits_in}");
            assert!(worker(waits_in).may_hold(&udp), "{waits_in}");
        }
    }

    #[test]
    fn a_worker_is_busy_only_away_from_its_idle_loop() {
        assert!(worker_is_busy("pipe_wait_readable"));
        assert!(!worker_is_busy("io_wq_worker"));
        assert!(!worker_is_busy("0"));
        assert!(!worker_is_busy(""));
    }
}
