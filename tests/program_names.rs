//! What a query by program name says when it cannot see everything: root's listeners seen by
//! a normal user (their owners unknown, never "nothing listens"), a protocol or another
//! filter that hides the program's listeners (named), and a misspelt name with a protocol
//! (the protocol kept). Real listeners on loopback with chosen process names, killed by PID.

mod common;

use common::listener::{hex, python, Listener};
use common::tempdir;
use serde_json::Value;

fn outcome(cmd: &mut common::Run) -> (i32, String, String) {
    common::outcome(cmd)
}

fn endpoints(doc: &Value, field: &str) -> Vec<String> {
    doc[field]
        .as_array()
        .unwrap_or_else(|| panic!("{field} in {doc}"))
        .iter()
        .map(|l| l["endpoint"].as_str().expect("endpoint").to_string())
        .collect()
}

#[test]
fn roots_program_seen_by_a_normal_user_is_unknown_not_absent() {
    if python().is_none() {
        return;
    }
    if !common::root_or_skip("a listener of root's looked at as 'nobody'") {
        return;
    }
    // A name of this run's own; root's process, looked at by nobody.
    let name = format!("wpnob{}", std::process::id());
    let l = Listener::start(&["--comm-hex", &hex(name.as_bytes()), "tcp4", "udp4"]);
    let (tcp, udp) = (
        format!("127.0.0.1:{}", l.port(0)),
        format!("127.0.0.1:{}", l.port(1)),
    );
    let home = tempdir();
    for lookup in ["procfs", "bpf"] {
        // Root sees it, with either owner lookup.
        let doc = root_json(home.path(), lookup, &["--json", &name]);
        let mut shown = endpoints(&doc, "listeners");
        shown.sort();
        let mut want = vec![tcp.clone(), udp.clone()];
        want.sort();
        assert_eq!(shown, want, "{lookup}");
        assert!(!endpoints(&doc, "unattributed").contains(&tcp), "{doc}");
        // Nobody cannot read root's descriptors: the owners are unknown, and it says so.
        let (status, out, err) = outcome(
            common::whoport_as_nobody(home.path())
                .env("WHOPORT_OWNER_LOOKUP", lookup)
                .arg(&name),
        );
        assert_eq!(
            status, 1,
            "{lookup}: nothing shown, not an error: {out}{err}"
        );
        assert!(!err.contains("no listening process"), "{lookup}: {err}");
        assert!(!out.contains("Nothing is listening"), "{lookup}: {out}");
        assert!(
            out.contains(&format!(
                "No process named '{name}' was seen listening, but "
            )) && (out.contains("whoport could not see, and any of them may be ")
                || out.contains("whoport could not see, and it may be ")),
            "{lookup}: {out}"
        );
        assert!(out.contains("run as root"), "{lookup}: {out}");
        let (status, out, _) = outcome(
            common::whoport_as_nobody(home.path())
                .env("WHOPORT_OWNER_LOOKUP", lookup)
                .args(["--json", &name]),
        );
        assert_eq!(status, 1);
        let doc: Value = serde_json::from_str(&out).expect("json");
        assert!(endpoints(&doc, "listeners").is_empty(), "{doc}");
        let unattributed = doc["unattributed"].as_array().expect("unattributed");
        for want in [&tcp, &udp] {
            let row = unattributed
                .iter()
                .find(|u| u["endpoint"] == want.as_str())
                .unwrap_or_else(|| panic!("{want} is counted: {doc}"));
            assert_eq!(row["uid"], 0, "{row}");
            assert!(
                row["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains("run as root")),
                "{row}"
            );
        }
        // The other filters narrow what is unknown: --udp keeps the UDP one only.
        let (status, out, err) = outcome(
            common::whoport_as_nobody(home.path())
                .env("WHOPORT_OWNER_LOOKUP", lookup)
                .args(["--json", &name, "--user", "root", "--udp"]),
        );
        assert_eq!(status, 1, "{err}");
        let doc: Value = serde_json::from_str(&out).expect("json");
        let narrowed = endpoints(&doc, "unattributed");
        assert!(narrowed.contains(&udp), "--udp keeps the UDP one: {doc}");
        assert!(!narrowed.contains(&tcp), "--udp leaves TCP out: {doc}");
    }
}

#[test]
fn a_protocol_or_filter_that_hides_a_programs_listeners_is_named() {
    if python().is_none() {
        return;
    }
    // At most 15 bytes with "/udp": the kernel cuts longer names.
    let name = format!("wph{}", std::process::id());
    let l = Listener::start(&["--comm-hex", &hex(name.as_bytes()), "tcp4"]);
    // A process named like the query with its protocol: it is not that program.
    let slashed = format!("{name}/udp");
    let _decoy = Listener::start(&["--comm-hex", &hex(slashed.as_bytes()), "udp4"]);
    let tcp = format!("127.0.0.1:{}", l.port(0));
    let home = tempdir();
    let other_user = if common::is_root() { "nobody" } else { "root" };
    for (args, filter) in [
        (vec![slashed.clone()], "/udp"),
        (vec![name.clone(), "--udp".into()], "--udp"),
        (
            vec![name.clone(), "--user".into(), other_user.into()],
            "--user",
        ),
        (vec![name.clone(), "-6".into()], "-6"),
    ] {
        let mut argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let (status, out, err) = outcome(common::whoport(home.path()).args(&argv));
        assert_eq!(status, 1, "{argv:?}: {out}{err}");
        assert!(!err.contains("no listening process"), "{argv:?}: {err}");
        assert!(!out.contains("Nothing is listening"), "{argv:?}: {out}");
        assert!(
            out.contains(&format!("1 listener hidden by {filter}:"))
                && out.contains(&format!("tcp {tcp}  loopback only  (hidden by {filter})")),
            "{argv:?}: {out}"
        );
        argv.insert(0, "--json");
        let (_, out, _) = outcome(common::whoport(home.path()).args(&argv));
        let doc: Value = serde_json::from_str(&out).expect("json");
        assert!(endpoints(&doc, "listeners").is_empty(), "{doc}");
        // Of the listeners whose owner was seen, only the program's (others, whose owner
        // was not, may be the program's too).
        let hidden: Vec<&Value> = doc["hidden_by_filters"]
            .as_array()
            .expect("hidden")
            .iter()
            .filter(|h| h["owner_hidden_reason"].is_null())
            .collect();
        assert_eq!(hidden.len(), 1, "only the program's listener: {doc}");
        assert_eq!(hidden[0]["endpoint"], tcp.as_str());
        assert_eq!(hidden[0]["filters"], serde_json::json!([filter]));
    }
    // Its own protocol shows it, and only it.
    let (status, out, _) =
        outcome(common::whoport(home.path()).args(["--json", &format!("{name}/tcp")]));
    assert_eq!(status, 0);
    let doc: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(endpoints(&doc, "listeners"), vec![tcp]);
}

#[test]
fn a_misspelt_name_keeps_its_protocol_in_what_is_said() {
    let home = tempdir();
    let (status, out, err) = outcome(common::whoport(home.path()).arg("grafanna/udp"));
    assert!(
        err.contains("'grafanna/udp' is not a UDP service name"),
        "{err}"
    );
    // grafana is close, but TCP only: suggested with its protocol, never as 'grafana/udp'.
    assert!(
        err.contains("close names on other protocols: 'grafana/tcp'"),
        "{err}"
    );
    assert!(
        !err.contains("'grafana/udp'") && !err.contains("'grafana'"),
        "{err}"
    );
    let (_, _, close) = outcome(common::whoport(home.path()).arg("domian/udp"));
    assert!(close.contains("did you mean 'domain/udp'"), "{close}");
    // Whether a process of that name listens: none (an error), or unknown (listeners whose
    // owners whoport could not see, counted).
    match status {
        2 => assert!(
            err.contains("no listening process is named 'grafanna'"),
            "{err}"
        ),
        1 => assert!(out.contains("whoport could not see"), "{out}"),
        s => panic!("status {s}: {out}{err}"),
    }
}

/// whoport run as `nobody` with the owner lookup `lookup`.
fn as_nobody(home: &std::path::Path, lookup: &str, args: &[&str]) -> (i32, String, String) {
    outcome(
        common::whoport_as_nobody(home)
            .env("WHOPORT_OWNER_LOOKUP", lookup)
            .args(args),
    )
}

/// Root's TCP listener in a process named `name`, shared with a forked child that became
/// `uid` and took the name `other` (a daemon that drops its privileges after root opened its
/// socket).
fn shared_with_child(name: &str, uid: &str, other: &str) -> Listener {
    Listener::start(&[
        "--comm-hex",
        &hex(name.as_bytes()),
        "--fork",
        "--child-user",
        uid,
        "--child-comm-hex",
        &hex(other.as_bytes()),
        "tcp4",
    ])
}

/// whoport as `uid` (a user of this run's own) with the owner lookup `lookup`: (status,
/// stdout, stderr).
fn as_uid(home: &std::path::Path, lookup: &str, uid: &str, args: &[&str]) -> (i32, String, String) {
    let id: u32 = uid.parse().expect("a uid");
    outcome(
        common::whoport(home)
            .env("WHOPORT_OWNER_LOOKUP", lookup)
            .uid(id)
            .gid(id)
            .args(args),
    )
}

/// A uid of this run's own, which no user has: `offset` apart for each test of this file, which
/// run at once (0 and 1: a user's processes not read; 2: a thread's user; 3: covered `status`;
/// 4: a user with no process; 5: a program's listener shared with a user's child; 6 and 7: a
/// process's listener shared with a user's child, and a user with no process beside it; 8: a
/// user with no process beside `hidepid`'s test; 9: a child's user in a namespace of its own).
fn own_uid(offset: u32) -> String {
    (40_000 + (std::process::id() + offset) % 20_000).to_string()
}

/// whoport as root with the owner lookup `lookup`: (status, stdout, stderr).
fn as_root(home: &std::path::Path, lookup: &str, args: &[&str]) -> (i32, String, String) {
    outcome(
        common::whoport(home)
            .env("WHOPORT_OWNER_LOOKUP", lookup)
            .args(args),
    )
}

/// [`as_root`]'s document, which it must answer with status 0.
fn root_json(home: &std::path::Path, lookup: &str, args: &[&str]) -> Value {
    let (status, out, err) = as_root(home, lookup, args);
    assert_eq!(status, 0, "{lookup} {args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|_| panic!("{lookup} {args:?}: {out}"))
}

/// The `hidden_by_filters` rows of a document that are at `endpoint`.
fn hidden_at<'a>(doc: &'a Value, endpoint: &str) -> Vec<&'a Value> {
    doc["hidden_by_filters"]
        .as_array()
        .unwrap_or_else(|| panic!("hidden_by_filters in {doc}"))
        .iter()
        .filter(|h| h["endpoint"] == endpoint)
        .collect()
}

