//! Sockets of other network namespaces held by processes of this one: a process that
//! created sockets in a fresh namespace and came back is named, with each socket that has a
//! local port and what it does (listening, bound, connected); a process holding only this
//! namespace's unix, netlink, connected, bound and unbound sockets is not. Staged in the
//! test's own network namespace, helpers killed by PID.

mod common;

use common::listener::{python, Listener};
use common::netns::NetNs;
use common::{fixture, have, tempdir};
use serde_json::Value;

/// `foreign_netns.py MODE` inside `ns`.
fn helper(ns: &NetNs, mode: &str) -> Listener {
    let mut cmd = ns.command(&python().expect("python3"));
    cmd.arg(fixture("foreign_netns.py")).arg(mode);
    Listener::start_command(cmd)
}

/// whoport ARGS inside `ns`, with one owner lookup method; (status, stdout).
fn whoport_in(ns: &NetNs, lookup: &str, args: &[&str]) -> (i32, String) {
    let home = tempdir();
    let env = [("WHOPORT_OWNER_LOOKUP", lookup), ("COLUMNS", "300")];
    let (status, out, _) = ns.whoport_with(home.path(), &env, args);
    (status, out)
}

fn notes(json: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    v["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .map(|n| n.as_str().expect("note").to_string())
        .collect()
}

#[test]
fn processes_holding_sockets_of_another_network_namespace_are_named() {
    if !have("ip", "apt-get install -y iproute2") {
        return;
    }
    let Some(ns) = NetNs::new() else { return };
    let foreign = helper(&ns, "foreign");
    let connected = helper(&ns, "connected");
    let ordinary = helper(&ns, "ordinary");
    let (tcp, udp) = (foreign.port(0), foreign.port(1));
    let (bound, dgram) = (foreign.port(2), foreign.port(3));
    let (client, server) = (connected.port(0), connected.port(1));
    let named = |notes: &[String], pid: u32| {
        notes
            .iter()
            .filter(|n| n.starts_with(&format!("pid {pid} (")))
            .cloned()
            .collect::<Vec<_>>()
    };
    let methods: &[&str] = if common::owner_lookup() == "bpf" {
        &["procfs", "bpf"]
    } else {
        &["procfs"]
    };
    for &lookup in methods {
        let (code, out) = whoport_in(&ns, lookup, &["--json"]);
        assert!(code == 0 || code == 1, "{lookup}: exit {code}: {out}");
        let notes = notes(&out);
        let about = named(&notes, foreign.pid);
        assert_eq!(about.len(), 1, "{lookup}: {notes:#?}");
        // Every socket of the other namespace whose absence from this one's tables proves
        // it is elsewhere is named, with what it does: listening, bound (UDP), connected.
        for socket in [
            format!("TCP listener 127.0.0.1:{tcp}"),
            format!("UDP socket 0.0.0.0:{udp}"),
            format!("UDP socket 127.0.0.1:{dgram} connected to 127.0.0.1:9"),
        ] {
            assert!(
                about[0].contains("of another network namespace") && about[0].contains(&socket),
                "{lookup}: {socket}: {}",
                about[0]
            );
        }
        // A TCP socket bound without listening is in no table of any namespace: what it does
        // is never said. The kernel reads its namespace (the walk asks it for what it could
        // place in no table), so both lookups count it.
        assert!(
            !about[0].contains(&format!(":{bound}")),
            "{lookup}: {}",
            about[0]
        );
        let unlisted = "a socket that its namespace's tables do not list";
        assert_eq!(
            about[0].contains(unlisted),
            common::owner_lookup() == "bpf",
            "{lookup}: {}",
            about[0]
        );
        // Its ordinary sockets (and the other helper's) are in this namespace's tables: only
        // the three are named.
        assert_eq!(
            about[0].matches("127.0.0.1:9").count(),
            1,
            "{lookup}: this namespace's connected socket is not named: {}",
            about[0]
        );
        assert!(!about[0].contains(" more"), "{lookup}: {}", about[0]);
        let pair = named(&notes, connected.pid);
        assert_eq!(pair.len(), 1, "{lookup}: {notes:#?}");
        for socket in [
            format!("TCP socket 127.0.0.1:{client} connected to 127.0.0.1:{server}"),
            format!("TCP socket 127.0.0.1:{server} connected to 127.0.0.1:{client}"),
        ] {
            assert!(pair[0].contains(&socket), "{lookup}: {socket}: {}", pair[0]);
        }
        assert_eq!(
            named(&notes, ordinary.pid),
            Vec::<String>::new(),
            "{lookup}"
        );
        assert!(
            !notes.iter().any(|n| n.contains(&ordinary.pid.to_string())),
            "{lookup}: {notes:#?}"
        );
        // A port's card, for which the kernel is asked about that port's sockets only, names
        // the same processes with the same sockets, and still not the ordinary helper.
        let port = tcp.to_string();
        let (code, card) = whoport_in(&ns, lookup, &[port.as_str(), "--json"]);
        assert!(code == 0 || code == 1, "{lookup}: exit {code}: {card}");
        let on_card = crate::notes(&card);
        assert_eq!(
            named(&on_card, foreign.pid),
            about,
            "{lookup}: {on_card:#?}"
        );
        assert_eq!(
            named(&on_card, connected.pid),
            pair,
            "{lookup}: {on_card:#?}"
        );
        assert!(
            !on_card
                .iter()
                .any(|n| n.contains(&ordinary.pid.to_string())),
            "{lookup}: {on_card:#?}"
        );
        // Nothing in this namespace listens on that port: the listing does not show it.
        let v: Value = serde_json::from_str(&out).expect("json");
        assert!(
            !v["listeners"]
                .as_array()
                .expect("listeners")
                .iter()
                .any(|l| l["port"] == tcp && l["protocol"] == "tcp"),
            "{lookup}: {out}"
        );
    }
    // Without BPF the kernel cannot be asked where a socket no table lists is: a port's card
    // checks the walk's sockets against every table of this namespace, not only the port's,
    // so it says what the listing says of other namespaces, and nothing of the ordinary
    // helper's sockets on other ports beyond the listing's count of unlisted sockets.
    let home = tempdir();
    let port = tcp.to_string();
    let env = [("WHOPORT_NO_BPF", "1"), ("COLUMNS", "300")];
    let about_namespaces = |args: &[&str]| {
        let (code, out, _) = ns.whoport_with(home.path(), &env, args);
        assert!(code == 0 || code == 1, "{args:?}: exit {code}: {out}");
        // (How many processes live in other namespaces changes with the machine's other
        // work between two runs: only what is said of the helpers' sockets is compared.)
        notes(&out)
            .into_iter()
            .filter(|n| {
                n.contains("network namespace")
                    && !n.contains("in other network namespaces: their sockets")
            })
            .collect::<Vec<_>>()
    };
    let listed = about_namespaces(&["--json"]);
    assert!(
        listed
            .iter()
            .any(|n| n.starts_with(&format!("pid {} (", foreign.pid))),
        "{listed:#?}"
    );
    assert_eq!(about_namespaces(&[port.as_str(), "--json"]), listed);
    // The listing, the port's card and the audit say it in words too.
    let text = format!("{udp}");
    for args in [vec![], vec![text.as_str()], vec!["audit"]] {
        let (_, out) = whoport_in(&ns, "procfs", &args);
        assert!(
            out.contains(&format!("pid {} (", foreign.pid))
                && out.contains(&format!("TCP listener 127.0.0.1:{tcp}")),
            "{args:?}: {out}"
        );
    }
}

/// A listener of this namespace is never called another namespace's, however the dumps of
/// this namespace miss it: a steady SO_REUSEPORT listener beside 600 sockets of its group
/// closing and reopening in bursts (a dump resumed inside the group skips some), next to a
/// process holding a real socket of another namespace. Every run, with both owner lookups,
/// lists the steady listener exactly once, names neither the steady listener's process nor
/// the churning one, and names the real one.
#[test]
fn a_churning_reuseport_group_is_never_called_another_namespaces() {
    if !have("ip", "apt-get install -y iproute2") {
        return;
    }
    let Some(ns) = NetNs::new() else { return };
    let foreign = helper(&ns, "foreign");
    let mut cmd = ns.command(&python().expect("python3"));
    cmd.arg(fixture("reuseport_churn.py"));
    let churn = Listener::start_command(cmd);
    let (steady, port) = (churn.pid, churn.port(0));
    let churning = churn.children[0];
    let tcp = foreign.port(0);
    let methods: &[&str] = if common::owner_lookup() == "bpf" {
        &["procfs", "bpf"]
    } else {
        &["procfs"]
    };
    for &lookup in methods {
        for run in 0..10 {
            let (code, out) = whoport_in(&ns, lookup, &["--json"]);
            assert!(code == 0 || code == 1, "{lookup} {run}: exit {code}: {out}");
            let v: Value = serde_json::from_str(&out).expect("json");
            let rows = v["listeners"]
                .as_array()
                .expect("listeners")
                .iter()
                .filter(|l| {
                    l["port"] == port
                        && l["owners"]
                            .as_array()
                            .is_some_and(|o| o.iter().any(|o| o["pid"] == steady))
                })
                .count();
            assert_eq!(rows, 1, "{lookup} {run}: the steady listener once");
            let notes = notes(&out);
            for pid in [steady, churning] {
                assert!(
                    !notes.iter().any(|n| n.contains(&format!("pid {pid} ("))),
                    "{lookup} {run}: pid {pid} holds only this namespace's sockets: {notes:#?}"
                );
            }
            assert!(
                notes
                    .iter()
                    .any(|n| n.starts_with(&format!("pid {} (", foreign.pid))
                        && n.contains("of another network namespace")
                        && n.contains(&format!("TCP listener 127.0.0.1:{tcp}"))),
                "{lookup} {run}: {notes:#?}"
            );
        }
    }
}

/// A namespace that no process lives in (only the sockets made there keep it alive): its
/// tables cannot be read, and only the kernel knows a socket's namespace. Both owner lookups
/// ask it (the walk loads the iterator for the sockets it could place in no table) and say
/// the same: the four sockets counted with their namespace. Without BPF the walk says that it
/// could not place them, with their number and why, never nothing and never a namespace.
#[test]
fn sockets_of_a_namespace_no_process_lives_in_are_counted_alike_by_both_lookups() {
    if !have("ip", "apt-get install -y iproute2") {
        return;
    }
    let Some(ns) = NetNs::new() else { return };
    let alone = helper(&ns, "foreign-alone");
    let about = |lookup: &str, extra: &[(&str, &str)]| -> (Value, Vec<String>) {
        let home = tempdir();
        let mut env = vec![("WHOPORT_OWNER_LOOKUP", lookup), ("COLUMNS", "300")];
        env.extend_from_slice(extra);
        let (code, out, err) = ns.whoport_with(home.path(), &env, &["--json"]);
        assert!(code == 0 || code == 1, "{lookup}: exit {code}: {out}{err}");
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        let named: Vec<String> = notes(&out)
            .into_iter()
            .filter(|n| n.contains(&format!("pid {} (", alone.pid)))
            .collect();
        (doc, named)
    };
    let (bpf_doc, bpf) = about("bpf", &[]);
    let (_, procfs) = about("procfs", &[]);
    if bpf_doc["owner_lookup"] == "bpf" {
        assert_eq!(bpf.len(), 1, "{bpf:?}");
        // The listener, the two UDP sockets and the bound TCP socket, all made there.
        assert!(
            bpf[0].starts_with(&format!("pid {} (", alone.pid))
                && bpf[0].contains("holds sockets of another network namespace")
                && bpf[0].contains("4 sockets of net:[")
                && bpf[0].contains("where no process whoport can see lives"),
            "{}",
            bpf[0]
        );
        assert_eq!(procfs, bpf, "both lookups say the same");
    } else {
        eprintln!("SKIPPED the in-kernel side: the in-kernel lookup does not load here");
        assert_eq!(procfs.len(), 1, "{procfs:?}");
        assert!(procfs[0].contains("in no socket table whoport could read"));
    }
    // Without BPF: the four made there, and this namespace's sockets that were never bound
    // or lost their place (fixture's "ordinary"), are all in no table: counted, not placed.
    let (_, walk) = about("procfs", &[("WHOPORT_NO_BPF", "1")]);
    assert_eq!(walk.len(), 1, "{walk:?}");
    let note = &walk[0];
    let held_by = format!(
        " sockets held by pid {} (python3) are in no socket table",
        alone.pid
    );
    let count: usize = note
        .split_once(&held_by)
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("{note}"));
    assert!(count >= 4, "{note}");
    assert!(
        note.contains(
            "which network namespace they belong to was not read (WHOPORT_NO_BPF is set)"
        ) && note.contains("a listener too")
            && !note.contains("net:[")
            && !note.contains("another network namespace, not listed"),
        "{note}"
    );
}

