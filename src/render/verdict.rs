//! The verdict lines that open a port card, and their JSON.

use std::io::{self, Write};

use serde::Serialize;

use crate::audit::group::and_list;
use crate::audit::verdict::Verdict;
use crate::audit::Severity;
use crate::config::Output;
use crate::port::Protocol;
use crate::render::fit::{words, wrap_width, wrap_words, write_after};
use crate::render::sanitize::{sanitize, width};
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
        // On a terminal the line wraps at its width, its head too (a description of many
        // processes, or of an owner not seen, is longer than a narrow terminal), each word
        // painted as the whole would be; in a pipe it is one line.
        if let Some(cols) = wrap_width(out) {
            let plain = |text: &str| -> Vec<(String, usize)> {
                words(text).map(|w| (w.to_string(), width(w))).collect()
            };
            let mut words: Vec<(String, usize)> = words(&v.who)
                .map(|w| match w {
                    "" => (String::new(), 0),
                    w => (paint(out, w, "1"), width(w)),
                })
                .collect();
            words.extend(plain(&format!(
                "on {} {}:",
                v.protocol,
                and_list(&v.addresses)
            )));
            words.push((painted.clone(), width(word)));
            words.extend(plain(&sanitize(&why)));
            for line in wrap_words(&words, cols, 4) {
                writeln!(w, "{line}")?;
            }
        } else {
            writeln!(
                w,
                "{} on {} {}: {painted}{}",
                paint(out, &v.who, "1"),
                v.protocol,
                and_list(&v.addresses),
                sanitize(&why)
            )?;
        }
        for f in &v.findings {
            let label = format!(
                "  {} {}: ",
                paint(out, f.severity.as_str(), style(f.severity)),
                f.id
            );
            // (The columns of the label as shown: its unpainted text.)
            let shown = width(&format!("  {} {}: ", f.severity.as_str(), f.id));
            write_after(w, out, (&label, shown), &sanitize(&f.message), 6)?;
            write_after(w, out, ("      fix: ", 11), &sanitize(&f.hint), 8)?;
        }
        if !v.fine() && !v.reasons.is_empty() {
            let reasons = sanitize(&v.reasons.join("; ")).into_owned();
            write_after(w, out, ("  in its favour: ", 17), &reasons, 4)?;
        }
        if let Some(named) = &v.named {
            write_after(w, out, ("  not established: ", 19), &sanitize(named), 4)?;
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
