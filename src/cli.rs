//! The command line, as clap derive types; nothing here does any work.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand, ValueEnum};

const EXAMPLES: &str = "\
Examples:
  whoport                   every listening TCP socket and bound UDP socket, with owners
  whoport --exposed         only what is reachable from outside this machine
  whoport --wide            add EXE, COMMAND, UNIT/CONTAINER, UPTIME and RANGE columns
  whoport --process nginx   listeners of processes whose name contains 'nginx'
  whoport 2668              who listens on 2668, and everything known about the port
  whoport 53/udp            only UDP
  whoport :8080             the colon form, as ss prints it
  whoport 127.0.0.1:5432    an address as ss, netstat or lsof print it: that socket only
  whoport 8000-8100         one summary row per port that has something to say
  whoport ssh               a service name: its ports
  whoport nginx             a program name: its listeners
  whoport 443 --json        the same facts as JSON (schema in docs/json.md)
  whoport --timeout 3s      give up after 3 s on a process too slow to read (a note names it)
  whoport check 8080        could a new server listen on 8080 now? if not, why
  whoport free              a port for a new service: free, unassigned, not ephemeral
  whoport wait 5432 --listening --timeout 30s
      until something listens on 5432, for at most 30 seconds
  whoport registry info     which IANA registry snapshot is in use
  whoport registry search postgres
      services and known programs matching 'postgres'

Exit status: 0 something was found (a listener; for 'registry', success),
             1 nothing is listening (or nothing matched the filters),
             2 error (bad port, range, name or file; sockets could not be listed).";

#[derive(Debug, Parser)]
#[command(
    name = "whoport",
    version,
    about = "What is listening on a port, and should it be? Every listener with its process, annotated from the full IANA registry.",
    after_help = EXAMPLES,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// A port (2668, :8080, 53/udp, tcp/22), an address (0.0.0.0:22, [::1]:8080, *:22), a
    /// range (8000-8100), a service name (ssh) or a program name (nginx)
    #[arg(value_name = "PORT|RANGE|SERVICE")]
    pub query: Option<String>,

    #[command(flatten)]
    pub filters: FilterArgs,

    /// Also TCP sockets that are not listening (established, time-wait...), with their peer
    #[arg(short = 'a', long)]
    pub all: bool,

    /// Add the EXE, COMMAND, UNIT/CONTAINER, UPTIME and RANGE columns
    #[arg(short = 'w', long)]
    pub wide: bool,

    /// Exactly these columns, comma-separated
    #[arg(long, value_enum, value_delimiter = ',', value_name = "COLUMNS")]
    pub columns: Option<Vec<Column>>,

    /// Print one JSON document (schema_version 1) instead of tables
    #[arg(long, global = true)]
    pub json: bool,

    /// When to use colour: auto honours NO_COLOR, TERM=dumb and pipes
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// Use this IANA CSV as the registry for this run
    #[arg(long, global = true, value_name = "FILE")]
    pub registry: Option<PathBuf>,

    /// Give up after this long (10s, 500ms, 1m) on what is slow to answer: a process's
    /// details, the owner lookup, a pipe named as a file; what was left is named in a note
    /// [default: 10s]
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true,
          value_parser = crate::collect::deadline::parse)]
    pub timeout: Option<crate::collect::deadline::Limit>,

    /// Print a man page or shell completions, generated from these definitions, and exit
    #[arg(long, value_enum, value_name = "WHAT", hide = true)]
    pub generate: Option<Generate>,
}

/// What `--generate` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Generate {
    /// The man page whoport(1)
    Man,
    /// The man page whoport-audit(1)
    ManAudit,
    /// The man page whoport-check(1)
    ManCheck,
    /// The man page whoport-free(1)
    ManFree,
    /// The man page whoport-wait(1)
    ManWait,
    /// The man page whoport-registry(1)
    ManRegistry,
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

/// Which sockets to look at: shared by the listing and `audit` (which looks at listeners
/// only, so `--all` belongs to the listing alone).
#[derive(Debug, Clone, Default, Args)]
pub struct FilterArgs {
    /// Only TCP sockets
    #[arg(short = 't', long)]
    pub tcp: bool,

    /// Only UDP sockets (not UDP-Lite: a protocol of its own)
    #[arg(short = 'u', long)]
    pub udp: bool,

    /// Only UDP-Lite sockets (RFC 3828; listed by default with TCP and UDP)
    #[arg(long)]
    pub udplite: bool,

    /// Only IPv4 sockets
    #[arg(short = '4', long = "ipv4")]
    pub ipv4: bool,

    /// Only IPv6 sockets
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,

    /// Only sockets held by this process ID
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,

    /// Only sockets held by processes whose name contains NAME (ignoring case)
    #[arg(long, value_name = "NAME", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub process: Option<String>,

    /// Only sockets of this user (name or uid): held by a process with a thread acting as that
    /// user (credentials are per thread), or, where no owner's user is known, the socket's
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,

    /// Only sockets reachable from other machines (not loopback-only)
    #[arg(long)]
    pub exposed: bool,
}

