//! Where a socket is bound, in the one notation every output uses (`0.0.0.0:22`, `[::]:22`,
//! `127.0.0.1:5432`, `[fe80::1%lo]:42600`, `0.0.0.0%lo:8080`), its reach in words, and this
//! machine's own addresses.

use std::net::IpAddr;

use crate::model::{Listener, Scope, Socket};

/// The kernel gives its loopback device this index in every network namespace
/// (`LOOPBACK_IFINDEX`).
pub const LOOPBACK_IFINDEX: u32 = 1;

/// The host part: an IPv4 address as is, an IPv6 address in brackets, and the bound device
/// after `%`: inside the brackets for a link-local IPv6 address, where it is the address's
/// zone (`[fe80::1%lo]`), after them for any other (`[::]%lo`, as `ss` writes it).
pub fn host(address: IpAddr, device: Option<&str>) -> String {
    Host(address, device).to_string()
}

/// [`host`], written where it is displayed (no string of its own).
#[derive(Debug, Clone, Copy)]
pub struct Host<'a>(pub IpAddr, pub Option<&'a str>);

impl std::fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.0, self.1) {
            (IpAddr::V4(a), None) => write!(f, "{a}"),
            (IpAddr::V4(a), Some(d)) => write!(f, "{a}%{d}"),
            (IpAddr::V6(a), None) => write!(f, "[{a}]"),
            (IpAddr::V6(a), Some(d)) if a.is_unicast_link_local() => write!(f, "[{a}%{d}]"),
            (IpAddr::V6(a), Some(d)) => write!(f, "[{a}]%{d}"),
        }
    }
}

/// Host and port: `[::]:22`.
pub fn endpoint(address: IpAddr, device: Option<&str>, port: u16) -> String {
    Endpoint(Host(address, device), port).to_string()
}

/// [`endpoint`], written where it is displayed (no string of its own).
#[derive(Debug, Clone, Copy)]
pub struct Endpoint<'a>(pub Host<'a>, pub u16);

impl std::fmt::Display for Endpoint<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.0, self.1)
    }
}

impl Scope {
    /// Where a socket is reachable from, from its address and the device it is bound to: a
    /// socket bound to the loopback device is loopback-only whatever its address; a wildcard
    /// bound to another device is reachable on that device only.
    ///
    /// A loopback address bound to another device is not loopback: the kernel hands a socket
    /// bound to a device only what arrives through that device, and loopback traffic
    /// arrives through `lo` (a connection from this machine to `127.0.0.1%d0` is refused).
    /// Other machines' packets to a loopback address are dropped, unless `route_localnet`
    /// is on for that device (IPv4): then it is one address on that device, exposed to it;
    /// bound to no device, it is exposed to every device where `route_localnet` is on.
    pub fn of_socket(s: &Socket) -> Scope {
        if s.ifindex == LOOPBACK_IFINDEX {
            return Scope::Loopback;
        }
        match Scope::of(s.address) {
            Scope::All if s.ifindex != 0 => Scope::Specific,
            // Bound to no device: every device where route_localnet is on lets it in.
            Scope::Loopback
                if s.ifindex == 0
                    && s.address.to_canonical().is_ipv4()
                    && matches!(local::localnet(), local::Localnet::On(_)) =>
            {
                Scope::Specific
            }
            Scope::Loopback if s.ifindex != 0 => {
                if s.address.to_canonical().is_ipv4() && local::route_localnet(s.ifindex) {
                    Scope::Specific
                } else {
                    Scope::Device
                }
            }
            scope => scope,
        }
    }

