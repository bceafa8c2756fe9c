//! Processes that start and exit while whoport reads `/proc`. A socket handed down a chain of
//! them (each forks, then exits: a daemon detaching, or a process dodging on purpose) is
//! always held by a process that started after `/proc` was listed, so no walk of a listing
//! reads it. For the sockets still ownerless after the walk's second look, `/proc` is listed
//! again and the processes that started since the previous listing are read, in short rounds,
//! while some of them keep exiting before they could be read.

use crate::hash::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::linux;

/// At most this many listings of `/proc`; processes that exit unread are offered as a
/// possibility only when they kept exiting in every one of them: a chain handing a socket on
/// goes on, while a machine's ordinary short-lived processes seldom exit between a listing and
/// the read that follows it (a few microseconds), round after round.
const ROUNDS: usize = 16;
/// Nor for longer than this (then nothing is offered).
const BUDGET: Duration = Duration::from_secs(1);

/// What the catch-up found.
#[derive(Debug, Default)]
pub struct CatchUp {
    /// inode -> PIDs of the processes that started during the scan and hold it.
    pub found: HashMap<u32, Vec<u32>>,
    /// How many processes started during the scan and exited before the catch-up could read
    /// them, or while it did: counted only when every one of its [`ROUNDS`] saw one (a round
    /// in which all the new processes were read alive, none holding the sockets, leaves no
    /// chain of such processes holding them). 0 otherwise.
    pub churned: usize,
}

/// Reads the processes that started since `listed` was listed, for the `wanted` sockets, in
/// rounds: each lists `/proc` and reads the PIDs the previous listing did not have. It stops
/// when every socket is found, when a round sees no new process exit, or at its bound
/// ([`ROUNDS`], [`BUDGET`]).
pub fn catch_up(wanted: &HashSet<u32>, listed: &[u32]) -> CatchUp {
    let began = Instant::now();
    let mut left = wanted.clone();
    let mut before: HashSet<u32> = listed.iter().copied().collect();
    let mut caught = CatchUp::default();
    let mut exited_last = false;
    let mut rounds = 0;
    while rounds < ROUNDS {
        if left.is_empty() || began.elapsed() > BUDGET {
            break;
        }
        let Ok(now) = linux::proc_pids() else { break };
        let new: Vec<u32> = now
            .iter()
            .copied()
            .filter(|pid| !before.contains(pid))
            .collect();
        before = now.into_iter().collect();
        let Ok(read) = linux::walk_pids(new.clone(), Some(&left)) else {
            break;
        };
        rounds += 1;
        let holders: HashSet<u32> = read.pids.values().flatten().copied().collect();
        for (inode, pids) in read.pids {
            if left.remove(&inode) {
                caught.found.insert(inode, pids);
            }
        }
        let exited = new
            .iter()
            .filter(|pid| !holders.contains(pid) && exited(**pid))
            .count();
        caught.churned += exited;
        exited_last = exited > 0;
        if !exited_last {
            break;
        }
    }
    if !exited_last || rounds < ROUNDS {
        caught.churned = 0;
    }
    caught
}

/// Whether process `pid` has exited: gone from `/proc`, or a zombie (its files closed) with
/// no thread left (a main thread that exited alone shows as a zombie while the others run).
/// A `stat` this user may not open (`/proc` mounted with `hidepid=1`) says nothing: not
/// counted.
fn exited(pid: u32) -> bool {
    // Never across a mount: a file mounted over it (EXDEV) says nothing either.
    let file = match super::proc_dir::open_file(&format!("/proc/{pid}/stat")) {
        Ok(file) => file,
        Err(e) => {
            return e.kind() == std::io::ErrorKind::NotFound
                || e.raw_os_error() == Some(rustix::io::Errno::SRCH.raw_os_error());
        }
    };
    let mut stat = Vec::new();
    // Opened, then unreadable: the process went away in between.
    super::proc_dir::read_fd_at_most(&file, &mut stat, 4096)
        .is_none_or(|_| zombie_without_threads(&stat))
}

/// `/proc/PID/stat` of a zombie (`Z`) or a dead task (`X`) that counts one thread (itself).
fn zombie_without_threads(stat: &[u8]) -> bool {
    let Some(close) = stat.iter().rposition(|&b| b == b')') else {
        return false;
    };
    let mut fields = stat[close + 1..]
        .split(u8::is_ascii_whitespace)
        .filter(|f| !f.is_empty());
    let dead = matches!(fields.next(), Some(b"Z" | b"X"));
    // The thread count is the 17th field after the state.
    dead && fields.nth(16).is_some_and(|n| n == b"1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zombies_are_told_by_their_state_and_threads() {
        let stat = |state: &str, threads: u32| {
            format!("9 (a) b) {state} 1 9 9 0 -1 4227084 121 0 0 0 0 0 0 0 20 0 {threads} 0 2017360 0 0")
        };
        assert!(zombie_without_threads(stat("Z", 1).as_bytes()));
        assert!(zombie_without_threads(stat("X", 1).as_bytes()));
        // Its main thread exited, another runs.
        assert!(!zombie_without_threads(stat("Z", 2).as_bytes()));
        assert!(!zombie_without_threads(stat("S", 1).as_bytes()));
        assert!(!zombie_without_threads(b"garbage"));
        assert!(!exited(std::process::id()));
    }

    #[test]
    fn a_zombie_and_a_reaped_process_have_exited() {
        let mut child = std::process::Command::new("true").spawn().expect("true");
        let pid = child.id();
        // Not reaped yet: a zombie once it has exited.
        let until = Instant::now() + Duration::from_secs(20);
        while !exited(pid) {
            assert!(Instant::now() < until, "pid {pid} never exited");
            std::thread::sleep(Duration::from_millis(5));
        }
        let stat = std::fs::read(format!("/proc/{pid}/stat")).expect("a zombie's stat");
        assert!(zombie_without_threads(&stat));
        child.wait().expect("reaped");
        assert!(exited(pid));
    }

    #[test]
    fn a_process_started_after_the_listing_is_read() {
        let listed = linux::proc_pids().expect("listing");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
        let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).expect("link");
        let inode = linux::socket_inode(link.to_string_lossy().as_bytes()).expect("socket");
        // Listed, this process is not read again.
        let caught = catch_up(&HashSet::from_iter([inode]), &listed);
        assert!(caught.found.is_empty(), "{caught:?}");
        // Started after the listing (as far as the catch-up knows), it is read.
        let listed: Vec<u32> = listed
            .into_iter()
            .filter(|&p| p != std::process::id())
            .collect();
        let caught = catch_up(&HashSet::from_iter([inode]), &listed);
        assert_eq!(
            caught.found.get(&inode),
            Some(&vec![std::process::id()]),
            "{caught:?}"
        );
        drop(listener);
    }
}
