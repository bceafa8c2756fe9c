//! Credentials a process acts with beyond the effective uid of its main thread: the effective
//! uids of its other threads (credentials are per thread: a raw `setresuid` system call changes
//! only the thread that makes it) and its effective capabilities (CapEff), which a process of
//! any uid may hold (systemd's `AmbientCapabilities=`, `setpriv --ambient-caps`).

use super::Process;

/// What a process acts with beyond the effective uid of its main thread (`Process::uid`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// Effective uids of its other threads that differ from the main thread's, sorted, each
    /// once.
    pub thread_uids: Vec<u32>,
    /// Effective capabilities (CapEff) of its threads that do not act as uid 0, together.
    pub capabilities: u64,
    /// Whether it runs in whoport's user namespace (`None`: not read). In another, its
    /// capabilities are over that namespace only, not over the machine (a rootless
    /// container's root holds them all); where not read, that is not known.
    pub same_user_ns: Option<bool>,
    /// A thread acting as another uid keeps 0 as its real, saved or filesystem uid (`seteuid`,
    /// `setfsuid`): it may act as root at any time, without privilege (files, at once).
    pub root_kept: bool,
    /// Something is mounted over its `/proc/PID/task` or a thread's `status` (this path): the
    /// credentials of some of its threads were not read.
    pub covered: Option<String>,
    /// It has more threads than whoport reads (`collect::credentials::MAX_THREADS`): the
    /// credentials of the others were not read.
    pub threads_cut: Option<usize>,
}

/// The kernel's capability names, by bit (capabilities(7)).
const NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Capabilities that amount to root: any file read or written whatever its permissions
/// (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_CHOWN), any uid or gid taken
/// (CAP_SETUID, CAP_SETGID, CAP_SETFCAP), the kernel's memory or code (CAP_SYS_MODULE,
/// CAP_SYS_RAWIO), other processes (CAP_SYS_PTRACE), and CAP_SYS_ADMIN. Others
/// (CAP_NET_BIND_SERVICE, the usual way not to run as root) do not.
const ROOT_EQUIVALENT: u64 = 1 << 0
    | 1 << 1
    | 1 << 2
    | 1 << 3
    | 1 << 6
    | 1 << 7
    | 1 << 16
    | 1 << 17
    | 1 << 19
    | 1 << 21
    | 1 << 31;

impl Credentials {
    /// Whether these credentials give root's powers: a thread acting as uid 0, or a
    /// capability that amounts to root.
    pub fn root_equivalent(&self) -> bool {
        self.thread_uids.contains(&0)
            || self.root_kept
            || (self.same_user_ns == Some(true) && self.capabilities & ROOT_EQUIVALENT != 0)
    }

    /// The names of the effective capabilities, in the kernel's order.
    pub fn capability_names(&self) -> Vec<String> {
        (0..64)
            .filter(|bit| self.capabilities & (1 << bit) != 0)
            .map(|bit| {
                NAMES
                    .get(bit)
                    .map_or_else(|| format!("capability {bit}"), |n| (*n).to_string())
            })
            .collect()
    }

    /// What there is beyond the main thread's uid, in words: `other threads as uid 0;
    /// effective capabilities CAP_DAC_OVERRIDE, CAP_SYS_ADMIN`; `None` when nothing.
    pub fn words(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.root_kept {
            parts.push("real, saved or filesystem uid 0: may act as root".to_string());
        }
        if !self.thread_uids.is_empty() {
            let uids: Vec<String> = self
                .thread_uids
                .iter()
                .map(|u| format!("uid {u}"))
                .collect();
            parts.push(format!("other threads as {}", uids.join(", ")));
        }
        match self.same_user_ns {
            _ if self.capabilities == 0 => {}
            // (Not named: a namespace's root holds them all, over that namespace only.)
            Some(false) => parts.push("capabilities over its own user namespace only".to_string()),
            Some(true) => parts.push(format!(
                "effective capabilities {}",
                self.capability_names().join(", ")
            )),
            None => parts.push(format!(
                "effective capabilities {} (its user namespace not read: whether they are over \
                 the machine is not known)",
                self.capability_names().join(", ")
            )),
        }
        if let Some(path) = &self.covered {
            parts.push(format!(
                "the credentials of other threads not read: something is mounted over {path}"
            ));
        }
        if let Some(read) = self.threads_cut {
            parts.push(format!(
                "the credentials of threads beyond the first {read} not read"
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

impl Process {
    /// Whether it acts with root's powers: uid 0 (its main thread's effective uid), or
    /// credentials beyond it that amount to root ([`Credentials::root_equivalent`]).
    pub fn acts_as_root(&self) -> bool {
        self.uid == Some(0) || self.credentials.root_equivalent()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_words_and_what_amounts_to_root() {
        let none = Credentials::default();
        assert_eq!(none.words(), None);
        assert!(!none.root_equivalent());
        let bind = Credentials {
            capabilities: 1 << 10,
            same_user_ns: Some(true),
            ..Credentials::default()
        };
        assert_eq!(
            bind.words().as_deref(),
            Some("effective capabilities CAP_NET_BIND_SERVICE")
        );
        assert!(!bind.root_equivalent(), "the usual way not to run as root");
        let powers = Credentials {
            capabilities: 0x2814ef,
            same_user_ns: Some(true),
            ..Credentials::default()
        };
        assert!(powers.root_equivalent());
        let names = powers.capability_names();
        assert!(names.contains(&"CAP_SYS_ADMIN".to_string()), "{names:?}");
        assert!(names.contains(&"CAP_DAC_OVERRIDE".to_string()), "{names:?}");
        let threads = Credentials {
            thread_uids: vec![0, 33],
            threads_cut: Some(1024),
            ..Credentials::default()
        };
        assert!(threads.root_equivalent());
        assert_eq!(
            threads.words().as_deref(),
            Some(
                "other threads as uid 0, uid 33; the credentials of threads beyond the first \
                 1024 not read"
            )
        );
        let unknown = Credentials {
            capabilities: 1 << 45,
            ..Credentials::default()
        };
        assert_eq!(
            unknown.capability_names(),
            vec!["capability 45".to_string()]
        );
    }
}
