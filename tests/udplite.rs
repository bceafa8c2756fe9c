//! UDP-Lite (RFC 3828) is listed like TCP and UDP: in the listing, on the card, by
//! `--exposed` and the audit, with its owner named by both owner lookups; `--udp` is UDP
//! alone, `--udplite` and `PORT/udplite` UDP-Lite alone. Real UDP-Lite sockets of a helper
//! process (a private network namespace for the wildcards).

mod common;

use common::listener::{python, rows, Bound, Listener};
use common::netns::NetNs;
use common::tempdir;
use serde_json::Value;

fn owners(row: &Value) -> Vec<u64> {
    row["owners"]
        .as_array()
        .expect("owners")
        .iter()
        .map(|o| o["pid"].as_u64().expect("pid"))
        .collect()
}

fn run_json(home: &std::path::Path, lookup: &str, args: &[&str]) -> Value {
    let out = common::whoport(home)
        .env("WHOPORT_OWNER_LOOKUP", lookup)
        .args(args)
        .output()
        .expect("whoport runs");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?} ({lookup}): {e}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn udp_lite_sockets_are_listed_with_their_owner_by_both_lookups() {
    if python().is_none() {
        return;
    }
    let l = Listener::start(&["udplite4", "udplite6", "udplite4-connected", "udp4"]);
    let (v4, v6, connected, udp) = (
        l.sockets[0].clone(),
        l.sockets[1].clone(),
        l.sockets[2].clone(),
        l.sockets[3].clone(),
    );
    assert_eq!(v4.protocol, "udplite");
    let home = tempdir();
    let mut seen = Vec::new();
    for lookup in ["procfs", "bpf"] {
        let doc = run_json(home.path(), lookup, &["--json"]);
        for socket in [&v4, &v6] {
            let found = rows(&doc, socket);
            assert_eq!(found.len(), 1, "{lookup}: {socket:?} once in {doc}");
            assert_eq!(found[0]["scope"], "loopback", "{}", found[0]);
            assert_eq!(
                owners(found[0]),
                vec![u64::from(l.pid)],
                "{lookup}: {}",
                found[0]
            );
            seen.push(owners(found[0]));
        }
        // A connected UDP-Lite socket is no listener.
        assert!(rows(&doc, &connected).is_empty(), "{lookup}: {doc}");
        assert_eq!(rows(&doc, &udp).len(), 1, "{lookup}: {doc}");
    }
    assert_eq!(seen[..2], seen[2..], "both lookups name the same owner");
    // --udp is UDP alone; --udplite is UDP-Lite alone.
    let lookup = common::owner_lookup();
    let only_udp = run_json(home.path(), lookup, &["--json", "--udp"]);
    assert!(rows(&only_udp, &v4).is_empty(), "{only_udp}");
    assert_eq!(rows(&only_udp, &udp).len(), 1, "{only_udp}");
    let only_lite = run_json(home.path(), lookup, &["--json", "--udplite"]);
    assert_eq!(rows(&only_lite, &v4).len(), 1, "{only_lite}");
    assert!(rows(&only_lite, &udp).is_empty(), "{only_lite}");
    // The card: PORT/udplite narrows to it, PORT/udp leaves it out, PORT shows it.
    let port = v4.port.to_string();
    let card = run_json(home.path(), lookup, &["--json", &format!("{port}/udplite")]);
    assert_eq!(rows(&card, &v4).len(), 1, "{card}");
    let card = run_json(home.path(), lookup, &["--json", &format!("{port}/udp")]);
    assert!(rows(&card, &v4).is_empty(), "{card}");
    let (status, text, err) = common::run(&[&port]);
    assert_eq!(status, 0, "{err}");
    assert!(
        text.contains(&format!("udplite 127.0.0.1:{port}  loopback only")),
        "{text}"
    );
    assert!(text.contains(&format!("pid {}", l.pid)), "{text}");
}

#[test]
fn an_exposed_udp_lite_socket_is_counted_by_exposed_and_the_audit() {
    let Some(ns) = NetNs::new() else {
        return;
    };
    let l = ns.listener(&[
        "--exit-after",
        "60",
        "udplite4-any",
        "udplite6-any",
        "udplite4",
    ]);
    let (any4, any6, lo) = (
        l.sockets[0].clone(),
        l.sockets[1].clone(),
        l.sockets[2].clone(),
    );
    let home = tempdir();
    let mut named = Vec::new();
    for lookup in ["procfs", "bpf"] {
        let env = [("WHOPORT_OWNER_LOOKUP", lookup)];
        let (_, out, err) = ns.whoport_with(home.path(), &env, &["--json", "--exposed"]);
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
        for socket in [&any4, &any6] {
            let found = rows(&doc, socket);
            assert_eq!(found.len(), 1, "{lookup}: {socket:?} in {doc}");
            assert_eq!(found[0]["scope"], "all", "{}", found[0]);
            assert_eq!(owners(found[0]), vec![u64::from(l.pid)], "{lookup}");
            named.push(owners(found[0]));
        }
        assert!(rows(&doc, &lo).is_empty(), "loopback is not exposed: {doc}");
        let (_, out, err) = ns.whoport_with(home.path(), &env, &["audit", "--json"]);
        let audit: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
        for socket in [&any4, &any6, &lo] {
            let exposure = audit["findings"]
                .as_array()
                .expect("findings")
                .iter()
                .filter(|f| Bound::is(socket, &f["listener"]))
                .flat_map(|f| {
                    let also = f["reasons"].as_array().cloned().unwrap_or_default();
                    std::iter::once(f["id"].clone()).chain(also)
                })
                .filter(|id| {
                    id.as_str()
                        .is_some_and(|s| s.starts_with("exposed-all-interfaces"))
                })
                .count();
            let want = usize::from(socket.address != "127.0.0.1");
            assert_eq!(exposure, want, "{lookup}: {socket:?} in {audit}");
        }
    }
    assert_eq!(named[..2], named[2..], "both lookups name the same owner");
}
