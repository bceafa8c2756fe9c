//! Orchestration: the only module that knows every stage (parse the query, load knowledge,
//! render). Everything it prints goes to stdout through one buffered writer.

mod audit_command;

use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};

use crate::atomic_file::{self, Target};
use crate::audit::{
    self,
    baseline::Baseline,
    suppress::{self, Config},
    Severity,
};
use crate::check;
use crate::cli::{
    AuditArgs, AuditFormat, CheckArgs, Cli, Column, Command, FilterArgs, FreeArgs, Generate,
    RegistryCommand, SeverityArg, WaitArgs,
};
use crate::collect::{self, Filter};
use crate::config::{Env, Output};
use crate::error::PortArgError;
use crate::free;
use crate::input_file::{self, Found};
use crate::model::Snapshot;
use crate::port::Query;
use crate::port::{PortRange, Protocol};
use crate::registry::{self, import, Knowledge, PortReport};
use crate::render::json::{
    self, ImportDoc, ListingDoc, PortCardDoc, PortDoc, PortListDoc, SCHEMA_VERSION,
};
use crate::render::sanitize::sanitize;
use crate::render::{self, listing, table};
use crate::wait;

/// Exit status: success (something was found).
pub const EXIT_OK: u8 = 0;
/// Exit status: nothing is listening, or nothing matched the filters (like grep); for
/// `audit`, an unsuppressed finding reached `--fail-on`.
pub const EXIT_NOTHING: u8 = 1;
/// Exit status: an error (bad input, unreadable file...); clap's usage errors are 2 as well.
pub const EXIT_ERROR: u8 = 2;

/// Runs one command line; returns the exit status, or an error for `main` to print.
pub fn run(cli: &Cli) -> Result<u8> {
    let out = Output::resolve(cli.json, cli.color, &Env::current());
    let mut w = BufWriter::with_capacity(1 << 17, Stdout::open());
    if let Some(what) = cli.generate {
        generate(what, &mut w)?;
        w.flush()?;
        return Ok(EXIT_OK);
    }
    let audit_timeout = match &cli.command {
        Some(Command::Audit(args)) => args.timeout.clone(),
        _ => None,
    };
    if let Some(limit) = audit_timeout.or_else(|| cli.timeout.clone()) {
        collect::deadline::set(limit);
    } else if let Some(text) = std::env::var_os("WHOPORT_TIMEOUT") {
        // The default for --timeout, for a whole cron job or test suite.
        let text = text.to_string_lossy();
        let limit = collect::deadline::parse(&text).map_err(|e| {
            anyhow::anyhow!(
                "WHOPORT_TIMEOUT={}: {e}",
                sanitize(&crate::error::quoted(&text))
            )
        })?;
        collect::deadline::set(limit);
    }
    // After the deadline is set: a user name is looked up within it.
    check_user(&cli.filters)?;
    if let Some(Command::Audit(args)) = &cli.command {
        check_user(&args.filters)?;
    }
    let status = match &cli.command {
        Some(Command::Registry { action }) => {
            if let Some(q) = &cli.query {
                anyhow::bail!("unexpected argument '{q}' before the 'registry' command");
            }
            run_registry(cli, action, &out, &mut w)?
        }
        Some(Command::Audit(args)) => {
            if let Some(q) = &cli.query {
                anyhow::bail!("unexpected argument '{q}' before the 'audit' command");
            }
            audit_command::run_audit(cli, args, &out, &mut w)?
        }
        Some(Command::Check(args)) => {
            no_query(cli, "check")?;
            run_check(cli, args, &out, &mut w)?
        }
        Some(Command::Free(args)) => {
            no_query(cli, "free")?;
            run_free(cli, args, &out, &mut w)?
        }
        Some(Command::Wait(args)) => {
            no_query(cli, "wait")?;
            run_wait(args, &out, &mut w)?
        }
        None => run_query(cli, &out, &mut w)?,
    };
    w.flush()?;
    Ok(status)
}

