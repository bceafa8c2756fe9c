//! What the kernel of this network namespace does with a packet to one address: the type of
//! the route it finds for it (rtnetlink `RTM_GETROUTE`, one request, one answer). `local`
//! means this machine's own address, whether an interface carries it or a route makes it
//! local (`ip route add local 10.77.0.0/16 dev lo`, "AnyIP"); `broadcast` a broadcast address
//! of one of its networks. An interface's list of addresses answers neither: a route can make
//! a whole range local, and the peer of a point-to-point address sits where a broadcast
//! address would. The route asked for is the one the address matches in the table
//! (`RTM_F_FIB_MATCH`), with its device: a connection from this machine to a local address
//! arrives as through the device of its `local` route.

use std::net::IpAddr;

use netlink_sys::protocols::NETLINK_ROUTE;
use netlink_sys::{Socket, SocketAddr};

/// What the kernel's routes say of an address: the route's type, and the device of the route
/// it matched, where that is known (a `local` route's device is where a connection from this
/// machine to the address arrives: a socket bound to that device takes it, one bound to
/// another does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub kind: Kind,
    pub device: Option<u32>,
}

/// The type of the route the kernel finds for an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `RTN_LOCAL`: delivered to this machine.
    Local,
    /// `RTN_BROADCAST`: a broadcast address of one of this machine's networks.
    Broadcast,
    /// Any other route (sent on to another machine, or refused), or none at all.
    Elsewhere,
}

const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;
const NLM_F_REQUEST: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
/// `RTM_F_FIB_MATCH` (Linux 4.13): the answer is the route the address matched in the
/// table (`ip route get fibmatch`), with that route's device, not the route a packet would be
/// sent by (whose device is `lo` for every local address).
const RTM_F_FIB_MATCH: u32 = 0x2000;
const RTN_LOCAL: u8 = 2;
const RTN_BROADCAST: u8 = 3;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// The route the kernel finds for `address` (an IPv4-mapped IPv6 address is asked as the
/// IPv4 address it is), or `None` when it could not be asked or did not answer: a caller
/// then falls back on what it can read elsewhere, never on a guess. No name is resolved; the
/// answer is waited for at most one second.
pub fn route(address: IpAddr) -> Option<Route> {
    let socket = Socket::new(NETLINK_ROUTE).ok()?;
    socket.connect(&SocketAddr::new(0, 0)).ok()?;
    let timeout = Some(std::time::Duration::from_secs(1));
    rustix::net::sockopt::set_socket_timeout(&socket, rustix::net::sockopt::Timeout::Recv, timeout)
        .ok()?;
    socket.send(&request(address.to_canonical()), 0).ok()?;
    let mut buf = vec![0u8; 4096];
    let size = socket.recv(&mut &mut buf[..], 0).ok()?;
    answer(buf.get(..size)?)
}

/// `struct nlmsghdr`, `struct rtmsg` (family, the destination's prefix length and
/// `RTM_F_FIB_MATCH`), then the `RTA_DST` attribute: the address.
fn request(address: IpAddr) -> Vec<u8> {
    let (family, bytes) = match address {
        IpAddr::V4(a) => (AF_INET, a.octets().to_vec()),
        IpAddr::V6(a) => (AF_INET6, a.octets().to_vec()),
    };
    let attr_len = 4 + bytes.len();
    let total = 16 + 12 + attr_len;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_ne_bytes());
    out.extend_from_slice(&RTM_GETROUTE.to_ne_bytes());
    out.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&[family, (bytes.len() * 8) as u8, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&RTM_F_FIB_MATCH.to_ne_bytes());
    out.extend_from_slice(&(attr_len as u16).to_ne_bytes());
    out.extend_from_slice(&RTA_DST.to_ne_bytes());
    out.extend_from_slice(&bytes);
    out
}

/// Whether this kernel answers `RTM_F_FIB_MATCH` (Linux 4.13 and later, as its release
/// says). An older one ignores the flag and answers with the route a packet would be sent by,
/// whose device is `lo` for every local address: its device says nothing of the `local`
/// route's, and is not taken. A release not understood is taken for an older one.
pub fn answers_fib_match() -> bool {
    static ANSWERS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ANSWERS.get_or_init(|| {
        release_at_least(
            &rustix::system::uname().release().to_string_lossy(),
            (4, 13),
        )
    })
}

/// Whether a kernel release (`6.1.0-13-amd64`, `3.10.0-1160.el7.x86_64`) is at least
/// `major.minor`; `false` when it does not begin with both numbers.
fn release_at_least(release: &str, (major, minor): (u32, u32)) -> bool {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let number = |p: Option<&str>| p.and_then(|p| p.parse::<u32>().ok());
    match (number(parts.next()), number(parts.next())) {
        (Some(a), Some(b)) => (a, b) >= (major, minor),
        _ => false,
    }
}

