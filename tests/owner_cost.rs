//! The automatic choice of owner lookup cannot be gamed: descriptors that share one open file
//! (`dup`) do not show in the machine's count of open files, yet each one costs the `/proc`
//! walk a `readlinkat`. A machine that reads as small, with an unprivileged user holding more
//! descriptors of one socket than the crossover, is answered by the in-kernel iterator.

mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::listener::{python, Listener};
use common::netns::NetNs;
use common::{have, is_root, root_or_skip, tempdir};

/// More than the walk's bound (16,000 descriptors) between them: each of four processes
/// holds this many copies of one socket.
const DUPS: &str = "4500";

#[test]
fn descriptors_sharing_one_file_do_not_keep_the_walk_chosen() {
    if !root_or_skip("a private mount namespace")
        || !have("unshare", "apt-get install -y util-linux")
    {
        return;
    }
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        eprintln!("SKIPPED: the in-kernel owner lookup needs the kernel's BTF");
        return;
    }
    // Nobody's processes: an unprivileged user makes the descriptors (with the system's
    // interpreter: one that nobody can run whoever installed another).
    let system_python = Path::new("/usr/bin/python3");
    if python().is_none() || !system_python.exists() {
        eprintln!("SKIPPED: no /usr/bin/python3 for a listener of nobody's");
        return;
    }
    let start = || {
        let mut cmd = Command::new(system_python);
        cmd.arg(common::fixture("listen.py"))
            .args(["--dups", DUPS, "--fork", "tcp4"])
            .uid(65534)
            .gid(65534);
        Listener::start_command(cmd)
    };
    let held = [start(), start()];
    // The machine's count of open files reads as a small machine's (in this mount namespace
    // only): by that count alone, the walk would be chosen.
    let dir = tempdir();
    let file_nr = dir.path().join("file-nr");
    std::fs::write(&file_nr, "1000\t0\t100000\n").expect("file-nr");
    let script = format!(
        "mount --bind {} /proc/sys/fs/file-nr && cat /proc/sys/fs/file-nr >&2 && \
         unset WHOPORT_OWNER_LOOKUP && exec \"$WHOPORT\" --json",
        file_nr.display()
    );
    let (status, stdout, stderr) = common::sh(&format!("exec unshare -m sh -c '{script}'"));
    assert!(
        status == 0 || status == 1,
        "whoport failed ({status}): {stderr}"
    );
    assert!(
        stderr.starts_with("1000"),
        "file-nr was not staged: {stderr}"
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(
        doc["owner_lookup"], "bpf",
        "with {DUPS} descriptors in each of four processes, the walk should have given way: {:?}",
        doc["notes"]
    );
    for held in &held {
        let row = common::listener::rows(&doc, &held.sockets[0]);
        assert_eq!(row.len(), 1, "{:?} listed once", held.sockets[0]);
        let mut pids: Vec<u64> = row[0]["owners"]
            .as_array()
            .expect("owners")
            .iter()
            .filter_map(|o| o["pid"].as_u64())
            .collect();
        pids.sort_unstable();
        let mut want: Vec<u64> = std::iter::once(held.pid)
            .chain(held.children.iter().copied())
            .map(u64::from)
            .collect();
        want.sort_unstable();
        assert_eq!(
            pids, want,
            "the holders of {:?}: {}",
            held.sockets[0], row[0]
        );
    }
}

