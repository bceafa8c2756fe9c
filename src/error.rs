//! What can go wrong in the library, one enum per thing that failed.

use std::path::PathBuf;

use thiserror::Error;

/// A PORT, RANGE or service-name argument that cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QueryError {
    #[error("empty port or service name")]
    Empty,
    #[error("{} is not a port number (0-65535), a range such as 8000-8100, or a service name", quoted(.value))]
    BadPort { value: String },
    #[error("{} is out of range: ports are 0-65535", quoted(.value))]
    PortOutOfRange { value: String },
    #[error("{} is a reversed range: the first port must not be above the second", quoted(.value))]
    ReversedRange { value: String },
    #[error("{}: unknown protocol {}: whoport knows tcp, udp, udplite, sctp and dccp, and tcp4, tcp6, udp4, udp6... for one address family", quoted(.value), quoted(.protocol))]
    BadProtocol { value: String, protocol: String },
    #[error("{}: no protocol {side} the slash: write 22/tcp or tcp/22 (tcp, udp, udplite, sctp or dccp), or the port alone", quoted(.value))]
    MissingProtocol { value: String, side: &'static str },
    #[error("{} is not a port number: a port is written with digits only, without a sign (0-65535)", quoted(.value))]
    SignedPort { value: String },
    #[error("{} is an address without a port: add the port ({}), or give the port alone", quoted(.value), .example)]
    AddressWithoutPort {
        value: String,
        /// The address with a port, as whoport takes it (`[::1]:PORT`).
        example: String,
    },
    #[error("{}: zone {} is no interface name or index: a zone is an interface name of at most 15 bytes (lo, eth0) or an interface index (1-4294967295)", quoted(.value), quoted(.zone))]
    BadZone { value: String, zone: String },
    #[error("{}: the address is not an IPv4 or IPv6 address (forms: 0.0.0.0:22, [::1]:8080, [fe80::1%lo]:42600, *:22)", quoted(.value))]
    BadAddress { value: String },
    #[error("{}: whoport never looks up host names; give the address (127.0.0.1:5432, [::1]:5432) or the port", quoted(.value))]
    HostName { value: String },
    #[error("{} is not a valid service or program name (letters, digits, spaces and - _ . + * ( ) only)", quoted(.value))]
    BadServiceName { value: String },
    #[error("{} is not a {}service name in the IANA registry, {}, the aliases or the known unofficial uses{}{}", quoted(&with_protocol(.value, .protocol.as_deref())), .protocol.as_deref().map(|p| format!("{} ", p.to_uppercase())).unwrap_or_default(), .services_file, did_you_mean(.suggestions), close_elsewhere(.elsewhere))]
    UnknownService {
        value: String,
        /// The protocol asked for (`grafanna/udp`), kept in what is said and suggested.
        protocol: Option<String>,
        /// The local services file read ("/etc/services"), or why there is none.
        services_file: String,
        /// Close names, with the protocol asked for (`dns/udp`).
        suggestions: Vec<String>,
        /// When no close name is on the protocol asked for: close names on the others, with
        /// their protocol (`grafana/tcp`).
        elsewhere: Vec<String>,
    },
    #[error("'{value}/{protocol}': {value} is a {other} service ({available}), not {}; try '{value}' alone", .protocol.to_uppercase())]
    WrongProtocol {
        value: String,
        protocol: String,
        /// The protocols it does use ("TCP and UDP").
        other: String,
        /// Its ports on those protocols ("123/tcp, 123/udp").
        available: String,
    },
}

/// At most this many characters of an argument are quoted back in a message.
pub const QUOTED_MAX: usize = 64;

/// `'value'`, or its first [`QUOTED_MAX`] characters and how long it was.
pub fn quoted(value: &str) -> String {
    match value.char_indices().nth(QUOTED_MAX) {
        None => format!("'{value}'"),
        Some((cut, _)) => format!(
            "'{}...' ({} characters)",
            &value[..cut],
            value.chars().count()
        ),
    }
}

/// `name`, or `name/udp` when a protocol was given.
pub fn with_protocol(value: &str, protocol: Option<&str>) -> String {
    match protocol {
        Some(p) => format!("{value}/{p}"),
        None => value.to_string(),
    }
}

fn close_elsewhere(names: &[String]) -> String {
    if names.is_empty() {
        String::new()
    } else {
        let quoted: Vec<String> = names.iter().map(|s| format!("'{s}'")).collect();
        format!("; close names on other protocols: {}", quoted.join(", "))
    }
}

fn did_you_mean(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        let quoted: Vec<String> = suggestions.iter().map(|s| format!("'{s}'")).collect();
        format!("; did you mean {}?", quoted.join(", "))
    }
}

/// An IANA CSV or compact registry table that cannot be used.
#[derive(Debug, Error)]
pub enum RegistryError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read '{path}': {source}")]
    Read {
        path: PathBuf,
        source: crate::input_file::ReadError,
    },
    #[error("{origin}: the file is empty")]
    Empty { origin: String },
    #[error("{origin}, line {line}: {reason}")]
    Malformed {
        origin: String,
        line: u64,
        reason: String,
    },
}

/// Looking at the machine's sockets failed: never reported as "nothing is listening".
#[derive(Debug, Error)]
pub enum CollectError {
    #[error("cannot list the machine's sockets: {detail}")]
    Sockets {
        detail: String,
        /// The OS error underneath, when there is one.
        errno: Option<i32>,
    },
    #[error("{needed} free file descriptors are needed to look at the machine, and whoport may open only {}: raise the hard limit (ulimit -Hn, LimitNOFILE= for a service) or close the descriptors whoport is given, and run again", .limit.words())]
    Descriptors {
        limit: crate::collect::descriptors::Short,
        needed: u64,
    },
}

impl CollectError {
    /// Was the netlink socket-diagnostics interface refused outright (gVisor, WSL1, seccomp,
    /// kernels without it)? Then `/proc/net` is worth a try.
    pub fn is_refusal(&self) -> bool {
        const EPERM: i32 = 1;
        const EACCES: i32 = 13;
        const EINVAL: i32 = 22;
        const EPROTONOSUPPORT: i32 = 93;
        const EAFNOSUPPORT: i32 = 97;
        const ENOENT: i32 = 2;
        matches!(
            self,
            CollectError::Sockets { errno: Some(e), .. }
                if [EPERM, EACCES, EINVAL, EPROTONOSUPPORT, EAFNOSUPPORT, ENOENT].contains(e)
        )
    }
}

/// An argument of `check`, `free` or `wait` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PortArgError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error("'{value}': give one port number, such as 8080 or 53/udp (with one address at most, such as 127.0.0.1:8080)")]
    NotOnePort { value: String },
    #[error("'{value}': port 0 asks the kernel for any port; give a port from 1 to 65535")]
    Zero { value: String },
    #[error("'{value}': only tcp, udp and udplite ports can be tested")]
    Protocol { value: String },
    #[error("'{value}': give the protocol without a family (tcp, udp, udplite) and the address to test, such as 127.0.0.1:8080 or [::1]:8080/udp")]
    Family { value: String },
    #[error("'{value}' is not an IP address (for example 127.0.0.1, ::1 or [::1])")]
    Address { value: String },
    #[error("'{value}' is not a port range such as 8000-8999")]
    Range { value: String },
    #[error("'{value}': 'wait' watches the port on every address; give the port alone")]
    AddressNotWanted { value: String },
}
