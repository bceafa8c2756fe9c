//! `whoport check`: each cause staged for real (listeners, TIME_WAIT, dual-stack, a specific
//! address against the wildcard, UDP, a privileged port as nobody), read back from JSON.

mod common;

use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::listener::{python, Listener};
use common::netns::NetNs;
use common::{is_root, json_status, run, tempdir, whoport_as_nobody};
use serde_json::Value;
use whoport::collect::port_table::{on_port, States};
use whoport::port::Protocol;

fn attempts(doc: &Value) -> &Vec<Value> {
    doc["attempts"].as_array().expect("attempts")
}

fn attempt<'a>(doc: &'a Value, label: &str) -> &'a Value {
    attempts(doc)
        .iter()
        .find(|a| a["label"] == label)
        .unwrap_or_else(|| panic!("no attempt {label}: {doc}"))
}

fn cause_kinds(a: &Value) -> Vec<(String, String)> {
    a["causes"]
        .as_array()
        .expect("causes")
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().expect("kind").to_string(),
                c["overlap"].as_str().expect("overlap").to_string(),
            )
        })
        .collect()
}

#[test]
fn a_listener_held_by_a_forked_pair_names_both_holders() {
    if python().is_none() {
        return;
    }
    let l = Listener::start(&["--fork", "tcp4"]);
    let port = l.port(0).to_string();
    let (status, doc) = json_status(&["check", &port, "--address", "127.0.0.1", "--json"]);
    assert_eq!(status, 1, "{doc}");
    assert_eq!(doc["can_listen"], false);
    let a = attempt(&doc, "127.0.0.1");
    assert_eq!(a["without_reuseaddr"]["error"], "EADDRINUSE", "{a}");
    assert_eq!(a["with_reuseaddr"]["ok"], false, "{a}");
    assert_eq!(cause_kinds(a), [("listener".into(), "same-address".into())]);
    let pids: Vec<u64> = a["causes"][0]["socket"]["owners"]
        .as_array()
        .expect("owners")
        .iter()
        .map(|o| o["pid"].as_u64().expect("pid"))
        .collect();
    assert!(pids.contains(&u64::from(l.pid)), "{pids:?}");
    assert!(pids.contains(&u64::from(l.children[0])), "{pids:?}");
    // In words, with both holders.
    let (status, out, _) = run(&["check", &port, "--address", "127.0.0.1"]);
    assert_eq!(status, 1);
    assert!(out.contains("cannot listen"), "{out}");
    assert!(out.contains(&format!("pid {}", l.pid)), "{out}");
    assert!(out.contains(&format!("pid {}", l.children[0])), "{out}");
}

