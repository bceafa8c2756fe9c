//! The `/proc/net/{tcp,tcp6,udp,udp6,udplite,udplite6}` tables: the fallback when the netlink
//! socket-diagnostics interface is refused, and the only place that says whether a UDP socket
//! is connected.
//! Malformed lines are counted and skipped, never a panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::sockets::{Keep, Seen};
use crate::model::Socket;
use crate::port::Protocol;

/// What one table held.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The sockets kept whole, each once.
    pub sockets: Vec<Socket>,
    /// Lines that could not be understood.
    pub malformed: usize,
    /// What is kept of every socket listed.
    pub seen: Seen,
    /// The tables whose listeners were still changing when the last read again ended on one
    /// (a listener that stayed open may be missing from them).
    pub unsettled: Vec<&'static str>,
    /// The inodes of the listeners the latest read of a table listed.
    listed: std::collections::HashSet<u32>,
}

/// Reads of a table again, after the first, while a read ended on a listener and two reads
/// in a row did not list the same listeners.
const PASSES: usize = 8;

/// How a table is read: whole the first time; again, only its listeners, only the new ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    First,
    Again,
}

/// TCP states as the kernel numbers them (include/net/tcp_states.h).
fn tcp_state(code: u8) -> &'static str {
    match code {
        0x01 => "established",
        0x02 => "syn-sent",
        0x03 => "syn-received",
        0x04 => "fin-wait-1",
        0x05 => "fin-wait-2",
        0x06 => "time-wait",
        0x07 => "closed",
        0x08 => "close-wait",
        0x09 => "last-ack",
        0x0A => "listen",
        0x0B => "closing",
        _ => "unknown",
    }
}

/// `0100007F` -> 127.0.0.1; 32 hex digits -> an IPv6 address. Each 32-bit word is printed by
/// the kernel in host byte order.
pub fn parse_address(hex: &str) -> Option<IpAddr> {
    let word = |s: &str| u32::from_str_radix(s, 16).ok().map(u32::to_ne_bytes);
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(hex)?))),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                chunk.copy_from_slice(&word(hex.get(i * 8..i * 8 + 8)?)?);
            }
            Some(IpAddr::V6(Ipv6Addr::from(bytes)))
        }
        _ => None,
    }
}

fn parse_endpoint(text: &str) -> Option<(IpAddr, u16)> {
    let (addr, port) = text.split_once(':')?;
    Some((parse_address(addr)?, u16::from_str_radix(port, 16).ok()?))
}

pub fn parse_line(line: &str, protocol: Protocol) -> Option<Socket> {
    let fields: Vec<&str> = line.split_ascii_whitespace().collect();
    if fields.len() < 10 || !fields[0].ends_with(':') {
        return None;
    }
    let (address, port) = parse_endpoint(fields[1])?;
    let (remote_addr, remote_port) = parse_endpoint(fields[2])?;
    let state = u8::from_str_radix(fields[3], 16).ok()?;
    let uid: u32 = fields[7].parse().ok()?;
    let inode: u32 = fields[9].parse().ok()?;
    let connected = remote_port != 0 || !remote_addr.is_unspecified();
    Some(Socket {
        protocol,
        address,
        port,
        state: (protocol == Protocol::Tcp).then(|| tcp_state(state)),
        remote: connected.then_some((remote_addr, remote_port)),
        inode,
        uid: Some(uid),
        ifindex: 0,
        device_reported: false,
        v6only: None,
    })
}

/// Parses one table's text (the header line is skipped).
pub fn parse(text: &str, protocol: Protocol) -> Parsed {
    let mut out = Parsed::default();
    for line in text.lines().skip(1) {
        out.add(line, (protocol, Keep::All, Pass::First));
    }
    out
}

/// A listening TCP socket or any UDP or UDP-Lite one: the sockets the kernel lists by the
/// bucket of their local port.
fn listens(s: &Socket) -> bool {
    s.protocol.is_datagram() || s.state == Some("listen")
}

impl Parsed {
    /// One line of a table (not its header), kept whole if `keep` says so (read again, only
    /// a listener not seen yet); whether it lists a listener, when it lists a socket.
    fn add(&mut self, line: &str, (protocol, keep, pass): (Protocol, Keep, Pass)) -> Option<bool> {
        if line.trim().is_empty() {
            return None;
        }
        let Some(s) = parse_line(line, protocol) else {
            self.malformed += usize::from(pass == Pass::First);
            return None;
        };
        let listener = listens(&s);
        if listener {
            self.listed.insert(s.inode);
        }
        if (pass == Pass::First || listener) && self.seen.note(&s) && keep.keeps(&s) {
            self.sockets.push(s);
        }
        Some(listener)
    }
}

