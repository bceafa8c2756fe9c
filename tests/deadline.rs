//! The collection deadline (`--timeout`), staged for real: a listener whose memory cannot be
//! read (its command line waits on a stopped FUSE filesystem) is still listed, with its PID,
//! and named in a note once the deadline passes; bad values are usage errors.

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use common::netns::NetNs;
use common::{have, tempdir};
use rustix::process::{kill_process, Pid, Signal};
use serde_json::Value;

/// Every command here must end long before the helpers' own limit.
const QUICK: Duration = Duration::from_secs(40);

/// Tests jam processes one kind at a time: those whose memory map stays readable together,
/// the one whose map cannot be read alone.
static JAMS: RwLock<()> = RwLock::new(());

#[allow(dead_code)] // held for its drop
enum Turn {
    Shared(RwLockReadGuard<'static, ()>),
    Alone(RwLockWriteGuard<'static, ()>),
}

impl Turn {
    fn take(alone: bool) -> Turn {
        if alone {
            Turn::Alone(JAMS.write().unwrap_or_else(PoisonError::into_inner))
        } else {
            Turn::Shared(JAMS.read().unwrap_or_else(PoisonError::into_inner))
        }
    }
}

/// A listener in a private network namespace whose memory map lock is jammed behind a read
/// of a stalled FUSE file (`listen.py --jam-on`, served by `stalled_fuse.py` in a private
/// mount namespace). Dropping it continues the FUSE daemon and ends everything by PID.
struct Jammed {
    /// Whose turn it is: a process whose memory map cannot be read stalls every second look
    /// of the machine for a second (other tests' too), so that test runs alone.
    _turn: Turn,
    fixture: Child,
    daemon: u32,
    listener: u32,
    port: u16,
    ns: NetNs,
    _dir: tempfile::TempDir,
}

impl Jammed {
    /// A loopback listener and one on all interfaces.
    fn start() -> Option<Jammed> {
        Jammed::start_with(&[], &["tcp4", "tcp4-any"])
    }

    /// `listen.py` with these options and sockets (the first one's port is kept).
    fn start_with(options: &[&str], specs: &[&str]) -> Option<Jammed> {
        Jammed::start_fixture(&["--exe-outside"], options, specs)
    }

    /// [`Jammed::start_with`], with `stalled_fuse.py`'s `--exe-outside`, `--exe-below` or
    /// `--exe-long HOLD`.
    fn start_fixture(exe: &[&str], options: &[&str], specs: &[&str]) -> Option<Jammed> {
        if !common::root_or_skip("a FUSE mount in a private mount namespace") {
            return None;
        }
        if !have("unshare", "apt-get install -y util-linux")
            || !common::have_python_module("fusepy", "apt-get install -y python3-fusepy")
        {
            return None;
        }
        let turn = Turn::take(options.contains(&"--jam-maps-on"));
        let ns = NetNs::new()?;
        let dir = tempdir();
        let (backing, mnt) = (dir.path().join("backing"), dir.path().join("mnt"));
        std::fs::create_dir(&backing).expect("mkdir");
        std::fs::create_dir(&mnt).expect("mkdir");
        let mut fixture = ns.command(Path::new("unshare"));
        fixture
            .args(["--mount", "--propagation", "private", "/usr/bin/python3"])
            .arg(common::fixture("stalled_fuse.py"))
            .args(exe)
            .arg(&backing)
            .arg(&mnt)
            .arg(common::fixture("listen.py"))
            .arg("--jam-on")
            .arg(mnt.join("held-open"))
            // In the first test, a loopback listener and one on all interfaces (a root
            // interpreter there is a high finding, which a stall must not make disappear).
            .args(
                options
                    .iter()
                    .map(|o| o.replace("{mnt}", &mnt.to_string_lossy())),
            )
            .args(specs)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut fixture = fixture.spawn().expect("unshare starts");
        let line = common::ready_line(&mut fixture, QUICK);
        let ready: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("fixture said {line:?}: {e}"));
        let pid = |v: &Value| v.as_u64().expect("pid") as u32;
        Some(Jammed {
            _turn: turn,
            daemon: pid(&ready["daemon"]),
            listener: pid(&ready["listener"]["pid"]),
            port: ready["listener"]["sockets"][0][2].as_u64().expect("port") as u16,
            fixture,
            ns,
            _dir: dir,
        })
    }

    /// Stops the FUSE daemon, then has the listener jam itself; `Ok` once reading its
    /// command line really blocks (checked with `timeout 2 cat`), else what its threads and
    /// the daemon's were doing.
    fn jam(&self) -> Result<(), String> {
        self.jam_until("cmdline")
    }

    /// Stops the FUSE daemon, then has the listener jam itself; `Ok` once reading its
    /// `/proc/PID/{file}` really blocks.
    fn jam_until(&self, file: &str) -> Result<(), String> {
        common::stop(self.daemon);
        signal(self.listener, Signal::USR1);
        let cmdline = format!("/proc/{}/{file}", self.listener);
        for _ in 0..40 {
            let mut cat = common::bounded::Run::new("timeout");
            let out = cat
                .args(["2", "cat", &cmdline])
                .output()
                .expect("timeout runs");
            if out.status.code() == Some(124) {
                return Ok(());
            }
            // The second thread asks for its mapping a moment after the first one stalls.
            std::thread::sleep(Duration::from_millis(250));
        }
        Err([self.listener, self.daemon]
            .iter()
            .map(|&p| common::threads(p))
            .collect())
    }

    fn whoport(&self, home: &Path, args: &[&str]) -> (i32, String, String) {
        self.whoport_env(home, "45s", args)
    }

    /// With `WHOPORT_TIMEOUT` (the default of `--timeout`) set to `timeout`.
    fn whoport_env(&self, home: &Path, timeout: &str, args: &[&str]) -> (i32, String, String) {
        let mut cmd = common::command(home, Path::new("nsenter"));
        cmd.env("WHOPORT_TIMEOUT", timeout)
            .args(["-t", &self.ns.pid.to_string(), "-n", "--"])
            .arg(common::bin())
            .args(args)
            .limit(QUICK);
        common::outcome(&mut cmd)
    }

    /// In the fixture's mount namespace too (where the FUSE directory is mounted), with the
    /// owner lookup `lookup`.
    fn whoport_among_its_mounts(
        &self,
        home: &Path,
        lookup: &str,
        args: &[&str],
    ) -> (i32, String, String) {
        let mut cmd = common::command(home, Path::new("nsenter"));
        cmd.env("WHOPORT_OWNER_LOOKUP", lookup)
            .args(["-t", &self.ns.pid.to_string(), "-n"])
            .arg(format!("--mount=/proc/{}/ns/mnt", self.fixture.id()))
            .arg("--")
            .arg(common::bin())
            .args(args)
            .limit(QUICK);
        common::outcome(&mut cmd)
    }
}

fn signal(pid: u32, signal: Signal) {
    let pid = Pid::from_raw(pid as i32).expect("pid");
    kill_process(pid, signal).expect("signal a helper");
}

impl Drop for Jammed {
    fn drop(&mut self) {
        signal(self.daemon, Signal::CONT);
        drop(self.fixture.stdin.take()); // the fixture kills the listener and the daemon
        if !common::wait_for(&mut self.fixture, QUICK) {
            let _ = self.fixture.kill();
            let _ = self.fixture.wait();
        }
    }
}

/// The row of the listener on 127.0.0.1:`port`, as the `lookup` run listed it.
fn loopback_row(doc: &Value, port: u16, lookup: &str) -> Value {
    doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .find(|l| l["port"] == port && l["address"] == "127.0.0.1")
        .unwrap_or_else(|| panic!("{lookup}: port {port} listed: {doc}"))
        .clone()
}

fn owner_of(doc: &Value, port: u16) -> Value {
    let row = doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .find(|l| l["port"] == port && l["protocol"] == "tcp")
        .unwrap_or_else(|| panic!("port {port} listed: {doc}"));
    row["owners"][0].clone()
}

fn notes(doc: &Value) -> Vec<String> {
    doc["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .map(|n| n.as_str().expect("a note is a string").to_string())
        .collect()
}

#[test]
fn a_process_whose_details_never_arrive_is_listed_and_named_in_a_note() {
    let Some(jam) = Jammed::start() else {
        return;
    };
    let home = tempdir();
    let port = jam.port.to_string();
    let pid = jam.listener.to_string();
    // Before the jam, the same limit is enough: the owner comes with its command line, and
    // no note speaks of a deadline.
    let (status, out, err) = jam.whoport(home.path(), &["--timeout", "3s", "--json"]);
    assert_eq!(status, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).expect("json");
    let owner = owner_of(&doc, jam.port);
    assert_eq!(owner["pid"], jam.listener, "{owner}");
    assert!(owner["cmdline"].to_string().contains("--jam-on"), "{owner}");
    assert!(!notes(&doc).iter().any(|n| n.contains("within")), "{doc}");
    let audit_args = ["audit", "--timeout", "3s", "--json", "--pid", &pid];
    let (audit_status, out, err) = jam.whoport(home.path(), &audit_args);
    assert!(matches!(audit_status, 0 | 1), "{err}");
    let judged = |doc: &Value| -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = doc["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| (f["id"].to_string(), f["severity"].to_string()))
            .collect();
        all.sort();
        all
    };
    let before = judged(&serde_json::from_str(&out).expect("json"));
    assert!(
        before.contains(&("\"shell-listener\"".to_string(), "\"high\"".to_string())),
        "{before:?}"
    );
    let (user, exe) = (owner["user"].clone(), owner["exe"].clone());
    let baseline = home.path().join("baseline.json");
    let baseline = baseline.to_str().expect("utf8");
    let (status, _, err) = jam.whoport(
        home.path(),
        &[
            "audit",
            "--timeout",
            "3s",
            "--pid",
            &pid,
            "--save-baseline",
            baseline,
        ],
    );
    assert!(matches!(status, 0 | 1), "{err}");

    if let Err(threads) = jam.jam() {
        panic!("reading the listener's command line does not block; threads:\n{threads}");
    }
    let expected = format!("details of pid {pid} (python3) not read within 3s");
    let (status, out, err) = jam.whoport(home.path(), &["--timeout", "3s", "--json"]);
    assert_eq!(status, 0, "the exit status is as without the stall: {err}");
    let doc: Value = serde_json::from_str(&out).expect("json");
    let owner = owner_of(&doc, jam.port);
    assert_eq!(owner["pid"], jam.listener, "listed with its PID: {owner}");
    assert_eq!(owner["name"], "python3", "and the kernel's name: {owner}");
    assert_eq!(owner["cmdline"], serde_json::json!([]), "{owner}");
    // What does not wait for its memory still comes: its user and its executable.
    assert_eq!(owner["user"], user, "{owner}");
    assert_eq!(owner["exe"], exe, "{owner}");
    assert!(notes(&doc).contains(&expected), "{:?}", notes(&doc));

    // The table, the port card and the audit say it too, and a later look of the same kind
    // ends as well (the stuck reader is still stuck).
    // The limit from the environment, as a cron job may set it.
    let (status, out, err) = jam.whoport_env(home.path(), "3s", &[]);
    assert_eq!(status, 0, "{err}");
    assert!(out.contains(&port) && out.contains(&pid), "{out}");
    assert!(out.contains(&format!("note: {expected}")), "{out}");
    let (status, out, err) = jam.whoport(home.path(), &["--timeout", "3s", &port]);
    assert_eq!(status, 0, "{err}");
    assert!(out.contains(&pid) && out.contains(&expected), "{out}");
    let (status, out, err) = jam.whoport(home.path(), &audit_args);
    assert_eq!(
        status, audit_status,
        "the stall does not change the audit: {err}"
    );
    let doc: Value = serde_json::from_str(&out).expect("json");
    assert!(notes(&doc).contains(&expected), "{doc}");
    assert_eq!(judged(&doc), before, "the same findings: {doc}");
    // Nothing changed: compared with a baseline from before the stall, nothing is said.
    let (_, out, err) = jam.whoport(
        home.path(),
        &[
            "audit",
            "--timeout",
            "3s",
            "--json",
            "--pid",
            &pid,
            "--baseline",
            baseline,
        ],
    );
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
    assert_eq!(
        judged(&doc),
        before,
        "no owner-changed: {doc}\nbaseline: {}",
        std::fs::read_to_string(baseline).unwrap_or_default()
    );
    // Filtering by user still finds it.
    let name = user.as_str().expect("the owner's user name");
    let (status, out, err) =
        jam.whoport(home.path(), &["--timeout", "3s", "--user", name, "--json"]);
    assert_eq!(status, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(owner_of(&doc, jam.port)["pid"], jam.listener);

    // A socket held only through a memory mapping, by another process, is still found while
    // the jammed process holds its memory-map lock, by either lookup and within the deadline
    // (the kernel's task_vma iterator would wait for that lock).
    let mapper = Mapper::start(&jam.ns);
    for lookup in ["bpf", "procfs"] {
        let (status, out, err) = jam.ns.whoport_with(
            home.path(),
            &[("WHOPORT_OWNER_LOOKUP", lookup)],
            &["--timeout", "10s", "--json"],
        );
        assert_eq!(status, 0, "{lookup}: {err}");
        let doc: Value = serde_json::from_str(&out).expect("json");
        let row = loopback_row(&doc, mapper.port, lookup);
        assert_eq!(row["owners"][0]["pid"], mapper.pid, "{lookup}: {row}");
        assert_eq!(
            row["held_through"], "held through a memory mapping",
            "{lookup}: {row}"
        );
        assert!(
            !notes(&doc).iter().any(|n| n.contains("second look")),
            "{lookup}: {:?}",
            notes(&doc)
        );
    }
}

/// A process whose memory mappings cannot be read (`/proc/PID/maps` waits for its
/// memory-map lock, held for writing by a mapping stalled on the FUSE filesystem: see
/// `listen.py --jam-maps-on`) costs the second look only its own second: a socket held only
/// through a mapping by another process is still found and named, and the jammed process is
/// named in a note, by either lookup. The jammed process's own listener, held only through
/// one of its mappings, is not called hidden: the reason says whose map was not read.
#[test]
fn a_process_whose_memory_map_cannot_be_read_is_named_and_the_others_are_still_read() {
    let options = ["--jam-maps-on", "{mnt}/direct-io", "--map-only"];
    let Some(jam) = Jammed::start_with(&options, &["tcp4"]) else {
        return;
    };
    if let Err(threads) = jam.jam_until("maps") {
        panic!("reading the listener's memory map does not block; threads:\n{threads}");
    }
    let mapper = Mapper::start(&jam.ns);
    let home = tempdir();
    let expected = format!(
        "the memory map of pid {} (python3) could not be read within 1s",
        jam.listener
    );
    for lookup in ["bpf", "procfs"] {
        let (status, out, err) = jam.ns.whoport_with(
            home.path(),
            &[("WHOPORT_OWNER_LOOKUP", lookup)],
            &["--timeout", "8s", "--json"],
        );
        assert_eq!(status, 0, "{lookup}: {err}");
        let doc: Value = serde_json::from_str(&out).expect("json");
        let row = loopback_row(&doc, mapper.port, lookup);
        assert_eq!(row["owners"][0]["pid"], mapper.pid, "{lookup}: {row}");
        assert_eq!(
            row["held_through"], "held through a memory mapping",
            "{lookup}: {row}"
        );
        let own = loopback_row(&doc, jam.port, lookup);
        assert_eq!(own["owners"], serde_json::json!([]), "{lookup}: {own}");
        let reason = own["owner_hidden_reason"].as_str().unwrap_or_default();
        assert!(
            reason.starts_with(&format!(
                "perhaps held through a memory mapping that whoport could not read: {expected}; \
                 otherwise "
            )),
            "{lookup}: {own}"
        );
        let notes = notes(&doc);
        assert!(
            notes.iter().any(|n| n.starts_with(&expected)),
            "{lookup}: {notes:?}"
        );
        assert!(
            !notes.iter().any(|n| n.contains("second look")),
            "{lookup}: {notes:?}"
        );
    }
}

/// A process in the namespace that holds a loopback listener only through a memory mapping
/// of it (its descriptor closed); killed by PID when dropped.
struct Mapper {
    child: Child,
    pid: u32,
    port: u16,
}

impl Mapper {
    fn start(ns: &NetNs) -> Mapper {
        // mmap(2) through ctypes: Python's mmap module keeps a duplicate descriptor.
        let script = "import ctypes, os, socket, sys\n\
            libc = ctypes.CDLL(None, use_errno=True)\n\
            libc.mmap.restype = ctypes.c_void_p\n\
            libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]\n\
            s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\n\
            m = libc.mmap(None, 4096, 1, 1, s.fileno(), 0)\n\
            assert m not in (None, ctypes.c_void_p(-1).value), os.strerror(ctypes.get_errno())\n\
            port = s.getsockname()[1]; s.close()\n\
            print(os.getpid(), port, flush=True); sys.stdin.read()\n";
        let mut child = ns
            .command(Path::new("python3"))
            .args(["-c", script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 starts");
        let line = common::ready_line(&mut child, QUICK);
        let words: Vec<u32> = line
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        let [pid, port] = words[..] else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the mapper said {line:?}");
        };
        Mapper {
            child,
            pid,
            port: port as u16,
        }
    }
}

impl Drop for Mapper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_bad_timeout_is_a_usage_error_and_a_huge_one_is_no_limit() {
    let home = tempdir();
    for bad in ["soon", "0s", "-5s", "10", ""] {
        let (status, _, err) =
            common::outcome(common::whoport(home.path()).args(["--timeout", bad, "--json"]));
        assert_eq!(status, 2, "--timeout {bad:?}: {err}");
        assert!(err.contains("--timeout"), "the option is named: {err}");
    }
    let (status, _, err) = common::outcome(common::whoport(home.path()).args([
        "audit",
        "--timeout",
        "never",
        "--json",
    ]));
    assert_eq!(status, 2, "{err}");
    let (status, _, err) = common::outcome(
        common::whoport(home.path())
            .env("WHOPORT_TIMEOUT", "soon")
            .arg("--json"),
    );
    assert_eq!(status, 2, "{err}");
    assert!(err.contains("WHOPORT_TIMEOUT='soon'"), "{err}");
    // Too long for the clock: no deadline, and no panic.
    for args in [
        &["--timeout", "500000000years", "--json"][..],
        &["audit", "--timeout", "500000000years", "--json"],
    ] {
        let (status, out, err) = common::outcome(common::whoport(home.path()).args(args));
        assert!(matches!(status, 0 | 1), "{args:?}: {status} {err}");
        let doc: Value = serde_json::from_str(&out).expect("json");
        assert!(doc["notes"].is_array(), "{doc}");
    }
}

/// Puts the stalled FUSE file over /etc/passwd in the mount namespace of the jammed process
/// (whose listener the tests look at) and stops its FUSE daemon, so that the user database
/// never answers there: a runner of a command in that process's mount and network namespaces.
fn stalled_user_database<'a>(
    jam: &Jammed,
    home: &'a Path,
) -> impl Fn(&[&str]) -> (i32, String, String) + 'a {
    let listener = jam.listener.to_string();
    let in_its_namespaces = move |args: &[&str]| -> (i32, String, String) {
        let mut cmd = common::command(home, Path::new("nsenter"));
        cmd.env("WHOPORT_TIMEOUT", "45s")
            .args(["-t", &listener, "-m", "-n", "--"])
            .args(args)
            .limit(QUICK);
        common::outcome(&mut cmd)
    };
    let held = jam._dir.path().join("mnt").join("held-open");
    let (status, _, err) = in_its_namespaces(&[
        "mount",
        "--bind",
        held.to_str().expect("utf8"),
        "/etc/passwd",
    ]);
    assert_eq!(status, 0, "bind mount: {err}");
    common::stop(jam.daemon);
    in_its_namespaces
}

/// The user database may not answer (an LDAP server gone): names are asked under the same
/// deadline. Staged by putting the stalled FUSE file over /etc/passwd in the fixture's own
/// mount namespace, where whoport then runs.
#[test]
fn a_user_database_that_never_answers_costs_only_the_deadline() {
    let Some(jam) = Jammed::start() else {
        return;
    };
    let home = tempdir();
    let in_its_namespaces = stalled_user_database(&jam, home.path());
    let bin = common::bin();
    let bin = bin.to_str().expect("utf8");
    let (status, out, err) = in_its_namespaces(&[bin, "--timeout", "2s", "--json"]);
    assert_eq!(status, 0, "the exit status is as without the stall: {err}");
    let doc: Value = serde_json::from_str(&out).expect("json");
    let owner = owner_of(&doc, jam.port);
    assert_eq!(owner["pid"], jam.listener, "listed with its owner: {owner}");
    assert_eq!(owner["uid"], 0, "{owner}");
    assert!(owner["user"].is_null(), "no name was read: {owner}");
    assert!(
        notes(&doc)
            .iter()
            .any(|n| n.starts_with("user names not read within 2s")),
        "{:?}",
        notes(&doc)
    );
}

/// `wait --listening --pid/--process --timeout 2s` where the owner lookup does not answer
/// (the jammed process's details, and a user database that never answers): the wait ends at
/// its own timeout, and says that the port had listeners whose owners were not established,
/// never "was not listening". Before, the look ran under the run's collection limit (here
/// `WHOPORT_TIMEOUT=45s`), far past the wait's.
#[test]
fn a_wait_for_a_listeners_owner_ends_at_its_own_timeout() {
    let Some(jam) = Jammed::start() else {
        return;
    };
    let home = tempdir();
    let in_its_namespaces = stalled_user_database(&jam, home.path());
    let bin = common::bin();
    let bin = bin.to_str().expect("utf8");
    let (port, pid) = (jam.port.to_string(), jam.listener.to_string());
    for (by, who) in [("--pid", pid.as_str()), ("--process", "python")] {
        let started = std::time::Instant::now();
        let (status, _, err) = in_its_namespaces(&[
            bin,
            "wait",
            &port,
            "--listening",
            by,
            who,
            "--timeout",
            "2s",
        ]);
        let took = started.elapsed();
        assert_eq!(status, 1, "{by}: {err}");
        assert!(
            err.contains(&format!("{port}/tcp had listeners after 2."))
                && err.contains("whose owners were not established"),
            "{by}: {err}"
        );
        // The wait's 2 s and the start of whoport, far less than the 45 s of the run's limit.
        assert!(took < Duration::from_secs(20), "{by}: {took:?}");
    }
}

/// Runs `argv[1:]` in a new user namespace where the caller's uid and gid (root's) are 1000.
const USER_NAMESPACE: &str = r#"
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x10000000) != 0:
    sys.exit("unshare: errno %d" % ctypes.get_errno())
for name, text in (("setgroups", "deny"), ("uid_map", "1000 0 1"), ("gid_map", "1000 0 1")):
    with open("/proc/self/" + name, "w") as f:
        f.write(text)
os.execv(sys.argv[1], sys.argv[1:])
"#;

/// The same stalled user database seen from a user namespace whose uids whoport translates
/// to the machine's (root's uid mapped to 1000 there): the
/// translated uids' names are asked under the deadline too. whoport finishes, lists the
/// listener under the machine's uid (0, not the namespace's 1000), gives no name it did not
/// read, and says why.
#[test]
fn a_user_database_that_never_answers_costs_only_the_deadline_in_a_user_namespace() {
    let Some(jam) = Jammed::start() else {
        return;
    };
    let home = tempdir();
    let in_its_namespaces = stalled_user_database(&jam, home.path());
    let bin = common::bin();
    let bin = bin.to_str().expect("utf8");
    // `unshare --map-user` would ask the stalled database itself: the namespace is made by
    // a few lines of Python that ask it nothing (`-S`: no site, no home directory).
    let (status, out, err) = in_its_namespaces(&[
        "/usr/bin/python3",
        "-S",
        "-c",
        USER_NAMESPACE,
        bin,
        "--timeout",
        "2s",
        "--json",
    ]);
    if status != 0 && err.contains("unshare: errno") {
        eprintln!("SKIPPED: no user namespace here: {err}");
        return;
    }
    assert_eq!(status, 0, "the exit status is as without the stall: {err}");
    let doc: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(doc["root"], false, "root only outside the namespace: {doc}");
    let row = loopback_row(&doc, jam.port, "procfs");
    assert_eq!(row["uid"], 0, "the machine's uid: {row}");
    assert!(row["user"].is_null(), "no name was read: {row}");
    // From there the kernel lets whoport read no descriptor of a process outside the
    // namespace, not even root's own: the reason says so, never that no process of this
    // user holds it.
    let reason = row["owner_hidden_reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("whoport runs in a user namespace") && !reason.starts_with("owned by"),
        "{row}"
    );
    assert!(
        notes(&doc).iter().any(|n| n.starts_with("user names not read within 2s")
            && n.contains("did not answer")),
        "{:?}",
        notes(&doc)
    );
}

/// The jammed process itself holds a listener only through a memory mapping: the kernel's
/// task_vma iterator waits for its memory-map lock, `/proc/PID/maps` does not (on this
/// kernel). Both owner lookups must say the same true thing within the deadline: that
/// process, through a memory mapping (or, where `/proc/PID/maps` waits too, that the look
/// did not finish in time).
#[test]
fn a_socket_mapped_by_the_jammed_process_itself_gets_the_same_answer_from_both_lookups() {
    let Some(jam) = Jammed::start_with(&["--map-only"], &["tcp4"]) else {
        return;
    };
    if let Err(threads) = jam.jam() {
        panic!("reading the listener's command line does not block; threads:\n{threads}");
    }
    let home = tempdir();
    let mut answers = Vec::new();
    for lookup in ["bpf", "procfs"] {
        let env = [("WHOPORT_TIMEOUT", "10s"), ("WHOPORT_OWNER_LOOKUP", lookup)];
        let (status, out, err) = jam.ns.whoport_with(home.path(), &env, &["--json"]);
        assert_eq!(status, 0, "{lookup}: {err}");
        let doc: Value = serde_json::from_str(&out).expect("json");
        let row = loopback_row(&doc, jam.port, lookup);
        let pids: Vec<u64> = row["owners"]
            .as_array()
            .expect("owners")
            .iter()
            .map(|o| o["pid"].as_u64().expect("pid"))
            .collect();
        let answer = (
            pids,
            row["held_through"].clone(),
            row["owner_hidden_reason"].clone(),
        );
        let named = answer.0 == vec![u64::from(jam.listener)]
            && answer.1 == "held through a memory mapping";
        let late = answer.0.is_empty()
            && answer
                .2
                .as_str()
                .is_some_and(|r| r.starts_with("unknown: "));
        assert!(named || late, "{lookup}: {row}");
        answers.push((lookup, answer));
    }
    assert_eq!(answers[0].1, answers[1].1, "{answers:?}");
}

/// `whoport audit --pid` of the jammed listener with this owner lookup, its FUSE daemon
/// stopped: no deadline was needed, and the one `deleted-executable` finding (high) is about
/// its port; its message.
fn deleted_at_once(jam: &Jammed, home: &Path, lookup: &str) -> String {
    let pid = jam.listener.to_string();
    let args = ["audit", "--timeout", "20s", "--json", "--pid", &pid];
    let (status, out, err) = jam.whoport_among_its_mounts(home, lookup, &args);
    assert!(matches!(status, 0 | 1), "{lookup}: {err}");
    let doc: Value = serde_json::from_str(&out).expect("json");
    assert!(
        !notes(&doc).iter().any(|n| n.contains("within")),
        "{lookup}: no deadline was needed: {:?}",
        notes(&doc)
    );
    let deleted: Vec<&Value> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["id"] == "deleted-executable" && f["listener"]["port"] == jam.port)
        .collect();
    assert_eq!(deleted.len(), 1, "{lookup}: {doc}");
    assert_eq!(deleted[0]["severity"], "high", "{lookup}: {}", deleted[0]);
    deleted[0]["message"].as_str().expect("message").to_string()
}

