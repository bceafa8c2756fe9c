//! `whoport registry info|search|import|update` and `--registry`, through the real binary,
//! including every kind of malformed CSV.

mod common;

use std::path::Path;

use common::{fixture, json, run, run_in, tempdir};

#[test]
fn info_reports_the_embedded_snapshot() {
    let doc = json(&["registry", "info", "--json"]);
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["source"], "embedded");
    assert_eq!(doc["path"], serde_json::Value::Null);
    assert!(doc["rows"].as_u64() > Some(14_000));
    assert!(doc["rows_without_port"].as_u64() > Some(500));
    assert!(doc["unofficial_uses"].as_u64() >= Some(150));
    let snapshot = doc["snapshot_date"].as_str().expect("date");
    let (status, out, _) = run(&["registry", "info"]);
    assert_eq!(status, 0);
    assert!(
        out.contains("embedded snapshot") && out.contains(snapshot),
        "{out}"
    );
}

#[test]
fn search_finds_services_and_unofficial_uses() {
    let doc = json(&["registry", "search", "postgres", "--json"]);
    let names: Vec<&str> = doc["services"]
        .as_array()
        .expect("services")
        .iter()
        .map(|s| s["name"].as_str().expect("name"))
        .collect();
    assert!(names.contains(&"postgresql"), "{names:?}");
    let hit = &doc["services"][0];
    assert!(hit["port"].is_string() || hit["port"].is_null());
    let doc = json(&["registry", "search", "grafana", "--json"]);
    assert!(doc["unofficial"]
        .as_array()
        .expect("unofficial")
        .iter()
        .any(|u| u["program"] == "Grafana" && u["port"] == "3000"));
    let (status, out, _) = run(&["registry", "search", "PostgreSQL"]);
    assert_eq!(status, 0);
    assert!(out.contains("5432"), "{out}");
}

#[test]
fn import_writes_the_compact_table() {
    let dir = tempdir();
    let out = dir.path().join("table.tsv");
    let csv = fixture("iana-quirks.csv");
    let csv = csv.to_str().expect("utf8 path");
    let doc = json(&[
        "registry",
        "import",
        csv,
        "--output",
        out.to_str().expect("utf8"),
        "--json",
    ]);
    assert_eq!(doc["rows"], 14);
    assert_eq!(doc["snapshot_date"], "2026-03-01");
    let table = std::fs::read_to_string(&out).expect("written");
    assert!(table.starts_with("#whoport-iana 1\n#snapshot 2026-03-01\n#rows 14\n"));
    // The same table on stdout without --output.
    let (status, stdout, _) = run(&["registry", "import", csv]);
    assert_eq!(status, 0);
    assert_eq!(stdout, table);
    // --json without --output would mix JSON and the table: refused.
    let (status, _, err) = run(&["registry", "import", csv, "--json"]);
    assert_eq!(status, 2, "{err}");
}

#[test]
fn registry_flag_uses_a_csv_for_one_run() {
    let csv = fixture("iana-quirks.csv");
    let csv = csv.to_str().expect("utf8");
    let doc = json(&["--registry", csv, "registry", "info", "--json"]);
    assert_eq!(doc["source"], "file");
    assert_eq!(doc["rows"], 14);
    let card = json(&["--registry", csv, "3000", "--json"]);
    assert_eq!(card["registry"][0]["services"][0]["name"], "quirky");
    // The next run without the flag is back on the embedded snapshot.
    let doc = json(&["registry", "info", "--json"]);
    assert_eq!(doc["source"], "embedded");
}

fn installed(data_home: &Path) -> std::path::PathBuf {
    data_home.join("whoport").join("iana.tsv")
}

