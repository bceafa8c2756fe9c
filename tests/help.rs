//! What users see first: `--help` is under snapshot, and clap's own consistency checks pass.

mod common;

use clap::CommandFactory;
use whoport::cli::Cli;

#[test]
fn cli_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn help_snapshot() {
    let (status, out, _) = common::run(&["--help"]);
    assert_eq!(status, 0);
    insta::assert_snapshot!("help", out);
}

#[test]
fn registry_help_snapshot() {
    let (status, out, _) = common::run(&["registry", "--help"]);
    assert_eq!(status, 0);
    insta::assert_snapshot!("registry_help", out);
}

#[test]
fn a_query_before_a_subcommand_is_an_error() {
    let (status, _, err) = common::run(&["22", "registry", "info"]);
    assert_eq!(status, 2);
    assert!(err.contains("'22'"), "{err}");
}

#[test]
fn audit_help_snapshot() {
    let (status, out, _) = common::run(&["audit", "--help"]);
    assert_eq!(status, 0);
    insta::assert_snapshot!("audit_help", out);
}

#[test]
fn man_page_and_completions_come_from_the_definitions() {
    let (status, man, _) = common::run(&["--generate", "man"]);
    assert_eq!(status, 0);
    assert!(man.contains(".TH whoport"), "{man}");
    assert!(
        man.contains("\\-\\-exposed"),
        "every flag is documented: {man}"
    );
    for (shell, marker) in [
        ("bash", "_whoport()"),
        ("zsh", "#compdef whoport"),
        ("fish", "complete -c whoport"),
    ] {
        let (status, out, _) = common::run(&["--generate", shell]);
        assert_eq!(status, 0, "{shell}");
        assert!(out.contains(marker), "{shell}: {out}");
        assert!(
            out.contains("audit") && out.contains("registry"),
            "{shell}: subcommands"
        );
    }
}

#[test]
fn check_free_wait_help_snapshots() {
    for (command, name) in [
        ("check", "check_help"),
        ("free", "free_help"),
        ("wait", "wait_help"),
    ] {
        let (status, out, _) = common::run(&[command, "--help"]);
        assert_eq!(status, 0);
        insta::assert_snapshot!(name, out);
    }
    let (_, man, _) = common::run(&["--generate", "man"]);
    for command in ["check", "free", "wait"] {
        assert!(man.contains(command), "{command} in the man page");
    }
}

#[test]
fn a_man_page_for_every_command_with_examples_and_exit_status() {
    for (what, title, options) in [
        ("man", ".TH whoport ", &["\\-\\-exposed", "\\-\\-wide"][..]),
        (
            "man-audit",
            ".TH whoport-audit ",
            &[
                "\\-\\-baseline",
                "\\-\\-save\\-baseline",
                "\\-\\-config",
                "\\-\\-ignore",
                "\\-\\-fail\\-on",
                "\\-\\-format",
                "\\-\\-output",
                "\\-\\-exposed",
                "\\-\\-json",
            ][..],
        ),
        (
            "man-registry",
            ".TH whoport-registry ",
            &["search", "update"][..],
        ),
        ("man-check", ".TH whoport-check ", &["\\-\\-address"][..]),
        (
            "man-free",
            ".TH whoport-free ",
            &["\\-\\-count", "\\-\\-range"][..],
        ),
        (
            "man-wait",
            ".TH whoport-wait ",
            &["\\-\\-listening", "\\-\\-free", "\\-\\-timeout"][..],
        ),
    ] {
        let (status, man, err) = common::run(&["--generate", what]);
        assert_eq!(status, 0, "{what}: {err}");
        assert!(man.contains(title), "{what}: {man}");
        for o in options {
            assert!(man.contains(o), "{what} documents {o}: {man}");
        }
        assert!(man.contains(".SH \"EXIT STATUS\""), "{what}: {man}");
        // Help text is not pasted raw: no "Examples:" heading, no indented example lines.
        assert!(!man.contains("Examples:"), "{what}: {man}");
        assert!(!man.contains("\n  whoport"), "{what}: {man}");
        assert!(man.contains(".SH EXAMPLES\n.TP\n\\fB"), "{what}: {man}");
        // Every example says what it does: after its command line, a line of text.
        let examples = man
            .split(".SH EXAMPLES\n")
            .nth(1)
            .and_then(|rest| rest.split("\n.SH ").next())
            .expect("examples");
        for example in examples.split(".TP\n").filter(|e| !e.is_empty()) {
            let mut lines = example.lines();
            let command = lines.next().unwrap_or_default();
            let what = lines.next().unwrap_or_default();
            assert!(command.starts_with("\\fB"), "{what}: {example}");
            assert!(!what.trim().is_empty(), "{what}: no description: {example}");
        }
        // SEE ALSO names man pages, every one of which exists.
        let see_also = man
            .split(".SH \"SEE ALSO\"\n")
            .nth(1)
            .and_then(|rest| rest.split("\n.SH ").next())
            .expect("see also");
        assert!(!see_also.contains("docs/"), "{what}: {see_also}");
        for page in [
            "whoport",
            "whoport\\-audit",
            "whoport\\-check",
            "whoport\\-free",
        ] {
            let me = title.trim_start_matches(".TH ").trim().replace('-', "\\-");
            if page != me {
                assert!(
                    see_also.contains(&format!("\\fB{page}\\fR(1)")),
                    "{what}: {see_also}"
                );
            }
        }
    }
    // whoport(1) points to a page for each command, and only to pages that exist.
    let (_, man, _) = common::run(&["--generate", "man"]);
    for sub in ["audit", "check", "free", "wait", "registry"] {
        assert!(
            man.contains(&format!("\\fBwhoport\\-{sub}\\fR(1)")),
            "{sub}: {man}"
        );
    }
    assert!(!man.contains("whoport\\-help"), "{man}");
    // The audit does not offer --all on its page either.
    let (_, man, _) = common::run(&["--generate", "man-audit"]);
    assert!(!man.contains("\\-\\-all"), "{man}");
}
