//! Human output of live sockets: the listing table (one row per socket, one line per owner
//! inside a row) and the "who is listening" section of the port card.

use std::io::{self, Write};

use crossterm::style::Color;

use crate::cli::Column;
use crate::config::Output;
use crate::model::{Hidden, Listener, Process, Scope, Snapshot};
use crate::port::{Protocol, Tier};
use crate::registry::iana::Status;
use crate::registry::Knowledge;
use crate::render::fit;
use crate::render::grid::{Frame, Grid, Text, Widths};
use crate::render::sanitize::sanitize;
use crate::render::table::{known_use_text, paint, KNOWN_USE_LEGEND};

impl Column {
    pub fn header(self) -> &'static str {
        match self {
            Column::Proto => "PROTO",
            Column::State => "STATE",
            Column::Address => "ADDRESS",
            Column::Peer => "PEER",
            Column::Port => "PORT",
            Column::Service => "SERVICE",
            Column::Pid => "PID",
            Column::Process => "PROCESS",
            Column::User => "USER",
            Column::Exe => "EXE",
            Column::Command => "COMMAND",
            Column::Unit => "UNIT/CONTAINER",
            Column::Uptime => "UPTIME",
            Column::Range => "RANGE",
        }
    }
}

impl Column {
    /// May this column's cells be shortened with an ellipsis to fit a terminal? Never for
    /// what identifies a socket (protocol, address, port, PID, peer).
    pub fn shrinkable(self) -> bool {
        matches!(
            self,
            Column::Process
                | Column::Exe
                | Column::Command
                | Column::Unit
                | Column::Service
                | Column::User
                | Column::Range
        )
    }
}

/// The address as shown (the one notation: `[::]`, `0.0.0.0%lo`), with its reach in words
/// so exposure stands out without colour.
pub fn address_text(l: &Listener) -> String {
    format!("{} ({})", l.host(), l.reach().short())
}

/// The remote end of a connection, `-` for a listener.
pub fn peer_text(l: &Listener) -> String {
    l.socket.remote.map_or_else(
        || "-".to_string(),
        |(ip, port)| crate::address::endpoint(ip, None, port),
    )
}

fn scope_color(scope: Scope) -> Color {
    match scope {
        Scope::All => Color::Red,
        Scope::Specific => Color::Yellow,
        Scope::Loopback | Scope::Device => Color::Green,
    }
}

/// "3d04h", "2h05m", "5m12s", "42s".
pub fn uptime_text(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h:02}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The known program the owner is (marked with `*`), else the IANA name, else the status.
fn service_text(k: &Knowledge, l: &Listener) -> String {
    if let Some(u) = l.known_use {
        return known_use_text(u);
    }
    let (port, protocol) = (l.socket.port, l.socket.protocol);
    if let Some(name) = k.iana.service_name(port, protocol) {
        return sanitize(&name).into_owned();
    }
    match k.iana.status(port, protocol).status {
        Status::Dynamic => "dynamic".to_string(),
        Status::Reserved => "reserved".to_string(),
        _ => "unassigned".to_string(),
    }
}

fn owner_lines(l: &Listener, snap: &Snapshot, f: impl Fn(&Process) -> String) -> String {
    l.owners
        .iter()
        .filter_map(|pid| snap.processes.get(pid))
        .map(f)
        .collect::<Vec<_>>()
        .join("\n")
}

fn exe_text(p: &Process) -> String {
    let exe = p
        .exe
        .as_deref()
        .map_or_else(|| "-".to_string(), |e| sanitize(e).into_owned());
    if p.exe_state.memory_only {
        format!("{exe} (running from memory)")
    } else if p.exe_state.replaced {
        format!("{exe} (replaced since start)")
    } else if p.exe_state.deleted {
        format!("{exe} (deleted)")
    } else {
        exe
    }
}

