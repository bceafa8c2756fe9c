//! The kernel's socket tables through netlink sock_diag: one dump per family and protocol
//! (TCP's two families in one walk, see [`BOTH`]), keeping what netstat2 drops — the bound
//! device (`idiag_if`), IPV6_V6ONLY (`INET_DIAG_SKV6ONLY`), a UDP socket's peer, and TCP
//! sockets that are bound but neither listening nor connected ("bound-inactive", Linux
//! 6.9+, which explain "address already in use" yet appear in no other table).
//!
//! One look is one consistent set. The kernel sends a dump in chunks (at most 32 KiB) and
//! resumes each chunk by *position* within a hash bucket: when sockets of that bucket close
//! between two chunks (an `SO_REUSEPORT` group churning) the resumed chunk skips as many
//! sockets, and when sockets are added it repeats some. So each socket is kept once (by
//! inode), and the ports where a chunk ended inside the listening tables are asked for again,
//! in one dump filtered by the kernel, until that adds nothing (three passes at most).

use std::net::IpAddr;

use netlink_packet_core::{
    ErrorBuffer, NetlinkBuffer, NetlinkHeader, NetlinkMessage, NLMSG_DONE, NLMSG_ERROR, NLM_F_DUMP,
    NLM_F_REQUEST,
};
use netlink_packet_sock_diag::constants::{
    AF_INET, AF_INET6, INET_DIAG_SKV6ONLY, IPPROTO_TCP, IPPROTO_UDP, SOCK_DIAG_BY_FAMILY,
};
use netlink_packet_sock_diag::inet::{
    ExtensionFlags, InetRequest, InetResponseBuffer, SocketId, SocketIdBuffer, StateFlags,
};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use netlink_sys::{Socket as NetlinkSocket, SocketAddr};

use super::sockets::{Keep, Listing};
use crate::model::Socket;
use crate::port::Protocol;

/// The kernel's state number for bound-inactive sockets (TCP_BOUND_INACTIVE).
const TCP_BOUND_INACTIVE: u8 = 13;

/// Every state from 1 (established) to 11 (closing). UDP sockets are 7 (unconnected) or
/// 1 (connected).
const STATES: u32 = 0x0ffe;

/// The listening state, alone: what the recovery passes ask TCP for.
const LISTEN: u32 = 1 << 10;
/// Recovery passes after the first dump of a table.
const PASSES: usize = 3;

/// The family a dump is asked for to give TCP's sockets of both families in one walk of the
/// kernel's tables, through the request older than sock_diag's (`TCPDIAG_GETSOCK`, struct
/// inet_diag_req), which the kernel still answers (net/ipv4/inet_diag.c,
/// `inet_diag_dump_compat`): it dumps every family (AF_UNSPEC) whatever the request names.
/// sock_diag's own request names one family, and each of the two dumps walks every listener
/// of both to skip the other family's.
const BOTH: u8 = 0;
/// The message type of that request, and of its answers.
const TCPDIAG_GETSOCK: u16 = 18;

/// Whether TCP is still asked for in one walk: until the kernel refuses that request once
/// (a kernel without it), after which each family is dumped on its own.
static ONE_WALK: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// `dump` of TCP, into `out`, for the families wanted (`ipv4`, `ipv6`): of both in one walk
/// ([`BOTH`]) while the kernel takes that request; when it refuses it, `undo` drops what the
/// try left in `out`, each family is asked on its own, and so are they for the rest of the
/// run.
fn each_tcp_family<O>(
    out: &mut O,
    (ipv4, ipv6): (bool, bool),
    undo: fn(&mut O),
    mut dump: impl FnMut(&mut O, u8) -> std::io::Result<()>,
) -> std::io::Result<()> {
    use std::sync::atomic::Ordering::Relaxed;
    if ipv4 && ipv6 && ONE_WALK.load(Relaxed) {
        if dump(out, BOTH).is_ok() {
            return Ok(());
        }
        ONE_WALK.store(false, Relaxed);
        undo(out);
    }
    for (family, wanted) in [(AF_INET, ipv4), (AF_INET6, ipv6)] {
        if wanted {
            dump(out, family)?;
        }
    }
    Ok(())
}

/// UDP-Lite's IP protocol number (the crate has no constant for it). The kernel's UDP diag
/// module answers for it too (net/ipv4/udp_diag.c, `udplite_diag_handler`).
const IPPROTO_UDPLITE: u8 = 136;

/// The IP protocol number sock_diag is asked with.
fn number(protocol: Protocol) -> u8 {
    match protocol {
        Protocol::Tcp => IPPROTO_TCP,
        Protocol::Udplite => IPPROTO_UDPLITE,
        _ => IPPROTO_UDP,
    }
}

/// The protocol of an IP protocol number asked for.
fn protocol_of(number: u8) -> Protocol {
    match number {
        IPPROTO_TCP => Protocol::Tcp,
        IPPROTO_UDPLITE => Protocol::Udplite,
        _ => Protocol::Udp,
    }
}

/// Every socket of the wanted families and protocols, each once; sockets `keep` does not keep
/// whole leave only their inode and count. With `ports`, only the sockets on those local ports
/// (the kernel filters them: a query for one port is not given every socket of the machine),
/// and the listing says which protocols' tables were filtered (`filtered`); a table whose
/// filtered dump the kernel answered with an error (no handler for it, or a filter it
/// refuses) is dumped whole instead, as without ports.
pub fn dump_all(want: super::sockets::Want, keep: Keep, ports: &[u16]) -> std::io::Result<Listing> {
    dump_tables(want, keep, ports, false)
}

