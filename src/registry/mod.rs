//! Everything whoport knows about a port without looking at sockets: the IANA registry,
//! the curated unofficial uses, and the local services database.

pub mod aliases;
pub mod iana;
pub mod import;
pub mod index;
pub mod known;
pub mod services;
pub mod unofficial;

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::error::{QueryError, RegistryError};
use crate::input_file::{self, Found};
use crate::port::{EphemeralRange, PortRange, Protocol, ReservedPorts, Tier};
use iana::{Entry, IanaTable, Origin, PortStatus};
use services::{LocalService, LocalServices};
use unofficial::UnofficialUse;

/// File name of an installed (newer) registry in the user's data directory.
pub const INSTALLED_FILE: &str = "iana.tsv";

/// Where `registry update` installs a newer registry: `$XDG_DATA_HOME/whoport/iana.tsv` on
/// Linux, the platform's data directory elsewhere.
pub fn installed_path() -> Option<PathBuf> {
    dirs::data_dir().map(|d| d.join("whoport").join(INSTALLED_FILE))
}

/// The three sources of port knowledge, loaded once per run.
#[derive(Debug)]
pub struct Knowledge {
    pub iana: IanaTable,
    pub local: LocalServices,
    pub ephemeral: EphemeralRange,
    /// Ports never handed out to outgoing connections.
    pub reserved: ReservedPorts,
}

impl Knowledge {
    /// Loads the registry: `csv` for this run if given, else an installed newer one, else the
    /// embedded snapshot. An installed table that cannot be read is reported in `warnings`
    /// and the embedded snapshot is used.
    pub fn load(
        csv: Option<&Path>,
        warnings: &mut Vec<String>,
    ) -> Result<Knowledge, RegistryError> {
        let iana = match csv {
            Some(path) => load_csv(path)?,
            None => load_installed(warnings).unwrap_or_else(IanaTable::embedded),
        };
        Ok(Knowledge {
            iana,
            local: LocalServices::load(warnings),
            ephemeral: EphemeralRange::of_this_machine(),
            reserved: ReservedPorts::of_this_machine(),
        })
    }