#[test]
fn a_deleted_executable_below_a_stalled_fuse_directory_is_judged_without_waiting() {
    // The executable lives on a tmpfs (it answers from memory) mounted below the FUSE
    // directory: walking its path would ask the stopped daemon about that directory.
    let Some(jam) = Jammed::start_fixture(&["--exe-below"], &[], &["tcp4"]) else {
        return;
    };
    common::stop(jam.daemon);
    let home = tempdir();
    for lookup in ["bpf", "procfs"] {
        // Only the kernel's mark was read: nothing is claimed about the path.
        let message = deleted_at_once(&jam, home.path(), lookup);
        assert!(!message.contains("nothing stands"), "{lookup}: {message}");
        assert!(message.contains("was not looked at"), "{lookup}: {message}");
        let (_, out, err) =
            jam.whoport_among_its_mounts(home.path(), lookup, &["--timeout", "20s", "--json"]);
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
        let owner = owner_of(&doc, jam.port);
        assert_eq!(owner["pid"], jam.listener, "{lookup}: {owner}");
        assert_eq!(owner["user"], "root", "{lookup}: {owner}");
        assert!(
            owner["exe"]
                .as_str()
                .is_some_and(|e| e.ends_with("/below/wph-below-py")),
            "{lookup}: {owner}"
        );
    }
}