#[test]
fn a_filter_over_listeners_a_normal_user_cannot_attribute_is_named_never_nothing() {
    if python().is_none() {
        return;
    }
    if !common::root_or_skip("a listener of root's looked at as 'nobody'") {
        return;
    }
    // Root's process of this run's own name, TCP and UDP on 127.0.0.1; and another, TCP only.
    let name = format!("wpf{}", std::process::id());
    let tcp_only = format!("wpt{}", std::process::id());
    let l = Listener::start(&["--comm-hex", &hex(name.as_bytes()), "tcp4", "udp4"]);
    let t = Listener::start(&["--comm-hex", &hex(tcp_only.as_bytes()), "tcp4"]);
    let (tcp, udp, only) = (
        format!("127.0.0.1:{}", l.port(0)),
        format!("127.0.0.1:{}", l.port(1)),
        format!("127.0.0.1:{}", t.port(0)),
    );
    let home = tempdir();
    let sctp = format!("{name}/sctp");
    let dccp = format!("{name}/dccp");
    let udp_query = format!("{tcp_only}/udp");
    // A user of this run's own, with no process: none of its processes went unread, so the
    // listeners are not its (`nobody` may have processes whoport, as nobody, cannot read:
    // any of them may share the listeners, and `--user nobody` keeps them then).
    let absent = own_uid(4);
    for lookup in ["procfs", "bpf"] {
        let nobody = |args: &[&str]| as_nobody(home.path(), lookup, args);
        // A filter about the socket hides them: named, with the unknown owner, exit 1.
        for (args, filter, sockets) in [
            (vec![name.as_str(), "-6"], "-6", vec![&tcp, &udp]),
            (
                vec![name.as_str(), "--user", absent.as_str()],
                "--user",
                vec![&tcp, &udp],
            ),
            (vec![sctp.as_str()], "/sctp", vec![&tcp, &udp]),
            (vec![dccp.as_str()], "/dccp", vec![&tcp, &udp]),
            (vec![udp_query.as_str()], "/udp", vec![&only]),
        ] {
            let (status, out, err) = nobody(&args);
            assert_eq!(status, 1, "{lookup} {args:?}: {out}{err}");
            assert!(!out.contains("Nothing is listening"), "{args:?}: {out}");
            assert!(!err.contains("no listening process"), "{args:?}: {err}");
            assert!(
                out.contains(&format!(
                    "hidden by {filter} have owners whoport could not see, and any of them may be "
                )) && out.contains(&format!("(hidden by {filter}): another user's socket")),
                "{lookup} {args:?}: {out}"
            );
            let mut json = vec!["--json"];
            json.extend(&args);
            let (status, out, _) = nobody(&json);
            assert_eq!(status, 1, "{lookup} {args:?}");
            let doc: Value = serde_json::from_str(&out).expect("json");
            assert!(endpoints(&doc, "listeners").is_empty(), "{doc}");
            for socket in &sockets {
                let rows = hidden_at(&doc, socket);
                assert_eq!(rows.len(), 1, "{lookup} {args:?}: {socket} in {doc}");
                assert_eq!(rows[0]["filters"], serde_json::json!([filter]), "{doc}");
                assert!(
                    rows[0]["owner_hidden_reason"]
                        .as_str()
                        .is_some_and(|r| r.contains("run as root")),
                    "{doc}"
                );
                assert!(!endpoints(&doc, "unattributed").contains(socket), "{doc}");
            }
            if filter == "/sctp" || filter == "/dccp" {
                let upper = filter[1..].to_uppercase();
                assert!(
                    doc["notes"].as_array().expect("notes").iter().any(|n| n
                        .as_str()
                        .is_some_and(|n| n.starts_with(&format!(
                            "whoport reads TCP, UDP and UDP-Lite sockets only: {upper} sockets of processes named '{name}' were not looked for"
                        )))),
                    "{doc}"
                );
            }
        }
        // --pid and --process are about the owner, which is unknown: the listeners may be
        // that process's, so they are counted as unknown, not hidden.
        for args in [
            vec![name.as_str(), "--pid", "1"],
            vec![name.as_str(), "--process", "foo"],
        ] {
            let (status, out, err) = nobody(&args);
            assert_eq!(status, 1, "{lookup} {args:?}: {out}{err}");
            assert!(!out.contains("Nothing is listening"), "{args:?}: {out}");
            assert!(
                out.contains(&format!(
                    "No process named '{name}' was seen listening, but "
                )),
                "{lookup} {args:?}: {out}"
            );
            let mut json = vec!["--json"];
            json.extend(&args);
            let (_, out, _) = nobody(&json);
            let doc: Value = serde_json::from_str(&out).expect("json");
            let unknown = endpoints(&doc, "unattributed");
            assert!(
                unknown.contains(&tcp) && unknown.contains(&udp),
                "{lookup} {args:?}: {doc}"
            );
            assert!(hidden_at(&doc, &tcp).is_empty(), "{doc}");
        }
        // Root sees the owners: hidden by /sctp, named, and SCTP said to be unread.
        let (status, out, err) = outcome(
            common::whoport(home.path())
                .env("WHOPORT_OWNER_LOOKUP", lookup)
                .arg(&sctp),
        );
        assert_eq!(status, 1, "{lookup}: {out}{err}");
        assert!(!out.contains("Nothing"), "{out}");
        assert!(
            out.contains("SCTP sockets were not looked for (see the note)")
                && out.contains(&format!("tcp {tcp}  loopback only  (hidden by /sctp)  {name} (pid {})", l.pid))
                && out.contains(&format!(
                    "note: whoport reads TCP, UDP and UDP-Lite sockets only: SCTP sockets of processes named '{name}' were not looked for (ss -Slnp lists them)"
                )),
            "{lookup}: {out}"
        );
    }
    drop(t);
    // No process of that name at all: an error (2) that still says SCTP was not read, or
    // listeners whose owners whoport could not see (1), with the note.
    let (status, out, err) = outcome(common::whoport(home.path()).arg(&sctp));
    let note = format!("SCTP sockets of processes named '{name}' were not looked for");
    drop(l);
    let (status2, out2, err2) = outcome(common::whoport(home.path()).arg(&sctp));
    assert_eq!(status, 1, "{out}{err}");
    assert!(out.contains(&note), "{out}");
    match status2 {
        2 => assert!(
            err2.contains(&format!("no process named '{name}' listens on TCP, UDP or UDP-Lite (whoport reads TCP, UDP and UDP-Lite sockets only: {note}")),
            "{err2}"
        ),
        1 => assert!(out2.contains(&note), "{out2}"),
        s => panic!("status {s}: {out2}{err2}"),
    }
}

