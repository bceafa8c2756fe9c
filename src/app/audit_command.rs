//! `whoport audit`: the targets it writes checked first, the baseline read, the findings
//! judged and written.

use super::*;

pub(super) fn run_audit(cli: &Cli, a: &AuditArgs, out: &Output, w: &mut dyn Write) -> Result<u8> {
    let format = match (cli.json, a.format) {
        (true, Some(f)) if f != AuditFormat::Json => {
            return Err(UsageError(format!(
                "'--json' and '--format {}' ask for two formats: use one of them",
                f.name()
            ))
            .into());
        }
        (true, _) => AuditFormat::Json,
        (false, f) => f.unwrap_or(AuditFormat::Table),
    };
    let mut warnings = Vec::new();
    let config = Config::load(a.config.as_deref(), &mut warnings);
    for warning in warnings {
        crate::stderr::line(format_args!("whoport: warning: {}", sanitize(&warning)));
    }
    let config = config?;
    let config_name = a
        .config
        .clone()
        .or_else(suppress::default_path)
        .map_or_else(
            || "the config file".to_string(),
            |p| p.display().to_string(),
        );
    check_audit_targets(a)?;
    let host = sysinfo::System::host_name().ok();
    let baseline = match a.baseline.as_deref() {
        Some(path) => read_baseline(path, a.save_baseline.as_deref(), host.as_deref())?,
        None => None,
    };
    let k = load(cli)?;
    // The audit is about listeners: connections are not findings.
    let filter = filter_for(&a.filters, false, None, None);
    let mut snap = collect::collect(&filter)?;
    // With --pid or --process (or --user, some of whose processes could not be read), a
    // listener whose owner could not be named may be the process asked for: judged (a hidden
    // owner), never left out of the audit.
    if !snap.unattributed.is_empty() {
        snap.hidden += snap
            .unattributed
            .iter()
            .filter(|l| l.owners.is_empty())
            .count();
        snap.listeners.append(&mut snap.unattributed);
        snap.listeners
            .sort_by_key(|l| collect::listing_key(&l.socket));
    }
    if let Some(b) = baseline.as_ref() {
        let note = audit::not_compared_note(&snap, b, &filter);
        snap.notes.extend(note);
    }
    let fail_on = match a.fail_on {
        SeverityArg::High => Severity::High,
        SeverityArg::Medium => Severity::Medium,
        SeverityArg::Low => Severity::Low,
        SeverityArg::Info => Severity::Info,
    };
    let unjudged = audit::unjudged(&snap, &k);
    snap.notes
        .extend(unjudged.into_iter().filter_map(|u| u.note));
    let findings = audit::audit(&snap, &k, baseline.as_ref(), &filter);
    let report = audit::suppress(findings, &a.ignore, &config, &config_name, &snap, fail_on);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // `-` is standard output, for the report as for the baseline.
    let report_file = match a.output.as_deref().map(Target::of) {
        Some(Target::File(path)) => Some(path),
        Some(Target::Stdout) | None => None,
    };
    // `--save-baseline -` takes standard output: the report goes only to --output FILE.
    let baseline_on_stdout = a.save_baseline.as_deref().map(Target::of) == Some(Target::Stdout);
    // With --output, the whole document is built first and replaces the file in one step.
    let mut buffer = Vec::new();
    let target: &mut dyn Write = if report_file.is_some() {
        &mut buffer
    } else {
        w
    };
    let out = match report_file {
        // A file is not a terminal: no colour unless asked for, compact JSON.
        Some(_) => Output {
            color: cli.color == crate::cli::ColorChoice::Always,
            pretty_json: false,
            width: None,
            ..*out
        },
        None => *out,
    };
    match format {
        _ if baseline_on_stdout && report_file.is_none() => {}
        AuditFormat::Json => render::audit::json(target, out.pretty_json, &report, &snap, &k)?,
        AuditFormat::Prometheus => render::audit::prometheus(target, &report, &snap, &k, now)?,
        AuditFormat::Table => {
            render::audit::table(target, &out, &report)?;
            listing::notes(target, &out, &snap)?;
        }
    }
    // Flushed first: a report that cannot be written (a full disk behind standard output)
    // fails the run before the baseline moves on.
    w.flush()?;
    // The report is out before the baseline moves on: a run whose report cannot be written
    // leaves the previous baseline, so its changes are reported again by the next run
    // instead of being lost.
    if let Some(path) = report_file {
        atomic_file::write(path, &buffer)?;
    }
    if let Some(path) = &a.save_baseline {
        let b = Baseline::of(&snap, json::rfc3339(now), host);
        atomic_file::write_to(Target::of(path), b.to_json().as_bytes(), w)?;
    }
    hint(&snap);
    Ok(if report.failed() {
        EXIT_NOTHING
    } else {
        EXIT_OK
    })
}

