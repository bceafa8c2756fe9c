//! Hard cases staged for real: netlink refused, /proc unreadable, other PID and network
//! namespaces, descriptors in flight, closed pipes, setuid, deleted and memory-only
//! executables, names that are not UTF-8. Loopback only; every helper is bounded in time.

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use common::listener::{python, Listener};
use common::{fixture, have, is_root, tempdir};
use serde_json::Value;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("whoport")
}

/// Runs a command line through `sh -c`, with a clean data directory; (status, stdout, stderr).
fn sh(script: &str) -> (i32, String, String) {
    let home = tempdir();
    let out = Command::new("timeout")
        .args(["60", "sh", "-c", script])
        .env("XDG_DATA_HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path())
        .env_remove("NO_COLOR")
        .output()
        .expect("sh runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ours(doc: &Value, port: u16) -> Vec<&Value> {
    doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .filter(|l| l["port"] == port)
        .collect()
}

#[test]
fn netlink_refused_falls_back_to_proc_net() {
    if python().is_none() || !have("cc", "apt-get install -y gcc") {
        return;
    }
    let dir = tempdir();
    let shim = dir.path().join("no_netlink.so");
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&shim)
        .arg(fixture("no_netlink.c"))
        .arg("-ldl")
        .status()
        .expect("cc runs");
    assert!(built.success(), "the shim compiles");
    let l = Listener::start(&[
        "--comm-hex",
        &hex(b"wph-fallback"),
        "tcp4",
        "tcp6",
        "udp4",
        "udp6",
    ]);
    let run = |preload: bool| -> Value {
        let mut cmd = Command::new(bin());
        cmd.arg("--json").env("XDG_DATA_HOME", dir.path());
        if preload {
            cmd.env("LD_PRELOAD", &shim);
        }
        let out = cmd.output().expect("runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let normal = run(false);
    let fallback = run(true);
    assert_eq!(normal["source"], "netlink");
    assert_eq!(fallback["source"], "/proc/net");
    assert!(fallback["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .any(|n| n.as_str().is_some_and(|n| n.contains("refused"))));
    let key = |doc: &Value| -> BTreeSet<(String, String, u64, Vec<u64>)> {
        l.sockets
            .iter()
            .flat_map(|s| ours(doc, s.port))
            .map(|x| {
                let pids = x["owners"]
                    .as_array()
                    .expect("owners")
                    .iter()
                    .map(|o| o["pid"].as_u64().expect("pid"))
                    .collect();
                (
                    x["protocol"].as_str().expect("p").to_string(),
                    x["address"].as_str().expect("a").to_string(),
                    x["port"].as_u64().expect("port"),
                    pids,
                )
            })
            .collect()
    };
    assert_eq!(key(&normal).len(), 4);
    assert_eq!(
        key(&normal),
        key(&fallback),
        "the same listeners, the same owners"
    );
    // The table says so under the table.
    let out = Command::new(bin())
        .env("LD_PRELOAD", &shim)
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("note:") && text.contains("/proc/net"),
        "{text}"
    );
}

#[test]
fn an_unreadable_proc_still_lists_sockets() {
    if python().is_none() || !have("unshare", "apt-get install -y util-linux") {
        return;
    }
    if !is_root() {
        eprintln!("SKIPPED: mounting over /proc in a private mount namespace needs root");
        return;
    }
    let l = Listener::start(&["tcp4"]);
    let (status, out, err) = sh(&format!(
        "exec unshare --mount --propagation private sh -c 'mount -t tmpfs none /proc && exec {} --json'",
        bin().display()
    ));
    assert_eq!(status, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).expect("json");
    let row = ours(&doc, l.port(0));
    assert_eq!(row.len(), 1, "{out}");
    assert!(row[0]["owners"].as_array().is_some_and(Vec::is_empty));
    let reason = row[0]["owner_hidden_reason"].as_str().expect("reason");
    assert!(reason.contains("/proc not readable"), "{reason}");
}

#[test]
fn a_listener_outside_our_pid_namespace_is_kept_with_its_reason() {
    if python().is_none() || !have("unshare", "apt-get install -y util-linux") {
        return;
    }
    if !is_root() {
        eprintln!("SKIPPED: a new PID namespace needs root");
        return;
    }
    let l = Listener::start(&["tcp4"]);
    let (status, out, err) = sh(&format!(
        "exec unshare --pid --fork --mount-proc {} --json",
        bin().display()
    ));
    assert_eq!(status, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).expect("json");
    let row = ours(&doc, l.port(0));
    assert_eq!(row.len(), 1);
    assert!(
        row[0]["owners"].as_array().is_some_and(Vec::is_empty),
        "no PID from outside"
    );
    assert_eq!(row[0]["uid"], 0);
    let reason = row[0]["owner_hidden_reason"].as_str().expect("reason");
    assert!(reason.contains("PID namespace"), "{reason}");
    assert!(!out.contains("\"pid\": 0") && !out.contains("\"pid\":0"));
}

#[test]
fn a_descriptor_in_flight_is_kept_with_its_reason() {
    let Some(py) = python() else { return };
    // The listener's only reference is inside an SCM_RIGHTS message nobody has received yet.
    let script = r#"
import array, json, socket, sys
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
port = s.getsockname()[1]
a.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [s.fileno()]))])
s.close()
print(json.dumps({"port": port}), flush=True)
sys.stdin.read()
"#;
    let mut child = Command::new(py)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("out")),
        &mut line,
    )
    .expect("port");
    let port = serde_json::from_str::<Value>(&line).expect("json")["port"]
        .as_u64()
        .expect("port") as u16;
    let (_, doc) = common::json_status(&["--json"]);
    let row = ours(&doc, port);
    assert_eq!(row.len(), 1, "the listener is still listed");
    assert!(row[0]["owners"].as_array().is_some_and(Vec::is_empty));
    let reason = row[0]["owner_hidden_reason"].as_str().expect("reason");
    assert!(reason.contains("in transit"), "{reason}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn processes_in_other_network_namespaces_are_counted() {
    if !have("unshare", "apt-get install -y util-linux") {
        return;
    }
    if !is_root() {
        eprintln!("SKIPPED: a new network namespace needs root");
        return;
    }
    let mut other = Command::new("unshare")
        .args(["--net", "sleep", "30"])
        .spawn()
        .expect("unshare");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (_, doc) = common::json_status(&["--json"]);
    let _ = other.kill();
    let _ = other.wait();
    let notes: Vec<&str> = doc["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("other network namespaces") && n.contains("nsenter -n -t")),
        "{notes:?}"
    );
}