#[test]
fn a_long_program_is_found_by_the_kernels_15_byte_name_and_by_its_own() {
    let Some(py) = python() else {
        return;
    };
    let dir = tempdir();
    let pid = std::process::id();
    // Started through a link named longer than 15 bytes: the kernel names the process after
    // the link, cut (its executable is the interpreter the link points to).
    let long = format!("wpl{pid}-very-long-daemon-name");
    let link = dir.path().join(&long);
    std::os::unix::fs::symlink(&py, &link).expect("link");
    let linked = Listener::start_with(&link, &["tcp4"]);
    // A script named longer than 15 bytes: the kernel names it after the script, cut; its
    // executable is the interpreter, the script its first argument.
    let script_name = format!("wps{pid}-long-script-daemon");
    let script = dir.path().join(&script_name);
    let body = std::fs::read_to_string(common::fixture("listen.py")).expect("listen.py");
    std::fs::write(&script, format!("#!{}\n{body}", py.display())).expect("script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let mut cmd = std::process::Command::new(&script);
    cmd.arg("tcp4");
    let scripted = Listener::start_command(cmd);
    let cut = |name: &str| name[..15].to_string();
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{}/comm", linked.pid))
            .expect("comm")
            .trim(),
        cut(&long),
        "the kernel's name is cut"
    );
    let home = tempdir();
    for lookup in ["procfs", "bpf"] {
        for (listener, names) in [
            (&linked, [long.clone(), cut(&long)]),
            (&scripted, [script_name.clone(), cut(&script_name)]),
        ] {
            let endpoint = format!("127.0.0.1:{}", listener.port(0));
            for name in names {
                let (status, out, err) = as_root(home.path(), lookup, &["--json", &name]);
                assert_eq!(status, 0, "{lookup} {name}: {out}{err}");
                let doc: Value = serde_json::from_str(&out).expect("json");
                assert!(
                    endpoints(&doc, "listeners").contains(&endpoint),
                    "{lookup} {name}: {doc}"
                );
            }
        }
        // A name the process does not have is not it: a longer cut, or a prefix of its name.
        for name in [format!("wpl{pid}-very-long"), format!("{}x", cut(&long))] {
            let (status, out, err) = as_root(home.path(), lookup, &["--json", &name]);
            if status == 1 {
                let doc: Value = serde_json::from_str(&out).expect("json");
                assert!(endpoints(&doc, "listeners").is_empty(), "{name}: {doc}");
            } else {
                assert_eq!(status, 2, "{name}: {out}{err}");
            }
        }
    }
}

/// A program name as `ps` shows it may be in any script: a process whose kernel name is
/// `café-N` (set with prctl), and a script named `wpé-N` (its kernel name), are found by it.
#[test]
fn a_program_named_in_utf8_is_found_by_its_name() {
    let Some(py) = python() else {
        return;
    };
    let pid = std::process::id() % 100_000;
    let comm = format!("café-{pid}");
    let named = Listener::start(&["--comm-hex", &hex(comm.as_bytes()), "tcp4"]);
    let dir = tempdir();
    let script_name = format!("wpé-{pid}");
    let script = dir.path().join(&script_name);
    let body = std::fs::read_to_string(common::fixture("listen.py")).expect("listen.py");
    std::fs::write(&script, format!("#!{}\n{body}", py.display())).expect("script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let mut cmd = std::process::Command::new(&script);
    cmd.arg("tcp4");
    let scripted = Listener::start_command(cmd);
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{}/comm", scripted.pid))
            .expect("comm")
            .trim(),
        script_name,
        "the kernel names the script"
    );
    let home = tempdir();
    for lookup in ["procfs", "bpf"] {
        for (listener, name) in [(&named, &comm), (&scripted, &script_name)] {
            let endpoint = format!("127.0.0.1:{}", listener.port(0));
            let (status, out, err) = as_root(home.path(), lookup, &["--json", name]);
            assert_eq!(status, 0, "{lookup} {name}: {out}{err}");
            let doc: Value = serde_json::from_str(&out).expect("json");
            assert_eq!(
                endpoints(&doc, "listeners"),
                vec![endpoint],
                "{lookup} {name}: {doc}"
            );
        }
    }
}

/// `--pid` and `--process` are about the owner: a listener whose owner a normal user cannot
/// see (root's, looked at by `nobody`) may be the process asked for. The listing says so
/// instead of "No listening sockets match" (JSON `unattributed`), `wait --listening --pid`
/// says its owners could not be seen instead of "none held by the process asked for", and
/// the audit judges it (a hidden owner) instead of checking nothing; the other filters still
/// narrow what is counted, and root, which sees the owner, shows it as a row. Both owner
/// lookups.
#[test]
fn a_pid_or_process_filter_over_a_listener_whose_owner_is_unseen_says_it_may_be_its() {
    if python().is_none() {
        return;
    }
    if !common::root_or_skip("a listener of root's looked at as 'nobody'") {
        return;
    }
    let name = format!("wppid{}", std::process::id());
    let l = Listener::start(&["--comm-hex", &hex(name.as_bytes()), "tcp4"]);
    let port = l.port(0).to_string();
    let tcp = format!("127.0.0.1:{port}");
    let pid = l.pid.to_string();
    let home = tempdir();
    for lookup in ["procfs", "bpf"] {
        let nobody = |args: &[&str]| as_nobody(home.path(), lookup, args);
        for filter in [["--pid", pid.as_str()], ["--process", name.as_str()]] {
            let (status, out, err) = nobody(&["--json", filter[0], filter[1]]);
            assert_eq!(status, 1, "{lookup} {filter:?}: nothing shown: {out}{err}");
            let doc: Value = serde_json::from_str(&out).expect("json");
            assert!(endpoints(&doc, "listeners").is_empty(), "{doc}");
            assert!(
                endpoints(&doc, "unattributed").contains(&tcp),
                "{lookup} {filter:?}: {doc}"
            );
            // Another filter about the socket still leaves it out.
            let (_, out, _) = nobody(&["--json", "--udp", filter[0], filter[1]]);
            let doc: Value = serde_json::from_str(&out).expect("json");
            assert!(!endpoints(&doc, "unattributed").contains(&tcp), "{doc}");
        }
        // A PID that names no process holds nothing.
        let (status, out, _) = nobody(&["--json", "--pid", "4294967295"]);
        let doc: Value = serde_json::from_str(&out).expect("json");
        assert_eq!(status, 1);
        assert!(endpoints(&doc, "unattributed").is_empty(), "{doc}");
        let (_, out, _) = nobody(&["--pid", &pid]);
        assert!(
            out.contains(&format!("No listener of PID {pid} was seen, but "))
                && out.contains(&format!("may be PID {pid}'s:")),
            "{lookup}: {out}"
        );
        assert!(
            !out.contains("No listening sockets match"),
            "{lookup}: {out}"
        );
        let (status, out, _) = nobody(&[
            "wait",
            &port,
            "--listening",
            "--pid",
            &pid,
            "--timeout",
            "8s",
            "--json",
        ]);
        let doc: Value = serde_json::from_str(&out).expect("json");
        assert_eq!(
            (status, &doc["unmet"]),
            (1, &Value::from("owners_unseen")),
            "{lookup}: {doc}"
        );
        let (_, out, err) = nobody(&["audit", "--json", "--pid", &pid]);
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}{err}"));
        assert!(
            doc["findings"]
                .as_array()
                .expect("findings")
                .iter()
                .any(|f| { f["id"] == "hidden-owner" && f["listener"]["port"] == l.port(0) }),
            "{lookup}: {doc}"
        );
        // Root sees the owner: a row, not among those whose owner is unknown (a host may
        // have others: a sandbox's PID 1 that keeps its descriptors even from root).
        let doc = root_json(home.path(), lookup, &["--json", "--pid", &pid]);
        assert!(endpoints(&doc, "listeners").contains(&tcp), "{doc}");
        assert!(!endpoints(&doc, "unattributed").contains(&tcp), "{doc}");
    }
}

