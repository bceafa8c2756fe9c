//! Process details, read only for the PIDs that own sockets (and their parents' names): on
//! Linux straight from each one's `/proc/PID` directory (`proc_dir.rs`, with the facts of
//! `linux.rs` and `exe.rs`), elsewhere through sysinfo.

use crate::hash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::Duration;

#[cfg(not(target_os = "linux"))]
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};

use super::deadline::Deadline;
#[cfg(target_os = "linux")]
use super::proc_dir::MAX_CMDLINE;
use crate::model::{escape_bytes, full_name, Process};

/// Uid -> user name, from the system user database through NSS (`getpwuid_r`: files, LDAP,
/// systemd's dynamic users...), asked once per uid. System users with a `nologin` or `false`
/// shell are users like any other.
///
/// The database may not answer (an LDAP server gone, a stuck sssd): [`UserNames::fetch`]
/// asks on a thread of its own and waits only until the collection's deadline; once it did
/// not answer in time, names it did not give are unknown for the rest of the run.
#[derive(Debug, Default)]
pub struct UserNames {
    cache: std::sync::Mutex<HashMap<u32, Option<String>>>,
    gave_up: std::sync::atomic::AtomicBool,
    /// Why no child process answered for the database's files, when none could (see
    /// [`crate::far_file::Failed::Unanswered`]): not a database that took too long.
    unanswered: std::sync::Mutex<Option<String>>,
}

impl UserNames {
    /// An empty cache: names are looked up when first asked for.
    pub fn load() -> UserNames {
        UserNames::default()
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Option<String>>> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The name of `uid`: from the cache, else asked here (without a deadline) unless the
    /// database already failed to answer in this run.
    pub fn name(&self, uid: u32) -> Option<String> {
        if let Some(known) = self.cache().get(&uid) {
            return known.clone();
        }
        // Not asked here where the database's files may never answer: only [`fetch`]'s
        // child process asks them.
        if self.gave_up() || crate::far_file::user_database_may_never_answer() {
            return None;
        }
        let name = user_name(uid);
        self.cache().insert(uid, name.clone());
        name
    }

    /// Asks the database for the names of `uids` not known yet, on a thread of its own,
    /// waiting until `deadline` (at least a second from now). False when it did not answer
    /// in time (or had not before).
    pub fn fetch(&self, uids: impl IntoIterator<Item = u32>, deadline: Deadline) -> bool {
        if self.gave_up() {
            return false;
        }
        let mut missing: Vec<u32> = {
            let cache = self.cache();
            // (Most sockets of a listing are one user's, one after the other: each run of
            // the same uid is looked up once.)
            let mut last = None;
            uids.into_iter()
                .filter(|&u| last.replace(u) != Some(u))
                .filter(|u| !cache.contains_key(u))
                .collect()
        };
        missing.sort_unstable();
        missing.dedup();
        if missing.is_empty() {
            return true;
        }
        let wait = match deadline.left() {
            None => Deadline::never(),
            Some(left) => Deadline::after(left.max(Duration::from_secs(1))),
        };
        let answer = if crate::far_file::user_database_may_never_answer() {
            match far_user_names(&missing, wait) {
                Ok(names) => Some(names),
                Err(failed) => {
                    if let crate::far_file::Failed::Unanswered(_) = failed {
                        *self
                            .unanswered
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) =
                            Some(failed.words());
                    }
                    None
                }
            }
        } else {
            wait.run(move || {
                missing
                    .into_iter()
                    .map(|uid| (uid, user_name(uid)))
                    .collect::<Vec<_>>()
            })
        };
        match answer {
            Some(names) => {
                self.cache().extend(names);
                true
            }
            None => {
                self.gave_up
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                false
            }
        }
    }

