//! What a listener is, for the audit: from the registry (IANA service names on its port), the
//! unofficial-uses table, the process name, and the committed table `services.tsv`.

use std::sync::OnceLock;

use crate::port::Protocol;

/// The committed table (see its header for the columns).
pub const TABLE: &str = include_str!("services.tsv");

/// Whether a service may face a network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// Must not face a network unprotected: databases, caches, search engines, container and
    /// orchestration APIs, debuggers, development servers, local AI servers.
    Sensitive,
    /// Meant to face some network, but on all interfaces it usually answers more than it
    /// should: an rsync daemon (module listing), a DNS server (an open resolver). Each row
    /// says what to do.
    Restricted,
    /// Meant to face the network: sshd, web, mail, time servers.
    Public,
}

/// One row of `services.tsv`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Class {
    pub key: &'static str,
    /// `None`: every port of the key.
    pub ports: Option<Vec<(u16, Protocol)>>,
    /// Ports where the port alone is evidence enough, whatever the process.
    pub by_port: Vec<(u16, Protocol)>,
    pub exposure: Exposure,
    pub kind: &'static str,
    /// Normalised process names; empty when unknown.
    pub implementations: Vec<&'static str>,
    /// What to do when it is exposed (restricted rows); `None`: the generic advice.
    pub fix: Option<&'static str>,
    /// Where its exposure is documented.
    pub source: Option<&'static str>,
}

impl Class {
    fn applies_to(&self, port: u16, protocol: Protocol) -> bool {
        self.ports
            .as_ref()
            .is_none_or(|ps| ps.contains(&(port, protocol)))
    }

    /// Is one of `names` (already normalised) an implementation of this service?
    pub fn implemented_by(&self, names: &[String]) -> bool {
        names
            .iter()
            .any(|n| self.implementations.iter().any(|i| i == n))
    }
}

/// Interpreters and runtimes: their name alone says nothing about the service.
const GENERIC: &[&str] = &[
    "node", "python", "java", "ruby", "php", "perl", "beam.smp", "systemd", "server", "deno",
    "bun", "dotnet",
];

/// Process names are compared as the program matcher compares them.
pub use crate::registry::known::normalise;

/// Parses the table; an error names the line.
pub fn parse(text: &'static str) -> Result<Vec<Class>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fail = |what: &str| format!("services.tsv line {}: {what}", i + 1);
        let fields: Vec<&'static str> = line.split('\t').collect();
        let [key, ports, by_port, exposure, kind, implementations, fix, source] = fields[..] else {
            return Err(fail("expected 8 tab-separated fields"));
        };
        let optional = |v: &'static str| (v != "-").then_some(v);
        let pairs = |list: &'static str| {
            list.split(',')
                .map(|pp| {
                    let (port, proto) = pp.split_once('/')?;
                    Some((port.parse().ok()?, proto.parse().ok()?))
                })
                .collect::<Option<Vec<(u16, Protocol)>>>()
                .ok_or_else(|| fail("bad port/protocol list"))
        };
        let ports = match ports {
            "-" => None,
            list => Some(pairs(list)?),
        };
        let by_port = match by_port {
            "-" => Vec::new(),
            list => pairs(list)?,
        };
        let exposure = match exposure {
            "sensitive" => Exposure::Sensitive,
            "restricted" => Exposure::Restricted,
            "public" => Exposure::Public,
            _ => return Err(fail("exposure must be sensitive, restricted or public")),
        };
        let implementations = match implementations {
            "-" => Vec::new(),
            list => list.split(',').collect(),
        };
        let (fix, source) = (optional(fix), optional(source));
        if exposure == Exposure::Restricted && fix.is_none() {
            return Err(fail("a restricted row needs its fix"));
        }
        out.push(Class {
            key,
            ports,
            by_port,
            exposure,
            kind,
            implementations,
            fix,
            source,
        });
    }
    Ok(out)
}

/// The committed table, parsed once.
pub fn all() -> &'static [Class] {
    static ROWS: OnceLock<Vec<Class>> = OnceLock::new();
    ROWS.get_or_init(|| parse(TABLE).unwrap_or_else(|e| panic!("{e}")))
}

