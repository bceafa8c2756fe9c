//! The descriptor tables a process's threads hold of their own (a thread made without
//! `CLONE_FILES`, or after `unshare(CLONE_FILES)`), as the `/proc` walk reads them, and how
//! much of them it reads per process.
//!
//! Any user can give each of a process's threads a copy of a large table: 1,500 threads with
//! 1,000 descriptors each are 1.5 million links to read, and one such process made the walk
//! miss its deadline, which left every socket of the machine without an owner. The walk reads
//! at most [`TABLES`] such tables of one process, and at most [`DESCRIPTORS`] descriptors in
//! them; the threads whose table was not read are counted, and their process is named among
//! the processes whose descriptors were not all read (it may hold the sockets left without an
//! owner). Threads that share a table already read (most threads of most programs share the
//! main thread's) cost nothing against the bound.

use crate::hash::HashSet;
use std::ffi::CStr;
use std::os::fd::OwnedFd;

use rustix::fs::{readlinkat_raw, Dir, OFlags};
use rustix::io::Errno;

use super::linux::{open_for_use, parse_u32, socket_inode, Meter, Ring, RING_LINK};
use super::proc_dir::open_below;
use crate::model::THREAD_TABLES_NOT_READ;

/// Tables of a process's threads read beyond the main thread's.
pub const TABLES: usize = 64;

/// Descriptors listed in those tables, all of them together.
pub const DESCRIPTORS: u64 = 16_384;

/// What one process may still have read of its threads' own tables.
#[derive(Debug)]
pub struct Allowance {
    tables: usize,
    descriptors: u64,
}

impl Allowance {
    pub fn new() -> Allowance {
        Allowance {
            tables: TABLES,
            descriptors: DESCRIPTORS,
        }
    }

    /// Counts one more table to read; `false` when none may be read any more.
    pub fn table(&mut self) -> bool {
        if self.tables == 0 || self.descriptors == 0 {
            return false;
        }
        self.tables -= 1;
        true
    }

    /// Counts one more descriptor to list; `false` when the allowance is spent (the table
    /// being read is not read to its end).
    pub fn descriptor(&mut self) -> bool {
        if self.descriptors == 0 {
            return false;
        }
        self.descriptors -= 1;
        true
    }
}

/// How many processes whose threads' tables were not all read are named one by one.
pub const NAMED: usize = 8;

/// The processes whose threads' own tables were not all read: some of them (PID, how many
/// of its threads have a table that was not read), and how many.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Cut {
    pub named: Vec<(u32, usize)>,
    pub count: usize,
}

impl Cut {
    pub fn push(&mut self, pid: u32, threads: usize) {
        self.count += 1;
        self.named.push((pid, threads));
    }

