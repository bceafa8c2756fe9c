//! `whoport audit` with real listeners: each rule staged on its own listener, baselines,
//! suppressions, exit statuses, bad files, and the Prometheus output checked by promtool and
//! served by a real node_exporter. Every assertion is about the test's own listeners.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::listener::{hex, python, python_prefix, Listener};
use common::netns::NetNs;
use common::{have, is_root, run, run_in, tempdir};
use serde_json::Value;

/// `whoport audit --json ARGS`: (status, document).
fn audit(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["audit", "--json"];
    all.extend_from_slice(args);
    let (status, out, err) = run(&all);
    assert!(
        status == 0 || status == 1,
        "whoport {all:?}: {status}: {err}"
    );
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(doc["schema_version"], 1);
    (status, doc)
}

/// Findings with this id about this port.
fn findings<'a>(doc: &'a Value, list: &str, id: &str, port: u16) -> Vec<&'a Value> {
    doc[list]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["id"] == id && f["listener"]["port"] == port)
        .collect()
}

/// A listener on a fixed port: as root in a network namespace of the test's own, where
/// nothing else can hold the port (another program, another run of this test); without root
/// on the machine itself.
struct Fixed {
    // Dropped (killed) before its namespace.
    _listener: Listener,
    ns: Option<NetNs>,
}

impl Fixed {
    fn start(args: &[&str]) -> Fixed {
        let ns = if is_root() { NetNs::new() } else { None };
        let listener = match &ns {
            Some(ns) => ns.listener(args),
            None => Listener::start(args),
        };
        Fixed {
            _listener: listener,
            ns,
        }
    }

    /// `whoport audit --json ARGS` where the listener is.
    fn audit(&self, args: &[&str]) -> (i32, Value) {
        let Some(ns) = &self.ns else {
            return audit(args);
        };
        let mut all = vec!["audit", "--json"];
        all.extend_from_slice(args);
        let home = tempdir();
        let (status, out, err) = ns.whoport(home.path(), &all);
        assert!(
            status == 0 || status == 1,
            "whoport {all:?}: {status}: {err}"
        );
        let doc = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        (status, doc)
    }
}

