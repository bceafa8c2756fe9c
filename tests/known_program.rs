//! The program actually on a port: real processes named or run like a known program, on
//! that program's port inside a private network namespace, named in the listing (marked),
//! on the card, in JSON beside the IANA name, and used by the audit's service-mismatch rule;
//! the kubelet's read-only port is sensitive by its port alone.

mod common;

use common::listener::hex;
use common::netns::NetNs;
use common::tempdir;
use serde_json::Value;

fn row(doc: &Value, port: u16) -> &Value {
    doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .find(|l| l["port"] == port)
        .unwrap_or_else(|| panic!("no listener on {port}: {doc}"))
}

#[test]
fn a_known_program_on_its_port_is_named_and_marked() {
    let Some(ns) = NetNs::new() else { return };
    let home = tempdir();
    // Grafana's binary (a program installed at a system path under that name); run with
    // Elasticsearch's main class; plain Python.
    let Some(grafana) = ns.installed("grafana-server", &["tcp4:3000"]) else {
        return;
    };
    let w = NetNs::in_mounts_of(&grafana);
    let w: Vec<&str> = w.iter().map(String::as_str).collect();
    let _es = ns.listener(&[
        "tcp4:9200",
        "--",
        "org.elasticsearch.bootstrap.Elasticsearch",
    ]);
    let _plain = ns.listener(&["tcp4:5000"]);

    let (status, out, err) = ns.whoport_wrapped(home.path(), &[], &w, &["--json"]);
    assert_eq!(status, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).expect("json");
    let grafana = row(&doc, 3000);
    assert_eq!(grafana["service"], "hbci", "JSON keeps the IANA name");
    assert_eq!(grafana["known_use"]["program"], "Grafana");
    assert_eq!(grafana["known_use"]["role"], "default");
    assert!(grafana["known_use"]["source"]
        .as_str()
        .expect("source")
        .starts_with("https://grafana.com/"));
    let es = row(&doc, 9200);
    assert_eq!(es["service"], "wap-wsp");
    assert_eq!(es["known_use"]["program"], "Elasticsearch");
    // Python on 5000 is none of Kestrel, Flask, MLflow... as far as anyone can tell.
    assert!(row(&doc, 5000)["known_use"].is_null(), "{doc}");

    let (_, table, _) = ns.whoport_wrapped(home.path(), &[], &w, &["--color", "never"]);
    let line = |port: &str| {
        table
            .lines()
            .find(|l| l.contains(&format!(" {port} ")))
            .unwrap_or_else(|| panic!("no row for {port}: {table}"))
            .to_string()
    };
    assert!(line("3000").contains("Grafana*"), "{table}");
    assert!(!line("3000").contains("hbci"), "{table}");
    assert!(line("9200").contains("Elasticsearch*"), "{table}");
    assert!(line("5000").contains("commplex-main"), "{table}");
    assert!(
        table.contains("* a known program of this port"),
        "legend: {table}"
    );

    let (_, card, _) = ns.whoport_wrapped(home.path(), &[], &w, &["--color", "never", "3000"]);
    let headline = card.lines().next().unwrap_or("");
    assert!(headline.contains("Grafana*"), "{card}");
    assert!(
        card.contains("* a known program of this port"),
        "legend: {card}"
    );
}

#[test]
fn the_card_names_a_program_only_when_it_holds_every_listener() {
    let Some(ns) = NetNs::new() else { return };
    let home = tempdir();
    // Grafana on 127.0.0.1:3000, something else on [::1]:3000.
    let Some(grafana) = ns.installed("grafana-server", &["tcp4:3000"]) else {
        return;
    };
    let w = NetNs::in_mounts_of(&grafana);
    let w: Vec<&str> = w.iter().map(String::as_str).collect();
    let _other = ns.listener(&["tcp6:3000"]);
    let (_, card, _) = ns.whoport_wrapped(home.path(), &[], &w, &["--color", "never", "3000"]);
    let headline = card.lines().next().unwrap_or("");
    assert!(!headline.contains("Grafana"), "{card}");
    assert!(!card.contains("* a known program"), "{card}");
    // The listing still marks Grafana's own socket.
    let (_, out, _) = ns.whoport_wrapped(home.path(), &[], &w, &["--json", "3000"]);
    let doc: Value = serde_json::from_str(&out).expect("json");
    let programs: Vec<&Value> = doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .map(|l| &l["known_use"]["program"])
        .collect();
    assert_eq!(programs.len(), 2, "{doc}");
    assert!(programs.contains(&&Value::from("Grafana")), "{doc}");
    assert!(programs.contains(&&Value::Null), "{doc}");
}

