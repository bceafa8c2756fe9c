//! Installed data cannot brick whoport: a hostile installed registry (an absurd `#rows`, rows
//! whose ranges would overflow the index, control characters in `#snapshot`) gets one
//! warning and the embedded registry, with bounded memory; `registry update` validates the
//! table with the same loader and refuses an older snapshot unless `--force`.

mod common;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use common::{fixture, have, measured, run_in, tempdir, PEAK_KIB};

fn installed(home: &Path) -> PathBuf {
    home.join("whoport").join("iana.tsv")
}

fn install_raw(home: &Path, table: &str) {
    std::fs::create_dir_all(home.join("whoport")).expect("data dir");
    std::fs::write(installed(home), table).expect("install");
}

/// A compact table of `rows` rows, each covering every port.
fn full_range_table(rows: usize) -> String {
    let mut t = format!("#whoport-iana 1\n#snapshot 2026-03-01\n#rows {rows}\n");
    for i in 0..rows {
        let _ = writeln!(t, "svc{i}\t0-65535\ttcp\t\t\t\t\t\t\t\t\t");
    }
    t
}

#[test]
fn a_hostile_installed_registry_gets_one_warning_and_the_embedded_one() {
    if !have("time", "apt-get install time") {
        return;
    }
    let row = "ssh\t22\ttcp\tThe Secure Shell\t\t\t\t\t\t\t\t\n";
    let cases = [
        (
            "absurd row count",
            format!("#whoport-iana 1\n#snapshot 2026-03-01\n#rows 18446744073709551615\n{row}"),
            "more than the limit",
        ),
        (
            "70,000 rows of 0-65535",
            full_range_table(70_000),
            "port slots",
        ),
        (
            "8,000 rows of 0-65535",
            full_range_table(8_000),
            "port slots",
        ),
        (
            "control characters in the snapshot",
            format!("#whoport-iana 1\n#snapshot 2026\u{1b}[2J\u{7}\n#rows 1\n{row}"),
            "is not a date",
        ),
    ];
    for (what, table, reason) in cases {
        let home = tempdir();
        install_raw(home.path(), &table);
        for args in [&["registry", "info", "--json"][..], &["22", "--json"]] {
            let (status, out, err, peak) = measured(home.path(), args, None);
            assert!(status == 0 || status == 1, "{what} {args:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{what}: one warning: {err}");
            assert!(
                err.contains("warning") && err.contains(reason),
                "{what}: {err}"
            );
            assert!(!err.contains('\u{1b}'), "{what}: escaped: {err:?}");
            assert!(peak < PEAK_KIB, "{what} {args:?}: peak {peak} KiB");
            let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
            if args[0] == "registry" {
                assert_eq!(doc["source"], "embedded", "{what}");
            } else {
                assert_eq!(doc["registry"][0]["status"], "assigned", "{what}");
            }
        }
    }
}

#[test]
fn registry_update_refuses_what_the_loader_would_refuse() {
    let home = tempdir();
    let mut csv = String::from(
        "Service Name,Port Number,Transport Protocol,Description,Assignee,Contact,\
         Registration Date,Modification Date,Reference,Service Code,\
         Unauthorized Use Reported,Assignment Notes\n",
    );
    for i in 0..70_000 {
        let _ = writeln!(csv, "svc{i},0-65535,tcp,x,,,2026-03-01,,,,,");
    }
    let file = home.path().join("flood.csv");
    std::fs::write(&file, csv).expect("write");
    let file = file.to_str().expect("utf8");
    for args in [
        vec!["registry", "update", "--from", file],
        vec!["registry", "update", "--from", file, "--force"],
        vec!["registry", "import", file],
        vec!["--registry", file, "22"],
    ] {
        let (status, out, err) = run_in(home.path(), &args);
        assert_eq!(status, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}");
        assert!(err.contains("port slots"), "{args:?}: {err}");
    }
    assert!(!installed(home.path()).exists(), "nothing installed");
    // Every later command still works.
    let (status, _, err) = run_in(home.path(), &["6379"]);
    assert!(status == 0 || status == 1, "{err}");
}

