//! What whoport reads of a process comes from the kernel's `/proc`, never from a file someone
//! mounted over it: a file bound over `/proc/PID/stat`, `status`, `cmdline`, `cgroup` or
//! `maps` in a mount namespace whoport runs in holds what whoever mounted it wrote.

mod common;

use std::process::{Command, Stdio};

use common::listener::{python, Listener};
use common::{tempdir, Reaped};
use serde_json::Value;

/// The two owner lookups, as the environment chooses them.
const LOOKUPS: [&str; 2] = ["WHOPORT_OWNER_LOOKUP=bpf", "WHOPORT_NO_BPF=1"];

/// `whoport --json PORT` with `lookup`, in a private mount namespace where each `(file,
/// target)` of `binds` is bound over `target`: the document.
fn json_with_binds(binds: &[(String, String)], lookup: &str, port: u16) -> Value {
    let (status, out, err) = run_with_binds(binds, lookup, &format!("--json {port}"));
    assert!(status == 0 || status == 1, "{lookup}: {status} {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{lookup}: {e}: {out}"))
}

/// A forged copy of `file` of process `pid`: another program's name, user, command line and
/// unit (a `stat` keeps its PID and start time, so it passes every check of its content).
fn forged(pid: u32, file: &str) -> Vec<u8> {
    let real = std::fs::read_to_string(format!("/proc/{pid}/{file}")).expect("readable");
    match file {
        "stat" => {
            let close = real.rfind(')').expect("a name");
            format!("{pid} (sshd{}", &real[close..]).into_bytes()
        }
        "status" => real
            .lines()
            .map(|l| match l.split_once(':') {
                Some(("Name", _)) => "Name:\tsshd".to_string(),
                Some(("Uid", _)) => "Uid:\t74\t74\t74\t74".to_string(),
                _ => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n")
            .into_bytes(),
        "cmdline" => b"/usr/sbin/sshd\0-D\0".to_vec(),
        "comm" => b"sshd\n".to_vec(),
        _ => b"0::/system.slice/sshd.service\n".to_vec(),
    }
}

/// A [`forged`] copy of `file` of process `pid`, written in `dir`, and where to bind it: over
/// `/proc/PID/FILE` (a `(file, target)` of [`run_with_binds`]).
fn forged_bind(dir: &std::path::Path, pid: u32, file: &str) -> (String, String) {
    let copy = dir.join(file);
    std::fs::write(&copy, forged(pid, file)).expect("written");
    (copy.display().to_string(), format!("/proc/{pid}/{file}"))
}

/// A file mounted over one of a listener's `/proc/PID/stat`, `status`, `cmdline`, `cgroup`
/// never lends it a name, user, command line or unit: both lookups name the owner by its PID
/// as "[/proc/PID/FILE covered by a mount]", with nothing else read of it.
#[test]
fn a_file_mounted_over_a_processs_details_is_never_read_as_them() {
    if !common::mount_namespace_with_btf_or_skip() || python().is_none() {
        return;
    }
    let l = Listener::start(&["tcp4"]);
    let (pid, port) = (l.pid, l.port(0));
    let dir = tempdir();
    for file in ["stat", "status", "cmdline", "cgroup"] {
        let binds = [forged_bind(dir.path(), pid, file)];
        for lookup in LOOKUPS {
            let doc = json_with_binds(&binds, lookup, port);
            let case = format!("{file}, {lookup}: {doc}");
            let owners = doc["listeners"][0]["owners"].as_array().expect(&case);
            assert_eq!(owners.len(), 1, "{case}");
            let owner = &owners[0];
            assert_eq!(owner["pid"], pid, "{case}");
            assert_eq!(
                owner["name"],
                format!("[/proc/{pid}/{file} covered by a mount]"),
                "{case}"
            );
            for field in ["uid", "unit", "exe"] {
                assert!(owner[field].is_null(), "{field}: {case}");
            }
            assert_eq!(owner["cmdline"], serde_json::json!([]), "{case}");
            assert!(!doc.to_string().contains("sshd"), "{case}");
        }
    }
}

/// A baseline saved while a file was mounted over a holder's `/proc/PID/stat` stores that
/// owner as not seen, never its placeholder (`[/proc/PID/stat covered by a mount]`) as its
/// name: the next audit, with nothing mounted, does not call the owner changed, by both
/// lookups.
#[test]
fn a_baseline_saved_while_an_owners_name_was_covered_stores_it_as_not_seen() {
    if !common::mount_namespace_with_btf_or_skip() || python().is_none() {
        return;
    }
    let l = Listener::start(&["tcp4"]);
    let (pid, port) = (l.pid, l.port(0));
    let dir = tempdir();
    let binds = [forged_bind(dir.path(), pid, "stat")];
    for lookup in LOOKUPS {
        let file = dir.path().join("baseline.json");
        let file = file.to_str().expect("utf8");
        let (status, _, err) = run_with_binds(
            &binds,
            lookup,
            &format!("audit --json --save-baseline {file}"),
        );
        assert!(status == 0 || status == 1, "{lookup}: {status} {err}");
        let saved: Value =
            serde_json::from_slice(&std::fs::read(file).expect("saved")).expect("json");
        let entry = saved["listeners"]
            .as_array()
            .expect("listeners")
            .iter()
            .find(|e| e["port"] == port)
            .unwrap_or_else(|| panic!("{lookup}: {saved}"));
        assert_eq!(entry["names"], serde_json::json!([]), "{lookup}: {entry}");
        assert_eq!(entry["exes"], serde_json::json!([]), "{lookup}: {entry}");
        let (status, out, err) =
            run_with_binds(&[], lookup, &format!("audit --json --baseline {file}"));
        assert!(status == 0 || status == 1, "{lookup}: {status} {err}");
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        let changed: Vec<&Value> = doc["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter(|f| f["id"] == "owner-changed" && f["listener"]["port"] == port)
            .collect();
        assert!(changed.is_empty(), "{lookup}: {changed:?}");
        std::fs::remove_file(file).expect("removed");
    }
}

/// A file mounted over the `comm` and `stat` of a listener's parent (forged to say `sshd`)
/// lends the parent no name: both lookups leave the parent's name of a forked child holding
/// the listener unknown, as the walk, which does not read through a mount, always did; the
/// in-kernel lookup, which reads the parent's name in the kernel, named it.
#[test]
fn a_file_mounted_over_a_holders_parents_name_is_never_read_as_it() {
    if !common::mount_namespace_with_btf_or_skip() || python().is_none() {
        return;
    }
    let l = Listener::start(&["--fork", "tcp4"]);
    let (parent, child, port) = (l.pid, l.children[0], l.port(0));
    let dir = tempdir();
    let binds = ["comm", "stat"].map(|file| forged_bind(dir.path(), parent, file));
    for lookup in LOOKUPS {
        let doc = json_with_binds(&binds, lookup, port);
        let case = format!("{lookup}: {doc}");
        let owners = doc["listeners"][0]["owners"].as_array().expect(&case);
        let child = owners
            .iter()
            .find(|o| o["pid"] == child)
            .unwrap_or_else(|| panic!("the child: {case}"));
        assert_eq!(child["parent_pid"], parent, "{case}");
        assert!(child["parent_name"].is_null(), "{case}");
        assert!(!doc.to_string().contains("sshd"), "{case}");
    }
}

/// `whoport PORT --pid A --process NAME`, where A holds the listener beside a forked child whose
/// name was not read (a forged `stat` bound over its `/proc/PID/stat`): the listener may be the
/// one asked for (the child may be named so), and the card says that no listener of PID A
/// whose name contains NAME was seen. It said "No listener of PID A was seen", while A's
/// listener was seen, of another name. Both lookups.
#[test]
fn a_card_asked_for_a_pid_and_a_name_says_what_was_not_seen() {
    if !common::mount_namespace_with_btf_or_skip() || python().is_none() {
        return;
    }
    let l = Listener::start(&["--fork", "tcp4"]);
    let (parent, child, port) = (l.pid, l.children[0], l.port(0));
    let dir = tempdir();
    let binds = [forged_bind(dir.path(), child, "stat")];
    for lookup in LOOKUPS {
        let (status, out, err) = run_with_binds(
            &binds,
            lookup,
            &format!("{port} --pid {parent} --process wpzzz --color never"),
        );
        assert!(status == 0 || status == 1, "{lookup}: {status} {err}");
        assert!(
            out.contains(&format!(
                "No listener of PID {parent} whose name contains 'wpzzz' was seen on {port}/tcp"
            )),
            "{lookup}: {out}"
        );
        assert!(
            !out.contains(&format!("No listener of PID {parent} was seen")),
            "{lookup}: {out}"
        );
    }
}

/// The audit's `hidden-process` finding about the listener on `port`, which must be there and
/// high (`case` says which run, when it is not).
fn hidden_process<'a>(audit: &'a Value, port: u16, case: &str) -> &'a Value {
    let hidden = audit["findings"]
        .as_array()
        .expect(case)
        .iter()
        .find(|f| f["id"] == "hidden-process" && f["listener"]["port"] == port)
        .unwrap_or_else(|| panic!("{case}"));
    assert_eq!(hidden["severity"], "high", "{case}");
    hidden
}

/// `whoport ARGS` with `lookup`, in a private mount namespace where each `(file, target)` of
/// `binds` is bound over `target`: status, standard output and error.
fn run_with_binds(binds: &[(String, String)], lookup: &str, args: &str) -> (i32, String, String) {
    let mounts: String = binds
        .iter()
        .map(|(file, target)| format!("mount --bind {file} {target} && "))
        .collect();
    common::sh_within(
        &format!(
            "exec unshare -m --propagation private sh -c \
             '{mounts}{lookup} exec \"$WHOPORT\" {args}'"
        ),
        std::time::Duration::from_secs(60),
    )
}

/// A listener whose owner was seen but whose name could not be read (a file mounted over its
/// `/proc/PID/stat`, forged to say `sshd`) may be any process asked for by name: `--process
/// NAME`, a port card with `--process` and a program's name keep it as possibly that
/// process's, saying which owner's name was not read, by both lookups, in JSON and in text;
/// a wait for that process's listener says its owner could not be named; the audit of that
/// process judges it, and every audit says that a holder is hidden by a mount (`hidden-process`,
/// high). Before, `--process python3` said `No listening sockets match.` of the python3 listener,
/// and the card that it was hidden by `--process`; and the placeholder's own words were
/// taken for a name (`--process mount` listed it as that process's).
#[test]
fn an_owner_whose_name_was_not_read_may_be_the_process_asked_for() {
    if !common::mount_namespace_with_btf_or_skip() || python().is_none() {
        return;
    }
    let l = Listener::start(&["tcp4"]);
    let (pid, port) = (l.pid, l.port(0));
    let dir = tempdir();
    let binds = [forged_bind(dir.path(), pid, "stat")];
    let endpoint = format!("127.0.0.1:{port}");
    let reason = format!(
        "held by pid {pid} [/proc/{pid}/stat covered by a mount], whose name could not be read"
    );
    for lookup in LOOKUPS {
        for args in [
            "--process python3".to_string(),
            "--process sshd".to_string(),
            "--process mount".to_string(),
            format!("{port} --process python3"),
            "python3".to_string(),
        ] {
            let (status, out, err) = run_with_binds(&binds, lookup, &format!("--json {args}"));
            let case = format!("{lookup}, {args}: ({status}) {out}{err}");
            assert!(status == 0 || status == 1, "{case}");
            let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {case}"));
            let rows = doc["listeners"].as_array().expect(&case);
            assert!(!rows.iter().any(|r| r["port"] == port), "{case}");
            let kept: Vec<&Value> = doc["unattributed"]
                .as_array()
                .expect(&case)
                .iter()
                .filter(|u| u["endpoint"] == endpoint.as_str())
                .collect();
            assert_eq!(kept.len(), 1, "{case}");
            assert_eq!(kept[0]["reason"], reason.as_str(), "{case}");
        }
        let (status, out, err) = run_with_binds(&binds, lookup, "--process python3");
        let case = format!("{lookup}: ({status}) {out}{err}");
        assert!(
            // (With other listeners beside it, "2 listening sockets have owners whoport could
            // not see or name" or "1 more …": PID 1's on a machine whose init refuses root, other
            // tests' python3.)
            (out.contains("whoport could not name")
                || out.contains("whoport could not see or name"))
                && out.contains(&reason),
            "{case}"
        );
        assert!(!out.contains("No listening sockets match"), "{case}");
        let (status, out, err) =
            run_with_binds(&binds, lookup, &format!("{port} --process python3"));
        let case = format!("{lookup}: ({status}) {out}{err}");
        assert!(
            out.contains("there has an owner whoport could not name") && out.contains(&reason),
            "{case}"
        );
        assert!(!out.contains("hidden by --process"), "{case}");
        // A wait for a listener of that process ends at its timeout saying why it is unknown.
        let (status, out, err) = run_with_binds(
            &binds,
            lookup,
            &format!("wait {port} --listening --process python3 --timeout 1s"),
        );
        let case = format!("{lookup}: ({status}) {out}{err}");
        assert_eq!(status, 1, "{case}");
        assert!(
            format!("{out}{err}").contains("the owners of some could not be seen or named"),
            "{case}"
        );
        // The audit of that process judges it (it may be that process's), never leaves it out.
        let (status, out, err) = run_with_binds(&binds, lookup, "audit --json --process python3");
        let case = format!("{lookup}: ({status}) {out}{err}");
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {case}"));
        assert!(
            doc["findings"]
                .as_array()
                .expect(&case)
                .iter()
                .any(|f| f["listener"]["port"] == port),
            "{case}"
        );
        // And the audit says that something is mounted over a holder's /proc entry, whatever
        // is asked: a process hidden so deserves a look.
        for args in ["audit --json --process python3", "audit --json"] {
            let (status, out, err) = run_with_binds(&binds, lookup, args);
            let case = format!("{lookup}, {args}: ({status}) {out}{err}");
            let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {case}"));
            let hidden = hidden_process(&doc, port, &case);
            // (Checked below: a rule for the listener's other fields accepts it, one for its
            // holders' names does not.)
            assert!(
                hidden["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(&format!(
                        "is held by pid {pid}: something is mounted over /proc/{pid}/stat"
                    ))),
                "{case}"
            );
        }
        // Accepted by the socket's port; never by a holder's name (another holder's, a
        // service it shares the socket with, would let it hide), nor by the placeholder.
        for (rule, accepted) in [
            (format!("id = \"*\"\nport = {port}\n"), true),
            ("id = \"*\"\nprocess = \"python3\"\n".to_string(), false),
            (
                format!("id = \"hidden-process\"\nprocess = \"[/proc/{pid}/stat covered by a mount]\"\n"),
                false,
            ),
        ] {
            let config = dir.path().join("accept.toml");
            std::fs::write(&config, format!("[[accept]]\n{rule}reason = \"known\"\n")).expect("written");
            let (status, out, err) = run_with_binds(
                &binds,
                lookup,
                &format!("audit --json --config {}", config.display()),
            );
            let case = format!("{lookup}, {rule}: ({status}) {out}{err}");
            let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {case}"));
            let found = |key: &str| {
                doc[key]
                    .as_array()
                    .expect(&case)
                    .iter()
                    .any(|f| f["id"] == "hidden-process" && f["listener"]["port"] == port)
            };
            assert_eq!(found("findings"), !accepted, "{case}");
            assert_eq!(found("suppressed"), accepted, "{case}");
        }
    }
}

