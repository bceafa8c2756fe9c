//! What the filters hid: the listeners on the asked port, range or name that the command
//! line's filters left out, with the filter that hid each, so that no output says "Nothing is
//! listening" when something is.

use std::io::{self, Write};

use crate::collect::filtered::FilteredOut;
use crate::config::Output;
use crate::hash::HashMap;
use crate::model::{Hidden, Listener, Process, Snapshot};
use crate::port::Protocol;
use crate::render::fit::within as wrapped;
use crate::render::listing::live_section;
use crate::render::sanitize::sanitize;
use crate::render::table::paint;

/// Listeners kept as possibly the owner a query asks for (none of their owners could be
/// named), with the processes they name (whose placeholders say why a name is unknown).
pub type Unattributed<'a> = (&'a [Listener], &'a HashMap<u32, Process>);

/// How an owner is unknown, for listeners whose owners were not seen, or were seen with
/// names not read: "could not see", "could not name", or both.
fn not_known(listeners: &[&Listener]) -> &'static str {
    let unseen = listeners.iter().any(|l| l.owners.is_empty());
    let unnamed = listeners.iter().any(|l| !l.owners.is_empty());
    match (unseen, unnamed) {
        (true, true) => "could not see or name",
        (false, true) => "could not name",
        _ => "could not see",
    }
}

/// "--exposed, --pid": every filter that hid something, once.
fn filters_text(hidden: &[FilteredOut]) -> String {
    let mut filters: Vec<&str> = hidden
        .iter()
        .flat_map(|h| h.filters.iter().copied())
        .collect();
    filters.sort_unstable();
    filters.dedup();
    filters.join(", ")
}

/// "1 listener", "2 more listeners".
fn count_text(n: usize, more: bool) -> String {
    format!(
        "{n} {}{}",
        if more { "more " } else { "" },
        if n == 1 { "listener" } else { "listeners" }
    )
}

/// One line per hidden listener: endpoint, reach, the filters, its owners. `unread`: said of
/// a listener `--pid` or `--process` hid when a process asked for could not be read (it may
/// hold the listener too).
fn lines(
    w: &mut dyn Write,
    out: &Output,
    hidden: &[FilteredOut],
    unread: Option<(&str, &str)>,
) -> io::Result<()> {
    for h in hidden {
        let may = match unread {
            Some((filter, text)) if h.filters.contains(&filter) => format!("; {text}"),
            _ => String::new(),
        };
        let l = &h.listener;
        let who: Vec<String> = h.owners.iter().map(|o| sanitize(o).into_owned()).collect();
        let who = match (&l.hidden_reason, who.is_empty()) {
            (Some(why), true) => format!("owner not seen: {}", sanitize(&why.long())),
            (_, true) => String::new(),
            (_, false) => who.join(", "),
        };
        let head = format!(
            "{} {}  {}",
            l.socket.protocol,
            sanitize(&l.endpoint()),
            l.reach().long()
        );
        let by = format!("(hidden by {}{may})", h.filters.join(", "));
        let line = if who.is_empty() {
            format!("{head}  {by}")
        } else {
            format!("{head}  {by}  {who}")
        };
        // On a terminal too narrow for the whole line, the filters and the owners follow
        // the socket on lines of their own, each wrapped at its width.
        match crate::render::fit::wrap_width(out) {
            Some(cols) if 4 + crate::render::sanitize::width(&line) > cols => {
                writeln!(w, "    {head}")?;
                for part in [by, who].iter().filter(|p| !p.is_empty()) {
                    for l in wrapped(out, part, 6, 2) {
                        writeln!(w, "      {l}")?;
                    }
                }
            }
            _ => writeln!(w, "    {line}")?,
        }
    }
    Ok(())
}

