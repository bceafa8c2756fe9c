//! Live listeners with real sockets in real child processes (loopback only, except one
//! 0.0.0.0 socket for --exposed that is never sent traffic), found through the real binary.
//! Every assertion is about the test's own sockets and PIDs.

mod common;

use std::collections::BTreeSet;

use common::listener::{hex, python, python_prefix, Listener};
use common::netns::NetNs;
use common::{have, run, tempdir, whoport};
use serde::Deserialize;

// Every field is declared so that deny_unknown_fields checks the whole schema.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Listing {
    schema_version: u32,
    listeners: Vec<ListenerJson>,
    hidden_owners: usize,
    unattributed: Vec<UnattributedJson>,
    asked_unread: Option<AskedUnreadJson>,
    root: bool,
    source: String,
    owner_lookup: String,
    notes: Vec<String>,
}

// With --pid or --process: a listener whose owner could not be named.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnattributedJson {
    protocol: String,
    endpoint: String,
    scope: String,
    reach: String,
    uid: Option<u32>,
    reason: Option<String>,
}

// Every field is declared so that deny_unknown_fields checks the whole schema.
#[allow(dead_code)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListenerJson {
    protocol: String,
    address: String,
    port: u16,
    endpoint: String,
    scope: String,
    reach: String,
    device: Option<String>,
    device_reported: bool,
    state: Option<String>,
    listening: bool,
    remote_address: Option<String>,
    remote_port: Option<u16>,
    v6only: Option<bool>,
    uid: Option<u32>,
    user: Option<String>,
    service: Option<String>,
    known_use: Option<KnownUseJson>,
    range: String,
    owners: Vec<OwnerJson>,
    owner_hidden_reason: Option<String>,
    held_through: Option<String>,
    /// Threads holding it by a system call in progress.
    blocked_calls: Vec<serde_json::Value>,
    /// Its wait queue was read only to its first entries: more threads may hold it.
    blocked_calls_incomplete: bool,
    /// Beside the threads: the processes not read, which may hold it too.
    holders_unread: Option<serde_json::Value>,
    closed_during_scan: bool,
}

// Every field is declared so that deny_unknown_fields checks the whole schema.
#[allow(dead_code)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct KnownUseJson {
    program: String,
    role: String,
    versions: Option<String>,
    source: String,
}

// Every field is declared so that deny_unknown_fields checks the whole schema.
#[allow(dead_code)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnerJson {
    pid: u32,
    name: String,
    exe: Option<String>,
    cmdline: Vec<String>,
    uid: Option<u32>,
    user: Option<String>,
    thread_uids: Vec<u32>,
    thread_credentials_covered: Option<String>,
    root_kept: bool,
    capabilities: Vec<String>,
    start_time: Option<String>,
    parent_pid: Option<u32>,
    parent_name: Option<String>,
    unit: Option<String>,
    unit_manager: Option<String>,
    container: Option<ContainerJson>,
    exe_deleted: bool,
    exe_replaced: bool,
    exe_replaced_owner: Option<u32>,
    exe_memory_only: bool,
    exe_path_unknown: Option<String>,
    exe_own_mount_ns: bool,
    exe_mount_ns_unread: bool,
    exe_own_user_ns: bool,
    exe_user_ns_unread: bool,
    exe_same_here: Option<bool>,
    interpreter: Option<String>,
    name_escaped: Option<String>,
    exe_escaped: Option<String>,
    cmdline_escaped: Option<Vec<String>>,
    cmdline_truncated: bool,
}

// Every field is declared so that deny_unknown_fields checks the whole schema.
#[allow(dead_code)]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContainerJson {
    runtime: String,
    id: String,
    pod: Option<String>,
}

// Every field is declared so that deny_unknown_fields checks the whole schema.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilteredJson {
    protocol: String,
    endpoint: String,
    scope: String,
    reach: String,
    filters: Vec<String>,
    owner_hidden_reason: Option<String>,
}

// Every field is declared so that deny_unknown_fields checks the whole schema.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerdictFindingJson {
    id: String,
    severity: String,
    message: String,
    hint: String,
    reasons: Vec<String>,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VerdictJson {
    protocol: String,
    who: String,
    addresses: Vec<String>,
    processes: Vec<u32>,
    fine: bool,
    verdict: String,
    unknown: Option<String>,
    reasons: Vec<String>,
    named: Option<String>,
    findings: Vec<VerdictFindingJson>,
}

// With --pid, --process or --user: the processes asked for whose descriptors could not be
// read.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AskedUnreadJson {
    pids: Vec<u32>,
    count: usize,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Card {
    schema_version: u32,
    port: u16,
    port_range: Option<String>,
    range: String,
    ephemeral: bool,
    reserved_from_ephemeral: bool,
    registry: serde_json::Value,
    local_services: serde_json::Value,
    unofficial: serde_json::Value,
    verdicts: Vec<VerdictJson>,
    listeners: Vec<ListenerJson>,
    hidden_by_filters: Vec<FilteredJson>,
    unattributed: Vec<UnattributedJson>,
    asked_unread: Option<AskedUnreadJson>,
    established_connections: usize,
    source: String,
    owner_lookup: String,
    notes: Vec<String>,
    ephemeral_range: serde_json::Value,
    registry_snapshot: String,
}

