//! Every process's memory mappings (`/proc/PID/maps`), read for the sockets and io_uring
//! instances they map, each process within its own time. On kernels where reading a
//! process's maps waits for its memory-map lock, a process whose lock is held (a thread
//! stalled in a page fault on a filesystem that does not answer, a writer stuck behind it)
//! would make the read wait for as long as that lasts: the reading is done by a helper
//! thread, and a process whose maps do not come within [`PER_PROCESS`] is given up on (its
//! PID kept, to be named), the helper left waiting there and a new one going on with the
//! processes after it. At most [`MOST_JAMMED`] helpers are left behind per look.

use crate::hash::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use super::linux;
use rustix::io::Errno;

use super::ring_fdinfo::read_proc_file;

/// How long one process's memory mappings may take. A normal read takes well under a
/// millisecond (a few milliseconds for a process with tens of thousands of mappings).
pub const PER_PROCESS: Duration = Duration::from_secs(1);

/// How many processes may be given up on in one look before the rest are not read at all
/// (each leaves a helper thread waiting on it until that process's lock is released).
pub const MOST_JAMMED: usize = 4;

/// What the processes' memory mappings showed.
#[derive(Debug, Default)]
pub struct Read {
    /// The wanted sockets mapped: inode -> PIDs.
    pub sockets: HashMap<u32, Vec<u32>>,
    /// PID -> the io_uring instances it maps (inode, start of one of its mappings).
    pub rings: MappedRings,
    /// The unread: processes whose mappings did not come within [`PER_PROCESS`], and how
    /// many processes were not read at all after [`MOST_JAMMED`] of those.
    pub unread: Unread,
}

/// Processes whose memory mappings whoport could not read in time.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Unread {
    /// Given up on after [`PER_PROCESS`]: PIDs.
    pub jammed: Vec<u32>,
    /// Not read at all, after [`MOST_JAMMED`] processes were given up on.
    pub skipped: usize,
    /// Refused to this user (another user's process, or one that is not dumpable), counted
    /// only when whoport is not root: how many. Not named (their mappings are not a matter
    /// of time): a socket no mapping was found for may be mapped there.
    pub refused: usize,
    /// Not read because something is mounted over their `/proc/PID/maps` (a file there holds
    /// what whoever mounted it wrote, perhaps a socket that process never mapped), over their
    /// whole `/proc/PID`, or, where the main thread exited, over every live thread's: PIDs,
    /// each with what is covered.
    pub covered: Vec<(u32, String)>,
}

impl Unread {
    pub fn is_empty(&self) -> bool {
        self.jammed.is_empty() && self.skipped == 0 && self.covered.is_empty()
    }
}

/// What one process maps: the wanted sockets, and the rings.
type One = (Vec<u32>, Vec<(u64, u64)>);

