//! Looking at the machine: sockets from the kernel, the processes holding them, filters.

#[cfg(target_os = "linux")]
pub mod activity;
#[cfg(target_os = "linux")]
pub mod blocked;
#[cfg(target_os = "linux")]
pub mod bpf;
#[cfg(target_os = "linux")]
pub mod btf;
#[cfg(target_os = "linux")]
mod btf_file;
#[cfg(target_os = "linux")]
mod churn;
#[cfg(target_os = "linux")]
mod credentials;
pub mod deadline;
pub mod descriptors;
#[cfg(target_os = "linux")]
pub mod diag;
#[cfg(target_os = "linux")]
pub mod exe;
mod filter;
pub mod filtered;
#[cfg(target_os = "linux")]
mod identity;
#[cfg(target_os = "linux")]
pub mod in_flight;
#[cfg(target_os = "linux")]
pub mod io_uring;
#[cfg(target_os = "linux")]
mod kcmp;
pub mod kernel_owned;
#[cfg(target_os = "linux")]
pub mod linux;
#[cfg(target_os = "linux")]
mod maps;
#[cfg(target_os = "linux")]
mod missed;
#[cfg(target_os = "linux")]
mod mounted_netns;
#[cfg(target_os = "linux")]
pub mod moving;
#[cfg(target_os = "linux")]
pub mod netns;
#[cfg(target_os = "linux")]
mod own_tables;
#[cfg(target_os = "linux")]
pub mod ownerless;
#[cfg(target_os = "linux")]
pub mod owners;
pub mod port_table;
#[cfg(target_os = "linux")]
pub(crate) mod proc_dir;
pub mod process;
pub mod procnet;
#[cfg(target_os = "linux")]
mod ring_clues;
#[cfg(target_os = "linux")]
mod ring_fdinfo;
#[cfg(target_os = "linux")]
mod second_look;
#[cfg(target_os = "linux")]
mod socket_netns;
pub mod sockets;
mod spread;
pub mod steering;
#[cfg(target_os = "linux")]
mod task_facts;
#[cfg(target_os = "linux")]
mod unvisited;
#[cfg(target_os = "linux")]
pub mod userns;
#[cfg(target_os = "linux")]
mod view;
mod walk_order;

use crate::hash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::sync::atomic::AtomicBool;

use crate::address::DeviceNames;
use crate::error::CollectError;
use crate::model::{Hidden, Listener, Process, Scope, Snapshot, Socket};
use crate::port::Protocol;
use crate::registry::known;
use deadline::{Deadline, UnderWay};
pub use filter::{is_program, Filter};
use process::UserNames;
pub use process::{uid_of_name_now, user_name};

/// The cores whoport may run on (its CPU affinity), at least 1. Not the standard library's
/// `available_parallelism`, which also reads the cgroup's CPU quota from files below
/// /sys/fs/cgroup, on whatever filesystem is mounted there: a FUSE file over one (an LXCFS
/// whose daemon stopped) held every run before it printed anything. Asked once a run (the
/// details' reading asks at each owner it is handed).
pub(crate) fn cores() -> usize {
    #[cfg(target_os = "linux")]
    {
        static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        *CORES.get_or_init(|| {
            rustix::thread::sched_getaffinity(None)
                .map_or(1, |set| set.count() as usize)
                .max(1)
        })
    }
    #[cfg(not(target_os = "linux"))]
    {
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    }
}

/// The process (thread group) `pid` is a thread of, when it is a thread other than its
/// process's main one: `/proc` answers for a thread's id too (`/proc/TID`, unlisted), and tools
/// such as `top -H` show thread ids. `None` when it is a process's own PID, or unknown.
pub fn thread_group_of(pid: u32) -> Option<u32> {
    #[cfg(target_os = "linux")]
    {
        let dir = proc_dir::ProcDir::open(pid).ok()?;
        let mut buf = Vec::new();
        if !dir.read("status", &mut buf) {
            return None;
        }
        let line = buf
            .split(|&b| b == b'\n')
            .find(|l| l.starts_with(b"Tgid:"))?;
        let tgid: u32 = std::str::from_utf8(&line[5..]).ok()?.trim().parse().ok()?;
        (tgid != pid && tgid != 0).then_some(tgid)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        None
    }
}

/// How long past the deadline the owner lookup is waited for, by the method it was using
/// then: a `/proc` walk stops itself before the deadline and may be handing over what it found
/// ([`deadline::HANDING_OVER`]); the in-kernel lookup does not stop early, and is not waited for.
fn handing_over(step: Option<&str>) -> Option<std::time::Duration> {
    (step == Some("procfs")).then_some(deadline::HANDING_OVER)
}

/// What a listing is sorted by: port, protocol, address, state.
pub(crate) fn listing_key(s: &Socket) -> (u16, Protocol, std::net::IpAddr, Option<&'static str>) {
    (s.port, s.protocol, s.address, s.state)
}

/// One look at the machine.
pub fn collect(filter: &Filter) -> Result<Snapshot, CollectError> {
    collect_beside(filter, || ()).map(|(snapshot, ())| snapshot)
}

