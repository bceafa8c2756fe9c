//! A listener whose only reference is in a unix socket message not yet received
//! (SCM_RIGHTS): where whoport may look into unix socket queues (root, BPF), the reason is
//! established and names the process holding the receiving end; elsewhere it says what
//! remains possible, never the first of a list as a fact. Both owner lookups give the same
//! reason: the in-kernel one reads the unix queues from the object it loaded, the `/proc` walk
//! loads that object for them alone.

mod common;

use std::process::{Command, Stdio};

use common::listener::python;
use serde_json::Value;

/// `whoport --json ARGS` with the `lookup` owner lookup: its exit status and document. Run
/// again (three runs at most) while whoport says its second look did not finish in time: a
/// process elsewhere on the machine whose memory-map lock is held (another test's stalled
/// FUSE fixture, say) makes the look at every process's mappings wait for the deadline, and
/// whoport then rightly says it does not know who holds the ownerless sockets, this test's
/// among them. The last run is returned whatever it says.
fn json_settled(lookup: &str, args: &[&str]) -> (i32, Value) {
    let mut runs = 0;
    loop {
        runs += 1;
        let home = common::tempdir();
        let (status, stdout, stderr) = common::outcome(
            common::whoport(home.path())
                .env("WHOPORT_OWNER_LOOKUP", lookup)
                .arg("--json")
                .args(args),
        );
        assert!(status == 0 || status == 1, "{lookup}: {stderr}");
        let doc: Value = serde_json::from_str(&stdout).expect("JSON");
        let late = doc["notes"].as_array().is_some_and(|notes| {
            notes.iter().filter_map(Value::as_str).any(|n| {
                n.starts_with("the second look for the owners of")
                    && n.contains("did not finish within")
            })
        });
        if !late || runs == 3 {
            return (status, doc);
        }
        eprintln!("{lookup}: the second look did not finish in time; run again");
    }
}

/// The reasons for the listener on `port` with the iterator and with the walk.
fn both_reasons(port: u64) -> Vec<String> {
    ["bpf", "procfs"]
        .into_iter()
        .map(|lookup| {
            let (_, doc) = json_settled(lookup, &[]);
            common::ownerless_reason(&doc, port, lookup)
        })
        .collect()
}

/// A reason without its list of the processes not read. The processes the walk could not
/// read are the machine's at the moment it ran: as a user, another test's processes of that
/// user in a namespace of their own (not dumpable) may come or go between the two runs. Their
/// list is not compared; the rest is.
fn without_unread(why: &str) -> String {
    let why = match why.find("; the descriptors of ") {
        Some(at) if why.ends_with("may hold it too") => why[..at].to_string(),
        _ => why.to_string(),
    };
    let listed = "whose descriptors could be read; ";
    match (why.find(listed), why.find(" may hold it, or ")) {
        (Some(a), Some(b)) if a < b => format!("{}…{}", &why[..a + listed.len()], &why[b..]),
        _ => why,
    }
}

/// `whoport --json` with each owner lookup (the iterator, the walk): the listener on `port`
/// (127.0.0.1, TCP) has no owner both ways, and its reason is the same (but for the walk's
/// word on processes it could not read); the iterator's reason.
fn reason_both_ways(port: u64) -> String {
    // Asked again (at most three times) while the two runs disagree: another test's process
    // of this user that is not dumpable may live during one run and not the other, and its
    // reason then takes another form.
    let mut reasons = both_reasons(port);
    for _ in 0..2 {
        if without_unread(&reasons[0]) == without_unread(&reasons[1]) {
            break;
        }
        reasons = both_reasons(port);
    }
    // The iterator reads every task's table it visits: it says some could not be read only of
    // the processes /proc closes to root that it did not visit either (a microVM's init here),
    // and names them. The walk names every process it could not read, and otherwise says the
    // same.
    let unread = |why: &str| -> Option<Vec<u32>> {
        let at = why.find("; the descriptors of ")?;
        let list = why[at..].split("(PID").nth(1)?;
        Some(
            list.trim_start_matches('s')
                .split(')')
                .next()?
                .split(',')
                .filter_map(|p| p.trim().parse().ok())
                .collect(),
        )
    };
    if let Some(unseen) = common::unseen_by_root() {
        match unread(&reasons[0]) {
            None => assert!(unseen.is_empty(), "{unseen:?} not named: {}", reasons[0]),
            Some(pids) if unseen.len() <= 8 => assert_eq!(pids, unseen, "{}", reasons[0]),
            Some(pids) => assert!(pids.iter().all(|p| unseen.contains(p)), "{}", reasons[0]),
        }
    }
    assert_eq!(
        without_unread(&reasons[0]),
        without_unread(&reasons[1]),
        "the iterator and the walk disagree"
    );
    reasons[0].clone()
}

