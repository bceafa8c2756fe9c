//! TCP listeners the socket dump did not return though the in-kernel lookup saw them held.
//!
//! The kernel sends its listening table in chunks and resumes each by position within a
//! bucket of the table, whose sockets share a hash of their address and port: when a socket
//! of that bucket closes between two chunks, the resumed chunk skips the socket after it,
//! whatever its port. The ports where chunks ended are asked for again ([`super::diag`]),
//! which recovers an `SO_REUSEPORT` group's sockets, not a socket of another port that shares
//! the bucket (docs/reliability.md, row 14). The in-kernel lookup reads, for every socket a
//! process holds, whether it is a TCP listener and on which port (bpf/owners.bpf.c): a
//! listener of whoport's namespace that no dump returned is asked for again by its port.

use super::diag;
use super::filter::Filter;
use super::linux::HeldListener;
use super::sockets::{Found, Seen};
use crate::hash::HashSet;
use crate::port::Protocol;

/// The kernel's TCP_LISTEN state, as a mask.
const LISTENING: u32 = 1 << 10;

/// What [`ask_again`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Asked {
    /// The ports asked for again.
    pub ports: usize,
    /// The listeners kept.
    pub kept: usize,
}

/// Asks the kernel again for the ports of the `listeners` the filter shows (protocol, port
/// and family) that `seen` does not know, and keeps each of those listeners it gives: the
/// very sockets the lookup saw, by inode (not another socket on their port, such as one
/// closing, which the kernel gives without an inode). An error when the kernel could not be
/// asked.
pub fn ask_again(
    listeners: &[HeldListener],
    filter: &Filter,
    found: &mut Vec<Found>,
    seen: &mut Seen,
) -> std::io::Result<Asked> {
    if !filter.tcp {
        return Ok(Asked::default());
    }
    let missed: Vec<&HeldListener> = listeners
        .iter()
        .filter(|l| {
            !seen.inodes.contains(&l.inode)
                && (if l.ipv6 { filter.ipv6 } else { filter.ipv4 })
                && (filter.program.is_some() || filter.wants_port(l.port))
        })
        .collect();
    let inodes: HashSet<u32> = missed.iter().map(|l| l.inode).collect();
    let mut ports: Vec<u16> = missed.iter().map(|l| l.port).collect();
    ports.sort_unstable();
    ports.dedup();
    let mut asked = Asked {
        ports: ports.len(),
        kept: 0,
    };
    for chunk in ports.chunks(diag::MAX_FILTERED_PORTS) {
        for s in diag::dump_ports(Protocol::Tcp, LISTENING, chunk)? {
            if inodes.contains(&s.inode) && seen.note(&s) {
                found.push((s, Vec::new()));
                asked.kept += 1;
            }
        }
    }
    Ok(asked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::port::PortRange;

    /// A dump of this namespace's TCP listeners that missed the listener on `lost` (as a
    /// resumed chunk skips a socket), and that listener as the lookup saw it.
    fn missing(lost: std::net::SocketAddr) -> (Vec<Found>, Seen, HeldListener) {
        let mut listing = diag::dump_all(
            crate::collect::sockets::Want {
                tcp: true,
                udp: false,
                udplite: false,
                ipv4: true,
                ipv6: true,
            },
            crate::collect::sockets::Keep::Listeners,
            &[],
        )
        .expect("dump");
        let at = listing
            .found
            .iter()
            .position(|(s, _)| s.port == lost.port() && s.address == lost.ip())
            .expect("the listener is dumped");
        let (socket, _) = listing.found.remove(at);
        listing.seen.inodes.remove(&socket.inode);
        let held = HeldListener {
            inode: socket.inode,
            port: socket.port,
            ipv6: lost.is_ipv6(),
        };
        (listing.found, listing.seen, held)
    }

    #[test]
    fn a_held_listener_the_dump_missed_is_asked_for_again_by_its_port() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        // Another listener on the same port, missed by the dump too but not seen by the lookup
        // (as one opened after its pass, or one closing): not kept.
        let beside = std::net::TcpListener::bind(("::1", address.port())).expect("bind");
        let (mut found, mut seen, lost) = missing(address);
        let at = found
            .iter()
            .position(|(s, _)| s.port == address.port() && s.address.is_ipv6())
            .expect("the other listener is dumped");
        let (other, _) = found.remove(at);
        seen.inodes.remove(&other.inode);
        let before = found.len();
        let asked =
            ask_again(&[lost], &Filter::everything(), &mut found, &mut seen).expect("asked");
        assert_eq!(asked, Asked { ports: 1, kept: 1 }, "{found:?}");
        assert_eq!(found.len(), before + 1);
        let (again, _) = found.last().expect("kept");
        assert_eq!((again.inode, again.port), (lost.inode, lost.port));
        assert_eq!(again.state, Some("listen"));
        assert!(seen.inodes.contains(&lost.inode));
        assert!(!seen.inodes.contains(&other.inode));
        // Known now: not asked for, nor kept, again.
        let asked =
            ask_again(&[lost], &Filter::everything(), &mut found, &mut seen).expect("asked");
        assert_eq!((asked, found.len()), (Asked::default(), before + 1));
        drop((listener, beside));
    }

    /// What the filter does not show is not even asked for: neither another port, nor the
    /// other family (a listing of one family would otherwise ask for every listener of the
    /// other), nor TCP where it is not shown.
    #[test]
    fn a_missed_listener_the_filter_does_not_show_is_not_asked_for() {
        let v4 = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let v6 = std::net::TcpListener::bind("[::1]:0").expect("bind");
        for listener in [&v4, &v6] {
            let address = listener.local_addr().expect("address");
            let port = address.port();
            let other = if port == u16::MAX { port - 1 } else { port + 1 };
            let cases = [
                Filter {
                    ports: Some(vec![PortRange::single(other)]),
                    ..Filter::everything()
                },
                Filter {
                    ipv4: !address.is_ipv4(),
                    ipv6: address.is_ipv4(),
                    ..Filter::everything()
                },
                Filter {
                    tcp: false,
                    ..Filter::everything()
                },
            ];
            for filter in cases {
                let (mut found, mut seen, lost) = missing(address);
                let before = found.len();
                let asked = ask_again(&[lost], &filter, &mut found, &mut seen).expect("asked");
                assert_eq!(
                    (asked, found.len()),
                    (Asked::default(), before),
                    "{filter:?}"
                );
                assert!(!seen.inodes.contains(&lost.inode), "{filter:?}");
            }
        }
        drop((v4, v6));
    }
}
