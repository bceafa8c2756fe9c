//! What the looks for a socket that no process holds ruled out, and the words that say it:
//! what was established first, then what is left, as examples, never as a complete list.

/// Why the unix socket queues were not all looked into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueuesUnread {
    /// The look could not be made (or not into the queues of every network namespace): why.
    NotLookedInto(String),
    /// A queue was not read to its end: which, and why.
    NotToTheEnd(String),
}

/// What the looks for a socket that no process holds ruled out, beyond the descriptor
/// tables: only an alternative that was not ruled out is named as a possibility.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuledOut {
    /// Every unix socket queue was looked into, and no message in transit carries it.
    pub queues: bool,
    /// When the queues were not all looked into (`queues` false): why, where known.
    pub queues_unread: Option<QueuesUnread>,
    /// The kernel's own sockets were read, and it is not one of them (it has a file).
    pub kernel: bool,
    /// Every task's descriptor table was read in the kernel (the iterator), whatever
    /// `/proc` lets this user read: no process of another user holds a descriptor for it.
    pub every_table: bool,
    /// The io_uring instances no descriptor reaches were looked into in the kernel (every
    /// registered ring table, and the rings of each task's io_uring context where some were
    /// reached from nothing else): none holds it, but those named as not read to the end.
    /// The same look reads the registered files of every ring in a descriptor table,
    /// whatever user it runs as. A request's own file is read, not a splice's input.
    pub rings: bool,
    /// Every process's memory mappings were read (in the kernel, or in `/proc`, none
    /// refused), whatever user it runs as: no process maps it (but those named as not read
    /// in time).
    pub every_mapping: bool,
    /// What the look at the socket's wait queue established.
    pub wait_queue: WaitQueue,
    /// whoport runs in a PID namespace that is not the machine's first: a process outside it,
    /// which whoport cannot see, may hold the socket (the first possibility).
    pub outside_pid_namespace: bool,
    /// How many processes started while the walk read `/proc` and exited before it could read
    /// them, some still at its last look (0: none then): the socket may be handed from one to
    /// the next (each forking and exiting in turn) faster than a walk reads them (a
    /// possibility, offered first).
    pub churned: usize,
}

/// The look at a socket's wait queue, for the threads asleep in a call on it (a thread
/// blocked in accept() or recv(), or in poll() on it, keeps the socket open after another
/// thread closed the descriptor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitQueue {
    /// Read in the kernel for this very socket: no thread is asleep on it.
    NoSleeper,
    /// Not read, and why (`None`: no look was made on this system).
    Unread(Option<String>),
}

impl Default for WaitQueue {
    fn default() -> Self {
        WaitQueue::Unread(None)
    }
}