#[test]
fn a_port_card_or_range_filtered_by_pid_or_process_keeps_a_listener_whose_owner_is_unseen() {
    if python().is_none() {
        return;
    }
    if !common::root_or_skip("a listener of root's looked at as 'nobody'") {
        return;
    }
    let name = format!("wpcard{}", std::process::id());
    let l = Listener::start(&["--comm-hex", &hex(name.as_bytes()), "tcp4"]);
    let port = l.port(0).to_string();
    let range = format!("{port}-{}", l.port(0).saturating_add(1));
    let tcp = format!("127.0.0.1:{port}");
    let pid = l.pid.to_string();
    let home = tempdir();
    for lookup in ["procfs", "bpf"] {
        let nobody = |args: &[&str]| as_nobody(home.path(), lookup, args);
        for filter in [["--pid", pid.as_str()], ["--process", name.as_str()]] {
            for query in [port.as_str(), range.as_str()] {
                // Never "hidden by --pid": that filter is about the owner, unknown here.
                let (status, out, err) = nobody(&["--json", query, filter[0], filter[1]]);
                assert_eq!(status, 1, "{lookup} {query} {filter:?}: {out}{err}");
                let doc: Value = serde_json::from_str(&out).expect("json");
                assert!(
                    hidden_at(&doc, &tcp).is_empty(),
                    "{lookup} {query} {filter:?}: {doc}"
                );
                assert!(
                    endpoints(&doc, "unattributed").contains(&tcp),
                    "{lookup} {query} {filter:?}: {doc}"
                );
                // (A card names each such socket; a range counts them by why.)
                let (_, out, _) = nobody(&[query, filter[0], filter[1]]);
                assert!(
                    !out.contains("hidden by")
                        && out.contains(" may be ")
                        && (query == range || out.contains(&tcp)),
                    "{lookup} {query} {filter:?}: {out}"
                );
            }
        }
        // The card says what was not seen on the port, and the socket with why.
        let (_, out, _) = nobody(&[&port, "--pid", &pid]);
        assert!(
            out.contains(&format!("No listener of PID {pid} was seen on {port}/tcp"))
                && out.contains(&format!("it may be PID {pid}'s:"))
                && out.contains("owner not seen: another user's socket"),
            "{lookup}: {out}"
        );
        assert!(!out.contains("Nothing"), "{lookup}: {out}");
        // A filter about the socket still hides it, and is the only one named.
        let (_, out, _) = nobody(&["--json", &port, "--pid", &pid, "--udp"]);
        let doc: Value = serde_json::from_str(&out).expect("json");
        let hidden = hidden_at(&doc, &tcp);
        assert_eq!(hidden.len(), 1, "{lookup}: {doc}");
        assert_eq!(hidden[0]["filters"], serde_json::json!(["--udp"]), "{doc}");
        assert!(endpoints(&doc, "unattributed").is_empty(), "{doc}");
        // Root sees the owner: a row on the card.
        let doc = root_json(home.path(), lookup, &["--json", &port, "--pid", &pid]);
        assert!(endpoints(&doc, "listeners").contains(&tcp), "{doc}");
        assert!(endpoints(&doc, "unattributed").is_empty(), "{doc}");
    }
}

/// A process of nobody's that holds no socket, killed by PID when dropped.
struct Sleeper(std::process::Child);

