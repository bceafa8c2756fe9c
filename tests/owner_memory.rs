//! A process chooses how much its command line holds (megabytes: execve takes up to a quarter
//! of the stack limit), and whoport reads the command line of every owner it shows: processes
//! with huge command lines holding listeners must not cost whoport their size. The peak of
//! the listing and of `--json` stays bounded, and both say the command line was cut.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{have, measured, tempdir};

/// Holders started, each with a command line of [`ARGS`] arguments of [`ARG_LEN`] bytes.
const HOLDERS: usize = 20;
const ARGS: usize = 40;
const ARG_LEN: usize = 100_000;

/// The peak allowed (KiB): without the bound, the command lines alone (80 MB) are read,
/// kept and written (the listing measured 360 MB with 30 holders of 5.9 MB).
const PEAK_KIB: u64 = 40 * 1024;

/// Starts [`HOLDERS`] processes, each a listener on 127.0.0.1 (port 0) whose command line is
/// 4 MB; their (PID, port) once all are listening. The starter ends the holders when its
/// input closes (they read their own input from a pipe it holds).
const STARTER: &str = r#"
import json, os, resource, subprocess, sys
holders, args, arg_len = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def roomy_stack():
    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    want = 64 << 20
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    resource.setrlimit(resource.RLIMIT_STACK, (want, hard))
script = ("import socket, sys\n"
          "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\n"
          "print(s.getsockname()[1], flush=True)\n"
          "sys.stdin.read()\n")
children = []
for _ in range(holders):
    argv = [sys.executable, "-c", script] + ["x" * arg_len] * args
    children.append(subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     preexec_fn=roomy_stack))
found = []
for c in children:
    line = c.stdout.readline().strip()
    found.append([c.pid, int(line) if line else 0])
print(json.dumps(found), flush=True)
sys.stdin.read()
for c in children:
    c.kill()
    c.wait()
"#;

struct Holders {
    starter: std::process::Child,
    held: Vec<(u32, u16)>,
}

