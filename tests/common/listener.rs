//! Real listeners in child processes, for tests: bound on loopback, held until dropped, killed
//! by PID.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;

use super::{fixture, have};

/// The real Python interpreter (not a shim script), found once; `None` (after a SKIPPED
/// line) when python3 is not installed.
pub fn python() -> Option<PathBuf> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            if !have("python3", "apt-get install -y python3") {
                return None;
            }
            let out = Command::new("python3")
                .args(["-c", "import sys; print(sys.executable)"])
                .output()
                .expect("python3 runs");
            Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        })
        .clone()
}

/// A Python script that listens on 127.0.0.1, port `argv[1]`, creates the file `argv[2]` once
/// it does, and sleeps 120 s: the program a test's "container" runs from a copy.
pub const LISTEN_AND_SIGNAL: &str = "import socket, sys, time\ns = socket.socket()\n\
    s.bind(('127.0.0.1', int(sys.argv[1])))\ns.listen()\nopen(sys.argv[2], 'w').close()\n\
    time.sleep(120)\n";

/// The interpreter's installation prefix: a copy of the interpreter elsewhere needs it as
/// PYTHONHOME.
pub fn python_prefix() -> String {
    let py = python().expect("python3 (check python() first)");
    let out = Command::new(py)
        .args(["-c", "import sys; print(sys.prefix)"])
        .output()
        .expect("python runs");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Spawns `cmd`; a freshly copied executable can be "busy" for a moment while another test
/// thread forks with the copy's descriptor still open (ETXTBSY): try again briefly.
pub fn spawn_retrying(cmd: &mut Command) -> std::process::Child {
    const ETXTBSY: i32 = 26;
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Ok(child) => return child,
            Err(e) if e.raw_os_error() == Some(ETXTBSY) && tries < 100 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("cannot start {cmd:?}: {e}"),
        }
    }
}

/// Hex digits of `bytes`, for `listen.py --comm-hex`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One bound socket of a test listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bound {
    pub protocol: String,
    pub address: String,
    pub port: u16,
}

impl Bound {
    /// Whether a listener object of whoport's JSON is this socket: the same protocol, address
    /// and port. The port alone is not enough: other programs (and other tests) hold the same
    /// number on the other protocol or on another address.
    pub fn is(&self, row: &serde_json::Value) -> bool {
        // Python names a link-local address with its zone (`fe80::1%lo`); whoport gives the
        // device in a field of its own.
        let address = self.address.split('%').next().unwrap_or_default();
        row["protocol"] == self.protocol.as_str()
            && row["address"] == address
            && row["port"] == self.port
    }
}

/// The listener objects of a `--json` document that are `socket` (see [`Bound::is`]).
pub fn rows<'a>(doc: &'a serde_json::Value, socket: &Bound) -> Vec<&'a serde_json::Value> {
    doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .filter(|row| socket.is(row))
        .collect()
}

/// The PIDs of a listener object's owners, in its order.
pub fn owner_pids(row: &serde_json::Value) -> Vec<u64> {
    row["owners"]
        .as_array()
        .expect("owners")
        .iter()
        .filter_map(|o| o["pid"].as_u64())
        .collect()
}

/// As many copies of one descriptor as a test's process may hold (the hard limit on open
/// descriptors, less 200), at most 19,000; `None` when that is fewer than `least`.
pub fn dups_allowed(least: u64) -> Option<u64> {
    let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum?;
    Some(hard.saturating_sub(200).min(19_000)).filter(|&n| n >= least)
}

/// A child process holding sockets until it is dropped.
pub struct Listener {
    child: Child,
    stdin: Option<ChildStdin>,
    pub pid: u32,
    pub children: Vec<u32>,
    pub sockets: Vec<Bound>,
}

impl Listener {
    /// Starts `listen.py` with `args` through `program` (the interpreter, or a link to it).
    pub fn start_with(program: &Path, args: &[&str]) -> Listener {
        Self::start_env(program, &[], args)
    }

    /// Like [`Listener::start_with`], with extra environment variables.
    pub fn start_env(program: &Path, env: &[(&str, &str)], args: &[&str]) -> Listener {
        let mut cmd = Command::new(program);
        cmd.envs(env.iter().copied())
            .arg(fixture("listen.py"))
            .args(args);
        Self::start_command(cmd)
    }