/// Reads one table line by line, each parsed as it comes: the tables hold every socket of
/// the namespace (connections too, which any user can open by the hundred thousand), and only
/// what `keep` keeps of them is kept whole. Read again, a TCP table is read up to its first
/// connection: the kernel lists the listening sockets first.
///
/// Returns whether a read ended on a listener: the kernel fills each read with whole lines
/// (a page at most) and resumes the next by *position* within that socket's hash bucket, so
/// sockets of the bucket closing in between make it skip as many others (an `SO_REUSEPORT`
/// group churning), as in a netlink dump.
#[cfg(target_os = "linux")]
fn read_table(
    mut file: std::fs::File,
    how: (Protocol, Keep, Pass),
    out: &mut Parsed,
) -> std::io::Result<bool> {
    use std::io::Read;
    let mut buf = vec![0u8; 1 << 16];
    let mut pending: Vec<u8> = Vec::new();
    let mut header = true;
    let mut ended_on_listener = false;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        pending.extend_from_slice(buf.get(..n).unwrap_or_default());
        let mut last = None;
        let mut done = 0;
        while let Some(i) = pending
            .get(done..)
            .and_then(|p| p.iter().position(|&b| b == b'\n'))
        {
            let line = String::from_utf8_lossy(pending.get(done..done + i).unwrap_or_default());
            done += i + 1;
            if !std::mem::take(&mut header) {
                last = out.add(&line, how).or(last);
                if how.2 == Pass::Again && last == Some(false) {
                    return Ok(ended_on_listener);
                }
            }
        }
        pending.drain(..done);
        ended_on_listener |= pending.is_empty() && last == Some(true);
    }
    if !header && !pending.is_empty() {
        out.add(&String::from_utf8_lossy(&pending), how);
    }
    Ok(ended_on_listener)
}

/// One table, then again (the listeners alone) while a read ended on a listener and it did
/// not list the same listeners as the read before (sockets opened or closed in between, so it
/// may have skipped some); a table whose listeners still changed on the last read is said to
/// be unsettled.
#[cfg(target_os = "linux")]
fn table(
    path: &'static str,
    (protocol, keep): (Protocol, Keep),
    out: &mut Parsed,
) -> std::io::Result<()> {
    out.listed.clear();
    let mut again = read_table(
        super::proc_dir::open_file(path).map_err(covered(path))?,
        (protocol, keep, Pass::First),
        out,
    )?;
    for _ in 0..PASSES {
        if !again {
            return Ok(());
        }
        let before = std::mem::take(&mut out.listed);
        // What the first read found stands even if reading again fails.
        let Ok(ended) = super::proc_dir::open_file(path)
            .and_then(|file| read_table(file, (protocol, keep, Pass::Again), out))
        else {
            return Ok(());
        };
        if out.listed == before {
            return Ok(());
        }
        again = ended;
    }
    if again {
        out.unsettled.push(path);
    }
    Ok(())
}

/// A table that could not be opened because something is mounted over it or on the way to it
/// (`EXDEV`, see [`super::proc_dir::open_file`]) is said so: what is there is not the
/// kernel's table, and is not read.
#[cfg(target_os = "linux")]
fn covered(path: &'static str) -> impl Fn(std::io::Error) -> std::io::Error {
    move |e| {
        if e.raw_os_error() == Some(rustix::io::Errno::XDEV.raw_os_error()) {
            std::io::Error::other(format!(
                "something is mounted over {path} or on the way to it, which whoport does not \
                 read through"
            ))
        } else {
            e
        }
    }
}

