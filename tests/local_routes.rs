//! Whether a pasted address is this machine's, and through which device a connection to it
//! arrives, as the kernel's routes say, staged for real in a private network namespace:
//! AnyIP ranges (`ip route add local ...`) read from `/proc/net` when rtnetlink is refused,
//! one in a table of the administrator's that `/proc` cannot settle, a local route on another
//! device than `lo`, and a loopback address no route makes local. The kernel's answer (a real
//! connection) is checked first each time.

mod common;

use common::netns::{NetNs, ANYIP_V4, ANYIP_V6};
use common::{endpoints, tempdir};
use serde_json::Value;

/// A private network namespace after `setups` (arguments of `ip`), with `listen.py SPECS`
/// running; `None` (said skipped) when it cannot be staged.
struct Stage {
    _helper: common::listener::Listener,
    ns: NetNs,
    ports: Vec<u16>,
    dir: tempfile::TempDir,
    shim: Option<String>,
}

impl Stage {
    fn new(setups: &[&[&str]], specs: &[&str]) -> Option<Stage> {
        let ns = NetNs::set_up(setups)?;
        let mut args = vec!["--exit-after", "300"];
        args.extend_from_slice(specs);
        let helper = ns.listener(&args);
        let ports = (0..specs.len()).map(|i| helper.port(i)).collect();
        Some(Stage {
            ns,
            ports,
            dir: tempdir(),
            shim: None,
            _helper: helper,
        })
    }

    /// The same, with the shim that refuses netlink built (for [`Stage::without_netlink`]).
    fn with_shim(setups: &[&[&str]], specs: &[&str]) -> Option<Stage> {
        let mut stage = Stage::new(setups, specs)?;
        let shim = common::no_netlink_shim(stage.dir.path())?;
        stage.shim = Some(shim.to_str().expect("utf8").to_string());
        Some(stage)
    }

    /// What a client in the namespace gets from `ADDRESS:PORT`: `connected` or the error.
    fn connect(&self, address: &str, port: u16) -> String {
        let script = format!(
            "import socket\nc = socket.socket(socket.AF_INET6 if ':' in '{address}' else \
             socket.AF_INET)\nc.settimeout(3)\ntry:\n    c.connect(('{address}', {port})); \
             print('connected')\nexcept OSError as e:\n    print(type(e).__name__)"
        );
        let python = common::listener::python().expect("python3");
        let out = self.ns.command(&python).arg("-c").arg(script).output();
        String::from_utf8_lossy(&out.expect("python runs").stdout)
            .trim()
            .to_string()
    }

    /// `whoport --json PASTED` (status, document), with rtnetlink or without it.
    fn pasted(&self, pasted: &str, netlink: bool) -> (i32, Value) {
        let env: Vec<(&str, &str)> = match (&self.shim, netlink) {
            (Some(shim), false) => vec![("LD_PRELOAD", shim.as_str())],
            (None, false) => panic!("staged without the shim"),
            _ => Vec::new(),
        };
        let (status, out, err) = self
            .ns
            .whoport_with(self.dir.path(), &env, &["--json", pasted]);
        let doc: Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{pasted}: {e}: {err}"));
        if !netlink {
            assert_eq!(doc["source"], "/proc/net", "netlink refused: {doc}");
        }
        (status, doc)
    }
}

fn notes(doc: &Value) -> String {
    doc["notes"].to_string()
}

/// With rtnetlink refused (seccomp, gVisor, WSL1), an AnyIP address is this machine's as
/// `/proc/net/fib_trie` (`LOCAL`) and `/proc/net/ipv6_route` (`RTF_LOCAL`) say: served by the
/// wildcards, while an address outside the range is still served by nothing.
#[test]
fn without_netlink_an_address_made_local_by_a_route_is_read_from_proc() {
    let Some(s) = Stage::with_shim(&[ANYIP_V4, ANYIP_V6], &["tcp4-any", "tcp6-any-v6only:same"])
    else {
        return;
    };
    let p = s.ports[0];
    assert_eq!(s.connect("10.77.3.4", p), "connected");
    assert_eq!(s.connect("2001:db8:77::5", p), "connected");
    for (pasted, want) in [
        (format!("10.77.3.4:{p}"), format!("0.0.0.0:{p}")),
        (format!("[2001:db8:77::5]:{p}"), format!("[::]:{p}")),
    ] {
        let (status, doc) = s.pasted(&pasted, false);
        assert_eq!(status, 0, "{pasted}: {doc}");
        assert_eq!(endpoints(&doc), vec![want.clone()], "{pasted}: {doc}");
        assert!(
            notes(&doc).contains(&format!("{pasted} is served by tcp {want}")),
            "{doc}"
        );
    }
    let (status, doc) = s.pasted(&format!("10.78.3.4:{p}"), false);
    assert_eq!(status, 1, "{doc}");
    assert!(endpoints(&doc).is_empty(), "{doc}");
}

