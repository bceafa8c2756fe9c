//! The network namespace of the sockets the `/proc` walk could place in no table (`netns.rs`):
//! held by a process of this namespace, in no dump of it, in no table of a namespace a task
//! lives in or a mount keeps. Most are sockets never bound (a daemon's socket kept for
//! `ioctl`s); but the sockets of a namespace that only its sockets keep alive (no process
//! lives there, no mount holds it) are in no table whoport can read either, listeners
//! included. Only the kernel can tell them apart: the owner iterator reads each socket's own
//! namespace (as it does when it is the owner lookup), and is loaded for that only when such
//! sockets are left and the in-kernel lookup is permitted. Otherwise the walk says how many
//! sockets it could not place, and why, in one note.

use crate::hash::{HashMap, HashMapExt, HashSet};

use super::bpf;
use super::netns::Foreign;

/// At most this many processes are named in the note.
const NAMED: usize = 4;

/// For the walk: of the `left` candidates, those no table placed (`foreign`), less this
/// namespace's TCP sockets bound without listening (a dump of its own, Linux 6.9+), asked of
/// the kernel: inode -> namespace for those of another namespace; `Err` counts them, with
/// their holders (`by_pid`) and why the kernel could not be asked. Nothing when none is left.
pub fn ask(
    left: &HashSet<u32>,
    foreign: &HashMap<u32, Foreign>,
    by_pid: &HashMap<u32, HashSet<u32>>,
    shared: &mut bpf::Shared,
) -> Result<HashMap<u32, u64>, Unplaced> {
    let mut unfound: HashSet<u32> = left
        .iter()
        .filter(|i| !foreign.contains_key(i))
        .copied()
        .collect();
    if !unfound.is_empty() {
        for s in super::diag::bound_inactive(true, true).unwrap_or_default() {
            unfound.remove(&s.inode);
        }
    }
    if unfound.is_empty() {
        return Ok(HashMap::new());
    }
    of(&unfound, shared).map_err(|why| {
        let mut pids: Vec<u32> = by_pid
            .iter()
            .filter(|(_, inodes)| inodes.iter().any(|i| unfound.contains(i)))
            .map(|(&pid, _)| pid)
            .collect();
        pids.sort_unstable();
        Unplaced {
            sockets: unfound.len(),
            pids,
            why,
        }
    })
}

/// inode -> network namespace inode, for the `wanted` sockets whose namespace is not their
/// holder's (from the owner iterator); a socket it does not list is of its holder's namespace.
/// `Err` says why the kernel could not be asked (then nothing is established).
/// `shared`: the BPF objects every in-kernel look of the run shares (loaded here if no look
/// did before).
pub fn of(wanted: &HashSet<u32>, shared: &mut bpf::Shared) -> Result<HashMap<u32, u64>, String> {
    let no_bpf = std::env::var("WHOPORT_NO_BPF").unwrap_or_default();
    if !no_bpf.is_empty() && no_bpf != "0" {
        return Err("WHOPORT_NO_BPF is set".to_string());
    }
    if !super::owners::may_use_bpf() {
        return Err(
            "that needs the in-kernel lookup: CAP_SYS_ADMIN, or CAP_BPF with CAP_PERFMON \
             (run as root)"
                .to_string(),
        );
    }
    let namespaces = shared
        .get()?
        .socket_namespaces()
        .map_err(|e| bpf::explain(&e))?;
    Ok(namespaces
        .into_iter()
        .filter(|(inode, _)| wanted.contains(inode))
        .collect())
}

/// Sockets the walk could place nowhere, without the kernel's answer.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Unplaced {
    /// How many sockets.
    pub sockets: usize,
    /// The processes holding them (sorted).
    pub pids: Vec<u32>,
    /// Why the kernel was not asked.
    pub why: String,
}