/// One look at the machine, with `beside` run on the caller's thread while it waits for the
/// owner lookup (after the socket dump): what the caller needs afterwards and can make
/// meanwhile, at no cost to the look.
pub fn collect_beside<T>(
    filter: &Filter,
    beside: impl FnOnce() -> T,
) -> Result<(Snapshot, T), CollectError> {
    // Too few descriptors make a process that could not be opened look exited, and a table
    // not read look empty: no look rather than that.
    if let Some(limit) = descriptors::short() {
        return Err(CollectError::Descriptors {
            limit,
            needed: descriptors::NEEDED,
        });
    }
    let want = sockets::Want {
        tcp: filter.tcp,
        udp: filter.udp,
        udplite: filter.udplite,
        ipv4: filter.ipv4,
        ipv6: filter.ipv6,
    };
    let deadline = Deadline::start();
    let limit = deadline::limit();
    // The route_localnet settings are read once for this listing, on first use.
    crate::address::local::read_localnet_again();
    steering::read_again();
    #[cfg(target_os = "linux")]
    identity::read_again();
    // The descriptor walk does not need to know which sockets there are: it runs while the
    // kernel dumps the socket tables.
    static WALKING: AtomicBool = AtomicBool::new(false);
    // A walk stops at three quarters of the time with the owners it found (facts, kept): the
    // rest of the time is for the processes' details.
    let stop = Deadline::after(limit.duration - limit.duration / 4);
    // Which method the lookup is using, for what is said when it does not answer in time.
    let under_way = std::sync::Arc::new(UnderWay::default());
    let running = std::sync::Arc::clone(&under_way);
    // The owners' details are read as the in-kernel lookup finds them, once the dump below
    // says which sockets are shown.
    let reading = process::Reading::new();
    #[cfg(target_os = "linux")]
    let shown = process::Shown::new(&reading);
    #[cfg(target_os = "linux")]
    let mut ahead = process::Ahead::new(std::sync::Arc::clone(&shown));
    let walk = deadline::Pending::start(Some(&WALKING), move || {
        #[cfg(target_os = "linux")]
        return lookup_owners(stop, &running, &mut |pid, inode, start| {
            ahead.holds(pid, inode, start)
        });
        #[cfg(not(target_os = "linux"))]
        return lookup_owners(stop, &running);
    });
    // Connections are counted, not kept, unless they are asked for.
    let keep = if filter.all_states {
        sockets::Keep::All
    } else {
        sockets::Keep::Listeners
    };
    // A query for a few ports is given only their sockets where the owner lookup is likely
    // to run in the kernel: the walk's note on other network namespaces needs every socket
    // of the tables, dumped here in parallel with it rather than after it.
    #[cfg(target_os = "linux")]
    let in_kernel = owners::iterator_likely();
    #[cfg(not(target_os = "linux"))]
    let in_kernel = true;
    let ports = if in_kernel {
        filter.asked_ports()
    } else {
        Vec::new()
    };
    // And a listing of every port that shows no connection is given only TCP's listeners
    // there: connections are counted only for a port's card, and the in-kernel lookup says
    // itself which sockets are of another namespace (a walk after all dumps every table again
    // for its note, as after a dump of some ports).
    let listening_only = in_kernel && filter.ports.is_none() && !filter.all_states;
    let found = sockets::enumerate_counting(want, keep, (&ports, listening_only));
    // The holders of the sockets shown are read from here on, as the lookup finds them.
    #[cfg(target_os = "linux")]
    shown.show(found.as_ref().map_or_else(
        |_| HashSet::new(),
        |listing| {
            listing
                .found
                .iter()
                .filter(|(s, _)| filter.wants_socket(s))
                .map(|(s, _)| s.inode)
                .collect()
        },
    ));
    // What the details of the owners will need once a run, read while the lookup runs: on a
    // thread never waited for (the system's directories of interpreters are read there, as
    // they would be by the details' workers, which the deadline abandons).
    #[cfg(target_os = "linux")]
    let _ = std::thread::Builder::new()
        .name("once-a-run".into())
        .spawn(process::read_once_a_run);
    // What `beside` takes (the registry, which may be a pipe the user fills slowly) is not
    // the machine's to answer: it does not shorten the time given to the owners' details,
    // as it did not when the registry was loaded before the look.
    let began = std::time::Instant::now();
    let made = beside();
    let deadline = deadline.later_by(began.elapsed());
    // The listing's rows take a few hundred bytes each: their memory is taken, and written
    // once (each page the kernel gives on its first write), while the lookup runs.
    let rows = found.as_ref().map_or(0, |listing| {
        listing
            .found
            .iter()
            .filter(|(s, _)| filter.wants_socket(s))
            .count()
    });
    let mut listeners: Vec<Listener> = Vec::with_capacity(rows);
    listeners
        .spare_capacity_mut()
        .fill_with(std::mem::MaybeUninit::zeroed);
    // A walk stops itself at `stop`, before the deadline, and hands over what it found: on a
    // loaded machine that may come a little after the deadline, and is waited for.
    let answered = walk.wait_then(deadline, || handing_over(under_way.step()));
    let mut notes = Vec::new();
    let mut late_lookup = None;
    // A lookup that did not answer in time is said to be the method it was using then (none
    // when it had begun none).
    let mut late_method = None;
    let lookup = answered.unwrap_or_else(|| {
        let late = format!("the owner lookup did not finish within {}", limit.text);
        notes.push(late.clone());
        late_lookup = Some(late.clone());
        late_method = Some(under_way.step());
        Lookup {
            owners: Err(late),
            ..failed_lookup()
        }
    });
    let owner_lookup = late_method.unwrap_or(Some(lookup.method));
    notes.extend(lookup.note.clone());
    let walk = lookup.owners;
    #[cfg(target_os = "linux")]
    if let Ok(held) = &walk {
        if let Some(late) = linux::stopped_words(held, limit) {
            notes.push(late.clone());
            late_lookup = Some(late);
        }
    }
    // One load of the BPF objects for every in-kernel look after the owner lookup: its own
    // when it ran in the kernel, otherwise made by the first look that needs it.
    #[cfg(target_os = "linux")]
    let via_iterator = lookup.iterator.is_some();
    #[cfg(target_os = "linux")]
    let mut shared = bpf::Shared::new(lookup.iterator);
    let skipped = found.as_ref().map_or(0, |listing| listing.skipped);
    if skipped > 0 {
        notes.push(format!(
            "{skipped} sockets were skipped: their process could not be read any more \
             (it exited during the scan)"
        ));
    }
    #[cfg_attr(not(target_os = "linux"), allow(unused_mut))]
    let (listing, source) = from_best_source(found, (filter, keep), &mut notes)?;
    let narrowed = listing.narrowed();
    #[cfg(not(target_os = "linux"))]
    let _ = narrowed;
    #[cfg_attr(not(target_os = "linux"), allow(unused_mut))]
    let sockets::Listing {
        mut found,
        mut seen,
        ..
    } = listing;
    // A TCP listener the in-kernel lookup saw held that no dump returned (a chunk resumed
    // past it) is asked for again by its port.
    #[cfg(target_os = "linux")]
    if let (Ok(held), "netlink") = (&walk, source) {
        if let Err(e) = missed::ask_again(&held.listeners, filter, &mut found, &mut seen) {
            notes.push(format!(
                "a listener the owner lookup saw held was not in the socket dump, and could \
                 not be asked for again: {e}"
            ));
        }
    }
    #[cfg(target_os = "linux")]
    if filter.all_states && filter.tcp {
        match diag::bound_inactive(filter.ipv4, filter.ipv6) {
            Ok(bound) => found.extend(bound.into_iter().map(|s| (s, Vec::new()))),
            Err(e) => notes.push(format!(
                "bound but inactive TCP sockets could not be listed: {e}"
            )),
        }
    }
    if source != "netlink" && source != "system" {
        notes.push(
            "sockets read from /proc/net do not say which device they are bound to, nor \
             whether an IPv6 socket takes IPv4 too"
                .to_string(),
        );
    }
    #[cfg(target_os = "linux")]
    if let (Ok(held), "netlink") = (&walk, source) {
        let kernel_view = via_iterator.then_some(netns::KernelView {
            socket_netns: &held.socket_netns,
            visited: &held.visited,
            elsewhere: &held.other_netns_pids,
        });
        notes.extend(netns::notes_for(
            &held.pids,
            (kernel_view, &mut shared),
            (&seen.inodes, narrowed),
            filter,
        ));
    }
    #[cfg(target_os = "linux")]
    if let Ok(held) = &walk {
        notes.extend(netns::covered_note(&held.netns_covered));
    }
    let established = seen.established;
    let mut candidates: Vec<(Socket, Vec<u32>)> = found
        .into_iter()
        .filter(|(s, _)| filter.wants_socket(s))
        .collect();
    #[cfg_attr(not(target_os = "linux"), allow(unused_mut))]
    let mut owners = find_owners(&candidates, walk);
    // A walk cut short keeps the owners it found; the others are not looked for again.
    if owners.failure.is_none() {
        owners.failure.clone_from(&late_lookup);
    }
    let root = is_root();
    let me = current_uid();
    let users = std::sync::Arc::new(UserNames::load());
    // The details of the processes found so far are read while the second look runs (it
    // waits on the kernel, one thing at a time); those it adds are read after it.
    let first = owning_pids(&owners.by_socket);
    reading.add(&first, &owners.starts);
    #[cfg(target_os = "linux")]
    let (held, reasons) = second_look::second_look(
        &candidates,
        &mut owners,
        (root, me),
        (shared, via_iterator),
        deadline,
        &mut notes,
    );
    #[cfg(target_os = "linux")]
    notes.extend(owners.cut.note(owners.cut_read_in_kernel));
    let mut devices = DeviceNames::default();
    let pids = owning_pids(&owners.by_socket);
    // The read returns by the deadline (and the user database's second after it). The
    // owners the second look added are read after it, by a read of their own.
    let mut read = reading.finish(&first, &users, &owners.starts, deadline);
    let added: Vec<u32> = pids
        .iter()
        .copied()
        .filter(|pid| first.binary_search(pid).is_err())
        .collect();
    if !added.is_empty() {
        let more = process::details_within(&added, &users, &owners.starts, deadline);
        read.processes.extend(more.processes);
        read.late.extend(more.late);
        read.late.sort_unstable();
        read.late.dedup();
    }
    let mut processes = read.processes;
    let mut late = Vec::with_capacity(read.late.len());
    for &pid in &read.late {
        // Still listed with its PID and the kernel's name for it (which never waits).
        let name = kernel_name(pid);
        late.push((pid, name.clone()));
        processes.insert(
            pid,
            Process {
                pid,
                name_unknown: name.is_none(),
                name: name.unwrap_or_else(|| "[unknown]".to_string()),
                not_read: true,
                ..Process::default()
            },
        );
    }
    notes.extend(deadline::late_notes(&late, limit));
    // What never waits for a process's memory still comes: its user (from
    // /proc/PID/status) and its executable's path (the link's text), so that what it runs as
    // and what it runs can still be judged.
    #[cfg(target_os = "linux")]
    let facts = late_facts(&read.late);
    // Names asked of the user database under the run's deadline, as every other.
    #[cfg(target_os = "linux")]
    users.fetch(facts.iter().filter_map(|f| f.1), deadline);
    #[cfg(target_os = "linux")]
    for (pid, uid, exe) in facts {
        if let Some(p) = processes.get_mut(&pid) {
            p.uid = uid;
            p.user = uid.and_then(|u| users.name(u));
            p.exe = exe.0.map(|b| String::from_utf8_lossy(&b).into_owned());
            p.exe_state = exe.1;
        }
    }
    // In a user namespace, a uid it does not map shows as the overflow uid (65534): that is
    // not the user of that number here, it is unknown.
    #[cfg(target_os = "linux")]
    let unmapped = ownerless::unmapped_uid();
    #[cfg(not(target_os = "linux"))]
    let unmapped: Option<u32> = None;
    // And a uid it maps is numbered as it maps it (nobody's own process, seen from nobody's
    // `unshare -U -r`, is uid 0 there): each is given the machine's number and user instead.
    #[cfg(target_os = "linux")]
    let uid_map = userns::UidMap::of_self();
    // Whoport's own map not read: no uid it sees is known to be the machine's.
    #[cfg(target_os = "linux")]
    if uid_map.is_none() {
        notes.push(
            "whoport's own uid map (/proc/self/uid_map) could not be read (something may be \
             mounted over it): whoport may run in a user namespace whose uids are not the \
             machine's, so no user is said"
                .to_string(),
        );
    }
    #[cfg(target_os = "linux")]
    let outside = |uid: Option<u32>| match (&uid_map, uid) {
        (None, _) => None,
        (Some(Some(map)), Some(u)) if Some(u) != unmapped => map.outside(u),
        _ => uid,
    };
    #[cfg(not(target_os = "linux"))]
    let outside = |uid: Option<u32>| uid;
    // The machine's numbers are other users than the namespace's: their names too are asked
    // under the run's deadline.
    users.fetch(
        processes
            .values()
            .filter(|p| !(unmapped.is_some() && p.uid == unmapped))
            .filter_map(|p| outside(p.uid).filter(|&u| Some(u) != p.uid)),
        deadline,
    );
    for p in processes.values_mut() {
        if unmapped.is_some() && p.uid == unmapped {
            p.uid = None;
            p.user = None;
        } else if outside(p.uid) != p.uid {
            p.uid = outside(p.uid);
            p.user = p.uid.and_then(|u| users.name(u));
        }
        // Its other threads' uids, and a uid 0 it kept, are this namespace's too: root's
        // powers only where this namespace's 0 is the machine's.
        let c = &mut p.credentials;
        c.thread_uids = c
            .thread_uids
            .iter()
            .filter_map(|&u| outside(Some(u)))
            .collect();
        c.root_kept &= outside(Some(0)) == Some(0);
    }
    for (socket, _) in candidates.iter_mut() {
        socket.uid = if unmapped.is_some() && socket.uid == unmapped {
            None
        } else {
            outside(socket.uid)
        };
    }
    // Socket owners' names, from the user database, under the same deadline.
    users.fetch(candidates.iter().filter_map(|(s, _)| s.uid), deadline);
    if let Some(why) = users.unanswered() {
        notes.push(format!(
            "user names not read: the system user database's files: {why}; users are shown \
             by uid"
        ));
    } else if users.gave_up() {
        notes.push(format!(
            "user names not read within {}: the system user database (NSS: files, LDAP, \
             sssd...) did not answer, so users are shown by uid",
            limit.text
        ));
    }
    // Every owner is listed, read or not (once for each process, not for each of its sockets).
    for &pid in &pids {
        processes.entry(pid).or_insert_with(|| Process {
            pid,
            name: "[exited during scan]".to_string(),
            not_read: true,
            name_unknown: true,
            ..Process::default()
        });
    }
    listeners.reserve(candidates.len());
    // The name of the last socket's user (most sockets are one user's, one after the
    // other): asked of `users` once for each run of the same uid.
    let mut last_user: Option<(u32, Option<String>)> = None;
    // The rows are made in the listing's order (port, protocol, address, state; the dump's
    // order among equals), each in its place: ten thousand rows of hundreds of bytes are not
    // moved to sort them afterwards.
    let order = crate::model::stable_order_by_key(&candidates, |(s, _)| listing_key(s));
    for at in order {
        let socket = candidates[at].0.clone();
        let pids = std::mem::take(&mut owners.by_socket[at]);
        #[cfg(target_os = "linux")]
        let (established, held_through) = (
            reasons.get(&socket.inode).cloned(),
            held.get(&socket.inode).copied().flatten(),
        );
        #[cfg(not(target_os = "linux"))]
        let (established, held_through) = (None, None);
        let hidden_reason = pids.is_empty().then(|| {
            Box::new(match &late_lookup {
                Some(late) => Hidden::Late(late.clone()),
                None => established
                    .unwrap_or_else(|| hidden_reason(&socket, root, me, owners.failure.as_deref())),
            })
        });
        listeners.push(Listener {
            scope: Scope::on_this_machine(&socket),
            device: devices.name(socket.ifindex),
            user: socket.uid.and_then(|u| match &last_user {
                Some((uid, name)) if *uid == u => name.clone(),
                _ => last_user.insert((u, users.name(u))).1.clone(),
            }),
            owners: pids,
            hidden_reason,
            held_through,
            #[cfg(target_os = "linux")]
            blocked_calls: owners.blocked.remove(&socket.inode).unwrap_or_default(),
            #[cfg(not(target_os = "linux"))]
            blocked_calls: Vec::new(),
            #[cfg(target_os = "linux")]
            blocked_calls_cut: owners.blocked_cut.contains(&socket.inode),
            #[cfg(not(target_os = "linux"))]
            blocked_calls_cut: false,
            #[cfg(target_os = "linux")]
            blocked_calls_unread: owners.blocked_unread.remove(&socket.inode).map(Box::new),
            #[cfg(not(target_os = "linux"))]
            blocked_calls_unread: None,
            v6only: socket.v6only,
            known_use: None,
            socket,
        });
    }
    if let Some(address) = &filter.address {
        notes.extend(address.unreported(&listeners));
    }
    // The processes asked for (`--pid`, `--process` by their kernel's name, `--user` by their
    // effective uid) whose descriptors could not be read: whether they hold any listener is
    // not known (a readable child may be named as the holder of a socket it shares).
    // Beside `--pid` or `--process`, `--user` rules out what the processes asked for may
    // hold unseen when every one of them not read acts as another user (status) and no other
    // process not read may act as that user: no listener can be both theirs and that user's
    // (one holder of a shared socket may be the process asked for, another that user).
    #[cfg(target_os = "linux")]
    let (asked_unread, ruled_out, user_side) = {
        // (Beside `--pid` or `--process`: whether a listener was seen held by a process of
        // the `--user` asked for, which an unread process asked for may share; and one seen
        // held by a process asked for but by none of that user's, which an unread process of
        // that user's may share.)
        let both = filter.user.is_some() && (filter.pid.is_some() || filter.process.is_some());
        let seen_by = |half: &Filter| {
            listeners.iter().any(|l| {
                !l.owners.is_empty()
                    && !l.closed_during_scan()
                    && half.wants_listener(l, &processes)
                    && !filter.wants_listener(l, &processes)
            })
        };
        let seen = if both {
            (
                seen_by(&Filter {
                    pid: None,
                    process: None,
                    ..filter.clone()
                }),
                seen_by(&Filter {
                    user: None,
                    ..filter.clone()
                }),
            )
        } else {
            (false, false)
        };
        let asked = asked_unread(filter, &owners.all_unread, &users, deadline, seen);
        notes.extend(asked_unread_note(filter, &asked));
        let ruled_out = filter.user.is_some()
            && (filter.pid.is_some() || filter.process.is_some())
            && asked.before_user > 0
            && asked.pids.is_empty()
            && proc_dir::hides_other_users().is_none();
        let count = asked.pids.len();
        let by_owner = asked.by_owner();
        let mut pids = asked.pids;
        pids.truncate(linux::NAMED_UNREADABLE);
        ((pids, count), ruled_out, (asked.user_side, by_owner))
    };
    #[cfg(not(target_os = "linux"))]
    let (asked_unread, ruled_out, (user_side, asked_by_owner)) = ((Vec::new(), 0), false, (0, 0));
    #[cfg(target_os = "linux")]
    let (user_side, asked_by_owner) = user_side;
    let user_unread = user_unread(filter, user_side);
    let unattributed = if ruled_out {
        Vec::new()
    } else {
        unattributed(filter, &listeners, &processes, user_unread)
    };
    notes.extend(localnet_unread(&listeners, filter.exposed));
    notes.extend(steering::note());
    notes.extend(filter.user_unsure(&listeners, &processes));
    listeners.retain(|l| filter.wants_listener(l, &processes));
    if let Some(address) = &filter.address {
        notes.extend(address.narrow(&mut listeners));
    }
    mark_known_uses(&mut listeners, &processes);
    // (Made in order, and only ever filtered since.)
    debug_assert!(listeners.is_sorted_by_key(|l| listing_key(&l.socket)));
    // (The owners of what is kept as possibly the owner asked for too: their placeholders say
    // why their names are unknown.)
    let kept: HashSet<u32> = listeners
        .iter()
        .chain(&unattributed)
        .flat_map(|l| l.owners.iter().copied())
        .collect();
    processes.retain(|pid, _| kept.contains(pid));
    #[cfg(target_os = "linux")]
    mark_hidden_by_mount(&mut processes);
    // A socket that closed during the scan listens no more and has no owner to hide: it is
    // kept apart.
    // (Split only when there is one: moving ten thousand listeners costs.)
    let mut closed = Vec::new();
    if listeners.iter().any(Listener::closed_during_scan) {
        (closed, listeners) = listeners
            .into_iter()
            .partition(Listener::closed_during_scan);
    }
    let hidden = listeners.iter().filter(|l| l.owners.is_empty()).count();
    // Those whose `/proc` entries another directory is mounted over are counted apart from
    // those whose descriptors were refused: no permission would read them.
    #[cfg(target_os = "linux")]
    let covered: Vec<u32> = owners
        .covered
        .iter()
        .copied()
        .filter(|pid| owners.unreadable_pids.contains(pid))
        .collect();
    #[cfg(target_os = "linux")]
    let refused = owners
        .unreadable
        .saturating_sub(owners.cut.count + covered.len());
    #[cfg(not(target_os = "linux"))]
    let refused = owners.unreadable;
    let processes_n = |n: usize| {
        if n == 1 {
            "1 process".to_string()
        } else {
            format!("{n} processes")
        }
    };
    if refused > 0 && hidden > 0 {
        notes.push(format!(
            "the descriptors of {} could not be read (permission){}",
            processes_n(refused),
            if root {
                ""
            } else {
                ": run as root to see them"
            }
        ));
    }
    // A process hidden by a mount is said whether or not some socket has no owner: it may
    // hold a socket whose other holders were seen (a listener its parent shares with it).
    #[cfg(target_os = "linux")]
    if !covered.is_empty() {
        notes.push(covered_note(&covered, &processes_n(covered.len())));
    }
    // "1 process lives", "3 processes live".
    let count = |n: usize, one: &str, many: &str| {
        if n == 1 {
            format!("1 process {one}")
        } else {
            format!("{n} processes {many}")
        }
    };
    if owners.other_netns > 0 {
        notes.push(format!(
            "{} in other network namespaces: their sockets are not listed here \
             (look inside one with: nsenter -n -t {} whoport)",
            count(owners.other_netns, "lives", "live"),
            owners.other_netns_pid.unwrap_or(0)
        ));
    }
    if owners.vanished > 0 {
        notes.push(format!(
            "{} during the scan",
            count(owners.vanished, "exited", "exited")
        ));
    }
    let snapshot = Snapshot {
        listeners,
        processes,
        established,
        hidden,
        root,
        source,
        owner_lookup,
        notes,
        other_netns: owners.other_netns,
        unattributed,
        asked_unread,
        asked_by_owner,
        asked_of_user: if filter.user.is_some() { user_side } else { 0 },
        user_unread,
        closed,
    };
    Ok((snapshot, made))
}

