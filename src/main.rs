//! The `whoport` binary: parse, run, map the outcome to an exit status.

use std::process::ExitCode;

use clap::Parser;
use whoport::{app, cli::Cli, render::sanitize::sanitize};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match app::run(&cli) {
        Ok(status) => ExitCode::from(status),
        Err(e) if app::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("whoport: {}", sanitize(&format!("{e:#}")));
            ExitCode::from(app::EXIT_ERROR)
        }
    }
}
