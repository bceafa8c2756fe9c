//! What a program is, established by its file and never by a name: a copy of the system's
//! python named nginx, python bound over `/usr/sbin/nginx` in a mount namespace of its own, and
//! python run through the dynamic loader under the name nginx are each judged as python (a
//! shell or interpreter facing the network), never "fine" as nginx; and the card says what the
//! name alone would have made of them, and why that is not established. Each is a real bind
//! of a python listener inside a private network namespace, seen by both owner lookups.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::listener::{hex, python, Listener};
use common::netns::NetNs;
use common::tempdir;
use serde_json::Value;

/// The two owner lookups, as environment variables.
const LOOKUPS: [(&str, &str); 2] = [("WHOPORT_OWNER_LOOKUP", "bpf"), ("WHOPORT_NO_BPF", "1")];

/// The system's python, its links resolved (`/usr/bin/python3.11`): one installed by the
/// system, which nobody may run.
fn real_python() -> Option<PathBuf> {
    python()?;
    let found = std::fs::canonicalize("/usr/bin/python3").ok();
    if found.is_none() {
        eprintln!("SKIPPED: no /usr/bin/python3");
    }
    found
}

/// The card of `port` in JSON and in text, with `lookup`, inside `ns`.
fn card(ns: &NetNs, home: &Path, lookup: (&str, &str), port: u16) -> (Value, String) {
    let port = port.to_string();
    let (status, out, err) = ns.whoport_with(home, &[lookup], &["--json", &port]);
    assert!(status == 0 || status == 1, "{lookup:?}: {status} {err}");
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let (_, text, _) = ns.whoport_with(home, &[lookup], &["--color", "never", &port]);
    (doc, text)
}

/// The one owner of the card's first listener, and its first verdict.
fn owner_and_verdict(doc: &Value) -> (&Value, &Value) {
    let owner = &doc["listeners"][0]["owners"][0];
    let verdict = &doc["verdicts"][0];
    (owner, verdict)
}

fn finding_ids(verdict: &Value) -> Vec<&str> {
    verdict["findings"]
        .as_array()
        .map(|f| f.iter().filter_map(|x| x["id"].as_str()).collect())
        .unwrap_or_default()
}

/// A listener started by `cmd` (a command line that ends up running listen.py), with stdin
/// and stdout as [`Listener`] wants them.
fn start(cmd: std::process::Command) -> Listener {
    Listener::start_command(cmd)
}

/// The checks every case shares: a shell listener, not fine, nothing known of the port by a
/// name, the interpreter named by its file, and the name said not to be established.
fn judged_as_python(doc: &Value, text: &str, case: &str, why: &str) {
    let (owner, verdict) = owner_and_verdict(doc);
    assert_eq!(owner["interpreter"], "python", "{case}: {doc}");
    assert!(doc["listeners"][0]["known_use"].is_null(), "{case}: {doc}");
    assert_eq!(verdict["fine"], false, "{case}: {doc}");
    assert!(
        finding_ids(verdict).contains(&"shell-listener"),
        "{case}: {doc}"
    );
    let named = verdict["named"].as_str().unwrap_or_default();
    assert!(
        named.starts_with("named nginx; ") && named.contains(why),
        "{case}: {named}: {doc}"
    );
    assert!(
        text.contains("not established: named nginx; "),
        "{case}: {text}"
    );
    assert!(!text.contains(": fine"), "{case}: {text}");
    assert!(!text.contains("as a web server"), "{case}: {text}");
}

#[test]
fn a_copy_of_python_named_nginx_is_python_not_nginx() {
    let Some(ns) = NetNs::new() else { return };
    let Some(real) = real_python() else { return };
    let home = tempdir();
    let dir = tempdir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let copy = dir.path().join("nginx");
    // Copied by another process: a descriptor of the copy open for writing here could be
    // inherited by another test thread's fork, and the copy be "busy" (ETXTBSY).
    let copied = std::process::Command::new("cp")
        .arg(&real)
        .arg(&copy)
        .status()
        .expect("cp runs");
    assert!(copied.success(), "a copy of python");
    let mut cmd = ns.command(&copy);
    cmd.arg(common::fixture("listen.py")).arg("tcp4-any:80");
    let l = start(cmd);
    for lookup in LOOKUPS {
        let (doc, text) = card(&ns, home.path(), lookup, 80);
        let case = format!("{lookup:?}");
        let (owner, _) = owner_and_verdict(&doc);
        assert_eq!(owner["pid"], l.pid, "{case}: {doc}");
        assert_eq!(owner["exe_same_here"], true, "{case}: {doc}");
        assert_eq!(owner["exe_own_mount_ns"], false, "{case}: {doc}");
        let why = format!(
            "its executable {} is not the system's nginx",
            copy.display()
        );
        judged_as_python(&doc, &text, &case, &why);
    }
}

