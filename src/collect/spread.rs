//! Where the threads reading the owners' details run while the in-kernel lookup reads.
//!
//! The in-kernel owner lookup reads the iterator's one stream on one thread, and starts the
//! workers that read the details of the owners it finds as it finds them (collect/process.rs).
//! The kernel starts a thread on an idle CPU if it finds one, and otherwise near the thread
//! that made it; it moves it later only when it balances the load between CPUs, which on CPUs
//! that are all busy comes at intervals as long as a whole listing. So on a machine whose
//! other CPUs were busy, those workers shared the lookup's CPU, and the details meant to be
//! read beside the stream were read in its time. A worker the lookup starts while it reads
//! therefore leaves the lookup's CPU when it finds itself started there: it asks to run on the
//! other CPUs it may use, which moves it to one of them at once, and then asks again for the
//! CPUs it had, so that the kernel stays free to move it as it would have; it asks only for
//! CPUs it had, and never beyond a cpuset (the kernel keeps every thread within its own). The
//! kernel picks the CPU it moves to among the others without weighing their load (any of them
//! is as busy as the one it left, or the worker would have been started on an idle one), and
//! balances the load afterwards as it always does; CPUs set apart from the scheduler
//! (`isolcpus`) are among the others only where whoport was itself allowed to run there.
//!
//! The kernel has no way to change a thread's CPUs only if they are still what they were read
//! to be. So a change someone else makes to the worker's CPUs (`taskset -a -p`) stands when it
//! is made after the move and leaves them other than the worker left them; one made during the
//! move itself (a few microseconds), or to exactly the CPUs the worker was left, may be undone
//! by its asking for what it had. And where its CPUs changed during the move (a CPU taken
//! offline, a cpuset changed) or the second request fails, the worker keeps the CPUs it was
//! left, its maker's not among them, for the one read it lives for.
//!
//! Only there: the `/proc` walk already spreads its own work over the CPUs, and a worker
//! started where its maker is about to wait anyway is better left beside it than sent to share
//! a busy CPU (measured with one core of two kept busy by another program: 8 % less time at
//! 10,000 listeners, where the iterator runs, the same where it runs at a few dozen
//! listeners on a machine of many open files; 22 % more at a few dozen listeners with the walk
//! when every worker left its maker's CPU; docs/benchmarks.md, "the details' workers beside
//! the iterator").

use std::cell::Cell;

thread_local! {
    /// Set while the calling thread does work no other thread can share (see [`alone`]).
    static ALONE: Cell<bool> = const { Cell::new(false) };
}

/// Runs `work`, which no other thread can share, on the calling thread: the threads it starts
/// meanwhile that take [`maker`]'s answer leave its CPU.
#[cfg(target_os = "linux")]
pub fn alone<T>(work: impl FnOnce() -> T) -> T {
    let before = ALONE.with(|a| a.replace(true));
    let done = work();
    ALONE.with(|a| a.set(before));
    done
}

/// The CPU a thread started now should leave ([`leave`]): the calling thread's, while it runs
/// [`alone`]'s work; `None` otherwise.
pub fn maker() -> Option<usize> {
    if !ALONE.with(Cell::get) {
        return None;
    }
    #[cfg(test)]
    if let Some(cpu) = tests::FORCED.with(Cell::get) {
        return Some(cpu);
    }
    here()
}

/// The CPU the calling thread runs on now (`None` where it is not known).
fn here() -> Option<usize> {
    #[cfg(target_os = "linux")]
    return nix::sched::sched_getcpu().ok();
    #[cfg(not(target_os = "linux"))]
    return None;
}

/// Moves the calling thread off `maker` (its maker's CPU, from [`maker`]) when it runs there
/// and may run on another CPU. Gives whether it moved.
pub fn leave(maker: Option<usize>) -> bool {
    #[cfg(test)]
    tests::asked(maker);
    #[cfg(target_os = "linux")]
    return maker.is_some_and(leave_cpu);
    #[cfg(not(target_os = "linux"))]
    {
        let _ = maker;
        false
    }
}

#[cfg(target_os = "linux")]
fn leave_cpu(cpu: usize) -> bool {
    use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
    if here() != Some(cpu) {
        return false;
    }
    // (A machine of more CPUs than a CpuSet holds is refused here: nothing is done there.)
    let me = nix::unistd::Pid::from_raw(0);
    let Ok(allowed) = sched_getaffinity(me) else {
        return false;
    };
    let mut elsewhere = allowed;
    if elsewhere.unset(cpu).is_err() {
        return false;
    }
    let other = (0..CpuSet::count()).any(|c| elsewhere.is_set(c).unwrap_or(false));
    if !other || sched_setaffinity(me, &elsewhere).is_err() {
        return false;
    }
    // (The kernel moved it before the call returned.)
    let moved = here() != Some(cpu);
    give_back(&elsewhere, &allowed);
    moved
}

