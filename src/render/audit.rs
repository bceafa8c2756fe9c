//! Audit output: findings for people (grouped by severity), JSON, and the Prometheus text
//! format for node_exporter's textfile collector.

use crate::hash::HashMap;
use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use crate::audit::baseline::Entry;
use crate::audit::{Finding, Report, Severity, Suppressed, IDS};
use crate::config::Output;
use crate::model::Snapshot;
use crate::registry::Knowledge;
use crate::render::fit::write_after;
use crate::render::json::{ListenerDoc, OwnerDoc, SCHEMA_VERSION};
use crate::render::sanitize::{sanitize, width};
use crate::render::table::paint;

fn severity_style(s: Severity) -> &'static str {
    match s {
        Severity::High => "1;31",
        Severity::Medium => "33",
        Severity::Low => "36",
        Severity::Info => "2",
    }
}

/// The one-line summary: counts per severity, suppressed, listeners checked.
pub fn summary_line(r: &Report) -> String {
    let counts: Vec<String> = Severity::ALL
        .iter()
        .map(|&s| format!("{} {}", r.count(s), s.as_str()))
        .collect();
    let n = r.listeners_checked;
    format!(
        "{} · {} suppressed · {n} listener{} checked",
        counts.join(", "),
        r.suppressed.len(),
        if n == 1 { "" } else { "s" }
    )
}

/// Findings grouped by severity, most severe first, each with its hint.
pub fn table(w: &mut dyn Write, out: &Output, r: &Report) -> io::Result<()> {
    for s in Severity::ALL {
        let group: Vec<&Finding> = r.findings.iter().filter(|f| f.severity == s).collect();
        if group.is_empty() {
            continue;
        }
        let title = format!("{} ({})", s.as_str().to_uppercase(), group.len());
        writeln!(w, "{}", paint(out, &title, severity_style(s)))?;
        // On a terminal each line wraps at its width, under its own label.
        for f in group {
            let id = format!("  {}  ", paint(out, f.id, "1"));
            write_after(w, out, (&id, 4 + width(f.id)), &sanitize(&f.message), 6)?;
            for r in &f.reasons {
                write_after(w, out, ("      also: ", 12), &sanitize(r), 8)?;
            }
            if let Some(d) = &f.design {
                write_after(w, out, ("      not root-exposed: ", 24), &sanitize(d), 8)?;
            }
            write_after(w, out, ("      fix: ", 11), &sanitize(&f.hint), 8)?;
        }
        writeln!(w)?;
    }
    if r.findings.is_empty() {
        writeln!(w, "No findings.")?;
    }
    write_after(w, out, ("", 0), &summary_line(r), 2)
}

#[derive(Debug, Serialize)]
struct FindingDoc<'a> {
    id: &'static str,
    severity: Severity,
    message: &'a str,
    hint: &'a str,
    /// The first listener concerned (as in the listing's JSON); `null` for gone-listener.
    listener: Option<ListenerDoc<'a>>,
    /// Every listener of the group concerned (the IPv4 and IPv6 sockets of one service).
    listeners: Vec<ListenerDoc<'a>>,
    /// Other findings of the same concern folded into this one.
    reasons: &'a [String],
    /// Why running as root is a standard design here (so not root-exposed), or null.
    standard_design: Option<&'a str>,
    /// For gone-listener: what the baseline remembered.
    baseline_entry: Option<&'a Entry>,
    /// For suppressed findings: by what.
    #[serde(skip_serializing_if = "Option::is_none")]
    suppressed_by: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct SummaryDoc {
    high: usize,
    medium: usize,
    low: usize,
    info: usize,
    suppressed: usize,
    listeners: usize,
    fail_on: Severity,
    failed: bool,
}

#[derive(Serialize)]
struct AuditDoc<'a> {
    schema_version: u32,
    findings: FindingDocs<'a>,
    suppressed: FindingDocs<'a>,
    summary: SummaryDoc,
    /// What whoport could not see or did differently, as in the listing.
    notes: &'a [String],
}

/// Findings as a JSON array, each object made as it is written and dropped at once (an audit
/// of 10,000 listeners has as many findings, each with its listeners).
struct FindingDocs<'a> {
    list: List<'a>,
    snap: &'a Snapshot,
    owners: &'a HashMap<u32, OwnerDoc<'a>>,
    k: &'a Knowledge,
}

