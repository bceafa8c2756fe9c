//! Which existing sockets stand in the way of a bind, and how: pure logic over addresses,
//! the v6-only flag and socket states, so it can be tested without a network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::model::Socket;
use crate::port::Protocol;

/// One address a server could bind: an address, and for IPv6 the v6-only flag it sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub address: IpAddr,
    /// `Some(false)`: dual-stack `[::]`; `Some(true)`: v6-only; `None`: not applicable.
    pub v6only: Option<bool>,
}

impl Target {
    /// The wildcard addresses a server would use: `0.0.0.0`, `[::]` dual-stack, `[::]` v6-only.
    pub fn wildcards() -> Vec<Target> {
        vec![
            Target {
                address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                v6only: None,
            },
            Target {
                address: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                v6only: Some(false),
            },
            Target {
                address: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                v6only: Some(true),
            },
        ]
    }

    /// The targets for an address given by the user: `[::]` is tried both ways.
    pub fn for_address(address: IpAddr) -> Vec<Target> {
        match address {
            IpAddr::V6(a) if a.is_unspecified() => Target::wildcards().split_off(1),
            IpAddr::V6(a) if a.to_ipv4_mapped().is_some() => vec![Target {
                address,
                v6only: Some(false),
            }],
            _ => vec![Target {
                address,
                v6only: None,
            }],
        }
    }

    /// How the target reads in text: `0.0.0.0`, `[::] dual-stack`, `[::] v6-only`, `[::1]`.
    pub fn label(&self) -> String {
        match (self.address, self.v6only) {
            (IpAddr::V6(a), Some(false)) if a.is_unspecified() => "[::] dual-stack".to_string(),
            (IpAddr::V6(a), Some(true)) if a.is_unspecified() => "[::] v6-only".to_string(),
            (IpAddr::V6(a), _) => format!("[{a}]"),
            (IpAddr::V4(a), _) => a.to_string(),
        }
    }
}

/// The IPv4 and IPv6 addresses a socket (or target) takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cover {
    v4: Option<Ipv4Addr>,
    v6: Option<Ipv6Addr>,
}

/// A `[::]` socket whose v6-only flag is not known is taken to accept IPv4 as well: that is
/// the Linux default (net.ipv6.bindv6only = 0), and the bind result tells the truth anyway.
fn cover(address: IpAddr, v6only: Option<bool>) -> Cover {
    match address {
        IpAddr::V4(a) => Cover {
            v4: Some(a),
            v6: None,
        },
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(m) => Cover {
                v4: Some(m),
                v6: None,
            },
            None if a.is_unspecified() => Cover {
                v4: (v6only != Some(true)).then_some(Ipv4Addr::UNSPECIFIED),
                v6: Some(a),
            },
            None => Cover {
                v4: None,
                v6: Some(a),
            },
        },
    }
}

fn meet<T: PartialEq>(a: Option<T>, b: Option<T>, unspecified: impl Fn(&T) -> bool) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b || unspecified(&a) || unspecified(&b),
        _ => false,
    }
}

/// How a socket's address stands in a target's way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Overlap {
    /// The same address.
    Same,
    /// A dual-stack `[::]` socket, which takes IPv4 too, against an IPv4 target.
    DualStack,
    /// A socket on one specific address against a wildcard target.
    SpecificBlocksWildcard,
    /// A wildcard socket against a specific target.
    WildcardBlocksSpecific,
}

impl Overlap {
    pub fn as_str(self) -> &'static str {
        match self {
            Overlap::Same => "same-address",
            Overlap::DualStack => "dual-stack-takes-ipv4",
            Overlap::SpecificBlocksWildcard => "specific-address-blocks-wildcard",
            Overlap::WildcardBlocksSpecific => "wildcard-blocks-specific-address",
        }
    }
}

/// Does a socket on `address` (with its v6-only flag) conflict with `target`, and how?
pub fn overlap(target: &Target, address: IpAddr, v6only: Option<bool>) -> Option<Overlap> {
    let t = cover(target.address, target.v6only);
    let s = cover(address, v6only);
    let v4 = meet(t.v4, s.v4, Ipv4Addr::is_unspecified);
    let v6 = meet(t.v6, s.v6, Ipv6Addr::is_unspecified);
    if !v4 && !v6 {
        return None;
    }
    let target_any = target.address.to_canonical().is_unspecified();
    let socket_any = address.to_canonical().is_unspecified();
    let target_v4_only = t.v6.is_none();
    Some(
        if !v6 && target_v4_only && address.is_ipv6() && socket_any {
            Overlap::DualStack
        } else if target_any && !socket_any {
            Overlap::SpecificBlocksWildcard
        } else if socket_any && !target_any {
            Overlap::WildcardBlocksSpecific
        } else {
            Overlap::Same
        },
    )
}

/// What kind of socket is in the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A TCP listener, or a UDP socket that is not connected.
    Listener,
    /// A TCP socket bound but neither listening nor connected.
    Bound,
    /// A TCP connection in TIME_WAIT on this local port.
    TimeWait,
    /// Any other connection on this local port (established, closing, connected UDP...).
    Connection,
}