/// Where whoport's output goes: on Unix a copy of the standard output descriptor, written
/// as is; `std::io::Stdout` looks through everything written for its last newline first (a
/// listing's JSON is megabytes of one line). Where no copy can be made (standard output
/// closed), `std::io::Stdout` itself, which discards what is written then.
enum Stdout {
    #[cfg(unix)]
    Own(std::fs::File),
    Std(io::StdoutLock<'static>),
}

impl Stdout {
    fn open() -> Stdout {
        #[cfg(unix)]
        if let Ok(fd) = std::os::fd::AsFd::as_fd(&io::stdout()).try_clone_to_owned() {
            return Stdout::Own(std::fs::File::from(fd));
        }
        Stdout::Std(io::stdout().lock())
    }
}

impl Write for Stdout {
    /// As `std::io::Stdout`: a descriptor that takes no writes (`EBADF`: closed, or open for
    /// reading only) discards what is written.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            #[cfg(unix)]
            Stdout::Own(f) => match f.write(buf) {
                Err(e) if e.raw_os_error() == Some(EBADF) => Ok(buf.len()),
                other => other,
            },
            Stdout::Std(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            #[cfg(unix)]
            Stdout::Own(f) => f.flush(),
            Stdout::Std(s) => s.flush(),
        }
    }
}

/// The errno of a descriptor that takes no writes.
#[cfg(unix)]
const EBADF: i32 = 9;

fn no_query(cli: &Cli, command: &str) -> Result<()> {
    match &cli.query {
        Some(q) => anyhow::bail!("unexpected argument '{q}' before the '{command}' command"),
        None => Ok(()),
    }
}

/// UDP-Lite asked for on a kernel built without it: said as such, never as a port in use or
/// a missing address family.
fn udplite_or_bail(protocols: &[Protocol]) -> Result<()> {
    if protocols.contains(&Protocol::Udplite) {
        if let Err(e) = check::probe::udplite_supported() {
            anyhow::bail!(
                "this kernel makes no UDP-Lite socket (socket(AF_INET, SOCK_DGRAM, \
                 IPPROTO_UDPLITE): {e}): there is nothing to test or watch for UDP-Lite"
            );
        }
    }
    Ok(())
}

fn run_check(cli: &Cli, a: &CheckArgs, out: &Output, w: &mut dyn Write) -> Result<u8> {
    let (port, protocol, pasted) = check::parse_port_arg(&a.port)?;
    udplite_or_bail(&[protocol])?;
    let address = match a.address.as_deref() {
        Some(text) => Some(check::parse_address(text)?),
        None => pasted,
    };
    let k = load(cli)?;
    let report = check::check(port, protocol, address, &k)?;
    if out.json {
        render::check::json(w, out.pretty_json, &report, &k)?;
    } else {
        render::check::text(w, out, &report)?;
    }
    hint(&report.snapshot);
    Ok(if report.can_listen() {
        EXIT_OK
    } else {
        EXIT_NOTHING
    })
}

fn run_free(cli: &Cli, a: &FreeArgs, out: &Output, w: &mut dyn Write) -> Result<u8> {
    let range = a
        .range
        .as_deref()
        .map(free::parse_range)
        .transpose()?
        .unwrap_or(PortRange {
            start: free::LOWEST,
            end: u16::MAX,
        });
    let protocols = match (a.tcp, a.udp, a.udplite) {
        (true, false, false) => vec![Protocol::Tcp],
        (false, true, false) => vec![Protocol::Udp],
        (false, false, true) => vec![Protocol::Udplite],
        _ => vec![Protocol::Tcp, Protocol::Udp],
    };
    udplite_or_bail(&protocols)?;
    let k = load(cli)?;
    free::settings_read(&k)?;
    let found = free::free(&k, &protocols, range, usize::from(a.count), a.first);
    if out.json {
        render::free::json(w, out.pretty_json, &found, &k)?;
    } else {
        render::free::text(w, &found)?;
    }
    if found.ports.is_empty() {
        crate::stderr::line(format_args!(
            "whoport: no port in {range} passes every rule (see --json for the counts)"
        ));
        return Ok(EXIT_NOTHING);
    }
    if found.ports.len() < usize::from(a.count) {
        crate::stderr::line(format_args!(
            "whoport: only {} of the {} ports asked for pass every rule in {range}",
            found.ports.len(),
            a.count
        ));
    }
    Ok(EXIT_OK)
}

