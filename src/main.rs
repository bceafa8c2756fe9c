//! The `whoport` binary: parse, run, map the outcome to an exit status.

// A write to a closed or full stderr must not panic: messages go through `stderr::line`.
#![deny(clippy::print_stderr)]

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches};
use whoport::{app, cli::Cli, render::sanitize::sanitize, stderr};

fn main() -> ExitCode {
    whoport::allocator::give_large_blocks_back();
    whoport::collect::descriptors::raise();
    if whoport::privilege::secure_execution() {
        stderr::line(format_args!(
            "whoport: refusing to run with privileges its user does not have (setuid, setgid \
             or file capabilities: the kernel marked this execution secure); run it as root \
             with sudo instead"
        ));
        return ExitCode::from(app::EXIT_ERROR);
    }
    // A child that does a file's work for whoport (see `far_file`).
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if args
        .first()
        .is_some_and(|a| a == whoport::far_file::CHILD_ARG)
    {
        return ExitCode::from(whoport::far_file::serve(&args[1..]));
    }
    let cli = match parse() {
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

/// The command line, with clap's own help and errors coloured as `--color` says: `never`
/// and `always` hold for them too (`auto` leaves clap to the terminal, `NO_COLOR` and
/// `TERM`, like whoport's output). The option is read before parsing, as clap prints help
/// and errors while it parses.
fn parse() -> Result<Cli, clap::Error> {
    let mut choice = None;
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        let value = match arg.to_str() {
            Some("--") => break,
            Some("--color") => args.next(),
            Some(a) => a.strip_prefix("--color=").map(Into::into),
            None => None,
        };
        match value.as_ref().and_then(|v| v.to_str()) {
            Some("never") => choice = Some(clap::ColorChoice::Never),
            Some("always") => choice = Some(clap::ColorChoice::Always),
            Some("auto") => choice = None,
            _ => {}
        }
    }
    let mut cmd = Cli::command();
    if let Some(choice) = choice {
        cmd = cmd.color(choice);
    }
    let matches = cmd.clone().try_get_matches().map_err(|e| escaped(e, cmd))?;
    Cli::from_arg_matches(&matches)
}

/// A usage error quotes the value it refused as given, where an escape sequence or a carriage
/// return would reach the terminal raw (clap writes it as it is). The command line is parsed
/// again with every argument escaped as whoport escapes any text it did not write: the same
/// error, its values escaped, in clap's own words and colours. Where that parse does not give
/// the same kind of error, the error is written as plain text, each line escaped.
fn escaped(e: clap::Error, cmd: clap::Command) -> clap::Error {
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if !e.use_stderr() || args.iter().all(|a| sanitize(a) == *a) {
        return e;
    }
    let again = cmd.try_get_matches_from(args.iter().map(|a| sanitize(a).into_owned()));
    match again {
        Err(again) if again.kind() == e.kind() => again,
        _ => {
            let plain = e.render().to_string();
            let plain = plain.strip_prefix("error: ").unwrap_or(&plain);
            let lines: Vec<String> = plain.lines().map(|l| sanitize(l).into_owned()).collect();
            clap::Error::raw(e.kind(), format!("{}\n", lines.join("\n")))
        }
    }
}

/// `-1` reaches clap as an unknown flag (`-4` and `-6` are flags); say what it is, on one
/// line and naming the whole argument, like every other bad port. Other usage errors are
/// clap's own (exit status 2).
fn usage_error(e: clap::Error) -> ExitCode {
    if e.kind() == ErrorKind::UnknownArgument {
        let args: Vec<String> = std::env::args_os()
            .skip(1)
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let cmd = <Cli as clap::CommandFactory>::command();
        // `--pid -1` or `--timeout -5m` is a bad value of that option, not a port.
        let negative = args.iter().enumerate().find_map(|(i, a)| {
            let digit = a.strip_prefix('-')?.chars().next()?.is_ascii_digit();
            let value_of_option = i
                .checked_sub(1)
                .is_some_and(|p| option(&cmd, &args[p]) == Some(true));
            (digit && option(&cmd, a).is_none() && !value_of_option).then(|| a.clone())
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

/// Is `flag` (`--pid`, `-6`) an option of whoport or of one of its commands, and does it
/// take a value?
fn option(cmd: &clap::Command, flag: &str) -> Option<bool> {
    let long = flag.strip_prefix("--");
    let short = flag
        .strip_prefix('-')
        .filter(|s| s.chars().count() == 1)
        .and_then(|s| s.chars().next());
    let hit = |a: &clap::Arg| {
        ((long.is_some() && a.get_long() == long) || (short.is_some() && a.get_short() == short))
            .then(|| a.get_action().takes_values())
    };
    let here = cmd.get_arguments().filter_map(hit).reduce(|a, b| a || b);
    here.or_else(|| {
        cmd.get_subcommands()
            .filter_map(|s| option(s, flag))
            .reduce(|a, b| a || b)
    })
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