    /// Everything known about one port, for the given protocols (all when `None`).
    pub fn report(&self, port: u16, protocol: Option<Protocol>) -> PortReport<'_> {
        // UDP-Lite's ports are UDP's (RFC 3828 §3.5): the registry's answer is UDP's.
        let protocol = protocol.map(Protocol::registry_protocol);
        let protocols = match protocol {
            Some(p) => vec![p],
            None => self.iana.protocols_for(port),
        };
        PortReport {
            port,
            span: PortRange::single(port),
            tier: Tier::of(port),
            ephemeral: self.ephemeral.holds(port),
            reserved_from_ephemeral: self.reserved.holds(port),
            registry: protocols
                .into_iter()
                .map(|p| self.iana.status(port, p))
                .collect(),
            local: self.local.for_port(port, protocol.map(Protocol::as_str)),
            unofficial: unofficial::for_port(port, protocol),
        }
    }

    /// Everything known about a whole range at once (a range a name resolved to, such as
    /// Kubernetes NodePorts 30000-32767): only what covers every port of it. A single port is
    /// [`Knowledge::report`].
    pub fn report_range(&self, range: PortRange, protocol: Option<Protocol>) -> PortReport<'_> {
        let mut r = self.report(range.start, protocol);
        if range.is_single() {
            return r;
        }
        let covers = |ports: Option<PortRange>| {
            ports.is_some_and(|p| p.start <= range.start && range.end <= p.end)
        };
        r.span = range;
        r.ephemeral = self
            .ephemeral
            .holds(range.start)
            .map(|start| start && self.ephemeral.contains(range.end));
        r.reserved_from_ephemeral = self
            .reserved
            .holds(range.start)
            .map(|_| range.ports().all(|p| self.reserved.contains(p)));
        for status in &mut r.registry {
            status.services.retain(|e| covers(e.ports));
            status.remarks.retain(|e| covers(e.ports));
        }
        r.registry
            .retain(|s| !s.services.is_empty() || !s.remarks.is_empty());
        r.local.clear();
        r.unofficial.retain(|u| covers(Some(u.ports)));
        r
    }

    /// Resolves a service or program name to its ports: IANA names, the local services file,
    /// the alias table (`dns`, `rdp`, `postgres`...) and whole program names of the unofficial
    /// table.
    pub fn resolve_service(
        &self,
        name: &str,
        protocol: Option<Protocol>,
    ) -> Result<ServiceMatch<'_>, QueryError> {
        let found = self.expand(name, protocol);
        if found.ranges.is_empty() && found.portless.is_empty() {
            if let Some(p) = protocol {
                // Known, but on other protocols: say which, instead of suggesting itself.
                let mut others = Vec::new();
                let mut available = Vec::new();
                for q in Protocol::ALL {
                    let on = self.expand(name, Some(q));
                    if on.ranges.is_empty() {
                        continue;
                    }
                    others.push(q.as_str().to_uppercase());
                    available.extend(spans(&on.ranges).iter().map(|r| format!("{r}/{q}")));
                }
                if !others.is_empty() {
                    const SHOWN: usize = 6;
                    let more = available.len().saturating_sub(SHOWN);
                    available.truncate(SHOWN);
                    let mut available = available.join(", ");
                    if more > 0 {
                        available.push_str(&format!(" and {more} more"));
                    }
                    return Err(QueryError::WrongProtocol {
                        value: name.to_string(),
                        protocol: p.as_str().to_string(),
                        other: and_list(&others),
                        available,
                    });
                }
            }
            let suggestions: Vec<String> = self
                .suggest_on(name, protocol)
                .into_iter()
                .map(|s| crate::error::with_protocol(&s, protocol.map(Protocol::as_str)))
                .collect();
            let elsewhere = match protocol {
                Some(p) if suggestions.is_empty() => self.elsewhere(name, p),
                _ => Vec::new(),
            };
            return Err(QueryError::UnknownService {
                value: name.to_string(),
                protocol: protocol.map(|p| p.as_str().to_string()),
                services_file: self.services_file_text(),
                suggestions,
                elsewhere,
            });
        }
        Ok(ServiceMatch {
            spans: spans(&found.ranges),
            ranges: merge(found.ranges),
            portless: found.portless,
        })
    }

    /// Close names that have ports on protocols other than `protocol`, each with one of them
    /// (`grafana/tcp`): at most three.
    fn elsewhere(&self, name: &str, protocol: Protocol) -> Vec<String> {
        self.suggest(name)
            .into_iter()
            .flat_map(|s| {
                Protocol::ALL
                    .into_iter()
                    .filter(|q| *q != protocol && !self.expand(&s, Some(*q)).ranges.is_empty())
                    .map(|q| format!("{s}/{q}"))
                    .collect::<Vec<_>>()
            })
            .take(3)
            .collect()
    }

    /// What one name resolves to on `protocol` (all when `None`): its own rows and, for an
    /// alias, the rows and ports it stands for.
    fn expand(&self, name: &str, protocol: Option<Protocol>) -> Lookup<'_> {
        let mut found = self.lookup(name, protocol);
        if let Some(alias) = aliases::find(name) {
            for target in &alias.targets {
                match *target {
                    aliases::Target::Service(s) => {
                        let more = self.lookup(s, protocol);
                        found.ranges.extend(more.ranges);
                    }
                    aliases::Target::Ports(r, p) if protocol.is_none_or(|q| q == p) => {
                        found.ranges.push(r);
                    }
                    aliases::Target::Ports(..) => {}
                }
            }
        }
        found
    }

    /// The local services file as error texts name it.
    fn services_file_text(&self) -> String {
        match &self.local.path {
            Some(p) => p.display().to_string(),
            None => format!(
                "the local services file ('{}' was not used: {})",
                services::default_path().display(),
                self.local
                    .unused
                    .as_deref()
                    .unwrap_or("it could not be read")
            ),
        }
    }

    /// IANA names, local names and whole program names, without aliases.
    fn lookup(&self, name: &str, protocol: Option<Protocol>) -> Lookup<'_> {
        let mut out = Lookup::default();
        let saw = |p: Protocol, out: &mut Lookup<'_>| {
            if !out.protocols.contains(&p) {
                out.protocols.push(p);
            }
        };
        for entry in self.iana.by_name(name) {
            if protocol.is_some_and(|p| entry.protocol.is_some_and(|q| q != p)) {
                continue;
            }
            match entry.ports {
                Some(r) => {
                    out.ranges.push(r);
                    if let Some(p) = entry.protocol {
                        saw(p, &mut out);
                    }
                }
                None => out.portless.push(entry),
            }
        }
        for local in self.local.by_name(name) {
            let p = local.protocol.parse::<Protocol>().ok();
            if protocol.is_none_or(|q| p == Some(q)) {
                out.ranges.push(PortRange::single(local.port));
                if let Some(p) = p {
                    saw(p, &mut out);
                }
            }
        }
        for u in unofficial::all().iter().filter(|u| u.named_by(name)) {
            if protocol.is_none_or(|p| p == u.protocol) {
                out.ranges.push(u.ports);
                saw(u.protocol, &mut out);
            }
        }
        out
    }

    /// Up to three known names close to `name`, closest first: names that begin with it (or
    /// that it begins with) before others, then by edit distance. Empty for a name longer than
    /// any known name could be near.
    pub fn suggest(&self, name: &str) -> Vec<String> {
        self.suggest_on(name, None)
    }

    /// [`Knowledge::suggest`], keeping only names that have ports on `protocol`.
    pub fn suggest_on(&self, name: &str, protocol: Option<Protocol>) -> Vec<String> {
        const LONGEST: usize = 64;
        if name.len() > LONGEST {
            return Vec::new();
        }
        let name = name.to_ascii_lowercase();
        let mut candidates: Vec<String> = self
            .iana
            .entries()
            .filter(|e| e.has_name())
            .map(|e| e.name().to_ascii_lowercase())
            .chain(self.local.entries.iter().flat_map(|s| {
                std::iter::once(s.name.to_ascii_lowercase())
                    .chain(s.aliases.iter().map(|a| a.to_ascii_lowercase()))
            }))
            .chain(
                unofficial::all()
                    .iter()
                    .flat_map(|u| unofficial::program_names(u.program))
                    .map(str::to_ascii_lowercase),
            )
            .chain(aliases::all().iter().map(|a| a.name.to_string()))
            .filter(|c| c.len() <= LONGEST)
            .collect();
        candidates.sort();
        candidates.dedup();
        let mut scored: Vec<(u8, usize, usize, String)> = candidates
            .into_iter()
            .filter_map(|c| closeness(&name, &c).map(|(a, b, d)| (a, b, d, c)))
            .collect();
        scored.sort();
        scored
            .into_iter()
            .map(|(.., c)| c)
            .filter(|c| {
                protocol.is_none_or(|_| {
                    let on = self.expand(c, protocol);
                    !on.ranges.is_empty() || !on.portless.is_empty()
                })
            })
            .take(3)
            .collect()
    }

    /// Services and unofficial uses whose name or description contains `text`.
    pub fn search(&self, text: &str) -> SearchResults<'_> {
        let needle = text.to_lowercase();
        let hit = |s: &str| s.to_lowercase().contains(&needle);
        SearchResults {
            services: self
                .iana
                .entries()
                .filter(|e| e.has_name() && (hit(&e.name()) || hit(&e.description())))
                .collect(),
            unofficial: unofficial::all()
                .iter()
                .filter(|u| hit(u.program) || hit(u.note))
                .collect(),
        }
    }
}

