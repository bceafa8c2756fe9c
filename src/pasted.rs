//! What a pasted `ADDRESS:PORT` finds: the sockets that would take a connection to that
//! address, as the kernel chooses them (the socket bound to it, else the wildcards that take
//! it: a dual-stack `::` for IPv4 too), never a socket that would not.

use std::net::IpAddr;

use crate::address::{endpoint, local, LOOPBACK_IFINDEX};
use crate::model::{Listener, Scope};
use crate::port::AddressPattern;

/// How a listener serves a pasted address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serves {
    /// It is bound to that address (an IPv4-mapped form is the same address).
    Exactly,
    /// It is a wildcard that takes connections to that address: `0.0.0.0` or
    /// `::ffff:0.0.0.0` for an IPv4 address of this machine, `::` for an IPv6 one, and a
    /// dual-stack `::` (the kernel says it is not v6-only) for IPv4 too.
    AsWildcard,
    /// It serves the pasted address if it is bound to the device the address names, and the
    /// source did not say which device it is bound to (`/proc/net`): not checked, shown with
    /// a note saying so.
    Unverified,
    /// A UDP socket that may receive a datagram to the pasted multicast or broadcast address:
    /// bound to that address or to every address of its family, on that port. Every such
    /// socket gets a copy (none outranks another), if it joined the group (whoport cannot see
    /// memberships) or, for a broadcast, if the datagram arrives on its device.
    MayReceive,
    /// A wildcard that takes connections to the pasted address if it is this machine's (on
    /// its device, for one bound to a device), which could not be established (why): shown,
    /// with a note saying so, never said to serve it nor hidden as if nothing did.
    IfMine(&'static str),
}

/// How a wildcard serves an address, from whether that address is this machine's (on its
/// device).
fn as_wildcard(mine: local::Mine) -> Option<Serves> {
    match mine {
        local::Mine::Yes => Some(Serves::AsWildcard),
        local::Mine::No => None,
        local::Mine::Unknown(why) => Some(Serves::IfMine(why)),
    }
}

/// A pasted address that many sockets receive at once: multicast, or a broadcast (the
/// limited broadcast `255.255.255.255`, or an interface's broadcast address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Many {
    Multicast,
    Broadcast,
}

fn many(address: IpAddr) -> Option<Many> {
    if address.is_multicast() {
        return Some(Many::Multicast);
    }
    match address {
        IpAddr::V4(a) if a.is_broadcast() || local::is_broadcast(a) => Some(Many::Broadcast),
        _ => None,
    }
}

/// How a listener may receive datagrams to the multicast or broadcast address `want`: a
/// UDP (or UDP-Lite) socket bound to it, or to every address of its family (a dual-stack
/// `::` for IPv4 too; one of unknown v6-only, read from /proc/net, too: it may), on the
/// device a zone names. TCP never receives them.
fn may_receive(l: &Listener, want: IpAddr, zone: Option<&str>) -> Option<Serves> {
    // A zone is the device the datagram arrives on: a socket bound to no device gets it too.
    if !l.socket.protocol.is_datagram()
        || zone.is_some_and(|z| l.socket.ifindex != 0 && !on_device(l, z))
    {
        return None;
    }
    let bound = l.socket.address.to_canonical();
    let family = match l.socket.address {
        IpAddr::V4(a) if a.is_unspecified() => Family::V4,
        IpAddr::V6(a) if a.to_ipv4_mapped().is_some_and(|v4| v4.is_unspecified()) => Family::V4,
        IpAddr::V6(a) if a.is_unspecified() => match l.v6only {
            Some(true) => Family::V6,
            _ => Family::Both,
        },
        _ => return (bound == want).then_some(Serves::MayReceive),
    };
    let takes = match want {
        IpAddr::V4(_) => family != Family::V6,
        IpAddr::V6(_) => family != Family::V4,
    };
    takes.then_some(Serves::MayReceive)
}

impl AddressPattern {
    /// Does this listener stand at, or take connections to, the pasted address (whatever
    /// other sockets there are: [`AddressPattern::narrow`] keeps only the ones the kernel
    /// would choose)?
    pub fn matches(&self, l: &Listener) -> bool {
        self.serves(l).is_some()
    }

