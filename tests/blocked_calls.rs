//! A socket said held by a system call in progress (a thread asleep on its wait queue) only
//! when that is established: not from another PID namespace's numbers, not when a descriptor
//! table whoport could not read holds it, and its descriptor said closed only when the
//! process's table shows it closed. Real sockets and processes; as root (the wait queues are
//! read in the kernel).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::listener::python;
use common::{have, tempdir};
use serde_json::Value;

/// A helper killed and reaped when dropped, also when an assertion fails.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TCP (or, with "udp", UDP) socket on 127.0.0.1 port 0, a thread of the helper asleep in
/// accept() (recv()) on it; with "close", its descriptor is then closed; with "reuse", closed
/// and its number taken at once by a new socket of the same kind. Prints "ready PID TID FD
/// PORT NEWFD".
const SLEEPER: &str = r#"
import os, socket, sys, threading, time
kind, mode = sys.argv[1], sys.argv[2]
family = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
def bound():
    s = socket.socket(socket.AF_INET, family)
    s.bind(("127.0.0.1", 0))
    if kind == "tcp":
        s.listen(8)
    return s
s = bound()
fd, port = s.fileno(), s.getsockname()[1]
# Numbers as /proc shows them (the host's, in a PID namespace of its own without its /proc).
pid = os.readlink("/proc/self")
tids = []
def sleeper():
    tids.append(os.readlink("/proc/thread-self").split("/")[-1])
    s.recv(16) if kind == "udp" else s.accept()
threading.Thread(target=sleeper, daemon=True).start()
deadline = time.time() + 30
while True:
    if tids:
        with open("/proc/%s/task/%s/syscall" % (pid, tids[0])) as f:
            fields = f.read().split()
        if len(fields) > 1 and fields[0] != "running" and int(fields[1], 16) == fd:
            break
    if time.time() > deadline:
        sys.exit("the thread never slept on its socket")
    time.sleep(0.01)
newfd = -1
if mode in ("close", "reuse"):
    s.detach()
    os.close(fd)
if mode == "reuse":
    n = bound()
    newfd = n.fileno()
print("ready", pid, tids[0], fd, port, newfd, flush=True)
time.sleep(600)
"#;

/// The sleeper started (as `user` when given; `mode` "keep", "close" or "reuse"): (guard,
/// pid, tid, fd, port, new fd).
fn sleeper(kind: &str, mode: &str, user: Option<&str>) -> (KillOnDrop, u32, u32, u32, u16, i64) {
    let py = python().expect("python3");
    let mut cmd = match user {
        Some(u) => {
            let mut c = Command::new("setpriv");
            c.args([&format!("--reuid={u}"), "--regid=nogroup", "--clear-groups"])
                .arg(&py);
            c
        }
        None => Command::new(&py),
    };
    let mut child = cmd
        .args(["-c", SLEEPER, kind, mode])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let line = common::ready_line(&mut child, Duration::from_secs(60));
    let guard = KillOnDrop(child);
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(f.len(), 6, "ready line: {line:?}");
    let n = |i: usize| f[i].parse::<i64>().expect("number");
    let num = |i: usize| u32::try_from(n(i)).expect("u32");
    (
        guard,
        num(1),
        num(2),
        num(3),
        u16::try_from(n(4)).expect("port"),
        n(5),
    )
}

/// The one row of `doc` for `protocol` 127.0.0.1:`port`.
fn row<'a>(doc: &'a Value, protocol: &str, port: u16, what: &str) -> &'a Value {
    let rows: Vec<&Value> = doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .filter(|l| l["protocol"] == protocol && l["address"] == "127.0.0.1" && l["port"] == port)
        .collect();
    assert_eq!(rows.len(), 1, "{what}: one row: {doc}");
    rows[0]
}

fn pids(row: &Value) -> Vec<u64> {
    row["owners"]
        .as_array()
        .expect("owners")
        .iter()
        .map(|o| o["pid"].as_u64().expect("pid"))
        .collect()
}

