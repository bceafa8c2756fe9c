//! Unit tests of `collect`.

use super::*;

/// A listening TCP socket of `uid` (inode 1), for the second look's unit tests.
pub(super) fn socket(uid: Option<u32>) -> Socket {
    Socket {
        protocol: Protocol::Tcp,
        address: "127.0.0.1".parse().expect("ip"),
        port: 80,
        state: Some("listen"),
        remote: None,
        inode: 1,
        uid,
        ifindex: 0,
        device_reported: true,
        v6only: None,
    }
}

#[test]
fn a_program_is_its_full_name_its_kernel_name_or_its_scripts_name() {
    let process = |name: &str, exe: Option<&str>, cmdline: &[&str]| Process {
        name: name.into(),
        exe: exe.map(str::to_string),
        cmdline: cmdline.iter().map(|a| a.to_string()).collect(),
        ..Process::default()
    };
    // Started as my-very-long-daemon-name: the kernel's name is its first 15 bytes.
    let long = process(
        "my-very-long-daemon-name",
        Some("/opt/bin/my-very-long-daemon-name"),
        &["/opt/bin/my-very-long-daemon-name", "-f"],
    );
    for name in [
        "my-very-long-daemon-name",
        "my-very-long-da",
        "MY-VERY-LONG-DA",
    ] {
        assert!(is_program(&long, name), "{name}");
    }
    for name in [
        "my-very-long-daemon",
        "my-very-long-d",
        "my-very-long-dax",
        "-f",
    ] {
        assert!(!is_program(&long, name), "{name}");
    }
    // A script: the kernel names it after the script, cut; the interpreter is the exe.
    let script = process(
        "my-very-long-da",
        Some("/usr/bin/python3.13"),
        &[
            "/usr/bin/python3",
            "/usr/sbin/my-very-long-daemon",
            "--serve",
        ],
    );
    for name in [
        "my-very-long-da",
        "my-very-long-daemon",
        "python3",
        "python3.13",
    ] {
        assert!(is_program(&script, name), "{name}");
    }
    for name in ["my-very-long-dancer", "--serve", "my-very-long"] {
        assert!(!is_program(&script, name), "{name}");
    }
    // argv[0] counts on its own (a link to the executable).
    let linked = process("short", Some("/usr/bin/real"), &["/usr/local/bin/alias"]);
    assert!(is_program(&linked, "alias") && is_program(&linked, "real"));
    // Names of 15 bytes that cut a character in two are compared as bytes, never split.
    let wide = process("ééééééééééé", None, &[]);
    assert!(!is_program(&wide, "éééééééé"));
}

#[test]
#[cfg(target_os = "linux")]
fn hidden_reasons() {
    let s = socket(Some(0));
    assert!(matches!(
        hidden_reason(&s, false, Some(1000), None),
        Hidden::NotRoot { .. }
    ));
    assert_eq!(
        hidden_reason(&s, true, Some(0), None),
        Hidden::NotVisibleToRoot(Default::default())
    );
    assert_eq!(
        hidden_reason(&socket(Some(1000)), false, Some(1000), None),
        Hidden::NotFoundForUser(Default::default())
    );
    assert!(matches!(
        hidden_reason(&s, true, Some(0), Some("EACCES")),
        Hidden::ProcUnreadable(_)
    ));
    assert!(Hidden::NotRoot { hidepid: None }
        .long()
        .contains("run as root"));
    // Inode 0: no struct socket. A listener so is the kernel's, as root or not; a
    // connection is one not yet accepted, or closing.
    let kernels = Socket {
        inode: 0,
        ..socket(Some(0))
    };
    assert_eq!(hidden_reason(&kernels, true, Some(0), None), Hidden::Kernel);
    assert_eq!(
        hidden_reason(&kernels, false, Some(1000), None),
        Hidden::Kernel
    );
    let udp = Socket {
        protocol: Protocol::Udp,
        state: None,
        ..kernels.clone()
    };
    assert_eq!(hidden_reason(&udp, false, Some(1000), None), Hidden::Kernel);
    let orphan = Socket {
        state: Some("established"),
        remote: Some(("127.0.0.1".parse().expect("ip"), 80)),
        ..kernels.clone()
    };
    assert_eq!(
        hidden_reason(&orphan, true, Some(0), None),
        Hidden::NoDescriptor
    );
}