/// The sender passes its listener over a socket pair and closes its own copy; a forked child
/// holds the receiving end and never reads. With the argument `thread`, the child holds it
/// only in a thread's own descriptor table: the thread takes a table of its own
/// (`unshare(CLONE_FILES)`), then the child's main thread closes its copy. With `foreign`,
/// the socket pair is made in a network namespace of its own (`unshare(CLONE_NEWNET)`), and
/// the script goes back to its namespace (`setns`) before the rest: the receiving end is a
/// unix socket of another namespace, held here. Prints {"port", "sender", "receiver"}, or
/// {"refused": WHAT} where the kernel refuses that.
const SENDER: &str = r#"
import array, ctypes, json, os, socket, sys, threading
in_thread = sys.argv[1:] == ["thread"]
foreign = sys.argv[1:] == ["foreign"]
named = sys.argv[1:] == ["named"]
if foreign:
    libc = ctypes.CDLL(None, use_errno=True)
    here = os.open("/proc/self/ns/net", os.O_RDONLY)
    if libc.unshare(0x40000000) != 0:  # CLONE_NEWNET
        print(json.dumps({"refused": "unshare(CLONE_NEWNET)"}), flush=True)
        sys.stdin.read()
        sys.exit(0)
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
if foreign and libc.setns(here, 0x40000000) != 0:
    os._exit(4)
hold_r, hold_w = os.pipe()
said_r, said_w = os.pipe()
child = os.fork()
if child == 0:
    a.close()
    if named:  # PR_SET_NAME: a name of 15 bytes with a line break and an escape sequence
        ctypes.CDLL(None).prctl(15, b"x\nnote: \x1b[31mok", 0, 0, 0)
    if in_thread:
        own = threading.Event()
        def keep():
            if ctypes.CDLL(None).unshare(0x400) != 0:  # CLONE_FILES
                os._exit(3)
            own.set()
            os.read(hold_r, 1)
        threading.Thread(target=keep, daemon=True).start()
        own.wait()
        b.close()
    os.write(said_w, b"k")
    sys.stdin.read()
    os._exit(0)
b.close()
assert os.read(said_r, 1) == b"k"
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
port = s.getsockname()[1]
a.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [s.fileno()]))])
s.close()
print(json.dumps({"port": port, "sender": os.getpid(), "receiver": child}), flush=True)
sys.stdin.read()
os.kill(child, 9)
"#;

#[test]
fn a_listener_in_transit_names_who_it_waits_for() {
    waits_for_its_receiver(&[]);
}

#[test]
fn a_receiving_end_held_only_in_a_threads_own_table_names_its_process() {
    waits_for_its_receiver(&["thread"]);
}

#[test]
fn a_receiving_end_made_in_another_network_namespace_names_its_process() {
    // The unix iterator and the unix_diag dump see only whoport's namespace: the queue is
    // reached from the descriptor table that holds its socket.
    waits_for_its_receiver(&["foreign"]);
}