/// Threads with descriptor tables of their own (`unshare(CLONE_FILES)`) cannot make the walk
/// read one shared table once per thread: whether a thread's table was already read is asked
/// of the kernel (`kcmp`'s order of tables), however many tables the process made. Before,
/// past 16 tables of its own, every further thread's table was read in full: 17 such threads
/// beside a few hundred sharing thousands of descriptors, and the walk did not finish in time.
#[test]
fn threads_with_tables_of_their_own_do_not_make_the_walk_read_a_shared_table_per_thread() {
    let Some(python) = python() else {
        eprintln!("SKIPPED: no python3 for the threads' process");
        return;
    };
    // As many copies as the hard limit on open descriptors allows (at most 19,000), and enough
    // threads sharing them for about 6 million links if each table were read once per thread.
    let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .maximum
        .map_or(19_000, |h| h.min(19_000));
    let dups = hard.saturating_sub(200);
    if dups < 2_000 {
        eprintln!("SKIPPED: the hard limit on open descriptors ({hard}) is too low");
        return;
    }
    let threads = (6_000_000 / dups).min(3_000).to_string();
    let dups = dups.to_string();
    let args = [
        "--own-tables",
        "17",
        "--dups",
        &dups,
        "--threads",
        &threads,
        "tcp4",
    ];
    // An unprivileged user's process when the test runs as root: anyone can make these threads.
    let system_python = Path::new("/usr/bin/python3");
    let held = if rustix::process::geteuid().is_root() && system_python.exists() {
        let mut cmd = Command::new(system_python);
        cmd.arg(common::fixture("listen.py"))
            .args(args)
            .uid(65534)
            .gid(65534);
        Listener::start_command(cmd)
    } else {
        Listener::start_with(&python, &args)
    };
    let dir = tempdir();
    let (status, stdout, stderr) =
        common::outcome(common::whoport(dir.path()).args(["--json", "--timeout", "10s"]));
    assert!(
        status == 0 || status == 1,
        "whoport failed ({status}): {stderr}"
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let notes = doc["notes"].to_string();
    assert!(
        !notes.contains("did not finish"),
        "the owner lookup ({}) did not finish: {notes}",
        doc["owner_lookup"]
    );
    let row = common::listener::rows(&doc, &held.sockets[0]);
    assert_eq!(row.len(), 1, "{:?} listed once", held.sockets[0]);
    let pids: Vec<u64> = row[0]["owners"]
        .as_array()
        .expect("owners")
        .iter()
        .filter_map(|o| o["pid"].as_u64())
        .collect();
    assert_eq!(
        pids,
        [u64::from(held.pid)],
        "the owner of {:?} ({} lookup): {}",
        held.sockets[0],
        doc["owner_lookup"],
        row[0]
    );
}

/// Tens of thousands of descriptors of one socket, in a process and its child: each lookup
/// names the two holders once each (the iterator's records are read as they stream and kept
/// per holder, not per descriptor), and the two lookups agree.
#[test]
fn many_copies_of_one_socket_name_each_holder_once_both_ways() {
    if python().is_none() {
        return;
    }
    let Some(dups) = common::listener::dups_allowed(2_000) else {
        eprintln!("SKIPPED: the limit on open descriptors is too low to stage the copies");
        return;
    };
    let dups = dups.to_string();
    let held = Listener::start(&["--dups", &dups, "--fork", "tcp4"]);
    let socket = &held.sockets[0];
    let mut want: Vec<u64> = std::iter::once(held.pid)
        .chain(held.children.iter().copied())
        .map(u64::from)
        .collect();
    want.sort_unstable();
    assert_eq!(want.len(), 2);
    let port = socket.port.to_string();
    let mut found = Vec::new();
    for lookup in ["bpf", "procfs"] {
        let home = tempdir();
        let out = common::whoport(home.path())
            .env("WHOPORT_OWNER_LOOKUP", lookup)
            .args([port.as_str(), "--json"])
            .output()
            .expect("whoport runs");
        let doc: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
        if lookup == "bpf" && is_root() && Path::new("/sys/kernel/btf/vmlinux").exists() {
            assert_eq!(doc["owner_lookup"], "bpf", "{}", doc["notes"]);
        }
        let row = common::listener::rows(&doc, socket);
        assert_eq!(row.len(), 1, "{lookup}: {socket:?} listed once: {doc}");
        let mut pids: Vec<u64> = row[0]["owners"]
            .as_array()
            .expect("owners")
            .iter()
            .filter_map(|o| o["pid"].as_u64())
            .collect();
        pids.sort_unstable();
        assert_eq!(pids, want, "{lookup} ({}): {}", doc["owner_lookup"], row[0]);
        found.push((pids, row[0]["owner_hidden_reason"].clone()));
    }
    assert_eq!(found[0], found[1], "the iterator and the walk disagree");
}

/// The passes over every descriptor table of the machine (task_file iterators of the owner
/// lookup's object) that a run of the real binary made, by program, as strace shows them:
/// each pass attaches its program (`bpf(BPF_LINK_CREATE)`), named by its load.
fn task_file_passes(trace: &str) -> Vec<String> {
    const TASK_FILE: [&str; 3] = ["whoport_owners", "whoport_owners_", "whoport_foreign"];
    let mut names: std::collections::HashMap<String, String> = Default::default();
    // A call another thread's call cut in two: its name, until its result.
    let mut unfinished: std::collections::HashMap<String, String> = Default::default();
    let mut passes = Vec::new();
    for line in trace.lines() {
        let (pid, call) = line.split_once(' ').unwrap_or(("", line));
        let result = line
            .rsplit_once(") = ")
            .map(|(_, fd)| fd.trim().to_string());
        let name = call
            .split_once("prog_name=\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(name, _)| name.to_string());
        if call.contains("BPF_PROG_LOAD") {
            match (name, result) {
                (Some(name), Some(fd)) => drop(names.insert(fd, name)),
                (Some(name), None) => drop(unfinished.insert(pid.to_string(), name)),
                _ => {}
            }
        } else if call.contains("<... bpf resumed>") {
            if let (Some(name), Some(fd)) = (unfinished.remove(pid), result) {
                names.insert(fd, name);
            }
        }
        let prog = call
            .split_once("BPF_LINK_CREATE, {link_create={prog_fd=")
            .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next());
        if let Some(name) = prog.and_then(|fd| names.get(fd)) {
            if TASK_FILE.contains(&name.as_str()) {
                passes.push(name.clone());
            }
        }
    }
    passes
}

/// A child process, killed (by PID) and waited for however the test ends.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Stages in a private network namespace a listener no look finds anywhere (kept open only by
/// a Linux AIO poll) and, with `in_transit`, a listener carried in a unix socket message that
/// the process holding both ends of the socket pair never receives; runs whoport there with
/// the in-kernel owner lookup under strace. Gives the document, the task_file passes, the
/// AIO listener's port and the PID holding the queue (0 without `in_transit`); `None` (the
/// test is skipped, and says why) where that cannot be staged here.
fn passes_staged(in_transit: bool) -> Option<(serde_json::Value, Vec<String>, u64, u64)> {
    if !is_root() || !Path::new("/sys/kernel/btf/vmlinux").exists() {
        eprintln!("SKIPPED: the in-kernel owner lookup needs root and the kernel's BTF");
        return None;
    }
    if !have("strace", "apt-get install -y strace") {
        return None;
    }
    let python = if in_transit { Some(python()?) } else { None };
    let dir = tempdir();
    let helper = common::compile_fixture(dir.path(), "closed_holders")?;
    let ns = NetNs::new()?;
    let mut aio = Killed(
        ns.command(&helper)
            .arg("aio")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the helper runs"),
    );
    let line = common::ready_line(&mut aio.0, Duration::from_secs(30));
    let port: Option<u64> = line.split_whitespace().next().and_then(|p| p.parse().ok());
    let sender = python.map(|python| {
        let script = "import array, socket, sys, time\n\
            a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)\n\
            s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\n\
            a.sendmsg([b'x'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [s.fileno()]))])\n\
            s.close(); print('ready', flush=True); time.sleep(600)\n";
        let mut sender = Killed(
            ns.command(&python)
                .args(["-c", script])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .spawn()
                .expect("python3 runs"),
        );
        let line = common::ready_line(&mut sender.0, Duration::from_secs(30));
        assert_eq!(line.trim(), "ready", "the sender could not stage its message");
        sender
    });
    let home = tempdir();
    let (out, trace) = ns.whoport_bpf_traced(home.path(), "bpf");
    let holder = sender.as_ref().map_or(0, |s| u64::from(s.0.id()));
    drop((aio, sender));
    let Some(port) = port.filter(|&p| p != 0) else {
        eprintln!("SKIPPED: the kernel refused a Linux AIO poll here ({line:?})");
        return None;
    };
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["owner_lookup"], "bpf", "{doc}");
    Some((doc, task_file_passes(&trace), port, holder))
}

