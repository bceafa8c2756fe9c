//! The listing's compact JSON, written the fast way, is byte for byte what serde_json writes
//! for the same document.

use crate::hash::{HashMap, HashMapExt};

use super::*;
use crate::model::{
    BlockedCall, Hidden, Scope, Snapshot, Socket, UnreadCause, UnreadHolders, WaitEntry,
};

fn socket(address: &str, port: u16, state: Option<&'static str>) -> Socket {
    Socket {
        protocol: if state.is_some() {
            Protocol::Tcp
        } else {
            Protocol::Udp
        },
        address: address.parse().expect("address"),
        port,
        state,
        remote: None,
        inode: u32::from(port) * 7,
        uid: Some(0),
        ifindex: 0,
        device_reported: true,
        v6only: None,
    }
}

fn listener(socket: Socket, owners: Vec<u32>) -> Listener {
    Listener {
        scope: Scope::of_socket(&socket),
        device: None,
        user: Some("root".into()),
        owners,
        hidden_reason: None,
        held_through: None,
        blocked_calls: Vec::new(),
        blocked_calls_cut: false,
        blocked_calls_unread: None,
        v6only: socket.v6only,
        known_use: None,
        socket,
    }
}

/// Listeners with every field filled or empty somewhere, text that must be escaped (quotes,
/// a newline, a control character, non-ASCII), owners shared and not, and a closed one.
fn snapshot() -> Snapshot {
    let mut listeners = Vec::new();
    listeners.push(listener(socket("0.0.0.0", 22, Some("listen")), vec![10]));
    let mut v6 = socket("::", 80, Some("listen"));
    v6.v6only = Some(false);
    v6.ifindex = 2;
    let mut web = listener(v6, vec![10, 11]);
    web.device = Some("eth\"0\n".into());
    web.user = Some("wé\u{1}b".into());
    web.known_use = crate::registry::unofficial::all().first();
    listeners.push(web);
    let mut nobody = listener(socket("127.0.0.1", 5353, None), Vec::new());
    nobody.user = None;
    nobody.socket.uid = None;
    nobody.hidden_reason = Some(Box::new(Hidden::NotRoot { hidepid: None }));
    nobody.held_through = Some("held by a system call in progress");
    nobody.blocked_calls = vec![BlockedCall {
        pid: 12,
        tid: 13,
        call: Some("accept4"),
        descriptor: Some(3),
        descriptor_closed: true,
        wait_entry: WaitEntry::Thread,
        io_worker: false,
        reading: false,
    }];
    nobody.blocked_calls_cut = true;
    nobody.blocked_calls_unread = Some(Box::new(UnreadHolders::of(vec![UnreadCause::new(
        vec![1],
        1,
        "refused \"here\"",
    )])));
    listeners.push(nobody);
    let mut bound = listener(socket("192.168.100.254", 8080, Some("listen")), vec![10]);
    bound.socket.ifindex = 3;
    bound.device = Some("eth1".into());
    listeners.push(bound);
    let mut link_local = socket("fe80::1", 8081, Some("listen"));
    link_local.ifindex = 2;
    let mut link_local = listener(link_local, vec![11]);
    link_local.device = Some("eth0".into());
    listeners.push(link_local);
    let mut connected = socket("10.0.0.1", 40000, Some("established"));
    connected.remote = Some(("10.0.0.2".parse().expect("address"), 443));
    listeners.push(listener(connected, vec![11]));
    let mut closed = listener(socket("127.0.0.1", 5354, Some("listen")), Vec::new());
    closed.hidden_reason = Some(Box::new(Hidden::ClosedDuringScan));
    let mut processes = HashMap::new();
    processes.insert(
        10,
        Process {
            pid: 10,
            name: "sshd".into(),
            exe: Some("/usr/sbin/sshd".into()),
            cmdline: vec!["sshd: \"a\"\n".into(), "-D".into()],
            uid: Some(0),
            user: Some("root".into()),
            ..Process::default()
        },
    );
    processes.insert(
        11,
        Process {
            pid: 11,
            name: "wéb\t".into(),
            not_read: true,
            ..Process::default()
        },
    );
    Snapshot {
        listeners,
        processes,
        notes: vec!["a note with \"quotes\"\n".into()],
        closed: vec![closed],
        owner_lookup: Some("bpf"),
        source: "netlink",
        ..Snapshot::default()
    }
}