/// Marks the processes something is mounted over part of whose `/proc/PID` is, by whoport's
/// own mount table: a directory over their `fd`, `fdinfo` or `task` (which hides them from `ss
/// -p` and `lsof`), a file over their `comm`, none of which the reads of their details cross.
/// (Those whose details a mount covered are marked already, with what it covers.)
#[cfg(target_os = "linux")]
fn mark_hidden_by_mount(processes: &mut HashMap<u32, Process>) {
    if processes.is_empty() {
        return;
    }
    for p in processes
        .values_mut()
        .filter(|p| p.hidden_by_mount.is_none())
    {
        if let Some(point) = exe::mounted_below_proc(p.pid) {
            p.hidden_by_mount = Some(String::from_utf8_lossy(point).into_owned());
        }
    }
}

/// The note on the processes whose descriptors were not read because another directory is
/// mounted over their `/proc` entries (`covered`, `counted` their number in words): each of
/// the first [`linux::NAMED_UNREADABLE`] named with the entry found covered.
#[cfg(target_os = "linux")]
fn covered_note(covered: &[u32], counted: &str) -> String {
    let named = linux::NAMED_UNREADABLE;
    let mut paths: Vec<String> = covered
        .iter()
        .take(named)
        .map(|&pid| {
            // (Gone meanwhile: where the walk found it covered is not known any more.)
            linux::covered_proc_entry(pid)
                .unwrap_or_else(|| format!("/proc/{pid} (or its fd or task directory)"))
        })
        .collect();
    if covered.len() > named {
        paths.push(format!("{} more", covered.len() - named));
    }
    format!(
        "the descriptors of {counted} could not be read: a directory is mounted over {} ({}), \
         which whoport does not read through",
        paths.join(", "),
        crate::model::HIDING_MOUNT
    )
}

