//! Socket enumeration: on Linux whoport's own sock_diag dump (`diag.rs`, which keeps the
//! bound device and IPV6_V6ONLY), elsewhere netstat2, with the PIDs it maps itself. The only
//! place that touches netstat2's platform-specific fields.

#[cfg(not(target_os = "linux"))]
use netstat2::TcpState;

use crate::hash::{HashMap, HashSet};

use crate::error::CollectError;
use crate::model::Socket;
use crate::port::Protocol;

/// Which families and protocols to ask the kernel for.
#[derive(Debug, Clone, Copy)]
pub struct Want {
    pub tcp: bool,
    pub udp: bool,
    /// UDP-Lite (on Linux; other systems' tables have none to give).
    pub udplite: bool,
    pub ipv4: bool,
    pub ipv6: bool,
}

/// A socket and, on platforms where netstat2 maps them itself, the PIDs that hold it.
pub type Found = (Socket, Vec<u32>);

/// What a listing of every socket keeps of each socket the kernel gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Every socket.
    All,
    /// Listening TCP sockets and every UDP and UDP-Lite socket. Of a TCP socket in another
    /// state only its inode is kept, and its port's count when it is established: every
    /// connection of the machine is a socket in these tables, and any user can open them by
    /// the hundred thousand.
    Listeners,
}

impl Keep {
    /// Whether a socket is kept whole.
    pub fn keeps(self, s: &Socket) -> bool {
        self == Keep::All || s.protocol != Protocol::Tcp || s.state == Some("listen")
    }
}

/// What is kept of every socket listed, kept whole or not.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Every inode (none where the system gives no inodes).
    pub inodes: HashSet<u32>,
    /// Established TCP connections by local port.
    pub established: HashMap<u16, usize>,
}

impl Seen {
    /// Notes a socket listed: whether it is new (by inode; one without an inode, such as a
    /// time-wait or request socket, is never a duplicate), counting a new established TCP
    /// connection.
    pub fn note(&mut self, s: &Socket) -> bool {
        let new = s.inode == 0 || self.inodes.insert(s.inode);
        if new && s.protocol == Protocol::Tcp && s.state == Some("established") {
            *self.established.entry(s.port).or_default() += 1;
        }
        new
    }
}

/// The sockets the kernel listed, as far as they are kept.
#[derive(Debug, Default)]
pub struct Listing {
    /// The sockets kept whole ([`Keep`]), each once.
    pub found: Vec<Found>,
    /// Sockets skipped because their process could not be read any more (it exited during
    /// the scan: netstat2's own mapping, on platforms without the Linux walk).
    pub skipped: usize,
    /// What is kept of every socket listed.
    pub seen: Seen,
    /// The protocols whose tables the kernel was asked for some ports only, and answered (so
    /// that it has a handler for them: none of their sockets on those ports is no sign of a
    /// handler missing); `seen` then knows nothing of their sockets on other ports.
    pub filtered: Vec<Protocol>,
}

impl Listing {
    /// Whether `seen` may not know every socket of the tables (some were asked for some ports
    /// only).
    pub fn narrowed(&self) -> bool {
        !self.filtered.is_empty()
    }

    /// Keeps a socket as `keep` says, once.
    pub fn add(&mut self, found: Found, keep: Keep) {
        if self.seen.note(&found.0) && keep.keeps(&found.0) {
            self.found.push(found);
        }
    }
}

/// Every socket of the wanted kinds, in every state.
pub fn enumerate(want: Want) -> Result<Vec<Found>, CollectError> {
    enumerate_counting(want, Keep::All, (&[], false)).map(|listing| listing.found)
}

