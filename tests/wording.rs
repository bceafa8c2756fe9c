//! What whoport says is what it established: a protocol that hid the port's listeners is
//! named, the protocols looked at are all said, an empty process name stays empty, and
//! UDP-Lite is taken by `check`, `wait` and `free` as by the rest of whoport. Real sockets in
//! private network namespaces (fixed ports are the namespace's alone), helpers killed by PID.

mod common;

use common::listener::{python, Listener};
use common::netns::NetNs;
use common::tempdir;
use serde_json::Value;

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// `whoport PORT/udp` with only TCP on the port names the TCP listener the protocol hid (and
/// the other ways round, /udplite too); a bare port with nothing on it says every protocol
/// it looked at.
#[test]
fn a_protocol_that_hides_the_ports_listeners_is_named() {
    if python().is_none() {
        return;
    }
    let Some(ns) = NetNs::new() else { return };
    let home = tempdir();
    let tcp = ns.listener(&["tcp4:41301"]);
    let udp = ns.listener(&["udp4:41302"]);
    let lite = ns.listener(&["udplite4:41303"]);
    for (port, on, asked) in [
        (41301, "tcp", ["udp", "udplite"]),
        (41302, "udp", ["tcp", "udplite"]),
        (41303, "udplite", ["tcp", "udp"]),
    ] {
        for protocol in asked {
            let query = format!("{port}/{protocol}");
            let (status, out, err) = ns.whoport(home.path(), &[&query, "--color", "never"]);
            assert_eq!(status, 1, "{query}: nothing shown: {out}{err}");
            let hidden = format!("Nothing that matches /{protocol} is listening on {query}; 1 listener on this port hidden by /{protocol}:");
            assert!(out.contains(&hidden), "{query}: {out}");
            assert!(
                out.contains(&format!("{on} 127.0.0.1:{port}")),
                "{query}: {out}"
            );
            assert!(!out.contains("Nothing is listening"), "{query}: {out}");
            let (_, out, err) = ns.whoport(home.path(), &[&query, "--json"]);
            let doc = json(&format!("{out}{err}"));
            let hidden = doc["hidden_by_filters"].as_array().expect("hidden");
            assert_eq!(hidden.len(), 1, "{query}: {doc}");
            assert_eq!(hidden[0]["protocol"], on, "{query}: {doc}");
            assert_eq!(
                hidden[0]["endpoint"],
                format!("127.0.0.1:{port}"),
                "{query}: {doc}"
            );
            assert_eq!(
                hidden[0]["filters"],
                serde_json::json!([format!("/{protocol}")]),
                "{query}: {doc}"
            );
        }
        // Asked without a protocol, the port's own listener is shown, nothing hidden.
        let (status, out, _) = ns.whoport(home.path(), &[&port.to_string(), "--json"]);
        assert_eq!(status, 0, "{out}");
        assert!(json(&out)["hidden_by_filters"]
            .as_array()
            .is_some_and(Vec::is_empty));
    }
    // A protocol whoport does not read: a note says so, and nothing is said to listen or not.
    let (_, out, _) = ns.whoport(home.path(), &["41301/sctp", "--color", "never"]);
    assert!(!out.contains("Nothing"), "{out}");
    assert!(out.contains("SCTP sockets"), "{out}");
    // Nothing on the port: every protocol looked at is said, UDP-Lite included.
    let (status, out, _) = ns.whoport(home.path(), &["41304", "--color", "never"]);
    assert_eq!(status, 1, "{out}");
    assert!(
        out.contains(
            "Nothing is listening on 41304/tcp, 41304/udp or 41304/udplite in this network namespace."
        ),
        "{out}"
    );
    drop((tcp, udp, lite));
}