    /// [`Scope::of_socket`] for a socket of this machine, with its devices as they are now: a
    /// socket bound to a device that was removed afterwards (the socket keeps the index, no
    /// device has it) receives nothing, from this machine or others: scope `device`, never
    /// exposed, whatever its address.
    pub fn on_this_machine(s: &Socket) -> Scope {
        if s.ifindex > LOOPBACK_IFINDEX && local::device_gone(s.ifindex) {
            return Scope::Device;
        }
        Scope::of_socket(s)
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
    /// A wildcard bound to one device, and the family it takes (the reach it would have
    /// unbound: [`Reach::AllIpv4`], [`Reach::AllDualStack`], [`Reach::AllIpv6Only`] or
    /// [`Reach::AllIpv6Unknown`]).
    Device(String, Box<Reach>),
    /// A loopback address bound to another device (named, or its index when it has no name
    /// any more): loopback traffic does not reach it; `localnet` when that device accepts
    /// packets to loopback addresses from its network (`route_localnet`).
    LoopbackOnDevice { device: String, localnet: bool },
    /// An IPv4 loopback address bound to no device, with `route_localnet` on for these
    /// devices (`all`: every device): packets to it from their networks are accepted.
    LoopbackLocalnet(Vec<String>),
    /// An IPv4 loopback address bound to no device, where `route_localnet` could not be read.
    LoopbackLocalnetUnread,
    /// One address (a link-local one names its device).
    OneAddress,
    /// Bound to a device that no longer exists (its index): nothing reaches it.
    GoneDevice(String),
    /// A socket whose source did not say which device it is bound to (`/proc/net`): a
    /// wildcard (this reach unless it is bound to a device), a loopback address (loopback only
    /// unless bound to another device than `lo`), or a link-local IPv6 address (always bound
    /// to one device, not named).
    DeviceUnreported(Box<Reach>),
    /// A reach other machines have no way into by the bind address, in a network namespace
    /// where an sk_lookup BPF program may hand any connection to any socket
    /// (collect/steering.rs): the bind address's reach, not established as who reaches it.
    Steerable(Box<Reach>),
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
            Reach::Device(d, family) => format!(
                "{} only, {}",
                device_words(d),
                family.short().trim_start_matches("all, ")
            ),
            Reach::LoopbackOnDevice { device, .. } => {
                format!("{} only, not loopback", device_words(device))
            }
            Reach::LoopbackLocalnet(_) => "loopback + route_localnet".to_string(),
            Reach::LoopbackLocalnetUnread => "loopback, route_localnet unread".to_string(),
            Reach::OneAddress => "one address".to_string(),
            Reach::GoneDevice(d) => format!("{}, gone", device_words(d)),
            Reach::DeviceUnreported(r) if **r == Reach::OneAddress => {
                "one address, device not reported".to_string()
            }
            Reach::DeviceUnreported(r) => format!("{}, unless device-bound", r.short()),
            Reach::Steerable(r) => format!("{} by address, sk_lookup may steer", r.short()),
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
            Reach::Device(d, family) => format!(
                "what arrives through {}, {}",
                device_words(d),
                family.to_any_address()
            ),
            Reach::LoopbackOnDevice {
                device,
                localnet: false,
            } => format!(
                "bound to {} only: loopback traffic cannot reach it, nor other machines",
                device_words(device)
            ),
            Reach::LoopbackOnDevice {
                device,
                localnet: true,
            } => format!(
                "bound to {} only: loopback traffic cannot reach it; {} accepts packets to \
                 loopback addresses (route_localnet), so its network may",
                device_words(device),
                device_words(device)
            ),
            Reach::LoopbackLocalnet(devices) => localnet_words(devices),
            Reach::LoopbackLocalnetUnread => "loopback only, unless route_localnet is on for a \
                 device (it could not be read): then that device's network reaches it too"
                .to_string(),
            Reach::OneAddress => "one address".to_string(),
            Reach::GoneDevice(d) => format!(
                "bound to {}, which no longer exists: nothing reaches it (unless a new device \
                 is given index {d})",
                device_words(d)
            ),
            Reach::DeviceUnreported(r) => match **r {
                Reach::Loopback => "loopback only, unless bound to another device than lo (not \
                     reported): then loopback traffic cannot reach it"
                    .to_string(),
                Reach::OneAddress => {
                    "one link-local address, bound to a device that was not reported".to_string()
                }
                _ => format!("{}, unless bound to a device (not reported)", r.long()),
            },
            Reach::Steerable(r) => format!(
                "{} by its bind address, but an sk_lookup BPF program attached to this network \
                 namespace may hand it connections to any address and port",
                r.long()
            ),
        }
    }
}

