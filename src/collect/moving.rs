//! Sockets that move while whoport looks: a socket passed between processes over a unix
//! socket (`SCM_RIGHTS`) is in the sender's table, then in a queue, then in the receiver's
//! table, and a look at the tables and a look at the queues are moments apart. For sockets
//! still ownerless after the second look (and still there), the queues and the tables are
//! looked at again, in turn, a few times: a table that holds it names its owner; a queue that
//! holds it at two looks in a row says it waits there; a socket seen in a queue at one look
//! and in no queue and no table at the next was passed on between the looks, and is said to
//! be, with whom it was last seen going to. Only what some look saw is said.

use std::collections::{HashMap, HashSet};

use super::activity::Activity;
use super::bpf::Shared;
use super::deadline::Deadline;
use super::{in_flight, ownerless};
use crate::model::Hidden;

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
}

/// Follows the `waiting` sockets (ownerless after the second look, still there): the queues
/// are looked into (where BPF may be used, from the objects the second look shares), and when
/// `look_again` (whoport can read every table: root, or the iterator) the tables again, in
/// turn, within `deadline`. `via_iterator`: the shared objects are the owner lookup's, whose
/// owner program reads the tables again (otherwise the walk does).
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
        // A look that could not be made (no BPF here, or refused this time) saw nothing:
        // nothing is noted, and the queues are not looked into again.
        let looked = in_flight::reasons(&pending, unreadable, owner_program, &mut shared);
        if let Some(queued) = &looked {
            for &inode in &pending {
                let saw = match queued.reasons.get(&inode) {
                    Some(reason) => Seen::Queued(reason.clone()),
                    // Not in the queues looked into, while some could not be: no look.
                    None if !queued.complete => continue,
                    None => Seen::Nowhere,
                };
                seen.entry(inode).or_default().push(saw);
            }
        }
        // Waiting in a queue at two looks in a row: settled.
        pending.retain(|inode| !seen.get(inode).is_some_and(|s| settled(s)));
        if pending.is_empty() || !look_again {
            break;
        }
        // Read again only when the owner lookup ran in the kernel (a load made for the
        // queues has not verified the owner program): then the objects go with the look and
        // come back with it (not when it did not end in time: a later look loads again).
        let iterator = if owner_program {
            std::mem::replace(&mut shared, Shared::NotYet).into_loaded()
        } else {
            None
        };
        let (found, back) =
            ownerless::look_again(pending.clone(), iterator, activity.clone(), deadline);
        if owner_program {
            owner_program = back.is_some();
            shared = Shared::new(back);
        }
        let Some(found) = found else {
            // The tables could not be looked at: what the last look at the queues did not
            // see may have been in a table, so it is not counted as seen nowhere.
            for looks in seen.values_mut() {
                if looks.last() == Some(&Seen::Nowhere) {
                    looks.pop();
                }
            }
            break;
        };
        for (inode, holders) in found {
            pending.remove(&inode);
            seen.remove(&inode);
            followed.found.insert(inode, holders);
        }
        if looked.is_none() {
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

/// In a queue at the last two looks.
fn settled(looks: &[Seen]) -> bool {
    looks.len() >= 2
        && looks[looks.len() - 2..]
            .iter()
            .all(|s| matches!(s, Seen::Queued(_)))
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
    }
}