/// A note when whether other machines reach loopback sockets is not known (`route_localnet`
/// could not be read): `--exposed` (which leaves them out before they are listed) and the
/// audit's exposure findings take them as loopback only, and the note says so.
fn localnet_unread(listeners: &[Listener], exposed: bool) -> Option<String> {
    let n = listeners.iter().filter(|l| l.localnet_unread()).count();
    let unread = n > 0
        || (exposed
            && matches!(
                crate::address::local::localnet(),
                crate::address::local::Localnet::Unread
            ));
    unread.then(|| {
        let which = match n {
            0 => "sockets".to_string(),
            1 => "1 socket".to_string(),
            n => format!("{n} sockets"),
        };
        format!(
            "net.ipv4.conf.*.route_localnet could not be read: whether other machines reach \
             the {which} on an IPv4 loopback address is not known (--exposed and the audit's \
             exposure findings take them as loopback only)"
        )
    })
}

/// For a query about the owner (a program name, `--pid`, `--process`): the listeners that
/// every other criterion keeps but whose owner could not be named, so that whether they are
/// that owner's is unknown (a socket closed during the scan listens no more). For a socket
/// whose owner is unknown each of those criteria is unknown as well, never a reason to leave
/// it out. A program's sockets are wanted on any port; `--pid` and `--process` keep the ports
/// asked for. `--user` is about the owner only where `user_unread` says some of that
/// user's processes could not be read ([`user_unread`]); otherwise the socket's own user is
/// what is known of whose it is.
pub(crate) fn unattributed(
    filter: &Filter,
    listeners: &[Listener],
    processes: &HashMap<u32, Process>,
    user_unread: bool,
) -> Vec<Listener> {
    // `--user` alone, or beside the others.
    let by_user = filter.user.is_some() && user_unread;
    if filter.program.is_none() && filter.pid.is_none() && filter.process.is_none() && !by_user {
        return Vec::new();
    }
    // A PID that names no process holds nothing (unless /proc hides other users' processes
    // from this user: then whether it names one is unknown). A directory mounted over its
    // /proc entry is no proof it is gone.
    #[cfg(target_os = "linux")]
    if let Some(pid) = filter.pid {
        let gone = matches!(proc_dir::ProcDir::open(pid), Err(rustix::io::Errno::NOENT));
        if gone && proc_dir::hides_other_users().is_none() {
            return Vec::new();
        }
    }
    let mut others = match filter.program {
        Some(_) => filter.about_the_socket(),
        None => Filter {
            pid: None,
            process: None,
            ..filter.clone()
        },
    };
    if by_user {
        others.user = None;
    }
    // Seen owners some of whose names were not read (their `/proc` entries covered by a
    // mount, hidden from this user, their PID taken meanwhile): whether it is the program or
    // process asked for by name is as unknown; `--pid` is still judged by the PIDs seen.
    let by_name = filter.program.is_some() || filter.process.is_some();
    let named_others = Filter {
        pid: filter.pid,
        ..others.clone()
    };
    // An owner whose name was not read: every other criterion is judged as for a listener
    // whose owners are known (each by any owner, as `Filter::wants_listener` does), its user
    // as unknown where it was not read.
    let may_be_asked = |l: &Listener| {
        l.owners
            .iter()
            .filter_map(|pid| processes.get(pid))
            .filter(|p| p.name_unknown)
            .any(|p| {
                if p.uid.is_some() {
                    return named_others.keeps(l, processes);
                }
                let user_unknown = Filter {
                    user: None,
                    ..named_others.clone()
                };
                user_unknown.keeps(l, processes)
            })
    };
    listeners
        .iter()
        .filter(|l| {
            !l.closed_during_scan()
                && !filter.wants_listener(l, processes)
                && if l.owners.is_empty() {
                    others.keeps(l, processes)
                } else {
                    by_name && may_be_asked(l)
                }
        })
        .cloned()
        .collect()
}

