//! Unit tests of `collect::linux`.

#[test]
fn the_effective_uid_of_a_status_file() {
    let status = b"Name:\tx\nUmask:\t0022\nUid:\t65534\t0\t0\t0\nGid:\t33\t33\t33\t33\n";
    assert_eq!(parse_status_uid(status), Some(0));
    assert_eq!(parse_status_uid(b"Name:\tx\n"), None);
    assert_eq!(parse_status_uid(b"Uid:\t33\n"), None);
    assert_eq!(
        status_uid(std::process::id()),
        Some(rustix::process::geteuid().as_raw())
    );
}

use super::*;

#[test]
fn start_ticks_survive_hostile_names() {
    let stat =
        b"1234 (a) b (c) d) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 12345 67";
    assert_eq!(parse_start_ticks(stat), Some(987654));
    assert_eq!(parse_start_ticks(b"garbage"), None);
    assert_eq!(parse_start_ticks(b"1 (x) S 1 2"), None);
    assert!(start_ticks(std::process::id()).is_some());
}

#[test]
fn threads_are_counted_from_stat() {
    let stat = |threads: u32| {
        format!("22556 (a) b) Z 22554 22552 15021 0 -1 4227084 121 0 0 0 0 0 0 0 20 0 {threads} 0 2017360 0 0")
    };
    assert_eq!(parse_thread_count(stat(2).as_bytes()), Some(2));
    assert_eq!(parse_thread_count(stat(1).as_bytes()), Some(1));
    assert_eq!(parse_thread_count(b"1 (x) Z 1"), None);
    assert!(thread_count(std::process::id()).is_some_and(|n| n >= 1));
}

#[test]
fn socket_links() {
    assert_eq!(socket_inode(b"socket:[12345]"), Some(12345));
    assert_eq!(socket_inode(b"socket:[4294967295]"), Some(u32::MAX));
    assert_eq!(socket_inode(b"socket:[4294967296]"), None);
    assert_eq!(socket_inode(b"pipe:[12345]"), None);
    assert_eq!(socket_inode(b"socket:[]"), None);
    assert_eq!(socket_inode(b"/dev/null"), None);
}

fn c(runtime: &str, id: &str, pod: Option<&str>) -> Option<Container> {
    Some(Container {
        runtime: runtime.into(),
        id: id.into(),
        pod: pod.map(str::to_string),
    })
}

#[test]
fn cgroups() {
    let id = "4f1c8a5e2b3d4f1c8a5e2b3d4f1c8a5e2b3d4f1c8a5e2b3d4f1c8a5e2b3d4f1c";
    let cases: Vec<(String, Option<&str>, Option<Container>)> = vec![
        ("0::/system.slice/nginx.service\n".into(), Some("nginx.service"), None),
        (
            "0::/user.slice/user-1000.slice/user@1000.service/app.slice/vite.service\n".into(),
            Some("user@1000.service/vite.service"),
            None,
        ),
        (
            // Not a user manager: no number.
            "0::/system.slice/user@x.service/sshd.service\n".into(),
            Some("sshd.service"),
            None,
        ),
        (
            "0::/user.slice/user-1000.slice/session-3.scope\n".into(),
            Some("session-3.scope"),
            None,
        ),
        (
            format!("0::/system.slice/docker-{id}.scope\n"),
            None,
            c("docker", id, None),
        ),
        (
            format!("12:pids:/docker/{id}\n1:name=systemd:/docker/{id}\n"),
            None,
            c("docker", id, None),
        ),
        (
            format!("0::/machine.slice/libpod-{id}.scope/container\n"),
            None,
            c("podman", id, None),
        ),
        (
            format!("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1a2b3c4d_5e6f_7a8b_9c0d_1e2f3a4b5c6d.slice/cri-containerd-{id}.scope\n"),
            None,
            c("kubernetes", id, Some("1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d")),
        ),
        ("0::/\n".into(), None, None),
        ("garbage\n".into(), None, None),
        (String::new(), None, None),
    ];
    for (text, unit, container) in cases {
        let (u, k) = parse_cgroup(&text);
        assert_eq!(u.as_deref(), unit, "{text}");
        assert_eq!(k, container, "{text}");
    }
}

#[test]
fn covered_processes_are_never_cut_from_those_named() {
    let mut owners = InodeOwners {
        unreadable: 40,
        unreadable_pids: (1..=8).rev().chain([9, 3]).collect(),
        covered: vec![500, 3, 90, 500],
        ..InodeOwners::default()
    };
    owners.keep_named();
    assert_eq!(owners.unreadable_pids, [1, 2, 3, 4, 5, 6, 7, 8, 9, 90, 500]);
    owners.covered.clear();
    owners.keep_named();
    assert_eq!(owners.unreadable_pids, [1, 2, 3, 4, 5, 6, 7, 8]);
}

#[test]
fn kernel_threads_are_never_counted_unreadable() {
    // As a user other than root, /proc refuses kernel threads' tables too: they hold
    // nothing, and are not named as processes whose descriptors could not be read.
    let walked = walk_fds(None).expect("walk");
    for pid in &walked.unreadable_pids {
        assert!(
            !super::super::unvisited::holds_no_files(*pid),
            "PID {pid} holds no files: {:?}",
            walked.unreadable_pids
        );
    }
}

/// A listener of this process, and its socket's inode.
fn own_listener() -> (std::net::TcpListener, u32) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
    let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).expect("link");
    let inode = socket_inode(link.to_string_lossy().as_bytes()).expect("socket link");
    (listener, inode)
}

#[test]
fn walk_finds_our_own_socket() {
    let (_listener, inode) = own_listener();
    let owners = walk_fds(Some(&HashSet::from_iter([inode]))).expect("walk");
    assert_eq!(owners.pids.get(&inode), Some(&vec![std::process::id()]));
    assert_eq!(owners.pids.len(), 1, "only the wanted inode");
    assert!(owners.walked > 0);
    let all = walk_fds(None).expect("walk");
    assert_eq!(all.pids.get(&inode), Some(&vec![std::process::id()]));
}

#[test]
fn a_walk_out_of_time_stops_with_what_it_found() {
    let (_listener, inode) = own_listener();
    let late = walk_fds_until(Deadline::after(std::time::Duration::ZERO)).expect("walk");
    assert!(late.late > 0 && late.walked == 0, "{late:?}");
    let done = walk_fds_until(Deadline::never()).expect("walk");
    assert_eq!(done.late, 0);
    assert_eq!(done.pids.get(&inode), Some(&vec![std::process::id()]));
}

#[test]
fn a_walk_past_its_budget_gives_up() {
    let (listener, inode) = own_listener();
    // Copies of one socket: one open file, as many descriptors as made.
    let copies: Vec<_> = (0..2 * Meter::STEP)
        .map(|_| listener.try_clone().expect("dup"))
        .collect();
    let small = Budget::new(Meter::STEP);
    assert!(walk_fds_within(&small).expect("walk").is_none());
    assert!(small.spent() && small.listed() > Meter::STEP);
    let ample = Budget::new(u64::MAX);
    let owners = walk_fds_within(&ample)
        .expect("walk")
        .expect("within budget");
    assert_eq!(owners.pids.get(&inode), Some(&vec![std::process::id()]));
    assert!(!ample.spent() && ample.listed() > 0);
    drop(copies);
}