/// A listener and a UDP socket made in a fresh network namespace by a child that hands them
/// to its parent (SCM_RIGHTS) and exits: only the two sockets keep that namespace. As
/// 'nobody' (holder and whoport alike: the child makes a user namespace of its own), the walk
/// cannot read a socket's namespace and says so, counting exactly those two; as root both
/// lookups count them with their namespace, alike.
#[test]
fn a_listener_passed_out_of_a_namespace_only_its_sockets_keep_is_never_passed_over() {
    if python().is_none() || !have("setpriv", "apt-get install -y util-linux") {
        return;
    }
    let root = common::is_root();
    // As root: a private network namespace, holder and whoport as nobody inside it; as
    // another user: the test's own namespace, everything as that user.
    let ns = if root { NetNs::new() } else { None };
    if root && ns.is_none() {
        return;
    }
    let as_nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ];
    let passed = match &ns {
        Some(ns) => {
            let mut cmd = ns.command(std::path::Path::new(as_nobody[0]));
            cmd.args(&as_nobody[1..])
                .arg(python().expect("python3"))
                .arg(fixture("foreign_netns.py"))
                .arg("passed");
            Listener::start_command(cmd)
        }
        None => {
            let mut cmd = std::process::Command::new(python().expect("python3"));
            cmd.arg(fixture("foreign_netns.py")).arg("passed");
            Listener::start_command(cmd)
        }
    };
    if passed.sockets.len() != 2 {
        eprintln!("SKIPPED: a user namespace could not be made here");
        return;
    }
    let home = common::shared_tempdir();
    let unprivileged = |lookup: &str| -> String {
        let out = match &ns {
            Some(ns) => common::command(home.path(), std::path::Path::new("nsenter"))
                .args(["-t", &ns.pid.to_string(), "-n", "--"])
                .args(as_nobody)
                .arg(common::bin())
                .arg("--json")
                .env("WHOPORT_OWNER_LOOKUP", lookup)
                .env_remove("WHOPORT_NO_BPF")
                .output()
                .expect("runs"),
            None => common::whoport(home.path())
                .arg("--json")
                .env("WHOPORT_OWNER_LOOKUP", lookup)
                .output()
                .expect("runs"),
        };
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let pid = passed.pid;
    for lookup in ["bpf", "procfs"] {
        let out = unprivileged(lookup);
        let named: Vec<String> = notes(&out)
            .into_iter()
            .filter(|n| n.contains(&format!("pid {pid} (python3)")))
            .collect();
        assert_eq!(named.len(), 1, "{lookup}: {out}");
        let note = &named[0];
        // Other processes of 'nobody' in this namespace may hold sockets placed nowhere too
        // (only as 'nobody' outside a private namespace): then they are counted beside ours.
        let (count, rest) = note.split_once(" sockets held by ").expect(note);
        let count: usize = count.parse().expect(note);
        if rest.starts_with(&format!("pid {pid} (python3) are ")) {
            assert_eq!(count, 2, "{lookup}: {note}");
        } else {
            assert!(count > 2 && ns.is_none(), "{lookup}: {note}");
        }
        assert!(
            rest.contains(
                " are in no socket table whoport could read, and which network namespace they \
                 belong to was not read (that needs the in-kernel lookup: CAP_SYS_ADMIN, or \
                 CAP_BPF with CAP_PERFMON (run as root)): a socket never bound (one kept for \
                 ioctls) is listed nowhere, and so is a socket of a network namespace that only \
                 its sockets keep alive (no process lives there, no mount keeps it), a listener \
                 too"
            ),
            "{lookup}: {note}"
        );
        // Neither socket is this namespace's: not listed (in the private namespace, where
        // nothing else can use the port).
        let v: Value = serde_json::from_str(&out).expect("json");
        for bound in passed.sockets.iter().filter(|_| ns.is_some()) {
            assert!(
                !v["listeners"]
                    .as_array()
                    .expect("listeners")
                    .iter()
                    .any(|l| l["port"] == bound.port && l["protocol"] == bound.protocol.as_str()),
                "{lookup}: port {} listed: {}",
                bound.port,
                v["notes"]
            );
        }
    }
    // As root, both lookups read the two sockets' namespace and say the same.
    let Some(ns) = &ns else { return };
    let mut said = Vec::new();
    for lookup in ["procfs", "bpf"] {
        let (code, out) = whoport_in(ns, lookup, &["--json"]);
        assert!(code == 0 || code == 1, "{lookup}: exit {code}: {out}");
        let named: Vec<String> = notes(&out)
            .into_iter()
            .filter(|n| n.contains(&format!("pid {pid} (")))
            .collect();
        said.push(named);
    }
    assert_eq!(said[0], said[1], "both lookups say the same");
    let note = said[0].first().map(String::as_str).unwrap_or_default();
    if common::owner_lookup() == "bpf" {
        assert!(
            note.starts_with(&format!(
                "pid {pid} (python3) holds sockets of another network namespace, not listed \
                 here: 2 sockets of net:["
            )) && note.contains("where no process whoport can see lives"),
            "{said:?}"
        );
    }
}

