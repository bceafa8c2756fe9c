//! "Perhaps held by io_uring" only where no look ruled it out, and the audit's fix for such a
//! socket asks only for what whoport could not do. Staged for real with rings of
//! `tests/fixtures/hold.c` (compiled at test time); helpers killed by PID, and only their
//! own sockets and PIDs are asserted about.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{have, tempdir};
use serde_json::Value;

/// Compiles `hold.c` into `dir`.
fn build(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    common::compile_fixture(dir, "hold")
}

/// A helper holding its socket as `mode` says, killed by PID when dropped.
struct Helper {
    child: Child,
    port: u64,
    pid: u32,
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `hold MODE` and waits for its ready line; `None` (after a SKIPPED line) when the
/// kernel refuses the mode here.
fn start(bin: &std::path::Path, mode: &str) -> Option<Helper> {
    start_with(Command::new(bin), mode)
}

/// `program`, run as nobody (by setpriv, which becomes it: the same PID).
fn as_nobody(program: &std::path::Path) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(program);
    cmd
}

/// As [`start`], `cmd` running the fixture (as another user, say).
fn start_with(mut cmd: Command, mode: &str) -> Option<Helper> {
    let mut child =
        common::listener::spawn_retrying(cmd.arg(mode).stdin(Stdio::null()).stdout(Stdio::piped()));
    let line = common::ready_line(&mut child, Duration::from_secs(60));
    let Ok(ready) = serde_json::from_str::<Value>(&line) else {
        let _ = child.kill();
        let _ = child.wait();
        eprintln!("SKIPPED: the kernel refused '{mode}' here");
        return None;
    };
    Some(Helper {
        port: ready["port"].as_u64().expect("port"),
        pid: ready["pid"].as_u64().expect("pid") as u32,
        child,
    })
}

/// Can whoport look into the kernel's io_uring instances here (root, kernel BTF)?
fn can_look_into_rings() -> bool {
    common::is_root() && std::path::Path::new("/sys/kernel/btf/vmlinux").exists()
}

/// whoport with `args`, the owner lookup `lookup`, and `env`; parsed JSON.
fn json(lookup: &str, env: &[(&str, &str)], args: &[&str]) -> Value {
    let home = tempdir();
    let mut run = common::whoport(home.path());
    run.env("WHOPORT_OWNER_LOOKUP", lookup);
    for (k, v) in env {
        run.env(k, v);
    }
    let out = run.args(args).output().expect("whoport runs");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

/// The bound of the in-kernel walk of a task's rings, from the program's source.
fn max_steps() -> u32 {
    let source = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf/io_uring.bpf.c"),
    )
    .expect("bpf/io_uring.bpf.c");
    source
        .lines()
        .find_map(|l| l.strip_prefix("#define MAX_STEPS "))
        .and_then(|v| v.trim().parse().ok())
        .expect("MAX_STEPS in bpf/io_uring.bpf.c")
}

/// Does the audit's fix offer the rings of `pid` (among others': "an io_uring instance of
/// PID 5" or "of PIDs 5, 6, 7", while other tests' rings run too)?
fn offers(hint: &str, pid: u32) -> bool {
    let Some((_, rest)) = hint.split_once("io_uring instance of PID") else {
        return false;
    };
    let rest = rest.strip_prefix('s').unwrap_or(rest).trim_start();
    let list = rest.split_once(", which").map_or(rest, |(l, _)| l);
    list.split(", ").any(|p| p == pid.to_string())
}

/// The hint of the hidden-owner finding for 127.0.0.1:`port` (`protocol`).
fn audit_hint(doc: &Value, protocol: &str, port: u64) -> String {
    let found: Vec<&Value> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| {
            f["id"] == "hidden-owner"
                && f["listener"]["port"] == port
                && f["listener"]["protocol"] == protocol
                && f["listener"]["address"] == "127.0.0.1"
        })
        .collect();
    assert_eq!(found.len(), 1, "one hidden-owner finding: {doc}");
    found[0]["hint"].as_str().expect("a hint").to_string()
}