/// The sockets of the wanted kinds `keep` keeps, with what is kept of the others. A process
/// that could not be read any more is skipped and counted, and never aborts the listing.
/// `ports`: where not empty, the only local ports wanted (on Linux the kernel is asked for
/// those only; elsewhere every socket is listed).
pub fn enumerate_counting(
    want: Want,
    keep: Keep,
    (ports, tcp_listening_only): (&[u16], bool),
) -> Result<Listing, CollectError> {
    if !(want.ipv4 || want.ipv6) || !(want.tcp || want.udp || want.udplite) {
        return Ok(Listing::default());
    }
    #[cfg(target_os = "linux")]
    {
        super::diag::dump_tables(want, keep, ports, tcp_listening_only).map_err(|e| {
            CollectError::Sockets {
                detail: format!("netlink socket diagnostics: {e}"),
                errno: e.raw_os_error(),
            }
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (ports, tcp_listening_only);
        let (found, skipped) = enumerate_netstat2(want)?;
        let mut listing = Listing {
            skipped,
            ..Listing::default()
        };
        for f in found {
            listing.add(f, keep);
        }
        Ok(listing)
    }
}

/// The items that could be read, and how many could not.
pub fn skip_failures<T, E>(items: impl IntoIterator<Item = Result<T, E>>) -> (Vec<T>, usize) {
    let mut skipped = 0;
    let kept = items
        .into_iter()
        .filter_map(|item| item.map_err(|_| skipped += 1).ok())
        .collect();
    (kept, skipped)
}

#[cfg(not(target_os = "linux"))]
fn enumerate_netstat2(want: Want) -> Result<(Vec<Found>, usize), CollectError> {
    use netstat2::{AddressFamilyFlags, ProtocolFlags, ProtocolSocketInfo};
    let mut af = AddressFamilyFlags::empty();
    if want.ipv4 {
        af |= AddressFamilyFlags::IPV4;
    }
    if want.ipv6 {
        af |= AddressFamilyFlags::IPV6;
    }
    let mut proto = ProtocolFlags::empty();
    if want.tcp {
        proto |= ProtocolFlags::TCP;
    }
    if want.udp {
        proto |= ProtocolFlags::UDP;
    }
    let sockets = netstat2::iterate_sockets_info(af, proto).map_err(describe)?;
    let (infos, skipped) = skip_failures(sockets);
    let found = infos
        .into_iter()
        .map(|info| {
            let socket = match info.protocol_socket_info {
                ProtocolSocketInfo::Tcp(t) => Socket {
                    protocol: Protocol::Tcp,
                    address: t.local_addr,
                    port: t.local_port,
                    state: Some(state_name(t.state)),
                    remote: remote(t.remote_addr, t.remote_port),
                    inode: 0,
                    uid: None,
                    ifindex: 0,
                    device_reported: false,
                    v6only: None,
                },
                ProtocolSocketInfo::Udp(u) => Socket {
                    protocol: Protocol::Udp,
                    address: u.local_addr,
                    port: u.local_port,
                    state: None,
                    remote: None,
                    inode: 0,
                    uid: None,
                    ifindex: 0,
                    device_reported: false,
                    v6only: None,
                },
            };
            (socket, info.associated_pids)
        })
        .collect();
    Ok((found, skipped))
}

#[cfg(not(target_os = "linux"))]
fn remote(address: std::net::IpAddr, port: u16) -> Option<(std::net::IpAddr, u16)> {
    (port != 0 || !address.is_unspecified()).then_some((address, port))
}

/// netstat2's errors say little ("Failed to call ffi"): keep the OS error underneath.
#[cfg(not(target_os = "linux"))]
fn describe(e: netstat2::error::Error) -> CollectError {
    let (detail, errno) = match &e {
        netstat2::error::Error::OsError(io) => (io.to_string(), io.raw_os_error()),
        other => (other.to_string(), None),
    };
    CollectError::Sockets {
        detail: format!("the system's socket table: {detail}"),
        errno,
    }
}

/// TCP states, in the kebab-case of the JSON contract.
#[cfg(not(target_os = "linux"))]
pub fn state_name(state: TcpState) -> &'static str {
    match state {
        TcpState::Closed => "closed",
        TcpState::Listen => "listen",
        TcpState::SynSent => "syn-sent",
        TcpState::SynReceived => "syn-received",
        TcpState::Established => "established",
        TcpState::FinWait1 => "fin-wait-1",
        TcpState::FinWait2 => "fin-wait-2",
        TcpState::CloseWait => "close-wait",
        TcpState::Closing => "closing",
        TcpState::LastAck => "last-ack",
        TcpState::TimeWait => "time-wait",
        TcpState::DeleteTcb => "delete-tcb",
        TcpState::Unknown => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_that_exits_mid_scan_is_skipped_and_counted() {
        // netstat2's own mapping yields one error per descriptor it could no longer read.
        let items: Vec<Result<u32, &str>> = vec![Ok(1), Err("process exited"), Ok(3), Err("gone")];
        assert_eq!(skip_failures(items), (vec![1, 3], 2));
        let none: Vec<Result<u32, &str>> = vec![];
        assert_eq!(skip_failures(none), (vec![], 0));
    }

    fn tcp(port: u16, state: &'static str, inode: u32) -> Found {
        let socket = Socket {
            protocol: Protocol::Tcp,
            address: std::net::IpAddr::from([127, 0, 0, 1]),
            port,
            state: Some(state),
            remote: None,
            inode,
            uid: None,
            ifindex: 0,
            device_reported: false,
            v6only: None,
        };
        (socket, Vec::new())
    }

    /// Keeping listeners only, a connection leaves its inode and its port's count; a socket
    /// listed twice (a dump resumed by position) is kept and counted once.
    #[test]
    fn connections_are_counted_and_not_kept_unless_asked_for() {
        let listed = [
            tcp(80, "listen", 1),
            tcp(80, "established", 2),
            tcp(80, "established", 2),
            tcp(80, "established", 3),
            tcp(80, "time-wait", 0),
            tcp(80, "time-wait", 0),
            tcp(80, "listen", 1),
        ];
        let mut listeners = Listing::default();
        let mut all = Listing::default();
        for found in listed {
            listeners.add(found.clone(), Keep::Listeners);
            all.add(found, Keep::All);
        }
        let kept: Vec<u32> = listeners.found.iter().map(|(s, _)| s.inode).collect();
        assert_eq!(kept, vec![1]);
        assert_eq!(listeners.seen.established.get(&80), Some(&2));
        assert_eq!(listeners.seen.inodes, HashSet::from_iter([1, 2, 3]));
        let kept: Vec<u32> = all.found.iter().map(|(s, _)| s.inode).collect();
        assert_eq!(kept, vec![1, 2, 3, 0, 0]);
        assert_eq!(all.seen, listeners.seen);
    }
}
