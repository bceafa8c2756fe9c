//! Running the audit unattended: the first run of the cron recipe on a fresh host, `--output`
//! for every format, a baseline from another host, options that disagree, errors said once,
//! and `--color always` over NO_COLOR in every view.

mod common;

use common::listener::{hex, python, Listener};
use common::{run, tempdir, whoport};
use serde_json::Value;

#[test]
fn json_and_another_format_is_a_usage_error() {
    for format in ["prometheus", "table"] {
        let (status, out, err) = run(&["audit", "--json", "--format", format]);
        assert_eq!(status, 2, "{format}: {err}");
        assert!(out.is_empty(), "{format}: nothing is printed: {out}");
        assert!(err.contains(&format!("'--format {format}'")), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // Saying the same thing twice is fine.
    let (status, out, err) = run(&["audit", "--json", "--format", "json", "--pid", "4294967295"]);
    assert!(status == 0 || status == 1, "{err}");
    let doc: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(doc["schema_version"], 1);
}

#[test]
fn the_audit_does_not_offer_all() {
    let (status, help, _) = run(&["audit", "--help"]);
    assert_eq!(status, 0);
    assert!(!help.contains("--all"), "{help}");
    let (status, _, err) = run(&["audit", "--all"]);
    assert_eq!(status, 2, "{err}");
    let (status, help, _) = run(&["--help"]);
    assert_eq!(status, 0);
    assert!(help.contains("--all"), "the listing still has it: {help}");
}

#[test]
fn first_run_of_the_cron_recipe_saves_the_baseline() {
    let dir = tempdir();
    // The directory exists (whoport never creates it), the file does not.
    std::fs::create_dir(dir.path().join("state")).expect("state directory");
    let file = dir.path().join("state").join("baseline.json");
    let f = file.to_str().expect("utf8");
    let args = [
        "audit",
        "--baseline",
        f,
        "--save-baseline",
        f,
        "--pid",
        "4294967295",
        "--ignore",
        "hidden-owner",
    ];
    let (status, _, err) = run(&args);
    assert_eq!(status, 0, "{err}");
    assert_eq!(err.lines().count(), 1, "one notice: {err}");
    assert!(err.contains("no baseline at") && err.contains(f), "{err}");
    let saved: Value = serde_json::from_slice(&std::fs::read(&file).expect("saved")).expect("json");
    assert_eq!(saved["kind"], "whoport-baseline");
    // The second run compares, quietly.
    let (status, _, err) = run(&args);
    assert_eq!(status, 0, "{err}");
    assert!(err.is_empty(), "{err}");
    // A missing baseline that is not being saved stays an error.
    let other = dir.path().join("other.json");
    let (status, _, err) = run(&["audit", "--baseline", other.to_str().expect("utf8")]);
    assert_eq!(status, 2, "{err}");
    assert!(!other.exists());
}

#[test]
fn errors_say_their_cause_once() {
    let (status, _, err) = run(&["audit", "--baseline", "/nonexistent/w10/baseline.json"]);
    assert_eq!(status, 2);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(
        err.matches("No such file or directory").count(),
        1,
        "the cause once: {err}"
    );
    assert!(err.contains("'/nonexistent/w10/baseline.json'"), "{err}");
}

#[test]
fn a_baseline_from_another_host_is_used_with_a_warning() {
    let Some(_) = python() else { return };
    let l = Listener::start(&["--comm-hex", &hex(b"wpo-host"), "tcp4"]);
    let dir = tempdir();
    let file = dir.path().join("baseline.json");
    let f = file.to_str().expect("utf8");
    let (status, _, err) = run(&["audit", "--process", "wpo-host", "--save-baseline", f]);
    assert!(status == 0 || status == 1, "{err}");
    let mut saved: Value =
        serde_json::from_slice(&std::fs::read(&file).expect("saved")).expect("json");
    let here = saved["host"].as_str().expect("host is saved").to_string();
    saved["host"] = Value::from("elsewhere.example");
    std::fs::write(&file, saved.to_string()).expect("write");
    let (status, out, err) = run(&["audit", "--json", "--process", "wpo-host", "--baseline", f]);
    assert!(status == 0 || status == 1, "{err}");
    assert!(
        err.contains("'elsewhere.example'") && err.contains(&format!("'{here}'")),
        "names both hosts: {err}"
    );
    // And it is used: nothing changed, so nothing new.
    let doc: Value = serde_json::from_str(&out).expect("json");
    let new: Vec<&Value> = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|x| x["id"] == "new-listener" && x["listener"]["port"] == l.port(0))
        .collect();
    assert!(new.is_empty(), "{doc}");
}

#[test]
fn output_writes_every_format_atomically() {
    let Some(_) = python() else { return };
    let l = Listener::start(&["--comm-hex", &hex(b"wpo-output"), "tcp4"]);
    let dir = tempdir();
    for (format, name) in [
        ("prometheus", "whoport.prom"),
        ("json", "audit.json"),
        ("table", "audit.txt"),
    ] {
        let path = dir.path().join(name);
        // An older file is replaced whole.
        std::fs::write(
            &path,
            "old contents that are longer than nothing\n".repeat(100),
        )
        .expect("write");
        let (status, out, err) = run(&[
            "audit",
            "--process",
            "wpo-output",
            "--format",
            format,
            "--output",
            path.to_str().expect("utf8"),
        ]);
        assert!(status == 0 || status == 1, "{format}: {err}");
        assert!(out.is_empty(), "{format}: stdout stays empty: {out}");
        let text = std::fs::read_to_string(&path).expect("written");
        assert!(!text.contains("old contents"), "{format}");
        let port = l.port(0).to_string();
        match format {
            "prometheus" => assert!(text.contains(&format!("port=\"{port}\"")), "{text}"),
            "json" => {
                let doc: Value = serde_json::from_str(&text).expect("json");
                assert_eq!(doc["schema_version"], 1);
            }
            _ => assert!(text.contains("listener"), "{text}"),
        }
        assert!(!text.contains('\u{1b}'), "{format}: no colour in a file");
    }
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["audit.json", "audit.txt", "whoport.prom"],
        "no temporary file left"
    );
}

