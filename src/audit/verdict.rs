//! The verdict of the port card: for each listener group, who and where, and either the
//! audit's findings about it or why it is fine.

use crate::audit::classify;
use crate::audit::group::{self, endpoint};
use crate::audit::rules::{self, Ctx};
use crate::audit::{Finding, Severity};
use crate::model::{Scope, Snapshot};
use crate::port::Protocol;
use crate::registry::Knowledge;
use crate::render::sanitize::sanitize;

/// One listener group's verdict.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// Indexes of the group's listeners in the snapshot.
    pub listeners: Vec<usize>,
    pub protocol: Protocol,
    /// Each process once: `nginx (pid 812 parent as root; 813, 814 children as www-data)`.
    pub who: String,
    /// `0.0.0.0:80`, `[::]:80`.
    pub addresses: Vec<String>,
    /// PIDs of the owners.
    pub processes: Vec<u32>,
    /// The audit's findings about the group, low and above, most severe first.
    pub findings: Vec<Finding>,
    /// Why it is fine, or what speaks for it (loopback only, the program of the port, a
    /// standard design), whatever the findings.
    pub reasons: Vec<String>,
    /// Why no judgement can be made: the owner is hidden, so whoport cannot tell what
    /// serves the port (only its address and number are known).
    pub unknown: Option<String>,
    /// What an owner's name alone would have made of it, and why that is not established
    /// ("named nginx; its executable /tmp/x/nginx is not the system's nginx").
    pub named: Option<String>,
}

impl Verdict {
    /// No finding at medium or above, and the owners are known.
    pub fn fine(&self) -> bool {
        self.unknown.is_none() && self.findings.iter().all(|f| f.severity < Severity::Medium)
    }

    /// The word for the line: the worst finding's severity at medium or above, `unknown`
    /// when the owner is hidden, else `fine`.
    pub fn word(&self) -> &'static str {
        match self.findings.iter().map(|f| f.severity).max() {
            Some(s) if s >= Severity::Medium => s.as_str(),
            _ if self.unknown.is_some() => "unknown",
            _ => "fine",
        }
    }
}

/// The first reach of these listeners that an sk_lookup program may steer connections to.
fn steered(listeners: &[&crate::model::Listener]) -> Option<crate::address::Reach> {
    listeners
        .iter()
        .map(|l| l.reach())
        .find(|r| matches!(r, crate::address::Reach::Steerable(_)))
}

/// Why who reaches these listeners cannot be judged, where an sk_lookup program may steer
/// connections to them: "fine" would rest on their bind addresses alone.
fn steered_unknown(listeners: &[&crate::model::Listener]) -> Option<String> {
    steered(listeners)?;
    let s = crate::collect::steering::steering()?;
    Some(format!(
        "cannot judge who reaches it: {} attached to this network namespace may hand it \
         connections to any address and port",
        s.words()
    ))
}

/// The program of the port, in words, when the owners are it.
fn assigned(c: &Ctx<'_>) -> Option<String> {
    if let Some(u) = c.listeners[0].known_use {
        return Some(format!(
            "the program known to use this port ({})",
            sanitize(u.program)
        ));
    }
    let class = classify::classify(&c.facts)?;
    (class.implemented_by(&c.facts.processes) && c.facts.iana.iter().any(|n| n == class.key))
        .then(|| format!("the program this port is assigned to ({})", class.key))
}

/// The verdict of every listener group on the snapshot (the card's snapshot: one port).
pub fn verdicts(snap: &Snapshot, k: &Knowledge) -> Vec<Verdict> {
    group::groups(snap)
        .into_iter()
        .map(|members| {
            let c = rules::context(&members, snap, k);
            let mut all = rules::fold(rules::check(&members, snap, k));
            crate::audit::sort(&mut all, snap);
            let mut reasons = Vec::new();
            if c.listeners.iter().all(|l| l.scope == Scope::Loopback) {
                // From /proc/net the device is not known, route_localnet may be unread: say
                // what the reach says.
                let loopback = crate::address::Reach::Loopback;
                match c
                    .listeners
                    .iter()
                    .map(|l| l.reach())
                    .find(|r| *r != loopback)
                {
                    Some(r) => reasons.push(r.long()),
                    None => reasons.push(loopback.long()),
                }
            } else if c.listeners.iter().all(|l| !l.scope.is_exposed()) {
                reasons.push(steered(&c.listeners).map_or_else(
                    || "not reachable from other machines".to_string(),
                    |r| r.long(),
                ));
            }
            if let Some(a) = assigned(&c) {
                reasons.push(a);
            }
            for f in all.iter().filter(|f| f.severity == Severity::Info) {
                if f.id == "exposed-all-interfaces" {
                    reasons.push(public_reason(&f.message));
                }
            }
            if let Some(d) = all.iter().find_map(|f| f.design.clone()) {
                reasons.push(format!("root by design: {d}"));
            }
            reasons.dedup();
            // Without its owners, a port number and an address are all there is: nothing
            // says what really serves it, so nothing says it is fine.
            let unread: Vec<String> = c
                .owners
                .iter()
                .filter(|p| p.uid.is_none() && p.exe.is_none() && p.cmdline.is_empty())
                .map(|p| p.pid.to_string())
                .collect();
            let unknown = if c.owners.is_empty() {
                let reason = c.listeners.iter().find_map(|l| l.hidden_reason.as_deref());
                Some(match reason {
                    // Established: no process to judge, the kernel serves it.
                    Some(crate::model::Hidden::Kernel) => "cannot judge what serves it: no \
                         process has it open (the kernel made it for itself)"
                        .to_string(),
                    _ => format!(
                        "cannot judge what serves it: the owner is hidden ({})",
                        reason.map_or("its owner is not known", |h| h.short())
                    ),
                })
            } else if !unread.is_empty() {
                // A process whose details did not arrive (--timeout) has no known user or
                // executable: what it runs as cannot be judged.
                Some(format!(
                    "cannot judge what serves it: the details of pid {} were not read",
                    unread.join(", ")
                ))
            } else if c.listeners.iter().any(|l| l.localnet_unread()) {
                // Who reaches it is not established: "fine" would rest on a setting not read.
                Some(
                    "cannot judge who reaches it: route_localnet could not be read (where it \
                     is on, a device's network reaches loopback addresses)"
                        .to_string(),
                )
            } else {
                steered_unknown(&c.listeners)
            };
            Verdict {
                protocol: c.listeners[0].socket.protocol,
                who: group::who_of(&c.owners, &c.listeners),
                addresses: c.listeners.iter().map(|l| endpoint(l)).collect(),
                processes: c.owners.iter().map(|p| p.pid).collect(),
                findings: all
                    .into_iter()
                    .filter(|f| f.severity > Severity::Info)
                    .collect(),
                listeners: members,
                named: if assigned(&c).is_none() {
                    rules::name_only(&c)
                } else {
                    None
                },
                reasons,
                unknown,
            }
        })
        .collect()
}

/// "meant to face the network, as a web server (http)" from the info finding's message.
fn public_reason(message: &str) -> String {
    match message.split_once(", as ") {
        Some((_, what)) => format!(
            "meant to face the network, as {}",
            what.trim_end_matches(" is meant to be")
        ),
        None => "meant to face the network".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_reasons_read_well() {
        assert_eq!(
            public_reason(
                "tcp 0.0.0.0:80 of nginx (pid 1 as root) is reachable on all interfaces, as a \
                 web server (http) is meant to be"
            ),
            "meant to face the network, as a web server (http)"
        );
        assert_eq!(public_reason("other"), "meant to face the network");
    }
}
