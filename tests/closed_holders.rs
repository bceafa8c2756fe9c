//! Sockets that no descriptor holds any more, kept open by what whoport does not look into: a
//! thread blocked in accept()/recv() after another thread closed the descriptor, and a Linux
//! AIO poll (`tests/fixtures/closed_holders.c`, compiled at test time). The reason names what
//! was looked into and found nothing, and names as possible only what was not ruled out: never
//! "in transit" after every unix socket queue was read, never "the kernel's own" after the
//! kernel's sockets were read. Staged in a private network namespace; helpers killed by PID.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use common::netns::NetNs;
use common::{bin, have, is_root, tempdir};
use serde_json::Value;

/// The words of a reason whose looks ruled out the unix socket queues and the kernel's own
/// sockets.
const QUEUES_READ: &str = "no unix socket message in transit carries it";
const KERNEL_READ: &str = "it is not a socket the kernel made for itself";
const UNSEEN: &str = "so something whoport does not look into keeps it open, for example a \
                      Linux AIO request (io_submit)";
/// The words of a reason whose look at the socket's wait queue ran and found no thread.
const NO_SLEEPER: &str = "no thread is asleep on its wait queue (read in the kernel)";
/// The words offering a blocked call where the wait queue was not read, before why.
const BLOCKED_UNREAD: &str = "held by a thread blocked in accept() or recv() on a descriptor \
                              since closed, whose wait queue whoport could not read (";

/// The start of the reason of a socket that processes not read may hold, and what it says
/// of those the kernel's task iterator did not visit.
const UNREAD: &str = "held by no process whose descriptors could be read";
const SKIPPED: &str = "the kernel's task iterator found no descriptor of it";

/// The PIDs a reason names as not read ("...: PID 1" or "...: PIDs 1, 7").
fn unread_pids(why: &str) -> Vec<u32> {
    let Some(at) = why.find("): PID") else {
        return Vec::new();
    };
    let list = why[at + 6..].trim_start_matches('s').trim_start();
    list.split(|c: char| !c.is_ascii_digit() && c != ',' && c != ' ')
        .next()
        .unwrap_or("")
        .split(',')
        .filter_map(|p| p.trim().parse().ok())
        .collect()
}

/// The in-kernel look can run here: root, and a kernel with BTF.
fn iterator_possible() -> bool {
    is_root() && Path::new("/sys/kernel/btf/vmlinux").exists()
}

/// Compiles `closed_holders.c` into `dir`.
fn build(dir: &Path) -> Option<PathBuf> {
    common::compile_fixture(dir, "closed_holders")
}

/// The fixture compiled, and a private network namespace to start it in; `None` (the test is
/// skipped, and says so) where either cannot be had.
struct Stage {
    _dir: tempfile::TempDir,
    helper: PathBuf,
    ns: NetNs,
}

fn stage() -> Option<Stage> {
    let dir = tempdir();
    let helper = build(dir.path())?;
    let ns = NetNs::new()?;
    Some(Stage {
        _dir: dir,
        helper,
        ns,
    })
}

/// Starts the fixture in `mode` inside `ns` (as nobody when `nobody`): the helper, killed
/// however the test ends, and its TCP and UDP ports (0: none). `None` when the kernel refuses
/// the mode.
fn start(ns: &NetNs, helper: &Path, mode: &str, nobody: bool) -> Option<(KillOnDrop, u16, u16)> {
    let (child, numbers) = start_all(ns, helper, mode, nobody)?;
    Some((KillOnDrop(child), numbers[0], numbers[1]))
}

/// As [`start`], with every number the fixture printed: the ports, then the ids of the threads
/// blocked in accept() and recv() (0 for none).
fn start_all(ns: &NetNs, helper: &Path, mode: &str, nobody: bool) -> Option<(Child, Vec<u16>)> {
    let mut cmd = if nobody {
        let mut c = ns.command(Path::new("setpriv"));
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(helper);
        c
    } else {
        ns.command(helper)
    };
    let mut child = cmd
        .arg(mode)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the helper runs");
    let line = common::ready_line(&mut child, Duration::from_secs(30));
    // Thread ids fit in u16 only on small machines: kept as u32 by the callers that need them.
    let numbers: Vec<u32> = line
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    if numbers.len() != 4 {
        let _ = child.kill();
        let _ = child.wait();
        eprintln!("SKIPPED: the kernel refused '{mode}' here ({line:?})");
        return None;
    }
    THREADS.with(|t| t.replace([numbers[2], numbers[3]]));
    let ports = numbers
        .iter()
        .take(2)
        .map(|&p| u16::try_from(p).unwrap_or(0))
        .collect();
    Some((child, ports))
}

thread_local! {
    /// The ids of the threads the last fixture started on this test's thread blocked in
    /// accept() and recv() (0 for none).
    static THREADS: std::cell::Cell<[u32; 2]> = const { std::cell::Cell::new([0, 0]) };
}

/// Where the kernel may be asked, our socket is held by the thread blocked on it, named with
/// its process, its system call and the descriptor it no longer has open: in `--json`, the
/// same with either lookup.
fn named(doc: &Value, protocol: &str, port: u16, tid: u32, calls: &[&str]) -> u64 {
    named_all(doc, protocol, port, &[Sleeper::Call(tid, calls)])
}

/// A thread expected asleep on our socket: blocked in one of `calls` on the descriptor itself,
/// or asleep in poll()/select() (one of `calls`) through a poll entry.
#[derive(Clone, Copy)]
enum Sleeper<'a> {
    Call(u32, &'a [&'a str]),
    Poll(u32, &'a [&'a str]),
}