impl Sleeper {
    fn start() -> Sleeper {
        use std::os::unix::process::CommandExt;
        let child = std::process::Command::new("sleep")
            .arg("120")
            .uid(65534)
            .gid(65534)
            .spawn()
            .expect("sleep as nobody");
        Sleeper(child)
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn what_pid_hid_is_never_said_to_be_the_process_asked_for_and_fits_a_narrow_terminal() {
    if python().is_none() {
        return;
    }
    if !common::root_or_skip("listeners of root's looked at as 'nobody'") {
        return;
    }
    // Port P: root's, shared with a child of nobody's (nobody sees the child hold it); P + 1:
    // root's alone (nobody cannot see who holds it). The process asked for holds neither.
    let shared = Listener::start_alone(&["--fork", "--child-user", "65534", "tcp4"], 1);
    let p = shared.port(0);
    let _alone = Listener::start(&[&format!("tcp4:{}", p + 1)]);
    let asked = Sleeper::start();
    let pid = asked.0.id().to_string();
    let range = format!("{p}-{}", p + 1);
    let home = tempdir();
    for lookup in ["procfs", "bpf"] {
        let (_, out, err) = outcome(
            common::whoport_as_nobody(home.path())
                .env("WHOPORT_OWNER_LOOKUP", lookup)
                .args([&range, "--pid", &pid]),
        );
        // P was hidden by --pid: the socket of P + 1 is "more", never the process's "too".
        let flat = out.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            flat.contains(&format!("127.0.0.1:{p} loopback only (hidden by --pid)"))
                && flat.contains(&format!(
                    "1 more listening socket has an owner whoport could not see, and it may be \
                     PID {pid}'s:"
                ))
                && !flat.contains(&format!("PID {pid}'s too")),
            "{lookup}: {out}{err}"
        );
        // On a terminal 50 columns wide, what the filters hid and why fits it.
        let (_, out, err) = outcome(
            common::whoport_as_nobody(home.path())
                .env("WHOPORT_OWNER_LOOKUP", lookup)
                .env("COLUMNS", "50")
                .args([&range, "--pid", &pid, "--udp"]),
        );
        assert!(out.contains("(hidden by --udp"), "{lookup}: {out}{err}");
        let long: Vec<&str> = out
            .lines()
            .take_while(|l| !l.starts_with("No port in"))
            .filter(|l| l.chars().count() > 50)
            .collect();
        assert!(long.is_empty(), "{lookup}: {long:?} in\n{out}");
    }
}

#[test]
fn a_pid_whose_descriptors_cannot_be_read_is_never_said_to_hold_nothing() {
    if python().is_none() {
        return;
    }
    if !common::root_or_skip("a process of root's with a child of nobody's") {
        return;
    }
    // Root's listener, shared with a child that became nobody (and dumpable again): nobody
    // reads the child's descriptors, never the parent's.
    let name = format!("wpunr{}", std::process::id());
    let l = Listener::start(&[
        "--comm-hex",
        &hex(name.as_bytes()),
        "--fork",
        "--child-user",
        "65534",
        "tcp4",
    ]);
    let (parent, child) = (l.pid.to_string(), l.children[0].to_string());
    let port = l.port(0).to_string();
    let tcp = format!("127.0.0.1:{port}");
    let note = format!("the descriptors of PID {parent} could not be read");
    let home = tempdir();
    for lookup in ["procfs", "bpf"] {
        let nobody = |args: &[&str]| as_nobody(home.path(), lookup, args);
        // The child is named: its descriptors were read.
        let (status, out, err) = nobody(&["--json", "--pid", &child]);
        assert_eq!(status, 0, "{lookup}: {out}{err}");
        let doc: Value = serde_json::from_str(&out).expect("json");
        assert!(
            endpoints(&doc, "listeners").contains(&tcp),
            "{lookup}: {doc}"
        );
        assert!(!doc["notes"].to_string().contains(&note), "{doc}");
        assert_eq!(doc["asked_unread"], Value::Null, "{lookup}: {doc}");
        // The parent may hold it too: never "nothing", and said why.
        let unread = serde_json::json!({ "pids": [l.pid], "count": 1 });
        let (status, out, err) = nobody(&["--json", "--pid", &parent]);
        assert_eq!(status, 1, "{lookup}: {out}{err}");
        let doc: Value = serde_json::from_str(&out).expect("json");
        assert!(endpoints(&doc, "listeners").is_empty(), "{lookup}: {doc}");
        assert!(doc["notes"].to_string().contains(&note), "{lookup}: {doc}");
        assert_eq!(doc["asked_unread"], unread, "{lookup}: {doc}");
        let (_, out, _) = nobody(&["--pid", &parent]);
        assert!(
            !out.contains("No listening sockets match")
                && out.contains(&format!("No listener of PID {parent} was seen"))
                && out.contains(&note),
            "{lookup}: {out}"
        );
        // A port card and a range never say nothing of it listens.
        for query in [port.clone(), format!("{port}-{port}")] {
            let (_, out, _) = nobody(&[&query, "--pid", &parent]);
            assert!(
                out.contains(&format!(
                    "(hidden by --pid; PID {parent}, whose descriptors could not be read, may \
                     hold it too)"
                )) && !out.contains("Nothing that matches"),
                "{lookup} {query}: {out}"
            );
            let (_, out, err) = nobody(&[&query, "--pid", &parent, "--json"]);
            let doc: Value =
                serde_json::from_str(&out).unwrap_or_else(|_| panic!("{lookup}: {out}{err}"));
            assert_eq!(doc["asked_unread"], unread, "{lookup} {query}: {doc}");
        }
        let wait = |pid: &str| {
            let (status, out, err) = nobody(&[
                "wait",
                &port,
                "--listening",
                "--pid",
                pid,
                "--timeout",
                "3s",
                "--json",
            ]);
            let doc: Value =
                serde_json::from_str(&out).unwrap_or_else(|_| panic!("{lookup}: {out}{err}"));
            (status, doc["unmet"].clone())
        };
        assert_eq!(wait(&child), (0, Value::Null), "{lookup}");
        assert_eq!(
            wait(&parent),
            (1, Value::from("asked_unread")),
            "{lookup}: never 'none held by the process asked for'"
        );
        // By name: the child is shown, and the parent, which has the name too, is said.
        let (status, out, err) = nobody(&["--json", "--process", &name]);
        assert_eq!(status, 0, "{lookup}: {out}{err}");
        let doc: Value = serde_json::from_str(&out).expect("json");
        assert!(
            endpoints(&doc, "listeners").contains(&tcp),
            "{lookup}: {doc}"
        );
        assert!(
            doc["notes"].to_string().contains(&format!(
                "the descriptors of 1 process whose name contains '{name}' (PID {parent}) could \
                 not be read"
            )),
            "{lookup}: {doc}"
        );
        assert_eq!(doc["asked_unread"], unread, "{lookup}: {doc}");
        // Root reads both.
        let doc = root_json(home.path(), lookup, &["--json", "--pid", &parent]);
        assert!(endpoints(&doc, "listeners").contains(&tcp), "{doc}");
        assert!(!doc["notes"].to_string().contains(&note), "{doc}");
    }
}

#[test]
fn a_user_whose_processes_cannot_be_read_is_never_said_to_hold_nothing() {
    if python().is_none() {
        return;
    }
    if !common::root_or_skip("a process of root's with a child of another user's") {
        return;
    }
    // Root's listener, shared with a child that became a user of this run's own (a daemon
    // that drops its privileges): nobody reads neither, and the socket is root's.
    let uid = own_uid(0);
    let other = own_uid(1);
    let name = format!("wpusr{}", std::process::id());
    let l = Listener::start(&[
        "--comm-hex",
        &hex(name.as_bytes()),
        "--fork",
        "--child-user",
        &uid,
        "tcp4",
    ]);
    let child = l.children[0];
    let port = l.port(0).to_string();
    let tcp = format!("127.0.0.1:{port}");
    let note = format!(
        "the descriptors of 1 process of user {uid} (PID {child}) could not be read: whether it \
         holds any listener is not known"
    );
    let unread = serde_json::json!({ "pids": [child], "count": 1 });
    let home = tempdir();
    for lookup in ["procfs", "bpf"] {
        let nobody = |args: &[&str]| as_nobody(home.path(), lookup, args);
        // The listing: never "none match", the socket may be that user's.
        let (status, out, err) = nobody(&["--json", "--user", &uid]);
        assert_eq!(status, 1, "{lookup}: {out}{err}");
        let doc: Value = serde_json::from_str(&out).expect("json");
        assert!(endpoints(&doc, "listeners").is_empty(), "{lookup}: {doc}");
        assert!(
            endpoints(&doc, "unattributed").contains(&tcp),
            "{lookup}: {doc}"
        );
        assert_eq!(doc["asked_unread"], unread, "{lookup}: {doc}");
        assert!(doc["notes"].to_string().contains(&note), "{lookup}: {doc}");
        let (_, out, _) = nobody(&["--user", &uid]);
        assert!(
            out.contains(&format!("No listener of user {uid} was seen"))
                && out.contains(&format!("may be user {uid}'s:"))
                && !out.contains("No listening sockets match"),
            "{lookup}: {out}"
        );
        // The card and a range keep it, never "hidden by --user"; a filter about the socket
        // still hides it, and is the only one named.
        for query in [port.clone(), format!("{port}-{port}")] {
            let (_, out, err) = nobody(&["--json", &query, "--user", &uid]);
            let doc: Value =
                serde_json::from_str(&out).unwrap_or_else(|_| panic!("{lookup}: {out}{err}"));
            assert!(hidden_at(&doc, &tcp).is_empty(), "{lookup} {query}: {doc}");
            assert!(
                endpoints(&doc, "unattributed").contains(&tcp),
                "{lookup} {query}: {doc}"
            );
            assert_eq!(doc["asked_unread"], unread, "{lookup} {query}: {doc}");
            let (_, out, _) = nobody(&[&query, "--user", &uid]);
            assert!(
                !out.contains("Nothing") && !out.contains("hidden by"),
                "{lookup} {query}: {out}"
            );
        }
        let (_, out, _) = nobody(&["--json", &port, "--user", &uid, "--udp"]);
        let doc: Value = serde_json::from_str(&out).expect("json");
        let hidden = hidden_at(&doc, &tcp);
        assert_eq!(hidden.len(), 1, "{lookup}: {doc}");
        assert_eq!(hidden[0]["filters"], serde_json::json!(["--udp"]), "{doc}");
        // A user none of whose processes went unread: the socket is root's, hidden by --user.
        let (_, out, _) = nobody(&["--json", &port, "--user", &other]);
        let doc: Value = serde_json::from_str(&out).expect("json");
        let hidden = hidden_at(&doc, &tcp);
        assert_eq!(hidden.len(), 1, "{lookup}: {doc}");
        assert_eq!(hidden[0]["filters"], serde_json::json!(["--user"]), "{doc}");
        assert_eq!(doc["asked_unread"], Value::Null, "{lookup}: {doc}");
        // Beside --pid: only an unread process that may act as that user is asked for.
        let json = |args: &[&str]| -> Value {
            let (_, out, err) = nobody(args);
            serde_json::from_str(&out).unwrap_or_else(|_| panic!("{lookup} {args:?}: {out}{err}"))
        };
        let doc = json(&["--json", "--user", &uid, "--pid", &child.to_string()]);
        assert_eq!(doc["asked_unread"], unread, "{lookup}: {doc}");
        assert!(
            endpoints(&doc, "unattributed").contains(&tcp),
            "{lookup}: {doc}"
        );
        // The parent is root's, but shares the listener with the child, which is that user's:
        // root lists it for both, and nobody, who reads neither, is told it may be.
        let doc = json(&["--json", "--user", &uid, "--pid", &l.pid.to_string()]);
        let mut both = vec![l.pid, child];
        both.sort_unstable();
        assert_eq!(
            doc["asked_unread"],
            serde_json::json!({ "pids": both, "count": 2 }),
            "{lookup}: {doc}"
        );
        assert!(
            endpoints(&doc, "unattributed").contains(&tcp),
            "{lookup}: {doc}"
        );
        // Beside a user none of whose processes went unread, nothing of the parent's can be
        // that user's.
        let doc = json(&["--json", "--user", &other, "--pid", &l.pid.to_string()]);
        assert_eq!(doc["asked_unread"], Value::Null, "{lookup}: {doc}");
        assert!(
            !endpoints(&doc, "unattributed").contains(&tcp),
            "{lookup}: {doc}"
        );
        // A program's name with --user: the socket may be that program's, never hidden by
        // --user.
        let doc = json(&["--json", &name, "--user", &uid]);
        assert!(hidden_at(&doc, &tcp).is_empty(), "{lookup}: {doc}");
        assert!(
            endpoints(&doc, "unattributed").contains(&tcp),
            "{lookup}: {doc}"
        );
        // Root reads the child: a row of that user's.
        let doc = root_json(home.path(), lookup, &["--json", "--user", &uid]);
        assert!(endpoints(&doc, "listeners").contains(&tcp), "{doc}");
        assert_eq!(doc["asked_unread"], Value::Null, "{lookup}: {doc}");
    }
}

#[test]
fn a_listener_a_program_shares_with_an_unread_process_of_another_name_may_be_the_users() {
    if python().is_none() {
        return;
    }
    if !common::root_or_skip("a process of root's with a child of another user's") {
        return;
    }
    // Root's listener named `name`, shared with a child that became a user of this run's own
    // and took another name: root sees the listener held by `name` and by that user, so
    // `name --user U` lists it. nobody reads neither process: the listener may be both the
    // program's and U's, through two processes, and is never said hidden by --user.
    let uid = own_uid(5);
    let name = format!("wpprog{}", std::process::id());
    let other = format!("wpkid{}", std::process::id());
    let l = shared_with_child(&name, &uid, &other);
    let tcp = format!("127.0.0.1:{}", l.port(0));
    let home = tempdir();
    for lookup in ["procfs", "bpf"] {
        let doc = root_json(home.path(), lookup, &["--json", &name, "--user", &uid]);
        assert!(
            endpoints(&doc, "listeners").contains(&tcp),
            "{lookup}: {doc}"
        );
        let (status, out, err) = as_nobody(home.path(), lookup, &["--json", &name, "--user", &uid]);
        assert_eq!(status, 1, "{lookup}: {out}{err}");
        let doc: Value = serde_json::from_str(&out).expect("json");
        assert!(hidden_at(&doc, &tcp).is_empty(), "{lookup}: {doc}");
        assert!(
            endpoints(&doc, "unattributed").contains(&tcp),
            "{lookup}: {doc}"
        );
        assert_eq!(
            doc["asked_unread"],
            serde_json::json!({ "pids": [l.children[0]], "count": 1 }),
            "{lookup}: {doc}"
        );
        let (_, out, _) = as_nobody(home.path(), lookup, &[&name, "--user", &uid]);
        assert!(
            !out.contains("hidden by --user") && !out.contains("Nothing that matches"),
            "{lookup}: {out}"
        );
    }
}

#[test]
fn a_listener_a_process_asked_for_shares_with_an_unread_process_of_the_user_may_be_both() {
    if python().is_none() {
        return;
    }
    if !common::root_or_skip("a process of root's with a child of another user's") {
        return;
    }
    // Root's listener named `name`, shared with a child that became a user of this run's own
    // and took another name: root lists it for `--process name --user U` and `--pid PARENT
    // --user U`. nobody reads neither process, and neither is both name and U: the listener
    // they share may be both, and is never said hidden by --user nor ruled out. U reads its
    // child, not the parent, which may share the child's listener: never ruled out either. A
    // user with no process rules it out still.
    let uid = own_uid(6);
    let absent = own_uid(7);
    let name = format!("wpproc{}", std::process::id());
    let other = format!("wpchild{}", std::process::id());
    let l = shared_with_child(&name, &uid, &other);
    let port = l.port(0).to_string();
    let tcp = format!("127.0.0.1:{port}");
    let parent = l.pid.to_string();
    let mut both = vec![l.pid, l.children[0]];
    both.sort_unstable();
    let home = tempdir();
    for lookup in ["procfs", "bpf"] {
        for asked in [["--process", name.as_str()], ["--pid", parent.as_str()]] {
            let args = [asked[0], asked[1], "--user", &uid];
            let doc = root_json(home.path(), lookup, &[&["--json"], &args[..]].concat());
            assert!(
                endpoints(&doc, "listeners").contains(&tcp),
                "{lookup} {asked:?}: {doc}"
            );
            let (status, out, err) =
                as_nobody(home.path(), lookup, &[&["--json"], &args[..]].concat());
            assert_eq!(status, 1, "{lookup} {asked:?}: {out}{err}");
            let doc: Value = serde_json::from_str(&out).expect("json");
            assert!(
                endpoints(&doc, "unattributed").contains(&tcp),
                "{lookup} {asked:?}: {doc}"
            );
            assert_eq!(
                doc["asked_unread"],
                serde_json::json!({ "pids": both, "count": 2 }),
                "{lookup} {asked:?}: {doc}"
            );
            let (_, out, _) = as_nobody(home.path(), lookup, &args);
            assert!(
                !out.contains("No listening sockets match")
                    && out.contains("whether they share any listener, which would be both"),
                "{lookup} {asked:?}: {out}"
            );
            let (_, out, _) =
                as_nobody(home.path(), lookup, &[&[port.as_str()], &args[..]].concat());
            assert!(
                !out.contains("hidden by --user") && !out.contains("Nothing that matches"),
                "{lookup} {asked:?}: {out}"
            );
            // As that user, who reads the child: the parent, not read, may share the child's
            // listener, which would then be both; never ruled out.
            let as_user = |args: &[&str]| as_uid(home.path(), lookup, &uid, args);
            let (status, out, err) = as_user(&[&["--json"], &args[..]].concat());
            assert_eq!(status, 1, "{lookup} {asked:?} as {uid}: {out}{err}");
            let doc: Value = serde_json::from_str(&out).expect("json");
            assert_eq!(
                doc["asked_unread"],
                serde_json::json!({ "pids": [l.pid], "count": 1 }),
                "{lookup} {asked:?} as {uid}: {doc}"
            );
            let (_, out, _) = as_user(&args);
            assert!(
                !out.contains("No listening sockets match")
                    && out.contains("any listener seen held by a process of user"),
                "{lookup} {asked:?} as {uid}: {out}"
            );
            // A process of that user's it cannot read either (not dumpable): both kinds are
            // named, and the card counts only the one asked for as possibly holding the
            // listener --process or --pid hid.
            let undumpable =
                Listener::start(&["--fork", "--child-user", &uid, "--child-undumpable", "tcp4"]);
            let (_, out, _) = as_user(&[&[port.as_str()], &args[..]].concat());
            let hid = if asked[0] == "--pid" {
                format!(
                    "PID {}, whose descriptors could not be read, may hold it too",
                    l.pid
                )
            } else {
                "a process asked for whose descriptors could not be read may hold it too"
                    .to_string()
            };
            assert!(
                out.contains(&hid) && out.contains("whether they share any listener"),
                "{lookup} {asked:?} as {uid}: {out}"
            );
            drop(undumpable);
            let ruled_out = [asked[0], asked[1], "--user", &absent];
            let (status, out, err) = as_nobody(home.path(), lookup, &ruled_out);
            assert_eq!(
                (status, out.lines().next()),
                (1, Some("No listening sockets match.")),
                "{lookup} {asked:?}: {out}{err}"
            );
        }
    }

    // As that user, asked for the child (read, and seen holding the listener) beside root:
    // root's processes it cannot read, the parent among them, may share that listener, which
    // would then be both: said, never "No listening sockets match." nor plainly hidden by
    // --user.
    let child = l.children[0].to_string();
    for lookup in ["procfs", "bpf"] {
        let as_user = |args: &[&str]| as_uid(home.path(), lookup, &uid, args);
        for asked in [["--process", other.as_str()], ["--pid", child.as_str()]] {
            let args = [asked[0], asked[1], "--user", "0"];
            let (status, out, err) = as_user(&args);
            assert_eq!(status, 1, "{lookup} {asked:?}: {out}{err}");
            assert!(
                !out.contains("No listening sockets match")
                    && out.contains("whether they share a listener seen held by"),
                "{lookup} {asked:?}: {out}"
            );
            let (_, out, _) = as_user(&[&["--json"], &args[..]].concat());
            let doc: Value = serde_json::from_str(&out).expect("json");
            let pids = doc["asked_unread"]["pids"].as_array().expect("pids");
            assert!(
                pids.contains(&Value::from(l.pid))
                    || doc["asked_unread"]["count"].as_u64() > Some(8),
                "{lookup} {asked:?}: {doc}"
            );
            assert!(
                !pids.contains(&Value::from(l.children[0])),
                "{lookup} {asked:?}: {doc}"
            );
            let (_, out, _) = as_user(&[&[port.as_str()], &args[..]].concat());
            assert!(
                out.contains("(hidden by --user; ")
                    && out.contains(
                        "of that user whose descriptors could not be read may hold it too"
                    )
                    && !out.contains("Nothing that matches"),
                "{lookup} {asked:?}: {out}"
            );
        }
    }

    // Asked for by the child's name beside root: the child, which nobody cannot read, may
    // share a listener with any of root's processes nobody cannot read; the JSON names the
    // process asked for first, however many of root's there are.
    for lookup in ["procfs", "bpf"] {
        let (_, out, err) = as_nobody(
            home.path(),
            lookup,
            &["--json", "--process", &other, "--user", "0"],
        );
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}{err}"));
        assert_eq!(
            doc["asked_unread"]["pids"][0], l.children[0],
            "{lookup}: {doc}"
        );
        assert!(
            doc["asked_unread"]["count"].as_u64() > Some(1),
            "{lookup}: {doc}"
        );
    }
}

