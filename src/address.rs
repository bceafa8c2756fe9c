//! Where a socket is bound, in the one notation every output uses (`0.0.0.0:22`, `[::]:22`,
//! `127.0.0.1:5432`, `[fe80::1%lo]:42600`, `0.0.0.0%lo:8080`), and its reach in words.

use std::net::IpAddr;

use crate::model::{Listener, Scope, Socket};
use crate::port::AddressPattern;

/// The kernel gives its loopback device this index in every network namespace
/// (`LOOPBACK_IFINDEX`).
pub const LOOPBACK_IFINDEX: u32 = 1;

/// The host part: an IPv4 address as is, an IPv6 address in brackets, and the bound device
/// after `%` (inside the brackets for IPv6, as a zone is written).
pub fn host(address: IpAddr, device: Option<&str>) -> String {
    match (address, device) {
        (IpAddr::V4(a), None) => a.to_string(),
        (IpAddr::V4(a), Some(d)) => format!("{a}%{d}"),
        (IpAddr::V6(a), None) => format!("[{a}]"),
        (IpAddr::V6(a), Some(d)) => format!("[{a}%{d}]"),
    }
}

/// Host and port: `[::]:22`.
pub fn endpoint(address: IpAddr, device: Option<&str>, port: u16) -> String {
    format!("{}:{port}", host(address, device))
}

impl Scope {
    /// Where a socket is reachable from, from its address and the device it is bound to: a
    /// socket bound to the loopback device is loopback-only whatever its address; a wildcard
    /// bound to another device is reachable on that device only.
    pub fn of_socket(s: &Socket) -> Scope {
        if s.ifindex == LOOPBACK_IFINDEX {
            return Scope::Loopback;
        }
        match Scope::of(s.address) {
            Scope::All if s.ifindex != 0 => Scope::Specific,
            scope => scope,
        }
    }
}

/// A listener's reach, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// `0.0.0.0` (or `::ffff:0.0.0.0`).
    AllIpv4,
    /// `::` taking IPv4 too (the kernel says it is not v6-only).
    AllDualStack,
    /// `::` with IPV6_V6ONLY.
    AllIpv6Only,
    /// `::`, and whether it takes IPv4 too was not reported (sockets read from /proc/net,
    /// or a system that does not say).
    AllIpv6Unknown,
    /// Loopback addresses, or bound to the loopback device.
    Loopback,
    /// A wildcard bound to one device.
    Device(String),
    /// One address (a link-local one names its device).
    OneAddress,
}

impl Reach {
    /// A few words, for table cells.
    pub fn short(&self) -> String {
        match self {
            Reach::AllIpv4 => "all, IPv4".to_string(),
            Reach::AllDualStack => "all, IPv4+IPv6".to_string(),
            Reach::AllIpv6Only => "all, IPv6 only".to_string(),
            Reach::AllIpv6Unknown => "all, IPv6".to_string(),
            Reach::Loopback => "loopback".to_string(),
            Reach::Device(d) => format!("{d} only"),
            Reach::OneAddress => "one address".to_string(),
        }
    }

    /// The whole sentence part: "all interfaces, IPv4 and IPv6".
    pub fn long(&self) -> String {
        match self {
            Reach::AllIpv4 => "all interfaces, IPv4".to_string(),
            Reach::AllDualStack => "all interfaces, IPv4 and IPv6".to_string(),
            Reach::AllIpv6Only => "all interfaces, IPv6 only".to_string(),
            Reach::AllIpv6Unknown => {
                "all interfaces, IPv6 (whether IPv4 too was not reported)".to_string()
            }
            Reach::Loopback => "loopback only".to_string(),
            Reach::Device(d) => format!("every address of {d}, only"),
            Reach::OneAddress => "one address".to_string(),
        }
    }
}

impl Listener {
    /// `0.0.0.0`, `[::]`, `[fe80::1%lo]`, `0.0.0.0%lo`.
    pub fn host(&self) -> String {
        host(self.socket.address, self.device.as_deref())
    }

