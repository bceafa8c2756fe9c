//! The file descriptors a look at the machine needs: whoport raises its own limit on them and
//! refuses to look with fewer than it needs, rather than take a descriptor it could not open
//! for a process that exited or a table with nothing in it.

/// The most descriptors a look holds open at once, with room to spare. The `/proc` walk,
/// the owners' details and the in-kernel lookup each hold a few on each of their threads (its
/// maps, programs, link and iterator; a process's directory, file and links). Measured at
/// 10,000 listeners over 200 processes: a look limited to 16 said that a process it could not
/// open had exited; with 8 that no process held a socket whose owner was there.
pub const NEEDED: u64 = 64;

/// The limit on open descriptors when it is below [`NEEDED`] and cannot be raised to it: the
/// soft limit, and the hard limit (`None`: unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Short {
    pub soft: u64,
    pub hard: Option<u64>,
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

/// The limit, when a look cannot have the descriptors it needs ([`NEEDED`]).
pub fn short() -> Option<Short> {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getrlimit, Resource};
        let now = getrlimit(Resource::Nofile);
        let soft = now.current?;
        (soft < NEEDED).then_some(Short {
            soft,
            hard: now.maximum,
        })
    }
    #[cfg(not(target_os = "linux"))]
    None
}