/// In a network namespace of its own, where no socket is ownerless: run as the user of a
/// child (read, and seen holding root's listener), `--process CHILD --user 0` opens with what is
/// not known (root's processes it cannot read may share that listener), never `No listening
/// sockets match.`
#[test]
fn a_listener_seen_held_by_the_process_asked_for_may_be_shared_with_the_users_unread_processes() {
    let Some(py) = python() else {
        return;
    };
    if !common::root_or_skip("a network namespace and a child of another user's")
        || !common::have("unshare", "apt-get install -y util-linux")
        || !common::have("setpriv", "apt-get install -y util-linux")
    {
        return;
    }
    let uid = own_uid(9);
    let other = format!("wpseen{}", std::process::id());
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/listen.py");
    let script = format!(
        "exec unshare -n sh -c 'ip link set lo up && \
         {{ sleep 30 | {py} {fixture} --fork --child-user {uid} --child-comm-hex {hex} tcp4 \
         > /dev/null & }} && sleep 1.5 && \
         setpriv --reuid {uid} --regid {uid} --clear-groups env WHOPORT_OWNER_LOOKUP=procfs \
         \"$WHOPORT\" --process {other} --user 0; echo \"rc=$?\"; pkill -P $$ sleep'",
        py = py.display(),
        hex = hex(other.as_bytes()),
    );
    let (_, out, err) = common::sh_within(&script, std::time::Duration::from_secs(60));
    assert!(
        out.starts_with("No listener seen matches every filter, but the descriptors of ")
            && out.contains("of user 0 could not be read: whether")
            && out.contains(
                "whether they share a listener seen held by a process whose name contains"
            )
            && out.contains("rc=1"),
        "{out}{err}"
    );
}

