//! Owners held in unusual ways, staged for real with a small C program compiled at test time
//! (`tests/fixtures/hold.c`): a thread with a descriptor table of its own, a process whose
//! main thread exited, a memory mapping of the socket, an io_uring registered file, a ring or
//! a mapping combined with a thread's own table or an exited main thread, and two processes
//! holding one socket, one or both only in a thread's own table.

mod common;

use std::process::{Command, Stdio};

use common::{have, tempdir};
use serde_json::Value;

/// Compiles `hold.c` into `dir`.
fn build(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    common::compile_fixture(dir, "hold")
}

/// Runs `hold MODE`, then whoport; returns our listener's row (found by the walk), its row
/// found by the default method (the in-kernel iterator where it loads) and the helper's PID.
fn row(mode: &str) -> Option<(Value, Value, u32, String)> {
    let (row, by_default, pid, card) = rows(mode)?;
    assert_eq!(by_default["owners"][0]["pid"], pid, "{mode}: {by_default}");
    Some((row, by_default, pid, card))
}

/// [`row`], whoever owns it.
fn rows(mode: &str) -> Option<(Value, Value, u32, String)> {
    let dir = tempdir();
    let bin = build(dir.path())?;
    let mut child = common::listener::spawn_retrying(
        Command::new(&bin)
            .arg(mode)
            .stdin(Stdio::null())
            .stdout(Stdio::piped()),
    );
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("helper reports");
    let ready: Value = match serde_json::from_str(&line) {
        Ok(v) => v,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            eprintln!("SKIPPED: the kernel refused '{mode}' here");
            return None;
        }
    };
    let (port, pid) = (
        ready["port"].clone(),
        ready["pid"].as_u64().expect("pid") as u32,
    );
    // The /proc walk (the in-kernel iterator visits every thread's table by itself, so it
    // needs no second look); the default method must find the same owner.
    let home = tempdir();
    let out = common::whoport(home.path())
        .env("WHOPORT_OWNER_LOOKUP", "procfs")
        .arg("--json")
        .output()
        .expect("whoport runs");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    let (_, default) = common::json_status(&["--json"]);
    // The port's card, in words.
    let card = common::whoport(home.path())
        .env("WHOPORT_OWNER_LOOKUP", "procfs")
        .arg(port.to_string())
        .output()
        .expect("whoport runs");
    let card = String::from_utf8_lossy(&card.stdout).into_owned();
    let _ = child.kill();
    let _ = child.wait();
    // Only our socket (127.0.0.1, its protocol): another program may use the same port
    // number on ::1, or with the other protocol.
    let protocol = if mode.contains("-udp") { "udp" } else { "tcp" };
    let ours =
        |l: &&Value| l["port"] == port && l["address"] == "127.0.0.1" && l["protocol"] == protocol;
    let rows: Vec<Value> = doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .filter(ours)
        .cloned()
        .collect();
    assert_eq!(rows.len(), 1, "{mode}: {rows:?}");
    let by_default: Vec<&Value> = default["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .filter(ours)
        .collect();
    assert_eq!(by_default.len(), 1, "{mode}: {default}");
    Some((rows[0].clone(), by_default[0].clone(), pid, card))
}

/// `held`: how the card and JSON say the process holds it (`None`: an ordinary descriptor of
/// its own, which a thread's table is). Both owner lookups must say the same.
fn assert_owned(mode: &str, held: Option<&str>) {
    let Some((row, by_default, pid, card)) = row(mode) else {
        return;
    };
    match held {
        Some(held) => {
            // The card says how the process holds it, under the socket.
            assert!(card.contains(&format!("\n    {held}\n")), "{mode}: {card}");
            assert_eq!(by_default["held_through"], held, "{mode}: {by_default}");
            assert_eq!(row["held_through"], held, "{mode}: {row}");
        }
        None => {
            assert!(by_default["held_through"].is_null(), "{mode}: {by_default}");
            assert!(row["held_through"].is_null(), "{mode}: {row}");
        }
    }
    let owners: Vec<u64> = row["owners"]
        .as_array()
        .expect("owners")
        .iter()
        .map(|o| o["pid"].as_u64().expect("pid"))
        .collect();
    assert_eq!(owners, vec![u64::from(pid)], "{mode}: {row}");
    assert!(row["owner_hidden_reason"].is_null());
    // Its executable and command line, even when its main thread exited (read from a live
    // thread then).
    for r in [&row, &by_default] {
        let owner = &r["owners"][0];
        assert!(
            owner["exe"].as_str().is_some_and(|e| e.ends_with("/hold")),
            "{mode}: {owner}"
        );
        assert_eq!(owner["cmdline"][1], mode, "{mode}: {owner}");
    }
}

#[test]
fn a_thread_with_its_own_descriptor_table_is_the_owner() {
    assert_owned("thread-table", None);
}

#[test]
fn a_process_whose_main_thread_exited_is_the_owner() {
    assert_owned("leader-exit", None);
}

#[test]
fn a_memory_mapping_of_the_socket_names_its_process() {
    assert_owned("mapping", Some("held through a memory mapping"));
}

#[test]
fn an_io_uring_registered_file_names_its_process() {
    assert_owned("io-uring", Some("held by io_uring"));
}

#[test]
fn an_io_uring_ring_in_a_threads_own_table_names_its_process() {
    assert_owned("io-uring-thread", Some("held by io_uring"));
}

#[test]
fn an_io_uring_ring_after_the_main_thread_exited_names_its_process() {
    assert_owned("io-uring-leader-exit", Some("held by io_uring"));
}

#[test]
fn a_memory_mapping_after_the_main_thread_exited_names_its_process() {
    assert_owned("mapping-leader-exit", Some("held through a memory mapping"));
}

