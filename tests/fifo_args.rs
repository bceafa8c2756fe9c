//! Files named on the command line that are FIFOs or pipes (`--baseline`, `--config`,
//! `--from`, `--registry`, `registry import`): opened without waiting for a writer, read as
//! their data arrives, and given up on after `--timeout` — a FIFO nobody writes to never
//! stalls whoport. Real FIFOs made with mkfifo in a temporary directory.

#![cfg(unix)]

mod common;

use std::fs::OpenOptions;
use std::path::Path;
use std::time::Duration;

use common::{fixture, outcome, special, tempdir, whoport};

/// Each run must end long before the helpers' own limit.
const QUICK: Duration = Duration::from_secs(30);

/// Every way to name an input file, given `f`; `--timeout 1s` where it belongs.
fn commands(f: &str) -> Vec<Vec<&str>> {
    let nobody = "4294967295";
    vec![
        vec!["audit", "--timeout", "1s", "--baseline", f, "--pid", nobody],
        vec!["audit", "--timeout", "1s", "--config", f, "--pid", nobody],
        vec!["--timeout", "1s", "registry", "update", "--from", f],
        vec!["--timeout", "1s", "registry", "import", f],
        vec!["--timeout", "1s", "--registry", f, "22"],
    ]
}

#[test]
fn an_explicit_fifo_without_a_writer_never_stalls_a_command() {
    let home = tempdir();
    let fifo = special::fifo(&home.path().join("in.fifo"));
    let f = fifo.to_str().expect("utf-8 path");
    for args in commands(f) {
        let (status, out, err) = outcome(whoport(home.path()).args(&args).limit(QUICK));
        assert_eq!(status, 2, "{args:?}: {out} {err}");
        assert!(
            err.contains(f) && err.contains("did not end within 1s"),
            "{args:?}: the file and the limit are named: {err}"
        );
    }
    assert!(
        !home.path().join("whoport").join("iana.tsv").exists(),
        "nothing was installed"
    );
}

#[test]
fn a_fifo_whose_writer_never_finishes_is_given_up_on() {
    let home = tempdir();
    let fifo = special::fifo(&home.path().join("held.fifo"));
    // A writer that keeps the FIFO open and says nothing (read-write never waits).
    let _writer = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .expect("open the FIFO");
    let f = fifo.to_str().expect("utf-8 path");
    for args in commands(f) {
        let (status, _, err) = outcome(whoport(home.path()).args(&args).limit(QUICK));
        assert_eq!(status, 2, "{args:?}: {err}");
        assert!(err.contains("did not end within 1s"), "{args:?}: {err}");
    }
    // The same pipe as standard input, named '-' or /dev/stdin.
    for name in ["-", "/dev/stdin"] {
        let stdin = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&fifo)
            .expect("open the FIFO");
        let (status, _, err) = outcome(
            whoport(home.path())
                .args(["--timeout", "1s", "registry", "import", name])
                .stdin(stdin)
                .limit(QUICK),
        );
        assert_eq!(status, 2, "{name}: {err}");
        assert!(err.contains("did not end within 1s"), "{name}: {err}");
    }
}

#[test]
fn an_explicit_fifo_or_pipe_with_a_writer_is_read() {
    let home = tempdir();
    let csv = fixture("iana-quirks.csv");
    let csv = csv.to_str().expect("utf-8 path");
    // The writer opens the FIFO a moment after whoport has started waiting.
    let fifo = special::fifo(&home.path().join("csv.fifo"));
    let script = format!(
        "(sleep 0.3; cat '{csv}' > '{fifo}') & \"$WHOPORT\" --timeout 20s registry import '{fifo}'",
        fifo = fifo.display()
    );
    let (status, out, err) = common::sh(&script);
    assert_eq!(status, 0, "{err}");
    assert!(out.starts_with("#whoport-iana 1\n"), "{out}");
    // A baseline through a FIFO, and a pipe on standard input as '-'.
    let saved = home.path().join("baseline.json");
    let (status, _, err) = outcome(whoport(home.path()).args([
        "audit",
        "--pid",
        "4294967295",
        "--save-baseline",
        saved.to_str().expect("utf-8"),
    ]));
    assert!(matches!(status, 0 | 1), "{err}");
    let fifo = special::fifo(&home.path().join("baseline.fifo"));
    let script = format!(
        "(sleep 0.3; cat '{saved}' > '{fifo}') & \"$WHOPORT\" audit --timeout 20s --pid 4294967295 --baseline '{fifo}'",
        saved = saved.display(),
        fifo = fifo.display()
    );
    let (status, _, err) = common::sh(&script);
    assert!(matches!(status, 0 | 1), "{err}");
    assert!(!err.contains("baseline"), "the baseline was read: {err}");
    let out = whoport(home.path())
        .args(["registry", "import", "-"])
        .write_stdin(std::fs::read(Path::new(csv)).expect("fixture"))
        .limit(QUICK)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stdout.starts_with(b"#whoport-iana 1\n"));
}
