//! Unit tests of `collect::bpf`.

use super::*;
use std::io::Read;

/// The raw reads of one pass of the owner iterator, and how many of them came first, 16
/// bytes at a time, until a record of `anchor` was read; after that, as a 64 KiB reader
/// gets them. (Each small read makes the kernel start the next one at a call's output, so
/// the reads that follow split the rest of the pass as if it began at `anchor`.)
fn raw_reads(loaded: &mut Loaded, anchor: u32) -> (Vec<Vec<u8>>, usize) {
    let mut file = iterator(&mut loaded.ebpf, PROGRAM.name).expect("attach");
    let mut buffer = vec![0u8; 1 << 16];
    let mut reads = Vec::new();
    let mut small = None;
    loop {
        let size = if small.is_some() { buffer.len() } else { 16 };
        let n = file.read(&mut buffer[..size]).expect("read");
        if n == 0 {
            let small = small.unwrap_or(reads.len());
            return (reads, small);
        }
        reads.push(buffer[..n].to_vec());
        if small.is_none() && first_record(&reads[reads.len() - 1..], anchor).is_some() {
            small = Some(reads.len());
        }
    }
}

/// Whether the in-kernel programs may be loaded here (root, the kernel's BTF); says the
/// test is skipped otherwise.
fn root_with_btf() -> bool {
    let root = rustix::process::geteuid().is_root();
    if !root || !std::path::Path::new(KERNEL_BTF).exists() {
        eprintln!("SKIPPED: needs root and BTF");
        return false;
    }
    true
}

/// Where the first record of `tgid` is: (read, byte offset in it).
fn first_record(reads: &[Vec<u8>], tgid: u32) -> Option<(usize, usize)> {
    reads.iter().enumerate().find_map(|(i, read)| {
        read.chunks_exact(16)
            .position(|r| r[..4] == tgid.to_ne_bytes())
            .map(|at| (i, at * 16))
    })
}

/// A process holding a listening TCP socket and, on request, more and more copies of it,
/// and its child, which holds the socket as its first descriptor (its standard input).
/// Both are killed when it is dropped.
struct Holder {
    process: std::process::Child,
    to: Option<std::process::ChildStdin>,
    from: std::io::BufReader<std::process::ChildStdout>,
    /// The holder's PID, its child's, and the socket's inode.
    started: Option<(u32, u32, u64)>,
}

impl Holder {
    const SCRIPT: &str = "import json, os, resource, socket, subprocess, sys\n\
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n\
        try: resource.setrlimit(resource.RLIMIT_NOFILE, (100000, max(hard, 100000)))\n\
        except (OSError, ValueError): resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))\n\
        s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\n\
        copies = [os.dup(s.fileno()) for _ in range(2100)]\n\
        child = subprocess.Popen(['sleep', '600'], stdin=s, stdout=subprocess.DEVNULL, \
        stderr=subprocess.DEVNULL)\n\
        print(json.dumps([os.getpid(), child.pid, os.fstat(s.fileno()).st_ino]), flush=True)\n\
        for line in sys.stdin:\n\
        \x20   copies += [os.dup(s.fileno()) for _ in range(int(line))]\n\
        \x20   print('ok', flush=True)\n\
        child.kill()\n";

    /// `None` when python3 cannot be run.
    fn start() -> Option<Holder> {
        let mut process = std::process::Command::new("python3")
            .args(["-c", Self::SCRIPT])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .ok()?;
        let to = process.stdin.take();
        let from = std::io::BufReader::new(process.stdout.take().expect("stdout"));
        let mut holder = Holder {
            process,
            to,
            from,
            started: None,
        };
        holder.started = serde_json::from_str(&holder.answer()).ok();
        Some(holder)
    }

    fn answer(&mut self) -> String {
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut self.from, &mut line);
        line
    }

    fn add_copies(&mut self, more: usize) {
        let to = self.to.as_mut().expect("stdin");
        std::io::Write::write_all(to, format!("{more}\n").as_bytes()).expect("ask for copies");
        assert_eq!(self.answer().trim(), "ok");
    }
}

impl Drop for Holder {
    /// The child, by PID while its parent has not reaped it (the PID cannot be reused
    /// yet); then the holder, which ends with its input.
    fn drop(&mut self) {
        let child = self
            .started
            .and_then(|(_, child, _)| i32::try_from(child).ok());
        if let Some(pid) = child.and_then(rustix::process::Pid::from_raw) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
        drop(self.to.take());
        let _ = self.process.wait();
    }
}