/// A connection on 127.0.0.1 that the server side closes first, leaving the server's end
/// (local port = the listener's) in TIME_WAIT; the listener itself is closed afterwards.
fn server_side_time_wait() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut client = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    drop(server);
    let mut sink = Vec::new();
    std::io::Read::read_to_end(&mut client, &mut sink).expect("EOF from the server");
    drop(client);
    drop(listener);
    let start = Instant::now();
    loop {
        // Ours only: another program may hold the same number on another address.
        let sockets: Vec<_> = on_port(port, Protocol::Tcp, States::All)
            .expect("dump")
            .into_iter()
            .filter(|s| s.address.to_string() == "127.0.0.1")
            .collect();
        if !sockets.is_empty() && sockets.iter().all(|s| s.state == Some("time-wait")) {
            return port;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no TIME_WAIT on {port}: {sockets:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_server_side_time_wait_blocks_only_without_so_reuseaddr() {
    let port = server_side_time_wait().to_string();
    let (status, doc) = json_status(&["check", &port, "--address", "127.0.0.1", "--json"]);
    assert_eq!(status, 1, "{doc}");
    let a = attempt(&doc, "127.0.0.1");
    assert_eq!(a["without_reuseaddr"]["ok"], false, "{a}");
    assert_eq!(a["with_reuseaddr"]["ok"], true, "{a}");
    assert!(
        cause_kinds(a).contains(&("time-wait".into(), "same-address".into())),
        "{a}"
    );
    let (_, out, _) = run(&["check", &port, "--address", "127.0.0.1"]);
    assert!(out.contains("in TIME_WAIT"), "{out}");
    assert!(
        out.contains("SO_REUSEADDR lets a server bind anyway"),
        "{out}"
    );
}

#[test]
fn a_loopback_listener_blocks_the_wildcard_but_not_ipv6_only() {
    if python().is_none() {
        return;
    }
    let l = Listener::start(&["tcp4"]);
    let port = l.port(0).to_string();
    let (status, doc) = json_status(&["check", &port, "--json"]);
    assert_eq!(status, 1, "{doc}");
    for label in ["0.0.0.0", "[::] dual-stack"] {
        let a = attempt(&doc, label);
        assert_eq!(a["ok"], false, "{a}");
        // Only our socket: another program may hold the same number on another address.
        let ours: Vec<&Value> = a["causes"]
            .as_array()
            .expect("causes")
            .iter()
            .filter(|c| c["socket"]["owners"][0]["pid"] == u64::from(l.pid))
            .collect();
        assert_eq!(ours.len(), 1, "{a}");
        assert_eq!(ours[0]["kind"], "listener");
        assert_eq!(ours[0]["overlap"], "specific-address-blocks-wildcard");
    }
    // Our own listener is on 127.0.0.1 only: [::] v6-only is free unless another test
    // holds it, and then the cause must not be our socket.
    let v6 = attempt(&doc, "[::] v6-only");
    assert!(
        v6["causes"]
            .as_array()
            .expect("causes")
            .iter()
            .all(|c| c["socket"]["address"] != "127.0.0.1"),
        "{v6}"
    );
    let (_, out, _) = run(&["check", &port]);
    assert!(
        out.contains("one specific address blocks the wildcard"),
        "{out}"
    );
}

#[test]
fn a_udp_socket_blocks_udp() {
    if python().is_none() {
        return;
    }
    let l = Listener::start(&["udp4"]);
    let port = format!("{}/udp", l.port(0));
    let (status, doc) = json_status(&["check", &port, "--address", "127.0.0.1", "--json"]);
    assert_eq!(status, 1, "{doc}");
    assert_eq!(doc["protocol"], "udp");
    let a = attempt(&doc, "127.0.0.1");
    assert_eq!(cause_kinds(a), [("listener".into(), "same-address".into())]);
    assert_eq!(a["causes"][0]["socket"]["protocol"], "udp");
    assert_eq!(
        a["causes"][0]["socket"]["owners"][0]["pid"],
        u64::from(l.pid)
    );
    let (_, out, _) = run(&["check", &port, "--address", "127.0.0.1"]);
    assert!(out.contains("a udp socket bound to 127.0.0.1:"), "{out}");
}

#[test]
fn a_dual_stack_listener_blocks_ipv4_and_a_v6_only_one_does_not() {
    let Some(ns) = NetNs::new() else { return };
    let home = tempdir();
    let check = |port: &str| {
        let (status, out, err) = ns.whoport(home.path(), &["check", port, "--json"]);
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
        (status, doc)
    };
    let dual = ns.listener(&["tcp6-any:7777"]);
    let (status, doc) = check("7777");
    assert_eq!(status, 1, "{doc}");
    let v4 = attempt(&doc, "0.0.0.0");
    assert_eq!(
        cause_kinds(v4),
        [("listener".into(), "dual-stack-takes-ipv4".into())]
    );
    // The kernel's own flag: dual-stack.
    assert_eq!(v4["causes"][0]["socket"]["v6only"], false, "{v4}");
    assert_eq!(
        v4["causes"][0]["socket"]["owners"][0]["pid"],
        u64::from(dual.pid)
    );
    assert_eq!(attempt(&doc, "[::] v6-only")["ok"], false);
    let (_, text, _) = ns.whoport(home.path(), &["check", "7777"]);
    assert!(text.contains("so it takes IPv4 too"), "{text}");
    drop(dual);

    let _v6only = ns.listener(&["tcp6-any-v6only:7778"]);
    let (status, doc) = check("7778");
    assert_eq!(status, 1, "{doc}");
    assert_eq!(attempt(&doc, "0.0.0.0")["ok"], true, "{doc}");
    let dual = attempt(&doc, "[::] dual-stack");
    assert_eq!(dual["ok"], false);
    assert_eq!(dual["causes"][0]["socket"]["v6only"], true, "{dual}");

    // Nothing on the port: yes everywhere, exit 0.
    let (status, out, err) = ns.whoport(home.path(), &["check", "7779"]);
    assert_eq!(status, 0, "{out} {err}");
    assert!(out.contains("a new server can listen on 0.0.0.0"), "{out}");
}

#[test]
fn a_privileged_port_needs_root_or_cap_net_bind_service() {
    let start: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(1024);
    if start <= 1 {
        eprintln!("SKIPPED: every port is unprivileged here (ip_unprivileged_port_start {start})");
        return;
    }
    let port = (start - 1).to_string();
    let home = tempdir();
    let out = if is_root() {
        whoport_as_nobody(home.path())
            .args(["check", &port, "--address", "127.0.0.1", "--json"])
            .output()
            .expect("whoport runs")
    } else {
        common::whoport(home.path())
            .args(["check", &port, "--address", "127.0.0.1", "--json"])
            .output()
            .expect("whoport runs")
    };
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let doc: Value = serde_json::from_str(&text).expect("json");
    let a = attempt(&doc, "127.0.0.1");
    assert_eq!(a["without_reuseaddr"]["error"], "EACCES", "{a}");
    let obstacle = &a["obstacles"][0];
    assert_eq!(obstacle["kind"], "privileged-port", "{a}");
    let why = obstacle["text"].as_str().expect("text");
    assert!(why.contains("CAP_NET_BIND_SERVICE"), "{why}");
    assert!(why.contains(&format!("({start})")), "{why}");
}

#[test]
fn advice_names_the_registry_and_the_ephemeral_range() {
    let (_, doc) = json_status(&["check", "5432", "--address", "127.0.0.1", "--json"]);
    let advice = doc["advice"].as_array().expect("advice");
    let iana = advice
        .iter()
        .find(|a| a["kind"] == "iana-assigned")
        .unwrap_or_else(|| panic!("{doc}"));
    assert!(iana["text"].as_str().expect("text").contains("postgresql"));

    let range =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").expect("ephemeral range");
    let first = range.split_whitespace().next().expect("start");
    let (_, doc) = json_status(&["check", first, "--address", "127.0.0.1", "--json"]);
    let ephemeral = doc["advice"]
        .as_array()
        .expect("advice")
        .iter()
        .find(|a| a["kind"] == "ephemeral-range")
        .unwrap_or_else(|| panic!("{doc}"))
        .clone();
    assert!(
        ephemeral["text"]
            .as_str()
            .expect("text")
            .contains("ip_local_reserved_ports"),
        "{ephemeral}"
    );
}

#[test]
fn bad_arguments_are_errors() {
    for args in [
        &["check", "80-90"][..],
        &["check", "0"],
        &["check", "ssh"],
        &["check", "9/sctp"],
        &["check", "8080", "--address", "localhost"],
    ] {
        let (status, _, err) = run(args);
        assert_eq!(status, 2, "{args:?}: {err}");
        assert!(err.starts_with("whoport: "), "{err}");
    }
}

#[test]
fn a_pasted_address_is_the_address_tried() {
    let (_, doc) = json_status(&["check", "[::1]:5432", "--json"]);
    let labels: Vec<&str> = attempts(&doc)
        .iter()
        .map(|a| a["label"].as_str().expect("label"))
        .collect();
    assert_eq!(labels, ["[::1]"]);
    assert_eq!(run(&["wait", "127.0.0.1:5432", "--listening"]).0, 2);
}

#[test]
fn a_socket_bound_but_not_listening_is_named_with_its_holder() {
    if python().is_none() {
        return;
    }
    let l = Listener::start(&["tcp4-bound"]);
    let port = l.port(0).to_string();
    let sockets = on_port(l.port(0), Protocol::Tcp, States::All).expect("dump");
    if sockets.is_empty() {
        eprintln!("SKIPPED: this kernel does not report bound-inactive sockets (Linux 6.9+)");
        return;
    }
    let (status, doc) = json_status(&["check", &port, "--address", "127.0.0.1", "--json"]);
    assert_eq!(status, 1, "{doc}");
    let a = attempt(&doc, "127.0.0.1");
    assert_eq!(cause_kinds(a), [("bound".into(), "same-address".into())]);
    assert_eq!(a["causes"][0]["socket"]["state"], "bound");
    assert_eq!(
        a["causes"][0]["socket"]["owners"][0]["pid"],
        u64::from(l.pid)
    );
    // listen.py does not set SO_REUSEADDR: the bind with it fails too, and the text says why.
    assert_eq!(a["with_reuseaddr"]["ok"], false, "{a}");
    let (_, out, _) = run(&["check", &port, "--address", "127.0.0.1"]);
    assert!(out.contains("bound to 127.0.0.1:"), "{out}");
    assert!(out.contains("but not listening"), "{out}");
    assert!(out.contains("the holder did not set it"), "{out}");
}

#[test]
fn an_established_connection_on_the_port_blocks_only_without_so_reuseaddr() {
    // std sets SO_REUSEADDR on listeners; the accepted connection inherits it.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let _client = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (_server, _) = listener.accept().expect("accept");
    drop(listener);
    let (status, doc) = json_status(&[
        "check",
        &port.to_string(),
        "--address",
        "127.0.0.1",
        "--json",
    ]);
    assert_eq!(status, 1, "{doc}");
    let a = attempt(&doc, "127.0.0.1");
    assert_eq!(a["without_reuseaddr"]["ok"], false, "{a}");
    assert_eq!(a["with_reuseaddr"]["ok"], true, "{a}");
    assert!(
        cause_kinds(a).contains(&("connection".into(), "same-address".into())),
        "{a}"
    );
    let (_, out, _) = run(&["check", &port.to_string(), "--address", "127.0.0.1"]);
    assert!(out.contains("1 connection open on local port"), "{out}");
}

fn advice_of_kind(doc: &Value, kind: &str) -> Option<Value> {
    doc["advice"]
        .as_array()
        .expect("advice")
        .iter()
        .find(|a| a["kind"] == kind)
        .cloned()
}

#[test]
fn advice_names_the_programs_known_to_use_the_port() {
    let (_, doc) = json_status(&["check", "3000", "--address", "127.0.0.1", "--json"]);
    let known = advice_of_kind(&doc, "known-program").unwrap_or_else(|| panic!("{doc}"));
    let text = known["text"].as_str().expect("text");
    assert!(text.contains("Grafana"), "{text}");
    // A port no program is known to use gets no such advice.
    let (_, doc) = json_status(&["check", "41899", "--address", "127.0.0.1", "--json"]);
    assert!(advice_of_kind(&doc, "known-program").is_none(), "{doc}");
}

#[test]
fn advice_says_when_other_network_namespaces_exist() {
    if !common::root_or_skip("seeing processes of other network namespaces")
        || !common::need("unshare")
    {
        return;
    }
    // A process of its own network namespace, killed by PID at the end.
    let mut other = std::process::Command::new("unshare")
        .args(["-n", "sleep", "60"])
        .spawn()
        .expect("unshare -n sleep");
    let own_ns = std::fs::read_link("/proc/self/ns/net").expect("own netns");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_link(format!("/proc/{}/ns/net", other.id())).ok() == Some(own_ns.clone()) {
        assert!(
            Instant::now() < deadline,
            "unshare never entered its namespace"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (_, doc) = json_status(&["check", "41898", "--address", "127.0.0.1", "--json"]);
    other.kill().expect("kill the namespace holder");
    other.wait().expect("reap");
    let advice =
        advice_of_kind(&doc, "other-network-namespaces").unwrap_or_else(|| panic!("{doc}"));
    assert!(
        advice["text"]
            .as_str()
            .expect("text")
            .contains("other network namespaces"),
        "{advice}"
    );
}
