//! The audit rules: one function per finding id, each judging one listener group (the
//! sockets of one service: same port, protocol and owners) at once.

use crate::audit::classify::{self, Class, Exposure, Facts};
use crate::audit::design;
use crate::audit::group::{self, endpoints, who};
use crate::audit::{Finding, Severity};
use crate::model::{Hidden, Listener, Process, Scope, Snapshot, UnreadCause, WaitQueue};
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
    /// Every name the owners go by (see [`seen_names`]), established or not.
    pub seen: Vec<String>,
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
    /// Are these members exposed only through route_localnet (loopback addresses)?
    fn only_through_localnet(&self, members: &[usize]) -> bool {
        self.members
            .iter()
            .zip(&self.listeners)
            .filter(|(i, _)| members.contains(i))
            .all(|(_, l)| matches!(l.reach(), crate::address::Reach::LoopbackLocalnet(_)))
    }

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

    /// The owners, or what was established about an owner not seen.
    fn who(&self) -> String {
        group::who_of(&self.owners, &self.listeners)
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
        // A reach whose device binding was not reported (`/proc/net`) still says its family.
        let bare = |r: &Reach| match r {
            Reach::DeviceUnreported(inner) => (**inner).clone(),
            r => r.clone(),
        };
        let v4 = reaches.iter().any(|r| bare(r) == Reach::AllIpv4);
        let v6 = reaches.iter().any(|r| {
            matches!(
                bare(r),
                Reach::AllIpv6Only | Reach::AllIpv6Unknown | Reach::AllDualStack
            )
        });
        let both = if reaches
            .iter()
            .any(|r| matches!(r, Reach::DeviceUnreported(_)))
        {
            Reach::DeviceUnreported(Box::new(Reach::AllDualStack))
        } else {
            Reach::AllDualStack
        };
        let unreported = self
            .members
            .iter()
            .zip(&self.listeners)
            .find(|(i, l)| wanted.contains(i) && l.device_unknown())
            .map(|(_, l)| l.reach());
        // Wildcards bound to one device: what arrives through it, of their families.
        let devices: Vec<(String, Reach)> = self
            .members
            .iter()
            .zip(&self.listeners)
            .filter(|(i, _)| wanted.contains(i))
            .filter_map(|(_, l)| match l.reach() {
                Reach::Device(d, family) => Some((d, *family)),
                _ => None,
            })
            .collect();
        let device = devices.first().map(|(d, family)| {
            let v4 = devices.iter().any(|(e, f)| e == d && *f == Reach::AllIpv4);
            let v6 = devices.iter().any(|(e, f)| e == d && *f != Reach::AllIpv4);
            (
                d,
                if v4 && v6 {
                    &Reach::AllDualStack
                } else {
                    family
                },
            )
        });
        // A loopback address other machines reach through route_localnet.
        let localnet = self
            .members
            .iter()
            .zip(&self.listeners)
            .filter(|(i, _)| wanted.contains(i))
            .map(|(_, l)| l.reach())
            .find(|r| matches!(r, Reach::LoopbackLocalnet(_)));
        match reaches.first() {
            None if unreported.is_none() && localnet.is_some() => {
                format!(
                    "from other machines: {}",
                    localnet.map(|r| r.long()).unwrap_or_default()
                )
            }
            None => match (unreported, device) {
                (Some(r), _) => format!("on {}", r.long()),
                (None, Some((d, family))) => format!(
                    "through {} only, {}",
                    crate::address::device_words(d),
                    family.to_any_address()
                ),
                (None, _) => "on a non-loopback address".to_string(),
            },
            Some(_) if v4 && v6 => format!("on {}", both.long()),
            Some(r) => format!("on {}", r.long()),
        }
    }
}

fn owners_text(owners: &[&Process]) -> String {
    who(owners)
}

