//! Sockets held by a system call in progress: a thread asleep in accept() on a TCP listener,
//! or in recv() on a UDP socket, or in poll() or select() on either, keeps the socket's file
//! open after another thread closed the descriptor (a common way to shut down: Linux does not
//! wake the sleeper), and then no descriptor table, mapping, io_uring or unix socket message
//! holds it. The sleeping thread is on the socket's wait queue, which the tcp and udp BPF
//! iterators read (`whoport_sleepers_tcp`, `whoport_sleepers_udp` in bpf/owners.bpf.c): only
//! for sockets still ownerless after every other look, and only where BPF may be used (as
//! root, or with CAP_BPF and CAP_PERFMON). The queue holds either the thread itself
//! (accept(), recv()) or a poll()/select() table entry, which holds its own reference to the
//! file. The system call comes from `/proc/PID/task/TID/syscall` when it shows one; the
//! descriptor too for a call that takes one first (a poll()/select() caller's descriptors are
//! in its memory, which whoport does not read).

use crate::hash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::io::Read;

use super::bpf::Shared;
use crate::model::{BlockedCall, WaitEntry, TWO_FILES};

/// What the wait queues of the sockets asked about showed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sleepers {
    /// Inode -> the threads asleep on it, each once, sorted.
    pub threads: HashMap<u32, Vec<BlockedCall>>,
    /// The sockets whose wait queue was not read to its end (more entries than the programs
    /// look at): others may be asleep on them, and none is ruled out.
    pub cut: HashSet<u32>,
}

/// Of the `wanted` inodes, those with threads asleep on them, and those whose wait queue was
/// not read to its end. `Err` says why the kernel could not be asked (then nothing is
/// established).
pub fn blocked_calls(wanted: &HashSet<u32>, loaded: &mut Shared) -> Result<Sleepers, String> {
    super::owners::kernel_may_be_asked("reading sockets' wait queues")?;
    // The iterators name threads by their numbers in the machine's first PID namespace: in
    // any other, /proc's numbers are other processes' (or nobody's).
    super::owners::pids_as_proc_numbers_them()?;
    // (After the checks: why the kernel could not be asked is said for every socket.)
    if wanted.is_empty() {
        return Ok(Sleepers::default());
    }
    let (sleepers, cut) = loaded
        .get()?
        .sleepers()
        .map_err(|e| super::bpf::explain(&e))?;
    let mut found: HashMap<u32, Vec<BlockedCall>> = HashMap::new();
    let mut seen = HashSet::new();
    for (inode, pid, tid, wait_entry) in sleepers {
        if !wanted.contains(&inode) || !seen.insert((inode, tid)) {
            continue;
        }
        // The thread is still one of that process's (it may have exited since). One whose
        // `/proc` directory something is mounted over is there all the same, as the kernel
        // said: kept, with what `/proc` shows of it left unread.
        if let Err(rustix::io::Errno::NOENT | rustix::io::Errno::SRCH) =
            super::proc_dir::open_proc(&format!("/proc/{pid}/task/{tid}"), PATH_DIR)
        {
            continue;
        }
        found
            .entry(inode)
            .or_default()
            .push(shown(pid, tid, wait_entry));
    }
    for threads in found.values_mut() {
        threads.sort_by_key(|b| (b.pid, b.tid));
    }
    Ok(Sleepers {
        threads: found,
        cut: cut.into_iter().filter(|i| wanted.contains(i)).collect(),
    })
}

