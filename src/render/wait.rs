//! Output of `wait`: one line saying how it ended, or the same as JSON.

use std::io::{self, Write};

use serde::Serialize;

use crate::port::Protocol;
use crate::render::json::{self, SCHEMA_VERSION};
use crate::wait::{Outcome, Unmet};

#[derive(Debug, Serialize)]
struct WaitDoc {
    schema_version: u32,
    port: u16,
    protocol: Protocol,
    /// "listening" or "free".
    condition: &'static str,
    met: bool,
    waited_seconds: f64,
    looks: u64,
    /// Why the condition did not hold at the last look; `null` when it held.
    unmet: Option<&'static str>,
}

/// "8080/tcp is listening (after 1.2 s)" or "... was not listening after 30.0 s"; with
/// `--pid` or `--process`, listeners held by others, or whose owners were not established in
/// time, are said as such.
pub fn line(port: u16, protocol: Protocol, condition: &str, o: &Outcome) -> String {
    let secs = o.waited.as_secs_f64();
    match o.unmet {
        None => format!("{port}/{protocol} is {condition} (after {secs:.1} s)"),
        Some(Unmet::Not) => format!("{port}/{protocol} was not {condition} after {secs:.1} s"),
        Some(Unmet::OtherHolders) => format!(
            "{port}/{protocol} had listeners after {secs:.1} s, none held by the process asked for"
        ),
        Some(Unmet::OwnersUnseen) => format!(
            "{port}/{protocol} had listeners after {secs:.1} s, none seen held by the process \
             asked for: the owners of some could not be seen or named"
        ),
        Some(Unmet::AskedUnread) => format!(
            "{port}/{protocol} had listeners after {secs:.1} s, none seen held by the process \
             asked for, whose descriptors could not be read: it may hold any of them"
        ),
        Some(Unmet::OwnersNotRead) => format!(
            "{port}/{protocol} had listeners after {secs:.1} s, whose owners were not \
             established in that time (the owner lookup had not answered)"
        ),
    }
}

/// The `unmet` field of the JSON form.
fn unmet_name(unmet: Option<&Unmet>) -> Option<&'static str> {
    unmet.map(|u| match u {
        Unmet::Not => "not",
        Unmet::OtherHolders => "other_holders",
        Unmet::OwnersUnseen => "owners_unseen",
        Unmet::AskedUnread => "asked_unread",
        Unmet::OwnersNotRead => "owners_not_read",
    })
}

/// The JSON form (docs/json.md).
pub fn json(
    w: &mut dyn Write,
    pretty: bool,
    port: u16,
    protocol: Protocol,
    condition: &'static str,
    o: &Outcome,
) -> io::Result<()> {
    json::write(
        w,
        pretty,
        &WaitDoc {
            schema_version: SCHEMA_VERSION,
            port,
            protocol,
            condition,
            met: o.met,
            waited_seconds: (o.waited.as_secs_f64() * 1000.0).round() / 1000.0,
            looks: o.looks,
            unmet: unmet_name(o.unmet.as_ref()),
        },
    )
}
