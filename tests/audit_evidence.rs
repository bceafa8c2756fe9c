//! What the audit infers about a listener's owners, staged for real in a network namespace of
//! the test's own: a file put at the path of a deleted executable, a root process with an
//! unprivileged child holding its socket, a process whose threads do not share its
//! credentials or that holds root's capabilities under another uid. Each judged with both
//! owner lookups.

mod common;

use std::time::Duration;

use common::listener::LISTEN_AND_SIGNAL;
use common::{have, tempdir};
use serde_json::Value;

/// How long a script that starts a listener and runs whoport four times may take.
const SCRIPT_LIMIT: Duration = Duration::from_secs(240);

/// Findings with this id about this port.
fn findings<'a>(doc: &'a Value, id: &str, port: u16) -> Vec<&'a Value> {
    doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["id"] == id && f["listener"]["port"] == port)
        .collect()
}

fn one<'a>(doc: &'a Value, id: &str, port: u16) -> &'a Value {
    let all = findings(doc, id, port);
    assert_eq!(all.len(), 1, "one {id} on {port}: {doc:#}");
    all[0]
}

/// Runs `stage` (shell, in a private network namespace with loopback up, `$D` the test's
/// directory, which every user may enter) and then `whoport audit --json` and `whoport PORT
/// --json` with each owner lookup; the documents by lookup (`procfs`, `default`): (audit,
/// card). `stage` starts the listener in the background (its output to a file), sets `pid` to its
/// process (killed at the end), and waits until it listens. `None` without root or the tools.
fn staged(dir: &std::path::Path, port: u16, stage: &str) -> Option<Vec<(String, Value, Value)>> {
    if !common::root_or_skip("a listener staged in a private network namespace") {
        return None;
    }
    // (The system's interpreter: every user may read its files.)
    if !std::path::Path::new("/usr/bin/python3").exists() {
        eprintln!("SKIPPED: /usr/bin/python3 (apt-get install -y python3)");
        return None;
    }
    for (program, package) in [("unshare", "util-linux"), ("setpriv", "util-linux")] {
        if !have(program, &format!("apt-get install -y {package}")) {
            return None;
        }
    }
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    std::fs::write(
        dir.join("listen.py"),
        LISTEN_AND_SIGNAL.replace("127.0.0.1", "0.0.0.0"),
    )
    .expect("listen.py");
    let d = dir.display();
    let script = format!(
        r#"exec unshare -n sh -c '
set -e
ip link set lo up
D={d}; PY=$(readlink -f /usr/bin/python3)
pid=; trap "kill \$pid 2>/dev/null" EXIT
{stage}
for lookup in procfs default; do
  [ $lookup = procfs ] && export WHOPORT_OWNER_LOOKUP=procfs || export WHOPORT_OWNER_LOOKUP="$DEFAULT"
  "$WHOPORT" audit --json >$D/audit.$lookup.json || true
  "$WHOPORT" {port} --json >$D/card.$lookup.json || true
done
'"#,
    );
    let (status, _, err) = common::sh_within(
        &format!("DEFAULT=$WHOPORT_OWNER_LOOKUP; export DEFAULT; {script}"),
        SCRIPT_LIMIT,
    );
    assert_eq!(status, 0, "{err}");
    let read = |name: String| -> Value {
        let text = std::fs::read_to_string(dir.join(&name)).unwrap_or_default();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}: {text}"))
    };
    Some(
        ["procfs", "default"]
            .iter()
            .map(|l| {
                (
                    l.to_string(),
                    read(format!("audit.{l}.json")),
                    read(format!("card.{l}.json")),
                )
            })
            .collect(),
    )
}

