//! Man pages for `whoport` and each of its commands (`whoport-audit`, `whoport-check`,
//! `whoport-free`, `whoport-wait`, `whoport-registry`), from the clap definitions:
//! clap_mangen's sections, then COMMANDS, EXAMPLES, EXIT STATUS, NOTES and SEE ALSO
//! rendered from the commands' help text as proper roff (never the help text pasted raw).

use std::io::{self, Write};

use clap::CommandFactory;
use roff::{bold, roman, Roff};

use crate::cli::Cli;

/// Which page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Whoport,
    Audit,
    Check,
    Free,
    Wait,
    Registry,
}

/// Every page, with the subcommand it documents (none for whoport(1) itself).
pub const PAGES: &[(Page, Option<&str>)] = &[
    (Page::Whoport, None),
    (Page::Audit, Some("audit")),
    (Page::Check, Some("check")),
    (Page::Free, Some("free")),
    (Page::Wait, Some("wait")),
    (Page::Registry, Some("registry")),
];

impl Page {
    /// `whoport-audit`, `whoport`.
    pub fn name(self) -> &'static str {
        match self {
            Page::Whoport => "whoport",
            Page::Audit => "whoport-audit",
            Page::Check => "whoport-check",
            Page::Free => "whoport-free",
            Page::Wait => "whoport-wait",
            Page::Registry => "whoport-registry",
        }
    }
}

/// The command a page documents: the program, or a subcommand with its full name
/// (`whoport-audit`), the global options included.
fn command(page: Page) -> clap::Command {
    let mut cmd = Cli::command();
    cmd.build();
    let Some((_, Some(sub))) = PAGES.iter().find(|(p, _)| *p == page) else {
        return cmd;
    };
    cmd.find_subcommand(sub)
        .cloned()
        .map(|c| {
            c.name(page.name())
                .bin_name(format!("whoport {sub}"))
                .version(env!("CARGO_PKG_VERSION"))
        })
        .unwrap_or(cmd)
}

/// `Examples:` lines (`  COMMAND   WHAT IT DOES`, a continuation without a command) and the
/// `Exit status:` paragraph of a help text.
struct HelpParts {
    examples: Vec<(String, String)>,
    exit_status: Vec<String>,
    rest: Vec<String>,
}

fn parts(after_help: &str) -> HelpParts {
    let mut p = HelpParts {
        examples: Vec::new(),
        exit_status: Vec::new(),
        rest: Vec::new(),
    };
    #[derive(PartialEq)]
    enum In {
        None,
        Examples,
        Exit,
    }
    let mut state = In::None;
    for line in after_help.lines() {
        if line.trim().is_empty() {
            state = In::None;
            continue;
        }
        if line.starts_with("Examples:") {
            state = In::Examples;
            continue;
        }
        if let Some(rest) = line.strip_prefix("Exit status:") {
            state = In::Exit;
            p.exit_status.push(rest.trim().to_string());
            continue;
        }
        match state {
            // A deeper indent continues the example above with what it does.
            In::Examples if line.starts_with("      ") && !p.examples.is_empty() => {
                if let Some((_, what)) = p.examples.last_mut() {
                    if !what.is_empty() {
                        what.push(' ');
                    }
                    what.push_str(line.trim());
                }
            }
            In::Examples => {
                let text = line.trim();
                match text.split_once("  ") {
                    Some((cmd, what)) => p.examples.push((cmd.trim().into(), what.trim().into())),
                    None => p.examples.push((text.to_string(), String::new())),
                }
            }
            // The paragraph goes on while its lines are indented.
            In::Exit if line.starts_with(' ') => p.exit_status.push(line.trim().to_string()),
            In::Exit => {
                state = In::None;
                p.rest.push(line.trim().to_string());
            }
            In::None => p.rest.push(line.trim().to_string()),
        }
    }
    p
}

/// Renders one page.
pub fn render(page: Page, w: &mut dyn Write) -> io::Result<()> {
    let cmd = command(page);
    let after = cmd
        .get_after_help()
        .map(|h| h.to_string())
        .unwrap_or_default();
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    man.render_options_section(w)?;
    let p = parts(&after);
    let mut roff = Roff::new();
    if page == Page::Whoport {
        // The commands, each pointing to its own page (clap's list would name pages for
        // `help` too, which has none).
        roff.control("SH", ["COMMANDS"]);
        for (_, sub) in PAGES {
            let Some(sub) = sub else { continue };
            let about = cmd
                .find_subcommand(sub)
                .and_then(|c| c.get_about())
                .map(|a| a.to_string())
                .unwrap_or_default();
            roff.control("TP", []);
            roff.text([bold(format!("whoport {sub}"))]);
            roff.text([roman(format!("{}. See ", about.trim_end_matches('.')))]);
            roff.text([bold(format!("whoport-{sub}")), roman("(1).")]);
        }
    }
    if !p.examples.is_empty() {
        roff.control("SH", ["EXAMPLES"]);
        for (example, what) in &p.examples {
            roff.control("TP", []);
            roff.text([bold(example.as_str())]);
            roff.text([roman(what.as_str())]);
        }
    }
    if !p.exit_status.is_empty() {
        roff.control("SH", ["EXIT STATUS"]);
        for line in &p.exit_status {
            roff.text([roman(line.as_str())]);
            roff.control("br", []);
        }
    }
    if !p.rest.is_empty() {
        roff.control("SH", ["NOTES"]);
        roff.text([roman(p.rest.join(" "))]);
    }
    roff.control("SH", ["SEE ALSO"]);
    let others: Vec<(&str, &str)> = PAGES
        .iter()
        .map(|(other, _)| (other.name(), "1"))
        .filter(|(name, _)| *name != page.name())
        .chain([("ss", "8"), ("lsof", "8")])
        .collect();
    for (i, (name, section)) in others.iter().enumerate() {
        let sep = if i + 1 == others.len() { "" } else { "," };
        roff.text([bold(*name), roman(format!("({section}){sep}"))]);
    }
    roff.to_writer(w)?;
    if cmd.get_version().is_some() {
        man.render_version_section(w)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_text_is_split_into_examples_and_exit_status() {
        let p = parts(
            "Examples:\n  whoport audit           findings\n  whoport audit --json    for scripts\n\n\
             Exit status: 0 fine,\n             1 found, 2 error.\nSee docs/audit.md.",
        );
        assert_eq!(
            p.examples,
            vec![
                ("whoport audit".to_string(), "findings".to_string()),
                (
                    "whoport audit --json".to_string(),
                    "for scripts".to_string()
                )
            ]
        );
        assert_eq!(p.exit_status, vec!["0 fine,", "1 found, 2 error."]);
        assert_eq!(p.rest, vec!["See docs/audit.md."]);
        let p = parts(
            "Examples:\n  whoport audit --baseline /a/very/long/path.json\n      compare with it\n\
             \x20     and say what changed\n  whoport audit    findings\n",
        );
        assert_eq!(
            p.examples,
            vec![
                (
                    "whoport audit --baseline /a/very/long/path.json".to_string(),
                    "compare with it and say what changed".to_string()
                ),
                ("whoport audit".to_string(), "findings".to_string())
            ]
        );
    }
}
