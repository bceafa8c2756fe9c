//! What people paste and type: program names (`whoport nginx`), host names (never looked
//! up), and filters that hide listeners on the asked port (the card says which). Real
//! listeners on loopback, killed by PID.

mod common;

use common::listener::{hex, python, Listener};
use serde_json::Value;

fn endpoints(doc: &Value) -> Vec<String> {
    doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .map(|l| l["endpoint"].as_str().expect("endpoint").to_string())
        .collect()
}

#[test]
fn a_program_name_shows_the_listeners_of_that_program() {
    if python().is_none() {
        return;
    }
    // A name of this run's own, so that another run of the suite on the machine is not found.
    let name = format!("wpprog{}", std::process::id());
    let l = Listener::start(&["--comm-hex", &hex(name.as_bytes()), "tcp4", "udp6"]);
    let (status, doc) = common::json_status(&["--json", &name]);
    assert_eq!(status, 0, "{doc}");
    let mut got = endpoints(&doc);
    got.sort();
    let mut want = vec![
        format!("127.0.0.1:{}", l.port(0)),
        format!("[::1]:{}", l.port(1)),
    ];
    want.sort();
    assert_eq!(got, want);
    // Whole names only, case ignored.
    // (Exit status 1 rather than 2 when some listeners' owners could not be seen: whether
    // one of them is a process of that name is unknown.)
    let (status, out, err) = common::run(&[&name[..name.len() - 1]]);
    assert!(
        status == 2 || (status == 1 && out.contains("whoport could not see")),
        "a prefix is not the program: {out}{err}"
    );
    assert!(!out.contains(&l.port(0).to_string()), "{out}");
    assert_eq!(common::json_status(&["--json", &name.to_uppercase()]).0, 0);
    let (status, out, _) = common::run(&[&name]);
    assert_eq!(status, 0);
    assert!(out.contains(&name), "{out}");
    // Its listeners are on loopback: --exposed hides them, and says so.
    let (status, out, err) = common::run(&[&name, "--exposed"]);
    assert_eq!(status, 1, "{err}");
    // (Its own two, each with its owner; a socket of another test's whose owner was not
    // seen may be counted beside them.)
    for endpoint in &want {
        assert!(
            out.lines()
                .any(|line| line.contains(&format!(" {endpoint} "))
                    && line.contains("(hidden by --exposed)")
                    && line.contains(&name)),
            "{endpoint}: {out}"
        );
    }
    assert!(
        out.lines()
            .any(|line| line.contains("listeners hidden by --exposed")),
        "{out}"
    );
    let (_, doc) = common::json_status(&["--json", &name, "--exposed"]);
    // This program's own two, each with its owner seen (others, whose owner was not, may be
    // the program's too: other tests' sockets come and go beside this one).
    let mut ours: Vec<String> = doc["hidden_by_filters"]
        .as_array()
        .expect("hidden")
        .iter()
        .filter(|h| h["owner_hidden_reason"].is_null())
        .filter_map(|h| h["endpoint"].as_str())
        .filter(|e| want.iter().any(|w| w == e))
        .map(str::to_string)
        .collect();
    ours.sort();
    assert_eq!(ours, want, "{doc}");
}

#[test]
fn a_range_whose_listeners_are_all_filtered_says_so() {
    if python().is_none() {
        return;
    }
    // The range's two port numbers are the test's alone.
    let l = Listener::start_alone(&["--comm-hex", &hex(b"wprange"), "tcp4"], 1);
    let port = l.port(0);
    let range = format!("{}-{}", port, port.saturating_add(1));
    let (status, out, _) = common::run(&[&range, "--exposed"]);
    assert_eq!(status, 1);
    assert!(!out.contains("Nothing is listening"), "{out}");
    assert!(out.contains("1 listener hidden by --exposed"), "{out}");
    assert!(out.contains(&format!("tcp 127.0.0.1:{port}")), "{out}");
}

