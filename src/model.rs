//! The live model: sockets, the processes that hold them, and listeners (a socket with its
//! owners, or the reason its owners cannot be seen).

use crate::hash::HashMap;
use std::net::IpAddr;

use serde::Serialize;

use crate::port::Protocol;

mod credentials;
mod ruled_out;
pub mod unread;
pub use credentials::Credentials;
pub use ruled_out::{QueuesUnread, RuledOut, WaitQueue};
pub use unread::UnreadCause;

/// Where a socket is reachable from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// 127.0.0.0/8, ::1 (and their IPv4-mapped forms): this machine only.
    Loopback,
    /// 0.0.0.0 or ::: every interface.
    All,
    /// One specific non-loopback address.
    Specific,
    /// A loopback address bound to another device than `lo` (`127.0.0.1%eth0`): loopback
    /// traffic does not reach it (the kernel gives a socket bound to a device only what comes
    /// in through that device), and other machines' packets addressed to a loopback address
    /// are not accepted. Not reachable from other machines. Also any socket bound to a device
    /// that no longer exists: nothing reaches it.
    Device,
}

impl Scope {
    pub fn of(address: IpAddr) -> Scope {
        let address = address.to_canonical();
        if address.is_loopback() {
            Scope::Loopback
        } else if address.is_unspecified() {
            Scope::All
        } else {
            Scope::Specific
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Loopback => "loopback",
            Scope::All => "all",
            Scope::Specific => "specific",
            Scope::Device => "device",
        }
    }

    /// Can other machines reach it (`--exposed`, the audit's exposure findings)?
    pub fn is_exposed(self) -> bool {
        matches!(self, Scope::All | Scope::Specific)
    }
}

/// One socket as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    pub protocol: Protocol,
    pub address: IpAddr,
    pub port: u16,
    /// TCP state in kebab-case ("listen", "established", "time-wait"); `None` for UDP.
    pub state: Option<&'static str>,
    pub remote: Option<(IpAddr, u16)>,
    /// Socket inode (Linux); 0 when unknown.
    pub inode: u32,
    /// Owner uid of the socket (Linux); `None` elsewhere.
    pub uid: Option<u32>,
    /// Index of the device the socket is bound to (SO_BINDTODEVICE, or an IPv6 link-local
    /// zone), as the kernel reports it; 0 for none or when not reported.
    pub ifindex: u32,
    /// Whether the source says which device the socket is bound to (sock_diag does;
    /// `/proc/net` does not: there `ifindex` 0 means only "not reported").
    pub device_reported: bool,
    /// For IPv6 sockets, the kernel's IPV6_V6ONLY; `None` for IPv4 or when not reported.
    pub v6only: Option<bool>,
}

impl Socket {
    /// A listening TCP socket, or a bound UDP socket that is not connected to a peer.
    pub fn is_listener(&self) -> bool {
        match self.protocol {
            Protocol::Tcp => self.state == Some("listen"),
            _ => self.remote.is_none(),
        }
    }
}

/// A container a process runs in, from its cgroup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Container {
    /// "docker", "podman", "containerd", "cri-o", "kubernetes", "lxc".
    pub runtime: String,
    pub id: String,
    /// Kubernetes pod UID, when the container belongs to a pod.
    pub pod: Option<String>,
}

/// Whether a process still runs the file at its executable path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExeState {
    /// The file it started from is gone (deleted, or replaced by a new file).
    pub deleted: bool,
    /// A different file now stands at its path (an upgrade awaiting a restart only when root
    /// alone could have put it there: see `replaced_root_only`).
    pub replaced: bool,
    /// With `replaced`: the owner (uid) of the file that stands at its path now, when read.
    pub replaced_owner: Option<u32>,
    /// With `replaced`: that file and every directory on the way to it (from the process's
    /// root) are root's and writable by no one else (sticky directories excepted), so only root
    /// could have put it there.
    pub replaced_root_only: bool,
    /// It runs from memory (`memfd:`), with no file at all.
    pub memory_only: bool,
    /// Deleted by the kernel's mark alone: what stands at its path now was not looked at (the
    /// way to it crosses a filesystem that may not answer, or see `other_mount_ns`), so
    /// `replaced` is not known.
    pub path_unchecked: bool,
    /// With `path_unchecked`: the process runs in another mount namespace, whose root or mount
    /// table could not be read, so its path there was not looked at.
    pub other_mount_ns: bool,
    /// With `path_unchecked`: the link (`ns/mnt` or `root`) of its `/proc/PID` that something
    /// is mounted over (not read through), so where its path is was not known.
    pub proc_covered: Option<&'static str>,
    /// With `path_unchecked`: the link (`exe` or `root`) of its `/proc/PID` that whoport could
    /// not make sure nothing was mounted over while it followed it (mounts were made or removed
    /// in whoport's mount namespace during every try), so what it reached was not used.
    pub follow_unsure: Option<&'static str>,
    /// Its path is longer than the kernel gives through `/proc/PID/exe` (PATH_MAX): not read.
    pub path_too_long: bool,
    /// With `deleted`: what stands at its path now was looked up, and the lookup failed for
    /// another reason than that nothing is there (this errno: a directory on the way replaced
    /// by a symbolic link, one this user may not search...), so `replaced` is not known.
    pub path_lookup_failed: Option<i32>,
    /// It runs in another mount namespace than whoport: its executable's path is one of that
    /// namespace, and may name another file (or none) in whoport's.
    pub own_mount_ns: bool,
    /// With `path_unchecked`: the path its link shows leads to another mount than the one
    /// the running file is on, in whoport's mount table and in the process's (a mount of
    /// another namespace, reached through a process's `/proc/PID/root` there, or one detached
    /// or covered since): that path names another file, or none.
    pub mount_elsewhere: bool,
    /// Its mount namespace could not be read (the thread read exited, or whoport's own
    /// could not be read): `own_mount_ns` false says nothing then, and no path of its view is
    /// taken for one of whoport's.
    pub mount_ns_unread: bool,
    /// It runs in another user namespace than whoport: it may have set its executable link
    /// itself (`PR_SET_MM_EXE_FILE`), so the link does not establish what it runs.
    pub own_user_ns: bool,
    /// Its user namespace could not be read (nor, then, whether it set its executable link
    /// itself): the link establishes nothing either.
    pub user_ns_unread: bool,
    /// Whether the file at its executable's path in whoport's view is the running file (same
    /// device and inode); `None` when not looked at (deleted, a filesystem that may not
    /// answer, or the running file could not be looked at).
    pub same_here: Option<bool>,
    /// The system's shell or interpreter (its name in the audit's list) the running file is,
    /// the same file or a copy byte for byte; run through the dynamic loader, the one it maps.
    pub interpreter: Option<&'static str>,
    /// A system directory has the process's name (`comm`) for the running file: the file, or
    /// a link to it (`/usr/bin/redis-server`, a link to `redis-check-rdb`).
    pub comm_here: bool,
    /// The same for the base name of its `argv[0]`.
    pub argv0_here: bool,
}

