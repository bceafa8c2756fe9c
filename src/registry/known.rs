//! Which known program holds a port: the owning process matched against the programs the
//! unofficial-uses table lists for that port, by process name, executable or command line.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::port::Protocol;
use crate::registry::unofficial::{self, UnofficialUse};

/// The committed table of how to recognise a program's process (see its header).
pub const TABLE: &str = include_str!("programs.tsv");

/// How one program's process is recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recognition {
    pub program: &'static str,
    /// Normalised process or executable names ("grafana-server").
    pub names: Vec<&'static str>,
    /// Text one command-line argument contains ("org.elasticsearch.bootstrap.Elasticsearch").
    pub markers: Vec<&'static str>,
}

/// What is known of one owning process.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    pub name: &'a str,
    pub exe: Option<&'a str>,
    pub cmdline: &'a [String],
}

/// Interpreters and runtimes: their own name says nothing, the script they run does.
const INTERPRETERS: &[&str] = &[
    "node", "nodejs", "python", "java", "ruby", "php", "perl", "deno", "bun", "dotnet", "sh",
    "bash", "beam.smp", "erl", "mono", "uv", "npx", "npm", "pnpm", "yarn", "lua",
];

/// Lower case, without a trailing version ("python3.11" -> "python", "php-fpm8.2" ->
/// "php-fpm"); a name that is only a version stays whole.
pub fn normalise(name: &str) -> String {
    let lower = name.trim().to_lowercase();
    let trimmed = lower.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    if trimmed.is_empty() || trimmed.ends_with('-') {
        lower
    } else {
        trimmed.to_string()
    }
}

fn base(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Parses the table; an error names the line.
pub fn parse(text: &'static str) -> Result<Vec<Recognition>, String> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fail = |what: &str| format!("programs.tsv line {}: {what}", i + 1);
        let fields: Vec<&'static str> = line.split('\t').collect();
        let [program, names, markers] = fields[..] else {
            return Err(fail("expected 3 tab-separated fields"));
        };
        let list = |s: &'static str| -> Vec<&'static str> {
            if s == "-" {
                Vec::new()
            } else {
                s.split(',').collect()
            }
        };
        rows.push(Recognition {
            program,
            names: list(names),
            markers: list(markers),
        });
    }
    Ok(rows)
}

/// The committed table, parsed once, by program.
fn recognitions() -> &'static HashMap<&'static str, Recognition> {
    static ROWS: OnceLock<HashMap<&'static str, Recognition>> = OnceLock::new();
    ROWS.get_or_init(|| {
        // Checked by the tests below; a broken table cannot be committed.
        parse(TABLE)
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .map(|r| (r.program, r))
            .collect()
    })
}

/// The names a program's process goes by when the table has no row for it: its whole names
/// in lower case, spaces as hyphens ("Mailpit" -> "mailpit").
fn default_names(program: &str) -> Vec<String> {
    unofficial::program_names(program)
        .map(|n| n.to_lowercase().replace(' ', "-"))
        .collect()
}

/// The normalised names one process is known by: its name, its executable's base name,
/// `argv[0]`'s base name and, for an interpreter, the script or module it runs.
fn process_names(e: &Evidence<'_>) -> Vec<String> {
    let mut names = vec![normalise(e.name)];
    names.extend(e.exe.map(|x| normalise(base(x))));
    if let Some(argv0) = e.cmdline.first() {
        names.push(normalise(base(argv0)));
    }
    if names.iter().any(|n| INTERPRETERS.contains(&n.as_str())) {
        let script = e
            .cmdline
            .iter()
            .skip(1)
            .find(|a| !a.starts_with('-'))
            .map(|a| normalise(base(a)));
        names.extend(script);
    }
    names.retain(|n| !n.is_empty() && !INTERPRETERS.contains(&n.as_str()));
    names.sort();
    names.dedup();
    names
}

/// Is the process described by `e` this program?
pub fn is_program(program: &str, e: &Evidence<'_>) -> bool {
    let names = process_names(e);
    match recognitions().get(program) {
        Some(r) => {
            names.iter().any(|n| r.names.contains(&n.as_str()))
                || e.cmdline
                    .iter()
                    .any(|a| r.markers.iter().any(|m| a.contains(m)))
        }
        None => default_names(program).iter().any(|d| names.contains(d)),
    }
}

