//! What whoport says of a socket's device when it cannot be named: the device was deleted
//! after the socket was bound to it, or the source read (`/proc/net`, when the netlink socket
//! diagnostics are refused) does not say. Staged for real in a private network namespace
//! (wildcard binds, a veth pair), helpers killed by PID.

mod common;

use std::path::Path;
use std::process::Command;

use common::netns::NetNs;
use common::{fixture, have, tempdir};
use serde_json::Value;

fn rows(doc: &Value, port: u16) -> Vec<Value> {
    doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .filter(|l| l["port"] == port)
        .cloned()
        .collect()
}

fn findings_about(audit: &Value, port: u16) -> Vec<String> {
    let needle = format!(":{port} ");
    audit["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| {
            f["message"]
                .as_str()
                .is_some_and(|m| m.contains(&needle) || m.contains(&format!(":{port},")))
        })
        .map(|f| f["id"].as_str().expect("id").to_string())
        .collect()
}

#[test]
fn a_listener_whose_device_was_deleted_is_not_exposed_and_says_the_device_is_gone() {
    let Some(ns) = NetNs::new() else {
        return;
    };
    let ip = |args: &[&str]| {
        let status = ns
            .command(Path::new("ip"))
            .args(args)
            .status()
            .expect("ip runs");
        assert!(status.success(), "ip {args:?}");
    };
    ip(&[
        "link", "add", "wpd0", "type", "veth", "peer", "name", "wpd1",
    ]);
    ip(&["link", "set", "wpd0", "up"]);
    let helper = ns.listener(&[
        "--exit-after",
        "30",
        "tcp4-any@wpd0",
        "udp4-any@wpd0",
        "tcp6-any@wpd0",
    ]);
    let (tcp, udp, tcp6) = (helper.port(0), helper.port(1), helper.port(2));
    let home = tempdir();
    // While the device is there: one device's addresses, exposed to its network.
    let (_, out, err) = ns.whoport(home.path(), &["--json"]);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
    let before = &rows(&doc, tcp)[0];
    assert_eq!(before["device"], "wpd0", "{before}");
    assert_eq!(before["scope"], "specific", "{before}");
    // Deleted (the peer goes with it): the sockets keep its index, no device has it.
    ip(&["link", "del", "wpd0"]);
    let index = before["endpoint"].as_str().expect("endpoint").to_string();
    let (status, out, err) = ns.whoport(home.path(), &["--json"]);
    assert_eq!(status, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).expect("json");
    for port in [tcp, udp, tcp6] {
        let row = &rows(&doc, port)[0];
        let device = row["device"].as_str().expect("the index stays").to_string();
        assert!(device.bytes().all(|b| b.is_ascii_digit()), "{row}");
        assert_eq!(row["scope"], "device", "{row}");
        assert_eq!(
            row["reach"],
            format!(
                "bound to device {device}, which no longer exists: nothing reaches it (unless \
                 a new device is given index {device})"
            ),
            "{row}"
        );
        assert!(!row["reach"]
            .as_str()
            .expect("reach")
            .contains("all interfaces"));
    }
    assert_ne!(
        index,
        rows(&doc, tcp)[0]["endpoint"],
        "named before, index after"
    );
    // Not exposed: --exposed leaves them out, the audit raises no exposure finding, the
    // listing and the card say the device is gone.
    let (_, out, _) = ns.whoport(home.path(), &["--json", "--exposed"]);
    let exposed: Value = serde_json::from_str(&out).expect("json");
    for port in [tcp, udp, tcp6] {
        assert!(rows(&exposed, port).is_empty(), "--exposed: {exposed}");
    }
    let (_, out, _) = ns.whoport(home.path(), &["audit", "--json"]);
    let audit: Value = serde_json::from_str(&out).expect("json");
    for port in [tcp, udp, tcp6] {
        let ids = findings_about(&audit, port);
        for id in ["shell-listener", "exposed-all-interfaces", "root-exposed"] {
            assert!(!ids.iter().any(|i| i == id), "{port}: {ids:?} in {audit}");
        }
    }
    let (_, listing, _) = ns.whoport(home.path(), &[]);
    assert!(listing.contains(", gone)"), "{listing}");
    assert!(
        listing.contains("0 reachable from other machines"),
        "{listing}"
    );
    let (_, card, _) = ns.whoport(home.path(), &[&tcp.to_string()]);
    assert!(card.contains("which no longer exists"), "{card}");
    assert!(!card.contains("all interfaces"), "{card}");
}