    /// `0.0.0.0:22`, `[::]:22`, `[fe80::1%lo]:42600`.
    pub fn endpoint(&self) -> String {
        endpoint(
            self.socket.address,
            self.device.as_deref(),
            self.socket.port,
        )
    }

    /// Where it can be reached from, from the facts collected (scope, v6only, device).
    pub fn reach(&self) -> Reach {
        match self.scope {
            Scope::Loopback => Reach::Loopback,
            Scope::Specific => match (&self.device, self.socket.address.is_unspecified()) {
                (Some(d), true) => Reach::Device(d.clone()),
                _ => Reach::OneAddress,
            },
            Scope::All => match self.socket.address {
                IpAddr::V4(_) => Reach::AllIpv4,
                IpAddr::V6(a) if a.to_ipv4_mapped().is_some() => Reach::AllIpv4,
                IpAddr::V6(_) => match self.v6only {
                    Some(true) => Reach::AllIpv6Only,
                    Some(false) => Reach::AllDualStack,
                    None => Reach::AllIpv6Unknown,
                },
            },
        }
    }
}

impl AddressPattern {
    /// Does this listener stand at the pasted address?
    pub fn matches(&self, l: &Listener) -> bool {
        let address = l.socket.address.to_canonical();
        match self {
            AddressPattern::Wildcard => address.is_unspecified() && l.device.is_none(),
            AddressPattern::Loopback => l.scope == Scope::Loopback,
            AddressPattern::Exact {
                address: want,
                zone,
            } => {
                want.to_canonical() == address
                    && zone.as_ref().is_none_or(|z| {
                        l.device.as_deref() == Some(z.as_str())
                            || z.parse::<u32>().is_ok_and(|i| i == l.socket.ifindex)
                    })
            }
        }
    }
}

/// Device indexes to names, asked once per index.
#[derive(Debug, Default)]
pub struct DeviceNames(std::collections::HashMap<u32, String>);

impl DeviceNames {
    /// The name of the device with this index, or the index itself (`%3`, as a numeric
    /// zone is written) when the system does not say; `None` for "no device".
    pub fn name(&mut self, ifindex: u32) -> Option<String> {
        if ifindex == 0 {
            return None;
        }
        Some(
            self.0
                .entry(ifindex)
                .or_insert_with(|| device_name(ifindex).unwrap_or_else(|| ifindex.to_string()))
                .clone(),
        )
    }
}

#[cfg(unix)]
fn device_name(ifindex: u32) -> Option<String> {
    let name = nix::net::if_::if_indextoname(ifindex).ok()?;
    // An index no device has comes back as an empty name.
    Some(name.to_string_lossy().into_owned()).filter(|n| !n.is_empty())
}

