//! Listener groups: the sockets of one service (same port, protocol and owning processes),
//! judged together, and how a group's owners and addresses are said in one line.

use std::collections::BTreeMap;

use crate::model::{Hidden, Listener, Process, Snapshot};
use crate::port::Protocol;
use crate::render::sanitize::sanitize;

/// What makes two listeners one group: port, protocol, and the owners (PIDs; for hidden
/// owners, the socket's uid).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    port: u16,
    protocol: Protocol,
    owners: Vec<u32>,
    hidden_uid: Option<u32>,
}

/// Indexes of the snapshot's listeners (listening TCP, bound UDP), one `Vec` per group; each
/// group lists IPv4 addresses before IPv6, and groups come by port, then protocol.
pub fn groups(snap: &Snapshot) -> Vec<Vec<usize>> {
    let mut by_key: BTreeMap<Key, Vec<usize>> = BTreeMap::new();
    for (i, l) in snap.listeners.iter().enumerate() {
        if !l.socket.is_listener() {
            continue;
        }
        let key = Key {
            port: l.socket.port,
            protocol: l.socket.protocol,
            owners: l.owners.clone(),
            hidden_uid: if l.owners.is_empty() {
                l.socket.uid
            } else {
                None
            },
        };
        by_key.entry(key).or_default().push(i);
    }
    by_key
        .into_values()
        .map(|mut members| {
            members.sort_by_key(|&i| {
                let a = snap.listeners[i].socket.address;
                (a.is_ipv6(), a)
            });
            members
        })
        .collect()
}

/// `0.0.0.0:80`, `[::]:80`, `[fe80::1%eth0]:546`: one socket, in the one notation.
pub fn endpoint(l: &Listener) -> String {
    sanitize(&l.endpoint()).into_owned()
}

/// `0.0.0.0:80 and [::]:80`, `a, b and c`; an address held by several sockets of the group
/// (`SO_REUSEPORT`) once, with their count: `127.0.0.1:80 (4 sockets)`.
pub fn endpoints(listeners: &[&Listener]) -> String {
    let mut seen: Vec<(String, usize)> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for l in listeners {
        let e = endpoint(l);
        match index.get(&e) {
            Some(&i) => seen[i].1 += 1,
            None => {
                index.insert(e.clone(), seen.len());
                seen.push((e, 1));
            }
        }
    }
    let items: Vec<String> = seen
        .into_iter()
        .map(|(e, n)| {
            if n == 1 {
                e
            } else {
                format!("{e} ({n} sockets)")
            }
        })
        .collect();
    and_list(&items)
}

/// `a`, `a and b`, `a, b and c`.
pub fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// `a`, `a or b`, `a, b or c`.
pub fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

/// The user it runs as, with what it acts with beyond that user (other threads' uids,
/// effective capabilities) when anything: `nobody (effective capabilities CAP_SYS_ADMIN)`.
fn user_of(p: &Process) -> String {
    let user = match (&p.user, p.uid) {
        (Some(u), _) => sanitize(u).into_owned(),
        (None, Some(uid)) => format!("uid {uid}"),
        (None, None) => "an unknown user".to_string(),
    };
    match p.credentials.words() {
        Some(beyond) => format!("{user} ({beyond})"),
        None => user,
    }
}

/// PIDs with the user they run as, users in order of first appearance:
/// `813, 814 children as www-data` (with `role` "child").
fn pids_by_user(procs: &[&Process], role: Option<(&str, &str)>) -> Vec<String> {
    let mut users: Vec<(String, Vec<u32>)> = Vec::new();
    for p in procs {
        let u = user_of(p);
        match users.iter_mut().find(|(name, _)| *name == u) {
            Some((_, pids)) => pids.push(p.pid),
            None => users.push((u, vec![p.pid])),
        }
    }
    users
        .into_iter()
        .map(|(user, pids)| {
            let list = pids
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            match role {
                Some((one, many)) => {
                    let role = if pids.len() == 1 { one } else { many };
                    format!("{list} {role} as {user}")
                }
                None => format!("{list} as {user}"),
            }
        })
        .collect()
}

/// Who holds sockets whose owner was not seen, in the words of the reason established:
/// `the kernel (no process has it open)` for the kernel's own socket, `an owner not seen (run
/// as root to see it)` for another user's (whoport not root: a process's and the kernel's own
/// cannot be told apart), otherwise `an owner not seen (closed during the scan)`
/// and the like, never a process that may not exist.
pub fn unseen(reason: Option<&Hidden>) -> String {
    match reason {
        Some(Hidden::Kernel) => "the kernel (no process has it open)".to_string(),
        // Not root: neither a process nor the kernel's own socket can be told.
        Some(Hidden::NotRoot { hidepid: None }) => {
            "an owner not seen (run as root to see it)".to_string()
        }
        Some(Hidden::NotRoot { hidepid: Some(how) }) => format!(
            "an owner not seen ({}: run as root to see it)",
            crate::model::hidden_by_proc(how)
        ),
        None => "an owner not seen".to_string(),
        Some(r) => format!("an owner not seen ({})", r.short()),
    }
}

