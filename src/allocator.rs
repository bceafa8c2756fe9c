//! How the C library's allocator hands memory back (glibc only).
//!
//! glibc serves a block above its mmap threshold (128 KiB) with a mapping of its own, given
//! back to the kernel when it is freed; but the first such block freed raises the threshold to
//! its size (up to 32 MiB), and the trim threshold to twice that. whoport makes a few blocks of
//! several MB each on its way (the kernel's BTF, 5.5 MB, the attach target of its BPF programs,
//! the iterators' output) on several threads: after the first one is freed the others come
//! from the heap of the thread that made them and stay there when freed, each thread's heap
//! keeping its own. Measured at 10,000 listeners with a socket no process holds (so that the
//! second look runs): peak RSS 22.6 MiB with the threshold moving, 13.9 MiB with it fixed
//! (docs/benchmarks.md, "Peak memory: the allocator keeps its threshold").
//!
//! One of whoport's three `unsafe` blocks (the others: src/collect/kcmp.rs,
//! src/collect/btf_file.rs): neither rustix nor nix wraps `mallopt`; the call takes two integers, passes no pointer and is made once, before
//! any other thread exists.
#![allow(unsafe_code)]

/// Fixes glibc's mmap threshold at its default (128 KiB), which also keeps the trim
/// threshold at its default: large blocks are always given back when freed. Call it first
/// thing in `main`, before any thread is started. Does nothing with other C libraries.
pub fn give_large_blocks_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt(M_MMAP_THRESHOLD, value) takes integers only and changes a setting
        // of the allocator; glibc takes its lock for it. Made before any other thread runs.
        let _ = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024) };
    }
}
