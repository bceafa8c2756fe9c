//! Processes whose descriptors were not read, for different causes in one run: each is named
//! beside the cause established for it (the reason, the audit's fix), never one cause over
//! every PID; and a note on tables the walk left unread says what the kernel read after it.

mod common;

use std::process::{Command, Stdio};

use common::listener::{python, rows, Listener};
use common::netns::{in_private_mount_ns, NetNs};
use common::{have, root_or_skip, tempdir};
use serde_json::Value;

/// Drops CAP_SYS_PTRACE from what it runs, as root.
const WITHOUT_PTRACE: [&str; 3] = [
    "setpriv",
    "--inh-caps=-sys_ptrace",
    "--bounding-set=-sys_ptrace",
];

/// whoport in `ns` as root without CAP_SYS_PTRACE (other users' descriptors are refused to
/// it), with `env` set, `args`; its JSON.
fn without_ptrace(ns: &NetNs, env: (&str, &str), args: &[&str]) -> Value {
    let home = tempdir();
    let (status, stdout, stderr) = ns.whoport_wrapped(home.path(), &[env], &WITHOUT_PTRACE, args);
    assert!(status == 0 || status == 1, "({status}) {stderr}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// How often `pid` stands in `text` as a number of its own.
fn mentions(text: &str, pid: u32) -> usize {
    let pid = pid.to_string();
    text.match_indices(&pid)
        .filter(|(at, _)| {
            let before = text[..*at].chars().next_back();
            let after = text[at + pid.len()..].chars().next();
            !before.is_some_and(|c| c.is_ascii_digit())
                && !after.is_some_and(|c| c.is_ascii_digit())
        })
        .count()
}

/// Root, `unshare`, an interpreter for `listen.py` and a network namespace of the test's own,
/// for a test that mounts over a listener's `/proc` entries (`why`); `None` after a SKIPPED
/// line otherwise.
fn mounts_over_proc_or_skip(why: &str) -> Option<(std::path::PathBuf, NetNs)> {
    if !root_or_skip(why) || !have("unshare", "apt-get install -y util-linux") {
        return None;
    }
    let python = python()?;
    Some((python, NetNs::new()?))
}

/// Root without CAP_SYS_PTRACE: a process of nobody's is refused to it; root's own process
/// whose 100 threads each took a copy of its table, the last one's alone holding a listener,
/// is cut by the walk's bound on threads' tables (64 a process). The walk's reason for that
/// listener and the audit's fix name root's process beside its own cause only; where the
/// kernel may be asked, it reads those tables and names the holder, and the note on the tables
/// the walk left unread says so; the iterator names it with no such note.
#[test]
fn each_process_not_read_is_named_beside_its_own_cause() {
    if !root_or_skip("a process refused to root beside one the walk does not read whole")
        || !have("setpriv", "apt-get install -y util-linux")
    {
        return;
    }
    let Some(python) = python() else {
        return;
    };
    // A network namespace of its own: the audit judges only this test's sockets (the
    // machine's, most of them without an owner to root without CAP_SYS_PTRACE, would make it
    // take longer than a run may).
    let Some(ns) = NetNs::new() else {
        return;
    };
    let mut refused = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "sleep",
            "120",
        ])
        .stdin(Stdio::null())
        .spawn()
        .expect("sleep as nobody");
    // Root's, with no more capabilities than whoport: readable to it.
    let mut cmd = ns.command(std::path::Path::new("setpriv"));
    cmd.args(&WITHOUT_PTRACE[1..])
        .arg(&python)
        .arg(common::fixture("listen.py"))
        .args(["--copied-tables", "100", "tcp4"]);
    let threads = Listener::start_command(cmd);
    let last = threads.sockets[1].clone();
    let port = last.port.to_string();
    let walked = without_ptrace(&ns, ("WHOPORT_NO_BPF", "1"), &["--json", &port]);
    let audit = without_ptrace(&ns, ("WHOPORT_NO_BPF", "1"), &["audit", "--json"]);
    let btf = std::path::Path::new("/sys/kernel/btf/vmlinux").exists();
    let kernel = btf.then(|| {
        [
            without_ptrace(&ns, ("WHOPORT_OWNER_LOOKUP", "procfs"), &["--json", &port]),
            without_ptrace(&ns, ("WHOPORT_OWNER_LOOKUP", "bpf"), &["--json", &port]),
        ]
    });
    let _ = refused.kill();
    let _ = refused.wait();
    let pid = threads.pid;
    drop(threads);
    let row = rows(&walked, &last);
    assert_eq!(row.len(), 1, "{walked}");
    let reason = row[0]["owner_hidden_reason"].to_string();
    assert!(
        reason.contains(&format!(
            "; PID {pid}: the descriptor tables of 37 of its threads were not read (whoport \
             reads at most 64"
        )),
        "{reason}"
    );
    assert!(
        reason.contains(": whoport lacks CAP_SYS_PTRACE or CAP_DAC_READ_SEARCH"),
        "{reason}"
    );
    assert_eq!(mentions(&reason, pid), 1, "{reason}");
    let hint = audit["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == "hidden-owner" && f["listener"]["port"] == last.port)
        .map(|f| f["hint"].to_string())
        .unwrap_or_else(|| panic!("{audit}"));
    // A process of the machine's with an io_uring whoport could not look into (another
    // program's) makes the fix about it first, established before the processes not read.
    if hint.contains("io_uring instance") {
        eprintln!("SKIPPED the audit's fix: another process's io_uring comes first: {hint}");
    } else {
        assert!(
            hint.contains(&format!("the descriptors of PID {pid} were not all read"))
                && hint.contains("root could not read the descriptors of"),
            "{hint}"
        );
        assert_eq!(mentions(&hint, pid), 1, "{hint}");
    }
    let Some([asked, iterator]) = kernel else {
        eprintln!("SKIPPED the kernel's lookups: the kernel has no BTF");
        return;
    };
    let cut = format!("pid {pid}: the descriptor tables of 37 of its threads were not read");
    for (doc, what) in [
        (&asked, "the walk, the kernel asked"),
        (&iterator, "the iterator"),
    ] {
        let row = rows(doc, &last);
        assert_eq!(row.len(), 1, "{what}: {doc}");
        assert_eq!(
            common::listener::owner_pids(row[0]),
            [u64::from(pid)],
            "{what}: {doc}"
        );
    }
    let notes = asked["notes"].to_string();
    assert!(
        notes.contains(&cut)
            && notes.contains("; the kernel read them for every socket whoport looked at"),
        "{notes}"
    );
    let notes = iterator["notes"].to_string();
    assert!(!notes.contains(&cut), "{notes}");
}

/// How many processes the note on refused descriptors counts ("the descriptors of N processes
/// could not be read (permission)"), 0 without that note.
fn refused_count(doc: &Value) -> usize {
    doc["notes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|n| n.ends_with("could not be read (permission)"))
        .filter_map(|n| n.strip_prefix("the descriptors of "))
        .filter_map(|rest| rest.split(' ').next()?.parse().ok())
        .next()
        .unwrap_or(0)
}

/// As root with the walk alone (`WHOPORT_NO_BPF=1`, so that the kernel does not read the table
/// for it), a process whose `/proc/PID` another directory is mounted over (a tmpfs, in a mount
/// namespace of the run's own) holds a listener. Its descriptors are said not read because of
/// that mount, named; they are not counted among those refused ("(permission)", which running
/// as root would mend), which are only the processes refusing root. And the note on memory
/// mappings not read says that a directory covers its `/proc/PID`, not that a file is mounted
/// over its `maps`.
#[test]
fn a_process_hidden_by_a_mount_is_not_counted_among_those_refused() {
    let Some((python, ns)) = mounts_over_proc_or_skip("a mount over a listener's /proc directory")
    else {
        return;
    };
    let mut cmd = ns.command(&python);
    cmd.arg(common::fixture("listen.py")).arg("tcp4");
    let hidden = Listener::start_command(cmd);
    let (pid, socket) = (hidden.pid, hidden.sockets[0].clone());
    let home = tempdir();
    let walk = [("WHOPORT_NO_BPF", "1")];
    let run = |wrapper: &[&str]| -> Value {
        let (status, out, err) = ns.whoport_wrapped(home.path(), &walk, wrapper, &["--json"]);
        assert!(status == 0 || status == 1, "({status}) {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"))
    };
    let plain = run(&[]);
    let mount = format!("mount -t tmpfs whoport-unread /proc/{pid} && exec \"$0\" \"$@\"");
    let covered = run(&in_private_mount_ns(&mount));
    // The table's few words say its maps were not read, never that they did not answer (no
    // read waited: a mount covers them).
    let (status, table, err) = ns.whoport_wrapped(
        home.path(),
        &[walk[0], ("COLUMNS", "400")],
        &in_private_mount_ns(&mount),
        &["--wide"],
    );
    assert!(status == 0 || status == 1, "({status}) {err}");
    assert!(
        table.contains("perhaps mapped by a process whose maps whoport could not read"),
        "{table}"
    );
    assert!(!table.contains("did not answer"), "{table}");
    drop(hidden);
    let row = rows(&plain, &socket);
    assert_eq!(row.len(), 1, "{plain}");
    assert_eq!(
        common::listener::owner_pids(row[0]),
        [u64::from(pid)],
        "{plain}"
    );
    let row = rows(&covered, &socket);
    assert_eq!(row.len(), 1, "{covered}");
    assert!(
        row[0]["owners"].as_array().is_some_and(Vec::is_empty),
        "{covered}"
    );
    let notes: Vec<&str> = covered["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let dir = format!("a directory is mounted over /proc/{pid} (a way to hide a process)");
    assert!(
        notes.iter().any(
            |n| n.starts_with("the descriptors of 1 process could not be read: ")
                && n.contains(&dir)
        ),
        "{notes:?}"
    );
    assert!(
        notes.iter().any(|n| n.starts_with(&dir)
            && n.ends_with("a socket held only through a memory mapping there is not found")),
        "{notes:?}"
    );
    assert!(
        !notes
            .iter()
            .any(|n| n.contains(&format!("/proc/{pid}/maps"))),
        "{notes:?}"
    );
    // (Counted after the run: a process closed to root stays so.)
    assert_eq!(refused_count(&covered), refused_to_root(), "{notes:?}");
}

/// How many processes' descriptors `/proc` keeps from root (a microVM's init's).
fn refused_to_root() -> usize {
    common::pids()
        .into_iter()
        .filter(|&pid| common::closed_to_root(pid))
        .count()
}

/// A listener shared by a process and its forked child, the child's `/proc/PID` covered by a
/// mount (a tmpfs, in a mount namespace of the run's own), asked about by its port alone: no
/// socket of the query is then without an owner. The in-kernel lookup names both; the walk,
/// where it may ask the kernel, has it read every table for that socket and names both too
/// (before, it named the parent only and said nothing of the child); the walk alone names the
/// parent and notes that the child's descriptors could not be read, with the mount.
#[test]
fn a_process_hidden_by_a_mount_beside_a_seen_holder_is_named_or_noted() {
    let Some((python, ns)) =
        mounts_over_proc_or_skip("a mount over a listener's child's /proc directory")
    else {
        return;
    };
    let mut cmd = ns.command(&python);
    cmd.arg(common::fixture("listen.py"))
        .args(["--fork", "tcp4"]);
    let shared = Listener::start_command(cmd);
    let (parent, child) = (shared.pid, shared.children[0]);
    let socket = shared.sockets[0].clone();
    let port = socket.port.to_string();
    let home = tempdir();
    let mount = format!("mount -t tmpfs whoport-unread /proc/{child} && exec \"$0\" \"$@\"");
    let hidden = in_private_mount_ns(&mount);
    let run = |env: (&str, &str)| -> Value {
        let (status, out, err) =
            ns.whoport_wrapped(home.path(), &[env], &hidden, &["--json", &port]);
        assert!(status == 0, "({status}) {out}{err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"))
    };
    let both = vec![u64::from(parent), u64::from(child)];
    let btf = std::path::Path::new("/sys/kernel/btf/vmlinux").exists();
    if btf {
        for lookup in ["bpf", "procfs"] {
            let doc = run(("WHOPORT_OWNER_LOOKUP", lookup));
            let row = rows(&doc, &socket);
            assert_eq!(row.len(), 1, "{lookup}: {doc}");
            let mut owners = common::listener::owner_pids(row[0]);
            owners.sort_unstable();
            assert_eq!(owners, both, "{lookup}: {doc}");
            assert!(
                !doc["notes"].to_string().contains("mounted over"),
                "{lookup}: {doc}"
            );
        }
    } else {
        eprintln!("SKIPPED the kernel's lookups: the kernel has no BTF");
    }
    let doc = run(("WHOPORT_NO_BPF", "1"));
    let row = rows(&doc, &socket);
    assert_eq!(row.len(), 1, "{doc}");
    assert_eq!(
        common::listener::owner_pids(row[0]),
        [u64::from(parent)],
        "{doc}"
    );
    let note = format!(
        "the descriptors of 1 process could not be read: a directory is mounted over /proc/{child} \
         (a way to hide a process)"
    );
    assert!(doc["notes"].to_string().contains(&note), "{doc}");
    drop(shared);
}

/// Ten forked children named `wpevil` share their parent's (`python3`'s) listener, each
/// child's `/proc/PID` covered by a mount: whether the listener is `wpevil`'s is unknown.
/// With the walk alone, `--process wpevil` says the children's descriptors could not be read,
/// nor their names (before, it said nothing matched: a name not read matched no name); with
/// each lookup that names them from the kernel, the listener is kept as possibly theirs, the
/// reason naming the first eight and counting the rest, also beside `--user nobody` (whose
/// user is not known of them either).
#[test]
fn processes_hidden_by_a_mount_may_be_the_process_asked_for_by_name() {
    let Some((python, ns)) =
        mounts_over_proc_or_skip("mounts over a listener's children's /proc directories")
    else {
        return;
    };
    let mut cmd = ns.command(&python);
    cmd.arg(common::fixture("listen.py")).args([
        "--forks",
        "10",
        "--child-comm-hex",
        "77706576696c",
        "tcp4",
    ]);
    let shared = Listener::start_command(cmd);
    let children = shared.children.clone();
    let socket = shared.sockets[0].clone();
    let endpoint = format!("127.0.0.1:{}", socket.port);
    // (Each child names itself once forked.)
    let named = |pid: &u32| {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "wpevil")
    };
    let start = std::time::Instant::now();
    while !children.iter().all(named) && start.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        children.iter().all(named),
        "children {children:?} named wpevil"
    );
    let home = tempdir();
    let pids: Vec<String> = children.iter().map(u32::to_string).collect();
    let mount = format!(
        "for c in {}; do mount -t tmpfs whoport-unread /proc/$c || exit 9; done; exec \"$0\" \"$@\"",
        pids.join(" ")
    );
    let hidden = in_private_mount_ns(&mount);
    let run = |env: (&str, &str), args: &[&str]| -> (i32, String) {
        let (status, out, err) = ns.whoport_wrapped(home.path(), &[env], &hidden, args);
        assert!(status == 0 || status == 1, "({status}) {out}{err}");
        (status, out)
    };
    let json = |env: (&str, &str), args: &[&str]| -> Value {
        let (_, out) = run(env, args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    };
    let walk = ("WHOPORT_NO_BPF", "1");
    let doc = json(walk, &["--json", "--process", "wpevil"]);
    assert!(rows(&doc, &socket).is_empty(), "{doc}");
    assert_eq!(doc["asked_unread"]["count"], 10, "{doc}");
    assert!(
        doc["notes"].to_string().contains(
            "the descriptors of 10 processes whose names could not be read (any may contain \
             'wpevil')"
        ),
        "{doc}"
    );
    let (status, text) = run(walk, &["--process", "wpevil"]);
    assert_eq!(status, 1, "{text}");
    assert!(!text.contains("No listening sockets match"), "{text}");
    assert!(
        text.contains("but the descriptors of 10 processes asked for could not be read"),
        "{text}"
    );
    if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
        eprintln!("SKIPPED the kernel's lookups: the kernel has no BTF");
        return;
    }
    let mut sorted = children.clone();
    sorted.sort_unstable();
    let first: Vec<String> = sorted
        .iter()
        .take(8)
        .map(|pid| format!("pid {pid} [/proc/{pid} covered by a mount]"))
        .collect();
    let reason = format!(
        "held by {}, 2 more, whose names could not be read",
        first.join(", ")
    );
    for lookup in ["bpf", "procfs"] {
        for args in [
            vec!["--json", "--process", "wpevil"],
            vec!["--json", "--process", "wpevil", "--user", "nobody"],
        ] {
            let doc = json(("WHOPORT_OWNER_LOOKUP", lookup), &args);
            let case = format!("{lookup} {args:?}: {doc}");
            assert!(rows(&doc, &socket).is_empty(), "{case}");
            let kept: Vec<&Value> = doc["unattributed"]
                .as_array()
                .expect("unattributed")
                .iter()
                .filter(|u| u["endpoint"] == endpoint.as_str())
                .collect();
            assert_eq!(kept.len(), 1, "{case}");
            assert_eq!(kept[0]["reason"], reason.as_str(), "{case}");
        }
    }
    drop(shared);
}
