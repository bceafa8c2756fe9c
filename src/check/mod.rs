//! `whoport check`: could a new server listen on this port right now, and if not, why?
//! Real test binds (closed at once) say yes or no; the socket tables say why.

pub mod cause;
pub mod probe;
pub mod sysctl;

use std::net::IpAddr;

use crate::collect::{self, Filter};
use crate::error::{CollectError, PortArgError};
use crate::model::Snapshot;
use crate::port::{AddressPattern, EphemeralRange, PortRange, Protocol, Query};
use crate::registry::{unofficial, Knowledge};
use cause::{overlap, Kind, Overlap, Target};
use probe::BindError;

/// The two binds of one target: without SO_REUSEADDR, and with it (what most servers set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub target: Target,
    pub plain: Result<(), BindError>,
    pub reuseaddr: Result<(), BindError>,
}

impl Probe {
    /// Both binds succeeded: a server could listen here, with or without SO_REUSEADDR.
    pub fn ok(&self) -> bool {
        self.plain.is_ok() && self.reuseaddr.is_ok()
    }

    /// This machine has no such address family (e.g. IPv6 disabled).
    pub fn family_unavailable(&self) -> bool {
        [self.plain, self.reuseaddr].contains(&Err(BindError::FamilyUnavailable))
    }
}

/// Test-binds every target, both ways.
pub fn probe(port: u16, protocol: Protocol, targets: &[Target]) -> Vec<Probe> {
    let bind = |t: &Target, reuse| {
        probe::try_bind(protocol, t.address, port, t.v6only, reuse).map_err(|e| BindError::of(&e))
    };
    targets
        .iter()
        .map(|t| Probe {
            target: *t,
            plain: bind(t, false),
            reuseaddr: bind(t, true),
        })
        .collect()
}

/// Do the probes say a server could listen? Targets whose address family this machine does
/// not have count only when the user asked for that address.
pub fn all_ok(probes: &[Probe], explicit: bool) -> bool {
    probes
        .iter()
        .all(|p| p.ok() || (!explicit && p.family_unavailable()))
}

/// A socket in the way of a target: an index into the snapshot's listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocker {
    pub socket: usize,
    pub overlap: Overlap,
    pub kind: Kind,
}

/// A reason for a failed bind that is not a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Obstacle {
    /// The port is below net.ipv4.ip_unprivileged_port_start and whoport has no privilege.
    Privileged { start: u16 },
    /// EACCES on a port that needs no privilege: a security policy (SELinux, AppArmor,
    /// seccomp, a BPF program) refused it.
    Denied,
    /// EACCES where net.ipv4.ip_unprivileged_port_start could not be read: the port may need
    /// privilege, or a security policy refused it.
    DeniedUnjudged,
    /// The address is not one of this machine's.
    NotLocal,
    /// No IPv6 (or IPv4) on this machine.
    FamilyUnavailable,
    /// In use, yet no socket on this port explains it (it may have closed since).
    Unexplained,
    /// Another error, with its errno.
    Other(i32),
}

impl Obstacle {
    pub fn as_str(self) -> &'static str {
        match self {
            Obstacle::Privileged { .. } => "privileged-port",
            Obstacle::Denied => "denied-by-policy",
            Obstacle::DeniedUnjudged => "denied",
            Obstacle::NotLocal => "address-not-local",
            Obstacle::FamilyUnavailable => "address-family-unavailable",
            Obstacle::Unexplained => "unexplained",
            Obstacle::Other(_) => "other-error",
        }
    }
}

/// One target: the two binds, and why they failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub probe: Probe,
    pub blockers: Vec<Blocker>,
    pub obstacles: Vec<Obstacle>,
}

/// Advice that holds whether or not the binds succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advice {
    /// The port lies in the ephemeral range: outgoing connections may take it.
    Ephemeral {
        range: EphemeralRange,
        /// Already listed in net.ipv4.ip_local_reserved_ports.
        reserved: bool,
        /// The value that reserves it too (the current list plus this port).
        reserve_with: String,
    },
    /// IANA assigns the port to a service, on this protocol.
    Assigned { services: Vec<(String, String)> },
    /// Known programs use this port by default: (program, note), one advice for all.
    Conventional {
        programs: Vec<(&'static str, &'static str)>,
    },
    /// Binding it needs root or CAP_NET_BIND_SERVICE (whoport has it, a server may not).
    NeedsPrivilege { start: u16 },
    /// Other network namespaces exist: containers have ports of their own.
    OtherNamespaces { processes: usize },
}