/// A process whose kernel name is empty (prctl(PR_SET_NAME, "")) is shown with an empty
/// name, its executable beside it: never under the executable's name.
#[test]
fn an_empty_process_name_stays_empty() {
    let Some(py) = python() else { return };
    let script = format!(
        "import ctypes, runpy, sys\n\
         ctypes.CDLL(None).prctl(15, b\"\", 0, 0, 0)\n\
         sys.argv = [{fixture:?}, 'tcp4']\n\
         runpy.run_path({fixture:?}, run_name='__main__')\n",
        fixture = common::fixture("listen.py").display().to_string()
    );
    let mut cmd = std::process::Command::new(&py);
    cmd.args(["-c", &script]);
    let l = Listener::start_command(cmd);
    let comm = std::fs::read(format!("/proc/{}/comm", l.pid)).expect("comm");
    assert_eq!(comm, b"\n", "the kernel's name is empty");
    let pid = l.pid.to_string();
    let home = tempdir();
    for lookup in ["procfs", "bpf"] {
        let (status, out, err) = common::outcome(
            common::whoport(home.path())
                .env("WHOPORT_OWNER_LOOKUP", lookup)
                .args(["--json", "--pid", &pid]),
        );
        assert_eq!(status, 0, "{lookup}: {err}");
        let doc = json(&out);
        let owner = doc["listeners"][0]["owners"][0].clone();
        assert_eq!(owner["pid"], l.pid, "{lookup}: {doc}");
        assert_eq!(owner["name"], "", "{lookup}: {owner}");
        let exe = owner["exe"].as_str().expect("exe");
        assert!(exe.contains("python"), "{lookup}: {owner}");
        let (status, out, err) = common::outcome(
            common::whoport(home.path())
                .env("WHOPORT_OWNER_LOOKUP", lookup)
                .args(["--pid", &pid, "--color", "never", "--wide"]),
        );
        assert_eq!(status, 0, "{lookup}: {err}");
        assert!(out.contains("(empty name)"), "{lookup}: {out}");
    }
}

/// `check`, `wait` and `free` take UDP-Lite as the rest of whoport does: a UDP-Lite socket
/// blocks a UDP-Lite test bind (and names it), a UDP socket on the same number does not (a
/// port space of its own); `wait --listening` sees the bound UDP-Lite socket; `free
/// --udplite` gives a port a UDP-Lite socket can take, and refuses one that one holds.
#[test]
fn udplite_is_checked_waited_for_and_found_free() {
    if python().is_none() {
        return;
    }
    let Some(ns) = NetNs::new() else { return };
    let home = tempdir();
    // A candidate port for UDP-Lite in the namespace, before anything holds it.
    let (status, out, err) = ns.whoport(home.path(), &["free", "--udplite", "--first", "--json"]);
    assert_eq!(status, 0, "{out}{err}");
    let doc = json(&out);
    assert_eq!(doc["protocols"], serde_json::json!(["udplite"]), "{doc}");
    let port = doc["ports"][0]["port"].as_u64().expect("a port") as u16;
    let range = format!("{port}-{port}");

    let lite = ns.listener(&[&format!("udplite4:{port}")]);
    let udp = ns.listener(&[&format!("udp4:{port}")]);
    // check: the UDP-Lite socket is in the way of a UDP-Lite server, named as such.
    let asked = format!("127.0.0.1:{port}/udplite");
    let (status, out, err) = ns.whoport(home.path(), &["check", &asked, "--color", "never"]);
    assert_eq!(status, 1, "{out}{err}");
    assert!(
        out.contains(&format!("a udplite socket bound to 127.0.0.1:{port}")),
        "{out}"
    );
    assert!(!out.contains("udp socket bound"), "{out}");
    drop(lite);
    // The UDP socket is no UDP-Lite socket: nothing is in the way once the UDP-Lite one is gone.
    let (status, out, err) = ns.whoport(home.path(), &["check", &asked, "--json"]);
    assert_eq!(status, 0, "{out}{err}");

    // wait: a bound UDP-Lite socket is a listener.
    let lite = ns.listener(&[&format!("udplite4:{port}")]);
    let waited = format!("{port}/udplite");
    let (status, out, err) = ns.whoport(
        home.path(),
        &["wait", &waited, "--listening", "--timeout", "30s"],
    );
    assert_eq!(status, 0, "{out}{err}");
    // free: held for UDP-Lite, so not free for it; each protocol's own table decides.
    let (status, out, err) = ns.whoport(
        home.path(),
        &["free", "--udplite", "--range", &range, "--json"],
    );
    assert_eq!(status, 1, "{out}{err}");
    assert_eq!(json(&out)["excluded"]["in_use"], 1, "{out}");
    drop(udp);
    let (status, out, err) = ns.whoport(home.path(), &["free", "--udp", "--range", &range]);
    assert_eq!(status, 0, "UDP's table has nothing on {port}: {out}{err}");
    drop(lite);
    let (status, out, err) = ns.whoport(home.path(), &["free", "--udplite", "--range", &range]);
    assert_eq!(status, 0, "{out}{err}");
    assert_eq!(out.trim(), port.to_string());
}

