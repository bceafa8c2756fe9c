//! The collection deadline (`--timeout`, default 10 s): each look at the machine waits at
//! most this long for what could block — a process's details, the owner walk, the second look
//! for owners. Work that can block runs on threads of its own; whatever has not answered by
//! the deadline is abandoned (a thread stuck in the kernel ends with whoport) and named in a
//! note, and the look goes on with what it has.

use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The default `--timeout`.
pub const DEFAULT: Duration = Duration::from_secs(10);

/// How long one look at the machine may wait, and how the user wrote it (for the notes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limit {
    pub duration: Duration,
    pub text: String,
}

impl Default for Limit {
    fn default() -> Limit {
        Limit {
            duration: DEFAULT,
            text: "10s".to_string(),
        }
    }
}

static LIMIT: OnceLock<Limit> = OnceLock::new();

/// Sets the limit for this run (once, before the first look; later calls change nothing).
pub fn set(limit: Limit) {
    let _ = LIMIT.set(limit);
}

/// The limit for this run.
pub fn limit() -> &'static Limit {
    LIMIT.get_or_init(Limit::default)
}

/// When one look that starts now must be done; `None` when the limit is too long for the
/// clock (it never comes).
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// The deadline of a look starting now, under this run's limit.
    pub fn start() -> Deadline {
        Deadline::after(limit().duration)
    }

    pub fn after(duration: Duration) -> Deadline {
        Deadline(Instant::now().checked_add(duration))
    }

    /// No deadline at all.
    pub fn never() -> Deadline {
        Deadline(None)
    }

    /// Time left (zero once passed); `None` when there is no deadline.
    pub fn left(self) -> Option<Duration> {
        self.0
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    pub fn passed(self) -> bool {
        self.left().is_some_and(|d| d.is_zero())
    }

    /// Runs `work` on a thread of its own and waits for its answer until the deadline:
    /// `None` when it did not answer in time (the thread is left to finish, or to end with
    /// whoport) or no thread could be started.
    pub fn run<T, F>(self, work: F) -> Option<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .spawn(move || {
                let _ = tx.send(work());
            })
            .ok()?;
        match self.left() {
            None => rx.recv().ok(),
            Some(left) => rx.recv_timeout(left).ok(),
        }
    }
}

/// The note for a process whose details did not arrive in time.
pub fn late_process_note(pid: u32, name: Option<&str>, limit: &Limit) -> String {
    match name {
        Some(name) => format!(
            "details of pid {pid} ({name}) not read within {}",
            limit.text
        ),
        None => format!("details of pid {pid} not read within {}", limit.text),
    }
}

/// Parses a `--timeout` value: a duration as `wait --timeout` takes it (`10s`, `1m`,
/// `500ms`), more than zero. A value too long for the clock means no deadline.
pub fn parse(text: &str) -> Result<Limit, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if duration.is_zero() {
        return Err("the collection needs some time: give more than 0".to_string());
    }
    let text = text.trim();
    let text = if text.chars().count() <= 32 {
        text.to_string()
    } else {
        humantime::format_duration(duration).to_string()
    };
    Ok(Limit { duration, text })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_like_wait_timeouts() {
        assert_eq!(parse("10s").expect("10s").duration, DEFAULT);
        assert_eq!(parse("1m").expect("1m").duration, Duration::from_secs(60));
        assert_eq!(parse("250ms").expect("ms").text, "250ms");
        assert!(parse("0s").is_err());
        assert!(parse("soon").is_err());
        assert!(parse("-5s").is_err());
        let huge = parse("500000000years").expect("huge");
        assert!(Deadline::after(huge.duration)
            .left()
            .is_none_or(|d| d > DEFAULT));
        let long = "1s ".repeat(20);
        assert!(parse(&long).expect("long").text.len() <= 32);
    }

    #[test]
    fn work_that_does_not_answer_in_time_is_left_behind() {
        let late = Deadline::after(Duration::from_millis(50)).run(|| {
            std::thread::sleep(Duration::from_secs(2));
            1
        });
        assert_eq!(late, None);
        assert_eq!(Deadline::after(Duration::from_secs(5)).run(|| 7), Some(7));
        assert_eq!(Deadline::never().run(|| 8), Some(8));
        assert!(Deadline::after(Duration::ZERO).passed());
        assert!(!Deadline::never().passed());
    }

    #[test]
    fn the_note_names_the_process_and_the_limit_as_given() {
        let limit = parse("1s").expect("1s");
        assert_eq!(
            late_process_note(42, Some("x"), &limit),
            "details of pid 42 (x) not read within 1s"
        );
        assert_eq!(
            late_process_note(42, None, &Limit::default()),
            "details of pid 42 not read within 10s"
        );
    }
}