/// The live section of the port card, then, for `--pid` or `--process`, the listeners on the
/// port whose owner could not be seen (any may be the process asked for), then what the
/// filters hid on the port.
pub fn card_section(
    w: &mut dyn Write,
    out: &Output,
    snap: &Snapshot,
    (port, protocols): (u16, &[Protocol]),
    hidden: &[FilteredOut],
    asked: Option<Asked<'_>>,
    wide: bool,
) -> io::Result<()> {
    let unread = unread_text(asked, (snap.asked_by_owner, snap.asked_of_user));
    let unseen: Vec<&Listener> = match asked {
        Some(_) => snap
            .unattributed
            .iter()
            .filter(|l| l.socket.port == port)
            .collect(),
        None => Vec::new(),
    };
    if hidden.is_empty() && unseen.is_empty() {
        return live_section(w, out, snap, port, protocols, wide);
    }
    let shown = snap.listeners.iter().any(|l| l.socket.port == port);
    if shown {
        live_section(w, out, snap, port, protocols, wide)?;
    }
    if let (Some(asked), false) = (asked, unseen.is_empty()) {
        card_unseen(
            w,
            out,
            &asked,
            (port, protocols),
            shown,
            (&unseen, &snap.processes),
        )?;
    }
    if hidden.is_empty() {
        return Ok(());
    }
    let filters = filters_text(hidden);
    let count = count_text(hidden.len(), shown || !unseen.is_empty());
    if shown || !unseen.is_empty() {
        for line in wrapped(
            out,
            &format!("{count} on {port} hidden by {filters}:"),
            2,
            2,
        ) {
            writeln!(w, "  {line}")?;
        }
    } else {
        let on = crate::audit::group::or_list(&on_port(port, protocols));
        // Whether a process asked for that could not be read holds one is not known.
        let text = match unread {
            Some(_) => format!(
                "No listener seen on {on} matches {filters}; {count} on this port hidden by {filters}:"
            ),
            None => format!(
                "Nothing that matches {filters} is listening on {on}; {count} on this port hidden by {filters}:"
            ),
        };
        writeln!(w)?;
        for line in wrapped(out, &text, 0, 0) {
            writeln!(w, "{}", paint(out, &line, "1"))?;
        }
    }
    lines(
        w,
        out,
        hidden,
        unread.as_ref().map(|(f, t)| (*f, t.as_str())),
    )
}

/// What is said of a listener `--pid`, `--process` or `--user` hid when `unread` processes
/// asked for could not be read: that filter, and the text.
fn unread_text(
    asked: Option<Asked<'_>>,
    (unread, of_user): (usize, usize),
) -> Option<(&'static str, String)> {
    // Beside `--pid` or `--process`, whose processes were all read: processes of the `--user`
    // asked for that were not may hold a listener of theirs too, which would then be both.
    if let (0, Some(Asked::Pid(..) | Asked::Process(_)), 1..) = (unread, asked, of_user) {
        return Some((
            "--user",
            match of_user {
                1 => "a process of that user whose descriptors could not be read may hold it too"
                    .to_string(),
                n => format!(
                    "{n} processes of that user whose descriptors could not be read may hold it too"
                ),
            },
        ));
    }
    let (filter, whose) = match asked {
        _ if unread == 0 => return None,
        None | Some(Asked::Program(_)) => return None,
        Some(Asked::Pid(pid, _)) => {
            return Some((
                "--pid",
                format!("PID {pid}, whose descriptors could not be read, may hold it too"),
            ))
        }
        // (Of that name, or whose name could not be read: the note says which.)
        Some(Asked::Process(_)) => ("--process", "asked for"),
        Some(Asked::User(_)) => ("--user", "of that user"),
    };
    Some((
        filter,
        match unread {
            1 => format!("a process {whose} whose descriptors could not be read may hold it too"),
            n => {
                format!("{n} processes {whose} whose descriptors could not be read may hold it too")
            }
        },
    ))
}

/// "2668/tcp", "2668/udp"... for each protocol asked.
fn on_port(port: u16, protocols: &[Protocol]) -> Vec<String> {
    protocols.iter().map(|p| format!("{port}/{p}")).collect()
}