/// [`SENDER`] with `args`: the reason names the process holding the receiving end.
fn waits_for_its_receiver(args: &[&str]) {
    let Some((reason, sender, receiver)) = reason_for(SENDER, args) else {
        return;
    };
    // Root on a kernel with BTF (CI): established, naming the receiving end's holder.
    if common::is_root() && std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
        assert!(
            reason.starts_with("in transit: carried in a unix socket message (SCM_RIGHTS)"),
            "{reason}"
        );
        assert!(
            reason.contains(&format!("held by pid {receiver} (python3")),
            "{reason}"
        );
        assert!(!reason.contains(&format!("pid {sender} ")), "{reason}");
    } else {
        // Not established: in transit is one possibility among those that remain.
        assert!(!reason.starts_with("in transit:"), "{reason}");
        assert!(
            reason.contains("SCM_RIGHTS") && reason.contains(" or "),
            "{reason}"
        );
    }
}

/// A reason that names a process (here the receiving end's holder, whose name any user sets:
/// `prctl(PR_SET_NAME)` with a line break and an escape sequence) reaches the port card
/// escaped, as the verdict and the audit write it: no forged line, no raw escape sequence.
#[test]
fn a_process_name_in_a_hidden_owners_reason_is_escaped_on_the_card() {
    let Some((child, ready)) = started(SENDER, &["named"]) else {
        return;
    };
    let port = ready["port"].as_u64().expect("port").to_string();
    let home = common::tempdir();
    let (status, card, err) =
        common::outcome(common::whoport(home.path()).args([&port, "--color", "never"]));
    drop(child);
    assert_eq!(status, 0, "{err}");
    assert!(!card.contains('\u{1b}'), "a raw escape sequence: {card:?}");
    assert!(
        !card
            .lines()
            .any(|l| l.starts_with("note: ") && l.contains("31mok")),
        "a forged line: {card}"
    );
    if common::is_root() && std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
        // The receiver is named (the reason was established), escaped.
        assert!(card.contains(r"(x\nnote: \e[31mok)"), "{card}");
    }
}

/// A two-step chain: the listener waits in unix socket B's queue, B's receiving end waits in
/// unix socket C's queue, and a forked child holds C's receiving end and never reads. The
/// sender keeps only the sending ends. Prints {"port", "sender", "receiver"}.
const CHAIN: &str = r#"
import array, json, os, socket, sys
b1, b2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
c1, c2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
child = os.fork()
if child == 0:
    for end in (b1, b2, c1):
        end.close()
    sys.stdin.read()
    os._exit(0)
c2.close()
rights = lambda f: [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [f.fileno()]))]
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
port = s.getsockname()[1]
b1.sendmsg([b"x"], rights(s))
s.close()
c1.sendmsg([b"x"], rights(b2))
b2.close()
print(json.dumps({"port": port, "sender": os.getpid(), "receiver": child}), flush=True)
sys.stdin.read()
os.kill(child, 9)
"#;

/// Runs `script` with `args`: the running script and what it printed once ready, or `None`
/// after a SKIPPED line where the kernel refused what it needs.
fn started(script: &str, args: &[&str]) -> Option<(common::Reaped, Value)> {
    let py = python()?;
    let mut child = common::Reaped(common::listener::spawn_retrying(
        Command::new(py)
            .args(["-c", script])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    ));
    let line = common::ready_line(&mut child.0, std::time::Duration::from_secs(20));
    let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    if let Some(what) = ready["refused"].as_str() {
        // Only root may make a network namespace (and go back to its own).
        assert!(!common::is_root(), "{what} refused to root");
        eprintln!("SKIPPED: {what} refused (not root)");
        return None;
    }
    Some((child, ready))
}

/// Runs `script` with `args`, then whoport; the reason given for the script's listener, the
/// sender's and the receiver's PIDs.
fn reason_for(script: &str, args: &[&str]) -> Option<(String, u64, u64)> {
    let (child, ready) = started(script, args)?;
    let port = ready["port"].as_u64().expect("port");
    let reason = reason_both_ways(port);
    drop(child);
    Some((
        reason.to_string(),
        ready["sender"].as_u64().expect("sender"),
        ready["receiver"].as_u64().expect("receiver"),
    ))
}

