//! The in-kernel owner lookup: the committed object matches its source, the iterator and the
//! `/proc` walk give the same answer, a refused load falls back with the kernel's reason, and
//! nothing stays in the kernel after whoport exits or is killed.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::listener::{python, Listener};
use common::{have, is_root, tempdir};
use serde_json::Value;

/// Can this test process load the iterator (root on a kernel with BTF)?
fn iterator_possible() -> bool {
    is_root() && Path::new("/sys/kernel/btf/vmlinux").exists()
}

/// `whoport ARGS --json` with the given environment; the parsed document.
fn json_with(env: &[(&str, &str)], args: &[&str]) -> Value {
    let home = tempdir();
    let out = common::whoport(home.path())
        .envs(env.iter().copied())
        .args(args)
        .arg("--json")
        .output()
        .expect("whoport runs");
    let code = out.status.code().unwrap_or(-1);
    assert!(code == 0 || code == 1, "whoport {args:?}: {out:?}");
    serde_json::from_slice(&out.stdout).expect("JSON")
}

fn notes(doc: &Value) -> Vec<String> {
    doc["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .filter_map(|n| n.as_str().map(str::to_string))
        .collect()
}

/// (protocol, address, port) -> (owner PIDs, hidden reason), for the given ports only.
type Seen = BTreeMap<(String, String, u64), (Vec<u64>, Value)>;

fn seen(doc: &Value, ports: &[u16]) -> Seen {
    doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .filter(|l| {
            ports
                .iter()
                .any(|&p| l["port"].as_u64() == Some(u64::from(p)))
        })
        .map(|l| {
            let key = (
                l["protocol"].as_str().expect("protocol").to_string(),
                l["address"].as_str().expect("address").to_string(),
                l["port"].as_u64().expect("port"),
            );
            let mut pids: Vec<u64> = l["owners"]
                .as_array()
                .expect("owners")
                .iter()
                .map(|o| o["pid"].as_u64().expect("pid"))
                .collect();
            pids.sort_unstable();
            (key, (pids, l["owner_hidden_reason"].clone()))
        })
        .collect()
}

#[test]
fn the_committed_object_is_built_from_its_source() {
    if !have("clang", "apt-get install -y clang") || !have("llvm-strip", "apt-get install -y llvm")
    {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempdir();
    let out = dir.path().join("owners.bpf.o");
    let status = Command::new("timeout")
        .arg("120")
        .arg(root.join("bpf/build.sh"))
        .arg(&out)
        .env("TMPDIR", dir.path())
        .status()
        .expect("bpf/build.sh runs");
    assert!(status.success(), "bpf/build.sh failed");
    let rebuilt = std::fs::read(&out).expect("rebuilt object");
    let committed = std::fs::read(root.join("bpf/owners.bpf.o")).expect("committed object");
    assert!(
        rebuilt == committed,
        "bpf/owners.bpf.o does not match bpf/owners.bpf.c: run bpf/build.sh and commit the object"
    );
}

#[test]
fn the_iterator_and_the_walk_agree_on_shared_sockets() {
    if python().is_none() {
        return;
    }
    let l = Listener::start(&["--fork", "tcp4", "udp4", "tcp6", "udp6"]);
    let ports: Vec<u16> = l.sockets.iter().map(|s| s.port).collect();
    let bpf = json_with(&[("WHOPORT_OWNER_LOOKUP", "bpf")], &[]);
    let walk = json_with(&[("WHOPORT_OWNER_LOOKUP", "procfs")], &[]);
    let forced = json_with(
        &[("WHOPORT_OWNER_LOOKUP", "bpf"), ("WHOPORT_NO_BPF", "1")],
        &[],
    );
    let expected = if iterator_possible() { "bpf" } else { "procfs" };
    assert_eq!(bpf["owner_lookup"], expected, "{:?}", notes(&bpf));
    assert_eq!(walk["owner_lookup"], "procfs");
    assert_eq!(
        forced["owner_lookup"], "procfs",
        "WHOPORT_NO_BPF=1 forces the walk"
    );
    for doc in [&bpf, &walk, &forced] {
        let refused = notes(doc)
            .iter()
            .any(|n| n.contains("owner lookup was refused"));
        // Asked for where it cannot load, the iterator is tried and the refusal said.
        let asked = std::ptr::eq(doc, &bpf) && !iterator_possible();
        assert_eq!(refused, asked, "{:?}", notes(doc));
    }
    // Only our sockets: another process may use one of these port numbers elsewhere.
    let own: Vec<(String, String, u64)> = l
        .sockets
        .iter()
        .map(|s| (s.protocol.clone(), s.address.clone(), u64::from(s.port)))
        .collect();
    let ours = |doc: &Value| -> Seen {
        seen(doc, &ports)
            .into_iter()
            .filter(|(key, _)| own.contains(key))
            .collect()
    };
    let (b, w) = (ours(&bpf), ours(&walk));
    assert_eq!(b.len(), 4, "{b:?}");
    assert_eq!(b, w, "the iterator and the walk disagree");
    let mut holders: Vec<u64> = [l.pid]
        .iter()
        .chain(&l.children)
        .map(|&p| u64::from(p))
        .collect();
    holders.sort_unstable();
    for (key, (pids, _)) in &b {
        assert_eq!(pids, &holders, "every holder of {key:?}");
    }
    // A single-port query answers the same both ways.
    let port = ports[0].to_string();
    let one_bpf = json_with(&[("WHOPORT_OWNER_LOOKUP", "bpf")], &[&port]);
    let one_walk = json_with(&[("WHOPORT_OWNER_LOOKUP", "procfs")], &[&port]);
    assert_eq!(one_bpf["owner_lookup"], expected);
    assert_eq!(ours(&one_bpf), ours(&one_walk));
    assert!(!ours(&one_bpf).is_empty());
}

#[test]
fn a_refused_load_falls_back_to_the_walk_with_the_reason() {
    if !iterator_possible() || !have("unshare", "apt-get install -y util-linux") {
        eprintln!("SKIPPED: needs root and BTF");
        return;
    }
    // In a new user namespace whoport holds every capability, but only there: the kernel
    // refuses bpf() for it, a real refusal and not a simulated one.
    let home = tempdir();
    let out = common::command(home.path(), Path::new("unshare"))
        .args(["--user", "--map-root-user"])
        .arg(common::bin())
        .arg("--json")
        .env("WHOPORT_OWNER_LOOKUP", "bpf")
        .output()
        .expect("unshare runs");
    let code = out.status.code().unwrap_or(-1);
    assert!(code == 0 || code == 1, "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["owner_lookup"], "procfs");
    let notes = notes(&doc);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("in-kernel owner lookup was refused")
                && n.contains("EPERM: Operation not permitted")
                && n.contains("through /proc instead")),
        "the kernel's refusal, with its errno: {notes:?}"
    );
}

/// A seccomp filter that answers bpf() with EINVAL (as a container runtime's may): the walk
/// answers, and the note gives what the kernel answered, never that the kernel lacks kprobe
/// programs (which it has: only the filter refused).
#[test]
fn a_bpf_call_refused_as_invalid_by_a_filter_is_not_called_a_missing_kernel_feature() {
    if !iterator_possible() || !have("cc", "apt-get install -y gcc") {
        eprintln!("SKIPPED: needs root, BTF and a C compiler");
        return;
    }
    let dir = tempdir();
    let no_bpf = dir.path().join("no_bpf");
    let built = Command::new("cc")
        .arg("-o")
        .arg(&no_bpf)
        .arg(common::fixture("no_bpf.c"))
        .status()
        .expect("cc runs");
    assert!(built.success(), "no_bpf.c compiles");
    let refused = refusal_note(&no_bpf, &["22"]);
    assert!(refused.contains("EINVAL"), "{refused}");
    assert!(!refused.contains("has no kprobe programs"), "{refused}");
}

/// whoport asked for the in-kernel lookup, run by `no_bpf` with `args`: the walk answered, and
/// the note on the kernel's refusal.
fn refusal_note(no_bpf: &Path, args: &[&str]) -> String {
    let home = tempdir();
    let out = common::command(home.path(), no_bpf)
        .args(args)
        .arg(common::bin())
        .arg("--json")
        .env("WHOPORT_OWNER_LOOKUP", "bpf")
        .output()
        .expect("runs");
    let code = out.status.code().unwrap_or(-1);
    assert!(code == 0 || code == 1, "{args:?}: {out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["owner_lookup"], "procfs", "{args:?}");
    let notes = notes(&doc);
    notes
        .iter()
        .find(|n| n.contains("in-kernel owner lookup was refused"))
        .cloned()
        .unwrap_or_else(|| panic!("{args:?}: no note on the refusal: {notes:?}"))
}

/// A policy that refuses one bpf() command alone (a seccomp filter here; SELinux's separate
/// `bpf { map_create prog_load }` permissions, a BPF LSM): the walk answers, and the note names
/// the refused command with the kernel's errno and the commands allowed. Before, a refused map
/// creation or program load was reported as a relocation error in whoport's own object
/// ("section `14` not found, referenced by symbol ..."), its text changing from run to run,
/// and a refused BTF load as "the kernel refuses bpf() ... a minimal program loads".
#[test]
fn a_policy_refusing_one_bpf_command_is_named_with_its_errno() {
    if !iterator_possible() {
        eprintln!("SKIPPED: needs root and BTF");
        return;
    }
    let dir = tempdir();
    let Some(no_bpf) = common::compile_fixture(dir.path(), "no_bpf") else {
        return;
    };
    let cases = [
        (
            "0",
            "1",
            "BPF_MAP_CREATE (a minimal array map): EPERM: Operation not permitted",
        ),
        (
            "5",
            "13",
            "BPF_PROG_LOAD (a minimal program): EACCES: Permission denied",
        ),
        (
            "18",
            "1",
            "BPF_BTF_LOAD (a minimal BTF blob): EPERM: Operation not permitted",
        ),
    ];
    for (command, errno, said) in cases {
        let refused = refusal_note(&no_bpf, &["--command", command, errno]);
        let expected = format!("the kernel refuses to this process {said} (it allows ");
        assert!(refused.contains(&expected), "{command}: {refused}");
        assert!(!refused.contains("relocating"), "{command}: {refused}");
    }
}

/// Without privilege, the walk answers: by cost the iterator is not tried and nothing is said;
/// asked for, it is tried, and `notes` gives the kernel's refusal with its errno and what
/// whoport lacks.
#[test]
fn without_privileges_the_walk_answers_and_says_why_only_when_the_iterator_was_asked_for() {
    if python().is_none() {
        return;
    }
    let l = Listener::start(&["tcp4"]);
    let port = l.port(0).to_string();
    let run = |lookup: &str| -> Value {
        if is_root() {
            let home = tempdir();
            let out = common::whoport_as_nobody(home.path())
                .env("WHOPORT_OWNER_LOOKUP", lookup)
                .args([port.as_str(), "--json"])
                .output()
                .expect("whoport runs as nobody");
            serde_json::from_slice(&out.stdout).expect("JSON")
        } else {
            json_with(&[("WHOPORT_OWNER_LOOKUP", lookup)], &[&port])
        }
    };
    let (auto, asked) = (run("auto"), run("bpf"));
    // The same walk answers both (the listener is root's when the test runs as root: nobody
    // sees it without its owner, and with the same reason).
    let row = |doc: &Value| {
        assert_eq!(doc["owner_lookup"], "procfs");
        let row = common::listener::rows(doc, &l.sockets[0]);
        assert_eq!(row.len(), 1, "{doc}");
        (
            row[0]["owners"].clone(),
            row[0]["owner_hidden_reason"].clone(),
        )
    };
    assert_eq!(row(&auto), row(&asked));
    assert!(
        !notes(&auto).iter().any(|n| n.contains("owner lookup")),
        "not tried, so nothing to say: {:?}",
        notes(&auto)
    );
    let said: Vec<String> = notes(&asked)
        .into_iter()
        .filter(|n| n.contains("owner lookup"))
        .collect();
    assert_eq!(said.len(), 1, "{said:?}");
    for part in [
        "in-kernel owner lookup was refused",
        "EPERM: Operation not permitted",
        "CAP_BPF with CAP_PERFMON",
        "run as root",
        "through /proc instead",
    ] {
        assert!(said[0].contains(part), "{part:?} in {said:?}");
    }
}

/// Asked for on a kernel without BTF (here: an empty directory over /sys/kernel/btf, in a
/// private mount namespace), the iterator cannot work: the walk answers and `notes` says why,
/// with the errno; by cost, nothing is said.
#[test]
fn asked_for_without_the_kernels_btf_the_walk_answers_with_the_reason() {
    if !common::root_or_skip("a private mount namespace")
        || !have("unshare", "apt-get install -y util-linux")
        || python().is_none()
    {
        return;
    }
    let l = Listener::start(&["tcp4"]);
    let port = l.port(0);
    let empty = tempdir();
    let mut found = Vec::new();
    for lookup in ["bpf", "auto"] {
        let script = format!(
            "mount --bind {} /sys/kernel/btf && WHOPORT_OWNER_LOOKUP={lookup} exec \"$WHOPORT\" \
             {port} --json",
            empty.path().display()
        );
        let (status, stdout, stderr) = common::sh(&format!("exec unshare -m sh -c '{script}'"));
        assert!(status == 0 || status == 1, "{lookup} ({status}): {stderr}");
        let doc: Value = serde_json::from_str(&stdout).expect("JSON");
        assert_eq!(doc["owner_lookup"], "procfs", "{lookup}: {doc}");
        let row = common::listener::rows(&doc, &l.sockets[0]);
        assert_eq!(row.len(), 1, "{doc}");
        assert_eq!(row[0]["owners"][0]["pid"], l.pid, "{lookup}: {}", row[0]);
        found.push(notes(&doc));
    }
    let said = |notes: &[String]| -> Vec<String> {
        notes
            .iter()
            .filter(|n| n.contains("owner lookup"))
            .cloned()
            .collect()
    };
    let asked = said(&found[0]);
    assert_eq!(asked.len(), 1, "{:?}", found[0]);
    for part in [
        "WHOPORT_OWNER_LOOKUP=bpf",
        "the kernel has no BTF",
        "/sys/kernel/btf/vmlinux: ENOENT: No such file or directory",
        "through /proc instead",
    ] {
        assert!(asked[0].contains(part), "{part:?} in {asked:?}");
    }
    assert_eq!(said(&found[1]), Vec::<String>::new(), "by cost: not tried");
}

/// The BPF program and link ids a process holds, from its fdinfo.
fn bpf_ids(pid: u32) -> Vec<(&'static str, String)> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let mut ids = Vec::new();
    for entry in dir.flatten() {
        let link = std::fs::read_link(entry.path()).unwrap_or_default();
        let kind = match link.to_string_lossy().as_ref() {
            "anon_inode:bpf-prog" => "prog",
            "anon_inode:bpf_link" => "link",
            _ => continue,
        };
        let info = std::fs::read_to_string(format!(
            "/proc/{pid}/fdinfo/{}",
            entry.file_name().to_string_lossy()
        ))
        .unwrap_or_default();
        let key = if kind == "prog" {
            "prog_id:"
        } else {
            "link_id:"
        };
        if let Some(id) = info.lines().find_map(|l| l.strip_prefix(key)) {
            ids.push((kind, id.trim().to_string()));
        }
    }
    ids
}

/// Does the kernel still know this program or link?
fn still_loaded(kind: &str, id: &str) -> bool {
    Command::new("bpftool")
        .args([kind, "show", "id", id])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn pinned_by_whoport() -> Vec<String> {
    std::fs::read_dir("/sys/fs/bpf")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains("whoport"))
                .collect()
        })
        .unwrap_or_default()
}