/// A seq_file buffer holds 32,768 bytes and takes a write only while it stays below
/// that: a read of the iterator ends after 32,752 bytes of 16-byte records, or earlier
/// when the next call's output does not fit; the kernel then discards that output and
/// calls the program again for the same file at the next read. A task's first call
/// writes its header (network namespace, start time) before its record, and its first
/// listener's call the process's facts: shown again, it must write them again. Staged: a
/// process holding one listening socket as its only descriptor (its first call writes 192
/// bytes), after a process holding thousands of copies of it (16 bytes each, so reads end
/// inside them); copies are added until the first process's call falls at a read's end, and
/// its header and facts must open the next read.
/// Where reads end inside the copies does not depend on the processes visited before
/// them (others come and go between passes): the reads before the holder's first record
/// are small (see `raw_reads`).
#[test]
fn a_tasks_header_is_written_again_when_the_kernel_shows_its_first_file_again() {
    if !root_with_btf() {
        return;
    }
    // The iterator visits tasks in the order of their PIDs: the child must come after
    // the holder (PIDs may wrap between the two).
    let mut holder = None;
    for _ in 0..3 {
        let Some(started) = Holder::start() else {
            eprintln!("SKIPPED: no python3");
            return;
        };
        let (pid, child, _) = started.started.expect("the helper starts");
        holder = Some(started);
        if child > pid {
            break;
        }
    }
    let mut holder = holder.expect("started");
    let (pid, child, inode) = holder.started.expect("the helper starts");
    assert!(
        child > pid,
        "PIDs wrapped three times between a process and its child"
    );
    let mut loaded = Loaded::open().expect("the object loads as root with BTF");
    loaded
        .ready(PROGRAM, "5.8")
        .expect("task_file iterator, verified");
    // Processes with PIDs between the holder's and the child's may come and go between
    // passes: try again until one pass shows the case (each try adds at most 2,046
    // copies).
    for _ in 0..40 {
        let (reads, small) = raw_reads(&mut loaded, pid);
        let (read, at) = first_record(&reads, child).expect("the child is visited");
        if read > small && at == 0 {
            let records: Vec<(u32, u32, u64)> = reads[read]
                .chunks_exact(16)
                .take(12)
                .map(records::tests_fields)
                .collect();
            // (The socket's record: its inode, marked an IPv4 listener, with its port, after
            // the process's facts, which its first listener brings.)
            let port = records[11].2 >> 32 & 0xffff;
            let facts = records::FACTS_ORDER;
            let expected: Vec<(u32, u32, u64)> = [
                (child, records::NETNS_RECORD, records[0].2),
                (child, records::START_RECORD, records[1].2),
            ]
            .into_iter()
            .chain(
                facts
                    .iter()
                    .zip(&records[2..11])
                    .map(|(&kind, r)| (child, kind, r.2)),
            )
            .chain([(
                child,
                0,
                u64::from(inode as u32) | records::LISTENER_MARK | port << 32,
            )])
            .collect();
            assert_eq!(
                records, expected,
                "shown again, the task's header and facts open the next read"
            );
            assert_ne!(port, 0, "the listener's port");
            let found = records::read_owners(&mut &reads.concat()[..], None, 100).expect("parse");
            assert!(found.owners.starts.contains_key(&child));
            return;
        }
        // Copies that move the child's call to 32 bytes before the end of a read
        // (reads inside the copies hold 2,047 records).
        holder.add_copies((((32_736 + 32_752 - at) / 16) % 2047).max(1));
    }
    panic!("no pass put the child's first call at the end of a read");
}