/// As root, where whoport looked into the rings in the kernel (a ring only a registered ring
/// table reaches, its socket the last of 10,000 files: not read to the end), the fix says
/// what was not read, how far the walk went, and which process to check, never to run as root or let it use BPF;
/// where it could not look (WHOPORT_NO_BPF, an accept in flight seen in the ring's fdinfo),
/// it says why and what would let it. Both owner lookups say the same.
#[test]
fn the_audit_fix_asks_only_for_what_whoport_could_not_do() {
    if !common::root_or_skip("the audit's fix for a socket a ring of another look may hold") {
        return;
    }
    let dir = tempdir();
    let Some(bin) = build(dir.path()) else { return };
    if can_look_into_rings() {
        if let Some(h) = start(&bin, "io-uring-ring-fd-many") {
            let mut hints = Vec::new();
            for lookup in ["bpf", "procfs"] {
                let doc = json(lookup, &[], &["audit", "--json"]);
                let hint = audit_hint(&doc, "tcp", h.port);
                let unread = format!(
                    "pid {} (hold) has an io_uring whose files and requests whoport could not \
                     read to the end",
                    h.pid
                );
                assert!(hint.contains(&unread), "{lookup}: {hint}");
                // How far: the walk's bound, as the in-kernel program has it.
                assert!(
                    hint.contains(&format!(
                        "{unread} (the in-kernel walk of a process's rings stops after {} steps",
                        max_steps()
                    )),
                    "{lookup}: {hint}"
                );
                // Every process offered is listed for ps, ours among them.
                let ps = hint
                    .split_once("(ps -fp ")
                    .and_then(|(_, r)| r.split_once(')'))
                    .map(|(l, _)| l)
                    .unwrap_or_else(|| panic!("{hint}"));
                assert!(ps.split(',').any(|p| p == h.pid.to_string()), "{hint}");
                for never in ["as root", "BPF", "could not look"] {
                    assert!(!hint.contains(never), "{lookup}: {hint}");
                }
                hints.push(hint);
            }
            // The text report carries the same fix.
            let home = tempdir();
            let out = common::whoport(home.path())
                .env("COLUMNS", "400")
                .arg("audit")
                .output()
                .expect("whoport runs");
            // (Words as written: a long fix may wrap at the terminal's width.)
            let text = String::from_utf8_lossy(&out.stdout);
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(text.contains("could not read to the end"), "{text}");
            assert!(!text.contains("io_uring (BPF)"), "{text}");
        }
    }
    let Some(h) = start(&bin, "io-uring-accept") else {
        return;
    };
    for lookup in ["bpf", "procfs"] {
        let doc = json(lookup, &[("WHOPORT_NO_BPF", "1")], &["audit", "--json"]);
        let hint = audit_hint(&doc, "tcp", h.port);
        assert!(
            offers(&hint, h.pid)
                && hint.contains("could not look into (WHOPORT_NO_BPF is set)")
                && hint.contains("unset WHOPORT_NO_BPF"),
            "{lookup}: {hint}"
        );
        assert!(!hint.contains("as root"), "{lookup}: {hint}");
    }
}

/// The reason of our row (127.0.0.1:`port`, `protocol`), which has no owner.
fn reason(doc: &Value, protocol: &str, port: u64) -> String {
    let rows: Vec<&Value> = doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .filter(|l| l["protocol"] == protocol && l["port"] == port && l["address"] == "127.0.0.1")
        .collect();
    assert_eq!(rows.len(), 1, "{protocol} 127.0.0.1:{port} once: {doc}");
    assert!(
        rows[0]["owners"].as_array().is_some_and(Vec::is_empty),
        "{}",
        rows[0]
    );
    rows[0]["owner_hidden_reason"]
        .as_str()
        .expect("a reason")
        .to_string()
}

