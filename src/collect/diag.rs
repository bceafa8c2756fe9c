//! The kernel's socket tables through netlink sock_diag: one dump per family and protocol,
//! keeping what netstat2 drops — the bound device (`idiag_if`), IPV6_V6ONLY
//! (`INET_DIAG_SKV6ONLY`), a UDP socket's peer, and TCP sockets that are bound but neither
//! listening nor connected ("bound-inactive", Linux 6.9+, which explain "address already in
//! use" yet appear in no other table).

use std::net::IpAddr;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP};
use netlink_packet_sock_diag::inet::{
    nlas::Nla, ExtensionFlags, InetRequest, InetResponse, SocketId, StateFlags,
};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use netlink_sys::{Socket as NetlinkSocket, SocketAddr};

use crate::model::Socket;
use crate::port::Protocol;

/// The kernel's state number for bound-inactive sockets (TCP_BOUND_INACTIVE).
const TCP_BOUND_INACTIVE: u8 = 13;

/// Every state from 1 (established) to 11 (closing). UDP sockets are 7 (unconnected) or
/// 1 (connected).
const STATES: u32 = 0x0ffe;

/// Every socket of the wanted families and protocols.
pub fn dump_all(tcp: bool, udp: bool, ipv4: bool, ipv6: bool) -> std::io::Result<Vec<Socket>> {
    let mut out = Vec::new();
    for (family, family_wanted) in [(AF_INET, ipv4), (AF_INET6, ipv6)] {
        for (protocol, protocol_wanted) in [(IPPROTO_TCP, tcp), (IPPROTO_UDP, udp)] {
            if family_wanted && protocol_wanted {
                dump(family, protocol, STATES, None, &mut out)?;
            }
        }
    }
    Ok(out)
}

/// Bound-inactive TCP sockets of the wanted families (the kernel reports them in state
/// "closed"; asked for alone, that is what they are); an older kernel simply has none.
pub fn bound_inactive(ipv4: bool, ipv6: bool) -> std::io::Result<Vec<Socket>> {
    let mut out = Vec::new();
    for (family, wanted) in [(AF_INET, ipv4), (AF_INET6, ipv6)] {
        if wanted {
            dump(family, IPPROTO_TCP, 1 << TCP_BOUND_INACTIVE, None, &mut out)?;
        }
    }
    for s in &mut out {
        s.state = Some("bound");
    }
    Ok(out)
}