/// Names containing "whoport" on every BPF filesystem mounted (what a pin would leave).
fn pinned_anywhere() -> Vec<String> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut found = pinned_by_whoport();
    for line in mounts.lines() {
        let Some((before, after)) = line.split_once(" - ") else {
            continue;
        };
        if after.split_whitespace().next() != Some("bpf") {
            continue;
        }
        let Some(at) = before.split_whitespace().nth(4) else {
            continue;
        };
        if let Ok(dir) = std::fs::read_dir(at) {
            found.extend(
                dir.flatten()
                    .map(|e| e.path().display().to_string())
                    .filter(|n| n.contains("whoport")),
            );
        }
    }
    found
}

/// When [`held_by_a_run`] kills its run.
#[derive(Clone, Copy)]
enum Kill {
    Never,
    /// As soon as it is seen holding a program.
    AtFirstProgram,
    After(Duration),
}

/// Runs `whoport --json` with the iterator, collecting the BPF programs and links it holds
/// (from its fdinfo) until it ends or `kill` says (then SIGKILL): what it held, and how long
/// it ran.
fn held_by_a_run(kill: Kill) -> (Vec<(&'static str, String)>, Duration) {
    let home = tempdir();
    let started = Instant::now();
    let mut run = common::whoport(home.path())
        .env("WHOPORT_OWNER_LOOKUP", "bpf")
        .arg("--json")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let pid = run.id();
    let child = run.child();
    let deadline = started + Duration::from_secs(10);
    let mut held = Vec::new();
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            break;
        }
        for id in bpf_ids(pid) {
            if !held.contains(&id) {
                held.push(id);
            }
        }
        let now = match kill {
            Kill::Never => false,
            Kill::AtFirstProgram => held.iter().any(|(k, _)| *k == "prog"),
            Kill::After(after) => started.elapsed() >= after,
        };
        if now {
            let _ = child.kill();
            break;
        }
    }
    let _ = child.wait();
    (held, started.elapsed())
}

