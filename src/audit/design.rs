//! Standard designs that run as root without being `root-exposed`: daemons that separate
//! privileges by design, and the root master of a program known to serve only from its
//! workers, whose workers serve as an unprivileged user.

use crate::model::Process;

/// Daemons whose root process only binds the port and hands every connection to an
/// unprivileged process, by design and always (not a setting): executable base name, and why.
const PRIVILEGE_SEPARATED: &[(&str, &str)] = &[
    (
        "sshd",
        "sshd separates privileges: every connection is handled by an unprivileged child \
         (privilege separation, mandatory since OpenSSH 7.5)",
    ),
    (
        "master",
        "Postfix's master runs as root only to bind ports and start its daemons, which serve \
         as the unprivileged mail owner (postfix)",
    ),
    (
        "dovecot",
        "Dovecot's master runs as root only to bind ports; connections are served by login \
         processes as unprivileged users (dovenull, dovecot)",
    ),
];

/// The system's directories, where only executables installed by the system are.
pub const SYSTEM_DIRS: &str = "/usr, /bin, /sbin, /lib, /lib64";

/// Only executables installed by the system count: a copy elsewhere named sshd proves nothing.
pub fn system_path(exe: &str) -> bool {
    ["/usr/", "/bin/", "/sbin/", "/lib/", "/lib64/"]
        .iter()
        .any(|d| exe.starts_with(d))
}

/// Whether the different file at the path of a process's deleted executable is the system's
/// own new version (a package upgrade awaiting a restart): a system path, where that file and
/// every directory on the way to it only root may write. Anything else (a file any user put
/// at a path of theirs) proves nothing about the file that was deleted. Nor does a process
/// of another user namespace, or one whose namespaces could not be read: the mounts of its
/// view may be its own (a root-owned directory bound over that path by a user's namespace).
pub fn upgraded(p: &Process) -> bool {
    let s = &p.exe_state;
    s.replaced
        && !s.memory_only
        && !s.own_user_ns
        && !s.user_ns_unread
        && !s.mount_ns_unread
        && s.replaced_root_only
        && p.exe.as_deref().is_some_and(system_path)
}

/// The executable's path when it establishes what the process runs: a system path whose file
/// in whoport's view is the running file (same device and inode), whatever mount namespace
/// the process runs in. A copy elsewhere, a file only the process's own mount namespace has at
/// that path, or one not looked at proves nothing. A file gone from its path proves nothing
/// either, unless it was upgraded in place ([`upgraded`]) at a path of whoport's own mount
/// namespace: still the same daemon, awaiting a restart (`restart-pending`).
pub fn established_exe(p: &Process) -> Option<&str> {
    let exe = p.exe.as_deref().filter(|e| system_path(e))?;
    let s = &p.exe_state;
    let in_place = s.deleted && upgraded(p) && !s.own_mount_ns && !s.mount_ns_unread;
    (!s.memory_only && (in_place || (!s.deleted && s.same_here == Some(true)))).then_some(exe)
}

/// Programs whose root process, by design and always, only binds the port and manages workers
/// that serve the connections, when it has such workers among the socket's holders: executable
/// base name, and why. Any other root process with unprivileged children holding its socket may
/// serve connections itself: that is not established, and stays `root-exposed`.
const MASTER_WORKERS: &[(&str, &str)] = &[
    (
        "nginx",
        "nginx's master process runs as root only to bind ports and manage its workers (it \
         never accepts a connection itself)",
    ),
    (
        "apache2",
        "Apache's parent process runs as root only to bind ports and manage its children (it \
         never serves a request itself)",
    ),
    (
        "httpd",
        "Apache's parent process runs as root only to bind ports and manage its children (it \
         never serves a request itself)",
    ),
];

fn builtin(p: &Process) -> Option<&'static str> {
    known(p, PRIVILEGE_SEPARATED)
}

