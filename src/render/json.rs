//! The JSON contract (docs/json.md): serde types kept apart from the internal model.
//! Unknown values are `null`, never empty strings.

use crate::hash::{HashMap, HashMapExt};

use serde::Serialize;

use crate::model::{Container, Hidden, Listener, Process, Scope, Snapshot};
use crate::port::{EphemeralRange, Protocol, Tier};
use crate::registry::iana::{Entry, IanaTable, Origin, PortStatus, Status};
use crate::registry::services::LocalService;
use crate::registry::unofficial::{Role, UnofficialUse};
use crate::registry::{Knowledge, PortReport, SearchResults};

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
    pub role: Role,
    pub versions: Option<String>,
    pub note: String,
    pub source: String,
}

impl UnofficialDoc {
    pub fn from_use(u: &UnofficialUse) -> UnofficialDoc {
        UnofficialDoc {
            program: u.program.to_string(),
            protocol: u.protocol,
            port_range: (!u.ports.is_single()).then(|| u.ports.to_string()),
            role: u.role,
            versions: u.versions.map(str::to_string),
            note: u.note.to_string(),
            source: u.source.to_string(),
        }
    }
}

/// The known program recognised on a listener.
#[derive(Debug, Serialize)]
pub struct KnownUseDoc {
    pub program: &'static str,
    pub role: Role,
    pub versions: Option<&'static str>,
    pub source: &'static str,
}

impl KnownUseDoc {
    pub fn from_use(u: &'static UnofficialUse) -> KnownUseDoc {
        KnownUseDoc {
            program: u.program,
            role: u.role,
            versions: u.versions,
            source: u.source,
        }
    }
}

/// Everything known about one port.
#[derive(Debug, Serialize)]
pub struct PortDoc {
    pub port: u16,
    /// Set when the object stands for a whole range ("30000-32767"): `port` is its first port
    /// and the rest says only what covers every port of it.
    pub port_range: Option<String>,
    pub range: Tier,
    /// `None` (null) when this machine's range could not be read.
    pub ephemeral: Option<bool>,
    /// In `ip_local_reserved_ports`: outgoing connections never take it (null: not read).
    pub reserved_from_ephemeral: Option<bool>,
    pub registry: Vec<RegistryDoc>,
    pub local_services: Vec<LocalServiceDoc>,
    pub unofficial: Vec<UnofficialDoc>,
}