#[test]
fn color_always_wins_over_no_color_everywhere() {
    let Some(_) = python() else { return };
    let l = Listener::start(&["--comm-hex", &hex(b"wpo-colour"), "tcp4"]);
    let port = l.port(0).to_string();
    let home = tempdir();
    for args in [
        vec!["--process", "wpo-colour"],
        vec![port.as_str()],
        vec!["audit", "--process", "wpo-colour"],
    ] {
        let mut all = args.clone();
        all.extend(["--color", "always"]);
        let out = whoport(home.path())
            .env("NO_COLOR", "1")
            .args(&all)
            .output()
            .expect("runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("\u{1b}["), "{all:?}: coloured: {text}");
        // The address cell of the listing is coloured by scope, as without NO_COLOR.
        if args[0] == "--process" {
            assert!(text.contains("\u{1b}[38;5;10m"), "{text}");
        }
        let plain = whoport(home.path())
            .env("NO_COLOR", "1")
            .args(&args)
            .output()
            .expect("runs");
        assert!(
            !String::from_utf8_lossy(&plain.stdout).contains('\u{1b}'),
            "{args:?}: auto is off in a pipe"
        );
    }
}

#[test]
fn completions_offer_finding_ids_and_severities() {
    for shell in ["bash", "fish", "zsh"] {
        let (status, out, _) = run(&["--generate", shell]);
        assert_eq!(status, 0);
        for value in [
            "exposed-all-interfaces",
            "ephemeral-range",
            "high",
            "medium",
        ] {
            assert!(out.contains(value), "{shell} offers '{value}'");
        }
    }
    // An unknown id is still refused, naming it.
    let (status, _, err) = run(&["audit", "--ignore", "no-such-id"]);
    assert_eq!(status, 2);
    assert!(err.contains("no-such-id"), "{err}");
}

#[test]
fn a_report_that_cannot_be_written_leaves_the_baseline_for_the_next_run() {
    let Some(_) = python() else { return };
    let _first = Listener::start(&["--comm-hex", &hex(b"wpo-order"), "tcp4"]);
    let dir = tempdir();
    let prom = dir.path().join("prom");
    std::fs::create_dir(&prom).expect("prom directory");
    let baseline = dir.path().join("baseline.json");
    let b = baseline.to_str().expect("utf8");
    let report = prom.join("audit.json");
    let r = report.to_str().expect("utf8");
    let args = [
        "audit",
        "--process",
        "wpo-order",
        "--format",
        "json",
        "--baseline",
        b,
        "--save-baseline",
        b,
        "--output",
        r,
    ];
    let (status, _, err) = run(&args);
    assert!(status == 0 || status == 1, "{err}");
    let before = std::fs::read(&baseline).expect("first baseline");
    // A change happens while the report's directory is gone.
    let second = Listener::start(&["--comm-hex", &hex(b"wpo-order"), "tcp4"]);
    std::fs::remove_file(&report).expect("remove report");
    std::fs::remove_dir(&prom).expect("remove prom");
    let (status, _, err) = run(&args);
    assert_eq!(status, 2, "the report could not be written: {err}");
    assert_eq!(
        std::fs::read(&baseline).expect("baseline"),
        before,
        "the baseline did not move on"
    );
    // The next run that can write its report still reports the change.
    std::fs::create_dir(&prom).expect("prom directory again");
    let (status, _, err) = run(&args);
    assert!(status == 0 || status == 1, "{err}");
    let doc: Value =
        serde_json::from_slice(&std::fs::read(&report).expect("report")).expect("json");
    let new = doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .any(|x| x["id"] == "new-listener" && x["listener"]["port"] == second.port(0));
    assert!(new, "the new listener is reported: {doc}");
}

#[test]
fn one_file_for_two_outputs_is_a_usage_error() {
    let dir = tempdir();
    let file = dir.path().join("f.json");
    let f = file.to_str().expect("utf8");
    let dotted = dir.path().join(".").join("f.json");
    let d = dotted.to_str().expect("utf8");
    for args in [
        vec!["audit", "--save-baseline", f, "--output", f],
        vec!["audit", "--save-baseline", f, "--output", d],
        vec!["audit", "--baseline", f, "--output", d],
        vec!["audit", "--save-baseline", "-", "--output", "-"],
    ] {
        if args[1] == "--baseline" {
            std::fs::write(&file, "{}").expect("write");
        }
        let (status, out, err) = run(&args);
        assert_eq!(status, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert!(err.contains("one would replace the other"), "{err}");
        let _ = std::fs::remove_file(&file);
    }
    assert!(!file.exists(), "nothing written");
}

#[test]
fn the_first_run_recognises_the_baseline_however_it_is_spelled() {
    let dir = tempdir();
    std::fs::create_dir(dir.path().join("state")).expect("state directory");
    let file = dir.path().join("state").join("baseline.json");
    let spelled = dir
        .path()
        .join("state")
        .join("..")
        .join("state")
        .join("baseline.json");
    let (status, _, err) = run(&[
        "audit",
        "--baseline",
        spelled.to_str().expect("utf8"),
        "--save-baseline",
        file.to_str().expect("utf8"),
        "--pid",
        "4294967295",
        "--ignore",
        "hidden-owner",
    ]);
    assert_eq!(status, 0, "{err}");
    assert!(err.contains("no baseline at"), "{err}");
    assert!(file.exists(), "saved");
}

#[test]
fn a_report_that_cannot_reach_standard_output_saves_no_baseline() {
    let dir = tempdir();
    let file = dir.path().join("baseline.json");
    let (status, _, err) = common::sh(&format!(
        "\"$WHOPORT\" audit --pid 4294967295 --ignore hidden-owner --save-baseline '{}' >/dev/full",
        file.display()
    ));
    assert_eq!(status, 2, "{err}");
    assert!(!file.exists(), "no baseline without its report");
}

#[test]
fn standard_output_redirected_into_a_named_file_is_a_usage_error() {
    let dir = tempdir();
    let file = dir.path().join("b.json");
    for options in ["--save-baseline '{f}'", "--output '{f}' --save-baseline -"] {
        let options = options.replace("{f}", &file.display().to_string());
        let (status, _, err) = common::sh(&format!(
            "\"$WHOPORT\" audit --pid 4294967295 {options} > '{}'",
            file.display()
        ));
        assert_eq!(status, 2, "{options}: {err}");
        assert!(err.contains("standard output is the file"), "{err}");
    }
}
