//! What whoport knows of its own view (root or not, its namespaces, its capabilities, the
//! processes it could not read), read once, and the reason it gives a socket no process holds
//! after the second look: the first fact that explains it, in the order of certainty.

use crate::model::{
    Hidden, UnreadCause, UnreadHolders, NOT_SHOWN_TO_USER, USER_NAMESPACE_NOT_ROOT,
};

/// What whoport knows about its own view, read once, to say why a socket has no owner.
#[derive(Debug, Clone, Default)]
pub struct View {
    pub root: bool,
    pub uid: Option<u32>,
    /// whoport's PID namespace is the machine's first one, or its `/proc` is that
    /// namespace's: no process is out of its sight.
    pub initial_pid_namespace: bool,
    /// whoport's user namespace is the machine's first one.
    pub initial_user_namespace: bool,
    /// CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH in whoport's effective set.
    pub can_ptrace: bool,
    pub can_read_search: bool,
    /// Processes whose descriptors could not be read (some of their PIDs, and how many).
    pub unreadable_pids: Vec<u32>,
    pub unreadable: usize,
    /// Every task's descriptor table was read in the kernel (the iterator, or a read again
    /// for this socket), whatever `/proc` lets this user read.
    pub every_table: bool,
    /// The kernel's iterator read the tables but did not visit the `unreadable` processes,
    /// and /proc did not show them either.
    pub iterator_skipped: bool,
    /// This user's own processes `/proc` refuses to it ([`own_unreadable`]), looked for once
    /// per look at the machine (the views of its sockets share it), not once per socket.
    pub own_unread: std::sync::Arc<std::sync::OnceLock<OwnUnread>>,
    /// Among the `unreadable`: the processes whose threads' own tables were not all read.
    pub cut: super::own_tables::Cut,
}

/// Said of the `count` processes neither `/proc` nor the kernel's task iterator showed.
fn iterator_skipped(count: usize) -> &'static str {
    if count == 1 {
        "; the kernel's task iterator found no descriptor of it either"
    } else {
        "; the kernel's task iterator found none of theirs either"
    }
}

/// "it" and "it is" for one process, "them" and "they are" for several.
fn them_they(count: usize) -> (&'static str, &'static str) {
    if count == 1 {
        ("it", "it is")
    } else {
        ("them", "they are")
    }
}

/// Why this user's own `count` processes could not be read.
fn own_not_dumpable(count: usize) -> String {
    let (them, they) = them_they(count);
    format!(
        "{NOT_SHOWN_TO_USER} {them} to this user, though {they} this user's: not dumpable (as \
         a process that changed its credentials is); root reads {them}"
    )
}

/// Why this user's own `count` processes, dumpable, could not be read: their descriptor
/// table opens, but the kernel's check of who may read another process's descriptors refuses
/// each link (`ptrace_may_access`). For a process of the same user that is dumpable, only a
/// security module refuses that: Landlock (whoport in a domain the process is outside of),
/// AppArmor, SELinux, or the capability module, which refuses a process holding capabilities
/// whoport lacks.
fn own_refused(count: usize) -> String {
    let (them, they) = them_they(count);
    format!(
        "{NOT_SHOWN_TO_USER} {them} to this user, though {they} this user's and dumpable: \
         refused by a security module (LSM), such as the capability module for a process \
         holding capabilities whoport lacks"
    )
}