/// On a port card filtered by `--pid` or `--process`: the listeners on the port whose owner
/// could not be seen, one line each with why, any of which may be the process asked for.
/// `shown`: whether the card showed a listener of that process on the port.
fn card_unseen(
    w: &mut dyn Write,
    out: &Output,
    asked: &Asked<'_>,
    (port, protocols): (u16, &[Protocol]),
    shown: bool,
    (unseen, processes): (&[&Listener], &HashMap<u32, Process>),
) -> io::Result<()> {
    let whose = asked.whose();
    let n = unseen.len();
    let (sockets, may) = if n == 1 {
        ("listening socket", "it may")
    } else {
        ("listening sockets", "any of them may")
    };
    let has = if n == 1 {
        "has an owner"
    } else {
        "have owners"
    };
    let how = not_known(unseen);
    let text = if shown {
        format!("{n} more {sockets} on {port} {has} whoport {how}; {may} be {whose} too:")
    } else {
        format!(
            "{} on {}, but {n} {sockets} there {has} whoport {how}, and {may} be {whose}:",
            asked.none_seen(),
            crate::audit::group::or_list(&on_port(port, protocols))
        )
    };
    // Under shown listeners it is indented as the lines of what the filters hid; on a
    // terminal it wraps at its width.
    let margin = if shown { 2 } else { 0 };
    if !shown {
        writeln!(w)?;
    }
    for line in wrapped(out, &text, margin, margin) {
        if shown {
            writeln!(w, "  {line}")?;
        } else {
            writeln!(w, "{}", paint(out, &line, "1"))?;
        }
    }
    for l in unseen {
        let why = l
            .unattributed_reason(processes)
            .unwrap_or_else(|| "unknown".to_string());
        writeln!(
            w,
            "    {} {}  {}",
            l.socket.protocol,
            sanitize(&l.endpoint()),
            l.reach().long(),
        )?;
        let why = if l.owners.is_empty() {
            format!("owner not seen: {}", sanitize(&why))
        } else {
            sanitize(&why).into_owned()
        };
        for line in wrapped(out, &why, 6, 2) {
            writeln!(w, "      {line}")?;
        }
    }
    Ok(())
}

/// Under a range's or a name's listing (or instead of "Nothing is listening"): what the
/// filters hid, and the listeners whose owner could not be named, any of which may be the
/// owner asked for: a program by its name, or a process by `--pid` or `--process`. `shown` is
/// how many listeners the listing showed.
pub fn list_section(
    w: &mut dyn Write,
    out: &Output,
    query: &str,
    shown: usize,
    hidden: &[FilteredOut],
    (asked, (unattributed, processes)): (Option<Asked<'_>>, Unattributed<'_>),
    unread: (usize, usize),
) -> io::Result<()> {
    let unread = unread_text(asked, unread);
    // A name is said back at most QUOTED_MAX characters long (it may be any length).
    let short = match asked {
        Some(Asked::Program(p)) => Some(shortened(p)),
        _ => None,
    };
    let program = short.as_deref();
    let query = shortened(query);
    let query = query.as_str();
    let unattributed = if asked.is_some() { unattributed } else { &[] };
    hidden_section(
        w,
        out,
        (query, program),
        shown,
        hidden,
        (
            unattributed.is_empty(),
            unread.as_ref().map(|(f, t)| (*f, t.as_str())),
        ),
    )?;
    let asked = match (program, asked) {
        (Some(program), _) => Some(Asked::Program(program)),
        (None, asked) => asked,
    };
    match asked {
        Some(asked) if !unattributed.is_empty() => unattributed_section(
            w,
            out,
            &asked,
            (shown, hidden.len()),
            (unattributed, processes),
        ),
        _ => Ok(()),
    }
}

