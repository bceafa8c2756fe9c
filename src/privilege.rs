//! How whoport was started: it refuses to run when the kernel marked its execution secure
//! (`AT_SECURE`: setuid, setgid or file capabilities), since it would then read files with
//! privileges its user does not have and quote them in errors.

/// The auxiliary vector entry the kernel sets for a secure execution.
const AT_SECURE: u64 = 23;

/// Did the kernel mark this execution secure? Read from `/proc/self/auxv`; when that cannot
/// be read, whoport errs on the side of refusing: differing real and effective ids, or a
/// process the kernel made non-dumpable (as it does for every secure execution, and which
/// is also why a process that gained capabilities may not open its own auxv).
pub fn secure_execution() -> bool {
    match own_auxv() {
        Some(bytes) => auxv_secure(&bytes).unwrap_or(true),
        None => fallback(),
    }
}

/// whoport's own auxiliary vector; on Linux never read across a mount (a file mounted over
/// `/proc/self/auxv` holds what whoever mounted it wrote).
fn own_auxv() -> Option<Vec<u8>> {
    #[cfg(target_os = "linux")]
    return crate::collect::proc_dir::read_whole("/proc/self/auxv");
    #[cfg(not(target_os = "linux"))]
    return std::fs::read("/proc/self/auxv").ok();
}

/// The value of `AT_SECURE` in an auxiliary vector (pairs of native words), if present.
fn auxv_secure(bytes: &[u8]) -> Option<bool> {
    const WORD: usize = std::mem::size_of::<usize>();
    let word = |chunk: &[u8]| -> u64 {
        let mut buf = [0u8; WORD];
        buf.copy_from_slice(chunk);
        usize::from_ne_bytes(buf) as u64
    };
    bytes
        .chunks_exact(2 * WORD)
        .map(|pair| (word(&pair[..WORD]), word(&pair[WORD..])))
        .take_while(|&(key, _)| key != 0)
        .find(|&(key, _)| key == AT_SECURE)
        .map(|(_, value)| value != 0)
}

fn fallback() -> bool {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{dumpable_behavior, DumpableBehavior};
        if !matches!(dumpable_behavior(), Ok(DumpableBehavior::Dumpable)) {
            return true;
        }
    }
    crate::collect::is_setid()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(pairs: &[(usize, usize)]) -> Vec<u8> {
        pairs
            .iter()
            .flat_map(|&(k, v)| k.to_ne_bytes().into_iter().chain(v.to_ne_bytes()))
            .collect()
    }

    #[test]
    fn reads_at_secure_from_the_vector() {
        assert_eq!(
            auxv_secure(&vector(&[(6, 4096), (23, 1), (0, 0)])),
            Some(true)
        );
        assert_eq!(auxv_secure(&vector(&[(23, 0), (0, 0)])), Some(false));
        assert_eq!(auxv_secure(&vector(&[(6, 4096), (0, 0), (23, 1)])), None);
        assert_eq!(auxv_secure(&[1, 2, 3]), None);
    }

    #[test]
    fn the_test_process_is_not_secure() {
        assert!(!secure_execution());
    }
}
