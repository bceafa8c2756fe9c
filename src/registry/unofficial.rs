//! Well-known unofficial uses of ports: a curated table with a source for every row.

use std::sync::OnceLock;

use crate::port::{PortRange, Protocol};
use crate::registry::iana::parse_port_field;

/// The committed table (see the header of `unofficial.tsv` for its columns).
pub const TABLE: &str = include_str!("unofficial.tsv");

/// How a program comes to use a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The program listens there when nothing is configured.
    Default,
    /// The program's documentation tells people to use it, but nothing picks it by itself.
    Conventional,
    /// The program's documentation uses it in examples only.
    Example,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Default => "default",
            Role::Conventional => "conventional",
            Role::Example => "example",
        }
    }
}

/// One program known to use a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnofficialUse {
    pub ports: PortRange,
    pub protocol: Protocol,
    pub program: &'static str,
    pub role: Role,
    /// The versions this applies to, when it changed ("-" in the table: all current ones).
    pub versions: Option<&'static str>,
    pub note: &'static str,
    pub source: &'static str,
}

impl UnofficialUse {
    /// Does `query` name this program as a whole: its full name, or the name without a
    /// vendor or family prefix ("kafka" for "Apache Kafka", "node_exporter" for "Prometheus
    /// node_exporter")? A word in the middle of a name does not ("on" is not "Ruby on Rails",
    /// "java" is not "Minecraft Java Edition").
    pub fn named_by(&self, query: &str) -> bool {
        program_names(self.program).any(|n| n.eq_ignore_ascii_case(query))
    }
}

/// Prefixes that name a vendor or family rather than the program itself.
const FAMILY_PREFIXES: &[&str] = &[
    "Apache ",
    "HashiCorp ",
    "Prometheus ",
    "Grafana ",
    "Kubernetes ",
    "NVIDIA ",
    "Oracle ",
    "IBM ",
    "Microsoft ",
    "Sonatype ",
    "Cloudflare ",
    "Eclipse ",
    "Red Hat ",
    "VMware ",
];

/// The whole names a program is known by: its full name, the name without a family prefix,
/// and the name without a parenthesised remark ("Geth (Ethereum)" -> "Geth").
pub fn program_names(program: &str) -> impl Iterator<Item = &str> {
    let bare = program
        .split_once(" (")
        .map_or(program, |(head, _)| head)
        .trim();
    let unprefixed = FAMILY_PREFIXES
        .iter()
        .find_map(|p| bare.strip_prefix(p))
        .filter(|rest| !rest.is_empty());
    let mut names = vec![program, bare];
    names.extend(unprefixed);
    names.dedup();
    names.into_iter()
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
        let [port, protocol, program, role, versions, note, source] = fields[..] else {
            return Err(fail("expected 7 tab-separated fields"));
        };
        let role = match role {
            "default" => Role::Default,
            "conventional" => Role::Conventional,
            "example" => Role::Example,
            _ => return Err(fail("role must be default, conventional or example")),
        };
        let versions = (versions != "-").then_some(versions);
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
            role,
            versions,
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

/// One bit per port: set when some row covers it. Most ports of a large listing are in no
/// row, and are answered without a pass over the table.
fn covered() -> &'static [u64] {
    static PORTS: OnceLock<Vec<u64>> = OnceLock::new();
    PORTS.get_or_init(|| {
        let mut bits = vec![0u64; 1 << 10];
        for u in all() {
            for port in u.ports.start..=u.ports.end {
                bits[usize::from(port >> 6)] |= 1 << (port & 63);
            }
        }
        bits
    })
}

