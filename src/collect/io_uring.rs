//! Sockets held inside io_uring instances where `/proc` cannot show them: requests in flight
//! (a pending accept, recv or poll holds its socket, and the ring's fdinfo counts such
//! requests in `PollList:` without naming their files), and rings registered with
//! `IORING_REGISTER_RING_FDS` whose own descriptor is closed (no fdinfo to read). A BPF
//! program (bpf/io_uring.bpf.c, embedded compiled) walks them in the kernel. Loaded only for
//! sockets still ownerless after every other look, only where BPF may be used, and by the
//! owner lookup's loader when that lookup ran in the kernel (collect/bpf.rs).

use std::collections::{HashMap, HashSet};

use super::bpf::{self, Loaded, Program};

/// The program over descriptor tables (requests of the rings there), the one that finds the
/// tasks with registered rings, and the one that walks those rings.
const REQUESTS: Program = Program {
    name: "whoport_ring_requests",
    iter: "task_file",
};
const REGISTERED_TASKS: Program = Program {
    name: "whoport_registered_tasks",
    iter: "task",
};
const REGISTERED: Program = Program {
    name: "whoport_registered_rings",
    iter: "task",
};
const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";

const RECORD_LEN: usize = 16;
const REQUEST: u32 = 1;
const REGISTERED_FILE: u32 = 2;
const TRUNCATED: u32 = 3;
const NESTED: u32 = 4;
const HAS_REGISTERED: u32 = 5;

/// What the programs found: inode -> PIDs, for sockets held by a request in flight, and for
/// sockets registered in a ring that only a registered ring table reaches; the PIDs whose
/// rings were not walked to the end (the programs' bounds), and those with a request in
/// flight on another io_uring instance (not walked).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Held {
    pub requests: HashMap<u32, Vec<u32>>,
    pub registered: HashMap<u32, Vec<u32>>,
    pub truncated: Vec<u32>,
    pub nested: Vec<u32>,
}

/// Looks into every io_uring instance for the `wanted` sockets: the requests in flight of the
/// rings in descriptor tables when `rings_seen` (the walk or the iterator passed some), and
/// the rings of registered ring tables. `loaded`: the objects the owner lookup loaded, if it
/// did (else they are loaded here). `Err` when the programs could not run here, with why.
pub fn look(
    wanted: &HashSet<u32>,
    rings_seen: bool,
    loaded: Option<&mut Loaded>,
) -> Result<Held, String> {
    let no_bpf = std::env::var("WHOPORT_NO_BPF").unwrap_or_default();
    if !no_bpf.is_empty() && no_bpf != "0" {
        return Err("WHOPORT_NO_BPF is set".to_string());
    }
    if !super::owners::may_use_bpf() {
        return Err(
            "looking into io_uring requests needs CAP_SYS_ADMIN, or CAP_BPF with CAP_PERFMON \
             (run as root)"
                .to_string(),
        );
    }
    if !std::path::Path::new(KERNEL_BTF).exists() {
        return Err(format!(
            "the kernel has no BTF ({KERNEL_BTF}) to look into io_uring requests"
        ));
    }
    let bytes = match loaded {
        Some(loaded) => run(loaded, rings_seen),
        None => Loaded::open().and_then(|mut loaded| run(&mut loaded, rings_seen)),
    }
    .map_err(|e| bpf::explain(&e))?;
    parse(&bytes, wanted)
        .ok_or_else(|| format!("malformed iterator output ({} bytes)", bytes.len()))
}

/// Verifies, attaches and reads the programs that have work, once each.
fn run(loaded: &mut Loaded, rings_seen: bool) -> Result<Vec<u8>, bpf::BpfError> {
    let mut bytes = Vec::new();
    if rings_seen {
        bytes.extend(loaded.io_uring(REQUESTS)?);
    }
    let tasks = loaded.io_uring(REGISTERED_TASKS)?;
    if !tasks.is_empty() {
        bytes.extend(loaded.io_uring(REGISTERED)?);
    }
    Ok(bytes)
}

/// The programs' records `{ u32 tgid; u32 kind; u64 value; }`, for the `wanted` sockets.
pub fn parse(bytes: &[u8], wanted: &HashSet<u32>) -> Option<Held> {
    if bytes.len() % RECORD_LEN != 0 {
        return None;
    }
    let mut held = Held::default();
    for record in bytes.chunks_exact(RECORD_LEN) {
        let u32_at = |at: usize| {
            u32::from_ne_bytes([record[at], record[at + 1], record[at + 2], record[at + 3]])
        };
        let (tgid, kind) = (u32_at(0), u32_at(4));
        let mut value = [0u8; 8];
        value.copy_from_slice(&record[8..]);
        let inode = u32::try_from(u64::from_ne_bytes(value)).ok();
        let map = match kind {
            REQUEST => &mut held.requests,
            REGISTERED_FILE => &mut held.registered,
            HAS_REGISTERED => continue,
            TRUNCATED | NESTED => {
                let pids = if kind == TRUNCATED {
                    &mut held.truncated
                } else {
                    &mut held.nested
                };
                if !pids.contains(&tgid) {
                    pids.push(tgid);
                }
                continue;
            }
            _ => continue,
        };
        if let Some(inode) = inode.filter(|i| wanted.contains(i)) {
            let pids = map.entry(inode).or_default();
            if !pids.contains(&tgid) {
                pids.push(tgid);
            }
        }
    }
    for pids in held
        .requests
        .values_mut()
        .chain(held.registered.values_mut())
    {
        pids.sort_unstable();
    }
    held.truncated.sort_unstable();
    held.nested.sort_unstable();
    Some(held)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(tgid: u32, kind: u32, value: u64) -> Vec<u8> {
        [
            tgid.to_ne_bytes().as_slice(),
            kind.to_ne_bytes().as_slice(),
            value.to_ne_bytes().as_slice(),
        ]
        .concat()
    }

    #[test]
    fn records_name_the_holders_of_wanted_sockets_only() {
        let bytes = [
            record(7, REQUEST, 100),
            record(7, REQUEST, 100),
            record(9, REQUEST, 100),
            record(7, REGISTERED_FILE, 200),
            record(8, REGISTERED_FILE, 300),
            record(8, TRUNCATED, 0),
            record(8, TRUNCATED, 0),
            record(9, NESTED, 0),
            record(5, 99, 100),
            record(6, REQUEST, u64::from(u32::MAX) + 100),
        ]
        .concat();
        let held = parse(&bytes, &HashSet::from([100, 200])).expect("parse");
        assert_eq!(held.requests, HashMap::from([(100, vec![7, 9])]));
        assert_eq!(held.registered, HashMap::from([(200, vec![7])]));
        assert_eq!(held.truncated, vec![8]);
        assert_eq!(held.nested, vec![9]);
        assert_eq!(parse(&bytes[..20], &HashSet::new()), None);
    }
}
