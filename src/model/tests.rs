//! Unit tests of `model`.

use super::*;

/// Another user's socket: what this user's looks read of every process is not said to
/// be unreadable, and root is sent for only when something is left for it.
#[test]
fn another_users_socket_names_only_what_was_not_read() {
    let reason = |every_mapping, rings| {
        Hidden::NotFoundForOtherUser(RuledOut {
            every_table: true,
            every_mapping,
            rings,
            ..Default::default()
        })
        .long()
    };
    let none = reason(false, false);
    assert!(
        none.contains("through a memory mapping or an io_uring instance, which this user")
            && none.contains("IORING_REGISTER_RING_FDS")
            && none.contains("run as root"),
        "{none}"
    );
    let rings = reason(true, false);
    assert!(
        rings.contains("through an io_uring instance, which this user cannot read")
            && rings.contains("run as root"),
        "{rings}"
    );
    let maps = reason(false, true);
    assert!(
        maps.contains("through a memory mapping, which this user cannot read")
            && !maps.contains("IORING_REGISTER_RING_FDS")
            && maps.contains("run as root"),
        "{maps}"
    );
    let all = reason(true, true);
    assert!(
        !all.contains("cannot read")
            && !all.contains("run as root")
            && !all.contains("IORING_REGISTER_RING_FDS"),
        "{all}"
    );
    assert!(all.contains("a Linux AIO request"), "{all}");
    // This user's own socket, every table read in the kernel: the same.
    let own = Hidden::NotFoundForUser(RuledOut {
        every_table: true,
        every_mapping: true,
        rings: true,
        ..Default::default()
    })
    .long();
    assert!(!own.contains("cannot read"), "{own}");
}

#[test]
fn scopes() {
    let cases = [
        ("127.0.0.1", Scope::Loopback),
        ("127.8.9.10", Scope::Loopback),
        ("::1", Scope::Loopback),
        ("::ffff:127.0.0.1", Scope::Loopback),
        ("0.0.0.0", Scope::All),
        ("::", Scope::All),
        ("::ffff:0.0.0.0", Scope::All),
        ("192.0.2.7", Scope::Specific),
        ("fe80::1", Scope::Specific),
        ("::ffff:192.0.2.7", Scope::Specific),
    ];
    for (addr, want) in cases {
        let ip: IpAddr = addr.parse().expect("address");
        assert_eq!(Scope::of(ip), want, "{addr}");
    }
}

#[test]
fn rings_no_descriptor_reaches_are_said_only_where_not_looked_into() {
    let unreached = "an io_uring instance that no descriptor reaches";
    let looked = RuledOut {
        rings: true,
        ..RuledOut::default()
    };
    for reason in [Hidden::NotVisibleToRoot, Hidden::NotFoundForUser] {
        assert!(reason(RuledOut::default()).long().contains(unreached));
        assert!(!reason(looked.clone()).long().contains(unreached));
    }
}

/// With processes that exited before the walk could read them, "every process was read"
/// would be false: the reason says which were, and the short words offer the chain.
#[test]
fn processes_that_exited_unread_are_not_said_read() {
    let churned = RuledOut {
        churned: 2,
        ..RuledOut::default()
    };
    let long = Hidden::NotVisibleToRoot(churned.clone()).long();
    assert!(
        long.starts_with(
            "no process that whoport could read holds a descriptor for it: every process \
             that had not exited was read"
        ),
        "{long}"
    );
    assert!(!long.contains("every process was read"), "{long}");
    assert!(long.contains("; 2 processes started and exited"), "{long}");
    let chain = "perhaps handed between processes that exited during the scan";
    assert_eq!(Hidden::NotVisibleToRoot(churned.clone()).short(), chain);
    let unread = Hidden::Unreadable {
        causes: vec![UnreadCause::new(vec![1], 1, "refused")],
        ruled: Some(churned),
    };
    assert!(unread.short().starts_with(chain), "{}", unread.short());
    assert!(
        unread.short().contains("root cannot read"),
        "{}",
        unread.short()
    );
    assert_eq!(
        Hidden::NotVisibleToRoot(RuledOut::default()).short(),
        "no process holds a descriptor"
    );
    // Tables left unread by whoport's own bound are not said refused to root.
    let limited = Hidden::Unreadable {
        causes: vec![
            UnreadCause::new(vec![1], 1, "refused"),
            UnreadCause::new(
                vec![4242],
                1,
                format!("the descriptor tables of 36 {THREAD_TABLES_NOT_READ}"),
            ),
        ],
        ruled: None,
    };
    assert!(
        !limited.short().contains("root cannot read"),
        "{}",
        limited.short()
    );
    // Another PID namespace's /proc is not called unreadable.
    let other = Hidden::ProcUnreadable(format!("{OTHER_PID_NAMESPACES_PROC} (no /proc/self)"));
    assert_eq!(
        other.short(),
        "unavailable: /proc is another PID namespace's"
    );
    assert!(!other.long().contains("not readable"), "{}", other.long());
}

