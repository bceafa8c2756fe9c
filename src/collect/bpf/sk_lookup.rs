//! Which `sk_lookup` BPF programs are attached to whoport's network namespace (Linux 5.9+).
//! Such a program runs on every connection and datagram arriving at the namespace, before
//! the kernel looks for a socket bound to the destination: it may hand it to any socket of
//! the namespace, whatever that socket's bind address and port (Cloudflare's tubular, some
//! proxies). Where one is attached, the scope of a socket's bind address is not who reaches
//! it.
//!
//! Three requests, each answered at once by the kernel (no wait, nothing loaded):
//! `SIOCGSKNS` on an unbound socket of whoport's own gives the namespace the kernel puts
//! whoport's sockets in (no `/proc` path, which a mount may cover); `BPF_PROG_QUERY` on it for
//! the attach type `BPF_SK_LOOKUP` gives the programs attached (at most [`MAX`] ids are
//! kept, the count is the kernel's); `BPF_PROG_GET_FD_BY_ID` and `BPF_OBJ_GET_INFO_BY_FD`
//! give each kept program's name. The first two need CAP_NET_ADMIN (or CAP_SYS_ADMIN), the
//! names CAP_SYS_ADMIN.
//!
//! One of whoport's `unsafe` blocks (see Cargo.toml): aya offers no query of a network
//! namespace's programs, and its link listing does not give a link's namespace. Each call
//! passes a buffer that outlives it, of the size it says; each descriptor returned is owned at
//! once.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// At most this many program ids are asked for.
pub const MAX: usize = 16;

/// `SIOCGSKNS` (linux/sockios.h): a descriptor of the socket's network namespace.
const SIOCGSKNS: libc::c_ulong = 0x894C;
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
/// `BPF_SK_LOOKUP` in `enum bpf_attach_type`.
const BPF_SK_LOOKUP: u32 = 36;

/// The programs attached: the kernel's count, and the first [`MAX`] ids.
#[derive(Debug, Default)]
pub struct Attached {
    pub count: u32,
    pub ids: Vec<u32>,
}

/// The sk_lookup programs attached to whoport's network namespace, or the kernel's refusal
/// (EPERM without the capabilities; EINVAL on a kernel without sk_lookup).
pub fn attached() -> io::Result<Attached> {
    let netns = own_netns()?;
    let mut ids = [0u32; MAX];
    // struct { u32 target_fd, attach_type, query_flags, attach_flags; u64 prog_ids;
    //          u32 prog_cnt; u32 pad; } of union bpf_attr.
    let mut attr = [0u8; 32];
    attr[0..4].copy_from_slice(
        &u32::try_from(netns.as_raw_fd())
            .unwrap_or(u32::MAX)
            .to_ne_bytes(),
    );
    attr[4..8].copy_from_slice(&BPF_SK_LOOKUP.to_ne_bytes());
    attr[16..24].copy_from_slice(&(ids.as_mut_ptr() as u64).to_ne_bytes());
    attr[24..28].copy_from_slice(&(MAX as u32).to_ne_bytes());
    let answer = bpf(BPF_PROG_QUERY, &mut attr);
    let count = u32::from_ne_bytes([attr[24], attr[25], attr[26], attr[27]]);
    match answer {
        Ok(_) => {}
        // More than MAX: the first MAX are written, the count is the kernel's.
        Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {}
        Err(e) => return Err(e),
    }
    let kept = (count as usize).min(MAX);
    Ok(Attached {
        count,
        ids: ids[..kept].to_vec(),
    })
}

/// The name the program was loaded with (`bpf_prog_info.name`), or the kernel's refusal.
pub fn name(id: u32) -> io::Result<String> {
    let mut attr = [0u8; 16];
    attr[0..4].copy_from_slice(&id.to_ne_bytes());
    let fd = bpf(BPF_PROG_GET_FD_BY_ID, &mut attr)?;
    // SAFETY: BPF_PROG_GET_FD_BY_ID returned a new descriptor, owned by nothing else.
    let prog = unsafe { OwnedFd::from_raw_fd(fd) };
    // struct bpf_prog_info up to its name: u32 type, id; u8 tag[8]; u32 jited_prog_len,
    // xlated_prog_len; u64 jited_prog_insns, xlated_prog_insns, load_time; u32 created_by_uid,
    // nr_map_ids; u64 map_ids; char name[16] (bytes 64..80). Every pointer left 0: nothing
    // else is written.
    let mut info = [0u8; 80];
    let mut attr = [0u8; 16];
    attr[0..4].copy_from_slice(
        &u32::try_from(prog.as_raw_fd())
            .unwrap_or(u32::MAX)
            .to_ne_bytes(),
    );
    attr[4..8].copy_from_slice(&(info.len() as u32).to_ne_bytes());
    attr[8..16].copy_from_slice(&(info.as_mut_ptr() as u64).to_ne_bytes());
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    let name = &info[64..80];
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    Ok(String::from_utf8_lossy(&name[..end]).into_owned())
}

/// The text of whoport's own `/proc/self/ns/net` link (`net:[INODE]`), asked of the kernel
/// without `/proc`: for where something is mounted over that link.
pub fn own_netns_link() -> Option<Vec<u8>> {
    let inode = rustix::fs::fstat(own_netns().ok()?).ok()?.st_ino;
    Some(format!("net:[{inode}]").into_bytes())
}

/// A descriptor of the network namespace of whoport's sockets.
fn own_netns() -> io::Result<OwnedFd> {
    let socket = rustix::net::socket(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::DGRAM,
        None,
    )?;
    // SAFETY: SIOCGSKNS takes no argument and returns a new descriptor, owned at once.
    let fd = unsafe { libc::ioctl(socket.as_raw_fd(), SIOCGSKNS as _) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor, owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// One `bpf()` call with `attr` (whose pointers, if any, point to buffers of the caller that
/// outlive the call): the kernel's answer (a descriptor for the commands that return one).
fn bpf(cmd: libc::c_long, attr: &mut [u8]) -> io::Result<libc::c_int> {
    // SAFETY: attr is a live buffer of attr.len() bytes; the kernel reads and writes no more.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len()) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    libc::c_int::try_from(r).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}
