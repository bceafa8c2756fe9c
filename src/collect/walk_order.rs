//! The order in which a walk that may stop at its deadline reads processes: the smallest
//! descriptor tables first, so that the processes left unread when the time runs out are the
//! largest, and they are named.
//!
//! Since Linux 6.2 the size of a `/proc/PID/fd` directory is its number of descriptors: one
//! `stat` a process, without reading its table. Before, every size is 0 and the walk keeps the
//! order of the PIDs.

use std::os::fd::OwnedFd;

/// How many of the processes left unread are named.
pub const NAMED: usize = 8;

/// `pids` sorted by the size of their descriptor table, the smallest first (then by PID), each
/// with that size; a process whose size cannot be read (gone, refused) is put first: reading
/// it costs nothing, or it is counted as not read.
#[allow(clippy::unnecessary_cast)] // `st_size` is not an i64 on every target
pub fn smallest_first(proc_fd: &OwnedFd, pids: Vec<u32>) -> Vec<(u32, u64)> {
    let mut sized: Vec<(u32, u64)> = pids
        .into_iter()
        .map(|pid| {
            // Never across a mount: a file mounted over `/proc/PID/fd` has the size its
            // maker chose (the walk finds the cover when it reads the table).
            let size = super::proc_dir::stat_below(proc_fd, &format!("{pid}/fd"))
                .map_or(0, |st| st.st_size.max(0) as u64);
            (pid, size)
        })
        .collect();
    sized.sort_by_key(|&(pid, size)| (size, pid));
    sized
}

/// The largest of `unread` (the end of a [`smallest_first`] order the walk did not reach), at
/// most [`NAMED`], the largest first.
pub fn largest(unread: &[(u32, u64)]) -> Vec<(u32, u64)> {
    unread.iter().rev().take(NAMED).copied().collect()
}

/// "the largest of them: pid 700 (4000 descriptors), pid 701 (3999 descriptors)"; `None` when
/// no size is known (before Linux 6.2: the order was the PIDs').
pub fn words(largest: &[(u32, u64)]) -> Option<String> {
    if largest.iter().all(|&(_, size)| size == 0) {
        return None;
    }
    let each: Vec<String> = largest
        .iter()
        .map(|(pid, size)| format!("pid {pid} ({size} descriptors)"))
        .collect();
    Some(format!(
        "the walk reads the smallest descriptor tables first; the largest of those not read: {}",
        each.join(", ")
    ))
}

/// "; not to the end: pid 42 (nginx), whose descriptors were being read when the time ran
/// out" for the processes a walk out of time was reading (`pids`); empty for none.
pub fn being_read(pids: &[u32]) -> String {
    let mut pids = pids.to_vec();
    pids.sort_unstable();
    pids.dedup();
    let whose = match pids.len() {
        0 => return String::new(),
        1 => "whose descriptors were",
        _ => "whose descriptors were each",
    };
    format!(
        "; not to the end: {}, {whose} being read when the time ran out",
        super::socket_netns::processes(&pids, super::netns::named)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_left_unread_are_named_largest_first() {
        let unread = [(9, 10), (3, 4000), (700, 4000), (2, 5000)];
        assert_eq!(
            largest(&unread),
            [(2, 5000), (700, 4000), (3, 4000), (9, 10)]
        );
        assert_eq!(
            words(&largest(&unread[2..])).as_deref(),
            Some(
                "the walk reads the smallest descriptor tables first; the largest of those not \
                 read: pid 2 (5000 descriptors), pid 700 (4000 descriptors)"
            )
        );
        assert_eq!(words(&[(5, 0)]), None);
    }

    #[test]
    fn the_processes_being_read_are_named_once_each() {
        assert_eq!(being_read(&[]), "");
        let me = std::process::id();
        let one = being_read(&[me, me]);
        assert!(
            one.starts_with(&format!("; not to the end: pid {me} (")),
            "{one}"
        );
        assert!(
            one.ends_with("), whose descriptors were being read when the time ran out"),
            "{one}"
        );
        let two = being_read(&[u32::MAX, me]);
        assert!(
            two.starts_with(&format!("; not to the end: pid {me} (")),
            "{two}"
        );
        assert!(
            two.ends_with(&format!(
                " and pid {}, whose descriptors were each being read when the time ran out",
                u32::MAX
            )),
            "{two}"
        );
    }

    #[test]
    fn a_walk_reads_the_smallest_tables_first() {
        let proc_fd = rustix::fs::openat(
            rustix::fs::CWD,
            "/proc",
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY,
            rustix::fs::Mode::empty(),
        )
        .expect("/proc");
        let me = std::process::id();
        let sized = smallest_first(&proc_fd, vec![me, 0]);
        // PID 0 has no directory: first, with no size.
        assert_eq!(sized[0], (0, 0));
        assert_eq!(sized[1].0, me);
        assert!(sized
            .windows(2)
            .all(|w| (w[0].1, w[0].0) <= (w[1].1, w[1].0)));
    }
}
