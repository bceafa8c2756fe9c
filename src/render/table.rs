//! Human output: the port card, range summaries and registry listings, through comfy-table.
//! Every piece of text from outside whoport goes through the sanitizer first.

use std::io::{self, Write};

use comfy_table::{presets, Attribute, Cell, Color, ContentArrangement, Table};

use crate::config::Output;
use crate::port::{EphemeralRange, Protocol, Tier};
use crate::registry::iana::{Entry, IanaTable, Origin, PortStatus, Status};
use crate::registry::unofficial::UnofficialUse;
use crate::registry::{PortReport, SearchResults};
use crate::render::sanitize::{sanitize, sanitize_lines};

/// A table with whoport's look, told what the run decided about colour and width.
pub fn new_table(out: &Output, header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .apply_modifier(comfy_table::modifiers::UTF8_ROUND_CORNERS);
    t.force_no_tty();
    if out.color {
        t.enforce_styling();
        // comfy-table's colours go through crossterm, which drops them under NO_COLOR on its
        // own: the run has already decided (`--color always` wins), so it is told so.
        crossterm::style::force_color_output(true);
    }
    match out.width {
        Some(w) => {
            t.set_width(w);
            t.set_content_arrangement(ContentArrangement::Dynamic);
        }
        None => {
            t.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    t.set_header(
        header
            .iter()
            .map(|h| styled(out, h, Some(Attribute::Bold), None)),
    );
    t
}

/// A cell, styled only when colour is on.
pub fn styled(out: &Output, text: &str, attr: Option<Attribute>, fg: Option<Color>) -> Cell {
    let mut cell = Cell::new(text);
    if out.color {
        if let Some(a) = attr {
            cell = cell.add_attribute(a);
        }
        if let Some(c) = fg {
            cell = cell.fg(c);
        }
    }
    cell
}

/// Text with an ANSI style when colour is on (for lines outside tables).
pub fn paint(out: &Output, text: &str, code: &str) -> String {
    if out.color {
        format!("\u{1b}[{code}m{text}\u{1b}[0m")
    } else {
        text.to_string()
    }
}

fn status_color(s: Status) -> Color {
    match s {
        Status::Assigned => Color::Green,
        Status::Reserved => Color::Yellow,
        Status::Unassigned => Color::DarkGrey,
        Status::Dynamic => Color::Cyan,
    }
}

/// "registered (1024-49151)".
pub fn tier_text(tier: Tier) -> String {
    let (a, b) = tier.bounds();
    format!("{tier} ({a}-{b})")
}

/// "tcp: assigned (http, www, www-http)".
fn status_summary(s: &PortStatus<'_>) -> String {
    let mut names: Vec<String> = s
        .services
        .iter()
        .map(|e| bounded(sanitize(&e.name()).into_owned()))
        .collect();
    names.dedup();
    if names.is_empty() {
        format!("{}: {}", s.protocol, s.status.as_str())
    } else {
        format!(
            "{}: {} ({})",
            s.protocol,
            s.status.as_str(),
            names.join(", ")
        )
    }
}

/// The headline of a port card.
///
/// `programs`: the known programs found listening on the port (see [`known_use_text`]).
pub fn headline(out: &Output, r: &PortReport<'_>, programs: &[&UnofficialUse]) -> String {
    let parts = headline_parts(out, r, programs);
    // On a terminal the parts fill its width, the lines after the first indented; a part is
    // never broken.
    let Some(cols) = crate::render::fit::wrap_width(out) else {
        let parts: Vec<&str> = parts.iter().map(|(p, _)| p.as_str()).collect();
        return parts.join(" · ");
    };
    let mut text = String::new();
    let mut used = 0;
    for (i, (part, shown)) in parts.iter().enumerate() {
        // A part that another follows leaves room for the " ·" that ends its line.
        let tail = if i + 1 < parts.len() { 2 } else { 0 };
        if i > 0 && used + 3 + shown + tail > cols {
            text.push_str(" ·\n  ");
            used = 2;
        } else if i > 0 {
            text.push_str(" · ");
            used += 3;
        }
        text.push_str(part);
        used += shown;
    }
    text
}

/// The headline's parts, each as written (painted or not) and the columns it takes.
fn headline_parts(
    out: &Output,
    r: &PortReport<'_>,
    programs: &[&UnofficialUse],
) -> Vec<(String, usize)> {
    let plain = |text: String| {
        let shown = crate::render::sanitize::width(&text);
        (text, shown)
    };
    let bold = |text: String| {
        let shown = crate::render::sanitize::width(&text);
        (paint(out, &text, "1"), shown)
    };
    let mut names: Vec<String> = Vec::new();
    for name in programs.iter().map(|u| known_use_text(u)) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let mut parts = vec![bold(format!("Port {}", r.port))];
    if !names.is_empty() {
        parts.push(bold(names.join(", ")));
    }
    parts.push(plain(tier_text(r.tier)));
    parts.extend(r.registry.iter().map(status_summary).map(plain));
    parts
}

/// A matched known program as the listing and the card show it: its name with a `*`, which
/// says it is not the IANA name.
pub fn known_use_text(u: &UnofficialUse) -> String {
    format!("{}*", u.program)
}

/// The legend for a `*` after a name.
pub const KNOWN_USE_LEGEND: &str =
    "* a known program of this port, recognised by its process (not the IANA service name)";

/// "default", or "conventional (Jaeger v1 only)".
fn role_text(u: &UnofficialUse) -> String {
    match u.versions {
        Some(v) => format!("{} ({v})", u.role.as_str()),
        None => u.role.as_str().to_string(),
    }
}

/// One row of the registry section: entries identical but for their protocol share a row.
struct Group<'a> {
    protocols: Vec<Protocol>,
    entry: Entry<'a>,
}

fn same_but_protocol(a: &Entry<'_>, b: &Entry<'_>) -> bool {
    a.ports == b.ports
        && a.name() == b.name()
        && a.description() == b.description()
        && a.assignee() == b.assignee()
        && a.reference() == b.reference()
        && a.registration_date() == b.registration_date()
        && a.modification_date() == b.modification_date()
        && same_lines(&a.notes(), &b.notes())
        && a.unauthorized_use() == b.unauthorized_use()
}

/// Equal but for indentation (IANA repeats notes for TCP and UDP, indented differently).
fn same_lines(a: &str, b: &str) -> bool {
    a.lines().map(str::trim).eq(b.lines().map(str::trim))
}

fn group<'a>(statuses: &[PortStatus<'a>], services: bool) -> Vec<Group<'a>> {
    let mut groups: Vec<Group<'a>> = Vec::new();
    for s in statuses {
        let entries = if services { &s.services } else { &s.remarks };
        for e in entries {
            match groups.iter_mut().find(|g| same_but_protocol(&g.entry, e)) {
                Some(g) if !g.protocols.contains(&s.protocol) => g.protocols.push(s.protocol),
                Some(_) => {}
                None => groups.push(Group {
                    protocols: vec![s.protocol],
                    entry: *e,
                }),
            }
        }
    }
    groups
}