/// [`dump_all`]; with `tcp_listening_only` (and no `ports`), TCP's tables give their
/// listeners only: the kernel does not walk its table of connections (hundreds of thousands
/// of buckets, most of them empty), and the listing says TCP's tables were narrowed, as a
/// dump of some ports is, so that no one takes it for every socket.
pub fn dump_tables(
    want: super::sockets::Want,
    keep: Keep,
    ports: &[u16],
    tcp_listening_only: bool,
) -> std::io::Result<Listing> {
    let mut out = Listing::default();
    let listening_only = tcp_listening_only && ports.is_empty();
    if want.tcp {
        // (A refused walk leaves nothing to undo: `table` adds to `out` once its first dump
        // answered.)
        each_tcp_family(
            &mut out,
            (want.ipv4, want.ipv6),
            |_| (),
            |out, family| table((family, IPPROTO_TCP), keep, (ports, listening_only), out),
        )?;
    }
    for (family, family_wanted) in [(AF_INET, want.ipv4), (AF_INET6, want.ipv6)] {
        for (protocol, protocol_wanted) in
            [(IPPROTO_UDP, want.udp), (IPPROTO_UDPLITE, want.udplite)]
        {
            if family_wanted && protocol_wanted {
                table((family, protocol), keep, (ports, false), &mut out)?;
            }
        }
    }
    Ok(out)
}

/// One table (of `ports` only, when some are given), then the recovery passes over the ports
/// where its chunks ended.
fn table(
    (family, protocol): (u8, u8),
    keep: Keep,
    (ports, listening_only): (&[u16], bool),
    out: &mut Listing,
) -> std::io::Result<()> {
    let first_states = if listening_only { LISTEN } else { STATES };
    let mut dumped = Vec::new();
    let mut note_others = |s: &Socket| {
        if keep.keeps(s) {
            return true;
        }
        out.seen.note(s);
        false
    };
    let on_ports = match (!ports.is_empty()).then(|| {
        dump(
            family,
            protocol,
            STATES,
            Asked::Ports(ports),
            &mut dumped,
            &mut note_others,
        )
    }) {
        // One walk refused: each family is then asked apart, filtered first as here.
        Some(Err(e)) if family == BOTH => return Err(e),
        asked => asked.and_then(Result::ok),
    };
    let filtered = on_ports.is_some();
    let ends = match on_ports {
        Some(ends) => ends,
        None => {
            dumped.clear();
            dump(
                family,
                protocol,
                first_states,
                Asked::Table,
                &mut dumped,
                &mut note_others,
            )?
        }
    };
    if (filtered || listening_only) && !out.filtered.contains(&protocol_of(protocol)) {
        out.filtered.push(protocol_of(protocol));
    }
    let mut ports = keep_new(dumped, &ends, out);
    // Listening TCP sockets of one address and port (an SO_REUSEPORT group) share a bucket;
    // so do a port's UDP sockets, connected or not. (A bucket also holds other ports' sockets
    // where their hashes collide: such a TCP listener is asked for again when the in-kernel
    // lookup saw it held, src/collect/missed.rs.)
    let states = if protocol == IPPROTO_TCP {
        LISTEN
    } else {
        STATES
    };
    for _ in 0..PASSES {
        if ports.is_empty() {
            break;
        }
        let mut again = Vec::new();
        // What the first dump found stands even if asking again fails.
        let asked = Asked::Ports(&ports);
        let Ok(ends) = dump(family, protocol, states, asked, &mut again, &mut |s| {
            keep.keeps(s)
        }) else {
            break;
        };
        let before = out.found.len();
        let next = keep_new(again, &ends, out);
        if out.found.len() == before {
            break;
        }
        ports = next;
    }
    Ok(())
}

/// Appends the sockets whose inode was not seen yet; returns the ports of the listeners (and
/// UDP sockets) a chunk ended on, sorted, without duplicates.
fn keep_new(dumped: Vec<Socket>, chunk_ends: &[usize], out: &mut Listing) -> Vec<u16> {
    let mut ports: Vec<u16> = chunk_ends
        .iter()
        .filter_map(|&i| dumped.get(i))
        .filter(|s| s.protocol.is_datagram() || s.state == Some("listen"))
        .map(|s| s.port)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    for s in dumped {
        if out.seen.note(&s) {
            out.found.push((s, Vec::new()));
        }
    }
    ports
}

/// Bound-inactive TCP sockets of the wanted families (the kernel reports them in state
/// "closed"; asked for alone, that is what they are); an older kernel simply has none.
pub fn bound_inactive(ipv4: bool, ipv6: bool) -> std::io::Result<Vec<Socket>> {
    let mut out = Vec::new();
    let states = 1 << TCP_BOUND_INACTIVE;
    each_tcp_family(&mut out, (ipv4, ipv6), Vec::clear, |out, family| {
        dump(family, IPPROTO_TCP, states, Asked::Table, out, &mut |_| {
            true
        })
        .map(drop)
    })?;
    for s in &mut out {
        s.state = Some("bound");
    }
    Ok(out)
}

/// The sockets of one protocol, both families, in the `states` given (a mask of kernel state
/// numbers; bound-inactive TCP sockets come back as "closed"), whose local port is `port`:
/// the kernel runs the filter and skips every other socket. Errors are errors here.
pub fn dump_port(protocol: Protocol, states: u32, port: u16) -> std::io::Result<Vec<Socket>> {
    dump_ports(protocol, states, &[port])
}