/// Whose listeners a query asks for: a program's (`whoport nginx`), a process's (`--pid`),
/// or those of processes whose name contains some text (`--process`).
#[derive(Debug, Clone, Copy)]
pub enum Asked<'a> {
    Program(&'a str),
    /// `--pid`, and the name `--process` asks for beside it, if any.
    Pid(u32, Option<&'a str>),
    Process(&'a str),
    /// `--user` (alone of the three): a listener whose owner could not be seen may be that
    /// user's where some of its processes could not be read.
    User(&'a str),
}

impl Asked<'_> {
    /// What a listing filtered by `--pid`, `--process` or `--user` asks for, in that order
    /// (`None`: none of them).
    pub fn of_filter(filter: &crate::collect::Filter) -> Option<Asked<'_>> {
        match (filter.pid, &filter.process, &filter.user) {
            (Some(pid), name, _) => Some(Asked::Pid(pid, name.as_deref())),
            (None, Some(name), _) => Some(Asked::Process(name)),
            (None, None, Some(user)) => Some(Asked::User(user)),
            (None, None, None) => None,
        }
    }

    /// "1 process asked for", "3 processes of that user": the processes asked for that could
    /// not be read.
    pub fn unread_processes(&self, n: usize) -> String {
        let (one, many) = match self {
            Asked::User(_) => ("process of that user", "processes of that user"),
            // (`--process`: of that name, or whose name could not be read; the note says which.)
            Asked::Process(_) => ("process asked for", "processes asked for"),
            _ => ("such process", "such processes"),
        };
        match n {
            1 => format!("1 {one}"),
            n => format!("{n} {many}"),
        }
    }

    /// "No process named 'nginx' was seen listening".
    pub fn none_seen(&self) -> String {
        match self {
            Asked::Program(p) => format!("No process named '{}' was seen listening", sanitize(p)),
            Asked::Pid(pid, None) => format!("No listener of PID {pid} was seen"),
            // (A listener of that PID may have been seen, of another name.)
            Asked::Pid(pid, Some(name)) => format!(
                "No listener of PID {pid} whose name contains '{}' was seen",
                sanitize(&shortened(name))
            ),
            Asked::User(u) => format!("No listener of user {} was seen", sanitize(&shortened(u))),
            Asked::Process(x) => format!(
                "No process whose name contains '{}' was seen listening",
                sanitize(&shortened(x))
            ),
        }
    }

    /// "nginx's".
    fn whose(&self) -> String {
        match self {
            Asked::Program(p) => format!("{}'s", sanitize(p)),
            Asked::Pid(pid, _) => format!("PID {pid}'s"),
            Asked::Process(_) => "such a process's".to_string(),
            Asked::User(u) => format!("user {}'s", sanitize(&shortened(u))),
        }
    }
}

/// Under a listing filtered by `--pid` or `--process` (or instead of "No listening sockets
/// match"): the listeners every other filter keeps whose owner could not be named, any of
/// which may be the process asked for. `shown` is how many listeners the listing showed.
pub fn owner_unknown_section(
    w: &mut dyn Write,
    out: &Output,
    asked: Asked<'_>,
    shown: usize,
    unattributed: Unattributed<'_>,
) -> io::Result<()> {
    if unattributed.0.is_empty() {
        return Ok(());
    }
    unattributed_section(w, out, &asked, (shown, 0), unattributed)
}

/// `name`, or its first [`crate::error::QUOTED_MAX`] characters and "...".
fn shortened(name: &str) -> String {
    match name.char_indices().nth(crate::error::QUOTED_MAX) {
        None => name.to_string(),
        Some((cut, _)) => format!("{}...", &name[..cut]),
    }
}

/// "3 listening sockets have owners whoport could not see", grouped by why, for a program
/// name: never "nothing listens" when the listeners' owners are unknown. `(shown, hidden)`:
/// how many listeners were shown as the owner asked for's, and how many the filters hid
/// above (those may be anyone's: what follows is "more", but not that owner's "too").
fn unattributed_section(
    w: &mut dyn Write,
    out: &Output,
    asked: &Asked<'_>,
    (shown, hidden): (usize, usize),
    (unattributed, processes): Unattributed<'_>,
) -> io::Result<()> {
    let whose = asked.whose();
    let how = not_known(&unattributed.iter().collect::<Vec<_>>());
    let n = unattributed.len();
    let found = shown + hidden;
    let more = if found == 0 { "" } else { "more " };
    let sockets = if n == 1 {
        format!("1 {more}listening socket has an owner")
    } else {
        format!("{n} {more}listening sockets have owners")
    };
    let may = if n == 1 { "it may" } else { "any of them may" };
    let text = if found == 0 {
        format!(
            "{}, but {sockets} whoport {how}, and {may} be {whose}:",
            asked.none_seen()
        )
    } else if shown == 0 {
        format!("{sockets} whoport {how}, and {may} be {whose}:")
    } else {
        format!("{sockets} whoport {how}; {may} be {whose} too:")
    };
    // On a terminal each line wraps at its width.
    for line in wrapped(out, &text, 0, 0) {
        if found == 0 {
            writeln!(w, "{}", paint(out, &line, "1"))?;
        } else {
            writeln!(w, "{line}")?;
        }
    }
    // One line per reason, most sockets first.
    let mut reasons: Vec<(String, usize)> = Vec::new();
    for l in unattributed {
        let why = l
            .unattributed_reason(processes)
            .unwrap_or_else(|| "unknown".to_string());
        match reasons.iter_mut().find(|(r, _)| *r == why) {
            Some((_, count)) => *count += 1,
            None => reasons.push((why, 1)),
        }
    }
    reasons.sort_by_key(|r| std::cmp::Reverse(r.1));
    for (why, count) in reasons {
        for line in wrapped(out, &format!("{count}: {}", sanitize(&why)), 4, 3) {
            writeln!(w, "    {line}")?;
        }
    }
    Ok(())
}

/// What the filters hid; "Nothing is listening" only when `nothing_else` is to be said. For
/// a program, hidden listeners whose owner could not be seen (any may be the program's) are
/// counted by reason, not listed one by one (as a normal user they may be every listener of
/// root's).
fn hidden_section(
    w: &mut dyn Write,
    out: &Output,
    (query, program): (&str, Option<&str>),
    shown: usize,
    hidden: &[FilteredOut],
    (nothing_else, asked_unread): (bool, Option<(&str, &str)>),
) -> io::Result<()> {
    if hidden.is_empty() {
        if shown == 0 && nothing_else {
            writeln!(
                w,
                "{}",
                crate::collect::steering::nothing_listening(&sanitize(query))
            )?;
        }
        return Ok(());
    }
    let (unseen, seen): (Vec<FilteredOut>, Vec<FilteredOut>) = hidden
        .iter()
        .cloned()
        .partition(|h| program.is_some() && h.listener.owners.is_empty());
    let filters = filters_text(hidden);
    // whoport reads no SCTP or DCCP socket: it never says none listens.
    let unread = hidden
        .iter()
        .flat_map(|h| h.filters.iter())
        .find_map(|f| match *f {
            "/sctp" => Some("SCTP"),
            "/dccp" => Some("DCCP"),
            _ => None,
        });
    let (count, tcp_or_udp) =
        if seen.is_empty() {
            let n = unseen.len();
            (
                format!(
                "{n} {}listening {} hidden by {filters} {} whoport could not see, and {} be {}'s",
                if shown > 0 { "more " } else { "" },
                if n == 1 { "socket" } else { "sockets" },
                if n == 1 { "has an owner" } else { "have owners" },
                if n == 1 { "it may" } else { "any of them may" },
                sanitize(program.unwrap_or_default())
            ),
                unread.is_some(),
            )
        } else {
            (
                format!("{} hidden by {filters}", count_text(seen.len(), shown > 0)),
                unread.is_some(),
            )
        };
    let on = if tcp_or_udp {
        " on TCP, UDP or UDP-Lite"
    } else {
        ""
    };
    if shown == 0 {
        let text = if let Some(unread) = unread {
            let (head, tail) = count.split_once(" hidden by ").unwrap_or((&count, ""));
            format!(
                "{unread} sockets were not looked for (see the note); {head}{on} hidden by {tail}:"
            )
        } else if nothing_else && asked_unread.is_none() {
            format!(
                "Nothing that matches {filters} is listening on {}; {count}:",
                sanitize(query)
            )
        } else {
            // Listeners whose owner is unknown that the filters keep follow, or a process
            // asked for could not be read: not "nothing".
            format!(
                "No listener seen on {} matches {filters}; {count}:",
                sanitize(query)
            )
        };
        for line in wrapped(out, &text, 0, 0) {
            writeln!(w, "{}", paint(out, &line, "1"))?;
        }
    } else {
        for line in wrapped(out, &format!("{count}:"), 0, 0) {
            writeln!(w, "{line}")?;
        }
    }
    if seen.is_empty() {
        return reason_counts(w, out, &unseen);
    }
    lines(w, out, &seen, asked_unread)?;
    if unseen.is_empty() {
        return Ok(());
    }
    let n = unseen.len();
    let text = format!(
        "{n} more listening {} hidden by {} {} whoport could not see; {} be {}'s:",
        if n == 1 { "socket" } else { "sockets" },
        filters_text(&unseen),
        if n == 1 {
            "has an owner"
        } else {
            "have owners"
        },
        if n == 1 { "it may" } else { "any of them may" },
        sanitize(program.unwrap_or_default())
    );
    for line in wrapped(out, &text, 0, 0) {
        writeln!(w, "{line}")?;
    }
    reason_counts(w, out, &unseen)
}

/// One line per reason and filters: "    2 (hidden by -6): another user's process...".
fn reason_counts(w: &mut dyn Write, out: &Output, unseen: &[FilteredOut]) -> io::Result<()> {
    let mut reasons: Vec<(String, String, usize)> = Vec::new();
    for h in unseen {
        let why = h
            .listener
            .hidden_reason
            .as_deref()
            .map_or_else(|| "unknown".to_string(), Hidden::long);
        let by = h.filters.join(", ");
        match reasons.iter_mut().find(|(r, f, _)| *r == why && *f == by) {
            Some((_, _, count)) => *count += 1,
            None => reasons.push((why, by, 1)),
        }
    }
    reasons.sort_by_key(|r| std::cmp::Reverse(r.2));
    for (why, by, count) in reasons {
        let line = format!("{count} (hidden by {by}): {}", sanitize(&why));
        for line in wrapped(out, &line, 4, 3) {
            writeln!(w, "    {line}")?;
        }
    }
    Ok(())
}
