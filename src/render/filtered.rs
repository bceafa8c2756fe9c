//! What the filters hid: the listeners on the asked port, range or name that the command
//! line's filters left out, with the filter that hid each, so that no output says "Nothing is
//! listening" when something is.

use std::io::{self, Write};

use crate::collect::filtered::FilteredOut;
use crate::config::Output;
use crate::model::Snapshot;
use crate::port::Protocol;
use crate::render::listing::live_section;
use crate::render::sanitize::sanitize;
use crate::render::table::paint;

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

/// One line per hidden listener: endpoint, reach, the filters, its owners.
fn lines(w: &mut dyn Write, hidden: &[FilteredOut]) -> io::Result<()> {
    for h in hidden {
        let l = &h.listener;
        let who: Vec<String> = h.owners.iter().map(|o| sanitize(o).into_owned()).collect();
        writeln!(
            w,
            "    {} {}  {}  (hidden by {}){}",
            l.socket.protocol,
            sanitize(&l.endpoint()),
            l.reach().long(),
            h.filters.join(", "),
            if who.is_empty() {
                String::new()
            } else {
                format!("  {}", who.join(", "))
            }
        )?;
    }
    Ok(())
}

/// The live section of the port card, then what the filters hid on the port.
pub fn card_section(
    w: &mut dyn Write,
    out: &Output,
    snap: &Snapshot,
    port: u16,
    protocols: &[Protocol],
    hidden: &[FilteredOut],
    wide: bool,
) -> io::Result<()> {
    if hidden.is_empty() {
        return live_section(w, out, snap, port, protocols, wide);
    }
    let filters = filters_text(hidden);
    let shown = snap.listeners.iter().any(|l| l.socket.port == port);
    let count = count_text(hidden.len(), shown);
    if shown {
        live_section(w, out, snap, port, protocols, wide)?;
        writeln!(w, "  {count} on {port} hidden by {filters}:")?;
    } else {
        let what: Vec<String> = protocols.iter().map(|p| format!("{port}/{p}")).collect();
        let text = format!(
            "Nothing that matches {filters} is listening on {}; {count} on this port hidden by {filters}:",
            what.join(" or ")
        );
        writeln!(w, "\n{}", paint(out, &text, "1"))?;
    }
    lines(w, hidden)
}

/// Under a range's or a name's listing (or instead of "Nothing is listening"): what the
/// filters hid. `shown` is how many listeners the listing showed.
pub fn list_section(
    w: &mut dyn Write,
    out: &Output,
    query: &str,
    shown: usize,
    hidden: &[FilteredOut],
) -> io::Result<()> {
    if hidden.is_empty() {
        if shown == 0 {
            writeln!(
                w,
                "Nothing is listening on {} on this machine.",
                sanitize(query)
            )?;
        }
        return Ok(());
    }
    let filters = filters_text(hidden);
    let count = count_text(hidden.len(), shown > 0);
    if shown == 0 {
        let text = format!(
            "Nothing that matches {filters} is listening on {}; {count} hidden by {filters}:",
            sanitize(query)
        );
        writeln!(w, "{}", paint(out, &text, "1"))?;
    } else {
        writeln!(w, "{count} hidden by {filters}:")?;
    }
    lines(w, hidden)
}
