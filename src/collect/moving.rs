//! Sockets that move while whoport looks: a socket passed between processes over a unix
//! socket (`SCM_RIGHTS`) is in the sender's table, then in a queue, then in the receiver's
//! table, and a look at the tables and a look at the queues are moments apart. For sockets
//! still ownerless after the second look (and still there), the queues and the tables are
//! looked at again, in turn, a few times: a table that holds it names its owner; a queue that
//! holds it at two looks in a row says it waits there; a socket seen in a queue at one look
//! and in no queue and no table at the next was passed on between the looks, and is said to
//! be, with whom it was last seen going to. One seen nowhere at two looks in a row is not
//! followed further. Only what some look saw is said.

use crate::hash::{HashMap, HashMapExt, HashSet};

use super::activity::Activity;
use super::bpf::Shared;
use super::deadline::Deadline;
use super::in_flight::{self, Queued};
use super::ownerless;
use crate::model::{Hidden, QueuesUnread};

/// Looks at the queues at most this many times, each followed by a look at the tables.
const ROUNDS: usize = 3;

/// What one look at the unix socket queues saw of a socket.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// In a queue: the established in-transit reason (naming the receiving end's holders).
    Queued(Hidden),
    /// In no queue (nor, since, in any table).
    Nowhere,
}

/// What the looks established.
#[derive(Debug, Default)]
pub struct Followed {
    /// Found in a table at a later look: inode -> (PIDs, how).
    pub found: HashMap<u32, (Vec<u32>, ownerless::Holding)>,
    /// The reasons established for the others (those with none are absent).
    pub reasons: HashMap<u32, Hidden>,
    /// Of the others, those that the last look, into every unix socket queue, saw in none
    /// (with no table looked at after it left unread): not in transit.
    pub unqueued: HashSet<u32>,
    /// Why the last look into the queues was not made, or did not read every queue to its
    /// end: a socket it did not see may still be in transit.
    pub queues_unread: Option<QueuesUnread>,
}

/// Follows the `waiting` sockets (ownerless after the second look, still there): the queues
/// are looked into (where BPF may be used, from the objects the second look shares), and when
/// `look_again` (whoport can read every table: root, or the iterator) the tables again, in
/// turn, within `deadline`. `via_iterator`: the shared objects are the owner lookup's, whose
/// owner program reads the tables again (otherwise the walk does); then, when the other
/// network namespaces' queues are looked into, one pass over every descriptor of the machine
/// reads them and the tables (this namespace's queues are read by the unix iterator first),
/// with the holders of the unix sockets those queues put on the way of the sockets followed.
pub fn follow(
    waiting: &HashSet<u32>,
    unreadable: (usize, &[u32]),
    (shared, via_iterator): (Shared, bool),
    activity: HashMap<u32, Activity>,
    deadline: Deadline,
    look_again: bool,
) -> Followed {
    let mut followed = Followed::default();
    let mut pending = waiting.clone();
    let mut seen: HashMap<u32, Vec<Seen>> = HashMap::new();
    let (mut shared, mut owner_program) = (shared, via_iterator);
    for _ in 0..ROUNDS {
        if pending.is_empty() {
            break;
        }
        // Where the owner lookup ran in the kernel and the tables are looked at after the
        // queues, the other network namespaces' queues (when they are looked into) and the
        // tables are read by one pass over every descriptor of the machine: `tables` then
        // holds what it found of the tables.
        let with_tables = owner_program && look_again;
        let mut tables: Option<ownerless::Again> = None;
        // That pass also reads the holders of the unix sockets the look asks about.
        let mut elsewhere = |loaded: &mut Shared, asked: &HashSet<u32>| {
            if !with_tables || !matches!(loaded, Shared::Loaded(_)) {
                return in_flight::carried_elsewhere(loaded).map(|carried| (carried, None));
            }
            in_flight::may_look()?;
            let iterator = std::mem::replace(loaded, Shared::NotYet).into_loaded();
            let wanted = pending.union(asked).copied().collect();
            let again = again(&wanted, (iterator, true), &activity, deadline);
            *loaded = Shared::new(again.iterator);
            let (found, holders) = split_found(again.found, &pending);
            tables = Some(ownerless::Again {
                found,
                iterator: None,
                queues: None,
            });
            let carried = again
                .queues
                .unwrap_or_else(|| Err(NOT_IN_TIME.to_string()))?;
            Ok((carried, holders))
        };
        // A look that could not be made (no BPF here, or refused this time) saw nothing:
        // nothing is noted, and the queues are not looked into again.
        let looked = in_flight::reasons(
            &pending,
            unreadable,
            owner_program,
            (&mut shared, &mut elsewhere),
        );
        match &looked {
            Ok(queued) => {
                note_look(&mut seen, &pending, queued);
                followed.queues_unread.clone_from(&queued.unread);
            }
            Err(why) => followed.queues_unread = Some(QueuesUnread::NotLookedInto(why.clone())),
        }
        // Waiting in a queue at two looks in a row: settled.
        pending.retain(|inode| !seen.get(inode).is_some_and(|s| settled(s)));
        if pending.is_empty() || !look_again {
            break;
        }
        let found = match tables {
            // Read with the other namespaces' queues: the objects came back with that look
            // (not when it did not end in time: a later look loads again).
            Some(again) => {
                owner_program = matches!(shared, Shared::Loaded(_));
                again.found
            }
            None => {
                let iterator = (&mut shared, &mut owner_program);
                tables_again(&pending, iterator, &activity, deadline)
            }
        };
        let Some(found) = found else {
            tables_not_looked_at(&mut seen);
            break;
        };
        for (inode, holders) in found {
            pending.remove(&inode);
            seen.remove(&inode);
            followed.found.insert(inode, holders);
        }
        // In no queue and no table at two looks in a row: not seen moving, not followed
        // further (a look more would only see it nowhere again, at a pass over every
        // descriptor of the machine each).
        pending.retain(|inode| !seen.get(inode).is_some_and(|s| unseen(s)));
        if looked.is_err() {
            break;
        }
    }
    for (inode, looks) in seen {
        if let Some(reason) = settle(&looks) {
            followed.reasons.insert(inode, reason);
        } else if looks.last() == Some(&Seen::Nowhere) {
            followed.unqueued.insert(inode);
        }
    }
    followed
}