/// What the kernel still holds of `held` after a moment (it frees programs and links after
/// an RCU grace period).
fn left_in_the_kernel(held: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut left = held.to_vec();
    while !left.is_empty() && Instant::now() < deadline {
        left.retain(|(kind, id)| still_loaded(kind, id));
        std::thread::sleep(Duration::from_millis(50));
    }
    left
}

/// Nothing of whoport's stays in the kernel or on a BPF filesystem: after a run that ends, after
/// SIGKILL as soon as it holds a program, and after SIGKILL at points spread over a whole run
/// (while the programs load, while their passes are read, while the output is written).
#[test]
fn nothing_stays_in_the_kernel_after_whoport_is_killed_mid_run() {
    if !iterator_possible() || !have("bpftool", "apt-get install -y bpftool") {
        eprintln!("SKIPPED: needs root and BTF");
        return;
    }
    // A run to its end.
    let (held, took) = held_by_a_run(Kill::Never);
    assert!(
        held.iter().any(|(k, _)| *k == "prog"),
        "whoport was never seen holding its program"
    );
    let left = left_in_the_kernel(&held);
    assert!(left.is_empty(), "still in the kernel after a run: {left:?}");
    // Killed as soon as it holds a program.
    let mut caught = Vec::new();
    for _ in 0..20 {
        let (held, _) = held_by_a_run(Kill::AtFirstProgram);
        let loaded = held.iter().any(|(k, _)| *k == "prog");
        caught.extend(held);
        if loaded {
            break;
        }
    }
    assert!(
        caught.iter().any(|(k, _)| *k == "prog"),
        "whoport was never caught holding its program"
    );
    // Killed at ten points spread over a run as long as the one above.
    for step in 1..=10 {
        let (held, _) = held_by_a_run(Kill::After(took * step / 10));
        caught.extend(held);
    }
    let left = left_in_the_kernel(&caught);
    assert!(
        left.is_empty(),
        "still in the kernel after SIGKILL: {left:?}"
    );
    assert!(pinned_anywhere().is_empty(), "{:?}", pinned_anywhere());
}

