//! `whoport wait`: watch the kernel's socket tables for one port until it has a listener or
//! is free. Each look is one port-filtered sock_diag dump of the listeners per address family
//! (for `--free` with no listener, the test binds of `check`); it never connects, and walks
//! `/proc` only to tell whose a listener is (--pid, --process), and only when the listeners on
//! the port changed.

use std::time::{Duration, Instant};

use crate::check::{self, cause::Target};
use crate::collect::deadline::Deadline;
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub met: bool,
    /// Looks at the tables.
    pub looks: u64,
    pub waited: Duration,
    /// Why the condition did not hold at the last look (`None` when it held).
    pub unmet: Option<Unmet>,
}

/// What the last look saw when the condition did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unmet {
    /// No listener on the port (`--listening`), or it could not be taken (`--free`).
    Not,
    /// Listeners, none held by the process asked for.
    OtherHolders,
    /// Listeners, none seen held by the process asked for, and some whose owners could not
    /// be seen (another user's, as non-root): any may be that process's.
    OwnersUnseen,
    /// Listeners, each with its holders seen, none of them the PID asked for, whose
    /// descriptors could not be read: it may hold any of them.
    AskedUnread,
    /// Listeners whose owners were not established before the wait's time ran out: the
    /// owner lookup was still running.
    OwnersNotRead,
}

/// What one look found.
enum Look {
    Met,
    Unmet(Unmet),
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
    // What the last look that established the owners found: said when the wait's last look
    // ran out of time before they were established (its deadline is the wait's).
    let mut established: Option<Unmet> = None;
    loop {
        looks += 1;
        let look = match condition {
            Condition::Listening { pid, process } => {
                listening((port, protocol), (*pid, process.as_deref()), deadline)?
            }
            Condition::Free if free(port, protocol)? => Look::Met,
            Condition::Free => Look::Unmet(Unmet::Not),
        };
        let now = Instant::now();
        let unmet = match look {
            Look::Met => None,
            Look::Unmet(Unmet::OwnersNotRead) => {
                Some(established.clone().unwrap_or(Unmet::OwnersNotRead))
            }
            Look::Unmet(Unmet::Not) => {
                established = None;
                Some(Unmet::Not)
            }
            Look::Unmet(why) => {
                established = Some(why.clone());
                Some(why)
            }
        };
        let ended = deadline.is_some_and(|d| now >= d);
        if unmet.is_none() || ended {
            return Ok(Outcome {
                met: unmet.is_none(),
                looks,
                waited: now - started,
                unmet,
            });
        }
        if let Some(deadline) = deadline {
            std::thread::sleep(interval.min(deadline - now));
        } else {
            std::thread::sleep(interval);
        }
        interval = next_interval(interval);
    }
}

/// Is there a listener on the port (held by the PID or process asked for)? The owner lookup
/// runs at every look while the port has listeners: the same sockets may change hands (a
/// socket passed to another process, a process renamed or running another program), so an
/// answer about their owners is never kept from one look to the next. It is waited for no
/// longer than the wait's `deadline`: one that has not answered then (a process or a user
/// database that does not answer) leaves the owners not established.
fn listening(
    (port, protocol): (u16, Protocol),
    (pid, process): (Option<u32>, Option<&str>),
    deadline: Option<Instant>,
) -> Result<Look, CollectError> {
    let found = port_table::on_port(port, protocol, States::Listeners)?;
    if !found.iter().any(|s| s.is_listener()) {
        return Ok(Look::Unmet(Unmet::Not));
    }
    if pid.is_none() && process.is_none() {
        return Ok(Look::Met);
    }
    let filter = Filter {
        tcp: protocol == Protocol::Tcp,
        udp: protocol == Protocol::Udp,
        udplite: protocol == Protocol::Udplite,
        ipv4: true,
        ipv6: true,
        ports: Some(vec![PortRange::single(port)]),
        pid,
        process: process.map(str::to_string),
        ..Filter::default()
    };
    let within = match deadline {
        Some(at) => Deadline::after(at.saturating_duration_since(Instant::now())),
        None => Deadline::never(),
    };
    let Some(snap) = within.run(move || collect::collect(&filter)) else {
        return Ok(Look::Unmet(Unmet::OwnersNotRead));
    };
    let snap = snap?;
    Ok(if !snap.listeners.is_empty() {
        Look::Met
    } else if snap.hidden > 0 || !snap.unattributed.is_empty() {
        Look::Unmet(Unmet::OwnersUnseen)
    } else if snap.asked_unread.1 > 0 {
        // Every listener's holders were seen, but not whether the process asked for, which
        // could not be read, is among them.
        Look::Unmet(Unmet::AskedUnread)
    } else {
        Look::Unmet(Unmet::OtherHolders)
    })
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