fn run_wait(a: &WaitArgs, out: &Output, w: &mut dyn Write) -> Result<u8> {
    let (port, protocol, address) = check::parse_port_arg(&a.port)?;
    udplite_or_bail(&[protocol])?;
    if address.is_some() {
        return Err(PortArgError::AddressNotWanted {
            value: a.port.clone(),
        }
        .into());
    }
    let (condition, what) = if a.listening {
        let c = wait::Condition::Listening {
            pid: process_of(a.pid),
            process: a.process.clone(),
        };
        (c, "listening")
    } else {
        // Where the setting could not be read, whether the bind can succeed is not known:
        // the wait runs, bounded by --timeout.
        let start = check::sysctl::unprivileged_port_start().ok();
        if let Some(start) = start.filter(|&start| port < start && !collect::is_root()) {
            anyhow::bail!(
                "{port} is below net.ipv4.ip_unprivileged_port_start ({start}): without root \
                 the test bind can never succeed, so 'wait --free' would never end; run it as root"
            );
        }
        (wait::Condition::Free, "free")
    };
    let outcome = wait::wait(port, protocol, &condition, a.timeout)?;
    let line = render::wait::line(port, protocol, what, &outcome);
    if out.json {
        render::wait::json(w, out.pretty_json, port, protocol, what, &outcome)?;
    } else if outcome.met {
        writeln!(w, "{line}")?;
    }
    if outcome.met {
        Ok(EXIT_OK)
    } else {
        crate::stderr::line(format_args!("whoport: {line}"));
        Ok(EXIT_NOTHING)
    }
}

/// The man page or a shell's completions, from the clap definitions (never a copy that
/// could drift).
fn generate(what: Generate, w: &mut dyn Write) -> Result<()> {
    use clap::CommandFactory;
    use clap_complete::Shell;
    let mut cmd = Cli::command();
    let shell = match what {
        Generate::Man => return Ok(crate::manpage::render(crate::manpage::Page::Whoport, w)?),
        Generate::ManAudit => return Ok(crate::manpage::render(crate::manpage::Page::Audit, w)?),
        Generate::ManCheck => return Ok(crate::manpage::render(crate::manpage::Page::Check, w)?),
        Generate::ManFree => return Ok(crate::manpage::render(crate::manpage::Page::Free, w)?),
        Generate::ManWait => return Ok(crate::manpage::render(crate::manpage::Page::Wait, w)?),
        Generate::ManRegistry => {
            return Ok(crate::manpage::render(crate::manpage::Page::Registry, w)?)
        }
        Generate::Bash => Shell::Bash,
        Generate::Zsh => Shell::Zsh,
        Generate::Fish => Shell::Fish,
        Generate::Elvish => Shell::Elvish,
        Generate::Powershell => Shell::PowerShell,
    };
    clap_complete::generate(shell, &mut cmd, "whoport", w);
    Ok(())
}

/// The error's message and its causes on one line, each said once: a message that already
/// quotes its cause (`cannot read 'F': No such file...`) is not followed by it again.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let c = cause.to_string();
        if c.is_empty() || text.contains(&c) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&c);
    }
    text
}

/// Is this error a write into a closed pipe (`whoport | head -1`)? Those exit quietly.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn load(cli: &Cli) -> Result<Knowledge> {
    let mut warnings = Vec::new();
    let knowledge = Knowledge::load(cli.registry.as_deref(), &mut warnings)?;
    for warning in warnings {
        crate::stderr::line(format_args!("whoport: warning: {}", sanitize(&warning)));
    }
    Ok(knowledge)
}

/// whoport reads TCP, UDP and UDP-Lite sockets only: asked about an SCTP or DCCP port (or
/// program), it says it did not look rather than "nothing is listening".
fn unread_protocol_note(port: u16, protocol: Protocol) -> Option<String> {
    unread_protocol(
        protocol,
        &format!("on port {port}"),
        &format!(" 'sport = :{port}'"),
    )
}

/// [`unread_protocol_note`] for a program name: `whoport nginx/sctp`.
fn unread_protocol_note_for(program: &str, protocol: Protocol) -> Option<String> {
    unread_protocol(
        protocol,
        &format!("of processes named {}", crate::error::quoted(program)),
        "",
    )
}

fn unread_protocol(protocol: Protocol, which: &str, ss_filter: &str) -> Option<String> {
    let flag = match protocol {
        Protocol::Tcp | Protocol::Udp | Protocol::Udplite => return None,
        Protocol::Sctp => "-S",
        Protocol::Dccp => "-d",
    };
    Some(format!(
        "whoport reads TCP, UDP and UDP-Lite sockets only: {} sockets {which} were not looked for (ss {flag}lnp{ss_filter} lists them)",
        protocol.as_str().to_uppercase()
    ))
}