/// A column of the listing. The order here is the order of `--wide`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Column {
    /// tcp, udp or udplite
    Proto,
    /// TCP state (shown with --all)
    State,
    /// bind address ([::], 0.0.0.0%lo, [fe80::1%eth0]) and its reach: all (IPv4, IPv6 or
    /// both), loopback, one address, or one device
    Address,
    /// remote address and port of a connection (shown with --all); "-" for listeners
    Peer,
    /// local port
    Port,
    /// IANA service name, or unassigned / dynamic
    Service,
    /// process IDs holding the socket
    Pid,
    /// full process name
    Process,
    /// user of the process (or of the socket when the process is hidden)
    User,
    /// executable path
    Exe,
    /// command line
    Command,
    /// systemd unit or container
    Unit,
    /// time since the process started
    Uptime,
    /// IANA tier: well-known, registered, dynamic
    Range,
}

impl Column {
    pub const DEFAULT: [Column; 7] = [
        Column::Proto,
        Column::Address,
        Column::Port,
        Column::Service,
        Column::Pid,
        Column::Process,
        Column::User,
    ];
    pub const WIDE: [Column; 5] = [
        Column::Exe,
        Column::Command,
        Column::Unit,
        Column::Uptime,
        Column::Range,
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Flag the listeners that deserve a look, and what changed since a baseline
    #[command(after_help = AUDIT_EXAMPLES)]
    Audit(AuditArgs),
    /// Could a new server listen on this port now? Test binds, and every cause when not
    #[command(after_help = CHECK_EXAMPLES)]
    Check(CheckArgs),
    /// Suggest ports for a new service: free now, unassigned, outside the ephemeral range
    #[command(after_help = FREE_EXAMPLES)]
    Free(FreeArgs),
    /// Wait until a port has a listener, or is free (watches the kernel's tables, never connects)
    #[command(after_help = WAIT_EXAMPLES)]
    Wait(WaitArgs),
    /// The IANA registry: which snapshot is in use, search it, import or install a newer one
    #[command(after_help = REGISTRY_EXAMPLES)]
    Registry {
        #[command(subcommand)]
        action: RegistryCommand,
    },
}

const REGISTRY_EXAMPLES: &str = "\
Examples:
  whoport registry info                      which registry is in use, its date and row counts
  whoport registry search postgres           services and known programs matching 'postgres'
  whoport registry update --from service-names-port-numbers.csv
      install a newer IANA registry for this user (validated first)
  whoport registry import service-names-port-numbers.csv -o iana.tsv
      convert IANA's CSV to whoport's table, written to iana.tsv

Exit status: 0 success, 2 error (unreadable or invalid file, nothing to search for).";

const AUDIT_EXAMPLES: &str = "\
Examples:
  whoport audit                              findings, most severe first
  whoport audit --save-baseline /var/lib/whoport/baseline.json
      remember today's listeners, to compare with later
  whoport audit --baseline /var/lib/whoport/baseline.json --fail-on medium
      what changed since the baseline; exit 1 from medium findings on
  whoport audit --ignore ephemeral-range --config ./audit.toml
      without one kind of finding, and with the suppressions of a file
  whoport audit --format prometheus --output /var/lib/node_exporter/whoport.prom
      for node_exporter's textfile collector, replaced atomically

Exit status: 0 no unsuppressed finding at or above --fail-on (default high),
             1 at least one, 2 error (bad baseline or config file, sockets not listed).
Finding ids, what they mean and how to suppress them: docs/audit.md in whoport's
documentation.";

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub filters: FilterArgs,

    /// Compare with this baseline: adds new-listener, gone-listener and owner-changed
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,

    /// Write the current listeners to FILE as a baseline (atomically, a regular file only);
    /// '-' prints the baseline instead of the report
    #[arg(long, value_name = "FILE")]
    pub save_baseline: Option<PathBuf>,

    /// Accepted listeners (TOML); default: audit.toml in the user's config directory
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Suppress every finding with this id (repeatable)
    #[arg(long, value_name = "ID", value_parser = clap::builder::PossibleValuesParser::new(crate::audit::IDS), hide_possible_values = true)]
    pub ignore: Vec<String>,

    /// Exit with status 1 when an unsuppressed finding is at least this severe
    #[arg(long, value_enum, default_value_t = SeverityArg::High, value_name = "SEVERITY")]
    pub fail_on: SeverityArg,

    /// Output format (default: table); --json is the same as --format json
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<AuditFormat>,

    /// Write the output to FILE (atomically: a reader sees the old file or the new one; a
    /// regular file only)
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Give up after this long (10s, 500ms, 1m) on what is slow to answer: a process's
    /// details, the owner lookup, a pipe named as a file; what was left is named in a note
    /// [default: 10s]
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true,
          value_parser = crate::collect::deadline::parse)]
    pub timeout: Option<crate::collect::deadline::Limit>,
}

