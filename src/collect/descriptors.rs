//! The file descriptors a look at the machine needs: whoport raises its own limit on them and
//! refuses to look with fewer free than it needs, rather than take a descriptor it could not
//! open for a process that exited or a table with nothing in it.

/// The most descriptors a look holds open at once, with room to spare. The `/proc` walk,
/// the owners' details and the in-kernel lookup each hold a few on each of their threads (its
/// maps, programs, link and iterator; a process's directory, file and links). Measured at
/// 10,000 listeners over 200 processes: a look limited to 16 said that a process it could not
/// open had exited; with 8 that no process held a socket whose owner was there.
pub const NEEDED: u64 = 64;

/// Why a look cannot have the descriptors it needs ([`NEEDED`]): the limit on open
/// descriptors (the soft one, after [`raise`]), and how many were already open when whoport
/// started (inherited from whoever ran it; `None` when its own `/proc/self/fd` could not be
/// listed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Short {
    pub limit: u64,
    pub open: Option<u64>,
}

impl Short {
    /// How many more whoport may open.
    pub fn free(&self) -> u64 {
        self.limit.saturating_sub(self.open.unwrap_or(0))
    }

    /// "20 more: 44 of its limit of 64 (ulimit -n, raised as far as the hard limit allows)
    /// are open already".
    pub fn words(&self) -> String {
        match self.open {
            Some(open) => format!(
                "{} more: {open} of its limit of {} (ulimit -n, raised as far as the hard limit \
                 allows) are open already",
                self.free(),
                self.limit
            ),
            None => format!(
                "{} (its limit, ulimit -n, raised as far as the hard limit allows)",
                self.limit
            ),
        }
    }
}

/// Raises the soft limit on open descriptors (`ulimit -n`) to the hard limit, which any
/// process may do: a shell or service started with a low soft limit does not make a look fall
/// short. Call it first in `main`, before any thread is started.
pub fn raise() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
        let now = getrlimit(Resource::Nofile);
        if now.current != now.maximum {
            let _ = setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: now.maximum,
                    maximum: now.maximum,
                },
            );
        }
    }
}

/// Why a look cannot have the descriptors it needs ([`NEEDED`] free below the limit), when it
/// cannot.
pub fn short() -> Option<Short> {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getrlimit, Resource};
        let limit = getrlimit(Resource::Nofile).current?;
        // Never across a mount (a directory mounted over it lists what its maker chose); the
        // descriptor that lists it is not counted.
        let open = super::proc_dir::numbered_entries("/proc/self/fd")
            .ok()
            .map(|fds| (fds.len() as u64).saturating_sub(1));
        let short = Short { limit, open };
        (short.free() < NEEDED).then_some(short)
    }
    #[cfg(not(target_os = "linux"))]
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_descriptors_inherited_are_not_free() {
        let short = Short {
            limit: 80,
            open: Some(40),
        };
        assert_eq!(short.free(), 40);
        assert!(
            short.words().starts_with("40 more: 40 of its limit of 80 "),
            "{}",
            short.words()
        );
        let unknown = Short {
            limit: 16,
            open: None,
        };
        assert_eq!(unknown.free(), 16);
        assert!(unknown.words().starts_with("16 (its limit"));
    }
}