    /// How this listener serves the pasted address, if it does.
    pub fn serves(&self, l: &Listener) -> Option<Serves> {
        let reported = self.serves_as_reported(l);
        if reported.is_some() || l.socket.device_reported {
            return reported;
        }
        // The device a socket is bound to was not reported: a zone cannot be checked, unless
        // it names no interface at all (then nothing is bound to it: `missing_device`).
        let zone = self.zone()?;
        if zone.parse::<u32>().is_err() && zone_index(zone).is_none() {
            return None;
        }
        self.without_zone()?
            .serves_as_reported(l)
            .map(|_| Serves::Unverified)
    }

    /// The pattern without the device it names, if it names one.
    fn without_zone(&self) -> Option<AddressPattern> {
        match self {
            AddressPattern::Wildcard { zone: Some(_) } => {
                Some(AddressPattern::Wildcard { zone: None })
            }
            AddressPattern::Exact {
                address,
                zone: Some(_),
            } => Some(AddressPattern::Exact {
                address: *address,
                zone: None,
            }),
            _ => None,
        }
    }

    /// The zone (device) the pattern names.
    fn zone(&self) -> Option<&str> {
        match self {
            AddressPattern::Wildcard { zone } | AddressPattern::Exact { zone, .. } => {
                zone.as_deref()
            }
            AddressPattern::Loopback => None,
        }
    }

