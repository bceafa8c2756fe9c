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

fn lchown_nobody(path: &Path) {
    std::os::unix::fs::lchown(path, Some(65534), Some(65534)).expect("lchown");
}

#[test]
fn another_users_link_anywhere_on_the_way_is_not_followed() {
    if !is_root() {
        eprintln!("SKIPPED: links owned by another user need root to make");
        return;
    }
    let dir = tempdir();
    let secret = dir.path().join("rootfile");
    std::fs::write(&secret, "SECRET\n").expect("write");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    // Root's link to nobody's link to root's file (the second link is the foreign one).
    let nobodys = dir.path().join("nlink");
    std::os::unix::fs::symlink(&secret, &nobodys).expect("symlink");
    lchown_nobody(&nobodys);
    let chain = dir.path().join("rlink");
    std::os::unix::fs::symlink("nlink", &chain).expect("symlink");
    // A directory part that is nobody's link to a root-only directory.
    let root_only = dir.path().join("root-only");
    std::fs::create_dir(&root_only).expect("mkdir");
    std::fs::set_permissions(&root_only, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    std::fs::write(root_only.join("victim"), "precious\n").expect("victim");
    let d = dir.path().join("d");
    std::fs::create_dir(&d).expect("mkdir d");
    let sub = d.join("sub");
    std::os::unix::fs::symlink(&root_only, &sub).expect("symlink");
    lchown_nobody(&sub);
    for target in [chain, sub.join("victim"), sub.join("new")] {
        for args in writers(&target) {
            let (status, _, err) = run_strings(dir.path(), &args);
            assert_eq!(status, 2, "{args:?}: {err}");
            assert!(err.contains("owned by another user"), "{args:?}: {err}");
        }
    }
    assert_eq!(std::fs::read_to_string(&secret).expect("read"), "SECRET\n");
    assert_eq!(
        std::fs::read_to_string(root_only.join("victim")).expect("read"),
        "precious\n"
    );
    assert!(!root_only.join("new").exists());
}

#[test]
fn as_root_sudo_e_with_another_users_data_directory_writes_nothing() {
    if !is_root() {
        eprintln!("SKIPPED: another user's data directory needs root to stage");
        return;
    }
    // `sudo -E whoport registry update`: XDG_DATA_HOME is nobody's, and its whoport
    // directory nobody's link to a directory of root's.
    let dir = tempdir();
    let rootdata = dir.path().join("rootdata");
    std::fs::create_dir(&rootdata).expect("mkdir");
    std::fs::write(rootdata.join("iana.tsv"), "precious\n").expect("write");
    let share = dir.path().join("nh").join(".local").join("share");
    std::fs::create_dir_all(&share).expect("mkdir");
    for d in [
        dir.path().join("nh"),
        dir.path().join("nh/.local"),
        share.clone(),
    ] {
        std::os::unix::fs::chown(&d, Some(65534), Some(65534)).expect("chown");
    }
    std::os::unix::fs::symlink(&rootdata, share.join("whoport")).expect("symlink");
    lchown_nobody(&share.join("whoport"));
    let (status, _, err) = run_in(&share, &["registry", "update", "--from", &csv(), "--force"]);
    assert_eq!(status, 2, "{err}");
    assert!(
        err.contains("another user"),
        "the directory or the link is refused: {err}"
    );
    assert_eq!(
        std::fs::read_to_string(rootdata.join("iana.tsv")).expect("read"),
        "precious\n"
    );
    // Without the link, a directory nobody owns is refused too: root does not write where
    // another user could replace what it wrote.
    std::fs::remove_file(share.join("whoport")).expect("rm link");
    let (status, _, err) = run_in(&share, &["registry", "update", "--from", &csv(), "--force"]);
    assert_eq!(status, 2, "{err}");
    assert!(err.contains("owned by uid 65534, not root"), "{err}");
    assert!(!share.join("whoport").exists(), "nothing created");
    // A sticky directory anyone may write (like /tmp) is fine, and root's own chain of links
    // is written through, the links staying links.
    let sticky = dir.path().join("sticky");
    std::fs::create_dir(&sticky).expect("mkdir");
    std::fs::set_permissions(&sticky, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    let real = sticky.join("real.tsv");
    std::fs::write(&real, "old").expect("write");
    std::os::unix::fs::symlink("real.tsv", sticky.join("one")).expect("symlink");
    std::os::unix::fs::symlink(sticky.join("one"), dir.path().join("two")).expect("symlink");
    let two = dir.path().join("two");
    let (status, _, err) = run_in(
        dir.path(),
        &["registry", "import", &csv(), "-o", text(&two)],
    );
    assert_eq!(status, 0, "{err}");
    assert!(std::fs::read_to_string(&real)
        .expect("read")
        .starts_with("#whoport-iana 1\n"));
    assert!(std::fs::symlink_metadata(&two)
        .expect("lstat")
        .file_type()
        .is_symlink());
}

#[test]
fn standard_output_by_name_is_standard_output_and_descriptor_links_are_refused() {
    let dir = tempdir();
    // `>> log`: /dev/stdout appends to what standard output is, never replaces the file.
    let log = dir.path().join("log");
    std::fs::write(&log, "earlier line\n").expect("write");
    let append = std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .expect("open log");
    let (status, _, err) = outcome(
        common::whoport(dir.path())
            .args(["audit", "--save-baseline", "/dev/stdout"])
            .stdout(append),
    );
    assert!(status == 0 || status == 1, "{err}");
    let written = std::fs::read_to_string(&log).expect("read");
    assert!(written.starts_with("earlier line\n"), "{written:.300}");
    assert!(written.contains("whoport-baseline"), "{written:.300}");
    // A link of one's own to /proc/self/fd/1 (never /dev itself): refused, and the file
    // standard output goes to is left as it was.
    let report = dir.path().join("report.txt");
    std::fs::write(&report, "kept\n").expect("write");
    let link = dir.path().join("out");
    std::os::unix::fs::symlink("/proc/self/fd/1", &link).expect("symlink");
    for args in writers(&link) {
        let append = std::fs::OpenOptions::new()
            .append(true)
            .open(&report)
            .expect("open report");
        let (status, _, err) = outcome(common::whoport(dir.path()).args(&args).stdout(append));
        assert_eq!(status, 2, "{args:?}: {err}");
        assert!(err.contains("process's descriptors"), "{args:?}: {err}");
        assert!(std::fs::symlink_metadata(&report)
            .expect("lstat")
            .file_type()
            .is_file());
        let kept = std::fs::read_to_string(&report).expect("read");
        assert!(kept.starts_with("kept\n"), "{args:?}: {kept:.300}");
    }
}

#[test]
fn as_root_only_the_directory_written_into_must_be_roots_alone() {
    if !is_root() {
        eprintln!("SKIPPED: another user's directories need root to stage");
        return;
    }
    // Debian's textfile collector directory: /var/lib/prometheus is prometheus's, its
    // node-exporter directory root's. Root writes there; not into a directory another user
    // owns, and not through a link of root's that sits in such a directory (it may be a hard
    // link someone else made).
    let dir = tempdir();
    let theirs = dir.path().join("prometheus");
    let textfile = theirs.join("node-exporter");
    std::fs::create_dir_all(&textfile).expect("mkdir");
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).expect("chown");
    let prom = textfile.join("whoport.prom");
    let (status, _, err) = run_in(dir.path(), &["audit", "--output", text(&prom)]);
    assert!(status == 0 || status == 1, "{err}");
    assert!(prom.is_file());
    let into_theirs = theirs.join("out.json");
    let (status, _, err) = run_in(
        dir.path(),
        &["audit", "--save-baseline", text(&into_theirs)],
    );
    assert_eq!(status, 2, "{err}");
    assert!(err.contains("another user could change"), "{err}");
    assert!(!into_theirs.exists());
    let secret = dir.path().join("rootfile");
    std::fs::write(&secret, "SECRET\n").expect("write");
    let roots_link = theirs.join("rlink");
    std::os::unix::fs::symlink(&secret, &roots_link).expect("symlink");
    let (status, _, err) = run_in(dir.path(), &["audit", "--save-baseline", text(&roots_link)]);
    assert_eq!(status, 2, "{err}");
    assert!(err.contains("may have linked it there"), "{err}");
    assert_eq!(std::fs::read_to_string(&secret).expect("read"), "SECRET\n");
}

/// As root in a shared directory (sticky and writable by all, like /tmp), a file another user
/// made beforehand would stay theirs when replaced (its owner is kept): refused, untouched.
#[test]
fn as_root_a_file_another_user_made_in_a_shared_directory_is_not_written() {
    if !common::root_or_skip("writing as root into another user's file") {
        return;
    }
    let dir = tempdir();
    let shared = dir.path().join("tmp");
    std::fs::create_dir(&shared).expect("mkdir");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    let planted = shared.join("p.json");
    std::fs::write(&planted, "planted").expect("write");
    std::os::unix::fs::chown(&planted, Some(65534), Some(65534)).expect("chown");
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    for args in writers(&planted) {
        let (status, _, err) = run_strings(dir.path(), &args);
        assert_eq!(status, 2, "{args:?}: {err}");
        assert!(err.contains("belongs to another user"), "{args:?}: {err}");
        assert_eq!(std::fs::read_to_string(&planted).expect("read"), "planted");
        assert_eq!(std::fs::metadata(&planted).expect("stat").uid(), 65534);
    }
    // Root's own file there is replaced as before.
    let own = shared.join("own.json");
    std::fs::write(&own, "old").expect("write");
    let (status, _, err) = run_strings(
        dir.path(),
        &["audit".into(), "--save-baseline".into(), text(&own).into()],
    );
    assert!(matches!(status, 0 | 1), "{err}");
    assert!(std::fs::read_to_string(&own)
        .expect("read")
        .contains("whoport-baseline"));
}