/// Like [`dump_port`], for several ports at once (at most [`MAX_FILTERED_PORTS`]; an empty
/// list asks for nothing).
pub fn dump_ports(protocol: Protocol, states: u32, ports: &[u16]) -> std::io::Result<Vec<Socket>> {
    let protocol = number(protocol);
    let mut out = Vec::new();
    if ports.is_empty() {
        return Ok(out);
    }
    let asked = Asked::Ports(ports);
    let of_family = |out: &mut Vec<Socket>, family| {
        dump(family, protocol, states, asked, out, &mut |_| true).map(drop)
    };
    if protocol == IPPROTO_TCP {
        each_tcp_family(&mut out, (true, true), Vec::clear, of_family)?;
    } else {
        for family in [AF_INET, AF_INET6] {
            of_family(&mut out, family)?;
        }
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

/// What one dump asks for.
#[derive(Debug, Clone, Copy)]
enum Asked<'a> {
    /// A whole table: an error message inside the dump ends it, as netstat2 did (a kernel
    /// without the UDP diag handler answers that way, and the caller checks an empty UDP
    /// table against /proc/net).
    Table,
    /// The sockets on these local ports (none: nothing is asked): errors are errors.
    Ports(&'a [u16]),
}

/// One dump, of every port or only of some, of one family, or of TCP's two in one walk
/// ([`BOTH`]). With ports, only sockets on those local ports (a
/// filter the kernel runs). Each socket is
/// pushed onto `out` when `keep` says so (it sees every one). Returns the index in `out` of
/// the last socket of every chunk that another chunk of sockets follows (one receive is one
/// chunk; the kernel resumed the dump after it), when that socket was kept. The end of the
/// dump (`NLMSG_DONE`, often a receive of its own) resumes nothing.
fn dump(
    family: u8,
    protocol: u8,
    states: u32,
    asked: Asked<'_>,
    out: &mut Vec<Socket>,
    keep: &mut dyn FnMut(&Socket) -> bool,
) -> std::io::Result<Vec<usize>> {
    let (ports, strict) = match asked {
        // (A kernel that does not take the request of one walk answers it with an error:
        // never taken for an empty table.)
        Asked::Table => (&[][..], family == BOTH),
        Asked::Ports(ports) => (ports, true),
    };
    if family == BOTH && protocol != IPPROTO_TCP {
        return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
    }
    let mut socket = NetlinkSocket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let (mut request, answer) = if family == BOTH {
        (one_walk_request(states), TCPDIAG_GETSOCK)
    } else {
        (request(family, protocol, states), SOCK_DIAG_BY_FAMILY)
    };
    if !ports.is_empty() {
        // The INET_DIAG_REQ_BYTECODE attribute after the request; the message grows by it.
        const INET_DIAG_REQ_BYTECODE: u16 = 1;
        let bytecode = ports_filter(ports);
        let attr_len = 4 + bytecode.len();
        request.extend_from_slice(&(attr_len as u16).to_ne_bytes());
        request.extend_from_slice(&INET_DIAG_REQ_BYTECODE.to_ne_bytes());
        request.extend_from_slice(&bytecode);
        let total = request.len() as u32;
        request[..4].copy_from_slice(&total.to_ne_bytes());
    }
    #[cfg(test)]
    if family == BOTH && tests::REFUSE_ONE_WALK.get() {
        // Cut short, for a real refusal (EINVAL), as from a kernel that does not take it.
        request.truncate(24);
        request[..4].copy_from_slice(&24u32.to_ne_bytes());
    }
    socket.send(&request, 0)?;
    let mut chunk_ends = Vec::new();
    // The end of the last chunk read, until a chunk of sockets follows it.
    let mut pending = None;
    let protocol = protocol_of(protocol);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let size = socket.recv(&mut &mut buf[..], 0)?;
        if size == 0 {
            return Ok(chunk_ends);
        }
        let mut last_kept = false;
        let mut offset = 0;
        while offset < size {
            // Read in place, through the crates' buffers: a dump of 10,000 listeners is
            // 10,000 messages, and parsing each whole (`NetlinkMessage::deserialize`) makes
            // every attribute a value of its own, with an error context formatted for each,
            // for the one attribute whoport reads.
            let message = NetlinkBuffer::new_checked(&buf[offset..size]).map_err(malformed)?;
            let length = message.length() as usize;
            match message.message_type() {
                t if t == answer => {
                    if let Some(s) = socket_of(message.payload(), protocol)? {
                        chunk_ends.extend(pending.take());
                        last_kept = keep(&s);
                        if last_kept {
                            out.push(s);
                        }
                    }
                }
                NLMSG_ERROR if strict => {
                    let error = ErrorBuffer::new_checked(message.payload()).map_err(malformed)?;
                    return Err(match error.code() {
                        Some(code) => std::io::Error::from_raw_os_error(-code.get()),
                        None => std::io::Error::other("sock_diag error"),
                    });
                }
                NLMSG_DONE | NLMSG_ERROR => return Ok(chunk_ends),
                _ => {}
            }
            // (At least a header's 16 bytes: `new_checked` refuses a shorter length.)
            offset += length;
        }
        pending = last_kept.then(|| out.len() - 1);
    }
}

/// sock_diag's request for the sockets of `family` and `protocol` in `states` (a mask of
/// kernel state numbers).
fn request(family: u8, protocol: u8, states: u32) -> Vec<u8> {
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
    request
}

/// The request of one walk ([`BOTH`]) for TCP's sockets in `states`: the 16-byte netlink
/// header (type `TCPDIAG_GETSOCK`), then struct inet_diag_req (include/uapi/linux/inet_diag.h):
/// family, source and destination prefix lengths, extensions, the 48-byte socket id, the
/// states mask and a field the kernel no longer reads, in host byte order. The family is
/// AF_INET, as ss wrote it; the kernel dumps both whatever it says.
fn one_walk_request(states: u32) -> Vec<u8> {
    const REQUEST_LEN: usize = 4 + 48 + 4 + 4;
    let mut request = Vec::with_capacity(16 + REQUEST_LEN);
    request.extend_from_slice(&((16 + REQUEST_LEN) as u32).to_ne_bytes());
    request.extend_from_slice(&TCPDIAG_GETSOCK.to_ne_bytes());
    request.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    // Sequence number and port id: 0, as for sock_diag's request.
    request.extend_from_slice(&[0; 8]);
    request.extend_from_slice(&[AF_INET, 0, 0, 0]);
    request.extend_from_slice(&[0; 48]);
    request.extend_from_slice(&states.to_ne_bytes());
    request.extend_from_slice(&[0; 4]);
    request
}

const BC_JMP: u8 = 1;
const BC_S_GE: u8 = 2;
const BC_S_LE: u8 = 3;
/// Ports one filter may name: at most 32 bytes each (a search tree of them, see
/// [`ports_filter`]), and the kernel's jumps are 16-bit.
pub const MAX_FILTERED_PORTS: usize = 1024;

/// `sport == p1 || sport == p2 || ...` in inet_diag bytecode, with the `>=`/`<=` tests every
/// kernel since 2.6 understands, as a search tree over the ports sorted: the kernel runs the
/// filter on every socket of the table it walks (all 10,000 listeners of a recovery pass, see
/// [`table`]), and a tree decides in about 2·log2(ports) tests where a list of the ports takes
/// up to two per port.
///
/// The kernel checks a filter by following each op's "true" jump, which must end exactly at
/// the end, and every "false" jump must land on one of those ops, at the end (accepted) or 4
/// bytes past it (rejected). So every "true" jump goes on to the next op, and the tree is laid
/// out as: `sport >= m` (m the least port of the upper half), the upper half's tree, then
/// `sport <= l` (l the greatest port of the lower half), the lower half's tree; the first
/// test's "false" jump goes to the second. A leaf `p` is `sport >= p` ("false": rejected) then
/// `sport >= p + 1` ("false": accepted). A tree accepts only its own ports; a socket it does
/// not accept is rejected there or goes on past its end: past the upper half (entered with
/// `sport >= m`) into the lower half's `sport <= l`, which rejects it, and past the whole tree
/// into a final unconditional jump 4 bytes past the end, which rejects it.
///
/// At most [`MAX_FILTERED_PORTS`] ports (the first ones given); the rest are not asked for.
pub fn ports_filter(ports: &[u16]) -> Vec<u8> {
    if ports.is_empty() {
        return Vec::new();
    }
    let mut ports = ports[..ports.len().min(MAX_FILTERED_PORTS)].to_vec();
    ports.sort_unstable();
    ports.dedup();
    let mut ops = Vec::with_capacity(4 * ports.len());
    search_tree(&ports, &mut ops);
    // Every test is 8 bytes (the op, then an op holding the port), the final jump 4.
    let len = ops.len() * 8 + 4;
    let mut bc = Vec::with_capacity(len);
    for (i, op) in ops.iter().enumerate() {
        let at = i * 8;
        let to = match op.no {
            To::Accept => len,
            To::Reject => len + 4,
            To::Op(j) => j * 8,
        };
        push_op(&mut bc, op.code, 8, (to - at) as u16);
        push_op(&mut bc, 0, 0, op.port);
    }
    // BC_JMP: always the "false" jump, here past the end: reject.
    push_op(&mut bc, BC_JMP, 4, 8);
    bc
}

/// Where a test's "false" jump goes.
#[derive(Debug, Clone, Copy)]
enum To {
    Accept,
    Reject,
    /// The test at this index.
    Op(usize),
}

/// One test of [`ports_filter`]: `sport >= port` or `sport <= port`.
struct Test {
    code: u8,
    port: u16,
    no: To,
}

/// The tests of the search tree of `ports` (sorted, without duplicates), appended to `ops`.
fn search_tree(ports: &[u16], ops: &mut Vec<Test>) {
    let test = |code, port, no| Test { code, port, no };
    match ports {
        [] => {}
        // Port 0 is `sport < 1`, port 65535 `sport > 65534`.
        [0] => ops.push(test(BC_S_GE, 1, To::Accept)),
        [u16::MAX] => ops.push(test(BC_S_LE, u16::MAX - 1, To::Accept)),
        &[p] => {
            ops.push(test(BC_S_GE, p, To::Reject));
            ops.push(test(BC_S_GE, p + 1, To::Accept));
        }
        _ => {
            let (lower, upper) = ports.split_at(ports.len() / 2);
            let split = ops.len();
            ops.push(test(BC_S_GE, upper[0], To::Reject));
            search_tree(upper, ops);
            ops[split].no = To::Op(ops.len());
            ops.push(test(BC_S_LE, lower[lower.len() - 1], To::Reject));
            search_tree(lower, ops);
        }
    }
}

fn push_op(bc: &mut Vec<u8>, code: u8, yes: u8, no: u16) {
    bc.push(code);
    bc.push(yes);
    bc.extend_from_slice(&no.to_ne_bytes());
}

fn socket_of(payload: &[u8], protocol: Protocol) -> std::io::Result<Option<Socket>> {
    let family = payload.first().copied();
    if family != Some(AF_INET) && family != Some(AF_INET6) {
        return Ok(None);
    }
    let r = InetResponseBuffer::new_checked(payload).map_err(malformed)?;
    let id = SocketIdBuffer::new_checked(r.socket_id()).map_err(malformed)?;
    let address = |bytes: &[u8]| -> IpAddr {
        match <[u8; 16]>::try_from(bytes) {
            Ok(v6) if family == Some(AF_INET6) => IpAddr::from(v6),
            _ => IpAddr::from([bytes[0], bytes[1], bytes[2], bytes[3]]),
        }
    };
    let (source, destination) = (
        address(id.source_address()),
        address(id.destination_address()),
    );
    let port = |bytes: &[u8]| u16::from_be_bytes([bytes[0], bytes[1]]);
    let destination_port = port(id.destination_port());
    // INET_DIAG_SKV6ONLY: one byte, 0 or 1 (the kernel sends it for every IPv6 socket).
    let v6only = r.nlas().find_map(|nla| {
        let nla = nla.ok()?;
        match nla.value() {
            [v] if nla.kind() == INET_DIAG_SKV6ONLY => Some(*v != 0),
            _ => None,
        }
    });
    let remote = (destination_port != 0 || !destination.is_unspecified())
        .then_some((destination, destination_port));
    Ok(Some(Socket {
        protocol,
        address: source,
        port: port(id.source_port()),
        state: (protocol == Protocol::Tcp).then(|| tcp_state(r.state())),
        remote,
        inode: r.inode(),
        uid: Some(r.uid()),
        ifindex: id.interface_id(),
        device_reported: true,
        v6only: v6only.filter(|_| source.is_ipv6()),
    }))
}

/// A sock_diag message shorter than its kind's fixed part.
fn malformed(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("sock_diag message: {e}"))
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
    thread_local! {
        /// The request of one walk is sent cut short on this thread: the kernel refuses it.
        pub(super) static REFUSE_ONE_WALK: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    use super::*;

    fn want(tcp: bool, udp: bool, ipv4: bool, ipv6: bool) -> super::super::sockets::Want {
        super::super::sockets::Want {
            tcp,
            udp,
            udplite: false,
            ipv4,
            ipv6,
        }
    }

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
    fn each_socket_is_read_as_the_kernel_reports_it() {
        use socket2::{Domain, Socket as Raw, Type};
        use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
        let inode =
            |fd: &dyn std::os::fd::AsFd| rustix::fs::fstat(fd).expect("fstat").st_ino as u32;
        // Two IPv6 listeners, with and without IPV6_V6ONLY (the second on an IPv4-mapped
        // address: a bind to any other IPv6 address but the wildcard sets the option), an
        // IPv4 one, and a connected UDP socket: every field whoport keeps differs between
        // them.
        let Ok(v6) = Raw::new(Domain::IPV6, Type::STREAM, None) else {
            return; // no IPv6 on this machine
        };
        let dual = Raw::new(Domain::IPV6, Type::STREAM, None).expect("socket");
        v6.set_only_v6(true).expect("v6only");
        dual.set_only_v6(false).expect("dual-stack");
        let loopback6: SocketAddr = (Ipv6Addr::LOCALHOST, 0).into();
        v6.bind(&loopback6.into()).expect("bind");
        let mapped: SocketAddr = (Ipv4Addr::LOCALHOST.to_ipv6_mapped(), 0).into();
        dual.bind(&mapped.into()).expect("bind");
        v6.listen(8).expect("listen");
        dual.listen(8).expect("listen");
        let v4 = TcpListener::bind("127.0.0.1:0").expect("bind");
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let peer = UdpSocket::bind("127.0.0.1:0").expect("bind");
        udp.connect(peer.local_addr().expect("address"))
            .expect("connect");
        let port = |s: &Raw| {
            s.local_addr()
                .expect("address")
                .as_socket()
                .expect("inet")
                .port()
        };
        let found = dump_all(want(true, true, true, true), Keep::All, &[]).expect("dump");
        let of = |inode: u32| {
            found
                .found
                .iter()
                .map(|(s, _)| s)
                .find(|s| s.inode == inode)
                .unwrap_or_else(|| panic!("socket {inode} not in the dump"))
                .clone()
        };
        let uid = Some(rustix::process::geteuid().as_raw());

        let s = of(inode(&v6));
        assert_eq!(
            (s.address, s.port),
            (IpAddr::from(Ipv6Addr::LOCALHOST), port(&v6))
        );
        assert_eq!(
            (s.v6only, s.state, s.remote, s.uid),
            (Some(true), Some("listen"), None, uid)
        );
        assert_eq!(s.protocol, Protocol::Tcp);
        let s = of(inode(&dual));
        assert_eq!(
            (s.address, s.port),
            (
                IpAddr::from(Ipv4Addr::LOCALHOST.to_ipv6_mapped()),
                port(&dual)
            )
        );
        assert_eq!((s.v6only, s.state), (Some(false), Some("listen")));
        let s = of(inode(&v4));
        let v4_address = v4.local_addr().expect("address");
        assert_eq!((s.address, s.port), (v4_address.ip(), v4_address.port()));
        assert_eq!((s.v6only, s.state, s.uid), (None, Some("listen"), uid));
        let s = of(inode(&udp));
        let (here, there) = (
            udp.local_addr().expect("address"),
            peer.local_addr().expect("address"),
        );
        assert_eq!((s.address, s.port), (here.ip(), here.port()));
        assert_eq!(s.remote, Some((there.ip(), there.port())));
        assert_eq!((s.protocol, s.state), (Protocol::Udp, None));
    }

    /// TCP sockets of every kind a dump tells apart, held open: IPv4, IPv6-only and
    /// dual-stack listeners, both ends of a connection, bound-inactive sockets of both
    /// families. `None` without IPv6.
    struct TcpKinds {
        held: Vec<socket2::Socket>,
        _streams: Vec<std::net::TcpStream>,
        inodes: crate::hash::HashSet<u32>,
        ports: Vec<u16>,
    }

    fn tcp_kinds() -> Option<TcpKinds> {
        use socket2::{Domain, Socket as Raw, Type};
        use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
        let v6 = Raw::new(Domain::IPV6, Type::STREAM, None).ok()?;
        let dual = Raw::new(Domain::IPV6, Type::STREAM, None).expect("socket");
        v6.set_only_v6(true).expect("v6only");
        dual.set_only_v6(false).expect("dual-stack");
        v6.bind(&SocketAddr::from((Ipv6Addr::LOCALHOST, 0)).into())
            .expect("bind");
        let mapped = SocketAddr::from((Ipv4Addr::LOCALHOST.to_ipv6_mapped(), 0));
        dual.bind(&mapped.into()).expect("bind");
        let v4 = Raw::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        v4.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
            .expect("bind");
        for listener in [&v6, &dual, &v4] {
            listener.listen(8).expect("listen");
        }
        let bound4 = Raw::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        bound4
            .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
            .expect("bind");
        let bound6 = Raw::new(Domain::IPV6, Type::STREAM, None).expect("socket");
        bound6
            .bind(&SocketAddr::from((Ipv6Addr::LOCALHOST, 0)).into())
            .expect("bind");
        let address = |s: &Raw| s.local_addr().expect("address").as_socket().expect("inet");
        let client = std::net::TcpStream::connect(address(&v4)).expect("connect");
        let accepted = std::net::TcpStream::from(v4.accept().expect("accept").0);
        let held = vec![v6, dual, v4, bound4, bound6];
        let inode =
            |fd: &dyn std::os::fd::AsFd| rustix::fs::fstat(fd).expect("fstat").st_ino as u32;
        let mut inodes: crate::hash::HashSet<u32> = held.iter().map(|s| inode(s)).collect();
        inodes.extend([inode(&client), inode(&accepted)]);
        let mut ports: Vec<u16> = held.iter().map(|s| address(s).port()).collect();
        ports.push(client.local_addr().expect("address").port());
        Some(TcpKinds {
            held,
            _streams: vec![client, accepted],
            inodes,
            ports,
        })
    }

    /// One walk of TCP's tables (the older request) gives, socket for socket and field for
    /// field, what the two dumps of one family each give: listeners, connections and
    /// bound-inactive sockets, of the whole table or of some ports.
    #[test]
    fn one_walk_gives_what_the_two_family_dumps_give() {
        let Some(kinds) = tcp_kinds() else {
            return; // no IPv6 on this machine
        };
        let bound_inactive = 1 << TCP_BOUND_INACTIVE;
        for (states, least) in [(LISTEN, 3), (STATES, 5), (bound_inactive, 0)] {
            for asked in [Asked::Table, Asked::Ports(&kinds.ports)] {
                let mut ours = |s: &Socket| kinds.inodes.contains(&s.inode);
                let mut one = Vec::new();
                dump(BOTH, IPPROTO_TCP, states, asked, &mut one, &mut ours).expect("one walk");
                let mut two = Vec::new();
                for family in [AF_INET, AF_INET6] {
                    dump(family, IPPROTO_TCP, states, asked, &mut two, &mut ours).expect("dump");
                }
                one.sort_by_key(|s| s.inode);
                two.sort_by_key(|s| s.inode);
                assert_eq!(one, two, "states {states:#x}, {asked:?}");
                assert!(one.len() >= least, "states {states:#x}, {asked:?}: {one:?}");
                let families: crate::hash::HashSet<bool> =
                    one.iter().map(|s| s.address.is_ipv4()).collect();
                assert!(one.is_empty() || families.len() == 2, "{one:?}");
            }
        }
    }

    /// A kernel that refuses the request of one walk answers it with an error: never taken
    /// for an empty table. The listing then dumps each family on its own, and so do the
    /// later dumps of the run.
    #[test]
    fn a_refused_one_walk_is_an_error_and_each_family_is_dumped_apart() {
        let Some(kinds) = tcp_kinds() else {
            return; // no IPv6 on this machine
        };
        REFUSE_ONE_WALK.set(true);
        let mut out = Vec::new();
        let refused = dump(
            BOTH,
            IPPROTO_TCP,
            LISTEN,
            Asked::Table,
            &mut out,
            &mut |_| true,
        );
        // Of some ports first (while the run still asks for one walk), then of every port.
        let tcp = want(true, false, true, true);
        let on_ports = dump_all(tcp, Keep::All, &kinds.ports);
        let found = dump_all(tcp, Keep::All, &[]);
        REFUSE_ONE_WALK.set(false);
        assert!(refused.is_err() && out.is_empty(), "{refused:?} {out:?}");
        let bound = [&kinds.held[3], &kinds.held[4]]
            .map(|s| rustix::fs::fstat(s).expect("fstat").st_ino as u32);
        for (listing, filtered) in [(on_ports, true), (found, false)] {
            let listing = listing.expect("dump");
            let inodes: crate::hash::HashSet<u32> =
                listing.found.iter().map(|(s, _)| s.inode).collect();
            for inode in kinds.inodes.iter().filter(|i| !bound.contains(i)) {
                assert!(inodes.contains(inode), "socket {inode} not in the dump");
            }
            assert_eq!(listing.filtered.contains(&Protocol::Tcp), filtered);
        }
        assert!(!ONE_WALK.load(std::sync::atomic::Ordering::Relaxed));
    }

    #[test]
    fn the_dump_reports_v6only_and_the_bound_device() {
        use std::net::{Ipv6Addr, UdpSocket};
        // A real IPv6 socket: v6only is the kernel's attribute, not an inference.
        let Ok(socket) = UdpSocket::bind((Ipv6Addr::LOCALHOST, 0)) else {
            return; // no IPv6 on this machine
        };
        let port = socket.local_addr().expect("address").port();
        let found = dump_all(want(false, true, false, true), Keep::All, &[]).expect("dump");
        let me = &found
            .found
            .iter()
            .find(|(s, _)| s.port == port)
            .expect("own socket")
            .0;
        assert!(me.v6only.is_some(), "{me:?}");
        assert_eq!(me.ifindex, 0);
        assert_eq!(me.state, None);
        assert_eq!(me.remote, None);
    }
    #[test]
    fn the_port_filter_jumps_to_the_end_or_past_it() {
        // Run the kernel's interpreter (net/ipv4/inet_diag.c, inet_diag_bc_run) on the bytes:
        // whether the socket is accepted, and after how many ops.
        fn run_counting(bc: &[u8], sport: u16) -> (bool, usize) {
            let mut at = 0usize;
            let mut len = bc.len() as i64;
            let mut steps = 0;
            while len > 0 {
                steps += 1;
                let code = bc[at];
                let yes = i64::from(bc[at + 1]);
                let no = i64::from(u16::from_ne_bytes([bc[at + 2], bc[at + 3]]));
                let ok = match code {
                    BC_JMP => false,
                    BC_S_GE => sport >= u16::from_ne_bytes([bc[at + 6], bc[at + 7]]),
                    BC_S_LE => sport <= u16::from_ne_bytes([bc[at + 6], bc[at + 7]]),
                    _ => panic!("unexpected op {code}"),
                };
                let jump = if ok { yes } else { no };
                len -= jump;
                at = (at as i64 + jump) as usize;
            }
            (len == 0, steps)
        }
        fn run(bc: &[u8], sport: u16) -> bool {
            run_counting(bc, sport).0
        }
        // And its audit (inet_diag_bc_audit): the "true" jumps end exactly at the end; a
        // comparison's jumps are at least 8 bytes (past the op holding its port); every
        // "false" jump is a multiple of 4 and lands on one of the ops the "true" jumps reach,
        // at the end, or 4 bytes past it.
        fn audit(bc: &[u8]) {
            let mut on_chain = vec![0usize];
            let mut at = 0usize;
            while at < bc.len() {
                let least = if bc[at] == BC_JMP { 4 } else { 8 };
                let yes = usize::from(bc[at + 1]);
                assert!(yes >= least && yes % 4 == 0, "true jump {yes} at {at}");
                at += yes;
                on_chain.push(at);
            }
            assert_eq!(at, bc.len(), "the true jumps end exactly at the end");
            for &op in &on_chain[..on_chain.len() - 1] {
                let least = if bc[op] == BC_JMP { 4 } else { 8 };
                let no = usize::from(u16::from_ne_bytes([bc[op + 2], bc[op + 3]]));
                assert!(no >= least && no % 4 == 0, "false jump {no} at {op}");
                let target = op + no;
                assert!(
                    target == bc.len() + 4 || on_chain.contains(&target),
                    "false jump from {op} to {target}"
                );
            }
        }
        // Every port, against the set asked for.
        fn exactly(bc: &[u8], ports: &[u16]) {
            let asked: std::collections::BTreeSet<u16> = ports.iter().copied().collect();
            for sport in 0..=u16::MAX {
                assert_eq!(
                    run(bc, sport),
                    asked.contains(&sport),
                    "{sport} of {ports:?}"
                );
            }
        }
        let bc = ports_filter(&[22, 80, 443]);
        audit(&bc);
        for (port, wanted) in [
            (22, true),
            (80, true),
            (443, true),
            (21, false),
            (23, false),
        ] {
            assert_eq!(run(&bc, port), wanted, "{port}");
        }
        for p in [0u16, 79, 81, 442, 444, 65535] {
            assert!(!run(&bc, p), "{p}");
        }
        assert!(ports_filter(&[]).is_empty(), "no filter: every socket");
        let one = ports_filter(&[8080]);
        assert!(run(&one, 8080) && !run(&one, 8081) && !run(&one, 8079));
        // Unsorted, repeated, the edges alone and among others, neighbours, halves of odd and
        // even sizes.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut random = |n: usize| -> Vec<u16> {
            (0..n)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed >> 16) as u16
                })
                .collect()
        };
        let sets: Vec<Vec<u16>> = vec![
            vec![443, 22, 80, 22, 443],
            vec![0],
            vec![u16::MAX],
            vec![0, 65535],
            vec![0, 1, 2, 65534, 65535],
            vec![65535, 0, 7, 8, 9, 10, 11],
            vec![1, 2],
            random(5),
            random(40),
            random(41),
            random(MAX_FILTERED_PORTS),
        ];
        for ports in &sets {
            let bc = ports_filter(ports);
            audit(&bc);
            exactly(&bc, ports);
        }
        // More than the cap: the first ones given are asked for, the rest are not.
        let many: Vec<u16> = (1..=5000).rev().collect();
        let capped = ports_filter(&many);
        audit(&capped);
        exactly(&capped, &many[..MAX_FILTERED_PORTS]);
        assert!(
            capped.len() + 4 <= usize::from(u16::MAX),
            "the attribute's length fits"
        );
        // A tree: every socket is decided in at most two tests per halving, and the leaf's two
        // (a list of the ports takes up to two per port: 2,048 at the cap).
        let full = ports_filter(&random(MAX_FILTERED_PORTS));
        let depth = usize::BITS - (MAX_FILTERED_PORTS - 1).leading_zeros();
        let most = (0..=u16::MAX)
            .map(|sport| run_counting(&full, sport).1)
            .max()
            .unwrap_or(0);
        assert!(
            most <= 2 * depth as usize + 3,
            "{most} ops for one socket at {MAX_FILTERED_PORTS} ports"
        );
    }

    #[test]
    fn a_filter_of_the_most_ports_is_taken_by_the_kernel_and_gives_those_ports() {
        // Two listeners among the most ports a filter names: the kernel audits the whole tree
        // and gives those two, only sockets of the ports named, and never the third listener.
        let a = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let b = std::net::TcpListener::bind("[::1]:0").expect("bind");
        let other = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let (pa, pb) = (
            a.local_addr().expect("addr").port(),
            b.local_addr().expect("addr").port(),
        );
        let po = other.local_addr().expect("addr").port();
        let mut ports: Vec<u16> = (1..=u16::MAX)
            .filter(|p| ![pa, pb, po].contains(p))
            .step_by(61)
            .take(MAX_FILTERED_PORTS - 2)
            .collect();
        ports.extend([pb, pa]);
        let found = dump_ports(Protocol::Tcp, LISTEN, &ports).expect("the kernel takes the filter");
        // (Other tests may listen on some of the ports named meanwhile.)
        assert!(found.iter().all(|s| ports.contains(&s.port)), "{found:?}");
        for port in [pa, pb] {
            assert_eq!(
                found.iter().filter(|s| s.port == port).count(),
                1,
                "{found:?}"
            );
        }
        assert!(found.iter().all(|s| s.port != po), "{found:?}");
        drop((a, b, other));
    }

    #[test]
    fn a_dump_lists_our_listener_once_and_a_filtered_dump_only_the_asked_port() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let other = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let all = dump_all(want(true, false, true, false), Keep::All, &[]).expect("dump");
        assert!(all.filtered.is_empty());
        assert_eq!(all.found.iter().filter(|(s, _)| s.port == port).count(), 1);
        let mut inodes: Vec<u32> = all
            .found
            .iter()
            .map(|(s, _)| s.inode)
            .filter(|&i| i != 0)
            .collect();
        let n = inodes.len();
        inodes.sort_unstable();
        inodes.dedup();
        assert_eq!(inodes.len(), n, "every inode once");
        let mut targeted = Vec::new();
        dump(
            AF_INET,
            IPPROTO_TCP,
            LISTEN,
            Asked::Ports(&[port]),
            &mut targeted,
            &mut |_| true,
        )
        .expect("dump");
        assert_eq!(targeted.len(), 1, "only the asked port: {targeted:?}");
        assert_eq!(targeted[0].port, port);
        assert_eq!(targeted[0].state, Some("listen"));
        // A table of one port: that port's sockets only, the listing said to be narrowed, and
        // nothing seen of the others.
        let client = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let (_served, _) = l.accept().expect("accept");
        let one = dump_all(want(true, false, true, false), Keep::Listeners, &[port]).expect("dump");
        assert_eq!(one.filtered, [Protocol::Tcp]);
        assert!(
            one.found.iter().all(|(s, _)| s.port == port),
            "{:?}",
            one.found
        );
        assert_eq!(one.found.len(), 1, "the listener: {:?}", one.found);
        let other_inode = all
            .found
            .iter()
            .find(|(s, _)| s.port == other.local_addr().expect("addr").port())
            .map(|(s, _)| s.inode)
            .expect("the other listener");
        assert!(!one.seen.inodes.contains(&other_inode));
        assert_eq!(one.seen.established.get(&port), Some(&1), "{:?}", one.seen);
        drop((other, client));
    }

    #[test]
    fn a_dump_of_tcps_listeners_only_sees_no_connection_and_says_it_is_narrowed() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let client = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let (served, _) = l.accept().expect("accept");
        let seen_on = |listing: &Listing, local: u16| {
            listing.found.iter().any(|(s, _)| s.port == local)
                || listing.seen.established.contains_key(&local)
        };
        let client_port = client.local_addr().expect("addr").port();
        let every = want(true, false, true, false);
        let whole = dump_tables(every, Keep::Listeners, &[], false).expect("dump");
        assert!(whole.filtered.is_empty());
        assert!(seen_on(&whole, client_port), "the connection is seen");
        let listeners = dump_tables(every, Keep::Listeners, &[], true).expect("dump");
        assert_eq!(listeners.filtered, [Protocol::Tcp], "narrowed");
        assert!(!seen_on(&listeners, client_port), "{:?}", listeners.seen);
        assert!(
            listeners.seen.established.is_empty(),
            "{:?}",
            listeners.seen
        );
        assert_eq!(
            listeners
                .found
                .iter()
                .filter(|(s, _)| s.port == port)
                .count(),
            1,
            "the listener"
        );
        // Asked for some ports, the dump is that one, whatever it says of listeners.
        let asked = dump_tables(every, Keep::Listeners, &[port], true).expect("dump");
        assert_eq!(
            asked.seen.established.get(&port),
            Some(&1),
            "{:?}",
            asked.seen
        );
        drop((client, served));
    }
}