#[test]
fn a_system_path_of_a_mount_namespace_of_its_own_is_said_and_proves_nothing() {
    let Some(ns) = NetNs::new() else { return };
    let Some(real) = real_python() else { return };
    let target = Path::new("/usr/sbin/nginx");
    if !target.is_file() || !common::have("setpriv", "apt-get install -y util-linux") {
        eprintln!("SKIPPED: needs a file at /usr/sbin/nginx and setpriv");
        return;
    }
    let home = tempdir();
    // In a mount namespace of its own (a container's, made by root), python bound over
    // /usr/sbin/nginx there runs as nobody: the path is true only in that namespace.
    let listen = common::fixture("listen.py");
    let mut cmd = ns.command(Path::new("unshare"));
    cmd.args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "mount --bind {} /usr/sbin/nginx && exec setpriv --reuid=65534 --regid=65534 \
             --clear-groups /usr/sbin/nginx {} tcp4-any:43480",
            real.display(),
            listen.display()
        ));
    let l = start(cmd);
    for lookup in LOOKUPS {
        let (doc, text) = card(&ns, home.path(), lookup, 43480);
        let case = format!("{lookup:?}");
        let (owner, _) = owner_and_verdict(&doc);
        assert_eq!(owner["pid"], l.pid, "{case}: {doc}");
        assert_eq!(owner["exe"], "/usr/sbin/nginx", "{case}: {doc}");
        assert_eq!(owner["exe_own_mount_ns"], true, "{case}: {doc}");
        assert_eq!(owner["exe_same_here"], false, "{case}: {doc}");
        assert!(
            text.contains("exe       /usr/sbin/nginx (in its own mount namespace)"),
            "{case}: {text}"
        );
        judged_as_python(&doc, &text, &case, "a path of its own mount namespace");
    }
}

/// The system's python listening on `0.0.0.0:port` as `uid`, in a user namespace of its own
/// (`unshare -U -r`, no privilege needed), inside a network namespace of the test's own.
fn in_a_user_namespace_of_its_own(uid: u32, port: u16) -> Option<(NetNs, Listener)> {
    let ns = NetNs::new()?;
    let real = real_python()?;
    if !common::have("setpriv", "apt-get install -y util-linux") {
        return None;
    }
    let mut cmd = ns.command(Path::new("setpriv"));
    cmd.args([
        &format!("--reuid={uid}"),
        &format!("--regid={uid}"),
        "--clear-groups",
    ])
    .args(["unshare", "-U", "-r"])
    .arg(&real)
    .arg(common::fixture("listen.py"))
    .arg(format!("tcp4-any:{port}"));
    let l = start(cmd);
    Some((ns, l))
}

