//! A listener handed down a chain of processes that start and exit faster than a walk of
//! `/proc` reads them (`tests/fixtures/fork_chain.c`: each link forks, then exits at once). At
//! every instant a live process holds it, one that started after `/proc` was listed: whoport
//! names it, or says that processes started and exited while it read `/proc` and that the
//! socket may be handed down between them, before any process it could not read, and the
//! audit's fix follows. Its own test binary: the chain's processes would be the churn of every
//! test running beside it.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::tempdir;
use serde_json::Value;

/// The established words, and the possibility they open.
const STARTED_AND_EXITED: &str = "started and exited while whoport read /proc, before whoport \
                                  could read";
const HANDED: &str = "so it may be handed down between such processes (each forking, then \
                      exiting, faster than whoport reads /proc), or ";
/// The audit's fix, first.
const FIX: &str = "it may be handed between processes that start and exit faster than whoport \
                   reads /proc (";

/// The card's verdict for the TCP listener on 127.0.0.1:`port`.
fn verdict(doc: &Value, port: u64) -> &Value {
    let endpoint = format!("127.0.0.1:{port}");
    doc["verdicts"]
        .as_array()
        .expect("verdicts")
        .iter()
        .find(|v| v["protocol"] == "tcp" && v["addresses"].to_string().contains(&endpoint))
        .unwrap_or_else(|| panic!("a verdict for {endpoint}: {doc}"))
}

/// One run's word on the chain's listener: its owners are links of the chain (never the first
/// process, which holds no copy), or it has none and the reason offers the chain, first.
/// Whether it was named.
fn judged(doc: &Value, port: u64, first: u32, lookup: &str) -> bool {
    let row = common::loopback_tcp_row(doc, port, lookup);
    let owners = row["owners"].as_array().expect("owners");
    if !owners.is_empty() {
        for owner in owners {
            let name = owner["name"].as_str().expect("name");
            assert!(
                name == "fork_chain" || name == "[exited during scan]",
                "{lookup}: {owner}"
            );
            assert_ne!(owner["pid"], u64::from(first), "{lookup}: {owner}");
        }
        return true;
    }
    let why = row["owner_hidden_reason"].as_str().expect("reason");
    assert!(why.contains(STARTED_AND_EXITED), "{lookup}: {why}");
    let handed = why
        .find(HANDED)
        .unwrap_or_else(|| panic!("{lookup}: {why}"));
    // Never a process whoport could not read alone, and the chain comes before it.
    if let Some(unread) = why.find("could not be read may hold it") {
        assert!(handed < unread, "{lookup}: {why}");
    }
    assert!(!why.contains("that process may hold it"), "{lookup}: {why}");
    let verdict = verdict(doc, port);
    let who = verdict["who"].as_str().expect("who");
    // (Where the machine has io_uring instances or memory maps whoport could not look into,
    // the reason and the table say those first.)
    assert!(
        who.contains("perhaps handed between processes that exited during the scan")
            || why.starts_with("perhaps "),
        "{lookup}: {who}"
    );
    let hidden = verdict["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == "hidden-owner")
        .unwrap_or_else(|| panic!("{lookup}: a hidden-owner finding: {verdict}"));
    let fix = hidden["hint"].as_str().expect("hint");
    assert!(fix.starts_with(FIX), "{lookup}: {fix}");
    false
}

/// As root, the walk with no kernel help (`WHOPORT_NO_BPF`, twice) and the lookup the live
/// tests use (the kernel's iterator where it loads).
#[test]
fn a_listener_handed_down_a_fork_chain_is_named_or_said_to_be_handed_on() {
    if !common::root_or_skip("a fork chain of root's beside the processes root reads") {
        return;
    }
    let dir = tempdir();
    let Some(chain) = common::compile_fixture(dir.path(), "fork_chain") else {
        return;
    };
    let mut child = Command::new(&chain)
        .args(["0", "50", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the chain starts");
    let line = common::ready_line(&mut child, Duration::from_secs(30));
    let port: u64 = line
        .trim()
        .strip_prefix("ready ")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("ready line: {line:?}"));
    let runs = [
        ("procfs", Some("1")),
        ("procfs", Some("1")),
        (common::owner_lookup(), None),
    ];
    let mut said = Vec::new();
    for (lookup, no_bpf) in runs {
        let home = tempdir();
        let mut run = common::whoport(home.path());
        run.env("WHOPORT_OWNER_LOOKUP", lookup);
        if let Some(no_bpf) = no_bpf {
            run.env("WHOPORT_NO_BPF", no_bpf);
        }
        let out = run
            .args([&port.to_string(), "--json"])
            .output()
            .expect("whoport runs");
        let doc: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{lookup}: {e}: {}", String::from_utf8_lossy(&out.stderr)));
        said.push((lookup, judged(&doc, port, child.id(), lookup)));
    }
    let _ = child.kill();
    let _ = child.wait();
    eprintln!("named (lookup, named): {said:?}");
}
