//! What a process acts with beyond the effective uid of its main thread, from the `status`
//! files of its threads (see `model::Credentials`): credentials are per thread, and
//! capabilities count beside the uid.

use crate::model::Credentials;

/// At most this many other threads' `status` files are read for one process.
pub const MAX_THREADS: usize = 1024;

/// The credentials of process `pid` beyond `uid`, the effective uid in `main`, its main
/// thread's `status` (already read). Its other threads are read only when `main` says it has
/// any.
pub fn of(pid: u32, main: &[u8], uid: Option<u32>, same_user_ns: Option<bool>) -> Credentials {
    let main = Main {
        keeps_root: keeps_root(main),
        capabilities: field(main, b"CapEff:", 16),
        threads: field(main, b"Threads:", 10),
    };
    of_main(pid, &main, uid, same_user_ns)
}

/// What [`of`] takes of the main thread's `status`, which the kernel may also have given
/// (`task_facts`).
pub struct Main {
    /// See [`keeps_root`].
    pub keeps_root: bool,
    /// `CapEff:`, and `Threads:`.
    pub capabilities: Option<u64>,
    pub threads: Option<u64>,
}

impl Main {
    /// The main thread's facts from the kernel's real, effective, saved and filesystem uids,
    /// effective capabilities and number of threads.
    pub fn of_kernel(uids: [u32; 4], capabilities: u64, threads: u32) -> Main {
        Main {
            keeps_root: root_kept(uids),
            capabilities: Some(capabilities),
            threads: Some(u64::from(threads)),
        }
    }
}

/// [`of`], from the main thread's facts.
pub fn of_main(pid: u32, main: &Main, uid: Option<u32>, same_user_ns: Option<bool>) -> Credentials {
    let mut c = Credentials {
        same_user_ns,
        ..Credentials::default()
    };
    c.root_kept |= main.keeps_root;
    if uid != Some(0) {
        c.capabilities |= main.capabilities.unwrap_or(0);
    }
    if main.threads.unwrap_or(1) < 2 {
        return c;
    }
    let task = format!("/proc/{pid}/task");
    let tids = match super::proc_dir::numbered_entries(&task) {
        Ok(tids) => tids.into_iter().filter(|&t| t != pid).collect(),
        Err(rustix::io::Errno::XDEV) => {
            c.covered = Some(task);
            return c;
        }
        Err(_) => Vec::new(),
    };
    if tids.len() > MAX_THREADS {
        c.threads_cut = Some(MAX_THREADS);
    }
    for tid in tids.into_iter().take(MAX_THREADS) {
        let path = format!("/proc/{pid}/task/{tid}/status");
        let status = match super::proc_dir::open_file(&path) {
            Ok(file) => {
                let mut status = Vec::new();
                super::proc_dir::read_fd_at_most(&file, &mut status, super::proc_dir::MAX_FILE);
                status
            }
            // Something mounted over it, or over the thread's whole directory (named, not
            // the file in it): that thread's credentials are not known.
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::XDEV.raw_os_error()) => {
                let thread = format!("/proc/{pid}/task/{tid}");
                let whole = matches!(
                    super::proc_dir::stat_proc(&thread),
                    Err(rustix::io::Errno::XDEV)
                );
                c.covered.get_or_insert(if whole { thread } else { path });
                continue;
            }
            // (A thread that exited since is left out.)
            Err(_) => continue,
        };
        let Some(euid) = super::linux::parse_status_uid(&status) else {
            continue;
        };
        c.root_kept |= keeps_root(&status);
        if Some(euid) != uid && !c.thread_uids.contains(&euid) {
            c.thread_uids.push(euid);
        }
        if euid != 0 {
            c.capabilities |= field(&status, b"CapEff:", 16).unwrap_or(0);
        }
    }
    c.thread_uids.sort_unstable();
    c
}

/// Whether a `status` file's task acts as another uid than 0 while its real, saved or
/// filesystem uid is 0: one `seteuid(0)`, which needs no privilege then, makes it root again,
/// and a filesystem uid 0 reads and writes files as root already.
fn keeps_root(status: &[u8]) -> bool {
    let Some(line) = status
        .split(|&b| b == b'\n')
        .find(|l| l.starts_with(b"Uid:"))
    else {
        return false;
    };
    let ids: Vec<u32> = std::str::from_utf8(&line[4..])
        .unwrap_or_default()
        .split_ascii_whitespace()
        .map_while(|id| id.parse().ok())
        .collect();
    matches!(ids.as_slice(), &[real, effective, saved, fs, ..] if root_kept([real, effective, saved, fs]))
}

/// Whether a task with these real, effective, saved and filesystem uids acts as another uid
/// than 0 while one of the others is 0 (see [`keeps_root`]).
fn root_kept([real, effective, saved, fs]: [u32; 4]) -> bool {
    effective != 0 && (real == 0 || saved == 0 || fs == 0)
}

/// The number after `name` in a `status` file, in this radix.
fn field(status: &[u8], name: &[u8], radix: u32) -> Option<u64> {
    let line = status
        .split(|&b| b == b'\n')
        .find(|l| l.starts_with(name))?;
    let text = std::str::from_utf8(&line[name.len()..]).ok()?.trim();
    u64::from_str_radix(text, radix).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields() {
        let status = b"Name:\tx\nThreads:\t3\nCapEff:\t00000000002814ef\n";
        assert_eq!(field(status, b"CapEff:", 16), Some(0x2814ef));
        assert_eq!(field(status, b"Threads:", 10), Some(3));
        assert_eq!(field(status, b"CapBnd:", 16), None);
        // A process of one thread: its own capabilities only, nothing read beyond.
        let one = b"Uid:\t65534\t65534\t65534\t65534\nThreads:\t1\nCapEff:\t0000000000000400\n";
        let c = of(u32::MAX, one, Some(65534), Some(true));
        assert_eq!((c.capabilities, c.thread_uids.len()), (1 << 10, 0));
        // Root's own capabilities are root's: not counted beside it.
        assert_eq!(of(u32::MAX, status, Some(0), Some(true)).capabilities, 0);
        // In a user namespace of its own they are over that namespace only; in one not read,
        // they are not known to be root's powers.
        let all = b"CapEff:\t000001ffffffffff\n";
        assert!(of(u32::MAX, all, Some(65534), Some(true)).root_equivalent());
        assert!(!of(u32::MAX, all, Some(65534), Some(false)).root_equivalent());
        assert!(!of(u32::MAX, all, Some(65534), None).root_equivalent());
        // Root kept as the real, saved or filesystem uid; none kept.
        for uids in [
            "0\t65534\t65534\t65534",
            "65534\t65534\t0\t65534",
            "65534\t65534\t65534\t0",
        ] {
            assert!(keeps_root(format!("Uid:\t{uids}\n").as_bytes()), "{uids}");
        }
        assert!(!keeps_root(b"Uid:\t65534\t65534\t65534\t65534\n"));
        assert!(
            !keeps_root(b"Uid:\t0\t0\t0\t0\n"),
            "root itself is root, not kept"
        );
    }
}