/// `hold MODE` for a co-holder mode: the listener is held by two processes, at least one of
/// them only in a thread's own descriptor table. Both owner lookups name both, as ordinary
/// descriptors (the walk used to stop at the first holder it found).
fn assert_both_holders_named(mode: &str) {
    let dir = tempdir();
    let Some(bin) = build(dir.path()) else {
        return;
    };
    let mut child = common::listener::spawn_retrying(
        Command::new(&bin)
            .arg(mode)
            .stdin(Stdio::null())
            .stdout(Stdio::piped()),
    );
    let line = common::ready_line(&mut child, std::time::Duration::from_secs(20));
    let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{mode}: {e}: {line:?}")
    });
    let mut holders: Vec<u64> = ready["holders"]
        .as_array()
        .expect("holders")
        .iter()
        .map(|p| p.as_u64().expect("pid"))
        .collect();
    holders.sort_unstable();
    let home = tempdir();
    let mut docs = Vec::new();
    for lookup in ["procfs", "bpf"] {
        let out = common::whoport(home.path())
            .env("WHOPORT_OWNER_LOOKUP", lookup)
            .args(["--json", &ready["port"].to_string()])
            .output()
            .expect("whoport runs");
        docs.push((lookup, out.stdout));
    }
    // The forked child dies with its parent (PR_SET_PDEATHSIG).
    let _ = child.kill();
    let _ = child.wait();
    let ours = common::listener::Bound {
        protocol: "tcp".into(),
        address: "127.0.0.1".into(),
        port: ready["port"].as_u64().expect("port") as u16,
    };
    for (lookup, out) in docs {
        let doc: Value = serde_json::from_slice(&out).expect("json");
        let rows = common::listener::rows(&doc, &ours);
        assert_eq!(rows.len(), 1, "{mode}, {lookup}: {doc}");
        let owners: Vec<u64> = rows[0]["owners"]
            .as_array()
            .expect("owners")
            .iter()
            .map(|o| o["pid"].as_u64().expect("pid"))
            .collect();
        assert_eq!(owners, holders, "{mode}, {lookup}: {}", rows[0]);
        assert!(
            rows[0]["held_through"].is_null(),
            "{mode}, {lookup}: {}",
            rows[0]
        );
    }
}

/// Can whoport look into the kernel's io_uring instances here (root, kernel BTF)?
fn can_look_into_rings() -> bool {
    common::is_root() && std::path::Path::new("/sys/kernel/btf/vmlinux").exists()
}

/// Where whoport can look into io_uring instances: owned, as [`assert_owned`] checks. Where
/// it cannot (not root): no owner, and the reason says what `/proc` established (`clue`, with
/// `{pid}` for the helper's), never a process that does not hold it.
fn assert_owned_in_ring(mode: &str, held: &str, clue: &str) {
    if can_look_into_rings() {
        assert_owned(mode, Some(held));
        return;
    }
    let Some((row, by_default, pid, _)) = rows(mode) else {
        return;
    };
    let clue = clue.replace("{pid}", &pid.to_string());
    for r in [&row, &by_default] {
        assert!(
            r["owners"].as_array().is_some_and(Vec::is_empty),
            "{mode}: {r}"
        );
        let reason = r["owner_hidden_reason"].as_str().expect("a reason");
        assert!(reason.contains(&clue), "{mode}: {reason}");
        // Said as a possibility, with why whoport could not look (other rings of this user
        // may be named before the helper's).
        if clue.starts_with("pid ") {
            assert!(
                reason.starts_with("perhaps held by io_uring, where whoport could not look ("),
                "{mode}: {reason}"
            );
        }
    }
}

#[test]
fn a_co_holder_through_its_threads_own_table_is_named_both_ways() {
    assert_both_holders_named("co-holder-thread");
}

#[test]
fn two_processes_holding_a_socket_in_threads_own_tables_are_both_named_both_ways() {
    assert_both_holders_named("co-holders-threads");
}

#[test]
fn an_accept_in_flight_in_io_uring_names_its_process() {
    assert_owned_in_ring(
        "io-uring-accept",
        "held by io_uring (a request in flight)",
        "pid {pid} (hold) has an io_uring with 1 request in flight (accept), whose files the \
         kernel does not name",
    );
}

#[test]
fn an_accept_issued_by_an_io_wq_worker_names_its_process() {
    // IOSQE_ASYNC: the ring's io-wq worker (an iou-wrk thread of the helper) issues the
    // accept, and for a socket arms a poll: the request waits in the ring's cancel table.
    assert_owned_in_ring(
        "io-uring-accept-async",
        "held by io_uring (a request in flight)",
        "pid {pid} (hold) has an io_uring with 1 request in flight (accept), whose files the \
         kernel does not name",
    );
}

#[test]
fn a_recv_in_flight_in_io_uring_names_the_udp_sockets_process() {
    assert_owned_in_ring(
        "io-uring-recv-udp",
        "held by io_uring (a request in flight)",
        "pid {pid} (hold) has an io_uring with 1 request in flight (recv), whose files the \
         kernel does not name",
    );
}

#[test]
fn a_ring_reachable_only_through_the_registered_ring_table_names_its_process() {
    // Nothing in /proc shows the ring: the reason says it is possible.
    assert_owned_in_ring(
        "io-uring-ring-fd",
        "held by io_uring",
        "an io_uring instance that no descriptor reaches (a ring registered \
         with IORING_REGISTER_RING_FDS)",
    );
}

#[test]
fn a_socket_registered_last_among_many_files_names_its_process() {
    // As many registered files as the descriptor limit allows (65,536 at most): the fdinfo
    // numbers them without padding from 10000 on.
    assert_owned("io-uring-many", Some("held by io_uring"));
}

#[test]
fn a_ring_held_only_by_a_poll_in_another_ring_names_its_process() {
    // Ring B (holding the socket) is reachable only through a poll in flight in ring A. As
    // root the in-kernel look reads B from the process's io_uring context: named by both
    // lookups. Not root: A's fdinfo lists a poll in flight, said as a possibility.
    assert_owned_in_ring(
        "io-uring-nested",
        "held by io_uring",
        "pid {pid} (hold) has an io_uring with 1 request in flight (poll)",
    );
}

#[test]
fn a_splice_blocked_in_an_io_wq_worker_names_its_process() {
    // A splice from an empty pipe into the listener, issued with IOSQE_ASYNC: the ring's
    // io-wq worker sleeps in it without arming a poll, so it is in no cancel table, and the
    // listener's descriptor is closed. As root the in-kernel look reads the worker's current
    // request: named by both lookups, as a request in flight. Not root: the worker is seen in
    // /proc, its request's files are not, said as a possibility.
    assert_owned_in_ring(
        "io-uring-splice-blocked",
        "held by io_uring (a request in flight)",
        "pid {pid} (hold) has an io_uring worker (iou-wrk) blocked in a request",
    );
}

