//! Files whoport writes (baselines, registry tables, reports): regular files only, written to
//! a temporary file beside the target, synced, then renamed over it, so a reader sees the old
//! file or the new one and never half of either. The one place for that policy:
//!
//! - `-` means standard output ([`Target::Stdout`]);
//! - an existing target that is not a regular file (a device, FIFO, socket, directory, or a
//!   symbolic link to one) is refused, never replaced;
//! - a symbolic link to a regular file is written through (the link stays), but only a link
//!   whoport's own user or root owns: another user's link (in `/tmp`, or in their `XDG_DATA_HOME`
//!   after `sudo -E`) could aim root's write at any file;
//! - a replaced file keeps its mode and owner;
//! - the parent directory must exist ([`write`]); only whoport's own data directory is created
//!   ([`write_creating_dir`]);
//! - temporaries are named `.NAME.whoport-tmp-XXXXXX`; those a killed write left behind are
//!   removed by the next write of the same file.

use std::ffi::OsString;
use std::fs::{File, Metadata};
use std::io::Write;
use std::path::{Path, PathBuf};

use thiserror::Error;

/// What marks a temporary file of whoport's: `.NAME` + this + random characters.
pub const TEMP_MARK: &str = ".whoport-tmp-";

/// Where an output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// `-`: standard output.
    Stdout,
    File(&'a Path),
}

impl<'a> Target<'a> {
    /// `-` is standard output; anything else a file (`./-` for a file named `-`).
    pub fn of(path: &'a Path) -> Target<'a> {
        if path.as_os_str() == "-" {
            Target::Stdout
        } else {
            Target::File(path)
        }
    }
}

/// A write that was refused or failed; the target is left as it was.
#[derive(Debug, Error)]
pub enum WriteError {
    #[error("'{path}' is {kind}, not a regular file: whoport writes only regular files (use '-' for standard output)")]
    NotRegular { path: String, kind: &'static str },
    #[error("'{path}' is a symbolic link to nothing: whoport writes only regular files")]
    DanglingLink { path: String },
    #[error("'{path}' is a symbolic link owned by another user (uid {owner}): not followed")]
    ForeignLink { path: String, owner: u32 },
    #[error("the directory '{dir}' does not exist: create it first")]
    NoDirectory { dir: String },
    #[error("'{dir}' is not a directory")]
    NotDirectory { dir: String },
    #[error("cannot keep the owner of '{path}' (uid {uid}, gid {gid}): {source}")]
    Owner {
        path: String,
        uid: u32,
        gid: u32,
        source: std::io::Error,
    },
    #[error("cannot {action} '{path}': {source}")]
    Io {
        action: &'static str,
        path: String,
        source: std::io::Error,
    },
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> WriteError + 'a {
    move |source| WriteError::Io {
        action,
        path: path.display().to_string(),
        source,
    }
}

/// Writes `contents` to `target`: standard output, or a file replaced atomically (see the
/// module's rules; its directory must exist).
pub fn write_to(target: Target<'_>, contents: &[u8], stdout: &mut dyn Write) -> anyhow::Result<()> {
    match target {
        Target::Stdout => stdout.write_all(contents)?,
        Target::File(path) => write(path, contents)?,
    }
    Ok(())
}

/// Replaces `path` with `contents` atomically; its directory must exist.
pub fn write(path: &Path, contents: &[u8]) -> Result<(), WriteError> {
    let dir = parent_of(path);
    match std::fs::metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(WriteError::NotDirectory { dir: shown(&dir) }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(WriteError::NoDirectory { dir: shown(&dir) })
        }
        Err(e) => return Err(io("read", &dir)(e)),
    }
    write_checked(path, contents)
}

/// Like [`write`], creating missing parent directories: only for whoport's own data
/// directory.
pub fn write_creating_dir(path: &Path, contents: &[u8]) -> Result<(), WriteError> {
    let dir = parent_of(path);
    std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
    write(path, contents)
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

/// What the kind of a file that is not a regular file is called in messages.
fn kind_of(m: &Metadata) -> Option<&'static str> {
    let t = m.file_type();
    if t.is_file() {
        return None;
    }
    if t.is_dir() {
        return Some("a directory");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_char_device() {
            return Some("a character device");
        }
        if t.is_block_device() {
            return Some("a block device");
        }
        if t.is_fifo() {
            return Some("a FIFO (named pipe)");
        }
        if t.is_socket() {
            return Some("a socket");
        }
    }
    Some("a special file")
}

/// Resolves the file to write: `path` itself, or the regular file a symbolic link points to.
/// Returns it with the metadata of what is there now (`None`: nothing yet).
fn resolve(path: &Path) -> Result<(PathBuf, Option<Metadata>), WriteError> {
    let link = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((path.into(), None)),
        Err(e) => return Err(io("read", path)(e)),
    };
    if !link.file_type().is_symlink() {
        if let Some(kind) = kind_of(&link) {
            return Err(WriteError::NotRegular {
                path: shown(path),
                kind,
            });
        }
        return Ok((path.into(), Some(link)));
    }
    check_link_owner(path, &link)?;
    let target = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(WriteError::DanglingLink { path: shown(path) })
        }
        Err(e) => return Err(io("read", path)(e)),
    };
    if let Some(kind) = kind_of(&target) {
        return Err(WriteError::NotRegular {
            path: shown(path),
            kind,
        });
    }
    let real = std::fs::canonicalize(path).map_err(io("resolve", path))?;
    Ok((real, Some(target)))
}

