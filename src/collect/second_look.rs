//! The second look: for the sockets no descriptor table was seen holding, owners held in
//! other ways (mappings, io_uring, a call asleep on the socket, a unix socket message), and
//! for the rest the reason whoport established.

use crate::hash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::sync::atomic::AtomicBool;

use super::deadline::{self, Deadline};
use super::{
    blocked, bpf, kernel_name, kernel_owned, linux, maps, moving, ownerless, ring_clues, unvisited,
    Owners,
};
use crate::model::{Hidden, Socket};
use crate::port::Protocol;

/// The second look, whichever method found the owners: for the sockets still ownerless,
/// owners held in other ways (filled into `owners`, with how they hold it), and for the rest
/// the reason whoport established. Nothing happens when every socket has an owner.
#[allow(clippy::type_complexity)]
pub(super) fn second_look(
    candidates: &[(Socket, Vec<u32>)],
    owners: &mut Owners,
    (root, me): (bool, Option<u32>),
    (shared, via_iterator): (bpf::Shared, bool),
    deadline: Deadline,
    notes: &mut Vec<String>,
) -> (HashMap<u32, Option<&'static str>>, HashMap<u32, Hidden>) {
    let mut held = HashMap::new();
    let mut reasons = HashMap::new();
    if owners.failure.is_some() {
        return (held, reasons);
    }
    let ownerless: HashSet<u32> = candidates
        .iter()
        .zip(&owners.by_socket)
        .filter(|((s, _), pids)| pids.is_empty() && s.inode != 0)
        .map(|((s, _), _)| s.inode)
        .collect();
    // A process whose `/proc` entries another directory is mounted over (a way to hide one)
    // may hold a socket whose other holders were seen (a listener its parent shares with it):
    // with the walk, the kernel then reads every table for every socket of the query, as the
    // in-kernel lookup does, though none is ownerless. (Where no process is hidden so, that
    // read waits for an ownerless socket: a process refused even to root, as a microVM's init
    // is, would otherwise make every run of the walk load it.)
    let hidden_by_mount = !via_iterator
        && owners
            .covered
            .iter()
            .any(|pid| owners.unreadable_pids.contains(pid));
    if ownerless.is_empty() && !(hidden_by_mount && ownerless::kernel_may_be_asked()) {
        return (held, reasons);
    }
    static LOOKING: AtomicBool = AtomicBool::new(false);
    let wanted = ownerless.clone();
    let seen = std::mem::take(&mut owners.seen);
    let unread_tables = (owners.unreadable, owners.unreadable_pids.clone());
    let activity = seen.activity.clone();
    // Every socket of the listing, for the tables the walk could not read (below).
    let every: HashSet<u32> = candidates
        .iter()
        .map(|(s, _)| s.inode)
        .filter(|&i| i != 0)
        .collect();
    let looked = deadline.run_alone(&LOOKING, move || {
        bpf::begin_lock_reads(deadline);
        // One load for every in-kernel check below: the owner lookup's, or made by the first
        // check that needs it.
        let mut shared = shared;
        let mut wanted = wanted;
        // Where the walk could not read some descriptor tables and the kernel may be asked,
        // the kernel reads every table first, for every socket of the listing: the holders
        // of what is ownerless by descriptor, and what the unread processes hold beside the
        // holders seen (the in-kernel lookup names them all).
        let mut in_kernel = None;
        if !via_iterator && unread_tables.0 > 0 && ownerless::kernel_may_be_asked() {
            if let Ok(l) = shared.get() {
                if let Ok(tables) = l.again(&every) {
                    wanted.retain(|i| tables.get(i).is_none_or(Vec::is_empty));
                    // Read whole are those of whoport's namespace only: what another's sockets
                    // a process holds is not in this read.
                    let mut read = std::mem::take(&mut l.visited);
                    read.retain(|pid| !l.visited_elsewhere.contains(pid));
                    in_kernel = Some((tables, read));
                }
            }
        }
        let found = if via_iterator {
            ownerless::find_after_iterator(&wanted, &mut shared)
        } else {
            ownerless::find(
                &wanted,
                (seen, (unread_tables.0, &unread_tables.1)),
                &mut shared,
            )
        };
        (found, in_kernel, shared)
    });
    let Some(((mut found, clues), in_kernel, mut shared)) = looked else {
        // Nothing may be claimed about these sockets: the look did not end.
        let late = if ownerless.is_empty() {
            format!(
                "the kernel's read of the descriptor tables the /proc walk could not read did \
                 not finish within {}",
                deadline::limit().text
            )
        } else {
            format!(
                "the second look for the owners of {} sockets did not finish within {}",
                ownerless.len(),
                deadline::limit().text
            )
        };
        for inode in &ownerless {
            reasons.insert(*inode, Hidden::Late(late.clone()));
        }
        notes.push(late);
        return (held, reasons);
    };
    notes.extend(unread_maps_notes(&clues.maps_unread));
    // What the kernel's read of every table found: the ownerless sockets' holders by
    // descriptor, the holders beside those seen of the others; and every process of this
    // namespace it visited had its descriptors read.
    if let Some((tables, visited)) = &in_kernel {
        for (inode, pids) in tables {
            if ownerless.contains(inode) && !pids.is_empty() {
                let mut pids = pids.clone();
                pids.sort_unstable();
                pids.dedup();
                found.insert(*inode, (pids, ownerless::Holding::LateDescriptor));
            }
        }
        also_held(candidates, owners, tables, &ownerless);
        // They no longer count among the processes not read, for the notes and the reasons
        // below; a process whose threads' tables the walk cut keeps its own note (which says
        // the kernel read them), so where not every such process is named none is counted off.
        let cut = owners.cut.pids();
        if cut.len() == owners.cut.count {
            let read = owners
                .all_unread
                .iter()
                .filter(|pid| visited.contains(pid) && !cut.contains(pid))
                .count();
            owners.unreadable = owners.unreadable.saturating_sub(read);
            owners
                .unreadable_pids
                .retain(|pid| !visited.contains(pid) || cut.contains(pid));
        }
        owners.all_unread.retain(|pid| !visited.contains(pid));
        owners.cut_read_in_kernel = Some("every socket whoport looked at");
    }
    adopt(candidates, owners, &mut held, &found);
    let left: Vec<(Protocol, u16, u32)> = candidates
        .iter()
        .filter(|(s, _)| ownerless.contains(&s.inode) && !found.contains_key(&s.inode))
        .map(|(s, _)| (s.protocol, s.port, s.inode))
        .collect();
    if left.is_empty() {
        return (held, reasons);
    }
    let there = ownerless::still_there(&left);
    // The iterator reads every task's descriptor table it visits in the kernel, whatever
    // /proc lets this user read; those it did not visit were read through /proc, and the
    // processes neither showed are the only ones not read.
    let (unreadable, unreadable_pids) = (owners.unreadable, owners.unreadable_pids.clone());
    let view = ownerless::View {
        every_table: via_iterator && unreadable == 0,
        iterator_skipped: via_iterator && unreadable > 0,
        cut: owners.cut.clone(),
        ..ownerless::View::read(root, me, unreadable_pids.clone(), unreadable)
    };
    let waiting: HashSet<u32> = left
        .iter()
        .map(|l| l.2)
        .filter(|i| there.contains(i))
        .collect();
    // Where the walk could not read some processes and the look into io_uring instances ran in
    // the kernel (so the kernel may be asked), the descriptor tables are read there too, for
    // the sockets still ownerless: one that no table holds is not said to be perhaps held by
    // the processes the walk could not read (their tables were read, in the kernel).
    // A process that read's iterator did not visit was not read in the kernel: read through
    // /proc if it can be, and otherwise still named as not read.
    let (tables, skipped): (Option<HashMap<u32, Vec<u32>>>, linux::InodeOwners) =
        if !via_iterator && unreadable > 0 && clues.kernel_looked && !waiting.is_empty() {
            let began = unvisited::boot_ticks();
            match shared.get().and_then(|l| {
                let tables = l.again(&waiting).map_err(|e| bpf::explain(&e))?;
                Ok((tables, std::mem::take(&mut l.visited)))
            }) {
                Ok((tables, visited)) => (
                    Some(tables),
                    unvisited::read(&visited, began, Some(&waiting)),
                ),
                Err(_) => (None, linux::InodeOwners::default()),
            }
        } else {
            (None, linux::InodeOwners::default())
        };
    // The holders the kernel (or /proc, for what its iterator did not visit) found in the
    // tables the walk could not read are the sockets' owners, as the iterator would name them.
    let mut by_tables: HashMap<u32, (Vec<u32>, ownerless::Holding)> = HashMap::new();
    for (inode, pids) in tables.iter().flatten().chain(&skipped.pids) {
        if waiting.contains(inode) && !pids.is_empty() {
            let holders = &mut by_tables
                .entry(*inode)
                .or_insert_with(|| (Vec::new(), ownerless::Holding::LateDescriptor))
                .0;
            holders.extend(pids);
            holders.sort_unstable();
            holders.dedup();
        }
    }
    adopt(candidates, owners, &mut held, &by_tables);
    if tables.is_some() && owners.cut_read_in_kernel.is_none() {
        owners.cut_read_in_kernel =
            Some("the sockets the /proc walk found no owner of (only those)");
    }
    let waiting: HashSet<u32> = waiting
        .into_iter()
        .filter(|i| !by_tables.contains_key(i))
        .collect();
    let in_no_table: HashSet<u32> = if tables.is_some() {
        waiting.clone()
    } else {
        HashSet::new()
    };
    let read_in_kernel = ownerless::View {
        unreadable: skipped.unreadable,
        unreadable_pids: skipped.unreadable_pids.clone(),
        every_table: skipped.unreadable == 0,
        iterator_skipped: skipped.unreadable > 0,
        cut: Default::default(),
        ..view.clone()
    };
    // A socket without a file is the kernel's own: established before anything else that
    // could explain it (descriptors root could not read hold only sockets with files).
    let kernel = kernel_owned::kernel_owned(&waiting, &mut shared);
    let kernel_read = kernel.is_ok();
    let kernel = kernel.unwrap_or_default();
    // Held by a system call in progress: a thread asleep on the socket's wait queue (in
    // accept() or recv(), its descriptor closed by another thread). Not looked for in the
    // queues and tables below: it is held, and by whom is established.
    let not_kernel: HashSet<u32> = waiting.difference(&kernel).copied().collect();
    // A sleeper holds the socket only when no descriptor table does: every table was read
    // (by the iterator, or by the walk with none unreadable), or read again in the kernel for
    // this socket. A thread asleep in accept() on its own open listener is on the same wait
    // queue, and a table whoport could not read may hold the socket.
    let blockable: HashSet<u32> = if via_iterator || unreadable == 0 {
        not_kernel.clone()
    } else {
        not_kernel.intersection(&in_no_table).copied().collect()
    };
    let sleepers = blocked::blocked_calls(&blockable, &mut shared);
    let queues_read = sleepers.as_ref().map(|_| ()).map_err(String::clone);
    let sleepers = sleepers.unwrap_or_default();
    // Where a wait queue was not read to its end, more threads may be asleep on it: the list
    // is said incomplete, and nothing is ruled out from it.
    let sleepers_cut = sleepers.cut;
    let calls = sleepers.threads;
    let by_calls: HashMap<u32, (Vec<u32>, ownerless::Holding)> = calls
        .iter()
        .map(|(inode, threads)| {
            let mut pids: Vec<u32> = threads.iter().map(|t| t.pid).collect();
            pids.dedup();
            // Only io-wq workers asleep on it: the requests they run hold it.
            let how = if threads.iter().all(|t| t.io_worker) {
                ownerless::Holding::IoUringRequest
            } else {
                ownerless::Holding::BlockedCall
            };
            (*inode, (pids, how))
        })
        .collect();
    adopt(candidates, owners, &mut held, &by_calls);
    owners.blocked_unread.extend(unread_beside(
        candidates,
        &by_calls,
        (&in_no_table, &read_in_kernel, &view),
        notes,
    ));
    owners.blocked.extend(calls);
    owners.blocked_cut.extend(sleepers_cut.iter().copied());
    // Looked for in the unix socket queues, and again in the tables and the queues in turn
    // while it is seen moving (received, or passed on, between two looks). Not the kernel's
    // own: a socket without a file is in no queue and no table, so each of those looks (a
    // pass over every descriptor of the machine) could only see it nowhere.
    let movable: HashSet<u32> = not_kernel
        .iter()
        .filter(|i| !by_calls.contains_key(i))
        .copied()
        .collect();
    // Where the tables the walk could not read were read in the kernel, the processes not
    // read are only those neither the kernel's iterator nor /proc showed, as with the iterator.
    let not_read = if tables.is_some() {
        (skipped.unreadable, skipped.unreadable_pids.as_slice())
    } else {
        (unreadable, unreadable_pids.as_slice())
    };
    let followed = moving::follow(
        &movable,
        not_read,
        (shared, via_iterator),
        activity,
        deadline,
        root || via_iterator,
    );
    let received = followed.found;
    // Asked for again in the kernel's table before a reason is given that no look saw: one
    // said to be passed on, and one left with only what remains possible (no process seen
    // holding it, a process not read...). A socket the kernel no longer has then was closed
    // during the scan (its message dropped with the receiving end, or closed by its owner
    // after the looks missed it), which is the reason established.
    let again: Vec<(Protocol, u16, u32)> = left
        .iter()
        .filter(|l| !received.contains_key(&l.2))
        .filter(|l| {
            moving::ask_again(
                followed.reasons.get(&l.2),
                kernel.contains(&l.2),
                there.contains(&l.2),
            )
        })
        .copied()
        .collect();
    let there_still = if again.is_empty() {
        HashSet::new()
    } else {
        ownerless::still_there(&again)
    };
    adopt(candidates, owners, &mut held, &received);
    for (s, _) in candidates {
        if left.iter().any(|l| l.2 == s.inode)
            && !received.contains_key(&s.inode)
            && !by_calls.contains_key(&s.inode)
            && !by_tables.contains_key(&s.inode)
        {
            let reason = match followed.reasons.get(&s.inode) {
                Some(established) => moving::confirmed(established, there_still.contains(&s.inode)),
                None if kernel.contains(&s.inode) => Hidden::Kernel,
                None => {
                    // Every table was read in the kernel: by the lookup, or for this socket.
                    let in_kernel = in_no_table.contains(&s.inode);
                    let view = if in_kernel { &read_in_kernel } else { &view };
                    let queues = followed.unqueued.contains(&s.inode);
                    let ruled = crate::model::RuledOut {
                        queues,
                        queues_unread: followed.queues_unread.clone().filter(|_| !queues),
                        kernel: kernel_read,
                        every_table: view.every_table,
                        rings: clues.kernel_looked,
                        wait_queue: wait_queue(
                            s,
                            if !not_kernel.contains(&s.inode) {
                                Some("it was not in the kernel's socket table when whoport looked")
                            } else if sleepers_cut.contains(&s.inode) {
                                Some(
                                    "it was read only to its first 64 entries (as many as \
                                     whoport reads of one queue)",
                                )
                            } else if !blockable.contains(&s.inode) {
                                Some(
                                    "a descriptor table whoport could not read may hold it, so \
                                     a thread asleep on it would not be its only holder",
                                )
                            } else {
                                None
                            },
                            &queues_read,
                        ),
                        // Read in the kernel, or every process's /proc/PID/maps answered.
                        every_mapping: clues.maps_unread.refused == 0,
                        outside_pid_namespace: !view.initial_pid_namespace,
                        churned: clues.churned,
                    };
                    let reason =
                        ruled_out(view.reason(s.uid, there_still.contains(&s.inode)), ruled);
                    maybe_mapped(
                        ring_clues::maybe_io_uring(reason, s, &clues),
                        &clues.maps_unread,
                    )
                }
            };
            reasons.insert(s.inode, reason);
        }
    }
    let met = bpf::lock_reads_met();
    const WHAT: &str = "the kernel's reads of this network namespace's sockets (whether one is \
                        the kernel's own, the threads asleep on them, what the unix sockets' \
                        queues carry)";
    if met.is_some_and(|m| m.late) {
        notes.push(format!(
            "{WHAT} did not end by the look's deadline (--timeout {}): the kernel takes each \
             socket's lock as it reads it, and one may be held (by a thread of some process \
             waiting in the kernel while it holds it, for example for a file on a filesystem \
             that does not answer); the process reading them was killed and left behind (it \
             ends once the lock is let go; until then, later runs do not read them); what they \
             would establish is not known",
            deadline::limit().text
        ));
    } else if met.is_some_and(|m| m.out_of_time) {
        notes.push(format!(
            "{WHAT} were not all made: the look's deadline (--timeout {}) came first; what they \
             would establish is not known",
            deadline::limit().text
        ));
    } else if let Some(waiting) = met.and_then(|m| m.earlier).flatten() {
        notes.push(format!(
            "{WHAT} were not made: {}; what they would establish is not known",
            bpf::left_waiting_words(&waiting)
        ));
    }
    (held, reasons)
}

