//! Whether a process ran since the descriptor walk read its table: what the scheduler counts
//! for each of its threads (`/proc/PID/task/TID/schedstat`: time on a CPU, time waiting for
//! one, times scheduled in). A descriptor is installed only by a thread of the process itself
//! (open, socket, accept, receiving one over a unix socket, io_uring's workers are threads of
//! the process too), so if none of its threads was scheduled in between, its table is the one
//! read then, and the second look need not read it again.
//!
//! Read only for processes with many descriptors (where reading every link again costs more
//! than a few small files), never for more than [`MAX_THREADS`] threads. Without
//! `schedstat` (a kernel without CONFIG_SCHED_INFO) nothing is recorded and every table is
//! read again, as before.

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use rustix::fs::{Dir, OFlags};

use super::proc_dir::open_below;

/// Processes with fewer open descriptors than this are simply read again.
pub const MIN_FDS: u64 = 32;
/// Beyond this many threads the process is read again instead.
const MAX_THREADS: usize = 64;
/// A thread that never leaves its CPU is accounted at the scheduler's tick (every 10 ms at
/// the lowest usual rate, HZ=100): a signature younger than two ticks proves nothing.
const SETTLE: Duration = Duration::from_millis(25);

/// One thread's `schedstat` line, as the kernel wrote it.
type Line = ([u8; 64], usize);

/// What the scheduler had counted for every thread of a process, and when it was read.
#[derive(Debug, Clone)]
pub struct Activity {
    at: Instant,
    threads: Vec<(u32, Line)>,
}

impl Activity {
    /// Reads it now for `pid`; `None` when it cannot be read completely.
    pub fn read(proc_fd: &OwnedFd, pid: u32) -> Option<Activity> {
        let at = Instant::now();
        let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        // (Never across a mount: a crafted task directory could say "did not run" forever.)
        let task_fd = open_below(proc_fd, &format!("{pid}/task"), dir_flags).ok()?;
        let mut tids = Vec::new();
        for entry in Dir::read_from(&task_fd).ok()? {
            let entry = entry.ok()?;
            let name = entry.file_name().to_bytes();
            if name.first() == Some(&b'.') {
                continue;
            }
            tids.push(std::str::from_utf8(name).ok()?.parse::<u32>().ok()?);
            if tids.len() > MAX_THREADS {
                return None;
            }
        }
        tids.sort_unstable();
        let mut threads = Vec::with_capacity(tids.len());
        for tid in tids {
            let file = open_below(
                &task_fd,
                &format!("{tid}/schedstat"),
                OFlags::RDONLY | OFlags::CLOEXEC,
            )
            .ok()?;
            let mut line = [0u8; 64];
            let n = rustix::io::read(&file, &mut line[..]).ok()?;
            // Three numbers and a newline, whole: anything else is not understood.
            if n == 0 || n == line.len() || line[n - 1] != b'\n' {
                return None;
            }
            threads.push((tid, (line, n)));
        }
        (!threads.is_empty()).then_some(Activity { at, threads })
    }