/// Both owner programs (the one for Linux 5.11+, which follows each socket's pointers with
/// plain loads, and the one for older kernels, with probe reads) read the same: a socket
/// of this process's network namespace, and one made in another namespace (by a thread of
/// this process that entered a namespace of its own), with that namespace.
#[test]
fn both_owner_programs_read_the_same() {
    use std::os::fd::AsFd;
    if !root_with_btf() {
        return;
    }
    let inode = |fd: std::os::fd::BorrowedFd| {
        u32::try_from(rustix::fs::fstat(fd).expect("fstat").st_ino).expect("u32")
    };
    let here = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = here.local_addr().expect("address").port();
    let (elsewhere, listening_elsewhere, netns) = std::thread::spawn(|| {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("a new namespace");
        let netns = rustix::fs::stat("/proc/thread-self/ns/net")
            .expect("its inode")
            .st_ino;
        let socket = std::net::UdpSocket::bind("0.0.0.0:0").expect("bind there");
        let listener = std::net::TcpListener::bind("0.0.0.0:0").expect("listen there");
        (socket, listener, netns)
    })
    .join()
    .expect("the thread");
    // Beside them: sockets that are no TCP listener of this namespace (a UDP socket, a
    // connection's two ends, and the other namespace's listener), and an IPv6 listener.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let client = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (served, _) = here.accept().expect("accept");
    let v6 = std::net::TcpListener::bind("[::1]:0").expect("bind");
    let v6_port = v6.local_addr().expect("address").port();
    let not_listeners = [
        inode(udp.as_fd()),
        inode(client.as_fd()),
        inode(served.as_fd()),
        inode(listening_elsewhere.as_fd()),
    ];
    let v6 = inode(v6.as_fd());
    let (here, elsewhere) = (inode(here.as_fd()), inode(elsewhere.as_fd()));
    let me = std::process::id();
    let mut loaded = Loaded::open().expect("the object loads as root with BTF");
    for program in [PROGRAM, LEGACY_OWNERS] {
        loaded.ready(program, "5.8").expect("verified");
        let mut file = iterator(&mut loaded.ebpf, program.name).expect("attach");
        let owners = records::read_owners(&mut file, own_netns(), clock_ticks())
            .expect("read")
            .owners;
        let name = program.name;
        assert_eq!(owners.pids.get(&here), Some(&vec![me]), "{name}");
        assert_eq!(owners.pids.get(&elsewhere), Some(&vec![me]), "{name}");
        assert_eq!(owners.socket_netns.get(&here), None, "{name}");
        assert_eq!(owners.socket_netns.get(&elsewhere), Some(&netns), "{name}");
        // The TCP listeners of whoport's namespace, with their ports, each once; not a
        // listener of another namespace held here, nor any other socket.
        let listed = |inode: u32| owners.listeners.iter().filter(|l| l.inode == inode).count();
        let held = |inode, port, ipv6| crate::collect::linux::HeldListener { inode, port, ipv6 };
        assert!(
            owners.listeners.contains(&held(here, port, false)),
            "{name}"
        );
        assert!(
            owners.listeners.contains(&held(v6, v6_port, true)),
            "{name}"
        );
        assert_eq!((listed(here), listed(v6)), (1, 1), "{name}");
        for other in not_listeners {
            assert_eq!(listed(other), 0, "{name}: {other}");
        }
    }
}

#[test]
fn errnos_are_named() {
    let denied = std::io::Error::from_raw_os_error(1);
    assert_eq!(errno_text(&denied), "EPERM: Operation not permitted");
    let text = format!("loading the program: map `.bss`: {denied}");
    assert_eq!(
        with_errno_names(&text),
        "loading the program: map `.bss`: EPERM: Operation not permitted"
    );
    let missing = std::io::Error::from_raw_os_error(2);
    let two = format!("{missing}; again {denied}");
    assert_eq!(
        with_errno_names(&two),
        "ENOENT: No such file or directory; again EPERM: Operation not permitted"
    );
    // Not after its description: the name alone; not an errno: left as it is.
    assert_eq!(
        with_errno_names("refused (os error 13)"),
        "refused (EACCES)"
    );
    assert_eq!(
        with_errno_names("(os error x) (os error 1"),
        "(os error x) (os error 1"
    );
    let e = BpfError::KernelBtf(format!("/sys/kernel/btf/vmlinux: {missing}"));
    assert_eq!(
        explain(&e),
        "reading the kernel's BTF: /sys/kernel/btf/vmlinux: ENOENT: No such file or directory"
    );
}

