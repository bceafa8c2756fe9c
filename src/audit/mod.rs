//! `whoport audit`: findings about listeners, baselines, suppressions, exit status.

pub mod baseline;
pub mod changes;
pub mod classify;
pub mod design;
pub mod group;
pub mod rules;
pub mod suppress;
pub mod verdict;

use serde::Serialize;

use crate::collect::Filter;
use crate::model::{Listener, Scope, Snapshot};
use crate::registry::Knowledge;
use baseline::{Baseline, Entry};
use suppress::Config;

/// Every finding id, stable and kebab-case (docs/audit.md has one section per id).
pub const IDS: &[&str] = &[
    "exposed-all-interfaces",
    "unassigned-port",
    "service-mismatch",
    "ephemeral-range",
    "deleted-executable",
    "restart-pending",
    "root-exposed",
    "shell-listener",
    "hidden-owner",
    "hidden-process",
    "new-listener",
    "gone-listener",
    "owner-changed",
];

/// How much a finding deserves a look; ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
}

impl Severity {
    /// Most severe first.
    pub const ALL: [Severity; 4] = [
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// One thing worth a look, about one listener group (the sockets of one service).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub id: &'static str,
    pub severity: Severity,
    /// Indexes of the listeners concerned in the snapshot (IPv4 first); empty for a gone
    /// listener.
    pub listeners: Vec<usize>,
    /// For `gone-listener`: the baseline's entry (boxed: every other finding is smaller for it,
    /// and an audit may hold tens of thousands).
    pub gone: Option<Box<Entry>>,
    pub message: String,
    pub hint: String,
    /// Other findings of the same concern folded into this one ("root-exposed: ...").
    pub reasons: Vec<String>,
    /// Why running as root is a standard design here, when it is (not `root-exposed`).
    pub design: Option<String>,
}

impl Finding {
    /// The first listener concerned.
    pub fn listener<'a>(&self, snap: &'a Snapshot) -> Option<&'a Listener> {
        self.listeners.first().and_then(|&i| snap.listeners.get(i))
    }

    /// Every listener concerned.
    pub fn all_listeners<'a>(&'a self, snap: &'a Snapshot) -> impl Iterator<Item = &'a Listener> {
        self.listeners.iter().filter_map(|&i| snap.listeners.get(i))
    }
}

/// A finding that a suppression accepted, and why.
#[derive(Debug, Clone)]
pub struct Suppressed {
    pub finding: Finding,
    /// "--ignore ID", or the accepting rule's reason (or "accepted in FILE").
    pub by: String,
}

/// The outcome of an audit.
#[derive(Debug, Clone)]
pub struct Report {
    /// Unsuppressed findings, most severe first.
    pub findings: Vec<Finding>,
    pub suppressed: Vec<Suppressed>,
    pub listeners_checked: usize,
    pub fail_on: Severity,
}

impl Report {
    pub fn count(&self, s: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity == s).count()
    }

    /// Does an unsuppressed finding reach the threshold?
    pub fn failed(&self) -> bool {
        self.findings.iter().any(|f| f.severity >= self.fail_on)
    }
}

/// Runs every rule over the snapshot, and compares with the baseline when there is one.
pub fn audit(
    snap: &Snapshot,
    k: &Knowledge,
    baseline: Option<&Baseline>,
    filter: &Filter,
) -> Vec<Finding> {
    let mut findings: Vec<Finding> = group::groups(snap)
        .iter()
        .flat_map(|members| rules::check(members, snap, k))
        .collect();
    if let Some(b) = baseline {
        let (remembered, current) = compared(snap, b, filter);
        for change in baseline::diff(&remembered, &current, b.remembers_reach()) {
            findings.push(changes::change(change, snap, b));
        }
    }
    sort(&mut findings, snap);
    findings
}