#[test]
fn sockets_of_a_mounted_namespace_no_process_lives_in_are_named_by_both_lookups() {
    // `ip netns add` and container runtimes keep a network namespace by a bind mount: no
    // process lives there, yet its tables can be read (entered by a thread of whoport's own),
    // so both owner lookups name its sockets with what they do.
    let Some((ports, said)) = mounted_namespace_notes(0) else {
        return;
    };
    for (lookup, about) in &said {
        for socket in [
            format!("TCP listener 127.0.0.1:{}", ports[0]),
            format!("UDP socket 0.0.0.0:{}", ports[1]),
            format!("UDP socket 127.0.0.1:{} connected to 127.0.0.1:9", ports[3]),
        ] {
            assert!(about.contains(&socket), "{lookup}: {socket}: {about}");
        }
        assert!(!about.contains("where no process"), "read: {about}");
    }
    // Said alike, the bound TCP socket (in no table) included: both ask the kernel.
    assert_eq!(said[0].1, said[1].1, "both lookups say the same");
    assert!(
        said[2].1.contains(" in no socket table whoport could read"),
        "{said:?}"
    );
}

/// The same namespace mounted after 64 others, more than whoport enters: with the in-kernel
/// lookup, which read the sockets' namespace, that one is entered first and its sockets named;
/// the walk, which asks the kernel only afterwards, enters them in the mount table's order and
/// says the namespace's tables were not read. It said "kept by no mount whoport could enter"
/// (false: root can enter it) with every process seen.
#[test]
fn sockets_of_a_namespace_mounted_after_64_others_are_not_said_unmounted() {
    let Some((ports, said)) = mounted_namespace_notes(64) else {
        return;
    };
    for (lookup, about) in &said {
        assert!(!about.contains("kept by no mount"), "{lookup}: {about}");
    }
    let listener = format!("TCP listener 127.0.0.1:{}", ports[0]);
    named_in_the_kernel_else_unread(&said, &listener);
}

