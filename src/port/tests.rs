//! Unit tests of `port`.

use super::*;

fn port(port: u16, protocol: Option<Protocol>) -> Query {
    Query::Port {
        port,
        protocol,
        address: None,
    }
}

fn at(address: &str, zone: Option<&str>, port: u16, protocol: Option<Protocol>) -> Query {
    Query::Port {
        port,
        protocol,
        address: Some(AddressPattern::Exact {
            address: address.parse().expect("ip"),
            zone: zone.map(str::to_string),
        }),
    }
}

#[test]
fn parses_what_people_paste() {
    let tcp = Some(Protocol::Tcp);
    let cases = [
        ("0.0.0.0:22", at("0.0.0.0", None, 22, None)),
        ("127.0.0.1:5432", at("127.0.0.1", None, 5432, None)),
        ("[::]:22", at("::", None, 22, None)),
        ("[::1]:8080", at("::1", None, 8080, None)),
        (":::22", at("::", None, 22, None)),
        ("::1:8080", at("::1", None, 8080, None)),
        ("[fe80::1%lo]:42600", at("fe80::1", Some("lo"), 42600, None)),
        ("[fe80::1]%lo:42600", at("fe80::1", Some("lo"), 42600, None)),
        ("0.0.0.0%lo:8080", at("0.0.0.0", Some("lo"), 8080, None)),
        (
            "[::ffff:127.0.0.1]:80",
            at("::ffff:127.0.0.1", None, 80, None),
        ),
        ("0.0.0.0:22/tcp", at("0.0.0.0", None, 22, tcp)),
        ("tcp/22", port(22, tcp)),
        ("22/tcp", port(22, tcp)),
        ("UDP/53", port(53, Some(Protocol::Udp))),
        (
            "*:22",
            Query::Port {
                port: 22,
                protocol: None,
                address: Some(AddressPattern::Wildcard { zone: None }),
            },
        ),
        (
            "*%lo:22",
            Query::Port {
                port: 22,
                protocol: None,
                address: Some(AddressPattern::Wildcard {
                    zone: Some("lo".into()),
                }),
            },
        ),
        ("[::]%lo:22", at("::", Some("lo"), 22, None)),
        ("0.0.0.0%2:22\n", at("0.0.0.0", Some("2"), 22, None)),
        (
            "localhost:3000",
            Query::Port {
                port: 3000,
                protocol: None,
                address: Some(AddressPattern::Loopback),
            },
        ),
    ];
    for (text, want) in cases {
        assert_eq!(text.parse::<Query>(), Ok(want), "{text}");
    }
}

#[test]
fn netstats_protocol_with_a_family_is_that_protocol_over_that_family() {
    let tcp22 = Query::Port {
        port: 22,
        protocol: Some(Protocol::Tcp),
        address: None,
    };
    for (text, family) in [
        ("tcp6/22", Family::V6),
        ("22/tcp6", Family::V6),
        ("TCP4/22", Family::V4),
        ("22/tcp4", Family::V4),
    ] {
        assert_eq!(text.parse::<Query>(), Ok(tcp22.clone()), "{text}");
        assert_eq!(query_family(text), Some(family), "{text}");
    }
    assert_eq!(query_family("udp6/53"), Some(Family::V6));
    assert_eq!(
        "udp6/53".parse::<Query>().map(|q| q.protocol()),
        Ok(Some(Protocol::Udp))
    );
    assert_eq!(query_family("nginx/udp4"), Some(Family::V4));
    for text in ["22/tcp", "tcp/22", "22", "nginx", "tcp6", "0.0.0.0:22/udp"] {
        assert_eq!(query_family(text), None, "{text}");
    }
    // A zone is an index that fits the kernel's 32 bits, or a name of 15 bytes at most.
    assert!("[fe80::1%4294967295]:22".parse::<Query>().is_ok());
    assert!("[fe80::1%a-name-of-15-by]:22".parse::<Query>().is_ok());
    // netstat's unbracketed forms stay ADDRESS:PORT.
    for (text, address) in [
        ("::1:22", "::1"),
        (":::22", "::"),
        ("fe80::1:22", "fe80::1"),
    ] {
        assert_eq!(
            text.parse::<Query>(),
            Ok(Query::Port {
                port: 22,
                protocol: None,
                address: Some(AddressPattern::Exact {
                    address: address.parse().expect("ip"),
                    zone: None
                }),
            }),
            "{text}"
        );
    }
}

