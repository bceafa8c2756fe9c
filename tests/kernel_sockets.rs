//! A socket the kernel made for itself (vxlan's UDP port) is said to be held by the kernel,
//! on positive evidence (it has no file), whatever else whoport could not read; a process's
//! socket that no descriptor holds is never called the kernel's. Staged in a private network
//! namespace with real vxlan devices; helpers killed by PID.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::listener::python;
use common::netns::NetNs;
use common::{bin, have, is_root, tempdir};
use serde_json::Value;

const KERNEL: &str = "held by the kernel (no process has it open)";

/// The in-kernel look can run here: root, and a kernel with BTF.
fn iterator_possible() -> bool {
    is_root() && Path::new("/sys/kernel/btf/vmlinux").exists()
}

fn row<'a>(doc: &'a Value, protocol: &str, address: &str, port: u16) -> &'a Value {
    let rows: Vec<&Value> = doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .filter(|l| l["protocol"] == protocol && l["address"] == address && l["port"] == port)
        .collect();
    assert_eq!(rows.len(), 1, "{protocol} {address}:{port} once: {doc}");
    rows[0]
}

fn reason(row: &Value) -> String {
    assert!(
        row["owners"].as_array().is_some_and(Vec::is_empty),
        "no owner: {row}"
    );
    row["owner_hidden_reason"]
        .as_str()
        .expect("a reason")
        .to_string()
}