impl Advice {
    pub fn as_str(&self) -> &'static str {
        match self {
            Advice::Ephemeral { .. } => "ephemeral-range",
            Advice::Assigned { .. } => "iana-assigned",
            Advice::Conventional { .. } => "known-program",
            Advice::NeedsPrivilege { .. } => "needs-privilege",
            Advice::OtherNamespaces { .. } => "other-network-namespaces",
        }
    }
}

/// Everything `check` found.
#[derive(Debug)]
pub struct Report {
    pub port: u16,
    pub protocol: Protocol,
    /// Whether the user named the address (`--address`).
    pub explicit: bool,
    pub attempts: Vec<Attempt>,
    /// The sockets on the port, every state, with their holders.
    pub snapshot: Snapshot,
    pub advice: Vec<Advice>,
}

impl Report {
    /// Could a server listen on every address asked?
    pub fn can_listen(&self) -> bool {
        let probes: Vec<Probe> = self.attempts.iter().map(|a| a.probe).collect();
        all_ok(&probes, self.explicit)
    }
}

/// Test-binds the port on `address` (the wildcards when `None`), then looks at the sockets on
/// the port to name every cause of a failure.
pub fn check(
    port: u16,
    protocol: Protocol,
    address: Option<IpAddr>,
    k: &Knowledge,
) -> Result<Report, CollectError> {
    let targets = address.map_or_else(Target::wildcards, Target::for_address);
    let probes = probe(port, protocol, &targets);
    let mut snapshot = collect::collect(&Filter {
        tcp: protocol == Protocol::Tcp,
        udp: protocol == Protocol::Udp,
        udplite: protocol == Protocol::Udplite,
        ipv4: true,
        ipv6: true,
        all_states: true,
        ports: Some(vec![PortRange::single(port)]),
        ..Filter::default()
    })?;
    let read = sysctl::unprivileged_port_start();
    let start = read.ok();
    let attempts = probes
        .into_iter()
        .map(|p| explain(p, &snapshot, port, start))
        .collect();
    let advice = advice(port, protocol, k, &snapshot, start);
    if let Err(why) = read {
        snapshot.notes.push(format!(
            "whether binding {port} needs root or CAP_NET_BIND_SERVICE is not known: \
             net.ipv4.ip_unprivileged_port_start was not read ({why})"
        ));
    }
    // Not judged where this machine's settings could not be read: said so.
    if let Some(why) = crate::port::ephemeral_unknown(port, k.ephemeral, &k.reserved) {
        snapshot.notes.push(format!(
            "whether outgoing connections may take {port} is not known: {why}"
        ));
    }
    Ok(Report {
        port,
        protocol,
        explicit: address.is_some(),
        attempts,
        snapshot,
        advice,
    })
}

/// Names the causes of a failed probe from the sockets on the port.
/// `unprivileged_start`: `None` where net.ipv4.ip_unprivileged_port_start could not be read.
pub fn explain(
    probe: Probe,
    snapshot: &Snapshot,
    port: u16,
    unprivileged_start: Option<u16>,
) -> Attempt {
    let errors: Vec<BindError> = [probe.plain, probe.reuseaddr]
        .into_iter()
        .filter_map(Result::err)
        .collect();
    let mut blockers = Vec::new();
    let mut obstacles = Vec::new();
    if errors
        .iter()
        .any(|e| matches!(e, BindError::InUse | BindError::Denied))
    {
        blockers = snapshot
            .listeners
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                overlap(&probe.target, l.socket.address, l.v6only).map(|o| Blocker {
                    socket: i,
                    overlap: o,
                    kind: Kind::of(&l.socket),
                })
            })
            .collect();
    }
    for e in errors {
        let obstacle = match e {
            BindError::Denied => match unprivileged_start {
                Some(start) if port < start => Obstacle::Privileged { start },
                Some(_) => Obstacle::Denied,
                None => Obstacle::DeniedUnjudged,
            },
            BindError::InUse if blockers.is_empty() => Obstacle::Unexplained,
            BindError::InUse => continue,
            BindError::NotLocal => Obstacle::NotLocal,
            BindError::FamilyUnavailable => Obstacle::FamilyUnavailable,
            BindError::Other(n) => Obstacle::Other(n),
        };
        if !obstacles.contains(&obstacle) {
            obstacles.push(obstacle);
        }
    }
    Attempt {
        probe,
        blockers,
        obstacles,
    }
}

/// Programs known to use this port by default.
pub fn conventional_programs(
    port: u16,
    protocol: Protocol,
) -> Vec<&'static unofficial::UnofficialUse> {
    unofficial::for_port(port, Some(protocol))
}