impl Reach {
    /// The reach of the bind address, whether or not an sk_lookup program may steer.
    pub fn unsteered(&self) -> &Reach {
        match self {
            Reach::Steerable(r) => r,
            r => r,
        }
    }

    /// Which of this machine's addresses a wildcard of this reach takes what is sent to:
    /// "to any of this machine's IPv4 addresses".
    pub fn to_any_address(&self) -> &'static str {
        match self {
            Reach::AllIpv4 => "to any of this machine's IPv4 addresses",
            Reach::AllDualStack => "to any of this machine's addresses, IPv4 and IPv6",
            Reach::AllIpv6Only => "to any of this machine's IPv6 addresses, IPv6 only",
            _ => "to any of this machine's IPv6 addresses (whether IPv4 too was not reported)",
        }
    }
}

/// "loopback, but route_localnet is on for d0: reachable from that link".
fn localnet_words(devices: &[String]) -> String {
    if devices.iter().any(|d| d == "all") {
        return "loopback, but route_localnet is on for all devices: reachable from every link"
            .to_string();
    }
    let names: Vec<String> = devices.iter().map(|d| device_words(d)).collect();
    let (which, link) = if names.len() == 1 {
        ("", "that link")
    } else {
        ("s", "those links")
    };
    format!(
        "loopback, but route_localnet is on for device{which} {}: reachable from {link}",
        names.join(", ")
    )
}

/// A device by its name (`eth0`), or `device 7` for an index that no longer has one (the
/// device was removed while the socket stayed bound to it).
pub fn device_words(d: &str) -> String {
    if d.bytes().all(|b| b.is_ascii_digit()) {
        format!("device {d}")
    } else {
        // Any user may name a device in a network namespace of their own: escaped here, so
        // that no sentence built from it carries a control character to a terminal.
        crate::render::sanitize::sanitize(d).into_owned()
    }
}

impl Listener {
    /// `0.0.0.0`, `[::]`, `[fe80::1%lo]`, `0.0.0.0%lo`.
    pub fn host(&self) -> String {
        host(self.socket.address, self.device.as_deref())
    }

    /// `0.0.0.0:22`, `[::]:22`, `[fe80::1%lo]:42600`.
    pub fn endpoint(&self) -> String {
        self.shown_endpoint().to_string()
    }