/// A directory mounted over the `fd` directories of two forked children sharing their
/// parent's listener hides them from `ss -p` and `lsof`, though their details read whole: the
/// in-kernel lookup, and the walk that asks the kernel, name both, and the audit says that
/// something is mounted over each, by whoport's own mount table (`hidden-process`, high). It
/// said nothing of them before.
#[test]
fn a_directory_mounted_over_a_holders_descriptors_is_a_hidden_process_in_the_audit() {
    if !common::mount_namespace_with_btf_or_skip() || python().is_none() {
        return;
    }
    let l = Listener::start(&["--forks", "2", "tcp4"]);
    let port = l.port(0);
    let mut children = l.children.clone();
    children.sort_unstable();
    let mounts: String = children
        .iter()
        .map(|c| format!("mount -t tmpfs whoport-fd /proc/{c}/fd && "))
        .collect();
    let over: Vec<String> = children.iter().map(|c| format!("/proc/{c}/fd")).collect();
    let message = format!(
        "is held by pids {}, {}: something is mounted over each of {}, a way to hide a process",
        children[0],
        children[1],
        over.join(", ")
    );
    for lookup in ["WHOPORT_OWNER_LOOKUP=bpf", "WHOPORT_OWNER_LOOKUP=procfs"] {
        let (status, out, err) = common::sh_within(
            &format!(
                "exec unshare -m --propagation private sh -c \
                 '{mounts}{lookup} exec \"$WHOPORT\" audit --json'"
            ),
            std::time::Duration::from_secs(60),
        );
        let case = format!("{lookup}: ({status}) {out}{err}");
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {case}"));
        let hidden = hidden_process(&doc, port, &case);
        assert!(
            hidden["message"]
                .as_str()
                .is_some_and(|m| m.contains(&message)),
            "{case}"
        );
    }
}

/// A symbolic link mounted over a listener's `/proc/PID/exe` itself (the new mount API mounts
/// on a link), naming `/usr/sbin/sshd`: the link was not read through the mount, but the
/// owner's executable was then simply unknown (`exe: null`), with nothing said, and the rest
/// of the process was read as if nothing were amiss. As for its other files, the owner is named
/// "[/proc/PID/exe covered by a mount]", with nothing read of it, by both lookups.
#[test]
fn a_link_mounted_over_a_processs_executable_link_is_said_covered() {
    if !common::mount_namespace_with_btf_or_skip() || python().is_none() {
        return;
    }
    let dir = tempdir();
    let Some(mount_on_link) = common::compile_fixture(dir.path(), "mount_on_link") else {
        return;
    };
    let l = Listener::start(&["tcp4"]);
    let (pid, port) = (l.pid, l.port(0));
    let decoy = dir.path().join("decoy");
    std::os::unix::fs::symlink("/usr/sbin/sshd", &decoy).expect("a link");
    for lookup in LOOKUPS {
        let (status, out, err) = common::sh_within(
            &format!(
                "exec unshare -m --propagation private sh -c '{} {} /proc/{pid}/exe && \
                 {lookup} exec \"$WHOPORT\" --json {port}'",
                mount_on_link.display(),
                decoy.display()
            ),
            std::time::Duration::from_secs(60),
        );
        assert!(status == 0 || status == 1, "{lookup}: {status} {err}");
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        let case = format!("{lookup}: {doc}");
        let owners = doc["listeners"][0]["owners"].as_array().expect(&case);
        assert_eq!(owners.len(), 1, "{case}");
        assert_eq!(owners[0]["pid"], pid, "{case}");
        assert_eq!(
            owners[0]["name"],
            format!("[/proc/{pid}/exe covered by a mount]"),
            "{case}"
        );
        for field in ["uid", "unit", "exe"] {
            assert!(owners[0][field].is_null(), "{field}: {case}");
        }
        assert!(!doc.to_string().contains("sshd"), "{case}");
    }
}