/// The shim that makes every netlink socket fail (as gVisor, WSL1 or a seccomp filter do).
fn no_netlink_shim(dir: &Path) -> Option<std::path::PathBuf> {
    if !have("cc", "apt-get install -y gcc") {
        return None;
    }
    let shim = dir.join("no_netlink.so");
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&shim)
        .arg(fixture("no_netlink.c"))
        .arg("-ldl")
        .status()
        .expect("cc runs");
    assert!(built.success(), "the shim compiles");
    Some(shim)
}

#[test]
fn without_netlink_a_wildcard_is_never_called_all_interfaces_as_a_fact() {
    let Some(ns) = NetNs::new() else {
        return;
    };
    let dir = tempdir();
    let Some(shim) = no_netlink_shim(dir.path()) else {
        return;
    };
    let shim = shim.to_str().expect("utf8").to_string();
    // Bound to lo (loopback only), and not bound at all: /proc/net cannot tell them apart.
    let helper = ns.listener(&[
        "--exit-after",
        "30",
        "tcp4-any-lo",
        "udp4-any@lo",
        "tcp4-any",
    ]);
    let (on_lo, udp_on_lo, any) = (helper.port(0), helper.port(1), helper.port(2));
    let env = [("LD_PRELOAD", shim.as_str())];
    let (status, out, err) = ns.whoport_with(dir.path(), &env, &["--json"]);
    assert_eq!(status, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(doc["source"], "/proc/net", "{doc}");
    for port in [on_lo, udp_on_lo, any] {
        let row = &rows(&doc, port)[0];
        assert_eq!(row["device_reported"], false, "{row}");
        assert_eq!(row["device"], Value::Null, "{row}");
        assert_eq!(
            row["reach"], "all interfaces, IPv4, unless bound to a device (not reported)",
            "not a fact: {row}"
        );
    }
    // With netlink the kernel says which device: reported, and lo's is loopback only.
    let (_, out, _) = ns.whoport(dir.path(), &["--json"]);
    let exact: Value = serde_json::from_str(&out).expect("json");
    let row = &rows(&exact, on_lo)[0];
    assert_eq!(row["device_reported"], true, "{row}");
    assert_eq!(row["reach"], "loopback only", "{row}");
    assert_eq!(rows(&exact, any)[0]["reach"], "all interfaces, IPv4");
    // The listing, the card and the audit say the same, in words.
    let (_, listing, _) = ns.whoport_with(dir.path(), &env, &[]);
    assert!(
        listing.contains("reachable from other machines unless bound to a device (not reported)"),
        "{listing}"
    );
    let (_, card, _) = ns.whoport_with(dir.path(), &env, &[&on_lo.to_string()]);
    assert!(
        card.contains(&format!(
            "tcp 0.0.0.0:{on_lo}  all interfaces, IPv4, unless bound to a device (not reported)"
        )),
        "{card}"
    );
    let (_, out, _) = ns.whoport_with(dir.path(), &env, &["audit", "--json"]);
    let audit: Value = serde_json::from_str(&out).expect("json");
    for f in audit["findings"].as_array().expect("findings") {
        let message = f["message"].as_str().expect("message");
        if message.contains(&format!(":{on_lo} ")) && message.contains("all interfaces") {
            assert!(
                message.contains("unless bound to a device (not reported)"),
                "{message}"
            );
        }
    }
}
