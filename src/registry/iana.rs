//! The IANA registry as whoport stores it: a compact tab-separated table, indexed once at load.
//!
//! The table is text (`iana.tsv`, produced by the importer in `import.rs`): three header
//! lines, then one line per IANA row with the twelve CSV columns in IANA's order, tabs,
//! newlines and backslashes escaped. Rows are indexed by `index.rs` (at compile time for the
//! embedded table) and their fields unescaped only when read.

use std::borrow::Cow;

use serde::Serialize;

use crate::error::RegistryError;
use crate::port::{PortRange, Protocol, DYNAMIC_START};
pub use crate::registry::index::{RowIndex, BUCKET_PORTS, COLUMNS, MAGIC};

/// The snapshot compiled into the binary.
pub const EMBEDDED: &str = include_str!("iana.tsv");

// EMBEDDED_SNAPSHOT, EMBEDDED_ROWS and EMBEDDED_BUCKET_*: the embedded table's index, built by
// build.rs.
include!(concat!(env!("OUT_DIR"), "/iana_index.rs"));

/// IANA's column names, in order.
pub const HEADER: [&str; COLUMNS] = [
    "Service Name",
    "Port Number",
    "Transport Protocol",
    "Description",
    "Assignee",
    "Contact",
    "Registration Date",
    "Modification Date",
    "Reference",
    "Service Code",
    "Unauthorized Use Reported",
    "Assignment Notes",
];

/// The registry's word for one port on one protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Assigned,
    Reserved,
    Unassigned,
    Dynamic,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Assigned => "assigned",
            Status::Reserved => "reserved",
            Status::Unassigned => "unassigned",
            Status::Dynamic => "dynamic",
        }
    }
}

/// Where the table in use came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Embedded,
    Installed(std::path::PathBuf),
    File(std::path::PathBuf),
}

/// A loaded registry table.
#[derive(Debug)]
pub struct IanaTable {
    text: Cow<'static, str>,
    rows: Cow<'static, [RowIndex]>,
    /// For each bucket of `BUCKET_PORTS` ports, the rows whose range touches it:
    /// `bucket_rows[bucket_offsets[b]..bucket_offsets[b + 1]]` (ranges stored as ranges).
    bucket_offsets: Cow<'static, [u32]>,
    bucket_rows: Cow<'static, [u32]>,
    snapshot: String,
    pub origin: Origin,
}

/// One row of the registry, fields still escaped until read.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    fields: [&'a str; COLUMNS],
    pub ports: Option<PortRange>,
    pub protocol: Option<Protocol>,
}

impl<'a> Entry<'a> {
    fn field(&self, i: usize) -> Cow<'a, str> {
        unescape(self.fields[i])
    }
    pub fn name(&self) -> Cow<'a, str> {
        self.field(0)
    }
    pub fn description(&self) -> Cow<'a, str> {
        self.field(3)
    }
    pub fn assignee(&self) -> Cow<'a, str> {
        self.field(4)
    }
    pub fn contact(&self) -> Cow<'a, str> {
        self.field(5)
    }
    pub fn registration_date(&self) -> Cow<'a, str> {
        self.field(6)
    }
    pub fn modification_date(&self) -> Cow<'a, str> {
        self.field(7)
    }
    pub fn reference(&self) -> Cow<'a, str> {
        self.field(8)
    }
    pub fn service_code(&self) -> Cow<'a, str> {
        self.field(9)
    }
    pub fn unauthorized_use(&self) -> Cow<'a, str> {
        self.field(10)
    }
    pub fn notes(&self) -> Cow<'a, str> {
        self.field(11)
    }
    pub fn has_name(&self) -> bool {
        !self.fields[0].is_empty()
    }

    /// Does this row speak for `protocol`? Rows without a protocol are IANA's old
    /// protocol-less entries and ranges, which cover TCP and UDP.
    pub fn covers_protocol(&self, protocol: Protocol) -> bool {
        covers(self.protocol, protocol)
    }

    /// What a row without a service name says about its ports.
    pub fn nameless_status(&self) -> Status {
        let text = self.fields[3].to_ascii_lowercase();
        if text.starts_with("reserved") || text.starts_with("any private") {
            Status::Reserved
        } else {
            Status::Unassigned
        }
    }
}

/// The registry's answer for one port on one protocol.
#[derive(Debug, Clone)]
pub struct PortStatus<'a> {
    pub protocol: Protocol,
    pub status: Status,
    /// Rows with a service name: the tenants (empty unless assigned).
    pub services: Vec<Entry<'a>>,
    /// Rows without a service name: "Reserved", "Unassigned", "De-registered"...
    pub remarks: Vec<Entry<'a>>,
}

impl IanaTable {
    /// The snapshot compiled into the binary: no work at run time.
    pub fn embedded() -> IanaTable {
        IanaTable {
            text: Cow::Borrowed(EMBEDDED),
            rows: Cow::Borrowed(&EMBEDDED_ROWS),
            snapshot: EMBEDDED_SNAPSHOT.to_string(),
            bucket_offsets: Cow::Borrowed(&EMBEDDED_BUCKET_OFFSETS),
            bucket_rows: Cow::Borrowed(&EMBEDDED_BUCKET_ROWS),
            origin: Origin::Embedded,
        }
    }

