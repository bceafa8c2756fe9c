//! One unix socket whose queue carries more sockets than one record of the in-kernel look
//! can hold (a seq_file buffer of the kernel holds about 2,047 of them, and one socket's
//! records must fit in one) must not blind the look into every other queue: a listener in
//! transit in another queue, or at the head of the full one, is still named in transit to its
//! receiver, and one carried past what was read of the full queue is said to be perhaps
//! there, never ruled out. Any user can
//! stage this (up to 253 descriptors a message, as many messages as the queue takes).

mod common;

use std::process::{Command, Stdio};

use common::listener::python;
use serde_json::Value;

/// Raises its descriptor limit (the soft one up to the hard one: any user may), makes two
/// socket pairs and forks a child that holds both receiving ends and never reads. Queues in
/// the first pair a listener (`front`), FILLERS unbound UDP sockets (253 to a message), then a
/// listener (`beyond`) with the receiving end of a third pair, in whose queue a listener
/// (`chained`) waits; sends a listener (`elsewhere`) over the second pair; keeps one (`kept`).
/// Closes its own copies of what it sent. Prints {"front", "beyond", "elsewhere", "kept",
/// "chained", "sender", "receiver"}, or {"refused": WHY} when its descriptor limit is too low.
const FULL: &str = r#"
import array, json, os, resource, socket, sys
FILLERS = 2300
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = FILLERS + 200
if hard != resource.RLIM_INFINITY and hard < want:
    print(json.dumps({"refused": "a descriptor limit of %d" % hard}), flush=True)
    sys.stdin.read()
    sys.exit(0)
resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
full, full_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
other, other_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
said_r, said_w = os.pipe()
child = os.fork()
if child == 0:
    full.close(); other.close()
    os.write(said_w, b"k")
    sys.stdin.read()
    os._exit(0)
full_end.close(); other_end.close()
assert os.read(said_r, 1) == b"k"
rights = lambda fds: [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
def listener():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
    return s
front = listener()
full.sendmsg([b"x"], rights([front.fileno()]))
fillers = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(FILLERS)]
for at in range(0, FILLERS, 253):
    full.sendmsg([b"x"], rights([f.fileno() for f in fillers[at:at + 253]]))
for f in fillers:
    f.close()
beyond, elsewhere, kept, chained = listener(), listener(), listener(), listener()
relay, relay_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
relay.sendmsg([b"x"], rights([chained.fileno()]))
full.sendmsg([b"x"], rights([beyond.fileno(), relay_end.fileno()]))
relay_end.close()
other.sendmsg([b"x"], rights([elsewhere.fileno()]))
ports = {"front": front.getsockname()[1], "beyond": beyond.getsockname()[1],
         "elsewhere": elsewhere.getsockname()[1], "kept": kept.getsockname()[1],
         "chained": chained.getsockname()[1]}
front.close(); beyond.close(); elsewhere.close(); chained.close()
print(json.dumps(dict(ports, sender=os.getpid(), receiver=child)), flush=True)
sys.stdin.read()
os.kill(child, 9)
"#;

/// The reason of the ownerless 127.0.0.1 TCP listener on `port`, without what the walk adds
/// on processes it could not read (the iterator reads every table).
fn reason(doc: &Value, port: u64, lookup: &str) -> String {
    let reason = common::ownerless_reason(doc, port, lookup);
    match reason.find("; the descriptors of ") {
        Some(at) if reason.ends_with("may hold it too") => reason[..at].to_string(),
        _ => reason,
    }
}