/// This user's processes whose descriptors `/proc` refuses to this user (some of their PIDs,
/// and how many each): those that are not dumpable (their descriptor table does not open),
/// then those whose table opens but whose descriptors' links are refused. A directory mounted
/// over one's `/proc/PID` or its `fd` (refusing or not) is not the kernel's refusal: not
/// counted (see [`View::covered`]).
fn own_unreadable(uid: u32) -> OwnUnread {
    let Ok(pids) = super::proc_dir::numbered_entries("/proc") else {
        return OwnUnread::default();
    };
    let mut unread = OwnUnread::default();
    let mut buf = [0u8; 64];
    for pid in pids {
        if super::linux::status_uid(pid) != Some(uid) {
            continue;
        }
        let refused = match super::proc_dir::open_dir(&format!("/proc/{pid}/fd")) {
            Err(rustix::io::Errno::ACCESS) => &mut unread.not_dumpable,
            Err(_) => continue,
            // The first descriptor's link tells: the check is the same for each.
            Ok(dir) => match first_entry(&dir) {
                Some(fd)
                    if super::proc_dir::read_link_below(&dir, &fd.to_string(), &mut buf)
                        == Err(rustix::io::Errno::ACCESS) =>
                {
                    &mut unread.refused
                }
                _ => continue,
            },
        };
        refused.0.push(pid);
        refused.1 += 1;
    }
    for (pids, _) in [&mut unread.not_dumpable, &mut unread.refused] {
        pids.sort_unstable();
        pids.truncate(super::linux::NAMED_UNREADABLE);
    }
    unread
}

/// The number of the first descriptor listed in an opened `/proc/PID/fd`.
fn first_entry(dir: &std::os::fd::OwnedFd) -> Option<u32> {
    let entries = rustix::fs::Dir::read_from(dir).ok()?;
    entries.filter_map(Result::ok).find_map(|e| {
        super::proc_dir::number(e.file_name().to_bytes()).and_then(|n| u32::try_from(n).ok())
    })
}

/// What [`own_unreadable`] found: some PIDs of each kind, and how many.
#[derive(Debug, Clone, Default)]
pub struct OwnUnread {
    pub not_dumpable: (Vec<u32>, usize),
    pub refused: (Vec<u32>, usize),
}

/// The inode numbers the kernel gives its first namespaces (include/linux/proc_ns.h).
const PROC_USER_INIT_INO: &[u8] = b"user:[4026531837]";
const PROC_PID_INIT_INO: &[u8] = b"pid:[4026531836]";

impl View {
    pub fn read(
        root: bool,
        uid: Option<u32>,
        unreadable_pids: Vec<u32>,
        unreadable: usize,
    ) -> View {
        // Never across a mount: a link mounted over one of whoport's own says what whoever
        // mounted it chose (see `proc_dir::read_link`).
        let ns = |name: &str| super::proc_dir::read_link(&format!("/proc/self/ns/{name}")).ok();
        let is = |link: Option<Vec<u8>>, init: &[u8]| link.is_some_and(|l| l == init);
        let caps = super::owners::own_capabilities().unwrap_or(0);
        const CAP_DAC_READ_SEARCH: u32 = 2;
        const CAP_SYS_PTRACE: u32 = 19;
        View {
            root,
            uid,
            // Or a /proc of the initial namespace: every process is in its sight.
            initial_pid_namespace: is(ns("pid"), PROC_PID_INIT_INO)
                || super::owners::proc_is_the_initial_namespaces(),
            initial_user_namespace: is(ns("user"), PROC_USER_INIT_INO),
            can_ptrace: caps & (1 << CAP_SYS_PTRACE) != 0,
            can_read_search: caps & (1 << CAP_DAC_READ_SEARCH) != 0,
            unreadable_pids,
            unreadable,
            every_table: false,
            iterator_skipped: false,
            own_unread: Default::default(),
            cut: Default::default(),
        }
    }