/// What `/proc` shows of thread `tid` of process `pid`, asleep on a socket's wait queue as
/// `wait_entry`: its system call and descriptor, whether it is an io-wq worker (which makes no
/// system call of its own: its syscall file shows the call that started it), and whether it
/// waits to read the socket.
fn shown(pid: u32, tid: u32, wait_entry: WaitEntry) -> BlockedCall {
    let io_worker = super::unvisited::is_io_worker(pid, tid);
    let reading = wait_entry == WaitEntry::Thread && waits_in(pid, tid) == DATAGRAM_WAIT;
    let (call, descriptor) = match (system_call(pid, tid), wait_entry) {
        _ if io_worker => (None, None),
        // Of a call with two files, the descriptor is the one it reads (the socket, when it
        // waits for a datagram); otherwise which one is the socket is not known.
        ((Some(call), _), WaitEntry::Thread) if TWO_FILES.contains(&call) && !reading => {
            (Some(call), None)
        }
        (shown, WaitEntry::Thread) => shown,
        // Only a call of the poll()/select() family sleeps on a poll entry (another call
        // shown: the thread has left it since the queue was read).
        ((call, _), WaitEntry::Poll) => (call.filter(|c| POLLS.contains(c)), None),
    };
    BlockedCall {
        pid,
        tid,
        call,
        descriptor,
        descriptor_closed: descriptor.is_some_and(|fd| closed(pid, fd)),
        wait_entry,
        io_worker,
        reading,
    }
}

/// The wait channel of a thread waiting for a datagram on a socket (a read, a receive, or a
/// splice from it).
pub const DATAGRAM_WAIT: &str = "__skb_wait_for_more_packets";

/// Where thread `tid` sleeps: the kernel function of `/proc/PID/task/TID/wchan` (at most 64
/// bytes; empty when unreadable, `0` when the kernel does not tell this user).
pub fn waits_in(pid: u32, tid: u32) -> String {
    let mut text = String::new();
    super::proc_dir::open_file(&format!("/proc/{pid}/task/{tid}/wchan"))
        .and_then(|f| f.take(64).read_to_string(&mut text))
        .map(|_| text.trim().to_string())
        .unwrap_or_default()
}

/// Whether process `pid`'s descriptor table shows `fd` closed (its `/proc` link does not
/// exist). Not when the link is there (the number was taken by another file since) or cannot
/// be read: the table does not say it is closed.
/// (Never across a mount: a directory mounted over `/proc/PID/fd` that lacks the link says
/// nothing of the process's table.)
fn closed(pid: u32, fd: u32) -> bool {
    super::proc_dir::open_proc(&format!("/proc/{pid}/fd"), PATH_DIR).is_ok_and(|dir| {
        let link = rustix::fs::statat(&dir, fd.to_string(), rustix::fs::AtFlags::SYMLINK_NOFOLLOW);
        link.err() == Some(rustix::io::Errno::NOENT)
    })
}

/// How a directory below `/proc` is opened only to be looked into.
const PATH_DIR: rustix::fs::OFlags = rustix::fs::OFlags::PATH
    .union(rustix::fs::OFlags::DIRECTORY)
    .union(rustix::fs::OFlags::CLOEXEC);

/// The system call thread `tid` sleeps in, with its descriptor for a call whose first
/// argument is one, from `/proc/PID/task/TID/syscall` (read at most 256 bytes; nothing when
/// unreadable, running, or a call whoport does not know by number).
fn system_call(pid: u32, tid: u32) -> (Option<&'static str>, Option<u32>) {
    let mut text = Vec::new();
    let read = super::proc_dir::open_file(&format!("/proc/{pid}/task/{tid}/syscall"))
        .and_then(|f| f.take(256).read_to_end(&mut text));
    if read.is_err() {
        return (None, None);
    }
    parse(&String::from_utf8_lossy(&text))
}

/// The call named by a syscall file's text ("NR 0xARG1 ..."), and its descriptor when the
/// call takes one (the one it reads, of a call with two files).
fn parse(text: &str) -> (Option<&'static str>, Option<u32>) {
    let mut fields = text.split_whitespace();
    let Some(nr) = fields.next().and_then(|n| n.parse::<i64>().ok()) else {
        return (None, None);
    };
    let Some(&(_, name, argument)) = CALLS.iter().find(|(n, _, _)| *n == nr) else {
        return (None, None);
    };
    let fd = argument
        .and_then(|at| fields.nth(at))
        .and_then(|a| u64::from_str_radix(a.trim_start_matches("0x"), 16).ok())
        .and_then(|a| u32::try_from(a).ok());
    (Some(name), fd)
}

