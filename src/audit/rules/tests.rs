use super::*;
use crate::model::{ExeState, Socket, UnreadCause};
use crate::port::Protocol;

fn process(pid: u32, name: &str, uid: u32) -> Process {
    Process {
        pid,
        name: name.to_string(),
        exe: Some(format!("/usr/bin/{name}")),
        // The file at that path here is the running file: it is what its name says.
        exe_state: ExeState {
            same_here: Some(true),
            ..ExeState::default()
        },
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
        hidden_reason: procs
            .is_empty()
            .then(|| Box::new(Hidden::NotRoot { hidepid: None })),
        held_through: None,
        blocked_calls: Vec::new(),
        blocked_calls_cut: false,
        blocked_calls_unread: None,
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
        unread: None,
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
            .contains("pid 812 parent as root; 813 child as app"),
        "{}",
        f[0].message
    );
    // Without workers, the root master serves itself.
    let f = findings(&snapshot("0.0.0.0", 80, vec![master], true));
    assert!(f.contains(&("root-exposed", Severity::Medium)), "{f:?}");
    // A program not known to serve from its workers alone: its unprivileged child proves
    // nothing about who serves, and that is what is said.
    let mut root = process(900, "mydaemon", 0);
    root.exe = Some("/usr/local/bin/mydaemon".into());
    let mut child = root.clone();
    (child.pid, child.uid, child.user) = (901, Some(65534), Some("nobody".into()));
    child.parent_pid = Some(900);
    let f = full(&snapshot("0.0.0.0", 8080, vec![root, child], true));
    // (Folded into the exposure finding, as one of its reasons.)
    let said = f
        .iter()
        .flat_map(|x| std::iter::once(&x.message).chain(&x.reasons))
        .find(|m| m.starts_with("root-exposed: "))
        .unwrap_or_else(|| panic!("{f:#?}"));
    assert!(
        said.contains(
            "is held as root on all interfaces, IPv4, and by unprivileged children (mydaemon \
             (pid 901 as nobody)): whether the root process serves connections itself was not \
             established"
        ),
        "{said}"
    );
    assert!(!said.contains("no unprivileged worker"), "{said}");
    assert!(f.iter().any(|x| x.severity == Severity::Medium), "{f:?}");
    assert!(f.iter().all(|x| x.design.is_none()), "{f:?}");
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

/// The fix of the hidden-owner finding, as root, for a socket with this reason.
fn hidden_owner_hint(reason: Hidden) -> String {
    let mut snap = snapshot("0.0.0.0", 41999, vec![], true);
    snap.listeners[0].hidden_reason = Some(Box::new(reason));
    full(&snap)
        .into_iter()
        .find(|f| f.id == "hidden-owner")
        .expect("hidden-owner")
        .hint
}

#[test]
fn the_fix_for_a_hidden_owner_follows_its_established_reason() {
    let hint = hidden_owner_hint;
    let unreadable = hint(Hidden::Unreadable {
        causes: vec![UnreadCause::new(vec![1], 1, "a sandbox")],
        ruled: None,
    });
    assert!(unreadable.contains("PID 1"), "{unreadable}");
    assert!(!unreadable.contains("PID namespace"), "{unreadable}");
    // A process whose threads' own tables the walk did not all read was not refused.
    let cut = hint(Hidden::Unreadable {
        causes: vec![UnreadCause::new(
            vec![5000],
            1,
            "pid 5000: the descriptor tables of 1436 of its threads were not read: ...",
        )],
        ruled: None,
    });
    assert!(
        cut.contains("PID 5000 were not all read") && cut.contains("in-kernel owner lookup"),
        "{cut}"
    );
    assert!(!cut.contains("root could not read"), "{cut}");
    assert!(hint(Hidden::OtherPidNamespace(Default::default())).contains("PID namespace"));
    let ring = hint(Hidden::MaybeIoUring {
        rings: vec![(42, "hold".into(), "has an io_uring".into())],
        why: None,
        otherwise: Box::new(Hidden::NotVisibleToRoot(Default::default())),
    });
    // Looked in the kernel: what was not read to the end, and the process to check; never
    // a request to let it look.
    assert!(
        ring.contains("pid 42 (hold) has an io_uring") && ring.contains("ps -fp 42"),
        "{ring}"
    );
    assert!(
        !ring.contains("as root") && !ring.contains("BPF") && !ring.contains("could not look"),
        "{ring}"
    );
    let not_looked = |why: &str| {
        hint(Hidden::MaybeIoUring {
            rings: vec![(42, "hold".into(), "has an io_uring".into())],
            why: Some(why.into()),
            otherwise: Box::new(Hidden::NotVisibleToRoot(Default::default())),
        })
    };
    let caps = not_looked(
        "looking into io_uring requests needs CAP_SYS_ADMIN, or CAP_BPF with CAP_PERFMON (run \
         as root)",
    );
    assert!(
        caps.contains("PID 42") && caps.contains("CAP_BPF and CAP_PERFMON"),
        "{caps}"
    );
    let btf = not_looked("the kernel has no BTF (/sys/kernel/btf/vmlinux) to look into io_uring");
    assert!(
        btf.contains("CONFIG_DEBUG_INFO_BTF") && !btf.contains("as root"),
        "{btf}"
    );
    let off = not_looked("WHOPORT_NO_BPF is set");
    assert!(
        off.contains("unset WHOPORT_NO_BPF") && !off.contains("as root"),
        "{off}"
    );
    let nobody = hint(Hidden::NotVisibleToRoot(Default::default()));
    assert!(
        nobody.contains("kernel") && !nobody.contains("container"),
        "{nobody}"
    );
}

/// The fix never sends the user to look for what the wait-queue look ruled out; without that
/// look, the blocked call stays among what it may be.
#[test]
fn the_fix_offers_a_blocked_call_only_where_the_wait_queue_was_not_read() {
    use crate::model::{RuledOut, WaitQueue};
    let hint = |wait_queue: WaitQueue| {
        let mut snap = snapshot("0.0.0.0", 2024, vec![], true);
        snap.listeners[0].hidden_reason = Some(Box::new(Hidden::NotVisibleToRoot(RuledOut {
            queues: true,
            kernel: true,
            every_table: true,
            rings: true,
            wait_queue,
            ..RuledOut::default()
        })));
        full(&snap)
            .into_iter()
            .find(|f| f.id == "hidden-owner")
            .expect("hidden-owner")
            .hint
    };
    let read = hint(WaitQueue::NoSleeper);
    assert!(!read.contains("accept"), "{read}");
    assert!(read.contains("for example a Linux AIO request"), "{read}");
    assert!(read.contains("not asleep on this socket"), "{read}");
    assert!(read.contains("grep . /proc/*/task/*/syscall"), "{read}");
    assert!(read.contains("/proc/*/maps"), "{read}");
    // Ruled out by the other looks: not offered either.
    assert!(
        !read.contains("in transit") && !read.contains("kernel's own"),
        "{read}"
    );
    let unread = hint(WaitQueue::Unread(Some("WHOPORT_NO_BPF is set".into())));
    assert!(unread.contains("(accept, recv)"), "{unread}");
    assert!(
        unread.contains("whose wait queue whoport could not read"),
        "{unread}"
    );
    assert!(
        unread.contains("for example a Linux AIO request"),
        "{unread}"
    );
}

/// Processes that exited before the walk could read them, up to its last look: the fix looks
/// for them first, then for what else the reason left possible (never PID 1 alone).
#[test]
fn the_fix_looks_for_processes_that_exit_in_turn_first() {
    use crate::model::RuledOut;
    let hint = hidden_owner_hint;
    let churned = RuledOut {
        churned: 37,
        ..RuledOut::default()
    };
    let unread = |ruled: RuledOut| Hidden::Unreadable {
        causes: vec![UnreadCause::new(vec![1], 1, "refused to root")],
        ruled: Some(ruled),
    };
    let first = "it may be handed between processes that start and exit faster than whoport \
                 reads /proc (37 exited before whoport could read them): see which keeps forking";
    let both = hint(unread(churned.clone()));
    assert!(both.starts_with(first), "{both}");
    assert!(
        both.contains("; or root could not read the descriptors of PID 1"),
        "{both}"
    );
    let all_read = hint(Hidden::NotVisibleToRoot(churned.clone()));
    assert!(all_read.starts_with(first), "{all_read}");
    // Beneath what is said of io_uring instances, first too.
    let rings = hint(Hidden::MaybeIoUring {
        rings: vec![(7, "hold".to_string(), "an io_uring".to_string())],
        why: Some("WHOPORT_NO_BPF is set".to_string()),
        otherwise: Box::new(unread(churned)),
    });
    assert!(rings.starts_with(first), "{rings}");
    assert!(all_read.contains("; or no process holds"), "{all_read}");
    for none in [
        hint(unread(RuledOut::default())),
        hint(Hidden::NotVisibleToRoot(RuledOut::default())),
    ] {
        assert!(!none.contains("start and exit"), "{none}");
    }
}

/// Another user's socket that no table holds, seen by a user whose looks read every table in
/// the kernel: root is sent for only to read what this user could not.
#[test]
fn the_fix_for_another_users_socket_sends_for_root_only_for_what_was_not_read() {
    let hint = |ruled: crate::model::RuledOut| {
        let mut snap = snapshot("0.0.0.0", 41999, vec![], false);
        snap.listeners[0].hidden_reason = Some(Box::new(Hidden::NotFoundForOtherUser(ruled)));
        full(&snap)
            .into_iter()
            .find(|f| f.id == "hidden-owner")
            .expect("hidden-owner")
            .hint
    };
    let ruled = crate::model::RuledOut {
        every_table: true,
        ..Default::default()
    };
    let both = hint(ruled.clone());
    assert!(
        both.contains("run as root") && both.contains("memory mappings and io_uring instances"),
        "{both}"
    );
    let maps = hint(crate::model::RuledOut {
        rings: true,
        ..ruled.clone()
    });
    assert!(
        maps.contains("run as root") && maps.contains("other users' memory mappings,"),
        "{maps}"
    );
    assert!(!maps.contains("io_uring"), "{maps}");
    let all = hint(crate::model::RuledOut {
        rings: true,
        every_mapping: true,
        ..ruled
    });
    assert!(
        !all.contains("run as root") && !all.contains("cannot read"),
        "{all}"
    );
    assert!(all.contains("were looked into"), "{all}");
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
        ..ExeState::default()
    };
    let f = findings(&snapshot("127.0.0.1", 8011, vec![gone.clone()], true));
    assert!(f.contains(&("deleted-executable", Severity::High)));
    assert!(!f.iter().any(|x| x.0 == "restart-pending"));
    let said = |p: Process| {
        full(&snapshot("127.0.0.1", 8011, vec![p], true))
            .into_iter()
            .find(|x| x.id == "deleted-executable")
            .expect("deleted-executable")
            .message
    };
    assert!(said(gone.clone()).contains("nothing stands at its path now"));
    // Looked up, and the lookup failed: not known, and why.
    let mut unlooked = gone.clone();
    for (errno, why) in [
        (40, "a directory on the way to it is a symbolic link now"),
        (
            13,
            "this user may not search a directory on the way to it (EACCES)",
        ),
        (18, "(errno 18)"),
        (110, "the lookup did not answer within 1 s (ETIMEDOUT)"),
    ] {
        unlooked.exe_state.path_lookup_failed = Some(errno);
        let message = said(unlooked.clone());
        assert!(!message.contains("nothing stands"), "{message}");
        assert!(
            message.contains("; what stands at its path now could not be looked at: ")
                && message.contains(why),
            "{message}"
        );
    }
    // Judged by the kernel's mark alone: the path was not looked at, so nothing is said of it.
    gone.exe_state.path_unchecked = true;
    let message = said(gone.clone());
    assert!(!message.contains("nothing stands"), "{message}");
    assert!(message.contains("was not looked at"), "{message}");
    assert!(message.contains("may not answer"), "{message}");
    // In another mount namespace whose root could not be used: said so, and nothing else.
    let mut elsewhere = gone.clone();
    elsewhere.exe_state.other_mount_ns = true;
    let message = said(elsewhere.clone());
    assert!(
        message.contains("not looked at (it runs in another mount namespace"),
        "{message}"
    );
    assert!(!message.contains("may not answer"), "{message}");
    // Something mounted over its mount namespace's link or root: said so, not "another
    // mount namespace" (which was not established).
    let mut covered = elsewhere.clone();
    covered.exe_state.proc_covered = Some("root");
    let message = said(covered);
    assert!(
        message.contains(&format!(
            "not looked at (something is mounted over /proc/{}/root, which whoport does not \
             read through)",
            gone.pid
        )),
        "{message}"
    );
    // Mounts changing while its `exe` link was followed: that is said, nothing else.
    let mut unsure = gone.clone();
    unsure.exe_state.path_unchecked = true;
    unsure.exe_state.follow_unsure = Some("exe");
    let message = said(unsure);
    assert!(
        message.contains(&format!(
            "not looked at (whoport could not make sure that nothing was mounted over \
             /proc/{}/exe when it followed it)",
            gone.pid
        )),
        "{message}"
    );
    elsewhere.exe = None;
    elsewhere.exe_state.path_too_long = true;
    let message = said(elsewhere);
    assert!(message.contains("another mount namespace"), "{message}");
    // A path longer than the kernel gives: said not read, not an empty pair of parentheses.
    gone.exe = None;
    gone.exe_state.path_too_long = true;
    let message = said(gone.clone());
    assert!(
        message.contains("longer than the kernel gives"),
        "{message}"
    );
    // Its path read from the mapping of its code, and looked at: nothing stands there.
    gone.exe_state.path_unchecked = false;
    let message = said(gone.clone());
    assert!(
        message.contains("so not shown), and nothing stands at its path now"),
        "{message}"
    );
    // Upgraded is not deleted: another file at the path is a pending restart, for every
    // process that runs the old one.
    let mut upgraded = vec![process(3, "nginx", 0), process(4, "nginx", 33)];
    upgraded[1].parent_pid = Some(3);
    for p in &mut upgraded {
        p.exe_state = ExeState {
            deleted: true,
            replaced: true,
            replaced_owner: Some(0),
            replaced_root_only: true,
            ..ExeState::default()
        };
    }
    let snap = snapshot("127.0.0.1", 8011, upgraded, true);
    let f = full(&snap);
    let pending: Vec<&Finding> = f.iter().filter(|x| x.id == "restart-pending").collect();
    assert_eq!(pending.len(), 1, "{f:?}");
    assert_eq!(pending[0].severity, Severity::Low);
    assert!(pending[0].message.contains("pid 3 parent") && pending[0].message.contains("4 child"));
    assert!(pending[0].hint.contains("restart the service"));
    assert!(!f.iter().any(|x| x.id == "deleted-executable"));
    // A different file any user may have put there proves nothing: still deleted, and whose
    // the file standing there is, and why it is not an upgrade.
    let replaced = |exe: Option<&str>, owner: Option<u32>, root_only: bool| {
        let mut p = process(6, "daemon", 65534);
        p.exe = exe.map(str::to_string);
        p.exe_state = ExeState {
            deleted: true,
            replaced: true,
            replaced_owner: owner,
            replaced_root_only: root_only,
            path_too_long: exe.is_none(),
            ..ExeState::default()
        };
        let f = full(&snapshot("127.0.0.1", 8011, vec![p], true));
        assert!(!f.iter().any(|x| x.id == "restart-pending"), "{f:?}");
        let d = f
            .iter()
            .find(|x| x.id == "deleted-executable")
            .expect("deleted");
        assert_eq!(d.severity, Severity::High);
        assert!(!d.message.contains("nothing stands"), "{}", d.message);
        d.message.clone()
    };
    let m = replaced(Some("/tmp/d/implant"), Some(65534), false);
    assert!(
        m.contains(
            "(/tmp/d/implant); a different file stands at its path now, owned by uid \
                    65534, and is not known to be an upgrade, as its path is outside the system's \
                    directories (/usr, /bin, /sbin, /lib, /lib64)"
        ),
        "{m}"
    );
    // (Root's file in a directory of root's alone, outside the system's: still not known.)
    let m = replaced(Some("/opt/d/implant"), Some(0), true);
    assert!(m.contains("owned by uid 0, and is not known"), "{m}");
    let m = replaced(Some("/usr/local/bin/implant"), Some(0), false);
    assert!(
        m.contains("as a user other than root may write that file or a directory on the way"),
        "{m}"
    );
    let m = replaced(Some("/usr/local/bin/implant"), None, false);
    assert!(m.contains("now, whose owner could not be read, and"), "{m}");
    // Its path longer than the kernel gives: not read, so never a system path.
    let m = replaced(None, Some(0), true);
    assert!(
        m.contains("(its path is longer than the kernel gives, so not shown); a different file"),
        "{m}"
    );
    assert!(m.contains("as its path was not read"), "{m}");
    let mut memfd = process(5, "x", 1000);
    memfd.exe_state = ExeState {
        deleted: true,
        memory_only: true,
        ..ExeState::default()
    };
    assert!(findings(&snapshot("127.0.0.1", 8011, vec![memfd], true))
        .contains(&("deleted-executable", Severity::High)));
    assert!(findings(&snapshot("127.0.0.1", 8011, vec![], false))
        .contains(&("hidden-owner", Severity::Info)));
    assert!(findings(&snapshot("127.0.0.1", 8011, vec![], true))
        .contains(&("hidden-owner", Severity::Medium)));
}