/// Asks for the CPUs the calling thread `had` again, where its CPUs are still those it was
/// `left` (a change made since by `taskset` or a cpuset that left them otherwise stands; see
/// the module's words on what cannot be told apart). Should this fail, the thread keeps the
/// CPUs it was left.
#[cfg(target_os = "linux")]
fn give_back(left: &nix::sched::CpuSet, had: &nix::sched::CpuSet) {
    use nix::sched::{sched_getaffinity, sched_setaffinity};
    let me = nix::unistd::Pid::from_raw(0);
    if sched_getaffinity(me).is_ok_and(|now| now == *left) {
        let _ = sched_setaffinity(me, had);
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A CPU no machine has, which [`maker`] names instead of the calling thread's while
    /// set: the workers a test starts ask to leave it, and only they do.
    pub const SENTINEL: usize = usize::MAX - 7;

    thread_local! {
        pub static FORCED: Cell<Option<usize>> = const { Cell::new(None) };
    }

    /// How many times a thread was asked to leave [`SENTINEL`].
    pub static SENTINEL_ASKS: AtomicUsize = AtomicUsize::new(0);

    pub fn asked(maker: Option<usize>) {
        if maker == Some(SENTINEL) {
            SENTINEL_ASKS.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn only_the_work_done_alone_names_a_cpu_to_leave() {
        #[cfg(target_os = "linux")]
        {
            assert_eq!(maker(), None);
            let inside = alone(|| (maker(), alone(maker), maker()));
            assert!(
                inside.0.is_some() && inside.1.is_some() && inside.2.is_some(),
                "marked within it, also after a nested one: {inside:?}"
            );
            assert_eq!(maker(), None, "unmarked after it");
            // A thread started within it is not itself marked.
            let started = alone(|| std::thread::spawn(maker).join().expect("thread"));
            assert_eq!(started, None);
        }
        #[cfg(not(target_os = "linux"))]
        assert_eq!(maker(), None);
    }
}

#[cfg(all(test, target_os = "linux"))]
mod live {
    use super::*;
    use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
    use nix::unistd::Pid;

    /// The CPUs the calling thread may use.
    fn allowed() -> Vec<usize> {
        let set = sched_getaffinity(Pid::from_raw(0)).expect("affinity");
        (0..CpuSet::count())
            .filter(|&c| set.is_set(c).unwrap_or(false))
            .collect()
    }

    /// A CPU set of `cpus`.
    fn set_of(cpus: &[usize]) -> CpuSet {
        let mut set = CpuSet::new();
        for &c in cpus {
            set.set(c).expect("cpu");
        }
        set
    }

    /// Makes the calling thread run on `cpu` (alone, then among `all` again).
    fn run_on(cpu: usize, all: &[usize]) {
        sched_setaffinity(Pid::from_raw(0), &set_of(&[cpu])).expect("pin");
        sched_setaffinity(Pid::from_raw(0), &set_of(all)).expect("unpin");
    }

    /// Runs `test` on a thread of its own, whose CPUs it may change (never the harness's).
    fn apart(test: impl FnOnce() + Send + 'static) {
        std::thread::spawn(test).join().expect("thread");
    }

    /// Some of the CPUs of `before`, none left out where they are fewer than three: a set the
    /// thread's CPUs must come back to exactly, not to every CPU.
    fn some_of(before: &[usize]) -> Vec<usize> {
        if before.len() < 3 {
            before.to_vec()
        } else {
            before[..before.len() - 1].to_vec()
        }
    }

    #[test]
    fn a_thread_started_on_its_makers_cpu_leaves_it_and_keeps_every_cpu_it_had() {
        let mine = some_of(&allowed());
        let cpu = mine[0];
        apart(move || {
            // Started on its maker's CPU; the kernel may move it before it asks (then it
            // stays), so it is made to run there again until it asks from there.
            let moved = (0..100).any(|_| {
                run_on(cpu, &mine);
                leave(Some(cpu))
            });
            assert_eq!(
                moved,
                mine.len() > 1,
                "off its maker's CPU where it may run elsewhere"
            );
            assert_eq!(allowed(), mine, "the CPUs it had, asked for again");
            // Not on its maker's CPU (here, one that is no CPU at all), or with no maker's
            // CPU known: nothing is done.
            assert!(!leave(Some(usize::MAX)));
            assert!(!leave(None));
            assert_eq!(allowed(), mine);
        });
    }

    #[test]
    fn a_thread_held_on_one_cpu_is_never_moved() {
        let before = allowed();
        apart(move || {
            let cpu = before[0];
            run_on(cpu, &[cpu]);
            // Its maker's CPU another (the kernel cannot move it there meanwhile): nothing
            // is done.
            assert!(!leave(Some((cpu + 1) % CpuSet::count())));
            // Its maker's CPU its only one: it stays there.
            assert!(!leave(Some(cpu)));
            assert_eq!(here(), Some(cpu));
            assert_eq!(allowed(), vec![cpu]);
        });
    }

    #[test]
    fn cpus_changed_by_someone_else_after_it_moved_otherwise_are_kept() {
        let before = allowed();
        apart(move || {
            let had = set_of(&before);
            // Left every CPU but the first (on a machine of one CPU, that CPU).
            let left = set_of(if before.len() > 1 {
                &before[1..]
            } else {
                &before
            });
            sched_setaffinity(Pid::from_raw(0), &left).expect("left");
            give_back(&left, &had);
            assert_eq!(
                allowed(),
                before,
                "as it was left: what it had, asked for again"
            );
            // Narrowed meanwhile by someone else to the first CPU, which it was not left
            // (where there is another): kept so.
            sched_setaffinity(Pid::from_raw(0), &left).expect("left");
            sched_setaffinity(Pid::from_raw(0), &set_of(&before[..1])).expect("narrowed");
            give_back(&left, &had);
            let kept = if before.len() > 1 {
                vec![before[0]]
            } else {
                before.clone()
            };
            assert_eq!(allowed(), kept, "a change that left them otherwise, kept");
        });
    }
}
