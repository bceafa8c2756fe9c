//! Shared helpers for the integration tests: the real binary with a clean environment.
#![allow(dead_code)]

pub mod bounded;
pub mod listener;
pub mod netns;
pub mod prerequisites;
#[cfg(unix)]
pub mod special;

use std::path::{Path, PathBuf};

pub use bounded::Run;

/// The one row of `doc` for the TCP listener on 127.0.0.1:`port` (`lookup` names the run in
/// the failure).
pub fn loopback_tcp_row<'a>(
    doc: &'a serde_json::Value,
    port: u64,
    lookup: &str,
) -> &'a serde_json::Value {
    let rows: Vec<&serde_json::Value> = doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .filter(|l| l["port"] == port && l["address"] == "127.0.0.1" && l["protocol"] == "tcp")
        .collect();
    assert_eq!(rows.len(), 1, "{lookup}: the listener on {port} is listed");
    rows[0]
}

/// The reason of the TCP listener on 127.0.0.1:`port`, which has no owner.
pub fn ownerless_reason(doc: &serde_json::Value, port: u64, lookup: &str) -> String {
    let row = loopback_tcp_row(doc, port, lookup);
    assert!(
        row["owners"].as_array().is_some_and(Vec::is_empty),
        "{lookup}: {row:?}"
    );
    row["owner_hidden_reason"]
        .as_str()
        .expect("reason")
        .to_string()
}

/// The notes of a `--json` document.
pub fn notes(doc: &serde_json::Value) -> Vec<&str> {
    doc["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect()
}

/// The path of the binary under test (for shell lines; run it through [`whoport`] or [`sh`]).
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_whoport"))
}

/// The `whoport` binary with NO_COLOR, COLUMNS, TERM and WHOPORT_* scrubbed, and a data
/// directory of its own so that no installed registry of the machine leaks in. It runs under
/// a hard time limit ([`bounded::LIMIT`]).
///
/// Owners are looked up the way [`owner_lookup`] says, so that every live test runs once
/// with the in-kernel iterator and once with the `/proc` walk (CI runs the live test
/// binaries twice).
pub fn whoport(data_home: &Path) -> Run {
    command(data_home, &bin())
}

/// `program` with the same clean environment and time limit as [`whoport`]: a copy of the
/// binary, or a wrapper (`prlimit ... --`) given the binary as an argument.
pub fn command(data_home: &Path, program: &Path) -> Run {
    let mut cmd = Run::new(program);
    for (key, _) in std::env::vars_os() {
        let key_text = key.to_string_lossy();
        if key_text.starts_with("WHOPORT_") {
            cmd.env_remove(&key);
        }
    }
    cmd.env("WHOPORT_OWNER_LOOKUP", owner_lookup())
        .env("WHOPORT_TIMEOUT", TIMEOUT)
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS")
        .env_remove("TERM")
        .env("XDG_DATA_HOME", data_home)
        .env("XDG_CONFIG_HOME", data_home.join("config"));
    cmd
}

/// The collection deadline of every run (`WHOPORT_TIMEOUT`, the default of `--timeout`):
/// longer than the default 10 s, so that a machine busy with parallel test binaries never cuts
/// a run's process details short (tests of the deadline pass `--timeout` themselves), and
/// shorter than the time limit of a run.
pub const TIMEOUT: &str = "45s";

/// What runs a program as nobody with CAP_BPF and CAP_PERFMON only (the in-kernel lookup's
/// minimum): `setpriv` and its arguments, the program after them.
#[allow(dead_code)]
pub const NOBODY_WITH_BPF: [&str; 6] = [
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "--inh-caps=+bpf,+perfmon",
    "--ambient-caps=+bpf,+perfmon",
];

/// The owner lookup the live tests ask for: `WHOPORT_TEST_OWNER_LOOKUP` (`bpf` or `procfs`),
/// `bpf` by default, which uses the iterator whatever the machine's size, where it can load
/// (root, BTF); elsewhere the walk, asked for as such (asked for where it cannot load, the
/// iterator is tried and `notes` says why it was not used: tests/bpf.rs checks that).
pub fn owner_lookup() -> &'static str {
    match std::env::var("WHOPORT_TEST_OWNER_LOOKUP").as_deref() {
        Ok("procfs") => "procfs",
        _ if !is_root() || !Path::new("/sys/kernel/btf/vmlinux").exists() => "procfs",
        _ => "bpf",
    }
}

/// A fresh temporary directory (removed when dropped).
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

/// A fresh temporary directory that every user may write: the data directory of a run as
/// `nobody`.
pub fn shared_tempdir() -> tempfile::TempDir {
    let dir = tempdir();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .expect("chmod");
    dir
}

