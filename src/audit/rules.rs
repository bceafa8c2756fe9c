//! The audit rules: one function per finding id, each judging one listener group (the
//! sockets of one service: same port, protocol and owners) at once.

use crate::audit::classify::{self, Class, Exposure, Facts};
use crate::audit::design;
use crate::audit::group::{endpoints, who};
use crate::audit::{Finding, Severity};
use crate::model::{Hidden, Listener, Process, Scope, Snapshot};
use crate::port::{EphemeralRange, ReservedPorts};
use crate::registry::iana::Status;
use crate::registry::{unofficial, Knowledge};
use crate::render::sanitize::sanitize;

/// Shells, interpreters and network tools (normalised names): listening on a network, they
/// are a classic bind shell or an accidental file server.
pub const SHELLS: &[&str] = &[
    "nc",
    "ncat",
    "netcat",
    "nc.openbsd",
    "nc.traditional",
    "socat",
    "bash",
    "sh",
    "dash",
    "zsh",
    "ksh",
    "mksh",
    "csh",
    "tcsh",
    "fish",
    "busybox",
    "python",
    "perl",
    "ruby",
    "php",
    "lua",
    "luajit",
    "tclsh",
    "wish",
    "awk",
    "gawk",
    "mawk",
    "pwsh",
    "telnetd",
];

/// Everything a rule may look at for one listener group.
pub struct Ctx<'a> {
    /// Indexes of the group's listeners in the snapshot (IPv4 first).
    pub members: Vec<usize>,
    pub listeners: Vec<&'a Listener>,
    pub owners: Vec<&'a Process>,
    pub facts: Facts<'a>,
    pub status: Status,
    pub has_unofficial: bool,
    pub ephemeral: EphemeralRange,
    pub reserved: &'a ReservedPorts,
    pub root: bool,
}

impl Ctx<'_> {
    fn first(&self) -> &Listener {
        self.listeners[0]
    }

    /// The members reachable from other machines.
    fn exposed_members(&self) -> Vec<usize> {
        self.members
            .iter()
            .zip(&self.listeners)
            .filter(|(_, l)| l.scope.is_exposed())
            .map(|(&i, _)| i)
            .collect()
    }

    fn finding(
        &self,
        id: &'static str,
        severity: Severity,
        members: Vec<usize>,
        message: String,
        hint: String,
    ) -> Finding {
        Finding {
            id,
            severity,
            listeners: members,
            gone: None,
            message,
            hint,
            reasons: Vec::new(),
            design: None,
        }
    }

    /// "tcp 0.0.0.0:8080 and [::]:8080" for these members.
    fn sockets(&self, members: &[usize]) -> String {
        let wanted: std::collections::HashSet<&usize> = members.iter().collect();
        let ls: Vec<&Listener> = self
            .members
            .iter()
            .zip(&self.listeners)
            .filter(|(i, _)| wanted.contains(i))
            .map(|(_, l)| *l)
            .collect();
        format!("{} {}", self.first().socket.protocol, endpoints(&ls))
    }

    fn who(&self) -> String {
        who(&self.owners)
    }

    /// "on all interfaces, IPv4 and IPv6" and the like, for these (exposed) members, in the
    /// words of the listing's reach.
    fn where_text(&self, members: &[usize]) -> String {
        use crate::address::Reach;
        let wanted: std::collections::HashSet<&usize> = members.iter().collect();
        let reaches: Vec<Reach> = self
            .members
            .iter()
            .zip(&self.listeners)
            .filter(|(i, l)| wanted.contains(i) && l.scope == Scope::All)
            .map(|(_, l)| l.reach())
            .collect();
        let v4 = reaches.contains(&Reach::AllIpv4);
        let v6 = reaches.iter().any(|r| {
            matches!(
                r,
                Reach::AllIpv6Only | Reach::AllIpv6Unknown | Reach::AllDualStack
            )
        });
        match reaches.first() {
            None => "on a non-loopback address".to_string(),
            Some(_) if v4 && v6 => format!("on {}", Reach::AllDualStack.long()),
            Some(r) => format!("on {}", r.long()),
        }
    }
}

fn owners_text(owners: &[&Process]) -> String {
    who(owners)
}

