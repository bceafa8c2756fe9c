//! Whether two paths given on the command line name the same file: the audit refuses to
//! write its report and its baseline to one file, and recognises the cron recipe's
//! `--baseline F --save-baseline F` however `F` is spelled (`./b.json`, `b.json`, an
//! absolute path, a link).

use std::path::{Path, PathBuf};

/// Whether `a` and `b` name the same file. Files that exist are compared by device and
/// inode (unix) or by canonical path; a file that does not exist yet by its canonical
/// directory and its name. Two `-` are the same (standard output). `None` when the
/// filesystem did not answer within `--timeout`: whoport cannot tell.
pub fn same(a: &Path, b: &Path) -> Option<bool> {
    // `/dev/stdout` and its spellings are standard output, as `-` is.
    let stdout = Path::new("-");
    let a = if crate::atomic_file::Target::of(a) == crate::atomic_file::Target::Stdout {
        stdout
    } else {
        a
    };
    let b = if crate::atomic_file::Target::of(b) == crate::atomic_file::Target::Stdout {
        stdout
    } else {
        b
    };
    if a == b {
        return Some(true);
    }
    if a.as_os_str() == "-" || b.as_os_str() == "-" {
        return Some(false);
    }
    if crate::far_file::may_never_answer(a) || crate::far_file::may_never_answer(b) {
        let op = crate::far_file::Op::Same(b);
        // No answer (none in time, or none at all): whoport cannot tell.
        let answer =
            crate::far_file::run(op, a, &[], crate::far_file::timeout_and(Default::default()));
        return match answer.as_deref() {
            Ok([same]) => Some(*same == 1),
            _ => None,
        };
    }
    let b = b.to_path_buf();
    crate::input_file::bounded(a, std::time::Duration::ZERO, move |a| on_disk(a, &b))
}

/// [`same`] for two files, asking the filesystem.
pub(crate) fn on_disk(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return ma.dev() == mb.dev() && ma.ino() == mb.ino();
        }
    }
    match (resolved(a), resolved(b)) {
        (Some(ra), Some(rb)) => ra == rb,
        _ => false,
    }
}

/// The canonical form of a path: the file itself when it exists, else its canonical
/// directory joined with its name.
fn resolved(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = std::fs::canonicalize(path) {
        return Some(p);
    }
    let name = path.file_name()?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(std::fs::canonicalize(parent).ok()?.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_stdout_is_standard_output() {
        assert_eq!(same(Path::new("-"), Path::new("/dev/stdout")), Some(true));
        assert_eq!(
            same(Path::new("/proc/self/fd/1"), Path::new("-")),
            Some(true)
        );
    }

    #[test]
    fn spellings_of_one_file_are_the_same_whether_or_not_it_exists() {
        let dir = tempfile::tempdir().unwrap();
        let abs = dir.path().join("b.json");
        let dotted = dir.path().join(".").join("b.json");
        let via_parent = dir.path().join("sub").join("..").join("b.json");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        // Not there yet: the canonical directory and the name decide.
        assert_eq!(same(&abs, &dotted), Some(true));
        assert_eq!(same(&abs, &via_parent), Some(true));
        assert_eq!(same(&abs, &dir.path().join("c.json")), Some(false));
        std::fs::write(&abs, "{}").unwrap();
        assert_eq!(same(&abs, &dotted), Some(true));
        #[cfg(unix)]
        {
            let link = dir.path().join("link");
            std::os::unix::fs::symlink(&abs, &link).unwrap();
            assert_eq!(same(&abs, &link), Some(true));
        }
        assert_eq!(same(&abs, &dir.path().join("c.json")), Some(false));
        assert_eq!(same(Path::new("-"), Path::new("-")), Some(true));
        assert_eq!(same(Path::new("-"), &abs), Some(false));
    }
}