/// How `/proc` mounted with `hidepid=HOW` is said to hide other users' processes.
pub fn hidden_by_proc(how: &str) -> String {
    format!("/proc hides other users' processes from this user (hidepid={how})")
}

/// Why the path of a deleted executable was not looked at, for a process in another mount
/// namespace.
const OTHER_MOUNT_NS: &str =
    "it runs in another mount namespace, whose root or mount table whoport could not read";

/// Why looking up what stands at a path failed, in words, with the errno.
fn lookup_failure(errno: i32) -> String {
    const EACCES: i32 = 13;
    const ELOOP: i32 = 40;
    const ETIMEDOUT: i32 = 110;
    match errno {
        // Given up after `collect::exe::LOOKUP_WAIT`.
        ETIMEDOUT => "the lookup did not answer within 1 s (ETIMEDOUT)".to_string(),
        ELOOP => "a directory on the way to it is a symbolic link now, which whoport does not \
                  follow (ELOOP)"
            .to_string(),
        EACCES => "this user may not search a directory on the way to it (EACCES)".to_string(),
        n => format!(
            "{} (errno {n})",
            std::io::Error::from_raw_os_error(n)
                .to_string()
                .split(" (os error")
                .next()
                .unwrap_or_default()
        ),
    }
}

/// What is known about one process that holds a socket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    /// Full name: never the kernel's 15-byte truncation when a longer name is known.
    pub name: String,
    pub exe: Option<String>,
    pub cmdline: Vec<String>,
    pub uid: Option<u32>,
    pub user: Option<String>,
    /// What it acts with beyond `uid` (other threads' uids, effective capabilities).
    pub credentials: Credentials,
    /// Seconds since the Unix epoch.
    pub start_time: Option<u64>,
    pub parent_pid: Option<u32>,
    pub parent_name: Option<String>,
    pub unit: Option<String>,
    /// The user manager (`user@1000.service`) whose unit `unit` is; `None` for a unit of the
    /// system's manager. A user names their own units as they like (`sshd.service`).
    pub unit_manager: Option<String>,
    pub container: Option<Container>,
    pub exe_state: ExeState,
    /// Exact escaped forms (`\xNN` for bytes that are not UTF-8, `\\` for a backslash),
    /// set only when the raw bytes are not UTF-8 and the plain fields had to replace them.
    pub name_escaped: Option<String>,
    pub exe_escaped: Option<String>,
    pub cmdline_escaped: Option<Vec<String>>,
    /// The command line is longer than whoport reads of it (64 KiB): `cmdline` holds its
    /// start, its last argument possibly cut.
    pub cmdline_truncated: bool,
    /// Not read: it exited, another process took its PID or its `/proc` directory was
    /// covered during the scan (its name says which), or its details did not come in time
    /// (the kernel's name alone): what it runs is not known.
    pub not_read: bool,
    /// Its name was not read: `name` says why (its `/proc` entries covered by a mount or
    /// hidden from this user, its PID taken by another process), and matches nothing a query
    /// asks for by name.
    pub name_unknown: bool,
    /// Something is mounted over its `/proc/PID` or one of the files whoport reads there (a
    /// way to hide a process, or to lend it another's details): what, for the audit.
    pub hidden_by_mount: Option<String>,
}

/// The start of the reason why processes went unread by a user other than root whose
/// in-kernel lookup read every other table: the kernel's task iterator did not visit them.
pub const NOT_SHOWN_TO_USER: &str = "/proc does not show";

/// Said of a process whose `/proc` directory, or its `fd` or `task` directory, something is
/// mounted over: "a directory is mounted over /proc/N/task (a way to hide a process), …".
pub const HIDING_MOUNT: &str = "a way to hide a process";

/// Said of a process whose threads hold more descriptor tables of their own than the `/proc`
/// walk reads: "pid N: the descriptor tables of M of its threads were not read".
pub const THREAD_TABLES_NOT_READ: &str = "of its threads were not read";
/// How a `/proc` of another PID namespace (it lists processes, but not whoport) is told.
pub const OTHER_PID_NAMESPACES_PROC: &str = "/proc belongs to another PID namespace";

/// Why descriptors went unread when whoport, not root, runs in a user namespace.
pub const USER_NAMESPACE_NOT_ROOT: &str = "whoport runs in a user namespace, and the kernel \
     lets it read the descriptors of no process outside it, even of its own user";

