//! What whoport says of a socket's device when it cannot be named: the device was deleted
//! after the socket was bound to it, or the source read (`/proc/net`, when the netlink socket
//! diagnostics are refused) does not say. Staged for real in a private network namespace
//! (wildcard binds, a veth pair), helpers killed by PID.

mod common;

use common::netns::NetNs;
use common::tempdir;
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
    let ip = |args: &[&str]| ns.ip(args);
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

/// A private network namespace, a temporary directory and the path of the shim that refuses
/// netlink there (for `LD_PRELOAD`); `None` (said skipped) when either cannot be had.
fn without_netlink() -> Option<(NetNs, tempfile::TempDir, String)> {
    let ns = NetNs::new()?;
    let dir = tempdir();
    let shim = common::no_netlink_shim(dir.path())?;
    let shim = shim.to_str().expect("utf8").to_string();
    Some((ns, dir, shim))
}

#[test]
fn without_netlink_a_wildcard_is_never_called_all_interfaces_as_a_fact() {
    let Some((ns, dir, shim)) = without_netlink() else {
        return;
    };
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

/// `0.0.0.0:P` and a v6-only `[::]:P` of one process, read from `/proc/net` (netlink refused):
/// the audit's group listens on both families, unless bound to a device, never "IPv4" alone.
#[test]
fn without_netlink_a_group_of_both_families_keeps_its_ipv6_side() {
    let Some((ns, dir, shim)) = without_netlink() else {
        return;
    };
    let helper = ns.listener(&["--exit-after", "30", "tcp6-any-v6only", "tcp4-any:same"]);
    let port = helper.port(0);
    let env = [("LD_PRELOAD", shim.as_str())];
    let (_, out, _) = ns.whoport_with(dir.path(), &env, &["audit", "--json"]);
    let audit: Value = serde_json::from_str(&out).expect("json");
    let messages: Vec<&str> = audit["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["message"].as_str())
        .filter(|m| m.contains(&format!("0.0.0.0:{port} and [::]:{port}")))
        .collect();
    assert!(!messages.is_empty(), "{audit}");
    for message in messages {
        assert!(
            message
                .contains("all interfaces, IPv4 and IPv6, unless bound to a device (not reported)"),
            "{message}"
        );
    }
}

fn notes(doc: &Value) -> Vec<String> {
    doc["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .map(|n| n.as_str().expect("note").to_string())
        .collect()
}

#[test]
fn without_netlink_a_device_binding_is_never_guessed_for_loopback_link_local_or_pasted_forms() {
    let Some((ns, dir, shim)) = without_netlink() else {
        return;
    };
    let ip = |args: &[&str]| ns.ip(args);
    ip(&[
        "link", "add", "wpf0", "type", "veth", "peer", "name", "wpf1",
    ]);
    ip(&["link", "set", "wpf0", "up"]);
    ip(&["-6", "addr", "add", "fe80::1/64", "dev", "lo", "nodad"]);
    // 0.0.0.0 bound to lo, 127.0.0.1 bound to wpf0 (loopback traffic cannot reach it), a
    // link-local address (bound to lo by its zone).
    let helper = ns.listener(&[
        "--exit-after",
        "60",
        "tcp4-any-lo",
        "tcp4@wpf0",
        "tcp6-linklocal",
    ]);
    let (any_lo, lo_on_dev, link_local) = (helper.port(0), helper.port(1), helper.port(2));
    let env = [("LD_PRELOAD", shim.as_str())];
    let run = |env: &[(&str, &str)], args: &[&str]| -> (i32, Value) {
        let (status, out, err) = ns.whoport_with(dir.path(), env, args);
        let doc = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {err}"));
        (status, doc)
    };
    // The kernel's answer (netlink) first: what /proc/net cannot say.
    let (_, exact) = run(&[], &["--json"]);
    assert_eq!(rows(&exact, lo_on_dev)[0]["scope"], "device");
    assert_eq!(rows(&exact, link_local)[0]["device"], "lo");
    // From /proc/net: a loopback address is loopback only unless bound to another device, a
    // link-local address is bound to a device not named; neither is a fact it does not know.
    let (_, doc) = run(&env, &["--json"]);
    assert_eq!(doc["source"], "/proc/net", "{doc}");
    let row = &rows(&doc, lo_on_dev)[0];
    assert_eq!(row["device_reported"], false, "{row}");
    assert_eq!(
        row["reach"],
        "loopback only, unless bound to another device than lo (not reported): then loopback \
         traffic cannot reach it",
        "{row}"
    );
    // The card's verdict says the same, never "loopback only" as a fact.
    let (_, card) = run(&env, &["--json", &lo_on_dev.to_string()]);
    let reasons = card["verdicts"][0]["reasons"].to_string();
    assert!(
        reasons.contains("unless bound to another device than lo (not reported)")
            && !reasons.contains("\"loopback only\""),
        "{card}"
    );
    let row = &rows(&doc, link_local)[0];
    assert_eq!(
        row["reach"], "one link-local address, bound to a device that was not reported",
        "{row}"
    );
    // --exposed counts the wildcard and the link-local address (either may be reachable),
    // with the qualification in the summary.
    let (_, exposed) = run(&env, &["--json", "--exposed"]);
    assert_eq!(rows(&exposed, any_lo).len(), 1, "{exposed}");
    assert_eq!(rows(&exposed, link_local).len(), 1, "{exposed}");
    assert!(rows(&exposed, lo_on_dev).is_empty(), "{exposed}");
    let (_, listing, _) = ns.whoport_with(dir.path(), &env, &["--exposed"]);
    assert!(
        listing.contains("2 reachable from other machines unless bound to a device (not reported)"),
        "{listing}"
    );
    // The audit's exposure finding for the link-local address says the device is unknown.
    let (_, audit) = run(&env, &["audit", "--json"]);
    let about: Vec<&Value> = audit["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["listener"]["port"] == link_local)
        .collect();
    assert!(
        about.iter().any(|f| f["message"]
            .as_str()
            .is_some_and(|m| m.contains("bound to a device that was not reported"))),
        "{audit}"
    );
    // Pasted device forms: what would serve them is shown, with a note that the device cannot
    // be checked; never "nothing matches".
    for (pasted, port) in [
        (format!("*%lo:{any_lo}"), any_lo),
        (format!("0.0.0.0%lo:{any_lo}"), any_lo),
        (format!("*%wpf0:{any_lo}"), any_lo),
        (format!("[fe80::1%lo]:{link_local}"), link_local),
    ] {
        let (status, doc) = run(&env, &["--json", &pasted]);
        assert_eq!(status, 0, "{pasted}: {doc}");
        assert_eq!(rows(&doc, port).len(), 1, "{pasted}: {doc}");
        assert!(
            notes(&doc).iter().any(|n| n.starts_with(&format!(
                "{pasted} cannot be checked without the netlink socket diagnostics: tcp "
            ))),
            "{pasted}: {doc}"
        );
        // With netlink the device is known: lo's forms match, wpf0's does not.
        let (status, doc) = run(&[], &["--json", &pasted]);
        let want = usize::from(!pasted.contains("wpf0"));
        assert_eq!(rows(&doc, port).len(), want, "{pasted}: {doc}");
        assert_eq!(status, if want == 1 { 0 } else { 1 }, "{pasted}: {doc}");
        assert!(
            !notes(&doc).iter().any(|n| n.contains("cannot be checked")),
            "{doc}"
        );
    }
    // A device no interface here is named: nothing is bound to it, from either source.
    let pasted = format!("*%wpfnone:{any_lo}");
    let (status, doc) = run(&env, &["--json", &pasted]);
    assert_eq!(status, 1, "{doc}");
    assert!(rows(&doc, any_lo).is_empty(), "{doc}");
    assert!(
        !notes(&doc).iter().any(|n| n.contains("cannot be checked")),
        "{doc}"
    );
}

/// Any user may name a device in a network namespace of their own, with any byte but `/`,
/// `:` and whitespace: a name holding ESC reaches no terminal raw, on the card (its reach
/// words, the "hidden by" lines), in `check`, the listing, the audit.
#[test]
fn a_device_name_with_control_bytes_is_escaped_in_every_output() {
    let Some(ns) = NetNs::new() else {
        return;
    };
    let device = "e\x1b[31m\x07";
    ns.ip(&[
        "link", "add", device, "type", "veth", "peer", "name", "wpe1",
    ]);
    ns.ip(&["link", "set", device, "up"]);
    let helper = ns.listener(&["--exit-after", "30", &format!("tcp4-any@{device}")]);
    let port = helper.port(0).to_string();
    let home = tempdir();
    let pasted = format!("127.0.0.1:{port}");
    let runs: [Vec<&str>; 11] = [
        vec![&port],
        vec![&port, "--wide"],
        vec![&pasted],
        vec![&port, "-6"],
        vec![&port, "--process", "no-such-program"],
        vec!["check", &port],
        vec![],
        vec!["--wide"],
        vec!["audit"],
        vec!["audit", "--json"],
        vec!["--json"],
    ];
    for args in runs {
        let (_, out, err) = ns.whoport(home.path(), &args);
        for text in [&out, &err] {
            assert!(!text.contains(['\x1b', '\x07']), "{args:?}: raw {text:?}");
        }
        if args.first() == Some(&port.as_str()) || args.first() == Some(&"check") {
            assert!(out.contains("e\\e[31m\\x07"), "{args:?}: {out}");
        }
    }
    let (_, card, _) = ns.whoport(home.path(), &[&port]);
    assert!(
        card.contains("what arrives through e\\e[31m\\x07, to any"),
        "{card}"
    );
}