/// Each process once, by name: `nginx (pid 812 parent as root; 813, 814 children as www-data)`,
/// `sshd (pid 700 as root)`, `app (pids 5, 6 as app)`; when none is seen, [`unseen`] with the
/// first reason of `listeners`.
pub fn who_of(owners: &[&Process], listeners: &[&Listener]) -> String {
    if owners.is_empty() {
        return unseen(listeners.iter().find_map(|l| l.hidden_reason.as_deref()));
    }
    who(owners)
}

/// Each process once, by name: `nginx (pid 812 parent as root; 813, 814 children as www-data)`,
/// `sshd (pid 700 as root)`, `app (pids 5, 6 as app)`; `an owner not seen` when none is seen
/// ([`who_of`] says why).
pub fn who(owners: &[&Process]) -> String {
    if owners.is_empty() {
        return unseen(None);
    }
    let mut names: Vec<(String, Vec<&Process>)> = Vec::new();
    for p in owners {
        let name = sanitize(p.display_name()).into_owned();
        match names.iter_mut().find(|(n, _)| *n == name) {
            Some((_, ps)) => ps.push(p),
            None => names.push((name, vec![p])),
        }
    }
    let parts: Vec<String> = names
        .into_iter()
        .map(|(name, procs)| {
            let pids: Vec<u32> = procs.iter().map(|p| p.pid).collect();
            // Parent and children by the parent PID each process's `stat` gives: what that
            // relation is (a master that only manages, or a process that serves too) is
            // not said.
            let child_of_one = |p: &&Process| p.parent_pid.is_some_and(|pp| pids.contains(&pp));
            let (children, rest): (Vec<&Process>, Vec<&Process>) =
                procs.iter().copied().partition(child_of_one);
            // A parent is one with a child among them; one with neither is given no role.
            let (parents, others): (Vec<&Process>, Vec<&Process>) = rest
                .into_iter()
                .partition(|p| children.iter().any(|c| c.parent_pid == Some(p.pid)));
            let (prefix, body) = if children.is_empty() {
                let prefix = if pids.len() == 1 { "pid" } else { "pids" };
                (prefix, pids_by_user(&others, None).join("; "))
            } else {
                let parents = pids_by_user(&parents, Some(("parent", "parents")));
                let children = pids_by_user(&children, Some(("child", "children")));
                let others = pids_by_user(&others, None);
                let all: Vec<String> = parents.into_iter().chain(children).chain(others).collect();
                ("pid", all.join("; "))
            };
            format!("{name} ({prefix} {body})")
        })
        .collect();
    and_list(&parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: u32, name: &str, user: &str, parent: Option<u32>) -> Process {
        Process {
            pid,
            name: name.into(),
            user: Some(user.into()),
            uid: Some(if user == "root" { 0 } else { 33 }),
            parent_pid: parent,
            ..Process::default()
        }
    }

    #[test]
    fn owners_in_one_line() {
        let master = p(812, "nginx", "root", Some(1));
        let w1 = p(813, "nginx", "www-data", Some(812));
        let w2 = p(814, "nginx", "www-data", Some(812));
        assert_eq!(
            who(&[&master, &w1, &w2]),
            "nginx (pid 812 parent as root; 813, 814 children as www-data)"
        );
        assert_eq!(
            who(&[&master, &w1]),
            "nginx (pid 812 parent as root; 813 child as www-data)"
        );
        // A grandchild is a child; one with neither parent nor child among them has no role.
        let grand = p(900, "nginx", "www-data", Some(813));
        let stray = p(950, "nginx", "root", Some(1));
        assert_eq!(
            who(&[&master, &w1, &grand, &stray]),
            "nginx (pid 812 parent as root; 813, 900 children as www-data; 950 as root)"
        );
        let sshd = p(700, "sshd", "root", Some(1));
        assert_eq!(who(&[&sshd]), "sshd (pid 700 as root)");
        let a = p(5, "app", "app", Some(1));
        let b = p(6, "app", "app", Some(1));
        assert_eq!(who(&[&a, &b]), "app (pids 5, 6 as app)");
        assert_eq!(
            who(&[&sshd, &a]),
            "sshd (pid 700 as root) and app (pid 5 as app)"
        );
        assert_eq!(who(&[]), "an owner not seen");
    }

    #[test]
    fn lists_read_as_prose() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(and_list(&s(&["a"])), "a");
        assert_eq!(and_list(&s(&["a", "b"])), "a and b");
        assert_eq!(and_list(&s(&["a", "b", "c"])), "a, b and c");
        assert_eq!(or_list(&s(&["a", "b", "c"])), "a, b or c");
    }
}
