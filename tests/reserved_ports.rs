//! Ports reserved from the ephemeral range (`ip_local_reserved_ports`): set inside a private
//! network namespace (the setting is per namespace), with a real listener on the port.

mod common;

use common::netns::NetNs;
use common::tempdir;
use serde_json::Value;

const SYSCTL: &str = "/proc/sys/net/ipv4/ip_local_reserved_ports";

/// Runs a shell line inside the namespace; its standard output.
fn sh_in(ns: &NetNs, line: &str) -> String {
    let out = ns
        .command(std::path::Path::new("sh"))
        .args(["-c", line])
        .output()
        .expect("sh runs");
    assert!(out.status.success(), "{line}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ephemeral_findings(ns: &NetNs, pid: u32) -> Vec<Value> {
    let home = tempdir();
    let (_, out, err) = ns.whoport(home.path(), &["audit", "--json", "--pid", &pid.to_string()]);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["id"] == "ephemeral-range")
        .cloned()
        .collect()
}

#[test]
fn a_reserved_port_is_never_an_ephemeral_collision() {
    let Some(ns) = NetNs::new() else { return };
    let before = sh_in(&ns, &format!("cat {SYSCTL}"));
    // A fresh namespace has the kernel's default ephemeral range, 32768-60999.
    sh_in(&ns, &format!("echo '40000,45000-45010' > {SYSCTL}"));
    let home = tempdir();
    let reserved = ns.listener(&["tcp4:40000"]);
    let ranged = ns.listener(&["tcp4:45005"]);
    let free = ns.listener(&["tcp4:41000"]);

    // The card, in words and in JSON.
    let (_, card, _) = ns.whoport(home.path(), &["--color", "never", "40000"]);
    assert!(
        card.contains("reserved (ip_local_reserved_ports): outgoing connections never take it"),
        "{card}"
    );
    assert!(!card.contains("may take it"), "{card}");
    let (_, card, _) = ns.whoport(home.path(), &["--color", "never", "41000"]);
    assert!(card.contains("outgoing connections may take it"), "{card}");
    for (port, want) in [(40000, true), (45005, true), (41000, false)] {
        let (_, out, _) = ns.whoport(home.path(), &["--json", &port.to_string()]);
        let doc: Value = serde_json::from_str(&out).expect("json");
        assert_eq!(doc["ephemeral"], true, "{doc}");
        assert_eq!(doc["reserved_from_ephemeral"], want, "{port}: {doc}");
    }

    // The audit: no finding for reserved ports; the fix keeps what is reserved.
    assert!(ephemeral_findings(&ns, reserved.pid).is_empty());
    assert!(ephemeral_findings(&ns, ranged.pid).is_empty());
    let found = ephemeral_findings(&ns, free.pid);
    assert_eq!(found.len(), 1, "{found:?}");
    let hint = found[0]["hint"].as_str().expect("hint");
    assert!(
        hint.contains("ip_local_reserved_ports=40000,45000-45010,41000"),
        "{hint}"
    );

    sh_in(&ns, &format!("echo '{}' > {SYSCTL}", before.trim()));
    assert_eq!(sh_in(&ns, &format!("cat {SYSCTL}")), before);
}