/// Why the process holding a socket cannot be seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hidden {
    /// whoport is not root and the socket belongs to another user; with `hidepid`, `/proc` is
    /// mounted with that option, which hides other users' processes from this user.
    NotRoot { hidepid: Option<&'static str> },
    /// The socket belongs to this user, but no visible process holds it; what the looks
    /// ruled out.
    NotFoundForUser(RuledOut),
    /// whoport is not root, the socket belongs to another user, and every task's descriptor
    /// table was read in the kernel (CAP_BPF and CAP_PERFMON): none holds it; what the looks
    /// ruled out.
    NotFoundForOtherUser(RuledOut),
    /// whoport is root and still no process holds it; what the looks ruled out.
    NotVisibleToRoot(RuledOut),
    /// `/proc` could not be read at all.
    ProcUnreadable(String),
    /// The operating system did not report an owner (platforms without `/proc`).
    NotReported,
    /// No descriptor refers to the socket: a connection not yet accepted, or one closing.
    NoDescriptor,
    /// The socket was gone when whoport asked the kernel again after the scan.
    ClosedDuringScan,
    /// The kernel made the socket for itself: it has no file, so no process has it open
    /// (established by the tcp and udp BPF iterators).
    Kernel,
    /// whoport runs in a PID namespace that is not the machine's first: processes outside it
    /// are out of its sight.
    /// No process of whoport's PID namespace (not the machine's first) whose descriptors were
    /// read holds it; one outside may, among what the looks did not rule out.
    OtherPidNamespace(RuledOut),
    /// Some processes' descriptors could not be read: some of their PIDs and how many, grouped
    /// by why; and what the other looks ruled out, when they ran.
    Unreadable {
        causes: Vec<UnreadCause>,
        ruled: Option<RuledOut>,
    },
    /// The look for owners did not end before the collection deadline (`--timeout`); what
    /// did not finish.
    Late(String),
    /// Carried in a unix socket message not yet received (SCM_RIGHTS), established by looking
    /// into the unix sockets' receive queues: the processes holding the unix socket it waits
    /// in (PID, name; none when no process holds that socket), and how many processes'
    /// descriptors could not be read (one of them may hold it too).
    InTransit {
        receivers: Vec<(u32, String)>,
        /// The receivers that hold that unix socket only as an io_uring registered file.
        through_io_uring: Vec<u32>,
        /// How the unix socket it waits in leads to the receivers.
        relay: Relay,
        unreadable: usize,
        /// Some of the processes whose descriptors could not be read.
        unreadable_pids: Vec<u32>,
        /// When no process was found to receive it: the queues not read to their end (a unix
        /// socket on its way may wait in one of them), worded.
        unread: Option<String>,
    },
    /// Passed between processes during the scan: a look into the unix socket queues saw it in
    /// transit to these processes (PID, name: the holders of the receiving end), and the next
    /// looks found it in no queue and no descriptor table.
    PassedDuringScan { receivers: Vec<(u32, String)> },
    /// Perhaps held inside an io_uring instance whoport could not look into (or not to the
    /// end): the processes with such rings (PID, name, what is known of their rings), why the
    /// kernel was not looked into, and the reason established otherwise.
    MaybeIoUring {
        rings: Vec<(u32, String, String)>,
        why: Option<String>,
        otherwise: Box<Hidden>,
    },
    /// Perhaps held through a memory mapping of a process whose mappings whoport could not
    /// read in time (its memory-map lock held): what was not read, and the reason
    /// established otherwise.
    MapsUnread {
        unread: Vec<String>,
        otherwise: Box<Hidden>,
    },
}

/// How a socket in transit reaches a process: the unix socket whose queue holds it may be in
/// transit too, in another unix socket's queue, and so on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relay {
    /// The receivers hold the unix socket whose queue holds it (none may).
    Direct,
    /// A chain of this many unix sockets, each in transit in the next one's queue; the
    /// receivers hold the last one (none may).
    Chain(usize),
    /// Unix sockets in transit in each other's queues, none held by a process: none will
    /// receive it.
    Cycle,
    /// Still in transit after this many unix sockets in a row: not followed further.
    Beyond(usize),
}

