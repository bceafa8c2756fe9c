//! Addresses as the kernel knows them, staged for real in a private network namespace:
//! IPV6_V6ONLY from the kernel (a dual-stack `::` beside `0.0.0.0` is not "IPv6 only"),
//! a socket bound to the device `lo` (loopback-only, never exposed), link-local zones,
//! `::ffff:0.0.0.0`, and one notation in the card, listing, audit and Prometheus output.

mod common;

use std::process::Command;

use common::listener::python;
use common::{fixture, have, is_root, tempdir};
use serde_json::Value;

/// What one staging produced: the helper's ready line and the output of each whoport run.
struct Staged {
    sockets: Value,
    runs: Vec<String>,
}

impl Staged {
    /// The port of the helper's socket number `i`.
    fn port(&self, i: usize) -> u64 {
        self.sockets["sockets"][i][2].as_u64().expect("port")
    }

    fn json(&self, run: usize) -> Value {
        serde_json::from_str(&self.runs[run])
            .unwrap_or_else(|e| panic!("run {run} is not JSON ({e}): {}", self.runs[run]))
    }
}

/// In a private network namespace with loopback up: runs `setup`, starts `listen.py SPECS`,
/// then whoport once per argument list (`{P0}`, `{P1}`... stand for the helper's ports), and
/// kills the helper by PID. `None` (after a SKIPPED line) when this cannot be staged.
fn staged(setup: &str, specs: &str, runs: &[&str]) -> Option<Staged> {
    let py = python()?;
    if !have("unshare", "apt-get install -y util-linux")
        || !have("ip", "apt-get install -y iproute2")
    {
        return None;
    }
    if !is_root() {
        eprintln!("SKIPPED: a private network namespace needs root");
        return None;
    }
    let dir = tempdir();
    let ready = dir.path().join("ready");
    let bin = assert_cmd::cargo::cargo_bin("whoport");
    let mut script = format!(
        "ip link set lo up && {setup} \
         {py} {listen} --exit-after 30 {specs} > {ready} 2>/dev/null & helper=$!; \
         for i in $(seq 200); do [ -s {ready} ] && break; sleep 0.05; done; cat {ready};",
        py = py.display(),
        listen = fixture("listen.py").display(),
        ready = ready.display(),
    );
    for args in runs {
        let args = (0..10).fold(args.to_string(), |a, i| {
            a.replace(&format!("{{P{i}}}"), &format!("$(p {i})"))
        });
        script.push_str(&format!(
            " echo '=== run'; {bin} {args};",
            bin = bin.display()
        ));
    }
    script.push_str(" kill $helper");
    // `p N`: the port of socket N, read from the helper's ready line.
    let prelude = format!(
        "p() {{ {py} -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"sockets\"][int(sys.argv[2])][2])' {ready} $1; }}; ",
        py = py.display(),
        ready = ready.display()
    );
    let out = Command::new("timeout")
        .args(["60", "unshare", "--net", "sh", "-c"])
        .arg(format!("{prelude}{script}"))
        .env("XDG_DATA_HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS")
        .output()
        .expect("unshare runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut parts = stdout.split("=== run\n");
    let first = parts.next().unwrap_or_default();
    let sockets: Value = serde_json::from_str(first.trim()).unwrap_or_else(|e| {
        panic!(
            "the helper did not start ({e}): {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    Some(Staged {
        sockets,
        runs: parts.map(str::to_string).collect(),
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
        "",
        "udp4-any udp6-any:same tcp6-any-v6only tcp4-any:same",
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
        "",
        "tcp4-any-lo",
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
fn a_link_local_address_keeps_its_zone() {
    let Some(s) = staged(
        "ip addr add fe80::1/64 dev lo nodad &&",
        "tcp6-linklocal",
        &["--json {P0}", "{P0}"],
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
}

#[test]
fn the_mapped_ipv4_wildcard_is_ipv4_on_all_interfaces() {
    let Some(s) = staged("", "tcp6-mapped-any", &["--json {P0}"]) else {
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
        "",
        "tcp6-any",
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
        s.runs[3].contains("address=\"[::]\""),
        "prometheus: {}",
        s.runs[3]
    );
}