/// A listener whose only reference is a message in transit over a unix socket (so the walk
/// looks for it in memory mappings too), and an innocent process: `(port, inode, sender)`.
const IN_TRANSIT: &str = r#"
import array, json, os, socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
port, inode = s.getsockname()[1], os.fstat(s.fileno()).st_ino
a, b = socket.socketpair()
a.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [s.fileno()]))])
s.close()
print(json.dumps({"port": port, "inode": inode, "sender": os.getpid()}), flush=True)
sys.stdin.read()
"#;

/// The listener of [`IN_TRANSIT`] and an innocent `sleep`: `(script, innocent, port, inode)`.
fn in_transit_and_innocent() -> Option<(Reaped, Reaped, u16, u64)> {
    let py = python()?;
    let mut script = Reaped(common::listener::spawn_retrying(
        Command::new(py)
            .args(["-c", IN_TRANSIT])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    ));
    let line = common::ready_line(&mut script.0, std::time::Duration::from_secs(20));
    let ready: Value = serde_json::from_str(&line).expect("JSON");
    let innocent = Reaped(
        Command::new("sleep")
            .arg("120")
            .stdin(Stdio::null())
            .spawn()
            .expect("sleep starts"),
    );
    let port = u16::try_from(ready["port"].as_u64().expect("port")).expect("port");
    let inode = ready["inode"].as_u64().expect("inode");
    Some((script, innocent, port, inode))
}

/// With each of `binds` in turn, neither lookup names `innocent` among the owners of `port`,
/// and the walk's reason holds `words` (with the bind's target for `{target}`).
fn never_framed(binds: &[(String, String)], port: u16, innocent: u32, words: &str) {
    for bind in binds {
        for lookup in LOOKUPS {
            let doc = json_with_binds(std::slice::from_ref(bind), lookup, port);
            let row = &doc["listeners"][0];
            let owners = row["owners"].as_array().expect("owners");
            assert!(
                owners.iter().all(|o| o["pid"] != innocent),
                "{}, {lookup}: {doc}",
                bind.1
            );
            if lookup.contains("NO_BPF") {
                let reason = row["owner_hidden_reason"].as_str().expect("a reason");
                let words = words.replace("{target}", &bind.1);
                assert!(reason.contains(&words), "{words}: {reason}");
            }
        }
    }
}

/// A forged `/proc/PID/maps` mounted over an innocent process's, with one line mapping a
/// listener's socket, never makes that process the holder: neither lookup names it, and the
/// walk's reason says that process's maps are covered by a mount and were not read.
#[test]
fn a_file_mounted_over_a_processs_maps_never_frames_it_as_a_holder() {
    if !common::mount_namespace_with_btf_or_skip() {
        return;
    }
    let Some((_script, innocent, port, inode)) = in_transit_and_innocent() else {
        return;
    };
    let innocent_pid = innocent.0.id();
    let dir = tempdir();
    let maps = dir.path().join("maps");
    let mut forged = std::fs::read(format!("/proc/{innocent_pid}/maps")).expect("maps");
    forged.extend(
        format!("7f0000000000-7f0000001000 rw-s 00000000 00:08 {inode}      socket:[{inode}]\n")
            .bytes(),
    );
    std::fs::write(&maps, forged).expect("written");
    let binds = [(
        maps.display().to_string(),
        format!("/proc/{innocent_pid}/maps"),
    )];
    never_framed(
        &binds,
        port,
        innocent_pid,
        "a file is mounted over {target}, which whoport does not read through",
    );
}

/// A crafted directory mounted over an innocent process's `/proc/PID/fd` (a link `3 ->
/// socket:[INODE]` to a listener's socket in it) or over its `/proc/PID/task` (two "threads",
/// one with such a link in its `fd`), never makes that process the holder: neither lookup
/// names it, and the walk's reason says the directory is mounted over and was not read
/// through. The walk used to read the crafted thread table as the process's own.
#[test]
fn a_directory_mounted_over_a_processs_descriptors_never_frames_it_as_a_holder() {
    if !common::mount_namespace_with_btf_or_skip() {
        return;
    }
    let Some((_script, innocent, port, inode)) = in_transit_and_innocent() else {
        return;
    };
    let pid = innocent.0.id();
    let dir = tempdir();
    let (fd, task) = (dir.path().join("fd"), dir.path().join("task"));
    let thread_fd = task.join("4000000/fd");
    for made in [&fd, &task.join("1"), &thread_fd] {
        std::fs::create_dir_all(made).expect("made");
        let link = made.join("3");
        std::os::unix::fs::symlink(format!("socket:[{inode}]"), link).expect("a link");
    }
    let binds = [
        (fd.display().to_string(), format!("/proc/{pid}/fd")),
        (task.display().to_string(), format!("/proc/{pid}/task")),
    ];
    never_framed(
        &binds,
        port,
        pid,
        "a directory is mounted over {target} (a way to hide a process), which whoport does \
         not read through",
    );
}

/// `whoport --json PORT` as nobody with CAP_BPF and CAP_PERFMON, the owner lookup `lookup`
/// asked for, in a private mount namespace where `/proc` is a new instance mounted with
/// `hidepid=HIDEPID`: (status, stdout, stderr).
fn as_nobody_with_bpf_under_hidepid(
    hidepid: &str,
    lookup: &str,
    port: u16,
) -> (i32, String, String) {
    as_nobody_with_bpf_under_hidepid_run(hidepid, lookup, &format!("--json {port}"))
}

/// [`as_nobody_with_bpf_under_hidepid`] with these arguments.
fn as_nobody_with_bpf_under_hidepid_run(
    hidepid: &str,
    lookup: &str,
    args: &str,
) -> (i32, String, String) {
    as_nobody_after(
        &format!("mount -t proc -o hidepid={hidepid} proc /proc"),
        &format!("WHOPORT_OWNER_LOOKUP={lookup}"),
        "--inh-caps=+bpf,+perfmon --ambient-caps=+bpf,+perfmon",
        args,
    )
}