impl Kind {
    pub fn of(s: &Socket) -> Kind {
        match (s.protocol, s.state) {
            (Protocol::Tcp, Some("listen")) => Kind::Listener,
            // Bound-inactive sockets: "closed" in the kernel's own words.
            (Protocol::Tcp, Some("bound" | "closed")) if s.remote.is_none() => Kind::Bound,
            (Protocol::Tcp, Some("time-wait")) => Kind::TimeWait,
            (Protocol::Tcp, _) => Kind::Connection,
            _ if s.remote.is_none() => Kind::Listener,
            _ => Kind::Connection,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Listener => "listener",
            Kind::Bound => "bound",
            Kind::TimeWait => "time-wait",
            Kind::Connection => "connection",
        }
    }

    /// Sockets that SO_REUSEADDR can get past (on both sides): all but listeners.
    pub fn reuseaddr_may_pass(self, protocol: Protocol) -> bool {
        match self {
            Kind::Listener => protocol.is_datagram(),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn overlaps_between_targets_and_sockets() {
        let [v4_any, dual, v6only] = <[Target; 3]>::try_from(Target::wildcards()).expect("3");
        let loopback = Target::for_address(ip("127.0.0.1"))[0];
        let v6_loopback = Target::for_address(ip("::1"))[0];
        use Overlap::*;
        let cases: &[(Target, &str, Option<bool>, Option<Overlap>)] = &[
            (v4_any, "0.0.0.0", None, Some(Same)),
            (v4_any, "127.0.0.1", None, Some(SpecificBlocksWildcard)),
            (v4_any, "::", Some(false), Some(DualStack)),
            (v4_any, "::", None, Some(DualStack)),
            (v4_any, "::", Some(true), None),
            (v4_any, "::1", Some(true), None),
            (
                v4_any,
                "::ffff:127.0.0.1",
                Some(false),
                Some(SpecificBlocksWildcard),
            ),
            (dual, "0.0.0.0", None, Some(Same)),
            (dual, "127.0.0.1", None, Some(SpecificBlocksWildcard)),
            (dual, "::", Some(true), Some(Same)),
            (dual, "::1", Some(true), Some(SpecificBlocksWildcard)),
            (v6only, "0.0.0.0", None, None),
            (v6only, "127.0.0.1", None, None),
            (v6only, "::", Some(false), Some(Same)),
            (v6only, "::1", Some(false), Some(SpecificBlocksWildcard)),
            (loopback, "0.0.0.0", None, Some(WildcardBlocksSpecific)),
            (loopback, "127.0.0.1", None, Some(Same)),
            (loopback, "127.0.0.2", None, None),
            (loopback, "::", Some(false), Some(DualStack)),
            (loopback, "::", Some(true), None),
            (v6_loopback, "::", Some(true), Some(WildcardBlocksSpecific)),
            (v6_loopback, "0.0.0.0", None, None),
            (v6_loopback, "::1", Some(true), Some(Same)),
        ];
        for (target, address, v6only, want) in cases {
            assert_eq!(
                overlap(target, ip(address), *v6only),
                *want,
                "{} against {address} (v6only {v6only:?})",
                target.label()
            );
        }
    }

    #[test]
    fn targets_and_labels() {
        let labels: Vec<String> = Target::wildcards().iter().map(Target::label).collect();
        assert_eq!(labels, ["0.0.0.0", "[::] dual-stack", "[::] v6-only"]);
        let given: Vec<String> = Target::for_address(ip("::"))
            .iter()
            .map(Target::label)
            .collect();
        assert_eq!(given, ["[::] dual-stack", "[::] v6-only"]);
        assert_eq!(Target::for_address(ip("::1"))[0].label(), "[::1]");
        assert_eq!(Target::for_address(ip("10.0.0.1"))[0].label(), "10.0.0.1");
    }

    #[test]
    fn kinds_of_sockets() {
        let s = |protocol, state, remote: bool| Socket {
            protocol,
            address: ip("127.0.0.1"),
            port: 1,
            state,
            remote: remote.then(|| (ip("127.0.0.1"), 2)),
            inode: 0,
            uid: None,
            ifindex: 0,
            device_reported: true,
            v6only: None,
        };
        assert_eq!(
            Kind::of(&s(Protocol::Tcp, Some("listen"), false)),
            Kind::Listener
        );
        assert_eq!(
            Kind::of(&s(Protocol::Tcp, Some("bound"), false)),
            Kind::Bound
        );
        assert_eq!(
            Kind::of(&s(Protocol::Tcp, Some("time-wait"), true)),
            Kind::TimeWait
        );
        assert_eq!(
            Kind::of(&s(Protocol::Tcp, Some("established"), true)),
            Kind::Connection
        );
        assert_eq!(Kind::of(&s(Protocol::Udp, None, false)), Kind::Listener);
        assert_eq!(Kind::of(&s(Protocol::Udp, None, true)), Kind::Connection);
        assert!(!Kind::Listener.reuseaddr_may_pass(Protocol::Tcp));
        assert!(Kind::TimeWait.reuseaddr_may_pass(Protocol::Tcp));
    }
}
