//! The kernel's BTF (`/sys/kernel/btf/vmlinux`, 5.5 MB on a current kernel) as bytes, mapped
//! where the kernel allows it. sysfs hands that file out at most one page per `read` (1,349
//! calls here), each copied into fresh memory that is then faulted in page by page: about 6 %
//! of the CPU time of a full listing at 10,000 listeners (docs/benchmarks.md, "2026-12-01:
//! release-build ratios at large scale, and the kernel's BTF mapped"). Since Linux 6.16 the file
//! can be mapped read-only instead: the kernel maps its own BTF section, which no one can
//! write and which lives as long as the kernel, and nothing is copied. Where the mapping is
//! refused (older kernels, another filesystem at that path) the file is read as before.
//!
//! One of whoport's three `unsafe` blocks (the others: src/collect/kcmp.rs, src/allocator.rs):
//! neither rustix (without a feature of its own for it) nor std maps a file; `libc::mmap` is
//! called once, read-only and private, on a file checked to be sysfs's, and unmapped in `Drop`.
#![allow(unsafe_code)]

use std::os::fd::AsRawFd;

/// sysfs's magic number (include/uapi/linux/magic.h).
const SYSFS_MAGIC: i64 = 0x6265_6572;

/// The kernel's BTF, mapped or read.
pub enum BtfFile {
    /// Mapped read-only (Linux 6.16+): `len` bytes at `at`, unmapped on drop.
    Mapped {
        at: std::ptr::NonNull<u8>,
        len: usize,
    },
    /// Read into memory.
    Read(Vec<u8>),
}

// SAFETY: the mapping is read-only memory owned by this value alone; sharing its address
// between threads is as sound as sharing a `&[u8]`.
unsafe impl Send for BtfFile {}
// SAFETY: as above: nothing writes the mapped memory.
unsafe impl Sync for BtfFile {}

impl BtfFile {
    /// The file at `path` mapped if it is sysfs's and the kernel maps it, read otherwise.
    pub fn open(path: &str) -> std::io::Result<BtfFile> {
        let file = std::fs::File::open(path)?;
        Ok(match mapped(&file) {
            Some(btf) => btf,
            None => BtfFile::Read(read(file)?),
        })
    }

    /// Whether the file was mapped.
    #[cfg(test)]
    pub fn is_mapped(&self) -> bool {
        matches!(self, BtfFile::Mapped { .. })
    }
}

fn read(mut file: std::fs::File) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// `file` mapped read-only, if it is a sysfs file of a size the kernel reports and the
/// kernel maps it.
fn mapped(file: &std::fs::File) -> Option<BtfFile> {
    let on = rustix::fs::fstatfs(file).ok()?;
    // Only sysfs's file: its content is the kernel's and cannot shrink under the mapping (a
    // file that could would make a read of the mapping fault).
    // `f_type`'s type differs between architectures (i64 on x86_64).
    #[allow(clippy::useless_conversion)]
    if i64::from(on.f_type) != SYSFS_MAGIC {
        return None;
    }
    let len = usize::try_from(file.metadata().ok()?.len()).ok()?;
    if len == 0 {
        return None;
    }
    // SAFETY: a new private read-only mapping of `len` bytes of `file` at an address the
    // kernel chooses: no memory of this process is touched. The kernel maps its own BTF
    // section (remap of kernel pages, read-only, never written, as long as the kernel runs),
    // and refuses (MAP_FAILED) anything it cannot map whole.
    let at = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            file.as_raw_fd(),
            0,
        )
    };
    if at == libc::MAP_FAILED {
        return None;
    }
    let at = std::ptr::NonNull::new(at.cast::<u8>())?;
    Some(BtfFile::Mapped { at, len })
}

impl std::ops::Deref for BtfFile {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            // SAFETY: `len` readable bytes at `at` (mapped above, unmapped only in drop, which
            // the borrow outlives not); the memory is never written while mapped.
            BtfFile::Mapped { at, len } => unsafe { std::slice::from_raw_parts(at.as_ptr(), *len) },
            BtfFile::Read(bytes) => bytes,
        }
    }
}

impl Drop for BtfFile {
    fn drop(&mut self) {
        if let BtfFile::Mapped { at, len } = self {
            // SAFETY: the mapping made in `mapped`, of `len` bytes; no borrow of it outlives
            // `self`.
            let _ = unsafe { libc::munmap(at.as_ptr().cast(), *len) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";

    /// Mapped or read, the same bytes as a plain read of the file.
    #[test]
    fn the_kernel_btf_mapped_is_the_file() {
        let Ok(read) = std::fs::read(KERNEL_BTF) else {
            eprintln!("SKIPPED: no {KERNEL_BTF}");
            return;
        };
        let btf = BtfFile::open(KERNEL_BTF).expect("opened");
        assert_eq!(&*btf, &read[..], "mapped: {}", btf.is_mapped());
        // Linux 6.16 and later map it.
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut version = release.split(|c: char| !c.is_ascii_digit());
        let major: u32 = version.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        let minor: u32 = version.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        if (major, minor) >= (6, 16) {
            assert!(btf.is_mapped(), "Linux {} maps its BTF", release.trim());
        }
    }

    /// A file that is not sysfs's is read, not mapped.
    #[test]
    fn another_file_is_read() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("btf");
        std::fs::write(&path, b"not BTF, and not sysfs").expect("written");
        let btf = BtfFile::open(path.to_str().expect("UTF-8 path")).expect("opened");
        assert!(!btf.is_mapped());
        assert_eq!(&*btf, b"not BTF, and not sysfs");
    }
}