impl RuledOut {
    /// What of other users' processes this user could not read, when their descriptor
    /// tables were read in the kernel (`every_table`): their memory mappings, their
    /// io_uring instances. Empty: nothing is left that root would read and this user did not.
    pub fn unread_of_other_users(&self) -> Vec<&'static str> {
        let mut unread = Vec::new();
        if !self.every_mapping {
            unread.push("memory mappings");
        }
        if !self.rings {
            unread.push("io_uring instances");
        }
        unread
    }

    /// The processes that started and exited during the walk, as established (empty: none).
    fn churn_words(&self) -> String {
        match self.churned {
            0 => String::new(),
            1 => "; 1 process started and exited while whoport read /proc, before whoport could \
                  read its descriptors (at its last look)"
                .to_string(),
            n => format!(
                "; {n} processes started and exited while whoport read /proc, before whoport \
                 could read their descriptors (some at its last look)"
            ),
        }
    }

    /// What was established beyond the descriptor tables, then what keeps it open: examples
    /// of what whoport does not look into (never a complete list), and each alternative it
    /// could not rule out.
    pub(super) fn words(&self, for_user: bool) -> String {
        self.words_with(for_user, "")
    }

    /// [`RuledOut::words`] after the `count` processes whose descriptors could not be read
    /// were named: they are the first possibility.
    pub(super) fn words_beside_unread(&self, count: usize) -> String {
        // After the processes that exited, "that process" would be ambiguous.
        let maybe = match (count, self.churned) {
            (1, 0) => "that process may hold it, or ",
            (_, 0) => "one of those processes may hold it, or ",
            (1, _) => "the process whose descriptors could not be read may hold it, or ",
            _ => "one of the processes whose descriptors could not be read may hold it, or ",
        };
        self.words_with(false, maybe)
    }

    fn words_with(&self, for_user: bool, maybe: &str) -> String {
        let outside = if self.outside_pid_namespace {
            "a process outside this PID namespace may hold it (whoport runs in one that is not \
             the machine's first: run it on the host, or with nsenter -p -t 1), or "
        } else {
            ""
        };
        let churn = if self.churned > 0 {
            "it may be handed down between such processes (each forking, then exiting, faster \
             than whoport reads /proc), or "
        } else {
            ""
        };
        let maybe = format!("{churn}{maybe}{outside}");
        let mut established = String::new();
        if for_user && self.every_table {
            established.push_str(
                "; every process's descriptors were read in the kernel, and none holds it",
            );
        }
        if self.queues {
            established.push_str(
                "; no unix socket message in transit carries it (every unix socket queue was \
                 looked into)",
            );
        }
        if self.kernel {
            established.push_str("; it is not a socket the kernel made for itself (it has a file)");
        }
        let asleep_read = self.wait_queue == WaitQueue::NoSleeper;
        if asleep_read {
            established.push_str("; no thread is asleep on its wait queue (read in the kernel)");
        }
        established.push_str(&self.churn_words());
        let mut unseen = vec![
            "a Linux AIO request (io_submit)",
            if asleep_read {
                "a system call in progress on a descriptor since closed that is not asleep on \
                 this socket"
            } else {
                "a system call in progress on a descriptor since closed"
            },
        ];
        if !self.rings {
            unseen.push(
                "an io_uring instance that no descriptor reaches (a ring registered with \
                 IORING_REGISTER_RING_FDS)",
            );
        }
        // Whoport reads a request's own file, never the file a splice reads from: where its
        // worker sleeps on this socket, it is found there; waiting on its pipe, it is not.
        unseen.push("an io_uring splice in flight reading it (whose input whoport does not read)");
        let mut unchecked: Vec<String> = Vec::new();
        if !self.queues {
            let queues = "in a unix socket message in transit (SCM_RIGHTS), whose queues whoport \
                          could not look into";
            unchecked.push(match &self.queues_unread {
                Some(QueuesUnread::NotLookedInto(why)) => format!("{queues} ({why})"),
                Some(QueuesUnread::NotToTheEnd(what)) => format!(
                    "in a unix socket message in transit (SCM_RIGHTS) that whoport did not \
                     read: {what}"
                ),
                None => queues.to_string(),
            });
        }
        if let WaitQueue::Unread(why) = &self.wait_queue {
            let why = why.as_ref().map(|w| format!(" ({w})")).unwrap_or_default();
            unchecked.push(format!(
                "held by a thread blocked in accept() or recv() on a descriptor since closed, \
                 whose wait queue whoport could not read{why}"
            ));
        }
        if for_user && !self.every_table {
            unchecked.push(
                "held by a process of another user, whose descriptors this user cannot read"
                    .to_string(),
            );
        } else if for_user {
            let through = match (self.every_mapping, self.rings) {
                (false, false) => Some("a memory mapping or an io_uring instance"),
                (false, true) => Some("a memory mapping"),
                (true, false) => Some("an io_uring instance"),
                (true, true) => None,
            };
            if let Some(through) = through {
                unchecked.push(format!(
                    "held by a process of another user through {through}, which this user \
                     cannot read"
                ));
            }
        }
        if !self.kernel {
            unchecked.push("the kernel's own socket, which whoport could not check".to_string());
        }
        fn or<S: AsRef<str>>(words: &[S]) -> String {
            match words.split_last() {
                Some((last, [])) => last.as_ref().to_string(),
                Some((last, rest)) => {
                    let rest: Vec<&str> = rest.iter().map(AsRef::as_ref).collect();
                    format!("{}, or {}", rest.join(", "), last.as_ref())
                }
                None => String::new(),
            }
        }
        let otherwise = if unchecked.is_empty() {
            String::new()
        } else {
            format!("; or it is {}", or(&unchecked))
        };
        format!(
            "{established}; so {maybe}something whoport does not look into keeps it open, for \
             example {}{otherwise}",
            or(&unseen)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_read(wait_queue: WaitQueue) -> RuledOut {
        RuledOut {
            queues: true,
            kernel: true,
            every_table: true,
            rings: true,
            wait_queue,
            ..RuledOut::default()
        }
    }

    /// Read in the kernel with no thread asleep on it: said as established, and the blocked
    /// accept()/recv() is not offered; what is left is worded as examples.
    #[test]
    fn a_wait_queue_read_is_established_and_not_offered() {
        for for_user in [false, true] {
            let words = all_read(WaitQueue::NoSleeper).words(for_user);
            assert!(
                words.contains("; no thread is asleep on its wait queue (read in the kernel)"),
                "{words}"
            );
            assert!(!words.contains("accept()"), "{words}");
            assert!(!words.contains("blocked"), "{words}");
            assert!(
                words.contains(
                    "so something whoport does not look into keeps it open, for example a Linux \
                     AIO request (io_submit),"
                ),
                "{words}"
            );
            assert!(
                words.contains(
                    "a system call in progress on a descriptor since closed that is not asleep \
                     on this socket"
                ),
                "{words}"
            );
            // A splice's input is not read, wherever the rings were looked into.
            assert!(
                words.contains(
                    "an io_uring splice in flight reading it (whose input whoport does not read)"
                ),
                "{words}"
            );
            // Established first: the list of what is left comes after every look.
            let asleep = words.find("no thread is asleep").expect("said");
            let left = words.find("for example").expect("examples");
            assert!(asleep < left, "{words}");
            if !for_user {
                assert!(!words.contains("; or it is"), "nothing unchecked: {words}");
            }
        }
    }

    /// Processes that started and exited unread during the walk: said as established, then
    /// offered first, and "that process" never stands for the one not read after them.
    #[test]
    fn processes_exiting_in_turn_are_established_then_offered_first() {
        let churned = RuledOut {
            churned: 3,
            ..RuledOut::default()
        };
        let words = churned.words_beside_unread(1);
        let fact = words
            .find(
                "; 3 processes started and exited while whoport read /proc, before whoport \
                 could read their descriptors (some at its last look); so it may be handed down \
                 between such processes (each forking, then exiting, faster than whoport reads \
                 /proc), or the process whose descriptors could not be read may hold it, or \
                 something whoport does not look into",
            )
            .unwrap_or_else(|| panic!("{words}"));
        assert_eq!(fact, 0, "{words}");
        assert!(!words.contains("that process may"), "{words}");
        let many = churned.words_beside_unread(2);
        assert!(
            many.contains(
                "or one of the processes whose descriptors could not be read may hold it, or"
            ),
            "{many}"
        );
        let one = RuledOut {
            churned: 1,
            ..RuledOut::default()
        }
        .words(false);
        assert!(
            one.starts_with(
                "; 1 process started and exited while whoport read /proc, before whoport could \
                 read its descriptors (at its last look); so it may be handed down"
            ),
            "{one}"
        );
        // None seen: never offered.
        for words in [
            RuledOut::default().words(false),
            RuledOut::default().words_beside_unread(1),
        ] {
            assert!(!words.contains("started and exited"), "{words}");
            assert!(!words.contains("handed down"), "{words}");
        }
        assert!(RuledOut::default()
            .words_beside_unread(1)
            .contains("; so that process may hold it, or"));
    }

    /// Not read: the blocked call is offered, with why it was not checked.
    #[test]
    fn a_wait_queue_not_read_is_offered_with_why() {
        let words = all_read(WaitQueue::Unread(Some("WHOPORT_NO_BPF is set".into()))).words(false);
        assert!(!words.contains("no thread is asleep"), "{words}");
        assert!(
            words.contains(
                "; or it is held by a thread blocked in accept() or recv() on a descriptor since \
                 closed, whose wait queue whoport could not read (WHOPORT_NO_BPF is set)"
            ),
            "{words}"
        );
        assert!(words.contains("for example a Linux AIO request"), "{words}");
        assert!(!words.contains("not asleep on this socket"), "{words}");
        let none = RuledOut::default().words(false);
        assert!(
            none.contains("whose wait queue whoport could not read, or the kernel's own socket"),
            "{none}"
        );
        assert!(
            none.contains("in a unix socket message in transit"),
            "{none}"
        );
    }
}