/// What one name resolves to before aliases.
#[derive(Debug, Default)]
struct Lookup<'a> {
    ranges: Vec<PortRange>,
    portless: Vec<Entry<'a>>,
    /// The protocols of the ports found, first seen first.
    protocols: Vec<Protocol>,
}

/// How close `candidate` is to what was typed, as a sort key (smaller is closer), or `None`
/// when it is too far to suggest: a candidate that starts with the name ranks first, then one
/// the name starts with, then one within a small edit distance; closer first within each.
fn closeness(name: &str, candidate: &str) -> Option<(u8, usize, usize)> {
    if candidate == name || name.is_empty() {
        return None;
    }
    let distance = strsim::damerau_levenshtein(name, candidate);
    // What was typed may be the start of the name ("elastic" for elasticsearch), however
    // much is left to type; shorter names first.
    if name.len() >= 3 && candidate.starts_with(name) {
        return Some((0, distance, candidate.len()));
    }
    if name.len() >= 3 && distance <= 4 {
        // Or it may run past the name ("mongodbd" for mongodb).
        if name.starts_with(candidate) {
            return Some((1, distance, candidate.len()));
        }
    }
    let limit = if name.len() <= 4 { 1 } else { 2 };
    (distance <= limit).then_some((2, distance, candidate.len()))
}