fn listing(args: &[&str]) -> (i32, Listing) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (status, out, err) = run(&all);
    assert!(
        status == 0 || status == 1,
        "whoport {args:?}: status {status}: {err}"
    );
    let doc: Listing =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad listing JSON ({e}): {out}"));
    assert_eq!(doc.schema_version, 1);
    assert_eq!(doc.source, "netlink");
    assert!(
        doc.owner_lookup == "bpf" || doc.owner_lookup == "procfs",
        "{}",
        doc.owner_lookup
    );
    if common::owner_lookup() == "procfs" {
        assert_eq!(doc.owner_lookup, "procfs");
    }
    (status, doc)
}

fn find<'a>(
    doc: &'a Listing,
    protocol: &str,
    address: &str,
    port: u16,
) -> Option<&'a ListenerJson> {
    doc.listeners
        .iter()
        .find(|l| l.protocol == protocol && l.address == address && l.port == port)
}

/// Removes SGR colour sequences (ESC [ params m); any other escape stays and is caught.
fn strip_sgr(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("\u{1b}[") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let params = after
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(after.len());
        if after[params..].starts_with('m') {
            rest = &after[params + 1..];
        } else {
            out.push('\u{1b}');
            rest = &rest[i + 1..];
        }
    }
    out.push_str(rest);
    out
}

fn my_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2)?.parse().ok())
        })
        .expect("uid")
}