/// Under `SO_REUSEPORT` churn most sockets a dump returns are gone when their owners are
/// looked for. A socket the kernel no longer has is no row of the listing nor of the port
/// card: the totals and the card say how many closed during the scan, and `--json` keeps
/// each, marked `closed_during_scan`; none is counted as a hidden owner (the summary, JSON's
/// `hidden_owners`).
#[test]
fn sockets_closed_during_the_scan_are_counted_not_listed() {
    let Some(py) = python() else { return };
    let Some(ns) = NetNs::new() else { return };
    let mut cmd = ns.command(&py);
    cmd.arg(common::fixture("reuseport_churn.py"));
    let churn = Listener::start_command(cmd);
    let port = churn.port(0);
    let home = tempdir();
    let (mut in_json, mut in_text, mut on_card) = (0, 0, 0);
    for lookup in ["procfs", "bpf"] {
        let env = [("WHOPORT_OWNER_LOOKUP", lookup)];
        let (status, out, err) = ns.whoport_with(home.path(), &env, &["--json"]);
        assert!(matches!(status, 0 | 1), "{lookup}: {err}");
        let doc = json(&out);
        let listeners = doc["listeners"].as_array().expect("listeners");
        let closed: Vec<&Value> = listeners
            .iter()
            .filter(|l| l["closed_during_scan"] == true)
            .collect();
        for l in &closed {
            assert!(
                l["owners"].as_array().is_some_and(Vec::is_empty)
                    && l["owner_hidden_reason"]
                        .as_str()
                        .is_some_and(|r| r.starts_with("closed during the scan")),
                "{lookup}: {l}"
            );
        }
        for l in listeners
            .iter()
            .filter(|l| l["closed_during_scan"] == false)
        {
            assert!(
                !l["owner_hidden_reason"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("closed during the scan")),
                "{lookup}: {l}"
            );
        }
        in_json += closed.len();
        let ownerless = listeners
            .iter()
            .filter(|l| l["owners"].as_array().is_some_and(Vec::is_empty))
            .count();
        assert_eq!(doc["hidden_owners"], ownerless - closed.len(), "{lookup}");

        let (_, out, err) = ns.whoport_with(home.path(), &env, &["--color", "never"]);
        let summary = out
            .lines()
            .find(|l| l.contains(" reachable from other machines"))
            .unwrap_or_else(|| panic!("{lookup}: {out}{err}"));
        let rows = out.lines().filter(|l| l.contains("127.0.0.1")).count();
        // No row is a socket that closed; the total counts the rows, and says the rest.
        assert!(!out.contains("(hidden: closed"), "{lookup}: {out}");
        assert!(
            summary.starts_with(&format!("{rows} socket")),
            "{lookup}: {out}"
        );
        if let Some((_, more)) = summary.split_once("; ") {
            let n: usize = more
                .split_once(" more closed during the scan (not shown; --json lists")
                .and_then(|(n, _)| n.parse().ok())
                .unwrap_or_else(|| panic!("{lookup}: {summary}"));
            in_text += n;
        }
        let hidden = out
            .lines()
            .filter(|l| l.contains("127.0.0.1") && l.contains("(hidden:"))
            .count();
        if hidden == 0 {
            assert!(!summary.contains("with hidden owners"), "{summary}");
        } else {
            assert!(
                summary.contains(&format!("{hidden} with hidden owners")),
                "{lookup}: {out}"
            );
        }

        // The port card: its listeners are the sockets still there, the others counted.
        let (_, out, err) =
            ns.whoport_with(home.path(), &env, &[&port.to_string(), "--color", "never"]);
        let shown = out
            .lines()
            .filter(|l| l.starts_with(&format!("  tcp 127.0.0.1:{port} ")))
            .count();
        assert!(
            out.contains(&format!("Listening on {port}: {shown} socket")),
            "{lookup}: {out}{err}"
        );
        assert!(!out.contains("process hidden: closed"), "{lookup}: {out}");
        if let Some(line) = out
            .lines()
            .find(|l| l.contains(&format!("on port {port} closed during the scan")))
        {
            assert!(line.contains("(not shown; --json lists"), "{line}");
            on_card += 1;
        }
    }
    drop(churn);
    // The churn raced the scans (or none of this was seen).
    assert!(
        in_json > 0 && in_text > 0 && on_card > 0,
        "json {in_json}, text {in_text}, card {on_card}"
    );
}