/// The sockets of one protocol, both families, in the `states` given (a mask of kernel state
/// numbers; bound-inactive TCP sockets come back as "closed"), whose local port is `port`:
/// the kernel runs the filter and skips every other socket. Errors are errors here.
pub fn dump_port(protocol: Protocol, states: u32, port: u16) -> std::io::Result<Vec<Socket>> {
    let protocol = if protocol == Protocol::Tcp {
        IPPROTO_TCP
    } else {
        IPPROTO_UDP
    };
    let mut out = Vec::new();
    for family in [AF_INET, AF_INET6] {
        dump(family, protocol, states, Some(port), &mut out)?;
    }
    Ok(out)
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

/// One dump, of every port or (with `port`) of one. Without a port, an error message inside
/// the dump ends it, as netstat2 did: a kernel without the UDP diag handler answers that way,
/// and the caller checks an empty UDP table against /proc/net.
fn dump(
    family: u8,
    protocol: u8,
    states: u32,
    port: Option<u16>,
    out: &mut Vec<Socket>,
) -> std::io::Result<()> {
    let mut socket = NetlinkSocket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let socket_id = if family == AF_INET {
        SocketId::new_v4()
    } else {
        SocketId::new_v6()
    };
    let mut packet = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family,
            protocol,
            extensions: ExtensionFlags::empty(),
            // Set below: the crate's StateFlags predates bound-inactive.
            states: StateFlags::empty(),
            socket_id,
        })
        .into(),
    );
    packet.finalize();
    let mut request = vec![0; packet.buffer_len()];
    packet.serialize(&mut request);
    // struct inet_diag_req_v2 follows the 16-byte netlink header: family, protocol, ext,
    // pad, then the 32-bit idiag_states mask in host byte order.
    const STATES_AT: usize = 16 + 4;
    request[STATES_AT..STATES_AT + 4].copy_from_slice(&states.to_ne_bytes());
    if let Some(port) = port {
        // The INET_DIAG_REQ_BYTECODE attribute after the request; the message grows by it.
        const INET_DIAG_REQ_BYTECODE: u16 = 1;
        let bytecode = port_filter(port);
        let attr_len = 4 + bytecode.len();
        request.extend_from_slice(&(attr_len as u16).to_ne_bytes());
        request.extend_from_slice(&INET_DIAG_REQ_BYTECODE.to_ne_bytes());
        request.extend_from_slice(&bytecode);
        let total = request.len() as u32;
        request[..4].copy_from_slice(&total.to_ne_bytes());
    }
    socket.send(&request, 0)?;
    let protocol = if protocol == IPPROTO_TCP {
        Protocol::Tcp
    } else {
        Protocol::Udp
    };
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let size = socket.recv(&mut &mut buf[..], 0)?;
        if size == 0 {
            return Ok(());
        }
        let mut offset = 0;
        while offset < size {
            let message: NetlinkMessage<SockDiagMessage> =
                NetlinkMessage::deserialize(&buf[offset..size])
                    .map_err(|e| std::io::Error::other(format!("sock_diag message: {e}")))?;
            let length = message.header.length as usize;
            match message.payload {
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                    out.push(socket_of(&r, protocol));
                }
                NetlinkPayload::Error(e) if port.is_some() => {
                    return Err(match e.code {
                        Some(code) => std::io::Error::from_raw_os_error(-code.get()),
                        None => std::io::Error::other("sock_diag error"),
                    })
                }
                NetlinkPayload::Done(_) | NetlinkPayload::Error(_) => return Ok(()),
                _ => {}
            }
            if length == 0 {
                return Ok(());
            }
            offset += length;
        }
    }
}

fn socket_of(r: &InetResponse, protocol: Protocol) -> Socket {
    let id = &r.header.socket_id;
    let v6only = r.nlas.iter().find_map(|nla| match nla {
        Nla::SkV6Only(v) => Some(*v),
        _ => None,
    });
    let remote = (id.destination_port != 0 || !id.destination_address.is_unspecified())
        .then_some((id.destination_address, id.destination_port));
    Socket {
        protocol,
        address: id.source_address,
        port: id.source_port,
        state: (protocol == Protocol::Tcp).then(|| tcp_state(r.header.state)),
        remote,
        inode: r.header.inode,
        uid: Some(r.header.uid),
        ifindex: id.interface_id,
        v6only: v6only.filter(|_| matches!(id.source_address, IpAddr::V6(_))),
    }
}

/// TCP states as the kernel numbers them (include/net/tcp_states.h), in the kebab-case of the
/// JSON contract.
pub fn tcp_state(code: u8) -> &'static str {
    match code {
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
        TCP_BOUND_INACTIVE => "bound",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_named_as_the_kernel_numbers_them() {
        assert_eq!(tcp_state(10), "listen");
        assert_eq!(tcp_state(1), "established");
        assert_eq!(tcp_state(13), "bound");
        assert_eq!(tcp_state(99), "unknown");
        assert_eq!(STATES & (1 << 10), 1 << 10);
        assert_eq!(STATES & 1, 0, "state 0 does not exist");
        assert_eq!(STATES & (1 << TCP_BOUND_INACTIVE), 0, "asked for apart");
    }

    #[test]
    fn the_dump_reports_v6only_and_the_bound_device() {
        use std::net::{Ipv6Addr, UdpSocket};
        // A real IPv6 socket: v6only is the kernel's attribute, not an inference.
        let Ok(socket) = UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)) else {
            return; // no IPv6 on this machine
        };
        let port = socket.local_addr().expect("address").port();
        let found = dump_all(false, true, false, true).expect("dump");
        let me = found.iter().find(|s| s.port == port).expect("own socket");
        assert!(me.v6only.is_some(), "{me:?}");
        assert_eq!(me.ifindex, 0);
        assert_eq!(me.state, None);
        assert_eq!(me.remote, None);
    }
}