/// Normalised names of the owners: their names and executables' base names.
fn process_names(owners: &[&Process]) -> Vec<String> {
    let mut names: Vec<String> = owners
        .iter()
        .flat_map(|p| {
            let exe = p
                .exe
                .as_deref()
                .map(|e| e.rsplit('/').next().unwrap_or(e).to_string());
            std::iter::once(p.name.clone()).chain(exe)
        })
        .map(|n| classify::normalise(&n))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The context of one group (`members`: indexes into the snapshot's listeners, non-empty).
pub fn context<'a>(members: &[usize], snap: &'a Snapshot, k: &'a Knowledge) -> Ctx<'a> {
    let listeners: Vec<&Listener> = members.iter().map(|&i| &snap.listeners[i]).collect();
    let first = listeners[0];
    let owners: Vec<&Process> = first
        .owners
        .iter()
        .filter_map(|p| snap.processes.get(p))
        .collect();
    let (port, protocol) = (first.socket.port, first.socket.protocol);
    let registry = k.iana.status(port, protocol);
    let uses = unofficial::for_port(port, Some(protocol));
    Ctx {
        members: members.to_vec(),
        listeners,
        facts: Facts {
            port,
            protocol: Some(protocol),
            iana: registry
                .services
                .iter()
                .map(|e| e.name().into_owned())
                .collect(),
            unofficial: uses.iter().map(|u| u.program).collect(),
            processes: process_names(&owners),
        },
        owners,
        status: registry.status,
        has_unofficial: !uses.is_empty(),
        ephemeral: k.ephemeral,
        reserved: &k.reserved,
        root: snap.root,
    }
}

/// All rules for one listener group. Facing the network is one concern, so after
/// suppressions [`fold`] makes one finding of `shell-listener`, `exposed-all-interfaces` and
/// `root-exposed`.
pub fn check(members: &[usize], snap: &Snapshot, k: &Knowledge) -> Vec<Finding> {
    if members.is_empty() {
        return Vec::new();
    }
    let ctx = context(members, snap, k);
    [
        shell_listener(&ctx),
        exposed_all_interfaces(&ctx),
        root_exposed(&ctx),
        unassigned_port(&ctx),
        service_mismatch(&ctx),
        ephemeral_range(&ctx),
        deleted_executable(&ctx),
        restart_pending(&ctx),
        hidden_owner(&ctx),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The ids of the exposure concern, the more specific first.
pub const EXPOSURE: [&str; 3] = ["shell-listener", "exposed-all-interfaces", "root-exposed"];

/// One finding per concern per group: of the exposure findings about the same listeners,
/// the most severe (on a tie, the more specific) stays and the others become its reasons.
pub fn fold(mut findings: Vec<Finding>) -> Vec<Finding> {
    // In place: a finding folded into an earlier one is marked and dropped at the end, so the
    // list is never copied.
    let rank = |id: &str| EXPOSURE.iter().position(|e| *e == id);
    let mut folded = vec![false; findings.len()];
    for at in 0..findings.len() {
        let Some(r) = rank(findings[at].id) else {
            continue;
        };
        let same = (0..at).find(|&i| {
            let (o, f) = (&findings[i], &findings[at]);
            !folded[i]
                && rank(o.id).is_some()
                && o.listeners == f.listeners
                && !f.listeners.is_empty()
        });
        let Some(i) = same else {
            continue;
        };
        let f = std::mem::replace(&mut findings[at], dummy());
        folded[at] = true;
        let o = &mut findings[i];
        let design = o.design.take().or(f.design.clone());
        let f_wins = (f.severity, std::cmp::Reverse(r))
            > (o.severity, std::cmp::Reverse(rank(o.id).unwrap_or(0)));
        let (mut main, other) = if f_wins {
            (f, std::mem::replace(o, dummy()))
        } else {
            (std::mem::replace(o, dummy()), f)
        };
        main.reasons
            .push(format!("{}: {}", other.id, other.message));
        main.reasons.extend(other.reasons);
        main.design = design;
        findings[i] = main;
    }
    let mut gone = folded.into_iter();
    findings.retain(|_| !gone.next().unwrap_or(false));
    findings
}

fn dummy() -> Finding {
    Finding {
        id: "",
        severity: Severity::Info,
        listeners: Vec::new(),
        gone: None,
        message: String::new(),
        hint: String::new(),
        reasons: Vec::new(),
        design: None,
    }
}

/// `exposed-all-interfaces`: reachable from other machines.
pub fn exposed_all_interfaces(c: &Ctx<'_>) -> Option<Finding> {
    let members = c.exposed_members();
    if members.is_empty() {
        return None;
    }
    // The program recognised on its own port is the most specific evidence there is.
    let class = c
        .first()
        .known_use
        .and_then(|u| classify::by_key(u.program, c.facts.port, c.first().socket.protocol))
        .or_else(|| classify::classify(&c.facts));
    let (severity, mut what, hint) = exposure_terms(class);
    // Say so when nothing but the port says what it is.
    if class.is_some_and(|cl| {
        classify::by_port_alone(&c.facts) == Some(cl) && !cl.implemented_by(&c.facts.processes)
    }) {
        what = what.replacen(
            ", and it looks like",
            ", and by its port alone it looks like",
            1,
        );
    }
    let mut f = c.finding(
        "exposed-all-interfaces",
        severity,
        members.clone(),
        format!(
            "{} of {} is reachable {}{what}",
            c.sockets(&members),
            c.who(),
            c.where_text(&members)
        ),
        hint,
    );
    // Running as root here is a standard design: say why it is not root-exposed.
    f.design = design::standard_design(&c.owners);
    Some(f)
}

/// "a database", "an rsync daemon", "an in-memory data grid", "an SMTP relay": the article
/// follows the sound, and names spelled letter by letter start with a vowel sound.
fn a(kind: &str) -> String {
    const SPELLED: &[&str] = &[
        "rsync", "ssh", "sftp", "smb", "smtp", "snmp", "ftp", "http", "https", "ldap", "mqtt",
        "nfs", "rpc", "x11", "xmpp",
    ];
    let first = kind.split([' ', '-']).next().unwrap_or("");
    let vowel = kind
        .chars()
        .next()
        .is_some_and(|c| "aeiouAEIOU".contains(c))
        || SPELLED.iter().any(|w| first.eq_ignore_ascii_case(w));
    format!("{} {kind}", if vowel { "an" } else { "a" })
}

fn exposure_terms(class: Option<&Class>) -> (Severity, String, String) {
    match class {
        Some(cl) if cl.exposure == Exposure::Sensitive => (
            Severity::High,
            format!(", and it looks like {} ({})", a(cl.kind), cl.key),
            format!(
                "{} should not face a network unprotected: bind it to 127.0.0.1 (or a private \
                 address behind a firewall) and require authentication",
                a(cl.kind)
            ),
        ),
        Some(cl) if cl.exposure == Exposure::Restricted => (
            Severity::Medium,
            format!(", and it looks like {} ({})", a(cl.kind), cl.key),
            cl.fix.unwrap_or_default().to_string(),
        ),
        Some(cl) => (
            Severity::Info,
            format!(", as {} ({}) is meant to be", a(cl.kind), cl.key),
            "meant to face the network: check that it is the service you expect and kept up to date"
                .to_string(),
        ),
        None => (
            Severity::Medium,
            String::new(),
            "if only this machine uses it, bind it to 127.0.0.1; otherwise restrict it with a firewall"
                .to_string(),
        ),
    }
}

/// `unassigned-port`: IANA has no tenant and no program is known to use it.
pub fn unassigned_port(c: &Ctx<'_>) -> Option<Finding> {
    if !matches!(c.status, Status::Unassigned | Status::Dynamic) || c.has_unofficial {
        return None;
    }
    let s = &c.first().socket;
    let what = match c.status {
        Status::Dynamic => "is in the dynamic range, where IANA assigns nothing,",
        _ => "is unassigned in the IANA registry",
    };
    Some(c.finding(
        "unassigned-port",
        Severity::Low,
        c.members.clone(),
        format!(
            "{}/{} {what} and no program is known to use it; {} chose it",
            s.port,
            s.protocol,
            c.who()
        ),
        format!(
            "find out why {} {} here: whoport {}",
            c.who(),
            if c.owners.len() > 1 {
                "listen"
            } else {
                "listens"
            },
            s.port
        ),
    ))
}

/// `service-mismatch`: the port is registered for a service the process does not implement.
pub fn service_mismatch(c: &Ctx<'_>) -> Option<Finding> {
    // A known program on a port it is known to use is no mismatch (grafana on 3000, hbci).
    if c.first().known_use.is_some() {
        return None;
    }
    let class = classify::mismatch(&c.facts)?;
    let s = &c.first().socket;
    Some(
        c.finding(
            "service-mismatch",
            Severity::Medium,
            c.members.clone(),
            format!(
                "{}/{} is registered for {} ({}), but {} is not a known implementation ({})",
                s.port,
                s.protocol,
                class.key,
                class.kind,
                c.who(),
                class.implementations.join(", ")
            ),
            "check that this program is meant to hold the port; if it is a legitimate \
         implementation, suppress the finding for it"
                .to_string(),
        ),
    )
}

/// `ephemeral-range`: outgoing connections may take this port.
pub fn ephemeral_range(c: &Ctx<'_>) -> Option<Finding> {
    let port = c.first().socket.port;
    // A reserved port is never handed out to outgoing connections: nothing to collide with.
    if !c.ephemeral.contains(port) || c.reserved.contains(port) {
        return None;
    }
    let e = c.ephemeral;
    Some(c.finding(
        "ephemeral-range",
        Severity::Low,
        c.members.clone(),
        format!(
            "{}/{} is inside this machine's ephemeral range {}-{}, where outgoing connections \
             take their local ports: the listener can collide with them",
            port,
            c.first().socket.protocol,
            e.start,
            e.end
        ),
        format!(
            "move it out of {}-{}, or reserve it (keeping what is reserved): sysctl -w \
             net.ipv4.ip_local_reserved_ports={}",
            e.start,
            e.end,
            c.reserved.with(port)
        ),
    ))
}

/// `deleted-executable`: a process runs a file that is gone from its path, or no file at all.
pub fn deleted_executable(c: &Ctx<'_>) -> Option<Finding> {
    let gone: Vec<&Process> = c
        .owners
        .iter()
        .copied()
        .filter(|p| p.exe_state.memory_only || (p.exe_state.deleted && !p.exe_state.replaced))
        .collect();
    let p = gone.first()?;
    let exe = sanitize(p.display_exe().unwrap_or("?")).into_owned();
    let how = if p.exe_state.memory_only {
        "runs from memory, with no file at all".to_string()
    } else {
        format!("runs an executable that was deleted since it started ({exe}), and nothing stands at its path now")
    };
    let keep: Vec<String> = gone
        .iter()
        .map(|p| format!("cp /proc/{}/exe /root/pid-{}.exe", p.pid, p.pid))
        .collect();
    Some(c.finding(
        "deleted-executable",
        Severity::High,
        c.members.clone(),
        format!(
            "{} holding {} {how}: an uninstalled program still running, or malware hiding its binary",
            owners_text(&gone),
            c.sockets(&c.members)
        ),
        format!(
            "investigate what it is before stopping it, and keep a copy first: {}",
            keep.join("; ")
        ),
    ))
}

/// `restart-pending`: the executable's path holds a different file now (a package upgrade
/// replaced it): the processes still run the old one.
pub fn restart_pending(c: &Ctx<'_>) -> Option<Finding> {
    let old: Vec<&Process> = c
        .owners
        .iter()
        .copied()
        .filter(|p| p.exe_state.replaced && !p.exe_state.memory_only)
        .collect();
    let p = old.first()?;
    let exe = sanitize(p.display_exe().unwrap_or("?")).into_owned();
    let units: Vec<String> = old
        .iter()
        .filter_map(|p| p.unit.as_deref())
        .map(|u| sanitize(u).into_owned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let how = if units.is_empty() {
        String::new()
    } else {
        format!(": systemctl restart {}", units.join(" "))
    };
    Some(c.finding(
        "restart-pending",
        Severity::Low,
        c.members.clone(),
        format!(
            "{} holding {} still {} the old {exe}: a different file stands at that path now \
             (a package upgrade?)",
            owners_text(&old),
            c.sockets(&c.members),
            if old.len() == 1 { "runs" } else { "run" }
        ),
        format!("restart the service to run the new binary{how}"),
    ))
}

/// `root-exposed`: a root process reachable from other machines, that serves on its own
/// (not a standard design: privilege separation, or a master with unprivileged workers).
pub fn root_exposed(c: &Ctx<'_>) -> Option<Finding> {
    let members = c.exposed_members();
    if members.is_empty() {
        return None;
    }
    let roots: Vec<&Process> = c
        .owners
        .iter()
        .copied()
        .filter(|p| p.uid == Some(0))
        .collect();
    if roots.is_empty() || design::standard_design(&c.owners).is_some() {
        return None;
    }
    Some(
        c.finding(
            "root-exposed",
            Severity::Medium,
            members.clone(),
            format!(
                "{} of {} is served as root {}, with no unprivileged worker",
                c.sockets(&members),
                owners_text(&roots),
                c.where_text(&members)
            ),
            "drop privileges after binding: a dedicated user (systemd User=), or \
         CAP_NET_BIND_SERVICE for ports below 1024"
                .to_string(),
        ),
    )
}

/// `shell-listener`: a shell, interpreter or network tool facing the network.
pub fn shell_listener(c: &Ctx<'_>) -> Option<Finding> {
    let members = c.exposed_members();
    if members.is_empty() {
        return None;
    }
    let shell = c
        .facts
        .processes
        .iter()
        .find(|n| SHELLS.contains(&n.as_str()))?;
    Some(c.finding(
        "shell-listener",
        Severity::High,
        members.clone(),
        format!(
            "{} of {} listens {}, and {shell} is a shell, interpreter or network tool: a \
             classic bind shell, or an accidental file server",
            c.sockets(&members),
            c.who(),
            c.where_text(&members)
        ),
        "stop it unless you started it on purpose; if you did, bind it to 127.0.0.1".to_string(),
    ))
}

/// `hidden-owner`: no process could be seen for the sockets.
pub fn hidden_owner(c: &Ctx<'_>) -> Option<Finding> {
    let l = c.first();
    if !l.owners.is_empty() {
        return None;
    }
    let reason = l
        .hidden_reason
        .as_ref()
        .map_or_else(|| "not visible".to_string(), Hidden::long);
    let (severity, hint) = if let Some(Hidden::InTransit { receivers, .. }) = &l.hidden_reason {
        (
            if c.root {
                Severity::Medium
            } else {
                Severity::Info
            },
            match receivers.first() {
                Some((pid, _)) => format!(
                    "the process holding the receiving end, pid {pid}, has not read the \
                     message yet: see what it is (ps -fp {pid})"
                ),
                None => "no process holds the unix socket it waits in: run whoport again; if \
                         it stays, the kernel frees it with that socket"
                    .to_string(),
            },
        )
    } else if let Some(Hidden::Late(_)) = &l.hidden_reason {
        // Not looked up in time says nothing about the socket: no finding beyond a mention.
        (
            Severity::Info,
            "its owner was not looked up in time: run again, with a longer --timeout".to_string(),
        )
    } else if c.root {
        // The fix follows the reason whoport established, never a guess from a list.
        let hint = match &l.hidden_reason {
            Some(Hidden::OtherPidNamespace) => {
                "it is held in another PID namespace (a container?): run whoport inside it, or \
                 nsenter -t CONTAINER_PID -p -m whoport"
                    .to_string()
            }
            Some(Hidden::Unreadable { pids, .. }) => {
                let named: Vec<String> = pids.iter().map(u32::to_string).collect();
                format!(
                    "root could not read the descriptors of PID {}: see what keeps them \
                     closed (a security module, a sandbox, or whoport running in a user \
                     namespace), or run whoport where it can read them",
                    named.join(", ")
                )
            }
            Some(Hidden::NotVisibleToRoot) => {
                "no process holds it: a message in transit, or the kernel's own socket (nfsd, \
                 WireGuard, ...): run whoport again; if it stays, see which kernel service \
                 uses the port"
                    .to_string()
            }
            Some(Hidden::MaybeIoUring { rings, .. }) => {
                let named: Vec<String> = rings.iter().map(|r| r.0.to_string()).collect();
                format!(
                    "it may be held inside an io_uring instance of PID {}: see what it is (ps \
                     -fp {}), and run whoport as root where it may look into io_uring (BPF)",
                    named.join(", "),
                    named.first().map_or("PID", String::as_str)
                )
            }
            _ => "find out what holds it: run whoport again, with ss -tlnp for comparison"
                .to_string(),
        };
        (Severity::Medium, hint)
    } else {
        (
            Severity::Info,
            "run as root (sudo whoport audit) to see its process".to_string(),
        )
    };
    let owner = l
        .user
        .clone()
        .or_else(|| l.socket.uid.map(|u| format!("uid {u}")))
        .unwrap_or_else(|| "an unknown user".to_string());
    Some(c.finding(
        "hidden-owner",
        severity,
        c.members.clone(),
        format!(
            "{} belongs to {}, but its process cannot be seen: {reason}",
            c.sockets(&c.members),
            sanitize(&owner)
        ),
        hint,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ExeState, Socket};
    use crate::port::Protocol;

    fn process(pid: u32, name: &str, uid: u32) -> Process {
        Process {
            pid,
            name: name.to_string(),
            exe: Some(format!("/usr/bin/{name}")),
            uid: Some(uid),
            user: Some(if uid == 0 {
                "root".into()
            } else {
                "app".into()
            }),
            ..Process::default()
        }
    }

    fn snapshot(addr: &str, port: u16, procs: Vec<Process>, root: bool) -> Snapshot {
        let address = addr.parse().expect("ip");
        let listener = Listener {
            socket: Socket {
                protocol: Protocol::Tcp,
                address,
                port,
                state: Some("listen"),
                remote: None,
                inode: 1,
                uid: Some(0),
                ifindex: 0,
                device_reported: true,
                v6only: None,
            },
            scope: Scope::of(address),
            device: None,
            user: Some("root".into()),
            owners: procs.iter().map(|p| p.pid).collect(),
            hidden_reason: procs.is_empty().then_some(Hidden::NotRoot),
            held_through: None,
            v6only: None,
            known_use: None,
        };
        Snapshot {
            listeners: vec![listener],
            processes: procs.into_iter().map(|p| (p.pid, p)).collect(),
            root,
            ..Snapshot::default()
        }
    }

    fn knowledge() -> Knowledge {
        let mut warnings = Vec::new();
        let mut k = Knowledge::load(None, &mut warnings).expect("loads");
        // The embedded registry, whatever this user has installed.
        k.iana = crate::registry::iana::IanaTable::embedded();
        k.ephemeral = EphemeralRange {
            start: 32768,
            end: 60999,
            source: "test",
        };
        k
    }

    fn full(snap: &Snapshot) -> Vec<Finding> {
        let k = knowledge();
        fold(crate::audit::audit(
            snap,
            &k,
            None,
            &crate::collect::Filter::default(),
        ))
    }

    /// Adds a listener like the first one at another address.
    fn also_at(mut snap: Snapshot, addr: &str) -> Snapshot {
        let mut l = snap.listeners[0].clone();
        l.socket.address = addr.parse().expect("ip");
        l.scope = Scope::of(l.socket.address);
        snap.listeners.push(l);
        snap
    }

    #[test]
    fn one_finding_per_concern_per_group() {
        // The IPv4 and IPv6 sockets of one redis: exactly one high finding, naming both.
        let redis = also_at(
            snapshot(
                "0.0.0.0",
                6379,
                vec![process(10, "redis-server", 101)],
                true,
            ),
            "::",
        );
        let f = full(&redis);
        let serious: Vec<&Finding> = f
            .iter()
            .filter(|x| x.severity >= Severity::Medium)
            .collect();
        assert_eq!(serious.len(), 1, "{f:?}");
        assert_eq!(serious[0].severity, Severity::High);
        assert_eq!(serious[0].listeners, vec![0, 1]);
        assert!(
            serious[0].message.contains("0.0.0.0:6379 and [::]:6379"),
            "{}",
            serious[0].message
        );
        // A python http.server as root on both families: one finding with its reasons.
        let mut py = process(11, "python3", 0);
        py.exe = Some("/usr/bin/python3.11".into());
        let http = also_at(snapshot("0.0.0.0", 8000, vec![py], true), "::");
        let f = full(&http);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].id, "shell-listener");
        assert_eq!(f[0].reasons.len(), 2, "{:?}", f[0].reasons);
        // Different owners are different groups.
        let mut two = snapshot(
            "0.0.0.0",
            6379,
            vec![process(10, "redis-server", 101)],
            true,
        );
        let mut other = two.listeners[0].clone();
        other.owners = vec![12];
        other.socket.address = "::".parse().expect("ip");
        two.listeners.push(other);
        two.processes.insert(12, process(12, "redis-server", 101));
        assert_eq!(
            full(&two)
                .iter()
                .filter(|x| x.severity == Severity::High)
                .count(),
            2
        );
    }

    #[test]
    fn standard_designs_are_not_root_exposed() {
        let mut sshd = process(700, "sshd", 0);
        sshd.exe = Some("/usr/sbin/sshd".into());
        let f = full(&also_at(snapshot("0.0.0.0", 22, vec![sshd], true), "::"));
        assert!(f.iter().all(|x| x.severity < Severity::Medium), "{f:?}");
        let exposed = f
            .iter()
            .find(|x| x.id == "exposed-all-interfaces")
            .expect("info");
        assert!(exposed
            .design
            .as_deref()
            .is_some_and(|d| d.contains("privilege separation")));
        let master = process(812, "nginx", 0);
        let mut worker = process(813, "nginx", 33);
        worker.parent_pid = Some(812);
        let f = full(&snapshot("0.0.0.0", 80, vec![master.clone(), worker], true));
        assert!(f.iter().all(|x| x.severity < Severity::Medium), "{f:?}");
        assert!(
            f[0].message
                .contains("pid 812 master as root; 813 worker as app"),
            "{}",
            f[0].message
        );
        // Without workers, the root master serves itself.
        let f = findings(&snapshot("0.0.0.0", 80, vec![master], true));
        assert!(f.contains(&("root-exposed", Severity::Medium)), "{f:?}");
    }

    #[test]
    fn rsync_and_dns_on_all_interfaces_are_medium_with_their_fix() {
        let mut rsync = process(20, "rsync", 0);
        rsync.cmdline = vec!["rsync".into(), "--daemon".into()];
        let f = full(&snapshot("0.0.0.0", 873, vec![rsync], true));
        let e = f
            .iter()
            .find(|x| x.severity == Severity::Medium)
            .expect("medium");
        assert!(e.hint.contains("hosts allow"), "{}", e.hint);
        assert!(e.message.contains("an rsync daemon"), "{}", e.message);
        let mut dns = snapshot("0.0.0.0", 53, vec![process(21, "dnsmasq", 65534)], true);
        dns.listeners[0].socket.protocol = Protocol::Udp;
        dns.listeners[0].socket.state = None;
        let f = full(&dns);
        let e = f
            .iter()
            .find(|x| x.id == "exposed-all-interfaces")
            .expect("finding");
        assert_eq!(e.severity, Severity::Medium);
        assert!(e.hint.contains("open resolver") && e.hint.contains("allow-recursion"));
        // On loopback: nothing.
        let local = snapshot("127.0.0.1", 53, vec![process(22, "dnsmasq", 65534)], true);
        assert!(full(&local).iter().all(|x| x.severity < Severity::Medium));
    }

    #[test]
    fn the_fix_of_an_unassigned_port_agrees_with_its_owners() {
        let one = full(&snapshot(
            "127.0.0.1",
            41999,
            vec![process(30, "app", 1000)],
            true,
        ));
        let f = one
            .iter()
            .find(|x| x.id == "unassigned-port")
            .expect("finding");
        assert!(f.hint.contains(") listens here"), "{}", f.hint);
        let two = vec![process(31, "master", 0), process(32, "smtpd", 1000)];
        let many = full(&snapshot("127.0.0.1", 41999, two, true));
        let f = many
            .iter()
            .find(|x| x.id == "unassigned-port")
            .expect("finding");
        assert!(f.hint.contains(") listen here"), "{}", f.hint);
    }

    #[test]
    fn the_fix_for_a_hidden_owner_follows_its_established_reason() {
        let hint = |reason: Hidden| {
            let mut snap = snapshot("0.0.0.0", 41999, vec![], true);
            snap.listeners[0].hidden_reason = Some(reason);
            full(&snap)
                .into_iter()
                .find(|f| f.id == "hidden-owner")
                .expect("hidden-owner")
                .hint
        };
        let unreadable = hint(Hidden::Unreadable {
            pids: vec![1],
            count: 1,
            why: "a sandbox".into(),
        });
        assert!(unreadable.contains("PID 1"), "{unreadable}");
        assert!(!unreadable.contains("PID namespace"), "{unreadable}");
        assert!(hint(Hidden::OtherPidNamespace).contains("PID namespace"));
        let ring = hint(Hidden::MaybeIoUring {
            rings: vec![(42, "hold".into(), "has an io_uring".into())],
            why: None,
            otherwise: Box::new(Hidden::NotVisibleToRoot),
        });
        assert!(
            ring.contains("PID 42") && ring.contains("io_uring"),
            "{ring}"
        );
        let nobody = hint(Hidden::NotVisibleToRoot);
        assert!(
            nobody.contains("kernel") && !nobody.contains("container"),
            "{nobody}"
        );
    }

    #[test]
    fn articles_follow_the_sound() {
        assert_eq!(a("rsync daemon"), "an rsync daemon");
        assert_eq!(a("SMTP relay"), "an SMTP relay");
        assert_eq!(a("in-memory data grid"), "an in-memory data grid");
        assert_eq!(a("DNS server"), "a DNS server");
        assert_eq!(a("database"), "a database");
    }

    fn findings(snap: &Snapshot) -> Vec<(&'static str, Severity)> {
        let k = knowledge();
        let members: Vec<usize> = (0..snap.listeners.len()).collect();
        let mut f: Vec<_> = fold(check(&members, snap, &k))
            .into_iter()
            .map(|f| (f.id, f.severity))
            .collect();
        for (id, _) in &f {
            assert!(crate::audit::IDS.contains(id), "'{id}' is not in IDS");
        }
        f.sort();
        f
    }

    #[test]
    fn exposure_severity_follows_what_the_service_is() {
        let db = snapshot("0.0.0.0", 5432, vec![process(10, "postgres", 70)], true);
        assert!(findings(&db).contains(&("exposed-all-interfaces", Severity::High)));
        let ssh = snapshot("0.0.0.0", 22, vec![process(11, "sshd", 0)], true);
        assert!(findings(&ssh).contains(&("exposed-all-interfaces", Severity::Info)));
        let other = snapshot("192.0.2.1", 2668, vec![process(12, "alarmd", 1000)], true);
        assert!(findings(&other).contains(&("exposed-all-interfaces", Severity::Medium)));
        let local = snapshot("127.0.0.1", 5432, vec![process(13, "postgres", 70)], true);
        assert!(!findings(&local)
            .iter()
            .any(|f| f.0 == "exposed-all-interfaces"));
        let mapped = snapshot(
            "::ffff:127.0.0.1",
            5432,
            vec![process(13, "postgres", 70)],
            true,
        );
        assert!(!findings(&mapped)
            .iter()
            .any(|f| f.0 == "exposed-all-interfaces"));
    }

    #[test]
    fn unassigned_and_ephemeral() {
        // 8011/tcp: unassigned, no known unofficial use; 8080: assigned; 40000: in the range.
        assert!(
            findings(&snapshot("127.0.0.1", 8011, vec![process(1, "x", 1)], true))
                .contains(&("unassigned-port", Severity::Low))
        );
        assert!(
            !findings(&snapshot("127.0.0.1", 8080, vec![process(1, "x", 1)], true))
                .iter()
                .any(|f| f.0 == "unassigned-port")
        );
        assert!(findings(&snapshot(
            "127.0.0.1",
            40000,
            vec![process(1, "x", 1)],
            true
        ))
        .contains(&("ephemeral-range", Severity::Low)));
        assert!(
            !findings(&snapshot("127.0.0.1", 8011, vec![process(1, "x", 1)], true))
                .iter()
                .any(|f| f.0 == "ephemeral-range")
        );
    }

    #[test]
    fn mismatch_root_shell_deleted_hidden() {
        let f = findings(&snapshot(
            "127.0.0.1",
            22,
            vec![process(1, "nc", 1000)],
            true,
        ));
        assert!(f.contains(&("service-mismatch", Severity::Medium)));
        assert!(!f.iter().any(|x| x.0 == "shell-listener"), "loopback only");
        let snap = snapshot("0.0.0.0", 4444, vec![process(1, "nc", 0)], true);
        let f = findings(&snap);
        assert!(f.contains(&("shell-listener", Severity::High)));
        // One concern: exposure and root are the shell finding's reasons, not findings.
        assert!(!f
            .iter()
            .any(|x| x.0 == "root-exposed" || x.0 == "exposed-all-interfaces"));
        let shell = full(&snap)
            .into_iter()
            .find(|x| x.id == "shell-listener")
            .expect("shell");
        assert!(shell
            .reasons
            .iter()
            .any(|r| r.starts_with("root-exposed: ")));
        assert!(shell
            .reasons
            .iter()
            .any(|r| r.starts_with("exposed-all-interfaces: ")));
        let mut p = process(1, "python3.11", 1000);
        p.exe = Some("/usr/bin/python3.11".into());
        assert!(findings(&snapshot("0.0.0.0", 8000, vec![p], true))
            .contains(&("shell-listener", Severity::High)));
        let mut gone = process(2, "daemon", 1000);
        gone.exe_state = ExeState {
            deleted: true,
            replaced: false,
            memory_only: false,
        };
        let f = findings(&snapshot("127.0.0.1", 8011, vec![gone.clone()], true));
        assert!(f.contains(&("deleted-executable", Severity::High)));
        assert!(!f.iter().any(|x| x.0 == "restart-pending"));
        // Upgraded is not deleted: another file at the path is a pending restart, for every
        // process that runs the old one.
        let mut upgraded = vec![process(3, "nginx", 0), process(4, "nginx", 33)];
        upgraded[1].parent_pid = Some(3);
        for p in &mut upgraded {
            p.exe_state = ExeState {
                deleted: true,
                replaced: true,
                memory_only: false,
            };
        }
        let snap = snapshot("127.0.0.1", 8011, upgraded, true);
        let f = full(&snap);
        let pending: Vec<&Finding> = f.iter().filter(|x| x.id == "restart-pending").collect();
        assert_eq!(pending.len(), 1, "{f:?}");
        assert_eq!(pending[0].severity, Severity::Low);
        assert!(
            pending[0].message.contains("pid 3 master") && pending[0].message.contains("4 worker")
        );
        assert!(pending[0].hint.contains("restart the service"));
        assert!(!f.iter().any(|x| x.id == "deleted-executable"));
        let mut memfd = process(5, "x", 1000);
        memfd.exe_state = ExeState {
            deleted: true,
            replaced: false,
            memory_only: true,
        };
        assert!(findings(&snapshot("127.0.0.1", 8011, vec![memfd], true))
            .contains(&("deleted-executable", Severity::High)));
        assert!(findings(&snapshot("127.0.0.1", 8011, vec![], false))
            .contains(&("hidden-owner", Severity::Info)));
        assert!(findings(&snapshot("127.0.0.1", 8011, vec![], true))
            .contains(&("hidden-owner", Severity::Medium)));
    }
}