/// How the protocol was typed, if one was: in the query (`nginx/udp`, `53/udp`) or as a
/// flag (`--udp`); for a program, it names what hides its listeners on other protocols.
fn protocol_typed(query: &Query, filters: &FilterArgs) -> Option<&'static str> {
    match query.protocol() {
        Some(Protocol::Tcp) => Some("/tcp"),
        Some(Protocol::Udp) => Some("/udp"),
        Some(Protocol::Sctp) => Some("/sctp"),
        Some(Protocol::Dccp) => Some("/dccp"),
        Some(Protocol::Udplite) => Some("/udplite"),
        None => match only_protocol(filters) {
            Some(Protocol::Tcp) => Some("--tcp"),
            Some(Protocol::Udp) => Some("--udp"),
            Some(_) => Some("--udplite"),
            None => None,
        },
    }
}

/// `--user NAME` must name a user the system knows: an unknown name is an error, not
/// "nothing matches".
fn check_user(filters: &FilterArgs) -> Result<()> {
    if let Some(user) = &filters.user {
        let Some(exists) = collect::process::user_exists(user) else {
            if let Some(why) = collect::process::lookup_unanswered() {
                anyhow::bail!(
                    "cannot look up --user '{}': the system user database's files: {why}; a \
                     uid (--user 0) needs no lookup",
                    sanitize(user)
                );
            }
            anyhow::bail!(
                "cannot look up --user '{}': the system user database did not answer within {} \
                 (--timeout) (a name service whose server is gone, or a file on a filesystem \
                 that stopped answering); a uid (--user 0) needs no lookup",
                sanitize(user),
                collect::deadline::limit().text
            );
        };
        if !exists {
            anyhow::bail!(
                "no user '{}' in the system user database (see: getent passwd); --user takes a user name or a uid (0 to 4294967294)",
                sanitize(user)
            );
        }
    }
    Ok(())
}

/// The one protocol the flags ask for (`--tcp`, `--udp` or `--udplite` alone), if they ask
/// for one.
fn only_protocol(filters: &FilterArgs) -> Option<Protocol> {
    match (filters.tcp, filters.udp, filters.udplite) {
        (true, false, false) => Some(Protocol::Tcp),
        (false, true, false) => Some(Protocol::Udp),
        (false, false, true) => Some(Protocol::Udplite),
        _ => None,
    }
}

/// The socket filters of the command line, narrowed to `ports` and `protocol` if given.
/// `--pid`, where a thread's id stands for its process (the thread group that holds the
/// sockets), said on standard error.
fn process_of(pid: Option<u32>) -> Option<u32> {
    let pid = pid?;
    Some(match collect::thread_group_of(pid) {
        Some(tgid) => {
            crate::stderr::line(format_args!(
                "whoport: {pid} is a thread of process {tgid}: --pid {pid} is taken as --pid {tgid}"
            ));
            tgid
        }
        None => pid,
    })
}

fn filter_for(
    cli: &FilterArgs,
    all_states: bool,
    ports: Option<Vec<PortRange>>,
    protocol: Option<Protocol>,
) -> Filter {
    let (mut tcp, mut udp, mut udplite) = match (cli.tcp, cli.udp, cli.udplite) {
        (false, false, false) => (true, true, true),
        flags => flags,
    };
    if let Some(p) = protocol {
        tcp &= p == Protocol::Tcp;
        udp &= p == Protocol::Udp;
        udplite &= p == Protocol::Udplite;
    }
    let (ipv4, ipv6) = match (cli.ipv4, cli.ipv6) {
        (false, false) => (true, true),
        (a, b) => (a, b),
    };
    Filter {
        tcp,
        udp,
        udplite,
        ipv4,
        ipv6,
        all_states,
        ports,
        pid: process_of(cli.pid),
        process: cli.process.clone(),
        user: cli.user.clone(),
        exposed: cli.exposed,
        address: None,
        program: None,
    }
}

fn columns(cli: &Cli) -> Vec<Column> {
    if let Some(columns) = &cli.columns {
        return columns.clone();
    }
    let mut columns: Vec<Column> = Column::DEFAULT.to_vec();
    if cli.all {
        columns.insert(1, Column::State);
        columns.insert(3, Column::Peer);
    }
    if cli.wide {
        columns.extend(Column::WIDE);
    }
    columns
}

fn status_for(snap: &Snapshot) -> u8 {
    if snap.listeners.is_empty() {
        EXIT_NOTHING
    } else {
        EXIT_OK
    }
}

fn hint(snap: &Snapshot) {
    if let Some(hint) = listing::root_hint(snap) {
        crate::stderr::line(format_args!("whoport: hint: {hint}"));
    }
}