#[test]
fn the_iterator_sees_threads_with_their_own_descriptor_table() {
    let Some(py) = python() else { return };
    if !iterator_possible() {
        eprintln!("SKIPPED: needs root and BTF");
        return;
    }
    let mut child = Command::new(py)
        .args(["-c", common::listener::OWN_TABLE_THREAD])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python starts");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("ready line");
    let mut words = line.split_whitespace();
    let pid: u64 = words.next().and_then(|w| w.parse().ok()).expect("pid");
    let port: u16 = words.next().and_then(|w| w.parse().ok()).expect("port");
    let bpf = json_with(&[("WHOPORT_OWNER_LOOKUP", "bpf")], &[&port.to_string()]);
    let walk = json_with(&[("WHOPORT_OWNER_LOOKUP", "procfs")], &[&port.to_string()]);
    drop(child.stdin.take());
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(bpf["owner_lookup"], "bpf");
    // Only our socket: another process may use the same port number on ::1.
    let ours = |doc: &Value| -> Seen {
        seen(doc, &[port])
            .into_iter()
            .filter(|((proto, addr, _), _)| proto == "tcp" && addr == "127.0.0.1")
            .collect()
    };
    let (b, w) = (ours(&bpf), ours(&walk));
    assert_eq!(b.len(), 1, "{b:?}");
    let (owners, reason) = b.values().next().expect("one row");
    assert_eq!(owners, &vec![pid], "the thread's process owns it");
    assert!(reason.is_null());
    // Where the walk finds an owner, it must be the same one.
    if w.values().any(|(pids, _)| !pids.is_empty()) {
        assert_eq!(b, w);
    }
}

/// The reason whoport gives for `port` (a listener of 127.0.0.1 nobody holds), run as
/// `wrapper` (a `setpriv` command line, or none) with the given owner lookup; and the lookup
/// that ran.
fn in_transit_reason(wrapper: &[&str], lookup: &str, port: u16) -> (String, Value) {
    let home = tempdir();
    let mut run = match wrapper.split_first() {
        Some((program, args)) => {
            let mut run = common::command(home.path(), Path::new(program));
            run.args(args).arg(common::bin());
            run
        }
        None => common::whoport(home.path()),
    };
    let out = run
        .env("WHOPORT_OWNER_LOOKUP", lookup)
        .args(["--json", &port.to_string()])
        .output()
        .expect("whoport runs");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{out:?}"));
    let rows: Vec<&Value> = doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .filter(|l| l["protocol"] == "tcp" && l["address"] == "127.0.0.1")
        .collect();
    assert_eq!(rows.len(), 1, "{wrapper:?} {lookup}: {doc}");
    assert!(
        rows[0]["owners"].as_array().is_some_and(Vec::is_empty),
        "{doc}"
    );
    let reason = rows[0]["owner_hidden_reason"]
        .as_str()
        .expect("a reason")
        .to_string();
    (reason, doc["owner_lookup"].clone())
}

