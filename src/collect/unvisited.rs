//! Processes the in-kernel owner iterator did not visit.
//!
//! The kernel's task iterators visit every task of whoport's PID namespace that has open
//! files, but a kernel can keep a process from them: a microVM's init whose descriptors
//! `/proc` closes even to root is skipped by them too on some. What the iterator did not
//! visit was not read: it is read through `/proc` instead, and what `/proc` does not show
//! either is counted and named as not read, never taken for a table that holds nothing.

use crate::hash::HashSet;

use super::linux::{self, InodeOwners};

/// `PF_KTHREAD` in the flags of `/proc/PID/stat` (include/linux/sched.h).
const PF_KTHREAD: u64 = 0x0020_0000;
/// `PF_IO_WORKER` in the same flags: an io_uring instance's io-wq worker (`iou-wrk`), which a
/// process cannot make of an ordinary thread (its name it can).
const PF_IO_WORKER: u64 = 0x0000_0010;

/// Whether thread `tid` of process `pid` is an io-wq worker, from its `stat` flags (not when
/// they cannot be read).
pub(super) fn is_io_worker(pid: u32, tid: u32) -> bool {
    super::proc_dir::read_path(&format!("/proc/{pid}/task/{tid}/stat"))
        .and_then(|(stat, _)| parse_stat(&stat))
        .is_some_and(|s| s.flags & PF_IO_WORKER != 0)
}

/// What `/proc` shows of the processes the iterator did not visit (`visited`: the PIDs it
/// did, in a read that began at `began`, from [`boot_ticks`]): the sockets they hold (only the
/// `wanted` ones when given), and those whose descriptors `/proc` did not let whoport read.
/// Kernel threads and exited processes hold no descriptors, and processes started after the
/// read began were not there to be visited: they are left out.
pub fn read(
    visited: &HashSet<u32>,
    began: Option<u64>,
    wanted: Option<&HashSet<u32>>,
) -> InodeOwners {
    let Ok(pids) = linux::proc_pids() else {
        return InodeOwners::default();
    };
    let left: Vec<u32> = pids
        .into_iter()
        .filter(|pid| !visited.contains(pid))
        .filter(|&pid| may_hold_files(pid, began) && !without_descriptors(pid))
        .collect();
    if left.is_empty() {
        return InodeOwners::default();
    }
    linux::walk_pids(left, wanted).unwrap_or_default()
}

/// Adds what [`read`] found to the iterator's answer.
pub fn absorb(owners: &mut InodeOwners, more: InodeOwners) {
    for (inode, pids) in more.pids {
        let all = owners.pids.entry(inode).or_default();
        all.extend(pids);
        all.sort_unstable();
        all.dedup();
    }
    owners.starts.extend(more.starts);
    owners.unreadable += more.unreadable;
    owners.unreadable_pids.extend(more.unreadable_pids);
    owners.all_unread.extend(more.all_unread);
    owners.covered.extend(more.covered);
    owners.keep_named();
    owners.cut.extend(more.cut);
    owners.vanished += more.vanished;
    owners.walked += more.walked;
    owners.other_netns += more.other_netns;
    owners.netns_covered.extend(more.netns_covered);
    owners.other_netns_pid = match (owners.other_netns_pid, more.other_netns_pid) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
}

/// The time since boot, in the clock ticks of `/proc/PID/stat`'s start times
/// (`/proc/uptime`, the same boot-time clock).
pub fn boot_ticks() -> Option<u64> {
    let (uptime, _) = super::proc_dir::read_path("/proc/uptime")?;
    let text = std::str::from_utf8(&uptime).ok()?;
    let (whole, hundredths) = text.split_ascii_whitespace().next()?.split_once('.')?;
    let hundredths: u64 = hundredths.get(..2)?.parse().ok()?;
    let centis = whole.parse::<u64>().ok()? * 100 + hundredths;
    Some(centis * rustix::param::clock_ticks_per_second().max(1) / 100)
}