    /// [`AddressPattern::serves`] from the device binding as reported.
    fn serves_as_reported(&self, l: &Listener) -> Option<Serves> {
        let address = l.socket.address.to_canonical();
        match self {
            AddressPattern::Wildcard { zone } => (address.is_unspecified()
                && match zone {
                    None => l.socket.ifindex == 0,
                    Some(z) => on_device(l, z),
                })
            .then_some(Serves::Exactly),
            AddressPattern::Loopback => {
                // Bound to no device, a loopback address is served from this machine whatever
                // route_localnet lets in besides.
                if l.scope == Scope::Loopback || (l.socket.ifindex == 0 && address.is_loopback()) {
                    return Some(Serves::Exactly);
                }
                let v4 = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
                let v6 = IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);
                match (
                    takes_as_wildcard(l, v4, None),
                    takes_as_wildcard(l, v6, None),
                ) {
                    (local::Mine::Yes, _) | (_, local::Mine::Yes) => Some(Serves::AsWildcard),
                    (local::Mine::Unknown(why), _) | (_, local::Mine::Unknown(why)) => {
                        Some(Serves::IfMine(why))
                    }
                    _ => None,
                }
            }
            AddressPattern::Exact {
                address: want,
                zone,
            } => {
                let want = want.to_canonical();
                if many(want).is_some() {
                    return may_receive(l, want, zone.as_deref());
                }
                if want == address {
                    return zone
                        .as_deref()
                        .is_none_or(|z| on_device(l, z))
                        .then_some(Serves::Exactly);
                }
                as_wildcard(takes_as_wildcard(l, want, zone.as_deref()))
            }
        }
    }

    /// Keeps, of the listeners that match, those that would take a connection to the pasted
    /// address, as the kernel chooses: a socket bound to the address itself (and not to
    /// another device than `lo`) comes before every wildcard of the same protocol. Returns a
    /// note for each wildcard kept, saying which socket serves the address and how.
    pub fn narrow(&self, listeners: &mut Vec<Listener>) -> Vec<String> {
        let ranks: Vec<Option<Serves>> = listeners.iter().map(|l| self.serves(l)).collect();
        let exact = self.bound_exactly(listeners.iter().zip(ranks.iter().copied()));
        let mut notes = Vec::new();
        let mut rank = ranks.into_iter();
        listeners.retain(|l| match rank.next().flatten() {
            None => false,
            Some(Serves::Exactly) => true,
            Some(Serves::AsWildcard) => {
                let kept = !exact.contains(&l.socket.protocol);
                if kept {
                    notes.push(format!(
                        "{} is served by {} {}: {}",
                        self.text(l.socket.port),
                        l.socket.protocol,
                        l.endpoint(),
                        l.reach().long()
                    ));
                }
                kept
            }
            Some(Serves::MayReceive) => true,
            Some(Serves::IfMine(why)) => {
                let kept = !exact.contains(&l.socket.protocol);
                if kept {
                    notes.push(format!(
                        "{} may be served by {} {} ({}): whether it takes connections to {} is \
                         not known: {why}",
                        self.text(l.socket.port),
                        l.socket.protocol,
                        l.endpoint(),
                        l.reach().long(),
                        self.host_text(),
                    ));
                }
                kept
            }
            Some(Serves::Unverified) => {
                notes.push(format!(
                    "{} cannot be checked without the netlink socket diagnostics: {} {} serves \
                     it only if it is bound to {}, and the sockets were read from /proc/net, \
                     which does not say which device a socket is bound to",
                    self.text(l.socket.port),
                    l.socket.protocol,
                    l.endpoint(),
                    self.zone().unwrap_or("that device"),
                ));
                true
            }
        });
        notes.extend(self.many_note(listeners));
        notes
    }

    /// For a pasted multicast or broadcast address: one note on who receives it, and what
    /// whoport cannot know of it (`kept`: the sockets that may receive it).
    fn many_note(&self, kept: &[Listener]) -> Option<String> {
        let AddressPattern::Exact { address, .. } = self else {
            return None;
        };
        let kind = many(address.to_canonical())?;
        let port = kept.first().map_or(0, |l| l.socket.port);
        let text = if kept.is_empty() {
            crate::address::host(*address, self.zone())
        } else {
            self.text(port)
        };
        let n = kept.len();
        let (who, each, their) = match n {
            1 => (
                "the UDP socket shown, bound to it or to every address,".to_string(),
                "",
                "its",
            ),
            n => (
                format!("the {n} UDP sockets shown, bound to it or to every address,"),
                " each",
                "their",
            ),
        };
        Some(match (kind, n == 0) {
            (Many::Broadcast, true) => format!(
                "{text} is a broadcast address: only a UDP socket on the port bound to it or to \
                 every address receives what is sent to it; TCP never does"
            ),
            (Many::Broadcast, false) => format!(
                "{text} is a broadcast address: {who}{each} receive a copy of what is sent to \
                 it that arrives on {their} device; TCP never receives a broadcast"
            ),
            (Many::Multicast, true) => format!(
                "{text} is a multicast group: only a UDP socket on the port bound to it or to \
                 every address may receive what is sent to it; TCP never does"
            ),
            (Many::Multicast, false) => format!(
                "{text} is a multicast group: {who} may{each} receive a copy of what is sent to \
                 it; whoport does not see group memberships (a socket gets a copy when it \
                 joined the group or, by default on Linux, when any socket joined it on that \
                 device); TCP never receives multicast"
            ),
        })
    }

    /// The protocols that have a socket bound to the pasted address itself, not to a device
    /// other than `lo`: their wildcards do not take connections to it.
    fn bound_exactly<'a>(
        &self,
        ranked: impl Iterator<Item = (&'a Listener, Option<Serves>)>,
    ) -> Vec<crate::port::Protocol> {
        ranked
            .filter(|(l, r)| {
                *r == Some(Serves::Exactly)
                    && (l.socket.ifindex == 0 || l.socket.ifindex == LOOPBACK_IFINDEX)
            })
            .map(|(l, _)| l.socket.protocol)
            .collect()
    }

    /// Notes for the `::` sockets among `all` that would serve a pasted IPv4 address if they
    /// take IPv4, which the kernel did not report (sockets read from `/proc/net`): whoport
    /// does not say they serve it, nor that they do not.
    pub fn unreported(&self, all: &[Listener]) -> Vec<String> {
        let AddressPattern::Exact { address, zone } = self else {
            return Vec::new();
        };
        let want = address.to_canonical();
        if !want.is_ipv4() {
            return Vec::new();
        }
        let exact = self.bound_exactly(all.iter().map(|l| (l, self.serves(l))));
        all.iter()
            .filter(|l| {
                l.v6only.is_none()
                    && l.socket.address == IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
                    && !exact.contains(&l.socket.protocol)
                    && takes_as_wildcard(
                        &Listener {
                            v6only: Some(false),
                            ..(*l).clone()
                        },
                        want,
                        zone.as_deref(),
                    ) != local::Mine::No
            })
            .map(|l| {
                format!(
                    "{} {} may serve {} too: whether it takes IPv4 was not reported",
                    l.socket.protocol,
                    l.endpoint(),
                    self.text(l.socket.port),
                )
            })
            .collect()
    }

    /// The pasted address without its port: `10.77.3.4`, `[2001:db8::5]`, `localhost`.
    fn host_text(&self) -> String {
        match self {
            AddressPattern::Exact { address, zone } => {
                crate::address::host(*address, zone.as_deref())
            }
            AddressPattern::Loopback => "localhost".to_string(),
            AddressPattern::Wildcard { .. } => "*".to_string(),
        }
    }

    /// The pasted address with a port, in the one notation: `127.0.0.1:5432`,
    /// `[fe80::1%lo]:42600`, `localhost:3000`, `*:22`.
    pub fn text(&self, port: u16) -> String {
        match self {
            AddressPattern::Wildcard { zone: None } => format!("*:{port}"),
            AddressPattern::Wildcard { zone: Some(z) } => format!("*%{z}:{port}"),
            AddressPattern::Loopback => format!("localhost:{port}"),
            AddressPattern::Exact { address, zone } => endpoint(*address, zone.as_deref(), port),
        }
    }
}

