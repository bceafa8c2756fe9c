//! Bounded time, staged for real: a listener whose executable, working directory and an open
//! descriptor live on a FUSE filesystem whose daemon is stopped; a multi-megabyte command line;
//! a huge unknown service name.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{have, tempdir, whoport};
use rustix::process::{kill_process, Pid, Signal};
use serde_json::Value;

/// Well under the helpers' own limit: every command here must end long before it.
const QUICK: Duration = Duration::from_secs(30);

/// The FUSE daemon and the listener it serves, in a private mount namespace; the daemon is
/// continued and everything is killed by PID when dropped.
struct StalledFuse {
    fixture: Child,
    daemon: u32,
    listener: u32,
    port: u16,
    mnt: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl StalledFuse {
    fn start(specs: &[&str]) -> Option<StalledFuse> {
        StalledFuse::start_with(&[], specs)
    }

    /// With the fixture's own `flags` (`--exe-outside`) before its directories.
    fn start_with(flags: &[&str], specs: &[&str]) -> Option<StalledFuse> {
        if !common::root_or_skip("a FUSE mount in a private mount namespace") {
            return None;
        }
        if !have("unshare", "apt-get install -y util-linux")
            || !common::have_python_module("fusepy", "apt-get install -y python3-fusepy")
        {
            return None;
        }
        let dir = tempdir();
        let (backing, mnt) = (dir.path().join("backing"), dir.path().join("mnt"));
        std::fs::create_dir(&backing).expect("mkdir");
        std::fs::create_dir(&mnt).expect("mkdir");
        let mut fixture = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "/usr/bin/python3"])
            .arg(common::fixture("stalled_fuse.py"))
            .args(flags)
            .arg(&backing)
            .arg(&mnt)
            .arg(common::fixture("listen.py"))
            .args(specs)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare starts");
        let ready = ready_json(&mut fixture);
        let pid = |v: &Value| v.as_u64().expect("pid") as u32;
        Some(StalledFuse {
            daemon: pid(&ready["daemon"]),
            listener: pid(&ready["listener"]["pid"]),
            port: ready["listener"]["sockets"][0][2].as_u64().expect("port") as u16,
            fixture,
            mnt,
            _dir: dir,
        })
    }

    fn signal(&self, signal: Signal) {
        let pid = Pid::from_raw(self.daemon as i32).expect("pid");
        kill_process(pid, signal).expect("signal the FUSE daemon");
    }
}

impl Drop for StalledFuse {
    fn drop(&mut self) {
        self.signal(Signal::CONT);
        drop(self.fixture.stdin.take()); // the fixture kills the listener and the daemon
        let waited = common::wait_for(&mut self.fixture, QUICK);
        if !waited {
            let _ = self.fixture.kill();
            let _ = self.fixture.wait();
        }
    }
}

/// A fixture's ready line, one JSON object, read under [`QUICK`].
fn ready_json(fixture: &mut Child) -> Value {
    let line = common::ready_line(fixture, QUICK);
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("fixture said {line:?}: {e}"))
}

fn row(doc: &Value, port: u16) -> &Value {
    doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        // The fixture's loopback listener: other listeners may share the port number on
        // another address.
        .find(|l| l["port"] == port && l["protocol"] == "tcp" && l["address"] == "127.0.0.1")
        .unwrap_or_else(|| panic!("port {port} listed: {doc}"))
}

#[test]
fn a_stalled_fuse_filesystem_never_stalls_a_command() {
    let Some(fuse) = StalledFuse::start(&["--comm-hex", "7770682d66757365", "tcp4"]) else {
        return;
    };
    let home = tempdir();
    // Before the stall: the owner and its executable on the FUSE mount.
    let out = whoport(home.path()).arg("--json").output().expect("runs");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    let owner = &row(&doc, fuse.port)["owners"][0];
    assert_eq!(owner["pid"], fuse.listener, "{owner}");
    assert!(
        owner["exe"]
            .as_str()
            .is_some_and(|e| e.ends_with("/mnt/wph-fuse-py")),
        "{owner}"
    );
    common::stop(fuse.daemon);
    let port = fuse.port.to_string();
    let pid = fuse.listener.to_string();
    let runs: [&[&str]; 7] = [
        &[],
        &["--wide"],
        &["--json"],
        &[&port],
        &[&port, "--json"],
        &["audit", "--pid", &pid],
        &["audit", "--json", "--pid", &pid],
    ];
    for args in runs {
        let out = whoport(home.path())
            .args(args)
            .limit(QUICK)
            .output()
            .expect("runs");
        let (text, err) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{args:?}: {:?} {err}",
            out.status
        );
        assert!(text.contains(&port), "{args:?} names the port: {text}");
        if args.contains(&"--json") && args[0] != "audit" {
            let doc: Value = serde_json::from_str(&text).expect("json");
            let found = if args.len() == 1 {
                row(&doc, fuse.port).clone()
            } else {
                doc.clone()
            };
            let text = found.to_string();
            assert!(
                text.contains("wph-fuse"),
                "{args:?}: the owner is named: {text}"
            );
            assert!(text.contains(&pid), "{args:?}: the owner's PID: {text}");
        }
    }
    // Nothing whoport could not know was dressed up: the executable is not called deleted.
    let out = whoport(home.path())
        .arg("--json")
        .limit(QUICK)
        .output()
        .expect("runs");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    let owner = &row(&doc, fuse.port)["owners"][0];
    assert_eq!(owner["exe_deleted"], false, "{owner}");
    assert!(
        owner["exe"]
            .as_str()
            .is_some_and(|e| e.ends_with("/mnt/wph-fuse-py")),
        "{owner}"
    );
}

/// The files whoport reads and writes on its own account (`--config`, `--baseline`,
/// `--registry`, `--save-baseline`, `--output`, and the config and installed registry found
/// through `XDG_*`/`HOME`) on a filesystem that stopped answering: each costs `--timeout`,
/// then an error (or, for a file found on its own, a warning) says so. Before, every one of
/// these runs hung until killed.
#[test]
fn files_whoport_reads_or_writes_on_a_stalled_filesystem_cost_only_the_timeout() {
    let Some(fuse) = StalledFuse::start_with(&["--exe-outside"], &["tcp4"]) else {
        return;
    };
    if !have("nsenter", "apt-get install -y util-linux") {
        return;
    }
    common::stop(fuse.daemon);
    let on_mount = |name: &str| fuse.mnt.join(name).display().to_string();
    let daemon = fuse.daemon.to_string();
    // whoport in the fixture's mount namespace, where the mount is, with its data and config
    // directories (`XDG_DATA_HOME`, `XDG_CONFIG_HOME`) in `home`.
    let elsewhere = tempdir();
    let run = |home: &std::path::Path, args: &[&str]| {
        let started = std::time::Instant::now();
        let out = common::command(home, std::path::Path::new("nsenter"))
            .args(["-m", "-t", &daemon, "--"])
            .arg(common::bin())
            .args(["--timeout", "2s"])
            .args(args)
            .limit(QUICK)
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), err, started.elapsed())
    };
    let port = fuse.port.to_string();
    let named: [(&[&str], &str); 5] = [
        (
            &["audit", "--config", &on_mount("audit.toml")],
            "cannot read config",
        ),
        (
            &["audit", "--baseline", &on_mount("base.json")],
            "cannot read baseline",
        ),
        (&["--registry", &on_mount("x.csv"), &port], "cannot read"),
        (
            &["audit", "--save-baseline", &on_mount("new.json")],
            "cannot write",
        ),
        (
            &[
                "audit",
                "--save-baseline",
                &on_mount("b.json"),
                "--output",
                &on_mount("r.txt"),
            ],
            "cannot check the file",
        ),
    ];
    let said = "did not answer within 2s (--timeout): the filesystem it is on may have stopped";
    for (args, what) in named {
        let (code, err, took) = run(elsewhere.path(), args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(what) && err.contains(said), "{args:?}: {err}");
        assert!(took < Duration::from_secs(20), "{args:?} took {took:?}");
    }
    // The data and config directories on the mount: the installed registry is a warning and
    // the card comes as usual; the audit's default config is an error, as any other that
    // cannot be read.
    let (code, err, _) = run(&fuse.mnt, &[&port]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("cannot read the installed registry") && err.contains(said),
        "{err}"
    );
    let (code, err, _) = run(&fuse.mnt, &["audit"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("cannot read config") && err.contains(said),
        "{err}"
    );
}