impl Hidden {
    /// A few words, for table cells.
    pub fn short(&self) -> &'static str {
        match self {
            Hidden::NotRoot { hidepid: None } => "run as root to see it",
            Hidden::NotRoot { .. } => "/proc hides other users' processes (hidepid): run as root",
            Hidden::NotFoundForUser(_) => "no visible process holds it",
            Hidden::NotFoundForOtherUser(_) => "no process holds a descriptor",
            Hidden::NotVisibleToRoot(r) if r.churned > 0 => {
                "perhaps handed between processes that exited during the scan"
            }
            Hidden::NotVisibleToRoot(_) => "no process holds a descriptor",
            Hidden::ProcUnreadable(e) if e.contains(OTHER_PID_NAMESPACES_PROC) => {
                "unavailable: /proc is another PID namespace's"
            }
            Hidden::ProcUnreadable(_) => "unavailable: /proc not readable",
            Hidden::NotReported => "not reported by the system",
            Hidden::NoDescriptor => "no descriptor: not yet accepted, or closing",
            Hidden::ClosedDuringScan => "closed during the scan",
            Hidden::Kernel => "held by the kernel (no process has it open)",
            Hidden::OtherPidNamespace(_) => "perhaps held outside this PID namespace",
            // Root of a user namespace is root only there.
            Hidden::Unreadable { causes, .. }
                if unread::any_why(causes, |w| w.contains("user namespace whose root")) =>
            {
                "in processes outside this user namespace, whose descriptors the root of a user \
                 namespace cannot read"
            }
            Hidden::Unreadable { causes, .. }
                if unread::any_why(causes, |w| w == USER_NAMESPACE_NOT_ROOT) =>
            {
                "in processes outside this user namespace, whose descriptors it cannot read"
            }
            Hidden::Unreadable { causes, .. }
                if unread::any_why(causes, |w| w.starts_with(NOT_SHOWN_TO_USER)) =>
            {
                "in processes whose descriptors this user cannot read"
            }
            Hidden::Unreadable { ruled: Some(r), .. } if r.churned > 0 => {
                "perhaps handed between processes that exited during the scan, or in processes \
                 whose descriptors root cannot read"
            }
            // Some tables left unread by choice (a process's many threads), beside or instead
            // of tables refused.
            Hidden::Unreadable { causes, .. }
                if unread::any_why(causes, |w| w.contains(THREAD_TABLES_NOT_READ)) =>
            {
                "in processes whose descriptors whoport did not all read"
            }
            Hidden::Unreadable { .. } => "in processes whose descriptors root cannot read",
            Hidden::Late(_) => "not looked up in time (--timeout)",
            Hidden::InTransit { .. } => "in transit over a unix socket (SCM_RIGHTS)",
            Hidden::PassedDuringScan { .. } => "passed between processes during the scan",
            Hidden::MaybeIoUring { .. } => "perhaps held by io_uring",
            // (Not read in time, or covered by a mount: the long reason says which.)
            Hidden::MapsUnread { .. } => {
                "perhaps mapped by a process whose maps whoport could not read"
            }
        }
    }

    /// The whole reason, with what to do about it.
    pub fn long(&self) -> String {
        match self {
            Hidden::NotRoot { hidepid } => format!(
                "another user's socket, and whoport is not root{}: it cannot see which process \
                 holds it, nor tell a socket the kernel made for itself: run as root (sudo \
                 whoport) to see it",
                hidepid
                    .map(|how| format!(", and {}", hidden_by_proc(how)))
                    .unwrap_or_default()
            ),
            Hidden::NotFoundForUser(ruled) => format!(
                "owned by this user, but no process of this user holds a descriptor for it, \
                 even read again after the scan{}",
                ruled.words(true)
            ),
            Hidden::NotFoundForOtherUser(ruled) => {
                // Root is sent for only where it would read what this user did not.
                let root = if ruled.unread_of_other_users().is_empty() {
                    ""
                } else {
                    ": run as root (sudo whoport) to look into what this user cannot read"
                };
                format!(
                    "another user's socket, and no process holds a descriptor for it{}{root}",
                    ruled.words(true)
                )
            }
            Hidden::NotVisibleToRoot(ruled) if ruled.churned > 0 => format!(
                "no process that whoport could read holds a descriptor for it: every process \
                 that had not exited was read, in the machine's first PID namespace, again \
                 after the scan, with its threads, memory mappings and io_uring files{}",
                ruled.words(false)
            ),
            Hidden::NotVisibleToRoot(ruled) => format!(
                "no process holds a descriptor for it: every process was read, in the \
                 machine's first PID namespace, again after the scan, with its threads, memory \
                 mappings and io_uring files{}",
                ruled.words(false)
            ),
            Hidden::ProcUnreadable(e) if e.contains(OTHER_PID_NAMESPACES_PROC) => {
                format!("unavailable: {e}")
            }
            Hidden::ProcUnreadable(e) => format!("unavailable: /proc not readable ({e})"),
            Hidden::NotReported => {
                "the operating system reported no process; run as administrator to see it"
                    .to_string()
            }
            Hidden::NoDescriptor => "no process holds a descriptor for it: a connection not yet \
                 accepted, or one closing (time-wait)"
                .to_string(),
            Hidden::ClosedDuringScan => {
                "closed during the scan: the kernel no longer had it when asked again".to_string()
            }
            Hidden::Kernel => "held by the kernel (no process has it open): the kernel made \
                 this socket for itself and it has no file (a vxlan or geneve device, \
                 WireGuard, nfsd...); ip -d link shows which device uses the port"
                .to_string(),
            Hidden::OtherPidNamespace(ruled) => format!(
                "held by no process of this PID namespace whose descriptors were read{}",
                ruled.words(false)
            ),
            Hidden::Unreadable { causes, ruled } => {
                let count = unread::total(causes);
                let whose = if count == 1 {
                    "1 process's".to_string()
                } else {
                    format!("{count} processes'")
                };
                let who = unread::why_and_who(causes);
                let ruled = ruled
                    .as_ref()
                    .map(|r| r.words_beside_unread(count))
                    .unwrap_or_default();
                format!(
                    "held by no process whose descriptors could be read; {whose} could \
                     not{who}{ruled}"
                )
            }
            Hidden::Late(what) => format!(
                "unknown: {what}, so whoport cannot say who holds it (a longer --timeout may \
                 let it finish)"
            ),
            Hidden::InTransit {
                receivers,
                through_io_uring,
                relay,
                unreadable,
                unreadable_pids,
                unread,
            } => {
                let mut to = relay.words(receivers, through_io_uring);
                if let Some(what) = unread {
                    to.push_str(&format!(
                        "; but {what}, and a unix socket on its way may wait there"
                    ));
                }
                let pids = unreadable_pid_list(unreadable_pids, *unreadable);
                let also = match unreadable {
                    0 => String::new(),
                    1 => format!(
                        "; the descriptors of 1 process could not be read ({pids}), and it may \
                         hold it too"
                    ),
                    n => format!(
                        "; the descriptors of {n} processes could not be read ({pids}), and one \
                         of them may hold it too"
                    ),
                };
                format!(
                    "in transit: carried in a unix socket message (SCM_RIGHTS) not yet \
                     received, {to}{also}"
                )
            }
            Hidden::PassedDuringScan { receivers } => {
                let to = if receivers.is_empty() {
                    "to a unix socket no process held".to_string()
                } else {
                    let named: Vec<String> = receivers
                        .iter()
                        .map(|(pid, name)| format!("pid {pid} ({name})"))
                        .collect();
                    format!("to a unix socket held by {}", named.join(", "))
                };
                format!(
                    "passed between processes during the scan: one look saw it in transit in a \
                     unix socket message (SCM_RIGHTS) {to}, and the next looks found it in no \
                     unix socket queue and no descriptor table (received and passed on between \
                     two looks); run whoport again to see who holds it then"
                )
            }
            Hidden::MaybeIoUring {
                rings,
                why,
                otherwise,
            } => {
                let named: Vec<String> = rings
                    .iter()
                    .map(|(pid, name, what)| format!("pid {pid} ({name}) {what}"))
                    .collect();
                let why = why
                    .as_ref()
                    .map(|w| format!(", where whoport could not look ({w})"))
                    .unwrap_or_default();
                format!(
                    "perhaps held by io_uring{why}: {}; otherwise {}",
                    named.join("; "),
                    otherwise.long()
                )
            }
            Hidden::MapsUnread { unread, otherwise } => format!(
                "perhaps held through a memory mapping that whoport could not read: {}; \
                 otherwise {}",
                unread.join("; "),
                otherwise.long()
            ),
        }
    }
}