enum List<'a> {
    Kept(&'a [Finding]),
    Suppressed(&'a [Suppressed]),
}

impl Serialize for FindingDocs<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (snap, owners, k) = (self.snap, self.owners, self.k);
        match self.list {
            List::Kept(findings) => serializer.collect_seq(
                findings
                    .iter()
                    .map(|f| finding_doc(f, None, snap, owners, k)),
            ),
            List::Suppressed(suppressed) => {
                serializer.collect_seq(suppressed.iter().map(|Suppressed { finding, by }| {
                    finding_doc(finding, Some(by), snap, owners, k)
                }))
            }
        }
    }
}

fn finding_doc<'a>(
    f: &'a Finding,
    by: Option<&'a str>,
    snap: &'a Snapshot,
    owners: &'a HashMap<u32, OwnerDoc<'a>>,
    k: &Knowledge,
) -> FindingDoc<'a> {
    FindingDoc {
        id: f.id,
        severity: f.severity,
        message: &f.message,
        hint: &f.hint,
        listener: f.listener(snap).map(|l| ListenerDoc::new(l, owners, k)),
        listeners: f
            .all_listeners(snap)
            .map(|l| ListenerDoc::new(l, owners, k))
            .collect(),
        reasons: &f.reasons,
        standard_design: f.design.as_deref(),
        baseline_entry: f.gone.as_deref(),
        suppressed_by: by,
    }
}

/// `whoport audit --json`.
pub fn json(
    w: &mut dyn Write,
    pretty: bool,
    r: &Report,
    snap: &Snapshot,
    k: &Knowledge,
) -> io::Result<()> {
    let owners = crate::render::json::owner_docs(snap);
    let doc = AuditDoc {
        schema_version: SCHEMA_VERSION,
        findings: FindingDocs {
            list: List::Kept(&r.findings),
            snap,
            owners: &owners,
            k,
        },
        suppressed: FindingDocs {
            list: List::Suppressed(&r.suppressed),
            snap,
            owners: &owners,
            k,
        },
        summary: SummaryDoc {
            high: r.count(Severity::High),
            medium: r.count(Severity::Medium),
            low: r.count(Severity::Low),
            info: r.count(Severity::Info),
            suppressed: r.suppressed.len(),
            listeners: r.listeners_checked,
            fail_on: r.fail_on,
            failed: r.failed(),
        },
        notes: &snap.notes,
    };
    crate::render::json::write(w, pretty, &doc)
}