    /// Did no thread of `pid` run since this was read (the same threads, each counted the
    /// same), long enough ago for a running thread to have been counted?
    pub fn still(&self, proc_fd: &OwnedFd, pid: u32) -> bool {
        self.at.elapsed() >= SETTLE
            && Activity::read(proc_fd, pid).is_some_and(|now| now.threads == self.threads)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc_fd() -> OwnedFd {
        rustix::fs::openat(
            rustix::fs::CWD,
            "/proc",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .expect("/proc")
    }

    /// A process that sleeps does not run; one that is woken does, and so does this one.
    #[test]
    fn a_sleeping_process_is_still_and_a_woken_one_is_not() {
        if !std::path::Path::new("/proc/self/schedstat").exists() {
            eprintln!("SKIPPED: no schedstat (CONFIG_SCHED_INFO) in this kernel");
            return;
        }
        let proc = proc_fd();
        let mut child = std::process::Command::new("cat")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("cat runs");
        let pid = child.id();
        // A signature younger than SETTLE proves nothing (said only when the look itself
        // came that soon: a busy machine may pause this thread longer).
        let fresh = Activity::read(&proc, pid).expect("schedstat of a child");
        let still = fresh.still(&proc, pid);
        if fresh.at.elapsed() < SETTLE {
            assert!(!still, "too recent to prove anything");
        }
        // Once it sleeps in its read(), it stays still (however long a busy machine takes
        // to get it there: it is looked at again until then, for 30 s at most).
        let deadline = Instant::now() + Duration::from_secs(30);
        let before = loop {
            let before = Activity::read(&proc, pid).expect("schedstat of a child");
            std::thread::sleep(SETTLE + Duration::from_millis(5));
            if before.still(&proc, pid) {
                break before;
            }
            assert!(Instant::now() < deadline, "cat never slept: {before:?}");
        };
        // Woken: it reads a line and writes it (read back here, so it surely ran).
        std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), b"wake\n").expect("write");
        let mut echoed = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.as_mut().expect("stdout")),
            &mut echoed,
        )
        .expect("cat echoes");
        assert_eq!(echoed, "wake\n");
        assert!(!before.still(&proc, pid), "it ran to read the line");
        drop(child.stdin.take());
        let _ = child.wait();
        assert!(!before.still(&proc, pid), "an exited process is not still");
        let me = std::process::id();
        let mine = Activity::read(&proc, me).expect("own schedstat");
        let spin = Instant::now();
        while spin.elapsed() < SETTLE * 2 {
            std::hint::black_box(spin.elapsed());
        }
        assert!(!mine.still(&proc, me), "this process ran all along");
    }

    /// The walk's second look reads again the table of a process that ran since the first
    /// walk (and finds the socket it made meanwhile), and not the table of one that slept.
    #[test]
    fn the_second_walk_reads_only_processes_that_ran() {
        use crate::collect::linux::{walk_fds_since, Since};
        use crate::hash::HashSet;
        use std::io::{BufRead, Write};
        if !std::path::Path::new("/proc/self/schedstat").exists() {
            eprintln!("SKIPPED: no schedstat (CONFIG_SCHED_INFO) in this kernel");
            return;
        }
        // 40 descriptors, a listener, its inode on stdout; each line read makes one more.
        let script = "import os, socket, sys\n\
            keep = [open(os.devnull) for _ in range(40)]\n\
            socks = [socket.socket()]; socks[0].bind(('127.0.0.1', 0)); socks[0].listen(1)\n\
            print(os.fstat(socks[0].fileno()).st_ino, flush=True)\n\
            for line in sys.stdin:\n\
            \x20   s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1); socks.append(s)\n\
            \x20   print(os.fstat(s.fileno()).st_ino, flush=True)\n";
        let Ok(mut child) = std::process::Command::new("python3")
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
        else {
            eprintln!("SKIPPED: no python3");
            return;
        };
        let pid = child.id();
        let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let inode = |out: &mut std::io::BufReader<_>| -> u32 {
            let mut line = String::new();
            out.read_line(&mut line).expect("helper reports");
            line.trim().parse().expect("an inode")
        };
        let first = inode(&mut out);
        std::thread::sleep(Duration::from_millis(100));
        let walked = walk_fds_since(None, Since::Record).expect("walk");
        // The helper holds it; another process may hold a copy for an instant (a whoport
        // running as root on the machine copies sockets it found in no table to learn their
        // network namespace): only the helper is asked about.
        let held_by_helper = |found: &crate::collect::linux::InodeOwners, inode: u32| {
            found.pids.get(&inode).is_some_and(|p| p.contains(&pid))
        };
        assert!(
            held_by_helper(&walked, first),
            "the first walk finds it: {:?}",
            walked.pids.get(&first)
        );
        if !walked.seen.activity.contains_key(&pid) {
            let _ = child.kill();
            let _ = child.wait();
            eprintln!("SKIPPED: no activity recorded (a kernel before 6.2 sizes fd directories 0)");
            return;
        }
        std::thread::sleep(SETTLE * 2);
        let skip = Since::Skip(&walked.seen.activity);
        let again = walk_fds_since(Some(&HashSet::from_iter([first])), skip).expect("walk");
        assert!(
            !held_by_helper(&again, first),
            "a process that slept is not read again: {:?}",
            again.pids
        );
        // Woken: it makes a socket after the first walk; the second walk must read it.
        let stdin = child.stdin.as_mut().expect("stdin");
        stdin.write_all(b"more\n").expect("write");
        stdin.flush().expect("flush");
        let second = inode(&mut out);
        let again = walk_fds_since(Some(&HashSet::from_iter([second])), skip).expect("walk");
        drop(child.stdin.take());
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            held_by_helper(&again, second),
            "it ran: read again: {:?}",
            again.pids.get(&second)
        );
    }
}
