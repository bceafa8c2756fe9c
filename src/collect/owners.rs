//! Who holds which socket: one answer (socket inode -> PIDs), found by the in-kernel BPF
//! iterator or by the `/proc` walk, the method chosen once from cheap facts and kept with its
//! reason in the snapshot.

use super::bpf;
use super::deadline::{Deadline, UnderWay};
use super::linux::{self, InodeOwners};

/// The owner lookup's answer, how it was found, and why not the other way when that was tried.
#[derive(Debug)]
pub struct Lookup {
    pub owners: Result<InodeOwners, String>,
    /// "bpf" or "procfs".
    pub method: &'static str,
    /// Set when the iterator was tried and refused: what the kernel said.
    pub note: Option<String>,
    /// The loaded iterator when it found the owners, for the second look.
    pub iterator: Option<bpf::Loaded>,
}

/// Below this many open files on the machine (`/proc/sys/fs/file-nr`), the walk is cheaper
/// than loading and verifying the iterator (measured: docs/benchmarks.md).
pub const CROSSOVER_FILES: u64 = 6_000;

/// A walk chosen for a machine with few open files stops once it has listed this many
/// descriptors, and the iterator answers instead: descriptors can outnumber files without
/// bound (`dup`). Measured (docs/benchmarks.md): at 11,679 descriptors the walk still took
/// less CPU than the iterator (62 against 69 ms), at 52,280 twice as much; past this bound
/// the walk costs little more than the iterator, so the worst case is about twice its cost.
pub const CROSSOVER_DESCRIPTORS: u64 = 16_000;

/// What the environment asks for (`WHOPORT_NO_BPF=1`, `WHOPORT_OWNER_LOOKUP=bpf|procfs|auto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preference {
    /// Choose by cost.
    Auto,
    /// The iterator whenever it can load, whatever the machine's size.
    Bpf,
    /// Always the walk.
    Procfs,
}

impl Preference {
    pub fn from_env() -> Preference {
        let var = |name| std::env::var(name).unwrap_or_default();
        let no_bpf = var("WHOPORT_NO_BPF");
        if !no_bpf.is_empty() && no_bpf != "0" {
            return Preference::Procfs;
        }
        match var("WHOPORT_OWNER_LOOKUP").as_str() {
            "bpf" => Preference::Bpf,
            "procfs" => Preference::Procfs,
            _ => Preference::Auto,
        }
    }
}

/// `WHOPORT_NO_BPF` comes before `WHOPORT_OWNER_LOOKUP`: when both ask (one to never use
/// BPF, the other for the iterator), the walk answers and this note says so.
fn overruled() -> Option<String> {
    let var = |name| std::env::var(name).unwrap_or_default();
    let no_bpf = var("WHOPORT_NO_BPF");
    (!no_bpf.is_empty() && no_bpf != "0" && var("WHOPORT_OWNER_LOOKUP") == "bpf").then(|| {
        "WHOPORT_NO_BPF is set: the /proc walk was used although WHOPORT_OWNER_LOOKUP=bpf"
            .to_string()
    })
}

