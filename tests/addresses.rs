//! Addresses as the kernel knows them, staged for real in a private network namespace:
//! IPV6_V6ONLY from the kernel (a dual-stack `::` beside `0.0.0.0` is not "IPv6 only"),
//! a socket bound to the device `lo` (loopback-only, never exposed), link-local zones,
//! `::ffff:0.0.0.0`, and one notation in the card, listing, audit and Prometheus output.

mod common;

use common::netns::{NetNs, ANYIP_V4, ANYIP_V6};
use common::{endpoints, tempdir};
use serde_json::Value;

/// What one staging produced: the helper's sockets and the output of each whoport run.
struct Staged {
    ports: Vec<u16>,
    runs: Vec<String>,
    statuses: Vec<i32>,
}

impl Staged {
    /// The port of the helper's socket number `i`.
    fn port(&self, i: usize) -> u64 {
        u64::from(self.ports[i])
    }

    fn json(&self, run: usize) -> Value {
        serde_json::from_str(&self.runs[run])
            .unwrap_or_else(|e| panic!("run {run} is not JSON ({e}): {}", self.runs[run]))
    }
}

/// In a private network namespace with loopback up: runs `setup` (arguments of `ip`), starts
/// `listen.py SPECS`, then whoport once per argument line (`{P0}`, `{P1}`... stand for the
/// helper's ports); the helper and the namespace are killed by PID when done. `None` (after
/// a SKIPPED line) when this cannot be staged.
fn staged(setup: &[&str], specs: &[&str], runs: &[&str]) -> Option<Staged> {
    let setups: &[&[&str]] = if setup.is_empty() { &[] } else { &[setup] };
    staged_after(setups, specs, runs)
}

/// [`staged`] with several `ip` commands run first, in order.
fn staged_after(setups: &[&[&str]], specs: &[&str], runs: &[&str]) -> Option<Staged> {
    let ns = NetNs::set_up(setups)?;
    let mut args = vec!["--exit-after", "600"];
    args.extend_from_slice(specs);
    let helper = ns.listener(&args);
    let dir = tempdir();
    let (statuses, runs) = runs
        .iter()
        .map(|line| {
            let line = (0..helper.sockets.len()).fold(line.to_string(), |a, i| {
                a.replace(&format!("{{P{i}}}"), &helper.port(i).to_string())
            });
            if let Some(script) = line.strip_prefix("python ") {
                // A client inside the namespace: what the kernel does with a connection.
                let mut cmd = ns.command(&common::listener::python().expect("python3"));
                let out = cmd.arg("-c").arg(script).output().expect("python runs");
                return (0, String::from_utf8_lossy(&out.stdout).trim().to_string());
            }
            let argv: Vec<&str> = line.split_whitespace().collect();
            let (status, out, _) = ns.whoport(dir.path(), &argv);
            (status, out)
        })
        .unzip();
    Some(Staged {
        ports: helper.sockets.iter().map(|s| s.port).collect(),
        runs,
        statuses,
    })
}

fn row(doc: &Value, protocol: &str, address: &str, port: u64) -> Value {
    doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .find(|l| l["protocol"] == protocol && l["address"] == address && l["port"] == port)
        .unwrap_or_else(|| panic!("{protocol} {address}:{port} not in {doc}"))
        .clone()
}

#[test]
fn a_dual_stack_udp_wildcard_beside_an_ipv4_one_is_not_called_ipv6_only() {
    let Some(s) = staged(
        &[],
        &[
            "udp4-any",
            "udp6-any:same",
            "tcp6-any-v6only",
            "tcp4-any:same",
        ],
        &["--json {P0}/udp", "{P0}/udp", "--json {P2}/tcp", "{P2}/tcp"],
    ) else {
        return;
    };
    let (udp, tcp) = (s.port(0), s.port(2));
    let dual = row(&s.json(0), "udp", "::", udp);
    assert_eq!(
        dual["v6only"], false,
        "the kernel says it takes IPv4: {dual}"
    );
    assert_eq!(dual["endpoint"], format!("[::]:{udp}"));
    assert_eq!(dual["reach"], "all interfaces, IPv4 and IPv6");
    let v4 = row(&s.json(0), "udp", "0.0.0.0", udp);
    assert_eq!(v4["v6only"], Value::Null);
    assert_eq!(v4["reach"], "all interfaces, IPv4");
    let card = &s.runs[1];
    assert!(
        card.contains(&format!("udp [::]:{udp}  all interfaces, IPv4 and IPv6")),
        "{card}"
    );
    assert!(!card.contains("IPv6 only"), "{card}");
    // The v6-only one says so, from the kernel too.
    let v6only = row(&s.json(2), "tcp", "::", tcp);
    assert_eq!(v6only["v6only"], true, "{v6only}");
    assert!(
        s.runs[3].contains(&format!("tcp [::]:{tcp}  all interfaces, IPv6 only")),
        "{}",
        s.runs[3]
    );
}