/// Whether a listener whose owner could not be seen may be the user's `--user` asks for:
/// some processes asked for that may act as that user could not be read (`asked_unread`,
/// [`asked_unread`]'s count of those that may act as that user), or `/proc` hides processes
/// from this one (`hidepid`: another user's, and this user's own that are not dumpable).
pub(crate) fn user_unread(filter: &Filter, asked_unread: usize) -> bool {
    if filter.user.is_none() {
        return false;
    }
    #[cfg(target_os = "linux")]
    return asked_unread > 0 || proc_dir::hides_other_users().is_some();
    #[cfg(not(target_os = "linux"))]
    return asked_unread > 0;
}

/// The processes `filter` asks for among `unread` (whose descriptors could not be read),
/// and what the note on them says.
#[cfg(target_os = "linux")]
struct AskedUnread {
    /// Their PIDs, sorted.
    pids: Vec<u32>,
    /// How many `--pid` or `--process` asked for before `--user` was judged (those were
    /// all of them without `--user`).
    before_user: usize,
    /// Of them, by `--user`, those whose threads' users were not all read (any may act as
    /// that user).
    user_unknown: usize,
    /// Of them, by `--process`, those whose name could not be read (any may be of that name).
    unnamed: usize,
    /// Beside `--pid` or `--process`, where none of the processes those ask for that could
    /// not be read may act as the `--user` asked for: `pids` split into those asked for by
    /// `--pid` or `--process` and those that may act as that user (each sorted), which may
    /// share a listener that would be both. Either may be empty: that user's were all read
    /// and one holds a listener seen, or those asked for were, and one holds one.
    shared: Option<(Vec<u32>, Vec<u32>)>,
    /// How many of `pids` may act as the `--user` asked for (all of them but for `shared`).
    user_side: usize,
}

#[cfg(target_os = "linux")]
impl AskedUnread {
    /// How many of `pids` `--pid` or `--process` ask for (all of them but for `shared`).
    fn by_owner(&self) -> usize {
        self.shared
            .as_ref()
            .map_or(self.pids.len(), |(named, _)| named.len())
    }
}

/// What [`thread_users`] gives.
#[cfg(target_os = "linux")]
type ThreadUsers = (Vec<u32>, bool);

/// The users the threads of process `pid` act as (effective uids, from the `status` files
/// anyone may read), and whether some were not read (a file that could not be read or is
/// covered by a mount, threads past [`credentials::MAX_THREADS`]). A process gone is no
/// user's.
#[cfg(target_os = "linux")]
fn thread_users(pid: u32, buf: &mut Vec<u8>) -> ThreadUsers {
    let dir = match proc_dir::ProcDir::open(pid) {
        Ok(dir) => dir,
        Err(rustix::io::Errno::NOENT) => return (Vec::new(), false),
        Err(_) => return (Vec::new(), true),
    };
    // A process that exited meanwhile is no user's; one still there whose status could not
    // be read (a file mounted over it) may be anyone's.
    let gone = || matches!(proc_dir::ProcDir::open(pid), Err(rustix::io::Errno::NOENT));
    let Some(main) = dir
        .read("status", buf)
        .then(|| linux::parse_status_uid(buf))
        .flatten()
    else {
        return (Vec::new(), !gone());
    };
    let threads = buf
        .split(|&b| b == b'\n')
        .find_map(|l| l.strip_prefix(b"Threads:"))
        .and_then(|n| std::str::from_utf8(n).ok()?.trim().parse::<usize>().ok())
        .unwrap_or(1);
    let mut users = vec![main];
    if threads < 2 {
        return (users, false);
    }
    let tids = linux::other_threads(pid);
    // No other thread listed: they all ended since, unless the list could not be read.
    let unlisted =
        tids.is_empty() && proc_dir::open_dir(&format!("/proc/{pid}/task")).is_err() && !gone();
    let mut unknown = tids.len() > credentials::MAX_THREADS || unlisted;
    for tid in tids.into_iter().take(credentials::MAX_THREADS) {
        let task = format!("/proc/{pid}/task/{tid}");
        let read = proc_dir::open_file(&format!("{task}/status"))
            .ok()
            .and_then(|file| proc_dir::read_fd_at_most(&file, buf, proc_dir::MAX_FILE));
        match read.and_then(|_| linux::parse_status_uid(buf)) {
            Some(uid) => users.push(uid),
            // A thread that exited since is no user's; one still there may be anyone's.
            None => {
                let flags = rustix::fs::OFlags::PATH | rustix::fs::OFlags::CLOEXEC;
                let there = proc_dir::open_proc(&task, flags);
                unknown |= !matches!(there, Err(rustix::io::Errno::NOENT));
            }
        }
    }
    users.sort_unstable();
    users.dedup();
    (users, unknown)
}