fn run_query(cli: &Cli, out: &Output, w: &mut dyn Write) -> Result<u8> {
    let Some(text) = cli.query.as_deref() else {
        return run_listing(cli, out, w);
    };
    let query: Query = text.parse()?;
    // netstat's `tcp6/22`: TCP over IPv6 (as `22/tcp -6`).
    let filters = match crate::port::query_family(text) {
        None => std::borrow::Cow::Borrowed(&cli.filters),
        Some(family) => {
            let v6 = family == crate::port::Family::V6;
            if (v6 && cli.filters.ipv4 && !cli.filters.ipv6)
                || (!v6 && cli.filters.ipv6 && !cli.filters.ipv4)
            {
                return Err(UsageError(format!(
                    "'{}' asks for IPv{} sockets and {} for IPv{} ones: use one of them",
                    sanitize(text),
                    if v6 { 6 } else { 4 },
                    if v6 { "-4" } else { "-6" },
                    if v6 { 4 } else { 6 },
                ))
                .into());
            }
            std::borrow::Cow::Owned(FilterArgs {
                ipv4: !v6,
                ipv6: v6,
                ..cli.filters.clone()
            })
        }
    };
    let typed = protocol_typed(&query, &filters);
    let protocol = query.protocol().or(only_protocol(&filters));
    match query {
        Query::Port { port, address, .. } => {
            let filter = Filter {
                address,
                ..filter_for(
                    &filters,
                    cli.all,
                    Some(vec![PortRange::single(port)]),
                    protocol,
                )
            };
            // The registry loads while the owner lookup runs.
            let (mut snap, k) = collect::collect_beside(&filter, || load(cli))?;
            let k = k?;
            snap.notes
                .extend(protocol.and_then(|p| unread_protocol_note(port, p)));
            snap.notes
                .extend(filter.address.as_ref().and_then(|a| a.missing_device()));
            if protocol == Some(Protocol::Udplite) {
                snap.notes.push(
                    "UDP-Lite uses the port numbers IANA assigns for UDP (RFC 3828 §3.5): the \
                     registry's answer is UDP's"
                        .to_string(),
                );
            }
            // What the filters hid on this port, so that the card never says "nothing".
            let hidden = collect::filtered::hidden_by_filters(&filter, &snap, typed)?;
            let report = k.report(port, protocol);
            let verdicts = audit::verdict::verdicts(&snap, &k);
            if out.json {
                json::write(
                    w,
                    out.pretty_json,
                    &PortCardDoc {
                        schema_version: SCHEMA_VERSION,
                        port: PortDoc::from_report(&report),
                        verdicts: verdicts
                            .iter()
                            .map(render::verdict::VerdictDoc::new)
                            .collect(),
                        listeners: json::ListenerDocs::new(&snap, &k).for_output(out.pretty_json),
                        hidden_by_filters: hidden.iter().map(json::FilteredDoc::new).collect(),
                        unattributed: snap
                            .unattributed
                            .iter()
                            .map(|l| json::UnattributedDoc::new(l, &snap.processes))
                            .collect(),
                        asked_unread: json::AskedUnreadDoc::new(&snap.asked_unread),
                        established_connections: snap.established.get(&port).copied().unwrap_or(0),
                        source: snap.source,
                        owner_lookup: snap.owner_lookup,
                        notes: &snap.notes,
                        ephemeral_range: k.ephemeral.into(),
                        registry_snapshot: k.iana.snapshot().to_string(),
                    },
                )?;
            } else {
                let local_path = Some(k.local.shown());
                let protocols: Vec<Protocol> = match protocol {
                    Some(p) => vec![p],
                    None => vec![Protocol::Tcp, Protocol::Udp, Protocol::Udplite],
                };
                // The headline names a known program only when it holds every listener on
                // the port: one holding some of them is no answer for the port.
                let on_port: Vec<_> = snap
                    .listeners
                    .iter()
                    .filter(|l| l.socket.port == port)
                    .map(|l| l.known_use)
                    .collect();
                let programs: Vec<_> = if on_port.iter().all(Option::is_some) {
                    on_port.into_iter().flatten().collect()
                } else {
                    Vec::new()
                };
                writeln!(w, "{}", table::headline(out, &report, &programs))?;
                render::verdict::text(w, out, &verdicts)?;
                render::filtered::card_section(
                    w,
                    out,
                    &snap,
                    (port, &protocols),
                    &hidden,
                    render::filtered::Asked::of_filter(&filter),
                    cli.wide,
                )?;
                listing::notes(w, out, &snap)?;
                if !programs.is_empty() {
                    writeln!(w, "{}", table::paint(out, table::KNOWN_USE_LEGEND, "2"))?;
                }
                table::card_sections(
                    w,
                    out,
                    &report,
                    k.iana.snapshot(),
                    local_path.as_deref(),
                    k.ephemeral,
                    cli.wide,
                )?;
            }
            hint(&snap);
            Ok(status_for(&snap))
        }
        Query::Range { range, .. } => {
            let filter = filter_for(&filters, cli.all, Some(vec![range]), protocol);
            let (snap, k) = collect::collect_beside(&filter, || load(cli))?;
            let k = k?;
            let hidden = collect::filtered::hidden_by_filters(&filter, &snap, typed)?;
            let reports: Vec<PortReport<'_>> = range
                .ports()
                .map(|p| k.report(p, protocol))
                .filter(PortReport::is_notable)
                .collect();
            let asked = render::filtered::Asked::of_filter(&filter);
            write_list(w, out, &k, (text, asked), (&snap, &hidden), &reports, &[])?;
            if !out.json && reports.is_empty() {
                writeln!(
                    w,
                    "No port in {range} has an IANA service, local name or known unofficial use."
                )?;
            }
            hint(&snap);
            Ok(status_for(&snap))
        }
        Query::Service { name, .. } => {
            // A service name, a program name (`whoport nginx`), or both.
            let k = load(cli)?;
            let service = k.resolve_service(&name, protocol);
            let filter = Filter {
                program: Some(name.clone()),
                ..filter_for(
                    &filters,
                    cli.all,
                    service.as_ref().ok().map(|f| f.ranges.clone()),
                    protocol,
                )
            };
            let mut snap = collect::collect(&filter)?;
            let unread = protocol.and_then(|p| unread_protocol_note_for(&name, p));
            let hidden = collect::filtered::hidden_by_filters(&filter, &snap, typed)?;
            let found = match service {
                Ok(found) => found,
                Err(e) if snap.listeners.is_empty() => {
                    if snap.unattributed.is_empty() && hidden.is_empty() {
                        let name = sanitize(&crate::error::quoted(&name)).into_owned();
                        match unread {
                            Some(n) => anyhow::bail!(
                                "{e}; and no process named {name} listens on TCP, UDP or UDP-Lite ({n})"
                            ),
                            None => {
                                anyhow::bail!("{e}; and no listening process is named {name}")
                            }
                        }
                    }
                    // Not a service; whether a process of that name listens is unknown, or
                    // the filters hid its listeners (said on standard output).
                    crate::stderr::line(format_args!("whoport: {}", sanitize(&e.to_string())));
                    registry::ServiceMatch::default()
                }
                Err(_) => registry::ServiceMatch::default(),
            };
            snap.notes.extend(unread);
            // A range (Kubernetes NodePorts) is one row, never one row per port.
            let reports: Vec<PortReport<'_>> = found
                .spans
                .iter()
                .map(|r| k.report_range(*r, protocol))
                .collect();
            write_list(
                w,
                out,
                &k,
                (text, Some(render::filtered::Asked::Program(&name))),
                (&snap, &hidden),
                &reports,
                &found.portless,
            )?;
            hint(&snap);
            Ok(status_for(&snap))
        }
    }
}