/// What to know about the port beyond this moment.
fn advice(
    port: u16,
    protocol: Protocol,
    k: &Knowledge,
    snapshot: &Snapshot,
    unprivileged_start: Option<u16>,
) -> Vec<Advice> {
    let mut advice = Vec::new();
    // Only where this machine's settings were read: a default is no fact about it.
    if let (Some(true), Some(reserved)) = (k.ephemeral.holds(port), k.reserved.holds(port)) {
        advice.push(Advice::Ephemeral {
            range: k.ephemeral,
            reserved,
            reserve_with: k.reserved.with(port),
        });
    }
    let status = k.iana.status(port, protocol.registry_protocol());
    if !status.services.is_empty() {
        advice.push(Advice::Assigned {
            services: status
                .services
                .iter()
                .map(|e| (e.name().into_owned(), e.description().into_owned()))
                .collect(),
        });
    }
    let mut programs: Vec<(&'static str, &'static str)> = conventional_programs(port, protocol)
        .into_iter()
        .map(|u| (u.program, u.note))
        .collect();
    programs.dedup_by_key(|(program, _)| *program);
    if !programs.is_empty() {
        advice.push(Advice::Conventional { programs });
    }
    if let Some(start) = unprivileged_start.filter(|&start| port < start && snapshot.root) {
        advice.push(Advice::NeedsPrivilege { start });
    }
    if snapshot.other_netns > 0 {
        advice.push(Advice::OtherNamespaces {
            processes: snapshot.other_netns,
        });
    }
    advice
}

/// `PORT[/tcp|/udp|/udplite]` as `check` and `wait` take it (TCP when no protocol is given), with the
/// address of a pasted form (`127.0.0.1:8080`, `[::1]:8080`; `*:8080` is every address).
pub fn parse_port_arg(text: &str) -> Result<(u16, Protocol, Option<IpAddr>), PortArgError> {
    let value = || text.to_string();
    let query = text.parse::<Query>()?;
    if crate::port::query_family(text).is_some() {
        return Err(PortArgError::Family { value: value() });
    }
    match query {
        Query::Port { port: 0, .. } => Err(PortArgError::Zero { value: value() }),
        Query::Port {
            port,
            protocol,
            address,
        } => {
            let address = match address {
                None | Some(AddressPattern::Wildcard { .. }) => None,
                Some(AddressPattern::Exact { address, .. }) => Some(address),
                Some(AddressPattern::Loopback) => {
                    return Err(PortArgError::NotOnePort { value: value() })
                }
            };
            match protocol.unwrap_or(Protocol::Tcp) {
                p @ (Protocol::Tcp | Protocol::Udp | Protocol::Udplite) => Ok((port, p, address)),
                _ => Err(PortArgError::Protocol { value: value() }),
            }
        }
        _ => Err(PortArgError::NotOnePort { value: value() }),
    }
}

/// An IP address as `--address` takes it: `127.0.0.1`, `::1` or `[::1]`.
pub fn parse_address(text: &str) -> Result<IpAddr, PortArgError> {
    let t = text.trim();
    let inner = t
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(t);
    inner.parse().map_err(|_| PortArgError::Address {
        value: text.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_arguments() {
        assert_eq!(parse_port_arg("8080"), Ok((8080, Protocol::Tcp, None)));
        assert_eq!(parse_port_arg(":53/udp"), Ok((53, Protocol::Udp, None)));
        assert_eq!(parse_port_arg("22/TCP"), Ok((22, Protocol::Tcp, None)));
        assert_eq!(parse_port_arg("*:22"), Ok((22, Protocol::Tcp, None)));
        assert_eq!(
            parse_port_arg("[::1]:8080"),
            Ok((8080, Protocol::Tcp, "::1".parse().ok()))
        );
        assert_eq!(
            parse_port_arg("127.0.0.1:8080"),
            Ok((8080, Protocol::Tcp, "127.0.0.1".parse().ok()))
        );
        assert!(matches!(
            parse_port_arg("0"),
            Err(PortArgError::Zero { .. })
        ));
        assert!(matches!(
            parse_port_arg("80-90"),
            Err(PortArgError::NotOnePort { .. })
        ));
        assert!(matches!(
            parse_port_arg("ssh"),
            Err(PortArgError::NotOnePort { .. })
        ));
        assert!(matches!(
            parse_port_arg("9/sctp"),
            Err(PortArgError::Protocol { .. })
        ));
        assert!(matches!(
            parse_port_arg("70000"),
            Err(PortArgError::Query(_))
        ));
    }

    #[test]
    fn addresses() {
        assert_eq!(
            parse_address("[::1]"),
            "::1".parse().map_err(|_| unreachable!())
        );
        assert_eq!(parse_address("127.0.0.1").ok(), "127.0.0.1".parse().ok());
        assert!(parse_address("localhost").is_err());
        assert!(parse_address("[::1").is_err());
    }
}
