//! The in-kernel lookups: BPF iterators (bpf/owners.bpf.c, embedded compiled) over every
//! task's open files (the owner lookup: every socket descriptor on the machine, so no
//! `/proc/*/fd` link is read), every task's memory mappings, and every unix socket's receive
//! queue (descriptors in transit, collect/in_flight.rs); and the io_uring programs
//! (bpf/io_uring.bpf.c, collect/io_uring.rs).
//!
//! The objects are relocated once per run ([`Loaded::open`]) against the part of the kernel's
//! BTF their relocations can use (collect/btf.rs), and each program is verified by the kernel
//! only when it is first needed; the io_uring object is relocated only when it is first needed,
//! by the same loader.
//!
//! Nothing outlives whoport: the programs and their links are never pinned, and their
//! descriptors close when the [`Loaded`] object is dropped (or with the process, if it is
//! killed).

mod records;
mod refusal;
pub mod sk_lookup;

use crate::hash::{HashMap, HashSet, HashSetExt};
use std::sync::OnceLock;
use std::time::Duration;

use aya::programs::Iter;
use aya::{Btf, EbpfLoader};
use aya_obj::btf::{BtfType, Func, FuncLinkage};

use super::btf;
use super::linux::{InodeOwners, Ring};

/// Told of each holder of a socket as the owner iterator's pass finds it: (PID, socket inode,
/// the PID's start time as `/proc/PID/stat` gives it).
pub type Told<'a> = &'a mut dyn FnMut(u32, u32, Option<u64>);
pub use records::Mapped;
#[cfg(test)]
pub(crate) use records::{each_record, tests::Trickle};

/// The compiled objects (rebuilt by bpf/build.sh; tests/bpf.rs and tests/owners.rs check they
/// match their sources): the owner lookup's, and the io_uring programs'.
pub static OBJECTS: [&[u8]; 2] = [
    aya::include_bytes_aligned!("../../bpf/owners.bpf.o"),
    aya::include_bytes_aligned!("../../bpf/io_uring.bpf.o"),
];
const OWNERS_OBJECT: usize = 0;
const IO_URING_OBJECT: usize = 1;

/// The programs in the objects, each with the kernel's name for what it iterates over (the
/// iterator's attach function is `bpf_iter_` followed by it). The owner program follows each
/// socket's pointers with bpf_sock_from_file (Linux 5.11+).
const PROGRAM: Program = Program {
    name: "whoport_owners",
    iter: "task_file",
};
/// The owner program for Linux 5.8 to 5.10: the same records, each socket's pointers read with
/// a probe read each.
const LEGACY_OWNERS: Program = Program {
    name: "whoport_legacy_owners",
    iter: "task_file",
};
/// Memory mappings of sockets (Linux 5.12+).
const MAPPINGS: Program = Program {
    name: "whoport_mappings",
    iter: "task_vma",
};
/// Sockets carried in unix socket messages not yet received (Linux 5.17+).
const IN_FLIGHT: Program = Program {
    name: "whoport_in_flight",
    iter: "unix",
};
/// Listening TCP sockets and UDP sockets of whoport's network namespace that have no file:
/// the kernel's own (Linux 5.9+).
const KERNEL_TCP: Program = Program {
    name: "whoport_kernel_tcp",
    iter: "tcp",
};
const KERNEL_UDP: Program = Program {
    name: "whoport_kernel_udp",
    iter: "udp",
};
/// Threads asleep on the wait queues of the listening TCP sockets and UDP sockets of whoport's
/// network namespace (Linux 5.17+: bpf_loop).
const SLEEPERS_TCP: Program = Program {
    name: "whoport_sleepers_tcp",
    iter: "tcp",
};
const SLEEPERS_UDP: Program = Program {
    name: "whoport_sleepers_udp",
    iter: "udp",
};
/// The iterators the programs of both objects attach to.
const ITERATORS: [&str; 6] = ["task_file", "task_vma", "unix", "task", "tcp", "udp"];

/// Sockets carried in the queues of unix sockets of other network namespaces, reached from
/// descriptor tables (the unix iterator sees only the reader's namespace).
const FOREIGN_QUEUES: Program = Program {
    name: "whoport_foreign_queues",
    iter: "task_file",
};

/// The owner program and the other namespaces' unix queues in one pass over every
/// descriptor table (the second look's looks at the tables again, after the owner lookup ran
/// in the kernel).
const OWNERS_QUEUES: Program = Program {
    name: "whoport_owners_queues",
    iter: "task_file",
};

/// A program of one of the objects, and the kernel's name of what it iterates over.
#[derive(Debug, Clone, Copy)]
pub struct Program {
    pub name: &'static str,
    pub iter: &'static str,
}

impl Program {
    /// The kernel function the iterator attaches to.
    #[cfg(test)]
    fn attach_func(self) -> String {
        format!("bpf_iter_{}", self.iter)
    }
}