/// A link is followed only if whoport's user or root owns it.
fn check_link_owner(path: &Path, link: &Metadata) -> Result<(), WriteError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let me = rustix::process::geteuid().as_raw();
        if link.uid() != me && link.uid() != 0 {
            return Err(WriteError::ForeignLink {
                path: shown(path),
                owner: link.uid(),
            });
        }
    }
    #[cfg(not(unix))]
    let _ = (path, link);
    Ok(())
}

fn write_checked(path: &Path, contents: &[u8]) -> Result<(), WriteError> {
    let (real, existing) = resolve(path)?;
    let dir = parent_of(&real);
    let name = real.file_name().map_or_else(OsString::new, OsString::from);
    let mut prefix = OsString::from(".");
    prefix.push(&name);
    prefix.push(TEMP_MARK);
    remove_stale_temporaries(&dir, &prefix);
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix("");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // tempfile's default is 0600; what whoport writes is not secret (the umask applies).
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let mut tmp = builder
        .tempfile_in(&dir)
        .map_err(io("create a temporary file in", &dir))?;
    if let Some(m) = &existing {
        keep_owner_and_mode(tmp.as_file(), m, &real)?;
    }
    tmp.write_all(contents)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(io("write", tmp.path()))?;
    // Checked again just before the rename: what stands there now must still be a regular
    // file (or nothing).
    resolve(path)?;
    tmp.persist(&real)
        .map_err(|e| io("replace", &real)(e.error))?;
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn keep_owner_and_mode(tmp: &File, old: &Metadata, path: &Path) -> Result<(), WriteError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let mine = tmp.metadata().map_err(io("read", path))?;
        if (mine.uid(), mine.gid()) != (old.uid(), old.gid()) {
            std::os::unix::fs::fchown(tmp, Some(old.uid()), Some(old.gid())).map_err(|source| {
                WriteError::Owner {
                    path: shown(path),
                    uid: old.uid(),
                    gid: old.gid(),
                    source,
                }
            })?;
        }
        tmp.set_permissions(std::fs::Permissions::from_mode(old.mode() & 0o7777))
            .map_err(io("set the mode of", path))?;
    }
    #[cfg(not(unix))]
    tmp.set_permissions(old.permissions())
        .map_err(io("set the mode of", path))?;
    Ok(())
}

/// Removes `PREFIX*` regular files that whoport's own user owns: what a write killed before
/// its rename left behind. Anything else with that name is left alone.
fn remove_stale_temporaries(dir: &Path, prefix: &OsString) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = prefix.as_encoded_bytes();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.as_encoded_bytes().starts_with(prefix) {
            continue;
        }
        let Ok(m) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        if m.file_type().is_file() && owned_by_me(&m) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn owned_by_me(m: &Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        m.uid() == rustix::process::geteuid().as_raw()
    }
    #[cfg(not(unix))]
    {
        let _ = m;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_whole_file_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f.txt");
        write(&path, b"first version, longer").expect("write");
        write(&path, b"second").expect("rewrite");
        assert_eq!(std::fs::read(&path).expect("read"), b"second");
        assert_eq!(names(dir.path()), ["f.txt"]);
    }

    #[test]
    fn the_directory_must_exist_except_for_our_own() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("f.txt");
        let err = write(&path, b"x").expect_err("no directory");
        assert!(matches!(err, WriteError::NoDirectory { .. }), "{err}");
        assert!(!dir.path().join("sub").exists());
        write_creating_dir(&path, b"x").expect("own directory");
        assert_eq!(std::fs::read(&path).expect("read"), b"x");
    }

    #[test]
    fn stale_temporaries_of_the_same_file_go_others_stay() {
        let dir = tempfile::tempdir().expect("tempdir");
        let stale = dir.path().join(".f.txt.whoport-tmp-AbC123");
        let other = dir.path().join(".g.txt.whoport-tmp-AbC123");
        std::fs::write(&stale, b"half").expect("stale");
        std::fs::write(&other, b"half").expect("other");
        write(&dir.path().join("f.txt"), b"x").expect("write");
        assert_eq!(
            names(dir.path()),
            [".g.txt.whoport-tmp-AbC123", "f.txt"],
            "only the same file's temporaries are removed"
        );
    }

    #[test]
    fn dash_is_standard_output() {
        assert_eq!(Target::of(Path::new("-")), Target::Stdout);
        assert_eq!(Target::of(Path::new("./-")), Target::File(Path::new("./-")));
        let mut out = Vec::new();
        write_to(Target::Stdout, b"hello", &mut out).expect("stdout");
        assert_eq!(out, b"hello");
    }
}