/// Runs whoport with `args` in a fresh data directory; returns (status, stdout, stderr).
pub fn run(args: &[&str]) -> (i32, String, String) {
    let dir = tempdir();
    run_in(dir.path(), args)
}

pub fn run_in(data_home: &Path, args: &[&str]) -> (i32, String, String) {
    outcome(whoport(data_home).args(args))
}

/// Runs a command made by [`whoport`] or [`command`]; (status, stdout, stderr), the status
/// -1 when a signal ended it.
pub fn outcome(cmd: &mut Run) -> (i32, String, String) {
    let out = cmd.output().expect("whoport runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    )
}

/// Runs whoport with `args` and parses its stdout as JSON; the run must not fail (status 0,
/// or 1 for "nothing is listening").
pub fn json(args: &[&str]) -> serde_json::Value {
    let (status, stdout, stderr) = run(args);
    assert!(
        status == 0 || status == 1,
        "whoport {args:?} failed ({status}): {stderr}"
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("invalid JSON ({e}): {stdout}"))
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Compiles the C fixture `tests/fixtures/NAME.c` into `dir/NAME` (with `-lpthread`), runnable
/// by every user: `None` where there is no C compiler (a failure under `CI=true`, a visible
/// skip otherwise).
pub fn compile_fixture(dir: &Path, name: &str) -> Option<PathBuf> {
    if !have("cc", "apt-get install -y gcc") {
        return None;
    }
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let out = dir.join(name);
    let ok = std::process::Command::new("cc")
        .arg("-o")
        .arg(&out)
        .arg(fixture(&format!("{name}.c")))
        .arg("-lpthread")
        .status()
        .expect("cc runs")
        .success();
    assert!(ok, "{name}.c compiles");
    Some(out)
}

/// `dir/no_netlink.so`, an LD_PRELOAD shim that makes every netlink socket fail (as gVisor,
/// WSL1 or a seccomp filter do), so that whoport falls back to /proc/net: `None` where there
/// is no C compiler.
pub fn no_netlink_shim(dir: &Path) -> Option<std::path::PathBuf> {
    if !have("cc", "apt-get install -y gcc") {
        return None;
    }
    let shim = dir.join("no_netlink.so");
    let built = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&shim)
        .arg(fixture("no_netlink.c"))
        .arg("-ldl")
        .status()
        .expect("cc runs");
    assert!(built.success(), "the shim compiles");
    Some(shim)
}

/// The shared copy of IANA's CSV, when this checkout sits beside it.
pub fn shared_iana_csv() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/data/iana/service-names-port-numbers.csv");
    p.exists().then_some(p)
}

/// Checks that an outside program (a row of [`prerequisites::PREREQUISITES`]) is installed.
/// When it is missing: a loud SKIPPED line, a record for the prerequisites report, and
/// `false`, except under `CI=true`, where it is a failure.
pub fn have(program: &str, _install: &str) -> bool {
    need(program)
}

/// Like [`have`], for any row of the prerequisites table (a program, a Python module, root).
pub fn need(name: &str) -> bool {
    let p = prerequisites::prerequisite(name);
    if prerequisites::present(p) {
        return true;
    }
    if matches!(p.check, prerequisites::Check::Root) {
        // The unprivileged re-run skips these by design, CI or not.
        eprintln!("SKIPPED: needs root ({})", p.used_for);
    } else {
        let install = prerequisites::install_command([name]);
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("'{name}' is required under CI=true; install it with: {install}");
        }
        eprintln!("SKIPPED: '{name}' is not installed; install it with: {install}");
    }
    prerequisites::record_skip(name);
    false
}

/// True when running as root; otherwise a SKIPPED line naming `why`, recorded for the
/// prerequisites report.
pub fn root_or_skip(why: &str) -> bool {
    if is_root() {
        return true;
    }
    eprintln!("SKIPPED: {why} needs root");
    prerequisites::record_skip("root");
    false
}

/// Root, in a private mount namespace, with the kernel's BTF (both owner lookups can run):
/// `false` after a SKIPPED line otherwise.
pub fn mount_namespace_with_btf_or_skip() -> bool {
    if !root_or_skip("a private mount namespace") {
        return false;
    }
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        eprintln!("SKIPPED: the in-kernel lookup needs the kernel's BTF");
        prerequisites::record_skip("BTF");
        return false;
    }
    true
}

/// Runs whoport with `args` and parses stdout as JSON, returning the status too.
pub fn json_status(args: &[&str]) -> (i32, serde_json::Value) {
    let (status, stdout, stderr) = run(args);
    assert!(
        status == 0 || status == 1,
        "whoport {args:?} failed ({status}): {stderr}"
    );
    let v =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("invalid JSON ({e}): {stdout}"));
    (status, v)
}

