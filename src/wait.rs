//! `whoport wait`: watch the kernel's socket tables for one port until it has a listener or
//! is free. Each look is one port-filtered sock_diag dump of the listeners per address family
//! (for `--free` with no listener, the test binds of `check`); it never connects, and walks
//! `/proc` only to tell whose a listener is (--pid, --process), and only when the listeners on
//! the port changed.

use std::time::{Duration, Instant};

use crate::check::{self, cause::Target};
use crate::collect::{self, port_table, port_table::States, Filter};
use crate::error::CollectError;
use crate::port::{PortRange, Protocol};

/// The first look comes at once, the next after this long...
pub const FIRST_INTERVAL: Duration = Duration::from_millis(20);
/// ...growing by half each time up to this (a one-hour wait: about 3,600 looks).
pub const MAX_INTERVAL: Duration = Duration::from_secs(1);

/// What to wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// A listener on the port (held by this PID, or a process whose name contains this).
    Listening {
        pid: Option<u32>,
        process: Option<String>,
    },
    /// A new server could listen on the port, as `check` says.
    Free,
}

/// How the wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub met: bool,
    /// Looks at the tables.
    pub looks: u64,
    pub waited: Duration,
}

/// The next pause: half as long again, capped.
pub fn next_interval(current: Duration) -> Duration {
    (current + current / 2).min(MAX_INTERVAL)
}

/// Waits until `condition` holds on `port`, or `timeout` passes (forever when `None`).
pub fn wait(
    port: u16,
    protocol: Protocol,
    condition: &Condition,
    timeout: Option<Duration>,
) -> Result<Outcome, CollectError> {
    let started = Instant::now();
    // A timeout beyond what the clock can hold (`--timeout 584542046090years`) is forever.
    let deadline = timeout.and_then(|t| started.checked_add(t));
    let mut interval = FIRST_INTERVAL;
    let mut looks = 0;
    let mut owner_cache: Option<(Vec<u32>, bool)> = None;
    loop {
        looks += 1;
        let met = match condition {
            Condition::Listening { pid, process } => {
                listening(port, protocol, *pid, process.as_deref(), &mut owner_cache)?
            }
            Condition::Free => free(port, protocol)?,
        };
        let now = Instant::now();
        if met {
            return Ok(Outcome {
                met,
                looks,
                waited: now - started,
            });
        }
        if let Some(deadline) = deadline {
            if now >= deadline {
                return Ok(Outcome {
                    met,
                    looks,
                    waited: now - started,
                });
            }
            std::thread::sleep(interval.min(deadline - now));
        } else {
            std::thread::sleep(interval);
        }
        interval = next_interval(interval);
    }
}

/// Is there a listener on the port (held by the PID or process asked for)? The owner lookup
/// runs again only when the set of listening sockets changed.
fn listening(
    port: u16,
    protocol: Protocol,
    pid: Option<u32>,
    process: Option<&str>,
    cache: &mut Option<(Vec<u32>, bool)>,
) -> Result<bool, CollectError> {
    let found = port_table::on_port(port, protocol, States::Listeners)?;
    let mut inodes: Vec<u32> = found
        .iter()
        .filter(|s| s.is_listener())
        .map(|s| s.inode)
        .collect();
    if inodes.is_empty() {
        return Ok(false);
    }
    if pid.is_none() && process.is_none() {
        return Ok(true);
    }
    inodes.sort_unstable();
    if let Some((seen, answer)) = cache {
        if *seen == inodes {
            return Ok(*answer);
        }
    }
    let snap = collect::collect(&Filter {
        tcp: protocol == Protocol::Tcp,
        udp: protocol == Protocol::Udp,
        udplite: protocol == Protocol::Udplite,
        ipv4: true,
        ipv6: true,
        ports: Some(vec![PortRange::single(port)]),
        pid,
        process: process.map(str::to_string),
        ..Filter::default()
    })?;
    let answer = !snap.listeners.is_empty();
    *cache = Some((inodes, answer));
    Ok(answer)
}

/// Could a server listen on the port? A listener in the table says no at once; otherwise the
/// test binds of `check` decide (they also see TIME_WAIT, connections and bound sockets, for
/// a few system calls, where a dump of every TCP state walks the kernel's whole connection
/// table).
fn free(port: u16, protocol: Protocol) -> Result<bool, CollectError> {
    if port_table::on_port(port, protocol, States::Listeners)?
        .iter()
        .any(|s| s.is_listener())
    {
        return Ok(false);
    }
    let probes = check::probe(port, protocol, &Target::wildcards());
    Ok(check::all_ok(&probes, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polling_backs_off_to_once_a_second() {
        let mut i = FIRST_INTERVAL;
        let mut elapsed = Duration::ZERO;
        let mut looks = 0;
        while elapsed < Duration::from_secs(3600) {
            elapsed += i;
            i = next_interval(i);
            looks += 1;
        }
        assert_eq!(i, MAX_INTERVAL);
        // Ten looks in the first second or so, then one a second.
        assert!(looks <= 3600 + 20, "{looks}");
        assert!(next_interval(Duration::from_millis(20)) == Duration::from_millis(30));
    }
}
