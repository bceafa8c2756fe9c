//! The port card opens with a verdict per listener group; registry notes that are
//! boilerplate are summarised unless `--wide`; plurals are right.

mod common;

use common::listener::{hex, python, Listener};
use common::run;
use serde_json::Value;

#[test]
fn the_card_opens_with_one_verdict_line_per_group() {
    let Some(_) = python() else { return };
    // A port of the test's own: the card shows every socket on the number.
    let l = Listener::start_alone(
        &["--comm-hex", &hex(b"wpc-verdict"), "tcp4", "tcp6:same"],
        0,
    );
    let port = l.port(0).to_string();
    let (status, out, err) = run(&[&port, "--color", "never"]);
    assert_eq!(status, 0, "{err}");
    let second = out.lines().nth(1).unwrap_or_default();
    assert!(
        second.starts_with(&format!("wpc-verdict (pid {} as ", l.pid)),
        "who comes first, each process once: {out}"
    );
    assert!(
        second.contains(&format!("tcp 127.0.0.1:{port} and [::1]:{port}: fine")),
        "{out}"
    );
    assert!(second.contains("loopback only"), "{out}");
    assert!(
        out.contains(&format!("Listening on {port}: 2 sockets")),
        "{out}"
    );
    // The same verdict in JSON.
    let (_, json, _) = run(&[&port, "--json"]);
    let doc: Value = serde_json::from_str(&json).expect("json");
    let v = doc["verdicts"].as_array().expect("verdicts");
    assert_eq!(v.len(), 1, "{doc:#}");
    assert_eq!(v[0]["fine"], true);
    assert_eq!(v[0]["verdict"], "fine");
    assert_eq!(v[0]["processes"][0], l.pid);
    assert_eq!(
        v[0]["addresses"],
        serde_json::json!([format!("127.0.0.1:{port}"), format!("[::1]:{port}")])
    );
    assert!(v[0]["reasons"]
        .as_array()
        .is_some_and(|r| r.iter().any(|x| x == "loopback only")));
    // The findings of the group are its verdict's (a kernel-chosen port is ephemeral).
    assert!(
        v[0]["findings"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x["id"] == "ephemeral-range")),
        "{doc:#}"
    );
}

#[test]
fn an_exposed_interpreter_gets_its_finding_and_fix_on_the_card() {
    let Some(_) = python() else { return };
    let l = Listener::start_alone(&["--comm-hex", &hex(b"wpc-exposed"), "tcp4-any"], 0);
    let port = l.port(0).to_string();
    let (_, out, _) = run(&[&port, "--color", "never"]);
    let head: Vec<&str> = out.lines().take(4).collect();
    assert!(head[1].ends_with(": high"), "{out}");
    assert!(head[2].contains("high shell-listener:"), "{out}");
    assert!(head[3].trim_start().starts_with("fix: "), "{out}");
}

#[test]
fn boilerplate_notes_are_summarised_unless_wide() {
    // 3689 (daap): the registry lists DNS-SD TXT keys in its note.
    let (_, out, _) = run(&["3689", "--color", "never"]);
    assert!(
        out.contains("defines DNS-SD TXT keys (--wide lists them)"),
        "{out}"
    );
    assert!(!out.contains("Defined TXT keys"), "{out}");
    let (_, wide, _) = run(&["3689", "--color", "never", "--wide"]);
    assert!(wide.contains("Defined TXT keys"), "{wide}");
    // A note about port 6003 of X11's range 6000-6063 is shown on 6003 only.
    let (_, x, _) = run(&["6003", "--color", "never"]);
    assert!(x.contains("Known Unauthorized Use on port 6003"), "{x}");
    let (_, y, _) = run(&["6001", "--color", "never"]);
    assert!(!y.contains("port 6003"), "{y}");
}

#[test]
fn a_hidden_owner_is_never_called_fine() {
    let Some(_) = python() else { return };
    if !common::root_or_skip("a root listener seen by 'nobody'") {
        return;
    }
    let l = Listener::start_alone(&["--comm-hex", &hex(b"wpc-hidden"), "tcp4"], 0);
    let port = l.port(0).to_string();
    let home = common::tempdir();
    let out = common::whoport_as_nobody(home.path())
        .args([&port, "--color", "never"])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains(&format!("127.0.0.1:{port}")))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.starts_with("an owner not seen (run as root to see it)"),
        "{text}"
    );
    assert!(
        line.contains(": unknown — cannot judge what serves it: the owner is hidden (run as root"),
        "{text}"
    );
    assert!(!line.contains(": fine"), "{text}");
    let out = common::whoport_as_nobody(home.path())
        .args([&port, "--json"])
        .output()
        .expect("runs");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    let v = &doc["verdicts"][0];
    assert_eq!(v["verdict"], "unknown", "{doc:#}");
    assert_eq!(v["fine"], false);
    assert!(v["unknown"].as_str().is_some_and(|u| u.contains("hidden")));
    // Root sees the owner and judges it.
    let (_, json, _) = run(&[&port, "--json"]);
    let doc: Value = serde_json::from_str(&json).expect("json");
    assert_eq!(doc["verdicts"][0]["verdict"], "fine", "{doc:#}");
    assert!(doc["verdicts"][0]["unknown"].is_null());
}