/// The iterator reads every task's descriptor table in the kernel, whatever /proc lets this
/// user read: a listener in transit names the process holding the unix socket it waits in,
/// and never says that processes' descriptors could not be read, as root, as root without
/// CAP_SYS_PTRACE (every other process's descriptors closed to the walk) and as nobody with
/// only CAP_BPF and CAP_PERFMON. The walk, which cannot read the receiver's table in the last
/// two, reads the tables in the kernel then, and gives the same answer.
#[test]
fn a_socket_in_transit_names_its_receiver_whatever_proc_lets_whoport_read() {
    let Some(py) = python() else { return };
    if !iterator_possible() {
        eprintln!("SKIPPED: needs root and a kernel with BTF");
        return;
    }
    if !have("setpriv", "apt-get install -y util-linux") {
        return;
    }
    let mut child = Command::new(py)
        .args(["-c", common::listener::IN_TRANSIT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python starts");
    let line = common::ready_line(&mut child, Duration::from_secs(30));
    let port: u16 = line.trim().parse().expect("port");
    let receiver_pid = child.id();
    let receiver = format!("held by pid {receiver_pid} ");
    let no_ptrace: &[&str] = &[
        "setpriv",
        "--inh-caps=-sys_ptrace",
        "--bounding-set=-sys_ptrace",
    ];
    let capped: &[&str] = &common::NOBODY_WITH_BPF;
    let mut answers = Vec::new();
    for wrapper in [&[][..], no_ptrace, capped] {
        for lookup in ["bpf", "procfs"] {
            answers.push((wrapper, lookup, in_transit_reason(wrapper, lookup, port)));
        }
    }
    drop(child.stdin.take());
    let _ = child.kill();
    let _ = child.wait();
    // Processes /proc closes to root that the kernel's task iterator does not visit either
    // (a microVM's init here) are the only ones the iterator may say it could not read;
    // besides them, only a process another test of this binary started while whoport ran
    // (after the iterator's pass, closed to nobody's walk: gone by now, or this process's
    // descendant), never the receiver.
    let unseen = common::unseen_by_root().unwrap_or_default();
    let only_unseen = |reason: &str| match reason.find("could not be read (PID") {
        None => true,
        Some(at) => reason[at..]
            .split(')')
            .next()
            .unwrap_or("")
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|p| p.parse::<u32>().ok())
            .all(|p| {
                p != receiver_pid && (unseen.contains(&p) || common::started_by_this_test_binary(p))
            }),
    };
    for (wrapper, lookup, (reason, method)) in answers {
        assert_eq!(method, lookup, "{wrapper:?}");
        assert!(
            reason.starts_with("in transit"),
            "{wrapper:?} {lookup}: {reason}"
        );
        // The walk, where it could not read the receiver's table, reads the tables in the
        // kernel for it (the kernel may be asked): both lookups name the same receiver, and
        // the same processes not read.
        assert!(reason.contains(&receiver), "{wrapper:?} {lookup}: {reason}");
        assert!(
            only_unseen(&reason),
            "{wrapper:?} {lookup} {unseen:?}: {reason}"
        );
    }
}

/// aya's loader is made on a thread of its own whose root is where the kernel's BTF is not,
/// so the whole kernel BTF is read once per run (whoport's own read, for the part its objects
/// use), never by aya; that thread opens nothing, loads nothing, and ends. Seen in the real
/// binary's system calls (strace, one file per thread).
#[test]
fn the_kernel_btf_is_read_once_and_the_loaders_thread_ends_holding_nothing() {
    if !iterator_possible() {
        eprintln!("SKIPPED: the BPF objects load only as root with kernel BTF");
        return;
    }
    if !have("strace", "apt-get install -y strace") {
        return;
    }
    let home = tempdir();
    let prefix = home.path().join("trace");
    let out = common::command(home.path(), Path::new("strace"))
        .args([
            "-ff",
            "-q",
            "-e",
            "trace=unshare,chroot,open,openat,bpf",
            "-o",
        ])
        .arg(&prefix)
        .arg(common::bin())
        .arg("--json")
        .env("WHOPORT_OWNER_LOOKUP", "bpf")
        .output()
        .expect("strace runs");
    let code = out.status.code().unwrap_or(-1);
    assert!(code == 0 || code == 1, "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(doc["owner_lookup"], "bpf", "the iterator loaded: {doc}");
    let threads: Vec<String> = std::fs::read_dir(home.path())
        .expect("traces")
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().to_string_lossy().to_string();
            let text = std::fs::read_to_string(e.path()).expect("a trace");
            // strace pads a call to a column before its result: one space, as written here.
            let lines: Vec<String> = text
                .lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect();
            name.starts_with("trace.").then(|| lines.join("\n"))
        })
        .collect();
    assert!(!threads.is_empty(), "strace wrote its traces");
    let succeeded = |line: &str| {
        line.rsplit_once(" = ")
            .is_some_and(|(_, result)| !result.starts_with('-'))
    };
    let btf_reads = threads
        .iter()
        .flat_map(|t| t.lines())
        .filter(|l| l.contains("\"/sys/kernel/btf/vmlinux\"") && succeeded(l))
        .count();
    let opens: Vec<&str> = threads
        .iter()
        .flat_map(|t| t.lines())
        .filter(|l| l.contains("/sys/kernel/btf/vmlinux"))
        .collect();
    assert_eq!(btf_reads, 1, "the kernel's BTF is opened once: {opens:#?}");
    let loaders: Vec<&String> = threads
        .iter()
        .filter(|t| t.contains("chroot(\"/sys/kernel/btf\") = 0"))
        .collect();
    assert_eq!(loaders.len(), 1, "one thread made the loader: {opens:#?}");
    let loader = loaders[0];
    assert!(
        loader.contains("unshare(CLONE_FS) = 0"),
        "its own filesystem context: {loader}"
    );
    assert!(
        loader.contains("\"/sys/kernel/btf/vmlinux\"") && loader.contains("ENOENT"),
        "aya looked for the kernel's BTF there and found none: {loader}"
    );
    for line in loader.lines() {
        let opened = line.starts_with("open") && succeeded(line);
        assert!(!opened, "the loader's thread opened a file: {loader}");
        assert!(!line.starts_with("bpf("), "it loads nothing: {loader}");
    }
    assert!(
        loader.trim_end().ends_with("+++ exited with 0 +++"),
        "the thread ended: {loader}"
    );
}

/// `WHOPORT_NO_BPF=1` comes before `WHOPORT_OWNER_LOOKUP=bpf`: the walk answers, and the
/// notes say which variable won (in `--json`, and under the table); with the lookup chosen by
/// cost nothing was overruled, and nothing is said.
#[test]
fn no_bpf_beside_an_asked_for_iterator_says_the_walk_was_used() {
    const SAID: &str =
        "WHOPORT_NO_BPF is set: the /proc walk was used although WHOPORT_OWNER_LOOKUP=bpf";
    let asked = json_with(
        &[("WHOPORT_NO_BPF", "1"), ("WHOPORT_OWNER_LOOKUP", "bpf")],
        &[],
    );
    assert_eq!(asked["owner_lookup"], "procfs");
    assert!(
        notes(&asked).iter().any(|n| n == SAID),
        "{:?}",
        notes(&asked)
    );
    let by_cost = json_with(
        &[("WHOPORT_NO_BPF", "1"), ("WHOPORT_OWNER_LOOKUP", "auto")],
        &[],
    );
    assert_eq!(by_cost["owner_lookup"], "procfs");
    // (Other notes may name WHOPORT_NO_BPF as why something else was not read.)
    assert!(
        !notes(&by_cost)
            .iter()
            .any(|n| n.contains("WHOPORT_OWNER_LOOKUP")),
        "{:?}",
        notes(&by_cost)
    );
    // Without --json the note is under the table.
    let home = tempdir();
    let (_, stdout, stderr) = common::outcome(
        common::whoport(home.path())
            .env("WHOPORT_NO_BPF", "1")
            .env("WHOPORT_OWNER_LOOKUP", "bpf"),
    );
    assert!(
        stdout.lines().any(|l| l == format!("note: {SAID}")),
        "{stdout}{stderr}"
    );
}

/// Whatever is mounted over the kernel's BTF (a file with bytes of its own, `/dev/zero`, a FIFO
/// no one writes to; in a private mount namespace) is refused for what it is, never read nor
/// waited for: the walk answers, names the owner, and `notes` says why the in-kernel lookup
/// was not used.
#[test]
fn a_file_mounted_over_the_kernels_btf_is_refused_and_the_walk_answers() {
    if !common::mount_namespace_with_btf_or_skip()
        || !have("unshare", "apt-get install -y util-linux")
        || python().is_none()
    {
        return;
    }
    let l = Listener::start(&["tcp4"]);
    let port = l.port(0);
    let dir = tempdir();
    let (garbage, fifo) = (dir.path().join("garbage"), dir.path().join("fifo"));
    std::fs::write(&garbage, [0x9f_u8, 0xeb, 1, 0, 24, 0, 0, 0].repeat(100)).expect("written");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    for (over, why) in [
        (garbage.as_path(), "it is not on sysfs"),
        (Path::new("/dev/zero"), "it is not a regular file"),
        (fifo.as_path(), "it is not a regular file"),
    ] {
        let script = format!(
            "mount --bind {} /sys/kernel/btf/vmlinux && WHOPORT_OWNER_LOOKUP=bpf exec \
             \"$WHOPORT\" {port} --json",
            over.display()
        );
        let (status, stdout, stderr) = common::sh(&format!("exec unshare -m sh -c '{script}'"));
        assert_eq!(status, 0, "{} ({status}): {stderr}", over.display());
        let doc: Value = serde_json::from_str(&stdout).expect("JSON");
        the_walk_answered_because(&doc, &l, why, &over.display().to_string());
    }
}