/// As [`named`], for every thread in `expected` and no other (neither an epoll watch nor the
/// process's other threads), in the order of their ids.
fn named_all(doc: &Value, protocol: &str, port: u16, expected: &[Sleeper]) -> u64 {
    let rows: Vec<&Value> = doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .filter(|l| l["protocol"] == protocol && l["address"] == "127.0.0.1" && l["port"] == port)
        .collect();
    assert_eq!(rows.len(), 1, "{protocol} 127.0.0.1:{port} once: {doc}");
    let row = rows[0];
    assert_eq!(
        row["held_through"], "held by a system call in progress",
        "{row}"
    );
    let owners = row["owners"].as_array().expect("owners");
    assert_eq!(owners.len(), 1, "{row}");
    assert_eq!(owners[0]["name"], "closed_holders", "{row}");
    let pid = owners[0]["pid"].as_u64().expect("pid");
    let threads = row["blocked_calls"].as_array().expect("blocked_calls");
    assert_eq!(threads.len(), expected.len(), "{row}");
    let mut expected = expected.to_vec();
    expected.sort_by_key(|s| match s {
        Sleeper::Call(tid, _) | Sleeper::Poll(tid, _) => *tid,
    });
    for (t, sleeper) in threads.iter().zip(expected) {
        assert_eq!(t["pid"].as_u64(), Some(pid), "{row}");
        let (tid, calls, entry) = match sleeper {
            Sleeper::Call(tid, calls) => (tid, calls, "thread"),
            Sleeper::Poll(tid, calls) => (tid, calls, "poll"),
        };
        assert_eq!(t["tid"].as_u64(), Some(u64::from(tid)), "{row}");
        assert!(
            calls.iter().any(|c| t["system_call"] == *c),
            "one of {calls:?}: {row}"
        );
        assert_eq!(t["wait_entry"], entry, "{row}");
        // A poll()/select() caller's descriptors are in its memory, which is not read.
        assert_eq!(t["descriptor"].is_u64(), entry == "thread", "{row}");
    }
    assert!(row["owner_hidden_reason"].is_null(), "{row}");
    pid
}

const ACCEPT: &[&str] = &["accept", "accept4"];
const RECV: &[&str] = &["recvfrom", "recvmsg", "read"];
const POLL: &[&str] = &["poll", "ppoll"];
const SELECT: &[&str] = &["select", "pselect6"];

/// The port card and the listing say the same as `--json`: the card's line names the thread
/// in one of the `wanted` wordings, on a descriptor it no longer has open (or, asleep in poll(),
/// on the socket, which none of its descriptors refers to).
fn in_text(ns: &NetNs, port: u16, pid: u64, wanted: &[String]) {
    let home = tempdir();
    let (status, card, err) = ns.whoport_with(home.path(), &[], &[&port.to_string()]);
    assert_eq!(status, 0, "{err}");
    let line = card
        .lines()
        .find(|l| l.contains("held by a system call in progress"))
        .unwrap_or_else(|| panic!("{card}"));
    assert!(
        wanted.iter().any(|w| line.contains(w)),
        "{wanted:?}: {line}"
    );
    assert!(
        line.contains("no longer has open") || line.contains("none of its descriptors refers to"),
        "{line}"
    );
    assert!(card.contains(&format!("pid {pid}")), "{card}");
    let (status, listing, err) = ns.whoport_with(home.path(), &[], &[]);
    assert_eq!(status, 0, "{err}");
    let row = listing
        .lines()
        .find(|l| l.contains(&format!(" {port} ")) && l.contains("tcp"))
        .unwrap_or_else(|| panic!("{listing}"));
    assert!(row.contains(&pid.to_string()), "{row}");
    assert!(row.contains("closed_holders"), "{row}");
}

/// The card's wordings of thread `tid` blocked in one of `calls` on its descriptor.
fn blocked_in(tid: u32, calls: &[&str]) -> Vec<String> {
    calls
        .iter()
        .map(|c| format!("thread {tid} blocked in {c}() on descriptor "))
        .collect()
}

/// The card's wordings of thread `tid` asleep in one of `calls` through a poll entry.
fn asleep_in(tid: u32, calls: &[&str]) -> Vec<String> {
    calls
        .iter()
        .map(|c| format!("thread {tid} asleep in {c}() on this socket, which none of its descriptors refers to now"))
        .collect()
}

/// Our socket's reason (it has no owner), found by protocol, address and port.
fn reason(doc: &Value, protocol: &str, port: u16) -> String {
    let rows: Vec<&Value> = doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .filter(|l| l["protocol"] == protocol && l["address"] == "127.0.0.1" && l["port"] == port)
        .collect();
    assert_eq!(rows.len(), 1, "{protocol} 127.0.0.1:{port} once: {doc}");
    assert!(
        rows[0]["owners"].as_array().is_some_and(Vec::is_empty),
        "no owner: {}",
        rows[0]
    );
    rows[0]["owner_hidden_reason"]
        .as_str()
        .expect("a reason")
        .to_string()
}

/// The reason established for the socket itself, without the io_uring instances or unread
/// mappings of other processes that may be named before it ("perhaps ...; otherwise").
fn established(why: &str) -> &str {
    why.rsplit("; otherwise ").next().unwrap_or(why)
}

