//! The kernel's socket tables narrowed to one port: a sock_diag dump with an inet_diag
//! bytecode filter on the local port (the kernel skips every other socket), with the facts
//! the kernel gives per socket (exact IPV6_V6ONLY, bound device). No `/proc` walk: this is
//! what `check`, `free` and `wait` look at, often and cheaply.

use crate::error::CollectError;
use crate::model::Socket;
use crate::port::Protocol;

/// One socket on the port, with the kernel's own facts about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSocket {
    pub socket: Socket,
    /// For IPv6 sockets: the kernel's IPV6_V6ONLY flag; `None` when not reported (IPv4,
    /// TIME_WAIT, or a platform without sock_diag).
    pub v6only: Option<bool>,
    /// The interface index the socket is bound to (SO_BINDTODEVICE); `None` for none.
    pub device: Option<u32>,
}

/// Which sockets to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum States {
    /// TCP listeners and UDP sockets that are not connected.
    Listeners,
    /// Every state: connections, TIME_WAIT, bound-but-inactive sockets too.
    All,
}

/// Sockets of `protocol` whose local port is `port`.
pub fn on_port(
    port: u16,
    protocol: Protocol,
    states: States,
) -> Result<Vec<PortSocket>, CollectError> {
    #[cfg(target_os = "linux")]
    {
        linux::dump(port, protocol, states)
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
            .map(|socket| PortSocket {
                socket,
                v6only: None,
                device: None,
            })
            .collect())
    }
}

/// The kernel's TCP state numbers (include/net/tcp_states.h), as the JSON contract spells them.
pub fn tcp_state_name(state: u8) -> &'static str {
    match state {
        1 => "established",
        2 => "syn-sent",
        3 => "syn-received",
        4 => "fin-wait-1",
        5 => "fin-wait-2",
        6 => "time-wait",
        7 => "closed",
        8 => "close-wait",
        9 => "last-ack",
        10 => "listen",
        11 => "closing",
        12 => "syn-received",
        13 => "bound",
        _ => "unknown",
    }
}

/// The inet_diag bytecode "local port >= P && local port <= P" (understood by every kernel
/// with sock_diag; the single-op equality test needs 4.16).
pub fn port_filter(port: u16) -> [u8; 16] {
    const INET_DIAG_BC_S_GE: u8 = 2;
    const INET_DIAG_BC_S_LE: u8 = 3;
    let mut bc = [0u8; 16];
    // struct inet_diag_bc_op { u8 code; u8 yes; u16 no; }, each comparison followed by an op
    // whose `no` holds the port. `yes` jumps over both; `no` jumps past the end (no match).
    let ops: [(u8, u8, u16); 4] = [
        (INET_DIAG_BC_S_GE, 8, 20),
        (0, 0, port),
        (INET_DIAG_BC_S_LE, 8, 12),
        (0, 0, port),
    ];
    for (i, (code, yes, no)) in ops.into_iter().enumerate() {
        bc[i * 4] = code;
        bc[i * 4 + 1] = yes;
        bc[i * 4 + 2..i * 4 + 4].copy_from_slice(&no.to_ne_bytes());
    }
    bc
}

