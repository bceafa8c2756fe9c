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
//! other CPUs it may use, which moves it to one of them at once, and then gives itself back
//! every CPU it had, so that the kernel stays free to move it as it would have. It never runs
//! anywhere it was not allowed to, and the CPUs it may use end as they began.
//!
//! Only there: the `/proc` walk already spreads its own work over the CPUs, and a worker
//! started where its maker is about to wait anyway is better left beside it than sent to share
//! a busy CPU (measured, with one core of two kept busy by another program: 8 % less time at
//! 10,000 listeners, where the iterator runs; 20 % more at a few dozen listeners when every
//! worker left its maker's CPU; docs/benchmarks.md).

use std::cell::Cell;

thread_local! {
    /// Set while the calling thread does work no other thread can share (see [`alone`]).
    static ALONE: Cell<bool> = const { Cell::new(false) };
}

/// Runs `work`, which no other thread can share, on the calling thread: the threads it starts
/// meanwhile that take [`maker`]'s answer leave its CPU.
pub fn alone<T>(work: impl FnOnce() -> T) -> T {
    let before = ALONE.with(|a| a.replace(true));
    let done = work();
    ALONE.with(|a| a.set(before));
    done
}

/// The CPU a thread started now should leave ([`leave`]): the calling thread's, while it runs
/// [`alone`]'s work; `None` otherwise.
pub fn maker() -> Option<usize> {
    if ALONE.with(Cell::get) {
        here()
    } else {
        None
    }
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
    // Should this fail, the thread keeps every CPU but its maker's: it still runs.
    let _ = sched_setaffinity(me, &allowed);
    moved
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
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

    /// Makes the calling thread run on `cpu` (alone, then among `all` again).
    fn run_on(cpu: usize, all: &[usize]) {
        let mut only = CpuSet::new();
        only.set(cpu).expect("cpu");
        sched_setaffinity(Pid::from_raw(0), &only).expect("pin");
        let mut every = CpuSet::new();
        for &c in all {
            every.set(c).expect("cpu");
        }
        sched_setaffinity(Pid::from_raw(0), &every).expect("unpin");
    }

    #[test]
    fn a_thread_started_on_its_makers_cpu_leaves_it_and_keeps_every_cpu_it_had() {
        let before = allowed();
        let cpu = before[0];
        std::thread::spawn(move || {
            run_on(cpu, &before);
            // Off its maker's CPU, where it may run elsewhere.
            assert_eq!(leave(Some(cpu)), before.len() > 1);
            assert_eq!(allowed(), before, "every CPU it had, given back");
            // Not on its maker's CPU (here, one that is no CPU at all), or with no maker's
            // CPU known: nothing is done.
            assert!(!leave(Some(usize::MAX)));
            assert!(!leave(None));
            assert_eq!(allowed(), before);
        })
        .join()
        .expect("thread");
    }

    #[test]
    fn a_thread_that_may_use_its_makers_cpu_only_stays_there() {
        let before = allowed();
        std::thread::spawn(move || {
            let cpu = before[0];
            run_on(cpu, &[cpu]);
            assert!(!leave(Some(cpu)));
            assert_eq!(here(), Some(cpu));
            assert_eq!(allowed(), vec![cpu]);
        })
        .join()
        .expect("thread");
    }

    #[test]
    fn only_the_work_done_alone_names_a_cpu_to_leave() {
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
}
