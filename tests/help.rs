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