/// A kernel thread, or a zombie with no thread left: no descriptors to read, whoever asks
/// (`/proc` refuses its table to users other than root all the same).
pub(super) fn holds_no_files(pid: u32) -> bool {
    !may_hold_files(pid, None) || without_descriptors(pid)
}

/// Whether `/proc` shows process `pid` as a kernel thread (`PF_KTHREAD`): kernel threads
/// live only in the machine's first PID namespace, so a `/proc` that shows one numbers
/// processes as that namespace does.
pub(super) fn kernel_thread(pid: u32) -> bool {
    super::proc_dir::read_path(&format!("/proc/{pid}/stat"))
        .and_then(|(stat, _)| parse_stat(&stat))
        .is_some_and(|s| s.flags & PF_KTHREAD != 0)
}

/// Whether process `pid` has no descriptor open: the size of its `/proc/PID/fd`, which any
/// user may see, counts them where the kernel says so (Linux 6.2+, where whoport's own is
/// never 0; before, every such size is 0 and says nothing). The task iterator visits no
/// process without descriptors, and `/proc` refuses their tables to other users all the same.
///
/// `/proc/PID/fd` counts the main thread's table only: once that thread has exited
/// (`pthread_exit`) it counts none while the other threads hold the process's table. So a
/// process with other threads has none only when none of them counts one either (each
/// thread's `/proc/PID/task/TID/fd`, which any user may stat too).
fn without_descriptors(pid: u32) -> bool {
    counts_no_descriptor(&format!("/proc/{pid}/fd")) && threads_without_descriptors(pid)
}

/// Whether the `/proc` `fd` directory at `path` counts no descriptor (its size, on a kernel
/// that counts them: see [`without_descriptors`]).
pub(super) fn counts_no_descriptor(path: &str) -> bool {
    static COUNTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *COUNTED.get_or_init(|| fd_count("/proc/self/fd").is_some_and(|n| n > 0))
        && fd_count(path) == Some(0)
}

/// The threads' tables a process is checked for at most: past that many threads it is not
/// said to have no descriptor (it is then named among the processes not read, if its table
/// is refused).
const MAX_THREADS_COUNTED: usize = 4096;

/// The number of descriptors a `/proc` `fd` directory counts (its size); `None` when
/// something is mounted over it (an empty directory or file there counts none, whatever the
/// process holds).
fn fd_count(path: &str) -> Option<u64> {
    super::proc_dir::stat_proc(path)
        .ok()
        .and_then(|st| u64::try_from(st.st_size).ok())
}

/// Whether no thread of `pid` other than the main one counts a descriptor in its table; a
/// thread that exited meanwhile counts none. One `stat` of the process when it has a single
/// thread.
fn threads_without_descriptors(pid: u32) -> bool {
    if linux::thread_count(pid).is_some_and(|n| n <= 1) {
        return true;
    }
    let threads = linux::other_threads(pid);
    threads.len() <= MAX_THREADS_COUNTED
        && threads
            .iter()
            .all(|tid| fd_count(&format!("/proc/{pid}/task/{tid}/fd")).is_none_or(|n| n == 0))
}

/// Whether the process may hold descriptors it held when the read began (`began`): not a
/// kernel thread, not a zombie with no thread left (its files are closed), and not started
/// after. A process whose `stat` cannot be read may.
fn may_hold_files(pid: u32, began: Option<u64>) -> bool {
    super::proc_dir::read_path(&format!("/proc/{pid}/stat"))
        .and_then(|(stat, _)| parse_stat(&stat))
        .is_none_or(
            |Stat {
                 state,
                 threads,
                 flags,
                 start,
             }| {
                flags & PF_KTHREAD == 0
                    && !(matches!(state, 'Z' | 'X') && threads <= 1)
                    && began.is_none_or(|began| start <= began)
            },
        )
}