/// `doc` (a `--json` port card) names `l`'s owner found by the walk, and one note says the
/// in-kernel lookup was not used because of the kernel's BTF, `why` (`what`: the case).
fn the_walk_answered_because(doc: &Value, l: &Listener, why: &str, what: &str) {
    assert_eq!(doc["owner_lookup"], "procfs", "{what}: {doc}");
    let row = common::listener::rows(doc, &l.sockets[0]);
    assert_eq!(row[0]["owners"][0]["pid"], l.pid, "{what}: {}", row[0]);
    let said: Vec<String> = notes(doc)
        .into_iter()
        .filter(|n| n.contains("owner lookup"))
        .collect();
    assert_eq!(said.len(), 1, "{what}: {said:?}");
    for part in ["/sys/kernel/btf/vmlinux: ", why, "through /proc instead"] {
        assert!(said[0].contains(part), "{what}: {part:?} in {said:?}");
    }
}

/// The inode of the TCP listener on 127.0.0.1:`port`, from the kernel's socket dump.
fn listener_inode(port: u16) -> u32 {
    use whoport::collect::port_table::{on_port, States};
    let found = on_port(port, whoport::port::Protocol::Tcp, States::Listeners).expect("dump");
    let ours: Vec<u32> = found
        .iter()
        .filter(|s| s.address.to_string() == "127.0.0.1")
        .map(|s| s.inode)
        .collect();
    assert_eq!(ours.len(), 1, "{found:?}");
    ours[0]
}

/// `tests/fixtures/socket_node.py` started in a private mount namespace: a FUSE socket node
/// whose inode number is `inode`, held open with O_PATH (`hold`) or sent in a unix socket
/// message never received (`send`), with the PID of the process that did it; `None` (said
/// skipped) without root, unshare or fusepy. The process and its FUSE server end when it is
/// dropped.
fn socket_node(inode: u32, how: &str) -> Option<(common::Reaped, u32, tempfile::TempDir)> {
    if !common::root_or_skip("a FUSE mount in a private mount namespace")
        || !have("unshare", "apt-get install -y util-linux")
        || !common::have_python_module("fusepy", "apt-get install -y python3-fusepy")
    {
        return None;
    }
    let dir = tempdir();
    let mut node = common::Reaped(
        Command::new("unshare")
            .args(["--mount", "--propagation", "private", "/usr/bin/python3"])
            .arg(common::fixture("socket_node.py"))
            .arg(dir.path())
            .args([&inode.to_string(), how])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare starts"),
    );
    let line = common::ready_line(&mut node.0, Duration::from_secs(30));
    let ready: Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("socket_node.py said {line:?}: {e}"));
    let pid = ready["pid"].as_u64().and_then(|p| u32::try_from(p).ok());
    Some((node, pid.expect("pid"), dir))
}

/// A filesystem's socket node (mode S_IFSOCK: what `bind()` of a unix socket or `mknod`
/// leaves in a directory) is no socket, though anyone may hold one open (O_PATH) and whoever
/// makes it may choose its inode number (a FUSE server says what it is): one numbered as a
/// listener's socket, held by another process, never makes that process the listener's
/// owner. Before, the in-kernel lookup took every descriptor with a socket's mode for a
/// socket, so any user could pose as the owner of any listener (the walk, which reads the
/// descriptor's link, never did).
#[test]
fn a_socket_node_numbered_as_a_listeners_socket_is_not_that_socket() {
    if !iterator_possible() {
        eprintln!("SKIPPED: needs root and a kernel with BTF");
        return;
    }
    let Some(py) = python() else { return };
    let listener = Listener::start_with(&py, &["tcp4"]);
    let port = listener.port(0);
    let Some((_node, poser, _dir)) = socket_node(listener_inode(port), "hold") else {
        return;
    };
    for lookup in ["bpf", "procfs"] {
        let doc = json_with(&[("WHOPORT_OWNER_LOOKUP", lookup)], &[&port.to_string()]);
        assert_eq!(doc["owner_lookup"], lookup, "{doc}");
        let row = common::loopback_tcp_row(&doc, u64::from(port), lookup);
        assert_eq!(
            common::listener::owner_pids(row),
            vec![u64::from(listener.pid)],
            "{lookup}: not {poser}: {row}"
        );
    }
}

/// The same socket node sent in a unix socket message that is never received, the real
/// listener in transit in another: the reason names the receiver of the listener's message
/// only, never the queue that holds the node (the unix-queue look, in the kernel, took every
/// descriptor with a socket's mode for a socket too).
#[test]
fn a_socket_node_in_transit_is_not_the_listener_in_transit() {
    if !iterator_possible() {
        eprintln!("SKIPPED: needs root and a kernel with BTF");
        return;
    }
    let Some(py) = python() else { return };
    let mut child = common::Reaped(
        Command::new(py)
            .args(["-c", common::listener::IN_TRANSIT])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python starts"),
    );
    let line = common::ready_line(&mut child.0, Duration::from_secs(30));
    let port: u16 = line.trim().parse().expect("port");
    let Some((_node, poser, _dir)) = socket_node(listener_inode(port), "send") else {
        return;
    };
    let receiver = format!("held by pid {} ", child.0.id());
    for lookup in ["bpf", "procfs"] {
        let (reason, method) = in_transit_reason(&[], lookup, port);
        assert_eq!(method, lookup);
        assert!(reason.contains(&receiver), "{lookup}: {reason}");
        assert!(
            !reason.contains(&format!("pid {poser} ")),
            "{lookup}: {reason}"
        );
    }
}