impl Holders {
    fn start() -> Holders {
        let python = common::listener::python().expect("python3");
        let mut starter = std::process::Command::new(python)
            .args([
                "-c",
                STARTER,
                &HOLDERS.to_string(),
                &ARGS.to_string(),
                &ARG_LEN.to_string(),
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 starts");
        let line = common::ready_line(&mut starter, Duration::from_secs(60));
        let held: Vec<(u32, u16)> = serde_json::from_str(&line).unwrap_or_default();
        let mut holders = Holders { starter, held };
        assert_eq!(holders.held.len(), HOLDERS, "the holders started: {line:?}");
        assert!(
            holders.held.iter().all(|&(_, port)| port != 0),
            "every holder listens (a command line of {} bytes): {line:?}",
            ARGS * (ARG_LEN + 1)
        );
        holders.held.sort_unstable();
        holders
    }
}

impl Drop for Holders {
    fn drop(&mut self) {
        // Their input closes with the starter's: they end, and it reaps them.
        drop(self.starter.stdin.take());
        for &(pid, _) in &self.held {
            if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        let _ = self.starter.wait();
    }
}

#[test]
fn huge_command_lines_are_cut_and_cost_little_memory() {
    if !have("time", "apt-get install time") || !have("python3", "apt-get install python3") {
        return;
    }
    let holders = Holders::start();
    let home = tempdir();
    let ports: HashSet<u16> = holders.held.iter().map(|&(_, port)| port).collect();

    let (status, out, err, peak) = measured(home.path(), &["--json", "--tcp"], None);
    assert_eq!(status, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let mut seen = 0;
    for row in doc["listeners"].as_array().expect("listeners") {
        let port = row["port"].as_u64().and_then(|p| u16::try_from(p).ok());
        if row["address"] != "127.0.0.1" || !port.is_some_and(|p| ports.contains(&p)) {
            continue;
        }
        let Some(&(pid, _)) = holders.held.iter().find(|&&(_, p)| Some(p) == port) else {
            continue;
        };
        let owner = row["owners"]
            .as_array()
            .and_then(|o| o.iter().find(|o| o["pid"] == pid))
            .unwrap_or_else(|| panic!("{pid} owns its listener: {row}"));
        assert_eq!(owner["cmdline_truncated"], true, "{owner}");
        let args = owner["cmdline"].as_array().expect("cmdline");
        // The arguments and the NUL between each two, as /proc/PID/cmdline holds them.
        let kept: usize = args
            .iter()
            .map(|a| a.as_str().map_or(0, str::len))
            .sum::<usize>()
            + args.len().saturating_sub(1);
        assert!(kept <= 64 * 1024, "{kept} bytes of the command line kept");
        // The start is kept: the interpreter and the first long argument.
        assert_eq!(owner["cmdline"][1], "-c", "{}", owner["cmdline"][0]);
        seen += 1;
    }
    assert_eq!(seen, HOLDERS, "every holder's listener is listed");
    assert!(
        peak < PEAK_KIB,
        "--json with {HOLDERS} owners of 4 MB command lines peaked at {peak} KiB"
    );

    let pid = holders.held[0].0.to_string();
    let (status, out, err, peak) = measured(home.path(), &["--tcp", "--wide", "--pid", &pid], None);
    assert_eq!(status, 0, "{err}");
    assert!(out.contains('…'), "the command is marked as cut:\n{out}");
    let (status, _, err, peak_all) = measured(home.path(), &["--tcp", "--wide"], None);
    assert_eq!(status, 0, "{err}");
    assert!(
        peak.max(peak_all) < PEAK_KIB,
        "the listing with {HOLDERS} owners of 4 MB command lines peaked at {peak}/{peak_all} KiB"
    );
    drop(holders);
}

/// Starts a process that queues `messages` SCM_RIGHTS messages on each of `pairs` unix socket
/// pairs, each message carrying 253 copies of one listener's descriptor, then closes the
/// listener: only those messages hold it. Prints its port once all are queued.
const QUEUES: &str = r#"
import array, resource, socket, sys
pairs_wanted, messages = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
listener = socket.socket(); listener.bind(('127.0.0.1', 0)); listener.listen()
port = listener.getsockname()[1]
copies = array.array('i', [listener.fileno()] * 253)
pairs = []
for _ in range(pairs_wanted):
    a, b = socket.socketpair()
    pairs.append((a, b))
    for _ in range(messages):
        a.sendmsg([b'x'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, copies)])
listener.close()
print(port, flush=True)
sys.stdin.read()
"#;

/// The unix-queue iterator's pass is parsed as it streams: with three million descriptors
/// in transit (1,500 socket pairs, 8 messages of 253 each: each queue is read up to its
/// 2,000th socket, then said not read to the end), the listener they carry is still found in
/// transit, and the peak stays bounded.
#[test]
fn millions_of_descriptors_in_transit_are_read_as_they_stream() {
    if !common::root_or_skip("looking into unix socket queues")
        || !have("time", "apt-get install time")
    {
        return;
    }
    if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
        eprintln!("SKIPPED: no kernel BTF");
        return;
    }
    let python = common::listener::python().expect("python3");
    let mut queuer = std::process::Command::new(python)
        .args(["-c", QUEUES, "1500", "8"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 starts");
    let line = common::ready_line(&mut queuer, Duration::from_secs(60));
    let outcome = std::panic::catch_unwind(|| {
        let port: u64 = line.trim().parse().expect("the queues are filled");
        let home = tempdir();
        let (status, out, err, peak) = measured(home.path(), &["--json", "--tcp"], None);
        assert_eq!(status, 0, "{err}");
        let doc: serde_json::Value = serde_json::from_str(&out).expect("JSON");
        let row = doc["listeners"]
            .as_array()
            .expect("listeners")
            .iter()
            .find(|r| r["port"] == port && r["address"] == "127.0.0.1")
            .unwrap_or_else(|| panic!("the carried listener is listed:\n{out}"));
        let why = row["owner_hidden_reason"].as_str().unwrap_or_default();
        assert!(
            why.starts_with("in transit: carried in a unix socket message (SCM_RIGHTS)"),
            "{why}"
        );
        assert!(
            peak < PEAK_KIB,
            "--json with 3 million descriptors in transit peaked at {peak} KiB"
        );
    });
    ended(queuer, outcome);
}

/// Opens a TCP listener on 127.0.0.1 and `connections` connections to it, each held at both
/// ends by one of several processes (as many connections each as the descriptor limit lets
/// it hold), then prints the listener's port and waits for its input to close.
const CONNECTIONS: &str = r#"
import os, resource, socket, sys
wanted = int(sys.argv[1])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
each = max(1, min(5000, (hard - 64) // 2))
listener = socket.socket(); listener.bind(('127.0.0.1', 0)); listener.listen(128)
port = listener.getsockname()[1]
children, made = [], 0
while made < wanted:
    count = min(each, wanted - made)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        held = []
        for i in range(count):
            c = socket.socket()
            c.bind(('127.0.0.%d' % (2 + (made + i) % 200), 0))
            c.connect(('127.0.0.1', port))
            a, _ = listener.accept()
            held += [c, a]
        os.write(w, b'.')
        os.read(0, 1)
        os._exit(0)
    os.close(w)
    os.read(r, 1)
    os.close(r)
    children.append(pid)
    made += count
print(port, flush=True)
sys.stdin.read()
for pid in children:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
"#;

/// Connections in the tables of a namespace (any user can open them by the hundred thousand)
/// cost whoport no more than their count: a listing keeps whole only the listeners and bound
/// UDP sockets it shows, of the rest their inodes and, per port, the established count. With
/// 40,000 connections (80,000 sockets) the listing's peak stays bounded, from netlink and from
/// the /proc/net fallback, and the card still counts the port's connections.
#[test]
fn connections_cost_a_listing_only_their_count() {
    const WANTED: u64 = 40_000;
    const CONNECTIONS_PEAK_KIB: u64 = 24 * 1024;
    let Some(ns) = common::netns::NetNs::new() else {
        return;
    };
    if !have("time", "apt-get install time") {
        return;
    }
    let home = tempdir();
    let Some(shim) = common::no_netlink_shim(home.path()) else {
        return;
    };
    let mut cmd = ns.command(&common::listener::python().expect("python3"));
    cmd.args(["-c", CONNECTIONS, &WANTED.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut opener = cmd.spawn().expect("python3 starts");
    let line = common::ready_line(&mut opener, Duration::from_secs(120));
    let outcome = std::panic::catch_unwind(|| {
        let port: u16 = line.trim().parse().expect("the connections are open");
        // Asked for, the connections are listed, each once: the server's ends on the port,
        // and any client end whose ephemeral port happens to be the same number.
        let (status, out, err) = ns.whoport(home.path(), &["--json", "--tcp", "--all"]);
        assert_eq!(status, 0, "{err}");
        let doc: serde_json::Value = serde_json::from_str(&out).expect("JSON");
        let on_port = doc["listeners"]
            .as_array()
            .expect("listeners")
            .iter()
            .filter(|r| r["port"] == port && r["state"] == "established")
            .count() as u64;
        assert!(
            on_port >= WANTED,
            "--all lists every connection on the port: {on_port}"
        );
        let preload = shim.to_str().expect("utf8 path");
        for env in [vec![], vec![("LD_PRELOAD", preload)]] {
            let (status, out, err, peak) = ns.measured(home.path(), &env, &["--json", "--tcp"]);
            assert_eq!(status, 0, "{env:?}: {err}");
            let doc: serde_json::Value = serde_json::from_str(&out).expect("JSON");
            let rows = doc["listeners"].as_array().expect("listeners");
            assert!(
                rows.iter().any(|r| r["port"] == port),
                "{env:?}: the listener is listed:\n{out}"
            );
            assert!(
                rows.iter().all(|r| r["state"] == "listen"),
                "{env:?}: only listeners are listed"
            );
            assert!(
                peak < CONNECTIONS_PEAK_KIB,
                "{env:?}: the listing beside {WANTED} connections peaked at {peak} KiB"
            );
            let (status, out, err, peak) =
                ns.measured(home.path(), &env, &[&port.to_string(), "--json"]);
            assert_eq!(status, 0, "{env:?}: {err}");
            let doc: serde_json::Value = serde_json::from_str(&out).expect("JSON");
            assert_eq!(
                doc["established_connections"], on_port,
                "{env:?}: the card counts the port's connections:\n{out}"
            );
            assert!(
                peak < CONNECTIONS_PEAK_KIB,
                "{env:?}: the card beside {WANTED} connections peaked at {peak} KiB"
            );
        }
    });
    ended(opener, outcome);
}

/// Ends a staging script (its input closed, then killed by PID), then lets a failed check
/// fail the test.
fn ended(mut script: std::process::Child, outcome: std::thread::Result<()>) {
    drop(script.stdin.take());
    if let Some(pid) = rustix::process::Pid::from_raw(script.id() as i32) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
    let _ = script.wait();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e);
    }
}