fn command_text(p: &Process) -> String {
    if p.cmdline.is_empty() {
        return "-".to_string();
    }
    p.display_cmdline()
        .iter()
        .map(|a| sanitize(a).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn unit_text(p: &Process) -> String {
    match (&p.unit, &p.container) {
        (_, Some(c)) => {
            let short: String = c.id.chars().take(12).collect();
            sanitize(&format!("{} {short}", c.runtime)).into_owned()
        }
        (Some(u), None) => sanitize(u).into_owned(),
        (None, None) => "-".to_string(),
    }
}

fn cell(l: &Listener, snap: &Snapshot, k: &Knowledge, c: Column, now: u64) -> Text {
    let hidden = l.owners.is_empty();
    let per_owner = |f: &dyn Fn(&Process) -> String| {
        if hidden {
            "-".to_string()
        } else {
            owner_lines(l, snap, f)
        }
    };
    match c {
        Column::Proto => Text::plain(l.socket.protocol.as_str()),
        Column::State => Text::plain(l.socket.state.unwrap_or("-")),
        Column::Address => Text::styled(
            sanitize(&address_text(l)),
            l.scope == Scope::All,
            Some(scope_color(l.scope)),
        ),
        Column::Peer => Text::plain(peer_text(l)),
        Column::Port => Text::styled(l.socket.port.to_string(), true, None),
        Column::Service => Text::plain(service_text(k, l)),
        Column::Pid => Text::plain(per_owner(&|p| p.pid.to_string())),
        Column::Process => {
            if hidden {
                let reason = l
                    .hidden_reason
                    .as_ref()
                    .map_or("not visible", Hidden::short);
                Text::styled(format!("(hidden: {reason})"), false, Some(Color::DarkGrey))
            } else {
                Text::plain(owner_lines(l, snap, |p| {
                    sanitize(p.display_name()).into_owned()
                }))
            }
        }
        Column::User => {
            if hidden {
                let who = match (&l.user, l.socket.uid) {
                    (Some(u), _) => sanitize(u).into_owned(),
                    (None, Some(uid)) => uid.to_string(),
                    (None, None) => "-".to_string(),
                };
                Text::plain(who)
            } else {
                Text::plain(owner_lines(l, snap, |p| match (&p.user, p.uid) {
                    (Some(u), _) => sanitize(u).into_owned(),
                    (None, Some(uid)) => uid.to_string(),
                    (None, None) => "-".to_string(),
                }))
            }
        }
        Column::Exe => Text::plain(per_owner(&exe_text)),
        Column::Command => Text::plain(per_owner(&command_text)),
        Column::Unit => Text::plain(per_owner(&unit_text)),
        Column::Uptime => Text::plain(per_owner(&|p| {
            p.start_time
                .map_or_else(|| "-".to_string(), |t| uptime_text(now.saturating_sub(t)))
        })),
        Column::Range => Text::plain(Tier::of(l.socket.port).as_str()),
    }
}

/// The widest a process, command, executable or unit cell gets, terminal or pipe: a process
/// chooses its own command line (megabytes) and title, and laying out a table costs time in
/// proportion to its cells. `--json` keeps every value whole.
pub const CELL_MAX: usize = 1000;

/// `cell` with every line cut to [`CELL_MAX`] columns when its column may be shortened.
fn bounded(cell: Text, column: Column) -> Text {
    if column.shrinkable() && fit::widest(&cell.text) > CELL_MAX {
        Text::plain(fit::lines(&cell.text, CELL_MAX))
    } else {
        cell
    }
}

/// The cells of one listener's row, each cut to its budget (a cut cell loses its style).
fn row(
    l: &Listener,
    snap: &Snapshot,
    k: &Knowledge,
    columns: &[Column],
    budgets: &[Option<usize>],
    now: u64,
) -> Vec<Text> {
    columns
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let cell = bounded(cell(l, snap, k, c, now), c);
            match budgets.get(i).copied().flatten() {
                Some(max) => Text::plain(fit::lines(&cell.text, max)),
                None => cell,
            }
        })
        .collect()
}

