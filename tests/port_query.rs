//! `whoport PORT|RANGE|SERVICE` through the real binary: the card, JSON, ranges, service names
//! and every bad input.

mod common;

use common::{json, run};
use serde_json::Value;

fn registry_for<'a>(doc: &'a Value, protocol: &str) -> &'a Value {
    doc["registry"]
        .as_array()
        .expect("registry array")
        .iter()
        .find(|r| r["protocol"] == protocol)
        .unwrap_or_else(|| panic!("no {protocol} entry in {doc}"))
}

/// The `port` of every object in a document's `ports` array.
fn ports_of(doc: &Value) -> Vec<u64> {
    doc["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .map(|p| p["port"].as_u64().expect("port"))
        .collect()
}

fn service_names(entry: &Value) -> Vec<&str> {
    entry["services"]
        .as_array()
        .expect("services array")
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect()
}

#[test]
fn card_json_for_port_80() {
    let doc = json(&["80", "--json"]);
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["port"], 80);
    assert_eq!(doc["range"], "well-known");
    assert_eq!(doc["ephemeral"], false);
    let tcp = registry_for(&doc, "tcp");
    assert_eq!(tcp["status"], "assigned");
    assert_eq!(service_names(tcp), ["http", "www", "www-http"]);
    assert_eq!(tcp["services"][0]["description"], "World Wide Web HTTP");
    assert_eq!(tcp["services"][0]["reference"], "[RFC9110]");
    assert_eq!(
        tcp["services"][2]["reference"],
        Value::Null,
        "unknown is null"
    );
    // SCTP has a row for 80, DCCP does not.
    assert_eq!(service_names(registry_for(&doc, "sctp")), ["http"]);
    let protocols: Vec<&str> = doc["registry"]
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["protocol"].as_str().expect("protocol"))
        .collect();
    assert_eq!(protocols, ["tcp", "udp", "sctp"]);
    assert!(doc["ephemeral_range"]["start"].is_u64());
    assert_eq!(doc["registry_snapshot"].as_str().map(str::len), Some(10));
}

#[test]
fn card_json_statuses() {
    let dynamic = json(&["49152", "--json"]);
    assert_eq!(dynamic["range"], "dynamic");
    assert_eq!(registry_for(&dynamic, "tcp")["status"], "dynamic");
    let x11 = json(&["6010/tcp", "--json"]);
    let tcp = registry_for(&x11, "tcp");
    assert_eq!(service_names(tcp), ["x11"]);
    assert_eq!(tcp["services"][0]["port_range"], "6000-6063");
    assert_eq!(
        x11["registry"].as_array().map(Vec::len),
        Some(1),
        "only tcp asked"
    );
    let unassigned = json(&["4/tcp", "--json"]);
    assert_eq!(registry_for(&unassigned, "tcp")["status"], "unassigned");
    let reserved = json(&["0", "--json"]);
    assert_eq!(registry_for(&reserved, "udp")["status"], "reserved");
    let registered = json(&[":2668", "--json"]);
    assert_eq!(registered["port"], 2668);
    assert_eq!(registered["range"], "registered");
}

#[test]
fn card_json_carries_unofficial_uses_and_iana_notes() {
    let doc = json(&["3000", "--json"]);
    let programs: Vec<&str> = doc["unofficial"]
        .as_array()
        .expect("unofficial array")
        .iter()
        .map(|u| u["program"].as_str().expect("program"))
        .collect();
    assert!(programs.contains(&"Grafana"), "{programs:?}");
    assert!(doc["unofficial"][0]["source"]
        .as_str()
        .is_some_and(|s| s.starts_with("https://")));
    let tcp = registry_for(&doc, "tcp");
    assert!(tcp["services"]
        .as_array()
        .expect("services")
        .iter()
        .any(|s| s["notes"]
            .as_str()
            .is_some_and(|n| n.contains("unassigned but widespread use"))));
}