/// What the look at the wait queues established for socket `s` (`asked`: its inode was among
/// those looked for; `look`: whether the look ran, or why not). A socket's queue is read only
/// where the tcp and udp iterators visit it: a listening TCP socket or a UDP socket of
/// whoport's network namespace (the only one whose sockets are listed). The look ran and named
/// no thread on it: none is asleep on it.
fn wait_queue(
    s: &Socket,
    not_asked: Option<&str>,
    look: &Result<(), String>,
) -> crate::model::WaitQueue {
    use crate::model::WaitQueue;
    let visited = match s.protocol {
        Protocol::Tcp => s.state == Some("listen"),
        Protocol::Udp => true,
        _ => false,
    };
    match look {
        Err(why) => WaitQueue::Unread(Some(why.clone())),
        Ok(()) if !visited => WaitQueue::Unread(Some(
            "whoport reads the wait queues of listening TCP sockets and UDP sockets only"
                .to_string(),
        )),
        Ok(()) if not_asked.is_some() => WaitQueue::Unread(not_asked.map(str::to_string)),
        Ok(()) => WaitQueue::NoSleeper,
    }
}

/// The reason for a socket that no process was found holding, with what the looks ruled out.
fn ruled_out(reason: Hidden, ruled: crate::model::RuledOut) -> Hidden {
    match reason {
        Hidden::NotVisibleToRoot(_) => Hidden::NotVisibleToRoot(ruled),
        Hidden::OtherPidNamespace(_) => Hidden::OtherPidNamespace(ruled),
        Hidden::NotFoundForUser(_) => Hidden::NotFoundForUser(ruled),
        Hidden::NotFoundForOtherUser(_) => Hidden::NotFoundForOtherUser(ruled),
        Hidden::Unreadable { causes, .. } => Hidden::Unreadable {
            causes,
            ruled: Some(ruled),
        },
        other => other,
    }
}