/// The `wanted` sockets in the memory mappings of every visible process, and the io_uring
/// instances each maps, each process within [`PER_PROCESS`].
pub fn read_all(wanted: &HashSet<u32>) -> Read {
    // Listed without crossing a mount (see `proc_dir::numbered_entries`).
    let pids: Vec<u32> = super::proc_dir::numbered_entries("/proc").unwrap_or_default();
    // A process whose maps showed nothing is asked whether it refused them: only when not
    // root (root is refused only by a security module, and root's reasons do not say
    // whose mappings were read).
    let refused = Arc::new(AtomicUsize::new(0));
    let count = (!super::is_root()).then(|| Arc::clone(&refused));
    let covered = Arc::new(std::sync::Mutex::new(Vec::new()));
    let its_covered = Arc::clone(&covered);
    let mut read = read_within(
        &pids,
        Arc::new(wanted.clone()),
        PER_PROCESS,
        move |pid, wanted: &HashSet<u32>| {
            let (sockets, rings, mounted_over) = mapped_by(pid, wanted);
            let covered = mounted_over.is_some();
            if let Some(path) = mounted_over {
                if let Ok(mut covered) = its_covered.lock() {
                    covered.push((pid, path));
                }
            }
            let one = (sockets, rings);
            if let Some(count) = &count {
                let none = one.0.is_empty() && one.1.is_empty();
                if none && !covered && refused_to_this_user(pid) {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
            one
        },
    );
    read.unread.refused = refused.load(Ordering::Relaxed);
    read.unread.covered = covered.lock().map(|c| c.clone()).unwrap_or_default();
    read.unread.covered.sort_unstable();
    read
}

/// Does `/proc/PID/maps` refuse this user (permission denied at open, as for another
/// user's process without CAP_SYS_PTRACE or CAP_PERFMON, or a process that is not
/// dumpable)? A process that exited is not refused, nor one whose maps (or `/proc`
/// directory) something is mounted over: what refuses there is not the kernel's entry.
fn refused_to_this_user(pid: u32) -> bool {
    matches!(
        super::proc_dir::open_file(&format!("/proc/{pid}/maps")),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied
    )
}

/// Reads `pids` in order with `read`, on helper threads, giving up on a process after
/// `budget` (see the module's documentation).
fn read_within<F>(pids: &[u32], wanted: Arc<HashSet<u32>>, budget: Duration, read: F) -> Read
where
    F: Fn(u32, &HashSet<u32>) -> One + Send + Clone + 'static,
{
    let mut found = Read::default();
    let mut keep = |pid: u32, (sockets, rings): One| {
        for inode in sockets {
            let pids = found.sockets.entry(inode).or_default();
            if !pids.contains(&pid) {
                pids.push(pid);
            }
        }
        if !rings.is_empty() {
            found.rings.insert(pid, rings);
        }
    };
    let mut jammed = Vec::new();
    let mut next = 0;
    while next < pids.len() {
        if jammed.len() >= MOST_JAMMED {
            break;
        }
        let (send, receive) = channel();
        let rest = pids[next..].to_vec();
        let (its_wanted, its_read) = (Arc::clone(&wanted), read.clone());
        let helper = std::thread::Builder::new()
            .name("maps".into())
            .spawn(move || {
                for pid in rest {
                    // The receiver is gone once this helper was given up on.
                    if send.send(its_read(pid, &its_wanted)).is_err() {
                        return;
                    }
                }
            });
        if helper.is_err() {
            // No thread to spare: read here, without a bound (as a read without one would).
            for &pid in &pids[next..] {
                keep(pid, read(pid, &wanted));
            }
            next = pids.len();
            break;
        }
        loop {
            match receive.recv_timeout(budget) {
                Ok(one) => {
                    keep(pids[next], one);
                    next += 1;
                }
                Err(RecvTimeoutError::Timeout) => {
                    jammed.push(pids[next]);
                    next += 1;
                    break;
                }
                // Every process was read (or the helper ended early: nothing more comes).
                Err(RecvTimeoutError::Disconnected) => {
                    next = pids.len();
                    break;
                }
            }
        }
    }
    found.unread = Unread {
        jammed,
        skipped: pids.len() - next,
        refused: 0,
        covered: Vec::new(),
    };
    found
}

/// PID -> the io_uring instances it maps: each one's inode, with the start of one of its
/// mappings.
pub type MappedRings = HashMap<u32, Vec<(u64, u64)>>;

/// The socket `N` of a memory mapping's line in `/proc/PID/maps`: its path is exactly
/// `socket:[N]` and its inode field `N`. A file can be named `socket:[N]` too (and paths
/// may hold spaces), but a file's path starts with `/`: only a socket's reads so.
fn mapped_socket(line: &[u8]) -> Option<u32> {
    // address, perms, offset, device, inode, then the path after padding.
    let mut rest = line;
    let mut inode = None;
    for _ in 0..5 {
        let start = rest.iter().position(|b| *b != b' ')?;
        rest = &rest[start..];
        let end = rest.iter().position(|b| *b == b' ').unwrap_or(rest.len());
        inode = Some(&rest[..end]);
        rest = &rest[end..];
    }
    let path = rest.trim_ascii_start();
    let socket = linux::socket_inode(path)?;
    (inode? == socket.to_string().as_bytes()).then_some(socket)
}

/// The inode of an io_uring instance in a memory mapping's line (its path is exactly
/// `anon_inode:[io_uring]`), and where the mapping starts.
fn mapped_ring(line: &[u8]) -> Option<(u64, u64)> {
    let mut fields = line.split(|&b| b == b' ').filter(|f| !f.is_empty());
    let range = fields.next()?;
    let inode = fields.nth(3)?;
    let path = fields.next()?;
    if path != linux::RING_LINK || fields.next().is_some() {
        return None;
    }
    let start = range.split(|&b| b == b'-').next()?;
    let start = u64::from_str_radix(std::str::from_utf8(start).ok()?, 16).ok()?;
    Some((std::str::from_utf8(inode).ok()?.parse().ok()?, start))
}

/// The `wanted` sockets in one process's memory mappings, and the rings it maps. A process
/// whose main thread exited (or is exiting) shows empty maps there: when it has other
/// threads, a live thread's are read instead (they share them), the first that answers. A
/// kernel thread (empty maps, one thread) costs one more small read. Last, what is mounted
/// over where its maps were looked for, when they were read nowhere (not read through).
pub fn mapped_by(pid: u32, wanted: &HashSet<u32>) -> (Vec<u32>, Vec<(u64, u64)>, Option<String>) {
    let mut sockets = Vec::new();
    let mut rings: Vec<(u64, u64)> = Vec::new();
    let is_covered = |e: &std::io::Error| e.raw_os_error() == Some(Errno::XDEV.raw_os_error());
    let path = format!("/proc/{pid}/maps");
    let read = read_proc_file(&path);
    // What is mounted there: a file over the maps, or a directory over the whole of
    // `/proc/PID` (a way to hide a process), told apart.
    let mut covered = read.as_ref().is_err_and(is_covered).then(|| {
        let dir = format!("/proc/{pid}");
        match super::proc_dir::stat_proc(&dir) {
            Err(Errno::XDEV) => dir,
            _ => path,
        }
    });
    let mut text = read.ok();
    // The main thread exited (its maps are empty): a live thread's, never read across a
    // mount over the thread directory or its maps. Covered only where no thread's was read.
    if text.as_ref().is_some_and(Vec::is_empty) && linux::thread_count(pid).is_some_and(|n| n > 1) {
        let task = format!("/proc/{pid}/task");
        text = match super::proc_dir::numbered_entries(&task) {
            Err(Errno::XDEV) => {
                covered = Some(task);
                None
            }
            Err(_) => None,
            Ok(tids) => tids.into_iter().filter(|&tid| tid != pid).find_map(|tid| {
                let path = format!("/proc/{pid}/task/{tid}/maps");
                match read_proc_file(&path) {
                    Ok(text) => Some(text).filter(|t| !t.is_empty()),
                    Err(e) => {
                        if is_covered(&e) && covered.is_none() {
                            covered = Some(format!("/proc/{pid}/task/{tid} or its maps"));
                        }
                        None
                    }
                }
            }),
        };
        if text.is_some() {
            covered = None;
        }
    }
    if let Some(text) = text {
        for line in text.split(|&b| b == b'\n') {
            if let Some(inode) = mapped_socket(line).filter(|i| wanted.contains(i)) {
                if !sockets.contains(&inode) {
                    sockets.push(inode);
                }
            } else if let Some((ring, start)) = mapped_ring(line) {
                if !rings.iter().any(|(inode, _)| *inode == ring) {
                    rings.push((ring, start));
                }
            }
        }
    }
    (sockets, rings, covered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::RwLock;

    /// A read that answers at once, except for the `stuck` PIDs, which wait until the test
    /// releases `gate` (as a process whose memory-map lock is held).
    fn reader(
        gate: &Arc<RwLock<()>>,
        stuck: &'static [u32],
    ) -> impl Fn(u32, &HashSet<u32>) -> One + Send + Clone + 'static {
        let gate = Arc::clone(gate);
        move |pid, _| {
            if stuck.contains(&pid) {
                drop(gate.read());
            }
            (vec![pid * 10], vec![(u64::from(pid), 0)])
        }
    }

    #[test]
    fn a_process_that_does_not_answer_costs_only_its_own_budget() {
        let gate = Arc::new(RwLock::new(()));
        let closed = gate.write().expect("lock");
        let pids = [1, 2, 3, 4, 5, 6];
        let budget = Duration::from_millis(500);
        let found = read_within(&pids, Arc::default(), budget, reader(&gate, &[3, 5]));
        drop(closed);
        assert_eq!(
            found.unread,
            Unread {
                jammed: vec![3, 5],
                skipped: 0,
                refused: 0,
                covered: Vec::new(),
            }
        );
        let mut mapped: Vec<u32> = found.sockets.keys().copied().collect();
        mapped.sort_unstable();
        assert_eq!(mapped, vec![10, 20, 40, 60]);
        assert_eq!(found.sockets[&40], vec![4]);
        assert_eq!(found.rings.len(), 4);
    }

    #[test]
    fn after_the_most_processes_given_up_on_the_rest_are_counted_not_read() {
        let gate = Arc::new(RwLock::new(()));
        let closed = gate.write().expect("lock");
        let pids: Vec<u32> = (1..=20).collect();
        let budget = Duration::from_millis(200);
        let found = read_within(
            &pids,
            Arc::default(),
            budget,
            reader(&gate, &[2, 4, 6, 8, 10]),
        );
        drop(closed);
        assert_eq!(found.unread.jammed, vec![2, 4, 6, 8]);
        assert_eq!(found.unread.skipped, 12, "9 to 20");
        let mut mapped: Vec<u32> = found.sockets.keys().copied().collect();
        mapped.sort_unstable();
        assert_eq!(mapped, vec![10, 30, 50, 70]);
    }

    #[test]
    fn sockets_are_found_in_maps_lines_and_files_named_like_them_are_not() {
        let line = |l: &str| mapped_socket(l.as_bytes());
        assert_eq!(
            line("7f9c282f7000-7f9c282f8000 r--s 00000000 00:09 22559662                   socket:[22559662]"),
            Some(22559662)
        );
        assert_eq!(line("7f00-7f01 r-xp 00000000 08:01 1 /usr/lib/x.so"), None);
        // A file another user named after root's socket is not that socket.
        assert_eq!(
            line("7f00-7f01 r--s 00000000 08:01 77 /tmp/socket:[22559662]"),
            None
        );
        assert_eq!(
            line("7f00-7f01 r--s 00000000 08:01 77 /tmp/a socket:[22559662]"),
            None
        );
        assert_eq!(
            line("7f00-7f01 r--s 00000000 08:01 77   socket:[22559662]"),
            None
        );
        assert_eq!(
            line("7f00-7f01 r--s 00000000 00:09 22559662 socket:[22559662] (deleted)"),
            None
        );
        assert_eq!(line("socket:[1]"), None);
        assert_eq!(line(""), None);
    }
    #[test]
    fn rings_are_found_in_maps_lines_only_by_their_exact_name() {
        let line = |l: &str| mapped_ring(l.as_bytes());
        assert_eq!(
            line("7f08-7f09 rw-s 00000000 00:10 134728967                  anon_inode:[io_uring]"),
            Some((134728967, 0x7f08))
        );
        assert_eq!(
            line("7f08-7f09 rw-s 00000000 08:01 77 /tmp/anon_inode:[io_uring]"),
            None
        );
        assert_eq!(
            line("7f08-7f09 rw-s 00000000 08:01 77 /tmp/x anon_inode:[io_uring]"),
            None
        );
        assert_eq!(
            line("7f08-7f09 rw-s 00000000 00:10 5 anon_inode:[eventfd]"),
            None
        );
        assert_eq!(line("anon_inode:[io_uring]"), None);
    }
}
