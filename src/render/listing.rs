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
    let exe = match p.exe.as_deref() {
        Some(e) => sanitize(e).into_owned(),
        None if p.exe_state.path_too_long => crate::model::EXE_TOO_LONG.into(),
        None => "-".to_string(),
    };
    let exe = if p.exe_state.own_mount_ns && p.exe.is_some() {
        format!("{exe} (in its own mount namespace)")
    } else if p.exe_state.mount_ns_unread && p.exe.is_some() {
        format!("{exe} (its mount namespace could not be read)")
    } else {
        exe
    };
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
    let text = p
        .display_cmdline()
        .iter()
        .map(|a| sanitize(a).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    if p.cmdline_truncated {
        // Longer than whoport reads: what follows was not read.
        format!("{text}…")
    } else {
        text
    }
}

fn unit_text(p: &Process) -> String {
    match (&p.unit, &p.container) {
        (_, Some(c)) => {
            let short: String = c.id.chars().take(12).collect();
            sanitize(&format!("{} {short}", c.runtime)).into_owned()
        }
        // A user's own unit, with its manager: it may borrow any system unit's name.
        (Some(u), None) => match &p.unit_manager {
            Some(m) => sanitize(&format!("{u} ({m})")).into_owned(),
            None => sanitize(u).into_owned(),
        },
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
                    .as_deref()
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
                Text::plain(owner_lines(l, snap, |p| {
                    let user = match (&p.user, p.uid) {
                        (Some(u), _) => sanitize(u).into_owned(),
                        (None, Some(uid)) => uid.to_string(),
                        (None, None) => "-".to_string(),
                    };
                    // Another thread as root, root kept as a saved uid, or root's capabilities:
                    // the card says which.
                    if p.uid != Some(0) && p.credentials.root_equivalent() {
                        format!("{user} (root's powers)")
                    } else {
                        user
                    }
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
/// proportion to its cells. `--json` keeps every value whole (a command line as whoport read it:
/// its first 64 KiB, `cmdline_truncated` when longer).
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
    // (--json keeps every value whole, as read). Without a width (a pipe), nothing is cut beyond CELL_MAX.
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
    // Exposed sockets whose source did not say whether they are bound to a device
    // (/proc/net): a wildcard, a link-local address.
    let unsure = snap
        .listeners
        .iter()
        .filter(|l| l.scope.is_exposed() && l.device_unknown())
        .count();
    let n = snap.listeners.len();
    let mut text = format!("{n} socket{}", if n == 1 { "" } else { "s" });
    text.push_str(&format!(", {exposed} reachable from other machines"));
    if crate::collect::steering::steering().is_some() {
        text.push_str(" by their bind addresses (an sk_lookup BPF program may steer to any)");
    }
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
    if let Some(closed) = closed_text(&snap.closed, true) {
        text.push_str(&format!("; {closed}"));
    }
    text
}

/// How many sockets the kernel listed but no longer had when asked again (churn): not rows,
/// but said, with where to see them; `more` after sockets that are shown. `None` when there
/// are none.
pub fn closed_text(closed: &[Listener], more: bool) -> Option<String> {
    let what = match (closed.len(), more) {
        (0, _) => return None,
        (1, true) => "1 more".to_string(),
        (1, false) => "1 socket".to_string(),
        (n, true) => format!("{n} more"),
        (n, false) => format!("{n} sockets"),
    };
    let them = if closed.len() == 1 { "it" } else { "them" };
    Some(format!(
        "{what} closed during the scan (not shown; --json lists {them})"
    ))
}

/// What whoport could not see or did differently, one line each, under a table.
pub fn notes(w: &mut dyn Write, out: &Output, snap: &Snapshot) -> io::Result<()> {
    for note in &snap.notes {
        let text = sanitize(note);
        // On a terminal a note wraps at its width, under its own first word.
        let lines = crate::render::fit::within(out, &text, 6, 0);
        for (i, line) in lines.iter().enumerate() {
            let label = if i == 0 { "note:" } else { "     " };
            writeln!(w, "{} {line}", paint(out, label, "2"))?;
        }
    }
    Ok(())
}

/// The hint for stderr when running without root hid something, if it did: only for the
/// sockets whose owner is unknown because this user could not read other users' descriptors
/// (their reason says "run as root"), never for those whose reason was established otherwise
/// (in transit, the kernel's own, closed during the scan...: the in-kernel lookup, run with
/// CAP_BPF and CAP_PERFMON, reads every descriptor table whatever the user).
pub fn root_hint(snap: &Snapshot) -> Option<String> {
    if snap.root {
        return None;
    }
    let hidden = snap
        .listeners
        .iter()
        .filter(|l| {
            l.owners.is_empty()
                && matches!(l.hidden_reason.as_deref(), Some(Hidden::NotRoot { .. }))
        })
        .count();
    if hidden == 0 {
        return None;
    }
    Some(format!(
        "{} belong{} to processes this user cannot inspect; run as root (sudo whoport) to see them",
        if hidden == 1 {
            "1 socket".to_string()
        } else {
            format!("{hidden} sockets")
        },
        if hidden == 1 { "s" } else { "" }
    ))
}

/// The live section of the port card: every socket on the port with full owner detail, the
/// listeners first; with `--all`, the sockets that are not listening (connections, connected
/// UDP, bound TCP) under a heading of their own: a connected UDP socket is never a listener.
pub fn live_section(
    w: &mut dyn Write,
    out: &Output,
    snap: &Snapshot,
    port: u16,
    protocols: &[Protocol],
    wide: bool,
) -> io::Result<()> {
    let (listening, other): (Vec<&Listener>, Vec<&Listener>) = snap
        .listeners
        .iter()
        .filter(|l| l.socket.port == port)
        .partition(|l| l.socket.is_listener());
    let now = now_secs();
    // Sockets on the port that closed while whoport looked: said, never shown as listening.
    let closed = match snap.closed.iter().filter(|l| l.socket.port == port).count() {
        0 => None,
        1 => Some(format!(
            "  1 more socket on port {port} closed during the scan (not shown; --json lists it)"
        )),
        n => Some(format!(
            "  {n} more sockets on port {port} closed during the scan (not shown; --json lists them)"
        )),
    };
    if listening.is_empty() {
        // SCTP and DCCP sockets are never read (a note says so): nothing is said of them.
        let what: Vec<String> = protocols
            .iter()
            .filter(|p| Protocol::LISTED.contains(p))
            .map(|p| format!("{port}/{p}"))
            .collect();
        if !what.is_empty() {
            let text =
                crate::collect::steering::nothing_listening(&crate::audit::group::or_list(&what));
            writeln!(w, "\n{}", paint(out, &text, "1"))?;
        }
        if let Some(closed) = &closed {
            writeln!(w, "{closed}")?;
        }
        if other.is_empty() {
            return Ok(());
        }
    } else {
        let n = listening.len();
        let title = format!(
            "Listening on {port}: {n} socket{}",
            if n == 1 { "" } else { "s" }
        );
        writeln!(w, "\n{}", paint(out, &title, "1"))?;
        for l in listening {
            socket_lines(w, out, snap, l, wide, now)?;
        }
        if let Some(closed) = &closed {
            writeln!(w, "{closed}")?;
        }
    }
    if !other.is_empty() {
        let n = other.len();
        let title = format!(
            "Not listening on {port} (connected or only bound): {n} socket{}",
            if n == 1 { "" } else { "s" }
        );
        writeln!(w, "\n{}", paint(out, &title, "1"))?;
        for l in other {
            socket_lines(w, out, snap, l, wide, now)?;
        }
    }
    let established = snap.established.get(&port).copied().unwrap_or(0);
    writeln!(
        w,
        "  established TCP connections on port {port}: {established}"
    )
}

/// One socket of the port card with its owners: endpoint, reach, state and peer, then each
/// owning process (or why none is known).
fn socket_lines(
    w: &mut dyn Write,
    out: &Output,
    snap: &Snapshot,
    l: &Listener,
    wide: bool,
    now: u64,
) -> io::Result<()> {
    let scope = l.reach().long();
    let scope = match l.scope {
        Scope::All => paint(out, &scope, "1;31"),
        _ => scope,
    };
    let state = match (l.socket.state, l.socket.remote) {
        (Some(s), Some((a, p))) => format!(" [{s}, peer {}]", crate::address::endpoint(a, None, p)),
        (Some(s), None) => format!(" [{s}]"),
        (None, Some((a, p))) => format!(" [connected to {}]", crate::address::endpoint(a, None, p)),
        (None, None) => String::new(),
    };
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
        let mut reason = l
            .hidden_reason
            .as_deref()
            .map_or_else(|| "not visible".to_string(), Hidden::long);
        if l.blocked_calls_cut {
            reason.push_str("; ");
            reason.push_str(crate::model::SLEEPERS_CUT);
        }
        // The reason may name processes, whose names their owners choose. On a terminal it
        // wraps at its width.
        let text = format!("owner {who}; process hidden: {}", sanitize(&reason));
        crate::render::fit::write_after(w, out, ("    ", 4), &text, 6)?;
        return Ok(());
    }
    // Held without a descriptor of the main table: how (a mapping, io_uring, a thread).
    if let Some(how) = l.held_through {
        if l.blocked_calls.is_empty() {
            writeln!(w, "    {how}")?;
        } else {
            let mut threads: Vec<String> = l.blocked_calls.iter().map(|b| b.words()).collect();
            if l.blocked_calls_cut {
                threads.push(crate::model::SLEEPERS_CUT.to_string());
            }
            if let Some(unread) = l.blocked_calls_unread.as_deref() {
                threads.push(unread.words());
            }
            let text = format!("{how}: {}", sanitize(&threads.join("; ")));
            crate::render::fit::write_after(w, out, ("    ", 4), &text, 6)?;
        }
    }
    for p in l.owners.iter().filter_map(|pid| snap.processes.get(pid)) {
        let mut user = p.user.as_deref().map_or_else(
            || p.uid.map_or("-".to_string(), |u| u.to_string()),
            |u| sanitize(u).into_owned(),
        );
        if let Some(beyond) = p.credentials.words() {
            user = format!("{user} ({beyond})");
        }
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
        if let Some(why) = p.exe_path_unknown() {
            writeln!(w, "      now       what stands at its path now {why}")?;
        }
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
    Ok(())
}

#[cfg(test)]
mod tests;
