//! Socket enumeration through netstat2: the only place that touches its platform-specific
//! fields. On Linux it asks for sockets without PIDs (whoport maps owners itself).

use std::net::IpAddr;

use netstat2::{AddressFamilyFlags, ProtocolFlags, ProtocolSocketInfo, TcpState};

use crate::error::CollectError;
use crate::model::Socket;
use crate::port::Protocol;

/// Which families and protocols to ask the kernel for.
#[derive(Debug, Clone, Copy)]
pub struct Want {
    pub tcp: bool,
    pub udp: bool,
    pub ipv4: bool,
    pub ipv6: bool,
}

/// A socket and, on platforms where netstat2 maps them itself, the PIDs that hold it.
pub type Found = (Socket, Vec<u32>);

/// Every socket of the wanted kinds, in every state.
pub fn enumerate(want: Want) -> Result<Vec<Found>, CollectError> {
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
    if af.is_empty() || proto.is_empty() {
        return Ok(Vec::new());
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let sockets = netstat2::iterate_sockets_info_without_pids(af, proto);
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let sockets = netstat2::iterate_sockets_info(af, proto);
    let mut out = Vec::new();
    for item in sockets.map_err(describe)? {
        let info = item.map_err(describe)?;
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let (inode, uid) = (info.inode, Some(info.uid));
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let (inode, uid) = (0u32, None);
        let socket = match info.protocol_socket_info {
            ProtocolSocketInfo::Tcp(t) => Socket {
                protocol: Protocol::Tcp,
                address: t.local_addr,
                port: t.local_port,
                state: Some(state_name(t.state)),
                remote: remote(t.remote_addr, t.remote_port),
                inode,
                uid,
            },
            ProtocolSocketInfo::Udp(u) => Socket {
                protocol: Protocol::Udp,
                address: u.local_addr,
                port: u.local_port,
                state: None,
                remote: None,
                inode,
                uid,
            },
        };
        out.push((socket, info.associated_pids));
    }
    Ok(out)
}

fn remote(address: IpAddr, port: u16) -> Option<(IpAddr, u16)> {
    (port != 0 || !address.is_unspecified()).then_some((address, port))
}

/// netstat2's errors say little ("Failed to call ffi"): keep the OS error underneath.
fn describe(e: netstat2::error::Error) -> CollectError {
    let (detail, errno) = match &e {
        netstat2::error::Error::OsError(io) => (io.to_string(), io.raw_os_error()),
        other => (other.to_string(), None),
    };
    CollectError::Sockets {
        detail: format!("netlink socket diagnostics: {detail}"),
        errno,
    }
}

/// TCP states, in the kebab-case of the JSON contract.
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