impl PortDoc {
    pub fn from_report(r: &PortReport<'_>) -> PortDoc {
        PortDoc {
            port: r.port,
            port_range: (!r.span.is_single()).then(|| r.span.to_string()),
            range: r.tier,
            ephemeral: r.ephemeral,
            reserved_from_ephemeral: r.reserved_from_ephemeral,
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
    /// Why this machine's range could not be read (then `start` and `end` are the default,
    /// not this machine's); null when it was read.
    pub unread: Option<String>,
}

impl From<EphemeralRange> for EphemeralDoc {
    fn from(e: EphemeralRange) -> Self {
        EphemeralDoc {
            start: e.start,
            end: e.end,
            source: e.source,
            unread: e.unread.map(|u| u.to_string()),
        }
    }
}

/// `whoport PORT --json`.
#[derive(Debug, Serialize)]
pub struct PortCardDoc<'a> {
    pub schema_version: u32,
    #[serde(flatten)]
    pub port: PortDoc,
    /// One verdict per listener group (same port, protocol and owners): who, where, and the
    /// audit's findings or why it is fine.
    pub verdicts: Vec<crate::render::verdict::VerdictDoc<'a>>,
    /// Sockets on this port (listening TCP, bound UDP), with their owners.
    pub listeners: ListenerDocs<'a>,
    /// Listeners on this port that the command line's filters left out, and which filters.
    pub hidden_by_filters: Vec<FilteredDoc>,
    /// With `--pid` or `--process`: listeners on this port whose owner could not be named,
    /// which may be the process asked for.
    pub unattributed: Vec<UnattributedDoc>,
    /// With `--pid` or `--process`: the processes asked for whose descriptors could not be
    /// read.
    pub asked_unread: Option<AskedUnreadDoc>,
    /// Established TCP connections whose local port is this port.
    pub established_connections: usize,
    pub source: &'static str,
    /// How owners were found: "bpf" or "procfs" ("system" outside Linux).
    pub owner_lookup: Option<&'static str>,
    pub notes: &'a [String],
    pub ephemeral_range: EphemeralDoc,
    pub registry_snapshot: String,
}

/// A listener the filters hid from a port card.
#[derive(Debug, Serialize)]
pub struct FilteredDoc {
    pub protocol: Protocol,
    pub endpoint: String,
    pub scope: Scope,
    pub reach: String,
    /// The filters that hide it, as typed: `--exposed`, `--user`, `--pid`, `--process`,
    /// `-4`, `-6`, or `the address` (a pasted `ADDRESS:PORT`).
    pub filters: Vec<&'static str>,
    /// Why its owner could not be seen (as `owner_hidden_reason`); null when it was.
    pub owner_hidden_reason: Option<String>,
}

impl FilteredDoc {
    pub fn new(f: &crate::collect::filtered::FilteredOut) -> FilteredDoc {
        FilteredDoc {
            protocol: f.listener.socket.protocol,
            endpoint: f.listener.endpoint(),
            scope: f.listener.scope,
            reach: f.listener.reach().long(),
            filters: f.filters.clone(),
            owner_hidden_reason: f
                .listener
                .owners
                .is_empty()
                .then(|| f.listener.hidden_reason.as_deref().map(Hidden::long))
                .flatten(),
        }
    }
}

/// A listener that a query about the owner (a program name, `--pid`, `--process`) left out
/// because no owner of it could be named: none was seen, or some seen had names not read.
#[derive(Debug, Serialize)]
pub struct UnattributedDoc {
    pub protocol: Protocol,
    pub endpoint: String,
    pub scope: Scope,
    pub reach: String,
    pub uid: Option<u32>,
    /// Why its owner is unknown (as `owner_hidden_reason`), or which owners seen had names
    /// not read (`held by pid 4242 [/proc/4242 covered by a mount], whose name could not be
    /// read`).
    pub reason: Option<String>,
}

impl UnattributedDoc {
    pub fn new(l: &Listener, processes: &HashMap<u32, crate::model::Process>) -> UnattributedDoc {
        UnattributedDoc {
            protocol: l.socket.protocol,
            endpoint: l.endpoint(),
            scope: l.scope,
            reach: l.reach().long(),
            uid: l.socket.uid,
            reason: l.unattributed_reason(processes),
        }
    }
}

/// The processes `--pid` or `--process` asked for whose descriptors could not be read: whether
/// they hold any listener is not known. `null` when there is none (or nothing was asked).
#[derive(Debug, Serialize)]
pub struct AskedUnreadDoc {
    /// The lowest of their PIDs (at most eight).
    pub pids: Vec<u32>,
    /// How many there are.
    pub count: usize,
}

impl AskedUnreadDoc {
    pub fn new((pids, count): &(Vec<u32>, usize)) -> Option<AskedUnreadDoc> {
        (*count > 0).then(|| AskedUnreadDoc {
            pids: pids.clone(),
            count: *count,
        })
    }
}

/// `whoport RANGE --json` and `whoport SERVICE --json`.
#[derive(Debug, Serialize)]
pub struct PortListDoc<'a> {
    pub schema_version: u32,
    pub query: String,
    /// Sockets on these ports, with their owners.
    pub listeners: ListenerDocs<'a>,
    /// Listeners on these ports (or of this program) that the filters left out.
    pub hidden_by_filters: Vec<FilteredDoc>,
    /// For a program name: listeners whose owner could not be named, which may be its.
    pub unattributed: Vec<UnattributedDoc>,
    /// With `--pid` or `--process`: the processes asked for whose descriptors could not be
    /// read.
    pub asked_unread: Option<AskedUnreadDoc>,
    pub source: &'static str,
    /// How owners were found: "bpf" or "procfs" ("system" outside Linux).
    pub owner_lookup: Option<&'static str>,
    pub notes: &'a [String],
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

/// Writes `doc` as one JSON document and a newline: indented for a person at a terminal,
/// compact otherwise (the document is the same).
pub fn write<T: Serialize>(
    out: &mut dyn std::io::Write,
    pretty: bool,
    doc: &T,
) -> std::io::Result<()> {
    let mut chunks = Chunks::new(out);
    if pretty {
        serde_json::to_writer_pretty(&mut chunks, doc)?;
    } else {
        serde_json::to_writer(&mut chunks, doc)?;
    }
    chunks.buf.push(b'\n');
    chunks.hand_on()
}

/// A writer that gathers the many small pieces serde_json writes (a quote, a key, a colon)
/// into a buffer of its own type, so that each is a copy the compiler can see, not a call
/// through `dyn Write`, and hands them on in chunks of [`Chunks::SIZE`]: the memory held
/// stays that of one chunk, whatever the length of the document.
struct Chunks<'a> {
    out: &'a mut dyn std::io::Write,
    buf: Vec<u8>,
}

