//! Files named as io_uring instances' files ("[io_uring]") that are no io_uring instances:
//! the in-kernel looks take a file for a ring only on the anonymous inodes' filesystem, where
//! only the kernel names files; both owner lookups agree.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::listener::python;
use serde_json::Value;

/// `whoport --json PORT` with the `lookup` owner lookup: the row of 127.0.0.1:`port`.
/// The runs' `--timeout`: ample for the looks into the listener's queue and the copies of a
/// FIFO (under a second here), far less than looking into each copy as a ring took.
const TIMEOUT: &str = "10s";

fn row(lookup: &str, port: u16) -> Value {
    let home = common::tempdir();
    let (status, stdout, stderr) = common::outcome(
        common::whoport(home.path())
            .env("WHOPORT_OWNER_LOOKUP", lookup)
            .args(["--json", "--timeout", TIMEOUT, &port.to_string()]),
    );
    assert!(status == 0 || status == 1, "{lookup}: {stderr}");
    let doc: Value = serde_json::from_str(&stdout).expect("JSON");
    common::loopback_tcp_row(&doc, u64::from(port), lookup).clone()
}

/// Sends a listener on 127.0.0.1:argv[1] to itself in a unix socket message and closes it,
/// then holds argv[2] descriptors of a FIFO named as an io_uring instance's file ("[io_uring]",
/// made in directory argv[3]). Prints its PID, then waits for stdin to close.
const RING_NAMED: &str = r#"
import array, json, os, resource, socket, sys
port, n, d, name = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen()
a, b = socket.socketpair()
a.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [s.fileno()]))])
s.close()
p = os.path.join(d, name)
os.mkfifo(p, 0o600)
fd = os.open(p, os.O_RDWR | os.O_NONBLOCK)
for _ in range(n - 1):
    os.dup(fd)
print(json.dumps({"pid": os.getpid()}), flush=True)
sys.stdin.read()
"#;

/// Thousands of descriptors of a FIFO named "[io_uring]": no io_uring instance (only the
/// kernel names a file on the anonymous inodes' filesystem), so the in-kernel looks do not
/// take them for rings. Each was looked into as a ring and merged with the others one by one
/// (25 s at 19,000 copies): the looks did not finish within `--timeout` and the reason for a
/// listener in transit lost what they establish. Within the same `--timeout` it is whole both
/// ways, as with the FIFO named plainly.
#[test]
fn files_named_as_io_uring_instances_are_not_taken_for_rings() {
    if looked_with("fifo", 53013).is_none() {
        return;
    }
    looked_with("[io_uring]", 53014);
}

/// Stages RING_NAMED with the FIFO named `name` and the listener on `port`, checks the reason
/// both ways; `None` where it cannot be staged.
fn looked_with(name: &str, port: u16) -> Option<()> {
    let py = python()?;
    let Some(dups) = common::listener::dups_allowed(2_000) else {
        eprintln!("SKIPPED: the limit on open descriptors is too low to stage the copies");
        return None;
    };
    if !common::is_root() {
        eprintln!("SKIPPED: only root may look into unix socket queues");
        return None;
    }
    let dir = common::tempdir();
    let dir_arg = dir.path().to_str().expect("UTF-8 path");
    let mut child = common::Reaped(common::listener::spawn_retrying(
        Command::new(py)
            .args([
                "-c",
                RING_NAMED,
                &port.to_string(),
                &dups.to_string(),
                dir_arg,
                name,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    ));
    let line = common::ready_line(&mut child.0, Duration::from_secs(20));
    let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    let pid = ready["pid"].as_u64().expect("pid");
    for lookup in ["bpf", "procfs"] {
        let row = row(lookup, port);
        let reason = row["owner_hidden_reason"].as_str().unwrap_or_default();
        assert!(
            reason.starts_with(&format!(
                "in transit: carried in a unix socket message (SCM_RIGHTS) not yet received, queued to a unix socket held by pid {pid} "
            )) && !reason.contains("in time"),
            "{lookup}: {row}"
        );
    }
    drop(child);
    Some(())
}
