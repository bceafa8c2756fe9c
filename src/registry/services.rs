//! The local services database (`/etc/services`): the names `ss`, `lsof` and `netstat` print.

use std::path::{Path, PathBuf};

use crate::input_file::{self, Found, ReadError};

/// One line of the services file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalService {
    pub name: String,
    pub port: u16,
    /// As written in the file: usually `tcp` or `udp`, sometimes `ddp` or `sctp`.
    pub protocol: String,
    pub aliases: Vec<String>,
}

/// The services file of this platform, and what it holds.
#[derive(Debug, Clone, Default)]
pub struct LocalServices {
    pub path: Option<PathBuf>,
    /// Why the file was not used, when it was not ("not a regular file").
    pub unused: Option<String>,
    pub entries: Vec<LocalService>,
    /// Lines that could not be understood (counted, never fatal).
    pub skipped: usize,
    /// There is no file at its path (as opposed to one that could not be read).
    pub missing: bool,
}

/// Where this platform keeps its services file. `WHOPORT_SERVICES_FILE` overrides it.
pub fn default_path() -> PathBuf {
    if let Some(p) = std::env::var_os("WHOPORT_SERVICES_FILE") {
        return PathBuf::from(p);
    }
    #[cfg(windows)]
    {
        let root = std::env::var_os("SystemRoot").unwrap_or_else(|| "C:\\Windows".into());
        PathBuf::from(root).join("System32\\drivers\\etc\\services")
    }
    #[cfg(not(windows))]
    {
        PathBuf::from("/etc/services")
    }
}

impl LocalServices {
    /// How the card names the file: its path, "not found", or why it was not read ("not read:
    /// it did not answer within 10s ...").
    pub fn shown(&self) -> String {
        match (&self.path, &self.unused) {
            (Some(p), _) => p.display().to_string(),
            (None, Some(why)) if !self.missing => format!("not read: {why}"),
            _ => "not found".to_string(),
        }
    }

    /// Reads the platform's file; a missing or unreadable file is simply empty. A file named
    /// by `WHOPORT_SERVICES_FILE` that root may not trust is ignored with a warning.
    pub fn load(warnings: &mut Vec<String>) -> LocalServices {
        let found = if std::env::var_os("WHOPORT_SERVICES_FILE").is_some() {
            Found::Environment
        } else {
            Found::Fixed
        };
        Self::load_from(&default_path(), found, warnings)
    }

    pub fn load_from(path: &Path, found: Found, warnings: &mut Vec<String>) -> LocalServices {
        match input_file::read(path, input_file::SERVICES_LIMIT, found) {
            Ok(bytes) => {
                let mut parsed = parse(&String::from_utf8_lossy(&bytes));
                parsed.path = Some(path.to_path_buf());
                parsed
            }
            Err(e @ ReadError::Untrusted { .. }) => {
                warnings.push(format!(
                    "ignoring the services file '{}': {e}",
                    path.display()
                ));
                LocalServices {
                    unused: Some(e.to_string()),
                    ..LocalServices::default()
                }
            }
            // The system's own file missing or unreadable: simply no local names. A file
            // named by WHOPORT_SERVICES_FILE that cannot be used (a FIFO, a directory, too
            // large, missing) is named in a warning.
            Err(e) if found == Found::Environment => {
                warnings.push(format!(
                    "ignoring the services file '{}': {e}",
                    path.display()
                ));
                LocalServices {
                    missing: e.is_not_found(),
                    unused: Some(e.to_string()),
                    ..LocalServices::default()
                }
            }
            Err(e) => LocalServices {
                missing: e.is_not_found(),
                unused: Some(e.to_string()),
                ..LocalServices::default()
            },
        }
    }

    pub fn for_port(&self, port: u16, protocol: Option<&str>) -> Vec<&LocalService> {
        self.entries
            .iter()
            .filter(|s| s.port == port && protocol.is_none_or(|p| p == s.protocol))
            .collect()
    }

    /// Entries whose name or one of whose aliases is `name`, ignoring case.
    pub fn by_name(&self, name: &str) -> Vec<&LocalService> {
        self.entries
            .iter()
            .filter(|s| {
                s.name.eq_ignore_ascii_case(name)
                    || s.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
            })
            .collect()
    }
}

/// Parses the text of a services file: `name port/protocol [aliases...] [# comment]`.
pub fn parse(text: &str) -> LocalServices {
    let mut out = LocalServices::default();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_ascii_whitespace();
        let Some(name) = words.next() else { continue };
        let parsed = words.next().and_then(|pp| {
            let (port, protocol) = pp.split_once('/')?;
            let port = port.parse::<u16>().ok()?;
            (!protocol.is_empty()).then(|| (port, protocol.to_ascii_lowercase()))
        });
        match parsed {
            Some((port, protocol)) => out.entries.push(LocalService {
                name: name.to_string(),
                port,
                protocol,
                aliases: words.map(str::to_string).collect(),
            }),
            None => out.skipped += 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines_aliases_and_comments() {
        let text = "# comment\n\
                    ssh\t\t22/tcp\t\t\t# SSH Remote Login Protocol\n\
                    smtp 25/tcp mail\n\
                    postgresql 5432/tcp postgres\n\
                    \n\
                    broken line\n\
                    bad 99999/tcp\n\
                    noproto 7/\n";
        let s = parse(text);
        assert_eq!(s.entries.len(), 3);
        assert_eq!(s.skipped, 3);
        assert_eq!(s.entries[0].name, "ssh");
        assert_eq!(s.entries[0].port, 22);
        assert_eq!(s.entries[1].aliases, vec!["mail".to_string()]);
        assert_eq!(s.by_name("POSTGRES")[0].port, 5432);
        assert_eq!(s.for_port(25, Some("tcp"))[0].name, "smtp");
        assert!(s.for_port(25, Some("udp")).is_empty());
    }
}
