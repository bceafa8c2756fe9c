//! The `whoport` binary: parse, run, map the outcome to an exit status.

// A write to a closed or full stderr must not panic: messages go through `stderr::line`.
#![deny(clippy::print_stderr)]

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::Parser;
use whoport::{app, cli::Cli, render::sanitize::sanitize, stderr};

fn main() -> ExitCode {
    if whoport::privilege::secure_execution() {
        stderr::line(format_args!(
            "whoport: refusing to run with privileges its user does not have (setuid, setgid \
             or file capabilities: the kernel marked this execution secure); run it as root \
             with sudo instead"
        ));
        return ExitCode::from(app::EXIT_ERROR);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    match app::run(&cli) {
        Ok(status) => ExitCode::from(status),
        Err(e) if app::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            stderr::line(format_args!("whoport: {}", sanitize(&app::error_text(&e))));
            ExitCode::from(app::EXIT_ERROR)
        }
    }
}

/// `-1` reaches clap as an unknown flag (`-4` and `-6` are flags); say what it is, on one
/// line and naming the whole argument, like every other bad port. Other usage errors are
/// clap's own (exit status 2).
fn usage_error(e: clap::Error) -> ExitCode {
    if e.kind() == ErrorKind::UnknownArgument {
        let negative = std::env::args_os().skip(1).find_map(|a| {
            let a = a.to_string_lossy().into_owned();
            let digit = a.strip_prefix('-')?.chars().next()?.is_ascii_digit();
            digit.then_some(a)
        });
        if let Some(Err(query_error)) = negative.map(|a| a.parse::<whoport::port::Query>()) {
            stderr::line(format_args!(
                "whoport: {}",
                sanitize(&query_error.to_string())
            ));
            return ExitCode::from(app::EXIT_ERROR);
        }
    }
    clap_exit(&e)
}

/// clap's own output and status, except that help or version text that cannot be written
/// (stdout full or closed) is an error, exit status 2, and a closed pipe is success.
fn clap_exit(e: &clap::Error) -> ExitCode {
    use std::io::Write;
    let printed = e.print().and_then(|()| std::io::stdout().flush());
    match printed {
        Ok(()) => ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(app::EXIT_ERROR)),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(app::EXIT_ERROR),
    }
}