#[test]
fn a_program_that_is_also_a_service_name_gets_both_answers() {
    if python().is_none() {
        return;
    }
    // A process named like the service "ssh" (its own port is not 22).
    let l = Listener::start(&["--comm-hex", &hex(b"ssh"), "tcp4"]);
    let doc = common::json(&["--json", "ssh"]);
    assert!(
        endpoints(&doc).contains(&format!("127.0.0.1:{}", l.port(0))),
        "the program's listener: {doc}"
    );
    let ports: Vec<u64> = doc["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .filter_map(|p| p["port"].as_u64())
        .collect();
    assert!(ports.contains(&22), "and the registry's answer: {ports:?}");
}

#[test]
fn an_unknown_name_that_no_process_has_is_an_error() {
    // An error when every listener's owner was seen; when some could not be (another
    // user's, as non-root), whether one is that program is unknown, and said so.
    let (status, out, err) = common::run(&["nosuchprogramorservice"]);
    assert!(err.contains("is not a service name"), "{err}");
    match status {
        2 => assert!(err.contains("no listening process is named"), "{err}"),
        1 => assert!(out.contains("whoport could not see"), "{out}"),
        s => panic!("status {s}: {out}{err}"),
    }
}

#[test]
fn a_zone_that_names_no_interface_is_refused() {
    for query in ["[fe80::1%lo%lo]:1", "[fe80::1%]:1", "[fe80::1%a/b]:1"] {
        let (status, out, err) = common::run(&[query]);
        assert_eq!(status, 2, "{query}: {out}");
        assert!(err.contains(query), "{query}: {err}");
    }
}

#[test]
fn host_names_are_never_looked_up() {
    for query in ["db.invalid:5432", "myhost:22"] {
        let (status, out, err) = common::run(&[query]);
        assert_eq!(status, 2, "{query}: {out}");
        assert!(err.contains("never looks up host names"), "{err}");
    }
}

#[test]
fn filters_never_make_the_card_lie() {
    if python().is_none() {
        return;
    }
    // A port of the test's own: the card counts every socket on the number.
    let l = Listener::start_alone(&["--comm-hex", &hex(b"wpfiltered"), "tcp4"], 0);
    let port = l.port(0).to_string();
    // Nothing matches --exposed, but something listens: say so, and which filter hid it.
    let (status, out, _) = common::run(&[&port, "--exposed"]);
    assert_eq!(status, 1);
    assert!(!out.contains("Nothing is listening"), "{out}");
    assert!(out.contains("hidden by --exposed"), "{out}");
    assert!(out.contains(&format!("tcp 127.0.0.1:{port}")), "{out}");
    let (status, doc) = common::json_status(&["--json", &port, "--exposed"]);
    assert_eq!(status, 1);
    let hidden = doc["hidden_by_filters"]
        .as_array()
        .expect("hidden_by_filters");
    assert_eq!(hidden.len(), 1, "{doc}");
    assert_eq!(hidden[0]["endpoint"], format!("127.0.0.1:{port}"));
    assert_eq!(hidden[0]["filters"], serde_json::json!(["--exposed"]));
    // Two filters, each named; and one shown listener with another hidden.
    let other = Listener::start(&[&format!("tcp6:{port}")]);
    assert_eq!(other.port(0), l.port(0));
    let pid = l.pid.to_string();
    let (_, out, _) = common::run(&[&port, "--pid", &pid]);
    assert!(
        out.contains(&format!("1 more listener on {port} hidden by --pid")),
        "{out}"
    );
    assert!(out.contains("hidden by --pid"), "{out}");
    let doc = common::json(&["--json", &port, "--exposed", "--pid", &pid]);
    let hidden = doc["hidden_by_filters"].as_array().expect("hidden");
    assert!(
        hidden
            .iter()
            .any(|h| h["filters"] == serde_json::json!(["--exposed"])),
        "{doc}"
    );
    // Without filters, nothing is said to be hidden.
    let doc = common::json(&["--json", &port]);
    assert_eq!(doc["hidden_by_filters"], serde_json::json!([]));
}
