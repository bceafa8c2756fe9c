//! Ports, protocols, IANA tiers, the ephemeral range, and parsing of the user's query.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::QueryError;

/// A transport protocol: the four the IANA registry assigns ports for, and UDP-Lite (RFC
/// 3828), whose sockets whoport lists too and which uses UDP's port numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
    Dccp,
    /// UDP-Lite (IP protocol 136): a protocol of its own, with its own sockets and its own
    /// port space (a UDP and a UDP-Lite socket may both be bound to 53).
    Udplite,
}

impl Protocol {
    /// Every protocol the IANA registry assigns ports for, in display order.
    pub const ALL: [Protocol; 4] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp, Protocol::Dccp];

    /// Every protocol whose sockets whoport lists, in display order.
    pub const LISTED: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Udplite];

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
            Protocol::Dccp => "dccp",
            Protocol::Udplite => "udplite",
        }
    }

    /// The protocol whose registry entries speak for this one's ports: UDP-Lite "uses the
    /// same set of port number values assigned by the IANA for use by UDP" (RFC 3828 §3.5).
    pub fn registry_protocol(self) -> Protocol {
        match self {
            Protocol::Udplite => Protocol::Udp,
            p => p,
        }
    }

    /// A datagram protocol: a bound socket that is not connected is a listener.
    pub fn is_datagram(self) -> bool {
        matches!(self, Protocol::Udp | Protocol::Udplite)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Protocol::ALL
            .into_iter()
            .chain([Protocol::Udplite])
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or(())
    }
}

/// IANA's three tiers of port numbers (RFC 6335 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    /// 0–1023, "system ports".
    WellKnown,
    /// 1024–49151, "user ports".
    Registered,
    /// 49152–65535, never assigned by IANA.
    Dynamic,
}

/// First port of the dynamic (private) tier.
pub const DYNAMIC_START: u16 = 49152;

impl Tier {
    pub fn of(port: u16) -> Tier {
        match port {
            0..=1023 => Tier::WellKnown,
            1024..=49151 => Tier::Registered,
            _ => Tier::Dynamic,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::WellKnown => "well-known",
            Tier::Registered => "registered",
            Tier::Dynamic => "dynamic",
        }
    }