fn one(doc: &Value, id: &str, port: u16) -> Value {
    let f = findings(doc, "findings", id, port);
    assert_eq!(f.len(), 1, "{id} on {port}: {doc}");
    let f = f[0].clone();
    assert!(f["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(f["hint"].as_str().is_some_and(|h| !h.is_empty()));
    f
}

#[test]
fn each_rule_is_staged_on_its_own_listener() {
    let Some(py) = python() else { return };
    // Exposed on all interfaces (never sent traffic), by an interpreter: shell-listener too.
    let exposed = Listener::start(&["--comm-hex", &hex(b"wpa-exposed"), "tcp4-any"]);
    let (_, doc) = audit(&["--process", "wpa-exposed"]);
    let port = exposed.port(0);
    // One concern, one finding: the shell listener, with exposure (and root) as reasons.
    let f = one(&doc, "shell-listener", port);
    assert_eq!(f["severity"], "high");
    assert_eq!(f["listener"]["address"], "0.0.0.0");
    assert_eq!(f["listener"]["owners"][0]["pid"], exposed.pid);
    let reasons: Vec<&str> = f["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .map(|r| r.as_str().expect("text"))
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("exposed-all-interfaces: ")),
        "{reasons:?}"
    );
    assert_eq!(
        reasons.iter().any(|r| r.starts_with("root-exposed: ")),
        is_root(),
        "{reasons:?}"
    );
    assert!(findings(&doc, "findings", "exposed-all-interfaces", port).is_empty());
    // Without the shell finding, exposure is its own: medium for an unknown service.
    let (_, doc) = audit(&["--process", "wpa-exposed", "--ignore", "shell-listener"]);
    assert_eq!(
        one(&doc, "exposed-all-interfaces", port)["severity"],
        "medium",
        "an unknown service: medium"
    );
    // Unassigned: 8011/tcp has no IANA tenant and no known unofficial use (loopback).
    let unassigned = Fixed::start(&["--comm-hex", &hex(b"wpa-unassigned"), "tcp4:8011"]);
    let (_, doc) = unassigned.audit(&["--process", "wpa-unassigned"]);
    assert_eq!(one(&doc, "unassigned-port", 8011)["severity"], "low");
    assert!(
        findings(&doc, "findings", "exposed-all-interfaces", 8011).is_empty(),
        "loopback"
    );
    drop(unassigned);
    // Ephemeral: a kernel-chosen port is inside the ephemeral range.
    let eph = Listener::start(&["--comm-hex", &hex(b"wpa-ephemeral"), "tcp4"]);
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").expect("range");
    let bounds: Vec<u16> = range
        .split_whitespace()
        .map(|n| n.parse().expect("n"))
        .collect();
    assert!((bounds[0]..=bounds[1]).contains(&eph.port(0)));
    let (_, doc) = audit(&["--process", "wpa-ephemeral"]);
    assert_eq!(one(&doc, "ephemeral-range", eph.port(0))["severity"], "low");
    // Mismatch: a python process on postgresql's port (loopback).
    let mismatch = Fixed::start(&["--comm-hex", &hex(b"wpa-mismatch"), "tcp4:5432"]);
    let (_, doc) = mismatch.audit(&["--process", "wpa-mismatch"]);
    let f = one(&doc, "service-mismatch", 5432);
    assert_eq!(f["severity"], "medium");
    assert!(
        f["message"]
            .as_str()
            .is_some_and(|m| m.contains("postgresql")),
        "{f}"
    );
    drop(mismatch);
    // Deleted executable: a copy of the interpreter, removed after it started.
    let prefix = python_prefix();
    let dir = tempdir();
    let copy = dir.path().join("wpa-deleted");
    std::fs::copy(&py, &copy).expect("copy");
    let deleted = Listener::start_env(&copy, &[("PYTHONHOME", prefix.as_str())], &["tcp4"]);
    std::fs::remove_file(&copy).expect("delete");
    let (status, doc) = audit(&["--process", "wpa-deleted"]);
    let f = one(&doc, "deleted-executable", deleted.port(0));
    assert_eq!(f["severity"], "high");
    let m = f["message"].as_str().expect("message");
    assert!(
        m.contains("uninstalled") && m.contains("malware"),
        "says both: {m}"
    );
    assert!(findings(&doc, "findings", "restart-pending", deleted.port(0)).is_empty());
    assert_eq!(status, 1, "a high finding fails the default --fail-on high");
    // Another file at the same path (a new copy renamed over it, as dpkg does) outside the
    // system's directories: anyone who may write there may have put it, so it is no upgrade
    // (tests/audit.rs's sshd is one): still deleted, with whose the file is, for every process
    // holding the socket.
    let path = dir.path().join("wpa-upgraded");
    std::fs::copy(&py, &path).expect("copy");
    let upgraded = Listener::start_env(
        &path,
        &[("PYTHONHOME", prefix.as_str())],
        &["--fork", "tcp4"],
    );
    let new = dir.path().join("wpa-upgraded.dpkg-new");
    std::fs::copy(&py, &new).expect("copy");
    std::fs::rename(&new, &path).expect("replace");
    let (_, doc) = audit(&["--process", "wpa-upgraded"]);
    let f = one(&doc, "deleted-executable", upgraded.port(0));
    assert_eq!(f["severity"], "high");
    let m = f["message"].as_str().expect("message");
    for pid in std::iter::once(upgraded.pid).chain(upgraded.children.iter().copied()) {
        assert!(m.contains(&pid.to_string()), "lists pid {pid}: {m}");
    }
    let me = rustix::process::geteuid().as_raw();
    assert!(
        m.contains(&format!(
            "a different file stands at its path now, owned by uid {me}, and is not known to be \
             an upgrade"
        )),
        "{m}"
    );
    assert!(findings(&doc, "findings", "restart-pending", upgraded.port(0)).is_empty());
}

#[test]
fn a_hidden_owner_is_reported_to_a_normal_user() {
    if python().is_none() {
        return;
    }
    if !common::root_or_skip("starting a listener as root and auditing as 'nobody'") {
        return;
    }
    let l = Listener::start(&["--comm-hex", &hex(b"wpa-hidden"), "tcp4"]);
    let home = tempdir();
    let out = common::whoport_as_nobody(home.path())
        .args(["audit", "--json"])
        .output()
        .expect("runs");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    let f = one(&doc, "hidden-owner", l.port(0));
    assert_eq!(f["severity"], "info");
    assert!(f["listener"]["owners"]
        .as_array()
        .is_some_and(Vec::is_empty));
    assert!(f["hint"].as_str().is_some_and(|h| h.contains("root")));
}

#[test]
fn baselines_round_trip() {
    let Some(py) = python() else { return };
    let dir = tempdir();
    let file = dir.path().join("baseline.json");
    let file_s = file.to_str().expect("utf8");
    // Names of this run's own (another run of this test may hold processes of its own), and
    // A's socket in an SO_REUSEPORT group, so that another program can take its port over
    // without the port ever being free for a third one.
    let tag = format!("wpb{}", std::process::id());
    let named = |suffix: &str| hex(format!("{tag}-{suffix}").as_bytes());
    let a = Listener::start(&["--comm-hex", &named("a"), "tcp4-reuse"]);
    let b = Listener::start(&["--comm-hex", &named("b"), "udp6"]);
    let (a_port, b_port) = (a.port(0), b.port(0));
    let (_, doc) = audit(&["--process", &tag, "--save-baseline", file_s]);
    assert!(findings(&doc, "findings", "new-listener", a_port).is_empty());
    let saved: Value = serde_json::from_slice(&std::fs::read(&file).expect("saved")).expect("json");
    assert_eq!(saved["kind"], "whoport-baseline");
    let ports: Vec<u64> = saved["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .map(|l| l["port"].as_u64().expect("port"))
        .collect();
    assert!(ports.contains(&u64::from(a_port)) && ports.contains(&u64::from(b_port)));
    let names: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
    assert_eq!(names.len(), 1, "no temporary file left beside the baseline");

    // Unchanged: nothing to say.
    let (_, doc) = audit(&["--process", &tag, "--baseline", file_s]);
    for id in ["new-listener", "gone-listener", "owner-changed"] {
        assert!(
            doc["findings"]
                .as_array()
                .expect("f")
                .iter()
                .all(|f| f["id"] != id),
            "{id} with nothing changed: {doc}"
        );
    }
    // A new listener, a gone one, and another program on A's port.
    let c = Listener::start(&["--comm-hex", &named("c"), "tcp4"]);
    drop(b);
    let copy = dir.path().join("wpa-base-other");
    std::fs::copy(&py, &copy).expect("copy");
    let prefix = python_prefix();
    let a2 = Listener::start_env(
        &copy,
        &[("PYTHONHOME", prefix.as_str())],
        &["--comm-hex", &named("a2"), &format!("tcp4-reuse:{a_port}")],
    );
    drop(a);
    let (status, doc) = audit(&["--process", &tag, "--baseline", file_s]);
    assert_eq!(one(&doc, "new-listener", c.port(0))["severity"], "medium");
    let gone: Vec<&Value> = doc["findings"]
        .as_array()
        .expect("f")
        .iter()
        .filter(|f| f["id"] == "gone-listener" && f["baseline_entry"]["port"] == b_port)
        .collect();
    assert_eq!(gone.len(), 1, "{doc}");
    assert_eq!(gone[0]["severity"], "info");
    assert!(gone[0]["listener"].is_null());
    let changed = one(&doc, "owner-changed", a2.port(0));
    assert_eq!(changed["severity"], "high", "another executable: high");
    assert_eq!(status, 1);
}

#[test]
fn suppressions_are_counted_and_exit_statuses_follow_fail_on() {
    if python().is_none() {
        return;
    }
    let l = Listener::start(&["--comm-hex", &hex(b"wpa-supp"), "tcp4-any"]);
    let port = l.port(0);
    let dir = tempdir();
    let config = dir.path().join("audit.toml");
    std::fs::write(
        &config,
        format!(
            "[[accept]]\nid = \"exposed-all-interfaces\"\nport = {port}\nprocess = \"wpa-supp\"\nreason = \"test listener\"\n"
        ),
    )
    .expect("write");
    let c = config.to_str().expect("utf8");
    // Scoped to the test's own process: another run of this test may hold a "wpa-supp" of its
    // own (with its own findings) at the same time.
    let pid = l.pid.to_string();
    let base = [
        "--pid",
        &pid,
        "--config",
        c,
        "--ignore",
        "ephemeral-range",
        "--ignore",
        "unassigned-port",
    ];
    let (status, doc) = audit(&base);
    assert_eq!(status, 1, "shell-listener is high");
    assert!(findings(&doc, "findings", "exposed-all-interfaces", port).is_empty());
    let s = findings(&doc, "suppressed", "exposed-all-interfaces", port);
    assert_eq!(s.len(), 1);
    assert_eq!(s[0]["suppressed_by"], "test listener");
    assert!(doc["summary"]["suppressed"].as_u64() >= Some(1));
    assert_eq!(doc["summary"]["failed"], true);
    // Ignore the high finding: nothing left at or above high.
    let mut args = base.to_vec();
    args.extend(["--ignore", "shell-listener"]);
    let (status, doc) = audit(&args);
    assert_eq!(status, 0, "{doc}");
    assert_eq!(doc["summary"]["high"], 0);
    assert!(!findings(&doc, "suppressed", "shell-listener", port).is_empty());
    // As root, root-exposed (medium) remains: --fail-on medium fails.
    if is_root() {
        args.extend(["--fail-on", "medium"]);
        let (status, _) = audit(&args);
        assert_eq!(status, 1);
    }
    // The table says it in one summary line.
    let mut table = vec!["audit"];
    table.extend_from_slice(&base);
    let (_, out, _) = run(&table);
    assert!(out.contains("suppressed ·"), "{out}");
    assert!(
        out.contains("HIGH (1)") && out.contains("shell-listener"),
        "{out}"
    );
    // An unknown id is an error.
    let (status, _, err) = run(&["audit", "--ignore", "no-such-id"]);
    assert_eq!(status, 2);
    assert!(err.contains("'no-such-id'"), "{err}");
}

/// A listener whose reach widened since the baseline (`0.0.0.0%lo` → `0.0.0.0`: loopback only
/// to every interface; `[::]` IPv6 only → IPv4 and IPv6) is new, and the one remembered gone,
/// each written as everywhere else (`0.0.0.0%lo:P`, `[::1]%lo:P`). Before, the baseline kept
/// neither the device nor IPV6_V6ONLY and the audit said nothing.
#[test]
fn a_listener_whose_device_or_v6only_changed_since_the_baseline_is_new() {
    let Some(ns) = NetNs::new() else { return };
    let home = tempdir();
    let base = home.path().join("b.json");
    let base_arg = base.to_str().expect("utf-8");
    let before = ns.listener(&["tcp4-any@lo", "tcp6-any-v6only"]);
    let (p, q) = (before.port(0), before.port(1));
    let (code, _, err) = ns.whoport(home.path(), &["audit", "--save-baseline", base_arg]);
    assert!(matches!(code, 0 | 1), "{err}");
    let saved = std::fs::read_to_string(&base).expect("saved");
    assert!(
        saved.contains("\"device\": \"lo\"") && saved.contains("\"v6only\": true"),
        "{saved}"
    );
    drop(before);
    let (p_now, q_now) = (format!("tcp4-any:{p}"), format!("tcp6-any:{q}"));
    let _after = ns.listener(&[&p_now, &q_now, "udp6@lo"]);
    let (_, out, err) = ns.whoport(
        home.path(),
        &["audit", "--color", "never", "--baseline", base_arg],
    );
    let line = |id: &str, what: &str| out.lines().any(|l| l.contains(id) && l.contains(what));
    for (id, what) in [
        ("new-listener", format!("tcp 0.0.0.0:{p} (python")),
        ("gone-listener", format!("tcp 0.0.0.0%lo:{p} (python")),
        (
            "new-listener",
            format!("tcp [::]:{q}, IPv4 and IPv6 (python"),
        ),
        ("gone-listener", format!("tcp [::]:{q}, IPv6 only (python")),
        ("new-listener", "udp [::1]%lo:".to_string()),
    ] {
        assert!(line(id, &what), "{id} {what} in:\n{out}{err}");
    }
}

#[test]
fn bad_baseline_and_config_files_are_refused_and_left_untouched() {
    let dir = tempdir();
    let cases: [(&str, &[u8], &str); 5] = [
        ("empty", b"", "is empty"),
        (
            "truncated",
            b"{\"kind\": \"whoport-baseline\", \"schema_version\": 1, \"listen",
            "not valid JSON",
        ),
        ("corrupt", b"\x00\xffgarbage", "not valid JSON"),
        (
            "foreign",
            b"{\"some\": \"other tool\"}",
            "not a whoport baseline",
        ),
        (
            "wrong fields",
            b"{\"kind\": \"whoport-baseline\", \"schema_version\": 1}",
            "not valid JSON",
        ),
    ];
    for (what, bytes, reason) in cases {
        let file = dir.path().join(format!("{what}.json"));
        std::fs::write(&file, bytes).expect("write");
        let f = file.to_str().expect("utf8");
        let (status, out, err) = run(&["audit", "--baseline", f, "--save-baseline", f]);
        assert_eq!(status, 2, "{what}: {err}");
        assert!(out.is_empty());
        assert_eq!(err.lines().count(), 1, "{what}: {err}");
        assert!(err.contains(reason) && err.contains(f), "{what}: {err}");
        assert_eq!(
            std::fs::read(&file).expect("still there"),
            bytes,
            "{what}: untouched"
        );
    }
    let missing = dir.path().join("missing.json");
    let (status, _, err) = run(&["audit", "--baseline", missing.to_str().expect("utf8")]);
    assert_eq!(status, 2);
    assert!(err.contains("missing.json"), "{err}");
    assert!(!missing.exists());

    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "[[accept]]\nid = \"exposed-all-interfaces\"\nport = \"twenty-two\"\n",
    )
    .expect("write");
    let (status, _, err) = run(&["audit", "--config", config.to_str().expect("utf8")]);
    assert_eq!(status, 2);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("line 3"), "{err}");
    std::fs::write(&config, "[[accept]]\nid = \"nope\"\n").expect("write");
    let (status, _, err) = run(&["audit", "--config", config.to_str().expect("utf8")]);
    assert_eq!(status, 2);
    assert!(
        err.contains("line 2") && err.contains("unknown finding id 'nope'"),
        "{err}"
    );
    let (status, _, err) = run(&["audit", "--config", "/nonexistent/audit.toml"]);
    assert_eq!(status, 2);
    assert!(err.contains("/nonexistent/audit.toml"), "{err}");
    // A default config that does not exist is not an error.
    let home = tempdir();
    let (status, _, err) = run_in(
        home.path(),
        &["audit", "--ignore", "hidden-owner", "--pid", "4294967295"],
    );
    assert_eq!(status, 0, "{err}");
}