/// The listing: one row per socket.
///
/// Rows are made from the snapshot when they are written and dropped at once, so a listing
/// of any length holds one row: a first pass measures the columns, a second (only when a
/// terminal made some columns give way) measures the shortened ones, the last writes.
pub fn listing(
    w: &mut dyn Write,
    out: &Output,
    snap: &Snapshot,
    k: &Knowledge,
    columns: &[Column],
) -> io::Result<()> {
    let n = columns.len();
    let headers: Vec<&str> = columns.iter().map(|c| c.header()).collect();
    let now = now_secs();
    let mut budgets = vec![None; n];
    // Widths as drawn, and the widest lines the fitting starts from (the same but for cells
    // with no line at all).
    let mut drawn = Widths::new(n);
    let mut natural: Vec<usize> = headers.iter().map(|h| fit::widest(h)).collect();
    for (i, h) in headers.iter().enumerate() {
        drawn.measure(i, h);
    }
    for l in &snap.listeners {
        for (i, cell) in row(l, snap, k, columns, &budgets, now).iter().enumerate() {
            drawn.measure(i, &cell.text);
            natural[i] = natural[i].max(fit::widest(&cell.text));
        }
    }
    let mut frame = Frame::Boxed;
    let mut header: Vec<Text> = headers
        .iter()
        .map(|h| Text::styled(*h, true, None))
        .collect();
    // In a terminal, the table fits its width without breaking a PID, port, address or
    // protocol: process, command, executable and unit cells are shortened with an ellipsis
    // (--json keeps every value whole). Without a width (a pipe), nothing is cut beyond CELL_MAX.
    if let Some(total) = out.width.map(usize::from) {
        let shrinkable: Vec<bool> = columns.iter().map(|c| c.shrinkable()).collect();
        // Boxed, with a space each side of every cell: 3 columns per cell and one border.
        let boxed_floor: Vec<usize> = headers.iter().map(|h| fit::widest(h).max(8)).collect();
        budgets = fit::budgets(&natural, &shrinkable, &boxed_floor, 3 * n + 1, total);
        if fit::used(&natural, &budgets, 3 * n + 1) > total {
            // Still too wide (--wide at 80 columns): no borders, one space between cells,
            // headers shortened too.
            frame = Frame::Bare;
            budgets = fit::budgets(&natural, &shrinkable, &vec![4; n], n - 1, total);
        }
        if budgets.iter().any(Option::is_some) {
            // The shortened columns are as wide as their widest shortened line.
            let mut fitted = Widths::new(n);
            for (i, h) in header.iter_mut().enumerate() {
                if let Some(max) = budgets[i] {
                    h.text = fit::lines(&h.text, max);
                }
                fitted.measure(i, &h.text);
            }
            for l in &snap.listeners {
                for (i, cell) in row(l, snap, k, columns, &budgets, now).iter().enumerate() {
                    if budgets[i].is_some() {
                        fitted.measure(i, &cell.text);
                    }
                }
            }
            for (i, max) in budgets.iter().enumerate() {
                if max.is_some() {
                    drawn.set(i, fitted.get(i));
                }
            }
        }
    }
    let mut grid = Grid::new(frame, &drawn, out.color);
    grid.header(w, &header)?;
    for l in &snap.listeners {
        grid.row(w, &row(l, snap, k, columns, &budgets, now))?;
    }
    grid.end(w)?;
    if columns.contains(&Column::Service) && snap.listeners.iter().any(|l| l.known_use.is_some()) {
        writeln!(w, "{}", paint(out, KNOWN_USE_LEGEND, "2"))?;
    }
    Ok(())
}

/// One line of the summary under a listing.
pub fn summary(snap: &Snapshot) -> String {
    let exposed = snap
        .listeners
        .iter()
        .filter(|l| l.scope.is_exposed())
        .count();
    // Wildcards whose source did not say whether they are bound to a device (/proc/net).
    let unsure = snap
        .listeners
        .iter()
        .filter(|l| l.scope == Scope::All && !l.socket.device_reported)
        .count();
    let n = snap.listeners.len();
    let mut text = format!(
        "{n} socket{}, {exposed} reachable from other machines",
        if n == 1 { "" } else { "s" }
    );
    if unsure > 0 && unsure == exposed {
        text.push_str(" unless bound to a device (not reported)");
    } else if unsure > 0 {
        text.push_str(&format!(
            " ({unsure} of them unless bound to a device: not reported)"
        ));
    }
    if snap.hidden > 0 {
        text.push_str(&format!(", {} with hidden owners", snap.hidden));
    }
    text
}

