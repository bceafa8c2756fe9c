//! `whoport wait`: listeners that appear after a second and ones that disappear, TCP and UDP,
//! a timeout, the owner filters, and no `/proc` needed without them.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::listener::{python, Listener};
use common::netns::NetNs;
use common::{bin, have, is_root, run, tempdir, whoport, Run};
use serde_json::Value;
use socket2::{Domain, Socket, Type};

/// A TCP socket bound on 127.0.0.1 (the port is ours) but not listening yet.
fn bound_tcp() -> (Socket, u16) {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    let addr: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    s.bind(&addr.into()).expect("bind");
    let port = s
        .local_addr()
        .expect("addr")
        .as_socket()
        .expect("inet")
        .port();
    (s, port)
}

#[test]
fn a_tcp_listener_appearing_after_a_second_ends_the_wait() {
    let (socket, port) = bound_tcp();
    let home = tempdir();
    let waiting = whoport(home.path())
        .args(["wait", &port.to_string(), "--listening", "--timeout", "30s"])
        .spawn();
    std::thread::sleep(Duration::from_secs(1));
    socket.listen(8).expect("listen");
    let out = waiting.wait_with_output();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains(&format!("{port}/tcp is listening")),
        "{stdout}"
    );
}

#[test]
fn a_timeout_too_long_for_the_clock_waits_without_panicking() {
    let (socket, port) = bound_tcp();
    socket.listen(8).expect("listen");
    let (status, out, err) = run(&[
        "wait",
        &port.to_string(),
        "--listening",
        "--timeout",
        "18446744073709551615s",
    ]);
    assert_eq!(status, 0, "{out} {err}");
    assert!(out.contains(&format!("{port}/tcp is listening")), "{out}");
}

#[test]
fn a_bound_socket_that_never_listens_times_out() {
    // Bound on [::] dual-stack, never listening (nothing can reach it): no other program can
    // listen on this port number, on any address, while the test runs.
    let socket = Socket::new(Domain::IPV6, Type::STREAM, None).expect("socket");
    socket.set_only_v6(false).expect("dual-stack");
    let addr: SocketAddr = "[::]:0".parse().expect("addr");
    socket.bind(&addr.into()).expect("bind");
    let port = socket
        .local_addr()
        .expect("addr")
        .as_socket()
        .expect("inet")
        .port();
    let port = port.to_string();
    let (status, out, err) = run(&["wait", &port, "--listening", "--timeout", "1s"]);
    assert_eq!(status, 1, "{out} {err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("was not listening after"), "{err}");
    let (status, out, _) = run(&["wait", &port, "--listening", "--timeout", "300ms", "--json"]);
    assert_eq!(status, 1);
    let doc: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(doc["met"], false);
    assert_eq!(doc["condition"], "listening");
    assert!(doc["looks"].as_u64().expect("looks") >= 1, "{doc}");
}

/// Starts `wait PORT --free` (inside `ns` when given), drops the listener after a second, and
/// returns the wait's status and stdout.
fn wait_while_it_disappears(l: Listener, port: &str, ns: Option<&NetNs>) -> (Option<i32>, String) {
    let home = tempdir();
    let args = ["wait", port, "--free", "--timeout", "30s"];
    let waiting = match ns {
        Some(ns) => {
            let mut run = Run::new("nsenter");
            run.args(["-t", &ns.pid.to_string(), "-n", "--"])
                .arg(bin())
                .args(args);
            run.spawn()
        }
        None => whoport(home.path()).args(args).spawn(),
    };
    std::thread::sleep(Duration::from_secs(1));
    drop(l);
    let out = waiting.wait_with_output();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn a_tcp_listener_disappearing_ends_a_free_wait() {
    if python().is_none() {
        return;
    }
    // In a private network namespace when possible: on a busy machine, an outgoing
    // connection may take a freed ephemeral port at once (as check's advice warns).
    let ns = if is_root() { NetNs::new() } else { None };
    let l = match &ns {
        Some(ns) => ns.listener(&["tcp4:7300"]),
        None => Listener::start(&["tcp4"]),
    };
    let port = l.port(0).to_string();
    if ns.is_none() {
        // Held now: not free.
        let (status, _, _) = run(&["wait", &port, "--free", "--timeout", "200ms"]);
        assert_eq!(status, 1);
    }
    let (status, out) = wait_while_it_disappears(l, &port, ns.as_ref());
    assert_eq!(status, Some(0), "{out}");
    assert!(out.contains("is free"), "{out}");
}

#[test]
fn a_udp_socket_disappearing_ends_a_free_wait() {
    if python().is_none() {
        return;
    }
    let l = Listener::start(&["udp4"]);
    let port = format!("{}/udp", l.port(0));
    let (status, _, _) = run(&["wait", &port, "--listening", "--timeout", "5s"]);
    assert_eq!(status, 0, "a bound UDP socket is a listener");
    let (status, out) = wait_while_it_disappears(l, &port, None);
    assert_eq!(status, Some(0), "{out}");
    assert!(out.contains("/udp is free"), "{out}");
}

#[test]
fn a_udp_listener_appearing_after_a_second_ends_the_wait() {
    let Some(ns) = NetNs::new() else { return };
    let mut waiting = Run::new("nsenter");
    waiting
        .args(["-t", &ns.pid.to_string(), "-n", "--"])
        .arg(bin())
        .args(["wait", "7100/udp", "--listening", "--timeout", "30s"]);
    let waiting = waiting.spawn();
    std::thread::sleep(Duration::from_secs(1));
    let _l = ns.listener(&["udp4:7100"]);
    let out = waiting.wait_with_output();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("7100/udp is listening"), "{stdout}");
}

#[test]
fn pid_and_process_narrow_whose_listener_counts() {
    if python().is_none() {
        return;
    }
    let l = Listener::start(&["tcp4"]);
    let port = l.port(0).to_string();
    let pid = l.pid.to_string();
    let (status, _, err) = run(&[
        "wait",
        &port,
        "--listening",
        "--pid",
        &pid,
        "--timeout",
        "10s",
    ]);
    assert_eq!(status, 0, "{err}");
    let (status, _, err) = run(&[
        "wait",
        &port,
        "--listening",
        "--process",
        "no-such-program-name",
        "--timeout",
        "8s",
    ]);
    assert_eq!(status, 1);
    // The port was listening all along: it is not said to be "not listening". (The wait's
    // time is long enough for a look at the owners on a loaded machine: a look that has not
    // answered when it ends says so instead.)
    assert!(
        err.contains(&format!("{port}/tcp had listeners after 8."))
            && err.contains("none held by the process asked for"),
        "{err}"
    );
    // The test's own process, whose descriptors whoport reads (root or not), does not hold
    // the socket. (PID 1 may be a process whose descriptors whoport cannot read: then whether
    // it holds it is not known, `asked_unread`.)
    let own = std::process::id().to_string();
    let (status, out, _) = run(&[
        "wait",
        &port,
        "--listening",
        "--pid",
        &own,
        "--timeout",
        "8s",
        "--json",
    ]);
    let doc: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        (status, &doc["unmet"]),
        (1, &Value::from("other_holders")),
        "{doc}"
    );
    let free = bound_tcp();
    let (_, out, _) = run(&[
        "wait",
        &free.1.to_string(),
        "--listening",
        "--timeout",
        "0s",
        "--json",
    ]);
    let doc: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(doc["unmet"], "not", "{doc}");
    // --pid is for --listening only; one condition is required.
    assert_eq!(run(&["wait", &port, "--free", "--pid", &pid]).0, 2);
    assert_eq!(run(&["wait", &port]).0, 2);
    assert_eq!(run(&["wait", "ssh", "--listening"]).0, 2);
}