#[test]
fn the_attach_targets_are_found_in_the_raw_kernel_btf() {
    let Ok(raw) = std::fs::read(KERNEL_BTF) else {
        eprintln!("SKIPPED: no {KERNEL_BTF}");
        return;
    };
    let parsed = Btf::parse(&raw, aya::Endianness::default()).expect("kernel BTF parses");
    let kind = aya_obj::btf::BtfKind::Func;
    let want = parsed
        .id_by_type_name_kind("bpf_iter_task_file", kind)
        .expect("the kernel has the task_file iterator");
    assert_eq!(func_id(&raw, PROGRAM.attach_func().as_bytes()), Some(want));
    let ids: HashMap<&'static str, u32> = ITERATORS
        .into_iter()
        .filter_map(|iter| Some((iter, func_id(&raw, format!("bpf_iter_{iter}").as_bytes())?)))
        .collect();
    let target = attach_targets(&ids);
    assert_eq!(
        target.id_by_type_name_kind("bpf_iter_task_file", kind).ok(),
        Some(want)
    );
    for program in [MAPPINGS, IN_FLIGHT, KERNEL_TCP, KERNEL_UDP] {
        let func = program.attach_func();
        let id = parsed.id_by_type_name_kind(&func, kind).ok();
        assert_eq!(func_id(&raw, func.as_bytes()), id, "{func}");
        // The one target of the run finds each program's function at the kernel's id.
        assert_eq!(target.id_by_type_name_kind(&func, kind).ok(), id, "{func}");
    }
    assert_eq!(func_id(&raw, b"no_such_function_here"), None);
    let task_file = PROGRAM.attach_func();
    assert_eq!(
        func_id(&raw[..100], task_file.as_bytes()),
        None,
        "truncated"
    );
    assert_eq!(func_id(b"garbage", task_file.as_bytes()), None);
}

/// A process that maps a TCP socket into memory: the mappings program names it (no
/// `/proc/PID/maps` is read here).
#[test]
fn the_mappings_iterator_finds_a_socket_held_only_through_a_mapping() {
    if !root_with_btf() {
        return;
    }
    let script = "import mmap, os, socket, sys\n\
        s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1)\n\
        m = mmap.mmap(s.fileno(), 4096, mmap.MAP_SHARED, mmap.PROT_READ)\n\
        inode = os.fstat(s.fileno()).st_ino; s.close()\n\
        print(os.getpid(), inode, flush=True); sys.stdin.read()\n";
    let Ok(mut child) = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
    else {
        eprintln!("SKIPPED: no python3");
        return;
    };
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
    let words: Vec<u32> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let mut loaded = match socket_owners(&mut |_, _, _| {}) {
        Ok((_, loaded)) => loaded,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the iterator loads as root with BTF: {}", explain(&e));
        }
    };
    let wanted = words.iter().skip(1).copied().collect();
    let mapped = loaded.mappings_within(&wanted, std::time::Duration::from_secs(30));
    let _ = child.kill();
    let _ = child.wait();
    let [pid, inode] = words[..] else {
        panic!("the helper could not map a socket here: {line:?}");
    };
    let mapped = mapped.expect("the kernel has the task_vma iterator (Linux 5.12+)");
    assert_eq!(mapped.sockets.get(&inode), Some(&vec![pid]), "{mapped:?}");
}

#[test]
fn the_owner_lookup_reads_its_pass_alone() {
    // The details' workers the lookup starts while it reads leave its CPU (collect/spread.rs):
    // each owner is told while the pass is read alone.
    if !root_with_btf() {
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let inode = {
        use std::os::fd::AsRawFd;
        let link = std::fs::read_link(format!("/proc/self/fd/{}", listener.as_raw_fd()));
        let link = link.expect("link").to_string_lossy().into_owned();
        let digits = link.trim_start_matches("socket:[").trim_end_matches(']');
        digits.parse::<u32>().expect("inode")
    };
    let mut told = Vec::new();
    let found = socket_owners(&mut |pid, inode, _| {
        told.push((pid, inode, super::super::spread::maker().is_some()));
    });
    if let Err(e) = found {
        panic!("the iterator loads as root with BTF: {}", explain(&e));
    }
    let mine = told
        .iter()
        .find(|&&(pid, i, _)| pid == std::process::id() && i == inode);
    assert!(
        matches!(mine, Some((_, _, true))),
        "{mine:?} among {}",
        told.len()
    );
    assert!(told.iter().all(|&(_, _, alone)| alone));
    assert_eq!(super::super::spread::maker(), None, "not after it");
}