fn run_listing(cli: &Cli, out: &Output, w: &mut dyn Write) -> Result<u8> {
    // The registry loads while the owner lookup runs.
    let filter = filter_for(&cli.filters, cli.all, None, None);
    let (snap, k) = collect::collect_beside(&filter, || load(cli))?;
    let k = k?;
    if out.json {
        json::write_listing(
            w,
            out.pretty_json,
            &ListingDoc {
                schema_version: SCHEMA_VERSION,
                listeners: json::ListenerDocs::new(&snap, &k).for_output(out.pretty_json),
                hidden_owners: snap.hidden,
                unattributed: snap
                    .unattributed
                    .iter()
                    .map(|l| json::UnattributedDoc::new(l, &snap.processes))
                    .collect(),
                asked_unread: json::AskedUnreadDoc::new(&snap.asked_unread),
                root: snap.root,
                source: snap.source,
                owner_lookup: snap.owner_lookup,
                notes: &snap.notes,
            },
        )?;
    } else if snap.listeners.is_empty() {
        // With --pid or --process, listeners whose owner could not be seen may be the
        // process asked for: said instead of "nothing".
        let asked = render::filtered::Asked::of_filter(&filter);
        match asked.filter(|_| !snap.unattributed.is_empty()) {
            Some(asked) => {
                render::filtered::owner_unknown_section(
                    w,
                    out,
                    asked,
                    0,
                    (&snap.unattributed, &snap.processes),
                )?;
            }
            None => match (asked, snap.asked_by_owner) {
                // Whether the processes asked for hold one is not known: never "none match".
                // Nor where a listener of theirs was seen that processes of the `--user`
                // asked for, which could not be read, may share.
                (Some(_), 0) if snap.asked_of_user > 0 => writeln!(
                    w,
                    "No listener seen matches every filter, but the descriptors of {} of user \
                     {} could not be read: whether {} a listener seen held by a process asked \
                     for is not known.",
                    match snap.asked_of_user {
                        1 => "1 process".to_string(),
                        n => format!("{n} processes"),
                    },
                    render::sanitize::sanitize(filter.user.as_deref().unwrap_or_default()),
                    if snap.asked_of_user == 1 {
                        "it shares"
                    } else {
                        "they share"
                    }
                )?,
                (None, _) | (_, 0) => writeln!(w, "No listening sockets match.")?,
                (Some(asked @ render::filtered::Asked::Pid(..)), _) => writeln!(
                    w,
                    "{}, but its descriptors could not be read: whether it holds any is not \
                     known.",
                    asked.none_seen()
                )?,
                (Some(asked), n) => writeln!(
                    w,
                    "{}, but the descriptors of {} could not be read: whether {} any is not \
                     known.",
                    asked.none_seen(),
                    asked.unread_processes(n),
                    if n == 1 { "it holds" } else { "they hold" }
                )?,
            },
        }
        if let Some(closed) = listing::closed_text(&snap.closed, false) {
            writeln!(w, "{closed}.")?;
        }
        // What could not be seen matters most when nothing is shown.
        listing::notes(w, out, &snap)?;
    } else {
        listing::listing(w, out, &snap, &k, &columns(cli))?;
        writeln!(w, "{}", listing::summary(&snap))?;
        if let Some(asked) = render::filtered::Asked::of_filter(&filter) {
            render::filtered::owner_unknown_section(
                w,
                out,
                asked,
                snap.listeners.len(),
                (&snap.unattributed, &snap.processes),
            )?;
        }
        listing::notes(w, out, &snap)?;
    }
    hint(&snap);
    let status = status_for(&snap);
    // The process ends with the listing (the only caller returns its status): its memory
    // goes back to the system with the process, not freed row by row first.
    std::mem::forget((snap, k));
    Ok(status)
}