#[cfg(target_os = "linux")]
mod linux {
    use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST};
    use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP};
    use netlink_packet_sock_diag::inet::nlas::Nla;
    use netlink_packet_sock_diag::SockDiagMessage;
    use netlink_sys::protocols::NETLINK_SOCK_DIAG;
    use netlink_sys::{Socket as NetlinkSocket, SocketAddr};

    use super::{port_filter, tcp_state_name, PortSocket, States};
    use crate::error::CollectError;
    use crate::model::Socket;
    use crate::port::Protocol;

    const SOCK_DIAG_BY_FAMILY: u16 = 20;
    const INET_DIAG_REQ_BYTECODE: u16 = 1;
    const TCP_LISTEN: u32 = 10;
    /// UDP sockets that are not connected are in the kernel's TCP_CLOSE state.
    const UDP_UNCONNECTED: u32 = 7;

    pub fn dump(
        port: u16,
        protocol: Protocol,
        states: States,
    ) -> Result<Vec<PortSocket>, CollectError> {
        let ip_protocol = match protocol {
            Protocol::Tcp => IPPROTO_TCP,
            Protocol::Udp => IPPROTO_UDP,
            other => {
                return Err(CollectError::Sockets {
                    detail: format!("{other} sockets cannot be listed"),
                    errno: None,
                })
            }
        };
        let mask = match (states, protocol) {
            (States::Listeners, Protocol::Tcp) => 1 << TCP_LISTEN,
            (States::Listeners, _) => 1 << UDP_UNCONNECTED,
            (States::All, _) => u32::MAX,
        };
        let mut out = Vec::new();
        for family in [AF_INET, AF_INET6] {
            one_family(family, ip_protocol, mask, port, protocol, &mut out).map_err(|e| {
                CollectError::Sockets {
                    detail: format!("netlink socket diagnostics for port {port}/{protocol}: {e}"),
                    errno: e.raw_os_error(),
                }
            })?;
        }
        Ok(out)
    }

    /// netlink header, struct inet_diag_req_v2 (family, protocol, ext, pad, states, a zeroed
    /// inet_diag_sockid), then the bytecode attribute.
    fn request(family: u8, ip_protocol: u8, states: u32, port: u16) -> Vec<u8> {
        let bytecode = port_filter(port);
        let attr_len = 4 + bytecode.len();
        let total = 16 + 8 + 48 + attr_len;
        let mut b = Vec::with_capacity(total);
        b.extend_from_slice(&(total as u32).to_ne_bytes());
        b.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
        b.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
        b.extend_from_slice(&1u32.to_ne_bytes()); // sequence number
        b.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
        b.extend_from_slice(&[family, ip_protocol, 0, 0]);
        b.extend_from_slice(&states.to_ne_bytes());
        b.extend_from_slice(&[0u8; 48]);
        b.extend_from_slice(&(attr_len as u16).to_ne_bytes());
        b.extend_from_slice(&INET_DIAG_REQ_BYTECODE.to_ne_bytes());
        b.extend_from_slice(&bytecode);
        b
    }

    fn one_family(
        family: u8,
        ip_protocol: u8,
        states: u32,
        port: u16,
        protocol: Protocol,
        out: &mut Vec<PortSocket>,
    ) -> std::io::Result<()> {
        let mut socket = NetlinkSocket::new(NETLINK_SOCK_DIAG)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        socket.send(&request(family, ip_protocol, states, port), 0)?;
        let mut buf = vec![0u8; 32768];
        loop {
            let size = socket.recv(&mut &mut buf[..], 0)?;
            if size == 0 {
                return Ok(());
            }
            let mut offset = 0;
            while offset < size {
                let message: NetlinkMessage<SockDiagMessage> =
                    NetlinkMessage::deserialize(&buf[offset..size])
                        .map_err(|e| std::io::Error::other(e.to_string()))?;
                let length = message.header.length as usize;
                match message.payload {
                    NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                        let id = &r.header.socket_id;
                        // The filter ran in the kernel; this only guards against a kernel
                        // that ignored it.
                        if id.source_port == port {
                            let v6only = r.nlas.iter().find_map(|n| match n {
                                Nla::SkV6Only(v) => Some(*v),
                                _ => None,
                            });
                            let remote = (id.destination_port != 0)
                                .then_some((id.destination_address, id.destination_port));
                            let state = match protocol {
                                Protocol::Tcp => Some(tcp_state_name(r.header.state)),
                                _ => None,
                            };
                            out.push(PortSocket {
                                socket: Socket {
                                    protocol,
                                    address: id.source_address,
                                    port,
                                    state,
                                    remote,
                                    inode: r.header.inode,
                                    uid: Some(r.header.uid),
                                },
                                v6only,
                                device: (id.interface_id != 0).then_some(id.interface_id),
                            });
                        }
                    }
                    NetlinkPayload::Done(_) => return Ok(()),
                    NetlinkPayload::Error(e) => {
                        return Err(match e.code {
                            Some(code) => std::io::Error::from_raw_os_error(-code.get()),
                            None => std::io::Error::other("netlink error"),
                        })
                    }
                    _ => {}
                }
                if length == 0 {
                    return Ok(());
                }
                offset += length;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_filter_is_two_comparisons_that_jump_past_the_end_on_failure() {
        let bc = port_filter(0x1234);
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

    #[test]
    fn state_names_follow_the_json_contract() {
        assert_eq!(tcp_state_name(10), "listen");
        assert_eq!(tcp_state_name(6), "time-wait");
        assert_eq!(tcp_state_name(13), "bound");
        assert_eq!(tcp_state_name(200), "unknown");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_kernel_returns_only_sockets_on_the_port() {
        let a = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let b = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = a.local_addr().expect("addr").port();
        let found = on_port(port, Protocol::Tcp, States::Listeners).expect("dump");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].socket.state, Some("listen"));
        assert_ne!(found[0].socket.port, b.local_addr().expect("addr").port());
        let v6 = std::net::UdpSocket::bind("[::1]:0").expect("bind");
        let port = v6.local_addr().expect("addr").port();
        let found = on_port(port, Protocol::Udp, States::Listeners).expect("dump");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].v6only.is_some(), "{found:?}");
    }
}