/// "TCP", "TCP and UDP", "TCP, UDP and SCTP".
fn and_list(items: &[String]) -> String {
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// Sorts ranges, dropping those inside another.
fn spans(ranges: &[PortRange]) -> Vec<PortRange> {
    let mut sorted = ranges.to_vec();
    sorted.sort_by_key(|r| (r.start, std::cmp::Reverse(r.end)));
    let mut out: Vec<PortRange> = Vec::with_capacity(sorted.len());
    for r in sorted {
        if !out.iter().any(|o| o.start <= r.start && r.end <= o.end) {
            out.push(r);
        }
    }
    out
}

/// Sorts ranges and merges those that overlap or touch, so no port appears twice.
fn merge(mut ranges: Vec<PortRange>) -> Vec<PortRange> {
    ranges.sort_by_key(|r| (r.start, r.end));
    let mut out: Vec<PortRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if u32::from(r.start) <= u32::from(last.end) + 1 => {
                last.end = last.end.max(r.end);
            }
            _ => out.push(r),
        }
    }
    out
}

fn load_csv(path: &Path) -> Result<IanaTable, RegistryError> {
    let bytes = input_file::read(path, input_file::CSV_LIMIT, Found::Named).map_err(|source| {
        RegistryError::Read {
            path: path.to_path_buf(),
            source,
        }
    })?;
    let imported = import::import_csv(&bytes, &path.display().to_string())?;
    IanaTable::parse(Cow::Owned(imported.table), Origin::File(path.to_path_buf()))
}

/// The registry a run without `--registry` uses: the installed one if it is usable, else the
/// embedded snapshot.
pub fn in_use(warnings: &mut Vec<String>) -> IanaTable {
    load_installed(warnings).unwrap_or_else(IanaTable::embedded)
}

/// Loads an imported table with the loader every later run uses, so that nothing is written
/// or installed that would then be refused.
pub fn check(imported: &import::Imported, path: &Path) -> Result<(), RegistryError> {
    IanaTable::parse(
        Cow::Owned(imported.table.clone()),
        Origin::File(path.to_path_buf()),
    )
    .map(drop)
}

/// Is snapshot `new` older than `current`? Dates (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`) compare as
/// text; a snapshot of unknown date counts as older than any dated one.
pub fn is_older(new: &str, current: &str) -> bool {
    let dated = |s: &str| s != "unknown" && !s.is_empty();
    match (dated(new), dated(current)) {
        (true, true) => new < current,
        (false, true) => true,
        _ => false,
    }
}