/// `--user NAME` looked up in a user database that stopped answering (`/etc/passwd` a file of
/// a filesystem whose daemon is stopped, as an NSS server gone away): the lookup costs
/// `--timeout`, then an error says so (exit 2); a uid needs no lookup. Before, whoport hung.
#[test]
fn a_user_name_looked_up_in_a_database_that_stopped_answering_costs_only_the_timeout() {
    let Some(fuse) = StalledFuse::start_with(&["--exe-outside"], &["tcp4"]) else {
        return;
    };
    if !have("nsenter", "apt-get install -y util-linux") {
        return;
    }
    let daemon = fuse.daemon.to_string();
    let backing = fuse
        .mnt
        .parent()
        .expect("dir")
        .join("backing")
        .join("passwd");
    std::fs::copy("/etc/passwd", &backing).expect("copy passwd");
    let bound = Command::new("nsenter")
        .args(["-m", "-t", &daemon, "mount", "--bind"])
        .arg(fuse.mnt.join("passwd"))
        .arg("/etc/passwd")
        .status()
        .expect("nsenter runs");
    assert!(
        bound.success(),
        "passwd bound in the fixture's mount namespace"
    );
    common::stop(fuse.daemon);
    let home = tempdir();
    let port = fuse.port.to_string();
    let run = |user: &str| {
        let started = std::time::Instant::now();
        let out = common::command(home.path(), std::path::Path::new("nsenter"))
            .args(["-m", "-t", &daemon, "--"])
            .arg(common::bin())
            .args(["--timeout", "2s", "--user", user, &port])
            .limit(QUICK)
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.code(), err, started.elapsed())
    };
    let (code, err, took) = run("root");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(
            "cannot look up --user 'root': the system user database did not answer within 2s"
        ),
        "{err}"
    );
    assert!(took < Duration::from_secs(20), "took {took:?}");
    // A uid is not looked up: the card as usual (the owner is root's).
    let (code, err, _) = run("0");
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn a_huge_unknown_service_name_is_refused_at_once_and_quoted_short() {
    let name = "a".repeat(120_000);
    let out = whoport(tempdir().path())
        .arg(&name)
        .limit(QUICK)
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        common::unknown_name(out.status.code().unwrap_or(-1), &text),
        "{text}{err}"
    );
    let quoted = format!("'{}...' (120000 characters)", "a".repeat(64));
    assert!(err.contains(&quoted), "{err}");
    assert!(
        err.len() < 400,
        "at most 64 characters quoted: {} bytes",
        err.len()
    );
    // A name just over the limit of suggestions, close to nothing: no suggestion work either.
    let (status, out, err) = common::run(&[&format!("ssh{}", "x".repeat(70))]);
    assert!(common::unknown_name(status, &out), "{out}{err}");
    assert!(!err.contains("did you mean"), "{err}");
    // Short names still get their suggestions.
    let (_, _, err) = common::run(&["postgresq"]);
    assert!(
        err.contains("did you mean") && err.contains("'postgresql'"),
        "{err}"
    );
}

#[test]
fn a_multi_megabyte_command_line_is_cut_in_the_table_and_bounded_in_json() {
    let Some(_) = common::listener::python() else {
        return;
    };
    // 2 MB of command line (one argument may hold at most 128 KiB).
    let word = "w".repeat(100_000);
    let mut args = vec!["tcp4", "--"];
    args.extend(std::iter::repeat_n(word.as_str(), 20));
    let l = common::listener::Listener::start(&args);
    let port = l.port(0).to_string();
    for columns in [None, Some("80")] {
        let mut run = whoport(tempdir().path());
        run.args(["--wide", "--pid", &l.pid.to_string()])
            .limit(QUICK);
        if let Some(c) = columns {
            run.env("COLUMNS", c);
        }
        let out = run.output().expect("runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{text}");
        let row = text
            .lines()
            .find(|line| line.contains(&port))
            .unwrap_or_else(|| panic!("no row for {port}"));
        assert!(row.contains('…'), "the command line is cut: {row:.200}");
        let longest = text.lines().map(str::len).max().unwrap_or(0);
        assert!(
            longest < 20_000,
            "COLUMNS={columns:?}: a line of {longest} bytes"
        );
    }
    let doc = common::json(&["--json", "--pid", &l.pid.to_string()]);
    json_keeps_the_start_and_says_it_was_cut(&doc, l.pid, &word);
}

/// --json keeps the first 64 KiB of a command line longer than that, and says it was cut.
fn json_keeps_the_start_and_says_it_was_cut(doc: &serde_json::Value, pid: u32, word: &str) {
    let process = doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .flat_map(|l| l["owners"].as_array().cloned().unwrap_or_default())
        .find(|o| o["pid"].as_u64() == Some(u64::from(pid)))
        .unwrap_or_else(|| panic!("no owner {pid}: {doc:.2000}"));
    assert_eq!(process["cmdline_truncated"], true, "{:.300}", process);
    let args: Vec<&str> = process["cmdline"]
        .as_array()
        .expect("cmdline")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    // The arguments and the NULs between them (the cut last one has none after it).
    let kept: usize = args.iter().map(|a| a.len()).sum::<usize>() + args.len() - 1;
    assert!(kept <= 65_536, "{kept} bytes of command line kept");
    let last = args.last().expect("an argument");
    assert!(
        last.len() < word.len() && word.starts_with(last) && !last.is_empty(),
        "the command line's start is kept, its last argument cut: {:.100}",
        last
    );
}