/// The processes `filter` asks for by `--pid`, `--process` and `--user` among `unread` (whose
/// descriptors could not be read). By `--process`, a process is asked for when its kernel's
/// name (`comm`, which anyone may read) contains the name typed, case ignored; by `--user`,
/// when one of its threads acts as that user (the effective uid in its `status`, which anyone
/// may read; a name matches every uid the user database names so), or when that is not known.
#[cfg(target_os = "linux")]
fn asked_unread(
    filter: &Filter,
    unread: &[u32],
    users: &UserNames,
    deadline: Deadline,
    (users_seen, owners_seen): (bool, bool),
) -> AskedUnread {
    let mut unnamed = Vec::new();
    let mut asked: Vec<u32> = match (filter.pid, &filter.process) {
        (Some(pid), _) => unread.iter().copied().filter(|&p| p == pid).collect(),
        (None, Some(name)) => {
            let name = name.to_lowercase();
            unread
                .iter()
                .copied()
                // One whose name could not be read (its `/proc` entries covered by a mount)
                // may be of any name; one gone is of none.
                .filter(|&pid| match linux::comm_unless_gone(pid) {
                    None => false,
                    Some(None) => {
                        unnamed.push(pid);
                        true
                    }
                    Some(Some(comm)) => String::from_utf8_lossy(&comm)
                        .to_lowercase()
                        .contains(&name),
                })
                .collect()
        }
        (None, None) if filter.user.is_some() => unread.to_vec(),
        (None, None) => Vec::new(),
    };
    asked.sort_unstable();
    asked.dedup();
    let before_user = asked.len();
    let mut user_unknown = 0;
    let mut shared = None;
    let mut user_side = asked.len();
    if let Some(user) = filter.user.as_deref() {
        let named = std::mem::take(&mut asked);
        // A name is every uid the user database names so (two entries may share a name);
        // digits are a uid.
        let uid = process::uid_typed(user)
            .flatten()
            .or_else(|| process::uid_of_name(user));
        let by_name = process::uid_typed(user).is_none();
        let mut buf = Vec::new();
        // The processes that may act as that user, each with whether only because its
        // threads' users were not all read. (Every process is judged, however late: one not
        // judged would have to be said to be possibly anyone's for a reason that is not the
        // one its threads' users give. A process's threads are read up to
        // `credentials::MAX_THREADS`.)
        let mut judge = |pids: &[u32]| -> Vec<(u32, bool)> {
            let read: Vec<(u32, ThreadUsers)> = pids
                .iter()
                .map(|&pid| (pid, thread_users(pid, &mut buf)))
                .collect();
            if by_name {
                users.fetch(
                    read.iter().flat_map(|(_, (u, _))| u.iter().copied()),
                    deadline,
                );
            }
            let is_user =
                |u: u32| Some(u) == uid || (by_name && users.name(u).is_some_and(|n| n == user));
            read.into_iter()
                .filter_map(|(pid, (uids, unknown))| {
                    let acts = uids.iter().any(|&u| is_user(u));
                    (acts || unknown).then_some((pid, !acts))
                })
                .collect()
        };
        for (pid, unknown) in judge(&named) {
            asked.push(pid);
            user_unknown += usize::from(unknown);
        }
        user_side = asked.len();
        // None asked for may act as that user, but a listener is both where one holder is
        // a process asked for and another that user's. One asked for that was not read may
        // share a listener with a process of that user's not read either (root's daemon named
        // so, with a child that became that user) or seen holding one (`users_seen`); every
        // one asked for was read, and one holds a listener seen (`owners_seen`): a process of
        // that user's not read may share it. Those are said, and these.
        let by_owner = filter.pid.is_some() || filter.process.is_some();
        if asked.is_empty() && by_owner && (!named.is_empty() || owners_seen) {
            let mut rest: Vec<u32> = unread
                .iter()
                .copied()
                .filter(|pid| named.binary_search(pid).is_err())
                .collect();
            rest.sort_unstable();
            rest.dedup();
            let users_own = judge(&rest);
            if !users_own.is_empty() || (users_seen && !named.is_empty()) {
                user_unknown = users_own.iter().filter(|(_, unknown)| *unknown).count();
                user_side = users_own.len();
                let users_own: Vec<u32> = users_own.into_iter().map(|p| p.0).collect();
                // (Those asked for first, each kind sorted: the PIDs named are cut to the
                // first few, and the note names both kinds.)
                asked = named.iter().chain(&users_own).copied().collect();
                shared = Some((named, users_own));
            }
        }
    }
    let unnamed = asked.iter().filter(|pid| unnamed.contains(pid)).count();
    AskedUnread {
        pids: asked,
        before_user,
        user_unknown,
        unnamed,
        shared,
        user_side,
    }
}

/// The note for [`asked_unread`]'s processes.
#[cfg(target_os = "linux")]
fn asked_unread_note(filter: &Filter, asked: &AskedUnread) -> Option<String> {
    let count = asked.pids.len();
    if count == 0 {
        return None;
    }
    let mut named = asked.pids.clone();
    named.truncate(linux::NAMED_UNREADABLE);
    let list = crate::model::unreadable_pid_list(&named, count);
    if let Some((named, users_own)) = &asked.shared {
        return Some(shared_unread_note(filter, asked, (named, users_own)));
    }
    let (processes, holds) = if count == 1 {
        ("1 process".to_string(), "it holds")
    } else {
        (format!("{count} processes"), "they hold")
    };
    let sanitize = |text: &str| crate::render::sanitize::sanitize(text).into_owned();
    // By --user: "of user www-data", and those whose user was not read said so.
    let of_user = filter.user.as_deref().map(|user| {
        let user = sanitize(user);
        match asked.user_unknown {
            0 => format!("of user {user}"),
            n if n == count => format!(
                "that may act as user {user}, {} threads' users not all read",
                if n == 1 { "its" } else { "their" }
            ),
            n => format!(
                "of user {user} (or, for {n} of them, whose threads' users were not all read)"
            ),
        }
    });
    Some(match (filter.pid, &filter.process, of_user) {
        (Some(pid), _, None) => format!(
            "the descriptors of PID {pid} could not be read: whether it holds any listener, \
             one named here as another process's among them, is not known"
        ),
        (Some(pid), _, Some(of_user)) => format!(
            "the descriptors of PID {pid}, a process {of_user}, could not be read: whether it \
             holds any listener, one named here as another process's among them, is not known"
        ),
        (None, Some(name), of_user) => {
            let name = sanitize(name);
            let of_user = of_user.map(|o| format!(" {o}")).unwrap_or_default();
            // Those whose name could not be read either may be of that name.
            let whose = match asked.unnamed {
                0 => format!("whose name contains '{name}'"),
                1 if count == 1 => {
                    format!("whose name could not be read (it may contain '{name}')")
                }
                n if n == count => {
                    format!("whose names could not be read (any may contain '{name}')")
                }
                n => {
                    format!("whose name contains '{name}' (or, for {n} of them, could not be read)")
                }
            };
            format!(
                "the descriptors of {processes} {whose}{of_user} ({list}) could not be read: \
                 whether {holds} any listener, one named here as another process's among them, \
                 is not known"
            )
        }
        (None, None, Some(of_user)) => format!(
            "the descriptors of {processes} {of_user} ({list}) could not be read: whether \
             {holds} any listener is not known"
        ),
        (None, None, None) => return None,
    })
}

/// The note for [`asked_unread`]'s processes where none asked for by `--pid` or `--process`
/// may act as the `--user` asked for, but processes of that user's may share a listener with
/// them: `named`, those asked for, and `users_own`, that user's not read (none: that user's
/// were all read, and one holds a listener seen).
#[cfg(target_os = "linux")]
fn shared_unread_note(
    filter: &Filter,
    asked: &AskedUnread,
    (named, users_own): (&[u32], &[u32]),
) -> String {
    let sanitize = |text: &str| crate::render::sanitize::sanitize(text).into_owned();
    let processes = |n: usize| match n {
        1 => "1 process".to_string(),
        n => format!("{n} processes"),
    };
    let list = |pids: &[u32]| {
        let shown = &pids[..pids.len().min(linux::NAMED_UNREADABLE)];
        crate::model::unreadable_pid_list(shown, pids.len())
    };
    let others = if named.len() == 1 {
        "another user's"
    } else {
        "other users'"
    };
    let first = match (filter.pid, &filter.process) {
        (Some(pid), _) => format!("PID {pid} ({others})"),
        (_, Some(name)) => {
            let name = sanitize(name);
            let whose = match asked.unnamed {
                0 => format!("whose name contains '{name}'"),
                n if n == named.len() => {
                    format!("whose name could not be read (it may contain '{name}')")
                }
                n => {
                    format!("whose name contains '{name}' (or, for {n} of them, could not be read)")
                }
            };
            format!(
                "{} {whose} ({others}; {})",
                processes(named.len()),
                list(named)
            )
        }
        (None, None) => format!("{} ({others}; {})", processes(named.len()), list(named)),
    };
    let user = sanitize(filter.user.as_deref().unwrap_or_default());
    let unknown = match asked.user_unknown {
        0 => String::new(),
        n if n == users_own.len() => {
            "; their threads' users were not all read: they may act as that user".to_string()
        }
        n => format!("; of {n} of them, the threads' users were not all read"),
    };
    let of_user = if asked.user_unknown == users_own.len() {
        format!("that may act as user {user}")
    } else {
        format!("of user {user}")
    };
    if named.is_empty() {
        let (holds, whose) = match (filter.pid, &filter.process) {
            (Some(pid), _) => ("held by PID", pid.to_string()),
            (None, name) => (
                "held by a process whose name contains",
                format!("'{}'", sanitize(name.as_deref().unwrap_or_default())),
            ),
        };
        return format!(
            "the descriptors of {} {of_user} ({}{unknown}) could not be read: whether they \
             share a listener seen {holds} {whose}, which would be both, is not known",
            processes(users_own.len()),
            list(users_own),
        );
    }
    if users_own.is_empty() {
        let holds = if named.len() == 1 {
            "it holds"
        } else {
            "they hold"
        };
        return format!(
            "the descriptors of {first} could not be read: whether {holds} any listener seen \
             held by a process of user {user}, one named here as another process's among \
             them, is not known"
        );
    }
    format!(
        "the descriptors of {first} and of {} {of_user} ({}{unknown}) could not be read: \
         whether they share any listener, which would be both, is not known",
        processes(users_own.len()),
        list(users_own),
    )
}