#[test]
fn never_resolves_a_host_name() {
    for text in [
        "db.example.org:5432",
        "myhost:22",
        "[::1:80",
        "[::1]x:80",
        "1.2.3:80",
        "[fe80::1%lo%lo]:1",
        "[fe80::1%lo]%lo:1",
        "[fe80::1%]:1",
        "[fe80::1%a:b]:1",
        "[fe80::1%0123456789abcdef]:1",
        "*%:22",
        "*%lo%lo:22",
        "*%a:b:22",
        "* %lo:22",
    ] {
        let e = text.parse::<Query>().expect_err(text);
        assert!(
            matches!(
                e,
                QueryError::HostName { .. }
                    | QueryError::BadAddress { .. }
                    | QueryError::BadZone { .. }
            ),
            "{text}: {e:?}"
        );
    }
    assert!(matches!(
        "db.example.org:5432".parse::<Query>(),
        Err(QueryError::HostName { .. })
    ));
    assert!(matches!(
        "0.0.0.0:99999".parse::<Query>(),
        Err(QueryError::PortOutOfRange { .. })
    ));
}

#[test]
fn parses_good_queries() {
    let cases = [
        ("2668", port(2668, None)),
        (":8080", port(8080, None)),
        ("53/udp", port(53, Some(Protocol::Udp))),
        ("53/udplite", port(53, Some(Protocol::Udplite))),
        ("UDPLITE/53", port(53, Some(Protocol::Udplite))),
        ("2668/TCP", port(2668, Some(Protocol::Tcp))),
        ("0", port(0, None)),
        ("65535", port(65535, None)),
        ("80-80", port(80, None)),
        (
            "8000-8100",
            Query::Range {
                range: PortRange {
                    start: 8000,
                    end: 8100,
                },
                protocol: None,
            },
        ),
        (
            "ssh",
            Query::Service {
                name: "ssh".into(),
                protocol: None,
            },
        ),
        (
            "www-http/tcp",
            Query::Service {
                name: "www-http".into(),
                protocol: Some(Protocol::Tcp),
            },
        ),
    ];
    for (text, want) in cases {
        assert_eq!(text.parse::<Query>(), Ok(want), "{text}");
    }
}

#[test]
fn takes_program_names_in_any_script() {
    for name in [
        "caf\u{e9}-daemon",
        "\u{434}\u{435}\u{43c}\u{43e}\u{43d}",
        "\u{30b5}\u{30fc}\u{30d0}",
    ] {
        assert_eq!(
            name.parse::<Query>(),
            Ok(Query::Service {
                name: name.to_string(),
                protocol: None
            }),
            "{name}"
        );
    }
    assert_eq!(
        "caf\u{e9}-daemon/udp".parse::<Query>(),
        Ok(Query::Service {
            name: "caf\u{e9}-daemon".to_string(),
            protocol: Some(Protocol::Udp)
        })
    );
}