#[test]
fn tcp_and_udp_on_both_families_are_found_with_their_owner() {
    if python().is_none() {
        return;
    }
    let l = Listener::start(&[
        "--comm-hex",
        &hex(b"wptest-basic"),
        "tcp4",
        "tcp6",
        "udp4",
        "udp6",
    ]);
    let (status, doc) = listing(&[]);
    assert_eq!(status, 0);
    for s in &l.sockets {
        let found = find(&doc, &s.protocol, &s.address, s.port)
            .unwrap_or_else(|| panic!("{s:?} not in the listing"));
        assert_eq!(found.scope, "loopback");
        assert_eq!(found.uid, Some(my_uid()));
        assert!(found.range == "dynamic" || found.range == "registered");
        match s.protocol.as_str() {
            "tcp" => assert_eq!(found.state.as_deref(), Some("listen")),
            _ => assert_eq!(found.state, None),
        }
        assert!(found.listening, "{found:?}");
        assert_eq!(found.owners.len(), 1, "{found:?}");
        let owner = &found.owners[0];
        assert_eq!(owner.pid, l.pid);
        assert_eq!(owner.name, "wptest-basic");
        assert_eq!(owner.uid, Some(my_uid()));
        assert!(
            owner.exe.as_deref().is_some_and(|e| e.contains("python")),
            "{owner:?}"
        );
        assert!(
            owner.cmdline.iter().any(|a| a.ends_with("listen.py")),
            "{owner:?}"
        );
        assert_eq!(owner.parent_pid, Some(std::process::id()));
        assert!(owner
            .start_time
            .as_deref()
            .is_some_and(|t| t.ends_with('Z') && t.len() == 20));
        assert!(!owner.exe_deleted && !owner.exe_replaced && !owner.exe_memory_only);
        assert!(found.owner_hidden_reason.is_none());
        assert!(found.remote_address.is_none() && found.remote_port.is_none());
        // The kernel's IPV6_V6ONLY for IPv6 sockets (it sets it for a bind to one IPv6
        // address), nothing for IPv4.
        let ipv6 = s.address.contains(':');
        assert_eq!(found.v6only.is_some(), ipv6, "{found:?}");
        let host = if ipv6 {
            format!("[{}]", s.address)
        } else {
            s.address.clone()
        };
        assert_eq!(found.endpoint, format!("{host}:{}", s.port));
        assert_eq!(found.reach, "loopback only");
        assert_eq!(found.device, None);
        assert!(
            found.device_reported,
            "the kernel says it is bound to no device"
        );
        assert_eq!(owner.user, found.user, "same uid, same name");
        assert!(owner.parent_name.is_some());
    }
    // Sorted by port, then protocol.
    let keys: Vec<(u16, String)> = doc
        .listeners
        .iter()
        .map(|l| (l.port, l.protocol.clone()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
}

#[test]
fn each_owner_is_given_its_own_parents_name() {
    if python().is_none() {
        return;
    }
    // Two servers of two workers each: the workers share their parent, whose name is read
    // once a listing, and must still be given their own parent's.
    let servers = [("wptest-pa", "--forks"), ("wptest-pb", "--forks")].map(|(name, forks)| {
        let l = Listener::start(&["--comm-hex", &hex(name.as_bytes()), forks, "2", "tcp4"]);
        (l, name)
    });
    let own = std::fs::read_to_string("/proc/self/comm").expect("own name");
    let own = own.trim_end_matches('\n');
    let (_, doc) = listing(&[]);
    for (l, name) in &servers {
        assert_eq!(l.children.len(), 2);
        let s = &l.sockets[0];
        let found = find(&doc, &s.protocol, &s.address, s.port).expect("listed");
        let pids: BTreeSet<u32> = found.owners.iter().map(|o| o.pid).collect();
        let mut expected: BTreeSet<u32> = l.children.iter().copied().collect();
        expected.insert(l.pid);
        assert_eq!(pids, expected, "{found:?}");
        for o in &found.owners {
            let (parent, parent_name) = if o.pid == l.pid {
                (std::process::id(), own)
            } else {
                (l.pid, *name)
            };
            assert_eq!(o.parent_pid, Some(parent), "{o:?}");
            assert_eq!(o.parent_name.as_deref(), Some(parent_name), "{o:?}");
        }
    }
}

#[test]
fn a_prefork_parent_and_child_sharing_a_listener_are_both_listed() {
    if python().is_none() {
        return;
    }
    let l = Listener::start(&["--fork", "tcp4", "udp4"]);
    assert_eq!(l.children.len(), 1);
    let (_, doc) = listing(&[]);
    for s in &l.sockets {
        let found = find(&doc, &s.protocol, &s.address, s.port).expect("listed");
        let pids: BTreeSet<u32> = found.owners.iter().map(|o| o.pid).collect();
        assert_eq!(pids, BTreeSet::from([l.pid, l.children[0]]), "{found:?}");
    }
    let (_, out, _) = run(&[&l.port(0).to_string()]);
    assert!(out.contains(&format!("pid {}", l.pid)), "{out}");
    assert!(out.contains(&format!("pid {}", l.children[0])), "{out}");
}

#[test]
fn a_name_longer_than_15_bytes_shows_in_full() {
    let Some(py) = python() else { return };
    let dir = tempdir();
    let link = dir.path().join("whoport-test-listener-long-name");
    std::os::unix::fs::symlink(&py, &link).expect("symlink");
    let l = Listener::start_with(&link, &["tcp4"]);
    let comm = std::fs::read_to_string(format!("/proc/{}/comm", l.pid)).expect("comm");
    assert_eq!(
        comm.trim_end(),
        "whoport-test-li",
        "the kernel keeps 15 bytes"
    );
    let (_, doc) = listing(&[]);
    let found = find(&doc, "tcp", "127.0.0.1", l.port(0)).expect("listed");
    assert_eq!(found.owners[0].name, "whoport-test-listener-long-name");
    let (_, out, _) = run(&[]);
    assert!(out.contains("whoport-test-listener-long-name"), "{out}");
}

#[test]
fn hostile_names_and_command_lines_never_reach_the_terminal_raw() {
    if python().is_none() {
        return;
    }
    let comm = b"\x1b[2J\x1b]0;pwn\x07\n\r";
    let l = Listener::start(&[
        "--comm-hex",
        &hex(comm),
        "tcp4",
        "--",
        "\x1b[31mred\x1b[0m",
        "two\nlines",
        "osc\x1b]8;;http://x\x07link",
        "bidi\u{202e}txt",
    ]);
    let port = l.port(0).to_string();
    for args in [
        vec!["--wide"],
        vec![port.as_str()],
        vec!["--wide", "--color", "always"],
    ] {
        let out = whoport(tempdir().path())
            .args(&args)
            .output()
            .expect("runs");
        let raw = String::from_utf8(out.stdout).expect("UTF-8");
        let colour = args.contains(&"always");
        // Our own colour is SGR only (ESC [ digits ; m): remove it, then nothing may remain.
        let text = strip_sgr(&raw);
        if !colour {
            assert_eq!(text, raw, "no escape sequences without colour");
        }
        for (i, line) in text.lines().enumerate() {
            for c in line.chars() {
                assert!(
                    !c.is_control() && !('\u{202a}'..='\u{202e}').contains(&c),
                    "{args:?}: raw {c:?} on line {i}: {line:?}"
                );
            }
        }
        assert!(
            text.contains("\\e[2J"),
            "{args:?}: escaped name shown:\n{text}"
        );
        assert!(text.contains("two\\nlines"), "{args:?}:\n{text}");
        assert!(!text.contains("\u{1b}]0;pwn"), "{args:?}");
    }
    // JSON: valid, and carries the exact strings.
    let (_, doc) = listing(&[]);
    let found = find(&doc, "tcp", "127.0.0.1", l.port(0)).expect("listed");
    let owner = &found.owners[0];
    assert_eq!(owner.name.as_bytes(), &comm[..]);
    assert!(owner.cmdline.contains(&"two\nlines".to_string()));
    assert!(owner.cmdline.contains(&"bidi\u{202e}txt".to_string()));
}

#[test]
fn processes_that_exit_during_the_run_never_break_it() {
    if python().is_none() {
        return;
    }
    let control = Listener::start(&["--comm-hex", &hex(b"wptest-control"), "tcp4"]);
    let mut churn = Vec::new();
    for round in 0..6 {
        // Listeners that close and exit on their own while whoport is looking.
        let mut spawned = Vec::new();
        for _ in 0..8 {
            let program = python().expect("python");
            spawned.push(
                std::process::Command::new(program)
                    .arg(common::fixture("listen.py"))
                    .args(["--exit-after", "0.02", "tcp4", "udp4"])
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .expect("spawn"),
            );
        }
        let (status, doc) = listing(&[]);
        assert_eq!(status, 0, "round {round}");
        let c = find(&doc, "tcp", "127.0.0.1", control.port(0)).expect("control listener");
        assert_eq!(c.owners.len(), 1);
        assert_eq!(c.owners[0].pid, control.pid);
        assert_eq!(c.owners[0].name, "wptest-control");
        churn.extend(spawned);
    }
    for mut c in churn {
        let _ = c.kill();
        let _ = c.wait();
    }
}

#[test]
fn each_filter_keeps_what_it_should() {
    if python().is_none() {
        return;
    }
    let a = Listener::start(&[
        "--comm-hex",
        &hex(b"wpfilter-alpha"),
        "tcp4",
        "udp6",
        "tcp6",
    ]);
    let b = Listener::start(&["--comm-hex", &hex(b"wpfilter-beta"), "tcp4-any"]);
    let (a_tcp4, a_udp6, a_tcp6) = (a.port(0), a.port(1), a.port(2));
    let b_any = b.port(0);
    let ours = |doc: &Listing| -> BTreeSet<(String, u16)> {
        doc.listeners
            .iter()
            .filter(|l| [a_tcp4, a_udp6, a_tcp6, b_any].contains(&l.port))
            .filter(|l| l.owners.iter().any(|o| o.pid == a.pid || o.pid == b.pid))
            .map(|l| (l.protocol.clone(), l.port))
            .collect()
    };
    let set = |items: &[(&str, u16)]| -> BTreeSet<(String, u16)> {
        items.iter().map(|(p, n)| (p.to_string(), *n)).collect()
    };
    let all = set(&[
        ("tcp", a_tcp4),
        ("udp", a_udp6),
        ("tcp", a_tcp6),
        ("tcp", b_any),
    ]);
    assert_eq!(ours(&listing(&[]).1), all);
    assert_eq!(
        ours(&listing(&["--tcp"]).1),
        set(&[("tcp", a_tcp4), ("tcp", a_tcp6), ("tcp", b_any)])
    );
    assert_eq!(ours(&listing(&["--udp"]).1), set(&[("udp", a_udp6)]));
    let v4 = listing(&["-4"]).1;
    assert!(v4.listeners.iter().all(|l| !l.address.contains(':')));
    assert_eq!(ours(&v4), set(&[("tcp", a_tcp4), ("tcp", b_any)]));
    let v6 = listing(&["-6"]).1;
    assert!(v6.listeners.iter().all(|l| l.address.contains(':')));
    assert_eq!(ours(&v6), set(&[("udp", a_udp6), ("tcp", a_tcp6)]));
    let by_pid = listing(&["--pid", &a.pid.to_string()]).1;
    assert!(by_pid
        .listeners
        .iter()
        .all(|l| l.owners.iter().any(|o| o.pid == a.pid)));
    assert_eq!(
        ours(&by_pid),
        set(&[("tcp", a_tcp4), ("udp", a_udp6), ("tcp", a_tcp6)])
    );
    assert_eq!(
        ours(&listing(&["--process", "WPFILTER-B"]).1),
        set(&[("tcp", b_any)])
    );
    let uid = my_uid().to_string();
    assert_eq!(ours(&listing(&["--user", &uid]).1), all);
    let exposed = listing(&["--exposed"]).1;
    assert!(exposed.listeners.iter().all(|l| l.scope != "loopback"));
    assert_eq!(ours(&exposed), set(&[("tcp", b_any)]));
    let b_row = find(&exposed, "tcp", "0.0.0.0", b_any).expect("b");
    assert_eq!(b_row.scope, "all");
    // PORT, RANGE, service name.
    let (status, out, _) = run(&["--json", &a_tcp4.to_string()]);
    assert_eq!(status, 0);
    let card: Card = serde_json::from_str(&out).expect("card JSON");
    assert_eq!(card.schema_version, 1);
    assert_eq!(card.port, a_tcp4);
    assert!(card.listeners.iter().all(|l| l.port == a_tcp4));
    assert!(card
        .listeners
        .iter()
        .any(|l| l.owners.iter().any(|o| o.pid == a.pid)));
    let lo = a_tcp4.min(a_tcp6);
    let hi = a_tcp4.max(a_tcp6);
    let (status, range) = common::json_status(&[&format!("{lo}-{hi}"), "--tcp", "--json"]);
    assert_eq!(status, 0);
    let ports: BTreeSet<u64> = range["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .filter(|l| {
            l["owners"]
                .as_array()
                .is_some_and(|o| o.iter().any(|o| o["pid"] == a.pid))
        })
        .map(|l| l["port"].as_u64().expect("port"))
        .collect();
    assert_eq!(
        ports,
        BTreeSet::from([u64::from(a_tcp4), u64::from(a_tcp6)])
    );
    assert!(range["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .all(|l| l["protocol"] == "tcp"
            && (lo..=hi).contains(&(l["port"].as_u64().expect("port") as u16))));
    let (status, _) = listing(&["--pid", "4294967295"]);
    assert_eq!(status, 1, "no match: status 1");
}

/// Nothing listens on UDP, and the TCP listener the protocol hid is named.
#[test]
fn nothing_on_udp_at_a_tcp_only_port_is_said_plainly() {
    // Another program may hold the same port number on UDP on this machine: in a network
    // namespace of the test's own, the port is TCP only for sure.
    let Some(ns) = NetNs::new() else { return };
    let l = ns.listener(&["tcp4"]);
    let port = l.port(0);
    let home = tempdir();
    let (status, out, err) = ns.whoport(home.path(), &[&format!("{port}/udp")]);
    assert_eq!(status, 1, "{out}{err}");
    assert!(
        out.contains(&format!(
            "Nothing that matches /udp is listening on {port}/udp; 1 listener on this port hidden by /udp:"
        )),
        "{out}"
    );
    // The TCP listener is there all the same.
    let (status, out, err) = ns.whoport(home.path(), &[&format!("{port}/tcp")]);
    assert_eq!(status, 0, "{out}{err}");
}

/// A range asked for with a protocol flag (`--udp`, `--udplite`, `--tcp`) does not say the
/// protocol back: a listener of another protocol in the range is counted and the flag named,
/// never "Nothing is listening".
#[test]
fn a_range_with_a_protocol_flag_names_what_the_flag_hid() {
    let Some(ns) = NetNs::new() else { return };
    let tcp = ns.listener(&["tcp4"]);
    let udp = ns.listener(&["udp4"]);
    let home = tempdir();
    for (l, flags, hidden) in [
        (&tcp, &["--udp"][..], "--udp"),
        (&tcp, &["--udplite"], "--udplite"),
        (&tcp, &["--udp", "--exposed"], "--exposed, --udp"),
        (&udp, &["--tcp"], "--tcp"),
    ] {
        let port = l.port(0);
        let range = format!("{}-{port}", port - 1);
        let mut args = vec![range.as_str()];
        args.extend(flags);
        let (status, out, err) = ns.whoport(home.path(), &args);
        assert_eq!(status, 1, "{args:?}: {out}{err}");
        assert!(!out.contains("Nothing is listening"), "{args:?}: {out}");
        assert!(
            out.contains(&format!(
                "Nothing that matches {hidden} is listening on {range}; 1 listener hidden by {hidden}:"
            )),
            "{args:?}: {out}"
        );
        assert!(out.contains(&format!("(pid {})", l.pid)), "{args:?}: {out}");
    }
}

#[test]
fn a_service_name_finds_its_listener() {
    // 2668/tcp is IANA's alarm-clock-c; a fixed port, so in a network namespace of the test's
    // own, where nothing else can hold it.
    let Some(ns) = NetNs::new() else { return };
    let l = ns.listener(&["--comm-hex", &hex(b"wptest-alarm"), "tcp4:2668"]);
    let home = tempdir();
    let (status, out, err) = ns.whoport(home.path(), &["alarm-clock-c", "--json"]);
    assert_eq!(status, 0, "{err}");
    let doc: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    let listener = doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .find(|x| x["port"] == 2668 && x["protocol"] == "tcp")
        .expect("our listener");
    assert_eq!(listener["owners"][0]["pid"], l.pid);
    assert_eq!(listener["service"], "alarm-clock-c");
    let (status, out, err) = ns.whoport(home.path(), &["2668"]);
    assert_eq!(status, 0, "{err}");
    assert!(out.contains("Listening on 2668: 1 socket"), "{out}");
    assert!(out.contains("wptest-alarm"), "{out}");
    assert!(out.contains("loopback only"), "{out}");
}

#[test]
fn wide_and_column_choices() {
    if python().is_none() {
        return;
    }
    let _l = Listener::start(&["tcp4"]);
    let (_, out, _) = run(&["--wide"]);
    for h in [
        "PROTO",
        "ADDRESS",
        "PORT",
        "SERVICE",
        "PID",
        "PROCESS",
        "USER",
        "EXE",
        "COMMAND",
        "UNIT/CONTAINER",
        "UPTIME",
        "RANGE",
    ] {
        assert!(out.contains(h), "{h} missing:\n{out}");
    }
    let (_, out, _) = run(&["--columns", "port,pid"]);
    let header = out.lines().nth(1).expect("header line");
    assert!(
        header.contains("PORT") && header.contains("PID"),
        "{header}"
    );
    assert!(!header.contains("PROCESS"), "{header}");
    let (status, _, err) = run(&["--columns", "port,bogus"]);
    assert_eq!(status, 2, "{err}");
}

#[test]
fn rows_agree_with_ss() {
    if python().is_none() || !have("ss", "apt-get install -y iproute2") {
        return;
    }
    let l = Listener::start(&["--fork", "tcp4", "tcp6", "udp4", "udp6"]);
    let ss = std::process::Command::new("ss")
        .args(["-tulpnH"])
        .output()
        .expect("ss runs");
    let ss = String::from_utf8_lossy(&ss.stdout);
    let (_, doc) = listing(&[]);
    for s in &l.sockets {
        let local = if s.address.contains(':') {
            format!("[{}]:{}", s.address, s.port)
        } else {
            format!("{}:{}", s.address, s.port)
        };
        let line = ss
            .lines()
            .find(|line| {
                let cols: Vec<&str> = line.split_whitespace().collect();
                cols.first() == Some(&s.protocol.as_str()) && cols.get(4) == Some(&local.as_str())
            })
            .unwrap_or_else(|| panic!("ss does not show {local}:\n{ss}"));
        let ss_pids: BTreeSet<u32> = line
            .split("pid=")
            .skip(1)
            .filter_map(|rest| {
                rest.split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse()
                    .ok()
            })
            .collect();
        let ours = find(&doc, &s.protocol, &s.address, s.port).expect("listed");
        let our_pids: BTreeSet<u32> = ours.owners.iter().map(|o| o.pid).collect();
        assert_eq!(our_pids, ss_pids, "{line}");
        assert_eq!(our_pids, BTreeSet::from([l.pid, l.children[0]]));
    }
}

#[test]
fn a_normal_user_sees_roots_listener_with_a_hidden_owner_and_a_hint() {
    if python().is_none() {
        return;
    }
    if !common::root_or_skip("starting a listener as root and looking at it as 'nobody'") {
        return;
    }
    let l = Listener::start(&["--comm-hex", &hex(b"wptest-root"), "tcp4"]);
    let home = tempdir();
    let out = common::whoport_as_nobody(home.path())
        .arg("--json")
        .output()
        .expect("whoport runs as nobody");
    let text = String::from_utf8(out.stdout).expect("utf8");
    let doc: Listing = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(!doc.root);
    let row = find(&doc, "tcp", "127.0.0.1", l.port(0)).expect("root's listener is still listed");
    assert!(row.owners.is_empty(), "{row:?}");
    assert_eq!(row.uid, Some(0));
    assert_eq!(row.user.as_deref(), Some("root"));
    let reason = row.owner_hidden_reason.as_deref().expect("a reason");
    assert!(reason.contains("run as root"), "{reason}");
    assert!(doc.hidden_owners >= 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("hint:").count(), 1, "one hint line: {err}");
    assert!(err.contains("sudo"), "{err}");
    // The table says so too, and never shows PID 0.
    let out = common::whoport_as_nobody(home.path())
        .arg(l.port(0).to_string())
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("owner root (uid 0); process hidden:"),
        "{text}"
    );
    assert!(!text.contains("pid 0"), "{text}");
}

