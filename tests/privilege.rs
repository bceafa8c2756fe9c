//! Privilege boundaries: as root, files found through the environment (another user's HOME
//! or XDG_* after `su` or `sudo -E`) are used only if root owns them and only root can write
//! them and the directories above them; and whoport refuses to run when the kernel marked
//! its execution secure (a copy given file capabilities, run as 'nobody').

mod common;

use std::os::unix::fs::{chown, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use common::{bin, fixture, have, is_root, outcome, tempdir, Run};

/// A config that is an error if read: proves whether whoport read it.
const PROBE_CONFIG: &str = "[[accept]]\nid = \"no-such-finding\"\n";

fn text(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

/// XDG directories under `root` with an audit config, an installed registry and a services
/// file, all owned by `uid` with `mode`, in directories owned by `dir_uid`.
struct Staged {
    config_home: PathBuf,
    data_home: PathBuf,
    services: PathBuf,
    config: PathBuf,
    table: PathBuf,
}

fn stage(root: &Path, dir_uid: u32, uid: u32, mode: u32) -> Staged {
    let top = root.join(format!("u{dir_uid}-{uid}-{mode:o}"));
    let config_dir = top.join("config").join("whoport");
    let data_dir = top.join("data").join("whoport");
    std::fs::create_dir_all(&config_dir).expect("config dir");
    std::fs::create_dir_all(&data_dir).expect("data dir");
    let config = config_dir.join("audit.toml");
    let table = data_dir.join("iana.tsv");
    let services = top.join("services");
    std::fs::write(&config, PROBE_CONFIG).expect("config");
    let csv = fixture("iana-quirks.csv");
    let (status, out, err) = common::run(&["registry", "import", text(&csv)]);
    assert_eq!(status, 0, "{err}");
    std::fs::write(&table, out).expect("table");
    std::fs::write(&services, "probe 4321/tcp\n").expect("services");
    for file in [&config, &table, &services] {
        chown(file, Some(uid), Some(uid)).expect("chown");
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    for dir in [
        top.clone(),
        top.join("config"),
        config_dir,
        top.join("data"),
        data_dir,
    ] {
        chown(&dir, Some(dir_uid), Some(dir_uid)).expect("chown dir");
    }
    Staged {
        config_home: top.join("config"),
        data_home: top.join("data"),
        services,
        config,
        table,
    }
}

fn run_staged(s: &Staged, args: &[&str]) -> (i32, String, String) {
    let mut run = common::whoport(&s.data_home);
    run.env("XDG_CONFIG_HOME", &s.config_home)
        .env("WHOPORT_SERVICES_FILE", &s.services)
        .args(args);
    outcome(&mut run)
}

#[test]
fn as_root_files_another_user_controls_are_ignored_with_a_warning() {
    if !is_root() {
        eprintln!("SKIPPED: staging files of another user needs root");
        return;
    }
    let root = tempdir();
    let cases = [
        (
            "owned by nobody",
            stage(root.path(), 0, 65534, 0o644),
            "owned by uid 65534",
        ),
        (
            "root's files in nobody's directory",
            stage(root.path(), 65534, 0, 0o644),
            "owned by uid 65534, not root",
        ),
        (
            "group-writable",
            stage(root.path(), 0, 0, 0o664),
            "writable by its group or by others",
        ),
    ];
    for (what, s, reason) in &cases {
        let (status, _, err) = run_staged(s, &["audit", "--pid", "4294967295"]);
        assert!(
            status == 0 || status == 1,
            "{what}: the config is ignored: {err}"
        );
        assert!(
            err.contains(text(&s.config)) && err.contains(reason),
            "{what}: a warning names the config: {err}"
        );
        let (status, out, err) = run_staged(s, &["registry", "info", "--json"]);
        assert_eq!(status, 0, "{what}: {err}");
        let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert_eq!(doc["source"], "embedded", "{what}");
        assert_eq!(doc["local_services"], 0, "{what}: services file ignored");
        for file in [&s.table, &s.services] {
            assert!(
                err.contains(text(file)) && err.contains(reason),
                "{what}: a warning names {}: {err}",
                file.display()
            );
        }
    }
}

#[test]
fn as_root_roots_own_files_are_used() {
    if !is_root() {
        eprintln!("SKIPPED: checking root's trust needs root");
        return;
    }
    let root = tempdir();
    let s = stage(root.path(), 0, 0, 0o644);
    let (status, _, err) = run_staged(&s, &["audit", "--pid", "4294967295"]);
    assert_eq!(status, 2, "the config is read: {err}");
    assert!(err.contains("no-such-finding"), "{err}");
    let (status, out, err) = run_staged(&s, &["registry", "info", "--json"]);
    assert_eq!(status, 0, "{err}");
    assert!(err.is_empty(), "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(doc["source"], "installed");
    assert_eq!(doc["local_services"], 1);
}

#[test]
fn file_capabilities_are_refused() {
    if !is_root() {
        eprintln!("SKIPPED: giving a copy of whoport file capabilities needs root");
        return;
    }
    if !have("setcap", "apt-get install libcap2-bin") {
        return;
    }
    let dir = tempdir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod dir");
    let copy = dir.path().join("whoport-cap");
    std::fs::copy(bin(), &copy).expect("copy");
    let (status, _, err) =
        outcome(Run::new("setcap").args(["cap_dac_read_search+ep", text(&copy)]));
    assert_eq!(status, 0, "setcap: {err}");
    // A file only root may read, shaped so that a CSV error would quote its first field.
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "SECRET-LINE,2,3,4,5,6,7,8,9,10,11,12\n").expect("secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let (status, out, err) = outcome(
        common::command(dir.path(), &copy)
            .args(["--registry", text(&secret), "22"])
            .uid(65534)
            .gid(65534),
    );
    if !err.contains("refusing") && err.contains("Permission denied") {
        // A nosuid mount ignores file capabilities: nothing to refuse then.
        eprintln!(
            "SKIPPED: {} ignores file capabilities",
            dir.path().display()
        );
        return;
    }
    assert_eq!(status, 2, "{err}");
    assert!(err.contains("file capabilities"), "{err}");
    assert!(!err.contains("SECRET"), "nothing read: {err}");
    assert!(out.is_empty());
}

#[test]
fn as_root_another_users_oversize_file_or_link_loop_is_ignored_not_fatal() {
    if !is_root() {
        eprintln!("SKIPPED: staging files of another user needs root");
        return;
    }
    // Whose file it is is decided before how large it is or whether it opens: another user's
    // oversize config, or their symbolic link loop, is ignored with a warning (exit 0/1),
    // never an error that stops root's audit.
    let root = tempdir();
    let oversize = stage(root.path(), 65534, 65534, 0o644);
    std::fs::write(&oversize.config, vec![b'#'; 1024 * 1024 + 10]).expect("big config");
    let looped = stage(root.path(), 65534, 65534, 0o600);
    std::fs::remove_file(&looped.config).expect("rm");
    std::os::unix::fs::symlink("audit.toml", &looped.config).expect("loop");
    std::os::unix::fs::lchown(&looped.config, Some(65534), Some(65534)).expect("lchown");
    // The same loop owned by root in nobody's directory: the directory decides first.
    let root_loop = stage(root.path(), 65534, 0, 0o640);
    std::fs::remove_file(&root_loop.config).expect("rm");
    std::os::unix::fs::symlink("audit.toml", &root_loop.config).expect("loop");
    for (what, s) in [
        ("oversize", &oversize),
        ("a link loop", &looped),
        ("root's link loop in nobody's directory", &root_loop),
    ] {
        let (status, _, err) = run_staged(s, &["audit", "--pid", "4294967295"]);
        assert!(
            status == 0 || status == 1,
            "{what}: ignored, not fatal: {err}"
        );
        assert!(
            err.contains(text(&s.config)) && err.contains("not trusted as root"),
            "{what}: a warning names the config: {err}"
        );
    }
    // Named on the command line, the same file stays an error.
    let (status, _, err) = run_staged(
        &oversize,
        &[
            "audit",
            "--pid",
            "4294967295",
            "--config",
            text(&oversize.config),
        ],
    );
    assert_eq!(status, 2, "{err}");
    assert!(err.contains("larger than"), "{err}");
}

/// The stderr hint "run as root" follows the reason established: as `nobody` with CAP_BPF
/// and CAP_PERFMON the in-kernel looks read every descriptor table and every unix socket
/// queue, so root's listener left in a unix socket message is "in transit" and no hint is
/// printed; as plain `nobody` (no BPF) the same socket's reason is "run as root" and so is
/// the hint. Both owner lookups.
#[test]
fn the_run_as_root_hint_follows_the_reason_established() {
    use std::process::{Command, Stdio};
    let Some(py) = common::listener::python() else {
        return;
    };
    if !is_root() || !Path::new("/sys/kernel/btf/vmlinux").exists() {
        eprintln!("SKIPPED: needs root and a kernel with BTF");
        return;
    }
    if !have("setpriv", "apt-get install -y util-linux") {
        return;
    }
    let mut child = Command::new(py)
        .args(["-c", common::listener::IN_TRANSIT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python starts");
    let line = common::ready_line(&mut child, std::time::Duration::from_secs(30));
    let port = line.trim().to_string();
    let nobody = ["--reuid=65534", "--regid=65534", "--clear-groups"];
    let caps = ["--inh-caps=+bpf,+perfmon", "--ambient-caps=+bpf,+perfmon"];
    let mut answers = Vec::new();
    for capped in [true, false] {
        for lookup in ["bpf", "procfs"] {
            let home = tempdir();
            let mut run = common::command(home.path(), Path::new("setpriv"));
            run.args(nobody);
            if capped {
                run.args(caps);
            }
            run.arg(bin())
                .env("WHOPORT_OWNER_LOOKUP", lookup)
                .args(["--json", &port]);
            answers.push((capped, lookup, outcome(&mut run)));
        }
    }
    drop(child.stdin.take());
    let _ = child.kill();
    let _ = child.wait();
    for (capped, lookup, (status, out, err)) in answers {
        let doc: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {status} {out}{err}"));
        let rows: Vec<&serde_json::Value> = doc["listeners"]
            .as_array()
            .expect("listeners")
            .iter()
            .filter(|l| l["protocol"] == "tcp" && l["address"] == "127.0.0.1")
            .collect();
        assert_eq!(rows.len(), 1, "{capped} {lookup}: {out}");
        let reason = rows[0]["owner_hidden_reason"].as_str().unwrap_or_default();
        let hint = err.contains("whoport: hint:") && err.contains("run as root");
        if capped {
            assert!(reason.starts_with("in transit"), "{lookup}: {reason}");
            assert!(!hint, "{lookup}: the reason is established: {err}");
        } else {
            assert!(reason.contains("run as root"), "{lookup}: {reason}");
            assert!(
                hint && err.contains("1 socket belongs to processes this user cannot inspect"),
                "{lookup}: {err}"
            );
        }
    }
}

#[test]
fn a_users_own_process_that_is_not_dumpable_is_named_as_not_read_not_ruled_out() {
    if !is_root() {
        eprintln!("SKIPPED: starting a process as nobody needs root");
        return;
    }
    if !have("python3", "apt-get install -y python3") {
        return;
    }
    // nobody's listener, then made not dumpable, as a daemon that changed its credentials
    // is: /proc gives its descriptors to root alone.
    let script = "import socket, os, sys, ctypes\n\
                  l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen()\n\
                  ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)\n\
                  print(os.getpid(), l.getsockname()[1], flush=True); sys.stdin.read()\n";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .uid(65534)
        .gid(65534)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("reports");
    let (pid, port) = line.trim().split_once(' ').expect("pid port");
    for lookup in ["procfs", common::owner_lookup()] {
        let home = tempdir();
        let (_, out, err) = outcome(
            common::whoport_as_nobody(home.path())
                .env("WHOPORT_OWNER_LOOKUP", lookup)
                .args(["--json", port]),
        );
        let doc: serde_json::Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
        let row = doc["listeners"]
            .as_array()
            .expect("listeners")
            .iter()
            .find(|l| l["address"] == "127.0.0.1" && l["protocol"] == "tcp")
            .unwrap_or_else(|| panic!("{lookup}: {doc}"))
            .clone();
        let reason = row["owner_hidden_reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("this user's: not dumpable") && reason.contains(pid),
            "{lookup}: names the process not read: {reason}"
        );
        assert!(
            !reason.contains("no process of this user"),
            "{lookup}: {reason}"
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}