fn protocols_text(ps: &[Protocol]) -> String {
    ps.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
}

fn dates_text(e: &Entry<'_>) -> String {
    match (e.registration_date(), e.modification_date()) {
        (r, m) if r.is_empty() && m.is_empty() => "-".to_string(),
        (r, m) if m.is_empty() => format!("registered {}", sanitize(&r)),
        (r, m) if r.is_empty() => format!("modified {}", sanitize(&m)),
        (r, m) => format!("registered {}\nmodified {}", sanitize(&r), sanitize(&m)),
    }
}

fn or_dash(s: &str) -> String {
    if s.trim().is_empty() {
        "-".to_string()
    } else {
        bounded(sanitize(s).into_owned())
    }
}

/// A registry cell cut to the listing's [`CELL_MAX`](crate::render::listing::CELL_MAX)
/// columns: an installed table may hold long fields, and laying out a table costs time in
/// proportion to its cells (`--json` keeps the whole text).
fn bounded(text: String) -> String {
    use crate::render::{fit, listing::CELL_MAX};
    if text.len() > CELL_MAX && fit::widest(&text) > CELL_MAX {
        fit::lines(&text, CELL_MAX)
    } else {
        text
    }
}

/// `text`, sanitized, followed by the entry's port range when it covers more than one port.
fn with_range(text: &str, e: &Entry<'_>) -> String {
    let text = bounded(sanitize(text).into_owned());
    match e.ports.filter(|p| !p.is_single()) {
        Some(range) => format!("{text} ({range})"),
        None => text,
    }
}