const KERNEL_BTF: &str = super::btf_file::PATH;
/// The directory of the kernel's BTF (and its modules'): kernel-made files only.
const KERNEL_BTF_DIR: &str = "/sys/kernel/btf";

/// Why the iterator could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    #[error("{0}")]
    Refused(refusal::Refusals),
    #[error("aya's probe of the kernel found no {0}, though a minimal BTF blob, array map and program load when asked again")]
    Unprobed(&'static str),
    #[error("reading the kernel's BTF: {0}")]
    Btf(#[from] aya::BtfError),
    #[error("reading the kernel's BTF: {0}")]
    KernelBtf(String),
    #[error("loading the program: {0}")]
    Load(#[from] aya::EbpfError),
    #[error("the embedded object has no program '{0}'")]
    Missing(&'static str),
    #[error("the kernel refused the program: {0}")]
    Program(#[from] aya::programs::ProgramError),
    #[error("the kernel refused the iterator: {0}")]
    Link(#[from] aya::programs::links::LinkError),
    #[error("the kernel's BTF has no function 'bpf_iter_{0}' (a kernel older than Linux {1})")]
    NoIterator(&'static str, &'static str),
    #[error("reading the iterator: {0}")]
    Read(#[from] std::io::Error),
    #[error("the iterator's output is malformed ({0} bytes)")]
    Malformed(usize),
}

/// The loaded object, kept for the second look: reading an iterator again costs only the
/// kernel's pass (no load, no verification), and a program not verified yet is verified
/// without loading the object again.
pub struct Loaded {
    /// The loader, relocating against the part of the kernel's BTF the objects need: kept for
    /// the io_uring object, relocated only when first needed.
    loader: EbpfLoader<'static>,
    /// The owner lookup's object.
    ebpf: aya::Ebpf,
    /// The io_uring object, once loaded.
    io_uring: Option<aya::Ebpf>,
    /// What `Iter::load` looks the attach functions up in ([`attach_targets`]): made while
    /// the object is opened, or on a later verification after the owner lookup dropped it,
    /// and kept for the next ones (it is as long as the kernel's type ids, a few MB).
    attach: Option<Btf>,
    /// The same table while a thread of its own makes it ([`Loaded::open`]).
    attach_making: Option<std::thread::JoinHandle<Btf>>,
    /// Every io_uring instance seen by the reads so far, in the table it was seen in.
    pub rings: Vec<Ring>,
    /// The PIDs of the tasks the last read again ([`Loaded::again`]) visited.
    pub visited: HashSet<u32>,
    /// Those of them that may hold sockets of another network namespace than whoport's (a
    /// task of theirs lives in another, or holds a socket of another).
    pub visited_elsewhere: HashSet<u32>,
    /// The kernel's type ids of the iterators' attach functions (absent: the kernel has no
    /// such iterator).
    ids: HashMap<&'static str, u32>,
    /// Whether the mappings program was verified (the kernel has the task_vma iterator):
    /// `None` until the first look at mappings needs it.
    mappings: Option<bool>,
    /// Whether the unix-queue program was verified: `None` until it is first needed.
    in_flight: Option<bool>,
    /// Whether the programs finding the kernel's own sockets were verified: `None` until they
    /// are first needed.
    kernel: Option<bool>,
    /// Whether the program reading the other namespaces' unix queues was verified: `None`
    /// until it is first needed.
    foreign_queues: Option<bool>,
    /// Whether the program reading the tables and those queues in one pass was verified:
    /// `None` until it is first needed.
    owners_queues: Option<bool>,
    /// Whether the programs finding threads asleep on sockets were verified: `None` until
    /// they are first needed.
    sleepers: Option<bool>,
    /// The owner program verified ([`PROGRAM`], or [`LEGACY_OWNERS`] on a kernel that refuses
    /// it): `None` until it is first needed.
    owner: Option<Program>,
}

type KernelBtf = (Btf, HashMap<&'static str, u32>);

/// The part of the kernel's BTF the objects' relocations use (collect/btf.rs), and the type ids
/// of the iterators' attach functions: read once per process (the kernel's BTF does not change
/// while it runs). The ids are found first and handed to `with_ids` (on the read that finds
/// them, not on later calls), so that what needs only them can start while the rest is read.
fn kernel_btf(
    with_ids: &mut dyn FnMut(&HashMap<&'static str, u32>),
) -> Result<&'static KernelBtf, BpfError> {
    static KERNEL: OnceLock<Result<KernelBtf, String>> = OnceLock::new();
    let read = || -> Result<_, String> {
        let raw =
            super::btf_file::BtfFile::open(KERNEL_BTF).map_err(|e| format!("{KERNEL_BTF}: {e}"))?;
        let names = btf::object_names(&OBJECTS).ok_or("the embedded objects have no BTF")?;
        let unreadable = || format!("{KERNEL_BTF} is not BTF whoport can read");
        let kernel = btf::Raw::parse(&raw).ok_or_else(unreadable)?;
        let funcs = ITERATORS.map(|iter| format!("bpf_iter_{iter}"));
        let funcs: Vec<&[u8]> = funcs.iter().map(String::as_bytes).collect();
        let (roots, func_ids) = kernel.named(&names, &funcs);
        let ids = ITERATORS
            .into_iter()
            .zip(func_ids)
            .filter_map(|(iter, id)| Some((iter, id?)))
            .collect();
        with_ids(&ids);
        let subset = btf::subset_of(&kernel, roots).ok_or_else(unreadable)?;
        let subset = Btf::parse(&subset, aya::Endianness::default()).map_err(|e| e.to_string())?;
        Ok((subset, ids))
    };
    KERNEL
        .get_or_init(read)
        .as_ref()
        .map_err(|e| BpfError::KernelBtf(e.clone()))
}

/// A loader with no BTF of its own. aya 0.14's `EbpfLoader::new()` parses the whole kernel
/// BTF (`Btf::from_sys_fs`, the absolute path /sys/kernel/btf/vmlinux: about 20 MiB once
/// parsed) before the caller can give it another; whoport gives it the subset its objects use
/// (collect/btf.rs). So the loader is made on a short-lived thread of its own that first takes
/// a filesystem context of its own (`unshare(CLONE_FS)`, which affects that thread only) and
/// changes its root to /sys/kernel/btf, where that path names nothing: aya finds no BTF there
/// and parses none. Nothing else is done on that thread (it runs while the caller reads the
/// kernel's BTF), and the thread has ended when the loader is used ([`loader_made`]).
fn start_loader() -> Option<std::thread::JoinHandle<Option<EbpfLoader<'static>>>> {
    std::thread::Builder::new()
        .name("bpf-loader".into())
        .spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS).ok()?;
            rustix::process::chroot(KERNEL_BTF_DIR).ok()?;
            Some(EbpfLoader::new())
        })
        .ok()
}

/// The loader [`start_loader`] made, once its thread has ended. Where it could not be made
/// there (no CAP_SYS_CHROOT: CAP_BPF with CAP_PERFMON only, or refused by a security policy),
/// the loader is made here and the copy it parsed is dropped at once (relocating against the
/// whole would cost more than the parse).
fn loader_made(
    started: Option<std::thread::JoinHandle<Option<EbpfLoader<'static>>>>,
) -> EbpfLoader<'static> {
    let made = started.and_then(|thread| thread.join().ok()).flatten();
    let mut loader = made.unwrap_or_default();
    loader.btf(None);
    loader
}

impl Loaded {
    /// Loads the owner lookup's object: relocated against the part of the kernel's BTF it
    /// uses; no program is verified yet.
    pub fn open() -> Result<Loaded, BpfError> {
        // Nothing is loaded where the kernel's BTF is on a filesystem that may never answer
        // (a FUSE mount over /sys/kernel/btf): the loader's own thread changes its root there
        // and aya reads the file, and a request such a filesystem's daemon reads and never
        // answers holds the asking thread in the kernel, through SIGKILL.
        super::btf_file::present()
            .map_err(|why| BpfError::KernelBtf(format!("{KERNEL_BTF}: {why}")))?;
        // aya probes what the kernel supports (once, by loading tiny programs, maps and BTF
        // blobs); a kernel that has BTF but loads none for us refuses bpf() (no CAP_BPF in the
        // initial user namespace, lockdown, seccomp, an LSM), or some of its commands (a policy
        // refusing program loads or map creation): say which, with the kernel's errno, instead
        // of the relocation error it causes.
        let features = aya::features();
        let missing = if features.btf().is_none() {
            Some("BTF support")
        } else if !features.bpf_global_data() {
            Some("global data support")
        } else {
            None
        };
        if let Some(missing) = missing {
            let answers = refusal::ask();
            return Err(if answers.refused.is_empty() {
                BpfError::Unprobed(missing)
            } else {
                BpfError::Refused(answers)
            });
        }
        let started = start_loader();
        // The table the programs' verification looks their attach functions up in needs only
        // the kernel's ids of those functions: it is made on a thread of its own while the
        // rest of the kernel's BTF is read and the object relocated.
        let mut attach_making = None;
        let (subset, ids) = kernel_btf(&mut |ids| {
            let ids = ids.clone();
            attach_making = std::thread::Builder::new()
                .name("bpf-attach".into())
                .spawn(move || attach_targets(&ids))
                .ok();
        })?;
        let mut loader = loader_made(started);
        loader.btf(Some(subset));
        let ebpf = loader.load(OBJECTS[OWNERS_OBJECT])?;
        Ok(Loaded {
            loader,
            ebpf,
            io_uring: None,
            attach: None,
            attach_making,
            rings: Vec::new(),
            visited: HashSet::new(),
            visited_elsewhere: HashSet::new(),
            ids: ids.clone(),
            mappings: None,
            in_flight: None,
            kernel: None,
            foreign_queues: None,
            owners_queues: None,
            sleepers: None,
            owner: None,
        })
    }

    /// The kernel's type id of `program`'s attach function.
    fn id(&self, program: Program, since: &'static str) -> Result<u32, BpfError> {
        self.ids
            .get(program.iter)
            .copied()
            .ok_or(BpfError::NoIterator(program.iter, since))
    }

    /// One pass of an io_uring program (bpf/io_uring.bpf.c), each 16-byte record handed to
    /// `each` as it streams: the object is relocated by the same loader on its first use, and
    /// each program verified on its first use.
    pub fn io_uring(
        &mut self,
        program: Program,
        each: &mut dyn FnMut(&[u8]),
    ) -> Result<(), BpfError> {
        let mut file = self.pass(program, "5.8")?;
        records::each_record(&mut file, records::RECORD_LEN, each)
    }

    /// The object holding `program`, with `program` verified: its attach function checked
    /// (absent: a kernel older than Linux `since`), the io_uring object relocated if it holds
    /// it and was not yet, and the program verified if it was not yet.
    fn ready(&mut self, program: Program, since: &'static str) -> Result<&mut aya::Ebpf, BpfError> {
        self.id(program, since)?;
        if self.ebpf.program(program.name).is_none() {
            self.io_uring_object()?;
        }
        let ebpf = match self.io_uring.as_mut() {
            Some(io_uring) if self.ebpf.program(program.name).is_none() => io_uring,
            _ => &mut self.ebpf,
        };
        let iter: &mut Iter = ebpf
            .program_mut(program.name)
            .ok_or(BpfError::Missing(program.name))?
            .try_into()?;
        if iter.fd().is_err() {
            let (making, ids) = (&mut self.attach_making, &self.ids);
            let attach = self.attach.get_or_insert_with(|| {
                let made = making.take().and_then(|thread| thread.join().ok());
                made.unwrap_or_else(|| attach_targets(ids))
            });
            iter.load(program.iter, attach)?;
        }
        Ok(ebpf)
    }

    /// The descriptor of one pass of `program`'s iterator, the program made [`Loaded::ready`]
    /// first.
    fn pass(&mut self, program: Program, since: &'static str) -> Result<std::fs::File, BpfError> {
        let ebpf = self.ready(program, since)?;
        iterator(ebpf, program.name)
    }

    /// The io_uring object, relocated on its first use.
    fn io_uring_object(&mut self) -> Result<&mut aya::Ebpf, BpfError> {
        if self.io_uring.is_none() {
            self.io_uring = Some(self.loader.load(OBJECTS[IO_URING_OBJECT])?);
        }
        self.io_uring.as_mut().ok_or(BpfError::Missing("io_uring"))
    }

    /// Writes the io_uring object's `.bss` (what its next read looks at: `struct target` in
    /// bpf/io_uring.bpf.c).
    pub fn io_uring_bss(&mut self, bytes: [u8; 16]) -> Result<(), BpfError> {
        let map = self
            .io_uring_object()?
            .map_mut(".bss")
            .ok_or(BpfError::Missing(".bss"))?;
        let mut array: aya::maps::Array<_, [u8; 16]> = aya::maps::Array::try_from(map)
            .map_err(|e| BpfError::Read(std::io::Error::other(e.to_string())))?;
        array
            .set(0, bytes, 0)
            .map_err(|e| BpfError::Read(std::io::Error::other(e.to_string())))?;
        Ok(())
    }

    /// Verifies the owner program (and the mappings program, where the kernel has its
    /// iterator) and reads it once: every socket inode's owners, as the `/proc` walk finds
    /// them.
    fn owners(&mut self, told: Told<'_>) -> Result<InodeOwners, BpfError> {
        let program = self.owner_program()?;
        // (The mappings program is verified when a second look first needs it: most runs
        // never do.)
        // Not kept beside the read and what is made of it: a second look that verifies more
        // programs makes it again, once.
        self.attach = None;
        let mut file = iterator(&mut self.ebpf, program.name)?;
        // The details' workers this read starts run beside it (see collect/spread.rs).
        let found = super::spread::alone(|| {
            records::read_owners_telling(&mut file, own_netns(), clock_ticks(), told)
        })?;
        self.rings = found.rings;
        Ok(found.owners)
    }

    /// The owner program, verified on its first use: [`PROGRAM`], or where the kernel refuses
    /// it (before Linux 5.11) [`LEGACY_OWNERS`].
    fn owner_program(&mut self) -> Result<Program, BpfError> {
        if let Some(program) = self.owner {
            return Ok(program);
        }
        let program = match self.ready(PROGRAM, "5.11") {
            Ok(_) => PROGRAM,
            Err(_) => self.ready(LEGACY_OWNERS, "5.8").map(|_| LEGACY_OWNERS)?,
        };
        self.owner = Some(program);
        Ok(program)
    }

    /// Verifies `programs` the first time they are asked for, never again: `state` is what an
    /// earlier ask found (`Some(true)` verified, `Some(false)` refused). Gives the state to
    /// keep and whether the programs may be read.
    fn verified_once(
        &mut self,
        state: Option<bool>,
        programs: &[Program],
        since: &'static str,
    ) -> (Option<bool>, Result<(), BpfError>) {
        match state {
            Some(true) => (state, Ok(())),
            Some(false) => (state, Err(BpfError::NoIterator(programs[0].iter, since))),
            None => {
                let verified = programs
                    .iter()
                    .try_for_each(|&program| self.ready(program, since).map(drop));
                (Some(verified.is_ok()), verified)
            }
        }
    }

    /// One pass of the unix-queue iterator (bpf/owners.bpf.c, `whoport_in_flight`), verified
    /// on its first use: each 16-byte record handed to `each` as it streams.
    pub fn in_flight(&mut self, each: &mut dyn FnMut(&[u8])) -> Result<(), BpfError> {
        let (state, verified) = self.verified_once(self.in_flight, &[IN_FLIGHT], "5.17");
        self.in_flight = state;
        verified?;
        let file = self.pass(IN_FLIGHT, "5.17")?;
        let mut read = locking_passes(vec![file])?;
        let found = records::each_record(&mut read, records::RECORD_LEN, each);
        said_late(&read);
        found
    }

    /// The inodes of the listening TCP sockets and the UDP sockets of whoport's network
    /// namespace that have no file (the kernel made them for itself: no process can hold
    /// them), from the tcp and udp iterators, verified on their first use.
    pub fn kernel_sockets(&mut self) -> Result<HashSet<u32>, BpfError> {
        let (state, verified) = self.verified_once(self.kernel, &[KERNEL_TCP, KERNEL_UDP], "5.9");
        self.kernel = state;
        verified?;
        let files = vec![self.pass(KERNEL_TCP, "5.9")?, self.pass(KERNEL_UDP, "5.9")?];
        let mut read = locking_passes(files)?;
        let mut found = HashSet::new();
        loop {
            let fileless = records::read_fileless(&mut read);
            said_late(&read);
            found.extend(fileless?);
            if !read.next_descriptor() {
                return Ok(found);
            }
        }
    }

    /// The threads asleep on the wait queue of each listening TCP socket and UDP socket of
    /// whoport's network namespace that has a file: (socket inode, tgid, thread id, its wait
    /// entry: the thread itself or a poll()/select() entry), from the tcp and udp iterators,
    /// verified on their first use; and the sockets whose wait queue was not read to its end
    /// (more entries than the programs look at).
    pub fn sleepers(&mut self) -> Result<(Vec<records::Sleeper>, Vec<u32>), BpfError> {
        let (state, verified) =
            self.verified_once(self.sleepers, &[SLEEPERS_TCP, SLEEPERS_UDP], "5.17");
        self.sleepers = state;
        verified?;
        let files = vec![
            iterator(&mut self.ebpf, SLEEPERS_TCP.name)?,
            iterator(&mut self.ebpf, SLEEPERS_UDP.name)?,
        ];
        let mut read = locking_passes(files)?;
        let (mut found, mut cut) = (Vec::new(), Vec::new());
        loop {
            let sleepers = records::read_sleepers(&mut read);
            said_late(&read);
            let (sleepers, unfinished) = sleepers?;
            found.extend(sleepers);
            cut.extend(unfinished);
            if !read.next_descriptor() {
                return Ok((found, cut));
            }
        }
    }

    /// One pass of the program over the unix sockets of other network namespaces held in
    /// descriptor tables (bpf/owners.bpf.c, `whoport_foreign_queues`), verified on its first
    /// use: its records, as [`Loaded::in_flight`]'s.
    pub fn foreign_queues(&mut self, each: &mut dyn FnMut(&[u8])) -> Result<(), BpfError> {
        let (state, verified) = self.verified_once(self.foreign_queues, &[FOREIGN_QUEUES], "5.11");
        self.foreign_queues = state;
        verified?;
        let mut file = self.pass(FOREIGN_QUEUES, "5.11")?;
        records::each_record(&mut file, records::RECORD_LEN, each)
    }

    /// Each socket's own network namespace where it is not its holder task's (inode ->
    /// namespace inode), from one read of the owner program, verified on its first use (the
    /// walk asks this of the sockets it could place in no table: `socket_netns.rs`).
    pub fn socket_namespaces(&mut self) -> Result<HashMap<u32, u64>, BpfError> {
        let program = self.owner_program()?;
        let mut file = self.pass(program, "5.8")?;
        Ok(records::read_owners(&mut file, own_netns(), clock_ticks())?
            .owners
            .socket_netns)
    }

    /// Reads the iterator again: the owners of the `wanted` inodes now (descriptors created or
    /// passed since the first read), and the io_uring instances seen meanwhile.
    /// Verified on its first use when the owner lookup did not run in the kernel.
    pub fn again(&mut self, wanted: &HashSet<u32>) -> Result<HashMap<u32, Vec<u32>>, BpfError> {
        let program = self.owner_program()?;
        self.read_again((program, "5.8"), wanted, &mut |_, _| {})
    }

    /// [`Loaded::again`] and [`Loaded::foreign_queues`] in one pass over every descriptor
    /// table (bpf/owners.bpf.c, `whoport_owners_queues`), verified on its first use: the
    /// owners of the `wanted` inodes now, and each record of the other network namespaces'
    /// unix socket queues handed to `queued` as (receiver, carried) as it streams.
    pub fn again_with_queues(
        &mut self,
        wanted: &HashSet<u32>,
        queued: &mut dyn FnMut(u64, u64),
    ) -> Result<HashMap<u32, Vec<u32>>, BpfError> {
        let (state, verified) = self.verified_once(self.owners_queues, &[OWNERS_QUEUES], "5.11");
        self.owners_queues = state;
        verified?;
        self.read_again((OWNERS_QUEUES, "5.11"), wanted, queued)
    }

    /// One pass of `program` (the owner program, or the owner and queue program) read as
    /// [`Loaded::again`] says.
    fn read_again(
        &mut self,
        (program, since): (Program, &'static str),
        wanted: &HashSet<u32>,
        queued: &mut dyn FnMut(u64, u64),
    ) -> Result<HashMap<u32, Vec<u32>>, BpfError> {
        let mut file = self.pass(program, since)?;
        let (pids, rings, visited, elsewhere) =
            records::read_wanted(&mut file, (wanted, own_netns()), queued)?;
        self.visited = visited;
        self.visited_elsewhere = elsewhere;
        // A set: one process may hold thousands of descriptors of rings.
        let mut known: HashSet<Ring> = self.rings.iter().copied().collect();
        self.rings
            .extend(rings.into_iter().filter(|ring| known.insert(*ring)));
        Ok(pids)
    }

    /// Whether the mappings program is verified: verified on the first ask, never again.
    fn mappings_verified(&mut self) -> bool {
        let (state, verified) = self.verified_once(self.mappings, &[MAPPINGS], "5.12");
        self.mappings = state;
        verified.is_ok()
    }

    /// The processes that map each of the `wanted` socket inodes into memory, and the io_uring
    /// instances each process maps, from the task_vma iterator (its program verified on the
    /// first ask), if its read ends within `budget`; `None` when that program was refused or
    /// its read did not end in time (then `/proc/PID/maps` tells). The kernel takes
    /// each process's memory-map lock for that iterator, and a process stuck on a filesystem
    /// that does not answer holds it indefinitely: the read runs on a thread of its own, with
    /// only the iterator's descriptor (the loaded programs stay here, for the other reads), and
    /// ends with whoport if it never returns.
    pub fn mappings_within(
        &mut self,
        wanted: &HashSet<u32>,
        budget: std::time::Duration,
    ) -> Option<Mapped> {
        if !self.mappings_verified() {
            return None;
        }
        let mut file = iterator(&mut self.ebpf, MAPPINGS.name).ok()?;
        let wanted = wanted.clone();
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("task_vma".into())
            .spawn(move || {
                let found = records::read_mapped(&mut file, &wanted).ok();
                let _ = send.send(found);
            })
            .ok()?;
        receive.recv_timeout(budget).ok()?
    }
}

/// The loaded objects the second look's in-kernel checks share (the kernel's own sockets,
/// the unix socket queues, the io_uring instances): the owner lookup's when it ran in the
/// kernel, otherwise loaded the first time one of them needs it, so that a run loads them
/// at most once. A load that failed is not tried again: every check is told why.
#[derive(Debug)]
pub enum Shared {
    /// Loaded (each program is still verified only when first used).
    Loaded(Box<Loaded>),
    /// Not needed so far.
    NotYet,
    /// The load failed, with what the kernel said.
    Failed(String),
}

impl Shared {
    /// The owner lookup's loaded object if it ran in the kernel; otherwise loaded when first
    /// needed.
    pub fn new(iterator: Option<Loaded>) -> Shared {
        match iterator {
            Some(loaded) => Shared::Loaded(Box::new(loaded)),
            None => Shared::NotYet,
        }
    }

    /// The loaded objects, loading them on the first call; `Err` (the same each time) when
    /// they cannot load here.
    pub fn get(&mut self) -> Result<&mut Loaded, String> {
        if matches!(self, Shared::NotYet) {
            *self = match Loaded::open() {
                Ok(loaded) => Shared::Loaded(Box::new(loaded)),
                Err(e) => Shared::Failed(explain(&e)),
            };
        }
        match self {
            Shared::Loaded(loaded) => Ok(loaded),
            Shared::Failed(why) => Err(why.clone()),
            Shared::NotYet => Err("the BPF objects were not loaded".to_string()),
        }
    }

    /// The loaded objects, if they were loaded.
    pub fn into_loaded(self) -> Option<Loaded> {
        match self {
            Shared::Loaded(loaded) => Some(*loaded),
            Shared::NotYet | Shared::Failed(_) => None,
        }
    }
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("rings", &self.rings)
            .finish_non_exhaustive()
    }
}

/// Loads the object and reads the owner iterator once: every socket inode's owners, as the
/// `/proc` walk finds them, and the loaded object for a second look. `told` hears of each
/// holder as the pass finds it.
pub fn socket_owners(told: Told<'_>) -> Result<(InodeOwners, Loaded), BpfError> {
    let mut loaded = Loaded::open()?;
    let owners = loaded.owners(told)?;
    Ok((owners, loaded))
}

/// An I/O error as `ENAME: description` when it carries an errno.
pub fn errno_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).to_string(),
        None => e.to_string(),
    }
}