impl<'a> Chunks<'a> {
    const SIZE: usize = 64 * 1024;

    fn new(out: &'a mut dyn std::io::Write) -> Chunks<'a> {
        Chunks {
            out,
            buf: Vec::with_capacity(Self::SIZE),
        }
    }

    /// Hands what is gathered on to the output (which is not flushed).
    fn hand_on(&mut self) -> std::io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }
}

impl std::io::Write for Chunks<'_> {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.write_all(bytes)?;
        Ok(bytes.len())
    }

    #[inline]
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= Self::SIZE {
            self.hand_on()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.hand_on()?;
        self.out.flush()
    }
}

/// One process holding a socket.
#[derive(Debug, Serialize)]
pub struct OwnerDoc<'a> {
    pub pid: u32,
    pub name: &'a str,
    pub exe: Option<&'a str>,
    pub cmdline: &'a [String],
    pub uid: Option<u32>,
    pub user: Option<&'a str>,
    /// Effective uids of its other threads that differ from `uid` (credentials are per
    /// thread).
    pub thread_uids: &'a [u32],
    pub thread_credentials_covered: Option<&'a str>,
    pub root_kept: bool,
    /// Effective capabilities of its threads that do not act as uid 0, by name.
    pub capabilities: Vec<String>,
    /// RFC 3339, UTC.
    pub start_time: Option<String>,
    pub parent_pid: Option<u32>,
    pub parent_name: Option<&'a str>,
    pub unit: Option<&'a str>,
    pub unit_manager: Option<&'a str>,
    pub container: Option<&'a Container>,
    pub exe_deleted: bool,
    pub exe_replaced: bool,
    /// With `exe_replaced`: the owner (uid) of the file that stands at its path now.
    pub exe_replaced_owner: Option<u32>,
    pub exe_memory_only: bool,
    /// With `exe_deleted` and not `exe_replaced`: why what stands at its path now is not
    /// known ("could not be looked at: ..."); `null` when it was looked at.
    pub exe_path_unknown: Option<String>,
    /// It runs in another mount namespace than whoport: `exe` is a path of that namespace.
    pub exe_own_mount_ns: bool,
    /// Its mount namespace could not be read: `exe_own_mount_ns` false says nothing then.
    pub exe_mount_ns_unread: bool,
    pub exe_own_user_ns: bool,
    /// Its user namespace could not be read: `exe_own_user_ns` false says nothing then.
    pub exe_user_ns_unread: bool,
    /// Whether the file at `exe` in whoport's view is the running file (same device and
    /// inode); `null` when not looked at.
    pub exe_same_here: Option<bool>,
    /// The system's shell or interpreter the running file is (the same file or a copy byte
    /// for byte; through the dynamic loader, the one it runs), by the file, never the name.
    pub interpreter: Option<&'static str>,
    /// Exact escaped forms, only when the raw bytes are not UTF-8 (then `name`, `exe` or
    /// `cmdline` hold U+FFFD in their place).
    pub name_escaped: Option<&'a str>,
    pub exe_escaped: Option<&'a str>,
    pub cmdline_escaped: Option<&'a [String]>,
    /// The command line was longer than whoport reads (64 KiB): `cmdline` is its start.
    pub cmdline_truncated: bool,
}

