//! `route_localnet` (what kube-proxy turns on; CVE-2020-8558): with it on for a device, the
//! kernel accepts packets to 127.0.0.0/8 that arrive through that device, so a socket on
//! 127.0.0.1 bound to no device is reachable from that device's network. Staged for real in a
//! private network namespace with a veth device.

mod common;

use std::path::Path;

use common::netns::NetNs;
use common::tempdir;
use serde_json::Value;

fn sysctl(ns: &NetNs, setting: &str) {
    let status = ns
        .command(Path::new("sysctl"))
        .args(["-qw", setting])
        .status()
        .expect("sysctl runs");
    assert!(status.success(), "sysctl {setting}");
}

/// The listing's row of the socket on 127.0.0.1:`port` of `protocol`.
fn row(doc: &Value, protocol: &str, port: u16) -> Value {
    doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .find(|l| l["protocol"] == protocol && l["address"] == "127.0.0.1" && l["port"] == port)
        .cloned()
        .unwrap_or_else(|| panic!("{protocol} 127.0.0.1:{port} not in {doc}"))
}

/// Runs the binary given after it with `route_localnet` unreadable: a file system mounted over
/// the settings in a mount namespace of its own.
const UNREADABLE: [&str; 5] = [
    "unshare",
    "-m",
    "sh",
    "-c",
    "mount -t tmpfs none /proc/sys/net/ipv4/conf && exec \"$0\" \"$@\"",
];

#[test]
fn a_loopback_address_is_reachable_from_a_link_where_route_localnet_is_on() {
    let Some(ns) = NetNs::new() else {
        return;
    };
    ns.ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d1"]);
    ns.ip(&["link", "set", "d0", "up"]);
    ns.ip(&["link", "set", "d1", "up"]);
    let helper = ns.listener(&["--exit-after", "600", "udp4", "tcp4"]);
    let (udp, tcp) = (helper.port(0), helper.port(1));
    let home = tempdir();
    let json = |args: &[&str]| {
        let (status, out, err) = ns.whoport(home.path(), args);
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
        (status, doc)
    };

    // Off everywhere: loopback only, not exposed.
    let (_, doc) = json(&["--json"]);
    assert_eq!(row(&doc, "udp", udp)["scope"], "loopback", "{doc}");
    assert_eq!(json(&["--exposed", "--json"]).0, 1);

    sysctl(&ns, "net.ipv4.conf.d0.route_localnet=1");
    let (_, doc) = json(&["--json"]);
    for (protocol, port) in [("udp", udp), ("tcp", tcp)] {
        let r = row(&doc, protocol, port);
        assert_eq!(r["scope"], "specific", "{r}");
        assert_eq!(
            r["reach"],
            "loopback, but route_localnet is on for device d0: reachable from that link",
            "{r}"
        );
    }
    // From this machine it is still served at localhost.
    let (status, local) = json(&["--json", &format!("localhost:{udp}")]);
    assert_eq!(status, 0, "{local}");
    row(&local, "udp", udp);
    let (status, exposed) = json(&["--exposed", "--json"]);
    assert_eq!(status, 0, "{exposed}");
    row(&exposed, "udp", udp);
    let (_, audit) = json(&["audit", "--json"]);
    let findings = audit["findings"].to_string();
    assert!(
        findings.contains(&format!("udp 127.0.0.1:{udp}"))
            && findings.contains("route_localnet is on for device d0")
            && findings.contains("turn route_localnet off"),
        "{audit}"
    );
    let (_, card, _) = ns.whoport(home.path(), &["--color", "never", &udp.to_string()]);
    assert!(!card.contains("fine"), "{card}");
    assert!(
        card.contains("route_localnet is on for device d0"),
        "{card}"
    );

    // On for `all`: every device.
    sysctl(&ns, "net.ipv4.conf.d0.route_localnet=0");
    sysctl(&ns, "net.ipv4.conf.all.route_localnet=1");
    let (_, doc) = json(&["--json"]);
    assert_eq!(
        row(&doc, "udp", udp)["reach"],
        "loopback, but route_localnet is on for all devices: reachable from every link",
        "{doc}"
    );

    // Unreadable (a file system mounted over the settings): said unread, never taken as off.
    let (status, out, err) = ns.whoport_wrapped(
        home.path(),
        &[],
        &UNREADABLE,
        &["--color", "never", &udp.to_string()],
    );
    assert_eq!(status, 0, "{out}{err}");
    assert!(!out.contains("fine"), "{out}");
    assert!(out.contains("route_localnet could not be read"), "{out}");
    assert!(
        out.contains("unless route_localnet is on for a device (it could not be read)"),
        "{out}"
    );
    // --exposed and the audit, which take it as loopback only, say they do not know.
    let unread = "net.ipv4.conf.*.route_localnet could not be read: whether other machines reach";
    for args in [
        &["--exposed", "--json"][..],
        &["audit", "--format", "json"][..],
    ] {
        let (_, out, err) = ns.whoport_wrapped(home.path(), &[], &UNREADABLE, args);
        let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert!(
            doc["notes"].as_array().is_some_and(|n| n
                .iter()
                .any(|n| n.as_str().is_some_and(|n| n.starts_with(unread)))),
            "{args:?}: {out}{err}"
        );
    }

    // Off again: loopback only.
    sysctl(&ns, "net.ipv4.conf.all.route_localnet=0");
    let (_, doc) = json(&["--json"]);
    assert_eq!(row(&doc, "udp", udp)["reach"], "loopback only", "{doc}");
    drop(helper);
}

