//! One consistent look: every listener once under SO_REUSEPORT churn, and a connected UDP
//! socket never a listener, whatever the source. Loopback only; helpers killed by PID.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::listener::{python, Listener};
use common::{have, is_root, tempdir};
use serde_json::Value;

/// Rows on `port` for `protocol`, on any address.
fn rows<'a>(doc: &'a Value, port: u16, protocol: &str) -> Vec<&'a Value> {
    doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .filter(|l| l["port"] == port && l["protocol"] == protocol)
        .collect()
}

fn owned_by(row: &Value, pid: u32) -> bool {
    row["owners"]
        .as_array()
        .is_some_and(|o| o.iter().any(|o| o["pid"] == pid))
}

#[test]
fn a_steady_listener_appears_once_while_its_reuseport_group_churns() {
    let Some(py) = python() else { return };
    // A steady SO_REUSEPORT listener in this process; a child holds 600 more sockets of the
    // same group and closes and reopens them in bursts of 50, for 40 s at most. The kernel
    // resumes a dump by position within the bucket they all share: closes before the resume
    // point skip sockets, opens repeat them.
    let script = r#"
import json, os, random, resource, socket, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
def mk(port=0):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("127.0.0.1", port)); s.listen(1); return s
steady = mk()
port = steady.getsockname()[1]
r, w = os.pipe()
child = os.fork()
if child == 0:
    steady.close()
    group = [mk(port) for _ in range(600)]
    os.write(w, b"x")
    end = time.time() + 40
    while time.time() < end and os.getppid() != 1:
        k = random.randrange(550)
        for s in group[k:k + 50]:
            s.close()
        group[k:k + 50] = [mk(port) for _ in range(50)]
    os._exit(0)
os.read(r, 1)
print(json.dumps({"port": port, "pid": os.getpid(), "child": child}), flush=True)
sys.stdin.read()
os.kill(child, 9)
"#;
    let mut helper = Command::new(py)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("helper starts");
    let mut out = std::io::BufReader::new(helper.stdout.take().expect("stdout"));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).expect("helper reports");
    let ready: Value = serde_json::from_str(&line).expect("json");
    let port = ready["port"].as_u64().expect("port") as u16;
    let pid = ready["pid"].as_u64().expect("pid") as u32;
    let child = ready["child"].as_u64().expect("child") as u32;
    let mut counts = Vec::new();
    // For a run that did not list it once: its rows on the port that the helper's parent
    // holds, the reasons of the first five no one holds, and the run's notes.
    let mut seen = Vec::new();
    for run in 0..15 {
        let (_, doc) = common::json_status(&["--json"]);
        let on_port = rows(&doc, port, "tcp");
        let count = on_port.iter().filter(|r| owned_by(r, pid)).count();
        if count != 1 {
            let ownerless: Vec<&Value> = on_port
                .iter()
                .filter(|r| r["owners"].as_array().is_none_or(|o| o.is_empty()))
                .map(|r| &r["owner_hidden_reason"])
                .take(5)
                .collect();
            seen.push(format!(
                "run {run}: {count} rows held by {pid}, {} rows on the port, ownerless: \
                 {ownerless:?}, notes: {}",
                on_port.len(),
                doc["notes"]
            ));
        }
        counts.push(count);
    }
    drop(helper.stdin.take());
    let _ = helper.kill();
    let _ = helper.wait();
    let _ = Command::new("kill")
        .args(["-9", &child.to_string()])
        .status();
    assert!(
        counts.iter().all(|&c| c == 1),
        "the steady listener must appear exactly once in every run: {counts:?}\n{}",
        seen.join("\n")
    );
}

#[test]
fn connected_udp_is_never_a_listener_even_when_proc_is_unreadable() {
    if python().is_none() || !have("unshare", "apt-get install -y util-linux") {
        return;
    }
    if !is_root() {
        eprintln!("SKIPPED: mounting over /proc in a private mount namespace needs root");
        return;
    }
    let l = Listener::start(&["udp4-connected", "udp4"]);
    let (connected, plain) = (&l.sockets[0], &l.sockets[1]);
    let bin = common::bin();
    let run = |args: &str| -> Value {
        let home = tempdir();
        // Through the shared helper: under its time limit, with its clean environment.
        let out = common::command(home.path(), Path::new("unshare"))
            .args([
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                &format!(
                    "mount -t tmpfs none /proc && exec {} --json {args}",
                    bin.display()
                ),
            ])
            .output()
            .expect("unshare runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("json")
    };
    // Our own sockets only (another program may hold the same numbers on other addresses).
    let doc = run("");
    assert!(
        common::listener::rows(&doc, connected).is_empty(),
        "a connected UDP socket is not a listener: {doc}"
    );
    assert_eq!(
        common::listener::rows(&doc, plain).len(),
        1,
        "an unconnected one is"
    );
    let all = run("--all");
    let row = common::listener::rows(&all, connected);
    assert_eq!(row.len(), 1);
    assert_eq!(row[0]["remote_address"], "127.0.0.1");
    assert_eq!(row[0]["remote_port"], 9);
}
