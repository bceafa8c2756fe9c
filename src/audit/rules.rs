//! The audit rules: one function per finding id.

use crate::audit::baseline::{Baseline, Change, Entry};
use crate::audit::classify::{self, Exposure, Facts};
use crate::audit::{Finding, Severity};
use crate::model::{Hidden, Listener, Process, Scope, Snapshot};
use crate::port::EphemeralRange;
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

/// Everything a rule may look at for one listener.
pub struct Ctx<'a> {
    pub index: usize,
    pub listener: &'a Listener,
    pub owners: Vec<&'a Process>,
    pub facts: Facts<'a>,
    pub status: Status,
    pub has_unofficial: bool,
    pub ephemeral: EphemeralRange,
    pub root: bool,
}

impl Ctx<'_> {
    fn finding(
        &self,
        id: &'static str,
        severity: Severity,
        message: String,
        hint: String,
    ) -> Finding {
        Finding {
            id,
            severity,
            listener: Some(self.index),
            gone: None,
            message,
            hint,
        }
    }

    /// "tcp 0.0.0.0:8080", "tcp [::]:22", "udp 0.0.0.0%eth0:67" (the one notation).
    fn socket(&self) -> String {
        let l = self.listener;
        sanitize(&format!("{} {}", l.socket.protocol, l.endpoint())).into_owned()
    }

    /// "nginx (pid 12)", "nginx (pids 12, 13)", or "a hidden process".
    fn who(&self) -> String {
        owners_text(&self.owners)
    }

    fn exposed(&self) -> bool {
        self.listener.scope != Scope::Loopback
    }

    fn where_text(&self) -> String {
        match self.listener.scope {
            Scope::All => format!("on {}", self.listener.reach().long()),
            _ => "on a non-loopback address".to_string(),
        }
    }
}