/// The IANA section of a card.
fn registry_section(
    w: &mut dyn Write,
    out: &Output,
    r: &PortReport<'_>,
    snapshot: &str,
    wide: bool,
) -> io::Result<()> {
    writeln!(
        w,
        "\n{}",
        paint(out, &format!("IANA registry (snapshot {snapshot})"), "1")
    )?;
    let services = group(&r.registry, true);
    let remarks = group(&r.registry, false);
    let mut t = new_table(
        out,
        &[
            "PROTOCOL",
            "SERVICE",
            "DESCRIPTION",
            "REFERENCE",
            "ASSIGNEE",
            "DATES",
        ],
    );
    for g in &services {
        let name = with_range(&g.entry.name(), &g.entry);
        t.add_row(vec![
            Cell::new(protocols_text(&g.protocols)),
            styled(out, &name, Some(Attribute::Bold), Some(Color::Green)),
            Cell::new(or_dash(&g.entry.description())),
            Cell::new(or_dash(&g.entry.reference())),
            Cell::new(or_dash(&g.entry.assignee())),
            Cell::new(dates_text(&g.entry)),
        ]);
    }
    for g in &remarks {
        let desc = with_range(&g.entry.description(), &g.entry);
        t.add_row(vec![
            Cell::new(protocols_text(&g.protocols)),
            styled(out, "(none)", None, Some(Color::DarkGrey)),
            Cell::new(desc),
            Cell::new(or_dash(&g.entry.reference())),
            Cell::new(or_dash(&g.entry.assignee())),
            Cell::new(dates_text(&g.entry)),
        ]);
    }
    let covered: Vec<Protocol> = services
        .iter()
        .chain(&remarks)
        .flat_map(|g| g.protocols.clone())
        .collect();
    for s in r.registry.iter().filter(|s| !covered.contains(&s.protocol)) {
        let text = match s.status {
            Status::Dynamic => "Dynamic/private range: IANA assigns nothing here",
            _ => "No registry entry",
        };
        t.add_row(vec![
            Cell::new(s.protocol.as_str()),
            styled(out, "(none)", None, Some(status_color(s.status))),
            Cell::new(text),
            Cell::new("-"),
            Cell::new("-"),
            Cell::new("-"),
        ]);
    }
    writeln!(w, "{t}")?;
    for g in services.iter().chain(&remarks) {
        let label = bounded(if g.entry.has_name() {
            sanitize(&g.entry.name()).into_owned()
        } else {
            sanitize(&g.entry.description()).into_owned()
        });
        let protocols = protocols_text(&g.protocols);
        for (what, text) in [
            ("unauthorized use reported", g.entry.unauthorized_use()),
            ("note", g.entry.notes()),
        ] {
            let Some(text) = crate::render::notes::shown(&text, r.port, g.entry.ports, wide) else {
                continue;
            };
            let body = sanitize_lines(&text).replace('\n', "\n      ");
            writeln!(w, "  {label} ({protocols}) {what}: {body}")?;
        }
    }
    Ok(())
}

fn local_section(
    w: &mut dyn Write,
    out: &Output,
    r: &PortReport<'_>,
    path: Option<&str>,
) -> io::Result<()> {
    let title = format!(
        "Local services database ({})",
        sanitize(path.unwrap_or("not found"))
    );
    writeln!(w, "\n{}", paint(out, &title, "1"))?;
    if r.local.is_empty() {
        return writeln!(w, "  no entry for {}", r.port);
    }
    for s in &r.local {
        let aliases = if s.aliases.is_empty() {
            String::new()
        } else {
            let a: Vec<String> = s.aliases.iter().map(|a| sanitize(a).into_owned()).collect();
            format!(" (aliases: {})", a.join(", "))
        };
        writeln!(
            w,
            "  {}/{}: {}{aliases}",
            s.port,
            sanitize(&s.protocol),
            sanitize(&s.name)
        )?;
    }
    Ok(())
}