/// Normalised names of what the owners are established to be: the base name of an
/// executable established as the system's file (never the dynamic loader's), the shell or
/// interpreter the running file is, and a name or `argv[0]` that a system directory has for
/// the running file. A process's name and an executable's base name alone
/// establish nothing (a copy of python named nginx, a name set by prctl).
pub fn process_names(owners: &[&Process]) -> Vec<String> {
    let mut names: Vec<String> = owners
        .iter()
        .flat_map(|p| {
            let exe = design::established_exe(p)
                .map(|e| e.rsplit('/').next().unwrap_or(e))
                .filter(|b| !crate::registry::known::is_loader(b));
            let argv0 = p
                .cmdline
                .first()
                .filter(|_| p.exe_state.argv0_here)
                .map(|a| a.rsplit('/').next().unwrap_or(a));
            let name = Some(p.name.as_str()).filter(|_| p.exe_state.comm_here);
            exe.into_iter()
                .chain(p.exe_state.interpreter)
                .chain(name)
                .chain(argv0)
        })
        .map(classify::normalise)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Normalised names the owners go by, established or not: their names, executables' base
/// names and the program the dynamic loader runs. A shell's name is reason enough to look.
fn seen_names(owners: &[&Process]) -> Vec<String> {
    let mut names: Vec<String> = owners
        .iter()
        .flat_map(|p| {
            let exe = p.exe.as_deref().map(|e| e.rsplit('/').next().unwrap_or(e));
            let run = exe
                .filter(|b| crate::registry::known::is_loader(b))
                .and_then(|_| crate::registry::known::loader_program(&p.cmdline))
                .map(|r| r.rsplit('/').next().unwrap_or(r));
            std::iter::once(p.name.as_str()).chain(exe).chain(run)
        })
        .map(classify::normalise)
        .chain(process_names(owners))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Whether the name `n` alone (a process's name, an executable's base name) would make an
/// owner a known program of this port.
fn known_by_name(c: &Ctx<'_>, n: &str) -> bool {
    crate::registry::known::known_use(
        c.facts.port,
        c.first().socket.protocol,
        &[crate::registry::known::Evidence {
            name: n,
            exe: Some(n),
            cmdline: &[],
            established: true,
            interpreter: None,
            names_here: (false, false),
        }],
    )
    .is_some()
}

/// Whether the name `n` alone would say what the listener is (an implementation of its
/// class), when that is not established of the owners.
fn classed_by_name(c: &Ctx<'_>, n: &str) -> bool {
    let normal = vec![classify::normalise(n)];
    // A shell or interpreter is judged by the shell rule, not by what it might run.
    if SHELLS.contains(&normal[0].as_str()) {
        return false;
    }
    let facts = Facts {
        processes: normal.clone(),
        ..c.facts.clone()
    };
    !c.facts.processes.contains(&normal[0])
        && classify::classify(&facts).is_some_and(|cl| cl.implemented_by(&normal))
}

/// The names an owner goes by: its name and its executable's base name.
fn plain_names(p: &Process) -> impl Iterator<Item = &str> {
    let base = p.exe.as_deref().map(|e| e.rsplit('/').next().unwrap_or(e));
    [Some(p.name.as_str()), base]
        .into_iter()
        .flatten()
        .filter(|n| !n.is_empty())
}

/// What a name alone would make of an owner that is not established to be it, in words:
/// "named nginx; its executable /tmp/x/nginx is not the system's nginx".
pub fn name_only(c: &Ctx<'_>) -> Option<String> {
    c.owners.iter().find_map(|p| {
        let name = plain_names(p).find(|n| {
            !c.facts.processes.contains(&classify::normalise(n))
                && (known_by_name(c, n) || classed_by_name(c, n))
        })?;
        Some(format!(
            "named {}; {}",
            sanitize(&p.name),
            not_established(p, name)
        ))
    })
}

/// Why the executable of `p` does not establish that it is `name`.
fn not_established(p: &Process, name: &str) -> String {
    let Some(exe) = p.exe.as_deref() else {
        return "its executable was not read".to_string();
    };
    let s = &p.exe_state;
    let base = exe.rsplit('/').next().unwrap_or(exe);
    let exe_text = sanitize(exe);
    if crate::registry::known::is_loader(base) {
        let runs = crate::registry::known::loader_program(&p.cmdline)
            .map(|r| format!(", running {}", sanitize(r)))
            .unwrap_or_default();
        return format!("its executable is the dynamic loader ({exe_text}){runs}");
    }
    if s.memory_only || s.deleted {
        return format!("its executable {exe_text} is no longer the file at that path");
    }
    if !design::system_path(exe) {
        return format!(
            "its executable {exe_text} is not the system's {}",
            sanitize(name)
        );
    }
    if s.own_user_ns || s.user_ns_unread {
        let why = if s.own_user_ns {
            "it runs in a user namespace of its own"
        } else {
            "its user namespace could not be read, and it may run in one of its own"
        };
        return format!(
            "its executable link {exe_text} may have been set by the process itself: {why}, \
             where a process may point that link at any file it can open (PR_SET_MM_EXE_FILE)"
        );
    }
    match (s.own_mount_ns, s.same_here) {
        (_, Some(true)) => {
            format!("no system directory has that name for its executable {exe_text}")
        }
        (true, _) => format!(
            "its executable {exe_text} is a path of its own mount namespace, and not that file \
             in whoport's"
        ),
        (false, None) => format!("its executable {exe_text} could not be compared with that file"),
        (false, Some(false)) => format!("its executable {exe_text} is not the file at that path"),
    }
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
        seen: seen_names(&owners),
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
    let exposure = [
        shell_listener(&ctx),
        exposed_all_interfaces(&ctx),
        root_exposed(&ctx),
    ]
    .into_iter()
    .flatten()
    .map(|mut f| {
        // Already on a loopback address: what exposes it is route_localnet.
        if !f.listeners.is_empty() && ctx.only_through_localnet(&f.listeners) {
            f.hint = match f.id {
                "shell-listener" => {
                    format!("stop it unless you started it on purpose; if you did, {LOCALNET_HINT}")
                }
                _ => LOCALNET_HINT.to_string(),
            };
        }
        f
    });
    exposure
        .chain(
            [
                unassigned_port(&ctx),
                service_mismatch(&ctx),
                ephemeral_range(&ctx),
                deleted_executable(&ctx),
                restart_pending(&ctx),
                hidden_owner(&ctx),
                hidden_process(&ctx),
            ]
            .into_iter()
            .flatten(),
        )
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

/// What to do about a loopback address that route_localnet exposes.
const LOCALNET_HINT: &str = "turn route_localnet off where nothing needs it (sysctl -w \
     net.ipv4.conf.all.route_localnet=0, and for each device named; kube-proxy turns it on for \
     NodePorts on 127.0.0.1), or drop what arrives for 127.0.0.0/8 through other devices than lo \
     (iptables -t raw -I PREROUTING ! -i lo -d 127.0.0.0/8 -j DROP)";

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
    // Nothing established of the owners: the names they go by, none of which is an
    // implementation, still show a mismatch (and one that is, such as a daemon in a mount
    // namespace of its own, makes no claim).
    let seen;
    let facts = if c.facts.processes.is_empty() {
        // A name that would make it a known program of this port makes no claim either.
        if c.owners
            .iter()
            .any(|p| plain_names(p).any(|n| known_by_name(c, n)))
        {
            return None;
        }
        seen = Facts {
            processes: c.seen.clone(),
            ..c.facts.clone()
        };
        &seen
    } else {
        &c.facts
    };
    let class = classify::mismatch(facts)?;
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
    // Only where this machine's settings were read: a default is no fact about it.
    if c.ephemeral.holds(port) != Some(true) || c.reserved.holds(port) != Some(false) {
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
        .filter(|p| p.exe_state.memory_only || (p.exe_state.deleted && !design::upgraded(p)))
        .collect();
    let p = gone.first()?;
    let exe = sanitize(p.display_exe().unwrap_or("?")).into_owned();
    // What stands at its path now, when that is not known: never "nothing".
    let unknown = p.exe_path_unknown();
    let now = match &unknown {
        _ if p.exe_state.replaced => standing_now(p),
        Some(why) => format!("; what stands at its path now {why}"),
        None => ", and nothing stands at its path now".to_string(),
    };
    let how = if p.exe_state.memory_only {
        "runs from memory, with no file at all".to_string()
    } else if p.exe_state.path_too_long {
        format!(
            "runs an executable that was deleted since it started (its path is longer than the \
             kernel gives, so {}){now}",
            if p.exe_state.path_unchecked {
                "not read"
            } else {
                "not shown"
            }
        )
    } else {
        format!("runs an executable that was deleted since it started ({exe}){now}")
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
            "investigate what it is before stopping it, and keep a copy first: {}{}",
            keep.join("; "),
            if unknown.is_some() {
                "; what stands at its path now is not known: if a newer version was installed \
                 there, a restart is all it needs"
            } else {
                ""
            }
        ),
    ))
}

/// The different file at the path of a deleted executable that is not known to be an upgrade
/// ([`design::upgraded`]): whose it is, and why it proves nothing.
fn standing_now(p: &Process) -> String {
    let owner = p.exe_state.replaced_owner.map_or_else(
        || "whose owner could not be read".to_string(),
        |u| format!("owned by uid {u}"),
    );
    let why = match p.exe.as_deref() {
        None => "its path was not read".to_string(),
        Some(exe) if !design::system_path(exe) => format!(
            "its path is outside the system's directories ({})",
            design::SYSTEM_DIRS
        ),
        Some(_) => {
            "a user other than root may write that file or a directory on the way to it".to_string()
        }
    };
    format!(
        "; a different file stands at its path now, {owner}, and is not known to be an upgrade, \
         as {why}"
    )
}

/// `restart-pending`: the executable's system path holds a different file now, that only root
/// could have put there (a package upgrade replaced it): the processes still run the old one.
pub fn restart_pending(c: &Ctx<'_>) -> Option<Finding> {
    let old: Vec<&Process> = c
        .owners
        .iter()
        .copied()
        .filter(|p| design::upgraded(p))
        .collect();
    let p = old.first()?;
    let exe = sanitize(p.exe_words().unwrap_or("?")).into_owned();
    // Only the system's units: `systemctl restart` of a user's own unit's name restarts the
    // system's unit of that name, if any.
    let units: Vec<String> = old
        .iter()
        .filter(|p| p.unit_manager.is_none())
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
    // Root's uid, or credentials beyond its uid that amount to root (a thread as uid 0,
    // root's capabilities).
    let roots: Vec<&Process> = c
        .owners
        .iter()
        .copied()
        .filter(|p| p.acts_as_root())
        .collect();
    if roots.is_empty() || design::standard_design(&c.owners).is_some() {
        return None;
    }
    let as_root = if roots.iter().all(|p| p.uid == Some(0)) {
        "as root"
    } else {
        "with root's powers"
    };
    let children: Vec<&Process> = roots
        .iter()
        .flat_map(|r| design::unprivileged_children(r, &c.owners))
        .collect();
    let place = c.where_text(&members);
    // Children holding the socket prove nothing about who serves: said as seen.
    let how = if children.is_empty() {
        format!("is served {as_root} {place}, with no unprivileged worker")
    } else {
        format!(
            "is held {as_root} {place}, and by unprivileged children ({}): whether the root \
             process serves connections itself was not established (only programs known to \
             serve from their workers alone are taken for it)",
            owners_text(&children)
        )
    };
    Some(
        c.finding(
            "root-exposed",
            Severity::Medium,
            members.clone(),
            format!("{} of {} {how}", c.sockets(&members), owners_text(&roots)),
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
    let shell = c.seen.iter().find(|n| SHELLS.contains(&n.as_str()))?;
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

/// `hidden-process`: an owner of the sockets has something mounted over its `/proc/PID` (or
/// a file whoport reads there): a way to hide a process from `ps`, `ss -p` and `lsof`, or to
/// lend it another's name. Nothing else of it is read; the kernel named it as a holder.
pub fn hidden_process(c: &Ctx<'_>) -> Option<Finding> {
    let hidden: Vec<(u32, &str)> = c
        .owners
        .iter()
        .filter_map(|p| Some((p.pid, p.hidden_by_mount.as_deref()?)))
        .collect();
    let (_, first) = *hidden.first()?;
    // The first few named, the rest counted (a process may fork thousands of children that
    // share its socket, each hidden).
    const NAMED: usize = 8;
    let list = |words: Vec<String>| {
        let mut words: Vec<String> = words.into_iter().take(NAMED).collect();
        if hidden.len() > NAMED {
            words.push(format!("{} more", hidden.len() - NAMED));
        }
        words.join(", ")
    };
    let pids = list(hidden.iter().map(|(pid, _)| pid.to_string()).collect());
    let paths = list(hidden.iter().map(|(_, path)| path.to_string()).collect());
    let (pids, over) = if hidden.len() == 1 {
        (format!("pid {pids}"), "over")
    } else {
        (format!("pids {pids}"), "over each of")
    };
    Some(c.finding(
        "hidden-process",
        Severity::High,
        c.members.clone(),
        format!(
            "{} is held by {pids}: something is mounted {over} {paths}, a way to hide a process \
             from ps, ss and lsof or to lend it another's name (whoport read nothing of it \
             through the mount)",
            c.sockets(&c.members),
        ),
        format!(
            "find out who mounted it and why (findmnt {first}): a process hidden so is rarely \
             benign"
        ),
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
        .as_deref()
        .map_or_else(|| "not visible".to_string(), Hidden::long);
    let (severity, hint) = if let Some(Hidden::InTransit {
        receivers, unread, ..
    }) = l.hidden_reason.as_deref()
    {
        (
            if c.root {
                Severity::Medium
            } else {
                Severity::Info
            },
            match (receivers.first(), unread) {
                (Some((pid, _)), _) => format!(
                    "the process holding the receiving end, pid {pid}, has not read the \
                     message yet: see what it is (ps -fp {pid})"
                ),
                (None, Some(_)) => "no process was found holding the unix socket it waits in, \
                                    but a unix socket queue was not read to the end and that \
                                    socket may wait there: see which process holds the queue \
                                    the reason names (ss -xp), then run whoport again"
                    .to_string(),
                (None, None) => "no process holds the unix socket it waits in: run whoport \
                                 again; if it stays, the kernel frees it with that socket"
                    .to_string(),
            },
        )
    } else if let Some(Hidden::Kernel) = l.hidden_reason.as_deref() {
        // Established: no process holds it, so none is to be looked for.
        (
            Severity::Info,
            "the kernel's own socket (no process has it open): ip -d link shows the vxlan, \
             geneve or WireGuard device using the port; otherwise a kernel service (nfsd, \
             lockd, ...) bound it"
                .to_string(),
        )
    } else if let Some(Hidden::Late(_)) = l.hidden_reason.as_deref() {
        // Not looked up in time says nothing about the socket: no finding beyond a mention.
        (
            Severity::Info,
            "its owner was not looked up in time: run again, with a longer --timeout".to_string(),
        )
    } else if c.root {
        // The fix follows the reason whoport established, never a guess from a list.
        let hint = match l.hidden_reason.as_deref() {
            Some(Hidden::OtherPidNamespace(_)) => {
                "no process of whoport's PID namespace was seen holding it, and one outside may \
                 (a container?): run whoport on the host, or inside that namespace with \
                 nsenter -t CONTAINER_PID -p -m whoport"
                    .to_string()
            }
            Some(Hidden::Unreadable { causes, .. }) => causes
                .iter()
                .map(unread_fix_as_root)
                .collect::<Vec<_>>()
                .join("; "),
            Some(Hidden::NotVisibleToRoot(ruled)) => {
                // Never what the look at its wait queue ruled out: only what is left, as
                // examples.
                let mut may = if ruled.wait_queue == WaitQueue::NoSleeper {
                    vec![
                        "something whoport does not look into, for example a Linux AIO request \
                         (the processes with one map /[aio]: grep -l '\\[aio\\]' /proc/*/maps), \
                         or a system call in progress on a descriptor since closed that is not \
                         asleep on this socket (see the processes' threads: grep . \
                         /proc/*/task/*/syscall)",
                    ]
                } else {
                    vec![
                        "a thread blocked in a system call (accept, recv) on a descriptor since \
                         closed, whose wait queue whoport could not read (see the processes' \
                         threads: grep . /proc/*/task/*/syscall)",
                        "something whoport does not look into, for example a Linux AIO request \
                         (the processes with one map /[aio]: grep -l '\\[aio\\]' /proc/*/maps)",
                    ]
                };
                if !ruled.queues {
                    may.push("a message in transit");
                }
                if !ruled.rings {
                    may.push(
                        "an io_uring instance no descriptor reaches, which whoport could not \
                         look into here",
                    );
                }
                if !ruled.kernel {
                    may.push(
                        "the kernel's own socket (nfsd, WireGuard, ...: see which kernel \
                         service uses the port)",
                    );
                }
                format!(
                    "no process holds a descriptor for it; what keeps it open may be {}: run \
                     whoport again",
                    may.join("; or ")
                )
            }
            Some(Hidden::MaybeIoUring { rings, why, .. }) => io_uring_fix(rings, why.as_deref()),
            _ => "find out what holds it: run whoport again, with ss -tlnp for comparison"
                .to_string(),
        };
        (
            Severity::Medium,
            churn_first(l.hidden_reason.as_deref(), hint),
        )
    } else if let Some(Hidden::NotFoundForOtherUser(ruled)) = l.hidden_reason.as_deref() {
        // Every table was read in the kernel: no process to see, only what this user
        // could not read is left for root to look into.
        let unread = ruled.unread_of_other_users();
        let hint = if unread.is_empty() {
            "no process holds a descriptor for it, and every process's memory mappings and \
             io_uring instances were looked into, as root would: what keeps it open may be a \
             thread blocked in a system call on a descriptor since closed, or a Linux AIO \
             request, which whoport does not look into as root either"
                .to_string()
        } else {
            format!(
                "no process holds a descriptor for it: run as root (sudo whoport audit) to look \
                 into other users' {}, which this user cannot read",
                unread.join(" and ")
            )
        };
        (Severity::Info, hint)
    } else if let Some(Hidden::Unreadable { causes, .. }) = l.hidden_reason.as_deref() {
        let hint = causes
            .iter()
            .map(unread_fix_as_user)
            .collect::<Vec<_>>()
            .join("; ");
        (Severity::Info, hint)
    } else if let Some(Hidden::NotRoot { hidepid: Some(how) }) = l.hidden_reason.as_deref() {
        (
            Severity::Info,
            format!(
                "{}: run as root (sudo whoport audit) to see its process",
                crate::model::hidden_by_proc(how)
            ),
        )
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

/// The fix, as root, for one group of processes whose descriptors were not read: it follows
/// the cause established for that group, never another group's.
fn unread_fix_as_root(cause: &UnreadCause) -> String {
    let named = cause.named();
    if cause.why.contains("user namespace whose root") {
        format!(
            "whoport is root only in its user namespace, which cannot read the descriptors of \
             processes outside it ({named}): run it as root on the host"
        )
    } else if cause.why.contains(crate::model::THREAD_TABLES_NOT_READ) {
        format!(
            "the descriptors of {named} were not all read: the /proc walk reads only so many of \
             the tables a process's threads hold of their own (the reason says which \
             process), and the in-kernel owner lookup reads them all: run whoport as root \
             on a kernel with BTF, without WHOPORT_NO_BPF"
        )
    } else if cause.why.contains(crate::model::HIDING_MOUNT) {
        covered_fix(&named)
    } else {
        format!(
            "root could not read the descriptors of {named}: see what keeps them closed (a \
             security module, a sandbox, or whoport running in a user namespace), or run \
             whoport where it can read them"
        )
    }
}

/// The fix for processes whose `/proc` entries something is mounted over (for root and for
/// any user alike: no privilege reads through the mount).
fn covered_fix(named: &str) -> String {
    format!(
        "something is mounted over /proc entries of {named} in whoport's mount namespace (a way \
         to hide a process): see who mounted it there and why (findmnt -R /proc); once it is \
         unmounted, whoport reads the process"
    )
}

/// The fix, for a user other than root, for one group of processes whose descriptors were
/// not read.
fn unread_fix_as_user(cause: &UnreadCause) -> String {
    let named = cause.named();
    if cause.why.contains(crate::model::HIDING_MOUNT) {
        covered_fix(&named)
    } else if cause.why.starts_with(crate::model::NOT_SHOWN_TO_USER) {
        // Every other table was read in the kernel: only these processes are left, and
        // root may read them through /proc (or be refused too).
        format!(
            "this user could not read the descriptors of {named}, of which the kernel's task \
             iterator found no descriptor either: as root (sudo whoport audit), /proc may show them"
        )
    } else {
        format!(
            "this user could not read the descriptors of {named}: run as root (sudo whoport \
             audit) to see its process"
        )
    }
}

/// The fix for a socket that may be handed between processes that exited during the walk:
/// finding them comes first, then `hint` (what else the reason left possible).
fn churn_first(reason: Option<&Hidden>, hint: String) -> String {
    let churned = reason.map_or(0, churned);
    if churned == 0 {
        return hint;
    }
    format!(
        "it may be handed between processes that start and exit faster than whoport reads \
         /proc ({churned} exited before whoport could read them): see which keeps forking \
         (ps -eo pid,ppid,lstart,comm --sort=start_time | tail), and run whoport again where \
         its kernel iterator loads (root, BPF), which follows them; or {hint}"
    )
}

/// How many processes exited before the walk could read them, where the reason offers them
/// (beneath what it says of io_uring instances or memory maps too).
fn churned(reason: &Hidden) -> usize {
    match reason {
        Hidden::NotVisibleToRoot(ruled)
        | Hidden::OtherPidNamespace(ruled)
        | Hidden::Unreadable {
            ruled: Some(ruled), ..
        } => ruled.churned,
        Hidden::MaybeIoUring { otherwise, .. } | Hidden::MapsUnread { otherwise, .. } => {
            churned(otherwise)
        }
        _ => 0,
    }
}

/// The fix for a socket perhaps held inside io_uring instances: only what the user can still
/// do. `why` is `None` when whoport looked into the rings in the kernel (then what it could
/// not read to the end is said, and which process to check); otherwise why it could not look,
/// and what would let it.
fn io_uring_fix(rings: &[(u32, String, String)], why: Option<&str>) -> String {
    let named: Vec<String> = rings.iter().map(|r| r.0.to_string()).collect();
    // ps takes a list: every process offered, not only the first.
    let listed = named.join(",");
    let pid = if named.len() == 1 { "PID" } else { "PIDs" };
    let Some(why) = why else {
        let unread: Vec<String> = rings
            .iter()
            .map(|(pid, name, what)| format!("pid {pid} ({}) {what}", sanitize(name)))
            .collect();
        return format!(
            "whoport looked into io_uring in the kernel, but not everything: {}; see what \
             {pid} {} {} (ps -fp {listed}): such a ring holds its files until the process \
             closes it or exits",
            unread.join("; "),
            named.join(", "),
            if named.len() == 1 { "is" } else { "are" },
        );
    };
    let how = if why.contains("WHOPORT_NO_BPF") {
        "unset WHOPORT_NO_BPF to let it look"
    } else if why.contains("CAP_BPF") {
        "give it CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN) to let it look"
    } else if why.contains("BTF") {
        "a kernel with BTF (CONFIG_DEBUG_INFO_BTF) lets it look"
    } else if why.contains("PID namespace") {
        "run it in the machine's first PID namespace (on the host) to let it look"
    } else {
        "see what keeps it from looking"
    };
    format!(
        "it may be held inside an io_uring instance of {pid} {}, which whoport could not look \
         into ({}): see what {} (ps -fp {listed}); {how}",
        named.join(", "),
        sanitize(why),
        if named.len() == 1 {
            "it is"
        } else {
            "they are"
        },
    )
}

#[cfg(test)]
mod tests;