/// The calls that put poll()/select() table entries on wait queues (fs/select.c).
const POLLS: &[&str] = &["poll", "ppoll", "select", "pselect6"];

/// System calls a thread may sleep in on a socket: number, name, which argument (from 0) is
/// the descriptor (the one read from, of a call with two files), if any.
#[cfg(target_arch = "x86_64")]
const CALLS: &[(i64, &str, Option<usize>)] = &[
    (0, "read", Some(0)),
    (7, "poll", None),
    (19, "readv", Some(0)),
    (23, "select", None),
    (40, "sendfile", Some(1)),
    (43, "accept", Some(0)),
    (45, "recvfrom", Some(0)),
    (47, "recvmsg", Some(0)),
    (232, "epoll_wait", None),
    (270, "pselect6", None),
    (271, "ppoll", None),
    (275, "splice", Some(0)),
    (281, "epoll_pwait", None),
    (288, "accept4", Some(0)),
    (299, "recvmmsg", Some(0)),
];
#[cfg(target_arch = "aarch64")]
const CALLS: &[(i64, &str, Option<usize>)] = &[
    (63, "read", Some(0)),
    (65, "readv", Some(0)),
    (71, "sendfile", Some(1)),
    (72, "pselect6", None),
    (73, "ppoll", None),
    (76, "splice", Some(0)),
    (202, "accept", Some(0)),
    (207, "recvfrom", Some(0)),
    (212, "recvmsg", Some(0)),
    (242, "accept4", Some(0)),
    (243, "recvmmsg", Some(0)),
];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const CALLS: &[(i64, &str, Option<usize>)] = &[];

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn a_syscall_file_names_the_call_and_its_descriptor() {
        let text = "288 0x5 0x0 0x0 0x0 0x0 0x0 0x7ffd 0x7f12\n";
        assert_eq!(parse(text), (Some("accept4"), Some(5)));
        assert_eq!(
            parse("45 0x7 0x7ffc 0x10 0x0 0x0 0x0 0x1 0x2"),
            (Some("recvfrom"), Some(7))
        );
        // Not a descriptor first: the call only.
        assert_eq!(
            parse("7 0x7ffc 0x1 0xffffffff 0 0 0 1 2"),
            (Some("poll"), None)
        );
    }

    /// Of a call with two files, the descriptor it reads: splice()'s first, sendfile()'s
    /// second.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn a_call_with_two_files_names_the_one_it_reads() {
        assert_eq!(
            parse("275 0x3 0x0 0x5 0x0 0x1000 0x0 0x7ffd 0x7f12"),
            (Some("splice"), Some(3))
        );
        assert_eq!(
            parse("40 0x5 0x3 0x0 0x1000 0x0 0x0 0x7ffd 0x7f12"),
            (Some("sendfile"), Some(3))
        );
    }

    /// An io-wq worker is named as one, without a system call; a thread in a call of two
    /// files is said to read the socket only where its wait channel says so.
    #[test]
    fn a_reader_of_two_files_and_an_io_wq_worker_are_worded_as_established() {
        let worker = BlockedCall {
            pid: 10,
            tid: 13,
            call: None,
            descriptor: None,
            descriptor_closed: false,
            wait_entry: WaitEntry::Thread,
            io_worker: true,
            reading: true,
        };
        assert_eq!(
            worker.words(),
            "io_uring worker thread 13 (iou-wrk) running a request that reads this socket, \
             asleep waiting for a datagram"
        );
        let unsure = BlockedCall {
            reading: false,
            ..worker.clone()
        };
        assert_eq!(
            unsure.words(),
            "io_uring worker thread 13 (iou-wrk) running a request, asleep on this socket"
        );
        let splicing = BlockedCall {
            call: Some("splice"),
            descriptor: Some(3),
            descriptor_closed: true,
            io_worker: false,
            ..worker
        };
        assert_eq!(
            splicing.words(),
            "thread 13 blocked in splice() reading this socket from descriptor 3, which it no \
             longer has open"
        );
        let either = BlockedCall {
            descriptor: None,
            reading: false,
            ..splicing
        };
        assert_eq!(
            either.words(),
            "thread 13 blocked in splice() with this socket as one of its two files"
        );
    }

    #[test]
    fn what_the_file_does_not_show_is_not_named() {
        assert_eq!(parse("running\n"), (None, None));
        assert_eq!(parse("-1 0x7ffc 0x1\n"), (None, None));
        assert_eq!(parse("99999 0x5 0x0\n"), (None, None));
        assert_eq!(parse(""), (None, None));
    }

    /// A poll entry's thread is asleep in its call on the socket, which none of its
    /// descriptors refers to, without a number; a thread blocked in the call itself is named with its descriptor.
    #[test]
    fn a_poll_entry_is_worded_without_a_descriptor() {
        let polled = BlockedCall {
            pid: 10,
            tid: 12,
            call: Some("ppoll"),
            descriptor: None,
            descriptor_closed: false,
            wait_entry: WaitEntry::Poll,
            io_worker: false,
            reading: false,
        };
        assert_eq!(
            polled.words(),
            "thread 12 asleep in ppoll() on this socket, which none of its descriptors refers to now"
        );
        let unknown = BlockedCall {
            call: None,
            ..polled.clone()
        };
        assert_eq!(
            unknown.words(),
            "thread 12 asleep in poll() or select() on this socket, which none of its descriptors refers to now"
        );
        let accepting = BlockedCall {
            call: Some("accept4"),
            descriptor: Some(5),
            descriptor_closed: true,
            wait_entry: WaitEntry::Thread,
            ..polled
        };
        assert_eq!(
            accepting.words(),
            "thread 12 blocked in accept4() on descriptor 5, which it no longer has open"
        );
    }

    /// A thread of this process asleep in accept() on a listener whose descriptor was
    /// closed is found on its wait queue, with its call, where the kernel may be asked.
    #[test]
    fn a_thread_asleep_in_accept_on_a_closed_descriptor_is_found() {
        let (tx, rx) = std::sync::mpsc::channel::<(i32, u32, u32)>();
        // Nothing here: the thread never wakes, and dies with the test process.
        let _ = std::thread::spawn(move || {
            use std::os::fd::AsRawFd;
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let fd = l.as_raw_fd();
            let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).expect("link");
            let inode: u32 = link
                .to_string_lossy()
                .trim_start_matches("socket:[")
                .trim_end_matches(']')
                .parse()
                .expect("inode");
            let me = std::fs::read_link("/proc/thread-self")
                .ok()
                .and_then(|p| p.file_name()?.to_str()?.parse().ok())
                .unwrap_or(0);
            tx.send((fd, inode, me)).expect("send");
            let _ = l.accept();
        });
        let (fd, inode, tid) = rx.recv().expect("the thread starts");
        let pid = std::process::id();
        // Until the thread sleeps in accept on it (bounded: 10 s).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while system_call(pid, tid) != (Some("accept4"), u32::try_from(fd).ok())
            && system_call(pid, tid) != (Some("accept"), u32::try_from(fd).ok())
        {
            assert!(std::time::Instant::now() < deadline, "never blocked");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        match blocked_calls(&HashSet::from_iter([inode]), &mut Shared::NotYet) {
            Ok(found) => {
                assert!(
                    found.cut.is_empty(),
                    "one sleeper: the queue read to its end"
                );
                let threads = found.threads.get(&inode).expect("found");
                assert_eq!(threads.len(), 1, "{threads:?}");
                assert_eq!((threads[0].pid, threads[0].tid), (pid, tid));
                assert_eq!(threads[0].descriptor, u32::try_from(fd).ok());
            }
            Err(why) => eprintln!("SKIPPED the kernel's side: {why}"),
        }
        let mut untouched = Shared::NotYet;
        // Nothing asked: nothing found (or why the kernel could not be asked).
        if let Ok(nothing) = blocked_calls(&HashSet::new(), &mut untouched) {
            assert_eq!(nothing, Sleepers::default());
        }
    }
}