    /// Parses a compact table, checking every line.
    pub fn parse(text: Cow<'static, str>, origin: Origin) -> Result<IanaTable, RegistryError> {
        let name = origin_name(&origin);
        if text.is_empty() {
            return Err(RegistryError::Empty { origin: name });
        }
        let indexed = crate::registry::index::index(&text).map_err(|(line, reason)| {
            RegistryError::Malformed {
                origin: name,
                line,
                reason,
            }
        })?;
        let (offsets, by_bucket) = crate::registry::index::by_bucket(&indexed.rows);
        Ok(IanaTable {
            text,
            rows: Cow::Owned(indexed.rows),
            snapshot: indexed.snapshot,
            bucket_offsets: Cow::Owned(offsets),
            bucket_rows: Cow::Owned(by_bucket),
            origin,
        })
    }

    /// The snapshot's date: its newest registration or modification date.
    pub fn snapshot(&self) -> &str {
        &self.snapshot
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    fn entry(&self, row: &RowIndex) -> Entry<'_> {
        let line = &self.text[row.start as usize..row.end as usize];
        let mut fields = [""; COLUMNS];
        for (slot, field) in fields.iter_mut().zip(line.split('\t')) {
            *slot = field;
        }
        Entry {
            fields,
            ports: ports_of(row),
            protocol: protocol_of(row),
        }
    }

    /// Every row, in the table's order.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'_>> {
        self.rows.iter().map(|row| self.entry(row))
    }

    /// Rows whose port range contains `port`, for `protocol`, in table order.
    pub fn covering(&self, port: u16, protocol: Protocol) -> impl Iterator<Item = Entry<'_>> {
        self.rows_covering(port)
            .map(|r| self.entry(r))
            .filter(move |e| e.covers_protocol(protocol))
    }

    /// Rows whose port range contains `port`, in table order, not yet split into fields.
    fn rows_covering(&self, port: u16) -> impl Iterator<Item = &RowIndex> {
        let b = usize::from(port) / BUCKET_PORTS;
        let span = self.bucket_offsets[b] as usize..self.bucket_offsets[b + 1] as usize;
        self.bucket_rows[span]
            .iter()
            .map(|&i| &self.rows[i as usize])
            .filter(move |r| r.has_port && r.first <= port && port <= r.last)
    }

    /// The status of `port` on `protocol`, with the rows that decide it.
    pub fn status(&self, port: u16, protocol: Protocol) -> PortStatus<'_> {
        let (services, remarks): (Vec<_>, Vec<_>) =
            self.covering(port, protocol).partition(Entry::has_name);
        let status = if !services.is_empty() {
            Status::Assigned
        } else if let Some(first) = remarks.first() {
            if remarks
                .iter()
                .any(|e| e.nameless_status() == Status::Reserved)
            {
                Status::Reserved
            } else {
                first.nameless_status()
            }
        } else if port >= DYNAMIC_START {
            Status::Dynamic
        } else {
            Status::Unassigned
        };
        PortStatus {
            protocol,
            status,
            services,
            remarks,
        }
    }

    /// The first IANA service name for `port` on `protocol`, if it is assigned.
    pub fn service_name(&self, port: u16, protocol: Protocol) -> Option<Cow<'_, str>> {
        // As `covering(...).find(Entry::has_name)`, without splitting each row into all its
        // fields: a listing asks this once for every socket.
        self.rows_covering(port)
            .filter(|r| covers(protocol_of(r), protocol))
            .find_map(|r| {
                let line = &self.text[r.start as usize..r.end as usize];
                let name = line.split('\t').next().unwrap_or("");
                (!name.is_empty()).then(|| unescape(name))
            })
    }

    /// Protocols worth showing for `port`: TCP and UDP always, SCTP and DCCP where a row exists.
    pub fn protocols_for(&self, port: u16) -> Vec<Protocol> {
        Protocol::ALL
            .into_iter()
            .filter(|&p| {
                matches!(p, Protocol::Tcp | Protocol::Udp)
                    || self.covering(port, p).any(|e| e.protocol == Some(p))
            })
            .collect()
    }

    /// Rows whose service name is `name`, ignoring case.
    pub fn by_name(&self, name: &str) -> Vec<Entry<'_>> {
        self.entries()
            .filter(|e| e.has_name() && e.name().eq_ignore_ascii_case(name))
            .collect()
    }

    /// Counts of rows per protocol column value (`None`: no protocol).
    pub fn counts(&self) -> Vec<(Option<Protocol>, usize)> {
        let mut counts: Vec<(Option<Protocol>, usize)> = Protocol::ALL
            .into_iter()
            .map(Some)
            .chain([None])
            .map(|p| (p, 0))
            .collect();
        for row in self.rows.iter() {
            if let Some(slot) = counts.iter_mut().find(|(p, _)| *p == protocol_of(row)) {
                slot.1 += 1;
            }
        }
        counts
    }

    /// Number of rows that have no port (kept for lookup by service name).
    pub fn portless(&self) -> usize {
        self.rows.iter().filter(|r| !r.has_port).count()
    }
}