/// What whoport could not see or did differently, one line each, under a table.
pub fn notes(w: &mut dyn Write, out: &Output, snap: &Snapshot) -> io::Result<()> {
    for note in &snap.notes {
        let text = sanitize(note);
        // On a terminal a note wraps at its width, under its own first word.
        let lines = match out.width {
            Some(cols) => crate::render::fit::wrap(&text, usize::from(cols).saturating_sub(6), 0),
            None => vec![text.into_owned()],
        };
        for (i, line) in lines.iter().enumerate() {
            let label = if i == 0 { "note:" } else { "     " };
            writeln!(w, "{} {line}", paint(out, label, "2"))?;
        }
    }
    Ok(())
}

/// The hint for stderr when running without root hid something, if it did.
pub fn root_hint(snap: &Snapshot) -> Option<String> {
    if snap.root || snap.hidden == 0 {
        return None;
    }
    Some(format!(
        "{} belong{} to processes this user cannot inspect; run as root (sudo whoport) to see them",
        if snap.hidden == 1 {
            "1 socket".to_string()
        } else {
            format!("{} sockets", snap.hidden)
        },
        if snap.hidden == 1 { "s" } else { "" }
    ))
}

/// The live section of the port card: every socket on the port with full owner detail.
pub fn live_section(
    w: &mut dyn Write,
    out: &Output,
    snap: &Snapshot,
    port: u16,
    protocols: &[Protocol],
    wide: bool,
) -> io::Result<()> {
    let on_port: Vec<&Listener> = snap
        .listeners
        .iter()
        .filter(|l| l.socket.port == port)
        .collect();
    if on_port.is_empty() {
        // SCTP and DCCP sockets are never read (a note says so): nothing is said of them.
        let what: Vec<String> = protocols
            .iter()
            .filter(|p| matches!(p, Protocol::Tcp | Protocol::Udp))
            .map(|p| format!("{port}/{p}"))
            .collect();
        if what.is_empty() {
            return Ok(());
        }
        let text = format!(
            "Nothing is listening on {} on this machine.",
            what.join(" or ")
        );
        return writeln!(w, "\n{}", paint(out, &text, "1"));
    }
    let n = on_port.len();
    let title = format!(
        "Listening on {port}: {n} socket{}",
        if n == 1 { "" } else { "s" }
    );
    writeln!(w, "\n{}", paint(out, &title, "1"))?;
    let now = now_secs();
    for l in on_port {
        let scope = l.reach().long();
        let scope = match l.scope {
            Scope::All => paint(out, &scope, "1;31"),
            _ => scope,
        };
        let state = l
            .socket
            .state
            .map(|s| format!(" [{s}]"))
            .unwrap_or_default();
        writeln!(
            w,
            "  {} {}  {scope}{state}",
            l.socket.protocol,
            sanitize(&l.endpoint())
        )?;
        if l.owners.is_empty() {
            let who = match (&l.user, l.socket.uid) {
                (Some(u), Some(uid)) => format!("{} (uid {uid})", sanitize(u)),
                (None, Some(uid)) => format!("uid {uid}"),
                _ => "unknown".to_string(),
            };
            let reason = l
                .hidden_reason
                .as_ref()
                .map_or_else(|| "not visible".to_string(), Hidden::long);
            writeln!(w, "    owner {who}; process hidden: {reason}")?;
            continue;
        }
        // Held without a descriptor of the main table: how (a mapping, io_uring, a thread).
        if let Some(how) = l.held_through {
            writeln!(w, "    {how}")?;
        }
        for p in l.owners.iter().filter_map(|pid| snap.processes.get(pid)) {
            let user = p.user.as_deref().map_or_else(
                || p.uid.map_or("-".to_string(), |u| u.to_string()),
                |u| sanitize(u).into_owned(),
            );
            writeln!(
                w,
                "    pid {}  {}  user {user}",
                p.pid,
                paint(out, &sanitize(p.display_name()), "1")
            )?;
            // In a terminal, long values are shortened to its width unless --wide; in a pipe
            // or with --wide, to CELL_MAX columns like the listing's cells (--json keeps
            // them whole).
            let fit = |text: String| match out.width {
                Some(total) if !wide => {
                    fit::lines(&text, usize::from(total).saturating_sub(16).max(20))
                }
                _ if text.len() > CELL_MAX && fit::widest(&text) > CELL_MAX => {
                    fit::lines(&text, CELL_MAX)
                }
                _ => text,
            };
            writeln!(w, "      exe       {}", fit(exe_text(p)))?;
            writeln!(w, "      command   {}", fit(command_text(p)))?;
            if let Some(t) = p.start_time {
                writeln!(
                    w,
                    "      started   {} (up {})",
                    crate::render::json::rfc3339(t),
                    uptime_text(now.saturating_sub(t))
                )?;
            }
            if let Some(pp) = p.parent_pid {
                let name = p.parent_name.as_deref().map(sanitize).unwrap_or_default();
                writeln!(w, "      parent    {pp} {name}")?;
            }
            if p.unit.is_some() || p.container.is_some() {
                writeln!(w, "      unit      {}", fit(unit_text(p)))?;
            }
        }
    }
    let established = snap.established.get(&port).copied().unwrap_or(0);
    writeln!(
        w,
        "  established TCP connections on port {port}: {established}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_kernel_and_unreadable_processes_get_placeholders_never_empty_cells() {
        use crate::model::{Listener, Process, Snapshot, Socket};
        let bare = Process {
            pid: 7,
            name: crate::model::full_name("", None, None),
            ..Process::default()
        };
        assert_eq!(bare.name, "[unknown]");
        assert_eq!(exe_text(&bare), "-");
        assert_eq!(command_text(&bare), "-");
        assert_eq!(unit_text(&bare), "-");
        let listener = |port, owners: Vec<u32>| Listener {
            socket: Socket {
                protocol: Protocol::Tcp,
                address: "127.0.0.1".parse().expect("ip"),
                port,
                state: Some("listen"),
                remote: None,
                inode: 1,
                uid: None,
                ifindex: 0,
                device_reported: true,
                v6only: None,
            },
            scope: Scope::Loopback,
            device: None,
            user: None,
            hidden_reason: owners.is_empty().then_some(Hidden::NotVisibleToRoot),
            held_through: None,
            owners,
            v6only: None,
            known_use: None,
        };
        let snap = Snapshot {
            listeners: vec![listener(8011, vec![7]), listener(8012, vec![])],
            processes: [(7, bare)].into_iter().collect(),
            ..Snapshot::default()
        };
        let mut warnings = Vec::new();
        let mut k = Knowledge::load(None, &mut warnings).expect("loads");
        k.iana = crate::registry::iana::IanaTable::embedded();
        let out = Output {
            json: false,
            pretty_json: false,
            color: false,
            width: None,
        };
        let mut columns = Column::DEFAULT.to_vec();
        columns.extend(Column::WIDE);
        let mut buf = Vec::new();
        listing(&mut buf, &out, &snap, &k, &columns).expect("renders");
        let text = String::from_utf8(buf).expect("utf8");
        let rows: Vec<&str> = text.lines().filter(|l| l.contains("801")).collect();
        assert_eq!(rows.len(), 2, "{text}");
        for row in rows {
            let cells: Vec<&str> = row.trim_matches('│').split('┆').map(str::trim).collect();
            assert_eq!(cells.len(), columns.len(), "{row}");
            assert!(
                cells.iter().all(|c| !c.is_empty()),
                "an empty cell in {row}"
            );
        }
    }

    /// The listing as comfy-table drew it when it held every row: the reference the
    /// streamed table must match byte for byte.
    fn reference(out: &Output, snap: &Snapshot, k: &Knowledge, columns: &[Column]) -> String {
        use crate::render::table::{new_table, styled};
        use comfy_table::{Attribute, Cell, Color as C};
        let to_cell = |t: Text| {
            let fg = t.fg.map(|c| match c {
                Color::Red => C::Red,
                Color::Yellow => C::Yellow,
                Color::Green => C::Green,
                _ => C::DarkGrey,
            });
            styled(out, &t.text, t.bold.then_some(Attribute::Bold), fg)
        };
        let headers: Vec<&str> = columns.iter().map(|c| c.header()).collect();
        let mut t = new_table(out, &headers);
        let now = now_secs();
        let mut rows: Vec<Vec<Cell>> = snap
            .listeners
            .iter()
            .map(|l| {
                columns
                    .iter()
                    .map(|&c| to_cell(bounded(cell(l, snap, k, c, now), c)))
                    .collect()
            })
            .collect();
        if let Some(total) = out.width.map(usize::from) {
            let natural: Vec<usize> = (0..columns.len())
                .map(|i| {
                    rows.iter()
                        .map(|r| fit::widest(&r[i].content()))
                        .chain([fit::widest(headers[i])])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let shrinkable: Vec<bool> = columns.iter().map(|c| c.shrinkable()).collect();
            let n = columns.len();
            let boxed_floor: Vec<usize> = headers.iter().map(|h| fit::widest(h).max(8)).collect();
            let mut budgets = fit::budgets(&natural, &shrinkable, &boxed_floor, 3 * n + 1, total);
            if fit::used(&natural, &budgets, 3 * n + 1) > total {
                t.load_preset(comfy_table::presets::NOTHING);
                for c in t.column_iter_mut() {
                    c.set_padding((0, 1));
                }
                if let Some(last) = t.column_mut(n.saturating_sub(1)) {
                    last.set_padding((0, 0));
                }
                budgets = fit::budgets(&natural, &shrinkable, &vec![4; n], n - 1, total);
            }
            t.set_header(headers.iter().zip(&budgets).map(|(h, max)| {
                let h = max.map_or_else(|| h.to_string(), |m| fit::lines(h, m));
                styled(out, &h, Some(Attribute::Bold), None)
            }));
            for row in &mut rows {
                for (i, max) in budgets.iter().enumerate() {
                    if let Some(max) = *max {
                        row[i] = Cell::new(fit::lines(&row[i].content(), max));
                    }
                }
            }
            t.set_content_arrangement(comfy_table::ContentArrangement::Disabled);
        }
        for row in rows {
            t.add_row(row);
        }
        let mut text = format!("{t}\n");
        if columns.contains(&Column::Service)
            && snap.listeners.iter().any(|l| l.known_use.is_some())
        {
            text.push_str(&paint(out, KNOWN_USE_LEGEND, "2"));
            text.push('\n');
        }
        text
    }

    /// Listeners and processes of every shape a cell can take: wide characters, several
    /// owners, hidden owners, command lines longer than CELL_MAX, empty values.
    fn varied_snapshot(rng: &mut fastrand::Rng) -> Snapshot {
        use crate::model::{Container, ExeState, Process, Socket};
        let words = [
            "nginx",
            "服务器进程",
            "a-very-long-process-name-that-goes-on",
            "",
            "x",
            "café",
            "py\u{1b}[31mthon",
        ];
        let pick = |rng: &mut fastrand::Rng| words[rng.usize(..words.len())].to_string();
        let mut processes = std::collections::HashMap::new();
        for pid in 1..=6u32 {
            let mut cmdline: Vec<String> = (0..rng.usize(0..4)).map(|_| pick(rng)).collect();
            if rng.u8(..8) == 0 {
                cmdline.push("z".repeat(1500));
            }
            let p = Process {
                pid: pid * 1111,
                name: pick(rng),
                exe: rng.bool().then(|| format!("/usr/sbin/{}", pick(rng))),
                cmdline,
                uid: rng.bool().then_some(1000),
                user: rng.bool().then(|| pick(rng)),
                start_time: rng
                    .bool()
                    .then(|| now_secs().saturating_sub(rng.u64(..400_000))),
                unit: rng.bool().then(|| format!("{}.service", pick(rng))),
                container: (rng.u8(..5) == 0).then(|| Container {
                    runtime: "docker".to_string(),
                    id: "0123456789abcdef0123".to_string(),
                    pod: None,
                }),
                exe_state: ExeState {
                    deleted: rng.u8(..6) == 0,
                    ..ExeState::default()
                },
                ..Process::default()
            };
            processes.insert(p.pid, p);
        }
        let addresses = ["127.0.0.1", "0.0.0.0", "::", "192.0.2.7", "::1"];
        let listeners = (0..rng.usize(1..9))
            .map(|_| {
                let address: std::net::IpAddr =
                    addresses[rng.usize(..addresses.len())].parse().expect("ip");
                let owners: Vec<u32> = match rng.u8(..4) {
                    0 => vec![],
                    1 => vec![1111, 2222, 3333],
                    // A PID whose details are missing: an empty cell.
                    2 if rng.bool() => vec![9],
                    _ => vec![1111 * rng.u32(1..=6)],
                };
                Listener {
                    socket: Socket {
                        protocol: if rng.bool() {
                            Protocol::Tcp
                        } else {
                            Protocol::Udp
                        },
                        address,
                        port: [22, 80, 8080, 41600, 65000][rng.usize(..5)],
                        state: Some("listen"),
                        remote: None,
                        inode: 1,
                        uid: rng.bool().then_some(0),
                        ifindex: 0,
                        device_reported: true,
                        v6only: None,
                    },
                    scope: Scope::of(address),
                    device: None,
                    user: rng.bool().then(|| pick(rng)),
                    hidden_reason: owners.is_empty().then_some(Hidden::NotRoot),
                    held_through: None,
                    owners,
                    v6only: None,
                    known_use: (rng.u8(..4) == 0).then(|| &crate::registry::unofficial::all()[0]),
                }
            })
            .collect();
        Snapshot {
            listeners,
            processes,
            ..Snapshot::default()
        }
    }

    #[test]
    fn the_streamed_table_draws_what_comfy_table_drew() {
        let mut warnings = Vec::new();
        let k = Knowledge::load(None, &mut warnings).expect("loads");
        let mut all = Column::DEFAULT.to_vec();
        all.extend(Column::WIDE);
        let column_sets = [
            Column::DEFAULT.to_vec(),
            all,
            vec![Column::Port, Column::Command],
            vec![Column::Process],
        ];
        let mut rng = fastrand::Rng::with_seed(13);
        for round in 0..60 {
            let snap = varied_snapshot(&mut rng);
            for width in [None, Some(20), Some(44), Some(80), Some(132), Some(250)] {
                for color in [false, true] {
                    let out = Output {
                        json: false,
                        pretty_json: false,
                        color,
                        width,
                    };
                    let columns = &column_sets[round % column_sets.len()];
                    let mut buf = Vec::new();
                    listing(&mut buf, &out, &snap, &k, columns).expect("renders");
                    let got = String::from_utf8(buf).expect("utf8");
                    let want = reference(&out, &snap, &k, columns);
                    assert_eq!(got, want, "round {round}, width {width:?}, colour {color}");
                }
            }
        }
    }

    #[test]
    fn uptimes() {
        assert_eq!(uptime_text(0), "0s");
        assert_eq!(uptime_text(42), "42s");
        assert_eq!(uptime_text(312), "5m12s");
        assert_eq!(uptime_text(7500), "2h05m");
        assert_eq!(uptime_text(3 * 86400 + 4 * 3600 + 59), "3d04h");
    }
}
