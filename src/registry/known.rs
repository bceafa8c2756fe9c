//! Which known program holds a port: the owning process matched against the programs the
//! unofficial-uses table lists for that port, by process name, executable or command line.

use crate::hash::HashMap;
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

/// What is known of one owning process. Its name (`comm`, which any process sets) and
/// `argv[0]` say nothing of what it is: only an executable established as the system's file
/// does, or the shell or interpreter the running file is.
#[derive(Debug, Clone, Copy)]
pub struct Evidence<'a> {
    pub name: &'a str,
    pub exe: Option<&'a str>,
    pub cmdline: &'a [String],
    /// The executable is a file the system installed, the very file at that path in
    /// whoport's view (see `audit::design::established_exe`).
    pub established: bool,
    /// The system's shell or interpreter the running file is (by the file, not the name).
    pub interpreter: Option<&'a str>,
    /// A system directory has `name`, and the base name of `argv[0]`, for the running file.
    pub names_here: (bool, bool),
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

/// Options of the dynamic loader (`ld.so --help`) followed by a value.
const LOADER_OPTIONS: &[&str] = &[
    "--library-path",
    "--inhibit-rpath",
    "--audit",
    "--preload",
    "--argv0",
    "--glibc-hwcaps-prepend",
    "--glibc-hwcaps-mask",
];

/// Whether an executable's base name is the dynamic loader's (`ld-linux-x86-64.so.2`,
/// `ld-musl-x86_64.so.1`, `ld.so`): run as a program, it runs the program its command line
/// names.
pub fn is_loader(base: &str) -> bool {
    base == "ld.so" || (base.starts_with("ld-") && base.contains(".so"))
}

/// The index in `cmdline` of the program the dynamic loader runs: its first argument that is
/// neither an option of the loader nor an option's value.
fn loader_program_at(cmdline: &[String]) -> Option<usize> {
    let mut i = 1;
    while let Some(a) = cmdline.get(i) {
        if !a.starts_with("--") {
            return Some(i);
        }
        i += if LOADER_OPTIONS.contains(&a.as_str()) {
            2
        } else {
            1
        };
    }
    None
}

/// The program the dynamic loader runs, from its command line (see [`loader_program_at`]).
pub fn loader_program(cmdline: &[String]) -> Option<&str> {
    loader_program_at(cmdline).map(|i| cmdline[i].as_str())
}

/// The command line of what runs: from the program the dynamic loader runs when the
/// executable is the loader.
fn run_args<'a>(e: &Evidence<'a>) -> &'a [String] {
    match e.exe.map(base) {
        Some(b) if is_loader(b) => loader_program_at(e.cmdline).map_or(&[], |i| &e.cmdline[i..]),
        _ => e.cmdline,
    }
}