/// Fills in the holders the second look found for sockets still ownerless, with how they
/// hold them, and their start times (for PID reuse).
fn adopt(
    candidates: &[(Socket, Vec<u32>)],
    owners: &mut Owners,
    held: &mut HashMap<u32, Option<&'static str>>,
    found: &HashMap<u32, (Vec<u32>, ownerless::Holding)>,
) {
    for ((s, _), pids) in candidates.iter().zip(owners.by_socket.iter_mut()) {
        if let Some((holders, how)) = found.get(&s.inode) {
            if pids.is_empty() {
                pids.clone_from(holders);
                held.insert(s.inode, how.words());
                for &pid in holders {
                    if let Some(start) = linux::start_ticks(pid) {
                        owners.starts.insert(pid, start);
                    }
                }
            }
        }
    }
}

/// The holders the kernel found in the tables (`tables`) of the sockets some process was seen
/// holding (not the `ownerless` ones, adopted as the second look's finds are), added to those
/// seen.
fn also_held(
    candidates: &[(Socket, Vec<u32>)],
    owners: &mut Owners,
    tables: &HashMap<u32, Vec<u32>>,
    ownerless: &HashSet<u32>,
) {
    for ((s, _), pids) in candidates.iter().zip(owners.by_socket.iter_mut()) {
        if pids.is_empty() || ownerless.contains(&s.inode) {
            continue;
        }
        let Some(found) = tables.get(&s.inode) else {
            continue;
        };
        let before = pids.len();
        for &pid in found {
            if !pids.contains(&pid) {
                pids.push(pid);
                if let Some(start) = linux::start_ticks(pid) {
                    owners.starts.insert(pid, start);
                }
            }
        }
        if pids.len() > before {
            pids.sort_unstable();
        }
    }
}