#[test]
fn a_listener_in_transit_inside_a_unix_socket_in_transit_names_who_will_receive_it() {
    let Some((reason, sender, receiver)) = reason_for(CHAIN, &[]) else {
        return;
    };
    if common::is_root() && std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
        assert!(
            reason.starts_with(
                "in transit: carried in a unix socket message (SCM_RIGHTS) not yet received, \
                 queued to a unix socket that is itself in transit, queued in turn to a unix \
                 socket held by pid "
            ),
            "{reason}"
        );
        assert!(
            reason.contains(&format!("held by pid {receiver} (python3")),
            "{reason}"
        );
        assert!(!reason.contains(&format!("pid {sender} ")), "{reason}");
        assert!(!reason.contains("no process holds"), "{reason}");
    } else {
        assert!(!reason.starts_with("in transit:"), "{reason}");
        assert!(
            reason.contains("SCM_RIGHTS") && reason.contains(" or "),
            "{reason}"
        );
    }
}

/// The listener waits in a unix socket whose receiving end a forked child holds only as an
/// io_uring registered file (its descriptor closed). Prints {"port", "sender", "receiver"},
/// or {"refused": true} when the kernel refuses io_uring here.
const TO_A_RING: &str = r#"
import array, ctypes, json, os, socket, sys
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
r, w = os.pipe()
child = os.fork()
if child == 0:
    a.close()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    params = ctypes.create_string_buffer(120)
    ring = libc.syscall(425, 4, params)  # io_uring_setup
    files = (ctypes.c_int * 1)(b.fileno())
    ok = ring >= 0 and libc.syscall(427, ring, 2, files, 1) >= 0  # IORING_REGISTER_FILES
    b.close()
    os.write(w, b"y" if ok else b"n")
    sys.stdin.read()
    os._exit(0)
b.close()
if os.read(r, 1) != b"y":
    print(json.dumps({"refused": True}), flush=True)
    os.kill(child, 9)
    sys.exit(0)
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
port = s.getsockname()[1]
a.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [s.fileno()]))])
s.close()
print(json.dumps({"port": port, "sender": os.getpid(), "receiver": child}), flush=True)
sys.stdin.read()
os.kill(child, 9)
"#;

#[test]
fn a_listener_in_transit_to_an_io_uring_registered_file_names_the_rings_holder() {
    let Some(py) = python() else { return };
    let mut child = common::listener::spawn_retrying(
        Command::new(py)
            .args(["-c", TO_A_RING])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    );
    let line = common::ready_line(&mut child, std::time::Duration::from_secs(20));
    let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    if ready["refused"] == true {
        drop(child.stdin.take());
        let _ = child.wait();
        eprintln!("SKIPPED: the kernel refuses io_uring here");
        return;
    }
    let port = ready["port"].as_u64().expect("port");
    let (sender, receiver) = (ready["sender"].as_u64(), ready["receiver"].as_u64());
    let (sender, receiver) = (sender.expect("sender"), receiver.expect("receiver"));
    let home = common::tempdir();
    let mut reasons = Vec::new();
    for lookup in ["procfs", "bpf"] {
        let out = common::whoport(home.path())
            .env("WHOPORT_OWNER_LOOKUP", lookup)
            .arg("--json")
            .output()
            .expect("whoport runs");
        let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
        let reason = common::ownerless_reason(&doc, port, lookup);
        reasons.push((lookup, reason));
    }
    drop(child.stdin.take());
    let _ = child.kill();
    let _ = child.wait();
    for (lookup, reason) in reasons {
        if common::is_root() && std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
            assert!(
                reason.starts_with(&format!(
                    "in transit: carried in a unix socket message (SCM_RIGHTS) not yet \
                     received, queued to a unix socket held by pid {receiver} (python3"
                )),
                "{lookup}: {reason}"
            );
            assert!(
                reason.contains(") as an io_uring registered file"),
                "{lookup}: {reason}"
            );
            assert!(
                !reason.contains(&format!("pid {sender} ")),
                "{lookup}: {reason}"
            );
        } else {
            assert!(!reason.starts_with("in transit:"), "{lookup}: {reason}");
        }
    }
}

/// Forty datagrams wait in one unix socket's queue; the last one carries twenty descriptors,
/// nineteen of /dev/null and then the listener. Prints {"port", "sender", "receiver"}.
const DEEP: &str = r#"
import array, json, os, socket, sys
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
child = os.fork()
if child == 0:
    a.close()
    sys.stdin.read()
    os._exit(0)