/// What is compared with a baseline: its entries under the filters, and the current
/// listeners' (`current[i]` describes listener `i`).
fn compared(snap: &Snapshot, b: &Baseline, filter: &Filter) -> (Vec<Entry>, Vec<Entry>) {
    let current: Vec<Entry> = snap.listeners.iter().map(|l| Entry::of(l, snap)).collect();
    // A baseline has no PIDs: with --pid, what the baseline says about the listeners
    // shown is compared (nothing is called new or gone for want of a PID). So it is for a
    // listener shown because its owner is unknown (with --pid or --process it may be the
    // process asked for): whatever the baseline names as its owners, it is the same socket.
    let shown: std::collections::HashSet<_> = current.iter().map(Entry::key).collect();
    let unseen_owner: std::collections::HashSet<_> = snap
        .listeners
        .iter()
        .zip(&current)
        .filter(|(l, _)| l.owners.is_empty())
        .map(|(_, e)| e.key())
        .collect();
    let remembered: Vec<Entry> = b
        .listeners
        .iter()
        .filter(|e| {
            wants_entry(filter, e)
                || (filter.pid.is_some() && shown.contains(&e.key()))
                || unseen_owner.contains(&e.key())
        })
        .cloned()
        .collect();
    (remembered, current)
}

/// A note on the listeners here and in the baseline whose owners one of the two runs did not
/// see (another user's, as a user other than root; exited, replaced or covered during the
/// scan; not read in time): what holds them was not compared, neither called changed nor
/// the same.
pub fn not_compared_note(snap: &Snapshot, b: &Baseline, filter: &Filter) -> Option<String> {
    let (remembered, current) = compared(snap, b, filter);
    let unseen = baseline::not_compared(&remembered, &current, b.remembers_reach());
    if unseen.is_empty() {
        return None;
    }
    let named: Vec<String> = unseen
        .iter()
        .take(8)
        .filter_map(|&i| snap.listeners.get(i))
        .map(|l| format!("{} {}", l.socket.protocol, l.endpoint()))
        .collect();
    let more = match unseen.len().saturating_sub(named.len()) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    Some(format!(
        "the owners of {} listener{} ({}{more}) were not seen in this run or in the baseline \
         (another user's process as a user other than root, or one that exited, changed or \
         was not read in time during the scan): who holds them was not compared",
        unseen.len(),
        if unseen.len() == 1 { "" } else { "s" },
        named.join(", "),
    ))
}

/// A rule that was not judged for some listeners: a setting it needs could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unjudged {
    pub id: &'static str,
    /// What to tell, when no note says it yet.
    pub note: Option<String>,
}

/// The rules not judged for some of the snapshot's listeners: `ephemeral-range` where this
/// machine's ephemeral range, or the reserved ports a listener's port would need, could not
/// be read; `exposed-all-interfaces` for a socket on a loopback address where `route_localnet`
/// could not be read (the snapshot's notes say so already).
pub fn unjudged(snap: &Snapshot, k: &Knowledge) -> Vec<Unjudged> {
    let mut out = Vec::new();
    let mut ports: Vec<u16> = snap
        .listeners
        .iter()
        .map(|l| l.socket.port)
        .filter(|&p| crate::port::ephemeral_unknown(p, k.ephemeral, &k.reserved).is_some())
        .collect();
    ports.sort_unstable();
    ports.dedup();
    if let Some(&first) = ports.first() {
        let note = match k.ephemeral.unread {
            Some(unread) => format!(
                "ephemeral-range was not judged: this machine's ephemeral range is not known \
                 ({unread})"
            ),
            None => format!(
                "ephemeral-range was not judged for {} inside this machine's ephemeral range \
                 {}-{} ({}): whether net.ipv4.ip_local_reserved_ports reserves {} is not known \
                 ({})",
                match ports.len() {
                    1 => format!("port {first}"),
                    n => format!("{n} ports"),
                },
                k.ephemeral.start,
                k.ephemeral.end,
                k.ephemeral.source,
                if ports.len() == 1 { "it" } else { "them" },
                k.reserved.unread.map(|u| u.to_string()).unwrap_or_default()
            ),
        };
        out.push(Unjudged {
            id: "ephemeral-range",
            note: Some(note),
        });
    }
    if snap.listeners.iter().any(|l| l.localnet_unread()) {
        out.push(Unjudged {
            id: "exposed-all-interfaces",
            note: None,
        });
    }
    if let Some(s) = crate::collect::steering::steering().filter(|_| {
        snap.listeners
            .iter()
            .any(|l| matches!(l.reach(), crate::address::Reach::Steerable(_)))
    }) {
        // Its note says which listeners: those other machines do not reach by address.
        let id = "exposed-all-interfaces";
        let note = format!(
            "{id} was not judged for the listeners other machines do not reach by their bind \
             addresses: {} attached to this network namespace may hand them connections to \
             any address and port",
            s.words()
        );
        match out.iter_mut().find(|u| u.id == id) {
            Some(u) => u.note = Some(note),
            None => out.push(Unjudged {
                id,
                note: Some(note),
            }),
        }
    }
    out
}

