//! Sockets of other network namespaces held by processes of this one: a process that created
//! a listener inside another namespace (`ip netns exec`, `unshare`/`setns` and back) holds a
//! socket that no dump of this namespace returns. Found by elimination, then established by
//! looking at each remaining socket:
//!
//! 1. the socket descriptors the walk saw, less every socket the dumps of this namespace
//!    returned (TCP and UDP in every state, unix, netlink and packet sockets);
//! 2. what is left, held by processes of this namespace, is copied (`pidfd_getfd`: no signal,
//!    no trace), each copy checked to be that socket (`/proc/self/fd` link text; nothing else
//!    is done to a descriptor that is not) and asked what it is (family, type, protocol,
//!    listening, local and peer address); the TCP and UDP sockets among them that have a
//!    local port (TCP listeners and connected sockets, UDP sockets) are looked for in this
//!    namespace's tables of their ports, every state (one kernel-filtered dump per
//!    protocol): absent while still held and still as they were, a socket belongs to another
//!    namespace. The copies are closed right after. An unbound socket is in no table of any
//!    namespace: its absence says nothing, and it is not named.
//!
//! A machine where every socket is explained pays for the three small dumps only.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use rustix::fs::{openat, readlinkat_raw, Dir, Mode, OFlags};
use rustix::io::Errno;
use rustix::net::{sockopt, AddressFamily, SocketType};
use rustix::process::{pidfd_getfd, pidfd_open, Pid, PidfdFlags, PidfdGetfdFlags};

use super::linux;
use crate::port::Protocol;

/// At most this many descriptors are copied in one run; the rest are counted as unchecked.
pub const MAX_CHECKED: usize = 256;
// Every copy's port fits in one kernel-filtered dump.
const _: () = assert!(MAX_CHECKED <= super::diag::MAX_FILTERED_PORTS);
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
    /// A UDP socket bound, not connected (waiting for datagrams). A TCP socket neither
    /// listening nor connected is never named: once its connection was refused or reset it
    /// is in no table of any namespace while it keeps its local address, so its absence
    /// from this namespace's tables establishes nothing.
    Bound,
    /// Connected to this peer.
    Connected(SocketAddr),
}

/// What the look established.
#[derive(Debug, Default)]
pub struct Findings {
    /// PID -> its sockets of other namespaces (sorted by PID).
    pub foreign: Vec<(u32, Vec<Foreign>)>,
    /// Sockets in no dump of this namespace that could not be checked: how many, some of
    /// their PIDs, and why.
    pub unchecked: usize,
    pub unchecked_pids: Vec<u32>,
    pub unchecked_why: Option<&'static str>,
}

/// Notes naming the processes of this network namespace that hold sockets of another one:
/// the walk's sockets less those the dumps of this namespace returned (TCP and UDP dumped
/// again in full when the filter left some out), checked one by one.
pub fn notes_for(
    held: &HashMap<u32, Vec<u32>>,
    found: &[super::sockets::Found],
    filter: &super::Filter,
) -> Vec<String> {
    let mut dumped: HashSet<u32> = found.iter().map(|(s, _)| s.inode).collect();
    if !(filter.tcp && filter.udp && filter.ipv4 && filter.ipv6) {
        match super::diag::dump_all(true, true, true, true) {
            Ok(all) => dumped.extend(all.into_iter().map(|s| s.inode)),
            Err(_) => return Vec::new(),
        }
    }
    notes(&look(held, &dumped))
}

