//! Baselines: the listeners of a moment, saved as JSON (atomically) and compared later.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::input_file::{self, Found};
use crate::model::{Listener, Snapshot};
use crate::port::Protocol;

/// What a baseline file says about itself.
pub const KIND: &str = "whoport-baseline";
pub const VERSION: u32 = 1;

/// A baseline file that cannot be used.
#[derive(Debug, Error)]
pub enum BaselineError {
    #[error("cannot read baseline '{path}': {source}")]
    Read {
        path: String,
        source: crate::input_file::ReadError,
    },
    #[error("baseline '{path}' is empty")]
    Empty { path: String },
    #[error("baseline '{path}' is not valid JSON (truncated or corrupt?): {reason}")]
    Corrupt { path: String, reason: String },
    #[error("'{path}' is not a whoport baseline (expected \"kind\": \"{KIND}\", \"schema_version\": {VERSION})")]
    Foreign { path: String },
}

/// One listener as remembered.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub protocol: Protocol,
    pub address: String,
    pub port: u16,
    /// Executables of the owning processes (sorted; empty when hidden).
    pub exes: Vec<String>,
    /// Names of the owning processes (sorted; empty when any owner was not seen: see
    /// [`Entry::seen`]).
    pub names: Vec<String>,
    /// Users of the owning processes, or the socket's user when hidden (sorted).
    pub users: Vec<String>,
}

/// The names a baseline written before owners not seen were stored as such gives them.
const PLACEHOLDERS: [&str; 2] = ["[exited during scan]", "[process changed during scan]"];

impl Entry {
    pub fn key(&self) -> (Protocol, &str, u16) {
        (self.protocol, &self.address, self.port)
    }

    /// Were its owners seen, every one of them read? Not when the socket's owner was hidden,
    /// or an owner exited, was replaced or covered during the scan, or was not read in time:
    /// stored with no name (older baselines stored the placeholder's name).
    pub fn seen(&self) -> bool {
        !self.names.is_empty()
            && !self.names.iter().any(|n| {
                PLACEHOLDERS.contains(&n.as_str())
                    || (n.starts_with("[/proc/") && n.ends_with(" covered by a mount]"))
            })
    }

    pub fn of(l: &Listener, snap: &Snapshot) -> Entry {
        let mut owners: Vec<_> = l
            .owners
            .iter()
            .filter_map(|p| snap.processes.get(p))
            .collect();
        if owners.len() < l.owners.len() || owners.iter().any(|p| p.not_read) {
            // What one owner runs is not known: none is remembered, as for a hidden owner.
            owners.clear();
        }
        let mut exes: Vec<String> = owners.iter().filter_map(|p| p.exe.clone()).collect();
        let mut names: Vec<String> = owners.iter().map(|p| p.name.clone()).collect();
        let mut users: Vec<String> = owners
            .iter()
            .filter_map(|p| p.user.clone().or_else(|| p.uid.map(|u| u.to_string())))
            .collect();
        if owners.is_empty() {
            users.extend(
                l.user
                    .clone()
                    .or_else(|| l.socket.uid.map(|u| u.to_string())),
            );
        }
        for v in [&mut exes, &mut names, &mut users] {
            v.sort();
            v.dedup();
        }
        Entry {
            protocol: l.socket.protocol,
            address: l.socket.address.to_string(),
            port: l.socket.port,
            exes,
            names,
            users,
        }
    }
}

/// The file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub kind: String,
    pub schema_version: u32,
    /// RFC 3339, UTC.
    pub created: String,
    pub host: Option<String>,
    pub listeners: Vec<Entry>,
}

impl Baseline {
    pub fn of(snap: &Snapshot, created: String, host: Option<String>) -> Baseline {
        let mut listeners: Vec<Entry> = snap.listeners.iter().map(|l| Entry::of(l, snap)).collect();
        listeners.sort();
        listeners.dedup();
        Baseline {
            kind: KIND.to_string(),
            schema_version: VERSION,
            created,
            host,
            listeners,
        }
    }