/// Where whoport cannot look into rings (WHOPORT_NO_BPF, or not root), the fdinfo of a ring
/// lists its requests in flight by operation only. A read in flight (on an empty pipe) cannot
/// wait on a TCP listener (a read there fails at once), so its ring is not offered for one,
/// while it is for a UDP socket (a read waits there); an accept and a recv in flight may wait
/// on either (with a poll first), and are offered for both. Both owner lookups say the same.
#[test]
fn a_rings_requests_are_offered_only_for_sockets_they_can_wait_on() {
    let dir = tempdir();
    let Some(bin) = build(dir.path()) else { return };
    let (Some(accept), Some(recv), Some(read)) = (
        start(&bin, "io-uring-accept"),
        start(&bin, "io-uring-recv-udp"),
        start(&bin, "io-uring-read-pipe"),
    ) else {
        return;
    };
    let holder = |h: &Helper| format!("pid {} (hold) has an io_uring with 1 request", h.pid);
    for lookup in ["bpf", "procfs"] {
        let doc = json(lookup, &[("WHOPORT_NO_BPF", "1")], &["--json"]);
        let tcp = reason(&doc, "tcp", accept.port);
        assert!(
            tcp.starts_with("perhaps held by io_uring"),
            "{lookup}: {tcp}"
        );
        assert!(tcp.contains(&holder(&accept)), "{lookup}: {tcp}");
        assert!(tcp.contains(&holder(&recv)), "{lookup}: {tcp}");
        assert!(!tcp.contains(&holder(&read)), "{lookup}: {tcp}");
        let udp = reason(&doc, "udp", recv.port);
        for h in [&accept, &recv, &read] {
            assert!(udp.contains(&holder(h)), "{lookup}: {udp}");
        }
        assert!(
            udp.contains(&format!("{} in flight (read)", holder(&read))),
            "{lookup}: {udp}"
        );
    }
}