/// `nobody` deletes the copy of the interpreter its listener runs from, in a directory of its
/// own, then copies another program to that path: the path holds a different file, which no
/// package manager put there. It stays a deleted executable (high), with whose the new file
/// is, never "a package upgrade?" (`restart-pending`, low).
#[test]
fn a_file_any_user_put_at_a_deleted_executables_path_is_no_upgrade() {
    let dir = tempdir();
    let port = 43601;
    let stage = format!(
        "mkdir $D/own; cp $PY $D/own/implant; chown -R nobody $D/own
as_nobody() {{ setpriv --reuid=65534 --regid=65534 --clear-groups \"$@\"; }}
setpriv --reuid=65534 --regid=65534 --clear-groups $D/own/implant $D/listen.py {port} $D/own/ready >$D/log 2>&1 & pid=$!
i=0; until [ -e $D/own/ready ]; do i=$((i+1)); [ $i -lt 300 ]; sleep 0.1; done
as_nobody rm $D/own/implant
as_nobody cp /bin/true $D/own/implant"
    );
    let Some(docs) = staged(dir.path(), port, &stage) else {
        return;
    };
    for (lookup, audit, card) in docs {
        assert!(
            findings(&audit, "restart-pending", port).is_empty(),
            "{lookup}: {audit:#}"
        );
        let f = one(&audit, "deleted-executable", port);
        assert_eq!(f["severity"], "high", "{lookup}");
        let m = f["message"].as_str().expect("message");
        assert!(
            m.contains(
                "/own/implant); a different file stands at its path now, owned by uid 65534, \
                 and is not known to be an upgrade, as its path is outside the system's \
                 directories"
            ),
            "{lookup}: {m}"
        );
        assert!(!m.contains("upgrade?"), "{lookup}: {m}");
        let owner = &card["listeners"][0]["owners"][0];
        assert_eq!(owner["exe_replaced"], true, "{lookup}: {card:#}");
        assert_eq!(owner["exe_replaced_owner"], 65534, "{lookup}: {card:#}");
    }
}

/// Every text the audit said about `port` with this finding id: the findings' messages, and
/// the reasons folded into another finding (`root-exposed: ...`).
fn said<'a>(doc: &'a Value, id: &str, port: u16) -> Vec<&'a str> {
    let about = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["listener"]["port"] == port);
    about
        .flat_map(|f| {
            let own = (f["id"] == id).then(|| f["message"].as_str().unwrap_or_default());
            let folded = f["reasons"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter_map(|r| r.strip_prefix(id)?.strip_prefix(": "));
            own.into_iter().chain(folded)
        })
        .collect()
}