fn write_list(
    w: &mut dyn Write,
    out: &Output,
    k: &Knowledge,
    (query, asked): (&str, Option<render::filtered::Asked<'_>>),
    (snap, hidden): (&Snapshot, &[collect::filtered::FilteredOut]),
    reports: &[PortReport<'_>],
    portless: &[registry::iana::Entry<'_>],
) -> Result<()> {
    if out.json {
        json::write(
            w,
            out.pretty_json,
            &PortListDoc {
                schema_version: SCHEMA_VERSION,
                query: query.to_string(),
                listeners: json::ListenerDocs::new(snap, k).for_output(out.pretty_json),
                hidden_by_filters: hidden.iter().map(json::FilteredDoc::new).collect(),
                unattributed: snap
                    .unattributed
                    .iter()
                    .map(|l| json::UnattributedDoc::new(l, &snap.processes))
                    .collect(),
                asked_unread: json::AskedUnreadDoc::new(&snap.asked_unread),
                source: snap.source,
                owner_lookup: snap.owner_lookup,
                notes: &snap.notes,
                ports: reports.iter().map(PortDoc::from_report).collect(),
                portless: portless.iter().map(json::ServiceDoc::from_entry).collect(),
                ephemeral_range: k.ephemeral.into(),
                registry_snapshot: k.iana.snapshot().to_string(),
            },
        )?;
    } else {
        if !snap.listeners.is_empty() {
            listing::listing(w, out, snap, k, &Column::DEFAULT)?;
        }
        if let Some(closed) = listing::closed_text(&snap.closed, !snap.listeners.is_empty()) {
            writeln!(w, "{closed}.")?;
        }
        render::filtered::list_section(
            w,
            out,
            query,
            snap.listeners.len(),
            hidden,
            (asked, (&snap.unattributed, &snap.processes)),
            (snap.asked_by_owner, snap.asked_of_user),
        )?;
        listing::notes(w, out, snap)?;
        if !reports.is_empty() {
            writeln!(w, "\n{}", table::paint(out, "What the registry says", "1"))?;
            table::port_list(w, out, reports)?;
        }
        table::portless(w, out, portless)?;
    }
    Ok(())
}

/// A usage error found after parsing (two options that disagree): exit status 2, like
/// clap's own.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn run_registry(
    cli: &Cli,
    action: &RegistryCommand,
    out: &Output,
    w: &mut dyn Write,
) -> Result<u8> {
    match action {
        RegistryCommand::Info => {
            let k = load(cli)?;
            let local_path = k.local.path.as_ref().map(|p| p.display().to_string());
            let installed = registry::installed_path().map(|p| p.display().to_string());
            if out.json {
                json::write(
                    w,
                    out.pretty_json,
                    &json::RegistryInfoDoc::new(
                        &k.iana,
                        (local_path, k.local.entries.len()),
                        installed,
                    ),
                )?;
            } else {
                // Said as the card says it: a file not read is named with why.
                let shown = (k.local.path.is_some() || !k.local.missing).then(|| k.local.shown());
                table::registry_info(
                    w,
                    out,
                    &k.iana,
                    (shown.as_deref(), k.local.entries.len()),
                    installed.as_deref(),
                )?;
            }
        }
        RegistryCommand::Search { text } => {
            if text.trim().is_empty() {
                anyhow::bail!("empty search text");
            }
            let k = load(cli)?;
            let results = k.search(text);
            if out.json {
                json::write(w, out.pretty_json, &json::SearchDoc::new(text, &results))?;
            } else {
                table::search(w, out, &results)?;
            }
        }
        RegistryCommand::Import { file, output } => {
            let to_stdout = output
                .as_deref()
                .is_none_or(|p| Target::of(p) == Target::Stdout);
            if out.json && to_stdout {
                anyhow::bail!("'registry import --json' needs --output FILE: the table itself goes to standard output otherwise");
            }
            let imported = import_file(file)?;
            match output.as_deref().map(Target::of) {
                Some(Target::File(path)) => {
                    atomic_file::write(path, imported.table.as_bytes())?;
                    report_import(w, out, file, &path.display().to_string(), &imported)?;
                }
                Some(Target::Stdout) | None => w.write_all(imported.table.as_bytes())?,
            }
        }
        RegistryCommand::Update { from, force } => {
            let imported = import_file(from)?;
            let mut warnings = Vec::new();
            let in_use = registry::in_use(&mut warnings);
            for warning in warnings {
                crate::stderr::line(format_args!("whoport: warning: {}", sanitize(&warning)));
            }
            if !force && registry::is_older(&imported.snapshot, in_use.snapshot()) {
                anyhow::bail!(
                    "'{}' is a snapshot of {}, older than the registry in use ({}, {}): not \
                     installed; --force installs it anyway",
                    from.display(),
                    imported.snapshot,
                    in_use.snapshot(),
                    registry::origin_name(&in_use.origin)
                );
            }
            let target = registry::installed_path()
                .context("this system has no per-user data directory to install the registry in")?;
            atomic_file::write_creating_dir(&target, imported.table.as_bytes())?;
            report_import(w, out, from, &target.display().to_string(), &imported)?;
        }
    }
    Ok(EXIT_OK)
}

fn import_file(path: &Path) -> Result<import::Imported> {
    let bytes = input_file::read(path, input_file::CSV_LIMIT, Found::Named)
        .with_context(|| format!("cannot read '{}'", path.display()))?;
    let imported = import::import_csv(&bytes, &path.display().to_string())?;
    // What is written or installed must load: checked by the loader itself.
    registry::check(&imported, path)?;
    Ok(imported)
}

fn report_import(
    w: &mut dyn Write,
    out: &Output,
    input: &Path,
    output: &str,
    imported: &import::Imported,
) -> Result<()> {
    if out.json {
        json::write(
            w,
            out.pretty_json,
            &ImportDoc {
                schema_version: SCHEMA_VERSION,
                input: input.display().to_string(),
                output: output.to_string(),
                rows: imported.rows,
                snapshot_date: imported.snapshot.clone(),
            },
        )?;
    } else {
        writeln!(
            w,
            "wrote {} registry rows (snapshot {}) to {}",
            imported.rows,
            imported.snapshot,
            crate::render::sanitize::sanitize(output)
        )?;
    }
    Ok(())
}