#[test]
fn a_wildcard_bound_to_lo_is_loopback_only_and_not_exposed() {
    let Some(s) = staged(
        &[],
        &["tcp4-any-lo"],
        &[
            "--json {P0}",
            "{P0}",
            "--json {P0} --exposed",
            "audit --json",
            "",
        ],
    ) else {
        return;
    };
    let port = s.port(0);
    let r = row(&s.json(0), "tcp", "0.0.0.0", port);
    assert_eq!(r["device"], "lo", "{r}");
    assert_eq!(r["scope"], "loopback", "{r}");
    assert_eq!(r["endpoint"], format!("0.0.0.0%lo:{port}"));
    assert_eq!(r["reach"], "loopback only");
    assert!(
        s.runs[1].contains(&format!("tcp 0.0.0.0%lo:{port}  loopback only")),
        "{}",
        s.runs[1]
    );
    assert!(
        s.json(2)["listeners"].as_array().expect("l").is_empty(),
        "--exposed: {}",
        s.runs[2]
    );
    let audit = s.json(3);
    let exposure: Vec<&Value> = audit["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["id"] == "exposed-all-interfaces" || f["id"] == "root-exposed")
        .collect();
    assert!(exposure.is_empty(), "no exposure finding: {audit}");
    assert!(
        s.runs[4].contains("0.0.0.0%lo (loopback)"),
        "listing: {}",
        s.runs[4]
    );
}

#[test]
fn the_ss_forms_of_a_wildcard_bound_to_a_device_narrow_to_it() {
    // `ss -lnp` prints `*%lo:PORT`, `0.0.0.0%lo:PORT` and `[::]%lo:PORT` for these.
    let Some(s) = staged(
        &[],
        &["udp4-any@lo", "udp4-any:same", "tcp6-any@lo:same"],
        &[
            "--json *%lo:{P0}",
            "--json *:{P0}",
            "--json [::]%lo:{P0}",
            "--json 0.0.0.0%lo:{P0}/udp",
            "*%lo:{P0}",
            "--json *%1:{P0}",
        ],
    ) else {
        return;
    };
    let port = s.port(0);
    let endpoints = |run: usize| -> Vec<String> {
        let mut got: Vec<String> = s.json(run)["listeners"]
            .as_array()
            .expect("listeners")
            .iter()
            .map(|l| format!("{} {}", l["protocol"], l["endpoint"]).replace('"', ""))
            .collect();
        got.sort();
        got
    };
    let on_lo = vec![
        format!("tcp [::]%lo:{port}"),
        format!("udp 0.0.0.0%lo:{port}"),
    ];
    assert_eq!(s.statuses[0], 0, "{}", s.runs[0]);
    assert_eq!(endpoints(0), on_lo, "*%lo: the wildcards bound to lo");
    assert_eq!(endpoints(5), on_lo, "*%1: lo by its index");
    assert_eq!(
        endpoints(1),
        vec![format!("udp 0.0.0.0:{port}")],
        "*: the wildcard bound to no device"
    );
    assert_eq!(endpoints(2), vec![format!("tcp [::]%lo:{port}")]);
    assert_eq!(endpoints(3), vec![format!("udp 0.0.0.0%lo:{port}")]);
    let card = &s.runs[4];
    assert!(card.contains(&format!("udp 0.0.0.0%lo:{port}")), "{card}");
    assert!(
        card.contains(&format!("udp 0.0.0.0:{port}")) && card.contains("hidden by the address"),
        "the other wildcard is hidden by the address, and said so: {card}"
    );
}

#[test]
fn a_link_local_address_keeps_its_zone() {
    let Some(s) = staged(
        &["addr", "add", "fe80::1/64", "dev", "lo", "nodad"],
        &["tcp6-linklocal"],
        &[
            "--json {P0}",
            "{P0}",
            "--json [fe80::1%lo]:{P0}",
            "--json [fe80::1%eth9]:{P0}",
        ],
    ) else {
        return;
    };
    let port = s.port(0);
    let r = row(&s.json(0), "tcp", "fe80::1", port);
    assert_eq!(r["endpoint"], format!("[fe80::1%lo]:{port}"), "{r}");
    assert_eq!(r["device"], "lo");
    assert!(
        s.runs[1].contains(&format!("tcp [fe80::1%lo]:{port}")),
        "{}",
        s.runs[1]
    );
    // Pasted back, with its zone: found; with another zone: not.
    assert_eq!(
        s.json(2)["listeners"].as_array().expect("l").len(),
        1,
        "{}",
        s.runs[2]
    );
    assert!(
        s.json(3)["listeners"].as_array().expect("l").is_empty(),
        "{}",
        s.runs[3]
    );
}

#[test]
fn pasted_addresses_narrow_to_that_address() {
    let Some(s) = staged(
        &[],
        &["tcp4-any", "tcp6-any-v6only:same", "tcp4", "tcp6:same"],
        &[
            "--json 0.0.0.0:{P0}",
            "--json [::]:{P0}",
            "--json :::{P0}",
            "--json *:{P0}",
            "--json tcp/{P0}",
            "--json {P0}/tcp",
            "--json 127.0.0.1:{P2}",
            "--json [::1]:{P2}",
            "--json localhost:{P2}",
            "--json 0.0.0.0:{P2}",
        ],
    ) else {
        return;
    };
    let (any, lo) = (s.port(0), s.port(2));
    let v4 = format!("0.0.0.0:{any}");
    let v6 = format!("[::]:{any}");
    assert_eq!(endpoints(&s.json(0)), vec![v4.clone()]);
    assert_eq!(endpoints(&s.json(1)), vec![v6.clone()]);
    assert_eq!(endpoints(&s.json(2)), vec![v6.clone()], "netstat's :::PORT");
    assert_eq!(
        endpoints(&s.json(3)),
        vec![v4.clone(), v6.clone()],
        "*:PORT"
    );
    for run in [4, 5] {
        let doc = s.json(run);
        assert_eq!(
            endpoints(&doc),
            vec![v4.clone(), v6.clone()],
            "{}",
            s.runs[run]
        );
        assert!(
            doc["registry"].as_array().is_some_and(|r| r.len() == 1),
            "tcp only"
        );
    }
    assert_eq!(endpoints(&s.json(6)), vec![format!("127.0.0.1:{lo}")]);
    assert_eq!(endpoints(&s.json(7)), vec![format!("[::1]:{lo}")]);
    assert_eq!(
        endpoints(&s.json(8)),
        vec![format!("127.0.0.1:{lo}"), format!("[::1]:{lo}")],
        "localhost is loopback, never a lookup"
    );
    let none = s.json(9);
    assert!(endpoints(&none).is_empty());
    // The card says what the address hid rather than "nothing is listening".
    assert_eq!(
        none["hidden_by_filters"].as_array().expect("hidden").len(),
        2,
        "{none}"
    );
}

#[test]
fn the_mapped_ipv4_wildcard_is_ipv4_on_all_interfaces() {
    let Some(s) = staged(&[], &["tcp6-mapped-any"], &["--json {P0}"]) else {
        return;
    };
    let port = s.port(0);
    let r = row(&s.json(0), "tcp", "::ffff:0.0.0.0", port);
    assert_eq!(r["scope"], "all", "{r}");
    assert_eq!(r["reach"], "all interfaces, IPv4");
    assert_eq!(r["endpoint"], format!("[::ffff:0.0.0.0]:{port}"));
}

#[test]
fn one_notation_in_the_card_listing_audit_and_prometheus() {
    let Some(s) = staged(
        &[],
        &["tcp6-any"],
        &["{P0}", "", "audit --json", "audit --format prometheus"],
    ) else {
        return;
    };
    let port = s.port(0);
    let endpoint = format!("[::]:{port}");
    assert!(
        s.runs[0].contains(&format!("tcp {endpoint}  all interfaces, IPv4 and IPv6")),
        "card: {}",
        s.runs[0]
    );
    assert!(
        s.runs[1].contains("[::] (all, IPv4+IPv6)"),
        "listing: {}",
        s.runs[1]
    );
    let audit = s.json(2);
    let messages: Vec<&str> = audit["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["message"].as_str())
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains(&format!("tcp {endpoint} ")) && m.contains("IPv4 and IPv6")),
        "audit: {messages:?}"
    );
    assert!(
        s.runs[3].contains(&format!("address=\"[::]\",endpoint=\"{endpoint}\"")),
        "prometheus: {}",
        s.runs[3]
    );
}

