//! The kernel's socket tables narrowed to one port: a sock_diag dump with an inet_diag
//! bytecode filter on the local port (the kernel skips every other socket), with the facts
//! the kernel gives per socket (IPV6_V6ONLY, bound device). No `/proc` walk: this is what
//! `check`, `free` and `wait` look at, often and cheaply.

use crate::error::CollectError;
use crate::model::Socket;
use crate::port::Protocol;

/// Which sockets to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum States {
    /// TCP listeners and UDP sockets that are not connected.
    Listeners,
    /// Every state: connections, TIME_WAIT, bound-but-inactive sockets too.
    All,
}

/// Kernel state numbers (include/net/tcp_states.h).
const TCP_LISTEN: u32 = 10;
/// UDP sockets that are not connected are in the kernel's TCP_CLOSE state.
const UDP_UNCONNECTED: u32 = 7;
/// States 1 (established) to 11 (closing), and 13: TCP sockets bound but neither listening
/// nor connected (Linux 6.9+; reported in state "closed").
const EVERY_STATE: u32 = 0x0ffe | 1 << 13;

/// Sockets of `protocol` (TCP or UDP) whose local port is `port`.
pub fn on_port(port: u16, protocol: Protocol, states: States) -> Result<Vec<Socket>, CollectError> {
    #[cfg(target_os = "linux")]
    {
        let mask = match (states, protocol) {
            (States::Listeners, Protocol::Tcp) => 1 << TCP_LISTEN,
            (States::Listeners, _) => 1 << UDP_UNCONNECTED,
            (States::All, _) => EVERY_STATE,
        };
        let mut found =
            super::diag::dump_port(protocol, mask, port).map_err(|e| CollectError::Sockets {
                detail: format!("netlink socket diagnostics for port {port}/{protocol}: {e}"),
                errno: e.raw_os_error(),
            })?;
        // The filter ran in the kernel; this only guards against one that ignored it.
        found.retain(|s| s.port == port);
        for s in &mut found {
            if s.state == Some("closed") && s.remote.is_none() {
                s.state = Some("bound");
            }
        }
        Ok(found)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let want = super::sockets::Want {
            tcp: protocol == Protocol::Tcp,
            udp: protocol == Protocol::Udp,
            ipv4: true,
            ipv6: true,
        };
        Ok(super::sockets::enumerate(want)?
            .into_iter()
            .map(|(socket, _)| socket)
            .filter(|s| s.port == port && (states == States::All || s.is_listener()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn the_port_filter_is_two_comparisons_that_jump_past_the_end_on_failure() {
        let bc = super::super::diag::port_filter(0x1234);
        let op = |i: usize| {
            (
                bc[i * 4],
                bc[i * 4 + 1],
                u16::from_ne_bytes([bc[i * 4 + 2], bc[i * 4 + 3]]),
            )
        };
        assert_eq!(op(0), (2, 8, 20));
        assert_eq!(op(1), (0, 0, 0x1234));
        assert_eq!(op(2), (3, 8, 12));
        assert_eq!(op(3), (0, 0, 0x1234));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_kernel_returns_only_sockets_on_the_port() {
        let a = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let b = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = a.local_addr().expect("addr").port();
        let other = b.local_addr().expect("addr").port();
        // Other programs may hold the same number on another address: look for ours.
        let found = on_port(port, Protocol::Tcp, States::Listeners).expect("dump");
        assert!(found.iter().all(|s| s.port == port), "{found:?}");
        assert!(
            found
                .iter()
                .any(|s| s.state == Some("listen") && s.address.to_string() == "127.0.0.1"),
            "{found:?}"
        );
        let found = on_port(other, Protocol::Tcp, States::Listeners).expect("dump");
        assert!(found.iter().all(|s| s.port == other), "{found:?}");
        let v6 = std::net::UdpSocket::bind("[::1]:0").expect("bind");
        let port = v6.local_addr().expect("addr").port();
        let found = on_port(port, Protocol::Udp, States::Listeners).expect("dump");
        let ours = found
            .iter()
            .find(|s| s.address.to_string() == "::1")
            .unwrap_or_else(|| panic!("{found:?}"));
        assert!(ours.v6only.is_some(), "{found:?}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_bound_socket_that_never_listened_is_bound() {
        use socket2::{Domain, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        let addr: std::net::SocketAddr = "127.0.0.1:0".parse().expect("addr");
        s.bind(&addr.into()).expect("bind");
        let port = s
            .local_addr()
            .expect("addr")
            .as_socket()
            .expect("inet")
            .port();
        // Only our own socket: another program may use the same port number on ::1.
        let ours = |s: &&crate::model::Socket| s.address.to_string() == "127.0.0.1";
        let found = on_port(port, Protocol::Tcp, States::All).expect("dump");
        // Kernels before 6.9 do not report bound-inactive sockets at all.
        assert!(
            found.iter().filter(ours).all(|s| s.state == Some("bound")),
            "{found:?}"
        );
        assert!(!on_port(port, Protocol::Tcp, States::Listeners)
            .expect("dump")
            .iter()
            .any(|s| ours(&s)));
    }
}