/// Known uses of `port` on `protocol` (any protocol when `None`).
pub fn for_port(port: u16, protocol: Option<Protocol>) -> Vec<&'static UnofficialUse> {
    if covered()[usize::from(port >> 6)] & (1 << (port & 63)) == 0 {
        return Vec::new();
    }
    all()
        .iter()
        .filter(|u| {
            u.ports.contains(port) && protocol.is_none_or(|p| p.registry_protocol() == u.protocol)
        })
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
    fn every_port_finds_the_rows_that_cover_it() {
        for port in 0..=u16::MAX {
            let expected: Vec<_> = all().iter().filter(|u| u.ports.contains(port)).collect();
            assert_eq!(for_port(port, None), expected, "port {port}");
        }
    }

    #[test]
    fn parses_and_is_large_enough() {
        let rows = parse(TABLE).expect("table parses");
        assert!(rows.len() >= 350, "only {} rows", rows.len());
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

    /// Hosts anyone can edit: never a source.
    const COMMUNITY_HOSTS: &[&str] = &[
        "wikipedia.org",
        "fandom.com",
        "wikia.com",
        "wiki.gg",
        "minecraft.wiki",
        "speedguide.net",
        "stackoverflow.com",
        "serverfault.com",
        "superuser.com",
        "reddit.com",
        "developer.valvesoftware.com",
        "gist.github.com",
    ];

    fn host(url: &str) -> &str {
        url.trim_start_matches("https://")
            .split(['/', '?', '#'])
            .next()
            .unwrap_or("")
    }

    #[test]
    fn every_row_has_a_note_and_an_own_source() {
        for u in all() {
            assert!(!u.program.trim().is_empty(), "{u:?}");
            assert_eq!(u.program.trim(), u.program, "{u:?}");
            assert!(!u.note.trim().is_empty(), "{u:?}");
            assert!(!u.note.contains(char::is_control), "{u:?}");
            assert!(
                !u.note.contains("also UDP") && !u.note.contains("also TCP"),
                "a second protocol is a row of its own: {u:?}"
            );
            assert!(
                u.source.starts_with("https://") && !u.source.contains(char::is_whitespace),
                "source must be an https URL: {u:?}"
            );
            let host = host(u.source);
            assert!(host.contains('.') && !host.contains('@'), "{u:?}");
            assert!(
                !COMMUNITY_HOSTS.iter().any(|h| host.ends_with(h)),
                "community site as a source: {u:?}"
            );
            assert!(
                !u.source.contains("/wiki") && !host.starts_with("wiki."),
                "a wiki page as a source: {u:?}"
            );
            if let Some(v) = u.versions {
                assert!(!v.trim().is_empty() && v != "-", "{u:?}");
            }
        }
    }

    #[test]
    fn corrected_rows() {
        let find = |port, protocol, program: &str| {
            for_port(port, Some(protocol))
                .into_iter()
                .find(|u| u.program == program)
                .unwrap_or_else(|| panic!("no {program} on {port}/{protocol}"))
        };
        // UDP rows of their own.
        for (port, program) in [
            (4648, "HashiCorp Nomad"),
            (8301, "HashiCorp Consul"),
            (8302, "HashiCorp Consul"),
            (8600, "HashiCorp Consul"),
            (30303, "Geth (Ethereum)"),
            (51413, "Transmission"),
            (64738, "Mumble server"),
        ] {
            find(port, Protocol::Udp, program);
        }
        // Conventions are not defaults.
        assert_eq!(
            find(5044, Protocol::Tcp, "Logstash").role,
            Role::Conventional
        );
        assert_eq!(find(9001, Protocol::Tcp, "MinIO").role, Role::Conventional);
        // Changed between versions.
        assert!(find(5001, Protocol::Tcp, "ASP.NET Core Kestrel")
            .versions
            .is_some_and(|v| v.contains(".NET 7")));
        assert!(find(6831, Protocol::Udp, "Jaeger")
            .versions
            .is_some_and(|v| v.contains("v1") && v.contains("v2")));
        // pgAdmin: the container on 80/443, the standalone server on 5050.
        find(80, Protocol::Tcp, "pgAdmin 4");
        find(443, Protocol::Tcp, "pgAdmin 4");
        assert!(find(5050, Protocol::Tcp, "pgAdmin 4")
            .note
            .contains("standalone"));
        // Found wrong when every row was re-read against its own source.
        assert_eq!(
            find(6006, Protocol::Tcp, "Storybook").role,
            Role::Conventional,
            "storybook dev takes a free port without -p"
        );
        assert!(
            !for_port(5938, None)
                .iter()
                .any(|u| u.program == "TeamViewer"),
            "TeamViewer connects out to 5938; it does not listen there"
        );
        assert!(find(16010, Protocol::Tcp, "Apache HBase")
            .versions
            .is_some_and(|v| v.contains("1.0")));
        assert_eq!(
            find(8448, Protocol::Tcp, "Matrix Synapse").role,
            Role::Conventional,
            "Synapse listens on 8008; 8448 is the federation port its docs ask a proxy to serve"
        );
        find(24224, Protocol::Tcp, "Fluent Bit");
        find(24224, Protocol::Tcp, "Fluentd");
        assert!(find(8080, Protocol::Tcp, "Keycloak")
            .note
            .contains("start-dev"));
    }

    #[test]
    fn classes_administrators_meet_are_covered() {
        let has = |port: u16, protocol, program: &str| {
            for_port(port, Some(protocol))
                .iter()
                .any(|u| u.program == program)
        };
        let (t, u) = (Protocol::Tcp, Protocol::Udp);
        for (port, protocol, program) in [
            (3389, t, "xrdp"),
            (902, t, "VMware ESXi"),
            (5900, t, "TigerVNC"),
            (5903, t, "TigerVNC"),
            (7001, t, "Oracle WebLogic Server"),
            (7002, t, "Oracle WebLogic Server"),
            (9000, t, "PHP-FPM"),
            (8000, t, "Splunk Enterprise"),
            (8088, t, "Splunk Enterprise"),
            (8089, t, "Splunk Enterprise"),
            (9997, t, "Splunk Enterprise"),
            (2003, t, "Graphite carbon"),
            (2004, t, "Graphite carbon"),
            (8125, u, "StatsD"),
            (8126, t, "Datadog Agent"),
            (50000, t, "IBM Db2"),
            (25000, t, "IBM Db2"),
            (9001, t, "Tor"),
            (9030, t, "Tor"),
            (9093, t, "Apache Kafka"),
            (8333, t, "Bitcoin Core"),
            (8472, u, "flannel"),
            (10248, t, "Kubernetes kubelet"),
            (10249, t, "Kubernetes kube-proxy"),
            (10256, t, "Kubernetes kube-proxy"),
            (19132, u, "Minecraft Bedrock Dedicated Server"),
            (27015, u, "Source Dedicated Server"),
        ] {
            assert!(
                has(port, protocol, program),
                "{program} on {port}/{protocol}"
            );
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
    fn lookup_by_whole_program_name() {
        let kafka: Vec<_> = all().iter().filter(|u| u.named_by("kafka")).collect();
        assert!(kafka.iter().any(|u| u.ports.start == 9092));
        assert!(all().iter().any(|u| u.named_by("node_exporter")));
        assert!(all().iter().any(|u| u.named_by("Apache Kafka")));
        assert!(all().iter().any(|u| u.named_by("geth")));
        // Single words of a longer name are not the program.
        for word in [
            "java", "on", "Ruby", "Rails", "server", "Edition", "Apache", "Bedrock",
        ] {
            let hits: Vec<_> = all().iter().filter(|u| u.named_by(word)).collect();
            assert!(hits.is_empty(), "'{word}' matched {hits:?}");
        }
    }
}