/// Finds every socket's owners with the cheapest method that works here.
///
/// By cost (`Auto`), a machine with few open files is walked, but the walk gives up past
/// [`CROSSOVER_DESCRIPTORS`], whatever the count of files says, and the iterator answers
/// instead: descriptors that share one file (`dup`) are cheap to make and cost the walk one
/// `readlinkat` each, so an unprivileged user cannot make the walk outlast its deadline.
///
/// By cost, where the iterator cannot work (no privilege, no BTF) it is not tried and nothing
/// is said; asked for (`WHOPORT_OWNER_LOOKUP=bpf`), it is tried whatever whoport's privileges,
/// and the note says why it could not be used, with the kernel's errno.
///
/// A walk stops at `stop` and answers with the owners it found by then. `under_way` says
/// which method is running. The iterator tells `told` of each holder as it finds it.
pub fn lookup(stop: Deadline, under_way: &UnderWay, told: bpf::Told<'_>) -> Lookup {
    let walk = |stop| {
        under_way.begin("procfs");
        walk(stop)
    };
    let preference = Preference::from_env();
    if preference == Preference::Procfs {
        return Lookup {
            note: overruled(),
            ..walk(stop)
        };
    }
    if preference == Preference::Auto && !iterator_permitted() {
        return walk(stop);
    }
    if let Err(why) = super::btf_file::present() {
        return Lookup {
            note: Some(format!(
                "the in-kernel owner lookup asked for (WHOPORT_OWNER_LOOKUP=bpf) could not be \
                 used: the kernel has no BTF ({KERNEL_BTF}: {why}); processes were found through \
                 /proc instead"
            )),
            ..walk(stop)
        };
    }
    let small = open_files().is_none_or(|n| n < CROSSOVER_FILES);
    if let Err(why) = pids_as_proc_numbers_them() {
        if preference == Preference::Auto && small {
            return walk(stop);
        }
        return Lookup {
            note: Some(format!(
                "the in-kernel owner lookup was not used ({why}); processes were found \
                 through /proc instead"
            )),
            ..walk(stop)
        };
    }
    if preference == Preference::Auto && small {
        under_way.begin("procfs");
        match linux::walk_fds_within(&linux::Budget::new(CROSSOVER_DESCRIPTORS)) {
            Ok(Some(owners)) => return walked(Ok(owners)),
            Err(e) => return walked(Err(e.to_string())),
            // More descriptors than the walk is worth: the iterator costs less.
            Ok(None) => {}
        }
    }
    let began = super::unvisited::boot_ticks();
    under_way.begin("bpf");
    match bpf::socket_owners(told) {
        Ok((mut owners, iterator)) => {
            // What the iterator did not visit was not read: read through /proc instead, or
            // counted as not read.
            let unvisited = super::unvisited::read(&owners.visited, began, None);
            super::unvisited::absorb(&mut owners, unvisited);
            Lookup {
                owners: Ok(owners),
                method: "bpf",
                note: None,
                iterator: Some(iterator),
            }
        }
        Err(e) => {
            let privilege = if may_use_bpf() {
                ""
            } else {
                "; it needs CAP_SYS_ADMIN, or CAP_BPF with CAP_PERFMON, and whoport has \
                 neither (run as root)"
            };
            Lookup {
                note: Some(format!(
                    "the in-kernel owner lookup was refused ({}){privilege}; processes were \
                     found through /proc instead",
                    bpf::explain(&e)
                )),
                ..walk(stop)
            }
        }
    }
}

/// The kernel's BTF, which the iterator needs.
const KERNEL_BTF: &str = super::btf_file::PATH;

/// The full walk, which stops at `stop` with what it found by then (see
/// [`linux::walk_fds_until`]).
fn walk(stop: Deadline) -> Lookup {
    walked(linux::walk_fds_until(stop).map_err(|e| e.to_string()))
}

fn walked(owners: Result<InodeOwners, String>) -> Lookup {
    Lookup {
        owners,
        method: "procfs",
        note: None,
        iterator: None,
    }
}

/// Whether the iterator can work here; everything checked is one small read, and none of it
/// is a refusal worth a note.
/// Whether the owner lookup will most likely run in the kernel (what [`lookup`] decides
/// first, from the same cheap signals; the walk may still give up for the iterator, and the
/// iterator may still be refused).
pub fn iterator_likely() -> bool {
    match Preference::from_env() {
        Preference::Procfs => false,
        Preference::Bpf => true,
        Preference::Auto => {
            iterator_permitted() && open_files().is_some_and(|n| n >= CROSSOVER_FILES)
        }
    }
}

fn iterator_permitted() -> bool {
    may_use_bpf() && super::btf_file::present().is_ok()
}

/// Allocated file handles on the machine: what the walk's cost grows with.
fn open_files() -> Option<u64> {
    let text = String::from_utf8(super::proc_dir::read_whole("/proc/sys/fs/file-nr")?).ok()?;
    text.split_ascii_whitespace().next()?.parse().ok()
}

/// Whether the kernel may be asked for `what` (a look the second look makes in the kernel):
/// not when `WHOPORT_NO_BPF` is set, nor without the capabilities, and then why, in words that
/// say what `what` needs and, to root without them, that it lacks them (not to run as root).
pub fn kernel_may_be_asked(what: &str) -> Result<(), String> {
    let no_bpf = std::env::var("WHOPORT_NO_BPF").unwrap_or_default();
    if !no_bpf.is_empty() && no_bpf != "0" {
        return Err("WHOPORT_NO_BPF is set".to_string());
    }
    if may_use_bpf() {
        return Ok(());
    }
    let caps = "CAP_SYS_ADMIN, or CAP_BPF with CAP_PERFMON";
    Err(if super::is_root() {
        format!("{what} needs {caps}, which whoport lacks although it runs as root")
    } else {
        format!("{what} needs {caps} (run as root)")
    })
}