/// How the origin of a table is named in messages.
pub fn origin_name(origin: &Origin) -> String {
    match origin {
        Origin::Embedded => "the embedded snapshot".to_string(),
        Origin::Installed(p) => format!("installed at '{}'", p.display()),
        Origin::File(p) => format!("'{}'", p.display()),
    }
}

fn load_installed(warnings: &mut Vec<String>) -> Option<IanaTable> {
    let path = installed_path()?;
    let text = match input_file::read_text(&path, input_file::TABLE_LIMIT, Found::Environment) {
        Ok(text) => text,
        Err(e) if e.is_not_found() => return None,
        Err(e) => {
            warnings.push(format!(
                "cannot read the installed registry '{}' ({e}); using the embedded snapshot",
                path.display()
            ));
            return None;
        }
    };
    match IanaTable::parse(Cow::Owned(text), Origin::Installed(path.clone())) {
        Ok(table) => Some(table),
        Err(e) => {
            warnings.push(format!(
                "ignoring the installed registry ({e}); using the embedded snapshot; \
                 run 'whoport registry update --from FILE' to replace it"
            ));
            None
        }
    }
}

/// Everything known about one port.
#[derive(Debug)]
pub struct PortReport<'a> {
    pub port: u16,
    pub tier: Tier,
    /// In this machine's ephemeral range; `None` when the range could not be read.
    pub ephemeral: Option<bool>,
    /// Listed in `ip_local_reserved_ports`: never handed out to outgoing connections; `None`
    /// when the list could not be read.
    pub reserved_from_ephemeral: Option<bool>,
    /// The ports this report is about: `port` alone, or a whole range shown once.
    pub span: PortRange,
    pub registry: Vec<PortStatus<'a>>,
    pub local: Vec<&'a LocalService>,
    pub unofficial: Vec<&'static UnofficialUse>,
}