#[test]
fn without_pid_or_process_the_wait_needs_no_proc() {
    if python().is_none() || !have("unshare", "apt-get install -y util-linux") {
        return;
    }
    if !is_root() {
        eprintln!("SKIPPED: a private mount namespace needs root");
        return;
    }
    let l = Listener::start(&["tcp4"]);
    let script = format!(
        "mount -t tmpfs none /proc && exec {} wait {} --listening --timeout 10s",
        bin().display(),
        l.port(0)
    );
    let home = tempdir();
    let out = Run::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .env("XDG_DATA_HOME", home.path())
        .output()
        .expect("unshare runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn waiting_for_a_privileged_port_to_be_free_without_root_is_an_error() {
    let start: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(1024);
    if start <= 1 {
        eprintln!("SKIPPED: every port is unprivileged here");
        return;
    }
    let port = (start - 1).to_string();
    let home = tempdir();
    let args = ["wait", &port, "--free", "--timeout", "30s"];
    let out = if is_root() {
        common::whoport_as_nobody(home.path()).args(args).output()
    } else {
        whoport(home.path()).args(args).output()
    }
    .expect("whoport runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ip_unprivileged_port_start"), "{err}");
}

#[test]
fn a_port_in_time_wait_is_not_free_yet() {
    use std::net::{TcpListener, TcpStream};
    // The server side closes first: its end (local port = the listener's) is in TIME_WAIT.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut client = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    drop(server);
    std::io::Read::read_to_end(&mut client, &mut Vec::new()).expect("EOF");
    drop(client);
    drop(listener);
    // No listener is left, yet a server without SO_REUSEADDR could not bind: not free.
    let (status, out, _) = run(&[
        "wait",
        &port.to_string(),
        "--free",
        "--timeout",
        "300ms",
        "--json",
    ]);
    assert_eq!(status, 1, "{out}");
    let doc: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(doc["met"], false);
}

/// The owners of the same sockets are looked at again at every look: a process renamed (or a
/// socket passed to another process) while the port keeps its listeners ends the wait. Before,
/// the first answer about the owners was kept while the set of sockets did not change.
#[test]
fn a_listener_whose_process_takes_the_name_asked_for_ends_the_wait() {
    let Some(python) = python() else {
        return;
    };
    let name = format!("wpren{}", std::process::id() % 100_000);
    let script = "import socket, sys, time\n\
                  s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
                  print(s.getsockname()[1], flush=True)\n\
                  time.sleep(1.5)\n\
                  open('/proc/self/comm', 'w').write(sys.argv[1])\n\
                  time.sleep(60)\n";
    let mut child = std::process::Command::new(python)
        .args(["-c", script, &name])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("port");
    let port = line.trim().to_string();
    let (status, out, err) = run(&[
        "wait",
        &port,
        "--listening",
        "--process",
        &name,
        "--timeout",
        "15s",
        "--json",
    ]);
    let _ = child.kill();
    let _ = child.wait();
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}{err}"));
    assert_eq!((status, &doc["met"]), (0, &Value::Bool(true)), "{doc}");
}