#[test]
fn an_older_snapshot_is_refused_unless_forced() {
    let home = tempdir();
    let quirks = std::fs::read_to_string(fixture("iana-quirks.csv")).expect("fixture");
    // The same rows, dated 2009: older than any registry in use.
    let old = (2010..=2030).fold(quirks, |text, year| {
        text.replace(&format!(",{year}-"), ",2009-")
            .replace(&format!(",{year},"), ",2009,")
    });
    let file = home.path().join("old.csv");
    std::fs::write(&file, old).expect("write");
    let file = file.to_str().expect("utf8");
    let (status, _, err) = run_in(home.path(), &["registry", "update", "--from", file]);
    assert_eq!(status, 2, "{err}");
    assert!(err.contains("older than the registry in use"), "{err}");
    assert!(err.contains("--force"), "{err}");
    assert!(!installed(home.path()).exists());
    let (status, out, _) = run_in(home.path(), &["6379", "--json"]);
    assert!(status == 0 || status == 1);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(
        doc["registry"][0]["status"], "assigned",
        "6379 stays assigned"
    );

    let (status, _, err) = run_in(
        home.path(),
        &["registry", "update", "--from", file, "--force"],
    );
    assert_eq!(status, 0, "{err}");
    let (_, out, _) = run_in(home.path(), &["registry", "info", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(
        doc["snapshot_date"]
            .as_str()
            .is_some_and(|d| d.starts_with("2009")),
        "{doc}"
    );
    // Installing a newer one over it needs no --force.
    let csv = fixture("iana-quirks.csv");
    let (status, _, err) = run_in(
        home.path(),
        &["registry", "update", "--from", csv.to_str().expect("utf8")],
    );
    assert_eq!(status, 0, "{err}");
}

/// A one-row table whose service name is `len` bytes of 'x'.
fn long_name_table(len: usize) -> String {
    format!(
        "#whoport-iana 1\n#snapshot 2026-03-01\n#rows 1\n{}\t22\ttcp\td{}\n",
        "x".repeat(len),
        "\t".repeat(8)
    )
}

#[test]
fn an_installed_registry_with_a_huge_field_is_refused_and_long_cells_are_cut() {
    // A 1 MB name (the CSV importer's cap is 64 KiB per field): refused by the loader with
    // one warning, the embedded registry answers.
    let home = tempdir();
    install_raw(home.path(), &long_name_table(1024 * 1024));
    let (status, out, err) = run_in(home.path(), &["22"]);
    assert!(status == 0 || status == 1, "{err}");
    assert_eq!(err.matches("warning").count(), 1, "{err}");
    assert!(
        err.contains("longer than 65536 bytes") && err.contains("embedded"),
        "{err}"
    );
    assert!(
        out.contains("ssh"),
        "the embedded registry answers: {out:.500}"
    );
    assert!(!out.contains(&"x".repeat(1000)), "{out:.500}");
    // Within the cap (60 KB), the card's registry table cuts the cell like a listing cell.
    let home = tempdir();
    install_raw(home.path(), &long_name_table(60_000));
    let (status, out, err) = run_in(home.path(), &["22"]);
    assert!(status == 0 || status == 1, "{err}");
    assert!(err.is_empty(), "{err}");
    assert!(
        out.contains(&format!("{}…", "x".repeat(900))),
        "{out:.3000}"
    );
    let longest = out.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 8_000, "a card line of {longest} bytes");
    let (status, out, err) = run_in(home.path(), &["22", "--json"]);
    assert!(status == 0 || status == 1, "{err}");
    assert!(
        out.contains(&"x".repeat(60_000)),
        "--json keeps the whole name"
    );
}
