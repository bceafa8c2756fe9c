//! Listeners that the command line's filters hid from a port card, and which filter hid each:
//! `whoport 5432 --exposed` never says "Nothing is listening" when PostgreSQL listens on
//! 127.0.0.1.

use crate::hash::{HashMap, HashSet};

use super::Filter;
use crate::model::{Listener, Process, Snapshot};

/// One listener on the asked port that the filters left out.
#[derive(Debug, Clone)]
pub struct FilteredOut {
    pub listener: Listener,
    /// The filters that reject it, as typed: `--exposed`, `--user`, `-4`...
    pub filters: Vec<&'static str>,
    /// Who holds it: "postgres (pid 7)".
    pub owners: Vec<String>,
}

/// `filter` without the criteria that can hide a listener on the asked ports: the same
/// protocols (every one for a program narrowed to one, `nginx/udp`), states, ports and
/// program, every address family.
fn unfiltered(filter: &Filter, protocol: Option<&'static str>) -> Filter {
    let every = protocol_hides(filter, protocol);
    Filter {
        tcp: filter.tcp || every,
        udp: filter.udp || every,
        udplite: filter.udplite || every,
        ipv4: true,
        ipv6: true,
        all_states: filter.all_states,
        ports: filter.ports.clone(),
        program: filter.program.clone(),
        ..Filter::default()
    }
}

/// Whether the protocol typed counts as a filter that hides listeners: for a program
/// (`nginx/udp`), for one port (`53/udp` with only TCP on 53) and as a flag (`--udp`), which
/// the answer for a range does not say back. A range typed with its protocol
/// (`49900-49910/udp`) is answered for that protocol as typed. A port asked for on a protocol
/// whoport does not read (`22/sctp`) has a note saying so instead: nothing is claimed about
/// what listens there.
fn protocol_hides(filter: &Filter, protocol: Option<&'static str>) -> bool {
    let Some(typed) = protocol else {
        return false;
    };
    filter.program.is_some()
        || typed.starts_with("--")
        || (!matches!(typed, "/sctp" | "/dccp")
            && filter
                .ports
                .as_ref()
                .is_some_and(|p| p.len() == 1 && p[0].is_single()))
}

/// The filters a person typed that can hide a listener, by name. `protocol` is how the
/// protocol was typed (`/udp`, `--tcp`), when one was: for a program it hides the program's
/// listeners on the others.
fn active(filter: &Filter, protocol: Option<&'static str>) -> Vec<(&'static str, Filter)> {
    let base = unfiltered(filter, protocol);
    let mut out = Vec::new();
    if let (Some(typed), true) = (protocol, protocol_hides(filter, protocol)) {
        out.push((
            typed,
            Filter {
                tcp: filter.tcp,
                udp: filter.udp,
                udplite: filter.udplite,
                ..base.clone()
            },
        ));
    }
    if filter.exposed {
        out.push((
            "--exposed",
            Filter {
                exposed: true,
                ..base.clone()
            },
        ));
    }
    if filter.pid.is_some() {
        out.push((
            "--pid",
            Filter {
                pid: filter.pid,
                ..base.clone()
            },
        ));
    }
    if filter.process.is_some() {
        out.push((
            "--process",
            Filter {
                process: filter.process.clone(),
                ..base.clone()
            },
        ));
    }
    if filter.user.is_some() {
        out.push((
            "--user",
            Filter {
                user: filter.user.clone(),
                ..base.clone()
            },
        ));
    }
    if !filter.ipv6 {
        out.push((
            "-4",
            Filter {
                ipv6: false,
                ..base.clone()
            },
        ));
    }
    if !filter.ipv4 {
        out.push((
            "-6",
            Filter {
                ipv4: false,
                ..base.clone()
            },
        ));
    }
    if filter.address.is_some() {
        out.push((
            "the address",
            Filter {
                address: filter.address.clone(),
                ..base.clone()
            },
        ));
    }
    out
}

/// Does any filter beyond the port and protocol apply?
pub fn narrows(filter: &Filter) -> bool {
    !active(filter, None).is_empty()
}

/// The same question without the filters, for a port card: the listeners the filtered
/// snapshot `shown` left out, with the filters that reject each. `protocol`: how a protocol
/// was typed (`/udp`, `--udp`), if one was.
pub fn hidden_by_filters(
    filter: &Filter,
    shown: &Snapshot,
    protocol: Option<&'static str>,
) -> Result<Vec<FilteredOut>, crate::error::CollectError> {
    let criteria = active(filter, protocol);
    if criteria.is_empty() {
        return Ok(Vec::new());
    }
    let everything = unfiltered(filter, protocol);
    let all = super::collect(&everything)?;
    let user_unread = shown.user_unread;
    let mut out = left_out(&criteria, &all, shown, user_unread);
    out.extend(unattributed_left_out(&criteria, &all, shown, user_unread));
    Ok(out)
}