/// A FUSE file whose daemon reads every request and never answers, mounted over the kernel's
/// BTF (`raw_stalled_fuse.py ... file`, in a private mount namespace): the mount table says
/// what it is, the file is never asked, and the walk answers at once. Before, whoport gave
/// the file a second, then printed its answer and never ended (the thread that asked was held
/// in the kernel, through SIGKILL).
#[test]
fn a_filesystem_that_never_answers_over_the_kernels_btf_is_never_asked() {
    if !common::mount_namespace_with_btf_or_skip()
        || !have("unshare", "apt-get install -y util-linux")
        || python().is_none()
    {
        return;
    }
    let l = Listener::start(&["tcp4"]);
    let port = l.port(0);
    let script = format!(
        "exec unshare -m --propagation private sh -c '\n\
         /usr/bin/python3 {fixture} /sys/kernel/btf/vmlinux file > /dev/null 2>&1 &\n\
         fuse=$!\n\
         for i in $(seq 50); do grep -q \" /sys/kernel/btf/vmlinux .*whofuse\" /proc/self/mountinfo && break; sleep 0.1; done\n\
         grep -q \" /sys/kernel/btf/vmlinux .*whofuse\" /proc/self/mountinfo || echo not-mounted >&2\n\
         WHOPORT_OWNER_LOOKUP=bpf timeout -s KILL 20 \"$WHOPORT\" {port} --json\n\
         echo rc=$? >&2\n\
         kill $fuse\n\
         wait'",
        fixture = common::fixture("raw_stalled_fuse.py").display(),
    );
    let (_, stdout, stderr) = common::sh(&script);
    assert!(!stderr.contains("not-mounted"), "{stderr}");
    assert!(stderr.contains("rc=0"), "did not end: {stderr}");
    let doc: Value = serde_json::from_str(&stdout).expect("JSON");
    the_walk_answered_because(&doc, &l, "may never answer", "a stalled FUSE file");
}

/// The owner objects of `pids` in a listing, by PID.
fn owners_of(doc: &Value, pids: &[u32]) -> BTreeMap<u64, Value> {
    doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .flat_map(|l| l["owners"].as_array().cloned().unwrap_or_default())
        .filter_map(|o| {
            let pid = o["pid"].as_u64()?;
            pids.contains(&u32::try_from(pid).ok()?).then_some((pid, o))
        })
        .collect()
}

/// The files below the `/proc/PID` of `pids` (and the `comm` of `parents`) that the trace of
/// one of whoport's threads (`strace -ff`, its `openat2` calls) shows it opened: directories
/// opened as `openat2(PROC, "PID", …) = FD`, then files as `openat2(FD, "NAME", …)`.
fn opened_below(trace: &str, pids: &[u32], parents: &[u32]) -> Vec<String> {
    let mut dirs: BTreeMap<String, u32> = BTreeMap::new();
    let mut opened = Vec::new();
    for line in trace.lines() {
        let Some(call) = line.split_once("openat2(").map(|(_, call)| call) else {
            continue;
        };
        let Some((fd, rest)) = call.split_once(", \"") else {
            continue;
        };
        let Some((name, _)) = rest.split_once('"') else {
            continue;
        };
        let result = line.rsplit_once(" = ").map(|(_, r)| r.trim());
        if let Ok(pid) = name.parse::<u32>() {
            if let Some(new) = result.filter(|r| !r.starts_with('-')) {
                dirs.insert(new.to_string(), pid);
            }
            continue;
        }
        if dirs.get(fd).is_some_and(|pid| pids.contains(pid)) {
            opened.push(format!("/proc/{}/{name}", dirs[fd]));
        }
        if let Some((pid, "comm")) = name.split_once('/') {
            if pid.parse().is_ok_and(|p: u32| parents.contains(&p)) {
                opened.push(format!("/proc/{name}"));
            }
        }
    }
    opened
}