impl<'a> OwnerDoc<'a> {
    pub fn from_process(p: &'a Process) -> OwnerDoc<'a> {
        OwnerDoc {
            pid: p.pid,
            name: &p.name,
            exe: p.exe.as_deref(),
            cmdline: &p.cmdline,
            uid: p.uid,
            user: p.user.as_deref(),
            thread_uids: &p.credentials.thread_uids,
            thread_credentials_covered: p.credentials.covered.as_deref(),
            root_kept: p.credentials.root_kept,
            capabilities: p.credentials.capability_names(),
            start_time: p.start_time.map(rfc3339),
            parent_pid: p.parent_pid,
            parent_name: p.parent_name.as_deref(),
            unit: p.unit.as_deref(),
            unit_manager: p.unit_manager.as_deref(),
            container: p.container.as_ref(),
            exe_deleted: p.exe_state.deleted,
            exe_replaced: p.exe_state.replaced,
            exe_replaced_owner: p.exe_state.replaced_owner,
            exe_memory_only: p.exe_state.memory_only,
            exe_path_unknown: p.exe_path_unknown(),
            exe_own_mount_ns: p.exe_state.own_mount_ns,
            exe_mount_ns_unread: p.exe_state.mount_ns_unread,
            exe_own_user_ns: p.exe_state.own_user_ns,
            exe_user_ns_unread: p.exe_state.user_ns_unread,
            exe_same_here: p.exe_state.same_here,
            interpreter: p.exe_state.interpreter,
            name_escaped: p.name_escaped.as_deref(),
            exe_escaped: p.exe_escaped.as_deref(),
            cmdline_escaped: p.cmdline_escaped.as_deref(),
            cmdline_truncated: p.cmdline_truncated,
        }
    }
}

/// Seconds since the epoch as RFC 3339 in UTC ("2026-11-26T03:22:25Z").
pub fn rfc3339(secs: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// One listening (or, with `--all`, any) socket with its owners.
#[derive(Debug, Serialize)]
pub struct ListenerDoc<'a> {
    pub protocol: Protocol,
    pub address: Shown<std::net::IpAddr>,
    pub port: u16,
    /// Address, device and port in the notation of every other output: `[::]:22`.
    pub endpoint: Shown<crate::address::Endpoint<'a>>,
    pub scope: Scope,
    /// The scope in words: "all interfaces, IPv4 and IPv6", "loopback only"...
    pub reach: String,
    /// The device the socket is bound to (SO_BINDTODEVICE, or a link-local zone).
    pub device: Option<&'a str>,
    /// Whether the source said which device it is bound to: `false` for sockets read from
    /// `/proc/net`, whose `device` null means "not reported", not "none".
    pub device_reported: bool,
    pub state: Option<&'static str>,
    /// A listener: TCP in LISTEN, or a UDP (UDP-Lite) socket that is not connected. `false`
    /// for what `--all` adds: connections, connected UDP, bound TCP.
    pub listening: bool,
    pub remote_address: Option<String>,
    pub remote_port: Option<u16>,
    /// For IPv6 sockets: the kernel's IPV6_V6ONLY; null for IPv4, or when not reported.
    pub v6only: Option<bool>,
    pub uid: Option<u32>,
    pub user: Option<&'a str>,
    /// The IANA name of the port.
    pub service: Option<String>,
    /// The known program of this port that an owner is, when one is recognised.
    pub known_use: Option<KnownUseDoc>,
    pub range: Tier,
    pub owners: Vec<OwnerRef<'a>>,
    pub owner_hidden_reason: Option<String>,
    /// How the owners hold the socket when not through an ordinary descriptor.
    pub held_through: Option<&'static str>,
    /// The kernel no longer had it when asked again: it closed during the scan (listed in
    /// JSON only; not a row of the text listing).
    pub closed_during_scan: bool,
    /// The threads holding it by a system call in progress (with `held_through` "held by a
    /// system call in progress"); empty otherwise.
    pub blocked_calls: &'a [crate::model::BlockedCall],
    /// The socket's wait queue was not read to its end: `blocked_calls` may not list every
    /// thread asleep on it.
    pub blocked_calls_incomplete: bool,
    /// Beside `blocked_calls`: the processes whose descriptors could not be read (some PIDs,
    /// how many, why), one of which may hold the socket too; null otherwise.
    pub holders_unread: Option<&'a crate::model::UnreadHolders>,
}

/// A value written in JSON as the string it displays as, made as it is written (a listing
/// writes one for every socket).
#[derive(Debug)]
pub struct Shown<T>(pub T);

impl<T: std::fmt::Display> Serialize for Shown<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

/// An owner in a listener's object: its document, or the same document already written as
/// compact JSON (once per process, for compact output: a process may hold thousands of
/// sockets, and its command line would be escaped again for each).
#[derive(Debug)]
pub enum OwnerRef<'a> {
    Doc(&'a OwnerDoc<'a>),
    Written(&'a serde_json::value::RawValue),
}

impl Serialize for OwnerRef<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            OwnerRef::Doc(doc) => doc.serialize(serializer),
            OwnerRef::Written(raw) => raw.serialize(serializer),
        }
    }
}

