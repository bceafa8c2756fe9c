//! Output of `wait`: one line saying how it ended, or the same as JSON.

use std::io::{self, Write};

use serde::Serialize;

use crate::port::Protocol;
use crate::render::json::{self, SCHEMA_VERSION};
use crate::wait::Outcome;

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
}

/// "8080/tcp is listening (after 1.2 s)" or "... was not listening after 30.0 s".
pub fn line(port: u16, protocol: Protocol, condition: &str, o: &Outcome) -> String {
    let secs = o.waited.as_secs_f64();
    if o.met {
        format!("{port}/{protocol} is {condition} (after {secs:.1} s)")
    } else {
        format!("{port}/{protocol} was not {condition} after {secs:.1} s")
    }
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
        },
    )
}