/// Sockets of one `SO_REUSEPORT` group on one address are named once in a finding, with
/// their count, not once per socket (a line that grew with every socket of the group).
#[test]
fn a_reuseport_group_is_named_once_in_a_finding() {
    let Some(ns) = NetNs::new() else { return };
    let mut cmd = ns.command(&common::listener::python().expect("python3"));
    cmd.arg("-c").arg(
        "import json, os, socket, sys\n\
         held = []\n\
         port = 0\n\
         for _ in range(3):\n\
         \x20   s = socket.socket()\n\
         \x20   s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)\n\
         \x20   s.bind(('0.0.0.0', port))\n\
         \x20   s.listen(4)\n\
         \x20   port = s.getsockname()[1]\n\
         \x20   held.append(s)\n\
         print(json.dumps({'pid': os.getpid(), 'children': [], 'sockets': [['tcp', '0.0.0.0', port]]}), flush=True)\n\
         sys.stdin.read()\n",
    );
    let group = common::listener::Listener::start_command(cmd);
    let port = group.port(0);
    let home = tempdir();
    let (_, out, err) = ns.whoport(home.path(), &["audit", "--color", "never"]);
    let once = format!("0.0.0.0:{port} (3 sockets)");
    let twice = format!("0.0.0.0:{port}, 0.0.0.0:{port}");
    assert!(out.contains(&once), "{once} in:\n{out}{err}");
    assert!(!out.contains(&twice), "{twice} in:\n{out}");
}

