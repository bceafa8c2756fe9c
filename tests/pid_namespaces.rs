//! whoport run inside a child PID namespace (a container's view): owners are named by the PIDs
//! of that namespace, whichever lookup is asked for. The in-kernel iterator knows only the
//! initial namespace's PIDs, where a number may name nothing here or another process.

mod common;

use common::listener::python;
use common::{have, is_root};
use serde_json::Value;

/// Each lookup's `--json` document.
type Documents = Vec<(&'static str, Value)>;

/// In a private network and PID namespace (with a user namespace first when not root): a
/// loopback listener, a process of the namespace given the listener's host PID when the
/// namespace lets us choose PIDs, then whoport with each lookup. Returns (the listener's PID
/// in the namespace, its port, the JSON document of each lookup), or `None` after a SKIPPED
/// line.
fn staged() -> Option<(u32, u16, Documents)> {
    let py = python()?;
    if !have("unshare", "apt-get install -y util-linux")
        || !have("ip", "apt-get install -y iproute2")
    {
        return None;
    }
    let dir = common::shared_tempdir();
    // The listener reports its host PID (read in the host's /proc, before the namespace's own
    // is mounted) and its port; the impostor is given that PID number in the namespace.
    let listener = r#"
import os, socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
out = sys.argv[1]
with open(out + ".tmp", "w") as f:
    f.write("%s %d\n" % (os.readlink("/proc/self"), s.getsockname()[1]))
os.rename(out + ".tmp", out)
time.sleep(600)
"#;
    let script = r#"
set -e
ip link set lo up
"$PY" -c "$LISTENER" "$DIR/ready" &
LP=$!
i=0
while [ ! -s "$DIR/ready" ]; do i=$((i+1)); [ $i -lt 1200 ] || exit 9; sleep 0.05; done
mount -t proc proc /proc
read HOSTPID PORT < "$DIR/ready"
echo $((HOSTPID - 1)) > /proc/sys/kernel/ns_last_pid 2>/dev/null && sleep 600 &
echo "$LP $PORT" > "$DIR/staged"
for lk in bpf procfs; do
  WHOPORT_OWNER_LOOKUP=$lk "$WHOPORT" --json > "$DIR/$lk.json" || [ $? -eq 1 ]
done
"#;
    let user = if is_root() { "" } else { "-U -r" };
    let (status, _, err) = common::sh_within(
        &format!(
            "export PY='{py}' DIR='{dir}' LISTENER='{listener}'; \
             exec unshare {user} -n -m --propagation private -p -f sh -c '{script}'",
            py = py.display(),
            dir = dir.path().display(),
            listener = listener.replace('\'', "'\\''"),
            script = script.replace('\'', "'\\''"),
        ),
        std::time::Duration::from_secs(90),
    );
    if !is_root() && err.contains("unshare failed") {
        eprintln!("SKIPPED: a user namespace is refused here ({err})");
        return None;
    }
    assert_eq!(status, 0, "the staging ran: {err}");
    let staged = std::fs::read_to_string(dir.path().join("staged")).expect("staged");
    let mut fields = staged
        .split_whitespace()
        .map(|f| f.parse::<u32>().expect("number"));
    let (pid, port) = (fields.next().expect("pid"), fields.next().expect("port"));
    let docs = ["bpf", "procfs"]
        .into_iter()
        .map(|lk| {
            let text = std::fs::read_to_string(dir.path().join(format!("{lk}.json"))).expect(lk);
            let doc = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{lk}: {e}: {text}"));
            (lk, doc)
        })
        .collect();
    Some((pid, u16::try_from(port).expect("port"), docs))
}

#[test]
fn owners_inside_a_child_pid_namespace_have_that_namespaces_pids_both_ways() {
    let Some((pid, port, docs)) = staged() else {
        return;
    };
    let mut seen = Vec::new();
    for (lookup, doc) in &docs {
        let rows: Vec<&Value> = doc["listeners"]
            .as_array()
            .expect("listeners")
            .iter()
            .filter(|l| l["protocol"] == "tcp" && l["address"] == "127.0.0.1" && l["port"] == port)
            .collect();
        assert_eq!(rows.len(), 1, "{lookup}: one row for the listener: {doc}");
        let owners: Vec<(u64, String)> = rows[0]["owners"]
            .as_array()
            .expect("owners")
            .iter()
            .map(|o| {
                (
                    o["pid"].as_u64().expect("pid"),
                    o["name"].as_str().expect("name").to_string(),
                )
            })
            .collect();
        assert_eq!(owners.len(), 1, "{lookup}: {owners:?}");
        assert_eq!(owners[0].0, u64::from(pid), "{lookup}: {owners:?}");
        assert!(owners[0].1.starts_with("python"), "{lookup}: {owners:?}");
        seen.push(owners);
    }
    assert_eq!(seen[0], seen[1], "both lookups agree");
    if is_root() {
        // The iterator could have loaded: the document says why it was not used.
        let notes = docs[0].1["notes"].to_string();
        assert!(
            notes.contains("inside a PID namespace") && docs[0].1["owner_lookup"] != "bpf",
            "{notes}"
        );
    }
}

/// whoport in a PID namespace of its own that kept the machine's `/proc` (`unshare -p -f`
/// without mounting one) is numbered there by its host PID, and knows it: a socket of another
/// network namespace that it holds itself (here a listener its parent made in a fresh
/// namespace before coming back, inherited as its standard input) is not reported as a
/// process's "sockets of another network namespace".
#[test]
fn whoport_in_a_pid_namespace_with_the_machines_proc_knows_its_own_process() {
    let Some(py) = python() else {
        return;
    };
    if !have("unshare", "apt-get install -y util-linux") || !common::root_or_skip("unshare -p") {
        return;
    }
    let parent = r#"
import ctypes, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
home = os.open("/proc/self/ns/net", os.O_RDONLY)
assert libc.unshare(0x40000000) == 0, "unshare"
os.system("ip link set lo up")
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
assert libc.setns(home, 0x40000000) == 0, "setns"
os.dup2(s.fileno(), 0)
os.execvp("unshare", ["unshare", "-p", "-f", sys.argv[1], "--json"])
"#;
    let dir = common::shared_tempdir();
    let out = dir.path().join("out.json");
    let (status, _, err) = common::sh_within(
        &format!(
            "WHOPORT_NO_BPF=1 WHOPORT_TIMEOUT={limit} exec '{py}' -c '{parent}' '{bin}' > '{out}'",
            limit = common::TIMEOUT,
            py = py.display(),
            parent = parent.replace('\'', "'\\''"),
            bin = common::bin().display(),
            out = out.display(),
        ),
        std::time::Duration::from_secs(60),
    );
    assert!(status == 0 || status == 1, "{err}");
    let text = std::fs::read_to_string(&out).expect("output");
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let notes = doc["notes"].as_array().expect("notes");
    assert!(
        notes
            .iter()
            .filter_map(Value::as_str)
            .all(|n| !n.contains("(whoport)")),
        "{notes:?}"
    );
}

/// whoport in a time namespace whose boot-time clock is shifted (`unshare -T --boottime`: a
/// restored or containerised system): `/proc/PID/stat` gives it start times on that clock, the
/// in-kernel iterator the kernel's own. Both lookups name the listener's process, never
/// "[process changed during scan]", with the start time `/proc` gives.
#[test]
fn in_a_time_namespace_with_a_boot_time_offset_both_lookups_name_the_owner() {
    if python().is_none()
        || !have("unshare", "apt-get install -y util-linux")
        || !common::root_or_skip("unshare -T")
    {
        return;
    }
    let (probe, _, _) = common::sh("unshare -T --boottime 1000 -f true");
    if probe != 0 {
        eprintln!("SKIPPED: no time namespaces (Linux 5.6+, CONFIG_TIME_NS)");
        return;
    }
    let helper = common::listener::Listener::start(&["--exit-after", "60", "tcp4"]);
    let port = helper.port(0);
    let home = common::tempdir();
    // Ahead, and set back so far that the namespace booted after the listener started (its
    // start there is "before boot": the kernel's unsigned sum wraps in /proc/PID/stat).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let uptime: u64 = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|u| u.split('.').next()?.parse().ok())
        .expect("uptime");
    let back = format!("-{uptime}");
    for offset in ["100000", back.as_str()] {
        let mut seen = Vec::new();
        for lookup in ["bpf", "procfs"] {
            let out = common::command(home.path(), std::path::Path::new("unshare"))
                .args(["-T", "--boottime", offset, "-f"])
                .arg(common::bin())
                .args(["--json", &port.to_string()])
                .env("WHOPORT_OWNER_LOOKUP", lookup)
                .output()
                .expect("whoport runs");
            let text = String::from_utf8_lossy(&out.stdout);
            let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
            let process = doc["listeners"]
                .as_array()
                .expect("listeners")
                .iter()
                .flat_map(|l| l["owners"].as_array().expect("owners"))
                .find(|p| p["pid"] == helper.pid)
                .unwrap_or_else(|| panic!("{lookup}: no process {}: {doc}", helper.pid))
                .clone();
            assert_ne!(
                process["name"], "[process changed during scan]",
                "{lookup} {offset}: {doc}"
            );
            assert!(process["start_time"].is_string(), "{lookup}: {process}");
            seen.push((process["name"].clone(), process["start_time"].clone()));
        }
        assert_eq!(seen[0], seen[1], "both lookups, offset {offset}: {seen:?}");
    }
}