impl Relay {
    /// Where the message waits, and who will receive it.
    fn words(self, receivers: &[(u32, String)], through_io_uring: &[u32]) -> String {
        let held = if receivers.is_empty() {
            "that no process holds (a connection not yet accepted, or a socket held where \
             whoport could not look)"
                .to_string()
        } else {
            let named: Vec<String> = receivers
                .iter()
                .map(|(pid, name)| {
                    if through_io_uring.contains(pid) {
                        format!("pid {pid} ({name}) as an io_uring registered file")
                    } else {
                        format!("pid {pid} ({name})")
                    }
                })
                .collect();
            format!("held by {}", named.join(", "))
        };
        let nested = "queued to a unix socket that is itself in transit";
        match self {
            Relay::Direct => format!("queued to a unix socket {held}"),
            Relay::Chain(2) => format!("{nested}, queued in turn to a unix socket {held}"),
            Relay::Chain(n) => format!(
                "{nested}: a chain of {n} unix sockets, each queued to the next, the last one {held}"
            ),
            Relay::Cycle => format!(
                "{nested}, in unix sockets queued to each other in a cycle that no process \
                 holds: no process will receive it (the kernel's garbage collector frees \
                 such a cycle)"
            ),
            Relay::Beyond(n) => format!(
                "{nested}, still in transit after {n} unix sockets in a row (not followed \
                 further)"
            ),
        }
    }
}

/// A thread asleep in a system call on a socket whose descriptor it no longer has open (a
/// thread blocked in accept() or recv(), or in poll() or select() on it, when another thread
/// closed the descriptor).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BlockedCall {
    pub pid: u32,
    pub tid: u32,
    /// The system call, when `/proc/PID/task/TID/syscall` showed one whoport knows (for a
    /// poll entry, only a call of the poll()/select() family).
    #[serde(rename = "system_call")]
    pub call: Option<&'static str>,
    /// The descriptor the call was made on, when the call takes one first (never for a poll
    /// entry: its descriptors are in the caller's memory, which whoport does not read). No
    /// descriptor table holds the socket, so that number no longer refers to it.
    pub descriptor: Option<u32>,
    /// Whether the process's table showed that descriptor closed (`false`: taken by another
    /// file since, or the table could not be read).
    #[serde(skip)]
    pub descriptor_closed: bool,
    /// How the thread sits on the socket's wait queue.
    pub wait_entry: WaitEntry,
    /// The thread is an io_uring instance's io-wq worker (`iou-wrk`, from its `stat` flags)
    /// running a request of the process's ring: the request holds the socket, and the worker
    /// makes no system call of its own (`system_call` and `descriptor` are null).
    #[serde(rename = "io_uring_worker")]
    pub io_worker: bool,
    /// The thread waits for data to read from the socket: its wait channel is the datagram
    /// wait (`__skb_wait_for_more_packets`). Said for a call with two files (splice(),
    /// sendfile()): the socket is the one it reads from, and `descriptor` is that one.
    pub reading: bool,
}

/// What of a sleeping thread the socket's wait queue holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WaitEntry {
    /// The thread itself (accept(), recv(), read()...: the call's file reference).
    Thread,
    /// A poll()/select() table entry, which holds its own reference to the file.
    Poll,
}

