//! Output of `check`: one line per address tried, each failure's causes in words, then
//! advice; or the same facts as JSON.

use crate::hash::{HashMap, HashMapExt};
use std::io::{self, Write};

use serde::Serialize;

use crate::address::endpoint;

use crate::check::cause::{Kind, Overlap};
use crate::check::probe::BindError;
use crate::check::{Advice, Attempt, Blocker, Obstacle, Report};
use crate::config::Output;
use crate::model::{Hidden, Listener, Snapshot};
use crate::registry::Knowledge;
use crate::render::fit::write_after;
use crate::render::json::{self, EphemeralDoc, ListenerDoc, OwnerDoc, SCHEMA_VERSION};
use crate::render::sanitize::sanitize;
use crate::render::table::paint;

/// "python3 (pid 12, user root) and python3 (pid 13, user root)", or why no holder is seen.
pub fn holders(l: &Listener, snap: &Snapshot) -> String {
    if l.owners.is_empty() {
        let reason = l
            .hidden_reason
            .as_deref()
            .map_or("not visible", Hidden::short);
        let who = match (&l.user, l.socket.uid) {
            (Some(u), _) => format!(", socket of user {}", sanitize(u)),
            (None, Some(uid)) => format!(", socket of uid {uid}"),
            _ => String::new(),
        };
        return format!("a process that cannot be seen ({reason}{who})");
    }
    let names: Vec<String> = l
        .owners
        .iter()
        .filter_map(|pid| snap.processes.get(pid))
        .map(|p| {
            let user = p
                .user
                .as_deref()
                .map(|u| sanitize(u).into_owned())
                .or_else(|| p.uid.map(|u| format!("uid {u}")))
                .unwrap_or_else(|| "-".to_string());
            format!(
                "{} (pid {}, user {user})",
                sanitize(p.display_name()),
                p.pid
            )
        })
        .collect();
    names.join(", ")
}

fn yes_no(r: Result<(), BindError>) -> &'static str {
    if r.is_ok() {
        "yes"
    } else {
        "no"
    }
}

/// One sentence per socket that blocks (connections counted together).
fn blocker_lines(a: &Attempt, snap: &Snapshot, port: u16) -> Vec<String> {
    let mut lines = Vec::new();
    let mut connections: HashMap<(Kind, Overlap), (usize, String)> = HashMap::new();
    let reuse_passed = a.probe.reuseaddr.is_ok();
    for b in &a.blockers {
        let l = &snap.listeners[b.socket];
        let at = sanitize(&l.endpoint()).into_owned();
        let proto = l.socket.protocol;
        match b.kind {
            Kind::Listener | Kind::Bound => {
                let what = match (b.kind, proto) {
                    (Kind::Bound, _) => format!("a {proto} socket bound to {at} but not listening"),
                    (_, p) if p.is_datagram() => format!("a {p} socket bound to {at}"),
                    _ => format!("a {proto} listener on {at}"),
                };
                let how = match b.overlap {
                    Overlap::Same => String::new(),
                    Overlap::DualStack => {
                        ": it is dual-stack (IPV6_V6ONLY off), so it takes IPv4 too".to_string()
                    }
                    Overlap::SpecificBlocksWildcard => {
                        ": one specific address blocks the wildcard".to_string()
                    }
                    Overlap::WildcardBlocksSpecific => {
                        ": it covers every address, this one included".to_string()
                    }
                };
                let mut line = format!("{what}{how}; held by {}", holders(l, snap));
                if b.kind == Kind::Bound {
                    line.push_str(if reuse_passed {
                        "; SO_REUSEADDR lets a server bind anyway (that bind succeeded)"
                    } else {
                        "; SO_REUSEADDR does not help: the holder did not set it"
                    });
                }
                lines.push(line);
            }
            Kind::TimeWait | Kind::Connection => {
                let e = connections
                    .entry((b.kind, b.overlap))
                    .or_insert((0, String::new()));
                e.0 += 1;
                if e.1.is_empty() {
                    let state = l.socket.state.unwrap_or("connected");
                    let peer = l
                        .socket
                        .remote
                        .map(|(ip, p)| format!(" to {}", endpoint(ip, None, p)))
                        .unwrap_or_default();
                    e.1 = format!("{state}, {at}{peer}");
                }
            }
        }
    }
    let mut grouped: Vec<_> = connections.into_iter().collect();
    grouped.sort_by_key(|((k, _), _)| *k != Kind::TimeWait);
    for ((kind, _), (count, example)) in grouped {
        let what = match kind {
            Kind::TimeWait => "in TIME_WAIT",
            _ => "open",
        };
        let plural = if count == 1 { "" } else { "s" };
        let reuse = if reuse_passed {
            "SO_REUSEADDR lets a server bind anyway (that bind succeeded)"
        } else {
            "even with SO_REUSEADDR the bind failed (the connection's socket did not set it)"
        };
        lines.push(format!(
            "{count} connection{plural} {what} on local port {port} (e.g. {example}): {reuse}"
        ));
    }
    lines
}