#[test]
fn a_queue_too_full_to_read_whole_blinds_no_other_queue() {
    let Some(py) = python() else { return };
    let mut script = common::Reaped(common::listener::spawn_retrying(
        Command::new(py)
            .args(["-c", FULL])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    ));
    let line = common::ready_line(&mut script.0, std::time::Duration::from_secs(20));
    let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    if let Some(why) = ready["refused"].as_str() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let port = |name: &str| ready[name].as_u64().expect("port");
    let (sender, receiver) = (ready["sender"].as_u64(), ready["receiver"].as_u64());
    let (sender, receiver) = (sender.expect("sender"), receiver.expect("receiver"));
    let established = common::is_root() && std::path::Path::new("/sys/kernel/btf/vmlinux").exists();
    let home = common::tempdir();
    let mut seen = Vec::new();
    for lookup in ["bpf", "procfs"] {
        let (status, stdout, stderr) = common::outcome(
            common::whoport(home.path())
                .env("WHOPORT_OWNER_LOOKUP", lookup)
                .arg("--json"),
        );
        assert!(status == 0 || status == 1, "{lookup}: {stderr}");
        let doc: Value = serde_json::from_str(&stdout).expect("JSON");
        // The listener the script keeps is its own, as ever.
        let kept = common::loopback_tcp_row(&doc, port("kept"), lookup);
        assert_eq!(kept["owners"][0]["pid"], sender, "{lookup}: {kept:?}");
        let front = reason(&doc, port("front"), lookup);
        let elsewhere = reason(&doc, port("elsewhere"), lookup);
        let beyond = reason(&doc, port("beyond"), lookup);
        let chained = reason(&doc, port("chained"), lookup);
        if established {
            // The other queue was read, and the full one up to where it was cut: the
            // listeners there wait for the child.
            for reason in [&front, &elsewhere] {
                assert!(
                    reason.starts_with(&format!(
                        "in transit: carried in a unix socket message (SCM_RIGHTS) not yet \
                         received, queued to a unix socket held by pid {receiver} (python3"
                    )),
                    "{lookup}: {reason}"
                );
            }
            // The full queue was not read to its end: the listener past what was read is
            // not said to be in no message, and what was not read is said.
            assert!(
                !beyond.contains("no unix socket message in transit carries it"),
                "{lookup}: {beyond}"
            );
            assert!(
                beyond.contains("was not read to the end"),
                "{lookup}: {beyond}"
            );
            assert!(beyond.contains("SCM_RIGHTS"), "{lookup}: {beyond}");
            // The unix socket the chained listener waits in is past what was read: no process
            // was found to receive it, and why that may be is said.
            assert!(
                chained.starts_with(
                    "in transit: carried in a unix socket message (SCM_RIGHTS) not yet \
                     received, queued to a unix socket that no process holds"
                ),
                "{lookup}: {chained}"
            );
            assert!(
                chained.contains("was not read to the end")
                    && chained.contains("a unix socket on its way may wait there"),
                "{lookup}: {chained}"
            );
        } else {
            // The queues cannot be looked into here: in transit stays one possibility.
            for reason in [&front, &elsewhere, &beyond, &chained] {
                assert!(!reason.starts_with("in transit:"), "{lookup}: {reason}");
                assert!(
                    reason.contains("SCM_RIGHTS") && reason.contains(" or "),
                    "{lookup}: {reason}"
                );
            }
        }
        seen.push((front, elsewhere, beyond, chained));
    }
    // Other queues on the machine may be cut too, and change between the runs: the queue
    // named, and how many others, are left out of the comparison.
    // So are other programs' io_uring clues ("perhaps held by io_uring: pid N ...; otherwise
    // ..."), which name what they are doing at that moment: only what was established for
    // these sockets is compared.
    let settled = |r: &(String, String, String, String)| {
        [&r.0, &r.1, &r.2, &r.3].map(|reason| {
            without_cut_queues(reason.rsplit("; otherwise ").next().unwrap_or(reason))
        })
    };
    assert_eq!(
        settled(&seen[0]),
        settled(&seen[1]),
        "the iterator and the walk disagree"
    );
    if established {
        // The audit's fix for the chained listener does not say the kernel will free it.
        let (_, stdout, stderr) =
            common::outcome(common::whoport(home.path()).args(["audit", "--json"]));
        let doc: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
        let hint = doc["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .find(|f| f["id"] == "hidden-owner" && f["listener"]["port"] == port("chained"))
            .and_then(|f| f["hint"].as_str())
            .unwrap_or_else(|| panic!("a hidden-owner finding for the chained listener: {doc}"));
        assert!(
            hint.contains("was not read to the end") && !hint.contains("the kernel frees it"),
            "{hint}"
        );
    }
}

/// `reason` with the queue it names as not read to the end, and the count of others, left
/// out.
fn without_cut_queues(reason: &str) -> String {
    let Some(at) = reason.find("the queue of ") else {
        return reason.to_string();
    };
    let Some(end) = reason[at..].find(" was not read to the end") else {
        return reason.to_string();
    };
    let rest = &reason[at + end..];
    let rest = match (rest.find(", nor "), rest.find(" other queue")) {
        (Some(nor), Some(other)) if nor < other => {
            let after = &rest[other + " other queue".len()..];
            format!(
                "{}{}",
                &rest[..nor],
                after.strip_prefix('s').unwrap_or(after)
            )
        }
        _ => rest.to_string(),
    };
    format!("{}a queue{rest}", &reason[..at])
}