impl BlockedCall {
    /// "thread 1240 blocked in accept4() on descriptor 5, which it no longer has open" (or
    /// "which no longer refers to this socket" when the table did not show it closed), or
    /// "thread 1241 asleep in poll() on this socket, which none of its descriptors refers to now".
    pub fn words(&self) -> String {
        if self.wait_entry == WaitEntry::Poll {
            let call = self
                .call
                .map_or_else(|| "poll() or select()".to_string(), |c| format!("{c}()"));
            return format!(
                "thread {} asleep in {call} on this socket, which none of its descriptors refers to now",
                self.tid
            );
        }
        if self.io_worker {
            let request = if self.reading {
                "running a request that reads this socket, asleep waiting for a datagram"
            } else {
                "running a request, asleep on this socket"
            };
            return format!("io_uring worker thread {} (iou-wrk) {request}", self.tid);
        }
        let call = self
            .call
            .map_or_else(|| "a system call".to_string(), |c| format!("{c}()"));
        let since = if self.descriptor_closed {
            "which it no longer has open"
        } else {
            "which no longer refers to this socket"
        };
        let two_files = self.call.is_some_and(|c| TWO_FILES.contains(&c));
        match self.descriptor {
            Some(fd) if two_files && self.reading => format!(
                "thread {} blocked in {call} reading this socket from descriptor {fd}, {since}",
                self.tid
            ),
            Some(fd) if !two_files => format!(
                "thread {} blocked in {call} on descriptor {fd}, {since}",
                self.tid
            ),
            _ if two_files => format!(
                "thread {} blocked in {call} with this socket as one of its two files",
                self.tid
            ),
            _ => format!("thread {} blocked in {call}", self.tid),
        }
    }
}

/// The system calls a thread may sleep in with a socket as one of two files: it reads one
/// (its input) and writes the other.
pub const TWO_FILES: &[&str] = &["splice", "sendfile"];

/// The processes whose descriptors could not be read, beside threads named asleep on a
/// socket: each thread's process holds it, and one of these may hold it too (a descriptor
/// table that was not read), which nothing established either way.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnreadHolders {
    /// Some of their PIDs (at most as many as whoport names).
    pub pids: Vec<u32>,
    /// How many.
    pub count: usize,
    /// Why they could not be read: with more than one cause, each group's PIDs beside its
    /// own ("PID 1: refused …; PID 7: …").
    pub why: String,
    /// The same processes, grouped by the cause established for each.
    pub causes: Vec<UnreadCause>,
}

impl UnreadHolders {
    pub fn of(causes: Vec<UnreadCause>) -> UnreadHolders {
        let why = match causes.as_slice() {
            [one] => one.why.clone(),
            _ => unread::grouped(&causes),
        };
        UnreadHolders {
            pids: unread::all_pids(&causes),
            count: unread::total(&causes),
            why,
            causes,
        }
    }

    /// The reason of a socket no process read holds: these processes were not read.
    pub fn hidden(self) -> Hidden {
        Hidden::Unreadable {
            causes: self.causes,
            ruled: None,
        }
    }

    /// "1 process's descriptors could not be read (why): PID 1, which may hold it too"; with
    /// more than one cause, each group's PIDs beside its own.
    pub fn words(&self) -> String {
        let (whose, which) = if self.count == 1 {
            ("1 process's".to_string(), "which may hold it too")
        } else {
            (
                format!("{} processes'", self.count),
                "one of which may hold it too",
            )
        };
        let who = match self.causes.as_slice() {
            [one] => format!("({}): {}", one.why, one.named()),
            _ => format!("({})", self.why),
        };
        format!("{whose} descriptors could not be read {who}, {which}")
    }
}

/// Said of a socket whose wait queue was not read to its end.
pub const SLEEPERS_CUT: &str = "its wait queue was read only to its first 64 entries (as many as \
                                whoport reads of one queue): more threads may be asleep on it, \
                                holding it";

/// A socket with the processes that hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub socket: Socket,
    /// Where it is reachable from ([`Scope::of_socket`]: the bound device counts).
    pub scope: Scope,
    /// Name of the device the socket is bound to (the index when it has no name).
    pub device: Option<String>,
    /// Name of the socket owner uid.
    pub user: Option<String>,
    /// PIDs holding the socket, sorted; details in [`Snapshot::processes`].
    pub owners: Vec<u32>,
    /// Why no owner could be seen, when `owners` is empty.
    pub hidden_reason: Option<Box<Hidden>>,
    /// How the owners hold the socket when not through an ordinary descriptor ("held through
    /// a memory mapping", "held by io_uring").
    pub held_through: Option<&'static str>,
    /// The threads holding it by a system call in progress on a descriptor since closed.
    pub blocked_calls: Vec<BlockedCall>,
    /// The socket's wait queue was not read to its end (more entries than whoport reads):
    /// more threads than `blocked_calls` may be asleep on it, and none is ruled out.
    pub blocked_calls_cut: bool,
    /// Beside the threads of `blocked_calls`: the processes whose descriptors could not be
    /// read, one of which may hold the socket too.
    pub blocked_calls_unread: Option<Box<UnreadHolders>>,
    /// For IPv6 listeners: the kernel's IPV6_V6ONLY (`Some(false)`: it takes IPv4 too);
    /// `None` when it was not reported (`/proc/net`, other systems).
    pub v6only: Option<bool>,
    /// The known program of this port that an owner is (by name, executable or command
    /// line), from the unofficial-uses table; filled once when the snapshot is taken.
    pub known_use: Option<&'static crate::registry::unofficial::UnofficialUse>,
}

