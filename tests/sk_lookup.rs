//! An sk_lookup BPF program attached to a network namespace (Linux 5.9+) hands connections to
//! any address and port of it to any of its sockets, whatever their bind address: a listener
//! on 127.0.0.1 then answers other machines, on a port no socket is bound to. Staged for real:
//! a private network namespace with a veth device to a second one (the other machine), the
//! program loaded and attached by tests/fixtures/sk_lookup.py, a real connection through it.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

mod common;

use std::path::Path;

use common::listener::{python, Listener};
use common::netns::NetNs;
use common::{fixture, tempdir};
use serde_json::Value;

/// The program's port: the one other machines connect to, where no socket is bound.
const STEERED: u16 = 43510;

/// The server's namespace (10.99.57.1 on d0) and the other machine's (10.99.57.2 on d1).
fn machines() -> Option<(NetNs, NetNs)> {
    let server = NetNs::new()?;
    let client = NetNs::new()?;
    server.ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d1"]);
    server.ip(&["link", "set", "d1", "netns", &client.pid.to_string()]);
    server.ip(&["addr", "add", "10.99.57.1/24", "dev", "d0"]);
    server.ip(&["link", "set", "d0", "up"]);
    client.ip(&["addr", "add", "10.99.57.2/24", "dev", "d1"]);
    client.ip(&["link", "set", "d1", "up"]);
    Some((server, client))
}