/// The outcome of a name that is neither a service nor the name of a process seen listening:
/// an error (exit status 2); or, when some listeners' owners could not be seen (another
/// user's, as non-root; a process even root cannot read), exit status 1 with those listeners
/// counted on standard output, since one of them may be a process of that name. What is wrong
/// with the name is on standard error either way.
pub fn unknown_name(status: i32, stdout: &str) -> bool {
    status == 2 || (status == 1 && stdout.contains("whoport could not see"))
}

/// Whether `/proc` keeps process `pid`'s descriptors from this test process: its fd directory
/// or one of its links cannot be read (permission), as a microVM's init's are even to root.
pub fn closed_to_root(pid: u32) -> bool {
    let denied = |e: &std::io::Error| e.kind() == std::io::ErrorKind::PermissionDenied;
    match std::fs::read_dir(format!("/proc/{pid}/fd")) {
        Err(e) => denied(&e),
        Ok(dir) => dir
            .flatten()
            .any(|entry| std::fs::read_link(entry.path()).is_err_and(|e| denied(&e))),
    }
}

/// The PIDs the kernel's task iterators visit, read by a program of the tests' own
/// (`tests/fixtures/visited.bpf.c`) in a private mount namespace, independently of whoport's:
/// `None` where it cannot be read (not root, no BTF, clang or bpftool missing).
pub fn iterator_visits() -> Option<std::collections::HashSet<u32>> {
    if !is_root() || !Path::new("/sys/kernel/btf/vmlinux").exists() {
        return None;
    }
    if !have("clang", "apt-get install -y clang") || !have("bpftool", "apt-get install -y bpftool")
    {
        return None;
    }
    let dir = tempdir();
    let object = dir.path().join("visited.o");
    let built = std::process::Command::new("clang")
        .args(["-O2", "-g", "-target", "bpf", "-c"])
        .arg(fixture("visited.bpf.c"))
        .arg("-o")
        .arg(&object)
        .status()
        .expect("clang runs")
        .success();
    assert!(built, "visited.bpf.c compiles");
    let fs = dir.path().join("bpffs");
    std::fs::create_dir(&fs).expect("mkdir");
    let script = format!(
        "mount -t bpf bpf {fs} && bpftool iter pin {obj} {fs}/visited && cat {fs}/visited",
        fs = fs.display(),
        obj = object.display()
    );
    let out = Run::new(Path::new("unshare"))
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .expect("unshare runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect(),
    )
}

/// The PIDs `/proc` lists now.
pub fn pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// The processes neither `/proc` shows to root nor the kernel's task iterators visit (a
/// microVM's init on some machines): any of them may hold any socket, and whoport must say it
/// did not read them. `None` where the iterator cannot be read here.
pub fn unseen_by_root() -> Option<Vec<u32>> {
    let visits = iterator_visits()?;
    let mut unseen: Vec<u32> = pids()
        .into_iter()
        .filter(|pid| !visits.contains(pid))
        .filter(|&pid| closed_to_root(pid))
        .collect();
    unseen.sort_unstable();
    Some(unseen)
}

/// Whether `pid` is gone, or a descendant of this test process: a process another test of
/// this binary started (and maybe ended) while the test that asks ran.
pub fn started_by_this_test_binary(pid: u32) -> bool {
    let me = std::process::id();
    let mut at = pid;
    for _ in 0..64 {
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{at}/stat")) else {
            return at == pid; // gone
        };
        let Some(parent) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
        else {
            return false;
        };
        if parent == me {
            return true;
        }
        if parent <= 1 {
            return false;
        }
        at = parent;
    }
    false
}

/// Is this test process root?
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// The real binary, run as the unprivileged user 'nobody' (the caller must be root), with a
/// data directory of its own, under the same time limit.
pub fn whoport_as_nobody(data_home: &Path) -> Run {
    let mut cmd = whoport(data_home);
    cmd.env("XDG_CONFIG_HOME", data_home).uid(65534).gid(65534);
    cmd
}

/// Runs a command line through `sh -c` (it names the binary with `$WHOPORT`), with a clean
/// data directory, under the time limit (the whole process group is killed on expiry);
/// returns (status, stdout, stderr).
pub fn sh(script: &str) -> (i32, String, String) {
    sh_within(script, bounded::LIMIT)
}