#[test]
fn a_closed_pipe_ends_quietly() {
    if python().is_none() {
        return;
    }
    let _l = Listener::start(&["tcp4", "udp4"]);
    let home = tempdir();
    for args in [
        &[][..],
        &["--json"],
        &["--wide"],
        &["audit"],
        &["registry", "search", "a"],
    ] {
        // The reading end is closed before whoport writes anything.
        let mut child = Command::new(bin())
            .args(args)
            .env("XDG_DATA_HOME", home.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runs");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("waits");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: quiet success: {err}");
        assert!(
            !err.contains("panicked")
                && !err.to_lowercase().contains("broken pipe")
                && !err.contains("whoport: "),
            "{args:?}: no complaint: {err}"
        );
    }
}

#[test]
fn setuid_is_refused() {
    if !is_root() {
        eprintln!("SKIPPED: making a setuid copy of whoport needs root");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let dir = tempdir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod dir");
    let copy = dir.path().join("whoport-setuid");
    std::fs::copy(bin(), &copy).expect("copy");
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o4755)).expect("chmod");
    let out = Command::new(&copy)
        .arg("--json")
        .uid(65534)
        .gid(65534)
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(0) && err.is_empty() {
        // A nosuid mount ignores the bit: nothing to refuse then.
        eprintln!("SKIPPED: {} is mounted nosuid", dir.path().display());
        return;
    }
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("setuid"), "{err}");
    assert!(out.stdout.is_empty());
}