/// The owner objects of a snapshot, built once per process (a process may hold thousands of
/// sockets).
pub fn owner_docs(snapshot: &Snapshot) -> HashMap<u32, OwnerDoc<'_>> {
    snapshot
        .processes
        .iter()
        .map(|(&pid, p)| (pid, OwnerDoc::from_process(p)))
        .collect()
}

impl<'a> ListenerDoc<'a> {
    pub fn new(
        l: &'a Listener,
        owners: &'a HashMap<u32, OwnerDoc<'a>>,
        k: &Knowledge,
    ) -> ListenerDoc<'a> {
        let docs = l
            .owners
            .iter()
            .filter_map(|pid| owners.get(pid))
            .map(OwnerRef::Doc)
            .collect();
        ListenerDoc::with_owners(l, docs, k)
    }

    /// [`ListenerDoc::new`] with its owners' objects given.
    fn with_owners(l: &'a Listener, owners: Vec<OwnerRef<'a>>, k: &Knowledge) -> ListenerDoc<'a> {
        let s = &l.socket;
        ListenerDoc {
            protocol: s.protocol,
            address: Shown(s.address),
            port: s.port,
            endpoint: Shown(l.shown_endpoint()),
            scope: l.scope,
            reach: l.reach().long(),
            device: l.device.as_deref(),
            device_reported: s.device_reported,
            state: s.state,
            listening: s.is_listener(),
            remote_address: s.remote.map(|(a, _)| a.to_string()),
            remote_port: s.remote.map(|(_, p)| p),
            v6only: l.v6only,
            uid: s.uid,
            user: l.user.as_deref(),
            service: k
                .iana
                .service_name(s.port, s.protocol)
                .map(|n| n.into_owned()),
            known_use: l.known_use.map(KnownUseDoc::from_use),
            range: Tier::of(s.port),
            owners,
            owner_hidden_reason: l.hidden_reason.as_deref().map(Hidden::long),
            held_through: l.held_through,
            closed_during_scan: l.closed_during_scan(),
            blocked_calls: &l.blocked_calls,
            blocked_calls_incomplete: l.blocked_calls_cut,
            holders_unread: l.blocked_calls_unread.as_deref(),
        }
    }
}

/// The listeners of a snapshot as a JSON array, each object made as it is written and
/// dropped at once: a listing of any length never holds the whole array.
pub struct ListenerDocs<'a> {
    listeners: &'a [Listener],
    /// The sockets that closed during the scan, written among the others in their order.
    closed: &'a [Listener],
    /// Built once per process (a process may hold thousands of sockets).
    owners: HashMap<u32, OwnerDoc<'a>>,
    /// The same, written as compact JSON; empty unless the output is compact.
    written: HashMap<u32, Box<serde_json::value::RawValue>>,
    k: &'a Knowledge,
}

impl<'a> ListenerDocs<'a> {
    pub fn new(snapshot: &'a Snapshot, k: &'a Knowledge) -> ListenerDocs<'a> {
        ListenerDocs {
            listeners: &snapshot.listeners,
            closed: &snapshot.closed,
            owners: owner_docs(snapshot),
            written: HashMap::new(),
            k,
        }
    }

    /// For compact output (`pretty` false): each owner is written once, and its text repeated
    /// in every listener it holds (the same bytes). Indented output writes each in place.
    pub fn for_output(mut self, pretty: bool) -> ListenerDocs<'a> {
        if !pretty {
            self.written = self
                .owners
                .iter()
                .filter_map(|(&pid, doc)| Some((pid, serde_json::value::to_raw_value(doc).ok()?)))
                .collect();
        }
        self
    }
}

