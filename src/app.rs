//! Orchestration: the only module that knows every stage (parse the query, load knowledge,
//! render). Everything it prints goes to stdout through one buffered writer.

use std::io::{self, BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};

use crate::atomic_file;
use crate::cli::{Cli, Command, RegistryCommand};
use crate::config::{Env, Output};
use crate::port::Query;
use crate::registry::{self, import, Knowledge, PortReport};
use crate::render::json::{self, ImportDoc, PortCardDoc, PortDoc, PortListDoc, SCHEMA_VERSION};
use crate::render::table;

/// Exit status: success.
pub const EXIT_OK: u8 = 0;
/// Exit status: an error (bad input, unreadable file...); clap's usage errors are 2 as well.
pub const EXIT_ERROR: u8 = 2;

/// Runs one command line; returns the exit status, or an error for `main` to print.
pub fn run(cli: &Cli) -> Result<u8> {
    let out = Output::resolve(cli.json, cli.color, &Env::current());
    let stdout = io::stdout();
    let mut w = BufWriter::new(stdout.lock());
    let status = match &cli.command {
        Some(Command::Registry { action }) => {
            if let Some(q) = &cli.query {
                anyhow::bail!("unexpected argument '{q}' before the 'registry' command");
            }
            run_registry(cli, action, &out, &mut w)?
        }
        None => run_query(cli, &out, &mut w)?,
    };
    w.flush()?;
    Ok(status)
}

/// Is this error a write into a closed pipe (`whoport | head -1`)? Those exit quietly.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn load(cli: &Cli) -> Result<Knowledge> {
    let mut warnings = Vec::new();
    let knowledge = Knowledge::load(cli.registry.as_deref(), &mut warnings)?;
    for warning in warnings {
        eprintln!("whoport: warning: {warning}");
    }
    Ok(knowledge)
}

fn run_query(cli: &Cli, out: &Output, w: &mut dyn Write) -> Result<u8> {
    let Some(text) = cli.query.as_deref() else {
        anyhow::bail!(
            "give a PORT, RANGE or SERVICE (e.g. 'whoport 2668'); the live listing of every \
             listener is not available in this version (see 'whoport --help')"
        );
    };
    let query: Query = text.parse()?;
    let k = load(cli)?;
    match query {
        Query::Port { port, protocol } => {
            let report = k.report(port, protocol);
            if out.json {
                json::write(
                    w,
                    &PortCardDoc {
                        schema_version: SCHEMA_VERSION,
                        port: PortDoc::from_report(&report),
                        ephemeral_range: k.ephemeral.into(),
                        registry_snapshot: k.iana.snapshot().to_string(),
                    },
                )?;
            } else {
                let local_path = k.local.path.as_ref().map(|p| p.display().to_string());
                table::card(
                    w,
                    out,
                    &report,
                    k.iana.snapshot(),
                    local_path.as_deref(),
                    k.ephemeral,
                )?;
            }
        }
        Query::Range { range, protocol } => {
            let reports: Vec<PortReport<'_>> = range
                .ports()
                .map(|p| k.report(p, protocol))
                .filter(PortReport::is_notable)
                .collect();
            write_list(w, out, &k, text, &reports, &[])?;
            if !out.json && reports.is_empty() {
                writeln!(
                    w,
                    "No port in {range} has an IANA service, local name or known unofficial use."
                )?;
            }
        }
        Query::Service { name, protocol } => {
            let found = k.resolve_service(&name, protocol)?;
            let reports: Vec<PortReport<'_>> = found
                .ranges
                .iter()
                .flat_map(|r| r.ports())
                .map(|p| k.report(p, protocol))
                .collect();
            write_list(w, out, &k, text, &reports, &found.portless)?;
        }
    }
    Ok(EXIT_OK)
}

fn write_list(
    w: &mut dyn Write,
    out: &Output,
    k: &Knowledge,
    query: &str,
    reports: &[PortReport<'_>],
    portless: &[registry::iana::Entry<'_>],
) -> Result<()> {
    if out.json {
        json::write(
            w,
            &PortListDoc {
                schema_version: SCHEMA_VERSION,
                query: query.to_string(),
                ports: reports.iter().map(PortDoc::from_report).collect(),
                portless: portless.iter().map(json::ServiceDoc::from_entry).collect(),
                ephemeral_range: k.ephemeral.into(),
                registry_snapshot: k.iana.snapshot().to_string(),
            },
        )?;
    } else {
        if !reports.is_empty() {
            table::port_list(w, out, reports)?;
        }
        table::portless(w, out, portless)?;
    }
    Ok(())
}

fn run_registry(
    cli: &Cli,
    action: &RegistryCommand,
    out: &Output,
    w: &mut dyn Write,
) -> Result<u8> {
    match action {
        RegistryCommand::Info => {
            let k = load(cli)?;
            let local_path = k.local.path.as_ref().map(|p| p.display().to_string());
            let installed = registry::installed_path().map(|p| p.display().to_string());
            if out.json {
                json::write(
                    w,
                    &json::RegistryInfoDoc::new(
                        &k.iana,
                        (local_path, k.local.entries.len()),
                        installed,
                    ),
                )?;
            } else {
                table::registry_info(
                    w,
                    out,
                    &k.iana,
                    (local_path.as_deref(), k.local.entries.len()),
                    installed.as_deref(),
                )?;
            }
        }
        RegistryCommand::Search { text } => {
            if text.trim().is_empty() {
                anyhow::bail!("empty search text");
            }
            let k = load(cli)?;
            let results = k.search(text);
            if out.json {
                json::write(w, &json::SearchDoc::new(text, &results))?;
            } else {
                table::search(w, out, &results)?;
            }
        }
        RegistryCommand::Import { file, output } => {
            if out.json && output.is_none() {
                anyhow::bail!("'registry import --json' needs --output FILE: the table itself goes to standard output otherwise");
            }
            let imported = import_file(file)?;
            match output {
                Some(path) => {
                    atomic_file::write(path, imported.table.as_bytes())?;
                    report_import(w, out, file, &path.display().to_string(), &imported)?;
                }
                None => w.write_all(imported.table.as_bytes())?,
            }
        }
        RegistryCommand::Update { from } => {
            let imported = import_file(from)?;
            let target = registry::installed_path()
                .context("this system has no per-user data directory to install the registry in")?;
            atomic_file::write(&target, imported.table.as_bytes())?;
            report_import(w, out, from, &target.display().to_string(), &imported)?;
        }
    }
    Ok(EXIT_OK)
}

fn import_file(path: &Path) -> Result<import::Imported> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read '{}'", path.display()))?;
    Ok(import::import_csv(&bytes, &path.display().to_string())?)
}

fn report_import(
    w: &mut dyn Write,
    out: &Output,
    input: &Path,
    output: &str,
    imported: &import::Imported,
) -> Result<()> {
    if out.json {
        json::write(
            w,
            &ImportDoc {
                schema_version: SCHEMA_VERSION,
                input: input.display().to_string(),
                output: output.to_string(),
                rows: imported.rows,
                snapshot_date: imported.snapshot.clone(),
            },
        )?;
    } else {
        writeln!(
            w,
            "wrote {} registry rows (snapshot {}) to {}",
            imported.rows,
            imported.snapshot,
            crate::render::sanitize::sanitize(output)
        )?;
    }
    Ok(())
}
