//! The JSON contract (docs/json.md): serde types kept apart from the internal model.
//! Unknown values are `null`, never empty strings.

use serde::Serialize;

use crate::port::{EphemeralRange, Protocol, Tier};
use crate::registry::iana::{Entry, IanaTable, Origin, PortStatus, Status};
use crate::registry::services::LocalService;
use crate::registry::unofficial::UnofficialUse;
use crate::registry::{PortReport, SearchResults};

pub const SCHEMA_VERSION: u32 = 1;

fn opt(s: impl AsRef<str>) -> Option<String> {
    let s = s.as_ref().trim_end();
    (!s.is_empty()).then(|| s.to_string())
}

#[derive(Debug, Serialize)]
pub struct ServiceDoc {
    pub name: String,
    pub protocol: Option<Protocol>,
    /// Set when the registry row covers a range of ports ("6000-6063").
    pub port_range: Option<String>,
    pub description: Option<String>,
    pub assignee: Option<String>,
    pub contact: Option<String>,
    pub registration_date: Option<String>,
    pub modification_date: Option<String>,
    pub reference: Option<String>,
    pub service_code: Option<String>,
    pub unauthorized_use_reported: Option<String>,
    pub notes: Option<String>,
}

impl ServiceDoc {
    pub fn from_entry(e: &Entry<'_>) -> ServiceDoc {
        ServiceDoc {
            name: e.name().into_owned(),
            protocol: e.protocol,
            port_range: e.ports.filter(|r| !r.is_single()).map(|r| r.to_string()),
            description: opt(e.description()),
            assignee: opt(e.assignee()),
            contact: opt(e.contact()),
            registration_date: opt(e.registration_date()),
            modification_date: opt(e.modification_date()),
            reference: opt(e.reference()),
            service_code: opt(e.service_code()),
            unauthorized_use_reported: opt(e.unauthorized_use()),
            notes: opt(e.notes()),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct RemarkDoc {
    pub description: String,
    pub port_range: Option<String>,
    pub modification_date: Option<String>,
    pub reference: Option<String>,
    pub unauthorized_use_reported: Option<String>,
    pub notes: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RegistryDoc {
    pub protocol: Protocol,
    pub status: Status,
    pub services: Vec<ServiceDoc>,
    /// IANA rows without a service name ("Reserved", "Unassigned", "De-registered"...).
    pub remarks: Vec<RemarkDoc>,
}

impl RegistryDoc {
    fn from_status(s: &PortStatus<'_>) -> RegistryDoc {
        RegistryDoc {
            protocol: s.protocol,
            status: s.status,
            services: s.services.iter().map(ServiceDoc::from_entry).collect(),
            remarks: s
                .remarks
                .iter()
                .map(|e| RemarkDoc {
                    description: e.description().into_owned(),
                    port_range: e.ports.filter(|r| !r.is_single()).map(|r| r.to_string()),
                    modification_date: opt(e.modification_date()),
                    reference: opt(e.reference()),
                    unauthorized_use_reported: opt(e.unauthorized_use()),
                    notes: opt(e.notes()),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct LocalServiceDoc {
    pub name: String,
    pub protocol: String,
    pub aliases: Vec<String>,
}

impl LocalServiceDoc {
    fn from_service(s: &LocalService) -> LocalServiceDoc {
        LocalServiceDoc {
            name: s.name.clone(),
            protocol: s.protocol.clone(),
            aliases: s.aliases.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct UnofficialDoc {
    pub program: String,
    pub protocol: Protocol,
    pub port_range: Option<String>,
    pub note: String,
    pub source: String,
}

impl UnofficialDoc {
    pub fn from_use(u: &UnofficialUse) -> UnofficialDoc {
        UnofficialDoc {
            program: u.program.to_string(),
            protocol: u.protocol,
            port_range: (!u.ports.is_single()).then(|| u.ports.to_string()),
            note: u.note.to_string(),
            source: u.source.to_string(),
        }
    }
}

/// Everything known about one port.
#[derive(Debug, Serialize)]
pub struct PortDoc {
    pub port: u16,
    pub range: Tier,
    pub ephemeral: bool,
    pub registry: Vec<RegistryDoc>,
    pub local_services: Vec<LocalServiceDoc>,
    pub unofficial: Vec<UnofficialDoc>,
}

impl PortDoc {
    pub fn from_report(r: &PortReport<'_>) -> PortDoc {
        PortDoc {
            port: r.port,
            range: r.tier,
            ephemeral: r.ephemeral,
            registry: r.registry.iter().map(RegistryDoc::from_status).collect(),
            local_services: r
                .local
                .iter()
                .map(|s| LocalServiceDoc::from_service(s))
                .collect(),
            unofficial: r
                .unofficial
                .iter()
                .map(|u| UnofficialDoc::from_use(u))
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct EphemeralDoc {
    pub start: u16,
    pub end: u16,
    pub source: &'static str,
}

impl From<EphemeralRange> for EphemeralDoc {
    fn from(e: EphemeralRange) -> Self {
        EphemeralDoc {
            start: e.start,
            end: e.end,
            source: e.source,
        }
    }
}

/// `whoport PORT --json`.
#[derive(Debug, Serialize)]
pub struct PortCardDoc {
    pub schema_version: u32,
    #[serde(flatten)]
    pub port: PortDoc,
    pub ephemeral_range: EphemeralDoc,
    pub registry_snapshot: String,
}

/// `whoport RANGE --json` and `whoport SERVICE --json`.
#[derive(Debug, Serialize)]
pub struct PortListDoc {
    pub schema_version: u32,
    pub query: String,
    pub ports: Vec<PortDoc>,
    /// For a service name: IANA rows with that name but no port.
    pub portless: Vec<ServiceDoc>,
    pub ephemeral_range: EphemeralDoc,
    pub registry_snapshot: String,
}

#[derive(Debug, Serialize)]
pub struct ProtocolCount {
    pub protocol: Option<Protocol>,
    pub rows: usize,
}

/// `whoport registry info --json`.
#[derive(Debug, Serialize)]
pub struct RegistryInfoDoc {
    pub schema_version: u32,
    /// "embedded", "installed" or "file".
    pub source: &'static str,
    pub path: Option<String>,
    pub snapshot_date: String,
    pub rows: usize,
    pub rows_without_port: usize,
    pub rows_by_protocol: Vec<ProtocolCount>,
    pub unofficial_uses: usize,
    pub local_services_path: Option<String>,
    pub local_services: usize,
    pub installed_path: Option<String>,
}

impl RegistryInfoDoc {
    pub fn new(
        iana: &IanaTable,
        local: (Option<String>, usize),
        installed: Option<String>,
    ) -> Self {
        let (source, path) = match &iana.origin {
            Origin::Embedded => ("embedded", None),
            Origin::Installed(p) => ("installed", Some(p.display().to_string())),
            Origin::File(p) => ("file", Some(p.display().to_string())),
        };
        RegistryInfoDoc {
            schema_version: SCHEMA_VERSION,
            source,
            path,
            snapshot_date: iana.snapshot().to_string(),
            rows: iana.len(),
            rows_without_port: iana.portless(),
            rows_by_protocol: iana
                .counts()
                .into_iter()
                .map(|(protocol, rows)| ProtocolCount { protocol, rows })
                .collect(),
            unofficial_uses: crate::registry::unofficial::all().len(),
            local_services_path: local.0,
            local_services: local.1,
            installed_path: installed,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct SearchHitDoc {
    pub port: Option<String>,
    #[serde(flatten)]
    pub service: ServiceDoc,
}

/// `whoport registry search TEXT --json`.
#[derive(Debug, Serialize)]
pub struct SearchDoc {
    pub schema_version: u32,
    pub query: String,
    pub services: Vec<SearchHitDoc>,
    pub unofficial: Vec<UnofficialSearchDoc>,
}

#[derive(Debug, Serialize)]
pub struct UnofficialSearchDoc {
    pub port: String,
    #[serde(flatten)]
    pub unofficial: UnofficialDoc,
}

impl SearchDoc {
    pub fn new(query: &str, r: &SearchResults<'_>) -> SearchDoc {
        SearchDoc {
            schema_version: SCHEMA_VERSION,
            query: query.to_string(),
            services: r
                .services
                .iter()
                .map(|e| SearchHitDoc {
                    port: e.ports.map(|p| p.to_string()),
                    service: ServiceDoc::from_entry(e),
                })
                .collect(),
            unofficial: r
                .unofficial
                .iter()
                .map(|u| UnofficialSearchDoc {
                    port: u.ports.to_string(),
                    unofficial: UnofficialDoc::from_use(u),
                })
                .collect(),
        }
    }
}

/// `whoport registry import|update --json`.
#[derive(Debug, Serialize)]
pub struct ImportDoc {
    pub schema_version: u32,
    pub input: String,
    pub output: String,
    pub rows: usize,
    pub snapshot_date: String,
}

/// Writes `doc` as one pretty JSON document and a newline.
pub fn write<T: Serialize>(out: &mut dyn std::io::Write, doc: &T) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, doc)?;
    writeln!(out)
}
