//! A user's own systemd unit (`user@UID.service/…/NAME.service`), which that user names as
//! they like, staged for real: the listener's process is moved into such a cgroup.

mod common;

use std::path::PathBuf;

use common::listener::{python, Listener};
use common::{run, tempdir};
use serde_json::Value;

/// The cgroup hierarchy whose path whoport reads a unit from (systemd's named v1 hierarchy,
/// else the unified one), where this process is at its root; `None` otherwise.
fn hierarchy() -> Option<PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let named = own.lines().any(|l| l.contains(":name=systemd:/"));
    let unified = own.lines().any(|l| l.starts_with("0::/"));
    [
        (named, "/sys/fs/cgroup/systemd"),
        (unified && !named, "/sys/fs/cgroup/unified"),
        (unified && !named, "/sys/fs/cgroup"),
    ]
    .into_iter()
    .filter(|(usable, _)| *usable)
    .map(|(_, p)| PathBuf::from(p))
    .find(|p| p.join("cgroup.procs").exists())
}

/// A directory tree below a cgroup hierarchy, removed (deepest first) when dropped, once the
/// processes moved into it are gone.
struct Cgroups(Vec<PathBuf>);

impl Drop for Cgroups {
    fn drop(&mut self) {
        for dir in self.0.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// A listener of nobody's moved into `user@65534.service/app.slice/sshd.service` (as
/// `systemd-run --user --unit=sshd` makes it): its unit is `sshd.service` of the manager
/// `user@65534.service`, said so in the listing, the card and `--json` (`unit_manager`), and
/// the audit never tells root to `systemctl restart sshd.service` for it (which restarts the
/// system's sshd). Before, it was shown as unit `sshd.service`, the system's unit's name.
#[test]
fn a_users_own_unit_is_named_with_its_manager() {
    if !common::root_or_skip("cgroups made and processes moved into them") {
        return;
    }
    let Some(py) = python() else { return };
    let Some(base) = hierarchy() else {
        // The machine's own layout, not a package: said, and a failure under CI, whose
        // machines have one.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "no cgroup hierarchy at /sys/fs/cgroup to move a process into"
        );
        eprintln!("SKIPPED: no cgroup hierarchy at /sys/fs/cgroup to move a process into");
        return;
    };
    let top = base.join(format!("whoport-test-{}.slice", std::process::id()));
    let parts = [
        "user-65534.slice",
        "user@65534.service",
        "app.slice",
        "sshd.service",
    ];
    let mut dirs = vec![top.clone()];
    for part in parts {
        let next = dirs.last().expect("top").join(part);
        dirs.push(next);
    }
    for dir in &dirs {
        std::fs::create_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    }
    let cgroups = Cgroups(dirs);
    let dir = tempdir();
    let copy = dir.path().join("app");
    std::fs::copy(&py, &copy).expect("copy python");
    let l = Listener::start_with(&copy, &["tcp4"]);
    let port = l.port(0);
    let unit = cgroups.0.last().expect("unit");
    std::fs::write(unit.join("cgroup.procs"), l.pid.to_string()).expect("moved");
    let (_, out, err) = run(&["--json", &port.to_string()]);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
    let owner = common::loopback_tcp_row(&doc, u64::from(port), "default")["owners"][0].clone();
    assert_eq!(
        (&owner["unit"], &owner["unit_manager"]),
        (
            &Value::from("sshd.service"),
            &Value::from("user@65534.service")
        ),
        "{owner}"
    );
    let (_, out, _) = run(&["--color", "never", &port.to_string()]);
    assert!(out.contains("sshd.service (user@65534.service)"), "{out}");
    // What it runs is replaced on disk: the audit may say to restart it, never with the
    // system's manager.
    let new = dir.path().join("app.new");
    std::fs::copy(&py, &new).expect("copy python");
    std::fs::rename(&new, &copy).expect("replaced");
    let (_, out, err) = run(&["audit", "--json", "--pid", &l.pid.to_string()]);
    assert!(!out.is_empty(), "{err}");
    assert!(!out.contains("systemctl restart sshd.service"), "{out}");
    drop(l);
}
