//! The test bind: a socket bound the way a server binds it, then closed at once. Never
//! `listen`, never `connect`: nothing on the network can see it.

use std::io;
use std::net::{IpAddr, SocketAddr};

use socket2::{Domain, Protocol as SockProtocol, Socket, Type};

use crate::port::Protocol;

/// UDP-Lite's IP protocol number (RFC 3828).
const IPPROTO_UDPLITE: i32 = 136;

/// Whether this kernel makes UDP-Lite sockets at all (Linux has since 2.6.20, unless built
/// without it; it is never loaded as a module): the error of a socket it refused.
pub fn udplite_supported() -> io::Result<()> {
    Socket::new(
        Domain::IPV4,
        Type::DGRAM,
        Some(SockProtocol::from(IPPROTO_UDPLITE)),
    )
    .map(drop)
}

/// Binds `address:port` with the given options and closes the socket again.
/// `v6only` is set on IPv6 sockets when given (else the system default applies).
pub fn try_bind(
    protocol: Protocol,
    address: IpAddr,
    port: u16,
    v6only: Option<bool>,
    reuseaddr: bool,
) -> io::Result<()> {
    let target = SocketAddr::new(address, port);
    let (ty, proto) = match protocol {
        Protocol::Udp => (Type::DGRAM, SockProtocol::UDP),
        Protocol::Udplite => (Type::DGRAM, SockProtocol::from(IPPROTO_UDPLITE)),
        _ => (Type::STREAM, SockProtocol::TCP),
    };
    // socket2 opens it close-on-exec; it is closed when `socket` goes out of scope.
    let socket = Socket::new(Domain::for_address(target), ty, Some(proto))?;
    if let (Some(only), true) = (v6only, address.is_ipv6()) {
        socket.set_only_v6(only)?;
    }
    socket.set_reuse_address(reuseaddr)?;
    socket.bind(&target.into())
}

/// What a failed bind says, as the kernel said it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindError {
    /// EADDRINUSE: another socket holds the address and port.
    InUse,
    /// EACCES: a privileged port, or a security policy.
    Denied,
    /// EADDRNOTAVAIL: the address is not one of this machine's.
    NotLocal,
    /// EAFNOSUPPORT and friends: this machine has no IPv6 (or no IPv4).
    FamilyUnavailable,
    /// Anything else, with its errno.
    Other(i32),
}

impl BindError {
    pub fn of(e: &io::Error) -> BindError {
        const EACCES: i32 = 13;
        const EPERM: i32 = 1;
        const EAFNOSUPPORT: i32 = 97;
        const EADDRINUSE: i32 = 98;
        const EADDRNOTAVAIL: i32 = 99;
        const EPROTONOSUPPORT: i32 = 93;
        match e.raw_os_error() {
            Some(EADDRINUSE) => BindError::InUse,
            Some(EACCES | EPERM) => BindError::Denied,
            Some(EADDRNOTAVAIL) => BindError::NotLocal,
            Some(EAFNOSUPPORT | EPROTONOSUPPORT) => BindError::FamilyUnavailable,
            Some(n) => BindError::Other(n),
            None => BindError::Other(0),
        }
    }

    /// The kernel's name for it, for JSON.
    pub fn errno_name(self) -> String {
        match self {
            BindError::InUse => "EADDRINUSE".to_string(),
            BindError::Denied => "EACCES".to_string(),
            BindError::NotLocal => "EADDRNOTAVAIL".to_string(),
            BindError::FamilyUnavailable => "EAFNOSUPPORT".to_string(),
            BindError::Other(n) => format!("errno {n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_port_is_in_use_and_a_released_one_is_not() {
        let held = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = held.local_addr().expect("addr").port();
        let e = try_bind(
            Protocol::Udp,
            "127.0.0.1".parse().expect("ip"),
            port,
            None,
            false,
        )
        .expect_err("the port is held");
        assert_eq!(BindError::of(&e), BindError::InUse);
        // TCP and UDP ports are separate.
        let tcp = try_bind(
            Protocol::Tcp,
            "127.0.0.1".parse().expect("ip"),
            port,
            None,
            false,
        );
        // Another test may hold the TCP port by chance; only an in-use error is acceptable.
        if let Err(e) = tcp {
            assert_eq!(BindError::of(&e), BindError::InUse);
        }
    }

    #[test]
    fn errnos_are_named() {
        let e = |n| BindError::of(&io::Error::from_raw_os_error(n));
        assert_eq!(e(98), BindError::InUse);
        assert_eq!(e(13), BindError::Denied);
        assert_eq!(e(99), BindError::NotLocal);
        assert_eq!(e(97), BindError::FamilyUnavailable);
        assert_eq!(e(5), BindError::Other(5));
        assert_eq!(BindError::Other(5).errno_name(), "errno 5");
    }
}
