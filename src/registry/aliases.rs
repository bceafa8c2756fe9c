//! Names people use for a service that are not its IANA name: `dns` for domain, `rdp` for
//! ms-wbt-server, `postgres` for postgresql. A small committed table, each row with a source.

use std::sync::OnceLock;

use crate::port::{PortRange, Protocol};
use crate::registry::iana::parse_port_field;

/// The committed table (see its header).
pub const TABLE: &str = include_str!("aliases.tsv");

/// What an alias stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// An IANA service name.
    Service(&'static str),
    /// Ports with no IANA name for them ("https-alt": 8443/tcp).
    Ports(PortRange, Protocol),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub name: &'static str,
    pub targets: Vec<Target>,
    pub source: &'static str,
}

/// Parses the table; an error names the line.
pub fn parse(text: &'static str) -> Result<Vec<Alias>, String> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fail = |what: &str| format!("aliases.tsv line {}: {what}", i + 1);
        let fields: Vec<&'static str> = line.split('\t').collect();
        let [name, targets, source] = fields[..] else {
            return Err(fail("expected 3 tab-separated fields"));
        };
        let targets = targets
            .split(',')
            .map(|t| match t.split_once('/') {
                Some((ports, protocol)) => {
                    let ports = parse_port_field(ports)
                        .map_err(|e| fail(&e))?
                        .ok_or_else(|| fail("missing port"))?;
                    let protocol = protocol.parse().map_err(|()| fail("bad protocol"))?;
                    Ok(Target::Ports(ports, protocol))
                }
                None => Ok(Target::Service(t)),
            })
            .collect::<Result<Vec<_>, String>>()?;
        rows.push(Alias {
            name,
            targets,
            source,
        });
    }
    Ok(rows)
}

/// The committed table, parsed once.
pub fn all() -> &'static [Alias] {
    static ROWS: OnceLock<Vec<Alias>> = OnceLock::new();
    // Checked by the tests below; a broken table cannot be committed.
    ROWS.get_or_init(|| parse(TABLE).unwrap_or_else(|e| panic!("{e}")))
}

/// The alias `name` (any case), if there is one.
pub fn find(name: &str) -> Option<&'static Alias> {
    all().iter().find(|a| a.name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::iana::IanaTable;

    #[test]
    fn table_is_sorted_sourced_and_points_at_real_names() {
        let rows = parse(TABLE).expect("parses");
        assert!(rows.len() >= 20);
        let iana = IanaTable::embedded();
        for pair in rows.windows(2) {
            assert!(pair[0].name < pair[1].name, "{pair:?}");
        }
        for a in &rows {
            assert_eq!(a.name, a.name.to_lowercase(), "{a:?}");
            assert!(a.source.starts_with("https://"), "{a:?}");
            assert!(
                iana.by_name(a.name).iter().all(|e| e.ports.is_none()),
                "'{}' is already an IANA name with ports",
                a.name
            );
            for t in &a.targets {
                if let Target::Service(s) = t {
                    assert!(
                        iana.by_name(s).iter().any(|e| e.ports.is_some()),
                        "{}: '{s}' is no IANA service with a port",
                        a.name
                    );
                }
            }
        }
    }

    #[test]
    fn finds_common_names() {
        let target = |n: &str| find(n).map(|a| a.targets[0]);
        assert_eq!(target("dns"), Some(Target::Service("domain")));
        assert_eq!(target("RDP"), Some(Target::Service("ms-wbt-server")));
        assert_eq!(target("postgres"), Some(Target::Service("postgresql")));
        assert_eq!(
            target("https-alt"),
            Some(Target::Ports(PortRange::single(8443), Protocol::Tcp))
        );
        assert_eq!(find("nginx"), None);
    }
}
