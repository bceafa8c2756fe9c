//! whoport under a limit on open file descriptors (`prlimit --nofile=SOFT:HARD`): a low soft
//! limit is raised to the hard one and the look is whole; a hard limit below what a look
//! needs ([`whoport::descriptors::NEEDED`]) is refused with the reason, before anything is
//! said about the machine. Without that, a process whoport could not open was said to have
//! exited, and a socket whose owner was there to have none.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::listener::{owner_pids, python, rows, Listener};
use common::{have, outcome, tempdir};
use whoport::descriptors::NEEDED;

/// Runs whoport with `args` under `prlimit --nofile=LIMIT`; (status, stdout, stderr).
fn limited(limit: &str, args: &[&str]) -> (i32, String, String) {
    let dir = tempdir();
    let bin = common::bin();
    outcome(
        common::command(dir.path(), Path::new("prlimit"))
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

/// The owners whoport gives the listener's socket in a `--json` run with `limit`.
fn owners_under(limit: &str, l: &Listener) -> BTreeSet<u64> {
    let port = l.port(0).to_string();
    let (status, stdout, stderr) = limited(limit, &["--json", &port]);
    assert_eq!(status, 0, "--nofile={limit}: {stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let found = rows(&doc, &l.sockets[0]);
    assert_eq!(found.len(), 1, "--nofile={limit}: {doc}");
    owner_pids(found[0]).into_iter().collect()
}

#[test]
fn a_hard_limit_below_what_a_look_needs_is_refused_with_the_reason() {
    if !have("prlimit", "apt-get install util-linux") {
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
                stderr.contains(&format!("{NEEDED} open file descriptors are needed"))
                    && stderr.contains(&format!("may open only {hard} ")),
                "--nofile={limit} {args:?}: {stderr}"
            );
        }
    }
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
    assert_eq!(owners_under("8:4096", &l), holders);
}

#[test]
fn a_look_with_exactly_the_descriptors_it_needs_finds_every_holder() {
    if !have("prlimit", "apt-get install util-linux") {
        return;
    }
    let Some((l, holders)) = busy_listener() else {
        return;
    };
    let limit = format!("{NEEDED}:{NEEDED}");
    // Several runs: the threads of a look open their descriptors at varying moments.
    for _ in 0..5 {
        assert_eq!(owners_under(&limit, &l), holders, "--nofile={limit}");
    }
}