fn owners_text(owners: &[&Process]) -> String {
    let Some(first) = owners.first() else {
        return "a hidden process".to_string();
    };
    let name = sanitize(first.display_name());
    let pids: Vec<String> = owners.iter().map(|p| p.pid.to_string()).collect();
    if pids.len() == 1 {
        format!("{name} (pid {})", pids[0])
    } else {
        format!("{name} (pids {})", pids.join(", "))
    }
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

/// All rules for one listener.
pub fn check(index: usize, l: &Listener, snap: &Snapshot, k: &Knowledge) -> Vec<Finding> {
    let owners: Vec<&Process> = l
        .owners
        .iter()
        .filter_map(|p| snap.processes.get(p))
        .collect();
    let (port, protocol) = (l.socket.port, l.socket.protocol);
    let registry = k.iana.status(port, protocol);
    let uses = unofficial::for_port(port, Some(protocol));
    let ctx = Ctx {
        index,
        listener: l,
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
        root: snap.root,
    };
    [
        exposed_all_interfaces(&ctx),
        unassigned_port(&ctx),
        service_mismatch(&ctx),
        ephemeral_range(&ctx),
        deleted_executable(&ctx),
        root_exposed(&ctx),
        shell_listener(&ctx),
        hidden_owner(&ctx),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// `exposed-all-interfaces`: reachable from other machines.
pub fn exposed_all_interfaces(c: &Ctx<'_>) -> Option<Finding> {
    if !c.exposed() {
        return None;
    }
    // The program recognised on its own port is the most specific evidence there is.
    let class = c
        .listener
        .known_use
        .and_then(|u| classify::by_key(u.program, c.facts.port, c.listener.socket.protocol))
        .or_else(|| classify::classify(&c.facts));
    let (severity, what, hint) = match class {
        Some(cl) if cl.exposure == Exposure::Sensitive => (
            Severity::High,
            format!(", and it looks like a {} ({})", cl.kind, cl.key),
            format!(
                "a {} should not face a network unprotected: bind it to 127.0.0.1 (or a private \
                 address behind a firewall) and require authentication",
                cl.kind
            ),
        ),
        Some(cl) => (
            Severity::Info,
            format!(", as a {} ({}) is meant to be", cl.kind, cl.key),
            "meant to face the network: check that it is the service you expect and kept up to date"
                .to_string(),
        ),
        None => (
            Severity::Medium,
            String::new(),
            "if only this machine uses it, bind it to 127.0.0.1; otherwise restrict it with a firewall"
                .to_string(),
        ),
    };
    Some(c.finding(
        "exposed-all-interfaces",
        severity,
        format!(
            "{} of {} is reachable {}{what}",
            c.socket(),
            c.who(),
            c.where_text()
        ),
        hint,
    ))
}

/// `unassigned-port`: IANA has no tenant and no program is known to use it.
pub fn unassigned_port(c: &Ctx<'_>) -> Option<Finding> {
    if !matches!(c.status, Status::Unassigned | Status::Dynamic) || c.has_unofficial {
        return None;
    }
    let s = &c.listener.socket;
    let what = match c.status {
        Status::Dynamic => "is in the dynamic range, where IANA assigns nothing,",
        _ => "is unassigned in the IANA registry",
    };
    Some(c.finding(
        "unassigned-port",
        Severity::Low,
        format!(
            "{}/{} {what} and no program is known to use it; {} chose it",
            s.port,
            s.protocol,
            c.who()
        ),
        format!("find out why {} listens here: whoport {}", c.who(), s.port),
    ))
}

/// `service-mismatch`: the port is registered for a service the process does not implement.
pub fn service_mismatch(c: &Ctx<'_>) -> Option<Finding> {
    // A known program on a port it is known to use is no mismatch (grafana on 3000, hbci).
    if c.listener.known_use.is_some() {
        return None;
    }
    let class = classify::mismatch(&c.facts)?;
    let s = &c.listener.socket;
    Some(
        c.finding(
            "service-mismatch",
            Severity::Medium,
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
    let port = c.listener.socket.port;
    if !c.ephemeral.contains(port) {
        return None;
    }
    let e = c.ephemeral;
    Some(c.finding(
        "ephemeral-range",
        Severity::Low,
        format!(
            "{}/{} is inside this machine's ephemeral range {}-{}, where outgoing connections \
             take their local ports: the listener can collide with them",
            port, c.listener.socket.protocol, e.start, e.end
        ),
        format!(
            "move it out of {}-{}, or reserve it: sysctl -w net.ipv4.ip_local_reserved_ports={port}",
            e.start, e.end
        ),
    ))
}

/// `deleted-executable`: the process no longer runs the file at its path.
pub fn deleted_executable(c: &Ctx<'_>) -> Option<Finding> {
    let p = c.owners.iter().find(|p| p.exe_state.deleted)?;
    let exe = sanitize(p.display_exe().unwrap_or("?")).into_owned();
    let how = if p.exe_state.memory_only {
        "runs from memory, with no file at all".to_string()
    } else if p.exe_state.replaced {
        format!("runs an executable that was replaced since it started ({exe})")
    } else {
        format!("runs an executable that was deleted since it started ({exe})")
    };
    Some(c.finding(
        "deleted-executable",
        Severity::High,
        format!(
            "{} holding {} {how}: an upgrade awaiting a restart, or malware hiding its binary",
            owners_text(&[p]),
            c.socket()
        ),
        format!(
            "if a package upgrade replaced it, restart the service; otherwise investigate, and keep \
             a copy first: cp /proc/{}/exe /root/pid-{}.exe",
            p.pid, p.pid
        ),
    ))
}

/// `root-exposed`: a root process reachable from other machines.
pub fn root_exposed(c: &Ctx<'_>) -> Option<Finding> {
    if !c.exposed() {
        return None;
    }
    let roots: Vec<&Process> = c
        .owners
        .iter()
        .copied()
        .filter(|p| p.uid == Some(0))
        .collect();
    if roots.is_empty() {
        return None;
    }
    Some(
        c.finding(
            "root-exposed",
            Severity::Medium,
            format!(
                "{} runs as root and listens {} ({})",
                owners_text(&roots),
                c.where_text(),
                c.socket()
            ),
            "drop privileges after binding: a dedicated user (systemd User=), or \
         CAP_NET_BIND_SERVICE for ports below 1024"
                .to_string(),
        ),
    )
}

/// `shell-listener`: a shell, interpreter or network tool facing the network.
pub fn shell_listener(c: &Ctx<'_>) -> Option<Finding> {
    if !c.exposed() {
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
        format!(
            "{} ({shell}: a shell, interpreter or network tool) listens {} ({}): a classic bind \
             shell, or an accidental file server",
            c.who(),
            c.where_text(),
            c.socket()
        ),
        "stop it unless you started it on purpose; if you did, bind it to 127.0.0.1".to_string(),
    ))
}

/// `hidden-owner`: no process could be seen for the socket.
pub fn hidden_owner(c: &Ctx<'_>) -> Option<Finding> {
    if !c.listener.owners.is_empty() {
        return None;
    }
    let reason = c
        .listener
        .hidden_reason
        .as_ref()
        .map_or_else(|| "not visible".to_string(), Hidden::long);
    let (severity, hint) = if c.root {
        (
            Severity::Medium,
            "it is held in another PID namespace (a container?) or by the kernel: run whoport \
             inside the container, or nsenter -t CONTAINER_PID -p -m whoport"
                .to_string(),
        )
    } else {
        (
            Severity::Info,
            "run as root (sudo whoport audit) to see its process".to_string(),
        )
    };
    let owner = c
        .listener
        .user
        .clone()
        .or_else(|| c.listener.socket.uid.map(|u| format!("uid {u}")))
        .unwrap_or_else(|| "an unknown user".to_string());
    Some(c.finding(
        "hidden-owner",
        severity,
        format!(
            "{} belongs to {}, but its process cannot be seen: {reason}",
            c.socket(),
            sanitize(&owner)
        ),
        hint,
    ))
}

fn entry_text(e: &Entry) -> String {
    let addr = match e.address.parse::<std::net::IpAddr>() {
        Ok(ip) => crate::address::host(ip, None),
        Err(_) => e.address.clone(),
    };
    let names = if e.names.is_empty() {
        "a hidden process".to_string()
    } else {
        e.names.join(", ")
    };
    sanitize(&format!("{} {addr}:{} ({names})", e.protocol, e.port)).into_owned()
}

/// `new-listener`, `gone-listener`, `owner-changed`: what changed since the baseline.
pub fn change(change: Change, snap: &Snapshot, b: &Baseline) -> Finding {
    let since = format!("the baseline of {}", sanitize(&b.created));
    let now = |i: usize| {
        snap.listeners
            .get(i)
            .map(|l| entry_text(&Entry::of(l, snap)))
    };
    match change {
        Change::New(i) => Finding {
            id: "new-listener",
            severity: Severity::Medium,
            listener: Some(i),
            gone: None,
            message: format!("{} is new since {since}", now(i).unwrap_or_default()),
            hint: "if it is expected, save a new baseline with --save-baseline".to_string(),
        },
        Change::Gone(e) => Finding {
            id: "gone-listener",
            severity: Severity::Info,
            listener: None,
            message: format!("{} was listening in {since} and is gone", entry_text(&e)),
            gone: Some(e),
            hint: "if a service stopped unexpectedly, check it; otherwise save a new baseline"
                .to_string(),
        },
        Change::OwnerChanged {
            index,
            before,
            exe_changed,
        } => {
            let what = |e: &Entry| {
                sanitize(&format!(
                    "{} as {}",
                    if e.exes.is_empty() {
                        e.names.join(", ")
                    } else {
                        e.exes.join(", ")
                    },
                    e.users.join(", ")
                ))
                .into_owned()
            };
            let current = snap.listeners.get(index).map(|l| Entry::of(l, snap));
            Finding {
                id: "owner-changed",
                severity: if exe_changed {
                    Severity::High
                } else {
                    Severity::Medium
                },
                listener: Some(index),
                gone: None,
                message: format!(
                    "{} is held by {} now, by {} in {since}",
                    now(index).unwrap_or_default(),
                    current.as_ref().map(what).unwrap_or_default(),
                    what(&before)
                ),
                hint: if exe_changed {
                    "another program holds the port: make sure it is the one you expect, then \
                     save a new baseline"
                        .to_string()
                } else {
                    "the same program runs under another name or user: check why, then save a \
                     new baseline"
                        .to_string()
                },
            }
        }
    }
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
                v6only: None,
            },
            scope: Scope::of(address),
            device: None,
            user: Some("root".into()),
            owners: procs.iter().map(|p| p.pid).collect(),
            hidden_reason: procs.is_empty().then_some(Hidden::NotRoot),
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
        k.ephemeral = EphemeralRange {
            start: 32768,
            end: 60999,
            source: "test",
        };
        k
    }

    fn findings(snap: &Snapshot) -> Vec<(&'static str, Severity)> {
        let k = knowledge();
        let mut f: Vec<_> = check(0, &snap.listeners[0], snap, &k)
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
        let f = findings(&snapshot("0.0.0.0", 4444, vec![process(1, "nc", 0)], true));
        assert!(f.contains(&("shell-listener", Severity::High)));
        assert!(f.contains(&("root-exposed", Severity::Medium)));
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
        assert!(findings(&snapshot("127.0.0.1", 8011, vec![gone], true))
            .contains(&("deleted-executable", Severity::High)));
        assert!(findings(&snapshot("127.0.0.1", 8011, vec![], false))
            .contains(&("hidden-owner", Severity::Info)));
        assert!(findings(&snapshot("127.0.0.1", 8011, vec![], true))
            .contains(&("hidden-owner", Severity::Medium)));
    }
}