/// `/proc` mounted `hidepid=invisible` (a new proc instance in a private mount namespace, a
/// common hardening) hides root's listener's process from nobody with CAP_BPF and
/// CAP_PERFMON: the kernel's iterator names it, as hidden from this user by hidepid, never
/// as having exited; the `/proc` walk, which cannot see it, never says it exited either, and
/// its reason (and the audit's fix) says that `/proc` hides other users' processes from this
/// user, with the option (`invisible`, and `ptraceable`, which hides what it may not trace).
#[test]
fn a_process_proc_hides_from_this_user_never_exited() {
    if !common::root_or_skip("a private mount namespace and a new /proc")
        || !std::path::Path::new("/sys/kernel/btf/vmlinux").exists()
        || !common::have("setpriv", "apt-get install -y util-linux")
        || python().is_none()
    {
        return;
    }
    let l = Listener::start(&["tcp4"]);
    let (pid, port) = (l.pid, l.port(0));
    for (how, lookup) in [
        ("invisible", "bpf"),
        ("invisible", "procfs"),
        ("ptraceable", "procfs"),
    ] {
        let as_nobody = |args: &str| {
            let (status, out, err) = as_nobody_with_bpf_under_hidepid_run(how, lookup, args);
            assert!(status == 0 || status == 1, "{how} {lookup}: {status} {err}");
            let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
            // (Only of this listener: other tests' processes may exit during a listing of
            // the whole machine.)
            let ours = |l: &&Value| l["port"] == port || l["listener"]["port"] == port;
            for part in ["listeners", "findings"] {
                for l in doc[part].as_array().into_iter().flatten().filter(ours) {
                    assert!(!l.to_string().contains("exited"), "{how} {lookup}: {l}");
                }
            }
            doc
        };
        let doc = as_nobody(&format!("--json {port}"));
        let row = &doc["listeners"][0];
        if lookup == "bpf" {
            let owner = &row["owners"][0];
            assert_eq!(owner["pid"], pid, "{doc}");
            assert_eq!(
                owner["name"],
                format!("[/proc/{pid} hidden from this user (hidepid=invisible)]"),
                "{doc}"
            );
            // Its owner's user is not known: the socket's own (root's) is what `--user` has.
            let root = as_nobody("--json --user root -4 -t");
            let ports: Vec<&Value> = root["listeners"]
                .as_array()
                .expect("listeners")
                .iter()
                .map(|l| &l["port"])
                .collect();
            assert!(ports.contains(&&Value::from(port)), "{root}");
            continue;
        }
        // Where the walk's second look asks the kernel (it did once in a full run, for a reason
        // not established: no staged process of this user's made it), the kernel names the
        // holder as the in-kernel lookup does: hidden from this user by hidepid, either way.
        let named = format!("[/proc/{pid} hidden from this user (hidepid={how})]");
        let said = format!("/proc hides other users' processes from this user (hidepid={how})");
        let kernel_named = match row["owners"].as_array().and_then(|o| o.first()) {
            Some(owner) => {
                assert!(owner["pid"] == pid && owner["name"] == named, "{doc}");
                true
            }
            None => {
                let reason = row["owner_hidden_reason"].as_str().unwrap_or_default();
                assert!(reason.contains(&said), "{how}: {doc}");
                false
            }
        };
        let audit = as_nobody("audit --json --user root -4 -t");
        let hidden = audit["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .find(|f| f["id"] == "hidden-owner" && f["listener"]["port"] == port);
        match hidden {
            Some(hidden) => assert!(
                hidden["hint"].as_str().is_some_and(|h| h.contains(&said)),
                "{how}: {hidden}"
            ),
            // No hidden owner: the kernel named it here too, as for the card.
            None => assert!(kernel_named, "{how}: {audit}"),
        }
    }
}

/// `/proc` mounted `hidepid=noaccess` (every process listed, another user's files closed),
/// whoport as `nobody` without capabilities: root's listener's process cannot be read. Its
/// reason, the card's verdict and every audit finding that says who holds the socket name
/// that cause ("an owner not seen (/proc hides other users' processes from this user
/// (hidepid=noaccess): run as root to see it)"), and no other, with both lookups asked for
/// (the in-kernel one is not this user's to use).
#[test]
fn who_holds_a_socket_proc_hides_with_noaccess_is_said_so() {
    if !common::root_or_skip("a private mount namespace and a new /proc")
        || !common::have("setpriv", "apt-get install -y util-linux")
        || python().is_none()
    {
        return;
    }
    let l = Listener::start(&["tcp4"]);
    let port = l.port(0);
    let said = "/proc hides other users' processes from this user (hidepid=noaccess)";
    let who = format!("an owner not seen ({said}: run as root to see it)");
    for lookup in ["bpf", "procfs"] {
        let json = |args: &str| {
            let (status, out, err) = as_nobody_after(
                "mount -t proc -o hidepid=noaccess proc /proc",
                &format!("WHOPORT_OWNER_LOOKUP={lookup}"),
                "",
                args,
            );
            assert!(status == 0 || status == 1, "{lookup}: {status} {err}");
            serde_json::from_str::<Value>(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
        };
        let card = json(&format!("--json {port}"));
        let reason = card["listeners"][0]["owner_hidden_reason"]
            .as_str()
            .unwrap_or_default();
        assert!(reason.contains(said), "{lookup}: {card}");
        assert_eq!(card["verdicts"][0]["who"], who, "{lookup}: {card}");
        let audit = json("audit --json --user root -4 -t");
        let ours: Vec<&Value> = audit["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter(|f| f["listener"]["port"] == port)
            .collect();
        let hidden = ours
            .iter()
            .find(|f| f["id"] == "hidden-owner")
            .unwrap_or_else(|| panic!("{lookup}: {audit}"));
        assert_eq!(
            hidden["hint"],
            format!("{said}: run as root (sudo whoport audit) to see its process"),
            "{lookup}: {hidden}"
        );
        for finding in ours {
            for text in [&finding["message"], &finding["hint"]] {
                let text = text.as_str().unwrap_or_default();
                assert!(
                    !text.contains("an owner not seen") || text.contains(&who),
                    "{lookup}: {finding}"
                );
            }
        }
    }
}

/// whoport in a container's mount namespace only (`nsenter -m -t CONTAINER`), whose `/proc` is
/// the container's PID namespace's: it lists processes but not whoport. The reason says so,
/// with both lookups, never that `/proc` is not mounted.
#[test]
fn another_pid_namespaces_proc_is_said_to_be_so() {
    if !common::root_or_skip("a PID namespace with its own /proc")
        || !common::have("nsenter", "apt-get install -y util-linux")
        || python().is_none()
    {
        return;
    }
    let l = Listener::start(&["tcp4"]);
    let port = l.port(0);
    let container = Reaped(
        Command::new("unshare")
            .args(["--kill-child", "-p", "-f", "--mount-proc", "sleep", "120"])
            .stdin(Stdio::null())
            .spawn()
            .expect("unshare starts"),
    );
    let id = container.0.id();
    let children = format!("/proc/{id}/task/{id}/children");
    let mut inside = None;
    for _ in 0..100 {
        inside = std::fs::read_to_string(&children)
            .ok()
            .and_then(|c| c.split_whitespace().next().map(str::to_string));
        if inside.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let inside = inside.expect("the container's process started");
    for lookup in LOOKUPS {
        let (status, out, err) = common::sh_within(
            &format!("{lookup} exec nsenter -m -t {inside} \"$WHOPORT\" --json {port}"),
            std::time::Duration::from_secs(60),
        );
        assert!(status == 0 || status == 1, "{lookup}: {status} {err}");
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        let reason = doc["listeners"][0]["owner_hidden_reason"]
            .as_str()
            .unwrap_or_else(|| panic!("{lookup}: {out}"));
        assert!(
            reason.contains("/proc belongs to another PID namespace"),
            "{lookup}: {reason}"
        );
        assert!(!reason.contains("not mounted"), "{lookup}: {reason}");
        assert!(!reason.contains("not readable"), "{lookup}: {reason}");
    }
    // The listing's few words say it too.
    let (_, out, _) = common::sh_within(
        &format!("exec nsenter -m -t {inside} \"$WHOPORT\" --color never {port}"),
        std::time::Duration::from_secs(60),
    );
    assert!(
        out.contains("unavailable: /proc is another PID namespace's"),
        "{out}"
    );
}

/// A seccomp filter that refuses `openat2` with `EPERM` (as container runtimes' and service
/// managers' filters answer calls they do not know): every file below `/proc` is opened
/// plainly, as on a kernel without `openat2`, and the owner is named. Before, each of those
/// opens was refused: the iterator called every live owner "[exited during scan]" and the
/// walk blamed a security module for every process.
#[test]
fn openat2_refused_by_a_filter_costs_no_owner() {
    let Some(py) = python() else { return };
    let dir = tempdir();
    let Some(no_bpf) = common::compile_fixture(dir.path(), "no_bpf") else {
        return;
    };
    let listener = Listener::start_with(&py, &["tcp4"]);
    let port = listener.port(0);
    let home = tempdir();
    let out = common::command(home.path(), &no_bpf)
        .args(["--openat2", "1"])
        .arg(common::bin())
        .args(["--json", &port.to_string()])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let lookup = common::owner_lookup();
    let row = common::loopback_tcp_row(&doc, u64::from(port), lookup);
    assert_eq!(
        common::listener::owner_pids(row),
        vec![u64::from(listener.pid)],
        "{lookup}: {row}"
    );
    let owner = doc["processes"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["pid"] == listener.pid))
        .or_else(|| row["owners"].as_array().and_then(|o| o.first()))
        .cloned()
        .unwrap_or_default();
    assert!(
        owner.to_string().contains("python3"),
        "{lookup}: the owner's name: {owner} in {doc}"
    );
}

/// `tests/fixtures/hold.c` in `mapping` mode, compiled into `dir` and started: a listener on
/// 127.0.0.1 held only through a memory mapping (its descriptor closed), with its port and the
/// holder's PID; `None` (said skipped) where it cannot be built or the kernel refuses the
/// mapping.
fn mapping_holder(dir: &std::path::Path) -> Option<(Reaped, u16, u32)> {
    holder_in_mode(dir, "mapping")
}

/// [`mapping_holder`] in any mode of `tests/fixtures/hold.c` that maps the socket.
fn holder_in_mode(dir: &std::path::Path, mode: &str) -> Option<(Reaped, u16, u32)> {
    let bin = common::compile_fixture(dir, "hold")?;
    let mut holder = Reaped(common::listener::spawn_retrying(
        Command::new(bin)
            .arg(mode)
            .stdin(Stdio::null())
            .stdout(Stdio::piped()),
    ));
    let line = common::ready_line(&mut holder.0, std::time::Duration::from_secs(20));
    let Ok(ready) = serde_json::from_str::<Value>(&line) else {
        eprintln!("SKIPPED: the kernel refused a memory mapping of a socket here: {line}");
        return None;
    };
    let port = ready["port"].as_u64().and_then(|p| u16::try_from(p).ok());
    let pid = ready["pid"].as_u64().and_then(|p| u32::try_from(p).ok());
    Some((holder, port.expect("port"), pid.expect("pid")))
}

/// The one owner of the listener on 127.0.0.1:`port` in `doc` and how it holds it.
fn owner_and_holding(doc: &Value, port: u16, lookup: &str) -> (Vec<u64>, Value) {
    let row = common::loopback_tcp_row(doc, u64::from(port), lookup);
    (
        common::listener::owner_pids(row),
        row["held_through"].clone(),
    )
}

/// A process that holds a listener only through a memory mapping, whose `/proc/PID/maps` is
/// covered by a file mounted over it (which whoport does not read through): its mappings are
/// read in the kernel, by the `/proc` walk as after the iterator, and both lookups name it.
/// Before, the walk said the mapping could not be read (its kernel look was never made).
#[test]
fn a_mapping_behind_a_file_mounted_over_its_maps_is_read_in_the_kernel() {
    if !common::mount_namespace_with_btf_or_skip() {
        return;
    }
    let dir = tempdir();
    let Some((_holder, port, pid)) = mapping_holder(dir.path()) else {
        return;
    };
    let real = std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("maps");
    assert!(real.contains("socket:["), "the socket is mapped: {real}");
    let without: String = real
        .lines()
        .filter(|l| !l.contains("socket:["))
        .map(|l| format!("{l}\n"))
        .collect();
    let maps = dir.path().join("maps");
    std::fs::write(&maps, without).expect("written");
    let binds = [(maps.display().to_string(), format!("/proc/{pid}/maps"))];
    for lookup in ["WHOPORT_OWNER_LOOKUP=bpf", "WHOPORT_OWNER_LOOKUP=procfs"] {
        let doc = json_with_binds(&binds, lookup, port);
        assert_eq!(
            owner_and_holding(&doc, port, lookup),
            (
                vec![u64::from(pid)],
                Value::from("held through a memory mapping")
            ),
            "{lookup}: {doc}"
        );
        assert!(
            !doc["notes"].to_string().contains("mounted over"),
            "{lookup}: {doc}"
        );
    }
}

/// A root process that holds a listener only through a memory mapping, seen by nobody with
/// CAP_BPF and CAP_PERFMON through a `/proc` mounted `hidepid=noaccess`, which refuses its
/// `/proc/PID/maps` to that user: both lookups read its mappings in the kernel and name it.
/// Before, the walk loaded the programs for its second look without verifying the one that
/// reads mappings, so that look never happened and the socket was called ownerless.
#[test]
fn a_mapping_whose_maps_proc_refuses_is_read_in_the_kernel_by_both_lookups() {
    if !common::mount_namespace_with_btf_or_skip()
        || !common::have("setpriv", "apt-get install -y util-linux")
    {
        return;
    }
    let dir = tempdir();
    let Some((_holder, port, pid)) = mapping_holder(dir.path()) else {
        return;
    };
    for lookup in ["bpf", "procfs"] {
        let (status, out, err) = as_nobody_with_bpf_under_hidepid("noaccess", lookup, port);
        assert!(status == 0 || status == 1, "{lookup}: {status} {err}");
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        assert_eq!(doc["owner_lookup"], lookup, "{out}");
        assert_eq!(
            owner_and_holding(&doc, port, lookup),
            (
                vec![u64::from(pid)],
                Value::from("held through a memory mapping")
            ),
            "{lookup}: {out}"
        );
    }
}

/// A root process that maps its listener and keeps its descriptor open, seen by nobody with
/// CAP_BPF and CAP_PERFMON (who may read neither its descriptors nor its `/proc/PID/maps`):
/// the in-kernel lookup names it by its descriptor, and so does the `/proc` walk, whose second
/// look reads in the kernel the tables it could not read before saying how the socket is
/// held. Before, the walk said "held through a memory mapping", which states that no
/// descriptor holds it: the two lookups disagreed.
#[test]
fn a_mapped_socket_whose_descriptor_is_open_is_held_by_that_descriptor_with_both_lookups() {
    if !common::mount_namespace_with_btf_or_skip()
        || !common::have("setpriv", "apt-get install -y util-linux")
    {
        return;
    }
    let dir = tempdir();
    let Some((_holder, port, pid)) = holder_in_mode(dir.path(), "mapping-and-descriptor") else {
        return;
    };
    for lookup in ["bpf", "procfs"] {
        let (status, out, err) = as_nobody_with_bpf_under_hidepid("off", lookup, port);
        assert!(status == 0 || status == 1, "{lookup}: {status} {err}");
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        assert_eq!(doc["owner_lookup"], lookup, "{out}");
        assert_eq!(
            owner_and_holding(&doc, port, lookup),
            (vec![u64::from(pid)], Value::Null),
            "{lookup}: {out}"
        );
    }
}

/// Two "containers" (private mount namespaces, each binding a tmpfs directory over a directory
/// of whoport's view) run a listener from a copy of the interpreter there, deleted since;
/// in whoport's view another file stands at that path. A symbolic link mounted over the
/// first's `/proc/PID/root` (`/`, whoport's own root) and one over the second's
/// `/proc/PID/ns/mnt` (`/proc/self/ns/mnt`, whoport's own namespace) used to be followed:
/// the path was looked at in whoport's view, and each deleted executable became a "restart
/// pending". Neither link is read across the mount: both stay `high deleted-executable`,
/// saying what is mounted over, with both owner lookups.
#[test]
fn a_link_mounted_over_a_containers_root_or_namespace_is_never_followed() {
    if !common::root_or_skip("containers in private mount namespaces") {
        return;
    }
    let Some(py) = python() else { return };
    let dir = tempdir();
    let Some(mount_on_link) = common::compile_fixture(dir.path(), "mount_on_link") else {
        return;
    };
    let d = dir.path().display();
    let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).expect(name);
    write("listen.py", common::listener::LISTEN_AND_SIGNAL.into());
    // ctr.sh SOURCE MOUNTPOINT PORT, in a mount namespace of its own.
    write(
        "ctr.sh",
        format!(
            r#"set -e
mount --bind "$1" "$2"
cp {py} "$2/wpa-lnk"
PYTHONHOME={prefix} "$2/wpa-lnk" {d}/listen.py $3 {d}/ready.$3 & echo $! >{d}/pid.$3
i=0; until [ -e {d}/ready.$3 ]; do i=$((i+1)); [ $i -lt 600 ]; sleep 0.1; done
rm "$2/wpa-lnk"
touch {d}/done.$3
wait
"#,
            py = py.display(),
            prefix = common::listener::python_prefix(),
        ),
    );
    let (status, _, err) = common::sh_within(
        &format!(
            r##"exec unshare -n -m --propagation private sh -c '
set -e
ip link set lo up
mkdir {d}/t {d}/ctr
mount -t tmpfs -o mode=0755 tmpfs {d}/t; mkdir {d}/t/a {d}/t/b
printf "#!/bin/sh\n" >{d}/ctr/wpa-lnk; chmod 755 {d}/ctr/wpa-lnk
ln -s / {d}/slash; ln -s /proc/self/ns/mnt {d}/ours
trap "kill \$(cat {d}/pid.*)" EXIT
unshare -m --propagation private sh {d}/ctr.sh {d}/t/a {d}/ctr 51501 &
unshare -m --propagation private sh {d}/ctr.sh {d}/t/b {d}/ctr 51502 &
i=0; until [ -e {d}/done.51501 ] && [ -e {d}/done.51502 ]; do i=$((i+1)); [ $i -lt 600 ]; sleep 0.1; done
{mount_on_link} {d}/slash /proc/$(cat {d}/pid.51501)/root
{mount_on_link} {d}/ours /proc/$(cat {d}/pid.51502)/ns/mnt
WHOPORT_OWNER_LOOKUP=procfs "$WHOPORT" audit --json --process wpa-lnk >{d}/procfs.json || true
"$WHOPORT" audit --json --process wpa-lnk >{d}/default.json || true
'"##,
            mount_on_link = mount_on_link.display(),
        ),
        std::time::Duration::from_secs(240),
    );
    assert_eq!(status, 0, "{err}");
    let pid =
        |port: u16| std::fs::read_to_string(dir.path().join(format!("pid.{port}"))).expect("pid");
    for lookup in ["procfs", "default"] {
        let text =
            std::fs::read_to_string(dir.path().join(format!("{lookup}.json"))).unwrap_or_default();
        let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{lookup}: {e}"));
        for (port, link) in [(51501, "root"), (51502, "ns/mnt")] {
            let of = |id: &str| -> Vec<Value> {
                doc["findings"]
                    .as_array()
                    .expect("findings")
                    .iter()
                    .filter(|f| f["id"] == id && f["listener"]["port"] == port)
                    .cloned()
                    .collect()
            };
            assert!(of("restart-pending").is_empty(), "{lookup}, {link}: {doc}");
            let gone = of("deleted-executable");
            assert_eq!(gone.len(), 1, "{lookup}, {link}: {doc}");
            assert_eq!(gone[0]["severity"], "high", "{lookup}, {link}: {doc}");
            let words = format!(
                "something is mounted over /proc/{}/{link}, which whoport does not read through",
                pid(port).trim()
            );
            assert!(
                gone[0]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(&words)),
                "{lookup}, {link}: {words}: {}",
                gone[0]
            );
        }
    }
}

/// `python` listening on 127.0.0.1 in a network namespace of its own (`unshare -n`), once it
/// listens, until its standard input closes.
fn listening_in_a_network_namespace_of_its_own(python: std::path::PathBuf) -> Reaped {
    let mut elsewhere = Reaped(common::listener::spawn_retrying(
        Command::new("unshare")
            .arg("-n")
            .arg(python)
            .args([
                "-c",
                "import socket, sys\ns = socket.socket(); s.bind(('127.0.0.1', 0)); \
                 s.listen()\nprint('ready', flush=True)\nsys.stdin.read()\n",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    ));
    common::ready_line(&mut elsewhere.0, std::time::Duration::from_secs(20));
    elsewhere
}

/// A process living in a network namespace of its own, with a listener there, whose
/// `/proc/PID/ns/net` is covered by a symbolic link naming whoport's own namespace (mounted on
/// the link itself): the walk took it for a process of whoport's namespace and said it "holds
/// a socket of another network namespace". The link is not read across the mount: neither
/// lookup says so. The walk names the process whose namespace it did not read (it is left
/// out of the count of processes living in other network namespaces); the in-kernel lookup
/// reads it in the kernel and counts it.
#[test]
fn a_link_mounted_over_a_processs_network_namespace_is_never_read() {
    if !common::mount_namespace_with_btf_or_skip() {
        return;
    }
    let Some(py) = python() else { return };
    let dir = tempdir();
    let Some(mount_on_link) = common::compile_fixture(dir.path(), "mount_on_link") else {
        return;
    };
    let elsewhere = listening_in_a_network_namespace_of_its_own(py);
    let pid = elsewhere.0.id();
    let ours = dir.path().join("ours");
    let own = std::fs::read_link("/proc/self/ns/net").expect("own namespace");
    std::os::unix::fs::symlink(own, &ours).expect("a link");
    for lookup in LOOKUPS {
        let (status, out, err) = common::sh_within(
            &format!(
                "exec unshare -m --propagation private sh -c '{} {} /proc/{pid}/ns/net && \
                 {lookup} exec \"$WHOPORT\" --json'",
                mount_on_link.display(),
                ours.display()
            ),
            std::time::Duration::from_secs(60),
        );
        assert!(status == 0 || status == 1, "{lookup}: {status} {err}");
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        let notes = common::notes(&doc);
        let named = format!("pid {pid} (");
        assert!(
            !notes.iter().any(|n| n.contains(&named)
                && !n.starts_with(&format!("the network namespace of {named}"))),
            "{lookup}: {notes:?}"
        );
        // The walk did not read its namespace, and says so instead of leaving it out of the
        // count of processes living in other network namespaces; the in-kernel lookup read
        // it in the kernel, and counts it.
        let covered = format!(
            "was not read: something is mounted over /proc/{pid}/ns/net, which whoport does \
             not read through (it is not counted among the processes living in other network \
             namespaces)"
        );
        let said = notes.iter().any(|n| {
            n.starts_with(&format!("the network namespace of {named}")) && n.ends_with(&covered)
        });
        if lookup.contains("NO_BPF") {
            assert!(said, "{lookup}: {notes:?}");
        } else {
            assert!(
                !notes.iter().any(|n| n.contains("/ns/net")),
                "{lookup}: {notes:?}"
            );
            assert!(
                notes
                    .iter()
                    .any(|n| n.contains("in other network namespaces: their sockets")),
                "{lookup}: {notes:?}"
            );
        }
    }
}

/// A crafted directory mounted over `/proc` itself, with a `self/fd` and an innocent process's
/// `PID/fd/3 -> socket:[INODE]` (a listener's socket, in transit): both lookups named that
/// process the owner. `/proc` that is not procfs is not read: neither lookup names it, and
/// the reason says why.
#[test]
fn a_directory_mounted_over_proc_itself_never_frames_a_process() {
    if !common::mount_namespace_with_btf_or_skip() {
        return;
    }
    let Some((_script, innocent, port, inode)) = in_transit_and_innocent() else {
        return;
    };
    let pid = innocent.0.id();
    let dir = tempdir();
    let fake = dir.path().join("proc");
    std::fs::create_dir_all(fake.join("self/fd")).expect("made");
    std::fs::create_dir_all(fake.join(format!("{pid}/fd"))).expect("made");
    let link = fake.join(format!("{pid}/fd/3"));
    std::os::unix::fs::symlink(format!("socket:[{inode}]"), link).expect("a link");
    let binds = [(fake.display().to_string(), "/proc".to_string())];
    for lookup in LOOKUPS {
        let doc = json_with_binds(&binds, lookup, port);
        let row = &doc["listeners"][0];
        let owners = row["owners"].as_array().expect("owners");
        assert!(owners.iter().all(|o| o["pid"] != pid), "{lookup}: {doc}");
        let reason = row["owner_hidden_reason"].as_str().expect("a reason");
        assert!(reason.contains("/proc is not procfs"), "{lookup}: {reason}");
    }
}

/// `whoport ARGS` as `nobody` with the capabilities `caps` gives (`setpriv`'s options), the
/// environment `env` (`NAME=VALUE`) set, in a private mount namespace where root first ran
/// `mount` (a shell line): (status, stdout, stderr).
fn as_nobody_after(mount: &str, env: &str, caps: &str, args: &str) -> (i32, String, String) {
    let home = common::shared_tempdir();
    common::sh_within(
        &format!(
            "exec unshare -m --propagation private sh -c \
             '{mount} && {env} exec setpriv --reuid=65534 --regid=65534 --clear-groups {caps} \
              env XDG_DATA_HOME={home} XDG_CONFIG_HOME={home} \"$WHOPORT\" {args}'",
            home = home.path().display(),
        ),
        std::time::Duration::from_secs(60),
    )
}

/// `python` (a command that runs the interpreter, `-c` to follow) listening on
/// 127.0.0.1:`port` until its standard input closes, once it listens.
fn listening_on(mut python: Command, port: u16) -> Reaped {
    let mut child = Reaped(common::listener::spawn_retrying(
        python
            .args([
                "-c",
                &format!(
                    "import socket, sys\ns = socket.socket()\n\
                     s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
                     s.bind(('127.0.0.1', {port})); s.listen()\n\
                     print('ready', flush=True)\nsys.stdin.read()\n"
                ),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    ));
    common::ready_line(&mut child.0, std::time::Duration::from_secs(20));
    child
}

/// A directory of mode 000 mounted (by root, in a mount namespace whoport runs in) over the
/// `/proc/PID/fd` of `nobody`'s own listener: whoport as `nobody` said the process was "not
/// dumpable" (the mounted directory refused it, not the kernel). The reason names it beside
/// what is mounted over, never as not dumpable or refused.
#[test]
fn a_directory_mounted_over_an_own_processs_descriptors_is_never_said_refused() {
    if !common::root_or_skip("a private mount namespace")
        || !common::have("setpriv", "apt-get install -y util-linux")
    {
        return;
    }
    let Some(py) = python() else { return };
    let port: u16 = 43111;
    let mut setpriv = Command::new("setpriv");
    setpriv
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(py);
    let own = listening_on(setpriv, port);
    let pid = own.0.id();
    let mount = format!("mount -t tmpfs -o mode=000 none /proc/{pid}/fd");
    for lookup in ["WHOPORT_NO_BPF=1", ""] {
        let (status, out, err) = as_nobody_after(&mount, lookup, "", &format!("--json {port}"));
        assert!(status == 0 || status == 1, "{lookup}: {status} {err}");
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        let reason = common::ownerless_reason(&doc, port.into(), lookup);
        // Named beside its own cause (the only one, or one group of several: the machine's
        // other processes of nobody's may be not dumpable).
        let covered = format!("a directory is mounted over /proc/{pid}/fd");
        assert!(
            reason.contains(&format!("PID {pid}: {covered}"))
                || reason.contains(&format!("1 process's could not ({covered}")),
            "{lookup}: {reason}"
        );
    }
}

/// With netlink refused (sockets read from `/proc/net`), a symbolic link to a crafted
/// directory mounted over `/proc/net` (in a mount namespace whoport runs in) lent whoport a
/// forged TCP table: a listener no socket is was listed. Nothing is read across the mount:
/// the sockets could not be listed, and the error says why (exit 2).
#[test]
fn a_table_mounted_over_proc_net_is_never_read_as_the_kernels() {
    if !common::root_or_skip("a private mount namespace") {
        return;
    }
    let dir = tempdir();
    let (Some(shim), Some(mount_on_link)) = (
        common::no_netlink_shim(dir.path()),
        common::compile_fixture(dir.path(), "mount_on_link"),
    ) else {
        return;
    };
    let port: u16 = 43112;
    let forged = dir.path().join("forged");
    std::fs::create_dir(&forged).expect("a directory");
    let header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   \
                  uid  timeout inode\n";
    let line = format!(
        "   0: 0100007F:{port:04X} 00000000:0000 0A 00000000:00000000 00:00000000 00000000     \
         0        0 4242 1 0000000000000000 100 0 0 10 0\n"
    );
    std::fs::write(forged.join("tcp"), format!("{header}{line}")).expect("tcp");
    std::fs::write(forged.join("udp"), header).expect("udp");
    let link = dir.path().join("net");
    std::os::unix::fs::symlink(&forged, &link).expect("a link");
    for lookup in LOOKUPS {
        let (status, out, err) = common::sh_within(
            &format!(
                "exec unshare -m --propagation private sh -c '{} {} /proc/net && \
                 LD_PRELOAD={} {lookup} exec \"$WHOPORT\" --json {port}'",
                mount_on_link.display(),
                link.display(),
                shim.display(),
            ),
            std::time::Duration::from_secs(60),
        );
        assert!(!out.contains("4242"), "{lookup}: {out}");
        assert_eq!(status, 2, "{lookup}: {out} {err}");
        assert!(
            err.contains(
                "something is mounted over /proc/net/tcp or on the way to it, which whoport \
                 does not read through"
            ),
            "{lookup}: {err}"
        );
    }
}

/// A forged mount table bound over whoport's own `/proc/self/mountinfo` (the shell that
/// mounts it becomes whoport: `exec` keeps its PID), saying `/proc` is mounted
/// `hidepid=invisible`: whoport as `nobody` said of root's listener that "/proc hides other
/// users' processes from this user". Whoport's own files are not read across a mount: that is
/// never said.
#[test]
fn a_forged_mount_table_of_whoports_own_never_lends_proc_an_option() {
    if !common::root_or_skip("a private mount namespace")
        || !common::have("setpriv", "apt-get install -y util-linux")
    {
        return;
    }
    let Some(py) = python() else { return };
    let port: u16 = 43114;
    let _roots = listening_on(Command::new(py), port);
    let dir = common::shared_tempdir();
    let forged = dir.path().join("mountinfo");
    let mut table = std::fs::read_to_string("/proc/self/mountinfo").expect("own mount table");
    table.push_str("999 1 0:5 / /proc rw,nosuid - proc proc rw,hidepid=invisible\n");
    std::fs::write(&forged, table).expect("written");
    std::fs::set_permissions(&forged, std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .expect("chmod");
    let mount = format!("mount --bind {} /proc/$$/mountinfo", forged.display());
    for lookup in ["WHOPORT_NO_BPF=1", ""] {
        let (status, out, err) = as_nobody_after(&mount, lookup, "", &format!("--json {port}"));
        assert!(status == 0 || status == 1, "{lookup}: {status} {err}");
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        let reason = common::ownerless_reason(&doc, port.into(), lookup);
        assert!(
            reason.starts_with("another user's socket, and whoport is not root"),
            "{lookup}: {reason}"
        );
        assert!(!reason.contains("hidepid"), "{lookup}: {reason}");
    }
}

/// A forged `/proc/self/status` bound over whoport's own (the shell that mounts it `exec`s
/// whoport), as root, saying it has no capability (`CapEff: 0`): the in-kernel lookup asked
/// for was refused, "which whoport lacks although it runs as root", and the `/proc` walk ran
/// instead. Whoport's capabilities are asked of the kernel (`capget`), never read from a file.
#[test]
fn a_forged_status_of_whoports_own_never_takes_its_capabilities() {
    if !common::mount_namespace_with_btf_or_skip() {
        return;
    }
    let Some(py) = python() else { return };
    let port: u16 = 43115;
    let _roots = listening_on(Command::new(py), port);
    let dir = tempdir();
    let forged = dir.path().join("status");
    let status: String = std::fs::read_to_string("/proc/self/status")
        .expect("own status")
        .lines()
        .map(|l| match l.split_once(':') {
            Some(("CapEff", _)) => "CapEff:\t0000000000000000\n".to_string(),
            _ => format!("{l}\n"),
        })
        .collect();
    std::fs::write(&forged, status).expect("written");
    let (status, out, err) = common::sh_within(
        &format!(
            "exec unshare -m --propagation private sh -c 'mount --bind {} /proc/$$/status && \
             WHOPORT_OWNER_LOOKUP=bpf exec \"$WHOPORT\" --json {port}'",
            forged.display()
        ),
        std::time::Duration::from_secs(60),
    );
    assert!(status == 0 || status == 1, "{status} {err}");
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(doc["owner_lookup"], "bpf", "{doc}");
    assert!(!doc.to_string().contains("which whoport lacks"), "{doc}");
}

/// A file mounted over whoport's own `/proc/self/uid_map` (by root, in a mount namespace it
/// runs in), mapping uids 0–999 only: whoport took `nobody` (65534, the kernel's overflow uid)
/// for a uid its namespace does not map, so `nobody`'s listener had no user, and its process
/// was said to have "exited during the scan". Its own files are read through no mount:
/// `nobody` stays `nobody`, with both lookups.
#[test]
fn a_map_mounted_over_whoports_own_uid_map_changes_no_user() {
    if !common::root_or_skip("a private mount namespace")
        || !common::have("setpriv", "apt-get install -y util-linux")
    {
        return;
    }
    let Some(py) = python() else { return };
    let port: u16 = 43126;
    let mut setpriv = Command::new("setpriv");
    setpriv
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(py);
    let own = listening_on(setpriv, port);
    let dir = tempdir();
    let map = dir.path().join("uid_map");
    std::fs::write(&map, "         0          0       1000\n").expect("written");
    for lookup in LOOKUPS {
        let (status, out, err) = common::sh_within(
            &format!(
                "exec unshare -m --propagation private sh -c 'mount --bind {} /proc/$$/uid_map \
                 && {lookup} exec \"$WHOPORT\" --json {port}'",
                map.display()
            ),
            std::time::Duration::from_secs(60),
        );
        assert!(status == 0 || status == 1, "{lookup}: {status} {err}");
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        let row = &doc["listeners"][0];
        assert_eq!(row["user"], "nobody", "{lookup}: {doc}");
        assert_eq!(row["uid"], 65534, "{lookup}: {doc}");
        let owners = row["owners"].as_array().expect("owners");
        assert!(
            owners
                .iter()
                .any(|o| o["pid"] == own.0.id() && o["user"] == "nobody"),
            "{lookup}: {doc}"
        );
        // (Only of this listener: other tests' processes may exit during the scan.)
        assert!(!row.to_string().contains("exited"), "{lookup}: {doc}");
    }
}

/// An empty directory mounted over `/proc/PID/task` of a process whose listener only a
/// thread's own descriptor table holds: the `/proc` walk counted the threads through the
/// mount (none), read no thread's table, and left the process out of the reason ("1 process's
/// could not [be read]: PID 1"), as if every process but that one had been read. It names the
/// process and the mount, and the fix says what to look for, not a security module.
#[test]
fn a_directory_mounted_over_a_processs_task_directory_is_named_not_passed_over() {
    if !common::root_or_skip("a private mount namespace") {
        return;
    }
    let Some(py) = python() else { return };
    let mut child = Reaped(
        Command::new(py)
            .args(["-c", common::listener::OWN_TABLE_THREAD])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python starts"),
    );
    let line = common::ready_line(&mut child.0, std::time::Duration::from_secs(20));
    let mut words = line.split_whitespace();
    let pid: u32 = words.next().and_then(|w| w.parse().ok()).expect("pid");
    let port: u16 = words.next().and_then(|w| w.parse().ok()).expect("port");
    let (status, out, err) = common::sh_within(
        &format!(
            "exec unshare -m --propagation private sh -c 'mount -t tmpfs none /proc/{pid}/task \
             && WHOPORT_NO_BPF=1 \"$WHOPORT\" --json {port} && echo === && \
             WHOPORT_NO_BPF=1 exec \"$WHOPORT\" --color never {port}'"
        ),
        std::time::Duration::from_secs(60),
    );
    let (json, card) = out
        .split_once("===")
        .unwrap_or_else(|| panic!("{status} {err} {out}"));
    let doc: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let reason = common::ownerless_reason(&doc, u64::from(port), "WHOPORT_NO_BPF=1");
    assert!(
        reason.contains(&format!(
            "PID {pid}: a directory is mounted over /proc/{pid}/task"
        )),
        "{reason}"
    );
    assert!(
        card.contains(&format!(
            "something is mounted over /proc entries of PID {pid}"
        )),
        "{card}"
    );
    assert!(
        !card.contains(&format!("root could not read the descriptors of PID {pid}")),
        "{card}"
    );
}

/// A directory mounted over whoport's own `/proc/self/fd` (in a mount namespace it runs in):
/// every owner was said "[/proc/PID/exe covered by a mount]", though nothing is mounted below
/// any listener's `/proc/PID` (its links were read through whoport's own descriptor
/// directory). The owner and its executable are read, with both lookups.
#[test]
fn a_directory_mounted_over_whoports_own_descriptors_covers_no_owner() {
    if !common::root_or_skip("a private mount namespace") || python().is_none() {
        return;
    }
    let l = Listener::start(&["tcp4"]);
    let (pid, port) = (l.pid, l.port(0));
    for lookup in LOOKUPS {
        let (status, out, err) = common::sh_within(
            &format!(
                "exec unshare -m --propagation private sh -c 'mount -t tmpfs none /proc/$$/fd \
                 && {lookup} exec \"$WHOPORT\" --json {port}'"
            ),
            std::time::Duration::from_secs(60),
        );
        assert!(status == 0 || status == 1, "{lookup}: {status} {err}");
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        let owner = &doc["listeners"][0]["owners"][0];
        assert_eq!(owner["pid"], pid, "{lookup}: {doc}");
        assert!(
            !doc.to_string().contains("covered by a mount"),
            "{lookup}: {doc}"
        );
        assert!(owner["exe"].is_string(), "{lookup}: {doc}");
    }
}

/// A process whose main thread exited (`pthread_exit`): its executable and command line are
/// read from a live thread's `/proc/PID/task/TID`. A link mounted over that thread's `exe`
/// made them vanish (`exe` and `command` empty), with nothing said. The owner is named
/// "[/proc/PID/task/TID/exe covered by a mount]", with both lookups.
#[test]
fn a_link_mounted_over_a_live_threads_executable_link_is_said_covered() {
    if !common::mount_namespace_with_btf_or_skip() {
        return;
    }
    let Some(py) = python() else { return };
    let dir = tempdir();
    let Some(mount_on_link) = common::compile_fixture(dir.path(), "mount_on_link") else {
        return;
    };
    let mut child = Reaped(common::listener::spawn_retrying(
        Command::new(py)
            .args([
                "-c",
                "import ctypes, os, socket, sys, threading, time\n\
                 s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
                 def serve():\n    print(os.getpid(), s.getsockname()[1], \
                 threading.get_native_id(), flush=True); sys.stdin.read()\n\
                 threading.Thread(target=serve).start()\n\
                 time.sleep(0.3)\nctypes.CDLL(None).pthread_exit(None)\n",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped()),
    ));
    let line = common::ready_line(&mut child.0, std::time::Duration::from_secs(20));
    let ids: Vec<u32> = line
        .split_whitespace()
        .map(|w| w.parse().expect("a number"))
        .collect();
    let (pid, port, tid) = (ids[0], ids[1], ids[2]);
    // Until the main thread has exited, its own link is read.
    common::leader_exited(pid);
    let decoy = dir.path().join("decoy");
    std::os::unix::fs::symlink("/usr/sbin/sshd", &decoy).expect("a link");
    for lookup in LOOKUPS {
        let (status, out, err) = common::sh_within(
            &format!(
                "exec unshare -m --propagation private sh -c '{} {} /proc/{pid}/task/{tid}/exe \
                 && {lookup} exec \"$WHOPORT\" --json {port}'",
                mount_on_link.display(),
                decoy.display()
            ),
            std::time::Duration::from_secs(60),
        );
        assert!(status == 0 || status == 1, "{lookup}: {status} {err}");
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        let owner = &doc["listeners"][0]["owners"][0];
        assert_eq!(owner["pid"], pid, "{lookup}: {doc}");
        assert_eq!(
            owner["name"],
            format!("[/proc/{pid}/task/{tid}/exe covered by a mount]"),
            "{lookup}: {doc}"
        );
        assert!(!doc.to_string().contains("sshd"), "{lookup}: {doc}");
    }
}

/// A directory mounted over whoport's own `/proc/self/ns` (in a mount namespace it runs in),
/// with a process living in a network namespace of its own: whoport could not read its own
/// namespace's link, so it compared no process's with it and dropped the note on processes
/// living in other network namespaces. Its own namespace is asked of the kernel instead, and
/// the note names that process's namespace, with both lookups.
#[test]
fn a_directory_mounted_over_whoports_own_namespaces_keeps_the_other_namespaces_note() {
    if !common::root_or_skip("a private mount namespace") {
        return;
    }
    let Some(py) = python() else { return };
    let _elsewhere = listening_in_a_network_namespace_of_its_own(py);
    for lookup in LOOKUPS {
        let (status, out, err) = common::sh_within(
            &format!(
                "exec unshare -m --propagation private sh -c 'mount -t tmpfs none /proc/$$/ns \
                 && {lookup} exec \"$WHOPORT\" --json'"
            ),
            std::time::Duration::from_secs(60),
        );
        assert!(status == 0 || status == 1, "{lookup}: {status} {err}");
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        assert!(
            common::notes(&doc)
                .iter()
                .any(|n| n.contains("in other network namespaces: their sockets are not")),
            "{lookup}: {:?}",
            common::notes(&doc)
        );
    }
}

/// A file mounted over `/proc/stat` (as LXC's lxcfs does in a container, with its own
/// counters): the machine's boot time was not read, and every owner's start time was null,
/// with nothing said. It is then asked of the kernel's clocks: start times are given, and
/// the same as without the mount, with both lookups.
#[test]
fn a_file_mounted_over_proc_stat_keeps_start_times() {
    if !common::root_or_skip("a private mount namespace") || python().is_none() {
        return;
    }
    let l = Listener::start(&["tcp4"]);
    let port = l.port(0);
    let dir = tempdir();
    let stat = dir.path().join("stat");
    std::fs::write(&stat, "cpu  1 2 3 4\nbtime 1000\n").expect("written");
    let binds = [(stat.display().to_string(), "/proc/stat".to_string())];
    for lookup in LOOKUPS {
        let plain = json_with_binds(&[], lookup, port);
        let covered = json_with_binds(&binds, lookup, port);
        // (The clocks and `btime` may round the boot to seconds a second apart.)
        let started = |doc: &Value| {
            let text = doc["listeners"][0]["owners"][0]["start_time"].as_str()?;
            let at = humantime::parse_rfc3339(text).ok()?;
            Some(at.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs())
        };
        let (a, b) = (started(&plain), started(&covered));
        assert!(a.is_some(), "{lookup}: {plain}");
        assert!(
            b.is_some_and(|b| a.is_some_and(|a| a.abs_diff(b) <= 1)),
            "{lookup}: {covered}"
        );
    }
}

/// `nobody`, with no privilege, runs whoport inside its own `unshare -U -r -m -n`, where it
/// binds a file over whoport's own `/proc/self/uid_map` (claiming the identity map): whoport
/// took the unreadable map for the identity, so nobody's own listener (uid 0 inside, 65534 on
/// the machine) was "root" and `--user root` listed it. An unreadable map is the identity
/// only where whoport's own `ns/user` names the machine's first user namespace; otherwise no
/// user is said, and a note says why.
#[test]
fn a_map_mounted_over_whoports_own_uid_map_in_a_user_namespace_names_no_user() {
    if !common::root_or_skip("setpriv") || !common::need("setpriv") || !common::need("python3") {
        return;
    }
    let dir = tempdir();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let map = dir.path().join("map");
    std::fs::write(&map, "0 0 4294967295\n").expect("written");
    std::fs::set_permissions(&map, std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .expect("chmod");
    let (status, out, err) = common::sh_within(
        &format!(
            r#"exec setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp \
               unshare -U -r -m --propagation private -n sh -c '
ip link set lo up
/usr/bin/python3 -c "import socket, time
s = socket.socket(); s.bind((\"127.0.0.1\", 43127)); s.listen(); time.sleep(60)" & p=$!
i=0; until ss -tln | grep -q 43127; do i=$((i+1)); [ $i -lt 100 ] || exit 9; sleep 0.1; done
sh -c "mount --bind {map} /proc/\$\$/uid_map && exec \"$WHOPORT\" --json 43127"
kill $p'"#,
            map = map.display()
        ),
        std::time::Duration::from_secs(60),
    );
    let doc: Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{status} {e}: {out} {err}"));
    let row = &doc["listeners"][0];
    assert_ne!(row["user"], "root", "{doc}");
    assert!(row["owners"][0]["user"].is_null(), "{doc}");
    assert!(
        common::notes(&doc)
            .iter()
            .any(|n| n.contains("own uid map (/proc/self/uid_map) could not be read")),
        "{doc}"
    );
}

/// `hold MODE` (whose main thread exits once it is ready), and whoport's card for its
/// listener with each owner lookup, a directory mounted over the holder's `/proc/PID/task`
/// (the walk then reads no thread of it; the kernel's task iterators do): the owners and how
/// they hold it, with each lookup.
fn covered_leader_exit(mode: &str) -> Option<(u32, [Found; 2])> {
    if !common::root_or_skip("a private mount namespace")
        || !std::path::Path::new("/sys/kernel/btf/vmlinux").exists()
    {
        return None;
    }
    let dir = common::tempdir();
    let (_holder, port, pid) = holder_in_mode(dir.path(), mode)?;
    common::leader_exited(pid);
    let found = ["WHOPORT_OWNER_LOOKUP=procfs", "WHOPORT_OWNER_LOOKUP=bpf"].map(|lookup| {
        let (status, out, err) = common::sh_within(
            &format!(
                "exec unshare -m --propagation private sh -c 'mount -t tmpfs none \
                 /proc/{pid}/task && {lookup} exec \"$WHOPORT\" --json {port}'"
            ),
            std::time::Duration::from_secs(60),
        );
        assert!(status == 0 || status == 1, "{lookup}: {status} {err}");
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        owner_and_holding(&doc, port, lookup)
    });
    Some((pid, found))
}

/// A listener's owners and how they hold it ([`owner_and_holding`]).
type Found = (Vec<u64>, Value);

/// A listener held only as a registered file of a ring, the ring only in the descriptor
/// table of a process whose main thread exited (its io_uring context, which listed the ring,
/// went with it), and a directory mounted over that process's `/proc/PID/task`: the walk
/// reads no table of it, the kernel's task iterator does. The ring's registered files are
/// read in the kernel because a process whose table the walk could not read is one the
/// iterator visits (that read is skipped only where none is), so both lookups name it.
#[test]
fn a_ring_in_a_table_only_the_kernel_reads_names_its_holder_both_ways() {
    named_by_both_lookups("io-uring-leader-exit", "held by io_uring");
}

/// The same with the listener held only through a memory mapping (`mapping-leader-exit`):
/// the exited main thread's maps read empty, and the live threads' were behind the mount, so
/// the walk counted that process's mappings as read (nothing there), never asked the kernel,
/// and blamed PID 1 ("refused to root ... a security module"). The mount over the thread
/// directory makes its mappings unread: read in the kernel, both lookups name the holder.
#[test]
fn a_mapping_behind_a_covered_thread_directory_is_read_in_the_kernel_both_ways() {
    named_by_both_lookups("mapping-leader-exit", "held through a memory mapping");
}

/// [`covered_leader_exit`] of `mode`: each lookup names the holder, held as `held`.
fn named_by_both_lookups(mode: &str, held: &str) {
    let Some((pid, found)) = covered_leader_exit(mode) else {
        return;
    };
    for (owners, holding) in found {
        assert_eq!(owners, vec![u64::from(pid)], "{mode}: {holding}");
        assert_eq!(holding, held, "{mode}");
    }
}

/// The same holder with two live threads, a file mounted over the first one's `maps` only:
/// the mapping is read through the other thread, the holder is named by both lookups, and no
/// note says that its mappings were not read (nothing is mounted over `/proc/PID/maps`).
#[test]
fn a_mapping_read_through_another_live_thread_is_never_said_covered() {
    if !common::root_or_skip("a private mount namespace") {
        return;
    }
    let dir = common::tempdir();
    let Some((_holder, port, pid)) = holder_in_mode(dir.path(), "mapping-leader-exit-threads")
    else {
        return;
    };
    common::leader_exited(pid);
    let mut threads: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("threads")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&tid| tid != pid)
        .collect();
    threads.sort_unstable();
    assert_eq!(threads.len(), 2, "{threads:?}");
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "").expect("empty file");
    let binds = [(
        empty.display().to_string(),
        format!("/proc/{pid}/task/{}/maps", threads[0]),
    )];
    for lookup in LOOKUPS {
        let doc = json_with_binds(&binds, lookup, port);
        let (owners, holding) = owner_and_holding(&doc, port, lookup);
        assert_eq!(owners, vec![u64::from(pid)], "{lookup}: {doc}");
        assert_eq!(holding, "held through a memory mapping", "{lookup}: {doc}");
        assert!(
            !doc["notes"].to_string().contains("mounted over"),
            "{lookup}: {doc}"
        );
    }
}