/// The normalised names one process is known by: its executable's base name when the
/// executable is established (never the loader's), the shell or interpreter the running file
/// is and, for an interpreter, the script or module it runs.
fn process_names(e: &Evidence<'_>) -> Vec<String> {
    let mut names: Vec<String> = e
        .exe
        .map(base)
        .filter(|b| e.established && !is_loader(b))
        .map(normalise)
        .into_iter()
        .chain(e.interpreter.map(normalise))
        .chain(Some(normalise(e.name)).filter(|_| e.names_here.0))
        .chain(
            e.cmdline
                .first()
                .filter(|_| e.names_here.1)
                .map(|a| normalise(base(a))),
        )
        .collect();
    if names.iter().any(|n| INTERPRETERS.contains(&n.as_str())) {
        let script = run_args(e)
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

/// Options whose value is the next argument and names no program run: class and module
/// paths list libraries, not the main class.
const PATH_OPTIONS: &[&str] = &[
    "-cp",
    "-classpath",
    "--class-path",
    "-p",
    "--module-path",
    "--add-modules",
    "-pa",
    "-pz",
];

/// The arguments that can name what a process runs: `argv[0]` and every argument that is
/// neither an option (`-x`, `--x=...`, `-Dx=...`) nor the value of a path option.
fn program_args(cmdline: &[String]) -> impl Iterator<Item = &str> {
    let mut skip_next = false;
    cmdline.iter().enumerate().filter_map(move |(i, a)| {
        if std::mem::take(&mut skip_next) {
            return None;
        }
        if i > 0 && a.starts_with('-') {
            skip_next = PATH_OPTIONS.contains(&a.as_str());
            return None;
        }
        Some(a.as_str())
    })
}

/// Does a marker show in what the process runs? A marker that is an option (`--inspect`)
/// must be an option of its own; any other must be in an argument naming what runs (its
/// executable, main class, module, jar or script), never in an option's value.
fn shows_marker(marker: &str, e: &Evidence<'_>) -> bool {
    if marker.starts_with('-') {
        return e.cmdline.iter().skip(1).any(|a| a.starts_with(marker));
    }
    e.exe.is_some_and(|x| x.contains(marker))
        || program_args(run_args(e)).any(|a| a.contains(marker))
}

/// How strongly the process described by `e` shows that it is this program: 2 by one of its
/// names (process name, executable, `argv[0]`, the script an interpreter runs), 1 by a
/// marker in what it runs, 0 not at all.
fn strength(program: &str, e: &Evidence<'_>) -> u8 {
    let names = process_names(e);
    match recognitions().get(program) {
        Some(r) => {
            if names.iter().any(|n| r.names.contains(&n.as_str())) {
                2
            } else if r.markers.iter().any(|m| shows_marker(m, e)) {
                1
            } else {
                0
            }
        }
        None => u8::from(default_names(program).iter().any(|d| names.contains(d))) * 2,
    }
}

/// Is the process described by `e` this program?
pub fn is_program(program: &str, e: &Evidence<'_>) -> bool {
    strength(program, e) > 0
}

/// The known use of `port`/`protocol` whose program one of the owners is: the fact the
/// listing, the card, the audit and JSON all show. The program with the strongest evidence
/// wins; when two programs show equally strong evidence, neither is named. `None` when no
/// owner is a program the table lists for this port.
pub fn known_use(
    port: u16,
    protocol: Protocol,
    owners: &[Evidence<'_>],
) -> Option<&'static UnofficialUse> {
    if owners.is_empty() {
        return None;
    }
    let mut best: Option<(u8, &'static UnofficialUse)> = None;
    let mut tied = false;
    for u in unofficial::for_port(port, Some(protocol)) {
        let s = owners
            .iter()
            .map(|e| strength(u.program, e))
            .max()
            .unwrap_or(0);
        match best {
            _ if s == 0 => {}
            Some((b, _)) if s < b => {}
            Some((b, first)) if s == b => tied |= first.program != u.program,
            _ => {
                best = Some((s, u));
                tied = false;
            }
        }
    }
    best.filter(|_| !tied).map(|(_, u)| u)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev<'a>(name: &'a str, exe: Option<&'a str>, cmdline: &'a [String]) -> Evidence<'a> {
        Evidence {
            name,
            exe,
            cmdline,
            established: exe.is_some(),
            interpreter: None,
            names_here: (false, false),
        }
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
        let server = ev("grafana-server", Some("/usr/sbin/grafana-server"), &none);
        assert!(is_program("Grafana", &server));
        // A name, or an executable not established as the system's file, is no evidence.
        let named = ev("grafana-server", None, &none);
        assert!(!is_program("Grafana", &named));
        let copy = Evidence {
            established: false,
            ..server
        };
        assert!(!is_program("Grafana", &copy));
        // Through the dynamic loader: the program it runs, never the loader.
        let loaded = args(&[
            "/lib64/ld-linux-x86-64.so.2",
            "--argv0",
            "x",
            "/usr/bin/node",
            "/app/node_modules/.bin/next",
        ]);
        let node = Evidence {
            interpreter: None,
            ..ev(
                "node",
                Some("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
                &loaded,
            )
        };
        assert_eq!(loader_program(&loaded), Some("/usr/bin/node"));
        assert!(!is_program("Next.js", &node), "node is not established");
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
    fn a_marker_in_an_option_value_is_no_evidence() {
        // A Spring Boot application configured to talk to a Keycloak server.
        let spring = args(&[
            "java",
            "-jar",
            "app.jar",
            "--keycloak.auth-server-url=http://kc/",
            "org.springframework.boot.loader.launch.JarLauncher",
        ]);
        let java = ev("java", Some("/usr/lib/jvm/bin/java"), &spring);
        assert_eq!(
            known_use(8080, Protocol::Tcp, &[java]).map(|u| u.program),
            Some("Spring Boot")
        );
        // Jenkins with a Jetty system property.
        let jenkins = args(&[
            "java",
            "-Dorg.eclipse.jetty.server.Request.maxFormContentSize=500000",
            "-jar",
            "/usr/share/java/jenkins.war",
        ]);
        let java = ev("java", Some("/usr/lib/jvm/bin/java"), &jenkins);
        assert_eq!(
            known_use(8080, Protocol::Tcp, &[java]).map(|u| u.program),
            Some("Jenkins")
        );
        // A library on the class path is not the main class.
        let cp = args(&["java", "-cp", "/opt/lib/zipkin.jar", "com.example.Main"]);
        let java = ev("java", Some("/usr/lib/jvm/bin/java"), &cp);
        assert!(!is_program("Zipkin", &java));
        // An option marker is the option itself.
        let inspect = args(&["node", "--inspect=0.0.0.0:9229", "app.js"]);
        let node = ev("node", Some("/usr/bin/node"), &inspect);
        assert!(is_program("Node.js inspector", &node));
    }

    #[test]
    fn any_qemu_is_not_the_android_emulator() {
        let qemu = args(&["qemu-system-x86_64", "-m", "2048", "-nographic"]);
        let vm = ev(
            "qemu-system-x86",
            Some("/usr/bin/qemu-system-x86_64"),
            &qemu,
        );
        assert_eq!(known_use(5555, Protocol::Tcp, &[vm]), None);
        let sdk = "/home/u/Android/Sdk/emulator/qemu/linux-x86_64/qemu-system-x86_64";
        let avd = args(&[sdk, "-avd", "Pixel"]);
        let emu = ev("qemu-system-x86", Some(sdk), &avd);
        assert_eq!(
            known_use(5555, Protocol::Tcp, &[emu]).map(|u| u.program),
            Some("Android Emulator")
        );
    }

    #[test]
    fn equal_evidence_for_two_programs_names_neither() {
        // Two owners of one port, each another program listed for it, both by marker.
        let jenkins = args(&["java", "-jar", "/usr/share/java/jenkins.war"]);
        let spring = args(&["java", "org.springframework.boot.loader.launch.JarLauncher"]);
        let a = ev("java", Some("/usr/bin/java"), &jenkins);
        let b = ev("java", Some("/usr/bin/java"), &spring);
        assert_eq!(known_use(8080, Protocol::Tcp, &[a, b]), None);
        // A name beats a marker: a process named jenkins beats a Spring Boot main class.
        let none: Vec<String> = Vec::new();
        let named = ev("jenkins", Some("/usr/bin/jenkins"), &none);
        assert_eq!(
            known_use(8080, Protocol::Tcp, &[named, b]).map(|u| u.program),
            Some("Jenkins")
        );
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
