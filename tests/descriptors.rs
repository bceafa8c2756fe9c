//! whoport under a limit on open file descriptors (`prlimit --nofile=SOFT:HARD`): a low soft
//! limit is raised to the hard one and the look is whole; fewer free below the hard limit
//! than a look needs ([`whoport::collect::descriptors::NEEDED`]), by the limit or by the
//! descriptors whoport is given open, is refused with the reason, before anything is said
//! about the machine. Without that, a process whoport could not open was said to have exited,
//! and a socket whose owner was there to have none.

mod common;

use std::collections::BTreeSet;

use common::listener::{owner_pids, python, rows, Listener};
use common::{have, outcome, tempdir};
use whoport::collect::descriptors::NEEDED;

/// Runs whoport with `args` under `prlimit --nofile=LIMIT`; (status, stdout, stderr).
fn limited(limit: &str, args: &[&str]) -> (i32, String, String) {
    given_open(0, limit, args)
}

/// Opens `/dev/null` `open` times, inheritable, at the lowest free numbers or, with a first
/// number `at`, from that number on (above the limit whoport is given: they take no room
/// below it), then becomes `prlimit --nofile=LIMIT whoport ARGS`.
const GIVE_OPEN: &str = "import os, sys\n\
n, at = int(sys.argv[1]), int(sys.argv[2])\n\
for i in range(n):\n    fd = os.open('/dev/null', os.O_RDONLY)\n    if at:\n        os.dup2(fd, at + i)\n        os.close(fd)\n    else:\n        os.set_inheritable(fd, True)\n\
os.execvp(sys.argv[3], sys.argv[3:])\n";

/// [`limited`], with `open` more descriptors given to whoport open.
fn given_open(open: usize, limit: &str, args: &[&str]) -> (i32, String, String) {
    given_open_at(open, 0, limit, args)
}

/// [`given_open`], the descriptors given at numbers from `at` on (0: the lowest free).
fn given_open_at(open: usize, at: usize, limit: &str, args: &[&str]) -> (i32, String, String) {
    let dir = tempdir();
    let bin = common::bin();
    let python = python().expect("python3 (check python() first)");
    outcome(
        common::command(dir.path(), &python)
            .args([
                "-c",
                GIVE_OPEN,
                &open.to_string(),
                &at.to_string(),
                "prlimit",
            ])
            .arg(format!("--nofile={limit}"))
            .arg("--")
            .arg(&bin)
            .args(args),
    )
}

/// A listener held by its process and 24 forked children (each holding every socket), with
/// 8 threads that each have a descriptor table of their own: a look that visits many
/// processes on several threads at once.
fn busy_listener() -> Option<(Listener, BTreeSet<u64>)> {
    python()?;
    let l = Listener::start(&["--own-tables", "8", "--forks", "24", "tcp4"]);
    let holders: BTreeSet<u64> = std::iter::once(l.pid)
        .chain(l.children.iter().copied())
        .map(u64::from)
        .collect();
    assert_eq!(holders.len(), 25, "{:?}", l.children);
    Some((l, holders))
}

