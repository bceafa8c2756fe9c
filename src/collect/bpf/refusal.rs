//! Which `bpf()` commands the kernel refuses to whoport, each with its errno. aya's feature
//! probes say only that something did not load; a security policy may refuse one command and
//! allow the others (SELinux's separate `bpf { map_create prog_load }` permissions, a BPF LSM,
//! a seccomp filter on one command), and aya then relocates the objects as for a kernel without
//! global data, failing with an error about whoport's own object. So each command the objects
//! need is asked once, with a minimal request, and its answer kept.
//!
//! One of whoport's `unsafe` blocks (see Cargo.toml): aya does not offer a load of BTF that
//! returns the kernel's answer, so `BPF_BTF_LOAD` is called here with a fixed 45-byte blob
//! that outlives the call, and the descriptor it returns is owned at once.
#![allow(unsafe_code)]

use std::os::fd::{FromRawFd, OwnedFd};

use aya::maps::MapType;
use aya::programs::{ProgramError, ProgramType};

use super::{errno_text, with_errno_names};

/// The answers to the commands the objects need: those refused, in words with their errno, and
/// those allowed.
#[derive(Debug, Default)]
pub struct Refusals {
    pub refused: Vec<String>,
    pub allowed: Vec<&'static str>,
}

impl std::fmt::Display for Refusals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let refused = self.refused.join("; ");
        if self.allowed.is_empty() {
            write!(f, "the kernel refuses bpf() to this process ({refused})")
        } else {
            write!(
                f,
                "the kernel refuses to this process {refused} (it allows {})",
                self.allowed.join(" and ")
            )
        }
    }
}

/// Asks the kernel each command the objects need: the load of a minimal BTF blob, the creation
/// of a minimal array map (the objects' global data), the load of a minimal program that needs
/// privilege (a kprobe program: CAP_BPF with CAP_PERFMON, or CAP_SYS_ADMIN).
pub fn ask() -> Refusals {
    let mut answers = Refusals::default();
    let mut answer = |command: &'static str, what: &str, result: Result<(), String>| match result {
        Ok(()) => answers.allowed.push(command),
        Err(why) => answers.refused.push(format!("{command} ({what}): {why}")),
    };
    answer(
        "BPF_BTF_LOAD",
        "a minimal BTF blob",
        load_btf().map_err(|e| errno_text(&e)),
    );
    answer("BPF_MAP_CREATE", "a minimal array map", create_map());
    answer("BPF_PROG_LOAD", "a minimal program", load_program());
    answers
}

fn create_map() -> Result<(), String> {
    match aya::sys::is_map_supported(MapType::Array) {
        Ok(true) => Ok(()),
        Ok(false) => Err(invalid("array maps")),
        Err(e) => Err(errno_text(&e.io_error)),
    }
}

fn load_program() -> Result<(), String> {
    match aya::sys::is_program_supported(ProgramType::KProbe) {
        Ok(true) => Ok(()),
        Ok(false) => Err(invalid("kprobe programs")),
        Err(ProgramError::SyscallError(e)) => Err(errno_text(&e.io_error)),
        Err(e) => Err(with_errno_names(&e.to_string())),
    }
}

/// aya reads EINVAL (and E2BIG) as "not supported": which one is not kept, and a filter on
/// bpf() (seccomp, a security module) answers them as readily as a kernel without `what`.
fn invalid(what: &str) -> String {
    format!("EINVAL or E2BIG (refused as invalid: a filter on bpf(), or a kernel without {what})")
}

/// `BPF_BTF_LOAD` (include/uapi/linux/bpf.h).
const BPF_BTF_LOAD: libc::c_long = 18;

/// The fields of `union bpf_attr` that `BPF_BTF_LOAD` reads (the kernel takes a shorter
/// attribute than its own and zero-fills the rest).
#[repr(C)]
struct BtfLoadAttr {
    btf: u64,
    btf_log_buf: u64,
    btf_size: u32,
    btf_log_size: u32,
    btf_log_level: u32,
}

/// A BTF blob with one type, `int` (4 bytes, signed): the header (24 bytes), the type (16) and
/// its strings ("\0int\0"), little- or big-endian as the machine.
fn minimal_btf() -> [u8; 45] {
    let words: [u32; 10] = [
        0, // magic, version and flags: filled below
        24,
        0,
        16,
        16,
        5,
        1,
        1 << 24,
        4,
        (1 << 24) | 32,
    ];
    let mut blob = [0u8; 45];
    for (i, w) in words.iter().enumerate() {
        blob[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
    }
    blob[..2].copy_from_slice(&0xeb9f_u16.to_ne_bytes());
    blob[2] = 1;
    blob[3] = 0;
    blob[40..45].copy_from_slice(b"\0int\0");
    blob
}

/// Loads [`minimal_btf`] and closes it: the kernel's answer.
fn load_btf() -> std::io::Result<()> {
    let blob = minimal_btf();
    let attr = BtfLoadAttr {
        btf: blob.as_ptr() as u64,
        btf_log_buf: 0,
        btf_size: blob.len() as u32,
        btf_log_size: 0,
        btf_log_level: 0,
    };
    // SAFETY: bpf(BPF_BTF_LOAD, attr, size): the kernel reads `size` bytes of `attr` and
    // `btf_size` bytes at `btf`, both alive and unchanged for the call; with no log buffer it
    // writes nothing of this process's memory.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_BTF_LOAD,
            &attr as *const BtfLoadAttr,
            std::mem::size_of::<BtfLoadAttr>(),
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(|_| std::io::Error::other("descriptor out of range"))?;
    // SAFETY: a descriptor the kernel just returned to this thread, owned by nothing else.
    drop(unsafe { OwnedFd::from_raw_fd(fd) });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_minimal_btf_blob_is_well_formed() {
        let blob = minimal_btf();
        let raw = crate::collect::btf::Raw::parse(&blob).expect("parses");
        drop(raw);
    }

    #[test]
    fn refusals_say_what_is_refused_and_what_is_allowed() {
        let one = Refusals {
            refused: vec![
                "BPF_PROG_LOAD (a minimal program): EPERM: Operation not permitted".into(),
            ],
            allowed: vec!["BPF_BTF_LOAD", "BPF_MAP_CREATE"],
        };
        assert_eq!(
            one.to_string(),
            "the kernel refuses to this process BPF_PROG_LOAD (a minimal program): EPERM: \
             Operation not permitted (it allows BPF_BTF_LOAD and BPF_MAP_CREATE)"
        );
        let all = Refusals {
            refused: vec!["A: x".into(), "B: y".into()],
            allowed: Vec::new(),
        };
        assert_eq!(
            all.to_string(),
            "the kernel refuses bpf() to this process (A: x; B: y)"
        );
    }
}