/// The effective capabilities an iterator needs: CAP_SYS_ADMIN, or CAP_BPF with CAP_PERFMON.
pub fn may_use_bpf() -> bool {
    own_capabilities().is_some_and(has_bpf_caps)
}

/// Whoport's own effective capabilities (bit N for capability N, as `CapEff` shows them),
/// asked of the kernel (`capget`), never read from a file below `/proc` that a mount may
/// cover.
pub fn own_capabilities() -> Option<u64> {
    rustix::thread::capabilities(None)
        .ok()
        .map(|sets| sets.effective.bits())
}

pub fn has_bpf_caps(caps: u64) -> bool {
    const SYS_ADMIN: u64 = 1 << 21;
    const PERFMON: u64 = 1 << 38;
    const BPF: u64 = 1 << 39;
    caps & SYS_ADMIN != 0 || (caps & BPF != 0 && caps & PERFMON != 0)
}

/// The iterators name a process by `task->tgid`, its PID in the initial PID namespace. Those
/// are the PIDs whoport reads in `/proc` when whoport itself runs in the initial PID
/// namespace (its `ns/pid` link is the kernel's fixed `PROC_PID_INIT_INO`) and its `/proc`
/// numbers processes the same way (`NSpid` lists one PID: the `/proc` mount's namespace is
/// whoport's own), and also whenever `/proc` shows kthreadd as PID 2: kernel threads live only
/// in the initial PID namespace, so that `/proc` is the initial namespace's, whatever
/// namespace whoport runs in (`unshare -p -f` without `--mount-proc`). Inside a container's
/// PID namespace with a `/proc` of its own, even one that shows one `NSpid`, a host PID names
/// nothing or another process: `Err` says why.
pub fn pids_as_proc_numbers_them() -> Result<(), String> {
    own_pid_namespace_is_procs().or_else(|why| {
        if proc_is_the_initial_namespaces() {
            Ok(())
        } else {
            Err(why)
        }
    })
}

/// `/proc` shows a kernel thread as PID 2 (kthreadd): it numbers processes as the initial PID
/// namespace does (no other namespace has kernel threads).
pub fn proc_is_the_initial_namespaces() -> bool {
    super::unvisited::kernel_thread(2)
}

/// Whoport runs in the initial PID namespace, and its `/proc` is that namespace's.
fn own_pid_namespace_is_procs() -> Result<(), String> {
    /// include/linux/proc_ns.h: the initial PID namespace's inode, the same on every boot.
    const INITIAL_PID_NAMESPACE: &str = "pid:[4026531836]";
    // Never across a mount (see `proc_dir::read_link`): a link or file mounted over whoport's
    // own is not its namespace.
    let link = super::proc_dir::read_link("/proc/self/ns/pid").map_err(|e| {
        format!(
            "whoport's PID namespace could not be read: {}",
            std::io::Error::from(e)
        )
    })?;
    let link = String::from_utf8_lossy(&link);
    if link != INITIAL_PID_NAMESPACE {
        return Err(format!(
            "whoport runs inside a PID namespace ({link}), and the kernel names processes \
             by their PIDs outside it"
        ));
    }
    let status = super::proc_dir::read_whole("/proc/self/status")
        .and_then(|s| String::from_utf8(s).ok())
        .ok_or("/proc/self/status could not be read (or something is mounted over it)")?;
    match field(&status, "NSpid:").map(|v| v.split_ascii_whitespace().count()) {
        Some(1) => Ok(()),
        _ => Err("/proc numbers processes in another PID namespace than whoport's".to_string()),
    }
}

fn field<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_that_allow_an_iterator() {
        assert!(has_bpf_caps(0x1ff_ffff_ffff));
        assert!(has_bpf_caps(1 << 21));
        assert!(has_bpf_caps((1 << 38) | (1 << 39)));
        assert!(
            !has_bpf_caps(1 << 39),
            "CAP_BPF alone cannot read task files"
        );
        assert!(!has_bpf_caps(0));
    }

    #[test]
    fn status_fields() {
        let status = "Name:\tx\nNSpid:\t42\t7\nCapEff:\t000001ffffffffff\n";
        assert_eq!(field(status, "NSpid:"), Some("42\t7"));
        assert_eq!(field(status, "CapEff:"), Some("000001ffffffffff"));
        assert_eq!(field(status, "Missing:"), None);
    }
}