/// A socket the kernel made for itself (a vxlan device's UDP port, in a private network
/// namespace) has no file, and an io_uring holds only files: while a ring whoport could not
/// read to the end exists (a helper's, outside the namespace: descriptors cross namespaces,
/// so the namespace alone rules nothing out), the kernel's socket is said to be the kernel's,
/// with no io_uring possibility, by both owner lookups; and the audit's fix does not ask to
/// check that ring's process.
#[test]
fn the_kernels_own_socket_is_never_offered_to_a_ring() {
    if !can_look_into_rings() {
        eprintln!(
            "SKIPPED: needs root and kernel BTF (the kernel's sockets are read in the kernel)"
        );
        return;
    }
    let dir = tempdir();
    let Some(bin) = build(dir.path()) else { return };
    let Some(ns) = common::netns::NetNs::new() else {
        return;
    };
    let made = ns
        .command(std::path::Path::new("ip"))
        .args([
            "link", "add", "wpr0", "type", "vxlan", "id", "44", "dstport", "4789", "dev", "lo",
        ])
        .status()
        .expect("ip runs")
        .success();
    if !made {
        eprintln!("SKIPPED: this kernel makes no vxlan device");
        return;
    }
    ns.ip(&["link", "set", "wpr0", "up"]);
    let Some(ring) = start(&bin, "io-uring-ring-fd-many") else {
        return;
    };
    let unread = format!("pid {} (hold)", ring.pid);
    for lookup in ["bpf", "procfs"] {
        let home = tempdir();
        let env = [("WHOPORT_OWNER_LOOKUP", lookup)];
        let (_, out, err) = ns.whoport_with(home.path(), &env, &["--json"]);
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
        let rows: Vec<&Value> = doc["listeners"]
            .as_array()
            .expect("listeners")
            .iter()
            .filter(|l| l["protocol"] == "udp" && l["port"] == 4789)
            .collect();
        assert_eq!(rows.len(), 1, "{lookup}: {doc}");
        let why = rows[0]["owner_hidden_reason"].as_str().expect("a reason");
        assert!(
            why.starts_with("held by the kernel (no process has it open)"),
            "{lookup}: {why}"
        );
        assert!(
            !why.contains("io_uring") && !why.contains(&unread),
            "{lookup}: {why}"
        );
        let (_, out, err) = ns.whoport_with(home.path(), &env, &["audit", "--json"]);
        let audit: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
        let hints: Vec<&str> = audit["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter(|f| f["id"] == "hidden-owner" && f["listener"]["port"] == 4789)
            .filter_map(|f| f["hint"].as_str())
            .collect();
        assert_eq!(hints.len(), 1, "{lookup}: {audit}");
        assert!(
            !hints[0].contains("io_uring") && !hints[0].contains(&ring.pid.to_string()),
            "{lookup}: {}",
            hints[0]
        );
    }
}

/// Root without CAP_SYS_ADMIN, CAP_BPF and CAP_PERFMON (dropped from the bounding set, as a
/// container may): whoport could not look into the rings, and says it lacks those
/// capabilities, never to run as root (it is root); the audit's fix says which to give it.
#[test]
fn root_without_the_capabilities_is_not_told_to_run_as_root() {
    if !common::root_or_skip("root without the capabilities to look into rings")
        || !have("setpriv", "apt-get install -y util-linux")
    {
        return;
    }
    let dir = tempdir();
    let Some(bin) = build(dir.path()) else { return };
    let Some(h) = start(&bin, "io-uring-accept") else {
        return;
    };
    for lookup in ["bpf", "procfs"] {
        let mut docs = Vec::new();
        for args in [&["--json"][..], &["audit", "--json"][..]] {
            let home = tempdir();
            let out = common::command(home.path(), std::path::Path::new("setpriv"))
                .args(["--bounding-set=-sys_admin,-bpf,-perfmon"])
                .arg(common::bin())
                .env("WHOPORT_OWNER_LOOKUP", lookup)
                .args(args)
                .output()
                .expect("whoport runs");
            let doc: Value =
                serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{out:?}"));
            docs.push(doc);
        }
        let why = reason(&docs[0], "tcp", h.port);
        assert!(
            why.starts_with("perhaps held by io_uring, where whoport could not look (")
                && why.contains("CAP_PERFMON, which whoport lacks although it runs as root")
                && why.contains(&format!(
                    "pid {} (hold) has an io_uring with 1 request",
                    h.pid
                )),
            "{lookup}: {why}"
        );
        assert!(!why.contains("(run as root)"), "{lookup}: {why}");
        let hint = audit_hint(&docs[1], "tcp", h.port);
        assert!(
            offers(&hint, h.pid)
                && hint.contains("give it CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)"),
            "{lookup}: {hint}"
        );
        assert!(
            !hint.contains("run it as root") && !hint.contains("run whoport as root"),
            "{lookup}: {hint}"
        );
    }
}

/// `closed_holders aio`, compiled into `dir`: a TCP listener on 127.0.0.1 held only by a Linux
/// AIO poll (which no look of whoport names), unrelated to any ring; as nobody when `nobody`.
/// `None` (after a SKIPPED line) when the kernel refuses it here.
fn start_aio(dir: &std::path::Path, nobody: bool) -> Option<Helper> {
    let bin = common::compile_fixture(dir, "closed_holders")?;
    let mut cmd = if nobody {
        as_nobody(&bin)
    } else {
        Command::new(bin)
    };
    let mut child = common::listener::spawn_retrying(
        cmd.arg("aio").stdin(Stdio::null()).stdout(Stdio::piped()),
    );
    let line = common::ready_line(&mut child, Duration::from_secs(60));
    let pid = child.id();
    match line.split_whitespace().next().and_then(|p| p.parse().ok()) {
        Some(port) if port != 0 => Some(Helper { child, port, pid }),
        _ => {
            let _ = child.kill();
            let _ = child.wait();
            eprintln!("SKIPPED: the kernel refused a Linux AIO poll here ({line:?})");
            None
        }
    }
}

/// The PIDs the audit's fix lists for ps (`ps -fp 5,6`), none when it lists none.
fn ps_list(hint: &str) -> Vec<String> {
    hint.split_once("(ps -fp ")
        .and_then(|(_, r)| r.split_once(')'))
        .map(|(l, _)| l.split(',').map(str::to_string).collect())
        .unwrap_or_default()
}

/// Asserts that neither the reason nor the audit's fix for our TCP listener held by a Linux
/// AIO poll (`aio`) names `pid`, and that the reason for `protocol` 127.0.0.1:`port` does,
/// saying `clue`, and as root its fix too; with both owner lookups and `env`.
fn offered_only_where_it_applies(
    env: &[(&str, &str)],
    aio: &Helper,
    (protocol, port): (&str, u64),
    (pid, clue): (u32, &str),
) {
    for lookup in ["bpf", "procfs"] {
        let doc = json(lookup, env, &["--json"]);
        let at = format!("{lookup} {env:?}");
        let unrelated = reason(&doc, "tcp", aio.port);
        assert!(
            !unrelated.contains(&format!("pid {pid} (")),
            "{at}: the AIO listener: {unrelated}"
        );
        let held = reason(&doc, protocol, port);
        assert!(held.contains(clue), "{at}: {held}");
        let audit = json(lookup, env, &["audit", "--json"]);
        let hint = audit_hint(&audit, "tcp", aio.port);
        assert!(
            !offers(&hint, pid) && !ps_list(&hint).contains(&pid.to_string()),
            "{at}: the AIO listener's fix: {hint}"
        );
        // Not root, the fix says to run as root, whatever the reason.
        if common::is_root() {
            let hint = audit_hint(&audit, protocol, port);
            assert!(offers(&hint, pid), "{at}: {hint}");
        }
    }
}

/// Where whoport cannot look into rings (WHOPORT_NO_BPF, or not root), `/proc` shows a busy
/// io-wq worker (an `iou-wrk` thread) but not its request's files, only where it sleeps: one
/// waiting for a datagram (a splice from a UDP socket into a pipe, asleep in
/// `__skb_wait_for_more_packets`) holds a datagram socket, so it is offered for the UDP
/// socket, never for a TCP listener held by something else (a Linux AIO poll). Both owner
/// lookups, in the reason and in the audit's fix.
#[test]
fn a_worker_waiting_for_a_datagram_is_offered_only_for_udp_sockets() {
    let dir = tempdir();
    let Some(bin) = build(dir.path()) else { return };
    let (Some(aio), Some(worker)) = (
        start_aio(dir.path(), false),
        start(&bin, "io-uring-splice-udp"),
    ) else {
        return;
    };
    let clue = format!(
        "pid {} (hold) has an io_uring worker (iou-wrk) blocked in a request",
        worker.pid
    );
    offered_only_where_it_applies(
        &[("WHOPORT_NO_BPF", "1")],
        &aio,
        ("udp", worker.port),
        (worker.pid, &clue),
    );
}

/// What every reason says where rings no descriptor reaches were not looked into.
const UNREACHED: &str = "an io_uring instance that no descriptor reaches (a ring registered with \
                         IORING_REGISTER_RING_FDS)";

/// Our row for `protocol` 127.0.0.1:`port`.
fn row<'a>(doc: &'a Value, protocol: &str, port: u64) -> &'a Value {
    let rows: Vec<&Value> = doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .filter(|l| l["protocol"] == protocol && l["port"] == port && l["address"] == "127.0.0.1")
        .collect();
    assert_eq!(rows.len(), 1, "{protocol} 127.0.0.1:{port} once: {doc}");
    rows[0]
}

