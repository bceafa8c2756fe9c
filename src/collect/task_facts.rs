//! A process's facts as the owner iterator read them in the kernel (bpf/owners.bpf.c,
//! `task_facts`): what `/proc/PID/status`, its namespace links, its memory map (the filesystem
//! of its executable) and the parent's `comm` would give, for the processes holding a TCP
//! listener or a UDP socket. The details of an owner take them from here instead of reading
//! those files (about half of what reading an owner costs); an owner without them, or with
//! something mounted below its `/proc/PID`, is read from `/proc` as by the descriptor walk.

use crate::hash::{HashMap, HashMapExt};
use std::sync::{Mutex, PoisonError};

/// What the kernel said of one process (its thread group leader), at the pass that found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskFacts {
    /// Its start time as `/proc/PID/stat` gives it: facts of another process that took the
    /// PID since are not its.
    pub start_ticks: Option<u64>,
    /// Real, effective, saved and filesystem uids (the initial user namespace's numbers, which
    /// are whoport's: the iterator runs only there).
    pub uids: [u32; 4],
    /// Effective capabilities (`CapEff:`).
    pub capabilities: u64,
    /// The inodes of its mount and user namespaces (`ns/mnt`, `ns/user`).
    pub mount_ns: u32,
    pub user_ns: u32,
    /// Its parent's PID and name (the kernel's comm, up to its first NUL; `None` for a kernel
    /// thread, whose `/proc/PPID/comm` is longer).
    pub parent_pid: u32,
    pub parent_name: Option<[u8; 16]>,
    /// Its number of threads (`Threads:`).
    pub threads: u32,
    /// The device (major, minor) of the filesystem of the file its `/proc/PID/exe` leads to,
    /// as the kernel holds it (`None`: it has none). Not always the device `stat` gives the
    /// file (btrfs subvolumes, overlayfs): only where following the link may ask.
    pub exe_device: Option<(u32, u32)>,
    /// Where its stack starts (`/proc/PID/stat`'s startstack): another after every exec.
    pub start_stack: Option<u64>,
}

impl TaskFacts {
    /// The effective uid, the one `ps -o user` and whoport show.
    pub fn euid(&self) -> u32 {
        self.uids[1]
    }

    /// Whether its mount and user namespaces are whoport's (`None`: whoport's own are not
    /// known).
    pub fn own_namespaces(&self) -> (Option<bool>, Option<bool>) {
        (
            super::exe::is_own_ns("mnt", self.mount_ns),
            super::exe::is_own_ns("user", self.user_ns),
        )
    }

    /// The parent's name as read (the kernel's name is at most 15 bytes and a NUL).
    pub fn parent_name(&self) -> Option<&[u8]> {
        let name = self.parent_name.as_ref()?;
        let end = name.iter().position(|&b| b == 0);
        Some(&name[..end.unwrap_or(name.len())])
    }
}

/// The facts of the last pass of the owner iterator, by PID.
static FACTS: Mutex<Option<HashMap<u32, TaskFacts>>> = Mutex::new(None);

fn facts() -> std::sync::MutexGuard<'static, Option<HashMap<u32, TaskFacts>>> {
    FACTS.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A new pass begins: what the last one said is forgotten (an owner it found and not read yet
/// is read from `/proc`).
pub fn begin_pass() {
    *facts() = None;
}

/// The facts of `pid`, as the pass found them.
pub fn publish(pid: u32, found: TaskFacts) {
    facts().get_or_insert_with(HashMap::new).insert(pid, found);
}

/// The facts of `pid` started at `start_ticks`, if the last pass read them.
pub fn of(pid: u32, start_ticks: Option<u64>) -> Option<TaskFacts> {
    let found = facts().as_ref()?.get(&pid).copied()?;
    (start_ticks.is_some() && found.start_ticks == start_ticks).then_some(found)
}
