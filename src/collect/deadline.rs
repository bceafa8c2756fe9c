//! The collection deadline (`--timeout`, default 10 s): each look at the machine waits at
//! most this long for what could block — a process's details, the owner walk, the second look
//! for owners. Work that can block runs on threads of its own; whatever has not answered by
//! the deadline is abandoned (a thread stuck in the kernel ends with whoport) and named in a
//! note, and the look goes on with what it has.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock, PoisonError};
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

    /// The same deadline `by` later (none stays none; one beyond the clock's reach is none):
    /// for a look whose time was taken by something that is not the machine's to answer.
    pub fn later_by(self, by: Duration) -> Deadline {
        Deadline(self.0.and_then(|at| at.checked_add(by)))
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
    /// whoport). When no thread can be started, `work` runs here.
    pub fn run<T, F>(self, work: F) -> Option<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        Pending::start(None, work).wait(self)
    }

    /// As [`Deadline::run`], but at most one `work` of this kind (`busy`) at a time in the
    /// whole run: while an earlier one is still stuck, the answer is `None` at once.
    pub fn run_alone<T, F>(self, busy: &'static AtomicBool, work: F) -> Option<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        Pending::start(Some(busy), work).wait(self)
    }
}

/// What a pending work is doing, set as it begins each step (a later step replaces an
/// earlier one): what is said of a work that did not answer in time.
#[derive(Debug, Default)]
pub struct UnderWay(Mutex<Option<&'static str>>);

impl UnderWay {
    pub fn begin(&self, step: &'static str) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(step);
    }

    /// The step begun last; `None` when none was begun.
    pub fn step(&self) -> Option<&'static str> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Work started on a thread of its own, to be waited for with a deadline.
pub struct Pending<T> {
    answer: Answer<T>,
}

enum Answer<T> {
    Thread(mpsc::Receiver<T>),
    /// No thread could be started: done here already.
    Here(T),
    /// An earlier run of the same work is still going.
    Busy,
}

/// Clears a "running" flag when the work ends (or is dropped unrun).
struct Running(Option<&'static AtomicBool>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(flag) = self.0 {
            flag.store(false, Ordering::Release);
        }
    }
}

impl<T: Send + 'static> Pending<T> {
    /// Starts `work` on its own thread (at once, here, when no thread can be started). With
    /// `busy`, only one such work runs at a time: another start while it runs does nothing.
    pub fn start<F>(busy: Option<&'static AtomicBool>, work: F) -> Pending<T>
    where
        F: FnOnce() -> T + Send + 'static,
    {
        if busy.is_some_and(|b| b.swap(true, Ordering::AcqRel)) {
            return Pending {
                answer: Answer::Busy,
            };
        }
        let running = Running(busy);
        let slot = Arc::new(Mutex::new(Some((work, running))));
        let theirs = Arc::clone(&slot);
        let (tx, rx) = mpsc::sync_channel(1);
        let spawned = std::thread::Builder::new().spawn(move || {
            if let Some((work, running)) = take(&theirs) {
                let answer = work();
                drop(running);
                let _ = tx.send(answer);
            }
        });
        let answer = match spawned {
            Ok(_) => Answer::Thread(rx),
            Err(_) => match take(&slot) {
                Some((work, _running)) => Answer::Here(work()),
                None => Answer::Busy,
            },
        };
        Pending { answer }
    }

    /// The answer, waited for until `deadline`; `None` when it did not come in time.
    pub fn wait(self, deadline: Deadline) -> Option<T> {
        self.wait_then(deadline, || None)
    }

    /// The answer, waited for until `deadline`, then for what `grace` gives when it did not
    /// come by then (a work that stops itself at the deadline, whose answer is on its way:
    /// at most [`HANDING_OVER`] more); `None` when it did not come in time.
    pub fn wait_then(
        self,
        deadline: Deadline,
        grace: impl FnOnce() -> Option<Duration>,
    ) -> Option<T> {
        match self.answer {
            Answer::Here(answer) => Some(answer),
            Answer::Busy => None,
            Answer::Thread(rx) => match deadline.left() {
                None => rx.recv().ok(),
                Some(left) => match rx.recv_timeout(left) {
                    Ok(answer) => Some(answer),
                    Err(mpsc::RecvTimeoutError::Disconnected) => None,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        let more = grace()?.min(HANDING_OVER);
                        rx.recv_timeout(more).ok()
                    }
                },
            },
        }
    }
}