#[test]
fn card_table_has_its_sections_in_order() {
    let (status, out, _) = run(&["443"]);
    let headline = out.lines().next().expect("headline");
    assert!(
        headline.starts_with("Port 443 · well-known (0-1023) · tcp: assigned (https)"),
        "{headline}"
    );
    // Who is listening comes right under the headline; exit status 1 when nobody is.
    let live = match status {
        0 => "Listening on 443:",
        1 => "Nothing is listening on 443/tcp, 443/udp or 443/udplite in this network namespace.",
        other => panic!("status {other}"),
    };
    let order = [
        live,
        "IANA registry (snapshot ",
        "Local services database",
        "Known unofficial uses",
        "Ephemeral range",
    ];
    let positions: Vec<usize> = order
        .iter()
        .map(|s| {
            out.find(s)
                .unwrap_or_else(|| panic!("missing {s:?} in\n{out}"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "sections out of order:\n{out}"
    );
    assert!(out.contains("http protocol over TLS/SSL"), "{out}");
    assert!(!out.contains('\u{1b}'), "no colour when piped");
}

#[test]
fn card_uses_the_local_services_file() {
    let dir = common::tempdir();
    let services = dir.path().join("services");
    std::fs::write(&services, "myproto\t2668/tcp\tmp-alias # test\n").expect("write");
    let out = common::whoport(dir.path())
        .args(["2668", "--json"])
        .env("WHOPORT_SERVICES_FILE", &services)
        .output()
        .expect("runs");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(doc["local_services"][0]["name"], "myproto");
    assert_eq!(doc["local_services"][0]["aliases"][0], "mp-alias");
    let text = common::whoport(dir.path())
        .arg("2668")
        .env("WHOPORT_SERVICES_FILE", &services)
        .output()
        .expect("runs");
    let text = String::from_utf8(text.stdout).expect("utf8");
    assert!(
        text.contains("2668/tcp: myproto (aliases: mp-alias)"),
        "{text}"
    );
}

#[test]
fn colour_is_forced_and_refused() {
    let (_, out, _) = run(&["22", "--color", "always"]);
    assert!(
        out.contains("\u{1b}["),
        "--color always colours even in a pipe"
    );
    let dir = common::tempdir();
    let out = common::whoport(dir.path())
        .args(["22", "--color", "never"])
        .output()
        .expect("runs");
    assert!(!out.stdout.contains(&0x1b));
}

#[test]
fn range_lists_only_ports_with_something_to_say() {
    let doc = json(&["8000-8100", "--json"]);
    assert_eq!(doc["schema_version"], 1);
    let ports = ports_of(&doc);
    assert!(ports.contains(&8080), "{ports:?}");
    assert!(ports.contains(&8000));
    assert!(ports.windows(2).all(|w| w[0] < w[1]), "sorted");
    assert!(ports.iter().all(|p| (8000..=8100).contains(p)));
    // 8011 has no IANA tenant, no local name and no known unofficial use.
    let k = json(&["8011", "--json"]);
    assert!(k["unofficial"].as_array().is_some_and(Vec::is_empty));
    assert_eq!(registry_for(&k, "tcp")["status"], "unassigned");
    assert_eq!(registry_for(&k, "udp")["status"], "unassigned");
    assert!(!ports.contains(&8011));
    let (status, out, _) = run(&["8000-8100"]);
    assert!(status == 0 || status == 1, "{status}");
    assert!(out.contains("8080") && out.contains("http-alt"), "{out}");
}

#[test]
fn service_names_resolve_case_insensitively() {
    let doc = json(&["SSH", "--json"]);
    let ports = ports_of(&doc);
    assert_eq!(ports, [22]);
    // IANA's duplicate names are names too.
    let www = json(&["www-http", "--json"]);
    assert_eq!(www["ports"][0]["port"], 80);
    // A range entry is one object for the whole range, not one per port.
    let x11 = json(&["x11/tcp", "--json"]);
    assert_eq!(x11["ports"].as_array().map(Vec::len), Some(1));
    assert_eq!(x11["ports"][0]["port"], 6000);
    assert_eq!(x11["ports"][0]["port_range"], "6000-6063");
    assert_eq!(x11["ports"][0]["registry"][0]["services"][0]["name"], "x11");
    // Kubernetes NodePorts: once, not 2,768 rows.
    let (_, table, _) = run(&["nodeport", "--color", "never"]);
    assert_eq!(table.matches("30000-32767").count(), 1, "{table}");
    assert!(!table.contains("30001"), "{table}");
    // A program from the unofficial table.
    let kafka = json(&["kafka", "--json"]);
    let kafka_ports = ports_of(&kafka);
    assert!(kafka_ports.contains(&9092), "{kafka_ports:?}");
    // A name with no port in the registry.
    let argus = json(&["argus", "--json"]);
    assert!(argus["ports"].as_array().is_some_and(Vec::is_empty));
    assert_eq!(argus["portless"][0]["name"], "argus");
}

#[test]
fn bad_input_is_one_line_naming_the_value_with_status_2() {
    let cases: [(&str, &str); 6] = [
        ("65536", "'65536'"),
        ("-1", "'-1'"),
        ("80-20", "'80-20'"),
        ("2668/xyz", "'2668/xyz'"),
        ("", "empty"),
        ("8080x", "'8080x'"),
    ];
    for (arg, named) in cases {
        let (status, out, err) = run(&[arg]);
        assert_eq!(status, 2, "{arg:?}: {err}");
        assert!(out.is_empty(), "{arg:?}: nothing on stdout");
        assert_eq!(err.lines().count(), 1, "{arg:?}: one line: {err}");
        assert!(err.starts_with("whoport: "), "{arg:?}: {err}");
        assert!(err.contains(named), "{arg:?}: {err}");
    }
    // A negative value of an option is that option's error, never a port's.
    for args in [
        &["--pid", "-1"][..],
        &["-6", "-t", "--pid", "-5"],
        &["wait", "9", "--listening", "--timeout", "-5m"],
    ] {
        let (status, _, err) = run(args);
        assert_eq!(status, 2, "{args:?}: {err}");
        assert!(!err.contains("ports are 0-65535"), "{args:?}: {err}");
    }
    for args in [&["-t", "-1"][..], &["-6", "-1"]] {
        let (status, _, err) = run(args);
        assert_eq!(status, 2, "{args:?}: {err}");
        assert!(err.contains("'-1' is not a port number"), "{args:?}: {err}");
    }
    // A name: an error, or unknown when some listeners' owners could not be seen.
    let (status, out, err) = run(&["sshh"]);
    assert!(common::unknown_name(status, &out), "{out}{err}");
    assert!(
        err.lines().any(|l| l.starts_with("whoport: 'sshh' is not")),
        "{err}"
    );
    assert!(
        err.contains("did you mean") && err.contains("'ssh'"),
        "{err}"
    );
    let (_, _, err) = run(&["grafanna"]);
    assert!(err.contains("'grafana'"), "{err}");
}

#[test]
fn sctp_and_dccp_ports_are_not_said_to_be_free() {
    // whoport reads TCP, UDP and UDP-Lite sockets only: of SCTP and DCCP it says it did not
    // look.
    for (protocol, flag) in [("sctp", "-S"), ("dccp", "-d")] {
        let query = format!("41846/{protocol}");
        let (_, out, _) = common::run(&[&query]);
        assert!(!out.contains("Nothing is listening"), "{out}");
        assert!(
            out.contains(&format!(
                "{} sockets on port 41846 were not looked for (ss {flag}lnp",
                protocol.to_uppercase()
            )),
            "{out}"
        );
        let doc = common::json(&["--json", &query]);
        assert!(
            doc["notes"].as_array().expect("notes").iter().any(|n| n
                .as_str()
                .is_some_and(|n| n.contains("TCP, UDP and UDP-Lite sockets only"))),
            "{doc}"
        );
    }
    let (_, out, _) = common::run(&["41846/tcp"]);
    assert!(!out.contains("not looked for"), "{out}");
}

#[test]
fn a_bound_udp_lite_socket_is_on_the_card() {
    // UDP-Lite is listed like UDP (a protocol of its own, with its own ports): the card of
    // its port shows both sockets with their owner, PORT/udp does not.
    if common::listener::python().is_none() {
        return;
    }
    let l = common::listener::Listener::start(&["udplite4", "udplite6:same"]);
    let port = l.port(0).to_string();
    let (_, out, _) = run(&[&port]);
    assert!(
        out.contains(&format!("udplite 127.0.0.1:{port}  loopback only")),
        "{out}"
    );
    assert!(
        out.contains(&format!("udplite [::1]:{port}  loopback only")),
        "{out}"
    );
    assert!(out.contains(&format!("pid {}", l.pid)), "{out}");
    assert!(
        !out.contains("whoport lists TCP and UDP sockets only"),
        "{out}"
    );
    let doc = json(&["--json", &format!("{port}/udp")]);
    for socket in &l.sockets {
        assert!(common::listener::rows(&doc, socket).is_empty(), "{doc}");
    }
}

#[test]
fn a_connected_udp_socket_is_never_under_listening_on_the_card() {
    let Some(_) = common::listener::python() else {
        return;
    };
    // A TCP listener and a connected UDP socket on a port number of the test's own.
    let l = common::listener::Listener::start_alone(&["tcp4", "udp4-connected:same"], 0);
    let port = l.port(0).to_string();
    for lookup in ["procfs", "bpf"] {
        let home = common::tempdir();
        let (status, out, err) = common::outcome(
            common::whoport(home.path())
                .env("WHOPORT_OWNER_LOOKUP", lookup)
                .args([&port, "--all"]),
        );
        assert_eq!(status, 0, "{err}");
        let listening = out
            .split_once(&format!("Listening on {port}: 1 socket\n"))
            .unwrap_or_else(|| panic!("{lookup}: {out}"))
            .1;
        let (listening, other) = listening
            .split_once(&format!(
                "Not listening on {port} (connected or only bound): 1 socket\n"
            ))
            .unwrap_or_else(|| panic!("{lookup}: {out}"));
        assert!(
            listening.contains(&format!("tcp 127.0.0.1:{port}")),
            "{out}"
        );
        assert!(!listening.contains("udp "), "{out}");
        assert!(
            other.contains(&format!(
                "udp 127.0.0.1:{port}  loopback only [connected to 127.0.0.1:9]"
            )),
            "{out}"
        );
        let (_, out, _) = common::outcome(
            common::whoport(home.path())
                .env("WHOPORT_OWNER_LOOKUP", lookup)
                .args(["--json", &port, "--all"]),
        );
        let doc: Value = serde_json::from_str(&out).expect("json");
        for (protocol, listening) in [("tcp", true), ("udp", false)] {
            let row = doc["listeners"]
                .as_array()
                .expect("listeners")
                .iter()
                .find(|r| r["protocol"] == protocol && r["address"] == "127.0.0.1")
                .unwrap_or_else(|| panic!("{protocol}: {doc}"));
            assert_eq!(row["listening"], listening, "{row}");
        }
    }
    // Alone, the connected socket is not listening: "Nothing is listening" says so.
    let u = common::listener::Listener::start_alone(&["udp4-connected"], 0);
    let port = u.port(0).to_string();
    let (_, out, _) = run(&[&port, "--all"]);
    assert!(
        out.contains(&format!(
            "Nothing is listening on {port}/tcp, {port}/udp or {port}/udplite"
        )) && out.contains(&format!(
            "Not listening on {port} (connected or only bound)"
        )),
        "{out}"
    );
}