/// Why the other network namespaces' queues, read with the tables, were not read: that pass
/// did not end in time.
const NOT_IN_TIME: &str = "the pass that reads them did not finish in time";

/// The owners of the `pending` sockets in the tables now (`None`: no look could be made in
/// time). Read again by the owner program only when the owner lookup ran in the kernel
/// (`owner_program`; a load made for the queues has not verified it): then the objects go
/// with the look and come back with it (not when it did not end in time: a later look loads
/// again). Otherwise the walk of the processes that ran since.
#[allow(clippy::type_complexity)]
fn tables_again(
    pending: &HashSet<u32>,
    (shared, owner_program): (&mut Shared, &mut bool),
    activity: &HashMap<u32, Activity>,
    deadline: Deadline,
) -> Option<HashMap<u32, (Vec<u32>, ownerless::Holding)>> {
    let iterator = if *owner_program {
        std::mem::replace(shared, Shared::NotYet).into_loaded()
    } else {
        None
    };
    let again = again(pending, (iterator, false), activity, deadline);
    if *owner_program {
        *owner_program = again.iterator.is_some();
        *shared = Shared::new(again.iterator);
    }
    again.found
}

/// What one pass read of the tables for the `pending` sockets and for other sockets asked
/// with them: the former's owners (as [`ownerless::look_again`] gives them), and the others'
/// holders (PIDs). `None` when no look could be made in time.
#[allow(clippy::type_complexity)]
fn split_found(
    found: Option<HashMap<u32, (Vec<u32>, ownerless::Holding)>>,
    pending: &HashSet<u32>,
) -> (
    Option<HashMap<u32, (Vec<u32>, ownerless::Holding)>>,
    Option<HashMap<u32, Vec<u32>>>,
) {
    let Some(found) = found else {
        return (None, None);
    };
    let (owners, others): (HashMap<_, _>, HashMap<_, _>) = found
        .into_iter()
        .partition(|(inode, _)| pending.contains(inode));
    let others = others
        .into_iter()
        .map(|(inode, (pids, _))| (inode, pids))
        .collect();
    (Some(owners), Some(others))
}

/// [`ownerless::look_again`] for the `pending` sockets.
fn again(
    pending: &HashSet<u32>,
    iterator: (Option<super::bpf::Loaded>, bool),
    activity: &HashMap<u32, Activity>,
    deadline: Deadline,
) -> ownerless::Again {
    ownerless::look_again(pending.clone(), iterator, activity.clone(), deadline)
}