b.close()
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
port = s.getsockname()[1]
for _ in range(39):
    a.send(b"x")
fillers = [os.open("/dev/null", os.O_RDONLY) for _ in range(19)]
fds = array.array("i", fillers + [s.fileno()])
a.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
s.close()
print(json.dumps({"port": port, "sender": os.getpid(), "receiver": child}), flush=True)
sys.stdin.read()
os.kill(child, 9)
"#;

#[test]
fn a_listener_deep_in_a_queue_and_in_a_message_is_found() {
    let Some((reason, sender, receiver)) = reason_for(DEEP, &[]) else {
        return;
    };
    if common::is_root() && std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
        assert!(
            reason.starts_with(
                "in transit: carried in a unix socket message (SCM_RIGHTS) not yet received, \
                 queued to a unix socket held by pid "
            ),
            "{reason}"
        );
        assert!(
            reason.contains(&format!("held by pid {receiver} (python3")),
            "{reason}"
        );
        assert!(!reason.contains(&format!("pid {sender} ")), "{reason}");
    } else {
        assert!(!reason.starts_with("in transit:"), "{reason}");
    }
}

/// The sender passes its listener over a socket pair and closes its own copy; a forked child
/// receives it a given number of milliseconds after it is told (one line on the sender's
/// standard input), then holds it. Prints {"port", "sender", "receiver"}.
const RECEIVED_LATER: &str = r#"
import array, ctypes, json, os, signal, socket, sys, time
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
go_r, go_w = os.pipe()
child = os.fork()
if child == 0:
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: ends with the sender
    a.close(); os.close(go_w)
    delay = int(os.read(go_r, 32).decode().strip() or "0")
    time.sleep(delay / 1000)
    msg, anc, flags, addr = b.recvmsg(1, socket.CMSG_LEN(4))
    while True:
        time.sleep(60)
b.close(); os.close(go_r)
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
port = s.getsockname()[1]
a.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [s.fileno()]))])
s.close()
print(json.dumps({"port": port, "sender": os.getpid(), "receiver": child}), flush=True)
os.write(go_w, sys.stdin.readline().encode())
sys.stdin.read()
os.kill(child, 9)
"#;

/// A listener moved out of a unix socket message into its receiver's table while whoport
/// runs (received at moments spread over a run, so that it lands between each of whoport's
/// looks): both owner lookups say its receiver holds it, or that it is in transit to the
/// receiver, never that it is held where whoport could not look, nor by no process.
#[test]
fn a_listener_received_during_the_scan_is_its_receivers_or_in_transit_both_ways() {
    let Some(py) = python() else { return };
    let established = common::is_root() && std::path::Path::new("/sys/kernel/btf/vmlinux").exists();
    for (lookup, steps, spread) in [("bpf", 8, 70), ("procfs", 6, 25)] {
        for step in 0..steps {
            let delay = step * spread;
            let mut child = common::listener::spawn_retrying(
                Command::new(&py)
                    .args(["-c", RECEIVED_LATER])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped()),
            );
            let line = common::ready_line(&mut child, std::time::Duration::from_secs(20));
            let ready: Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
            let port = ready["port"].as_u64().expect("port");
            let receiver = ready["receiver"].as_u64().expect("receiver");
            let home = common::tempdir();
            let mut whoport = common::whoport(home.path());
            whoport
                .env("WHOPORT_OWNER_LOOKUP", lookup)
                .args(["--json", &port.to_string()]);
            let stdin = child.stdin.as_mut().expect("stdin");
            std::io::Write::write_all(stdin, format!("{delay}\n").as_bytes()).expect("go");
            let out = whoport.output().expect("whoport runs");
            drop(child.stdin.take());
            let _ = child.kill();
            let _ = child.wait();
            let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
            let rows: Vec<&Value> = doc["listeners"]
                .as_array()
                .expect("listeners")
                .iter()
                .filter(|l| l["port"] == port && l["address"] == "127.0.0.1")
                .collect();
            assert_eq!(rows.len(), 1, "{lookup}, {delay} ms: {doc}");
            let row = rows[0];
            let owners: Vec<u64> = row["owners"]
                .as_array()
                .expect("owners")
                .iter()
                .map(|o| o["pid"].as_u64().expect("pid"))
                .collect();
            if !owners.is_empty() {
                assert_eq!(owners, vec![receiver], "{lookup}, {delay} ms: {row}");
                assert!(row["held_through"].is_null(), "{lookup}, {delay} ms: {row}");
                continue;
            }
            let reason = row["owner_hidden_reason"].as_str().expect("a reason");
            if established {
                assert!(
                    reason.starts_with("in transit: ")
                        && reason.contains(&format!("held by pid {receiver} ")),
                    "{lookup}, received {delay} ms after the start: {reason}"
                );
            } else {
                assert!(
                    reason.contains("SCM_RIGHTS"),
                    "{lookup}, {delay} ms: {reason}"
                );
            }
        }
    }
}

