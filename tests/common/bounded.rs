//! Runs of the real binary (or of a shell line around it) under a hard time limit: a run that
//! hangs is killed with its whole process group and the test fails with the command line.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use super::listener::spawn_retrying;
use std::sync::mpsc;
use std::time::Duration;

/// How long one run may take before the test fails.
pub const LIMIT: Duration = Duration::from_secs(60);

/// A command that runs under [`LIMIT`] (or its own limit): the builder methods of
/// `std::process::Command`, and `output`/`assert`/`spawn` that never wait forever.
pub struct Run {
    cmd: Command,
    input: Option<Vec<u8>>,
    limit: Duration,
    stdin_set: bool,
    stdout_set: bool,
    stderr_set: bool,
}

impl Run {
    pub fn new(program: impl AsRef<OsStr>) -> Run {
        let mut cmd = Command::new(program);
        // Its own process group, so that a stuck run is killed with everything it started.
        cmd.process_group(0);
        Run {
            cmd,
            input: None,
            limit: LIMIT,
            stdin_set: false,
            stdout_set: false,
            stderr_set: false,
        }
    }

    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Run {
        self.cmd.arg(arg);
        self
    }

    pub fn args<I, S>(&mut self, args: I) -> &mut Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Run {
        self.cmd.env(key, value);
        self
    }

    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Run
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.cmd.envs(vars);
        self
    }

    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Run {
        self.cmd.env_remove(key);
        self
    }

    pub fn env_clear(&mut self) -> &mut Run {
        self.cmd.env_clear();
        self
    }

    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Run {
        self.cmd.current_dir(dir);
        self
    }

    /// Runs as another user (the test must be root).
    pub fn uid(&mut self, uid: u32) -> &mut Run {
        self.cmd.uid(uid);
        self
    }

    pub fn gid(&mut self, gid: u32) -> &mut Run {
        self.cmd.gid(gid);
        self
    }

    /// Bytes written to the child's standard input (otherwise it reads from /dev/null).
    pub fn write_stdin(&mut self, input: impl Into<Vec<u8>>) -> &mut Run {
        self.input = Some(input.into());
        self
    }

    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Run {
        self.cmd.stdin(cfg);
        self.stdin_set = true;
        self
    }

    /// Standard output somewhere else than the captured pipe (e.g. `/dev/full`).
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Run {
        self.cmd.stdout(cfg);
        self.stdout_set = true;
        self
    }

    /// Standard error somewhere else than the captured pipe.
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Run {
        self.cmd.stderr(cfg);
        self.stderr_set = true;
        self
    }

    /// Another time limit than [`LIMIT`].
    pub fn limit(&mut self, limit: Duration) -> &mut Run {
        self.limit = limit;
        self
    }

    /// The command line, shortened, for messages.
    pub fn describe(&self) -> String {
        let mut text = format!("{:?}", self.cmd);
        if text.len() > 2000 {
            let mut cut = 2000;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str("...");
        }
        text
    }

    /// Starts the command with stdout and stderr captured (unless redirected); the returned
    /// [`Running`] is killed when dropped and waited for under the limit.
    pub fn spawn(&mut self) -> Running {
        if self.input.is_some() {
            self.cmd.stdin(Stdio::piped());
        } else if !self.stdin_set {
            self.cmd.stdin(Stdio::null());
        }
        if !self.stdout_set {
            self.cmd.stdout(Stdio::piped());
        }
        if !self.stderr_set {
            self.cmd.stderr(Stdio::piped());
        }
        let mut child = spawn_retrying(&mut self.cmd);
        if let Some(input) = self.input.clone() {
            let mut stdin = child.stdin.take().expect("stdin is piped");
            // A child that stops reading must not block the test: write from a thread.
            std::thread::spawn(move || {
                let _ = stdin.write_all(&input);
            });
        }
        Running {
            child: Some(child),
            limit: self.limit,
            described: self.describe(),
        }
    }

    /// Runs to the end; panics with the command line when it outlives the limit.
    pub fn output(&mut self) -> std::io::Result<Output> {
        Ok(self.spawn().wait_with_output())
    }

    /// Runs to the end and hands the output to assert_cmd's assertions.
    pub fn assert(&mut self) -> assert_cmd::assert::Assert {
        let described = self.describe();
        assert_cmd::assert::Assert::new(self.spawn().wait_with_output())
            .append_context("command", described)
    }
}

/// A started run: killed (with its process group) when dropped.
pub struct Running {
    child: Option<Child>,
    limit: Duration,
    described: String,
}

impl Running {
    pub fn id(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// The child, e.g. to take or close one of its pipes.
    pub fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("running")
    }

    /// Reads what is left of stdout and stderr and waits for the end; panics with the command
    /// line when the run outlives its limit.
    pub fn wait_with_output(mut self) -> Output {
        let mut child = self.child.take().expect("running");
        let pid = child.id();
        let stdout = child.stdout.take().map(reader);
        let stderr = child.stderr.take().map(reader);
        let (tx, rx) = mpsc::channel();
        // The waiting thread reaps the child; until then its PID cannot be reused, so the
        // kill below can only reach this run.
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let status = match rx.recv_timeout(self.limit) {
            Ok(status) => status.expect("wait for the child"),
            Err(_) => {
                kill_group(pid);
                panic!(
                    "killed after {} s: {}",
                    self.limit.as_secs_f64(),
                    self.described
                );
            }
        };
        // The run is over; its process group may still hold the pipes: bounded too.
        let collect = |r: Option<mpsc::Receiver<Vec<u8>>>, what: &str| {
            r.map(|r| {
                r.recv_timeout(self.limit).unwrap_or_else(|_| {
                    kill_group(pid);
                    panic!(
                        "{what} still open {} s after the end: {}",
                        self.limit.as_secs_f64(),
                        self.described
                    )
                })
            })
            .unwrap_or_default()
        };
        Output {
            stdout: collect(stdout, "stdout"),
            stderr: collect(stderr, "stderr"),
            status,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if matches!(child.try_wait(), Ok(None)) {
                kill_group(child.id());
            }
            let _ = child.wait();
        }
    }
}

fn reader(mut pipe: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

/// SIGKILL to the process group the run leads (its PID is the group's ID).
fn kill_group(pid: u32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}