#[test]
fn a_splice_reading_a_udp_socket_in_an_io_wq_worker_names_its_process() {
    // A splice from the UDP socket into a pipe, issued with IOSQE_ASYNC: the request's own
    // file is the pipe, the socket only its input (not kept in the request), and its
    // descriptor is closed. The worker sleeps on the socket's wait queue waiting for a
    // datagram: as root it is found there, by both lookups, as a request in flight reading
    // the socket. (Not root: `tests/io_uring_scope.rs` checks the worker offered.)
    if !can_look_into_rings() {
        return;
    }
    let Some((row, by_default, pid, card)) = row("io-uring-splice-udp") else {
        return;
    };
    for r in [&row, &by_default] {
        assert_eq!(
            r["held_through"], "held by io_uring (a request in flight)",
            "{r}"
        );
        assert_eq!(r["owners"][0]["pid"], pid, "{r}");
        let threads = r["blocked_calls"].as_array().expect("blocked_calls");
        assert_eq!(threads.len(), 1, "{r}");
        let worker = &threads[0];
        assert_eq!(worker["pid"], pid, "{r}");
        assert!(
            worker["tid"].as_u64().is_some_and(|t| t != u64::from(pid)),
            "{r}"
        );
        assert_eq!(worker["io_uring_worker"], true, "{r}");
        assert_eq!(worker["reading"], true, "{r}");
        assert_eq!(worker["wait_entry"], "thread", "{r}");
        // A worker makes no system call of its own: none is named.
        assert!(worker["system_call"].is_null(), "{r}");
        assert!(worker["descriptor"].is_null(), "{r}");
        assert!(r["owner_hidden_reason"].is_null(), "{r}");
    }
    let line = card
        .lines()
        .find(|l| l.contains("held by io_uring (a request in flight): io_uring worker thread "))
        .unwrap_or_else(|| panic!("{card}"));
    // (Followed, where a process was not read, by the processes that may hold it too.)
    let words =
        " (iou-wrk) running a request that reads this socket, asleep waiting for a datagram";
    assert!(
        line.ends_with(words) || line.contains(&format!("{words}; ")),
        "{line}"
    );
}

#[test]
fn a_splice_reading_a_udp_socket_while_waiting_on_its_pipe_is_not_said_ruled_out() {
    // The same splice into a full pipe: the worker waits for room in the pipe, on the pipe's
    // wait queue. Nothing the kernel shows names the socket's holder: no owner, and the
    // reason keeps the splice's input among what whoport does not look into (both lookups).
    if !common::is_root() {
        return;
    }
    let Some((row, by_default, _, _)) = rows("io-uring-splice-udp-full") else {
        return;
    };
    for r in [&row, &by_default] {
        assert!(r["owners"].as_array().is_some_and(Vec::is_empty), "{r}");
        assert!(r["held_through"].is_null(), "{r}");
        let reason = r["owner_hidden_reason"].as_str().expect("a reason");
        assert!(
            reason.contains(
                "an io_uring splice in flight reading it (whose input whoport does not read)"
            ),
            "{reason}"
        );
    }
    assert_eq!(
        row["owner_hidden_reason"], by_default["owner_hidden_reason"],
        "the lookups disagree"
    );
}

#[test]
fn a_ring_with_more_files_than_the_kernel_walk_reads_is_said_not_read_to_the_end() {
    // The socket is the last of 10,000 registered files of a ring only the registered ring
    // table reaches (no descriptor, no mapping, no fdinfo): the in-kernel walk stops at its
    // bound (8,192 steps per task) before it. As root the reason names the ring's process as
    // not read to the end; not root, nothing in /proc shows the ring.
    let Some((row, by_default, pid, _)) = rows("io-uring-ring-fd-many") else {
        return;
    };
    for r in [&row, &by_default] {
        assert!(r["owners"].as_array().is_some_and(Vec::is_empty), "{r}");
        let reason = r["owner_hidden_reason"].as_str().expect("a reason");
        if can_look_into_rings() {
            assert!(reason.starts_with("perhaps held by io_uring"), "{reason}");
            let expected = format!(
                "pid {pid} (hold) has an io_uring whose files and requests whoport could not \
                 read to the end"
            );
            assert!(reason.contains(&expected), "{reason}");
        } else if !common::is_root() {
            assert!(
                reason.contains("an io_uring instance that no descriptor reaches"),
                "{reason}"
            );
        }
    }
}

#[test]
fn rings_holding_each_other_and_nothing_else_name_their_process() {
    // Ring B holds the socket as a registered file; a poll in flight in ring A holds B and one
    // in B holds A; every descriptor is closed and neither ring mapped: no descriptor, mapping
    // or registered ring table reaches them. As root the in-kernel look reads them from the
    // process's io_uring context (the rings it made or submitted to): named by both lookups.
    // Not root, nothing in /proc shows the rings, and the reason says what remains possible.
    if can_look_into_rings() {
        assert_owned("io-uring-cycle", Some("held by io_uring"));
        return;
    }
    let Some((row, by_default, _, _)) = rows("io-uring-cycle") else {
        return;
    };
    for r in [&row, &by_default] {
        assert!(r["owners"].as_array().is_some_and(Vec::is_empty), "{r}");
        let reason = r["owner_hidden_reason"].as_str().expect("a reason");
        if !common::is_root() {
            assert!(
                reason.contains("an io_uring instance that no descriptor reaches"),
                "{reason}"
            );
        }
    }
}

#[test]
fn a_registered_ring_still_mapped_names_its_process() {
    assert_owned_in_ring(
        "io-uring-ring-fd-mapped",
        "held by io_uring",
        "pid {pid} (hold) maps an io_uring whose descriptor is closed (its registered files \
         have no fdinfo to be read from)",
    );
}

/// Rings kept alive only by their memory mappings (the ring's descriptor closed after mmap):
/// no fdinfo to read, but the in-kernel look starts from the mapping's file. As root the
/// holder is named by both lookups; otherwise the mapping is what is established (never a
/// process that does not hold it).
#[test]
fn an_accept_in_flight_in_a_ring_kept_only_by_its_mapping_names_its_process() {
    assert_owned_in_ring(
        "io-uring-accept-mapped",
        "held by io_uring (a request in flight)",
        "pid {pid} (hold) maps an io_uring whose descriptor is closed",
    );
}

#[test]
fn a_registered_file_of_a_ring_kept_only_by_its_mapping_names_its_process() {
    assert_owned_in_ring(
        "io-uring-mapped",
        "held by io_uring",
        "pid {pid} (hold) maps an io_uring whose descriptor is closed",
    );
}

#[test]
fn a_socket_in_the_second_registered_ring_names_its_process() {
    // Every ring of the registered ring table is walked, not only the first.
    assert_owned_in_ring(
        "io-uring-ring-fd-second",
        "held by io_uring",
        "an io_uring instance that no descriptor reaches (a ring registered \
         with IORING_REGISTER_RING_FDS)",
    );
}

