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

/// Opens `/dev/null` `open` times, inheritable, then becomes `prlimit --nofile=LIMIT whoport
/// ARGS`: whoport starts with that many more descriptors open.
const GIVE_OPEN: &str = "import os, sys\n\
for _ in range(int(sys.argv[1])):\n    os.set_inheritable(os.open('/dev/null', os.O_RDONLY), True)\n\
os.execvp(sys.argv[2], sys.argv[2:])\n";

/// [`limited`], with `open` more descriptors given to whoport open.
fn given_open(open: usize, limit: &str, args: &[&str]) -> (i32, String, String) {
    let dir = tempdir();
    let bin = common::bin();
    let python = python().expect("python3 (check python() first)");
    outcome(
        common::command(dir.path(), &python)
            .args(["-c", GIVE_OPEN, &open.to_string(), "prlimit"])
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
                    && stderr.contains(&format!(" of its limit of {hard} (ulimit -n")),
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
        stderr.contains(&format!(" of its limit of {hard} (ulimit -n"))
            && stderr.contains("are open already"),
        "{stderr}"
    );
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
    // output and error, and whatever the test harness leaves open), measured by a refused run.
    let hard = NEEDED + 40;
    let (_, _, stderr) = given_open(40, &format!("{hard}:{hard}"), &["--json"]);
    let open: u64 = stderr
        .split(&format!(" of its limit of {hard} "))
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("how many were open: {stderr}"));
    let limit = format!("{0}:{0}", NEEDED + open);
    // Several runs: the threads of a look open their descriptors at varying moments.
    for _ in 0..5 {
        assert_eq!(owners_under(40, &limit, &l), holders, "--nofile={limit}");
    }
}