/// A `/proc` walk that cannot finish in time (a process and about 130 children with 19,000
/// copies of one socket each: more links than it reads in tens of seconds) stops before the
/// deadline and keeps the owners it found: root's own listener, started after them, keeps its
/// owner (the walk reads the processes with large tables last, whatever their PIDs); a note,
/// and the reason of each socket still without an owner, say the walk did not finish and how
/// many processes it did not read (to the end). Before, every owner the walk had found was
/// dropped with it. (The in-kernel iterator is not a walk: it does not stop.)
#[test]
fn a_walk_out_of_time_keeps_the_owners_it_found() {
    let Some(ns) = NetNs::new() else {
        return;
    };
    let Some(dups) = common::listener::dups_allowed(10_000) else {
        eprintln!("SKIPPED: the hard limit on open descriptors is too low");
        return;
    };
    let forks = (2_400_000 / dups).to_string();
    let copies = ns.listener(&["--dups", &dups.to_string(), "--forks", &forks, "tcp4"]);
    // After them: lower PIDs do not put it behind them (the smallest tables are read first).
    let own = ns.listener(&["tcp4"]);
    let doc = walk_within(&ns, "8s");
    let said = "the owner lookup did not finish within 8s: the /proc walk stopped with the \
                descriptors of ";
    let notes = notes(&doc);
    assert!(notes.iter().any(|n| n.starts_with(said)), "{notes:?}");
    assert_walk_named(&doc, &own);
    // Those of the copies' holders read before the walk stopped.
    let row = loopback_row(&doc, copies.sockets[0].port, "walk");
    let holders = common::listener::owner_pids(&row);
    assert!(holders.len() <= copies.children.len(), "{row}");
    if holders.is_empty() {
        let why = row["owner_hidden_reason"].as_str().unwrap_or_default();
        assert!(why.starts_with(&format!("unknown: {said}")), "{row}");
    }
    let all: Vec<u64> = std::iter::once(copies.pid)
        .chain(copies.children.iter().copied())
        .map(u64::from)
        .collect();
    assert!(holders.iter().all(|p| all.contains(p)), "{row}");
}

