//! Decisions taken once from flags and environment: colour, output format, table width.

use std::io::IsTerminal;

use crate::cli::ColorChoice;

/// How output is rendered for this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    pub json: bool,
    /// Indent JSON: only for a person at a terminal.
    pub pretty_json: bool,
    pub color: bool,
    /// Table width: the terminal's when stdout is one, `COLUMNS` when set, else unlimited.
    pub width: Option<u16>,
}

/// The environment facts that colour and width depend on, gathered in one place.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub no_color: Option<String>,
    pub term: Option<String>,
    pub columns: Option<String>,
    pub stdout_is_tty: bool,
}

impl Env {
    pub fn current() -> Env {
        Env {
            no_color: std::env::var("NO_COLOR").ok(),
            term: std::env::var("TERM").ok(),
            columns: std::env::var("COLUMNS").ok(),
            stdout_is_tty: std::io::stdout().is_terminal(),
        }
    }
}

/// Colour is on for `always`; for `auto` only on a terminal, without a non-empty `NO_COLOR`,
/// and not on `TERM=dumb` (<https://no-color.org>).
pub fn resolve_color(choice: ColorChoice, env: &Env) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            env.stdout_is_tty
                && env.no_color.as_deref().is_none_or(str::is_empty)
                && env.term.as_deref() != Some("dumb")
        }
    }
}

/// Width for tables: `COLUMNS` wins, then the terminal, else none (no wrapping in pipes).
pub fn resolve_width(env: &Env) -> Option<u16> {
    if let Some(n) = env
        .columns
        .as_deref()
        .and_then(|c| c.trim().parse::<u16>().ok())
    {
        return (n >= 20).then_some(n);
    }
    if env.stdout_is_tty {
        // A terminal that reports no size (0 columns, as under `script` or some container
        // exec sessions) is treated like a pipe: no wrapping at all.
        return crossterm_width().filter(|&w| w > 0);
    }
    None
}

fn crossterm_width() -> Option<u16> {
    // comfy-table asks the terminal itself when told the output is a tty.
    let probe = comfy_table::Table::new();
    probe.width()
}

impl Output {
    pub fn resolve(json: bool, choice: ColorChoice, env: &Env) -> Output {
        Output {
            json,
            pretty_json: env.stdout_is_tty,
            color: resolve_color(choice, env),
            width: resolve_width(env),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(no_color: Option<&str>, term: Option<&str>, tty: bool) -> Env {
        Env {
            no_color: no_color.map(str::to_string),
            term: term.map(str::to_string),
            columns: None,
            stdout_is_tty: tty,
        }
    }

    #[test]
    fn colour_resolution() {
        use ColorChoice::*;
        let cases = [
            (Auto, env(None, Some("xterm"), true), true),
            (Auto, env(None, Some("xterm"), false), false),
            (Auto, env(Some("1"), Some("xterm"), true), false),
            (Auto, env(Some(""), Some("xterm"), true), true),
            (Auto, env(None, Some("dumb"), true), false),
            (Always, env(Some("1"), Some("dumb"), false), true),
            (Never, env(None, Some("xterm"), true), false),
        ];
        for (choice, env, want) in cases {
            assert_eq!(resolve_color(choice, &env), want, "{choice:?} {env:?}");
        }
    }

    #[test]
    fn width_from_columns() {
        let mut e = env(None, None, false);
        assert_eq!(resolve_width(&e), None);
        e.columns = Some("120".into());
        assert_eq!(resolve_width(&e), Some(120));
        e.columns = Some("5".into());
        assert_eq!(resolve_width(&e), None);
    }
}
