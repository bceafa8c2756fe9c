//! Suppressions: accepted listeners from a TOML file, and `--ignore ID`. A suppressed finding
//! is counted, never silently dropped.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;
use toml::Spanned;

use std::net::IpAddr;

use crate::address::host;
use crate::audit::{Finding, IDS};
use crate::input_file::{self, Found, ReadError};
use crate::model::Snapshot;
use crate::port::Protocol;

/// A config file that cannot be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config '{path}': {source}")]
    Read { path: String, source: ReadError },
    #[error("config '{path}', line {line}: {reason}")]
    Invalid {
        path: String,
        line: usize,
        reason: String,
    },
}

/// The file: `[[accept]]` tables.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub accept: Vec<Accept>,
}

/// One accepted listener: a finding id ("*" for any) and what the listener must match.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accept {
    pub id: Spanned<String>,
    pub port: Option<u16>,
    pub protocol: Option<Protocol>,
    pub process: Option<String>,
    pub exe: Option<String>,
    /// A host in whoport's notation (`0.0.0.0`, `[::]`, `0.0.0.0%lo`, `[fe80::1%lo]`; IPv6
    /// without brackets too), checked when the file is read.
    pub address: Option<Spanned<String>>,
    pub user: Option<String>,
    pub reason: Option<String>,
}

/// Where the config is looked for when `--config` is not given.
pub fn default_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("whoport").join("audit.toml"))
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

impl Config {
    /// Reads `path`; a missing file is an error only when it was named on the command line.
    /// The default file is ignored, with a warning, when it is not a regular file or (as
    /// root) another user could have written it.
    pub fn load(path: Option<&Path>, warnings: &mut Vec<String>) -> Result<Config, ConfigError> {
        let (path, found) = match path {
            Some(p) => (p.to_path_buf(), Found::Named),
            None => match default_path() {
                Some(p) => (p, Found::Environment),
                None => return Ok(Config::default()),
            },
        };
        let name = path.display().to_string();
        let text = match input_file::read_text(&path, input_file::CONFIG_LIMIT, found) {
            Ok(t) => t,
            Err(e) if found != Found::Named && e.is_not_found() => return Ok(Config::default()),
            Err(e @ (ReadError::Untrusted { .. } | ReadError::NotRegular { .. }))
                if found != Found::Named =>
            {
                warnings.push(format!("ignoring the audit config '{name}': {e}"));
                return Ok(Config::default());
            }
            Err(source) => return Err(ConfigError::Read { path: name, source }),
        };
        Self::parse(&text, &name)
    }

    pub fn parse(text: &str, name: &str) -> Result<Config, ConfigError> {
        let invalid = |line, reason: String| ConfigError::Invalid {
            path: name.to_string(),
            line,
            reason,
        };
        let config: Config = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(1, |s| line_of(text, s.start));
            invalid(line, e.message().trim().replace('\n', " "))
        })?;
        for a in &config.accept {
            if let Some(address) = &a.address {
                if host_notation(address.get_ref()).is_none() {
                    return Err(invalid(
                        line_of(text, address.span().start),
                        format!(
                            "address '{}' is not an address as whoport writes one (0.0.0.0, \
                             [::], 127.0.0.1, 0.0.0.0%lo, [fe80::1%lo]; the port is `port`)",
                            crate::render::sanitize::sanitize(address.get_ref())
                        ),
                    ));
                }
            }
            let id = a.id.get_ref();
            if id != "*" && !IDS.contains(&id.as_str()) {
                return Err(invalid(
                    line_of(text, a.id.span().start),
                    format!("unknown finding id '{id}' (known: {})", IDS.join(", ")),
                ));
            }
        }
        Ok(config)
    }

    /// The accepting rule for this finding, if any.
    pub fn accepts(&self, f: &Finding, snap: &Snapshot) -> Option<&Accept> {
        self.accept.iter().find(|a| a.matches(f, snap))
    }
}

impl Accept {
    fn matches(&self, f: &Finding, snap: &Snapshot) -> bool {
        let id = self.id.get_ref();
        if id != "*" && id != f.id {
            return false;
        }
        if f.listener(snap).is_none() {
            // A gone listener: match on what the baseline remembered.
            return f.gone.as_ref().is_some_and(|g| {
                self.port.is_none_or(|p| p == g.port)
                    && self.protocol.is_none_or(|p| p == g.protocol)
                    && self.address.as_ref().is_none_or(|a| {
                        let remembered = g.address.parse().ok();
                        let remembered = remembered.map(|ip| host(ip, g.device.as_deref()));
                        remembered.is_some() && remembered == host_notation(a.get_ref())
                    })
                    && self.process.as_ref().is_none_or(|n| g.names.contains(n))
                    && self.exe.as_ref().is_none_or(|e| g.exes.contains(e))
                    && self.user.as_ref().is_none_or(|u| g.users.contains(u))
            });
        }
        // A process hidden by a mount is accepted by what is known of the socket alone: the
        // name, executable or user of another holder of it (a service a hidden process shares
        // its socket with) never accepts the hidden one, and its own are not known.
        if f.id == "hidden-process"
            && (self.process.is_some() || self.exe.is_some() || self.user.is_some())
        {
            return false;
        }
        // A group matches when one of its listeners does (an address names one of them).
        f.all_listeners(snap)
            .any(|l| self.matches_listener(l, snap))
    }