/// `text` with each of the standard library's `Description (os error N)` written as
/// `ENAME: Description`, the errno's name first (as `strace` shows it).
fn with_errno_names(text: &str) -> String {
    let mut out = text.to_string();
    let mut from = 0;
    while let Some(at) = out[from..].find("(os error ").map(|i| i + from) {
        let digits: String = out[at + 10..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        let end = at + 10 + digits.len();
        let (Ok(code), true) = (digits.parse::<i32>(), out[end..].starts_with(')')) else {
            from = at + 1;
            continue;
        };
        let errno = nix::errno::Errno::from_raw(code).to_string();
        let described = std::io::Error::from_raw_os_error(code).to_string();
        let start = at.saturating_sub(described.len() - (end + 1 - at));
        if out.get(start..=end) == Some(described.as_str()) {
            out.replace_range(start..=end, &errno);
            from = start + errno.len();
        } else {
            let name = errno.split(':').next().unwrap_or_default().to_string();
            out.replace_range(at..=end, &format!("({name})"));
            from = at + name.len() + 2;
        }
    }
    out
}

/// The error with every cause it wraps, on one line: the kernel's own words are usually last,
/// each errno with its name (`EPERM: Operation not permitted`).
pub fn explain(e: &BpfError) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    with_errno_names(&text)
}