fn obstacle_text(o: Obstacle, port: u16) -> String {
    match o {
        Obstacle::Privileged { start } => format!(
            "port {port} is below net.ipv4.ip_unprivileged_port_start ({start}): a server \
             needs root or CAP_NET_BIND_SERVICE to bind it"
        ),
        Obstacle::Denied => {
            "permission denied although the port needs no privilege: a security policy \
             (SELinux, AppArmor, seccomp or a BPF program) refused the bind"
                .to_string()
        }
        Obstacle::DeniedUnjudged => {
            "permission denied: either the port needs root or CAP_NET_BIND_SERVICE \
             (net.ipv4.ip_unprivileged_port_start could not be read, so whoport cannot tell), \
             or a security policy (SELinux, AppArmor, seccomp or a BPF program) refused the bind"
                .to_string()
        }
        Obstacle::NotLocal => "this address is not one of this machine's".to_string(),
        Obstacle::FamilyUnavailable => {
            "this address family is not available on this machine (IPv6 disabled?)".to_string()
        }
        Obstacle::Unexplained => format!(
            "the address is in use, but no socket on port {port} in this network namespace \
             explains it now (it may have closed since)"
        ),
        Obstacle::Other(n) => format!("the bind failed: {}", io::Error::from_raw_os_error(n)),
    }
}

/// The advice in words (the same text goes into JSON).
pub fn advice_text(a: &Advice, port: u16) -> String {
    match a {
        Advice::Ephemeral {
            range,
            reserved: true,
            ..
        } => format!(
            "{port} lies in the ephemeral range {}-{} ({}), but net.ipv4.ip_local_reserved_ports \
             reserves it: outgoing connections will not take it",
            range.start, range.end, range.source
        ),
        Advice::Ephemeral {
            range,
            reserve_with,
            ..
        } => format!(
            "{port} lies in the ephemeral range {}-{} ({}): outgoing connections may take it \
             while no server holds it; reserve it with: sysctl -w \
             net.ipv4.ip_local_reserved_ports={reserve_with}",
            range.start, range.end, range.source
        ),
        Advice::Assigned { services } => {
            let names: Vec<String> = services
                .iter()
                .map(|(n, d)| {
                    if d.is_empty() {
                        n.clone()
                    } else {
                        format!("{n} ({d})")
                    }
                })
                .collect();
            format!("IANA assigns {port} to {}", sanitize(&names.join(", ")))
        }
        Advice::Conventional { programs } => match programs.as_slice() {
            [(program, note)] if !note.is_empty() => {
                format!("{port} is the conventional port of {program} ({note})")
            }
            [(program, _)] => format!("{port} is the conventional port of {program}"),
            _ => {
                let names: Vec<&str> = programs.iter().map(|(p, _)| *p).collect();
                format!(
                    "{port} is the conventional port of {} programs: {}",
                    names.len(),
                    names.join(", ")
                )
            }
        },
        Advice::NeedsPrivilege { start } => format!(
            "{port} is below net.ipv4.ip_unprivileged_port_start ({start}): whoport runs as \
             root, a server running as another user needs CAP_NET_BIND_SERVICE"
        ),
        Advice::OtherNamespaces { processes } => format!(
            "{processes} processes live in other network namespaces (containers): they have \
             ports of their own, not checked here"
        ),
    }
}

