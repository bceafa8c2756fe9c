//! The kernel's BTF (`/sys/kernel/btf/vmlinux`, 5.5 MB on a current kernel) as bytes, mapped
//! where the kernel allows it. sysfs hands that file out at most one page per `read` (1,349
//! calls here), each copied into fresh memory that is then faulted in page by page: about 6 %
//! of the CPU time of a full listing at 10,000 listeners (docs/benchmarks.md, "2026-12-01:
//! release-build ratios at large scale, and the kernel's BTF mapped"). Since Linux 6.16 the file
//! can be mapped read-only instead: the kernel maps its own BTF section, which no one can
//! write and which lives as long as the kernel, and nothing is copied. Where the mapping is
//! refused (older kernels, another filesystem at that path) the file is read as before.
//!
//! Whatever stands at that path is checked before it is used: only a regular file on sysfs
//! (a file bind-mounted there, `/dev/zero`, a FIFO, is refused, never read: whoport does not
//! take relocations from a file anyone but the kernel wrote), at most [`LIMIT`] bytes, opened
//! without blocking, and looked at on a thread of its own for at most [`BUDGET`] (a filesystem
//! mounted there that stopped answering costs that, once, then the `/proc` walk answers).
//!
//! One of whoport's three `unsafe` blocks (the others: src/collect/kcmp.rs, src/allocator.rs):
//! neither rustix (without a feature of its own for it) nor std maps a file; `libc::mmap` is
//! called once, read-only and private, on a file checked to be sysfs's, and unmapped in `Drop`.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::OnceLock;
use std::time::Duration;

use super::deadline::Deadline;

/// Where the kernel shows its BTF.
pub const PATH: &str = "/sys/kernel/btf/vmlinux";

/// sysfs's magic number (include/uapi/linux/magic.h).
const SYSFS_MAGIC: i64 = 0x6265_6572;

/// The most whoport reads of it: the kernel's is 5–6 MB (more with debugging options).
const LIMIT: u64 = 64 * 1024 * 1024;

/// Why a file at [`PATH`] on a filesystem that may never answer is not used.
const MAY_NOT_ANSWER: &str = "it is not on sysfs but on a filesystem that may never answer (a \
     FUSE or network filesystem mounted over it), which is not asked";

/// How long the file may take to answer: sysfs answers in milliseconds.
pub const BUDGET: Duration = Duration::from_secs(1);

/// Whether the kernel's BTF is there, asked once per run within [`BUDGET`]: why not
/// otherwise (the errno's name, or that it did not answer in time).
pub fn present() -> Result<(), String> {
    static PRESENT: OnceLock<Result<(), String>> = OnceLock::new();
    PRESENT
        .get_or_init(|| {
            // A filesystem that may never answer mounted there (a FUSE file) is not asked at
            // all: a request its daemon reads and never answers holds the asking thread in the
            // kernel, and whoport would never end.
            let dir = std::path::Path::new(PATH)
                .parent()
                .unwrap_or(std::path::Path::new("/"));
            if crate::far_file::may_never_answer(dir)
                || crate::far_file::may_never_answer(std::path::Path::new(PATH))
            {
                return Err(MAY_NOT_ANSWER.to_string());
            }
            bounded(|| std::fs::metadata(PATH))
                .map(drop)
                .map_err(|e| super::bpf::errno_text(&e))
        })
        .clone()
}

/// `work` on a thread of its own, for at most [`BUDGET`].
fn bounded<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    Deadline::after(BUDGET).run(work).unwrap_or_else(|| {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "it did not answer within {} s (the filesystem mounted there may have stopped \
                 answering)",
                BUDGET.as_secs()
            ),
        ))
    })
}

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
    /// The file at `path`, if it is a regular file on sysfs: mapped where the kernel maps it,
    /// read otherwise; within [`BUDGET`].
    pub fn open(path: &str) -> io::Result<BtfFile> {
        if crate::far_file::may_never_answer(std::path::Path::new(path)) {
            return Err(io::Error::other(MAY_NOT_ANSWER));
        }
        let path = path.to_owned();
        bounded(move || BtfFile::open_now(&path))
    }

    fn open_now(path: &str) -> io::Result<BtfFile> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)?;
        if !file.metadata()?.file_type().is_file() {
            return Err(io::Error::other("it is not a regular file"));
        }
        let on = rustix::fs::fstatfs(&file)?;
        // `f_type`'s type differs between architectures (i64 on x86_64).
        #[allow(clippy::useless_conversion)]
        if i64::from(on.f_type) != SYSFS_MAGIC {
            return Err(io::Error::other(
                "it is not on sysfs, so not the kernel's own BTF (a file mounted over it)",
            ));
        }
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

fn read(file: std::fs::File) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    file.take(LIMIT + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > LIMIT {
        return Err(io::Error::other(format!(
            "it is larger than {LIMIT} bytes, more than any kernel's BTF"
        )));
    }
    Ok(bytes)
}

/// `file`, a sysfs file (checked by the caller: its content is the kernel's and cannot shrink
/// under the mapping, which would make a read of the mapping fault), mapped read-only if the
/// kernel reports its size and maps it.
fn mapped(file: &std::fs::File) -> Option<BtfFile> {
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

    fn refusal(path: &str) -> String {
        match BtfFile::open(path) {
            Ok(_) => panic!("{path} was used as the kernel's BTF"),
            Err(e) => e.to_string(),
        }
    }

    /// A regular file that is not sysfs's is refused, never read.
    #[test]
    fn a_file_not_on_sysfs_is_refused() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("btf");
        std::fs::write(&path, b"not BTF, and not sysfs").expect("written");
        let said = refusal(path.to_str().expect("UTF-8 path"));
        assert!(said.contains("not on sysfs"), "{said}");
    }

    /// A device that never ends and a FIFO no one writes to are refused at once: not read to
    /// the end of memory, not waited for.
    #[test]
    fn an_endless_device_or_a_fifo_is_refused_at_once() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .expect("FIFO made");
        for path in ["/dev/zero", fifo.to_str().expect("UTF-8 path")] {
            // Refused for what it is, not after the time allowed ran out.
            let said = refusal(path);
            assert!(said.contains("not a regular file"), "{path}: {said}");
        }
    }
}
