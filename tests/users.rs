//! User names from the system user database (NSS), including system users with a nologin
//! or `/bin/false` shell, and `--user` with a name the system does not know. A real listener
//! runs as such a system user (memcached's `memcache` on Debian), killed by PID.

mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use common::listener::{hex, Listener};
use common::{fixture, have, is_root};
use serde_json::Value;

/// A system user whose shell is `/bin/false` (Debian's memcached, mysql... create theirs that
/// way): (name, uid, gid), from the user database as `getent` sees it.
fn false_shell_user() -> Option<(String, u32, u32)> {
    let out = Command::new("getent").arg("passwd").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            let uid: u32 = fields.get(2)?.parse().ok()?;
            (fields.get(6)?.ends_with("/false") && uid != 0).then_some(())?;
            Some((fields[0].to_string(), uid, fields.get(3)?.parse().ok()?))
        })
}

#[test]
fn a_system_user_with_a_false_shell_is_named_and_matched() {
    if !is_root() {
        eprintln!("SKIPPED: starting a listener as a system user needs root");
        return;
    }
    if !have("getent", "apt-get install -y libc-bin")
        || !have("python3", "apt-get install -y python3")
    {
        return;
    }
    // The system interpreter: every user can run it.
    let py = Path::new("/usr/bin/python3");
    if !py.exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "/usr/bin/python3 is required under CI=true"
        );
        eprintln!("SKIPPED: /usr/bin/python3 is not installed");
        return;
    }
    let Some((name, uid, gid)) = false_shell_user() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "a system user with a /bin/false shell is required under CI=true: apt-get install -y memcached"
        );
        eprintln!("SKIPPED: no system user with a /bin/false shell; install memcached to have one");
        return;
    };
    let mut cmd = Command::new(py);
    cmd.arg(fixture("listen.py"))
        .args(["--comm-hex", &hex(b"wpdaemon"), "tcp4"])
        .uid(uid)
        .gid(gid);
    let l = Listener::start_command(cmd);
    let port = l.port(0);
    let (status, doc) = common::json_status(&["--json", "--user", &name]);
    assert_eq!(status, 0, "--user {name} matches: {doc}");
    let ours = |r: &&Value| l.sockets[0].is(r);
    let row = doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .find(ours)
        .unwrap_or_else(|| panic!("port {port} not in {doc}"))
        .clone();
    assert_eq!(row["user"], name.as_str(), "the socket's owner: {row}");
    assert_eq!(
        row["owners"][0]["user"],
        name.as_str(),
        "the process's user: {row}"
    );
    assert_eq!(row["owners"][0]["pid"], l.pid);
    // By uid as well.
    let by_uid = common::json(&["--json", "--user", &uid.to_string()]);
    assert!(by_uid["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .any(|r: &Value| l.sockets[0].is(r)));
    // The table shows the name, never the bare number.
    let (_, out, _) = common::run(&["--user", &name]);
    let line = out
        .lines()
        .find(|line| line.contains(&port.to_string()))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains(name.as_str()), "{line}");
}

#[test]
fn an_unknown_user_name_is_an_error() {
    for args in [
        &["--user", "no-such-user-wp"][..],
        &["22", "--user", "no-such-user-wp"],
        &["audit", "--user", "no-such-user-wp"],
    ] {
        let (status, out, err) = common::run(args);
        assert_eq!(status, 2, "{args:?}: {out}");
        assert!(err.contains("no user 'no-such-user-wp'"), "{err}");
    }
    // A uid needs no entry in the database.
    let (status, _, err) = common::run(&["--user", "4000000001"]);
    assert_eq!(status, 1, "nothing matches, which is not an error: {err}");
    // A number no uid can be is an error, not "nothing matches".
    for uid in ["99999999999", "4294967295"] {
        let (status, out, err) = common::run(&["--user", uid]);
        assert_eq!(status, 2, "--user {uid}: {out}");
        assert!(err.contains(&format!("no user '{uid}'")), "{err}");
    }
}

#[test]
fn a_process_is_the_user_it_acts_as_not_its_real_uid() {
    if !is_root() {
        eprintln!("SKIPPED: a process with real uid nobody and effective uid root needs root");
        return;
    }
    if !have("setpriv", "apt-get install -y util-linux")
        || !have("python3", "apt-get install -y python3")
    {
        return;
    }
    // Real uid nobody, effective uid root: it acts as root.
    let mut cmd = Command::new("setpriv");
    // The system interpreter itself: a shell wrapper would drop the effective uid.
    cmd.args(["--ruid=65534", "/usr/bin/python3"])
        .arg(fixture("listen.py"))
        .args(["--comm-hex", &hex(b"wpeuid"), "tcp4"]);
    let l = Listener::start_command(cmd);
    let status = std::fs::read_to_string(format!("/proc/{}/status", l.pid)).expect("status");
    let uids = status
        .lines()
        .find(|line| line.starts_with("Uid:"))
        .expect("Uid line");
    assert!(
        uids.split_whitespace().nth(1) == Some("65534")
            && uids.split_whitespace().nth(2) == Some("0"),
        "{uids}"
    );
    let doc = common::json(&["--json", "--user", "root"]);
    let row = doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .find(|r| r["port"] == l.port(0) && r["owners"][0]["pid"] == l.pid)
        .unwrap_or_else(|| panic!("--user root lists it: {doc}"))
        .clone();
    assert_eq!(row["owners"][0]["user"], "root", "{row}");
    assert_eq!(row["owners"][0]["uid"], 0, "{row}");
    let nobody = common::json(&["--json", "--user", "nobody"]);
    assert!(
        !nobody["listeners"]
            .as_array()
            .expect("listeners")
            .iter()
            .any(|r| r["port"] == l.port(0) && r["owners"][0]["pid"] == l.pid),
        "{nobody}"
    );
}