/// Everything one look at the machine found.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub listeners: Vec<Listener>,
    pub processes: HashMap<u32, Process>,
    /// Established TCP connections per local port (for the port card).
    pub established: HashMap<u16, usize>,
    /// Sockets whose owners could not be seen.
    pub hidden: usize,
    /// Whether whoport ran as root.
    pub root: bool,
    /// Where the sockets came from: "netlink", "/proc/net", or "netlink+/proc/net" (UDP from
    /// /proc/net).
    pub source: &'static str,
    /// How socket owners were found: "bpf" (the in-kernel iterator), "procfs" (the /proc
    /// walk), or "system" where the socket listing names them; a lookup that did not answer
    /// in time, the method it was using then (`None`: it had begun none).
    pub owner_lookup: Option<&'static str>,
    /// What whoport could not see, or did differently, said once.
    pub notes: Vec<String>,
    /// Processes seen in other network namespaces (which have ports of their own).
    pub other_netns: usize,
    /// For a program query (`whoport nginx`): the listeners left out only because no owner
    /// of theirs could be named (another user's, as non-root): any may be that program's.
    pub unattributed: Vec<Listener>,
    /// The processes `--pid` or `--process` asked for whose descriptors could not be read
    /// (some of their PIDs, and how many): they may hold any listener, one named as another
    /// process's among them, or none.
    pub asked_unread: (Vec<u32>, usize),
    /// Of `asked_unread`'s count, those `--pid` or `--process` ask for (or `--user` alone):
    /// beside `--user`, the others may be that user's processes sharing a listener with them.
    pub asked_by_owner: usize,
    /// Of `asked_unread`'s count, beside `--pid` or `--process`, those that may act as the
    /// `--user` asked for (all of them with `--user` alone; none without `--user`).
    pub asked_of_user: usize,
    /// With `--user`: whether a listener whose owner could not be seen may be that user's
    /// (some unread process may act as that user, or `/proc` hides processes from this one).
    pub user_unread: bool,
    /// Sockets the dump returned that the kernel no longer had when asked again (closed during
    /// the scan, as under `SO_REUSEPORT` churn): not listeners any more, so neither rows of the
    /// listing, nor the card's, nor judged by the audit; counted in the totals and kept,
    /// marked, in `--json`. Sorted as `listeners`.
    pub closed: Vec<Listener>,
}

impl Listener {
    /// For a listener kept as possibly the owner a query asks for by name or PID: why whose
    /// it is is unknown. Its owner's hidden reason; or, where owners were seen, those whose
    /// names were not read, each with its placeholder (`pid 4242 [/proc/4242 covered by a
    /// mount]`).
    pub fn unattributed_reason(&self, processes: &HashMap<u32, Process>) -> Option<String> {
        if self.owners.is_empty() {
            return self.hidden_reason.as_deref().map(Hidden::long);
        }
        let unnamed: Vec<&Process> = self
            .owners
            .iter()
            .filter_map(|pid| processes.get(pid))
            .filter(|p| p.name_unknown)
            .collect();
        // The first few named, the rest counted (a process may fork thousands of children
        // that share its socket, each covered).
        const NAMED: usize = 8;
        let mut words: Vec<String> = unnamed
            .iter()
            .take(NAMED)
            .map(|p| format!("pid {} {}", p.pid, p.name))
            .collect();
        if unnamed.len() > NAMED {
            words.push(format!("{} more", unnamed.len() - NAMED));
        }
        let whose = if unnamed.len() == 1 {
            "whose name"
        } else {
            "whose names"
        };
        (!unnamed.is_empty())
            .then(|| format!("held by {}, {whose} could not be read", words.join(", ")))
    }

    /// Was this socket gone when the kernel was asked again (no owner, and the reason says so)?
    pub fn closed_during_scan(&self) -> bool {
        self.owners.is_empty() && self.hidden_reason.as_deref() == Some(&Hidden::ClosedDuringScan)
    }
}

/// What is shown for a process whose kernel name is empty (`prctl(PR_SET_NAME, "")`).
/// The PIDs of `count` processes whose descriptors could not be read, of which only `pids` were
/// kept: "PID 1", "PIDs 1, 2", or "PIDs 1, 2 and 81 more" when the list is a part.
pub fn unreadable_pid_list(pids: &[u32], count: usize) -> String {
    let named: Vec<String> = pids.iter().map(u32::to_string).collect();
    let word = if named.len() == 1 { "PID" } else { "PIDs" };
    let more = count.saturating_sub(named.len());
    match (named.is_empty(), more) {
        (_, 0) => format!("{word} {}", named.join(", ")),
        (true, _) => "PIDs not kept".to_string(),
        (false, _) => format!("{word} {} and {more} more", named.join(", ")),
    }
}

pub const EMPTY_NAME: &str = "(empty name)";

/// Shown for an executable whose path is longer than the kernel gives (PATH_MAX).
pub const EXE_TOO_LONG: &str = "[path longer than the kernel gives: not read]";

/// The sanitized-free, full name of a process: the kernel's `comm` is cut at 15 bytes, so
/// when it is a prefix of the executable's or `argv[0]`'s base name, that longer name wins.
pub fn full_name(comm: &str, exe: Option<&str>, argv0: Option<&str>) -> String {
    let base = |p: &str| -> String { p.rsplit('/').next().unwrap_or(p).to_string() };
    let candidates: Vec<String> = [exe, argv0]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .map(base)
        .collect();
    if comm.is_empty() {
        return candidates
            .into_iter()
            .next()
            .unwrap_or_else(|| "[unknown]".to_string());
    }
    if comm.len() >= 15 {
        if let Some(longer) = candidates
            .into_iter()
            .find(|c| c.len() > comm.len() && c.starts_with(comm))
        {
            return longer;
        }
    }
    comm.to_string()
}

impl Process {
    /// The name to show a person: the exact escaped form when the bytes were not UTF-8;
    /// `(empty name)` for a process whose kernel name is empty.
    pub fn display_name(&self) -> &str {
        match self.name_escaped.as_deref() {
            Some(escaped) => escaped,
            None if self.name.is_empty() => EMPTY_NAME,
            None => &self.name,
        }
    }

    /// The executable to show a person, likewise.
    pub fn display_exe(&self) -> Option<&str> {
        self.exe_escaped.as_deref().or(self.exe.as_deref())
    }

