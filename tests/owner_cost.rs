//! The automatic choice of owner lookup cannot be gamed: descriptors that share one open file
//! (`dup`) do not show in the machine's count of open files, yet each one costs the `/proc`
//! walk a `readlinkat`. A machine that reads as small, with an unprivileged user holding more
//! descriptors of one socket than the crossover, is answered by the in-kernel iterator.

mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use common::listener::{python, Listener};
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

/// As many copies of one socket as this test may hold in one process (the hard limit on
/// open descriptors), at most 19,000.
fn dups_allowed() -> Option<u64> {
    let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum?;
    Some(hard.saturating_sub(200).min(19_000)).filter(|&n| n >= 2_000)
}

/// Tens of thousands of descriptors of one socket, in a process and its child: each lookup
/// names the two holders once each (the iterator's records are read as they stream and kept
/// per holder, not per descriptor), and the two lookups agree.
#[test]
fn many_copies_of_one_socket_name_each_holder_once_both_ways() {
    if python().is_none() {
        return;
    }
    let Some(dups) = dups_allowed() else {
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
