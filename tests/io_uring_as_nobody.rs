//! Root's sockets held only by an io_uring instance, seen by nobody with CAP_BPF and
//! CAP_PERFMON: `/proc` does not show this user root's rings (their fdinfo), but the kernel
//! lets it read every task's rings, so both owner lookups name the holder, as they do for
//! root. Staged with `tests/fixtures/hold.c` (compiled at test time) in a private network
//! namespace; the helpers are killed by PID.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use common::netns::NetNs;
use common::{bin, have, is_root, tempdir};
use serde_json::Value;

/// Compiles `hold.c` into `dir`.
fn build(dir: &Path) -> Option<PathBuf> {
    common::compile_fixture(dir, "hold")
}

/// Starts `hold MODE` as root inside `ns`: the helper, its port and PID. `None` when the
/// kernel refuses the mode.
fn start(ns: &NetNs, helper: &Path, mode: &str) -> Option<(Child, u64, u64)> {
    let mut child = ns
        .command(helper)
        .arg(mode)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the helper runs");
    let line = common::ready_line(&mut child, Duration::from_secs(30));
    match serde_json::from_str::<Value>(&line) {
        Ok(ready) => Some((
            child,
            ready["port"].as_u64().expect("port"),
            ready["pid"].as_u64().expect("pid"),
        )),
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            eprintln!("SKIPPED: the kernel refused '{mode}' here ({line:?})");
            None
        }
    }
}

/// whoport as nobody with CAP_BPF and CAP_PERFMON inside `ns`, `lookup` forced; `home` must
/// be writable by nobody.
fn as_nobody_with_bpf(ns: &NetNs, home: &Path, lookup: &str) -> std::process::Output {
    common::command(home, Path::new("nsenter"))
        .args(["-t", &ns.pid.to_string(), "-n", "--"])
        .args(common::NOBODY_WITH_BPF)
        .arg(bin())
        .arg("--json")
        .env("WHOPORT_OWNER_LOOKUP", lookup)
        .output()
        .expect("runs")
}

/// Root's listener held only by an io_uring registered-file table (the ring's descriptor in
/// the process's table, in a thread's own table, after the main thread exited, or the ring
/// reached only through a poll in flight on another ring): nobody with CAP_BPF and
/// CAP_PERFMON cannot read the ring's fdinfo, and both lookups name the holder from the
/// kernel's own walk of its rings.
#[test]
fn roots_io_uring_holder_is_named_by_both_lookups_as_nobody_with_bpf() {
    if !is_root()
        || !Path::new("/sys/kernel/btf/vmlinux").exists()
        || !have("setpriv", "apt-get install -y util-linux")
    {
        return;
    }
    let dir = tempdir();
    let Some(helper) = build(dir.path()) else {
        return;
    };
    let Some(ns) = NetNs::new() else {
        return;
    };
    let home = common::shared_tempdir();
    'modes: for mode in [
        "io-uring",
        "io-uring-thread",
        "io-uring-nested",
        "io-uring-leader-exit",
    ] {
        let Some((mut child, port, pid)) = start(&ns, &helper, mode) else {
            continue;
        };
        for lookup in ["bpf", "procfs"] {
            let out = as_nobody_with_bpf(&ns, home.path(), lookup);
            let Ok(doc) = serde_json::from_slice::<Value>(&out.stdout) else {
                // setpriv refused the capabilities (a kernel or setpriv without CAP_BPF).
                eprintln!(
                    "SKIPPED: nobody with CAP_BPF and CAP_PERFMON could not run whoport: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let _ = child.kill();
                let _ = child.wait();
                break 'modes;
            };
            let rows: Vec<&Value> = doc["listeners"]
                .as_array()
                .expect("listeners")
                .iter()
                .filter(|l| {
                    l["protocol"] == "tcp" && l["address"] == "127.0.0.1" && l["port"] == port
                })
                .collect();
            let at = format!("{mode}, {lookup}");
            assert_eq!(rows.len(), 1, "{at}: {doc}");
            let owners: Vec<u64> = rows[0]["owners"]
                .as_array()
                .expect("owners")
                .iter()
                .filter_map(|o| o["pid"].as_u64())
                .collect();
            assert_eq!(owners, vec![pid], "{at}: {}", rows[0]);
            assert_eq!(
                rows[0]["held_through"], "held by io_uring",
                "{at}: {}",
                rows[0]
            );
            assert!(
                rows[0]["owner_hidden_reason"].is_null(),
                "{at}: {}",
                rows[0]
            );
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}