/// The reason of `table` for the program `p` runs: only an executable that establishes what
/// it runs ([`established_exe`]).
fn known(p: &Process, table: &'static [(&str, &str)]) -> Option<&'static str> {
    // An upgraded daemon keeps its design.
    let exe = established_exe(p)?;
    let base = exe.rsplit('/').next().unwrap_or(exe);
    let (_, why) = table.iter().find(|(name, _)| *name == base)?;
    // Postfix's "master" is only Postfix's in a postfix directory.
    (base != "master" || exe.contains("/postfix/")).then_some(*why)
}

/// The unprivileged children of `root` among the `owners` of a socket.
pub fn unprivileged_children<'a>(root: &Process, owners: &[&'a Process]) -> Vec<&'a Process> {
    owners
        .iter()
        .copied()
        .filter(|w| w.parent_pid == Some(root.pid) && w.uid.is_some() && !w.acts_as_root())
        .collect()
}

/// Why the root owners of a group are a standard design, when every one of them is: either
/// a daemon that separates privileges by design, or the master of a program known to serve
/// only from its workers ([`MASTER_WORKERS`]) with at least one unprivileged worker (its child)
/// among the owners. `None` when any root owner may serve on its own.
pub fn standard_design(owners: &[&Process]) -> Option<String> {
    let roots: Vec<&Process> = owners
        .iter()
        .copied()
        .filter(|p| p.acts_as_root())
        .collect();
    if roots.is_empty() {
        return None;
    }
    let mut reasons: Vec<String> = Vec::new();
    for root in &roots {
        let workers = unprivileged_children(root, owners);
        let why = if let Some(why) = builtin(root) {
            why.to_string()
        } else if let (Some(first), Some(why)) = (workers.first(), known(root, MASTER_WORKERS)) {
            let user = first
                .user
                .clone()
                .or_else(|| first.uid.map(|u| format!("uid {u}")))
                .unwrap_or_default();
            format!("{why}, which serve the connections as {user}")
        } else {
            return None;
        };
        if !reasons.contains(&why) {
            reasons.push(why);
        }
    }
    Some(reasons.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: u32, exe: &str, uid: u32, parent: u32) -> Process {
        Process {
            pid,
            name: exe.rsplit('/').next().unwrap_or(exe).into(),
            exe: Some(exe.into()),
            exe_state: crate::model::ExeState {
                same_here: Some(true),
                ..Default::default()
            },
            uid: Some(uid),
            user: Some(if uid == 0 { "root" } else { "www-data" }.into()),
            parent_pid: Some(parent),
            ..Process::default()
        }
    }

    #[test]
    fn standard_designs_and_what_stays_a_finding() {
        let sshd = p(700, "/usr/sbin/sshd", 0, 1);
        assert!(standard_design(&[&sshd]).is_some_and(|w| w.contains("privilege separation")));
        // A copy outside the system's directories proves nothing.
        let fake = p(701, "/tmp/sshd", 0, 1);
        assert_eq!(standard_design(&[&fake]), None);
        let mut gone = sshd.clone();
        gone.exe_state.deleted = true;
        assert_eq!(standard_design(&[&gone]), None);
        // Replaced by a new file: the same daemon only when root alone could have put it there.
        gone.exe_state.replaced = true;
        gone.exe_state.replaced_owner = Some(65534);
        assert_eq!(standard_design(&[&gone]), None);
        gone.exe_state.replaced_root_only = true;
        assert!(standard_design(&[&gone]).is_some());
        // A path of its own mount namespace, another file (or not looked at) in whoport's.
        let mut elsewhere = sshd.clone();
        elsewhere.exe_state.own_mount_ns = true;
        elsewhere.exe_state.same_here = Some(false);
        assert_eq!(standard_design(&[&elsewhere]), None);
        elsewhere.exe_state.same_here = None;
        assert_eq!(standard_design(&[&elsewhere]), None);
        // Upgraded in place (replaced at its system path): still sshd; not in another
        // namespace, whose path whoport did not see replaced.
        let mut upgraded = sshd.clone();
        (upgraded.exe_state.deleted, upgraded.exe_state.replaced) = (true, true);
        upgraded.exe_state.replaced_root_only = true;
        assert!(standard_design(&[&upgraded]).is_some());
        upgraded.exe_state.own_mount_ns = true;
        assert_eq!(standard_design(&[&upgraded]), None);
        // Not an upgrade where the mounts of its view may be its own, or are not known.
        upgraded.exe_state.own_mount_ns = false;
        assert!(super::upgraded(&upgraded));
        for unknown in [
            |s: &mut crate::model::ExeState| s.own_user_ns = true,
            |s: &mut crate::model::ExeState| s.user_ns_unread = true,
            |s: &mut crate::model::ExeState| s.mount_ns_unread = true,
        ] {
            let mut p = upgraded.clone();
            unknown(&mut p.exe_state);
            assert!(!super::upgraded(&p), "{:?}", p.exe_state);
            assert_eq!(standard_design(&[&p]), None, "{:?}", p.exe_state);
        }
        // nginx: judged by its workers.
        let master = p(812, "/usr/sbin/nginx", 0, 1);
        let worker = p(813, "/usr/sbin/nginx", 33, 812);
        assert!(standard_design(&[&master, &worker]).is_some_and(|w| w.contains("www-data")));
        assert_eq!(
            standard_design(&[&master]),
            None,
            "no worker: it serves itself"
        );
        let root_worker = p(814, "/usr/sbin/nginx", 0, 812);
        assert_eq!(
            standard_design(&[&master, &root_worker]),
            None,
            "workers as root"
        );
        assert_eq!(
            standard_design(&[&master, &worker, &root_worker]),
            None,
            "one root worker serves as root"
        );
        // A worker of another master does not count.
        let stranger = p(900, "/usr/sbin/nginx", 33, 899);
        assert_eq!(standard_design(&[&master, &stranger]), None);
        let postfix = p(600, "/usr/lib/postfix/sbin/master", 0, 1);
        assert!(standard_design(&[&postfix]).is_some());
        let other_master = p(601, "/usr/local/bin/master", 0, 1);
        assert_eq!(standard_design(&[&other_master]), None);
        // Postfix's smtpd holds the listening socket too: as the mail owner it is the design;
        // as root (master.cf's unpriv column set to n) it serves as root itself.
        let smtpd = p(602, "/usr/lib/postfix/sbin/smtpd", 107, 600);
        assert!(standard_design(&[&postfix, &smtpd]).is_some_and(|w| w.contains("Postfix")));
        let root_smtpd = p(603, "/usr/lib/postfix/sbin/smtpd", 0, 600);
        assert_eq!(standard_design(&[&postfix, &root_smtpd]), None);
        // Dovecot: imap-login as dovenull, or as root.
        let dovecot = p(500, "/usr/sbin/dovecot", 0, 1);
        let login = p(501, "/usr/lib/dovecot/imap-login", 109, 500);
        assert!(standard_design(&[&dovecot, &login]).is_some_and(|w| w.contains("Dovecot")));
        let root_login = p(502, "/usr/lib/dovecot/imap-login", 0, 500);
        assert_eq!(standard_design(&[&dovecot, &root_login]), None);
        // Nothing as root: nothing to explain.
        assert_eq!(standard_design(&[&worker]), None);
        // Apache's parent and its children.
        let apache = p(400, "/usr/sbin/apache2", 0, 1);
        let child = p(401, "/usr/sbin/apache2", 33, 400);
        assert!(standard_design(&[&apache, &child]).is_some_and(|w| w.contains("Apache's")));
        // Any other root process with an unprivileged child holding its socket may serve
        // connections itself: not a design that was established.
        for exe in [
            "/usr/local/bin/mydaemon",
            "/usr/bin/python3.11",
            "/tmp/nginx",
        ] {
            let master = p(300, exe, 0, 1);
            let child = p(301, exe, 65534, 300);
            assert_eq!(standard_design(&[&master, &child]), None, "{exe}");
        }
    }
}