fn json(ns: &NetNs, env: &[(&str, &str)], args: &[&str]) -> Value {
    let home = tempdir();
    let (status, out, err) = ns.whoport_with(home.path(), env, args);
    assert!(
        status == 0 || status == 1,
        "whoport {args:?}: {status}: {err}"
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// As root, both lookups: every look is named, and only what was not ruled out is offered.
fn as_root(mode: &str) {
    let Some(Stage { _dir, helper, ns }) = stage() else {
        return;
    };
    let Some((_child, tcp, udp)) = start(&ns, &helper, mode, false) else {
        return;
    };
    let mut sockets = vec![("tcp", tcp)];
    if udp != 0 {
        sockets.push(("udp", udp));
    }
    let [accepting, receiving] = THREADS.with(std::cell::Cell::get);
    if mode == "blocked" && iterator_possible() {
        let mut pids = Vec::new();
        for lookup in ["bpf", "procfs"] {
            let doc = json(&ns, &[("WHOPORT_OWNER_LOOKUP", lookup)], &["--json"]);
            pids.push(named(&doc, "tcp", tcp, accepting, ACCEPT));
            pids.push(named(&doc, "udp", udp, receiving, RECV));
        }
        assert!(pids.windows(2).all(|w| w[0] == w[1]), "{pids:?}");
        in_text(&ns, tcp, pids[0], &blocked_in(accepting, ACCEPT));
        return;
    }
    let mut by_lookup = Vec::new();
    for lookup in ["bpf", "procfs"] {
        let doc = json(&ns, &[("WHOPORT_OWNER_LOOKUP", lookup)], &["--json"]);
        for &(protocol, port) in &sockets {
            let why = reason(&doc, protocol, port).clone();
            let why = established(&why).to_string();
            // Never the old guess from a list.
            assert!(!why.contains("so it is in transit"), "{lookup}: {why}");
            let unseen = if why.starts_with(UNREAD) {
                // Some process's descriptors could not be read (a microVM's init, closed to
                // root here): named only when /proc refuses it to root, and, where the kernel
                // could be asked, only when its task iterator did not visit it either; the
                // other looks are still said, and it is the first possibility.
                assert!(!unread_pids(&why).is_empty(), "{lookup}: {why}");
                for pid in unread_pids(&why) {
                    assert!(
                        common::closed_to_root(pid),
                        "{lookup}: PID {pid} reads: {why}"
                    );
                }
                if iterator_possible() {
                    assert!(why.contains(SKIPPED), "{lookup}: {why}");
                }
                let which = match unread_pids(&why).len() {
                    1 => "so that process may hold it, or ",
                    _ => "so one of those processes may hold it, or ",
                };
                UNSEEN.replacen("so ", which, 1)
            } else {
                UNSEEN.to_string()
            };
            assert!(why.contains(&unseen), "{lookup}: {why}");
            assert!(why.contains("a Linux AIO request"), "{lookup}: {why}");
            if iterator_possible() {
                // The queues and the kernel's sockets were read: neither is offered.
                assert!(why.contains(QUEUES_READ), "{lookup}: {why}");
                assert!(why.contains(KERNEL_READ), "{lookup}: {why}");
                assert!(!why.contains("SCM_RIGHTS"), "{lookup}: {why}");
                assert!(!why.contains("the kernel's own"), "{lookup}: {why}");
            }
            by_lookup.push((lookup, protocol, why));
        }
    }
    // Where both lookups could look, they say the same.
    for (lookup, protocol, why) in &by_lookup {
        for (other, p, w) in &by_lookup {
            if p == protocol {
                assert_eq!(why, w, "{lookup} vs {other}");
            }
        }
    }
}

/// As root: the thread blocked in accept() or recv() is named (where the kernel has BTF; the
/// reason names what was looked into otherwise).
#[test]
fn a_socket_held_by_a_blocked_accept_or_recv_names_the_thread() {
    as_root("blocked");
}

/// An epoll instance watching the listener and a thread in poll() on it put entries on its
/// wait queue beside the thread blocked in accept(): both threads hold the listener and are
/// named, the epoll watch (which holds no reference to the file) is not.
#[test]
fn the_threads_in_accept_and_poll_are_named_beside_epoll() {
    if !iterator_possible() {
        eprintln!("SKIPPED: needs root and a kernel with BTF");
        return;
    }
    let Some(Stage { _dir, helper, ns }) = stage() else {
        return;
    };
    let Some((_child, tcp, _)) = start(&ns, &helper, "watched", false) else {
        return;
    };
    let [accepting, polling] = THREADS.with(std::cell::Cell::get);
    let expected = [
        Sleeper::Call(accepting, ACCEPT),
        Sleeper::Poll(polling, POLL),
    ];
    let mut pids = Vec::new();
    for lookup in ["bpf", "procfs"] {
        let doc = json(&ns, &[("WHOPORT_OWNER_LOOKUP", lookup)], &["--json"]);
        pids.push(named_all(&doc, "tcp", tcp, &expected));
    }
    assert_eq!(pids[0], pids[1]);
}

/// A listener held only by a thread in poll() and a UDP socket held only by one in select(),
/// their descriptors closed by another thread: each thread is named, asleep in its call on the
/// socket, which none of its descriptors refers to (without a number: the descriptors it polls
/// are in the caller's memory), the same with either lookup; the port card says so too.
#[test]
fn a_socket_held_by_a_thread_in_poll_or_select_names_the_thread() {
    if !iterator_possible() {
        eprintln!("SKIPPED: needs root and a kernel with BTF");
        return;
    }
    let Some(Stage { _dir, helper, ns }) = stage() else {
        return;
    };
    let Some((_child, tcp, udp)) = start(&ns, &helper, "polled", false) else {
        return;
    };
    let [polling, selecting] = THREADS.with(std::cell::Cell::get);
    let mut pids = Vec::new();
    for lookup in ["bpf", "procfs"] {
        let doc = json(&ns, &[("WHOPORT_OWNER_LOOKUP", lookup)], &["--json"]);
        pids.push(named_all(&doc, "tcp", tcp, &[Sleeper::Poll(polling, POLL)]));
        pids.push(named_all(
            &doc,
            "udp",
            udp,
            &[Sleeper::Poll(selecting, SELECT)],
        ));
    }
    assert!(pids.windows(2).all(|w| w[0] == w[1]), "{pids:?}");
    in_text(&ns, tcp, pids[0], &asleep_in(polling, POLL));
}

/// As root, both lookups: a thread in splice() or sendfile() reading a UDP socket (waiting for
/// a datagram, on its wait queue) is named with the call and the descriptor it reads; one in
/// splice() waiting for room in a full pipe is not on the socket's queue, and the reason says
/// a call not asleep on it remains possible.
#[test]
fn a_thread_in_splice_or_sendfile_reading_the_socket_names_the_thread() {
    if !iterator_possible() {
        return;
    }
    for (mode, call) in [
        ("spliced", "splice"),
        ("sendfile", "sendfile"),
        ("spliced-full", ""),
    ] {
        let Some(Stage { _dir, helper, ns }) = stage() else {
            return;
        };
        let Some((_child, _, udp)) = start(&ns, &helper, mode, false) else {
            return;
        };
        let [_, thread] = THREADS.with(std::cell::Cell::get);
        let mut said = Vec::new();
        for lookup in ["bpf", "procfs"] {
            let doc = json(&ns, &[("WHOPORT_OWNER_LOOKUP", lookup)], &["--json"]);
            if call.is_empty() {
                let why = reason(&doc, "udp", udp);
                wait_queue_said(&why, Ok(()), mode);
                said.push(why);
                continue;
            }
            named(&doc, "udp", udp, thread, &[call]);
            let row = &doc["listeners"]
                .as_array()
                .expect("listeners")
                .iter()
                .find(|l| l["protocol"] == "udp" && l["port"] == udp)
                .expect("ours")["blocked_calls"][0];
            assert_eq!(row["reading"], true, "{mode}: {row}");
            assert_eq!(row["io_uring_worker"], false, "{mode}: {row}");
            said.push(row.to_string());
        }
        assert_eq!(said[0], said[1], "{mode}: the lookups disagree");
        if !call.is_empty() {
            let home = tempdir();
            let (status, card, err) = ns.whoport_with(home.path(), &[], &[&udp.to_string()]);
            assert_eq!(status, 0, "{err}");
            let wanted = format!(
                "held by a system call in progress: thread {thread} blocked in {call}() reading \
                 this socket from descriptor "
            );
            assert!(card.contains(&wanted), "{wanted}: {card}");
            assert!(card.contains("which it no longer has open"), "{card}");
        }
    }
}

/// Nobody's own listener and UDP socket held by threads in poll() and select(), and its UDP
/// socket read by a thread in splice(), seen by nobody with CAP_BPF and CAP_PERFMON: named as
/// root sees them, with either lookup. Without the capabilities, the splice's socket's wait
/// queue is not said read, and the blocked call is offered with why.
#[test]
fn as_nobody_with_bpf_a_thread_in_poll_or_splice_is_named() {
    let _alone = nobody_alone();
    if !iterator_possible() || !have("setpriv", "apt-get install -y util-linux") {
        return;
    }
    for mode in ["polled", "spliced"] {
        let Some(Stage { _dir, helper, ns }) = stage() else {
            return;
        };
        let Some((_child, tcp, udp)) = start(&ns, &helper, mode, true) else {
            return;
        };
        let [first, second] = THREADS.with(std::cell::Cell::get);
        let home = common::shared_tempdir();
        for lookup in ["bpf", "procfs"] {
            let Some(doc) = with_bpf_json(&ns, home.path(), lookup) else {
                return;
            };
            if mode == "polled" {
                named_all(&doc, "tcp", tcp, &[Sleeper::Poll(first, POLL)]);
                named_all(&doc, "udp", udp, &[Sleeper::Poll(second, SELECT)]);
                continue;
            }
            named(&doc, "udp", udp, second, &["splice"]);
            let out = as_nobody(&ns, home.path(), false, lookup, &["--json"]);
            let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
            let why = reason(&doc, "udp", udp);
            assert!(!why.contains(NO_SLEEPER), "{lookup}: {why}");
            assert!(why.contains(BLOCKED_UNREAD), "{lookup}: {why}");
        }
    }
}

#[test]
fn a_socket_held_by_a_linux_aio_poll_is_not_called_in_transit_or_the_kernels() {
    as_root("aio");
}

/// Held by each test that runs processes as nobody, for its whole length: as nobody, whoport
/// cannot read another test's nobody processes that are not dumpable (a process whose
/// credentials changed, or that runs a program nobody cannot read), and would rightly name them
/// among the processes that may hold a socket.
fn nobody_alone() -> std::sync::MutexGuard<'static, ()> {
    static NOBODY: std::sync::Mutex<()> = std::sync::Mutex::new(());
    NOBODY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// whoport as nobody inside `ns` (with CAP_BPF and CAP_PERFMON when `with_caps`), with
/// `lookup` forced; `home` must be writable by nobody.
fn as_nobody(
    ns: &NetNs,
    home: &Path,
    with_caps: bool,
    lookup: &str,
    args: &[&str],
) -> std::process::Output {
    as_nobody_with(
        ns,
        home,
        with_caps,
        &[("WHOPORT_OWNER_LOOKUP", lookup)],
        args,
    )
}

/// `whoport --json` as nobody with CAP_BPF and CAP_PERFMON inside `ns`, `lookup` forced;
/// `None` (said skipped) when setpriv refused the capabilities (a kernel or setpriv without
/// CAP_BPF).
fn with_bpf_json(ns: &NetNs, home: &Path, lookup: &str) -> Option<Value> {
    let out = as_nobody(ns, home, true, lookup, &["--json"]);
    let doc = serde_json::from_slice::<Value>(&out.stdout).ok();
    if doc.is_none() {
        eprintln!("SKIPPED: nobody with CAP_BPF and CAP_PERFMON could not run whoport");
    }
    doc
}

/// As [`as_nobody`], with `env` set for whoport.
fn as_nobody_with(
    ns: &NetNs,
    home: &Path,
    with_caps: bool,
    env: &[(&str, &str)],
    args: &[&str],
) -> std::process::Output {
    let mut cmd = common::command(home, Path::new("nsenter"));
    cmd.args(["-t", &ns.pid.to_string(), "-n", "--"]).args([
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ]);
    if with_caps {
        cmd.args(["--inh-caps=+bpf,+perfmon", "--ambient-caps=+bpf,+perfmon"]);
    }
    cmd.arg(bin())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("runs")
}

/// Root's listener kept open by a Linux AIO poll, seen by nobody with CAP_BPF and CAP_PERFMON:
/// every task's table was read in the kernel and the kernel's own sockets too, so the reason
/// is never that this user cannot see which process holds it nor tell the kernel's socket,
/// with either lookup; the audit's fix says what is left for root to look into.
#[test]
fn as_nobody_with_bpf_roots_socket_is_said_held_by_no_table() {
    let _alone = nobody_alone();
    if !iterator_possible() || !have("setpriv", "apt-get install -y util-linux") {
        return;
    }
    let Some(Stage { _dir, helper, ns }) = stage() else {
        return;
    };
    let Some((_aio, tcp, _)) = start(&ns, &helper, "aio", false) else {
        return;
    };
    let Some(unseen) = common::unseen_by_root() else {
        return;
    };
    let home = common::shared_tempdir();
    for lookup in ["bpf", "procfs"] {
        let Some(doc) = with_bpf_json(&ns, home.path(), lookup) else {
            break;
        };
        let why = reason(&doc, "tcp", tcp);
        let why = established(&why);
        let at = format!("{lookup}: tcp {tcp}");
        assert!(!why.contains("cannot see which process"), "{at}: {why}");
        assert!(why.contains(QUEUES_READ), "{at}: {why}");
        assert!(why.contains(KERNEL_READ), "{at}: {why}");
        let maps_unread = why.contains("through a memory mapping, which this user cannot read");
        if unseen.is_empty() {
            assert!(
                why.starts_with("another user's socket, and no process holds a descriptor"),
                "{at}: {why}"
            );
            assert!(why.contains(UNSEEN), "{at}: {why}");
            // Every process's io_uring instances were looked into in the kernel, whoever's (a
            // ring reached only through a registered ring table too): none is said unreadable
            // to this user, nor beyond whoport's looks.
            assert!(
                !why.contains("io_uring instance, which this user cannot read")
                    && !why.contains("IORING_REGISTER_RING_FDS"),
                "{at}: {why}"
            );
            // Memory mappings are read in the kernel (or in /proc where CAP_PERFMON lets this
            // user read them): said unreadable only where some process's were refused, and
            // root is sent for only then.
            assert_eq!(maps_unread, why.contains("run as root"), "{at}: {why}");
        } else {
            // Processes closed to root and skipped by the kernel's iterator were not read:
            // named, as what this user cannot read and the iterator did not visit.
            assert!(why.starts_with(UNREAD), "{at}: {why}");
            assert!(why.contains("/proc does not show"), "{at}: {why}");
            assert!(why.contains(SKIPPED), "{at}: {why}");
            if unseen.len() <= 8 {
                assert_eq!(unread_pids(why), unseen, "{at}: {why}");
            }
        }
        let audit = as_nobody(&ns, home.path(), true, lookup, &["audit"]);
        let text = String::from_utf8_lossy(&audit.stdout);
        let Some(fix) = audit_fix(&text, tcp) else {
            continue;
        };
        assert!(!fix.contains("to see its process"), "{lookup}: {fix}");
        if unseen.is_empty() {
            assert!(
                fix.contains("no process holds a descriptor for it")
                    && !fix.contains("io_uring instances, which this user cannot read"),
                "{lookup}: {fix}"
            );
            assert_eq!(maps_unread, fix.contains("run as root"), "{lookup}: {fix}");
        } else {
            assert!(
                fix.contains("of which the kernel's task iterator found no descriptor")
                    && fix.contains(&format!("PID {}", unseen[0])),
                "{lookup}: {fix}"
            );
        }
    }
}

/// A process that neither /proc shows to root nor the kernel's task iterator visits (a
/// microVM's init, on this kind of machine) may hold any socket: with either lookup, the
/// reason of a listener no process was seen holding names it as not read, says the iterator
/// did not visit it either, and still says what the other looks ruled out; the audit's fix
/// names it. (Before, the in-kernel lookup said every process had been read.)
#[test]
fn a_process_neither_proc_nor_the_iterator_shows_is_named_as_not_read() {
    if !iterator_possible() {
        eprintln!("SKIPPED: needs root and a kernel with BTF");
        return;
    }
    let Some(unseen) = common::unseen_by_root() else {
        return;
    };
    if unseen.is_empty() || unseen.len() > 8 {
        eprintln!(
            "SKIPPED: here {} processes are closed to root and skipped by the kernel's task \
             iterator (the case needs 1 to 8)",
            unseen.len()
        );
        return;
    }
    let Some(Stage { _dir, helper, ns }) = stage() else {
        return;
    };
    let Some((_aio, tcp, _)) = start(&ns, &helper, "aio", false) else {
        return;
    };
    let mut reasons = Vec::new();
    for lookup in ["bpf", "procfs"] {
        let doc = json(&ns, &[("WHOPORT_OWNER_LOOKUP", lookup)], &["--json"]);
        assert_eq!(doc["owner_lookup"], lookup);
        let why = reason(&doc, "tcp", tcp);
        let why = established(&why).to_string();
        assert!(why.starts_with(UNREAD), "{lookup}: {why}");
        assert_eq!(unread_pids(&why), unseen, "{lookup}: {why}");
        assert!(why.contains(SKIPPED), "{lookup}: {why}");
        assert!(why.contains(QUEUES_READ), "{lookup}: {why}");
        assert!(why.contains(KERNEL_READ), "{lookup}: {why}");
        assert!(!why.contains("every process was read"), "{lookup}: {why}");
        let home = tempdir();
        let (_, audit, err) =
            ns.whoport_with(home.path(), &[("WHOPORT_OWNER_LOOKUP", lookup)], &["audit"]);
        let mut finding = audit
            .lines()
            .skip_while(|l| !(l.contains("hidden-owner") && l.contains(&format!(":{tcp} "))));
        let said = finding
            .next()
            .unwrap_or_else(|| panic!("{lookup}: no hidden-owner finding: {audit}{err}"));
        let fix = finding
            .find(|l| l.trim_start().starts_with("fix:"))
            .unwrap_or_else(|| panic!("{lookup}: no fix: {audit}"));
        assert!(said.contains(SKIPPED), "{lookup}: {said}");
        // The fix follows the reason of that run (a busy machine may add what did not answer
        // in time before it): for processes not read, it names them.
        if said.contains(&format!("its process cannot be seen: {UNREAD}")) {
            assert!(
                fix.contains(&format!("PID {}", unseen[0])),
                "{lookup}: {fix}\n{said}"
            );
        }
        reasons.push(why);
    }
    assert_eq!(reasons[0], reasons[1], "the lookups disagree");
}

/// Root's process with no descriptor open (the kernel's task iterator visits none such, and
/// /proc refuses its table to nobody) is never named as a process not read, by nobody with
/// CAP_BPF and CAP_PERFMON, with either lookup: its /proc/PID/fd, which any user may stat,
/// counts no descriptor.
#[test]
fn as_nobody_with_bpf_a_process_without_descriptors_is_not_named_as_not_read() {
    let _alone = nobody_alone();
    if !iterator_possible() || !have("setpriv", "apt-get install -y util-linux") {
        return;
    }
    if std::fs::metadata("/proc/self/fd").map_or(0, |m| m.len()) == 0 {
        eprintln!("SKIPPED: this kernel does not count descriptors in /proc/PID/fd (Linux 6.2+)");
        return;
    }
    let Some(Stage { _dir, helper, ns }) = stage() else {
        return;
    };
    let Some((_aio, tcp, _)) = start(&ns, &helper, "aio", false) else {
        return;
    };
    let Some(py) = common::listener::python() else {
        return;
    };
    let bare = std::process::Command::new(py)
        .args([
            "-c",
            "import os; os.closerange(0, 1 << 20); os.execvp('sleep', ['sleep', '120'])",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh runs");
    let bare = KillOnDrop(bare);
    let pid = bare.0.id();
    let fd = format!("/proc/{pid}/fd");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::fs::metadata(&fd).map_or(1, |m| m.len()) != 0
        || std::fs::read_link(format!("/proc/{pid}/exe"))
            .map_or(true, |exe| !exe.to_string_lossy().contains("sleep"))
    {
        assert!(std::time::Instant::now() < deadline, "sleep closed nothing");
        std::thread::sleep(Duration::from_millis(20));
    }
    let home = common::shared_tempdir();
    for lookup in ["bpf", "procfs"] {
        let out = as_nobody(&ns, home.path(), true, lookup, &["--json"]);
        let Ok(doc) = serde_json::from_slice::<Value>(&out.stdout) else {
            eprintln!("SKIPPED: nobody with CAP_BPF and CAP_PERFMON could not run whoport");
            return;
        };
        let why = reason(&doc, "tcp", tcp);
        assert!(
            !unread_pids(established(&why)).contains(&pid),
            "{lookup}: PID {pid} has no descriptor: {why}"
        );
    }
}

/// A helper killed and reaped when dropped, also when an assertion fails.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// As nobody (plain, and with CAP_BPF+CAP_PERFMON), for nobody's own sockets: no alternative
/// that a look ruled out is named.
#[test]
fn as_nobody_no_ruled_out_alternative_is_named() {
    let _alone = nobody_alone();
    if !have("setpriv", "apt-get install -y util-linux") {
        return;
    }
    let Some(Stage { _dir, helper, ns }) = stage() else {
        return;
    };
    let Some((_blocked, tcp, udp)) = start(&ns, &helper, "blocked", true) else {
        return;
    };
    let nobody_threads = THREADS.with(std::cell::Cell::get);
    let Some((_aio, aio_tcp, _)) = start(&ns, &helper, "aio", true) else {
        return;
    };
    let home = common::shared_tempdir();
    let unseen = common::unseen_by_root().unwrap_or_default();
    for with_caps in [false, true] {
        for lookup in ["bpf", "procfs"] {
            let out = as_nobody(&ns, home.path(), with_caps, lookup, &["--json"]);
            let doc: Value = match serde_json::from_slice(&out.stdout) {
                Ok(doc) => doc,
                // setpriv refused the capabilities (a kernel or setpriv without CAP_BPF).
                Err(_) if with_caps => continue,
                Err(e) => panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)),
            };
            let iterator = doc["owner_lookup"] == "bpf";
            for (protocol, port) in [("tcp", tcp), ("udp", udp), ("tcp", aio_tcp)] {
                if with_caps && port != aio_tcp && held_by_call(&doc, protocol, port) {
                    // With CAP_BPF and CAP_PERFMON the kernel may be asked: named, as root.
                    let (tid, calls) = if protocol == "tcp" {
                        (nobody_threads[0], ACCEPT)
                    } else {
                        (nobody_threads[1], RECV)
                    };
                    named(&doc, protocol, port, tid, calls);
                    continue;
                }
                assert!(
                    !with_caps || port == aio_tcp || !iterator_possible() || !iterator,
                    "caps {with_caps}, {lookup}: with CAP_BPF the thread is named: {doc}"
                );
                let why = reason(&doc, protocol, port);
                let why = established(&why);
                let at = format!("caps {with_caps}, {lookup}: {protocol} {port}");
                assert!(why.starts_with("owned by this user"), "{at}: {why}");
                assert!(why.contains(UNSEEN), "{at}: {why}");
                if why.contains(QUEUES_READ) {
                    assert!(!why.contains("SCM_RIGHTS"), "{at}: {why}");
                }
                if why.contains(KERNEL_READ) {
                    assert!(!why.contains("the kernel's own"), "{at}: {why}");
                }
                if iterator {
                    // Every task's table was read in the kernel: no other user's process
                    // holds a descriptor for it, unless a process neither /proc nor the
                    // kernel's task iterator shows is there (a microVM's init).
                    assert!(
                        !why.contains("whose descriptors this user cannot read")
                            || !unseen.is_empty(),
                        "{at}: {why}"
                    );
                    assert!(why.contains(QUEUES_READ), "{at}: {why}");
                    assert!(why.contains(KERNEL_READ), "{at}: {why}");
                }
            }
        }
    }
}

/// Whether our socket is held by a system call in progress in `doc`.
fn held_by_call(doc: &Value, protocol: &str, port: u16) -> bool {
    doc["listeners"].as_array().is_some_and(|rows| {
        rows.iter().any(|l| {
            l["protocol"] == protocol
                && l["port"] == port
                && l["held_through"] == "held by a system call in progress"
        })
    })
}

/// The fix of the audit's hidden-owner finding for our TCP port, from its text output; `None`
/// when its reason starts from another process's clue (an io_uring instance or a memory map
/// whoport could not read, of any process on the machine: another program's, seen during
/// that run), whose fix is about that process.
fn audit_fix(text: &str, tcp: u16) -> Option<String> {
    let mut finding = text
        .lines()
        .skip_while(|l| !(l.contains("hidden-owner") && l.contains(&format!(":{tcp} "))));
    let line = finding
        .next()
        .unwrap_or_else(|| panic!("no hidden-owner finding for {tcp}: {text}"));
    if line.contains("its process cannot be seen: perhaps ") {
        eprintln!("NOT CHECKED, the fix of a reason with another process's clue: {line}");
        return None;
    }
    let fix = finding
        .find(|l| l.trim_start().starts_with("fix:"))
        .unwrap_or_else(|| panic!("no fix for {tcp}: {text}"));
    Some(fix.to_string())
}

/// What `why` says of our socket's wait queue: read in the kernel (`Ok`), said as established
/// and the blocked accept()/recv() not offered, what is left worded as examples; not read
/// (`Err`: why not), the blocked call offered with why.
fn wait_queue_said(why: &str, read: Result<(), &str>, at: &str) {
    match read {
        Ok(()) => {
            assert!(why.contains(NO_SLEEPER), "{at}: {why}");
            assert!(!why.contains("accept()"), "{at}: {why}");
            assert!(!why.contains(BLOCKED_UNREAD), "{at}: {why}");
            assert!(why.contains("not asleep on this socket"), "{at}: {why}");
        }
        Err(why_not) => {
            assert!(
                why.contains(&format!("{BLOCKED_UNREAD}{why_not}")),
                "{at}: {why}"
            );
            assert!(!why.contains(NO_SLEEPER), "{at}: {why}");
        }
    }
    assert!(unseen_said(why), "{at}: {why}");
}

/// Whether `why` offers what whoport does not look into ([`UNSEEN`]), after the processes not
/// read when there are (then those come first).
fn unseen_said(why: &str) -> bool {
    [
        "so ",
        "so that process may hold it, or ",
        "so one of those processes may hold it, or ",
    ]
    .iter()
    .any(|lead| why.contains(&UNSEEN.replacen("so ", lead, 1)))
}

/// As root, a listener kept open by a Linux AIO poll: its wait queue was read in the kernel
/// and no thread sleeps on it, so the reason and the audit's fix never offer a thread blocked
/// in accept() or recv() (both lookups, the same words); with `WHOPORT_NO_BPF` (no wait-queue
/// look) the blocked call is offered, with why it was not checked.
#[test]
fn a_listener_whose_wait_queue_was_read_is_not_said_held_by_a_blocked_call() {
    let Some(Stage { _dir, helper, ns }) = stage() else {
        return;
    };
    let Some((_aio, tcp, _)) = start(&ns, &helper, "aio", false) else {
        return;
    };
    let home = tempdir();
    if iterator_possible() {
        let mut said = Vec::new();
        for lookup in ["bpf", "procfs"] {
            let env = [("WHOPORT_OWNER_LOOKUP", lookup)];
            let doc = json(&ns, &env, &["--json"]);
            let why = reason(&doc, "tcp", tcp);
            let why = established(&why).to_string();
            let at = format!("{lookup}: tcp {tcp}");
            // Or, where a process is closed to root and skipped by the kernel's iterator (a
            // microVM's init), named first as not read; the same looks follow.
            assert!(
                why.starts_with("no process holds a descriptor")
                    || (why.starts_with(UNREAD) && why.contains(SKIPPED)),
                "{at}: {why}"
            );
            wait_queue_said(&why, Ok(()), &at);
            let (_, text, err) = ns.whoport_with(home.path(), &env, &["audit"]);
            if let Some(fix) = audit_fix(&text, tcp) {
                assert!(!fix.contains("accept"), "{at}: {fix} {err}");
                // (The fix for processes not read points at them first.)
                assert!(
                    fix.contains("not asleep on this socket")
                        || fix.contains("root could not read the descriptors of PID"),
                    "{at}: {fix}"
                );
            }
            said.push(why);
        }
        // Both lookups say the same of the wait queue (what the other looks could make on a
        // busy machine, such as the unix socket queues, is checked by the tests above).
        let of_queue = |why: &str| {
            why.split("; ")
                .find(|p| p.starts_with("no thread"))
                .map(str::to_string)
        };
        assert_eq!(
            of_queue(&said[0]),
            of_queue(&said[1]),
            "bpf vs procfs: {said:?}"
        );
    } else {
        eprintln!("SKIPPED the wait-queue look: needs root and a kernel with BTF");
    }
    // The walk only, no look at any wait queue.
    let env = [("WHOPORT_NO_BPF", "1")];
    let doc = json(&ns, &env, &["--json"]);
    let why = reason(&doc, "tcp", tcp);
    let why = established(&why);
    if why.starts_with("held by no process whose descriptors could be read") {
        // Root could not read some process here (a security module): that is the reason
        // established, and no list of what is left is given.
        eprintln!("SKIPPED WHOPORT_NO_BPF: {why}");
        return;
    }
    wait_queue_said(why, Err("WHOPORT_NO_BPF is set)"), "WHOPORT_NO_BPF");
    let (_, text, _) = ns.whoport_with(home.path(), &env, &["audit"]);
    if let Some(fix) = audit_fix(&text, tcp) {
        assert!(
            fix.contains("(accept, recv)")
                && fix.contains("whose wait queue whoport could not read"),
            "WHOPORT_NO_BPF: {fix}"
        );
    }
}

/// As nobody, nobody's own listener kept open by a Linux AIO poll: without CAP_BPF and
/// CAP_PERFMON (or with `WHOPORT_NO_BPF`) the blocked accept()/recv() is offered with why its
/// wait queue was not read; with them, its wait queue is read and the blocked call is not
/// offered. Both lookups, the same words.
#[test]
fn as_nobody_a_blocked_call_is_offered_only_where_the_wait_queue_was_not_read() {
    let _alone = nobody_alone();
    if !have("setpriv", "apt-get install -y util-linux") {
        return;
    }
    let Some(Stage { _dir, helper, ns }) = stage() else {
        return;
    };
    let Some((_aio, tcp, _)) = start(&ns, &helper, "aio", true) else {
        return;
    };
    let home = common::shared_tempdir();
    let no_caps = "reading sockets' wait queues needs CAP_SYS_ADMIN, or CAP_BPF with CAP_PERFMON";
    // With capabilities, the environment, and what is said of the wait queue.
    type Case<'a> = (bool, &'a [(&'a str, &'a str)], Result<(), &'a str>);
    let cases: [Case; 5] = [
        (false, &[("WHOPORT_OWNER_LOOKUP", "bpf")], Err(no_caps)),
        (false, &[("WHOPORT_OWNER_LOOKUP", "procfs")], Err(no_caps)),
        (
            false,
            &[("WHOPORT_NO_BPF", "1")],
            Err("WHOPORT_NO_BPF is set)"),
        ),
        (true, &[("WHOPORT_OWNER_LOOKUP", "bpf")], Ok(())),
        (true, &[("WHOPORT_OWNER_LOOKUP", "procfs")], Ok(())),
    ];
    let mut read_said = Vec::new();
    for (with_caps, env, read) in cases {
        let out = as_nobody_with(&ns, home.path(), with_caps, env, &["--json"]);
        let doc: Value = match serde_json::from_slice(&out.stdout) {
            Ok(doc) => doc,
            Err(_) if with_caps => {
                // setpriv refused the capabilities (a kernel or setpriv without CAP_BPF).
                eprintln!("SKIPPED: nobody with CAP_BPF and CAP_PERFMON could not run whoport");
                continue;
            }
            Err(e) => panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)),
        };
        let why = reason(&doc, "tcp", tcp);
        let why = established(&why).to_string();
        let at = format!("caps {with_caps}, {env:?}");
        assert!(why.starts_with("owned by this user"), "{at}: {why}");
        if read.is_ok() && !iterator_possible() {
            // No BTF: the kernel could not be asked, which the reason says.
            assert!(why.contains(BLOCKED_UNREAD), "{at}: {why}");
            continue;
        }
        wait_queue_said(&why, read, &at);
        if read.is_ok() {
            read_said.push(why);
        }
    }
    assert!(
        read_said.windows(2).all(|w| w[0] == w[1]),
        "bpf vs procfs: {read_said:?}"
    );
}
