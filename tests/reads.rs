//! Reads are bounded: every file whoport reads is checked with fstat (a regular file within
//! its size limit) and read with a hard limit, so /dev/zero (a node made in a temporary
//! directory), a 2.5 GB sparse file or an endless pipe is refused at once with little memory;
//! files whoport finds on its own never stall it on a FIFO; `--from /dev/stdin` still works.

mod common;

use std::path::Path;

use common::special;
use common::{fixture, have, measured, run_in, tempdir, PEAK_KIB};

fn text(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

/// Every option that names a file whoport reads, aimed at `file`.
fn readers(file: &str) -> Vec<Vec<&str>> {
    vec![
        vec!["registry", "import", file],
        vec!["registry", "update", "--from", file],
        vec!["--registry", file, "22"],
        vec!["audit", "--baseline", file],
        vec!["audit", "--config", file],
    ]
}

#[test]
fn dev_zero_and_a_huge_sparse_file_are_refused_at_once_with_little_memory() {
    if !have("time", "apt-get install time") {
        return;
    }
    let dir = tempdir();
    let sparse = dir.path().join("sparse");
    std::fs::File::create(&sparse)
        .and_then(|f| f.set_len(2_500_000_000))
        .expect("sparse file");
    let mut inputs = vec![(sparse, "larger than")];
    if let Some(zero) = special::char_device(&dir.path().join("zero"), 1, 5) {
        inputs.push((zero, "a character device, not a regular file"));
    }
    for (file, why) in &inputs {
        for args in readers(text(file)) {
            let (status, _, err, peak) = measured(dir.path(), &args, None);
            assert_eq!(status, 2, "{args:?}: {err}");
            assert!(err.contains(why), "{args:?}: {err}");
            assert!(err.contains(text(file)), "{args:?} names the file: {err}");
            assert!(peak < PEAK_KIB, "{args:?}: peak {peak} KiB");
        }
    }
}

#[test]
fn an_endless_pipe_is_cut_at_the_limit() {
    if !have("time", "apt-get install time") {
        return;
    }
    let home = tempdir();
    // More than any limit: whoport stops reading at its limit and refuses.
    let flood = vec![b'x'; 24 * 1024 * 1024];
    for args in readers("/dev/stdin") {
        let (status, _, err, peak) = measured(home.path(), &args, Some(flood.clone()));
        assert_eq!(status, 2, "{args:?}: {err}");
        assert!(err.contains("larger than"), "{args:?}: {err}");
        assert!(peak < PEAK_KIB, "{args:?}: peak {peak} KiB");
    }
}

#[test]
fn from_dev_stdin_keeps_working() {
    let home = tempdir();
    let csv = std::fs::read(fixture("iana-quirks.csv")).expect("fixture");
    let out = common::whoport(home.path())
        .args(["registry", "update", "--from", "/dev/stdin"])
        .write_stdin(csv)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let table = home.path().join("whoport").join("iana.tsv");
    assert!(std::fs::read_to_string(table)
        .expect("installed")
        .starts_with("#whoport-iana 1\n"));
}

#[test]
fn a_fifo_where_whoport_looks_on_its_own_never_stalls_it() {
    let home = tempdir();
    let config = home.path().join("config").join("whoport");
    let data = home.path().join("whoport");
    std::fs::create_dir_all(&config).expect("config dir");
    std::fs::create_dir_all(&data).expect("data dir");
    let toml = special::fifo(&config.join("audit.toml"));
    let table = special::fifo(&data.join("iana.tsv"));
    let services = special::fifo(&home.path().join("services"));

    let (status, _, err) = run_in(home.path(), &["audit", "--pid", "4294967295"]);
    assert!(status == 0 || status == 1, "{err}");
    assert!(
        err.contains(text(&toml)) && err.contains("FIFO"),
        "a warning names the config: {err}"
    );
    let (status, out, err) = run_in(home.path(), &["registry", "info", "--json"]);
    assert_eq!(status, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(doc["source"], "embedded");
    assert!(
        err.contains(text(&table)) && err.contains("FIFO"),
        "a warning names the table: {err}"
    );
    // WHOPORT_SERVICES_FILE naming a FIFO, a directory or an oversize file: ignored, and a
    // warning names it.
    let big = home.path().join("big-services");
    std::fs::write(&big, vec![b'#'; 1024 * 1024 + 1]).expect("big services file");
    for (file, why) in [
        (services.clone(), "FIFO"),
        (data.clone(), "a directory"),
        (big, "larger than"),
    ] {
        let (status, out, err) = common::outcome(
            common::whoport(home.path())
                .env("WHOPORT_SERVICES_FILE", &file)
                .args(["22", "--json"]),
        );
        assert!(matches!(status, 0 | 1), "{err}");
        let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(doc["local_services"], serde_json::json!([]), "{doc}");
        assert!(
            err.contains(text(&file)) && err.contains("services file") && err.contains(why),
            "a warning names the services file {}: {err}",
            file.display()
        );
    }
}

/// Runs whoport's far-file child reading `secret`, its standard input one end of a socket
/// pair made by root (this test) or by `nobody`; (status, stdout).
const PEER: &str = "import os, socket, subprocess, sys\n\
whoport, child, secret, who = sys.argv[1:5]\n\
if who == 'root':\n    keep, given = socket.socketpair()\n\
else:\n    here, there = socket.socketpair()\n    pid = os.fork()\n    if pid == 0:\n        if who == 'nobody':\n            os.setgid(65534)\n            os.setuid(65534)\n        x, y = socket.socketpair()\n        socket.send_fds(there, [b'x'], [y.fileno()])\n        os._exit(0)\n    _, fds, _, _ = socket.recv_fds(here, 1, 1)\n    os.waitpid(pid, 0)\n    given = socket.socket(fileno=fds[0])\n\
r = subprocess.run([whoport, child, '1.000000000', '1s', 'read', '100000', 'named', secret], stdin=given.fileno(), capture_output=True)\n\
sys.stdout.buffer.write(r.stdout)\n\
sys.exit(r.returncode)\n";

/// whoport's internal first argument for the child that reads or writes a file on a
/// filesystem that may never answer does nothing unless it is asked through the socket pair
/// whoport makes: run by hand (or through sudo, where whoport may be allowed as root) it would
/// read any file and write any bytes anywhere, with none of the checks a command makes.
/// Before, it read `/etc/shadow` and wrote a file of the caller's choosing, creating its
/// directories.
#[test]
fn the_far_file_child_serves_only_whoport() {
    let dir = tempdir();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "not for the caller").expect("write");
    let target = dir.path().join("made").join("by-child");
    let child = whoport::far_file::CHILD_ARG;
    let text = |p: &std::path::Path| p.display().to_string();
    let (status, stdout, stderr) = common::outcome(common::whoport(dir.path()).args([
        child,
        "1.000000000",
        "1s",
        "read",
        "100000",
        "named",
        &text(&secret),
    ]));
    assert_eq!(status, 2, "{stdout}{stderr}");
    assert!(!stdout.contains("not for the caller"), "{stdout}");
    assert!(stderr.contains("whoport's own"), "{stderr}");
    let (status, stdout, stderr) = common::outcome(
        common::whoport(dir.path())
            .args([
                child,
                "1.000000000",
                "1s",
                "write",
                "create",
                &text(&target),
            ])
            .write_stdin("written by the caller"),
    );
    assert_eq!(status, 2, "{stdout}{stderr}");
    assert!(!target.exists() && !target.parent().expect("dir").exists());
}

/// The far-file child serves only its parent, with its own credentials: its standard input
/// must be a socket its parent made (SO_PEERCRED) with its user and group. A socket pair made
/// by `nobody`, handed to a child running as root (as a setuid launcher that allows whoport
/// would), is refused: nobody could otherwise read or write any file as root through it; so
/// is one made by another root process than the parent.
#[test]
fn the_far_file_child_serves_only_a_caller_with_its_own_credentials() {
    if !common::root_or_skip("a socket pair made as nobody") {
        return;
    }
    let Some(python) = common::listener::python() else {
        return;
    };
    let dir = tempdir();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "root's own").expect("write");
    let bin = common::bin();
    let run = |who: &str| {
        common::outcome(
            common::command(dir.path(), &python)
                .args(["-c", PEER])
                .arg(&bin)
                .args([whoport::far_file::CHILD_ARG, text(&secret), who]),
        )
    };
    let (status, stdout, stderr) = run("root");
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.contains("root's own"), "{stdout}");
    let (status, stdout, stderr) = run("nobody");
    assert_eq!(status, 2, "{stdout}{stderr}");
    assert!(!stdout.contains("root's own"), "{stdout}");
    // Made by another root process than the child's parent (as a socket connected to one of
    // root's daemons names that daemon): refused too.
    let (status, stdout, stderr) = run("another");
    assert_eq!(status, 2, "{stdout}{stderr}");
    assert!(!stdout.contains("root's own"), "{stdout}");
}