/// `held`: inode -> PIDs from the walk; `dumped`: every inode the TCP/UDP dumps of this
/// namespace returned (all states, both families).
pub fn look(held: &HashMap<u32, Vec<u32>>, dumped: &HashSet<u32>) -> Findings {
    let mut findings = Findings::default();
    let me = std::process::id();
    let Ok(own_netns) = std::fs::read_link("/proc/self/ns/net") else {
        return findings;
    };
    // Processes of other namespaces hold their own namespace's sockets (said elsewhere), and
    // whoport's own dump sockets are closed by now: only the other processes of this
    // namespace count, each asked once for its namespace.
    let mut holders: HashSet<u32> = held
        .iter()
        .filter(|(inode, _)| !dumped.contains(inode))
        .flat_map(|(_, pids)| pids.iter().copied())
        .filter(|&pid| pid != me)
        .collect();
    holders.retain(|pid| {
        std::fs::read_link(format!("/proc/{pid}/ns/net")).is_ok_and(|ns| ns == own_netns)
    });
    let mut left: HashSet<u32> = held
        .iter()
        .filter(|(inode, pids)| !dumped.contains(inode) && pids.iter().any(|p| holders.contains(p)))
        .map(|(&inode, _)| inode)
        .collect();
    for (family, protocol, inode_at) in [
        (AF_UNIX, 0, 4),
        (AF_NETLINK, NDIAG_PROTO_ALL, 16),
        (AF_PACKET, 0, 4),
    ] {
        if left.is_empty() {
            return findings;
        }
        // A kernel without one of these handlers leaves its sockets to the check below.
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
    let refusal = copy_refusal();
    let mut budget = MAX_CHECKED;
    let mut checked: HashSet<u32> = HashSet::new();
    let mut copies: Vec<Held> = Vec::new();
    for &pid in &pids {
        let wanted: HashSet<u32> = by_pid[&pid].difference(&checked).copied().collect();
        if wanted.is_empty() {
            continue;
        }
        let look = match refusal {
            Some(why) => ProcessLook {
                failed: Some(why),
                ..ProcessLook::default()
            },
            None => check_process(pid, &wanted, &mut budget),
        };
        checked.extend(look.checked.iter().copied());
        copies.extend(look.copies);
        if let Some(why) = look.failed {
            findings.unchecked += wanted.len() - look.checked.len();
            if findings.unchecked_pids.len() < NAMED_PROCESSES {
                findings.unchecked_pids.push(pid);
            }
            findings.unchecked_why.get_or_insert(why);
        }
    }
    let foreign = absent_here(copies);
    // Every process of this namespace that holds one is named, not only the one it was
    // copied from.
    for &pid in &pids {
        let mut held: Vec<Foreign> = by_pid[&pid]
            .iter()
            .filter_map(|i| foreign.get(i).cloned())
            .collect();
        if !held.is_empty() {
            held.sort_by_key(|f| (f.protocol, f.local));
            findings.foreign.push((pid, held));
        }
    }
    findings
}

/// Why no descriptor may be copied on this machine, if so: the kernel moves a received
/// socket into the receiver's `net_cls`/`net_prio` class (cgroup v1), which would change how
/// the holder's traffic is classified.
fn copy_refusal() -> Option<&'static str> {
    let cgroups = std::fs::read_to_string("/proc/cgroups").ok()?;
    v1_net_classes(&cgroups).then_some(
        "copying a socket's descriptor would move it into whoport's net_cls/net_prio class \
         (cgroup v1 controllers are mounted), so whoport does not",
    )
}

/// Is `net_cls` or `net_prio` mounted as a cgroup v1 hierarchy (a non-zero hierarchy in
/// `/proc/cgroups`)?
pub fn v1_net_classes(cgroups: &str) -> bool {
    cgroups.lines().any(|l| {
        let f: Vec<&str> = l.split_ascii_whitespace().collect();
        f.len() >= 2 && (f[0] == "net_cls" || f[0] == "net_prio") && f[1] != "0"
    })
}

/// A copied descriptor that is a TCP or UDP socket with a local port, held until this
/// namespace's tables were asked about it.
#[derive(Debug)]
struct Held {
    inode: u32,
    descriptor: OwnedFd,
    socket: Foreign,
}