fn unofficial_section(w: &mut dyn Write, out: &Output, r: &PortReport<'_>) -> io::Result<()> {
    writeln!(w, "\n{}", paint(out, "Known unofficial uses", "1"))?;
    if r.unofficial.is_empty() {
        return writeln!(w, "  none known to whoport");
    }
    let mut t = new_table(out, &["PROTOCOL", "PROGRAM", "ROLE", "NOTE", "SOURCE"]);
    for u in &r.unofficial {
        let program = if u.ports.is_single() {
            u.program.to_string()
        } else {
            format!("{} ({})", u.program, u.ports)
        };
        t.add_row(vec![
            Cell::new(u.protocol.as_str()),
            styled(out, &program, Some(Attribute::Bold), None),
            Cell::new(role_text(u)),
            Cell::new(u.note),
            Cell::new(u.source),
        ]);
    }
    writeln!(w, "{t}")
}

/// "inside/outside this machine's ephemeral range", or why that is not known. `reserved`:
/// whether `ip_local_reserved_ports` lists the port, when it could be read.
pub fn ephemeral_text(port: u16, e: EphemeralRange, reserved: Option<bool>) -> String {
    if let Some(unread) = e.unread {
        return format!(
            "Whether outgoing connections may take {port} is not known: this machine's \
             ephemeral range is not known ({unread})."
        );
    }
    if e.contains(port) && reserved.is_none() {
        format!(
            "{port} is inside this machine's ephemeral range {}-{} ({}): outgoing connections may take it unless it is reserved, which is not known (net.ipv4.ip_local_reserved_ports could not be read).",
            e.start, e.end, e.source
        )
    } else if e.contains(port) && reserved == Some(true) {
        format!(
            "{port} is inside this machine's ephemeral range {}-{} ({}), but reserved (ip_local_reserved_ports): outgoing connections never take it.",
            e.start, e.end, e.source
        )
    } else if e.contains(port) {
        format!(
            "{port} is inside this machine's ephemeral range {}-{} ({}): outgoing connections may take it, so a listener here can collide with them.",
            e.start, e.end, e.source
        )
    } else {
        format!(
            "{port} is outside this machine's ephemeral range {}-{} ({}).",
            e.start, e.end, e.source
        )
    }
}

/// The registry half of the port card (after the headline and the live section).
pub fn card_sections(
    w: &mut dyn Write,
    out: &Output,
    r: &PortReport<'_>,
    snapshot: &str,
    local_path: Option<&str>,
    ephemeral: EphemeralRange,
    wide: bool,
) -> io::Result<()> {
    registry_section(w, out, r, snapshot, wide)?;
    local_section(w, out, r, local_path)?;
    unofficial_section(w, out, r)?;
    writeln!(w, "\n{}", paint(out, "Ephemeral range", "1"))?;
    let text = ephemeral_text(r.port, ephemeral, r.reserved_from_ephemeral);
    crate::render::fit::write_after(w, out, ("  ", 2), &text, 2)
}

