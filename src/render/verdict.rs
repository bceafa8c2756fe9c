//! The verdict lines that open a port card, and their JSON.

use std::io::{self, Write};

use serde::Serialize;

use crate::audit::group::and_list;
use crate::audit::verdict::Verdict;
use crate::audit::Severity;
use crate::config::Output;
use crate::port::Protocol;
use crate::render::sanitize::sanitize;
use crate::render::table::paint;

fn style(s: Severity) -> &'static str {
    match s {
        Severity::High => "1;31",
        Severity::Medium => "33",
        Severity::Low => "36",
        Severity::Info => "2",
    }
}

/// One line per listener group: who, where, and the verdict; then each finding with its fix
/// (or why it is fine).
pub fn text(w: &mut dyn Write, out: &Output, verdicts: &[Verdict]) -> io::Result<()> {
    for v in verdicts {
        let word = v.word();
        let painted = match v.findings.iter().map(|f| f.severity).max() {
            Some(s) if s >= Severity::Medium => paint(out, word, style(s)),
            _ if v.unknown.is_some() => paint(out, word, "33"),
            _ => paint(out, word, "1;32"),
        };
        let why = if v.fine() && !v.reasons.is_empty() {
            format!(" — {}", v.reasons.join("; "))
        } else if let (Some(unknown), "unknown") = (&v.unknown, word) {
            format!(" — {unknown}")
        } else {
            String::new()
        };
        writeln!(
            w,
            "{} on {} {}: {painted}{}",
            paint(out, &v.who, "1"),
            v.protocol,
            and_list(&v.addresses),
            sanitize(&why)
        )?;
        for f in &v.findings {
            writeln!(
                w,
                "  {} {}: {}",
                paint(out, f.severity.as_str(), style(f.severity)),
                f.id,
                sanitize(&f.message)
            )?;
            writeln!(w, "      fix: {}", sanitize(&f.hint))?;
        }
        if !v.fine() && !v.reasons.is_empty() {
            writeln!(w, "  in its favour: {}", sanitize(&v.reasons.join("; ")))?;
        }
        if let Some(named) = &v.named {
            writeln!(w, "  not established: {}", sanitize(named))?;
        }
    }
    Ok(())
}

/// A finding in a verdict.
#[derive(Debug, Serialize)]
pub struct VerdictFindingDoc<'a> {
    pub id: &'static str,
    pub severity: Severity,
    pub message: &'a str,
    pub hint: &'a str,
    pub reasons: &'a [String],
}

/// A verdict in the card's JSON.
#[derive(Debug, Serialize)]
pub struct VerdictDoc<'a> {
    pub protocol: Protocol,
    /// Each process once, as on the card.
    pub who: &'a str,
    /// The group's sockets, in the one address notation.
    pub addresses: &'a [String],
    /// PIDs of the owning processes.
    pub processes: &'a [u32],
    /// No finding at medium or above, and the owners are known.
    pub fine: bool,
    /// `"fine"`, `"unknown"` (owner hidden), or the worst finding's severity.
    pub verdict: &'static str,
    /// Why no judgement can be made (the owner is hidden), or null.
    pub unknown: Option<&'a str>,
    /// Why it is fine, or what speaks for it.
    pub reasons: &'a [String],
    /// What an owner's name alone would have made of it, and why that is not established;
    /// or null.
    pub named: Option<&'a str>,
    /// The audit's findings about the group, low and above.
    pub findings: Vec<VerdictFindingDoc<'a>>,
}

impl<'a> VerdictDoc<'a> {
    pub fn new(v: &'a Verdict) -> VerdictDoc<'a> {
        VerdictDoc {
            protocol: v.protocol,
            who: &v.who,
            addresses: &v.addresses,
            processes: &v.processes,
            fine: v.fine(),
            verdict: v.word(),
            unknown: v.unknown.as_deref(),
            reasons: &v.reasons,
            named: v.named.as_deref(),
            findings: v
                .findings
                .iter()
                .map(|f| VerdictFindingDoc {
                    id: f.id,
                    severity: f.severity,
                    message: &f.message,
                    hint: &f.hint,
                    reasons: &f.reasons,
                })
                .collect(),
        }
    }
}