/// The known use of `port`/`protocol` whose program one of the owners is: the fact the
/// listing, the card, the audit and JSON all show. `None` when no owner is a program the
/// table lists for this port.
pub fn known_use(
    port: u16,
    protocol: Protocol,
    owners: &[Evidence<'_>],
) -> Option<&'static UnofficialUse> {
    if owners.is_empty() {
        return None;
    }
    unofficial::for_port(port, Some(protocol))
        .into_iter()
        .find(|u| owners.iter().any(|e| is_program(u.program, e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev<'a>(name: &'a str, exe: Option<&'a str>, cmdline: &'a [String]) -> Evidence<'a> {
        Evidence { name, exe, cmdline }
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn table_is_sorted_and_names_programs_of_the_unofficial_table() {
        let rows = parse(TABLE).expect("parses");
        for pair in rows.windows(2) {
            assert!(
                pair[0].program.to_lowercase() < pair[1].program.to_lowercase(),
                "not sorted or duplicated: {} / {}",
                pair[0].program,
                pair[1].program
            );
        }
        for r in &rows {
            assert!(
                unofficial::all().iter().any(|u| u.program == r.program),
                "'{}' is not a program of unofficial.tsv",
                r.program
            );
            assert!(!r.names.is_empty() || !r.markers.is_empty(), "{r:?}");
            for n in &r.names {
                assert_eq!(normalise(n), *n, "{}: '{n}' is not normalised", r.program);
                assert!(
                    !INTERPRETERS.contains(n),
                    "{}: '{n}' names no program",
                    r.program
                );
            }
            for m in &r.markers {
                assert!(m.len() >= 4, "{}: marker '{m}' is too short", r.program);
            }
        }
    }

    #[test]
    fn matches_by_name_exe_script_and_marker() {
        let none: Vec<String> = Vec::new();
        let grafana = ev("grafana", Some("/usr/share/grafana/bin/grafana"), &none);
        assert_eq!(
            known_use(3000, Protocol::Tcp, &[grafana]).map(|u| u.program),
            Some("Grafana")
        );
        let server = ev("grafana-server", None, &none);
        assert!(is_program("Grafana", &server));
        // A Java program recognised by its main class.
        let es = args(&[
            "/usr/share/elasticsearch/jdk/bin/java",
            "-Xms1g",
            "org.elasticsearch.bootstrap.Elasticsearch",
        ]);
        let java = ev("java", Some("/usr/lib/jvm/bin/java"), &es);
        assert_eq!(
            known_use(9200, Protocol::Tcp, &[java]).map(|u| u.program),
            Some("Elasticsearch")
        );
        // A script run by an interpreter.
        let next = args(&["node", "/app/node_modules/.bin/next", "dev"]);
        let node = ev("node", Some("/usr/bin/node"), &next);
        assert_eq!(
            known_use(3000, Protocol::Tcp, &[node]).map(|u| u.program),
            Some("Next.js")
        );
        // The official Superset image runs gunicorn with Superset's app factory.
        let sup = args(&[
            "/usr/local/bin/python",
            "/usr/local/bin/gunicorn",
            "--bind",
            "0.0.0.0:8088",
            "superset.app:create_app()",
        ]);
        let gunicorn = ev("gunicorn", Some("/usr/local/bin/python3.10"), &sup);
        assert_eq!(
            known_use(8088, Protocol::Tcp, &[gunicorn]).map(|u| u.program),
            Some("Apache Superset")
        );
        // A program without a recognition row goes by its own name.
        let mailpit = ev("mailpit", Some("/usr/local/bin/mailpit"), &none);
        assert!(is_program("Mailpit", &mailpit));
    }

    #[test]
    fn no_match_without_evidence() {
        let none: Vec<String> = Vec::new();
        let py = ev("python3", Some("/usr/bin/python3.11"), &none);
        assert_eq!(known_use(3000, Protocol::Tcp, &[py]), None);
        // The right program on a port the table does not list for it.
        let grafana = ev("grafana", None, &none);
        assert_eq!(known_use(3001, Protocol::Tcp, &[grafana]), None);
        assert_eq!(known_use(3000, Protocol::Udp, &[grafana]), None);
        // A bare interpreter is no program, even one named in a description.
        let java = ev("java", Some("/usr/bin/java"), &none);
        assert_eq!(known_use(25565, Protocol::Tcp, &[java]), None);
        assert_eq!(known_use(3000, Protocol::Tcp, &[]), None);
    }

    #[test]
    fn normalises_versions() {
        assert_eq!(normalise("python3.11"), "python");
        assert_eq!(normalise("php-fpm8.2"), "php-fpm");
        assert_eq!(normalise("redis-server"), "redis-server");
        assert_eq!(normalise("42"), "42");
        assert_eq!(normalise("k3s-"), "k3s-");
    }
}