/// Where the owner iterator gave a holder's facts (bpf/owners.bpf.c, `task_facts`), whoport
/// reads neither its `status` (unless it has several threads), its namespace links, its memory
/// map nor its parent's `comm`,
/// and says of it what the walk, which reads them, says: its user, root kept beside it, its
/// capabilities, its threads' uids, its namespaces, its parent and the running file. Five
/// holders: one acting as nobody with root kept and its capabilities (real and saved uids
/// root's), one with a thread acting as nobody, a forked child that is nobody (holding a UDP
/// socket), and one in user and mount namespaces of its own.
#[test]
fn a_holders_facts_from_the_kernel_are_the_walks_and_its_files_are_not_read() {
    if !iterator_possible() {
        eprintln!("SKIPPED: the BPF objects load only as root with kernel BTF");
        return;
    }
    if python().is_none()
        || !have("strace", "apt-get install -y strace")
        || !have("unshare", "apt-get install -y util-linux")
    {
        return;
    }
    let acting = Listener::start(&["--effective-user", "65534", "--keep-caps", "tcp4"]);
    let threaded = Listener::start(&["--thread-user", "65534", "tcp4"]);
    let forked = Listener::start(&["--fork", "--child-user", "65534", "udp4"]);
    let mut own_ns = Command::new("unshare");
    own_ns
        .args(["-U", "-m", "-r"])
        .arg(python().expect("python3"))
        .arg(common::fixture("listen.py"))
        .arg("tcp4");
    let own_ns = Listener::start_command(own_ns);
    let child = forked.children[0];
    let pids = [acting.pid, threaded.pid, forked.pid, child, own_ns.pid];
    let holders = [acting.pid, threaded.pid, child, own_ns.pid];
    let ports: Vec<String> = [&acting, &threaded, &forked, &own_ns]
        .iter()
        .map(|l| l.port(0).to_string())
        .collect();
    let me = std::process::id();
    let by_lookup = |lookup: &str| {
        let doc = json_with(&[("WHOPORT_OWNER_LOOKUP", lookup)], &[]);
        assert_eq!(doc["owner_lookup"], lookup, "{doc}");
        owners_of(&doc, &holders)
    };
    let walk = by_lookup("procfs");
    let kernel = by_lookup("bpf");
    assert_eq!(walk.len(), holders.len(), "{walk:#?} {ports:?}");
    assert_eq!(kernel, walk, "the kernel's facts are the walk's");
    let owner = |pid: u32| &kernel[&u64::from(pid)];
    let acting_owner = owner(acting.pid);
    assert_eq!(acting_owner["uid"], 65534, "{acting_owner}");
    assert_eq!(acting_owner["root_kept"], true, "{acting_owner}");
    assert!(
        acting_owner["capabilities"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c == "CAP_NET_ADMIN")),
        "{acting_owner}"
    );
    let threaded_owner = owner(threaded.pid);
    assert_eq!(threaded_owner["uid"], 0, "{threaded_owner}");
    assert_eq!(
        threaded_owner["thread_uids"],
        serde_json::json!([65534]),
        "{threaded_owner}"
    );
    assert_eq!(threaded_owner["exe_same_here"], true, "{threaded_owner}");
    assert_eq!(threaded_owner["parent_pid"], me, "{threaded_owner}");
    let my_name = std::fs::read_to_string(format!("/proc/{me}/comm")).expect("own comm");
    assert_eq!(
        threaded_owner["parent_name"],
        my_name.trim_end(),
        "{threaded_owner}"
    );
    let child_owner = owner(child);
    assert_eq!(child_owner["uid"], 65534, "{child_owner}");
    assert_eq!(child_owner["parent_pid"], forked.pid, "{child_owner}");
    let forked_name =
        std::fs::read_to_string(format!("/proc/{}/comm", forked.pid)).expect("listener's comm");
    assert_eq!(
        child_owner["parent_name"],
        forked_name.trim_end(),
        "{child_owner}"
    );
    let own_ns_owner = owner(own_ns.pid);
    assert_eq!(own_ns_owner["exe_own_user_ns"], true, "{own_ns_owner}");
    assert_eq!(own_ns_owner["exe_own_mount_ns"], true, "{own_ns_owner}");
    for o in [acting_owner, threaded_owner, child_owner] {
        assert_eq!(o["exe_own_user_ns"], false, "{o}");
        assert_eq!(o["exe_own_mount_ns"], false, "{o}");
    }
    // What the walk reads of them, and the kernel gave.
    let home = tempdir();
    let traces = tempdir();
    let trace = traces.path().join("trace");
    let out = common::command(home.path(), Path::new("strace"))
        .args(["-ff", "-q", "-e", "trace=openat2", "-o"])
        .arg(&trace)
        .arg(common::bin())
        .arg("--json")
        .env("WHOPORT_OWNER_LOOKUP", "bpf")
        .output()
        .expect("strace runs");
    let code = out.status.code().unwrap_or(-1);
    assert!(code == 0 || code == 1, "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(owners_of(&doc, &holders).len(), holders.len(), "{doc}");
    // One trace per thread: a thread reads a process's files after opening its directory.
    let opened: Vec<String> = std::fs::read_dir(traces.path())
        .expect("the traces")
        .flat_map(|e| {
            let text = std::fs::read_to_string(e.expect("a trace").path()).expect("a trace");
            opened_below(&text, &pids, &[me, forked.pid])
        })
        .collect();
    // (A process of several threads has its main thread's `status` read beside the others',
    // at one moment: the kernel's facts are of the pass.)
    let threaded_status = format!("/proc/{}/status", threaded.pid);
    assert!(opened.contains(&threaded_status), "{opened:?}");
    let read_of_them: Vec<&String> = opened
        .iter()
        .filter(|f| **f != threaded_status)
        .filter(|f| {
            ["/status", "/maps", "/ns/mnt", "/ns/user", "/comm"]
                .iter()
                .any(|end| f.ends_with(end))
        })
        .collect();
    assert!(read_of_them.is_empty(), "{read_of_them:?}");
    // (The trace names what the walk would read: their own `stat` is read.)
    for pid in holders {
        assert!(
            opened.contains(&format!("/proc/{pid}/stat")),
            "{pid}: {opened:?}"
        );
    }
}

/// A holder run from an overlay whose layers are other filesystems (as a btrfs subvolume, the
/// file's device as `stat` gives it is not its filesystem's, which the kernel names): both
/// lookups judge whether the file at its path is the one it runs alike, and neither says it
/// is not. The kernel's device once took for the file's was compared with `stat`'s, and the
/// in-kernel lookup said "its executable … is not the file at that path".
#[test]
fn a_holder_run_from_an_overlay_of_other_filesystems_is_judged_alike_by_both_lookups() {
    if !iterator_possible() {
        eprintln!("SKIPPED: the BPF objects load only as root with kernel BTF");
        return;
    }
    let Some(py) = python() else {
        return;
    };
    if !have("unshare", "apt-get install -y util-linux") {
        return;
    }
    let py = std::fs::canonicalize(py).expect("the interpreter's file");
    let dir = tempdir();
    let d = dir.path().display();
    let script = format!(
        r#"set -e
D={d}
mkdir -p $D/lower $D/upperfs $D/merged
mount -t tmpfs none $D/lower
mount -t tmpfs none $D/upperfs
mkdir $D/upperfs/up $D/upperfs/work
cp {py} $D/lower/python3
mount -t overlay overlay -o lowerdir=$D/lower,upperdir=$D/upperfs/up,workdir=$D/upperfs/work $D/merged
PYTHONHOME={prefix} $D/merged/python3 {listen} --exit-after 60 tcp4 >$D/listening 2>&1 </dev/null &
P=$!
trap 'kill $P' EXIT
i=0; while [ ! -s $D/listening ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
PORT=$({py} -c 'import json, sys; print(json.load(sys.stdin)["sockets"][0][2])' <$D/listening)
for l in bpf procfs; do WHOPORT_OWNER_LOOKUP=$l "$WHOPORT" $PORT --json >$D/$l.json || true; done
"#,
        py = py.display(),
        prefix = common::listener::python_prefix(),
        listen = common::fixture("listen.py").display(),
    );
    std::fs::write(dir.path().join("overlay.sh"), script).expect("script written");
    let (status, out, err) = common::sh_within(
        &format!("exec unshare -m --propagation private sh {d}/overlay.sh"),
        Duration::from_secs(60),
    );
    assert_eq!(status, 0, "{out}{err}");
    let listening = std::fs::read_to_string(dir.path().join("listening")).expect("listening");
    let pid = serde_json::from_str::<Value>(&listening).expect("JSON")["pid"]
        .as_u64()
        .expect("pid");
    let owner = |lookup: &str| {
        let text = std::fs::read_to_string(dir.path().join(format!("{lookup}.json")))
            .expect("whoport's output");
        let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(doc["owner_lookup"], lookup, "{doc}");
        let owners = &doc["listeners"][0]["owners"];
        assert_eq!(owners[0]["pid"], pid, "{doc}");
        owners[0].clone()
    };
    let (kernel, walk) = (owner("bpf"), owner("procfs"));
    assert!(
        kernel["exe"]
            .as_str()
            .is_some_and(|e| e.ends_with("/merged/python3")),
        "{kernel}"
    );
    assert_eq!(kernel, walk);
    assert_ne!(kernel["exe_same_here"], false, "{kernel}");
}
