//! Finding services by the names people use: aliases, the services file actually read, the
//! wrong protocol named, and suggestions ranked by closeness; through the real binary.

mod common;

use common::{tempdir, whoport};
use serde_json::Value;

/// Runs whoport with `services` as the local services file; (status, stdout, stderr).
fn with_services(services: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let home = tempdir();
    let out = whoport(home.path())
        .env("WHOPORT_SERVICES_FILE", services)
        .args(args)
        .output()
        .expect("whoport runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ports(doc: &Value) -> Vec<u64> {
    doc["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .map(|p| p["port"].as_u64().expect("port"))
        .collect()
}

#[test]
fn common_names_resolve_without_a_services_file() {
    let dir = tempdir();
    let missing = dir.path().join("no-services");
    for (name, port) in [
        ("dns", 53),
        ("rdp", 3389),
        ("vnc", 5900),
        ("mongo", 27017),
        ("postgres", 5432),
        ("smb", 445),
        ("ntp", 123),
        ("ldap", 389),
        ("ldaps", 636),
        ("https-alt", 8443),
    ] {
        let (status, out, err) = with_services(&missing, &[name, "--json"]);
        assert!(status == 0 || status == 1, "{name}: {err}");
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(ports(&doc).contains(&port), "{name}: {doc}");
    }
}

#[test]
fn errors_name_the_services_file_used_and_the_protocol_it_has() {
    let dir = tempdir();
    let file = dir.path().join("services");
    std::fs::write(&file, "fsp\t\t21/udp\t\tfspd\n").expect("write");
    let (status, out, err) = with_services(&file, &["fsp/tcp"]);
    assert!(common::unknown_name(status, &out), "{out}{err}");
    assert!(
        err.contains("fsp is a UDP service (21/udp), not TCP"),
        "{err}"
    );
    assert!(!err.contains("did you mean 'fsp'"), "{err}");
    let (_, out, _) = with_services(&file, &["fsp/udp", "--json"]);
    let doc: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(ports(&doc), [21]);

    let (status, out, err) = with_services(&file, &["no-such-name-here"]);
    assert!(common::unknown_name(status, &out), "{out}{err}");
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(!err.contains("/etc/services"), "{err}");
}

#[test]
fn suggestions_come_closest_first() {
    let dir = tempdir();
    let missing = dir.path().join("no-services");
    let (status, out, err) = with_services(&missing, &["mongod"]);
    assert!(common::unknown_name(status, &out), "{out}{err}");
    assert!(err.contains("did you mean 'mongodb'"), "{err}");
    assert!(err.contains("was not used: No such file"), "{err}");
}

#[test]
fn a_program_is_found_by_its_full_name_even_of_several_words() {
    let dir = tempdir();
    let missing = dir.path().join("no-services");
    for (name, port) in [
        ("Apache Kafka", 9092),
        ("apache kafka", 9092),
        ("kubectl proxy", 8001),
        ("Geth (Ethereum)", 30303),
    ] {
        let (status, out, err) = with_services(&missing, &[name, "--json"]);
        assert!(status == 0 || status == 1, "{name}: {err}");
        let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(ports(&doc).contains(&port), "{name}: {doc}");
    }
    // A word of a name is not the program.
    let (status, out, err) = with_services(&missing, &["on Rails"]);
    assert!(common::unknown_name(status, &out), "{out}{err}");
    // What is not a name says what a name may hold.
    let (status, _, err) = with_services(&missing, &["ss;h"]);
    assert_eq!(status, 2);
    assert!(
        err.contains("letters, digits, spaces and - _ . + * ( ) only"),
        "{err}"
    );
}