/// What the other machine reads from 10.99.57.1:`port`.
fn connect(client: &NetNs, port: u16) -> String {
    let code = format!(
        "import socket; s = socket.create_connection(('10.99.57.1', {port}), 5); \
         print(s.recv(200).decode().strip())"
    );
    let out = client
        .command(Path::new("timeout"))
        .arg("30")
        .arg(python().expect("python3"))
        .args(["-c", &code])
        .output()
        .expect("python3 runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The runs compared: each owner lookup, and `WHOPORT_NO_BPF=1` (the query of the namespace's
/// programs loads nothing: it is made all the same).
const LOOKUPS: [&str; 3] = ["bpf", "procfs", "WHOPORT_NO_BPF=1"];

/// The environment of a run of [`LOOKUPS`].
fn lookup_env(lookup: &str) -> [(&str, &str); 1] {
    match lookup.split_once('=') {
        Some(pair) => [pair],
        None => [("WHOPORT_OWNER_LOOKUP", lookup)],
    }
}

fn json(ns: &NetNs, home: &Path, lookup: &str, args: &[&str]) -> Value {
    let (_, out, err) = ns.whoport_with(home, &lookup_env(lookup), args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{lookup} {args:?}: {e}: {out}{err}"))
}

fn text(ns: &NetNs, home: &Path, lookup: &str, args: &[&str]) -> String {
    let mut all = vec!["--color", "never"];
    all.extend_from_slice(args);
    let (_, out, err) = ns.whoport_with(home, &lookup_env(lookup), &all);
    format!("{out}{err}")
}

/// The audit's Prometheus value of `whoport_findings_not_judged{id="exposed-all-interfaces"}`.
fn exposure_not_judged(ns: &NetNs, home: &Path, lookup: &str) -> String {
    let metrics = text(ns, home, lookup, &["audit", "--format", "prometheus"]);
    let series = "whoport_findings_not_judged{id=\"exposed-all-interfaces\"} ";
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series))
        .unwrap_or_else(|| panic!("{lookup}: no {series}in {metrics}"))
        .to_string()
}

fn row(doc: &Value, port: u16) -> &Value {
    doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .find(|l| l["port"] == port && l["address"] == "127.0.0.1")
        .unwrap_or_else(|| panic!("127.0.0.1:{port} not in {doc}"))
}

fn has_note(doc: &Value, part: &str) -> bool {
    common::notes(doc).iter().any(|n| n.contains(part))
}

const NOTE: &str = "is attached to this network namespace: connections and datagrams to any of \
                    its addresses and ports may be handed to any of its sockets";

#[test]
fn a_loopback_listener_an_sk_lookup_program_steers_to_is_never_said_loopback_only() {
    let Some((server, client)) = machines() else {
        return;
    };
    let mut cmd = server.command(&python().expect("python3"));
    cmd.arg(fixture("sk_lookup.py")).arg(STEERED.to_string());
    let helper = Listener::start_command(cmd);
    let port = helper.port(0);
    // The kernel's behaviour first: the other machine reaches the loopback listener.
    let answer = connect(&client, STEERED);
    assert_eq!(
        answer.trim(),
        format!("served by 127.0.0.1:{port}"),
        "{answer}"
    );
    let home = tempdir();
    let named = "an sk_lookup BPF program (id ";
    for lookup in LOOKUPS {
        let doc = json(&server, home.path(), lookup, &["--json"]);
        let r = row(&doc, port);
        assert_eq!(r["scope"], "loopback", "{lookup}: the bind address's: {r}");
        assert!(
            r["reach"].as_str().is_some_and(|s| s.starts_with(
                "loopback only by its bind address, but an sk_lookup BPF program attached to \
                 this network namespace may hand it connections to any address and port"
            )),
            "{lookup}: {r}"
        );
        assert!(
            has_note(&doc, NOTE) && has_note(&doc, "named wp_steer"),
            "{lookup}: {doc}"
        );
        assert!(has_note(&doc, named), "{lookup}: {doc}");

        let listing = text(&server, home.path(), lookup, &[]);
        assert!(
            listing.contains("0 reachable from other machines by their bind addresses"),
            "{lookup}: {listing}"
        );
        let card = text(&server, home.path(), lookup, &[&port.to_string()]);
        assert!(!card.contains("fine"), "{lookup}: {card}");
        assert!(
            card.contains(&format!("cannot judge who reaches it: {named}")),
            "{lookup}: {card}"
        );
        // --exposed takes the bind address's scope, and says so.
        let exposed = json(&server, home.path(), lookup, &["--exposed", "--json"]);
        assert!(has_note(&exposed, NOTE), "{lookup}: {exposed}");
        for query in [STEERED.to_string(), format!("10.99.57.1:{STEERED}")] {
            let out = text(&server, home.path(), lookup, &[&query]);
            assert!(
                !out.contains("Nothing is listening"),
                "{lookup} {query}: {out}"
            );
            assert!(
                out.contains(&format!("No socket is bound to {STEERED}/tcp"))
                    && out.contains(&format!("but {named}"))
                    && out.contains("may hand what arrives there to a socket bound elsewhere"),
                "{lookup} {query}: {out}"
            );
        }
        // Not asked as nobody (the kernel refuses the question): nothing said, no "none".
        let wrapper = ["runuser", "-u", "nobody", "--"];
        let (_, out, err) =
            server.whoport_wrapped(home.path(), &lookup_env(lookup), &wrapper, &["--json"]);
        let unprivileged: Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
        row(&unprivileged, port);
        assert!(!out.contains("sk_lookup BPF"), "{lookup}: {out}");
        let audit = json(&server, home.path(), lookup, &["audit", "--format", "json"]);
        assert!(
            has_note(&audit, NOTE)
                && has_note(
                    &audit,
                    "exposed-all-interfaces was not judged for the listeners other machines \
                     do not reach by their bind addresses: an sk_lookup BPF program"
                ),
            "{lookup}: {audit}"
        );
        assert_eq!(
            exposure_not_judged(&server, home.path(), lookup),
            "1",
            "{lookup}"
        );
    }
}

#[test]
fn a_namespace_without_an_sk_lookup_program_says_nothing_of_one() {
    let Some((server, client)) = machines() else {
        return;
    };
    let helper = server.listener(&["tcp4"]);
    let port = helper.port(0);
    let refused = connect(&client, STEERED);
    assert!(refused.contains("ConnectionRefused"), "{refused}");
    let home = tempdir();
    for lookup in LOOKUPS {
        let doc = json(&server, home.path(), lookup, &["--json"]);
        assert_eq!(row(&doc, port)["reach"], "loopback only", "{lookup}: {doc}");
        assert!(
            !doc.to_string().contains("sk_lookup BPF"),
            "{lookup}: {doc}"
        );
        let card = text(&server, home.path(), lookup, &[&port.to_string()]);
        assert!(card.contains("fine — loopback only"), "{lookup}: {card}");
        let out = text(&server, home.path(), lookup, &[&STEERED.to_string()]);
        assert!(
            out.contains(&format!("Nothing is listening on {STEERED}/tcp")),
            "{lookup}: {out}"
        );
        let audit = text(&server, home.path(), lookup, &["audit"]);
        assert!(!audit.contains("sk_lookup BPF"), "{lookup}: {audit}");
        assert_eq!(
            exposure_not_judged(&server, home.path(), lookup),
            "0",
            "{lookup}"
        );
    }
}
