//! The kernel's routes as `/proc/net` prints them, for when rtnetlink cannot be asked
//! (a seccomp policy, gVisor, WSL1): `/proc/net/fib_trie` for IPv4 (every table's routes and
//! their types, `LOCAL` and `BROADCAST` among them, but not their devices) and
//! `/proc/net/ipv6_route` for IPv6 (every route with its flags, `RTF_LOCAL` among them, and
//! its device, but not its table). Each is read once, up to a bound, line by line: nothing is
//! kept but the best match so far. What cannot be read whole, is not understood, or depends on
//! what `/proc` does not show (the rules that choose which table is looked in first) is no
//! answer, with why.

use std::io::{BufRead, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::route::{Kind, Route};

/// The most of either file read: a table larger than this (a router with a full Internet
/// table) is no answer. 64 MiB is about 800,000 routes of `fib_trie`.
pub const MAX_BYTES: u64 = 64 * 1024 * 1024;

/// What `/proc/net` says of `address` (an IPv4-mapped address is looked up as IPv4), or why it
/// says nothing established.
pub fn route(address: IpAddr) -> Result<Route, &'static str> {
    match address.to_canonical() {
        IpAddr::V4(a) => lines("/proc/net/fib_trie", |l| parse_fib_trie(l, a)),
        IpAddr::V6(a) => lines("/proc/net/ipv6_route", |l| parse_ipv6_route(l, a)),
    }
}

/// The lines of the file at `path` (one below `/proc` that nothing is mounted over), given to
/// `parse` one at a time, at most [`MAX_BYTES`] of them.
fn lines<F>(path: &str, parse: F) -> Result<Route, &'static str>
where
    F: FnOnce(&mut dyn Iterator<Item = String>) -> Result<Route, &'static str>,
{
    let file = crate::collect::proc_dir::open_file(path).map_err(|_| "could not be opened")?;
    let mut reader = std::io::BufReader::new(file.take(MAX_BYTES + 1));
    let mut read = 0u64;
    let mut failed = None;
    let mut iter = std::iter::from_fn(|| {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => None,
            Ok(n) => {
                read += n as u64;
                if read > MAX_BYTES {
                    failed = Some("is larger than whoport reads (64 MiB)");
                    return None;
                }
                Some(line)
            }
            Err(_) => {
                failed = Some("could not be read to its end");
                None
            }
        }
    });
    let parsed = parse(&mut iter);
    match failed {
        Some(why) => Err(why),
        None => parsed,
    }
}

/// The best route so far: its prefix length and type (`LOCAL`...).
type Best = Option<(u8, String)>;

/// `fib_trie`: for each table (`Local:`, `Main:`, `Id 100:`), each leaf (`|-- 10.77.0.0`)
/// and each of its routes (`/16 host LOCAL`), the longest prefix holding `address`, as the
/// kernel's lookup finds it (a route for one TOS only is passed over: no connection asks for
/// one). The local table is looked in first (the kernel's default first rule): its route's
/// type is the answer when it is `LOCAL` or `BROADCAST`; else the address is this machine's in
/// no table, or the answer depends on the rules, which `/proc` does not show.
fn parse_fib_trie(
    lines: &mut dyn Iterator<Item = String>,
    address: Ipv4Addr,
) -> Result<Route, &'static str> {
    let mut local: Option<Best> = None;
    let mut others: Best = None;
    let mut table: Option<bool> = None;
    let mut best: Best = None;
    let mut leaf: Option<Ipv4Addr> = None;
    let mut finish = |table: Option<bool>, best: Best| match table {
        Some(true) => local = Some(best),
        Some(false) => others = longer(others.take(), best),
        None => {}
    };
    for line in lines {
        let text = line.trim();
        if !line.starts_with(' ') && text.ends_with(':') {
            finish(table, best.take());
            table = Some(text == "Local:");
            leaf = None;
        } else if let Some(a) = text.strip_prefix("|-- ") {
            leaf = Some(a.parse().map_err(|_| "was not understood")?);
        } else if let Some(route) = text.strip_prefix('/') {
            let (Some(at), Some(_)) = (leaf, table) else {
                return Err("was not understood");
            };
            let mut words = route.split_whitespace();
            let (Some(len), Some(_scope), Some(kind)) = (words.next(), words.next(), words.next())
            else {
                return Err("was not understood");
            };
            let len = len.parse().ok().filter(|&l: &u8| l <= 32);
            let len = len.ok_or("was not understood")?;
            if words.any(|w| w.starts_with("tos=")) || !holds(at, len, address) {
                continue;
            }
            best = longer(best, Some((len, kind.to_string())));
        } else if !text.is_empty() && !text.starts_with("+-- ") {
            return Err("was not understood");
        }
    }
    finish(table, best);
    let Some(local) = local else {
        return Err("has no local table");
    };
    let kind = |b: &Best| match b.as_ref().map(|(_, k)| k.as_str()) {
        Some("LOCAL") => Kind::Local,
        Some("BROADCAST") => Kind::Broadcast,
        _ => Kind::Elsewhere,
    };
    match (kind(&local), kind(&others)) {
        (Kind::Elsewhere, Kind::Elsewhere) => {}
        (Kind::Elsewhere, _) => {
            return Err(
                "makes it local in a table other than the local one, and the rules that \
                 choose the table cannot be read from /proc",
            )
        }
        (found, _) => {
            return Ok(Route {
                kind: found,
                device: None,
            })
        }
    }
    Ok(Route {
        kind: Kind::Elsewhere,
        device: None,
    })
}

