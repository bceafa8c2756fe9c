//! Descriptors in transit: a BPF `unix` iterator (bpf/in_flight.bpf.c, embedded compiled)
//! walks every unix socket's receive queue of this network namespace and reports the socket
//! files carried in messages not yet received (`SCM_RIGHTS`), with the unix socket each waits
//! in. Run only for sockets still ownerless after every other look, and only where the
//! iterator may load (CAP_SYS_ADMIN or CAP_BPF with CAP_PERFMON, kernel BTF).

use std::collections::{HashMap, HashSet};

use aya::programs::Iter;
use aya::{Btf, EbpfLoader};
use aya_obj::btf::{BtfType, Func, FuncLinkage};

use super::bpf::{self, BpfError};
use crate::model::Hidden;

/// The compiled program (rebuilt by bpf/build.sh; tests/in_transit.rs checks it matches its
/// source).
static OBJECT: &[u8] = aya::include_bytes_aligned!("../../bpf/in_flight.bpf.o");
const PROGRAM: &str = "whoport_in_flight";
const ITER_TYPE: &str = "unix";
const ATTACH_FUNC: &str = "bpf_iter_unix";
const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";

const RECORD_LEN: usize = 16;

/// Where the `wanted` sockets are in transit: carried inode -> inodes of the unix sockets
/// whose receive queues hold it (0: a unix socket with no file yet, such as a connection not
/// accepted). `Err` when the iterator could not run here, with what the kernel said.
pub fn carried(wanted: &HashSet<u32>) -> Result<HashMap<u32, Vec<u64>>, String> {
    let no_bpf = std::env::var("WHOPORT_NO_BPF").unwrap_or_default();
    if !no_bpf.is_empty() && no_bpf != "0" {
        return Err("WHOPORT_NO_BPF is set".to_string());
    }
    if !super::owners::may_use_bpf() {
        return Err(
            "looking into unix socket queues needs CAP_SYS_ADMIN, or CAP_BPF with \
                    CAP_PERFMON (run as root)"
                .to_string(),
        );
    }
    if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
        return Err(
            "the kernel has no BTF (/sys/kernel/btf/vmlinux) to look into unix socket \
                    queues"
                .to_string(),
        );
    }
    let bytes = run().map_err(|e| bpf::explain(&e))?;
    parse(&bytes, wanted)
        .ok_or_else(|| format!("malformed iterator output ({} bytes)", bytes.len()))
}

/// Loads, verifies, attaches and reads the iterator once; every descriptor is closed on
/// return.
fn run() -> Result<Vec<u8>, BpfError> {
    // As for the owner lookup: a kernel that loads no BTF blob for us refuses bpf().
    if aya::features().btf().is_none() {
        return Err(BpfError::Refused);
    }
    let mut ebpf = EbpfLoader::new().load(OBJECT)?;
    let program: &mut Iter = ebpf
        .program_mut(PROGRAM)
        .ok_or(BpfError::Missing)?
        .try_into()?;
    let id =
        bpf::func_id(&std::fs::read(KERNEL_BTF)?, ATTACH_FUNC.as_bytes()).ok_or_else(|| {
            BpfError::Read(std::io::Error::other(
                "the kernel's BTF has no function 'bpf_iter_unix' (older than Linux 5.17)",
            ))
        })?;
    // What `Iter::load` looks up: a FUNC of that name with the kernel's type id.
    let mut target = Btf::new();
    let name = target.add_string(ATTACH_FUNC);
    for _ in 1..id {
        target.add_type(BtfType::Unknown);
    }
    target.add_type(BtfType::Func(Func::new(name, 0, FuncLinkage::Static)));
    program.load(ITER_TYPE, &target)?;
    drop(target);
    bpf::read_program(&mut ebpf, PROGRAM)
}

/// The iterator's records `{ u64 receiver; u64 carried; }`, kept for the `wanted` inodes.
pub fn parse(bytes: &[u8], wanted: &HashSet<u32>) -> Option<HashMap<u32, Vec<u64>>> {
    if bytes.len() % RECORD_LEN != 0 {
        return None;
    }
    let mut found: HashMap<u32, Vec<u64>> = HashMap::new();
    for record in bytes.chunks_exact(RECORD_LEN) {
        let mut receiver = [0u8; 8];
        let mut carried = [0u8; 8];
        receiver.copy_from_slice(&record[..8]);
        carried.copy_from_slice(&record[8..]);
        let Ok(carried) = u32::try_from(u64::from_ne_bytes(carried)) else {
            continue;
        };
        if wanted.contains(&carried) {
            let receivers = found.entry(carried).or_default();
            let receiver = u64::from_ne_bytes(receiver);
            if !receivers.contains(&receiver) {
                receivers.push(receiver);
            }
        }
    }
    Some(found)
}

/// The `waiting` sockets (ownerless, still there) found in unix socket receive queues, each
/// with its reason naming who it waits for. Empty when the queues cannot be looked into: then
/// the reasons say what remains possible.
pub fn reasons(
    waiting: &HashSet<u32>,
    (unreadable, unreadable_pids): (usize, &[u32]),
) -> HashMap<u32, Hidden> {
    let mut reasons = HashMap::new();
    if waiting.is_empty() {
        return reasons;
    }
    let Ok(carried) = carried(waiting) else {
        return reasons;
    };
    let queues: HashSet<u32> = carried
        .values()
        .flatten()
        .filter_map(|&q| u32::try_from(q).ok())
        .filter(|&q| q != 0)
        .collect();
    let holders = if queues.is_empty() {
        HashMap::new()
    } else {
        super::linux::walk_fds(Some(&queues))
            .map(|w| w.pids)
            .unwrap_or_default()
    };
    for (inode, queues) in carried {
        let mut pids: Vec<u32> = queues
            .iter()
            .filter_map(|&q| u32::try_from(q).ok())
            .filter_map(|q| holders.get(&q))
            .flatten()
            .copied()
            .collect();
        pids.sort_unstable();
        pids.dedup();
        let receivers = pids
            .into_iter()
            .map(|pid| {
                let name =
                    super::linux::comm(pid).map(|c| String::from_utf8_lossy(&c).into_owned());
                (pid, name.unwrap_or_else(|| "exited".to_string()))
            })
            .collect();
        reasons.insert(
            inode,
            Hidden::InTransit {
                receivers,
                unreadable,
                unreadable_pids: unreadable_pids.to_vec(),
            },
        );
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(receiver: u64, carried: u64) -> Vec<u8> {
        [receiver.to_ne_bytes(), carried.to_ne_bytes()].concat()
    }

    #[test]
    fn records_name_the_queue_each_wanted_socket_waits_in() {
        let bytes = [
            record(500, 100),
            record(500, 100),
            record(501, 100),
            record(0, 200),
            record(502, 300),
            record(503, u64::from(u32::MAX) + 100),
        ]
        .concat();
        let wanted = HashSet::from([100, 200, 400]);
        let found = parse(&bytes, &wanted).expect("parse");
        assert_eq!(found.get(&100), Some(&vec![500, 501]));
        assert_eq!(found.get(&200), Some(&vec![0]));
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(parse(&bytes[..20], &wanted), None);
    }
}