/// nobody's listener in a user namespace of its own (`unshare -U -r`, no privilege needed):
/// there a process may point its own executable link at any file it can open
/// (`PR_SET_MM_EXE_FILE`), a system daemon's among them, so the link establishes nothing
/// (`exe_own_user_ns`, no `exe_same_here`); and the capabilities its namespace's root holds
/// are over that namespace only: said so, never `root-exposed` ("served with root's powers").
/// A shell or interpreter found at the link is still one (`shell-listener`).
#[test]
fn a_process_in_a_user_namespace_of_its_own_proves_nothing_by_its_link_and_has_no_roots_powers() {
    let Some((ns, l)) = in_a_user_namespace_of_its_own(65534, 43482) else {
        return;
    };
    let home = tempdir();
    for lookup in LOOKUPS {
        let (doc, text) = card(&ns, home.path(), lookup, 43482);
        let case = format!("{lookup:?}");
        let (owner, verdict) = owner_and_verdict(&doc);
        assert_eq!(owner["pid"], l.pid, "{case}: {doc}");
        assert_eq!(owner["exe_own_user_ns"], true, "{case}: {doc}");
        assert!(owner["exe_same_here"].is_null(), "{case}: {doc}");
        assert_eq!(owner["interpreter"], "python", "{case}: {doc}");
        assert!(
            owner["capabilities"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c == "CAP_SYS_ADMIN")),
            "{case}: {doc}"
        );
        let ids = finding_ids(verdict);
        assert!(ids.contains(&"shell-listener"), "{case}: {doc}");
        assert!(!doc.to_string().contains("root's powers"), "{case}: {doc}");
        assert!(
            text.contains("as nobody (capabilities over its own user namespace only)"),
            "{case}: {text}"
        );
    }
}

/// The dynamic loader of the system's python (its `PT_INTERP`), when it is at a usual path.
fn loader() -> Option<&'static str> {
    [
        "/lib64/ld-linux-x86-64.so.2",
        "/lib/ld-linux-aarch64.so.1",
        "/lib/ld-linux-x86-64.so.2",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
}

#[test]
fn python_run_through_the_dynamic_loader_and_named_nginx_is_python() {
    let Some(ns) = NetNs::new() else { return };
    let (Some(real), Some(ld)) = (real_python(), loader()) else {
        eprintln!("SKIPPED: no python or dynamic loader at a usual path");
        return;
    };
    let home = tempdir();
    let mut cmd = ns.command(Path::new("setpriv"));
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", ld])
        .arg(&real)
        .arg(common::fixture("listen.py"))
        .args(["--comm-hex", &hex(b"nginx"), "tcp4-any:43481"]);
    let l = start(cmd);
    for lookup in LOOKUPS {
        let (doc, text) = card(&ns, home.path(), lookup, 43481);
        let case = format!("{lookup:?}");
        let (owner, _) = owner_and_verdict(&doc);
        assert_eq!(owner["pid"], l.pid, "{case}: {doc}");
        assert_eq!(owner["name"], "nginx", "{case}: {doc}");
        judged_as_python(&doc, &text, &case, "its executable is the dynamic loader (");
        let named = doc["verdicts"][0]["named"].as_str().unwrap_or_default();
        assert!(
            named.ends_with(&format!("running {}", real.display())),
            "{case}: {named}"
        );
    }
}

/// The same listener, seen by root without CAP_SYS_PTRACE, which cannot read its
/// `ns/user` link: "not read" was taken for "whoport's own namespace", and the capabilities its
/// namespace's root holds were "root's powers" (`root-exposed`). Whether they are over the
/// machine is said not to be known, and no root's powers are claimed.
#[test]
fn capabilities_of_a_process_whose_user_namespace_was_not_read_are_no_roots_powers() {
    let Some((ns, l)) = in_a_user_namespace_of_its_own(1, 43483) else {
        return;
    };
    let home = tempdir();
    let wrapper = [
        "setpriv",
        "--inh-caps=-sys_ptrace",
        "--bounding-set=-sys_ptrace",
    ];
    // (With the /proc walk the kernel reads again the tables root could not: both name it.)
    for lookup in [
        ("WHOPORT_OWNER_LOOKUP", "bpf"),
        ("WHOPORT_OWNER_LOOKUP", "procfs"),
    ] {
        let (status, out, err) =
            ns.whoport_wrapped(home.path(), &[lookup], &wrapper, &["--json", "43483"]);
        assert!(status == 0 || status == 1, "{lookup:?}: {status} {err}");
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        let (owner, _) = owner_and_verdict(&doc);
        assert_eq!(owner["pid"], l.pid, "{lookup:?}: {doc}");
        assert!(
            !doc.to_string().contains("root's powers"),
            "{lookup:?}: {doc}"
        );
        let (_, text, _) = ns.whoport_wrapped(home.path(), &[lookup], &wrapper, &["43483"]);
        assert!(
            text.contains("whether they are over the machine is not known"),
            "{lookup:?}: {text}"
        );
    }
}