fn json(ns: &NetNs, env: &[(&str, &str)], args: &[&str]) -> Value {
    let home = tempdir();
    let (status, out, err) = ns.whoport_with(home.path(), env, args);
    assert!(
        status == 0 || status == 1,
        "whoport {args:?}: {status}: {err}"
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// A namespace with two vxlan devices (UDP 0.0.0.0:4789 and [::]:4790, the kernel's) and a
/// helper whose TCP listener's only reference is in a unix socket message it never reads:
/// (namespace, helper, the listener's port). `None` (after a SKIPPED line) when it cannot be
/// staged here.
fn staged() -> Option<(NetNs, std::process::Child, u16)> {
    let py = python()?;
    let ns = NetNs::new()?;
    let ip = |args: &[&str]| {
        ns.command(Path::new("ip"))
            .args(args)
            .status()
            .expect("ip runs")
            .success()
    };
    if !ip(&[
        "link", "add", "wpx0", "type", "vxlan", "id", "42", "dstport", "4789", "dev", "lo",
    ]) {
        eprintln!("SKIPPED: this kernel makes no vxlan device");
        return None;
    }
    assert!(ip(&["link", "set", "wpx0", "up"]));
    assert!(ip(&[
        "link", "add", "wpx1", "type", "vxlan", "id", "43", "dstport", "4790", "local", "::1"
    ]));
    assert!(ip(&["link", "set", "wpx1", "up"]));
    // A port IANA leaves unassigned, so the audit's unassigned-port rule speaks of it too.
    assert!(ip(&[
        "link", "add", "wpx2", "type", "vxlan", "id", "44", "dstport", "41333", "dev", "lo",
    ]));
    assert!(ip(&["link", "set", "wpx2", "up"]));
    let mut helper = ns
        .command(&py)
        .args(["-c", common::listener::IN_TRANSIT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python runs");
    let line = common::ready_line(&mut helper, Duration::from_secs(30));
    let port = line.trim().parse().expect("the helper's port");
    Some((ns, helper, port))
}

#[test]
fn a_vxlan_socket_is_held_by_the_kernel_both_ways_and_a_socket_in_transit_never_is() {
    let Some((ns, mut helper, transit)) = staged() else {
        return;
    };
    let bpf = iterator_possible();
    for lookup in ["bpf", "procfs"] {
        let env = [("WHOPORT_OWNER_LOOKUP", lookup)];
        let doc = json(&ns, &env, &["--json"]);
        for (address, port) in [("0.0.0.0", 4789), ("::", 4790)] {
            let why = reason(row(&doc, "udp", address, port));
            if bpf {
                assert!(why.starts_with(KERNEL), "{lookup}: {why}");
                assert!(why.contains("ip -d link"), "{lookup}: {why}");
            } else {
                assert!(!why.contains(KERNEL), "{lookup}: {why}");
            }
        }
        // The listener in transit has a file: never the kernel's, whatever was established.
        let why = reason(row(&doc, "tcp", "127.0.0.1", transit));
        assert!(!why.contains("held by the kernel"), "{lookup}: {why}");

        let audit = json(&ns, &env, &["audit", "--json"]);
        let findings: Vec<&Value> = audit["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter(|f| f["id"] == "hidden-owner" && f["listener"]["port"] == 4789)
            .collect();
        assert_eq!(findings.len(), 1, "{lookup}: {audit}");
        let hint = findings[0]["hint"].as_str().expect("hint");
        // Every rule names the owner as established: the kernel, never a hidden process.
        let kernels: Vec<&Value> = audit["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter(|f| [4789, 41333].contains(&f["listener"]["port"].as_u64().unwrap_or(0)))
            .collect();
        for id in ["exposed-all-interfaces", "unassigned-port"] {
            let f = kernels
                .iter()
                .find(|f| f["id"] == id)
                .unwrap_or_else(|| panic!("{lookup}: {id}: {audit}"));
            let text = format!("{} {}", f["message"], f["hint"]);
            assert!(!text.contains("hidden process"), "{lookup}: {text}");
            if bpf {
                assert!(
                    text.contains("the kernel (no process has it open)"),
                    "{lookup}: {text}"
                );
            }
        }
        if bpf {
            assert_eq!(findings[0]["severity"], "info", "{lookup}: {audit}");
            assert!(hint.contains("ip -d link"), "{lookup}: {hint}");
        } else {
            assert!(
                !hint.contains("the kernel's own socket (no process"),
                "{hint}"
            );
        }
    }
    // Without BPF the kernel cannot be asked: the reason keeps what remains possible.
    let doc = json(&ns, &[("WHOPORT_NO_BPF", "1")], &["--json"]);
    let why = reason(row(&doc, "udp", "0.0.0.0", 4789));
    assert!(!why.contains("held by the kernel"), "{why}");
    let _ = helper.kill();
    let _ = helper.wait();
}

/// As 'nobody' (through setpriv inside the namespace), the kernel's socket is another user's
/// (root's): "run as root", never a claim about the kernel.
#[test]
fn as_nobody_the_kernels_socket_says_run_as_root() {
    if !have("setpriv", "apt-get install -y util-linux") {
        return;
    }
    let Some((ns, mut helper, _)) = staged() else {
        return;
    };
    for lookup in ["bpf", "procfs"] {
        let home = common::shared_tempdir();
        let out = common::command(home.path(), Path::new("nsenter"))
            .args(["-t", &ns.pid.to_string(), "-n", "--"])
            .args([
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
            ])
            .arg(bin())
            .arg("--json")
            .env("WHOPORT_OWNER_LOOKUP", lookup)
            .output()
            .expect("runs");
        let doc: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        let why = reason(row(&doc, "udp", "0.0.0.0", 4789));
        assert!(why.contains("run as root"), "{lookup}: {why}");
        assert!(!why.contains("held by the kernel"), "{lookup}: {why}");
        // Plain nobody cannot tell the kernel's socket from another user's process: the audit
        // names neither (with CAP_BPF it would say the kernel).
        let out = common::command(home.path(), Path::new("nsenter"))
            .args(["-t", &ns.pid.to_string(), "-n", "--"])
            .args([
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
            ])
            .arg(bin())
            .args(["audit", "--json"])
            .env("WHOPORT_OWNER_LOOKUP", lookup)
            .output()
            .expect("runs");
        let audit: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        let findings: Vec<&Value> = audit["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter(|f| [4789, 41333].contains(&f["listener"]["port"].as_u64().unwrap_or(0)))
            .collect();
        assert!(!findings.is_empty(), "{lookup}: {audit}");
        for f in findings {
            let text = format!("{} {}", f["message"], f["hint"]);
            assert!(!text.contains("hidden process"), "{lookup}: {text}");
        }
        let verdicts = audit["verdicts"].to_string();
        assert!(!verdicts.contains("hidden process"), "{lookup}: {verdicts}");
    }
    let _ = helper.kill();
    let _ = helper.wait();
}

/// The BPF maps a run of the real binary created (`bpf(BPF_MAP_CREATE)` as strace shows
/// them), each as its type, sizes and name: an object's maps are made each time it is loaded.
fn maps_created(ns: &NetNs, lookup: &str) -> Vec<String> {
    let home = tempdir();
    let (out, text) = ns.whoport_bpf_traced(home.path(), lookup);
    let status = out.status.code().unwrap_or(-1);
    assert!(
        status == 0 || status == 1,
        "{lookup}: {status}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .filter(|l| l.contains("bpf(BPF_MAP_CREATE, {"))
        .map(|l| {
            let fields = l.split_once('{').map_or("", |(_, rest)| rest);
            fields
                .split(", ")
                .filter(|f| {
                    [
                        "map_type=",
                        "key_size=",
                        "value_size=",
                        "max_entries=",
                        "map_name=",
                    ]
                    .iter()
                    .any(|k| f.starts_with(k))
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// The walk's second look for the vxlan sockets asks the kernel three things (the io_uring
/// instances, the sockets without a file, the unix socket queue that holds the listener in
/// transit): one load of the BPF objects serves them all, as the iterator's load does when the
/// owner lookup ran in the kernel. Counted from the real binary's system calls.
#[test]
fn the_second_look_loads_the_bpf_objects_once() {
    if !iterator_possible() {
        eprintln!("SKIPPED: the BPF objects load only as root with kernel BTF");
        return;
    }
    if !have("strace", "apt-get install -y strace") {
        return;
    }
    let Some((ns, mut helper, _)) = staged() else {
        return;
    };
    for lookup in ["procfs", "bpf"] {
        let maps = maps_created(&ns, lookup);
        assert!(
            maps.iter().any(|m| m.contains("map_name=\".bss\"")),
            "{lookup}: the objects were loaded: {maps:#?}"
        );
        let mut seen = std::collections::HashSet::new();
        for map in &maps {
            assert!(seen.insert(map), "{lookup}: made twice: {map}: {maps:#?}");
        }
    }
    let _ = helper.kill();
    let _ = helper.wait();
}