/// The longer of two matches; the first of two of the same length (the kernel's order).
fn longer(a: Best, b: Best) -> Best {
    match (&a, &b) {
        (Some((x, _)), Some((y, _))) if y > x => b,
        (None, _) => b,
        _ => a,
    }
}

/// Does `prefix/len` hold `address`?
fn holds(prefix: Ipv4Addr, len: u8, address: Ipv4Addr) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
    prefix.to_bits() & mask == address.to_bits() & mask
}

const RTF_UP: u32 = 0x0001;
const RTF_REJECT: u32 = 0x0200;
const RTF_CACHE: u32 = 0x0100_0000;
const RTF_LOCAL: u32 = 0x8000_0000;

/// `ipv6_route`: `DEST PLEN SRC SPLEN NEXTHOP METRIC REFCNT USE FLAGS DEVICE`, every table's
/// routes (the table is not printed). The longest `RTF_LOCAL` route holding `address` makes it
/// this machine's, through that route's device (unless two such routes of that length name two
/// devices); none makes it another's. A longer route of another kind holding it may be in the
/// local table, looked in first, or in another: no answer. Each table prints its own empty
/// root (`::/0`, rejected, metric `ffffffff`): more than two (local and main) means tables of
/// the administrator's, which rules choose between: a local route may be in one no rule looks
/// in, so it says nothing established.
fn parse_ipv6_route(
    lines: &mut dyn Iterator<Item = String>,
    address: Ipv6Addr,
) -> Result<Route, &'static str> {
    let mut local: Option<(u8, Option<String>)> = None;
    let mut other: Option<u8> = None;
    let mut tables = 0;
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if !(9..=10).contains(&fields.len()) {
            return Err("was not understood");
        }
        let hex = |s: &str| u128::from_str_radix(s, 16).map_err(|_| "was not understood");
        let (dest, len) = (hex(fields[0])?, hex(fields[1])?);
        let flags = u32::from_str_radix(fields[8], 16).map_err(|_| "was not understood")?;
        let len = u8::try_from(len).ok().filter(|&l| l <= 128);
        let len = len.ok_or("was not understood")?;
        let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
        if (dest, len, fields[5], flags & RTF_REJECT) == (0, 0, "ffffffff", RTF_REJECT) {
            tables += 1;
            continue;
        }
        if dest & mask != address.to_bits() & mask || flags & RTF_UP == 0 || flags & RTF_CACHE != 0
        {
            continue;
        }
        let device = fields.get(9).map(|d| d.to_string());
        if flags & RTF_LOCAL == 0 {
            other = other.max(Some(len));
            continue;
        }
        local = match local {
            Some((l, _)) if len > l => Some((len, device)),
            Some((l, d)) if len == l && d != device => Some((l, None)),
            None => Some((len, device)),
            kept => kept,
        };
    }
    match local {
        None => Ok(Route {
            kind: Kind::Elsewhere,
            device: None,
        }),
        Some((len, _)) if other.is_some_and(|o| o > len) => {
            Err("holds a longer route to it than its local one, in a table it does not name")
        }
        Some(_) if tables > 2 => Err(
            "has a local route to it, but does not say in which table, and there are tables \
             besides local and main, which rules that /proc does not show choose between",
        ),
        Some((_, device)) => Ok(Route {
            kind: Kind::Local,
            device: device.and_then(|d| index(&d)),
        }),
    }
}