    /// Why a socket with an inode, that no process holds after the second look, has no owner:
    /// the first fact that explains it, in the order of certainty.
    pub fn reason(&self, socket_uid: Option<u32>, still_there: bool) -> Hidden {
        if !still_there {
            return Hidden::ClosedDuringScan;
        }
        if !self.root {
            if socket_uid.is_some() && socket_uid != self.uid {
                // Read in the kernel, no table holds it: that much was established for
                // another user's socket too.
                return if self.every_table && self.initial_pid_namespace {
                    Hidden::NotFoundForOtherUser(Default::default())
                } else if self.iterator_skipped && self.initial_pid_namespace {
                    self.not_read()
                        .map_or_else(|| self.not_root(), UnreadHolders::hidden)
                } else {
                    self.not_root()
                };
            }
            // Our own processes are readable to us, but not from a user namespace: there the
            // kernel keeps the descriptors of every process outside it, even this user's, so
            // "no process of this user holds it" was not established.
            if let Some(unread) = self.not_read().filter(|_| !self.initial_user_namespace) {
                return unread.hidden();
            }
            // This user's own processes that are not dumpable (a daemon that changed its
            // credentials, an ssh privilege-separation child): /proc gives their descriptors
            // to root alone, so "no process of this user holds it" was not established.
            // Or whose `/proc` entries a directory is mounted over: not read either.
            if let Some(uid) = self.uid.filter(|_| self.unreadable > 0) {
                let own = self.own_unread.get_or_init(|| own_unreadable(uid)).clone();
                let mut causes = Vec::new();
                let (pids, count) = own.not_dumpable;
                if count > 0 {
                    causes.push(UnreadCause::new(pids, count, own_not_dumpable(count)));
                }
                let (pids, count) = own.refused;
                if count > 0 {
                    causes.push(UnreadCause::new(pids, count, own_refused(count)));
                }
                causes.extend(self.covered(&self.cut.pids()));
                if !causes.is_empty() {
                    return Hidden::Unreadable {
                        causes,
                        ruled: None,
                    };
                }
            }
            if let Some(cut) = self.cut.cause() {
                return Hidden::Unreadable {
                    causes: vec![cut],
                    ruled: None,
                };
            }
        } else if let Some(unread) = self.not_read() {
            return unread.hidden();
        }
        if !self.initial_pid_namespace {
            return Hidden::OtherPidNamespace(crate::model::RuledOut {
                outside_pid_namespace: true,
                ..Default::default()
            });
        }
        if self.root {
            Hidden::NotVisibleToRoot(Default::default())
        } else {
            Hidden::NotFoundForUser(Default::default())
        }
    }
}

impl View {
    /// Another user's socket, whoport not root: with whether `/proc` hides other users'
    /// processes from this user (`hidepid=`).
    fn not_root(&self) -> Hidden {
        Hidden::NotRoot {
            hidepid: super::proc_dir::hides_other_users(),
        }
    }

    /// The processes whose descriptors could not be read, and why, as the reasons name them.
    pub fn not_read(&self) -> Option<UnreadHolders> {
        if self.unreadable == 0 {
            return None;
        }
        Some(UnreadHolders::of(self.causes()))
    }

    /// Why `count` processes not read otherwise (not cut, not covered) were not read.
    fn refused(&self, count: usize) -> String {
        if !self.root {
            if self.initial_user_namespace {
                let them = if count == 1 { "it" } else { "them" };
                format!("{NOT_SHOWN_TO_USER} {them} to this user")
            } else {
                USER_NAMESPACE_NOT_ROOT.to_string()
            }
        } else if !self.initial_user_namespace {
            "whoport runs in a user namespace whose root is not the machine's root".to_string()
        } else if !self.can_ptrace || !self.can_read_search {
            "whoport lacks CAP_SYS_PTRACE or CAP_DAC_READ_SEARCH".to_string()
        } else {
            // What was established: whoport holds the two capabilities the kernel asks of a
            // reader of another process's descriptors, in the machine's first user namespace,
            // where CAP_SYS_PTRACE reaches a process of any user namespace; its other
            // capabilities may be missing (a container's root) and were not asked about. What
            // refuses it then is a security module's check (`security_ptrace_access_check`:
            // Landlock, AppArmor, SELinux, a BPF program).
            "refused to root, which holds CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH: by a \
             security module (LSM)"
                .to_string()
        }
    }

