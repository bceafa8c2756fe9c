//! Well-known unofficial uses of ports: a curated table with a source for every row.

use std::sync::OnceLock;

use crate::port::{PortRange, Protocol};
use crate::registry::iana::parse_port_field;

/// The committed table (see the header of `unofficial.tsv` for its columns).
pub const TABLE: &str = include_str!("unofficial.tsv");

/// One program known to use a port by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnofficialUse {
    pub ports: PortRange,
    pub protocol: Protocol,
    pub program: &'static str,
    pub note: &'static str,
    pub source: &'static str,
}

impl UnofficialUse {
    /// Does `query` name this program, as a whole or by one of its words ("kafka")?
    pub fn named_by(&self, query: &str) -> bool {
        self.program.eq_ignore_ascii_case(query)
            || program_words(self.program).any(|w| w.eq_ignore_ascii_case(query))
    }
}

/// The words of a program's name, for lookup by name ("Apache Kafka" -> "Apache", "Kafka").
pub fn program_words(program: &str) -> impl Iterator<Item = &str> {
    program
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-'))
        .filter(|w| w.len() > 1)
}

/// Parses the table; an error names the line.
pub fn parse(text: &'static str) -> Result<Vec<UnofficialUse>, String> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fail = |what: &str| format!("unofficial.tsv line {}: {what}", i + 1);
        let fields: Vec<&'static str> = line.split('\t').collect();
        let [port, protocol, program, note, source] = fields[..] else {
            return Err(fail("expected 5 tab-separated fields"));
        };
        let ports = parse_port_field(port)
            .map_err(|e| fail(&e))?
            .ok_or_else(|| fail("missing port"))?;
        let protocol = protocol
            .parse::<Protocol>()
            .map_err(|()| fail("bad protocol"))?;
        rows.push(UnofficialUse {
            ports,
            protocol,
            program,
            note,
            source,
        });
    }
    Ok(rows)
}

/// The committed table, parsed once.
pub fn all() -> &'static [UnofficialUse] {
    static ROWS: OnceLock<Vec<UnofficialUse>> = OnceLock::new();
    ROWS.get_or_init(|| {
        // Checked by the tests below; a broken table cannot be committed.
        parse(TABLE).unwrap_or_else(|e| panic!("{e}"))
    })
}

/// Known uses of `port` on `protocol` (any protocol when `None`).
pub fn for_port(port: u16, protocol: Option<Protocol>) -> Vec<&'static UnofficialUse> {
    all()
        .iter()
        .filter(|u| u.ports.contains(port) && protocol.is_none_or(|p| p == u.protocol))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(u: &UnofficialUse) -> (u16, u16, Protocol, String) {
        (
            u.ports.start,
            u.ports.end,
            u.protocol,
            u.program.to_lowercase(),
        )
    }

    #[test]
    fn parses_and_is_large_enough() {
        let rows = parse(TABLE).expect("table parses");
        assert!(rows.len() >= 150, "only {} rows", rows.len());
    }

    #[test]
    fn is_sorted_without_duplicates() {
        let rows = all();
        for pair in rows.windows(2) {
            assert!(
                key(&pair[0]) < key(&pair[1]),
                "not sorted or duplicated: {:?} then {:?}",
                pair[0],
                pair[1]
            );
        }
    }

    #[test]
    fn every_row_has_a_note_and_a_source() {
        for u in all() {
            assert!(!u.program.trim().is_empty(), "{u:?}");
            assert!(!u.note.trim().is_empty(), "{u:?}");
            assert!(
                u.source.starts_with("https://") && !u.source.contains(char::is_whitespace),
                "source must be an https URL: {u:?}"
            );
            assert!(!u.note.contains(char::is_control), "{u:?}");
        }
    }

    #[test]
    fn anchors_are_present() {
        let programs =
            |port| -> Vec<&str> { for_port(port, None).iter().map(|u| u.program).collect() };
        assert!(programs(3000).contains(&"Grafana"));
        assert!(programs(5173).contains(&"Vite"));
        assert!(programs(9200).contains(&"Elasticsearch"));
        assert!(
            programs(31000).contains(&"Kubernetes"),
            "NodePort range resolves inside"
        );
        assert!(for_port(3000, Some(Protocol::Udp)).is_empty());
    }

    #[test]
    fn lookup_by_program_word() {
        let kafka: Vec<_> = all().iter().filter(|u| u.named_by("kafka")).collect();
        assert!(kafka.iter().any(|u| u.ports.start == 9092));
        assert!(all().iter().any(|u| u.named_by("node_exporter")));
    }
}