/// Is the listener bound to the device a zone names (a name, or an index)?
fn on_device(l: &Listener, zone: &str) -> bool {
    l.device.as_deref() == Some(zone) || zone.parse::<u32>().is_ok_and(|i| i == l.socket.ifindex)
}

/// Is `l` a wildcard that takes connections to `want` (a specific address, or the
/// unspecified address of a family as `ss` prints a wildcard socket)? Never a guess: a `::`
/// takes IPv4 only when the kernel says it is not v6-only; a specific address must be one of
/// this machine's as the kernel's routes say (not as a rule: `127.0.0.2` is not one when no
/// route makes it local), and for a wildcard bound to a device, one whose `local` route is on
/// that device: a connection from this machine to it arrives through that device (a wildcard
/// bound to another device than `lo` does not take loopback traffic, and one bound to `d0`
/// takes what an AnyIP route on `d0` makes local).
fn takes_as_wildcard(l: &Listener, want: IpAddr, zone: Option<&str>) -> local::Mine {
    use local::Mine;
    let family = match l.socket.address {
        IpAddr::V4(a) if a.is_unspecified() => Family::V4,
        IpAddr::V6(a) if a.to_ipv4_mapped().is_some_and(|v4| v4.is_unspecified()) => Family::V4,
        IpAddr::V6(a) if a.is_unspecified() => match l.v6only {
            Some(false) => Family::Both,
            _ => Family::V6,
        },
        _ => return Mine::No,
    };
    let family_ok = match want {
        IpAddr::V4(_) => family != Family::V6,
        IpAddr::V6(_) => family != Family::V4,
    };
    if !family_ok {
        return Mine::No;
    }
    if want.is_unspecified() {
        // `0.0.0.0:22` pasted: the sockets that take that family on every address (of the
        // same device, `0.0.0.0%lo:22`).
        return Mine::from(match zone {
            None => l.socket.ifindex == 0,
            Some(z) => on_device(l, z),
        });
    }
    let device = match (l.socket.ifindex, zone) {
        (0, None) => None,
        (0, Some(z)) => match zone_index(z) {
            Some(i) => Some(i),
            None => return Mine::No,
        },
        (i, None) => Some(i),
        (i, Some(z)) if on_device(l, z) => Some(i),
        _ => return Mine::No,
    };
    local::is_local(want, device)
}