/// A listener whose only reference is in transit (SCM_RIGHTS, to a forked child that never
/// reads), and a file named after it, `socket:[INODE]`, mapped into the sender's memory and
/// registered in an io_uring ring of its own. Prints {"port", "pid", "ring"}.
const NAMED_LIKE_A_SOCKET: &str = r#"
import array, ctypes, json, mmap, os, shutil, socket, sys, tempfile
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
child = os.fork()
if child == 0:
    a.close()
    sys.stdin.read()
    os._exit(0)
b.close()
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
port, inode = s.getsockname()[1], os.fstat(s.fileno()).st_ino
d = tempfile.mkdtemp()
path = os.path.join(d, "socket:[%d]" % inode)
with open(path, "wb") as f:
    f.write(b"x" * 4096)
f = open(path, "rb")
m = mmap.mmap(f.fileno(), 4096, mmap.MAP_SHARED, mmap.PROT_READ)
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
params = ctypes.create_string_buffer(120)
ring = libc.syscall(425, 4, params)  # io_uring_setup
if ring >= 0:
    files = (ctypes.c_int * 1)(f.fileno())
    if libc.syscall(427, ring, 2, files, 1) < 0:  # io_uring_register, IORING_REGISTER_FILES
        ring = -1
a.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [s.fileno()]))])
s.close()
print(json.dumps({"port": port, "pid": os.getpid(), "ring": ring >= 0}), flush=True)
sys.stdin.read()
shutil.rmtree(d)
os.kill(child, 9)
"#;

#[test]
fn a_file_named_like_a_socket_is_not_that_socket() {
    let Some(py) = common::listener::python() else {
        return;
    };
    let mut child = common::listener::spawn_retrying(
        Command::new(py)
            .args(["-c", NAMED_LIKE_A_SOCKET])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    );
    let line = common::ready_line(&mut child, std::time::Duration::from_secs(20));
    let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    let home = tempdir();
    let mut docs = Vec::new();
    for lookup in ["procfs", "bpf"] {
        let out = common::whoport(home.path())
            .env("WHOPORT_OWNER_LOOKUP", lookup)
            .arg("--json")
            .output()
            .expect("whoport runs");
        docs.push((lookup, out.stdout));
    }
    drop(child.stdin.take());
    let _ = child.wait();
    let ours = common::listener::Bound {
        protocol: "tcp".into(),
        address: "127.0.0.1".into(),
        port: ready["port"].as_u64().expect("port") as u16,
    };
    for (lookup, out) in docs {
        let doc: Value = serde_json::from_slice(&out).expect("json");
        let rows = common::listener::rows(&doc, &ours);
        assert_eq!(rows.len(), 1, "{lookup}: {doc}");
        assert_eq!(
            rows[0]["owners"].as_array().map(Vec::len),
            Some(0),
            "{lookup}: the file's holder (pid {}, ring: {}) does not hold the socket: {}",
            ready["pid"],
            ready["ring"],
            rows[0]
        );
        assert!(rows[0]["held_through"].is_null(), "{lookup}: {}", rows[0]);
    }
}

