//! The one list of what the test suite needs from outside the crate, and the record of every
//! test skipped for want of it (read back by the `prerequisites` test binary, which cargo
//! runs without capturing its output).
//!
//! A test that needs an outside program calls `common::have("name", ...)`; the name must be in
//! [`PREREQUISITES`]. To add one: one row here, and its package in `.ci/run`'s install list.

use std::io::Write;
use std::path::PathBuf;

/// How a prerequisite is found.
#[derive(Debug, Clone, Copy)]
pub enum Check {
    /// A program on PATH.
    Program(&'static str),
    /// A module Debian's /usr/bin/python3 can import.
    PythonModule(&'static str),
    /// Running as root (CI does; the unprivileged re-run skips these by design).
    Root,
}

#[derive(Debug, Clone, Copy)]
pub struct Prerequisite {
    /// The name tests use (`have(NAME, ...)`) and the skip record counts.
    pub name: &'static str,
    pub check: Check,
    /// The Debian package that brings it.
    pub package: &'static str,
    /// What the tests use it for.
    pub used_for: &'static str,
}

const fn program(
    name: &'static str,
    package: &'static str,
    used_for: &'static str,
) -> Prerequisite {
    Prerequisite {
        name,
        check: Check::Program(name),
        package,
        used_for,
    }
}

/// Everything the tests need: one row each.
pub const PREREQUISITES: &[Prerequisite] = &[
    program(
        "python3",
        "python3",
        "real listeners (tests/fixtures/listen.py)",
    ),
    program("ss", "iproute2", "comparing the listing with ss"),
    program(
        "ip",
        "iproute2",
        "loopback up in a private network namespace",
    ),
    program(
        "unshare",
        "util-linux",
        "private network, mount and PID namespaces",
    ),
    program("nsenter", "util-linux", "entering a test's namespaces"),
    program(
        "runuser",
        "util-linux",
        "the unprivileged re-run in .ci/run",
    ),
    program("prlimit", "util-linux", "resource limits on whoport"),
    program("cc", "gcc", "small C shims (LD_PRELOAD)"),
    program("promtool", "prometheus", "checking the Prometheus output"),
    program(
        "prometheus-node-exporter",
        "prometheus-node-exporter",
        "the textfile collector reading the Prometheus output",
    ),
    program(
        "setcap",
        "libcap2-bin",
        "a copy of whoport with file capabilities",
    ),
    program(
        "timeout",
        "coreutils",
        "a time limit around each test binary in .ci/run",
    ),
    program("time", "time", "peak memory of a run (GNU time)"),
    program(
        "strace",
        "strace",
        "counting the BPF objects a run of the real binary loads",
    ),
    program("getent", "libc-bin", "user names from NSS"),
    program("clang", "clang", "rebuilding the BPF object to compare it"),
    program(
        "llvm-strip",
        "llvm",
        "rebuilding the BPF object to compare it",
    ),
    program(
        "bpftool",
        "bpftool",
        "checking nothing of whoport's stays in the kernel",
    ),
    program("setpriv", "util-linux", "daemons started as other users"),
    program(
        "setarch",
        "util-linux",
        "a kernel release older than Linux 4.13, as whoport sees it",
    ),
    program("ssh-keygen", "openssh-client", "host keys for a real sshd"),
    program("sshd", "openssh-server", "a real sshd for the audit"),
    program("nginx", "nginx", "a real nginx with workers for the audit"),
    program("redis-server", "redis-server", "a real redis for the audit"),
    program(
        "pg_ctlcluster",
        "postgresql",
        "a real PostgreSQL (on loopback) for the audit",
    ),
    program("chronyd", "chrony", "a real NTP daemon for the audit"),
    program("memcached", "memcached", "a real memcached for the audit"),
    program("rsync", "rsync", "a real rsync daemon for the audit"),
    program("dnsmasq", "dnsmasq-base", "a real DNS server for the audit"),
    program(
        "postfix",
        "postfix",
        "a real Postfix (root master) for the audit",
    ),
    program(
        "dovecot",
        "dovecot-imapd",
        "a real Dovecot (root master, imap-login) for the audit",
    ),
    program(
        "apache2",
        "apache2",
        "a real Apache with workers for the audit",
    ),
    Prerequisite {
        name: "fusepy",
        check: Check::PythonModule("fusepy"),
        package: "python3-fusepy",
        used_for: "a FUSE filesystem whose daemon is stopped (tests/fixtures/stalled_fuse.py)",
    },
    Prerequisite {
        name: "root",
        check: Check::Root,
        package: "",
        used_for: "namespaces, mounts, setuid copies, other users' processes",
    },
];

/// The row for `name`; a name missing from the table fails the test that asked for it.
pub fn prerequisite(name: &str) -> &'static Prerequisite {
    PREREQUISITES
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| {
            panic!("'{name}' is not in the prerequisites table: add a row to tests/common/prerequisites.rs (and its package to .ci/run)")
        })
}

/// The install command for the packages of `names`.
pub fn install_command<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let mut packages: Vec<&str> = names
        .into_iter()
        .map(|n| prerequisite(n).package)
        .filter(|p| !p.is_empty())
        .collect();
    packages.sort_unstable();
    packages.dedup();
    format!("apt-get install -y {}", packages.join(" "))
}

/// Is it there?
pub fn present(p: &Prerequisite) -> bool {
    match p.check {
        Check::Program(program) => std::env::var_os("PATH").is_some_and(|paths| {
            std::env::split_paths(&paths).any(|dir| dir.join(program).is_file())
        }),
        Check::PythonModule(module) => std::process::Command::new("/usr/bin/python3")
            .args(["-c", &format!("import {module}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success()),
        Check::Root => super::is_root(),
    }
}

/// Where the skips of this run are recorded: one file per run of the suite (`cargo test`
/// starts every test binary from the same cargo process; `.ci/run` names its runs).
pub fn skip_log() -> PathBuf {
    let run = std::env::var("WHOPORT_TEST_RUN").unwrap_or_else(|_| {
        let parent = rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get());
        let started = std::fs::read(format!("/proc/{parent}/stat"))
            .ok()
            .and_then(|s| {
                let s = String::from_utf8_lossy(&s).into_owned();
                let rest = s.rsplit_once(')')?.1.to_string();
                rest.split_whitespace().nth(19).map(str::to_string)
            })
            .unwrap_or_default();
        format!("{parent}-{started}")
    });
    std::env::temp_dir().join(format!(
        "whoport-tests-skipped-{}-{run}",
        rustix::process::getuid().as_raw()
    ))
}

/// Records that the running test skipped for want of `name`.
pub fn record_skip(name: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("?")
        .replace(['\t', '\n'], " ");
    let binary = std::env::args()
        .next()
        .map(|a| {
            let base = a.rsplit('/').next().unwrap_or("?").to_string();
            base.rsplit_once('-')
                .map_or(base.clone(), |(b, _)| b.to_string())
        })
        .unwrap_or_default();
    use std::os::unix::fs::OpenOptionsExt;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(skip_log())
    {
        let _ = writeln!(f, "{name}\t{binary}::{test}");
    }
}
