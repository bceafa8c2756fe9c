//! Never panic: each command with its standard error closed or full and its standard output
//! full ends with the documented exit status (0/1 found or not, 2 error), never 101.

mod common;

use common::sh;

/// Commands and what each must end with when its output can be written.
const COMMANDS: &[(&str, &[i32])] = &[
    ("", &[0, 1]),
    ("--json", &[0, 1]),
    ("--wide", &[0, 1]),
    ("22", &[0, 1]),
    ("22 --json", &[0, 1]),
    ("audit", &[0, 1]),
    ("audit --json", &[0, 1]),
    ("registry search http", &[0]),
    ("--help", &[0]),
    ("--version", &[0]),
    // Errors: the message has nowhere to go, the status still says so.
    // A name that is neither a service nor a process seen listening: 2, or 1 when some
    // listeners' owners could not be seen (one may be a process of that name).
    ("no-such-service-anywhere", &[1, 2]),
    ("'ss;h'", &[2]),
    ("--no-such-flag", &[2]),
    ("70000", &[2]),
];

fn status(redirect: &str, args: &str) -> (i32, String) {
    let (status, _, err) = sh(&format!("exec \"$WHOPORT\" {args} {redirect}"));
    (status, err)
}

#[test]
fn stderr_closed_and_stdout_full() {
    for (args, _) in COMMANDS {
        let (status, err) = status("2>&- >/dev/full", args);
        assert_eq!(status, 2, "whoport {args} 2>&- >/dev/full: {err}");
    }
}

#[test]
fn stderr_full() {
    for (args, expected) in COMMANDS {
        let (status, err) = status("2>/dev/full >/dev/null", args);
        assert!(
            expected.contains(&status),
            "whoport {args} 2>/dev/full: status {status}, expected {expected:?}: {err}"
        );
    }
}

#[test]
fn stderr_closed() {
    for (args, expected) in COMMANDS {
        let (status, err) = status("2>&- >/dev/null", args);
        assert!(
            expected.contains(&status),
            "whoport {args} 2>&-: status {status}, expected {expected:?}: {err}"
        );
    }
}

#[test]
fn help_and_version_into_a_full_stdout_are_errors() {
    for args in ["--help", "--version", "audit --help", "help"] {
        let (status, err) = status(">/dev/full", args);
        assert_eq!(status, 2, "whoport {args} >/dev/full: {err}");
    }
}