/// inode -> socket, for the copies that this namespace's tables of their ports do not hold
/// while they are still held and still as they were (listening, bound or connected to the
/// same peer: a socket that changed may have moved between the tables as they were read):
/// sockets of other namespaces. Every copy is closed on return. One kernel-filtered dump
/// per protocol, every state.
fn absent_here(copies: Vec<Held>) -> HashMap<u32, Foreign> {
    let mut foreign = HashMap::new();
    let mut here: HashSet<u32> = HashSet::new();
    // The kernel resumes a dump by position in a hash bucket: sockets of a port closing and
    // opening meanwhile (an SO_REUSEPORT group churning) can make it skip one. A socket is
    // absent only when every pass missed it; each pass asks again about the ports of those
    // still missing.
    for protocol in [Protocol::Tcp, Protocol::Udp] {
        let states = if protocol == Protocol::Tcp {
            TCP_ANY
        } else {
            UDP_ANY
        };
        for _ in 0..ABSENCE_PASSES {
            let mut ports: Vec<u16> = copies
                .iter()
                .filter(|c| c.socket.protocol == protocol && !here.contains(&c.inode))
                .map(|c| c.socket.local.port())
                .collect();
            if ports.is_empty() {
                break;
            }
            ports.sort_unstable();
            ports.dedup();
            match super::diag::dump_ports(protocol, states, &ports) {
                Ok(found) => here.extend(found.into_iter().map(|s| s.inode)),
                // Nothing established for this protocol.
                Err(_) => here.extend(copies.iter().map(|c| c.inode)),
            }
        }
    }
    for copy in copies {
        if !here.contains(&copy.inode) && unchanged(&copy) {
            foreign.insert(copy.inode, copy.socket);
        }
    }
    foreign
}

fn unchanged(copy: &Held) -> bool {
    describe(&copy.descriptor).as_ref() == Some(&copy.socket)
}

/// What the check of one process found.
#[derive(Debug, Default)]
struct ProcessLook {
    /// TCP and UDP sockets with a local port, to be looked for in this namespace's tables.
    copies: Vec<Held>,
    /// The inodes looked at.
    checked: Vec<u32>,
    /// Why the rest could not be.
    failed: Option<&'static str>,
}

/// Checks the `wanted` sockets of one process.
fn check_process(pid: u32, wanted: &HashSet<u32>, budget: &mut usize) -> ProcessLook {
    let mut look = ProcessLook::default();
    let Some(raw) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return look;
    };
    let pidfd = match pidfd_open(raw, PidfdFlags::empty()) {
        Ok(fd) => fd,
        Err(Errno::SRCH) => return look,
        Err(Errno::NOSYS) => return failed(look, NO_PIDFD),
        Err(_) => return failed(look, refused()),
    };
    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let Ok(fd_dir) = openat(
        rustix::fs::CWD,
        format!("/proc/{pid}/fd"),
        dir_flags,
        Mode::empty(),
    ) else {
        return look;
    };
    let Ok(dir) = Dir::read_from(&fd_dir) else {
        return look;
    };
    let mut link = [0u8; 64];
    for entry in dir.filter_map(Result::ok) {
        if look.checked.len() == wanted.len() {
            break;
        }
        let name = entry.file_name();
        let Some(fd) = std::str::from_utf8(name.to_bytes())
            .ok()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(n) = readlinkat_raw(&fd_dir, name, &mut link[..]) else {
            continue;
        };
        let Some(inode) = linux::socket_inode(&link[..n]).filter(|i| wanted.contains(i)) else {
            continue;
        };
        if look.checked.contains(&inode) {
            continue;
        }
        if *budget == 0 {
            return failed(look, OVER_BUDGET);
        }
        *budget -= 1;
        let copy = match pidfd_getfd(&pidfd, fd, PidfdGetfdFlags::empty()) {
            Ok(copy) => copy,
            // Closed since it was read.
            Err(Errno::BADF) => continue,
            Err(Errno::SRCH) => break,
            Err(Errno::NOSYS) => return failed(look, NO_PIDFD),
            Err(_) => return failed(look, refused()),
        };
        look.checked.push(inode);
        if let Some(socket) = inet_socket(&copy, inode) {
            look.copies.push(Held {
                inode,
                descriptor: copy,
                socket,
            });
        }
    }
    look
}

fn failed(look: ProcessLook, why: &'static str) -> ProcessLook {
    ProcessLook {
        failed: Some(why),
        ..look
    }
}

const NO_PIDFD: &str = "this kernel cannot copy another process's descriptor (pidfd_getfd, \
                        Linux 5.6)";
const REFUSED: &str = "the kernel refused to copy their descriptors (run as root)";
const REFUSED_TO_ROOT: &str = "the kernel refused to copy their descriptors to root (a security \
                               module, or a process of another user namespace)";

/// The refusal in words for who whoport is.
fn refused() -> &'static str {
    if rustix::process::geteuid().is_root() {
        REFUSED_TO_ROOT
    } else {
        REFUSED
    }
}
const OVER_BUDGET: &str = "only the first 256 were checked";