/// A thread asleep on a socket whose descriptor number was taken at once by a new socket:
/// the thread is named, but its descriptor is not said closed (the table shows it open, on
/// another socket), with either lookup, for a TCP listener and a bound UDP socket.
#[test]
fn a_descriptor_number_taken_by_a_new_socket_is_not_said_closed() {
    if python().is_none() || !common::root_or_skip("reading sockets' wait queues") {
        return;
    }
    for kind in ["tcp", "udp"] {
        let (_guard, pid, tid, fd, port, newfd) = sleeper(kind, "reuse", None);
        assert_eq!(
            newfd,
            i64::from(fd),
            "{kind}: the new socket took the number"
        );
        let mut seen = Vec::new();
        for lookup in ["bpf", "procfs"] {
            let home = tempdir();
            let what = format!("{kind} {lookup}");
            let (_, out, err) = common::outcome(
                common::whoport(home.path())
                    .env("WHOPORT_OWNER_LOOKUP", lookup)
                    .args(["--json", &port.to_string()]),
            );
            let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
            let r = row(&doc, kind, port, &what);
            assert_eq!(pids(r), vec![u64::from(pid)], "{what}: {r}");
            assert_eq!(
                r["held_through"], "held by a system call in progress",
                "{r}"
            );
            let calls = r["blocked_calls"].as_array().expect("blocked_calls");
            assert_eq!(calls.len(), 1, "{what}: {r}");
            assert_eq!(calls[0]["tid"], tid, "{what}: {r}");
            assert_eq!(calls[0]["descriptor"], fd, "{what}: {r}");
            let (_, text, err) = common::outcome(
                common::whoport(home.path())
                    .env("WHOPORT_OWNER_LOOKUP", lookup)
                    .arg(port.to_string()),
            );
            let line = text
                .lines()
                .find(|l| l.contains("held by a system call in progress"))
                .unwrap_or_else(|| panic!("{what}: {text}{err}"));
            assert!(
                line.contains(&format!(
                    "thread {tid} blocked in {}",
                    calls[0]["system_call"]
                        .as_str()
                        .map_or_else(|| "a system call".to_string(), |c| format!("{c}()"))
                )),
                "{what}: {line}"
            );
            assert!(
                line.contains(&format!(
                    "on descriptor {fd}, which no longer refers to this socket"
                )),
                "{what}: {line}"
            );
            assert!(!line.contains("no longer has open"), "{what}: {line}");
            seen.push((pids(r), calls.clone()));
        }
        assert_eq!(seen[0], seen[1], "{kind}: both lookups agree");
    }
}

/// Root without CAP_SYS_PTRACE, which cannot read nobody's descriptors through /proc: nobody's
/// server asleep in accept() on its open listener is not said held by a system call in
/// progress by either lookup, and both name the server as its ordinary holder (the iterator
/// reads every table in the kernel; the walk has the kernel read again, for the sockets left
/// ownerless, the tables it could not read).
#[test]
fn a_server_in_accept_on_its_open_listener_is_not_said_held_by_the_call() {
    if python().is_none()
        || !have("setpriv", "apt-get install -y util-linux")
        || !common::root_or_skip("dropping CAP_SYS_PTRACE, and nobody's processes")
    {
        return;
    }
    let (_guard, pid, _tid, _fd, port, _) = sleeper("tcp", "keep", Some("nobody"));
    for lookup in ["bpf", "procfs"] {
        let home = common::shared_tempdir();
        let out = common::command(home.path(), std::path::Path::new("setpriv"))
            .args(["--inh-caps=-sys_ptrace", "--bounding-set=-sys_ptrace"])
            .arg(common::bin())
            .env("WHOPORT_OWNER_LOOKUP", lookup)
            .args(["--json", &port.to_string()])
            .output()
            .expect("whoport runs");
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{out:?}"));
        let r = row(&doc, "tcp", port, lookup);
        assert!(r["held_through"].is_null(), "{lookup}: {r}");
        assert_eq!(
            r["blocked_calls"],
            Value::Array(Vec::new()),
            "{lookup}: {r}"
        );
        // The walk could not read the server's table, which the kernel then read for the
        // socket left ownerless: both lookups name the server, its ordinary holder.
        assert_eq!(pids(r), vec![u64::from(pid)], "{lookup}: {r}");
    }
}

