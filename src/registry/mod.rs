//! Everything whoport knows about a port without looking at sockets: the IANA registry,
//! the curated unofficial uses, and the local services database.

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
        let protocols = match protocol {
            Some(p) => vec![p],
            None => self.iana.protocols_for(port),
        };
        PortReport {
            port,
            tier: Tier::of(port),
            ephemeral: self.ephemeral.contains(port),
            reserved_from_ephemeral: self.reserved.contains(port),
            registry: protocols
                .into_iter()
                .map(|p| self.iana.status(port, p))
                .collect(),
            local: self.local.for_port(port, protocol.map(Protocol::as_str)),
            unofficial: unofficial::for_port(port, protocol),
        }
    }

    /// Resolves a service or program name to its ports.
    pub fn resolve_service(
        &self,
        name: &str,
        protocol: Option<Protocol>,
    ) -> Result<ServiceMatch<'_>, QueryError> {
        let mut ranges: Vec<PortRange> = Vec::new();
        let mut portless = Vec::new();
        let mut found = false;
        for entry in self.iana.by_name(name) {
            if protocol.is_some_and(|p| entry.protocol.is_some_and(|q| q != p)) {
                continue;
            }
            found = true;
            match entry.ports {
                Some(r) => ranges.push(r),
                None => portless.push(entry),
            }
        }
        for local in self.local.by_name(name) {
            if protocol.is_none_or(|p| p.as_str() == local.protocol) {
                found = true;
                ranges.push(PortRange::single(local.port));
            }
        }
        for u in unofficial::all().iter().filter(|u| u.named_by(name)) {
            if protocol.is_none_or(|p| p == u.protocol) {
                found = true;
                ranges.push(u.ports);
            }
        }
        if !found {
            return Err(QueryError::UnknownService {
                value: name.to_string(),
                suggestions: self.suggest(name),
            });
        }
        Ok(ServiceMatch {
            ranges: merge(ranges),
            portless,
        })
    }

    /// Up to three known names close to `name`, best first.
    pub fn suggest(&self, name: &str) -> Vec<String> {
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
            .collect();
        candidates.sort();
        candidates.dedup();
        let limit = if name.len() <= 4 { 1 } else { 2 };
        let mut scored: Vec<(usize, String)> = candidates
            .into_iter()
            .map(|c| (strsim::damerau_levenshtein(&name, &c), c))
            .filter(|(d, _)| *d <= limit)
            .collect();
        scored.sort();
        scored.into_iter().take(3).map(|(_, c)| c).collect()
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
    pub ephemeral: bool,
    /// Listed in `ip_local_reserved_ports`: never handed out to outgoing connections.
    pub reserved_from_ephemeral: bool,
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
}

/// What a service name resolved to.
#[derive(Debug, Default)]
pub struct ServiceMatch<'a> {
    /// Ports or port ranges, sorted, without duplicates.
    pub ranges: Vec<PortRange>,
    /// IANA rows with this name but no port (e.g. DNS-SD names).
    pub portless: Vec<Entry<'a>>,
}

/// What `registry search` found.
#[derive(Debug)]
pub struct SearchResults<'a> {
    pub services: Vec<Entry<'a>>,
    pub unofficial: Vec<&'static UnofficialUse>,
}