impl PortReport<'_> {
    /// Whether the port has anything to say beyond "unassigned" (used for range summaries).
    pub fn is_notable(&self) -> bool {
        self.registry.iter().any(|s| !s.services.is_empty())
            || !self.local.is_empty()
            || !self.unofficial.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_snapshots() {
        for (new, current, older) in [
            ("2009-05-01", "2026-02-13", true),
            ("2026-02-13", "2026-02-13", false),
            ("2026-03-01", "2026-02-13", false),
            ("2026", "2026-02-13", true),
            ("unknown", "2026-02-13", true),
            ("2009", "unknown", false),
        ] {
            assert_eq!(is_older(new, current), older, "{new} vs {current}");
        }
    }

    #[test]
    fn merges_overlapping_and_adjacent_ranges() {
        let r = |start, end| PortRange { start, end };
        assert_eq!(
            merge(vec![
                r(6000, 6063),
                r(6000, 6000),
                r(22, 22),
                r(6064, 6070),
                r(65535, 65535)
            ]),
            vec![r(22, 22), r(6000, 6070), r(65535, 65535)]
        );
        assert!(merge(Vec::new()).is_empty());
    }

    fn knowledge() -> Knowledge {
        let mut warnings = Vec::new();
        let mut k = Knowledge::load(None, &mut warnings).expect("loads");
        // The embedded registry, whatever this user has installed.
        k.iana = IanaTable::embedded();
        k.local = LocalServices::default();
        k
    }

    fn ports(k: &Knowledge, name: &str, protocol: Option<Protocol>) -> Vec<PortRange> {
        k.resolve_service(name, protocol)
            .map(|m| m.ranges)
            .unwrap_or_default()
    }

    #[test]
    fn aliases_resolve_without_a_services_file() {
        let k = knowledge();
        let has = |name: &str, port: u16| ports(&k, name, None).iter().any(|r| r.contains(port));
        assert!(has("dns", 53));
        assert!(has("DNS", 53));
        assert!(has("rdp", 3389));
        assert!(has("vnc", 5900));
        assert!(has("mongo", 27017));
        assert!(has("postgres", 5432));
        assert!(has("smb", 445));
        assert!(has("ntp", 123));
        assert!(has("ldap", 389));
        assert!(has("ldaps", 636));
        assert!(has("https-alt", 8443));
        assert!(ports(&k, "https-alt", Some(Protocol::Udp)).is_empty());
        // rdp keeps IANA's portless DNS-SD rows beside the port.
        let rdp = k.resolve_service("rdp", None).expect("rdp");
        assert!(!rdp.portless.is_empty());
    }

    #[test]
    fn program_names_match_whole_names_only() {
        let k = knowledge();
        for word in ["java", "on", "Edition", "Bedrock"] {
            assert!(
                !unofficial::all().iter().any(|u| u.named_by(word)),
                "'{word}'"
            );
        }
        assert!(ports(&k, "kafka", None).iter().any(|r| r.contains(9092)));
        assert!(ports(&k, "grafana", None).iter().any(|r| r.contains(3000)));
    }

    #[test]
    fn a_large_range_is_one_span() {
        let k = knowledge();
        let m = k.resolve_service("nodeport", None).expect("nodeport");
        assert_eq!(
            m.spans,
            vec![PortRange {
                start: 30000,
                end: 32767
            }]
        );
        let r = k.report_range(m.spans[0], None);
        assert_eq!(r.span, m.spans[0]);
        assert!(r.unofficial.iter().any(|u| u.program == "Kubernetes"));
        assert!(r.registry.is_empty(), "no IANA row covers the whole range");
    }

    #[test]
    fn the_wrong_protocol_is_named() {
        let mut k = knowledge();
        k.local = services::parse("fsp\t\t21/udp\t\tfspd\n");
        let e = k
            .resolve_service("fsp", Some(Protocol::Tcp))
            .expect_err("no fsp/tcp");
        let text = e.to_string();
        assert!(text.contains("UDP service (21/udp)"), "{text}");
        assert!(k.resolve_service("fsp", Some(Protocol::Udp)).is_ok());
    }

    #[test]
    fn an_alias_on_the_wrong_protocol_names_its_protocols() {
        let k = knowledge();
        for (name, protocol, expected) in [
            (
                "https-alt",
                Protocol::Udp,
                "is a TCP service (8443/tcp), not UDP",
            ),
            ("mongo", Protocol::Udp, "is a TCP service"),
            (
                "dns",
                Protocol::Sctp,
                "is a TCP and UDP service (53/tcp, 53/udp), not SCTP",
            ),
            ("xmpp", Protocol::Udp, "is a TCP service"),
            ("k8s", Protocol::Udp, "is a TCP service"),
            (
                "nodeport",
                Protocol::Udp,
                "is a TCP service (30000-32767/tcp), not UDP",
            ),
        ] {
            let text = k
                .resolve_service(name, Some(protocol))
                .expect_err(name)
                .to_string();
            assert!(text.contains(expected), "{name}: {text}");
            assert!(!text.contains("not a service name"), "{name}: {text}");
        }
    }

    #[test]
    fn every_protocol_of_a_service_is_named() {
        let k = knowledge();
        let text = k
            .resolve_service("ntp", Some(Protocol::Sctp))
            .expect_err("no ntp/sctp")
            .to_string();
        assert!(
            text.contains("ntp is a TCP and UDP service (123/tcp, 123/udp), not SCTP"),
            "{text}"
        );
    }

    #[test]
    fn suggestions_for_a_protocol_have_rows_on_it() {
        let k = knowledge();
        assert!(k.suggest("grafanna").contains(&"grafana".to_string()));
        let on_udp = k.suggest_on("grafanna", Some(Protocol::Udp));
        assert!(!on_udp.contains(&"grafana".to_string()), "{on_udp:?}");
        for s in &on_udp {
            assert!(k.resolve_service(s, Some(Protocol::Udp)).is_ok(), "{s}");
        }
        // What is said and suggested keeps the protocol: grafana is close, but TCP only.
        let text = k
            .resolve_service("grafanna", Some(Protocol::Udp))
            .expect_err("no grafanna")
            .to_string();
        assert!(
            text.starts_with("'grafanna/udp' is not a UDP service name"),
            "{text}"
        );
        assert!(!text.contains("'grafana'"), "{text}");
        assert!(!text.contains("'grafana/udp'"), "{text}");
        assert!(
            text.contains("close names on other protocols: 'grafana/tcp'"),
            "{text}"
        );
        let text = k
            .resolve_service("domian", Some(Protocol::Udp))
            .expect_err("no domian")
            .to_string();
        assert!(text.contains("did you mean 'domain/udp'"), "{text}");
        assert!(!text.contains("close names on other"), "{text}");
    }

    #[test]
    fn unknown_names_say_which_services_file_was_used() {
        let k = knowledge();
        let text = k
            .resolve_service("no-such-thing", None)
            .expect_err("unknown")
            .to_string();
        assert!(text.contains("could not be read"), "{text}");
    }

    #[test]
    fn a_services_file_not_used_says_why() {
        let mut k = knowledge();
        let mut warnings = Vec::new();
        k.local =
            services::LocalServices::load_from(Path::new("/"), Found::Environment, &mut warnings);
        let why = k.local.unused.clone().expect("a directory is not used");
        let text = k
            .resolve_service("no-such-thing", None)
            .expect_err("unknown")
            .to_string();
        assert!(text.contains(&format!("was not used: {why})")), "{text}");
    }

    #[test]
    fn suggestions_rank_by_closeness() {
        let k = knowledge();
        assert_eq!(
            k.suggest("mongod").first().map(String::as_str),
            Some("mongodb")
        );
        assert_eq!(
            k.suggest("postgre").first().map(String::as_str),
            Some("postgres")
        );
        assert_eq!(
            k.suggest("grafanna").first().map(String::as_str),
            Some("grafana")
        );
        assert!(k.suggest(&"x".repeat(100_000)).is_empty());
        // Names that begin with what was typed come first, however much longer.
        assert!(k.suggest("elastic").contains(&"elasticsearch".to_string()));
        assert!(k.suggest("node_exp").contains(&"node_exporter".to_string()));
        let kube = k.suggest("kube");
        assert!(
            kube.len() > 1 && kube.iter().all(|s| s.starts_with("kube")),
            "{kube:?}"
        );
    }

    #[test]
    fn spans_keep_ranges_whole_and_once() {
        let r = |start, end| PortRange { start, end };
        assert_eq!(
            spans(&[r(27019, 27019), r(27017, 27017), r(27018, 27018)]),
            vec![r(27017, 27017), r(27018, 27018), r(27019, 27019)]
        );
        assert_eq!(
            spans(&[
                r(31000, 31000),
                r(30000, 32767),
                r(30000, 32767),
                r(6443, 6443)
            ]),
            vec![r(6443, 6443), r(30000, 32767)]
        );
    }
}

/// What a service name resolved to.
#[derive(Debug, Default)]
pub struct ServiceMatch<'a> {
    /// Ports or port ranges, sorted, without duplicates (overlapping ones merged).
    pub ranges: Vec<PortRange>,
    /// The ports and ranges as the sources give them, sorted, each shown once: a range is not
    /// split into its ports, and what lies inside another is left out.
    pub spans: Vec<PortRange>,
    /// IANA rows with this name but no port (e.g. DNS-SD names).
    pub portless: Vec<Entry<'a>>,
}

/// What `registry search` found.
#[derive(Debug)]
pub struct SearchResults<'a> {
    pub services: Vec<Entry<'a>>,
    pub unofficial: Vec<&'static UnofficialUse>,
}
