//! What to show: the command line's filters, judged of a socket before owners are looked up
//! and of a listener after.

use crate::hash::HashMap;

use super::process;
use crate::model::{Listener, Process, Scope, Socket};
use crate::port::{AddressPattern, PortRange, Protocol};

/// What to show. Socket-level filters are applied before owners are looked up.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub tcp: bool,
    pub udp: bool,
    /// UDP-Lite (RFC 3828): a protocol of its own, not included in `udp`.
    pub udplite: bool,
    pub ipv4: bool,
    pub ipv6: bool,
    /// Also TCP sockets that are not listening (established, time-wait...).
    pub all_states: bool,
    pub ports: Option<Vec<PortRange>>,
    pub pid: Option<u32>,
    /// Case-insensitive substring of the process name.
    pub process: Option<String>,
    /// User name or uid of the owning process (or of the socket, when hidden).
    pub user: Option<String>,
    /// Only sockets that are not loopback-only.
    pub exposed: bool,
    /// Only sockets at this pasted address (`0.0.0.0:22`, `[::1]:8080`).
    pub address: Option<AddressPattern>,
    /// Sockets on `ports` and also, whatever their port, those held by a process with
    /// exactly this name (`whoport nginx`); alone, only those.
    pub program: Option<String>,
}

/// The most ports a listing asks the kernel for alone: its filter runs once per socket of
/// the machine, a few operations per port.
pub const MAX_ASKED_PORTS: usize = 16;

impl Filter {
    /// TCP, UDP and UDP-Lite, IPv4 and IPv6, listeners only, no other restriction.
    pub fn everything() -> Filter {
        Filter {
            tcp: true,
            udp: true,
            udplite: true,
            ipv4: true,
            ipv6: true,
            ..Filter::default()
        }
    }