/// The copy, if it is the socket `inode` (the process may have put anything on that number
/// since) and a TCP or UDP socket with a local port; else `None`, and the copy is closed.
fn inet_socket(copy: &OwnedFd, inode: u32) -> Option<Foreign> {
    let mut link = [0u8; 64];
    let n = readlinkat_raw(
        rustix::fs::CWD,
        format!("/proc/self/fd/{}", copy.as_raw_fd()),
        &mut link[..],
    )
    .ok()?;
    if linux::socket_inode(&link[..n]) != Some(inode) {
        // Not that socket any more, perhaps not a socket at all: nothing else is asked of it.
        return None;
    }
    describe(copy)
}

/// Protocol, local address and what a TCP or UDP socket is doing; `None` for other sockets
/// and for those without a local port (in no table of any namespace).
fn describe(socket: &OwnedFd) -> Option<Foreign> {
    let fd = socket.as_fd();
    let family = sockopt::socket_domain(fd).ok()?;
    if family != AddressFamily::INET && family != AddressFamily::INET6 {
        return None;
    }
    let protocol = match (
        sockopt::socket_type(fd).ok()?,
        sockopt::socket_protocol(fd).ok()?,
    ) {
        (SocketType::STREAM, Some(p)) if p == rustix::net::ipproto::TCP => Protocol::Tcp,
        (SocketType::DGRAM, Some(p)) if p == rustix::net::ipproto::UDP => Protocol::Udp,
        _ => return None,
    };
    let local = SocketAddr::try_from(rustix::net::getsockname(fd).ok()?).ok()?;
    if local.port() == 0 {
        return None;
    }
    let listening = protocol == Protocol::Tcp && sockopt::socket_acceptconn(fd).ok()?;
    let peer = rustix::net::getpeername(fd)
        .ok()
        .flatten()
        .and_then(|p| SocketAddr::try_from(p).ok());
    let kind = match (listening, peer) {
        (true, _) => Kind::Listening,
        (false, Some(peer)) => Kind::Connected(peer),
        // A TCP socket whose connection failed or was reset (no peer any more) keeps its
        // local address but leaves every table; one bound before listen() is in the table
        // of bound sockets only when bound explicitly. Its absence says nothing.
        (false, None) if protocol == Protocol::Tcp => return None,
        (false, None) => Kind::Bound,
    };
    Some(Foreign {
        protocol,
        local,
        kind,
    })
}

/// How many dumps of a port must all miss a socket for it to be absent from this namespace.
const ABSENCE_PASSES: usize = 3;
/// Every TCP state (1 established to 11 closing) and bound-inactive sockets (13, Linux 6.5).
const TCP_ANY: u32 = 0x0ffe | 1 << 13;
/// Every state a UDP socket can be in (7 unconnected, 1 connected), and the rest.
const UDP_ANY: u32 = 0x0ffe;

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