/// The forced walk in `ns` within `--timeout` `timeout`: its JSON.
fn walk_within(ns: &NetNs, timeout: &str) -> Value {
    let home = tempdir();
    let (status, stdout, stderr) = ns.whoport_with(
        home.path(),
        &[("WHOPORT_NO_BPF", "1")],
        &["--json", "--timeout", timeout],
    );
    assert!(status == 0 || status == 1, "({status}) {stderr}");
    serde_json::from_str(&stdout).expect("JSON")
}

/// `own`'s listener is named with its owner.
fn assert_walk_named(doc: &Value, own: &common::listener::Listener) {
    let port = own.sockets[0].port;
    assert_eq!(
        owner_of(doc, port)["pid"],
        own.pid,
        "{}",
        loopback_row(doc, port, "walk")
    );
}

/// Many mid-size descriptor tables at PIDs lower than root's listener: 301 processes with 4,000
/// descriptors each (1.2 million links, under any fixed threshold of "large"), the walk with
/// `--timeout 3s`. It reads the smallest tables first, so the listener's owner is named whether
/// or not the walk finished; where it stopped, its note names the largest processes it left,
/// all of them the copies' holders. (Before, the walk read them in PID order and stopped
/// before the listener.)
#[test]
fn a_walk_out_of_time_reads_the_smallest_tables_first() {
    let Some(ns) = NetNs::new() else {
        return;
    };
    if common::listener::dups_allowed(4_000).is_none() {
        eprintln!("SKIPPED: the hard limit on open descriptors is too low");
        return;
    }
    let copies = ns.listener(&["--dups", "4000", "--forks", "300", "tcp4"]);
    let own = ns.listener(&["tcp4"]);
    let doc = walk_within(&ns, "3s");
    assert_walk_named(&doc, &own);
    let notes = notes(&doc);
    let said = "the owner lookup did not finish within 3s: the /proc walk stopped";
    let Some(stopped) = notes.iter().find(|n| n.starts_with(said)) else {
        eprintln!("the walk finished within 3s: nothing left to name");
        return;
    };
    // Every process was taken, the last ones cut short in their tables: none left unread.
    let Some((_, named)) = stopped.split_once("the largest of those not read: ") else {
        eprintln!("every process was reached: {stopped}");
        return;
    };
    // The largest first: the copies' 4,000, or larger tables of the machine's.
    let sizes: Vec<u64> = named
        .split(", ")
        .filter_map(|each| {
            each.split_once(" (")?
                .1
                .strip_suffix(" descriptors)")?
                .parse()
                .ok()
        })
        .collect();
    assert!(
        sizes.first().is_some_and(|&n| n >= 4_000) && sizes.windows(2).all(|w| w[0] >= w[1]),
        "{stopped}"
    );
    drop(copies);
}