    /// The only local ports whose sockets this filter may keep, when they are few enough to
    /// ask the kernel for them alone (at most [`MAX_ASKED_PORTS`]); empty when every port
    /// may be wanted (no ports, a wide range, or a program's sockets on any port).
    pub(super) fn asked_ports(&self) -> Vec<u16> {
        let Some(ranges) = self.ports.as_ref().filter(|_| self.program.is_none()) else {
            return Vec::new();
        };
        let count: usize = ranges
            .iter()
            .map(|r| usize::from(r.end.saturating_sub(r.start)) + 1)
            .sum();
        if ranges.is_empty() || count > MAX_ASKED_PORTS {
            return Vec::new();
        }
        let mut ports: Vec<u16> = ranges.iter().flat_map(|r| r.start..=r.end).collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    pub(super) fn wants_socket(&self, s: &Socket) -> bool {
        (self.all_states || s.is_listener())
            && (self.program.is_some() || self.wants_port(s.port))
            && (!self.exposed || Scope::on_this_machine(s).is_exposed())
    }

    /// Would this filter keep this listener (socket-level and owner-level criteria)?
    pub fn keeps(&self, l: &Listener, processes: &HashMap<u32, Process>) -> bool {
        let family = match l.socket.address {
            std::net::IpAddr::V4(_) => self.ipv4,
            std::net::IpAddr::V6(_) => self.ipv6,
        };
        let protocol = match l.socket.protocol {
            Protocol::Tcp => self.tcp,
            Protocol::Udp => self.udp,
            Protocol::Udplite => self.udplite,
            Protocol::Sctp | Protocol::Dccp => false,
        };
        family && protocol && self.wants_socket(&l.socket) && self.wants_listener(l, processes)
    }

    /// This filter without the criteria about the owner (program, `--pid`, `--process`) and
    /// without ports: what can be judged of a socket whose owner is unknown (`--user` is
    /// then the socket's user).
    pub(crate) fn about_the_socket(&self) -> Filter {
        Filter {
            program: None,
            ports: None,
            pid: None,
            process: None,
            ..self.clone()
        }
    }

    pub(super) fn wants_port(&self, port: u16) -> bool {
        self.ports
            .as_ref()
            .is_none_or(|ranges| ranges.iter().any(|r| r.contains(port)))
    }

    pub(super) fn wants_listener(&self, l: &Listener, processes: &HashMap<u32, Process>) -> bool {
        let owners = || l.owners.iter().filter_map(|p| processes.get(p));
        if let Some(program) = &self.program {
            let on_port = self.ports.is_some() && self.wants_port(l.socket.port);
            if !on_port && !owners().any(|p| is_program(p, program)) {
                return false;
            }
        }
        if let Some(address) = &self.address {
            if !address.matches(l) {
                return false;
            }
        }
        if let Some(pid) = self.pid {
            if !l.owners.contains(&pid) {
                return false;
            }
        }
        if let Some(name) = &self.process {
            let name = name.to_lowercase();
            // (A name not read is no name: `[/proc/N covered by a mount]` is not `mount`'s.)
            let named = |p: &&Process| !p.name_unknown;
            if !owners()
                .filter(named)
                .any(|p| p.name.to_lowercase().contains(&name))
            {
                return false;
            }
        }
        if let Some(user) = &self.user {
            let typed = process::uid_typed(user).flatten();
            // A name is its uid (looked up once): `toor`, a second name for uid 0, is root.
            let thread_uid = || typed.or_else(|| process::uid_of_name(user));
            // Digits are a uid, never a name (a user named `0` is not `--user 0`).
            let by_name = process::uid_typed(user).is_none();
            let matches = |name: Option<&String>, uid: Option<u32>| {
                (by_name && name.is_some_and(|n| n == user))
                    || (uid.is_some() && uid == thread_uid())
            };
            // A thread other than the main one acting as that user (credentials are per
            // thread) is that user's process too: root's thread in a process whose main
            // thread is nobody's. (Capabilities are no user: `root-exposed` says those.)
            let by_thread = |p: &crate::model::Process| {
                !p.credentials.thread_uids.is_empty()
                    && thread_uid().is_some_and(|u| p.credentials.thread_uids.contains(&u))
            };
            // Where no owner's user is known (none seen, or their details hidden: hidepid),
            // the socket's own user is what is known of whose it is.
            let hit = owners().any(|p| matches(p.user.as_ref(), p.uid) || by_thread(p))
                || (!owners().any(|p| p.uid.is_some()) && matches(l.user.as_ref(), l.socket.uid));
            if !hit {
                return false;
            }
        }
        true
    }
}

impl Filter {
    /// With `--user`, a note naming the processes whose listeners it leaves out although their
    /// user, or some of their threads' credentials, were not read (beyond the threads whoport
    /// reads, or covered by a mount): one of those threads may act as that user.
    pub(super) fn user_unsure(
        &self,
        listeners: &[Listener],
        processes: &HashMap<u32, Process>,
    ) -> Option<String> {
        let user = self.user.as_ref()?;
        let others = Filter {
            user: None,
            ..self.clone()
        };
        let mut unsure: Vec<&Process> = listeners
            .iter()
            .filter(|l| !self.wants_listener(l, processes) && others.wants_listener(l, processes))
            .flat_map(|l| l.owners.iter().filter_map(|pid| processes.get(pid)))
            .filter(|p| {
                p.uid.is_none()
                    || p.credentials.threads_cut.is_some()
                    || p.credentials.covered.is_some()
            })
            .collect();
        unsure.sort_unstable_by_key(|p| p.pid);
        unsure.dedup_by_key(|p| p.pid);
        if unsure.is_empty() {
            return None;
        }
        let named: Vec<String> = unsure
            .iter()
            .map(|p| {
                let why = match (&p.credentials.covered, p.credentials.threads_cut) {
                    _ if p.uid.is_none() => "its user was not read".to_string(),
                    (Some(path), _) => format!("something is mounted over {path}"),
                    (None, Some(read)) => format!("only {read} of its other threads were read"),
                    (None, None) => String::new(),
                };
                format!("pid {} ({}): {why}", p.pid, p.name)
            })
            .collect();
        Some(format!(
            "--user {} may leave out listeners of processes whose threads' credentials were not \
             all read, one of which may act as that user: {}",
            user,
            named.join("; ")
        ))
    }
}

/// Is this process the program `name` (case ignored)? Its full name, its executable's file
/// name or `argv[0]`'s; or the kernel's name for it (`comm`, cut at 15 bytes:
/// `my-very-long-da` for `my-very-long-daemon`); or, when the kernel's name is such a cut,
/// a longer name that begins with it and is the file name of one of the first two arguments
/// (a script: `python3 /usr/sbin/my-very-long-daemon`). Whole names only: `nginx` is not
/// `nginx-exporter`.
pub fn is_program(p: &Process, name: &str) -> bool {
    if p.name_unknown {
        return false;
    }
    let base = |path: &str| path.rsplit('/').next().unwrap_or(path).to_string();
    let same = |other: &str| other.eq_ignore_ascii_case(name);
    if same(&p.name)
        || p.exe.as_deref().map(base).is_some_and(|b| same(&b))
        || p.cmdline.first().map(|a| base(a)).is_some_and(|b| same(&b))
    {
        return true;
    }
    // The kernel cuts its name at TASK_COMM_LEN - 1 bytes: a longer full name begins with it.
    const COMM: usize = 15;
    let (full, asked) = (p.name.as_bytes(), name.as_bytes());
    if asked.len() == COMM && full.len() > COMM && full[..COMM].eq_ignore_ascii_case(asked) {
        return true;
    }
    full.len() == COMM
        && asked.len() > COMM
        && asked[..COMM].eq_ignore_ascii_case(full)
        && p.cmdline.iter().take(2).any(|a| same(&base(a)))
}