/// The ownerless TCP listeners of `doc`: (port, reason).
fn ownerless_tcp(doc: &serde_json::Value) -> Vec<(u64, String)> {
    doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .filter(|l| l["protocol"] == "tcp" && l["owners"].as_array().is_none_or(Vec::is_empty))
        .map(|l| {
            let why = l["owner_hidden_reason"].as_str().unwrap_or_default();
            (l["port"].as_u64().unwrap_or_default(), why.to_string())
        })
        .collect()
}

/// The reason of the ownerless TCP listener on `port`.
fn reason_of(doc: &serde_json::Value, port: u64) -> String {
    ownerless_tcp(doc)
        .into_iter()
        .find(|(p, _)| *p == port)
        .map(|(_, why)| why)
        .unwrap_or_else(|| panic!("no ownerless listener on {port}: {doc}"))
}

/// A listener no look finds anywhere (kept open only by a Linux AIO poll) is followed through
/// two rounds of looks at the unix socket queues and the descriptor tables. Where the owner
/// lookup ran in the kernel, each round reads every descriptor of the machine once, the
/// tables and the other network namespaces' queues in the same pass: three passes in all with
/// the lookup's own (five when each round read them apart). Counted from the real binary's
/// system calls, in a private network namespace.
#[test]
fn each_round_of_looks_is_one_pass_over_every_descriptor() {
    let Some((doc, passes, port, _)) = passes_staged(false) else {
        return;
    };
    // Both rounds were made: the last look saw it in no queue and in no table.
    let why = reason_of(&doc, port);
    assert!(
        why.contains("no unix socket message in transit carries it"),
        "{why}"
    );
    assert_eq!(
        passes,
        ["whoport_owners", "whoport_owners_", "whoport_owners_"],
        "the lookup's pass, then one per round"
    );
}