#[test]
fn the_listing_written_the_fast_way_is_serde_jsons_own_bytes() {
    let k = crate::registry::Knowledge::load(None, &mut Vec::new()).expect("registry");
    let snap = snapshot();
    assert!(
        snap.closed.iter().all(Listener::closed_during_scan),
        "a closed one is listed"
    );
    for pretty in [false, true] {
        let doc = || ListingDoc {
            schema_version: SCHEMA_VERSION,
            listeners: ListenerDocs::new(&snap, &k).for_output(pretty),
            hidden_owners: 1,
            unattributed: snap
                .closed
                .iter()
                .map(|l| UnattributedDoc::new(l, &snap.processes))
                .collect(),
            asked_unread: AskedUnreadDoc::new(&(vec![7, 9], 3)),
            root: true,
            source: snap.source,
            owner_lookup: snap.owner_lookup,
            notes: &snap.notes,
        };
        let (mut fast, mut serde) = (Vec::new(), Vec::new());
        write_listing(&mut fast, pretty, &doc()).expect("fast");
        write(&mut serde, pretty, &doc()).expect("serde");
        assert_eq!(
            String::from_utf8_lossy(&fast),
            String::from_utf8_lossy(&serde),
            "pretty: {pretty}"
        );
        let parsed: serde_json::Value = serde_json::from_slice(&fast).expect("JSON");
        assert_eq!(parsed["listeners"].as_array().map(Vec::len), Some(7));
    }
}

/// A listing of a few thousand rows, with closed sockets merged in among them: the same
/// bytes as serde_json's, every row once and in order.
#[test]
fn a_long_listing_with_closed_sockets_among_its_rows_is_serde_jsons_own_bytes() {
    let k = crate::registry::Knowledge::load(None, &mut Vec::new()).expect("registry");
    let base = snapshot();
    let mut snap = snapshot();
    snap.listeners.clear();
    snap.closed.clear();
    for i in 0..400u16 {
        for (n, l) in base.listeners.iter().enumerate() {
            let mut l = l.clone();
            l.socket.port = 1000 + i * 10 + n as u16;
            snap.listeners.push(l);
        }
        if i % 97 == 0 {
            let mut closed = base.closed[0].clone();
            closed.socket.port = 1000 + i * 10 + 9;
            snap.closed.push(closed);
        }
    }
    let rows = snap.listeners.len() + snap.closed.len();
    assert!(rows > 1000, "{rows} rows");
    let doc = || ListingDoc {
        schema_version: SCHEMA_VERSION,
        listeners: ListenerDocs::new(&snap, &k).for_output(false),
        hidden_owners: 0,
        unattributed: Vec::new(),
        asked_unread: None,
        root: true,
        source: snap.source,
        owner_lookup: snap.owner_lookup,
        notes: &snap.notes,
    };
    let (mut fast, mut serde) = (Vec::new(), Vec::new());
    write_listing(&mut fast, false, &doc()).expect("fast");
    write(&mut serde, false, &doc()).expect("serde");
    assert!(fast == serde, "the two writings differ");
    let parsed: serde_json::Value = serde_json::from_slice(&fast).expect("JSON");
    let ports: Vec<u64> = parsed["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .map(|l| l["port"].as_u64().expect("port"))
        .collect();
    assert_eq!(ports.len(), rows);
    assert!(ports.windows(2).all(|w| w[0] < w[1]), "in order, each once");
}

/// Every IPv4 octet and edge port, IPv6 addresses (mapped, link-local), with and without a
/// device whose name needs escaping: an address and an endpoint written the fast way are
/// serde_json's bytes for the same value.
#[test]
fn addresses_and_endpoints_written_digit_by_digit_are_serde_jsons_own_bytes() {
    use crate::address::{Endpoint, Host};
    use std::net::{IpAddr, Ipv4Addr};
    let mut addresses: Vec<IpAddr> = (0..=255u8)
        .map(|o| IpAddr::V4(Ipv4Addr::new(o, 255 - o, o / 3, o.wrapping_mul(7))))
        .collect();
    for text in [
        "0.0.0.0",
        "255.255.255.255",
        "::",
        "::1",
        "::ffff:10.0.0.1",
        "fe80::1",
        "2001:db8::9",
    ] {
        addresses.push(text.parse().expect("address"));
    }
    let mut checked = 0;
    for address in addresses {
        let (mut fast, mut serde) = (Vec::new(), Vec::new());
        write_address(&mut fast, &Shown(address)).expect("fast");
        compact_value(&mut serde, &Shown(address)).expect("serde");
        assert_eq!(fast, serde, "{address}");
        for device in [None, Some("eth0"), Some("a\"b\\c\n")] {
            for port in [0, 1, 9, 10, 99, 100, 999, 1000, 9999, 10000, 65535] {
                let shown = Shown(Endpoint(Host(address, device), port));
                let (mut fast, mut serde) = (Vec::new(), Vec::new());
                write_endpoint(&mut fast, &shown).expect("fast");
                compact_value(&mut serde, &shown).expect("serde");
                assert_eq!(
                    String::from_utf8_lossy(&fast),
                    String::from_utf8_lossy(&serde),
                    "{address} {device:?} {port}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, (256 + 7) * 3 * 11);
}