/// whoport in a PID namespace of its own (with a /proc of that namespace): an ordinary server
/// outside it, asleep in accept() on its open listener, is not said held by the process of
/// whoport's namespace that has the server's host PID (the kernel's wait queue names threads
/// by their numbers in the machine's first PID namespace).
#[test]
fn a_sleeper_outside_this_pid_namespace_is_not_named_by_its_host_number() {
    if python().is_none()
        || !have("unshare", "apt-get install -y util-linux")
        || !have("ip", "apt-get install -y iproute2")
        || !common::root_or_skip("PID namespaces with a chosen PID")
    {
        return;
    }
    let dir = tempdir();
    let py = python().expect("python3");
    // Outer namespaces (network, mount, PID): the server, its host PID read in the host's
    // /proc; inner PID namespace: a decoy given that number, then whoport. Everything dies
    // with the outer namespace's first process, killed with `unshare` itself.
    let script = r#"
set -e
ip link set lo up
"$PY" -c "$SLEEPER" tcp keep > "$DIR/server" &
i=0
while [ ! -s "$DIR/server" ]; do i=$((i+1)); [ $i -lt 1200 ] || exit 9; sleep 0.05; done
read _ HOSTPID TID FD PORT _ < "$DIR/server"
echo "$HOSTPID $PORT" > "$DIR/staged"
export HOSTPID DIR
unshare -p -f sh -c '
  set -e
  mount -t proc proc /proc
  echo $((HOSTPID - 1)) > /proc/sys/kernel/ns_last_pid
  sleep 600 &
  echo $! > "$DIR/decoy"
  for lk in bpf procfs; do
    WHOPORT_OWNER_LOOKUP=$lk "$WHOPORT" --json > "$DIR/$lk.json" || [ $? -eq 1 ]
  done
  kill $(cat "$DIR/decoy")
'
"#;
    let (status, _, err) = common::sh_within(
        &format!(
            "export PY='{py}' DIR='{dir}' SLEEPER='{sleeper}'; \
             exec unshare --kill-child -n -m --propagation private -p -f sh -c '{script}'",
            py = py.display(),
            dir = dir.path().display(),
            sleeper = SLEEPER.replace('\'', "'\\''"),
            script = script.replace('\'', "'\\''"),
        ),
        Duration::from_secs(120),
    );
    assert_eq!(status, 0, "the staging ran: {err}");
    let read = |name: &str| {
        std::fs::read_to_string(dir.path().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let staged = read("staged");
    let mut fields = staged.split_whitespace();
    let host_pid: u64 = fields.next().expect("pid").parse().expect("pid");
    let port: u16 = fields.next().expect("port").parse().expect("port");
    assert_eq!(
        read("decoy").trim().parse::<u64>().expect("decoy pid"),
        host_pid,
        "the decoy has the server's host PID in whoport's namespace"
    );
    for lookup in ["bpf", "procfs"] {
        let text = read(&format!("{lookup}.json"));
        let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        let r = row(&doc, "tcp", port, lookup);
        assert!(pids(r).is_empty(), "{lookup}: {r}");
        assert!(r["held_through"].is_null(), "{lookup}: {r}");
        assert_eq!(
            r["blocked_calls"],
            Value::Array(Vec::new()),
            "{lookup}: {r}"
        );
        let reason = r["owner_hidden_reason"].as_str().expect("a reason");
        assert!(
            reason.contains("outside this PID namespace"),
            "{lookup}: {reason}"
        );
    }
}

/// A listener whose descriptor was closed while `THREADS` threads sleep in accept() on it and
/// `WATCHERS` epoll instances (added after them, so ahead of them on its wait queue) watch it.
/// Prints "ready PID PORT".
const CROWDED: &str = r#"
import os, select, socket, sys, threading, time
threads, watchers = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
fd, port = s.fileno(), s.getsockname()[1]
pid = os.readlink("/proc/self")
tids = []
lock = threading.Lock()
def sleeper():
    with lock:
        tids.append(os.readlink("/proc/thread-self").split("/")[-1])
    s.accept()
for _ in range(threads):
    threading.Thread(target=sleeper, daemon=True).start()
def asleep(tid):
    try:
        with open("/proc/%s/task/%s/syscall" % (pid, tid)) as f:
            fields = f.read().split()
    except OSError:
        return False
    return len(fields) > 1 and fields[0] != "running" and int(fields[1], 16) == fd
deadline = time.time() + 60
while len(tids) < threads or not all(asleep(t) for t in list(tids)):
    if time.time() > deadline:
        sys.exit("the threads never slept on the listener")
    time.sleep(0.02)
polls = []
for _ in range(watchers):
    e = select.epoll()
    e.register(fd, select.EPOLLIN)
    polls.append(e)
s.detach()
os.close(fd)
print("ready", pid, port, flush=True)
time.sleep(600)
"#;

/// As root, both lookups: a wait queue longer than whoport reads is said incomplete. 64 epoll
/// watches ahead of the one thread in accept(): no thread is named, and the reason says more
/// may be asleep on it; 70 threads in accept(): 64 are named, and the list is said
/// incomplete.
#[test]
fn a_wait_queue_longer_than_whoport_reads_is_said_incomplete() {
    if python().is_none() || !common::root_or_skip("reading sockets' wait queues") {
        return;
    }
    let cut = "its wait queue was read only to its first 64 entries";
    for (threads, watchers) in [(1, 64), (70, 0)] {
        let py = python().expect("python3");
        let mut child = Command::new(&py)
            .args(["-c", CROWDED, &threads.to_string(), &watchers.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let line = common::ready_line(&mut child, Duration::from_secs(90));
        let _guard = KillOnDrop(child);
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 3, "ready line: {line:?}");
        let pid: u64 = f[1].parse().expect("pid");
        let port: u16 = f[2].parse().expect("port");
        let mut seen = Vec::new();
        for lookup in ["bpf", "procfs"] {
            let what = format!("{threads} threads, {watchers} watchers, {lookup}");
            let home = tempdir();
            let (_, out, err) = common::outcome(
                common::whoport(home.path())
                    .env("WHOPORT_OWNER_LOOKUP", lookup)
                    .args(["--json", &port.to_string()]),
            );
            let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
            let r = row(&doc, "tcp", port, &what);
            assert_eq!(r["blocked_calls_incomplete"], true, "{what}: {r}");
            let calls = r["blocked_calls"].as_array().expect("blocked_calls");
            let (_, text, _) = common::outcome(
                common::whoport(home.path())
                    .env("WHOPORT_OWNER_LOOKUP", lookup)
                    .arg(port.to_string()),
            );
            assert!(text.contains(cut), "{what}: {text}");
            if watchers > 0 {
                // The thread in accept() is further on than the watchers.
                assert!(calls.is_empty(), "{what}: {r}");
                assert!(pids(r).is_empty(), "{what}: {r}");
                let reason = r["owner_hidden_reason"].as_str().expect("a reason");
                assert!(
                    reason.contains("held by a thread blocked in accept() or recv()")
                        && reason.contains("it was read only to its first 64 entries"),
                    "{what}: {reason}"
                );
            } else {
                assert_eq!(calls.len(), 64, "{what}: {r}");
                assert_eq!(pids(r), vec![pid], "{what}: {r}");
                assert!(calls.iter().all(|c| c["pid"] == pid), "{what}: {r}");
                let held = text
                    .lines()
                    .find(|l| l.contains("held by a system call in progress"))
                    .unwrap_or_else(|| panic!("{what}: {text}"));
                assert!(held.contains(cut), "{what}: {held}");
            }
            seen.push((pids(r), calls.len()));
        }
        assert_eq!(seen[0], seen[1], "both lookups agree");
    }
}

/// A thread asleep in accept() on a listener whose descriptor was closed, while a process is
/// read neither by `/proc` nor by the kernel's task iterator (PID 1 on machines whose PID 1
/// refuses its table to root, and which the iterator never visits: `common::unseen_by_root`): the sleeper's process is
/// named the holder, and beside it the process not read, which may hold the socket too, in
/// the card, a note and --json; with both lookups, as root and as nobody with CAP_BPF and
/// CAP_PERFMON. Where every process was read, nothing is said beside it.
#[test]
fn a_sleeper_named_beside_a_process_not_read_says_it_may_hold_it_too() {
    if python().is_none()
        || !have("setpriv", "apt-get install -y util-linux")
        || !common::root_or_skip("reading sockets' wait queues")
    {
        return;
    }
    // The processes read neither by /proc nor by the kernel's task iterator, to root.
    let unseen = common::unseen_by_root().unwrap_or_default();
    let (_guard, pid, tid, _fd, port, _) = sleeper("tcp", "close", None);
    let home = common::shared_tempdir();
    let mut seen = Vec::new();
    for nobody in [false, true] {
        for lookup in ["bpf", "procfs"] {
            let what = format!("nobody {nobody}, {lookup}");
            let run = |args: &[&str]| {
                let mut cmd = if nobody {
                    let mut c = common::command(home.path(), std::path::Path::new("setpriv"));
                    c.args([
                        "--reuid=65534",
                        "--regid=65534",
                        "--clear-groups",
                        "--inh-caps=+bpf,+perfmon",
                        "--ambient-caps=+bpf,+perfmon",
                    ])
                    .arg(common::bin());
                    c
                } else {
                    common::whoport(home.path())
                };
                let out = cmd
                    .env("WHOPORT_OWNER_LOOKUP", lookup)
                    .args(args)
                    .arg(port.to_string())
                    .output()
                    .expect("whoport runs");
                String::from_utf8_lossy(&out.stdout).into_owned()
            };
            let Some(doc) = sleeper_named(&run(&["--json"]), nobody, (pid, tid, port), &what)
            else {
                continue;
            };
            let r = row(&doc, "tcp", port, &what);
            let unread = &r["holders_unread"];
            let note = format!("tcp 127.0.0.1:{port} is held by a system call in progress");
            let noted = doc["notes"]
                .as_array()
                .expect("notes")
                .iter()
                .filter_map(Value::as_str)
                .find(|n| n.contains(&note));
            let card = run(&[]);
            let held = card
                .lines()
                .find(|l| l.contains("held by a system call in progress:"))
                .unwrap_or_else(|| panic!("{what}: {card}"));
            if let Some(&first) = unseen.first() {
                let named = unread["pids"].as_array().expect("PIDs not read");
                assert!(named.contains(&Value::from(first)), "{what}: {r}");
                let why = unread["why"].as_str().expect("why");
                assert!(
                    why.contains("the kernel's task iterator found no"),
                    "{what}: {why}"
                );
                let noted = noted.unwrap_or_else(|| panic!("{what}: a note: {doc}"));
                assert!(noted.contains("may hold it too"), "{what}: {noted}");
                assert!(
                    held.contains("descriptors could not be read (")
                        && held.contains("which may hold it too"),
                    "{what}: {held}"
                );
            } else if unread.is_null() {
                assert!(noted.is_none(), "{what}: {doc}");
                assert!(!held.contains("may hold it too"), "{what}: {held}");
            }
            // Each run also names the processes that were passing through exec() or exit()
            // when it read (not read either), which two runs cannot share: the lookups agree
            // on the holder and on whether, and which of the processes never read, are named.
            let never_read: Vec<&Value> = unread["pids"]
                .as_array()
                .map(|named| {
                    named
                        .iter()
                        .filter(|p| unseen.iter().any(|u| *p == u))
                        .collect()
                })
                .unwrap_or_default();
            seen.push((nobody, pids(r), unread.is_null(), format!("{never_read:?}")));
        }
    }
    for pair in seen.chunks(2) {
        assert_eq!(pair[0], pair[1], "both lookups agree: {seen:?}");
    }
}

/// whoport in a PID namespace of its own but with the host's /proc (`unshare -p -f` without
/// `--mount-proc`): /proc numbers processes as the kernel's first namespace does (it shows
/// kthreadd as PID 2), so the thread asleep in accept() on a listener whose descriptor was
/// closed is named, by the number /proc shows, with both lookups, as root and as nobody with
/// CAP_BPF and CAP_PERFMON; the reason never says it is held outside this PID namespace.
#[test]
fn a_sleeper_is_named_from_a_pid_namespace_that_sees_the_hosts_proc() {
    if python().is_none()
        || !have("unshare", "apt-get install -y util-linux")
        || !have("setpriv", "apt-get install -y util-linux")
        || !common::root_or_skip("PID namespaces")
    {
        return;
    }
    let (_guard, pid, tid, _fd, port, _) = sleeper("tcp", "close", None);
    let dir = tempdir();
    let home = common::shared_tempdir();
    let script = r#"
set -e
for lk in bpf procfs; do
  WHOPORT_OWNER_LOOKUP=$lk "$WHOPORT" --json "$PORT" > "$DIR/root-$lk.json" || [ $? -eq 1 ]
  WHOPORT_OWNER_LOOKUP=$lk setpriv --reuid=65534 --regid=65534 --clear-groups \
    --inh-caps=+bpf,+perfmon --ambient-caps=+bpf,+perfmon \
    env XDG_DATA_HOME="$SHARED" XDG_CONFIG_HOME="$SHARED" "$WHOPORT" --json "$PORT" \
    > "$DIR/nobody-$lk.json" || true
done
"#;
    let (status, _, err) = common::sh_within(
        &format!(
            "export DIR='{dir}' SHARED='{shared}' PORT={port}; \
             exec unshare --kill-child -p -f sh -c '{script}'",
            dir = dir.path().display(),
            shared = home.path().display(),
            script = script.replace('\'', "'\\''"),
        ),
        Duration::from_secs(120),
    );
    assert_eq!(status, 0, "the staging ran: {err}");
    let mut seen = Vec::new();
    for who in ["root", "nobody"] {
        for lookup in ["bpf", "procfs"] {
            let what = format!("{who} {lookup}");
            let path = dir.path().join(format!("{who}-{lookup}.json"));
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{what}: {e}"));
            let Some(doc) = sleeper_named(&text, who == "nobody", (pid, tid, port), &what) else {
                continue;
            };
            let r = row(&doc, "tcp", port, &what);
            seen.push((who, pids(r), r["blocked_calls"].clone()));
        }
    }
    for pair in seen.chunks(2) {
        assert_eq!(pair[0], pair[1], "both lookups agree");
    }
}

/// whoport's JSON `text`, checked to name thread `tid` of `pid`, alone, as holding the TCP
/// listener on `port` by a system call in progress; `None` (after a SKIPPED line) where
/// `nobody` with CAP_BPF and CAP_PERFMON could not run whoport.
fn sleeper_named(
    text: &str,
    nobody: bool,
    (pid, tid, port): (u32, u32, u16),
    what: &str,
) -> Option<Value> {
    let Ok(doc) = serde_json::from_str::<Value>(text) else {
        assert!(nobody, "{what}: {text}");
        eprintln!("SKIPPED: nobody with CAP_BPF and CAP_PERFMON could not run whoport");
        return None;
    };
    let r = row(&doc, "tcp", port, what);
    assert_eq!(pids(r), vec![u64::from(pid)], "{what}: {r}");
    assert_eq!(
        r["held_through"], "held by a system call in progress",
        "{what}: {r}"
    );
    let calls = r["blocked_calls"].as_array().expect("blocked_calls");
    assert_eq!(calls.len(), 1, "{what}: {r}");
    assert_eq!(calls[0]["tid"], tid, "{what}: {r}");
    Some(doc)
}

/// A thread asleep in accept() on a listener whose descriptor was closed, with a directory
/// mounted over its `/proc/PID/task/TID` (in the mount namespace whoport runs in): the sleeper
/// the kernel found on the wait queue was dropped as a thread that had exited, and the
/// reason said "no thread is asleep on its wait queue". It is named, held by a system call in
/// progress, with what the covered directory would show left unread, with either lookup.
#[test]
fn a_sleeper_whose_proc_directory_is_covered_is_still_named() {
    if python().is_none() || !common::root_or_skip("reading sockets' wait queues") {
        return;
    }
    let (_guard, pid, tid, _fd, port, _) = sleeper("tcp", "close", None);
    for lookup in ["bpf", "procfs"] {
        let (status, out, err) = common::sh_within(
            &format!(
                "exec unshare -m --propagation private sh -c 'mount -t tmpfs none \
                 /proc/{pid}/task/{tid} && WHOPORT_OWNER_LOOKUP={lookup} exec \"$WHOPORT\" \
                 --json {port}'"
            ),
            Duration::from_secs(60),
        );
        let doc: Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{lookup}: {status} {e}: {err}"));
        let r = row(&doc, "tcp", port, lookup);
        assert_eq!(pids(r), vec![u64::from(pid)], "{lookup}: {r}");
        assert_eq!(
            r["held_through"], "held by a system call in progress",
            "{r}"
        );
        let calls = r["blocked_calls"].as_array().expect("blocked_calls");
        assert!(calls.iter().any(|c| c["tid"] == tid), "{lookup}: {r}");
        assert!(
            !doc.to_string().contains("no thread is asleep"),
            "{lookup}: {doc}"
        );
    }
}