/// With the in-kernel lookup (`bpf`), the note names `listener`; otherwise it says the tables
/// were not read, the 64-namespace limit having left the sockets' namespace out.
fn named_in_the_kernel_else_unread(said: &[Said], listener: &str) {
    for (lookup, note) in said {
        if *lookup == "bpf" && common::owner_lookup() == "bpf" {
            assert!(note.contains(listener), "{lookup}: {note}");
        } else {
            assert!(
                note.contains("whose tables were not read (those of 64 namespaces at most are"),
                "{lookup}: {note}"
            );
        }
    }
}

/// 70 processes each in a network namespace of its own, then the helper whose child lives in
/// the sockets' namespace (a higher PID): more namespaces than whoport reads (64). With the
/// in-kernel lookup, which read the sockets' namespace, a task of it is taken past the limit
/// and its sockets are named; the walk, which learns their namespace only afterwards, says
/// the tables were not read. The in-kernel lookup said so too, on any host with more than 64
/// namespaces (a container host).
#[test]
fn the_sockets_namespace_is_read_past_64_others() {
    let Some((port, said)) = notes_past_64_others("foreign") else {
        return;
    };
    named_in_the_kernel_else_unread(&said, &format!(": TCP listener 127.0.0.1:{port}, "));
}

/// The same, the sockets' namespace one no process lives in (`foreign-alone`): the in-kernel
/// lookup read every socket's namespace, so the namespaces left out by the limit are none of
/// theirs (and are not read), and the note says no process lives there; it said their tables
/// were not read.
#[test]
fn a_namespace_no_process_lives_in_is_said_so_past_64_others() {
    let Some((_, said)) = notes_past_64_others("foreign-alone") else {
        return;
    };
    for (lookup, note) in said {
        let expected = if lookup == "bpf" && common::owner_lookup() == "bpf" {
            "where no process whoport can see lives"
        } else {
            "whose tables were not read (those of 64 namespaces at most are"
        };
        assert!(note.contains(expected), "{lookup}: {note}");
    }
}