/// A root process that accepts and serves every connection itself, with a child that dropped
/// to `nobody` and only inherited the socket: no design was established (the child never
/// serves), so it stays `root-exposed`, said as seen, never "the master only binds the port".
#[test]
fn a_root_process_with_an_unprivileged_child_holding_its_socket_stays_root_exposed() {
    let dir = tempdir();
    let port = 43602;
    std::fs::write(
        dir.path().join("serves.py"),
        "import ctypes, os, socket, sys, time\n\
         s = socket.socket(); s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen(5)\n\
         child = os.fork()\n\
         if child == 0:\n    ctypes.CDLL(None).prctl(1, 9)\n    \
         os.setgroups([]); os.setgid(65534); os.setuid(65534)\n    \
         while True: time.sleep(1)\n\
         open(sys.argv[2] + '.child', 'w').write(str(child))\n\
         while 'Uid:\\t65534' not in open('/proc/%d/status' % child).read(): time.sleep(0.05)\n\
         open(sys.argv[2], 'w').close()\n\
         while True:\n    c, a = s.accept(); c.sendall(b'served by uid %d' % os.geteuid()); c.close()\n",
    )
    .expect("serves.py");
    std::fs::write(
        dir.path().join("client.py"),
        "import socket, sys\n\
         print(socket.create_connection(('127.0.0.1', int(sys.argv[1])), 5).recv(99))\n",
    )
    .expect("client.py");
    let stage = format!(
        "cp $PY $D/mydaemon
$D/mydaemon $D/serves.py {port} $D/ready >$D/log 2>&1 & pid=$!
i=0; until [ -e $D/ready ]; do i=$((i+1)); [ $i -lt 300 ]; sleep 0.1; done
pid=\"$pid $(cat $D/ready.child)\"
$PY $D/client.py {port} >$D/client"
    );
    let Some(docs) = staged(dir.path(), port, &stage) else {
        return;
    };
    let client = std::fs::read_to_string(dir.path().join("client")).unwrap_or_default();
    assert!(client.contains("served by uid 0"), "{client}");
    for (lookup, audit, card) in docs {
        let root = said(&audit, "root-exposed", port);
        assert_eq!(root.len(), 1, "{lookup}: {audit:#}");
        assert!(
            root[0].contains("is held as root on all interfaces")
                && root[0].contains("and by unprivileged children (mydaemon (pid ")
                && root[0].contains(
                    "whether the root process serves connections itself was not established"
                ),
            "{lookup}: {}",
            root[0]
        );
        let about: Vec<&Value> = audit["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter(|f| f["listener"]["port"] == port)
            .collect();
        assert!(
            about.iter().all(|f| f["standard_design"].is_null()),
            "{lookup}: {about:#?}"
        );
        // (A copy of the interpreter is a shell-listener too, high, into which root-exposed
        // is folded.)
        assert!(
            about
                .iter()
                .any(|f| f["severity"] == "medium" || f["severity"] == "high"),
            "{lookup}: {about:#?}"
        );
        assert!(
            !audit.to_string().contains("only binds the port"),
            "{lookup}: {audit:#}"
        );
        assert_eq!(card["verdicts"][0]["fine"], false, "{lookup}: {card:#}");
        assert!(
            !card.to_string().contains("root by design"),
            "{lookup}: {card:#}"
        );
    }
}

/// Every message and reason the audit gave about `port`, as one text.
fn all_said(doc: &Value, port: u16) -> String {
    doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["listener"]["port"] == port)
        .map(|f| f.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// A root process whose main thread alone switches to `nobody` (raw `setresuid`, which changes
/// only the calling thread) while a thread that stays root serves the listener.
const ROOT_THREAD: &str = "import ctypes, os, socket, sys, threading, time\n\
     libc = ctypes.CDLL(None, use_errno=True)\n\
     s = socket.socket(); s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen(5)\n\
     def serve():\n    while True:\n        c, a = s.accept(); c.close()\n\
     threading.Thread(target=serve, daemon=True).start()\n\
     assert libc.syscall(119, 65534, 65534, 65534) == 0\n\
     assert libc.syscall(117, 65534, 65534, 65534) == 0\n\
     open(sys.argv[2], 'w').close()\n\
     while True: time.sleep(1)\n";

/// [`ROOT_THREAD`] listening on `port`, in a network and mount namespace of its own, then
/// `then` (shell, with `$pid` the process and `$D` the test's directory, which is `dir`); the
/// script's status and standard error. `None` where the test cannot run here.
fn root_thread_then(dir: &std::path::Path, port: u16, then: &str) -> Option<(i32, String)> {
    if !common::root_or_skip("a private mount namespace") || !common::need("python3") {
        return None;
    }
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    std::fs::write(dir.join("threads.py"), ROOT_THREAD).expect("threads.py");
    let d = dir.display();
    let (status, _, err) = common::sh_within(
        &format!(
            r#"exec unshare -n -m --propagation private sh -c '
set -e
ip link set lo up
D={d}
mkdir $D/own; chown nobody $D/own
/usr/bin/python3 $D/threads.py {port} $D/own/ready >$D/log 2>&1 & pid=$!
trap "kill $pid" EXIT
i=0; until [ -e $D/own/ready ]; do i=$((i+1)); [ $i -lt 300 ]; sleep 0.1; done
{then}
'"#
        ),
        SCRIPT_LIMIT,
    );
    Some((status, err))
}

/// [`ROOT_THREAD`] with a file mounted over its root thread's `/proc/PID/task/TID/status` (in
/// the mount namespace whoport runs in; then a directory over that thread's whole directory;
/// and, with the in-kernel lookup, a directory over its whole `task`): the root thread's uid
/// vanished and the process was "as nobody", with nothing
/// said. The credentials not read are said beside the user, and JSON
/// `thread_credentials_covered` names what is mounted over.
#[test]
fn a_thread_whose_credentials_are_covered_is_said_not_read() {
    let dir = tempdir();
    let port = 43605;
    let Some((status, err)) = root_thread_then(
        dir.path(),
        port,
        &format!(
            r#"tid=$(ls /proc/$pid/task | grep -vx $pid | head -1)
echo $pid $tid >$D/ids
mount --bind /dev/null /proc/$pid/task/$tid/status
for l in procfs bpf; do WHOPORT_OWNER_LOOKUP=$l "$WHOPORT" --json {port} >$D/status.$l.json; done
umount /proc/$pid/task/$tid/status
mount -t tmpfs none /proc/$pid/task/$tid
for l in procfs bpf; do WHOPORT_OWNER_LOOKUP=$l "$WHOPORT" --json {port} >$D/thread.$l.json; done
umount /proc/$pid/task/$tid
mount -t tmpfs none /proc/$pid/task
WHOPORT_OWNER_LOOKUP=bpf "$WHOPORT" --json {port} >$D/task.bpf.json"#
        ),
    ) else {
        return;
    };
    assert_eq!(status, 0, "{err}");
    let ids = std::fs::read_to_string(dir.path().join("ids")).expect("ids");
    let (pid, tid) = ids.trim().split_once(' ').expect("pid and tid");
    for (name, covered) in [
        ("status.procfs", format!("/proc/{pid}/task/{tid}/status")),
        ("status.bpf", format!("/proc/{pid}/task/{tid}/status")),
        ("thread.procfs", format!("/proc/{pid}/task/{tid}")),
        ("thread.bpf", format!("/proc/{pid}/task/{tid}")),
        ("task.bpf", format!("/proc/{pid}/task")),
    ] {
        let text =
            std::fs::read_to_string(dir.path().join(format!("{name}.json"))).unwrap_or_default();
        let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let owner = &doc["listeners"][0]["owners"][0];
        assert_eq!(owner["pid"].to_string(), pid, "{name}: {doc}");
        assert_eq!(
            owner["thread_credentials_covered"], covered,
            "{name}: {doc}"
        );
    }
}

/// A root process whose main thread alone switched to `nobody` (raw `setresuid`, which changes
/// only the calling thread) while the thread that stayed root serves the listener: said
/// beside the user ("as nobody (other threads as uid 0)"), and `root-exposed`; and `--user
/// root` (or `--user 0`) keeps it, as `--user nobody` does (it dropped it).
#[test]
fn a_process_whose_other_threads_act_as_root_is_root_exposed() {
    let dir = tempdir();
    let port = 43603;
    std::fs::write(dir.path().join("threads.py"), ROOT_THREAD).expect("threads.py");
    let stage = format!(
        "cp $PY $D/mydaemon; mkdir $D/own; chown nobody $D/own
$D/mydaemon $D/threads.py {port} $D/own/ready >$D/log 2>&1 & pid=$!
i=0; until [ -e $D/own/ready ]; do i=$((i+1)); [ $i -lt 300 ]; sleep 0.1; done
for u in root 0 nobody; do
  WHOPORT_OWNER_LOOKUP=procfs \"$WHOPORT\" --json --user $u >$D/user.$u.procfs.json || true
  \"$WHOPORT\" --json --user $u >$D/user.$u.default.json || true
done
\"$WHOPORT\" --color never --user root >$D/table.txt || true"
    );
    let Some(docs) = staged(dir.path(), port, &stage) else {
        return;
    };
    for user in ["root", "0", "nobody"] {
        for lookup in ["procfs", "default"] {
            let name = format!("user.{user}.{lookup}.json");
            let text = std::fs::read_to_string(dir.path().join(&name)).unwrap_or_default();
            let doc: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}: {text}"));
            assert!(
                doc["listeners"]
                    .as_array()
                    .expect("listeners")
                    .iter()
                    .any(|l| l["port"] == port),
                "--user {user}, {lookup}: {doc:#}"
            );
        }
    }
    // The listing's user cell says it too.
    let table = std::fs::read_to_string(dir.path().join("table.txt")).unwrap_or_default();
    assert!(
        table
            .lines()
            .any(|l| l.contains(&port.to_string()) && l.contains("nobody (root's powers)")),
        "{table}"
    );
    let json = ("thread_uids", serde_json::json!([0]));
    served_with_roots_powers(&docs, port, "as nobody (other threads as uid 0)", json);
}

/// A listener of uid `nobody` holding root's capabilities as ambient capabilities (what
/// systemd's `AmbientCapabilities=` gives): said beside the user, and `root-exposed`.
#[test]
fn a_process_of_another_uid_with_roots_capabilities_is_root_exposed() {
    let dir = tempdir();
    let port = 43604;
    let caps = "+dac_override,+sys_admin";
    let stage = format!(
        "cp $PY $D/mydaemon; mkdir $D/own; chown nobody $D/own
setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps={caps} --ambient-caps={caps} \
$D/mydaemon $D/listen.py {port} $D/own/ready >$D/log 2>&1 & pid=$!
i=0; until [ -e $D/own/ready ]; do i=$((i+1)); [ $i -lt 300 ]; sleep 0.1; done"
    );
    let Some(docs) = staged(dir.path(), port, &stage) else {
        return;
    };
    served_with_roots_powers(
        &docs,
        port,
        "as nobody (effective capabilities CAP_DAC_OVERRIDE, CAP_SYS_ADMIN)",
        (
            "capabilities",
            serde_json::json!(["CAP_DAC_OVERRIDE", "CAP_SYS_ADMIN"]),
        ),
    );
}

/// A root process that dropped only its effective uid (`seteuid(65534)`: its real and saved
/// uid stay 0, and one `seteuid(0)` makes it root again without privilege): it was "as
/// nobody" and never `root-exposed`. Said beside the user, and `root-exposed`.
#[test]
fn a_process_that_kept_root_as_its_saved_uid_is_root_exposed() {
    let dir = tempdir();
    let port = 43606;
    std::fs::write(
        dir.path().join("seteuid.py"),
        "import os, socket, sys, time\n\
         s = socket.socket(); s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen(5)\n\
         os.setegid(65534); os.seteuid(65534)\n\
         open(sys.argv[2], 'w').close()\n\
         while True: time.sleep(1)\n",
    )
    .expect("seteuid.py");
    let stage = format!(
        "cp $PY $D/mydaemon; mkdir $D/own; chown nobody $D/own
$D/mydaemon $D/seteuid.py {port} $D/own/ready >$D/log 2>&1 & pid=$!
i=0; until [ -e $D/own/ready ]; do i=$((i+1)); [ $i -lt 300 ]; sleep 0.1; done"
    );
    let Some(docs) = staged(dir.path(), port, &stage) else {
        return;
    };
    let json = ("root_kept", serde_json::json!(true));
    served_with_roots_powers(
        &docs,
        port,
        "as nobody (real, saved or filesystem uid 0: may act as root)",
        json,
    );
}

/// With each owner lookup: the audit and the card say `who` beside the owner, the card's JSON
/// gives the owner the `field` and value, and the audit finds `port` root-exposed, served with
/// root's powers.
fn served_with_roots_powers(
    docs: &[(String, Value, Value)],
    port: u16,
    who: &str,
    field: (&str, Value),
) {
    for (lookup, audit, card) in docs {
        let owner = &card["listeners"][0]["owners"][0];
        assert_eq!(owner[field.0], field.1, "{lookup}: {owner:#}");
        let text = all_said(audit, port);
        assert!(text.contains(who), "{lookup}: {text}");
        let root = said(audit, "root-exposed", port);
        assert!(
            root.iter()
                .any(|r| r.contains("is served with root's powers")),
            "{lookup}: {text}"
        );
        assert!(card.to_string().contains(who), "{lookup}: {card:#}");
    }
}

/// A root process whose main thread and its first 1,100 other threads switched to `nobody`
/// (raw `setresuid`), while the thread made last, beyond the threads whoport reads, stays
/// root. `--user root` cannot tell whether that process serves as root: it leaves the
/// listener out, and says so, naming the process and why; `--user nobody` keeps it.
#[test]
fn a_user_filter_says_which_processes_threads_it_could_not_all_read() {
    let dir = tempdir();
    let port = 43607;
    std::fs::write(
        dir.path().join("many.py"),
        "import ctypes, socket, sys, threading, time\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         s = socket.socket(); s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen(5)\n\
         threading.stack_size(65536)\n\
         def drop():\n    assert libc.syscall(119, 65534, 65534, 65534) == 0\n\
         \x20   assert libc.syscall(117, 65534, 65534, 65534) == 0\n\
         \x20   time.sleep(3600)\n\
         for _ in range(1100):\n    threading.Thread(target=drop, daemon=True).start()\n\
         threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()\n\
         time.sleep(1)\n\
         assert libc.syscall(119, 65534, 65534, 65534) == 0\n\
         assert libc.syscall(117, 65534, 65534, 65534) == 0\n\
         open(sys.argv[2], 'w').close()\n\
         while True: time.sleep(1)\n",
    )
    .expect("many.py");
    let stage = format!(
        "cp $PY $D/mydaemon; mkdir $D/own; chown nobody $D/own
$D/mydaemon $D/many.py {port} $D/own/ready >$D/log 2>&1 & pid=$!
i=0; until [ -e $D/own/ready ]; do i=$((i+1)); [ $i -lt 300 ]; sleep 0.1; done
echo $pid >$D/pid
for u in root nobody; do
  for lookup in procfs bpf; do
    WHOPORT_OWNER_LOOKUP=$lookup \"$WHOPORT\" --json --user $u >$D/user.$u.$lookup.json || true
  done
done"
    );
    if staged(dir.path(), port, &stage).is_none() {
        return;
    }
    let pid = std::fs::read_to_string(dir.path().join("pid")).expect("pid");
    let said = format!(
        "--user root may leave out listeners of processes whose threads' credentials were not \
         all read, one of which may act as that user: pid {} (mydaemon): only 1024 of its \
         other threads were read",
        pid.trim()
    );
    user_filter_said(dir.path(), port, ("root", "nobody"), &said);
}

/// [`ROOT_THREAD`] (its main thread `nobody`, another thread root) with a file mounted over
/// its `/proc/PID/status` (in the mount namespace whoport runs in): its user is not read, so
/// `--user nobody` judged the listener by the socket's own uid (root's, which made it) and
/// left it out with nothing said. It still leaves it out, and says the process's user was not
/// read; `--user root`, which the socket's uid matches, keeps it without a note.
#[test]
fn a_user_filter_says_which_owners_user_it_could_not_read() {
    let dir = tempdir();
    let port = 43608;
    let Some((status, err)) = root_thread_then(
        dir.path(),
        port,
        r#"echo $pid >$D/pid
mount --bind /dev/null /proc/$pid/status
for l in procfs bpf; do for u in nobody root; do
  WHOPORT_OWNER_LOOKUP=$l "$WHOPORT" --json --user $u >$D/user.$u.$l.json || true
done; done"#,
    ) else {
        return;
    };
    assert_eq!(status, 0, "{err}");
    let pid = std::fs::read_to_string(dir.path().join("pid")).expect("pid");
    let said = format!(
        "--user nobody may leave out listeners of processes whose threads' credentials were not \
         all read, one of which may act as that user: pid {pid} ([/proc/{pid}/status covered by \
         a mount]): its user was not read",
        pid = pid.trim()
    );
    user_filter_said(dir.path(), port, ("nobody", "root"), &said);
}

/// With each owner lookup (`user.USER.LOOKUP.json` in `dir`): `--user left_out` leaves the
/// listener on `port` out and says `said` in a note; `--user kept` keeps it, with no such note.
fn user_filter_said(dir: &std::path::Path, port: u16, (left_out, kept): (&str, &str), said: &str) {
    for lookup in ["procfs", "bpf"] {
        let doc = |user: &str| -> Value {
            let name = format!("user.{user}.{lookup}.json");
            let text = std::fs::read_to_string(dir.join(&name)).unwrap_or_default();
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}: {text}"))
        };
        let ours = |doc: &Value| {
            doc["listeners"]
                .as_array()
                .expect("listeners")
                .iter()
                .any(|l| l["port"] == port)
        };
        let (out, kept) = (doc(left_out), doc(kept));
        assert!(!ours(&out), "{lookup}: {out:#}");
        let notes = out["notes"].as_array().expect("notes");
        assert!(
            notes.iter().any(|n| n == &Value::from(said)),
            "{lookup}: {said}: {notes:#?}"
        );
        assert!(ours(&kept), "{lookup}: {kept:#}");
        assert!(
            !kept.to_string().contains("may leave out"),
            "{lookup}: {kept:#}"
        );
    }
}
