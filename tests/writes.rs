//! Writes never destroy: `--save-baseline`, `registry import --output` and `registry update`
//! write only regular files, keep a replaced file's mode and owner, need an existing
//! directory, and clean up what a killed write left. Special files are made inside a
//! temporary directory, never under /dev.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::special::{self, kind};
use common::{fixture, have, is_root, outcome, run_in, tempdir};

fn csv() -> String {
    fixture("iana-quirks.csv")
        .to_str()
        .expect("utf8 path")
        .to_string()
}

fn text(p: &Path) -> &str {
    p.to_str().expect("utf8 path")
}

/// The three ways whoport writes a file, aimed at `target`.
fn writers(target: &Path) -> Vec<Vec<String>> {
    let t = text(target).to_string();
    vec![
        vec![
            "registry".into(),
            "import".into(),
            csv(),
            "--output".into(),
            t.clone(),
        ],
        vec!["audit".into(), "--save-baseline".into(), t.clone()],
        vec!["audit".into(), "--output".into(), t],
    ]
}

fn run_strings(home: &Path, args: &[String]) -> (i32, String, String) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_in(home, &args)
}

#[test]
fn special_files_are_refused_never_replaced() {
    let dir = tempdir();
    let specials = special::make(dir.path());
    for target in &specials.paths {
        let before = kind(target);
        for args in writers(target) {
            let (status, _, err) = run_strings(dir.path(), &args);
            assert_eq!(status, 2, "{args:?}: {err}");
            assert!(err.contains("not a regular file"), "{args:?}: {err}");
            assert_eq!(
                kind(target),
                before,
                "{args:?} changed {}",
                target.display()
            );
        }
    }
    assert!(!specials.paths.is_empty());
}

#[test]
fn registry_update_refuses_a_special_file_where_the_table_goes() {
    let home = tempdir();
    let data = home.path().join("whoport");
    std::fs::create_dir(&data).expect("data dir");
    let table = data.join("iana.tsv");
    let mut staged = vec![special::fifo(&table)];
    let other = tempdir();
    if let Some(null) = special::char_device(&other.path().join("null"), 1, 3) {
        staged.push(null);
    }
    for target in staged {
        if target != table {
            std::fs::remove_file(&table).expect("remove");
            std::os::unix::fs::symlink(&target, &table).expect("symlink");
        }
        let before = kind(&target);
        let (status, _, err) = run_in(home.path(), &["registry", "update", "--from", &csv()]);
        assert_eq!(status, 2, "{err}");
        assert!(err.contains("not a regular file"), "{err}");
        assert_eq!(kind(&target), before);
    }
}

#[test]
fn dash_is_standard_output() {
    let home = tempdir();
    let (status, out, err) = run_in(home.path(), &["audit", "--save-baseline", "-"]);
    assert!(status == 0 || status == 1, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("only the baseline");
    assert_eq!(doc["kind"], "whoport-baseline");
    let (status, out, err) = run_in(home.path(), &["registry", "import", &csv(), "-o", "-"]);
    assert_eq!(status, 0, "{err}");
    assert!(out.starts_with("#whoport-iana 1\n"), "{out}");
}

#[test]
fn a_replaced_file_keeps_its_mode_and_owner_and_a_link_stays_a_link() {
    let dir = tempdir();
    let target = dir.path().join("table.tsv");
    std::fs::write(&target, "old").expect("write");
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let owner = if is_root() {
        std::os::unix::fs::chown(&target, Some(65534), Some(65534)).expect("chown");
        (65534, 65534)
    } else {
        let m = std::fs::metadata(&target).expect("stat");
        (m.uid(), m.gid())
    };
    let link = dir.path().join("link.tsv");
    std::os::unix::fs::symlink(&target, &link).expect("symlink");
    for path in [&target, &link] {
        std::fs::write(&target, "old").expect("reset");
        let (status, _, err) = run_in(
            dir.path(),
            &["registry", "import", &csv(), "-o", text(path)],
        );
        assert_eq!(status, 0, "{err}");
        let m = std::fs::metadata(&target).expect("stat");
        assert_eq!(m.mode() & 0o7777, 0o640, "mode of {}", path.display());
        assert_eq!((m.uid(), m.gid()), owner, "owner of {}", path.display());
        let written = std::fs::read_to_string(&target).expect("read");
        assert!(written.starts_with("#whoport-iana 1\n"), "{written}");
        assert!(std::fs::symlink_metadata(&link)
            .expect("lstat")
            .file_type()
            .is_symlink());
    }
}

#[test]
fn the_directory_must_exist_except_whoports_own() {
    let home = tempdir();
    let missing = home.path().join("no").join("such").join("dir");
    for args in writers(&missing.join("out")) {
        let (status, _, err) = run_strings(home.path(), &args);
        assert_eq!(status, 2, "{args:?}: {err}");
        assert!(err.contains("does not exist"), "{args:?}: {err}");
        assert!(
            !home.path().join("no").exists(),
            "{args:?} made directories"
        );
    }
    let (status, _, err) = run_in(home.path(), &["registry", "update", "--from", &csv()]);
    assert_eq!(status, 0, "{err}");
    assert!(home.path().join("whoport").join("iana.tsv").is_file());
}

fn temporaries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .filter(|p| text(p).contains(".whoport-tmp-"))
        .collect()
}

#[test]
fn a_killed_write_leaves_a_marked_temporary_that_the_next_write_removes() {
    if !have("prlimit", "apt-get install util-linux") {
        return;
    }
    let dir = tempdir();
    let target = dir.path().join("table.tsv");
    std::fs::write(&target, "old").expect("write");
    // A file size limit smaller than the table: the kernel kills whoport (SIGXFSZ) in the
    // middle of writing its temporary file.
    let bin = common::bin();
    let (status, _, err) = outcome(
        common::command(dir.path(), Path::new("prlimit"))
            .args(["--fsize=512", "--", text(&bin)])
            .args(["registry", "import", &csv(), "-o", text(&target)]),
    );
    assert_eq!(status, -1, "killed by a signal: {err}");
    assert_eq!(std::fs::read_to_string(&target).expect("read"), "old");
    let left = temporaries(dir.path());
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(
        text(&left[0]).contains(".table.tsv.whoport-tmp-"),
        "{left:?}"
    );
    let (status, _, err) = run_in(
        dir.path(),
        &["registry", "import", &csv(), "-o", text(&target)],
    );
    assert_eq!(status, 0, "{err}");
    assert!(temporaries(dir.path()).is_empty());
    assert!(std::fs::read_to_string(&target)
        .expect("read")
        .starts_with("#whoport-iana 1\n"));
}

#[test]
fn a_link_another_user_owns_is_not_followed() {
    if !is_root() {
        eprintln!("SKIPPED: a link owned by another user needs root to make");
        return;
    }
    // After `sudo -E`, another user's data directory or /tmp: their link must not aim root's
    // write at a file of root's.
    let dir = tempdir();
    let precious = dir.path().join("precious");
    std::fs::write(&precious, "root's").expect("write");
    let link = dir.path().join("iana.tsv");
    std::os::unix::fs::symlink(&precious, &link).expect("symlink");
    std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).expect("lchown");
    let (status, _, err) = run_in(
        dir.path(),
        &["registry", "import", &csv(), "-o", text(&link)],
    );
    assert_eq!(status, 2, "{err}");
    assert!(err.contains("owned by another user"), "{err}");
    assert_eq!(std::fs::read_to_string(&precious).expect("read"), "root's");
}