#[test]
fn all_states_and_established_connections() {
    if python().is_none() {
        return;
    }
    // A port of the test's own: the card counts the connections on the number.
    let l = Listener::start_alone(&["--comm-hex", &hex(b"wptest-conn"), "tcp4"], 0);
    let port = l.port(0);
    // A real connection from this test process; the listener never accepts it, so the
    // server side sits in the accept queue with no descriptor.
    let client = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let client_port = client.local_addr().expect("addr").port();
    let (_, plain) = listing(&[]);
    assert!(
        plain
            .listeners
            .iter()
            .all(|x| x.state.as_deref().is_none_or(|s| s == "listen")),
        "without --all only listeners"
    );
    let (_, all) = listing(&["--all"]);
    // The client's port is ephemeral: other connections (to other peers) may use the same
    // number; ours is the one whose peer is our listener.
    let mine = all
        .listeners
        .iter()
        .find(|x| {
            x.protocol == "tcp"
                && x.address == "127.0.0.1"
                && x.port == client_port
                && x.remote_port == Some(port)
        })
        .expect("our client socket with --all");
    assert_eq!(mine.state.as_deref(), Some("established"));
    assert!(!mine.listening, "a connection is no listener");
    assert_eq!(mine.remote_address.as_deref(), Some("127.0.0.1"));
    assert_eq!(mine.remote_port, Some(port));
    assert_eq!(mine.owners[0].pid, std::process::id());
    let queued = all
        .listeners
        .iter()
        .find(|x| {
            x.port == port
                && x.state.as_deref() == Some("established")
                && x.remote_port == Some(client_port)
        })
        .expect("the server side of the connection");
    if queued.owners.is_empty() {
        let reason = queued.owner_hidden_reason.as_deref().expect("a reason");
        assert!(reason.contains("not yet"), "{reason}");
    }
    let (_, out, _) = run(&["--all"]);
    assert!(
        out.lines().nth(1).is_some_and(|h| h.contains("STATE")),
        "{out}"
    );
    let (status, out, _) = run(&["--json", &port.to_string()]);
    assert_eq!(status, 0);
    let card: Card = serde_json::from_str(&out).expect("card");
    assert_eq!(card.established_connections, 1);
    assert!(card
        .listeners
        .iter()
        .all(|x| x.state.as_deref() == Some("listen")));
    drop(client);
}