    /// The processes not read, grouped by the cause established for each: those whose
    /// threads' tables whoport did not all read, those whose /proc directory (or its fd
    /// directory) another was mounted over, and the rest ([`View::refused`]).
    fn causes(&self) -> Vec<UnreadCause> {
        let cut = self.cut.pids();
        let covered = self.covered(&cut);
        let named = covered.as_ref().map_or(&[][..], |c| c.pids.as_slice());
        let others: Vec<u32> = self
            .unreadable_pids
            .iter()
            .copied()
            .filter(|pid| !cut.contains(pid) && !named.contains(pid))
            .collect();
        let left = self
            .unreadable
            .saturating_sub(self.cut.count + named.len())
            .max(others.len());
        let mut causes = Vec::new();
        if left > 0 {
            causes.push(UnreadCause::new(others, left, self.refused(left)));
        }
        causes.extend(covered);
        causes.extend(self.cut.cause());
        for cause in causes.iter_mut().filter(|_| self.iterator_skipped) {
            cause.why.push_str(iterator_skipped(cause.count));
        }
        causes
    }

    /// The processes not read (beside the `cut` ones) whose `/proc/PID` directory, or its fd
    /// or task directory, another is mounted over: whoport does not read through such a mount
    /// (the walk opens no directory across one).
    fn covered(&self, cut: &[u32]) -> Option<UnreadCause> {
        let (pids, paths): (Vec<u32>, Vec<String>) = self
            .unreadable_pids
            .iter()
            .filter(|pid| !cut.contains(pid))
            .filter_map(|&pid| Some((pid, super::linux::covered_proc_entry(pid)?)))
            .unzip();
        let count = pids.len();
        (count > 0).then(|| {
            UnreadCause::new(
                pids,
                count,
                format!(
                    "a directory is mounted over {} ({}), which whoport does not read through",
                    paths.join(", "),
                    crate::model::HIDING_MOUNT
                ),
            )
        })
    }
}