/// Notes what one look into the queues saw of each `pending` socket. A socket in no queue
/// looked into is seen nowhere only when every queue it may wait in was read to its end: when
/// the other network namespaces' queues could not be read, or a queue was not read to its end,
/// its absence is no look at all.
fn note_look(seen: &mut HashMap<u32, Vec<Seen>>, pending: &HashSet<u32>, queued: &Queued) {
    for &inode in pending {
        let saw = match queued.reasons.get(&inode) {
            Some(reason) => Seen::Queued(reason.clone()),
            None if queued.unread.is_some() => continue,
            None => Seen::Nowhere,
        };
        seen.entry(inode).or_default().push(saw);
    }
}

/// The tables could not be looked at after the last look at the queues: what that look did
/// not see may have been in a table, so it is not counted as seen nowhere.
fn tables_not_looked_at(seen: &mut HashMap<u32, Vec<Seen>>) {
    for looks in seen.values_mut() {
        if looks.last() == Some(&Seen::Nowhere) {
            looks.pop();
        }
    }
}

/// The reason given at last for a socket the looks said was passed on, once the kernel's
/// table was asked again (`still_there`): one the kernel no longer has was closed during the
/// scan (its message dropped with the receiving end, or it was closed after being received),
/// never passed. Every other reason stands as established.
pub fn confirmed(established: &Hidden, still_there: bool) -> Hidden {
    match established {
        Hidden::PassedDuringScan { .. } if !still_there => Hidden::ClosedDuringScan,
        other => other.clone(),
    }
}

/// Is a socket still ownerless after the looks asked for again in the kernel's table before
/// its reason is given? Yes when the looks said it was passed on, and when no look
/// established anything (`established` none, not found to be the kernel's) for a socket the
/// kernel still had at the first asking (`there`): the reason left would be only what remains
/// possible, while a socket gone by then was closed during the scan. A reason a look saw
/// (in transit, the kernel's own) needs no asking.
pub fn ask_again(established: Option<&Hidden>, kernel: bool, there: bool) -> bool {
    match established {
        Some(reason) => matches!(reason, Hidden::PassedDuringScan { .. }),
        None => !kernel && there,
    }
}

/// In a queue at the last two looks.
fn settled(looks: &[Seen]) -> bool {
    looks.len() >= 2
        && looks[looks.len() - 2..]
            .iter()
            .all(|s| matches!(s, Seen::Queued(_)))
}

/// Seen nowhere (in no queue, then in no table) at the last two looks.
fn unseen(looks: &[Seen]) -> bool {
    looks.len() >= 2 && looks[looks.len() - 2..].iter().all(|s| *s == Seen::Nowhere)
}