/// The index of the device with this name, if one has it now.
fn index(name: &str) -> Option<u32> {
    nix::net::if_::if_nametoindex(name).ok().filter(|&i| i != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> impl Iterator<Item = String> + '_ {
        text.lines().map(|l| format!("{l}\n"))
    }

    /// A table as a merged trie prints it (the local and main tables are one until a rule
    /// of the administrator's is added: each heading prints all of it).
    macro_rules! trie {
        () => {
            "  +-- 0.0.0.0/1 2 0 2
     +-- 10.76.0.0/14 2 0 2
        |-- 10.77.0.0
           /16 host LOCAL
        |-- 10.77.9.0
           /24 link UNICAST
     |-- 10.99.0.255
        /32 link BROADCAST
"
        };
    }

    const FIB_TRIE: &str = concat!(
        "Main:\n",
        trie!(),
        "Local:\n",
        trie!(),
        "     |-- 10.98.0.0\n        /16 host LOCAL tos=4\n"
    );

    fn v4(text: &str, address: &str) -> Result<Kind, &'static str> {
        parse_fib_trie(&mut lines(text), address.parse().expect("ip")).map(|r| r.kind)
    }

    #[test]
    fn fib_trie_gives_the_longest_route_of_the_local_table() {
        assert_eq!(v4(FIB_TRIE, "10.77.3.4"), Ok(Kind::Local));
        assert_eq!(v4(FIB_TRIE, "10.77.9.4"), Ok(Kind::Elsewhere));
        assert_eq!(v4(FIB_TRIE, "10.99.0.255"), Ok(Kind::Broadcast));
        assert_eq!(v4(FIB_TRIE, "10.98.1.1"), Ok(Kind::Elsewhere));
        assert_eq!(v4(FIB_TRIE, "192.0.2.1"), Ok(Kind::Elsewhere));
        // Local in another table only: the rules decide, and they are not in /proc.
        let other = "Local:\nId 100:\n  |-- 10.5.0.0\n     /16 host LOCAL\n";
        assert!(v4(other, "10.5.1.1").is_err());
        assert_eq!(v4(other, "10.6.1.1"), Ok(Kind::Elsewhere));
    }

    #[test]
    fn fib_trie_not_understood_is_no_answer() {
        for text in [
            "",
            "Main:\n  |-- 10.0.0.0\n     /8 host LOCAL\n",
            "Local:\n  |-- 10.0.0.x\n     /8 host LOCAL\n",
            "Local:\n  |-- 10.0.0.0\n     /x host LOCAL\n",
            "Local:\n  |-- 10.0.0.0\n     /8 host\n",
            "Local:\n     /8 host LOCAL\n",
            "Local:\n  something else\n",
            "Local:\n  |-- 10.0.0.0\n     /99 host LOCAL\n",
        ] {
            assert!(v4(text, "10.0.0.1").is_err(), "{text:?}");
        }
    }

    const IPV6_ROUTE: &str = "\
20010db8009900000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001       d0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000003 00000000 80200001       lo
20010db8007700000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000400 00000003 00000000 80000001       lo
20010db8009900000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       d0
20010db8005500000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000400 00000003 00000000 80000001       lo
20010db8005500000000000000000000 70 00000000000000000000000000000000 00 00000000000000000000000000000000 00000400 00000003 00000000 00000001       d0
";

    fn v6(text: &str, address: &str) -> Result<Route, &'static str> {
        parse_ipv6_route(&mut lines(text), address.parse().expect("ip"))
    }

    #[test]
    fn ipv6_route_gives_the_longest_local_route_and_its_device() {
        let lo = Some(crate::address::LOOPBACK_IFINDEX);
        let local = |device| {
            Ok(Route {
                kind: Kind::Local,
                device,
            })
        };
        assert_eq!(v6(IPV6_ROUTE, "2001:db8:77::5"), local(lo));
        assert_eq!(v6(IPV6_ROUTE, "::1"), local(lo));
        assert_eq!(
            v6(IPV6_ROUTE, "2001:db8:99::1").map(|r| r.kind),
            Ok(Kind::Local)
        );
        assert_eq!(
            v6(IPV6_ROUTE, "2001:db8:99::2").map(|r| r.kind),
            Ok(Kind::Elsewhere)
        );
        assert_eq!(v6(IPV6_ROUTE, "2001:db8:55::1:1"), local(lo));
        // A longer route of another kind, whose table is not printed.
        assert!(v6(IPV6_ROUTE, "2001:db8:55::1").is_err());
        // A third table (`ip -6 route add local ... table 100`): which one holds the local
        // route, and whether a rule looks in it, is not printed.
        let root = IPV6_ROUTE.lines().nth(1).expect("a root");
        let three = format!("{IPV6_ROUTE}{root}\n{root}\n");
        assert!(v6(&three, "2001:db8:77::5").is_err());
        assert_eq!(
            v6(&three, "2001:db8:99::2").map(|r| r.kind),
            Ok(Kind::Elsewhere)
        );
        for text in ["x\n", "20010db8 40\n", "zz 40 0 0 0 0 0 0 80000001 lo\n"] {
            assert!(v6(text, "::1").is_err(), "{text:?}");
        }
    }
}