    /// [`Process::display_exe`], or what stands for a path longer than the kernel gives.
    pub fn exe_words(&self) -> Option<&str> {
        self.display_exe()
            .or(self.exe_state.path_too_long.then_some(EXE_TOO_LONG))
    }

    /// Why what stands at the path of its deleted executable now is not known, when it is
    /// not: "was not looked at (...)" or "could not be looked at: ...".
    pub fn exe_path_unknown(&self) -> Option<String> {
        let s = &self.exe_state;
        if !s.deleted || s.replaced || s.memory_only {
            return None;
        }
        if s.path_unchecked {
            // Its mount namespace as the cause, when it is (not the way to the path).
            let why = match (s.proc_covered, s.follow_unsure) {
                (Some(link), _) => Some(format!(
                    "something is mounted over /proc/{}/{link}, which whoport does not read \
                     through",
                    self.pid
                )),
                (None, Some(link)) => Some(format!(
                    "whoport could not make sure that nothing was mounted over /proc/{}/{link} \
                     when it followed it",
                    self.pid
                )),
                (None, None) if s.mount_elsewhere => Some(
                    "its path leads to another mount than the one its file is on: a mount of \
                     another mount namespace, or one detached or covered since"
                        .to_string(),
                ),
                (None, None) => s.other_mount_ns.then(|| OTHER_MOUNT_NS.to_string()),
            };
            return Some(match why {
                Some(why) => format!("was not looked at ({why})"),
                // Its path, from the mapping of its code, may not have been read whole.
                None if s.path_too_long => "was not looked at".to_string(),
                None => "was not looked at (the way to it crosses a filesystem that may not \
                         answer)"
                    .to_string(),
            });
        }
        let errno = s.path_lookup_failed?;
        Some(format!("could not be looked at: {}", lookup_failure(errno)))
    }

    /// The command line to show a person, likewise.
    pub fn display_cmdline(&self) -> &[String] {
        self.cmdline_escaped.as_deref().unwrap_or(&self.cmdline)
    }

    /// A PID whose `/proc` directory shows another process: a directory was mounted over it
    /// (a way to hide a process), and nothing read there is this process's.
    pub fn covered(pid: u32) -> Process {
        Process {
            pid,
            name: format!("[/proc/{pid} covered by a mount]"),
            not_read: true,
            name_unknown: true,
            hidden_by_mount: Some(format!("/proc/{pid}")),
            ..Process::default()
        }
    }

    /// A PID whose `/proc/PID/FILE` (`stat`, `status`, `cmdline`, `cgroup`) has a file
    /// mounted over it: what it holds is whoever mounted it's, and nothing read of the
    /// process is believed.
    pub fn covered_file(pid: u32, file: &str) -> Process {
        Process {
            pid,
            name: format!("[/proc/{pid}/{file} covered by a mount]"),
            name_unknown: true,
            hidden_by_mount: Some(format!("/proc/{pid}/{file}")),
            ..Process::default()
        }
    }

    /// A live process whose `/proc` directory or files `/proc` does not show this user
    /// (mounted with `hidepid=HOW`): nothing of it is read.
    pub fn hidden(pid: u32, how: &str) -> Process {
        Process {
            pid,
            name: format!("[/proc/{pid} hidden from this user (hidepid={how})]"),
            name_unknown: true,
            ..Process::default()
        }
    }

    /// A PID that now belongs to another process than the one holding the socket.
    pub fn changed(pid: u32) -> Process {
        Process {
            pid,
            name: "[process changed during scan]".to_string(),
            not_read: true,
            name_unknown: true,
            ..Process::default()
        }
    }
}

/// Bytes as exact, reversible text: valid UTF-8 stays (but `\` becomes `\\`), control
/// characters and bytes that are not UTF-8 become `\xNN`.
pub fn escape_bytes(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                c if c.is_control() && (c as u32) < 0x100 => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// The escaped form of `bytes`, only when they are not UTF-8.
pub fn escaped_if_invalid(bytes: &[u8]) -> Option<String> {
    std::str::from_utf8(bytes)
        .is_err()
        .then(|| escape_bytes(bytes))
}

/// Sorts `items` into the order `sort_by` gives (stable), with a scratch list of indices
/// instead of a copy of the items: listeners and findings take hundreds of bytes each, and a
/// machine may have tens of thousands.
pub fn sort_stable_by<T>(items: &mut [T], mut compare: impl FnMut(&T, &T) -> std::cmp::Ordering) {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&a, &b| compare(&items[a], &items[b]));
    permute(items, order);
}

/// The order [`sort_stable_by`] would put `items` in when comparing their keys, as their
/// indices (`order[k]` is the index of the item that belongs at `k`), for items to be made in
/// their place rather than moved there. The keys are taken once, side by side: each
/// comparison reads two keys next to each other, not two items hundreds of bytes apart.
pub fn stable_order_by_key<T, K: Ord>(items: &[T], key: impl Fn(&T) -> K) -> Vec<usize> {
    let mut keyed: Vec<(K, usize)> = items.iter().map(&key).zip(0..).collect();
    // The index makes every pair distinct: an unstable sort keeps equal keys in their order.
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// Moves `items` into the order `order` gives: `order[k]` is the index of the item that
/// belongs at `k`.
fn permute<T>(items: &mut [T], mut order: Vec<usize>) {
    const PLACED: usize = usize::MAX;
    // `order[k]` is the index of the item that belongs at `k`: move items one cycle of the
    // permutation at a time.
    for start in 0..order.len() {
        let mut at = start;
        while order[at] != PLACED {
            let from = order[at];
            order[at] = PLACED;
            if from == start {
                break;
            }
            items.swap(at, from);
            at = from;
        }
    }
}

#[cfg(test)]
mod tests;