    /// Reads and checks a baseline; never modifies the file.
    pub fn read(path: &Path) -> Result<Baseline, BaselineError> {
        let name = path.display().to_string();
        let bytes =
            input_file::read(path, input_file::BASELINE_LIMIT, Found::Named).map_err(|source| {
                BaselineError::Read {
                    path: name.clone(),
                    source,
                }
            })?;
        Self::parse(&bytes, &name)
    }

    pub fn parse(bytes: &[u8], name: &str) -> Result<Baseline, BaselineError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(BaselineError::Empty {
                path: name.to_string(),
            });
        }
        // First only what the file says about itself (nothing else is kept in memory), then
        // the typed listeners: never a generic JSON tree of an arbitrary file.
        #[derive(Deserialize)]
        struct Header {
            kind: Option<serde_json::Value>,
            schema_version: Option<serde_json::Value>,
        }
        let corrupt = |e: serde_json::Error| BaselineError::Corrupt {
            path: name.to_string(),
            reason: e.to_string(),
        };
        let foreign = || BaselineError::Foreign {
            path: name.to_string(),
        };
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            // Valid JSON but not an object is foreign; anything else corrupt.
            return Err(
                match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                    Ok(_) => foreign(),
                    Err(e) => corrupt(e),
                },
            );
        }
        let header: Header = serde_json::from_slice(bytes).map_err(|e| {
            if e.classify() == serde_json::error::Category::Data {
                foreign()
            } else {
                corrupt(e)
            }
        })?;
        if header.kind.as_ref().and_then(|k| k.as_str()) != Some(KIND)
            || header.schema_version.as_ref().and_then(|v| v.as_u64()) != Some(u64::from(VERSION))
        {
            return Err(foreign());
        }
        serde_json::from_slice(bytes).map_err(corrupt)
    }

    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// A change since the baseline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    New(usize),
    Gone(Entry),
    OwnerChanged {
        index: usize,
        before: Entry,
        exe_changed: bool,
    },
}

fn by_key(baseline: &[Entry]) -> BTreeMap<(Protocol, &str, u16), &Entry> {
    baseline.iter().map(|e| (e.key(), e)).collect()
}

/// The listeners here and in the baseline whose owners were not seen in one of the two runs,
/// so not compared (`current[i]` describes listener `i`): their indices.
pub fn not_compared(baseline: &[Entry], current: &[Entry]) -> Vec<usize> {
    let before = by_key(baseline);
    current
        .iter()
        .enumerate()
        .filter(|(_, e)| before.get(&e.key()).is_some_and(|b| !b.seen() || !e.seen()))
        .map(|(i, _)| i)
        .collect()
}