/// Names the known program each listener's owner is, once for every reader.
fn mark_known_uses(listeners: &mut [Listener], processes: &HashMap<u32, Process>) {
    for l in listeners {
        // (Most ports have no known program: their owners' evidence is not gathered.)
        if crate::registry::unofficial::for_port(l.socket.port, Some(l.socket.protocol)).is_empty()
        {
            l.known_use = None;
            continue;
        }
        let evidence: Vec<known::Evidence<'_>> = l
            .owners
            .iter()
            .filter_map(|pid| processes.get(pid))
            .map(|p| known::Evidence {
                name: &p.name,
                exe: p.exe.as_deref(),
                cmdline: &p.cmdline,
                established: crate::audit::design::established_exe(p).is_some(),
                interpreter: p.exe_state.interpreter,
                names_here: (p.exe_state.comm_here, p.exe_state.argv0_here),
            })
            .collect();
        l.known_use = known::known_use(l.socket.port, l.socket.protocol, &evidence);
    }
}

/// The netlink result, or `/proc/net` when netlink was refused; on Linux also marks connected
/// UDP and UDP-Lite sockets (netlink does not say) and replaces an empty netlink dump of
/// either. `keep`: what is kept whole of the sockets listed.
fn from_best_source(
    netlink: Result<sockets::Listing, CollectError>,
    (filter, keep): (&Filter, sockets::Keep),
    notes: &mut Vec<String>,
) -> Result<(sockets::Listing, &'static str), CollectError> {
    #[cfg(target_os = "linux")]
    {
        let want = sockets::Want {
            tcp: filter.tcp,
            udp: filter.udp,
            udplite: filter.udplite,
            ipv4: filter.ipv4,
            ipv6: filter.ipv6,
        };
        let mut listing = match netlink {
            Ok(listing) => listing,
            Err(e) if e.is_refusal() => {
                let table = procnet::read(want, keep).map_err(|pe| CollectError::Sockets {
                    detail: format!("{e}; and /proc/net: {pe}"),
                    errno: None,
                })?;
                notes.push(format!(
                    "the netlink socket-diagnostics interface was refused ({}); sockets were read \
                     from /proc/net instead",
                    e.to_string()
                        .trim_start_matches("cannot list the machine's sockets: ")
                ));
                if table.malformed > 0 {
                    notes.push(format!(
                        "{} malformed lines in /proc/net were skipped",
                        table.malformed
                    ));
                }
                for path in &table.unsettled {
                    notes.push(format!(
                        "the listeners of {path} were still opening and closing when it was \
                         last read again: a listener that stayed open may be missing"
                    ));
                }
                let listing = sockets::Listing {
                    found: table.sockets.into_iter().map(|s| (s, Vec::new())).collect(),
                    skipped: 0,
                    seen: table.seen,
                    filtered: Vec::new(),
                };
                return Ok((listing, "/proc/net"));
            }
            Err(e) => return Err(e),
        };
        let mut source = "netlink";
        for (protocol, wanted) in [(Protocol::Udp, want.udp), (Protocol::Udplite, want.udplite)] {
            if wanted && datagram_table(&mut listing, protocol, want, notes) {
                source = "netlink+/proc/net";
            }
        }
        Ok((listing, source))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (filter, keep, notes);
        Ok((netlink?, "system"))
    }
}

/// One datagram protocol's table (UDP or UDP-Lite) from `/proc/net`, only where the netlink
/// dump listed none of its sockets: replaces that empty dump when `/proc/net` lists sockets
/// that stayed all through a second one (then returns true), marking the connected ones.
/// Where the dump listed some, it says which are connected itself, and the table is not read:
/// the kernel reads `/proc/net/udp` from its first hash bucket again at each read, so that
/// reading it takes time that grows with the square of its sockets (57,000 sockets bound by
/// any user on 127.x addresses, about 20 s), where the dump takes half a second.
#[cfg(target_os = "linux")]
fn datagram_table(
    listing: &mut sockets::Listing,
    protocol: Protocol,
    want: sockets::Want,
    notes: &mut Vec<String>,
) -> bool {
    let from_netlink = listing
        .found
        .iter()
        .filter(|(s, _)| s.protocol == protocol)
        .count();
    // A dump filtered by port that the kernel answered comes from its handler for the
    // protocol: empty, there is nothing on those ports.
    if from_netlink > 0 || listing.filtered.contains(&protocol) {
        return false;
    }
    let only = sockets::Want {
        tcp: false,
        udp: protocol == Protocol::Udp,
        udplite: protocol == Protocol::Udplite,
        ..want
    };
    let Ok(mut table) = procnet::read(only, sockets::Keep::All) else {
        return false;
    };
    if !table.sockets.is_empty() {
        // Datagram sockets come and go: ask netlink again, and believe /proc/net only about
        // sockets it lists both before and after that second dump.
        let again = sockets::enumerate(only).unwrap_or_default();
        let after = procnet::read(only, sockets::Keep::All).unwrap_or_default();
        let before: HashSet<u32> = table.sockets.iter().map(|s| s.inode).collect();
        let stable = after
            .sockets
            .iter()
            .filter(|s| before.contains(&s.inode))
            .count();
        if use_proc_udp(again.len(), stable) {
            let name = if protocol == Protocol::Udp {
                ("UDP", "udp")
            } else {
                ("UDP-Lite", "udplite")
            };
            notes.push(format!(
                "the kernel's netlink {} dump was empty but /proc/net/{} lists {} sockets: \
                 {} sockets were read from /proc/net",
                name.0,
                name.1,
                after.sockets.len(),
                name.0
            ));
            for s in after.sockets {
                listing.add((s, Vec::new()), sockets::Keep::All);
            }
            return true;
        }
        for found in again {
            listing.add(found, sockets::Keep::All);
        }
        table = after;
    }
    let remotes: HashMap<u32, (std::net::IpAddr, u16)> = table
        .sockets
        .iter()
        .filter_map(|s| Some((s.inode, s.remote?)))
        .filter(|(inode, _)| *inode != 0)
        .collect();
    for (s, _) in listing
        .found
        .iter_mut()
        .filter(|(s, _)| s.protocol == protocol)
    {
        if let Some(r) = remotes.get(&s.inode) {
            s.remote = Some(*r);
        }
    }
    false
}

/// A kernel without a UDP diag handler answers the dump with an error that reads as "no
/// sockets": when /proc/net lists sockets that existed all through a second, still empty
/// netlink dump, /proc/net is right.
pub fn use_proc_udp(netlink_udp: usize, stable_proc_udp: usize) -> bool {
    netlink_udp == 0 && stable_proc_udp > 0
}

