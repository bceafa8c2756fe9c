//! Files that are not regular files, made inside a temporary directory (never under /dev):
//! device nodes (root only), FIFOs, sockets, directories and symbolic links to them.

use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use rustix::fs::{makedev, mknodat, FileType, Mode, CWD};

/// The special files made by [`make`]: their paths, and the socket kept bound.
pub struct Specials {
    pub paths: Vec<PathBuf>,
    _socket: UnixListener,
}

/// A character device node with the numbers of `/dev/null` (1, 3), `/dev/zero` (1, 5)...
/// `None` unless root (or without CAP_MKNOD).
pub fn char_device(path: &Path, major: u32, minor: u32) -> Option<PathBuf> {
    node(path, FileType::CharacterDevice, makedev(major, minor))
}

pub fn fifo(path: &Path) -> PathBuf {
    node(path, FileType::Fifo, 0).expect("mkfifo")
}

fn node(path: &Path, kind: FileType, dev: u64) -> Option<PathBuf> {
    match mknodat(CWD, path, kind, Mode::from_raw_mode(0o666), dev) {
        Ok(()) => Some(path.to_path_buf()),
        Err(e) if kind != FileType::Fifo => {
            eprintln!("SKIPPED: cannot make a device node ({e}); that needs root");
            super::prerequisites::record_skip("root");
            None
        }
        Err(e) => panic!("mkfifo {}: {e}", path.display()),
    }
}

/// One of each kind that is not a regular file, in `dir`: a FIFO, a socket, a directory, a
/// character device like /dev/null and a block device like /dev/loop0 (when root), and a
/// symbolic link to each of them.
pub fn make(dir: &Path) -> Specials {
    let mut paths = vec![fifo(&dir.join("fifo"))];
    let socket = UnixListener::bind(dir.join("socket")).expect("unix socket");
    paths.push(dir.join("socket"));
    std::fs::create_dir(dir.join("directory")).expect("directory");
    paths.push(dir.join("directory"));
    paths.extend(char_device(&dir.join("null"), 1, 3));
    paths.extend(node(
        &dir.join("block"),
        FileType::BlockDevice,
        makedev(7, 0),
    ));
    let links: Vec<PathBuf> = paths
        .iter()
        .map(|p| {
            let mut name = p.file_name().expect("name").to_os_string();
            name.push("-link");
            let link = dir.join(name);
            std::os::unix::fs::symlink(p, &link).expect("symlink");
            link
        })
        .collect();
    paths.extend(links);
    Specials {
        paths,
        _socket: socket,
    }
}

/// What a path is now, without following a link: to check that it is still there, unchanged.
pub fn kind(path: &Path) -> String {
    format!(
        "{:?}",
        std::fs::symlink_metadata(path).map(|m| m.file_type())
    )
}