/// Two processes pass a listener back and forth over a socket pair as fast as they can (each
/// holds it for a millisecond, then sends it and closes its copy): whatever moment whoport
/// looks, what it says is what some look saw — one of the two as its owner, in transit to
/// one of them, or passed between them during the scan; never a reason no look established
/// (a process root could not read, the kernel's own socket). Prints {"port", "pids"}.
const PING_PONG: &str = r#"
import ctypes, json, os, socket, sys, time
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
port = s.getsockname()[1]
fd = os.dup(s.fileno()); s.close()
parent = os.getpid()
child = os.fork()
me = b if child == 0 else a
if child != 0:
    print(json.dumps({"port": port, "pids": [parent, child]}), flush=True)
    socket.send_fds(me, [b"x"], [fd]); os.close(fd)
else:
    ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL: ends with its parent
    os.close(fd)
end = time.time() + 240
while time.time() < end:
    _, fds, _, _ = socket.recv_fds(me, 1, 1)
    time.sleep(0.001)
    socket.send_fds(me, [b"x"], fds)
    os.close(fds[0])
"#;

#[test]
fn a_listener_passed_back_and_forth_gets_only_what_a_look_saw() {
    let Some(py) = python() else {
        return;
    };
    let mut child = common::Reaped(common::listener::spawn_retrying(
        Command::new(py)
            .args(["-c", PING_PONG])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    ));
    let line = common::ready_line(&mut child.0, std::time::Duration::from_secs(20));
    let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    let port = ready["port"].as_u64().expect("port");
    let pids: Vec<u64> = ready["pids"]
        .as_array()
        .expect("pids")
        .iter()
        .map(|p| p.as_u64().expect("pid"))
        .collect();
    let established = common::is_root() && std::path::Path::new("/sys/kernel/btf/vmlinux").exists();
    for lookup in ["bpf", "procfs", "bpf", "procfs"] {
        let (status, doc) = json_settled(lookup, &[&port.to_string()]);
        assert_eq!(status, 0, "{lookup}: {doc}");
        let rows: Vec<&Value> = doc["listeners"]
            .as_array()
            .expect("listeners")
            .iter()
            .filter(|l| l["port"] == port && l["address"] == "127.0.0.1" && l["protocol"] == "tcp")
            .collect();
        assert_eq!(rows.len(), 1, "{lookup}: {doc}");
        let owners: Vec<u64> = rows[0]["owners"]
            .as_array()
            .expect("owners")
            .iter()
            .map(|o| o["pid"].as_u64().expect("pid"))
            .collect();
        if !owners.is_empty() {
            assert!(
                owners.iter().all(|p| pids.contains(p)),
                "{lookup}: {owners:?} {pids:?}"
            );
            continue;
        }
        let reason = rows[0]["owner_hidden_reason"].as_str().expect("a reason");
        if established {
            let names_one = pids
                .iter()
                .any(|p| reason.contains(&format!("held by pid {p} (python3")));
            assert!(
                (reason.starts_with("in transit: ")
                    || reason.starts_with("passed between processes during the scan: "))
                    && names_one,
                "{lookup}: {reason}"
            );
        }
    }
}
