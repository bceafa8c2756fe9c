//! The note about processes of other network namespaces, seen from inside a private one
//! (where every process of the machine is elsewhere): kernel threads are never counted nor
//! suggested for `nsenter`, and the `/proc` walk and the in-kernel lookup say the same.

mod common;

use std::collections::HashSet;

use common::bounded::Run;
use common::netns::NetNs;
use common::{bin, tempdir};
use serde_json::Value;

/// `PF_KTHREAD` in the flags of `/proc/PID/stat`.
const PF_KTHREAD: u64 = 0x0020_0000;

/// The flags field of `/proc/PID/stat` (the 9th, the 7th after the name's closing paren).
fn flags(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(6)?.parse().ok()
}

fn is_kernel_thread(pid: u32) -> bool {
    pid == 2 || flags(pid).is_some_and(|f| f & PF_KTHREAD != 0)
}

/// The machine's processes outside `netns` (a `/proc/PID/ns/net` link text): (kernel
/// threads, other processes holding at least one descriptor).
fn outside(netns: &std::path::Path) -> (HashSet<u32>, HashSet<u32>) {
    let own = std::fs::read_link(netns).expect("namespace link");
    let (mut kernel, mut others) = (HashSet::new(), HashSet::new());
    for pid in common::pids() {
        if std::fs::read_link(format!("/proc/{pid}/ns/net")).is_ok_and(|ns| ns == own) {
            continue;
        }
        if is_kernel_thread(pid) {
            kernel.insert(pid);
        } else if std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|mut d| d.next().is_some())
        {
            others.insert(pid);
        }
    }
    (kernel, others)
}

/// whoport --json inside `ns` with one owner lookup; the note's (count, suggested PID).
fn counted(ns: &NetNs, lookup: &str) -> (usize, u32, String) {
    let home = tempdir();
    let mut cmd = Run::new("nsenter");
    cmd.args(["-t", &ns.pid.to_string(), "-n", "--"])
        .arg(bin())
        .arg("--json");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("WHOPORT_") {
            cmd.env_remove(&key);
        }
    }
    let out = cmd
        .env("WHOPORT_OWNER_LOOKUP", lookup)
        .env("WHOPORT_TIMEOUT", common::TIMEOUT)
        .env("XDG_DATA_HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .output()
        .expect("whoport runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(doc["owner_lookup"], lookup, "{lookup}: {text}");
    let note = doc["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .filter_map(Value::as_str)
        .find(|n| n.contains("in other network namespaces"))
        .unwrap_or_else(|| panic!("{lookup}: no note about other namespaces: {text}"))
        .to_string();
    let count = note
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count: {note}"));
    let pid = note
        .split("nsenter -n -t ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("a PID: {note}"));
    (count, pid, note)
}

#[test]
fn kernel_threads_are_not_processes_of_another_network_namespace() {
    let Some(ns) = NetNs::new() else { return };
    let netns = std::path::PathBuf::from(format!("/proc/{}/ns/net", ns.pid));
    let methods: &[&str] = if common::owner_lookup() == "bpf" {
        &["procfs", "bpf"]
    } else {
        &["procfs"]
    };
    let mut seen = Vec::new();
    for &lookup in methods {
        let (kernel_before, before) = outside(&netns);
        let (count, pid, note) = counted(&ns, lookup);
        let (kernel_after, after) = outside(&netns);
        let kernel: HashSet<u32> = kernel_before.union(&kernel_after).copied().collect();
        let others: HashSet<u32> = before.union(&after).copied().collect();
        assert!(
            !is_kernel_thread(pid) && !kernel.contains(&pid),
            "{lookup}: a kernel thread is suggested: {note}"
        );
        // The processes it counts hold descriptors: at most every such process seen before
        // or after the run (what started and ended during it aside, which the kernel threads'
        // number bounds on any machine that has more kernel threads than short-lived
        // processes; the kernel threads themselves would add all of theirs).
        assert!(
            count <= others.len() + kernel.len() / 2,
            "{lookup}: {count} counted, {} processes with descriptors outside, {} kernel \
             threads: {note}",
            others.len(),
            kernel.len()
        );
        seen.push((lookup, count, pid, kernel.len()));
    }
    // Both lookups say the same (give or take what started or ended between the runs).
    // Both suggest the lowest PID they counted; which one that is can change between the runs
    // (PIDs wrap around on a busy machine), so only its kind is checked, above.
    if let [(_, walk, _, kernel), (_, bpf, _, _)] = seen[..] {
        assert!(
            walk.abs_diff(bpf) <= kernel / 2,
            "the walk counts {walk}, the in-kernel lookup {bpf} ({kernel} kernel threads)"
        );
    }
}
