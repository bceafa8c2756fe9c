//! The cron recipe and the alert rules of docs/audit.md, taken from the document itself and
//! re-run from scratch: a fresh state directory, two runs, the file node_exporter reads
//! checked by promtool, and the rules checked and unit-tested by promtool.

mod common;

use std::path::Path;

use common::{bin, have, tempdir};

/// The body of the first fenced block of `lang` in docs/audit.md.
fn block(lang: &str) -> String {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/audit.md"))
        .expect("docs/audit.md");
    let fence = format!("```{lang}\n");
    let start = doc
        .find(&fence)
        .unwrap_or_else(|| panic!("no {lang} block"))
        + fence.len();
    let end = doc[start..].find("```").expect("closed block") + start;
    doc[start..end].to_string()
}

fn promtool(args: &[&str], dir: &Path) -> (bool, String) {
    let out = common::Run::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("promtool runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_cron_recipe_works_on_a_fresh_host() {
    if !have("promtool", "apt-get install -y prometheus") {
        return;
    }
    let cron = block("cron");
    let line = cron.lines().next().expect("a cron line");
    // "m h dom mon dow user command": the command is everything after the user field.
    let fields: Vec<&str> = line.splitn(7, ' ').collect();
    assert_eq!(fields.len(), 7, "{line}");
    assert_eq!(fields[5], "root", "{line}");
    let root = tempdir();
    let state = root.path().join("var/lib/whoport");
    let textfile = root.path().join("var/lib/prometheus/node-exporter");
    let command = fields[6]
        .replace("/usr/local/bin/whoport", &bin().display().to_string())
        .replace("/var/lib/whoport", &state.display().to_string())
        .replace(
            "/var/lib/prometheus/node-exporter",
            &textfile.display().to_string(),
        );
    // What the document says to do once: the state directory; the textfile directory is
    // node_exporter's.
    std::fs::create_dir_all(&state).expect("install -d");
    std::fs::create_dir_all(&textfile).expect("collector directory");
    let prom = textfile.join("whoport.prom");
    for run in 1..=2 {
        let (status, out, err) = common::sh(&command);
        assert!(status == 0 || status == 1, "run {run}: {status}: {err}");
        assert!(out.is_empty(), "run {run}: cron mails stdout: {out}");
        if run == 1 {
            assert!(err.contains("no baseline at"), "run {run}: {err}");
        } else {
            assert!(!err.contains("no baseline at"), "run {run}: {err}");
        }
        assert!(state.join("baseline.json").is_file(), "run {run}");
        // promtool reads the metrics on standard input.
        let (status, out, err) =
            common::sh(&format!("promtool check metrics < '{}'", prom.display()));
        assert_eq!(status, 0, "run {run}: promtool: {out}{err}");
        let names: Vec<String> = std::fs::read_dir(&textfile)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            ["whoport.prom"],
            "run {run}: nothing else for the collector"
        );
    }
}

#[test]
fn the_alert_rules_load_and_fire() {
    if !have("promtool", "apt-get install -y prometheus") {
        return;
    }
    let dir = tempdir();
    std::fs::write(dir.path().join("rules.yml"), block("yaml")).expect("rules");
    let (ok, said) = promtool(&["check", "rules", "rules.yml"], dir.path());
    assert!(ok, "{said}");
    // A high finding seen by one scrape only (a rolling baseline shows a change once) still
    // fires; a fresh timestamp does not page as stale, one an hour old does (the collector
    // keeps serving the last file when the runs stop).
    let test = r#"rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 10m
    input_series:
      - series: 'whoport_findings{instance="h",id="owner-changed",severity="high"}'
        values: '0 1 0 0 0 0 0 0 0 0 0 0'
      - series: 'whoport_audit_timestamp_seconds{instance="h"}'
        values: '0 600 1200 1800 1800 1800 1800 1800 1800 1800 1800 1800'
    alert_rule_test:
      - eval_time: 25m
        alertname: WhoportHighFinding
        exp_alerts:
          - exp_labels: {instance: h, id: owner-changed, severity: page}
            exp_annotations:
              summary: "h: whoport audit finding owner-changed"
              description: "Run 'whoport audit' on h for details."
      - eval_time: 90m
        alertname: WhoportHighFinding
        exp_alerts: []
      - eval_time: 25m
        alertname: WhoportAuditStale
        exp_alerts: []
      - eval_time: 100m
        alertname: WhoportAuditStale
        exp_alerts:
          - exp_labels: {instance: h, severity: ticket}
            exp_annotations:
              summary: "h: whoport audit has not run for an hour"
"#;
    std::fs::write(dir.path().join("test.yml"), test).expect("test");
    let (ok, said) = promtool(&["test", "rules", "test.yml"], dir.path());
    assert!(ok, "{said}");
}