/// The notes: one per process holding sockets of other namespaces, and one for what could
/// not be checked.
pub fn notes(findings: &Findings) -> Vec<String> {
    let mut notes = Vec::new();
    for (pid, sockets) in findings.foreign.iter().take(NAMED_PROCESSES) {
        // Sockets alike (an SO_REUSEPORT group) are named once, with their count.
        let mut alike: Vec<(String, usize)> = Vec::new();
        for s in sockets {
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
        notes.push(format!(
            "{} holds {} of another network namespace, not listed here: {}",
            named(*pid),
            if sockets.len() == 1 {
                "a socket"
            } else {
                "sockets"
            },
            listed.join(", ")
        ));
    }
    if findings.foreign.len() > NAMED_PROCESSES {
        notes.push(format!(
            "{} more processes hold sockets of other network namespaces",
            findings.foreign.len() - NAMED_PROCESSES
        ));
    }
    if findings.unchecked > 0 {
        let pids: Vec<String> = findings.unchecked_pids.iter().map(|&p| named(p)).collect();
        notes.push(format!(
            "{} held by {} {} in no socket table of this network namespace; whether {} to \
             another namespace could not be checked: {}",
            if findings.unchecked == 1 {
                "1 socket".to_string()
            } else {
                format!("{} sockets", findings.unchecked)
            },
            pids.join(", "),
            if findings.unchecked == 1 { "is" } else { "are" },
            if findings.unchecked == 1 {
                "it belongs"
            } else {
                "they belong"
            },
            findings.unchecked_why.unwrap_or(REFUSED)
        ));
    }
    notes
}

/// `pid 42 (nginx)`.
fn named(pid: u32) -> String {
    match linux::comm(pid) {
        Some(comm) => format!("pid {pid} ({})", String::from_utf8_lossy(&comm)),
        None => format!("pid {pid}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_classes_of_cgroup_v1_are_recognised() {
        let v2 = "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t0\t1\t1\nnet_cls\t0\t1\t1\nnet_prio\t0\t1\t1\n";
        assert!(!v1_net_classes(v2));
        let v1 = "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t1\t1\t1\nnet_cls\t4\t1\t1\n";
        assert!(v1_net_classes(v1));
        assert!(v1_net_classes("net_prio 9 1 1\n"));
        assert!(!v1_net_classes(""));
    }

    #[test]
    fn our_own_unix_and_netlink_sockets_are_in_the_dumps() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().expect("socketpair");
        let link = std::fs::read_link(format!("/proc/self/fd/{}", a.as_raw_fd())).expect("link");
        let inode = linux::socket_inode(link.to_string_lossy().as_bytes()).expect("socket");
        let mut left = HashSet::from([inode, 0]);
        explain(AF_UNIX, 0, 4, &mut left).expect("unix dump");
        assert_eq!(left, HashSet::from([0]), "{inode} is a unix socket here");
        // Bound: the netlink tables hold only bound sockets (an unbound one goes to the check,
        // which sees its family and leaves it).
        let mut nl = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_ROUTE).expect("nl");
        nl.bind_auto().expect("bind");
        let link = std::fs::read_link(format!("/proc/self/fd/{}", nl.as_raw_fd())).expect("link");
        let inode = linux::socket_inode(link.to_string_lossy().as_bytes()).expect("socket");
        let mut left = HashSet::from([inode, 0]);
        match explain(AF_NETLINK, NDIAG_PROTO_ALL, 16, &mut left) {
            Ok(()) => assert_eq!(left, HashSet::from([0]), "netlink {inode}"),
            // Kernels built without netlink_diag: those sockets go to the check instead.
            Err(e) => assert_eq!(e.raw_os_error(), Some(2), "{e}"),
        }
    }

    #[test]
    fn a_listener_of_this_namespace_is_not_foreign() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let fd = listener.as_raw_fd();
        let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).expect("link");
        let inode = linux::socket_inode(link.to_string_lossy().as_bytes()).expect("socket");
        let copy = listener.as_fd().try_clone_to_owned().expect("dup");
        let port = listener.local_addr().expect("addr").port();
        let socket = inet_socket(&copy, inode).expect("a TCP listener");
        assert_eq!(socket.local, SocketAddr::from(([127, 0, 0, 1], port)));
        assert_eq!(socket.kind, Kind::Listening);
        // The wrong inode: nothing is asked of the descriptor.
        assert_eq!(inet_socket(&copy, inode.wrapping_add(1)), None);
        let copies = vec![Held {
            inode,
            descriptor: copy,
            socket,
        }];
        assert!(absent_here(copies).is_empty(), "in this namespace's table");
    }

    #[test]
    fn notes_name_the_process_and_its_sockets() {
        let me = std::process::id();
        let findings = Findings {
            foreign: vec![(
                me,
                vec![
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
            )],
            unchecked: 2,
            unchecked_pids: vec![me],
            unchecked_why: Some(REFUSED),
        };
        let notes = notes(&findings);
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes[0].starts_with(&format!("pid {me} (")), "{}", notes[0]);
        assert!(
            notes[0].ends_with("sockets of another network namespace, not listed here: TCP listener 127.0.0.1:8080 (2 sockets), UDP socket [::]:5353, UDP socket 127.0.0.1:5000 connected to 127.0.0.1:9, UDP socket 127.0.0.1:5001, 1 more"),
            "{}",
            notes[0]
        );
        assert!(
            notes[1].starts_with("2 sockets held by pid"),
            "{}",
            notes[1]
        );
        assert!(notes[1].ends_with("(run as root)"), "{}", notes[1]);
    }
}
