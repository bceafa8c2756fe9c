//! Output that reads well anywhere: the peer column of `--all`, terminals of unknown or
//! narrow width (a real pseudo-terminal), cells shortened with an ellipsis.

mod common;

use common::listener::{hex, python, Listener};
use common::run;

#[test]
fn all_shows_the_peer_of_a_connection() {
    let Some(_) = python() else { return };
    let l = Listener::start(&["--comm-hex", &hex(b"wpo-peer"), "tcp4"]);
    let client = std::net::TcpStream::connect(("127.0.0.1", l.port(0))).expect("connect");
    let local = client.local_addr().expect("local").port();
    let peer = format!("127.0.0.1:{}", l.port(0));
    let (status, out, err) = run(&["--all", "--columns", "proto,state,port,peer"]);
    assert_eq!(status, 0, "{err}");
    assert!(out.contains("PEER"), "{out}");
    let row = out
        .lines()
        .find(|r| r.contains(&format!(" {local} ")) && r.contains("established"))
        .unwrap_or_else(|| panic!("our connection: {out}"));
    assert!(row.contains(&peer), "{row}");
    // The default --all columns have it too; a listener's peer is '-'.
    let (_, out, _) = run(&["--all", "--process", "wpo-peer"]);
    assert!(out.contains("PEER"), "{out}");
    let listener_row = out
        .lines()
        .find(|r| r.contains(&format!(" {} ", l.port(0))) && r.contains("listen"))
        .unwrap_or_else(|| panic!("the listener: {out}"));
    assert!(listener_row.contains(" - "), "{listener_row}");
    drop(client);
}