#[test]
fn a_process_one_of_whose_threads_acts_as_the_user_is_that_users_when_unread() {
    if python().is_none() {
        return;
    }
    if !common::root_or_skip("a process of root's with a thread of another user's") {
        return;
    }
    // Root's process whose second thread acts as a user of this run's own (credentials are
    // per thread): root reads it and names it that user's; nobody reads neither.
    let uid = own_uid(2);
    let l = Listener::start(&["--thread-user", &uid, "tcp4"]);
    let tcp = format!("127.0.0.1:{}", l.port(0));
    let home = tempdir();
    for lookup in ["procfs", "bpf"] {
        let (status, out, err) = as_nobody(home.path(), lookup, &["--json", "--user", &uid]);
        assert_eq!(status, 1, "{lookup}: {out}{err}");
        let doc: Value = serde_json::from_str(&out).expect("json");
        assert_eq!(
            doc["asked_unread"],
            serde_json::json!({ "pids": [l.pid], "count": 1 }),
            "{lookup}: {doc}"
        );
        assert!(
            endpoints(&doc, "unattributed").contains(&tcp),
            "{lookup}: {doc}"
        );
        let doc = root_json(home.path(), lookup, &["--json", "--user", &uid]);
        assert!(
            endpoints(&doc, "listeners").contains(&tcp),
            "{lookup}: {doc}"
        );
    }
}

#[test]
fn where_proc_hides_processes_a_user_asking_for_its_own_is_not_told_nothing() {
    if python().is_none() {
        return;
    }
    if !common::root_or_skip("a private /proc mounted with hidepid") {
        return;
    }
    if !common::have("setpriv", "apt-get install -y util-linux")
        || !common::have("unshare", "apt-get install -y util-linux")
    {
        return;
    }
    // Root's listener, shared with a child of nobody's that is not dumpable: a /proc mounted
    // with hidepid hides it from nobody too (in a mount namespace of the test's own).
    let l = Listener::start(&[
        "--fork",
        "--child-user",
        "65534",
        "--child-undumpable",
        "tcp4",
    ]);
    let tcp = format!("127.0.0.1:{}", l.port(0));
    // Without hidepid nobody sees the child but not its descriptors: beside --pid, --user
    // keeps the listener as possibly the child's for the child's own user, and for root,
    // whose unread processes may share it (as the parent does); not for a user with no
    // process.
    let child = l.children[0].to_string();
    let absent = own_uid(8);
    let home = tempdir();
    for (user, kept) in [("65534", true), ("0", true), (absent.as_str(), false)] {
        let (_, out, err) = as_nobody(
            home.path(),
            "procfs",
            &["--json", "--pid", &child, "--user", user],
        );
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}{err}"));
        assert_eq!(
            endpoints(&doc, "unattributed").contains(&tcp),
            kept,
            "--user {user}: {doc}"
        );
        let (_, out, _) = as_nobody(home.path(), "procfs", &["--pid", &child, "--user", user]);
        assert_eq!(
            out.contains(&format!("may be PID {child}'s")),
            kept,
            "--user {user}: {out}"
        );
    }
    let script = format!(
        "unshare -m --propagation private sh -c 'mount -t proc -o hidepid=2 proc /proc && \
         exec setpriv --reuid 65534 --regid 65534 --clear-groups env \
         WHOPORT_OWNER_LOOKUP=procfs \"$WHOPORT\" {} --user nobody --json'",
        l.port(0)
    );
    let (status, out, err) = common::sh(&script);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{status}: {out}{err}"));
    assert!(hidden_at(&doc, &tcp).is_empty(), "{doc}");
    assert!(endpoints(&doc, "unattributed").contains(&tcp), "{doc}");
}

#[test]
fn a_thread_id_given_to_pid_stands_for_its_process() {
    if python().is_none() {
        return;
    }
    let l = Listener::start(&["--threads", "1", "tcp4"]);
    let tcp = format!("127.0.0.1:{}", l.port(0));
    let tid = std::fs::read_dir(format!("/proc/{}/task", l.pid))
        .expect("task directory")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|&t| t != l.pid)
        .expect("a second thread");
    let home = tempdir();
    let said = format!(
        "{tid} is a thread of process {}: --pid {tid} is taken as --pid {}",
        l.pid, l.pid
    );
    for lookup in ["procfs", "bpf"] {
        let whoport = |args: &[&str]| as_root(home.path(), lookup, args);
        let tid = tid.to_string();
        let (status, out, err) = whoport(&["--json", "--pid", &tid]);
        assert_eq!(status, 0, "{lookup}: {out}{err}");
        let doc: Value = serde_json::from_str(&out).expect("json");
        assert!(
            endpoints(&doc, "listeners").contains(&tcp),
            "{lookup}: {doc}"
        );
        assert!(err.contains(&said), "{lookup}: {err}");
        let port = l.port(0).to_string();
        let (status, out, err) = whoport(&[&port, "--pid", &tid]);
        assert!(
            status == 0 && !out.contains("hidden by"),
            "{lookup}: {out}{err}"
        );
        let (status, _, err) = whoport(&[
            "wait",
            &port,
            "--listening",
            "--pid",
            &tid,
            "--timeout",
            "8s",
        ]);
        assert_eq!(status, 0, "{lookup}: {err}");
    }
}