impl AddressPattern {
    /// A note when the pasted zone names no interface of this network namespace: a name
    /// nothing has matches nothing (a socket bound to a device deleted since is shown with
    /// the device's index); an index nothing has now matches only sockets bound to a device
    /// of that index that was deleted.
    pub fn missing_device(&self) -> Option<String> {
        let zone = self.zone()?;
        if let Ok(index) = zone.parse::<u32>() {
            #[cfg(unix)]
            if nix::net::if_::if_nameindex()
                .ok()?
                .iter()
                .any(|i| i.index() == index)
            {
                return None;
            }
            #[cfg(not(unix))]
            return None;
            return Some(format!(
                "no network interface has index {index} here: only a socket bound to a device \
                 of that index that was deleted since can match"
            ));
        }
        if zone_index(zone).is_some() {
            return None;
        }
        Some(format!(
            "no network interface is named '{}' here: nothing bound to it can be found (a \
             socket bound to a device deleted since is shown with the device's index)",
            crate::render::sanitize::sanitize(zone)
        ))
    }
}

/// The device index a zone names (`lo`, `3`), if a device has that name here.
fn zone_index(zone: &str) -> Option<u32> {
    if let Ok(i) = zone.parse::<u32>() {
        return Some(i);
    }
    #[cfg(unix)]
    {
        nix::net::if_::if_nametoindex(zone).ok()
    }
    #[cfg(not(unix))]
    {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
    Both,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::tests::listener;

    fn exact(a: &str, zone: Option<&str>) -> AddressPattern {
        AddressPattern::Exact {
            address: a.parse().expect("ip"),
            zone: zone.map(str::to_string),
        }
    }

    #[test]
    fn pasted_addresses_match_what_serves_them() {
        let any4 = listener("0.0.0.0", 0, None, None);
        let any6 = listener("::", 0, None, Some(false));
        let any6only = listener("::", 0, None, Some(true));
        let any6unknown = listener("::", 0, None, None);
        let mapped_any = listener("::ffff:0.0.0.0", 0, None, Some(false));
        let lo4 = listener("127.0.0.1", 0, None, None);
        let on_lo = listener("0.0.0.0", 1, Some("lo"), None);
        let ll = listener("fe80::1", 1, Some("lo"), Some(true));
        let serves = |p: &AddressPattern, l: &Listener| p.serves(l);
        use Serves::{AsWildcard, Exactly};
        // The address itself, IPv4-mapped forms included.
        assert_eq!(serves(&exact("0.0.0.0", None), &any4), Some(Exactly));
        assert_eq!(serves(&exact("::", None), &any6), Some(Exactly));
        assert_eq!(
            serves(&exact("::ffff:127.0.0.1", None), &lo4),
            Some(Exactly)
        );
        assert_eq!(serves(&exact("0.0.0.0", None), &mapped_any), Some(Exactly));
        // A pasted wildcard: the sockets that take that family on every address.
        assert_eq!(serves(&exact("0.0.0.0", None), &any6), Some(AsWildcard));
        assert_eq!(serves(&exact("0.0.0.0", None), &any6only), None);
        assert_eq!(serves(&exact("0.0.0.0", None), &any6unknown), None);
        assert_eq!(
            serves(&exact("::", None), &any4),
            None,
            "IPv4 takes no IPv6"
        );
        assert_eq!(serves(&exact("0.0.0.0", None), &lo4), None);
        // A loopback address: every wildcard of its family, a dual-stack `::` for IPv4.
        assert_eq!(serves(&exact("127.0.0.1", None), &any4), Some(AsWildcard));
        assert_eq!(serves(&exact("127.0.0.1", None), &any6), Some(AsWildcard));
        assert_eq!(
            serves(&exact("::ffff:127.0.0.1", None), &any6),
            Some(AsWildcard)
        );
        assert_eq!(
            serves(&exact("127.0.0.9", None), &mapped_any),
            Some(AsWildcard)
        );
        assert_eq!(serves(&exact("127.0.0.1", None), &any6only), None);
        assert_eq!(serves(&exact("127.0.0.1", None), &any6unknown), None);
        assert_eq!(serves(&exact("::1", None), &any6only), Some(AsWildcard));
        assert_eq!(serves(&exact("::1", None), &any4), None);
        assert_eq!(serves(&exact("127.0.0.1", None), &on_lo), Some(AsWildcard));
        // An address of no interface here is served by no wildcard.
        assert_eq!(serves(&exact("192.0.2.77", None), &any4), None);
        assert_eq!(serves(&exact("2001:db8::77", None), &any6), None);
        // Zones.
        assert_eq!(serves(&exact("fe80::1", Some("lo")), &ll), Some(Exactly));
        assert_eq!(serves(&exact("fe80::1", Some("1")), &ll), Some(Exactly));
        assert_eq!(serves(&exact("fe80::1", Some("eth0")), &ll), None);
        assert_eq!(serves(&exact("fe80::1", None), &ll), Some(Exactly));
        assert_eq!(serves(&exact("0.0.0.0", Some("lo")), &on_lo), Some(Exactly));
        assert_eq!(serves(&exact("0.0.0.0", Some("lo")), &any4), None);
        // `*:22`, `*%lo:22` and `localhost:22`.
        let any = AddressPattern::Wildcard { zone: None };
        assert!(any.matches(&any4) && any.matches(&any6));
        assert!(!any.matches(&lo4));
        assert!(!any.matches(&on_lo), "bound to a device");
        for zone in ["lo", "1"] {
            let on = AddressPattern::Wildcard {
                zone: Some(zone.into()),
            };
            assert_eq!(serves(&on, &on_lo), Some(Exactly), "{zone}");
            assert!(!on.matches(&any4) && !on.matches(&lo4) && !on.matches(&ll));
        }
        assert_eq!(serves(&AddressPattern::Loopback, &lo4), Some(Exactly));
        assert_eq!(serves(&AddressPattern::Loopback, &on_lo), Some(Exactly));
        assert_eq!(serves(&AddressPattern::Loopback, &any4), Some(AsWildcard));
        assert_eq!(
            serves(&AddressPattern::Loopback, &any6unknown),
            Some(AsWildcard)
        );
    }

    #[test]
    fn multicast_and_broadcast_may_reach_every_udp_socket_on_the_port_never_tcp() {
        let udp = |address: &str, ifindex: u32, device: Option<&str>, v6only: Option<bool>| {
            let mut l = listener(address, ifindex, device, v6only);
            l.socket.protocol = crate::port::Protocol::Udp;
            l.socket.state = None;
            l
        };
        let may = Some(Serves::MayReceive);
        for group in ["224.0.0.251", "255.255.255.255", "::ffff:224.0.0.251"] {
            let p = exact(group, None);
            assert_eq!(p.serves(&udp("0.0.0.0", 0, None, None)), may, "{group}");
            assert_eq!(p.serves(&udp("::", 0, None, Some(false))), may, "{group}");
            assert_eq!(p.serves(&udp("::", 0, None, None)), may, "{group}: may");
            assert_eq!(p.serves(&udp("::", 0, None, Some(true))), None, "{group}");
            assert_eq!(p.serves(&udp("127.0.0.1", 0, None, None)), None, "{group}");
            assert_eq!(p.serves(&listener("0.0.0.0", 0, None, None)), None, "TCP");
        }
        let bound = udp("224.0.0.251", 0, None, None);
        assert_eq!(exact("224.0.0.251", None).serves(&bound), may);
        assert_eq!(exact("224.0.0.252", None).serves(&bound), None);
        let v6 = exact("ff02::fb", None);
        assert_eq!(v6.serves(&udp("::", 0, None, Some(true))), may);
        assert_eq!(v6.serves(&udp("0.0.0.0", 0, None, None)), None);
        // A zone is where the datagram arrives: a socket bound to no device gets it, one
        // bound to another device does not.
        let on_d0 = exact("ff02::fb", Some("d0"));
        assert_eq!(on_d0.serves(&udp("::", 0, None, Some(true))), may);
        assert_eq!(on_d0.serves(&udp("::", 3, Some("d1"), Some(true))), None);
        // None outranks another: the group's own socket and the wildcards all stay.
        let mut kept = vec![
            bound.clone(),
            udp("0.0.0.0", 0, None, None),
            listener("0.0.0.0", 0, None, None),
        ];
        let notes = exact("224.0.0.251", None).narrow(&mut kept);
        assert_eq!(kept.len(), 2);
        assert!(kept.iter().all(|l| l.socket.protocol.is_datagram()));
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].starts_with("224.0.0.251:22 is a multicast group: the 2 UDP sockets shown")
                && notes[0].contains("TCP never receives multicast"),
            "{notes:?}"
        );
        let mut none = vec![listener("0.0.0.0", 0, None, None)];
        let notes = exact("255.255.255.255", None).narrow(&mut none);
        assert!(none.is_empty());
        assert!(
            notes[0].starts_with("255.255.255.255 is a broadcast address: only a UDP socket"),
            "{notes:?}"
        );
    }

    #[test]
    fn the_socket_at_the_address_comes_before_the_wildcards() {
        let at = |listeners: Vec<Listener>, p: &AddressPattern| {
            let mut kept = listeners;
            let notes = p.narrow(&mut kept);
            (
                kept.iter().map(Listener::endpoint).collect::<Vec<_>>(),
                notes,
            )
        };
        let (kept, notes) = at(
            vec![
                listener("127.0.0.1", 0, None, None),
                listener("0.0.0.0", 0, None, None),
            ],
            &exact("127.0.0.1", None),
        );
        assert_eq!(kept, vec!["127.0.0.1:22"]);
        assert!(notes.is_empty(), "{notes:?}");
        let (kept, notes) = at(
            vec![
                listener("127.0.0.2", 0, None, None),
                listener("::", 0, None, Some(false)),
                listener("::", 0, None, Some(true)),
            ],
            &exact("127.0.0.1", None),
        );
        assert_eq!(kept, vec!["[::]:22"]);
        assert_eq!(
            notes,
            vec!["127.0.0.1:22 is served by tcp [::]:22: all interfaces, IPv4 and IPv6"]
        );
        // A socket at the address but bound to another device does not take loopback
        // traffic: the wildcard still does.
        let (kept, _) = at(
            vec![
                listener("127.0.0.1", 3, Some("d0"), None),
                listener("0.0.0.0", 0, None, None),
            ],
            &exact("127.0.0.1", None),
        );
        assert_eq!(kept, vec!["127.0.0.1%d0:22", "0.0.0.0:22"]);
        // Whether a `::` read from /proc/net takes IPv4 is not known: said, not guessed.
        let all = vec![listener("::", 0, None, None)];
        let p = exact("127.0.0.1", None);
        assert_eq!(
            p.unreported(&all),
            vec!["tcp [::]:22 may serve 127.0.0.1:22 too: whether it takes IPv4 was not reported"]
        );
        assert!(at(all, &p).0.is_empty());
        assert!(exact("::1", None)
            .unreported(&[listener("::", 0, None, None)])
            .is_empty());
    }

    #[test]
    fn a_zone_is_not_checked_where_no_device_was_reported() {
        let mut any4 = listener("0.0.0.0", 0, None, None);
        any4.socket.device_reported = false;
        let mut ll = listener("fe80::1", 0, None, Some(true));
        ll.socket.device_reported = false;
        let wildcard_on = |z: &str| AddressPattern::Wildcard {
            zone: Some(z.to_string()),
        };
        assert_eq!(wildcard_on("lo").serves(&any4), Some(Serves::Unverified));
        assert_eq!(wildcard_on("lo").serves(&any4), Some(Serves::Unverified));
        // A name no interface has: nothing is bound to it, reported or not.
        assert_eq!(wildcard_on("nosuchdev0").serves(&any4), None);
        assert_eq!(wildcard_on("4242").serves(&any4), Some(Serves::Unverified));
        assert_eq!(
            exact("0.0.0.0", Some("lo")).serves(&any4),
            Some(Serves::Unverified)
        );
        assert_eq!(
            exact("fe80::1", Some("lo")).serves(&ll),
            Some(Serves::Unverified)
        );
        // Without a zone there is nothing to check; another address is still no match.
        assert_eq!(
            AddressPattern::Wildcard { zone: None }.serves(&any4),
            Some(Serves::Exactly)
        );
        assert_eq!(exact("fe80::2", Some("lo")).serves(&ll), None);
        // Reported: the zone decides.
        let reported = listener("0.0.0.0", 0, None, None);
        assert_eq!(wildcard_on("lo").serves(&reported), None);
        let mut kept = vec![any4];
        let notes = wildcard_on("lo").narrow(&mut kept);
        assert_eq!(kept.len(), 1);
        assert!(
            notes[0].starts_with("*%lo:22 cannot be checked"),
            "{notes:?}"
        );
    }
}