    /// Adds another part's, keeping the [`NAMED`] lowest PIDs.
    pub fn extend(&mut self, other: Cut) {
        self.count += other.count;
        self.named.extend(other.named);
        self.named.sort_unstable();
        self.named.truncate(NAMED);
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The PIDs named.
    pub fn pids(&self) -> Vec<u32> {
        self.named.iter().map(|&(pid, _)| pid).collect()
    }

    /// "pid 5000: the descriptor tables of 1436 of its threads were not read: whoport reads
    /// at most 64 tables of a process's threads beside its own, 16384 descriptors in all".
    pub fn words(&self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let each: Vec<String> = self
            .named
            .iter()
            .map(|&(pid, threads)| {
                let whose = if threads == 1 {
                    "1".to_string()
                } else {
                    threads.to_string()
                };
                format!("pid {pid}: the descriptor tables of {whose} {THREAD_TABLES_NOT_READ}")
            })
            .collect();
        let more = match self.count.saturating_sub(self.named.len()) {
            0 => String::new(),
            1 => "; and 1 more process".to_string(),
            n => format!("; and {n} more processes"),
        };
        Some(format!(
            "{}{more}: whoport reads at most {TABLES} tables of a process's threads beside its \
             own, {DESCRIPTORS} descriptors in all",
            each.join("; ")
        ))
    }

    /// The note on the processes cut: [`Cut::words`], and where the second look read every
    /// table in the kernel (`read_in_kernel`: for which sockets), that too: their owners were
    /// looked for in those tables, and not only the walk's answer.
    pub fn note(&self, read_in_kernel: Option<&str>) -> Option<String> {
        let words = self.words()?;
        Some(match read_in_kernel {
            Some(which) => format!("{words}; the kernel read them for {which}"),
            None => words,
        })
    }

    /// The processes whose threads' tables were not all read, as one group of the processes
    /// not read: "the descriptor tables of 36 of its threads were not read (whoport reads …)",
    /// or for more than one, how many of each one's.
    pub fn cause(&self) -> Option<crate::model::UnreadCause> {
        let bound = format!(
            "whoport reads at most {TABLES} tables of a process's threads beside its own, \
             {DESCRIPTORS} descriptors in all"
        );
        let why = match self.named.as_slice() {
            [] => return None,
            [(_, threads)] if self.count == 1 => {
                format!("the descriptor tables of {threads} {THREAD_TABLES_NOT_READ} ({bound})")
            }
            named => {
                let each: Vec<String> = named
                    .iter()
                    .map(|(pid, threads)| format!("pid {pid}: {threads}"))
                    .collect();
                format!(
                    "in each, the descriptor tables of some {THREAD_TABLES_NOT_READ} ({}; \
                     {bound})",
                    each.join(", ")
                )
            }
        };
        Some(crate::model::UnreadCause::new(self.pids(), self.count, why))
    }
}

/// How many threads `pid` has, from one `stat` of `/proc/PID/task` (the kernel counts them
/// into its link count, after `.` and `..`); never across a mount: a directory mounted over it
/// gives `u64::MAX` (its own count says nothing), so that its tables are looked for and the
/// cover found.
#[allow(clippy::unnecessary_cast)] // `st_nlink` is not a u64 on every target
fn threads_of(proc_fd: &OwnedFd, pid: u32) -> u64 {
    match super::proc_dir::stat_below(proc_fd, &format!("{pid}/task")) {
        Ok(st) => (st.st_nlink as u64).saturating_sub(2),
        Err(Errno::XDEV) => u64::MAX,
        Err(_) => 0,
    }
}

/// Reads the descriptor tables of `pid`'s threads other than the main one that the main
/// thread does not share, nor another thread already read (`kcmp`; when the kernel cannot
/// say, the table is read): the sockets found (only the `wanted` ones when given) as
/// (inode, pid), and the io_uring instances in them. A process with one thread costs one
/// `stat`. What the in-kernel iterator visits: every task whose table is not its leader's.
pub(super) fn thread_tables(
    proc_fd: &OwnedFd,
    pid: u32,
    wanted: Option<&HashSet<u32>>,
    (found, rings): (&mut Vec<(u32, u32)>, &mut Vec<Ring>),
    link: &mut [u8; 64],
    meter: &mut Meter,
) -> Tables {
    let mut tables = Tables::default();
    if threads_of(proc_fd, pid) < 2 {
        return tables;
    }
    // Never across a mount: a directory mounted over `/proc/PID/task` or a thread's fd
    // directory lists what whoever mounted it wrote (sockets to frame the process with).
    let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let task_fd = match open_below(proc_fd, &format!("{pid}/task"), dir_flags) {
        Ok(task_fd) => task_fd,
        Err(e) => {
            tables.covered = e == Errno::XDEV;
            return tables;
        }
    };
    let Ok(tasks) = Dir::read_from(&task_fd) else {
        return tables;
    };
    let tids: Vec<u32> = tasks
        .filter_map(Result::ok)
        .filter_map(|e| parse_u32(e.file_name().to_bytes()))
        .filter(|&tid| tid != pid)
        .collect();
    // The tables read so far, by a thread that uses each (the main thread's, unless it has
    // exited: then its table is gone and no thread shares it).
    let mut read = super::kcmp::ReadTables::new(pid);
    let mut allowance = Allowance::new();
    for (i, &tid) in tids.iter().enumerate() {
        if !read.insert(tid) {
            continue;
        }
        if !allowance.table() {
            tables.unread = 1 + unread_tables(&mut read, &tids[i + 1..]);
            return tables;
        }
        let fd_dir = match open_below(&task_fd, &format!("{tid}/fd"), dir_flags) {
            Ok(fd_dir) => fd_dir,
            Err(Errno::XDEV) => {
                tables.covered = true;
                continue;
            }
            // Refused: not read, unless it counts no descriptor (nothing to read).
            Err(Errno::ACCESS | Errno::PERM) => {
                tables.refused |=
                    !super::unvisited::counts_no_descriptor(&format!("/proc/{pid}/task/{tid}/fd"));
                continue;
            }
            Err(_) => continue,
        };
        let Ok(dir) = Dir::read_from(&fd_dir) else {
            continue;
        };
        tables.read += 1;
        for entry in dir.filter_map(Result::ok) {
            if !meter.tick() {
                return tables;
            }
            if !allowance.descriptor() {
                tables.read -= 1;
                tables.unread = 1 + unread_tables(&mut read, &tids[i + 1..]);
                return tables;
            }
            let name: &CStr = entry.file_name();
            let n = match readlinkat_raw(&fd_dir, name, &mut link[..]) {
                Ok(n) => n,
                // One link refused, every link of this table is: not read.
                Err(Errno::ACCESS | Errno::PERM) => {
                    tables.read -= 1;
                    tables.refused = true;
                    break;
                }
                Err(_) => continue,
            };
            if let Some(inode) = socket_inode(&link[..n]) {
                if wanted.is_none_or(|w| w.contains(&inode)) && open_for_use(&fd_dir, name) {
                    found.push((inode, pid));
                }
            } else if &link[..n] == RING_LINK {
                if let Some(fd) = parse_u32(name.to_bytes()) {
                    rings.push(Ring { pid, tid, fd });
                }
            }
        }
    }
    tables
}

/// How many of `tids` have a table that is not one of those `read` (the threads whose table
/// was not read, once a process's allowance is spent).
fn unread_tables(read: &mut super::kcmp::ReadTables, tids: &[u32]) -> usize {
    tids.iter().filter(|&&tid| !read.has(tid)).count()
}

/// What [`thread_tables`] read of a process's threads' own tables.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Tables {
    /// Tables read.
    pub read: usize,
    /// Threads whose own table was not read: past the process's allowance
    /// ([`TABLES`], [`DESCRIPTORS`]).
    pub unread: usize,
    /// Some thread's table that counts descriptors was refused: the process was not read
    /// whole.
    pub refused: bool,
    /// A directory is mounted over `/proc/PID/task` or a thread's fd directory: not read
    /// through, the process was not read whole.
    pub covered: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_allowance_is_spent_by_tables_or_descriptors() {
        let mut a = Allowance::new();
        assert!((0..TABLES).all(|_| a.table()));
        assert!(!a.table());
        let mut a = Allowance::new();
        assert!(a.table());
        assert!((0..DESCRIPTORS).all(|_| a.descriptor()));
        assert!(!a.descriptor());
        assert!(!a.table(), "no descriptor left: no table either");
    }