/// For a program name: the listeners whose owner could not be seen (any may be the
/// program's) that a filter about the socket leaves out (`-6`, `--user`, `/udp`...), each
/// with those filters. `--pid` and `--process` are about the unknown owner: they hide none;
/// nor does `--user` where `user_unread` ([`super::user_unread`]).
fn unattributed_left_out(
    criteria: &[(&'static str, Filter)],
    all: &Snapshot,
    shown: &Snapshot,
    user_unread: bool,
) -> Vec<FilteredOut> {
    let seen = shown_keys(shown);
    all.unattributed
        .iter()
        .filter(|l| !seen.contains(&key(l)))
        .map(|l| FilteredOut {
            listener: l.clone(),
            filters: criteria
                .iter()
                .filter(|(_, f)| {
                    let mut socket = f.about_the_socket();
                    if user_unread {
                        socket.user = None;
                    }
                    !socket.keeps(l, &all.processes)
                })
                .map(|(name, _)| *name)
                .collect(),
            owners: Vec::new(),
        })
        .filter(|f| !f.filters.is_empty())
        .collect()
}

/// The listeners `shown` holds: its rows, and those kept because whose they are is unknown
/// (a listener `--pid` or `--process` kept as possibly the process asked for is not hidden by
/// them).
fn shown_keys(shown: &Snapshot) -> HashSet<(crate::port::Protocol, std::net::IpAddr, u16, u32)> {
    shown
        .listeners
        .iter()
        .chain(&shown.unattributed)
        .map(key)
        .collect()
}

/// The listeners of `all` that `shown` does not hold, each with the criteria rejecting it.
/// `user_unread`: some processes of the user `--user` asks for could not be read
/// ([`super::user_unread`]).
fn left_out(
    criteria: &[(&'static str, Filter)],
    all: &Snapshot,
    shown: &Snapshot,
    user_unread: bool,
) -> Vec<FilteredOut> {
    let seen = shown_keys(shown);
    // A wildcard that a socket bound to the pasted address itself outranks is hidden by the
    // address too.
    let served: Option<HashSet<_>> = criteria.iter().find_map(|(_, f)| {
        let address = f.address.as_ref()?;
        let mut kept = all.listeners.clone();
        address.narrow(&mut kept);
        Some(kept.iter().map(key).collect())
    });
    all.listeners
        .iter()
        .filter(|l| !seen.contains(&key(l)))
        .map(|l| FilteredOut {
            listener: l.clone(),
            filters: rejecting(criteria, l, (&all.processes, user_unread), served.as_ref()),
            owners: l
                .owners
                .iter()
                .map(|pid| match all.processes.get(pid) {
                    Some(p) => format!("{} (pid {pid})", p.display_name()),
                    None => format!("pid {pid}"),
                })
                .collect(),
        })
        .filter(|f| !f.filters.is_empty())
        .collect()
}

fn key(l: &Listener) -> (crate::port::Protocol, std::net::IpAddr, u16, u32) {
    (
        l.socket.protocol,
        l.socket.address,
        l.socket.port,
        l.socket.inode,
    )
}

fn rejecting(
    criteria: &[(&'static str, Filter)],
    l: &Listener,
    (processes, user_unread): (&HashMap<u32, Process>, bool),
    served: Option<&HashSet<(crate::port::Protocol, std::net::IpAddr, u16, u32)>>,
) -> Vec<&'static str> {
    criteria
        .iter()
        .filter(|(_, f)| {
            // `--pid` and `--process` are about the owner: they never hide a listener whose
            // owner could not be seen (it may be the process asked for); nor does `--user`
            // where some of that user's processes could not be read.
            let about_the_owner = f.pid.is_some() || f.process.is_some() || f.user.is_some();
            let may_be_its = about_the_owner
                && !super::unattributed(f, std::slice::from_ref(l), processes, user_unread)
                    .is_empty();
            !may_be_its
                && (!f.keeps(l, processes)
                    || (f.address.is_some() && served.is_some_and(|s| !s.contains(&key(l)))))
        })
        .map(|(name, _)| *name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Scope, Socket};
    use crate::port::{PortRange, Protocol};

    fn listener(address: &str, inode: u32, pid: u32) -> Listener {
        let socket = Socket {
            protocol: Protocol::Tcp,
            address: address.parse().expect("ip"),
            port: 5432,
            state: Some("listen"),
            remote: None,
            inode,
            uid: Some(0),
            ifindex: 0,
            device_reported: true,
            v6only: None,
        };
        Listener {
            scope: Scope::of_socket(&socket),
            device: None,
            user: Some("postgres".into()),
            owners: vec![pid],
            hidden_reason: None,
            held_through: None,
            blocked_calls: Vec::new(),
            blocked_calls_cut: false,
            blocked_calls_unread: None,
            v6only: None,
            known_use: None,
            socket,
        }
    }

    #[test]
    fn each_hidden_listener_names_the_filters_that_hide_it() {
        let filter = Filter {
            exposed: true,
            pid: Some(7),
            ports: Some(vec![PortRange::single(5432)]),
            ..Filter::everything()
        };
        assert!(narrows(&filter));
        assert!(!narrows(&Filter {
            ports: Some(vec![PortRange::single(5432)]),
            ..Filter::everything()
        }));
        let process = |pid| Process {
            pid,
            name: "postgres".into(),
            ..Process::default()
        };
        let all = Snapshot {
            listeners: vec![
                listener("127.0.0.1", 1, 7),
                listener("0.0.0.0", 2, 7),
                listener("::1", 3, 8),
            ],
            processes: [(7, process(7)), (8, process(8))].into_iter().collect(),
            ..Snapshot::default()
        };
        let shown = Snapshot {
            listeners: vec![all.listeners[1].clone()],
            ..Snapshot::default()
        };
        let out = left_out(&active(&filter, None), &all, &shown, false);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].listener.socket.inode, 1);
        assert_eq!(out[0].filters, vec!["--exposed"]);
        assert_eq!(out[1].filters, vec!["--exposed", "--pid"]);
    }
}