/// Each sleeper's process holds its socket; a process whose table was not read (not visited
/// by the kernel's iterator, nor shown by /proc) may hold it too: for each socket of
/// `by_calls`, those processes (as `read_in_kernel` says for the sockets whose tables were
/// read again in the kernel, `in_no_table`; as `view` says otherwise), each with a note.
fn unread_beside(
    candidates: &[(Socket, Vec<u32>)],
    by_calls: &HashMap<u32, (Vec<u32>, ownerless::Holding)>,
    (in_no_table, read_in_kernel, view): (&HashSet<u32>, &ownerless::View, &ownerless::View),
    notes: &mut Vec<String>,
) -> HashMap<u32, crate::model::UnreadHolders> {
    let mut beside = HashMap::new();
    for (s, _) in candidates {
        let (inode, Some((_, how))) = (&s.inode, by_calls.get(&s.inode)) else {
            continue;
        };
        let view = if in_no_table.contains(inode) {
            read_in_kernel
        } else {
            view
        };
        let Some(unread) = view.not_read() else {
            continue;
        };
        let named = crate::model::unreadable_pid_list(&unread.pids, unread.count);
        let who = if unread.count == 1 {
            named
        } else {
            format!("one of {} processes ({named})", unread.count)
        };
        notes.push(format!(
            "{} {} is {}, and {who}, whose descriptors could not be read, may hold it too",
            s.protocol,
            crate::address::endpoint(s.address, None, s.port),
            how.words().unwrap_or("held by a system call in progress"),
        ));
        beside.insert(*inode, unread);
    }
    beside
}

