//! Whether two threads share one descriptor table: `kcmp(2)` with `KCMP_FILES`, the only
//! exact answer the kernel gives outside BPF. The `/proc` walk asks it for each thread of a
//! process with more than one, so that it reads a thread's own table (a thread made without
//! `CLONE_FILES`, or after `unshare(CLONE_FILES)`) and skips the tables it already read:
//! without it, finding every holder of a socket would mean reading every descriptor of every
//! thread (a server with 200 threads and 500 descriptors: 100,000 links instead of 500).
//!
//! The one `unsafe` block of whoport: neither rustix nor nix wraps `kcmp`, and the call
//! takes integer arguments only (no pointer is passed, nothing is written), so it cannot
//! touch whoport's memory.
#![allow(unsafe_code)]

/// `KCMP_FILES` (include/uapi/linux/kcmp.h).
const KCMP_FILES: libc::c_int = 2;

/// Do threads `a` and `b` use the same descriptor table? `None` when the kernel does not say
/// (no ptrace access to one of them, one exited, a kernel without `CONFIG_KCMP`): then the
/// caller reads the table to be sure.
pub fn same_files(a: u32, b: u32) -> Option<bool> {
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
        0 => Some(true),
        1..=3 => Some(false),
        _ => None,
    }
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
        assert_eq!(same_files(me, me), Some(true));
        let (tx, rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let live = std::thread::spawn(move || {
            let _ = tx.send(own_tid());
            let _ = done_rx.recv();
        });
        let tid = rx.recv().expect("tid");
        let answer = same_files(me, tid);
        let _ = done_tx.send(());
        let _ = live.join();
        assert_eq!(answer, Some(true));
        assert_eq!(same_files(me, u32::MAX), None, "not a pid");
    }
}