/// Reads the tables for the wanted protocols and families, keeping whole what `keep` keeps.
#[cfg(target_os = "linux")]
pub fn read(want: super::sockets::Want, keep: Keep) -> std::io::Result<Parsed> {
    let mut out = Parsed::default();
    let (ipv4, ipv6) = (want.ipv4, want.ipv6);
    let tables = [
        ("/proc/net/tcp", Protocol::Tcp, want.tcp && ipv4),
        ("/proc/net/tcp6", Protocol::Tcp, want.tcp && ipv6),
        ("/proc/net/udp", Protocol::Udp, want.udp && ipv4),
        ("/proc/net/udp6", Protocol::Udp, want.udp && ipv6),
        ("/proc/net/udplite", Protocol::Udplite, want.udplite && ipv4),
        (
            "/proc/net/udplite6",
            Protocol::Udplite,
            want.udplite && ipv6,
        ),
    ];
    for (path, protocol, wanted) in tables {
        if !wanted {
            continue;
        }
        match table(path, (protocol, keep), &mut out) {
            Ok(()) => {}
            // A kernel without IPv6 has no tcp6/udp6 table, one without UDP-Lite no udplite
            // table: nothing to list there.
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    && (path.ends_with('6') || protocol == Protocol::Udplite) => {}
            Err(e) => return Err(std::io::Error::new(e.kind(), format!("{path}: {e}"))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 17 1 0000000000000000 100 0 0 10 0
   2: 0100007F:A2B4 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 99 1 0000000000000000 20 4 30 10 -1
   3: garbage line
   4: 0100007F:ZZZZ 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 5 1
";

    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 11 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12 1 0000000000000000 100 0 0 10 0
   2: 0000000000000000FFFF00000100007F:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 13 1 0000000000000000 100 0 0 10 0
   3: 000080FE0000000000000000FFFFFFFF:1F92 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 14 1 0000000000000000 100 0 0 10 0
   4: 0000000000000000FFFF0000
";

    const UDP: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 31 2 0000000000000000 0
  200: 0100007F:C350 0100007F:0035 01 00000000:00000000 00:00000000 00000000  1000        0 32 2 0000000000000000 0
";

    /// A table read line by line parses as its whole text does.
    #[test]
    fn a_table_read_line_by_line_is_parsed_as_the_whole() {
        let dir = tempfile::tempdir().expect("temporary directory");
        for (text, protocol) in [
            (TCP, Protocol::Tcp),
            (TCP6, Protocol::Tcp),
            (UDP, Protocol::Udp),
        ] {
            let path = dir.path().join("table");
            std::fs::write(&path, text).expect("written");
            let mut read = Parsed::default();
            let ended = read_table(
                std::fs::File::open(&path).expect("opened"),
                (protocol, Keep::All, Pass::First),
                &mut read,
            )
            .expect("read");
            // A file is read in one piece, which ends on the table's last socket: a connection
            // in the TCP table, a listener in the others.
            assert_eq!(ended, text != TCP);
            assert_eq!(read, parse(text, protocol));
            assert!(!read.sockets.is_empty());
        }
    }

    #[test]
    fn ipv4_tcp() {
        let p = parse(TCP, Protocol::Tcp);
        assert_eq!(p.sockets.len(), 3);
        assert_eq!(p.malformed, 2);
        let s = &p.sockets[0];
        assert_eq!(s.address, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(s.port, 8080);
        assert_eq!(s.state, Some("listen"));
        assert_eq!(s.uid, Some(1000));
        assert_eq!(s.inode, 4242);
        assert_eq!(s.remote, None);
        assert_eq!(p.sockets[1].address, IpAddr::from([0, 0, 0, 0]));
        assert_eq!(p.sockets[2].state, Some("established"));
        assert_eq!(
            p.sockets[2].remote,
            Some((IpAddr::from([127, 0, 0, 1]), 8080))
        );
    }

    #[test]
    fn ipv6_addresses() {
        let p = parse(TCP6, Protocol::Tcp);
        assert_eq!(p.malformed, 1);
        let addrs: Vec<String> = p.sockets.iter().map(|s| s.address.to_string()).collect();
        assert_eq!(addrs, ["::", "::1", "::ffff:127.0.0.1", "fe80::ffff:ffff"]);
        assert_eq!(p.sockets[0].port, 80);
        assert_eq!(p.sockets[1].port, 631);
        assert_eq!(
            crate::model::Scope::of(p.sockets[2].address),
            crate::model::Scope::Loopback,
            "IPv4-mapped loopback is loopback"
        );
    }

    #[test]
    fn udp_connected_or_not() {
        let p = parse(UDP, Protocol::Udp);
        assert_eq!(p.sockets.len(), 2);
        assert_eq!(p.sockets[0].state, None);
        assert_eq!(p.sockets[0].remote, None, "unconnected: a listener");
        assert_eq!(p.sockets[0].address, IpAddr::from([127, 0, 0, 53]));
        assert!(p.sockets[1].remote.is_some(), "connected: not a listener");
    }

    /// Read for a listing, the table keeps its listeners whole and counts its connections.
    #[test]
    fn a_connection_is_counted_not_kept_unless_asked_for() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("tcp");
        std::fs::write(&path, TCP).expect("written");
        let mut read = Parsed::default();
        let file = std::fs::File::open(&path).expect("opened");
        read_table(
            file,
            (Protocol::Tcp, Keep::Listeners, Pass::First),
            &mut read,
        )
        .expect("read");
        assert!(read.sockets.iter().all(|s| s.state == Some("listen")));
        assert_eq!(read.sockets.len(), 2);
        assert_eq!(read.seen.established.get(&0xA2B4), Some(&1));
        assert_eq!(read.seen, parse(TCP, Protocol::Tcp).seen);
    }

    #[test]
    fn never_panics_on_junk() {
        for junk in [
            "",
            "\n\n",
            "header only\n",
            "h\n:\n",
            "h\n 0: : : : : : : : : :\n",
            "h\n\u{0}\u{ff}\n",
        ] {
            let p = parse(junk, Protocol::Tcp);
            assert!(p.sockets.is_empty());
        }
        assert_eq!(parse_address("0100007"), None);
        assert_eq!(parse_address("XYZ0007F"), None);
        assert_eq!(parse_address(&"0".repeat(31)), None);
    }
}