    fn matches_listener(&self, l: &crate::model::Listener, snap: &Snapshot) -> bool {
        let owners: Vec<_> = l
            .owners
            .iter()
            .filter_map(|p| snap.processes.get(p))
            .collect();
        self.port.is_none_or(|p| p == l.socket.port)
            && self.protocol.is_none_or(|p| p == l.socket.protocol)
            && self
                .address
                .as_ref()
                .is_none_or(|a| host_notation(a.get_ref()) == Some(l.host()))
            && self
                .process
                .as_ref()
                .is_none_or(|n| owners.iter().any(|p| p.name == *n))
            && self
                .exe
                .as_ref()
                .is_none_or(|e| owners.iter().any(|p| p.exe.as_deref() == Some(e.as_str())))
            && self.user.as_ref().is_none_or(|u| {
                owners.iter().any(|p| p.user.as_deref() == Some(u.as_str()))
                    || (owners.is_empty() && l.user.as_deref() == Some(u.as_str()))
            })
    }
}

/// A host as whoport writes one (`0.0.0.0`, `[::]`, `127.0.0.1`, `0.0.0.0%lo`, `[::]%lo`,
/// `[fe80::1%lo]`), or an IPv6 address without brackets (`::`, `fe80::1%lo`), in whoport's
/// notation: what [`crate::model::Listener::host`] prints for a socket on it. `None` for
/// anything else (a name, a port, an empty device).
fn host_notation(text: &str) -> Option<String> {
    let (address, device) = match text.strip_prefix('[') {
        Some(rest) => {
            let (inside, after) = rest.split_once(']')?;
            let (address, zone) = match inside.split_once('%') {
                Some((a, zone)) => (a, Some(zone)),
                None => (inside, None),
            };
            let after = match after {
                "" => None,
                device => Some(device.strip_prefix('%')?),
            };
            if zone.is_some() && after.is_some() {
                return None;
            }
            let address: std::net::Ipv6Addr = address.parse().ok()?;
            (IpAddr::V6(address), zone.or(after))
        }
        None => match text.split_once('%') {
            Some((address, device)) => (address.parse().ok()?, Some(device)),
            None => (text.parse().ok()?, None),
        },
    };
    if device.is_some_and(|d| d.is_empty() || d.contains(['%', '[', ']'])) {
        return None;
    }
    Some(host(address, device))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_accept_tables() {
        let text = "[[accept]]\nid = \"exposed-all-interfaces\"\nport = 22\nprotocol = \"tcp\"\nprocess = \"sshd\"\nreason = \"ssh\"\n\n[[accept]]\nid = \"*\"\nuser = \"postgres\"\n";
        let c = Config::parse(text, "a.toml").expect("parses");
        assert_eq!(c.accept.len(), 2);
        assert_eq!(c.accept[0].port, Some(22));
        assert_eq!(c.accept[0].protocol, Some(Protocol::Tcp));
        assert!(Config::parse("", "a.toml")
            .expect("empty is fine")
            .accept
            .is_empty());
    }

    #[test]
    fn addresses_are_read_in_whoports_notation() {
        for (text, want) in [
            ("0.0.0.0", "0.0.0.0"),
            ("[::]", "[::]"),
            ("::", "[::]"),
            ("127.0.0.1", "127.0.0.1"),
            ("0.0.0.0%lo", "0.0.0.0%lo"),
            ("[::]%lo", "[::]%lo"),
            ("[fe80::1%lo]", "[fe80::1%lo]"),
            ("fe80::1%lo", "[fe80::1%lo]"),
            ("[::ffff:0.0.0.0]", "[::ffff:0.0.0.0]"),
        ] {
            assert_eq!(host_notation(text).as_deref(), Some(want), "{text}");
        }
        for bad in [
            "",
            "localhost",
            "0.0.0.0:22",
            "[::]:22",
            "[::",
            "0.0.0.0%",
            "[fe80::1%lo]%eth0",
            "1.2.3",
        ] {
            assert_eq!(host_notation(bad), None, "{bad}");
        }
    }

    #[test]
    fn errors_name_the_line_and_reason() {
        let cases = [
            (
                "[[accept]]\nid = \"exposed-all-interfaces\"\nport = \"x\"\n",
                3,
                "invalid type",
            ),
            (
                "[[accept]]\nid = \"no-such-rule\"\n",
                2,
                "unknown finding id 'no-such-rule'",
            ),
            (
                "[[accept]]\nid = \"*\"\nprocss = \"sshd\"\n",
                3,
                "unknown field",
            ),
            ("\n\n[[accept]\n", 3, ""),
            ("[[accept]]\nport = 22\n", 1, "missing field `id`"),
            ("[[accept]]\nid = \"*\"\nport = 70000\n", 3, ""),
        ];
        for (text, line, reason) in cases {
            let err = Config::parse(text, "a.toml").expect_err(text).to_string();
            assert!(err.contains(&format!("line {line}:")), "{text:?}: {err}");
            assert!(err.contains(reason), "{text:?}: {err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }
}