/// One summary row per port, for ranges and service names.
pub fn port_list(w: &mut dyn Write, out: &Output, reports: &[PortReport<'_>]) -> io::Result<()> {
    let mut t = new_table(
        out,
        &["PORT", "RANGE", "IANA", "LOCAL NAME", "UNOFFICIAL USES"],
    );
    for r in reports {
        let iana: Vec<String> = r.registry.iter().map(status_summary).collect();
        let mut local: Vec<String> = r
            .local
            .iter()
            .map(|s| format!("{}/{}", sanitize(&s.name), sanitize(&s.protocol)))
            .collect();
        local.dedup();
        let unofficial: Vec<String> = r
            .unofficial
            .iter()
            .map(|u| format!("{} ({})", u.program, u.protocol))
            .collect();
        let iana = if iana.is_empty() && !r.span.is_single() {
            vec!["varies by port".to_string()]
        } else {
            iana
        };
        t.add_row(vec![
            styled(out, &r.span.to_string(), Some(Attribute::Bold), None),
            Cell::new(r.tier.as_str()),
            Cell::new(iana.join("\n")),
            Cell::new(if local.is_empty() {
                "-".to_string()
            } else {
                local.join(", ")
            }),
            Cell::new(if unofficial.is_empty() {
                "-".to_string()
            } else {
                unofficial.join("\n")
            }),
        ]);
    }
    writeln!(w, "{t}")
}

/// IANA rows with the queried name but no port.
pub fn portless(w: &mut dyn Write, out: &Output, entries: &[Entry<'_>]) -> io::Result<()> {
    if entries.is_empty() {
        return Ok(());
    }
    writeln!(
        w,
        "\n{}",
        paint(out, "IANA service names without a port", "1")
    )?;
    for e in entries {
        let protocol = e.protocol.map_or("-", Protocol::as_str);
        writeln!(
            w,
            "  {} ({protocol}): {}",
            bounded(sanitize(&e.name()).into_owned()),
            or_dash(&e.description())
        )?;
    }
    Ok(())
}

/// `registry info`.
pub fn registry_info(
    w: &mut dyn Write,
    out: &Output,
    iana: &IanaTable,
    local: (Option<&str>, usize),
    installed: Option<&str>,
) -> io::Result<()> {
    let source = match &iana.origin {
        Origin::Embedded => "embedded snapshot (compiled into whoport)".to_string(),
        Origin::Installed(p) => format!(
            "installed newer registry {}",
            sanitize(&p.display().to_string())
        ),
        Origin::File(p) => format!(
            "file given with --registry: {}",
            sanitize(&p.display().to_string())
        ),
    };
    let mut t = new_table(out, &[]);
    t.add_row(vec![Cell::new("registry in use"), Cell::new(source)]);
    t.add_row(vec![Cell::new("snapshot date"), Cell::new(iana.snapshot())]);
    t.add_row(vec![Cell::new("rows"), Cell::new(iana.len())]);
    let counts: Vec<String> = iana
        .counts()
        .into_iter()
        .map(|(p, n)| format!("{}: {n}", p.map_or("no protocol", Protocol::as_str)))
        .collect();
    t.add_row(vec![
        Cell::new("rows by protocol"),
        Cell::new(counts.join(", ")),
    ]);
    t.add_row(vec![
        Cell::new("rows without a port"),
        Cell::new(iana.portless()),
    ]);
    t.add_row(vec![
        Cell::new("known unofficial uses"),
        Cell::new(crate::registry::unofficial::all().len()),
    ]);
    t.add_row(vec![
        Cell::new("local services"),
        Cell::new(match local.0 {
            None => format!("{} entries in (no file)", local.1),
            // A file there but not read: said as the card says it ("not read: why").
            Some(text) if text.starts_with("not read: ") => {
                format!("{} entries ({})", local.1, sanitize(text))
            }
            Some(path) => format!("{} entries in {}", local.1, sanitize(path)),
        }),
    ]);
    t.add_row(vec![
        Cell::new("newer registry goes to"),
        Cell::new(installed.unwrap_or("(no data directory on this system)")),
    ]);
    writeln!(w, "{t}")
}

/// `registry search`.
pub fn search(w: &mut dyn Write, out: &Output, r: &SearchResults<'_>) -> io::Result<()> {
    let mut t = new_table(out, &["PORT", "PROTOCOL", "SERVICE", "DESCRIPTION"]);
    for e in &r.services {
        t.add_row(vec![
            Cell::new(e.ports.map_or("-".to_string(), |p| p.to_string())),
            Cell::new(e.protocol.map_or("-", Protocol::as_str)),
            styled(
                out,
                &bounded(sanitize(&e.name()).into_owned()),
                Some(Attribute::Bold),
                None,
            ),
            Cell::new(or_dash(&e.description())),
        ]);
    }
    writeln!(
        w,
        "{}",
        paint(
            out,
            &format!("IANA registry: {} matches", r.services.len()),
            "1"
        )
    )?;
    if !r.services.is_empty() {
        writeln!(w, "{t}")?;
    }
    writeln!(
        w,
        "{}",
        paint(
            out,
            &format!("Known unofficial uses: {} matches", r.unofficial.len()),
            "1"
        )
    )?;
    if !r.unofficial.is_empty() {
        let mut t = new_table(out, &["PORT", "PROTOCOL", "PROGRAM", "NOTE"]);
        for u in &r.unofficial {
            t.add_row(vec![
                Cell::new(u.ports.to_string()),
                Cell::new(u.protocol.as_str()),
                styled(out, u.program, Some(Attribute::Bold), None),
                Cell::new(u.note),
            ]);
        }
        writeln!(w, "{t}")?;
    }
    Ok(())
}
