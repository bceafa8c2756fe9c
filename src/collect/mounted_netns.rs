//! Network namespaces that no process lives in but a bind mount keeps (`ip netns add`,
//! `unshare --net=FILE`, container runtimes): their socket tables cannot be read through a
//! task's `/proc/PID/net`, so a thread of whoport's own enters the namespace (`setns`), reads
//! its `/proc/thread-self/net` tables, and ends. Nothing else changes namespace: the thread
//! is spawned for this alone and never runs anything else. A namespace only sockets keep
//! alive (no process, no mount) has no name to enter by: not reachable this way.

use crate::hash::{HashMap, HashMapExt, HashSet};
use std::io::BufRead;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rustix::fs::{openat, Mode, OFlags};

use super::netns::{netns_inum, open_table, read_table, Foreign, TABLES};

/// How long the tables of one mounted namespace may take (its mount point may sit on a
/// filesystem that does not answer: the thread is then left behind, never waited for), and
/// all of them together.
const PER_NAMESPACE: Duration = Duration::from_secs(1);
pub const IN_ALL: Duration = Duration::from_secs(2);

/// The network namespaces bind-mounted where this mount namespace sees them, other than those
/// `known`: inode and mount point, those in `first` first, at most `limit`, none under a FUSE
/// mount (which may never answer); and whether there were more. From `/proc/self/mountinfo`,
/// read a line at a time.
pub fn mounted(
    (known, first): (&HashSet<u64>, &HashSet<u64>),
    limit: usize,
) -> (Vec<(u64, PathBuf)>, bool) {
    // (Never a file mounted over it.)
    let Ok(file) = super::proc_dir::open_file("/proc/self/mountinfo") else {
        return (Vec::new(), false);
    };
    let mut namespaces = Vec::new();
    let mut fuse: Vec<Vec<u8>> = Vec::new();
    for line in std::io::BufReader::new(file).split(b'\n') {
        let Ok(line) = line else { break };
        let Some((fields, after)) = split_once(&line, b" - ") else {
            continue;
        };
        let fields: Vec<&[u8]> = fields.split(|&b| b == b' ').collect();
        let fstype = after.split(|&b| b == b' ').next().unwrap_or_default();
        let (Some(root), Some(point)) = (fields.get(3), fields.get(4)) else {
            continue;
        };
        let point = unescape(point);
        if fstype.starts_with(b"fuse") {
            fuse.push(point);
        } else if fstype == b"nsfs" {
            if let Some(inum) = netns_inum(root) {
                namespaces.push((inum, point));
            }
        }
    }
    let under_fuse = |p: &[u8]| {
        fuse.iter()
            .any(|f| p.starts_with(f) && (p.len() == f.len() || p.get(f.len()) == Some(&b'/')))
    };
    let mut seen = known.clone();
    let (wanted, others): (Vec<_>, Vec<_>) = namespaces
        .into_iter()
        .filter(|(inum, point)| !under_fuse(point) && seen.insert(*inum))
        .partition(|(inum, _)| first.contains(inum));
    let mut left = wanted.into_iter().chain(others);
    let listed = left
        .by_ref()
        .take(limit)
        .map(|(inum, point)| {
            use std::os::unix::ffi::OsStringExt;
            (inum, PathBuf::from(std::ffi::OsString::from_vec(point)))
        })
        .collect();
    (listed, left.next().is_some())
}

fn split_once<'a>(line: &'a [u8], separator: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    let at = line.windows(separator.len()).position(|w| w == separator)?;
    Some((&line[..at], &line[at + separator.len()..]))
}

/// mountinfo writes a space, tab, newline and backslash in a path as `\040`, `\011`, `\012`,
/// `\134`.
fn unescape(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let octal = text
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (text[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// The `wanted` sockets in the tables of the namespace mounted at `point` (which must still be
/// namespace `inum`), read by a thread of its own that enters it; `None` when it could not be
/// entered (not root, a mount changed meanwhile) or did not answer in time.
pub fn read(
    inum: u64,
    point: PathBuf,
    wanted: HashSet<u32>,
    until: Instant,
) -> Option<HashMap<u32, Foreign>> {
    let wait = until
        .saturating_duration_since(Instant::now())
        .min(PER_NAMESPACE);
    if wait.is_zero() {
        return None;
    }
    let (tx, rx) = std::sync::mpsc::channel();
    // A thread of its own, never the caller's: the namespace it enters dies with it.
    std::thread::Builder::new()
        .name("whoport-netns".into())
        .spawn(move || {
            let _ = tx.send(enter_and_read(inum, &point, &wanted));
        })
        .ok()?;
    rx.recv_timeout(wait).ok().flatten()
}

fn enter_and_read(
    inum: u64,
    point: &std::path::Path,
    wanted: &HashSet<u32>,
) -> Option<HashMap<u32, Foreign>> {
    let fd = openat(
        rustix::fs::CWD,
        point,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .ok()?;
    // What was opened is that namespace (nsfs files carry its inode), nothing put there since.
    if rustix::fs::fstat(&fd).ok()?.st_ino != inum {
        return None;
    }
    rustix::thread::move_into_link_name_space(
        fd.as_fd(),
        Some(rustix::thread::LinkNameSpaceType::Network),
    )
    .ok()?;
    let mut link = [0u8; 64];
    let n = super::proc_dir::read_link_into("/proc/thread-self/ns/net", &mut link[..]).ok()?;
    if netns_inum(&link[..n]) != Some(inum) {
        return None;
    }
    let mut found = HashMap::new();
    for (name, protocol) in TABLES {
        if let Some(file) = open_table("thread-self", name) {
            read_table(file, protocol, wanted, &mut found);
        }
    }
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_are_unescaped() {
        assert_eq!(unescape(b"/run/netns/a\\040b"), b"/run/netns/a b");
        assert_eq!(unescape(b"/x\\134y\\01"), b"/x\\y\\01");
        assert_eq!(unescape(b"plain"), b"plain");
    }

    #[test]
    fn mounted_namespaces_are_listed_once_each() {
        let (all, _) = mounted((&HashSet::default(), &HashSet::default()), 64);
        let mut inums: Vec<u64> = all.iter().map(|(i, _)| *i).collect();
        inums.sort_unstable();
        inums.dedup();
        assert_eq!(inums.len(), all.len());
    }

    #[test]
    fn a_thread_enters_a_namespace_by_its_file_and_reads_its_tables() {
        // Our own namespace, by its nsfs file: as root the thread enters it and finds our
        // listener; without CAP_SYS_ADMIN it cannot enter, and says nothing.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let inode = super::super::diag::dump_port(crate::port::Protocol::Tcp, 1 << 10, port)
            .expect("dump")[0]
            .inode;
        let link = std::fs::read_link("/proc/self/ns/net").expect("ns link");
        let inum = netns_inum(link.as_os_str().as_encoded_bytes()).expect("inum");
        let until = Instant::now() + Duration::from_secs(10);
        let wanted = HashSet::from_iter([inode]);
        let found = read(inum, "/proc/self/ns/net".into(), wanted.clone(), until);
        if rustix::process::geteuid().is_root() {
            let found = found.expect("entered");
            assert_eq!(found[&inode].local.port(), port);
            // A file that is not that namespace is never entered.
            assert!(read(inum + 1, "/proc/self/ns/net".into(), wanted, until).is_none());
        } else {
            assert!(found.is_none());
        }
        // The caller's thread never moved.
        assert_eq!(
            std::fs::read_link("/proc/thread-self/ns/net").expect("link"),
            link
        );
    }
}