#[test]
fn update_installs_atomically_and_is_preferred() {
    let home = tempdir();
    let csv = fixture("iana-quirks.csv");
    let (status, out, err) = run_in(
        home.path(),
        &["registry", "update", "--from", csv.to_str().expect("utf8")],
    );
    assert_eq!(status, 0, "{err}");
    assert!(out.contains("wrote 14 registry rows"), "{out}");
    assert!(installed(home.path()).exists());
    let (_, out, _) = run_in(home.path(), &["registry", "info", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(doc["source"], "installed");
    assert_eq!(doc["rows"], 14);
    let leftovers: Vec<_> = std::fs::read_dir(home.path().join("whoport"))
        .expect("dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary files left: {leftovers:?}");
}

#[test]
fn an_installed_table_that_is_corrupt_is_ignored_with_a_warning() {
    let home = tempdir();
    let path = installed(home.path());
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(&path, "#whoport-iana 1\n#snapshot 2026-01-01\n#rows 5\n").expect("write");
    let (status, out, err) = run_in(home.path(), &["registry", "info", "--json"]);
    assert_eq!(status, 0);
    assert!(err.contains("ignoring the installed registry"), "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(doc["source"], "embedded");
}

/// Each malformed CSV: refused by `update` with the line and reason, status 2, and the
/// previously installed registry left byte for byte as it was.
#[test]
fn malformed_csv_is_refused_and_the_installed_registry_stays() {
    let header = "Service Name,Port Number,Transport Protocol,Description,Assignee,Contact,\
                  Registration Date,Modification Date,Reference,Service Code,\
                  Unauthorized Use Reported,Assignment Notes\n";
    let good = format!("{header}ssh,22,tcp,SSH,,,,,,,,\n");
    let mut long_line = format!("{header}ssh,22,tcp,");
    long_line.push_str(&"x".repeat(1024 * 1024));
    long_line.push_str(",,,,,,,,\n");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty file", Vec::new(), "empty"),
        (
            "missing columns",
            format!("{header}ssh,22,tcp,SSH\n").into_bytes(),
            "line 2: expected 12 columns, found 4",
        ),
        (
            "header of another file",
            b"name,port\nssh,22\n".to_vec(),
            "line 1:",
        ),
        (
            "bad port",
            format!("{good}web,80x,tcp,HTTP,,,,,,,,\n").into_bytes(),
            "line 3: bad port '80x'",
        ),
        (
            "port out of range",
            format!("{good}web,70000,tcp,HTTP,,,,,,,,\n").into_bytes(),
            "line 3: bad port '70000'",
        ),
        (
            "unknown protocol",
            format!("{good}web,80,xyz,HTTP,,,,,,,,\n").into_bytes(),
            "line 3: unknown transport protocol 'xyz'",
        ),
        (
            "broken quoting",
            format!("{good}web,80,tcp,\"HTTP,,,,,,,,\nftp,21,tcp,FTP,,,,,,,,\n").into_bytes(),
            "line 3: expected 12 columns",
        ),
        (
            "invalid UTF-8",
            [good.as_bytes(), b"web,80,tcp,HT\xffTP,,,,,,,,\n"].concat(),
            "line 3: column 'Description' is not valid UTF-8",
        ),
        (
            "a 1 MB field",
            long_line.into_bytes(),
            "line 2: column 'Description' is longer than",
        ),
        (
            "bad date",
            format!("{good}web,80,tcp,HTTP,,,yesterday,,,,,\n").into_bytes(),
            "line 3: column 'Registration Date' is 'yesterday'",
        ),
    ];

    let home = tempdir();
    let csv = fixture("iana-quirks.csv");
    let (status, _, err) = run_in(
        home.path(),
        &["registry", "update", "--from", csv.to_str().expect("utf8")],
    );
    assert_eq!(status, 0, "{err}");
    let before = std::fs::read(installed(home.path())).expect("installed");

    for (what, bytes, reason) in cases {
        let file = home.path().join("bad.csv");
        std::fs::write(&file, &bytes).expect("write");
        let file = file.to_str().expect("utf8");
        for args in [
            vec!["registry", "update", "--from", file],
            vec!["registry", "import", file],
            vec!["--registry", file, "22"],
        ] {
            let (status, out, err) = run_in(home.path(), &args);
            assert_eq!(status, 2, "{what} {args:?}: {err}");
            assert!(out.is_empty(), "{what} {args:?}: {out}");
            assert_eq!(err.lines().count(), 1, "{what}: one line: {err}");
            assert!(
                err.contains(reason),
                "{what} {args:?}: want {reason:?} in {err}"
            );
            assert!(err.contains("bad.csv"), "{what}: names the file: {err}");
        }
        let after = std::fs::read(installed(home.path())).expect("still installed");
        assert!(after == before, "{what}: the installed registry changed");
    }

    let (status, _, err) = run_in(
        home.path(),
        &["registry", "update", "--from", "/nonexistent.csv"],
    );
    assert_eq!(status, 2);
    assert!(err.contains("'/nonexistent.csv'"), "{err}");
}

/// A services file that is there but could not be read (here a directory) is named with why,
/// in `registry info` and on the card, never as missing: both said "(no file)" and "not found".
#[test]
fn a_services_file_not_read_is_never_called_missing() {
    let dir = common::tempdir();
    let services = dir.path().join("services");
    std::fs::create_dir(&services).expect("mkdir");
    let run = |args: &[&str]| {
        common::outcome(
            common::whoport(dir.path())
                .env("WHOPORT_SERVICES_FILE", &services)
                .args(args),
        )
    };
    let (_, info, err) = run(&["registry", "info"]);
    assert!(
        info.contains("0 entries (not read: it is a directory"),
        "{info}{err}"
    );
    assert!(!info.contains("(no file)"), "{info}");
    let (_, card, err) = run(&["22"]);
    assert!(
        card.contains("Local services database (not read: it is a directory"),
        "{card}{err}"
    );
    // A file that is not there is said to be missing.
    std::fs::remove_dir(&services).expect("rmdir");
    let (_, card, _) = run(&["22"]);
    assert!(
        card.contains("Local services database (not found)"),
        "{card}"
    );
}