    /// [`Listener::endpoint`], written where it is displayed.
    pub fn shown_endpoint(&self) -> Endpoint<'_> {
        Endpoint(
            Host(self.socket.address, self.device.as_deref()),
            self.socket.port,
        )
    }

    /// The bound device's name, or its index when the system does not say.
    fn device_name(&self) -> String {
        self.device
            .clone()
            .unwrap_or_else(|| self.socket.ifindex.to_string())
    }

    /// An IPv4 loopback address bound to no device (or to one not reported): where
    /// `route_localnet` lets other machines' packets in, they reach it.
    fn localnet_applies(&self) -> bool {
        let a = self.socket.address.to_canonical();
        self.socket.ifindex == 0 && a.is_ipv4() && a.is_loopback()
    }

    /// Where it can be reached from, from the facts collected (scope, v6only, device): a
    /// socket other machines do not reach by its bind address is [`Reach::Steerable`] where
    /// an sk_lookup program is attached to the network namespace.
    pub fn reach(&self) -> Reach {
        let bound = self.bound_reach();
        if !self.scope.is_exposed() && crate::collect::steering::steering().is_some() {
            return Reach::Steerable(Box::new(bound));
        }
        bound
    }

    /// Where its bind address (and device) can be reached from.
    fn bound_reach(&self) -> Reach {
        use local::Localnet::{Off, On, Unread};
        let unreported = |reach: Reach| {
            if self.socket.device_reported {
                reach
            } else {
                Reach::DeviceUnreported(Box::new(reach))
            }
        };
        match self.scope {
            // Bound to lo (a device reported), or at a loopback address.
            Scope::Loopback if self.socket.ifindex == LOOPBACK_IFINDEX => Reach::Loopback,
            Scope::Loopback if self.localnet_applies() && local::localnet() == Unread => {
                unreported(Reach::LoopbackLocalnetUnread)
            }
            Scope::Loopback => unreported(Reach::Loopback),
            // Its device had no name when it was read: is there still one of that index?
            Scope::Device
                if self.device.as_deref() == Some(self.socket.ifindex.to_string().as_str())
                    && local::device_gone(self.socket.ifindex) =>
            {
                Reach::GoneDevice(self.device_name())
            }
            Scope::Device => Reach::LoopbackOnDevice {
                device: self.device_name(),
                localnet: false,
            },
            Scope::Specific if self.localnet_applies() => match local::localnet() {
                On(devices) => unreported(Reach::LoopbackLocalnet(devices)),
                // Turned off since the socket was read: what it is now.
                Off => unreported(Reach::Loopback),
                Unread => unreported(Reach::LoopbackLocalnetUnread),
            },
            Scope::Specific if self.socket.address.to_canonical().is_loopback() => {
                Reach::LoopbackOnDevice {
                    device: self.device_name(),
                    localnet: true,
                }
            }
            Scope::Specific => match (&self.device, self.socket.address.is_unspecified()) {
                (Some(d), true) => Reach::Device(d.clone(), Box::new(self.wildcard_family())),
                // A link-local IPv6 address is bound with its zone, to one device.
                (None, false) if is_link_local(self.socket.address) => {
                    unreported(Reach::OneAddress)
                }
                _ => Reach::OneAddress,
            },
            Scope::All => unreported(self.wildcard_family()),
        }
    }

    /// The reach of a wildcard on every interface: its family, as the kernel said it.
    fn wildcard_family(&self) -> Reach {
        match self.socket.address {
            IpAddr::V4(_) => Reach::AllIpv4,
            IpAddr::V6(a) if a.to_ipv4_mapped().is_some() => Reach::AllIpv4,
            IpAddr::V6(_) => match self.v6only {
                Some(true) => Reach::AllIpv6Only,
                Some(false) => Reach::AllDualStack,
                None => Reach::AllIpv6Unknown,
            },
        }
    }

    /// An IPv4 loopback address bound to no device where `route_localnet` could not be read
    /// ([`Reach::LoopbackLocalnetUnread`], whether or not an sk_lookup program may steer).
    pub fn localnet_unread(&self) -> bool {
        *self.reach().unsteered() == Reach::LoopbackLocalnetUnread
    }

    /// Did the source leave out a device binding that would change where it can be reached
    /// from (a wildcard, a loopback or a link-local address read from `/proc/net`)?
    pub fn device_unknown(&self) -> bool {
        matches!(self.reach().unsteered(), Reach::DeviceUnreported(_))
    }
}

/// A link-local IPv6 unicast address (`fe80::/10`), which a socket binds on one device.
fn is_link_local(address: IpAddr) -> bool {
    match address {
        IpAddr::V6(a) => a.segments()[0] & 0xffc0 == 0xfe80,
        IpAddr::V4(_) => false,
    }
}

#[cfg(target_os = "linux")]
mod proc_routes;
#[cfg(target_os = "linux")]
mod route;

mod mine;

/// This machine's own addresses: the kernel's routes (Linux: asked over rtnetlink, else read
/// from `/proc/net`), its interfaces (`getifaddrs`, elsewhere or when the routes cannot be
/// read; no name is resolved).
pub(crate) mod local {
    pub use super::mine::{is_local, Mine};
    use super::mine::{route, Kind};

    /// Is `address` the broadcast address of one of this machine's networks (`10.9.9.255`
    /// of `10.9.9.9/24`), as the kernel's route for it says? Never an interface's own
    /// address, nor the peer of a point-to-point address (`ip addr add 10.9.9.1 peer
    /// 10.9.9.2 dev v0`): getifaddrs reports either in its broadcast slot, so where the
    /// kernel cannot be asked, the slot counts only when it is the interface's own address
    /// with every host bit set.
    pub fn is_broadcast(address: std::net::Ipv4Addr) -> bool {
        match route(std::net::IpAddr::V4(address)) {
            Ok(r) => r.kind == Kind::Broadcast,
            Err(_) => in_broadcast_slot(address),
        }
    }