/// Compares the current listeners (`current[i]` describes listener `i`) with a baseline.
pub fn diff(baseline: &[Entry], current: &[Entry]) -> Vec<Change> {
    let before = by_key(baseline);
    let now: BTreeMap<(Protocol, &str, u16), usize> = current
        .iter()
        .enumerate()
        .map(|(i, e)| (e.key(), i))
        .collect();
    let mut changes = Vec::new();
    for (i, e) in current.iter().enumerate() {
        match before.get(&e.key()) {
            None => changes.push(Change::New(i)),
            // An owner not seen in either run is not compared (see `not_compared`).
            Some(b) if !b.seen() || !e.seen() => {}
            Some(b) if b.exes != e.exes || b.names != e.names || b.users != e.users => {
                changes.push(Change::OwnerChanged {
                    index: i,
                    before: (*b).clone(),
                    exe_changed: b.exes != e.exes,
                });
            }
            Some(_) => {}
        }
    }
    for e in baseline {
        if !now.contains_key(&e.key()) {
            changes.push(Change::Gone(e.clone()));
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(port: u16, exe: &str, user: &str) -> Entry {
        Entry {
            protocol: Protocol::Tcp,
            address: "127.0.0.1".into(),
            port,
            exes: vec![exe.into()],
            names: vec![exe.rsplit('/').next().unwrap_or(exe).into()],
            users: vec![user.into()],
        }
    }

    #[test]
    fn diffs() {
        let base = vec![
            entry(22, "/usr/sbin/sshd", "root"),
            entry(80, "/usr/sbin/nginx", "root"),
            entry(5432, "/usr/bin/postgres", "postgres"),
        ];
        let now = vec![
            entry(22, "/usr/sbin/sshd", "root"),
            entry(80, "/tmp/evil", "root"),
            entry(5432, "/usr/bin/postgres", "nobody"),
            entry(8080, "/usr/bin/java", "app"),
        ];
        let changes = diff(&base, &now);
        assert_eq!(changes.len(), 3);
        assert!(changes.contains(&Change::New(3)));
        assert!(changes.iter().any(|c| matches!(
            c,
            Change::OwnerChanged {
                index: 1,
                exe_changed: true,
                ..
            }
        )));
        assert!(changes.iter().any(|c| matches!(
            c,
            Change::OwnerChanged {
                index: 2,
                exe_changed: false,
                ..
            }
        )));
        let gone = diff(&now, &base);
        assert!(gone.contains(&Change::Gone(entry(8080, "/usr/bin/java", "app"))));
    }

    #[test]
    fn an_owner_not_seen_in_either_run_is_not_compared() {
        let seen = entry(22, "/usr/sbin/sshd", "root");
        let hidden = Entry {
            exes: Vec::new(),
            names: Vec::new(),
            ..seen.clone()
        };
        // As older baselines stored an owner that exited or was replaced during the scan.
        let placeholder = |name: &str| Entry {
            exes: Vec::new(),
            names: vec![name.to_string()],
            users: Vec::new(),
            ..seen.clone()
        };
        let unseen = [
            hidden,
            placeholder("[exited during scan]"),
            placeholder("[process changed during scan]"),
            placeholder("[/proc/4242 covered by a mount]"),
        ];
        for other in unseen {
            assert!(!other.seen(), "{other:?}");
            let pair = [seen.clone()];
            let others = [other.clone()];
            assert_eq!(diff(&pair, &others), Vec::new(), "{other:?}");
            assert_eq!(diff(&others, &pair), Vec::new(), "{other:?}");
            assert_eq!(not_compared(&pair, &others), vec![0]);
            assert_eq!(not_compared(&others, &pair), vec![0]);
        }
        assert!(seen.seen());
        let one = std::slice::from_ref(&seen);
        assert_eq!(not_compared(one, one), Vec::<usize>::new());
    }

    #[test]
    fn refuses_bad_files() {
        let cases: [(&[u8], &str); 6] = [
            (b"", "is empty"),
            (b"  \n", "is empty"),
            (
                b"{\"kind\": \"whoport-baseline\", \"schema_ver",
                "not valid JSON",
            ),
            (b"\xff\xfe", "not valid JSON"),
            (
                b"{\"kind\": \"something-else\", \"schema_version\": 1}",
                "not a whoport baseline",
            ),
            (b"[1, 2, 3]", "not a whoport baseline"),
        ];
        for (bytes, want) in cases {
            let err = Baseline::parse(bytes, "b.json").expect_err("refused");
            assert!(err.to_string().contains(want), "{err}");
        }
        let newer = br#"{"kind": "whoport-baseline", "schema_version": 2, "created": "", "host": null, "listeners": []}"#;
        assert!(Baseline::parse(newer, "b.json").is_err());
    }

    #[test]
    fn round_trips() {
        let b = Baseline {
            kind: KIND.into(),
            schema_version: VERSION,
            created: "2026-11-26T00:00:00Z".into(),
            host: Some("h".into()),
            listeners: vec![entry(22, "/usr/sbin/sshd", "root")],
        };
        let back = Baseline::parse(b.to_json().as_bytes(), "b").expect("parses");
        assert_eq!(back.listeners, b.listeners);
    }
}