#[test]
fn a_deleted_or_replaced_executable_is_flagged() {
    let Some(py) = python() else { return };
    let prefix = python_prefix();
    let dir = tempdir();
    let start_copy = |name: &str| {
        let copy = dir.path().join(name);
        std::fs::copy(&py, &copy).expect("copy python");
        let l = Listener::start_env(&copy, &[("PYTHONHOME", prefix.as_str())], &["tcp4"]);
        (copy, l)
    };
    // Deleted: the file is removed after the process started.
    let (deleted_path, deleted) = start_copy("wpdel-python");
    std::fs::remove_file(&deleted_path).expect("delete");
    // Replaced: another file is renamed over its path, as package upgrades do.
    let (replaced_path, replaced) = start_copy("wprep-python");
    let new_file = dir.path().join("new-file");
    std::fs::write(&new_file, b"#!/bin/sh\n").expect("write");
    std::fs::rename(&new_file, &replaced_path).expect("rename over");
    // Untouched: a control.
    let control = Listener::start(&["tcp4"]);

    let (_, doc) = listing(&[]);
    let owner = |l: &Listener| {
        find(&doc, "tcp", "127.0.0.1", l.port(0))
            .expect("listed")
            .owners[0]
            .clone()
    };
    let d = owner(&deleted);
    assert!(d.exe_deleted && !d.exe_replaced, "{d:?}");
    let r = owner(&replaced);
    assert!(r.exe_deleted && r.exe_replaced, "{r:?}");
    let me = rustix::process::geteuid().as_raw();
    assert_eq!(
        r.exe_replaced_owner,
        Some(me),
        "the new file's owner: {r:?}"
    );
    assert_eq!(d.exe_replaced_owner, None, "{d:?}");
    let c = owner(&control);
    assert!(
        !c.exe_deleted && !c.exe_replaced && !c.exe_memory_only,
        "{c:?}"
    );
    let (_, out, _) = run(&["--wide"]);
    assert!(out.contains("(deleted)"), "{out}");
    assert!(out.contains("(replaced since start)"), "{out}");
}