    #[cfg(unix)]
    fn in_broadcast_slot(address: std::net::Ipv4Addr) -> bool {
        let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
            return false;
        };
        let v4 = |s: Option<&nix::sys::socket::SockaddrStorage>| {
            s.and_then(|s| s.as_sockaddr_in()).map(|s| s.ip())
        };
        let mut own = false;
        let mut broadcast = false;
        for a in addrs {
            let here = v4(a.address.as_ref());
            own |= here == Some(address);
            let highest = here
                .zip(v4(a.netmask.as_ref()))
                .map(|(h, m)| std::net::Ipv4Addr::from(h.to_bits() | !m.to_bits()));
            broadcast |= v4(a.broadcast.as_ref()) == Some(address)
                && highest == Some(address)
                && here != Some(address);
        }
        broadcast && !own
    }

    #[cfg(not(unix))]
    fn in_broadcast_slot(_address: std::net::Ipv4Addr) -> bool {
        false
    }

    /// Has no device this index any more? Asked of the kernel (`SIOCGIFNAME` on an unbound
    /// socket, as `if_indextoname` does): only its `ENODEV` says so, any other failure to ask
    /// says nothing.
    #[cfg(target_os = "linux")]
    pub fn device_gone(ifindex: u32) -> bool {
        use rustix::net::{socket_with, AddressFamily, SocketFlags, SocketType};
        let Ok(fd) = socket_with(
            AddressFamily::INET,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC,
            None,
        ) else {
            return false;
        };
        matches!(
            rustix::net::netdevice::index_to_name_inlined(&fd, ifindex),
            Err(rustix::io::Errno::NODEV)
        )
    }

    #[cfg(not(target_os = "linux"))]
    pub fn device_gone(_ifindex: u32) -> bool {
        false
    }

    /// Does the device with this index accept IPv4 packets to loopback addresses from its
    /// network (`net.ipv4.conf.{all,DEVICE}.route_localnet`, this network namespace's)? A
    /// device with no name any more accepts nothing.
    pub fn route_localnet(ifindex: u32) -> bool {
        let Some(name) = super::device_name(ifindex) else {
            return false;
        };
        let on = |conf: &str| localnet_setting(conf) == Some(true);
        // A name is never a path: `all`, `default` and names with `/` or dots are not read.
        let plain = !name.contains('/') && name != "." && name != "..";
        on("all") || (plain && on(&name))
    }

    /// Which devices accept IPv4 packets to loopback addresses from their networks
    /// (`route_localnet`, this network namespace's), for a socket bound to no device.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Localnet {
        /// Off for every device (`all` and each device read as 0).
        Off,
        /// On: for `all` (every device), or for these devices.
        On(Vec<String>),
        /// A setting that could not be read: never taken as off.
        Unread,
    }

    /// The settings [`localnet`] read for this listing, until [`read_localnet_again`].
    static LOCALNET: std::sync::Mutex<Option<Localnet>> = std::sync::Mutex::new(None);

    /// [`Localnet`] as it was read for this listing: read on first use, then the same answer
    /// for every socket of it (the settings are one directory of files per device, and a
    /// listing asks about each IPv4 loopback socket several times).
    pub fn localnet() -> Localnet {
        let mut kept = LOCALNET
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        kept.get_or_insert_with(read_localnet).clone()
    }

    /// Forgets the settings [`localnet`] read: a new listing reads them again.
    pub fn read_localnet_again() {
        *LOCALNET
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// The directory of the devices' IPv4 settings, this network namespace's.
    const CONF: &str = "/proc/sys/net/ipv4/conf";

    /// Whether `route_localnet` is on for `conf` (`all` or a device); `None` when it cannot be
    /// read, or something is mounted over it or on the way to it (what is there is not the
    /// kernel's setting: see `collect::proc_dir::open_file`).
    fn localnet_setting(conf: &str) -> Option<bool> {
        use std::io::Read;
        let mut text = String::new();
        crate::collect::proc_dir::open_file(&format!("{CONF}/{conf}/route_localnet"))
            .ok()?
            .take(64)
            .read_to_string(&mut text)
            .ok()?;
        Some(text.trim() == "1")
    }

    /// [`Localnet`] as it is now: `all` first (on for it is on for every device), then each
    /// device but `lo` (what arrives through `lo` is this machine's own traffic). Nothing is
    /// read across a mount.
    fn read_localnet() -> Localnet {
        match localnet_setting("all") {
            None => return Localnet::Unread,
            Some(true) => return Localnet::On(vec!["all".to_string()]),
            Some(false) => {}
        }
        let Some(dir) = crate::collect::proc_dir::open_dir(CONF)
            .ok()
            .and_then(|fd| rustix::fs::Dir::read_from(fd).ok())
        else {
            return Localnet::Unread;
        };
        let mut on = Vec::new();
        for entry in dir {
            let Ok(entry) = entry else {
                return Localnet::Unread;
            };
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == "." || name == ".." {
                continue;
            }
            if ["all", "default", "lo"].contains(&name.as_str()) {
                continue;
            }
            match localnet_setting(&name) {
                None => return Localnet::Unread,
                Some(true) => on.push(name),
                Some(false) => {}
            }
        }
        on.sort();
        if on.is_empty() {
            Localnet::Off
        } else {
            Localnet::On(on)
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
pub(crate) mod tests {
    use super::*;
    use crate::port::Protocol;

    /// A TCP listener on port 22 at `address` (tests of addresses and of what they serve).
    pub(crate) fn listener(
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
            device_reported: true,
            v6only,
        };
        Listener {
            scope: Scope::of_socket(&socket),
            device: device.map(str::to_string),
            user: None,
            owners: vec![1],
            hidden_reason: None,
            held_through: None,
            blocked_calls: Vec::new(),
            blocked_calls_cut: false,
            blocked_calls_unread: None,
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
            ("::", 3, Some("eth0"), "[::]%eth0:22"),
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
                Reach::Device("eth0".to_string(), Box::new(Reach::AllIpv4)),
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
    fn a_loopback_address_bound_to_another_device_is_not_loopback() {
        // Index 999999 has no device: no route_localnet to read, and shown by its index.
        let l = listener("127.0.0.1", 999_999, None, None);
        assert_eq!(l.scope, Scope::Device);
        assert!(!l.scope.is_exposed());
        assert_eq!(l.endpoint(), "127.0.0.1:22");
        assert_eq!(
            l.reach().long(),
            "bound to device 999999 only: loopback traffic cannot reach it, nor other machines"
        );
        assert_eq!(l.reach().short(), "device 999999 only, not loopback");
        assert!(
            !crate::port::AddressPattern::Loopback.matches(&l),
            "localhost does not reach it"
        );
        let mapped = listener("::ffff:127.0.0.1", 999_999, None, Some(false));
        assert_eq!(mapped.scope, Scope::Device);
        assert_eq!(
            listener("127.0.0.1", 1, Some("lo"), None).scope,
            Scope::Loopback
        );
        assert_eq!(listener("127.0.0.1", 0, None, None).scope, Scope::Loopback);
    }

    #[test]
    fn device_names() {
        let mut names = DeviceNames::default();
        assert_eq!(names.name(0), None);
        // An index no device has is shown as a number, never a guess.
        assert_eq!(names.name(999_999).as_deref(), Some("999999"));
        assert_eq!(names.name(LOOPBACK_IFINDEX).as_deref(), Some("lo"));
    }

    #[test]
    fn a_device_binding_not_reported_is_never_a_fact() {
        let unreported = |address: &str| {
            let mut l = listener(address, 0, None, None);
            l.socket.device_reported = false;
            l
        };
        let cases = [
            ("127.0.0.1", Reach::Loopback),
            ("fe80::1", Reach::OneAddress),
            ("0.0.0.0", Reach::AllIpv4),
        ];
        for (address, inner) in cases {
            let l = unreported(address);
            assert_eq!(
                l.reach(),
                Reach::DeviceUnreported(Box::new(inner)),
                "{address}"
            );
            assert!(l.device_unknown(), "{address}");
            assert!(
                !listener(address, 0, None, None).device_unknown(),
                "{address}"
            );
        }
        // One address that is not link-local is at most that address, whatever its device.
        assert_eq!(unreported("192.0.2.7").reach(), Reach::OneAddress);
        assert!(unreported("127.0.0.1")
            .reach()
            .long()
            .starts_with("loopback only, unless bound to another device than lo"));
    }
}
