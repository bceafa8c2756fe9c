//! Whether two threads share one descriptor table: `kcmp(2)` with `KCMP_FILES`, the only
//! exact answer the kernel gives outside BPF. The `/proc` walk asks it for each thread of a
//! process with more than one, so that it reads a thread's own table (a thread made without
//! `CLONE_FILES`, or after `unshare(CLONE_FILES)`) and skips the tables it already read:
//! without it, finding every holder of a socket would mean reading every descriptor of every
//! thread (a server with 200 threads and 500 descriptors: 100,000 links instead of 500).
//!
//! `kcmp` also orders the tables (a fixed order until reboot), so the tables of a process read
//! so far are kept sorted and a thread's table is found among them in a few calls.
//!
//! One of whoport's few `unsafe` blocks (the others: src/allocator.rs,
//! src/collect/btf_file.rs, src/collect/bpf/refusal.rs): neither rustix nor nix wraps `kcmp`, and the call takes integer arguments only (no pointer is passed, nothing is written), so it cannot
//! touch whoport's memory.
#![allow(unsafe_code)]

/// `KCMP_FILES` (include/uapi/linux/kcmp.h).
const KCMP_FILES: libc::c_int = 2;

/// How thread `a`'s descriptor table compares with thread `b`'s, in the order the kernel
/// gives (a fixed order of the tables' obfuscated addresses, the same for every call until
/// reboot): what lets the walk keep the tables it read sorted and find one in a few calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Same,
    Less,
    Greater,
    /// Different tables, with no order given.
    Differ,
}