/// [`sh`] for a script that does more than one run's work (starts daemons, runs whoport
/// several times): the whole script gets `limit`.
pub fn sh_within(script: &str, limit: std::time::Duration) -> (i32, String, String) {
    let home = tempdir();
    let mut run = Run::new("sh");
    run.limit(limit)
        .args(["-c", script])
        .env("WHOPORT", bin())
        .env("WHOPORT_OWNER_LOOKUP", owner_lookup())
        .env("WHOPORT_TIMEOUT", TIMEOUT)
        .env("XDG_DATA_HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path())
        .env_remove("NO_COLOR");
    let out = run.output().expect("sh runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Peak memory allowed for refusing a huge or hostile input.
pub const PEAK_KIB: u64 = 50 * 1024;

/// Runs whoport under GNU time (`have("time", ...)` first); (status, stdout, stderr without
/// time's line, peak RSS in KiB).
pub fn measured(home: &Path, args: &[&str], stdin: Option<Vec<u8>>) -> (i32, String, String, u64) {
    let bin = bin();
    let mut run: Run = command(home, Path::new("/usr/bin/time"));
    run.args([
        "-q",
        "-f",
        "peak-rss-kib=%M",
        bin.to_str().expect("utf8 path"),
    ])
    .args(args);
    if let Some(input) = stdin {
        run.write_stdin(input);
    }
    let out = run.output().expect("runs");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let (rest, peak) = err
        .trim_end()
        .rsplit_once("peak-rss-kib=")
        .unwrap_or_else(|| panic!("no measurement: {err}"));
    let peak = peak.trim().parse().expect("KiB");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        rest.to_string(),
        peak,
    )
}

/// Checks that a Python module (a row of the prerequisites table) is importable by Debian's
/// /usr/bin/python3, where Debian's python3-* packages install; like [`have`].
pub fn have_python_module(module: &str, _install: &str) -> bool {
    need(module)
}

/// The first line a helper prints on stdout (its "ready" line), read under `limit`: a helper
/// that never says it is ready is killed and the test fails.
pub fn ready_line(child: &mut std::process::Child, limit: std::time::Duration) -> String {
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
        let _ = tx.send(line);
    });
    match rx.recv_timeout(limit) {
        Ok(line) => line,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the helper did not report within {} s", limit.as_secs());
        }
    }
}

/// Waits for `child` to end, at most `limit`; false if it is still running.
pub fn wait_for(child: &mut std::process::Child, limit: std::time::Duration) -> bool {
    let end = std::time::Instant::now() + limit;
    while std::time::Instant::now() < end {
        if !matches!(child.try_wait(), Ok(None)) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    false
}

/// The state letter of each thread of `pid` (`/proc/PID/task/TID/stat`); empty once it is gone.
#[cfg(target_os = "linux")]
fn thread_states(pid: u32) -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .map(|t| {
            let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
            let after_name = stat.rsplit(')').next().unwrap_or("");
            after_name
                .split_whitespace()
                .next()
                .unwrap_or("?")
                .to_string()
        })
        .collect()
}

/// Sends SIGSTOP to `pid` and waits (bounded) until every one of its threads has stopped:
/// until then, a thread that has not yet taken the stop may still answer a request (a FUSE
/// daemon serving one more read).
#[cfg(target_os = "linux")]
pub fn stop(pid: u32) {
    use rustix::process::{kill_process, Pid, Signal};
    let target = Pid::from_raw(pid as i32).expect("a pid");
    kill_process(target, Signal::STOP).expect("stop a helper");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let states = thread_states(pid);
        if !states.is_empty() && states.iter().all(|s| s == "T") {
            return;
        }
        assert!(
            std::time::Instant::now() < until,
            "pid {pid} did not stop:\n{}",
            threads(pid)
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Each thread of `pid`: its name, state, wait channel and system call, one per line (for a
/// test's failure message).
#[cfg(target_os = "linux")]
pub fn threads(pid: u32) -> String {
    let read = |path: PathBuf| std::fs::read_to_string(path).unwrap_or_default();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return format!("pid {pid}: gone\n");
    };
    tasks
        .flatten()
        .map(|t| {
            let t = t.path();
            let stat = read(t.join("stat"));
            let state = stat.rsplit(')').next().unwrap_or("");
            format!(
                "{} {} {} wchan={} syscall={}\n",
                t.display(),
                read(t.join("comm")).trim(),
                state.split_whitespace().next().unwrap_or("?"),
                read(t.join("wchan")),
                read(t.join("syscall")).trim()
            )
        })
        .collect()
}

/// The addresses of the listeners a `--json` run shows, as `endpoint`s, sorted.
pub fn endpoints(doc: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .map(|l| l["endpoint"].as_str().expect("endpoint").to_string())
        .collect();
    out.sort();
    out
}

/// A child process closed (its standard input), killed and reaped when dropped, whether the
/// test passes or not.
pub struct Reaped(pub std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until the main thread of `pid` has exited (a zombie while its other threads run).
pub fn leader_exited(pid: u32) {
    let stat = format!("/proc/{pid}/stat");
    let exited = (0..500).any(|_| {
        let state = std::fs::read_to_string(&stat).unwrap_or_default();
        let zombie = state
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z'));
        if !zombie {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        zombie
    });
    assert!(exited, "the main thread of {pid} did not exit");
}
