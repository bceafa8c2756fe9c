//! The kernel's own sockets: a listening TCP socket or a UDP socket that the kernel made for
//! itself (`sock_create_kern`: vxlan's and geneve's UDP ports, WireGuard's, nfsd's...) has no
//! file, so no process can hold it. Every socket a process makes has its file from before it
//! can be bound until its last holder lets go of it (a descriptor, a memory mapping, an
//! io_uring, a unix socket message in transit). The tcp and udp BPF iterators
//! (`whoport_kernel_tcp`, `whoport_kernel_udp` in bpf/owners.bpf.c) report the sockets of
//! whoport's network namespace without a file: positive evidence, read only for sockets still
//! ownerless after every other look, and only where BPF may be used (as root).

use crate::hash::{HashSet, HashSetExt};

use super::bpf::Shared;

/// Of the `wanted` inodes, those of sockets the kernel made for itself. `Err` says why the
/// kernel could not be asked (then nothing is established). `loaded`: the objects the second
/// look shares, loaded here if nothing needed them before.
pub fn kernel_owned(wanted: &HashSet<u32>, loaded: &mut Shared) -> Result<HashSet<u32>, String> {
    if wanted.is_empty() {
        return Ok(HashSet::new());
    }
    super::owners::kernel_may_be_asked("telling the kernel's own sockets")?;
    let found = loaded
        .get()?
        .kernel_sockets()
        .map_err(|e| super::bpf::explain(&e))?;
    Ok(found.intersection(wanted).copied().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket this process made is never the kernel's, whether or not the kernel can be
    /// asked (then nothing at all is established).
    #[test]
    fn a_processs_own_sockets_are_never_the_kernels() {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let inode = |fd: i32| -> u32 {
            let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).expect("fd link");
            let text = link.to_string_lossy().to_string();
            text.trim_start_matches("socket:[")
                .trim_end_matches(']')
                .parse()
                .expect("socket inode")
        };
        use std::os::fd::AsRawFd;
        let wanted = HashSet::from_iter([inode(tcp.as_raw_fd()), inode(udp.as_raw_fd())]);
        match kernel_owned(&wanted, &mut Shared::NotYet) {
            Ok(found) => assert!(found.is_empty(), "{found:?}"),
            Err(why) => eprintln!("SKIPPED the kernel's side: {why}"),
        }
        let mut untouched = Shared::NotYet;
        assert_eq!(
            kernel_owned(&HashSet::new(), &mut untouched),
            Ok(HashSet::new())
        );
        assert!(
            matches!(untouched, Shared::NotYet),
            "nothing wanted, nothing loaded"
        );
    }
}