fn origin_name(origin: &Origin) -> String {
    match origin {
        Origin::Embedded => "embedded registry".to_string(),
        Origin::Installed(p) | Origin::File(p) => p.display().to_string(),
    }
}

fn ports_of(row: &RowIndex) -> Option<PortRange> {
    row.has_port.then_some(PortRange {
        start: row.first,
        end: row.last,
    })
}

/// Whether a row of `row_protocol` speaks for `protocol` (see [`Entry::covers_protocol`]).
fn covers(row_protocol: Option<Protocol>, protocol: Protocol) -> bool {
    // UDP-Lite uses UDP's port numbers (RFC 3828 §3.5).
    let protocol = protocol.registry_protocol();
    match row_protocol {
        Some(p) => p == protocol,
        None => matches!(protocol, Protocol::Tcp | Protocol::Udp),
    }
}

fn protocol_of(row: &RowIndex) -> Option<Protocol> {
    (row.protocol as usize)
        .checked_sub(1)
        .and_then(|i| Protocol::ALL.get(i).copied())
}

/// Parses IANA's port column: empty, `80`, or `6000-6063`.
pub fn parse_port_field(text: &str) -> Result<Option<PortRange>, String> {
    crate::registry::index::parse_port_field(text)
        .map(|r| r.map(|(start, end)| PortRange { start, end }))
}

/// Parses IANA's protocol column: empty, or one of the four transports.
pub fn parse_protocol_field(text: &str) -> Result<Option<Protocol>, String> {
    crate::registry::index::protocol_code(text).map(|code| {
        (code as usize)
            .checked_sub(1)
            .and_then(|i| Protocol::ALL.get(i).copied())
    })
}

/// Escapes a field for the compact table.
pub fn escape(field: &str) -> Cow<'_, str> {
    if !field.contains(['\\', '\t', '\n', '\r']) {
        return Cow::Borrowed(field);
    }
    let mut out = String::with_capacity(field.len() + 8);
    for c in field.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Reverses [`escape`].
pub fn unescape(field: &str) -> Cow<'_, str> {
    if !field.contains('\\') {
        return Cow::Borrowed(field);
    }
    let mut out = String::with_capacity(field.len());
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_name_is_the_first_named_row_covering_the_port() {
        let t = IanaTable::embedded();
        let mut named = 0;
        for port in 0..=u16::MAX {
            for protocol in Protocol::ALL {
                let slow = t
                    .covering(port, protocol)
                    .find(Entry::has_name)
                    .map(|e| e.name());
                assert_eq!(t.service_name(port, protocol), slow, "{port}/{protocol:?}");
                named += usize::from(slow.is_some());
            }
        }
        assert!(named > 10_000, "{named}");
    }

    #[test]
    fn protocol_codes_follow_protocol_order() {
        for (i, p) in Protocol::ALL.iter().enumerate() {
            assert_eq!(crate::registry::index::PROTOCOLS[i], p.as_str());
            assert_eq!(parse_protocol_field(p.as_str()), Ok(Some(*p)));
        }
        assert_eq!(parse_protocol_field(""), Ok(None));
    }

    #[test]
    fn embedded_index_matches_a_run_time_index() {
        let built = IanaTable::parse(Cow::Borrowed(EMBEDDED), Origin::Embedded).expect("parses");
        assert_eq!(&built.rows[..], &EMBEDDED_ROWS[..]);
        assert_eq!(&built.bucket_offsets[..], &EMBEDDED_BUCKET_OFFSETS[..]);
        assert_eq!(&built.bucket_rows[..], &EMBEDDED_BUCKET_ROWS[..]);
        assert_eq!(built.snapshot, EMBEDDED_SNAPSHOT);
    }

    #[test]
    fn escaping_round_trips() {
        for s in [
            "plain",
            "a\tb",
            "line\nnext\r\n",
            "back\\slash\\n",
            "",
            "\\",
        ] {
            assert_eq!(unescape(&escape(s)), s);
            assert!(!escape(s).contains(['\t', '\n', '\r']));
        }
    }

    #[test]
    fn port_fields() {
        assert_eq!(parse_port_field(""), Ok(None));
        assert_eq!(parse_port_field("80"), Ok(Some(PortRange::single(80))));
        assert_eq!(
            parse_port_field("6000-6063"),
            Ok(Some(PortRange {
                start: 6000,
                end: 6063
            }))
        );
        assert!(parse_port_field("65536").is_err());
        assert!(parse_port_field("80-20").is_err());
        assert!(parse_port_field("x").is_err());
        assert!(parse_port_field("-5").is_err());
    }

    #[test]
    fn refuses_truncated_table() {
        let text = format!("{MAGIC}\n#snapshot 2020-01-01\n#rows 2\nx\t1\ttcp\t\t\t\t\t\t\t\t\t\n");
        let err = IanaTable::parse(Cow::Owned(text), Origin::Embedded).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
    }

    #[test]
    fn refuses_foreign_text() {
        let err = IanaTable::parse(Cow::Borrowed("hello\n"), Origin::Embedded).unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }
}
