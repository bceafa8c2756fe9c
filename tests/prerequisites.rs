//! What the test suite needs from outside the crate, and what this run skipped for want of it.
//! A `harness = false` binary (its output is never captured) that cargo runs after the other
//! test binaries (its target name sorts last): it prints every prerequisite with present or
//! MISSING, how many tests of this run skipped for each, and fails under `CI=true` when one
//! is missing.

mod common;

use std::collections::BTreeMap;
use std::process::ExitCode;

use common::prerequisites::{install_command, present, skip_log, Check, PREREQUISITES};

fn main() -> ExitCode {
    if std::env::args().any(|a| a == "--list") {
        return ExitCode::SUCCESS;
    }
    let ci = std::env::var("CI").as_deref() == Ok("true");
    let log = skip_log();
    let skipped = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    let mut by_name: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for line in skipped.lines() {
        if let Some((name, test)) = line.split_once('\t') {
            by_name.entry(name).or_default().push(test);
        }
    }
    let mut missing = Vec::new();
    let mut out = String::from("\nwhoport test prerequisites:\n");
    for p in PREREQUISITES {
        let here = present(p);
        if !here && !matches!(p.check, Check::Root) {
            missing.push(p.name);
        }
        let package = if p.package.is_empty() {
            String::new()
        } else {
            format!(" ({})", p.package)
        };
        let tests = by_name.get(p.name).map_or(0, Vec::len);
        let skips = if tests > 0 {
            format!(", {tests} tests skipped")
        } else {
            String::new()
        };
        out.push_str(&format!(
            "  {:<8} {}{package}: {}{skips}\n",
            if here { "present" } else { "MISSING" },
            p.name,
            p.used_for
        ));
    }
    let total: usize = by_name.values().map(Vec::len).sum();
    out.push_str(&format!(
        "tests skipped in this run of the suite: {total}\n"
    ));
    for (name, tests) in &by_name {
        out.push_str(&format!("  {name}: {}\n", tests.join(", ")));
    }
    if !missing.is_empty() {
        out.push_str(&format!(
            "install what is missing with: {}\n",
            install_command(missing.iter().copied())
        ));
    }
    print!("{out}");
    if ci && !missing.is_empty() {
        eprintln!(
            "prerequisites: {} missing under CI=true: {}",
            missing.len(),
            missing.join(", ")
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