/// whoport as nobody (with CAP_BPF and CAP_PERFMON when `caps`), the owner lookup `lookup`,
/// with `args`: its JSON, or `None` when setpriv could not give it those capabilities.
fn json_as_nobody(caps: bool, lookup: &str, args: &[&str]) -> Option<Value> {
    let home = common::shared_tempdir();
    let mut run = common::command(home.path(), std::path::Path::new("setpriv"));
    run.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
    if caps {
        run.args(["--inh-caps=+bpf,+perfmon", "--ambient-caps=+bpf,+perfmon"]);
    }
    let out = run
        .arg(common::bin())
        .args(args)
        .env("WHOPORT_OWNER_LOOKUP", lookup)
        .output()
        .expect("whoport runs");
    match serde_json::from_slice(&out.stdout) {
        Ok(doc) => Some(doc),
        Err(_) if caps => {
            eprintln!(
                "SKIPPED: nobody with CAP_BPF and CAP_PERFMON could not run whoport: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            None
        }
        Err(e) => panic!("{e}: {out:?}"),
    }
}

/// A ring registered with IORING_REGISTER_RING_FDS, its descriptor closed (`hold.c
/// io-uring-ring-fd`), leaves nothing in `/proc`: where whoport could not look into such rings
/// in the kernel (nobody without CAP_BPF and CAP_PERFMON; root with WHOPORT_NO_BPF), every
/// ownerless socket's reason says one may hold it, the ring's socket's and an unrelated TCP
/// listener's held by a Linux AIO poll alike (and root's audit fix says so, where every
/// process's descriptors were read). Where the kernel
/// looked into them (nobody with CAP_BPF and CAP_PERFMON, or root), the ring's socket is named
/// held by io_uring and the AIO listener is not said to be perhaps held by such a ring. Both
/// owner lookups.
#[test]
fn rings_no_descriptor_reaches_are_offered_only_where_no_look_ruled_them_out() {
    if !common::root_or_skip("whoport as nobody, with and without CAP_BPF and CAP_PERFMON")
        || !have("setpriv", "apt-get install -y util-linux")
    {
        return;
    }
    let dir = tempdir();
    let Some(bin) = build(dir.path()) else { return };
    let (Some(aio), Some(ring)) = (
        start_aio(dir.path(), true),
        start_with(as_nobody(&bin), "io-uring-ring-fd"),
    ) else {
        return;
    };
    for lookup in ["bpf", "procfs"] {
        // Nothing let whoport look into the rings: what remains possible is said for both.
        let doc = json_as_nobody(false, lookup, &["--json"]).expect("whoport runs as nobody");
        for port in [aio.port, ring.port] {
            let why = reason(&doc, "tcp", port);
            assert!(why.contains(UNREACHED), "nobody, {lookup}: {why}");
        }
        // Root: where every process's descriptors were read (otherwise the reason names
        // those that were not, which may hold it however they do).
        let env = [("WHOPORT_NO_BPF", "1")];
        let doc = json(lookup, &env, &["--json"]);
        let audit = json(lookup, &env, &["audit", "--json"]);
        for port in [aio.port, ring.port] {
            let why = reason(&doc, "tcp", port);
            if !why.starts_with("no process holds a descriptor for it") {
                continue;
            }
            assert!(why.contains(UNREACHED), "root, no BPF, {lookup}: {why}");
            let hint = audit_hint(&audit, "tcp", port);
            assert!(
                hint.contains("an io_uring instance no descriptor reaches"),
                "root, no BPF, {lookup}: {hint}"
            );
        }
        // Looked into in the kernel: the ring's socket is found, and no other socket is said
        // to be perhaps held by a ring no descriptor reaches.
        let mut docs = Vec::new();
        if can_look_into_rings() {
            docs.push(("root".to_string(), json(lookup, &[], &["--json"])));
            if let Some(doc) = json_as_nobody(true, lookup, &["--json"]) {
                docs.push(("nobody with CAP_BPF".to_string(), doc));
            }
        }
        for (who, doc) in &docs {
            let held = row(doc, "tcp", ring.port);
            assert!(
                held["owners"]
                    .as_array()
                    .is_some_and(|o| o.iter().any(|o| o["pid"] == ring.pid)),
                "{who}, {lookup}: {held}"
            );
            let why = reason(doc, "tcp", aio.port);
            assert!(!why.contains(UNREACHED), "{who}, {lookup}: {why}");
        }
    }
}

/// A ring whose fdinfo is longer than whoport reads (`hold.c io-uring-cut`: 1,200 registered
/// copies of a file with a 4,000-byte path before the socket, about 4.6 MB) is not read to
/// the end from `/proc`. As root with kernel BTF its process's rings are walked in the kernel
/// instead: the socket is named held by io_uring by both owner lookups, and the ring, read to
/// the end there, is offered for no other ownerless socket (a TCP listener held by a Linux AIO
/// poll), in the reason or the audit's fix. Where whoport could not look (WHOPORT_NO_BPF) the
/// ring is named, with its fdinfo, as not read to the end, for both sockets.
#[test]
fn a_ring_whose_fdinfo_is_cut_is_walked_in_the_kernel_and_offered_nowhere_else() {
    ring_offered_only_where_it_holds(
        "io-uring-cut",
        |pid| {
            format!(
                "pid {pid} (hold) has an io_uring whose files and requests whoport could not \
                 read to the end (its fdinfo, /proc/{pid}/task/"
            )
        },
        true,
    );
}

/// A ring kept alive only by its memory mapping, its descriptor closed (`hold.c
/// io-uring-mapped`, its registered files holding the socket), has no fdinfo: as root with
/// kernel BTF it is walked in the kernel from its mapping, to the end, so its files are known:
/// its socket is named held by io_uring by both owner lookups, and the ring is offered for no
/// other ownerless socket (a TCP listener held by a Linux AIO poll), in the reason or the
/// audit's fix. Where whoport could not look (WHOPORT_NO_BPF), nothing tells its files: the
/// mapping is offered for both sockets.
#[test]
fn a_mapped_ring_read_in_the_kernel_is_offered_for_no_other_socket() {
    ring_offered_only_where_it_holds(
        "io-uring-mapped",
        |pid| format!("pid {pid} (hold) maps an io_uring whose descriptor is closed"),
        false,
    );
}

/// The `hold.c` `mode` listener, held through an io_uring ring, beside a listener held by a
/// Linux AIO poll. Where whoport could not look (WHOPORT_NO_BPF), `clue` (of the ring's PID)
/// is offered for both. As root with kernel BTF, both owner lookups name the ring's process
/// (with `held_through` "held by io_uring" when `through`), and the ring is offered for the
/// other socket neither in its reason nor in the audit's fix.
fn ring_offered_only_where_it_holds(mode: &str, clue: impl Fn(u32) -> String, through: bool) {
    let dir = tempdir();
    let Some(bin) = build(dir.path()) else { return };
    let (Some(aio), Some(ring)) = (start_aio(dir.path(), false), start(&bin, mode)) else {
        return;
    };
    let clue = clue(ring.pid);
    for lookup in ["bpf", "procfs"] {
        let doc = json(lookup, &[("WHOPORT_NO_BPF", "1")], &["--json"]);
        for port in [aio.port, ring.port] {
            let why = reason(&doc, "tcp", port);
            assert!(why.contains(&clue), "no BPF, {lookup}: {why}");
        }
    }
    if !can_look_into_rings() {
        eprintln!("SKIPPED: the in-kernel walk of the {mode} ring needs root and kernel BTF");
        return;
    }
    for lookup in ["bpf", "procfs"] {
        let doc = json(lookup, &[], &["--json"]);
        let held = row(&doc, "tcp", ring.port);
        assert!(
            held["owners"]
                .as_array()
                .is_some_and(|o| o.iter().any(|o| o["pid"] == ring.pid)),
            "{lookup}: {held}"
        );
        if through {
            assert_eq!(held["held_through"], "held by io_uring", "{lookup}: {held}");
        }
        let why = reason(&doc, "tcp", aio.port);
        assert!(
            !why.contains(&format!("pid {} (", ring.pid)),
            "{lookup}: {why}"
        );
        let audit = json(lookup, &[], &["audit", "--json"]);
        let hint = audit_hint(&audit, "tcp", aio.port);
        assert!(
            !offers(&hint, ring.pid) && !ps_list(&hint).contains(&ring.pid.to_string()),
            "{lookup}: {hint}"
        );
    }
}