/// The route from the kernel's answer. An error that says there is no route
/// (`ENETUNREACH`, `EHOSTUNREACH`) or that it is refused (`EACCES`, a `prohibit` route) is
/// an answer: the kernel looks in its table of local routes first, so the address is not
/// this machine's. Any other error, or a message not understood, is no answer.
fn answer(buf: &[u8]) -> Option<Route> {
    let kind = u16::from_ne_bytes([*buf.get(4)?, *buf.get(5)?]);
    match kind {
        RTM_NEWROUTE => Some(Route {
            kind: match *buf.get(16 + 7)? {
                RTN_LOCAL => Kind::Local,
                RTN_BROADCAST => Kind::Broadcast,
                _ => Kind::Elsewhere,
            },
            device: attribute(buf, RTA_OIF)
                .and_then(|v| Some(u32::from_ne_bytes(v.get(..4)?.try_into().ok()?)))
                .filter(|&i| i != 0 && answers_fib_match()),
        }),
        NLMSG_ERROR => {
            let code = i32::from_ne_bytes(buf.get(16..20)?.try_into().ok()?);
            let no_route = [libc::ENETUNREACH, libc::EHOSTUNREACH, libc::EACCES];
            no_route.contains(&-code).then_some(Route {
                kind: Kind::Elsewhere,
                device: None,
            })
        }
        _ => None,
    }
}

/// The value of the first attribute of this type after the `struct rtmsg` of an answer (as
/// long as the message says it is), if any.
fn attribute(buf: &[u8], wanted: u16) -> Option<&[u8]> {
    let total = (u32::from_ne_bytes(buf.get(..4)?.try_into().ok()?) as usize).min(buf.len());
    let mut at = 16 + 12;
    while at + 4 <= total {
        let len = usize::from(u16::from_ne_bytes([buf[at], buf[at + 1]]));
        let kind = u16::from_ne_bytes([buf[at + 2], buf[at + 3]]);
        if len < 4 || at + len > total {
            return None;
        }
        if kind == wanted {
            return buf.get(at + 4..at + len);
        }
        at += (len + 3) & !3;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses_are_local_on_lo_and_a_documentation_address_is_not() {
        // Every network namespace with lo up has these; a test run with lo down is not one.
        let kind = |a: &str| route(a.parse().expect("ip")).map(|r| r.kind);
        assert_eq!(kind("127.0.0.1"), Some(Kind::Local));
        assert_eq!(kind("127.9.8.7"), Some(Kind::Local));
        assert_eq!(kind("::ffff:127.0.0.1"), Some(Kind::Local));
        assert_ne!(kind("192.0.2.1"), Some(Kind::Local));
        let lo = Some(crate::address::LOOPBACK_IFINDEX);
        assert_eq!(
            route("127.9.8.7".parse().expect("ip")).map(|r| r.device),
            Some(lo)
        );
        assert_eq!(
            route("::1".parse().expect("ip")).map(|r| r.device),
            Some(lo)
        );
    }

    #[test]
    fn kernel_releases_before_4_13_do_not_answer_fib_matches() {
        assert!(release_at_least("6.18.0-1-amd64", (4, 13)));
        assert!(release_at_least("4.13.0", (4, 13)));
        assert!(release_at_least("10.0", (4, 13)));
        assert!(!release_at_least("4.12.14-lp150.12-default", (4, 13)));
        assert!(!release_at_least("3.10.0-1160.el7.x86_64", (4, 13)));
        assert!(!release_at_least("2.6.78-fc-v857", (4, 13)));
        assert!(!release_at_least("", (4, 13)));
        assert!(!release_at_least("v6.1", (4, 13)));
        assert!(!release_at_least("6", (4, 13)));
    }

    #[test]
    fn an_answer_not_understood_is_no_answer() {
        assert_eq!(answer(&[]), None);
        assert_eq!(answer(&[0; 8]), None);
        let mut error = vec![0u8; 20];
        error[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        error[16..20].copy_from_slice(&(-libc::ENOBUFS).to_ne_bytes());
        assert_eq!(answer(&error), None);
        error[16..20].copy_from_slice(&(-libc::ENETUNREACH).to_ne_bytes());
        assert_eq!(answer(&error).map(|r| r.kind), Some(Kind::Elsewhere));
        // A route whose attributes run past the message: its type, no device.
        let mut local = vec![0u8; 16 + 12 + 8];
        local[..4].copy_from_slice(&(36u32).to_ne_bytes());
        local[4..6].copy_from_slice(&RTM_NEWROUTE.to_ne_bytes());
        local[16 + 7] = RTN_LOCAL;
        local[28..30].copy_from_slice(&(200u16).to_ne_bytes());
        local[30..32].copy_from_slice(&RTA_OIF.to_ne_bytes());
        let cut = answer(&local).expect("an answer");
        assert_eq!((cut.kind, cut.device), (Kind::Local, None));
        local[28..30].copy_from_slice(&(8u16).to_ne_bytes());
        local[32..36].copy_from_slice(&7u32.to_ne_bytes());
        assert_eq!(answer(&local).and_then(|r| r.device), Some(7));
    }
}