/// A client's attempt at `ADDRESS:PORT` from inside the namespace, as a python line for
/// [`staged`]: prints `connected` or the error's name.
fn connect(address: &str, port: &str) -> String {
    format!(
        "python import socket; c = socket.socket(); c.settimeout(3)\n\
         try:\n    c.connect(('{address}', {port})); print('connected')\n\
         except OSError as e:\n    print(type(e).__name__)"
    )
}

/// `whoport 127.0.0.1:PORT` (or `0.0.0.0:PORT`) finds the dual-stack `[::]` listener that
/// takes those connections, and says that it serves the address; a v6-only one does not.
#[test]
fn a_pasted_ipv4_address_finds_the_dual_stack_listener_that_serves_it() {
    let Some(s) = staged(
        &[],
        &[
            "tcp6-any",
            "tcp6-any-v6only",
            "tcp6-mapped-any",
            "tcp4-reuse",
            "tcp4-any-reuse:same",
            "tcp6-mapped",
            "tcp4-any",
        ],
        &[
            "--json 127.0.0.1:{P0}",
            "--json 0.0.0.0:{P0}",
            "--json [::ffff:127.0.0.1]:{P0}",
            "127.0.0.1:{P0}",
            "--json 127.0.0.1:{P1}",
            "--json 0.0.0.0:{P1}",
            "--json [::1]:{P1}",
            "--json 127.0.0.1:{P2}",
            "--json 127.0.0.1:{P3}",
            "--json 127.0.0.2:{P3}",
            "--json 127.0.0.1:{P5}",
            "--json [::]:{P6}",
            "--json [::1]:{P6}",
            "--json 192.0.2.1:{P0}",
            "--json localhost:{P0}",
            &connect("127.0.0.1", "{P0}"),
            &connect("127.0.0.1", "{P1}"),
        ],
    ) else {
        return;
    };
    let (dual, v6only, mapped_any, reuse, mapped, any4) = (
        s.port(0),
        s.port(1),
        s.port(2),
        s.port(3),
        s.port(5),
        s.port(6),
    );
    let found = |run: usize, want: &[String]| {
        let doc = s.json(run);
        assert_eq!(endpoints(&doc), want, "run {run}: {}", s.runs[run]);
        assert_eq!(
            s.statuses[run],
            if want.is_empty() { 1 } else { 0 },
            "run {run}"
        );
        doc
    };
    let dual_end = format!("[::]:{dual}");
    // The kernel takes IPv4 connections on a dual-stack `::` ...
    assert_eq!(
        s.runs[15], "connected",
        "127.0.0.1 reaches the dual-stack ::"
    );
    // ... so pasting its IPv4 forms finds it, and says which socket serves the address.
    let doc = found(0, std::slice::from_ref(&dual_end));
    let notes = common::notes(&doc);
    let served =
        format!("127.0.0.1:{dual} is served by tcp {dual_end}: all interfaces, IPv4 and IPv6");
    assert!(notes.contains(&served.as_str()), "{notes:?}");
    assert_eq!(doc["hidden_by_filters"], serde_json::json!([]));
    found(1, std::slice::from_ref(&dual_end));
    found(2, std::slice::from_ref(&dual_end));
    assert!(s.runs[3].contains(&served), "card: {}", s.runs[3]);
    assert!(!s.runs[3].contains("Nothing"), "card: {}", s.runs[3]);
    // A v6-only `::` does not take 127.0.0.1 (the kernel refuses it): never invented.
    assert_eq!(s.runs[16], "ConnectionRefusedError");
    let doc = found(4, &[]);
    let hidden = doc["hidden_by_filters"].as_array().expect("hidden");
    assert_eq!(hidden.len(), 1, "{doc}");
    assert_eq!(hidden[0]["endpoint"], format!("[::]:{v6only}"));
    assert_eq!(hidden[0]["filters"], serde_json::json!(["the address"]));
    found(5, &[]);
    found(6, &[format!("[::]:{v6only}")]);
    // `::ffff:0.0.0.0` takes every IPv4 address.
    found(7, &[format!("[::ffff:0.0.0.0]:{mapped_any}")]);
    // A socket bound to the address itself comes before the wildcard of its SO_REUSEPORT
    // group (the kernel looks for the address first); another loopback address goes to the
    // wildcard.
    let doc = found(8, &[format!("127.0.0.1:{reuse}")]);
    let hidden = doc["hidden_by_filters"].as_array().expect("hidden");
    assert!(
        hidden
            .iter()
            .any(|h| h["endpoint"] == format!("0.0.0.0:{reuse}")),
        "the wildcard is hidden by the address: {doc}"
    );
    found(9, &[format!("0.0.0.0:{reuse}")]);
    // `::ffff:127.0.0.1` is 127.0.0.1.
    found(10, &[format!("[::ffff:127.0.0.1]:{mapped}")]);
    // The reverse: an IPv4 socket takes no IPv6.
    found(11, &[]);
    found(12, &[]);
    // An address of no interface here is served by no wildcard.
    found(13, &[]);
    // localhost: what takes connections to the loopback addresses.
    found(14, std::slice::from_ref(&dual_end));
    let _ = any4;
}