/// whoport's JSON as nobody in its own `unshare -U -r` (nobody is root inside), through the
/// shared helper: under its time limit, with its clean environment. `None` (after a SKIPPED
/// line) where no user namespace can be made.
fn as_nobody_in_a_user_namespace(home: &std::path::Path, args: &[&str]) -> Option<Value> {
    let out = common::command(&home.join("none"), std::path::Path::new("unshare"))
        .args(["-U", "-r"])
        .arg(common::bin())
        .arg("--json")
        .args(args)
        .env("XDG_CONFIG_HOME", home.join("none"))
        .uid(65534)
        .gid(65534)
        .output()
        .expect("unshare runs");
    if !out.status.success() && out.stdout.is_empty() {
        eprintln!(
            "SKIPPED: no user namespace here: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    Some(serde_json::from_slice(&out.stdout).expect("json"))
}

#[test]
fn roots_socket_seen_from_a_user_namespace_is_not_nobodys() {
    if common::listener::python().is_none() || !have("unshare", "apt-get install -y util-linux") {
        return;
    }
    if !common::is_root() {
        eprintln!(
            "SKIPPED: a listener of root's, seen from another user's user namespace, needs root"
        );
        return;
    }
    let l = common::listener::Listener::start(&["tcp4"]);
    let home = tempdir();
    // As nobody, `unshare -U -r` maps nobody to root inside: the machine's root (uid 0) has no
    // mapping there, and the kernel shows it as the overflow uid 65534.
    let Some(doc) = as_nobody_in_a_user_namespace(home.path(), &[]) else {
        return;
    };
    // The test's own socket: its port number alone may be another socket's too (UDP, ::1).
    let row = common::listener::rows(&doc, &l.sockets[0]);
    assert_eq!(row.len(), 1, "{doc}");
    assert!(
        row[0]["uid"].is_null(),
        "an unmapped uid is unknown: {}",
        row[0]
    );
    assert!(row[0]["user"].is_null(), "never 'nobody': {}", row[0]);
    // whoport is root only in that namespace: never "root cannot read".
    let port = l.sockets[0].port.to_string();
    for args in [vec![port.as_str()], vec!["audit"]] {
        let Some(doc) = as_nobody_in_a_user_namespace(home.path(), &args) else {
            return;
        };
        let text = doc.to_string();
        assert!(!text.contains("root cannot read"), "{args:?}: {text}");
        if args.len() == 1 {
            assert!(
                text.contains("the root of a user namespace cannot read"),
                "{args:?}: {text}"
            );
        }
    }
}

/// Root's own listener seen from root's `unshare -U -r` (root inside is root outside, and
/// still only root in that namespace): the processes whoport cannot read there are root's,
/// the same user's. The table, the card and the audit say they are outside the user
/// namespace, never "other users'" (they said "in processes of other users", and the audit's
/// fix "which cannot read other users' descriptors").
#[test]
fn roots_own_processes_seen_from_roots_user_namespace_are_not_other_users() {
    if common::listener::python().is_none() || !have("unshare", "apt-get install -y util-linux") {
        return;
    }
    if !common::is_root() {
        eprintln!("SKIPPED: root's own listener seen from root's user namespace needs root");
        return;
    }
    let l = common::listener::Listener::start(&["tcp4"]);
    let home = tempdir();
    let port = l.sockets[0].port.to_string();
    for args in [
        vec!["--json", port.as_str()],
        vec![port.as_str()],
        vec!["--wide"],
        vec!["audit", "--json"],
        vec!["audit"],
    ] {
        let out = common::command(home.path(), std::path::Path::new("unshare"))
            .args(["-U", "-r"])
            .arg(common::bin())
            .args(&args)
            .env("COLUMNS", "400")
            .output()
            .expect("unshare runs");
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() && text.is_empty() {
            eprintln!(
                "SKIPPED: no user namespace here: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
        // The test's own listener is ownerless there: what is said of it is checked.
        assert!(text.contains("user namespace"), "{args:?}: {text}");
        assert!(!text.contains("other users"), "{args:?}: {text}");
    }
}

/// A user's own socket seen from that user's `unshare -U -r`: inside, the kernel numbers the
/// user 0, but it is not the machine's root: the machine's uid and user are shown, and
/// `--user root` does not match it.
#[test]
fn a_users_own_socket_seen_from_its_user_namespace_is_not_roots() {
    if common::listener::python().is_none() || !have("unshare", "apt-get install -y util-linux") {
        return;
    }
    // The listener is nobody's: started as nobody by root, or nobody's own in the run as nobody.
    // The system's interpreter: one that nobody can run whoever installed another.
    let python = std::path::Path::new("/usr/bin/python3");
    if !python.exists() {
        eprintln!("SKIPPED: no /usr/bin/python3 for a listener of nobody's");
        return;
    }
    let mut cmd = Command::new(python);
    cmd.arg(common::fixture("listen.py")).arg("tcp4");
    if common::is_root() {
        use std::os::unix::process::CommandExt;
        cmd.uid(65534).gid(65534);
    }
    let l = common::listener::Listener::start_command(cmd);
    let home = tempdir();
    let run = |args: &[&str]| as_nobody_in_a_user_namespace(home.path(), args);
    let Some(doc) = run(&[]) else {
        return;
    };
    let row = common::listener::rows(&doc, &l.sockets[0]);
    assert_eq!(row.len(), 1, "{doc}");
    assert_eq!(row[0]["uid"], 65534, "the machine's uid: {}", row[0]);
    assert_eq!(row[0]["user"], "nobody", "{}", row[0]);
    let owners = row[0]["owners"].to_string();
    assert!(!owners.contains("\"root\""), "{owners}");
    let port = l.sockets[0].port.to_string();
    let doc = run(&["--user", "root", &port]).expect("a user namespace, as above");
    assert!(
        common::listener::rows(&doc, &l.sockets[0]).is_empty(),
        "--user root: {doc}"
    );
}

#[test]
fn the_committed_io_uring_object_is_built_from_its_source() {
    if !have("clang", "apt-get install -y clang") || !have("llvm-strip", "apt-get install -y llvm")
    {
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempdir();
    let out = dir.path().join("io_uring.bpf.o");
    let status = Command::new("timeout")
        .arg("120")
        .arg(root.join("bpf/build.sh"))
        .arg(&out)
        .arg("io_uring")
        .env("TMPDIR", dir.path())
        .status()
        .expect("bpf/build.sh runs");
    assert!(status.success(), "bpf/build.sh failed");
    let rebuilt = std::fs::read(&out).expect("rebuilt object");
    let committed = std::fs::read(root.join("bpf/io_uring.bpf.o")).expect("committed object");
    assert!(
        rebuilt == committed,
        "bpf/io_uring.bpf.o does not match bpf/io_uring.bpf.c: run bpf/build.sh and commit it"
    );
}

/// `hold MODE` started by `cmd` (the helper, or a wrapper given the helper's path), and what it
/// reported once ready; `None` (said skipped, the helper ended) when the kernel refused the mode.
fn started(mut cmd: Command, mode: &str) -> Option<(std::process::Child, Value)> {
    let mut child =
        common::listener::spawn_retrying(cmd.arg(mode).stdin(Stdio::null()).stdout(Stdio::piped()));
    let line = common::ready_line(&mut child, std::time::Duration::from_secs(60));
    match serde_json::from_str::<Value>(&line) {
        Ok(ready) => Some((child, ready)),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            eprintln!("SKIPPED: the kernel refused '{mode}' here");
            None
        }
    }
}

/// The variable that asks for the owner lookup `lookup` ("none": no BPF at all, the walk
/// alone), and its value ([`lookup_value`]).
fn lookup_variable(lookup: &str) -> &'static str {
    if lookup == "none" {
        "WHOPORT_NO_BPF"
    } else {
        "WHOPORT_OWNER_LOOKUP"
    }
}

fn lookup_value(lookup: &str) -> &str {
    if lookup == "none" {
        "1"
    } else {
        lookup
    }
}

/// whoport's JSON as root without CAP_SYS_PTRACE, with the given owner lookup ("none": no BPF
/// at all, the walk alone).
fn without_ptrace(lookup: &str, args: &[&str]) -> Value {
    let home = tempdir();
    let out = common::command(home.path(), std::path::Path::new("setpriv"))
        .args(["--inh-caps=-sys_ptrace", "--bounding-set=-sys_ptrace"])
        .arg(common::bin())
        .env(lookup_variable(lookup), lookup_value(lookup))
        .args(args)
        .output()
        .expect("whoport runs");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{out:?}"))
}

/// A socket a ring may hold (the last of 10,000 registered files of a ring only the
/// registered ring table reaches: not walked to the end), its holder run as nobody, whoport
/// as root without CAP_SYS_PTRACE: the walk cannot read the holder's descriptors, but the
/// look into rings runs in the kernel, which reads every table too. The reason's "otherwise"
/// part must not blame processes the walk could not read (the kernel read them: no table
/// holds the socket), and both lookups say the same.
#[test]
fn the_otherwise_part_never_names_processes_the_kernel_read() {
    if !can_look_into_rings() || !have("setpriv", "apt-get install -y util-linux") {
        return;
    }
    let dir = tempdir();
    let Some(bin) = build(dir.path()) else { return };
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut as_nobody = Command::new("setpriv");
    as_nobody
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin);
    let Some((mut child, ready)) = started(as_nobody, "io-uring-ring-fd-many") else {
        return;
    };
    let (port, pid) = (ready["port"].clone(), ready["pid"].clone());
    let mut reasons = Vec::new();
    for lookup in ["procfs", "bpf"] {
        let doc = without_ptrace(lookup, &["--json", &port.to_string()]);
        let rows: Vec<&Value> = doc["listeners"]
            .as_array()
            .expect("listeners")
            .iter()
            .filter(|l| l["protocol"] == "tcp" && l["address"] == "127.0.0.1")
            .collect();
        assert_eq!(rows.len(), 1, "{lookup}: {doc}");
        assert!(
            rows[0]["owners"].as_array().is_some_and(Vec::is_empty),
            "{doc}"
        );
        let reason = rows[0]["owner_hidden_reason"].as_str().expect("a reason");
        reasons.push(reason.to_string());
    }
    let _ = child.kill();
    let _ = child.wait();
    // Other tests' rings may be named too: only the helper's, and the otherwise part, are
    // checked.
    let expected = format!(
        "pid {pid} (hold) has an io_uring whose files and requests whoport could not read to \
         the end"
    );
    let mut otherwise_parts = Vec::new();
    for reason in &reasons {
        assert!(reason.starts_with("perhaps held by io_uring: "), "{reason}");
        assert!(reason.contains(&expected), "{reason}");
        let (_, otherwise) = reason
            .rsplit_once("; otherwise ")
            .expect("an otherwise part");
        // Only processes the kernel did not read either may be named as not read: those /proc
        // closes to root that its task iterator does not visit (a microVM's init).
        if otherwise.contains("could not") {
            let unseen = common::unseen_by_root().unwrap_or_default();
            let named = named_unread(otherwise);
            assert!(
                !named.is_empty() && named.iter().all(|p| unseen.contains(p)),
                "{unseen:?}: {reason}"
            );
        }
        assert!(!otherwise.contains(&format!("PID {pid}")), "{reason}");
        otherwise_parts.push(otherwise.to_string());
    }
    assert_eq!(otherwise_parts[0], otherwise_parts[1], "{reasons:?}");
}

/// Root without CAP_SYS_PTRACE cannot read the descriptors of processes with capabilities it
/// lacks: more of them than whoport names (a python listener and twelve more processes). The walk's
/// reason and the audit's fix say the named PIDs are a part ("and N more", N the ones not
/// named), without BPF (which would read them in the kernel); the in-kernel lookup reads every
/// table and names the holder.
#[test]
fn a_cut_list_of_unreadable_processes_says_how_many_more() {
    if !have("setpriv", "apt-get install -y util-linux") || !common::is_root() {
        return;
    }
    let Some(python) = common::listener::python() else {
        return;
    };
    let mut others: Vec<std::process::Child> = (0..12)
        .map(|_| {
            Command::new("sleep")
                .arg("120")
                .stdin(Stdio::null())
                .spawn()
                .expect("sleep")
        })
        .collect();
    let (mut child, ready) = listening(&python, &[]);
    let port = ready["port"].to_string();
    let walked = without_ptrace("none", &["--json", &port]);
    let audit = without_ptrace("none", &["audit", "--json"]);
    let by_kernel = can_look_into_rings().then(|| without_ptrace("bpf", &["--json", &port]));
    for c in others.iter_mut().chain(std::iter::once(&mut child)) {
        let _ = c.kill();
        let _ = c.wait();
    }
    let row = &walked["listeners"][0];
    let reason = row["owner_hidden_reason"]
        .as_str()
        .unwrap_or_else(|| panic!("{walked}"));
    let (count, named, more) = cut_list(reason, " processes' could not (").expect(reason);
    assert!(
        count >= 13 && named == 8 && named + more == count,
        "{reason}"
    );
    let hint = audit["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == "hidden-owner" && f["listener"]["port"] == ready["port"])
        .and_then(|f| f["hint"].as_str())
        .unwrap_or_else(|| panic!("{audit}"));
    // The audit is a run of its own: as many processes need not be unreadable then.
    let hinted = hint
        .split_once(" more:")
        .and_then(|(head, _)| head.rsplit_once(" and "))
        .and_then(|(_, n)| n.parse::<usize>().ok());
    assert!(hinted.is_some_and(|n| n > 0), "{hint}");
    if let Some(doc) = by_kernel {
        assert_eq!(
            doc["listeners"][0]["owners"][0]["pid"], ready["pid"],
            "{doc}"
        );
    }
}

/// `args` of whoport run as root inside a Landlock domain of its own (tests/fixtures/landlocked.py),
/// without CAP_SYS_RESOURCE (from its bounding set): a security module then refuses it the
/// descriptors of every process outside the domain, though it holds CAP_SYS_PTRACE and
/// CAP_DAC_READ_SEARCH. `lookup` as for [`without_ptrace`]. `None` where the kernel makes no
/// Landlock domain (a failure under `CI=true`, a visible skip otherwise).
fn landlocked(python: &std::path::Path, lookup: &str, args: &[&str]) -> Option<Value> {
    landlocked_as(
        python,
        &["--inh-caps=-sys_resource", "--bounding-set=-sys_resource"],
        lookup,
        args,
    )
}

/// As [`landlocked`], whoport run by `setpriv` with `setpriv_args` instead.
fn landlocked_as(
    python: &std::path::Path,
    setpriv_args: &[&str],
    lookup: &str,
    args: &[&str],
) -> Option<Value> {
    let home = common::shared_tempdir();
    let out = common::command(home.path(), python)
        .arg(common::fixture("landlocked.py"))
        .arg("setpriv")
        .args(setpriv_args)
        .arg(common::bin())
        .env(lookup_variable(lookup), lookup_value(lookup))
        .args(args)
        .output()
        .expect("the fixture runs");
    if out.status.code() == Some(77) {
        let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "a Landlock domain is needed under CI=true: {why}"
        );
        eprintln!("SKIPPED: {why}");
        return None;
    }
    Some(serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{out:?}")))
}

/// A listener whose descriptors a security module (Landlock) refuses to whoport as root,
/// whoport holding CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH but not every capability
/// (CAP_SYS_RESOURCE dropped, as a container's root may lack several): the walk's reason says
/// the capabilities root was refused with, never "every capability", and names the security
/// module; the in-kernel lookup, which no such check stops, names the holder.
#[test]
fn a_security_modules_refusal_names_the_capabilities_root_holds() {
    if !common::root_or_skip("a Landlock domain around whoport as root")
        || !have("setpriv", "apt-get install -y util-linux")
    {
        return;
    }
    let Some(python) = common::listener::python() else {
        return;
    };
    let (mut child, ready) = listening(&python, &[]);
    let port = ready["port"].to_string();
    let walked = landlocked(&python, "none", &["--json", &port]);
    let by_kernel = (walked.is_some() && can_look_into_rings())
        .then(|| landlocked(&python, "bpf", &["--json", &port]))
        .flatten();
    let _ = child.kill();
    let _ = child.wait();
    let Some(walked) = walked else { return };
    let row = &walked["listeners"][0];
    assert_eq!(row["owners"], serde_json::json!([]), "{walked}");
    let reason = row["owner_hidden_reason"]
        .as_str()
        .unwrap_or_else(|| panic!("{walked}"));
    assert!(
        reason.contains(
            "could not (refused to root, which holds CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH: \
             by a security module (LSM))"
        ),
        "{reason}"
    );
    assert!(!reason.contains("every capability"), "{reason}");
    if let Some(doc) = by_kernel {
        assert_eq!(doc["owner_lookup"], "bpf", "{doc}");
        assert_eq!(
            doc["listeners"][0]["owners"][0]["pid"], ready["pid"],
            "{doc}"
        );
    }
}

/// A listener of nobody's own process (dumpable), looked at by nobody inside a Landlock
/// domain that process is outside of: its descriptor table opens, but the link of each
/// descriptor is refused. whoport never says that no process of this user holds it: it names
/// that process among this user's own that a security module refused.
#[test]
fn a_users_own_process_a_security_module_refuses_is_named_never_ruled_out() {
    if !common::root_or_skip("a Landlock domain around whoport as nobody")
        || !have("setpriv", "apt-get install -y util-linux")
    {
        return;
    }
    let Some(python) = common::listener::python() else {
        return;
    };
    let nobody = ["--reuid=65534", "--regid=65534", "--clear-groups"];
    // Debian's python, which nobody may run.
    let as_nobody = [&nobody[..], &["/usr/bin/python3"]].concat();
    let (mut child, ready) = listening(std::path::Path::new("setpriv"), &as_nobody);
    let port = ready["port"].to_string();
    let doc = landlocked_as(&python, &nobody, "none", &["--json", &port]);
    let _ = child.kill();
    let _ = child.wait();
    let Some(doc) = doc else { return };
    let row = &doc["listeners"][0];
    assert_eq!(row["owners"], serde_json::json!([]), "{doc}");
    let reason = row["owner_hidden_reason"]
        .as_str()
        .unwrap_or_else(|| panic!("{doc}"));
    assert!(
        !reason.contains("no process of this user holds"),
        "{reason}"
    );
    assert!(
        reason.contains("this user's and dumpable: refused by a security module (LSM)")
            && reason.contains(&ready["pid"].to_string()),
        "{reason}"
    );
}

/// Starts `program` (a python) running [`LISTEN`] after `args` (none, or what runs it as
/// another user), and waits for the port and PID it reports.
fn listening(program: &std::path::Path, args: &[&str]) -> (std::process::Child, Value) {
    let mut child = common::listener::spawn_retrying(
        Command::new(program)
            .args(args)
            .args(["-c", LISTEN])
            .stdin(Stdio::null())
            .stdout(Stdio::piped()),
    );
    let ready = serde_json::from_str(&common::ready_line(
        &mut child,
        std::time::Duration::from_secs(60),
    ))
    .expect("python reports");
    (child, ready)
}

/// A python listener on loopback that reports its port and PID as JSON.
const LISTEN: &str = "import socket, os, json, time
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()
print(json.dumps({'port': s.getsockname()[1], 'pid': os.getpid()}), flush=True)
time.sleep(120)";

/// From "N processes' could not (...): PIDs a, b and M more": (N, the PIDs named, M).
fn cut_list(reason: &str, after_count: &str) -> Option<(usize, usize, usize)> {
    let (head, tail) = reason.split_once(after_count)?;
    let count = head.rsplit(' ').next()?.parse().ok()?;
    let list = tail.split_once("): PIDs ")?.1.split(';').next()?;
    let (pids, more) = list.split_once(" and ")?;
    let more = more.strip_suffix(" more")?.parse().ok()?;
    Some((count, pids.split(", ").count(), more))
}

/// An accept in flight in a ring whose descriptor stays open, whoport as root without
/// CAP_SYS_PTRACE: the walk cannot read the holder's descriptors, so whether the ring it maps
/// has an open descriptor is not known, and it is said so, never "whose descriptor is closed"
/// (without BPF, where the kernel is not looked into); the in-kernel lookup names the holder.
#[test]
fn a_mapped_ring_of_a_process_whose_descriptors_were_not_read_is_not_called_closed() {
    if !have("setpriv", "apt-get install -y util-linux") || !common::is_root() {
        return;
    }
    let dir = tempdir();
    let Some(bin) = build(dir.path()) else { return };
    let Some((mut child, ready)) = started(Command::new(&bin), "io-uring-accept") else {
        return;
    };
    let port = ready["port"].to_string();
    let walked = without_ptrace("none", &["--json", &port]);
    let by_kernel = can_look_into_rings().then(|| without_ptrace("bpf", &["--json", &port]));
    let _ = child.kill();
    let _ = child.wait();
    let reason = walked["listeners"][0]["owner_hidden_reason"]
        .as_str()
        .unwrap_or_else(|| panic!("{walked}"));
    let pid = &ready["pid"];
    assert!(
        reason.contains(&format!(
            "pid {pid} (hold) maps an io_uring; its descriptors could not be read"
        )),
        "{reason}"
    );
    assert!(!reason.contains("whose descriptor is closed"), "{reason}");
    if let Some(doc) = by_kernel {
        assert_eq!(doc["listeners"][0]["owners"][0]["pid"], *pid, "{doc}");
    }
}

/// The PIDs a reason names as processes whose descriptors could not be read.
fn named_unread(reason: &str) -> Vec<u32> {
    reason
        .split("): PID")
        .nth(1)
        .and_then(|rest| rest.trim_start_matches('s').split(';').next())
        .unwrap_or("")
        .split(',')
        .filter_map(|p| p.trim().parse().ok())
        .collect()
}

/// A process whose main thread exited (`pthread_exit`) while another thread holds its
/// listener: its `/proc/PID/fd` counts no descriptor (the main thread's table is gone), the
/// other thread's counts them. Root without CAP_SYS_PTRACE cannot read its tables, so it must
/// be named among the processes not read, with either lookup (in a PID namespace of its own,
/// where the list is short: the namespace's first process and the holder). Before, it was taken
/// for a process without descriptors and left out of the list.
#[test]
fn a_process_whose_main_thread_exited_is_named_among_those_not_read() {
    if !common::root_or_skip("unshare -p")
        || !have("unshare", "apt-get install -y util-linux")
        || !have("setpriv", "apt-get install -y util-linux")
        || !have("ip", "apt-get install -y iproute2")
    {
        return;
    }
    let dir = tempdir();
    let Some(bin) = build(dir.path()) else { return };
    let script = r#"
set -e
ip link set lo up
"$HOLD" leader-exit > "$DIR/ready" &
i=0
while [ ! -s "$DIR/ready" ]; do i=$((i+1)); [ $i -lt 600 ] || exit 9; sleep 0.05; done
for lk in bpf procfs; do
  WHOPORT_OWNER_LOOKUP=$lk setpriv --inh-caps=-sys_ptrace --bounding-set=-sys_ptrace \
    "$WHOPORT" --json > "$DIR/$lk.json" || [ $? -eq 1 ]
done
"#;
    let (status, _, err) = common::sh_within(
        &format!(
            "export HOLD='{}' DIR='{}'; exec unshare -n -p -f --mount-proc sh -c '{}'",
            bin.display(),
            dir.path().display(),
            script.replace('\'', "'\\''"),
        ),
        std::time::Duration::from_secs(90),
    );
    assert_eq!(status, 0, "the staging ran: {err}");
    let ready: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("ready")).expect("the helper reported"),
    )
    .expect("the helper's line");
    let (port, pid) = (&ready["port"], ready["pid"].as_u64().expect("pid") as u32);
    let mut reasons = Vec::new();
    for lookup in ["bpf", "procfs"] {
        let text = std::fs::read_to_string(dir.path().join(format!("{lookup}.json")))
            .expect("whoport wrote");
        let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        let rows: Vec<&Value> = doc["listeners"]
            .as_array()
            .expect("listeners")
            .iter()
            .filter(|l| l["protocol"] == "tcp" && &l["port"] == port)
            .collect();
        assert_eq!(rows.len(), 1, "{lookup}: {doc}");
        assert!(
            rows[0]["owners"].as_array().is_some_and(Vec::is_empty),
            "{lookup}: {doc}"
        );
        let reason = rows[0]["owner_hidden_reason"].as_str().expect("a reason");
        assert!(
            named_unread(reason).contains(&pid),
            "{lookup}: PID {pid}: {reason}"
        );
        reasons.push(reason.to_string());
    }
    assert_eq!(reasons[0], reasons[1], "the lookups disagree");
}

/// A process that holds another's listener only through an `O_PATH` descriptor, opened on the
/// holder's `/proc/PID/fd/N` link, can neither use the socket nor keep it open: it is not an
/// owner, with either lookup (its link reads `socket:[N]` all the same).
#[test]
fn an_o_path_handle_on_anothers_listener_is_not_an_owner() {
    let Some(python) = common::listener::python() else {
        return;
    };
    let l = common::listener::Listener::start(&["tcp4"]);
    let script = "import os, sys, time\n\
        d = '/proc/%s/fd' % sys.argv[1]\n\
        held = [os.open(d + '/' + n, os.O_PATH) for n in os.listdir(d)\n\
                if os.readlink(d + '/' + n).startswith('socket:')]\n\
        print(len(held), flush=True)\n\
        time.sleep(120)\n";
    let mut handle = Command::new(python)
        .args(["-c", script, &l.pid.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let held = common::ready_line(&mut handle, std::time::Duration::from_secs(30));
    assert_ne!(held.trim(), "0", "the handles were opened");
    let home = tempdir();
    let mut docs = Vec::new();
    for lookup in ["procfs", "bpf"] {
        let out = common::whoport(home.path())
            .env("WHOPORT_OWNER_LOOKUP", lookup)
            .args(["--json", &l.port(0).to_string()])
            .output()
            .expect("whoport runs");
        docs.push((lookup, out.stdout));
    }
    let _ = handle.kill();
    let _ = handle.wait();
    for (lookup, out) in docs {
        let doc: Value = serde_json::from_slice(&out).expect("json");
        let rows = common::listener::rows(&doc, &l.sockets[0]);
        assert_eq!(rows.len(), 1, "{lookup}: {doc}");
        let owners = common::listener::owner_pids(rows[0]);
        assert_eq!(owners, vec![u64::from(l.pid)], "{lookup}: {}", rows[0]);
    }
}

/// The owner of `hold leader-exit` started by `program` with `args` (the helper's path and
/// mode last), as the card of its port shows it with each owner lookup.
fn leader_exited_owner(program: &str, args: &[&str]) -> Option<Vec<(String, Value)>> {
    let dir = tempdir();
    let bin = build(dir.path())?;
    let mut child = common::listener::spawn_retrying(
        Command::new(program)
            .args(args)
            .arg(&bin)
            .arg("leader-exit")
            .stdin(Stdio::null())
            .stdout(Stdio::piped()),
    );
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("helper reports");
    let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let (port, pid) = (ready["port"].to_string(), &ready["pid"]);
    let home = tempdir();
    let docs: Vec<(String, Vec<u8>)> = [("WHOPORT_OWNER_LOOKUP", "bpf"), ("WHOPORT_NO_BPF", "1")]
        .into_iter()
        .map(|(key, value)| {
            let out = common::whoport(home.path())
                .env(key, value)
                .args(["--json", &port])
                .output()
                .expect("whoport runs");
            (format!("{key}={value}"), out.stdout)
        })
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    let mut owners = Vec::new();
    for (lookup, out) in docs {
        let doc: Value = serde_json::from_slice(&out).expect("json");
        let owner = doc["listeners"][0]["owners"][0].clone();
        assert_eq!(&owner["pid"], pid, "{lookup}: {doc}");
        owners.push((lookup, owner));
    }
    Some(owners)
}

/// A process whose main thread exited is judged by a live thread's links: its mount and user
/// namespaces are the live thread's, not unknown. Before, the main thread's `ns/mnt` (which
/// reads nothing once it exited) left it said to share whoport's mount namespace whatever it
/// ran in, and its executable was never compared with the file at its path.
#[test]
fn a_process_whose_main_thread_exited_is_judged_by_a_live_threads_namespaces() {
    let Some(owners) = leader_exited_owner("env", &[]) else {
        return;
    };
    for (lookup, owner) in owners {
        assert_eq!(owner["exe_own_mount_ns"], false, "{lookup}: {owner}");
        assert_eq!(owner["exe_own_user_ns"], false, "{lookup}: {owner}");
        assert_eq!(owner["exe_same_here"], true, "{lookup}: {owner}");
    }
    if !common::root_or_skip("unshare -m") || !have("unshare", "apt-get install -y util-linux") {
        return;
    }
    let Some(owners) = leader_exited_owner("unshare", &["-m", "--propagation", "private"]) else {
        return;
    };
    for (lookup, owner) in owners {
        assert_eq!(owner["exe_own_mount_ns"], true, "{lookup}: {owner}");
        assert_eq!(owner["exe_same_here"], true, "{lookup}: {owner}");
    }
}