/// The one note for them: `named` gives `pid 42 (nginx)`. `every_namespace`: whether every
/// namespace a process lives in or a mount keeps was looked at (not cut short by the limit).
pub fn note(
    unplaced: &Unplaced,
    every_namespace: bool,
    named: impl Fn(u32) -> String,
) -> Option<String> {
    if unplaced.sockets == 0 {
        return None;
    }
    let who = processes(&unplaced.pids, named);
    let (count, verb) = match unplaced.sockets {
        1 => ("a socket".to_string(), "is"),
        n => (format!("{n} sockets"), "are"),
    };
    Some(format!(
        "{count} held by {who} {verb} in no socket table whoport could read, and which network \
         namespace {} was not read ({}): a socket never bound (one kept for ioctls) is \
         listed nowhere, and so is a socket of a network namespace that only its sockets \
         keep alive (no process lives there, no mount keeps it), a listener too{}",
        if unplaced.sockets == 1 {
            "it belongs to"
        } else {
            "they belong to"
        },
        unplaced.why,
        if every_namespace {
            String::new()
        } else {
            format!(
                ", or one of a namespace whose tables were not read (those of {} namespaces \
                 at most are)",
                super::netns::MAX_NAMESPACES
            )
        }
    ))
}

/// `pid 1 (a), pid 2 (b) and 3 more processes`: the first [`NAMED`] of `pids`, `named` gives
/// `pid 42 (nginx)`.
pub fn processes(pids: &[u32], named: impl Fn(u32) -> String) -> String {
    let mut who: Vec<String> = pids.iter().take(NAMED).map(|&p| named(p)).collect();
    if pids.len() > NAMED {
        who.push(format!("{} more processes", pids.len() - NAMED));
    }
    match who.split_last() {
        Some((last, first)) if !first.is_empty() => format!("{} and {last}", first.join(", ")),
        _ => who.join(""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_note_counts_the_sockets_and_names_their_holders() {
        let named = |pid: u32| format!("pid {pid} (p{pid})");
        assert_eq!(note(&Unplaced::default(), true, named), None);
        let one = Unplaced {
            sockets: 1,
            pids: vec![7],
            why: "WHOPORT_NO_BPF is set".to_string(),
        };
        assert_eq!(
            note(&one, true, named).as_deref(),
            Some(
                "a socket held by pid 7 (p7) is in no socket table whoport could read, and \
                 which network namespace it belongs to was not read (WHOPORT_NO_BPF is set): \
                 a socket never bound (one kept for ioctls) is listed nowhere, and so is a \
                 socket of a network namespace that only its sockets keep alive (no process \
                 lives there, no mount keeps it), a listener too"
            )
        );
        let many = Unplaced {
            sockets: 9,
            pids: vec![1, 2, 3, 4, 5, 6],
            why: "x".to_string(),
        };
        let text = note(&many, true, named).expect("a note");
        assert!(
            text.starts_with(
                "9 sockets held by pid 1 (p1), pid 2 (p2), pid 3 (p3), pid 4 (p4) and 2 more \
                 processes are in no socket table"
            ),
            "{text}"
        );
        assert!(text.contains("which network namespace they belong to was not read (x)"));
        let two = Unplaced {
            sockets: 2,
            pids: vec![1, 2],
            why: "x".to_string(),
        };
        assert!(note(&two, true, named)
            .expect("a note")
            .starts_with("2 sockets held by pid 1 (p1) and pid 2 (p2) are"));
        // Namespaces left out by the limit: one of theirs is possible too.
        assert!(note(&two, false, named).expect("a note").ends_with(
            "a listener too, or one of a namespace whose tables were not read (those of 64 \
             namespaces at most are)"
        ));
    }

    /// A socket of this process is in its holder's namespace: never listed, whether or not
    /// the kernel can be asked.
    #[test]
    fn a_socket_of_this_namespace_is_never_placed_elsewhere() {
        use std::os::fd::AsRawFd;
        let unbound = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let link =
            std::fs::read_link(format!("/proc/self/fd/{}", unbound.as_raw_fd())).expect("link");
        let inode =
            super::super::linux::socket_inode(link.to_string_lossy().as_bytes()).expect("a socket");
        match of(&HashSet::from_iter([inode]), &mut bpf::Shared::NotYet) {
            Ok(map) => assert!(map.is_empty(), "{map:?}"),
            Err(why) => assert!(!why.is_empty()),
        }
    }
}