#[test]
fn an_empty_netlink_udp_dump_defers_to_proc_net() {
    assert!(use_proc_udp(0, 3));
    assert!(!use_proc_udp(0, 0));
    assert!(!use_proc_udp(2, 3));
}

#[test]
fn refusals_are_told_apart_from_other_errors() {
    let e = |errno| CollectError::Sockets {
        detail: String::new(),
        errno,
    };
    assert!(e(Some(93)).is_refusal(), "EPROTONOSUPPORT");
    assert!(e(Some(1)).is_refusal(), "EPERM");
    assert!(e(Some(13)).is_refusal(), "EACCES");
    assert!(!e(Some(12)).is_refusal(), "ENOMEM is an error");
    assert!(!e(None).is_refusal());
}

#[test]
#[cfg(target_os = "linux")]
fn each_socket_is_given_its_holders_and_a_socket_listed_twice_its_first_rows() {
    let with_inode = |inode: u32| {
        let mut s = socket(None);
        s.inode = inode;
        (s, Vec::new())
    };
    for (inodes, expected) in [
        (
            vec![5, 7, 5, 9, 0],
            vec![vec![1, 2], vec![3], vec![1, 2], vec![], vec![]],
        ),
        // A socket without holders first: the rows are kept from there on.
        (
            vec![9, 5, 0, 5, 7, 7],
            vec![vec![], vec![1, 2], vec![], vec![1, 2], vec![3], vec![3]],
        ),
        (vec![0, 4, 7], vec![vec![], vec![8], vec![3]]),
    ] {
        let candidates: Vec<_> = inodes.iter().map(|&i| with_inode(i)).collect();
        let mut pids = HashMap::from_iter([(5, vec![1, 2]), (7, vec![3]), (4, vec![8])]);
        // Inode 0 names no socket: whatever the table says of it is no one's.
        pids.insert(0, vec![99]);
        assert_eq!(
            holders_by_socket(&candidates, &mut pids),
            expected,
            "{inodes:?}"
        );
    }
}

/// A lookup that did not answer by the deadline is waited for briefly only while it is the
/// `/proc` walk, which stops itself before the deadline and hands over what it found; the
/// in-kernel lookup, or none begun, is not waited for.
#[test]
fn only_a_walk_is_waited_for_past_the_deadline() {
    assert_eq!(handing_over(Some("procfs")), Some(deadline::HANDING_OVER));
    assert_eq!(handing_over(Some("bpf")), None);
    assert_eq!(handing_over(None), None);
}

/// A thread that ends while its process's threads are read is no user's, and a process that
/// lives on is never one whose users could not all be read for it: threads started and
/// ended in a loop while this process's users are read 300 times. Before, a thread gone
/// between the listing and the read of its status made its process "users not all read"
/// (`--user U` then named it among the processes that may act as U).
#[cfg(target_os = "linux")]
#[test]
fn a_thread_that_ends_meanwhile_leaves_its_process_known() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let short: Vec<_> = (0..8).map(|_| std::thread::spawn(|| ())).collect();
                short.into_iter().for_each(|t| t.join().expect("thread"));
            }
        })
    };
    let mut buf = Vec::new();
    let me = std::process::id();
    let unknown = (0..300).filter(|_| thread_users(me, &mut buf).1).count();
    stop.store(true, Ordering::Relaxed);
    churn.join().expect("churn");
    assert_eq!(unknown, 0, "of 300 reads");
    // A process that is gone is no user's either.
    assert_eq!(thread_users(u32::MAX - 1, &mut buf), (Vec::new(), false));
}