#[test]
fn refuses_bad_queries() {
    let cases = [
        (
            "65536",
            QueryError::PortOutOfRange {
                value: "65536".into(),
            },
        ),
        (
            "99999999999",
            QueryError::PortOutOfRange {
                value: "99999999999".into(),
            },
        ),
        ("-1", QueryError::SignedPort { value: "-1".into() }),
        (
            "+22",
            QueryError::SignedPort {
                value: "+22".into(),
            },
        ),
        (
            "::1",
            QueryError::AddressWithoutPort {
                value: "::1".into(),
                example: "[::1]:PORT".into(),
            },
        ),
        (
            "[::1]/tcp",
            QueryError::AddressWithoutPort {
                value: "[::1]/tcp".into(),
                example: "[::1]:PORT".into(),
            },
        ),
        (
            "127.0.0.1",
            QueryError::AddressWithoutPort {
                value: "127.0.0.1".into(),
                example: "127.0.0.1:PORT".into(),
            },
        ),
        (
            "fe80::1%lo",
            QueryError::AddressWithoutPort {
                value: "fe80::1%lo".into(),
                example: "[fe80::1%lo]:PORT".into(),
            },
        ),
        (
            "[fe80::1%99999999999]:22",
            QueryError::BadZone {
                value: "[fe80::1%99999999999]:22".into(),
                zone: "99999999999".into(),
            },
        ),
        (
            "fe80::1%4294967296",
            QueryError::BadZone {
                value: "fe80::1%4294967296".into(),
                zone: "4294967296".into(),
            },
        ),
        (
            "*%0:22",
            QueryError::BadZone {
                value: "*%0:22".into(),
                zone: "0".into(),
            },
        ),
        (
            "[fe80::1%a-name-of-16-bytes]:22",
            QueryError::BadZone {
                value: "[fe80::1%a-name-of-16-bytes]:22".into(),
                zone: "a-name-of-16-bytes".into(),
            },
        ),
        (
            "22/tcp7",
            QueryError::BadProtocol {
                value: "22/tcp7".into(),
                protocol: "tcp7".into(),
            },
        ),
        (
            "80-20",
            QueryError::ReversedRange {
                value: "80-20".into(),
            },
        ),
        ("", QueryError::Empty),
        ("   ", QueryError::Empty),
        (
            "8080x",
            QueryError::BadPort {
                value: "8080x".into(),
            },
        ),
        (
            "80-",
            QueryError::BadPort {
                value: "80-".into(),
            },
        ),
        (
            "/tcp",
            QueryError::BadPort {
                value: "/tcp".into(),
            },
        ),
        (
            "ss;h",
            QueryError::BadServiceName {
                value: "ss;h".into(),
            },
        ),
        (
            "2668/xyz",
            QueryError::BadProtocol {
                value: "2668/xyz".into(),
                protocol: "xyz".into(),
            },
        ),
        // The port is after the slash: the word before it is the unknown protocol.
        (
            "tcp46/22",
            QueryError::BadProtocol {
                value: "tcp46/22".into(),
                protocol: "tcp46".into(),
            },
        ),
        (
            "/22",
            QueryError::MissingProtocol {
                value: "/22".into(),
                side: "before",
            },
        ),
        (
            "22/",
            QueryError::MissingProtocol {
                value: "22/".into(),
                side: "after",
            },
        ),
        // A bidirectional override is no letter; digits of another script are no name.
        (
            "caf\u{e9}\u{202e}",
            QueryError::BadServiceName {
                value: "caf\u{e9}\u{202e}".into(),
            },
        ),
        (
            "\u{662}\u{662}",
            QueryError::BadServiceName {
                value: "\u{662}\u{662}".into(),
            },
        ),
    ];
    for (text, want) in cases {
        assert_eq!(text.parse::<Query>(), Err(want), "{text}");
    }
}

#[test]
fn tiers_have_iana_bounds() {
    assert_eq!(Tier::of(0), Tier::WellKnown);
    assert_eq!(Tier::of(1023), Tier::WellKnown);
    assert_eq!(Tier::of(1024), Tier::Registered);
    assert_eq!(Tier::of(49151), Tier::Registered);
    assert_eq!(Tier::of(49152), Tier::Dynamic);
    assert_eq!(Tier::of(65535), Tier::Dynamic);
}

#[test]
fn parses_ip_local_port_range() {
    assert_eq!(parse_ephemeral("32768\t60999\n"), Some((32768, 60999)));
    assert_eq!(parse_ephemeral("1024 65535"), Some((1024, 65535)));
    assert_eq!(parse_ephemeral("60999 32768"), None);
    assert_eq!(parse_ephemeral("abc"), None);
    assert_eq!(parse_ephemeral("1 2 3"), None);
}

#[test]
fn parses_ip_local_reserved_ports() {
    let r = |start, end| PortRange { start, end };
    assert_eq!(parse_reserved("\n"), Some(vec![]));
    assert_eq!(parse_reserved("8080\n"), Some(vec![r(8080, 8080)]));
    assert_eq!(
        parse_reserved("22,8080,40000-40010\n"),
        Some(vec![r(22, 22), r(8080, 8080), r(40000, 40010)])
    );
    assert_eq!(parse_reserved("9-8"), None);
    assert_eq!(parse_reserved("x"), None);
    assert_eq!(parse_reserved("70000"), None);
    let reserved = ReservedPorts {
        ranges: vec![r(8080, 8080), r(40000, 40010)],
        source: None,
        unread: None,
    };
    assert!(reserved.contains(40005) && !reserved.contains(40011));
    assert_eq!(reserved.with(41000), "8080,40000-40010,41000");
    assert_eq!(ReservedPorts::default().with(41000), "41000");
}