impl ListenerDocs<'_> {
    /// The object of one listener, its owners as written once when they were.
    fn row<'b>(&'b self, l: &'b Listener) -> ListenerDoc<'b> {
        if self.written.is_empty() {
            return ListenerDoc::new(l, &self.owners, self.k);
        }
        let owners = l
            .owners
            .iter()
            .filter_map(|pid| match self.written.get(pid) {
                Some(raw) => Some(OwnerRef::Written(raw)),
                None => self.owners.get(pid).map(OwnerRef::Doc),
            })
            .collect();
        ListenerDoc::with_owners(l, owners, self.k)
    }

    /// The array as compact JSON, the same bytes as serde_json's (see [`write_listing`]),
    /// handed on in chunks.
    fn write_compact(&self, out: &mut Chunks<'_>) -> std::io::Result<()> {
        out.buf.push(b'[');
        for (i, l) in merged(self.listeners, self.closed).enumerate() {
            if i > 0 {
                out.buf.push(b',');
            }
            self.row(l).write_compact(&mut out.buf)?;
            if out.buf.len() >= Chunks::SIZE {
                out.hand_on()?;
            }
        }
        out.buf.push(b']');
        Ok(())
    }
}

impl Serialize for ListenerDocs<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(merged(self.listeners, self.closed).map(|l| self.row(l)))
    }
}

/// `value` as compact JSON, by serde_json.
fn compact_value<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> std::io::Result<()> {
    serde_json::to_writer(out, value).map_err(std::io::Error::from)
}

/// The fields of `doc`, in the order given (that of its type's declaration, whose derived
/// `Serialize` writes the same), as one compact JSON object: each key a constant (a field's
/// name, which needs no escaping), each value written by serde_json.
/// A field given as `field => writer` is written by `writer` (the same bytes).
macro_rules! compact_object {
    ($out:expr, $doc:expr, $first:ident $(, $field:ident $(=> $writer:path)?)* $(,)?) => {{
        let out: &mut Vec<u8> = $out;
        out.extend_from_slice(concat!("{\"", stringify!($first), "\":").as_bytes());
        compact_value(out, &$doc.$first)?;
        $(
            out.extend_from_slice(concat!(",\"", stringify!($field), "\":").as_bytes());
            compact_field!(out, &$doc.$field $(, $writer)?);
        )*
        out.push(b'}');
    }};
}

/// One value of [`compact_object`]: by serde_json, or by the writer given.
macro_rules! compact_field {
    ($out:expr, $value:expr) => {
        compact_value($out, $value)?
    };
    ($out:expr, $value:expr, $writer:path) => {
        $writer($out, $value)?
    };
}

/// A socket's address as a JSON string: an IPv4 address written digit by digit (a listing
/// writes one for every socket, and `Display` goes through the formatting machinery and
/// serde_json's escaping of what it writes); the same bytes as serde_json's for
/// [`Shown`]`(address)`, which writes any other.
fn write_address(out: &mut Vec<u8>, address: &Shown<std::net::IpAddr>) -> std::io::Result<()> {
    match address.0 {
        std::net::IpAddr::V4(a) => {
            out.push(b'"');
            push_ipv4(out, a);
            out.push(b'"');
            Ok(())
        }
        std::net::IpAddr::V6(_) => compact_value(out, address),
    }
}

/// A socket's endpoint as a JSON string: one of an IPv4 address bound to no device written
/// as [`write_address`] writes its address (a device's name may need escaping); the same
/// bytes as serde_json's for [`Shown`]`(endpoint)`, which writes any other.
fn write_endpoint(
    out: &mut Vec<u8>,
    endpoint: &Shown<crate::address::Endpoint<'_>>,
) -> std::io::Result<()> {
    use crate::address::{Endpoint, Host};
    match endpoint.0 {
        Endpoint(Host(std::net::IpAddr::V4(a), None), port) => {
            out.push(b'"');
            push_ipv4(out, a);
            out.push(b':');
            push_decimal(out, port);
            out.push(b'"');
            Ok(())
        }
        _ => compact_value(out, endpoint),
    }
}

/// `a` in dotted decimal, as `Display` writes it.
fn push_ipv4(out: &mut Vec<u8>, a: std::net::Ipv4Addr) {
    for (i, octet) in a.octets().into_iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        push_decimal(out, u16::from(octet));
    }
}