/// A deleted executable whose path, longer than PATH_MAX, is on a FUSE filesystem whose daemon
/// is stopped: judged by the kernel's mark alone, without waiting (the running file itself is
/// never asked: its filesystem may not answer).
#[test]
fn a_deleted_executable_with_a_long_path_on_a_stalled_fuse_mount_is_judged_without_waiting() {
    let dir = tempdir();
    let Some(hold) = common::compile_fixture(dir.path(), "hold") else {
        return;
    };
    let hold = hold.to_string_lossy();
    let Some(jam) = Jammed::start_fixture(&["--exe-long", &hold], &[], &["tcp4"]) else {
        return;
    };
    common::stop(jam.daemon);
    let home = tempdir();
    for lookup in ["bpf", "procfs"] {
        let message = deleted_at_once(&jam, home.path(), lookup);
        assert!(
            message.contains("longer than the kernel gives") && message.contains("not looked at"),
            "{lookup}: {message}"
        );
    }
}

/// An owner lookup that does not answer within the deadline is said to be the method it was
/// using then, not a `/proc` walk that never ran: the in-kernel lookup given 1 ms (loading
/// its programs takes longer: relocating them alone takes several; on a quiet machine 10 ms
/// was sometimes enough for the whole lookup) is `"bpf"`, or `null` if the lookup had not
/// begun either method by then; the walk, `"procfs"`. Before, every lookup out of time was
/// called `"procfs"`.
#[test]
fn a_lookup_out_of_time_is_said_to_be_the_method_it_was_using() {
    let home = tempdir();
    let mut lookups = vec!["procfs"];
    if common::owner_lookup() == "bpf" {
        lookups.push("bpf");
    }
    for lookup in lookups {
        let mut cmd = common::whoport(home.path());
        cmd.env("WHOPORT_OWNER_LOOKUP", lookup)
            .args(["--json", "--timeout", "1ms"]);
        let (status, out, err) = common::outcome(&mut cmd);
        assert!(matches!(status, 0 | 1), "{lookup}: ({status}) {err}");
        let doc: Value = serde_json::from_str(&out).expect("json");
        let late = notes(&doc)
            .iter()
            .any(|n| n.starts_with("the owner lookup did not finish within 1ms"));
        let said = &doc["owner_lookup"];
        if lookup == "bpf" {
            assert!(late, "{:?}", notes(&doc));
            assert!(*said == "bpf" || said.is_null(), "{said}");
        } else {
            assert!(*said == "procfs" || (late && said.is_null()), "{said}");
        }
    }
}

