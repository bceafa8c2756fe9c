//! `whoport free`: every suggested port checked against the registry, the unofficial table,
//! the services file and the ephemeral range; a custom ephemeral range and reserved ports set
//! inside a private network namespace; a port in use is never suggested.

mod common;

use std::path::Path;

use common::netns::{in_private_mount_ns, NetNs};
use common::{json_status, run, tempdir};
use serde_json::Value;
use whoport::port::{parse_ephemeral, Protocol};
use whoport::registry::iana::Status;
use whoport::registry::{unofficial, Knowledge};

fn knowledge() -> Knowledge {
    let mut warnings = Vec::new();
    Knowledge::load(None, &mut warnings).expect("registry")
}

/// Would the registry rules of `free` let `port` through?
fn registry_allows(k: &Knowledge, port: u16) -> bool {
    Protocol::ALL.into_iter().all(|p| {
        !matches!(
            k.iana.status(port, p).status,
            Status::Assigned | Status::Reserved
        )
    }) && unofficial::for_port(port, None).is_empty()
        && k.local.for_port(port, None).is_empty()
}

fn ports(doc: &Value) -> Vec<u16> {
    doc["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .map(|p| p["port"].as_u64().expect("port") as u16)
        .collect()
}

#[test]
fn suggested_ports_pass_every_rule() {
    let (status, doc) = json_status(&["free", "--count", "25", "--json"]);
    assert_eq!(status, 0, "{doc}");
    let found = ports(&doc);
    assert_eq!(found.len(), 25, "{doc}");
    let k = knowledge();
    let (start, end) = parse_ephemeral(
        &std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").expect("range"),
    )
    .expect("two numbers");
    for &port in &found {
        assert!(port > 1023, "{port}");
        assert!(!(start..=end).contains(&port), "{port} is ephemeral");
        assert!(registry_allows(&k, port), "{port} is known to the registry");
    }
    assert_eq!(doc["ephemeral_range"]["start"], start);
    let reasons = doc["ports"][0]["reasons"].as_array().expect("reasons");
    assert!(
        reasons
            .iter()
            .any(|r| r.as_str().expect("text").contains("ephemeral range")),
        "{reasons:?}"
    );
    // Plain output: one port per line, nothing else.
    let (status, out, _) = run(&["free"]);
    assert_eq!(status, 0);
    assert_eq!(out.lines().count(), 1, "{out}");
    let port: u16 = out.trim().parse().expect("a port number");
    assert!(registry_allows(&k, port), "{port}");
    // And check agrees, right now, for both protocols.
    assert_eq!(run(&["check", &port.to_string()]).0, 0, "{port}/tcp");
    assert_eq!(run(&["check", &format!("{port}/udp")]).0, 0, "{port}/udp");
}

/// A run's status, stdout and stderr.
type Outcome = (i32, String, String);

#[test]
fn first_gives_the_lowest_candidates() {
    let first = |run: &dyn Fn(&[&str]) -> Outcome, count: &str| -> Vec<u16> {
        let (status, out, err) = run(&[
            "free",
            "--range",
            "20000-29999",
            "--first",
            "--count",
            count,
            "--json",
        ]);
        assert_eq!(status, 0, "{out} {err}");
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        ports(&doc)
    };
    // On the machine: three candidates in order, within the range (which ports other
    // programs hold there changes from one moment to the next).
    let found = first(&|args| run(args), "3");
    assert_eq!(found.len(), 3);
    assert!(found.windows(2).all(|w| w[0] < w[1]), "{found:?}");
    assert!(found.iter().all(|p| (20000..=29999).contains(p)));
    // In a network namespace of the test's own, where the test decides what is in use: the
    // lowest ports the registry rules let through, less those held for either protocol.
    let Some(ns) = NetNs::new() else { return };
    let k = knowledge();
    let allowed: Vec<u16> = (20000..=29999)
        .filter(|&p| registry_allows(&k, p))
        .take(5)
        .collect();
    let _tcp = ns.listener(&[&format!("tcp4:{}", allowed[0])]);
    let _udp = ns.listener(&[&format!("udp4:{}", allowed[1])]);
    let home = tempdir();
    let in_ns = |args: &[&str]| ns.whoport(home.path(), args);
    assert_eq!(
        first(&in_ns, "3"),
        allowed[2..5],
        "the lowest are the lowest"
    );
    assert_eq!(first(&in_ns, "1"), allowed[2..3]);
}

#[test]
fn a_range_without_candidates_exits_1() {
    for range in ["22-22", "80-1023"] {
        let (status, out, err) = run(&["free", "--range", range]);
        assert_eq!(status, 1, "{range}: {out}");
        assert!(out.is_empty(), "{out}");
        assert!(err.contains("no port in"), "{err}");
    }
    assert_eq!(run(&["free", "--range", "9-1"]).0, 2);
    assert_eq!(run(&["free", "--count", "0"]).0, 2);
}

/// Two neighbouring ports below 32768 that the registry rules let through.
fn two_unknown_ports(k: &Knowledge) -> (u16, u16) {
    (20000..32000)
        .find(|&p| registry_allows(k, p) && registry_allows(k, p + 1))
        .map(|p| (p, p + 1))
        .expect("two unassigned neighbours")
}

fn set_in(ns: &NetNs, sysctl: &str, value: &str) {
    let status = ns
        .command(Path::new("/bin/sh"))
        .args([
            "-c",
            &format!("echo '{value}' > /proc/sys/net/ipv4/{sysctl}"),
        ])
        .status()
        .expect("sh runs");
    assert!(status.success(), "setting {sysctl} in the namespace");
}

#[test]
fn a_custom_ephemeral_range_and_reserved_ports_are_honoured() {
    let Some(ns) = NetNs::new() else { return };
    let k = knowledge();
    let (a, b) = two_unknown_ports(&k);
    // Only the namespace's settings change; they go with it.
    set_in(&ns, "ip_local_port_range", &format!("{a} {}", a + 1000));
    let home = tempdir();
    let range = format!("{}-{}", a.saturating_sub(10).max(1024), a + 1010);
    let (status, out, err) = ns.whoport(
        home.path(),
        &["free", "--range", &range, "--count", "500", "--json"],
    );
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert_eq!(doc["ephemeral_range"]["start"], a, "{doc}");
    let found = ports(&doc);
    assert!(
        found.iter().all(|p| !(a..=a + 1000).contains(p)),
        "{found:?} inside {a}-{}",
        a + 1000
    );
    assert_eq!(doc["excluded"]["ephemeral"], 1001, "{doc}");
    assert_eq!(status, 0, "{doc}");

    // Reserved ports are not offered, and check says the port is reserved.
    set_in(&ns, "ip_local_port_range", "40000 40100");
    set_in(&ns, "ip_local_reserved_ports", &a.to_string());
    let (status, _, _) = ns.whoport(home.path(), &["free", "--range", &a.to_string()]);
    assert_eq!(status, 1);
    set_in(&ns, "ip_local_reserved_ports", "40050");
    let (_, out, _) = ns.whoport(home.path(), &["check", "40050", "--json"]);
    let doc: Value = serde_json::from_str(&out).expect("json");
    let advice = doc["advice"].as_array().expect("advice");
    assert!(
        advice.iter().any(|x| x["kind"] == "ephemeral-range"
            && x["text"].as_str().expect("text").contains("reserves it")),
        "{doc}"
    );

    // A port held for TCP only is not free for "both protocols", nor for TCP; it is for UDP.
    let _held = ns.listener(&[&format!("tcp4:{b}")]);
    let range = format!("{b}-{b}");
    assert_eq!(ns.whoport(home.path(), &["free", "--range", &range]).0, 1);
    assert_eq!(
        ns.whoport(home.path(), &["free", "--range", &range, "--tcp"])
            .0,
        1
    );
    let (status, out, _) = ns.whoport(home.path(), &["free", "--range", &range, "--udp"]);
    assert_eq!(status, 0);
    assert_eq!(out.trim(), b.to_string());
}

/// Under a `/proc` without `/proc/sys` (mounted with `subset=pid`, as systemd's
/// `ProcSubset=pid` gives a service), the ephemeral range and reserved ports cannot be read:
/// `free` offers no port (exit status 2, naming the settings not read), and the card says the
/// range is not known instead of calling Linux's default this machine's.
#[test]
fn unreadable_port_settings_are_said_unread_and_free_offers_nothing() {
    let Some(ns) = NetNs::new() else { return };
    set_in(&ns, "ip_local_port_range", "1024 9999");
    set_in(&ns, "ip_local_reserved_ports", "1024-1200");
    let home = tempdir();
    let subset =
        in_private_mount_ns("mount -t proc -o subset=pid proc /proc && exec \"$0\" \"$@\"");
    let (status, out, err) =
        ns.whoport_wrapped(home.path(), &[], &subset, &["free", "--first", "--json"]);
    assert_eq!(status, 2, "{out}{err}");
    assert!(out.is_empty(), "no port offered: {out}");
    for setting in ["ip_local_port_range", "ip_local_reserved_ports"] {
        assert!(
            err.contains(&format!("/proc/sys/net/ipv4/{setting} could not be read")),
            "{err}"
        );
    }
    let (_, out, err) = ns.whoport_wrapped(home.path(), &[], &subset, &["1100"]);
    assert!(
        out.contains("Whether outgoing connections may take 1100 is not known: this machine's ephemeral range is not known (/proc/sys/net/ipv4/ip_local_port_range could not be read"),
        "{out}{err}"
    );
    assert!(
        !out.contains("this machine's ephemeral range 32768"),
        "{out}"
    );
    let (_, out, err) = ns.whoport_wrapped(home.path(), &[], &subset, &["1100", "--json"]);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert_eq!(doc["ephemeral"], Value::Null, "{doc}");
    assert_eq!(doc["reserved_from_ephemeral"], Value::Null, "{doc}");
    assert!(doc["ephemeral_range"]["unread"].is_string(), "{doc}");
    // Read, the same settings are honoured.
    let (status, out, err) = ns.whoport(home.path(), &["free", "--first", "--range", "1024-1300"]);
    assert_eq!(
        status, 1,
        "every port of 1024-1300 is ephemeral: {out}{err}"
    );
    let (_, out, _) = ns.whoport(home.path(), &["1100", "--json"]);
    let doc: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(doc["ephemeral"], true, "{doc}");
    assert_eq!(doc["reserved_from_ephemeral"], true, "{doc}");
    assert_eq!(doc["ephemeral_range"]["unread"], Value::Null, "{doc}");
}

/// The settings of [`unreadable_port_settings_are_said_unread_and_free_offers_nothing`], and a
/// loopback listener on 1100 (inside that range, reserved): where the settings cannot be read,
/// `check` and the audit say that they did not judge the port against them (a note in text
/// and JSON, and a series for Prometheus), and raise no `ephemeral-range`; with the reserved
/// ports alone unread (a file bound over them, which is not read), likewise for a port inside
/// the range.
#[test]
fn unreadable_port_settings_are_said_unjudged_by_check_and_the_audit() {
    let Some(ns) = NetNs::new() else { return };
    set_in(&ns, "ip_local_port_range", "1024 9999");
    set_in(&ns, "ip_local_reserved_ports", "1024-1200");
    let _listener = ns.listener(&["tcp4:1100"]);
    let home = tempdir();
    let bad = home.path().join("not-a-list");
    std::fs::write(&bad, "x\n").expect("write");
    let subset = "mount -t proc -o subset=pid proc /proc".to_string();
    let reserved = format!(
        "mount --bind {} /proc/sys/net/ipv4/ip_local_reserved_ports",
        bad.display()
    );
    for (hide, range_read) in [(subset, false), (reserved, true)] {
        let script = format!("{hide} && exec \"$0\" \"$@\"");
        let wrapper = in_private_mount_ns(&script);
        let run = |args: &[&str]| ns.whoport_wrapped(home.path(), &[], &wrapper, args);
        let (check_said, audit_said) = if range_read {
            (
                "whether outgoing connections may take 1150 is not known: 1150 is inside this \
                 machine's ephemeral range 1024-9999 (/proc/sys/net/ipv4/ip_local_port_range), \
                 and whether net.ipv4.ip_local_reserved_ports reserves it is not known \
                 (/proc/sys/net/ipv4/ip_local_reserved_ports was not read: something is \
                 mounted over it or on the way to it, which whoport does not read through)",
                "ephemeral-range was not judged for port 1100 inside this machine's ephemeral \
                 range 1024-9999",
            )
        } else {
            (
                "whether outgoing connections may take 1150 is not known: this machine's \
                 ephemeral range is not known (/proc/sys/net/ipv4/ip_local_port_range could \
                 not be read",
                "ephemeral-range was not judged: this machine's ephemeral range is not known \
                 (/proc/sys/net/ipv4/ip_local_port_range could not be read",
            )
        };
        let (_, out, err) = run(&["check", "1150"]);
        assert!(out.contains(&format!("note: {check_said}")), "{out}{err}");
        let (_, out, err) = run(&["check", "1150", "--json"]);
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
        let said = |doc: &Value, text: &str| {
            doc["notes"]
                .as_array()
                .expect("notes")
                .iter()
                .any(|n| n.as_str().is_some_and(|n| n.starts_with(text)))
        };
        assert!(said(&doc, check_said), "{doc}");
        let (_, out, err) = run(&["audit", "--json"]);
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
        assert!(said(&doc, audit_said), "{doc}");
        assert!(
            !doc["findings"]
                .as_array()
                .expect("findings")
                .iter()
                .any(|f| f["id"] == "ephemeral-range"),
            "{doc}"
        );
        let (_, out, err) = run(&["audit"]);
        assert!(out.contains(audit_said), "{out}{err}");
        let (_, out, err) = run(&["audit", "--format", "prometheus"]);
        assert!(
            out.contains("whoport_findings_not_judged{id=\"ephemeral-range\"} 1\n"),
            "{out}{err}"
        );
        assert!(
            out.contains("whoport_findings_not_judged{id=\"deleted-executable\"} 0\n"),
            "{out}"
        );
    }
    // Read, the port is judged, and nothing is said.
    let (_, out, err) = ns.whoport(home.path(), &["audit", "--format", "prometheus"]);
    assert!(
        out.contains("whoport_findings_not_judged{id=\"ephemeral-range\"} 0\n"),
        "{out}{err}"
    );
}

/// With `/proc/sys` unreadable (`subset=pid`), `check` does not take 1024 for this machine's
/// first unprivileged port: as `nobody`, a refused bind on port 80 is said to need privilege or
/// to be refused by a policy (whoport cannot tell which), never "below
/// net.ipv4.ip_unprivileged_port_start (1024)"; as root, a note says whether it needs privilege
/// is not known, instead of advice built on the default.
#[test]
fn an_unread_first_unprivileged_port_is_not_taken_for_1024() {
    if !common::have("setpriv", "apt-get install -y util-linux") {
        return;
    }
    let Some(ns) = NetNs::new() else { return };
    let home = common::shared_tempdir();
    let note = "whether binding 80 needs root or CAP_NET_BIND_SERVICE is not known: \
                net.ipv4.ip_unprivileged_port_start was not read \
                (/proc/sys/net/ipv4/ip_unprivileged_port_start could not be read";
    for nobody in [false, true] {
        let drop_to = if nobody {
            "setpriv --reuid=65534 --regid=65534 --clear-groups "
        } else {
            ""
        };
        let script =
            format!("mount -t proc -o subset=pid proc /proc && exec {drop_to}\"$0\" \"$@\"");
        let wrapper = in_private_mount_ns(&script);
        let (_, out, err) =
            ns.whoport_wrapped(home.path(), &[], &wrapper, &["check", "80", "--json"]);
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
        let text = doc.to_string();
        assert!(!text.contains("(1024)"), "nobody {nobody}: {doc}");
        let notes = doc["notes"].as_array().expect("notes");
        assert!(
            notes
                .iter()
                .any(|n| n.as_str().is_some_and(|n| n.starts_with(note))),
            "nobody {nobody}: {doc}"
        );
        let kinds: Vec<&str> = doc["attempts"]
            .as_array()
            .expect("attempts")
            .iter()
            .flat_map(|t| t["obstacles"].as_array().expect("obstacles"))
            .map(|o| o["kind"].as_str().expect("kind"))
            .collect();
        if nobody {
            assert!(kinds.contains(&"denied"), "{doc}");
            assert!(!kinds.contains(&"denied-by-policy"), "{doc}");
            assert!(!kinds.contains(&"privileged-port"), "{doc}");
            // `wait --free` is not refused on the default's word: it waits, until --timeout.
            let (status, out, err) = ns.whoport_wrapped(
                home.path(),
                &[],
                &wrapper,
                &["wait", "80", "--free", "--timeout", "1s"],
            );
            assert!(!err.contains("(1024)"), "{status}: {out}{err}");
            assert_eq!(status, 1, "timed out: {out}{err}");
        } else {
            assert!(kinds.is_empty(), "root binds 80: {doc}");
        }
    }
}

/// A file bound over `/proc/sys/net/ipv4/ip_local_port_range` (in a mount namespace whoport
/// runs in) lent whoport a forged range, `1024 1100`, said to be this machine's (the card's
/// `ephemeral_range`, and the range `free` kept out of its offers). No setting is read across
/// a mount: the range is said unread, and why, and `free` offers nothing it could not check.
#[test]
fn a_setting_mounted_over_is_never_read_as_the_machines() {
    if !common::root_or_skip("a private mount namespace") {
        return;
    }
    let dir = tempdir();
    let forged = dir.path().join("range");
    std::fs::write(&forged, "1024\t1100\n").expect("written");
    let within = |args: &str| {
        common::sh_within(
            &format!(
                "exec unshare -m --propagation private sh -c 'mount --bind {} \
                 /proc/sys/net/ipv4/ip_local_port_range && exec \"$WHOPORT\" {args}'",
                forged.display()
            ),
            std::time::Duration::from_secs(60),
        )
    };
    let words = "/proc/sys/net/ipv4/ip_local_port_range was not read: something is mounted \
                 over it or on the way to it, which whoport does not read through";
    let (_, out, err) = within("--json 43113");
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert_ne!(doc["ephemeral_range"]["start"], 1024, "{doc}");
    let unread = doc["ephemeral_range"]["unread"]
        .as_str()
        .unwrap_or_default();
    assert!(unread.contains(words), "{doc}");
    let (status, out, err) = within("free");
    assert_eq!((status, out.as_str()), (2, ""), "{err}");
    assert!(err.contains(words), "{err}");
}

/// `/proc/sys` bound read-only over itself, as Docker, podman, runc and systemd's
/// `ProtectKernelTunables=` make it: every setting below it was "not read: something is
/// mounted over it", `free` failed (exit 2) and the range was the platform's default. A bind
/// of procfs's own `/proc/sys` onto its own place is read through; another setting's file
/// bound over one (procfs too) still is not.
#[test]
fn a_read_only_bind_of_proc_sys_over_itself_is_read_through() {
    if !common::root_or_skip("a private mount namespace") {
        return;
    }
    let within = |mounts: &str, args: &str| {
        common::sh_within(
            &format!(
                "exec unshare -m --propagation private sh -c '{mounts} && exec \"$WHOPORT\" \
                 {args}'"
            ),
            std::time::Duration::from_secs(60),
        )
    };
    let self_bind = "mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys";
    let real: Vec<u64> = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .expect("the range")
        .split_whitespace()
        .map(|n| n.parse().expect("a number"))
        .collect();
    let (_, out, err) = within(self_bind, "--json 43116");
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    assert!(doc["ephemeral_range"]["unread"].is_null(), "{doc}");
    assert_eq!(doc["ephemeral_range"]["start"], real[0], "{doc}");
    assert_eq!(doc["ephemeral_range"]["end"], real[1], "{doc}");
    let (status, out, err) = within(self_bind, "free -n 2");
    assert_eq!(status, 0, "{out} {err}");
    assert!(!out.trim().is_empty(), "{err}");
    let other = format!(
        "{self_bind} && mount --bind /proc/sys/net/ipv4/ip_local_reserved_ports \
         /proc/sys/net/ipv4/ip_local_port_range"
    );
    let (_, out, err) = within(&other, "--json 43116");
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    let unread = doc["ephemeral_range"]["unread"]
        .as_str()
        .unwrap_or_default();
    assert!(unread.contains("something is mounted"), "{doc}");
}
