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
pub const VERSION: u32 = 2;
/// The version before the bound device and IPV6_V6ONLY were remembered: still read, and
/// compared without them.
pub const VERSION_WITHOUT_REACH: u32 = 1;

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
    #[error("'{path}' is not a whoport baseline (expected \"kind\": \"{KIND}\", \"schema_version\": {VERSION_WITHOUT_REACH} or {VERSION})")]
    Foreign { path: String },
}

/// One listener as remembered.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub protocol: Protocol,
    pub address: String,
    pub port: u16,
    /// The device the socket is bound to (`SO_BINDTODEVICE`); absent when it is bound to none,
    /// and in a version 1 baseline, which did not remember it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// An IPv6 listener's IPV6_V6ONLY (`false`: it takes IPv4 too); absent when not reported
    /// (sockets read from `/proc/net`), and in a version 1 baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v6only: Option<bool>,
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
    /// or an owner exited, was replaced or covered during the scan, was not read in time, or
    /// its name was not read (`hidepid`, a file mounted over its `stat`): stored with no name
    /// (older baselines stored the placeholder's name).
    pub fn seen(&self) -> bool {
        !self.names.is_empty()
            && !self.names.iter().any(|n| {
                PLACEHOLDERS.contains(&n.as_str())
                    || (n.starts_with("[/proc/")
                        && (n.ends_with(" covered by a mount]")
                            || (n.contains(" hidden from this user (hidepid=")
                                && n.ends_with(")]"))))
            })
    }

    pub fn of(l: &Listener, snap: &Snapshot) -> Entry {
        let mut owners: Vec<_> = l
            .owners
            .iter()
            .filter_map(|p| snap.processes.get(p))
            .collect();
        if owners.len() < l.owners.len() || owners.iter().any(|p| p.not_read || p.name_unknown) {
            // What one owner runs is not known (not read, or its name not read: hidden from
            // this user by `hidepid`, a file mounted over its `stat`): none is remembered, as
            // for a hidden owner, never a placeholder as its name.
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
            device: l.device.clone(),
            v6only: l.v6only,
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
        let version = header.schema_version.as_ref().and_then(|v| v.as_u64());
        if header.kind.as_ref().and_then(|k| k.as_str()) != Some(KIND)
            || !matches!(version, Some(v) if v == u64::from(VERSION) || v == u64::from(VERSION_WITHOUT_REACH))
        {
            return Err(foreign());
        }
        serde_json::from_slice(bytes).map_err(corrupt)
    }

    /// Whether it remembers each listener's bound device and IPV6_V6ONLY (not version 1).
    pub fn remembers_reach(&self) -> bool {
        self.schema_version != VERSION_WITHOUT_REACH
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

/// For each current listener (`current[i]` describes listener `i`), the index of the one
/// remembered that it is: the same protocol, address and port, and (where the baseline
/// remembers them, `reach`) the same bound device and, where both runs read it, the same
/// IPV6_V6ONLY. A listener that went from `0.0.0.0%lo` to `0.0.0.0`, or from IPv6 only to IPv4
/// and IPv6, is then none of those remembered.
fn matching(baseline: &[Entry], current: &[Entry], reach: bool) -> Vec<Option<usize>> {
    let mut before: BTreeMap<(Protocol, &str, u16), Vec<usize>> = BTreeMap::new();
    for (j, e) in baseline.iter().enumerate() {
        before.entry(e.key()).or_default().push(j);
    }
    current
        .iter()
        .map(|e| {
            before.get(&e.key()).and_then(|candidates| {
                candidates
                    .iter()
                    .copied()
                    .find(|&j| !reach || same_reach(&baseline[j], e))
            })
        })
        .collect()
}

/// The same bound device, and the same IPV6_V6ONLY where both runs read it.
fn same_reach(before: &Entry, now: &Entry) -> bool {
    before.device == now.device
        && (before.v6only.is_none() || now.v6only.is_none() || before.v6only == now.v6only)
}

/// The listeners here and in the baseline whose owners were not seen in one of the two runs,
/// so not compared (`current[i]` describes listener `i`): their indices.
pub fn not_compared(baseline: &[Entry], current: &[Entry], reach: bool) -> Vec<usize> {
    matching(baseline, current, reach)
        .into_iter()
        .enumerate()
        .filter(|&(i, j)| j.is_some_and(|j| !baseline[j].seen() || !current[i].seen()))
        .map(|(i, _)| i)
        .collect()
}

/// Compares the current listeners (`current[i]` describes listener `i`) with a baseline
/// (see [`matching`] for which listener is which).
pub fn diff(baseline: &[Entry], current: &[Entry], reach: bool) -> Vec<Change> {
    let mut matched = vec![false; baseline.len()];
    let mut changes = Vec::new();
    for (i, (e, j)) in current
        .iter()
        .zip(matching(baseline, current, reach))
        .enumerate()
    {
        let Some(j) = j else {
            changes.push(Change::New(i));
            continue;
        };
        matched[j] = true;
        let b = &baseline[j];
        // An owner not seen in either run is not compared (see `not_compared`).
        if b.seen() && e.seen() && (b.exes != e.exes || b.names != e.names || b.users != e.users) {
            changes.push(Change::OwnerChanged {
                index: i,
                before: b.clone(),
                exe_changed: b.exes != e.exes,
            });
        }
    }
    for (j, e) in baseline.iter().enumerate() {
        if !matched[j] {
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
            device: None,
            v6only: None,
            exes: vec![exe.into()],
            names: vec![exe.rsplit('/').next().unwrap_or(exe).into()],
            users: vec![user.into()],
        }
    }

    #[test]
    fn an_owner_whose_name_was_not_read_is_stored_as_not_seen_never_by_its_placeholder() {
        use crate::model::{Process, Scope, Socket};
        let address = "127.0.0.1".parse().expect("ip");
        let snap = |owner: Process| {
            let listener = Listener {
                socket: Socket {
                    protocol: Protocol::Tcp,
                    address,
                    port: 8080,
                    state: Some("listen"),
                    remote: None,
                    inode: 1,
                    uid: Some(33),
                    ifindex: 0,
                    device_reported: true,
                    v6only: None,
                },
                scope: Scope::of(address),
                device: None,
                user: Some("www-data".into()),
                owners: vec![owner.pid],
                hidden_reason: None,
                held_through: None,
                blocked_calls: Vec::new(),
                blocked_calls_cut: false,
                blocked_calls_unread: None,
                v6only: None,
                known_use: None,
            };
            Snapshot {
                listeners: vec![listener],
                processes: std::iter::once((owner.pid, owner)).collect(),
                ..Snapshot::default()
            }
        };
        let read = Process {
            pid: 4242,
            name: "nginx".into(),
            exe: Some("/usr/sbin/nginx".into()),
            uid: Some(33),
            user: Some("www-data".into()),
            ..Process::default()
        };
        let s = snap(read);
        let e = Entry::of(&s.listeners[0], &s);
        assert_eq!(
            (e.names, e.exes),
            (
                vec!["nginx".to_string()],
                vec!["/usr/sbin/nginx".to_string()]
            )
        );
        for owner in [
            Process::hidden(4242, "2"),
            Process::covered_file(4242, "stat"),
            Process::covered(4242),
        ] {
            let s = snap(owner.clone());
            let e = Entry::of(&s.listeners[0], &s);
            assert!(
                e.names.is_empty() && e.exes.is_empty() && !e.seen(),
                "{owner:?}: {e:?}"
            );
            // The socket's user, as for an owner not seen.
            assert_eq!(e.users, vec!["www-data".to_string()], "{owner:?}");
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
        let changes = diff(&base, &now, true);
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
        let gone = diff(&now, &base, true);
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
            placeholder("[/proc/4242/stat covered by a mount]"),
            placeholder("[/proc/4242 hidden from this user (hidepid=2)]"),
        ];
        for other in unseen {
            assert!(!other.seen(), "{other:?}");
            let pair = [seen.clone()];
            let others = [other.clone()];
            assert_eq!(diff(&pair, &others, true), Vec::new(), "{other:?}");
            assert_eq!(diff(&others, &pair, true), Vec::new(), "{other:?}");
            assert_eq!(not_compared(&pair, &others, true), vec![0]);
            assert_eq!(not_compared(&others, &pair, true), vec![0]);
        }
        assert!(seen.seen());
        let one = std::slice::from_ref(&seen);
        assert_eq!(not_compared(one, one, true), Vec::<usize>::new());
    }

    #[test]
    fn a_listener_whose_device_or_v6only_changed_is_new_where_the_baseline_remembers_them() {
        let bound = |device: Option<&str>, v6only: Option<bool>| Entry {
            device: device.map(String::from),
            v6only,
            ..entry(80, "/usr/sbin/nginx", "root")
        };
        let news = |base: &Entry, now: &Entry, reach| {
            let changes = diff(std::slice::from_ref(base), std::slice::from_ref(now), reach);
            (
                changes.contains(&Change::New(0)),
                changes.contains(&Change::Gone(base.clone())),
            )
        };
        let lo = bound(Some("lo"), None);
        assert_eq!(news(&lo, &bound(None, None), true), (true, true));
        assert_eq!(news(&lo, &bound(Some("lo"), None), true), (false, false));
        // A version 1 baseline did not remember the device: nothing is said of it.
        assert_eq!(news(&bound(None, None), &lo, false), (false, false));
        let v6only = bound(None, Some(true));
        assert_eq!(news(&v6only, &bound(None, Some(false)), true), (true, true));
        // IPV6_V6ONLY not read in one of the runs (/proc/net): not compared.
        assert_eq!(news(&v6only, &bound(None, None), true), (false, false));
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
        let newer = br#"{"kind": "whoport-baseline", "schema_version": 3, "created": "", "host": null, "listeners": []}"#;
        assert!(Baseline::parse(newer, "b.json").is_err());
        let older = br#"{"kind": "whoport-baseline", "schema_version": 1, "created": "", "host": null, "listeners": []}"#;
        assert!(!Baseline::parse(older, "b.json")
            .expect("read")
            .remembers_reach());
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
