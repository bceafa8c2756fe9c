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
use super::sockets::{Found, Seen};
use crate::port::Protocol;

/// The kernel's TCP_LISTEN state, as a mask.
const LISTENING: u32 = 1 << 10;

/// Asks the kernel again for the ports of the `listeners` (socket inode, local port) the
/// filter shows that `seen` does not know, and keeps each listener it gives that no dump gave
/// before (of the families the filter shows). Returns how many were kept; an error when the
/// kernel could not be asked.
pub fn ask_again(
    listeners: &[(u32, u16)],
    filter: &Filter,
    found: &mut Vec<Found>,
    seen: &mut Seen,
) -> std::io::Result<usize> {
    if !filter.tcp {
        return Ok(0);
    }
    let mut ports: Vec<u16> = listeners
        .iter()
        .filter(|(inode, port)| {
            !seen.inodes.contains(inode) && (filter.program.is_some() || filter.wants_port(*port))
        })
        .map(|&(_, port)| port)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    let mut kept = 0;
    for chunk in ports.chunks(diag::MAX_FILTERED_PORTS) {
        for s in diag::dump_ports(Protocol::Tcp, LISTENING, chunk)? {
            let family = if s.address.is_ipv4() {
                filter.ipv4
            } else {
                filter.ipv6
            };
            if family && seen.note(&s) {
                found.push((s, Vec::new()));
                kept += 1;
            }
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::port::PortRange;

    /// A dump of this namespace's TCP listeners that missed `lost` (as a resumed chunk skips
    /// a socket), and the socket it missed.
    fn missing(lost: u16) -> (Vec<Found>, Seen, crate::model::Socket) {
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
            .position(|(s, _)| s.port == lost)
            .expect("the listener is dumped");
        let (socket, _) = listing.found.remove(at);
        listing.seen.inodes.remove(&socket.inode);
        (listing.found, listing.seen, socket)
    }

    #[test]
    fn a_held_listener_the_dump_missed_is_asked_for_again_by_its_port() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let (mut found, mut seen, lost) = missing(port);
        let before = found.len();
        let kept = ask_again(
            &[(lost.inode, port)],
            &Filter::everything(),
            &mut found,
            &mut seen,
        )
        .expect("asked");
        assert_eq!(kept, 1, "{found:?}");
        assert_eq!(found.len(), before + 1);
        let (again, _) = found.last().expect("kept");
        assert_eq!((again.inode, again.port), (lost.inode, port));
        assert_eq!(again.state, Some("listen"));
        assert!(seen.inodes.contains(&lost.inode));
        // Known now: not asked for, nor kept, again.
        let kept = ask_again(
            &[(lost.inode, port)],
            &Filter::everything(),
            &mut found,
            &mut seen,
        )
        .expect("asked");
        assert_eq!((kept, found.len()), (0, before + 1));
        drop(listener);
    }

    #[test]
    fn a_missed_listener_the_filter_does_not_show_is_not_asked_for() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let other = if port == u16::MAX { port - 1 } else { port + 1 };
        let cases = [
            Filter {
                ports: Some(vec![PortRange::single(other)]),
                ..Filter::everything()
            },
            Filter {
                ipv4: false,
                ..Filter::everything()
            },
            Filter {
                tcp: false,
                ..Filter::everything()
            },
        ];
        for filter in cases {
            let (mut found, mut seen, lost) = missing(port);
            let before = found.len();
            let kept =
                ask_again(&[(lost.inode, port)], &filter, &mut found, &mut seen).expect("asked");
            assert_eq!((kept, found.len()), (0, before), "{filter:?}");
            assert!(!seen.inodes.contains(&lost.inode), "{filter:?}");
        }
        drop(listener);
    }
}