/// `n` in decimal, as `Display` writes it.
fn push_decimal(out: &mut Vec<u8>, mut n: u16) {
    let mut digits = [0u8; 5];
    let mut at = digits.len();
    loop {
        at -= 1;
        // (n % 10 < 10: the cast keeps it.)
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

impl ListenerDoc<'_> {
    /// The object as compact JSON: the bytes serde_json writes for it (a test compares
    /// them), without its work per key (a listing has tens of thousands of keys).
    fn write_compact(&self, out: &mut Vec<u8>) -> std::io::Result<()> {
        compact_object!(
            out,
            self,
            protocol,
            address => write_address,
            port,
            endpoint => write_endpoint,
            scope,
            reach,
            device,
            device_reported,
            state,
            listening,
            remote_address,
            remote_port,
            v6only,
            uid,
            user,
            service,
            known_use,
            range,
            owners,
            owner_hidden_reason,
            held_through,
            closed_during_scan,
            blocked_calls,
            blocked_calls_incomplete,
            holders_unread,
        );
        Ok(())
    }
}

/// Two lists sorted as a snapshot's listeners are (port, protocol, address, state), as one.
fn merged<'a>(a: &'a [Listener], b: &'a [Listener]) -> impl Iterator<Item = &'a Listener> {
    let key = |l: &Listener| {
        (
            l.socket.port,
            l.socket.protocol,
            l.socket.address,
            l.socket.state,
        )
    };
    let (mut a, mut b) = (a.iter().peekable(), b.iter().peekable());
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(x), Some(y)) if key(y) < key(x) => b.next(),
        (Some(_), _) => a.next(),
        (None, _) => b.next(),
    })
}

impl std::fmt::Debug for ListenerDocs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ListenerDocs({} listeners)", self.listeners.len())
    }
}

/// `whoport --json`.
#[derive(Debug, Serialize)]
pub struct ListingDoc<'a> {
    pub schema_version: u32,
    pub listeners: ListenerDocs<'a>,
    /// Listeners whose owning process could not be seen.
    pub hidden_owners: usize,
    /// With `--pid` or `--process`: listeners every other filter keeps whose owner could not
    /// be named, any of which may be the process asked for.
    pub unattributed: Vec<UnattributedDoc>,
    /// With `--pid` or `--process`: the processes asked for whose descriptors could not be
    /// read.
    pub asked_unread: Option<AskedUnreadDoc>,
    pub root: bool,
    /// Where the sockets came from: "netlink", "/proc/net" or "netlink+/proc/net".
    pub source: &'static str,
    /// How owners were found: "bpf" (in-kernel iterator) or "procfs" ("system" outside Linux).
    pub owner_lookup: Option<&'static str>,
    /// What whoport could not see or did differently (fallbacks, unreadable processes...).
    pub notes: &'a [String],
}

/// Writes a listing as [`write`] does, compact output the fast way: the listeners' objects
/// by [`ListenerDoc::write_compact`], every value by serde_json (a test compares the bytes
/// with serde_json's own for the whole document).
pub fn write_listing(
    out: &mut dyn std::io::Write,
    pretty: bool,
    doc: &ListingDoc<'_>,
) -> std::io::Result<()> {
    if pretty {
        return write(out, pretty, doc);
    }
    let mut chunks = Chunks::new(out);
    chunks.buf.extend_from_slice(b"{\"schema_version\":");
    compact_value(&mut chunks.buf, &doc.schema_version)?;
    chunks.buf.extend_from_slice(b",\"listeners\":");
    doc.listeners.write_compact(&mut chunks)?;
    let rest = &mut chunks.buf;
    rest.extend_from_slice(b",\"hidden_owners\":");
    compact_value(rest, &doc.hidden_owners)?;
    rest.extend_from_slice(b",\"unattributed\":");
    compact_value(rest, &doc.unattributed)?;
    rest.extend_from_slice(b",\"asked_unread\":");
    compact_value(rest, &doc.asked_unread)?;
    rest.extend_from_slice(b",\"root\":");
    compact_value(rest, &doc.root)?;
    rest.extend_from_slice(b",\"source\":");
    compact_value(rest, &doc.source)?;
    rest.extend_from_slice(b",\"owner_lookup\":");
    compact_value(rest, &doc.owner_lookup)?;
    rest.extend_from_slice(b",\"notes\":");
    compact_value(rest, &doc.notes)?;
    rest.extend_from_slice(b"}\n");
    chunks.hand_on()
}

#[cfg(test)]
mod tests;
