//! The importer on a hand-made fixture with every CSV quirk, and the invariants and anchors of
//! the embedded registry.

mod common;

use std::borrow::Cow;

use whoport::port::Protocol;
use whoport::registry::iana::{IanaTable, Origin, Status};
use whoport::registry::import::import_csv;

fn fixture_table() -> IanaTable {
    let bytes = std::fs::read(common::fixture("iana-quirks.csv")).expect("fixture");
    let imported = import_csv(&bytes, "fixture").expect("fixture imports");
    assert_eq!(imported.rows, 14);
    assert_eq!(
        imported.snapshot, "2026-03-01",
        "newest registration/modification date"
    );
    IanaTable::parse(Cow::Owned(imported.table), Origin::Embedded).expect("table parses")
}

fn names(t: &IanaTable, port: u16, p: Protocol) -> Vec<String> {
    t.status(port, p)
        .services
        .iter()
        .map(|e| e.name().into_owned())
        .collect()
}

#[test]
fn importer_handles_every_quirk() {
    let t = fixture_table();
    // BOM before the header: the header still matched and the first row is port 0.
    assert_eq!(t.status(0, Protocol::Tcp).status, Status::Reserved);
    // Several services on one port.
    assert_eq!(names(&t, 80, Protocol::Tcp), ["http", "www", "www-http"]);
    // A quoted field spanning lines keeps its line breaks; doubled quotes are unescaped.
    let www_http = t.by_name("www-http");
    let notes = www_http[0].notes();
    assert!(notes.contains("the \"http\" service.\n"), "{notes:?}");
    assert!(notes.contains("(see txtrecords.html#http)"), "{notes:?}");
    // A comma inside a quoted field.
    assert_eq!(t.by_name("quirky")[0].description(), "Quirky, with a comma");
    // Ranges resolve for every port inside them, on each protocol they name.
    for port in [6000, 6003, 6063] {
        assert_eq!(names(&t, port, Protocol::Tcp), ["x11"]);
        assert_eq!(names(&t, port, Protocol::Udp), ["x11"]);
    }
    assert!(names(&t, 6064, Protocol::Tcp).is_empty());
    // A protocol-less unassigned range covers TCP and UDP.
    assert_eq!(t.status(275, Protocol::Udp).status, Status::Unassigned);
    assert_eq!(t.status(275, Protocol::Udp).remarks.len(), 1);
    // SCTP and DCCP rows.
    assert_eq!(names(&t, 22, Protocol::Sctp), ["ssh"]);
    assert_eq!(names(&t, 9999, Protocol::Dccp), ["dccp-thing"]);
    assert_eq!(t.status(9999, Protocol::Tcp).status, Status::Unassigned);
    assert_eq!(
        t.protocols_for(22),
        [Protocol::Tcp, Protocol::Udp, Protocol::Sctp]
    );
    // A row without a port stays available by name.
    let argus = t.by_name("ARGUS");
    assert_eq!(argus.len(), 1);
    assert!(argus[0].ports.is_none());
    assert_eq!(t.portless(), 1);
    // Nameless "unassigned" rows keep their notes.
    let s = t.status(1895, Protocol::Tcp);
    assert_eq!(s.status, Status::Unassigned);
    assert!(s.remarks[0].notes().contains("Microsoft"));
}

#[test]
fn embedded_table_is_complete_and_consistent() {
    let t = IanaTable::embedded();
    assert!(t.len() > 14_000, "only {} rows", t.len());
    assert!(t.snapshot().len() >= 7 && t.snapshot().starts_with("20"));
    let counts = t.counts();
    let count = |p| counts.iter().find(|(q, _)| *q == p).map(|(_, n)| *n);
    assert!(count(Some(Protocol::Tcp)) > Some(6000));
    assert!(count(Some(Protocol::Udp)) > Some(6000));
    assert!(count(Some(Protocol::Sctp)) > Some(50));
    assert!(count(Some(Protocol::Dccp)) > Some(5));
    assert!(t.portless() > 500, "rows without a port are kept");
    for e in t.entries() {
        assert!(
            e.has_name() || e.ports.is_some(),
            "row with neither name nor port"
        );
    }
}

#[test]
fn embedded_anchors() {
    let t = IanaTable::embedded();
    assert_eq!(names(&t, 22, Protocol::Tcp), ["ssh"]);
    assert_eq!(names(&t, 443, Protocol::Tcp), ["https"]);
    assert_eq!(names(&t, 80, Protocol::Tcp), ["http", "www", "www-http"]);
    for port in [6000, 6031, 6063] {
        let s = t.status(port, Protocol::Tcp);
        assert_eq!(s.status, Status::Assigned);
        assert!(s.services.iter().any(|e| e.name() == "x11"), "{port}");
    }
    assert_eq!(t.status(49152, Protocol::Tcp).status, Status::Dynamic);
    assert_eq!(t.status(65535, Protocol::Udp).status, Status::Dynamic);
    assert_eq!(t.status(4, Protocol::Tcp).status, Status::Unassigned);
    assert_eq!(t.status(0, Protocol::Tcp).status, Status::Reserved);
    // IANA's own "unassigned but widespread use" note comes with the entry.
    let s = t.status(3000, Protocol::Tcp);
    assert!(s
        .services
        .iter()
        .any(|e| e.notes().contains("unassigned but widespread use")));
    // A port no row covers is unassigned, not an error.
    assert_eq!(t.status(4, Protocol::Dccp).status, Status::Unassigned);
}

#[test]
fn embedded_table_matches_the_importer_on_the_shared_csv() {
    let Some(csv) = common::shared_iana_csv() else {
        eprintln!("SKIPPED: ../shared/data/iana/service-names-port-numbers.csv not found");
        return;
    };
    let bytes = std::fs::read(&csv).expect("read shared CSV");
    let imported = import_csv(&bytes, "shared").expect("the real registry imports");
    let embedded = whoport::registry::iana::EMBEDDED;
    if !embedded.contains(&format!("#snapshot {}\n", imported.snapshot)) {
        eprintln!(
            "NOTE: the shared CSV (snapshot {}) is not the embedded snapshot; \
             regenerate src/registry/iana.tsv with 'whoport registry import'",
            imported.snapshot
        );
        return;
    }
    assert!(
        imported.table == embedded,
        "src/registry/iana.tsv differs from the importer's output for the same snapshot"
    );
}
