//! Property-based fuzzing of every parser that reads outside input: the IANA importer, the
//! compact-table loader, the port/range parser, the /proc/net parser and the baseline reader.
//! Random inputs and random mutations of the committed seeds (tests/fixtures/); any failure
//! proptest finds is saved in tests/fuzz.proptest-regressions and replayed first from then on.

mod common;

use std::borrow::Cow;

use proptest::prelude::*;
use whoport::audit::baseline::Baseline;
use whoport::collect::procnet;
use whoport::port::{Protocol, Query};
use whoport::registry::iana::{IanaTable, Origin};
use whoport::registry::import::import_csv;

fn seed(name: &str) -> Vec<u8> {
    std::fs::read(common::fixture(name)).expect("seed")
}

/// A seed with random bytes overwritten, inserted and removed.
fn mutated(seed: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = seed.len().max(1);
    prop::collection::vec((0..len, any::<u8>(), 0u8..3), 1..12).prop_map(move |edits| {
        let mut bytes = seed.clone();
        for (at, byte, op) in edits {
            let at = at.min(bytes.len());
            match op {
                0 if at < bytes.len() => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ if at < bytes.len() => {
                    bytes.remove(at);
                }
                _ => bytes.push(byte),
            }
        }
        bytes
    })
}

proptest! {
    // 256 cases each by default; PROPTEST_CASES=N for a longer session.

    #[test]
    fn importer_never_panics_on_mutated_csv(bytes in mutated(seed("iana-quirks.csv"))) {
        match import_csv(&bytes, "fuzz") {
            Ok(imported) => {
                // Whatever it accepts, it can load back.
                let table = IanaTable::parse(Cow::Owned(imported.table), Origin::Embedded);
                prop_assert!(table.is_ok(), "{:?}", table.err());
                prop_assert_eq!(table.map(|t| t.len()).unwrap_or(0), imported.rows);
            }
            Err(e) => prop_assert!(!e.to_string().contains('\n'), "one line: {}", e),
        }
    }

    #[test]
    fn importer_never_panics_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = import_csv(&bytes, "fuzz");
    }

    #[test]
    fn compact_table_loader_never_panics(text in "\\PC{0,300}") {
        let with_header = format!("#whoport-iana 1\n#snapshot x\n#rows 1\n{text}");
        let _ = IanaTable::parse(Cow::Owned(with_header), Origin::Embedded);
        let _ = IanaTable::parse(Cow::Owned(text), Origin::Embedded);
    }

    /// The shapes of a hostile installed table: any `#rows` text, any `#snapshot` text
    /// (control characters included), and rows with arbitrary ranges. Loaded or refused,
    /// never a panic; when loaded, every lookup agrees with a plain scan of the rows.
    #[test]
    fn compact_table_loader_survives_hostile_headers_and_ranges(
        declared in prop_oneof![
            any::<u64>().prop_map(|n| n.to_string()),
            Just("18446744073709551615".to_string()),
            Just("99999999999999999999999".to_string()),
            "\\PC{0,12}",
        ],
        snapshot in prop_oneof![Just("2026-03-01".to_string()), "\\PC{0,16}", "[\\x00-\\x1f]{1,4}"],
        ranges in prop::collection::vec((any::<u16>(), any::<u16>(), 0u8..5), 0..40),
        wide in 0usize..20,
        probes in prop::collection::vec(any::<u16>(), 1..8),
    ) {
        let mut rows: Vec<(u16, u16)> = ranges.iter().map(|&(a, b, _)| (a.min(b), a.max(b))).collect();
        rows.extend(std::iter::repeat_n((0, 65535), wide));
        for declared in [declared.clone(), rows.len().to_string()] {
            let mut text = format!("#whoport-iana 1\n#snapshot {snapshot}\n#rows {declared}\n");
            for (i, (a, b)) in rows.iter().enumerate() {
                text.push_str(&format!("s{i}\t{a}-{b}\ttcp\t\t\t\t\t\t\t\t\t\n"));
            }
            let Ok(table) = IanaTable::parse(Cow::Owned(text), Origin::Embedded) else {
                continue;
            };
            prop_assert_eq!(table.len(), rows.len());
            for &p in &probes {
                let found: Vec<String> = table.covering(p, Protocol::Tcp).map(|e| e.name().into_owned()).collect();
                let want: Vec<String> = rows
                    .iter()
                    .enumerate()
                    .filter(|(_, (a, b))| *a <= p && p <= *b)
                    .map(|(i, _)| format!("s{i}"))
                    .collect();
                prop_assert_eq!(found, want);
            }
        }
    }

    #[test]
    fn query_parser_never_panics(text in "\\PC{0,40}") {
        let _ = text.parse::<Query>();
    }

    #[test]
    fn ports_and_ranges_round_trip(a in any::<u16>(), b in any::<u16>()) {
        prop_assert_eq!(a.to_string().parse::<Query>(), Ok(Query::Port { port: a, protocol: None, address: None }));
        let (lo, hi) = (a.min(b), a.max(b));
        let q = format!("{lo}-{hi}/udp").parse::<Query>();
        prop_assert!(q.is_ok());
        if lo < hi {
            let reversed = format!("{hi}-{lo}");
            prop_assert!(reversed.parse::<Query>().is_err());
        }
        let too_big = (u32::from(a) + 65536).to_string();
        prop_assert!(too_big.parse::<Query>().is_err());
    }

    #[test]
    fn proc_net_parser_accounts_for_every_line(bytes in mutated(seed("fuzz/proc-net-tcp6.txt"))) {
        let text = String::from_utf8_lossy(&bytes);
        let parsed = procnet::parse(&text, Protocol::Tcp);
        // Every line is a socket or malformed; a socket listed twice (the same inode: a
        // mutation may make two lines alike) is kept once, and a socket without an inode
        // (inode 0: time-wait, request) is never a duplicate.
        let lines: Vec<&str> = text.lines().skip(1).filter(|l| !l.trim().is_empty()).collect();
        let understood: Vec<_> = lines.iter().filter_map(|l| procnet::parse_line(l, Protocol::Tcp)).collect();
        let without_inode = understood.iter().filter(|s| s.inode == 0).count();
        let distinct = understood.iter().map(|s| s.inode).filter(|&i| i != 0).collect::<std::collections::HashSet<_>>().len();
        prop_assert_eq!(parsed.malformed, lines.len() - understood.len());
        prop_assert_eq!(parsed.sockets.len(), distinct + without_inode);
    }

    #[test]
    fn proc_net_parser_never_panics_on_random_lines(text in "[ 0-9A-Fa-f:\\n]{0,400}") {
        let parsed = procnet::parse(&text, Protocol::Udp);
        prop_assert!(parsed.sockets.iter().all(|s| s.state.is_none()));
    }

    #[test]
    fn baseline_reader_never_panics(bytes in mutated(seed("fuzz/baseline.json"))) {
        if let Ok(b) = Baseline::parse(&bytes, "fuzz") {
            prop_assert_eq!(b.kind, "whoport-baseline");
            prop_assert_eq!(b.schema_version, 1);
        }
    }
}

#[test]
fn seeds_are_valid() {
    assert!(import_csv(&seed("iana-quirks.csv"), "seed").is_ok());
    assert!(Baseline::parse(&seed("fuzz/baseline.json"), "seed").is_ok());
    let text = String::from_utf8(seed("fuzz/proc-net-tcp6.txt")).expect("utf8");
    assert_eq!(procnet::parse(&text, Protocol::Tcp).sockets.len(), 2);
}

/// The kernel lists a socket twice when a read resumes by position within a bucket whose
/// sockets changed: the second line is not a socket of its own, nor malformed.
#[test]
fn proc_net_parser_keeps_a_socket_listed_twice_once() {
    let text = String::from_utf8(seed("fuzz/proc-net-tcp6.txt")).expect("utf-8");
    let mut lines: Vec<&str> = text.lines().collect();
    for copy in 1..lines.len() {
        lines.push(lines[copy]);
        let parsed = procnet::parse(&lines.join("\n"), Protocol::Tcp);
        assert_eq!(parsed.malformed, 0);
        assert_eq!(parsed.sockets.len(), 2, "{lines:?}");
        lines.pop();
    }
}
