//! A private network namespace for tests that need fixed ports (3000, 9200...) without
//! touching the machine's own: a holder process keeps it alive, `nsenter` runs in it.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::bounded::Run;
use super::listener::{python, Listener};
use super::{bin, fixture, have};

/// `ip` arguments that make a range this machine's by a route, not an interface ("AnyIP", as
/// transparent proxies and anycast services set up): IPv4 and IPv6.
pub const ANYIP_V4: &[&str] = &["route", "add", "local", "10.77.0.0/16", "dev", "lo"];
pub const ANYIP_V6: &[&str] = &[
    "-6",
    "route",
    "add",
    "local",
    "2001:db8:77::/64",
    "dev",
    "lo",
];

/// A network namespace with only loopback up, alive until dropped (its holder is killed by
/// PID).
pub struct NetNs {
    holder: Child,
    pub pid: u32,
}

impl NetNs {
    /// `None` (after a SKIPPED line) when not root or a tool is missing.
    pub fn new() -> Option<NetNs> {
        if python().is_none()
            || !have("unshare", "apt-get install -y util-linux")
            || !have("nsenter", "apt-get install -y util-linux")
            || !have("ip", "apt-get install -y iproute2")
        {
            return None;
        }
        if !super::root_or_skip("a private network namespace") {
            return None;
        }
        let mut holder = Command::new("unshare")
            .args([
                "--net",
                "sh",
                "-c",
                "ip link set lo up && echo up && exec sleep 300",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("unshare runs");
        let mut line = String::new();
        use std::io::BufRead;
        std::io::BufReader::new(holder.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("holder reports");
        assert_eq!(line.trim(), "up", "loopback up in the namespace");
        let pid = holder.id();
        Some(NetNs { holder, pid })
    }

    /// [`NetNs::new`], then `ip ARGS` for each of `setups`, in order (devices, addresses,
    /// routes).
    pub fn set_up(setups: &[&[&str]]) -> Option<NetNs> {
        let ns = NetNs::new()?;
        for setup in setups {
            ns.ip(setup);
        }
        ns.settled();
        Some(ns)
    }

    /// Waits (at most 10 s) until no IPv6 address of the namespace is tentative: until a new
    /// device's duplicate address detection ends, IPv6 packets through it are dropped, and a
    /// test's own connection would time out on a quick machine.
    fn settled(&self) {
        for _ in 0..100 {
            let out = self
                .command(Path::new("ip"))
                .args(["-6", "addr", "show", "tentative"])
                .output()
                .expect("ip runs");
            if out.stdout.is_empty() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg("-t")
            .arg(self.pid.to_string())
            .arg("-n")
            .arg("--")
            .arg(program);
        cmd
    }

    /// `ip ARGS` inside the namespace (a device, an address); the test fails if it fails.
    pub fn ip(&self, args: &[&str]) {
        let status = self
            .command(Path::new("ip"))
            .args(args)
            .status()
            .expect("ip runs");
        assert!(status.success(), "ip {args:?}");
    }

    /// `listen.py ARGS` inside the namespace.
    pub fn listener(&self, args: &[&str]) -> Listener {
        let mut cmd = self.command(&python().expect("python3"));
        cmd.arg(fixture("listen.py")).args(args);
        Listener::start_command(cmd)
    }

    /// `listen.py ARGS` run by a copy of the system's python installed as
    /// `/usr/local/bin/NAME` (a system path) on a tmpfs of a private mount namespace of its own:
    /// a program whose name its file establishes. `None` (after a SKIPPED line) without a
    /// system python. Run whoport in that mount namespace ([`NetNs::in_mounts_of`]) to see the
    /// file at that path.
    pub fn installed(&self, name: &str, args: &[&str]) -> Option<Listener> {
        let Ok(python) = std::fs::canonicalize("/usr/bin/python3") else {
            eprintln!("SKIPPED: no /usr/bin/python3");
            return None;
        };
        let mut cmd = self.command(Path::new("unshare"));
        cmd.args(["-m", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "mount -t tmpfs -o mode=0755 tmpfs /usr/local/bin && cp {} /usr/local/bin/{name} \
                 && exec /usr/local/bin/{name} \"$@\"",
                python.display()
            ))
            .arg("sh")
            .arg(fixture("listen.py"))
            .args(args);
        Some(Listener::start_command(cmd))
    }

    /// The wrapper that runs whoport in the mount namespace of `l` ([`NetNs::whoport_wrapped`]).
    pub fn in_mounts_of(l: &Listener) -> Vec<String> {
        ["nsenter", "-m", "-t", &l.pid.to_string(), "--"]
            .map(String::from)
            .to_vec()
    }

    /// The real binary inside the namespace, with a clean environment and the shared time
    /// limit; (status, stdout, stderr).
    pub fn whoport(&self, data_home: &Path, args: &[&str]) -> (i32, String, String) {
        self.whoport_with(data_home, &[], args)
    }

    /// [`NetNs::whoport`] with these environment variables set as well (after the clean-up, and
    /// after the owner lookup the tests ask for, which they may override).
    pub fn whoport_with(
        &self,
        data_home: &Path,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> (i32, String, String) {
        self.whoport_wrapped(data_home, env, &[], args)
    }

    /// [`NetNs::whoport_with`] run through `wrapper`: a program and its arguments that run the
    /// binary given after them (a private mount namespace, say).
    pub fn whoport_wrapped(
        &self,
        data_home: &Path,
        env: &[(&str, &str)],
        wrapper: &[&str],
        args: &[&str],
    ) -> (i32, String, String) {
        let out = self.run(data_home, env, wrapper, args);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// [`NetNs::whoport_with`] under GNU time: (status, stdout, stderr without the
    /// measurement, peak resident set in KiB).
    pub fn measured(
        &self,
        data_home: &Path,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> (i32, String, String, u64) {
        let timed = ["/usr/bin/time", "-q", "-f", "peak-rss-kib=%M"];
        let out = self.run(data_home, env, &timed, args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let (rest, peak) = err
            .trim_end()
            .rsplit_once("peak-rss-kib=")
            .unwrap_or_else(|| panic!("no measurement: {err}"));
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            rest.to_string(),
            peak.trim().parse().expect("KiB"),
        )
    }

    /// The real binary inside the namespace (after `wrapper`, a program and its arguments
    /// that run it), with a clean environment, `env` and the shared time limit.
    fn run(
        &self,
        data_home: &Path,
        env: &[(&str, &str)],
        wrapper: &[&str],
        args: &[&str],
    ) -> std::process::Output {
        let mut cmd = Run::new("nsenter");
        cmd.args(["-t", &self.pid.to_string(), "-n", "--"])
            .args(wrapper)
            .arg(bin())
            .args(args);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("WHOPORT_") {
                cmd.env_remove(&key);
            }
        }
        cmd.env("WHOPORT_OWNER_LOOKUP", super::owner_lookup())
            .env("WHOPORT_TIMEOUT", super::TIMEOUT)
            .env_remove("NO_COLOR")
            .env_remove("COLUMNS")
            .env_remove("TERM")
            .env("XDG_DATA_HOME", data_home)
            .env("XDG_CONFIG_HOME", data_home.join("config"))
            .envs(env.iter().copied())
            .output()
            .expect("whoport runs")
    }
}

impl NetNs {
    /// `whoport --json` inside the namespace with the `lookup` owner lookup, its `bpf()` calls
    /// traced (`strace -f`, one file in `home`): its output and the trace.
    pub fn whoport_bpf_traced(&self, home: &Path, lookup: &str) -> (std::process::Output, String) {
        let trace = home.join("bpf.trace");
        let out = super::command(home, Path::new("nsenter"))
            .args(["-t", &self.pid.to_string(), "-n", "--"])
            .args(["strace", "-f", "-qq", "-e", "trace=bpf", "-o"])
            .arg(&trace)
            .arg(bin())
            .arg("--json")
            .env("WHOPORT_OWNER_LOOKUP", lookup)
            .output()
            .expect("strace runs");
        let text = std::fs::read_to_string(&trace).expect("the trace");
        (out, text)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// A wrapper for [`NetNs::whoport_wrapped`] that runs `script` in a private mount namespace of
/// its own (the mounts it makes go with it); the script then runs the binary with `exec "$0"
/// "$@"`.
pub fn in_private_mount_ns(script: &str) -> [&str; 7] {
    [
        "unshare",
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
    ]
}