/// A uid written with leading zeros (`--user 00`, `--user 0065534`) is that uid, as `chown`
/// and `find -uid` read it: the listener of this user is shown on the card and in the listing,
/// never "hidden by --user".
#[test]
fn a_uid_with_leading_zeros_is_that_uid() {
    if common::listener::python().is_none() {
        return;
    }
    let l = Listener::start(&["tcp4"]);
    let port = l.port(0).to_string();
    let uid = nix::unistd::geteuid().as_raw();
    let typed = format!("00{uid}");
    let (status, out, err) = common::run(&[&port, "--user", &typed]);
    assert_eq!(status, 0, "--user {typed}: {out}{err}");
    assert!(!out.contains("hidden by --user"), "{out}");
    assert!(
        out.contains(&format!("(pid {})", l.pid)) || out.contains(&format!("pid {}", l.pid)),
        "{out}"
    );
    let doc = common::json(&["--json", "--user", &typed]);
    assert!(
        doc["listeners"]
            .as_array()
            .expect("listeners")
            .iter()
            .any(|r: &Value| l.sockets[0].is(r)),
        "--user {typed}: {doc}"
    );
}

/// `whoport --json --user USER` in a private mount namespace whose `/etc/passwd` has `line`
/// added: the ports listed, with their first owners' PIDs.
fn listed_with_passwd_line(line: &str, user: &str) -> Vec<(u64, Value)> {
    let dir = common::tempdir();
    let passwd = dir.path().join("passwd");
    let mut text = std::fs::read_to_string("/etc/passwd").expect("passwd");
    text.push_str(line);
    std::fs::write(&passwd, text).expect("written");
    let (status, out, err) = common::sh_within(
        &format!(
            "exec unshare -m --propagation private sh -c 'mount --bind {} /etc/passwd && \
             exec \"$WHOPORT\" --json --user {user}'",
            passwd.display()
        ),
        std::time::Duration::from_secs(60),
    );
    assert!(status == 0 || status == 1, "{status} {err}");
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    doc["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .map(|r| {
            (
                r["port"].as_u64().unwrap_or(0),
                r["owners"][0]["pid"].clone(),
            )
        })
        .collect()
}

/// A second name for a uid (`toor`, uid 0, beside `root`): `--user toor` matched only a
/// process whose other thread acts as root, never root's own listener (its user is named
/// `root`). A name is the uid the user database gives it.
#[test]
fn a_second_name_for_a_uid_matches_that_uids_sockets() {
    if !common::root_or_skip("a user database of its own in a private mount namespace")
        || common::listener::python().is_none()
    {
        return;
    }
    let l = Listener::start(&["tcp4"]);
    let port = u64::from(l.port(0));
    let listed = listed_with_passwd_line("toor:x:0:0:root:/root:/bin/sh\n", "toor");
    assert!(listed.contains(&(port, Value::from(l.pid))), "{listed:?}");
}

/// Digits are a uid, never a name: with a user named `0` (uid 4242) in the user database,
/// `--user 0` listed that user's listener beside root's.
#[test]
fn digits_are_a_uid_even_where_a_user_has_them_as_name() {
    if !common::root_or_skip("a user database of its own in a private mount namespace")
        || !have("setpriv", "apt-get install -y util-linux")
        || common::listener::python().is_none()
    {
        return;
    }
    let py = common::listener::python().expect("python");
    let mut child = common::Reaped(common::listener::spawn_retrying(
        Command::new("setpriv")
            .args(["--reuid=4242", "--regid=4242", "--clear-groups"])
            .arg(py)
            .args([
                "-c",
                "import socket, sys\ns = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
                 print(s.getsockname()[1], flush=True)\nsys.stdin.read()\n",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped()),
    ));
    let port: u64 = common::ready_line(&mut child.0, std::time::Duration::from_secs(20))
        .trim()
        .parse()
        .expect("a port");
    let listed = listed_with_passwd_line("0:x:4242:4242:digits:/nonexistent:/bin/false\n", "0");
    assert!(listed.iter().all(|(p, _)| *p != port), "{listed:?}");
}