/// One file for two outputs would keep only the last one written: the report and the
/// baseline (and the baseline read and the report) must be different files, and only one
/// of them can take standard output.
fn check_audit_targets(a: &AuditArgs) -> Result<()> {
    let named = [
        ("--baseline", a.baseline.as_deref()),
        ("--save-baseline", a.save_baseline.as_deref()),
        ("--output", a.output.as_deref()),
    ];
    // Standard output redirected to one of the named files (`> b.json`) is that file too.
    #[cfg(unix)]
    if let Ok(out) = rustix::fs::fstat(std::io::stdout()) {
        let regular =
            rustix::fs::FileType::from_raw_mode(out.st_mode) == rustix::fs::FileType::RegularFile;
        let stdout = |p: &Path| Target::of(p) == Target::Stdout;
        let report_on_stdout = a.output.as_deref().is_none_or(stdout);
        let baseline_on_stdout = a.save_baseline.as_deref().is_some_and(stdout);
        for (option, p) in &named {
            let Some(p) = p.filter(|p| !stdout(p)) else {
                continue;
            };
            if !(regular && (report_on_stdout || baseline_on_stdout)) {
                continue;
            }
            let file = crate::far_file::identity(p).ok_or_else(|| cannot_tell(option, p))?;
            if file == Some((out.st_dev, out.st_ino)) {
                return Err(UsageError(format!(
                    "standard output is the file '{option}' names ('{}'): one would replace \
                     the other",
                    sanitize(&p.display().to_string())
                ))
                .into());
            }
        }
    }
    for (i, (first, p)) in named.iter().enumerate() {
        for (second, q) in &named[i + 1..] {
            let (Some(p), Some(q)) = (p, q) else { continue };
            // Reading the baseline and saving the next one to the same file is the recipe.
            // `--baseline -` reads standard input, which no output shares.
            if *first == "--baseline" && (*second == "--save-baseline" || p.as_os_str() == "-") {
                continue;
            }
            if crate::same_file::same(p, q).ok_or_else(|| cannot_tell(first, p))? {
                let what = if Target::of(p) == Target::Stdout {
                    "standard output".to_string()
                } else {
                    format!("'{}'", sanitize(&p.display().to_string()))
                };
                return Err(UsageError(format!(
                    "'{first}' and '{second}' both name {what}: one would replace the other"
                ))
                .into());
            }
        }
    }
    Ok(())
}

/// A file named for the audit that the filesystem did not let whoport look at in time: whether
/// one output would replace another cannot be told, so nothing is written.
fn cannot_tell(option: &str, path: &Path) -> anyhow::Error {
    anyhow::anyhow!(
        "cannot check the file '{option}' names ('{}'): {} {} (--timeout): {}",
        sanitize(&path.display().to_string()),
        crate::input_file::STALLED,
        crate::collect::deadline::limit().text,
        crate::input_file::STALLED_WHY
    )
}

/// The baseline to compare with. A missing file that this run is about to save (the cron
/// recipe's first run on a fresh host) is not an error: there is nothing to compare yet. A
/// baseline saved on another host is used, with a warning naming both.
fn read_baseline(
    path: &Path,
    save_to: Option<&Path>,
    host: Option<&str>,
) -> Result<Option<Baseline>> {
    match Baseline::read(path) {
        Ok(b) => {
            if let (Some(then), Some(now)) = (b.host.as_deref(), host) {
                if then != now {
                    crate::stderr::line(format_args!(
                        "whoport: warning: baseline '{}' was saved on host '{}', this is '{}': \
                         every difference may come from the other machine",
                        sanitize(&path.display().to_string()),
                        sanitize(then),
                        sanitize(now)
                    ));
                }
            }
            Ok(Some(b))
        }
        Err(audit::baseline::BaselineError::Read { source, .. })
            if source.is_not_found()
                && save_to.is_some_and(|s| crate::same_file::same(s, path) == Some(true)) =>
        {
            crate::stderr::line(format_args!(
                "whoport: no baseline at '{}' yet: saving the first one, nothing to compare with",
                sanitize(&path.display().to_string())
            ));
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}