    /// The tier's bounds, for display.
    pub fn bounds(self) -> (u16, u16) {
        match self {
            Tier::WellKnown => (0, 1023),
            Tier::Registered => (1024, 49151),
            Tier::Dynamic => (DYNAMIC_START, u16::MAX),
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An inclusive range of ports, `start <= end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PortRange {
    pub start: u16,
    pub end: u16,
}

impl PortRange {
    pub fn single(port: u16) -> PortRange {
        PortRange {
            start: port,
            end: port,
        }
    }

    pub fn contains(self, port: u16) -> bool {
        self.start <= port && port <= self.end
    }

    pub fn overlaps(self, other: PortRange) -> bool {
        self.start <= other.end && other.start <= self.end
    }

    pub fn is_single(self) -> bool {
        self.start == self.end
    }

    pub fn ports(self) -> impl Iterator<Item = u16> {
        self.start..=self.end
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_single() {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// The address part of a pasted `ADDRESS:PORT` (as `ss`, `netstat` and `lsof` print them).
/// Never a host name: `localhost` is the only name, and it means loopback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressPattern {
    /// `*:22`: a socket bound to every address (0.0.0.0, ::, ::ffff:0.0.0.0); `*%lo:22`
    /// (as `ss` prints a wildcard bound to a device): one bound to every address of that
    /// device.
    Wildcard { zone: Option<String> },
    /// `localhost:3000`: any loopback address.
    Loopback,
    /// `127.0.0.1:5432`, `[::]:22`, `:::22`, `[fe80::1%lo]:42600`: this address exactly
    /// (IPv4-mapped forms are the same address), on this device when a zone is given.
    Exact {
        address: std::net::IpAddr,
        zone: Option<String>,
    },
}

/// What the user asked about on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Query {
    /// `2668`, `:8080`, `53/udp`, `tcp/22`, and with an address: `0.0.0.0:22`, `[::1]:8080`.
    Port {
        port: u16,
        protocol: Option<Protocol>,
        address: Option<AddressPattern>,
    },
    /// `8000-8100`, `8000-8100/tcp`.
    Range {
        range: PortRange,
        protocol: Option<Protocol>,
    },
    /// `ssh`, `ssh/tcp`: resolved against the registry later.
    Service {
        name: String,
        protocol: Option<Protocol>,
    },
}

impl Query {
    pub fn protocol(&self) -> Option<Protocol> {
        match self {
            Query::Port { protocol, .. }
            | Query::Range { protocol, .. }
            | Query::Service { protocol, .. } => *protocol,
        }
    }
}

/// Parses one port number, naming the value in the error.
pub fn parse_port(text: &str, whole: &str) -> Result<u16, QueryError> {
    let digits = text.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(QueryError::BadPort {
            value: whole.to_string(),
        });
    }
    match digits.parse::<u32>() {
        Ok(n) if n <= u32::from(u16::MAX) => Ok(n as u16),
        _ => Err(QueryError::PortOutOfRange {
            value: whole.to_string(),
        }),
    }
}

/// An address family, as netstat's `tcp6` or `udp4` names it with the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

/// A protocol as typed, with the family netstat's `tcp6` adds to it.
type Typed = (Protocol, Option<Family>);

/// A protocol as typed in a query: `tcp`, or netstat's `tcp6` / `udp4` (the protocol over
/// one address family: an IPv6 socket, which may take IPv4 too when it is dual-stack).
fn protocol_token(token: &str) -> Option<Typed> {
    if let Ok(p) = token.parse::<Protocol>() {
        return Some((p, None));
    }
    let family = match token.as_bytes().last()? {
        b'4' => Family::V4,
        b'6' => Family::V6,
        _ => return None,
    };
    let p = token[..token.len() - 1].parse::<Protocol>().ok()?;
    Some((p, Some(family)))
}

/// The protocol and family typed in a query (`tcp6/22`, `22/udp4`, `53/udp`), if any.
fn typed_protocol<'a>(text: &'a str, whole: &str) -> Result<(&'a str, Option<Typed>), QueryError> {
    Ok(match text.rsplit_once('/') {
        // `tcp/22`, as some tools print it.
        Some((proto, body))
            if protocol_token(proto).is_some() && protocol_token(body).is_none() =>
        {
            (body, protocol_token(proto))
        }
        // `/22`, `22/`: the protocol is missing, not unknown.
        Some((before, after)) if before.trim().is_empty() || after.trim().is_empty() => {
            let (side, port) = if before.trim().is_empty() {
                ("before", after)
            } else {
                ("after", before)
            };
            // `/tcp` is a protocol without its port: said as a bad port.
            if protocol_token(port).is_some() || port.trim().is_empty() {
                return Err(QueryError::BadPort {
                    value: whole.to_string(),
                });
            }
            return Err(QueryError::MissingProtocol {
                value: whole.to_string(),
                side,
            });
        }
        Some((body, proto)) => {
            // `tcp46/22`: the port is after the slash, so the word before it is the protocol
            // that is not known.
            let (body, proto) = if is_port_like(proto) && !is_port_like(body) {
                (proto, body)
            } else {
                (body, proto)
            };
            let protocol = protocol_token(proto).ok_or_else(|| QueryError::BadProtocol {
                value: whole.to_string(),
                protocol: proto.to_string(),
            })?;
            (body, Some(protocol))
        }
        None => (text, None),
    })
}

/// A port or a range as typed (`22`, `8000-8100`, `:22`): what a protocol never is.
fn is_port_like(text: &str) -> bool {
    let t = text.trim();
    let t = t.strip_prefix(':').unwrap_or(t);
    !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'-')
}

/// The address family a query names with its protocol (netstat's `tcp6/22`, `22/udp4`):
/// the query then means that protocol over that family only (as `-6` or `-4`).
pub fn query_family(input: &str) -> Option<Family> {
    let text = input.trim();
    typed_protocol(text, input).ok()?.1?.1
}

impl FromStr for Query {
    type Err = QueryError;

    fn from_str(input: &str) -> Result<Self, QueryError> {
        let whole = input;
        let text = input.trim();
        if text.is_empty() {
            return Err(QueryError::Empty);
        }
        let (body, protocol) = typed_protocol(text, whole)?;
        let protocol = protocol.map(|(p, _)| p);
        // `::1`, `127.0.0.1`, `[::1]`, `fe80::1%lo`: an address, and no port.
        let without_port = || {
            bare_address(body).map(|(a, zone)| match zone {
                Some(z) if !is_zone(z) => QueryError::BadZone {
                    value: whole.to_string(),
                    zone: z.to_string(),
                },
                _ => QueryError::AddressWithoutPort {
                    value: whole.to_string(),
                    example: format!("{}:PORT", crate::address::host(a, zone)),
                },
            })
        };
        if let Some((address, port)) = split_endpoint(body) {
            let parsed = parse_port(port, whole).and_then(|port| {
                Ok(Query::Port {
                    port,
                    protocol,
                    address: Some(parse_address(address, whole)?),
                })
            });
            return match parsed {
                Err(e @ QueryError::BadZone { .. }) => Err(e),
                Err(e) => Err(without_port().unwrap_or(e)),
                ok => ok,
            };
        }
        if let Some(e) = without_port() {
            return Err(e);
        }
        let body = body.strip_prefix(':').unwrap_or(body);
        if body.is_empty() {
            return Err(QueryError::BadPort {
                value: whole.to_string(),
            });
        }
        let first = body.as_bytes()[0];
        if first.is_ascii_digit() || first == b'-' || first == b'+' {
            return parse_numeric(body, protocol, whole);
        }
        // A program name as `ps` shows it may be in any script (`café-daemon`): letters and
        // digits of every language are taken, never a control or formatting character (a
        // bidirectional override), and a name of digits alone is a port in other digits.
        if !body.chars().all(|c| {
            c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '+' | '*' | ' ' | '(' | ')')
        }) || (!body.is_ascii() && !body.chars().any(char::is_alphabetic))
        {
            return Err(QueryError::BadServiceName {
                value: whole.to_string(),
            });
        }
        Ok(Query::Service {
            name: body.to_string(),
            protocol,
        })
    }
}

fn parse_numeric(body: &str, protocol: Option<Protocol>, whole: &str) -> Result<Query, QueryError> {
    if body.starts_with('-') || body.starts_with('+') {
        // `-1` is a negative number, not a range with a missing start; `+22` is no port
        // number either.
        return Err(QueryError::SignedPort {
            value: whole.to_string(),
        });
    }
    match body.split_once('-') {
        None => Ok(Query::Port {
            port: parse_port(body, whole)?,
            protocol,
            address: None,
        }),
        Some((a, b)) => {
            let start = parse_port(a, whole)?;
            let end = parse_port(b, whole)?;
            if start > end {
                return Err(QueryError::ReversedRange {
                    value: whole.to_string(),
                });
            }
            if start == end {
                return Ok(Query::Port {
                    port: start,
                    protocol,
                    address: None,
                });
            }
            Ok(Query::Range {
                range: PortRange { start, end },
                protocol,
            })
        }
    }
}

/// `ADDRESS:PORT` split at its last colon: `[::1]:8080`, `[fe80::1]%lo:42600` (as `ss`
/// prints a zone), `:::22`, `*:22`, `0.0.0.0:22`. `None` for a bare port (`:8080`, `22`).
fn split_endpoint(body: &str) -> Option<(&str, &str)> {
    let (address, port) = body.rsplit_once(':')?;
    (!address.is_empty()).then_some((address, port))
}

/// The address part of a pasted endpoint; never resolves a name.
fn parse_address(text: &str, whole: &str) -> Result<AddressPattern, QueryError> {
    let bad = || QueryError::BadAddress {
        value: whole.to_string(),
    };
    match text {
        "*" => return Ok(AddressPattern::Wildcard { zone: None }),
        t if t.eq_ignore_ascii_case("localhost") => return Ok(AddressPattern::Loopback),
        _ => {}
    }
    // `*%lo`: `ss` writes a wildcard bound to a device so.
    if let Some(zone) = text.strip_prefix("*%") {
        if !is_zone(zone) {
            return Err(QueryError::BadZone {
                value: whole.to_string(),
                zone: zone.to_string(),
            });
        }
        return Ok(AddressPattern::Wildcard {
            zone: Some(zone.to_string()),
        });
    }
    // `[addr%zone]`, `[addr]%zone`, `[addr]`, or a bare `addr%zone` / `addr`.
    let (inner, outer_zone) = match text.strip_prefix('[') {
        Some(rest) => {
            let (inner, after) = rest.split_once(']').ok_or_else(bad)?;
            match after {
                "" => (inner, None),
                z => (inner, Some(z.strip_prefix('%').ok_or_else(bad)?)),
            }
        }
        None => (text, None),
    };
    let (address, zone) = match inner.split_once('%') {
        Some((a, z)) if outer_zone.is_none() => (a, Some(z)),
        Some(_) => return Err(bad()),
        None => (inner, outer_zone),
    };
    let Ok(address) = address.parse::<std::net::IpAddr>() else {
        // Letters that make no address are a host name: whoport never looks one up.
        return Err(
            if address
                .bytes()
                .any(|b| b.is_ascii_alphabetic() && !b.is_ascii_hexdigit())
            {
                QueryError::HostName {
                    value: whole.to_string(),
                }
            } else {
                bad()
            },
        );
    };
    let zone = match zone {
        Some(z) if !is_zone(z) => {
            return Err(QueryError::BadZone {
                value: whole.to_string(),
                zone: z.to_string(),
            })
        }
        z => z.map(str::to_string),
    };
    Ok(AddressPattern::Exact { address, zone })
}

/// `::1`, `127.0.0.1`, `[::1]`, `fe80::1%lo`, `[fe80::1]%lo`: an address alone, with its zone.
fn bare_address(text: &str) -> Option<(std::net::IpAddr, Option<&str>)> {
    let (inner, outer_zone) = match text.strip_prefix('[') {
        Some(rest) => {
            let (inner, after) = rest.split_once(']')?;
            match after {
                "" => (inner, None),
                z => (inner, Some(z.strip_prefix('%')?)),
            }
        }
        None => (text, None),
    };
    let (address, zone) = match (inner.split_once('%'), outer_zone) {
        (Some((a, z)), None) => (a, Some(z)),
        (Some(_), Some(_)) => return None,
        (None, z) => (inner, z),
    };
    Some((address.parse().ok()?, zone))
}

/// A zone as `ss` and `ip` print one: an interface name (at most 15 bytes, the kernel's
/// `IFNAMSIZ`, without `/`, `:` or `%`; not all digits) or an interface index (1 to
/// 4294967295: the kernel's indexes are positive 32-bit numbers).
fn is_zone(z: &str) -> bool {
    if !z.is_empty() && z.bytes().all(|b| b.is_ascii_digit()) {
        return z.parse::<u32>().is_ok_and(|i| i > 0);
    }
    (1..=15).contains(&z.len())
        && z.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'/' | b':' | b'%'))
}

/// A setting of this machine that could not be read: the file, and the error (`None`: the
/// file was read but its text is not what the kernel writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unread {
    pub path: &'static str,
    pub errno: Option<i32>,
}

impl std::fmt::Display for Unread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.errno {
            // EXDEV: not opened across a mount (see `collect::proc_dir::open_file`).
            Some(18) => write!(
                f,
                "{} was not read: something is mounted over it or on the way to it, which \
                 whoport does not read through",
                self.path
            )?,
            Some(n) => write!(
                f,
                "{} could not be read: {}",
                self.path,
                std::io::Error::from_raw_os_error(n)
            )?,
            None => write!(f, "{} is not in the form the kernel writes", self.path)?,
        }
        if self.errno == Some(2) && self.path.starts_with("/proc/sys/") {
            // ENOENT under /proc/sys: what a service with systemd's ProcSubset=pid sees.
            write!(
                f,
                " (a /proc mounted with subset=pid, as systemd's ProcSubset=pid gives, has no \
                 /proc/sys)"
            )?;
        }
        Ok(())
    }
}

/// This machine's setting at `path`, parsed, or why it could not be.
#[cfg(target_os = "linux")]
pub(crate) fn read_setting<T>(
    path: &'static str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, Unread> {
    use std::io::Read;
    let unread = |e: std::io::Error| Unread {
        path,
        errno: e.raw_os_error(),
    };
    // Never a file mounted over the kernel's, nor more of one than a setting holds.
    let mut text = String::new();
    crate::collect::proc_dir::open_file(path)
        .map_err(unread)?
        .take(crate::collect::proc_dir::MAX_FILE as u64)
        .read_to_string(&mut text)
        .map_err(unread)?;
    parse(&text).ok_or(Unread { path, errno: None })
}

/// Where outgoing connections take their local ports on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EphemeralRange {
    pub start: u16,
    pub end: u16,
    /// Where the bounds came from: a file read on this machine, or the platform's default.
    pub source: &'static str,
    /// Set when this machine's setting could not be read: the bounds are then the platform's
    /// default, not what this machine uses.
    #[serde(skip)]
    pub unread: Option<Unread>,
}

impl EphemeralRange {
    pub fn contains(self, port: u16) -> bool {
        self.start <= port && port <= self.end
    }

    /// Whether `port` is in this machine's range, when that is known.
    pub fn holds(self, port: u16) -> Option<bool> {
        self.unread.is_none().then(|| self.contains(port))
    }

    /// Reads this machine's range (Linux: `ip_local_port_range`), or the platform default.
    pub fn of_this_machine() -> EphemeralRange {
        #[cfg(target_os = "linux")]
        {
            const PATH: &str = "/proc/sys/net/ipv4/ip_local_port_range";
            match read_setting(PATH, parse_ephemeral) {
                Ok((start, end)) => EphemeralRange {
                    start,
                    end,
                    source: PATH,
                    unread: None,
                },
                Err(unread) => EphemeralRange {
                    start: 32768,
                    end: 60999,
                    source: "Linux default",
                    unread: Some(unread),
                },
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            // macOS, the BSDs and Windows follow RFC 6335 by default.
            EphemeralRange {
                start: DYNAMIC_START,
                end: u16::MAX,
                source: "platform default",
                unread: None,
            }
        }
    }
}

/// Why whether outgoing connections may take `port` is not known, when it is not: this
/// machine's ephemeral range could not be read, or the port is inside it and the reserved
/// ports could not be read.
pub fn ephemeral_unknown(port: u16, e: EphemeralRange, reserved: &ReservedPorts) -> Option<String> {
    if let Some(unread) = e.unread {
        return Some(format!(
            "this machine's ephemeral range is not known ({unread})"
        ));
    }
    let unread = reserved.unread.filter(|_| e.contains(port))?;
    Some(format!(
        "{port} is inside this machine's ephemeral range {}-{} ({}), and whether \
         net.ipv4.ip_local_reserved_ports reserves it is not known ({unread})",
        e.start, e.end, e.source
    ))
}

/// Parses the two numbers of `ip_local_port_range`.
pub fn parse_ephemeral(text: &str) -> Option<(u16, u16)> {
    let mut numbers = text.split_ascii_whitespace().map(str::parse::<u16>);
    let start = numbers.next()?.ok()?;
    let end = numbers.next()?.ok()?;
    (start <= end && numbers.next().is_none()).then_some((start, end))
}

/// Ports the kernel never hands out to outgoing connections, even inside the ephemeral range
/// (Linux: `ip_local_reserved_ports`, one setting per network namespace).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReservedPorts {
    pub ranges: Vec<PortRange>,
    /// The file read; `None` when there is none on this platform or it could not be read.
    pub source: Option<&'static str>,
    /// Set when this machine's list could not be read: which ports are reserved is not known.
    pub unread: Option<Unread>,
}

impl ReservedPorts {
    pub fn contains(&self, port: u16) -> bool {
        self.ranges.iter().any(|r| r.contains(port))
    }

    /// Whether `port` is reserved, when that is known.
    pub fn holds(&self, port: u16) -> Option<bool> {
        self.unread.is_none().then(|| self.contains(port))
    }

    /// Reads this machine's list (Linux), or nothing.
    pub fn of_this_machine() -> ReservedPorts {
        #[cfg(target_os = "linux")]
        {
            const PATH: &str = "/proc/sys/net/ipv4/ip_local_reserved_ports";
            match read_setting(PATH, parse_reserved) {
                Ok(ranges) => ReservedPorts {
                    ranges,
                    source: Some(PATH),
                    unread: None,
                },
                Err(unread) => ReservedPorts {
                    unread: Some(unread),
                    ..ReservedPorts::default()
                },
            }
        }
        #[cfg(not(target_os = "linux"))]
        ReservedPorts::default()
    }

    /// The sysctl value that keeps these ports reserved and adds `port`.
    pub fn with(&self, port: u16) -> String {
        let mut parts: Vec<String> = self.ranges.iter().map(ToString::to_string).collect();
        parts.push(port.to_string());
        parts.join(",")
    }
}

/// Parses `ip_local_reserved_ports`: comma-separated ports and ranges ("8080,9000-9010"), or
/// an empty line.
pub fn parse_reserved(text: &str) -> Option<Vec<PortRange>> {
    let text = text.trim();
    if text.is_empty() {
        return Some(Vec::new());
    }
    text.split(',')
        .map(|part| {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            let (start, end) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
            (start <= end).then_some(PortRange { start, end })
        })
        .collect()
}

#[cfg(test)]
mod tests;