/// The processes a stopped `/proc` walk names, from its note: (how many it counts as not read
/// or not to the end, how many it names as being read when the time ran out, how many it names
/// among the largest not read).
fn named_in_stopped_walk(note: &str) -> (usize, usize, usize) {
    let count = |list: &str| -> usize {
        list.split(", ")
            .flat_map(|part| part.split(" and "))
            .map(|each| match each.strip_suffix(" more processes") {
                Some(n) => n.parse().expect("a count"),
                None => 1,
            })
            .sum()
    };
    let (_, after) = note
        .split_once("stopped with the descriptors of ")
        .expect("a count");
    let late = match after.split_once(' ') {
        Some(("1", _)) => 1,
        Some((n, _)) => n.parse().expect("a count"),
        None => panic!("{note}"),
    };
    let reading = note
        .split_once("; not to the end: ")
        .and_then(|(_, rest)| rest.split_once(", whose descriptors were"))
        .map_or(0, |(list, _)| count(list));
    let unread = note
        .split_once("the largest of those not read: ")
        .map_or(0, |(_, list)| list.split(", ").count());
    (late, reading, unread)
}

/// A `/proc` walk that runs out of time inside large tables (six processes with 19,000
/// copies of one socket each, `--timeout` short): every process it counts as not read, or not
/// to the end, is named, those whose descriptors it was reading when the time ran out too
/// ("not to the end: pid N (python3), whose descriptors were being read when the time ran
/// out"). Before, those were counted and not named. Conclusive when at most seven processes
/// were left unread (all of them named): the time is raised until one such stop is seen, and
/// the test fails when none is (it checked nothing); the in-kernel iterator is not a walk.
#[test]
fn a_walk_out_of_time_names_the_processes_it_was_reading() {
    let Some(ns) = NetNs::new() else {
        return;
    };
    let Some(dups) = common::listener::dups_allowed(10_000) else {
        eprintln!("SKIPPED: the hard limit on open descriptors is too low");
        return;
    };
    // The size of a descriptor directory is its number of descriptors (Linux 6.2+): the
    // processes left unread are then named.
    if std::fs::metadata("/proc/self/fd").is_ok_and(|m| m.len() == 0) {
        eprintln!("SKIPPED: this kernel does not give the size of descriptor tables");
        return;
    }
    let copies = ns.listener(&["--dups", &dups.to_string(), "--forks", "5", "tcp4"]);
    let mut checked = None;
    for timeout in [
        "50ms", "100ms", "200ms", "300ms", "400ms", "600ms", "800ms", "1200ms", "1600ms", "2400ms",
        "3200ms",
    ] {
        let doc = walk_within(&ns, timeout);
        let said = format!("the owner lookup did not finish within {timeout}: the /proc walk");
        let notes = notes(&doc);
        let Some(stopped) = notes.iter().find(|n| n.starts_with(&said)) else {
            // The lookup's answer may come just after the time it was given (a loaded
            // machine): then no walk is said to have stopped, and a longer time is tried.
            let late = format!("the owner lookup did not finish within {timeout}");
            if notes.contains(&late) {
                eprintln!("within {timeout}, the walk did not answer in time: {late}");
                continue;
            }
            eprintln!("the walk finished within {timeout}: nothing left to name");
            break;
        };
        let (late, reading, unread) = named_in_stopped_walk(stopped);
        if unread >= 8 {
            // More may have been left than are named: try a longer time.
            eprintln!("within {timeout}, more were left unread than are named: {stopped}");
            continue;
        }
        assert_eq!(late, reading + unread, "{stopped}");
        eprintln!("checked within {timeout}: {stopped}");
        checked = Some(timeout);
        break;
    }
    drop(copies);
    assert!(
        checked.is_some(),
        "no time stopped the walk with at most seven processes left unread: nothing was checked"
    );
}