#[test]
fn no_legend_when_nothing_is_recognised() {
    let Some(ns) = NetNs::new() else { return };
    let home = tempdir();
    let _plain = ns.listener(&["tcp4:3000"]);
    let (_, table, _) = ns.whoport(home.path(), &["--color", "never"]);
    assert!(table.contains("hbci"), "{table}");
    assert!(!table.contains('*'), "{table}");
    let (_, out, _) = ns.whoport(home.path(), &["--json"]);
    let doc: Value = serde_json::from_str(&out).expect("json");
    assert!(row(&doc, 3000)["known_use"].is_null());
}

fn mismatches(ns: &NetNs, pid: u32) -> Vec<Value> {
    let home = tempdir();
    let (_, out, err) = ns.whoport(home.path(), &["audit", "--json", "--pid", &pid.to_string()]);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["id"] == "service-mismatch")
        .cloned()
        .collect()
}

#[test]
fn service_mismatch_uses_the_same_matcher() {
    let Some(ns) = NetNs::new() else { return };
    // 6379 is IANA's redis; Ray's GCS server listens there by default.
    let ray = ns.listener(&["--comm-hex", &hex(b"gcs_server"), "tcp4:6379"]);
    assert!(mismatches(&ns, ray.pid).is_empty());
    drop(ray);
    let other = ns.listener(&["--comm-hex", &hex(b"not-ray"), "tcp4:6379"]);
    let found = mismatches(&ns, other.pid);
    assert_eq!(found.len(), 1, "{found:?}");
}

/// The audit's exposure finding for `pid`'s listener (the shell finding set aside: the test
/// listener is Python).
fn exposure(ns: &NetNs, pid: u32) -> Value {
    exposure_within(ns, &[], pid)
}

/// [`exposure`], whoport run through `wrapper`.
fn exposure_within(ns: &NetNs, wrapper: &[&str], pid: u32) -> Value {
    let home = tempdir();
    let (_, out, err) = ns.whoport_wrapped(
        home.path(),
        &[],
        wrapper,
        &[
            "audit",
            "--json",
            "--ignore",
            "shell-listener",
            "--pid",
            &pid.to_string(),
        ],
    );
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    let found: Vec<&Value> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["id"] == "exposed-all-interfaces")
        .collect();
    assert_eq!(found.len(), 1, "{doc:#}");
    found[0].clone()
}

#[test]
fn the_kubelet_read_only_port_is_sensitive_by_its_port_alone() {
    let Some(ns) = NetNs::new() else { return };
    // 10255 on all interfaces, by a process that is not named kubelet (a container runtime's
    // process, a renamed binary): the port alone says what it is.
    let unnamed = ns.listener(&["--comm-hex", &hex(b"node-agent"), "tcp4-any:10255"]);
    let f = exposure(&ns, unnamed.pid);
    assert_eq!(f["severity"], "high", "{f:#}");
    let m = f["message"].as_str().expect("message");
    assert!(
        m.contains("by its port alone") && m.contains("Kubernetes kubelet"),
        "{m}"
    );
    drop(unnamed);
    // The kubelet's other port is not taken on its port alone: an unknown service, medium.
    let api = ns.listener(&["--comm-hex", &hex(b"node-agent"), "tcp4-any:10250"]);
    let f = exposure(&ns, api.pid);
    assert_eq!(f["severity"], "medium", "{f:#}");
    assert!(
        !f["message"].as_str().expect("message").contains("kubelet"),
        "{f:#}"
    );
    drop(api);
    // The kubelet's binary (installed at a system path): recognised by its file's name, so
    // the message does not lean on the port.
    let Some(named) = ns.installed("kubelet", &["tcp4-any:10255"]) else {
        return;
    };
    let w = NetNs::in_mounts_of(&named);
    let w: Vec<&str> = w.iter().map(String::as_str).collect();
    let f = exposure_within(&ns, &w, named.pid);
    assert_eq!(f["severity"], "high", "{f:#}");
    let m = f["message"].as_str().expect("message");
    assert!(
        m.contains("Kubernetes kubelet") && !m.contains("by its port alone"),
        "{m}"
    );
}