/// Most severe first, then by port and id.
pub fn sort(findings: &mut [Finding], snap: &Snapshot) {
    crate::model::sort_stable_by(findings, |a, b| {
        let port = |f: &Finding| {
            f.listener(snap)
                .map(|l| l.socket.port)
                .or(f.gone.as_ref().map(|g| g.port))
        };
        b.severity
            .cmp(&a.severity)
            .then(port(a).cmp(&port(b)))
            .then(a.id.cmp(b.id))
    });
}

/// Does a baseline entry fall under the filters (so that its absence now means something)?
fn wants_entry(f: &Filter, e: &Entry) -> bool {
    let Ok(address) = e.address.parse::<std::net::IpAddr>() else {
        return false;
    };
    let protocol_ok = match e.protocol {
        crate::port::Protocol::Tcp => f.tcp,
        crate::port::Protocol::Udp => f.udp,
        crate::port::Protocol::Udplite => f.udplite,
        _ => false,
    };
    let family_ok = if address.is_ipv4() { f.ipv4 } else { f.ipv6 };
    protocol_ok
        && family_ok
        && f.pid.is_none()
        && f.ports
            .as_ref()
            .is_none_or(|r| r.iter().any(|r| r.contains(e.port)))
        && (!f.exposed || Scope::of(address) != Scope::Loopback)
        && f.process.as_ref().is_none_or(|p| {
            let p = p.to_lowercase();
            e.names.iter().any(|n| n.to_lowercase().contains(&p))
        })
        && f.user.as_ref().is_none_or(|u| e.users.contains(u))
}

/// Splits findings into kept and suppressed (`--ignore` ids first, then the config file),
/// then makes one finding per concern of what is kept ([`rules::fold`]).
pub fn suppress(
    findings: Vec<Finding>,
    ignore: &[String],
    config: &Config,
    config_name: &str,
    snap: &Snapshot,
    fail_on: Severity,
) -> Report {
    // Decided first, then the kept ones stay where they are: the findings are not copied
    // into a second list (an audit of 10,000 listeners has tens of thousands).
    let verdicts: Vec<Option<String>> = findings
        .iter()
        .map(|f| {
            if ignore.iter().any(|i| i == f.id) {
                Some(format!("--ignore {}", f.id))
            } else {
                config.accepts(f, snap).map(|a| {
                    a.reason
                        .clone()
                        .unwrap_or_else(|| format!("accepted in {config_name}"))
                })
            }
        })
        .collect();
    let mut suppressed = Vec::new();
    let mut kept = findings;
    let mut verdict = verdicts.into_iter();
    kept.retain(|f| match verdict.next().flatten() {
        Some(by) => {
            suppressed.push(Suppressed {
                finding: f.clone(),
                by,
            });
            false
        }
        None => true,
    });
    let mut kept = rules::fold(kept);
    sort(&mut kept, snap);
    Report {
        findings: kept,
        suppressed,
        listeners_checked: snap.listeners.len(),
        fail_on,
    }
}