    /// Why the database's files were not read at all, when no child process answered for
    /// them (the words of [`crate::far_file::Failed::words`]).
    pub fn unanswered(&self) -> Option<String> {
        self.unanswered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The database did not answer in time during this run.
    pub fn gave_up(&self) -> bool {
        self.gave_up.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The names of `uids`, asked of the user database by a child process (see
/// [`crate::far_file`]) that answers by `wait`: a database file on a filesystem that may never
/// answer holds only that child. Every uid is in the answer, `None` for those it does not
/// know; why there is no answer otherwise.
fn far_user_names(
    uids: &[u32],
    wait: Deadline,
) -> Result<Vec<(u32, Option<String>)>, crate::far_file::Failed> {
    let op = crate::far_file::Op::UserNames(uids);
    let within = wait.left().unwrap_or(Duration::MAX);
    let answer = crate::far_file::run(op, crate::far_file::user_database(), &[], within)?;
    let names: HashMap<u32, String> = crate::far_file::decode_user_names(&answer)
        .into_iter()
        .collect();
    Ok(uids
        .iter()
        .map(|&uid| (uid, names.get(&uid).cloned()))
        .collect())
}

/// The name of `uid` in the user database, asked now (see [`UserNames`]).
#[cfg(unix)]
pub fn user_name(uid: u32) -> Option<String> {
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)).ok()??;
    Some(user.name)
}

#[cfg(not(unix))]
pub fn user_name(uid: u32) -> Option<String> {
    let users = sysinfo::Users::new_with_refreshed_list().ok()?;
    users
        .iter()
        .find(|u| u.id().to_string() == uid.to_string())
        .map(|u| u.name().to_string())
}

/// `--user` text that is all digits is a uid, as `chown`, `find -uid` and `ps -u` read it:
/// `00` and `0` are root. `Some(None)`: digits, but no 32-bit number; `None`: a name.
pub fn uid_typed(user: &str) -> Option<Option<u32>> {
    (!user.is_empty() && user.bytes().all(|b| b.is_ascii_digit())).then(|| user.parse().ok())
}

/// The user named `name` in the system user database, looked up once a run (whatever asks:
/// `--user` checked, then matched) on a thread of its own within this run's deadline:
/// `None` when the database did not answer by then, `Some(None)` when it does not know the
/// name, else its uid.
#[cfg(unix)]
fn looked_up(name: &str) -> Option<Option<u32>> {
    type Cache = Option<(String, Option<Option<u32>>)>;
    static NAMES: std::sync::Mutex<Cache> = std::sync::Mutex::new(None);
    let mut cached = NAMES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((n, answer)) = cached.as_ref() {
        if n == name {
            return *answer;
        }
    }
    let owned = name.to_string();
    let far = crate::far_file::user_database_may_never_answer().then(|| {
        let op = crate::far_file::Op::UidOf(name);
        let wait = crate::far_file::timeout_and(Duration::ZERO);
        crate::far_file::run(op, crate::far_file::user_database(), &[], wait)
    });
    let answer = match far {
        Some(Ok(digits)) => Some(String::from_utf8_lossy(&digits).parse().ok()),
        Some(Err(failed)) => {
            if let crate::far_file::Failed::Unanswered(_) = failed {
                *LOOKUP_UNANSWERED
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(failed.words());
            }
            None
        }
        None => Deadline::start().run(move || uid_of_name_now(&owned)),
    };
    *cached = Some((name.to_string(), answer));
    answer
}

/// Why a name was not looked up at all (see [`UserNames::unanswered`]).
static LOOKUP_UNANSWERED: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// Why the last name looked up was not looked up at all, when no child process answered for
/// the database's files.
pub fn lookup_unanswered() -> Option<String> {
    LOOKUP_UNANSWERED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
}

/// The uid the user database has for `name`, asked now (see [`looked_up`]).
pub fn uid_of_name_now(name: &str) -> Option<u32> {
    #[cfg(unix)]
    return nix::unistd::User::from_name(name)
        .ok()
        .flatten()
        .map(|u| u.uid.as_raw());
    #[cfg(not(unix))]
    return None;
}

/// The uid of the user named `name` (see [`looked_up`]); `None` when unknown or when the
/// database did not answer.
pub fn uid_of_name(name: &str) -> Option<u32> {
    #[cfg(unix)]
    return looked_up(name).flatten();
    #[cfg(not(unix))]
    return None;
}

/// Does the system user database know this user (a name, or any uid)? `--user` refuses a
/// name it does not know rather than matching nothing.
/// `None` when the user database did not answer by this run's deadline (`--timeout`): a name
/// is looked up on a thread of its own, as owners' names are (an NSS source whose server is
/// gone, an `/etc/passwd` on a filesystem that stopped answering).
pub fn user_exists(user: &str) -> Option<bool> {
    if let Some(digits) = uid_typed(user) {
        // Any uid the kernel can give a process; 4294967295 is (uid_t)-1, "no uid".
        return Some(digits.is_some_and(|uid| uid != u32::MAX));
    }
    #[cfg(unix)]
    {
        looked_up(user).map(|uid| uid.is_some())
    }
    #[cfg(not(unix))]
    {
        Some(
            sysinfo::Users::new_with_refreshed_list()
                .ok()
                .is_some_and(|users| users.iter().any(|u| u.name() == user)),
        )
    }
}

#[cfg(not(target_os = "linux"))]
fn to_u32(pid: Pid) -> u32 {
    pid.as_u32()
}

/// Details of `pids`; a PID that vanished before it could be read is simply absent.
/// `starts` holds each PID's start time as seen during the descriptor walk: a process whose
/// start time differs now is another process that took the same PID, and gets no details.
pub fn details(
    pids: &[u32],
    users: &UserNames,
    starts: &HashMap<u32, u64>,
) -> HashMap<u32, Process> {
    details_within(pids, users, starts, Deadline::never()).processes
}

/// What [`details_within`] read, and the PIDs whose details did not arrive in time.
#[derive(Debug, Default)]
pub struct Details {
    pub processes: HashMap<u32, Process>,
    /// Sorted; a process stuck from an earlier look of this run is among them at once.
    pub late: Vec<u32>,
}

/// PIDs some worker is reading now (a stuck read stays here), so that a later look of the
/// same run does not wait for them again.
static IN_FLIGHT: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn in_flight() -> std::sync::MutexGuard<'static, Vec<u32>> {
    IN_FLIGHT.lock().unwrap_or_else(PoisonError::into_inner)
}

/// With no answer for this long while PIDs are still waiting, another worker is started to
/// take them (a read stuck in the kernel holds up only its own PID).
const STALL: Duration = Duration::from_millis(100);
/// Workers started beyond the first ones, at most: a process that blocks every reader costs
/// one thread, so this many such processes can delay the others' details (each thread that
/// waits costs its stack's few touched pages).
const EXTRA_WORKERS: usize = 32;
/// One first worker per this many PIDs to read, up to the available cores.
const PIDS_PER_WORKER: usize = 32;
/// Workers waiting for PIDs are woken when this many wait to be read (fewer while few PIDs
/// were added: one in [`WAKE_SHARE`] of them, at least one), or when no more are coming for a
/// while ([`Feed::flush`]), not for each one: at 200 owners the lookup finds one every few
/// dozen microseconds, and a worker woken for each one took turns with it on one core, two
/// context switches per owner (docs/benchmarks.md, "owners handed on in batches"). A
/// workstation's few owners are still read each as it is found.
const WAKE_BATCH: usize = 16;
const WAKE_SHARE: usize = 16;

/// The PIDs to read, shared by the workers and whoever adds PIDs: each worker takes the next
/// one, and waits for more until the queue is closed.
struct Queue {
    state: Mutex<Queued>,
    /// Signalled when a PID is added or the queue is closed.
    more: std::sync::Condvar,
}

#[derive(Default)]
struct Queued {
    /// Every PID added, in order, with its start time as the look saw it.
    pids: Vec<(u32, Option<u64>)>,
    /// The PIDs added, and those left out as stuck (see [`IN_FLIGHT`]).
    added: HashSet<u32>,
    stuck: Vec<u32>,
    /// The next PID of `pids` a worker takes.
    next: usize,
    /// No PID will be added any more: a worker that finds none left ends.
    closed: bool,
    /// Workers started, and whether one could not be.
    workers: usize,
    refused: bool,
    /// Workers waiting for a PID.
    idle: usize,
}

impl Queue {
    fn state(&self) -> std::sync::MutexGuard<'_, Queued> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Reads now what the first process's details would read once a run (whoport's own
/// namespaces and mounts, the system's interpreters): done while the owner lookup runs, so
/// that the details read after it wait for none of it (a worker that needs one of them while
/// it is being read waits for it, as it would have read it).
#[cfg(target_os = "linux")]
pub fn read_once_a_run() {
    super::exe::read_own();
    super::identity::read_interpreters();
}

/// Details of `pids`, read by worker threads (the available cores) and waited for until
/// `deadline`: whatever has not arrived by then is in `late`, and its worker is abandoned.
pub fn details_within(
    pids: &[u32],
    users: &UserNames,
    starts: &HashMap<u32, u64>,
    deadline: Deadline,
) -> Details {
    Reading::new().finish(pids, users, starts, deadline)
}

/// A read of the details of the owners one look finds, begun while the look is still
/// finding them: each PID [`Feed::add`]ed is read at once by the workers, and
/// [`Reading::finish`] adds the PIDs not added yet, then waits for the ones asked for.
pub struct Reading {
    feed: Feed,
    rx: mpsc::Receiver<(u32, Option<Process>)>,
}

/// What adds PIDs to a [`Reading`] (from another thread: the owner lookup's).
#[derive(Clone)]
pub struct Feed {
    queue: Arc<Queue>,
    tx: mpsc::Sender<(u32, Option<Process>)>,
}

impl Feed {
    /// Adds `pid` (with its start time as the look saw it) to be read, unless it was added
    /// already; starts a worker when the PIDs added call for one more.
    pub fn add(&self, pid: u32, start: Option<u64>) {
        let (spawn, wake) = {
            let mut state = self.queue.state();
            // (A look abandoned at the deadline may still find owners after the read ended.)
            if state.closed || !state.added.insert(pid) {
                return;
            }
            // A PID some worker of an earlier read of this run is still stuck on is not
            // waited for again.
            if in_flight().contains(&pid) {
                state.stuck.push(pid);
                return;
            }
            state.pids.push((pid, start));
            let wanted = super::cores().min(state.pids.len().div_ceil(PIDS_PER_WORKER));
            let batch = (state.pids.len() / WAKE_SHARE).clamp(1, WAKE_BATCH);
            let wake = state.idle > 0 && state.pids.len() - state.next >= batch;
            (state.workers < wanted && !state.refused, wake)
        };
        if wake {
            self.queue.more.notify_all();
        }
        if spawn {
            self.spawn_worker();
        }
    }

    /// Wakes the workers waiting while PIDs are left to read: the adder pauses or is done.
    pub fn flush(&self) {
        let wake = {
            let state = self.queue.state();
            state.idle > 0 && state.next < state.pids.len()
        };
        if wake {
            self.queue.more.notify_all();
        }
    }

    /// Starts one more worker; false when no thread could be started.
    fn spawn_worker(&self) -> bool {
        let (queue, tx) = (Arc::clone(&self.queue), self.tx.clone());
        let maker = super::spread::maker();
        let started = std::thread::Builder::new()
            .spawn(move || read_queue(&queue, maker, |pid, p| tx.send((pid, p)).is_ok()))
            .is_ok();
        let mut state = self.queue.state();
        if started {
            state.workers += 1;
        } else {
            state.refused = true;
        }
        started
    }

    /// No more PIDs: idle workers end.
    fn close(&self) {
        self.queue.state().closed = true;
        self.queue.more.notify_all();
    }
}

impl Default for Reading {
    fn default() -> Reading {
        Reading::new()
    }
}

/// A read given up (the look ended early) lets its idle workers end.
impl Drop for Reading {
    fn drop(&mut self) {
        self.feed.close();
    }
}

impl Reading {
    /// A read with no PID yet, and no worker.
    pub fn new() -> Reading {
        let (tx, rx) = mpsc::channel();
        Reading {
            feed: Feed {
                queue: Arc::new(Queue {
                    state: Mutex::new(Queued::default()),
                    more: std::sync::Condvar::new(),
                }),
                tx,
            },
            rx,
        }
    }

    /// What adds PIDs to this read.
    pub fn feed(&self) -> Feed {
        self.feed.clone()
    }

    /// Adds `pids` not added yet (with their start times in `starts`), so that they are read
    /// while the caller goes on.
    pub fn add(&self, pids: &[u32], starts: &HashMap<u32, u64>) {
        for &pid in pids {
            self.feed.add(pid, starts.get(&pid).copied());
        }
        // (Fewer than a batch left would otherwise wait for the end.)
        self.feed.flush();
    }

    /// Adds `pids` not added yet, then waits until `deadline` for the details of every one
    /// of them; what has not arrived by then is in `late`, and its worker is abandoned. A PID
    /// added earlier that is not among `pids` is not in the answer.
    pub fn finish(
        self,
        pids: &[u32],
        users: &UserNames,
        starts: &HashMap<u32, u64>,
        deadline: Deadline,
    ) -> Details {
        self.add(pids, starts);
        let (feed, rx) = (&self.feed, &self.rx);
        feed.close();
        let queue = Arc::clone(&feed.queue);
        let asked: HashSet<u32> = pids.iter().copied().collect();
        let (mut late, added, workers): (Vec<u32>, HashMap<u32, Option<u64>>, usize) = {
            let state = queue.state();
            (
                state
                    .stuck
                    .iter()
                    .copied()
                    .filter(|p| asked.contains(p))
                    .collect(),
                state.pids.iter().copied().collect(),
                state.workers,
            )
        };
        // The PIDs waited for: those asked for that some worker reads.
        let waited: HashSet<u32> = asked
            .iter()
            .copied()
            .filter(|pid| added.contains_key(pid))
            .collect();
        let mut processes = HashMap::with_capacity(waited.len());
        let keep = |processes: &mut HashMap<u32, Process>, pid, p: Option<Process>| {
            if !waited.contains(&pid) {
                return;
            }
            // Read ahead as the process the lookup saw first under this PID, while the look
            // ended with another one there (a thread with a table of its own, of a process
            // that took the PID during the lookup): neither one's details are the owner's.
            let seen = added.get(&pid).copied().flatten();
            let last = starts.get(&pid).copied();
            if seen.is_some() && last.is_some() && seen != last {
                processes.insert(pid, Process::changed(pid));
            } else if let Some(p) = p {
                processes.insert(pid, p);
            }
        };
        if workers == 0 && !added.is_empty() && !feed.spawn_worker() {
            // No thread could be started: read here, without a deadline.
            read_queue(&queue, None, |pid, p| {
                keep(&mut processes, pid, p);
                true
            });
        } else {
            let mut answered = HashSet::with_capacity(waited.len());
            let mut extra = 0;
            while answered.len() < waited.len() {
                let left = deadline.left();
                let wait = if extra < EXTRA_WORKERS {
                    left.map_or(STALL, |l| l.min(STALL))
                } else {
                    left.unwrap_or(Duration::MAX)
                };
                match rx.recv_timeout(wait) {
                    Ok((pid, p)) => {
                        if waited.contains(&pid) {
                            answered.insert(pid);
                        }
                        keep(&mut processes, pid, p);
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    Err(mpsc::RecvTimeoutError::Timeout) if deadline.passed() => break,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        let waiting = {
                            let state = queue.state();
                            state.next < state.pids.len()
                        };
                        if waiting && extra < EXTRA_WORKERS {
                            extra += 1;
                            feed.spawn_worker();
                        }
                    }
                }
            }
            late.extend(waited.iter().filter(|pid| !answered.contains(pid)));
        }
        users.fetch(processes.values().filter_map(|p| p.uid), deadline);
        for p in processes.values_mut() {
            p.user = p.uid.and_then(|u| users.name(u));
        }
        late.sort_unstable();
        late.dedup();
        Details { processes, late }
    }
}

/// Which sockets a look shows, once its socket dump said so ([`Shown::show`]), and the
/// holders its owner lookup found before that, kept until then (up to [`AHEAD_KEPT`]; the
/// others are read after the lookup, as every owner not handed on is).
#[cfg(target_os = "linux")]
pub struct Shown {
    inodes: std::sync::OnceLock<HashSet<u32>>,
    kept: Mutex<Vec<(u32, u32, Option<u64>)>>,
    feed: Feed,
}

/// Holders kept while the shown sockets are not known yet, at most (16 bytes each).
#[cfg(target_os = "linux")]
const AHEAD_KEPT: usize = 1 << 16;

#[cfg(target_os = "linux")]
impl Shown {
    /// Nothing shown yet; holders of what will be shown are handed to `reading`.
    pub fn new(reading: &Reading) -> Arc<Shown> {
        Arc::new(Shown {
            inodes: std::sync::OnceLock::new(),
            kept: Mutex::new(Vec::new()),
            feed: reading.feed(),
        })
    }

    /// The inodes of the sockets the look shows: the holders of those found so far are
    /// handed on now, those found later as they are found.
    pub fn show(&self, inodes: HashSet<u32>) {
        let _ = self.inodes.set(inodes);
        let Some(inodes) = self.inodes.get() else {
            return;
        };
        let kept = std::mem::take(&mut *self.kept.lock().unwrap_or_else(PoisonError::into_inner));
        let mut handed = HashSet::new();
        for (pid, inode, start) in kept {
            if inodes.contains(&inode) && handed.insert(pid) {
                self.feed.add(pid, start);
            }
        }
        self.feed.flush();
    }
}

/// The holders an owner lookup finds, handed to a [`Reading`] as the lookup finds them: a
/// holder of a socket the look shows is read at once, while the lookup goes on (see
/// [`Shown`]).
#[cfg(target_os = "linux")]
pub struct Ahead {
    shown: Arc<Shown>,
    handed: HashSet<u32>,
}

#[cfg(target_os = "linux")]
impl Ahead {
    /// Hands the holders it is told of on as `shown` says.
    pub fn new(shown: Arc<Shown>) -> Ahead {
        Ahead {
            shown,
            handed: HashSet::new(),
        }
    }

    /// `pid` (started at `start`) holds socket `inode`.
    pub fn holds(&mut self, pid: u32, inode: u32, start: Option<u64>) {
        let inodes = match self.shown.inodes.get() {
            Some(inodes) => inodes,
            None => {
                let mut kept = self
                    .shown
                    .kept
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                // Asked again under the lock: what is kept now is taken by `show`, which
                // takes the lock after it set the inodes.
                match self.shown.inodes.get() {
                    Some(inodes) => inodes,
                    None => {
                        if kept.len() < AHEAD_KEPT {
                            kept.push((pid, inode, start));
                        }
                        return;
                    }
                }
            }
        };
        if inodes.contains(&inode) && self.handed.insert(pid) {
            self.shown.feed.add(pid, start);
        }
    }
}

/// The lookup is done with it: the holders handed on last are read now.
#[cfg(target_os = "linux")]
impl Drop for Ahead {
    fn drop(&mut self) {
        self.shown.feed.flush();
    }
}

/// Takes PIDs from `queue` and hands each one's details (`None`: it is gone) to `answer`,
/// until the queue is closed and empty or `answer` says stop. It first leaves `maker`, the CPU
/// of the thread that started it when that one reads alone (see [`super::spread`]), where it
/// was started there.
fn read_queue(
    queue: &Queue,
    maker: Option<usize>,
    mut answer: impl FnMut(u32, Option<Process>) -> bool,
) {
    super::spread::leave(maker);
    #[cfg(target_os = "linux")]
    let mut buf = Vec::with_capacity(4096);
    #[cfg(not(target_os = "linux"))]
    let Ok(mut sys) = System::new() else {
        return;
    };
    loop {
        let (pid, start) = {
            let mut state = queue.state();
            loop {
                if let Some(&next) = state.pids.get(state.next) {
                    state.next += 1;
                    break next;
                }
                if state.closed {
                    return;
                }
                state.idle += 1;
                state = queue
                    .more
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                state.idle -= 1;
            }
        };
        in_flight().push(pid);
        #[cfg(target_os = "linux")]
        let p = read_one(&mut buf, pid, start);
        #[cfg(not(target_os = "linux"))]
        let p = read_one(&mut sys, pid, start);
        in_flight().retain(|&p| p != pid);
        if !answer(pid, p) {
            return;
        }
    }
}

/// A command line's arguments, and whether it was cut at [`MAX_CMDLINE`].
#[cfg(target_os = "linux")]
type Args = (Vec<Vec<u8>>, bool);

/// What a live thread other than the main one shows of a process whose main thread exited.
#[cfg(target_os = "linux")]
enum LiveThread {
    /// Its executable and command line, and its directory (`/proc/PID/task/TID`), where its
    /// executable is judged: the main thread's namespace links read nothing once it exited.
    Details(Vec<u8>, crate::model::ExeState, Args, String),
    /// Something is mounted over its executable link (this path below `/proc/PID`).
    Covered(String),
}

/// The executable and command line of a live thread other than the main one, for a process
/// whose main thread exited; `None` when it has no other thread or none answers.
#[cfg(target_os = "linux")]
fn live_thread_details(pid: u32) -> Option<LiveThread> {
    if super::linux::thread_count(pid)? < 2 {
        return None;
    }
    super::linux::other_threads(pid)
        .into_iter()
        .find_map(|tid| {
            let dir = format!("/proc/{pid}/task/{tid}");
            let (exe, state) = super::exe::exe_in(&dir);
            if exe.is_none() && state.proc_covered == Some("exe") {
                return Some(LiveThread::Covered(format!("task/{tid}/exe")));
            }
            let file = super::proc_dir::open_file(&format!("{dir}/cmdline")).ok()?;
            let mut text = Vec::new();
            let cut = super::proc_dir::read_fd_at_most(&file, &mut text, MAX_CMDLINE)?;
            let args = text
                .strip_suffix(b"\0")
                .unwrap_or(&text)
                .split(|&b| b == 0)
                .filter(|_| !text.is_empty())
                .map(<[u8]>::to_vec)
                .collect();
            Some(LiveThread::Details(exe?, state, (args, cut), dir))
        })
}

/// One process's details, everything but the user name (filled in by the caller); `None`
/// when it is gone. `start`: its start time as the look saw it (a process started at another
/// time took the PID since). `buf` is reused for every file read.
#[cfg(target_os = "linux")]
fn read_one(buf: &mut Vec<u8>, pid: u32, start: Option<u64>) -> Option<Process> {
    use super::proc_dir::{self, ProcDir};
    let dir = match ProcDir::open(pid) {
        Ok(dir) => dir,
        // Another directory mounted over /proc/PID: not read through (it may be a filesystem
        // that does not answer).
        Err(rustix::io::Errno::XDEV) => return Some(Process::covered(pid)),
        Err(_) => {
            // Gone, unless /proc hides it from this user (hidepid).
            return proc_dir::hidden_by_hidepid(pid).map(|how| Process::hidden(pid, how));
        }
    };
    if !dir.read("stat", buf) {
        // Gone, unless another filesystem's directory was mounted over /proc/PID, or a file
        // over its stat.
        if let Some(file) = dir.covered() {
            return Some(Process::covered_file(pid, file));
        }
        if let Some(how) = proc_dir::hidden_by_hidepid(pid) {
            return Some(Process::hidden(pid, how));
        }
        return (!dir.on_procfs()).then(|| Process::covered(pid));
    }
    let stat = proc_dir::parse_stat(buf)?;
    // A directory mounted over /proc/PID (another process's /proc directory, bound there to
    // hide this one) gives another PID: nothing in it is this process's.
    if stat.pid.is_some_and(|p| p != pid) {
        return Some(Process::covered(pid));
    }
    // Everything below is read through the same directory, so from this very process.
    if reused(start, stat.start_ticks) {
        return Some(Process::changed(pid));
    }
    // What the kernel said of it in the owner iterator's pass, unless it ran another program
    // since (its stack starts elsewhere: a setuid program's credentials are others; where
    // `stat` does not show it, that is not known) or something is mounted below its
    // /proc/PID: then every file is read, and what covers one is said, as by the walk.
    let facts = super::task_facts::of(pid, stat.start_ticks)
        .filter(|f| f.start_stack.is_some() && f.start_stack == stat.start_stack)
        .filter(|_| super::exe::mounted_below_proc(pid).is_none());
    let (mut exe_bytes, mut exe_state) = super::exe::exe_in(&dir.path());
    // A link or file mounted over `/proc/PID/exe` (the new mount API mounts on a link): as for
    // the process's other files, nothing read of it is believed.
    if exe_bytes.is_none() && exe_state.proc_covered == Some("exe") {
        return Some(Process::covered_file(pid, "exe"));
    }
    let mut args = match dir.read_at_most("cmdline", buf, MAX_CMDLINE) {
        Some(cut) => (proc_dir::parse_cmdline(buf), cut),
        None => (Vec::new(), false),
    };
    // A process whose main thread exited (pthread_exit) while others run: its own executable
    // link and command line read empty, a live thread's are the process's.
    let mut judged_in = dir.path();
    if exe_bytes.is_none() && args.0.is_empty() {
        match live_thread_details(pid) {
            Some(LiveThread::Details(bytes, state, thread_args, thread_dir)) => {
                (exe_bytes, exe_state, args) = (Some(bytes), state, thread_args);
                judged_in = thread_dir;
            }
            Some(LiveThread::Covered(file)) => return Some(Process::covered_file(pid, &file)),
            None => {}
        }
    }
    super::identity::judge(
        &judged_in,
        (exe_bytes.as_deref(), &stat.name),
        &mut exe_state,
        &args.0,
        facts.as_ref().filter(|_| judged_in == dir.path()),
    );
    // The kernel's name: `stat` holds it exactly as `comm` does (both print task->comm as
    // set, unescaped), so it is not read twice.
    let comm = String::from_utf8_lossy(&stat.name).into_owned();
    let comm_bytes = Some(stat.name);
    // The effective uid, as `ps -o user` shows: the one the process acts with (a process with
    // real uid nobody and effective uid root is root's).
    // (Of a process of several threads, the main thread's `status` is read beside the others',
    // as the walk reads it: the kernel's facts are of an earlier moment, and a process whose
    // threads change their uids would show uids no two threads ever had together.)
    let (uid, credentials) = if let Some(f) = facts.filter(|f| f.threads < 2) {
        let uid = Some(f.euid());
        let same_user_ns = f.own_namespaces().1;
        let main = super::credentials::Main::of_kernel(f.uids, f.capabilities, f.threads);
        (
            uid,
            super::credentials::of_main(pid, &main, uid, same_user_ns),
        )
    } else if dir.read("status", buf) {
        let uid = super::linux::parse_status_uid(buf);
        // (Read by the judgement of its executable, when it has one.)
        let same_user_ns = if exe_bytes.is_some() {
            match (exe_state.own_user_ns, exe_state.user_ns_unread) {
                (_, true) => None,
                (own, false) => Some(!own),
            }
        } else {
            super::exe::in_same_user_ns(&dir.path())
        };
        (uid, super::credentials::of(pid, buf, uid, same_user_ns))
    } else {
        (None, crate::model::Credentials::default())
    };
    // A cgroup path cut at the bound is not believed: its last part would name a unit or
    // container that is not the process's.
    let read = dir.read_at_most("cgroup", buf, proc_dir::MAX_FILE) == Some(false);
    let (unit, container) = match std::str::from_utf8(buf) {
        Ok(text) if read => super::linux::parse_cgroup(text),
        _ => (None, None),
    };
    // A file mounted over one of them holds what whoever mounted it wrote: nothing read of
    // the process is believed.
    if let Some(file) = dir.covered() {
        return Some(Process::covered_file(pid, file));
    }
    let parent_pid = stat.parent_pid.filter(|&pp| pp != 0);
    // The parent: only its name, read for each owner. Owners are read while the lookup still
    // finds them: meanwhile a parent may run another program, rename itself, or exit and leave
    // its PID to another process, whose children may be owners too.
    let parent_name = parent_pid.and_then(|pp| {
        // (The kernel's name of the parent it found, when that is the parent `stat` names and
        // nothing is mounted below its /proc/PPID: the walk would not read through that.)
        let known =
            facts.filter(|f| f.parent_pid == pp && super::exe::mounted_below_proc(pp).is_none());
        if let Some(name) = known
            .as_ref()
            .and_then(super::task_facts::TaskFacts::parent_name)
        {
            return Some(String::from_utf8_lossy(name).into_owned());
        }
        let name = super::linux::comm(pp).or_else(|| {
            let dir = ProcDir::open(pp).ok()?;
            dir.read("stat", buf).then_some(())?;
            Some(proc_dir::parse_stat(buf)?.name)
        })?;
        Some(String::from_utf8_lossy(&name).into_owned())
    });
    let mut p = described(
        pid,
        (comm_bytes, comm),
        (exe_bytes, exe_state),
        args,
        uid,
        stat.start_ticks.and_then(proc_dir::start_time),
        (parent_pid, parent_name),
        (unit, container),
    );
    p.credentials = credentials;
    Some(p)
}

/// A process from what was read of it: names made readable, and escaped where they are not
/// UTF-8. `comm_bytes`: the kernel's name as read (`None`: not read; `comm` is then the best
/// name known).
/// A unit as the cgroup parser gives it: its name, and the user manager whose unit it is
/// (`user@1000.service/foo.service`: `user@1000.service`), `None` for a unit of the system's
/// manager.
fn split_unit(unit: String) -> (String, Option<String>) {
    match unit.split_once('/') {
        Some((manager, name)) => (name.to_string(), Some(manager.to_string())),
        None => (unit, None),
    }
}

#[allow(clippy::too_many_arguments)]
fn described(
    pid: u32,
    (comm_bytes, comm): (Option<Vec<u8>>, String),
    (exe_bytes, exe_state): (Option<Vec<u8>>, crate::model::ExeState),
    (mut args, cmdline_truncated): (Vec<Vec<u8>>, bool),
    uid: Option<u32>,
    start_time: Option<u64>,
    (parent_pid, parent_name): (Option<u32>, Option<String>),
    (unit, container): (Option<String>, Option<crate::model::Container>),
) -> Process {
    let exe = exe_bytes
        .as_deref()
        .map(|b| String::from_utf8_lossy(b).into_owned());
    // The cut at MAX_CMDLINE may fall inside a character: its first bytes were made by the
    // cut, not by the process, and are dropped (a command line is not called invalid UTF-8
    // for whoport's own cut).
    if cmdline_truncated {
        if let Some(last) = args.last_mut() {
            let whole = whole_characters(last);
            last.truncate(whole);
        }
    }
    let cmdline: Vec<String> = args
        .iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    // A kernel name read and empty (prctl(PR_SET_NAME, "")) is the truth: never replaced by
    // the executable's, which is shown beside it anyway.
    let name = if comm_bytes.as_deref() == Some(&b""[..]) {
        String::new()
    } else {
        full_name(&comm, exe.as_deref(), cmdline.first().map(String::as_str))
    };
    let name_escaped = comm_bytes
        .as_deref()
        .filter(|_| name == comm)
        .and_then(crate::model::escaped_if_invalid);
    let exe_escaped = exe_bytes
        .as_deref()
        .and_then(crate::model::escaped_if_invalid);
    let cmdline_escaped = args
        .iter()
        .any(|a| std::str::from_utf8(a).is_err())
        .then(|| args.iter().map(|a| escape_bytes(a)).collect());
    let (unit, unit_manager) = match unit.map(split_unit) {
        Some((unit, manager)) => (Some(unit), manager),
        None => (None, None),
    };
    Process {
        pid,
        name,
        exe,
        cmdline,
        uid,
        user: None,
        credentials: crate::model::Credentials::default(),
        start_time,
        parent_pid,
        parent_name,
        unit,
        unit_manager,
        container,
        exe_state,
        name_escaped,
        exe_escaped,
        cmdline_escaped,
        cmdline_truncated,
        not_read: false,
        name_unknown: false,
        hidden_by_mount: None,
    }
}

/// How many bytes of `bytes` to keep so that it does not end in the first bytes of a UTF-8
/// character cut short: all of them unless it ends in an incomplete (but so far valid)
/// sequence. Bytes that are not UTF-8 whatever follows them are kept, to be escaped.
fn whole_characters(bytes: &[u8]) -> usize {
    // A character is at most 4 bytes: an incomplete one starts within the last 3.
    let from = bytes.len().saturating_sub(3);
    match bytes[from..].iter().rposition(|&b| b & 0xC0 != 0x80) {
        Some(at) => match std::str::from_utf8(&bytes[from + at..]) {
            Err(e) if e.valid_up_to() == 0 && e.error_len().is_none() => from + at,
            _ => bytes.len(),
        },
        None => bytes.len(),
    }
}

/// One process's details, everything but the user name (filled in by the caller); `None`
/// when it is gone.
#[cfg(not(target_os = "linux"))]
fn read_one(sys: &mut System, pid: u32, start: Option<u64>) -> Option<Process> {
    let _ = start;
    let wanted = [Pid::from_u32(pid)];
    sys.refresh_processes_specifics(
        ProcessesToUpdate::Some(&wanted),
        true,
        ProcessRefreshKind::nothing()
            .with_cmd(UpdateKind::Always)
            .with_exe(UpdateKind::Always)
            .with_user(UpdateKind::Always)
            .without_tasks(),
    );
    let p = sys.process(Pid::from_u32(pid))?;
    let exe_bytes = p.exe().map(|e| os_bytes(e.as_os_str()).to_vec());
    let args: Vec<Vec<u8>> = p.cmd().iter().map(|a| os_bytes(a).to_vec()).collect();
    let comm = p.name().to_string_lossy().into_owned();
    // The effective uid, as `ps -o user` shows: the one the process acts with.
    let uid = p
        .effective_user_id()
        .or_else(|| p.user_id())
        .and_then(|u| u.to_string().parse::<u32>().ok());
    let parent_pid = p.parent().map(to_u32).filter(|&pp| pp != 0);
    let start_time = Some(p.start_time()).filter(|&t| t > 0);
    // The parent: only its name, read for each owner. Owners are read while the lookup still
    // finds them: meanwhile a parent may run another program, rename itself, or exit and leave
    // its PID to another process, whose children may be owners too.
    let parent_name = parent_pid.and_then(|pp| {
        let wanted = [Pid::from_u32(pp)];
        sys.refresh_processes_specifics(
            ProcessesToUpdate::Some(&wanted),
            false,
            ProcessRefreshKind::nothing().without_tasks(),
        );
        sys.process(Pid::from_u32(pp))
            .map(|parent| parent.name().to_string_lossy().into_owned())
    });
    Some(described(
        pid,
        (None, comm),
        (exe_bytes, Default::default()),
        (args, false),
        uid,
        start_time,
        (parent_pid, parent_name),
        (None, None),
    ))
}

/// Start times then and now: different means another process took the PID. When either is
/// unknown (the process is gone, or was never recorded) nothing is claimed.
pub fn reused(then: Option<u64>, now: Option<u64>) -> bool {
    matches!((then, now), (Some(a), Some(b)) if a != b)
}

#[cfg(all(unix, not(target_os = "linux")))]
fn os_bytes(s: &std::ffi::OsStr) -> &[u8] {
    std::os::unix::ffi::OsStrExt::as_bytes(s)
}

#[cfg(not(unix))]
fn os_bytes(s: &std::ffi::OsStr) -> &[u8] {
    s.as_encoded_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_character_cut_short_at_the_end_is_dropped_and_nothing_else() {
        let euro = "€".as_bytes();
        for cut in 1..euro.len() {
            let bytes = [b"ab".as_slice(), &euro[..cut]].concat();
            assert_eq!(whole_characters(&bytes), 2, "{bytes:?}");
        }
        let four = "😀".as_bytes();
        assert_eq!(whole_characters(&[b"a", &four[..3]].concat()), 1);
        for kept in [
            &b"ab\xe2\x82\xac"[..],
            b"",
            b"abc",
            b"a\xff",
            b"a\x82",
            b"\xc3\xa9",
        ] {
            assert_eq!(whole_characters(kept), kept.len(), "{kept:?}");
        }
        // Not UTF-8 whatever follows: kept, to be escaped.
        assert_eq!(whole_characters(b"a\xc3\x41"), 3);
        assert_eq!(whole_characters(b"a\xe2\x41"), 3);
    }

    #[test]
    #[cfg(unix)]
    fn user_names_come_from_nss_including_system_users() {
        let users = UserNames::load();
        assert_eq!(users.name(0).as_deref(), Some("root"));
        // 'daemon' has a nologin shell on Debian and is still a user.
        if let Ok(Some(daemon)) = nix::unistd::User::from_name("daemon") {
            assert_eq!(users.name(daemon.uid.as_raw()).as_deref(), Some("daemon"));
        }
        assert_eq!(users.name(4_000_000_001), None);
        assert_eq!(user_exists("root"), Some(true));
        assert_eq!(user_exists("12345"), Some(true));
        assert_eq!(user_exists("no-such-user-on-this-system"), Some(false));
        assert_eq!(user_exists(""), Some(false));
    }

    #[test]
    fn pid_reuse_is_a_different_start_time() {
        assert!(!reused(Some(100), Some(100)));
        assert!(reused(Some(100), Some(250)));
        assert!(!reused(None, Some(250)));
        assert!(!reused(Some(100), None));
        let p = Process::changed(42);
        assert_eq!(p.pid, 42);
        assert_eq!(p.name, "[process changed during scan]");
        assert!(
            p.exe.is_none() && p.cmdline.is_empty(),
            "no details of the newcomer"
        );
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn details_of_a_reused_pid_are_not_attached() {
        let me = std::process::id();
        let users = UserNames::load();
        let now = crate::collect::linux::start_ticks(me).expect("own start");
        let same = details(&[me], &users, &HashMap::from_iter([(me, now)]));
        assert_ne!(same[&me].name, "[process changed during scan]");
        let other = details(&[me], &users, &HashMap::from_iter([(me, now + 1)]));
        assert_eq!(other[&me], Process::changed(me));
    }

    /// The kernel's facts of a process are taken only while it runs the program the pass saw:
    /// facts published for a real process (here claiming uid 12345 and a parent named
    /// `facts-parent`) are its details while their stack start is the one its `stat` shows;
    /// with another (the process ran another program since the pass, a setuid one perhaps),
    /// its `status` and its parent's `comm` are read instead.
    #[test]
    #[cfg(target_os = "linux")]
    fn the_kernels_facts_are_taken_only_for_the_program_the_pass_saw() {
        let sleeper = Sleepers::start(1);
        let pid = sleeper.pid(0);
        let mut buf = Vec::new();
        let mut last: Option<super::super::proc_dir::Stat> = None;
        let stat = loop {
            let dir = super::super::proc_dir::ProcDir::open(pid).expect("its /proc directory");
            assert!(dir.read("stat", &mut buf), "its stat");
            let stat = super::super::proc_dir::parse_stat(&buf).expect("parsed");
            // (Until `sleep` runs: its stack starts elsewhere before its exec, and the exec
            // names it before it sets where its new stack starts: the same twice, 10 ms apart.)
            if stat.name == b"sleep"
                && last
                    .as_ref()
                    .is_some_and(|l| l.name == stat.name && l.start_stack == stat.start_stack)
            {
                break stat;
            }
            last = Some(stat);
            std::thread::sleep(Duration::from_millis(10));
        };
        let parent_pid = stat.parent_pid.expect("a parent");
        let mut name = [0u8; 16];
        name[..12].copy_from_slice(b"facts-parent");
        let facts = |start_stack| super::super::task_facts::TaskFacts {
            start_ticks: stat.start_ticks,
            uids: [12345; 4],
            capabilities: 0,
            mount_ns: 0,
            user_ns: 0,
            parent_pid,
            parent_name: Some(name),
            threads: 1,
            exe_device: None,
            start_stack,
        };
        // (Another test's pass may forget what is published: published again each time.)
        let read = |start_stack| {
            super::super::task_facts::publish(pid, facts(start_stack));
            read_one(&mut Vec::new(), pid, stat.start_ticks).expect("read")
        };
        let same = stat.start_stack.expect("root sees where its stack starts");
        let used = (0..20)
            .map(|_| read(Some(same)))
            .find(|p| p.uid == Some(12345))
            .expect("the facts taken");
        assert_eq!(used.parent_name.as_deref(), Some("facts-parent"));
        for other in [Some(same + 4096), None] {
            for _ in 0..5 {
                let p = read(other);
                assert_ne!(p.uid, Some(12345), "{other:?}: {p:?}");
                assert_ne!(p.parent_name.as_deref(), Some("facts-parent"), "{p:?}");
            }
        }
    }

    /// Two real processes, killed when dropped.
    #[cfg(target_os = "linux")]
    struct Sleepers(Vec<std::process::Child>);

    #[cfg(target_os = "linux")]
    impl Sleepers {
        fn start(n: usize) -> Sleepers {
            Sleepers(
                (0..n)
                    .map(|_| {
                        std::process::Command::new("sleep")
                            .arg("60")
                            .spawn()
                            .expect("sleep runs")
                    })
                    .collect(),
            )
        }

        fn pid(&self, i: usize) -> u32 {
            self.0[i].id()
        }
    }

    #[cfg(target_os = "linux")]
    impl Drop for Sleepers {
        fn drop(&mut self) {
            for child in &mut self.0 {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    /// The PIDs a reading was given, in order.
    #[cfg(target_os = "linux")]
    fn queued(reading: &Reading) -> Vec<u32> {
        let state = reading.feed.queue.state();
        state.pids.iter().map(|&(pid, _)| pid).collect()
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn holders_of_shown_sockets_are_read_ahead_and_no_others() {
        let sleepers = Sleepers::start(3);
        let (a, b, c) = (sleepers.pid(0), sleepers.pid(1), sleepers.pid(2));
        let reading = Reading::new();
        let shown = Shown::new(&reading);
        let mut ahead = Ahead::new(Arc::clone(&shown));
        // Found before the dump said which sockets are shown: kept, not read yet.
        ahead.holds(a, 11, None);
        ahead.holds(b, 12, None);
        assert!(
            queued(&reading).is_empty(),
            "nothing read before the shown sockets are known"
        );
        // Handed on as soon as the dump says which are shown, with no other holder found.
        shown.show(HashSet::from_iter([11, 13]));
        assert_eq!(queued(&reading), [a]);
        ahead.holds(c, 13, None);
        ahead.holds(a, 11, None);
        ahead.holds(c, 13, None);
        assert_eq!(
            queued(&reading),
            [a, c],
            "each holder of a shown socket once, in order"
        );
        // The owners the lookup ends with: b's socket was not shown, so b is not among them.
        let users = UserNames::load();
        let read = reading.finish(&[a, c], &users, &HashMap::new(), Deadline::never());
        assert!(read.late.is_empty());
        let mut pids: Vec<u32> = read.processes.keys().copied().collect();
        pids.sort_unstable();
        let mut want = vec![a, c];
        want.sort_unstable();
        assert_eq!(pids, want);
        assert!(read.processes.values().all(|p| p.name == "sleep"));
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn only_the_workers_started_while_the_lookup_reads_alone_are_asked_to_leave_its_cpu() {
        use super::super::spread::{alone, tests};
        use std::sync::atomic::Ordering::SeqCst;
        // On a thread of its own, whose CPU the workers it starts are told is a sentinel no
        // other test's workers are told.
        std::thread::spawn(|| {
            tests::FORCED.with(|f| f.set(Some(tests::SENTINEL)));
            let sleepers = Sleepers::start(2);
            let asked = || tests::SENTINEL_ASKS.load(SeqCst);
            let read = |reading: &Reading| {
                (0..5000).any(|_| {
                    let done = {
                        let s = reading.feed.queue.state();
                        s.next == 1 && s.idle == s.workers
                    };
                    if !done {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    done
                })
            };
            let before = asked();
            // Started by a caller that does not read alone: never asked.
            let reading = Reading::new();
            reading.feed().add(sleepers.pid(0), None);
            assert!(read(&reading), "read");
            assert_eq!(asked(), before);
            // Started while it reads alone: asked, once.
            let reading = Reading::new();
            alone(|| reading.feed().add(sleepers.pid(1), None));
            assert!(read(&reading), "read");
            assert_eq!(asked(), before + 1);
        })
        .join()
        .expect("thread");
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_few_owners_are_read_as_found_and_many_in_batches() {
        let sleepers = Sleepers::start(2);
        let reading = Reading::new();
        let feed = reading.feed();
        let state = || reading.feed.queue.state();
        // Until `n` PIDs were taken and read, and every worker waits for more (a worker
        // waits only once the read it took is done), still so 100 ms later: a worker woken
        // earlier counts as waiting until it takes the lock again, and may then take the
        // next PID added.
        let settled = |n: usize| {
            let s = state();
            s.next == n && s.idle == s.workers
        };
        let read_up_to = |n: usize| {
            for _ in 0..2000 {
                if settled(n) {
                    std::thread::sleep(Duration::from_millis(100));
                    if settled(n) {
                        return true;
                    }
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            false
        };
        feed.add(sleepers.pid(0), None);
        assert!(read_up_to(1), "the first owner read at once");
        // A workstation's second owner, found while the worker waits: read as found, not
        // when the lookup ends.
        feed.add(sleepers.pid(1), None);
        assert!(read_up_to(2), "a second owner read as found");
        // Many: PIDs above the kernel's largest (2^22), which no process has, read at once.
        let absent = (1u32 << 22) + 1;
        for pid in absent..absent + 40 {
            feed.add(pid, None);
        }
        assert!(read_up_to(42), "the first 42 read");
        // Past 32 PIDs the workers wait for two before they are woken...
        feed.add(absent + 40, None);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(state().next, 42, "one owner more does not wake a worker");
        // ...or for the lookup to be done with what it found.
        feed.flush();
        assert!(read_up_to(43), "the owner left read once the adder is done");
        // The owners the lookup ended with, added at once: read while the caller goes on.
        reading.add(&[absent + 41], &HashMap::new());
        assert!(
            read_up_to(44),
            "an owner added at the end read before the read ends"
        );
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_read_answers_for_the_owners_asked_for_whenever_they_were_added() {
        let sleepers = Sleepers::start(3);
        let (a, b, c) = (sleepers.pid(0), sleepers.pid(1), sleepers.pid(2));
        let reading = Reading::new();
        let users = UserNames::load();
        // a read ahead and asked for, b read ahead and not asked for (the look ended without
        // it among the owners), c asked for only at the end.
        reading.feed().add(a, None);
        reading.feed().add(b, None);
        let read = reading.finish(&[a, c], &users, &HashMap::new(), Deadline::never());
        assert!(read.processes.contains_key(&a) && read.processes.contains_key(&c));
        assert!(
            !read.processes.contains_key(&b),
            "a PID read ahead but not an owner is not in the answer"
        );
        assert_eq!(read.processes.len(), 2);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_parent_renamed_while_its_children_are_read_is_named_as_each_read_found_it() {
        use std::io::{BufRead, Write};
        // A parent of two sleeping children, which renames itself when asked.
        let script = "import ctypes, subprocess, sys\n\
            kids = [subprocess.Popen(['sleep', '60']) for _ in range(2)]\n\
            print(kids[0].pid, kids[1].pid, flush=True)\n\
            sys.stdin.readline()\n\
            ctypes.CDLL(None).prctl(15, b'renamed', 0, 0, 0)\n\
            print('ok', flush=True)\n\
            sys.stdin.readline()\n\
            [k.kill() for k in kids]\n";
        let mut parent = std::process::Command::new("python3")
            .args(["-c", script])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut stdin = parent.stdin.take().expect("stdin");
        let mut lines = std::io::BufReader::new(parent.stdout.take().expect("stdout")).lines();
        let first = lines.next().expect("pids").expect("pids");
        let kids: Vec<u32> = first.split(' ').map(|p| p.parse().expect("pid")).collect();
        let reading = Reading::new();
        reading.feed().add(kids[0], None);
        // Until the first child's details are read.
        for _ in 0..2000 {
            let taken = reading.feed.queue.state().next == 1;
            if taken && !in_flight().contains(&kids[0]) {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        writeln!(stdin).expect("ask");
        assert_eq!(lines.next().expect("ok").expect("ok"), "ok");
        let users = UserNames::load();
        let read = reading.finish(&kids, &users, &HashMap::new(), Deadline::never());
        let _ = writeln!(stdin);
        let _ = parent.wait();
        assert_eq!(
            read.processes[&kids[0]].parent_name.as_deref(),
            Some("python3")
        );
        assert_eq!(
            read.processes[&kids[1]].parent_name.as_deref(),
            Some("renamed"),
            "the second child's parent as it is when that child is read"
        );
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_pid_the_look_ended_with_another_process_at_is_said_changed() {
        let sleepers = Sleepers::start(1);
        let a = sleepers.pid(0);
        let now = crate::collect::linux::start_ticks(a).expect("its start");
        let users = UserNames::load();
        let reading = Reading::new();
        // Read ahead as the process the lookup saw first; the look's last start for the PID
        // is another's.
        reading.feed().add(a, Some(now));
        let read = reading.finish(
            &[a],
            &users,
            &HashMap::from_iter([(a, now + 1)]),
            Deadline::never(),
        );
        assert_eq!(read.processes[&a], Process::changed(a));
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_read_given_up_lets_its_workers_end() {
        let reading = Reading::new();
        let feed = reading.feed();
        assert!(!feed.queue.state().closed);
        drop(reading);
        assert!(
            feed.queue.state().closed,
            "idle workers wait for nothing more"
        );
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_pid_read_ahead_is_judged_by_the_start_the_lookup_saw() {
        let sleepers = Sleepers::start(1);
        let a = sleepers.pid(0);
        let now = crate::collect::linux::start_ticks(a).expect("its start");
        let users = UserNames::load();
        let reading = Reading::new();
        reading.feed().add(a, Some(now + 1));
        // The start given at the end is not the one the read was made with.
        let read = reading.finish(
            &[a],
            &users,
            &HashMap::from_iter([(a, now)]),
            Deadline::never(),
        );
        assert_eq!(read.processes[&a], Process::changed(a));
        let reading = Reading::new();
        reading.feed().add(a, Some(now));
        let read = reading.finish(&[a], &users, &HashMap::new(), Deadline::never());
        assert_eq!(read.processes[&a].name, "sleep");
    }
}
