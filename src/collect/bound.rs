//! TCP sockets that are bound but neither listening nor connected ("bound-inactive", Linux
//! 6.9+): they explain "address already in use" yet appear in no socket table. netstat2's
//! dump does not ask for them, so whoport asks the kernel itself, for `--all` only.

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use netlink_sys::{Socket as NetlinkSocket, SocketAddr};

use crate::model::Socket;
use crate::port::Protocol;

/// The kernel's state number for bound-inactive sockets (TCP_BOUND_INACTIVE).
const TCP_BOUND_INACTIVE: u32 = 13;

/// Bound-inactive TCP sockets of the wanted families; an older kernel simply has none.
pub fn bound_inactive(ipv4: bool, ipv6: bool) -> std::io::Result<Vec<Socket>> {
    let mut out = Vec::new();
    for (family, wanted) in [(AF_INET, ipv4), (AF_INET6, ipv6)] {
        if wanted {
            dump(family, &mut out)?;
        }
    }
    Ok(out)
}

fn dump(family: u8, out: &mut Vec<Socket>) -> std::io::Result<()> {
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
            protocol: IPPROTO_TCP,
            extensions: ExtensionFlags::empty(),
            // Set below: the crate's StateFlags predates this state.
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
    request[STATES_AT..STATES_AT + 4].copy_from_slice(&(1u32 << TCP_BOUND_INACTIVE).to_ne_bytes());
    socket.send(&request, 0)?;
    let mut buf = vec![0u8; 16384];
    loop {
        let size = socket.recv(&mut &mut buf[..], 0)?;
        let mut offset = 0;
        while offset < size {
            let message: NetlinkMessage<SockDiagMessage> =
                NetlinkMessage::deserialize(&buf[offset..size])
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
            let length = message.header.length as usize;
            match message.payload {
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                    let id = &r.header.socket_id;
                    out.push(Socket {
                        protocol: Protocol::Tcp,
                        address: id.source_address,
                        port: id.source_port,
                        state: Some("bound"),
                        remote: None,
                        inode: r.header.inode,
                        uid: Some(r.header.uid),
                    });
                }
                NetlinkPayload::Done(_) => return Ok(()),
                NetlinkPayload::Error(e) => {
                    return Err(std::io::Error::other(format!("bound-inactive dump: {e:?}")))
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