/// The owners whoport gives the listener's socket in a `--json` run with `limit` and `open`
/// descriptors given open.
fn owners_under(open: usize, limit: &str, l: &Listener) -> BTreeSet<u64> {
    let port = l.port(0).to_string();
    let (status, stdout, stderr) = given_open(open, limit, &["--json", &port]);
    assert_eq!(status, 0, "--nofile={limit}: {stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let found = rows(&doc, &l.sockets[0]);
    assert_eq!(found.len(), 1, "--nofile={limit}: {doc}");
    owner_pids(found[0]).into_iter().collect()
}

#[test]
fn a_hard_limit_below_what_a_look_needs_is_refused_with_the_reason() {
    if !have("prlimit", "apt-get install util-linux") || python().is_none() {
        return;
    }
    for hard in [8, 16, NEEDED - 1] {
        let limit = format!("{hard}:{hard}");
        for args in [&["--json"][..], &["22"], &["audit"], &["--json", "audit"]] {
            let (status, stdout, stderr) = limited(&limit, args);
            assert_eq!(status, 2, "--nofile={limit} {args:?}: {stdout}{stderr}");
            // Nothing is said about the machine: no partial listing with false facts.
            assert!(stdout.is_empty(), "--nofile={limit} {args:?}: {stdout}");
            assert!(
                stderr.contains(&format!("{NEEDED} free file descriptors are needed"))
                    && stderr.contains(&format!("(its limit, ulimit -n, is {hard}, ")),
                "--nofile={limit} {args:?}: {stderr}"
            );
        }
    }
    // Room enough below the limit, but taken by the descriptors whoport is given open.
    let hard = NEEDED + 36;
    let (status, stdout, stderr) = given_open(40, &format!("{hard}:{hard}"), &["--json"]);
    assert_eq!(status, 2, "{stdout}{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains(&format!("(its limit, ulimit -n, is {hard}, "))
            && stderr.contains("open already"),
        "{stderr}"
    );
    // Descriptors given open above the limit take no room below it: the look goes on.
    let (status, _, stderr) = given_open_at(40, 5000, &format!("{hard}:{hard}"), &["--json"]);
    assert!(status == 0 || status == 1, "{stderr}");
    // What does not look at the machine still runs.
    let (status, stdout, stderr) = limited("8:8", &["--version"]);
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.starts_with("whoport "), "{stdout}");
}

#[test]
fn a_low_soft_limit_is_raised_and_every_holder_is_found() {
    if !have("prlimit", "apt-get install util-linux") {
        return;
    }
    let Some((l, holders)) = busy_listener() else {
        return;
    };
    // 8 descriptors: without the raise, the look is refused (or, before the refusal, lost
    // holders); raised to the hard limit, it is whole.
    assert_eq!(owners_under(0, "8:4096", &l), holders);
}

#[test]
fn a_look_with_exactly_the_descriptors_it_needs_finds_every_holder() {
    if !have("prlimit", "apt-get install util-linux") {
        return;
    }
    let Some((l, holders)) = busy_listener() else {
        return;
    };
    // Exactly NEEDED free: the limit less what is open when whoport starts (standard input,
    // output and error, the 40 given, and whatever the test harness leaves open), measured by
    // a refused run.
    let hard = NEEDED + 40;
    let (_, _, stderr) = given_open(40, &format!("{hard}:{hard}"), &["--json"]);
    let free: u64 = stderr
        .split(" (its limit, ulimit -n, is ")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("how many were free: {stderr}"));
    let limit = format!("{0}:{0}", hard + NEEDED - free);
    // Several runs: the threads of a look open their descriptors at varying moments.
    for _ in 0..5 {
        assert_eq!(owners_under(40, &limit, &l), holders, "--nofile={limit}");
    }
}

/// The free descriptors are counted by taking them, not from a listing of `/proc/self/fd`: a
/// directory mounted over whoport's own descriptors (the pid stays the same across the exec)
/// does not make a nearly full table look empty. Before, such a run went on with 2 free and
/// said no process could be seen holding the listener (`/proc not readable`), or that 26
/// processes had exited.
#[test]
fn a_nearly_full_table_is_refused_even_where_the_descriptors_cannot_be_listed() {
    if !common::root_or_skip("a mount over /proc/PID/fd in a mount namespace")
        || !have("unshare", "apt-get install -y util-linux")
        || python().is_none()
    {
        return;
    }
    let hard = NEEDED + 30;
    let script = format!(
        "import os, subprocess, sys\n\
         subprocess.run(['mount', '-t', 'tmpfs', 'covered', f'/proc/{{os.getpid()}}/fd'], check=True)\n\
         for i in range(40):\n    os.set_inheritable(os.open('/dev/null', os.O_RDONLY), True)\n\
         os.execvp('prlimit', ['prlimit', '--nofile={hard}:{hard}', '--', sys.argv[1], '--json'])\n"
    );
    let dir = tempdir();
    let python = python().expect("python3");
    let (status, stdout, stderr) = outcome(
        common::command(dir.path(), std::path::Path::new("unshare"))
            .args(["--mount", "--propagation", "private", "--"])
            .arg(&python)
            .args(["-c", &script])
            .arg(common::bin()),
    );
    assert_eq!(status, 2, "{stdout}{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains(&format!("(its limit, ulimit -n, is {hard}, ")),
        "{stderr}"
    );
}