/// The uid the kernel shows for a uid that has no mapping in this user namespace
/// (`/proc/sys/kernel/overflowuid`), when whoport's namespace does not map it: then a socket
/// or process uid equal to it is unknown, not that user's.
pub fn unmapped_uid() -> Option<u32> {
    let overflow: u32 =
        String::from_utf8(super::proc_dir::read_whole("/proc/sys/kernel/overflowuid")?)
            .ok()?
            .trim()
            .parse()
            .ok()?;
    let map = String::from_utf8(super::proc_dir::read_whole("/proc/self/uid_map")?).ok()?;
    let mapped = map.lines().any(|l| {
        let f: Vec<u64> = l
            .split_ascii_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        f.len() == 3 && (f[0]..f[0] + f[2]).contains(&u64::from(overflow))
    });
    (!mapped).then_some(overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The processes not read beside a sleeper: named with the reasons' why, for root and for
    /// another user; nothing where every process was read.
    #[test]
    fn the_processes_not_read_are_named_with_why() {
        let root = View {
            root: true,
            initial_pid_namespace: true,
            initial_user_namespace: true,
            can_ptrace: true,
            can_read_search: true,
            ..View::default()
        };
        assert_eq!(root.not_read(), None);
        let skipped = View {
            unreadable_pids: vec![1],
            unreadable: 1,
            iterator_skipped: true,
            ..root.clone()
        };
        let unread = skipped.not_read().expect("named");
        assert_eq!((unread.pids.as_slice(), unread.count), ([1].as_slice(), 1));
        assert_eq!(
            unread.words(),
            "1 process's descriptors could not be read (refused to root, which holds \
             CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH: by a security module (LSM); the kernel's \
             task iterator found no descriptor of it either): PID 1, which may hold it too"
        );
        match skipped.reason(Some(0), true) {
            Hidden::Unreadable { causes, .. } => assert_eq!(causes, unread.causes),
            other => panic!("{other:?}"),
        }
        let user = View {
            root: false,
            unreadable_pids: vec![1, 7],
            unreadable: 2,
            ..skipped
        };
        // Another user's socket names them with the same words.
        match user.reason(Some(1000), true) {
            Hidden::Unreadable { causes, .. } => {
                assert_eq!(causes, user.not_read().expect("named").causes)
            }
            other => panic!("{other:?}"),
        }
        let words = user.not_read().expect("named").words();
        assert!(
            words.starts_with(
                "2 processes' descriptors could not be read (/proc does not show them to this \
                 user; the kernel's task iterator found none of theirs either): PIDs 1, 7, one of \
                 which may hold it too"
            ),
            "{words}"
        );
    }

    /// A process refused and one whose threads' tables were not all read are each named
    /// beside its own cause, never both under one.
    #[test]
    fn each_process_not_read_is_named_beside_its_own_cause() {
        let mut cut = super::super::own_tables::Cut::default();
        cut.push(4242, 36);
        let both = View {
            root: true,
            initial_pid_namespace: true,
            initial_user_namespace: true,
            can_ptrace: true,
            can_read_search: true,
            unreadable_pids: vec![1, 4242],
            unreadable: 2,
            cut,
            ..View::default()
        };
        let unread = both.not_read().expect("named");
        assert_eq!(unread.causes.len(), 2, "{unread:?}");
        assert_eq!(
            (unread.causes[0].pids.as_slice(), unread.causes[0].count),
            ([1].as_slice(), 1)
        );
        assert!(
            unread.causes[0].why.starts_with("refused to root"),
            "{unread:?}"
        );
        assert_eq!(unread.causes[1].pids, [4242]);
        let long = unread.hidden().long();
        assert!(
            long.contains(
                "2 processes' could not: PID 1: refused to root, which holds CAP_SYS_PTRACE \
                 and CAP_DAC_READ_SEARCH: by a security module (LSM); PID 4242: the descriptor \
                 tables of 36 of its threads were not read (whoport reads at most 64"
            ),
            "{long}"
        );
    }

    #[test]
    fn reasons_follow_what_was_established() {
        let root = View {
            root: true,
            uid: Some(0),
            initial_pid_namespace: true,
            initial_user_namespace: true,
            can_ptrace: true,
            can_read_search: true,
            ..View::default()
        };
        assert_eq!(root.reason(Some(0), false), Hidden::ClosedDuringScan);
        assert_eq!(
            root.reason(Some(0), true),
            Hidden::NotVisibleToRoot(Default::default())
        );
        let contained = View {
            initial_pid_namespace: false,
            ..root.clone()
        };
        assert!(matches!(
            contained.reason(Some(0), true),
            Hidden::OtherPidNamespace(ruled) if ruled.outside_pid_namespace
        ));
        let lsm = View {
            unreadable_pids: vec![42],
            unreadable: 1,
            ..root.clone()
        };
        match lsm.reason(Some(0), true) {
            Hidden::Unreadable { causes, .. } => {
                assert_eq!(causes.len(), 1);
                assert_eq!(causes[0].pids, vec![42]);
                assert!(causes[0].why.contains("LSM"), "{causes:?}");
            }
            other => panic!("{other:?}"),
        }
        let userns = View {
            initial_user_namespace: false,
            ..lsm.clone()
        };
        assert!(matches!(
            userns.reason(Some(0), true),
            Hidden::Unreadable { causes, .. } if causes[0].why.contains("user namespace")
        ));
        let user = View {
            root: false,
            uid: Some(1000),
            ..root.clone()
        };
        assert_eq!(
            user.reason(Some(0), true),
            Hidden::NotRoot { hidepid: None }
        );
        assert_eq!(
            user.reason(Some(1000), true),
            Hidden::NotFoundForUser(Default::default())
        );
        // In a user namespace this user's processes outside it are not readable either: its
        // own socket is not said to be held by none of them.
        let user_in_userns = View {
            initial_user_namespace: false,
            unreadable_pids: vec![42],
            unreadable: 1,
            ..user.clone()
        };
        assert!(matches!(
            user_in_userns.reason(Some(1000), true),
            Hidden::Unreadable { causes, .. } if causes[0].why == USER_NAMESPACE_NOT_ROOT
        ));
        assert_eq!(
            user_in_userns.reason(Some(0), true),
            Hidden::NotRoot { hidepid: None }
        );
        let nothing_unread = View {
            unreadable: 0,
            unreadable_pids: Vec::new(),
            ..user_in_userns
        };
        assert_eq!(
            nothing_unread.reason(Some(1000), true),
            Hidden::NotFoundForUser(Default::default())
        );
    }
}