/// The reason the looks establish: in transit when the last look saw it queued; passed on
/// during the scan when an earlier look saw it queued and the last one nowhere (it was in no
/// table between); none when no look saw it anywhere.
fn settle(looks: &[Seen]) -> Option<Hidden> {
    match looks.last()? {
        Seen::Queued(reason) => Some(reason.clone()),
        Seen::Nowhere => looks.iter().rev().find_map(|s| match s {
            Seen::Queued(Hidden::InTransit { receivers, .. }) => Some(Hidden::PassedDuringScan {
                receivers: receivers.clone(),
            }),
            _ => None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Relay;

    fn queued(pid: u32) -> Seen {
        Seen::Queued(Hidden::InTransit {
            receivers: vec![(pid, "python3".to_string())],
            through_io_uring: Vec::new(),
            relay: Relay::Direct,
            unreadable: 0,
            unreadable_pids: Vec::new(),
            unread: None,
        })
    }

    #[test]
    fn only_what_a_look_saw_is_said() {
        // Never seen: nothing established here.
        assert_eq!(settle(&[]), None);
        assert_eq!(settle(&[Seen::Nowhere, Seen::Nowhere]), None);
        // Queued at the last look: in transit, to whom it waits for.
        assert_eq!(
            settle(&[Seen::Nowhere, queued(7)]),
            match queued(7) {
                Seen::Queued(r) => Some(r),
                Seen::Nowhere => None,
            }
        );
        // Queued, then nowhere: passed on, last seen going to pid 8.
        assert_eq!(
            settle(&[queued(7), queued(8), Seen::Nowhere]),
            Some(Hidden::PassedDuringScan {
                receivers: vec![(8, "python3".to_string())]
            })
        );
        assert!(settled(&[Seen::Nowhere, queued(7), queued(7)]));
        assert!(!settled(&[queued(7), Seen::Nowhere, queued(7)]));
        assert!(!settled(&[queued(7)]));
        // Nowhere at two looks in a row: no longer followed; what is said of it is what
        // a third look seeing it nowhere again would have said.
        assert!(unseen(&[Seen::Nowhere, Seen::Nowhere]));
        assert!(unseen(&[queued(7), Seen::Nowhere, Seen::Nowhere]));
        assert!(!unseen(&[Seen::Nowhere, queued(7)]));
        assert!(!unseen(&[queued(7), Seen::Nowhere]));
        assert!(!unseen(&[Seen::Nowhere]));
        assert_eq!(
            settle(&[Seen::Nowhere, Seen::Nowhere]),
            settle(&[Seen::Nowhere, Seen::Nowhere, Seen::Nowhere])
        );
        assert_eq!(
            settle(&[queued(7), Seen::Nowhere, Seen::Nowhere]),
            settle(&[queued(7), Seen::Nowhere, Seen::Nowhere, Seen::Nowhere])
        );
    }

    fn look(found: &[(u32, u32)], complete: bool) -> Queued {
        let reasons = found
            .iter()
            .map(|&(inode, pid)| match queued(pid) {
                Seen::Queued(reason) => (inode, reason),
                Seen::Nowhere => unreachable!(),
            })
            .collect();
        let unread = (!complete).then(|| QueuesUnread::NotLookedInto("not read".to_string()));
        Queued { reasons, unread }
    }

    /// A look that could not read the other network namespaces' queues, for a socket missing
    /// from this namespace's, is no look: after a look that saw it queued it is still in
    /// transit, never passed on; the same look made in full says passed on.
    #[test]
    fn a_look_that_missed_some_namespaces_queues_is_no_look() {
        let pending: HashSet<u32> = [41, 42].into_iter().collect();
        let mut seen = HashMap::new();
        note_look(&mut seen, &pending, &look(&[(41, 7), (42, 7)], true));
        let mut partial = seen.clone();
        // 42 is found in this namespace's queues; 41 is not, and other namespaces' queues
        // could not be read.
        note_look(&mut partial, &pending, &look(&[(42, 8)], false));
        assert_eq!(partial[&41], vec![queued(7)], "no look noted for 41");
        assert_eq!(partial[&42], vec![queued(7), queued(8)]);
        assert!(matches!(
            settle(&partial[&41]),
            Some(Hidden::InTransit { .. })
        ));
        // Every queue looked into: 41 was seen nowhere, so it was passed on.
        note_look(&mut seen, &pending, &look(&[(42, 8)], true));
        assert_eq!(seen[&41], vec![queued(7), Seen::Nowhere]);
        assert_eq!(
            settle(&seen[&41]),
            Some(Hidden::PassedDuringScan {
                receivers: vec![(7, "python3".to_string())]
            })
        );
        // A look at the tables that did not end takes back the last "nowhere".
        tables_not_looked_at(&mut seen);
        assert_eq!(seen[&41], vec![queued(7)]);
        assert_eq!(seen[&42], vec![queued(7), queued(8)]);
    }

    /// A socket the looks say was passed on, which the kernel no longer has when asked
    /// again, was closed during the scan, not passed; other reasons are never changed.
    #[test]
    fn a_socket_the_kernel_no_longer_has_was_closed_not_passed() {
        let passed = Hidden::PassedDuringScan {
            receivers: vec![(7, "python3".to_string())],
        };
        assert_eq!(confirmed(&passed, false), Hidden::ClosedDuringScan);
        assert_eq!(confirmed(&passed, true), passed);
        let Seen::Queued(in_transit) = queued(7) else {
            unreachable!()
        };
        assert_eq!(confirmed(&in_transit, true), in_transit);
        assert_eq!(confirmed(&Hidden::Kernel, true), Hidden::Kernel);
    }

    /// Only what a look saw goes without asking the kernel's table again: a socket passed
    /// on, or left with only what remains possible, is asked about first.
    #[test]
    fn what_no_look_saw_is_asked_of_the_kernel_again() {
        let passed = Hidden::PassedDuringScan {
            receivers: Vec::new(),
        };
        let Seen::Queued(in_transit) = queued(7) else {
            unreachable!()
        };
        assert!(ask_again(Some(&passed), false, true));
        assert!(!ask_again(Some(&in_transit), false, true));
        // Nothing established: asked again while the kernel had it.
        assert!(ask_again(None, false, true));
        // Already gone at the first asking: closed, nothing more to ask.
        assert!(!ask_again(None, false, false));
        // The kernel's own socket was seen to be.
        assert!(!ask_again(None, true, true));
    }
}