    #[test]
    fn the_processes_cut_are_named_with_their_threads() {
        let mut cut = Cut::default();
        assert_eq!(cut.words(), None);
        assert_eq!(cut.cause(), None);
        cut.push(5000, 1436);
        let one = cut.cause().expect("a cause");
        assert_eq!((one.pids.as_slice(), one.count), ([5000].as_slice(), 1));
        assert!(
            one.why
                .starts_with("the descriptor tables of 1436 of its threads were not read (whoport"),
            "{}",
            one.why
        );
        assert_eq!(
            cut.words().as_deref(),
            Some(
                "pid 5000: the descriptor tables of 1436 of its threads were not read: \
                 whoport reads at most 64 tables of a process's threads beside its own, 16384 \
                 descriptors in all"
            )
        );
        let mut more = Cut::default();
        for pid in 1..=NAMED as u32 {
            more.push(pid, 1);
        }
        cut.extend(more);
        assert_eq!(cut.count, NAMED + 1);
        assert_eq!(cut.named.len(), NAMED);
        let words = cut.words().expect("words");
        assert!(words.contains("pid 1: the descriptor tables of 1 of its threads"));
        assert!(words.contains("; and 1 more process: "), "{words}");
        assert!(!words.contains("pid 5000"), "{words}");
    }
}