/// The text form.
pub fn text(w: &mut dyn Write, out: &Output, r: &Report) -> io::Result<()> {
    let labels: Vec<String> = r.attempts.iter().map(|a| a.probe.target.label()).collect();
    let headline = if r.can_listen() {
        format!(
            "{}/{}: a new server can listen on {}.",
            r.port,
            r.protocol,
            labels.join(", ")
        )
    } else {
        format!(
            "{}/{}: a new server cannot listen on every address.",
            r.port, r.protocol
        )
    };
    for line in crate::render::fit::for_output(out, &headline, 0, 2) {
        writeln!(w, "{}", paint(out, &line, "1"))?;
    }
    let width = labels.iter().map(String::len).max().unwrap_or(0);
    for (a, label) in r.attempts.iter().zip(&labels) {
        let verdict = if a.probe.ok() {
            paint(out, "yes", "32")
        } else {
            paint(out, "no ", "1;31")
        };
        let both = format!(
            "(without SO_REUSEADDR: {}, with: {})",
            yes_no(a.probe.plain),
            yes_no(a.probe.reuseaddr)
        );
        let shown = 2 + width + 2 + 3 + 2;
        write_after(
            w,
            out,
            (&format!("  {label:width$}  {verdict}  "), shown),
            &both,
            shown,
        )?;
        if a.probe.ok() {
            continue;
        }
        // On a terminal each cause wraps at its width, under its own dash.
        for o in &a.obstacles {
            write_after(w, out, ("      - ", 8), &obstacle_text(*o, r.port), 8)?;
        }
        for line in blocker_lines(a, &r.snapshot, r.port) {
            write_after(w, out, ("      - ", 8), &line, 8)?;
        }
    }
    if !r.advice.is_empty() {
        writeln!(w, "{}", paint(out, "Advice", "1"))?;
        for a in &r.advice {
            write_after(w, out, ("  - ", 4), &advice_text(a, r.port), 4)?;
        }
    }
    // The advice already says that other network namespaces exist.
    let said = |n: &&String| r.snapshot.other_netns > 0 && n.contains("network namespaces");
    for note in r.snapshot.notes.iter().filter(|n| !said(n)) {
        write_after(w, out, ("note: ", 6), &sanitize(note), 6)?;
    }
    Ok(())
}

#[derive(Debug, Serialize)]
struct BindDoc {
    ok: bool,
    error: Option<String>,
}

impl From<Result<(), BindError>> for BindDoc {
    fn from(r: Result<(), BindError>) -> Self {
        BindDoc {
            ok: r.is_ok(),
            error: r.err().map(BindError::errno_name),
        }
    }
}

#[derive(Debug, Serialize)]
struct CauseDoc<'a> {
    kind: &'static str,
    overlap: &'static str,
    socket: ListenerDoc<'a>,
}

#[derive(Debug, Serialize)]
struct ObstacleDoc {
    kind: &'static str,
    text: String,
}

#[derive(Debug, Serialize)]
struct AttemptDoc<'a> {
    address: String,
    v6only: Option<bool>,
    label: String,
    ok: bool,
    without_reuseaddr: BindDoc,
    with_reuseaddr: BindDoc,
    causes: Vec<CauseDoc<'a>>,
    obstacles: Vec<ObstacleDoc>,
}

#[derive(Debug, Serialize)]
struct AdviceDoc {
    kind: &'static str,
    text: String,
}

#[derive(Debug, Serialize)]
struct CheckDoc<'a> {
    schema_version: u32,
    port: u16,
    protocol: crate::port::Protocol,
    can_listen: bool,
    attempts: Vec<AttemptDoc<'a>>,
    advice: Vec<AdviceDoc>,
    ephemeral_range: EphemeralDoc,
    source: &'static str,
    notes: &'a [String],
}

fn cause_doc<'a>(
    b: &Blocker,
    snap: &'a Snapshot,
    owners: &'a HashMap<u32, OwnerDoc<'a>>,
    k: &Knowledge,
) -> CauseDoc<'a> {
    CauseDoc {
        kind: b.kind.as_str(),
        overlap: b.overlap.as_str(),
        socket: ListenerDoc::new(&snap.listeners[b.socket], owners, k),
    }
}

/// The JSON form (docs/json.md).
pub fn json(w: &mut dyn Write, pretty: bool, r: &Report, k: &Knowledge) -> io::Result<()> {
    let owners = json::owner_docs(&r.snapshot);
    let doc = CheckDoc {
        schema_version: SCHEMA_VERSION,
        port: r.port,
        protocol: r.protocol,
        can_listen: r.can_listen(),
        attempts: r
            .attempts
            .iter()
            .map(|a| AttemptDoc {
                address: a.probe.target.address.to_string(),
                v6only: a.probe.target.v6only,
                label: a.probe.target.label(),
                ok: a.probe.ok(),
                without_reuseaddr: a.probe.plain.into(),
                with_reuseaddr: a.probe.reuseaddr.into(),
                causes: a
                    .blockers
                    .iter()
                    .map(|b| cause_doc(b, &r.snapshot, &owners, k))
                    .collect(),
                obstacles: a
                    .obstacles
                    .iter()
                    .map(|o| ObstacleDoc {
                        kind: o.as_str(),
                        text: obstacle_text(*o, r.port),
                    })
                    .collect(),
            })
            .collect(),
        advice: r
            .advice
            .iter()
            .map(|a| AdviceDoc {
                kind: a.as_str(),
                text: advice_text(a, r.port),
            })
            .collect(),
        ephemeral_range: k.ephemeral.into(),
        source: r.snapshot.source,
        notes: &r.snapshot.notes,
    };
    json::write(w, pretty, &doc)
}