/// The row of `key` (an IANA name or a program of the unofficial table) for this port, if
/// the table has one.
pub fn by_key(key: &str, port: u16, protocol: Protocol) -> Option<&'static Class> {
    all()
        .iter()
        .find(|c| c.key == key && c.applies_to(port, protocol))
}

/// What is known about a listener's port and process, gathered by the caller.
#[derive(Debug, Clone, Default)]
pub struct Facts<'a> {
    pub port: u16,
    pub protocol: Option<Protocol>,
    /// IANA service names on this port and protocol.
    pub iana: Vec<String>,
    /// Programs of the unofficial-uses table on this port and protocol.
    pub unofficial: Vec<&'a str>,
    /// Normalised names of the owning processes (name and executable base name).
    pub processes: Vec<String>,
}

/// Decides what the listener is, most specific evidence first:
/// 1. a service of this port (registry or unofficial table) implemented by the process;
/// 2. a service whose implementation has this process's distinctive name (redis-server on
///    any port);
/// 3. an IANA service of the port, or a program of the unofficial table whose row takes this
///    port alone as evidence (`by_port`: the kubelet's read-only port), whatever the process.
pub fn classify(f: &Facts<'_>) -> Option<&'static Class> {
    let protocol = f.protocol?;
    let on_port = |c: &&Class| {
        c.applies_to(f.port, protocol)
            && (f.iana.iter().any(|n| n == c.key) || f.unofficial.contains(&c.key))
    };
    all()
        .iter()
        .filter(on_port)
        .find(|c| c.implemented_by(&f.processes))
        .or_else(|| {
            let distinctive: Vec<String> = f
                .processes
                .iter()
                .filter(|p| !GENERIC.contains(&p.as_str()))
                .cloned()
                .collect();
            let rows = || {
                all()
                    .iter()
                    .filter(|c| c.ports.is_none() || c.applies_to(f.port, protocol))
            };
            // A row whose main implementation it is first (memcached is memcache before it
            // is a part of Couchbase Server), then any row it implements.
            rows()
                .find(|c| {
                    c.implementations
                        .first()
                        .is_some_and(|i| distinctive.iter().any(|d| d == i))
                })
                .or_else(|| rows().find(|c| c.implemented_by(&distinctive)))
        })
        .or_else(|| {
            all()
                .iter()
                .filter(|c| c.applies_to(f.port, protocol))
                .find(|c| f.iana.iter().any(|n| n == c.key))
        })
        .or_else(|| by_port_alone(f))
}

/// The row whose program the unofficial table lists on this port, when the row takes the port
/// alone as evidence.
pub fn by_port_alone(f: &Facts<'_>) -> Option<&'static Class> {
    let protocol = f.protocol?;
    all()
        .iter()
        .find(|c| c.by_port.contains(&(f.port, protocol)) && f.unofficial.contains(&c.key))
}

/// The IANA services of the port that whoport knows the implementations of, and whether the
/// process is one of them: `Some(service)` when it is not (a mismatch).
pub fn mismatch(f: &Facts<'_>) -> Option<&'static Class> {
    let protocol = f.protocol?;
    let known: Vec<&'static Class> = all()
        .iter()
        .filter(|c| {
            c.applies_to(f.port, protocol)
                && !c.implementations.is_empty()
                && f.iana.iter().any(|n| n == c.key)
        })
        .collect();
    if known.is_empty()
        || f.processes.is_empty()
        || known.iter().any(|c| c.implemented_by(&f.processes))
    {
        return None;
    }
    known.first().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(
        port: u16,
        iana: &[&str],
        unofficial: &[&'static str],
        procs: &[&str],
    ) -> Facts<'static> {
        Facts {
            port,
            protocol: Some(Protocol::Tcp),
            iana: iana.iter().map(|s| s.to_string()).collect(),
            unofficial: unofficial.to_vec(),
            processes: procs.iter().map(|p| normalise(p)).collect(),
        }
    }

    #[test]
    fn table_is_sorted_unique_and_well_formed() {
        let rows = parse(TABLE).expect("parses");
        assert!(rows.len() >= 60);
        for pair in rows.windows(2) {
            let order = |c: &Class| (c.key.to_lowercase(), c.key);
            assert!(
                order(&pair[0]) < order(&pair[1]),
                "not sorted or duplicated: {} / {}",
                pair[0].key,
                pair[1].key
            );
        }
        for c in &rows {
            assert!(!c.kind.is_empty());
            for i in &c.implementations {
                assert_eq!(
                    normalise(i),
                    *i,
                    "{}: implementation '{i}' is not normalised",
                    c.key
                );
            }
        }
    }

    /// Every row says where what it claims is documented.
    #[test]
    fn every_row_has_a_source() {
        for c in all() {
            let source = c
                .source
                .unwrap_or_else(|| panic!("'{}' needs a source", c.key));
            assert!(source.starts_with("https://"), "{}: {source}", c.key);
            assert!(
                ![
                    "wikipedia.org",
                    "wiki.archlinux.org",
                    "fandom.com",
                    "hacktricks"
                ]
                .iter()
                .any(|w| source.contains(w)),
                "{}: a community wiki is no source: {source}",
                c.key
            );
        }
        assert!(
            parse("x\t-\t-\tsensitive\tdatabase\t-\t-\n").is_err(),
            "7 fields"
        );
    }

    /// A port taken alone as evidence is one the unofficial table gives to that program as
    /// its default.
    #[test]
    fn by_port_rows_are_defaults_of_the_unofficial_table() {
        let mut seen = 0;
        for c in all() {
            for &(port, protocol) in &c.by_port {
                seen += 1;
                assert!(
                    crate::registry::unofficial::for_port(port, Some(protocol))
                        .iter()
                        .any(|u| u.program == c.key
                            && u.role == crate::registry::unofficial::Role::Default),
                    "{}: {port}/{protocol} is not its default in unofficial.tsv",
                    c.key
                );
            }
        }
        assert!(seen >= 1);
    }

    /// Services that ship without authentication by default, or answer everyone when
    /// exposed: each row says where that is documented.
    #[test]
    fn unauthenticated_by_default_rows_have_sources() {
        let sourced = [
            "docker",
            "docker-s",
            "domain",
            "Elasticsearch",
            "etcd-client",
            "etcd-server",
            "Kubernetes kubelet",
            "memcache",
            "MongoDB",
            "mongodb",
            "OpenSearch",
            "redis",
            "rsync",
            "Apache ZooKeeper",
            "Apache Hadoop YARN",
            "Docker Registry",
        ];
        for key in sourced {
            let row = all()
                .iter()
                .find(|c| c.key == key)
                .unwrap_or_else(|| panic!("no row '{key}'"));
            assert!(
                row.source.is_some_and(|s| s.starts_with("https://")),
                "'{key}' needs a source"
            );
        }
        for c in all() {
            assert!(
                c.source.is_none_or(|s| s.starts_with("https://")),
                "{}",
                c.key
            );
            if c.exposure == Exposure::Restricted {
                assert!(c.fix.is_some_and(|f| f.len() > 40), "{}", c.key);
            }
        }
    }

    #[test]
    fn every_key_is_a_registry_name_or_an_unofficial_program() {
        let iana = crate::registry::iana::IanaTable::embedded();
        let programs: Vec<&str> = crate::registry::unofficial::all()
            .iter()
            .map(|u| u.program)
            .collect();
        for c in all() {
            assert!(
                !iana.by_name(c.key).is_empty() || programs.contains(&c.key),
                "unknown key '{}'",
                c.key
            );
        }
    }

    #[test]
    fn normalises_versions() {
        assert_eq!(normalise("python3.11"), "python");
        assert_eq!(normalise("Python3"), "python");
        assert_eq!(normalise("php8.2"), "php");
        assert_eq!(normalise("redis-server"), "redis-server");
        assert_eq!(normalise("42"), "42");
        assert_eq!(normalise("k3s-"), "k3s-");
    }

    #[test]
    fn classification() {
        let c = |f: &Facts<'_>| classify(f).map(|c| (c.key, c.exposure));
        // The port's service, implemented by the process.
        assert_eq!(
            c(&facts(5432, &["postgresql"], &[], &["postgres"])),
            Some(("postgresql", Exposure::Sensitive))
        );
        assert_eq!(
            c(&facts(22, &["ssh"], &[], &["sshd"])),
            Some(("ssh", Exposure::Public))
        );
        assert_eq!(
            c(&facts(873, &["rsync"], &[], &["rsync"])),
            Some(("rsync", Exposure::Restricted))
        );
        assert_eq!(
            c(&facts(53, &["domain"], &[], &["dnsmasq"])),
            Some(("domain", Exposure::Restricted))
        );
        // A distinctive name on any port: an rsync daemon, memcached, the kubelet.
        assert_eq!(
            c(&facts(41873, &[], &[], &["rsync"])).map(|x| x.0),
            Some("rsync")
        );
        assert_eq!(
            c(&facts(10255, &[], &[], &["kubelet"])).map(|x| x.1),
            Some(Exposure::Sensitive)
        );
        assert_eq!(
            c(&facts(41211, &[], &[], &["memcached"])).map(|x| x.0),
            Some("memcache")
        );
        // An unofficial program, implemented by the process.
        assert_eq!(
            c(&facts(
                9200,
                &["wap-wsp"],
                &["Elasticsearch", "OpenSearch"],
                &["java"]
            )),
            Some(("Elasticsearch", Exposure::Sensitive))
        );
        // A distinctive process on a port of its own choosing.
        assert_eq!(
            c(&facts(7000, &["afs3-fileserver"], &[], &["redis-server"])).map(|x| x.1),
            Some(Exposure::Sensitive)
        );
        // A generic runtime on an ambiguous port says nothing.
        assert_eq!(
            c(&facts(
                8080,
                &["http-alt"],
                &["Jenkins", "Traefik"],
                &["java"]
            )),
            None
        );
        // Port rows limited to some ports: Kubernetes NodePorts are not the API server.
        assert_eq!(
            c(&facts(31000, &[], &["Kubernetes"], &["kube-proxy"])),
            None
        );
        assert_eq!(
            c(&facts(6443, &[], &["Kubernetes"], &["kube-apiserver"])).map(|x| x.0),
            Some("Kubernetes")
        );
        // The kubelet's read-only port: the port alone, whatever the process; not its other
        // ports, and not without the unofficial table's row.
        assert_eq!(
            c(&facts(10255, &[], &["Kubernetes kubelet"], &["python3"])),
            Some(("Kubernetes kubelet", Exposure::Sensitive))
        );
        assert_eq!(
            c(&facts(10255, &[], &["Kubernetes kubelet"], &[])).map(|x| x.0),
            Some("Kubernetes kubelet"),
            "no process seen"
        );
        assert_eq!(
            c(&facts(10250, &[], &["Kubernetes kubelet"], &["python3"])),
            None
        );
        assert_eq!(c(&facts(10255, &[], &[], &["python3"])), None);
        // A distinctive process still says what it is first.
        assert_eq!(
            c(&facts(10255, &[], &["Kubernetes kubelet"], &["nginx"])).map(|x| x.0),
            Some("http")
        );
        // An IANA service alone classifies (and is a mismatch below).
        assert_eq!(
            c(&facts(5432, &["postgresql"], &[], &["python3"])).map(|x| x.0),
            Some("postgresql")
        );
    }

    #[test]
    fn mismatches() {
        let m = |f: &Facts<'_>| mismatch(f).map(|c| c.key);
        assert_eq!(m(&facts(22, &["ssh"], &[], &["sshd"])), None);
        assert_eq!(m(&facts(22, &["ssh"], &[], &["dropbear"])), None);
        assert_eq!(
            m(&facts(22, &["ssh"], &[], &["systemd"])),
            None,
            "socket activation"
        );
        assert_eq!(m(&facts(22, &["ssh"], &[], &["nc"])), Some("ssh"));
        assert_eq!(
            m(&facts(5432, &["postgresql"], &[], &["python3.11"])),
            Some("postgresql")
        );
        assert_eq!(m(&facts(5432, &["postgresql"], &[], &["postgres"])), None);
        // No known implementations, or no visible process: no claim.
        assert_eq!(
            m(&facts(2668, &["alarm-clock-c"], &[], &["anything"])),
            None
        );
        assert_eq!(m(&facts(5432, &["postgresql"], &[], &[])), None);
    }
}