/// What [`may_hold_files`] reads of `/proc/PID/stat`.
#[derive(Debug, PartialEq, Eq)]
struct Stat {
    state: char,
    threads: u64,
    flags: u64,
    /// Clock ticks after boot.
    start: u64,
}

/// Fields of `/proc/PID/stat`, counted after the last ')' (the name may hold any byte).
fn parse_stat(stat: &[u8]) -> Option<Stat> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    let fields: Vec<&str> = rest.split_ascii_whitespace().take(20).collect();
    Some(Stat {
        state: fields.first()?.chars().next()?,
        flags: fields.get(6)?.parse().ok()?,
        threads: fields.get(17)?.parse().ok()?,
        start: fields.get(19)?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size_counts() -> bool {
        std::fs::metadata("/proc/self/fd").is_ok_and(|m| m.len() > 0)
    }

    #[test]
    fn kernel_threads_and_reaped_zombies_hold_no_files() {
        let kthread = b"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 5 0 0";
        let stat = |state, threads, flags, start| Stat {
            state,
            threads,
            flags,
            start,
        };
        assert_eq!(parse_stat(kthread), Some(stat('S', 1, 2_129_984, 5)));
        assert_ne!(2_129_984 & PF_KTHREAD, 0);
        let odd = b"77 (a) b (c)) Z 1 77 77 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 9 0 0";
        assert_eq!(parse_stat(odd), Some(stat('Z', 1, 4_194_560, 9)));
        assert_eq!(parse_stat(b"5 (cut) S 1 2"), None);
    }

    #[test]
    fn our_own_process_is_read_when_the_iterator_did_not_visit_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let inode = std::fs::read_dir("/proc/self/fd")
            .expect("fd")
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter_map(|l| linux::socket_inode(l.to_string_lossy().as_bytes()))
            .next()
            .expect("a socket");
        let me = std::process::id();
        let wanted = HashSet::from_iter([inode]);
        // Every other process visited: ours alone is read through /proc.
        let others: HashSet<u32> = linux::proc_pids()
            .expect("pids")
            .into_iter()
            .filter(|&p| p != me)
            .collect();
        let found = read(&others, boot_ticks(), Some(&wanted));
        assert_eq!(found.pids.get(&inode), Some(&vec![me]));
        // Visited: nothing is read again.
        let everyone: HashSet<u32> = others.iter().copied().chain([me]).collect();
        assert!(read(&everyone, boot_ticks(), Some(&wanted)).pids.is_empty());
        // A process without descriptors (the iterator visits none such) is not one left
        // unread.
        let mut bare = std::process::Command::new("sleep")
            .arg("30")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("sleep");
        let bare_pid = bare.id();
        if size_counts() {
            // stdin/out/err are /dev/null here: still open. Only the check itself is asserted
            // on a process with descriptors.
            assert!(!without_descriptors(bare_pid));
            assert!(!without_descriptors(me));
        }
        let _ = bare.kill();
        let _ = bare.wait();
        // A process whose main thread exited (its /proc/PID/fd counts nothing) while another
        // thread holds its table has descriptors.
        if size_counts() {
            let script = "import ctypes, threading, time\n\
                          threading.Thread(target=time.sleep, args=(30,)).start()\n\
                          ctypes.CDLL(None).pthread_exit(None)\n";
            let Ok(mut leaderless) = std::process::Command::new("python3")
                .args(["-c", script])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
            else {
                eprintln!("SKIPPED (a main thread that exits): no python3");
                return;
            };
            let pid = leaderless.id();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while fd_count(&format!("/proc/{pid}/fd")) != Some(0) {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the main thread did not exit"
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            assert!(!without_descriptors(pid));
            let _ = leaderless.kill();
            let _ = leaderless.wait();
        }
        // Started after the read began: not there to be visited, not read.
        assert!(read(&others, Some(0), Some(&wanted)).pids.is_empty());
        drop(listener);
    }
}