/// What the reads of the iterators that take the sockets' locks (tcp, udp, unix) met in the
/// look under way (the second look: one at a time).
#[derive(Debug, Clone, Copy)]
pub struct LockReads {
    /// When the look must be done: a read is waited for until a moment before.
    until: super::deadline::Deadline,
    /// A read did not end in time and its reader, killed, did not end: it waits in the kernel
    /// (left behind), and the look's later reads are not made (they would wait for the same
    /// lock).
    pub late: bool,
    /// The look's deadline came before a read ended (its reader, killed, ended at once), or
    /// before one could be made: the later reads are not made.
    pub out_of_time: bool,
    /// A reader left behind earlier (by this run or another) that still waits in the kernel,
    /// looked for before the look's first read: the look's reads are not made while one does.
    pub earlier: Option<Option<crate::far_file::LeftWaiting>>,
}

static LOCK_READS: std::sync::Mutex<Option<LockReads>> = std::sync::Mutex::new(None);

fn lock_reads() -> std::sync::MutexGuard<'static, Option<LockReads>> {
    LOCK_READS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Begins a look whose reads of [`locking_passes`] end by `until` (what earlier looks met is
/// forgotten: a lock let go since is read past).
pub fn begin_lock_reads(until: super::deadline::Deadline) {
    // A reader left behind by an earlier look that has ended since is reaped (a long `wait`
    // may start none for a while).
    crate::far_file::reap_ended_children();
    *lock_reads() = Some(LockReads::until(until));
}

impl LockReads {
    /// A look's, before its first read.
    fn until(until: super::deadline::Deadline) -> LockReads {
        LockReads {
            until,
            late: false,
            out_of_time: false,
            earlier: None,
        }
    }
}

/// What the look's reads of [`locking_passes`] met (`None` before a look began).
pub fn lock_reads_met() -> Option<LockReads> {
    *lock_reads()
}

/// How long before the look's deadline a read of [`locking_passes`] is given up: what the
/// look establishes without it is then still handed over in time.
const BEFORE_DEADLINE: Duration = Duration::from_millis(100);

/// Passes of the tcp, udp or unix iterators (`files`, in order), read by a child process
/// (`far_file::drain`) until shortly before the look's deadline: the kernel takes each
/// socket's lock as such an iterator passes it, and a read waiting for a lock that is never
/// let go (held by a thread that waits in the kernel, for a filesystem that never answers)
/// would hold the reading thread through SIGKILL, and whoport with it. Not made once one of
/// the look did not end in time, nor while a reader left behind earlier still waits.
fn locking_passes(files: Vec<std::fs::File>) -> Result<crate::far_file::Drained, BpfError> {
    use std::io::{Error, ErrorKind};
    let not_made = |why: String| Err(BpfError::Read(Error::new(ErrorKind::TimedOut, why)));
    let wait = {
        let mut reads = lock_reads();
        let reads =
            reads.get_or_insert_with(|| LockReads::until(super::deadline::Deadline::start()));
        if reads.late {
            return not_made(
                "not made: an earlier read of the sockets did not end in time (a socket's \
                 lock may be held)"
                    .to_string(),
            );
        }
        let earlier = *reads
            .earlier
            .get_or_insert_with(crate::far_file::reader_left_waiting);
        if let Some(waiting) = earlier {
            return not_made(format!("not made: {}", left_waiting_words(&waiting)));
        }
        if reads.out_of_time {
            return not_made("not made: the look's deadline came first".to_string());
        }
        // (No deadline: a `--timeout` too long for the clock, none.)
        let wait = reads
            .until
            .left()
            .map_or(Duration::MAX, |left| left.saturating_sub(BEFORE_DEADLINE));
        if wait.is_zero() {
            reads.out_of_time = true;
            return not_made("not made: the look's deadline came first".to_string());
        }
        wait
    };
    crate::far_file::drain(files, wait).map_err(|e| {
        BpfError::Read(Error::other(format!(
            "no process of its own could read it ({e}): it is read only there, as a read may \
             wait for a socket's lock for good"
        )))
    })
}

/// What is said of a reader left behind that still waits: "whoport's reader of the sockets
/// (PID 123, started 40 s ago) was left behind ...".
pub fn left_waiting_words(waiting: &crate::far_file::LeftWaiting) -> String {
    let mut about = Vec::new();
    if let Some(pid) = waiting.pid {
        about.push(format!("PID {pid}"));
    }
    if let Some(ago) = waiting.started_ago {
        about.push(format!("started {} s ago", ago.as_secs()));
    }
    let about = if about.is_empty() {
        String::new()
    } else {
        format!(" ({})", about.join(", "))
    };
    format!(
        "a reader of the sockets that whoport started{about} was killed (its read did not end \
         in time, or the whoport that started it ended) and still waits in the kernel, for a \
         socket's lock that may be held; another would wait with it"
    )
}

/// Notes a read of [`locking_passes`] that did not end in time.
fn said_late(read: &crate::far_file::Drained) {
    if read.late() {
        if let Some(reads) = lock_reads().as_mut() {
            if read.stuck() {
                reads.late = true;
            } else {
                reads.out_of_time = true;
            }
        }
    }
}

/// Attaches a loaded program: the descriptor of one pass of its iterator (it holds the link,
/// which holds the program, until it is closed).
fn iterator(ebpf: &mut aya::Ebpf, name: &'static str) -> Result<std::fs::File, BpfError> {
    let program: &mut Iter = ebpf
        .program_mut(name)
        .ok_or(BpfError::Missing(name))?
        .try_into()?;
    let link_id = program.attach()?;
    let link = program.take_link(link_id)?;
    Ok(link.into_file()?)
}

/// A BTF holding only what `Iter::load` looks up: for each iterator of `ids`, a FUNC named
/// `bpf_iter_<name>` with the kernel's type id for it (the other ids are placeholders). One
/// for every program of the run: its placeholders take a few MB (as many as the kernel has
/// types before the last of those functions), made once rather than for each program.
fn attach_targets(ids: &HashMap<&'static str, u32>) -> Btf {
    let mut funcs: Vec<(u32, &str)> = ids.iter().map(|(&iter, &id)| (id, iter)).collect();
    funcs.sort_unstable();
    let mut btf = Btf::new();
    let mut next = 1;
    for (id, iter) in funcs {
        if id < next {
            continue;
        }
        for _ in next..id {
            btf.add_type(BtfType::Unknown);
        }
        let name = btf.add_string(&format!("bpf_iter_{iter}"));
        next = btf.add_type(BtfType::Func(Func::new(name, 0, FuncLinkage::Static))) + 1;
    }
    btf
}

/// The type id of the FUNC named `name` in a raw (native-endian) BTF blob; `None` when it is
/// absent or the blob is malformed.
#[cfg(test)]
fn func_id(btf: &[u8], name: &[u8]) -> Option<u32> {
    btf::Raw::parse(btf)?.func_id(name)
}

/// The inode of whoport's own network namespace.
fn own_netns() -> Option<u64> {
    // The link's text (`net:[INODE]`), never read across a mount (see
    // `proc_dir::read_link`): a link mounted over whoport's own names another namespace.
    super::netns::netns_inum(&super::netns::own_netns_link()?)
}

/// USER_HZ, the unit of start times in `/proc/PID/stat`, and the boot-time offset of
/// whoport's time namespace, which shifts them.
fn clock_ticks() -> records::StatClock {
    records::StatClock {
        ticks: rustix::param::clock_ticks_per_second().max(1),
        boottime_offset_ns: super::proc_dir::read_path("/proc/self/timens_offsets")
            .map_or(0, |(text, _)| records::parse_boottime_offset(&text)),
    }
}
#[cfg(test)]
mod tests;