/// The processes whose memory mappings were not read in time, each named.
fn unread_maps_words(unread: &maps::Unread) -> Vec<String> {
    let within = maps::PER_PROCESS.as_secs();
    let mut words: Vec<String> = unread
        .jammed
        .iter()
        .map(|&pid| {
            let name = kernel_name(pid).unwrap_or_else(|| "exited".to_string());
            format!("the memory map of pid {pid} ({name}) could not be read within {within}s")
        })
        .collect();
    words.extend(unread.covered.iter().map(|(pid, path)| {
        if *path == format!("/proc/{pid}/maps") {
            format!("a file is mounted over {path}, which whoport does not read through")
        } else if *path == format!("/proc/{pid}") {
            format!(
                "a directory is mounted over {path} ({}), which whoport does not read through",
                crate::model::HIDING_MOUNT
            )
        } else {
            format!(
                "pid {pid}'s main thread exited, and something is mounted over {path}, which \
                 whoport does not read through"
            )
        }
    }));
    if unread.skipped > 0 {
        words.push(format!(
            "the memory maps of {} more processes were not read (after {} that did not answer)",
            unread.skipped,
            maps::MOST_JAMMED
        ));
    }
    words
}

/// A note for each process whose memory mappings were not read in time: a socket it holds
/// only through a mapping is not found.
fn unread_maps_notes(unread: &maps::Unread) -> Vec<String> {
    unread_maps_words(unread)
        .into_iter()
        .map(|w| format!("{w}: a socket held only through a memory mapping there is not found"))
        .collect()
}

/// The reason for a socket still ownerless, with the processes whose memory mappings were not
/// read in time (one may hold it through a mapping). Not for a socket that is gone, nor for
/// another user's.
fn maybe_mapped(reason: Hidden, unread: &maps::Unread) -> Hidden {
    if unread.is_empty() || matches!(reason, Hidden::ClosedDuringScan | Hidden::NotRoot { .. }) {
        return reason;
    }
    Hidden::MapsUnread {
        unread: unread_maps_words(unread),
        otherwise: Box::new(reason),
    }
}