/// A label value in the exposition format: backslash, double quote and newline escaped
/// (the format's rules), and every other control character made visible first.
pub fn label_value(text: &str) -> String {
    let visible = sanitize(text);
    let mut out = String::with_capacity(visible.len());
    for c in visible.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", label_value(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// `whoport audit --format prometheus`: listeners by protocol and scope, findings by id and
/// severity (suppressed ones apart), one info series per listener, and when it ran.
pub fn prometheus(
    w: &mut dyn Write,
    r: &Report,
    snap: &Snapshot,
    k: &Knowledge,
    now: u64,
) -> io::Result<()> {
    writeln!(
        w,
        "# HELP whoport_listeners Listening TCP and bound UDP sockets, by protocol and scope."
    )?;
    writeln!(w, "# TYPE whoport_listeners gauge")?;
    let mut by_scope: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for l in &snap.listeners {
        *by_scope
            .entry((l.socket.protocol.as_str(), l.scope.as_str()))
            .or_default() += 1;
    }
    for ((protocol, scope), n) in &by_scope {
        writeln!(
            w,
            "whoport_listeners{} {n}",
            labels(&[("protocol", protocol), ("scope", scope)])
        )?;
    }

    writeln!(
        w,
        "# HELP whoport_findings Unsuppressed audit findings, by id and severity."
    )?;
    writeln!(w, "# TYPE whoport_findings gauge")?;
    let mut by_id: BTreeMap<(&str, &str), (usize, usize)> = BTreeMap::new();
    for id in IDS {
        // Every id appears, so that alerts see a 0 rather than an absent series.
        let severity = default_severity(id);
        by_id.entry((id, severity.as_str())).or_default();
    }
    for f in &r.findings {
        by_id.entry((f.id, f.severity.as_str())).or_default().0 += 1;
    }
    for s in &r.suppressed {
        by_id
            .entry((s.finding.id, s.finding.severity.as_str()))
            .or_default()
            .1 += 1;
    }
    for ((id, severity), (n, _)) in &by_id {
        writeln!(
            w,
            "whoport_findings{} {n}",
            labels(&[("id", id), ("severity", severity)])
        )?;
    }
    writeln!(w, "# HELP whoport_findings_suppressed Audit findings accepted by a suppression, by id and severity.")?;
    writeln!(w, "# TYPE whoport_findings_suppressed gauge")?;
    for ((id, severity), (_, n)) in &by_id {
        writeln!(
            w,
            "whoport_findings_suppressed{} {n}",
            labels(&[("id", id), ("severity", severity)])
        )?;
    }

    writeln!(w, "# HELP whoport_listener_info One series per listener; the value counts sockets with these labels.")?;
    writeln!(w, "# TYPE whoport_listener_info gauge")?;
    let mut info: BTreeMap<Vec<(&str, String)>, usize> = BTreeMap::new();
    for l in &snap.listeners {
        let process = l
            .owners
            .first()
            .and_then(|p| snap.processes.get(p))
            .map_or_else(|| "(hidden)".to_string(), |p| p.name.clone());
        let service = k
            .iana
            .service_name(l.socket.port, l.socket.protocol)
            .map_or_else(String::new, |s| s.into_owned());
        let key = vec![
            ("port", l.socket.port.to_string()),
            ("protocol", l.socket.protocol.as_str().to_string()),
            ("address", l.host()),
            ("endpoint", l.endpoint()),
            ("scope", l.scope.as_str().to_string()),
            ("process", process),
            ("service", service),
        ];
        *info.entry(key).or_default() += 1;
    }
    for (key, n) in &info {
        let pairs: Vec<(&str, &str)> = key.iter().map(|(k, v)| (*k, v.as_str())).collect();
        writeln!(w, "whoport_listener_info{} {n}", labels(&pairs))?;
    }

    writeln!(
        w,
        "# HELP whoport_findings_not_judged 1 when a rule was not judged for some listener: a \
         setting it needs could not be read."
    )?;
    writeln!(w, "# TYPE whoport_findings_not_judged gauge")?;
    let unjudged = crate::audit::unjudged(snap, k);
    for id in IDS {
        let n = u8::from(unjudged.iter().any(|u| u.id == *id));
        writeln!(
            w,
            "whoport_findings_not_judged{} {n}",
            labels(&[("id", id)])
        )?;
    }

    writeln!(
        w,
        "# HELP whoport_audit_failed 1 when an unsuppressed finding reached --fail-on."
    )?;
    writeln!(w, "# TYPE whoport_audit_failed gauge")?;
    writeln!(w, "whoport_audit_failed {}", u8::from(r.failed()))?;
    writeln!(
        w,
        "# HELP whoport_audit_timestamp_seconds When the audit ran (Unix time)."
    )?;
    writeln!(w, "# TYPE whoport_audit_timestamp_seconds gauge")?;
    writeln!(w, "whoport_audit_timestamp_seconds {now}")?;
    Ok(())
}

/// The severity an id has when no context changes it (for the zero series).
fn default_severity(id: &str) -> Severity {
    DEFAULT_SEVERITY
        .iter()
        .find(|(known, _)| *known == id)
        .map_or(Severity::Info, |(_, severity)| *severity)
}

/// The severity each finding id has when it fires (or most often, where it varies): the one
/// its always-present series carries with a 0. Every id of [`crate::audit::IDS`] is here.
const DEFAULT_SEVERITY: [(&str, Severity); 13] = [
    ("exposed-all-interfaces", Severity::Medium),
    ("unassigned-port", Severity::Low),
    ("service-mismatch", Severity::Medium),
    ("ephemeral-range", Severity::Low),
    ("deleted-executable", Severity::High),
    ("restart-pending", Severity::Low),
    ("root-exposed", Severity::Medium),
    ("shell-listener", Severity::High),
    ("hidden-owner", Severity::Info),
    ("hidden-process", Severity::High),
    ("new-listener", Severity::Medium),
    ("gone-listener", Severity::Info),
    ("owner-changed", Severity::High),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_finding_id_has_the_severity_of_its_zero_series() {
        for id in crate::audit::IDS {
            assert!(
                DEFAULT_SEVERITY.iter().any(|(known, _)| known == id),
                "{id} has no default severity"
            );
        }
        assert_eq!(DEFAULT_SEVERITY.len(), crate::audit::IDS.len());
        assert_eq!(default_severity("hidden-process"), Severity::High);
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label_value("plain"), "plain");
        assert_eq!(label_value("a\"b"), "a\\\"b");
        assert_eq!(label_value("back\\slash"), "back\\\\slash");
        // Control characters are made visible by the sanitizer, then its backslash escaped.
        assert_eq!(label_value("two\nlines"), "two\\\\nlines");
        assert_eq!(label_value("esc\u{1b}[2J"), "esc\\\\e[2J");
    }
}
