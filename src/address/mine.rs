//! Is an address this machine's, and through which device does a connection from this machine
//! to it arrive? From the kernel's routes: asked over rtnetlink, else read from `/proc/net`
//! (Linux); else from the interfaces' own addresses (`getifaddrs`). Where none of these
//! establishes it, the answer says it is not known, and why.

use std::net::IpAddr;

/// Whether an address is this machine's (for a socket bound to a device: whether a connection
/// from this machine to it arrives through that device).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mine {
    Yes,
    No,
    /// Not established: why, in words that follow "whether ADDRESS is this machine's is not
    /// known:".
    Unknown(&'static str),
}

impl From<bool> for Mine {
    fn from(yes: bool) -> Mine {
        if yes {
            Mine::Yes
        } else {
            Mine::No
        }
    }
}

#[cfg(target_os = "linux")]
pub use super::route::{Kind, Route};

/// Never made where the kernel is not asked.
#[cfg(not(target_os = "linux"))]
#[allow(dead_code)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Local,
    Broadcast,
    Elsewhere,
}

#[cfg(not(target_os = "linux"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub kind: Kind,
    pub device: Option<u32>,
}

/// The kernel's route for `address`: asked over rtnetlink, else read from `/proc/net`; why
/// neither answered. The last answer is kept for a second: one pasted address is looked up
/// for each wildcard on its port, and `/proc/net/fib_trie` may be long.
#[cfg(target_os = "linux")]
pub fn route(address: IpAddr) -> Result<Route, &'static str> {
    use std::sync::Mutex;
    use std::time::{Duration, Instant};
    type Last = Option<(IpAddr, Instant, Result<Route, &'static str>)>;
    static LAST: Mutex<Last> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((a, at, answer)) = *last {
        if a == address && at.elapsed() < Duration::from_secs(1) {
            return answer;
        }
    }
    let answer = super::route::route(address).ok_or(()).or_else(|()| {
        super::proc_routes::route(address).map_err(|why| unread(address.to_canonical(), why))
    });
    *last = Some((address, Instant::now(), answer));
    answer
}

#[cfg(target_os = "linux")]
use super::route::answers_fib_match;

/// Never asked where the kernel's routes are not.
#[cfg(not(target_os = "linux"))]
fn answers_fib_match() -> bool {
    true
}

#[cfg(not(target_os = "linux"))]
pub fn route(_address: IpAddr) -> Result<Route, &'static str> {
    Err("whoport does not read this system's routes, and no interface has it")
}

/// Why neither rtnetlink nor `/proc/net` answered, in whole words (static: one per reason).
#[cfg(target_os = "linux")]
fn unread(address: IpAddr, why: &str) -> &'static str {
    macro_rules! cases {
        ($($why:literal),*) => {
            match (address.is_ipv4(), why) {
                $(
                    (true, $why) => concat!(
                        "the kernel's routes could not be asked (rtnetlink refused or did not \
                         answer), and /proc/net/fib_trie ", $why, "; no interface has it"
                    ),
                    (false, $why) => concat!(
                        "the kernel's routes could not be asked (rtnetlink refused or did not \
                         answer), and /proc/net/ipv6_route ", $why, "; no interface has it"
                    ),
                )*
                _ => "the kernel's routes could not be asked (rtnetlink refused or did not \
                      answer), nor read from /proc/net; no interface has it",
            }
        };
    }
    cases!(
        "could not be opened",
        "could not be read to its end",
        "is larger than whoport reads (64 MiB)",
        "was not understood",
        "has no local table",
        "makes it local in a table other than the local one, and the rules that choose the \
         table cannot be read from /proc",
        "holds a longer route to it than its local one, in a table it does not name",
        "has a local route to it, but does not say in which table, and there are tables \
         besides local and main, which rules that /proc does not show choose between"
    )
}

/// Is `address` this machine's (with `device`: does a connection from this machine to it
/// arrive through that device, so that a socket bound to the device takes it)? The kernel's
/// `local` route for it says, and its device; an interface that has the address says so too
/// (its `local` route is on it) where the routes cannot be read, or do not name the device.
pub fn is_local(address: IpAddr, device: Option<u32>) -> Mine {
    let on = || interfaces_with(address);
    match (route(address), device) {
        (Ok(r), None) => Mine::from(r.kind == Kind::Local),
        (Ok(r), Some(_)) if r.kind != Kind::Local => Mine::No,
        (
            Ok(Route {
                device: Some(d), ..
            }),
            Some(i),
        ) => Mine::from(d == i),
        (Ok(_), Some(i)) => match on() {
            Some(v) if !v.is_empty() => Mine::from(v.contains(&i)),
            _ if !answers_fib_match() => Mine::Unknown(
                "it is this machine's, but this kernel (its release is older than Linux 4.13) \
                 does not say which route an address matched, whose device is where a \
                 connection from this machine to it arrives, and no interface has it",
            ),
            _ => Mine::Unknown(
                "it is this machine's, but /proc/net/fib_trie does not say the device of its \
                 route, which is where a connection from this machine to it arrives (the \
                 kernel's routes could not be asked over rtnetlink)",
            ),
        },
        (Err(why), None) => match on() {
            Some(v) if !v.is_empty() => Mine::Yes,
            _ => Mine::Unknown(why),
        },
        (Err(why), Some(i)) => match on() {
            Some(v) if !v.is_empty() => Mine::from(v.contains(&i)),
            _ => Mine::Unknown(why),
        },
    }
}

/// The indexes of the interfaces that have `address` (an IPv4-mapped address as IPv4), or
/// `None` when they could not be listed.
#[cfg(unix)]
fn interfaces_with(address: IpAddr) -> Option<Vec<u32>> {
    let address = address.to_canonical();
    let addrs = nix::ifaddrs::getifaddrs().ok()?;
    Some(
        addrs
            .filter(|a| {
                let Some(storage) = a.address else {
                    return false;
                };
                match (storage.as_sockaddr_in(), storage.as_sockaddr_in6()) {
                    (Some(v4), _) => IpAddr::V4(v4.ip()) == address,
                    (_, Some(v6)) => IpAddr::V6(v6.ip()) == address,
                    _ => false,
                }
            })
            .filter_map(|a| nix::net::if_::if_nametoindex(a.interface_name.as_str()).ok())
            .collect(),
    )
}

#[cfg(not(unix))]
fn interfaces_with(_address: IpAddr) -> Option<Vec<u32>> {
    None
}