/// The most a work that stops itself at its deadline is waited for after it, to hand over
/// what it found by then (on a loaded machine its thread may not run at once).
pub const HANDING_OVER: Duration = Duration::from_millis(100);

fn take<V>(slot: &Mutex<Option<V>>) -> Option<V> {
    slot.lock().unwrap_or_else(PoisonError::into_inner).take()
}

/// How many processes whose details did not arrive are named one by one; the rest are
/// counted in one note.
pub const NAMED_LATE: usize = 10;

/// The notes for the processes whose details did not arrive in time (PID, kernel name): one
/// each for the first [`NAMED_LATE`], then one counting the rest.
pub fn late_notes(late: &[(u32, Option<String>)], limit: &Limit) -> Vec<String> {
    let mut notes: Vec<String> = late
        .iter()
        .take(NAMED_LATE)
        .map(|(pid, name)| match name {
            Some(name) => format!(
                "details of pid {pid} ({name}) not read within {}",
                limit.text
            ),
            None => format!("details of pid {pid} not read within {}", limit.text),
        })
        .collect();
    if late.len() > NAMED_LATE {
        notes.push(format!(
            "details of {} more processes not read within {}",
            late.len() - NAMED_LATE,
            limit.text
        ));
    }
    notes
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

    /// A work that stops itself at the deadline hands over its answer a little after it: the
    /// grace waits for that answer, and for no more than [`HANDING_OVER`] when none comes.
    #[test]
    fn an_answer_handed_over_just_after_the_deadline_is_waited_for_briefly() {
        // Released only once the deadline has passed and the grace is asked for.
        let (release, held) = mpsc::channel::<()>();
        let late = Pending::start(None, move || {
            let _ = held.recv();
            5
        });
        let answer = late.wait_then(Deadline::after(Duration::from_millis(20)), move || {
            let _ = release.send(());
            Some(HANDING_OVER)
        });
        assert_eq!(answer, Some(5));
        // Without a grace, the same answer is not waited for.
        let (release, held) = mpsc::channel::<()>();
        let late = Pending::start(None, move || {
            let _ = held.recv();
            6
        });
        let answer = late.wait_then(Deadline::after(Duration::from_millis(20)), || None);
        drop(release);
        assert_eq!(answer, None);
        // A work that never answers is waited for the grace at most, however long it asks.
        let (_keep, held) = mpsc::channel::<()>();
        let stuck = Pending::start(None, move || held.recv().map(|()| 7).unwrap_or(0));
        let began = Instant::now();
        let answer = stuck.wait_then(Deadline::after(Duration::from_millis(20)), || {
            Some(Duration::from_secs(30))
        });
        assert_eq!(answer, None);
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "{:?}",
            began.elapsed()
        );
    }

    #[test]
    fn stuck_work_of_one_kind_is_not_started_again() {
        static BUSY: AtomicBool = AtomicBool::new(false);
        let (release, stuck) = mpsc::channel::<()>();
        let first = Deadline::after(Duration::from_millis(50)).run_alone(&BUSY, move || {
            let _ = stuck.recv();
            1
        });
        assert_eq!(first, None);
        // Still stuck: the next one is not started, and says so at once.
        assert_eq!(Deadline::never().run_alone(&BUSY, || 2), None);
        drop(release);
        let mut again = None;
        for _ in 0..500 {
            again = Deadline::never().run_alone(&BUSY, || 3);
            if again.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            again,
            Some(3),
            "once the first one ended, the work runs again"
        );
    }

    #[test]
    fn the_note_names_the_process_and_the_limit_as_given() {
        let limit = parse("1s").expect("1s");
        assert_eq!(
            late_notes(&[(42, Some("x".to_string())), (43, None)], &limit),
            [
                "details of pid 42 (x) not read within 1s",
                "details of pid 43 not read within 1s"
            ]
        );
        let many: Vec<(u32, Option<String>)> = (1..=25).map(|p| (p, None)).collect();
        let notes = late_notes(&many, &Limit::default());
        assert_eq!(notes.len(), NAMED_LATE + 1);
        assert_eq!(notes[0], "details of pid 1 not read within 10s");
        assert_eq!(
            notes[NAMED_LATE],
            "details of 15 more processes not read within 10s"
        );
    }
}