#[test]
fn a_deleted_executable_is_flagged_even_when_another_hard_link_survives() {
    let Some(py) = python() else { return };
    let prefix = python_prefix();
    let dir = tempdir();
    let copy = dir.path().join("wplink-python");
    std::fs::copy(&py, &copy).expect("copy python");
    // A second name for the same file, which survives the deletion of the first.
    std::fs::hard_link(&copy, dir.path().join("wplink-kept")).expect("hard link");
    let l = Listener::start_env(&copy, &[("PYTHONHOME", prefix.as_str())], &["tcp4"]);
    std::fs::remove_file(&copy).expect("delete");
    let (_, doc) = listing(&[]);
    let owner = find(&doc, "tcp", "127.0.0.1", l.port(0))
        .expect("listed")
        .owners[0]
        .clone();
    assert!(owner.exe_deleted, "the path it ran from is gone: {owner:?}");
    assert!(!owner.exe_replaced, "nothing stands at the path: {owner:?}");
    assert_eq!(
        owner.exe.as_deref(),
        copy.to_str(),
        "the path, without the kernel's suffix"
    );
}

/// The views of a deleted executable whose path could not be looked up (`lookup` of the
/// owners; `as_nobody` runs whoport as `nobody`): the listing's owner, the audit's
/// `deleted-executable` finding and the wide card.
fn unlooked_views(
    lookup: &str,
    as_nobody: bool,
    name: &str,
    port: u16,
) -> (serde_json::Value, serde_json::Value, String) {
    let home = common::shared_tempdir();
    let run = |args: &[&str]| {
        let mut cmd = if as_nobody {
            common::whoport_as_nobody(home.path())
        } else {
            whoport(home.path())
        };
        let out = cmd
            .env("WHOPORT_OWNER_LOOKUP", lookup)
            .args(args)
            .output()
            .expect("runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let json = |args: &[&str]| -> serde_json::Value {
        let out = run(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{lookup}: {e}: {out}"))
    };
    let port_text = port.to_string();
    let doc = json(&["--json", &port_text]);
    let owner = doc["listeners"][0]["owners"][0].clone();
    let audit = json(&["audit", "--json", "--process", name]);
    let finding = audit["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["id"] == "deleted-executable" && f["listener"]["port"] == port)
        .cloned()
        .unwrap_or_else(|| panic!("{lookup}: no deleted-executable: {audit}"));
    (owner, finding, run(&["--wide", &port_text]))
}

/// Asserts that what stands at the path of a deleted executable is said not known, with
/// `why`, in the listing's JSON, the audit's finding and fix, and the card: never "nothing
/// stands at its path now", never a pending restart.
fn assert_said_unlooked(views: &(serde_json::Value, serde_json::Value, String), why: &str) {
    let (owner, finding, card) = views;
    assert_eq!(owner["exe_deleted"], true, "{owner}");
    assert_eq!(owner["exe_replaced"], false, "{owner}");
    let unknown = owner["exe_path_unknown"].as_str().unwrap_or_default();
    assert!(
        unknown.starts_with("could not be looked at: ") && unknown.contains(why),
        "{owner}"
    );
    assert_eq!(finding["severity"], "high", "{finding}");
    let message = finding["message"].as_str().expect("message");
    assert!(!message.contains("nothing stands"), "{message}");
    assert!(
        message.contains(&format!("what stands at its path now {unknown}")),
        "{message}"
    );
    assert!(
        finding["hint"]
            .as_str()
            .is_some_and(|h| h.contains("what stands at its path now is not known")),
        "{finding}"
    );
    assert!(
        card.contains(&format!("what stands at its path now {unknown}")),
        "{card}"
    );
}

/// A program run from `d/`, deleted, then `d` replaced by a symbolic link to a directory
/// holding another file of that name (as merging `/bin` into `/usr/bin` does): what stands at its path now is not looked up through
/// the link (ELOOP), so it is not known, never "nothing"; as `nobody`, a directory of the way
/// this user may not search (EACCES) likewise. Both owner lookups.
#[test]
fn what_stands_at_a_deleted_executables_path_is_said_unknown_when_it_cannot_be_looked_up() {
    let Some(py) = python() else { return };
    let prefix = python_prefix();
    let dir = common::shared_tempdir();
    let d = dir.path().join("d");
    std::fs::create_dir(&d).expect("mkdir");
    let copy = d.join("wpsym-python");
    std::fs::copy(&py, &copy).expect("copy python");
    let l = Listener::start_env(&copy, &[("PYTHONHOME", prefix.as_str())], &["tcp4"]);
    std::fs::remove_file(&copy).expect("delete");
    // (Removed, not renamed: the kernel's path of the running file would follow a rename.)
    std::fs::remove_dir(&d).expect("rmdir");
    let other = dir.path().join("other");
    std::fs::create_dir(&other).expect("mkdir");
    std::fs::copy(&py, other.join("wpsym-python")).expect("copy python");
    std::os::unix::fs::symlink(&other, &d).expect("symlink");
    for lookup in ["procfs", common::owner_lookup()] {
        let views = unlooked_views(lookup, false, "wpsym-python", l.port(0));
        assert_said_unlooked(&views, "symbolic link");
    }
    if !common::is_root() {
        return;
    }
    // As nobody: nobody's own program, in a directory root then closes to others.
    let Some(hold) = common::compile_fixture(dir.path(), "hold") else {
        return;
    };
    let closed = dir.path().join("closed");
    std::fs::create_dir(&closed).expect("mkdir");
    let copy = closed.join("wpacc-hold");
    std::fs::copy(&hold, &copy).expect("copy");
    let mut cmd = std::process::Command::new(&copy);
    std::os::unix::process::CommandExt::uid(&mut cmd, 65534);
    std::os::unix::process::CommandExt::gid(&mut cmd, 65534);
    let mut child = Killed(common::listener::spawn_retrying(
        cmd.arg("plain")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped()),
    ));
    let line = common::ready_line(&mut child.0, std::time::Duration::from_secs(60));
    let port = serde_json::from_str::<serde_json::Value>(&line).expect("ready")["port"]
        .as_u64()
        .expect("port") as u16;
    std::fs::remove_file(&copy).expect("delete");
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o700);
    std::fs::set_permissions(&closed, mode).expect("chmod");
    for lookup in ["procfs", common::owner_lookup()] {
        let views = unlooked_views(lookup, true, "wpacc-hold", port);
        assert_said_unlooked(&views, "may not search");
    }
}

/// A helper process killed (and reaped) when the test ends, whether it passes or not.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
