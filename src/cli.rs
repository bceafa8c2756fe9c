//! The command line, as clap derive types; nothing here does any work.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

const EXAMPLES: &str = "\
Examples:
  whoport 2668              everything known about port 2668
  whoport 53/udp            only UDP
  whoport :8080             the colon form, as ss prints it
  whoport 8000-8100         one summary row per port that has something to say
  whoport ssh               a service or program name: its ports
  whoport 443 --json        the same facts as JSON (schema in docs/json.md)
  whoport registry info     which IANA registry snapshot is in use
  whoport registry search postgres

Exit status: 0 success, 2 error (bad port, range, name or file).";

#[derive(Debug, Parser)]
#[command(
    name = "whoport",
    version,
    about = "What is listening on a port, and should it be? Port knowledge from the full IANA registry.",
    after_help = EXAMPLES,
    max_term_width = 100
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// A port (2668, :8080, 53/udp), a range (8000-8100) or a service name (ssh)
    #[arg(value_name = "PORT|RANGE|SERVICE", allow_negative_numbers = true)]
    pub query: Option<String>,

    /// Print one JSON document (schema_version 1) instead of tables
    #[arg(long, global = true)]
    pub json: bool,

    /// When to use colour: auto honours NO_COLOR, TERM=dumb and pipes
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// Use this IANA CSV as the registry for this run
    #[arg(long, global = true, value_name = "FILE")]
    pub registry: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The IANA registry: which snapshot is in use, search it, import or install a newer one
    Registry {
        #[command(subcommand)]
        action: RegistryCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Which registry is in use (embedded snapshot or installed), its date and row counts
    Info,
    /// Services and known unofficial uses whose name or description contains TEXT
    Search {
        /// Text to look for, ignoring case
        text: String,
    },
    /// Convert an IANA CSV into whoport's compact table (how the embedded table is made)
    Import {
        /// IANA's service-names-port-numbers.csv
        file: PathBuf,
        /// Write the table here (atomically) instead of standard output
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Validate a newer IANA CSV and install it for this user; whoport then prefers it
    Update {
        /// IANA's service-names-port-numbers.csv
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
}
