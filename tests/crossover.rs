//! The owner lookup chosen by cost, live (no `WHOPORT_OWNER_LOOKUP`): on a machine with few
//! open files the `/proc` walk, which costs less there than loading the iterator; past the
//! crossover (`CROSSOVER_FILES` in src/collect/owners.rs, 6,000 files in
//! `/proc/sys/fs/file-nr`), the in-kernel iterator. A test binary of its own: other tests'
//! loads would move the machine's count while it looks.

mod common;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

/// `CROSSOVER_FILES` in src/collect/owners.rs.
const CROSSOVER_FILES: u64 = 6_000;

/// The machine's allocated file handles (the first field of `/proc/sys/fs/file-nr`).
fn open_files() -> u64 {
    std::fs::read_to_string("/proc/sys/fs/file-nr")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .expect("/proc/sys/fs/file-nr")
}

/// The lookup whoport chose by itself (`owner_lookup` of `--json`).
fn chosen(home: &Path) -> String {
    let out = common::whoport(home)
        .env_remove("WHOPORT_OWNER_LOOKUP")
        .env_remove("WHOPORT_NO_BPF")
        .arg("--json")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("json");
    doc["owner_lookup"]
        .as_str()
        .expect("owner_lookup")
        .to_string()
}

#[test]
fn few_open_files_choose_the_walk_and_many_the_iterator() {
    if !common::root_or_skip("the in-kernel lookup (root)") {
        return;
    }
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        // (CI's machines have BTF; this machine cannot run the iterator at all.)
        assert!(std::env::var("CI").is_err(), "no BTF under CI");
        eprintln!("SKIPPED: the kernel has no BTF");
        return;
    }
    let home = common::tempdir();
    // Few: a run whose machine stayed well under the crossover before and after it.
    let few = (0..20).find_map(|_| {
        let before = open_files();
        let lookup = chosen(home.path());
        let after = open_files();
        if before.max(after) < CROSSOVER_FILES - 1_000 {
            return Some((lookup, before, after));
        }
        std::thread::sleep(Duration::from_millis(500));
        None
    });
    let (lookup, before, after) =
        few.expect("the machine kept more than 5,000 files open for ten seconds");
    assert_eq!(lookup, "procfs", "{before} then {after} open files");
    // Many: this process opens files until the machine holds well past the crossover.
    let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum;
    let limit = rustix::process::Rlimit {
        current: hard.map(|h| h.min(1 << 16)),
        maximum: hard,
    };
    rustix::process::setrlimit(rustix::process::Resource::Nofile, limit).expect("setrlimit");
    let mut held = Vec::new();
    while open_files() < CROSSOVER_FILES + 2_000 && held.len() < 60_000 {
        for _ in 0..500 {
            held.push(std::fs::File::open("/dev/null").expect("open /dev/null"));
        }
    }
    let many = open_files();
    assert!(many >= CROSSOVER_FILES + 2_000, "{many} open files");
    assert_eq!(chosen(home.path()), "bpf", "{many} open files");
    drop(held);
}