/// How `a`'s descriptor table compares with `b`'s; `None` when the kernel does not say (no
/// ptrace access to one of them, one exited, a kernel without `CONFIG_KCMP`): then the caller
/// reads the table to be sure.
pub fn compare_files(a: u32, b: u32) -> Option<Order> {
    let (Ok(a), Ok(b)) = (libc::pid_t::try_from(a), libc::pid_t::try_from(b)) else {
        return None;
    };
    // SAFETY: kcmp(pid1, pid2, type, idx1, idx2) with integer arguments only: it reads no
    // memory of this process and writes none.
    let answer = unsafe {
        libc::syscall(
            libc::SYS_kcmp,
            a,
            b,
            KCMP_FILES,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    };
    match answer {
        0 => Some(Order::Same),
        1 => Some(Order::Less),
        2 => Some(Order::Greater),
        3 => Some(Order::Differ),
        _ => None,
    }
}

/// The descriptor tables of one process read so far, each by a thread that uses it, kept in
/// the kernel's order of tables (`kcmp`), so that whether a thread's table was read costs a
/// few `kcmp` calls however many tables the process made: a process whose threads unshare
/// their tables cannot make the walk read one shared table once per thread.
pub struct ReadTables {
    sorted: Vec<u32>,
    /// Tables the kernel gave no order for (never on Linux today): compared one by one, at
    /// most [`ReadTables::UNORDERED`] of them.
    unordered: Vec<u32>,
}

impl ReadTables {
    const UNORDERED: usize = 16;

    pub fn new(first: u32) -> Self {
        ReadTables {
            sorted: vec![first],
            unordered: Vec::new(),
        }
    }

    /// Adds `tid`'s table unless a table already read is the same one; `false` when it is.
    /// A table the kernel cannot compare (no access to `tid`) is added, to be read.
    pub fn insert(&mut self, tid: u32) -> bool {
        match self.find(tid) {
            Place::Same => false,
            Place::Unknown => true,
            Place::Unordered => {
                self.unordered.push(tid);
                true
            }
            Place::At(at) => {
                self.sorted.insert(at, tid);
                true
            }
        }
    }

    /// Whether `tid`'s table is one of those kept, without keeping it when it is not.
    pub fn has(&mut self, tid: u32) -> bool {
        matches!(self.find(tid), Place::Same)
    }

    /// Where `tid`'s table stands among the tables kept.
    fn find(&mut self, tid: u32) -> Place {
        if compare_files(tid, tid).is_none() {
            return Place::Unknown;
        }
        if self
            .unordered
            .iter()
            .take(Self::UNORDERED)
            .any(|&r| compare_files(tid, r) == Some(Order::Same))
        {
            return Place::Same;
        }
        let (mut lo, mut hi) = (0, self.sorted.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match compare_files(tid, self.sorted[mid]) {
                Some(Order::Same) => return Place::Same,
                Some(Order::Less) => hi = mid,
                Some(Order::Greater) => lo = mid + 1,
                Some(Order::Differ) => return Place::Unordered,
                // The thread that stood for this table is gone (its table with it, unless
                // another thread shares it, which is then read again: never missed).
                None => {
                    self.sorted.remove(mid);
                    hi = hi.saturating_sub(1).min(self.sorted.len());
                    lo = lo.min(hi);
                }
            }
        }
        Place::At(lo)
    }
}

/// Where a thread's table stands among the tables of [`ReadTables`].
enum Place {
    /// One kept is the same table.
    Same,
    /// The kernel does not say (no access to the thread, or it exited).
    Unknown,
    /// The kernel gives no order for it.
    Unordered,
    /// Not kept; its place in the order.
    At(usize),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The calling thread's id, from `/proc/thread-self` (`PID/task/TID`).
    fn own_tid() -> u32 {
        let link = std::fs::read_link("/proc/thread-self").expect("/proc/thread-self");
        let text = link.to_string_lossy().into_owned();
        text.rsplit('/')
            .next()
            .and_then(|t| t.parse().ok())
            .expect("a tid")
    }

    #[test]
    fn threads_of_one_process_share_their_table() {
        let me = std::process::id();
        assert_eq!(compare_files(me, me), Some(Order::Same));
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let live = std::thread::spawn(move || {
            let _ = tx.send(own_tid());
            let _ = done_rx.recv();
        });
        let tid = rx.recv().expect("tid");
        let answer = compare_files(me, tid);
        let _ = done_tx.send(());
        let _ = live.join();
        assert_eq!(answer, Some(Order::Same));
        assert_eq!(compare_files(me, u32::MAX), None, "not a pid");
    }

    /// Threads of this process: `own` of them with a descriptor table of their own, then
    /// `sharing` that share the main thread's; their ids, and a sender that ends them all.
    fn threads(
        own: usize,
        sharing: usize,
    ) -> (
        Vec<u32>,
        Vec<u32>,
        Vec<std::thread::JoinHandle<()>>,
        std::sync::mpsc::Sender<()>,
    ) {
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let (end_tx, end_rx) = std::sync::mpsc::channel::<()>();
        let end_rx = std::sync::Arc::new(std::sync::Mutex::new(end_rx));
        let mut handles = Vec::new();
        for i in 0..own + sharing {
            let (tid_tx, end_rx) = (tid_tx.clone(), std::sync::Arc::clone(&end_rx));
            handles.push(std::thread::spawn(move || {
                let unshared =
                    i >= own || nix::sched::unshare(nix::sched::CloneFlags::CLONE_FILES).is_ok();
                let _ = tid_tx.send((i < own, unshared, own_tid()));
                // Each thread waits for the end (one message ends one thread).
                let _ = end_rx.lock().map(|rx| rx.recv());
            }));
        }
        let (mut mine, mut shared) = (Vec::new(), Vec::new());
        for _ in 0..own + sharing {
            let (is_own, ok, tid) = tid_rx.recv().expect("tid");
            assert!(ok, "unshare(CLONE_FILES)");
            if is_own {
                mine.push(tid)
            } else {
                shared.push(tid)
            }
        }
        (mine, shared, handles, end_tx)
    }

    #[test]
    fn a_table_already_read_is_found_however_many_tables_the_process_made() {
        let me = std::process::id();
        let (mine, shared, handles, end) = threads(40, 60);
        let mut read = ReadTables::new(me);
        let known_before: Vec<bool> = mine.iter().map(|&t| read.has(t)).collect();
        let new_own: Vec<bool> = mine.iter().map(|&t| read.insert(t)).collect();
        let known_after: Vec<bool> = mine.iter().map(|&t| read.has(t)).collect();
        let new_shared: Vec<bool> = shared.iter().map(|&t| read.insert(t)).collect();
        let own_again: Vec<bool> = mine.iter().map(|&t| read.insert(t)).collect();
        for _ in &handles {
            let _ = end.send(());
        }
        for h in handles {
            let _ = h.join();
        }
        assert!(
            new_own.iter().all(|&n| n),
            "each own table is new: {new_own:?}"
        );
        assert!(
            new_shared.iter().all(|&n| !n),
            "the main table was read: {new_shared:?}"
        );
        assert!(
            own_again.iter().all(|&n| !n),
            "each own table was read: {own_again:?}"
        );
        assert!(
            known_before.iter().all(|&k| !k) && known_after.iter().all(|&k| k),
            "has() finds the tables kept, and keeps none: {known_before:?} {known_after:?}"
        );
        assert_eq!(read.sorted.len(), 41);
        assert!(read.unordered.is_empty());
    }
}