#[test]
fn a_user_whose_processes_status_is_covered_or_whose_name_has_two_uids_is_not_ruled_out() {
    if python().is_none() {
        return;
    }
    if !common::root_or_skip("mounts in a mount namespace of the test's own") {
        return;
    }
    if !common::have("setpriv", "apt-get install -y util-linux")
        || !common::have("unshare", "apt-get install -y util-linux")
    {
        return;
    }
    // Root's listener, shared with a child of a uid of this run's own, that nobody cannot read.
    let uid: u32 = own_uid(3).parse().expect("a uid");
    let l = Listener::start(&["--fork", "--child-user", &uid.to_string(), "tcp4"]);
    let child = l.children[0];
    let tcp = format!("127.0.0.1:{}", l.port(0));
    let dir = tempdir();
    let status = dir.path().join("status");
    std::fs::write(&status, "Name:\tdecoy\nUid:\t1\t1\t1\t1\nThreads:\t1\n").expect("status");
    // A user database where the name comes first with another uid, then with the child's.
    let passwd = dir.path().join("passwd");
    let system = std::fs::read_to_string("/etc/passwd").expect("/etc/passwd");
    std::fs::write(
        &passwd,
        format!(
            "{system}wpdup:x:{}:{}::/:/bin/false\nwpdup:x:{uid}:{uid}::/:/bin/false\n",
            uid + 1,
            uid + 1
        ),
    )
    .expect("passwd");
    let run = |mount: String, user: String| -> Value {
        let script = format!(
            "unshare -m --propagation private sh -c '{mount} && exec setpriv --reuid 65534 \
             --regid 65534 --clear-groups env WHOPORT_OWNER_LOOKUP=procfs \"$WHOPORT\" {} \
             --user {user} --json'",
            l.port(0)
        );
        let (status, out, err) = common::sh(&script);
        serde_json::from_str(&out).unwrap_or_else(|_| panic!("{status}: {out}{err}"))
    };
    // A file mounted over the child's status: its user is not known, never taken as another.
    let doc = run(
        format!("mount --bind {} /proc/{child}/status", status.display()),
        uid.to_string(),
    );
    assert!(hidden_at(&doc, &tcp).is_empty(), "{doc}");
    assert!(endpoints(&doc, "unattributed").contains(&tcp), "{doc}");
    assert_eq!(
        doc["asked_unread"]["pids"],
        serde_json::json!([child]),
        "{doc}"
    );
    assert!(
        doc["notes"]
            .to_string()
            .contains("threads' users not all read"),
        "{doc}"
    );
    // A name the user database gives two uids: the child's second one is that user too.
    let doc = run(
        format!("mount --bind {} /etc/passwd", passwd.display()),
        "wpdup".to_string(),
    );
    assert!(hidden_at(&doc, &tcp).is_empty(), "{doc}");
    assert_eq!(
        doc["asked_unread"]["pids"],
        serde_json::json!([child]),
        "{doc}"
    );
}

/// As root with the walk, a process whose `/proc/PID` is covered by a mount cannot be read
/// through `/proc`; where a socket is then ownerless, the kernel is asked to read every
/// descriptor table. What it read is believed for every socket of the listing: the covered
/// holder of a socket another process was seen holding is named beside it, and a process the
/// kernel read is not among those whose descriptors "could not be read". Before, the walk
/// named only the readable holder of the shared socket, and `--user root` said the covered
/// processes' descriptors could not be read (the in-kernel lookup said neither).
#[test]
fn as_root_the_tables_the_kernel_read_for_the_walk_are_believed_for_every_socket() {
    if python().is_none() {
        return;
    }
    if !common::root_or_skip("mounts over /proc/PID in a mount namespace of the test's own") {
        return;
    }
    if !common::have("unshare", "apt-get install -y util-linux") {
        return;
    }
    // One process alone on its socket, and a parent and child sharing theirs; and one that
    // holds only a listener of a network namespace it left (made after unshare, then setns
    // back): the kernel's read of this namespace's sockets says nothing of it.
    let alone = Listener::start(&["--comm-hex", &hex(b"wpn-alone"), "tcp4"]);
    let pair = Listener::start(&["--comm-hex", &hex(b"wpn-pair"), "--fork", "tcp4"]);
    let (a, p, c) = (alone.pid, pair.pid, pair.children[0]);
    let Some(py) = python() else { return };
    let mut away = common::Reaped(common::listener::spawn_retrying(
        std::process::Command::new(py)
            .args([
                "-c",
                "import ctypes, os, socket, sys\n\
                 libc = ctypes.CDLL(None, use_errno=True)\n\
                 home = os.open('/proc/self/ns/net', os.O_RDONLY)\n\
                 assert libc.unshare(0x40000000) == 0\n\
                 s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
                 assert libc.setns(home, 0x40000000) == 0\n\
                 print('ready', flush=True)\n\
                 sys.stdin.read()\n",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped()),
    ));
    common::ready_line(&mut away.0, std::time::Duration::from_secs(20));
    let f = away.0.id();
    let (alone_at, pair_at) = (
        format!("127.0.0.1:{}", alone.port(0)),
        format!("127.0.0.1:{}", pair.port(0)),
    );
    let run = |lookup: &str| -> Value {
        let script = format!(
            "unshare -m --propagation private sh -c 'mount -t tmpfs wpn /proc/{a} && \
             mount -t tmpfs wpn /proc/{p} && mount -t tmpfs wpn /proc/{f} && \
             WHOPORT_OWNER_LOOKUP={lookup} \"$WHOPORT\" --user root --json'"
        );
        let (status, out, err) = common::sh(&script);
        serde_json::from_str(&out).unwrap_or_else(|_| panic!("{lookup}: {status}: {out}{err}"))
    };
    let pids_at = |doc: &Value, at: &str| -> Vec<u64> {
        let row = doc["listeners"]
            .as_array()
            .unwrap_or_else(|| panic!("listeners in {doc}"))
            .iter()
            .find(|l| l["endpoint"] == at)
            .unwrap_or_else(|| panic!("{at} in {doc}"));
        let mut pids = common::listener::owner_pids(row);
        pids.sort_unstable();
        pids
    };
    let unread = |doc: &Value| -> Vec<u64> {
        doc["asked_unread"]["pids"]
            .as_array()
            .map(|pids| pids.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default()
    };
    let mut pair_pids = vec![u64::from(p), u64::from(c)];
    pair_pids.sort_unstable();
    // How many processes the note on processes not read counts (it is written only where a
    // socket has no owner: on some machines never).
    let not_read = |doc: &Value| -> usize {
        doc["notes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str())
            .filter(|n| n.ends_with("could not be read (permission)"))
            .filter_map(|n| n.strip_prefix("the descriptors of "))
            .filter_map(|rest| rest.split(' ').next()?.parse().ok())
            .next()
            .unwrap_or(0)
    };
    let mut counted = Vec::new();
    for lookup in ["procfs", "bpf"] {
        let doc = run(lookup);
        counted.push(not_read(&doc));
        assert_eq!(
            pids_at(&doc, &alone_at),
            vec![u64::from(a)],
            "{lookup}: {doc}"
        );
        assert_eq!(pids_at(&doc, &pair_at), pair_pids, "{lookup}: {doc}");
        let unread = unread(&doc);
        assert!(
            !unread.contains(&u64::from(a)) && !unread.contains(&u64::from(p)),
            "{lookup}: {unread:?} in {doc}"
        );
        // The walk could not read the third's descriptors, and the kernel's read was of this
        // namespace's sockets: it stays one whose descriptors could not be read. The in-kernel
        // lookup reads every socket's namespace, and names its listener elsewhere.
        if lookup == "procfs" {
            assert!(unread.contains(&u64::from(f)), "{unread:?} in {doc}");
        } else {
            assert!(
                doc["notes"].to_string().contains(&format!(
                    "pid {f} holds a socket of another network namespace"
                )),
                "{doc}"
            );
        }
    }
    // The walk's count is the in-kernel lookup's but for the process holding another
    // namespace's listener (not read whole by either look of the walk): the covered
    // processes the kernel read are not counted among those not read.
    assert!(counted[0] <= counted[1] + 1, "procfs, bpf: {counted:?}");
}

/// An empty `--process` name is contained in every name: it is refused as a usage error (exit
/// 2) by the listing, the audit and `wait`, instead of matching every process ("No process
/// whose name contains '' was seen listening").
#[test]
fn an_empty_process_name_is_a_usage_error() {
    for args in [
        vec!["--process", ""],
        vec!["--json", "--process="],
        vec!["audit", "--process", ""],
        vec![
            "wait",
            "1",
            "--listening",
            "--process",
            "",
            "--timeout",
            "1s",
        ],
    ] {
        let (status, out, err) = common::run(&args);
        assert_eq!(status, 2, "{args:?}: {out}{err}");
        assert!(err.contains("--process"), "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
    }
}