    /// Starts `cmd`, a command line that ends up running `listen.py` in the same process
    /// (through `exec`, such as `nsenter`).
    pub fn start_command(mut cmd: Command) -> Listener {
        let mut child = spawn_retrying(
            cmd.stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit()),
        );
        let stdin = child.stdin.take();
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("listener reports");
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("listener said {line:?}: {e}"));
        let sockets = v["sockets"]
            .as_array()
            .expect("sockets")
            .iter()
            .map(|s| Bound {
                protocol: s[0].as_str().expect("proto").to_string(),
                address: s[1].as_str().expect("addr").to_string(),
                port: s[2].as_u64().expect("port") as u16,
            })
            .collect();
        let children = v["children"]
            .as_array()
            .expect("children")
            .iter()
            .map(|c| c.as_u64().expect("pid") as u32)
            .collect();
        Listener {
            pid: v["pid"].as_u64().expect("pid") as u32,
            child,
            stdin,
            children,
            sockets,
        }
    }

    pub fn start(args: &[&str]) -> Listener {
        Self::start_with(&python().expect("python3 (check python() first)"), args)
    }

    /// Like [`Listener::start`], on port numbers that are the test's alone: when it starts, no
    /// other socket of this network namespace has them (on any address, for either protocol,
    /// in any state), nor the `spare` numbers after each. A kernel-chosen port is only free on
    /// the address and protocol asked for: another program may hold the same number on ::1,
    /// for UDP, or as a connection, and a test that counts what is on its port (a port card,
    /// a range) must not count that. Tries new ports until they are alone (50 times at most).
    pub fn start_alone(args: &[&str], spare: u16) -> Listener {
        for _ in 0..50 {
            let l = Self::start(args);
            if l.alone(spare) {
                return l;
            }
        }
        panic!("no port numbers of their own for {args:?} in 50 tries");
    }

    /// No socket but this listener's own has its port numbers (or the `spare` after each).
    pub fn alone(&self, spare: u16) -> bool {
        use whoport::collect::port_table::{on_port, States};
        use whoport::port::Protocol;
        self.sockets.iter().all(|own| {
            (0..=spare).all(|step| {
                let Some(port) = own.port.checked_add(step) else {
                    return false;
                };
                [Protocol::Tcp, Protocol::Udp].into_iter().all(|protocol| {
                    on_port(port, protocol, States::All)
                        .expect("the socket dump of one port")
                        .iter()
                        .all(|s| {
                            self.sockets.iter().any(|b| {
                                b.protocol == protocol.as_str()
                                    && b.port == s.port
                                    && b.address.split('%').next() == Some(&s.address.to_string())
                            })
                        })
                })
            })
        })
    }

    pub fn port(&self, i: usize) -> u16 {
        self.sockets[i].port
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        drop(self.stdin.take()); // the forked children exit when their stdin closes
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Python source of a listener (127.0.0.1, a free port) whose only reference is in an
/// SCM_RIGHTS message nobody has received yet: nobody holds it. Prints its port, then waits
/// for its standard input to close.
pub const IN_TRANSIT: &str = r#"
import array, socket, sys
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
port = s.getsockname()[1]
a.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [s.fileno()]))])
s.close()
print(port, flush=True)
sys.stdin.read()
"#;

/// A thread that unshares its descriptor table (CLONE_FILES) and is the only holder of a
/// listening socket: `/proc/PID/fd` (the leader's table) does not show it. It prints its PID
/// and the port, then holds the socket until its standard input closes.
pub const OWN_TABLE_THREAD: &str = r#"
import ctypes, os, socket, sys, threading
libc = ctypes.CDLL(None, use_errno=True)
ready, port = threading.Event(), []
def run():
    if libc.unshare(0x400) != 0:  # CLONE_FILES
        print("unshare failed", flush=True); os._exit(1)
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
    port.append(s.getsockname()[1]); ready.set()
    threading.Event().wait()
threading.Thread(target=run, daemon=True).start(); ready.wait()
print(os.getpid(), port[0], flush=True)
sys.stdin.read()
"#;