/// The `route_localnet` settings are read once for a listing, not once per socket: with many
/// sockets on 127.0.0.1, whoport opens each device's setting at most once (as strace shows),
/// whichever owner lookup runs, and still says what they are.
#[test]
fn the_settings_are_read_once_per_listing_not_per_socket() {
    if !common::have("strace", "apt-get install -y strace") {
        return;
    }
    let Some(ns) = NetNs::new() else {
        return;
    };
    ns.ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d1"]);
    sysctl(&ns, "net.ipv4.conf.d0.route_localnet=1");
    let specs = ["tcp4"; 40];
    let mut args = vec!["--exit-after", "600"];
    args.extend(specs);
    let helper = ns.listener(&args);
    let port = helper.port(39);
    let home = tempdir();
    let trace = home.path().join("openat.trace");
    let trace_arg = trace.to_string_lossy().into_owned();
    let strace = [
        "strace",
        "-f",
        "-qq",
        "-e",
        "trace=openat",
        "-o",
        &trace_arg,
    ];
    for lookup in ["bpf", "procfs"] {
        let env = [("WHOPORT_OWNER_LOOKUP", lookup)];
        let (_, out, err) = ns.whoport_wrapped(home.path(), &env, &strace, &["--json"]);
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
        assert_eq!(
            row(&doc, "tcp", port)["reach"],
            "loopback, but route_localnet is on for device d0: reachable from that link",
            "{lookup}: {doc}"
        );
        let text = std::fs::read_to_string(&trace).expect("the trace");
        let opened: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("/route_localnet\""))
            .collect();
        // `all`, d0 and d1: once each.
        assert!(
            opened.len() <= 3,
            "{lookup}: {} opens of route_localnet for 40 sockets:\n{}",
            opened.len(),
            opened.join("\n")
        );
    }
    drop(helper);
}

/// A file holding `1` bound over `net.ipv4.conf.all.route_localnet` (whose setting is 0), in
/// a mount namespace whoport runs in, made a loopback socket "reachable from every link". No
/// setting is read across a mount: it is said unread, never on (nor off).
#[test]
fn a_file_mounted_over_route_localnet_is_never_read_as_the_setting() {
    let Some(ns) = NetNs::new() else {
        return;
    };
    let helper = ns.listener(&["--exit-after", "600", "udp4"]);
    let udp = helper.port(0);
    sysctl(&ns, "net.ipv4.conf.all.route_localnet=0");
    let home = tempdir();
    let forged = home.path().join("on");
    std::fs::write(&forged, "1\n").expect("written");
    let script = format!(
        "mount --bind {} /proc/sys/net/ipv4/conf/all/route_localnet && exec \"$0\" \"$@\"",
        forged.display()
    );
    let wrapper = ["unshare", "-m", "sh", "-c", script.as_str()];
    let (_, out, err) = ns.whoport_wrapped(home.path(), &[], &wrapper, &["--json"]);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    let reach = row(&doc, "udp", udp)["reach"].to_string();
    assert!(!reach.contains("but route_localnet is on"), "{reach}");
    assert!(reach.contains("it could not be read"), "{reach}");
    drop(helper);
}
