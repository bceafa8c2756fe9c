//! An `SO_REUSEPORT` group closing and reopening its sockets without pause
//! (`tests/fixtures/reuseport_churn.py`), in a private network namespace: every socket whose
//! owner whoport could not name gets the reason a look established (closed during the scan,
//! passed between processes, in transit), never what merely remains possible (another PID
//! namespace, processes not read, no process seen). Helpers are killed by PID.

mod common;

use common::listener::{python, Listener};
use common::netns::NetNs;
use common::tempdir;
use serde_json::Value;

/// What a look saw of a churning socket: each reason whoport may give it.
const ESTABLISHED: [&str; 3] = [
    "closed during the scan",
    "passed between processes during the scan",
    "in transit",
];

/// The ownerless rows on `port` and their reasons, and the rows the steady listener has.
fn reasons_on(doc: &Value, port: u16, steady: u32) -> (Vec<String>, usize) {
    let rows: Vec<&Value> = doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .filter(|l| l["port"] == port)
        .collect();
    let steady_rows = rows
        .iter()
        .filter(|l| {
            l["owners"]
                .as_array()
                .is_some_and(|o| o.iter().any(|o| o["pid"] == steady))
        })
        .count();
    let reasons = rows
        .iter()
        .filter(|l| l["owners"].as_array().is_some_and(Vec::is_empty))
        .map(|l| l["owner_hidden_reason"].as_str().unwrap_or("").to_string())
        .collect();
    (reasons, steady_rows)
}

/// Sockets created, passed on and closed while whoport looks: with both owner lookups, over
/// several runs, every socket of the group without an owner has a reason some look
/// established, and the steady listener is listed once, with its process.
#[test]
fn a_churning_groups_sockets_get_only_reasons_a_look_established() {
    let Some(py) = python() else { return };
    let Some(ns) = NetNs::new() else { return };
    let mut cmd = ns.command(&py);
    cmd.arg(common::fixture("reuseport_churn.py"));
    let churn = Listener::start_command(cmd);
    let (steady, port) = (churn.pid, churn.port(0));
    let home = tempdir();
    let mut counted = 0;
    for lookup in ["procfs", "bpf"] {
        for run in 0..4 {
            let env = [("WHOPORT_OWNER_LOOKUP", lookup)];
            let (status, out, err) = ns.whoport_with(home.path(), &env, &["--json"]);
            assert!(matches!(status, 0 | 1), "{lookup} {run}: {err}");
            let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
            let (reasons, steady_rows) = reasons_on(&doc, port, steady);
            assert_eq!(steady_rows, 1, "{lookup} {run}: the steady listener once");
            for reason in &reasons {
                assert!(
                    ESTABLISHED.iter().any(|r| reason.starts_with(r)),
                    "{lookup} {run}: {reason}"
                );
            }
            counted += reasons.len();
        }
    }
    // The churn really raced the scans (or this test proves nothing).
    assert!(counted > 0, "no socket of the group closed during any scan");
    drop(churn);
}

/// With the netlink interface refused (sockets read from `/proc/net`, as on gVisor, WSL1 or
/// under a seccomp filter), whose tables the kernel also resumes by position within a hash
/// bucket: in every run, with both owner lookups, the steady listener of a churning group is
/// listed once, with its process.
#[test]
fn read_from_proc_net_a_churning_groups_steady_listener_is_listed_once() {
    let Some(py) = python() else { return };
    let Some(ns) = NetNs::new() else { return };
    let home = tempdir();
    let Some(shim) = common::no_netlink_shim(home.path()) else {
        return;
    };
    let shim = shim.to_str().expect("a UTF-8 path");
    let mut cmd = ns.command(&py);
    cmd.arg(common::fixture("reuseport_churn.py"));
    let churn = Listener::start_command(cmd);
    let (steady, port) = (churn.pid, churn.port(0));
    let port_text = port.to_string();
    for lookup in ["procfs", "bpf"] {
        for run in 0..10 {
            let env = [("WHOPORT_OWNER_LOOKUP", lookup), ("LD_PRELOAD", shim)];
            let (status, out, err) = ns.whoport_with(home.path(), &env, &["--json", &port_text]);
            assert_eq!(status, 0, "{lookup} {run}: {err}");
            let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
            assert_eq!(doc["source"], "/proc/net", "{lookup} {run}: {doc}");
            let (_, steady_rows) = reasons_on(&doc, port, steady);
            assert_eq!(
                steady_rows, 1,
                "{lookup} {run}: the steady listener once: {}",
                doc["notes"]
            );
        }
    }
    drop(churn);
}

/// Listeners on 40 ports, each living a few milliseconds (more ports than one asking again
/// used to cover): with both owner lookups, every one whoport lists without an owner has a
/// reason some look established ("closed during the scan" above all), never that something
/// whoport does not look into keeps it open.
#[test]
fn listeners_on_many_ports_closed_during_the_scan_are_said_closed() {
    const FIRST: u16 = 20_000;
    const COUNT: u16 = 40;
    let Some(py) = python() else { return };
    let Some(ns) = NetNs::new() else { return };
    let mut cmd = ns.command(&py);
    cmd.arg(common::fixture("ports_churn.py"))
        .args([FIRST.to_string(), COUNT.to_string()]);
    let churn = Listener::start_command(cmd);
    let home = tempdir();
    let mut closed = 0;
    for lookup in ["procfs", "bpf"] {
        for run in 0..4 {
            let env = [("WHOPORT_OWNER_LOOKUP", lookup)];
            let (status, out, err) = ns.whoport_with(home.path(), &env, &["--json"]);
            assert!(matches!(status, 0 | 1), "{lookup} {run}: {err}");
            let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
            for l in doc["listeners"].as_array().expect("listeners") {
                let port = l["port"].as_u64().unwrap_or(0);
                let ours = (u64::from(FIRST)..u64::from(FIRST + COUNT)).contains(&port);
                if !ours || !l["owners"].as_array().is_some_and(Vec::is_empty) {
                    continue;
                }
                let reason = l["owner_hidden_reason"].as_str().unwrap_or("");
                assert!(
                    ESTABLISHED.iter().any(|r| reason.starts_with(r)),
                    "{lookup} {run}: port {port}: {reason}"
                );
                closed += usize::from(l["closed_during_scan"] == true);
            }
        }
    }
    // The churn really raced the scans (or this test proves nothing).
    assert!(closed > 0, "no listener closed during any scan");
    drop(churn);
}