/// Every PID holding one of the sockets, sorted, once each.
fn owning_pids(by_socket: &[Vec<u32>]) -> Vec<u32> {
    let mut pids: Vec<u32> = by_socket.iter().flatten().copied().collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// PIDs per candidate socket (same order), and what the owner lookup could not do.
struct Owners {
    by_socket: Vec<Vec<u32>>,
    unreadable: usize,
    unreadable_pids: Vec<u32>,
    /// Every process not read (see `InodeOwners::all_unread`).
    #[cfg(target_os = "linux")]
    all_unread: Vec<u32>,
    /// Those of them whose `/proc` entries another directory is mounted over (see
    /// `InodeOwners::covered`), sorted.
    #[cfg(target_os = "linux")]
    covered: Vec<u32>,
    vanished: usize,
    other_netns: usize,
    other_netns_pid: Option<u32>,
    starts: HashMap<u32, u64>,
    /// The threads holding sockets by a system call in progress (socket inode -> threads).
    #[cfg(target_os = "linux")]
    blocked: HashMap<u32, Vec<crate::model::BlockedCall>>,
    /// The sockets whose wait queue was not read to its end.
    blocked_cut: HashSet<u32>,
    /// Beside the threads holding sockets by a system call in progress: the processes whose
    /// descriptors could not be read, one of which may hold the socket too.
    #[cfg(target_os = "linux")]
    blocked_unread: HashMap<u32, crate::model::UnreadHolders>,
    /// What the walk noted for the second look.
    #[cfg(target_os = "linux")]
    seen: linux::Seen,
    /// The processes whose threads' own tables were not all read (among `unreadable`).
    #[cfg(target_os = "linux")]
    cut: own_tables::Cut,
    /// For which sockets the second look read every table in the kernel (those of the
    /// processes `cut` too), when it did.
    #[cfg(target_os = "linux")]
    cut_read_in_kernel: Option<&'static str>,
    failure: Option<String>,
}

#[cfg(target_os = "linux")]
type Walk = Result<linux::InodeOwners, String>;
#[cfg(not(target_os = "linux"))]
type Walk = Result<(), String>;

#[cfg(target_os = "linux")]
use owners::Lookup;

/// Elsewhere the socket listing itself names the owners.
#[cfg(not(target_os = "linux"))]
struct Lookup {
    owners: Walk,
    method: &'static str,
    note: Option<String>,
}

/// Every socket descriptor of every visible process, by the method chosen for this machine.
#[cfg(target_os = "linux")]
fn lookup_owners(stop: Deadline, under_way: &UnderWay, told: bpf::Told<'_>) -> Lookup {
    owners::lookup(stop, under_way, told)
}

#[cfg(not(target_os = "linux"))]
fn lookup_owners(stop: Deadline, under_way: &UnderWay) -> Lookup {
    let _ = stop;
    under_way.begin("system");
    Lookup {
        owners: Ok(()),
        method: "system",
        note: None,
    }
}

fn failed_lookup() -> Lookup {
    Lookup {
        owners: Err("owner lookup failed".to_string()),
        method: "procfs",
        note: None,
        #[cfg(target_os = "linux")]
        iterator: None,
    }
}

#[cfg(target_os = "linux")]
fn find_owners(candidates: &[(Socket, Vec<u32>)], walk: Walk) -> Owners {
    match walk {
        Ok(mut walk) => Owners {
            by_socket: holders_by_socket(candidates, &mut walk.pids),
            unreadable: walk.unreadable,
            unreadable_pids: walk.unreadable_pids,
            all_unread: walk.all_unread,
            covered: walk.covered,
            vanished: walk.vanished,
            other_netns: walk.other_netns,
            other_netns_pid: walk.other_netns_pid,
            starts: walk.starts,
            blocked: HashMap::new(),
            blocked_cut: HashSet::new(),
            blocked_unread: HashMap::new(),
            seen: walk.seen,
            cut: walk.cut,
            cut_read_in_kernel: None,
            failure: None,
        },
        Err(e) => Owners {
            by_socket: vec![Vec::new(); candidates.len()],
            unreadable: 0,
            unreadable_pids: Vec::new(),
            all_unread: Vec::new(),
            covered: Vec::new(),
            vanished: 0,
            other_netns: 0,
            other_netns_pid: None,
            starts: HashMap::new(),
            blocked: HashMap::new(),
            blocked_cut: HashSet::new(),
            blocked_unread: HashMap::new(),
            seen: linux::Seen::default(),
            cut: own_tables::Cut::default(),
            cut_read_in_kernel: None,
            failure: Some(e),
        },
    }
}

/// The holders of each candidate socket (none for inode 0), moved out of `pids`: each socket
/// is listed once, so its holders are not copied. A socket listed again (the same inode) is
/// given a copy of what its first row was given.
#[cfg(target_os = "linux")]
fn holders_by_socket(
    candidates: &[(Socket, Vec<u32>)],
    pids: &mut HashMap<u32, Vec<u32>>,
) -> Vec<Vec<u32>> {
    let mut by_socket: Vec<Vec<u32>> = Vec::with_capacity(candidates.len());
    // Where each inode's holders went, kept from the first socket found without holders on:
    // only then may an earlier row have taken them.
    let mut rows: Option<HashMap<u32, usize>> = None;
    for (s, _) in candidates {
        let inode = s.inode;
        let holders = if inode == 0 {
            Vec::new()
        } else if let Some(holders) = pids.remove(&inode) {
            holders
        } else {
            let rows = rows.get_or_insert_with(|| {
                let mut rows = HashMap::with_capacity(candidates.len());
                for (i, (earlier, _)) in candidates[..by_socket.len()].iter().enumerate() {
                    rows.entry(earlier.inode).or_insert(i);
                }
                rows
            });
            rows.get(&inode)
                .map(|&i| by_socket[i].clone())
                .unwrap_or_default()
        };
        if let Some(rows) = &mut rows {
            rows.entry(inode).or_insert(by_socket.len());
        }
        by_socket.push(holders);
    }
    by_socket
}

#[cfg(not(target_os = "linux"))]
fn find_owners(candidates: &[(Socket, Vec<u32>)], _walk: Walk) -> Owners {
    Owners {
        by_socket: candidates
            .iter()
            .map(|(_, pids)| pids.iter().copied().filter(|&p| p != 0).collect())
            .collect(),
        unreadable: 0,
        unreadable_pids: Vec::new(),
        vanished: 0,
        other_netns: 0,
        other_netns_pid: None,
        starts: HashMap::new(),
        failure: None,
    }
}

/// The user and executable of processes whose details did not arrive in time, read on a
/// thread of their own for at most a second (neither needs the process's memory).
#[cfg(target_os = "linux")]
#[allow(clippy::type_complexity)]
fn late_facts(pids: &[u32]) -> Vec<(u32, Option<u32>, (Option<Vec<u8>>, crate::model::ExeState))> {
    if pids.is_empty() {
        return Vec::new();
    }
    let pids = pids.to_vec();
    Deadline::after(std::time::Duration::from_secs(1))
        .run(move || {
            pids.into_iter()
                .map(|pid| {
                    let (path, mut state) = exe::exe(pid);
                    identity::judge(
                        &format!("/proc/{pid}"),
                        (path.as_deref(), b""),
                        &mut state,
                        &[],
                        None,
                    );
                    (pid, linux::status_uid(pid), (path, state))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The kernel's name of a process (`/proc/PID/comm`), escaped where it is not UTF-8.
fn kernel_name(pid: u32) -> Option<String> {
    #[cfg(target_os = "linux")]
    {
        linux::comm(pid).map(|b| String::from_utf8_lossy(&b).into_owned())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        None
    }
}

/// Is whoport running setuid or setgid (real and effective ids differ)? It refuses to.
pub fn is_setid() -> bool {
    #[cfg(unix)]
    {
        use rustix::process::{getegid, geteuid, getgid, getuid};
        getuid() != geteuid() || getgid() != getegid()
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// Is whoport running as root (effective uid 0)?
pub fn is_root() -> bool {
    #[cfg(unix)]
    {
        rustix::process::geteuid().is_root()
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// whoport's effective uid.
fn current_uid() -> Option<u32> {
    #[cfg(unix)]
    {
        Some(rustix::process::geteuid().as_raw())
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Why no process could be seen for this socket: never a blank, never a guess.
pub fn hidden_reason(
    socket: &Socket,
    root: bool,
    me: Option<u32>,
    failure: Option<&str>,
) -> Hidden {
    if let Some(failure) = failure {
        return Hidden::ProcUnreadable(failure.to_string());
    }
    if cfg!(not(target_os = "linux")) {
        return Hidden::NotReported;
    }
    if socket.inode == 0 {
        // The kernel shows inode 0 for a socket with no struct socket behind it. A process's
        // listener or bound UDP socket keeps its struct socket for as long as it is in the
        // tables (closing takes it out of them first): a listener with none is the kernel's.
        let listening = socket.state == Some("listen")
            || (socket.protocol.is_datagram() && socket.remote.is_none());
        return if listening {
            Hidden::Kernel
        } else {
            Hidden::NoDescriptor
        };
    }
    if root {
        Hidden::NotVisibleToRoot(Default::default())
    } else if socket.uid.is_some() && socket.uid == me {
        Hidden::NotFoundForUser(Default::default())
    } else {
        Hidden::NotRoot {
            hidepid: proc_dir::hides_other_users(),
        }
    }
}

#[cfg(test)]
mod tests;