/// 127.0.0.1 bound to another device than `lo` (SO_BINDTODEVICE): the kernel refuses
/// connections to it from this machine, so it is not "loopback"; its scope says so in the
/// listing, the card, JSON, `--exposed` and the audit (no exposure finding); `localhost`
/// does not find it, the device is named in its address.
/// A wildcard bound to another device than `lo` receives what arrives through that device,
/// whichever of this machine's addresses of its family it is sent to (Linux's weak host
/// model): its reach never says "every address of d0", says the family (IPv4, IPv6 only, or
/// both), and the audit says the same as the card. An IPv6 wildcard bound to it is written as
/// `ss` writes it, the device after the brackets.
#[test]
fn a_wildcard_bound_to_a_device_receives_what_arrives_through_it_to_any_address() {
    let Some(s) = staged(
        &["link", "add", "d0", "type", "veth", "peer", "name", "d1"],
        &["tcp4-any@d0", "tcp6-any@d0", "tcp6-any-v6only@d0"],
        &[
            "--json {P0}",
            "{P0}",
            "audit --json",
            "--json {P1}",
            "--json {P2}",
            "",
        ],
    ) else {
        return;
    };
    let port = s.port(0);
    let r = row(&s.json(0), "tcp", "0.0.0.0", port);
    assert_eq!(r["endpoint"], format!("0.0.0.0%d0:{port}"), "{r}");
    let reach = "what arrives through d0, to any of this machine's IPv4 addresses";
    assert_eq!(r["reach"], reach, "{r}");
    assert!(s.runs[1].contains(reach), "card: {}", s.runs[1]);
    let audit = s.json(2);
    let exposure: Vec<String> = audit["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["message"].as_str())
        .filter(|m| m.contains(&format!("0.0.0.0%d0:{port}")))
        .map(str::to_string)
        .collect();
    assert!(
        exposure.iter().any(|m| m
            .contains("through d0 only, to any of this machine's IPv4 addresses")
            && !m.contains("non-loopback address")),
        "audit: {exposure:?}"
    );
    let v6 = row(&s.json(3), "tcp", "::", s.port(1));
    assert_eq!(v6["endpoint"], format!("[::]%d0:{}", s.port(1)), "{v6}");
    assert_eq!(
        v6["reach"], "what arrives through d0, to any of this machine's addresses, IPv4 and IPv6",
        "{v6}"
    );
    let v6only = row(&s.json(4), "tcp", "::", s.port(2));
    assert_eq!(
        v6only["reach"],
        "what arrives through d0, to any of this machine's IPv6 addresses, IPv6 only",
        "{v6only}"
    );
    // The listing's short words say the family too.
    for (host, port, family) in [
        ("0.0.0.0%d0", port, "IPv4"),
        ("[::]%d0", s.port(1), "IPv4+IPv6"),
        ("[::]%d0", s.port(2), "IPv6 only"),
    ] {
        let line = s.runs[5]
            .lines()
            .find(|l| l.contains(&format!(" {port} ")) || l.contains(&format!(":{port}")))
            .unwrap_or_else(|| panic!("{port} listed: {}", s.runs[5]));
        assert!(
            line.contains(&format!("{host} (d0 only, {family})")),
            "{line}"
        );
    }
}

#[test]
fn a_loopback_address_bound_to_another_device_is_not_called_loopback() {
    let Some(s) = staged(
        &["link", "add", "d0", "type", "veth", "peer", "name", "d1"],
        &["tcp4@d0"],
        &[
            "--json {P0}",
            "{P0}",
            "",
            "--json --exposed",
            "audit --json",
            "--json localhost:{P0}",
            "--json 127.0.0.1:{P0}",
            &connect("127.0.0.1", "{P0}"),
        ],
    ) else {
        return;
    };
    let port = s.port(0);
    assert_eq!(
        s.runs[7], "ConnectionRefusedError",
        "loopback traffic does not reach it"
    );
    let r = row(&s.json(0), "tcp", "127.0.0.1", port);
    assert_eq!(r["endpoint"], format!("127.0.0.1%d0:{port}"), "{r}");
    assert_eq!(r["device"], "d0");
    assert_eq!(r["scope"], "device", "{r}");
    let reach = "bound to d0 only: loopback traffic cannot reach it, nor other machines";
    assert_eq!(r["reach"], reach);
    assert!(
        s.runs[1].contains(&format!("tcp 127.0.0.1%d0:{port}  {reach}")),
        "card: {}",
        s.runs[1]
    );
    assert!(!s.runs[1].contains("loopback only"), "card: {}", s.runs[1]);
    assert!(
        s.runs[2].contains("127.0.0.1%d0 (d0 only, not loopback)"),
        "listing: {}",
        s.runs[2]
    );
    assert!(
        !endpoints(&s.json(3)).contains(&format!("127.0.0.1%d0:{port}")),
        "--exposed: {}",
        s.runs[3]
    );
    let audit = s.json(4);
    let exposure: Vec<&Value> = audit["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| {
            f["message"]
                .as_str()
                .is_some_and(|m| m.contains(&format!(":{port}")))
                && f["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("non-loopback") || m.contains("interfaces"))
        })
        .collect();
    assert!(exposure.is_empty(), "no exposure finding: {exposure:?}");
    assert!(endpoints(&s.json(5)).is_empty(), "localhost: {}", s.runs[5]);
    assert_eq!(
        endpoints(&s.json(6)),
        vec![format!("127.0.0.1%d0:{port}")],
        "the socket at that address, with its true reach"
    );
}

#[test]
fn netstats_tcp6_is_tcp_over_ipv6_and_an_unknown_interface_is_said_to_match_nothing() {
    let Some(s) = staged(
        &[],
        &["tcp4", "tcp6:same"],
        &[
            "--json tcp6/{P0}",
            "--json {P0}/tcp6",
            "--json tcp4/{P0}",
            "--json udp6/{P0}",
            "--json [fe80::1%nosuchdev0]:{P0}",
            "--json *%4000000000:{P0}",
            "tcp6/{P0} -4",
        ],
    ) else {
        return;
    };
    let p = s.port(0);
    let (v4, v6) = (format!("127.0.0.1:{p}"), format!("[::1]:{p}"));
    for run in [0, 1] {
        let doc = s.json(run);
        assert_eq!(endpoints(&doc), vec![v6.clone()], "{doc}");
        let hidden = doc["hidden_by_filters"].as_array().expect("hidden");
        assert_eq!(hidden.len(), 1, "{doc}");
        assert_eq!(hidden[0]["endpoint"], v4.as_str());
        assert_eq!(hidden[0]["filters"], serde_json::json!(["-6"]));
        assert!(doc["registry"].as_array().is_some_and(|r| r.len() == 1));
    }
    assert_eq!(endpoints(&s.json(2)), vec![v4.clone()]);
    assert_eq!(s.statuses[3], 1, "{}", s.runs[3]);
    assert!(endpoints(&s.json(3)).is_empty());
    let notes = |run: usize| s.json(run)["notes"].to_string();
    assert_eq!(s.statuses[4], 1);
    assert!(
        notes(4).contains("no network interface is named 'nosuchdev0' here"),
        "{}",
        notes(4)
    );
    assert!(
        notes(5).contains("no network interface has index 4000000000 here"),
        "{}",
        notes(5)
    );
    assert_eq!(s.statuses[6], 2, "{}", s.runs[6]);
}

#[test]
fn what_is_not_a_port_says_what_it_is() {
    let home = tempdir();
    let huge = format!("[fe80::1%{}]:22", "9".repeat(200));
    let long_name = format!("{}/tcp", "x".repeat(5000));
    let cases: Vec<(&str, &str)> = vec![
        (
            "+22",
            "'+22' is not a port number: a port is written with digits only",
        ),
        ("-22", "'-22' is not a port number"),
        (
            "::1",
            "'::1' is an address without a port: add the port ([::1]:PORT)",
        ),
        (
            "[::1]",
            "is an address without a port: add the port ([::1]:PORT)",
        ),
        (
            "127.0.0.1",
            "is an address without a port: add the port (127.0.0.1:PORT)",
        ),
        ("fe80::1%lo", "add the port ([fe80::1%lo]:PORT)"),
        (
            "[fe80::1%99999999999]:22",
            "zone '99999999999' is no interface name or index",
        ),
        ("*%0:22", "zone '0' is no interface name or index"),
        (&huge, "is no interface name or index"),
        ("[fe80::1%ééééééé]:22", "is no interface name or index"),
        ("22/tcp7", "unknown protocol 'tcp7'"),
        (
            "tcp46/22",
            "'tcp46/22': unknown protocol 'tcp46': whoport knows tcp, udp",
        ),
        ("/22", "'/22': no protocol before the slash"),
        ("22/", "'22/': no protocol after the slash"),
        ("", "empty port or service name"),
        ("٢٢", "is not a valid service or program name"),
        ("22\u{202e}", "is not a port number"),
    ];
    for (arg, want) in cases {
        let (status, out, err) = common::run_in(home.path(), &[arg]);
        assert_eq!(status, 2, "{arg:?}: {out}{err}");
        assert!(err.contains(want), "{arg:?}: {err}");
        assert!(
            !err.contains("panicked") && out.is_empty(),
            "{arg:?}: {err}"
        );
    }
    // A name of any length is said back cut short, wherever it is said.
    let (status, out, err) = common::run_in(home.path(), &[&long_name]);
    assert!(status == 1 || status == 2, "{err}");
    assert!(err.contains("(5004 characters)"), "{err}");
    assert!(
        !out.contains(&"x".repeat(100)) && !err.contains(&"x".repeat(100)),
        "{out}{err}"
    );
    // netstat's protocol with a family is accepted; check and wait ask for the address.
    for arg in ["tcp6/22", "22/tcp6", "udp6/53", "udp4/53", "tcp4/22"] {
        let (status, _, err) = common::run_in(home.path(), &[arg]);
        assert!(status == 0 || status == 1, "{arg}: {err}");
    }
    let (status, _, err) = common::run_in(home.path(), &["check", "tcp6/8080"]);
    assert_eq!(status, 2);
    assert!(err.contains("give the protocol without a family"), "{err}");
}

#[test]
fn a_pasted_multicast_or_broadcast_address_may_reach_the_udp_sockets_on_the_port_never_tcp() {
    let Some(s) = staged(
        &[],
        &["tcp4-any", "udp4-any:same", "udp6-any:same"],
        &[
            "--json 224.0.0.251:{P0}",
            "--json [ff02::fb]:{P0}",
            "--json 255.255.255.255:{P0}",
            "--json 224.0.0.251:{P0}/tcp",
            "224.0.0.251:{P0}",
        ],
    ) else {
        return;
    };
    let p = s.port(0);
    let (v4, v6) = (format!("0.0.0.0:{p}"), format!("[::]:{p}"));
    let notes = |run: usize| s.json(run)["notes"].to_string();
    for (run, want, kind) in [
        (0, vec![v4.clone(), v6.clone()], "a multicast group"),
        (1, vec![v6.clone()], "a multicast group"),
        (2, vec![v4.clone(), v6.clone()], "a broadcast address"),
    ] {
        let doc = s.json(run);
        assert_eq!(s.statuses[run], 0, "{doc}");
        assert_eq!(endpoints(&doc), want, "{doc}");
        assert!(
            doc["listeners"]
                .as_array()
                .expect("listeners")
                .iter()
                .all(|l| l["protocol"] == "udp"),
            "TCP never receives it: {doc}"
        );
        assert!(
            notes(run).contains(&format!("is {kind}: the ")) && notes(run).contains("TCP never"),
            "{}",
            notes(run)
        );
    }
    assert!(notes(0).contains("whoport does not see group memberships"));
    assert_eq!(s.statuses[3], 1);
    assert!(endpoints(&s.json(3)).is_empty());
    assert!(notes(3).contains("TCP never does"), "{}", notes(3));
    assert!(!s.runs[4].contains("Nothing"), "{}", s.runs[4]);
    assert!(
        s.runs[4].contains(&format!("Listening on {p}: 2 sockets")),
        "{}",
        s.runs[4]
    );
}

/// An address added without a broadcast address (`ip addr add 10.99.0.1/24 dev d0`, as
/// scripts and people usually add one) is the interface's own address, which getifaddrs also
/// reports in its broadcast slot: pasted, it finds the TCP listeners that serve it (a
/// connection to it is accepted), and it is never called a broadcast address.
#[test]
fn an_address_added_without_a_broadcast_address_is_not_called_one() {
    let Some(s) = staged_after(
        &[
            &["link", "add", "d0", "type", "veth", "peer", "name", "d1"],
            &["link", "set", "d0", "up"],
            &["link", "set", "d1", "up"],
            &["addr", "add", "10.99.0.1/24", "dev", "d0"],
        ],
        &["tcp4-any", "tcp4-any@d0"],
        &[
            "--json 10.99.0.1:{P0}",
            "--json 10.99.0.1:{P1}",
            &connect("10.99.0.1", "{P0}"),
        ],
    ) else {
        return;
    };
    assert_eq!(
        s.runs[2], "connected",
        "the kernel accepts a connection to it"
    );
    for (run, port, endpoint) in [
        (0, s.port(0), format!("0.0.0.0:{}", s.port(0))),
        (1, s.port(1), format!("0.0.0.0%d0:{}", s.port(1))),
    ] {
        let doc = s.json(run);
        assert_eq!(s.statuses[run], 0, "{doc}");
        let found = row(&doc, "tcp", "0.0.0.0", port);
        assert_eq!(found["endpoint"], endpoint, "{doc}");
        assert!(!doc["notes"].to_string().contains("broadcast"), "{doc}");
    }
}

/// An address made this machine's by a `local` route rather than an interface (AnyIP:
/// `ip route add local 10.77.0.0/16 dev lo`, as transparent proxies and anycast services
/// set up): the kernel hands connections to any address of the range to the wildcard
/// listeners, so pasted, such an address finds them, as the kernel's own route says.
#[test]
fn an_address_made_local_by_a_route_is_served_by_the_wildcards() {
    let Some(s) = staged_after(
        &[ANYIP_V4, ANYIP_V6],
        &["tcp4-any", "tcp6-any-v6only:same"],
        &[
            "--json 10.77.3.4:{P0}",
            "--json [2001:db8:77::5]:{P0}",
            &connect("10.77.3.4", "{P0}"),
            "--json 10.78.3.4:{P0}",
        ],
    ) else {
        return;
    };
    assert_eq!(s.runs[2], "connected", "the kernel accepts a connection");
    let p = s.port(0);
    for (run, want) in [(0, format!("0.0.0.0:{p}")), (1, format!("[::]:{p}"))] {
        let doc = s.json(run);
        assert_eq!(s.statuses[run], 0, "{doc}");
        assert_eq!(endpoints(&doc), vec![want], "{doc}");
    }
    // Outside the range, nothing of this machine's: nothing serves it.
    assert_eq!(s.statuses[3], 1, "{}", s.runs[3]);
    assert!(endpoints(&s.json(3)).is_empty(), "{}", s.runs[3]);
}

/// The peer of a point-to-point address (`ip addr add 10.99.5.1 peer 10.99.5.2/32 dev d0`, as
/// VPN, PPP and GRE links are addressed) is the other machine's address, which getifaddrs
/// reports in its broadcast slot: it is never called a broadcast address of this machine,
/// and no socket here serves it; a broadcast address the kernel has (`brd +`) still is one.
#[test]
fn the_peer_of_a_point_to_point_address_is_not_a_broadcast_address() {
    let Some(s) = staged_after(
        &[
            &["link", "add", "d0", "type", "veth", "peer", "name", "d1"],
            &["link", "set", "d0", "up"],
            &["link", "set", "d1", "up"],
            &[
                "addr",
                "add",
                "10.99.5.1",
                "peer",
                "10.99.5.2/32",
                "dev",
                "d0",
            ],
            &["addr", "add", "10.99.6.1/24", "brd", "+", "dev", "d0"],
        ],
        &["tcp4-any", "udp4-any:same"],
        &["--json 10.99.5.2:{P0}", "--json 10.99.6.255:{P0}"],
    ) else {
        return;
    };
    let doc = s.json(0);
    assert_eq!(s.statuses[0], 1, "{doc}");
    assert!(endpoints(&doc).is_empty(), "{doc}");
    assert!(!doc["notes"].to_string().contains("broadcast"), "{doc}");
    let doc = s.json(1);
    assert_eq!(s.statuses[1], 0, "{doc}");
    assert_eq!(endpoints(&doc), vec![format!("0.0.0.0:{}", s.port(0))]);
    assert!(
        doc["notes"].to_string().contains("is a broadcast address"),
        "{doc}"
    );
}