/// A registry given with `--registry` that takes longer to load than `--timeout` (a CSV near
/// the 8 MiB limit, parsed, not waited for): the owner's details are still read, in the time
/// `--timeout` gives them. Before, the registry was loaded while the owner lookup ran, under
/// the look's deadline, and the details were given what was left of it: nothing, and a note
/// blamed the process ("details of pid N not read within ...").
#[test]
fn a_registry_slower_to_load_than_the_timeout_leaves_the_owners_details_their_time() {
    let home = tempdir();
    let csv = home.path().join("big.csv");
    let mut text = String::from(
        "Service Name,Port Number,Transport Protocol,Description,Assignee,Contact,\
         Registration Date,Modification Date,Reference,Service Code,Unauthorized Use Reported,\
         Assignment Notes\n",
    );
    let mut n = 0u32;
    while text.len() < 8_000_000 {
        let port = n / 2 % 65535 + 1;
        let proto = if n % 2 == 0 { "tcp" } else { "udp" };
        text.push_str(&format!(
            "svc{n},{port},{proto},{},[Someone_{n}],[Someone_{n}],2001-01-01,2020-02-02,\
             [RFC{n}],,,{}\n",
            "A description of a service ".repeat(3),
            "note ".repeat(10)
        ));
        n += 1;
    }
    std::fs::write(&csv, text).expect("write");
    // How long the registry takes to load here: the fastest of three.
    let load = (0..3)
        .map(|_| {
            let began = std::time::Instant::now();
            let (status, _, err) = common::outcome(
                common::whoport(home.path())
                    .args(["registry", "info", "--registry"])
                    .arg(&csv)
                    .limit(QUICK),
            );
            assert_eq!(status, 0, "the registry loads: {err}");
            began.elapsed()
        })
        .min()
        .expect("three runs");
    // Less than the load: the details had nothing left. The lookup itself, which runs while
    // the registry loads, takes a fraction of it.
    let timeout = format!("{}ms", (load.as_millis() * 3 / 4).max(100));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (status, out, err) = common::outcome(
        common::whoport(home.path())
            .arg("--registry")
            .arg(&csv)
            .args(["--timeout", &timeout, "--json", &port.to_string()])
            .limit(QUICK),
    );
    drop(listener);
    assert_eq!(status, 0, "{err}");
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    let owner = owner_of(&doc, port);
    assert_eq!(
        owner["pid"].as_u64(),
        Some(u64::from(std::process::id())),
        "registry loads in {load:?}, --timeout {timeout}: {doc}"
    );
    let late: Vec<String> = notes(&doc)
        .into_iter()
        .filter(|n| n.contains("not read within"))
        .collect();
    assert!(
        late.is_empty(),
        "registry loads in {load:?}, --timeout {timeout}: {late:?}"
    );
    assert!(
        owner["cmdline"].as_array().is_some_and(|c| !c.is_empty()),
        "registry loads in {load:?}, --timeout {timeout}: {owner}"
    );
}