#[test]
fn unreadable_reasons_count_right() {
    let one = Hidden::Unreadable {
        causes: vec![UnreadCause::new(vec![1], 1, "a sandbox")],
        ruled: None,
    };
    assert!(one
        .long()
        .contains("1 process's could not (a sandbox): PID 1"));
    let two = Hidden::Unreadable {
        causes: vec![UnreadCause::new(vec![1, 2], 2, "a sandbox")],
        ruled: None,
    };
    assert!(two
        .long()
        .contains("2 processes' could not (a sandbox): PIDs 1, 2"));
}

#[test]
fn a_cut_list_of_unreadable_processes_says_how_many_more() {
    assert_eq!(unreadable_pid_list(&[1], 1), "PID 1");
    assert_eq!(unreadable_pid_list(&[1, 2], 2), "PIDs 1, 2");
    assert_eq!(unreadable_pid_list(&[1, 2], 83), "PIDs 1, 2 and 81 more");
    assert_eq!(unreadable_pid_list(&[], 3), "PIDs not kept");
    let cut = Hidden::Unreadable {
        causes: vec![UnreadCause::new(vec![1, 2], 83, "a sandbox")],
        ruled: None,
    };
    assert!(cut
        .long()
        .contains("83 processes' could not (a sandbox): PIDs 1, 2 and 81 more"));
}

#[test]
fn escaped_bytes_are_exact() {
    assert_eq!(escape_bytes(b"plain"), "plain");
    assert_eq!(escape_bytes(b"a\\b"), "a\\\\b");
    assert_eq!(escape_bytes(b"bad\xff\xfe"), "bad\\xff\\xfe");
    assert_eq!(escape_bytes(b"esc\x1b[0m\n"), "esc\\x1b[0m\\x0a");
    assert_eq!(escape_bytes("caf\u{e9}".as_bytes()), "caf\u{e9}");
    assert_eq!(escaped_if_invalid(b"fine"), None);
    assert_eq!(escaped_if_invalid(b"\xff").as_deref(), Some("\\xff"));
}

#[test]
fn sorting_through_indices_keeps_the_stable_order() {
    let mut rng = fastrand::Rng::with_seed(7);
    for len in [0, 1, 2, 3, 10, 100, 1000] {
        // Few distinct keys: many ties, whose order only a stable sort keeps.
        let items: Vec<(u8, usize)> = (0..len).map(|i| (rng.u8(..5), i)).collect();
        let mut want = items.clone();
        want.sort_by_key(|a| a.0);
        let mut got = items.clone();
        sort_stable_by(&mut got, |a, b| a.0.cmp(&b.0));
        assert_eq!(got, want, "{len} items");
        let order = stable_order_by_key(&items, |a| a.0);
        let placed: Vec<(u8, usize)> = order.iter().map(|&i| items[i]).collect();
        assert_eq!(placed, want, "{len} items, in the order of their keys");
    }
}

#[test]
fn full_names() {
    assert_eq!(full_name("nginx", Some("/usr/sbin/nginx"), None), "nginx");
    assert_eq!(
        full_name(
            "whoport-test-li",
            Some("/tmp/x/whoport-test-listener-long"),
            None
        ),
        "whoport-test-listener-long"
    );
    assert_eq!(
        full_name("abcdefghijklmno", None, Some("./abcdefghijklmnopq")),
        "abcdefghijklmnopq"
    );
    // A renamed process keeps its chosen name.
    assert_eq!(
        full_name("worker", Some("/usr/bin/python3"), None),
        "worker"
    );
    assert_eq!(full_name("", Some("/usr/bin/foo"), None), "foo");
    assert_eq!(full_name("", None, None), "[unknown]");
}