/// A command line of valid UTF-8 cut at 64 KiB inside a character: whoport's own cut made the
/// partial character, so it is dropped and the command line is not called invalid (no
/// `cmdline_escaped`, no replacement character). A 3-byte character after 0, 1 and 2 bytes
/// of padding puts the cut at each place in it.
#[test]
fn a_command_line_cut_inside_a_character_is_still_utf8() {
    let Some(_) = common::listener::python() else {
        return;
    };
    let word = "€".repeat(30_000);
    for pad in ["", "a", "aa"] {
        let padded = format!("{pad}{word}");
        let l = common::listener::Listener::start(&["tcp4", "--", &padded]);
        let doc = common::json(&["--json", "--pid", &l.pid.to_string()]);
        let process = doc["listeners"]
            .as_array()
            .expect("listeners")
            .iter()
            .flat_map(|l| l["owners"].as_array().cloned().unwrap_or_default())
            .find(|o| o["pid"].as_u64() == Some(u64::from(l.pid)))
            .unwrap_or_else(|| panic!("no owner {}: {doc:.2000}", l.pid));
        assert_eq!(process["cmdline_truncated"], true, "{process:.300}");
        let last_of = |key: &str| {
            process[key]
                .as_array()
                .and_then(|a| a.last())
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        assert!(
            process.get("cmdline_escaped").is_none_or(Value::is_null),
            "pad {pad:?}: escaped, ending …{}",
            tail(&last_of("cmdline_escaped").unwrap_or_default())
        );
        let last = last_of("cmdline").expect("an argument");
        assert!(
            !last.is_empty() && padded.starts_with(&last) && last.len() < padded.len(),
            "pad {pad:?}: the last argument is a start of the one given, whole characters only: \
             …{}",
            tail(&last)
        );
    }
}

/// The last few characters of `text`.
fn tail(text: &str) -> String {
    let at = text.char_indices().rev().nth(5).map_or(0, |(i, _)| i);
    text[at..].to_string()
}

#[test]
fn the_port_card_in_a_pipe_cuts_a_long_command_line_too() {
    let Some(_) = common::listener::python() else {
        return;
    };
    // 1.5 MB of command line: the card's exe and command lines are cut like the listing's
    // cells in a pipe and with --wide; --json keeps its first 64 KiB and says it was cut.
    let word = "c".repeat(100_000);
    let mut args = vec!["tcp4", "--"];
    args.extend(std::iter::repeat_n(word.as_str(), 15));
    let l = common::listener::Listener::start(&args);
    let port = l.port(0).to_string();
    for extra in [None, Some("--wide")] {
        let mut run = whoport(tempdir().path());
        run.arg(&port).limit(QUICK);
        if let Some(e) = extra {
            run.arg(e);
        }
        let out = run.output().expect("runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{text:.2000}");
        let command = text
            .lines()
            .find(|line| line.trim_start().starts_with("command "))
            .unwrap_or_else(|| panic!("no command line on the card: {text:.2000}"));
        assert!(command.contains('…'), "{extra:?}: cut: {command:.200}");
        let longest = text.lines().map(str::len).max().unwrap_or(0);
        assert!(
            longest < 4 * 1100,
            "{extra:?}: a card line of {longest} bytes"
        );
    }
    let doc = common::json(&[&port, "--json"]);
    json_keeps_the_start_and_says_it_was_cut(&doc, l.pid, &word);
}

/// A deleted executable on a tmpfs, with a FUSE filesystem whose daemon is stopped mounted at
/// its path (a directory made where the file was): the kernel gives the path with " (deleted)"
/// at its end, a mount at the path without the mark was not on the way whoport checked, and
/// looking at what stands there waited on the daemon until the deadline, losing the process's
/// details (its executable, its user, `high deleted-executable`). Both paths are checked: it
/// is not looked at, and says why.
#[test]
fn a_stalled_mount_at_a_deleted_executables_path_is_never_walked_into() {
    let Some(fuse) = StalledFuse::start_with(&["--exe-covered"], &["tcp4"]) else {
        return;
    };
    common::stop(fuse.daemon);
    let home = tempdir();
    let port = fuse.port.to_string();
    for lookup in ["WHOPORT_OWNER_LOOKUP=bpf", "WHOPORT_NO_BPF=1"] {
        let (key, value) = lookup.split_once('=').expect("a variable");
        let out = whoport(home.path())
            .env(key, value)
            .args([&port, "--json"])
            .limit(QUICK)
            .output()
            .expect("runs");
        let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
        let notes = common::notes(&doc);
        assert!(
            !notes.iter().any(|n| n.contains("not read within")),
            "{lookup}: {notes:?}"
        );
        let owner = &row(&doc, fuse.port)["owners"][0];
        assert_eq!(owner["pid"], fuse.listener, "{lookup}: {owner}");
        assert!(
            owner["exe"]
                .as_str()
                .is_some_and(|e| e.ends_with("/mnt/wph-covered-py")),
            "{lookup}: {owner}"
        );
        assert_eq!(owner["exe_deleted"], true, "{lookup}: {owner}");
        assert_eq!(
            owner["exe_path_unknown"],
            "was not looked at (the way to it crosses a filesystem that may not answer)",
            "{lookup}: {owner}"
        );
    }
}

/// Binds argv[1] UDP sockets on 127.x.y.z addresses (any user may: no privilege, no port
/// range limits them), in processes of at most 19,000 descriptors each (the machine's limit
/// may be 20,000 even for root), prints "ready" and waits for stdin to close; the other
/// processes end with it.
const MANY_UDP: &str = r#"
import os, resource, socket, sys
n, per = int(sys.argv[1]), 19000
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
per = min(per, hard - 64)
lifeline_r, lifeline_w = os.pipe()
ready_r, ready_w = os.pipe()
def bind(first, count):
    keep = []
    for i in range(first, first + count):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        j = 256 + i
        s.bind(("127.%d.%d.%d" % ((j >> 16) & 255, (j >> 8) & 255, (j & 255) or 1), 0))
        keep.append(s)
    return keep
starts = list(range(0, n, per))
for first in starts[1:]:
    if os.fork() == 0:
        os.close(lifeline_w)
        keep = bind(first, min(per, n - first))
        os.write(ready_w, b"x")
        os.read(lifeline_r, 1)
        os._exit(0)
keep = bind(0, min(per, n))
for _ in starts[1:]:
    os.read(ready_r, 1)
print("ready", flush=True)
sys.stdin.read()
"#;

/// 90,000 bound UDP sockets in a network namespace: the kernel reads `/proc/net/udp` from its
/// first hash bucket again at every read, so reading it takes time that grows with the square
/// of its sockets (here, 57,000 took 11 s to `cat`, 90,000 about 30 s), where the netlink dump
/// takes half a second. whoport read it on every run that shows UDP (to mark connected sockets,
/// which the dump says itself), outside any deadline, up to twice: `whoport 53 --timeout 2s`
/// took 42 s at 57,000. It reads it now only where the netlink dump listed no UDP socket.
#[test]
fn many_udp_sockets_cost_a_run_no_read_of_proc_net_udp() {
    if !common::root_or_skip("a network namespace and 90,000 descriptors") {
        return;
    }
    let Some(python) = common::listener::python() else {
        return;
    };
    let Some(ns) = common::netns::NetNs::set_up(&[]) else {
        return;
    };
    // Its other processes end with it (they wait on a pipe only it holds open).
    let mut holder = common::Reaped(
        ns.command(&python)
            .args(["-c", MANY_UDP, "90000"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python starts"),
    );
    let line = common::ready_line(&mut holder.0, Duration::from_secs(120));
    assert_eq!(line.trim(), "ready", "{line}");
    let home = tempdir();
    for args in [
        &["53", "--timeout", "2s"][..],
        &["53/udp", "--timeout", "2s", "--json"],
    ] {
        let started = std::time::Instant::now();
        let (status, out, err) = ns.whoport_with(home.path(), &[], args);
        let took = started.elapsed();
        assert_eq!(status, 1, "{args:?}: {out} {err}");
        // The run's own work and the machine's load; a read of /proc/net/udp alone is ~30 s.
        assert!(took < QUICK / 2, "{args:?}: {took:?}");
    }
}

/// A FUSE filesystem whose daemon never answers (not even its first request) mounted over a
/// listener's `/proc/PID` in the mount namespace whoport runs in: every run waited its whole
/// `--timeout` on that process's details and then said they did not come, never why. The
/// directory is not opened across the mount: the owner is named "[/proc/PID covered by a
/// mount]" at once, with both lookups, in the card, the listing and the audit.
#[test]
fn a_dead_filesystem_mounted_over_a_processs_proc_directory_is_named_at_once() {
    if !common::root_or_skip("a FUSE mount in a private mount namespace") {
        return;
    }
    if !std::path::Path::new("/dev/fuse").exists() {
        // The kernel's FUSE device, which the other FUSE tests need as well.
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "/dev/fuse is missing"
        );
        eprintln!("SKIPPED: /dev/fuse is missing (modprobe fuse)");
        return;
    }
    let Some(py) = common::listener::python() else {
        return;
    };
    let l = common::listener::Listener::start(&["tcp4"]);
    let (pid, port) = (l.pid, l.port(0));
    // Mounted by a process that opens /dev/fuse and never reads it.
    let dead = "import ctypes, os, sys, time\n\
                fd = os.open('/dev/fuse', os.O_RDWR)\n\
                opts = b'fd=%d,rootmode=40000,user_id=0,group_id=0' % fd\n\
                ok = ctypes.CDLL(None).mount(b'dead', sys.argv[1].encode(), b'fuse', 0, opts) == 0\n\
                print('mounted' if ok else 'failed', flush=True)\n\
                time.sleep(100)\n";
    let dir = tempdir();
    std::fs::write(dir.path().join("dead.py"), dead).expect("dead.py");
    let d = dir.path().display();
    let (status, out, err) = common::sh_within(
        &format!(
            "exec unshare -m --propagation private sh -c '
{py} {d}/dead.py /proc/{pid} >{d}/mounted & f=$!
i=0; until [ -s {d}/mounted ]; do i=$((i+1)); [ $i -lt 100 ] || exit 9; sleep 0.1; done
for l in bpf procfs; do
  for args in \"--json {port}\" \"--json\" \"audit --json\"; do
    WHOPORT_OWNER_LOOKUP=$l \"$WHOPORT\" $args --timeout 20s; echo \"=== $?\"
  done
done
kill $f; umount -l /proc/{pid}'",
            py = py.display()
        ),
        std::time::Duration::from_secs(30),
    );
    assert!(
        std::fs::read_to_string(dir.path().join("mounted")).is_ok_and(|m| m.contains("mounted")),
        "{status} {err}"
    );
    let docs: Vec<&str> = out.split("=== ").collect();
    assert_eq!(docs.len(), 7, "{status}: {out} {err}");
    let name = format!("[/proc/{pid} covered by a mount]");
    for (i, doc) in docs[..6].iter().enumerate() {
        // (Each after the first follows the status of the one before.)
        let json = match doc.split_once('\n') {
            Some((_, rest)) if i > 0 => rest,
            _ => doc,
        };
        assert!(json.contains(&name), "{json} {err}");
        assert!(!json.contains("not read within"), "{json}");
    }
}

/// `whoport --timeout 2s 1` (nothing on port 1, so no owner to judge), three runs at once,
/// each under `timeout`, in a private mount namespace where the FUSE fixture
/// `raw_stalled_fuse.py` (in `mode`) is mounted at `at` and `arrange` has done the rest (shell
/// lines; `$top` is a temporary directory, and `undo` removes what they made there, never
/// recursively: `arrange` may bind the real `/usr` below it). Returns whether every run ended
/// while the daemon still lived; the daemon is then killed by PID, which ends any wait on its
/// filesystem, so the script ends in any case.
fn ends_beside_a_stalled_fuse(mode: &str, at: &str, arrange: &str, undo: &str) -> bool {
    let script = format!(
        "exec unshare --mount --propagation private sh -c '\n\
         export PATH=/usr/sbin:/usr/bin:/sbin:/bin\n\
         top=$(mktemp -d)\n\
         mkdir $top/fuse\n\
         /usr/bin/python3 {fixture} {at} {mode} > /dev/null 2>&1 &\n\
         fuse=$!\n\
         for i in $(seq 50); do grep -q \" {at} .*whofuse\" /proc/self/mountinfo && break; sleep 0.1; done\n\
         if grep -q \" {at} .*whofuse\" /proc/self/mountinfo && {{ {arrange}\n\
         }}; then\n\
         for run in 1 2 3; do ( timeout 20 \"$WHOPORT\" --timeout 2s 1 > /dev/null 2>&1; touch $top/ended.$run ) & done\n\
         ended=no\n\
         for i in $(seq 100); do [ -e $top/ended.1 ] && [ -e $top/ended.2 ] && [ -e $top/ended.3 ] && {{ ended=yes; break; }}; sleep 0.1; done\n\
         echo ended=$ended\n\
         else echo not-mounted; fi\n\
         kill $fuse\n\
         wait\n\
         rm -f $top/ended.1 $top/ended.2 $top/ended.3\n\
         {undo}\n\
         rmdir $top/fuse $top'",
        fixture = common::fixture("raw_stalled_fuse.py").display(),
    );
    let (_, out, err) = common::sh_within(&script, QUICK);
    assert!(
        !out.contains("not-mounted"),
        "the FUSE filesystem (or what was arranged on it) was not mounted: {err}"
    );
    out.contains("ended=yes")
}

fn stalled_fuse_or_skip() -> bool {
    common::root_or_skip("a FUSE mount in a private mount namespace")
        && have("unshare", "apt-get install -y util-linux")
        && have("python3", "apt-get install -y python3")
}

/// A FUSE filesystem whose daemon answers nothing after its first request, mounted at
/// /usr/local/bin (one of the directories the system's interpreters are looked for in):
/// whoport ends. Before, what is read once a run beside the lookup stat'ed /usr/local/bin
/// before asking the mount table whether it may, and waited in the kernel (through SIGKILL)
/// for as long as the daemon lived: whoport printed its answer and never ended.
#[test]
fn a_stalled_filesystem_where_interpreters_are_looked_for_never_keeps_whoport_running() {
    if stalled_fuse_or_skip() {
        assert!(ends_beside_a_stalled_fuse(
            "stall",
            "/usr/local/bin",
            "true",
            "true"
        ));
    }
}

/// As above, but the stalled FUSE filesystem is reached through a symbolic link: `/usr/local`
/// a link into it (a tmpfs over `/usr` keeps the rest of `/usr` as links to the real one). The
/// mount table, read by path, sees only `/` and the tmpfs on the way to `/usr/local/bin`:
/// before, the directory was stat'ed through the link and the once-a-run thread waited in the
/// kernel for as long as the daemon lived (whoport printed its answer, without the owners'
/// details, and never ended).
#[test]
fn a_stalled_filesystem_behind_a_symbolic_link_to_the_interpreters_never_keeps_whoport_running() {
    if stalled_fuse_or_skip() {
        assert!(ends_beside_a_stalled_fuse(
            "stall",
            "$top/fuse",
            "mkdir $top/usr $top/new && mount --bind /usr $top/usr && \
             mount -t tmpfs whoport-test $top/new && \
             for e in /usr/*; do n=${e##*/}; [ $n = local ] || ln -s $top/usr/$n $top/new/$n; done && \
             ln -s $top/fuse $top/new/local && mount --move $top/new /usr",
            "umount -l $top/fuse; umount -l /usr; umount $top/usr; rmdir $top/usr $top/new"
        ));
    }
}

/// An overlay at /usr/local/bin whose lower layer is a FUSE filesystem that answers nothing
/// after its mount (as a lazily pulled container image's layer whose daemon stopped): whoport
/// ends. Before, an overlay was taken to answer from memory whatever its layers: the
/// once-a-run thread listed the directory, waited in the kernel for as long as the daemon
/// lived, and whoport printed its answer and never ended.
#[test]
fn an_overlay_over_a_stalled_filesystem_where_interpreters_are_looked_for_never_keeps_whoport_running(
) {
    if stalled_fuse_or_skip() {
        assert!(ends_beside_a_stalled_fuse(
            "lower",
            "$top/fuse",
            "mkdir $top/empty && timeout 5 mount -t overlay whoport-test \
             -o lowerdir=$top/fuse:$top/empty /usr/local/bin",
            "umount -l /usr/local/bin; umount -l $top/fuse; rmdir $top/empty"
        ));
    }
}

/// Opens the directory `argv[2]` (the root of a mount) with O_PATH (no request to its
/// filesystem), makes it the working directory (`cwd`) or keeps the descriptor (`fd`, whose
/// number replaces `FD` in the arguments), unmounts it lazily, then runs the rest.
const DETACHED: &str = "import os, subprocess, sys\n\
how, at, rest = sys.argv[1], sys.argv[2], sys.argv[3:]\n\
fd = os.open(at, os.O_PATH | os.O_DIRECTORY)\n\
os.set_inheritable(fd, True)\n\
if how == 'cwd':\n    os.fchdir(fd)\n\
if how == 'stdin':\n    os.dup2(fd, 0)\n\
subprocess.run(['umount', '-l', at], check=True)\n\
rest = [a.replace('FD', str(fd)) for a in rest]\n\
os.execvp(rest[0], rest)\n";

/// The files whoport reads and writes on its own account, and the user database, on a FUSE
/// filesystem whose daemon reads every request and never answers (`raw_stalled_fuse.py`: a
/// request read by the daemon holds its thread in the kernel, through SIGKILL). Each run says
/// what did not answer at `--timeout` and ends: the file's work is done by a child process,
/// which is left behind. Before, each run said so at `--timeout`, then never ended (a process
/// does not end while one of its threads is held), and only the daemon's death ended it.
#[test]
fn a_filesystem_that_reads_requests_and_never_answers_never_keeps_whoport_running() {
    if !stalled_fuse_or_skip() {
        return;
    }
    // Each case: a name, the arguments, and where the data and config directories are.
    let files: [(&str, &str); 17] = [
        ("registry", "--registry $top/fuse/x.csv 22"),
        // With a descriptor of its caller's open (a cron job's `flock` lock): the child left
        // behind does not keep it.
        ("flock", "--registry $top/fuse/x.csv 22 8>>$top/cron.lock"),
        // Through a symbolic link on a filesystem that answers, into the mount.
        ("link", "--registry $top/link/x.csv 22"),
        // From the machine's mount namespace, where the path is a plain directory, through the
        // magic link of a process of the namespace where the mount is.
        ("magic", "HOST --registry /proc/$$/root$top/fuse/x.csv 22"),
        // Through one of whoport's own descriptors, a directory on a filesystem that answers,
        // on into the mount.
        ("fd-dir", "--registry /dev/fd/7/fuse/x.csv 22 7<$top"),
        // Started through the dynamic loader, whoport cannot start the process it reads such
        // a file with (its own executable is the loader): it says so, never reads it itself.
        ("loader", "LOADER --registry $top/fuse/x.csv 22"),
        // A descriptor of the root of a mount lazily unmounted since (`umount -l`, as done to
        // a hung NFS mount): its link reads "/", but the file is on that mount.
        (
            "lazy-fd",
            "DETACHED fd $top/lazy1 --registry /dev/fd/FD/x.csv 22",
        ),
        // The same as its standard input (`< DIR`): the child is given it at another number
        // (its own standard input is its socket pair), and whoport ends; before, a read of it
        // was made in whoport's own process, which then never ended.
        (
            "lazy-stdin",
            "DETACHED stdin $top/lazy3 --registry /dev/stdin 22",
        ),
        (
            "lazy-stdin-dir",
            "DETACHED stdin $top/lazy4 --registry /dev/stdin/x.csv 22",
        ),
        // whoport's working directory there (a daemon that answers what changing into it
        // asks): a relative path is on it.
        ("lazy-cwd", "DETACHED cwd $top/lazy2 --registry x.csv 22"),
        ("config", "audit --config $top/fuse/a.toml"),
        ("baseline", "audit --baseline $top/fuse/b.json"),
        ("save", "audit --save-baseline $top/fuse/n.json"),
        (
            "same",
            "audit --save-baseline $top/fuse/b.json --output $top/fuse/r.txt",
        ),
        ("installed", "XDG_DATA_HOME=$top/fuse 22"),
        ("services", "WHOPORT_SERVICES_FILE=$top/fuse/services 22"),
        ("default-config", "XDG_CONFIG_HOME=$top/fuse audit"),
    ];
    let users: [(&str, &str); 4] = [
        ("user", "--user root 22"),
        // No child can be started through the loader: said so, not "within 2s".
        ("loader-user", "LOADER --user root 22"),
        ("names", "--json"),
        ("audit-names", "audit"),
    ];
    let scripts = tempdir();
    let detached = scripts.path().join("detached.py");
    std::fs::write(&detached, DETACHED).expect("write detached.py");
    let phase = |cases: &[(&str, &str)]| -> String {
        let mut lines = String::new();
        for (name, args) in cases {
            let (env, args) = match args.split_once(' ') {
                Some((e, rest)) if e.contains('=') => (e.to_string(), rest.to_string()),
                Some(("HOST", rest)) => ("nsenter -t $keeper -m --".to_string(), rest.to_string()),
                Some(("LOADER", rest)) => ("$loader".to_string(), rest.to_string()),
                Some(("DETACHED", rest)) => {
                    let (how, rest) = rest.split_once(' ').expect("how");
                    let (at, rest) = rest.split_once(' ').expect("where");
                    (
                        format!("/usr/bin/python3 $detached {how} {at}"),
                        rest.to_string(),
                    )
                }
                _ => (String::new(), args.to_string()),
            };
            // Standard output a file only where its notes are read: the audit first compares
            // a regular file there with the files it reads and writes.
            let (out, said) = match *name {
                "names" => (
                    format!("$top/r/out.{name}"),
                    "user names not read within 2s",
                ),
                "services" => (
                    format!("$top/r/out.{name}"),
                    "Local services database (not read: it did not answer within 2s",
                ),
                _ => ("/dev/null".to_string(), "-"),
            };
            lines.push_str(&format!(
                "( s=$(date +%s%N); timeout -s KILL 20 env XDG_DATA_HOME=$top/home \
                 XDG_CONFIG_HOME=$top/home {env} \"$WHOPORT\" --timeout 2s {args} > {out} \
                 2> $top/r/err.{name}; rc=$?; ms=$(( ($(date +%s%N) - s) / 1000000 )); \
                 n=$(grep -cF \"{said}\" {out}); \
                 echo \"case {name} rc=$rc ms=$ms notes=$n\" err: $(head -c 400 $top/r/err.{name}) \
                 > $top/r/case.{name} ) &\n"
            ));
        }
        lines.push_str("wait_runs\n");
        lines
    };
    // A process of this mount namespace to enter it again from the private one.
    let script = format!(
        "sleep 60 & keeper=$!; export keeper\n\
         unshare --mount --propagation private sh -c '\n\
         export PATH=/usr/sbin:/usr/bin:/sbin:/bin\n\
         set -f\n\
         top=$(mktemp -d)\n\
         mkdir $top/fuse $top/home $top/r\n\
         set +f; loader=$(ls /lib64/ld-linux-*.so.* /lib/ld-linux-*.so.* 2>/dev/null | head -n 1); set -f\n\
         [ -n \"$loader\" ] || echo no-loader >&2\n\
         ln -s $top/fuse $top/link\n\
         mkdir $top/lazy1 $top/lazy2 $top/lazy3 $top/lazy4\n\
         /usr/bin/python3 {fixture} $top/lazy1 stall > /dev/null 2>&1 &\n\
         /usr/bin/python3 {fixture} $top/lazy2 lower > /dev/null 2>&1 &\n\
         /usr/bin/python3 {fixture} $top/lazy3 stall > /dev/null 2>&1 &\n\
         /usr/bin/python3 {fixture} $top/lazy4 stall > /dev/null 2>&1 &\n\
         for i in $(seq 50); do [ $(grep -c \" $top/lazy.*whofuse\" /proc/self/mountinfo) -ge 4 ] && break; sleep 0.1; done\n\
         detached={detached}\n\
         wait_runs() {{ for i in $(seq 250); do [ $(ls $top/r | grep -c ^case) -ge $want ] && break; sleep 0.1; done; for f in $(ls $top/r); do case $f in case.*) cat $top/r/$f;; esac; rm -f $top/r/$f; done; }}\n\
         /usr/bin/python3 {fixture} $top/fuse stall > /dev/null 2>&1 &\n\
         fuse=$!\n\
         for i in $(seq 50); do grep -q \" $top/fuse .*whofuse\" /proc/self/mountinfo && break; sleep 0.1; done\n\
         want={files_count}\n\
         {files}\
         echo \"left=$(pgrep -x whoport-file | wc -l) kept=$(for p in $(pgrep -x whoport-file); do ls -l /proc/$p/fd 2>/dev/null; done | grep -c $top/cron.lock)\"\n\
         /usr/bin/python3 {fixture} /etc/passwd file > /dev/null 2>&1 &\n\
         passwd=$!\n\
         for i in $(seq 50); do grep -q \" /etc/passwd .*whofuse\" /proc/self/mountinfo && break; sleep 0.1; done\n\
         if grep -q \" /etc/passwd .*whofuse\" /proc/self/mountinfo; then\n\
         want={users_count}\n\
         {users}\
         else echo passwd-not-mounted; fi\n\
         pkill -f \"raw_stalled_fuse.py $top/lazy\"\n\
         kill $fuse $passwd\n\
         wait\n\
         umount -l $top/fuse\n\
         rm $top/link\n\
         rmdir $top/fuse $top/home $top/r $top/lazy1 $top/lazy2 $top/lazy3 $top/lazy4 $top'\n\
         kill $keeper",
        fixture = common::fixture("raw_stalled_fuse.py").display(),
        detached = detached.display(),
        files_count = files.len(),
        users_count = users.len(),
        files = phase(&files),
        users = phase(&users),
    );
    let (_, out, err) = common::sh_within(&script, Duration::from_secs(90));
    assert!(!out.contains("passwd-not-mounted"), "{out}{err}");
    assert!(!err.contains("no-loader"), "no dynamic loader found: {err}");
    let case = |name: &str| -> &str {
        out.lines()
            .find(|l| l.starts_with(&format!("case {name} ")))
            .unwrap_or_else(|| panic!("no result for {name}: {out}{err}"))
    };
    let said = "did not answer within 2s";
    // Children were left behind on the stalled file; none keeps the caller's lock file (before,
    // every one did).
    assert!(
        out.lines()
            .any(|l| l.starts_with("left=") && !l.starts_with("left=0 ") && l.ends_with(" kept=0")),
        "{out}"
    );
    let expected: [(&str, &str, &str); 21] = [
        ("lazy-stdin", "rc=2 ", "cannot read"),
        ("lazy-stdin-dir", "rc=2 ", "cannot read"),
        ("registry", "rc=2 ", "cannot read"),
        ("flock", "rc=2 ", "cannot read"),
        ("link", "rc=2 ", "cannot read"),
        ("magic", "rc=2 ", "cannot read"),
        ("fd-dir", "rc=2 ", "cannot read"),
        ("loader", "rc=2 ", "none answered"),
        ("lazy-fd", "rc=2 ", "cannot read"),
        ("lazy-cwd", "rc=2 ", "cannot read"),
        ("loader-user", "rc=2 ", "none answered"),
        ("config", "rc=2 ", "cannot read config"),
        ("baseline", "rc=2 ", "cannot read baseline"),
        ("save", "rc=2 ", "cannot write"),
        ("same", "rc=2 ", "cannot check the file"),
        ("installed", "rc=1 ", "cannot read the installed registry"),
        ("services", "", "ignoring the services file"),
        ("default-config", "rc=2 ", "cannot read config"),
        ("user", "rc=2 ", "cannot look up --user 'root'"),
        ("names", "rc=0 ", ""),
        // The audit judges every listener of the machine's network namespace, where other
        // tests' listeners come and go: a finding among them ends it with 1. It must end.
        ("audit-names", "rc=", ""),
    ];
    for (name, rc, words) in expected {
        let line = case(name);
        assert!(line.contains(rc), "{name} did not end as expected: {line}");
        if name == "audit-names" {
            assert!(
                line.contains("rc=0 ") || line.contains("rc=1 "),
                "{name} did not end as expected: {line}"
            );
        }
        let ms: u64 = line
            .split(" ms=")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|m| m.parse().ok())
            .unwrap_or(u64::MAX);
        assert!(ms < 15_000, "{name} took {ms} ms: {line}");
        assert!(!line.contains("rc=137 "), "{name} never ended: {line}");
        if name == "names" || name == "services" {
            assert!(line.contains(" notes=1 "), "{name}: {line}");
        } else if name.starts_with("loader") {
            assert!(
                line.contains(words)
                    && line.contains("started through the dynamic loader (/")
                    && !line.contains(said),
                "{name}: {line}"
            );
        } else if !words.is_empty() {
            assert!(
                line.contains(words) && line.contains(said),
                "{name}: {line}"
            );
        }
    }
}

/// `--registry /dev/stdin` where standard input is a pipe, or a file opened in another mount
/// namespace, and no child can be started (whoport run through the dynamic loader, or as PID
/// 1 of a PID namespace): read in whoport's own process, as always (a pipe is read within
/// `--timeout`; the file's mount is not known to answer or not). Fails where such a descriptor
/// is sent to a child that cannot start ("none answered").
#[test]
fn standard_input_named_as_a_file_is_read_where_no_child_can_start() {
    if !common::root_or_skip("a PID namespace") || !have("unshare", "apt-get install -y util-linux")
    {
        return;
    }
    let home = tempdir();
    let csv = common::fixture("iana-quirks.csv");
    let Some(loader) = ["/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1"]
        .into_iter()
        .find(|l| std::path::Path::new(l).exists())
    else {
        panic!("no dynamic loader found");
    };
    let cases = [
        ("pipe through the loader", format!("cat \"$0\" | {loader} \"$1\" --registry /dev/stdin registry search ssh")),
        ("pipe as PID 1", "cat \"$0\" | unshare --pid --fork --mount-proc \"$1\" --registry /dev/stdin registry search ssh".to_string()),
        ("file as PID 1", "unshare --pid --fork --mount-proc \"$1\" --registry /dev/stdin registry search ssh < \"$0\"".to_string()),
        ("file through the loader, another mount namespace", format!("unshare --mount {loader} \"$1\" --registry /dev/stdin registry search ssh < \"$0\"")),
    ];
    for (name, line) in cases {
        let out = common::command(home.path(), std::path::Path::new("sh"))
            .arg("-c")
            .arg(&line)
            .arg(&csv)
            .arg(common::bin())
            .limit(Duration::from_secs(20))
            .output()
            .expect("runs");
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && said.contains("3 matches"),
            "{name}: {said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A FUSE filesystem that reads requests and never answers, mounted over /sys/fs/cgroup (as an
/// LXCFS whose daemon stopped serves a container's cgroup files): a listing ends. Before, the
/// standard library's count of usable cores read the cgroup's CPU quota there, before anything
/// was printed, and whoport never ended.
#[test]
fn a_stalled_filesystem_over_the_cgroup_files_never_keeps_a_listing_running() {
    if !stalled_fuse_or_skip() {
        return;
    }
    let script = format!(
        "exec unshare --mount --propagation private sh -c '\n\
         export PATH=/usr/sbin:/usr/bin:/sbin:/bin\n\
         /usr/bin/python3 {fixture} /sys/fs/cgroup stall > /dev/null 2>&1 &\n\
         fuse=$!\n\
         for i in $(seq 50); do grep -q \" /sys/fs/cgroup .*whofuse\" /proc/self/mountinfo && break; sleep 0.1; done\n\
         grep -q \" /sys/fs/cgroup .*whofuse\" /proc/self/mountinfo || echo not-mounted\n\
         for lookup in bpf procfs; do\n\
         WHOPORT_OWNER_LOOKUP=$lookup timeout -s KILL 20 \"$WHOPORT\" --timeout 2s --json > /dev/null 2>&1\n\
         echo $lookup rc=$?\n\
         done\n\
         kill $fuse\n\
         wait'",
        fixture = common::fixture("raw_stalled_fuse.py").display(),
    );
    let (_, out, err) = common::sh_within(&script, Duration::from_secs(60));
    assert!(!out.contains("not-mounted"), "{out}{err}");
    for lookup in ["bpf", "procfs"] {
        assert!(out.contains(&format!("{lookup} rc=0")), "{out}{err}");
    }
}

/// `whoport --json PORT` beside a listener of `tests/fixtures/exe_decoy.c` run from a FUSE
/// filesystem (`exe_fuse.py`, in a private mount namespace) whose daemon stops answering once
/// the listener is ready: `build` is the compiler's flags, `run` how the listener is started
/// (`$app` is it on the FUSE mount, `$top` a temporary directory with a tmpfs at
/// `$top/decoy`). Returns the listener's PID and whoport's JSON, asserting it ended (`None`:
/// skipped); the daemon is then killed by PID, which ends any wait on its filesystem.
fn beside_a_stalled_executable(build: &str, run: &str) -> Option<(u64, serde_json::Value)> {
    if !stalled_fuse_or_skip()
        || !have("cc", "apt-get install -y gcc libc6-dev")
        || !common::have_python_module("fusepy", "apt-get install -y python3-fusepy")
    {
        return None;
    }
    let script = format!(
        "exec unshare --mount --propagation private sh -c '\n\
         export PATH=/usr/sbin:/usr/bin:/sbin:/bin\n\
         top=$(mktemp -d)\n\
         mkdir $top/fuse $top/decoy\n\
         mount -t tmpfs decoy $top/decoy\n\
         cc {build} -O2 -o $top/app.bin {source} || {{ echo no-build; exit 0; }}\n\
         /usr/bin/python3 {daemon} $top/fuse $top/app.bin $top/stall > /dev/null 2>&1 &\n\
         fuse=$!\n\
         for i in $(seq 50); do [ -e $top/fuse/app ] && break; sleep 0.1; done\n\
         app=$top/fuse/app\n\
         {run} > $top/ready &\n\
         for i in $(seq 50); do grep -q ready $top/ready && break; sleep 0.1; done\n\
         pid=$(cut -d\" \" -f2 $top/ready); port=$(cut -d\" \" -f3 $top/ready)\n\
         echo app=$pid port=$port\n\
         grep -m1 \" $top/fuse/app\" /proc/$pid/maps\n\
         ( timeout 20 \"$WHOPORT\" --json --timeout 2s $port > $top/out.json 2>/dev/null; touch $top/ended ) &\n\
         ended=no\n\
         for i in $(seq 100); do [ -e $top/ended ] && {{ ended=yes; break; }}; sleep 0.1; done\n\
         echo ended=$ended\n\
         cat $top/out.json\n\
         kill -9 $fuse $pid\n\
         wait\n\
         umount -l $top/fuse 2>/dev/null; umount -l $top/fuse 2>/dev/null; umount -l $top/decoy\n\
         rm -f $top/app.bin $top/stall $top/ready $top/out.json $top/ended\n\
         rmdir $top/fuse $top/decoy $top\'",
        source = common::fixture("exe_decoy.c").display(),
        daemon = common::fixture("exe_fuse.py").display(),
    );
    let (_, out, err) = common::sh_within(&script, QUICK);
    assert!(
        !out.contains("no-build"),
        "exe_decoy.c builds ({build}): {err}"
    );
    let app = out
        .split_whitespace()
        .find_map(|w| w.strip_prefix("app="))
        .and_then(|p| p.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("the listener started: {out} {err}"));
    assert!(
        out.contains("ended=yes"),
        "whoport never ended: {out} {err}"
    );
    let json = &out[out.find('{').expect("whoport's JSON")..];
    let mut doc: serde_json::Value = serde_json::from_str(json).expect("JSON");
    // (The first line of its maps with its executable's path, as staged.)
    doc["staged_maps_line"] = out.lines().nth(1).unwrap_or_default().into();
    Some((app, doc))
}

/// The owners of PID `app` in whoport's JSON `doc`: at least one.
fn owners_of(doc: &serde_json::Value, app: u64) -> Vec<&serde_json::Value> {
    let owners: Vec<&serde_json::Value> = doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .flat_map(|l| l["owners"].as_array().into_iter().flatten())
        .filter(|o| o["pid"] == app)
        .collect();
    assert!(!owners.is_empty(), "the listener's owner is named: {doc}");
    owners
}

/// A process whose executable is on a FUSE filesystem that stopped answering, and whose
/// first mapping of that path is another file, on a tmpfs (it bound the tmpfs over its
/// executable's directory, made a file of that name there and mapped it below its image:
/// `exe_decoy.c`, which any process in a mount namespace of its own can do). The mapping's
/// device said "answers from memory", and the executable link was followed and stat'ed: the
/// stat waited in the kernel for the daemon, through SIGKILL, and whoport never ended. The
/// running file is now asked without a word to its filesystem, and nothing more once its own
/// device says the filesystem may not answer: whoport ends, names the owner and its
/// executable, and says nothing of it it did not establish.
#[test]
fn a_tmpfs_file_mapped_under_a_stalled_executables_name_never_keeps_whoport_running() {
    let Some((app, doc)) =
        beside_a_stalled_executable("-static", "$app $top/fuse $top/decoy $top/stall")
    else {
        return;
    };
    // The staging holds: the first mapping of that path is the tmpfs file (mapped at 0x10000).
    assert!(
        doc["staged_maps_line"]
            .as_str()
            .is_some_and(|l| l.starts_with("00010000-00011000")),
        "{doc}"
    );
    for o in owners_of(&doc, app) {
        assert!(
            o["exe"].as_str().is_some_and(|e| e.ends_with("/fuse/app")),
            "{o}"
        );
        // Nothing was established of its file.
        assert!(o["exe_same_here"].is_null(), "{o}");
        assert!(o["interpreter"].is_null(), "{o}");
    }
}

/// A program on a FUSE filesystem that stopped answering, run through the dynamic loader
/// (`ld.so /fuse/app`): the program the loader runs was looked up by the name its command
/// line gives (text the process wrote), in whoport's view, with a plain stat, to tell whether
/// it is a system interpreter; the lookup waited in the kernel through SIGKILL and whoport
/// never ended. That name is now looked at as any path of a process is (the mount table
/// first, no link on the way): whoport ends and names the owner, and no interpreter.
#[test]
fn a_program_run_by_the_loader_from_a_stalled_filesystem_never_keeps_whoport_running() {
    let Some((app, doc)) = beside_a_stalled_executable(
        "",
        "$(ls /lib64/ld-linux-*.so.* /lib/ld-linux-*.so.* 2>/dev/null | head -n 1) $app $top/stall",
    ) else {
        return;
    };
    for o in owners_of(&doc, app) {
        assert!(
            o["exe"].as_str().is_some_and(|e| e.contains("ld-linux")),
            "{o}"
        );
        assert!(o["interpreter"].is_null(), "{o}");
    }
}

/// `locked_socket.py` in `mode`, in private mount and network namespaces: a socket whose lock
/// a thread holds for as long as a FUSE daemon does not answer, and a listener no descriptor
/// holds (for `unix`, in transit to the locked socket). The daemon is killed by PID when dropped (which lets the lock go: a whoport still
/// waiting for it then ends too), and the fixture with it.
struct LockedSocket {
    fixture: Child,
    daemon: u32,
    holder: u32,
    locked: Option<u16>,
    ownerless: u16,
    _dir: tempfile::TempDir,
}

impl LockedSocket {
    fn start(mode: &str) -> LockedSocket {
        let dir = tempdir();
        let mut fixture = Command::new("unshare")
            .args([
                "--mount",
                "--net",
                "--propagation",
                "private",
                "/usr/bin/python3",
            ])
            .arg(common::fixture("locked_socket.py"))
            .arg(mode)
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare starts");
        let ready = ready_json(&mut fixture);
        let pid = |v: &Value| v.as_u64().unwrap_or_else(|| panic!("fixture said {ready}")) as u32;
        LockedSocket {
            daemon: pid(&ready["daemon"]),
            holder: pid(&ready["holder"]),
            locked: ready["locked"].as_u64().map(|p| p as u16),
            ownerless: ready["ownerless"].as_u64().expect("port") as u16,
            fixture,
            _dir: dir,
        }
    }
}

/// Whether the locked-socket fixture can run here (root, util-linux, fusepy); reported as
/// skipped otherwise.
fn locked_socket_or_skip() -> bool {
    common::root_or_skip("a FUSE mount and sockets in private namespaces")
        && have("unshare", "apt-get install -y util-linux")
        && have("nsenter", "apt-get install -y util-linux")
        && common::have_python_module("fusepy", "apt-get install -y python3-fusepy")
}

impl LockedSocket {
    /// A program run in the fixture's network namespace (`nsenter -n`): its arguments follow.
    fn beside(&self, home: &std::path::Path) -> common::bounded::Run {
        let mut run = common::command(home, std::path::Path::new("nsenter"));
        run.args(["-n", "-t", &self.holder.to_string(), "--"]);
        run
    }

    /// Kills the FUSE daemon: the page's read fails, and the thread lets the lock go.
    fn let_go(&mut self) {
        if let Some(pid) = Pid::from_raw(self.daemon as i32) {
            let _ = kill_process(pid, Signal::KILL);
        }
    }
}

impl Drop for LockedSocket {
    fn drop(&mut self) {
        if let Some(pid) = Pid::from_raw(self.daemon as i32) {
            let _ = kill_process(pid, Signal::KILL);
        }
        drop(self.fixture.stdin.take()); // the fixture unmounts and ends
        if !common::wait_for(&mut self.fixture, QUICK) {
            let _ = self.fixture.kill();
            let _ = self.fixture.wait();
        }
    }
}

/// `whoport wait --pid` for a listener no descriptor holds, whose holder only the kernel's
/// tcp iterator names (a thread asleep in accept() on it), while a thread holds another
/// socket's lock for good: the first look's read is killed and left behind. Once the lock is
/// let go, a later look of the same wait reads the sockets again, finds the holder and the
/// wait ends. Before, the first read that did not end kept every later look of the process
/// from reading them: the wait never ended.
#[test]
fn a_wait_reads_the_sockets_again_once_a_held_lock_is_let_go() {
    if !locked_socket_or_skip() {
        return;
    }
    let home = tempdir();
    let mut held = LockedSocket::start("tcp");
    let waiting = held
        .beside(home.path())
        .arg(common::bin())
        .args(["wait", "--listening", "--pid", &held.holder.to_string()])
        .arg(held.ownerless.to_string())
        .args(["--timeout", "40s"])
        .env("WHOPORT_TIMEOUT", "2s")
        .limit(Duration::from_secs(60))
        .spawn();
    // The first look's reader, killed when its read did not end, waiting for the lock.
    let started = std::time::Instant::now();
    while !readers_waiting(&held)
        .iter()
        .any(|&pid| sigkill_pending(pid))
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no reader was left behind"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    held.let_go();
    let let_go = std::time::Instant::now();
    let out = waiting.wait_with_output();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        let_go.elapsed() < Duration::from_secs(15),
        "{:?} after the lock was let go",
        let_go.elapsed()
    );
    assert!(readers_waiting(&held).is_empty());
    // A wait that is never met (PID 1 holds none of the fixture's sockets) starts a reader at
    // each look: each is reaped, none left a zombie.
    let never = held
        .beside(home.path())
        .arg(common::bin())
        .args(["wait", "--listening", "--pid", "1"])
        .arg(held.ownerless.to_string())
        .args(["--timeout", "6s"])
        .env("WHOPORT_TIMEOUT", "2s")
        .limit(Duration::from_secs(30))
        .spawn();
    std::thread::sleep(Duration::from_secs(4));
    let zombies: Vec<String> = common::pids()
        .into_iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter(|stat| {
            let rest = stat.rsplit_once(") ").map_or("", |(_, rest)| rest);
            let mut fields = rest.split(' ');
            let (state, parent) = (fields.next(), fields.next());
            state == Some("Z") && parent == Some(never.id().to_string().as_str())
        })
        .collect();
    let out = never.wait_with_output();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // (The last look's reader may be ending as the sample is taken.)
    assert!(zombies.len() <= 1, "{zombies:?}");
}

/// Whether SIGKILL is pending for process `pid` (killed, not yet ended).
fn sigkill_pending(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .filter_map(|l| {
            l.strip_prefix("ShdPnd:")
                .or_else(|| l.strip_prefix("SigPnd:"))
        })
        .filter_map(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .any(|mask| mask & (1 << 8) != 0)
}

/// whoport's children reading the kernel's iterators (`__whoport-far-file ... drain`) that wait
/// in the kernel (state D), of the binary under test, in the network namespace of `held`'s
/// fixture.
fn readers_waiting(held: &LockedSocket) -> Vec<u32> {
    let bin = std::fs::canonicalize(common::bin()).expect("the binary");
    let net = |pid: u32| std::fs::read_link(format!("/proc/{pid}/ns/net")).ok();
    let held_net = net(held.holder).expect("the fixture's namespace");
    let mut found = Vec::new();
    for pid in common::pids() {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.split(' ').next());
        let words: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        if words.contains(&&b"__whoport-far-file"[..])
            && words.contains(&&b"drain"[..])
            && state == Some("D")
            && std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == bin)
            && net(pid).as_ref() == Some(&held_net)
        {
            found.push(pid);
        }
    }
    found
}

/// A thread holds a socket's lock for good (it called `setsockopt` with the option's bytes in
/// a mapping of a file whose FUSE daemon never answers: the kernel waits for the page with the
/// lock held), beside a listener no descriptor holds (a thread asleep in accept() on it, its
/// descriptor closed), which sends the listing through the second look: the kernel's tcp, udp
/// and unix iterators it reads take each socket's lock as they pass it. A TCP listener's,
/// a UDP socket's and a unix socket's lock (one end of a pair, to which the listener is in
/// transit instead, found only by the unix iterator):
/// whoport ends within its `--timeout`, with both lookups, names the listener's holder, lists
/// the ownerless one and says the kernel's reads did not end. The first run leaves one reader
/// behind, holding none of its caller's descriptors; the next run finds it still waiting,
/// makes no reads (it would leave another behind: from cron, one a run) and says why, naming
/// it. Once the lock is let go, the reader ends and the next run reads the sockets again.
/// Before, the first read waited in the kernel for the lock, through SIGKILL, for as long as
/// the daemon lived, and whoport never answered; then each run left one more reader behind.
#[test]
fn a_socket_lock_held_for_good_never_keeps_whoport_running() {
    if !locked_socket_or_skip() {
        return;
    }
    let home = tempdir();
    // A file the caller holds open on a descriptor it passes on (as `flock` does its lock):
    // never kept by what whoport leaves behind.
    let lock = home.path().join("cron.lock");
    let run = |held: &LockedSocket, mode: &str, lookup: &str| {
        let started = std::time::Instant::now();
        let out = common::command(home.path(), std::path::Path::new("sh"))
            .arg("-c")
            .arg("exec 7>>\"$0\"; exec nsenter -n -t \"$1\" -- \"$2\" --timeout 2s --json")
            .arg(&lock)
            .arg(held.holder.to_string())
            .arg(common::bin())
            .env("WHOPORT_OWNER_LOOKUP", lookup)
            .limit(Duration::from_secs(20))
            .output()
            .expect("runs");
        let took = started.elapsed();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{mode} {lookup}: {err}");
        assert!(
            took < Duration::from_secs(10),
            "{mode} {lookup}: {took:?} for --timeout 2s"
        );
        let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
        if let Some(port) = held.locked {
            let protocol = if mode == "tcp" { "tcp" } else { "udp" };
            let locked = doc["listeners"]
                .as_array()
                .expect("listeners")
                .iter()
                .find(|l| l["port"] == port && l["protocol"] == protocol)
                .unwrap_or_else(|| panic!("{mode} {lookup}: {port} listed: {doc}"));
            assert_eq!(
                locked["owners"][0]["pid"],
                u64::from(held.holder),
                "{mode} {lookup}: {locked}"
            );
        }
        doc
    };
    let about_reads = |doc: &Value| -> Vec<String> {
        common::notes(doc)
            .into_iter()
            .filter(|n| n.contains("reads of this network namespace's sockets"))
            .map(str::to_string)
            .collect()
    };
    for mode in ["tcp", "udp", "unix"] {
        let mut held = LockedSocket::start(mode);
        // The first run's read waits for the lock: its reader is killed and left behind.
        let doc = run(&held, mode, "bpf");
        let waiting = readers_waiting(&held);
        assert_eq!(waiting.len(), 1, "{mode}: {waiting:?}");
        // Named as whoport's in `ps` and `top` (the kernel's name would be `exe`).
        let name =
            std::fs::read_to_string(format!("/proc/{}/comm", waiting[0])).unwrap_or_default();
        assert_eq!(name.trim_end(), "whoport-reader", "{mode}");
        let kept: Vec<_> = std::fs::read_dir(format!("/proc/{}/fd", waiting[0]))
            .expect("the reader's descriptors")
            .flatten()
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .collect();
        assert!(!kept.contains(&lock), "{mode}: {kept:?}");
        let notes = about_reads(&doc);
        assert!(
            notes.len() == 1
                && notes[0].contains("did not end by the look's deadline (--timeout 2s")
                && notes[0].contains("lock"),
            "{mode}: {notes:?}"
        );
        assert_eq!(row(&doc, held.ownerless)["owners"], serde_json::json!([]));
        // The next runs (either lookup) find it still waiting: no reads, and no reader more.
        for lookup in ["procfs", "bpf"] {
            let doc = run(&held, mode, lookup);
            assert_eq!(readers_waiting(&held), waiting, "{mode} {lookup}");
            let notes = about_reads(&doc);
            assert!(
                notes.len() == 1
                    && notes[0].contains("were not made")
                    && notes[0].contains(&format!("PID {}", waiting[0]))
                    && notes[0].contains("still waits in the kernel"),
                "{mode} {lookup}: {notes:?}"
            );
            assert_eq!(row(&doc, held.ownerless)["owners"], serde_json::json!([]));
        }
        // The lock let go, the reader ends; the next run reads the sockets again.
        held.let_go();
        let gone = std::time::Instant::now();
        while !readers_waiting(&held).is_empty() {
            assert!(
                gone.elapsed() < Duration::from_secs(10),
                "{mode}: readers stay"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let doc = run(&held, mode, "bpf");
        assert_eq!(about_reads(&doc), Vec::<String>::new(), "{mode}");
        assert!(readers_waiting(&held).is_empty(), "{mode}");
        if mode == "tcp" {
            // A copy of whoport named as a loader is no loader: its children start. So are
            // copies whose paths hold a newline (written `\012` in /proc/self/maps) or bytes
            // that are not UTF-8.
            let copy = home.path().join("ld-whoport.so.1");
            std::fs::copy(common::bin(), &copy).expect("copy");
            for dir in [&b"new\nline"[..], &b"caf\xe9"[..]] {
                use std::os::unix::ffi::OsStrExt;
                let dir = home.path().join(std::ffi::OsStr::from_bytes(dir));
                std::fs::create_dir(&dir).expect("mkdir");
                std::fs::copy(common::bin(), dir.join("whoport")).expect("copy");
                let out = held
                    .beside(home.path())
                    .arg(dir.join("whoport"))
                    .args(["--timeout", "2s", "--json"])
                    .limit(Duration::from_secs(20))
                    .output()
                    .expect("runs");
                let said = String::from_utf8_lossy(&out.stdout);
                assert!(out.status.success(), "{dir:?}: {said}");
                assert!(!said.contains("dynamic loader"), "{dir:?}: {said}");
            }
            // `unshare --pid` without `--fork`: whoport's children would start in a PID
            // namespace that ends with the first of them; none is started, and it says why
            // (the later ones failed with ENOMEM).
            for (program, unshare) in [(copy.as_path(), false), (common::bin().as_path(), true)] {
                let mut cmd = held.beside(home.path());
                if unshare {
                    cmd.args(["unshare", "--pid"]);
                }
                let out = cmd
                    .arg(program)
                    .args(["--timeout", "2s", "--json"])
                    .limit(Duration::from_secs(20))
                    .output()
                    .expect("runs");
                let said = String::from_utf8_lossy(&out.stdout);
                assert!(out.status.success(), "{program:?} {unshare}: {said}");
                assert!(!said.contains("dynamic loader"), "{program:?}: {said}");
                assert!(!said.contains("ENOMEM"), "{program:?} {unshare}: {said}");
                assert_eq!(
                    said.contains("would start in a PID namespace made for them"),
                    unshare,
                    "{program:?} {unshare}: {said}"
                );
            }
        }
        // With no lock held, a deadline too near for the reads never passes for a held lock.
        for timeout in ["50ms", "120ms"] {
            let out = held
                .beside(home.path())
                .arg(common::bin())
                .args(["--timeout", timeout, "--json"])
                .limit(Duration::from_secs(20))
                .output()
                .expect("runs");
            let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
            let said = doc.to_string();
            assert!(
                !said.contains("may be held") && !said.contains("left behind"),
                "{mode} {timeout}: {:?}",
                about_reads(&doc)
            );
            assert!(readers_waiting(&held).is_empty(), "{mode} {timeout}");
        }
    }
}

/// A thread holds a socket's lock for good (as above). A whoport killed by its caller while
/// its reader waits for the lock (a caller's own time limit, by PID only): the reader is
/// killed with it, and the next run finds it and starts no other. And a whoport that is the
/// first process of its PID namespace (a container without an init), whose end the kernel
/// makes wait for every process of the namespace: it starts no reader, and ends. Before, the
/// reader of a whoport killed so was never seen (one more a run), and the first process of a
/// PID namespace never ended while the lock was held.
#[test]
fn a_reader_outliving_its_whoport_is_killed_with_it_and_pid_1_starts_none() {
    if !locked_socket_or_skip() {
        return;
    }
    let home = tempdir();
    let held = LockedSocket::start("tcp");
    let whoport_in = |held: &LockedSocket, args: &[&str]| {
        let mut run = held.beside(home.path());
        run.arg(common::bin())
            .args(args)
            .limit(Duration::from_secs(20));
        run
    };
    let mut first = whoport_in(&held, &["--timeout", "15s", "--json"]).spawn();
    let started = std::time::Instant::now();
    let reader = loop {
        if let Some(&pid) = readers_waiting(&held).first() {
            break pid;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no reader");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!sigkill_pending(reader));
    kill_process(Pid::from_raw(first.id() as i32).expect("pid"), Signal::KILL).expect("kill");
    let _ = first.child().wait();
    let killed = std::time::Instant::now();
    while !sigkill_pending(reader) {
        assert!(
            killed.elapsed() < Duration::from_secs(2),
            "the reader outlives its whoport unkilled"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = whoport_in(&held, &["--timeout", "2s", "--json"])
        .output()
        .expect("runs");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    let notes = common::notes(&doc);
    assert!(
        notes.iter().any(|n| n.contains("were not made")
            && n.contains(&format!("PID {reader}"))
            && n.contains("was killed")),
        "{notes:?}"
    );
    assert_eq!(readers_waiting(&held), vec![reader]);
    // The first process of a PID namespace with a /proc of its own (where the reader above is
    // not seen): no reader started, and it ends.
    let took = std::time::Instant::now();
    let out = held
        .beside(home.path())
        .args(["unshare", "--pid", "--fork", "--mount-proc"])
        .arg(common::bin())
        .args(["--timeout", "2s", "--json"])
        .limit(Duration::from_secs(20))
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        took.elapsed() < Duration::from_secs(10),
        "{:?}",
        took.elapsed()
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("PID 1 of its PID namespace"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(readers_waiting(&held), vec![reader]);
}
