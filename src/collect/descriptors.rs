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
/// descriptors (the soft one, after [`raise`]), and how many whoport found free below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Short {
    pub limit: u64,
    pub free: u64,
}

impl Short {
    /// "20 (its limit, ulimit -n, is 64, raised as far as the hard limit allows; the others
    /// are open)".
    pub fn words(&self) -> String {
        format!(
            "{} (its limit, ulimit -n, is {}, raised as far as the hard limit allows; the \
             others below it are open already)",
            self.free, self.limit
        )
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
/// cannot. The free ones are counted by taking them (the kernel gives the lowest free number
/// below the limit, or EMFILE), then given back: whatever is open, at any number, and whether
/// or not `/proc/self/fd` can be listed.
pub fn short() -> Option<Short> {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getrlimit, Resource};
        let limit = getrlimit(Resource::Nofile).current?;
        let free = free_below_limit(NEEDED);
        (free < NEEDED).then_some(Short { limit, free })
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// How many descriptors can be opened now, up to `most`: taken one by one, then closed.
#[cfg(target_os = "linux")]
fn free_below_limit(most: u64) -> u64 {
    use rustix::fs::{Mode, OFlags, CWD};
    let Ok(first) = rustix::fs::openat(CWD, "/", OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
    else {
        return 0;
    };
    let mut taken = vec![first];
    while (taken.len() as u64) < most {
        match rustix::io::fcntl_dupfd_cloexec(&taken[0], 0) {
            Ok(fd) => taken.push(fd),
            Err(_) => break,
        }
    }
    taken.len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_free_descriptors_are_counted_up_to_what_is_asked() {
        // This test process has far more than 8 free.
        assert_eq!(free_below_limit(8), 8);
        let short = Short {
            limit: 100,
            free: 7,
        };
        assert!(short
            .words()
            .starts_with("7 (its limit, ulimit -n, is 100,"));
    }
}
