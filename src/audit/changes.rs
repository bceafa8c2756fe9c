//! What changed since a baseline: `new-listener`, `gone-listener`, `owner-changed`.

use crate::audit::baseline::{Baseline, Change, Entry};
use crate::audit::{Finding, Severity};
use crate::model::Snapshot;
use crate::render::sanitize::sanitize;

fn entry_text(e: &Entry) -> String {
    let (addr, family) = match e.address.parse::<std::net::IpAddr>() {
        // An IPv6 wildcard says which families it takes, where that was read.
        Ok(ip) => (
            crate::address::host(ip, e.device.as_deref()),
            match (ip.is_ipv6() && ip.is_unspecified(), e.v6only) {
                (true, Some(true)) => ", IPv6 only",
                (true, Some(false)) => ", IPv4 and IPv6",
                _ => "",
            },
        ),
        Err(_) => (e.address.clone(), ""),
    };
    let names = if e.names.is_empty() {
        "no process seen".to_string()
    } else {
        e.names.join(", ")
    };
    sanitize(&format!(
        "{} {addr}:{}{family} ({names})",
        e.protocol, e.port
    ))
    .into_owned()
}

/// `new-listener`, `gone-listener`, `owner-changed`: what changed since the baseline.
pub fn change(change: Change, snap: &Snapshot, b: &Baseline) -> Finding {
    let since = format!("the baseline of {}", sanitize(&b.created));
    let now = |i: usize| {
        snap.listeners
            .get(i)
            .map(|l| entry_text(&Entry::of(l, snap)))
    };
    match change {
        Change::New(i) => Finding {
            id: "new-listener",
            severity: Severity::Medium,
            listeners: vec![i],
            gone: None,
            reasons: Vec::new(),
            design: None,
            message: format!("{} is new since {since}", now(i).unwrap_or_default()),
            hint: "if it is expected, save a new baseline with --save-baseline".to_string(),
        },
        Change::Gone(e) => Finding {
            id: "gone-listener",
            severity: Severity::Info,
            listeners: Vec::new(),
            reasons: Vec::new(),
            design: None,
            message: format!("{} was listening in {since} and is gone", entry_text(&e)),
            gone: Some(Box::new(e)),
            hint: "if a service stopped unexpectedly, check it; otherwise save a new baseline"
                .to_string(),
        },
        Change::OwnerChanged {
            index,
            before,
            exe_changed,
        } => {
            let what = |e: &Entry| {
                sanitize(&format!(
                    "{} as {}",
                    if e.exes.is_empty() && e.names.is_empty() {
                        "an owner not seen".to_string()
                    } else if e.exes.is_empty() {
                        e.names.join(", ")
                    } else {
                        e.exes.join(", ")
                    },
                    if e.users.is_empty() {
                        "an unknown user".to_string()
                    } else {
                        e.users.join(", ")
                    }
                ))
                .into_owned()
            };
            let current = snap.listeners.get(index).map(|l| Entry::of(l, snap));
            Finding {
                id: "owner-changed",
                severity: if exe_changed {
                    Severity::High
                } else {
                    Severity::Medium
                },
                listeners: vec![index],
                gone: None,
                reasons: Vec::new(),
                design: None,
                message: format!(
                    "{} is held by {} now, by {} in {since}",
                    now(index).unwrap_or_default(),
                    current.as_ref().map(what).unwrap_or_default(),
                    what(&before)
                ),
                hint: if exe_changed {
                    "another program holds the port: make sure it is the one you expect, then \
                     save a new baseline"
                        .to_string()
                } else {
                    "the same program runs under another name or user: check why, then save a \
                     new baseline"
                        .to_string()
                },
            }
        }
    }
}