const CHECK_EXAMPLES: &str = "\
Examples:
  whoport check 8080                    TCP on 0.0.0.0, [::] dual-stack and [::] v6-only
  whoport check 53/udp                  UDP
  whoport check 5004/udplite            UDP-Lite (a port space of its own)
  whoport check 8080 --address 127.0.0.1
      only 127.0.0.1
  whoport check 127.0.0.1:8080          the same, pasted as ss prints it
  whoport check 8080 --json             every attempt, its causes and the advice as JSON

Each address is bound twice, without and with SO_REUSEADDR (what most servers set); the
socket is closed at once, never listening and never connected.

Exit status: 0 a server could listen on every address tried (both ways),
             1 not on at least one, 2 error.";

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The port, optionally with /tcp, /udp or /udplite (default: tcp)
    #[arg(value_name = "PORT[/tcp|/udp|/udplite]")]
    pub port: String,

    /// Try this address instead of 0.0.0.0, [::] dual-stack and [::] v6-only
    #[arg(long, value_name = "ADDR")]
    pub address: Option<String>,
}

const FREE_EXAMPLES: &str = "\
Examples:
  PORT=$(whoport free)                  one port, free for TCP and UDP
  whoport free --count 3 --tcp          three ports, free for TCP
  whoport free --range 8000-8999 --first
      the lowest candidate between 8000 and 8999
  whoport free --json                   the ports with the reasons they qualify

A candidate is above 1023, outside the ephemeral range and the reserved ports, unassigned
and unreserved in the IANA registry, without a known unofficial use or /etc/services entry,
and passes 'whoport check' right now. Random among the candidates unless --first.

Exit status: 0 at least one port printed, 1 no candidate in the range, 2 error.";

#[derive(Debug, Args)]
pub struct FreeArgs {
    /// How many ports to print
    #[arg(short = 'n', long, default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub count: u16,

    /// Only TCP must be free (default: TCP and UDP)
    #[arg(short = 't', long, conflicts_with_all = ["udp", "udplite"])]
    pub tcp: bool,

    /// Only UDP must be free
    #[arg(short = 'u', long, conflicts_with = "udplite")]
    pub udp: bool,

    /// Only UDP-Lite must be free (a port space of its own)
    #[arg(long)]
    pub udplite: bool,

    /// Look only in this range, e.g. 8000-8999
    #[arg(long, value_name = "A-B")]
    pub range: Option<String>,

    /// The lowest candidates instead of random ones
    #[arg(long)]
    pub first: bool,
}

const WAIT_EXAMPLES: &str = "\
Examples:
  whoport wait 5432 --listening --timeout 30s && psql ...
      start a client once the server listens, or give up after 30 s
  whoport wait 53/udp --listening --process unbound
      until a process named unbound has bound 53/udp
  whoport wait 8080 --free --timeout 2m     until a new server could bind it

whoport reads the kernel's socket tables for this one port (it never connects, so it works
for UDP and for servers that must not see probes), more and more slowly: a look after 20 ms,
then at most one a second. Processes are looked up only for --pid and --process.

Exit status: 0 the condition holds, 1 the timeout passed first, 2 error.";

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("condition").required(true).args(["listening", "free"])))]
pub struct WaitArgs {
    /// The port, optionally with /tcp, /udp or /udplite (default: tcp)
    #[arg(value_name = "PORT[/tcp|/udp|/udplite]")]
    pub port: String,

    /// Return when a listener exists on the port
    #[arg(long)]
    pub listening: bool,

    /// Return when a new server could listen on the port (as 'whoport check' says)
    #[arg(long)]
    pub free: bool,

    /// Give up after this long (30s, 2m, 1h); default: wait forever
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub timeout: Option<std::time::Duration>,

    /// With --listening: only a listener held by this process ID
    #[arg(long, value_name = "PID", conflicts_with_all = ["free", "process"])]
    pub pid: Option<u32>,

    /// With --listening: only a listener of a process whose name contains NAME
    #[arg(
        long,
        value_name = "NAME",
        conflicts_with = "free",
        value_parser = clap::builder::NonEmptyStringValueParser::new()
    )]
    pub process: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SeverityArg {
    High,
    Medium,
    Low,
    Info,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    Table,
    Json,
    /// Prometheus text format, for node_exporter's textfile collector
    Prometheus,
}

impl AuditFormat {
    /// The value as typed on the command line.
    pub fn name(self) -> &'static str {
        match self {
            AuditFormat::Table => "table",
            AuditFormat::Json => "json",
            AuditFormat::Prometheus => "prometheus",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Which registry is in use (embedded snapshot or installed), its date and row counts
    Info,
    /// Services and known unofficial uses whose name or description contains TEXT
    Search {
        /// Text to look for, ignoring case
        text: String,
    },
    /// Convert an IANA CSV into whoport's compact table (how the embedded table is made)
    Import {
        /// IANA's service-names-port-numbers.csv
        file: PathBuf,
        /// Write the table here (atomically, a regular file only) instead of standard output
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Validate a newer IANA CSV and install it for this user; whoport then prefers it
    Update {
        /// IANA's service-names-port-numbers.csv
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// Install even a snapshot older than the registry in use
        #[arg(long)]
        force: bool,
    },
}