/// Beside it, a listener in transit in a unix socket message: the holders of the unix socket
/// it waits in are read in the pass that reads the tables and the other namespaces' queues,
/// not in a pass of their own each round (five passes in all before). The reason still names
/// the process holding the receiving end.
#[test]
fn the_holders_of_a_queue_cost_no_pass_of_their_own() {
    let Some((doc, passes, port, holder)) = passes_staged(true) else {
        return;
    };
    let why = reason_of(&doc, port);
    assert!(
        why.contains("no unix socket message in transit carries it"),
        "{why}"
    );
    let transit: Vec<String> = ownerless_tcp(&doc)
        .into_iter()
        .map(|(_, why)| why)
        .filter(|why| why.starts_with("in transit"))
        .collect();
    assert!(
        transit.len() == 1
            && transit[0].contains(&format!("queued to a unix socket held by pid {holder} ")),
        "{transit:?}"
    );
    assert_eq!(
        passes,
        ["whoport_owners", "whoport_owners_", "whoport_owners_"],
        "the lookup's pass, then one per round"
    );
}

/// Any user can give each thread of a process a copy of a large descriptor table
/// (`unshare(CLONE_FILES)` after making the copies): 1,000 threads with 2,000 descriptors each
/// are two million links, more than the walk reads within its deadline, and before it was
/// bounded such a process left every socket of the machine without an owner ("the owner
/// lookup did not finish"). The walk reads at most 64 of a process's threads' tables (16,384
/// descriptors in all): root's own listener keeps its owner within the default deadline, the
/// process is named as one whose threads' tables were not all read, and a listener only its
/// last thread's table holds is said to be perhaps held by it. Where the kernel may be asked,
/// the tables the walk did not read are read there, and the iterator reads them all: both
/// name its holder.
#[test]
fn copies_of_a_large_table_in_every_thread_cost_the_walk_a_bounded_read() {
    if !root_or_skip("a process of nobody's beside root's own listener") {
        return;
    }
    let system_python = Path::new("/usr/bin/python3");
    if python().is_none() || !system_python.exists() {
        eprintln!("SKIPPED: no /usr/bin/python3 for a process of nobody's");
        return;
    }
    if !have("setpriv", "apt-get install -y util-linux") {
        return;
    }
    // In a network namespace of their own: the sockets of the rest of the machine, whose
    // second look could take longer than the short deadline, are not listed.
    let Some(ns) = NetNs::new() else {
        return;
    };
    let mut cmd = ns.command(Path::new("setpriv"));
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(system_python)
        .arg(common::fixture("listen.py"))
        .args(["--dups", "2000", "--copied-tables", "1000", "tcp4"]);
    let threads = Listener::start_command(cmd);
    let (main, last) = (&threads.sockets[0], &threads.sockets[1]);
    let own = ns.listener(&["tcp4"]);
    let cut = format!("pid {}: the descriptor tables of ", threads.pid);
    let btf = Path::new("/sys/kernel/btf/vmlinux").exists();
    let lookups: [(&str, &str, &str); 3] = [
        ("WHOPORT_NO_BPF", "1", "the walk"),
        (
            "WHOPORT_OWNER_LOOKUP",
            "procfs",
            "the walk, the kernel asked",
        ),
        ("WHOPORT_OWNER_LOOKUP", "bpf", "the iterator"),
    ];
    for (key, value, what) in lookups {
        if !btf && value != "1" {
            eprintln!("SKIPPED {what}: the kernel has no BTF");
            continue;
        }
        // The walk within the default deadline (the two million links took it far longer);
        // the other lookups, which read every table in the kernel, within the tests' own.
        let timeout = if value == "1" { "10s" } else { common::TIMEOUT };
        let home = tempdir();
        let (status, stdout, stderr) = ns.whoport_with(
            home.path(),
            &[(key, value)],
            &["--json", "--timeout", timeout],
        );
        assert!(status == 0 || status == 1, "{what}: ({status}) {stderr}");
        let doc: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
        let notes = doc["notes"].to_string();
        // The walk may stop at its deadline on a loaded machine (the other tests' processes
        // are walked too), with the owners it found: never before root's listener.
        let stopped = value == "1" && notes.contains("the /proc walk stopped");
        assert!(
            stopped || !notes.contains("did not finish"),
            "{what}: {notes}"
        );
        let owners = |socket| {
            let row = common::listener::rows(&doc, socket);
            assert_eq!(row.len(), 1, "{what}: {socket:?} listed once");
            let pids = common::listener::owner_pids(row[0]);
            (pids, row[0]["owner_hidden_reason"].to_string())
        };
        assert_eq!(owners(&own.sockets[0]).0, [u64::from(own.pid)], "{what}");
        assert_eq!(owners(main).0, [u64::from(threads.pid)], "{what}");
        let (holders, why) = owners(last);
        if value == "1" {
            assert!(notes.contains(&cut), "{what}: {notes}");
            assert!(holders.is_empty(), "{what}: {holders:?}");
            assert!(
                why.contains("held by no process whose descriptors could be read")
                    && why.contains(&format!("PID {}: the descriptor tables of ", threads.pid))
                    || stopped && why.contains("the /proc walk stopped"),
                "{what}: {why}"
            );
        } else {
            assert_eq!(holders, [u64::from(threads.pid)], "{what}: {why}");
        }
        if value == "bpf" {
            assert!(!notes.contains(&cut), "{what}: {notes}");
        }
    }
}