#[cfg(not(unix))]
fn device_name(_ifindex: u32) -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::port::Protocol;

    fn listener(
        address: &str,
        ifindex: u32,
        device: Option<&str>,
        v6only: Option<bool>,
    ) -> Listener {
        let socket = Socket {
            protocol: Protocol::Tcp,
            address: address.parse().expect("ip"),
            port: 22,
            state: Some("listen"),
            remote: None,
            inode: 1,
            uid: Some(0),
            ifindex,
            v6only,
        };
        Listener {
            scope: Scope::of_socket(&socket),
            device: device.map(str::to_string),
            user: None,
            owners: vec![1],
            hidden_reason: None,
            held_through: None,
            v6only,
            known_use: None,
            socket,
        }
    }

    #[test]
    fn one_notation() {
        let cases = [
            ("0.0.0.0", 0, None, "0.0.0.0:22"),
            ("::", 0, None, "[::]:22"),
            ("127.0.0.1", 0, None, "127.0.0.1:22"),
            ("::1", 0, None, "[::1]:22"),
            ("fe80::1", 1, Some("lo"), "[fe80::1%lo]:22"),
            ("0.0.0.0", 1, Some("lo"), "0.0.0.0%lo:22"),
            ("::", 3, Some("eth0"), "[::%eth0]:22"),
            ("::ffff:0.0.0.0", 0, None, "[::ffff:0.0.0.0]:22"),
        ];
        for (addr, ifindex, device, want) in cases {
            assert_eq!(listener(addr, ifindex, device, None).endpoint(), want);
        }
    }

    #[test]
    fn reach_follows_address_device_and_v6only() {
        let cases = [
            ("0.0.0.0", 0, None, None, Reach::AllIpv4, Scope::All),
            (
                "::ffff:0.0.0.0",
                0,
                None,
                Some(false),
                Reach::AllIpv4,
                Scope::All,
            ),
            ("::", 0, None, Some(false), Reach::AllDualStack, Scope::All),
            ("::", 0, None, Some(true), Reach::AllIpv6Only, Scope::All),
            ("::", 0, None, None, Reach::AllIpv6Unknown, Scope::All),
            (
                "0.0.0.0",
                1,
                Some("lo"),
                None,
                Reach::Loopback,
                Scope::Loopback,
            ),
            (
                "::",
                1,
                Some("lo"),
                Some(true),
                Reach::Loopback,
                Scope::Loopback,
            ),
            (
                "fe80::1",
                1,
                Some("lo"),
                None,
                Reach::Loopback,
                Scope::Loopback,
            ),
            (
                "0.0.0.0",
                3,
                Some("eth0"),
                None,
                Reach::Device("eth0".to_string()),
                Scope::Specific,
            ),
            (
                "fe80::1",
                3,
                Some("eth0"),
                None,
                Reach::OneAddress,
                Scope::Specific,
            ),
            (
                "192.0.2.7",
                0,
                None,
                None,
                Reach::OneAddress,
                Scope::Specific,
            ),
            ("127.0.0.1", 0, None, None, Reach::Loopback, Scope::Loopback),
        ];
        for (addr, ifindex, device, v6only, reach, scope) in cases {
            let l = listener(addr, ifindex, device, v6only);
            assert_eq!(l.scope, scope, "{addr} {device:?}");
            assert_eq!(l.reach(), reach, "{addr} {device:?} {v6only:?}");
        }
        assert_eq!(Reach::AllDualStack.long(), "all interfaces, IPv4 and IPv6");
        assert_eq!(Reach::AllIpv6Only.long(), "all interfaces, IPv6 only");
    }

    #[test]
    fn pasted_addresses_match_exactly() {
        let exact = |a: &str, zone: Option<&str>| AddressPattern::Exact {
            address: a.parse().expect("ip"),
            zone: zone.map(str::to_string),
        };
        let any4 = listener("0.0.0.0", 0, None, None);
        let any6 = listener("::", 0, None, Some(false));
        let lo4 = listener("127.0.0.1", 0, None, None);
        let on_lo = listener("0.0.0.0", 1, Some("lo"), None);
        let ll = listener("fe80::1", 1, Some("lo"), Some(true));
        assert!(exact("0.0.0.0", None).matches(&any4));
        assert!(!exact("0.0.0.0", None).matches(&any6));
        assert!(exact("::", None).matches(&any6));
        assert!(
            !exact("127.0.0.1", None).matches(&any4),
            "narrowed to that address"
        );
        assert!(exact("::ffff:127.0.0.1", None).matches(&lo4));
        assert!(exact("fe80::1", Some("lo")).matches(&ll));
        assert!(exact("fe80::1", Some("1")).matches(&ll));
        assert!(!exact("fe80::1", Some("eth0")).matches(&ll));
        assert!(exact("fe80::1", None).matches(&ll));
        assert!(AddressPattern::Wildcard.matches(&any4) && AddressPattern::Wildcard.matches(&any6));
        assert!(!AddressPattern::Wildcard.matches(&lo4));
        assert!(
            !AddressPattern::Wildcard.matches(&on_lo),
            "bound to a device"
        );
        assert!(AddressPattern::Loopback.matches(&lo4) && AddressPattern::Loopback.matches(&on_lo));
        assert!(!AddressPattern::Loopback.matches(&any4));
    }

    #[test]
    fn device_names() {
        let mut names = DeviceNames::default();
        assert_eq!(names.name(0), None);
        // An index no device has is shown as a number, never a guess.
        assert_eq!(names.name(999_999).as_deref(), Some("999999"));
        assert_eq!(names.name(LOOPBACK_IFINDEX).as_deref(), Some("lo"));
    }
}
