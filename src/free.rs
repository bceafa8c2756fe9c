//! `whoport free`: ports a new service can take. Every rule is a fact about the port (the
//! registry, the machine's settings, its sockets); the last word is a real test bind.

use crate::hash::HashSet;

use crate::check::{self, cause::Target};
use crate::collect::sockets;
use crate::error::PortArgError;
use crate::port::{PortRange, Protocol, ReservedPorts};
use crate::registry::{iana::Status, unofficial, Knowledge};

/// The lowest port a candidate may have: 0-1023 are the system ports.
pub const LOWEST: u16 = 1024;

/// Why ports of the range were not candidates, counted by the first rule each failed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Excluded {
    pub system_port: usize,
    pub ephemeral: usize,
    pub reserved: usize,
    pub iana: usize,
    pub unofficial: usize,
    pub local_services: usize,
    /// A socket on the port, or a failed test bind.
    pub in_use: usize,
}

/// What `free` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub ports: Vec<u16>,
    pub protocols: Vec<Protocol>,
    pub range: PortRange,
    /// Ports that passed every rule but the test binds.
    pub candidates: usize,
    pub excluded: Excluded,
    /// The reserved ports setting, as read.
    pub reserved: String,
}

/// `A-B` (or one port) for `--range`.
pub fn parse_range(text: &str) -> Result<PortRange, PortArgError> {
    let bad = || PortArgError::Range {
        value: text.to_string(),
    };
    let (a, b) = text.split_once('-').unwrap_or((text, text));
    let start: u16 = a.trim().parse().map_err(|_| bad())?;
    let end: u16 = b.trim().parse().map_err(|_| bad())?;
    if start > end {
        return Err(bad());
    }
    Ok(PortRange { start, end })
}

/// `free` hands out no port it could not check against this machine's ephemeral range and
/// reserved ports: an error (exit status 2) naming the settings not read.
pub fn settings_read(k: &Knowledge) -> anyhow::Result<()> {
    let unread: Vec<String> = [k.ephemeral.unread, k.reserved.unread]
        .into_iter()
        .flatten()
        .map(|u| u.to_string())
        .collect();
    if unread.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "{}; whoport free offers no port it could not check against this machine's ephemeral \
         range and reserved ports",
        unread.join("; ")
    )
}

/// The rule a port fails, if any (the test binds aside).
fn excluded_by(
    port: u16,
    k: &Knowledge,
    reserved: &ReservedPorts,
    used: &HashSet<u16>,
) -> Option<fn(&mut Excluded) -> &mut usize> {
    if port < LOWEST {
        return Some(|e| &mut e.system_port);
    }
    if k.ephemeral.contains(port) {
        return Some(|e| &mut e.ephemeral);
    }
    if reserved.contains(port) {
        return Some(|e| &mut e.reserved);
    }
    let iana_taken = Protocol::ALL.into_iter().any(|p| {
        let s = k.iana.status(port, p);
        matches!(s.status, Status::Assigned | Status::Reserved)
    });
    if iana_taken {
        return Some(|e| &mut e.iana);
    }
    if !unofficial::for_port(port, None).is_empty() {
        return Some(|e| &mut e.unofficial);
    }
    if !k.local.for_port(port, None).is_empty() {
        return Some(|e| &mut e.local_services);
    }
    if used.contains(&port) {
        return Some(|e| &mut e.in_use);
    }
    None
}

/// Ports with a socket of one of `protocols` in any state, from one dump of the tables (no
/// `/proc` walk). Only a shortcut: the test binds have the last word.
fn used_ports(protocols: &[Protocol]) -> HashSet<u16> {
    let want = sockets::Want {
        tcp: protocols.contains(&Protocol::Tcp),
        udp: protocols.contains(&Protocol::Udp),
        udplite: protocols.contains(&Protocol::Udplite),
        ipv4: true,
        ipv6: true,
    };
    sockets::enumerate(want)
        .map(|found| found.into_iter().map(|(s, _)| s.port).collect())
        .unwrap_or_default()
}

/// Up to `count` ports of `range` that pass every rule for `protocols`: random among the
/// candidates, or the lowest when `first`.
pub fn free(
    k: &Knowledge,
    protocols: &[Protocol],
    range: PortRange,
    count: usize,
    first: bool,
) -> Found {
    let used = used_ports(protocols);
    let mut excluded = Excluded::default();
    let mut candidates: Vec<u16> = Vec::new();
    for port in range.ports() {
        match excluded_by(port, k, &k.reserved, &used) {
            Some(counter) => *counter(&mut excluded) += 1,
            None => candidates.push(port),
        }
    }
    let total = candidates.len();
    if !first {
        fastrand::shuffle(&mut candidates);
    }
    let targets = Target::wildcards();
    let mut ports = Vec::new();
    for port in candidates {
        if ports.len() >= count {
            break;
        }
        let bindable = protocols
            .iter()
            .all(|&p| check::all_ok(&check::probe(port, p, &targets), false));
        if bindable {
            ports.push(port);
        } else {
            excluded.in_use += 1;
        }
    }
    Found {
        ports,
        protocols: protocols.to_vec(),
        range,
        candidates: total,
        excluded,
        reserved: k
            .reserved
            .ranges
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(
            parse_range("8000-8999"),
            Ok(PortRange {
                start: 8000,
                end: 8999
            })
        );
        assert_eq!(parse_range("9000"), Ok(PortRange::single(9000)));
        assert!(parse_range("9-1").is_err());
        assert!(parse_range("a-b").is_err());
        assert!(parse_range("1-70000").is_err());
    }

    #[test]
    fn rules_exclude_what_they_name() {
        let mut warnings = Vec::new();
        let mut k = Knowledge::load(None, &mut warnings).expect("registry");
        k.iana = crate::registry::iana::IanaTable::embedded();
        k.ephemeral = crate::port::EphemeralRange {
            start: 40000,
            end: 40100,
            source: "test",
            unread: None,
        };
        let reserved = ReservedPorts {
            ranges: vec![PortRange::single(46100)],
            source: None,
            unread: None,
        };
        let used: HashSet<u16> = [46101].into_iter().collect();
        let rule = |port| {
            excluded_by(port, &k, &reserved, &used).map(|f| {
                let mut e = Excluded::default();
                *f(&mut e) += 1;
                e
            })
        };
        let one = |f: fn(&mut Excluded) -> &mut usize| {
            let mut e = Excluded::default();
            *f(&mut e) += 1;
            Some(e)
        };
        assert_eq!(rule(80), one(|e| &mut e.system_port));
        assert_eq!(rule(40050), one(|e| &mut e.ephemeral));
        assert_eq!(rule(46100), one(|e| &mut e.reserved));
        assert_eq!(rule(5432), one(|e| &mut e.iana));
        assert_eq!(rule(46101), one(|e| &mut e.in_use));
    }
}