/// An AnyIP range in a table of the administrator's, chosen by a rule (`ip route add local
/// ... table 100`, `ip rule add lookup 100`, as transparent proxies are set up): `/proc` shows
/// the route but not the rules, so without rtnetlink whether the address is this machine's is
/// not known. The wildcards are shown with a note that says so (exit 0), never "nothing
/// listens"; with rtnetlink the kernel says, and they serve it.
#[test]
fn where_the_routes_cannot_settle_it_the_wildcards_may_serve_and_say_why() {
    let table = |v6: &[&'static str]| -> Vec<&'static str> {
        v6.iter().copied().chain(["table", "100"]).collect()
    };
    let (v4, v6) = (table(ANYIP_V4), table(ANYIP_V6));
    let Some(s) = Stage::with_shim(
        &[
            &v4,
            &["rule", "add", "lookup", "100"],
            &v6,
            &["-6", "rule", "add", "lookup", "100"],
        ],
        &["tcp4-any", "tcp6-any-v6only:same"],
    ) else {
        return;
    };
    let p = s.ports[0];
    // IPv4 binds a source address from the local table only, so a connection from this
    // machine to an address another table makes local finds no route; what arrives from
    // other machines is delivered. The kernel's route says so.
    let route =
        s.ns.command(std::path::Path::new("ip"))
            .args(["route", "get", "10.77.3.4"])
            .output()
            .expect("ip runs");
    let route = String::from_utf8_lossy(&route.stdout).into_owned();
    assert!(
        route.starts_with("local 10.77.3.4 dev lo table 100"),
        "{route}"
    );
    assert_eq!(s.connect("2001:db8:77::5", p), "connected");
    for (pasted, want, file) in [
        (format!("10.77.3.4:{p}"), format!("0.0.0.0:{p}"), "fib_trie"),
        (
            format!("[2001:db8:77::5]:{p}"),
            format!("[::]:{p}"),
            "ipv6_route",
        ),
    ] {
        let (status, doc) = s.pasted(&pasted, true);
        assert_eq!((status, endpoints(&doc)), (0, vec![want.clone()]), "{doc}");
        let (status, doc) = s.pasted(&pasted, false);
        assert_eq!(status, 0, "{pasted}: {doc}");
        assert_eq!(endpoints(&doc), vec![want.clone()], "{pasted}: {doc}");
        let notes = notes(&doc);
        assert!(
            notes.contains(&format!("{pasted} may be served by tcp {want}"))
                && notes.contains("is not known")
                && notes.contains(&format!("/proc/net/{file}")),
            "{notes}"
        );
        assert!(!notes.contains("is served by"), "{notes}");
    }
}

/// A wildcard bound to a device takes a connection from this machine to an address whose
/// `local` route is on that device (the kernel delivers it as arriving there): an AnyIP range
/// on `d0` is served by `0.0.0.0%d0` and `[::]%d0`, not by `0.0.0.0%lo`; one on `lo` by
/// `0.0.0.0%lo`, not by the sockets bound to `d0`.
#[test]
fn a_wildcard_bound_to_a_device_takes_what_a_local_route_on_that_device_makes_local() {
    let Some(s) = Stage::new(
        &[
            &["link", "add", "d0", "type", "veth", "peer", "name", "d1"],
            &["link", "set", "d0", "up"],
            &["link", "set", "d1", "up"],
            &["route", "add", "local", "10.78.0.0/16", "dev", "d0"],
            &[
                "-6",
                "route",
                "add",
                "local",
                "2001:db8:78::/64",
                "dev",
                "d0",
            ],
            ANYIP_V4,
        ],
        &["tcp4-any@d0", "tcp4-any-lo", "tcp6-any-v6only@d0"],
    ) else {
        return;
    };
    let (on_d0, on_lo, v6_on_d0) = (s.ports[0], s.ports[1], s.ports[2]);
    let cases = [
        ("10.78.3.4", on_d0, Some(format!("0.0.0.0%d0:{on_d0}"))),
        ("10.78.3.4", on_lo, None),
        ("10.77.3.4", on_lo, Some(format!("0.0.0.0%lo:{on_lo}"))),
        ("10.77.3.4", on_d0, None),
        (
            "2001:db8:78::5",
            v6_on_d0,
            Some(format!("[::]%d0:{v6_on_d0}")),
        ),
    ];
    for (address, port, served) in &cases {
        let kernel = s.connect(address, *port);
        assert_eq!(kernel == "connected", served.is_some(), "{address}:{port}");
    }
    for (address, port, served) in cases {
        let pasted = if address.contains(':') {
            format!("[{address}]:{port}")
        } else {
            format!("{address}:{port}")
        };
        let (status, doc) = s.pasted(&pasted, true);
        let want: Vec<String> = served.into_iter().collect();
        assert_eq!(endpoints(&doc), want, "{pasted}: {doc}");
        assert_eq!(status, if want.is_empty() { 1 } else { 0 }, "{doc}");
    }
}

/// A kernel older than Linux 4.13 ignores `RTM_F_FIB_MATCH` and answers with the route a
/// packet would be sent by, whose device is `lo` for every local address. Where its release
/// says so (staged with `setarch --uname-2.6`, which makes the kernel report a 2.6 release to
/// whoport), a route's device is not taken from rtnetlink: an address of an interface is
/// served by the wildcard bound to that interface (the interface says so), and one only an
/// AnyIP route on a device makes local may be served (not known, and why: the wildcard is
/// shown, exit 0), never "nothing listens". Before, the route's device was taken whatever
/// the kernel, so on such a kernel an AnyIP range on `d0` was said served by `0.0.0.0%lo`
/// and hidden from `0.0.0.0%d0`.
#[test]
fn where_the_kernel_is_too_old_to_name_a_routes_device_it_is_not_taken_from_it() {
    if !common::have("setarch", "apt-get install -y util-linux") {
        return;
    }
    let Some(s) = Stage::new(
        &[
            &["link", "add", "d0", "type", "veth", "peer", "name", "d1"],
            &["link", "set", "d0", "up"],
            &["link", "set", "d1", "up"],
            &["addr", "add", "10.79.0.1/24", "dev", "d0"],
            &["route", "add", "local", "10.78.0.0/16", "dev", "d0"],
        ],
        &["tcp4-any@d0", "tcp4-any-lo"],
    ) else {
        return;
    };
    let (on_d0, on_lo) = (s.ports[0], s.ports[1]);
    assert_eq!(s.connect("10.78.3.4", on_d0), "connected");
    assert_eq!(s.connect("10.79.0.1", on_d0), "connected");
    let old = ["setarch", std::env::consts::ARCH, "--uname-2.6"];
    let pasted = |address: &str, port: u16| {
        let pasted = format!("{address}:{port}");
        let (status, out, err) =
            s.ns.whoport_wrapped(s.dir.path(), &[], &old, &["--json", &pasted]);
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
        (status, doc)
    };
    let (status, doc) = pasted("10.79.0.1", on_d0);
    assert_eq!(
        (status, endpoints(&doc)),
        (0, vec![format!("0.0.0.0%d0:{on_d0}")]),
        "{doc}"
    );
    let (status, doc) = pasted("10.79.0.1", on_lo);
    assert_eq!(
        (status, endpoints(&doc)),
        (1, Vec::<String>::new()),
        "{doc}"
    );
    for port in [on_d0, on_lo] {
        let (status, doc) = pasted("10.78.3.4", port);
        let device = if port == on_d0 { "d0" } else { "lo" };
        let want = format!("0.0.0.0%{device}:{port}");
        assert_eq!((status, endpoints(&doc)), (0, vec![want.clone()]), "{doc}");
        let notes = notes(&doc);
        assert!(
            notes.contains(&format!("10.78.3.4:{port} may be served by tcp {want}"))
                && notes.contains("older than Linux 4.13"),
            "{notes}"
        );
    }
}

/// An address of 127.0.0.0/8 is this machine's only while a route makes it local: with the
/// `local 127.0.0.0/8` route deleted (only `127.0.0.1` left), a connection to `127.0.0.2` finds
/// no route, and nothing serves it; `127.0.0.1` and `localhost` still are served.
#[test]
fn a_loopback_address_no_route_makes_local_is_not_served() {
    let Some(s) = Stage::new(
        &[&[
            "route",
            "del",
            "local",
            "127.0.0.0/8",
            "dev",
            "lo",
            "table",
            "local",
        ]],
        &["tcp4-any"],
    ) else {
        return;
    };
    let p = s.ports[0];
    assert_eq!(s.connect("127.0.0.2", p), "OSError", "no route");
    assert_eq!(s.connect("127.0.0.1", p), "connected");
    let (status, doc) = s.pasted(&format!("127.0.0.2:{p}"), true);
    assert_eq!(status, 1, "{doc}");
    assert!(endpoints(&doc).is_empty(), "{doc}");
    for pasted in [format!("127.0.0.1:{p}"), format!("localhost:{p}")] {
        let (status, doc) = s.pasted(&pasted, true);
        assert_eq!(status, 0, "{doc}");
        assert_eq!(endpoints(&doc), vec![format!("0.0.0.0:{p}")], "{doc}");
    }
}