/// 70 processes each in a network namespace of its own, then `foreign_netns.py MODE` (a higher
/// PID), all in a private network namespace: the port of its first socket, and for each owner
/// lookup (`procfs`, `bpf`) the note about it. None where this cannot be staged.
fn notes_past_64_others(mode: &str) -> Option<(u64, Vec<Said>)> {
    if python().is_none()
        || !have("unshare", "apt-get install -y util-linux")
        || !common::root_or_skip("70 network namespaces")
    {
        return None;
    }
    let script = format!(
        r#"exec unshare -n sh -e <<'EOS'
ip link set lo up
d=$(mktemp -d)
S=""
trap 'kill $P $S 2>/dev/null; rm -rf $d' EXIT
for i in $(seq 1 70); do unshare -n sleep 600 & S="$S $!"; done
mkfifo $d/in
{python} {fixture} {mode} < $d/in > $d/ready &
P=$!
exec 3>$d/in
i=0
while [ ! -s $d/ready ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
echo "ready $(cat $d/ready)"
for lookup in procfs bpf; do
  echo "$lookup $(WHOPORT_OWNER_LOOKUP=$lookup COLUMNS=300 "$WHOPORT" --json | tr -d '\n')"
done
EOS
"#,
        python = python().expect("python3").display(),
        fixture = fixture("foreign_netns.py").display(),
    );
    let (status, out, err) = common::sh_within(&script, std::time::Duration::from_secs(120));
    assert_eq!(status, 0, "{out}\n{err}");
    let line = |tag: &str| -> String {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{tag} ")))
            .unwrap_or_else(|| panic!("no {tag} line: {out}\n{err}"))
            .to_string()
    };
    let ready: Value = serde_json::from_str(&line("ready")).expect("ready");
    let pid = ready["pid"].as_u64().expect("pid");
    let port = ready["sockets"][0][2].as_u64().expect("port");
    let mut said = Vec::new();
    for lookup in ["procfs", "bpf"] {
        let doc = line(lookup);
        let note = notes(&doc)
            .into_iter()
            .find(|n| n.starts_with(&format!("pid {pid} (")))
            .unwrap_or_else(|| panic!("{lookup}: {doc}"));
        said.push((lookup, note));
    }
    Some((port, said))
}

/// An owner lookup (`procfs`, `bpf`, or `nobpf`: the walk without the kernel) and the note it
/// gave.
type Said = (&'static str, String);

/// A helper holding the four sockets of `foreign_netns.py foreign-in`, made in a network
/// namespace bind-mounted after `others` other mounted namespaces (a private mount namespace
/// holds the mounts; the helper is killed by PID): its ports, and for each owner lookup
/// (`procfs`, `bpf`) the one note about it, then the notes about it with `WHOPORT_NO_BPF=1`
/// (`nobpf`). None where this cannot be staged.
fn mounted_namespace_notes(others: usize) -> Option<(Vec<u64>, Vec<Said>)> {
    if python().is_none()
        || !have("ip", "apt-get install -y iproute2")
        || !have("unshare", "apt-get install -y util-linux")
        || !common::root_or_skip("a bind-mounted network namespace")
    {
        return None;
    }
    let script = format!(
        r#"exec unshare -m --propagation private -n sh -e <<'EOS'
ip link set lo up
d=$(mktemp -d)
trap 'kill $P 2>/dev/null; for f in $d/netns $d/other*; do umount $f 2>/dev/null || true; done; rm -rf $d' EXIT
for i in $(seq 1 {others}); do touch $d/other$i; unshare --net=$d/other$i true; done
touch $d/netns
unshare --net=$d/netns true
mkfifo $d/in
{python} {fixture} foreign-in $d/netns < $d/in > $d/ready &
P=$!
exec 3>$d/in
i=0
while [ ! -s $d/ready ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
echo "ready $(cat $d/ready)"
for lookup in procfs bpf; do
  echo "$lookup $(WHOPORT_OWNER_LOOKUP=$lookup COLUMNS=300 "$WHOPORT" --json | tr -d '\n')"
done
echo "nobpf $(WHOPORT_NO_BPF=1 COLUMNS=300 "$WHOPORT" --json | tr -d '\n')"
EOS
"#,
        python = python().expect("python3").display(),
        fixture = fixture("foreign_netns.py").display(),
    );
    let (status, out, err) = common::sh_within(&script, std::time::Duration::from_secs(120));
    assert_eq!(status, 0, "{out}\n{err}");
    let line = |tag: &str| -> Value {
        let text = out
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{tag} ")))
            .unwrap_or_else(|| panic!("no {tag} line: {out}\n{err}"));
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{tag}: {e}: {text}"))
    };
    let ready = line("ready");
    let pid = ready["pid"].as_u64().expect("pid");
    let ports = (0..4)
        .map(|i| ready["sockets"][i][2].as_u64().expect("port"))
        .collect();
    let mut said = Vec::new();
    for lookup in ["procfs", "bpf"] {
        let doc = line(lookup);
        let about: Vec<String> = notes(&doc.to_string())
            .into_iter()
            .filter(|n| n.starts_with(&format!("pid {pid} (")))
            .collect();
        assert_eq!(about.len(), 1, "{lookup}: {doc}");
        said.push((lookup, about[0].clone()));
    }
    // Without the kernel: what no table it read lists is in a note of its own.
    let doc = line("nobpf");
    let about: Vec<String> = notes(&doc.to_string())
        .into_iter()
        .filter(|n| n.contains(&format!("pid {pid} (")))
        .collect();
    said.push(("nobpf", about.join("\n")));
    Some((ports, said))
}

/// A process whose namespace link whoport reads lives in the sockets' namespace (the helper's
/// child), but a directory is mounted over its `/proc/PID/net`: the tables were not read, and
/// the note said no process whoport can see lives there. It now says the tables could not be
/// read, and what is mounted over them (both owner lookups; a private mount namespace).
#[test]
fn a_namespace_whose_tables_are_covered_by_a_mount_is_said_so() {
    if !have("ip", "apt-get install -y iproute2")
        || !have("unshare", "apt-get install -y util-linux")
        || !common::root_or_skip("a mount over /proc/PID/net")
    {
        return;
    }
    let Some(ns) = NetNs::new() else { return };
    let foreign = helper(&ns, "foreign");
    let child = foreign.children[0];
    let script = format!(
        r#"exec unshare -m --propagation private sh -e -c '
mount -t tmpfs none /proc/{child}/net
for l in procfs bpf; do
  echo "$l $(nsenter -t {pid} -n env WHOPORT_OWNER_LOOKUP=$l COLUMNS=300 "$WHOPORT" --json | tr -d "\n")"
done'"#,
        pid = ns.pid
    );
    let (status, out, err) = common::sh_within(&script, std::time::Duration::from_secs(60));
    assert_eq!(status, 0, "{out}\n{err}");
    for lookup in ["procfs", "bpf"] {
        let text = out
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{lookup} ")))
            .unwrap_or_else(|| panic!("no {lookup} line: {out}\n{err}"));
        let note = notes(text)
            .into_iter()
            .find(|n| n.starts_with(&format!("pid {} (", foreign.pid)))
            .unwrap_or_else(|| panic!("{lookup}: {text}"));
        assert!(
            note.ends_with(&format!(
                "holds sockets of another network namespace, not listed here: 4 sockets of \
                 net:[{}], whose tables could not be read (something is mounted over \
                 /proc/{child}/net)",
                netns_of(child)
            )),
            "{lookup}: {note}"
        );
    }
}

/// The inode of process `pid`'s network namespace.
fn netns_of(pid: u32) -> u64 {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/net")).expect("ns/net");
    let text = link.to_string_lossy();
    text.trim_start_matches("net:[")
        .trim_end_matches(']')
        .parse()
        .expect("net:[N]")
}

/// The only process living in the sockets' namespace has a main thread that exited
/// (`pthread_exit`, `hold.c leader-exit`) while another runs on: its `/proc/PID/ns/net` names
/// nothing, and the note said no process whoport can see lives there. Its other threads are
/// looked at: the namespace's tables are read and the sockets named with what they do (both
/// owner lookups).
#[test]
fn a_namespace_whose_only_process_lost_its_main_thread_is_read_through_another() {
    if !have("ip", "apt-get install -y iproute2")
        || !have("nsenter", "apt-get install -y util-linux")
        || !common::root_or_skip("a process in another network namespace")
    {
        return;
    }
    let dir = tempdir();
    let Some(hold) = common::compile_fixture(dir.path(), "hold") else {
        return;
    };
    let Some(ns) = NetNs::new() else { return };
    let foreign = helper(&ns, "foreign");
    let child = foreign.children[0];
    // (nsenter execs hold: one PID, killed when this ends, whatever happens.)
    let mut held = common::Reaped(
        std::process::Command::new("nsenter")
            .args(["-t", &child.to_string(), "-n", "--"])
            .arg(&hold)
            .arg("leader-exit")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("hold starts"),
    );
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(held.0.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("hold says ready");
    let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let pid = ready["pid"].as_u64().expect("pid") as u32;
    // Only hold lives there now.
    let killed = std::process::Command::new("kill")
        .args(["-9", &child.to_string()])
        .status();
    common::leader_exited(pid);
    let mut said = Vec::new();
    for lookup in ["procfs", "bpf"] {
        let (code, out) = whoport_in(&ns, lookup, &["--json"]);
        said.push((code, out));
    }
    drop(held);
    assert!(
        killed.is_ok_and(|s| s.success()),
        "the helper's child is killed"
    );
    for (lookup, (code, out)) in ["procfs", "bpf"].iter().zip(&said) {
        assert!(*code == 0 || *code == 1, "{lookup}: exit {code}: {out}");
        let note = notes(out)
            .into_iter()
            .find(|n| n.starts_with(&format!("pid {} (", foreign.pid)))
            .unwrap_or_else(|| panic!("{lookup}: {out}"));
        assert!(
            note.contains(": TCP listener 127.0.0.1:")
                && note.contains(", UDP socket 0.0.0.0:")
                && !note.contains("no process whoport can see"),
            "{lookup}: {note}"
        );
    }
}

/// As nobody with CAP_BPF and CAP_PERFMON (the in-kernel lookup's minimum), root's process
/// holding sockets of another network namespace: its `/proc/PID/ns/net` is closed to nobody,
/// and the note was left out with nothing said, although the same run named that process as
/// an owner. The in-kernel lookup read every task's namespace: the process is named. And
/// what its sockets do is read from the tables of the process living there (nobody may read
/// them, not its namespace link): the note is root's, word for word.
#[test]
fn as_nobody_with_bpf_the_holder_of_another_namespaces_sockets_is_named() {
    let Some(note) = nobody_and_root_say("foreign") else {
        return;
    };
    assert!(
        note.contains(": TCP listener 127.0.0.1:")
            && note.contains(", UDP socket 0.0.0.0:")
            && note.contains(" connected to 127.0.0.1:9")
            && note.ends_with(
                ", a socket that its namespace's tables do not list (bound without listening, \
                 or not bound)"
            ),
        "{note}"
    );
}

/// The same, the holder's only socket of that namespace bound without listening (in no table):
/// the tables read through root's process living there (placed there by the in-kernel lookup:
/// its link is closed to nobody) do not list it, as root says. A namespace read only through
/// a process whose link nobody cannot read counted as read only when a socket was found in
/// it: the note said no process whoport can see lives there.
#[test]
fn as_nobody_with_bpf_a_socket_in_no_table_is_said_unlisted_as_root_says() {
    let Some(note) = nobody_and_root_say("foreign-bound") else {
        return;
    };
    assert!(
        note.ends_with(
            "holds a socket of another network namespace, not listed here: a socket that its \
             namespace's tables do not list (bound without listening, or not bound)"
        ),
        "{note}"
    );
}

/// As nobody with CAP_BPF and CAP_PERFMON, and as root, the note naming the holder of
/// `foreign_netns.py MODE` (a root process in a private network namespace, its child living
/// in the sockets' namespace): nobody's note, checked to be root's word for word. None where
/// nobody could not be given those capabilities.
fn nobody_and_root_say(mode: &str) -> Option<String> {
    if !common::is_root()
        || !std::path::Path::new("/sys/kernel/btf/vmlinux").exists()
        || !have("ip", "apt-get install -y iproute2")
        || !have("setpriv", "apt-get install -y util-linux")
    {
        return None;
    }
    let ns = NetNs::new()?;
    let foreign = helper(&ns, mode);
    let home = common::shared_tempdir();
    let env = [("WHOPORT_OWNER_LOOKUP", "bpf")];
    let (_, out, err) =
        ns.whoport_wrapped(home.path(), &env, &common::NOBODY_WITH_BPF, &["--json"]);
    let Ok(doc) = serde_json::from_str::<Value>(&out) else {
        // setpriv refused the capabilities (a kernel or setpriv without CAP_BPF).
        eprintln!("SKIPPED: nobody with CAP_BPF and CAP_PERFMON could not run whoport: {err}");
        return None;
    };
    assert_eq!(doc["owner_lookup"], "bpf", "{doc}");
    // nobody cannot read root's `/proc/PID/ns/net`; the in-kernel lookup read where the child
    // lives, and nobody may read that child's tables (`/proc/PID/net/*`).
    let said = |notes: Vec<String>| -> Option<String> {
        notes.into_iter().find(|n| {
            n.starts_with(&format!(
                "pid {} (python3) holds {} of another network namespace",
                foreign.pid,
                if foreign.sockets.len() == 1 {
                    "a socket"
                } else {
                    "sockets"
                }
            ))
        })
    };
    let notes = crate::notes(&doc.to_string());
    let note = said(notes.clone()).unwrap_or_else(|| panic!("{notes:#?}"));
    let (_, root_out, _) = ns.whoport_with(home.path(), &env, &["--json"]);
    let root = said(crate::notes(&root_out)).unwrap_or_else(|| panic!("as root: {root_out}"));
    assert_eq!(note, root, "nobody and root say the same");
    Some(note)
}

/// Where the in-kernel lookup is preferred, a listing of every port is given only TCP's
/// listeners (the kernel does not walk its table of connections). When the iterator is then
/// refused (nobody, without CAP_BPF) the walk's note on other namespaces must not take this
/// namespace's connections, absent from that dump, for another namespace's: it dumps every
/// table again, and says what the walk says after a dump of every table (the walk asked for).
/// The holder: a process of nobody's with this namespace's sockets, connected pairs among
/// them, and four in no table.
#[test]
fn a_walk_after_a_dump_of_listeners_only_never_calls_this_namespaces_connections_anothers() {
    if !common::is_root() || !have("setpriv", "apt-get install -y util-linux") {
        return;
    }
    let Some(ns) = NetNs::new() else { return };
    let nobody = ["--reuid=65534", "--regid=65534", "--clear-groups"];
    let mut cmd = ns.command(std::path::Path::new("setpriv"));
    cmd.args(nobody)
        .arg(python().expect("python3"))
        .arg(fixture("foreign_netns.py"))
        .arg("ordinary");
    let ordinary = Listener::start_command(cmd);
    let home = common::shared_tempdir();
    let wrapper = ["setpriv", nobody[0], nobody[1], nobody[2]];
    let said = |lookup: &str| {
        let env = [("WHOPORT_OWNER_LOOKUP", lookup)];
        let (code, out, err) = ns.whoport_wrapped(home.path(), &env, &wrapper, &["--json"]);
        assert!(code == 0 || code == 1, "{lookup}: exit {code}: {err}");
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        assert_eq!(
            doc["owner_lookup"], "procfs",
            "{lookup}: nobody walks: {doc}"
        );
        notes(&out)
            .into_iter()
            .filter(|n| n.contains(&format!("pid {} (", ordinary.pid)))
            .collect::<Vec<_>>()
    };
    let after_listeners_only = said("bpf");
    assert_eq!(after_listeners_only, said("procfs"));
    assert!(
        after_listeners_only
            .iter()
            .all(|n| n.starts_with(&format!("4 sockets held by pid {} (", ordinary.pid))),
        "only the four in no table: {after_listeners_only:#?}"
    );
}