/// The Prometheus text of the audit of one process (by PID: another run of a test may hold a
/// process of the same name, and its series would count too).
fn prometheus_text(pid: u32) -> String {
    let pid = pid.to_string();
    let (status, out, err) = run(&["audit", "--format", "prometheus", "--pid", &pid]);
    assert!(status == 0 || status == 1, "{err}");
    out
}

#[test]
fn prometheus_output_passes_promtool() {
    if python().is_none() || !have("promtool", "apt-get install -y prometheus") {
        return;
    }
    // A hostile name, to exercise label escaping.
    let l = Listener::start(&["--comm-hex", &hex(b"wpa-prom\"\\\n"), "tcp4"]);
    let text = prometheus_text(l.pid);
    assert!(text.contains(&format!("port=\"{}\"", l.port(0))), "{text}");
    assert!(
        text.contains("process=\"wpa-prom\\\"\\\\\\\\n\""),
        "escaped label: {text}"
    );
    // Its own listener's finding, and those of listeners whose owner could not be seen, which
    // `--pid` keeps (another test's, whose holder is momentarily unseen, may be among them).
    let ephemeral = text
        .lines()
        .find_map(|l| l.strip_prefix("whoport_findings{id=\"ephemeral-range\",severity=\"low\"} "))
        .and_then(|n| n.parse::<u32>().ok());
    assert!(ephemeral.is_some_and(|n| n >= 1), "{text}");
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool runs");
    assert!(
        out.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn scrape(port: u16) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

#[test]
fn node_exporter_serves_the_series() {
    if python().is_none()
        || !have(
            "prometheus-node-exporter",
            "apt-get install -y prometheus-node-exporter",
        )
    {
        return;
    }
    let l = Listener::start(&["--comm-hex", &hex(b"wpa-node"), "tcp4"]);
    let dir = tempdir();
    std::fs::write(dir.path().join("whoport.prom"), prometheus_text(l.pid)).expect("write");
    let mut body = None;
    for _ in 0..10 {
        // A port for node_exporter: the kernel picks one, node_exporter binds it right after;
        // another program may take it in between, and then node_exporter ends at once and is
        // started again on another.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .expect("free port")
            .port();
        let mut exporter = std::process::Command::new("prometheus-node-exporter")
            .args([
                &format!("--web.listen-address=127.0.0.1:{port}"),
                "--collector.disable-defaults",
                "--collector.textfile",
                &format!("--collector.textfile.directory={}", dir.path().display()),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("node exporter starts");
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(b) = scrape(port).filter(|b| b.contains("whoport_listener_info")) {
                body = Some(b);
                break;
            }
            if exporter.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = exporter.kill();
        let _ = exporter.wait();
        if body.is_some() {
            break;
        }
    }
    let body = body.expect("node_exporter served whoport's series");
    let ours = format!("port=\"{}\"", l.port(0));
    assert!(
        body.lines()
            .any(|line| line.starts_with("whoport_listener_info{")
                && line.contains(&ours)
                && line.contains("process=\"wpa-node\"")),
        "{body}"
    );
    assert!(body.contains("whoport_findings{"), "{body}");
    assert!(
        body.lines()
            .any(|line| line == "node_textfile_scrape_error 0"),
        "node_exporter read the file without error: {body}"
    );
}

/// A package upgrade without a restart: the daemon's executable path now holds a new file.
/// sshd's privilege separation is still its design; the only finding is the pending
/// restart (`restart-pending`), never `root-exposed` (staged in a private mount namespace
/// with a copy of sshd on a tmpfs over /usr/local, replaced the way dpkg does).
#[test]
fn an_upgraded_daemon_keeps_its_standard_design() {
    if !common::root_or_skip("an sshd upgraded in a private mount namespace") {
        return;
    }
    for (program, package) in [
        ("unshare", "util-linux"),
        ("ssh-keygen", "openssh-client"),
        ("sshd", "openssh-server"),
    ] {
        if !have(program, &format!("apt-get install -y {package}")) {
            return;
        }
    }
    let dir = tempdir();
    let d = dir.path().display();
    // sshd to start and four runs of whoport: more than one run's time on a busy machine.
    let (status, _, err) = common::sh_within(
        &format!(
            r#"exec unshare -n -m --propagation private sh -c '
set -e
ip link set lo up
mount -t tmpfs -o mode=0755 tmpfs /run; mkdir -p /run/sshd
mount -t tmpfs -o mode=0755 tmpfs /usr/local; mkdir /usr/local/sbin
cp /usr/sbin/sshd /usr/local/sbin/sshd
ssh-keygen -q -t ed25519 -N "" -f {d}/hostkey
printf "Port 41431\nListenAddress 0.0.0.0\nHostKey {d}/hostkey\nPidFile none\nUsePAM no\n" >{d}/sshd_config
/usr/local/sbin/sshd -D -e -f {d}/sshd_config 2>{d}/sshd.log & pid=$!
trap "kill $pid" EXIT
i=0; until "$WHOPORT" 41431 >/dev/null 2>&1; do i=$((i+1)); [ $i -lt 300 ]; sleep 0.1; done
"$WHOPORT" audit --json >{d}/before.json || true
cp /usr/local/sbin/sshd /usr/local/sbin/sshd.dpkg-new
mv /usr/local/sbin/sshd.dpkg-new /usr/local/sbin/sshd
"$WHOPORT" audit --json >{d}/after.json || true
"$WHOPORT" 41431 >{d}/card.txt
'"#
        ),
        Duration::from_secs(300),
    );
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    assert_eq!(status, 0, "{err}\n{}", read("sshd.log"));
    let doc = |name: &str| -> Value {
        serde_json::from_str(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let (before, after) = (doc("before.json"), doc("after.json"));
    assert!(findings(&before, "findings", "root-exposed", 41431).is_empty());
    assert!(findings(&before, "findings", "restart-pending", 41431).is_empty());
    assert!(
        findings(&after, "findings", "root-exposed", 41431).is_empty(),
        "an upgrade does not undo privilege separation: {after}"
    );
    let pending = one(&after, "restart-pending", 41431);
    assert_eq!(pending["severity"], "low");
    let m = pending["message"].as_str().expect("message");
    assert!(
        m.contains("still runs the old /usr/local/sbin/sshd"),
        "one process: {m}"
    );
    let serious = after["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["listener"]["port"] == 41431)
        .filter(|f| f["severity"] == "high" || f["severity"] == "medium")
        .count();
    assert_eq!(serious, 0, "{after}");
    let card = read("card.txt");
    assert!(card.contains("restart"), "{card}");
    assert!(!card.contains("root-exposed"), "{card}");
}

/// The `hold` fixture run from a copy whose path is longer than PATH_MAX (26 directories of
/// 200 characters, walked one at a time: /proc/PID/exe cannot be read, ENAMETOOLONG), holding
/// a listener: the process and its port once it listens. `then` (python, run in the copy's
/// directory) changes the copy while the process runs. `None` without a C compiler.
fn held_from_a_long_path(dir: &std::path::Path, then: &str) -> Option<(Reaped, u16)> {
    let bin = common::compile_fixture(dir, "hold")?;
    let walk = format!(
        "import os, sys\nos.chdir({:?})\nfor _ in range(26):\n    os.makedirs('d' * 200, exist_ok=True)\n    os.chdir('d' * 200)\n",
        dir.display().to_string()
    );
    let python = |script: String| {
        assert!(Command::new("python3")
            .args(["-c", &script])
            .status()
            .expect("python3")
            .success());
    };
    python(format!(
        "{walk}import shutil\nshutil.copy({:?}, 'wpa-longpath')\n",
        bin.display().to_string()
    ));
    let mut child = Reaped(common::listener::spawn_retrying(
        Command::new("python3")
            .args([
                "-c",
                &format!("{walk}os.execv('./wpa-longpath', ['wpa-longpath', 'thread-table'])"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped()),
    ));
    let mut line = String::new();
    BufRead::read_line(
        &mut BufReader::new(child.0.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("reports");
    let port = serde_json::from_str::<Value>(&line).expect("ready")["port"]
        .as_u64()
        .expect("port") as u16;
    python(format!("{walk}{then}"));
    Some((child, port))
}

/// A process killed (and reaped) when the test ends, whether it passes or not.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `whoport audit --json --process wpa-longpath` and the wide port card, with this owner
/// lookup.
fn long_path_views(lookup: &str, port: u16) -> (Value, String) {
    let home = tempdir();
    let out = common::whoport(home.path())
        .env("WHOPORT_OWNER_LOOKUP", lookup)
        .args(["audit", "--json", "--process", "wpa-longpath"])
        .output()
        .expect("runs");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    let card = common::whoport(home.path())
        .env("WHOPORT_OWNER_LOOKUP", lookup)
        .args(["--wide", &port.to_string()])
        .output()
        .expect("runs");
    (doc, String::from_utf8_lossy(&card.stdout).into_owned())
}

#[test]
fn a_deleted_executable_whose_path_is_longer_than_path_max_is_still_flagged() {
    let dir = tempdir();
    let Some((_child, port)) = held_from_a_long_path(dir.path(), "os.unlink('wpa-longpath')\n")
    else {
        return;
    };
    for lookup in ["procfs", common::owner_lookup()] {
        let (doc, card) = long_path_views(lookup, port);
        let f = one(&doc, "deleted-executable", port);
        assert_eq!(f["severity"], "high", "{lookup}");
        let m = f["message"].as_str().expect("message");
        assert!(
            m.contains("longer than the kernel gives"),
            "{lookup}: says the path was not read: {m}"
        );
        let owner = &f["listener"]["owners"][0];
        assert_eq!(owner["exe"], Value::Null, "{lookup}: {owner}");
        assert_eq!(owner["exe_deleted"], true, "{lookup}: {owner}");
        assert!(
            card.contains("[path longer than the kernel gives: not read] (deleted)"),
            "{lookup}: {card}"
        );
    }
}

/// An executable whose path is longer than PATH_MAX, replaced while it runs by a new file
/// renamed over it (as a package upgrade does): replaced, as for a short path (its path is
/// read from the mapping of its code, and what stands there now looked at), but its path is
/// not read, so not known to be a system path: still a deleted executable, never a pending
/// restart.
#[test]
fn a_replaced_executable_whose_path_is_longer_than_path_max_is_not_known_to_be_upgraded() {
    let dir = tempdir();
    let replace = "import shutil\nshutil.copy('wpa-longpath', 'wpa-longpath.new')\n\
                   os.rename('wpa-longpath.new', 'wpa-longpath')\n";
    let Some((_child, port)) = held_from_a_long_path(dir.path(), replace) else {
        return;
    };
    for lookup in ["procfs", common::owner_lookup()] {
        let (doc, card) = long_path_views(lookup, port);
        assert!(
            findings(&doc, "findings", "restart-pending", port).is_empty(),
            "{lookup}: {doc}"
        );
        let f = one(&doc, "deleted-executable", port);
        assert_eq!(f["severity"], "high", "{lookup}");
        let m = f["message"].as_str().expect("message");
        assert!(
            m.contains("so not shown); a different file stands at its path now, owned by uid ")
                && m.contains("not known to be an upgrade, as its path was not read"),
            "{lookup}: {m}"
        );
        let owner = &f["listener"]["owners"][0];
        assert_eq!(owner["exe"], Value::Null, "{lookup}: {owner}");
        assert_eq!(owner["exe_deleted"], true, "{lookup}: {owner}");
        assert_eq!(owner["exe_replaced"], true, "{lookup}: {owner}");
        assert!(
            card.contains("[path longer than the kernel gives: not read] (replaced since start)"),
            "{lookup}: {card}"
        );
    }
}

/// Two "containers" (private mount namespaces, each binding a directory of a tmpfs over a
/// directory of whoport's view) run a listener from a copy of the interpreter there: in the
/// first the copy is then deleted, while in whoport's view an unrelated file stands at that
/// path; in the second it is replaced by a new copy renamed over it (as dpkg does), while
/// nothing stands at that path in whoport's view; the third does as the second, chrooted in its
/// namespace. What stands at the path is looked at in the process's own mount namespace, from
/// its root: nothing in the first, a different file in the others (outside the system's
/// directories, so still deleted executables, never pending restarts), with both owner
/// lookups.
#[test]
fn a_containers_executable_is_judged_in_its_own_mount_namespace() {
    if !common::root_or_skip("containers in private mount namespaces") {
        return;
    }
    let Some(py) = python() else { return };
    if !have("unshare", "apt-get install -y util-linux") {
        return;
    }
    let dir = tempdir();
    let d = dir.path().display();
    let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).expect(name);
    write("listen.py", common::listener::LISTEN_AND_SIGNAL.into());
    // ctr.sh SOURCE MOUNTPOINT PORT MODE, in a mount namespace of its own; with MODE chroot,
    // the copy runs chrooted at MOUNTPOINT (from its /srv, with /usr, the interpreter's prefix
    // and this directory).
    write(
        "ctr.sh",
        format!(
            r#"set -e
mount --bind "$1" "$2"
at="$2"; root=/; exe="$2/wpa-ctr"
if [ "$4" = chroot ]; then
  mkdir -p "$2/usr" "$2/srv" "$2{d}" "$2{prefix}"
  mount --bind /usr "$2/usr"; mount --bind {d} "$2{d}"; mount --bind {prefix} "$2{prefix}"
  for x in lib lib64 bin; do
    if [ -L /$x ]; then ln -s "$(readlink /$x)" "$2/$x"
    elif [ -d /$x ]; then mkdir "$2/$x"; mount --bind /$x "$2/$x"; fi
  done
  at="$2/srv"; root="$2"; exe=/srv/wpa-ctr
fi
cp {py} "$at/wpa-ctr"
PYTHONHOME={prefix} chroot "$root" "$exe" {d}/listen.py $3 {d}/ready.$3 & echo $! >{d}/pid.$3
i=0; until [ -e {d}/ready.$3 ]; do i=$((i+1)); [ $i -lt 600 ]; sleep 0.1; done
rm "$at/wpa-ctr"
if [ "$4" != delete ]; then cp {py} "$at/wpa-ctr.new"; mv "$at/wpa-ctr.new" "$at/wpa-ctr"; fi
touch {d}/done.$3
wait
"#,
            py = py.display(),
            prefix = python_prefix(),
        ),
    );
    let (status, _, err) = common::sh_within(
        &format!(
            r##"exec unshare -n -m --propagation private sh -c '
set -e
ip link set lo up
mkdir {d}/t {d}/deleted {d}/upgraded {d}/jail
mount -t tmpfs -o mode=0755 tmpfs {d}/t; mkdir {d}/t/a {d}/t/b {d}/t/c
printf "#!/bin/sh\n" >{d}/deleted/wpa-ctr; chmod 755 {d}/deleted/wpa-ctr
trap "kill \$(cat {d}/pid.*)" EXIT
unshare -m --propagation private sh {d}/ctr.sh {d}/t/a {d}/deleted 54001 delete &
unshare -m --propagation private sh {d}/ctr.sh {d}/t/b {d}/upgraded 54002 upgrade &
unshare -m --propagation private sh {d}/ctr.sh {d}/t/c {d}/jail 54003 chroot &
i=0; until [ -e {d}/done.54001 ] && [ -e {d}/done.54002 ] && [ -e {d}/done.54003 ]; do i=$((i+1)); [ $i -lt 600 ]; sleep 0.1; done
WHOPORT_OWNER_LOOKUP=procfs "$WHOPORT" audit --json --process wpa-ctr >{d}/procfs.json || true
"$WHOPORT" audit --json --process wpa-ctr >{d}/default.json || true
'"##
        ),
        Duration::from_secs(240),
    );
    assert_eq!(status, 0, "{err}");
    for lookup in ["procfs", "default"] {
        let text =
            std::fs::read_to_string(dir.path().join(format!("{lookup}.json"))).unwrap_or_default();
        let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{lookup}: {e}"));
        let f = one(&doc, "deleted-executable", 54001);
        assert_eq!(f["severity"], "high", "{lookup}: {f}");
        assert!(
            f["message"]
                .as_str()
                .is_some_and(|m| m.contains("nothing stands at its path now")),
            "{lookup}: {f}"
        );
        assert!(
            findings(&doc, "findings", "restart-pending", 54001).is_empty(),
            "{lookup}: an unrelated file in whoport's view replaces nothing: {doc}"
        );
        // (The third one runs chrooted in its namespace: its path is looked at from its root.)
        for port in [54002, 54003] {
            let f = one(&doc, "deleted-executable", port);
            assert_eq!(f["listener"]["owners"][0]["exe_replaced"], true, "{lookup}");
            assert!(
                f["message"].as_str().is_some_and(
                    |m| m.contains("a different file stands at its path now, owned by uid 0")
                ),
                "{lookup}: replaced in its own mount namespace: {f}"
            );
            assert!(
                findings(&doc, "findings", "restart-pending", port).is_empty(),
                "{lookup}: {doc}"
            );
        }
    }
}

/// A baseline saved by root and compared by `nobody`, and one saved by `nobody` and compared by
/// root (a cron job running unprivileged, an admin with sudo): root's listener is seen by one
/// run only. Its owner is not compared (a note says so), never "owner-changed" with an empty
/// name, and a baseline stores an owner not seen with no name.
#[test]
fn an_owner_one_run_could_not_see_is_not_compared_with_the_baseline() {
    if python().is_none() || !common::root_or_skip("a baseline compared as nobody") {
        return;
    }
    let l = Listener::start(&["--comm-hex", &hex(b"wpa-unseen"), "tcp4"]);
    let port = l.port(0);
    let home = common::shared_tempdir();
    // Root writes only into a directory no other user can change.
    let own = tempdir();
    let mode = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::os::unix::fs::PermissionsExt::from_mode(m)).expect("chmod")
    };
    mode(own.path(), 0o755);
    let as_root = own.path().join("root.json");
    let as_nobody = home.path().join("nobody.json");
    let path = |p: &std::path::Path| p.to_str().expect("utf8").to_string();
    let audit_as = |nobody: bool, args: &[&str]| {
        let mut cmd = if nobody {
            common::whoport_as_nobody(home.path())
        } else {
            common::whoport(home.path())
        };
        let out = cmd
            .args(["audit", "--json"])
            .args(args)
            .output()
            .expect("whoport runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        doc
    };
    audit_as(false, &["--save-baseline", &path(&as_root)]);
    mode(&as_root, 0o644);
    audit_as(true, &["--save-baseline", &path(&as_nobody)]);
    let saved: Value =
        serde_json::from_slice(&std::fs::read(&as_nobody).expect("saved")).expect("json");
    let entry = saved["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .find(|e| e["port"] == port && e["address"] == "127.0.0.1")
        .unwrap_or_else(|| panic!("{saved}"));
    assert_eq!(entry["names"], serde_json::json!([]), "{entry}");
    for (nobody, baseline) in [(true, &as_root), (false, &as_nobody)] {
        let doc = audit_as(nobody, &["--baseline", &path(baseline)]);
        let about: Vec<&Value> = doc["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter(|f| {
                let m = f["message"].as_str().expect("message");
                m.contains(&format!(":{port} ")) || m.contains("held by  as")
            })
            .collect();
        assert!(
            about.iter().all(|f| f["id"] != "owner-changed"),
            "nobody {nobody}: {about:?}"
        );
        assert!(
            doc["notes"].as_array().expect("notes").iter().any(|n| n
                .as_str()
                .is_some_and(|n| n.contains("who holds them was not compared"))),
            "nobody {nobody}: {}",
            doc["notes"]
        );
    }
}

/// The findings of `list` ("findings" or "suppressed") about the listener on `port`, any id.
fn about_port<'a>(doc: &'a Value, list: &str, port: u16) -> Vec<&'a Value> {
    doc[list]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["listener"]["port"] == port)
        .collect()
}

/// A suppression's `address` is read in whoport's notation, as the listing, the audit and
/// Prometheus write it: `[::]` accepts the `[::]` listener, `0.0.0.0%lo` the one bound to
/// `lo`, and `0.0.0.0` (all interfaces) not the one bound to `lo`; an address in no such
/// notation is refused, naming its line. Before, `[::]` and `0.0.0.0%lo` never matched (the
/// address was compared as Rust writes it: `::`, no device) and `0.0.0.0` matched `0.0.0.0%lo`.
#[test]
fn a_suppressions_address_is_read_in_whoports_notation() {
    let Some(ns) = NetNs::new() else { return };
    let home = tempdir();
    let l = ns.listener(&["tcp6-any", "tcp4-any@lo"]);
    let (v6, lo) = (l.port(0), l.port(1));
    let config = home.path().join("audit.toml");
    let c = config.to_str().expect("utf-8").to_string();
    let audit_with = |accepts: String| -> (i32, String, String) {
        std::fs::write(&config, accepts).expect("write");
        ns.whoport(home.path(), &["audit", "--json", "--config", &c])
    };
    let accept = |address: &str, port: u16| {
        format!("[[accept]]\nid = \"*\"\nport = {port}\naddress = \"{address}\"\nreason = \"r\"\n")
    };
    let (code, out, err) = audit_with(String::new());
    assert!(matches!(code, 0 | 1), "{err}");
    let plain: Value = serde_json::from_str(&out).expect("json");
    let (v6_findings, lo_findings) = (
        about_port(&plain, "findings", v6).len(),
        about_port(&plain, "findings", lo).len(),
    );
    assert!(v6_findings > 0 && lo_findings > 0, "{plain}");
    for (accepts, port, suppressed) in [
        (accept("[::]", v6), v6, true),
        (accept("::", v6), v6, true),
        (accept("0.0.0.0%lo", lo), lo, true),
        (accept("0.0.0.0", lo), lo, false),
        (accept("127.0.0.1", lo), lo, false),
    ] {
        let (code, out, err) = audit_with(accepts.clone());
        assert!(matches!(code, 0 | 1), "{accepts}: {err}");
        let doc: Value = serde_json::from_str(&out).expect("json");
        let left = about_port(&doc, "findings", port).len();
        let gone = about_port(&doc, "suppressed", port).len();
        if suppressed {
            assert_eq!((left, gone > 0), (0, true), "{accepts}: {doc}");
        } else {
            assert_eq!(gone, 0, "{accepts}: {doc}");
        }
    }
    for bad in ["localhost", "0.0.0.0:22", "[::]:22", "0.0.0.0%"] {
        let (code, _, err) = audit_with(format!("[[accept]]\nid = \"*\"\n\naddress = \"{bad}\"\n"));
        assert_eq!(code, 2, "{bad}: {err}");
        assert!(
            err.contains("line 4") && err.contains("is not an address as whoport writes one"),
            "{bad}: {err}"
        );
    }
}

/// Runs `script` with `sh` under `unshare ARGS`: it writes the listener's line (`{"port": N,
/// "pid": P}`) to `dir/ready` and whoport's audit as JSON to `dir/audit.json` (the lookup
/// chosen by cost) and `dir/audit-walk.json` (the walk). The port, and both audits by name.
fn staged_audits(
    dir: &std::path::Path,
    args: &str,
    script: &std::path::Path,
) -> (u16, Vec<(String, Value)>) {
    let (status, _, err) = common::sh_within(
        &format!("exec unshare {args} sh {}", script.display()),
        Duration::from_secs(120),
    );
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    assert_eq!(status, 0, "the staging ran: {err}");
    let ready: Value = serde_json::from_str(&read("ready")).expect("the helper's line");
    let port = u16::try_from(ready["port"].as_u64().expect("port")).expect("a port");
    let audits = ["audit.json", "audit-walk.json"]
        .into_iter()
        .map(|name| {
            let text = read(name);
            let doc = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}: {text}"));
            (name.to_string(), doc)
        })
        .collect();
    (port, audits)
}

/// `nobody`, in a user and mount namespace of its own (`unshare -U -r -m`, no privilege
/// needed), runs its own program from a directory it bound over `/usr/sbin`, binds the
/// system's root-owned `/usr/sbin` back over it and deletes its program: in its view a
/// root-owned file now stands at the path of its deleted executable, on a way only root may
/// write. That arrangement is its namespace's own mounts, not an upgrade: never
/// `restart-pending` (which took the place of `deleted-executable` and left the verdict fine),
/// always `deleted-executable`.
#[test]
fn a_user_namespaces_own_mounts_never_make_an_upgrade() {
    if !common::root_or_skip("a listener as nobody in namespaces of its own")
        || !have("unshare", "apt-get install -y util-linux")
        || !have("setpriv", "apt-get install -y util-linux")
        || !have("ip", "apt-get install -y iproute2")
    {
        return;
    }
    if !std::path::Path::new("/usr/sbin/nologin").is_file() {
        eprintln!("SKIPPED: no /usr/sbin/nologin to stand at the path");
        return;
    }
    let dir = tempdir();
    let Some(hold) = common::compile_fixture(dir.path(), "hold") else {
        return;
    };
    let work = dir.path().join("work");
    std::fs::create_dir(&work).expect("mkdir");
    std::fs::set_permissions(&work, std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .expect("chmod");
    let w = work.display();
    let inner = work.join("inner.sh");
    std::fs::write(
        &inner,
        format!(
            r#"set -e
mkdir {w}/sbin {w}/real
cp {hold} {w}/sbin/nologin
mount --bind /usr/sbin {w}/real
mount --bind {w}/sbin /usr/sbin
/usr/sbin/nologin plain > {w}/ready &
i=0; while [ ! -s {w}/ready ]; do i=$((i+1)); [ $i -lt 600 ]; sleep 0.05; done
mount --bind {w}/real /usr/sbin
rm {w}/sbin/nologin
touch {w}/staged
wait
"#,
            hold = hold.display()
        ),
    )
    .expect("inner script");
    let outer = work.join("outer.sh");
    std::fs::write(
        &outer,
        format!(
            r#"set -e
ip link set lo up
setpriv --reuid=65534 --regid=65534 --clear-groups unshare -U -r -m sh {inner} & staging=$!
trap 'kill $staging $(sed -n "s/.*\"pid\": \([0-9]*\).*/\1/p" {w}/ready)' EXIT
i=0; while [ ! -e {w}/staged ]; do i=$((i+1)); [ $i -lt 600 ]; sleep 0.05; done
"$WHOPORT" audit --json > {w}/audit.json || true
WHOPORT_NO_BPF=1 "$WHOPORT" audit --json > {w}/audit-walk.json || true
"#,
            inner = inner.display()
        ),
    )
    .expect("outer script");
    let (port, audits) = staged_audits(&work, "-n", &outer);
    for (name, doc) in audits {
        assert!(
            findings(&doc, "findings", "restart-pending", port).is_empty(),
            "{name}: {doc}"
        );
        let gone = one(&doc, "deleted-executable", port);
        assert_eq!(gone["severity"], "high", "{name}: {gone}");
    }
}

/// `nobody` runs its own program from a mount of another mount namespace: a child of its
/// makes a user and mount namespace, binds nobody's directory over `/usr/sbin` there, and
/// nobody, still in whoport's namespaces, runs `/proc/CHILD/root/usr/sbin/nologin`
/// (`tests/fixtures/elsewhere.c`), then deletes it. Its link shows
/// `/usr/sbin/nologin (deleted)`, a path of the child's namespace; in whoport's, the
/// system's root-owned file stands there. The running file's mount is not whoport's: the
/// path names another file here, and is not taken for an upgrade (`restart-pending`, which
/// also made the program established); `deleted-executable` (high), with either lookup.
#[test]
fn a_program_run_from_another_namespaces_mount_is_never_an_upgrade() {
    if !common::root_or_skip("a listener as nobody run from another namespace's mount")
        || !have("unshare", "apt-get install -y util-linux")
        || !have("setpriv", "apt-get install -y util-linux")
        || !have("ip", "apt-get install -y iproute2")
    {
        return;
    }
    if !std::path::Path::new("/usr/sbin/nologin").is_file() {
        eprintln!("SKIPPED: no /usr/sbin/nologin to stand at the path");
        return;
    }
    let dir = tempdir();
    let (Some(hold), Some(elsewhere)) = (
        common::compile_fixture(dir.path(), "hold"),
        common::compile_fixture(dir.path(), "elsewhere"),
    ) else {
        return;
    };
    let work = dir.path().join("work");
    let mine = work.join("sbin");
    std::fs::create_dir_all(&mine).expect("mkdir");
    for d in [&work, &mine] {
        std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .expect("chmod");
    }
    std::fs::copy(&hold, mine.join("nologin")).expect("a copy of the listener");
    let w = work.display();
    let outer = work.join("outer.sh");
    std::fs::write(
        &outer,
        format!(
            r#"set -e
ip link set lo up
setpriv --reuid=65534 --regid=65534 --clear-groups {elsewhere} {mine} /usr/sbin nologin plain > {w}/ready &
trap 'kill $(sed -n "s/.*\"pid\": \([0-9]*\).*/\1/p" {w}/ready)' EXIT
i=0; while [ ! -s {w}/ready ]; do i=$((i+1)); [ $i -lt 600 ]; sleep 0.05; done
rm {mine}/nologin
"$WHOPORT" audit --json > {w}/audit.json || true
WHOPORT_NO_BPF=1 "$WHOPORT" audit --json > {w}/audit-walk.json || true
"#,
            elsewhere = elsewhere.display(),
            mine = mine.display()
        ),
    )
    .expect("script");
    let (port, audits) = staged_audits(&work, "-n", &outer);
    for (name, doc) in audits {
        assert!(
            findings(&doc, "findings", "restart-pending", port).is_empty(),
            "{name}: {doc}"
        );
        let gone = one(&doc, "deleted-executable", port);
        assert_eq!(gone["severity"], "high", "{name}: {gone}");
        assert!(
            gone["message"]
                .as_str()
                .is_some_and(|m| m.contains("another mount than the one its file is on")),
            "{name}: {gone}"
        );
    }
}

/// A daemon that makes a mount namespace of its own once it runs (as one sandboxing itself
/// does) still runs a file of a mount of whoport's namespace, where its path is looked at: a
/// package upgrade there (replaced the way dpkg does) is `restart-pending`, never
/// `deleted-executable` (staged in a private mount namespace with a tmpfs over /usr/local; the
/// daemon is `hold own-mount-ns`).
#[test]
fn a_daemon_in_a_mount_namespace_it_made_after_it_started_is_still_upgraded() {
    if !common::root_or_skip("a daemon upgraded in a private mount namespace")
        || !have("unshare", "apt-get install -y util-linux")
        || !have("ip", "apt-get install -y iproute2")
    {
        return;
    }
    let dir = tempdir();
    let Some(hold) = common::compile_fixture(dir.path(), "hold") else {
        return;
    };
    let d = dir.path().display();
    let script = dir.path().join("stage.sh");
    std::fs::write(
        &script,
        format!(
            r#"set -e
ip link set lo up
mount -t tmpfs -o mode=0755 tmpfs /usr/local; mkdir /usr/local/sbin
cp {hold} /usr/local/sbin/holdd
/usr/local/sbin/holdd own-mount-ns > {d}/ready &
trap 'kill $!' EXIT
i=0; while [ ! -s {d}/ready ]; do i=$((i+1)); [ $i -lt 600 ]; sleep 0.05; done
cp /usr/local/sbin/holdd /usr/local/sbin/holdd.dpkg-new
mv /usr/local/sbin/holdd.dpkg-new /usr/local/sbin/holdd
"$WHOPORT" audit --json > {d}/audit.json || true
WHOPORT_NO_BPF=1 "$WHOPORT" audit --json > {d}/audit-walk.json || true
"#,
            hold = hold.display()
        ),
    )
    .expect("script");
    let (port, audits) = staged_audits(dir.path(), "-n -m --propagation private", &script);
    for (name, doc) in audits {
        assert!(
            findings(&doc, "findings", "deleted-executable", port).is_empty(),
            "{name}: {doc}"
        );
        let pending = one(&doc, "restart-pending", port);
        assert_eq!(pending["severity"], "low", "{name}: {pending}");
    }
}
